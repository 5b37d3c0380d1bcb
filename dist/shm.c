/* shm.c - the gradient all-reduce of ranks that share one node, through
 * shared memory.
 *
 * When every rank runs on the same node, the gradient buffers themselves are
 * moved into one shared mapping (ax_params_set_grad_buffer), so a rank can
 * read and write its peers' gradients directly and the all-reduce needs no
 * message, no copy into MPI's buffers and no system call: each bucket is cut
 * into `world` parts, and rank p sums part p over all ranks, in rank order,
 * and writes the sum back into every rank's buffer. Every rank therefore
 * reads and writes each gradient byte once per step (an MPI ring over
 * shared-memory transports copies every byte into and out of its buffers
 * on top of that), and all ranks end with bit-identical sums.
 *
 * Synchronisation is by flags in the same mapping, one cache line each,
 * holding the step number ("epoch") they were last set for:
 *   ready[r][b]  rank r's bucket b is final (set from the grad-ready hook);
 *   done[r][b]   rank r has written the sum of its part of bucket b everywhere.
 * A rank reduces its part of bucket b as soon as it sees every ready[.][b]
 * (from the hook, so the work runs while backward goes on, or in finish), and
 * finish returns when every done[.][b] is set: from then on no rank touches
 * its buffer until it has itself published bucket b of the next step. Stores
 * are release, loads acquire (C11 atomics on the shared pages).
 *
 * Waiting spins briefly, then yields the core (ranks may outnumber cores), and
 * gives up with an error naming the missing rank after the time limit.
 *
 * The mapping is a POSIX shared-memory object that rank 0 creates, reserves
 * with posix_fallocate (so a full /dev/shm is an error here, not a SIGBUS
 * later) and unlinks as soon as every rank has mapped it: nothing is left
 * behind even if the job is killed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>

#include "axon/alloc.h"
#include "dist_internal.h"

enum { LINE = 64, PAGE = 4096, BLOCK = 1024 };

struct flag {
	_Atomic uint64_t epoch;
	char pad[LINE - sizeof(uint64_t)];
};

struct ax_shm {
	int rank, world, n_buckets;
	struct ax_params *params;
	int64_t (*part)[2];      /* per bucket: this rank's part [lo, hi) */
	int64_t *bucket_start;   /* per bucket, for error messages */
	void *map;
	size_t map_bytes;
	struct flag *ready;      /* [world][n_buckets] */
	struct flag *done;       /* [world][n_buckets] */
	float **grad;            /* [world] each rank's gradient buffer */
	unsigned char *published, *reduced; /* per bucket, this step */
	uint64_t epoch;
	float scale;             /* applied to the sum; 1 when prescaled */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static struct flag *flag_at(struct flag *base, const struct ax_shm *s, int rank, int bucket)
{
	return &base[(size_t)rank * (size_t)s->n_buckets + (size_t)bucket];
}

/* Rank 0 creates and reserves the object; everyone maps it. Returns 0 or an
 * errno-style code (the same on every rank afterwards). */
static int map_segment(struct ax_shm *s, char *name, size_t name_len)
{
	int fd = -1, err = 0, any = 0;

	if (s->rank == 0) {
		static unsigned counter;

		snprintf(name, name_len, "/axon-grad-%ld-%u", (long)getpid(), counter++);
		fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
		if (fd < 0)
			err = errno;
		else if ((err = posix_fallocate(fd, 0, (off_t)s->map_bytes)) != 0)
			shm_unlink(name);
	}
	MPI_Bcast(&err, 1, MPI_INT, 0, MPI_COMM_WORLD);
	MPI_Bcast(name, (int)name_len, MPI_CHAR, 0, MPI_COMM_WORLD);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (s->rank != 0) {
		fd = shm_open(name, O_RDWR, 0600);
		if (fd < 0)
			err = errno;
	}
	if (!err) {
		s->map = mmap(NULL, s->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (s->map == MAP_FAILED) {
			err = errno;
			s->map = NULL;
		}
	}
	if (fd >= 0)
		close(fd);
	MPI_Allreduce(&err, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (s->rank == 0)
		shm_unlink(name);
	return any;
}

enum ax_status ax_shm_create(struct ax_dist *dist, struct ax_params *params,
			     const int64_t (*buckets)[2], int n_buckets, struct ax_shm **out)
{
	struct ax_shm *s = ax_calloc(1, sizeof(*s));
	size_t flags_bytes, grad_bytes;
	char name[64] = "";
	int err;
	enum ax_status st;

	if (!s)
		return AX_ERR_NOMEM;
	s->rank = ax_dist_rank(dist);
	s->world = ax_dist_world(dist);
	s->n_buckets = n_buckets;
	s->params = params;
	s->scale = 1.0f;
	s->part = ax_calloc((size_t)n_buckets, sizeof(*s->part));
	s->bucket_start = ax_calloc((size_t)n_buckets, sizeof(*s->bucket_start));
	s->grad = ax_calloc((size_t)s->world, sizeof(*s->grad));
	s->published = ax_calloc((size_t)n_buckets, 1);
	s->reduced = ax_calloc((size_t)n_buckets, 1);
	if (!s->part || !s->bucket_start || !s->grad || !s->published || !s->reduced) {
		ax_shm_destroy(s);
		return AX_ERR_NOMEM;
	}
	/* Parts start on cache lines (multiples of 16 floats), so no two
	 * writers share a line; the last ranks' parts may be empty. */
	for (int b = 0; b < n_buckets; b++) {
		int64_t lo = buckets[b][0], n = buckets[b][1] - lo;
		int64_t chunk = ((n + s->world - 1) / s->world + 15) / 16 * 16;
		int64_t a = lo + chunk * s->rank, e = a + chunk;

		s->bucket_start[b] = lo;
		s->part[b][0] = a < buckets[b][1] ? a : buckets[b][1];
		s->part[b][1] = e < buckets[b][1] ? e : buckets[b][1];
	}
	flags_bytes = round_up(2 * (size_t)s->world * (size_t)n_buckets * LINE, PAGE);
	grad_bytes = round_up((size_t)(ax_params_size(params) ? ax_params_size(params) : 16) *
			      sizeof(float), PAGE);
	s->map_bytes = flags_bytes + (size_t)s->world * grad_bytes;
	err = map_segment(s, name, sizeof(name));
	if (err) {
		ax_shm_destroy(s);
		return AX_ERROR(AX_ERR_IO, "dist: cannot share %zu bytes of gradients between the "
				"ranks through /dev/shm (%s%s%s); give /dev/shm more room (docker "
				"--shm-size) or set [loop] grad_transport = mpi", s->map_bytes,
				strerror(err), name[0] ? ", " : "", name);
	}
	s->ready = s->map;
	s->done = s->ready + (size_t)s->world * (size_t)n_buckets;
	for (int r = 0; r < s->world; r++)
		s->grad[r] = (float *)((char *)s->map + flags_bytes + (size_t)r * grad_bytes);
	st = ax_params_set_grad_buffer(params, s->grad[s->rank]);
	if (st) {
		ax_shm_destroy(s);
		return st;
	}
	*out = s;
	return AX_OK;
}

void ax_shm_destroy(struct ax_shm *s)
{
	if (!s)
		return;
	if (s->map) {
		/* The gradients move back into memory of the store's own. */
		if (s->params && ax_params_grad(s->params) == s->grad[s->rank])
			ax_params_set_grad_buffer(s->params, NULL);
		munmap(s->map, s->map_bytes);
	}
	ax_free(s->part);
	ax_free(s->bucket_start);
	ax_free(s->grad);
	ax_free(s->published);
	ax_free(s->reduced);
	ax_free(s);
}

void ax_shm_begin(struct ax_shm *s, float scale)
{
	s->epoch++;
	s->scale = scale;
	memset(s->published, 0, (size_t)s->n_buckets);
	memset(s->reduced, 0, (size_t)s->n_buckets);
}

/* acc[0..n) = sum over ranks of g[r][at..at+n), in rank order, then scaled. */
__attribute__((target_clones("avx2", "default")))
static void sum_block(int world, float *const *g, int64_t at, int64_t n, float scale,
		      float *restrict acc)
{
	const float *restrict g0 = g[0] + at, *restrict g1 = g[1] + at;

	for (int64_t i = 0; i < n; i++)
		acc[i] = g0[i] + g1[i];
	for (int r = 2; r < world; r++) {
		const float *restrict gr = g[r] + at;

		for (int64_t i = 0; i < n; i++)
			acc[i] += gr[i];
	}
	if (scale != 1.0f)
		for (int64_t i = 0; i < n; i++)
			acc[i] *= scale;
}

/* Sum this rank's part of bucket b over every rank and write it into every
 * rank's buffer, then say so. */
static void reduce_part(struct ax_shm *s, int b)
{
	float acc[BLOCK] __attribute__((aligned(64)));

	for (int64_t at = s->part[b][0]; at < s->part[b][1]; at += BLOCK) {
		int64_t n = s->part[b][1] - at < BLOCK ? s->part[b][1] - at : BLOCK;

		sum_block(s->world, s->grad, at, n, s->scale, acc);
		for (int r = 0; r < s->world; r++)
			memcpy(s->grad[r] + at, acc, (size_t)n * sizeof(float));
	}
	atomic_store_explicit(&flag_at(s->done, s, s->rank, b)->epoch, s->epoch,
			      memory_order_release);
	s->reduced[b] = 1;
}

/* The first rank whose flag of bucket b is behind this step, or -1. */
static int missing(const struct ax_shm *s, struct flag *base, int b)
{
	for (int r = 0; r < s->world; r++)
		if (atomic_load_explicit(&flag_at(base, s, r, b)->epoch, memory_order_acquire) <
		    s->epoch)
			return r;
	return -1;
}

/* Reduce every part that can be: returns the number still waiting. */
static int progress(struct ax_shm *s)
{
	int waiting = 0;

	for (int b = 0; b < s->n_buckets; b++) {
		if (s->reduced[b])
			continue;
		if (s->published[b] && missing(s, s->ready, b) < 0)
			reduce_part(s, b);
		else
			waiting++;
	}
	return waiting;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The error for a wait that ran out of time: which rank, which bucket. */
static enum ax_status timed_out(const struct ax_shm *s, double waited)
{
	int r = -1, b;
	const char *what = "";

	for (b = 0; b < s->n_buckets; b++) {
		if (!s->reduced[b] && (r = missing(s, s->ready, b)) >= 0) {
			what = "its gradients of";
			break;
		}
		if ((r = missing(s, s->done, b)) >= 0) {
			what = "its share of the sum of";
			break;
		}
	}
	return AX_ERROR(AX_ERR_IO, "dist: rank %d waited %.0f s for rank %d to publish %s "
			"bucket %d of %d (step %llu of this run): that rank is stuck or has died; "
			"the job cannot go on", s->rank, waited, r, what, b, s->n_buckets,
			(unsigned long long)s->epoch);
}

void ax_shm_ready(struct ax_shm *s, int b)
{
	s->published[b] = 1;
	atomic_store_explicit(&flag_at(s->ready, s, s->rank, b)->epoch, s->epoch,
			      memory_order_release);
	progress(s);
}

enum ax_status ax_shm_finish(struct ax_shm *s, double timeout)
{
	double t0 = now();
	unsigned spins = 0;
	int b = 0;

	for (;;) {
		if (progress(s) == 0) {
			while (b < s->n_buckets && missing(s, s->done, b) < 0)
				b++;
			if (b == s->n_buckets)
				return AX_OK;
		}
		if (++spins < 256) {
			cpu_relax();
			continue;
		}
		sched_yield();
		if ((spins & 1023) == 0 && timeout > 0 && now() - t0 > timeout)
			return timed_out(s, now() - t0);
	}
}
