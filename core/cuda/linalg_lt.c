/* cuda/linalg_lt.c - linear's forward with the bias fused into the GEMM by
 * cuBLASLt's bias epilogue, and the per-GPU cache of cuBLASLt plans.
 *
 * Building a cuBLASLt matmul (descriptor, three layouts, a heuristic query)
 * costs far more than running a small one, so plans are kept per GPU and
 * problem (shape, precision, flags, leading dimensions, the pointer alignment
 * the algorithm may assume) in a small fixed table, round-robin when full.
 * Also the op-naming error helpers that k_linalg.c shares. */
#include <stdio.h>
#include <string.h>

#include "linalg.h"

/* A failed cuBLAS call as a status whose message starts with the op's name. */
enum ax_status ax_cuda_blas_check(const struct ax_node *node, cublasStatus_t err,
				 const char *call, int line)
{
	char msg[700];
	enum ax_status st;

	if (err == CUBLAS_STATUS_SUCCESS)
		return AX_OK;
	st = ax_cublas_error_at(err, call, __FILE__, line);
	snprintf(msg, sizeof(msg), "%s", ax_last_error());
	return ax_node_error_at(node, st, __FILE__, line, "%s", msg);
}

enum ax_status ax_cuda_node_check(const struct ax_node *node, cudaError_t err, const char *call,
				 int line)
{
	char msg[700];
	enum ax_status st;

	if (err == cudaSuccess)
		return AX_OK;
	st = ax_cuda_error_at(err, call, __FILE__, line);
	snprintf(msg, sizeof(msg), "%s", ax_last_error());
	return ax_node_error_at(node, st, __FILE__, line, "%s", msg);
}

/* One cached cuBLASLt plan: the key is the problem (shape, precision, flags,
 * leading dimensions, pointer alignment the algorithm may assume); the value
 * the matmul descriptor, the layouts and the heuristic's algorithm, or
 * have_algo = 0 when cuBLASLt has none (the GEMM fallback is used, and the
 * heuristic is not asked again). */
struct lt_plan {
	int used;
	int M, N, K, bf16, has_bias, lda, ldb;
	cublasOperation_t ta, tb;
	unsigned align;
	int have_algo;
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t la, lb, ld; /* cuBLASLt's A (our B), B (our A), C = D */
	cublasLtMatmulAlgo_t algo;
};

/* Per GPU, so that engines on different GPUs never share an entry; each
 * GPU's engine is single-threaded. Filled on first use, round-robin after. */
#define LT_PLANS 32
static struct lt_plan lt_plans[MAX_GPUS][LT_PLANS];
static int lt_next[MAX_GPUS];

static void lt_plan_clear(struct lt_plan *p)
{
	if (p->ld)
		cublasLtMatrixLayoutDestroy(p->ld);
	if (p->lb)
		cublasLtMatrixLayoutDestroy(p->lb);
	if (p->la)
		cublasLtMatrixLayoutDestroy(p->la);
	if (p->desc)
		cublasLtMatmulDescDestroy(p->desc);
	memset(p, 0, sizeof(*p));
}

/* Largest power of two (at most 256, cuBLASLt's default assumption) dividing p. */
static unsigned ptr_align(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t low = a & (~a + 1);

	return (a == 0 || low >= 256) ? 256u : (unsigned)low;
}

static int lt_same(const struct lt_plan *p, const struct lt_plan *key)
{
	return p->used && p->M == key->M && p->N == key->N && p->K == key->K &&
	       p->bf16 == key->bf16 && p->has_bias == key->has_bias && p->lda == key->lda &&
	       p->ldb == key->ldb && p->ta == key->ta && p->tb == key->tb &&
	       p->align == key->align;
}

static enum ax_status lt_desc_set(const struct ax_node *node, cublasLtMatmulDesc_t desc,
				  cublasLtMatmulDescAttributes_t attr, const void *value,
				  size_t size)
{
	return BLAS_CHECK(node, "cublasLtMatmulDescSetAttribute",
			  cublasLtMatmulDescSetAttribute(desc, attr, value, size));
}

static enum ax_status lt_layout(const struct ax_node *node, cublasLtMatrixLayout_t *layout,
				cudaDataType type, int64_t rows, int64_t cols, int64_t ld)
{
	return BLAS_CHECK(node, "cublasLtMatrixLayoutCreate",
			  cublasLtMatrixLayoutCreate(layout, type, (uint64_t)rows, (uint64_t)cols,
						     ld));
}

/* Fill *p (key already set) with descriptors and the heuristic's choice.
 * Column-major shapes as stored: Lt's A is op(A) = our op(B)^T (N x K),
 * stored K x N when transposed; Lt's B is our op(A)^T (K x M), stored M x K
 * when transposed; D (N x M, ld N) is y^T, so the bias runs along D's rows:
 * one value per output feature, broadcast over the M rows of y. */
static enum ax_status lt_build(const struct ax_cuda_dev *d, const struct ax_node *node,
			       struct lt_plan *p, const float *bias)
{
	cudaDataType ab = p->bf16 ? CUDA_R_16BF : CUDA_R_32F;
	int32_t trans_a = p->tb, trans_b = p->ta; /* the swap: Lt's A is our B */
	int b_plain = p->tb == CUBLAS_OP_N, a_plain = p->ta == CUBLAS_OP_N;
	uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
	int32_t bias_type = CUDA_R_32F; /* f32 bias in both precisions */
	uint64_t workspace = d->lt_workspace_bytes;
	uint32_t align = p->align;
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t result;
	int found = 0;
	cublasStatus_t err;
	enum ax_status st;

	st = BLAS_CHECK(node, "cublasLtMatmulDescCreate",
			cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	if (!st)
		st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
				 sizeof(trans_a));
	if (!st)
		st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b,
				 sizeof(trans_b));
	if (!st)
		st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
				 sizeof(epilogue));
	if (!st)
		st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
				 sizeof(bias_type));
	/* The heuristic reads the bias pointer's alignment from the descriptor. */
	if (!st)
		st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
				 sizeof(bias));
	if (!st)
		st = lt_layout(node, &p->la, ab, b_plain ? p->N : p->K, b_plain ? p->K : p->N,
			       p->ldb);
	if (!st)
		st = lt_layout(node, &p->lb, ab, a_plain ? p->K : p->M, a_plain ? p->M : p->K,
			       p->lda);
	if (!st)
		st = lt_layout(node, &p->ld, CUDA_R_32F, p->N, p->M, p->N);
	if (!st)
		st = BLAS_CHECK(node, "cublasLtMatmulPreferenceCreate",
				cublasLtMatmulPreferenceCreate(&pref));
	if (!st)
		st = BLAS_CHECK(node, "cublasLtMatmulPreferenceSetAttribute",
				cublasLtMatmulPreferenceSetAttribute(
					pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
					sizeof(workspace)));
	/* Pointers are only as aligned as the arena or the view makes them
	 * (cuBLASLt assumes 256 bytes unless told). */
	for (int attr = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES;
	     !st && attr <= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES; attr++)
		st = BLAS_CHECK(node, "cublasLtMatmulPreferenceSetAttribute",
				cublasLtMatmulPreferenceSetAttribute(
					pref, (cublasLtMatmulPreferenceAttributes_t)attr, &align,
					sizeof(align)));
	if (!st) {
		/* NOT_SUPPORTED (or INVALID_VALUE for a combination this cuBLASLt
		 * does not take, e.g. a poorly aligned view) only means "no fused
		 * kernel": the fill + GEMM fallback computes the same function. */
		err = cublasLtMatmulAlgoGetHeuristic(d->lt, p->desc, p->la, p->lb, p->ld, p->ld,
						     pref, 1, &result, &found);
		if (err != CUBLAS_STATUS_SUCCESS)
			found = 0;
	}
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	if (st) {
		lt_plan_clear(p);
		return st;
	}
	p->have_algo = found > 0;
	if (p->have_algo)
		p->algo = result.algo;
	return AX_OK;
}

enum ax_status ax_cuda_lt_linear(struct ax_ctx *ctx, const struct ax_node *node,
				 const struct gemm *g, const void *A, const void *B,
				 const float *bias, float *y, int *done)
{
	int dev = ctx->device.index;
	struct ax_cuda_dev *d = ax_cuda_dev(dev);
	const float one = 1.0f, zero = 0.0f;
	struct lt_plan key = {0}, *p = NULL;
	unsigned align = ptr_align(A);
	enum ax_status st;

	*done = 0;
	if (!d || dev < 0 || dev >= MAX_GPUS)
		return AX_OK;
	if (ptr_align(B) < align)
		align = ptr_align(B);
	if (ptr_align(y) < align)
		align = ptr_align(y);
	if (ptr_align(bias) < align)
		align = ptr_align(bias);
	key = (struct lt_plan){.used = 1, .M = g->M, .N = g->N, .K = g->K, .bf16 = g->bf16,
			       .has_bias = 1, .lda = g->lda, .ldb = g->ldb, .ta = g->ta,
			       .tb = g->tb, .align = align};
	for (int i = 0; i < LT_PLANS && !p; i++) {
		if (lt_same(&lt_plans[dev][i], &key))
			p = &lt_plans[dev][i];
	}
	if (!p) {
		for (int i = 0; i < LT_PLANS && !p; i++) {
			if (!lt_plans[dev][i].used)
				p = &lt_plans[dev][i];
		}
		if (!p) {
			p = &lt_plans[dev][lt_next[dev]];
			lt_next[dev] = (lt_next[dev] + 1) % LT_PLANS;
			lt_plan_clear(p);
		}
		*p = key;
		if ((st = lt_build(d, node, p, bias)) != AX_OK)
			return st;
	}
	if (!p->have_algo)
		return AX_OK;
	st = lt_desc_set(node, p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
	if (!st)
		st = BLAS_CHECK(node, "cublasLtMatmul",
				cublasLtMatmul(d->lt, p->desc, &one, B, p->la, A, p->lb, &zero, y,
					       p->ld, y, p->ld, &p->algo, d->lt_workspace,
					       d->lt_workspace_bytes, ax_cuda_stream(ctx)));
	*done = !st;
	return st;
}
