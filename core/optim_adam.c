/* optim_adam.c - Adam (coupled L2 decay) and AdamW (decoupled decay).
 *
 * The update loop of AX_OPTIM_ADAM and AX_OPTIM_ADAMW (the front end is
 * optim.c), following torch.optim.Adam / AdamW (amsgrad off). Both are the
 * same fused loop: the two ways of decaying are two per-slice scalars, one of
 * which is neutral (l2 = 0 for AdamW, shrink = 1 for Adam), so there is a
 * single branch-free loop that reads w, g, m, v and writes w, m, v once.
 * The optimizer pass is memory-bound, so one pass matters more than the
 * arithmetic; the per-step scalars (bias corrections) are computed once, in
 * double as PyTorch does in Python, outside the loop. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

/* One parameter slice:
 *   g  = grad + l2 * w                       (Adam's coupled decay; l2 = 0 for AdamW)
 *   w *= shrink                              (AdamW: 1 - lr * wd; 1 for Adam)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g^2
 *   w -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 * PyTorch divides sqrt(v) by sqrt(bias_correction2); multiplying by the
 * reciprocal differs by at most an ulp and saves a division per element.
 * Multiplying by shrink = 1 and adding 0 * w are exact, so the neutral
 * scalars leave Adam's and AdamW's results as if the term were absent. */
__attribute__((target_clones("avx2", "default")))
static void adam_slice(int64_t n, float *restrict w, float *restrict g,
		       float *restrict m, float *restrict v, float l2, float shrink, float beta1,
		       float beta2, float step_size, float inv_sqrt_bc2, float eps, int clear)
{
	const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;

	/* The loop is unswitched on `clear` (-O3): with it, the gradient is zeroed
	 * as it is read, which the pass - bound by the divider, not by memory -
	 * absorbs for free, instead of a separate memset before the next backward. */
	for (int64_t j = 0; j < n; j++) {
		float gj = g[j] + l2 * w[j];
		float mj = beta1 * m[j] + one_minus_beta1 * gj;
		float vj = beta2 * v[j] + one_minus_beta2 * gj * gj;

		if (clear)
			g[j] = 0.0f;
		m[j] = mj;
		v[j] = vj;
		w[j] = w[j] * shrink - step_size * mj / (sqrtf(vj) * inv_sqrt_bc2 + eps);
	}
}

struct ax_adam_scalars ax_adam_scalars(const struct ax_optimizer *opt, float lr)
{
	const struct ax_optim_options *o = &opt->options;
	/* PyTorch counts steps from 1; bias corrections 1 - beta^t in double. */
	double t = (double)(opt->steps + 1);
	double bias_correction1 = 1.0 - pow((double)o->beta1, t);
	double bias_correction2 = 1.0 - pow((double)o->beta2, t);
	struct ax_adam_scalars s;

	s.step_size = (float)((double)lr / bias_correction1);
	s.inv_sqrt_bc2 = (float)(1.0 / sqrt(bias_correction2));
	s.shrink = (float)(1.0 - (double)lr * (double)o->weight_decay);
	return s;
}

void ax_optim_adam_step(struct ax_optimizer *opt, float lr, int clear)
{
	const struct ax_optim_options *o = &opt->options;
	float *w = ax_params_data(opt->params), *g = ax_params_grad(opt->params);
	float *m = opt->state[0], *v = opt->state[1];
	int count = ax_params_count(opt->params);
	int decoupled = o->kind == AX_OPTIM_ADAMW;
	struct ax_adam_scalars sc = ax_adam_scalars(opt, lr);
	float step_size = sc.step_size, inv_sqrt_bc2 = sc.inv_sqrt_bc2, shrink = sc.shrink;

	for (int i = 0; i < count; i++) {
		unsigned flags = ax_params_flags(opt->params, i);
		int64_t off = ax_params_offset(opt->params, i);
		int64_t n = ax_tensor_numel(ax_params_get(opt->params, i));
		int decays = !(flags & AX_PARAM_NO_DECAY) && o->weight_decay != 0.0f;

		if (flags & AX_PARAM_FROZEN) {
			if (clear)
				memset(g + off, 0, (size_t)n * sizeof(float));
			continue;
		}
		adam_slice(n, w + off, g + off, m + off, v + off,
			   decays && !decoupled ? o->weight_decay : 0.0f,
			   decays && decoupled ? shrink : 1.0f, o->beta1, o->beta2, step_size,
			   inv_sqrt_bc2, o->eps, clear);
	}
}
