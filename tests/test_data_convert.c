/* test_data_convert.c - axon data convert / inspect, checked from the files.
 *
 * Each test writes small sources into a mkdtemp directory - IDX files (plain
 * and gzip'd), CSV tables, .npy pairs - converts them, and reads the shards
 * back with the HDF5 C API and the manifest with cJSON, never through axon's
 * own reader: every sample must be in exactly one of train and val, in source
 * order, with its own label; shard counts are as even as possible; the
 * attributes and manifest say what docs/data-format.md says; the
 * normalisation equals a double-precision computation over the training part
 * only. The error cases check the status, that the message names the file
 * (and line and column for CSV), and that no shard or temporary file is left
 * behind. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <zlib.h>

#include "axon/data_convert.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char dir[256];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-convert-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

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

static int teardown_dir(void **state)
{
	(void)state;
	remove_tree(dir);
	return 0;
}

static const char *at(const char *name)
{
	static char paths[64][512]; /* a few dozen may be alive at once */
	static int next;
	char *path = paths[next++ % 64];

	snprintf(path, 512, "%s/%s", dir, name);
	return path;
}

/* ---- writing sources ---- */

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

/* An IDX file of unsigned bytes: magic, big-endian dims, data; the data is
 * cut to `keep` bytes when keep >= 0 (a truncated file). */
static void write_idx(const char *path, int gzip, int ndim, const uint32_t *dims,
		      const uint8_t *data, long keep)
{
	size_t n = 1, header = 4 + 4 * (size_t)ndim;
	uint8_t *bytes;

	for (int d = 0; d < ndim; d++)
		n *= dims[d];
	bytes = malloc(header + n);
	bytes[0] = bytes[1] = 0;
	bytes[2] = 0x08;
	bytes[3] = (uint8_t)ndim;
	for (int d = 0; d < ndim; d++) {
		bytes[4 + 4 * d] = (uint8_t)(dims[d] >> 24);
		bytes[5 + 4 * d] = (uint8_t)(dims[d] >> 16);
		bytes[6 + 4 * d] = (uint8_t)(dims[d] >> 8);
		bytes[7 + 4 * d] = (uint8_t)dims[d];
	}
	memcpy(bytes + header, data, n);
	write_bytes(path, gzip, bytes, keep >= 0 ? header + (size_t)keep : header + n);
	free(bytes);
}

/* A .npy v1.0 file with the given header fields. */
static void write_npy(const char *path, const char *descr, int fortran, int ndim,
		      const long *shape, const void *data, size_t data_bytes)
{
	char dict[256], dims[128] = "";
	size_t at_dims = 0, length, padded;
	uint8_t *bytes;

	for (int d = 0; d < ndim; d++)
		at_dims += (size_t)snprintf(dims + at_dims, sizeof(dims) - at_dims, "%ld,%s",
					    shape[d], d + 1 < ndim ? " " : "");
	if (ndim > 1)
		dims[at_dims - 1] = '\0'; /* numpy writes (3, 4) but (3,) */
	length = (size_t)snprintf(dict, sizeof(dict),
				  "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr,
				  fortran ? "True" : "False", dims);
	padded = (10 + length + 1 + 63) / 64 * 64 - 10;
	bytes = malloc(10 + padded + data_bytes);
	memcpy(bytes, "\x93NUMPY\x01\x00", 8);
	bytes[8] = (uint8_t)(padded & 0xff);
	bytes[9] = (uint8_t)(padded >> 8);
	memset(bytes + 10, ' ', padded);
	memcpy(bytes + 10, dict, length);
	bytes[10 + padded - 1] = '\n';
	memcpy(bytes + 10 + padded, data, data_bytes);
	write_bytes(path, 0, bytes, 10 + padded + data_bytes);
	free(bytes);
}

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

static void free_split(struct split *s)
{
	free(s->inputs);
	free(s->labels);
	free(s->targets);
}

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

static void assert_split_attribute(const char *path, const char *want)
{
	hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), attribute, type;
	char *value = NULL;

	assert_true(file >= 0);
	attribute = H5Aopen(file, "split", H5P_DEFAULT);
	assert_true(attribute >= 0);
	type = H5Aget_type(attribute);
	assert_true(H5Tis_variable_str(type) > 0);
	assert_true(H5Aread(attribute, type, &value) >= 0);
	assert_string_equal(value, want);
	H5free_memory(value);
	H5Tclose(type);
	H5Aclose(attribute);
	H5Fclose(file);
}

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

/* Map each row of train and val back to its source row through the id held
 * in its first two values, check contents and labels, and mark val rows. */
static void check_partition(const struct split *train, const struct split *val,
			    const uint8_t *source, size_t row_bytes, const int32_t *labels,
			    int64_t n, uint8_t *is_val)
{
	uint8_t *seen = calloc((size_t)n, 1);
	const struct split *parts[2] = {train, val};

	for (int p = 0; p < 2; p++) {
		int64_t previous = -1;

		assert_int_equal(parts[p]->row_bytes, row_bytes);
		for (int64_t i = 0; i < parts[p]->n; i++) {
			const uint8_t *row = parts[p]->inputs + i * row_bytes;
			int64_t id = row[0] | row[1] << 8;

			assert_true(id >= 0 && id < n);
			assert_true(id > previous); /* source order kept */
			previous = id;
			assert_int_equal(seen[id], 0);
			seen[id] = 1;
			assert_memory_equal(row, source + id * row_bytes, row_bytes);
			assert_int_equal(parts[p]->labels[i], labels[id]);
			if (is_val)
				is_val[id] = (uint8_t)p;
		}
	}
	for (int64_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

/* ---- IDX ---- */

enum { IDX_N = 103, IDX_TEST_N = 17, IDX_H = 5, IDX_W = 4 };

static void make_idx_source(uint8_t *images, int32_t *labels, uint8_t *label_bytes, int n,
			    unsigned salt)
{
	for (int i = 0; i < n; i++) {
		uint8_t *row = images + i * IDX_H * IDX_W;

		row[0] = (uint8_t)(i & 0xff);
		row[1] = (uint8_t)(i >> 8);
		for (int e = 2; e < IDX_H * IDX_W; e++)
			row[e] = (uint8_t)((i * 37u + e * 11u + salt) * 2654435761u >> 24);
		label_bytes[i] = (uint8_t)((i * 5 + salt) % 7);
		labels[i] = label_bytes[i];
	}
}

static void test_idx_convert_split_and_stats(void **state)
{
	static uint8_t images[IDX_N * IDX_H * IDX_W], test_images[IDX_TEST_N * IDX_H * IDX_W];
	uint8_t label_bytes[IDX_N], test_label_bytes[IDX_TEST_N], is_val[IDX_N];
	int32_t labels[IDX_N], test_labels[IDX_TEST_N];
	const uint32_t dims[3] = {IDX_N, IDX_H, IDX_W}, test_dims[3] = {IDX_TEST_N, IDX_H, IDX_W};
	const uint32_t label_dims[1] = {IDX_N}, test_label_dims[1] = {IDX_TEST_N};
	struct ax_convert_options o;
	struct split train, val, test;
	static double as_double[IDX_N * IDX_H * IDX_W];
	double mean, std;
	char out[512];
	cJSON *manifest, *shards, *norm;

	(void)state;
	snprintf(out, sizeof(out), "%s", at("out"));
	make_idx_source(images, labels, label_bytes, IDX_N, 0);
	make_idx_source(test_images, test_labels, test_label_bytes, IDX_TEST_N, 3);
	/* gzip'd training images with plain labels, and the other way round for test */
	write_idx(at("train-images.gz"), 1, 3, dims, images, -1);
	write_idx(at("train-labels"), 0, 1, label_dims, label_bytes, -1);
	write_idx(at("test-images"), 0, 3, test_dims, test_images, -1);
	write_idx(at("test-labels.gz"), 1, 1, test_label_dims, test_label_bytes, -1);

	ax_convert_options_init(&o);
	o.format = AX_CONVERT_IDX;
	o.train_inputs = at("train-images.gz");
	o.train_targets = at("train-labels");
	o.test_inputs = at("test-images");
	o.test_targets = at("test-labels.gz");
	o.out_dir = out;
	o.shards = 3;
	o.val_fraction = 0.2;
	o.seed = 11;
	o.compression = 1;
	o.chunk_rows = 8;
	TU_OK(ax_data_convert(&o, NULL));

	read_split(out, "train", 0, 0, &train);
	read_split(out, "val", 0, 0, &val);
	read_split(out, "test", 0, 0, &test);
	/* 21 = round(0.2 * 103) validation samples; 82 training ones over 3 shards */
	assert_int_equal(val.n, 21);
	assert_int_equal(train.n, 82);
	assert_int_equal(train.num_shards, 3);
	assert_int_equal(train.counts[0], 28);
	assert_int_equal(train.counts[1], 27);
	assert_int_equal(train.counts[2], 27);
	assert_int_equal(val.num_shards, 3);
	assert_int_equal(val.counts[0] + val.counts[1] + val.counts[2], 21);
	assert_int_equal(val.counts[0], 7);
	check_partition(&train, &val, images, IDX_H * IDX_W, labels, IDX_N, is_val);
	assert_int_equal(test.n, IDX_TEST_N);
	assert_memory_equal(test.inputs, test_images, sizeof(test_images));
	assert_memory_equal(test.labels, test_labels, sizeof(test_labels));

	/* one statistic (2-D images), over the training rows only, in x / 255 */
	for (int i = 0; i < IDX_N * IDX_H * IDX_W; i++)
		as_double[i] = images[i] / 255.0;
	reference_stats(as_double, IDX_N, IDX_H * IDX_W, 1, is_val, &mean, &std);
	assert_stats(at("out/train/train-00000.h5"), 1, &mean, &std);
	assert_stats(at("out/val/val-00002.h5"), 1, &mean, &std);
	assert_stats(at("out/test/test-00001.h5"), 1, &mean, &std);
	memset(is_val, 0, sizeof(is_val)); /* the whole source gives different figures */
	{
		double all_mean, all_std;

		reference_stats(as_double, IDX_N, IDX_H * IDX_W, 1, is_val, &all_mean, &all_std);
		assert_true(fabs(all_mean - mean) > 1e-5);
	}
	assert_int_equal(read_int_attribute(at("out/train/train-00001.h5"), "axon_schema_version"), 1);
	assert_int_equal(read_int_attribute(at("out/val/val-00000.h5"), "num_classes"), 7);
	assert_split_attribute(at("out/train/train-00000.h5"), "train");
	assert_split_attribute(at("out/val/val-00001.h5"), "val");
	assert_split_attribute(at("out/test/test-00000.h5"), "test");

	/* chunked by 8 rows, deflate + checksum */
	{
		hid_t file = H5Fopen(at("out/train/train-00000.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
		hid_t dataset = H5Dopen2(file, "inputs", H5P_DEFAULT), dcpl = H5Dget_create_plist(dataset);
		hsize_t chunk[3];
		int deflate = 0, fletcher = 0;

		assert_int_equal(H5Pget_chunk(dcpl, 3, chunk), 3);
		assert_int_equal(chunk[0], 8);
		assert_int_equal(chunk[1], IDX_H);
		for (int f = 0; f < H5Pget_nfilters(dcpl); f++) {
			unsigned flags, values[4];
			size_t n_values = 4;
			H5Z_filter_t filter = H5Pget_filter2(dcpl, (unsigned)f, &flags, &n_values, values,
							     0, NULL, NULL);

			deflate |= filter == H5Z_FILTER_DEFLATE && values[0] == 1;
			fletcher |= filter == H5Z_FILTER_FLETCHER32;
		}
		assert_true(deflate && fletcher);
		H5Pclose(dcpl);
		H5Dclose(dataset);
		H5Fclose(file);
	}

	manifest = read_manifest(at("out/train/manifest.json"));
	assert_non_null(manifest);
	assert_string_equal(cJSON_GetObjectItem(manifest, "format")->valuestring, "axon-dataset");
	assert_int_equal(cJSON_GetObjectItem(manifest, "schema_version")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(manifest, "split")->valuestring, "train");
	assert_int_equal(cJSON_GetObjectItem(manifest, "num_samples")->valueint, 82);
	assert_int_equal(cJSON_GetObjectItem(manifest, "num_classes")->valueint, 7);
	assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(manifest, "sample_shape"), 1)->valueint,
			 IDX_W);
	assert_string_equal(cJSON_GetObjectItem(manifest, "input_dtype")->valuestring, "uint8");
	assert_string_equal(cJSON_GetObjectItem(manifest, "target")->valuestring, "class");
	shards = cJSON_GetObjectItem(manifest, "shards");
	assert_int_equal(cJSON_GetArraySize(shards), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(shards, 2), "file")->valuestring,
			    "train-00002.h5");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(shards, 2), "samples")->valueint, 27);
	norm = cJSON_GetObjectItem(manifest, "normalization");
	assert_true(fabs(cJSON_GetArrayItem(cJSON_GetObjectItem(norm, "mean"), 0)->valuedouble - mean)
		    < 1e-6);
	assert_non_null(strstr(cJSON_GetObjectItem(manifest, "source")->valuestring, "idx:"));
	cJSON_Delete(manifest);
	free_split(&train);
	free_split(&val);
	free_split(&test);

	/* The same seed draws the same validation rows; another seed others. */
	{
		struct split again;

		o.out_dir = at("same-seed");
		TU_OK(ax_data_convert(&o, NULL));
		read_split(o.out_dir, "val", 0, 0, &again);
		read_split(out, "val", 0, 0, &val);
		assert_int_equal(again.n, val.n);
		assert_memory_equal(again.inputs, val.inputs, (size_t)val.n * val.row_bytes);
		free_split(&again);
		o.out_dir = at("other-seed");
		o.seed = 12;
		TU_OK(ax_data_convert(&o, NULL));
		read_split(o.out_dir, "val", 0, 0, &again);
		assert_int_equal(again.n, val.n);
		assert_memory_not_equal(again.inputs, val.inputs, (size_t)val.n * val.row_bytes);
		free_split(&again);
		free_split(&val);
	}
}

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

static void test_idx_errors(void **state)
{
	static uint8_t images[IDX_N * IDX_H * IDX_W];
	uint8_t label_bytes[IDX_N];
	int32_t labels[IDX_N];
	const uint32_t dims[3] = {IDX_N, IDX_H, IDX_W}, label_dims[1] = {IDX_N};
	const uint32_t short_dims[1] = {IDX_N - 1};
	struct ax_convert_options o;

	(void)state;
	make_idx_source(images, labels, label_bytes, IDX_N, 0);
	write_idx(at("images"), 0, 3, dims, images, -1);
	write_idx(at("labels.gz"), 1, 1, label_dims, label_bytes, -1);
	write_idx(at("cut-images"), 0, 3, dims, images, 1000);
	write_idx(at("cut-images.gz"), 1, 3, dims, images, 1000);
	write_idx(at("short-labels"), 0, 1, short_dims, label_bytes, -1);
	write_text(at("not-idx"), "P5\n28 28\n255\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	ax_convert_options_init(&o);
	o.format = AX_CONVERT_IDX;
	o.out_dir = at("out");
	o.train_targets = at("labels.gz");

	o.train_inputs = at("cut-images");
	convert_expect_error(&o, AX_ERR_INVALID, "cut-images", "truncated");
	o.train_inputs = at("cut-images.gz");
	convert_expect_error(&o, AX_ERR_INVALID, "cut-images.gz", "truncated");
	o.train_inputs = at("not-idx");
	convert_expect_error(&o, AX_ERR_INVALID, "not-idx", "not an IDX");
	o.train_inputs = at("labels.gz"); /* a label file given as images */
	convert_expect_error(&o, AX_ERR_INVALID, "labels.gz", "dims");
	o.train_inputs = at("images");
	o.train_targets = at("short-labels");
	convert_expect_error(&o, AX_ERR_INVALID, "short-labels", "102 labels");
	o.train_targets = at("missing-labels");
	convert_expect_error(&o, AX_ERR_IO, "missing-labels", "No such file");
	o.train_targets = at("labels.gz");
	o.test_inputs = at("images");
	o.test_targets = at("short-labels");
	convert_expect_error(&o, AX_ERR_INVALID, "short-labels", "labels");
	o.test_inputs = o.test_targets = NULL;
	o.num_classes = 5; /* the labels go up to 6 */
	convert_expect_error(&o, AX_ERR_RANGE, "images", "num_classes is 5");
	o.num_classes = 0;
	o.val_fraction = 0.001; /* rounds to no validation sample */
	convert_expect_error(&o, AX_ERR_INVALID, "validation", NULL);

	/* A failure while staging the last split leaves nothing: out/test is a file. */
	o.val_fraction = 0.5;
	o.test_inputs = at("images");
	o.test_targets = at("labels.gz");
	mkdir(at("out"), 0777);
	write_text(at("out/test"), "in the way");
	{
		enum ax_status st = ax_data_convert(&o, NULL);

		assert_int_equal(st, AX_ERR_IO);
		assert_non_null(strstr(ax_last_error(), "out/test"));
		assert_no_shards(at("out/train"));
		assert_no_shards(at("out/val"));
	}
	unlink(at("out/test"));

	/* An existing dataset is refused, and replaced with --overwrite. */
	o.shards = 3;
	TU_OK(ax_data_convert(&o, NULL));
	assert_int_equal(access(at("out/train/train-00002.h5"), F_OK), 0);
	o.shards = 1;
	assert_int_equal(ax_data_convert(&o, NULL), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "already holds a dataset"));
	assert_non_null(strstr(ax_last_error(), "--overwrite"));
	assert_int_equal(access(at("out/train/train-00002.h5"), F_OK), 0); /* untouched */
	o.overwrite = 1;
	TU_OK(ax_data_convert(&o, NULL));
	assert_int_equal(access(at("out/train/train-00000.h5"), F_OK), 0);
	assert_int_not_equal(access(at("out/train/train-00001.h5"), F_OK), 0);
	assert_int_not_equal(access(at("out/train/train-00002.h5"), F_OK), 0);
}

/* ---- CSV ---- */

enum { CSV_N = 40, CSV_F = 3 };

static void test_csv_convert(void **state)
{
	float features[CSV_N * CSV_F], targets[CSV_N];
	double features64[CSV_N * CSV_F];
	int32_t labels[CSV_N];
	char *text = malloc(16384);
	size_t length = 0;
	struct ax_convert_options o;
	struct split train, val;
	uint8_t is_val[CSV_N] = {0};
	double mean[CSV_F], std[CSV_F];

	(void)state;
	/* columns: id, x, label, y; the label column chosen by its name; the id
	 * feature (an integer < 256) lets check_partition find each row */
	length += (size_t)snprintf(text + length, 16384 - length, "id,x,label,y\n");
	for (int i = 0; i < CSV_N; i++) {
		features[i * CSV_F] = (float)i;
		features[i * CSV_F + 1] = (float)sin(i) * 3.5f;
		features[i * CSV_F + 2] = (float)(i % 5) - 0.25f;
		labels[i] = (i * 3) % 4;
		targets[i] = (float)i / 7.0f;
		length += (size_t)snprintf(text + length, 16384 - length, "%d, \"%.9g\",%d,%.9g\n", i,
					   (double)features[i * CSV_F + 1], labels[i],
					   (double)features[i * CSV_F + 2]);
	}
	write_text(at("table.csv"), text);
	ax_convert_options_init(&o);
	o.format = AX_CONVERT_CSV;
	o.train_inputs = at("table.csv");
	o.out_dir = at("out");
	o.csv_header = 1;
	o.csv_label_name = "label";
	o.val_fraction = 0.25;
	o.seed = 3;
	o.shards = 2;
	TU_OK(ax_data_convert(&o, NULL));
	read_split(o.out_dir, "train", 1, 0, &train);
	read_split(o.out_dir, "val", 1, 0, &val);
	assert_int_equal(train.n, 30);
	assert_int_equal(val.n, 10);
	assert_int_equal(train.counts[0], 15);
	assert_int_equal(train.row_bytes, CSV_F * 4);
	/* identify rows by their id feature */
	for (int p = 0; p < 2; p++) {
		const struct split *s = p ? &val : &train;

		for (int64_t i = 0; i < s->n; i++) {
			const float *row = (const float *)(s->inputs + i * s->row_bytes);
			int id = (int)row[0];

			assert_memory_equal(row, features + id * CSV_F, CSV_F * 4);
			assert_int_equal(s->labels[i], labels[id]);
			is_val[id] = (uint8_t)p;
		}
	}
	for (int i = 0; i < CSV_N * CSV_F; i++)
		features64[i] = features[i];
	reference_stats(features64, CSV_N, CSV_F, CSV_F, is_val, mean, std);
	assert_stats(at("out/train/train-00001.h5"), CSV_F, mean, std);
	assert_stats(at("out/val/val-00000.h5"), CSV_F, mean, std);
	assert_int_equal(read_int_attribute(at("out/train/train-00000.h5"), "num_classes"), 4);
	free_split(&train);
	free_split(&val);

	/* Regression on the same table: the label column by index, float targets. */
	o.out_dir = at("regression");
	o.csv_label_name = NULL;
	o.csv_label_column = 2;
	o.regression = 1;
	o.val_fraction = 0;
	o.shards = 1;
	length = (size_t)snprintf(text, 16384, "id,x,target,y\n");
	for (int i = 0; i < CSV_N; i++)
		length += (size_t)snprintf(text + length, 16384 - length, "%d,%.9g,%.9g,%.9g\n", i,
					   (double)features[i * CSV_F + 1], (double)targets[i],
					   (double)features[i * CSV_F + 2]);
	write_text(at("regression.csv"), text);
	o.train_inputs = at("regression.csv");
	TU_OK(ax_data_convert(&o, NULL));
	read_split(o.out_dir, "train", 1, 1, &train);
	assert_int_equal(train.n, CSV_N);
	assert_int_equal(train.target_dim, 1);
	assert_memory_equal(train.targets, targets, sizeof(targets));
	assert_memory_equal(train.inputs, features, sizeof(features));
	free_split(&train);

	/* A bad cell names the file, line and column. */
	write_text(at("bad.csv"), "a,b,label\n1,2,0\n3,4,1\n5,oops,0\n");
	o.train_inputs = at("bad.csv");
	o.out_dir = at("bad");
	o.regression = 0;
	o.csv_label_column = -1;
	convert_expect_error(&o, AX_ERR_INVALID, "bad.csv line 4, column 2 (b)", "'oops'");
	write_text(at("ragged.csv"), "1,2,0\n3,4,1\n\n5,6,7,0\n");
	o.train_inputs = at("ragged.csv");
	o.csv_header = 0;
	convert_expect_error(&o, AX_ERR_INVALID, "ragged.csv line 4", "has 4 columns");
	write_text(at("float-label.csv"), "1,2,0\n3,4,1.5\n");
	o.train_inputs = at("float-label.csv");
	convert_expect_error(&o, AX_ERR_INVALID, "float-label.csv line 2, column 3", "--regression");
	write_text(at("quote.csv"), "1,2,0\n3,\"4,1\n");
	o.train_inputs = at("quote.csv");
	convert_expect_error(&o, AX_ERR_INVALID, "quote.csv", "quot");
	o.train_inputs = at("no-such.csv");
	convert_expect_error(&o, AX_ERR_IO, "no-such.csv", NULL);
	free(text);
}

/* ---- NumPy ---- */

enum { NPY_N = 24, NPY_C = 2, NPY_HW = 3 };

static void test_npy_convert(void **state)
{
	enum { NUMEL = NPY_C * NPY_HW * NPY_HW };
	double inputs64[NPY_N * NUMEL];
	float inputs32[NPY_N * NUMEL], regression[NPY_N * 2];
	int64_t labels64[NPY_N];
	int32_t labels[NPY_N];
	const long shape[4] = {NPY_N, NPY_C, NPY_HW, NPY_HW}, label_shape[1] = {NPY_N};
	const long regression_shape[2] = {NPY_N, 2}, table_shape[2] = {NPY_N, 6};
	uint8_t table[NPY_N * 6], is_val[NPY_N] = {0};
	struct ax_convert_options o;
	struct split train, val;
	double mean[NPY_C], std[NPY_C];
	cJSON *manifest;

	(void)state;
	for (int i = 0; i < NPY_N * NUMEL; i++) {
		inputs64[i] = (i % NUMEL == 0) ? i / NUMEL : cos(i * 0.37) * (1 + (i / 9) % 2) + 0.1;
		inputs32[i] = (float)inputs64[i];
	}
	for (int i = 0; i < NPY_N; i++) {
		labels64[i] = i % 3;
		labels[i] = i % 3;
		regression[2 * i] = (float)i * 0.5f;
		regression[2 * i + 1] = -(float)i;
		for (int e = 0; e < 6; e++)
			table[i * 6 + e] = (uint8_t)(e == 0 ? i : i * 13 + e * 7);
	}
	write_npy(at("x.npy"), "<f8", 0, 4, shape, inputs64, sizeof(inputs64));
	write_npy(at("y.npy"), "<i8", 0, 1, label_shape, labels64, sizeof(labels64));
	ax_convert_options_init(&o);
	o.format = AX_CONVERT_NPY;
	o.train_inputs = at("x.npy");
	o.train_targets = at("y.npy");
	o.out_dir = at("out");
	o.val_fraction = 0.25;
	o.seed = 5;
	TU_OK(ax_data_convert(&o, NULL));
	read_split(o.out_dir, "train", 1, 0, &train);
	read_split(o.out_dir, "val", 1, 0, &val);
	assert_int_equal(train.n, 18);
	assert_int_equal(val.n, 6);
	for (int p = 0; p < 2; p++) {
		const struct split *s = p ? &val : &train;

		for (int64_t i = 0; i < s->n; i++) {
			const float *row = (const float *)(s->inputs + i * s->row_bytes);
			int id = (int)row[0];

			assert_memory_equal(row, inputs32 + id * NUMEL, NUMEL * 4);
			assert_int_equal(s->labels[i], labels[id]);
			is_val[id] = (uint8_t)p;
		}
	}
	/* per channel for [N, C, H, W] */
	for (int i = 0; i < NPY_N * NUMEL; i++)
		inputs64[i] = inputs32[i]; /* the float32 values the shards hold */
	reference_stats(inputs64, NPY_N, NUMEL, NPY_C, is_val, mean, std);
	assert_stats(at("out/train/train-00000.h5"), NPY_C, mean, std);
	manifest = read_manifest(at("out/val/manifest.json"));
	assert_string_equal(cJSON_GetObjectItem(manifest, "input_dtype")->valuestring, "float32");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(manifest, "sample_shape")), 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
				 cJSON_GetObjectItem(manifest, "normalization"), "std")), NPY_C);
	cJSON_Delete(manifest);
	free_split(&train);
	free_split(&val);

	/* uint8 table inputs with [N, 2] float32 regression targets */
	write_npy(at("table.npy"), "|u1", 0, 2, table_shape, table, sizeof(table));
	write_npy(at("reg.npy"), "<f4", 0, 2, regression_shape, regression, sizeof(regression));
	o.train_inputs = at("table.npy");
	o.train_targets = at("reg.npy");
	o.out_dir = at("table-out");
	o.val_fraction = 0;
	o.regression = 1;
	TU_OK(ax_data_convert(&o, NULL));
	read_split(o.out_dir, "train", 0, 1, &train);
	assert_int_equal(train.target_dim, 2);
	assert_memory_equal(train.inputs, table, sizeof(table));
	assert_memory_equal(train.targets, regression, sizeof(regression));
	free_split(&train);

	/* float targets without --regression, Fortran order, big-endian, bad dtypes */
	o.out_dir = at("bad");
	o.regression = 0;
	convert_expect_error(&o, AX_ERR_DTYPE, "reg.npy", "--regression");
	write_npy(at("fortran.npy"), "<f4", 1, 4, shape, inputs32, sizeof(inputs32));
	o.train_inputs = at("fortran.npy");
	o.train_targets = at("y.npy");
	convert_expect_error(&o, AX_ERR_UNSUPPORTED, "fortran.npy", "Fortran");
	write_npy(at("big.npy"), ">f4", 0, 4, shape, inputs32, sizeof(inputs32));
	o.train_inputs = at("big.npy");
	convert_expect_error(&o, AX_ERR_UNSUPPORTED, "big.npy", "big-endian");
	write_npy(at("half.npy"), "<f2", 0, 2, table_shape, table, sizeof(table));
	o.train_inputs = at("half.npy");
	convert_expect_error(&o, AX_ERR_UNSUPPORTED, "half.npy", "'<f2'");
	write_npy(at("cut.npy"), "<f4", 0, 4, shape, inputs32, sizeof(inputs32) - 8);
	o.train_inputs = at("cut.npy");
	convert_expect_error(&o, AX_ERR_INVALID, "cut.npy", "truncated");
	write_text(at("text.npy"), "not numpy at all");
	o.train_inputs = at("text.npy");
	convert_expect_error(&o, AX_ERR_INVALID, "text.npy", "not a .npy");
	o.train_inputs = at("x.npy");
	o.train_targets = at("table.npy"); /* 2-D targets without --regression */
	convert_expect_error(&o, AX_ERR_SHAPE, "table.npy", NULL);
}

/* ---- writing from memory, and inspect ---- */

static void test_write_split_and_inspect(void **state)
{
	enum { N = 50 };
	uint8_t inputs[N * 4];
	int32_t labels[N];
	float mean = 0.5f, std = 0.25f;
	struct ax_split_layout layout = {.split = "train", .input_dtype = AX_U8, .sample_ndim = 1,
					 .sample_shape = {4}, .target_kind = AX_TARGET_CLASS,
					 .target_dim = 1, .num_classes = 5, .num_norm = 1,
					 .norm_mean = &mean, .norm_std = &std, .checksum = 1};
	char output[8192] = "";
	FILE *out;
	struct split train;

	(void)state;
	/* the default chunk: a power of two of rows, at most 256 KiB, at most 4096 rows */
	assert_int_equal(ax_data_default_chunk_rows(784), 256);
	assert_int_equal(ax_data_default_chunk_rows(3 * 32 * 32), 64);
	assert_int_equal(ax_data_default_chunk_rows(16), 4096);
	assert_int_equal(ax_data_default_chunk_rows(3 * 224 * 224), 1);
	for (int i = 0; i < N; i++) {
		labels[i] = i % 4; /* class 4 has no sample */
		for (int e = 0; e < 4; e++)
			inputs[i * 4 + e] = (uint8_t)(i * 4 + e);
	}
	TU_OK(ax_data_write_split(at("ds/train"), &layout, inputs, labels, NULL, N, 4, 0));
	read_split(at("ds"), "train", 0, 0, &train);
	assert_int_equal(train.num_shards, 4);
	assert_int_equal(train.counts[0], 13);
	assert_int_equal(train.counts[3], 12);
	assert_memory_equal(train.inputs, inputs, sizeof(inputs));
	free_split(&train);

	out = tmpfile();
	TU_OK(ax_data_inspect(at("ds"), out));
	rewind(out);
	output[fread(output, 1, sizeof(output) - 1, out)] = '\0';
	fclose(out);
	assert_non_null(strstr(output, "50 in 4 shards"));
	assert_non_null(strstr(output, "5 classes"));
	assert_non_null(strstr(output, "train-00003.h5"));
	assert_non_null(strstr(output, "1 class has no samples"));

	/* a label out of range is refused before anything is written */
	labels[7] = 9;
	assert_int_equal(ax_data_write_split(at("ds2/train"), &layout, inputs, labels, NULL, N, 2, 0),
			 AX_ERR_RANGE);
	assert_non_null(strstr(ax_last_error(), "label 9"));
	assert_no_shards(at("ds2"));

	/* inspect fails when a shard no longer matches the manifest */
	labels[7] = 3;
	TU_OK(ax_data_write_split(at("ds3"), &layout, inputs, labels, NULL, 20, 1, 0));
	TU_OK(ax_data_write_split(at("ds4"), &layout, inputs, labels, NULL, 19, 1, 0));
	assert_int_equal(rename(at("ds4/train-00000.h5"), at("ds3/train-00000.h5")), 0);
	out = tmpfile();
	assert_int_not_equal(ax_data_inspect(at("ds3"), out), AX_OK);
	fclose(out);
	assert_non_null(strstr(ax_last_error(), "train-00000.h5"));
}

/* ---- the real Fashion-MNIST, when installed ---- */

static void test_fashion_mnist(void **state)
{
	struct ax_convert_options o;
	cJSON *manifest;
	float mean, std;

	(void)state;
	if (access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
		print_message("skipped: %s not installed (apt-get install dataset-fashion-mnist)\n",
			      FASHION_DIR);
		skip();
	}
	ax_convert_options_init(&o);
	o.train_inputs = FASHION_DIR "/train-images-idx3-ubyte.gz";
	o.train_targets = FASHION_DIR "/train-labels-idx1-ubyte.gz";
	o.test_inputs = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
	o.test_targets = FASHION_DIR "/t10k-labels-idx1-ubyte.gz";
	o.out_dir = at("fashion");
	o.shards = 4;
	o.val_fraction = 0.1;
	TU_OK(ax_data_convert(&o, NULL));
	manifest = read_manifest(at("fashion/train/manifest.json"));
	assert_int_equal(cJSON_GetObjectItem(manifest, "num_samples")->valueint, 54000);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(manifest, "shards"),
								  3), "samples")->valueint, 13500);
	cJSON_Delete(manifest);
	manifest = read_manifest(at("fashion/test/manifest.json"));
	assert_int_equal(cJSON_GetObjectItem(manifest, "num_samples")->valueint, 10000);
	cJSON_Delete(manifest);
	/* the well-known whole-set figures are 0.2860 / 0.3530; 90% of it is close */
	read_float_attribute(at("fashion/val/val-00000.h5"), "norm_mean", &mean, 1);
	read_float_attribute(at("fashion/val/val-00000.h5"), "norm_std", &std, 1);
	assert_true(fabs(mean - 0.2860) < 0.002);
	assert_true(fabs(std - 0.3530) < 0.002);
	assert_int_equal(read_int_attribute(at("fashion/test/test-00000.h5"), "num_classes"), 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_idx_convert_split_and_stats),
		T(test_idx_errors),
		T(test_csv_convert),
		T(test_npy_convert),
		T(test_write_split_and_inspect),
		T(test_fashion_mnist),
	};

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
