/* mlp_step.c - training-step throughput of the 784-256-128-10 MLP on the CPU.
 *
 * Measures one full step (zero_grad, forward with ReLU and dropout 0.2,
 * cross-entropy, backward, SGD with momentum, arena reset) at batch 64 and
 * 256 with 1 and 2 OpenBLAS threads, and reports samples/s and the share of
 * the step spent outside sgemm. Two GEMM figures:
 *   - in-step: this program defines cblas_sgemm itself, so the engine's calls
 *     land here, are timed, and are forwarded to OpenBLAS's (dlsym
 *     RTLD_NEXT). outside% = 1 - in-step sgemm time / step time: the engine's
 *     own overhead (elementwise kernels, optimizer, tape, arena).
 *   - alone: the step's exact sgemm calls (same shapes, transposes, beta)
 *     replayed back to back with everything hot in cache: what the GEMMs
 *     cost with no engine around them.
 * Each figure is the median of several timed repetitions; GEMM-alone and
 * full step runs alternate so that a change of machine speed hits both.
 *
 *   bench_mlp_step [--steps N] [--reps R] [--batch B] [--threads T]
 *
 * --batch / --threads restrict the run to one configuration (for profiling).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "axon/axon.h"

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

enum { IN = 784, H1 = 256, H2 = 128, OUT = 10, LAYERS = 3 };
static const int64_t sizes[LAYERS + 1] = {IN, H1, H2, OUT};

/* ---- timing interposer for cblas_sgemm ---- */
typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
			 const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
			 const float, const float *, const blasint, const float *, const blasint,
			 const float, float *, const blasint);
static sgemm_fn real_sgemm;
static double sgemm_seconds;
static int sgemm_timing;

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
		 const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N, const blasint K,
		 const float alpha, const float *A, const blasint lda, const float *B,
		 const blasint ldb, const float beta, float *C, const blasint ldc)
{
	struct timespec t0, t1;

	if (!real_sgemm) {
		real_sgemm = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
		if (!real_sgemm) {
			fprintf(stderr, "bench: cannot find OpenBLAS's cblas_sgemm\n");
			exit(1);
		}
	}
	if (!sgemm_timing) {
		real_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	real_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sgemm_seconds += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

struct model {
	struct ax_params *params;
	struct ax_tensor *w[LAYERS], *b[LAYERS];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void model_create(struct model *m)
{
	struct ax_rng rng;

	CHECK(ax_params_create(AX_CPU, &m->params));
	for (int l = 0; l < LAYERS; l++) {
		char name[32];
		int64_t ws[2] = {sizes[l + 1], sizes[l]};

		snprintf(name, sizeof(name), "fc%d.weight", l + 1);
		CHECK(ax_params_add(m->params, name, 2, ws, 0, &m->w[l]));
		snprintf(name, sizeof(name), "fc%d.bias", l + 1);
		CHECK(ax_params_add(m->params, name, 1, &sizes[l + 1], AX_PARAM_NO_DECAY, &m->b[l]));
	}
	CHECK(ax_params_finalize(m->params));
	ax_rng_init(&rng, 1);
	for (int l = 0; l < LAYERS; l++)
		CHECK(ax_init_he_uniform(m->w[l], &rng));
}

/* The two configurations measured: "plain" is the MLP with ReLU and plain
 * SGD; "full" adds dropout 0.2 after each hidden layer and momentum 0.9. */
static int full_model;

static float step(struct model *m, struct ax_ctx *ctx, struct ax_optimizer *sgd, float *x_data,
		  int32_t *y_data, int64_t batch)
{
	const int64_t xs[2] = {batch, IN};
	struct ax_tensor *x, *y, *h, *loss;
	float value;

	CHECK(ax_params_zero_grad(m->params));
	CHECK(ax_tensor_wrap(ctx, AX_F32, 2, xs, x_data, &x));
	CHECK(ax_tensor_wrap(ctx, AX_I32, 1, &batch, y_data, &y));
	h = x;
	for (int l = 0; l < LAYERS; l++) {
		CHECK(ax_linear(ctx, h, m->w[l], m->b[l], &h));
		if (l < LAYERS - 1) {
			CHECK(ax_relu(ctx, h, &h));
			if (full_model)
				CHECK(ax_dropout(ctx, h, 0.2f, &h));
		}
	}
	CHECK(ax_cross_entropy(ctx, h, y, NULL, &loss));
	CHECK(ax_backward(ctx, loss));
	CHECK(ax_optimizer_step(sgd, 0.01f));
	value = *(float *)loss->data;
	CHECK(ax_ctx_reset(ctx));
	return value;
}

/* The sgemm calls of one step, as axon's linear op makes them:
 * forward  Y(B,out) = X(B,in) W(out,in)^T + bias            (beta 1)
 * backward dW(out,in) += dY^T X ; dX(B,in) += dY W          (beta 1)
 * (no dX for the first layer: the input does not require a gradient). */
static void gemms_only(float *bufs[LAYERS + 1], float *grads[LAYERS + 1], float *w[LAYERS],
		       float *dw[LAYERS], int64_t batch)
{
	for (int l = 0; l < LAYERS; l++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)sizes[l + 1],
			    (int)sizes[l], 1.0f, bufs[l], (int)sizes[l], w[l], (int)sizes[l], 1.0f,
			    bufs[l + 1], (int)sizes[l + 1]);
	for (int l = LAYERS - 1; l >= 0; l--) {
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)sizes[l + 1], (int)sizes[l],
			    (int)batch, 1.0f, grads[l + 1], (int)sizes[l + 1], bufs[l], (int)sizes[l],
			    1.0f, dw[l], (int)sizes[l]);
		if (l > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch,
				    (int)sizes[l], (int)sizes[l + 1], 1.0f, grads[l + 1],
				    (int)sizes[l + 1], w[l], (int)sizes[l], 1.0f, grads[l],
				    (int)sizes[l]);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void machine_line(void)
{
	char line[256], model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");

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
	printf("machine: %s, %ld online cores\n", model, sysconf(_SC_NPROCESSORS_ONLN));
	printf("blas: %s\n", openblas_get_config());
	printf("axon: %s (%s)\n", ax_version(), ax_build_info());
}

int main(int argc, char **argv)
{
	int steps = 200, reps = 7;
	int64_t batches[] = {64, 256};
	int threads[] = {1, 2};
	size_t n_batches = 2, n_threads = 2;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--steps") == 0)
			steps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--batch") == 0) {
			batches[0] = atoll(argv[i + 1]);
			n_batches = 1;
		} else if (strcmp(argv[i], "--threads") == 0) {
			threads[0] = atoi(argv[i + 1]);
			n_threads = 1;
		}
	}
	machine_line();
	printf("model: 784-256-128-10, ReLU, cross-entropy; %d steps x %d reps, median\n"
	       "  plain: SGD;  full: dropout 0.2 after each hidden layer, SGD momentum 0.9\n\n",
	       steps, reps);
	printf("%6s ", "model");
	printf("%6s %7s %9s %13s %14s %11s %10s %11s\n", "batch", "threads", "step_ms",
	       "instep_gemm_ms", "alone_gemm_ms", "samples/s", "outside%", "vs_alone%");
	for (full_model = 0; full_model < 2; full_model++)
	for (size_t bi = 0; bi < n_batches; bi++) {
		for (size_t ti = 0; ti < n_threads; ti++) {
			int64_t batch = batches[bi];
			struct model m;
			struct ax_ctx *ctx;
			struct ax_optimizer *sgd;
			struct ax_optim_options so = {.kind = AX_OPTIM_SGD,
							.momentum = full_model ? 0.9f : 0.0f};
			struct ax_rng rng;
			float *x = malloc((size_t)(batch * IN) * sizeof(float));
			int32_t *y = malloc((size_t)batch * sizeof(int32_t));
			float *bufs[LAYERS + 1], *grads[LAYERS + 1], *w[LAYERS], *dw[LAYERS];
			double *t_step = calloc((size_t)reps, sizeof(double));
			double *t_gemm = calloc((size_t)reps, sizeof(double));
			double *t_instep = calloc((size_t)reps, sizeof(double));

			openblas_set_num_threads(threads[ti]);
			ax_rng_init(&rng, 7);
			ax_rng_uniform(&rng, x, batch * IN, 0.0f, 1.0f);
			for (int64_t i = 0; i < batch; i++)
				y[i] = (int32_t)(i % OUT);
			model_create(&m);
			CHECK(ax_ctx_create(NULL, &ctx));
			CHECK(ax_optimizer_create(m.params, &so, &sgd));
			for (int l = 0; l <= LAYERS; l++) {
				bufs[l] = calloc((size_t)(batch * sizes[l]), sizeof(float));
				grads[l] = calloc((size_t)(batch * sizes[l]), sizeof(float));
			}
			memcpy(bufs[0], x, (size_t)(batch * IN) * sizeof(float));
			for (int l = 0; l < LAYERS; l++) {
				w[l] = m.w[l]->data;
				dw[l] = calloc((size_t)(sizes[l] * sizes[l + 1]), sizeof(float));
				for (int64_t i = 0; i < batch * sizes[l + 1]; i++)
					grads[l + 1][i] = 1e-3f;
			}
			for (int i = 0; i < 20; i++) { /* warm-up: arena sized, pools spun up */
				step(&m, ctx, sgd, x, y, batch);
				gemms_only(bufs, grads, w, dw, batch);
			}
			for (int r = 0; r < reps; r++) {
				double t0 = now();

				for (int i = 0; i < steps; i++)
					gemms_only(bufs, grads, w, dw, batch);
				t_gemm[r] = (now() - t0) / steps;
				sgemm_seconds = 0;
				sgemm_timing = 1;
				t0 = now();
				for (int i = 0; i < steps; i++)
					step(&m, ctx, sgd, x, y, batch);
				t_step[r] = (now() - t0) / steps;
				sgemm_timing = 0;
				t_instep[r] = sgemm_seconds / steps;
			}
			qsort(t_step, (size_t)reps, sizeof(double), cmp_double);
			qsort(t_gemm, (size_t)reps, sizeof(double), cmp_double);
			{
				double ts, tg;

				qsort(t_instep, (size_t)reps, sizeof(double), cmp_double);
				ts = t_step[reps / 2];
				tg = t_gemm[reps / 2];
				printf("%6s %6lld %7d %9.4f %13.4f %14.4f %11.0f %9.1f%% %10.1f%%\n",
				       full_model ? "full" : "plain", (long long)batch, threads[ti], ts * 1e3, t_instep[reps / 2] * 1e3,
				       tg * 1e3, (double)batch / ts,
				       100.0 * (ts - t_instep[reps / 2]) / ts, 100.0 * (ts - tg) / ts);
			}
			free(t_instep);
			for (int l = 0; l <= LAYERS; l++) {
				free(bufs[l]);
				free(grads[l]);
			}
			for (int l = 0; l < LAYERS; l++)
				free(dw[l]);
			free(t_step);
			free(t_gemm);
			free(x);
			free(y);
			ax_optimizer_destroy(sgd);
			ax_ctx_destroy(ctx);
			ax_params_destroy(m.params);
		}
	}
	return 0;
}
