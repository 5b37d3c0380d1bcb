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

/* An MPI return code as an axon status ("dist: WHAT failed: MPI's text"). */
enum ax_status ax_dist_mpi_status(int code, const char *what);

#endif
