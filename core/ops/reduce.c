/* ops/reduce.c - shape functions and public wrappers of sum and mean.
 *
 * Attrs of both ops (the wrapper fills the first slots with the axes as the
 * caller gave them; the shape function validates them and adds the mask the
 * kernels use, so errors are reported with the op's name):
 *   i[0]                 number of axes (0: all axes)
 *   i[1 .. i[0]]         the axes, negative counting from the end
 *   i[REDUCE_KEEPDIM]    1: keep reduced axes with size 1
 *   i[REDUCE_MASK]       set by the shape function: bit d = axis d is reduced
 * An axis outside [-ndim, ndim) is AX_ERR_SHAPE; an axis listed twice is
 * AX_ERR_INVALID. The slot numbers are shared with cpu/reduce.c. */
#include "../internal.h"

enum { REDUCE_KEEPDIM = AX_MAX_DIMS + 1, REDUCE_MASK = AX_MAX_DIMS + 2 };

static enum ax_status reduce_shape(struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	int64_t n_axes = node->attrs.i[0];
	int keepdim = node->attrs.i[REDUCE_KEEPDIM] != 0;
	int64_t shape[AX_MAX_DIMS], axes[AX_MAX_DIMS];
	char buf[160], bufa[160];
	int ndim = 0;
	uint32_t mask = 0;

	if (x->dtype != AX_F32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "x must be f32, it is %s",
				     ax_dtype_name(x->dtype));
	ax_shape_str(x->ndim, x->shape, buf, sizeof(buf));
	for (int k = 0; k < n_axes; k++)
		axes[k] = node->attrs.i[1 + k];
	if (n_axes == 0)
		mask = (1u << x->ndim) - 1u;
	for (int k = 0; k < n_axes; k++) {
		int d = (axes[k] >= -AX_MAX_DIMS && axes[k] <= AX_MAX_DIMS)
				? ax_norm_axis((int)axes[k], x->ndim) : -1;

		if (d < 0)
			return AX_NODE_ERROR(node, AX_ERR_SHAPE, "axis %lld is out of range for x of "
					     "shape %s (%d dimensions)", (long long)axes[k], buf,
					     x->ndim);
		if (mask & (1u << d))
			return AX_NODE_ERROR(node, AX_ERR_INVALID, "axis %d appears twice in the "
					     "axes %s (x is %s)", d,
					     ax_shape_str((int)n_axes, axes, bufa, sizeof(bufa)), buf);
		mask |= 1u << d;
	}
	for (int d = 0; d < x->ndim; d++) {
		if (!(mask & (1u << d)))
			shape[ndim++] = x->shape[d];
		else if (keepdim)
			shape[ndim++] = 1;
	}
	node->attrs.i[REDUCE_MASK] = mask;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, ndim, shape);
}

/* sum: attrs as above. */
enum ax_status ax_shape_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	return reduce_shape(node);
}

/* mean: attrs as above. The mean over zero elements is NaN (as in PyTorch). */
enum ax_status ax_shape_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	return reduce_shape(node);
}

static enum ax_status reduce_op(struct ax_ctx *ctx, enum ax_op op, struct ax_tensor *x,
				int n_axes, const int *axes, int keepdim, struct ax_tensor **out)
{
	const char *name = ax_op_table[op].name;
	struct ax_op_attrs attrs = {0};

	if (n_axes < 0 || n_axes > AX_MAX_DIMS)
		return AX_ERROR(AX_ERR_INVALID, "%s: %d axes given; between 0 (all axes) and %d "
				"distinct axes are possible", name, n_axes, AX_MAX_DIMS);
	if (n_axes > 0 && !axes)
		return AX_ERROR(AX_ERR_INVALID, "%s: %d axes but the axes pointer is NULL", name,
				n_axes);
	attrs.i[0] = n_axes;
	for (int k = 0; k < n_axes; k++)
		attrs.i[1 + k] = axes[k];
	attrs.i[REDUCE_KEEPDIM] = keepdim != 0;
	return ax_op_run(ctx, op, 1, &x, &attrs, out);
}

enum ax_status ax_sum(struct ax_ctx *ctx, struct ax_tensor *x, int n_axes, const int *axes,
		      int keepdim, struct ax_tensor **out)
{
	return reduce_op(ctx, AX_OP_SUM, x, n_axes, axes, keepdim, out);
}

enum ax_status ax_mean(struct ax_ctx *ctx, struct ax_tensor *x, int n_axes, const int *axes,
		       int keepdim, struct ax_tensor **out)
{
	return reduce_op(ctx, AX_OP_MEAN, x, n_axes, axes, keepdim, out);
}
