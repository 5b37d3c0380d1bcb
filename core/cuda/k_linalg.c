/* cuda/k_linalg.c - matmul and linear on the GPU, through cuBLAS and cuBLASLt.
 *
 * The same plan as the CPU kernels (cpu/linalg.c), with cuBLAS for OpenBLAS:
 * every matrix operand goes to the GEMM in place whenever its strides allow
 * (column stride 1: as stored; row stride 1, a transposed view: with the
 * transpose flag), and only other layouts are made dense with ax_cuda_dense,
 * the copy kept in node->saved for backward. Gradients are accumulated with
 * beta = 1 straight into the gradient buffers, and backward never forms a
 * transpose: it flips the operand's flag.
 *
 * Row-major operands, column-major cuBLAS. Every product is first written as
 * the CPU writes it, a row-major C (M, N) = op(A) (M, K) @ op(B) (K, N) with
 * per-operand flags and leading dimensions (struct gemm). A row-major matrix
 * read column-major is its transpose, so gemm_rm asks cuBLAS for
 * C^T = op(B)^T op(A)^T: the operands and the flags swap places, M and N
 * swap, the leading dimensions stay:
 *     row-major (ta, tb, M, N, K, A, lda, B, ldb, C, ldc)
 *  -> cublasSgemm(h, tb, ta, N, M, K, 1, B, ldb, A, lda, beta, C, ldc).
 * Worked example, linear with x (2, 3) and W (4, 3), y = x W^T (2, 4): the
 * CPU calls sgemm(RowMajor, N, T, M=2, N=4, K=3, x, 3, W, 3, y, 4). cuBLAS
 * sees y's memory as a 4x2 column-major matrix (ld 4), that is y^T; x's as
 * x^T (3x2, ld 3); W's as W^T (3x4, ld 3). y^T = W x^T = (W^T)^T x^T, so
 * cublasSgemm(h, T, N, m=4, n=2, k=3, W, 3, x, 3, y, 4): exactly the swap.
 * A transposed view, e.g. x = X^T with X (3, 2) contiguous, is row-major
 * (ta = T, lda = 2) and reaches cuBLAS as transb = T, ldb = 2.
 *
 * Batches (matmul's leading axes, which broadcast): the output's batch axes
 * are merged where all three operands nest like one axis, the innermost
 * merged axis goes to one strided-batched call (a broadcast A or B has batch
 * stride 0, which cuBLAS takes) and the outer axes are a loop. In backward,
 * the gradient of a broadcast operand has batch stride 0 on the axes it was
 * stretched over; slices that share a gradient slice must not be in one
 * batched call. Along such an inner axis the products are folded into one
 * GEMM with a longer inner dimension when the layouts allow (the weight
 * gradient of x (B, T, K) @ W (K, N) is one GEMM over all B T rows), and
 * otherwise run one at a time, each adding (beta = 1) onto the previous, in
 * the CPU's order: the sum that broadcasting's backward needs.
 *
 * Precision (ctx->precision, see axon/ctx.h):
 *   f32:  cublasSgemm(StridedBatched) with CUBLAS_DEFAULT_MATH (never TF32),
 *         so results track the CPU's;
 *   bf16: both operands are rounded to bf16 into dense arena copies (kept in
 *         node->saved: backward does not round them again), and the GEMMs
 *         take bf16 A/B with f32 C and f32 accumulation (cublasGemmEx,
 *         CUBLAS_COMPUTE_32F). Outputs and gradients stay f32; backward
 *         rounds dy to bf16 once and uses it for dx and dW.
 * Linear's forward with a bias uses cuBLASLt with the bias epilogue (one
 * kernel instead of a fill and a GEMM); the matmul descriptor, layouts and
 * the algorithm from cublasLtMatmulAlgoGetHeuristic are cached per shape.
 * When cuBLASLt has no algorithm, or the bias is a strided view, the bias is
 * written into every row first and the GEMM adds onto it (beta = 1), as on
 * the CPU. The bias gradient is a column-sum kernel (k_linalg_bias.cu). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

#include "linalg.h"

static enum ax_status too_big(const struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED,
			     "a matrix dimension exceeds the BLAS integer range (%d)", INT_MAX);
}

/* The cuBLAS handle of the context's GPU, checked before use: still bound to
 * the compute stream (cublasSetStream drops the handle's workspace, so it is
 * only called when the binding was lost, and the workspace is given back),
 * host pointers for alpha and beta, plain FP32 math. */
static enum ax_status blas_handle(const struct ax_ctx *ctx, const struct ax_node *node,
				  cublasHandle_t *out)
{
	struct ax_cuda_dev *d = ax_cuda_dev(ctx->device.index);
	cudaStream_t bound = NULL;
	enum ax_status st;

	if (!d)
		return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "cuda:%d is not open",
				     ctx->device.index);
	st = BLAS_CHECK(node, "cublasGetStream", cublasGetStream(d->blas, &bound));
	if (!st && bound != d->compute) {
		st = BLAS_CHECK(node, "cublasSetStream", cublasSetStream(d->blas, d->compute));
		if (!st)
			st = BLAS_CHECK(node, "cublasSetWorkspace",
					cublasSetWorkspace(d->blas, d->lt_workspace,
							   d->lt_workspace_bytes));
	}
	if (!st)
		st = BLAS_CHECK(node, "cublasSetPointerMode",
				cublasSetPointerMode(d->blas, CUBLAS_POINTER_MODE_HOST));
	if (!st)
		st = BLAS_CHECK(node, "cublasSetMathMode",
				cublasSetMathMode(d->blas, CUBLAS_DEFAULT_MATH));
	*out = d->blas;
	return st;
}

/* ---- operands ---- */

/* A logical row-major (rows x cols) matrix as the GEMM reads it, in the
 * CPU's convention: CUBLAS_OP_N when element (i, j) is at data[i * ld + j],
 * CUBLAS_OP_T when the memory holds its transpose (element at data[j * ld + i]). */
struct gmat {
	const void *data;
	cublasOperation_t trans;
	int ld;
};

static cublasOperation_t flip(cublasOperation_t t)
{
	return t == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N;
}

/* Can the (rows x cols) matrix with element strides (srow, scol) go to the
 * GEMM without a copy? As cpu/linalg.c: the stride of a size-1 axis means
 * nothing, an ld that does not matter is the smallest one BLAS accepts, and a
 * stride-0 or overlapping layout fails the ld check and is copied. */
static int blas_layout(int64_t rows, int64_t cols, int64_t srow, int64_t scol,
		       cublasOperation_t *trans, int *ld)
{
	int64_t min_ld, want;

	if (cols == 1 || scol == 1) {
		min_ld = cols > 1 ? cols : 1;
		want = rows == 1 ? min_ld : srow;
		if (want >= min_ld && want <= INT_MAX) {
			*trans = CUBLAS_OP_N;
			*ld = (int)want;
			return 1;
		}
	}
	if (rows == 1 || srow == 1) {
		min_ld = rows > 1 ? rows : 1;
		want = cols == 1 ? min_ld : scol;
		if (want >= min_ld && want <= INT_MAX) {
			*trans = CUBLAS_OP_T;
			*ld = (int)want;
			return 1;
		}
	}
	return 0;
}

/* Per-node scratch: the copies the GEMMs read instead of in[0] and in[1]:
 * dense f32 copies of layouts cuBLAS cannot take (f32 mode, only those), or
 * dense bf16 roundings (bf16 mode, always). NULL entries: in place. */
struct linalg_saved {
	const void *copy[2];
	int bf16;
};

static const void *saved_copy(const struct ax_node *node, int k)
{
	const struct linalg_saved *saved = node->saved;

	return saved ? saved->copy[k] : NULL;
}

static int saved_bf16(const struct ax_node *node)
{
	const struct linalg_saved *saved = node->saved;

	return saved ? saved->bf16 : 0;
}

static struct linalg_saved *saved_get(struct ax_ctx *ctx, struct ax_node *node)
{
	struct linalg_saved *saved = node->saved;

	if (!saved) {
		saved = ax_ctx_alloc(ctx, sizeof(*saved));
		if (!saved)
			return NULL;
		memset(saved, 0, sizeof(*saved));
		node->saved = saved;
	}
	return saved;
}

/* f32 mode: a dense copy of input k, remembered for backward. */
static enum ax_status save_dense(struct ax_ctx *ctx, struct ax_node *node, int k,
				 const void **copy)
{
	struct linalg_saved *saved = saved_get(ctx, node);
	const struct ax_tensor *dense;
	enum ax_status st;

	if (!saved)
		return AX_ERR_NOMEM;
	st = ax_cuda_dense(ctx, node->in[k], &dense);
	if (st)
		return st;
	saved->copy[k] = dense->data;
	*copy = dense->data;
	return AX_OK;
}

/* t rounded to bf16 into a dense arena buffer. */
static enum ax_status to_bf16(struct ax_ctx *ctx, const struct ax_node *node,
			      const struct ax_tensor *t, const void **out)
{
	size_t n = (size_t)ax_tensor_numel(t);
	void *dst = ax_ctx_alloc_data(ctx, n ? n * 2 : 2);

	*out = dst;
	if (!dst)
		return AX_ERR_NOMEM;
	return ax_cuda_linalg_to_bf16(ctx, node, t, dst);
}

/* bf16 mode: the bf16 copy of input k, remembered for backward. */
static enum ax_status save_bf16(struct ax_ctx *ctx, struct ax_node *node, int k,
				const void **copy)
{
	struct linalg_saved *saved = saved_get(ctx, node);
	enum ax_status st;

	if (!saved)
		return AX_ERR_NOMEM;
	saved->bf16 = 1;
	st = to_bf16(ctx, node, node->in[k], copy);
	saved->copy[k] = *copy;
	return st;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
	int64_t step = 1;

	for (int d = ndim - 1; d >= 0; d--) {
		stride[d] = step;
		step *= shape[d];
	}
}

/* ---- GEMM ---- */


/* `count` products, the k-th at A + k sa, B + k sb, C + k sc (elements; a
 * stride may be 0 for A and B). The row-major -> column-major swap is here
 * and only here: cuBLAS computes C^T = op(B)^T op(A)^T (see the top). */
static enum ax_status gemm_rm(cublasHandle_t h, const struct ax_node *node, const struct gemm *g,
			      const void *A, const void *B, float *C, int64_t count, int64_t sa,
			      int64_t sb, int64_t sc)
{
	const float one = 1.0f;
	size_t esize = g->bf16 ? 2 : 4;
	enum ax_status st = AX_OK;

	while (count > 0 && !st) {
		int n = count > INT_MAX ? INT_MAX : (int)count;

		if (n == 1 && !g->bf16)
			st = BLAS_CHECK(node, "cublasSgemm",
					cublasSgemm(h, g->tb, g->ta, g->N, g->M, g->K, &one, B,
						    g->ldb, A, g->lda, &g->beta, C, g->ldc));
		else if (n == 1)
			st = BLAS_CHECK(node, "cublasGemmEx",
					cublasGemmEx(h, g->tb, g->ta, g->N, g->M, g->K, &one, B,
						     CUDA_R_16BF, g->ldb, A, CUDA_R_16BF, g->lda,
						     &g->beta, C, CUDA_R_32F, g->ldc,
						     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
		else if (!g->bf16)
			st = BLAS_CHECK(node, "cublasSgemmStridedBatched",
					cublasSgemmStridedBatched(h, g->tb, g->ta, g->N, g->M, g->K,
								  &one, B, g->ldb, sb, A, g->lda,
								  sa, &g->beta, C, g->ldc, sc,
								  n));
		else
			st = BLAS_CHECK(node, "cublasGemmStridedBatchedEx",
					cublasGemmStridedBatchedEx(
						h, g->tb, g->ta, g->N, g->M, g->K, &one, B,
						CUDA_R_16BF, g->ldb, sb, A, CUDA_R_16BF, g->lda, sa,
						&g->beta, C, CUDA_R_32F, g->ldc, sc, n,
						CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
		A = (const char *)A + (size_t)n * (size_t)sa * esize;
		B = (const char *)B + (size_t)n * (size_t)sb * esize;
		C += (size_t)n * (size_t)sc;
		count -= n;
	}
	return st;
}

/* The output's batch axes after dropping size-1 ones and merging neighbours
 * that every operand steps through as one axis (outer stride == inner stride
 * * inner size; two broadcast axes, stride 0, merge too). */
struct batch_plan {
	int n;
	int64_t shape[AX_MAX_DIMS];
	int64_t stride[3][AX_MAX_DIMS]; /* A, B, C */
};

static void plan_batches(int nb, const int64_t *shape, const int64_t *const stride[3],
			 struct batch_plan *p)
{
	p->n = 0;
	for (int d = 0; d < nb; d++) {
		int merge = p->n > 0;

		if (shape[d] == 1)
			continue;
		for (int k = 0; k < 3 && merge; k++)
			merge = p->stride[k][p->n - 1] == stride[k][d] * shape[d];
		if (merge) {
			p->shape[p->n - 1] *= shape[d];
			for (int k = 0; k < 3; k++)
				p->stride[k][p->n - 1] = stride[k][d];
		} else {
			p->shape[p->n] = shape[d];
			for (int k = 0; k < 3; k++)
				p->stride[k][p->n] = stride[k][d];
			p->n++;
		}
	}
}

/* Can the n products along an axis where C's stride is 0 (sum_i op(A_i)
 * op(B_i), all into one C) be one product with inner dimension n K? Yes when
 * the A_i, side by side, and the B_i, stacked, are themselves matrices with
 * the same leading dimensions: op(A) = T (memory rows are A's columns) with
 * A_{i+1} starting K rows of lda after A_i, and op(B) = N with B_{i+1}
 * starting K rows of ldb after B_i. This is the gradient of a 2-D weight in
 * x (B, T, K) @ W (K, N): dW += x^T dC over all B T rows in one GEMM. */
static int gemm_folds(const struct gemm *g, int64_t n, int64_t sa, int64_t sb)
{
	return g->ta == CUBLAS_OP_T && g->tb == CUBLAS_OP_N && sa == (int64_t)g->K * g->lda &&
	       sb == (int64_t)g->K * g->ldb && n * g->K <= INT_MAX;
}

/* g over the nb batch axes `shape`, with per-axis element strides of A, B
 * and C. The innermost merged axis is one strided-batched call, unless C's
 * stride there is 0 (a broadcast operand's gradient, the slices share C):
 * then it is folded into the inner dimension when the layouts allow
 * (gemm_folds), or else the slices go one call each, accumulating in order.
 * The other axes are a loop. */
static enum ax_status gemm_batched(cublasHandle_t h, const struct ax_node *node,
				   const struct gemm *g, const void *A, const void *B, float *C,
				   int nb, const int64_t *shape, const int64_t *const stride[3])
{
	struct batch_plan p;
	struct gemm folded;
	int64_t idx[AX_MAX_DIMS] = {0};
	int64_t count = 1, sa = 0, sb = 0, sc = 0;
	size_t esize = g->bf16 ? 2 : 4;
	int loop_axes, in = 0;

	plan_batches(nb, shape, stride, &p);
	loop_axes = p.n;
	if (p.n > 0) {
		in = p.n - 1;
		if (p.stride[2][in] != 0) {
			loop_axes = in;
			count = p.shape[in];
			sa = p.stride[0][in];
			sb = p.stride[1][in];
			sc = p.stride[2][in];
		} else if (gemm_folds(g, p.shape[in], p.stride[0][in], p.stride[1][in])) {
			folded = *g;
			folded.K = (int)(p.shape[in] * g->K);
			g = &folded;
			loop_axes = in;
		}
	}
	for (;;) {
		int64_t off[3] = {0, 0, 0};
		enum ax_status st;
		int d;

		for (d = 0; d < loop_axes; d++) {
			for (int k = 0; k < 3; k++)
				off[k] += idx[d] * p.stride[k][d];
		}
		st = gemm_rm(h, node, g, (const char *)A + (size_t)off[0] * esize,
			     (const char *)B + (size_t)off[1] * esize, C + off[2], count, sa, sb,
			     sc);
		if (st)
			return st;
		for (d = loop_axes - 1; d >= 0; d--) {
			if (++idx[d] < p.shape[d])
				break;
			idx[d] = 0;
		}
		if (d < 0)
			return AX_OK;
	}
}

/* ---- matmul ---- */

struct mm_operand {
	struct gmat m;
	int64_t batch_stride[AX_MAX_DIMS]; /* per output batch axis; 0 where it broadcasts */
};

/* Strides of t over the nb batch axes of the output, aligned on the right. */
static void batch_strides(const struct ax_tensor *t, const int64_t *stride, int nb,
			  int64_t *batch_stride)
{
	int tb = t->ndim - 2;

	for (int d = 0; d < nb; d++) {
		int td = d - (nb - tb);

		batch_stride[d] = (td >= 0 && t->shape[td] != 1) ? stride[td] : 0;
	}
}

/* t (or its dense copy, f32 or bf16: contiguous strides) as a batched GEMM
 * operand; 0 if its matrix layout needs a copy. */
static int mm_operand(const struct ax_tensor *t, const void *copy, int nb, struct mm_operand *op)
{
	int64_t stride[AX_MAX_DIMS];
	int nd = t->ndim;

	if (copy)
		contiguous_strides(nd, t->shape, stride);
	else
		memcpy(stride, t->stride, sizeof(int64_t) * (size_t)nd);
	op->m.data = copy ? copy : t->data;
	batch_strides(t, stride, nb, op->batch_stride);
	return blas_layout(t->shape[nd - 2], t->shape[nd - 1], stride[nd - 2], stride[nd - 1],
			   &op->m.trans, &op->m.ld);
}

struct mm_dims {
	int nb;
	int64_t batches, M, K, N;
};

static struct mm_dims mm_dims_of(const struct ax_node *node)
{
	const struct ax_tensor *a = node->in[0], *b = node->in[1], *c = node->out;
	struct mm_dims dm;

	dm.nb = c->ndim - 2;
	dm.batches = 1;
	for (int d = 0; d < dm.nb; d++)
		dm.batches *= c->shape[d];
	dm.M = a->shape[a->ndim - 2];
	dm.K = a->shape[a->ndim - 1];
	dm.N = b->shape[b->ndim - 1];
	return dm;
}

static int mm_fits_blas(const struct mm_dims *dm)
{
	return dm->M <= INT_MAX && dm->K <= INT_MAX && dm->N <= INT_MAX;
}

/* Element strides of the contiguous output (or dC) over its batch axes. */
static void out_batch_strides(const struct ax_node *node, const struct mm_dims *dm,
			      int64_t *stride)
{
	contiguous_strides(dm->nb, node->out->shape, stride);
	for (int d = 0; d < dm->nb; d++)
		stride[d] *= dm->M * dm->N;
}

enum ax_status ax_cuda_fwd_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	struct mm_dims dm = mm_dims_of(node);
	struct mm_operand op[2];
	int64_t c_stride[AX_MAX_DIMS];
	const int64_t *strides[3];
	int bf16 = ax_cuda_bf16(ctx);
	float *c = node->out->data;
	cublasHandle_t h;
	struct gemm g;
	enum ax_status st;

	if (dm.batches == 0 || dm.M == 0 || dm.N == 0)
		return AX_OK;
	if (dm.K == 0) /* an empty sum: C = 0 */
		return CUDA_CHECK(node, "cudaMemsetAsync",
				  cudaMemsetAsync(c, 0, (size_t)(dm.batches * dm.M * dm.N) *
							sizeof(float), ax_cuda_stream(ctx)));
	if (!mm_fits_blas(&dm))
		return too_big(node);
	if ((st = blas_handle(ctx, node, &h)) != AX_OK)
		return st;
	for (int k = 0; k < 2; k++) {
		const void *copy;

		if (bf16)
			st = save_bf16(ctx, node, k, &copy);
		else if (mm_operand(node->in[k], NULL, dm.nb, &op[k]))
			continue;
		else
			st = save_dense(ctx, node, k, &copy);
		if (st)
			return st;
		if (!mm_operand(node->in[k], copy, dm.nb, &op[k]))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL,
					     "dense copy has no BLAS layout");
	}
	out_batch_strides(node, &dm, c_stride);
	g = (struct gemm){bf16, op[0].m.trans, op[1].m.trans, (int)dm.M, (int)dm.N, (int)dm.K,
			  op[0].m.ld, op[1].m.ld, (int)dm.N, 0.0f};
	strides[0] = op[0].batch_stride;
	strides[1] = op[1].batch_stride;
	strides[2] = c_stride;
	return gemm_batched(h, node, &g, op[0].m.data, op[1].m.data, c, dm.nb, node->out->shape,
			    strides);
}

/*
 * dA (M, K) += dC (M, N) @ B^T (N, K)   -- B^T is B's memory with the flag flipped
 * dB (K, N) += A^T (K, M) @ dC (M, N)
 * dA and dB are contiguous with a's and b's shapes; their batch strides are 0
 * on broadcast axes, and gemm_batched accumulates the slices that share them.
 */
enum ax_status ax_cuda_bwd_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	struct mm_dims dm = mm_dims_of(node);
	struct ax_tensor *a = node->in[0], *b = node->in[1];
	struct ax_tensor *ga = NULL, *gb = NULL;
	struct mm_operand op[2];
	int64_t c_stride[AX_MAX_DIMS], ga_stride[AX_MAX_DIMS], gb_stride[AX_MAX_DIMS];
	int64_t contig[AX_MAX_DIMS];
	const int64_t *strides[3];
	int bf16 = saved_bf16(node);
	const void *dc = node->out->grad->data;
	cublasHandle_t h;
	struct gemm g;
	enum ax_status st;

	if (dm.batches == 0 || dm.M == 0 || dm.N == 0 || dm.K == 0)
		return AX_OK; /* every gradient element is an empty sum, or there are none */
	if (!mm_fits_blas(&dm))
		return too_big(node);
	if (ax_needs_grad(a) && (st = ax_grad_of(ctx, a, &ga)) != AX_OK)
		return st;
	if (ax_needs_grad(b) && (st = ax_grad_of(ctx, b, &gb)) != AX_OK)
		return st;
	if (!ga && !gb)
		return AX_OK;
	if ((st = blas_handle(ctx, node, &h)) != AX_OK)
		return st;
	for (int k = 0; k < 2; k++) {
		if (bf16 && !saved_copy(node, k))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL,
					     "bf16 operand %d was not kept", k);
		if (!mm_operand(node->in[k], saved_copy(node, k), dm.nb, &op[k]))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL,
					     "operand %d lost its layout", k);
	}
	if (bf16 && (st = to_bf16(ctx, node, node->out->grad, &dc)) != AX_OK)
		return st;
	out_batch_strides(node, &dm, c_stride);
	contiguous_strides(a->ndim, a->shape, contig);
	batch_strides(a, contig, dm.nb, ga_stride);
	contiguous_strides(b->ndim, b->shape, contig);
	batch_strides(b, contig, dm.nb, gb_stride);
	if (ga) {
		g = (struct gemm){bf16, CUBLAS_OP_N, flip(op[1].m.trans), (int)dm.M, (int)dm.K,
				  (int)dm.N, (int)dm.N, op[1].m.ld, (int)dm.K, 1.0f};
		strides[0] = c_stride;
		strides[1] = op[1].batch_stride;
		strides[2] = ga_stride;
		st = gemm_batched(h, node, &g, dc, op[1].m.data, ga->data, dm.nb, node->out->shape,
				  strides);
		if (st)
			return st;
	}
	if (gb) {
		g = (struct gemm){bf16, flip(op[0].m.trans), CUBLAS_OP_N, (int)dm.K, (int)dm.N,
				  (int)dm.M, op[0].m.ld, (int)dm.N, (int)dm.N, 1.0f};
		strides[0] = op[0].batch_stride;
		strides[1] = c_stride;
		strides[2] = gb_stride;
		st = gemm_batched(h, node, &g, op[0].m.data, dc, gb->data, dm.nb, node->out->shape,
				  strides);
	}
	return st;
}

/* ---- linear ---- */

/* Row stride of x (..., cols) read as a (rows, cols) matrix: possible when
 * its leading axes (size-1 ones aside) nest like a contiguous block. */
static int flat_row_stride(const struct ax_tensor *x, int64_t *row_stride)
{
	int64_t span = 0;
	int have = 0;

	*row_stride = 0; /* rows <= 1: any value, blas_layout ignores it */
	for (int d = x->ndim - 2; d >= 0; d--) {
		if (x->shape[d] == 1)
			continue;
		if (!have) {
			*row_stride = x->stride[d];
			have = 1;
		} else if (x->stride[d] != span) {
			return 0;
		}
		span = x->stride[d] * x->shape[d];
	}
	return 1;
}

struct lin_dims {
	int64_t rows, in, out;
};

static struct lin_dims lin_dims_of(const struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0], *w = node->in[1];
	struct lin_dims dm = {1, w->shape[1], w->shape[0]};

	for (int d = 0; d < x->ndim - 1; d++)
		dm.rows *= x->shape[d];
	return dm;
}

/* x as a (rows, in) GEMM operand, from a dense copy (f32 or bf16) when there is one. */
static int lin_x_operand(const struct ax_node *node, const struct lin_dims *dm, const void *copy,
			 struct gmat *m)
{
	const struct ax_tensor *x = node->in[0];
	int64_t row_stride;

	if (copy) {
		m->data = copy;
		return blas_layout(dm->rows, dm->in, dm->in, 1, &m->trans, &m->ld);
	}
	m->data = x->data;
	return flat_row_stride(x, &row_stride) &&
	       blas_layout(dm->rows, dm->in, row_stride, x->stride[x->ndim - 1], &m->trans,
			   &m->ld);
}

/* weight (out, in) as a GEMM operand. */
static int lin_w_operand(const struct ax_node *node, const void *copy, struct gmat *m)
{
	const struct ax_tensor *w = node->in[1];

	m->data = copy ? copy : w->data;
	return blas_layout(w->shape[0], w->shape[1], copy ? w->shape[1] : w->stride[0],
			   copy ? 1 : w->stride[1], &m->trans, &m->ld);
}

static int lin_fits_blas(const struct lin_dims *dm)
{
	return dm->rows <= INT_MAX && dm->in <= INT_MAX && dm->out <= INT_MAX;
}

/* y = x @ W^T + b: cuBLASLt with the bias epilogue when the bias is packed
 * and cuBLASLt has an algorithm; otherwise b is written into every row and
 * one GEMM over all rows accumulates onto it (beta = 1), or beta = 0 without
 * a bias. */
enum ax_status ax_cuda_fwd_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	struct lin_dims dm = lin_dims_of(node);
	const struct ax_tensor *bias = node->in[2];
	int bf16 = ax_cuda_bf16(ctx);
	float *y = node->out->data;
	struct gmat xm, wm;
	cublasHandle_t h;
	struct gemm g;
	int done = 0;
	enum ax_status st;

	if (dm.rows == 0 || dm.out == 0)
		return AX_OK;
	if (!lin_fits_blas(&dm))
		return too_big(node);
	if (dm.in == 0) { /* an empty sum: y is the bias, or 0 */
		if (bias)
			return ax_cuda_linalg_fill_bias(ctx, node, y, bias->data, bias->stride[0],
							dm.rows, dm.out);
		return CUDA_CHECK(node, "cudaMemsetAsync",
				  cudaMemsetAsync(y, 0, (size_t)(dm.rows * dm.out) * sizeof(float),
						  ax_cuda_stream(ctx)));
	}
	if ((st = blas_handle(ctx, node, &h)) != AX_OK)
		return st;
	for (int k = 0; k < 2; k++) {
		struct gmat *m = k == 0 ? &xm : &wm;
		const void *copy;
		int ok;

		if (bf16)
			st = save_bf16(ctx, node, k, &copy);
		else if (k == 0 ? lin_x_operand(node, &dm, NULL, m) : lin_w_operand(node, NULL, m))
			continue;
		else
			st = save_dense(ctx, node, k, &copy);
		if (st)
			return st;
		ok = k == 0 ? lin_x_operand(node, &dm, copy, m) : lin_w_operand(node, copy, m);
		if (!ok)
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dense %s has no BLAS layout",
					     k == 0 ? "x" : "weight");
	}
	g = (struct gemm){bf16, xm.trans, flip(wm.trans), (int)dm.rows, (int)dm.out, (int)dm.in,
			  xm.ld, wm.ld, (int)dm.out, 0.0f};
	if (bias && (bias->stride[0] == 1 || dm.out == 1)) {
		st = ax_cuda_lt_linear(ctx, node, &g, xm.data, wm.data, bias->data, y, &done);
		if (st || done)
			return st;
	}
	if (bias) {
		st = ax_cuda_linalg_fill_bias(ctx, node, y, bias->data, bias->stride[0], dm.rows,
					      dm.out);
		if (st)
			return st;
		g.beta = 1.0f;
	}
	return gemm_rm(h, node, &g, xm.data, wm.data, y, 1, 0, 0, 0);
}

/*
 * dx (rows, in)  += dy (rows, out) @ W (out, in)
 * dW (out, in)   += dy^T (out, rows) @ x (rows, in)
 * db (out)       += column sums of dy (f32 dy in both precisions)
 */
enum ax_status ax_cuda_bwd_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	struct lin_dims dm = lin_dims_of(node);
	struct ax_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
	int bf16 = saved_bf16(node);
	int need_x = dm.in > 0 && ax_needs_grad(x), need_w = dm.in > 0 && ax_needs_grad(w);
	const void *dy = node->out->grad->data;
	struct ax_tensor *grad;
	cublasHandle_t h;
	struct gmat m;
	struct gemm g;
	enum ax_status st = AX_OK;

	if (dm.rows == 0 || dm.out == 0)
		return AX_OK;
	if (!lin_fits_blas(&dm))
		return too_big(node);
	if (need_x || need_w) {
		if ((st = blas_handle(ctx, node, &h)) != AX_OK)
			return st;
		if (bf16 && (!saved_copy(node, 0) || !saved_copy(node, 1)))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "bf16 operands were not kept");
		if (bf16 && (st = to_bf16(ctx, node, node->out->grad, &dy)) != AX_OK)
			return st;
	}
	if (need_x) {
		if ((st = ax_grad_of(ctx, x, &grad)) != AX_OK)
			return st;
		if (!lin_w_operand(node, saved_copy(node, 1), &m))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "weight lost its layout");
		g = (struct gemm){bf16, CUBLAS_OP_N, m.trans, (int)dm.rows, (int)dm.in, (int)dm.out,
				  (int)dm.out, m.ld, (int)dm.in, 1.0f};
		if ((st = gemm_rm(h, node, &g, dy, m.data, grad->data, 1, 0, 0, 0)) != AX_OK)
			return st;
	}
	if (need_w) {
		if ((st = ax_grad_of(ctx, w, &grad)) != AX_OK)
			return st;
		if (!lin_x_operand(node, &dm, saved_copy(node, 0), &m))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "x lost its layout");
		g = (struct gemm){bf16, CUBLAS_OP_T, m.trans, (int)dm.out, (int)dm.in, (int)dm.rows,
				  (int)dm.out, m.ld, (int)dm.in, 1.0f};
		if ((st = gemm_rm(h, node, &g, dy, m.data, grad->data, 1, 0, 0, 0)) != AX_OK)
			return st;
	}
	if (bias && ax_needs_grad(bias)) {
		if ((st = ax_grad_of(ctx, bias, &grad)) != AX_OK)
			return st;
		st = ax_cuda_linalg_bias_grad(ctx, node, grad->data, node->out->grad->data,
					      dm.rows, dm.out);
	}
	return st;
}
