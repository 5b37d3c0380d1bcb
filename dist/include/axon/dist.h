/* axon/dist.h - data-parallel communication: the communicator, small
 * collectives for agreement and metrics, and the bucketed gradient all-reduce
 * that overlaps with backward.
 *
 * One process per device. Rank, world size and local rank come from MPI
 * (the local rank through a shared-memory split of MPI_COMM_WORLD), so the
 * same binary runs under mpirun, srun --mpi=pmix or alone (an MPI singleton,
 * world of 1). The CPU path all-reduces host buffers with MPI; the NCCL path
 * plugs in behind the same struct ax_grad_sync.
 *
 * Errors are values; ax_dist_abort is the one call that ends the whole job
 * (used by launch/ when a rank fails mid-run, so its peers do not hang). */
#ifndef AXON_DIST_H
#define AXON_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "axon/params.h"
#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ax_dist;

/* ax_dist_init - initialise MPI (once per process; MPI_THREAD_FUNNELED: only
 * the calling thread makes MPI calls) and find rank, world and local rank.
 * Errors: AX_ERR_IO when MPI cannot start. */
enum ax_status ax_dist_init(int *argc, char ***argv, struct ax_dist **out);

/* ax_dist_finalize - finalize MPI and free; NULL is a no-op. */
void ax_dist_finalize(struct ax_dist *dist);

int ax_dist_rank(const struct ax_dist *dist);
int ax_dist_world(const struct ax_dist *dist);
int ax_dist_local_rank(const struct ax_dist *dist);
int ax_dist_local_world(const struct ax_dist *dist);

/* ax_dist_threads - CPU threads this rank should use: the cores in its
 * affinity mask; when the mask is the whole node (ranks not bound) shared by
 * several local ranks, an even share of the node's cores (at least 1). */
int ax_dist_threads(const struct ax_dist *dist);

/* ax_dist_broadcast - root's `bytes` at buf to every rank. */
enum ax_status ax_dist_broadcast(struct ax_dist *dist, void *buf, size_t bytes, int root);

/* ax_dist_sum_f64 / ax_dist_sum_i64 - in-place sums of n values over ranks. */
enum ax_status ax_dist_sum_f64(struct ax_dist *dist, double *values, int64_t n);
enum ax_status ax_dist_sum_i64(struct ax_dist *dist, int64_t *values, int64_t n);

/* ax_dist_agree - every rank states whether it is fine; *all_ok is 1 only if
 * every rank is, and *first_bad is the lowest failing rank (-1 if none). A
 * rank that failed passes ok = 0 and still calls this, so nobody hangs. */
enum ax_status ax_dist_agree(struct ax_dist *dist, int ok, int *all_ok, int *first_bad);

/* ax_dist_check_same - every rank passes `value` (a hash of what must agree:
 * the config, the model); AX_ERR_INVALID on every rank if any differs, with a
 * message naming `what`, the first rank that differs from rank 0 and both
 * values. */
enum ax_status ax_dist_check_same(struct ax_dist *dist, uint64_t value, const char *what);

/* ax_dist_abort - end the whole job now with `code` (MPI_Abort). */
void ax_dist_abort(struct ax_dist *dist, int code);

/* ---- gradient all-reduce ---- */

struct ax_grad_sync;

struct ax_grad_sync_stats {
	int buckets;
	int64_t early_starts;  /* buckets started from the hook, during backward (all
				* but the last, which finish() always reduces) */
	int64_t late_starts;   /* buckets before the last that finish() had to start
				* (parameters unused this step) */
	double wait_seconds;   /* time finish() spent waiting for the last buckets */
	int64_t bytes;         /* gradient bytes reduced per step */
};

/* ax_grad_sync_create - buckets of about `bucket_bytes` (0: the default) over
 * the flat gradient buffer of `params` (finalized), each a contiguous slice
 * made of whole layers (parameters "L.weight", "L.bias" of one layer L stay
 * together; a layer larger than bucket_bytes is a bucket of its own), in
 * layout order - the order backward finishes them. Every bucket but the last
 * is all-reduced from the grad-ready hook, during backward; the last one, final
 * only when backward ends, by finish() with a blocking all-reduce.
 * Errors: AX_ERR_INVALID, AX_ERR_NOMEM. */
enum ax_status ax_grad_sync_create(struct ax_dist *dist, struct ax_params *params,
				   size_t bucket_bytes, struct ax_grad_sync **out);
void ax_grad_sync_destroy(struct ax_grad_sync *sync);

/* The bucket size used when 0 is asked for. bench/allreduce.c (bench/RESULTS.md,
 * "Data-parallel"): with 2 ranks, 1 MiB buckets reach 97-100% of one plain
 * MPI_Allreduce from 512 KiB to 16 MiB of gradients and 2-3x at 64 MiB (each
 * bucket is reduced while in cache), where 256 KiB buckets (the first
 * default) stayed at 70-83% below 8 MiB: each extra collective costs a
 * round of synchronisation that a small bucket does not pay back. */
#define AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES ((size_t)1 << 20)

/* ax_grad_sync_set_prescaled - with prescaled = 1 the caller has multiplied
 * its loss by ax_grad_sync_loss_scale() (1 / world), so every local gradient
 * arrives already divided and finish() only sums: the average without a
 * scaling pass over the gradients. Exact for power-of-two world sizes; within
 * rounding otherwise. Default 0: the buckets are scaled here. */
void ax_grad_sync_set_prescaled(struct ax_grad_sync *sync, int prescaled);
float ax_grad_sync_loss_scale(const struct ax_grad_sync *sync);

/* ax_grad_sync_begin - start a backward pass whose gradients are to be
 * averaged over ranks (communicate = 1), or one whose gradients only
 * accumulate locally (communicate = 0: a micro-batch before the last). */
void ax_grad_sync_begin(struct ax_grad_sync *sync, int communicate);

/* ax_grad_sync_ready - the context's grad-ready hook (install with
 * ax_ctx_set_grad_ready(ctx, ax_grad_sync_ready, sync)): when every
 * parameter of a bucket is final, its all-reduce starts. */
void ax_grad_sync_ready(void *sync, struct ax_tensor *param);

/* ax_grad_sync_finish - start buckets not started yet (parameters unused this
 * step), wait for all, and leave the average over ranks in the gradient
 * buffer. Errors: AX_ERR_IO (an MPI failure). */
enum ax_status ax_grad_sync_finish(struct ax_grad_sync *sync);

void ax_grad_sync_stats(const struct ax_grad_sync *sync, struct ax_grad_sync_stats *stats);

/* ax_grad_sync_connect - collective: every rank calls it once after create.
 * For parameters on GPUs (and more than one rank) it makes the NCCL
 * communicator (rank 0's unique id goes out by MPI_Bcast); for CPU ones it
 * sets up the shared-memory transport when chosen (see
 * ax_grad_sync_set_transport); without it the MPI path is used.
 * Kept apart from create so that a rank failing its set-up never leaves the
 * others waiting inside it. Errors: AX_ERR_IO naming the NCCL call, or (with
 * AX_GRAD_SHM) why shared memory cannot be used. */
enum ax_status ax_grad_sync_connect(struct ax_grad_sync *sync);

/* How CPU gradients travel between ranks (GPU ones always use NCCL). */
enum ax_grad_transport {
	AX_GRAD_AUTO = 0, /* shared memory when every rank is on one node, else MPI */
	AX_GRAD_MPI,      /* MPI all-reduces per bucket */
	AX_GRAD_SHM,      /* shared memory (dist/shm.c); connect fails when the
			   * ranks span nodes or /dev/shm has no room */
};

/* ax_grad_sync_set_transport - choose before ax_grad_sync_connect (every rank
 * the same; default AX_GRAD_AUTO, which falls back to MPI, with a reason in
 * ax_grad_sync_transport_note, when shared memory cannot be set up). */
void ax_grad_sync_set_transport(struct ax_grad_sync *sync, enum ax_grad_transport transport);

/* The transport in use after connect: "shm", "mpi", "nccl", or "none" (one
 * rank); and why AUTO fell back to MPI ("" if it did not). */
const char *ax_grad_sync_transport_name(const struct ax_grad_sync *sync);
const char *ax_grad_sync_transport_note(const struct ax_grad_sync *sync);

/* ax_grad_sync_set_timeout - how long finish() waits for the other ranks
 * before it fails naming the phase (and on GPUs aborts the NCCL
 * communicator); with shared memory, it also names the missing rank
 * (seconds <= 0: forever; default 600). Plain MPI relies on the watchdog. */
void ax_grad_sync_set_timeout(struct ax_grad_sync *sync, double seconds);

/* ax_dist_pick_gpu - the GPU this rank drives: its local rank (ranks on one
 * node take GPUs 0, 1, ... of those CUDA_VISIBLE_DEVICES leaves visible).
 * Errors: AX_ERR_DEVICE when the node has more ranks than visible GPUs or
 * none at all (naming rank, local rank, host and count), AX_ERR_UNSUPPORTED
 * in a build without CUDA. */
enum ax_status ax_dist_pick_gpu(const struct ax_dist *dist, int *index);

#ifdef __cplusplus
}
#endif
#endif
