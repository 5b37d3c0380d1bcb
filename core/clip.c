/* clip.c - the global gradient norm and clipping by it.
 *
 * torch.nn.utils.clip_grad_norm_ over the flat gradient buffer: one pass to
 * sum the squares of every non-frozen gradient (in double, so 235k or 100M
 * float squares add up without losing the small ones), one pass to scale when
 * the norm exceeds the limit. The norm doubles as the divergence detector: a
 * NaN or Inf gradient makes it NaN or Inf, and then nothing is scaled, so the
 * caller can skip the step with the gradients as backward left them. */
#include <math.h>

#include "cuda/flat.h"
#include "internal.h"

/* Sum of squares of one slice in double. 32 independent partial sums in a
 * fixed order: the compiler vectorises them (lane k sums elements k, k + 32,
 * ...) without reassociating anything, so the result does not depend on the
 * instruction set the clone runs with. 32 rather than 8 lanes because the
 * loop is bound by the latency of the additions: 8 chains of 4 doubles keep
 * the adders busy, 2 chains (8 lanes) ran 4 times slower than memory. */
enum { LANES = 32 };

__attribute__((target_clones("avx2", "default")))
static double sum_squares(int64_t n, const float *restrict g)
{
	double partial[LANES] = {0};
	double total = 0.0;
	int64_t j = 0;

	for (; j + LANES <= n; j += LANES) {
		for (int k = 0; k < LANES; k++)
			partial[k] += (double)g[j + k] * (double)g[j + k];
	}
	for (; j < n; j++)
		partial[j % LANES] += (double)g[j] * (double)g[j];
	for (int k = 0; k < LANES; k++)
		total += partial[k];
	return total;
}

__attribute__((target_clones("avx2", "default")))
static void scale_slice(int64_t n, float *restrict g, float coef)
{
	for (int64_t j = 0; j < n; j++)
		g[j] *= coef;
}

static enum ax_status check_params(const struct ax_params *params, const char *who)
{
	if (!ax_params_grad(params))
		return AX_ERROR(AX_ERR_STATE, "%s: call ax_params_finalize first", who);
	return AX_OK;
}

enum ax_status ax_grad_norm(const struct ax_params *params, double *norm)
{
	const float *g;
	double sum = 0.0;
	enum ax_status st;

	if (!params || !norm)
		return AX_ERROR(AX_ERR_INVALID, "ax_grad_norm: params or norm is NULL");
	st = check_params(params, "ax_grad_norm");
	if (st)
		return st;
	if (ax_params_device(params).kind != AX_DEVICE_CPU) {
		const struct ax_cuda_slice *slices;
		int n_slices;
		int64_t max_numel;

		/* The store is not changed: the slice table is a cache of its flags. */
		st = ax_params_slices((struct ax_params *)params, &slices, &n_slices, &max_numel);
		if (!st && n_slices > 0)
			st = ax_cuda_sum_squares(ax_params_device(params).index, ax_params_grad(params),
						 slices, n_slices, max_numel, &sum);
		if (st)
			return st;
		*norm = sqrt(sum);
		return AX_OK;
	}
	g = ax_params_grad(params);
	for (int i = 0; i < ax_params_count(params); i++) {
		if (ax_params_flags(params, i) & AX_PARAM_FROZEN)
			continue;
		sum += sum_squares(ax_tensor_numel(ax_params_get(params, i)),
				   g + ax_params_offset(params, i));
	}
	/* A float squared cannot overflow a double, so the sum is Inf or NaN
	 * only when some gradient is. */
	*norm = sqrt(sum);
	return AX_OK;
}

enum ax_status ax_clip_grad_norm(struct ax_params *params, float max_norm, double *total_norm)
{
	double norm, coef;
	float *g;
	enum ax_status st;

	if (!params)
		return AX_ERROR(AX_ERR_INVALID, "ax_clip_grad_norm: params is NULL");
	if (!(max_norm > 0.0f))
		return AX_ERROR(AX_ERR_INVALID, "ax_clip_grad_norm: max_norm must be > 0, got %g",
				max_norm);
	st = ax_grad_norm(params, &norm);
	if (st)
		return st;
	if (total_norm)
		*total_norm = norm;
	if (!isfinite(norm))
		return AX_OK;
	/* PyTorch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1. The
	 * 1e-6 keeps the division finite for zero gradients; the clamp means the
	 * gradients are scaled only when coef < 1, i.e. norm > max_norm - 1e-6. */
	coef = (double)max_norm / (norm + 1e-6);
	if (!(coef < 1.0))
		return AX_OK;
	if (ax_params_device(params).kind != AX_DEVICE_CPU) {
		const struct ax_cuda_slice *slices;
		int n_slices;
		int64_t max_numel;

		st = ax_params_slices(params, &slices, &n_slices, &max_numel);
		if (!st && n_slices > 0)
			st = ax_cuda_scale(ax_params_device(params).index, ax_params_grad(params), slices,
					   n_slices, max_numel, (float)coef);
		return st;
	}
	g = ax_params_grad(params);
	for (int i = 0; i < ax_params_count(params); i++) {
		if (ax_params_flags(params, i) & AX_PARAM_FROZEN)
			continue;
		scale_slice(ax_tensor_numel(ax_params_get(params, i)),
			    g + ax_params_offset(params, i), (float)coef);
	}
	return AX_OK;
}
