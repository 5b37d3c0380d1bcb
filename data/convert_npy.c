/* convert_npy.c - read a pair of NumPy .npy files (inputs, targets).
 *
 * A .npy file is the magic "\x93NUMPY", a version (1.0: 16-bit header length;
 * 2.0 and 3.0: 32-bit), then a header that is a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 * padded with spaces, then the raw array. The header is parsed here by a
 * small tokenizer that knows exactly these three keys and value forms
 * (string, True/False, tuple of integers) rather than by a general Python
 * literal parser, so anything unexpected is an error naming the file.
 *
 * Inputs: uint8 (|u1), float32 (<f4) or float64 (<f8, converted to float32)
 * of shape [N, ...]. Targets: integer class labels (|u1, <i4, <i8) of shape
 * [N], or with `regression` any of those or <f4/<f8 as float32 [N] or [N, k].
 * Big-endian arrays and Fortran order are refused with the numpy call that
 * fixes them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "axon/alloc.h"
#include "convert_internal.h"

#define NPY_MAX_HEADER (1 << 20)
#define NPY_MAX_NDIM 8

struct npy_header {
	char descr[16];
	int fortran_order;
	int ndim;
	int64_t shape[NPY_MAX_NDIM];
	int have_descr, have_order, have_shape;
};

/* ---- the header dict ---- */

struct cursor {
	const char *at, *end;
};

static void skip_space(struct cursor *c)
{
	while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r'))
		c->at++;
}

static int take(struct cursor *c, char expected)
{
	skip_space(c);
	if (c->at < c->end && *c->at == expected) {
		c->at++;
		return 1;
	}
	return 0;
}

static int take_string(struct cursor *c, char *out, size_t bytes)
{
	char quote;
	size_t n = 0;

	skip_space(c);
	if (c->at >= c->end || (*c->at != '\'' && *c->at != '"'))
		return 0;
	quote = *c->at++;
	while (c->at < c->end && *c->at != quote) {
		if (n + 1 >= bytes)
			return 0;
		out[n++] = *c->at++;
	}
	out[n] = '\0';
	return c->at < c->end && *c->at++ == quote;
}

static int take_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);

	skip_space(c);
	if ((size_t)(c->end - c->at) >= n && memcmp(c->at, word, n) == 0) {
		c->at += n;
		return 1;
	}
	return 0;
}

static int take_shape(struct cursor *c, struct npy_header *h)
{
	if (!take(c, '('))
		return 0;
	h->ndim = 0;
	for (;;) {
		int64_t value = 0;
		int digits = 0;

		if (take(c, ')'))
			return 1;
		skip_space(c);
		while (c->at < c->end && *c->at >= '0' && *c->at <= '9' && value < ((int64_t)1 << 48)) {
			value = value * 10 + (*c->at++ - '0');
			digits++;
		}
		if (c->at < c->end && *c->at == 'L') /* written by Python 2 */
			c->at++;
		if (!digits || h->ndim == NPY_MAX_NDIM)
			return 0;
		h->shape[h->ndim++] = value;
		if (!take(c, ','))
			return take(c, ')');
	}
}

static enum ax_status parse_header(const char *path, const char *text, size_t length,
				   struct npy_header *h)
{
	struct cursor c = {text, text + length};
	char key[32];

	memset(h, 0, sizeof(*h));
	if (!take(&c, '{'))
		goto malformed;
	while (!take(&c, '}')) {
		if (!take_string(&c, key, sizeof(key)) || !take(&c, ':'))
			goto malformed;
		if (strcmp(key, "descr") == 0) {
			if (!take_string(&c, h->descr, sizeof(h->descr)))
				return AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s holds a structured or "
						"unusual dtype; save a plain numeric array", path);
			h->have_descr = 1;
		} else if (strcmp(key, "fortran_order") == 0) {
			if (take_word(&c, "True"))
				h->fortran_order = 1;
			else if (!take_word(&c, "False"))
				goto malformed;
			h->have_order = 1;
		} else if (strcmp(key, "shape") == 0) {
			if (!take_shape(&c, h))
				goto malformed;
			h->have_shape = 1;
		} else {
			return AX_ERROR(AX_ERR_INVALID, "data: %s: unexpected key '%s' in the .npy "
					"header; save the array with numpy.save", path, key);
		}
		if (!take(&c, ',')) {
			if (!take(&c, '}'))
				goto malformed;
			break;
		}
	}
	if (h->have_descr && h->have_order && h->have_shape)
		return AX_OK;
malformed:
	return AX_ERROR(AX_ERR_INVALID, "data: %s: malformed .npy header '%.120s'; save the array "
			"with numpy.save", path, text);
}

/* ---- the file ---- */

enum npy_kind { NPY_U8, NPY_I32, NPY_I64, NPY_F32, NPY_F64 };

struct npy_array {
	struct npy_header header;
	enum npy_kind kind;
	int64_t elements, item_bytes;
	void *data;
};

static enum ax_status element_kind(const char *path, const char *descr, enum npy_kind *kind,
				   int64_t *item_bytes)
{
	static const struct {
		const char *descr;
		enum npy_kind kind;
		int64_t bytes;
	} known[] = {{"|u1", NPY_U8, 1}, {"<u1", NPY_U8, 1}, {"<i4", NPY_I32, 4},
		     {"<i8", NPY_I64, 8}, {"<f4", NPY_F32, 4}, {"<f8", NPY_F64, 8}};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(descr, known[i].descr) == 0) {
			*kind = known[i].kind;
			*item_bytes = known[i].bytes;
			return AX_OK;
		}
	if (descr[0] == '>')
		return AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s holds big-endian values ('%s'); re-save "
				"it little-endian: numpy.save(path, a.astype(a.dtype.newbyteorder('<')))",
				path, descr);
	return AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s holds dtype '%s'; axon reads uint8 (|u1), "
			"float32 (<f4), float64 (<f8) and, for targets, int32 (<i4) and int64 (<i8)",
			path, descr);
}

static enum ax_status read_npy(const char *path, struct npy_array *out)
{
	unsigned char preamble[12];
	char *header_text = NULL;
	size_t header_length;
	int64_t extra;
	enum ax_status st = AX_OK;
	FILE *file;

	memset(out, 0, sizeof(*out));
	file = fopen(path, "rb");
	if (!file)
		return AX_ERROR(AX_ERR_IO, "data: cannot open %s: %s; check the path", path,
				strerror(errno));
	if (fread(preamble, 1, 10, file) != 10 || memcmp(preamble, "\x93NUMPY", 6) != 0) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is not a .npy file (it does not start with "
			      "\\x93NUMPY); save arrays with numpy.save", path);
		goto done;
	}
	if (preamble[6] == 1) {
		header_length = preamble[8] | (size_t)preamble[9] << 8;
	} else if (preamble[6] == 2 || preamble[6] == 3) {
		if (fread(preamble + 10, 1, 2, file) != 2) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s is truncated inside its header", path);
			goto done;
		}
		header_length = preamble[8] | (size_t)preamble[9] << 8 | (size_t)preamble[10] << 16 |
				(size_t)preamble[11] << 24;
	} else {
		st = AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s is .npy format version %d.%d; axon reads "
			      "1.0 to 3.0", path, preamble[6], preamble[7]);
		goto done;
	}
	if (header_length == 0 || header_length > NPY_MAX_HEADER) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s: .npy header length %zu is implausible; is the "
			      "file corrupt?", path, header_length);
		goto done;
	}
	header_text = ax_alloc(header_length + 1);
	if (!header_text) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	if (fread(header_text, 1, header_length, file) != header_length) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is truncated inside its header", path);
		goto done;
	}
	header_text[header_length] = '\0';
	if ((st = parse_header(path, header_text, header_length, &out->header)) != AX_OK ||
	    (st = element_kind(path, out->header.descr, &out->kind, &out->item_bytes)) != AX_OK)
		goto done;
	if (out->header.fortran_order) {
		st = AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s is stored in Fortran (column-major) order; "
			      "re-save it in C order: numpy.save(path, numpy.ascontiguousarray(a))",
			      path);
		goto done;
	}
	out->elements = 1;
	for (int d = 0; d < out->header.ndim; d++) {
		out->elements *= out->header.shape[d];
		if (out->elements > ((int64_t)1 << 40)) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: shape too large", path);
			goto done;
		}
	}
	out->data = ax_alloc((size_t)(out->elements * out->item_bytes));
	if (!out->data) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	extra = (int64_t)fread(out->data, (size_t)out->item_bytes, (size_t)out->elements, file);
	if (extra != out->elements) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is truncated: its header declares %lld values "
			      "of '%s' but only %lld follow; save it again", path,
			      (long long)out->elements, out->header.descr, (long long)extra);
		goto done;
	}
	if (fgetc(file) != EOF)
		st = AX_ERROR(AX_ERR_INVALID, "data: %s holds more data than its header declares; is "
			      "it a .npz or several arrays in one file?", path);
done:
	ax_free(header_text);
	fclose(file);
	if (st) {
		ax_free(out->data);
		out->data = NULL;
	}
	return st;
}

/* ---- conversion to the source ---- */

static enum ax_status take_inputs(const char *path, struct npy_array *a,
				  struct ax_convert_source *out)
{
	const struct npy_header *h = &a->header;

	if (h->ndim < 2 || h->ndim > AX_DATA_MAX_SAMPLE_DIMS + 1 || h->shape[0] < 1)
		return AX_ERROR(AX_ERR_SHAPE, "data: %s has %d dims (first %lld); inputs must be "
				"[N, ...] with N >= 1 and 1 to %d dims per sample (for one feature "
				"use shape (N, 1))", path, h->ndim, h->ndim ? (long long)h->shape[0] : 0LL,
				AX_DATA_MAX_SAMPLE_DIMS);
	out->num_samples = h->shape[0];
	out->sample_ndim = h->ndim - 1;
	out->sample_numel = a->elements / h->shape[0];
	memcpy(out->sample_shape, h->shape + 1, (size_t)out->sample_ndim * sizeof(int64_t));
	if (a->kind == NPY_U8) {
		out->input_dtype = AX_U8;
	} else if (a->kind == NPY_F32 || a->kind == NPY_F64) {
		float *values = a->kind == NPY_F32 ? a->data : ax_alloc((size_t)a->elements * 4);

		if (!values)
			return AX_ERR_NOMEM;
		for (int64_t i = 0; i < a->elements; i++) {
			double v = a->kind == NPY_F32 ? values[i] : ((const double *)a->data)[i];

			if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
				if (values != a->data)
					ax_free(values);
				return AX_ERROR(AX_ERR_INVALID, "data: %s: sample %lld, element %lld is %g, "
						"not a finite float32; fix the data", path,
						(long long)(i / out->sample_numel),
						(long long)(i % out->sample_numel), v);
			}
			values[i] = (float)v;
		}
		if (values != a->data) {
			ax_free(a->data);
			a->data = values;
		}
		out->input_dtype = AX_F32;
	} else {
		return AX_ERROR(AX_ERR_UNSUPPORTED, "data: %s holds integer inputs ('%s'); axon stores "
				"inputs as uint8 or float32: save a.astype(numpy.uint8) or "
				"a.astype(numpy.float32)", path, h->descr);
	}
	out->inputs = a->data;
	a->data = NULL;
	return AX_OK;
}

static double element_as_double(const struct npy_array *a, int64_t i)
{
	switch (a->kind) {
	case NPY_U8: return ((const uint8_t *)a->data)[i];
	case NPY_I32: return ((const int32_t *)a->data)[i];
	case NPY_I64: return (double)((const int64_t *)a->data)[i];
	case NPY_F32: return ((const float *)a->data)[i];
	case NPY_F64: return ((const double *)a->data)[i];
	}
	return 0;
}

static enum ax_status take_targets(const char *path, const struct npy_array *a, int regression,
				   struct ax_convert_source *out)
{
	const struct npy_header *h = &a->header;
	int is_float = a->kind == NPY_F32 || a->kind == NPY_F64;

	if (!regression && is_float)
		return AX_ERROR(AX_ERR_DTYPE, "data: %s holds float targets ('%s'); pass --regression "
				"to use them as regression targets, or save integer class labels",
				path, h->descr);
	if (h->ndim < 1 || h->ndim > 2 || (!regression && h->ndim != 1))
		return AX_ERROR(AX_ERR_SHAPE, "data: %s has %d dims; targets are [N] class labels%s",
				path, h->ndim, regression ? " or [N, k] regression targets"
							  : " (or [N, k] with --regression)");
	if (h->shape[0] != out->num_samples)
		return AX_ERROR(AX_ERR_SHAPE, "data: %s holds %lld targets but the inputs file holds "
				"%lld samples; give matching files", path, (long long)h->shape[0],
				(long long)out->num_samples);
	out->target_dim = h->ndim == 2 ? h->shape[1] : 1;
	if (out->target_dim < 1)
		return AX_ERROR(AX_ERR_SHAPE, "data: %s has targets of width 0", path);
	if (regression) {
		out->target_kind = AX_TARGET_REGRESSION;
		out->targets = ax_alloc((size_t)a->elements * sizeof(float));
		if (!out->targets)
			return AX_ERR_NOMEM;
		for (int64_t i = 0; i < a->elements; i++) {
			double v = element_as_double(a, i);

			if (!isfinite(v) || fabs(v) > 3.4028234663852886e38)
				return AX_ERROR(AX_ERR_INVALID, "data: %s: target %lld is %g, not a finite "
						"float32", path, (long long)i, v);
			out->targets[i] = (float)v;
		}
		return AX_OK;
	}
	out->target_kind = AX_TARGET_CLASS;
	out->labels = ax_alloc((size_t)a->elements * sizeof(int32_t));
	if (!out->labels)
		return AX_ERR_NOMEM;
	out->max_label = 0;
	for (int64_t i = 0; i < a->elements; i++) {
		double v = element_as_double(a, i);

		if (v < 0 || v > 2147483646.0)
			return AX_ERROR(AX_ERR_RANGE, "data: %s: label %lld is %.0f; class labels are "
					"integers from 0", path, (long long)i, v);
		out->labels[i] = (int32_t)v;
		if (out->labels[i] > out->max_label)
			out->max_label = out->labels[i];
	}
	return AX_OK;
}

enum ax_status ax_convert_read_npy(const char *inputs_path, const char *targets_path,
				   int regression, struct ax_convert_source *out)
{
	struct npy_array inputs = {0}, targets = {0};
	enum ax_status st;
	int n;

	memset(out, 0, sizeof(*out));
	if ((st = read_npy(inputs_path, &inputs)) != AX_OK ||
	    (st = take_inputs(inputs_path, &inputs, out)) != AX_OK ||
	    (st = read_npy(targets_path, &targets)) != AX_OK ||
	    (st = take_targets(targets_path, &targets, regression, out)) != AX_OK)
		goto done;
	n = snprintf(out->description, sizeof(out->description), "npy:%s", inputs_path);
	if (n < 0 || n >= (int)sizeof(out->description))
		st = AX_ERROR(AX_ERR_INVALID, "data: the path %s is too long", inputs_path);
done:
	ax_free(inputs.data);
	ax_free(targets.data);
	if (st)
		ax_convert_source_release(out);
	return st;
}
