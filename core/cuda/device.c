/* cuda/device.c - the CUDA entry of the device table (CUDA builds only).
 *
 * Each GPU gets one struct ax_cuda_dev, opened on first use: the compute,
 * upload and comm streams, cuBLAS and cuBLASLt handles bound to the compute
 * stream, cuBLASLt's workspace, and the caching pool (core/pool.c) that every
 * device allocation goes through. Copies and memsets are queued on the compute
 * stream, so they are ordered with the kernels without any device-wide
 * synchronisation; copies to or from the host then wait for that stream (the
 * host memory must be valid when the call returns). The streams are created
 * non-blocking: nothing in axon uses the legacy default stream, and a library
 * that does (an embedding program) does not serialise against axon.
 *
 * Every CUDA and cuBLAS error is converted here into an axon status with the
 * runtime's own name and message. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_internal.h"

#define MAX_GPUS 16
#define LT_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLASLt's recommendation for Hopper */

static struct ax_cuda_dev *devs[MAX_GPUS];

enum ax_status ax_cuda_error_at(cudaError_t err, const char *what, const char *file, int line)
{
	if (err == cudaSuccess)
		return AX_OK;
	return ax_error_set(err == cudaErrorMemoryAllocation ? AX_ERR_NOMEM : AX_ERR_DEVICE, file,
			    line, "cuda: %s failed: %s (%s)", what, cudaGetErrorString(err),
			    cudaGetErrorName(err));
}

enum ax_status ax_cublas_error_at(cublasStatus_t err, const char *what, const char *file, int line)
{
	if (err == CUBLAS_STATUS_SUCCESS)
		return AX_OK;
	return ax_error_set(err == CUBLAS_STATUS_ALLOC_FAILED ? AX_ERR_NOMEM : AX_ERR_DEVICE, file,
			    line, "cublas: %s failed: %s (%s)", what, cublasGetStatusString(err),
			    cublasGetStatusName(err));
}

enum ax_status ax_cuda_launched_at(const struct ax_node *node, const char *file, int line)
{
	cudaError_t err = cudaGetLastError();

	if (err == cudaSuccess)
		return AX_OK;
	return ax_error_set(AX_ERR_DEVICE, file, line, "%s: CUDA kernel launch failed: %s (%s)",
			    ax_op_table[node->op].name, cudaGetErrorString(err),
			    cudaGetErrorName(err));
}

/* The pool's raw allocator: cudaMalloc on the pool's GPU. */
static enum ax_status raw_alloc(void *user, size_t size, void **out)
{
	struct ax_cuda_dev *d = user;
	enum ax_status st = AX_CUDA_CHECK(cudaSetDevice(d->index));

	*out = NULL;
	if (st)
		return st;
	st = AX_CUDA_CHECK(cudaMalloc(out, size));
	if (st == AX_ERR_NOMEM) {
		size_t free_bytes = 0, total = 0;

		cudaGetLastError();
		cudaMemGetInfo(&free_bytes, &total);
		return AX_ERROR(AX_ERR_NOMEM, "cuda:%d: out of GPU memory allocating %zu MiB (%zu MiB "
				"of %zu MiB free); lower the batch size or the model size",
				d->index, size >> 20, free_bytes >> 20, total >> 20);
	}
	return st;
}

static void raw_free(void *user, void *ptr)
{
	struct ax_cuda_dev *d = user;

	if (cudaSetDevice(d->index) == cudaSuccess)
		cudaFree(ptr);
}

struct ax_cuda_dev *ax_cuda_dev(int index)
{
	return index >= 0 && index < MAX_GPUS ? devs[index] : NULL;
}

static void close_all(void)
{
	for (int i = 0; i < MAX_GPUS; i++) {
		struct ax_cuda_dev *d = devs[i];

		if (!d)
			continue;
		if (cudaSetDevice(i) == cudaSuccess) {
			cudaDeviceSynchronize();
			ax_pool_destroy(&d->pool);
			if (d->lt_workspace)
				cudaFree(d->lt_workspace);
			cublasLtDestroy(d->lt);
			cublasDestroy(d->blas);
			cudaStreamDestroy(d->compute);
			cudaStreamDestroy(d->upload);
			cudaStreamDestroy(d->comm);
		}
		free(d);
		devs[i] = NULL;
	}
}

enum ax_status ax_cuda_dev_open(int index, struct ax_cuda_dev **out)
{
	struct ax_cuda_dev *d;
	struct cudaDeviceProp prop;
	enum ax_status st;
	static int registered;

	*out = NULL;
	if (index < 0 || index >= MAX_GPUS)
		return AX_ERROR(AX_ERR_DEVICE, "cuda:%d: axon handles GPU ordinals 0..%d", index,
				MAX_GPUS - 1);
	if (devs[index]) {
		*out = devs[index];
		return AX_OK;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return AX_ERR_NOMEM;
	d->index = index;
	st = AX_CUDA_CHECK(cudaSetDevice(index));
	if (!st)
		st = AX_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
	if (st) {
		free(d);
		return st;
	}
	d->sm_count = prop.multiProcessorCount;
	d->cc_major = prop.major;
	d->cc_minor = prop.minor;
	snprintf(d->name, sizeof(d->name), "%s", prop.name);
	st = AX_CUDA_CHECK(cudaStreamCreateWithFlags(&d->compute, cudaStreamNonBlocking));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamCreateWithFlags(&d->upload, cudaStreamNonBlocking));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamCreateWithFlags(&d->comm, cudaStreamNonBlocking));
	if (!st)
		st = AX_CUBLAS_CHECK(cublasCreate(&d->blas));
	if (!st)
		st = AX_CUBLAS_CHECK(cublasSetStream(d->blas, d->compute));
	/* FP32 GEMMs stay FP32: no TF32 behind the user's back (bf16 is opt-in). */
	if (!st)
		st = AX_CUBLAS_CHECK(cublasSetMathMode(d->blas, CUBLAS_DEFAULT_MATH));
	if (!st)
		st = AX_CUBLAS_CHECK(cublasLtCreate(&d->lt));
	if (!st) {
		d->lt_workspace_bytes = LT_WORKSPACE_BYTES;
		st = AX_CUDA_CHECK(cudaMalloc(&d->lt_workspace, d->lt_workspace_bytes));
	}
	if (!st)
		st = AX_CUBLAS_CHECK(cublasSetWorkspace(d->blas, d->lt_workspace,
							d->lt_workspace_bytes));
	if (st) {
		/* Half-made state: release what exists (handles are NULL when not made). */
		if (d->lt_workspace)
			cudaFree(d->lt_workspace);
		if (d->lt)
			cublasLtDestroy(d->lt);
		if (d->blas)
			cublasDestroy(d->blas);
		if (d->compute)
			cudaStreamDestroy(d->compute);
		if (d->upload)
			cudaStreamDestroy(d->upload);
		if (d->comm)
			cudaStreamDestroy(d->comm);
		free(d);
		return st;
	}
	ax_pool_init(&d->pool, raw_alloc, raw_free, d);
	devs[index] = d;
	if (!registered) {
		registered = 1;
		atexit(close_all);
	}
	*out = d;
	return AX_OK;
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
	struct ax_cuda_dev *d;
	enum ax_status st = ax_cuda_dev_open(index, &d);

	*out = NULL;
	if (st)
		return st;
	return ax_pool_alloc(&d->pool, size, out);
}

static void cuda_free(int index, void *ptr)
{
	struct ax_cuda_dev *d = ax_cuda_dev(index);

	/* Blocks go back to the cache; later work on the stream may still be
	 * reading them, which is fine because the next user queues its work on
	 * the same stream, after it. */
	if (d && ptr)
		ax_pool_free(&d->pool, ptr);
}

static enum ax_status cuda_copy(int index, void *dst, const void *src, size_t size,
				enum ax_copy_kind kind)
{
	static const enum cudaMemcpyKind kinds[] = {
		[AX_COPY_H2D] = cudaMemcpyHostToDevice,
		[AX_COPY_D2H] = cudaMemcpyDeviceToHost,
		[AX_COPY_D2D] = cudaMemcpyDeviceToDevice,
	};
	struct ax_cuda_dev *d;
	enum ax_status st = ax_cuda_dev_open(index, &d);

	if (st || size == 0)
		return st;
	st = AX_CUDA_CHECK(cudaSetDevice(index));
	if (!st)
		st = AX_CUDA_CHECK(cudaMemcpyAsync(dst, src, size, kinds[kind], d->compute));
	/* Host memory must be settled when the call returns. */
	if (!st && kind != AX_COPY_D2D)
		st = AX_CUDA_CHECK(cudaStreamSynchronize(d->compute));
	return st;
}

static enum ax_status cuda_memset_zero(int index, void *ptr, size_t size)
{
	struct ax_cuda_dev *d;
	enum ax_status st = ax_cuda_dev_open(index, &d);

	if (st || size == 0)
		return st;
	return AX_CUDA_CHECK(cudaMemsetAsync(ptr, 0, size, d->compute));
}

static enum ax_status cuda_synchronize(int index)
{
	enum ax_status st = AX_CUDA_CHECK(cudaSetDevice(index));

	if (st)
		return st;
	return AX_CUDA_CHECK(cudaDeviceSynchronize());
}

static enum ax_status cuda_host_alloc(size_t size, void **out)
{
	*out = NULL;
	return AX_CUDA_CHECK(cudaHostAlloc(out, size ? size : 1, cudaHostAllocPortable));
}

static void cuda_host_free(void *ptr)
{
	if (ptr)
		cudaFreeHost(ptr);
}

/* Upload on the upload stream; the compute stream waits for it through an
 * event, so kernels queued later see the data and kernels already queued run
 * on while it travels. `done` (an event per staging slot) lets the host know
 * when it may overwrite `src`. */
static enum ax_status cuda_upload_async(int index, void *dst, const void *src, size_t size,
					void *done_event)
{
	struct ax_cuda_dev *d;
	cudaEvent_t ev = done_event;
	enum ax_status st = ax_cuda_dev_open(index, &d);

	if (st)
		return st;
	st = AX_CUDA_CHECK(cudaSetDevice(index));
	/* The slot's device buffer may still be read by earlier compute work. */
	if (!st)
		st = AX_CUDA_CHECK(cudaEventRecord(ev, d->compute));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamWaitEvent(d->upload, ev, 0));
	if (!st && size)
		st = AX_CUDA_CHECK(cudaMemcpyAsync(dst, src, size, cudaMemcpyHostToDevice,
						   d->upload));
	if (!st)
		st = AX_CUDA_CHECK(cudaEventRecord(ev, d->upload));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamWaitEvent(d->compute, ev, 0));
	return st;
}

static enum ax_status cuda_event_create(void **out)
{
	cudaEvent_t ev = NULL;
	enum ax_status st = AX_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));

	*out = st ? NULL : ev;
	return st;
}

static void cuda_event_destroy(void *event)
{
	if (event)
		cudaEventDestroy((cudaEvent_t)event);
}

static enum ax_status cuda_event_wait_host(void *event)
{
	return AX_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)event));
}

static enum ax_status cuda_describe(int index, char *buf, size_t len)
{
	struct cudaDeviceProp prop;
	enum ax_status st = AX_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));

	if (st)
		return st;
	snprintf(buf, len, "%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor,
		 prop.multiProcessorCount, (double)prop.totalGlobalMem / (1 << 30));
	return AX_OK;
}

static enum ax_status cuda_open(int index)
{
	struct ax_cuda_dev *d;

	return ax_cuda_dev_open(index, &d);
}

const struct ax_device_ops ax_cuda_device_ops = {
	.name = "cuda",
	.count = cuda_count,
	.open = cuda_open,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.copy = cuda_copy,
	.memset_zero = cuda_memset_zero,
	.synchronize = cuda_synchronize,
	.host_alloc = cuda_host_alloc,
	.host_free = cuda_host_free,
	.upload_async = cuda_upload_async,
	.event_create = cuda_event_create,
	.event_destroy = cuda_event_destroy,
	.event_wait_host = cuda_event_wait_host,
	.describe = cuda_describe,
};
