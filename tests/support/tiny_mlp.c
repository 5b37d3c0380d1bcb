/* tiny_mlp.c - the shared test MLP (see tiny_mlp.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tiny_mlp.h"

enum ax_status tmlp_create(struct tmlp *m, int layers, const int64_t *sizes, enum tmlp_act act,
			   float dropout, uint64_t seed)
{
	struct ax_rng rng;
	enum ax_status st;

	memset(m, 0, sizeof(*m));
	m->layers = layers;
	m->act = act;
	m->dropout = dropout;
	st = ax_params_create(AX_CPU, &m->params);
	if (st)
		return st;
	for (int l = 0; l < layers; l++) {
		char name[32];
		int64_t wshape[2] = {sizes[l + 1], sizes[l]};

		snprintf(name, sizeof(name), "fc%d.weight", l + 1);
		st = ax_params_add(m->params, name, 2, wshape, 0, &m->weight[l]);
		if (st)
			goto fail;
		snprintf(name, sizeof(name), "fc%d.bias", l + 1);
		st = ax_params_add(m->params, name, 1, &sizes[l + 1], AX_PARAM_NO_DECAY, &m->bias[l]);
		if (st)
			goto fail;
	}
	st = ax_params_finalize(m->params);
	if (st)
		goto fail;
	ax_rng_init(&rng, seed);
	for (int l = 0; l < layers; l++) {
		float bound = 1.0f / sqrtf((float)sizes[l]);

		st = ax_init_he_uniform(m->weight[l], &rng);
		if (!st)
			st = ax_init_uniform(m->bias[l], &rng, -bound, bound);
		if (st)
			goto fail;
	}
	return AX_OK;
fail:
	ax_params_destroy(m->params);
	m->params = NULL;
	return st;
}

void tmlp_destroy(struct tmlp *m)
{
	ax_params_destroy(m->params);
	m->params = NULL;
}

enum ax_status tmlp_forward(struct tmlp *m, struct ax_ctx *ctx, struct ax_tensor *x,
			    struct ax_tensor **logits)
{
	struct ax_tensor *h = x;
	enum ax_status st;

	for (int l = 0; l < m->layers; l++) {
		st = ax_linear(ctx, h, m->weight[l], m->bias[l], &h);
		if (st)
			return st;
		if (l == m->layers - 1)
			break;
		switch (m->act) {
		case TMLP_RELU: st = ax_relu(ctx, h, &h); break;
		case TMLP_GELU: st = ax_gelu(ctx, h, AX_GELU_ERF, &h); break;
		case TMLP_TANH: st = ax_tanh(ctx, h, &h); break;
		}
		if (!st && m->dropout > 0.0f)
			st = ax_dropout(ctx, h, m->dropout, &h);
		if (st)
			return st;
	}
	*logits = h;
	return AX_OK;
}
