/* test_shm_stall.c - the shared-memory gradient transport when a rank stalls.
 * Run under mpirun -np 2.
 *
 * Both ranks set up a grad sync over shared memory with a 1 s limit and run
 * one normal step (the sum must arrive on both). In the second step rank 1
 * stalls for 3 s before it publishes its gradients: rank 0's finish must fail
 * after about 1 s with an error that names rank 1 and the bucket, instead of
 * waiting forever. Rank 1, once awake, finds rank 0 gone from the step and
 * must fail too (naming rank 0). Then both tear down and exit, so the test
 * also shows that nothing hangs on the way out.
 *
 * Prints "N passed, M failed" and exits non-zero on failure. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "axon/axon.h"
#include "axon/dist.h"

#define CHECK(expr)                                                                   \
	do {                                                                          \
		enum ax_status st_ = (expr);                                          \
		if (st_) {                                                            \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
				ax_last_error());                                     \
			return 2;                                                     \
		}                                                                     \
	} while (0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct ax_dist *dist;
	struct ax_params *params;
	struct ax_grad_sync *sync;
	struct ax_tensor *w;
	const int64_t shape[1] = {1000};
	int rank, passed = 0, failed = 0;
	double t0, waited;
	enum ax_status st;
	const char *msg;
	char want[32];

	CHECK(ax_dist_init(&argc, &argv, &dist));
	rank = ax_dist_rank(dist);
	if (ax_dist_world(dist) != 2) {
		fprintf(stderr, "run with 2 ranks\n");
		return 2;
	}
	CHECK(ax_params_create(AX_CPU, &params));
	CHECK(ax_params_add(params, "fc.weight", 1, shape, 0, &w));
	CHECK(ax_params_finalize(params));
	CHECK(ax_grad_sync_create(dist, params, 0, &sync));
	ax_grad_sync_set_prescaled(sync, 1);
	ax_grad_sync_set_transport(sync, AX_GRAD_SHM);
	CHECK(ax_grad_sync_connect(sync));
	ax_grad_sync_set_timeout(sync, 1.0);

	/* Step 1: a normal all-reduce. */
	for (int i = 0; i < 1000; i++)
		((float *)w->grad->data)[i] = (float)(rank + 1) * (float)i;
	ax_grad_sync_begin(sync, 1);
	ax_grad_sync_ready(sync, w);
	CHECK(ax_grad_sync_finish(sync));
	if (((float *)w->grad->data)[999] == 3.0f * 999.0f)
		passed++;
	else {
		printf("rank %d: step 1 sum is %g, want %g\n", rank, ((float *)w->grad->data)[999],
		       3.0 * 999.0);
		failed++;
	}

	/* Step 2: rank 1 stalls before publishing. */
	ax_grad_sync_begin(sync, 1);
	if (rank == 1)
		sleep(3);
	ax_grad_sync_ready(sync, w);
	t0 = now();
	st = ax_grad_sync_finish(sync);
	waited = now() - t0;
	msg = ax_last_error();
	snprintf(want, sizeof(want), "for rank %d", 1 - rank);
	if (st == AX_ERR_IO && strstr(msg, want) && strstr(msg, "bucket 0 of 1") &&
	    waited > 0.9 && waited < 10.0) {
		passed++;
	} else {
		printf("rank %d: finish returned %s after %.1f s: %s (want AX_ERR_IO naming rank "
		       "%d after about 1 s)\n", rank, ax_status_name(st), waited, msg, 1 - rank);
		failed++;
	}
	if (rank == 0)
		printf("rank 0 said: %s\n", msg);
	ax_grad_sync_destroy(sync);
	/* The gradients are back in memory of the store's own and still usable. */
	CHECK(ax_params_zero_grad(params));
	ax_params_destroy(params);
	printf("rank %d: %d passed, %d failed\n", rank, passed, failed);
	ax_dist_finalize(dist);
	return failed ? 1 : 0;
}
