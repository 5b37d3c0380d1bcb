/* cpu/shape.c - CPU kernels of the shape ops.
 *
 * The view ops (reshape, permute, slice) have nothing to do going forward:
 * their shape functions already pointed the output into the input's memory.
 * Going backward, each builds on the stack a header that views the input's
 * gradient with the same geometry the forward view had over the input
 * (permuted strides; the slice's offset and stepped stride) and accumulates
 * grad_out into it with ax_cpu_acc, so no index arithmetic is repeated here.
 * concat does the same per input over a window of the output, and contiguous
 * (a copy of an arbitrary view into a dense buffer) has the trivial backward
 * of a same-shape add. */
#include <string.h>

#include "../internal.h"
#include "strided.h"

/* dst += src over n dense floats. */
static void add_dense(float *restrict dst, const float *restrict src, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] += src[i];
}

/* A stack header over `data` with the given geometry, for ax_cpu_copy/acc. */
static struct ax_tensor view_of(void *data, int ndim, const int64_t *shape,
				const int64_t *stride)
{
	struct ax_tensor v;

	memset(&v, 0, sizeof(v));
	ax_tensor_set_shape(&v, ndim, shape);
	memcpy(v.stride, stride, sizeof(int64_t) * (size_t)ndim);
	v.dtype = AX_F32;
	v.data = data;
	return v;
}

enum ax_status ax_cpu_fwd_reshape(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* x was contiguous (the op requires it) and so are both gradients: the
 * reshape is invisible to a flat add. */
enum ax_status ax_cpu_bwd_reshape(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *gx;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &gx);
	if (st)
		return st;
	add_dense(gx->data, node->out->grad->data, ax_tensor_numel(gx));
	return AX_OK;
}

enum ax_status ax_cpu_fwd_permute(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* grad_x viewed through the permutation has grad_out's shape. */
enum ax_status ax_cpu_bwd_permute(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *gy = node->out->grad;
	int64_t stride[AX_MAX_DIMS];
	struct ax_tensor *gx, view;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &gx);
	if (st)
		return st;
	for (int d = 0; d < gy->ndim; d++)
		stride[d] = gx->stride[node->attrs.i[d]];
	view = view_of(gx->data, gy->ndim, gy->shape, stride);
	ax_cpu_acc(&view, gy);
	return AX_OK;
}

enum ax_status ax_cpu_fwd_slice(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* attrs (normalised by the shape function): i[0] axis, i[1] start, i[3] step,
 * i[4] length. */
enum ax_status ax_cpu_bwd_slice(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *gy = node->out->grad;
	int axis = (int)node->attrs.i[0];
	int64_t start = node->attrs.i[1], step = node->attrs.i[3];
	int64_t stride[AX_MAX_DIMS];
	struct ax_tensor *gx, view;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &gx);
	if (st)
		return st;
	if (ax_tensor_numel(gy) == 0)
		return AX_OK;
	memcpy(stride, gx->stride, sizeof(stride));
	stride[axis] *= step;
	view = view_of((float *)gx->data + start * gx->stride[axis], gy->ndim, gy->shape, stride);
	ax_cpu_acc(&view, gy);
	return AX_OK;
}

/* The window of `t` (the output or its gradient) that input k fills: input
 * k's shape, t's strides, starting `offset` elements along the axis. */
static struct ax_tensor concat_window(const struct ax_tensor *t, const struct ax_tensor *xk,
				      int axis, int64_t offset)
{
	return view_of((float *)t->data + offset * t->stride[axis], xk->ndim, xk->shape,
		       t->stride);
}

/* attrs.i[0] = axis, normalised by the shape function. */
enum ax_status ax_cpu_fwd_concat(struct ax_ctx *ctx, struct ax_node *node)
{
	int axis = (int)node->attrs.i[0];
	int64_t offset = 0;

	(void)ctx;
	if (ax_tensor_numel(node->out) == 0)
		return AX_OK;
	for (int k = 0; k < node->n_in; k++) {
		const struct ax_tensor *xk = node->in[k];
		struct ax_tensor window;

		if (ax_tensor_numel(xk) == 0)
			continue;
		window = concat_window(node->out, xk, axis, offset);
		ax_cpu_copy(&window, xk);
		offset += xk->shape[axis];
	}
	return AX_OK;
}

enum ax_status ax_cpu_bwd_concat(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *gy = node->out->grad;
	int axis = (int)node->attrs.i[0];
	int64_t offset = 0;

	if (ax_tensor_numel(gy) == 0)
		return AX_OK;
	for (int k = 0; k < node->n_in; k++) {
		struct ax_tensor *xk = node->in[k], *gx;
		struct ax_tensor window;
		enum ax_status st;

		if (ax_tensor_numel(xk) == 0)
			continue;
		if (ax_needs_grad(xk)) {
			st = ax_grad_of(ctx, xk, &gx);
			if (st)
				return st;
			window = concat_window(gy, xk, axis, offset);
			ax_cpu_acc(gx, &window);
		}
		offset += xk->shape[axis];
	}
	return AX_OK;
}

enum ax_status ax_cpu_fwd_contiguous(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_tensor *out = node->out;
	const void *dense;

	if (ax_tensor_numel(out) == 0)
		return AX_OK;
	if (x->dtype == AX_F32) {
		ax_cpu_copy(out, x);
		return AX_OK;
	}
	/* Labels and bytes: the byte-generic gather of ax_cpu_dense, then one copy. */
	dense = ax_cpu_dense(ctx, x);
	if (!dense)
		return AX_ERR_NOMEM;
	memcpy(out->data, dense, (size_t)ax_tensor_numel(out) * ax_dtype_size(out->dtype));
	return AX_OK;
}

enum ax_status ax_cpu_bwd_contiguous(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *gx;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &gx);
	if (st)
		return st;
	add_dense(gx->data, node->out->grad->data, ax_tensor_numel(gx));
	return AX_OK;
}
