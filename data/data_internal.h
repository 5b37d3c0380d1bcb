/* data_internal.h - what the data layer's own files share. */
#ifndef AXON_DATA_INTERNAL_H
#define AXON_DATA_INTERNAL_H

#include <hdf5.h>

#include "axon/data.h"

struct ax_shard {
	char *path;       /* full path */
	const char *name; /* file name part of path */
	int64_t count;    /* samples */
	int64_t first_id; /* global id of its row 0 (shards in dataset order) */
};

struct ax_dataset {
	char *dir;
	struct ax_shard *shards;
	int num_shards;
	struct ax_dataset_info info;
	size_t input_bytes;  /* bytes per sample as delivered by reads (u8 or f32) */
	int num_classes_known; /* 1 when an attribute or the manifest gave it */
};

/* dataset.c */

/* ax_h5_quiet - stop HDF5 printing its error stack on this thread (axon
 * reports errors itself). Call at the start of every thread that uses HDF5. */
void ax_h5_quiet(void);

/* ax_shard_read - read rows [row0, row0 + rows) of shard s: inputs as u8 or
 * f32 (per info.input_dtype) into `inputs`, targets as int32 labels or f32
 * targets into `targets`. Opens and closes the file. */
enum ax_status ax_shard_read(const struct ax_dataset *ds, int s, int64_t row0, int64_t rows,
			     void *inputs, void *targets);

/* An open shard for piecewise sequential reads (the loader's I/O thread). */
struct ax_shard_reader {
	const struct ax_dataset *ds;
	int shard;
	hid_t file;
};
enum ax_status ax_shard_reader_open(const struct ax_dataset *ds, int s, struct ax_shard_reader *r);
enum ax_status ax_shard_reader_read(struct ax_shard_reader *r, int64_t row0, int64_t rows,
				    void *inputs, void *targets);
void ax_shard_reader_close(struct ax_shard_reader *r);

/* Global id of shard s's row 0. */
int64_t ax_dataset_shard_first_id(const struct ax_dataset *ds, int s);

/* Bytes per sample of the targets buffer (4 for labels, 4 k for regression). */
size_t ax_dataset_target_bytes(const struct ax_dataset *ds);

/* manifest.c */

/* ax_manifest_read - if dir/manifest.json exists, fill *files (ax_alloc'd
 * array of ax_alloc'd names) and *counts; *n = -1 when there is none. */
enum ax_status ax_manifest_read(const char *dir, char ***files, int64_t **counts, int *n,
				int *num_classes, int *num_norm, float *mean, float *std);

/* sampler.c */

/* ax_perm - a permutation of [0, n) from (seed, stream): Fisher-Yates driven
 * by Philox, unbiased bounded draws. */
void ax_perm(uint64_t seed, uint64_t stream, int64_t n, int64_t *out);

/* The epoch's plan: shard order and window boundaries. */
struct ax_epoch_plan {
	int64_t epoch;
	int num_windows;
	int *shard_order;        /* (num_shards) shard indices in epoch order */
	int *window_first;       /* (num_windows + 1) index into shard_order */
	int64_t *window_start;   /* (num_windows + 1) first global order position */
};

const struct ax_epoch_plan *ax_sampler_plan(struct ax_sampler *s, int64_t epoch);
const struct ax_sampler_options *ax_sampler_options_of(const struct ax_sampler *s);

/* ax_sampler_window_perm - perm[i] = local index (rows of the window's
 * shards, concatenated in window order) at window position i. */
void ax_sampler_window_perm(const struct ax_sampler *s, int64_t epoch, int window, int64_t count,
			    int64_t *perm);

/* ax_sampler_limit - order positions [0, limit) are handed out this epoch
 * when starting at position `start` (drop_remainder applied). */
int64_t ax_sampler_limit(const struct ax_sampler *s, int64_t start);

/* shard_schema.c: one shard's schema, read and checked (errors name the
 * shard and the field). open_file: read-only, HDF5 file locking off; < 0 on
 * failure. check_same: an error unless shard b matches shard a. */
struct ax_shard_schema {
	int64_t count;
	int sample_ndim;
	int64_t sample_shape[AX_DATA_MAX_SAMPLE_DIMS];
	enum ax_dtype input_dtype;
	enum ax_target_kind target_kind;
	int64_t target_dim;
	int has_classes;
	int num_classes;
	int num_norm;
	float mean[AX_DATA_MAX_CHANNELS], std[AX_DATA_MAX_CHANNELS];
};
hid_t ax_shard_open_file(const char *path);
enum ax_status ax_shard_read_schema(hid_t file, const char *path, struct ax_shard_schema *sc);
enum ax_status ax_shard_check_same(const struct ax_shard_schema *a, const char *a_path,
				   const struct ax_shard_schema *b, const char *b_path);

#endif
