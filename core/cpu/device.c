/* cpu/device.c - the CPU entry of the device table: host memory via the
 * allocator hook, copies are memcpy, nothing to synchronise. */
#include <string.h>

#include "axon/alloc.h"
#include "axon/device.h"

static int cpu_count(void)
{
	return 1;
}

static enum ax_status cpu_alloc(int index, size_t size, void **out)
{
	(void)index;
	*out = ax_alloc(size);
	return *out ? AX_OK : AX_ERR_NOMEM;
}

static void cpu_free(int index, void *ptr)
{
	(void)index;
	ax_free(ptr);
}

static enum ax_status cpu_copy(int index, void *dst, const void *src, size_t size,
			       enum ax_copy_kind kind)
{
	(void)index;
	(void)kind;
	if (size)
		memmove(dst, src, size);
	return AX_OK;
}

static enum ax_status cpu_memset_zero(int index, void *ptr, size_t size)
{
	(void)index;
	if (size)
		memset(ptr, 0, size);
	return AX_OK;
}

static enum ax_status cpu_synchronize(int index)
{
	(void)index;
	return AX_OK;
}

const struct ax_device_ops ax_cpu_device_ops = {
	.name = "cpu",
	.count = cpu_count,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.copy = cpu_copy,
	.memset_zero = cpu_memset_zero,
	.synchronize = cpu_synchronize,
};
