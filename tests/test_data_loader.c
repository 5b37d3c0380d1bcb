/* test_data_loader.c - the sampler and the prefetching loader on real HDF5 shards.
 *
 * Shards of uneven size are written with the HDF5 C API; every sample's bytes
 * encode its global id, so each delivered batch can be checked value by value.
 * For 1, 2, 3 and 4 ranks (simulated as separate loaders in one process, as
 * the ranks of a job would run them): every sample is seen exactly once per
 * epoch across ranks, ranks get equal shares, the same seed gives the same
 * order, epochs differ, and a run resumed from a mid-epoch cursor yields
 * exactly the batches the uninterrupted run would have - also on a different
 * number of ranks, where the remaining samples are exactly the rest of the
 * epoch's order. */
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/data.h"

enum { H = 4, W = 5, CLASSES = 10, NUM_SHARDS = 5 };
static const int64_t shard_counts[NUM_SHARDS] = {37, 50, 13, 64, 29}; /* N = 193 */
#define N_TOTAL 193
static const float MEAN = 0.5f, STD = 0.25f;

static char dir[64];

static uint8_t pixel(int64_t id, int64_t e)
{
	return (uint8_t)((id * 7 + e * 3) % 256);
}

static void write_shard(const char *path, int64_t first_id, int64_t n)
{
	hsize_t in_dims[3] = {(hsize_t)n, H, W}, tg_dims[1] = {(hsize_t)n}, one = 1;
	hsize_t chunk[3] = {n < 16 ? (hsize_t)n : 16, H, W};
	uint8_t *inputs = malloc((size_t)(n * H * W));
	int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
	hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t space, dset, dcpl, attr;
	int classes = CLASSES;

	assert_true(file >= 0);
	for (int64_t i = 0; i < n; i++) {
		labels[i] = (int32_t)((first_id + i) % CLASSES);
		for (int64_t e = 0; e < H * W; e++)
			inputs[i * H * W + e] = pixel(first_id + i, e);
	}
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(dcpl, 3, chunk);
	space = H5Screate_simple(3, in_dims, NULL);
	dset = H5Dcreate2(file, "inputs", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	assert_true(H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, inputs) >= 0);
	H5Dclose(dset);
	H5Sclose(space);
	H5Pclose(dcpl);
	space = H5Screate_simple(1, tg_dims, NULL);
	dset = H5Dcreate2(file, "targets", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT,
			  H5P_DEFAULT);
	assert_true(H5Dwrite(dset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0);
	H5Dclose(dset);
	H5Sclose(space);
	space = H5Screate(H5S_SCALAR);
	attr = H5Acreate2(file, "num_classes", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(attr, H5T_NATIVE_INT, &classes);
	H5Aclose(attr);
	H5Sclose(space);
	space = H5Screate_simple(1, &one, NULL);
	attr = H5Acreate2(file, "norm_mean", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(attr, H5T_NATIVE_FLOAT, &MEAN);
	H5Aclose(attr);
	attr = H5Acreate2(file, "norm_std", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(attr, H5T_NATIVE_FLOAT, &STD);
	H5Aclose(attr);
	H5Sclose(space);
	H5Fclose(file);
	free(inputs);
	free(labels);
}

static int setup(void **state)
{
	int64_t first = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-loader-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	for (int s = 0; s < NUM_SHARDS; s++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/part-%02d.h5", dir, s);
		write_shard(path, first, shard_counts[s]);
		first += shard_counts[s];
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ax_loader_options options(int rank, int world, int window, uint64_t seed)
{
	struct ax_loader_options o;

	memset(&o, 0, sizeof(o));
	o.batch_size = 8;
	o.sampler.seed = seed;
	o.sampler.rank = rank;
	o.sampler.world = world;
	o.sampler.shuffle = 1;
	o.sampler.window_shards = window;
	o.sampler.drop_remainder = 1;
	o.normalize = 1;
	o.drop_last = 0;
	o.max_epochs = 1;
	return o;
}

/* Check a batch's values against the id encoding (no augmentation). */
static void check_batch_values(const struct ax_batch *b)
{
	for (int64_t i = 0; i < b->size; i++) {
		int64_t id = b->sample_ids[i];

		assert_true(id >= 0 && id < N_TOTAL);
		assert_int_equal(b->labels[i], id % CLASSES);
		for (int64_t e = 0; e < H * W; e++) {
			float want = ((float)pixel(id, e) / 255.0f - MEAN) / STD;

			if (fabsf(b->inputs[i * H * W + e] - want) > 1e-5f)
				fail_msg("sample %lld element %lld is %g, expected %g", (long long)id,
					 (long long)e, b->inputs[i * H * W + e], want);
		}
	}
}

/* All ids one rank gets until the loader ends; returns the count. */
static int64_t drain(struct ax_loader *l, int64_t *ids, int check_values)
{
	struct ax_batch b;
	int64_t n = 0;
	enum ax_status st;
	int saw_last = 0;

	while ((st = ax_loader_next(l, &b)) == AX_OK) {
		assert_false(saw_last && b.epoch == 0);
		if (check_values)
			check_batch_values(&b);
		memcpy(ids + n, b.sample_ids, sizeof(int64_t) * (size_t)b.size);
		n += b.size;
		saw_last |= b.last_in_epoch;
	}
	assert_int_equal(st, AX_ERR_RANGE);
	assert_true(saw_last);
	return n;
}

static void test_epoch_split_over_ranks(void **state)
{
	struct ax_dataset *ds;
	const int windows[] = {0, 2, 1};

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	assert_int_equal(ax_dataset_info(ds)->num_samples, N_TOTAL);
	for (size_t wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++) {
		for (int world = 1; world <= 4; world++) {
			int seen[N_TOTAL] = {0};
			int64_t ids[N_TOTAL], total = 0;

			for (int rank = 0; rank < world; rank++) {
				struct ax_loader_options o = options(rank, world, windows[wi], 42);
				struct ax_loader *l;
				int64_t n;

				TU_OK(ax_loader_create(ds, &o, NULL, &l));
				n = drain(l, ids, 1);
				ax_loader_destroy(l);
				/* Equal shares: the remainder N mod world is dropped. */
				assert_int_equal(n, N_TOTAL / world);
				for (int64_t i = 0; i < n; i++)
					seen[ids[i]]++;
				total += n;
			}
			for (int i = 0; i < N_TOTAL; i++)
				if (seen[i] > 1)
					fail_msg("window %d, %d ranks: sample %d seen %d times", windows[wi],
						 world, i, seen[i]);
			assert_int_equal(total, N_TOTAL - N_TOTAL % world);
		}
	}
	ax_dataset_close(ds);
}

/* One rank's order for `epochs` epochs. */
static void order_of(struct ax_dataset *ds, uint64_t seed, int window, int epochs, int64_t *ids)
{
	struct ax_loader_options o = options(0, 1, window, seed);
	struct ax_loader *l;

	o.max_epochs = epochs;
	TU_OK(ax_loader_create(ds, &o, NULL, &l));
	assert_int_equal(drain(l, ids, 0), (int64_t)N_TOTAL * epochs);
	ax_loader_destroy(l);
}

static void test_order_is_deterministic_and_mixed(void **state)
{
	struct ax_dataset *ds;
	int64_t a[2 * N_TOTAL], b[2 * N_TOTAL], c[2 * N_TOTAL];
	int shards_in_first_batch = 0, hit[NUM_SHARDS] = {0};

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	order_of(ds, 7, 0, 2, a);
	order_of(ds, 7, 0, 2, b);
	order_of(ds, 8, 0, 2, c);
	assert_memory_equal(a, b, sizeof(a));                      /* same seed, same order */
	assert_memory_not_equal(a, c, sizeof(int64_t) * N_TOTAL);  /* another seed differs */
	assert_memory_not_equal(a, a + N_TOTAL, sizeof(int64_t) * N_TOTAL); /* epochs differ */
	/* Shuffled across shards: the first batch draws from several of them. */
	for (int i = 0; i < 8; i++) {
		int64_t id = a[i], s = 0, first = 0;

		while (id >= first + shard_counts[s])
			first += shard_counts[s++];
		hit[s] = 1;
	}
	for (int s = 0; s < NUM_SHARDS; s++)
		shards_in_first_batch += hit[s];
	assert_true(shards_in_first_batch >= 3);
	/* And it is a permutation of the whole dataset. */
	{
		int seen[N_TOTAL] = {0};

		for (int i = 0; i < N_TOTAL; i++)
			seen[a[i]]++;
		for (int i = 0; i < N_TOTAL; i++)
			assert_int_equal(seen[i], 1);
	}
	ax_dataset_close(ds);
}

struct recorded {
	int64_t n;
	int64_t ids[4 * N_TOTAL];
	float *inputs;
};

static void record_batches(struct ax_loader *l, struct recorded *r, int max_batches)
{
	struct ax_batch b;

	for (int k = 0; max_batches < 0 || k < max_batches; k++) {
		enum ax_status st = ax_loader_next(l, &b);

		if (st == AX_ERR_RANGE)
			return;
		TU_OK(st);
		memcpy(r->ids + r->n, b.sample_ids, sizeof(int64_t) * (size_t)b.size);
		memcpy(r->inputs + r->n * H * W, b.inputs, sizeof(float) * (size_t)(b.size * H * W));
		r->n += b.size;
	}
}

/* Three ranks stop after 5 batches, save their cursors, and resume: each
 * rank's full sequence (ids and augmented values) equals the uninterrupted one. */
static void test_resume_mid_epoch_is_exact(void **state)
{
	enum { WORLD = 3 };
	struct ax_dataset *ds;
	static struct recorded whole[WORLD], parts[WORLD];
	struct ax_data_cursor cursors[WORLD];

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	for (int rank = 0; rank < WORLD; rank++) {
		struct ax_loader_options o = options(rank, WORLD, 2, 99);
		struct ax_loader *l;

		o.max_epochs = 3;
		o.drop_last = 1;
		o.augment.crop_padding = 1;
		o.augment.hflip = 1;
		whole[rank].n = parts[rank].n = 0;
		whole[rank].inputs = test_malloc(sizeof(float) * 4 * N_TOTAL * H * W);
		parts[rank].inputs = test_malloc(sizeof(float) * 4 * N_TOTAL * H * W);
		TU_OK(ax_loader_create(ds, &o, NULL, &l));
		record_batches(l, &whole[rank], -1);
		ax_loader_destroy(l);

		TU_OK(ax_loader_create(ds, &o, NULL, &l));
		record_batches(l, &parts[rank], 5);
		ax_loader_cursor(l, &cursors[rank]);
		ax_loader_destroy(l);
		TU_OK(ax_loader_create(ds, &o, &cursors[rank], &l));
		record_batches(l, &parts[rank], -1);
		ax_loader_destroy(l);
	}
	/* The cursor is world-independent: all ranks saved the same one. */
	assert_int_equal(cursors[0].epoch, 0);
	assert_int_equal(cursors[0].position, 5 * 8 * WORLD);
	for (int rank = 1; rank < WORLD; rank++)
		assert_memory_equal(&cursors[rank], &cursors[0], sizeof(cursors[0]));
	for (int rank = 0; rank < WORLD; rank++) {
		assert_int_equal(parts[rank].n, whole[rank].n);
		assert_memory_equal(parts[rank].ids, whole[rank].ids,
				    sizeof(int64_t) * (size_t)whole[rank].n);
		assert_memory_equal(parts[rank].inputs, whole[rank].inputs,
				    sizeof(float) * (size_t)(whole[rank].n * H * W));
		test_free(whole[rank].inputs);
		test_free(parts[rank].inputs);
	}
	ax_dataset_close(ds);
}

/* Saved on 2 ranks, resumed on 3: the rest of the epoch is exactly the rest
 * of the global order, split three ways (its last (N - P) mod 3 dropped). */
static void test_resume_on_another_world_size(void **state)
{
	struct ax_dataset *ds;
	struct ax_sampler *sampler;
	struct ax_sampler_options so = {5, 0, 1, 1, 2, 1};
	struct ax_data_cursor cursor;
	int64_t order[N_TOTAL], ids[N_TOTAL];
	int seen[N_TOTAL] = {0};
	int64_t position, limit, total = 0;

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	for (int rank = 0; rank < 2; rank++) {
		struct ax_loader_options o = options(rank, 2, 2, 5);
		struct ax_loader *l;
		struct ax_batch b;

		TU_OK(ax_loader_create(ds, &o, NULL, &l));
		for (int k = 0; k < 4; k++)
			TU_OK(ax_loader_next(l, &b));
		ax_loader_cursor(l, &cursor);
		ax_loader_destroy(l);
	}
	position = cursor.position;
	assert_int_equal(position, 4 * 8 * 2);
	for (int rank = 0; rank < 3; rank++) {
		struct ax_loader_options o = options(rank, 3, 2, 5);
		struct ax_loader *l;
		int64_t n;

		TU_OK(ax_loader_create(ds, &o, &cursor, &l));
		n = drain(l, ids, 1);
		for (int64_t i = 0; i < n; i++)
			seen[ids[i]]++;
		total += n;
		ax_loader_destroy(l);
	}
	TU_OK(ax_sampler_create(ds, &so, &sampler));
	TU_OK(ax_sampler_epoch(sampler, 0, order));
	limit = position + (N_TOTAL - position) / 3 * 3;
	assert_int_equal(total, limit - position);
	for (int64_t p = position; p < limit; p++)
		assert_int_equal(seen[order[p]], 1);
	ax_sampler_destroy(sampler);
	ax_dataset_close(ds);
}

/* Flip and crop move pixels; the same (seed, epoch, sample) always moves them
 * the same way. */
static void test_augmentation(void **state)
{
	struct ax_dataset *ds;
	struct ax_loader_options o = options(0, 1, 0, 3);
	struct ax_loader *l;
	struct ax_batch b;
	int flipped = 0, plain = 0;

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	o.augment.hflip = 1;
	o.normalize = 0;
	TU_OK(ax_loader_create(ds, &o, NULL, &l));
	while (ax_loader_next(l, &b) == AX_OK) {
		for (int64_t i = 0; i < b.size; i++) {
			const float *x = b.inputs + i * H * W;
			int64_t id = b.sample_ids[i];
			int is_plain = 1, is_flipped = 1;

			for (int y = 0; y < H; y++)
				for (int c = 0; c < W; c++) {
					float v = x[y * W + c] * 255.0f;

					is_plain &= fabsf(v - pixel(id, y * W + c)) < 1e-3f;
					is_flipped &= fabsf(v - pixel(id, y * W + (W - 1 - c))) < 1e-3f;
				}
			assert_true(is_plain || is_flipped);
			plain += is_plain;
			flipped += is_flipped;
		}
	}
	ax_loader_destroy(l);
	/* About half of 193 flipped. */
	assert_true(flipped > 60 && plain > 60);
	/* Crop with padding 2: every value is a pixel of the sample or padding 0. */
	o.augment.hflip = 0;
	o.augment.crop_padding = 2;
	TU_OK(ax_loader_create(ds, &o, NULL, &l));
	TU_OK(ax_loader_next(l, &b));
	{
		int zeros = 0;

		for (int64_t i = 0; i < b.size * H * W; i++)
			zeros += b.inputs[i] == 0.0f;
		assert_true(zeros > 0); /* some crops shifted padding in */
	}
	ax_loader_destroy(l);
	ax_dataset_close(ds);
}

static void test_sampler_rejects_bad_ranks(void **state)
{
	struct ax_dataset *ds;
	struct ax_sampler *s = NULL;
	struct ax_sampler_options so = {1, 3, 3, 1, 1, 1};

	(void)state;
	TU_OK(ax_dataset_open(dir, &ds));
	assert_int_equal(ax_sampler_create(ds, &so, &s), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "rank 3 of world 3"));
	so.rank = 0;
	so.world = N_TOTAL + 1;
	assert_int_equal(ax_sampler_create(ds, &so, &s), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "fewer than"));
	ax_dataset_close(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_split_over_ranks),
		cmocka_unit_test(test_order_is_deterministic_and_mixed),
		cmocka_unit_test(test_resume_mid_epoch_is_exact),
		cmocka_unit_test(test_resume_on_another_world_size),
		cmocka_unit_test(test_augmentation),
		cmocka_unit_test(test_sampler_rejects_bad_ranks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
