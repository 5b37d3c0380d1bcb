/* test_data_errors_files.c - shard files and dataset directories that cannot be read.
 *
 * An empty shard (0 samples), a shard truncated in its data or inside the
 * superblock, a shard that is not HDF5 (text, zero bytes), a directory with
 * no shard files, a missing directory and a plain file in its place: each
 * must make ax_dataset_open fail with the right status and a message that
 * names the offending file or directory and says what is wrong, never
 * crash. Shards are written with the HDF5 C API into a mkdtemp directory
 * (the shared helpers are in support/data_errors_fixture.h); where there is
 * a broken shard it is the second of two ("s1-bad.h5" after "s0-good.h5"),
 * so a message that names the wrong file fails. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "axon/data.h"

#include "data_errors_fixture.h"

/* ---- shard files and directories ---- */

static off_t file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;

	path_in(path, sizeof(path), dir, name);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)
		T(test_empty_shard),
		T(test_truncated_file),
		T(test_not_hdf5),
		T(test_empty_directory),
		T(test_missing_directory),
#undef T
	};

	/* The test's own HDF5 calls are checked by assertions; keep HDF5 quiet. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
