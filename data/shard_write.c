/* shard_write.c - write one HDF5 shard of a split: `inputs` and `targets`
 * chunked along N with the filters the layout asks for, and the attributes
 * (docs/data-format.md). Rows are gathered and written a slab of whole chunks
 * at a time, so memory stays bounded and every chunk is compressed once.
 * Every HDF5 call is checked; the innermost reason on HDF5's error stack goes
 * into our message next to the file name (writer.c silences HDF5's own
 * printing around the whole split). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "axon/alloc.h"
#include "convert_internal.h"

#define REASON_BYTES 320
#define SLAB_BYTES ((int64_t)8 << 20) /* rows gathered per H5Dwrite, rounded to whole chunks */

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
static enum ax_status gather_slab(const struct ax_shard_job *job, int64_t at, int64_t n,
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

enum ax_status ax_shard_write(const struct ax_shard_job *job)
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

