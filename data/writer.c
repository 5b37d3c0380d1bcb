/* writer.c - write one split of an axon dataset: HDF5 shards and manifest.json.
 *
 * A split is written as `num_shards` HDF5 files holding `inputs` and
 * `targets` chunked along N (docs/data-format.md), plus a manifest listing
 * them. Everything goes to a temporary name first (".train-00000.h5.tmp",
 * which the reader ignores because it does not end in .h5) and is renamed
 * into place by ax_convert_stage_commit once every file of every split is
 * complete: a run that fails half-way leaves no partial shard and does not
 * touch a dataset that was already there. Rows are gathered and written a
 * slab of whole chunks at a time, so memory stays bounded and every chunk is
 * compressed once. Every HDF5 call is checked; HDF5's own error printing is
 * silenced for the duration and its innermost reason is put into our message
 * instead, next to the file name. */
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
#define REASON_BYTES 320
#define SLAB_BYTES ((int64_t)8 << 20) /* rows gathered per H5Dwrite, rounded to whole chunks */

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

/* Keep the innermost description. HDF5's system-call failures read "file
 * write failed: time = ..., filename = ..., errno = 28, error message = 'No
 * space left on device', buf = ..."; shorten those to "file write failed: No
 * space left on device". */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *err, void *data)
{
	const char *system_message;
	char *reason = data;

	(void)n;
	if (!err->desc || !err->desc[0])
		return 0;
	system_message = strstr(err->desc, "error message = '");
	if (system_message && strchr(err->desc, ':')) {
		int head = (int)(strchr(err->desc, ':') - err->desc);

		system_message += strlen("error message = '");
		snprintf(reason, REASON_BYTES, "%.*s: %.*s", head, err->desc,
			 (int)strcspn(system_message, "'"), system_message);
	} else {
		snprintf(reason, REASON_BYTES, "%s", err->desc);
	}
	for (char *c = reason; *c; c++)
		if (*c == '\n')
			*c = ' ';
	return 0;
}

/* The innermost message on this thread's HDF5 error stack. Call it right at
 * the failure: the next HDF5 call clears the stack. */
static void hdf5_reason(char *reason)
{
	reason[0] = '\0';
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, reason);
	if (!reason[0])
		snprintf(reason, REASON_BYTES, "no detail from HDF5");
}

#define H5_TRY(expr, what)                                      \
	do {                                                    \
		if ((expr) < 0) {                               \
			if (!reason[0])                         \
				hdf5_reason(reason);            \
			failed_step = (what);                   \
			goto done;                              \
		}                                               \
	} while (0)

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

/* ---- one shard ---- */

struct shard_job {
	const char *temp_path;        /* the file written */
	const char *name;             /* its final name, for messages */
	const struct ax_split_layout *layout;
	const uint8_t *inputs;        /* the whole source */
	const uint8_t *targets;
	const int64_t *rows;          /* source rows; NULL: identity */
	int64_t first, count;         /* this shard's part of `rows` */
	int64_t input_row_bytes, target_row_bytes, chunk_rows;
};

static hid_t create_chunked(hid_t file, const char *name, hid_t file_type, int rank,
			    const hsize_t *dims, const hsize_t *chunk, const struct ax_split_layout *layout,
			    int shuffle, char *reason)
{
	hid_t space = H5Screate_simple(rank, dims, NULL);
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	hid_t dataset = H5I_INVALID_HID;

	if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0 ||
	    (shuffle && layout->compression > 0 && H5Pset_shuffle(dcpl) < 0) ||
	    (layout->compression > 0 && H5Pset_deflate(dcpl, (unsigned)layout->compression) < 0) ||
	    (layout->checksum && H5Pset_fletcher32(dcpl) < 0) ||
	    (dataset = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
		hdf5_reason(reason);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	return dataset;
}

/* Write rows [start, start + count) of `dataset` from the contiguous `buffer`. */
static herr_t write_rows(hid_t dataset, hid_t memory_type, int rank, const hsize_t *dims,
			 int64_t start, int64_t count, const void *buffer, char *reason)
{
	hsize_t offset[AX_DATA_MAX_SAMPLE_DIMS + 1] = {0}, extent[AX_DATA_MAX_SAMPLE_DIMS + 1];
	hid_t file_space = H5Dget_space(dataset), memory_space = H5I_INVALID_HID;
	herr_t result = -1;

	memcpy(extent, dims, (size_t)rank * sizeof(hsize_t));
	offset[0] = (hsize_t)start;
	extent[0] = (hsize_t)count;
	if (file_space >= 0 &&
	    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, NULL, extent, NULL) >= 0 &&
	    (memory_space = H5Screate_simple(rank, extent, NULL)) >= 0)
		result = H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, buffer);
	if (result < 0)
		hdf5_reason(reason);
	if (memory_space >= 0)
		H5Sclose(memory_space);
	if (file_space >= 0)
		H5Sclose(file_space);
	return result;
}

static herr_t write_int_attribute(hid_t file, const char *name, int value, char *reason)
{
	hid_t space = H5Screate(H5S_SCALAR), attribute = H5I_INVALID_HID;
	herr_t result = -1;

	if (space >= 0 &&
	    (attribute = H5Acreate2(file, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
		result = H5Awrite(attribute, H5T_NATIVE_INT, &value);
	if (result < 0)
		hdf5_reason(reason);
	if (attribute >= 0 && H5Aclose(attribute) < 0 && result >= 0) {
		hdf5_reason(reason);
		result = -1;
	}
	if (space >= 0)
		H5Sclose(space);
	return result;
}

static herr_t write_float_attribute(hid_t file, const char *name, const float *values, int n,
				    char *reason)
{
	hsize_t length = (hsize_t)n;
	hid_t space = H5Screate_simple(1, &length, NULL), attribute = H5I_INVALID_HID;
	herr_t result = -1;

	if (space >= 0 &&
	    (attribute = H5Acreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
		result = H5Awrite(attribute, H5T_NATIVE_FLOAT, values);
	if (result < 0)
		hdf5_reason(reason);
	if (attribute >= 0 && H5Aclose(attribute) < 0 && result >= 0) {
		hdf5_reason(reason);
		result = -1;
	}
	if (space >= 0)
		H5Sclose(space);
	return result;
}

/* A variable-length UTF-8 string, as h5py writes `f.attrs["split"] = "train"`. */
static herr_t write_string_attribute(hid_t file, const char *name, const char *value,
				     char *reason)
{
	hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), attribute = H5I_INVALID_HID;
	herr_t result = -1;

	if (type >= 0 && space >= 0 && H5Tset_size(type, H5T_VARIABLE) >= 0 &&
	    H5Tset_cset(type, H5T_CSET_UTF8) >= 0 &&
	    (attribute = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
		result = H5Awrite(attribute, type, &value);
	if (result < 0)
		hdf5_reason(reason);
	if (attribute >= 0 && H5Aclose(attribute) < 0 && result >= 0) {
		hdf5_reason(reason);
		result = -1;
	}
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return result;
}

/* Gather rows [at, at + n) of the shard into the slab buffers, checking
 * labels and float inputs on the way. */
static enum ax_status gather_slab(const struct shard_job *job, int64_t at, int64_t n,
				  uint8_t *input_slab, uint8_t *target_slab)
{
	const struct ax_split_layout *layout = job->layout;

	for (int64_t i = 0; i < n; i++) {
		int64_t row = job->rows ? job->rows[job->first + at + i] : job->first + at + i;
		const uint8_t *input = job->inputs + row * job->input_row_bytes;
		const uint8_t *target = job->targets + row * job->target_row_bytes;

		if (layout->input_dtype == AX_F32) {
			const float *values = (const float *)input;

			for (int64_t e = 0; e < job->input_row_bytes / 4; e++)
				if (!isfinite(values[e]))
					return AX_ERROR(AX_ERR_INVALID, "data: source sample %lld has a "
							"non-finite input (element %lld is %g); fix "
							"the source data", (long long)row,
							(long long)e, (double)values[e]);
		}
		if (layout->target_kind == AX_TARGET_CLASS) {
			int32_t label;

			memcpy(&label, target, sizeof(label));
			if (label < 0 || label >= layout->num_classes)
				return AX_ERROR(AX_ERR_RANGE, "data: source sample %lld has label %d, "
						"outside [0, %d); raise num_classes or fix the labels",
						(long long)row, label, layout->num_classes);
		}
		memcpy(input_slab + i * job->input_row_bytes, input, (size_t)job->input_row_bytes);
		memcpy(target_slab + i * job->target_row_bytes, target, (size_t)job->target_row_bytes);
	}
	return AX_OK;
}

static enum ax_status write_shard(const struct shard_job *job)
{
	const struct ax_split_layout *layout = job->layout;
	int is_float = layout->input_dtype == AX_F32, rank = layout->sample_ndim + 1;
	int target_rank = layout->target_kind == AX_TARGET_CLASS ? 1 : 2;
	hid_t input_file_type = is_float ? H5T_IEEE_F32LE : H5T_STD_U8LE;
	hid_t input_memory_type = is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8;
	hid_t target_file_type = target_rank == 1 ? H5T_STD_I32LE : H5T_IEEE_F32LE;
	hid_t target_memory_type = target_rank == 1 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
	hsize_t dims[AX_DATA_MAX_SAMPLE_DIMS + 1], chunk[AX_DATA_MAX_SAMPLE_DIMS + 1];
	hsize_t target_dims[2], target_chunk[2];
	hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
	hid_t inputs = H5I_INVALID_HID, targets = H5I_INVALID_HID;
	int64_t chunk_rows = job->chunk_rows < job->count ? job->chunk_rows : job->count;
	int64_t slab_rows = chunk_rows * (SLAB_BYTES / (chunk_rows * job->input_row_bytes) > 1 ?
					  SLAB_BYTES / (chunk_rows * job->input_row_bytes) : 1);
	uint8_t *input_slab = NULL, *target_slab = NULL;
	char reason[REASON_BYTES] = "";
	const char *failed_step = NULL;
	enum ax_status st = AX_OK;

	if (slab_rows > job->count)
		slab_rows = job->count;
	dims[0] = (hsize_t)job->count;
	chunk[0] = (hsize_t)chunk_rows;
	for (int d = 0; d < layout->sample_ndim; d++)
		dims[d + 1] = chunk[d + 1] = (hsize_t)layout->sample_shape[d];
	target_dims[0] = (hsize_t)job->count;
	target_chunk[0] = (hsize_t)chunk_rows;
	target_dims[1] = target_chunk[1] = (hsize_t)layout->target_dim;

	input_slab = ax_alloc((size_t)(slab_rows * job->input_row_bytes));
	target_slab = ax_alloc((size_t)(slab_rows * job->target_row_bytes));
	if (!input_slab || !target_slab) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	/* Locking off: output directories on NFS or Lustre refuse HDF5's locks. */
	H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "making a file-access list");
	H5_TRY(H5Pset_file_locking(fapl, 0, 1), "turning file locking off");
	H5_TRY(file = H5Fcreate(job->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "creating the file");
	H5_TRY(inputs = create_chunked(file, "inputs", input_file_type, rank, dims, chunk, layout,
				       is_float, reason), "creating dataset 'inputs'");
	H5_TRY(targets = create_chunked(file, "targets", target_file_type, target_rank, target_dims,
					target_chunk, layout, target_rank == 2, reason),
	       "creating dataset 'targets'");
	for (int64_t at = 0; at < job->count; at += slab_rows) {
		int64_t n = job->count - at < slab_rows ? job->count - at : slab_rows;

		st = gather_slab(job, at, n, input_slab, target_slab);
		if (st)
			goto done;
		H5_TRY(write_rows(inputs, input_memory_type, rank, dims, at, n, input_slab, reason),
		       "writing 'inputs'");
		H5_TRY(write_rows(targets, target_memory_type, target_rank, target_dims, at, n,
				  target_slab, reason), "writing 'targets'");
	}
	H5_TRY(write_int_attribute(file, "axon_schema_version", AX_DATA_SCHEMA_VERSION,
				   reason),
	       "writing attribute axon_schema_version");
	if (layout->target_kind == AX_TARGET_CLASS)
		H5_TRY(write_int_attribute(file, "num_classes", layout->num_classes, reason),
		       "writing attribute num_classes");
	if (layout->num_norm > 0) {
		H5_TRY(write_float_attribute(file, "norm_mean", layout->norm_mean,
					     layout->num_norm, reason),
		       "writing attribute norm_mean");
		H5_TRY(write_float_attribute(file, "norm_std", layout->norm_std,
					     layout->num_norm, reason),
		       "writing attribute norm_std");
	}
	H5_TRY(write_string_attribute(file, "split", layout->split, reason), "writing attribute split");
	H5_TRY(H5Dclose(inputs), "closing 'inputs'");
	inputs = H5I_INVALID_HID;
	H5_TRY(H5Dclose(targets), "closing 'targets'");
	targets = H5I_INVALID_HID;
	H5_TRY(H5Fclose(file), "closing the file");
	file = H5I_INVALID_HID;
done:
	if (failed_step)
		st = AX_ERROR(AX_ERR_IO, "data: writing shard %s (as %s) failed while %s: %s; check "
			      "that the output directory is writable and the disk has space",
			      job->name, job->temp_path, failed_step, reason);
	if (inputs >= 0)
		H5Dclose(inputs);
	if (targets >= 0)
		H5Dclose(targets);
	if (file >= 0)
		H5Fclose(file);
	if (fapl >= 0)
		H5Pclose(fapl);
	ax_free(input_slab);
	ax_free(target_slab);
	return st;
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
	struct shard_job job = {0};
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
		if ((st = write_shard(&job)) != AX_OK)
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
