/* test_layers.c - models built from layer specs (core/model.c).
 *
 * What a config's [model] section turns into: shape inference from the sample
 * shape, parameters named "<layer>.weight" / "<layer>.bias" in PyTorch's
 * layout, references to earlier layers (input=, residual adds), PyTorch's
 * default initialisation, frozen layers, and errors that name the layer. The
 * forward test composes the same ops by hand on the model's own parameters
 * and requires bit-identical outputs: the model must be exactly the ops it
 * claims, in that order, with nothing added. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static struct ax_layer_spec layer(enum ax_layer_kind kind, const char *name)
{
	struct ax_layer_spec s;

	ax_layer_spec_default(&s, kind, name);
	return s;
}

static struct ax_layer_spec linear(const char *name, int64_t out)
{
	struct ax_layer_spec s = layer(AX_LAYER_LINEAR, name);

	s.out_features = out;
	return s;
}

static struct ax_layer_spec add(const char *name, const char *residual)
{
	struct ax_layer_spec s = layer(AX_LAYER_ADD, name);

	snprintf(s.residual, sizeof(s.residual), "%s", residual);
	return s;
}

/* Assert the parameter `name` exists with this shape and flags. */
static struct ax_tensor *expect_param(struct ax_model *m, const char *name, int ndim,
				      const int64_t *shape, unsigned flags)
{
	struct ax_params *p = ax_model_params(m);
	struct ax_tensor *t = ax_params_find(p, name);

	if (!t)
		fail_msg("parameter %s is missing", name);
	assert_int_equal(t->ndim, ndim);
	for (int d = 0; d < ndim; d++)
		if (t->shape[d] != shape[d])
			fail_msg("%s: dim %d is %lld, expected %lld", name, d, (long long)t->shape[d],
				 (long long)shape[d]);
	for (int i = 0; i < ax_params_count(p); i++)
		if (ax_params_get(p, i) == t)
			assert_int_equal(ax_params_flags(p, i), flags);
	return t;
}

static void expect_layer_shape(struct ax_model *m, int i, int ndim, const int64_t *shape)
{
	int64_t got[AX_MAX_DIMS];

	assert_int_equal(ax_model_layer_shape(m, i, got), ndim);
	for (int d = 0; d < ndim; d++)
		if (got[d] != shape[d])
			fail_msg("layer %s: output dim %d is %lld, expected %lld",
				 ax_model_layer(m, i)->name, d, (long long)got[d], (long long)shape[d]);
}

/* ax_model_create must fail with `want` and a message holding both strings. */
static void expect_create_error(const struct ax_layer_spec *specs, int n, int ndim,
				const int64_t *shape, enum ax_status want, const char *a,
				const char *b)
{
	struct ax_model *m = NULL;
	enum ax_status st;

	ax_clear_error();
	st = ax_model_create(specs, n, ndim, shape, 1, &m);
	if (st != want)
		fail_msg("expected %s naming '%s', got %s: %s", ax_status_name(want), a,
			 ax_status_name(st), ax_last_error());
	assert_null(m);
	if (!strstr(ax_last_error(), a) || !strstr(ax_last_error(), b))
		fail_msg("the message '%s' should name '%s' and '%s'", ax_last_error(), a, b);
}

/* ---- shapes and parameters ---- */

static void test_flatten_linear_shapes(void **state)
{
	const int64_t sample[] = {2, 3, 4};
	struct ax_layer_spec specs[] = {layer(AX_LAYER_FLATTEN, "flat"), linear("fc1", 5),
					layer(AX_LAYER_RELU, "act"), linear("fc2", 3)};
	struct ax_model *m;

	(void)state;
	specs[3].bias = 0;
	TU_OK(ax_model_create(specs, 4, 3, sample, 1, &m));
	assert_int_equal(ax_model_num_layers(m), 4);
	expect_layer_shape(m, 0, 1, (int64_t[]){24});
	expect_layer_shape(m, 1, 1, (int64_t[]){5});
	expect_layer_shape(m, 2, 1, (int64_t[]){5});
	expect_layer_shape(m, 3, 1, (int64_t[]){3});
	expect_param(m, "fc1.weight", 2, (int64_t[]){5, 24}, 0);
	expect_param(m, "fc1.bias", 1, (int64_t[]){5}, AX_PARAM_NO_DECAY);
	expect_param(m, "fc2.weight", 2, (int64_t[]){3, 5}, 0);
	assert_null(ax_params_find(ax_model_params(m), "fc2.bias")); /* bias = 0 */
	assert_int_equal(ax_params_count(ax_model_params(m)), 3);
	assert_int_equal(ax_params_numel(ax_model_params(m)), 5 * 24 + 5 + 3 * 5);
	assert_string_equal(ax_model_layer(m, 1)->name, "fc1");
	assert_null(ax_model_layer(m, 4));
	ax_model_destroy(m);

	/* Without flatten a linear layer acts on the last axis. */
	{
		struct ax_layer_spec one[] = {linear("fc", 7)};

		TU_OK(ax_model_create(one, 1, 3, sample, 1, &m));
		expect_layer_shape(m, 0, 3, (int64_t[]){2, 3, 7});
		expect_param(m, "fc.weight", 2, (int64_t[]){7, 4}, 0);
		ax_model_destroy(m);
	}
	ax_model_destroy(NULL);
}

static void test_layer_norm_shapes_and_init(void **state)
{
	const int64_t sample[] = {3, 8};
	struct ax_layer_spec specs[] = {layer(AX_LAYER_LAYER_NORM, "ln"),
					layer(AX_LAYER_LAYER_NORM, "plain")};
	struct ax_tensor *w, *b;
	struct ax_model *m;

	(void)state;
	specs[1].affine = 0;
	TU_OK(ax_model_create(specs, 2, 2, sample, 1, &m));
	expect_layer_shape(m, 0, 2, sample);
	expect_layer_shape(m, 1, 2, sample);
	w = expect_param(m, "ln.weight", 1, (int64_t[]){8}, AX_PARAM_NO_DECAY);
	b = expect_param(m, "ln.bias", 1, (int64_t[]){8}, AX_PARAM_NO_DECAY);
	for (int i = 0; i < 8; i++) {
		assert_true(ax_tensor_f32(w)[i] == 1.0f);
		assert_true(ax_tensor_f32(b)[i] == 0.0f);
	}
	assert_null(ax_params_find(ax_model_params(m), "plain.weight")); /* affine = 0 */
	assert_int_equal(ax_params_count(ax_model_params(m)), 2);
	ax_model_destroy(m);
}

/* Token ids (i32) in, one embedding row per token out. */
static void test_embedding_model(void **state)
{
	const int64_t sample[] = {5};
	struct ax_layer_spec specs[] = {layer(AX_LAYER_EMBEDDING, "emb"),
					layer(AX_LAYER_FLATTEN, "flat"), linear("head", 3)};
	const int32_t tokens[2 * 5] = {0, 9, 3, 3, 7, 1, 2, 8, 0, 4};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *table, *x, *y;
	struct ax_model *m;
	float row_sum = 0;

	(void)state;
	specs[0].num_embeddings = 10;
	specs[0].embedding_dim = 4;
	TU_OK(ax_model_create(specs, 3, 1, sample, 3, &m));
	expect_layer_shape(m, 0, 2, (int64_t[]){5, 4});
	expect_layer_shape(m, 1, 1, (int64_t[]){20});
	expect_layer_shape(m, 2, 1, (int64_t[]){3});
	table = expect_param(m, "emb.weight", 2, (int64_t[]){10, 4}, 0);
	expect_param(m, "head.weight", 2, (int64_t[]){3, 20}, 0);
	/* Embedding init is N(0, 1): not zero, not a uniform of tiny bound. */
	for (int i = 0; i < 40; i++)
		row_sum += fabsf(ax_tensor_f32(table)[i]);
	assert_true(row_sum / 40 > 0.4f && row_sum / 40 < 1.3f);

	/* The flattened output is the picked rows, in token order. */
	x = tu_tensor(ctx, AX_I32, 2, (int64_t[]){2, 5}, tokens);
	TU_OK(ax_model_forward(m, ctx, x, &y));
	assert_int_equal(y->ndim, 2);
	assert_int_equal(y->shape[0], 2);
	assert_int_equal(y->shape[1], 3);
	{
		struct ax_params *p = ax_model_params(m);
		struct ax_tensor *emb_out = NULL, *flat, *head;
		float rows[2 * 20], got[2 * 3], want[2 * 3];

		TU_OK(ax_embedding(ctx, table, x, &emb_out));
		TU_OK(ax_reshape(ctx, emb_out, 2, (int64_t[]){2, 20}, &flat));
		tu_read(flat, rows);
		for (int t = 0; t < 10; t++)
			assert_memory_equal(rows + 4 * t, ax_tensor_f32(table) + 4 * tokens[t],
					    4 * sizeof(float));
		TU_OK(ax_linear(ctx, flat, ax_params_find(p, "head.weight"),
				ax_params_find(p, "head.bias"), &head));
		tu_read(head, want);
		tu_read(y, got);
		assert_memory_equal(got, want, sizeof(got));
	}
	ax_model_destroy(m);
	ax_ctx_destroy(ctx);
}

static void test_residual_and_input_references(void **state)
{
	const int64_t sample[] = {8};
	struct ax_layer_spec specs[] = {linear("fc1", 8), layer(AX_LAYER_RELU, "act"),
					linear("fc2", 8), add("res", "fc1"),
					add("skip", "input"), layer(AX_LAYER_TANH, "side"),
					linear("head", 2)};
	struct ax_model *m;

	(void)state;
	snprintf(specs[5].input, sizeof(specs[5].input), "fc1"); /* side = tanh input=fc1 */
	TU_OK(ax_model_create(specs, 7, 1, sample, 1, &m));
	for (int i = 0; i < 6; i++)
		expect_layer_shape(m, i, 1, (int64_t[]){8});
	expect_layer_shape(m, 6, 1, (int64_t[]){2});
	assert_int_equal(ax_params_count(ax_model_params(m)), 6); /* add and tanh have none */
	ax_model_destroy(m);
}

/* ---- forward = the ops composed by hand ---- */

static void test_forward_matches_hand_composition(void **state)
{
	const int64_t sample[] = {2, 5};
	struct ax_layer_spec specs[] = {
		layer(AX_LAYER_FLATTEN, "flat"), linear("fc1", 6), layer(AX_LAYER_RELU, "act"),
		linear("fc2", 6), add("res", "fc1"), layer(AX_LAYER_LAYER_NORM, "ln"),
		layer(AX_LAYER_GELU, "g"), layer(AX_LAYER_DROPOUT, "drop"),
		layer(AX_LAYER_LEAKY_RELU, "lk"), linear("out", 3)};
	enum { N = 4 };
	float x_values[N * 10], got[N * 3], want[N * 3];
	struct ax_ctx *ctx = tu_ctx(5);
	struct ax_params *p;
	struct ax_tensor *x, *y, *h, *fc1, *t;
	struct ax_model *m;
	struct ax_rng rng;

	(void)state;
	specs[5].eps = 1e-3f;
	specs[6].gelu_form = AX_GELU_TANH;
	specs[7].p = 0.5f;
	specs[8].slope = 0.2f;
	TU_OK(ax_model_create(specs, 10, 2, sample, 11, &m));
	p = ax_model_params(m);
	ax_rng_init(&rng, 99);
	ax_rng_normal(&rng, x_values, N * 10, 0.0f, 1.0f);
	x = tu_tensor(ctx, AX_F32, 3, (int64_t[]){N, 2, 5}, x_values);

	ax_ctx_set_training(ctx, 0); /* dropout is the identity in evaluation mode */
	TU_OK(ax_model_forward(m, ctx, x, &y));
	assert_int_equal(y->ndim, 2);
	assert_int_equal(y->shape[0], N);
	assert_int_equal(y->shape[1], 3);
	tu_read(y, got);

	TU_OK(ax_reshape(ctx, x, 2, (int64_t[]){N, 10}, &h));
	TU_OK(ax_linear(ctx, h, ax_params_find(p, "fc1.weight"), ax_params_find(p, "fc1.bias"),
			&fc1));
	TU_OK(ax_relu(ctx, fc1, &h));
	TU_OK(ax_linear(ctx, h, ax_params_find(p, "fc2.weight"), ax_params_find(p, "fc2.bias"), &t));
	TU_OK(ax_add(ctx, t, fc1, &h));
	TU_OK(ax_layer_norm(ctx, h, ax_params_find(p, "ln.weight"), ax_params_find(p, "ln.bias"),
			    1e-3f, &t));
	TU_OK(ax_gelu(ctx, t, AX_GELU_TANH, &h));
	TU_OK(ax_leaky_relu(ctx, h, 0.2f, &t));
	TU_OK(ax_linear(ctx, t, ax_params_find(p, "out.weight"), ax_params_find(p, "out.bias"), &h));
	tu_read(h, want);
	assert_memory_equal(got, want, sizeof(got));

	/* In training mode the dropout layer acts: same input, different output. */
	ax_ctx_set_training(ctx, 1);
	TU_OK(ax_model_forward(m, ctx, x, &y));
	tu_read(y, got);
	assert_memory_not_equal(got, want, sizeof(got));
	ax_ctx_destroy(ctx);
	ax_model_destroy(m);
}

/* A residual of the model input: out = fc(x) + x. */
static void test_forward_residual_input(void **state)
{
	const int64_t sample[] = {4};
	struct ax_layer_spec specs[] = {linear("fc", 4), add("skip", "input")};
	const float x_values[2 * 4] = {1, -2, 3, 0.5f, 0, 0.25f, -1, 2};
	float got[8], fc_out[8];
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x, *y, *f;
	struct ax_model *m;

	(void)state;
	TU_OK(ax_model_create(specs, 2, 1, sample, 4, &m));
	x = tu_tensor(ctx, AX_F32, 2, (int64_t[]){2, 4}, x_values);
	TU_OK(ax_model_forward(m, ctx, x, &y));
	tu_read(y, got);
	TU_OK(ax_linear(ctx, x, ax_params_find(ax_model_params(m), "fc.weight"),
			ax_params_find(ax_model_params(m), "fc.bias"), &f));
	tu_read(f, fc_out);
	for (int i = 0; i < 8; i++)
		assert_true(got[i] == fc_out[i] + x_values[i]);
	ax_ctx_destroy(ctx);
	ax_model_destroy(m);
}

/* ---- initialisation ---- */

static void test_pytorch_default_init(void **state)
{
	const int64_t sample[] = {256};
	struct ax_layer_spec specs[] = {linear("fc", 64)};
	const float bound = 1.0f / 16.0f; /* 1/sqrt(fan_in = 256) */
	struct ax_model *m, *again, *other;
	struct ax_tensor *w, *b;
	double sum_sq = 0, top = 0;
	int64_t n;

	(void)state;
	TU_OK(ax_model_create(specs, 1, 1, sample, 7, &m));
	w = ax_params_find(ax_model_params(m), "fc.weight");
	b = ax_params_find(ax_model_params(m), "fc.bias");
	n = ax_tensor_numel(w);
	for (int64_t i = 0; i < n; i++) {
		float v = ax_tensor_f32(w)[i];

		if (!(v >= -bound && v <= bound))
			fail_msg("fc.weight[%lld] = %g is outside U(-%g, %g)", (long long)i, v, bound,
				 bound);
		sum_sq += (double)v * v;
		top = fmax(top, fabs(v));
	}
	/* U(-b, b) has variance b^2/3; 16384 draws put the estimate within ~2%. */
	assert_true(fabs(sqrt(sum_sq / (double)n) - bound / sqrt(3.0)) < 0.03 * bound / sqrt(3.0));
	assert_true(top > 0.99 * bound);
	/* The bias uses the same bound (fan_in of the weight), not zeros. */
	top = 0;
	for (int i = 0; i < 64; i++) {
		float v = ax_tensor_f32(b)[i];

		assert_true(v >= -bound && v <= bound);
		top = fmax(top, fabs(v));
	}
	assert_true(top > 0.5 * bound);

	/* The seed decides: the same seed repeats, another one does not. */
	TU_OK(ax_model_create(specs, 1, 1, sample, 7, &again));
	TU_OK(ax_model_create(specs, 1, 1, sample, 8, &other));
	assert_memory_equal(ax_params_data(ax_model_params(m)), ax_params_data(ax_model_params(again)),
			    sizeof(float) * (size_t)ax_params_size(ax_model_params(m)));
	assert_memory_not_equal(ax_params_data(ax_model_params(m)),
				ax_params_data(ax_model_params(other)),
				sizeof(float) * (size_t)ax_params_size(ax_model_params(m)));
	ax_model_destroy(m);
	ax_model_destroy(again);
	ax_model_destroy(other);
}

static void test_he_xavier_init_zero_the_bias(void **state)
{
	const enum ax_init_kind kinds[] = {AX_INIT_HE_NORMAL, AX_INIT_HE_UNIFORM,
					   AX_INIT_XAVIER_NORMAL, AX_INIT_XAVIER_UNIFORM};
	const int64_t sample[] = {100};
	const double uniform_bound[] = {0, sqrt(6.0 / 100), 0, sqrt(6.0 / (100 + 50))};

	(void)state;
	for (int k = 0; k < 4; k++) {
		struct ax_layer_spec specs[] = {linear("fc", 50)};
		struct ax_tensor *w, *b;
		struct ax_model *m;
		double sum_sq = 0;

		specs[0].init = kinds[k];
		TU_OK(ax_model_create(specs, 1, 1, sample, 3, &m));
		w = ax_params_find(ax_model_params(m), "fc.weight");
		b = ax_params_find(ax_model_params(m), "fc.bias");
		for (int i = 0; i < 50; i++)
			if (ax_tensor_f32(b)[i] != 0.0f)
				fail_msg("init %s: fc.bias[%d] = %g, expected 0",
					 ax_init_kind_name(kinds[k]), i, ax_tensor_f32(b)[i]);
		for (int i = 0; i < 5000; i++) {
			float v = ax_tensor_f32(w)[i];

			sum_sq += (double)v * v;
			if (uniform_bound[k] > 0)
				assert_true(fabs(v) <= uniform_bound[k]);
		}
		/* He: variance 2/fan_in; Xavier: 2/(fan_in + fan_out). */
		{
			double want = k < 2 ? 2.0 / 100 : 2.0 / 150, got = sum_sq / 5000;

			if (fabs(got - want) > 0.08 * want)
				fail_msg("init %s: weight variance %g, expected %g",
					 ax_init_kind_name(kinds[k]), got, want);
		}
		ax_model_destroy(m);
	}
}

/* ---- frozen layers ---- */

static void test_frozen_layer_gets_no_gradient(void **state)
{
	const int64_t sample[] = {6};
	struct ax_layer_spec specs[] = {linear("fc1", 5), layer(AX_LAYER_TANH, "a1"),
					linear("fc2", 5), layer(AX_LAYER_TANH, "a2"),
					linear("fc3", 2)};
	float x_values[3 * 6], target[3 * 2] = {1, 0, 0, 1, 0.5f, 0.5f};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x, *y, *t, *loss;
	struct ax_params *p;
	struct ax_model *m;
	struct ax_rng rng;

	(void)state;
	specs[2].frozen = 1;
	TU_OK(ax_model_create(specs, 5, 1, sample, 2, &m));
	p = ax_model_params(m);
	ax_rng_init(&rng, 4);
	ax_rng_normal(&rng, x_values, 3 * 6, 0.0f, 1.0f);
	x = tu_tensor(ctx, AX_F32, 2, (int64_t[]){3, 6}, x_values);
	t = tu_tensor(ctx, AX_F32, 2, (int64_t[]){3, 2}, target);
	TU_OK(ax_params_zero_grad(p));
	TU_OK(ax_model_forward(m, ctx, x, &y));
	TU_OK(ax_mse(ctx, y, t, &loss));
	TU_OK(ax_backward(ctx, loss));
	for (int i = 0; i < ax_params_count(p); i++) {
		struct ax_tensor *param = ax_params_get(p, i);
		const float *g = ax_params_grad(p) + ax_params_offset(p, i);
		int frozen = strncmp(param->name, "fc2.", 4) == 0;
		double norm = 0;

		for (int64_t j = 0; j < ax_tensor_numel(param); j++)
			norm += fabs(g[j]);
		assert_int_equal(!!(ax_params_flags(p, i) & AX_PARAM_FROZEN), frozen);
		assert_int_equal(!!(param->flags & AX_TENSOR_REQUIRES_GRAD), !frozen);
		if (frozen && norm != 0)
			fail_msg("%s is frozen but got a gradient (sum |g| = %g)", param->name, norm);
		/* fc1 sits before the frozen layer: its gradient flows through fc2. */
		if (!frozen && !(norm > 0))
			fail_msg("%s got no gradient", param->name);
	}
	ax_ctx_destroy(ctx);
	ax_model_destroy(m);
}

/* ---- errors name the layer ---- */

static void test_errors_name_the_layer(void **state)
{
	const int64_t s8[] = {8}, s5[] = {5};

	(void)state;
	{
		struct ax_layer_spec specs[] = {linear("fc1", 4), layer(AX_LAYER_RELU, "act")};

		snprintf(specs[1].input, sizeof(specs[1].input), "nope");
		expect_create_error(specs, 2, 1, s8, AX_ERR_INVALID, "act", "'nope'");
		/* A later layer is not an earlier one. */
		snprintf(specs[0].input, sizeof(specs[0].input), "act");
		specs[1].input[0] = '\0';
		expect_create_error(specs, 2, 1, s8, AX_ERR_INVALID, "fc1", "'act'");
	}
	{
		struct ax_layer_spec specs[] = {linear("fc1", 8), add("res", "fc9")};

		expect_create_error(specs, 2, 1, s8, AX_ERR_INVALID, "res", "'fc9'");
	}
	{
		/* fc2 gives [4], fc1 gives [8]: the message names both layers and shapes. */
		struct ax_layer_spec specs[] = {linear("fc1", 8), linear("fc2", 4), add("res", "fc1")};

		expect_create_error(specs, 3, 1, s8, AX_ERR_SHAPE, "res", "fc2 gives [4] but fc1 gives [8]");
		/* residual=input with a different width */
		specs[2] = add("res", "input");
		expect_create_error(specs, 3, 1, s5, AX_ERR_SHAPE, "[4]", "input gives [5]");
	}
	{
		struct ax_layer_spec specs[] = {linear("fc", 8), linear("fc", 8)};

		expect_create_error(specs, 2, 1, s8, AX_ERR_INVALID, "'fc'", "used twice");
		specs[1] = linear("input", 3);
		expect_create_error(specs, 2, 1, s8, AX_ERR_INVALID, "'input'", "reserved");
	}
	{
		struct ax_layer_spec specs[] = {layer(AX_LAYER_DROPOUT, "drop")};

		specs[0].p = 1.0f;
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "drop", "[0, 1)");
		specs[0].p = -0.1f;
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "drop", "-0.1");
		specs[0].p = NAN;
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "drop", "[0, 1)");
	}
	{
		struct ax_layer_spec specs[] = {linear("fc", 0)};

		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "fc", "out >= 1");
		specs[0] = layer(AX_LAYER_EMBEDDING, "emb");
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "emb", "num >= 1");
		specs[0] = layer(AX_LAYER_LAYER_NORM, "ln");
		specs[0].eps = 0;
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "ln", "eps > 0");
		specs[0] = add("sum", "");
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "sum", "residual=");
		specs[0] = layer(AX_LAYER_RELU, "");
		expect_create_error(specs, 1, 1, s8, AX_ERR_INVALID, "layer 1", "no name");
	}
	expect_create_error(NULL, 0, 1, s8, AX_ERR_INVALID, "model", "no layers");
}

static void test_forward_rejects_wrong_input_shape(void **state)
{
	const int64_t sample[] = {10};
	struct ax_layer_spec specs[] = {linear("fc", 3)};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x, *y = NULL;
	struct ax_model *m;

	(void)state;
	TU_OK(ax_model_create(specs, 1, 1, sample, 1, &m));
	x = tu_tensor(ctx, AX_F32, 2, (int64_t[]){4, 11}, NULL);
	assert_int_equal(ax_model_forward(m, ctx, x, &y), AX_ERR_SHAPE);
	assert_null(y);
	if (!strstr(ax_last_error(), "[4, 11]") || !strstr(ax_last_error(), "(batch, 10)"))
		fail_msg("message: %s", ax_last_error());
	/* A missing batch axis too. */
	x = tu_tensor(ctx, AX_F32, 1, (int64_t[]){10}, NULL);
	assert_int_equal(ax_model_forward(m, ctx, x, &y), AX_ERR_SHAPE);
	if (!strstr(ax_last_error(), "[10]") || !strstr(ax_last_error(), "(batch, 10)"))
		fail_msg("message: %s", ax_last_error());
	/* The right shape works after the failures. */
	x = tu_tensor(ctx, AX_F32, 2, (int64_t[]){4, 10}, NULL);
	TU_OK(ax_model_forward(m, ctx, x, &y));
	assert_int_equal(y->shape[1], 3);
	ax_ctx_destroy(ctx);
	ax_model_destroy(m);
}

/* Names as the config spells them. */
static void test_kind_and_init_names(void **state)
{
	(void)state;
	for (int k = 0; k < AX_LAYER_KIND_COUNT; k++)
		assert_int_equal(ax_layer_kind_parse(ax_layer_kind_name((enum ax_layer_kind)k)), k);
	assert_int_equal(ax_layer_kind_parse("layer_norm"), AX_LAYER_LAYER_NORM);
	assert_int_equal(ax_layer_kind_parse("conv2d"), -1);
	assert_int_equal(ax_init_kind_parse("xavier_uniform"), AX_INIT_XAVIER_UNIFORM);
	assert_int_equal(ax_init_kind_parse("default"), AX_INIT_DEFAULT);
	assert_int_equal(ax_init_kind_parse("orthogonal"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flatten_linear_shapes),
		cmocka_unit_test(test_layer_norm_shapes_and_init),
		cmocka_unit_test(test_embedding_model),
		cmocka_unit_test(test_residual_and_input_references),
		cmocka_unit_test(test_forward_matches_hand_composition),
		cmocka_unit_test(test_forward_residual_input),
		cmocka_unit_test(test_pytorch_default_init),
		cmocka_unit_test(test_he_xavier_init_zero_the_bias),
		cmocka_unit_test(test_frozen_layer_gets_no_gradient),
		cmocka_unit_test(test_errors_name_the_layer),
		cmocka_unit_test(test_forward_rejects_wrong_input_shape),
		cmocka_unit_test(test_kind_and_init_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
