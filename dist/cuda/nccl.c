/* dist/cuda/nccl.c - gradient buckets all-reduced with NCCL on a GPU.
 *
 * One NCCL communicator over MPI_COMM_WORLD, one rank per GPU. Rank 0 makes
 * the unique id and MPI_Bcast hands it to the others; ncclCommInitRank then
 * connects them (it blocks until every rank has called it).
 *
 * Ordering without device-wide syncs: the grad-ready hook fires on the host,
 * usually before the GPU has computed the bucket's gradients (the host runs
 * ahead of the compute stream). So start() records an event on the compute
 * stream - it completes once everything queued so far, that bucket's
 * gradients included, has run - makes the comm stream wait for it and queues
 * the all-reduce there. The compute stream goes on with earlier layers'
 * backward meanwhile: that is the overlap. finish() records an event on the
 * comm stream after the last all-reduce and makes the compute stream wait for
 * it, so the optimizer pass sees averaged gradients.
 *
 * Failure: a rank that dies or a broken link leaves NCCL kernels spinning
 * forever. finish() therefore waits by polling: the event, NCCL's
 * asynchronous error (ncclCommGetAsyncError) and a time limit. On an error or
 * the limit it aborts the communicator (ncclCommAbort, which frees the stuck
 * kernels) and returns an error naming the phase, so the trainer ends the job
 * and the launcher can restart it. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../core/cuda/cuda_internal.h"
#include "../dist_internal.h"
#include "axon/alloc.h"

struct ax_nccl {
	ncclComm_t comm;
	int device;
	int aborted;
	cudaEvent_t ready;   /* on compute: gradients of the bucket queued so far */
	cudaEvent_t done;    /* on comm: every all-reduce of this step */
	struct ax_cuda_dev *dev;
};

static enum ax_status nccl_status(ncclResult_t r, const char *what)
{
	if (r == ncclSuccess)
		return AX_OK;
	return AX_ERROR(AX_ERR_IO, "dist: %s failed: %s (NCCL %d)%s", what, ncclGetErrorString(r),
			(int)r, r == ncclRemoteError ? "; a peer rank failed or exited" : "");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum ax_status ax_nccl_create(struct ax_dist *dist, int device, struct ax_nccl **out)
{
	struct ax_nccl *n;
	ncclUniqueId id;
	enum ax_status st;
	int rc;

	*out = NULL;
	n = ax_calloc(1, sizeof(*n));
	if (!n)
		return AX_ERR_NOMEM;
	n->device = device;
	st = ax_cuda_dev_open(device, &n->dev);
	if (!st && dist->rank == 0)
		st = nccl_status(ncclGetUniqueId(&id), "ncclGetUniqueId");
	/* Every rank joins the broadcast, rank 0 even after a failure (with a
	 * zeroed id the others then fail in ncclCommInitRank, not hang here). */
	if (st && dist->rank == 0)
		memset(&id, 0, sizeof(id));
	rc = MPI_Bcast(&id, (int)sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
	if (!st && rc != MPI_SUCCESS)
		st = ax_dist_mpi_status(rc, "MPI_Bcast (NCCL unique id)");
	if (!st)
		st = AX_CUDA_CHECK(cudaSetDevice(device));
	if (!st)
		st = nccl_status(ncclCommInitRank(&n->comm, dist->world, id, dist->rank),
				 "ncclCommInitRank");
	if (!st)
		st = AX_CUDA_CHECK(cudaEventCreateWithFlags(&n->ready, cudaEventDisableTiming));
	if (!st)
		st = AX_CUDA_CHECK(cudaEventCreateWithFlags(&n->done, cudaEventDisableTiming));
	if (st) {
		ax_nccl_destroy(n);
		return st;
	}
	*out = n;
	return AX_OK;
}

void ax_nccl_destroy(struct ax_nccl *n)
{
	if (!n)
		return;
	if (n->comm) {
		if (n->aborted)
			ncclCommAbort(n->comm);
		else
			ncclCommDestroy(n->comm);
	}
	if (n->ready)
		cudaEventDestroy(n->ready);
	if (n->done)
		cudaEventDestroy(n->done);
	ax_free(n);
}

enum ax_status ax_nccl_start(struct ax_nccl *n, float *buf, int64_t count, int average)
{
	enum ax_status st;

	if (n->aborted)
		return AX_ERROR(AX_ERR_IO, "dist: the NCCL communicator was aborted earlier");
	st = AX_CUDA_CHECK(cudaEventRecord(n->ready, n->dev->compute));
	if (!st)
		st = AX_CUDA_CHECK(cudaStreamWaitEvent(n->dev->comm, n->ready, 0));
	if (!st)
		st = nccl_status(ncclAllReduce(buf, buf, (size_t)count, ncclFloat,
					       average ? ncclAvg : ncclSum, n->comm, n->dev->comm),
				 "ncclAllReduce (gradients)");
	return st;
}

enum ax_status ax_nccl_finish(struct ax_nccl *n, double timeout_seconds)
{
	double t0 = now(), waited;
	enum ax_status st;
	cudaError_t q;

	if (n->aborted)
		return AX_ERROR(AX_ERR_IO, "dist: the NCCL communicator was aborted earlier");
	st = AX_CUDA_CHECK(cudaEventRecord(n->done, n->dev->comm));
	if (st)
		return st;
	for (;;) {
		ncclResult_t async = ncclSuccess;

		q = cudaEventQuery(n->done);
		if (q == cudaSuccess)
			break;
		if (q != cudaErrorNotReady)
			return ax_cuda_error_at(q, "cudaEventQuery (gradient all-reduce)", __FILE__,
						__LINE__);
		if (ncclCommGetAsyncError(n->comm, &async) != ncclSuccess || async != ncclSuccess) {
			ncclCommAbort(n->comm);
			n->comm = NULL;
			n->aborted = 1;
			return AX_ERROR(AX_ERR_IO, "dist: the gradient all-reduce failed in NCCL: %s; "
					"the communicator was aborted (a peer rank died or a link "
					"failed)", ncclGetErrorString(async));
		}
		waited = now() - t0;
		if (timeout_seconds > 0 && waited > timeout_seconds) {
			ncclCommAbort(n->comm);
			n->comm = NULL;
			n->aborted = 1;
			return AX_ERROR(AX_ERR_IO, "dist: the gradient all-reduce made no progress for "
					"%.0f s; the NCCL communicator was aborted (is a peer rank "
					"hung or dead?)", waited);
		}
		/* Spin briefly, then yield: most waits are microseconds. */
		if (waited > 1e-3) {
			struct timespec pause = {0, 50000};

			nanosleep(&pause, NULL);
		}
	}
	return AX_CUDA_CHECK(cudaStreamWaitEvent(n->dev->compute, n->done, 0));
}
