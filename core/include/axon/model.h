/* axon/model.h - models as a sequence of named layers.
 *
 * A model is built from layer specs (what a config file's [model] section
 * lists): each layer has a name, a kind and a few arguments, takes the output
 * of the layer before it (or of a named earlier layer) and may register
 * parameters named "<layer>.weight" / "<layer>.bias" in PyTorch's layout, so
 * a state_dict maps one to one. Shapes are inferred from the sample shape, so
 * a linear layer only states its output width. Residual connections are an
 * "add" layer naming the earlier layer (or "input") to add.
 *
 *     flatten -> fc1 linear 256 -> relu -> dropout 0.2 -> fc2 linear 10
 */
#ifndef AXON_MODEL_H
#define AXON_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "axon/ctx.h"
#include "axon/ops.h"
#include "axon/params.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ax_layer_kind {
	AX_LAYER_LINEAR = 0,
	AX_LAYER_FLATTEN,
	AX_LAYER_RELU,
	AX_LAYER_LEAKY_RELU,
	AX_LAYER_GELU,
	AX_LAYER_SIGMOID,
	AX_LAYER_TANH,
	AX_LAYER_DROPOUT,
	AX_LAYER_LAYER_NORM,
	AX_LAYER_EMBEDDING,
	AX_LAYER_ADD,
	AX_LAYER_KIND_COUNT
};

enum ax_init_kind {
	AX_INIT_DEFAULT = 0, /* PyTorch's default for the layer kind (kaiming_uniform(a=sqrt 5) for linear) */
	AX_INIT_HE_NORMAL,
	AX_INIT_HE_UNIFORM,
	AX_INIT_XAVIER_NORMAL,
	AX_INIT_XAVIER_UNIFORM,
};

#define AX_LAYER_NAME_MAX 64

struct ax_layer_spec {
	char name[AX_LAYER_NAME_MAX];      /* unique; parameters are "<name>.weight" */
	enum ax_layer_kind kind;
	char input[AX_LAYER_NAME_MAX];     /* "" = the previous layer; "input" = the model input */
	char residual[AX_LAYER_NAME_MAX];  /* add: the other operand (a layer name or "input") */
	int64_t out_features;              /* linear */
	int bias;                          /* linear: 1 (default) or 0 */
	float slope;                       /* leaky_relu: default 0.01 */
	enum ax_gelu_form gelu_form;       /* gelu */
	float p;                           /* dropout probability */
	float eps;                         /* layer_norm: default 1e-5 */
	int affine;                        /* layer_norm: learn gamma/beta (default 1) */
	int64_t num_embeddings, embedding_dim; /* embedding */
	enum ax_init_kind init;            /* weight init */
	int frozen;                        /* parameters not trained */
};

/* ax_layer_spec_default - a spec of `kind` named `name` with every optional
 * field at its default. */
void ax_layer_spec_default(struct ax_layer_spec *spec, enum ax_layer_kind kind, const char *name);

/* ax_layer_kind_parse - "linear", "relu", ... -> kind; -1 when unknown. */
int ax_layer_kind_parse(const char *text);
const char *ax_layer_kind_name(enum ax_layer_kind kind);
int ax_init_kind_parse(const char *text);
const char *ax_init_kind_name(enum ax_init_kind kind);

struct ax_model;

/* ax_model_create - build the layers for samples of `sample_shape`
 * (sample_ndim dims, without the batch axis; AX_I32 token indices for a model
 * starting with an embedding), register and initialise the parameters from
 * `seed`. Errors name the layer: unknown input/residual names, shapes that do
 * not fit (e.g. "add res1: fc2 gives [128] but input gives [784]"), bad
 * arguments. */
enum ax_status ax_model_create(const struct ax_layer_spec *specs, int n_layers, int sample_ndim,
			       const int64_t *sample_shape, uint64_t seed, struct ax_model **out);

/* ax_model_create_on - the same with the parameters on `device`. They are
 * initialised on the host from the same seed and copied, so a model has the
 * same initial values on every device. */
enum ax_status ax_model_create_on(const struct ax_layer_spec *specs, int n_layers,
				  int sample_ndim, const int64_t *sample_shape, uint64_t seed,
				  struct ax_device device, struct ax_model **out);
void ax_model_destroy(struct ax_model *model);

/* ax_model_forward - run the layers on x (batch, sample...) -> *out. Dropout
 * follows the context's training mode. */
enum ax_status ax_model_forward(struct ax_model *model, struct ax_ctx *ctx, struct ax_tensor *x,
				struct ax_tensor **out);

struct ax_params *ax_model_params(const struct ax_model *model);
int ax_model_num_layers(const struct ax_model *model);
const struct ax_layer_spec *ax_model_layer(const struct ax_model *model, int i);

/* Output shape of layer i per sample (without the batch axis). */
int ax_model_layer_shape(const struct ax_model *model, int i, int64_t *shape);

/* ax_model_summary - one line per layer (name, kind, output shape, parameters)
 * and the total, for logs. */
void ax_model_summary(const struct ax_model *model, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
