/* pool.c - the caching allocator (see pool.h).
 *
 * Bookkeeping is two singly linked lists of small host records: cached blocks
 * and live blocks. A training step holds few device blocks (the arena's one
 * chunk per context, the parameter store, optimizer state, batch slots), so
 * linear lists are cheaper than any tree; the per-op allocations of a step
 * come from the arena, not from here. */
#include "pool.h"

#include "axon/alloc.h"

struct ax_pool_block {
	struct ax_pool_block *next;
	void *ptr;
	size_t size; /* class size */
};

#define SMALL_QUANTUM ((size_t)512)
#define SMALL_LIMIT ((size_t)1 << 20)
#define LARGE_QUANTUM ((size_t)2 << 20)

size_t ax_pool_class_size(size_t size)
{
	size_t q = size <= SMALL_LIMIT ? SMALL_QUANTUM : LARGE_QUANTUM;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - q)
		return 0;
	return (size + q - 1) / q * q;
}

void ax_pool_init(struct ax_pool *pool, ax_pool_raw_alloc raw_alloc, ax_pool_raw_free raw_free,
		  void *user)
{
	pool->raw_alloc = raw_alloc;
	pool->raw_free = raw_free;
	pool->user = user;
	pool->free_list = NULL;
	pool->live = NULL;
	pool->stats = (struct ax_pool_stats){0};
}

static void note_live(struct ax_pool *pool, struct ax_pool_block *b)
{
	b->next = pool->live;
	pool->live = b;
	pool->stats.bytes_in_use += b->size;
	if (pool->stats.bytes_in_use > pool->stats.peak_in_use)
		pool->stats.peak_in_use = pool->stats.bytes_in_use;
}

enum ax_status ax_pool_alloc(struct ax_pool *pool, size_t size, void **out)
{
	size_t want = ax_pool_class_size(size);
	struct ax_pool_block **link, *b;
	enum ax_status st;

	*out = NULL;
	if (want == 0)
		return AX_ERROR(AX_ERR_NOMEM, "device pool: a request of %zu bytes is too large",
				size);
	for (link = &pool->free_list; *link; link = &(*link)->next) {
		if ((*link)->size == want) {
			b = *link;
			*link = b->next;
			pool->stats.bytes_cached -= b->size;
			pool->stats.hits++;
			note_live(pool, b);
			*out = b->ptr;
			return AX_OK;
		}
	}
	b = ax_alloc(sizeof(*b));
	if (!b)
		return AX_ERR_NOMEM;
	b->size = want;
	st = pool->raw_alloc(pool->user, want, &b->ptr);
	if (st == AX_ERR_NOMEM && pool->free_list) {
		/* Cached blocks of other classes may be what stands in the way. */
		ax_clear_error();
		ax_pool_trim(pool);
		st = pool->raw_alloc(pool->user, want, &b->ptr);
	}
	if (st) {
		ax_free(b);
		return st;
	}
	pool->stats.raw_allocs++;
	note_live(pool, b);
	*out = b->ptr;
	return AX_OK;
}

enum ax_status ax_pool_free(struct ax_pool *pool, void *ptr)
{
	struct ax_pool_block **link, *b;

	if (!ptr)
		return AX_OK;
	for (link = &pool->live; *link; link = &(*link)->next) {
		if ((*link)->ptr == ptr) {
			b = *link;
			*link = b->next;
			pool->stats.bytes_in_use -= b->size;
			b->next = pool->free_list;
			pool->free_list = b;
			pool->stats.bytes_cached += b->size;
			return AX_OK;
		}
	}
	return AX_ERROR(AX_ERR_INVALID, "device pool: %p was not allocated by this pool "
			"(double free?)", ptr);
}

static void release_list(struct ax_pool *pool, struct ax_pool_block **list)
{
	while (*list) {
		struct ax_pool_block *b = *list;

		*list = b->next;
		pool->raw_free(pool->user, b->ptr);
		pool->stats.raw_frees++;
		ax_free(b);
	}
}

void ax_pool_trim(struct ax_pool *pool)
{
	release_list(pool, &pool->free_list);
	pool->stats.bytes_cached = 0;
}

void ax_pool_destroy(struct ax_pool *pool)
{
	ax_pool_trim(pool);
	release_list(pool, &pool->live);
	pool->stats.bytes_in_use = 0;
}
