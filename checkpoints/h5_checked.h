/* h5_checked.h - checked HDF5 calls for checkpoints/ (internal, not installed).
 *
 * Saving state that must survive crashes means checking every HDF5 and
 * system call and saying precisely why one failed. These helpers keep the
 * first failure of an operation in a struct ax_ckpt_failure (HDF5's
 * innermost message and errno, captured at the failing call, before the
 * next HDF5 call clears its error stack), and wrap the HDF5 chores the
 * file formats share: string and integer attributes, checksummed float
 * datasets, read-only opens with file locking off, and fsync of a file or
 * directory. */
#ifndef AXON_CKPT_H5_CHECKED_H
#define AXON_CKPT_H5_CHECKED_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "axon/tensor.h"

#define AX_CKPT_REASON_BYTES 400

/* HDF5's automatic error printing, switched off for the length of an
 * operation (failures go into our messages instead) and restored after. */
struct ax_ckpt_h5_quiet {
	H5E_auto2_t func;
	void *data;
};

void ax_ckpt_h5_quiet_begin(struct ax_ckpt_h5_quiet *saved);
void ax_ckpt_h5_quiet_end(const struct ax_ckpt_h5_quiet *saved);

/* Why the first failing call of an operation failed. Zero-initialise;
 * later captures are ignored once one is held. */
struct ax_ckpt_failure {
	char reason[AX_CKPT_REASON_BYTES]; /* HDF5's innermost message, or our words */
	int error_number;                  /* errno of a failed system call, else 0 */
	int captured;
};

/* ax_ckpt_capture - record the HDF5 call that just failed. When HDF5's
 * message reports a system call's errno ("file write failed: ..., errno =
 * 28, ..."), keep that errno and only the words before the first ':';
 * other HDF5 failures drop errno (it means nothing there). */
void ax_ckpt_capture(struct ax_ckpt_failure *fail);

/* ax_ckpt_capture_errno - record a system call that just failed (errno). */
void ax_ckpt_capture_errno(struct ax_ckpt_failure *fail);

/* ax_ckpt_capture_text - record a failure in our own words. */
void ax_ckpt_capture_text(struct ax_ckpt_failure *fail, const char *text);

/* ax_ckpt_describe - the failure for a message, into buf: "No space left on
 * device (HDF5: file write failed)", HDF5's reason, or errno's text. */
const char *ax_ckpt_describe(const struct ax_ckpt_failure *fail, char *buf, size_t len);

/* Evaluate a call that returns < 0 on failure (every HDF5 call); on failure
 * capture why and jump to the function's `done` label. Needs
 * `struct ax_ckpt_failure *fail` in scope. */
#define AX_CKPT_CHECK(expr)                     \
	do {                                    \
		errno = 0;                      \
		if ((expr) < 0) {               \
			ax_ckpt_capture(fail);  \
			goto done;              \
		}                               \
	} while (0)

/* ax_ckpt_copy_string - an ax_alloc'd copy of text, or NULL. */
char *ax_ckpt_copy_string(const char *text);

/* Scalar attributes on an object (a file's root group, a dataset). Strings
 * are written variable-length UTF-8 (h5py reads them as str); reading also
 * takes fixed-length strings (h5py's bytes). *out of a string read is an
 * ax_alloc'd copy, or NULL when the attribute does not exist; *present of an
 * integer read says whether it exists. Each returns < 0 on failure with
 * *fail filled (a wrong type is a failure too). */
herr_t ax_ckpt_write_string_attribute(hid_t object, const char *name, const char *value,
				      struct ax_ckpt_failure *fail);
herr_t ax_ckpt_write_int_attribute(hid_t object, const char *name, int32_t value,
				   struct ax_ckpt_failure *fail);
herr_t ax_ckpt_read_string_attribute(hid_t object, const char *name, char **out,
				     struct ax_ckpt_failure *fail);
herr_t ax_ckpt_read_int_attribute(hid_t object, const char *name, long long *out, int *present,
				  struct ax_ckpt_failure *fail);

/* ax_ckpt_write_f32 - create dataset `name` (a '/' in it makes the groups
 * on the way) as float32 of shape (ndim, shape) and write `values` to it.
 * Chunked (whole trailing dims, at most 4 MiB a chunk) with the Fletcher-32
 * checksum, so damage is caught at read; a 0-d or empty tensor, which HDF5
 * cannot chunk, is stored contiguous without a checksum. < 0 on failure. */
herr_t ax_ckpt_write_f32(hid_t file, const char *name, int ndim, const int64_t *shape,
			 const float *values, struct ax_ckpt_failure *fail);

enum ax_ckpt_read {
	AX_CKPT_READ_OK,
	AX_CKPT_READ_FAILED, /* an HDF5 call failed (missing, damaged); *fail says why */
	AX_CKPT_READ_SHAPE,  /* the dataset's shape is (*ndim, shape), not the wanted one */
	AX_CKPT_READ_DTYPE,  /* the dataset does not hold floating-point numbers */
};

/* ax_ckpt_read_f32 - open dataset `name`, report its shape in (*ndim, shape
 * [AX_MAX_DIMS]; *ndim may exceed AX_MAX_DIMS, then shape is not filled),
 * check that it is (want_ndim, want_shape) and holds floats, and when `out`
 * is not NULL read it into out as float32 (any float type in the file
 * converts). A checksum mismatch is AX_CKPT_READ_FAILED. */
enum ax_ckpt_read ax_ckpt_read_f32(hid_t file, const char *name, int want_ndim,
				   const int64_t *want_shape, int *ndim, int64_t *shape, float *out,
				   struct ax_ckpt_failure *fail);

/* ax_ckpt_open_read_only - H5Fopen read-only with file locking off (locks
 * fail on NFS and Lustre); a file id, or < 0 with *fail filled. */
hid_t ax_ckpt_open_read_only(const char *path, struct ax_ckpt_failure *fail);

/* ax_ckpt_sync_path - fsync a file (directory = 0) or a directory (1, after
 * a rename; file systems that cannot sync directories are let pass).
 * 0, or -1 with *fail filled. */
int ax_ckpt_sync_path(const char *path, int directory, struct ax_ckpt_failure *fail);

#endif
