/* ops/elementwise.c - shape functions and public wrappers of the elementwise ops.
 *
 * Binary ops (add, sub, mul, div) take two f32 tensors and broadcast them the
 * NumPy way (ax_broadcast_shape); unary ops take one f32 tensor and keep its
 * shape. Only to_f32 accepts integer input, because its job is to turn raw
 * bytes and labels into floats; it is flagged AX_OPF_NO_GRAD in op_list.h.
 * The wrappers only pack scalars into struct ax_op_attrs and call ax_op_run,
 * which does device checks, allocation, the kernel call and tape recording. */
#include "../internal.h"

/* ---- shared checks ---- */

static enum ax_status shape_binary(struct ax_node *node)
{
	const struct ax_tensor *a = node->in[0];
	const struct ax_tensor *b = node->n_in > 1 ? node->in[1] : NULL;
	int64_t shape[AX_MAX_DIMS];
	char bufa[160], bufb[160];
	enum ax_status st;
	int ndim;

	if (!b)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "second input is NULL");
	if (a->dtype != AX_F32 || b->dtype != AX_F32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE,
				     "both inputs must be f32, a is %s %s and b is %s %s",
				     ax_dtype_name(a->dtype),
				     ax_shape_str(a->ndim, a->shape, bufa, sizeof(bufa)),
				     ax_dtype_name(b->dtype),
				     ax_shape_str(b->ndim, b->shape, bufb, sizeof(bufb)));
	st = ax_broadcast_shape(node, a, b, &ndim, shape);
	if (st)
		return st;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, ndim, shape);
}

static enum ax_status shape_unary(struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	char buf[160];

	if (x->dtype != AX_F32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "input must be f32, got %s %s",
				     ax_dtype_name(x->dtype),
				     ax_shape_str(x->ndim, x->shape, buf, sizeof(buf)));
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

static enum ax_status run_binary(struct ax_ctx *ctx, enum ax_op op, struct ax_tensor *a,
				 struct ax_tensor *b, struct ax_tensor **out)
{
	struct ax_tensor *in[2] = {a, b};

	return ax_op_run(ctx, op, 2, in, NULL, out);
}

static enum ax_status run_unary(struct ax_ctx *ctx, enum ax_op op, struct ax_tensor *x,
				const struct ax_op_attrs *attrs, struct ax_tensor **out)
{
	struct ax_tensor *in[1] = {x};

	return ax_op_run(ctx, op, 1, in, attrs, out);
}

/* ---- binary, broadcasting: no attrs ---- */

enum ax_status ax_shape_add(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_binary(node);
}

enum ax_status ax_shape_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_binary(node);
}

enum ax_status ax_shape_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_binary(node);
}

enum ax_status ax_shape_div(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_binary(node);
}

enum ax_status ax_add(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out)
{
	return run_binary(ctx, AX_OP_ADD, a, b, out);
}

enum ax_status ax_sub(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out)
{
	return run_binary(ctx, AX_OP_SUB, a, b, out);
}

enum ax_status ax_mul(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out)
{
	return run_binary(ctx, AX_OP_MUL, a, b, out);
}

/* Division by zero follows IEEE 754 (inf or NaN); it is not an error. */
enum ax_status ax_div(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out)
{
	return run_binary(ctx, AX_OP_DIV, a, b, out);
}

/* ---- with a scalar ---- */

/* affine: attrs f[0] = scale, f[1] = shift. */
enum ax_status ax_shape_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

/* pow_scalar: attrs f[0] = p. Like C's powf, a negative base with a
 * non-integer p gives NaN (in the value and the gradient) rather than an
 * error, so one bad element does not fail a whole batch; callers that need
 * real powers of negative numbers should use an integer p. */
enum ax_status ax_shape_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

enum ax_status ax_affine(struct ax_ctx *ctx, struct ax_tensor *x, float scale, float shift,
			 struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {{scale, shift}, {0}};

	return run_unary(ctx, AX_OP_AFFINE, x, &attrs, out);
}

enum ax_status ax_add_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float c,
			     struct ax_tensor **out)
{
	return ax_affine(ctx, x, 1.0f, c, out);
}

enum ax_status ax_mul_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float c,
			     struct ax_tensor **out)
{
	return ax_affine(ctx, x, c, 0.0f, out);
}

enum ax_status ax_pow_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float p,
			     struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {{p}, {0}};

	return run_unary(ctx, AX_OP_POW_SCALAR, x, &attrs, out);
}

/* ---- unary: no attrs unless stated ---- */

/* exp overflows to inf above ~88.7, as expf. */
enum ax_status ax_shape_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

/* log of 0 is -inf and of a negative number NaN, as logf. */
enum ax_status ax_shape_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

/* sqrt of a negative number is NaN; its gradient at 0 is inf (as PyTorch). */
enum ax_status ax_shape_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

enum ax_status ax_shape_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

/* leaky_relu: attrs f[0] = slope (any sign). */
enum ax_status ax_shape_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

/* gelu: attrs i[0] = enum ax_gelu_form. */
enum ax_status ax_shape_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	int64_t form = node->attrs.i[0];

	if (form != AX_GELU_ERF && form != AX_GELU_TANH)
		return AX_NODE_ERROR(node, AX_ERR_INVALID,
				     "unknown form %lld (AX_GELU_ERF = %d, AX_GELU_TANH = %d)",
				     (long long)form, AX_GELU_ERF, AX_GELU_TANH);
	return shape_unary(node);
}

enum ax_status ax_shape_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

enum ax_status ax_shape_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return shape_unary(node);
}

enum ax_status ax_exp(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_EXP, x, NULL, out);
}

enum ax_status ax_log(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_LOG, x, NULL, out);
}

enum ax_status ax_sqrt(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_SQRT, x, NULL, out);
}

enum ax_status ax_relu(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_RELU, x, NULL, out);
}

enum ax_status ax_leaky_relu(struct ax_ctx *ctx, struct ax_tensor *x, float slope,
			     struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {{slope}, {0}};

	return run_unary(ctx, AX_OP_LEAKY_RELU, x, &attrs, out);
}

enum ax_status ax_gelu(struct ax_ctx *ctx, struct ax_tensor *x, enum ax_gelu_form form,
		       struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {{0}, {(int64_t)form}};

	return run_unary(ctx, AX_OP_GELU, x, &attrs, out);
}

enum ax_status ax_sigmoid(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_SIGMOID, x, NULL, out);
}

enum ax_status ax_tanh(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out)
{
	return run_unary(ctx, AX_OP_TANH, x, NULL, out);
}

/* ---- conversion ---- */

/* to_f32: attrs f[0] = scale, f[1] = shift. Input u8, i32 or f32, any
 * layout; output f32 of the same shape. Never on the tape (AX_OPF_NO_GRAD),
 * so its output does not require a gradient even for an f32 input that does. */
enum ax_status ax_shape_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	char buf[160];

	if (x->dtype != AX_U8 && x->dtype != AX_I32 && x->dtype != AX_F32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "input must be u8, i32 or f32, got "
				     "dtype %d with shape %s", (int)x->dtype,
				     ax_shape_str(x->ndim, x->shape, buf, sizeof(buf)));
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

enum ax_status ax_to_f32(struct ax_ctx *ctx, struct ax_tensor *x, float scale, float shift,
			 struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {{scale, shift}, {0}};

	return run_unary(ctx, AX_OP_TO_F32, x, &attrs, out);
}
