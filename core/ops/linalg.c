/* ops/linalg.c - shape functions and public wrappers of matmul, bmm and linear.
 *
 * matmul follows NumPy's matmul for operands of two or more dimensions: the
 * last two axes are the matrices and the leading (batch) axes broadcast.
 * ax_bmm is the same op behind a stricter wrapper (exactly 3-D, equal batch
 * sizes, as torch.bmm). The checks live in one function that takes the
 * name to report, so a failing bmm call says "bmm:" rather than "matmul:". */
#include "../internal.h"

/* Validate a @ b for `op` and compute the result's shape. */
static enum ax_status check_matmul(const char *op, const struct ax_tensor *a,
				   const struct ax_tensor *b, int *ndim, int64_t *shape)
{
	char bufa[160], bufb[160];
	int n, nb;

	ax_shape_str(a->ndim, a->shape, bufa, sizeof(bufa));
	ax_shape_str(b->ndim, b->shape, bufb, sizeof(bufb));
	if (a->dtype != AX_F32 || b->dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "%s: operands must be f32: a is %s, b is %s", op,
				ax_dtype_name(a->dtype), ax_dtype_name(b->dtype));
	if (a->ndim < 2 || b->ndim < 2)
		return AX_ERROR(AX_ERR_SHAPE, "%s: operands need at least 2 dimensions: a is %s, "
				"b is %s", op, bufa, bufb);
	if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
		return AX_ERROR(AX_ERR_SHAPE, "%s: inner dimensions differ: a is %s, b is %s", op,
				bufa, bufb);
	n = a->ndim > b->ndim ? a->ndim : b->ndim;
	nb = n - 2;
	for (int d = 0; d < nb; d++) {
		int da = d - (nb - (a->ndim - 2)), db = d - (nb - (b->ndim - 2));
		int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;

		if (sa != sb && sa != 1 && sb != 1)
			return AX_ERROR(AX_ERR_SHAPE, "%s: batch dimensions do not broadcast: a is %s, "
					"b is %s", op, bufa, bufb);
		shape[d] = sa == 1 ? sb : sa;
	}
	shape[nb] = a->shape[a->ndim - 2];
	shape[nb + 1] = b->shape[b->ndim - 1];
	*ndim = n;
	return AX_OK;
}

/* matmul: in[0] = a (..., M, K), in[1] = b (..., K, N), f32; no attrs.
 * Out: (broadcast batch..., M, N). */
enum ax_status ax_shape_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	int64_t shape[AX_MAX_DIMS];
	int ndim;
	enum ax_status st;

	(void)ctx;
	st = check_matmul("matmul", node->in[0], node->in[1], &ndim, shape);
	if (st)
		return st;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, ndim, shape);
}

/* linear: n_in is always 3: in[0] = x (..., in), in[1] = weight (out, in),
 * in[2] = bias (out) or NULL; all f32; no attrs. Out: (..., out). */
enum ax_status ax_shape_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
	char bufx[160], bufw[160], bufb[160];
	int64_t shape[AX_MAX_DIMS];

	(void)ctx;
	if (!w)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "weight is NULL");
	ax_shape_str(x->ndim, x->shape, bufx, sizeof(bufx));
	ax_shape_str(w->ndim, w->shape, bufw, sizeof(bufw));
	if (x->dtype != AX_F32 || w->dtype != AX_F32 || (bias && bias->dtype != AX_F32))
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "x, weight and bias must be f32: x is %s, "
				     "weight is %s, bias is %s", ax_dtype_name(x->dtype),
				     ax_dtype_name(w->dtype),
				     bias ? ax_dtype_name(bias->dtype) : "absent");
	if (w->ndim != 2)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "weight must be 2-D (out_features, "
				     "in_features): weight is %s, x is %s", bufw, bufx);
	if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "x's last dimension must equal weight's "
				     "in_features: x is %s, weight is %s", bufx, bufw);
	if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "bias must be [out_features]: bias is %s, "
				     "weight is %s",
				     ax_shape_str(bias->ndim, bias->shape, bufb, sizeof(bufb)), bufw);
	for (int d = 0; d < x->ndim - 1; d++)
		shape[d] = x->shape[d];
	shape[x->ndim - 1] = w->shape[0];
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, shape);
}

enum ax_status ax_matmul(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
			 struct ax_tensor **out)
{
	struct ax_tensor *in[2] = {a, b};

	if (!b)
		return AX_ERROR(AX_ERR_INVALID, "matmul: b is NULL");
	return ax_op_run(ctx, AX_OP_MATMUL, 2, in, NULL, out);
}

enum ax_status ax_bmm(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out)
{
	struct ax_tensor *in[2] = {a, b};
	char bufa[160], bufb[160];
	int64_t shape[AX_MAX_DIMS];
	int ndim;
	enum ax_status st;

	if (!a || !b)
		return AX_ERROR(AX_ERR_INVALID, "bmm: a or b is NULL");
	ax_shape_str(a->ndim, a->shape, bufa, sizeof(bufa));
	ax_shape_str(b->ndim, b->shape, bufb, sizeof(bufb));
	if (a->ndim != 3 || b->ndim != 3)
		return AX_ERROR(AX_ERR_SHAPE, "bmm: operands must be 3-D (batch, rows, cols): a is "
				"%s, b is %s", bufa, bufb);
	if (a->shape[0] != b->shape[0])
		return AX_ERROR(AX_ERR_SHAPE, "bmm: batch sizes differ: a is %s, b is %s", bufa,
				bufb);
	st = check_matmul("bmm", a, b, &ndim, shape);
	if (st)
		return st;
	return ax_op_run(ctx, AX_OP_MATMUL, 2, in, NULL, out);
}

enum ax_status ax_linear(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor *weight,
			 struct ax_tensor *bias, struct ax_tensor **out)
{
	struct ax_tensor *in[3] = {x, weight, bias};

	if (!weight)
		return AX_ERROR(AX_ERR_INVALID, "linear: weight is NULL");
	return ax_op_run(ctx, AX_OP_LINEAR, 3, in, NULL, out);
}
