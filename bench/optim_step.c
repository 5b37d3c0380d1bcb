/* optim_step.c - time of one optimizer step over the 784-256-128-10 MLP's parameters.
 *
 * The optimizer pass is memory-bound: it streams the flat weight, gradient
 * and state buffers once per step. This measures ax_optimizer_step for plain
 * SGD, SGD with momentum, Adam and AdamW over the 235,146 parameters of the
 * Fashion-MNIST MLP (weights decay, biases are AX_PARAM_NO_DECAY, as a model
 * registers them), plus ax_grad_norm and ax_clip_grad_norm (made to clip
 * at every call, so both of its passes run). Each figure is the median over several
 * repetitions of many back-to-back steps, with the buffers hot in cache as
 * they are right after backward; the effective bandwidth counts each array
 * read or written once per step.
 *
 *   bench_optim_step [--steps N] [--reps R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "axon/axon.h"

#define CHECK(expr)                                                                  \
	do {                                                                         \
		enum ax_status st_ = (expr);                                         \
		if (st_ != AX_OK) {                                                  \
			fprintf(stderr, "bench: %s failed: %s\n", #expr, ax_last_error()); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

enum { LAYERS = 3 };
static const int64_t sizes[LAYERS + 1] = {784, 256, 128, 10};

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
	printf("axon: %s (%s)\n", ax_version(), ax_build_info());
}

static struct ax_params *mlp_params(void)
{
	struct ax_params *params;
	struct ax_rng rng;
	struct ax_tensor *t;

	CHECK(ax_params_create(AX_CPU, &params));
	for (int l = 0; l < LAYERS; l++) {
		char name[32];
		int64_t ws[2] = {sizes[l + 1], sizes[l]};

		snprintf(name, sizeof(name), "fc%d.weight", l + 1);
		CHECK(ax_params_add(params, name, 2, ws, 0, &t));
		snprintf(name, sizeof(name), "fc%d.bias", l + 1);
		CHECK(ax_params_add(params, name, 1, &sizes[l + 1], AX_PARAM_NO_DECAY, &t));
	}
	CHECK(ax_params_finalize(params));
	ax_rng_init(&rng, 1);
	ax_rng_uniform(&rng, ax_params_data(params), ax_params_size(params), -0.05f, 0.05f);
	ax_rng_uniform(&rng, ax_params_grad(params), ax_params_size(params), -0.01f, 0.01f);
	return params;
}

/* What is timed: one optimizer step, or a norm / clip pass. */
enum job { JOB_OPTIM, JOB_NORM, JOB_CLIP };

/* The norm the last clip saw; the next clip limits to just below it, so
 * that every call scales (both passes run) while the gradients shrink only
 * by 1e-5 per call. */
static double clip_norm;

static void run_job(enum job job, struct ax_optimizer *opt, struct ax_params *params)
{
	double norm;

	switch (job) {
	case JOB_OPTIM:
		CHECK(ax_optimizer_step(opt, 1e-3f));
		break;
	case JOB_NORM:
		CHECK(ax_grad_norm(params, &norm));
		break;
	case JOB_CLIP:
		if (clip_norm == 0)
			CHECK(ax_grad_norm(params, &clip_norm));
		CHECK(ax_clip_grad_norm(params, (float)(clip_norm * 0.99999), &clip_norm));
		break;
	}
}

int main(int argc, char **argv)
{
	struct {
		const char *name;
		enum job job;
		struct ax_optim_options options;
		int arrays; /* arrays streamed per step (each read or written once) */
	} cases[] = {
		{"sgd", JOB_OPTIM, {.kind = AX_OPTIM_SGD}, 3},                     /* w, g -> w */
		{"sgd momentum 0.9", JOB_OPTIM, {.kind = AX_OPTIM_SGD, .momentum = 0.9f}, 5},
		{"adam", JOB_OPTIM, ax_optim_defaults(AX_OPTIM_ADAM), 7},            /* w,g,m,v -> w,m,v */
		{"adamw", JOB_OPTIM, ax_optim_defaults(AX_OPTIM_ADAMW), 7},
		{"grad_norm", JOB_NORM, {.kind = AX_OPTIM_SGD}, 1},
		{"clip_grad_norm", JOB_CLIP, {.kind = AX_OPTIM_SGD}, 3},           /* norm; g -> g */
	};
	int steps = 2000, reps = 9;
	struct ax_params *params;
	double *t;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--steps") == 0)
			steps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
	}
	if (steps < 1 || reps < 1) {
		fprintf(stderr, "bench: --steps and --reps must be >= 1\n");
		return 1;
	}
	machine_line();
	params = mlp_params();
	printf("parameters: 784-256-128-10 MLP, %lld floats (%lld with slice padding); "
	       "%d steps x %d reps, median\n\n", (long long)ax_params_numel(params),
	       (long long)ax_params_size(params), steps, reps);
	printf("%-18s %12s %12s\n", "step", "us/step", "GB/s");
	t = calloc((size_t)reps, sizeof(double));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ax_optimizer *opt;
		double median, bytes;

		CHECK(ax_optimizer_create(params, &cases[c].options, &opt));
		for (int i = 0; i < 100; i++) /* warm-up: caches, page faults of the state */
			run_job(cases[c].job, opt, params);
		for (int r = 0; r < reps; r++) {
			double t0 = now();

			for (int i = 0; i < steps; i++)
				run_job(cases[c].job, opt, params);
			t[r] = (now() - t0) / steps;
		}
		qsort(t, (size_t)reps, sizeof(double), cmp_double);
		median = t[reps / 2];
		bytes = (double)cases[c].arrays * (double)ax_params_numel(params) * sizeof(float);
		printf("%-18s %12.1f %12.1f\n", cases[c].name, median * 1e6, bytes / median * 1e-9);
		ax_optimizer_destroy(opt);
	}
	free(t);
	ax_params_destroy(params);
	return 0;
}
