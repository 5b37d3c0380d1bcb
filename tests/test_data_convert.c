/* test_data_convert.c - axon data convert from IDX files, checked from the files.
 *
 * Each test writes small IDX sources (plain and gzip'd) into a mkdtemp
 * directory, converts them, and reads the shards back with the HDF5 C API
 * and the manifest with cJSON, never through axon's own reader (the shared
 * helpers are in support/data_convert_fixture.h): every sample must be in
 * exactly one of train and val, in source order, with its own label; shard
 * counts are as even as possible; the attributes, the chunking and filters
 * and the manifest say what docs/data-format.md says; the normalisation
 * equals a double-precision computation over the training part only; the
 * same seed draws the same validation rows. The error cases check the
 * status, that the message names the file, and that no shard or temporary
 * file is left behind - also when staging the last split fails - and that
 * an existing dataset is only replaced with --overwrite. The real
 * Fashion-MNIST is converted when installed. CSV and NumPy sources are
 * checked in test_data_convert_csv_npy.c, ax_data_write_split and
 * ax_data_inspect in test_data_convert_write.c. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "axon/data_convert.h"

#include "data_convert_fixture.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- writing sources ---- */

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

/* ---- reading what was written ---- */

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
		T(test_fashion_mnist),
	};

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
