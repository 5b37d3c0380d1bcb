/* convert_csv.c - read a CSV table of numeric features and one label column.
 *
 * libcsv does the quoting rules (strict mode: a stray quote is an error); we
 * hand it the file one line at a time so that every field callback knows the
 * line it is on, and report a bad cell as "FILE line L, column C (NAME)".
 * Every cell must parse completely as a finite number (strtod); the label
 * column must hold non-negative integers, or any number with `regression`.
 * Rows are collected into growing arrays: features as float32 [N, F] with the
 * label column taken out, labels as int32 [N] or targets as float32 [N, 1].
 * The first record fixes the column count; every later one must match. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "axon/alloc.h"
#include "convert_internal.h"

#define NAME_BYTES 48

struct csv_reader {
	const char *path;
	const struct ax_convert_options *options;
	enum ax_status status;     /* the first error; later callbacks do nothing */
	int64_t line;              /* 1-based line being fed to the parser */
	int64_t record_line;       /* the line the current record started on */
	int in_header;             /* the current record is the header */
	int column;                /* 0-based column of the next field */
	int num_columns;           /* from the first record; 0 until it ends */
	int label_column;
	char (*names)[NAME_BYTES]; /* header names, for messages and --label-column NAME */
	int64_t names_capacity;
	double *row;               /* the current record's values */
	int64_t row_capacity;
	float *features;           /* (rows, num_columns - 1) */
	int64_t features_capacity;
	void *targets;             /* (rows) int32 labels or float targets */
	int64_t targets_capacity;
	int64_t rows;
	int32_t max_label;
};

static void column_text(const struct csv_reader *r, int column, char *text, size_t bytes)
{
	if (r->names && column < r->names_capacity && r->names[column][0])
		snprintf(text, bytes, "column %d (%s)", column + 1, r->names[column]);
	else
		snprintf(text, bytes, "column %d", column + 1);
}

static void on_field(void *field, size_t length, void *data)
{
	struct csv_reader *r = data;
	const char *text = field ? field : "";
	char where[NAME_BYTES + 32], *end;
	double value;

	if (r->status)
		return;
	if (r->column == 0)
		r->record_line = r->line;
	if (r->in_header) {
		r->status = ax_convert_grow((void **)&r->names, &r->names_capacity, r->column + 1,
					    NAME_BYTES, "the CSV header");
		if (!r->status)
			snprintf(r->names[r->column], NAME_BYTES, "%s", text);
		r->column++;
		return;
	}
	column_text(r, r->column, where, sizeof(where));
	errno = 0;
	value = strtod(text, &end);
	while (end && (*end == ' ' || *end == '\t' || *end == '\r'))
		end++;
	if (length == 0 || end == text || *end != '\0') {
		r->status = AX_ERROR(AX_ERR_INVALID, "data: %s line %lld, %s: %s%.40s%s is not a "
				     "number; every cell must be numeric%s", r->path,
				     (long long)r->line, where, length ? "'" : "",
				     length ? text : "the cell is empty", length ? "'" : "",
				     r->options->csv_header ? ""
							    : " (if this is a header row, pass --header)");
		return;
	}
	if (!isfinite(value) || fabs(value) > 3.4028234663852886e38) {
		r->status = AX_ERROR(AX_ERR_INVALID, "data: %s line %lld, %s: '%.40s' is not a "
				     "finite float32 number", r->path, (long long)r->line, where, text);
		return;
	}
	r->status = ax_convert_grow((void **)&r->row, &r->row_capacity, r->column + 1,
				    sizeof(double), "a CSV row");
	if (!r->status)
		r->row[r->column] = value;
	r->column++;
}

/* Settle which column holds the labels, once the first record has ended. */
static enum ax_status resolve_label_column(struct csv_reader *r)
{
	const struct ax_convert_options *o = r->options;
	int column = o->csv_label_column;

	if (r->num_columns < 2)
		return AX_ERROR(AX_ERR_INVALID, "data: %s has %d column%s per row; it needs at least "
				"one feature column and a label column", r->path, r->num_columns,
				r->num_columns == 1 ? "" : "s");
	if (o->csv_label_name) {
		if (!o->csv_header)
			return AX_ERROR(AX_ERR_INVALID, "data: %s: a label column given by name ('%s') "
					"needs a header row (--header)", r->path, o->csv_label_name);
		for (int c = 0; c < r->num_columns; c++)
			if (strcmp(r->names[c], o->csv_label_name) == 0) {
				r->label_column = c;
				return AX_OK;
			}
		return AX_ERROR(AX_ERR_INVALID, "data: %s: no column named '%s' in the header (it "
				"starts '%s', '%s'%s); check --label-column", r->path,
				o->csv_label_name, r->names[0], r->names[1],
				r->num_columns > 2 ? ", ..." : "");
	}
	if (column < 0)
		column += r->num_columns;
	if (column < 0 || column >= r->num_columns)
		return AX_ERROR(AX_ERR_INVALID, "data: %s: label column %d does not exist; the file has "
				"%d columns (0 to %d, or -1 for the last)", r->path,
				o->csv_label_column, r->num_columns, r->num_columns - 1);
	r->label_column = column;
	return AX_OK;
}

static enum ax_status store_row(struct csv_reader *r)
{
	int features = r->num_columns - 1;
	double label = r->row[r->label_column];
	enum ax_status st;
	float *out;

	st = ax_convert_grow((void **)&r->features, &r->features_capacity,
			     (r->rows + 1) * features, sizeof(float), "the CSV features");
	if (!st)
		st = ax_convert_grow(&r->targets, &r->targets_capacity, r->rows + 1, 4,
				     "the CSV labels");
	if (st)
		return st;
	out = r->features + r->rows * features;
	for (int c = 0; c < r->num_columns; c++)
		if (c != r->label_column)
			*out++ = (float)r->row[c];
	if (r->options->regression) {
		((float *)r->targets)[r->rows] = (float)label;
	} else {
		if (label != floor(label) || label < 0 || label > 2147483646.0) {
			char where[NAME_BYTES + 32];

			column_text(r, r->label_column, where, sizeof(where));
			return AX_ERROR(AX_ERR_INVALID, "data: %s line %lld, %s: label %g is not a "
					"class number (a non-negative integer); for real-valued "
					"targets pass --regression, or choose the label column with "
					"--label-column", r->path, (long long)r->record_line, where,
					label);
		}
		((int32_t *)r->targets)[r->rows] = (int32_t)label;
		if ((int32_t)label > r->max_label)
			r->max_label = (int32_t)label;
	}
	r->rows++;
	return AX_OK;
}

static void on_record_end(int terminator, void *data)
{
	struct csv_reader *r = data;

	(void)terminator;
	if (r->status)
		return;
	if (r->num_columns == 0) {
		r->num_columns = r->column;
		r->status = ax_convert_grow((void **)&r->names, &r->names_capacity, r->num_columns,
					    NAME_BYTES, "the CSV header");
		/* Names past the header's columns (or all, without a header) are empty. */
		if (!r->status) {
			int named = r->in_header ? r->num_columns : 0;

			memset(r->names + named, 0, (size_t)(r->names_capacity - named) * NAME_BYTES);
		}
		if (!r->status)
			r->status = resolve_label_column(r);
	} else if (r->column != r->num_columns) {
		r->status = AX_ERROR(AX_ERR_INVALID, "data: %s line %lld has %d columns but the first "
				     "row has %d; every row needs the same columns", r->path,
				     (long long)r->record_line, r->column, r->num_columns);
	}
	if (!r->status && !r->in_header)
		r->status = store_row(r);
	r->in_header = 0;
	r->column = 0;
}

/* Feed `length` bytes to the parser a line at a time, counting lines. */
static enum ax_status feed(struct csv_parser *parser, struct csv_reader *r, const char *text,
			   size_t length)
{
	while (length > 0 && !r->status) {
		const char *newline = memchr(text, '\n', length);
		size_t part = newline ? (size_t)(newline - text) + 1 : length;

		if (csv_parse(parser, text, part, on_field, on_record_end, r) != part && !r->status)
			r->status = AX_ERROR(AX_ERR_INVALID, "data: %s line %lld: %s; check the "
					     "quoting on this line", r->path, (long long)r->line,
					     csv_error(parser) == CSV_EPARSE ? "malformed quotes"
									      : csv_strerror(csv_error(parser)));
		if (newline)
			r->line++;
		text += part;
		length -= part;
	}
	return r->status;
}

enum ax_status ax_convert_read_csv(const char *path, const struct ax_convert_options *options,
				   struct ax_convert_source *out)
{
	struct csv_reader r = {.path = path, .options = options, .line = 1,
			       .in_header = options->csv_header};
	struct csv_parser parser;
	char buffer[65536];
	size_t n;
	FILE *file;
	int length;

	memset(out, 0, sizeof(*out));
	file = fopen(path, "rb");
	if (!file)
		return AX_ERROR(AX_ERR_IO, "data: cannot open CSV file %s: %s; check the path", path,
				strerror(errno));
	if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		fclose(file);
		return AX_ERROR(AX_ERR_NOMEM, "data: out of memory starting the CSV parser");
	}
	while (!r.status && (n = fread(buffer, 1, sizeof(buffer), file)) > 0)
		feed(&parser, &r, buffer, n);
	if (!r.status && ferror(file))
		r.status = AX_ERROR(AX_ERR_IO, "data: reading %s failed: %s", path, strerror(errno));
	if (!r.status && csv_fini(&parser, on_field, on_record_end, &r) != 0 && !r.status)
		r.status = AX_ERROR(AX_ERR_INVALID, "data: %s ends inside a quoted field (line %lld); "
				    "check the quoting", path, (long long)r.line);
	csv_free(&parser);
	fclose(file);
	if (!r.status && r.rows == 0)
		r.status = AX_ERROR(AX_ERR_INVALID, "data: %s holds no data rows", path);
	length = snprintf(out->description, sizeof(out->description), "csv:%s", path);
	if (!r.status && (length < 0 || length >= (int)sizeof(out->description)))
		r.status = AX_ERROR(AX_ERR_INVALID, "data: the path %s is too long", path);
	ax_free(r.names);
	ax_free(r.row);
	if (r.status) {
		ax_free(r.features);
		ax_free(r.targets);
		memset(out, 0, sizeof(*out));
		return r.status;
	}
	out->num_samples = r.rows;
	out->input_dtype = AX_F32;
	out->sample_ndim = 1;
	out->sample_shape[0] = r.num_columns - 1;
	out->sample_numel = r.num_columns - 1;
	out->inputs = r.features;
	out->target_dim = 1;
	out->num_columns = r.num_columns;
	out->label_column = r.label_column;
	if (options->regression) {
		out->target_kind = AX_TARGET_REGRESSION;
		out->targets = r.targets;
	} else {
		out->target_kind = AX_TARGET_CLASS;
		out->labels = r.targets;
		out->max_label = r.max_label;
	}
	return AX_OK;
}
