/* arena.c - the per-step arena: chunked bump allocation, reset after each step.
 *
 * Activations, saved tensors, gradients of intermediates and tape records all
 * come from here. Allocation bumps a pointer in the newest chunk; when it is
 * full a new chunk at least as big as everything held so far is added (so a
 * step needs O(log size) chunks). Reset rewinds; when the step used more than
 * one chunk, reset swaps them for a single chunk of their total size, so the
 * next step of the same shape fits in one chunk and allocates nothing.
 * Chunk headers are host memory; chunk data is on the arena's device. */
#include <string.h>

#include "internal.h"

static size_t align_up(size_t n)
{
	return (n + AX_ALIGN - 1) & ~(size_t)(AX_ALIGN - 1);
}

struct ax_arena_chunk {
	struct ax_arena_chunk *next;
	char *base;   /* on the arena's device */
	size_t size;
	size_t used;
};

static struct ax_arena_chunk *chunk_new(struct ax_arena *arena, size_t size)
{
	const struct ax_device_ops *dev = ax_device_ops_get(arena->device.kind);
	struct ax_arena_chunk *c = ax_alloc(sizeof(*c));

	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	c->base = NULL;
	if (dev->alloc(arena->device.index, size, (void **)&c->base) != AX_OK) {
		ax_free(c);
		return NULL;
	}
	return c;
}

static void chunk_free(struct ax_arena *arena, struct ax_arena_chunk *c)
{
	ax_device_ops_get(arena->device.kind)->free(arena->device.index, c->base);
	ax_free(c);
}

void ax_arena_init(struct ax_arena *arena, struct ax_device device, size_t chunk_bytes)
{
	memset(arena, 0, sizeof(*arena));
	arena->device = device;
	arena->chunk_bytes = align_up(chunk_bytes ? chunk_bytes : (size_t)1 << 20);
}

void *ax_arena_alloc(struct ax_arena *arena, size_t size)
{
	struct ax_arena_chunk *c = arena->head;
	size_t need = align_up(size ? size : 1);
	void *ptr;

	if (!c || c->size - c->used < need) {
		size_t want = arena->capacity > arena->chunk_bytes ? arena->capacity
								     : arena->chunk_bytes;
		if (want < need)
			want = need;
		c = chunk_new(arena, want);
		if (!c) {
			AX_ERROR(AX_ERR_NOMEM, "step arena: out of memory adding a %zu-byte chunk "
				 "(the step already holds %zu bytes)", want, arena->used);
			return NULL;
		}
		c->next = arena->chunks;
		arena->chunks = c;
		arena->head = c;
		arena->capacity += want;
		arena->n_chunks++;
	}
	ptr = c->base + c->used;
	c->used += need;
	arena->used += need;
	if (arena->used > arena->peak)
		arena->peak = arena->used;
	return ptr;
}

enum ax_status ax_arena_reset(struct ax_arena *arena)
{
	struct ax_arena_chunk *c;

	if (arena->n_chunks > 1) {
		/* Replace the chain by one chunk that holds it all. If that fails
		 * the old chunks stay: the arena still works, it just keeps
		 * several chunks (and allocates again next step). */
		struct ax_arena_chunk *one = chunk_new(arena, arena->capacity);

		if (one) {
			c = arena->chunks;
			while (c) {
				struct ax_arena_chunk *next = c->next;

				chunk_free(arena, c);
				c = next;
			}
			arena->chunks = one;
			arena->head = one;
			arena->n_chunks = 1;
		} else {
			ax_clear_error();
		}
	}
	for (c = arena->chunks; c; c = c->next)
		c->used = 0;
	/* Refill from the oldest chunk when several are kept: make the largest
	 * (the newest) the one being filled. */
	arena->head = arena->chunks;
	arena->used = 0;
	return AX_OK;
}

void ax_arena_release(struct ax_arena *arena)
{
	struct ax_arena_chunk *c = arena->chunks;

	while (c) {
		struct ax_arena_chunk *next = c->next;

		chunk_free(arena, c);
		c = next;
	}
	arena->chunks = NULL;
	arena->head = NULL;
	arena->capacity = 0;
	arena->n_chunks = 0;
	arena->used = 0;
}
