/* pool.h - a caching allocator over a raw allocator (cudaMalloc).
 *
 * Device allocation is slow (cudaMalloc/cudaFree synchronise the device), so
 * blocks are never handed back to the driver while training runs: a freed
 * block goes on the free list of its size class and the next request of that
 * class takes it. Sizes are rounded up to a class: multiples of 512 bytes up
 * to 1 MiB, then multiples of 2 MiB, so a step with the same shapes as the
 * previous one finds every block it needs cached. When the raw allocator
 * fails, the pool hands every cached block back and tries once more.
 *
 * The pool knows nothing about CUDA (the raw functions are parameters), so
 * its bookkeeping is tested on the CPU (tests/test_pool.c). Not thread-safe:
 * one pool per device, used from the thread that runs the engine. */
#ifndef AXON_POOL_H
#define AXON_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ax_status (*ax_pool_raw_alloc)(void *user, size_t size, void **out);
typedef void (*ax_pool_raw_free)(void *user, void *ptr);

struct ax_pool_block;

struct ax_pool_stats {
	size_t bytes_in_use;     /* handed out and not yet freed (rounded sizes) */
	size_t bytes_cached;     /* free, kept for reuse */
	size_t peak_in_use;
	int64_t raw_allocs;      /* calls to the raw allocator that succeeded */
	int64_t raw_frees;
	int64_t hits;            /* requests served from the cache */
};

struct ax_pool {
	ax_pool_raw_alloc raw_alloc;
	ax_pool_raw_free raw_free;
	void *user;
	struct ax_pool_block *free_list; /* cached blocks, any class */
	struct ax_pool_block *live;      /* blocks handed out, for lookup at free */
	struct ax_pool_stats stats;
};

/* ax_pool_class_size - the size a request of `size` bytes is rounded up to. */
size_t ax_pool_class_size(size_t size);

void ax_pool_init(struct ax_pool *pool, ax_pool_raw_alloc raw_alloc, ax_pool_raw_free raw_free,
		  void *user);

/* ax_pool_alloc - a block of at least `size` bytes (a cached one of the same
 * class when there is one). Errors: AX_ERR_NOMEM (raw allocator failed even
 * after trimming the cache), or the raw allocator's status. */
enum ax_status ax_pool_alloc(struct ax_pool *pool, size_t size, void **out);

/* ax_pool_free - give a block back to the cache; NULL is a no-op. Returns
 * AX_ERR_INVALID for a pointer the pool did not hand out. */
enum ax_status ax_pool_free(struct ax_pool *pool, void *ptr);

/* ax_pool_trim - hand every cached block back to the raw allocator. */
void ax_pool_trim(struct ax_pool *pool);

/* ax_pool_destroy - trim, and hand back live blocks too (at exit). */
void ax_pool_destroy(struct ax_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
