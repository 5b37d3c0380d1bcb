/* cuda/stub.c - the CUDA device and kernel tables of a build without CUDA.
 *
 * count() answers -1 ("not built"), so ax_device_check reports
 * AX_ERR_UNSUPPORTED with a message saying how to get CUDA; the other entries
 * are never reached through the public API but fail the same way. */
#include "../internal.h"

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

const struct ax_device_ops ax_cuda_device_ops = {
	.name = "cuda",
	.count = stub_count,
	.alloc = stub_alloc,
	.free = stub_free,
	.copy = stub_copy,
	.memset_zero = stub_memset_zero,
	.synchronize = stub_synchronize,
};

const struct ax_kernel_table ax_cuda_kernels = {.device = "cuda (not built)"};
