/* test_ckpt_saver.c - training checkpoints, the background saver.
 *
 * Every test works on real files in a mkdtemp directory. A submit copies the
 * state and returns before the save is done; the save runs on a thread at
 * nice +10 and commits the values at submit, not the later ones; back to
 * back submits both commit; a save that fails (a directory under a regular
 * file) is reported, once, by wait or by the next submit; a submit no save
 * would accept is refused before any copy. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_fixture.h"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The nice value of every thread of this process but the main one, into
 * nices[]; returns how many. */
static int other_threads_nice(int *nices, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		char file[300], line[1024], *p;
		FILE *f;
		int nice_value = 0;

		if (e->d_name[0] == '.' || atoi(e->d_name) == (int)getpid())
			continue;
		snprintf(file, sizeof(file), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(file, "r");
		if (!f)
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		/* After "pid (comm)": state is field 3, nice field 19. */
		for (int field = 3; p && field <= 19; field++) {
			p = strchr(p + 1, ' ');
			if (p && field == 19)
				nice_value = atoi(p + 1);
		}
		if (p)
			nices[n++] = nice_value;
	}
	closedir(d);
	return n;
}

static void test_saver(void **state)
{
	const struct spec specs[] = {{"fc1.weight", 2, {2000, 1000}}, {"fc1.bias", 1, {2000}},
				     {"fc2.weight", 2, {10, 2000}}, {"fc2.bias", 1, {10}}};
	struct model a, expected, got;
	struct ax_ckpt_saver *saver = NULL, *broken = NULL;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta)), *back = malloc(sizeof(*back));
	char committed[256], want[256], blocker[128];
	double t0, submit_seconds, snapshot_seconds, save_seconds;
	char *config = NULL;

	(void)state;
	assert_non_null(meta);
	assert_non_null(back);
	model_init(&a, specs, COUNT(specs), 2, adamw_names);
	model_init(&expected, specs, COUNT(specs), 2, adamw_names);
	model_init(&got, specs, COUNT(specs), 2, adamw_names);
	model_fill(&a, 1);
	model_fill(&expected, 1);
	meta_fill(meta, 1000);

	TU_OK(ax_ckpt_saver_create(dir, &saver));
	t0 = now_seconds();
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, "lr = 0.1\n"));
	submit_seconds = now_seconds() - t0;
	/* Training goes on: the live state changes while the save runs. */
	model_fill(&a, 2);
	meta->step = 999999;
	TU_OK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
	step_path(want, sizeof(want), dir, 1000);
	assert_string_equal(committed, want);
	ax_ckpt_saver_times(saver, &snapshot_seconds, &save_seconds);
	print_message("saver, %.0f MB of state: submit held the caller %.1f ms (snapshot %.1f ms), "
		      "the save took %.1f ms in the background\n",
		      3.0 * (double)buffer_bytes(&a) / 1e6, 1e3 * submit_seconds,
		      1e3 * snapshot_seconds, 1e3 * save_seconds);
	assert_true(snapshot_seconds <= submit_seconds);
	/* The saver thread yields to training: nice +10 from the process's. */
	{
		int nices[16], n = other_threads_nice(nices, 16), found = 0;

		for (int i = 0; i < n; i++)
			found += nices[i] == (getpriority(PRIO_PROCESS, 0) + 10 < 19
						      ? getpriority(PRIO_PROCESS, 0) + 10 : 19);
		if (found != 1)
			fail_msg("expected one thread at nice %d (the saver) among %d, found %d",
				 getpriority(PRIO_PROCESS, 0) + 10, n, found);
	}
	if (!(submit_seconds < save_seconds))
		fail_msg("submit held the caller %.3f s, longer than the save (%.3f s)",
			 submit_seconds, save_seconds);
	TU_OK(ax_ckpt_load(committed, back, &got.tensors, &config));
	assert_same_state(&expected, &got); /* the values at submit, not the later ones */
	assert_int_equal(back->step, 1000);
	assert_string_equal(config, "lr = 0.1\n");
	ax_free(config);

	/* Back to back: the second submit waits for the first; both commit. */
	meta->step = 1001;
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL));
	model_fill(&a, 3);
	meta->step = 1002;
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL));
	TU_OK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
	step_path(want, sizeof(want), dir, 1002);
	assert_string_equal(committed, want);
	TU_OK(ax_ckpt_load(committed, back, &got.tensors, NULL));
	assert_same_state(&a, &got);
	step_path(want, sizeof(want), dir, 1001);
	TU_OK(ax_ckpt_verify(want, NULL));
	TU_OK(ax_ckpt_saver_wait(saver, NULL, 0)); /* nothing in flight: the last status */
	ax_ckpt_saver_destroy(saver);

	/* A directory that cannot be written (a path under a regular file; root
	 * ignores permission bits): wait reports it, and so does the next submit. */
	snprintf(blocker, sizeof(blocker), "%s/a-file", dir);
	assert_int_equal(close(open(blocker, O_CREAT | O_WRONLY, 0644)), 0);
	TU_OK(ax_ckpt_saver_create(blocker, &broken));
	TU_OK(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL));
	strcpy(committed, "unchanged");
	EXPECT_ERROR(ax_ckpt_saver_wait(broken, committed, sizeof(committed)), AX_ERR_IO,
		     "a-file/step-0000001002.tmp", "Not a directory");
	assert_string_equal(committed, "");
	TU_OK(ax_ckpt_saver_wait(broken, NULL, 0)); /* reported once */
	TU_OK(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL));
	meta->step = 1003;
	EXPECT_ERROR(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL), AX_ERR_IO,
		     "step-0000001002.tmp", "Not a directory");
	EXPECT_ERROR(ax_ckpt_saver_wait(broken, NULL, 0), AX_ERR_IO, "step-0000001003.tmp");
	ax_ckpt_saver_destroy(broken);
	ax_ckpt_saver_destroy(NULL);

	/* A submit that could not be saved is refused before any copy. */
	TU_OK(ax_ckpt_saver_create(dir, &saver));
	a.tensors.n_opt = AX_CKPT_MAX_OPT_BUFFERS + 1;
	EXPECT_ERROR(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL), AX_ERR_INVALID,
		     "optimizer buffers");
	a.tensors.n_opt = 2;
	a.tensors.opt_data[1] = NULL;
	EXPECT_ERROR(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL), AX_ERR_INVALID,
		     "no data");
	a.tensors.opt_data[1] = a.opt[1];
	TU_OK(ax_ckpt_saver_wait(saver, NULL, 0));
	ax_ckpt_saver_destroy(saver);
	model_free(&a);
	model_free(&expected);
	model_free(&got);
	free(meta);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_saver, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
