/* cuda/device.c - the CUDA entry of the device table (CUDA builds only).
 *
 * Memory, copies and synchronisation through the CUDA runtime; every CUDA
 * error is converted into an axon status with the runtime's own message.
 * The pooled allocator and the kernels arrive with the GPU path; until then
 * the CUDA kernel table is empty and ops on a CUDA context report that. */
#include <cuda_runtime.h>

#include "../internal.h"

static enum ax_status cuda_status(cudaError_t err, const char *what)
{
	if (err == cudaSuccess)
		return AX_OK;
	return AX_ERROR(err == cudaErrorMemoryAllocation ? AX_ERR_NOMEM : AX_ERR_DEVICE,
			"cuda: %s failed: %s (%s)", what, cudaGetErrorString(err),
			cudaGetErrorName(err));
}

static int cuda_count(void)
{
	int count = 0;

	if (cudaGetDeviceCount(&count) != cudaSuccess) {
		cudaGetLastError(); /* clear the sticky error: no driver means no GPU */
		return 0;
	}
	return count;
}

static enum ax_status cuda_alloc(int index, size_t size, void **out)
{
	enum ax_status st = cuda_status(cudaSetDevice(index), "cudaSetDevice");

	*out = NULL;
	if (st)
		return st;
	return cuda_status(cudaMalloc(out, size), "cudaMalloc");
}

static void cuda_free(int index, void *ptr)
{
	if (cudaSetDevice(index) == cudaSuccess)
		cudaFree(ptr);
}

static enum ax_status cuda_copy(int index, void *dst, const void *src, size_t size,
				enum ax_copy_kind kind)
{
	static const enum cudaMemcpyKind kinds[] = {
		[AX_COPY_H2D] = cudaMemcpyHostToDevice,
		[AX_COPY_D2H] = cudaMemcpyDeviceToHost,
		[AX_COPY_D2D] = cudaMemcpyDeviceToDevice,
	};
	enum ax_status st = cuda_status(cudaSetDevice(index), "cudaSetDevice");

	if (st || size == 0)
		return st;
	return cuda_status(cudaMemcpy(dst, src, size, kinds[kind]), "cudaMemcpy");
}

static enum ax_status cuda_memset_zero(int index, void *ptr, size_t size)
{
	enum ax_status st = cuda_status(cudaSetDevice(index), "cudaSetDevice");

	if (st || size == 0)
		return st;
	return cuda_status(cudaMemset(ptr, 0, size), "cudaMemset");
}

static enum ax_status cuda_synchronize(int index)
{
	enum ax_status st = cuda_status(cudaSetDevice(index), "cudaSetDevice");

	if (st)
		return st;
	return cuda_status(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

const struct ax_device_ops ax_cuda_device_ops = {
	.name = "cuda",
	.count = cuda_count,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.copy = cuda_copy,
	.memset_zero = cuda_memset_zero,
	.synchronize = cuda_synchronize,
};

/* No CUDA kernels yet: every op on a CUDA context reports "no cuda kernel". */
const struct ax_kernel_table ax_cuda_kernels = {.device = "cuda"};
