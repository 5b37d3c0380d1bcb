/* dist_internal.h - what the dist/ files share. */
#ifndef AXON_DIST_INTERNAL_H
#define AXON_DIST_INTERNAL_H

#include <mpi.h>

#include "axon/dist.h"

struct ax_dist {
	int rank, world, local_rank, local_world;
	int we_initialized;
	MPI_Comm local;
};

/* cuda/nccl.c (cuda/stub.c without CUDA): the GPU transport of grad_sync.c.
 * create: one communicator over MPI_COMM_WORLD on GPU `device` (the unique id
 *   travels by MPI_Bcast; collective over all ranks).
 * start: all-reduce buf[0..count) in place on the comm stream, after the
 *   work queued so far on the compute stream; average = 1 divides by world.
 * finish: order the compute stream after every started all-reduce and wait
 *   for them, polling NCCL's asynchronous error and the time limit
 *   (timeout_seconds <= 0: none); on either it aborts the communicator. */
struct ax_nccl;
enum ax_status ax_nccl_create(struct ax_dist *dist, int device, struct ax_nccl **out);
void ax_nccl_destroy(struct ax_nccl *n);
enum ax_status ax_nccl_start(struct ax_nccl *n, float *buf, int64_t count, int average);
enum ax_status ax_nccl_finish(struct ax_nccl *n, double timeout_seconds);

/* shm.c: the all-reduce of ranks that all share one node (see there).
 * create: collective; moves `params`' gradients into a mapping shared by the
 *   ranks; buckets[b] = {start, end) float offsets. Errors: AX_ERR_IO (no
 *   room in /dev/shm: the caller falls back to MPI), AX_ERR_NOMEM.
 * begin: a new step whose sums are multiplied by scale (1: prescaled loss);
 * ready: bucket b is final here (reduces what it can);
 * finish: (every bucket made ready) reduce what is left, wait for every
 *   rank's part; after `timeout_seconds` (<= 0: never) an error naming the rank. */
struct ax_shm;
enum ax_status ax_shm_create(struct ax_dist *dist, struct ax_params *params,
			     const int64_t (*buckets)[2], int n_buckets, struct ax_shm **out);
void ax_shm_destroy(struct ax_shm *s);
void ax_shm_begin(struct ax_shm *s, float scale);
void ax_shm_ready(struct ax_shm *s, int bucket);
enum ax_status ax_shm_finish(struct ax_shm *s, double timeout_seconds);

/* An MPI return code as an axon status ("dist: WHAT failed: MPI's text"). */
enum ax_status ax_dist_mpi_status(int code, const char *what);

#endif
