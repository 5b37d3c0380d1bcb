/* test_data_errors_metadata.c - a bad manifest.json or normalisation gets a clear error.
 *
 * Next to good shards each test writes a manifest.json that disagrees with
 * them or with the format spec (docs/data-format.md) - a sample count, text
 * that is not JSON, no "shards", a path outside the directory, a shard that
 * is not there, a num_classes below the labels, normalisation of the wrong
 * length or with a zero std - or norm_mean / norm_std attributes that
 * disagree with each other, with the sample shape or between shards, and
 * checks the status code and that ax_last_error() names the file and the
 * problem. A matching manifest, and per-channel normalisation in it, are
 * checked to open as controls. Shards are written with the HDF5 C API into
 * a mkdtemp directory (the shared helpers are in
 * support/data_errors_fixture.h). */
#include "testutil.h"

#include <stdio.h>

#include <hdf5.h>

#include "axon/data.h"

#include "data_errors_fixture.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)
		T(test_manifest_count_mismatch),
		T(test_manifest_not_json),
		T(test_manifest_missing_shard),
		T(test_manifest_num_classes_too_small),
		T(test_manifest_bad_normalization),
		T(test_norm_length_mismatch),
#undef T
	};

	/* The test's own HDF5 calls are checked by assertions; keep HDF5 quiet. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
