/* data_errors_fixture.h - what the test_data_errors* programs share.
 *
 * write_shard writes one small shard with the HDF5 C API from a shard_spec
 * that a test then breaks; good_spec(n) is a valid one (uint8 inputs
 * [n, 4, 4], int32 labels [n], num_classes 10), and write_good writes the
 * good first shard "s0-good.h5" that most tests pair with a bad second one.
 * setup_dir / teardown_dir give each test a fresh mkdtemp directory in
 * *state. EXPECT_OPEN_ERROR(dir, status, words...) checks that
 * ax_dataset_open fails with that status and a message holding every word;
 * expect_words checks ax_last_error() after any other call. The functions
 * are static and marked unused: a program that needs only some still
 * builds. */
#ifndef AXON_TEST_DATA_ERRORS_FIXTURE_H
#define AXON_TEST_DATA_ERRORS_FIXTURE_H

#include "testutil.h"

#include <dirent.h>
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
__attribute__((unused))
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

__attribute__((unused))
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
__attribute__((unused))
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

__attribute__((unused))
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

__attribute__((unused))
static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

__attribute__((unused))
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

__attribute__((unused))
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

/* ---- fixture: one fresh directory per test ---- */

__attribute__((unused))
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

__attribute__((unused))
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

__attribute__((unused))
static int teardown_dir(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

/* ---- assertions ---- */

__attribute__((unused))
static void expect_words(const char *what, const char *const *words)
{
	const char *msg = ax_last_error();

	for (int i = 0; words[i]; i++)
		if (!strstr(msg, words[i]))
			fail_msg("%s: message \"%s\" does not mention \"%s\"", what, msg, words[i]);
}

/* ax_dataset_open(dir) fails with `want` and a message holding every word. */
__attribute__((unused))
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

__attribute__((unused))
static struct ax_dataset *open_ok(const char *dir)
{
	struct ax_dataset *ds = NULL;

	TU_OK(ax_dataset_open(dir, &ds));
	return ds;
}

/* The good first shard most tests pair with a bad second one. */
__attribute__((unused))
static void write_good(const char *dir)
{
	struct shard_spec sp = good_spec(20);

	write_shard(dir, "s0-good.h5", &sp);
}

#endif
