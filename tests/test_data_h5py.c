/* test_data_h5py.c - datasets written by h5py load, and load the same samples.
 *
 * People write datasets with h5py, not with axon's converter. This test runs
 * tests/fixtures/write_h5py_dataset.py (with /usr/bin/python3, which has
 * Debian's h5py and NumPy) into a temporary directory. The script writes one
 * set of samples twice: as `axon data convert` lays it out (uint8 inputs in
 * 64-row chunks, int32 labels, float32 statistics, 2 shards, a manifest) and
 * the way h5py does by default (17-row chunks, gzip + shuffle, int64 labels,
 * float64 statistics, 3 uneven shards, no manifest), plus a regression set
 * (float32 features, float64 targets [N, 3]) and the raw reference values.
 * The test checks that both layouts open with the same schema, that loading
 * them in natural order gives bit-identical batches equal to the reference
 * values, normalised, and that shuffled epochs with one seed hold the same
 * samples. Without h5py the test reports SKIPPED (exit code 77), never a
 * pass. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "axon/data.h"

extern char **environ;

#define PYTHON "/usr/bin/python3"
#define SKIP_CODE 77

/* The reference values the script wrote (OUT/ref). */
struct reference {
	int64_t n, n_reg;
	uint8_t *images;     /* (n, 28, 28) */
	int32_t *labels;     /* (n) */
	double norm[2];      /* mean, std of images / 255 */
	float *reg_inputs;   /* (n_reg, 5) */
	double *reg_targets; /* (n_reg, 3) */
	double reg_norm[10]; /* 5 means, 5 stds */
};

static char work_dir[64];
static struct reference ref;

/* ---- running the script ---- */

static int run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void script_path(char *buf, size_t len)
{
	const char *slash = strrchr(__FILE__, '/');
	int dir_len = slash ? (int)(slash - __FILE__) : 1;

	snprintf(buf, len, "%.*s/fixtures/write_h5py_dataset.py", dir_len, slash ? __FILE__ : ".");
}

/* ---- files ---- */

static void *slurp(const char *sub, const char *name, size_t want)
{
	char path[256];
	FILE *f;
	void *buf = malloc(want ? want : 1);
	size_t got;

	snprintf(path, sizeof(path), "%s/%s/%s", work_dir, sub, name);
	f = fopen(path, "rb");
	if (!f || !buf)
		fail_msg("cannot read %s", path);
	got = fread(buf, 1, want, f);
	fclose(f);
	if (got != want)
		fail_msg("%s has %zu bytes, want %zu", path, got, want);
	return buf;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int load_reference(void **state)
{
	char path[256];
	FILE *f;
	long long n = 0, n_reg = 0;
	double *norm, *reg_norm;

	(void)state;
	snprintf(path, sizeof(path), "%s/ref/counts.txt", work_dir);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%lld %lld", &n, &n_reg) != 2)
		return -1;
	fclose(f);
	ref.n = n;
	ref.n_reg = n_reg;
	ref.images = slurp("ref", "images.u8", (size_t)n * 28 * 28);
	ref.labels = slurp("ref", "labels.i32", (size_t)n * 4);
	norm = slurp("ref", "norm.f64", 2 * sizeof(double));
	memcpy(ref.norm, norm, sizeof(ref.norm));
	free(norm);
	ref.reg_inputs = slurp("ref", "reg_inputs.f32", (size_t)n_reg * 5 * sizeof(float));
	ref.reg_targets = slurp("ref", "reg_targets.f64", (size_t)n_reg * 3 * sizeof(double));
	reg_norm = slurp("ref", "reg_norm.f64", 10 * sizeof(double));
	memcpy(ref.reg_norm, reg_norm, sizeof(ref.reg_norm));
	free(reg_norm);
	return 0;
}

static int free_reference(void **state)
{
	(void)state;
	free(ref.images);
	free(ref.labels);
	free(ref.reg_inputs);
	free(ref.reg_targets);
	return 0;
}

static struct ax_dataset *open_sub(const char *sub)
{
	char path[256];
	struct ax_dataset *ds = NULL;

	snprintf(path, sizeof(path), "%s/%s", work_dir, sub);
	TU_OK(ax_dataset_open(path, &ds));
	return ds;
}

/* ---- loading ---- */

/* Everything a loader delivered, in order. */
struct delivered {
	int64_t count;
	int64_t *ids;
	int64_t *epochs;
	int32_t *labels;
	float *inputs;  /* (count, numel) */
	float *targets; /* (count, target_dim) for regression */
};

static void delivered_free(struct delivered *d)
{
	free(d->ids);
	free(d->epochs);
	free(d->labels);
	free(d->inputs);
	free(d->targets);
}

static struct delivered load(struct ax_dataset *ds, int64_t batch_size, int shuffle, uint64_t seed,
			     int window_shards, int64_t epochs, int normalize)
{
	const struct ax_dataset_info *info = ax_dataset_info(ds);
	struct ax_loader_options lo = {
		.batch_size = batch_size,
		.sampler = {.seed = seed, .world = 1, .shuffle = shuffle,
			    .window_shards = window_shards},
		.normalize = normalize,
		.max_epochs = epochs,
	};
	int64_t total = info->num_samples * epochs, numel = info->sample_numel;
	struct delivered d = {
		.ids = malloc(sizeof(int64_t) * (size_t)total),
		.epochs = malloc(sizeof(int64_t) * (size_t)total),
		.labels = malloc(sizeof(int32_t) * (size_t)total),
		.inputs = malloc(sizeof(float) * (size_t)(total * numel)),
		.targets = malloc(sizeof(float) * (size_t)(total * info->target_dim)),
	};
	struct ax_loader *loader;
	struct ax_batch b;
	enum ax_status st;

	TU_OK(ax_loader_create(ds, &lo, NULL, &loader));
	while ((st = ax_loader_next(loader, &b)) == AX_OK) {
		assert_true(d.count + b.size <= total);
		assert_true(b.size == batch_size || b.last_in_epoch);
		for (int64_t i = 0; i < b.size; i++) {
			d.ids[d.count + i] = b.sample_ids[i];
			d.epochs[d.count + i] = b.epoch;
		}
		memcpy(d.inputs + d.count * numel, b.inputs, sizeof(float) * (size_t)(b.size * numel));
		if (b.labels) {
			assert_null(b.targets);
			memcpy(d.labels + d.count, b.labels, sizeof(int32_t) * (size_t)b.size);
		} else {
			assert_non_null(b.targets);
			memcpy(d.targets + d.count * info->target_dim, b.targets,
			       sizeof(float) * (size_t)(b.size * info->target_dim));
		}
		d.count += b.size;
	}
	assert_int_equal(st, AX_ERR_RANGE); /* the end after max_epochs, nothing else */
	assert_int_equal(d.count, total);
	ax_loader_destroy(loader);
	return d;
}

/* Sample `id` of the classification reference as the loader should deliver it. */
static void expected_image(int64_t id, float mean, float std, float *out)
{
	/* The loader folds normalisation into one multiply-add per element:
	 * x' = raw * (1/255/std) + (-mean/std), in float. */
	float scale = (1.0f / 255.0f) / std, shift = -mean / std;

	for (int e = 0; e < 28 * 28; e++)
		out[e] = (float)ref.images[id * 28 * 28 + e] * scale + shift;
}

/* Every delivered sample equals the reference sample its id names, and each
 * epoch holds every id exactly once. */
static void check_against_reference(const struct delivered *d, const struct ax_dataset_info *info,
				    int64_t epochs)
{
	int64_t n = info->num_samples;
	int64_t *seen = calloc((size_t)(n * epochs), sizeof(int64_t));
	float want[28 * 28];

	for (int64_t k = 0; k < d->count; k++) {
		int64_t id = d->ids[k], e = d->epochs[k];

		assert_true(id >= 0 && id < n);
		assert_true(e >= 0 && e < epochs);
		assert_int_equal(e, k / n); /* epochs come whole and in order */
		seen[e * n + id]++;
		assert_int_equal(d->labels[k], ref.labels[id]);
		expected_image(id, info->norm_mean[0], info->norm_std[0], want);
		tu_assert_close(d->inputs + k * 28 * 28, want, 28 * 28, 1e-6, 1e-6, "sample");
	}
	for (int64_t i = 0; i < n * epochs; i++)
		if (seen[i] != 1)
			fail_msg("epoch %lld: sample %lld delivered %lld times", (long long)(i / n),
				 (long long)(i % n), (long long)seen[i]);
	free(seen);
}

/* ---- the tests ---- */

/* Both layouts open with the same schema, taken from the attributes (int32
 * vs int64 num_classes, float32 vs float64 statistics), and verify clean. */
static void test_same_info(void **state)
{
	struct ax_dataset *a = open_sub("a"), *b = open_sub("b");
	const struct ax_dataset_info *ia = ax_dataset_info(a), *ib = ax_dataset_info(b);
	int64_t hist_a[10], hist_b[10], want_hist[10] = {0};
	struct ax_data_stats sa, sb;
	double sum = 0;

	(void)state;
	assert_int_equal(ia->num_samples, ref.n);
	assert_int_equal(ib->num_samples, ref.n);
	assert_int_equal(ia->num_shards, 2);
	assert_int_equal(ib->num_shards, 3);
	assert_int_equal(ax_dataset_shard_count(a, 0), 160);
	assert_int_equal(ax_dataset_shard_count(b, 0), 97);
	assert_int_equal(ax_dataset_shard_count(b, 1), 114);
	assert_int_equal(ax_dataset_shard_count(b, 2), 89);
	assert_int_equal(ia->sample_ndim, 2);
	assert_int_equal(ib->sample_ndim, 2);
	assert_int_equal(ia->sample_shape[0], 28);
	assert_int_equal(ib->sample_shape[0], 28);
	assert_int_equal(ia->sample_shape[1], 28);
	assert_int_equal(ib->sample_shape[1], 28);
	assert_int_equal(ia->sample_numel, 784);
	assert_int_equal(ib->sample_numel, 784);
	assert_int_equal(ia->input_dtype, AX_U8);
	assert_int_equal(ib->input_dtype, AX_U8);
	assert_int_equal(ia->target_kind, AX_TARGET_CLASS);
	assert_int_equal(ib->target_kind, AX_TARGET_CLASS);
	assert_int_equal(ia->target_dim, 1);
	assert_int_equal(ib->target_dim, 1);
	assert_int_equal(ia->num_classes, 10);
	assert_int_equal(ib->num_classes, 10);
	assert_int_equal(ia->num_norm, 1);
	assert_int_equal(ib->num_norm, 1);
	/* float32 in a, float64 converted on read in b: the same float. */
	assert_true(ia->norm_mean[0] == (float)ref.norm[0]);
	assert_true(ib->norm_mean[0] == (float)ref.norm[0]);
	assert_true(ia->norm_std[0] == (float)ref.norm[1]);
	assert_true(ib->norm_std[0] == (float)ref.norm[1]);

	TU_OK(ax_dataset_verify(a, hist_a, &sa));
	TU_OK(ax_dataset_verify(b, hist_b, &sb));
	for (int64_t i = 0; i < ref.n; i++)
		want_hist[ref.labels[i]]++;
	assert_memory_equal(hist_a, want_hist, sizeof(want_hist));
	assert_memory_equal(hist_b, want_hist, sizeof(want_hist));
	for (int64_t i = 0; i < ref.n * 784; i++)
		sum += ref.images[i];
	assert_true(fabs(sa.mean - sum / (double)(ref.n * 784)) < 1e-9);
	assert_true(sa.mean == sb.mean && sa.std == sb.std && sa.min == sb.min && sa.max == sb.max);
	ax_dataset_close(a);
	ax_dataset_close(b);
}

/* Natural order: both give ids 0..N-1 in order with identical floats, equal
 * to the reference normalised. Batch 32 does not divide 300: the short last
 * batch is checked too. */
static void test_same_samples_in_order(void **state)
{
	struct ax_dataset *a = open_sub("a"), *b = open_sub("b");
	struct delivered da = load(a, 32, 0, 0, 0, 1, 1), db = load(b, 32, 0, 0, 0, 1, 1);

	(void)state;
	for (int64_t k = 0; k < ref.n; k++) {
		assert_int_equal(da.ids[k], k);
		assert_int_equal(db.ids[k], k);
	}
	assert_memory_equal(da.labels, db.labels, sizeof(int32_t) * (size_t)ref.n);
	assert_memory_equal(da.inputs, db.inputs, sizeof(float) * (size_t)(ref.n * 784));
	check_against_reference(&da, ax_dataset_info(a), 1);
	delivered_free(&da);
	delivered_free(&db);
	ax_dataset_close(a);
	ax_dataset_close(b);
}

static int compare_int64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* Shuffled, one seed, two epochs: each epoch of each layout holds every
 * sample once with the right values, so the two multisets are the same.
 * With one window over all shards the order depends only on (seed, epoch,
 * N), so resharding a dataset does not change the training order; with one
 * shard per window the orders differ but the samples do not. */
static void test_shuffled_same_multiset(void **state)
{
	struct ax_dataset *a = open_sub("a"), *b = open_sub("b");
	const int64_t n = ref.n, epochs = 2;

	(void)state;
	for (int windowed = 0; windowed < 2; windowed++) {
		int window = windowed ? 1 : 0; /* 0: the default, every shard (they are small) */
		struct delivered da = load(a, 50, 1, 1234, window, epochs, 1);
		struct delivered db = load(b, 50, 1, 1234, window, epochs, 1);
		struct delivered again = load(b, 50, 1, 1234, window, epochs, 1);
		int64_t natural = 0, same_order = 0, epochs_alike = 0;

		check_against_reference(&da, ax_dataset_info(a), epochs);
		check_against_reference(&db, ax_dataset_info(b), epochs);
		/* The multiset per epoch: sorted ids equal (values follow from the ids,
		 * checked above). */
		for (int64_t e = 0; e < epochs; e++) {
			int64_t *sa = malloc(sizeof(int64_t) * (size_t)n);
			int64_t *sb = malloc(sizeof(int64_t) * (size_t)n);

			memcpy(sa, da.ids + e * n, sizeof(int64_t) * (size_t)n);
			memcpy(sb, db.ids + e * n, sizeof(int64_t) * (size_t)n);
			qsort(sa, (size_t)n, sizeof(int64_t), compare_int64);
			qsort(sb, (size_t)n, sizeof(int64_t), compare_int64);
			assert_memory_equal(sa, sb, sizeof(int64_t) * (size_t)n);
			free(sa);
			free(sb);
		}
		/* The same seed repeats exactly. */
		assert_memory_equal(db.ids, again.ids, sizeof(int64_t) * (size_t)(n * epochs));
		assert_memory_equal(db.inputs, again.inputs, sizeof(float) * (size_t)(n * epochs * 784));
		/* It is shuffled: not the natural order, and epochs differ. */
		for (int64_t k = 0; k < n; k++) {
			natural += da.ids[k] == k;
			same_order += da.ids[k] == db.ids[k];
			epochs_alike += da.ids[k] == da.ids[n + k];
		}
		assert_true(natural < n / 10);
		assert_true(epochs_alike < n / 10);
		if (!windowed)
			assert_int_equal(same_order, n);
		else
			assert_true(same_order < n / 10);
		delivered_free(&da);
		delivered_free(&db);
		delivered_free(&again);
	}
	ax_dataset_close(a);
	ax_dataset_close(b);
}

/* float32 features [N, 5] with per-feature statistics and float64 targets
 * [N, 3]: regression, normalised per feature, targets as float. */
static void test_regression_float_inputs(void **state)
{
	struct ax_dataset *ds = open_sub("reg");
	const struct ax_dataset_info *info = ax_dataset_info(ds);
	struct delivered d, raw;
	struct ax_data_stats stats;
	double sum = 0;

	(void)state;
	assert_int_equal(info->num_samples, ref.n_reg);
	assert_int_equal(info->num_shards, 2);
	assert_int_equal(info->sample_ndim, 1);
	assert_int_equal(info->sample_shape[0], 5);
	assert_int_equal(info->input_dtype, AX_F32);
	assert_int_equal(info->target_kind, AX_TARGET_REGRESSION);
	assert_int_equal(info->target_dim, 3);
	assert_int_equal(info->num_classes, 0);
	assert_int_equal(info->num_norm, 5);
	for (int f = 0; f < 5; f++) {
		assert_true(info->norm_mean[f] == (float)ref.reg_norm[f]);
		assert_true(info->norm_std[f] == (float)ref.reg_norm[5 + f]);
	}
	TU_OK(ax_dataset_verify(ds, NULL, &stats));
	for (int64_t i = 0; i < ref.n_reg * 5; i++)
		sum += ref.reg_inputs[i];
	assert_true(fabs(stats.mean - sum / (double)(ref.n_reg * 5)) < 1e-9);

	/* Batch 40 does not divide 150. */
	d = load(ds, 40, 0, 0, 0, 1, 1);
	raw = load(ds, 40, 0, 0, 0, 1, 0);
	for (int64_t k = 0; k < ref.n_reg; k++) {
		float want[5], want_t[3];

		assert_int_equal(d.ids[k], k);
		for (int f = 0; f < 5; f++)
			want[f] = (ref.reg_inputs[k * 5 + f] - info->norm_mean[f]) / info->norm_std[f];
		for (int j = 0; j < 3; j++)
			want_t[j] = (float)ref.reg_targets[k * 3 + j];
		tu_assert_close(d.inputs + k * 5, want, 5, 1e-5, 1e-5, "normalised features");
		assert_memory_equal(raw.inputs + k * 5, ref.reg_inputs + k * 5, 5 * sizeof(float));
		assert_memory_equal(d.targets + k * 3, want_t, sizeof(want_t));
	}
	/* The feature on another scale really was scaled. */
	assert_true(fabs(raw.inputs[2] - d.inputs[2]) > 1.0f);
	delivered_free(&d);
	delivered_free(&raw);
	ax_dataset_close(ds);
}

int main(void)
{
	char script[512];
	char *probe[] = {PYTHON, "-c", "import h5py, numpy", NULL};
	char *write[] = {PYTHON, script, work_dir, NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_info),
		cmocka_unit_test(test_same_samples_in_order),
		cmocka_unit_test(test_shuffled_same_multiset),
		cmocka_unit_test(test_regression_float_inputs),
	};
	int rc;

	if (access(PYTHON, X_OK) != 0 || run(probe) != 0) {
		printf("SKIPPED: %s cannot import h5py and numpy (install python3-h5py)\n", PYTHON);
		return SKIP_CODE;
	}
	script_path(script, sizeof(script));
	snprintf(work_dir, sizeof(work_dir), "/tmp/axon-h5py-XXXXXX");
	if (!mkdtemp(work_dir)) {
		perror("mkdtemp");
		return 1;
	}
	if (run(write) != 0) {
		fprintf(stderr, "FAILED: %s %s %s did not succeed\n", PYTHON, script, work_dir);
		remove_tree(work_dir);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, load_reference, free_reference);
	remove_tree(work_dir);
	return rc;
}
