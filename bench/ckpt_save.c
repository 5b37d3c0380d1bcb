/* ckpt_save.c - what saving a checkpoint costs training, with the background saver.
 *
 * Two models with AdamW (parameters + exp_avg + exp_avg_sq):
 *   mlp    the Fashion-MNIST MLP 784-256-128-10, 235,146 parameters (2.8 MB of state);
 *   large  three 8192x4096-sized linear layers, about 100.7 million
 *          parameters (1.2 GB of state).
 * For each, ax_ckpt_saver_submit is timed (the snapshot copy: the only time
 * training is held up) and the background save that follows (build state.h5
 * in memory with Fletcher-32 checksums, write and fsync, read back and
 * verify, rename, fsync the directory); bytes written and MB/s; against that,
 * a plain memcpy of the same state into a warm buffer (the floor for any
 * snapshot). The share of training time is snapshot / interval at the
 * config's default interval ([checkpoint] every_minutes = 10).
 *
 * The background save shares the machine with training: while it runs, the
 * main thread runs a probe - the MLP's first-layer GEMM (64x784 by 784x256,
 * one OpenBLAS thread: compute-bound, like the MLP step) and a 64 MB memcpy
 * (memory-bound, like an optimizer step of a large model) - and its rate is
 * compared with the probe alone. The first submit of a saver is reported
 * apart: it allocates and first-touches the snapshot buffers.
 * Also timed: verify and load of the last checkpoint (what a resume pays,
 * with the file in the page cache).
 *
 *   bench_ckpt_save [--dir DIR] [--reps R] [--only mlp|large] [--interval-minutes M] [--keep]
 *
 * DIR (default: a new directory under /tmp) receives DIR/mlp and
 * DIR/large; it is removed at the end unless --keep. Prints the machine.
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "axon/axon.h"
#include "axon/ckpt.h"

void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);

#define CHECK(expr)                                                                  \
	do {                                                                         \
		enum ax_status st_ = (expr);                                         \
		if (st_ != AX_OK) {                                                  \
			fprintf(stderr, "bench: %s failed: %s\n", #expr, ax_last_error()); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

struct layer {
	const char *name;
	int64_t out, in;
};

static const struct layer mlp_layers[] = {{"fc1", 256, 784}, {"fc2", 128, 256}, {"fc3", 10, 128}};
static const struct layer large_layers[] = {
	{"fc1", 8192, 4096}, {"fc2", 4096, 8192}, {"fc3", 8192, 4096}};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void machine_line(const char *dir)
{
	char line[256], model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	struct statfs fs;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0) {
				char *colon = strchr(line, ':');

				if (colon) {
					snprintf(model, sizeof(model), "%s", colon + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	printf("machine: %s, %ld online cores, %.1f GiB memory\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN),
	       (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30));
	printf("blas: %s\n", openblas_get_config());
	printf("axon: %s (%s)\n", ax_version(), ax_build_info());
	if (statfs(dir, &fs) == 0)
		printf("checkpoints in %s: file system type 0x%lx (ef53 ext2/3/4, 1021994 tmpfs, "
		       "58465342 xfs), %.1f GiB free\n", dir, (unsigned long)fs.f_type,
		       (double)fs.f_bavail * (double)fs.f_bsize / (1 << 30));
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fgets(line, sizeof(line), f))
			printf("load average at start: %s", line);
		fclose(f);
	}
}

/* ---- the model state ---- */

struct state {
	struct ax_params *params;
	float *opt[2];
	struct ax_ckpt_tensors tensors;
	int64_t numel;
	size_t bytes; /* the three flat buffers */
};

static void state_create(struct state *s, const struct layer *layers, int n)
{
	static const char *const names[2] = {"exp_avg", "exp_avg_sq"};
	size_t size;
	struct ax_tensor *t;
	uint64_t x = 12345;

	memset(s, 0, sizeof(*s));
	CHECK(ax_params_create(AX_CPU, &s->params));
	for (int l = 0; l < n; l++) {
		char name[64];
		int64_t w[2] = {layers[l].out, layers[l].in};

		snprintf(name, sizeof(name), "%s.weight", layers[l].name);
		CHECK(ax_params_add(s->params, name, 2, w, 0, &t));
		snprintf(name, sizeof(name), "%s.bias", layers[l].name);
		CHECK(ax_params_add(s->params, name, 1, &layers[l].out, AX_PARAM_NO_DECAY, &t));
	}
	CHECK(ax_params_finalize(s->params));
	size = (size_t)ax_params_size(s->params);
	s->numel = ax_params_numel(s->params);
	s->bytes = 3 * size * sizeof(float);
	s->tensors.params = s->params;
	s->tensors.param_data = ax_params_data(s->params);
	s->tensors.n_opt = 2;
	for (int b = 0; b < 2; b++) {
		s->opt[b] = malloc(size * sizeof(float));
		if (!s->opt[b]) {
			fprintf(stderr, "bench: out of memory for %zu floats\n", size);
			exit(1);
		}
		s->tensors.opt_names[b] = names[b];
		s->tensors.opt_data[b] = s->opt[b];
	}
	/* Values like a trained model's (random bits would be no different to
	 * the writer: nothing is compressed). */
	for (size_t k = 0; k < size; k++) {
		float v;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		v = (float)((double)(x >> 40) / (double)(1ULL << 24) - 0.5) * 0.1f;
		ax_params_data(s->params)[k] = v;
		s->opt[0][k] = v * 1e-2f;
		s->opt[1][k] = v * v * 1e-4f;
	}
}

static void state_destroy(struct state *s)
{
	free(s->opt[0]);
	free(s->opt[1]);
	ax_params_destroy(s->params);
}

/* ---- the foreground probes ---- */

struct probe {
	float *a, *b, *c;     /* the GEMM: (64, 784) x (784, 256) -> (64, 256) */
	char *src, *dst;      /* the memcpy: 64 MB */
	size_t copy_bytes;
};

static void probe_create(struct probe *p)
{
	p->a = calloc(64 * 784, sizeof(float));
	p->b = calloc(784 * 256, sizeof(float));
	p->c = calloc(64 * 256, sizeof(float));
	p->copy_bytes = (size_t)64 << 20;
	p->src = malloc(p->copy_bytes);
	p->dst = malloc(p->copy_bytes);
	if (!p->a || !p->b || !p->c || !p->src || !p->dst) {
		fprintf(stderr, "bench: out of memory for the probes\n");
		exit(1);
	}
	for (int i = 0; i < 64 * 784; i++)
		p->a[i] = (float)(i % 7) * 0.1f;
	for (int i = 0; i < 784 * 256; i++)
		p->b[i] = (float)(i % 5) * 0.1f;
	memset(p->src, 1, p->copy_bytes);
	memset(p->dst, 0, p->copy_bytes);
}

static void probe_destroy(struct probe *p)
{
	free(p->a);
	free(p->b);
	free(p->c);
	free(p->src);
	free(p->dst);
}

/* Alternate GEMM and memcpy rounds for `seconds`; GFLOP/s and GB/s. */
static void probe_run(struct probe *p, double seconds, double *gflops, double *gbps)
{
	double t_end = now() + seconds, gemm_s = 0, copy_s = 0;
	long gemms = 0, copies = 0;

	while (now() < t_end) {
		double t0 = now();

		for (int i = 0; i < 20; i++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 256, 784, 1.0f, p->a,
				    784, p->b, 256, 0.0f, p->c, 256);
		gemm_s += now() - t0;
		gemms += 20;
		t0 = now();
		memcpy(p->dst, p->src, p->copy_bytes);
		copy_s += now() - t0;
		copies++;
	}
	*gflops = gemm_s > 0 ? 2.0 * 64 * 256 * 784 * (double)gemms / gemm_s / 1e9 : 0;
	*gbps = copy_s > 0 ? 2.0 * (double)p->copy_bytes * (double)copies / copy_s / 1e9 : 0;
}

/* ---- one model ---- */

static long long dir_bytes(const char *path)
{
	char file[4400];
	struct stat st;
	long long total = 0;

	snprintf(file, sizeof(file), "%s/state.h5", path);
	if (stat(file, &st) == 0)
		total += st.st_size;
	snprintf(file, sizeof(file), "%s/MANIFEST.json", path);
	if (stat(file, &st) == 0)
		total += st.st_size;
	return total;
}

/* Copy the three arrays into dst (s->bytes + 3 pages), each to the same
 * offset within a page as its source (no 4K aliasing; the saver places its
 * copies the same way); the seconds it took. */
static double copy_state(const struct state *s, char *dst)
{
	size_t one = s->bytes / 3;
	const float *from[3] = {ax_params_data(s->params), s->opt[0], s->opt[1]};
	double t0 = now();

	for (int b = 0; b < 3; b++) {
		char *slot = dst + (size_t)b * (one + 4096);

		memcpy(slot + (((uintptr_t)from[b] - (uintptr_t)slot) & 4095), from[b], one);
	}
	return now() - t0;
}

static void run_model(const char *label, const struct layer *layers, int n_layers,
		      const char *root, int reps, double interval_s, struct probe *probe)
{
	struct state s;
	struct ax_ckpt_saver *saver;
	struct ax_ckpt_meta *meta = calloc(1, sizeof(*meta));
	char dir[4200], committed[4200];
	double *hold = calloc((size_t)reps, sizeof(double));
	double *snap = calloc((size_t)reps, sizeof(double));
	double *save = calloc((size_t)reps, sizeof(double));
	double *idle_copy = calloc((size_t)reps, sizeof(double));
	double copy[3], cold_hold, cold_snap, cold_save, t0, verify_s, load_s;
	double alone_gflops, alone_gbps, busy_gflops = 0, busy_gbps = 0, window;
	long long bytes = 0;
	char *dst;

	if (!meta || !hold || !snap || !save || !idle_copy) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	snprintf(dir, sizeof(dir), "%s/%s", root, label);
	state_create(&s, layers, n_layers);
	printf("\n== %s: %lld parameters, AdamW: %.1f MB of state (3 buffers) ==\n", label,
	       (long long)s.numel, (double)s.bytes / 1e6);

	/* The floor: copying the state into a buffer just written (warm), and
	 * before each submit into the same buffer, then idle for as long as the
	 * saver's own (the same conditions as the snapshot). */
	dst = malloc(s.bytes + 3 * 4096);
	if (!dst) {
		fprintf(stderr, "bench: out of memory for the memcpy baseline\n");
		exit(1);
	}
	memset(dst, 0, s.bytes + 3 * 4096);
	for (int r = 0; r < 3; r++)
		copy[r] = copy_state(&s, dst);

	meta->world = 1;
	meta->lr_scale = 1;
	CHECK(ax_ckpt_saver_create(dir, &saver));
	/* The first save: allocates and first-touches the snapshot buffers. */
	meta->step = 1;
	t0 = now();
	CHECK(ax_ckpt_saver_submit(saver, meta, &s.tensors, "[model]\n"));
	cold_hold = now() - t0;
	CHECK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
	ax_ckpt_saver_times(saver, &cold_snap, &cold_save);

	probe_run(probe, cold_save < 0.2 ? 0.2 : cold_save * 0.8, &alone_gflops, &alone_gbps);
	window = cold_save * 0.8; /* the probe must end before the save does */
	for (int r = 0; r < reps; r++) {
		double gflops, gbps;

		ax_params_data(s.params)[0] += 1.0f; /* training moved on */
		idle_copy[r] = copy_state(&s, dst);
		meta->step = 2 + r;
		t0 = now();
		CHECK(ax_ckpt_saver_submit(saver, meta, &s.tensors, "[model]\n"));
		hold[r] = now() - t0;
		probe_run(probe, window, &gflops, &gbps);
		busy_gflops += gflops / reps;
		busy_gbps += gbps / reps;
		CHECK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
		ax_ckpt_saver_times(saver, &snap[r], &save[r]);
		if (save[r] * 0.8 < window)
			window = save[r] * 0.8;
		bytes = dir_bytes(committed);
		ax_ckpt_cleanup(dir, 1, NULL, NULL);
	}
	t0 = now();
	CHECK(ax_ckpt_verify(committed, NULL));
	verify_s = now() - t0;
	t0 = now();
	CHECK(ax_ckpt_load(committed, meta, &s.tensors, NULL));
	load_s = now() - t0;
	ax_ckpt_saver_destroy(saver);
	free(dst);

	{
		double copy_s = median(copy, 3), idle_s = median(idle_copy, reps);
		double hold_s = median(hold, reps);
		double snap_s = median(snap, reps), save_s = median(save, reps);

		printf("memcpy of the state (warm buffer):   %9.2f ms  (%.1f GB/s)\n", 1e3 * copy_s,
		       (double)s.bytes / copy_s / 1e9);
		printf("the same into a buffer idle since:   %9.2f ms  (the last save; median)\n",
		       1e3 * idle_s);
		printf("first submit (allocates buffers):    %9.2f ms  (snapshot %.2f ms)\n",
		       1e3 * cold_hold, 1e3 * cold_snap);
		printf("submit, held training (median of %d): %8.2f ms  (snapshot %.2f ms; %.2fx the "
		       "warm, %.2fx the idle memcpy)\n", reps, 1e3 * hold_s, 1e3 * snap_s,
		       hold_s / copy_s, hold_s / idle_s);
		printf("background save (median):            %9.2f ms  (first %.2f ms)\n",
		       1e3 * save_s, 1e3 * cold_save);
		printf("bytes written:                       %9lld      (%.3f x the state; %.1f MB/s "
		       "end to end)\n", bytes, (double)bytes / (double)s.bytes,
		       (double)bytes / save_s / 1e6);
		printf("verify / load of a checkpoint:       %9.2f / %.2f ms (page cache warm)\n",
		       1e3 * verify_s, 1e3 * load_s);
		printf("probe during the save vs alone:      GEMM %.1f vs %.1f GFLOP/s (%+.0f%%), "
		       "memcpy %.1f vs %.1f GB/s (%+.0f%%)\n", busy_gflops, alone_gflops,
		       100.0 * (busy_gflops / alone_gflops - 1), busy_gbps, alone_gbps,
		       100.0 * (busy_gbps / alone_gbps - 1));
		printf("share of training time at one save every %.0f s: %.5f%% held up (goal <= 1%%: "
		       "%s); the background save runs %.3f%% of the time\n", interval_s,
		       100.0 * hold_s / interval_s, hold_s / interval_s <= 0.01 ? "met" : "MISSED",
		       100.0 * save_s / interval_s);
	}
	free(meta);
	free(hold);
	free(snap);
	free(save);
	free(idle_copy);
	state_destroy(&s);
}

int main(int argc, char **argv)
{
	char root[4096] = "";
	int reps = 5, keep = 0;
	double interval_minutes = 10.0;
	const char *only = NULL;
	struct probe probe;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			snprintf(root, sizeof(root), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--interval-minutes") && i + 1 < argc)
			interval_minutes = atof(argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: bench_ckpt_save [--dir DIR] [--reps R] [--only mlp|large] "
				"[--interval-minutes M] [--keep]\n");
			return 2;
		}
	}
	if (reps < 1 || interval_minutes <= 0) {
		fprintf(stderr, "bench: --reps must be >= 1 and --interval-minutes > 0\n");
		return 2;
	}
	if (!root[0]) {
		snprintf(root, sizeof(root), "/tmp/axon-bench-ckpt-XXXXXX");
		if (!mkdtemp(root)) {
			perror("bench: mkdtemp");
			return 1;
		}
	} else if (mkdir(root, 0777) != 0 && access(root, W_OK) != 0) {
		perror(root);
		return 1;
	}
	openblas_set_num_threads(1);
	machine_line(root);
	printf("reps %d, interval %.1f minutes (the [checkpoint] every_minutes default is 10)\n",
	       reps, interval_minutes);
	probe_create(&probe);
	if (!only || !strcmp(only, "mlp"))
		run_model("mlp", mlp_layers, 3, root, reps * 4, 60.0 * interval_minutes, &probe);
	if (!only || !strcmp(only, "large"))
		run_model("large", large_layers, 3, root, reps, 60.0 * interval_minutes, &probe);
	probe_destroy(&probe);
	if (!keep) {
		char command[4200];

		snprintf(command, sizeof(command), "rm -rf '%s'", root);
		if (system(command) != 0)
			fprintf(stderr, "bench: could not remove %s\n", root);
	}
	return 0;
}
