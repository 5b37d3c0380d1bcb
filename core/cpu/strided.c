/* cpu/strided.c - the strided iterator and the copy/accumulate built on it.
 *
 * See strided.h. Axis merging: axes d and d+1 can be fused when, for every
 * operand, stride[d] == stride[d+1] * shape[d+1]; broadcast axes (stride 0 in
 * both) merge too. After merging, a dense elementwise op is a single row. */
#include <string.h>

#include "../internal.h"
#include "strided.h"

void ax_iter_init(struct ax_iter *it, int ndim, const int64_t *shape, int nops,
		  float *const *base, int64_t strides[][AX_MAX_DIMS])
{
	int n = 0;

	it->nops = nops;
	for (int k = 0; k < nops; k++)
		it->base[k] = base[k];
	/* Drop size-1 axes, keep the rest in order. */
	for (int d = 0; d < ndim; d++) {
		if (shape[d] == 1)
			continue;
		it->shape[n] = shape[d];
		for (int k = 0; k < nops; k++)
			it->stride[k][n] = strides[k][d];
		n++;
	}
	if (n == 0) {
		it->shape[0] = 1;
		for (int k = 0; k < nops; k++)
			it->stride[k][0] = 1;
		n = 1;
	}
	/* Merge an axis into its left neighbour when every operand allows it. */
	int m = 0;

	for (int d = 1; d < n; d++) {
		int mergeable = 1;

		for (int k = 0; k < nops; k++) {
			if (it->stride[k][m] != it->stride[k][d] * it->shape[d]) {
				mergeable = 0;
				break;
			}
		}
		if (mergeable) {
			it->shape[m] *= it->shape[d];
			for (int k = 0; k < nops; k++)
				it->stride[k][m] = it->stride[k][d];
		} else {
			m++;
			it->shape[m] = it->shape[d];
			for (int k = 0; k < nops; k++)
				it->stride[k][m] = it->stride[k][d];
		}
	}
	it->ndim = m + 1;
}

void ax_iter_rows(const struct ax_iter *it, ax_row_fn fn, const void *arg)
{
	int64_t index[AX_MAX_DIMS] = {0};
	float *p[AX_ITER_MAX_OPS];
	int64_t s[AX_ITER_MAX_OPS];
	int last = it->ndim - 1;
	int64_t rows = 1;

	for (int d = 0; d < last; d++)
		rows *= it->shape[d];
	for (int k = 0; k < it->nops; k++)
		s[k] = it->stride[k][last];
	if (it->shape[last] == 0)
		return;
	for (int64_t r = 0; r < rows; r++) {
		for (int k = 0; k < it->nops; k++) {
			int64_t off = 0;

			for (int d = 0; d < last; d++)
				off += index[d] * it->stride[k][d];
			p[k] = it->base[k] + off;
		}
		fn(it->shape[last], p, s, arg);
		/* Odometer increment over the outer axes. */
		for (int d = last - 1; d >= 0; d--) {
			if (++index[d] < it->shape[d])
				break;
			index[d] = 0;
		}
	}
}

void ax_bcast_strides(const struct ax_tensor *t, int ndim, const int64_t *shape,
		      int64_t *stride)
{
	for (int d = 0; d < ndim; d++) {
		int td = d - (ndim - t->ndim);

		stride[d] = (td >= 0 && t->shape[td] == shape[d] && shape[d] != 1) ? t->stride[td] : 0;
	}
}

void ax_iter_tensors(struct ax_iter *it, int ndim, const int64_t *shape, int nops,
		     const struct ax_tensor *const *ts)
{
	int64_t strides[AX_ITER_MAX_OPS][AX_MAX_DIMS];
	float *base[AX_ITER_MAX_OPS];

	for (int k = 0; k < nops; k++) {
		ax_bcast_strides(ts[k], ndim, shape, strides[k]);
		base[k] = (float *)ts[k]->data;
	}
	ax_iter_init(it, ndim, shape, nops, base, strides);
}

static void row_acc(int64_t n, float *const *p, const int64_t *s, const void *arg)
{
	float *dst = p[0];
	const float *src = p[1];

	(void)arg;
	if (s[0] == 1 && s[1] == 1) {
		for (int64_t i = 0; i < n; i++)
			dst[i] += src[i];
	} else if (s[0] == 0) {
		float total = 0.0f;

		for (int64_t i = 0; i < n; i++)
			total += src[i * s[1]];
		dst[0] += total;
	} else {
		for (int64_t i = 0; i < n; i++)
			dst[i * s[0]] += src[i * s[1]];
	}
}

static void row_copy(int64_t n, float *const *p, const int64_t *s, const void *arg)
{
	float *dst = p[0];
	const float *src = p[1];

	(void)arg;
	if (s[0] == 1 && s[1] == 1) {
		memcpy(dst, src, (size_t)n * sizeof(float));
	} else {
		for (int64_t i = 0; i < n; i++)
			dst[i * s[0]] = src[i * s[1]];
	}
}

void ax_cpu_acc(struct ax_tensor *dst, const struct ax_tensor *src)
{
	const struct ax_tensor *ops[2] = {dst, src};
	/* Iterate over the larger of the two shapes. */
	const struct ax_tensor *big = ax_tensor_numel(src) >= ax_tensor_numel(dst) ? src : dst;
	struct ax_iter it;

	ax_iter_tensors(&it, big->ndim, big->shape, 2, ops);
	ax_iter_rows(&it, row_acc, NULL);
}

void ax_cpu_copy(struct ax_tensor *dst, const struct ax_tensor *src)
{
	const struct ax_tensor *ops[2] = {dst, src};
	struct ax_iter it;

	ax_iter_tensors(&it, dst->ndim, dst->shape, 2, ops);
	ax_iter_rows(&it, row_copy, NULL);
}

/* Byte-generic gather for non-f32 dtypes (labels, indices, bytes). */
static void gather_bytes(char *dst, const struct ax_tensor *x, size_t elem)
{
	int64_t index[AX_MAX_DIMS] = {0};
	int64_t n = ax_tensor_numel(x);

	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0;

		for (int d = 0; d < x->ndim; d++)
			off += index[d] * x->stride[d];
		memcpy(dst + (size_t)i * elem, (const char *)x->data + (size_t)off * elem, elem);
		for (int d = x->ndim - 1; d >= 0; d--) {
			if (++index[d] < x->shape[d])
				break;
			index[d] = 0;
		}
	}
}

const void *ax_cpu_dense(struct ax_ctx *ctx, const struct ax_tensor *x)
{
	size_t elem = ax_dtype_size(x->dtype);
	struct ax_tensor dense;
	void *copy;

	if (ax_tensor_is_contiguous(x))
		return x->data;
	copy = ax_ctx_alloc(ctx, (size_t)ax_tensor_numel(x) * elem);
	if (!copy)
		return NULL;
	if (x->dtype != AX_F32) {
		gather_bytes(copy, x, elem);
		return copy;
	}
	dense = *x;
	ax_tensor_set_shape(&dense, x->ndim, x->shape);
	dense.data = copy;
	ax_cpu_copy(&dense, x);
	return copy;
}
