/* convert_internal.h - what the dataset converters share (not installed).
 *
 * Each source reader (IDX, CSV, NumPy) fills one struct ax_convert_source:
 * the whole source in memory, inputs as uint8 or float32 rows and targets as
 * int32 labels or float rows. convert.c splits and normalises it and hands
 * rows to the staged writer, which writes every file under a temporary name
 * and renames them all only once everything is written. */
#ifndef AXON_DATA_CONVERT_INTERNAL_H
#define AXON_DATA_CONVERT_INTERNAL_H

#include <stdint.h>

#include "axon/data_convert.h"

struct ax_convert_source {
	char description[1100];                       /* manifest "source": "idx:PATH" */
	int64_t num_samples;                          /* N */
	enum ax_dtype input_dtype;                    /* AX_U8 or AX_F32 */
	int sample_ndim;
	int64_t sample_shape[AX_DATA_MAX_SAMPLE_DIMS];
	int64_t sample_numel;
	void *inputs;                                 /* (N, sample_shape...) */
	enum ax_target_kind target_kind;
	int64_t target_dim;                           /* 1 for labels */
	int32_t *labels;                              /* (N) class labels, else NULL */
	float *targets;                               /* (N, target_dim) regression, else NULL */
	int32_t max_label;                            /* largest label (class targets) */
	int num_columns;                              /* csv: columns per row */
	int label_column;                             /* csv: the label's 0-based column */
};

/* Free the arrays of a source (not the struct); a zeroed struct is fine. */
void ax_convert_source_release(struct ax_convert_source *source);

/* The readers. Each validates everything it can and names the file (and the
 * line, column, or byte count) in its errors; on failure *out holds nothing. */
enum ax_status ax_convert_read_idx(const char *images_path, const char *labels_path,
				   struct ax_convert_source *out);
enum ax_status ax_convert_read_csv(const char *path, const struct ax_convert_options *options,
				   struct ax_convert_source *out);
enum ax_status ax_convert_read_npy(const char *inputs_path, const char *targets_path,
				   int regression, struct ax_convert_source *out);

/* ---- staged writing (writer.c) ---- */

struct ax_staged_file {
	char *temp_path;  /* written, not yet renamed */
	char *final_path;
};

/* Files written under temporary names, waiting to be renamed together. */
struct ax_convert_stage {
	struct ax_staged_file *files;
	int count, capacity;
	char **replace_dirs;   /* split directories whose old dataset is replaced */
	int replace_count;
	int committed;
};

/* ax_convert_stage_split - write one split into `dir` under temporary names
 * (arguments as for ax_data_write_split) and record them in `stage`. */
enum ax_status ax_convert_stage_split(struct ax_convert_stage *stage, const char *dir,
				      const struct ax_split_layout *layout, const void *inputs,
				      const void *targets, const int64_t *rows, int64_t num_rows,
				      int num_shards, int overwrite);

/* ax_convert_stage_commit - rename every staged file into place: per
 * directory the shards first, then stale *.h5 of a replaced dataset are
 * removed, then the manifest. */
enum ax_status ax_convert_stage_commit(struct ax_convert_stage *stage);

/* ax_convert_stage_discard - remove staged files not yet renamed and free
 * the record. Safe after commit and on a zeroed stage. */
void ax_convert_stage_discard(struct ax_convert_stage *stage);

/* Grow *buffer (of *capacity elements of elem_size bytes, from ax_alloc) to
 * hold at least `needed` elements, keeping the contents. */
enum ax_status ax_convert_grow(void **buffer, int64_t *capacity, int64_t needed, size_t elem_size,
			       const char *what);

/* shard_write.c: one shard of a split, written to job->temp_path (errors
 * name job->name and the HDF5 reason). */
struct ax_shard_job {
	const char *temp_path;        /* the file written */
	const char *name;             /* its final name, for messages */
	const struct ax_split_layout *layout;
	const uint8_t *inputs;        /* the whole source */
	const uint8_t *targets;
	const int64_t *rows;          /* source rows; NULL: identity */
	int64_t first, count;         /* this shard's part of `rows` */
	int64_t input_row_bytes, target_row_bytes, chunk_rows;
};
enum ax_status ax_shard_write(const struct ax_shard_job *job);

#endif
