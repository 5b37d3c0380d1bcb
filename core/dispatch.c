/* dispatch.c - the op table and the single path every op call takes.
 *
 * ax_op_run validates the inputs' devices, asks the op's shape function for
 * the output's shape (which also checks the inputs), allocates the output in
 * the arena, runs the device's forward kernel and, when a gradient will be
 * needed, links a tape record. Keeping this in one place means a new op only
 * supplies its shape function and kernels; it cannot forget a check. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const struct ax_op_info ax_op_table[AX_OP_COUNT] = {
#define AX_X(E, n, f) [AX_OP_##E] = {#n, (f), ax_shape_##n},
	AX_OP_LIST(AX_X)
#undef AX_X
};

enum ax_status ax_node_error_at(const struct ax_node *node, enum ax_status status,
				const char *file, int line, const char *fmt, ...)
{
	char message[900];
	va_list args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	return ax_error_set(status, file, line, "%s: %s", ax_op_table[node->op].name, message);
}

enum ax_status ax_broadcast_shape(const struct ax_node *node, const struct ax_tensor *a,
				  const struct ax_tensor *b, int *ndim, int64_t *shape)
{
	int n = a->ndim > b->ndim ? a->ndim : b->ndim;

	for (int d = 0; d < n; d++) {
		int da = d - (n - a->ndim), db = d - (n - b->ndim);
		int64_t sa = da >= 0 ? a->shape[da] : 1;
		int64_t sb = db >= 0 ? b->shape[db] : 1;

		if (sa != sb && sa != 1 && sb != 1) {
			char bufa[160], bufb[160];

			return AX_NODE_ERROR(node, AX_ERR_SHAPE,
					     "shapes %s and %s do not broadcast (axis %d: %lld vs %lld)",
					     ax_shape_str(a->ndim, a->shape, bufa, sizeof(bufa)),
					     ax_shape_str(b->ndim, b->shape, bufb, sizeof(bufb)), d,
					     (long long)sa, (long long)sb);
		}
		shape[d] = sa == 1 ? sb : sa;
	}
	*ndim = n;
	return AX_OK;
}

enum ax_status ax_grad_of(struct ax_ctx *ctx, struct ax_tensor *t, struct ax_tensor **grad)
{
	enum ax_status st;

	if (t->flags & AX_TENSOR_PARAM) {
		if (!t->grad)
			return AX_ERROR(AX_ERR_INTERNAL, "parameter %s has no gradient buffer",
					t->name ? t->name : "?");
		*grad = t->grad;
		return AX_OK;
	}
	/* A gradient from an earlier step lived in an arena that has been reset. */
	if (!t->grad || t->grad_step != ctx->step) {
		st = ax_tensor_new(ctx, AX_F32, t->ndim, t->shape, 1, &t->grad);
		if (st) {
			t->grad = NULL;
			return st;
		}
		t->grad_step = ctx->step;
	}
	*grad = t->grad;
	return AX_OK;
}

static enum ax_status check_inputs(struct ax_ctx *ctx, enum ax_op op, int n_in,
				   struct ax_tensor *const *in)
{
	const char *name = ax_op_table[op].name;
	char want[32], got[32];

	if (n_in < 1 || !in || !in[0])
		return AX_ERROR(AX_ERR_INVALID, "%s: first input is NULL", name);
	for (int k = 0; k < n_in; k++) {
		if (!in[k])
			continue;
		if (in[k]->device.kind != ctx->device.kind || in[k]->device.index != ctx->device.index)
			return AX_ERROR(AX_ERR_DEVICE, "%s: input %d is on %s but the context runs on %s",
					name, k, ax_device_name(in[k]->device, got, sizeof(got)),
					ax_device_name(ctx->device, want, sizeof(want)));
		if (!in[k]->data && ax_tensor_numel(in[k]) > 0)
			return AX_ERROR(AX_ERR_INVALID, "%s: input %d has no data", name, k);
	}
	return AX_OK;
}

/* Link `node` onto the tape and note parameters seen for the first time this step. */
static void record(struct ax_ctx *ctx, struct ax_node *node)
{
	node->out->flags |= AX_TENSOR_REQUIRES_GRAD;
	node->out->producer = node;
	node->prev = ctx->tape;
	ctx->tape = node;
	ctx->tape_nodes++;
	for (int k = 0; k < node->n_in && k < 32; k++) {
		struct ax_tensor *t = node->in[k];

		if (t && (t->flags & AX_TENSOR_PARAM) && ax_needs_grad(t) && t->seen_step != ctx->step) {
			t->seen_step = ctx->step;
			t->first_use = node;
			node->first_use_mask |= 1u << k;
		}
	}
}

enum ax_status ax_op_run(struct ax_ctx *ctx, enum ax_op op, int n_in,
			 struct ax_tensor *const *in, const struct ax_op_attrs *attrs,
			 struct ax_tensor **out)
{
	const struct ax_op_info *info;
	struct ax_node *node;
	ax_kernel_fn fwd;
	enum ax_status st;
	int wants_grad = 0;

	if (!ctx || !out)
		return AX_ERROR(AX_ERR_INVALID, "%s: ctx or out is NULL",
				(unsigned)op < AX_OP_COUNT ? ax_op_table[op].name : "op");
	info = &ax_op_table[op];
	st = check_inputs(ctx, op, n_in, in);
	if (st)
		return st;
	node = ax_ctx_alloc(ctx, sizeof(*node) + (size_t)n_in * sizeof(*node->in));
	if (!node)
		return AX_ERR_NOMEM;
	memset(node, 0, sizeof(*node));
	node->op = op;
	node->n_in = n_in;
	node->in = (struct ax_tensor **)(node + 1);
	for (int k = 0; k < n_in; k++) {
		node->in[k] = in[k];
		wants_grad |= ax_needs_grad(in[k]);
	}
	if (attrs)
		node->attrs = *attrs;
	node->out = ax_ctx_new_header(ctx);
	if (!node->out)
		return AX_ERR_NOMEM;
	node->out->dtype = in[0]->dtype;
	node->out->device = ctx->device;
	st = info->shape(ctx, node);
	if (st)
		return st;
	if (!(info->flags & AX_OPF_VIEW)) {
		size_t bytes = (size_t)ax_tensor_numel(node->out) * ax_dtype_size(node->out->dtype);

		node->out->data = ax_ctx_alloc_data(ctx, bytes);
		if (!node->out->data)
			return AX_ERR_NOMEM;
	}
	fwd = ctx->kernels->fwd[op];
	if (!fwd)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "%s: no %s kernel in this build", info->name,
				ctx->kernels->device);
	st = fwd(ctx, node);
	if (st)
		return st;
	if (wants_grad && ctx->grad_enabled && !(info->flags & AX_OPF_NO_GRAD))
		record(ctx, node);
	*out = node->out;
	return AX_OK;
}
