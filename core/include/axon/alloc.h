/* axon/alloc.h - the allocator hook.
 *
 * Every host allocation that axon makes goes through these two calls, so a
 * program (or a test) can count allocations, place them, or fail the N-th one.
 * Device memory (CUDA) has its own pooled allocator behind the device table. */
#ifndef AXON_ALLOC_H
#define AXON_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* All axon host allocations are aligned to this many bytes (a cache line, and
 * enough for any SIMD load). */
#define AX_ALIGN 64

struct ax_allocator {
	/* Return `size` bytes aligned to AX_ALIGN, or NULL. size is never 0. */
	void *(*alloc)(void *user, size_t size);
	/* Release a block from alloc. ptr is never NULL. */
	void (*free)(void *user, void *ptr);
	void *user;
};

/* ax_set_allocator - route every later axon allocation through `allocator`;
 * NULL restores the default (posix_memalign/free). The struct is copied.
 * Switch only while axon holds no memory from the previous allocator, or
 * make the new allocator able to free the old one's blocks (a counting or
 * failing wrapper around the default does this). Not thread-safe. */
void ax_set_allocator(const struct ax_allocator *allocator);

/* ax_default_allocator - the allocator axon uses when none is set, for
 * wrappers that count or fail and pass the rest through. */
const struct ax_allocator *ax_default_allocator(void);

/* ax_alloc - `size` bytes aligned to AX_ALIGN, uninitialised; NULL (with the
 * last error set to AX_ERR_NOMEM) on failure. size 0 allocates 1 byte. */
void *ax_alloc(size_t size);

/* ax_calloc - as ax_alloc, zero-filled; checks count * size for overflow. */
void *ax_calloc(size_t count, size_t size);

/* ax_free - release a block from ax_alloc/ax_calloc; NULL is a no-op. */
void ax_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
