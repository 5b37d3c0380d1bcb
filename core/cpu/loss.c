/* cpu/loss.c - the two losses, cross-entropy (fused log-softmax + NLL) and
 * mean squared error, forward and backward.
 *
 * cross_entropy. For a row x of C logits with maximum m and
 * S = sum_c exp(x_c - m), -log p_c = (m - x_c) + log S. Writing it that way
 * subtracts the two large numbers (m and x_c) exactly-ish first and adds the
 * small log S last, so logits of +-1000 lose nothing and never overflow. With
 * label smoothing s the target is (1-s) onehot + s/C, so
 *   loss_i = (1-s) (-log p_label) + s mean_c(-log p_c)
 *          = (1-s) ((m - x_label) + log S) + s ((m - mean_c x_c) + log S).
 * The loss is the mean over rows whose label is not ignore_index (PyTorch's
 * reduction='mean'); with every row ignored it is 0 (PyTorch gives NaN; 0
 * keeps a training loop that meets a fully padded batch finite, and its
 * gradient is 0 too). Row losses are summed in double.
 * The forward pass saves, per row, the log-sum-exp L = m + log S (N floats),
 * plus a dense pointer to the logits and a private copy of the labels, so
 * backward is one pass: dx_c += g/count * (exp(x_c - L) - s/C - (1-s)[c == label]).
 *
 * mse. mean((pred - target)^2) summed in double; backward
 * dpred += 2g/n (pred - target), dtarget -= the same. Dense copies of strided
 * inputs are made once in forward and saved for backward. */
#include <math.h>

#include "../internal.h"
#include "strided.h"

struct ce_saved {
	const float *logits; /* (N, C) contiguous */
	int32_t *labels;     /* (N), owned copy */
	float *lse;          /* (N) log-sum-exp per row; unset for ignored rows */
	int64_t count;       /* rows not ignored */
};

/* Copy the (possibly strided) labels into the arena and range-check them. */
static enum ax_status read_labels(struct ax_ctx *ctx, struct ax_node *node, int32_t **out)
{
	const struct ax_tensor *labels = node->in[1];
	int64_t n = labels->shape[0], classes = node->in[0]->shape[1], step = labels->stride[0];
	int32_t ignore = (int32_t)node->attrs.i[0];
	const int32_t *src = labels->data;
	int32_t *dst = ax_ctx_alloc(ctx, (size_t)(n ? n : 1) * sizeof(int32_t));

	if (!dst)
		return AX_ERR_NOMEM;
	for (int64_t i = 0; i < n; i++) {
		int32_t label = src[i * step];

		if (label != ignore && (label < 0 || label >= classes))
			return AX_NODE_ERROR(node, AX_ERR_RANGE,
					     "label of sample %lld is %d, outside [0, %lld) for %lld "
					     "classes (and not ignore_index %d)",
					     (long long)i, (int)label, (long long)classes,
					     (long long)classes, (int)ignore);
		dst[i] = label;
	}
	*out = dst;
	return AX_OK;
}

enum ax_status ax_cpu_fwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *logits = node->in[0];
	int64_t n = logits->shape[0], classes = logits->shape[1];
	double smoothing = node->attrs.f[0], total = 0.0;
	int32_t ignore = (int32_t)node->attrs.i[0];
	struct ce_saved *saved;
	enum ax_status st;

	saved = ax_ctx_alloc(ctx, sizeof(*saved));
	if (!saved)
		return AX_ERR_NOMEM;
	st = read_labels(ctx, node, &saved->labels);
	if (st)
		return st;
	saved->logits = n ? ax_cpu_dense(ctx, logits) : NULL;
	saved->lse = ax_ctx_alloc(ctx, (size_t)(n ? n : 1) * sizeof(float));
	if ((n && !saved->logits) || !saved->lse)
		return AX_ERR_NOMEM;
	saved->count = 0;
	for (int64_t i = 0; i < n; i++) {
		const float *row = saved->logits + i * classes;
		int32_t label = saved->labels[i];
		float max = row[0], sum = 0.0f;
		double log_sum, loss;

		if (label == ignore)
			continue;
		for (int64_t c = 1; c < classes; c++)
			max = row[c] > max ? row[c] : max;
		for (int64_t c = 0; c < classes; c++)
			sum += expf(row[c] - max);
		log_sum = log((double)sum);
		saved->lse[i] = (float)((double)max + log_sum);
		loss = ((double)max - (double)row[label]) + log_sum;
		if (smoothing > 0.0) {
			double row_total = 0.0;

			for (int64_t c = 0; c < classes; c++)
				row_total += row[c];
			loss = (1.0 - smoothing) * loss +
			       smoothing * (((double)max - row_total / (double)classes) + log_sum);
		}
		total += loss;
		saved->count++;
	}
	*(float *)node->out->data = saved->count ? (float)(total / (double)saved->count) : 0.0f;
	node->saved = saved;
	return AX_OK;
}

enum ax_status ax_cpu_bwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *logits = node->in[0], *grad;
	const struct ce_saved *saved = node->saved;
	int64_t n = logits->shape[0], classes = logits->shape[1];
	float smoothing = node->attrs.f[0];
	int32_t ignore = (int32_t)node->attrs.i[0];
	float scale, off_target, on_target;
	enum ax_status st;

	if (!ax_needs_grad(logits))
		return AX_OK;
	/* Taken even when every row is ignored, so logits get a (zero) gradient. */
	st = ax_grad_of(ctx, logits, &grad);
	if (st || saved->count == 0)
		return st;
	scale = *(const float *)node->out->grad->data / (float)saved->count;
	off_target = scale * smoothing / (float)classes; /* scale * s/C, every class */
	on_target = scale * (1.0f - smoothing);           /* scale * (1-s), the label only */
	for (int64_t i = 0; i < n; i++) {
		const float *row = saved->logits + i * classes;
		float *d = (float *)grad->data + i * classes;
		float lse = saved->lse[i];
		int32_t label = saved->labels[i];

		if (label == ignore)
			continue;
		for (int64_t c = 0; c < classes; c++)
			d[c] += scale * expf(row[c] - lse) - off_target;
		d[label] -= on_target;
	}
	return AX_OK;
}

struct mse_saved {
	const float *pred, *target; /* contiguous */
};

enum ax_status ax_cpu_fwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	int64_t n = ax_tensor_numel(node->in[0]);
	struct mse_saved *saved = ax_ctx_alloc(ctx, sizeof(*saved));
	double total = 0.0;

	if (!saved)
		return AX_ERR_NOMEM;
	saved->pred = ax_cpu_dense(ctx, node->in[0]);
	saved->target = ax_cpu_dense(ctx, node->in[1]);
	if (!saved->pred || !saved->target)
		return AX_ERR_NOMEM;
	for (int64_t i = 0; i < n; i++) {
		double diff = (double)saved->pred[i] - (double)saved->target[i];

		total += diff * diff;
	}
	/* A mean over no elements is NaN (as in PyTorch). */
	*(float *)node->out->data = n ? (float)(total / (double)n) : NAN;
	node->saved = saved;
	return AX_OK;
}

enum ax_status ax_cpu_bwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct mse_saved *saved = node->saved;
	int64_t n = ax_tensor_numel(node->in[0]);
	float *dpred = NULL, *dtarget = NULL, scale;
	struct ax_tensor *grad;
	enum ax_status st;

	if (n == 0)
		return AX_OK;
	scale = 2.0f * *(const float *)node->out->grad->data / (float)n;
	if (ax_needs_grad(node->in[0])) {
		st = ax_grad_of(ctx, node->in[0], &grad);
		if (st)
			return st;
		dpred = grad->data;
	}
	if (ax_needs_grad(node->in[1])) {
		st = ax_grad_of(ctx, node->in[1], &grad);
		if (st)
			return st;
		dtarget = grad->data;
	}
	if (dpred) {
		for (int64_t i = 0; i < n; i++)
			dpred[i] += scale * (saved->pred[i] - saved->target[i]);
	}
	if (dtarget) {
		for (int64_t i = 0; i < n; i++)
			dtarget[i] -= scale * (saved->pred[i] - saved->target[i]);
	}
	return AX_OK;
}
