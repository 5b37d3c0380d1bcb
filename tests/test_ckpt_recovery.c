/* test_ckpt_recovery.c - training checkpoints, what a restart finds: damage,
 * discovery, faults during a save and retention.
 *
 * Every test works on real files in a mkdtemp directory and, for the faults,
 * on real processes, signals and a real full file system. A flipped byte
 * (mid-file, in the superblock, in a tensor with the manifest forged to
 * match) fails verification and makes find_latest fall back to an older
 * checkpoint, as does a missing manifest; a writer SIGKILLed at random
 * instants leaves only verifiable commits and at most one step-N.tmp; a full
 * tmpfs fails the save with "No space left" and leaves the older checkpoint
 * loadable. Retention keeps the newest N plus the best and removes what
 * interrupted saves left.
 *
 * AXON_TEST_SEED fixes the random kill instants (the seed is printed). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt_fixture.h"

static void model_fill_constant(struct model *m, float value)
{
	for (int which = -1; which < m->tensors.n_opt; which++) {
		float *flat = buffer_of(m, which);

		for (int i = 0; i < ax_params_count(m->params); i++) {
			const struct ax_tensor *t = ax_params_get(m->params, i);

			for (int64_t k = 0; k < ax_tensor_numel(t); k++)
				flat[ax_params_offset(m->params, i) + k] = value;
		}
	}
}

/* XOR one byte of a file at `offset` (negative: from the end). */
static void flip_byte(const char *file, long offset)
{
	int fd = open(file, O_RDWR);
	unsigned char byte;
	off_t at;

	assert_true(fd >= 0);
	at = offset >= 0 ? offset : lseek(fd, 0, SEEK_END) + offset;
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

static long file_size(const char *file)
{
	struct stat st;

	assert_int_equal(stat(file, &st), 0);
	return (long)st.st_size;
}

/* ---- damage and discovery ---- */

/* A flipped byte anywhere fails verification with a message saying so; with
 * the manifest forged to match, the tensor's Fletcher-32 still catches it. */
static void test_flipped_byte_fails_verify(void **state)
{
	const float marker = 12345.678f;
	struct model a, b;
	char committed[256], file[300], manifest[300], text[512];
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	unsigned char *bytes, pattern[4];
	long size, found = -1;
	int matches = 0;
	struct capture report;
	float *before;
	FILE *f;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&b, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 1);
	model_fill(&b, 2);
	((float *)ax_params_find(a.params, "fc2.weight")->data)[6] = marker;
	save_step(dir, &a, 10, committed, sizeof(committed));
	snprintf(file, sizeof(file), "%s/state.h5", committed);
	size = file_size(file);

	/* In the middle of the file. */
	flip_byte(file, size / 2);
	EXPECT_ERROR(ax_ckpt_verify(committed, capture_begin(&report)), AX_ERR_IO, "damaged",
		     "CRC-32", "state.h5", "step-0000000010");
	contains(capture_end(&report), "FAIL", "the verify report");
	free(report.text);
	before = model_snapshot(&b);
	EXPECT_ERROR(ax_ckpt_load(committed, meta, &b.tensors, NULL), AX_ERR_IO, "damaged");
	assert_unchanged(&b, before);
	flip_byte(file, size / 2); /* flipped back, it verifies: the byte was the cause */
	TU_OK(ax_ckpt_verify(committed, NULL));

	/* In the first 512 bytes (the HDF5 superblock). */
	flip_byte(file, 100);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "damaged", "CRC");
	flip_byte(file, 100);

	/* Cut short. */
	assert_int_equal(truncate(file, size - 1000), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "truncated");

	/* A flipped bit in a tensor's data, and a manifest rewritten to match:
	 * the per-chunk checksum is the second line of defence. */
	{
		FILE *in;

		meta_fill(meta, 10);
		TU_OK(ax_ckpt_save(dir, meta, &a.tensors, NULL, NULL, 0));
		size = file_size(file);
		bytes = malloc((size_t)size);
		assert_non_null(bytes);
		in = fopen(file, "rb");
		assert_non_null(in);
		assert_int_equal(fread(bytes, 1, (size_t)size, in), (size_t)size);
		fclose(in);
	}
	memcpy(pattern, &marker, 4); /* the file is little-endian, as is this machine */
	for (long k = 0; k + 4 <= size; k++) {
		if (memcmp(bytes + k, pattern, 4) == 0) {
			found = k;
			matches++;
		}
	}
	assert_int_equal(matches, 1);
	bytes[found + 1] ^= 0x10;
	f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, (size_t)size, f), (size_t)size);
	assert_int_equal(fclose(f), 0);
	snprintf(manifest, sizeof(manifest), "%s/MANIFEST.json", committed);
	snprintf(text, sizeof(text),
		 "{\"format\": \"axon-checkpoint\", \"format_version\": 1, \"step\": 10, "
		 "\"files\": {\"state.h5\": {\"bytes\": %ld, \"crc32\": \"%08lx\"}}}\n",
		 size, (unsigned long)crc32(crc32(0L, Z_NULL, 0), bytes, (uInt)size));
	f = fopen(manifest, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "'params/fc2.weight'",
		     "checksum");
	free(bytes);

	/* A damaged manifest. */
	f = fopen(manifest, "w");
	assert_non_null(f);
	fputs("{\"format\": \"axon-checkpoint\", \"fil", f);
	assert_int_equal(fclose(f), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_INVALID, "MANIFEST.json",
		     "damaged");
	model_free(&a);
	model_free(&b);
	free(meta);
}

/* find_latest takes the newest checkpoint that verifies and says why it
 * skipped the others; a directory of interrupted saves has none. */
static void test_find_latest_skips_damaged(void **state)
{
	struct model a, b;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	char c10[256], c20[256], c30[256], file[300], found[256], only_tmp[128], p[300];
	struct capture log;
	const char *text;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&b, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 1);
	save_step(dir, &a, 10, c10, sizeof(c10));
	model_fill(&a, 2);
	save_step(dir, &a, 20, c20, sizeof(c20));

	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), NULL));
	assert_string_equal(found, c20);

	snprintf(file, sizeof(file), "%s/state.h5", c20);
	flip_byte(file, file_size(file) / 2);
	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), capture_begin(&log)));
	text = capture_end(&log);
	assert_string_equal(found, c10);
	contains(text, "skipping", "find_latest's log");
	contains(text, "step-0000000020", "find_latest's log");
	contains(text, "damaged", "find_latest's log");
	free(log.text);
	/* ... and step 10 holds step 10's state. */
	model_fill(&a, 1);
	TU_OK(ax_ckpt_load(found, meta, &b.tensors, NULL));
	assert_same_state(&a, &b);
	assert_int_equal(meta->step, 10);

	/* A newer checkpoint without its manifest is skipped too. */
	save_step(dir, &a, 30, c30, sizeof(c30));
	snprintf(file, sizeof(file), "%s/MANIFEST.json", c30);
	assert_int_equal(unlink(file), 0);
	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), capture_begin(&log)));
	text = capture_end(&log);
	assert_string_equal(found, c10);
	contains(text, "step-0000000030", "find_latest's log");
	contains(text, "MANIFEST.json", "find_latest's log");
	contains(text, "step-0000000020", "find_latest's log");
	free(log.text);

	/* Only leftovers of interrupted saves, and an empty or missing directory. */
	snprintf(only_tmp, sizeof(only_tmp), "%s/only-tmp", dir);
	assert_int_equal(mkdir(only_tmp, 0755), 0);
	EXPECT_ERROR(ax_ckpt_find_latest(only_tmp, found, sizeof(found), NULL), AX_ERR_RANGE,
		     "no valid checkpoint", "only-tmp");
	save_step(only_tmp, &a, 5, p, sizeof(p));
	snprintf(file, sizeof(file), "%s/step-0000000005.tmp", only_tmp);
	assert_int_equal(rename(p, file), 0);
	snprintf(p, sizeof(p), "%s/step-0000000007.tmp", only_tmp);
	assert_int_equal(mkdir(p, 0755), 0);
	EXPECT_ERROR(ax_ckpt_find_latest(only_tmp, found, sizeof(found), NULL), AX_ERR_RANGE,
		     "no valid checkpoint");
	snprintf(p, sizeof(p), "%s/none", dir);
	EXPECT_ERROR(ax_ckpt_find_latest(p, found, sizeof(found), NULL), AX_ERR_RANGE, "none");
	model_free(&a);
	model_free(&b);
	free(meta);
}

/* ---- faults during a save ---- */

struct listing {
	int64_t committed[256], tmp[256];
	int n_committed, n_tmp, other;
};

static void list_dir(const char *in, struct listing *l)
{
	DIR *d = opendir(in);
	struct dirent *e;

	memset(l, 0, sizeof(*l));
	assert_non_null(d);
	while ((e = readdir(d))) {
		long long step;
		int used = 0;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (sscanf(e->d_name, "step-%lld%n", &step, &used) == 1 && e->d_name[used] == '\0' &&
		    l->n_committed < 256)
			l->committed[l->n_committed++] = step;
		else if (sscanf(e->d_name, "step-%lld%n", &step, &used) == 1 &&
			 !strcmp(e->d_name + used, ".tmp") && l->n_tmp < 256)
			l->tmp[l->n_tmp++] = step;
		else
			l->other++;
	}
	closedir(d);
}

static uint64_t next_random(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* A process saving a 64 MB checkpoint over and over is SIGKILLed at random
 * instants: whatever the instant, every committed step verifies and holds
 * that step's values, at most one step-N.tmp is left, cleanup removes it and
 * find_latest returns the newest commit. */
static void test_sigkill_during_save(void **state)
{
	const struct spec big[] = {{"embed.weight", 2, {4000, 4000}}, {"embed.bias", 1, {4000}},
				   {"head.weight", 2, {10, 4000}}, {"head.bias", 1, {1}}};
	struct model m;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	const char *seed_text = getenv("AXON_TEST_SEED");
	uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10)
				  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	uint64_t rng = seed;
	int64_t next_step = 1, newest = 0;
	char kills[512] = "";
	int commits_seen = 0, tmp_seen = 0;

	(void)state;
	assert_non_null(meta);
	print_message("kill instants drawn with AXON_TEST_SEED=%llu\n", (unsigned long long)seed);
	model_init(&m, big, COUNT(big), 0, NULL);
	for (int round = 0; round < 6; round++) {
		/* Three kinds of round: 5-200 ms after the fork; 5-200 ms after the
		 * child's first commit (kills in later saves: a first save can take
		 * longer than 200 ms); 1-20 ms after a step-N.tmp appears (a kill
		 * in the middle of writing, whatever the machine's speed). */
		int mode = round % 3;
		long delay_ms = mode == 2 ? 1 + (long)(next_random(&rng) % 20)
					  : 5 + (long)(next_random(&rng) % 196);
		struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
		struct listing before, after;
		char found[256], committed[256], log_line[64];
		struct capture log;
		int status, leftovers;
		pid_t child;

		list_dir(dir, &before);
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			alarm(30); /* never outlive a parent that failed an assertion */
			for (int64_t step = next_step;; step++) {
				model_fill_constant(&m, (float)step);
				meta_fill(meta, step);
				if (ax_ckpt_save(dir, meta, &m.tensors, NULL, NULL, 0) != AX_OK) {
					fprintf(stderr, "child: %s\n", ax_last_error());
					_exit(3);
				}
			}
		}
		if (mode > 0) {
			struct listing now;
			struct timespec poll = {0, 1000000L};

			for (int waited = 0; waited < 10000; waited++) {
				list_dir(dir, &now);
				if (mode == 1 ? now.n_committed > before.n_committed : now.n_tmp > 0)
					break;
				nanosleep(&poll, NULL);
			}
		}
		nanosleep(&delay, NULL);
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		if (!WIFSIGNALED(status))
			fail_msg("round %d: the saving child exited with %d before the kill", round,
				 WEXITSTATUS(status));

		list_dir(dir, &after);
		if (after.n_tmp > 1)
			fail_msg("round %d: %d step-N.tmp directories after one kill", round,
				 after.n_tmp);
		assert_int_equal(after.other, 0);
		tmp_seen += after.n_tmp;
		for (int i = 0; i < after.n_committed; i++) {
			step_path(committed, sizeof(committed), dir, after.committed[i]);
			if (ax_ckpt_verify(committed, NULL) != AX_OK)
				fail_msg("round %d: committed %s does not verify: %s", round, committed,
					 ax_last_error());
			if (after.committed[i] > newest)
				newest = after.committed[i];
			if (after.committed[i] >= next_step)
				commits_seen++;
		}
		for (int i = 0; i < after.n_committed; i++)
			if (after.committed[i] + 1 > next_step)
				next_step = after.committed[i] + 1;
		for (int i = 0; i < after.n_tmp; i++)
			if (after.tmp[i] + 1 > next_step)
				next_step = after.tmp[i] + 1;

		leftovers = after.n_tmp;
		assert_true(ax_ckpt_cleanup(dir, 2, NULL, capture_begin(&log)) >= leftovers);
		capture_end(&log);
		list_dir(dir, &after);
		assert_int_equal(after.n_tmp, 0);
		if (leftovers)
			contains(log.text, "(left by an interrupted save)", "cleanup's log");
		free(log.text);
		if (newest > 0) {
			TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), NULL));
			step_path(committed, sizeof(committed), dir, newest);
			assert_string_equal(found, committed);
			/* The commit holds its own step's values, not a mix. */
			model_fill_constant(&m, -1.0f);
			TU_OK(ax_ckpt_load(found, meta, &m.tensors, NULL));
			assert_int_equal(meta->step, newest);
			for (int i = 0; i < ax_params_count(m.params); i++) {
				const struct ax_tensor *t = ax_params_get(m.params, i);

				for (int64_t k = 0; k < ax_tensor_numel(t); k++)
					if (((float *)t->data)[k] != (float)newest)
						fail_msg("%s: %s[%lld] is %g", found, t->name,
							 (long long)k, ((float *)t->data)[k]);
			}
		}
		snprintf(log_line, sizeof(log_line), "%s%ld%s", round ? ", " : "", delay_ms,
			 mode == 1 ? " after a commit" : mode == 2 ? " into a save" : "");
		strncat(kills, log_line, sizeof(kills) - strlen(kills) - 1);
	}
	print_message("killed after %s ms: %d commits, %d interrupted saves, newest step %lld\n",
		      kills, commits_seen, tmp_seen, (long long)newest);
	assert_true(commits_seen > 0); /* the rounds that waited for one */
	assert_true(tmp_seen > 0);     /* the rounds that killed a save in progress */
	model_free(&m);
	free(meta);
}

/* A disk that fills up during a save: the save fails saying so, leaves no
 * step-N.tmp, and the older checkpoint still verifies and loads. Needs root
 * to mount a 2 MiB tmpfs. */
static void test_disk_full(void **state)
{
	const struct spec big[] = {{"fc1.weight", 2, {64, 32}}, {"huge", 2, {300, 1000}}};
	struct model small_model, big_model, got;
	char small[128], committed[256], failed[256];
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	struct listing l;

	(void)state;
	assert_non_null(meta);
	snprintf(small, sizeof(small), "%s/small", dir);
	assert_int_equal(mkdir(small, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", small, "tmpfs", 0, "size=2m") != 0) {
		print_message("SKIPPED the disk-full check: cannot mount a tmpfs here (%s)\n",
			      geteuid() != 0 ? "not root" : strerror(errno));
		free(meta);
		return;
	}
	model_init(&small_model, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&big_model, big, COUNT(big), 2, adamw_names); /* 3.6 MB of floats */
	model_init(&got, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&small_model, 1);
	model_fill(&big_model, 2);
	save_step(small, &small_model, 1, committed, sizeof(committed));
	meta_fill(meta, 2);
	EXPECT_ERROR(ax_ckpt_save(small, meta, &big_model.tensors, NULL, NULL, 0), AX_ERR_IO,
		     "No space left", "step-0000000002.tmp");
	print_message("disk full reported as: %s\n", ax_last_error());
	list_dir(small, &l);
	assert_int_equal(l.n_tmp, 0);
	assert_int_equal(l.n_committed, 1);
	step_path(failed, sizeof(failed), small, 2);
	assert_false(exists(failed));
	TU_OK(ax_ckpt_verify(committed, NULL));
	TU_OK(ax_ckpt_load(committed, meta, &got.tensors, NULL));
	assert_same_state(&small_model, &got);
	/* The space was given back: the small one saves again. */
	save_step(small, &small_model, 3, committed, sizeof(committed));
	assert_int_equal(umount(small), 0);
	model_free(&small_model);
	model_free(&big_model);
	model_free(&got);
	free(meta);
}

/* ---- retention ---- */

static void test_cleanup_keeps_newest_and_best(void **state)
{
	struct model a;
	char p[300], best[300], runs[128], other[128];
	struct listing l;
	struct capture log;
	int removed;

	(void)state;
	model_init(&a, mlp_specs, COUNT(mlp_specs), 0, NULL);
	model_fill(&a, 1);
	for (int64_t step = 100; step <= 500; step += 100)
		save_step(dir, &a, step, step == 200 ? best : p, sizeof(p));
	snprintf(p, sizeof(p), "%s/step-0000000600.tmp", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/step-0000000050.tmp", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/notes.txt", dir); /* not ours: left alone */
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0644)), 0);

	removed = ax_ckpt_cleanup(dir, 2, best, capture_begin(&log));
	capture_end(&log);
	contains(log.text, "step-0000000600.tmp (left by an interrupted save)", "cleanup's log");
	contains(log.text, "removing", "cleanup's log");
	free(log.text);
	assert_int_equal(removed, 4); /* 100, 300 and the two .tmp */
	list_dir(dir, &l);
	assert_int_equal(l.n_tmp, 0);
	assert_int_equal(l.other, 1);
	assert_int_equal(l.n_committed, 3);
	for (int64_t step = 100; step <= 500; step += 100) {
		step_path(p, sizeof(p), dir, step);
		assert_int_equal(exists(p), step == 200 || step >= 400);
	}

	/* The best being one of the newest does not keep an extra one. */
	snprintf(runs, sizeof(runs), "%s/second", dir);
	for (int64_t step = 1; step <= 4; step++)
		save_step(runs, &a, step, step == 4 ? best : p, sizeof(p));
	assert_int_equal(ax_ckpt_cleanup(runs, 2, best, NULL), 2);
	list_dir(runs, &l);
	assert_int_equal(l.n_committed, 2);
	step_path(p, sizeof(p), runs, 3);
	assert_true(exists(p));
	assert_true(exists(best));

	/* keep_last 0 keeps every commit and still removes leftovers; a missing
	 * directory removes nothing. */
	snprintf(p, sizeof(p), "%s/step-0000000009.tmp", runs);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(ax_ckpt_cleanup(runs, 0, NULL, NULL), 1);
	list_dir(runs, &l);
	assert_int_equal(l.n_committed, 2);
	assert_int_equal(l.n_tmp, 0);
	snprintf(other, sizeof(other), "%s/none", dir);
	assert_int_equal(ax_ckpt_cleanup(other, 1, NULL, NULL), 0);
	model_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flipped_byte_fails_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_latest_skips_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_during_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_keeps_newest_and_best, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
