/* ops/nn.c - shape functions and public wrappers of the neural-network ops:
 * softmax, log_softmax, cross_entropy, mse, dropout, embedding, layer_norm.
 *
 * Everything that can be checked without reading tensor data is checked here,
 * before ax_op_run allocates the output, so a kernel only meets inputs of the
 * right dtypes and shapes. What needs the data (labels and indices in range)
 * is checked by the kernels, which then fail the op before it is recorded.
 * Wrappers pack their scalar arguments into struct ax_op_attrs; the slots each
 * op uses are documented next to its shape function. */
#include <math.h>

#include "../internal.h"

/* Fail unless t is f32; `what` names the operand in the message. */
static enum ax_status require_f32(const struct ax_node *node, const struct ax_tensor *t,
				  const char *what)
{
	if (t->dtype != AX_F32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "%s must be f32, it is %s", what,
				     ax_dtype_name(t->dtype));
	return AX_OK;
}

/* ---- softmax, log_softmax ----
 * attrs: i[0] = axis. The wrapper stores it as given (negative counts from the
 * end); the shape function replaces it by the normalised axis in [0, ndim),
 * which is what the kernels read. */

static enum ax_status shape_softmax_like(struct ax_node *node)
{
	struct ax_tensor *x = node->in[0];
	char buf[160];
	int axis;
	enum ax_status st = require_f32(node, x, "x");

	if (st)
		return st;
	axis = ax_norm_axis((int)node->attrs.i[0], x->ndim);
	if (axis < 0)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "axis %lld is out of range for x of shape %s",
				     (long long)node->attrs.i[0],
				     ax_shape_str(x->ndim, x->shape, buf, sizeof(buf)));
	node->attrs.i[0] = axis;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

enum ax_status ax_shape_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	return shape_softmax_like(node);
}

enum ax_status ax_shape_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	(void)ctx;
	return shape_softmax_like(node);
}

enum ax_status ax_softmax(struct ax_ctx *ctx, struct ax_tensor *x, int axis,
			  struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};

	attrs.i[0] = axis;
	return ax_op_run(ctx, AX_OP_SOFTMAX, 1, &x, &attrs, out);
}

enum ax_status ax_log_softmax(struct ax_ctx *ctx, struct ax_tensor *x, int axis,
			      struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};

	attrs.i[0] = axis;
	return ax_op_run(ctx, AX_OP_LOG_SOFTMAX, 1, &x, &attrs, out);
}

/* ---- cross_entropy ----
 * in: logits (N, C) f32, labels (N) i32. attrs: f[0] = label smoothing in
 * [0, 1), i[0] = ignore_index. Output: a 0-d scalar. Labels are range-checked
 * by the forward kernel (it has to read them anyway). */

enum ax_status ax_shape_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *logits = node->in[0], *labels = node->in[1];
	float smoothing = node->attrs.f[0];
	char bufa[160], bufb[160];
	enum ax_status st;

	(void)ctx;
	if (!labels)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "labels is NULL");
	st = require_f32(node, logits, "logits");
	if (st)
		return st;
	if (labels->dtype != AX_I32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "labels must be i32, they are %s",
				     ax_dtype_name(labels->dtype));
	if (!(smoothing >= 0.0f && smoothing < 1.0f))
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "label_smoothing must be in [0, 1), it is %g",
				     (double)smoothing);
	if (logits->ndim != 2 || labels->ndim != 1 || labels->shape[0] != logits->shape[0])
		return AX_NODE_ERROR(node, AX_ERR_SHAPE,
				     "want logits (N, C) and labels (N): logits are %s, labels are %s",
				     ax_shape_str(logits->ndim, logits->shape, bufa, sizeof(bufa)),
				     ax_shape_str(labels->ndim, labels->shape, bufb, sizeof(bufb)));
	if (logits->shape[1] < 1)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "logits %s have no classes",
				     ax_shape_str(logits->ndim, logits->shape, bufa, sizeof(bufa)));
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, 0, NULL);
}

enum ax_status ax_cross_entropy(struct ax_ctx *ctx, struct ax_tensor *logits,
				struct ax_tensor *labels, const struct ax_ce_options *options,
				struct ax_tensor **out)
{
	struct ax_ce_options opt = options ? *options : AX_CE_DEFAULTS;
	struct ax_op_attrs attrs = {0};
	struct ax_tensor *in[2] = {logits, labels};

	attrs.f[0] = opt.label_smoothing;
	attrs.i[0] = opt.ignore_index;
	return ax_op_run(ctx, AX_OP_CROSS_ENTROPY, 2, in, &attrs, out);
}

/* ---- mse ----
 * in: pred, target, f32 of equal shape (no broadcasting). No attrs.
 * Output: a 0-d scalar, the mean of (pred - target)^2 (NaN for 0 elements, as
 * a mean of nothing). */

enum ax_status ax_shape_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *pred = node->in[0], *target = node->in[1];
	char bufa[160], bufb[160];
	enum ax_status st;
	int same;

	(void)ctx;
	if (!target)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "target is NULL");
	st = require_f32(node, pred, "pred");
	if (!st)
		st = require_f32(node, target, "target");
	if (st)
		return st;
	same = pred->ndim == target->ndim;
	for (int d = 0; same && d < pred->ndim; d++)
		same = pred->shape[d] == target->shape[d];
	if (!same)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE,
				     "pred and target must have the same shape: pred is %s, target is %s",
				     ax_shape_str(pred->ndim, pred->shape, bufa, sizeof(bufa)),
				     ax_shape_str(target->ndim, target->shape, bufb, sizeof(bufb)));
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, 0, NULL);
}

enum ax_status ax_mse(struct ax_ctx *ctx, struct ax_tensor *pred, struct ax_tensor *target,
		      struct ax_tensor **out)
{
	struct ax_tensor *in[2] = {pred, target};

	return ax_op_run(ctx, AX_OP_MSE, 2, in, NULL, out);
}

/* ---- dropout ----
 * attrs: f[0] = p in (0, 1). The op only runs in training mode with p > 0; the
 * wrapper returns x itself otherwise, so no record and no copy. */

static enum ax_status check_dropout_p(float p)
{
	if (!(p >= 0.0f && p < 1.0f))
		return AX_ERROR(AX_ERR_INVALID, "dropout: p must be in [0, 1), it is %g", (double)p);
	return AX_OK;
}

enum ax_status ax_shape_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0];
	enum ax_status st = check_dropout_p(node->attrs.f[0]);

	(void)ctx;
	if (!st)
		st = require_f32(node, x, "x");
	if (st)
		return st;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

enum ax_status ax_dropout(struct ax_ctx *ctx, struct ax_tensor *x, float p,
			  struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};
	enum ax_status st;

	if (!ctx || !x || !out)
		return AX_ERROR(AX_ERR_INVALID, "dropout: ctx, x or out is NULL");
	st = check_dropout_p(p);
	if (st)
		return st;
	if (x->dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "dropout: x must be f32, it is %s",
				ax_dtype_name(x->dtype));
	if (!ax_ctx_training(ctx) || p == 0.0f) {
		*out = x;
		return AX_OK;
	}
	attrs.f[0] = p;
	return ax_op_run(ctx, AX_OP_DROPOUT, 1, &x, &attrs, out);
}

/* ---- embedding ----
 * in: weight (V, D) f32, indices (...) i32. No attrs. Output (..., D).
 * Indices are range-checked by the forward kernel. */

enum ax_status ax_shape_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *weight = node->in[0], *indices = node->in[1];
	int64_t shape[AX_MAX_DIMS];
	char bufa[160], bufb[160];
	enum ax_status st;

	(void)ctx;
	if (!indices)
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "indices is NULL");
	st = require_f32(node, weight, "weight");
	if (st)
		return st;
	if (indices->dtype != AX_I32)
		return AX_NODE_ERROR(node, AX_ERR_DTYPE, "indices must be i32, they are %s",
				     ax_dtype_name(indices->dtype));
	if (weight->ndim != 2)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE, "weight must be (V, D), it is %s",
				     ax_shape_str(weight->ndim, weight->shape, bufa, sizeof(bufa)));
	if (indices->ndim + 1 > AX_MAX_DIMS)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE,
				     "indices %s have too many dimensions for an output (..., D) "
				     "(at most %d); weight is %s",
				     ax_shape_str(indices->ndim, indices->shape, bufb, sizeof(bufb)),
				     AX_MAX_DIMS - 1,
				     ax_shape_str(weight->ndim, weight->shape, bufa, sizeof(bufa)));
	for (int d = 0; d < indices->ndim; d++)
		shape[d] = indices->shape[d];
	shape[indices->ndim] = weight->shape[1];
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, indices->ndim + 1, shape);
}

enum ax_status ax_embedding(struct ax_ctx *ctx, struct ax_tensor *weight,
			    struct ax_tensor *indices, struct ax_tensor **out)
{
	struct ax_tensor *in[2] = {weight, indices};

	return ax_op_run(ctx, AX_OP_EMBEDDING, 2, in, NULL, out);
}

/* ---- layer_norm ----
 * in: x (..., D) f32, gamma (D) or NULL, beta (D) or NULL (always 3 inputs).
 * attrs: f[0] = eps >= 0. Output: x's shape. */

static enum ax_status check_affine_param(const struct ax_node *node, const struct ax_tensor *p,
					 const char *what, const struct ax_tensor *x)
{
	char bufa[160], bufb[160];
	enum ax_status st;

	if (!p)
		return AX_OK;
	st = require_f32(node, p, what);
	if (st)
		return st;
	if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1])
		return AX_NODE_ERROR(node, AX_ERR_SHAPE,
				     "%s must be (D) for x (..., D): x is %s, %s is %s", what,
				     ax_shape_str(x->ndim, x->shape, bufa, sizeof(bufa)), what,
				     ax_shape_str(p->ndim, p->shape, bufb, sizeof(bufb)));
	return AX_OK;
}

enum ax_status ax_shape_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0];
	float eps = node->attrs.f[0];
	enum ax_status st;

	(void)ctx;
	st = require_f32(node, x, "x");
	if (st)
		return st;
	if (!(eps >= 0.0f) || isinf(eps))
		return AX_NODE_ERROR(node, AX_ERR_INVALID, "eps must be finite and >= 0, it is %g",
				     (double)eps);
	if (x->ndim < 1)
		return AX_NODE_ERROR(node, AX_ERR_SHAPE,
				     "x must have at least one dimension (..., D), it is []");
	st = check_affine_param(node, node->in[1], "gamma", x);
	if (!st)
		st = check_affine_param(node, node->in[2], "beta", x);
	if (st)
		return st;
	node->out->dtype = AX_F32;
	return ax_tensor_set_shape(node->out, x->ndim, x->shape);
}

enum ax_status ax_layer_norm(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor *gamma,
			     struct ax_tensor *beta, float eps, struct ax_tensor **out)
{
	struct ax_op_attrs attrs = {0};
	struct ax_tensor *in[3] = {x, gamma, beta};

	attrs.f[0] = eps;
	return ax_op_run(ctx, AX_OP_LAYER_NORM, 3, in, &attrs, out);
}
