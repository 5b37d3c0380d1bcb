/* test_data_convert_csv_npy.c - axon data convert from CSV tables and .npy pairs.
 *
 * Each test writes small sources into a mkdtemp directory - CSV tables, the
 * label column chosen by name or by index, and .npy v1.0 files of several
 * dtypes and shapes - converts them, and reads the shards back with the
 * HDF5 C API and the manifest with cJSON, never through axon's own reader
 * (the shared helpers are in support/data_convert_fixture.h): every row must
 * come back in exactly one of train and val with its own label, or with its
 * float regression targets; the normalisation equals a double-precision
 * computation over the training part only (per column for a table, per
 * channel for [N, C, H, W]). The error cases check the status, that the
 * message names the file (and line and column for CSV) and the problem, and
 * that no shard or temporary file is left behind. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "axon/data_convert.h"

#include "data_convert_fixture.h"

/* ---- writing sources ---- */

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_csv_convert),
		T(test_npy_convert),
	};

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
