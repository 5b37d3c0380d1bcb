/* test_mpi_equivalence.c - N data-parallel ranks train the same model as one
 * rank with the whole batch. Run under mpirun -np N (ctest does it for
 * N = 1..4).
 *
 * Every rank builds the same MLP (dropout off) and the same synthetic data.
 * For K steps, rank r takes its contiguous share of each global batch of 12,
 * runs forward/backward with the real bucketed all-reduce (small buckets, so
 * several overlap with backward), and steps the optimizer. Rank 0 also trains
 * a second copy of the model in-process on the whole batch, without MPI. The
 * parameters must agree to within the rounding of a different summation
 * order: |a - b| <= 1e-6 + 1e-5 |b| for SGD with momentum and for AdamW,
 * after K = 8 steps (measured differences are ~1e-7; a wrong average, a
 * missing bucket or a gradient from the wrong rank is off by 1e-2 or more).
 * A second phase checks gradient accumulation: with 3 micro-batches per step
 * only the last communicates, and the result still matches. A last phase
 * divides the loss by the world size and lets the sync only sum
 * (ax_grad_sync_set_prescaled), as axon train does. Every phase runs twice:
 * over MPI all-reduces and over the shared-memory transport (dist/shm.c),
 * which must also leave bit-identical parameters on every rank.
 *
 * Prints "N passed, M failed" and exits non-zero on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/axon.h"
#include "axon/dist.h"

enum { IN = 10, HID = 16, OUT = 4, GLOBAL = 12, STEPS = 8, SAMPLES = GLOBAL * STEPS };

static float xs[SAMPLES][IN];
static int32_t ys[SAMPLES];

#define CHECK(expr)                                                                    \
	do {                                                                           \
		enum ax_status st_ = (expr);                                           \
		if (st_) {                                                             \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,  \
				ax_last_error());                                      \
			exit(2);                                                       \
		}                                                                      \
	} while (0)

static struct ax_model *make_model(void)
{
	struct ax_layer_spec L[4];
	struct ax_model *m;
	const int64_t shape[1] = {IN};

	ax_layer_spec_default(&L[0], AX_LAYER_LINEAR, "fc1");
	L[0].out_features = HID;
	ax_layer_spec_default(&L[1], AX_LAYER_TANH, "act1");
	ax_layer_spec_default(&L[2], AX_LAYER_LAYER_NORM, "norm1");
	ax_layer_spec_default(&L[3], AX_LAYER_LINEAR, "fc2");
	L[3].out_features = OUT;
	CHECK(ax_model_create(L, 4, 1, shape, 7, &m));
	return m;
}

/* Forward + backward on rows [first, first + n) of step `step`, with the loss
 * scaled so that summing over parts gives the mean over the global batch. */
static void part(struct ax_model *m, struct ax_ctx *ctx, int step, int first, int n, float scale)
{
	const int64_t xshape[2] = {n, IN}, yshape[1] = {n};
	struct ax_tensor *x, *y, *out, *loss, *scaled;
	int row = step * GLOBAL + first;

	CHECK(ax_tensor_wrap(ctx, AX_F32, 2, xshape, xs[row], &x));
	CHECK(ax_tensor_wrap(ctx, AX_I32, 1, yshape, &ys[row], &y));
	CHECK(ax_model_forward(m, ctx, x, &out));
	CHECK(ax_cross_entropy(ctx, out, y, NULL, &loss));
	CHECK(ax_mul_scalar(ctx, loss, scale, &scaled));
	CHECK(ax_backward(ctx, scaled));
	CHECK(ax_ctx_reset(ctx));
}

/* Train `m` for STEPS steps; with sync, as rank r of world with `micro`
 * micro-batches per step; without, on the whole batch in one piece. */
static void train(struct ax_model *m, struct ax_optimizer *opt, struct ax_ctx *ctx,
		  struct ax_grad_sync *sync, int rank, int world, int micro, float loss_scale)
{
	for (int step = 0; step < STEPS; step++) {
		CHECK(ax_params_zero_grad(ax_model_params(m)));
		if (!sync) {
			part(m, ctx, step, 0, GLOBAL, 1.0f);
		} else {
			int share = GLOBAL / world, piece = share / micro;

			for (int k = 0; k < micro; k++) {
				ax_grad_sync_begin(sync, k == micro - 1);
				part(m, ctx, step, rank * share + k * piece, piece,
				     loss_scale / (float)micro);
			}
			CHECK(ax_grad_sync_finish(sync));
		}
		CHECK(ax_optimizer_step(opt, 0.05f));
	}
}

static int compare(struct ax_model *a, struct ax_model *b, const char *what)
{
	const float *pa = ax_params_data(ax_model_params(a)), *pb = ax_params_data(ax_model_params(b));
	int64_t n = ax_params_size(ax_model_params(a));
	double worst = 0;

	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)pa[i] - pb[i]), allowed = 1e-6 + 1e-5 * fabs((double)pb[i]);

		if (d / allowed > worst)
			worst = d / allowed;
	}
	printf("%s: worst difference is %.3g of the tolerance\n", what, worst);
	return worst <= 1.0;
}

int main(void)
{
	struct ax_dist *dist;
	struct ax_rng rng;
	int passed = 0, failed = 0, rank, world;

	CHECK(ax_dist_init(NULL, NULL, &dist));
	rank = ax_dist_rank(dist);
	world = ax_dist_world(dist);
	if (GLOBAL % world != 0) {
		fprintf(stderr, "run with 1, 2, 3, 4 or 6 ranks\n");
		return 2;
	}
	ax_rng_init(&rng, 2026);
	ax_rng_uniform(&rng, &xs[0][0], SAMPLES * IN, -1.0f, 1.0f);
	for (int i = 0; i < SAMPLES; i++)
		ys[i] = (int32_t)((xs[i][0] > 0) + 2 * (xs[i][1] > 0));

	for (int run = 0; run < 8; run++) {
		/* phase 0: SGD momentum; 1: AdamW; 2: AdamW with 2 micro-batches; 3: AdamW
		 * with the loss divided by world and a sync that only sums (prescaled,
		 * as axon train runs it); each over MPI, then over shared memory */
		int phase = run % 4;
		enum ax_grad_transport transport = run < 4 ? AX_GRAD_MPI : AX_GRAD_SHM;
		struct ax_optim_options oo = ax_optim_defaults(phase == 0 ? AX_OPTIM_SGD : AX_OPTIM_ADAMW);
		const char *names[4] = {"sgd momentum", "adamw", "adamw, 2 micro-batches",
					"adamw, prescaled loss"};
		int micro = phase == 2 && (GLOBAL / world) % 2 == 0 ? 2 : 1;
		struct ax_model *m = make_model();
		struct ax_optimizer *opt;
		struct ax_grad_sync *sync;
		struct ax_ctx *ctx;
		int ok = 1;

		if (phase == 0)
			oo.momentum = 0.9f;
		CHECK(ax_optimizer_create(ax_model_params(m), &oo, &opt));
		CHECK(ax_ctx_create(NULL, &ctx));
		/* 64-byte buckets: one per layer (3), two in flight during backward. */
		CHECK(ax_grad_sync_create(dist, ax_model_params(m), 64, &sync));
		ax_ctx_set_grad_ready(ctx, ax_grad_sync_ready, sync);
		ax_grad_sync_set_prescaled(sync, phase == 3);
		ax_grad_sync_set_transport(sync, transport);
		CHECK(ax_grad_sync_connect(sync));
		if (world > 1 && strcmp(ax_grad_sync_transport_name(sync),
					transport == AX_GRAD_SHM ? "shm" : "mpi") != 0) {
			printf("rank %d: transport %s, asked for %s\n", rank,
			       ax_grad_sync_transport_name(sync), transport == AX_GRAD_SHM ? "shm" : "mpi");
			ok = 0;
		}
		train(m, opt, ctx, sync, rank, world, micro,
		      phase == 3 ? ax_grad_sync_loss_scale(sync) : 1.0f);
		if (world > 1) {
			/* Every bucket but the last (over MPI reduced by finish(); over
			 * shared memory every one) started from the hook while backward ran. */
			struct ax_grad_sync_stats gs;
			int early = transport == AX_GRAD_SHM ? 0 : 1;

			ax_grad_sync_stats(sync, &gs);
			if (gs.late_starts != 0 ||
			    gs.early_starts != (int64_t)(gs.buckets - early) * STEPS || gs.buckets < 3) {
				printf("rank %d: %d buckets, %lld starts during backward, %lld after "
				       "(want >= 3, %d and 0)\n", rank, gs.buckets,
				       (long long)gs.early_starts, (long long)gs.late_starts,
				       (gs.buckets - early) * STEPS);
				ok = 0;
			}
		}
		if (rank == 0) {
			struct ax_model *ref = make_model();
			struct ax_optimizer *ref_opt;
			struct ax_ctx *ref_ctx;
			char what[128];

			CHECK(ax_optimizer_create(ax_model_params(ref), &oo, &ref_opt));
			CHECK(ax_ctx_create(NULL, &ref_ctx));
			train(ref, ref_opt, ref_ctx, NULL, 0, 1, 1, 1.0f);
			snprintf(what, sizeof(what), "%s, %s, %d rank(s) vs 1 rank with the whole "
				 "batch", names[phase], transport == AX_GRAD_SHM ? "shm" : "mpi", world);
			ok &= compare(m, ref, what);
			ax_optimizer_destroy(ref_opt);
			ax_ctx_destroy(ref_ctx);
			ax_model_destroy(ref);
		}
		/* Every rank must hold the same parameters. */
		{
			float *p = ax_params_data(ax_model_params(m));
			int64_t n = ax_params_size(ax_model_params(m));
			double sum = 0, sums[2];

			for (int64_t i = 0; i < n; i++)
				sum += p[i] * (double)(i % 7 + 1);
			sums[0] = sum;
			sums[1] = sum * sum;
			CHECK(ax_dist_sum_f64(dist, sums, 2));
			/* Equal values on all ranks: sum^2 * world == (sum of sums)^2. */
			if (fabs(sums[1] * world - sums[0] * sums[0]) > 1e-9 * fabs(sums[1] * world) + 1e-12) {
				printf("rank %d: parameters differ between ranks\n", rank);
				ok = 0;
			}
		}
		{
			int all_ok, first_bad;

			CHECK(ax_dist_agree(dist, ok, &all_ok, &first_bad));
			if (all_ok)
				passed++;
			else
				failed++;
		}
		ax_grad_sync_destroy(sync);
		ax_ctx_destroy(ctx);
		ax_optimizer_destroy(opt);
		ax_model_destroy(m);
	}
	if (rank == 0)
		printf("%d passed, %d failed\n", passed, failed);
	ax_dist_finalize(dist);
	return failed ? 1 : 0;
}
