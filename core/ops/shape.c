/* ops/shape.c - shape functions and public wrappers of the shape ops:
 * reshape, transpose/permute, slice (views) and concat, contiguous (copies).
 *
 * A view op does all its work here: the shape function gives the output its
 * shape, strides and a data pointer into the input's memory, and the CPU
 * forward kernel has nothing left to do. Arguments are checked in the shape
 * functions where possible, so errors carry the op's name through
 * AX_NODE_ERROR; a shape function may rewrite its attrs into normalised form
 * (noted per op) for the backward kernel. Out-of-range axes are AX_ERR_SHAPE,
 * malformed arguments (a repeated axis, step < 1) AX_ERR_INVALID. */
#include <string.h>

#include "../internal.h"

/* reshape (view): attrs.i[0] = ndim, i[1 .. ndim] = the new shape, at most
 * one entry -1 (inferred). in[0] must be contiguous: ax_reshape copies a
 * strided input first. Any dtype. */
enum ax_status ax_shape_reshape(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	int ndim = (int)node->attrs.i[0];
	int64_t shape[AX_MAX_DIMS], known = 1, numel = ax_tensor_numel(x);
	char bufx[160], bufs[160];
	int infer = -1;
	enum ax_status st;

	(void)ctx;
	if (ndim < 0 || ndim > AX_MAX_DIMS)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "%d dimensions, axon supports 0 to %d",
				     ndim, AX_MAX_DIMS);
	memcpy(shape, &node->attrs.i[1], sizeof(int64_t) * (size_t)ndim);
	ax_shape_str(x->ndim, x->shape, bufx, sizeof(bufx));
	ax_shape_str(ndim, shape, bufs, sizeof(bufs));
	for (int d = 0; d < ndim; d++) {
		if (shape[d] == -1) {
			if (infer >= 0)
				return AX_NODE_ERROR(node, AX_ERR_SHAPE, "more than one -1 in the new "
						     "shape %s (x is %s)", bufs, bufx);
			infer = d;
		} else if (shape[d] < 0) {
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "negative size in the new shape %s "
					     "(x is %s)", bufs, bufx);
		} else if (shape[d] > 0 && known > INT64_MAX / shape[d]) {
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "the new shape %s is too large "
					     "(x is %s)", bufs, bufx);
		} else {
			known *= shape[d];
		}
	}
	if (infer >= 0) {
		if (known == 0 || numel % known != 0)
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "cannot reshape x of shape %s (%lld "
					     "elements) into %s", bufx, (long long)numel, bufs);
		shape[infer] = numel / known;
	} else if (known != numel) {
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "cannot reshape x of shape %s (%lld "
				     "elements) into %s (%lld elements)", bufx, (long long)numel,
				     bufs, (long long)known);
	}
	if (!ax_tensor_is_contiguous(x))
		return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "the view op needs a contiguous input "
				     "(ax_reshape copies a strided one first)");
	st = ax_tensor_set_shape(node->out, ndim, shape);
	if (st)
		return st;
	node->out->dtype = x->dtype;
	node->out->data = x->data;
	return AX_OK;
}

/* permute (view): attrs.i[0 .. ndim-1] = perm, output axis d is x's axis
 * perm[d] (negative counts from the end); the shape function rewrites the
 * entries as axes in [0, ndim). Any dtype. */
enum ax_status ax_shape_permute(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_tensor *out = node->out;
	int64_t *perm = node->attrs.i, shape[AX_MAX_DIMS];
	char bufx[160], bufp[160];
	uint32_t seen = 0;
	enum ax_status st;

	(void)ctx;
	ax_shape_str(x->ndim, x->shape, bufx, sizeof(bufx));
	ax_shape_str(x->ndim, perm, bufp, sizeof(bufp));
	for (int d = 0; d < x->ndim; d++) {
		int axis = (perm[d] >= -AX_MAX_DIMS && perm[d] <= AX_MAX_DIMS)
				   ? ax_norm_axis((int)perm[d], x->ndim) : -1;

		if (axis < 0)
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "axis %lld in %s is out of range "
					     "for x of shape %s", (long long)perm[d], bufp, bufx);
		if (seen & (1u << axis))
			return AX_NODE_ERROR(node, AX_ERR_INVALID, "%s is not a permutation of x's "
					     "%d axes (axis %d repeats; x is %s)", bufp, x->ndim,
					     axis, bufx);
		seen |= 1u << axis;
		perm[d] = axis;
	}
	for (int d = 0; d < x->ndim; d++)
		shape[d] = x->shape[perm[d]];
	st = ax_tensor_set_shape(out, x->ndim, shape);
	if (st)
		return st;
	for (int d = 0; d < x->ndim; d++)
		out->stride[d] = x->stride[perm[d]];
	out->dtype = x->dtype;
	out->data = x->data;
	return AX_OK;
}

/* slice (view): attrs.i[0] = axis, i[1] = start, i[2] = end, i[3] = step as
 * given; the shape function rewrites i[0] into [0, ndim) and i[1], i[2]
 * into the clamped [0, size] range, and sets i[4] = the result's length.
 * Any dtype. */
enum ax_status ax_shape_slice(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_tensor *out = node->out;
	int64_t *a = node->attrs.i;
	int64_t size, start = a[1], end = a[2], step = a[3], len;
	char bufx[160];
	int axis;
	enum ax_status st;

	(void)ctx;
	ax_shape_str(x->ndim, x->shape, bufx, sizeof(bufx));
	axis = (a[0] >= -AX_MAX_DIMS && a[0] <= AX_MAX_DIMS) ? ax_norm_axis((int)a[0], x->ndim)
							     : -1;
	if (axis < 0)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "axis %lld is out of range for x of "
				     "shape %s", (long long)a[0], bufx);
	if (step < 1)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "step must be at least 1, it is %lld "
				     "(x is %s)", (long long)step, bufx);
	size = x->shape[axis];
	if (start < 0)
		start += size;
	if (end < 0)
		end += size;
	start = start < 0 ? 0 : start > size ? size : start;
	end = end < 0 ? 0 : end > size ? size : end;
	len = end > start ? (end - start + step - 1) / step : 0;
	st = ax_tensor_set_shape(out, x->ndim, x->shape);
	if (st)
		return st;
	memcpy(out->stride, x->stride, sizeof(out->stride));
	out->shape[axis] = len;
	out->stride[axis] = x->stride[axis] * step;
	out->dtype = x->dtype;
	out->data = x->data;
	if (len > 0 && ax_tensor_numel(out) > 0)
		out->data = (char *)x->data +
			    (size_t)(start * x->stride[axis]) * ax_dtype_size(x->dtype);
	a[0] = axis;
	a[1] = start;
	a[2] = end;
	a[4] = len;
	return AX_OK;
}

/* concat: n_in >= 1 inputs, all f32 with the same number of dimensions (at
 * least 1) and equal sizes except along the axis; attrs.i[0] = axis
 * (negative counts from the end), rewritten by the shape function into
 * [0, ndim). */
enum ax_status ax_shape_concat(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x0 = node->in[0];
	int64_t shape[AX_MAX_DIMS];
	char buf0[160], bufk[160];
	int axis;

	(void)ctx;
	ax_shape_str(x0->ndim, x0->shape, buf0, sizeof(buf0));
	if (x0->ndim < 1)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "input 0 is a scalar (%s); only tensors "
				     "with at least one dimension can be joined", buf0);
	axis = (node->attrs.i[0] >= -AX_MAX_DIMS && node->attrs.i[0] <= AX_MAX_DIMS)
		       ? ax_norm_axis((int)node->attrs.i[0], x0->ndim) : -1;
	if (axis < 0)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "axis %lld is out of range for input 0 "
				     "of shape %s", (long long)node->attrs.i[0], buf0);
	memcpy(shape, x0->shape, sizeof(shape));
	shape[axis] = 0;
	for (int k = 0; k < node->n_in; k++) {
		const struct ax_tensor *xk = node->in[k];

		if (!xk)
			return AX_NODE_ERROR(node, AX_ERR_INVALID, "input %d is NULL", k);
		if (xk->dtype != AX_F32)
			return AX_NODE_ERROR(node, AX_ERR_DTYPE, "inputs must be f32, input %d is %s",
					     k, ax_dtype_name(xk->dtype));
		ax_shape_str(xk->ndim, xk->shape, bufk, sizeof(bufk));
		if (xk->ndim != x0->ndim)
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "input %d is %s but input 0 is %s: "
					     "the numbers of dimensions differ", k, bufk, buf0);
		for (int d = 0; d < x0->ndim; d++) {
			if (d != axis && xk->shape[d] != x0->shape[d])
				return AX_NODE_ERROR(node, AX_ERR_SHAPE, "input %d is %s but input 0 "
						     "is %s: sizes must match except along axis %d",
						     k, bufk, buf0, axis);
		}
		shape[axis] += xk->shape[axis];
	}
	node->attrs.i[0] = axis;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x0->ndim, shape);
}

/* contiguous: no attrs; any dtype; a dense row-major copy of in[0]. */
enum ax_status ax_shape_contiguous(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];

	(void)ctx;
	node->out->dtype = x->dtype;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

/* ---- public wrappers ---- */

enum ax_status ax_contiguous(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	if (!ctx || !x || !out)
		return AX_ERROR(AX_ERR_INVALID, "contiguous: ctx, x or out is NULL");
	if (ax_tensor_is_contiguous(x)) {
		*out = x;
		return AX_OK;
	}
	return ax_op_run(ctx, AX_OP_CONTIGUOUS, 1, &x, NULL, out);
}

enum ax_status ax_reshape(struct ax_ctx *ctx, struct ax_tensor *x, int ndim,
			  const int64_t *shape, struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};
	struct ax_tensor *src = x;
	enum ax_status st;

	if (!ctx || !x || !out)
		return AX_ERROR(AX_ERR_INVALID, "reshape: ctx, x or out is NULL");
	if (ndim < 0 || ndim > AX_MAX_DIMS)
		return AX_ERROR(AX_ERR_SHAPE, "reshape: %d dimensions, axon supports 0 to %d", ndim,
				AX_MAX_DIMS);
	if (ndim > 0 && !shape)
		return AX_ERROR(AX_ERR_INVALID, "reshape: shape is NULL");
	attrs.i[0] = ndim;
	for (int d = 0; d < ndim; d++)
		attrs.i[1 + d] = shape[d];
	/* As PyTorch's reshape: a strided input is copied, then viewed. */
	st = ax_contiguous(ctx, x, &src);
	if (st)
		return st;
	return ax_op_run(ctx, AX_OP_RESHAPE, 1, &src, &attrs, out);
}

enum ax_status ax_permute(struct ax_ctx *ctx, struct ax_tensor *x, const int *perm,
			  struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};

	if (!x)
		return AX_ERROR(AX_ERR_INVALID, "permute: x is NULL");
	if (x->ndim > 0 && !perm)
		return AX_ERROR(AX_ERR_INVALID, "permute: perm is NULL");
	for (int d = 0; d < x->ndim; d++)
		attrs.i[d] = perm[d];
	return ax_op_run(ctx, AX_OP_PERMUTE, 1, &x, &attrs, out);
}

enum ax_status ax_transpose(struct ax_ctx *ctx, struct ax_tensor *x, int axis0, int axis1,
			    struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};
	char buf[160];
	int a0, a1;

	if (!x)
		return AX_ERROR(AX_ERR_INVALID, "transpose: x is NULL");
	a0 = ax_norm_axis(axis0, x->ndim);
	a1 = ax_norm_axis(axis1, x->ndim);
	if (a0 < 0 || a1 < 0)
		return AX_ERROR(AX_ERR_SHAPE, "transpose: axes %d and %d: %d is out of range for x "
				"of shape %s", axis0, axis1, a0 < 0 ? axis0 : axis1,
				ax_shape_str(x->ndim, x->shape, buf, sizeof(buf)));
	for (int d = 0; d < x->ndim; d++)
		attrs.i[d] = d;
	attrs.i[a0] = a1;
	attrs.i[a1] = a0;
	return ax_op_run(ctx, AX_OP_PERMUTE, 1, &x, &attrs, out);
}

enum ax_status ax_slice(struct ax_ctx *ctx, struct ax_tensor *x, int axis, int64_t start,
			int64_t end, int64_t step, struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};

	attrs.i[0] = axis;
	attrs.i[1] = start;
	attrs.i[2] = end;
	attrs.i[3] = step;
	return ax_op_run(ctx, AX_OP_SLICE, 1, &x, &attrs, out);
}

enum ax_status ax_concat(struct ax_ctx *ctx, int n, struct ax_tensor *const *xs, int axis,
			 struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};

	if (n < 1 || !xs)
		return AX_ERROR(AX_ERR_INVALID, "concat: needs at least one input (n is %d)", n);
	attrs.i[0] = axis;
	return ax_op_run(ctx, AX_OP_CONCAT, n, xs, &attrs, out);
}
