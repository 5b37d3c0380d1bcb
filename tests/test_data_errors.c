/* test_data_errors.c - every malformed dataset gets a clear error, never a crash.
 *
 * Each test writes a small dataset directory with the HDF5 C API (in a
 * mkdtemp directory), breaks one thing the format spec
 * (docs/data-format.md) forbids - a misnamed or missing dataset, lengths or
 * shapes that disagree, a wrong element type, a label outside its range, an
 * empty, truncated or non-HDF5 shard, a bad manifest or bad normalisation
 * attributes, options the dataset cannot satisfy - and checks the status
 * code and that ax_last_error() names the offending file and the problem.
 * The broken shard is usually the second of two ("s1-bad.h5" after
 * "s0-good.h5"), so a message that names the wrong file fails. Problems that
 * only show when values are read (a corrupted chunk, a shard replaced after
 * opening, a non-finite input) are checked through ax_dataset_verify and the
 * loader, whose I/O thread must hand the error to ax_loader_next. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "axon/data.h"

/* ---- writing shards ---- */

/* What one test shard holds. Types are HDF5 file types (H5T_STD_U8LE ...). */
struct shard_spec {
	const char *inputs_name;  /* NULL: no inputs dataset */
	hid_t inputs_type;
	int inputs_ndim;
	hsize_t inputs_dims[4];
	const char *targets_name; /* NULL: no targets dataset */
	hid_t targets_type;
	int targets_ndim;
	hsize_t targets_dims[2];
	const int64_t *labels;    /* target values, row-major; NULL: (7k + 3) % 10 */
	const float *inputs;      /* float input values; NULL: a fixed pattern */
	int num_classes;          /* > 0: written as the attribute */
	int n_mean, n_std;        /* > 0: norm_mean / norm_std attributes */
	float mean[4], std[4];
	int fletcher32;           /* 1: a checksum per chunk */
};

/* A valid shard: uint8 inputs [n, 4, 4] and int32 labels [n], both
 * (7k + 3) % 10 at flat index k, num_classes 10. */
static struct shard_spec good_spec(hsize_t n)
{
	struct shard_spec sp = {
		.inputs_name = "inputs",
		.inputs_type = H5T_STD_U8LE,
		.inputs_ndim = 3,
		.inputs_dims = {n, 4, 4},
		.targets_name = "targets",
		.targets_type = H5T_STD_I32LE,
		.targets_ndim = 1,
		.targets_dims = {n},
		.num_classes = 10,
	};
	return sp;
}

static hsize_t numel(int ndim, const hsize_t *dims)
{
	hsize_t n = 1;

	for (int d = 0; d < ndim; d++)
		n *= dims[d];
	return n;
}

/* One dataset chunked along N (16 rows; the first dimension unlimited so
 * that even 0 rows can be chunked). Integers are written from int64 values,
 * floats from floats, strings as text. */
static void write_dataset(hid_t file, const char *name, hid_t type, int ndim, const hsize_t *dims,
			  const int64_t *ints, const float *floats, int fletcher32)
{
	hsize_t maxdims[4], chunk[4], n = numel(ndim, dims);
	hid_t space, dcpl, dset;
	H5T_class_t cls = H5Tget_class(type);
	void *buf;
	hid_t mem_type;

	for (int d = 0; d < ndim; d++) {
		maxdims[d] = d == 0 ? H5S_UNLIMITED : dims[d];
		chunk[d] = d == 0 ? (dims[0] < 16 ? (dims[0] ? dims[0] : 1) : 16)
				  : (dims[d] ? dims[d] : 1);
	}
	space = ndim ? H5Screate_simple(ndim, dims, maxdims) : H5Screate(H5S_SCALAR);
	assert_true(space >= 0);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	if (ndim) {
		assert_true(H5Pset_chunk(dcpl, ndim, chunk) >= 0);
		if (fletcher32)
			assert_true(H5Pset_fletcher32(dcpl) >= 0);
	}
	dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	assert_true(dset >= 0);
	if (!ndim)
		n = 1;
	if (cls == H5T_INTEGER) {
		int64_t *v = malloc(sizeof(int64_t) * (n ? n : 1));

		for (hsize_t k = 0; k < n; k++)
			v[k] = ints ? ints[k] : (int64_t)((k * 7 + 3) % 10);
		buf = v;
		mem_type = H5Tcopy(H5T_NATIVE_INT64);
	} else if (cls == H5T_FLOAT) {
		float *v = malloc(sizeof(float) * (n ? n : 1));

		for (hsize_t k = 0; k < n; k++)
			v[k] = floats ? floats[k] : (float)(k % 251) / 8.0f;
		buf = v;
		mem_type = H5Tcopy(H5T_NATIVE_FLOAT);
	} else {
		size_t size = H5Tget_size(type);
		char *v = malloc(size * (n ? n : 1));

		for (hsize_t k = 0; k < n * size; k++)
			v[k] = "text"[k % 4];
		buf = v;
		mem_type = H5Tcopy(type);
	}
	if (n)
		assert_true(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	free(buf);
	H5Tclose(mem_type);
	H5Dclose(dset);
	H5Pclose(dcpl);
	H5Sclose(space);
}

static void write_attr(hid_t file, const char *name, hid_t file_type, hid_t mem_type, hsize_t n,
		       const void *values)
{
	hid_t space = H5Screate_simple(1, &n, NULL);
	hid_t attr = H5Acreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);

	assert_true(attr >= 0);
	assert_true(H5Awrite(attr, mem_type, values) >= 0);
	H5Aclose(attr);
	H5Sclose(space);
}

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void write_shard(const char *dir, const char *name, const struct shard_spec *sp)
{
	char path[512];
	hid_t file;

	path_in(path, sizeof(path), dir, name);
	file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(file >= 0);
	if (sp->inputs_name)
		write_dataset(file, sp->inputs_name, sp->inputs_type, sp->inputs_ndim, sp->inputs_dims,
			      NULL, sp->inputs, sp->fletcher32);
	if (sp->targets_name)
		write_dataset(file, sp->targets_name, sp->targets_type, sp->targets_ndim,
			      sp->targets_dims, sp->labels, NULL, sp->fletcher32);
	if (sp->num_classes > 0) {
		/* A scalar, as h5py writes `attrs["num_classes"] = 10`. */
		hid_t space = H5Screate(H5S_SCALAR), attr;

		attr = H5Acreate2(file, "num_classes", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
		assert_true(attr >= 0);
		assert_true(H5Awrite(attr, H5T_NATIVE_INT, &sp->num_classes) >= 0);
		H5Aclose(attr);
		H5Sclose(space);
	}
	if (sp->n_mean > 0)
		write_attr(file, "norm_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)sp->n_mean,
			   sp->mean);
	if (sp->n_std > 0)
		write_attr(file, "norm_std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)sp->n_std,
			   sp->std);
	assert_true(H5Fclose(file) >= 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	path_in(path, sizeof(path), dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static off_t file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;

	path_in(path, sizeof(path), dir, name);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* ---- fixture: one fresh directory per test ---- */

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		path_in(path, sizeof(path), dir, e->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int setup_dir(void **state)
{
	char *dir = malloc(64);

	snprintf(dir, 64, "/tmp/axon-data-errors-XXXXXX");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

/* ---- assertions ---- */

static void expect_words(const char *what, const char *const *words)
{
	const char *msg = ax_last_error();

	for (int i = 0; words[i]; i++)
		if (!strstr(msg, words[i]))
			fail_msg("%s: message \"%s\" does not mention \"%s\"", what, msg, words[i]);
}

/* ax_dataset_open(dir) fails with `want` and a message holding every word. */
static void expect_open_error(const char *dir, enum ax_status want, const char *const *words)
{
	struct ax_dataset *ds = NULL;
	enum ax_status st;

	ax_clear_error();
	st = ax_dataset_open(dir, &ds);
	if (st != want)
		fail_msg("ax_dataset_open -> %s (\"%s\"), want %s", ax_status_name(st),
			 ax_last_error(), ax_status_name(want));
	assert_null(ds);
	expect_words("ax_dataset_open", words);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_OPEN_ERROR(dir, want, ...) expect_open_error((dir), (want), WORDS(__VA_ARGS__))

static struct ax_dataset *open_ok(const char *dir)
{
	struct ax_dataset *ds = NULL;

	TU_OK(ax_dataset_open(dir, &ds));
	return ds;
}

/* The good first shard most tests pair with a bad second one. */
static void write_good(const char *dir)
{
	struct shard_spec sp = good_spec(20);

	write_shard(dir, "s0-good.h5", &sp);
}

/* ---- the datasets ---- */

/* The helper itself writes datasets that open, with the values it claims:
 * otherwise every "error" below could be the helper's fault. */
static void test_good_dataset_opens(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	const struct ax_dataset_info *info;
	struct ax_dataset *ds;
	int64_t histogram[10];
	struct ax_data_stats stats;

	write_good(dir);
	write_shard(dir, "s1-good.h5", &sp);
	ds = open_ok(dir);
	info = ax_dataset_info(ds);
	assert_int_equal(info->num_samples, 40);
	assert_int_equal(info->num_shards, 2);
	assert_int_equal(info->sample_ndim, 2);
	assert_int_equal(info->sample_shape[0], 4);
	assert_int_equal(info->sample_shape[1], 4);
	assert_int_equal(info->input_dtype, AX_U8);
	assert_int_equal(info->target_kind, AX_TARGET_CLASS);
	assert_int_equal(info->num_classes, 10);
	TU_OK(ax_dataset_verify(ds, histogram, &stats));
	for (int c = 0; c < 10; c++)
		assert_int_equal(histogram[c], 4); /* labels (7k + 3) % 10 over 20 rows, twice */
	assert_true(stats.min == 0.0 && stats.max == 9.0);
	ax_dataset_close(ds);
}

/* Inputs stored under another name: the message lists what the file has. */
static void test_missing_inputs(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.inputs_name = "images";
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs'", "'images'", "'targets'");
}

static void test_missing_targets(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.targets_name = "labels";
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "no dataset 'targets'", "'labels'");
	/* Neither: the message says the file holds nothing. */
	sp.inputs_name = NULL;
	sp.targets_name = NULL;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs'", "nothing");
}

/* 'inputs' that is a group, not a dataset. */
static void test_inputs_is_a_group(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	char path[512];
	hid_t file, group;

	write_good(dir);
	sp.inputs_name = NULL;
	write_shard(dir, "s1-bad.h5", &sp);
	path_in(path, sizeof(path), dir, "s1-bad.h5");
	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(file >= 0);
	group = H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(group >= 0);
	H5Gclose(group);
	H5Fclose(file);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs' is not a dataset");
}

static void test_length_mismatch(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.targets_dims[0] = 19;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "20 inputs but 19 targets");
}

static void test_shape_differs_between_shards(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.inputs_dims[2] = 5;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "s0-good.h5", "shape [4, 5]",
			  "[4, 4]");
	/* A different number of sample dimensions is just as wrong. */
	sp = good_spec(20);
	sp.inputs_ndim = 2;
	sp.inputs_dims[1] = 16;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "shape [16]", "[4, 4]");
}

/* uint8 in one shard, float32 in the other. */
static void test_input_type_differs_between_shards(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.inputs_type = H5T_IEEE_F32LE;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "float inputs", "uint8");
}

static void test_wrong_input_dtype(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	hid_t str;

	write_good(dir);
	sp.inputs_type = H5T_STD_I32LE;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs' is int32", "uint8");
	/* int8 is not uint8 either (signed pixels are someone's bug). */
	sp.inputs_type = H5T_STD_I8LE;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs' is int8");
	/* Fixed-length strings. */
	str = H5Tcopy(H5T_C_S1);
	H5Tset_size(str, 8);
	sp.inputs_type = str;
	sp.inputs_ndim = 2;
	write_shard(dir, "s1-bad.h5", &sp);
	H5Tclose(str);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs' is string");
}

/* Inputs need a sample dimension: [N] or a scalar is not a dataset of samples. */
static void test_inputs_without_sample_dims(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.inputs_ndim = 1;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs' has shape [20]");
	sp.inputs_ndim = 0;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'inputs'", "scalar");
}

/* A sample dimension of size 0: there is nothing to learn from. */
static void test_zero_sized_sample(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	sp.inputs_dims[2] = 0;
	write_shard(dir, "s0-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s0-bad.h5", "'inputs'", "[4, 0]");
	/* Regression targets of width 0 likewise. */
	remove_tree(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	sp = good_spec(20);
	sp.num_classes = 0;
	sp.targets_type = H5T_IEEE_F32LE;
	sp.targets_ndim = 2;
	sp.targets_dims[1] = 0;
	write_shard(dir, "s0-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s0-bad.h5", "'targets'", "width 0");
}

static void test_wrong_target_type(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.targets_ndim = 2;
	sp.targets_dims[1] = 3;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "'targets' is int32 with 2 dimension",
			  "integer class labels [N]");
	/* Class labels in one shard, float targets in another. */
	sp = good_spec(20);
	sp.targets_type = H5T_IEEE_F32LE;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "regression targets", "class");
}

static void test_label_out_of_range(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	int64_t labels[20];

	write_good(dir);
	for (int i = 0; i < 20; i++)
		labels[i] = i % 10;
	labels[13] = 10; /* num_classes is 10 */
	sp.labels = labels;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "sample 13", "label 10",
			  "outside [0, 10)");
	labels[13] = 3;
	labels[7] = -1;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "sample 7", "label -1");
	/* Without a num_classes attribute negative labels are still wrong. */
	sp.num_classes = 0;
	write_shard(dir, "s1-bad.h5", &sp);
	{
		struct shard_spec first = good_spec(20);

		first.num_classes = 0;
		write_shard(dir, "s0-good.h5", &first);
	}
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "label -1");
}

/* int64 labels that do not fit in int32 must not wrap into valid ones, nor
 * make num_classes overflow when there is no attribute. */
static void test_label_too_large_for_int32(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	int64_t labels[20] = {0};

	sp.targets_type = H5T_STD_I64LE;
	sp.num_classes = 0;
	labels[5] = (int64_t)1 << 32; /* would read as 0 if truncated */
	sp.labels = labels;
	write_shard(dir, "s0-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s0-bad.h5", "sample 5", "label");
}

/* A num_classes attribute that is an array, or not a number. */
static void test_bad_num_classes_attribute(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	const int64_t two[2] = {10, 10};
	char path[512];
	hid_t file;

	sp.num_classes = 0;
	write_shard(dir, "s0-bad.h5", &sp);
	path_in(path, sizeof(path), dir, "s0-bad.h5");
	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(file >= 0);
	write_attr(file, "num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, two);
	H5Fclose(file);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s0-bad.h5", "num_classes", "2 values");
	/* num_classes = 0 */
	sp.num_classes = 0;
	write_shard(dir, "s0-bad.h5", &sp);
	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	write_attr(file, "num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &two[0]);
	H5Fclose(file);
	{
		struct ax_dataset *ds = open_ok(dir); /* a one-element array is fine */

		assert_int_equal(ax_dataset_info(ds)->num_classes, 10);
		ax_dataset_close(ds);
	}
}

static void test_empty_shard(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(0);

	write_good(dir);
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "empty", "0 samples");
}

static void test_truncated_file(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(200);
	char path[512];
	off_t size;

	write_good(dir);
	write_shard(dir, "s1-bad.h5", &sp);
	size = file_size(dir, "s1-bad.h5");
	path_in(path, sizeof(path), dir, "s1-bad.h5");
	assert_int_equal(truncate(path, size / 2), 0);
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, "s1-bad.h5", "truncated");
	/* Cut inside the superblock: not recognisable as HDF5 any more. */
	assert_int_equal(truncate(path, 6), 0);
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, "s1-bad.h5", "not an HDF5 file");
}

static void test_not_hdf5(void **state)
{
	const char *dir = *state;

	write_good(dir);
	write_text(dir, "s1-bad.h5", "inputs,targets\n1,2\n3,4\n");
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, "s1-bad.h5", "not an HDF5 file");
	write_text(dir, "s1-bad.h5", ""); /* zero bytes */
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, "s1-bad.h5", "not an HDF5 file");
}

static void test_empty_directory(void **state)
{
	const char *dir = *state;

	write_text(dir, "README.txt", "no shards here\n");
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, dir, "no shard files");
}

static void test_missing_directory(void **state)
{
	char path[512];

	path_in(path, sizeof(path), *state, "no-such-dataset");
	EXPECT_OPEN_ERROR(path, AX_ERR_IO, "no-such-dataset", "does not exist");
	/* A file where the directory should be. */
	write_text(*state, "plain-file", "x");
	path_in(path, sizeof(path), *state, "plain-file");
	EXPECT_OPEN_ERROR(path, AX_ERR_IO, "plain-file", "not a directory");
}

/* ---- manifest.json ---- */

static void write_manifest(const char *dir, int64_t count0, int64_t count1, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"format\": \"axon-dataset\", \"schema_version\": 1, %s\n"
		 " \"shards\": [{\"file\": \"s0-good.h5\", \"samples\": %lld},\n"
		 "              {\"file\": \"s1-good.h5\", \"samples\": %lld}]}\n",
		 extra ? extra : "", (long long)count0, (long long)count1);
	write_text(dir, "manifest.json", text);
}

static void test_manifest_count_mismatch(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	struct ax_dataset *ds;

	write_good(dir);
	write_shard(dir, "s1-good.h5", &sp);
	write_manifest(dir, 20, 20, NULL);
	ds = open_ok(dir); /* the control: a manifest that matches */
	assert_int_equal(ax_dataset_info(ds)->num_samples, 40);
	ax_dataset_close(ds);
	write_manifest(dir, 20, 21, NULL);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "s1-good.h5", "21 samples",
			  "the file has 20");
}

static void test_manifest_not_json(void **state)
{
	const char *dir = *state;

	write_good(dir);
	write_text(dir, "manifest.json", "{\"shards\": [{\"file\": \"s0-good.h5\", \"samples\": 20}");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "not valid JSON");
	write_text(dir, "manifest.json", "{\"format\": \"axon-dataset\"}");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "\"shards\"");
	write_text(dir, "manifest.json", "{\"shards\": [{\"file\": \"../s0-good.h5\", \"samples\": 20}]}");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "shard entry 0");
}

/* The manifest names a shard that is not there. */
static void test_manifest_missing_shard(void **state)
{
	const char *dir = *state;

	write_good(dir);
	write_manifest(dir, 20, 20, NULL);
	EXPECT_OPEN_ERROR(dir, AX_ERR_IO, "s1-good.h5", "missing");
}

/* Labels above the manifest's num_classes (the shards have no attribute). */
static void test_manifest_num_classes_too_small(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	sp.num_classes = 0;
	write_shard(dir, "s0-good.h5", &sp);
	write_shard(dir, "s1-good.h5", &sp);
	write_manifest(dir, 20, 20, "\"num_classes\": 5,");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "num_classes 5", "label 9");
}

/* Normalisation from the manifest is checked like the attributes: its
 * length must be 1 or the size of axis 1, and every std positive. A length
 * that matches neither would make the loader index past its per-channel
 * tables. */
static void test_manifest_bad_normalization(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	write_shard(dir, "s1-good.h5", &sp);
	write_manifest(dir, 20, 20, "\"normalization\": {\"mean\": [0.5], \"std\": [0.2, 0.3]},");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "same length");
	write_manifest(dir, 20, 20,
		       "\"normalization\": {\"mean\": [0.1, 0.2, 0.3], \"std\": [1, 1, 1]},");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "3 normalisation values",
			  "size 4");
	write_manifest(dir, 20, 20, "\"normalization\": {\"mean\": [0.5], \"std\": [0]},");
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "manifest.json", "std must be positive");
	/* The control: one value per axis-1 index is accepted and used. */
	write_manifest(dir, 20, 20,
		       "\"normalization\": {\"mean\": [0.1, 0.2, 0.3, 0.4], \"std\": [1, 2, 3, 4]},");
	{
		struct ax_dataset *ds = open_ok(dir);

		assert_int_equal(ax_dataset_info(ds)->num_norm, 4);
		assert_true(ax_dataset_info(ds)->norm_std[3] == 4.0f);
		ax_dataset_close(ds);
	}
}

/* ---- normalisation attributes ---- */

static void test_norm_length_mismatch(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);

	write_good(dir);
	sp.n_mean = 1;
	sp.mean[0] = 0.5f;
	sp.n_std = 2;
	sp.std[0] = sp.std[1] = 0.25f;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "norm_mean has 1 values",
			  "norm_std has 2");
	/* Only one of the two. */
	sp.n_std = 0;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "norm_mean has 1 values",
			  "norm_std has 0");
	/* Three values for an axis 1 of size 4. */
	sp.n_mean = sp.n_std = 3;
	for (int c = 0; c < 3; c++)
		sp.std[c] = 1.0f;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "3 normalisation values", "size 4");
	/* A zero std. */
	sp.n_mean = sp.n_std = 1;
	sp.std[0] = 0.0f;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "std must be positive");
	/* Statistics that differ between shards. */
	sp.std[0] = 0.5f;
	write_shard(dir, "s1-bad.h5", &sp);
	EXPECT_OPEN_ERROR(dir, AX_ERR_INVALID, "s1-bad.h5", "s0-good.h5", "normalisation");
}

/* ---- problems seen only when values are read ---- */

/* A float input that is NaN: ax_dataset_verify names the shard and sample. */
static void test_verify_non_finite_input(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	float values[20 * 16];
	struct ax_dataset *ds;

	for (int i = 0; i < 20 * 16; i++)
		values[i] = (float)i;
	values[11 * 16 + 5] = 0.0f / 0.0f;
	sp.inputs_type = H5T_IEEE_F32LE;
	sp.inputs = values;
	write_shard(dir, "s0-bad.h5", &sp);
	ds = open_ok(dir); /* metadata and labels are fine */
	ax_clear_error();
	assert_int_equal(ax_dataset_verify(ds, NULL, NULL), AX_ERR_INVALID);
	expect_words("ax_dataset_verify", WORDS("s0-bad.h5", "sample 11", "non-finite"));
	ax_dataset_close(ds);
}

/* Flip a byte in the raw data of the first 'inputs' chunk of a checksummed
 * shard: opening succeeds (it reads labels only), reading fails. */
static void corrupt_first_input_chunk(const char *dir, const char *name)
{
	char path[512];
	hid_t file, dset;
	hsize_t offset[3] = {0, 0, 0}, size;
	haddr_t addr;
	unsigned mask;
	int fd;
	unsigned char byte;

	path_in(path, sizeof(path), dir, name);
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(file >= 0);
	dset = H5Dopen2(file, "inputs", H5P_DEFAULT);
	assert_true(H5Dget_chunk_info_by_coord(dset, offset, &mask, &addr, &size) >= 0);
	assert_true(addr != HADDR_UNDEF && size > 10);
	H5Dclose(dset);
	H5Fclose(file);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)addr + 10), 1);
	byte ^= 0x5a;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)addr + 10), 1);
	close(fd);
}

static void test_corrupted_chunk(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	struct ax_loader_options lo = {.batch_size = 8, .max_epochs = 1,
				       .sampler = {.world = 1, .window_shards = 1}};
	struct ax_dataset *ds;
	struct ax_loader *loader;
	struct ax_batch batch;

	write_good(dir);
	sp.fletcher32 = 1;
	write_shard(dir, "s1-bad.h5", &sp);
	corrupt_first_input_chunk(dir, "s1-bad.h5");
	ds = open_ok(dir);
	ax_clear_error();
	assert_int_equal(ax_dataset_verify(ds, NULL, NULL), AX_ERR_IO);
	expect_words("ax_dataset_verify", WORDS("s1-bad.h5", "'inputs'", "damaged"));
	/* The loader's I/O thread meets it and hands it to ax_loader_next. With
	 * one shard per window in natural order, the good shard's 20 samples come
	 * first: two full batches of 8; the third needs the bad shard. */
	TU_OK(ax_loader_create(ds, &lo, NULL, &loader));
	{
		enum ax_status st = AX_OK;
		int good_batches = 0;

		while ((st = ax_loader_next(loader, &batch)) == AX_OK)
			good_batches++;
		assert_int_equal(st, AX_ERR_IO);
		assert_int_equal(good_batches, 2);
		expect_words("ax_loader_next", WORDS("s1-bad.h5", "'inputs'"));
		/* The error sticks; it does not hang or crash. */
		assert_int_equal(ax_loader_next(loader, &batch), AX_ERR_IO);
	}
	ax_loader_destroy(loader);
	ax_dataset_close(ds);
}

/* A shard replaced by garbage after the dataset was opened. */
static void test_shard_replaced_after_open(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(20);
	struct ax_loader_options lo = {.batch_size = 8, .sampler = {.world = 1, .shuffle = 1,
								   .seed = 3}};
	struct ax_dataset *ds;
	struct ax_loader *loader;
	struct ax_batch batch;
	enum ax_status st;

	write_good(dir);
	write_shard(dir, "s1-bad.h5", &sp);
	ds = open_ok(dir);
	write_text(dir, "s1-bad.h5", "gone\n");
	TU_OK(ax_loader_create(ds, &lo, NULL, &loader));
	ax_clear_error();
	for (int i = 0; i < 10 && (st = ax_loader_next(loader, &batch)) == AX_OK; i++)
		;
	assert_int_equal(st, AX_ERR_IO);
	expect_words("ax_loader_next", WORDS("s1-bad.h5", "cannot open shard"));
	ax_loader_destroy(loader);
	ax_clear_error();
	assert_int_equal(ax_dataset_verify(ds, NULL, NULL), AX_ERR_IO);
	expect_words("ax_dataset_verify", WORDS("s1-bad.h5"));
	ax_dataset_close(ds);
}

/* ---- options the dataset cannot satisfy ---- */

static void test_fewer_samples_than_ranks(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(3);
	struct ax_loader_options lo = {.batch_size = 1, .sampler = {.world = 4, .rank = 0}};
	struct ax_dataset *ds;
	struct ax_loader *loader = NULL;

	write_shard(dir, "s0-small.h5", &sp);
	ds = open_ok(dir);
	ax_clear_error();
	assert_int_equal(ax_loader_create(ds, &lo, NULL, &loader), AX_ERR_INVALID);
	assert_null(loader);
	expect_words("ax_loader_create", WORDS(dir, "3 samples", "4 ranks"));
	/* Three ranks are fine: one sample each. */
	lo.sampler.world = 3;
	lo.sampler.rank = 2;
	lo.max_epochs = 1;
	TU_OK(ax_loader_create(ds, &lo, NULL, &loader));
	{
		struct ax_batch batch;

		TU_OK(ax_loader_next(loader, &batch));
		assert_int_equal(batch.size, 1);
		assert_int_equal(batch.sample_ids[0], 2);
		assert_int_equal(ax_loader_next(loader, &batch), AX_ERR_RANGE);
	}
	ax_loader_destroy(loader);
	ax_dataset_close(ds);
}

static void test_batch_larger_than_rank_share(void **state)
{
	const char *dir = *state;
	struct shard_spec sp = good_spec(10);
	struct ax_loader_options lo = {.batch_size = 6, .drop_last = 1, .max_epochs = 1,
				       .sampler = {.world = 2, .rank = 1}};
	struct ax_dataset *ds;
	struct ax_loader *loader = NULL;
	struct ax_batch batch;

	write_shard(dir, "s0-small.h5", &sp);
	ds = open_ok(dir);
	ax_clear_error();
	assert_int_equal(ax_loader_create(ds, &lo, NULL, &loader), AX_ERR_INVALID);
	assert_null(loader);
	expect_words("ax_loader_create", WORDS(dir, "5 samples", "batch of 6"));
	/* Without drop_last the rank gets one short batch of its 5 samples. */
	lo.drop_last = 0;
	TU_OK(ax_loader_create(ds, &lo, NULL, &loader));
	TU_OK(ax_loader_next(loader, &batch));
	assert_int_equal(batch.size, 5);
	assert_true(batch.last_in_epoch);
	assert_int_equal(ax_loader_next(loader, &batch), AX_ERR_RANGE);
	ax_loader_destroy(loader);
	/* Other options are named when wrong. */
	lo.batch_size = 0;
	assert_int_equal(ax_loader_create(ds, &lo, NULL, &loader), AX_ERR_INVALID);
	expect_words("ax_loader_create", WORDS("batch_size"));
	lo.batch_size = 2;
	lo.sampler.rank = 2;
	assert_int_equal(ax_loader_create(ds, &lo, NULL, &loader), AX_ERR_INVALID);
	expect_words("ax_loader_create", WORDS("rank 2 of world 2"));
	ax_dataset_close(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)
		T(test_good_dataset_opens),
		T(test_missing_inputs),
		T(test_missing_targets),
		T(test_inputs_is_a_group),
		T(test_length_mismatch),
		T(test_shape_differs_between_shards),
		T(test_input_type_differs_between_shards),
		T(test_wrong_input_dtype),
		T(test_inputs_without_sample_dims),
		T(test_zero_sized_sample),
		T(test_wrong_target_type),
		T(test_label_out_of_range),
		T(test_label_too_large_for_int32),
		T(test_bad_num_classes_attribute),
		T(test_empty_shard),
		T(test_truncated_file),
		T(test_not_hdf5),
		T(test_empty_directory),
		T(test_missing_directory),
		T(test_manifest_count_mismatch),
		T(test_manifest_not_json),
		T(test_manifest_missing_shard),
		T(test_manifest_num_classes_too_small),
		T(test_manifest_bad_normalization),
		T(test_norm_length_mismatch),
		T(test_verify_non_finite_input),
		T(test_corrupted_chunk),
		T(test_shard_replaced_after_open),
		T(test_fewer_samples_than_ranks),
		T(test_batch_larger_than_rank_share),
#undef T
	};

	/* The test's own HDF5 calls are checked by assertions; keep HDF5 quiet. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
