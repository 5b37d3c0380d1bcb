/* cuda/linalg.h - what k_linalg.c (matmul, linear) and linalg_lt.c (the
 * cuBLASLt bias-epilogue plans) share: the row-major GEMM description, error
 * conversion naming the op, and the small kernels of k_linalg_bias.cu. */
#ifndef AXON_CUDA_LINALG_H
#define AXON_CUDA_LINALG_H

#include "cuda_internal.h"

/* k_linalg_bias.cu: y (rows, cols) = b broadcast over rows (b's stride sb);
 * db += column sums of dy (rows, cols); dst = t rounded to bf16, dense in
 * t's row-major element order. Each is one launch on the compute stream. */
enum ax_status ax_cuda_linalg_fill_bias(struct ax_ctx *ctx, const struct ax_node *node, float *y,
					const float *b, int64_t sb, int64_t rows, int64_t cols);
enum ax_status ax_cuda_linalg_bias_grad(struct ax_ctx *ctx, const struct ax_node *node,
					float *db, const float *dy, int64_t rows, int64_t cols);
enum ax_status ax_cuda_linalg_to_bf16(struct ax_ctx *ctx, const struct ax_node *node,
				      const struct ax_tensor *t, void *dst);

#define MAX_GPUS 16 /* as device.c */

/* One row-major product C (M, N) = op(A) (M, K) @ op(B) (K, N) + beta C,
 * alpha = 1. ta/tb and the leading dimensions are in the row-major sense of
 * struct gmat; A and B are bf16 when `bf16`, else f32; C is always f32. */
struct gemm {
	int bf16;
	cublasOperation_t ta, tb;
	int M, N, K;
	int lda, ldb, ldc;
	float beta;
};

/* A failed cuBLAS / CUDA call as a status whose message starts with the op's
 * name; AX_OK on success (linalg_lt.c). */
enum ax_status ax_cuda_blas_check(const struct ax_node *node, cublasStatus_t err,
				  const char *call, int line);
enum ax_status ax_cuda_node_check(const struct ax_node *node, cudaError_t err, const char *call,
				  int line);
#define BLAS_CHECK(node, name, call) ax_cuda_blas_check((node), (call), (name), __LINE__)
#define CUDA_CHECK(node, name, call) ax_cuda_node_check((node), (call), (name), __LINE__)

/* y (M, N) = op(A) op(B) + bias in one cuBLASLt call with the bias epilogue,
 * when cuBLASLt has an algorithm for the problem (*done = 1); otherwise
 * *done = 0 and nothing ran (the caller falls back to fill + GEMM). The bias
 * is packed (stride 1) with N elements. Plans are cached per GPU and shape. */
enum ax_status ax_cuda_lt_linear(struct ax_ctx *ctx, const struct ax_node *node,
				 const struct gemm *g, const void *A, const void *B,
				 const float *bias, float *y, int *done);

#endif
