/* convert_idx.c - read MNIST-style IDX image and label files.
 *
 * An IDX file is a 4-byte magic (0, 0, element type, number of dims), the
 * dims as big-endian 32-bit integers, then the elements row-major. MNIST and
 * Fashion-MNIST ship image files (type 0x08 = unsigned byte, 3 dims) and
 * label files (0x08, 1 dim), usually gzip-compressed. Everything is read
 * through zlib's gzopen/gzread, which passes plain files through unchanged,
 * so both forms take the same path. The files are small enough (47 MB for
 * Fashion-MNIST's training images) to read whole; every way they can be
 * wrong - not IDX, an element type other than unsigned byte, truncated,
 * trailing bytes, image and label counts that differ - is an error that
 * names the file and says what to do. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <zlib.h>

#include "axon/alloc.h"
#include "convert_internal.h"

#define IDX_UNSIGNED_BYTE 0x08
#define IDX_MAX_BYTES ((int64_t)1 << 40)

struct idx_array {
	int ndim;
	int64_t dims[AX_DATA_MAX_SAMPLE_DIMS + 1];
	int64_t elements;
	uint8_t *data;
};

static const char *idx_type_name(int type)
{
	switch (type) {
	case 0x08: return "unsigned byte";
	case 0x09: return "signed byte";
	case 0x0B: return "int16";
	case 0x0C: return "int32";
	case 0x0D: return "float32";
	case 0x0E: return "float64";
	}
	return "unknown";
}

/* Read up to `bytes` bytes; *got says how many arrived. gzread takes an
 * unsigned int count, so large reads go in pieces. Returns the zlib error
 * text (NULL when the data simply ended). */
static const char *read_some(gzFile file, uint8_t *buffer, int64_t bytes, int64_t *got)
{
	*got = 0;
	while (*got < bytes) {
		int64_t want = bytes - *got < (1 << 30) ? bytes - *got : (1 << 30);
		int n = gzread(file, buffer + *got, (unsigned)want);
		int code;

		if (n < 0) {
			const char *message = gzerror(file, &code);

			return message && message[0] ? message : "read error";
		}
		if (n == 0)
			break;
		*got += n;
	}
	return NULL;
}

/* Read one whole IDX file of unsigned bytes with `min_ndim` to `max_ndim`
 * dims; `what` ("image", "label") and the usual dim count `typical_ndim` go
 * into the messages. */
static enum ax_status read_idx(const char *path, const char *what, int min_ndim, int max_ndim,
			       int typical_ndim, struct idx_array *out)
{
	uint8_t header[4 + 4 * (AX_DATA_MAX_SAMPLE_DIMS + 1)], extra;
	gzFile file;
	const char *problem;
	int64_t got = 0, bytes = 1;
	enum ax_status st = AX_OK;

	memset(out, 0, sizeof(*out));
	errno = 0;
	file = gzopen(path, "rb");
	if (!file)
		return AX_ERROR(AX_ERR_IO, "data: cannot open %s file %s: %s; check the path", what,
				path, errno ? strerror(errno) : "out of memory");
	problem = read_some(file, header, 4, &got);
	if (problem || got < 4) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is not an IDX %s file: %s after %lld bytes",
			      path, what, problem ? problem : "it ends", (long long)got);
		goto done;
	}
	if (header[0] != 0 || header[1] != 0 || header[3] == 0) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is not an IDX %s file: it starts with bytes "
			      "%02x %02x %02x %02x, an IDX %s file starts 00 00 08 0%d; give the %s "
			      "file of an MNIST-style dataset", path, what, header[0], header[1],
			      header[2], header[3], what, typical_ndim, what);
		goto done;
	}
	if (header[2] != IDX_UNSIGNED_BYTE) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s holds IDX elements of type 0x%02x (%s); "
			      "axon reads unsigned-byte (0x08) IDX files only", path, header[2],
			      idx_type_name(header[2]));
		goto done;
	}
	out->ndim = header[3];
	if (out->ndim < min_ndim || out->ndim > max_ndim) {
		if (min_ndim == max_ndim)
			st = AX_ERROR(AX_ERR_INVALID, "data: %s has %d dims; an IDX %s file has %d "
				      "(is it the %s file?)", path, out->ndim, what, min_ndim, what);
		else
			st = AX_ERROR(AX_ERR_INVALID, "data: %s has %d dims; an IDX %s file has %d "
				      "to %d (is it the %s file?)", path, out->ndim, what, min_ndim,
				      max_ndim, what);
		goto done;
	}
	problem = read_some(file, header + 4, 4 * out->ndim, &got);
	if (problem || got < 4 * out->ndim) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is truncated: it ends inside its header "
			      "(%s); download it again", path, problem ? problem : "end of file");
		goto done;
	}
	for (int d = 0; d < out->ndim; d++) {
		const uint8_t *b = header + 4 + 4 * d;

		out->dims[d] = (int64_t)b[0] << 24 | (int64_t)b[1] << 16 | (int64_t)b[2] << 8 | b[3];
		if (out->dims[d] < 1) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: dim %d is 0; the file holds no %ss",
				      path, d, what);
			goto done;
		}
		bytes *= out->dims[d];
		if (bytes > IDX_MAX_BYTES) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: its header declares more than %lld "
				      "bytes; is the header corrupt?", path, (long long)IDX_MAX_BYTES);
			goto done;
		}
	}
	out->elements = bytes;
	out->data = ax_alloc((size_t)bytes);
	if (!out->data) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	problem = read_some(file, out->data, bytes, &got);
	if (problem || got < bytes) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is truncated: its header declares %lld %ss "
			      "(%lld bytes of data) but %s after %lld bytes; download it again",
			      path, (long long)out->dims[0], what, (long long)bytes,
			      problem ? problem : "the data ends", (long long)got);
		goto done;
	}
	problem = read_some(file, &extra, 1, &got);
	if (!problem && got > 0) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s holds more data than the %lld %ss its "
			      "header declares; is it the right file, or two files joined?", path,
			      (long long)out->dims[0], what);
		goto done;
	}
done:
	if (gzclose_r(file) != Z_OK && !st)
		st = AX_ERROR(AX_ERR_IO, "data: reading %s failed when closing it; is it a "
			      "complete gzip file?", path);
	if (st) {
		ax_free(out->data);
		out->data = NULL;
	}
	return st;
}

enum ax_status ax_convert_read_idx(const char *images_path, const char *labels_path,
				   struct ax_convert_source *out)
{
	struct idx_array images, labels = {0};
	enum ax_status st;
	int n;

	memset(out, 0, sizeof(*out));
	st = read_idx(images_path, "image", 2, AX_DATA_MAX_SAMPLE_DIMS + 1, 3, &images);
	if (st)
		return st;
	st = read_idx(labels_path, "label", 1, 1, 1, &labels);
	if (st)
		goto fail;
	if (labels.dims[0] != images.dims[0]) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s holds %lld images but %s holds %lld labels; "
			      "give the label file that belongs to the image file", images_path,
			      (long long)images.dims[0], labels_path, (long long)labels.dims[0]);
		goto fail;
	}
	out->labels = ax_alloc((size_t)labels.dims[0] * sizeof(int32_t));
	if (!out->labels) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	out->max_label = 0;
	for (int64_t i = 0; i < labels.dims[0]; i++) {
		out->labels[i] = labels.data[i];
		if (labels.data[i] > out->max_label)
			out->max_label = labels.data[i];
	}
	ax_free(labels.data);
	n = snprintf(out->description, sizeof(out->description), "idx:%s", images_path);
	if (n < 0 || n >= (int)sizeof(out->description)) {
		st = AX_ERROR(AX_ERR_INVALID, "data: the path %s is too long", images_path);
		ax_convert_source_release(out);
		ax_free(images.data);
		return st;
	}
	out->num_samples = images.dims[0];
	out->input_dtype = AX_U8;
	out->sample_ndim = images.ndim - 1;
	out->sample_numel = 1;
	for (int d = 1; d < images.ndim; d++) {
		out->sample_shape[d - 1] = images.dims[d];
		out->sample_numel *= images.dims[d];
	}
	out->inputs = images.data;
	out->target_kind = AX_TARGET_CLASS;
	out->target_dim = 1;
	return AX_OK;
fail:
	ax_free(images.data);
	ax_free(labels.data);
	ax_convert_source_release(out);
	return st;
}
