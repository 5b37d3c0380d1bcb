/* cpu/norm.c - layer normalisation over the last dimension, forward and backward.
 *
 * x is seen as (rows, D), a dense copy when strided. Statistics use a
 * two-pass algorithm with double accumulators: pass one sums x for the mean,
 * pass two sums (x - mean)^2 for the biased variance (divided by D, as
 * PyTorch). Two passes avoid the cancellation of E[x^2] - E[x]^2 when |mean|
 * is large against the spread; double keeps long rows exact enough. rstd is
 * 1 / sqrt(var + eps).
 * node->saved keeps per-row mean and rstd as doubles (2 * rows of them) and
 * the dense x pointer, so backward recomputes xhat = (x - mean) * rstd instead
 * of storing it. The mean stays in double because rounding it to float would
 * shift every xhat of a row whose |mean| is large against its spread (a mean
 * of 1e4 in float is off by up to 5e-4); x - mean is formed in double, then
 * the rest of the row's arithmetic is float. With gg = g * gamma (gamma = 1 when absent), per row
 *   dx     += rstd * (gg - mean_D(gg) - xhat * mean_D(gg * xhat))
 *   dgamma += g * xhat      (summed over rows)
 *   dbeta  += g             (summed over rows)
 * the two row means being taken in double. */
#include <math.h>

#include "../internal.h"
#include "strided.h"

struct ln_saved {
	const float *x;     /* (rows, D) contiguous */
	double *mean;       /* (rows) */
	double *rstd;       /* (rows) */
	const float *gamma; /* (D) contiguous, or NULL for 1 */
};

static int64_t last_dim(const struct ax_tensor *x)
{
	return x->shape[x->ndim - 1];
}

enum ax_status ax_cpu_fwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0], *gamma_t = node->in[1], *beta_t = node->in[2];
	int64_t dim = last_dim(x), n = ax_tensor_numel(x), rows = dim ? n / dim : 0;
	double eps = node->attrs.f[0];
	const float *beta = NULL;
	float *y = node->out->data;
	struct ln_saved *saved;

	saved = ax_ctx_alloc(ctx, sizeof(*saved));
	if (!saved)
		return AX_ERR_NOMEM;
	saved->mean = ax_ctx_alloc(ctx, 2 * (size_t)(rows ? rows : 1) * sizeof(double));
	if (!saved->mean)
		return AX_ERR_NOMEM;
	saved->rstd = saved->mean + rows;
	saved->x = NULL;
	saved->gamma = NULL;
	node->saved = saved;
	if (n == 0)
		return AX_OK;
	saved->x = ax_cpu_dense(ctx, x);
	if (gamma_t)
		saved->gamma = ax_cpu_dense(ctx, gamma_t);
	if (beta_t)
		beta = ax_cpu_dense(ctx, beta_t);
	if (!saved->x || (gamma_t && !saved->gamma) || (beta_t && !beta))
		return AX_ERR_NOMEM;
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = saved->x + r * dim;
		float *yr = y + r * dim;
		double sum = 0.0, sq = 0.0, mean;
		float rstd;

		for (int64_t j = 0; j < dim; j++)
			sum += xr[j];
		mean = sum / (double)dim;
		for (int64_t j = 0; j < dim; j++) {
			double centred = (double)xr[j] - mean;

			sq += centred * centred;
		}
		rstd = (float)(1.0 / sqrt(sq / (double)dim + eps));
		saved->mean[r] = mean;
		saved->rstd[r] = rstd;
		for (int64_t j = 0; j < dim; j++)
			yr[j] = (float)((double)xr[j] - mean) * rstd;
		if (saved->gamma) {
			for (int64_t j = 0; j < dim; j++)
				yr[j] *= saved->gamma[j];
		}
		if (beta) {
			for (int64_t j = 0; j < dim; j++)
				yr[j] += beta[j];
		}
	}
	return AX_OK;
}

enum ax_status ax_cpu_bwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0], *gamma_t = node->in[1], *beta_t = node->in[2], *t;
	const struct ln_saved *saved = node->saved;
	int64_t dim = last_dim(x), n = ax_tensor_numel(x), rows = dim ? n / dim : 0;
	const float *g = node->out->grad->data, *gamma = saved->gamma;
	float *dx = NULL, *dgamma = NULL, *dbeta = NULL;
	enum ax_status st;

	if (n == 0)
		return AX_OK;
	if (ax_needs_grad(x)) {
		st = ax_grad_of(ctx, x, &t);
		if (st)
			return st;
		dx = t->data;
	}
	if (ax_needs_grad(gamma_t)) {
		st = ax_grad_of(ctx, gamma_t, &t);
		if (st)
			return st;
		dgamma = t->data;
	}
	if (ax_needs_grad(beta_t)) {
		st = ax_grad_of(ctx, beta_t, &t);
		if (st)
			return st;
		dbeta = t->data;
	}
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = saved->x + r * dim, *gr = g + r * dim;
		double mean = saved->mean[r];
		float rstd = (float)saved->rstd[r];

		if (dx) {
			double sum_gg = 0.0, sum_gg_xhat = 0.0;
			float mean_gg, mean_gg_xhat;
			float *dxr = dx + r * dim;

			for (int64_t j = 0; j < dim; j++) {
				float gg = gamma ? gr[j] * gamma[j] : gr[j];
				float xhat = (float)((double)xr[j] - mean) * rstd;

				sum_gg += gg;
				sum_gg_xhat += (double)gg * xhat;
			}
			mean_gg = (float)(sum_gg / (double)dim);
			mean_gg_xhat = (float)(sum_gg_xhat / (double)dim);
			for (int64_t j = 0; j < dim; j++) {
				float gg = gamma ? gr[j] * gamma[j] : gr[j];
				float xhat = (float)((double)xr[j] - mean) * rstd;

				dxr[j] += rstd * (gg - mean_gg - xhat * mean_gg_xhat);
			}
		}
		if (dgamma) {
			for (int64_t j = 0; j < dim; j++)
				dgamma[j] += gr[j] * ((float)((double)xr[j] - mean) * rstd);
		}
		if (dbeta) {
			for (int64_t j = 0; j < dim; j++)
				dbeta[j] += gr[j];
		}
	}
	return AX_OK;
}
