/* sampler.c - the deterministic epoch order and its split across ranks.
 *
 * An epoch's order is a pure function of (seed, epoch): the shards are
 * permuted, grouped `window_shards` at a time into windows, the samples of
 * each window are permuted among themselves, and the windows are laid end to
 * end. Windows exist so the loader can hold whole shards in memory and read
 * them sequentially (fast, chunk-friendly) while still mixing samples across
 * shards; with one window covering every shard the order is a uniform
 * permutation of the dataset. Rank r of `world` takes order positions
 * r, r + world, r + 2 world, ...: disjoint, and equal in size with
 * drop_remainder (the last N mod world positions of each epoch are skipped;
 * since the order changes every epoch, no sample is skipped for good).
 *
 * Permutations are Fisher-Yates driven by Philox keyed on a hash of (seed,
 * epoch, window): the j-th swap draws a 64-bit word and maps it to [0, i]
 * with a multiply-shift (bias below i / 2^64, i.e. nil for any real dataset). */
#include <string.h>

#include "axon/alloc.h"
#include "axon/rng.h"
#include "data_internal.h"

struct ax_sampler {
	struct ax_sampler_options opt;
	int num_shards;
	int64_t *counts;
	int64_t num_samples;
	struct ax_epoch_plan plan; /* cached for plan.epoch; -1 when none */
};

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* The key for the permutation of (epoch, window); window -1 is the shard order. */
static uint64_t stream_of(int64_t epoch, int window)
{
	return splitmix64((uint64_t)epoch * 0x100000001B3ULL ^ splitmix64((uint64_t)(window + 2)));
}

void ax_perm(uint64_t seed, uint64_t stream, int64_t n, int64_t *out)
{
	uint64_t key = splitmix64(seed ^ stream);
	uint32_t words[64];

	for (int64_t i = 0; i < n; i++)
		out[i] = i;
	/* Swaps for i = n-1 .. 1; swap number k uses 64 bits: words 2(k%32),
	 * 2(k%32)+1 of the 16-block group k / 32. */
	for (int64_t k = 0, i = n - 1; i > 0; k++, i--) {
		uint64_t r, j;
		int64_t tmp;

		if (k % 32 == 0)
			ax_philox_blocks(key, (uint64_t)(k / 32) * 16, 16, words);
		r = (uint64_t)words[2 * (k % 32)] << 32 | words[2 * (k % 32) + 1];
		j = (uint64_t)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
		tmp = out[i];
		out[i] = out[j];
		out[j] = tmp;
	}
}

enum ax_status ax_sampler_create(const struct ax_dataset *ds,
				 const struct ax_sampler_options *options,
				 struct ax_sampler **out)
{
	const struct ax_sampler_options *o = options;
	struct ax_sampler *s;
	int n = ds->num_shards;
	int windows;

	if (!o || o->world < 1 || o->rank < 0 || o->rank >= o->world)
		return AX_ERROR(AX_ERR_INVALID, "data: rank %d of world %d is not a valid rank",
				o ? o->rank : -1, o ? o->world : 0);
	if (o->window_shards < 1)
		return AX_ERROR(AX_ERR_INVALID, "data: window_shards must be at least 1, got %d",
				o->window_shards);
	if (ds->info.num_samples < o->world)
		return AX_ERROR(AX_ERR_INVALID, "data: dataset %s has %lld samples, fewer than the %d "
				"ranks; every rank needs at least one", ds->dir,
				(long long)ds->info.num_samples, o->world);
	s = ax_calloc(1, sizeof(*s));
	if (!s)
		return AX_ERR_NOMEM;
	s->opt = *o;
	if (s->opt.window_shards > n)
		s->opt.window_shards = n;
	windows = (n + s->opt.window_shards - 1) / s->opt.window_shards;
	s->num_shards = n;
	s->num_samples = ds->info.num_samples;
	s->counts = ax_alloc(sizeof(int64_t) * (size_t)n);
	s->plan.shard_order = ax_alloc(sizeof(int) * (size_t)n);
	s->plan.window_first = ax_alloc(sizeof(int) * (size_t)(windows + 1));
	s->plan.window_start = ax_alloc(sizeof(int64_t) * (size_t)(windows + 1));
	if (!s->counts || !s->plan.shard_order || !s->plan.window_first || !s->plan.window_start) {
		ax_sampler_destroy(s);
		return AX_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++)
		s->counts[i] = ds->shards[i].count;
	s->plan.num_windows = windows;
	s->plan.epoch = -1;
	*out = s;
	return AX_OK;
}

void ax_sampler_destroy(struct ax_sampler *s)
{
	if (!s)
		return;
	ax_free(s->counts);
	ax_free(s->plan.shard_order);
	ax_free(s->plan.window_first);
	ax_free(s->plan.window_start);
	ax_free(s);
}

const struct ax_sampler_options *ax_sampler_options_of(const struct ax_sampler *s)
{
	return &s->opt;
}

int64_t ax_sampler_rank_samples(const struct ax_sampler *s)
{
	int64_t n = s->num_samples, w = s->opt.world;

	return s->opt.drop_remainder ? n / w : (n + w - 1 - s->opt.rank) / w;
}

int64_t ax_sampler_limit(const struct ax_sampler *s, int64_t start)
{
	if (!s->opt.drop_remainder || start >= s->num_samples)
		return s->num_samples;
	return start + (s->num_samples - start) / s->opt.world * s->opt.world;
}

const struct ax_epoch_plan *ax_sampler_plan(struct ax_sampler *s, int64_t epoch)
{
	struct ax_epoch_plan *p = &s->plan;
	int64_t order[1024], *big = NULL, *perm = order;

	if (p->epoch == epoch)
		return p;
	if (s->num_shards > 1024) {
		big = ax_alloc(sizeof(int64_t) * (size_t)s->num_shards);
		if (!big)
			return NULL;
		perm = big;
	}
	if (s->opt.shuffle)
		ax_perm(s->opt.seed, stream_of(epoch, -1), s->num_shards, perm);
	else
		for (int i = 0; i < s->num_shards; i++)
			perm[i] = i;
	for (int i = 0; i < s->num_shards; i++)
		p->shard_order[i] = (int)perm[i];
	/* Inside a window the shards are kept in ascending order: the window's
	 * own permutation mixes its samples uniformly anyway, and a canonical
	 * order lets the loader reuse a window it already holds (with one window
	 * covering all shards, the data is read once for all epochs). */
	for (int first = 0; first < s->num_shards; first += s->opt.window_shards) {
		int last = first + s->opt.window_shards < s->num_shards ? first + s->opt.window_shards
									: s->num_shards;

		for (int i = first + 1; i < last; i++) {
			int v = p->shard_order[i], j = i - 1;

			while (j >= first && p->shard_order[j] > v) {
				p->shard_order[j + 1] = p->shard_order[j];
				j--;
			}
			p->shard_order[j + 1] = v;
		}
	}
	p->window_start[0] = 0;
	for (int w = 0; w < p->num_windows; w++) {
		int first = w * s->opt.window_shards;
		int last = first + s->opt.window_shards < s->num_shards ? first + s->opt.window_shards
									: s->num_shards;
		int64_t total = 0;

		p->window_first[w] = first;
		for (int i = first; i < last; i++)
			total += s->counts[p->shard_order[i]];
		p->window_start[w + 1] = p->window_start[w] + total;
	}
	p->window_first[p->num_windows] = s->num_shards;
	p->epoch = epoch;
	ax_free(big);
	return p;
}

void ax_sampler_window_perm(const struct ax_sampler *s, int64_t epoch, int window, int64_t count,
			    int64_t *perm)
{
	if (s->opt.shuffle) {
		ax_perm(s->opt.seed, stream_of(epoch, window), count, perm);
	} else {
		for (int64_t i = 0; i < count; i++)
			perm[i] = i;
	}
}

enum ax_status ax_sampler_epoch(struct ax_sampler *s, int64_t epoch, int64_t *order)
{
	const struct ax_epoch_plan *p = ax_sampler_plan(s, epoch);
	int64_t *first_id;

	if (!p)
		return AX_ERR_NOMEM;
	first_id = ax_alloc(sizeof(int64_t) * (size_t)s->num_shards);
	if (!first_id)
		return AX_ERR_NOMEM;
	first_id[0] = 0;
	for (int i = 1; i < s->num_shards; i++)
		first_id[i] = first_id[i - 1] + s->counts[i - 1];
	for (int w = 0; w < p->num_windows; w++) {
		int64_t count = p->window_start[w + 1] - p->window_start[w];
		int64_t *perm = order + p->window_start[w];

		ax_sampler_window_perm(s, epoch, w, count, perm);
		/* Local index -> global id: walk the window's shards in order. */
		for (int64_t i = 0; i < count; i++) {
			int64_t local = perm[i];
			int k = p->window_first[w];

			while (local >= s->counts[p->shard_order[k]])
				local -= s->counts[p->shard_order[k++]];
			perm[i] = first_id[p->shard_order[k]] + local;
		}
	}
	ax_free(first_id);
	return AX_OK;
}
