/* data_convert_fixture.h - what the test_data_convert* programs share.
 *
 * A fresh mkdtemp directory per test (setup_dir / teardown_dir; at(name) is
 * a path inside it); writers for sources (write_bytes, plain or gzip'd, and
 * write_text); readers that take the shards back with the HDF5 C API and
 * the manifest with cJSON, never through axon's own reader (read_split,
 * read_int_attribute, read_float_attribute, read_manifest); and the checks
 * more than one program makes: assert_no_shards, reference_stats (double
 * precision) with assert_stats, and convert_expect_error. The functions are
 * static and marked unused: a program that needs only some still builds. */
#ifndef AXON_TEST_DATA_CONVERT_FIXTURE_H
#define AXON_TEST_DATA_CONVERT_FIXTURE_H

#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <zlib.h>

#include "axon/data_convert.h"

static char dir[256];

__attribute__((unused))
static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-convert-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

__attribute__((unused))
static void remove_tree(const char *path)
{
	DIR *listing = opendir(path);
	struct dirent *entry;
	char child[1024];

	if (!listing) {
		unlink(path);
		return;
	}
	while ((entry = readdir(listing)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
		remove_tree(child);
	}
	closedir(listing);
	rmdir(path);
}

__attribute__((unused))
static int teardown_dir(void **state)
{
	(void)state;
	remove_tree(dir);
	return 0;
}

__attribute__((unused))
static const char *at(const char *name)
{
	static char paths[64][512]; /* a few dozen may be alive at once */
	static int next;
	char *path = paths[next++ % 64];

	snprintf(path, 512, "%s/%s", dir, name);
	return path;
}

/* ---- writing sources ---- */

__attribute__((unused))
static void write_bytes(const char *path, int gzip, const void *data, size_t n)
{
	if (gzip) {
		gzFile file = gzopen(path, "wb");

		assert_non_null(file);
		assert_int_equal(gzwrite(file, data, (unsigned)n), (int)n);
		assert_int_equal(gzclose(file), Z_OK);
	} else {
		FILE *file = fopen(path, "wb");

		assert_non_null(file);
		assert_int_equal(fwrite(data, 1, n, file), n);
		assert_int_equal(fclose(file), 0);
	}
}

__attribute__((unused))
static void write_text(const char *path, const char *text)
{
	write_bytes(path, 0, text, strlen(text));
}

/* ---- reading what was written ---- */

struct split {
	int num_shards;
	int64_t counts[16];
	int64_t n;
	size_t row_bytes;
	uint8_t *inputs;     /* (n, row_bytes) */
	int32_t *labels;     /* class targets */
	float *targets;      /* regression targets (n, target_dim) */
	int64_t target_dim;
};

__attribute__((unused))
static void *read_dataset(hid_t file, const char *name, hid_t memory_type, size_t element_bytes,
			  int *rank, hsize_t *dims)
{
	hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT), space;
	size_t n = 1;
	void *data;

	assert_true(dataset >= 0);
	space = H5Dget_space(dataset);
	*rank = H5Sget_simple_extent_dims(space, dims, NULL);
	for (int d = 0; d < *rank; d++)
		n *= dims[d];
	data = malloc(n * element_bytes + 1);
	assert_true(H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
	H5Sclose(space);
	H5Dclose(dataset);
	return data;
}

/* Append every shard <split>-NNNNN.h5 of out/<split> in order. */
__attribute__((unused))
static void read_split(const char *out, const char *name, int is_float, int regression,
		       struct split *s)
{
	char path[1024];

	memset(s, 0, sizeof(*s));
	for (int shard = 0;; shard++) {
		hsize_t dims[8], target_dims[2];
		int rank, target_rank;
		hid_t file;
		void *inputs, *targets;

		snprintf(path, sizeof(path), "%s/%s/%s-%05d.h5", out, name, name, shard);
		if (access(path, F_OK) != 0)
			break;
		file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
		assert_true(file >= 0);
		inputs = read_dataset(file, "inputs", is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8,
				      is_float ? 4 : 1, &rank, dims);
		targets = read_dataset(file, "targets", regression ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT32,
				       4, &target_rank, target_dims);
		assert_int_equal(target_dims[0], dims[0]);
		assert_int_equal(target_rank, regression ? 2 : 1);
		s->row_bytes = is_float ? 4 : 1;
		for (int d = 1; d < rank; d++)
			s->row_bytes *= dims[d];
		s->target_dim = regression ? (int64_t)target_dims[1] : 1;
		s->inputs = realloc(s->inputs, (size_t)(s->n + (int64_t)dims[0]) * s->row_bytes);
		memcpy(s->inputs + s->n * s->row_bytes, inputs, dims[0] * s->row_bytes);
		if (regression) {
			s->targets = realloc(s->targets, (size_t)(s->n + (int64_t)dims[0]) *
							 (size_t)s->target_dim * 4);
			memcpy(s->targets + s->n * s->target_dim, targets, dims[0] * 4 * s->target_dim);
		} else {
			s->labels = realloc(s->labels, (size_t)(s->n + (int64_t)dims[0]) * 4);
			memcpy(s->labels + s->n, targets, dims[0] * 4);
		}
		s->counts[s->num_shards++] = (int64_t)dims[0];
		s->n += (int64_t)dims[0];
		free(inputs);
		free(targets);
		assert_true(H5Fclose(file) >= 0);
	}
}

__attribute__((unused))
static void free_split(struct split *s)
{
	free(s->inputs);
	free(s->labels);
	free(s->targets);
}

__attribute__((unused))
static int read_int_attribute(const char *path, const char *name)
{
	hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), attribute;
	int value = -12345;

	assert_true(file >= 0);
	attribute = H5Aopen(file, name, H5P_DEFAULT);
	assert_true(attribute >= 0);
	assert_true(H5Aread(attribute, H5T_NATIVE_INT, &value) >= 0);
	H5Aclose(attribute);
	H5Fclose(file);
	return value;
}

__attribute__((unused))
static int read_float_attribute(const char *path, const char *name, float *values, int capacity)
{
	hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), attribute, space;
	hssize_t n;

	assert_true(file >= 0);
	attribute = H5Aopen(file, name, H5P_DEFAULT);
	assert_true(attribute >= 0);
	space = H5Aget_space(attribute);
	n = H5Sget_simple_extent_npoints(space);
	assert_true(n >= 1 && n <= capacity);
	assert_true(H5Aread(attribute, H5T_NATIVE_FLOAT, values) >= 0);
	H5Sclose(space);
	H5Aclose(attribute);
	H5Fclose(file);
	return (int)n;
}

__attribute__((unused))
static cJSON *read_manifest(const char *path)
{
	FILE *file = fopen(path, "rb");
	char text[65536];
	size_t n;

	assert_non_null(file);
	n = fread(text, 1, sizeof(text) - 1, file);
	fclose(file);
	text[n] = '\0';
	return cJSON_Parse(text);
}

/* No *.h5 file and no temporary file anywhere under `path`. */
__attribute__((unused))
static void assert_no_shards(const char *path)
{
	DIR *listing = opendir(path);
	struct dirent *entry;
	char child[1024];

	if (!listing)
		return;
	while ((entry = readdir(listing)) != NULL) {
		size_t n = strlen(entry->d_name);

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
		if (n > 3 && strcmp(entry->d_name + n - 3, ".h5") == 0)
			fail_msg("shard %s was left behind", child);
		if (strstr(entry->d_name, ".tmp"))
			fail_msg("temporary file %s was left behind", child);
		assert_string_not_equal(entry->d_name, "manifest.json");
		assert_no_shards(child);
	}
	closedir(listing);
}

/* Reference statistics in double over rows that are not in `is_val`. */
__attribute__((unused))
static void reference_stats(const double *values, int64_t n, int64_t numel, int64_t groups,
			    const uint8_t *is_val, double *mean, double *std)
{
	int64_t inner = numel / groups, count = 0;

	for (int64_t c = 0; c < groups; c++)
		mean[c] = std[c] = 0;
	for (int64_t i = 0; i < n; i++) {
		if (is_val[i])
			continue;
		count++;
		for (int64_t e = 0; e < numel; e++)
			mean[e / inner] += values[i * numel + e];
	}
	for (int64_t c = 0; c < groups; c++)
		mean[c] /= (double)(count * inner);
	for (int64_t i = 0; i < n; i++)
		for (int64_t e = 0; !is_val[i] && e < numel; e++) {
			double d = values[i * numel + e] - mean[e / inner];

			std[e / inner] += d * d;
		}
	for (int64_t c = 0; c < groups; c++)
		std[c] = sqrt(std[c] / (double)(count * inner));
}

__attribute__((unused))
static void assert_stats(const char *shard, int groups, const double *mean, const double *std)
{
	float got_mean[64], got_std[64];

	assert_int_equal(read_float_attribute(shard, "norm_mean", got_mean, 64), groups);
	assert_int_equal(read_float_attribute(shard, "norm_std", got_std, 64), groups);
	for (int c = 0; c < groups; c++) {
		if (fabs(got_mean[c] - mean[c]) > 1e-6 * (1 + fabs(mean[c])) ||
		    fabs(got_std[c] - std[c]) > 1e-6 * (1 + std[c]))
			fail_msg("%s: statistics %d are mean %.9g std %.9g, expected %.9g %.9g", shard, c,
				 got_mean[c], got_std[c], mean[c], std[c]);
	}
}

/* ax_data_convert(o) fails with `want` and a message that names needle1 and
 * says needle2 (either may be NULL), leaving no shard or temporary file. */
__attribute__((unused))
static void convert_expect_error(struct ax_convert_options *o, enum ax_status want,
				 const char *needle1, const char *needle2)
{
	enum ax_status st = ax_data_convert(o, NULL);

	if (st != want)
		fail_msg("expected %s, got %s: %s", ax_status_name(want), ax_status_name(st),
			 ax_last_error());
	if (needle1 && !strstr(ax_last_error(), needle1))
		fail_msg("message '%s' does not name '%s'", ax_last_error(), needle1);
	if (needle2 && !strstr(ax_last_error(), needle2))
		fail_msg("message '%s' does not say '%s'", ax_last_error(), needle2);
	assert_no_shards(o->out_dir);
}

#endif
