/* cuda/cuda_internal.h - what the CUDA backend's files share (C and CUDA C++).
 *
 * One struct ax_cuda_dev per GPU ordinal, opened lazily by the first context,
 * parameter store or tensor on that GPU and kept until exit. It owns:
 *   - three streams: `compute` (every kernel and cuBLAS call of the engine, in
 *     tape order), `upload` (host-to-device batch copies) and `comm` (NCCL);
 *     work crosses streams only through events, never a device-wide sync;
 *   - the cuBLAS and cuBLASLt handles (bound to `compute`) and cuBLASLt's
 *     workspace;
 *   - the caching pool every device allocation comes from (pool.c), so the
 *     steady state of training makes no cudaMalloc.
 *
 * Kernels are `ax_cuda_fwd_<name>` / `ax_cuda_bwd_<name>` with the CPU
 * kernels' contract (internal.h): inputs may be strided views, outputs and
 * gradients are contiguous, backward kernels ADD into gradients obtained from
 * ax_grad_of. Every launch goes on ax_cuda_stream(ctx) and is followed by
 * AX_CUDA_LAUNCHED(node) so that a bad launch names its op. Scratch memory a
 * kernel keeps for backward comes from ax_ctx_alloc_data (device arena). */
#ifndef AXON_CUDA_INTERNAL_H
#define AXON_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../internal.h"
#include "../pool.h"
#include "flat.h"

struct ax_cuda_dev {
	int index;
	int sm_count;
	int cc_major, cc_minor;
	char name[256];
	cudaStream_t compute;
	cudaStream_t upload;
	cudaStream_t comm;
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	void *lt_workspace;
	size_t lt_workspace_bytes;
	struct ax_pool pool;
};

/* ax_cuda_dev_open - the state of GPU `index`, created on first use (streams,
 * handles, pool). Errors: AX_ERR_DEVICE naming the failed CUDA/cuBLAS call. */
enum ax_status ax_cuda_dev_open(int index, struct ax_cuda_dev **out);

/* ax_cuda_dev - the state of a GPU already opened (a context on it exists). */
struct ax_cuda_dev *ax_cuda_dev(int index);

static inline cudaStream_t ax_cuda_stream(const struct ax_ctx *ctx)
{
	return ax_cuda_dev(ctx->device.index)->compute;
}

/* Status from a CUDA runtime / cuBLAS result, naming `what` (the call) and
 * the runtime's own message; AX_OK for success. */
enum ax_status ax_cuda_error_at(cudaError_t err, const char *what, const char *file, int line);
enum ax_status ax_cublas_error_at(cublasStatus_t err, const char *what, const char *file,
				  int line);
#define AX_CUDA_CHECK(call) ax_cuda_error_at((call), #call, __FILE__, __LINE__)
#define AX_CUBLAS_CHECK(call) ax_cublas_error_at((call), #call, __FILE__, __LINE__)

/* After a kernel launch: AX_OK, or the launch error prefixed by the op name. */
enum ax_status ax_cuda_launched_at(const struct ax_node *node, const char *file, int line);
#define AX_CUDA_LAUNCHED(node) ax_cuda_launched_at((node), __FILE__, __LINE__)

/* Context precision for matmul/linear (ax_ctx_options.precision). */
static inline int ax_cuda_bf16(const struct ax_ctx *ctx)
{
	return ctx->precision == AX_PRECISION_BF16;
}

/* Shared building blocks of the kernels (acc.cu). All run on the compute
 * stream and work on f32 tensors of any strides.
 * ax_cuda_acc: dst += src, src broadcast to dst's shape, or summed down to
 *   dst's shape when dst's shape broadcasts to src's (the reduction that the
 *   backward of broadcasting needs), like ax_cpu_acc.
 * ax_cuda_copy: dst = src, same shape (any 4-byte dtype).
 * ax_cuda_dense: a contiguous version of t (t itself when it already is;
 *   otherwise a copy in the device arena). */
enum ax_status ax_cuda_acc(struct ax_ctx *ctx, struct ax_tensor *dst, const struct ax_tensor *src);
enum ax_status ax_cuda_copy(struct ax_ctx *ctx, struct ax_tensor *dst, const struct ax_tensor *src);
enum ax_status ax_cuda_dense(struct ax_ctx *ctx, const struct ax_tensor *t,
			     const struct ax_tensor **out);

/* Kernels, declared from the op list (CUDA builds only). */
#define AX_X(E, n, f)                                                         \
	enum ax_status ax_cuda_fwd_##n(struct ax_ctx *ctx, struct ax_node *node); \
	enum ax_status ax_cuda_bwd_##n(struct ax_ctx *ctx, struct ax_node *node);
AX_OP_LIST(AX_X)
#undef AX_X

#ifdef __cplusplus
}
#endif
#endif
