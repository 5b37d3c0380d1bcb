/* comm.c - the communicator: MPI start-up, rank layout, small collectives.
 *
 * Errors from MPI are returned, not fatal: MPI_COMM_WORLD gets
 * MPI_ERRORS_RETURN and every code is converted with MPI_Error_string. The
 * local rank comes from splitting MPI_COMM_WORLD by shared memory, so no
 * launcher-specific environment variable is needed. The agreement calls
 * (ax_dist_agree, ax_dist_check_same) exist so that a problem seen by one
 * rank during set-up ends every rank cleanly instead of leaving the others
 * blocked in the next collective. */
#define _GNU_SOURCE
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/alloc.h"
#include "axon/device.h"
#include "dist_internal.h"

enum ax_status ax_dist_mpi_status(int code, const char *what)
{
	char text[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (code == MPI_SUCCESS)
		return AX_OK;
	MPI_Error_string(code, text, &len);
	text[len < 0 ? 0 : len] = '\0';
	return AX_ERROR(AX_ERR_IO, "dist: %s failed: %s", what, text);
}

enum ax_status ax_dist_init(int *argc, char ***argv, struct ax_dist **out)
{
	struct ax_dist *d;
	int initialized = 0, provided = 0, rc;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_dist_init: out is NULL");
	d = ax_calloc(1, sizeof(*d));
	if (!d)
		return AX_ERR_NOMEM;
	MPI_Initialized(&initialized);
	if (!initialized) {
		/* Open MPI's non-blocking all-reduce (coll/libnbc; every gradient bucket
		 * but the last uses it) picks a binomial reduce + broadcast for in-place
		 * buffers and for fewer than 4 ranks: two transfers one after the other
		 * where its ring needs one (bench/allreduce.c). Ask for the ring, unless
		 * the user chose (OMPI_MCA_... in the environment or mpirun --mca, which
		 * sets it). Other MPIs ignore the variable. */
		setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
		rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
		if (rc != MPI_SUCCESS) {
			ax_free(d);
			return AX_ERROR(AX_ERR_IO, "dist: MPI_Init_thread failed (code %d); is this "
					"process started by mpirun or srun --mpi=pmix?", rc);
		}
		d->we_initialized = 1;
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d->world);
	rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
				 &d->local);
	if (rc != MPI_SUCCESS) {
		enum ax_status st = ax_dist_mpi_status(rc, "MPI_Comm_split_type");

		ax_dist_finalize(d);
		return st;
	}
	MPI_Comm_rank(d->local, &d->local_rank);
	MPI_Comm_size(d->local, &d->local_world);
	*out = d;
	return AX_OK;
}

void ax_dist_finalize(struct ax_dist *d)
{
	int finalized = 0;

	if (!d)
		return;
	if (d->local != MPI_COMM_NULL && d->local != 0)
		MPI_Comm_free(&d->local);
	MPI_Finalized(&finalized);
	if (d->we_initialized && !finalized)
		MPI_Finalize();
	ax_free(d);
}

int ax_dist_rank(const struct ax_dist *d)
{
	return d ? d->rank : 0;
}

int ax_dist_world(const struct ax_dist *d)
{
	return d ? d->world : 1;
}

int ax_dist_local_rank(const struct ax_dist *d)
{
	return d ? d->local_rank : 0;
}

int ax_dist_local_world(const struct ax_dist *d)
{
	return d ? d->local_world : 1;
}

int ax_dist_threads(const struct ax_dist *d)
{
	cpu_set_t set;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int mine = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : (int)online;
	int local = ax_dist_local_world(d);

	if (mine < 1)
		mine = 1;
	/* Unbound ranks all see the whole node: give each an even share. */
	if (local > 1 && mine >= online)
		mine = (int)(online / local);
	return mine < 1 ? 1 : mine;
}

enum ax_status ax_dist_broadcast(struct ax_dist *d, void *buf, size_t bytes, int root)
{
	char *p = buf;

	if (!d || d->world == 1)
		return AX_OK;
	/* MPI counts are int: send in pieces of at most 1 GiB. */
	while (bytes > 0) {
		int n = bytes > ((size_t)1 << 30) ? 1 << 30 : (int)bytes;
		int rc = MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD);

		if (rc != MPI_SUCCESS)
			return ax_dist_mpi_status(rc, "MPI_Bcast");
		p += n;
		bytes -= (size_t)n;
	}
	return AX_OK;
}

enum ax_status ax_dist_sum_f64(struct ax_dist *d, double *values, int64_t n)
{
	if (!d || d->world == 1 || n == 0)
		return AX_OK;
	return ax_dist_mpi_status(MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_DOUBLE, MPI_SUM,
						MPI_COMM_WORLD), "MPI_Allreduce");
}

enum ax_status ax_dist_sum_i64(struct ax_dist *d, int64_t *values, int64_t n)
{
	if (!d || d->world == 1 || n == 0)
		return AX_OK;
	return ax_dist_mpi_status(MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_INT64_T, MPI_SUM,
						MPI_COMM_WORLD), "MPI_Allreduce");
}

enum ax_status ax_dist_agree(struct ax_dist *d, int ok, int *all_ok, int *first_bad)
{
	int in[2], result[2], rc;

	*all_ok = ok != 0;
	*first_bad = ok ? -1 : ax_dist_rank(d);
	if (!d || d->world == 1)
		return AX_OK;
	/* MIN over ranks of: ok, and (ok ? world : rank). */
	in[0] = ok != 0;
	in[1] = ok ? d->world : d->rank;
	rc = MPI_Allreduce(in, result, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS)
		return ax_dist_mpi_status(rc, "MPI_Allreduce (agree)");
	*all_ok = result[0];
	*first_bad = result[0] ? -1 : result[1];
	return AX_OK;
}

enum ax_status ax_dist_check_same(struct ax_dist *d, uint64_t value, const char *what)
{
	uint64_t *all;
	enum ax_status st = AX_OK;
	int rc;

	if (!d || d->world == 1)
		return AX_OK;
	all = ax_alloc(sizeof(uint64_t) * (size_t)d->world);
	if (!all)
		return AX_ERR_NOMEM;
	rc = MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS)
		st = ax_dist_mpi_status(rc, "MPI_Allgather");
	for (int r = 1; !st && r < d->world; r++)
		if (all[r] != all[0])
			st = AX_ERROR(AX_ERR_INVALID, "dist: rank %d has a different %s than rank 0 "
				      "(%016llx vs %016llx); every rank must start the same job with the "
				      "same files", r, what, (unsigned long long)all[r],
				      (unsigned long long)all[0]);
	ax_free(all);
	return st;
}

void ax_dist_abort(struct ax_dist *d, int code)
{
	(void)d;
	MPI_Abort(MPI_COMM_WORLD, code);
}

enum ax_status ax_dist_pick_gpu(const struct ax_dist *d, int *index)
{
	int count = ax_cuda_count();
	char host[256] = "?";

	*index = -1;
	if (count < 0)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "rank %d: device = cuda, but this axon was built "
				"without CUDA; rebuild with -DAXON_CUDA=ON or set device = cpu",
				d->rank);
	gethostname(host, sizeof(host) - 1);
	if (count == 0)
		return AX_ERROR(AX_ERR_DEVICE, "rank %d on %s: device = cuda, but no GPU is visible "
				"(CUDA_VISIBLE_DEVICES=%s); set device = cpu or run on a GPU node",
				d->rank, host, getenv("CUDA_VISIBLE_DEVICES") ?
				getenv("CUDA_VISIBLE_DEVICES") : "unset");
	if (d->local_rank >= count)
		return AX_ERROR(AX_ERR_DEVICE, "rank %d on %s is local rank %d of %d, but only %d "
				"GPU(s) are visible there (CUDA_VISIBLE_DEVICES=%s): run at most one "
				"rank per GPU (mpirun -np %d per node, or srun --gpus-per-task=1)",
				d->rank, host, d->local_rank, d->local_world, count,
				getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset",
				count);
	*index = d->local_rank;
	return AX_OK;
}
