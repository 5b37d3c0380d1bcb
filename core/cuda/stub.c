/* cuda/stub.c - the CUDA device and kernel tables of a build without CUDA.
 *
 * count() answers -1 ("not built"), so ax_device_check reports
 * AX_ERR_UNSUPPORTED with a message saying how to get CUDA; the other entries
 * are never reached through the public API but fail the same way. */
#include "../internal.h"
#include "flat.h"

static int stub_count(void)
{
	return -1;
}

static enum ax_status unsupported(void)
{
	return AX_ERROR(AX_ERR_UNSUPPORTED, "this axon was built without CUDA; rebuild with "
			"-DAXON_CUDA=ON on a machine with the CUDA toolkit");
}

static enum ax_status stub_alloc(int index, size_t size, void **out)
{
	(void)index;
	(void)size;
	*out = NULL;
	return unsupported();
}

static void stub_free(int index, void *ptr)
{
	(void)index;
	(void)ptr;
}

static enum ax_status stub_copy(int index, void *dst, const void *src, size_t size,
				enum ax_copy_kind kind)
{
	(void)index;
	(void)dst;
	(void)src;
	(void)size;
	(void)kind;
	return unsupported();
}

static enum ax_status stub_memset_zero(int index, void *ptr, size_t size)
{
	(void)index;
	(void)ptr;
	(void)size;
	return unsupported();
}

static enum ax_status stub_synchronize(int index)
{
	(void)index;
	return unsupported();
}

static enum ax_status stub_host_alloc(size_t size, void **out)
{
	(void)size;
	*out = NULL;
	return unsupported();
}

static void stub_host_free(void *ptr)
{
	(void)ptr;
}

static enum ax_status stub_upload_async(int index, void *dst, const void *src, size_t size,
					void *event)
{
	(void)index;
	(void)dst;
	(void)src;
	(void)size;
	(void)event;
	return unsupported();
}

static enum ax_status stub_event_create(void **out)
{
	*out = NULL;
	return unsupported();
}

static void stub_event_destroy(void *event)
{
	(void)event;
}

static enum ax_status stub_event_wait_host(void *event)
{
	(void)event;
	return unsupported();
}

static enum ax_status stub_describe(int index, char *buf, size_t len)
{
	(void)index;
	(void)buf;
	(void)len;
	return unsupported();
}

static enum ax_status stub_open(int index)
{
	(void)index;
	return unsupported();
}

const struct ax_device_ops ax_cuda_device_ops = {
	.name = "cuda",
	.count = stub_count,
	.open = stub_open,
	.alloc = stub_alloc,
	.free = stub_free,
	.copy = stub_copy,
	.memset_zero = stub_memset_zero,
	.synchronize = stub_synchronize,
	.host_alloc = stub_host_alloc,
	.host_free = stub_host_free,
	.upload_async = stub_upload_async,
	.event_create = stub_event_create,
	.event_destroy = stub_event_destroy,
	.event_wait_host = stub_event_wait_host,
	.describe = stub_describe,
};

const struct ax_kernel_table ax_cuda_kernels = {.device = "cuda (not built)"};

/* The flat-buffer passes (cuda/flat.h): unreachable without a GPU store,
 * which ax_params_create refuses in this build. */
enum ax_status ax_cuda_adam_step(int index, float *w, const float *g, float *m, float *v,
				 const struct ax_cuda_slice *slices, int n_slices, int64_t max_numel,
				 const struct ax_cuda_adam_args *args)
{
	return unsupported();
}

enum ax_status ax_cuda_sgd_step(int index, float *w, const float *g, float *buf,
				const struct ax_cuda_slice *slices, int n_slices, int64_t max_numel,
				const struct ax_cuda_sgd_args *args)
{
	return unsupported();
}

enum ax_status ax_cuda_sum_squares(int index, const float *g, const struct ax_cuda_slice *slices,
				   int n_slices, int64_t max_numel, double *out)
{
	*out = 0.0;
	return unsupported();
}

enum ax_status ax_cuda_scale(int index, float *g, const struct ax_cuda_slice *slices,
			     int n_slices, int64_t max_numel, float coef)
{
	return unsupported();
}

enum ax_status ax_cuda_count_nonfinite(int index, const float *x, int64_t n, int64_t *out)
{
	*out = 0;
	return unsupported();
}
