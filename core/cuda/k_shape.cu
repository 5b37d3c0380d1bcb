/* cuda/k_shape.cu - CUDA kernels of the shape ops: reshape, permute, slice
 * (views), concat and contiguous (copies).
 *
 * The same plan as cpu/shape.c. The view ops do nothing going forward (their
 * shape functions pointed the output into the input's device memory); going
 * backward each builds a host header that views the input's gradient with the
 * geometry the forward view had over the input (permuted strides; the slice's
 * offset and stepped stride) and accumulates grad_out into it with
 * ax_cuda_acc, so the strided index work lives in one place (acc.cu). concat
 * copies each input into its window of the output and adds each window of
 * grad_out back; contiguous and reshape have the trivial backward of a dense
 * same-shape add, done here by a one-line kernel. */
#include <string.h>

#include "common.cuh"

/* dst[i] += src[i] over n dense floats. */
static __global__ void add_dense_kernel(float *dst, const float *src, int64_t n)
{
	AX_CU_GRID_STRIDE(i, n)
		dst[i] += src[i];
}

/* out[i] = x[offset of i]: the dense copy of a byte tensor (ax_cuda_copy
 * handles the 4-byte dtypes). */
static __global__ void gather_bytes_kernel(uint8_t *out, const uint8_t *x, ax_cu_layout layout,
					   int64_t n)
{
	AX_CU_GRID_STRIDE(i, n)
		out[i] = x[ax_cu_offset(layout, i)];
}

/* grad_x += grad_out, both dense with the same number of elements. */
static enum ax_status add_dense(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *gx;
	int64_t n;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &gx);
	if (st)
		return st;
	n = ax_tensor_numel(gx);
	if (n == 0)
		return AX_OK;
	add_dense_kernel<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0, ax_cuda_stream(ctx)>>>(
		(float *)gx->data, (const float *)node->out->grad->data, n);
	return AX_CUDA_LAUNCHED(node);
}

/* A host header over device memory `data` with the given geometry, for
 * ax_cuda_copy / ax_cuda_acc. */
static struct ax_tensor view_of(const struct ax_ctx *ctx, void *data, int ndim,
				const int64_t *shape, const int64_t *stride)
{
	struct ax_tensor v;

	memset(&v, 0, sizeof(v));
	ax_tensor_set_shape(&v, ndim, shape);
	memcpy(v.stride, stride, sizeof(int64_t) * (size_t)ndim);
	v.dtype = AX_F32;
	v.device = ctx->device;
	v.data = data;
	return v;
}

enum ax_status ax_cuda_fwd_reshape(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* x was contiguous (the op requires it) and so are both gradients. */
enum ax_status ax_cuda_bwd_reshape(struct ax_ctx *ctx, struct ax_node *node)
{
	return add_dense(ctx, node);
}

enum ax_status ax_cuda_fwd_permute(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* grad_x viewed through the permutation has grad_out's shape. */
enum ax_status ax_cuda_bwd_permute(struct ax_ctx *ctx, struct ax_node *node)
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
	if (ax_tensor_numel(gy) == 0)
		return AX_OK;
	for (int d = 0; d < gy->ndim; d++)
		stride[d] = gx->stride[node->attrs.i[d]];
	view = view_of(ctx, gx->data, gy->ndim, gy->shape, stride);
	return ax_cuda_acc(ctx, &view, gy);
}

enum ax_status ax_cuda_fwd_slice(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	(void)node;
	return AX_OK;
}

/* attrs (normalised by the shape function): i[0] axis, i[1] start, i[3] step,
 * i[4] length. */
enum ax_status ax_cuda_bwd_slice(struct ax_ctx *ctx, struct ax_node *node)
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
	view = view_of(ctx, (float *)gx->data + start * gx->stride[axis], gy->ndim, gy->shape,
		       stride);
	return ax_cuda_acc(ctx, &view, gy);
}

/* The window of `t` (the output or its gradient) that input k fills: input
 * k's shape, t's strides, starting `offset` elements along the axis. */
static struct ax_tensor concat_window(const struct ax_ctx *ctx, const struct ax_tensor *t,
				      const struct ax_tensor *xk, int axis, int64_t offset)
{
	return view_of(ctx, (float *)t->data + offset * t->stride[axis], xk->ndim, xk->shape,
		       t->stride);
}

/* attrs.i[0] = axis, normalised by the shape function. */
enum ax_status ax_cuda_fwd_concat(struct ax_ctx *ctx, struct ax_node *node)
{
	int axis = (int)node->attrs.i[0];
	int64_t offset = 0;

	if (ax_tensor_numel(node->out) == 0)
		return AX_OK;
	for (int k = 0; k < node->n_in; k++) {
		const struct ax_tensor *xk = node->in[k];
		struct ax_tensor window;
		enum ax_status st;

		if (ax_tensor_numel(xk) == 0)
			continue;
		window = concat_window(ctx, node->out, xk, axis, offset);
		st = ax_cuda_copy(ctx, &window, xk);
		if (st)
			return st;
		offset += xk->shape[axis];
	}
	return AX_OK;
}

enum ax_status ax_cuda_bwd_concat(struct ax_ctx *ctx, struct ax_node *node)
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
			window = concat_window(ctx, gy, xk, axis, offset);
			st = ax_cuda_acc(ctx, gx, &window);
			if (st)
				return st;
		}
		offset += xk->shape[axis];
	}
	return AX_OK;
}

/* Any dtype: f32 and i32 through ax_cuda_copy, u8 by the byte gather. */
enum ax_status ax_cuda_fwd_contiguous(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_tensor *out = node->out;
	int64_t n = ax_tensor_numel(out);

	if (n == 0)
		return AX_OK;
	if (ax_dtype_size(x->dtype) == 4)
		return ax_cuda_copy(ctx, out, x);
	gather_bytes_kernel<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0,
			      ax_cuda_stream(ctx)>>>((uint8_t *)out->data,
						     (const uint8_t *)x->data,
						     ax_cu_layout_of(x), n);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_bwd_contiguous(struct ax_ctx *ctx, struct ax_node *node)
{
	return add_dense(ctx, node);
}
