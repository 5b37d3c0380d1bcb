/* test_pool.c - the caching device allocator (core/pool.c) on the CPU.
 *
 * The pool takes its raw allocator as two function pointers, so its
 * bookkeeping is tested here without a GPU: the raw allocator is a fake
 * backed by malloc that counts its calls, tracks the bytes it holds against
 * a capacity (the "device memory"), and can be told to fail. Host records
 * the pool keeps per block go through axon's allocator hook, which counts
 * them too, so "nothing leaked" covers both kinds of memory.
 *
 * Checked: size classes (512-byte steps up to 1 MiB, 2 MiB steps above, 0
 * rounds to 512, a size that cannot be rounded is refused); a freed block
 * serves the next request of its class (no raw call, a hit counted), another
 * class makes a raw call; bytes in use, cached and the peak; freeing a
 * pointer the pool never gave (or twice) is AX_ERR_INVALID with a message;
 * a raw out-of-memory with blocks cached trims the cache and succeeds on the
 * retry, without one returns the error and leaks nothing; other raw errors
 * do not trim; trim and destroy give every raw block back (raw frees equal
 * raw allocations, the fake holds nothing). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

/* ---- the fake raw allocator ---- */

struct fake_device {
	size_t capacity;       /* bytes it can hold at once; 0 = unlimited */
	size_t held;           /* bytes allocated and not freed */
	int64_t calls;         /* raw_alloc calls, failed ones included */
	int64_t allocs, frees; /* successful allocations, frees */
	int64_t live;          /* blocks held */
	size_t last_size;      /* size of the last request */
	int fail_next;         /* fail this many next calls ... */
	enum ax_status fail_status; /* ... with this status (AX_ERR_NOMEM when 0) */
};

static enum ax_status fake_alloc(void *user, size_t size, void **out)
{
	struct fake_device *dev = user;
	enum ax_status fail = dev->fail_status ? dev->fail_status : AX_ERR_NOMEM;

	dev->calls++;
	dev->last_size = size;
	*out = NULL;
	if (dev->fail_next > 0) {
		dev->fail_next--;
		return AX_ERROR(fail, "fake device: told to fail %zu bytes", size);
	}
	if (dev->capacity && (size > dev->capacity || dev->held > dev->capacity - size))
		return AX_ERROR(AX_ERR_NOMEM, "fake device: out of memory (%zu bytes held, %zu "
				"asked, capacity %zu)", dev->held, size, dev->capacity);
	*out = malloc(size);
	if (!*out)
		return AX_ERROR(AX_ERR_NOMEM, "fake device: malloc(%zu) failed", size);
	/* Touch both ends: a class size larger than malloc gave would show under ASan. */
	((unsigned char *)*out)[0] = 0xa5;
	((unsigned char *)*out)[size - 1] = 0x5a;
	dev->held += size;
	dev->allocs++;
	dev->live++;
	return AX_OK;
}

/* The pool hands the class size back only through its records, so the fake
 * keeps the size in a small side table to update `held`. */
#define MAX_BLOCKS 64
static struct {
	void *ptr;
	size_t size;
} sizes[MAX_BLOCKS];

static void remember_size(void *ptr, size_t size)
{
	for (int i = 0; i < MAX_BLOCKS; i++) {
		if (!sizes[i].ptr) {
			sizes[i].ptr = ptr;
			sizes[i].size = size;
			return;
		}
	}
	fail_msg("fake device: more than %d blocks", MAX_BLOCKS);
}

static size_t forget_size(void *ptr)
{
	for (int i = 0; i < MAX_BLOCKS; i++) {
		if (sizes[i].ptr == ptr) {
			size_t size = sizes[i].size;

			sizes[i].ptr = NULL;
			return size;
		}
	}
	fail_msg("fake device: free of %p, which it never allocated", ptr);
	return 0;
}

static enum ax_status tracked_alloc(void *user, size_t size, void **out)
{
	enum ax_status st = fake_alloc(user, size, out);

	if (!st)
		remember_size(*out, size);
	return st;
}

static void tracked_free(void *user, void *ptr)
{
	struct fake_device *dev = user;

	assert_non_null(ptr);
	dev->held -= forget_size(ptr);
	dev->frees++;
	dev->live--;
	free(ptr);
}

/* ---- host allocations of the pool, through the hook ---- */

static struct {
	long live;
	int fail;  /* 1: every host allocation fails */
} host;

static void *host_alloc(void *user, size_t size)
{
	const struct ax_allocator *def = ax_default_allocator();
	void *ptr;

	(void)user;
	if (host.fail)
		return NULL;
	ptr = def->alloc(def->user, size);
	if (ptr)
		host.live++;
	return ptr;
}

static void host_free(void *user, void *ptr)
{
	const struct ax_allocator *def = ax_default_allocator();

	(void)user;
	host.live--;
	def->free(def->user, ptr);
}

static const struct ax_allocator counting_host = {host_alloc, host_free, NULL};

static int setup(void **state)
{
	(void)state;
	memset(sizes, 0, sizeof(sizes));
	host.live = 0;
	host.fail = 0;
	ax_set_allocator(&counting_host);
	ax_clear_error();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ax_set_allocator(NULL);
	return 0;
}

static void pool_start(struct ax_pool *pool, struct fake_device *dev, size_t capacity)
{
	memset(dev, 0, sizeof(*dev));
	dev->capacity = capacity;
	ax_pool_init(pool, tracked_alloc, tracked_free, dev);
}

/* After destroy: every raw block back, no host record left. */
static void expect_all_released(const struct ax_pool *pool, const struct fake_device *dev)
{
	assert_int_equal(pool->stats.raw_frees, pool->stats.raw_allocs);
	assert_int_equal(dev->frees, dev->allocs);
	assert_int_equal(dev->allocs, pool->stats.raw_allocs);
	assert_int_equal(dev->live, 0);
	assert_int_equal(dev->held, 0);
	assert_int_equal(pool->stats.bytes_in_use, 0);
	assert_int_equal(pool->stats.bytes_cached, 0);
	assert_null(pool->free_list);
	assert_null(pool->live);
	assert_int_equal(host.live, 0);
}

/* ---- tests ---- */

static void test_class_sizes(void **state)
{
	static const struct {
		size_t size, want;
	} cases[] = {
		{0, 512},
		{1, 512},
		{511, 512},
		{512, 512},
		{513, 1024},
		{1000, 1024},
		{4096, 4096},
		{4097, 4608},
		{MIB - 1, MIB},
		{MIB, MIB},                     /* the last small class */
		{MIB + 1, 2 * MIB},             /* the first large one: 2 MiB steps */
		{2 * MIB, 2 * MIB},
		{2 * MIB + 1, 4 * MIB},
		{3 * MIB, 4 * MIB},
		{5 * MIB, 6 * MIB},
		{100 * MIB + 7, 102 * MIB},
		{SIZE_MAX, 0},                  /* cannot be rounded up: refused */
		{SIZE_MAX - MIB, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = ax_pool_class_size(cases[i].size);

		if (got != cases[i].want)
			fail_msg("class of %zu bytes is %zu, expected %zu", cases[i].size, got,
				 cases[i].want);
	}
	/* Every class is a multiple of its quantum and at least the request. */
	for (size_t size = 1; size < 8 * MIB; size = size * 3 + 1) {
		size_t c = ax_pool_class_size(size);

		assert_true(c >= size);
		assert_int_equal(c % (size <= MIB ? 512 : 2 * MIB), 0);
		assert_true(c - size < (size <= MIB ? 512 : 2 * MIB));
	}
}

/* The raw allocator is asked for the class size, not the request. */
static void test_raw_gets_class_size(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *p, *q, *z;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_alloc(&pool, 1000, &p));
	assert_int_equal(dev.last_size, 1024);
	TU_OK(ax_pool_alloc(&pool, 3 * MIB, &q));
	assert_int_equal(dev.last_size, 4 * MIB);
	TU_OK(ax_pool_alloc(&pool, 0, &z)); /* a zero-byte request still gets a real block */
	assert_non_null(z);
	assert_int_equal(dev.last_size, 512);
	assert_int_equal(pool.stats.bytes_in_use, 1024 + 4 * MIB + 512);
	assert_int_equal(pool.stats.raw_allocs, 3);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* A freed block serves the next request of the same class. */
static void test_reuse_same_class(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b, *c;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_alloc(&pool, 1000, &a));    /* class 1024 */
	TU_OK(ax_pool_free(&pool, a));
	assert_int_equal(pool.stats.bytes_cached, 1024);
	assert_int_equal(pool.stats.bytes_in_use, 0);
	TU_OK(ax_pool_alloc(&pool, 700, &b));     /* also class 1024: the cached block */
	assert_ptr_equal(b, a);
	assert_int_equal(dev.calls, 1);
	assert_int_equal(pool.stats.raw_allocs, 1);
	assert_int_equal(pool.stats.hits, 1);
	assert_int_equal(pool.stats.bytes_cached, 0);
	assert_int_equal(pool.stats.bytes_in_use, 1024);
	/* The cache is empty again: the next request of that class is a raw call. */
	TU_OK(ax_pool_alloc(&pool, 1024, &c));
	assert_ptr_not_equal(c, b);
	assert_int_equal(pool.stats.raw_allocs, 2);
	assert_int_equal(pool.stats.hits, 1);

	/* Large classes too: 3 MiB and 4 MiB share the 4 MiB class. */
	TU_OK(ax_pool_free(&pool, b));
	TU_OK(ax_pool_free(&pool, c));
	TU_OK(ax_pool_alloc(&pool, 3 * MIB, &a));
	TU_OK(ax_pool_free(&pool, a));
	TU_OK(ax_pool_alloc(&pool, 4 * MIB, &b));
	assert_ptr_equal(b, a);
	assert_int_equal(pool.stats.hits, 2);
	assert_int_equal(pool.stats.raw_allocs, 3);
	TU_OK(ax_pool_free(&pool, b));
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* Two cached blocks of one class serve two requests; each pointer once. */
static void test_reuse_several_blocks(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b, *c, *d;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_alloc(&pool, 256 * KIB, &a));
	TU_OK(ax_pool_alloc(&pool, 256 * KIB, &b));
	TU_OK(ax_pool_free(&pool, a));
	TU_OK(ax_pool_free(&pool, b));
	assert_int_equal(pool.stats.bytes_cached, 512 * KIB);
	TU_OK(ax_pool_alloc(&pool, 256 * KIB, &c));
	TU_OK(ax_pool_alloc(&pool, 256 * KIB - 100, &d));
	assert_ptr_not_equal(c, d);
	assert_true((c == a && d == b) || (c == b && d == a));
	assert_int_equal(pool.stats.hits, 2);
	assert_int_equal(pool.stats.raw_allocs, 2);
	assert_int_equal(pool.stats.bytes_cached, 0);
	ax_pool_destroy(&pool); /* c and d are still live: destroy frees them too */
	expect_all_released(&pool, &dev);
}

/* A cached block of another class is not used: a new raw allocation. */
static void test_other_class_allocates(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_alloc(&pool, 1000, &a)); /* 1024 */
	TU_OK(ax_pool_free(&pool, a));
	TU_OK(ax_pool_alloc(&pool, 2000, &b)); /* 2048: the 1024 block does not do */
	assert_ptr_not_equal(a, b);
	assert_int_equal(pool.stats.raw_allocs, 2);
	assert_int_equal(pool.stats.hits, 0);
	assert_int_equal(dev.last_size, 2048);
	assert_int_equal(pool.stats.bytes_cached, 1024);
	assert_int_equal(pool.stats.bytes_in_use, 2048);
	/* Nor a larger one for a smaller request (no splitting). */
	TU_OK(ax_pool_free(&pool, b));
	TU_OK(ax_pool_alloc(&pool, 100, &a));
	assert_int_equal(pool.stats.raw_allocs, 3);
	assert_int_equal(pool.stats.bytes_cached, 1024 + 2048);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

static void test_stats(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b, *c;

	(void)state;
	pool_start(&pool, &dev, 0);
	assert_int_equal(pool.stats.bytes_in_use, 0);
	assert_int_equal(pool.stats.peak_in_use, 0);
	TU_OK(ax_pool_alloc(&pool, 100, &a));         /* 512 */
	TU_OK(ax_pool_alloc(&pool, 3 * MIB, &b));     /* 4 MiB */
	assert_int_equal(pool.stats.bytes_in_use, 512 + 4 * MIB);
	assert_int_equal(pool.stats.peak_in_use, 512 + 4 * MIB);
	assert_int_equal(pool.stats.bytes_cached, 0);
	TU_OK(ax_pool_free(&pool, b));
	assert_int_equal(pool.stats.bytes_in_use, 512);
	assert_int_equal(pool.stats.bytes_cached, 4 * MIB);
	assert_int_equal(pool.stats.peak_in_use, 512 + 4 * MIB); /* the peak stays */
	TU_OK(ax_pool_alloc(&pool, 600, &c));          /* 1024 */
	assert_int_equal(pool.stats.bytes_in_use, 512 + 1024);
	assert_int_equal(pool.stats.peak_in_use, 512 + 4 * MIB);
	TU_OK(ax_pool_alloc(&pool, 4 * MIB, &b));      /* from the cache: the peak grows */
	assert_int_equal(pool.stats.bytes_in_use, 512 + 1024 + 4 * MIB);
	assert_int_equal(pool.stats.peak_in_use, 512 + 1024 + 4 * MIB);
	assert_int_equal(pool.stats.bytes_cached, 0);
	assert_int_equal(pool.stats.hits, 1);
	assert_int_equal(pool.stats.raw_allocs, 3);
	assert_int_equal(pool.stats.raw_frees, 0);
	/* The fake holds exactly what the pool counts (in use + cached). */
	assert_int_equal(dev.held, pool.stats.bytes_in_use + pool.stats.bytes_cached);
	TU_OK(ax_pool_free(&pool, a));
	TU_OK(ax_pool_free(&pool, b));
	TU_OK(ax_pool_free(&pool, c));
	assert_int_equal(pool.stats.bytes_in_use, 0);
	assert_int_equal(pool.stats.bytes_cached, 512 + 1024 + 4 * MIB);
	assert_int_equal(dev.held, pool.stats.bytes_cached);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

static void test_free_unknown_pointer(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	int local;
	void *a;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_free(&pool, NULL)); /* a no-op */
	assert_int_equal(ax_pool_free(&pool, &local), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "device pool"));
	assert_non_null(strstr(ax_last_error(), "not allocated by this pool"));
	/* A double free: the block is cached, not live, the second free is refused
	 * and the stats do not move. */
	TU_OK(ax_pool_alloc(&pool, 100, &a));
	TU_OK(ax_pool_free(&pool, a));
	ax_clear_error();
	assert_int_equal(ax_pool_free(&pool, a), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "double free"));
	assert_int_equal(pool.stats.bytes_cached, 512);
	assert_int_equal(pool.stats.bytes_in_use, 0);
	/* An interior pointer of a live block is not the block. */
	TU_OK(ax_pool_alloc(&pool, 100, &a));
	assert_int_equal(ax_pool_free(&pool, (char *)a + 8), AX_ERR_INVALID);
	assert_int_equal(pool.stats.bytes_in_use, 512);
	TU_OK(ax_pool_free(&pool, a));
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* Out of memory with blocks cached: the pool trims its cache (those blocks
 * may be what fills the device) and the retry succeeds. */
static void test_oom_trims_then_retries(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b, *c;

	(void)state;
	pool_start(&pool, &dev, 5 * MIB);
	TU_OK(ax_pool_alloc(&pool, 2 * MIB, &a));  /* 2 MiB held */
	TU_OK(ax_pool_alloc(&pool, 1000, &c));     /* 1 KiB held, stays live */
	TU_OK(ax_pool_free(&pool, a));             /* cached */
	assert_int_equal(dev.calls, 2);
	/* 4 MiB does not fit next to the cached 2 MiB (capacity 5 MiB). */
	TU_OK(ax_pool_alloc(&pool, 3 * MIB, &b));
	assert_non_null(b);
	assert_int_equal(dev.calls, 4);            /* failed once, then the retry */
	assert_int_equal(pool.stats.raw_frees, 1); /* the cached 2 MiB went back */
	assert_int_equal(pool.stats.raw_allocs, 3);
	assert_int_equal(pool.stats.bytes_cached, 0);
	assert_null(pool.free_list);
	assert_int_equal(pool.stats.bytes_in_use, 4 * MIB + 1024);
	assert_int_equal(dev.held, 4 * MIB + 1024);
	/* The failure that was absorbed leaves no error behind. */
	assert_string_equal(ax_last_error(), "");
	/* The live block survived the trim and is still the pool's to free. */
	TU_OK(ax_pool_free(&pool, c));
	TU_OK(ax_pool_free(&pool, b));
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* Out of memory with nothing cached: the error comes back, *out is NULL,
 * the stats are unchanged and no host record is left behind. */
static void test_oom_nothing_cached(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b = &pool;
	long host_before;

	(void)state;
	pool_start(&pool, &dev, 3 * MIB);
	TU_OK(ax_pool_alloc(&pool, 2 * MIB, &a)); /* live, not cached */
	host_before = host.live;
	assert_int_equal(ax_pool_alloc(&pool, 2 * MIB, &b), AX_ERR_NOMEM);
	assert_null(b);
	assert_non_null(strstr(ax_last_error(), "fake device: out of memory"));
	assert_int_equal(dev.calls, 2);           /* no retry: nothing to trim */
	assert_int_equal(pool.stats.raw_allocs, 1);
	assert_int_equal(pool.stats.raw_frees, 0);
	assert_int_equal(pool.stats.bytes_in_use, 2 * MIB);
	assert_int_equal(pool.stats.peak_in_use, 2 * MIB);
	assert_int_equal(host.live, host_before); /* the new block's record was freed */
	assert_int_equal(dev.live, 1);

	/* Cached blocks, and still no room after trimming: the error, and the
	 * cache is gone (handed back), nothing leaked. */
	TU_OK(ax_pool_free(&pool, a));
	b = &pool;
	assert_int_equal(ax_pool_alloc(&pool, 5 * MIB, &b), AX_ERR_NOMEM);
	assert_null(b);
	assert_non_null(strstr(ax_last_error(), "fake device: out of memory"));
	assert_int_equal(pool.stats.raw_frees, 1);
	assert_int_equal(pool.stats.bytes_cached, 0);
	assert_int_equal(pool.stats.bytes_in_use, 0);
	assert_int_equal(dev.live, 0);
	assert_int_equal(host.live, 0);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* A raw error other than out-of-memory (a device fault) is returned as it
 * is: trimming would not help, so the cache is kept. */
static void test_other_raw_error_keeps_cache(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a, *b = &pool;

	(void)state;
	pool_start(&pool, &dev, 0);
	TU_OK(ax_pool_alloc(&pool, 1000, &a));
	TU_OK(ax_pool_free(&pool, a));
	dev.fail_next = 1;
	dev.fail_status = AX_ERR_DEVICE;
	assert_int_equal(ax_pool_alloc(&pool, 5000, &b), AX_ERR_DEVICE);
	assert_null(b);
	assert_non_null(strstr(ax_last_error(), "fake device: told to fail"));
	assert_int_equal(dev.calls, 2);            /* no retry */
	assert_int_equal(pool.stats.bytes_cached, 1024);
	assert_int_equal(pool.stats.raw_frees, 0);
	/* The cached block still serves its class. */
	TU_OK(ax_pool_alloc(&pool, 1024, &b));
	assert_ptr_equal(b, a);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* The pool's own record cannot be allocated: AX_ERR_NOMEM before any raw call. */
static void test_host_record_failure(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a = &pool;

	(void)state;
	pool_start(&pool, &dev, 0);
	host.fail = 1;
	assert_int_equal(ax_pool_alloc(&pool, 1000, &a), AX_ERR_NOMEM);
	host.fail = 0;
	assert_null(a);
	assert_int_equal(dev.calls, 0);
	assert_int_equal(pool.stats.bytes_in_use, 0);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* A request too large to round: refused with a message, no raw call. */
static void test_too_large(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *a = &pool;

	(void)state;
	pool_start(&pool, &dev, 0);
	assert_int_equal(ax_pool_alloc(&pool, SIZE_MAX, &a), AX_ERR_NOMEM);
	assert_null(a);
	assert_non_null(strstr(ax_last_error(), "too large"));
	assert_int_equal(dev.calls, 0);
	assert_int_equal(host.live, 0);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

/* trim hands back the cache only; live blocks stay valid and can be freed
 * (and cached) afterwards; destroy hands back everything. */
static void test_trim_and_destroy(void **state)
{
	struct fake_device dev;
	struct ax_pool pool;
	void *blocks[6];

	(void)state;
	pool_start(&pool, &dev, 0);
	for (int i = 0; i < 6; i++)
		TU_OK(ax_pool_alloc(&pool, (size_t)(i + 1) * 300 * KIB, &blocks[i]));
	for (int i = 0; i < 4; i++)
		TU_OK(ax_pool_free(&pool, blocks[i]));
	assert_int_equal(pool.stats.raw_allocs, 6);
	ax_pool_trim(&pool);
	assert_int_equal(pool.stats.raw_frees, 4);
	assert_int_equal(dev.live, 2);
	assert_int_equal(pool.stats.bytes_cached, 0);
	assert_null(pool.free_list);
	assert_int_equal(dev.held, pool.stats.bytes_in_use);
	ax_pool_trim(&pool); /* trimming an empty cache does nothing */
	assert_int_equal(pool.stats.raw_frees, 4);
	/* Live blocks survived: free one into the cache, keep one live. */
	TU_OK(ax_pool_free(&pool, blocks[4]));
	assert_true(pool.stats.bytes_cached > 0);
	ax_pool_destroy(&pool);
	assert_int_equal(pool.stats.raw_frees, 6);
	expect_all_released(&pool, &dev);
}

/* The training-loop pattern: the same requests step after step allocate
 * only in the first step. */
static void test_steady_state(void **state)
{
	static const size_t step_sizes[] = {784 * 64 * 4, 256 * 64 * 4, 10 * 64 * 4, 3 * MIB,
					    128 * 64 * 4, 64 * 4};
	enum { N = sizeof(step_sizes) / sizeof(step_sizes[0]) };
	struct fake_device dev;
	struct ax_pool pool;
	void *p[N];

	(void)state;
	pool_start(&pool, &dev, 0);
	for (int step = 0; step < 5; step++) {
		for (int i = 0; i < N; i++)
			TU_OK(ax_pool_alloc(&pool, step_sizes[i], &p[i]));
		for (int i = N - 1; i >= 0; i--)
			TU_OK(ax_pool_free(&pool, p[i]));
	}
	assert_int_equal(pool.stats.raw_allocs, N);
	assert_int_equal(pool.stats.hits, 4 * N);
	assert_int_equal(dev.calls, N);
	ax_pool_destroy(&pool);
	expect_all_released(&pool, &dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_class_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_gets_class_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_same_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_several_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_class_allocates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_unknown_pointer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom_trims_then_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom_nothing_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_raw_error_keeps_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_record_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_and_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steady_state, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
