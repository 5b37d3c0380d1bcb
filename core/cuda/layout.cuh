/* cuda/layout.cuh - index helpers for strided operands, shared by the
 * elementwise and accumulate kernels.
 *
 * Host side: ax_cu_merge_layouts drops size-1 axes and fuses axes that are
 * contiguous in every operand, so a dense tensor becomes one axis and most
 * broadcasts two; the kernels then do fewer divisions. Device side:
 * ax_cu_offsets2 / ax_cu_offset1 map a row-major index to element offsets,
 * dividing in 32 bits when the caller knows every index fits (I = uint32_t;
 * a 64-bit division costs several times more and would dominate these
 * memory-bound loops); offsets are always 64-bit. */
#ifndef AXON_CUDA_LAYOUT_CUH
#define AXON_CUDA_LAYOUT_CUH

#include "common.cuh"

/* 1 when l's strides are row-major dense for its shape. */
static inline int ax_cu_layout_dense(const ax_cu_layout *l)
{
	int64_t expect = 1;

	for (int d = l->ndim - 1; d >= 0; d--) {
		if (l->shape[d] != 1 && l->stride[d] != expect)
			return 0;
		expect *= l->shape[d];
	}
	return 1;
}

/* Drop size-1 axes and fuse axis d into d-1 where every layout allows it
 * (stride[d-1] == stride[d] * shape[d]), then recompute `contiguous`. All
 * `count` layouts share l[0]'s shape; the row-major order of the elements is
 * unchanged, so a linear index means the same element before and after. */
static inline void ax_cu_merge_layouts(ax_cu_layout *l, int count)
{
	int ndim = l[0].ndim, n = 0, m = -1;

	for (int d = 0; d < ndim; d++) {
		if (l[0].shape[d] == 1)
			continue;
		for (int k = 0; k < count; k++) {
			l[k].shape[n] = l[k].shape[d];
			l[k].stride[n] = l[k].stride[d];
		}
		n++;
	}
	for (int d = 0; d < n; d++) {
		int fuse = m >= 0;

		for (int k = 0; k < count && fuse; k++)
			fuse = l[k].stride[m] == l[k].stride[d] * l[k].shape[d];
		if (!fuse)
			m++;
		for (int k = 0; k < count; k++) {
			l[k].shape[m] = fuse ? l[k].shape[m] * l[k].shape[d] : l[k].shape[d];
			l[k].stride[m] = l[k].stride[d];
		}
	}
	for (int k = 0; k < count; k++) {
		l[k].ndim = m + 1;
		for (int d = m + 1; d < AX_MAX_DIMS; d++) {
			l[k].shape[d] = 1;
			l[k].stride[d] = 0;
		}
		l[k].contiguous = ax_cu_layout_dense(&l[k]);
	}
}

/* Offsets of row-major index i in two layouts of one shape (a's): one
 * division per axis but the outermost, whose index is what is left. I is the
 * index type: uint32_t when every index fits, int64_t otherwise. */
template <typename I>
__device__ __forceinline__ void ax_cu_offsets2(const ax_cu_layout &a, const ax_cu_layout &b, I i,
					 int64_t *oa, int64_t *ob)
{
	int64_t sa = 0, sb = 0;

	for (int d = a.ndim - 1; d > 0; d--) {
		I size = (I)a.shape[d];
		I q = i / size;
		I r = i - q * size;

		sa += (int64_t)r * a.stride[d];
		sb += (int64_t)r * b.stride[d];
		i = q;
	}
	if (a.ndim > 0) {
		sa += (int64_t)i * a.stride[0];
		sb += (int64_t)i * b.stride[0];
	}
	*oa = sa;
	*ob = sb;
}

template <typename I>
__device__ __forceinline__ int64_t ax_cu_offset1(const ax_cu_layout &l, I i)
{
	int64_t off = 0;

	if (l.contiguous)
		return (int64_t)i;
	for (int d = l.ndim - 1; d > 0; d--) {
		I size = (I)l.shape[d];
		I q = i / size;

		off += (int64_t)(i - q * size) * l.stride[d];
		i = q;
	}
	return l.ndim > 0 ? off + (int64_t)i * l.stride[0] : off;
}

#endif
