/* optim_sgd.c - SGD with momentum, Nesterov and coupled weight decay.
 *
 * One fused loop per parameter slice of the flat buffers: decay, velocity
 * and update in a single pass. PyTorch's torch.optim.SGD semantics, including
 * "the first step initialises the velocity to the gradient". */
#include <math.h>
#include <string.h>

#include "internal.h"

struct ax_sgd {
	struct ax_params *params;
	struct ax_sgd_options options;
	float *velocity; /* (size) floats, params layout; NULL without momentum */
	int64_t steps;
};

enum ax_status ax_sgd_create(struct ax_params *params, const struct ax_sgd_options *options,
			     struct ax_sgd **out)
{
	struct ax_sgd_options opt = {0};
	struct ax_sgd *sgd;

	if (!params || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_sgd_create: params or out is NULL");
	if (options)
		opt = *options;
	if (!ax_params_data(params))
		return AX_ERROR(AX_ERR_STATE, "ax_sgd_create: call ax_params_finalize first");
	if (!(opt.momentum >= 0.0f) || !isfinite(opt.momentum))
		return AX_ERROR(AX_ERR_INVALID, "sgd: momentum must be >= 0, got %g", opt.momentum);
	if (!(opt.weight_decay >= 0.0f) || !isfinite(opt.weight_decay))
		return AX_ERROR(AX_ERR_INVALID, "sgd: weight_decay must be >= 0, got %g",
				opt.weight_decay);
	if (opt.nesterov && (opt.momentum <= 0.0f || opt.dampening != 0.0f))
		return AX_ERROR(AX_ERR_INVALID, "sgd: nesterov needs momentum > 0 and dampening 0");
	if (ax_params_device(params).kind != AX_DEVICE_CPU)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "sgd: only CPU parameters in this build");
	sgd = ax_calloc(1, sizeof(*sgd));
	if (!sgd)
		return AX_ERR_NOMEM;
	sgd->params = params;
	sgd->options = opt;
	if (opt.momentum > 0.0f) {
		sgd->velocity = ax_calloc((size_t)ax_params_size(params), sizeof(float));
		if (!sgd->velocity) {
			ax_free(sgd);
			return AX_ERR_NOMEM;
		}
	}
	*out = sgd;
	return AX_OK;
}

void ax_sgd_destroy(struct ax_sgd *sgd)
{
	if (!sgd)
		return;
	ax_free(sgd->velocity);
	ax_free(sgd);
}

float *ax_sgd_velocity(const struct ax_sgd *sgd)
{
	return sgd->velocity;
}

/* The update for one parameter slice, one loop per case so each is a
 * branch-free loop over restrict pointers that the compiler vectorises. The
 * optimizer is memory-bound (it streams the weights, gradients and velocity
 * once per step), so each loop touches each array exactly once. */
__attribute__((target_clones("avx2", "default")))
static void sgd_plain(int64_t n, float *restrict w, const float *restrict g, float lr, float wd)
{
	for (int64_t j = 0; j < n; j++)
		w[j] -= lr * (g[j] + wd * w[j]);
}

/* First step: PyTorch initialises the velocity to the (decayed) gradient. */
__attribute__((target_clones("avx2", "default")))
static void sgd_momentum_first(int64_t n, float *restrict w, const float *restrict g,
			       float *restrict v, float lr, float wd, float mom, int nesterov)
{
	float look = nesterov ? 1.0f + mom : 1.0f;

	for (int64_t j = 0; j < n; j++) {
		float gj = g[j] + wd * w[j];

		v[j] = gj;
		w[j] -= lr * look * gj;
	}
}

__attribute__((target_clones("avx2", "default")))
static void sgd_momentum(int64_t n, float *restrict w, const float *restrict g,
			 float *restrict v, float lr, float wd, float mom, float damp)
{
	for (int64_t j = 0; j < n; j++) {
		float vj = mom * v[j] + (1.0f - damp) * (g[j] + wd * w[j]);

		v[j] = vj;
		w[j] -= lr * vj;
	}
}

__attribute__((target_clones("avx2", "default")))
static void sgd_nesterov(int64_t n, float *restrict w, const float *restrict g,
			 float *restrict v, float lr, float wd, float mom)
{
	for (int64_t j = 0; j < n; j++) {
		float gj = g[j] + wd * w[j];
		float vj = mom * v[j] + gj;

		v[j] = vj;
		w[j] -= lr * (gj + mom * vj);
	}
}

enum ax_status ax_sgd_step(struct ax_sgd *sgd, float lr)
{
	const struct ax_sgd_options *o = &sgd->options;
	float *w = ax_params_data(sgd->params), *g = ax_params_grad(sgd->params);
	int count = ax_params_count(sgd->params);

	if (!isfinite(lr))
		return AX_ERROR(AX_ERR_INVALID, "sgd: learning rate is %g", lr);
	for (int i = 0; i < count; i++) {
		unsigned flags = ax_params_flags(sgd->params, i);
		int64_t off = ax_params_offset(sgd->params, i);
		int64_t n = ax_tensor_numel(ax_params_get(sgd->params, i));
		float wd = (flags & AX_PARAM_NO_DECAY) ? 0.0f : o->weight_decay;

		if (flags & AX_PARAM_FROZEN)
			continue;
		if (!sgd->velocity)
			sgd_plain(n, w + off, g + off, lr, wd);
		else if (sgd->steps == 0)
			sgd_momentum_first(n, w + off, g + off, sgd->velocity + off, lr, wd,
					   o->momentum, o->nesterov);
		else if (o->nesterov)
			sgd_nesterov(n, w + off, g + off, sgd->velocity + off, lr, wd, o->momentum);
		else
			sgd_momentum(n, w + off, g + off, sgd->velocity + off, lr, wd, o->momentum,
				     o->dampening);
	}
	sgd->steps++;
	return AX_OK;
}
