/* autograd.c - reverse-mode differentiation over the tape.
 *
 * The tape is a singly linked list of records, newest first, so the backward
 * pass is a plain loop over ->prev. Each record's backward kernel adds its
 * contribution into its inputs' gradients, which is what makes a tensor used
 * twice receive the sum of both uses. A record whose output never received a
 * gradient is skipped. After a record is processed, parameters whose first
 * forward use was that record are final, and the grad-ready hook fires for
 * them: dist/ uses it to start all-reducing a bucket while backward goes on. */
#include <string.h>

#include "cpu/strided.h"
#include "internal.h"

static enum ax_status seed_gradient(struct ax_ctx *ctx, struct ax_tensor *g,
				    const struct ax_tensor *grad_y)
{
	int64_t n = ax_tensor_numel(g);

	if (ctx->device.kind == AX_DEVICE_CPU) {
		if (!grad_y) {
			float *p = g->data;

			for (int64_t i = 0; i < n; i++)
				p[i] += 1.0f;
			return AX_OK;
		}
		ax_cpu_acc(g, grad_y);
		return AX_OK;
	}
	if (!grad_y) {
		float one = 1.0f;

		return ctx->dev->copy(ctx->device.index, g->data, &one, sizeof(one), AX_COPY_H2D);
	}
	if (!ax_tensor_is_contiguous(grad_y))
		return AX_ERROR(AX_ERR_UNSUPPORTED, "backward: a strided seed gradient is only "
				"supported on the CPU; pass a contiguous one");
	return ctx->dev->copy(ctx->device.index, g->data, grad_y->data,
			      (size_t)n * sizeof(float), AX_COPY_D2D);
}

static void fire_ready(struct ax_ctx *ctx, struct ax_node *node)
{
	uint32_t mask = node->first_use_mask;

	for (int k = 0; mask && k < node->n_in; k++, mask >>= 1) {
		if ((mask & 1u) && ctx->grad_ready)
			ctx->grad_ready(ctx->grad_ready_user, node->in[k]);
	}
}

enum ax_status ax_backward_with(struct ax_ctx *ctx, struct ax_tensor *y,
				const struct ax_tensor *grad_y)
{
	struct ax_tensor *g;
	enum ax_status st;
	char bufy[160], bufg[160];

	if (!ctx || !y)
		return AX_ERROR(AX_ERR_INVALID, "backward: ctx or loss is NULL");
	if (ctx->backward_done)
		return AX_ERROR(AX_ERR_STATE, "backward: already ran this step; call "
				"ax_ctx_reset before the next forward pass");
	if (!ax_needs_grad(y))
		return AX_ERROR(AX_ERR_STATE, "backward: the loss does not require a gradient (no "
				"parameter or input that requires one feeds it, or it was computed "
				"with recording off)");
	if (grad_y) {
		if (grad_y->ndim != y->ndim || memcmp(grad_y->shape, y->shape,
						      sizeof(int64_t) * (size_t)y->ndim) != 0)
			return AX_ERROR(AX_ERR_SHAPE, "backward: seed gradient has shape %s but the "
					"output has shape %s",
					ax_shape_str(grad_y->ndim, grad_y->shape, bufg, sizeof(bufg)),
					ax_shape_str(y->ndim, y->shape, bufy, sizeof(bufy)));
		if (grad_y->dtype != AX_F32)
			return AX_ERROR(AX_ERR_DTYPE, "backward: seed gradient must be f32");
	} else if (ax_tensor_numel(y) != 1) {
		return AX_ERROR(AX_ERR_SHAPE, "backward: the loss must have one element, it has "
				"shape %s (reduce it with ax_sum or ax_mean first)",
				ax_shape_str(y->ndim, y->shape, bufy, sizeof(bufy)));
	}
	st = ax_grad_of(ctx, y, &g);
	if (st)
		return st;
	st = seed_gradient(ctx, g, grad_y);
	if (st)
		return st;
	ctx->backward_done = 1;
	for (struct ax_node *node = ctx->tape; node; node = node->prev) {
		if (node->out->grad && node->out->grad_step == ctx->step) {
			ax_kernel_fn bwd = ctx->kernels->bwd[node->op];

			if (!bwd)
				return AX_ERROR(AX_ERR_UNSUPPORTED, "%s: no %s backward kernel in this build",
						ax_op_table[node->op].name, ctx->kernels->device);
			st = bwd(ctx, node);
			if (st)
				return st;
		}
		fire_ready(ctx, node);
	}
	return AX_OK;
}

enum ax_status ax_backward(struct ax_ctx *ctx, struct ax_tensor *loss)
{
	return ax_backward_with(ctx, loss, NULL);
}
