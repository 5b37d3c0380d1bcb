/* test_data_convert_write.c - ax_data_write_split and ax_data_inspect.
 *
 * A split written from memory into a mkdtemp directory is read back with
 * the HDF5 C API (the shared helpers are in support/data_convert_fixture.h):
 * the default chunk rows, shard counts as even as possible, every row as
 * given. Inspect must report the samples, shards and classes and a class
 * with no samples; a label out of range is refused before anything is
 * written; and inspect fails, naming the shard, when a shard no longer
 * matches the manifest. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "axon/data_convert.h"

#include "data_convert_fixture.h"

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_write_split_and_inspect),
	};

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
