/* allreduce.c - bus bandwidth of axon's bucketed gradient all-reduce against a
 * plain MPI_Allreduce of the same bytes. Run under mpirun:
 *
 *   mpirun -np N build/bench/bench_allreduce [--sizes KIB,...] [--bucket-kib B]
 *                                            [--param-kib P] [--reps R] [--best]
 *   mpirun -np N build/bench/bench_allreduce --sweep [--sizes KIB,...] [--buckets KIB,...]
 *                                            [--transport shm|mpi]
 *
 * For each total size S, an ax_params of S bytes of gradients made of
 * parameters of P KiB (default 64) gets an ax_grad_sync with buckets of B KiB
 * (default: AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES), prescaled as axon train uses
 * it (the loss carries the 1/world, so the all-reduce only sums), once with
 * each CPU transport: "shm" (the ranks' gradient buffers in shared memory,
 * dist/shm.c; what axon train uses on one node) and "mpi" (an MPI
 * all-reduce per bucket; what it uses across nodes). One "axon" operation is
 * what a training step does: ax_grad_sync_begin, the grad-ready
 * hook for every parameter in the order backward finishes them (mpi: each
 * bucket but the last starts its MPI_Iallreduce when its last parameter
 * reports; shm: each bucket is published, and reduced once all ranks have),
 * then ax_grad_sync_finish (mpi: the last bucket's blocking MPI_Allreduce,
 * then a wait for the others; shm: the wait for every rank's share). One "plain" operation is one MPI_Allreduce
 * (MPI_IN_PLACE, MPI_SUM) of S bytes of floats. The first operation of each
 * axon setup is checked: every element must be the sum over ranks of rank + 1.
 *
 * Each repetition times every variant once, in an order that rotates from one
 * repetition to the next (the host's core-to-core speed changes over time):
 * `iters` back-to-back operations after a barrier, the slowest rank's time.
 * The figure is the median repetition, or with --best the fastest (on a
 * shared host, the least disturbed). Bus bandwidth = 2 (n - 1) / n * S / time,
 * as nccl-tests define it.
 *
 * --sweep times the axon operation for every bucket size in --buckets (KiB;
 * 0 = one bucket for everything) at every size in --sizes, next to plain, to
 * choose AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES. Only rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "axon/axon.h"
#include "axon/dist.h"

#define CHECK(expr)                                                                  \
	do {                                                                         \
		enum ax_status st_ = (expr);                                         \
		if (st_ != AX_OK) {                                                  \
			fprintf(stderr, "bench: %s failed: %s\n", #expr, ax_last_error()); \
			MPI_Abort(MPI_COMM_WORLD, 1);                                \
		}                                                                    \
	} while (0)

enum { MAX_LIST = 32 };

struct setup {
	struct ax_params *params;
	struct ax_grad_sync *sync;
	struct ax_tensor **order; /* parameters in the order backward finishes them */
	int n;
	int64_t bytes;
};

static int rank, world;

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

static int parse_list(const char *text, long *out)
{
	int n = 0;
	char *end;

	while (*text && n < MAX_LIST) {
		out[n++] = strtol(text, &end, 10);
		if (end == text)
			return -1;
		text = *end == ',' ? end + 1 : end;
	}
	return n;
}

static void machine_line(void)
{
	char line[256], model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	char version[MPI_MAX_LIBRARY_VERSION_STRING];
	int len = 0;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && colon) {
				snprintf(model, sizeof(model), "%s", colon + 2);
				model[strcspn(model, "\n")] = '\0';
				break;
			}
		}
		fclose(f);
	}
	MPI_Get_library_version(version, &len);
	version[strcspn(version, "\n,")] = '\0';
	printf("machine: %s, %ld online cores; %s; %d ranks\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), version, world);
	printf("axon: %s (%s)\n", ax_version(), ax_build_info());
}

/* S bytes of gradients in parameters of `param_bytes` (the last one smaller). */
static void setup_create(struct ax_dist *dist, int64_t bytes, int64_t param_bytes,
			 size_t bucket_bytes, enum ax_grad_transport transport, struct setup *s)
{
	int64_t floats = bytes / 4, per = param_bytes / 4;
	int n = (int)((floats + per - 1) / per);

	memset(s, 0, sizeof(*s));
	CHECK(ax_params_create(AX_CPU, &s->params));
	for (int i = 0; i < n; i++) {
		char name[32];
		int64_t shape[1] = {i == n - 1 ? floats - per * (n - 1) : per};
		struct ax_tensor *t;

		snprintf(name, sizeof(name), "p%d", i);
		CHECK(ax_params_add(s->params, name, 1, shape, 0, &t));
	}
	CHECK(ax_params_finalize(s->params));
	CHECK(ax_grad_sync_create(dist, s->params, bucket_bytes, &s->sync));
	ax_grad_sync_set_prescaled(s->sync, 1); /* as axon train runs it: the loss carries 1/world */
	ax_grad_sync_set_transport(s->sync, transport);
	CHECK(ax_grad_sync_connect(s->sync));
	/* Backward finishes parameters in layout order (ascending offsets). */
	s->order = calloc((size_t)n, sizeof(*s->order));
	for (int i = 0; i < n; i++) {
		int k = 0;

		for (int j = 0; j < n; j++)
			k += ax_params_offset(s->params, j) < ax_params_offset(s->params, i);
		s->order[k] = ax_params_get(s->params, i);
	}
	s->n = n;
	s->bytes = ax_params_size(s->params) * 4;
}

static void setup_destroy(struct setup *s)
{
	ax_grad_sync_destroy(s->sync);
	ax_params_destroy(s->params);
	free(s->order);
}

static void axon_op(struct setup *s)
{
	ax_grad_sync_begin(s->sync, 1);
	for (int k = 0; k < s->n; k++)
		ax_grad_sync_ready(s->sync, s->order[k]);
	CHECK(ax_grad_sync_finish(s->sync));
}

static void plain_op(float *buf, int64_t floats)
{
	if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)floats, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
	    MPI_SUCCESS)
		MPI_Abort(MPI_COMM_WORLD, 1);
}

static int iters_for(int64_t bytes)
{
	int64_t n = ((int64_t)32 << 20) / bytes;

	return n < 3 ? 3 : n > 200 ? 200 : (int)n;
}

static double busbw(int64_t bytes, double seconds)
{
	return 2.0 * (world - 1) / world * (double)bytes / seconds * 1e-9;
}

/* Seconds per operation (the median repetition, or with `best` the fastest)
 * of each of `n` variants on S bytes: setups[v] (an axon setup), or plain
 * MPI_Allreduce where setups[v] is NULL. Each
 * repetition times every variant once (`iters` back-to-back operations after
 * a barrier, the slowest rank), in an order that rotates from repetition to
 * repetition, so that a change of the host's speed hits all alike. */
static void measure(struct setup **setups, int n, int64_t bytes, int reps, int best, double *out)
{
	int iters = iters_for(bytes);
	int64_t floats = bytes / 4;
	float *plain = calloc((size_t)floats, sizeof(float));
	double *t = calloc((size_t)(reps * n), sizeof(double));

	for (int v = 0; v < n; v++) { /* warm-up: pages, MPI's buffers; a check of the sum */
		if (setups[v]) {
			float *g = ax_params_grad(setups[v]->params);

			for (int64_t i = 0; i < floats; i++)
				g[i] = (float)(rank + 1);
			axon_op(setups[v]);
			for (int64_t i = 0; i < floats; i++) {
				if (g[i] != (float)(world * (world + 1) / 2)) {
					fprintf(stderr, "bench: rank %d: element %lld is %g after the "
						"all-reduce, want %d\n", rank, (long long)i, g[i],
						world * (world + 1) / 2);
					MPI_Abort(MPI_COMM_WORLD, 1);
				}
			}
			memset(g, 0, (size_t)bytes); /* zeros from here on: no denormals */
		} else {
			plain_op(plain, floats);
		}
	}
	for (int r = 0; r < reps; r++) {
		for (int k = 0; k < n; k++) {
			int v = (k + r) % n;
			double t0;

			MPI_Barrier(MPI_COMM_WORLD);
			t0 = now();
			for (int i = 0; i < iters; i++) {
				if (setups[v])
					axon_op(setups[v]);
				else
					plain_op(plain, floats);
			}
			t[v * reps + r] = (now() - t0) / iters;
			MPI_Allreduce(MPI_IN_PLACE, &t[v * reps + r], 1, MPI_DOUBLE, MPI_MAX,
				      MPI_COMM_WORLD);
		}
	}
	for (int v = 0; v < n; v++) {
		qsort(t + v * reps, (size_t)reps, sizeof(double), cmp_double);
		out[v] = t[v * reps + (best ? 0 : reps / 2)];
	}
	free(plain);
	free(t);
}

static void size_label(int64_t bytes, char *buf, size_t len)
{
	if (bytes >= (1 << 20) && bytes % (1 << 20) == 0)
		snprintf(buf, len, "%lld MiB", (long long)(bytes >> 20));
	else
		snprintf(buf, len, "%lld KiB", (long long)(bytes >> 10));
}

int main(int argc, char **argv)
{
	long sizes[MAX_LIST] = {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
	long buckets[MAX_LIST] = {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 0};
	int n_sizes = 11, n_buckets = 10, reps = 9, sweep = 0, best = 0;
	long bucket_kib = -1, param_kib = 64;
	enum ax_grad_transport transport = AX_GRAD_SHM; /* --sweep's */
	struct ax_dist *dist;

	CHECK(ax_dist_init(&argc, &argv, &dist));
	rank = ax_dist_rank(dist);
	world = ax_dist_world(dist);
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(argv[i], "--sweep") == 0) {
			sweep = 1;
			continue;
		}
		if (strcmp(argv[i], "--best") == 0) {
			best = 1;
			continue;
		}
		if (strcmp(argv[i], "--transport") == 0)
			transport = strcmp(v, "shm") == 0 ? AX_GRAD_SHM : AX_GRAD_MPI;
		else if (strcmp(argv[i], "--sizes") == 0)
			n_sizes = parse_list(v, sizes);
		else if (strcmp(argv[i], "--buckets") == 0)
			n_buckets = parse_list(v, buckets);
		else if (strcmp(argv[i], "--bucket-kib") == 0)
			bucket_kib = atol(v);
		else if (strcmp(argv[i], "--param-kib") == 0)
			param_kib = atol(v);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(v);
		else
			n_sizes = -1;
		i++;
	}
	if (n_sizes < 1 || n_buckets < 1 || reps < 1 || param_kib < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: mpirun -np N bench_allreduce [--sweep] [--best] [--sizes KIB,...] "
					"[--buckets KIB,...] [--bucket-kib B] [--param-kib P] "
					"[--reps R] [--transport shm|mpi]\n");
		ax_dist_finalize(dist);
		return 2;
	}
	if (sweep && n_sizes == 11 && sizes[0] == 64) { /* sweep default: a few model sizes */
		long d[] = {1024, 4096, 16384, 65536};

		memcpy(sizes, d, sizeof(d));
		n_sizes = 4;
	}
	if (rank == 0) {
		machine_line();
		printf("parameters of %ld KiB, grad-ready hook per parameter in backward order; "
		       "%s of %d repetitions; bus bandwidth = 2(n-1)/n * bytes / time\n\n",
		       param_kib, best ? "best" : "median", reps);
	}
	if (!sweep) {
		size_t bb = bucket_kib >= 0 ? (size_t)bucket_kib << 10 : 0;

		if (rank == 0) {
			printf("buckets of %zu KiB%s; axon over shared memory (shm) and over MPI "
			       "all-reduces per bucket (mpi)\n",
			       (bb ? bb : AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES) >> 10,
			       bb ? "" : " (AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES)");
			printf("%9s %8s %10s %10s %10s %9s %9s %9s %8s %8s\n", "size", "buckets",
			       "shm us", "mpi us", "plain us", "shm GB/s", "mpi GB/s", "plain", "shm %",
			       "mpi %");
		}
		for (int i = 0; i < n_sizes; i++) {
			struct setup sh, mp, *v[3] = {&sh, &mp, NULL};
			struct ax_grad_sync_stats stats;
			double t[3];
			char label[32];

			setup_create(dist, (int64_t)sizes[i] << 10, param_kib << 10, bb, AX_GRAD_SHM, &sh);
			setup_create(dist, (int64_t)sizes[i] << 10, param_kib << 10, bb, AX_GRAD_MPI, &mp);
			measure(v, 3, sh.bytes, reps, best, t);
			ax_grad_sync_stats(sh.sync, &stats);
			size_label(sh.bytes, label, sizeof(label));
			if (rank == 0) {
				printf("%9s %8d %10.1f %10.1f %10.1f %9.2f %9.2f %9.2f %7.1f%% %7.1f%%\n",
				       label, stats.buckets, t[0] * 1e6, t[1] * 1e6, t[2] * 1e6,
				       busbw(sh.bytes, t[0]), busbw(sh.bytes, t[1]), busbw(sh.bytes, t[2]),
				       100.0 * t[2] / t[0], 100.0 * t[2] / t[1]);
				fflush(stdout);
			}
			setup_destroy(&sh);
			setup_destroy(&mp);
		}
	} else {
		if (rank == 0) {
			printf("axon bus bandwidth in GB/s by bucket size (columns, KiB; 0 = one bucket), "
			       "and plain MPI_Allreduce\n%9s", "size");
			for (int b = 0; b < n_buckets; b++)
				printf(" %7ld", buckets[b]);
			printf(" %7s\n", "plain");
		}
		for (int i = 0; i < n_sizes; i++) {
			struct setup s[MAX_LIST], *v[MAX_LIST + 1];
			double t[MAX_LIST + 1];
			int64_t bytes = (int64_t)sizes[i] << 10;
			char label[32];

			for (int b = 0; b < n_buckets; b++) {
				size_t bb = buckets[b] ? (size_t)buckets[b] << 10 : (size_t)bytes;

				setup_create(dist, bytes, param_kib << 10, bb, transport, &s[b]);
				v[b] = &s[b];
			}
			v[n_buckets] = NULL;
			measure(v, n_buckets + 1, bytes, reps, best, t);
			size_label(bytes, label, sizeof(label));
			if (rank == 0) {
				printf("%9s", label);
				for (int b = 0; b <= n_buckets; b++)
					printf(" %7.2f", busbw(bytes, t[b]));
				printf("\n");
				fflush(stdout);
			}
			for (int b = 0; b < n_buckets; b++)
				setup_destroy(&s[b]);
		}
	}
	ax_dist_finalize(dist);
	return 0;
}
