/* test_data_errors.c - a shard whose datasets break the format gets a clear error.
 *
 * Each test writes a small dataset directory with the HDF5 C API (in a
 * mkdtemp directory; the shared helpers are in support/data_errors_fixture.h),
 * breaks one thing the format spec (docs/data-format.md) forbids inside a
 * shard - a misnamed or missing dataset, 'inputs' that is a group, lengths
 * or shapes that disagree, a wrong element type, inputs without sample
 * dimensions or with one of size 0, a label outside its range or too large
 * for int32, a bad num_classes attribute - and checks the status code and
 * that ax_last_error() names the offending file and the problem. The broken
 * shard is usually the second of two ("s1-bad.h5" after "s0-good.h5"), so a
 * message that names the wrong file fails. Files that are not shards at all
 * are checked in test_data_errors_files.c, the manifest and normalisation in
 * test_data_errors_metadata.c, problems seen only when values are read and
 * loader options in test_data_errors_loading.c. */
#include "testutil.h"

#include <sys/stat.h>

#include <hdf5.h>

#include "axon/data.h"

#include "data_errors_fixture.h"

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
#undef T
	};

	/* The test's own HDF5 calls are checked by assertions; keep HDF5 quiet. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
