/* inspect.c - `axon data inspect`: print what a dataset holds, check it all.
 *
 * Built only on the public reader (axon/data.h): ax_dataset_open checks the
 * schema, the shards' agreement and the manifest's counts; ax_dataset_verify
 * then reads every value (labels in range, finite inputs, chunk checksums)
 * and returns the class histogram and input statistics printed here. So
 * inspect sees a dataset exactly as training will. Given the output
 * directory of a conversion (train/, val/, test/ below it) it inspects each
 * split and also checks that they agree with each other, since a model
 * trained on one is evaluated on the others. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "axon/alloc.h"
#include "convert_internal.h"

#define HISTOGRAM_BAR 40

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A dataset directory holds a manifest.json or *.h5 files. */
static int is_dataset_dir(const char *dir)
{
	DIR *listing = opendir(dir);
	struct dirent *entry;
	int found = 0;

	if (!listing)
		return 0;
	while (!found && (entry = readdir(listing)) != NULL) {
		size_t n = strlen(entry->d_name);

		found = strcmp(entry->d_name, "manifest.json") == 0 ||
			(entry->d_name[0] != '.' && n > 3 && strcmp(entry->d_name + n - 3, ".h5") == 0);
	}
	closedir(listing);
	return found;
}

static void print_schema(FILE *out, const struct ax_dataset_info *info)
{
	fprintf(out, "  samples        %lld in %d shard%s\n", (long long)info->num_samples,
		info->num_shards, info->num_shards == 1 ? "" : "s");
	fprintf(out, "  sample shape   ");
	for (int d = 0; d < info->sample_ndim; d++)
		fprintf(out, "%s%lld", d ? " x " : "", (long long)info->sample_shape[d]);
	fprintf(out, " %s (%lld values)\n", info->input_dtype == AX_U8 ? "uint8" : "float32",
		(long long)info->sample_numel);
	if (info->target_kind == AX_TARGET_CLASS)
		fprintf(out, "  targets        class labels, %d classes\n", info->num_classes);
	else
		fprintf(out, "  targets        regression, width %lld\n", (long long)info->target_dim);
	if (info->num_norm == 0) {
		fprintf(out, "  normalisation  none\n");
	} else if (info->num_norm == 1) {
		fprintf(out, "  normalisation  mean %.6f, std %.6f (one value%s)\n",
			(double)info->norm_mean[0], (double)info->norm_std[0],
			info->input_dtype == AX_U8 ? ", in units of x / 255" : "");
	} else {
		fprintf(out, "  normalisation  %d values along axis 1:", info->num_norm);
		for (int c = 0; c < info->num_norm && c < 4; c++)
			fprintf(out, " %s%.4f/%.4f", c ? "" : "mean/std ", (double)info->norm_mean[c],
				(double)info->norm_std[c]);
		fprintf(out, "%s\n", info->num_norm > 4 ? " ..." : "");
	}
}

static void print_histogram(FILE *out, const int64_t *histogram, int num_classes, int64_t total)
{
	int64_t largest = 1;
	int empty = 0;

	for (int c = 0; c < num_classes; c++)
		if (histogram[c] > largest)
			largest = histogram[c];
	fprintf(out, "  classes\n");
	for (int c = 0; c < num_classes; c++) {
		int bar = (int)(histogram[c] * HISTOGRAM_BAR / largest);

		fprintf(out, "    %4d %10lld %6.2f%%  ", c, (long long)histogram[c],
			total ? 100.0 * (double)histogram[c] / (double)total : 0.0);
		for (int i = 0; i < bar; i++)
			fputc('#', out);
		fputc('\n', out);
		empty += histogram[c] == 0;
	}
	if (empty)
		fprintf(out, "  note: %d class%s no samples in this split\n", empty,
			empty == 1 ? " has" : "es have");
}

/* Open, print and verify one dataset directory; *info_out gets its schema. */
static enum ax_status inspect_one(const char *dir, FILE *out, struct ax_dataset_info *info_out)
{
	struct ax_dataset *dataset = NULL;
	const struct ax_dataset_info *info;
	struct ax_data_stats stats;
	int64_t *histogram = NULL;
	enum ax_status st;

	fprintf(out, "dataset %s\n", dir);
	st = ax_dataset_open(dir, &dataset);
	if (st)
		goto done;
	info = ax_dataset_info(dataset);
	*info_out = *info;
	print_schema(out, info);
	fprintf(out, "  shards\n");
	for (int s = 0; s < info->num_shards; s++)
		fprintf(out, "    %-24s %10lld\n", base_name(ax_dataset_shard_path(dataset, s)),
			(long long)ax_dataset_shard_count(dataset, s));
	if (info->target_kind == AX_TARGET_CLASS) {
		histogram = ax_calloc((size_t)(info->num_classes > 0 ? info->num_classes : 1),
				      sizeof(int64_t));
		if (!histogram) {
			st = AX_ERR_NOMEM;
			goto done;
		}
	}
	st = ax_dataset_verify(dataset, histogram, &stats);
	if (st)
		goto done;
	if (histogram)
		print_histogram(out, histogram, info->num_classes, info->num_samples);
	fprintf(out, "  inputs         min %g, max %g, mean %.6g, std %.6g (stored units)\n",
		stats.min, stats.max, stats.mean, stats.std);
	fprintf(out, "  verified       every value read; no problem found\n");
done:
	if (st)
		fprintf(out, "  PROBLEM: %s\n", ax_last_error());
	ax_free(histogram);
	ax_dataset_close(dataset);
	return st;
}

static enum ax_status check_splits_agree(const char *dir, const char *first_split,
					 const struct ax_dataset_info *first, const char *split,
					 const struct ax_dataset_info *info)
{
	int same = first->input_dtype == info->input_dtype &&
		   first->sample_ndim == info->sample_ndim &&
		   first->target_kind == info->target_kind && first->target_dim == info->target_dim &&
		   first->num_classes == info->num_classes && first->num_norm == info->num_norm;

	for (int d = 0; same && d < first->sample_ndim; d++)
		same = first->sample_shape[d] == info->sample_shape[d];
	for (int c = 0; same && c < first->num_norm; c++)
		same = first->norm_mean[c] == info->norm_mean[c] &&
		       first->norm_std[c] == info->norm_std[c];
	if (same)
		return AX_OK;
	return AX_ERROR(AX_ERR_INVALID, "data: %s/%s and %s/%s differ in sample shape, input type, "
			"targets, number of classes or normalisation; a model trained on one cannot "
			"be evaluated on the other: convert them together with axon data convert",
			dir, first_split, dir, split);
}

enum ax_status ax_data_inspect(const char *dir, FILE *out)
{
	static const char *const splits[] = {"train", "val", "test"};
	struct ax_dataset_info *infos; /* 3 x 33 KiB: on the heap */
	char path[4096], first_problem[1024] = "";
	int first = -1, inspected = 0;
	enum ax_status st = AX_OK;

	if (!dir || !out)
		return AX_ERROR(AX_ERR_INVALID, "data inspect: no directory given");
	infos = ax_calloc(3, sizeof(*infos));
	if (!infos)
		return AX_ERR_NOMEM;
	if (is_dataset_dir(dir) || !is_directory(dir)) {
		st = inspect_one(dir, out, &infos[0]);
		ax_free(infos);
		return st;
	}
	for (int i = 0; i < 3; i++) {
		enum ax_status split_st;

		snprintf(path, sizeof(path), "%s/%s", dir, splits[i]);
		if (!is_directory(path))
			continue;
		if (inspected++)
			fputc('\n', out);
		split_st = inspect_one(path, out, &infos[i]);
		if (!split_st && first >= 0) {
			split_st = check_splits_agree(dir, splits[first], &infos[first], splits[i],
						      &infos[i]);
			if (split_st)
				fprintf(out, "  PROBLEM: %s\n", ax_last_error());
		}
		if (split_st && !st) {
			st = split_st;
			snprintf(first_problem, sizeof(first_problem), "%s", ax_last_error());
		}
		if (!split_st && first < 0)
			first = i;
	}
	ax_free(infos);
	if (!inspected)
		return AX_ERROR(AX_ERR_IO, "data inspect: %s holds no dataset: no manifest.json, no "
				"*.h5 files and no train/, val/ or test/ directory", dir);
	if (st) /* report the first problem, not the last */
		return AX_ERROR(st, "%s", first_problem);
	return AX_OK;
}
