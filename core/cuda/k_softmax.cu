/* cuda/k_softmax.cu - softmax and log_softmax along one axis, and the two
 * losses: cross_entropy (fused log-softmax + NLL) and mse.
 *
 * Same functions as cpu/softmax.c and cpu/loss.c (read their comments for the
 * numerics); only the work split differs.
 *
 * softmax / log_softmax: x (a dense copy when strided) is (outer, A, inner).
 *   - inner == 1, rows of A contiguous floats: a row per warp when A <= 1024
 *     (no shared memory, no __syncthreads), a row per 256-thread block for
 *     longer rows. Max, sum of exp(x - max) and the backward dot products are
 *     tree reductions in float (the CPU sums in order; results differ in the
 *     last bits only).
 *   - inner > 1: a thread per (outer, inner) column walks A in order, as the
 *     CPU does; neighbouring threads read neighbouring floats.
 *   Backward reads only y and its gradient:
 *     softmax:     dx += y * (g - sum_A(g * y))
 *     log_softmax: dx += g - exp(y) * sum_A(g)
 *
 * cross_entropy: a row kernel (warp or block per row, as above) computes the
 * row's loss in double exactly as the CPU formula, its log-sum-exp L (saved
 * for backward), a private copy of its label and whether it counts (not
 * ignore_index); a one-block kernel then adds the row losses and counts in a
 * fixed order (deterministic, no float atomics) and writes the mean, or 0
 * when every row is ignored. The count stays on the device for backward,
 * which is one elementwise pass:
 *   dx_c += g/count * (exp(x_c - L) - s/C - (1-s)[c == label]).
 * An invalid label (not ignore_index and outside [0, C)) cannot be reported
 * the CPU's way without reading the labels on the host, which would stall the
 * stream. Instead the row's loss and L are NaN: the loss is NaN, the row's
 * gradient is NaN (its label entry is never written), and the trainer's
 * non-finite guard reports the step.
 *
 * mse: squared differences summed in double by a fixed grid of blocks, block
 * sums added in order by one block; backward is elementwise.
 *
 * Elementwise updates that the CPU does as a separate multiply and add use
 * __fmul_rn / __fadd_rn so nvcc does not contract them into an FMA: those
 * gradients then match the CPU bit for bit where expf agrees. */
#include <math.h>

#include "common.cuh"

/* Rows longer than this get a block each instead of a warp. */
#define WARP_ROW_MAX 1024

/* ---- reductions over a row group (a warp, or the whole block) ---- */

/* Shared scratch of the block-per-row kernels (unused by warp-per-row ones). */
struct group_scratch {
	float f[32];
	double d[32];
};

/* Which rows a thread's group handles and its place in the group. WARP: each
 * warp of the block is a group; otherwise the block is. A group's loop bounds
 * are the same for all its threads, so the reductions below (shuffles over
 * the full warp; __syncthreads for the block) are reached by every thread. */
template <bool WARP> struct row_group {
	int lane;      /* index within the group */
	int size;      /* threads in the group */
	int64_t first; /* first row */
	int64_t step;  /* rows between iterations */

	__device__ __forceinline__ row_group()
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

	__device__ __forceinline__ float reduce_max(float v, group_scratch *s) const
	{
		return WARP ? ax_cu_warp_max(v) : ax_cu_block_max(v, s->f);
	}

	__device__ __forceinline__ float reduce_sum(float v, group_scratch *s) const
	{
		return WARP ? ax_cu_warp_sum(v) : ax_cu_block_sum(v, s->f);
	}

	__device__ __forceinline__ double reduce_sum(double v, group_scratch *s) const
	{
		return WARP ? ax_cu_warp_sum_f64(v) : ax_cu_block_sum_f64(v, s->d);
	}
};

/* Blocks for a row kernel over `rows` rows (8 warps or 1 row per block). */
static unsigned row_blocks(int64_t rows, int warp)
{
	return ax_cu_grid(warp ? rows * 32 : rows, warp ? AX_CU_THREADS : 1);
}

struct axis_geometry {
	int64_t outer, len, inner;
};

static struct axis_geometry geometry_of(const struct ax_tensor *x, int axis)
{
	struct axis_geometry geo = {1, x->shape[axis], 1};

	for (int d = 0; d < axis; d++)
		geo.outer *= x->shape[d];
	for (int d = axis + 1; d < x->ndim; d++)
		geo.inner *= x->shape[d];
	return geo;
}

/* ---- softmax, log_softmax ---- */

/* Rows of n contiguous floats: y = softmax(x) or log_softmax(x). */
template <bool WARP>
static __global__ void softmax_rows(const float *x, float *y, int64_t rows, int64_t n, int take_log)
{
	__shared__ group_scratch scratch;
	row_group<WARP> grp;

	for (int64_t r = grp.first; r < rows; r += grp.step) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		float max = -INFINITY, sum = 0.0f;

		for (int64_t i = grp.lane; i < n; i += grp.size)
			max = fmaxf(max, xr[i]);
		max = grp.reduce_max(max, &scratch);
		for (int64_t i = grp.lane; i < n; i += grp.size)
			sum += expf(xr[i] - max);
		sum = grp.reduce_sum(sum, &scratch);
		if (take_log) {
			float log_sum = logf(sum);

			for (int64_t i = grp.lane; i < n; i += grp.size)
				yr[i] = (xr[i] - max) - log_sum;
		} else {
			float inv = 1.0f / sum;

			for (int64_t i = grp.lane; i < n; i += grp.size)
				yr[i] = expf(xr[i] - max) * inv;
		}
	}
}

/* inner > 1: one thread per (outer, inner) column, walking the axis in order. */
static __global__ void softmax_columns(const float *x, float *y, struct axis_geometry geo,
				       int take_log)
{
	AX_CU_GRID_STRIDE(c, geo.outer * geo.inner) {
		int64_t base = (c / geo.inner) * geo.len * geo.inner + c % geo.inner;
		const float *xc = x + base;
		float *yc = y + base;
		float max = xc[0], sum = 0.0f;

		for (int64_t a = 1; a < geo.len; a++)
			max = fmaxf(max, xc[a * geo.inner]);
		for (int64_t a = 0; a < geo.len; a++)
			sum += expf(xc[a * geo.inner] - max);
		if (take_log) {
			float log_sum = logf(sum);

			for (int64_t a = 0; a < geo.len; a++)
				yc[a * geo.inner] = (xc[a * geo.inner] - max) - log_sum;
		} else {
			float inv = 1.0f / sum;

			for (int64_t a = 0; a < geo.len; a++)
				yc[a * geo.inner] = expf(xc[a * geo.inner] - max) * inv;
		}
	}
}

/* Backward over rows: acc = sum(g) (log) or sum(g * y), then the update. */
template <bool WARP>
static __global__ void softmax_rows_backward(const float *y, const float *g, float *dx,
					     int64_t rows, int64_t n, int take_log)
{
	__shared__ group_scratch scratch;
	row_group<WARP> grp;

	for (int64_t r = grp.first; r < rows; r += grp.step) {
		const float *yr = y + r * n, *gr = g + r * n;
		float *dr = dx + r * n;
		float acc = 0.0f;

		for (int64_t i = grp.lane; i < n; i += grp.size)
			acc += take_log ? gr[i] : __fmul_rn(gr[i], yr[i]);
		acc = grp.reduce_sum(acc, &scratch);
		for (int64_t i = grp.lane; i < n; i += grp.size) {
			if (take_log)
				dr[i] = __fadd_rn(dr[i], gr[i] - __fmul_rn(expf(yr[i]), acc));
			else
				dr[i] = __fadd_rn(dr[i], __fmul_rn(yr[i], gr[i] - acc));
		}
	}
}

static __global__ void softmax_columns_backward(const float *y, const float *g, float *dx,
						struct axis_geometry geo, int take_log)
{
	AX_CU_GRID_STRIDE(c, geo.outer * geo.inner) {
		int64_t base = (c / geo.inner) * geo.len * geo.inner + c % geo.inner;
		const float *yc = y + base, *gc = g + base;
		float *dc = dx + base;
		float acc = 0.0f;

		for (int64_t a = 0; a < geo.len; a++) {
			int64_t k = a * geo.inner;

			acc += take_log ? gc[k] : __fmul_rn(gc[k], yc[k]);
		}
		for (int64_t a = 0; a < geo.len; a++) {
			int64_t k = a * geo.inner;

			if (take_log)
				dc[k] = __fadd_rn(dc[k], gc[k] - __fmul_rn(expf(yc[k]), acc));
			else
				dc[k] = __fadd_rn(dc[k], __fmul_rn(yc[k], gc[k] - acc));
		}
	}
}

static enum ax_status softmax_forward(struct ax_ctx *ctx, struct ax_node *node, int take_log)
{
	const struct ax_tensor *x = node->in[0], *dense;
	struct axis_geometry geo = geometry_of(x, (int)node->attrs.i[0]);
	cudaStream_t stream = ax_cuda_stream(ctx);
	float *y = (float *)node->out->data;
	int64_t rows = geo.outer;
	const float *xd;
	enum ax_status st;

	if (ax_tensor_numel(x) == 0)
		return AX_OK;
	st = ax_cuda_dense(ctx, x, &dense);
	if (st)
		return st;
	xd = (const float *)dense->data;
	if (geo.inner > 1)
		softmax_columns<<<ax_cu_grid(geo.outer * geo.inner, AX_CU_THREADS), AX_CU_THREADS,
				  0, stream>>>(xd, y, geo, take_log);
	else if (geo.len <= WARP_ROW_MAX)
		softmax_rows<true><<<row_blocks(rows, 1), AX_CU_THREADS, 0, stream>>>(
			xd, y, rows, geo.len, take_log);
	else
		softmax_rows<false><<<row_blocks(rows, 0), AX_CU_THREADS, 0, stream>>>(
			xd, y, rows, geo.len, take_log);
	return AX_CUDA_LAUNCHED(node);
}

static enum ax_status softmax_backward(struct ax_ctx *ctx, struct ax_node *node, int take_log)
{
	struct ax_tensor *x = node->in[0], *gx;
	struct axis_geometry geo = geometry_of(x, (int)node->attrs.i[0]);
	cudaStream_t stream = ax_cuda_stream(ctx);
	const float *y = (const float *)node->out->data;
	const float *g = (const float *)node->out->grad->data;
	int64_t rows = geo.outer;
	float *dx;
	enum ax_status st;

	if (!ax_needs_grad(x) || ax_tensor_numel(x) == 0)
		return AX_OK;
	st = ax_grad_of(ctx, x, &gx);
	if (st)
		return st;
	dx = (float *)gx->data;
	if (geo.inner > 1)
		softmax_columns_backward<<<ax_cu_grid(geo.outer * geo.inner, AX_CU_THREADS),
					   AX_CU_THREADS, 0, stream>>>(y, g, dx, geo, take_log);
	else if (geo.len <= WARP_ROW_MAX)
		softmax_rows_backward<true><<<row_blocks(rows, 1), AX_CU_THREADS, 0, stream>>>(
			y, g, dx, rows, geo.len, take_log);
	else
		softmax_rows_backward<false><<<row_blocks(rows, 0), AX_CU_THREADS, 0, stream>>>(
			y, g, dx, rows, geo.len, take_log);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_fwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return softmax_forward(ctx, node, 0);
}

enum ax_status ax_cuda_bwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return softmax_backward(ctx, node, 0);
}

enum ax_status ax_cuda_fwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return softmax_forward(ctx, node, 1);
}

enum ax_status ax_cuda_bwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return softmax_backward(ctx, node, 1);
}

/* ---- cross_entropy ---- */

/* Saved for backward (host arena; the arrays are device arena). */
struct ce_saved {
	const float *logits; /* (N, C) contiguous */
	int32_t *labels;     /* (N), private copy */
	float *lse;          /* (N) log-sum-exp per row; NaN for invalid labels */
	int64_t *count;      /* (1) rows not ignored */
};

/* Per row i: labels_out[i], lse[i], row_loss[i] (0 when ignored) and
 * counted[i] (0 when ignored, 1 otherwise). */
template <bool WARP>
static __global__ void ce_rows(const float *logits, const int32_t *labels, int64_t label_stride,
			       int64_t n, int64_t classes, int32_t ignore, double smoothing,
			       int32_t *labels_out, float *lse, double *row_loss, int32_t *counted)
{
	__shared__ group_scratch scratch;
	row_group<WARP> grp;

	for (int64_t i = grp.first; i < n; i += grp.step) {
		const float *row = logits + i * classes;
		int32_t label = labels[i * label_stride];
		float max = -INFINITY, sum = 0.0f;
		double row_total = 0.0;

		/* label, and so every branch below, is the same for the whole group. */
		if (label == ignore) {
			if (grp.lane == 0) {
				labels_out[i] = label;
				row_loss[i] = 0.0;
				counted[i] = 0;
			}
			continue;
		}
		if (label < 0 || label >= classes) {
			/* Not reportable without a host sync: NaN loss and gradient (see top). */
			if (grp.lane == 0) {
				labels_out[i] = label;
				lse[i] = NAN;
				row_loss[i] = NAN;
				counted[i] = 1;
			}
			continue;
		}
		for (int64_t c = grp.lane; c < classes; c += grp.size)
			max = fmaxf(max, row[c]);
		max = grp.reduce_max(max, &scratch);
		for (int64_t c = grp.lane; c < classes; c += grp.size) {
			sum += expf(row[c] - max);
			if (smoothing > 0.0)
				row_total += row[c];
		}
		sum = grp.reduce_sum(sum, &scratch);
		if (smoothing > 0.0)
			row_total = grp.reduce_sum(row_total, &scratch);
		if (grp.lane == 0) {
			double log_sum = log((double)sum);
			double loss = ((double)max - (double)row[label]) + log_sum;

			if (smoothing > 0.0)
				loss = (1.0 - smoothing) * loss +
				       smoothing * (((double)max - row_total / (double)classes) +
						    log_sum);
			labels_out[i] = label;
			lse[i] = (float)((double)max + log_sum);
			row_loss[i] = loss;
			counted[i] = 1;
		}
	}
}

/* One block: out = sum(row_loss) / count (0 when count is 0), count saved.
 * Each thread adds a fixed stride of rows in order, then a fixed tree: the
 * same sum on every run. The count is summed in double, exact below 2^53. */
static __global__ void ce_finish(const double *row_loss, const int32_t *counted, int64_t n,
				 float *out, int64_t *count_out)
{
	__shared__ double scratch[32];
	double total = 0.0, count = 0.0;

	for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
		total += row_loss[i];
		count += counted[i];
	}
	total = ax_cu_block_sum_f64(total, scratch);
	count = ax_cu_block_sum_f64(count, scratch);
	if (threadIdx.x == 0) {
		*count_out = (int64_t)count;
		*out = count > 0.0 ? (float)(total / count) : 0.0f;
	}
}

enum ax_status ax_cuda_fwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *logits = node->in[0], *labels = node->in[1], *dense;
	int64_t n = logits->shape[0], classes = logits->shape[1], rows = n ? n : 1;
	int32_t ignore = (int32_t)node->attrs.i[0];
	cudaStream_t stream = ax_cuda_stream(ctx);
	struct ce_saved *saved;
	double *row_loss;
	int32_t *counted;
	enum ax_status st;

	saved = (struct ce_saved *)ax_ctx_alloc(ctx, sizeof(*saved));
	if (!saved)
		return AX_ERR_NOMEM;
	saved->logits = NULL;
	if (n) {
		st = ax_cuda_dense(ctx, logits, &dense);
		if (st)
			return st;
		saved->logits = (const float *)dense->data;
	}
	saved->labels = (int32_t *)ax_ctx_alloc_data(ctx, (size_t)rows * sizeof(int32_t));
	saved->lse = (float *)ax_ctx_alloc_data(ctx, (size_t)rows * sizeof(float));
	saved->count = (int64_t *)ax_ctx_alloc_data(ctx, sizeof(int64_t));
	row_loss = (double *)ax_ctx_alloc_data(ctx, (size_t)rows * sizeof(double));
	counted = (int32_t *)ax_ctx_alloc_data(ctx, (size_t)rows * sizeof(int32_t));
	if (!saved->labels || !saved->lse || !saved->count || !row_loss || !counted)
		return AX_ERR_NOMEM;
	if (n) {
		const int32_t *label_data = (const int32_t *)labels->data;
		double smoothing = node->attrs.f[0];

		if (classes <= WARP_ROW_MAX)
			ce_rows<true><<<row_blocks(n, 1), AX_CU_THREADS, 0, stream>>>(
				saved->logits, label_data, labels->stride[0], n, classes, ignore,
				smoothing, saved->labels, saved->lse, row_loss, counted);
		else
			ce_rows<false><<<row_blocks(n, 0), AX_CU_THREADS, 0, stream>>>(
				saved->logits, label_data, labels->stride[0], n, classes, ignore,
				smoothing, saved->labels, saved->lse, row_loss, counted);
		st = AX_CUDA_LAUNCHED(node);
		if (st)
			return st;
	}
	/* With n == 0 the loop adds nothing: loss 0, count 0, as the CPU. */
	ce_finish<<<1, 1024, 0, stream>>>(row_loss, counted, n, (float *)node->out->data,
					  saved->count);
	st = AX_CUDA_LAUNCHED(node);
	if (st)
		return st;
	node->saved = saved;
	return AX_OK;
}

/* dx[i, c] += scale * exp(x - L) - scale s/C, and -= scale (1-s) at the
 * label, with scale = g / count read on the device; ignored rows untouched.
 * The operation order is the CPU's. Invalid-label rows have L = NaN and a
 * label outside [0, C), so they become NaN and nothing is written out of
 * bounds. */
static __global__ void ce_backward(const float *logits, const int32_t *labels, const float *lse,
				   const int64_t *count, const float *grad_out, int64_t n,
				   int64_t classes, int32_t ignore, float smoothing, float *dx)
{
	int64_t total_rows = *count;
	float scale, off_target, on_target;

	if (total_rows == 0)
		return;
	scale = *grad_out / (float)total_rows;
	off_target = scale * smoothing / (float)classes; /* scale * s/C, every class */
	on_target = scale * (1.0f - smoothing);           /* scale * (1-s), the label only */
	AX_CU_GRID_STRIDE(e, n * classes) {
		int64_t i = e / classes, c = e % classes;
		int32_t label = labels[i];
		float d;

		if (label == ignore)
			continue;
		d = __fadd_rn(dx[e], __fmul_rn(scale, expf(logits[e] - lse[i])) - off_target);
		if (c == label)
			d -= on_target;
		dx[e] = d;
	}
}

enum ax_status ax_cuda_bwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *logits = node->in[0], *grad;
	const struct ce_saved *saved = (const struct ce_saved *)node->saved;
	int64_t n = logits->shape[0], classes = logits->shape[1];
	enum ax_status st;

	if (!ax_needs_grad(logits))
		return AX_OK;
	/* Taken even when every row is ignored, so logits get a (zero) gradient. */
	st = ax_grad_of(ctx, logits, &grad);
	if (st || n == 0)
		return st;
	ce_backward<<<ax_cu_grid(n * classes, AX_CU_THREADS), AX_CU_THREADS, 0,
		      ax_cuda_stream(ctx)>>>(saved->logits, saved->labels, saved->lse, saved->count,
					     (const float *)node->out->grad->data, n, classes,
					     (int32_t)node->attrs.i[0], node->attrs.f[0],
					     (float *)grad->data);
	return AX_CUDA_LAUNCHED(node);
}

/* ---- mse ---- */

/* Blocks of the first mse pass: a fixed number for a given n (so the sum is
 * the same on every run), at most this many. */
#define MSE_MAX_BLOCKS 1024

struct mse_saved {
	const float *pred, *target; /* contiguous */
};

/* partial[block] = sum over the block's grid-stride elements of (p - t)^2. */
static __global__ void mse_partial(const float *pred, const float *target, int64_t n,
				   double *partial)
{
	__shared__ double scratch[32];
	double acc = 0.0;

	AX_CU_GRID_STRIDE(i, n) {
		double diff = (double)pred[i] - (double)target[i];

		acc += diff * diff;
	}
	acc = ax_cu_block_sum_f64(acc, scratch);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = acc;
}

/* One block: out = sum(partial[0..blocks)) / n, NaN for n == 0. */
static __global__ void mse_finish(const double *partial, int blocks, int64_t n, float *out)
{
	__shared__ double scratch[32];
	double total = 0.0;

	for (int b = threadIdx.x; b < blocks; b += blockDim.x)
		total += partial[b];
	total = ax_cu_block_sum_f64(total, scratch);
	if (threadIdx.x == 0)
		*out = n ? (float)(total / (double)n) : NAN;
}

enum ax_status ax_cuda_fwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	int64_t n = ax_tensor_numel(node->in[0]);
	cudaStream_t stream = ax_cuda_stream(ctx);
	struct mse_saved *saved = (struct mse_saved *)ax_ctx_alloc(ctx, sizeof(*saved));
	const struct ax_tensor *pred, *target;
	unsigned blocks = ax_cu_grid(n, AX_CU_THREADS);
	double *partial;
	enum ax_status st;

	if (!saved)
		return AX_ERR_NOMEM;
	saved->pred = saved->target = NULL;
	if (blocks > MSE_MAX_BLOCKS)
		blocks = MSE_MAX_BLOCKS;
	partial = (double *)ax_ctx_alloc_data(ctx, blocks * sizeof(double));
	if (!partial)
		return AX_ERR_NOMEM;
	if (n) {
		st = ax_cuda_dense(ctx, node->in[0], &pred);
		if (!st)
			st = ax_cuda_dense(ctx, node->in[1], &target);
		if (st)
			return st;
		saved->pred = (const float *)pred->data;
		saved->target = (const float *)target->data;
		mse_partial<<<blocks, AX_CU_THREADS, 0, stream>>>(saved->pred, saved->target, n,
								   partial);
		st = AX_CUDA_LAUNCHED(node);
		if (st)
			return st;
	}
	/* n == 0: one block that writes NaN, a mean over no elements (as PyTorch). */
	mse_finish<<<1, AX_CU_THREADS, 0, stream>>>(partial, n ? (int)blocks : 0, n,
						    (float *)node->out->data);
	st = AX_CUDA_LAUNCHED(node);
	if (st)
		return st;
	node->saved = saved;
	return AX_OK;
}

/* dpred += scale (p - t), dtarget -= the same, scale = 2 g / n (g on the
 * device); either gradient may be absent (NULL). */
static __global__ void mse_backward(const float *pred, const float *target, const float *grad_out,
				    int64_t n, float *dpred, float *dtarget)
{
	float scale = 2.0f * *grad_out / (float)n;

	AX_CU_GRID_STRIDE(i, n) {
		float term = __fmul_rn(scale, pred[i] - target[i]);

		if (dpred)
			dpred[i] += term;
		if (dtarget)
			dtarget[i] -= term;
	}
}

enum ax_status ax_cuda_bwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct mse_saved *saved = (const struct mse_saved *)node->saved;
	int64_t n = ax_tensor_numel(node->in[0]);
	float *dpred = NULL, *dtarget = NULL;
	struct ax_tensor *grad;
	enum ax_status st;

	if (n == 0)
		return AX_OK;
	if (ax_needs_grad(node->in[0])) {
		st = ax_grad_of(ctx, node->in[0], &grad);
		if (st)
			return st;
		dpred = (float *)grad->data;
	}
	if (ax_needs_grad(node->in[1])) {
		st = ax_grad_of(ctx, node->in[1], &grad);
		if (st)
			return st;
		dtarget = (float *)grad->data;
	}
	if (!dpred && !dtarget)
		return AX_OK;
	mse_backward<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0, ax_cuda_stream(ctx)>>>(
		saved->pred, saved->target, (const float *)node->out->grad->data, n, dpred,
		dtarget);
	return AX_CUDA_LAUNCHED(node);
}
