/* h5_checked.c - checked HDF5 calls for checkpoints/ (see h5_checked.h).
 *
 * The first failure of an operation is kept with HDF5's innermost message,
 * which names the real cause ("file write failed", "truncated file"), and
 * the errno of a failed system call, which HDF5 reports only inside that
 * message's text. Float datasets are chunked with the Fletcher-32 filter,
 * the one way HDF5 notices a flipped byte in raw data. Every helper cleans
 * up its own handles on every path and reports failure by return value, so
 * callers can chain them with AX_CKPT_CHECK and a single `done:` label. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "axon/alloc.h"
#include "h5_checked.h"

#define CHUNK_TARGET_BYTES ((uint64_t)4 << 20)

/* ---- failures ---- */

void ax_ckpt_h5_quiet_begin(struct ax_ckpt_h5_quiet *saved)
{
	if (H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data) < 0) {
		saved->func = NULL;
		saved->data = NULL;
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ax_ckpt_h5_quiet_end(const struct ax_ckpt_h5_quiet *saved)
{
	H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

static herr_t keep_innermost(unsigned n, const H5E_error2_t *err, void *data)
{
	(void)n;
	if (err->desc && err->desc[0])
		snprintf(data, AX_CKPT_REASON_BYTES, "%s", err->desc);
	return 0;
}

void ax_ckpt_capture(struct ax_ckpt_failure *fail)
{
	int error_number = errno;
	const char *errno_field;
	char *colon;

	if (fail->captured)
		return;
	fail->captured = 1;
	fail->reason[0] = '\0';
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, fail->reason);
	if (!fail->reason[0]) {
		fail->error_number = error_number;
		return;
	}
	errno_field = strstr(fail->reason, "errno = ");
	fail->error_number = 0;
	if (errno_field && sscanf(errno_field, "errno = %d", &fail->error_number) == 1 &&
	    fail->error_number > 0) {
		colon = strchr(fail->reason, ':');
		if (colon)
			*colon = '\0';
	}
}

void ax_ckpt_capture_errno(struct ax_ckpt_failure *fail)
{
	int error_number = errno;

	if (fail->captured)
		return;
	fail->captured = 1;
	fail->error_number = error_number;
	fail->reason[0] = '\0';
}

void ax_ckpt_capture_text(struct ax_ckpt_failure *fail, const char *text)
{
	if (fail->captured)
		return;
	fail->captured = 1;
	fail->error_number = 0;
	snprintf(fail->reason, AX_CKPT_REASON_BYTES, "%s", text);
}

const char *ax_ckpt_describe(const struct ax_ckpt_failure *fail, char *buf, size_t len)
{
	if (fail->error_number && fail->reason[0])
		snprintf(buf, len, "%s (HDF5: %s)", strerror(fail->error_number), fail->reason);
	else if (fail->error_number)
		snprintf(buf, len, "%s", strerror(fail->error_number));
	else
		snprintf(buf, len, "%s", fail->reason[0] ? fail->reason : "no detail from HDF5");
	return buf;
}

char *ax_ckpt_copy_string(const char *text)
{
	size_t n = strlen(text) + 1;
	char *copy = ax_alloc(n);

	if (copy)
		memcpy(copy, text, n);
	return copy;
}

/* ---- attributes ---- */

herr_t ax_ckpt_write_string_attribute(hid_t object, const char *name, const char *value,
				      struct ax_ckpt_failure *fail)
{
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attribute = H5I_INVALID_HID;
	herr_t result = -1;

	AX_CKPT_CHECK(type = H5Tcopy(H5T_C_S1));
	AX_CKPT_CHECK(H5Tset_size(type, H5T_VARIABLE));
	AX_CKPT_CHECK(H5Tset_cset(type, H5T_CSET_UTF8));
	AX_CKPT_CHECK(space = H5Screate(H5S_SCALAR));
	AX_CKPT_CHECK(attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
	AX_CKPT_CHECK(H5Awrite(attribute, type, &value));
	result = H5Aclose(attribute);
	attribute = H5I_INVALID_HID;
	AX_CKPT_CHECK(result);
done:
	if (attribute >= 0)
		H5Aclose(attribute);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return fail->captured ? -1 : 0;
}

herr_t ax_ckpt_write_int_attribute(hid_t object, const char *name, int32_t value,
				   struct ax_ckpt_failure *fail)
{
	hid_t space = H5I_INVALID_HID, attribute = H5I_INVALID_HID;
	herr_t result;

	AX_CKPT_CHECK(space = H5Screate(H5S_SCALAR));
	AX_CKPT_CHECK(attribute = H5Acreate2(object, name, H5T_STD_I32LE, space, H5P_DEFAULT,
					     H5P_DEFAULT));
	AX_CKPT_CHECK(H5Awrite(attribute, H5T_NATIVE_INT32, &value));
	result = H5Aclose(attribute);
	attribute = H5I_INVALID_HID;
	AX_CKPT_CHECK(result);
done:
	if (attribute >= 0)
		H5Aclose(attribute);
	if (space >= 0)
		H5Sclose(space);
	return fail->captured ? -1 : 0;
}

herr_t ax_ckpt_read_string_attribute(hid_t object, const char *name, char **out,
				     struct ax_ckpt_failure *fail)
{
	hid_t attribute = H5I_INVALID_HID, type = H5I_INVALID_HID, memory_type = H5I_INVALID_HID;
	htri_t exists, variable;
	char *text = NULL;

	*out = NULL;
	AX_CKPT_CHECK(exists = H5Aexists(object, name));
	if (!exists)
		return 0;
	AX_CKPT_CHECK(attribute = H5Aopen(object, name, H5P_DEFAULT));
	AX_CKPT_CHECK(type = H5Aget_type(attribute));
	if (H5Tget_class(type) != H5T_STRING) {
		ax_ckpt_capture_text(fail, "the attribute is not a string");
		goto done;
	}
	AX_CKPT_CHECK(variable = H5Tis_variable_str(type));
	if (variable) {
		AX_CKPT_CHECK(memory_type = H5Tcopy(H5T_C_S1));
		AX_CKPT_CHECK(H5Tset_size(memory_type, H5T_VARIABLE));
		AX_CKPT_CHECK(H5Tset_cset(memory_type, H5Tget_cset(type)));
		AX_CKPT_CHECK(H5Aread(attribute, memory_type, &text));
		*out = ax_ckpt_copy_string(text ? text : "");
		H5free_memory(text);
	} else {
		size_t size = H5Tget_size(type);

		*out = ax_calloc(size + 1, 1);
		if (*out)
			AX_CKPT_CHECK(H5Aread(attribute, type, *out));
	}
	if (!*out)
		ax_ckpt_capture_text(fail, "out of memory");
done:
	if (fail->captured) {
		ax_free(*out);
		*out = NULL;
	}
	if (memory_type >= 0)
		H5Tclose(memory_type);
	if (type >= 0)
		H5Tclose(type);
	if (attribute >= 0)
		H5Aclose(attribute);
	return fail->captured ? -1 : 0;
}

herr_t ax_ckpt_read_int_attribute(hid_t object, const char *name, long long *out, int *present,
				  struct ax_ckpt_failure *fail)
{
	hid_t attribute = H5I_INVALID_HID, type = H5I_INVALID_HID;
	htri_t exists;

	*present = 0;
	AX_CKPT_CHECK(exists = H5Aexists(object, name));
	if (!exists)
		return 0;
	AX_CKPT_CHECK(attribute = H5Aopen(object, name, H5P_DEFAULT));
	AX_CKPT_CHECK(type = H5Aget_type(attribute));
	if (H5Tget_class(type) != H5T_INTEGER) {
		ax_ckpt_capture_text(fail, "the attribute is not an integer");
		goto done;
	}
	AX_CKPT_CHECK(H5Aread(attribute, H5T_NATIVE_LLONG, out));
	*present = 1;
done:
	if (type >= 0)
		H5Tclose(type);
	if (attribute >= 0)
		H5Aclose(attribute);
	return fail->captured ? -1 : 0;
}

hid_t ax_ckpt_open_read_only(const char *path, struct ax_ckpt_failure *fail)
{
	hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;

	/* Locking off: it fails on NFS and Lustre, where runs keep their files. */
	AX_CKPT_CHECK(fapl = H5Pcreate(H5P_FILE_ACCESS));
	AX_CKPT_CHECK(H5Pset_file_locking(fapl, 0, 1));
	AX_CKPT_CHECK(file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
done:
	if (fapl >= 0)
		H5Pclose(fapl);
	return file;
}

int ax_ckpt_sync_path(const char *path, int directory, struct ax_ckpt_failure *fail)
{
	int fd, result;

	errno = 0;
	fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
	if (fd < 0) {
		ax_ckpt_capture_errno(fail);
		return -1;
	}
	result = fsync(fd);
	/* Some file systems cannot fsync a directory (EINVAL); nothing to do there. */
	if (result < 0 && !(directory && errno == EINVAL)) {
		ax_ckpt_capture_errno(fail);
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		ax_ckpt_capture_errno(fail);
		return -1;
	}
	return 0;
}

/* ---- float datasets ---- */

static int64_t numel_of(int ndim, const int64_t *shape)
{
	int64_t n = 1;

	for (int d = 0; d < ndim; d++)
		n *= shape[d];
	return n;
}

/* Chunk dims of at most CHUNK_TARGET_BYTES: whole trailing dims, as many
 * leading rows as fit (a 1-element chunk along a dim when even one row of the
 * dims after it is too big). */
static void choose_chunk(int ndim, const hsize_t *dims, hsize_t *chunk)
{
	for (int d = 0; d < ndim; d++)
		chunk[d] = dims[d];
	for (int d = 0; d < ndim; d++) {
		uint64_t inner = sizeof(float);

		for (int k = d + 1; k < ndim; k++)
			inner *= chunk[k];
		if (inner * chunk[d] <= CHUNK_TARGET_BYTES)
			break;
		chunk[d] = inner < CHUNK_TARGET_BYTES ? CHUNK_TARGET_BYTES / inner : 1;
		if (inner <= CHUNK_TARGET_BYTES)
			break;
	}
}

herr_t ax_ckpt_write_f32(hid_t file, const char *name, int ndim, const int64_t *shape,
			 const float *values, struct ax_ckpt_failure *fail)
{
	hsize_t dims[AX_MAX_DIMS], chunk[AX_MAX_DIMS];
	hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
	hid_t dataset = H5I_INVALID_HID;
	int64_t numel = numel_of(ndim, shape);
	herr_t result;

	for (int d = 0; d < ndim; d++)
		dims[d] = (hsize_t)shape[d];
	if (ndim > 0)
		AX_CKPT_CHECK(space = H5Screate_simple(ndim, dims, NULL));
	else
		AX_CKPT_CHECK(space = H5Screate(H5S_SCALAR));
	AX_CKPT_CHECK(dcpl = H5Pcreate(H5P_DATASET_CREATE));
	/* HDF5 chunks only datasets of rank >= 1 with no zero-sized dim; those
	 * (and their checksums) are the point, the rest stay contiguous. */
	if (ndim > 0 && numel > 0) {
		choose_chunk(ndim, dims, chunk);
		AX_CKPT_CHECK(H5Pset_chunk(dcpl, ndim, chunk));
		AX_CKPT_CHECK(H5Pset_fletcher32(dcpl));
	}
	AX_CKPT_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
	AX_CKPT_CHECK(lcpl = H5Pcreate(H5P_LINK_CREATE));
	AX_CKPT_CHECK(H5Pset_create_intermediate_group(lcpl, 1));
	AX_CKPT_CHECK(dataset = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, lcpl, dcpl,
					   H5P_DEFAULT));
	if (numel > 0)
		AX_CKPT_CHECK(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
				       values));
	result = H5Dclose(dataset);
	dataset = H5I_INVALID_HID;
	AX_CKPT_CHECK(result);
done:
	if (dataset >= 0)
		H5Dclose(dataset);
	if (lcpl >= 0)
		H5Pclose(lcpl);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	return fail->captured ? -1 : 0;
}

enum ax_ckpt_read ax_ckpt_read_f32(hid_t file, const char *name, int want_ndim,
				   const int64_t *want_shape, int *ndim, int64_t *shape, float *out,
				   struct ax_ckpt_failure *fail)
{
	hid_t dataset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
	hsize_t dims[AX_MAX_DIMS];
	enum ax_ckpt_read result = AX_CKPT_READ_FAILED;
	int rank;

	AX_CKPT_CHECK(dataset = H5Dopen2(file, name, H5P_DEFAULT));
	AX_CKPT_CHECK(space = H5Dget_space(dataset));
	AX_CKPT_CHECK(rank = H5Sget_simple_extent_ndims(space));
	*ndim = rank;
	if (rank > AX_MAX_DIMS) {
		result = AX_CKPT_READ_SHAPE;
		goto done;
	}
	AX_CKPT_CHECK(H5Sget_simple_extent_dims(space, dims, NULL));
	for (int d = 0; d < rank; d++)
		shape[d] = (int64_t)dims[d];
	if (rank != want_ndim || memcmp(shape, want_shape, (size_t)rank * sizeof(int64_t))) {
		result = AX_CKPT_READ_SHAPE;
		goto done;
	}
	AX_CKPT_CHECK(type = H5Dget_type(dataset));
	if (H5Tget_class(type) != H5T_FLOAT) {
		result = AX_CKPT_READ_DTYPE;
		goto done;
	}
	if (out && numel_of(rank, shape) > 0)
		AX_CKPT_CHECK(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
				      out));
	result = AX_CKPT_READ_OK;
done:
	if (type >= 0)
		H5Tclose(type);
	if (space >= 0)
		H5Sclose(space);
	if (dataset >= 0)
		H5Dclose(dataset);
	return result;
}
