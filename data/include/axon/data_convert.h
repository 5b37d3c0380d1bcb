/* axon/data_convert.h - write, convert and inspect axon datasets.
 *
 * The other half of axon/data.h: that header reads datasets, this one makes
 * them. ax_data_convert turns MNIST-style IDX files, CSV tables and NumPy
 * .npy pairs into the format of docs/data-format.md: OUT/train, OUT/val (a
 * seeded random part of the training source) and OUT/test, each a directory
 * of HDF5 shards plus manifest.json, with normalisation statistics computed
 * on the training part only. ax_data_write_split writes one such directory
 * from arrays in memory, for programs that make their own data.
 * ax_data_inspect prints what a dataset holds and checks every value.
 *
 * Writing is all-or-nothing: every shard and the manifest are written under
 * temporary names and renamed into place only when all of them (of all
 * splits, for a conversion) are complete, so a failed run leaves no partial
 * shard behind and an existing dataset untouched.
 *
 * All functions return an enum ax_status and leave a message naming the file
 * (and line, column or sample) in ax_last_error(). */
#ifndef AXON_DATA_CONVERT_H
#define AXON_DATA_CONVERT_H

#include <stdint.h>
#include <stdio.h>

#include "axon/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Chunk size when the caller leaves chunk_rows at 0: the largest power of two
 * of rows, at most AX_DATA_MAX_DEFAULT_CHUNK_ROWS, whose chunk holds at most
 * AX_DATA_CHUNK_TARGET_BYTES of inputs - 256 rows (196 KiB) for 28x28 uint8
 * images, 64 for 3x32x32. Measured in bench/RESULTS.md ("HDF5 chunk size
 * (issue 3)"): whole-shard reads (the loader) are as fast as with bigger
 * chunks, and random 64-row reads (h5py users) are 2-3 times faster than
 * with 1024-row chunks, since every chunk touched is read, checksummed and
 * inflated whole. */
#define AX_DATA_CHUNK_TARGET_BYTES (256 * 1024)
#define AX_DATA_MAX_DEFAULT_CHUNK_ROWS 4096

/* Most shards one split may have (their names carry five digits). */
#define AX_DATA_MAX_SHARDS 99999

/* ---- writing one split ---- */

/* What every shard of one split agrees on. */
struct ax_split_layout {
	const char *split;                            /* "train", "val" or "test": the
							 `split` attribute and the shard
							 name prefix (train-00000.h5) */
	enum ax_dtype input_dtype;                    /* AX_U8 or AX_F32 */
	int sample_ndim;                              /* 1 .. AX_DATA_MAX_SAMPLE_DIMS */
	int64_t sample_shape[AX_DATA_MAX_SAMPLE_DIMS];
	enum ax_target_kind target_kind;
	int64_t target_dim;                           /* 1 for class labels, k for regression */
	int num_classes;                              /* class targets: written as the attribute */
	int num_norm;                                 /* 0 (no normalisation), 1 or sample_shape[0] */
	const float *norm_mean, *norm_std;            /* num_norm values each */
	int compression;                              /* deflate level 0 (none) .. 9 */
	int64_t chunk_rows;                           /* rows per chunk; 0: ax_data_default_chunk_rows */
	int checksum;                                 /* 1: a Fletcher-32 checksum per chunk */
	const char *source;                           /* the manifest's "source" text; may be NULL */
};

/* ax_data_default_chunk_rows - rows per chunk for input rows of `row_bytes`
 * bytes when the caller does not choose (see AX_DATA_CHUNK_TARGET_BYTES);
 * never below 1. */
int64_t ax_data_default_chunk_rows(int64_t row_bytes);

/* ax_data_write_split - write rows of (inputs, targets) as one split into
 * directory `dir` (created, with parents, when missing): `num_shards` shards
 * named <split>-00000.h5 ... (samples spread as evenly as possible; fewer
 * shards when there are fewer samples) and manifest.json.
 *   inputs   (N, sample_shape...) of input_dtype, row-major
 *   targets  (N) int32 labels, or (N, target_dim) float for regression
 *   rows     the source rows to write, in this order; NULL: rows 0 .. num_rows-1
 * The arrays are borrowed. Without `overwrite`, a directory that already
 * holds *.h5 files or a manifest.json is refused; with it, they are replaced
 * (shards first, stale *.h5 removed, manifest last).
 * Errors: AX_ERR_INVALID (bad layout or arguments, a dataset already there),
 * AX_ERR_RANGE (a label outside [0, num_classes)), AX_ERR_IO (naming the file
 * and the HDF5 or system reason), AX_ERR_NOMEM. */
enum ax_status ax_data_write_split(const char *dir, const struct ax_split_layout *layout,
				   const void *inputs, const void *targets, const int64_t *rows,
				   int64_t num_rows, int num_shards, int overwrite);

/* ---- converting ---- */

enum ax_convert_format {
	AX_CONVERT_IDX = 0, /* MNIST-style IDX image + label files, gzip'd or plain */
	AX_CONVERT_CSV,     /* one table: numeric feature columns and a label column */
	AX_CONVERT_NPY      /* inputs.npy + targets.npy */
};

struct ax_convert_options {
	enum ax_convert_format format;
	const char *train_inputs;    /* idx: images; csv: the table; npy: inputs */
	const char *train_targets;   /* idx: labels; npy: targets; csv: unused (NULL) */
	const char *test_inputs;     /* optional test source laid out like the training one; */
	const char *test_targets;    /*   NULL: no OUT/test */
	const char *out_dir;         /* gets train/, val/ (when val_fraction > 0), test/ */
	int shards;                  /* shards per split, 1 .. AX_DATA_MAX_SHARDS (default 1) */
	double val_fraction;         /* [0, 1): this part of the training source, drawn at
					random from `seed`, becomes OUT/val (default 0) */
	uint64_t seed;               /* default 0 */
	int compression;             /* deflate level 0 .. 9 (default 0: none) */
	int64_t chunk_rows;          /* rows per chunk (default 0: ax_data_default_chunk_rows) */
	int checksum;                /* Fletcher-32 per chunk (default 1) */
	int overwrite;               /* replace a dataset already under out_dir (default 0) */
	int regression;              /* csv, npy: float targets [N, k] instead of class labels */
	int num_classes;             /* 0 (default): 1 + the largest label of train and test;
					else every label must be below it */
	int csv_label_column;        /* 0-based; negative counts from the end (default -1: last) */
	const char *csv_label_name;  /* or the label column's header name (needs csv_header) */
	int csv_header;              /* 1: the first row names the columns (default 0) */
};

/* ax_convert_options_init - the defaults above; set format, the paths and
 * out_dir afterwards. */
void ax_convert_options_init(struct ax_convert_options *options);

/* ax_data_convert - read the training source (and the test source, if given)
 * whole into memory, validate it, split off validation samples, compute the
 * normalisation on the training part (in double, in the loader's units:
 * uint8 / 255; one value for 2-D image samples [N, H, W] and for samples of
 * 4 or more dims, per feature for tables [N, F], per channel for [N, C, H, W];
 * a zero standard deviation is written as 1), and write every split. Within
 * each split the source order is kept. Progress lines go to `log` (NULL:
 * quiet).
 * Errors: AX_ERR_INVALID (bad options, a malformed source - wrong magic,
 * truncated file, count mismatch, non-numeric CSV cell with its line and
 * column, unsupported .npy dtype or layout - or a dataset already in
 * out_dir), AX_ERR_RANGE (a label outside num_classes), AX_ERR_IO (a file
 * that cannot be read or written), AX_ERR_NOMEM. Each names the file. */
enum ax_status ax_data_convert(const struct ax_convert_options *options, FILE *log);

/* ---- inspecting ---- */

/* ax_data_inspect - print to `out` the schema, the shards and their sample
 * counts, the class histogram and input statistics of dataset directory
 * `dir`, after reading every value (ax_dataset_verify). A directory that is
 * not itself a dataset but holds train/, val/ or test/ datasets (the output
 * of ax_data_convert) has each of them inspected. Returns the first problem
 * found (whatever ax_dataset_open or ax_dataset_verify reports: missing or
 * unreadable shard, count mismatch, label out of range, non-finite input), or
 * AX_ERR_INVALID when the splits disagree on the schema. */
enum ax_status ax_data_inspect(const char *dir, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
