/* cuda/k_optim.cu - the optimizer and gradient-norm passes over the flat
 * parameter buffers on a GPU (declared in flat.h).
 *
 * Each pass is one launch over a table of slices (one per non-frozen
 * parameter): blockIdx.y picks the slice (a grid of at most 65535 rows loops
 * over more), and a grid-stride loop in x walks it. The x grid is sized for
 * the largest slice and capped at a few blocks per SM, so one big slice (an
 * embedding) fills the GPU while the blocks of small slices (biases) find
 * little or nothing to do and retire at once.
 *
 * The update formulas are the CPU loops' (optim_adam.c, optim_sgd.c,
 * clip.c) written operation by operation with the IEEE round-to-nearest
 * intrinsics (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn: exact IEEE
 * operations, not the fast approximations). nvcc would otherwise contract a
 * * b + c into one fused multiply-add, which the CPU (ISO C, no FMA
 * contraction) does not do; written this way the GPU and the CPU compute
 * the same bits.
 *
 * The two reductions hand a value to the host and synchronise the compute
 * stream (documented in flat.h). The sum of squares is deterministic: every
 * block sums its share in double in a fixed order into its own slot of a
 * scratch array, and one block then adds the slots in a fixed order; the
 * result depends only on the slice table and the GPU's SM count, never on
 * scheduling. The scratch (partials, total, counter) is allocated from the
 * device's pool on first use and kept for the life of the process. */
#include "common.cuh"

#define MAX_GPUS 16                /* as device.c */
#define OPT_THREADS 256
#define BLOCKS_PER_SM 8            /* x-grid cap: 8 x 256 threads fill an SM */
#define MAX_GRID_Y 65535
#define MAX_PARTIALS 65536         /* sum_squares: per-block partial sums (doubles) */

/* ---- the update passes ---- */

/* Adam / AdamW over each slice, as adam_slice in optim_adam.c:
 *   g  = grad + l2 * w; w *= shrink (before the update term)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   w  = w * shrink - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 * Slices without decay use l2 = 0 and shrink = 1, as the CPU passes them. */
static __global__ void adam_kernel(float *__restrict__ w, const float *__restrict__ g,
				   float *__restrict__ m, float *__restrict__ v,
				   const ax_cuda_slice *__restrict__ slices, int n_slices,
				   ax_cuda_adam_args a)
{
	const float one_minus_beta1 = __fsub_rn(1.0f, a.beta1);
	const float one_minus_beta2 = __fsub_rn(1.0f, a.beta2);

	for (int s = blockIdx.y; s < n_slices; s += gridDim.y) {
		const int64_t off = slices[s].offset, n = slices[s].numel;
		const float l2 = slices[s].decays ? a.l2 : 0.0f;
		const float shrink = slices[s].decays ? a.shrink : 1.0f;

		AX_CU_GRID_STRIDE(j, n) {
			const int64_t i = off + j;
			const float wi = w[i];
			const float gi = __fadd_rn(g[i], __fmul_rn(l2, wi));
			const float mi = __fadd_rn(__fmul_rn(a.beta1, m[i]),
						   __fmul_rn(one_minus_beta1, gi));
			const float vi = __fadd_rn(__fmul_rn(a.beta2, v[i]),
						   __fmul_rn(__fmul_rn(one_minus_beta2, gi), gi));
			const float denom =
				__fadd_rn(__fmul_rn(__fsqrt_rn(vi), a.inv_sqrt_bc2), a.eps);

			m[i] = mi;
			v[i] = vi;
			w[i] = __fsub_rn(__fmul_rn(wi, shrink),
					 __fdiv_rn(__fmul_rn(a.step_size, mi), denom));
		}
	}
}

/* The four SGD loops of optim_sgd.c, one instantiation each (the mode is the
 * same for the whole launch). wd is 0 on slices without decay. */
enum sgd_mode { SGD_PLAIN, SGD_FIRST, SGD_MOMENTUM, SGD_NESTEROV };

template <int MODE>
static __global__ void sgd_kernel(float *__restrict__ w, const float *__restrict__ g,
				  float *__restrict__ buf, const ax_cuda_slice *__restrict__ slices,
				  int n_slices, ax_cuda_sgd_args a)
{
	const float mom = a.momentum;
	/* First step: w -= lr * look * g, left to right as in C: (lr * look) * g. */
	const float lr_look = __fmul_rn(a.lr, a.nesterov ? __fadd_rn(1.0f, mom) : 1.0f);
	const float one_minus_damp = __fsub_rn(1.0f, a.dampening);

	for (int s = blockIdx.y; s < n_slices; s += gridDim.y) {
		const int64_t off = slices[s].offset, n = slices[s].numel;
		const float wd = slices[s].decays ? a.weight_decay : 0.0f;

		AX_CU_GRID_STRIDE(j, n) {
			const int64_t i = off + j;
			const float wi = w[i];
			const float gi = __fadd_rn(g[i], __fmul_rn(wd, wi)); /* g + wd * w */

			if (MODE == SGD_PLAIN) {
				w[i] = __fsub_rn(wi, __fmul_rn(a.lr, gi));
			} else if (MODE == SGD_FIRST) {
				buf[i] = gi;
				w[i] = __fsub_rn(wi, __fmul_rn(lr_look, gi));
			} else if (MODE == SGD_MOMENTUM) {
				const float vi = __fadd_rn(__fmul_rn(mom, buf[i]),
							   __fmul_rn(one_minus_damp, gi));

				buf[i] = vi;
				w[i] = __fsub_rn(wi, __fmul_rn(a.lr, vi));
			} else {
				const float vi = __fadd_rn(__fmul_rn(mom, buf[i]), gi);
				const float step = __fadd_rn(gi, __fmul_rn(mom, vi));

				buf[i] = vi;
				w[i] = __fsub_rn(wi, __fmul_rn(a.lr, step));
			}
		}
	}
}

static __global__ void scale_kernel(float *__restrict__ g,
				    const ax_cuda_slice *__restrict__ slices, int n_slices,
				    float coef)
{
	for (int s = blockIdx.y; s < n_slices; s += gridDim.y) {
		const int64_t off = slices[s].offset, n = slices[s].numel;

		AX_CU_GRID_STRIDE(j, n)
			g[off + j] = __fmul_rn(g[off + j], coef);
	}
}

/* ---- the reductions ---- */

static __device__ __forceinline__ double warp_sum_double(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/* Sum over the block in a fixed order; the result is valid in thread 0.
 * Every thread of the block must call it (it synchronises). */
static __device__ double block_sum_double(double v)
{
	__shared__ double warp_sums[32];
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const int warps = (blockDim.x + 31) >> 5;

	v = warp_sum_double(v);
	if (lane == 0)
		warp_sums[warp] = v;
	__syncthreads();
	if (warp == 0) {
		v = lane < warps ? warp_sums[lane] : 0.0;
		v = warp_sum_double(v);
	}
	return v;
}

/* Pass 1: block (x, y) sums the squares of its grid-stride share of slices
 * y, y + gridDim.y, ... into partials[y * gridDim.x + x]. A float squared is
 * exact in double, so only the additions round. */
static __global__ void sum_squares_kernel(const float *__restrict__ g,
					  const ax_cuda_slice *__restrict__ slices, int n_slices,
					  double *__restrict__ partials)
{
	double acc = 0.0;

	for (int s = blockIdx.y; s < n_slices; s += gridDim.y) {
		const int64_t off = slices[s].offset, n = slices[s].numel;

		AX_CU_GRID_STRIDE(j, n) {
			const double x = (double)g[off + j];

			acc += x * x;
		}
	}
	acc = block_sum_double(acc);
	if (threadIdx.x == 0)
		partials[(int64_t)blockIdx.y * gridDim.x + blockIdx.x] = acc;
}

/* Pass 2 (one block): total = the sum of the n partials, in a fixed order. */
static __global__ void sum_partials_kernel(const double *__restrict__ partials, int n,
					   double *__restrict__ total)
{
	double acc = 0.0;

	for (int i = threadIdx.x; i < n; i += blockDim.x)
		acc += partials[i];
	acc = block_sum_double(acc);
	if (threadIdx.x == 0)
		*total = acc;
}

/* Non-finite: exponent all ones (Inf or NaN), tested on the bits. */
static __global__ void count_nonfinite_kernel(const float *__restrict__ x, int64_t n,
					      unsigned long long *__restrict__ counter)
{
	unsigned long long count = 0;

	AX_CU_GRID_STRIDE(i, n)
		count += (__float_as_uint(x[i]) & 0x7f800000u) == 0x7f800000u;
	for (int o = 16; o > 0; o >>= 1)
		count += __shfl_xor_sync(0xffffffffu, count, o);
	if ((threadIdx.x & 31) == 0 && count)
		atomicAdd(counter, count);
}

/* ---- host side ---- */

/* Per-GPU scratch for the reductions: MAX_PARTIALS partial sums, the total
 * and the non-finite counter, one pool block kept for the process. */
struct reduce_scratch {
	double *partials;
	double *total;
	unsigned long long *counter;
};

static struct reduce_scratch scratch[MAX_GPUS];

static enum ax_status open_device(int index, struct ax_cuda_dev **out)
{
	struct ax_cuda_dev *d = ax_cuda_dev(index);

	*out = d;
	if (!d)
		return AX_ERROR(AX_ERR_DEVICE, "cuda:%d: the optimizer pass runs on a GPU that is "
				"not open (no context or parameter store on it)", index);
	return AX_CUDA_CHECK(cudaSetDevice(index));
}

static enum ax_status get_scratch(struct ax_cuda_dev *d, struct reduce_scratch **out)
{
	struct reduce_scratch *s = &scratch[d->index];

	*out = s;
	if (!s->partials) {
		void *block;
		enum ax_status st = ax_pool_alloc(&d->pool, (MAX_PARTIALS + 2) * sizeof(double),
						  &block);

		if (st)
			return st;
		s->partials = (double *)block;
		s->total = s->partials + MAX_PARTIALS;
		s->counter = (unsigned long long *)(s->partials + MAX_PARTIALS + 1);
	}
	return AX_OK;
}

/* The launch grid of a slice pass: y over the slices (capped), x over the
 * largest slice (capped at BLOCKS_PER_SM per SM, and so that x * y <=
 * max_blocks when max_blocks > 0). */
static dim3 slice_grid(const struct ax_cuda_dev *d, int n_slices, int64_t max_numel,
		       int64_t max_blocks)
{
	int64_t x = ((max_numel > 0 ? max_numel : 1) + OPT_THREADS - 1) / OPT_THREADS;
	int64_t x_cap = (int64_t)(d->sm_count > 0 ? d->sm_count : 1) * BLOCKS_PER_SM;
	unsigned y = n_slices < MAX_GRID_Y ? (unsigned)n_slices : MAX_GRID_Y;

	if (x > x_cap)
		x = x_cap;
	if (max_blocks > 0 && x > max_blocks / y)
		x = max_blocks / y;
	if (x < 1)
		x = 1;
	return dim3((unsigned)x, y, 1);
}

static enum ax_status launched(const char *what)
{
	return ax_cuda_error_at(cudaGetLastError(), what, __FILE__, __LINE__);
}

extern "C" {

enum ax_status ax_cuda_adam_step(int index, float *w, const float *g, float *m, float *v,
				 const struct ax_cuda_slice *slices, int n_slices,
				 int64_t max_numel, const struct ax_cuda_adam_args *args)
{
	struct ax_cuda_dev *d;
	enum ax_status st;

	if (n_slices <= 0 || max_numel <= 0)
		return AX_OK;
	if ((st = open_device(index, &d)) != AX_OK)
		return st;
	adam_kernel<<<slice_grid(d, n_slices, max_numel, 0), OPT_THREADS, 0, d->compute>>>(
		w, g, m, v, slices, n_slices, *args);
	return launched("adam step kernel");
}

enum ax_status ax_cuda_sgd_step(int index, float *w, const float *g, float *buf,
				const struct ax_cuda_slice *slices, int n_slices, int64_t max_numel,
				const struct ax_cuda_sgd_args *args)
{
	struct ax_cuda_dev *d;
	dim3 grid;
	enum ax_status st;

	if (n_slices <= 0 || max_numel <= 0)
		return AX_OK;
	if ((st = open_device(index, &d)) != AX_OK)
		return st;
	grid = slice_grid(d, n_slices, max_numel, 0);
	/* The CPU's order of cases: no buffer, first step, Nesterov, momentum. */
	if (!buf)
		sgd_kernel<SGD_PLAIN><<<grid, OPT_THREADS, 0, d->compute>>>(w, g, buf, slices,
									   n_slices, *args);
	else if (args->first_step)
		sgd_kernel<SGD_FIRST><<<grid, OPT_THREADS, 0, d->compute>>>(w, g, buf, slices,
									   n_slices, *args);
	else if (args->nesterov)
		sgd_kernel<SGD_NESTEROV><<<grid, OPT_THREADS, 0, d->compute>>>(w, g, buf, slices,
									      n_slices, *args);
	else
		sgd_kernel<SGD_MOMENTUM><<<grid, OPT_THREADS, 0, d->compute>>>(w, g, buf, slices,
									      n_slices, *args);
	return launched("sgd step kernel");
}

enum ax_status ax_cuda_sum_squares(int index, const float *g, const struct ax_cuda_slice *slices,
				   int n_slices, int64_t max_numel, double *out)
{
	struct ax_cuda_dev *d;
	struct reduce_scratch *s;
	dim3 grid;
	enum ax_status st;

	*out = 0.0;
	if (n_slices <= 0 || max_numel <= 0)
		return AX_OK;
	if ((st = open_device(index, &d)) != AX_OK || (st = get_scratch(d, &s)) != AX_OK)
		return st;
	grid = slice_grid(d, n_slices, max_numel, MAX_PARTIALS);
	sum_squares_kernel<<<grid, OPT_THREADS, 0, d->compute>>>(g, slices, n_slices, s->partials);
	if ((st = launched("sum of squares kernel")) != AX_OK)
		return st;
	sum_partials_kernel<<<1, 1024, 0, d->compute>>>(s->partials, (int)(grid.x * grid.y),
						      s->total);
	if ((st = launched("sum of squares kernel (partials)")) != AX_OK)
		return st;
	st = AX_CUDA_CHECK(cudaMemcpyAsync(out, s->total, sizeof(double), cudaMemcpyDeviceToHost,
					   d->compute));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamSynchronize(d->compute));
	return st;
}

enum ax_status ax_cuda_scale(int index, float *g, const struct ax_cuda_slice *slices,
			     int n_slices, int64_t max_numel, float coef)
{
	struct ax_cuda_dev *d;
	enum ax_status st;

	if (n_slices <= 0 || max_numel <= 0)
		return AX_OK;
	if ((st = open_device(index, &d)) != AX_OK)
		return st;
	scale_kernel<<<slice_grid(d, n_slices, max_numel, 0), OPT_THREADS, 0, d->compute>>>(
		g, slices, n_slices, coef);
	return launched("gradient scale kernel");
}

enum ax_status ax_cuda_count_nonfinite(int index, const float *x, int64_t n, int64_t *out)
{
	struct ax_cuda_dev *d;
	struct reduce_scratch *s;
	unsigned long long count = 0;
	int64_t blocks = (n + OPT_THREADS - 1) / OPT_THREADS;
	enum ax_status st;

	*out = 0;
	if (n <= 0)
		return AX_OK;
	if ((st = open_device(index, &d)) != AX_OK || (st = get_scratch(d, &s)) != AX_OK)
		return st;
	if (blocks > (int64_t)(d->sm_count > 0 ? d->sm_count : 1) * BLOCKS_PER_SM)
		blocks = (int64_t)(d->sm_count > 0 ? d->sm_count : 1) * BLOCKS_PER_SM;
	st = AX_CUDA_CHECK(cudaMemsetAsync(s->counter, 0, sizeof(*s->counter), d->compute));
	if (st)
		return st;
	count_nonfinite_kernel<<<(unsigned)blocks, OPT_THREADS, 0, d->compute>>>(x, n,
										  s->counter);
	if ((st = launched("non-finite count kernel")) != AX_OK)
		return st;
	st = AX_CUDA_CHECK(cudaMemcpyAsync(&count, s->counter, sizeof(count),
					   cudaMemcpyDeviceToHost, d->compute));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamSynchronize(d->compute));
	if (!st)
		*out = (int64_t)count;
	return st;
}

} /* extern "C" */
