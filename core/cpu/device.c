/* cpu/device.c - the CPU entry of the device table: host memory via the
 * allocator hook, copies are memcpy, nothing to synchronise. */
#include <stdio.h>
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

static enum ax_status cpu_host_alloc(size_t size, void **out)
{
	*out = ax_alloc(size ? size : 1);
	return *out ? AX_OK : AX_ERR_NOMEM;
}

static void cpu_host_free(void *ptr)
{
	ax_free(ptr);
}

static enum ax_status cpu_upload_async(int index, void *dst, const void *src, size_t size,
				       void *event)
{
	(void)event;
	return cpu_copy(index, dst, src, size, AX_COPY_H2D);
}

/* The CPU has nothing asynchronous: an event is a non-NULL token. */
static enum ax_status cpu_event_create(void **out)
{
	static char token;

	*out = &token;
	return AX_OK;
}

static void cpu_event_destroy(void *event)
{
	(void)event;
}

static enum ax_status cpu_event_wait_host(void *event)
{
	(void)event;
	return AX_OK;
}

static enum ax_status cpu_describe(int index, char *buf, size_t len)
{
	(void)index;
	snprintf(buf, len, "cpu");
	return AX_OK;
}

static enum ax_status cpu_open(int index)
{
	(void)index;
	return AX_OK;
}

const struct ax_device_ops ax_cpu_device_ops = {
	.name = "cpu",
	.count = cpu_count,
	.open = cpu_open,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.copy = cpu_copy,
	.memset_zero = cpu_memset_zero,
	.synchronize = cpu_synchronize,
	.host_alloc = cpu_host_alloc,
	.host_free = cpu_host_free,
	.upload_async = cpu_upload_async,
	.event_create = cpu_event_create,
	.event_destroy = cpu_event_destroy,
	.event_wait_host = cpu_event_wait_host,
	.describe = cpu_describe,
};
