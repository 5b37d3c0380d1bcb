/* model.c - models as a sequence of named layers (see axon/model.h).
 *
 * ax_model_create walks the specs once to resolve layer references, infer
 * every layer's per-sample output shape and register parameters; then it
 * finalizes the flat store and initialises the weights. Forward is a loop over
 * the layers calling the ops; each layer's output pointer is kept in an array
 * owned by the model (allocated once), so residual connections can reach back
 * and a forward pass allocates nothing outside the step arena.
 *
 * Initialisation follows PyTorch's defaults so that a model matches its
 * PyTorch twin in scale: Linear weights kaiming_uniform(a = sqrt 5), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases from the same range;
 * Embedding N(0, 1); LayerNorm gamma 1, beta 0. An explicit He/Xavier init
 * applies to the weight and sets the bias to zero. Biases and LayerNorm
 * parameters are registered without weight decay. */
#include <math.h>
#include <string.h>

#include "axon/alloc.h"
#include "axon/init.h"
#include "axon/model.h"
#include "axon/rng.h"

struct layer {
	struct ax_layer_spec spec;
	int input_index;    /* -1: the model input */
	int residual_index; /* add: -1 for the model input */
	int ndim;           /* per-sample output shape */
	int64_t shape[AX_MAX_DIMS];
	struct ax_tensor *weight, *bias;
};

struct ax_model {
	struct ax_params *params;
	struct layer *layers;
	int n;
	int in_ndim;
	int64_t in_shape[AX_MAX_DIMS];
	struct ax_tensor **outputs; /* (n) this forward pass's layer outputs */
};

static const char *const kind_names[AX_LAYER_KIND_COUNT] = {
	[AX_LAYER_LINEAR] = "linear",         [AX_LAYER_FLATTEN] = "flatten",
	[AX_LAYER_RELU] = "relu",             [AX_LAYER_LEAKY_RELU] = "leaky_relu",
	[AX_LAYER_GELU] = "gelu",             [AX_LAYER_SIGMOID] = "sigmoid",
	[AX_LAYER_TANH] = "tanh",             [AX_LAYER_DROPOUT] = "dropout",
	[AX_LAYER_LAYER_NORM] = "layer_norm", [AX_LAYER_EMBEDDING] = "embedding",
	[AX_LAYER_ADD] = "add",
};

static const char *const init_names[] = {"default", "he_normal", "he_uniform", "xavier_normal",
					  "xavier_uniform"};

int ax_layer_kind_parse(const char *text)
{
	for (int k = 0; k < AX_LAYER_KIND_COUNT; k++)
		if (strcmp(text, kind_names[k]) == 0)
			return k;
	return -1;
}

const char *ax_layer_kind_name(enum ax_layer_kind kind)
{
	return (unsigned)kind < AX_LAYER_KIND_COUNT ? kind_names[kind] : "?";
}

int ax_init_kind_parse(const char *text)
{
	for (size_t k = 0; k < sizeof(init_names) / sizeof(init_names[0]); k++)
		if (strcmp(text, init_names[k]) == 0)
			return (int)k;
	return -1;
}

const char *ax_init_kind_name(enum ax_init_kind kind)
{
	return (unsigned)kind < sizeof(init_names) / sizeof(init_names[0]) ? init_names[kind] : "?";
}

void ax_layer_spec_default(struct ax_layer_spec *spec, enum ax_layer_kind kind, const char *name)
{
	memset(spec, 0, sizeof(*spec));
	spec->kind = kind;
	snprintf(spec->name, sizeof(spec->name), "%s", name ? name : "");
	spec->bias = 1;
	spec->slope = 0.01f;
	spec->gelu_form = AX_GELU_ERF;
	spec->eps = 1e-5f;
	spec->affine = 1;
}

/* The index of the layer called `name` among the first `before` layers; -1
 * for "input"; -2 when there is none. */
static int find_layer(const struct ax_model *m, const char *name, int before)
{
	if (strcmp(name, "input") == 0)
		return -1;
	for (int i = 0; i < before; i++)
		if (strcmp(m->layers[i].spec.name, name) == 0)
			return i;
	return -2;
}

static void shape_of(const struct ax_model *m, int index, int *ndim, int64_t *shape)
{
	if (index < 0) {
		*ndim = m->in_ndim;
		memcpy(shape, m->in_shape, sizeof(int64_t) * (size_t)m->in_ndim);
	} else {
		*ndim = m->layers[index].ndim;
		memcpy(shape, m->layers[index].shape, sizeof(int64_t) * (size_t)*ndim);
	}
}

static enum ax_status add_param(struct ax_model *m, struct layer *L, const char *suffix, int ndim,
				const int64_t *shape, unsigned flags, struct ax_tensor **out)
{
	char name[AX_LAYER_NAME_MAX + 16];

	snprintf(name, sizeof(name), "%s.%s", L->spec.name, suffix);
	if (L->spec.frozen)
		flags |= AX_PARAM_FROZEN;
	return ax_params_add(m->params, name, ndim, shape, flags, out);
}

/* Resolve references, infer the output shape and register parameters of layer i. */
static enum ax_status build_layer(struct ax_model *m, int i)
{
	struct layer *L = &m->layers[i];
	const struct ax_layer_spec *s = &L->spec;
	int64_t in_shape[AX_MAX_DIMS], res_shape[AX_MAX_DIMS];
	int in_ndim, res_ndim;
	char a[96], b[96];
	enum ax_status st = AX_OK;

	if (!s->name[0])
		return AX_ERROR(AX_ERR_INVALID, "model: layer %d has no name", i + 1);
	if (strcmp(s->name, "input") == 0 || find_layer(m, s->name, i) != -2)
		return AX_ERROR(AX_ERR_INVALID, "model: layer name '%s' is used twice (or is the "
				"reserved name 'input'); give each layer its own name", s->name);
	L->input_index = s->input[0] ? find_layer(m, s->input, i) : i - 1;
	if (L->input_index == -2)
		return AX_ERROR(AX_ERR_INVALID, "model: layer %s takes input from '%s', which is not an "
				"earlier layer", s->name, s->input);
	shape_of(m, L->input_index, &in_ndim, in_shape);
	L->ndim = in_ndim;
	memcpy(L->shape, in_shape, sizeof(in_shape));
	if (s->kind != AX_LAYER_EMBEDDING && in_ndim == 0)
		return AX_ERROR(AX_ERR_SHAPE, "model: layer %s gets scalar samples", s->name);

	switch (s->kind) {
	case AX_LAYER_LINEAR: {
		int64_t in = in_shape[in_ndim - 1];
		int64_t ws[2] = {s->out_features, in};

		if (s->out_features < 1)
			return AX_ERROR(AX_ERR_INVALID, "model: linear %s needs out >= 1, got %lld",
					s->name, (long long)s->out_features);
		L->shape[in_ndim - 1] = s->out_features;
		st = add_param(m, L, "weight", 2, ws, 0, &L->weight);
		if (!st && s->bias)
			st = add_param(m, L, "bias", 1, &s->out_features, AX_PARAM_NO_DECAY, &L->bias);
		break;
	}
	case AX_LAYER_FLATTEN: {
		int64_t total = 1;

		for (int d = 0; d < in_ndim; d++)
			total *= in_shape[d];
		L->ndim = 1;
		L->shape[0] = total;
		break;
	}
	case AX_LAYER_DROPOUT:
		if (!(s->p >= 0.0f && s->p < 1.0f))
			return AX_ERROR(AX_ERR_INVALID, "model: dropout %s needs p in [0, 1), got %g",
					s->name, s->p);
		break;
	case AX_LAYER_LAYER_NORM:
		if (!(s->eps > 0.0f))
			return AX_ERROR(AX_ERR_INVALID, "model: layer_norm %s needs eps > 0, got %g",
					s->name, s->eps);
		if (s->affine) {
			int64_t d = in_shape[in_ndim - 1];

			st = add_param(m, L, "weight", 1, &d, AX_PARAM_NO_DECAY, &L->weight);
			if (!st)
				st = add_param(m, L, "bias", 1, &d, AX_PARAM_NO_DECAY, &L->bias);
		}
		break;
	case AX_LAYER_EMBEDDING: {
		int64_t ws[2] = {s->num_embeddings, s->embedding_dim};

		if (s->num_embeddings < 1 || s->embedding_dim < 1)
			return AX_ERROR(AX_ERR_INVALID, "model: embedding %s needs num >= 1 and dim >= 1",
					s->name);
		if (in_ndim + 1 > AX_MAX_DIMS - 1)
			return AX_ERROR(AX_ERR_SHAPE, "model: embedding %s: too many dimensions", s->name);
		L->shape[in_ndim] = s->embedding_dim;
		L->ndim = in_ndim + 1;
		st = add_param(m, L, "weight", 2, ws, 0, &L->weight);
		break;
	}
	case AX_LAYER_ADD:
		if (!s->residual[0])
			return AX_ERROR(AX_ERR_INVALID, "model: add %s needs the layer to add "
					"(residual=NAME or residual=input)", s->name);
		L->residual_index = find_layer(m, s->residual, i);
		if (L->residual_index == -2)
			return AX_ERROR(AX_ERR_INVALID, "model: add %s: '%s' is not an earlier layer",
					s->name, s->residual);
		shape_of(m, L->residual_index, &res_ndim, res_shape);
		if (res_ndim != in_ndim || memcmp(res_shape, in_shape, sizeof(int64_t) * (size_t)in_ndim))
			return AX_ERROR(AX_ERR_SHAPE, "model: add %s: %s gives %s but %s gives %s; a "
					"residual needs equal shapes", s->name,
					L->input_index < 0 ? "input" : m->layers[L->input_index].spec.name,
					ax_shape_str(in_ndim, in_shape, a, sizeof(a)), s->residual,
					ax_shape_str(res_ndim, res_shape, b, sizeof(b)));
		break;
	case AX_LAYER_RELU:
	case AX_LAYER_LEAKY_RELU:
	case AX_LAYER_GELU:
	case AX_LAYER_SIGMOID:
	case AX_LAYER_TANH:
		break;
	default:
		return AX_ERROR(AX_ERR_INVALID, "model: layer %s has unknown kind %d", s->name,
				(int)s->kind);
	}
	return st;
}

static enum ax_status init_layer(struct layer *L, struct ax_rng *rng)
{
	const struct ax_layer_spec *s = &L->spec;
	enum ax_status st = AX_OK;

	if (s->kind == AX_LAYER_LINEAR) {
		float bound = 1.0f / sqrtf((float)L->weight->shape[1]);

		switch (s->init) {
		case AX_INIT_DEFAULT: st = ax_init_uniform(L->weight, rng, -bound, bound); break;
		case AX_INIT_HE_NORMAL: st = ax_init_he_normal(L->weight, rng); break;
		case AX_INIT_HE_UNIFORM: st = ax_init_he_uniform(L->weight, rng); break;
		case AX_INIT_XAVIER_NORMAL: st = ax_init_xavier_normal(L->weight, rng); break;
		case AX_INIT_XAVIER_UNIFORM: st = ax_init_xavier_uniform(L->weight, rng); break;
		}
		if (!st && L->bias)
			st = s->init == AX_INIT_DEFAULT ? ax_init_uniform(L->bias, rng, -bound, bound)
							: ax_init_constant(L->bias, 0.0f);
	} else if (s->kind == AX_LAYER_EMBEDDING) {
		st = ax_init_normal(L->weight, rng, 0.0f, 1.0f);
	} else if (s->kind == AX_LAYER_LAYER_NORM && L->weight) {
		st = ax_init_constant(L->weight, 1.0f);
		if (!st)
			st = ax_init_constant(L->bias, 0.0f);
	}
	return st;
}

enum ax_status ax_model_create(const struct ax_layer_spec *specs, int n_layers, int sample_ndim,
			       const int64_t *sample_shape, uint64_t seed, struct ax_model **out)
{
	return ax_model_create_on(specs, n_layers, sample_ndim, sample_shape, seed, AX_CPU, out);
}

enum ax_status ax_model_create_on(const struct ax_layer_spec *specs, int n_layers,
				  int sample_ndim, const int64_t *sample_shape, uint64_t seed,
				  struct ax_device device, struct ax_model **out)
{
	struct ax_model *m;
	struct ax_rng rng;
	enum ax_status st;

	if (!specs || !out || n_layers < 1)
		return AX_ERROR(AX_ERR_INVALID, "model: no layers given");
	if (sample_ndim < 0 || sample_ndim > AX_MAX_DIMS - 1)
		return AX_ERROR(AX_ERR_SHAPE, "model: samples with %d dimensions are not supported",
				sample_ndim);
	m = ax_calloc(1, sizeof(*m));
	if (!m)
		return AX_ERR_NOMEM;
	m->n = n_layers;
	m->in_ndim = sample_ndim;
	memcpy(m->in_shape, sample_shape, sizeof(int64_t) * (size_t)sample_ndim);
	m->layers = ax_calloc((size_t)n_layers, sizeof(*m->layers));
	m->outputs = ax_calloc((size_t)n_layers, sizeof(*m->outputs));
	if (!m->layers || !m->outputs) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	st = ax_params_create(device, &m->params);
	for (int i = 0; !st && i < n_layers; i++) {
		m->layers[i].spec = specs[i];
		m->layers[i].spec.name[AX_LAYER_NAME_MAX - 1] = '\0';
		st = build_layer(m, i);
	}
	if (!st)
		st = ax_params_finalize(m->params);
	ax_rng_init(&rng, seed);
	for (int i = 0; !st && i < n_layers; i++)
		st = init_layer(&m->layers[i], &rng);
	if (st)
		goto fail;
	*out = m;
	return AX_OK;
fail:
	ax_model_destroy(m);
	return st;
}

void ax_model_destroy(struct ax_model *m)
{
	if (!m)
		return;
	ax_params_destroy(m->params);
	ax_free(m->layers);
	ax_free(m->outputs);
	ax_free(m);
}

static enum ax_status run_layer(struct ax_model *m, struct ax_ctx *ctx, int i, struct ax_tensor *x,
				struct ax_tensor **y)
{
	struct layer *L = &m->layers[i];
	const struct ax_layer_spec *s = &L->spec;

	switch (s->kind) {
	case AX_LAYER_LINEAR: return ax_linear(ctx, x, L->weight, L->bias, y);
	case AX_LAYER_FLATTEN: {
		int64_t shape[2] = {x->shape[0], L->shape[0]};

		return ax_reshape(ctx, x, 2, shape, y);
	}
	case AX_LAYER_RELU: return ax_relu(ctx, x, y);
	case AX_LAYER_LEAKY_RELU: return ax_leaky_relu(ctx, x, s->slope, y);
	case AX_LAYER_GELU: return ax_gelu(ctx, x, s->gelu_form, y);
	case AX_LAYER_SIGMOID: return ax_sigmoid(ctx, x, y);
	case AX_LAYER_TANH: return ax_tanh(ctx, x, y);
	case AX_LAYER_DROPOUT: return ax_dropout(ctx, x, s->p, y);
	case AX_LAYER_LAYER_NORM: return ax_layer_norm(ctx, x, L->weight, L->bias, s->eps, y);
	case AX_LAYER_EMBEDDING: return ax_embedding(ctx, L->weight, x, y);
	case AX_LAYER_ADD: {
		struct ax_tensor *other = L->residual_index < 0 ? NULL : m->outputs[L->residual_index];

		return ax_add(ctx, x, other, y);
	}
	default: return AX_ERROR(AX_ERR_INTERNAL, "model: layer %s has unknown kind", s->name);
	}
}

enum ax_status ax_model_forward(struct ax_model *m, struct ax_ctx *ctx, struct ax_tensor *x,
				struct ax_tensor **out)
{
	char got[96], want[96];

	if (!m || !ctx || !x || !out)
		return AX_ERROR(AX_ERR_INVALID, "model: forward needs a model, a context and an input");
	if (x->ndim != m->in_ndim + 1 ||
	    memcmp(x->shape + 1, m->in_shape, sizeof(int64_t) * (size_t)m->in_ndim)) {
		/* "[28, 28]" -> "(batch, 28, 28)" */
		ax_shape_str(m->in_ndim, m->in_shape, want, sizeof(want));
		want[strcspn(want, "]")] = '\0';
		return AX_ERROR(AX_ERR_SHAPE, "model: input has shape %s; the model expects (batch%s%s)",
				ax_shape_str(x->ndim, x->shape, got, sizeof(got)),
				m->in_ndim ? ", " : "", want + 1);
	}
	for (int i = 0; i < m->n; i++) {
		const struct layer *L = &m->layers[i];
		struct ax_tensor *in = L->input_index < 0 ? x : m->outputs[L->input_index];
		enum ax_status st;

		if (L->spec.kind == AX_LAYER_ADD && L->residual_index < 0) {
			st = ax_add(ctx, in, x, &m->outputs[i]);
		} else {
			st = run_layer(m, ctx, i, in, &m->outputs[i]);
		}
		if (st)
			return st;
	}
	*out = m->outputs[m->n - 1];
	return AX_OK;
}

struct ax_params *ax_model_params(const struct ax_model *m)
{
	return m->params;
}

int ax_model_num_layers(const struct ax_model *m)
{
	return m->n;
}

const struct ax_layer_spec *ax_model_layer(const struct ax_model *m, int i)
{
	return (i >= 0 && i < m->n) ? &m->layers[i].spec : NULL;
}

int ax_model_layer_shape(const struct ax_model *m, int i, int64_t *shape)
{
	if (i < 0 || i >= m->n)
		return -1;
	memcpy(shape, m->layers[i].shape, sizeof(int64_t) * (size_t)m->layers[i].ndim);
	return m->layers[i].ndim;
}

void ax_model_summary(const struct ax_model *m, FILE *out)
{
	int64_t total = 0;

	fprintf(out, "%-16s %-12s %-18s %12s\n", "layer", "kind", "output", "parameters");
	for (int i = 0; i < m->n; i++) {
		const struct layer *L = &m->layers[i];
		int64_t count = (L->weight ? ax_tensor_numel(L->weight) : 0) +
				(L->bias ? ax_tensor_numel(L->bias) : 0);
		char shape[96];

		ax_shape_str(L->ndim, L->shape, shape, sizeof(shape));
		fprintf(out, "%-16s %-12s %-18s %12lld%s\n", L->spec.name, kind_names[L->spec.kind],
			shape, (long long)count, L->spec.frozen ? " (frozen)" : "");
		total += count;
	}
	fprintf(out, "total parameters: %lld\n", (long long)total);
}
