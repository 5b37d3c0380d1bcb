/* cpu/reduce.c - sum and mean over a set of axes on the CPU.
 *
 * Forward views the output with its kept size-1 axes (keepdim shape) and
 * walks x once, adding each element into its output slot. The sums are
 * accumulated in double in an arena scratch buffer and rounded to float once
 * at the end (mean scales in double first), so a long reduction - a mean
 * over millions of elements, or over the leading axis of a tall matrix -
 * carries about one float rounding instead of error growing with length.
 * Reductions along the innermost (unit-stride) run use four partial sums so
 * the double adds are not one serial dependency chain.
 *
 * Backward is grad_x += broadcast(grad_out) * scale, scale = 1 for sum and
 * 1/count for mean, over the same keepdim view of grad_out (stride 0 on the
 * reduced axes). */
#include <math.h>
#include <string.h>

#include "../internal.h"
#include "strided.h"

/* Slots of node->attrs.i, see ops/reduce.c. */
enum { REDUCE_MASK = AX_MAX_DIMS + 2 };

/* Strides, over x's shape, of a contiguous buffer of the keepdim output
 * shape: 0 on reduced axes. Returns the number of reduced elements per output. */
static int64_t keepdim_strides(const struct ax_node *node, int64_t *stride)
{
	const struct ax_tensor *x = node->in[0];
	uint32_t mask = (uint32_t)node->attrs.i[REDUCE_MASK];
	int64_t step = 1, count = 1;

	for (int d = x->ndim - 1; d >= 0; d--) {
		if (mask & (1u << d)) {
			stride[d] = 0;
			count *= x->shape[d];
		} else {
			stride[d] = step;
			step *= x->shape[d];
		}
	}
	return count;
}

/* acc[i * sa] += x[i * sx] for a run of n elements; sa == 0 sums the run. */
static void acc_run(int64_t n, double *acc, int64_t sa, const float *x, int64_t sx)
{
	if (sa == 0) {
		double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
		int64_t i = 0;

		if (sx == 1) {
			for (; i + 4 <= n; i += 4) {
				s0 += x[i];
				s1 += x[i + 1];
				s2 += x[i + 2];
				s3 += x[i + 3];
			}
		}
		for (; i < n; i++)
			s0 += x[i * sx];
		acc[0] += (s0 + s1) + (s2 + s3);
	} else if (sa == 1 && sx == 1) {
		for (int64_t i = 0; i < n; i++)
			acc[i] += x[i];
	} else {
		for (int64_t i = 0; i < n; i++)
			acc[i * sa] += x[i * sx];
	}
}

static enum ax_status reduce_forward(struct ax_ctx *ctx, struct ax_node *node, int mean)
{
	const struct ax_tensor *x = node->in[0];
	float *out = node->out->data;
	int64_t n_out = ax_tensor_numel(node->out);
	int64_t strides[2][AX_MAX_DIMS], index[AX_MAX_DIMS] = {0};
	float *base[2] = {NULL, x->data};
	struct ax_iter it;
	int64_t count, rows = 1;
	double *acc, scale;
	int last;

	if (n_out == 0)
		return AX_OK;
	acc = ax_ctx_alloc(ctx, (size_t)n_out * sizeof(double));
	if (!acc)
		return AX_ERR_NOMEM;
	memset(acc, 0, (size_t)n_out * sizeof(double));
	count = keepdim_strides(node, strides[0]);
	for (int d = 0; d < x->ndim; d++)
		strides[1][d] = x->stride[d];
	if (count > 0) {
		/* The iterator drops size-1 axes and merges nested ones; its bases are
		 * not used, the walk below applies the strides to acc and x itself. */
		ax_iter_init(&it, x->ndim, x->shape, 2, base, strides);
		last = it.ndim - 1;
		for (int d = 0; d < last; d++)
			rows *= it.shape[d];
		for (int64_t r = 0; r < rows; r++) {
			int64_t off_acc = 0, off_x = 0;

			for (int d = 0; d < last; d++) {
				off_acc += index[d] * it.stride[0][d];
				off_x += index[d] * it.stride[1][d];
			}
			acc_run(it.shape[last], acc + off_acc, it.stride[0][last],
				(const float *)x->data + off_x, it.stride[1][last]);
			for (int d = last - 1; d >= 0; d--) {
				if (++index[d] < it.shape[d])
					break;
				index[d] = 0;
			}
		}
	}
	scale = !mean ? 1.0 : count > 0 ? 1.0 / (double)count : NAN;
	for (int64_t i = 0; i < n_out; i++)
		out[i] = (float)(acc[i] * scale);
	return AX_OK;
}

static void row_add_scaled(int64_t n, float *const *p, const int64_t *s, const void *arg)
{
	float scale = *(const float *)arg;
	float *dst = p[0];
	const float *src = p[1];

	if (s[0] == 1 && s[1] == 1) {
		for (int64_t i = 0; i < n; i++)
			dst[i] += scale * src[i];
	} else if (s[0] == 1 && s[1] == 0) {
		float v = scale * src[0];

		for (int64_t i = 0; i < n; i++)
			dst[i] += v;
	} else {
		for (int64_t i = 0; i < n; i++)
			dst[i * s[0]] += scale * src[i * s[1]];
	}
}

static enum ax_status reduce_backward(struct ax_ctx *ctx, struct ax_node *node, int mean)
{
	struct ax_tensor *x = node->in[0], *gx;
	int64_t strides[2][AX_MAX_DIMS];
	float *base[2];
	struct ax_iter it;
	int64_t count;
	float scale;
	enum ax_status st;

	if (!ax_needs_grad(x) || ax_tensor_numel(x) == 0)
		return AX_OK;
	st = ax_grad_of(ctx, x, &gx);
	if (st)
		return st;
	count = keepdim_strides(node, strides[1]);
	scale = mean ? (float)(1.0 / (double)count) : 1.0f;
	for (int d = 0; d < x->ndim; d++)
		strides[0][d] = gx->stride[d];
	base[0] = gx->data;
	base[1] = node->out->grad->data;
	ax_iter_init(&it, x->ndim, x->shape, 2, base, strides);
	ax_iter_rows(&it, row_add_scaled, &scale);
	return AX_OK;
}

enum ax_status ax_cpu_fwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_forward(ctx, node, 0);
}

enum ax_status ax_cpu_bwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_backward(ctx, node, 0);
}

enum ax_status ax_cpu_fwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_forward(ctx, node, 1);
}

enum ax_status ax_cpu_bwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_backward(ctx, node, 1);
}
