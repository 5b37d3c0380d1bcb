/* writer.c - write one split of an axon dataset: HDF5 shards and manifest.json.
 *
 * A split is written as `num_shards` HDF5 files holding `inputs` and
 * `targets` chunked along N (docs/data-format.md), plus a manifest listing
 * them. Everything goes to a temporary name first (".train-00000.h5.tmp",
 * which the reader ignores because it does not end in .h5) and is renamed
 * into place by ax_convert_stage_commit once every file of every split is
 * complete: a run that fails half-way leaves no partial shard and does not
 * touch a dataset that was already there. The shards themselves are written
 * by shard_write.c; HDF5's own error printing is silenced for the duration,
 * and its innermost reason goes into our messages instead. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "axon/alloc.h"
#include "axon/version.h"
#include "convert_internal.h"

#define PATH_BYTES 4096

int64_t ax_data_default_chunk_rows(int64_t row_bytes)
{
	int64_t rows = AX_DATA_MAX_DEFAULT_CHUNK_ROWS;

	while (rows > 1 && rows * row_bytes > AX_DATA_CHUNK_TARGET_BYTES)
		rows /= 2;
	return rows;
}

/* ---- HDF5 error handling ---- */

struct hdf5_quiet {
	H5E_auto2_t func;
	void *data;
};

static void hdf5_quiet_begin(struct hdf5_quiet *saved)
{
	if (H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data) < 0) {
		saved->func = NULL;
		saved->data = NULL;
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void hdf5_quiet_end(const struct hdf5_quiet *saved)
{
	H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

/* ---- small file-system helpers ---- */

static int ends_with(const char *text, const char *suffix)
{
	size_t n = strlen(text), m = strlen(suffix);

	return n >= m && strcmp(text + n - m, suffix) == 0;
}

static enum ax_status join_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_BYTES)
		return AX_ERROR(AX_ERR_INVALID, "data: path '%s/%s' is longer than %d bytes; "
				"choose a shorter output directory", dir, name, PATH_BYTES - 1);
	return AX_OK;
}

static char *copy_string(const char *text)
{
	size_t n = strlen(text) + 1;
	char *copy = ax_alloc(n);

	if (copy)
		memcpy(copy, text, n);
	return copy;
}

/* mkdir -p: create `dir` and its missing parents. */
static enum ax_status make_directories(const char *dir)
{
	char path[PATH_BYTES];
	struct stat st;
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return AX_ERROR(AX_ERR_INVALID, "data: output directory '%s' is empty or too long",
				dir);
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0777) != 0 && errno != EEXIST)
			return AX_ERROR(AX_ERR_IO, "data: cannot create directory %s: %s", path,
					strerror(errno));
		path[i] = i < n ? '/' : '\0';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return AX_ERROR(AX_ERR_IO, "data: %s exists and is not a directory; choose "
				"another output directory", dir);
	return AX_OK;
}

/* 1 (with the first name found) when `dir` already holds *.h5 files or a
 * manifest.json; 0 when not or when it cannot be listed. */
static int holds_dataset(const char *dir, char *found, size_t found_bytes)
{
	DIR *listing = opendir(dir);
	struct dirent *entry;
	int holds = 0;

	if (!listing)
		return 0;
	while (!holds && (entry = readdir(listing)) != NULL) {
		if (strcmp(entry->d_name, "manifest.json") == 0 ||
		    (entry->d_name[0] != '.' && ends_with(entry->d_name, ".h5"))) {
			snprintf(found, found_bytes, "%s", entry->d_name);
			holds = 1;
		}
	}
	closedir(listing);
	return holds;
}

/* ---- validation ---- */

static enum ax_status check_layout(const struct ax_split_layout *layout)
{
	const char *split = layout->split;

	if (!split || !split[0] || strlen(split) > 64)
		return AX_ERROR(AX_ERR_INVALID, "data: the split needs a short name (train, val, test)");
	for (const char *c = split; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return AX_ERROR(AX_ERR_INVALID, "data: split name '%s' may only hold letters, "
					"digits, '_' and '-' (it names the shard files)", split);
	if (layout->input_dtype != AX_U8 && layout->input_dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "data: split %s: inputs must be AX_U8 or AX_F32", split);
	if (layout->sample_ndim < 1 || layout->sample_ndim > AX_DATA_MAX_SAMPLE_DIMS)
		return AX_ERROR(AX_ERR_SHAPE, "data: split %s: a sample has %d dims; 1 to %d are "
				"supported", split, layout->sample_ndim, AX_DATA_MAX_SAMPLE_DIMS);
	for (int d = 0; d < layout->sample_ndim; d++)
		if (layout->sample_shape[d] < 1 || layout->sample_shape[d] > ((int64_t)1 << 31))
			return AX_ERROR(AX_ERR_SHAPE, "data: split %s: sample dim %d is %lld",
					split, d, (long long)layout->sample_shape[d]);
	if (layout->target_kind == AX_TARGET_CLASS) {
		if (layout->target_dim != 1 || layout->num_classes < 1)
			return AX_ERROR(AX_ERR_INVALID, "data: split %s: class targets need "
					"target_dim 1 and num_classes >= 1 (got %lld, %d)", split,
					(long long)layout->target_dim, layout->num_classes);
	} else if (layout->target_kind != AX_TARGET_REGRESSION || layout->target_dim < 1) {
		return AX_ERROR(AX_ERR_INVALID, "data: split %s: bad target kind or target_dim %lld",
				split, (long long)layout->target_dim);
	}
	if (layout->num_norm != 0 && layout->num_norm != 1 &&
	    (layout->num_norm != layout->sample_shape[0] || layout->num_norm > AX_DATA_MAX_CHANNELS))
		return AX_ERROR(AX_ERR_INVALID, "data: split %s: %d normalisation values; give 0, 1 "
				"or one per index of sample dim 0 (%lld), at most %d", split,
				layout->num_norm, (long long)layout->sample_shape[0],
				AX_DATA_MAX_CHANNELS);
	if (layout->num_norm > 0 && (!layout->norm_mean || !layout->norm_std))
		return AX_ERROR(AX_ERR_INVALID, "data: split %s: norm_mean/norm_std are NULL", split);
	for (int c = 0; c < layout->num_norm; c++)
		if (!isfinite(layout->norm_mean[c]) || !(layout->norm_std[c] > 0.0f) ||
		    !isfinite(layout->norm_std[c]))
			return AX_ERROR(AX_ERR_INVALID, "data: split %s: normalisation %d is mean %g "
					"std %g; the std must be finite and positive", split, c,
					(double)layout->norm_mean[c], (double)layout->norm_std[c]);
	if (layout->compression < 0 || layout->compression > 9)
		return AX_ERROR(AX_ERR_INVALID, "data: compression level %d is not in 0..9",
				layout->compression);
	if (layout->chunk_rows < 0)
		return AX_ERROR(AX_ERR_INVALID, "data: chunk_rows %lld is negative",
				(long long)layout->chunk_rows);
	return AX_OK;
}

/* ---- manifest.json ---- */

static enum ax_status write_manifest(const char *temp_path, const char *dir,
				     const struct ax_split_layout *layout, int64_t num_rows,
				     int num_shards)
{
	static const char *const dtype_names[] = {[AX_U8] = "uint8", [AX_F32] = "float32"};
	cJSON *root = cJSON_CreateObject(), *shape = NULL, *shards = NULL, *norm = NULL;
	char name[64], *text = NULL;
	int complete = root != NULL;
	enum ax_status st = AX_OK;
	FILE *file;

#define ADD(expr) complete = complete && (expr) != NULL
	ADD(cJSON_AddStringToObject(root, "format", "axon-dataset"));
	ADD(cJSON_AddNumberToObject(root, "schema_version", AX_DATA_SCHEMA_VERSION));
	ADD(cJSON_AddStringToObject(root, "split", layout->split));
	ADD(cJSON_AddNumberToObject(root, "num_samples", (double)num_rows));
	ADD(cJSON_AddNumberToObject(root, "num_classes",
				    layout->target_kind == AX_TARGET_CLASS ? layout->num_classes : 0));
	ADD(shape = cJSON_AddArrayToObject(root, "sample_shape"));
	for (int d = 0; complete && d < layout->sample_ndim; d++)
		complete = cJSON_AddItemToArray(shape,
						cJSON_CreateNumber((double)layout->sample_shape[d]));
	ADD(cJSON_AddStringToObject(root, "input_dtype", dtype_names[layout->input_dtype]));
	ADD(cJSON_AddStringToObject(root, "target",
				    layout->target_kind == AX_TARGET_CLASS ? "class" : "regression"));
	ADD(cJSON_AddNumberToObject(root, "target_dim", (double)layout->target_dim));
	if (complete && layout->num_norm > 0) {
		ADD(norm = cJSON_AddObjectToObject(root, "normalization"));
		if (complete) {
			complete = cJSON_AddItemToObject(norm, "mean", cJSON_CreateFloatArray(
								 layout->norm_mean, layout->num_norm)) &&
				   cJSON_AddItemToObject(norm, "std", cJSON_CreateFloatArray(
								 layout->norm_std, layout->num_norm));
		}
	}
	ADD(shards = cJSON_AddArrayToObject(root, "shards"));
	for (int s = 0; complete && s < num_shards; s++) {
		int64_t count = num_rows / num_shards + (s < num_rows % num_shards);
		cJSON *entry = cJSON_CreateObject();

		snprintf(name, sizeof(name), "%s-%05d.h5", layout->split, s);
		complete = entry && cJSON_AddItemToArray(shards, entry);
		ADD(cJSON_AddStringToObject(entry, "file", name));
		ADD(cJSON_AddNumberToObject(entry, "samples", (double)count));
	}
	if (layout->source)
		ADD(cJSON_AddStringToObject(root, "source", layout->source));
	snprintf(name, sizeof(name), "axon %s", ax_version());
	ADD(cJSON_AddStringToObject(root, "created_by", name));
#undef ADD
	if (!complete || !(text = cJSON_Print(root))) {
		st = AX_ERROR(AX_ERR_NOMEM, "data: out of memory building %s/manifest.json", dir);
		goto done;
	}
	file = fopen(temp_path, "w");
	if (!file) {
		st = AX_ERROR(AX_ERR_IO, "data: cannot create %s: %s", temp_path, strerror(errno));
		goto done;
	}
	if (fputs(text, file) < 0 || fputc('\n', file) == EOF) {
		st = AX_ERROR(AX_ERR_IO, "data: writing %s failed: %s", temp_path, strerror(errno));
		fclose(file);
		goto done;
	}
	if (fclose(file) != 0)
		st = AX_ERROR(AX_ERR_IO, "data: writing %s failed: %s", temp_path, strerror(errno));
done:
	if (text)
		cJSON_free(text);
	cJSON_Delete(root);
	return st;
}

/* ---- staging ---- */

static enum ax_status stage_add(struct ax_convert_stage *stage, const char *temp_path,
				const char *final_path)
{
	struct ax_staged_file *file;

	if (stage->count == stage->capacity) {
		int64_t capacity = stage->capacity;
		void *files = stage->files;
		enum ax_status st = ax_convert_grow(&files, &capacity, stage->count + 1,
						    sizeof(*stage->files), "the list of staged files");

		if (st)
			return st;
		stage->files = files;
		stage->capacity = (int)capacity;
	}
	file = &stage->files[stage->count];
	file->temp_path = copy_string(temp_path);
	file->final_path = copy_string(final_path);
	if (!file->temp_path || !file->final_path) {
		ax_free(file->temp_path);
		ax_free(file->final_path);
		return AX_ERR_NOMEM;
	}
	stage->count++;
	return AX_OK;
}

static enum ax_status stage_replace_dir(struct ax_convert_stage *stage, const char *dir)
{
	int64_t capacity = stage->replace_count;
	void *dirs = stage->replace_dirs;
	enum ax_status st = ax_convert_grow(&dirs, &capacity, stage->replace_count + 1,
					    sizeof(char *), "the list of replaced directories");

	if (st)
		return st;
	stage->replace_dirs = dirs;
	stage->replace_dirs[stage->replace_count] = copy_string(dir);
	if (!stage->replace_dirs[stage->replace_count])
		return AX_ERR_NOMEM;
	stage->replace_count++;
	return AX_OK;
}

enum ax_status ax_convert_stage_split(struct ax_convert_stage *stage, const char *dir,
				      const struct ax_split_layout *layout, const void *inputs,
				      const void *targets, const int64_t *rows, int64_t num_rows,
				      int num_shards, int overwrite)
{
	char temp_path[PATH_BYTES], final_path[PATH_BYTES], name[96], found[256];
	struct ax_shard_job job = {0};
	struct hdf5_quiet quiet;
	enum ax_status st;

	if (!stage || !dir || !layout || !inputs || !targets)
		return AX_ERROR(AX_ERR_INVALID, "data: writing a split needs a directory, a layout, "
				"inputs and targets (one was NULL)");
	st = check_layout(layout);
	if (st)
		return st;
	if (num_rows < 1)
		return AX_ERROR(AX_ERR_INVALID, "data: split %s has no samples; a dataset needs at "
				"least one", layout->split);
	if (num_shards < 1 || num_shards > AX_DATA_MAX_SHARDS)
		return AX_ERROR(AX_ERR_INVALID, "data: %d shards requested; use 1 to %d",
				num_shards, AX_DATA_MAX_SHARDS);
	if (num_shards > num_rows)
		num_shards = (int)num_rows; /* no empty shards: the reader refuses them */
	st = make_directories(dir);
	if (st)
		return st;
	if (holds_dataset(dir, found, sizeof(found))) {
		if (!overwrite)
			return AX_ERROR(AX_ERR_INVALID, "data: %s already holds a dataset (%s); "
					"choose another output directory or pass --overwrite",
					dir, found);
		st = stage_replace_dir(stage, dir);
		if (st)
			return st;
	}

	job.layout = layout;
	job.inputs = inputs;
	job.targets = targets;
	job.rows = rows;
	job.input_row_bytes = (int64_t)ax_dtype_size(layout->input_dtype);
	for (int d = 0; d < layout->sample_ndim; d++)
		job.input_row_bytes *= layout->sample_shape[d];
	job.target_row_bytes = 4 * layout->target_dim;
	job.chunk_rows = layout->chunk_rows > 0 ? layout->chunk_rows
						: ax_data_default_chunk_rows(job.input_row_bytes);
	job.name = name;
	job.temp_path = temp_path;
	hdf5_quiet_begin(&quiet);
	for (int s = 0; s < num_shards; s++) {
		snprintf(name, sizeof(name), ".%s-%05d.h5.tmp", layout->split, s);
		if ((st = join_path(temp_path, dir, name)) != AX_OK)
			break;
		snprintf(name, sizeof(name), "%s-%05d.h5", layout->split, s);
		if ((st = join_path(final_path, dir, name)) != AX_OK)
			break;
		/* Recorded before writing, so that a failure removes the partial file. */
		if ((st = stage_add(stage, temp_path, final_path)) != AX_OK)
			break;
		job.count = num_rows / num_shards + (s < num_rows % num_shards);
		if ((st = ax_shard_write(&job)) != AX_OK)
			break;
		job.first += job.count;
	}
	hdf5_quiet_end(&quiet);
	if (st)
		return st;
	if ((st = join_path(temp_path, dir, ".manifest.json.tmp")) != AX_OK ||
	    (st = join_path(final_path, dir, "manifest.json")) != AX_OK ||
	    (st = stage_add(stage, temp_path, final_path)) != AX_OK)
		return st;
	return write_manifest(temp_path, dir, layout, num_rows, num_shards);
}

static int is_staged_final(const struct ax_convert_stage *stage, const char *path)
{
	for (int i = 0; i < stage->count; i++)
		if (strcmp(stage->files[i].final_path, path) == 0)
			return 1;
	return 0;
}

static enum ax_status rename_staged(struct ax_staged_file *file)
{
	if (rename(file->temp_path, file->final_path) != 0)
		return AX_ERROR(AX_ERR_IO, "data: cannot rename %s to %s: %s; the dataset is "
				"incomplete, run the conversion again", file->temp_path,
				file->final_path, strerror(errno));
	ax_free(file->temp_path);
	file->temp_path = NULL;
	return AX_OK;
}

/* Remove the *.h5 files of a replaced dataset that the new one does not have. */
static enum ax_status remove_stale_shards(const struct ax_convert_stage *stage, const char *dir)
{
	char path[PATH_BYTES];
	DIR *listing = opendir(dir);
	struct dirent *entry;
	enum ax_status st = AX_OK;

	if (!listing)
		return AX_ERROR(AX_ERR_IO, "data: cannot list %s: %s", dir, strerror(errno));
	while (!st && (entry = readdir(listing)) != NULL) {
		if (entry->d_name[0] == '.' || !ends_with(entry->d_name, ".h5"))
			continue;
		st = join_path(path, dir, entry->d_name);
		if (!st && !is_staged_final(stage, path) && unlink(path) != 0)
			st = AX_ERROR(AX_ERR_IO, "data: cannot remove the old shard %s: %s", path,
				      strerror(errno));
	}
	closedir(listing);
	return st;
}

enum ax_status ax_convert_stage_commit(struct ax_convert_stage *stage)
{
	enum ax_status st = AX_OK;

	for (int manifests = 0; manifests < 2; manifests++) {
		for (int i = 0; !st && i < stage->count; i++) {
			struct ax_staged_file *file = &stage->files[i];

			if (file->temp_path && ends_with(file->final_path, "/manifest.json") == manifests)
				st = rename_staged(file);
		}
		for (int d = 0; !st && !manifests && d < stage->replace_count; d++)
			st = remove_stale_shards(stage, stage->replace_dirs[d]);
	}
	stage->committed = !st;
	return st;
}

void ax_convert_stage_discard(struct ax_convert_stage *stage)
{
	if (!stage)
		return;
	for (int i = 0; i < stage->count; i++) {
		if (stage->files[i].temp_path)
			unlink(stage->files[i].temp_path);
		ax_free(stage->files[i].temp_path);
		ax_free(stage->files[i].final_path);
	}
	for (int d = 0; d < stage->replace_count; d++)
		ax_free(stage->replace_dirs[d]);
	ax_free(stage->files);
	ax_free(stage->replace_dirs);
	memset(stage, 0, sizeof(*stage));
}

enum ax_status ax_data_write_split(const char *dir, const struct ax_split_layout *layout,
				   const void *inputs, const void *targets, const int64_t *rows,
				   int64_t num_rows, int num_shards, int overwrite)
{
	struct ax_convert_stage stage = {0};
	enum ax_status st = ax_convert_stage_split(&stage, dir, layout, inputs, targets, rows,
						   num_rows, num_shards, overwrite);

	if (!st)
		st = ax_convert_stage_commit(&stage);
	ax_convert_stage_discard(&stage);
	return st;
}

enum ax_status ax_convert_grow(void **buffer, int64_t *capacity, int64_t needed, size_t elem_size,
			       const char *what)
{
	int64_t new_capacity = *capacity > 0 ? *capacity : 16;
	void *grown;

	if (needed <= *capacity)
		return AX_OK;
	while (new_capacity < needed)
		new_capacity *= 2;
	grown = ax_alloc((size_t)new_capacity * elem_size);
	if (!grown)
		return AX_ERROR(AX_ERR_NOMEM, "data: out of memory growing %s to %lld entries",
				what, (long long)new_capacity);
	if (*buffer)
		memcpy(grown, *buffer, (size_t)*capacity * elem_size);
	ax_free(*buffer);
	*buffer = grown;
	*capacity = new_capacity;
	return AX_OK;
}
