/* loader.c - the prefetching batch loader and its I/O thread.
 *
 * One I/O thread makes every HDF5 call. It holds up to two windows of whole
 * shards in memory (see sampler.c): the window being turned into batches and
 * the next one, which it reads piece by piece whenever the ring of ready
 * batches is full. So reads are large and sequential, at most one shard file
 * is open at a time, memory is bounded by two windows, and the training step
 * waits only if the I/O thread falls behind. When one window covers every
 * shard, the data is read once and reused by every epoch.
 *
 * Batches are finished in the I/O thread: samples are gathered in the
 * epoch's order, augmented (random crop with zero padding, horizontal flip,
 * seeded per (seed, epoch, sample) so a resumed run augments identically) and
 * normalised to float32. ax_loader_next hands out one slot of a ring of
 * `prefetch` slots and takes it back at the next call.
 *
 * Positions: rank r of `world` takes global order positions
 * start + r + world * i. The cursor counts global positions handed out over all
 * ranks (all ranks take equal batches in lockstep), so it means the same
 * thing for any world size. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "axon/alloc.h"
#include "axon/rng.h"
#include "data_internal.h"

#define AUGMENT_KEY 0xA06E17A7105EEDULL
#define WINDOW_BUDGET ((size_t)256 << 20) /* default bytes per window */
#define PIECE_BYTES ((size_t)4 << 20)      /* bytes per background read */

struct window_buf {
	int loaded;           /* 1 when every shard's rows are in memory */
	int window;           /* the plan's window index it was loaded for */
	int n_shards;
	int *shards;          /* (window_shards) shard indices, ascending */
	int64_t *offset;      /* (window_shards + 1) local index of each shard's row 0 */
	int64_t count;        /* samples */
	int64_t capacity;     /* samples the buffers can hold */
	unsigned char *inputs;
	unsigned char *targets;
	int64_t *perm;        /* (capacity) window position -> local index */
	int64_t perm_epoch;   /* the epoch perm was made for */
	/* progress of a piecewise load */
	int load_shard;       /* index into shards[] */
	int64_t load_row;
	struct ax_shard_reader reader;
};

struct slot {
	float *inputs;
	int32_t *labels;
	float *targets;
	int64_t *ids;
	int64_t size, epoch, step;
	int last;
	struct ax_data_cursor after; /* the cursor once this batch is consumed */
};

struct ax_loader {
	struct ax_dataset *ds;
	struct ax_sampler *sampler;
	struct ax_loader_options opt;
	const struct ax_dataset_info *info;
	size_t input_bytes, target_bytes;
	int64_t sample_numel, channel_stride;
	float *norm_scale, *norm_shift; /* per channel: x' = raw * scale + shift */

	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t can_produce, can_consume;
	struct slot *slots;
	int n_slots, head, filled, holding;
	int stop, finished;
	enum ax_status thread_status;
	char thread_message[1024];

	/* producer state (I/O thread only) */
	int64_t epoch, epoch_start, limit, next_batch, batches_in_epoch;
	struct window_buf win[2];
	int cur;

	/* consumer state */
	struct ax_data_cursor cursor;
	struct ax_loader_stats stats;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- windows ---- */

static enum ax_status window_alloc(struct ax_loader *l, struct window_buf *w, int max_shards,
				   int64_t capacity)
{
	memset(w, 0, sizeof(*w));
	w->window = -1;
	w->perm_epoch = -1;
	w->reader.file = -1;
	w->capacity = capacity;
	w->shards = ax_alloc(sizeof(int) * (size_t)max_shards);
	w->offset = ax_alloc(sizeof(int64_t) * (size_t)(max_shards + 1));
	w->inputs = ax_alloc(l->input_bytes * (size_t)capacity);
	w->targets = ax_alloc(l->target_bytes * (size_t)capacity);
	w->perm = ax_alloc(sizeof(int64_t) * (size_t)capacity);
	return (w->shards && w->offset && w->inputs && w->targets && w->perm) ? AX_OK : AX_ERR_NOMEM;
}

static void window_free(struct window_buf *w)
{
	ax_shard_reader_close(&w->reader);
	ax_free(w->shards);
	ax_free(w->offset);
	ax_free(w->inputs);
	ax_free(w->targets);
	ax_free(w->perm);
}

/* Does buffer w hold (or is it loading) the shards of plan window `window`? */
static int window_matches(const struct window_buf *w, const struct ax_epoch_plan *p, int window)
{
	int n = p->window_first[window + 1] - p->window_first[window];

	if (w->window < 0 || w->n_shards != n)
		return 0;
	return memcmp(w->shards, p->shard_order + p->window_first[window], sizeof(int) * (size_t)n) == 0;
}

/* Point buffer w at plan window `window` and start loading it from scratch. */
static void window_begin(struct ax_loader *l, struct window_buf *w, const struct ax_epoch_plan *p,
			 int window)
{
	ax_shard_reader_close(&w->reader);
	w->n_shards = p->window_first[window + 1] - p->window_first[window];
	memcpy(w->shards, p->shard_order + p->window_first[window], sizeof(int) * (size_t)w->n_shards);
	w->offset[0] = 0;
	for (int i = 0; i < w->n_shards; i++)
		w->offset[i + 1] = w->offset[i] + ax_dataset_shard_count(l->ds, w->shards[i]);
	w->count = w->offset[w->n_shards];
	w->window = window;
	w->loaded = 0;
	w->load_shard = 0;
	w->load_row = 0;
	w->perm_epoch = -1;
}

/* Read the next piece of w (at most PIECE_BYTES of inputs). */
static enum ax_status window_load_piece(struct ax_loader *l, struct window_buf *w)
{
	int s = w->shards[w->load_shard];
	int64_t count = ax_dataset_shard_count(l->ds, s);
	int64_t rows = (int64_t)(PIECE_BYTES / (l->input_bytes ? l->input_bytes : 1));
	int64_t local;
	double t0 = now();
	enum ax_status st;

	if (rows < 1)
		rows = 1;
	if (rows > count - w->load_row)
		rows = count - w->load_row;
	if (w->reader.file < 0) {
		st = ax_shard_reader_open(l->ds, s, &w->reader);
		if (st)
			return st;
	}
	local = w->offset[w->load_shard] + w->load_row;
	st = ax_shard_reader_read(&w->reader, w->load_row, rows, w->inputs + (size_t)local * l->input_bytes,
				  w->targets + (size_t)local * l->target_bytes);
	if (st)
		return st;
	l->stats.io_seconds += now() - t0;
	l->stats.bytes_read += (int64_t)((size_t)rows * (l->input_bytes + l->target_bytes));
	w->load_row += rows;
	if (w->load_row == count) {
		ax_shard_reader_close(&w->reader);
		w->load_shard++;
		w->load_row = 0;
		if (w->load_shard == w->n_shards)
			w->loaded = 1;
	}
	return AX_OK;
}

static enum ax_status window_load_all(struct ax_loader *l, struct window_buf *w)
{
	enum ax_status st = AX_OK;

	while (!w->loaded && !st)
		st = window_load_piece(l, w);
	return st;
}

/* Make win[cur] hold plan window `window`, loaded, with its epoch permutation. */
static enum ax_status window_select(struct ax_loader *l, const struct ax_epoch_plan *p, int window)
{
	struct window_buf *w = &l->win[l->cur];
	enum ax_status st;

	if (!window_matches(w, p, window)) {
		struct window_buf *other = &l->win[1 - l->cur];

		if (window_matches(other, p, window)) {
			l->cur = 1 - l->cur;
			w = other;
		} else {
			window_begin(l, w, p, window);
		}
	}
	w->window = window;
	st = window_load_all(l, w);
	if (st)
		return st;
	if (w->perm_epoch != l->epoch) {
		ax_sampler_window_perm(l->sampler, l->epoch, window, w->count, w->perm);
		w->perm_epoch = l->epoch;
	}
	return AX_OK;
}

/* The window after the one in use (this epoch's next, or the next epoch's
 * first), started in the spare buffer so idle time can read it. */
static void window_prefetch(struct ax_loader *l)
{
	struct window_buf *spare = &l->win[1 - l->cur];
	const struct ax_epoch_plan *p;
	int64_t epoch = l->epoch;
	int window = l->win[l->cur].window + 1;

	p = ax_sampler_plan(l->sampler, epoch);
	if (!p || l->win[l->cur].window < 0)
		return;
	if (window >= p->num_windows) {
		if (l->opt.max_epochs > 0 && epoch + 1 >= l->opt.max_epochs)
			return;
		epoch++;
		window = 0;
		p = ax_sampler_plan(l->sampler, epoch);
		if (!p)
			return;
	}
	if (window_matches(&l->win[l->cur], p, window) || window_matches(spare, p, window)) {
		ax_sampler_plan(l->sampler, l->epoch); /* keep the current plan cached */
		return;
	}
	window_begin(l, spare, p, window);
	ax_sampler_plan(l->sampler, l->epoch);
}

/* ---- producing batches ---- */

/* Write sample `local` of window w, augmented and normalised, to out. */
static void finish_sample(struct ax_loader *l, const struct window_buf *w, int64_t local,
			  int64_t sample_id, float *out)
{
	const struct ax_dataset_info *info = l->info;
	const unsigned char *raw = w->inputs + (size_t)local * l->input_bytes;
	const struct ax_augment_options *aug = &l->opt.augment;
	int64_t n = l->sample_numel;

	if (aug->crop_padding > 0 || aug->hflip) {
		int nd = info->sample_ndim;
		int64_t H = info->sample_shape[nd - 2], W = info->sample_shape[nd - 1];
		int64_t C = nd == 3 ? info->sample_shape[0] : 1, pad = aug->crop_padding;
		uint32_t r[4];
		int64_t dy, dx;
		int flip;

		ax_philox(l->opt.sampler.seed ^ AUGMENT_KEY,
			  (uint64_t)l->epoch * (uint64_t)info->num_samples + (uint64_t)sample_id, r);
		dy = pad ? (int64_t)(r[0] % (uint32_t)(2 * pad + 1)) - pad : 0;
		dx = pad ? (int64_t)(r[1] % (uint32_t)(2 * pad + 1)) - pad : 0;
		flip = aug->hflip && (r[2] & 1u);
		for (int64_t c = 0; c < C; c++) {
			int64_t ch = l->channel_stride ? (c * H * W) / l->channel_stride : 0;
			float scale = l->norm_scale[ch], shift = l->norm_shift[ch];

			for (int64_t y = 0; y < H; y++) {
				int64_t sy = y + dy;

				for (int64_t x = 0; x < W; x++) {
					int64_t sx = (flip ? W - 1 - x : x) + dx;
					float v = 0.0f;

					if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
						int64_t e = (c * H + sy) * W + sx;

						v = info->input_dtype == AX_U8 ? (float)raw[e]
									       : ((const float *)raw)[e];
					}
					out[(c * H + y) * W + x] = v * scale + shift;
				}
			}
		}
		return;
	}
	if (l->channel_stride == 0) {
		float scale = l->norm_scale[0], shift = l->norm_shift[0];

		if (info->input_dtype == AX_U8)
			for (int64_t e = 0; e < n; e++)
				out[e] = (float)raw[e] * scale + shift;
		else
			for (int64_t e = 0; e < n; e++)
				out[e] = ((const float *)raw)[e] * scale + shift;
		return;
	}
	for (int64_t e = 0; e < n; e++) {
		int64_t ch = e / l->channel_stride;
		float v = info->input_dtype == AX_U8 ? (float)raw[e] : ((const float *)raw)[e];

		out[e] = v * l->norm_scale[ch] + l->norm_shift[ch];
	}
}

static void start_epoch(struct ax_loader *l, int64_t epoch, int64_t start)
{
	const struct ax_sampler_options *so = ax_sampler_options_of(l->sampler);
	int64_t first = start + so->rank, mine;

	l->epoch = epoch;
	l->epoch_start = start;
	l->limit = ax_sampler_limit(l->sampler, start);
	mine = first < l->limit ? (l->limit - first + so->world - 1) / so->world : 0;
	l->batches_in_epoch = l->opt.drop_last ? mine / l->opt.batch_size
					       : (mine + l->opt.batch_size - 1) / l->opt.batch_size;
	l->next_batch = 0;
}

/* Fill slot with the next batch. */
static enum ax_status produce(struct ax_loader *l, struct slot *slot)
{
	const struct ax_sampler_options *so = ax_sampler_options_of(l->sampler);
	const struct ax_epoch_plan *p;
	int64_t b = l->opt.batch_size, k = l->next_batch, n = 0;
	int window = -1;
	enum ax_status st;

	p = ax_sampler_plan(l->sampler, l->epoch);
	if (!p)
		return AX_ERR_NOMEM;
	for (int64_t j = 0; j < b; j++) {
		int64_t pos = l->epoch_start + so->rank + so->world * (k * b + j), local, id;
		const struct window_buf *w;
		int s_idx = 0;

		if (pos >= l->limit)
			break;
		while (window < 0 || pos >= p->window_start[window + 1]) {
			window = window < 0 ? 0 : window + 1;
			while (pos >= p->window_start[window + 1])
				window++;
			st = window_select(l, p, window);
			if (st)
				return st;
		}
		w = &l->win[l->cur];
		local = w->perm[pos - p->window_start[window]];
		while (local >= w->offset[s_idx + 1])
			s_idx++;
		id = ax_dataset_shard_first_id(l->ds, w->shards[s_idx]) + (local - w->offset[s_idx]);
		finish_sample(l, w, local, id, slot->inputs + n * l->sample_numel);
		if (slot->labels)
			memcpy(&slot->labels[n], w->targets + (size_t)local * l->target_bytes, 4);
		else
			memcpy(slot->targets + n * l->info->target_dim,
			       w->targets + (size_t)local * l->target_bytes, l->target_bytes);
		slot->ids[n] = id;
		n++;
	}
	slot->size = n;
	slot->epoch = l->epoch;
	slot->step = l->epoch_start / (so->world * b) + k;
	slot->last = k + 1 >= l->batches_in_epoch;
	if (slot->last) {
		slot->after.epoch = l->epoch + 1;
		slot->after.position = 0;
	} else {
		slot->after.epoch = l->epoch;
		slot->after.position = l->epoch_start + so->world * b * (k + 1);
	}
	slot->after.seed = so->seed;
	l->next_batch++;
	return AX_OK;
}

/* ---- the I/O thread ---- */

static void fail_thread(struct ax_loader *l, enum ax_status st)
{
	pthread_mutex_lock(&l->mu);
	l->thread_status = st;
	snprintf(l->thread_message, sizeof(l->thread_message), "%s", ax_last_error());
	pthread_cond_broadcast(&l->can_consume);
	pthread_mutex_unlock(&l->mu);
}

static void *io_thread(void *arg)
{
	struct ax_loader *l = arg;
	enum ax_status st;

	ax_h5_quiet();
	for (;;) {
		int slot_index;

		/* Past the epoch's last batch: the next epoch, or the end. */
		while (l->next_batch >= l->batches_in_epoch) {
			if (l->opt.max_epochs > 0 && l->epoch + 1 >= l->opt.max_epochs) {
				pthread_mutex_lock(&l->mu);
				l->finished = 1;
				pthread_cond_broadcast(&l->can_consume);
				pthread_mutex_unlock(&l->mu);
				return NULL;
			}
			start_epoch(l, l->epoch + 1, 0);
		}
		pthread_mutex_lock(&l->mu);
		while (!l->stop && l->filled == l->n_slots) {
			struct window_buf *spare = &l->win[1 - l->cur];

			if (spare->window >= 0 && !spare->loaded) {
				/* Ring full: use the time to read the next window. */
				pthread_mutex_unlock(&l->mu);
				st = window_load_piece(l, spare);
				if (st) {
					fail_thread(l, st);
					return NULL;
				}
				pthread_mutex_lock(&l->mu);
				continue;
			}
			pthread_cond_wait(&l->can_produce, &l->mu);
		}
		if (l->stop) {
			pthread_mutex_unlock(&l->mu);
			return NULL;
		}
		slot_index = (l->head + l->filled) % l->n_slots;
		pthread_mutex_unlock(&l->mu);

		/* The slot is free: only this thread touches it until published. */
		st = produce(l, &l->slots[slot_index]);
		if (st) {
			fail_thread(l, st);
			return NULL;
		}
		window_prefetch(l);
		pthread_mutex_lock(&l->mu);
		l->filled++;
		pthread_cond_signal(&l->can_consume);
		pthread_mutex_unlock(&l->mu);
	}
}

/* ---- public interface ---- */

static enum ax_status check_options(const struct ax_dataset *ds, const struct ax_loader_options *o)
{
	const struct ax_dataset_info *info = &ds->info;

	if (o->batch_size < 1)
		return AX_ERROR(AX_ERR_INVALID, "data: batch_size must be at least 1, got %lld",
				(long long)o->batch_size);
	if (o->prefetch < 0 || o->prefetch > 1024)
		return AX_ERROR(AX_ERR_INVALID, "data: prefetch must be 0 to 1024, got %d", o->prefetch);
	if (o->augment.crop_padding < 0)
		return AX_ERROR(AX_ERR_INVALID, "data: crop padding must be >= 0, got %d",
				o->augment.crop_padding);
	if ((o->augment.crop_padding > 0 || o->augment.hflip) &&
	    (info->sample_ndim < 2 || info->sample_ndim > 3)) {
		char shape[96];

		ax_shape_str(info->sample_ndim, info->sample_shape, shape, sizeof(shape));
		return AX_ERROR(AX_ERR_INVALID, "data: crop/flip augmentation needs image samples "
				"[H, W] or [C, H, W]; %s has samples of shape %s", ds->dir, shape);
	}
	return AX_OK;
}

enum ax_status ax_loader_validate(struct ax_dataset *ds, const struct ax_loader_options *options)
{
	struct ax_sampler_options so;
	struct ax_sampler *sampler = NULL;
	int64_t mine;
	enum ax_status st;

	if (!ds || !options)
		return AX_ERROR(AX_ERR_INVALID, "ax_loader_validate: ds or options is NULL");
	st = check_options(ds, options);
	if (st)
		return st;
	so = options->sampler;
	if (so.window_shards <= 0)
		so.window_shards = 1; /* the window does not change who gets how much */
	st = ax_sampler_create(ds, &so, &sampler);
	if (st)
		return st;
	mine = ax_sampler_rank_samples(sampler);
	ax_sampler_destroy(sampler);
	if (options->drop_last && mine < options->batch_size)
		return AX_ERROR(AX_ERR_INVALID, "data: each of the %d ranks gets %lld samples of %s per "
				"epoch, fewer than the per-rank batch of %lld; lower the batch size",
				so.world, (long long)mine, ds->dir, (long long)options->batch_size);
	return AX_OK;
}

enum ax_status ax_loader_create(struct ax_dataset *ds, const struct ax_loader_options *options,
				const struct ax_data_cursor *cursor, struct ax_loader **out)
{
	struct ax_loader_options opt;
	struct ax_loader *l;
	const struct ax_dataset_info *info;
	size_t max_shard_bytes = 0;
	int64_t capacity = 0;
	int channels, max_in_window;
	enum ax_status st;

	if (!ds || !options || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_loader_create: ds, options or out is NULL");
	opt = *options;
	info = &ds->info;
	if (opt.prefetch == 0)
		opt.prefetch = 4;
	st = ax_loader_validate(ds, &opt);
	if (st)
		return st;
	if (cursor && (cursor->epoch < 0 || cursor->position < 0 ||
		       cursor->position > info->num_samples))
		return AX_ERROR(AX_ERR_INVALID, "data: cursor (epoch %lld, position %lld) is outside "
				"dataset %s of %lld samples", (long long)cursor->epoch,
				(long long)cursor->position, ds->dir, (long long)info->num_samples);
	if (cursor)
		opt.sampler.seed = cursor->seed;
	/* Default window: as many shards as fit the memory budget. */
	for (int s = 0; s < ds->num_shards; s++) {
		size_t bytes = (size_t)ds->shards[s].count * (ds->input_bytes + ax_dataset_target_bytes(ds));

		max_shard_bytes = bytes > max_shard_bytes ? bytes : max_shard_bytes;
	}
	if (opt.sampler.window_shards <= 0) {
		size_t fit = WINDOW_BUDGET / (max_shard_bytes ? max_shard_bytes : 1);

		opt.sampler.window_shards = fit < 1 ? 1 : fit > (size_t)ds->num_shards ? ds->num_shards
										       : (int)fit;
	}
	l = ax_calloc(1, sizeof(*l));
	if (!l)
		return AX_ERR_NOMEM;
	l->ds = ds;
	l->opt = opt;
	l->info = info;
	l->holding = -1;
	l->input_bytes = ds->input_bytes;
	l->target_bytes = ax_dataset_target_bytes(ds);
	l->sample_numel = info->sample_numel;
	st = ax_sampler_create(ds, &opt.sampler, &l->sampler);
	if (st)
		goto fail;

	/* Normalisation folded into one multiply-add per element and channel. */
	channels = info->num_norm > 1 ? info->num_norm : 1;
	l->channel_stride = info->num_norm > 1 ? info->sample_numel / info->sample_shape[0] : 0;
	l->norm_scale = ax_alloc(sizeof(float) * (size_t)channels);
	l->norm_shift = ax_alloc(sizeof(float) * (size_t)channels);
	if (!l->norm_scale || !l->norm_shift) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	for (int c = 0; c < channels; c++) {
		float unit = info->input_dtype == AX_U8 ? 1.0f / 255.0f : 1.0f;

		if (opt.normalize && info->num_norm > 0) {
			l->norm_scale[c] = unit / info->norm_std[c];
			l->norm_shift[c] = -info->norm_mean[c] / info->norm_std[c];
		} else {
			l->norm_scale[c] = unit;
			l->norm_shift[c] = 0.0f;
		}
	}

	/* Two window buffers, each sized for the largest window. */
	max_in_window = l->opt.sampler.window_shards;
	{
		int64_t counts[4096];
		int n = ds->num_shards < 4096 ? ds->num_shards : 4096;

		for (int s = 0; s < n; s++)
			counts[s] = ds->shards[s].count;
		/* The largest sum of window_shards counts bounds any window. */
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++)
				if (counts[j] > counts[i]) {
					int64_t t = counts[i];

					counts[i] = counts[j];
					counts[j] = t;
				}
		for (int i = 0; i < max_in_window && i < n; i++)
			capacity += counts[i];
	}
	for (int b = 0; b < 2; b++) {
		st = window_alloc(l, &l->win[b], max_in_window, capacity);
		if (st)
			goto fail;
	}

	l->n_slots = opt.prefetch;
	l->slots = ax_calloc((size_t)l->n_slots, sizeof(*l->slots));
	if (!l->slots) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	for (int i = 0; i < l->n_slots; i++) {
		struct slot *s = &l->slots[i];

		s->inputs = ax_alloc(sizeof(float) * (size_t)(opt.batch_size * l->sample_numel));
		s->ids = ax_alloc(sizeof(int64_t) * (size_t)opt.batch_size);
		if (info->target_kind == AX_TARGET_CLASS)
			s->labels = ax_alloc(sizeof(int32_t) * (size_t)opt.batch_size);
		else
			s->targets = ax_alloc(sizeof(float) * (size_t)(opt.batch_size * info->target_dim));
		if (!s->inputs || !s->ids || (!s->labels && !s->targets)) {
			st = AX_ERR_NOMEM;
			goto fail;
		}
	}

	l->cursor.seed = opt.sampler.seed;
	l->cursor.epoch = cursor ? cursor->epoch : 0;
	l->cursor.position = cursor ? cursor->position : 0;
	start_epoch(l, l->cursor.epoch, l->cursor.position);
	if (pthread_mutex_init(&l->mu, NULL) || pthread_cond_init(&l->can_produce, NULL) ||
	    pthread_cond_init(&l->can_consume, NULL)) {
		st = AX_ERROR(AX_ERR_IO, "data: cannot create the loader's locks");
		goto fail;
	}
	if (opt.max_epochs > 0 && l->epoch >= opt.max_epochs) {
		l->finished = 1;
	} else if (pthread_create(&l->thread, NULL, io_thread, l) != 0) {
		st = AX_ERROR(AX_ERR_IO, "data: cannot start the loader's I/O thread");
		goto fail;
	} else {
		l->thread_started = 1;
	}
	*out = l;
	return AX_OK;
fail:
	ax_loader_destroy(l);
	return st;
}

enum ax_status ax_loader_next(struct ax_loader *l, struct ax_batch *batch)
{
	struct slot *s;
	double t0 = now();

	pthread_mutex_lock(&l->mu);
	if (l->holding >= 0) {
		l->head = (l->head + 1) % l->n_slots;
		l->filled--;
		l->holding = -1;
		/* Waking the I/O thread costs ~10 us; do it when the ring has
		 * drained to half, not for every batch (measured: the batch-64
		 * data wait went from ~2% of the step to under 1%). */
		if (l->filled <= l->n_slots / 2)
			pthread_cond_signal(&l->can_produce);
	}
	while (l->filled == 0 && !l->thread_status && !l->finished)
		pthread_cond_wait(&l->can_consume, &l->mu);
	l->stats.wait_seconds += now() - t0;
	if (l->filled == 0) {
		enum ax_status st = l->thread_status;
		char message[1024];

		snprintf(message, sizeof(message), "%s", l->thread_message);
		pthread_mutex_unlock(&l->mu);
		if (st)
			return ax_error_set(st, __FILE__, __LINE__, "%s", message);
		return AX_ERROR(AX_ERR_RANGE, "data: no more data: the loader stopped after %lld "
				"epoch(s)", (long long)l->opt.max_epochs);
	}
	l->holding = l->head;
	s = &l->slots[l->head];
	pthread_mutex_unlock(&l->mu);

	batch->size = s->size;
	batch->inputs = s->inputs;
	batch->labels = s->labels;
	batch->targets = s->targets;
	batch->sample_ids = s->ids;
	batch->epoch = s->epoch;
	batch->step_in_epoch = s->step;
	batch->last_in_epoch = s->last;
	l->cursor = s->after;
	l->stats.batches++;
	return AX_OK;
}

void ax_loader_cursor(const struct ax_loader *l, struct ax_data_cursor *cursor)
{
	*cursor = l->cursor;
}

void ax_loader_stats(const struct ax_loader *l, struct ax_loader_stats *stats)
{
	pthread_mutex_lock((pthread_mutex_t *)&l->mu);
	*stats = l->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
}

void ax_loader_destroy(struct ax_loader *l)
{
	if (!l)
		return;
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = 1;
		pthread_cond_broadcast(&l->can_produce);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->can_produce);
		pthread_cond_destroy(&l->can_consume);
	}
	for (int b = 0; b < 2; b++)
		window_free(&l->win[b]);
	if (l->slots) {
		for (int i = 0; i < l->n_slots; i++) {
			ax_free(l->slots[i].inputs);
			ax_free(l->slots[i].ids);
			ax_free(l->slots[i].labels);
			ax_free(l->slots[i].targets);
		}
		ax_free(l->slots);
	}
	ax_free(l->norm_scale);
	ax_free(l->norm_shift);
	ax_sampler_destroy(l->sampler);
	ax_free(l);
}
