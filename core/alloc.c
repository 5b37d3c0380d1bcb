/* alloc.c - the allocator hook every host allocation goes through.
 *
 * One global table of two function pointers. Tests swap in a wrapper that
 * counts calls or fails the N-th one, which is how "no allocation after the
 * first step" and "no crash or leak when any allocation fails" are proven. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "axon/alloc.h"
#include "axon/status.h"

static void *default_alloc(void *user, size_t size)
{
	void *ptr = NULL;

	(void)user;
	if (posix_memalign(&ptr, AX_ALIGN, size) != 0)
		return NULL;
	return ptr;
}

static void default_free(void *user, void *ptr)
{
	(void)user;
	free(ptr);
}

static const struct ax_allocator default_allocator = {default_alloc, default_free, NULL};
static struct ax_allocator current = {default_alloc, default_free, NULL};

void ax_set_allocator(const struct ax_allocator *allocator)
{
	current = allocator ? *allocator : default_allocator;
}

const struct ax_allocator *ax_default_allocator(void)
{
	return &default_allocator;
}

void *ax_alloc(size_t size)
{
	void *ptr = current.alloc(current.user, size ? size : 1);

	if (!ptr)
		AX_ERROR(AX_ERR_NOMEM, "out of memory allocating %zu bytes", size);
	return ptr;
}

void *ax_calloc(size_t count, size_t size)
{
	unsigned char *ptr;

	if (size && count > SIZE_MAX / size) {
		AX_ERROR(AX_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
		return NULL;
	}
	ptr = ax_alloc(count * size);
	if (ptr)
		memset(ptr, 0, count * size);
	return ptr;
}

void ax_free(void *ptr)
{
	if (ptr)
		current.free(current.user, ptr);
}
