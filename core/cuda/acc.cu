/* cuda/acc.cu - the strided building blocks every CUDA kernel file leans on:
 * ax_cuda_acc (dst += src, broadcasting either way), ax_cuda_copy and
 * ax_cuda_dense.
 *
 * The host side first does what the CPU iterator does (cpu/strided.c): it
 * sees both operands through the larger shape, drops size-1 axes and fuses
 * neighbouring axes that are contiguous in both, so a dense operand becomes
 * one axis and each element needs few (often no) index divisions. An axis on
 * which dst has stride 0 is a reduced axis: many src elements add into one dst
 * element. Then:
 *   - no reduced axis: one thread per element (a float4 loop when both are
 *     dense and 16-byte aligned, the common same-shape gradient add);
 *   - reduced axes: no atomics. Every dst element is owned by a team that
 *     loops over the reduced positions and adds its sum once, so results are
 *     deterministic for a given GPU. When the innermost axis is reduced and
 *     at least 16 long (row sums), or there is one output (a scalar's
 *     gradient), the team is a warp whose lanes read consecutive elements;
 *     otherwise (the bias gradient [B, N] -> [N]) the 32
 *     lanes of a warp own 32 consecutive outputs and 8 warps of a block split
 *     the reduced range, so every load is coalesced. When there are too few
 *     outputs to fill the GPU, the reduced range is cut into slices whose
 *     partial sums go to arena scratch and a second pass of the same kernel
 *     adds them up.
 * Index arithmetic divides in 32 bits whenever the counts fit (a 64-bit
 * division costs several times more and would dominate these memory-bound
 * loops); offsets are always 64-bit. */
#include <stdint.h>

#include "layout.cuh"

#define COL_TEAM 8          /* warps per block sharing 32 outputs in the column kernel */
#define MAX_SLICES 4096     /* bound on the partial sums per output (scratch, 2nd pass) */
#define MIN_PER_THREAD 16   /* reduced elements per thread before splitting pays off */

/* Everything up to the entry points has internal linkage, so kernels and
 * helpers of the same name in other .cu files cannot collide. */
namespace {

/* ---- layouts (host) ---- */

/* An empty layout (no axes: one element at offset 0). */
static ax_cu_layout layout_empty(void)
{
	ax_cu_layout l;

	l.ndim = 0;
	l.contiguous = 1;
	for (int d = 0; d < AX_MAX_DIMS; d++) {
		l.shape[d] = 1;
		l.stride[d] = 0;
	}
	return l;
}

static void layout_push(ax_cu_layout *l, int64_t size, int64_t stride)
{
	l->shape[l->ndim] = size;
	l->stride[l->ndim] = stride;
	l->ndim++;
}

static int64_t layout_numel(const ax_cu_layout *l)
{
	int64_t n = 1;

	for (int d = 0; d < l->ndim; d++)
		n *= l->shape[d];
	return n;
}

/* t can be seen through `big`'s shape (aligned on the right): each of its
 * axes is 1 or big's size there; axes it has beyond big's are 1. */
static int broadcasts_to(const struct ax_tensor *t, const struct ax_tensor *big)
{
	for (int td = 0; td < t->ndim; td++) {
		int d = td + (big->ndim - t->ndim);

		if (t->shape[td] == 1)
			continue;
		if (d < 0 || t->shape[td] != big->shape[d])
			return 0;
	}
	return 1;
}

static int same_shape(const struct ax_tensor *a, const struct ax_tensor *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* ---- index math (device) ---- */


/* ---- kernels ---- */

/* dst[i] += src[i], both dense. Vec: both pointers are 16-byte aligned, so
 * the body moves float4s and the first threads mop up the last n % 4. */
template <bool Vec>
__global__ void acc_dense_kernel(float *dst, const float *src, int64_t n)
{
	if constexpr (Vec) {
		int64_t n4 = n >> 2;
		int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
		float4 *d4 = reinterpret_cast<float4 *>(dst);
		const float4 *s4 = reinterpret_cast<const float4 *>(src);

		AX_CU_GRID_STRIDE(i, n4) {
			float4 a = d4[i];
			float4 b = s4[i];

			a.x += b.x;
			a.y += b.y;
			a.z += b.z;
			a.w += b.w;
			d4[i] = a;
		}
		if (tid < n - (n4 << 2))
			dst[(n4 << 2) + tid] += src[(n4 << 2) + tid];
	} else {
		AX_CU_GRID_STRIDE(i, n)
			dst[i] += src[i];
	}
}

/* dst[od(i)] += src[os(i)]: no reduced axis, so each i owns its dst element. */
template <typename I>
__global__ void acc_strided_kernel(float *dst, const float *src, ax_cu_layout ld,
				   ax_cu_layout ls, int64_t n)
{
	AX_CU_GRID_STRIDE(i, n) {
		int64_t od, os;

		ax_cu_offsets2<I>(ld, ls, (I)i, &od, &os);
		dst[od] += src[os];
	}
}

/* The reduction kernels share their arguments: output m (of M, row-major over
 * dk's shape) is dst[dk offset of m], and sums src[sk offset of m + sr offset
 * of r] over r in [0, R). Work item w = s * M + m covers the slice
 * [s * chunk, min((s + 1) * chunk, R)) for output m; with `partial` set the
 * item's sum is stored at partial[w] (the [S, M] scratch of the first pass),
 * otherwise added into dst. */
struct reduce_args {
	float *dst;
	const float *src;
	float *partial;
	ax_cu_layout dk, sk, sr;
	int64_t M, R, chunk;
};

/* One warp per work item, lanes striding through r: for reductions whose
 * innermost axis is reduced, so consecutive lanes read consecutive elements.
 * The warp index is uniform across a warp (blockDim.x is a multiple of 32),
 * so every lane reaches the shuffle. */
template <typename I>
__global__ void acc_reduce_rows_kernel(reduce_args a, int64_t items)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;

	for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < items;
	     w += warps) {
		int64_t s = w / a.M, m = w - s * a.M;
		int64_t r0 = s * a.chunk;
		int64_t r1 = r0 + a.chunk < a.R ? r0 + a.chunk : a.R;
		int64_t od, os;
		float sum = 0.0f;

		ax_cu_offsets2<I>(a.dk, a.sk, (I)m, &od, &os);
		for (int64_t r = r0 + lane; r < r1; r += 32)
			sum += a.src[os + ax_cu_offset1<I>(a.sr, (I)r)];
		sum = ax_cu_warp_sum(sum);
		if (lane == 0) {
			if (a.partial)
				a.partial[w] = sum;
			else
				a.dst[od] += sum;
		}
	}
}

/* Block (32, COL_TEAM) per work item of 32 consecutive outputs: lane x owns
 * output tile * 32 + x and warp y takes every COL_TEAM-th r of the slice, so a
 * warp's loads are 32 neighbouring outputs at one r (coalesced when the
 * innermost axis is kept). The COL_TEAM partial sums of an output are added in
 * a fixed order through shared memory. The item loop is uniform across the
 * block, so the barriers are safe. items = tiles * S. */
template <typename I>
__global__ void acc_reduce_cols_kernel(reduce_args a, int64_t tiles, int64_t items)
{
	__shared__ float part[COL_TEAM][33];

	for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
		int64_t s = item / tiles, tile = item - s * tiles;
		int64_t m = tile * 32 + threadIdx.x;
		int64_t od = 0, os = 0;
		float sum = 0.0f;

		if (m < a.M) {
			int64_t r0 = s * a.chunk;
			int64_t r1 = r0 + a.chunk < a.R ? r0 + a.chunk : a.R;

			ax_cu_offsets2<I>(a.dk, a.sk, (I)m, &od, &os);
			for (int64_t r = r0 + threadIdx.y; r < r1; r += COL_TEAM)
				sum += a.src[os + ax_cu_offset1<I>(a.sr, (I)r)];
		}
		part[threadIdx.y][threadIdx.x] = sum;
		__syncthreads();
		if (threadIdx.y == 0 && m < a.M) {
			float total = 0.0f;

			for (int y = 0; y < COL_TEAM; y++)
				total += part[y][threadIdx.x];
			if (a.partial)
				a.partial[s * a.M + m] = total;
			else
				a.dst[od] += total;
		}
		__syncthreads();
	}
}

/* Bytes or 4-byte words: dst[od(i)] = src[os(i)]. */
template <typename T, typename I>
__global__ void copy_strided_kernel(T *dst, const T *src, ax_cu_layout ld, ax_cu_layout ls,
				    int64_t n)
{
	AX_CU_GRID_STRIDE(i, n) {
		int64_t od, os;

		ax_cu_offsets2<I>(ld, ls, (I)i, &od, &os);
		dst[od] = src[os];
	}
}

/* ---- launches ---- */

/* After a launch (these functions have no node to name). */
#define LAUNCHED(what) ax_cuda_error_at(cudaGetLastError(), (what), __FILE__, __LINE__)

static int fits_u32(int64_t n)
{
	return n <= (int64_t)UINT32_MAX;
}

/* The number of slices to cut a reduction of R into, given `items` work
 * items per slice, `team` threads per item and the items that fill the GPU:
 * no more than keeps MIN_PER_THREAD elements per thread, no more than needed
 * to fill the GPU, at most MAX_SLICES. */
static int64_t slice_count(int64_t R, int64_t items, int64_t team, int64_t fill)
{
	int64_t min_chunk = team * MIN_PER_THREAD;
	int64_t by_work = (R + min_chunk - 1) / min_chunk;
	int64_t by_fill = (fill + items - 1) / items;
	int64_t s = by_work < by_fill ? by_work : by_fill;

	if (s > MAX_SLICES)
		s = MAX_SLICES;
	return s < 1 ? 1 : s;
}

/* Run one reduction pass with a.partial set (S slices) or not (S must be 1). */
static enum ax_status reduce_pass(cudaStream_t stream, const reduce_args &a, int rows,
				  int64_t S)
{
	int small = fits_u32(a.M) && fits_u32(a.R);

	if (rows) {
		int64_t items = a.M * S;
		unsigned grid = ax_cu_grid(items * 32, AX_CU_THREADS);

		if (small)
			acc_reduce_rows_kernel<uint32_t><<<grid, AX_CU_THREADS, 0, stream>>>(a, items);
		else
			acc_reduce_rows_kernel<int64_t><<<grid, AX_CU_THREADS, 0, stream>>>(a, items);
	} else {
		int64_t tiles = (a.M + 31) / 32, items = tiles * S;
		dim3 block(32, COL_TEAM);
		unsigned grid = ax_cu_grid(items, 1);

		if (small)
			acc_reduce_cols_kernel<uint32_t><<<grid, block, 0, stream>>>(a, tiles, items);
		else
			acc_reduce_cols_kernel<int64_t><<<grid, block, 0, stream>>>(a, tiles, items);
	}
	return LAUNCHED("acc reduction kernel launch");
}

/* dst[dk(m)] += sum over r of src[sk(m) + sr(r)]; `rows` picks the warp-per-
 * output kernel (innermost axis reduced). */
static enum ax_status reduce(struct ax_ctx *ctx, float *dst, const float *src,
			     const ax_cu_layout &dk, const ax_cu_layout &sk,
			     const ax_cu_layout &sr, int rows)
{
	cudaStream_t stream = ax_cuda_stream(ctx);
	int sms = ax_cuda_dev(ctx->device.index)->sm_count;
	reduce_args a;
	int64_t S;
	enum ax_status st;

	if (sms < 1)
		sms = 1;
	a.dst = dst;
	a.src = src;
	a.partial = NULL;
	a.dk = dk;
	a.sk = sk;
	a.sr = sr;
	a.M = layout_numel(&dk);
	a.R = layout_numel(&sr);
	/* Fill targets: 64 warps (rows) or 8 blocks of 256 (columns) per SM. */
	if (rows)
		S = slice_count(a.R, a.M, 32, (int64_t)sms * 64);
	else
		S = slice_count(a.R, (a.M + 31) / 32, COL_TEAM, (int64_t)sms * 8);
	a.chunk = (a.R + S - 1) / S;
	S = (a.R + a.chunk - 1) / a.chunk; /* no empty trailing slice */
	if (S == 1)
		return reduce_pass(stream, a, rows, 1);

	/* Pass 1: partial[s][m] for every slice. Pass 2: the same reduction over
	 * the [S, M] scratch (S reduced, stride M), adding into dst. */
	a.partial = (float *)ax_ctx_alloc_data(ctx, (size_t)(S * a.M) * sizeof(float));
	if (!a.partial)
		return AX_ERR_NOMEM;
	st = reduce_pass(stream, a, rows, S);
	if (st)
		return st;
	a.src = a.partial;
	a.partial = NULL;
	a.sk = dk; /* dk's shape, row-major dense strides */
	for (int64_t d = dk.ndim - 1, step = 1; d >= 0; d--) {
		a.sk.stride[d] = step;
		step *= dk.shape[d];
	}
	a.sk.contiguous = 1;
	a.sr = layout_empty();
	layout_push(&a.sr, S, a.M);
	a.sr.contiguous = ax_cu_layout_dense(&a.sr);
	a.R = S;
	a.chunk = S;
	return reduce_pass(stream, a, a.M == 1, 1);
}

} /* namespace */

/* ---- entry points ---- */

enum ax_status ax_cuda_acc(struct ax_ctx *ctx, struct ax_tensor *dst, const struct ax_tensor *src)
{
	int64_t nd = ax_tensor_numel(dst), ns = ax_tensor_numel(src);
	/* Iterate over the larger shape, as ax_cpu_acc does. */
	const struct ax_tensor *big = ns >= nd ? src : dst;
	ax_cu_layout l[2], dk, sk, sr;
	char bufd[160], bufs[160];

	if (dst->dtype != AX_F32 || src->dtype != AX_F32)
		return AX_ERROR(AX_ERR_INTERNAL, "cuda acc: dst is %s and src is %s, both must be "
				"f32 (a bug in axon)", ax_dtype_name(dst->dtype),
				ax_dtype_name(src->dtype));
	if (nd == 0 || ns == 0)
		return AX_OK; /* nothing to add into, or a sum over nothing */
	if (!broadcasts_to(dst, big) || !broadcasts_to(src, big))
		return AX_ERROR(AX_ERR_INTERNAL, "cuda acc: cannot add %s into %s: neither shape "
				"broadcasts to the other (a bug in axon)",
				ax_shape_str(src->ndim, src->shape, bufs, sizeof(bufs)),
				ax_shape_str(dst->ndim, dst->shape, bufd, sizeof(bufd)));
	l[0] = ax_cu_layout_bcast(dst, big->ndim, big->shape);
	l[1] = ax_cu_layout_bcast(src, big->ndim, big->shape);
	ax_cu_merge_layouts(l, 2);

	/* Split the axes: dst stride 0 (size > 1 after merging) is reduced. */
	dk = layout_empty();
	sk = layout_empty();
	sr = layout_empty();
	for (int d = 0; d < l[0].ndim; d++) {
		if (l[0].stride[d] == 0) {
			layout_push(&sr, l[1].shape[d], l[1].stride[d]);
		} else {
			layout_push(&dk, l[0].shape[d], l[0].stride[d]);
			layout_push(&sk, l[1].shape[d], l[1].stride[d]);
		}
	}
	dk.contiguous = ax_cu_layout_dense(&dk);
	sk.contiguous = ax_cu_layout_dense(&sk);
	sr.contiguous = ax_cu_layout_dense(&sr);

	if (sr.ndim > 0) {
		/* Rows kernel when the innermost axis is reduced and long enough
		 * to keep a warp's lanes busy, or when there is a single output. */
		int last = l[0].ndim - 1;
		int rows = dk.ndim == 0 || (l[0].stride[last] == 0 && l[0].shape[last] >= 16);

		return reduce(ctx, (float *)dst->data, (const float *)src->data, dk, sk, sr, rows);
	}

	int64_t n = layout_numel(&dk);
	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);
	cudaStream_t stream = ax_cuda_stream(ctx);

	if (dk.contiguous && sk.contiguous) {
		float *d = (float *)dst->data;
		const float *s = (const float *)src->data;

		if ((((uintptr_t)d | (uintptr_t)s) & 15) == 0)
			acc_dense_kernel<true><<<ax_cu_grid((n + 3) / 4, AX_CU_THREADS), AX_CU_THREADS,
						0, stream>>>(d, s, n);
		else
			acc_dense_kernel<false><<<grid, AX_CU_THREADS, 0, stream>>>(d, s, n);
	} else if (fits_u32(n)) {
		acc_strided_kernel<uint32_t><<<grid, AX_CU_THREADS, 0, stream>>>(
			(float *)dst->data, (const float *)src->data, dk, sk, n);
	} else {
		acc_strided_kernel<int64_t><<<grid, AX_CU_THREADS, 0, stream>>>(
			(float *)dst->data, (const float *)src->data, dk, sk, n);
	}
	return LAUNCHED("acc kernel launch");
}

enum ax_status ax_cuda_copy(struct ax_ctx *ctx, struct ax_tensor *dst, const struct ax_tensor *src)
{
	size_t elem = ax_dtype_size(src->dtype);
	int64_t n = ax_tensor_numel(src);
	cudaStream_t stream = ax_cuda_stream(ctx);
	char bufd[160], bufs[160];
	ax_cu_layout l[2];

	/* Bit copy: the dtypes need only agree in size (a window of an f32
	 * buffer may receive i32 elements, as concat does). */
	if (ax_dtype_size(dst->dtype) != elem || (elem != 4 && elem != 1))
		return AX_ERROR(AX_ERR_INTERNAL, "cuda copy: cannot copy %s into %s (a bug in axon)",
				ax_dtype_name(src->dtype), ax_dtype_name(dst->dtype));
	if (!same_shape(dst, src))
		return AX_ERROR(AX_ERR_INTERNAL, "cuda copy: shapes differ, %s into %s (a bug in "
				"axon)", ax_shape_str(src->ndim, src->shape, bufs, sizeof(bufs)),
				ax_shape_str(dst->ndim, dst->shape, bufd, sizeof(bufd)));
	if (n == 0)
		return AX_OK;
	l[0] = ax_cu_layout_of(dst);
	l[1] = ax_cu_layout_of(src);
	ax_cu_merge_layouts(l, 2);
	if (l[0].contiguous && l[1].contiguous)
		return AX_CUDA_CHECK(cudaMemcpyAsync(dst->data, src->data, (size_t)n * elem,
						     cudaMemcpyDeviceToDevice, stream));

	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);

	if (elem == 4) {
		uint32_t *d = (uint32_t *)dst->data;
		const uint32_t *s = (const uint32_t *)src->data;

		if (fits_u32(n))
			copy_strided_kernel<uint32_t, uint32_t>
				<<<grid, AX_CU_THREADS, 0, stream>>>(d, s, l[0], l[1], n);
		else
			copy_strided_kernel<uint32_t, int64_t>
				<<<grid, AX_CU_THREADS, 0, stream>>>(d, s, l[0], l[1], n);
	} else {
		uint8_t *d = (uint8_t *)dst->data;
		const uint8_t *s = (const uint8_t *)src->data;

		if (fits_u32(n))
			copy_strided_kernel<uint8_t, uint32_t>
				<<<grid, AX_CU_THREADS, 0, stream>>>(d, s, l[0], l[1], n);
		else
			copy_strided_kernel<uint8_t, int64_t>
				<<<grid, AX_CU_THREADS, 0, stream>>>(d, s, l[0], l[1], n);
	}
	return LAUNCHED("copy kernel launch");
}

enum ax_status ax_cuda_dense(struct ax_ctx *ctx, const struct ax_tensor *t,
			     const struct ax_tensor **out)
{
	struct ax_tensor *copy;
	enum ax_status st;

	*out = t;
	if (ax_tensor_is_contiguous(t) || ax_tensor_numel(t) == 0)
		return AX_OK;
	st = ax_tensor_new(ctx, t->dtype, t->ndim, t->shape, 0, &copy);
	if (st)
		return st;
	st = ax_cuda_copy(ctx, copy, t);
	if (st)
		return st;
	*out = copy;
	return AX_OK;
}
