/* convert.c - `axon data convert`: a source in, train/val/test datasets out.
 *
 * The steps, in order, so that nothing is written before everything has been
 * read and checked: read the training source and the optional test source
 * whole into memory (the format readers validate them), check that they
 * agree, settle num_classes, draw the validation rows from the seed, compute
 * the normalisation on the remaining training rows, then stage all splits
 * under temporary names and rename them into place together.
 *
 * Validation rows are a uniform random subset of the training source (a
 * partial Fisher-Yates shuffle driven by the Philox stream of `seed`, so the
 * same seed gives the same split on any machine); both parts keep the source
 * order. Statistics are accumulated in double in the loader's units (uint8
 * values / 255): uint8 inputs through a per-channel histogram of the 256
 * byte values, which is exact however many samples there are; float inputs
 * in two passes (mean, then squared deviations) over the rows. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "axon/alloc.h"
#include "axon/rng.h"
#include "convert_internal.h"

#define PATH_BYTES 4096

void ax_convert_options_init(struct ax_convert_options *options)
{
	memset(options, 0, sizeof(*options));
	options->format = AX_CONVERT_IDX;
	options->shards = 1;
	options->checksum = 1;
	options->csv_label_column = -1;
}

void ax_convert_source_release(struct ax_convert_source *source)
{
	if (!source)
		return;
	ax_free(source->inputs);
	ax_free(source->labels);
	ax_free(source->targets);
	source->inputs = NULL;
	source->labels = NULL;
	source->targets = NULL;
}

static const char *format_name(enum ax_convert_format format)
{
	return format == AX_CONVERT_IDX ? "idx" : format == AX_CONVERT_CSV ? "csv" : "npy";
}

static enum ax_status check_options(const struct ax_convert_options *o)
{
	int two_files;

	if (!o || !o->out_dir || !o->out_dir[0])
		return AX_ERROR(AX_ERR_INVALID, "data convert: no output directory given (--out DIR)");
	if (o->format != AX_CONVERT_IDX && o->format != AX_CONVERT_CSV &&
	    o->format != AX_CONVERT_NPY)
		return AX_ERROR(AX_ERR_INVALID, "data convert: unknown format %d; use idx, csv or npy",
				(int)o->format);
	two_files = o->format != AX_CONVERT_CSV;
	if (!o->train_inputs || (two_files && !o->train_targets))
		return AX_ERROR(AX_ERR_INVALID, "data convert: the %s format needs %s", format_name(o->format),
				two_files ? "a training inputs file and a training targets file"
					  : "a training CSV file");
	if (!two_files && (o->train_targets || o->test_targets))
		return AX_ERROR(AX_ERR_INVALID, "data convert: a CSV file holds its own labels; give "
				"no separate targets file");
	if (two_files && !o->test_inputs != !o->test_targets)
		return AX_ERROR(AX_ERR_INVALID, "data convert: a test source needs both its inputs "
				"and its targets file (got only %s)",
				o->test_inputs ? o->test_inputs : o->test_targets);
	if (o->shards < 1 || o->shards > AX_DATA_MAX_SHARDS)
		return AX_ERROR(AX_ERR_INVALID, "data convert: %d shards; use 1 to %d", o->shards,
				AX_DATA_MAX_SHARDS);
	if (!(o->val_fraction >= 0.0 && o->val_fraction < 1.0))
		return AX_ERROR(AX_ERR_INVALID, "data convert: validation fraction %g is not in [0, 1)",
				o->val_fraction);
	if (o->compression < 0 || o->compression > 9)
		return AX_ERROR(AX_ERR_INVALID, "data convert: compression level %d is not in 0..9",
				o->compression);
	if (o->chunk_rows < 0 || o->num_classes < 0)
		return AX_ERROR(AX_ERR_INVALID, "data convert: chunk rows (%lld) and num_classes (%d) "
				"must not be negative", (long long)o->chunk_rows, o->num_classes);
	return AX_OK;
}

static enum ax_status read_source(const struct ax_convert_options *o, const char *inputs,
				  const char *targets, struct ax_convert_source *out)
{
	switch (o->format) {
	case AX_CONVERT_IDX: return ax_convert_read_idx(inputs, targets, out);
	case AX_CONVERT_CSV: return ax_convert_read_csv(inputs, o, out);
	case AX_CONVERT_NPY: return ax_convert_read_npy(inputs, targets, o->regression, out);
	}
	return AX_ERROR(AX_ERR_INTERNAL, "data convert: unknown format");
}

static void describe_shape(const struct ax_convert_source *s, char *text, size_t bytes)
{
	size_t at = 0;

	text[0] = '\0';
	for (int d = 0; d < s->sample_ndim && at < bytes; d++)
		at += (size_t)snprintf(text + at, bytes - at, "%s%lld", d ? "x" : "",
				       (long long)s->sample_shape[d]);
	if (at < bytes)
		snprintf(text + at, bytes - at, " %s", s->input_dtype == AX_U8 ? "uint8" : "float32");
}

static enum ax_status check_sources_agree(const struct ax_convert_source *train,
					  const struct ax_convert_source *test)
{
	char train_shape[128], test_shape[128];
	int same = train->input_dtype == test->input_dtype &&
		   train->sample_ndim == test->sample_ndim &&
		   train->target_kind == test->target_kind && train->target_dim == test->target_dim;

	for (int d = 0; same && d < train->sample_ndim; d++)
		same = train->sample_shape[d] == test->sample_shape[d];
	if (same)
		return AX_OK;
	describe_shape(train, train_shape, sizeof(train_shape));
	describe_shape(test, test_shape, sizeof(test_shape));
	return AX_ERROR(AX_ERR_INVALID, "data convert: the test source %s holds %s samples with "
			"%s targets of width %lld, the training source %s holds %s samples with "
			"%s targets of width %lld; give files of the same dataset",
			test->description, test_shape,
			test->target_kind == AX_TARGET_CLASS ? "class" : "regression",
			(long long)test->target_dim, train->description, train_shape,
			train->target_kind == AX_TARGET_CLASS ? "class" : "regression",
			(long long)train->target_dim);
}

/* ---- the validation split ---- */

struct word_stream {
	struct ax_rng rng;
	uint32_t words[256];
	int next;
};

static uint64_t next_u64(struct word_stream *stream)
{
	uint64_t value;

	if (stream->next + 2 > 256) {
		ax_rng_u32(&stream->rng, stream->words, 256);
		stream->next = 0;
	}
	value = (uint64_t)stream->words[stream->next] << 32 | stream->words[stream->next + 1];
	stream->next += 2;
	return value;
}

/* Uniform in [0, bound): reject the 2^64 mod bound lowest values, which
 * would make the small residues more likely. */
static uint64_t uniform_below(struct word_stream *stream, uint64_t bound)
{
	uint64_t threshold = (0 - bound) % bound, value;

	do
		value = next_u64(stream);
	while (value < threshold);
	return value % bound;
}

/* Fill train_rows / val_rows (each in source order) with a seeded random
 * choice of n_val of the n rows as validation. */
static enum ax_status split_rows(int64_t n, int64_t n_val, uint64_t seed, int64_t *train_rows,
				 int64_t *val_rows)
{
	int64_t *order = ax_alloc((size_t)n * sizeof(int64_t));
	uint8_t *is_val = ax_calloc((size_t)n, 1);
	struct word_stream stream = {.next = 256};
	int64_t t = 0, v = 0;

	if (!order || !is_val) {
		ax_free(order);
		ax_free(is_val);
		return AX_ERR_NOMEM;
	}
	ax_rng_init(&stream.rng, seed);
	for (int64_t i = 0; i < n; i++)
		order[i] = i;
	for (int64_t i = 0; i < n_val; i++) {
		int64_t j = i + (int64_t)uniform_below(&stream, (uint64_t)(n - i)), swap = order[i];

		order[i] = order[j];
		order[j] = swap;
		is_val[order[i]] = 1;
	}
	for (int64_t i = 0; i < n; i++) {
		if (is_val[i])
			val_rows[v++] = i;
		else
			train_rows[t++] = i;
	}
	ax_free(order);
	ax_free(is_val);
	return AX_OK;
}

/* ---- normalisation ---- */

/* How many statistics a sample gets: per feature for [F], per channel for
 * [C, H, W], one value otherwise (and when there would be too many). */
static int64_t norm_groups(const struct ax_convert_source *s)
{
	if ((s->sample_ndim == 1 || s->sample_ndim == 3) && s->sample_shape[0] <= AX_DATA_MAX_CHANNELS)
		return s->sample_shape[0];
	return 1;
}

static void finish_statistics(int64_t groups, const double *mean, const double *variance,
			      float *norm_mean, float *norm_std, int *zero_std)
{
	for (int64_t c = 0; c < groups; c++) {
		double std = sqrt(variance[c]);

		norm_mean[c] = (float)mean[c];
		/* A constant feature: dividing by 1 keeps it at (x - mean) = 0. */
		norm_std[c] = std > 0.0 && (float)std > 0.0f ? (float)std : 1.0f;
		*zero_std += !(std > 0.0 && (float)std > 0.0f);
	}
}

static enum ax_status compute_normalisation(const struct ax_convert_source *s, const int64_t *rows,
					    int64_t n, int *num_norm, float *norm_mean,
					    float *norm_std, int *zero_std)
{
	int64_t groups = norm_groups(s), inner = s->sample_numel / groups;
	double *mean = ax_calloc((size_t)groups, sizeof(double));
	double *variance = ax_calloc((size_t)groups, sizeof(double));
	int64_t *histogram = NULL;
	double per_group = (double)n * (double)inner;

	if (!mean || !variance)
		goto nomem;
	if (s->input_dtype == AX_U8) {
		const uint8_t *inputs = s->inputs;

		histogram = ax_calloc((size_t)groups * 256, sizeof(int64_t));
		if (!histogram)
			goto nomem;
		for (int64_t i = 0; i < n; i++) {
			const uint8_t *sample = inputs + rows[i] * s->sample_numel;

			for (int64_t c = 0; c < groups; c++)
				for (int64_t k = 0; k < inner; k++)
					histogram[c * 256 + sample[c * inner + k]]++;
		}
		for (int64_t c = 0; c < groups; c++) {
			const int64_t *counts = histogram + c * 256;

			for (int v = 0; v < 256; v++)
				mean[c] += (double)counts[v] * (v / 255.0);
			mean[c] /= per_group;
			for (int v = 0; v < 256; v++)
				variance[c] += (double)counts[v] * (v / 255.0 - mean[c]) *
					       (v / 255.0 - mean[c]);
			variance[c] /= per_group;
		}
	} else {
		const float *inputs = s->inputs;

		for (int64_t i = 0; i < n; i++) {
			const float *sample = inputs + rows[i] * s->sample_numel;

			for (int64_t c = 0; c < groups; c++)
				for (int64_t k = 0; k < inner; k++)
					mean[c] += sample[c * inner + k];
		}
		for (int64_t c = 0; c < groups; c++)
			mean[c] /= per_group;
		for (int64_t i = 0; i < n; i++) {
			const float *sample = inputs + rows[i] * s->sample_numel;

			for (int64_t c = 0; c < groups; c++) {
				for (int64_t k = 0; k < inner; k++) {
					double deviation = sample[c * inner + k] - mean[c];

					variance[c] += deviation * deviation;
				}
			}
		}
		for (int64_t c = 0; c < groups; c++)
			variance[c] /= per_group;
	}
	finish_statistics(groups, mean, variance, norm_mean, norm_std, zero_std);
	*num_norm = (int)groups;
	ax_free(mean);
	ax_free(variance);
	ax_free(histogram);
	return AX_OK;
nomem:
	ax_free(mean);
	ax_free(variance);
	ax_free(histogram);
	return AX_ERROR(AX_ERR_NOMEM, "data convert: out of memory computing the normalisation");
}

/* ---- the whole conversion ---- */

static void layout_from_source(struct ax_split_layout *layout, const struct ax_convert_source *s,
			       const struct ax_convert_options *o, const char *split)
{
	memset(layout, 0, sizeof(*layout));
	layout->split = split;
	layout->input_dtype = s->input_dtype;
	layout->sample_ndim = s->sample_ndim;
	memcpy(layout->sample_shape, s->sample_shape, sizeof(layout->sample_shape));
	layout->target_kind = s->target_kind;
	layout->target_dim = s->target_dim;
	layout->compression = o->compression;
	layout->chunk_rows = o->chunk_rows;
	layout->checksum = o->checksum;
	layout->source = s->description;
}

static enum ax_status settle_num_classes(const struct ax_convert_options *o,
					 const struct ax_convert_source *train,
					 const struct ax_convert_source *test, int *num_classes)
{
	int32_t largest = train->max_label;
	const char *largest_in = train->description;

	if (test && test->max_label > largest) {
		largest = test->max_label;
		largest_in = test->description;
	}
	if (o->num_classes == 0) {
		*num_classes = (int)largest + 1;
		return AX_OK;
	}
	if (largest >= o->num_classes)
		return AX_ERROR(AX_ERR_RANGE, "data convert: %s holds label %d but num_classes is %d; "
				"raise --num-classes or leave it out to infer it", largest_in,
				(int)largest, o->num_classes);
	*num_classes = o->num_classes;
	return AX_OK;
}

static void log_normalisation(FILE *log, int num_norm, const float *mean, const float *std,
			      int zero_std)
{
	if (!log)
		return;
	if (num_norm == 1) {
		fprintf(log, "axon data: normalisation from the training part: mean %.6f, std %.6f\n",
			(double)mean[0], (double)std[0]);
	} else {
		fprintf(log, "axon data: normalisation from the training part, %d values along axis 1:"
			" mean %.4f %.4f ..., std %.4f %.4f ...\n", num_norm, (double)mean[0],
			(double)mean[1], (double)std[0], (double)std[1]);
	}
	if (zero_std)
		fprintf(log, "axon data: note: %d of them are constant in the training part; their "
			"std is written as 1\n", zero_std);
}

static enum ax_status stage_one(struct ax_convert_stage *stage, const struct ax_convert_options *o,
				const struct ax_split_layout *layout,
				const struct ax_convert_source *s, const int64_t *rows, int64_t n,
				FILE *log)
{
	char dir[PATH_BYTES];
	int length = snprintf(dir, sizeof(dir), "%s/%s", o->out_dir, layout->split);
	enum ax_status st;

	if (length < 0 || length >= (int)sizeof(dir))
		return AX_ERROR(AX_ERR_INVALID, "data convert: output directory %s is too long",
				o->out_dir);
	st = ax_convert_stage_split(stage, dir, layout, s->inputs,
				    s->target_kind == AX_TARGET_CLASS ? (const void *)s->labels
								      : (const void *)s->targets,
				    rows, n, o->shards, o->overwrite);
	if (!st && log) {
		int64_t shards = n < o->shards ? n : o->shards;

		fprintf(log, "axon data: %s: %lld samples in %lld shard%s\n", dir, (long long)n,
			(long long)shards, shards > 1 ? "s" : "");
	}
	return st;
}

/* A split directory this run did not write may hold an older conversion
 * (other statistics, other source): say so rather than delete it. */
static void note_stale_split(FILE *log, const char *out_dir, const char *split, int written)
{
	char path[PATH_BYTES];
	int length = snprintf(path, sizeof(path), "%s/%s/manifest.json", out_dir, split);

	if (!written && length > 0 && length < (int)sizeof(path) && access(path, F_OK) == 0)
		fprintf(log, "axon data: note: %s/%s holds a dataset from an earlier conversion; "
			"it was left alone (remove it if it does not belong to this one)\n",
			out_dir, split);
}

enum ax_status ax_data_convert(const struct ax_convert_options *o, FILE *log)
{
	struct ax_convert_source train = {0}, test = {0};
	struct ax_convert_stage stage = {0};
	struct ax_split_layout layout;
	float norm_mean[AX_DATA_MAX_CHANNELS], norm_std[AX_DATA_MAX_CHANNELS];
	int64_t *train_rows = NULL, *val_rows = NULL, n_val = 0, n_train;
	int num_classes = 0, num_norm = 0, zero_std = 0, have_test;
	char shape[128];
	enum ax_status st;

	if ((st = check_options(o)) != AX_OK)
		return st;
	have_test = o->test_inputs != NULL;
	if ((st = read_source(o, o->train_inputs, o->train_targets, &train)) != AX_OK)
		goto done;
	if (have_test && ((st = read_source(o, o->test_inputs, o->test_targets, &test)) != AX_OK ||
			  (st = check_sources_agree(&train, &test)) != AX_OK))
		goto done;
	if (train.target_kind == AX_TARGET_CLASS &&
	    (st = settle_num_classes(o, &train, have_test ? &test : NULL, &num_classes)) != AX_OK)
		goto done;
	if (log) {
		describe_shape(&train, shape, sizeof(shape));
		fprintf(log, "axon data: read %lld samples of %s from %s", (long long)train.num_samples,
			shape, train.description);
		if (train.target_kind == AX_TARGET_CLASS)
			fprintf(log, ", %d classes\n", num_classes);
		else
			fprintf(log, ", regression targets of width %lld\n", (long long)train.target_dim);
		if (have_test)
			fprintf(log, "axon data: read %lld test samples from %s\n",
				(long long)test.num_samples, test.description);
	}

	if (o->val_fraction > 0.0) {
		n_val = llround(o->val_fraction * (double)train.num_samples);
		if (n_val < 1 || n_val >= train.num_samples) {
			st = AX_ERROR(AX_ERR_INVALID, "data convert: a validation fraction of %g of %lld "
				      "samples gives %lld validation samples; both parts need at "
				      "least one sample", o->val_fraction,
				      (long long)train.num_samples, (long long)n_val);
			goto done;
		}
	}
	n_train = train.num_samples - n_val;
	train_rows = ax_alloc((size_t)train.num_samples * sizeof(int64_t));
	val_rows = ax_alloc((size_t)(n_val > 0 ? n_val : 1) * sizeof(int64_t));
	if (!train_rows || !val_rows) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	if ((st = split_rows(train.num_samples, n_val, o->seed, train_rows, val_rows)) != AX_OK)
		goto done;
	if (log && n_val > 0)
		fprintf(log, "axon data: split %lld train / %lld validation samples (seed %llu)\n",
			(long long)n_train, (long long)n_val, (unsigned long long)o->seed);
	st = compute_normalisation(&train, train_rows, n_train, &num_norm, norm_mean, norm_std,
				   &zero_std);
	if (st)
		goto done;
	log_normalisation(log, num_norm, norm_mean, norm_std, zero_std);

	layout_from_source(&layout, &train, o, "train");
	layout.num_classes = num_classes;
	layout.num_norm = num_norm;
	layout.norm_mean = norm_mean;
	layout.norm_std = norm_std;
	if ((st = stage_one(&stage, o, &layout, &train, train_rows, n_train, log)) != AX_OK)
		goto done;
	layout.split = "val";
	if (n_val > 0 && (st = stage_one(&stage, o, &layout, &train, val_rows, n_val, log)) != AX_OK)
		goto done;
	if (have_test) {
		layout.split = "test";
		layout.source = test.description;
		if ((st = stage_one(&stage, o, &layout, &test, NULL, test.num_samples, log)) != AX_OK)
			goto done;
	}
	st = ax_convert_stage_commit(&stage);
	if (!st && log) {
		note_stale_split(log, o->out_dir, "val", n_val > 0);
		note_stale_split(log, o->out_dir, "test", have_test);
		fprintf(log, "axon data: done; check it with: axon data inspect %s\n", o->out_dir);
	}
done:
	ax_convert_stage_discard(&stage);
	ax_free(train_rows);
	ax_free(val_rows);
	ax_convert_source_release(&train);
	ax_convert_source_release(&test);
	return st;
}
