/* optim_sgd.c - SGD with momentum, dampening, Nesterov and coupled weight decay.
 *
 * The update loops of AX_OPTIM_SGD (the front end is optim.c). One fused loop
 * per parameter slice of the flat buffers: decay, velocity and update in a
 * single pass. PyTorch's torch.optim.SGD semantics, including "the first step
 * initialises the velocity to the (decayed) gradient", which is why the loop
 * depends on the optimizer's step count. */
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

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

/* The update of one slice, dispatched to the loop for its case. */
static void sgd_slice(const struct ax_optimizer *opt, float lr, int64_t n, float *w,
		      const float *g, float *v, float wd)
{
	const struct ax_optim_options *o = &opt->options;

	if (!v)
		sgd_plain(n, w, g, lr, wd);
	else if (opt->steps == 0)
		sgd_momentum_first(n, w, g, v, lr, wd, o->momentum, o->nesterov);
	else if (o->nesterov)
		sgd_nesterov(n, w, g, v, lr, wd, o->momentum);
	else
		sgd_momentum(n, w, g, v, lr, wd, o->momentum, o->dampening);
}

void ax_optim_sgd_step(struct ax_optimizer *opt, float lr, int clear)
{
	const struct ax_optim_options *o = &opt->options;
	float *w = ax_params_data(opt->params), *g = ax_params_grad(opt->params);
	float *v = opt->state[0]; /* the momentum buffer; NULL without momentum */
	int count = ax_params_count(opt->params);

	for (int i = 0; i < count; i++) {
		unsigned flags = ax_params_flags(opt->params, i);
		int64_t off = ax_params_offset(opt->params, i);
		int64_t n = ax_tensor_numel(ax_params_get(opt->params, i));
		float wd = (flags & AX_PARAM_NO_DECAY) ? 0.0f : o->weight_decay;

		if (!(flags & AX_PARAM_FROZEN))
			sgd_slice(opt, lr, n, w + off, g + off, v ? v + off : NULL, wd);
		/* SGD streams memory: the clearing is a memset of the slice while it
		 * is still in cache, not a pass of its own. */
		if (clear)
			memset(g + off, 0, (size_t)n * sizeof(float));
	}
}
