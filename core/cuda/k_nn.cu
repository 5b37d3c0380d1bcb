/* cuda/k_nn.cu - dropout, embedding and layer_norm on the GPU, forward and
 * backward. The functions are cpu/dropout.c, cpu/embedding.c and
 * cpu/norm.c's; read those for the numerics.
 *
 * dropout: the mask is the CPU's bit for bit. Element i is kept when
 * (w_i >> 8) >= ceil(p 2^24), w_i being word i % 4 of Philox4x32-10 block
 * counter + i / 4 under the context RNG's seed: word i of what ax_rng_u32
 * would return. philox() below is ax_philox (rng.c) line for line, so each
 * thread makes one block and handles its four elements; the host then
 * advances the context counter by ceil(n / 4) blocks as the CPU does, so a
 * restored RNG state replays the same masks on either device. The one-byte
 * keep mask goes to the device arena for backward.
 *
 * embedding: a thread per output element gathers weight[index, j]. The CPU
 * rejects an index outside [0, V) with an error naming its position; that
 * needs the indices on the host (a stream sync), so here such a row of the
 * output is NaN instead (the loss becomes NaN and the trainer's non-finite
 * guard reports the step) and backward skips it. Backward scatter-adds
 * grad_out rows into dweight with float atomicAdd: repeated indices add up
 * correctly but in an unspecified order, so dweight may differ between runs
 * in the last bits (the CPU adds in position order).
 *
 * layer_norm: a warp per row (D <= 1024) or a block per row. Statistics are
 * the CPU's: two passes with double accumulators, mean kept in double, rstd
 * = (float)(1 / sqrt(var + eps)). Backward's dx uses the CPU formula with its
 * two row means in double. dgamma and dbeta are column sums over rows, done
 * without atomics: a thread per column walks the rows in order (one pass
 * when there are few rows, bit-identical to the CPU), or walks a chunk of
 * them into a partial and a second kernel adds the partials in chunk order. */
#include <math.h>

#include "common.cuh"

/* ---- dropout ---- */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* ax_philox (rng.c): block `counter` of the stream of `seed`. Counter words
 * c0, c1 = the low and high halves of the block number, c2 = c3 = 0; key
 * k0, k1 = the low and high halves of the seed; ten rounds. */
static __device__ __forceinline__ void philox(uint64_t seed, uint64_t counter, uint32_t out[4])
{
	uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);

	for (int round = 0; round < 10; round++) {
		uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
		uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
		uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
		uint32_t n1 = (uint32_t)p1;
		uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
		uint32_t n3 = (uint32_t)p0;

		c0 = n0;
		c1 = n1;
		c2 = n2;
		c3 = n3;
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

/* Thread b makes Philox block counter + b and handles elements 4b .. 4b+3. */
static __global__ void dropout_forward(const float *x, ax_cu_layout layout, int64_t n,
				       uint64_t seed, uint64_t counter, uint32_t threshold,
				       float keep_scale, float *y, uint8_t *mask)
{
	AX_CU_GRID_STRIDE(b, (n + 3) / 4) {
		uint32_t words[4];

		philox(seed, counter + (uint64_t)b, words);
		for (int j = 0; j < 4; j++) {
			int64_t i = 4 * b + j;
			int keep;

			if (i >= n)
				break;
			keep = (words[j] >> 8) >= threshold;
			mask[i] = (uint8_t)keep;
			/* x * 0 for dropped elements, so a NaN in x stays NaN (as the CPU). */
			y[i] = x[ax_cu_offset(layout, i)] * (keep ? keep_scale : 0.0f);
		}
	}
}

/* dx += g * (mask ? 1/(1-p) : 0); __fmul_rn keeps the CPU's separate rounding. */
static __global__ void dropout_backward(const uint8_t *mask, const float *g, int64_t n,
					float keep_scale, float *dx)
{
	AX_CU_GRID_STRIDE(i, n)
		dx[i] += __fmul_rn(g[i], mask[i] ? keep_scale : 0.0f);
}

enum ax_status ax_cuda_fwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_rng *rng = ax_ctx_rng(ctx);
	int64_t n = ax_tensor_numel(x);
	float p = node->attrs.f[0], keep_scale = 1.0f / (1.0f - p);
	/* (w >> 8) * 2^-24 >= p  <=>  (w >> 8) >= ceil(p * 2^24), as cpu/dropout.c. */
	uint32_t threshold = (uint32_t)ceil((double)p * 16777216.0);
	uint8_t *mask;
	enum ax_status st;

	mask = (uint8_t *)ax_ctx_alloc_data(ctx, (size_t)(n ? n : 1));
	if (!mask)
		return AX_ERR_NOMEM;
	if (n) {
		dropout_forward<<<ax_cu_grid((n + 3) / 4, AX_CU_THREADS), AX_CU_THREADS, 0,
				  ax_cuda_stream(ctx)>>>((const float *)x->data,
							 ax_cu_layout_of(x), n, rng->seed,
							 rng->counter, threshold, keep_scale,
							 (float *)node->out->data, mask);
		st = AX_CUDA_LAUNCHED(node);
		if (st)
			return st;
	}
	/* The stream of ax_rng_u32(rng, words, n): ceil(n / 4) blocks. */
	rng->counter += (uint64_t)((n + 3) / 4);
	node->saved = mask;
	return AX_OK;
}

enum ax_status ax_cuda_bwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0], *grad;
	int64_t n = ax_tensor_numel(x);
	float keep_scale = 1.0f / (1.0f - node->attrs.f[0]);
	enum ax_status st;

	if (!ax_needs_grad(x))
		return AX_OK;
	st = ax_grad_of(ctx, x, &grad);
	if (st || n == 0)
		return st;
	dropout_backward<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0, ax_cuda_stream(ctx)>>>(
		(const uint8_t *)node->saved, (const float *)node->out->grad->data, n, keep_scale,
		(float *)grad->data);
	return AX_CUDA_LAUNCHED(node);
}

/* ---- embedding ---- */

/* out[i, j] = weight[idx_i, j], idx_i = indices[i] (strided); the index of
 * each position is also copied to idx_out (j == 0) for backward. An index
 * outside [0, V) makes its output row NaN (see the top of the file). */
static __global__ void embedding_forward(const float *weight, int64_t vocab, int64_t dim,
					 int64_t row_stride, int64_t col_stride,
					 const int32_t *indices, ax_cu_layout index_layout,
					 int64_t n, float *out, int32_t *idx_out)
{
	AX_CU_GRID_STRIDE(e, n * dim) {
		int64_t i = e / dim, j = e % dim;
		int32_t idx = indices[ax_cu_offset(index_layout, i)];

		if (j == 0)
			idx_out[i] = idx;
		out[e] = idx >= 0 && idx < vocab ? weight[idx * row_stride + j * col_stride] : NAN;
	}
}

/* dweight[idx_i, j] += g[i, j]; out-of-range positions are skipped. */
static __global__ void embedding_backward(const float *g, const int32_t *idx, int64_t n,
					  int64_t vocab, int64_t dim, float *dweight)
{
	AX_CU_GRID_STRIDE(e, n * dim) {
		int64_t i = e / dim, j = e % dim;
		int32_t row = idx[i];

		if (row >= 0 && row < vocab)
			atomicAdd(dweight + row * dim + j, g[e]);
	}
}

enum ax_status ax_cuda_fwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *weight = node->in[0], *indices = node->in[1];
	int64_t n = ax_tensor_numel(indices), dim = weight->shape[1];
	int32_t *idx;

	idx = (int32_t *)ax_ctx_alloc_data(ctx, (size_t)(n ? n : 1) * sizeof(int32_t));
	if (!idx)
		return AX_ERR_NOMEM;
	node->saved = idx;
	/* With D == 0 there is nothing to write and backward adds nothing, so
	 * the copy of the indices is not needed either. */
	if (n == 0 || dim == 0)
		return AX_OK;
	embedding_forward<<<ax_cu_grid(n * dim, AX_CU_THREADS), AX_CU_THREADS, 0,
			    ax_cuda_stream(ctx)>>>((const float *)weight->data, weight->shape[0],
						   dim, weight->stride[0], weight->stride[1],
						   (const int32_t *)indices->data,
						   ax_cu_layout_of(indices), n,
						   (float *)node->out->data, idx);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_bwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *weight = node->in[0], *grad;
	int64_t n = ax_tensor_numel(node->in[1]), dim = weight->shape[1];
	enum ax_status st;

	if (!ax_needs_grad(weight))
		return AX_OK;
	st = ax_grad_of(ctx, weight, &grad);
	if (st || n == 0 || dim == 0)
		return st;
	embedding_backward<<<ax_cu_grid(n * dim, AX_CU_THREADS), AX_CU_THREADS, 0,
			     ax_cuda_stream(ctx)>>>((const float *)node->out->grad->data,
						    (const int32_t *)node->saved, n,
						    weight->shape[0], dim, (float *)grad->data);
	return AX_CUDA_LAUNCHED(node);
}

/* ---- layer_norm ---- */

/* Rows longer than this get a block each instead of a warp. */
#define WARP_ROW_MAX 1024
/* dgamma/dbeta: up to this many rows in one pass per column; more rows are
 * cut into at most PARAM_MAX_CHUNKS chunks summed in a second pass. */
#define PARAM_ONE_PASS_ROWS 256
#define PARAM_MAX_CHUNKS 256

struct ln_saved {
	const float *x;     /* (rows, D) contiguous */
	double *mean;       /* (rows) */
	float *rstd;        /* (rows) */
	const float *gamma; /* (D) contiguous, or NULL for 1 */
};

/* A row per warp (WARP) or per block. The row loop bounds are the same for
 * every thread of a group, so all of them reach the reductions (full-warp
 * shuffles; __syncthreads for the block). */
template <bool WARP> struct ln_row_group {
	int lane;      /* index within the group */
	int size;      /* threads in the group */
	int64_t first; /* first row */
	int64_t step;  /* rows between iterations */

	__device__ __forceinline__ ln_row_group()
	{
		if (WARP) {
			int warps = blockDim.x >> 5;

			lane = threadIdx.x & 31;
			size = 32;
			first = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5);
			step = (int64_t)gridDim.x * warps;
		} else {
			lane = threadIdx.x;
			size = blockDim.x;
			first = blockIdx.x;
			step = gridDim.x;
		}
	}

	__device__ __forceinline__ double reduce_sum(double v, double *scratch) const
	{
		return WARP ? ax_cu_warp_sum_f64(v) : ax_cu_block_sum_f64(v, scratch);
	}
};

/* Blocks for a row kernel over `rows` rows (8 warps or 1 row per block). */
static unsigned row_blocks(int64_t rows, int warp)
{
	return ax_cu_grid(warp ? rows * 32 : rows, warp ? AX_CU_THREADS : 1);
}

/* y = (x - mean) * rstd [* gamma] [+ beta] per row; mean and rstd saved. */
template <bool WARP>
static __global__ void ln_forward(const float *x, const float *gamma, const float *beta,
				  int64_t rows, int64_t dim, double eps, float *y, double *mean_out,
				  float *rstd_out)
{
	__shared__ double scratch[32];
	ln_row_group<WARP> grp;

	for (int64_t r = grp.first; r < rows; r += grp.step) {
		const float *xr = x + r * dim;
		float *yr = y + r * dim;
		double sum = 0.0, sq = 0.0, mean;
		float rstd;

		for (int64_t j = grp.lane; j < dim; j += grp.size)
			sum += xr[j];
		mean = grp.reduce_sum(sum, scratch) / (double)dim;
		for (int64_t j = grp.lane; j < dim; j += grp.size) {
			double centred = (double)xr[j] - mean;

			sq += centred * centred;
		}
		sq = grp.reduce_sum(sq, scratch);
		rstd = (float)(1.0 / sqrt(sq / (double)dim + eps));
		if (grp.lane == 0) {
			mean_out[r] = mean;
			rstd_out[r] = rstd;
		}
		for (int64_t j = grp.lane; j < dim; j += grp.size) {
			/* __fmul_rn: no FMA with the beta add (the CPU rounds twice). */
			float v = __fmul_rn((float)((double)xr[j] - mean), rstd);

			if (gamma)
				v = __fmul_rn(v, gamma[j]);
			if (beta)
				v += beta[j];
			yr[j] = v;
		}
	}
}

/* dx += rstd * (gg - mean(gg) - xhat * mean(gg * xhat)), gg = g * gamma;
 * the CPU's operation order, the two row means in double. */
template <bool WARP>
static __global__ void ln_backward_dx(const float *x, const float *g, const float *gamma,
				      const double *mean_in, const float *rstd_in, int64_t rows,
				      int64_t dim, float *dx)
{
	__shared__ double scratch[32];
	ln_row_group<WARP> grp;

	for (int64_t r = grp.first; r < rows; r += grp.step) {
		const float *xr = x + r * dim, *gr = g + r * dim;
		float *dxr = dx + r * dim;
		double mean = mean_in[r], sum_gg = 0.0, sum_gg_xhat = 0.0;
		float rstd = rstd_in[r], mean_gg, mean_gg_xhat;

		for (int64_t j = grp.lane; j < dim; j += grp.size) {
			float gg = gamma ? gr[j] * gamma[j] : gr[j];
			float xhat = (float)((double)xr[j] - mean) * rstd;

			sum_gg += gg;
			sum_gg_xhat += (double)gg * xhat;
		}
		mean_gg = (float)(grp.reduce_sum(sum_gg, scratch) / (double)dim);
		mean_gg_xhat = (float)(grp.reduce_sum(sum_gg_xhat, scratch) / (double)dim);
		for (int64_t j = grp.lane; j < dim; j += grp.size) {
			/* gg rounded before the subtraction, as on the CPU (no FMA). */
			float gg = gamma ? __fmul_rn(gr[j], gamma[j]) : gr[j];
			float xhat = (float)((double)xr[j] - mean) * rstd;
			float inner = (gg - mean_gg) - __fmul_rn(xhat, mean_gg_xhat);

			dxr[j] = __fadd_rn(dxr[j], __fmul_rn(rstd, inner));
		}
	}
}

/* Column sums of g * xhat (dgamma) and g (dbeta) over rows [c * chunk_rows,
 * +chunk_rows) for chunk c = blockIdx.y. chunks == 1: added into dgamma /
 * dbeta in row order, as the CPU; otherwise written to part_gamma /
 * part_beta[c * dim + j]. Either output may be absent (NULL). */
static __global__ void ln_param_columns(const float *x, const float *g, const double *mean_in,
					const float *rstd_in, int64_t rows, int64_t dim,
					int64_t chunk_rows, int chunks, float *dgamma, float *dbeta,
					float *part_gamma, float *part_beta)
{
	int64_t begin = (int64_t)blockIdx.y * chunk_rows;
	int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;

	AX_CU_GRID_STRIDE(j, dim) {
		float acc_gamma = chunks == 1 && dgamma ? dgamma[j] : 0.0f;
		float acc_beta = chunks == 1 && dbeta ? dbeta[j] : 0.0f;

		for (int64_t r = begin; r < end; r++) {
			float gr = g[r * dim + j];

			if (dgamma) {
				float xhat = (float)((double)x[r * dim + j] - mean_in[r]) *
					     rstd_in[r];

				acc_gamma = __fadd_rn(acc_gamma, __fmul_rn(gr, xhat));
			}
			acc_beta += gr;
		}
		if (chunks == 1) {
			if (dgamma)
				dgamma[j] = acc_gamma;
			if (dbeta)
				dbeta[j] = acc_beta;
		} else {
			if (dgamma)
				part_gamma[blockIdx.y * dim + j] = acc_gamma;
			if (dbeta)
				part_beta[blockIdx.y * dim + j] = acc_beta;
		}
	}
}

/* dgamma[j] += the sum of the chunk partials of column j, in chunk order
 * (double), and the same for dbeta. */
static __global__ void ln_param_finish(const float *part_gamma, const float *part_beta, int chunks,
				       int64_t dim, float *dgamma, float *dbeta)
{
	AX_CU_GRID_STRIDE(j, dim) {
		double sum_gamma = 0.0, sum_beta = 0.0;

		for (int c = 0; c < chunks; c++) {
			if (dgamma)
				sum_gamma += part_gamma[c * dim + j];
			if (dbeta)
				sum_beta += part_beta[c * dim + j];
		}
		if (dgamma)
			dgamma[j] += (float)sum_gamma;
		if (dbeta)
			dbeta[j] += (float)sum_beta;
	}
}

enum ax_status ax_cuda_fwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0], *gamma_t = node->in[1], *beta_t = node->in[2];
	const struct ax_tensor *dense;
	int64_t dim = x->shape[x->ndim - 1], n = ax_tensor_numel(x), rows = dim ? n / dim : 0;
	cudaStream_t stream = ax_cuda_stream(ctx);
	const float *beta = NULL;
	struct ln_saved *saved;
	enum ax_status st;

	saved = (struct ln_saved *)ax_ctx_alloc(ctx, sizeof(*saved));
	if (!saved)
		return AX_ERR_NOMEM;
	saved->mean = (double *)ax_ctx_alloc_data(ctx, (size_t)(rows ? rows : 1) * sizeof(double));
	saved->rstd = (float *)ax_ctx_alloc_data(ctx, (size_t)(rows ? rows : 1) * sizeof(float));
	if (!saved->mean || !saved->rstd)
		return AX_ERR_NOMEM;
	saved->x = NULL;
	saved->gamma = NULL;
	node->saved = saved;
	if (n == 0)
		return AX_OK;
	st = ax_cuda_dense(ctx, x, &dense);
	if (st)
		return st;
	saved->x = (const float *)dense->data;
	if (gamma_t) {
		st = ax_cuda_dense(ctx, gamma_t, &dense);
		if (st)
			return st;
		saved->gamma = (const float *)dense->data;
	}
	if (beta_t) {
		st = ax_cuda_dense(ctx, beta_t, &dense);
		if (st)
			return st;
		beta = (const float *)dense->data;
	}
	if (dim <= WARP_ROW_MAX)
		ln_forward<true><<<row_blocks(rows, 1), AX_CU_THREADS, 0, stream>>>(
			saved->x, saved->gamma, beta, rows, dim, (double)node->attrs.f[0],
			(float *)node->out->data, saved->mean, saved->rstd);
	else
		ln_forward<false><<<row_blocks(rows, 0), AX_CU_THREADS, 0, stream>>>(
			saved->x, saved->gamma, beta, rows, dim, (double)node->attrs.f[0],
			(float *)node->out->data, saved->mean, saved->rstd);
	return AX_CUDA_LAUNCHED(node);
}

/* dgamma / dbeta (either may be NULL) from the column kernels. */
static enum ax_status ln_param_grads(struct ax_ctx *ctx, struct ax_node *node,
				     const struct ln_saved *saved, const float *g, int64_t rows,
				     int64_t dim, float *dgamma, float *dbeta)
{
	cudaStream_t stream = ax_cuda_stream(ctx);
	int64_t chunk_rows = rows;
	float *part_gamma = NULL, *part_beta = NULL;
	int chunks = 1;
	enum ax_status st;

	if (rows > PARAM_ONE_PASS_ROWS) {
		int64_t want = (rows + PARAM_ONE_PASS_ROWS - 1) / PARAM_ONE_PASS_ROWS;

		/* Enough chunks to fill the GPU when D is small, each at least
		 * PARAM_ONE_PASS_ROWS / 8 rows long. */
		want *= 8;
		if (want > PARAM_MAX_CHUNKS)
			want = PARAM_MAX_CHUNKS;
		chunk_rows = (rows + want - 1) / want;
		chunks = (int)((rows + chunk_rows - 1) / chunk_rows);
	}
	if (chunks > 1) {
		size_t bytes = (size_t)chunks * (size_t)dim * sizeof(float);

		if (dgamma && !(part_gamma = (float *)ax_ctx_alloc_data(ctx, bytes)))
			return AX_ERR_NOMEM;
		if (dbeta && !(part_beta = (float *)ax_ctx_alloc_data(ctx, bytes)))
			return AX_ERR_NOMEM;
	}
	ln_param_columns<<<dim3(ax_cu_grid(dim, AX_CU_THREADS), (unsigned)chunks), AX_CU_THREADS, 0,
			   stream>>>(saved->x, g, saved->mean, saved->rstd, rows, dim, chunk_rows,
				     chunks, dgamma, dbeta, part_gamma, part_beta);
	st = AX_CUDA_LAUNCHED(node);
	if (st || chunks == 1)
		return st;
	ln_param_finish<<<ax_cu_grid(dim, AX_CU_THREADS), AX_CU_THREADS, 0, stream>>>(
		part_gamma, part_beta, chunks, dim, dgamma, dbeta);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_bwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0], *gamma_t = node->in[1], *beta_t = node->in[2], *t;
	const struct ln_saved *saved = (const struct ln_saved *)node->saved;
	int64_t dim = x->shape[x->ndim - 1], n = ax_tensor_numel(x), rows = dim ? n / dim : 0;
	const float *g = (const float *)node->out->grad->data;
	cudaStream_t stream = ax_cuda_stream(ctx);
	float *dx = NULL, *dgamma = NULL, *dbeta = NULL;
	enum ax_status st;

	if (n == 0)
		return AX_OK;
	if (ax_needs_grad(x)) {
		st = ax_grad_of(ctx, x, &t);
		if (st)
			return st;
		dx = (float *)t->data;
	}
	if (ax_needs_grad(gamma_t)) {
		st = ax_grad_of(ctx, gamma_t, &t);
		if (st)
			return st;
		dgamma = (float *)t->data;
	}
	if (ax_needs_grad(beta_t)) {
		st = ax_grad_of(ctx, beta_t, &t);
		if (st)
			return st;
		dbeta = (float *)t->data;
	}
	if (dx) {
		if (dim <= WARP_ROW_MAX)
			ln_backward_dx<true><<<row_blocks(rows, 1), AX_CU_THREADS, 0, stream>>>(
				saved->x, g, saved->gamma, saved->mean, saved->rstd, rows, dim, dx);
		else
			ln_backward_dx<false><<<row_blocks(rows, 0), AX_CU_THREADS, 0, stream>>>(
				saved->x, g, saved->gamma, saved->mean, saved->rstd, rows, dim, dx);
		st = AX_CUDA_LAUNCHED(node);
		if (st)
			return st;
	}
	if (!dgamma && !dbeta)
		return AX_OK;
	return ln_param_grads(ctx, node, saved, g, rows, dim, dgamma, dbeta);
}
