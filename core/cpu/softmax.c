/* cpu/softmax.c - softmax and log-softmax along one axis, forward and backward.
 *
 * The input is seen as (outer, A, inner) where A is the normalised axis: a
 * contiguous copy (ax_cpu_dense) when the input is strided, the output and
 * gradients are contiguous anyway. Two loop shapes:
 *   - inner == 1 (the last axis, by far the common case): each row of A
 *     elements is contiguous, so the max, exp and sum loops are simple loops;
 *   - inner > 1: for each outer block, running arrays of `inner` maxima and
 *     sums (arena scratch) are updated one A-slice at a time, which keeps every
 *     inner loop unit-stride instead of striding by `inner` down each column.
 * Stability: the row maximum is subtracted before exp, so every exponent is
 * <= 0, nothing overflows and the sum is >= 1 (no log of 0). log_softmax is
 * formed as (x - max) - log(sum), never as log(softmax), so tiny
 * probabilities keep their full relative precision.
 * Backward reads only node->out (y) and its gradient, nothing is saved:
 *   softmax:     dx += y * (g - sum_A(g * y))
 *   log_softmax: dx += g - exp(y) * sum_A(g)                                */
#include <math.h>

#include "../internal.h"
#include "strided.h"

struct axis_geometry {
	int64_t outer, len, inner;
};

static struct axis_geometry geometry_of(const struct ax_tensor *x, int axis)
{
	struct axis_geometry geo = {1, x->shape[axis], 1};

	for (int d = 0; d < axis; d++)
		geo.outer *= x->shape[d];
	for (int d = axis + 1; d < x->ndim; d++)
		geo.inner *= x->shape[d];
	return geo;
}

/* One contiguous row: y = softmax(x) or log_softmax(x). */
static void row_forward(const float *x, float *y, int64_t n, int take_log)
{
	float max = x[0], sum = 0.0f;

	for (int64_t i = 1; i < n; i++)
		max = x[i] > max ? x[i] : max;
	if (take_log) {
		for (int64_t i = 0; i < n; i++) {
			y[i] = x[i] - max;
			sum += expf(y[i]);
		}
		float log_sum = logf(sum);

		for (int64_t i = 0; i < n; i++)
			y[i] -= log_sum;
	} else {
		for (int64_t i = 0; i < n; i++) {
			y[i] = expf(x[i] - max);
			sum += y[i];
		}
		float inv = 1.0f / sum;

		for (int64_t i = 0; i < n; i++)
			y[i] *= inv;
	}
}

/* One (A, inner) block with inner > 1; max and sum are `inner` floats of scratch. */
static void block_forward(const float *x, float *y, struct axis_geometry geo, float *max,
			  float *sum, int take_log)
{
	int64_t inner = geo.inner;

	for (int64_t j = 0; j < inner; j++) {
		max[j] = x[j];
		sum[j] = 0.0f;
	}
	for (int64_t a = 1; a < geo.len; a++) {
		const float *xa = x + a * inner;

		for (int64_t j = 0; j < inner; j++)
			max[j] = xa[j] > max[j] ? xa[j] : max[j];
	}
	for (int64_t a = 0; a < geo.len; a++) {
		const float *xa = x + a * inner;
		float *ya = y + a * inner;

		for (int64_t j = 0; j < inner; j++) {
			float e = expf(xa[j] - max[j]);

			sum[j] += e;
			ya[j] = take_log ? xa[j] - max[j] : e;
		}
	}
	for (int64_t j = 0; j < inner; j++)
		sum[j] = take_log ? logf(sum[j]) : 1.0f / sum[j];
	for (int64_t a = 0; a < geo.len; a++) {
		float *ya = y + a * inner;

		if (take_log) {
			for (int64_t j = 0; j < inner; j++)
				ya[j] -= sum[j];
		} else {
			for (int64_t j = 0; j < inner; j++)
				ya[j] *= sum[j];
		}
	}
}

static enum ax_status forward(struct ax_ctx *ctx, struct ax_node *node, int take_log)
{
	const struct ax_tensor *x = node->in[0];
	struct axis_geometry geo = geometry_of(x, (int)node->attrs.i[0]);
	const float *xd;
	float *y = node->out->data, *scratch = NULL;

	if (ax_tensor_numel(x) == 0)
		return AX_OK;
	xd = ax_cpu_dense(ctx, x);
	if (!xd)
		return AX_ERR_NOMEM;
	if (geo.inner == 1) {
		for (int64_t o = 0; o < geo.outer; o++)
			row_forward(xd + o * geo.len, y + o * geo.len, geo.len, take_log);
		return AX_OK;
	}
	scratch = ax_ctx_alloc(ctx, 2 * (size_t)geo.inner * sizeof(float));
	if (!scratch)
		return AX_ERR_NOMEM;
	for (int64_t o = 0; o < geo.outer; o++) {
		int64_t off = o * geo.len * geo.inner;

		block_forward(xd + off, y + off, geo, scratch, scratch + geo.inner, take_log);
	}
	return AX_OK;
}

/* softmax backward over one contiguous row. */
static void row_backward_softmax(const float *y, const float *g, float *dx, int64_t n)
{
	float dot = 0.0f;

	for (int64_t i = 0; i < n; i++)
		dot += g[i] * y[i];
	for (int64_t i = 0; i < n; i++)
		dx[i] += y[i] * (g[i] - dot);
}

/* log_softmax backward over one contiguous row; y holds log-probabilities. */
static void row_backward_log_softmax(const float *y, const float *g, float *dx, int64_t n)
{
	float total = 0.0f;

	for (int64_t i = 0; i < n; i++)
		total += g[i];
	for (int64_t i = 0; i < n; i++)
		dx[i] += g[i] - expf(y[i]) * total;
}

/* Both backward formulas for one (A, inner) block; acc is `inner` floats. */
static void block_backward(const float *y, const float *g, float *dx, struct axis_geometry geo,
			   float *acc, int take_log)
{
	int64_t inner = geo.inner;

	for (int64_t j = 0; j < inner; j++)
		acc[j] = 0.0f;
	for (int64_t a = 0; a < geo.len; a++) {
		const float *ya = y + a * inner, *ga = g + a * inner;

		if (take_log) {
			for (int64_t j = 0; j < inner; j++)
				acc[j] += ga[j];
		} else {
			for (int64_t j = 0; j < inner; j++)
				acc[j] += ga[j] * ya[j];
		}
	}
	for (int64_t a = 0; a < geo.len; a++) {
		const float *ya = y + a * inner, *ga = g + a * inner;
		float *da = dx + a * inner;

		if (take_log) {
			for (int64_t j = 0; j < inner; j++)
				da[j] += ga[j] - expf(ya[j]) * acc[j];
		} else {
			for (int64_t j = 0; j < inner; j++)
				da[j] += ya[j] * (ga[j] - acc[j]);
		}
	}
}

static enum ax_status backward(struct ax_ctx *ctx, struct ax_node *node, int take_log)
{
	struct ax_tensor *x = node->in[0], *dx_t;
	struct axis_geometry geo = geometry_of(x, (int)node->attrs.i[0]);
	const float *y = node->out->data, *g = node->out->grad->data;
	float *dx, *acc;
	enum ax_status st;

	if (!ax_needs_grad(x) || ax_tensor_numel(x) == 0)
		return AX_OK;
	st = ax_grad_of(ctx, x, &dx_t);
	if (st)
		return st;
	dx = dx_t->data;
	if (geo.inner == 1) {
		for (int64_t o = 0; o < geo.outer; o++) {
			int64_t off = o * geo.len;

			if (take_log)
				row_backward_log_softmax(y + off, g + off, dx + off, geo.len);
			else
				row_backward_softmax(y + off, g + off, dx + off, geo.len);
		}
		return AX_OK;
	}
	acc = ax_ctx_alloc(ctx, (size_t)geo.inner * sizeof(float));
	if (!acc)
		return AX_ERR_NOMEM;
	for (int64_t o = 0; o < geo.outer; o++) {
		int64_t off = o * geo.len * geo.inner;

		block_backward(y + off, g + off, dx + off, geo, acc, take_log);
	}
	return AX_OK;
}

enum ax_status ax_cpu_fwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return forward(ctx, node, 0);
}

enum ax_status ax_cpu_bwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return backward(ctx, node, 0);
}

enum ax_status ax_cpu_fwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return forward(ctx, node, 1);
}

enum ax_status ax_cpu_bwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return backward(ctx, node, 1);
}
