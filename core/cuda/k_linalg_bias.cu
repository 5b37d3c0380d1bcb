/* cuda/k_linalg_bias.cu - the small kernels around the GEMMs of k_linalg.c.
 *
 * k_linalg.c is plain C calling cuBLAS, so the three element-wise pieces it
 * needs live here: writing the bias into every row of linear's output (the
 * fallback when cuBLASLt's bias epilogue is not used), the bias gradient
 * (column sums of dy) and the rounding of f32 operands to bf16 for the
 * bf16 precision mode. Each is one launch on the compute stream.
 *
 * The bias gradient gives one thread per column and walks the rows in order,
 * adding straight onto db: the same additions in the same order as the CPU
 * kernel (bitwise equal results), coalesced across the threads of a warp, no
 * atomics. Its parallelism is the column count, which is ample for linear
 * layers (out_features); a layer with a handful of outputs and very many rows
 * is the slow case. */
#include <cuda_bf16.h>

#include "common.cuh"

/* y (rows, cols) contiguous: y[r, j] = b[j * sb]. */
static __global__ void fill_bias_kernel(float *__restrict__ y, const float *__restrict__ b,
					int64_t sb, int64_t cols, int64_t n)
{
	AX_CU_GRID_STRIDE(i, n)
		y[i] = b[(i % cols) * sb];
}

/* db[j] += dy[0, j] + dy[1, j] + ... in row order, one thread per column. */
static __global__ void bias_grad_kernel(float *__restrict__ db, const float *__restrict__ dy,
					int64_t rows, int64_t cols)
{
	AX_CU_GRID_STRIDE(j, cols) {
		const float *col = dy + j;
		float acc = db[j];

#pragma unroll 8
		for (int64_t r = 0; r < rows; r++)
			acc += col[r * cols];
		db[j] = acc;
	}
}

/* dst[i] = bf16(src at the i-th element of the layout in row-major order). */
static __global__ void to_bf16_kernel(__nv_bfloat16 *__restrict__ dst,
				      const float *__restrict__ src, ax_cu_layout l, int64_t n)
{
	AX_CU_GRID_STRIDE(i, n)
		dst[i] = __float2bfloat16_rn(src[ax_cu_offset(l, i)]);
}

extern "C" {

/* Declared in k_linalg.c (the only caller). */
enum ax_status ax_cuda_linalg_fill_bias(struct ax_ctx *ctx, const struct ax_node *node, float *y,
					const float *b, int64_t sb, int64_t rows, int64_t cols);
enum ax_status ax_cuda_linalg_bias_grad(struct ax_ctx *ctx, const struct ax_node *node,
					float *db, const float *dy, int64_t rows, int64_t cols);
enum ax_status ax_cuda_linalg_to_bf16(struct ax_ctx *ctx, const struct ax_node *node,
				      const struct ax_tensor *t, void *dst);

enum ax_status ax_cuda_linalg_fill_bias(struct ax_ctx *ctx, const struct ax_node *node, float *y,
					const float *b, int64_t sb, int64_t rows, int64_t cols)
{
	int64_t n = rows * cols;

	if (n == 0)
		return AX_OK;
	if (cols == 1)
		sb = 0; /* the stride of a size-1 axis means nothing */
	fill_bias_kernel<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0, ax_cuda_stream(ctx)>>>(
		y, b, sb, cols, n);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_linalg_bias_grad(struct ax_ctx *ctx, const struct ax_node *node,
					float *db, const float *dy, int64_t rows, int64_t cols)
{
	if (rows == 0 || cols == 0)
		return AX_OK;
	bias_grad_kernel<<<ax_cu_grid(cols, AX_CU_THREADS), AX_CU_THREADS, 0,
			   ax_cuda_stream(ctx)>>>(db, dy, rows, cols);
	return AX_CUDA_LAUNCHED(node);
}

enum ax_status ax_cuda_linalg_to_bf16(struct ax_ctx *ctx, const struct ax_node *node,
				      const struct ax_tensor *t, void *dst)
{
	int64_t n = ax_tensor_numel(t);

	if (n == 0)
		return AX_OK;
	to_bf16_kernel<<<ax_cu_grid(n, AX_CU_THREADS), AX_CU_THREADS, 0, ax_cuda_stream(ctx)>>>(
		(__nv_bfloat16 *)dst, (const float *)t->data, ax_cu_layout_of(t), n);
	return AX_CUDA_LAUNCHED(node);
}

} /* extern "C" */
