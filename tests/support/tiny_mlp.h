/* tiny_mlp.h - a small MLP built on the public API, shared by the engine tests
 * (allocation, autograd, whole-model gradient). Layers: linear -> activation
 * -> dropout, repeated, then a final linear. Parameters are named
 * "fc1.weight", "fc1.bias", ... as a PyTorch state_dict would name them. */
#ifndef AXON_TEST_TINY_MLP_H
#define AXON_TEST_TINY_MLP_H

#include "axon/axon.h"

#define TMLP_MAX_LAYERS 4

enum tmlp_act { TMLP_RELU, TMLP_GELU, TMLP_TANH };

struct tmlp {
	struct ax_params *params;
	struct ax_tensor *weight[TMLP_MAX_LAYERS], *bias[TMLP_MAX_LAYERS];
	int layers;
	enum tmlp_act act;
	float dropout;
};

/* tmlp_create - sizes[0] inputs, sizes[layers] outputs; He-initialised weights,
 * uniform biases, from `seed`. On error nothing is left allocated. */
enum ax_status tmlp_create(struct tmlp *m, int layers, const int64_t *sizes, enum tmlp_act act,
			   float dropout, uint64_t seed);
void tmlp_destroy(struct tmlp *m);

/* tmlp_forward - logits (B, sizes[layers]) for x (B, sizes[0]). */
enum ax_status tmlp_forward(struct tmlp *m, struct ax_ctx *ctx, struct ax_tensor *x,
			    struct ax_tensor **logits);

#endif
