/* cpu/embedding.c - embedding lookup (row gather) and its backward (row
 * scatter-add).
 *
 * out[..., :] = weight[indices[...], :]. Forward checks every index against
 * [0, V) before writing anything, copies the indices into the arena (so a
 * caller reusing its index buffer before backward cannot change which rows
 * receive gradient) and copies rows, with memcpy when weight rows are
 * unit-stride. Backward adds each output-gradient row into the dweight row
 * it came from; repeated indices therefore accumulate, as they must. */
#include <string.h>

#include "../internal.h"
#include "strided.h"

/* "[i, j, k]": the multi-index of flat position `flat` in a row-major shape. */
static const char *position_str(int64_t flat, int ndim, const int64_t *shape, char *buf,
				size_t len)
{
	int64_t index[AX_MAX_DIMS];

	for (int d = ndim - 1; d >= 0; d--) {
		index[d] = shape[d] ? flat % shape[d] : 0;
		flat = shape[d] ? flat / shape[d] : 0;
	}
	return ax_shape_str(ndim, index, buf, len);
}

enum ax_status ax_cpu_fwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *weight = node->in[0], *indices = node->in[1];
	int64_t n = ax_tensor_numel(indices), vocab = weight->shape[0], dim = weight->shape[1];
	int64_t row_stride = weight->stride[0], col_stride = weight->stride[1];
	const float *w = weight->data;
	float *y = node->out->data;
	const int32_t *dense;
	int32_t *idx;
	char buf[160];

	idx = ax_ctx_alloc(ctx, (size_t)(n ? n : 1) * sizeof(int32_t));
	dense = n ? ax_cpu_dense(ctx, indices) : NULL;
	if (!idx || (n && !dense))
		return AX_ERR_NOMEM;
	for (int64_t i = 0; i < n; i++) {
		if (dense[i] < 0 || dense[i] >= vocab)
			return AX_NODE_ERROR(node, AX_ERR_RANGE,
					     "index at position %s of indices is %d, outside [0, %lld) "
					     "for a weight of %lld rows",
					     position_str(i, indices->ndim, indices->shape, buf,
							  sizeof(buf)),
					     (int)dense[i], (long long)vocab, (long long)vocab);
		idx[i] = dense[i];
	}
	for (int64_t i = 0; i < n; i++) {
		const float *src = w + idx[i] * row_stride;
		float *dst = y + i * dim;

		if (col_stride == 1) {
			memcpy(dst, src, (size_t)dim * sizeof(float));
		} else {
			for (int64_t j = 0; j < dim; j++)
				dst[j] = src[j * col_stride];
		}
	}
	node->saved = idx;
	return AX_OK;
}

enum ax_status ax_cpu_bwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *weight = node->in[0], *grad;
	int64_t n = ax_tensor_numel(node->in[1]), dim = weight->shape[1];
	const int32_t *idx = node->saved;
	const float *g = node->out->grad->data;
	enum ax_status st;

	if (!ax_needs_grad(weight))
		return AX_OK;
	st = ax_grad_of(ctx, weight, &grad);
	if (st)
		return st;
	for (int64_t i = 0; i < n; i++) {
		float *dst = (float *)grad->data + idx[i] * dim;
		const float *src = g + i * dim;

		for (int64_t j = 0; j < dim; j++)
			dst[j] += src[j];
	}
	return AX_OK;
}
