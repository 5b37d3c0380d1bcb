/* cuda/k_reduce.cu - sum and mean over a set of axes on the GPU.
 *
 * x (any strides) is split into two layouts: `kept` over the axes that
 * survive (its row-major index is the output index, keepdim or not, since the
 * kept size-1 axes do not change the linear order) and `reduced` over the
 * axes summed away. Both are collapsed on the host (size-1 axes dropped,
 * nested axes merged) so the device index arithmetic is usually one multiply.
 *
 * As on the CPU, sums are accumulated in double and rounded to float once
 * (mean scales in double first). Two launch shapes:
 *   - one thread per output, summing its elements in order: short reductions,
 *     or many outputs that are adjacent in memory (reads coalesce across
 *     threads);
 *   - otherwise blocks: each output's elements are cut into `parts` chunks,
 *     one block per (output, chunk) reduces its chunk with a double block
 *     reduction, and when parts > 1 a second kernel adds the chunk sums of
 *     each output in chunk order. A few long reductions (a mean over a whole
 *     tensor) thus still fill the GPU. No atomics: the result is the same on
 *     every run.
 *
 * Backward is grad_x += broadcast(grad_out) * scale (1 for sum, the float
 * 1/count for mean, as the CPU), reading grad_out through strides that are 0
 * on the reduced axes. */
#include <math.h>

#include "common.cuh"

/* Slots of node->attrs.i, see ops/reduce.c. */
enum { REDUCE_MASK = AX_MAX_DIMS + 2 };

/* Outputs summed by one thread each when the reduction is at most this long. */
#define SHORT_REDUCTION 32
/* The block path aims at this many (output, chunk) tasks, chunks of at least
 * MIN_CHUNK elements. */
#define TARGET_TASKS 2048
#define MIN_CHUNK 4096

/* The layout of (ndim, shape, stride) with size-1 axes dropped and axes
 * merged where the outer one steps over exactly the inner one; the row-major
 * index order is unchanged. */
static ax_cu_layout collapse(int ndim, const int64_t *shape, const int64_t *stride)
{
	ax_cu_layout l;

	l.ndim = 0;
	for (int d = 0; d < ndim; d++) {
		if (shape[d] == 1)
			continue;
		if (l.ndim > 0 && l.stride[l.ndim - 1] == stride[d] * shape[d]) {
			l.shape[l.ndim - 1] *= shape[d];
			l.stride[l.ndim - 1] = stride[d];
		} else {
			l.shape[l.ndim] = shape[d];
			l.stride[l.ndim] = stride[d];
			l.ndim++;
		}
	}
	for (int d = l.ndim; d < AX_MAX_DIMS; d++) {
		l.shape[d] = 1;
		l.stride[d] = 0;
	}
	l.contiguous = l.ndim == 0 || (l.ndim == 1 && l.stride[0] == 1);
	return l;
}

/* ax_cu_offset without the divisions for the common one-axis case. */
static __device__ __forceinline__ int64_t offset_of(const ax_cu_layout &l, int64_t i)
{
	if (l.contiguous)
		return i;
	if (l.ndim == 1)
		return i * l.stride[0];
	return ax_cu_offset(l, i);
}

/* out[o] = scale * sum of the `count` elements of output o, one thread each. */
static __global__ void reduce_per_thread(const float *x, ax_cu_layout kept, ax_cu_layout reduced,
					 int64_t count, int64_t n_out, double scale, float *out)
{
	AX_CU_GRID_STRIDE(o, n_out) {
		const float *base = x + offset_of(kept, o);
		double acc = 0.0;

		for (int64_t r = 0; r < count; r++)
			acc += base[offset_of(reduced, r)];
		out[o] = (float)(acc * scale);
	}
}

/* Task t = (output t / parts, chunk t % parts) sums elements
 * [chunk * chunk_len, +chunk_len) of its output. parts == 1: the block writes
 * out[o] = scale * sum; otherwise partial[t] = sum. The task loop depends on
 * blockIdx only, so every thread of a block reaches the block reduction. */
static __global__ void reduce_per_block(const float *x, ax_cu_layout kept, ax_cu_layout reduced,
					int64_t count, int64_t chunk_len, int64_t parts,
					int64_t n_tasks, double scale, double *partial, float *out)
{
	__shared__ double scratch[32];

	for (int64_t t = blockIdx.x; t < n_tasks; t += gridDim.x) {
		int64_t o = t / parts, begin = (t % parts) * chunk_len;
		int64_t end = begin + chunk_len < count ? begin + chunk_len : count;
		const float *base = x + offset_of(kept, o);
		double acc = 0.0;

		for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x)
			acc += base[offset_of(reduced, r)];
		acc = ax_cu_block_sum_f64(acc, scratch);
		if (threadIdx.x == 0) {
			if (parts == 1)
				out[o] = (float)(acc * scale);
			else
				partial[t] = acc;
		}
	}
}

/* out[o] = scale * the sum of output o's chunk sums, in chunk order. */
static __global__ void reduce_finish(const double *partial, int64_t parts, int64_t n_out,
				     double scale, float *out)
{
	AX_CU_GRID_STRIDE(o, n_out) {
		double acc = 0.0;

		for (int64_t p = 0; p < parts; p++)
			acc += partial[o * parts + p];
		out[o] = (float)(acc * scale);
	}
}

/* out[i] = value: the reduction over zero elements (0 for sum, NaN for mean). */
static __global__ void reduce_fill(float *out, int64_t n, float value)
{
	AX_CU_GRID_STRIDE(i, n)
		out[i] = value;
}

/* The block path: `parts` chunks per output (see the top of the file). */
static enum ax_status reduce_blocks(struct ax_ctx *ctx, struct ax_node *node, ax_cu_layout kept,
				   ax_cu_layout reduced, int64_t count, int64_t n_out, double scale)
{
	cudaStream_t stream = ax_cuda_stream(ctx);
	float *out = (float *)node->out->data;
	int64_t parts = 1, chunk_len, n_tasks;
	double *partial = NULL;
	enum ax_status st;

	if (n_out < TARGET_TASKS && count > MIN_CHUNK) {
		int64_t want = (TARGET_TASKS + n_out - 1) / n_out;
		int64_t most = (count + MIN_CHUNK - 1) / MIN_CHUNK;

		parts = want < most ? want : most;
	}
	chunk_len = (count + parts - 1) / parts;
	parts = (count + chunk_len - 1) / chunk_len;
	n_tasks = n_out * parts;
	if (parts > 1) {
		partial = (double *)ax_ctx_alloc_data(ctx, (size_t)n_tasks * sizeof(double));
		if (!partial)
			return AX_ERR_NOMEM;
	}
	reduce_per_block<<<ax_cu_grid(n_tasks, 1), AX_CU_THREADS, 0, stream>>>(
		(const float *)node->in[0]->data, kept, reduced, count, chunk_len, parts, n_tasks,
		scale, partial, out);
	st = AX_CUDA_LAUNCHED(node);
	if (st || parts == 1)
		return st;
	reduce_finish<<<ax_cu_grid(n_out, AX_CU_THREADS), AX_CU_THREADS, 0, stream>>>(
		partial, parts, n_out, scale, out);
	return AX_CUDA_LAUNCHED(node);
}

static enum ax_status reduce_forward(struct ax_ctx *ctx, struct ax_node *node, int mean)
{
	const struct ax_tensor *x = node->in[0];
	uint32_t mask = (uint32_t)node->attrs.i[REDUCE_MASK];
	int64_t n_out = ax_tensor_numel(node->out), count = 1;
	int64_t kept_shape[AX_MAX_DIMS], kept_stride[AX_MAX_DIMS];
	int64_t red_shape[AX_MAX_DIMS], red_stride[AX_MAX_DIMS];
	int n_kept = 0, n_red = 0, kept_unit;
	cudaStream_t stream = ax_cuda_stream(ctx);
	float *out = (float *)node->out->data;
	ax_cu_layout kept, reduced;
	double scale;

	if (n_out == 0)
		return AX_OK;
	for (int d = 0; d < x->ndim; d++) {
		if (mask & (1u << d)) {
			red_shape[n_red] = x->shape[d];
			red_stride[n_red++] = x->stride[d];
			count *= x->shape[d];
		} else {
			kept_shape[n_kept] = x->shape[d];
			kept_stride[n_kept++] = x->stride[d];
		}
	}
	if (count == 0) {
		reduce_fill<<<ax_cu_grid(n_out, AX_CU_THREADS), AX_CU_THREADS, 0, stream>>>(
			out, n_out, mean ? NAN : 0.0f);
		return AX_CUDA_LAUNCHED(node);
	}
	scale = mean ? 1.0 / (double)count : 1.0;
	kept = collapse(n_kept, kept_shape, kept_stride);
	reduced = collapse(n_red, red_shape, red_stride);
	/* Adjacent outputs adjacent in x: a thread per output reads coalesced. */
	kept_unit = kept.ndim == 0 || kept.stride[kept.ndim - 1] == 1;
	if (count > SHORT_REDUCTION && !(kept_unit && n_out >= 16 * 1024 && count <= 1024))
		return reduce_blocks(ctx, node, kept, reduced, count, n_out, scale);
	reduce_per_thread<<<ax_cu_grid(n_out, AX_CU_THREADS), AX_CU_THREADS, 0, stream>>>(
		(const float *)x->data, kept, reduced, count, n_out, scale, out);
	return AX_CUDA_LAUNCHED(node);
}

/* gx[i] += scale * gy[offset of i's output]; __fmul_rn keeps the multiply
 * and the add separately rounded, as on the CPU (no FMA contraction). */
static __global__ void reduce_backward_kernel(float *gx, const float *gy, ax_cu_layout gy_view,
					      int64_t n, float scale)
{
	AX_CU_GRID_STRIDE(i, n)
		gx[i] += __fmul_rn(scale, gy[offset_of(gy_view, i)]);
}

static enum ax_status reduce_backward(struct ax_ctx *ctx, struct ax_node *node, int mean)
{
	struct ax_tensor *x = node->in[0], *gx;
	uint32_t mask = (uint32_t)node->attrs.i[REDUCE_MASK];
	int64_t n = ax_tensor_numel(x), stride[AX_MAX_DIMS], step = 1, count = 1;
	ax_cu_layout gy_view;
	float scale;
	enum ax_status st;

	if (!ax_needs_grad(x) || n == 0)
		return AX_OK;
	st = ax_grad_of(ctx, x, &gx);
	if (st)
		return st;
	/* grad_out (contiguous, keepdim shape) seen over x's shape: 0 on reduced axes. */
	for (int d = x->ndim - 1; d >= 0; d--) {
		if (mask & (1u << d)) {
			stride[d] = 0;
			count *= x->shape[d];
		} else {
			stride[d] = step;
			step *= x->shape[d];
		}
	}
	scale = mean ? (float)(1.0 / (double)count) : 1.0f;
	gy_view = collapse(x->ndim, x->shape, stride);
	reduce_backward_kernel<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0,
				 ax_cuda_stream(ctx)>>>((float *)gx->data,
							(const float *)node->out->grad->data,
							gy_view, n, scale);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_fwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_forward(ctx, node, 0);
}

enum ax_status ax_cuda_bwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_backward(ctx, node, 0);
}

enum ax_status ax_cuda_fwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_forward(ctx, node, 1);
}

enum ax_status ax_cuda_bwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return reduce_backward(ctx, node, 1);
}
