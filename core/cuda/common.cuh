/* cuda/common.cuh - device-side helpers shared by the CUDA kernel files.
 *
 * Strided operands reach kernels as a struct ax_cu_layout passed by value
 * (shape and element strides, up to AX_MAX_DIMS axes). ax_cu_offset maps a
 * row-major linear index over the layout's shape to an element offset; a
 * broadcast operand has stride 0 on the axes it is stretched over
 * (ax_cu_layout_bcast). Kernels use grid-stride loops sized by ax_cu_grid,
 * so one launch covers any n. */
#ifndef AXON_CUDA_COMMON_CUH
#define AXON_CUDA_COMMON_CUH

#include <stdint.h>

#include "cuda_internal.h"

#define AX_CU_THREADS 256

struct ax_cu_layout {
	int ndim;
	int contiguous;               /* offset == index: skip the division loop */
	int64_t shape[AX_MAX_DIMS];
	int64_t stride[AX_MAX_DIMS];
};

/* The layout of t itself. */
static inline ax_cu_layout ax_cu_layout_of(const struct ax_tensor *t)
{
	ax_cu_layout l;

	l.ndim = t->ndim;
	l.contiguous = ax_tensor_is_contiguous(t);
	for (int d = 0; d < AX_MAX_DIMS; d++) {
		l.shape[d] = d < t->ndim ? t->shape[d] : 1;
		l.stride[d] = d < t->ndim ? t->stride[d] : 0;
	}
	return l;
}

/* t seen through the broadcast shape (ndim, shape), aligned on the right:
 * t's stride where its size matches, 0 where t has size 1 or lacks the axis. */
static inline ax_cu_layout ax_cu_layout_bcast(const struct ax_tensor *t, int ndim,
					      const int64_t *shape)
{
	ax_cu_layout l;
	int same = t->ndim == ndim;

	l.ndim = ndim;
	for (int d = 0; d < AX_MAX_DIMS; d++) {
		int td = d - (ndim - t->ndim);

		l.shape[d] = d < ndim ? shape[d] : 1;
		if (d >= ndim || td < 0 || t->shape[td] != shape[d])
			l.stride[d] = 0;
		else
			l.stride[d] = t->stride[td];
		if (d < ndim && td >= 0 && t->shape[td] != shape[d])
			same = 0;
	}
	l.contiguous = same && ax_tensor_is_contiguous(t);
	return l;
}

__device__ __forceinline__ int64_t ax_cu_offset(const ax_cu_layout &l, int64_t i)
{
	int64_t off = 0;

	if (l.contiguous)
		return i;
	for (int d = l.ndim - 1; d >= 0; d--) {
		int64_t s = l.shape[d];

		off += (i % s) * l.stride[d];
		i /= s;
	}
	return off;
}

/* Blocks for a grid-stride loop over n elements: enough to fill the GPU
 * several times over, never more than needed. */
static inline unsigned ax_cu_grid(int64_t n, int threads)
{
	int64_t blocks = (n + threads - 1) / threads;
	int64_t cap = 65535;

	if (blocks < 1)
		blocks = 1;
	return (unsigned)(blocks < cap ? blocks : cap);
}

#define AX_CU_GRID_STRIDE(i, n)                                                         \
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);      \
	     i += (int64_t)blockDim.x * gridDim.x)

/* Warp and block sums (block size a multiple of 32, at most 1024). */
__device__ __forceinline__ float ax_cu_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ float ax_cu_warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* Sum over the block; every thread gets the result. `scratch` holds 32 floats. */
__device__ __forceinline__ float ax_cu_block_sum(float v, float *scratch)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	int warps = (blockDim.x + 31) >> 5;

	v = ax_cu_warp_sum(v);
	__syncthreads(); /* scratch may still be read by a previous call */
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < warps ? scratch[lane] : 0.0f;
	return ax_cu_warp_sum(v);
}

__device__ __forceinline__ float ax_cu_block_max(float v, float *scratch)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	int warps = (blockDim.x + 31) >> 5;

	v = ax_cu_warp_max(v);
	__syncthreads();
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < warps ? scratch[lane] : -INFINITY;
	return ax_cu_warp_max(v);
}

/* The same in double, for reductions the CPU accumulates in double. */
__device__ __forceinline__ double ax_cu_warp_sum_f64(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/* Sum over the block in double; every thread gets the result. `scratch`
 * holds 32 doubles. */
__device__ __forceinline__ double ax_cu_block_sum_f64(double v, double *scratch)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	int warps = (blockDim.x + 31) >> 5;

	v = ax_cu_warp_sum_f64(v);
	__syncthreads(); /* scratch may still be read by a previous call */
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < warps ? scratch[lane] : 0.0;
	return ax_cu_warp_sum_f64(v);
}

#endif
