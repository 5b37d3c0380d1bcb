/* axon/data.h - sharded HDF5 datasets: open, validate, sample, load.
 *
 * A dataset is a directory of HDF5 shard files (`*.h5`) plus an optional
 * `manifest.json`. Each shard holds
 *     inputs   [N, ...]  uint8 or float (float64 is converted to float32 on read)
 *     targets  [N]       integer class labels (any integer width), or
 *              [N, k]    float regression targets
 * chunked along N, and root attributes describing the schema (see
 * docs/data-format.md). Files written by h5py with these names load.
 *
 * Sampling is a pure function of (seed, epoch, rank, world): every rank
 * gets a disjoint, equal-sized part of each epoch. The loader runs one I/O
 * thread that makes every HDF5 call, reads shards a window at a time and
 * prefetches ready-to-use float batches while the training step runs.
 *
 * All functions return an enum ax_status; messages name the shard file and
 * the problem and say what to do. */
#ifndef AXON_DATA_H
#define AXON_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "axon/status.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_DATA_SCHEMA_VERSION 1
#define AX_DATA_MAX_SAMPLE_DIMS 6
#define AX_DATA_MAX_CHANNELS 4096 /* length limit of the normalisation vectors */

enum ax_target_kind {
	AX_TARGET_CLASS = 0, /* integer labels [N] in [0, num_classes) */
	AX_TARGET_REGRESSION /* float targets [N, k] */
};

/* What every shard of a dataset agrees on. */
struct ax_dataset_info {
	int64_t num_samples;                          /* over all shards */
	int num_shards;
	int sample_ndim;                              /* dims after N */
	int64_t sample_shape[AX_DATA_MAX_SAMPLE_DIMS];
	int64_t sample_numel;
	enum ax_dtype input_dtype;                    /* AX_U8 or AX_F32 as delivered by reads */
	enum ax_target_kind target_kind;
	int64_t target_dim;                           /* 1 for class labels, k for regression */
	int num_classes;                              /* 0 for regression */
	/* Normalisation applied by the loader: x' = (x * input_scale - mean[c]) / std[c],
	 * input_scale = 1/255 for uint8 inputs, 1 for float. num_norm is 0 (no
	 * normalisation), 1 (one value for all elements) or sample_shape[0]
	 * (per channel / per feature: axis 1 of `inputs`). */
	int num_norm;
	float norm_mean[AX_DATA_MAX_CHANNELS];
	float norm_std[AX_DATA_MAX_CHANNELS];
};

struct ax_dataset;

/* ax_dataset_open - open the dataset directory `dir`: read manifest.json if
 * present (else take every *.h5 in name order), open each shard read-only
 * with file locking off, check its schema and that all shards agree, then
 * close them again. Reads metadata only; use ax_dataset_verify to read every
 * value. Errors: AX_ERR_IO (missing/empty directory, unreadable or non-HDF5
 * file), AX_ERR_INVALID (schema problems: missing dataset, length mismatch,
 * shapes differing between shards, wrong dtype, empty shard), each naming the
 * shard. */
enum ax_status ax_dataset_open(const char *dir, struct ax_dataset **out);

/* ax_dataset_close - free it; NULL is a no-op. */
void ax_dataset_close(struct ax_dataset *ds);

const struct ax_dataset_info *ax_dataset_info(const struct ax_dataset *ds);

/* Shard s (0 <= s < num_shards): its path and sample count. */
const char *ax_dataset_shard_path(const struct ax_dataset *ds, int s);
int64_t ax_dataset_shard_count(const struct ax_dataset *ds, int s);

/* ax_dataset_verify - read every shard in full: labels inside
 * [0, num_classes), inputs finite (float), every chunk readable (checksums
 * when the file has them). Fills per-class counts (`histogram`, num_classes
 * entries, may be NULL) and input statistics (may be NULL). */
struct ax_data_stats {
	double min, max, mean, std; /* over all input elements, in stored units */
};
enum ax_status ax_dataset_verify(struct ax_dataset *ds, int64_t *histogram,
				 struct ax_data_stats *stats);

/* ---- sampling ---- */

/* Where a run is in the data: enough to continue exactly. `position` counts
 * samples of the epoch's global order already handed out over all ranks, so
 * it does not depend on the world size. */
struct ax_data_cursor {
	uint64_t seed;
	int64_t epoch;
	int64_t position;
};

struct ax_sampler_options {
	uint64_t seed;
	int rank, world;       /* 0 <= rank < world */
	int shuffle;           /* 0: natural order (evaluation) */
	int window_shards;     /* shards mixed together at a time (>= 1) */
	int drop_remainder;    /* 1: every rank gets floor(N / world) samples;
				  0: ranks r < N % world get one more */
};

/* The epoch order: the shards are permuted from (seed, epoch) and taken
 * `window_shards` at a time; the samples of a window are permuted among
 * themselves; windows are concatenated. Rank r takes order positions
 * r, r + world, r + 2 world, ... . With window_shards >= num_shards the order
 * is a uniform permutation of the whole dataset. */
struct ax_sampler;

enum ax_status ax_sampler_create(const struct ax_dataset *ds,
				 const struct ax_sampler_options *options,
				 struct ax_sampler **out);
void ax_sampler_destroy(struct ax_sampler *s);

/* Samples rank `rank` sees in an epoch. */
int64_t ax_sampler_rank_samples(const struct ax_sampler *s);

/* ax_sampler_epoch - fill order[0 .. num_samples) with the epoch's global
 * order (sample ids: the index over shards in shard order). */
enum ax_status ax_sampler_epoch(struct ax_sampler *s, int64_t epoch, int64_t *order);

/* ---- the loader ---- */

struct ax_augment_options {
	int crop_padding; /* > 0: pad by this many pixels (zeros) and crop back at a random offset */
	int hflip;        /* 1: flip horizontally with probability 1/2 */
};

struct ax_loader_options {
	int64_t batch_size;        /* per rank */
	struct ax_sampler_options sampler;
	int prefetch;              /* batches ready ahead (default 4) */
	int normalize;             /* apply the dataset's normalisation (default 1) */
	struct ax_augment_options augment;
	int drop_last;             /* 1: skip a final partial batch of an epoch */
	int64_t max_epochs;        /* stop after this many epochs (0: never) */
};

/* A batch handed to the training step. Valid until the next ax_loader_next. */
struct ax_batch {
	int64_t size;              /* samples in this batch (<= batch_size) */
	float *inputs;             /* (size, sample_shape...) normalised floats */
	int32_t *labels;           /* (size) for class targets, else NULL */
	float *targets;            /* (size, k) for regression targets, else NULL */
	const int64_t *sample_ids; /* (size) global sample ids */
	int64_t epoch;             /* the epoch these samples belong to */
	int64_t step_in_epoch;     /* 0-based batch number within the epoch */
	int last_in_epoch;         /* 1 for the epoch's final batch on this rank */
};

struct ax_loader_stats {
	int64_t batches;
	double wait_seconds;       /* time ax_loader_next spent waiting for the I/O thread */
	double io_seconds;         /* time the I/O thread spent in HDF5 reads */
	int64_t bytes_read;
};

struct ax_loader;

/* ax_loader_create - start loading `ds` (borrowed; keep it open) from
 * `cursor` (NULL: epoch 0, position 0, seed from options). Starts the I/O
 * thread. Errors: AX_ERR_INVALID (bad options, naming the field),
 * AX_ERR_NOMEM, AX_ERR_IO. */
enum ax_status ax_loader_create(struct ax_dataset *ds, const struct ax_loader_options *options,
				const struct ax_data_cursor *cursor, struct ax_loader **out);

/* ax_loader_validate - the checks ax_loader_create makes (options, ranks
 * against samples, per-rank batch against the rank's share), without
 * starting anything: lets a caller reject a job before it creates files. */
enum ax_status ax_loader_validate(struct ax_dataset *ds, const struct ax_loader_options *options);

/* ax_loader_next - the next batch (blocks until the I/O thread has it).
 * Returns AX_ERR_RANGE ("no more data") after max_epochs, and any I/O error
 * the thread met, naming the shard. */
enum ax_status ax_loader_next(struct ax_loader *loader, struct ax_batch *batch);

/* ax_loader_cursor - where the samples handed out so far end: resuming from
 * it gives exactly the batches that would have come next. */
void ax_loader_cursor(const struct ax_loader *loader, struct ax_data_cursor *cursor);

void ax_loader_stats(const struct ax_loader *loader, struct ax_loader_stats *stats);

/* ax_loader_destroy - stop the I/O thread and free everything; NULL is a no-op. */
void ax_loader_destroy(struct ax_loader *loader);

#ifdef __cplusplus
}
#endif
#endif
