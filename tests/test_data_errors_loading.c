/* test_data_errors_loading.c - errors seen only when reading, and impossible loader options.
 *
 * Some damage passes ax_dataset_open, which reads metadata and labels only:
 * a non-finite float input, a corrupted chunk of a checksummed shard, a
 * shard replaced by garbage after opening. ax_dataset_verify must report
 * each, naming the shard (and the sample), and the loader's I/O thread must
 * hand the error to ax_loader_next, which keeps returning it rather than
 * hanging or crashing. Loader options the dataset cannot satisfy - fewer
 * samples than ranks, a batch larger than a rank's share with drop_last, a
 * zero batch size, a rank outside the world - must fail ax_loader_create
 * with a message that names them, while the nearest valid settings work.
 * Shards are written with the HDF5 C API into a mkdtemp directory (the
 * shared helpers are in support/data_errors_fixture.h). */
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

#include <hdf5.h>

#include "axon/data.h"

#include "data_errors_fixture.h"

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
