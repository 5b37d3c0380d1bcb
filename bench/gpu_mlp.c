/* gpu_mlp.c - one training step on one GPU: axon against cuBLAS alone.
 *
 * Times a full training step - zero_grad, forward, cross-entropy, backward,
 * AdamW (lr 1e-3, weight decay 1e-2, biases without decay), ax_ctx_reset -
 * of two models, with the parameters, the optimizer state and a fixed batch
 * resident on the GPU (no data loading on either side of the comparison):
 *   mlp  the Fashion-MNIST recipe 784-256-128-10, ReLU, dropout 0.2 after
 *        each hidden layer, at batch 64 and 256: small GEMMs, so the step is
 *        bound by kernel launches and the engine's own overhead;
 *   ffn  a transformer block's feed-forward part, 4096-16384-4096 (linear,
 *        GELU (tanh), linear; the 4096 outputs are the cross-entropy classes)
 *        at 4096 tokens: GEMM-bound, ~3 TFLOP per step;
 * each in f32 (no TF32) and in bf16 precision (matmul/linear operands in
 * bf16, f32 accumulation and master weights).
 *
 * Timing: W warm-up steps, then R repetitions of N steps each, N chosen so a
 * repetition lasts about --seconds. A repetition starts after a device sync
 * and ends with ax_tensor_download of the last step's loss, which waits for
 * everything queued (the public way to synchronise); the figure is the
 * repetition's time / N, the median over repetitions (and the fastest).
 * Host clock only, no CUDA events: the same method as the PyTorch side
 * (bench/gpu_mlp_torch.py, torch.cuda.synchronize()).
 *
 * GEMM work: per linear layer of M rows, K inputs, N outputs, the forward
 * GEMM, the weight gradient and (except for the first layer, whose input
 * needs no gradient) the input gradient: 2MNK FLOPs each, so 6MNK per layer
 * (4MNK for the first). TFLOP/s = those FLOPs / step time. For comparison the
 * same GEMMs (same shapes, transposes and precisions, f32 outputs) are
 * replayed back to back through cuBLAS directly (cublasGemmEx, compute type
 * 32F: no TF32) on buffers of their own, timed the same way, in repetitions
 * alternating with the step's: "share" is cuBLAS-alone time / step time, the
 * fraction of the step the GEMMs would take with no engine around them.
 *
 *   bench_gpu_mlp [--model mlp|ffn] [--batch B] [--precision f32|bf16]
 *                 [--reps R] [--warmup W] [--seconds S] [--ffn-hidden H]
 *
 * Without options every configuration runs. The last line of each is
 * "RESULT key=value ..." for bench/gpu_mlp.sh. A build without CUDA, or a
 * machine without a GPU, prints why and exits 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon/axon.h"

#ifdef AXON_BENCH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CHECK(expr)                                                                          \
	do {                                                                                 \
		enum ax_status st_ = (expr);                                                 \
		if (st_ != AX_OK) {                                                          \
			fprintf(stderr, "gpu_mlp: %s failed: %s\n", #expr, ax_last_error());  \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

#define CUDA_CHECK(expr)                                                                     \
	do {                                                                                 \
		cudaError_t err_ = (expr);                                                   \
		if (err_ != cudaSuccess) {                                                   \
			fprintf(stderr, "gpu_mlp: %s failed: %s\n", #expr,                    \
				cudaGetErrorString(err_));                                   \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

#define CUBLAS_CHECK(expr)                                                                   \
	do {                                                                                 \
		cublasStatus_t err_ = (expr);                                                \
		if (err_ != CUBLAS_STATUS_SUCCESS) {                                         \
			fprintf(stderr, "gpu_mlp: %s failed: cuBLAS status %d\n", #expr,      \
				(int)err_);                                                  \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

#define GPU ((struct ax_device){AX_DEVICE_CUDA, 0})
#define MAX_LAYERS 3

enum activation { ACT_RELU, ACT_GELU };

struct model_spec {
	const char *name;
	int n_layers;
	int64_t dims[MAX_LAYERS + 1]; /* in, hidden..., out */
	enum activation act;
	float dropout;                /* after each hidden activation; 0 = none */
	int64_t batches[2];
	int n_batches;
};

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

static void *xmalloc(size_t bytes)
{
	void *p = malloc(bytes ? bytes : 1);

	if (!p) {
		fprintf(stderr, "gpu_mlp: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

/* GEMM FLOPs of one training step (see the header). */
static double gemm_flops(const struct model_spec *m, int64_t rows)
{
	double total = 0;

	for (int l = 0; l < m->n_layers; l++) {
		double mnk = (double)rows * (double)m->dims[l] * (double)m->dims[l + 1];

		total += (l == 0 ? 4.0 : 6.0) * mnk;
	}
	return total;
}

/* ---- the axon step ---- */

struct axon_run {
	const struct model_spec *m;
	int64_t rows;
	struct ax_params *params;
	struct ax_optimizer *opt;
	struct ax_ctx *ctx;
	struct ax_tensor *x, *y;                 /* (rows, in) f32, (rows) i32, on the GPU */
	struct ax_tensor *w[MAX_LAYERS], *b[MAX_LAYERS];
};

/* PyTorch's default Linear init range, U(-1/sqrt(in), 1/sqrt(in)), drawn on
 * the host and uploaded. */
static void upload_uniform(struct ax_tensor *t, struct ax_rng *rng, float bound)
{
	int64_t n = ax_tensor_numel(t);
	float *host = xmalloc((size_t)n * sizeof(float));

	ax_rng_uniform(rng, host, n, -bound, bound);
	CHECK(ax_tensor_upload(t, host, (size_t)n * sizeof(float)));
	free(host);
}

static void axon_setup(struct axon_run *r, const struct model_spec *m, int64_t rows,
		       enum ax_precision precision)
{
	struct ax_optim_options oo = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_ctx_options co = {.device = GPU, .seed = 1, .precision = precision};
	const int64_t xs[2] = {rows, m->dims[0]};
	int64_t classes = m->dims[m->n_layers];
	struct ax_rng rng;
	int32_t *labels;

	memset(r, 0, sizeof(*r));
	r->m = m;
	r->rows = rows;
	ax_rng_init(&rng, 1);
	CHECK(ax_params_create(GPU, &r->params));
	for (int l = 0; l < m->n_layers; l++) {
		const int64_t ws[2] = {m->dims[l + 1], m->dims[l]}, bs[1] = {m->dims[l + 1]};
		char name[32];

		snprintf(name, sizeof(name), "fc%d.weight", l + 1);
		CHECK(ax_params_add(r->params, name, 2, ws, 0, &r->w[l]));
		snprintf(name, sizeof(name), "fc%d.bias", l + 1);
		CHECK(ax_params_add(r->params, name, 1, bs, AX_PARAM_NO_DECAY, &r->b[l]));
	}
	CHECK(ax_params_finalize(r->params));
	for (int l = 0; l < m->n_layers; l++) {
		float bound = 1.0f / sqrtf((float)m->dims[l]);

		upload_uniform(r->w[l], &rng, bound);
		upload_uniform(r->b[l], &rng, bound);
	}
	oo.weight_decay = 1e-2f;
	CHECK(ax_optimizer_create(r->params, &oo, &r->opt));
	CHECK(ax_ctx_create(&co, &r->ctx));

	CHECK(ax_tensor_create(AX_F32, GPU, 2, xs, &r->x));
	upload_uniform(r->x, &rng, 1.0f);
	CHECK(ax_tensor_create(AX_I32, GPU, 1, &rows, &r->y));
	labels = xmalloc((size_t)rows * sizeof(int32_t));
	for (int64_t i = 0; i < rows; i++) {
		uint32_t w;

		ax_rng_u32(&rng, &w, 1);
		labels[i] = (int32_t)(w % (uint32_t)classes);
	}
	CHECK(ax_tensor_upload(r->y, labels, (size_t)rows * sizeof(int32_t)));
	free(labels);
}

static void axon_teardown(struct axon_run *r)
{
	ax_ctx_destroy(r->ctx);
	ax_optimizer_destroy(r->opt);
	ax_params_destroy(r->params);
	ax_tensor_destroy(r->x);
	ax_tensor_destroy(r->y);
}

/* One training step; with `sync` it waits for the GPU (downloads the loss). */
static float axon_step(struct axon_run *r, int sync)
{
	const struct model_spec *m = r->m;
	struct ax_tensor *h = r->x, *loss;
	float value = 0;

	CHECK(ax_params_zero_grad(r->params));
	for (int l = 0; l < m->n_layers; l++) {
		CHECK(ax_linear(r->ctx, h, r->w[l], r->b[l], &h));
		if (l == m->n_layers - 1)
			break;
		if (m->act == ACT_RELU)
			CHECK(ax_relu(r->ctx, h, &h));
		else
			CHECK(ax_gelu(r->ctx, h, AX_GELU_TANH, &h));
		if (m->dropout > 0)
			CHECK(ax_dropout(r->ctx, h, m->dropout, &h));
	}
	CHECK(ax_cross_entropy(r->ctx, h, r->y, NULL, &loss));
	CHECK(ax_backward(r->ctx, loss));
	CHECK(ax_optimizer_step(r->opt, 1e-3f));
	if (sync)
		CHECK(ax_tensor_download(loss, &value, sizeof(value)));
	CHECK(ax_ctx_reset(r->ctx));
	return value;
}

/* Seconds per step over n steps, ending with a sync (the previous call ended
 * with one too, so the clock starts on an idle GPU). */
static double axon_time(struct axon_run *r, int n)
{
	double t0 = now();

	for (int i = 0; i < n; i++)
		axon_step(r, i == n - 1);
	return (now() - t0) / n;
}

/* ---- the same GEMMs through cuBLAS alone ---- */

struct gemm_call {
	cublasOperation_t ta, tb;
	int m, n, k, lda, ldb, ldc;
	const void *A, *B;
	void *C;
	float beta;
};

struct replay {
	cublasHandle_t handle;
	cudaDataType_t in_type;       /* CUDA_R_32F or CUDA_R_16BF */
	int n_calls, n_bufs;
	struct gemm_call call[3 * MAX_LAYERS];
	void *buf[6 * MAX_LAYERS];
};

static void *replay_buffer(struct replay *rp, size_t elems, size_t elem_bytes)
{
	void *p;

	CUDA_CHECK(cudaMalloc(&p, elems * elem_bytes));
	/* 0x3c bytes: 0.0115 as f32 (0x3c3c3c3c) and as bf16 (0x3c3c): ordinary
	 * small numbers, no denormals or NaNs to disturb the timing. */
	CUDA_CHECK(cudaMemset(p, 0x3c, elems * elem_bytes));
	rp->buf[rp->n_bufs++] = p;
	return p;
}

static void add_call(struct replay *rp, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
		     int k, const void *A, int lda, const void *B, int ldb, void *C, int ldc,
		     float beta)
{
	rp->call[rp->n_calls++] = (struct gemm_call){ta, tb, m, n, k, lda, ldb, ldc, A, B, C, beta};
}

/* Row-major shapes, as the engine sees them, mapped onto column-major cuBLAS
 * (a row-major (r, c) matrix is a column-major (c, r) one, leading dim c):
 *   forward  Y (M,N) = X (M,K) W^T        gemm(T, N; N, M, K; W, X -> Y)
 *   input    dX (M,K) = dY (M,N) W (N,K)  gemm(N, N; K, M, N; W, dY -> dX)
 *   weight   dW (N,K) += dY^T X           gemm(N, T; K, N, M; X, dY -> dW), beta 1
 * Operands are in_type (bf16 in bf16 mode); outputs are f32. */
static void replay_setup(struct replay *rp, const struct model_spec *m, int64_t rows, int bf16)
{
	size_t in_bytes = bf16 ? 2 : 4;

	memset(rp, 0, sizeof(*rp));
	rp->in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
	CUBLAS_CHECK(cublasCreate(&rp->handle));
	CUBLAS_CHECK(cublasSetMathMode(rp->handle, CUBLAS_DEFAULT_MATH));
	for (int l = 0; l < m->n_layers; l++) {
		int M = (int)rows, K = (int)m->dims[l], N = (int)m->dims[l + 1];
		void *x = replay_buffer(rp, (size_t)M * K, in_bytes);  /* (M, K) */
		void *w = replay_buffer(rp, (size_t)N * K, in_bytes);  /* (N, K) */
		void *y = replay_buffer(rp, (size_t)M * N, 4);         /* (M, N) */
		void *dy = replay_buffer(rp, (size_t)M * N, in_bytes); /* (M, N) */
		void *dw = replay_buffer(rp, (size_t)N * K, 4);        /* (N, K) */

		add_call(rp, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w, K, x, K, y, N, 0.0f);
		if (l > 0) {
			void *dx = replay_buffer(rp, (size_t)M * K, 4); /* (M, K) */

			add_call(rp, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w, K, dy, N, dx, K, 0.0f);
		}
		add_call(rp, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, x, K, dy, N, dw, K, 1.0f);
	}
}

static void replay_run(const struct replay *rp)
{
	const float alpha = 1.0f;

	for (int c = 0; c < rp->n_calls; c++) {
		const struct gemm_call *g = &rp->call[c];

		CUBLAS_CHECK(cublasGemmEx(rp->handle, g->ta, g->tb, g->m, g->n, g->k, &alpha, g->A,
					  rp->in_type, g->lda, g->B, rp->in_type, g->ldb, &g->beta,
					  g->C, CUDA_R_32F, g->ldc, CUBLAS_COMPUTE_32F,
					  CUBLAS_GEMM_DEFAULT));
	}
}

static double replay_time(const struct replay *rp, int n)
{
	double t0 = now();

	for (int i = 0; i < n; i++)
		replay_run(rp);
	CUDA_CHECK(cudaDeviceSynchronize());
	return (now() - t0) / n;
}

static void replay_teardown(struct replay *rp)
{
	for (int i = 0; i < rp->n_bufs; i++)
		cudaFree(rp->buf[i]);
	cublasDestroy(rp->handle);
}

/* ---- one configuration ---- */

static void run_config(const struct model_spec *m, int64_t rows, enum ax_precision precision,
		       int reps, int warmup, double seconds)
{
	const char *prec = precision == AX_PRECISION_BF16 ? "bf16" : "f32";
	double flops = gemm_flops(m, rows), estimate, step_med, gemm_med;
	double *t_step = xmalloc((size_t)reps * sizeof(double));
	double *t_gemm = xmalloc((size_t)reps * sizeof(double));
	struct axon_run r;
	struct replay rp;
	int steps;
	float loss = 0;

	axon_setup(&r, m, rows, precision);
	replay_setup(&rp, m, rows, precision == AX_PRECISION_BF16);
	for (int i = 0; i < warmup; i++)
		loss = axon_step(&r, i == warmup - 1);
	for (int i = 0; i < warmup; i++)
		replay_run(&rp);
	CUDA_CHECK(cudaDeviceSynchronize());
	estimate = axon_time(&r, 3);
	steps = (int)(seconds / estimate);
	steps = steps < 3 ? 3 : steps > 2000 ? 2000 : steps;
	for (int i = 0; i < reps; i++) {
		t_gemm[i] = replay_time(&rp, steps);
		t_step[i] = axon_time(&r, steps);
	}
	loss = axon_step(&r, 1);
	qsort(t_step, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_gemm, (size_t)reps, sizeof(double), cmp_double);
	step_med = t_step[reps / 2];
	gemm_med = t_gemm[reps / 2];
	printf("%s %s batch %lld: step %.4f ms (fastest %.4f), GEMMs %.2f GFLOP -> %.2f TFLOP/s; "
	       "cuBLAS alone %.4f ms = %.2f TFLOP/s, %.1f%% of the step; %d reps x %d steps, "
	       "loss %.4f\n",
	       m->name, prec, (long long)rows, step_med * 1e3, t_step[0] * 1e3, flops * 1e-9,
	       flops / step_med * 1e-12, gemm_med * 1e3, flops / gemm_med * 1e-12,
	       100.0 * gemm_med / step_med, reps, steps, (double)loss);
	printf("RESULT side=axon model=%s batch=%lld precision=%s step_ms=%.4f best_step_ms=%.4f "
	       "gemm_gflop=%.3f tflops=%.3f cublas_ms=%.4f cublas_tflops=%.3f share_pct=%.1f "
	       "steps=%d reps=%d\n",
	       m->name, (long long)rows, prec, step_med * 1e3, t_step[0] * 1e3, flops * 1e-9,
	       flops / step_med * 1e-12, gemm_med * 1e3, flops / gemm_med * 1e-12,
	       100.0 * gemm_med / step_med, steps, reps);
	fflush(stdout);
	replay_teardown(&rp);
	axon_teardown(&r);
	free(t_step);
	free(t_gemm);
}

static void machine_lines(void)
{
	struct cudaDeviceProp prop;
	int runtime = 0, driver = 0, blas = 0;
	cublasHandle_t h;

	CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
	cudaRuntimeGetVersion(&runtime);
	cudaDriverGetVersion(&driver);
	if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
		cublasGetVersion(h, &blas);
		cublasDestroy(h);
	}
	printf("gpu: %s, compute capability %d.%d, %d SMs, %.1f GiB\n", prop.name, prop.major,
	       prop.minor, prop.multiProcessorCount,
	       (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
	printf("cuda: runtime %d.%d, driver %d.%d, cuBLAS %d\n", runtime / 1000,
	       runtime % 1000 / 10, driver / 1000, driver % 1000 / 10, blas);
	printf("axon: %s (%s)\n", ax_version(), ax_build_info());
}

int main(int argc, char **argv)
{
	static struct model_spec models[] = {
		{"mlp", 3, {784, 256, 128, 10}, ACT_RELU, 0.2f, {64, 256}, 2},
		{"ffn", 2, {4096, 16384, 4096}, ACT_GELU, 0.0f, {4096}, 1},
	};
	const char *only_model = NULL, *only_prec = NULL;
	int64_t batch = 0;
	int reps = 7, warmup = 20;
	double seconds = 0.25;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "gpu_mlp: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "--model") == 0)
			only_model = v;
		else if (strcmp(a, "--batch") == 0)
			batch = atoll(v);
		else if (strcmp(a, "--precision") == 0)
			only_prec = v;
		else if (strcmp(a, "--reps") == 0)
			reps = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			warmup = atoi(v);
		else if (strcmp(a, "--seconds") == 0)
			seconds = atof(v);
		else if (strcmp(a, "--ffn-hidden") == 0)
			models[1].dims[1] = atoll(v);
		else {
			fprintf(stderr, "usage: %s [--model mlp|ffn] [--batch B] "
				"[--precision f32|bf16] [--reps R] [--warmup W] [--seconds S] "
				"[--ffn-hidden H]\n", argv[0]);
			return 2;
		}
		i++;
	}
	if (reps < 1 || warmup < 1 || !(seconds > 0) || models[1].dims[1] < 1 || batch < 0) {
		fprintf(stderr, "gpu_mlp: reps, warmup, seconds and --ffn-hidden must be > 0\n");
		return 2;
	}
	if (!ax_cuda_available()) {
		printf("gpu_mlp: no GPU: no usable CUDA device (axon %s, %s); nothing to measure\n",
		       ax_version(), ax_build_info());
		return 0;
	}
	machine_lines();
	printf("timing: %d warm-up steps, then the median of %d repetitions of ~%.2f s, each "
	       "from an idle GPU to ax_tensor_download of the last loss; cuBLAS-alone "
	       "repetitions alternate with them\n", warmup, reps, seconds);
	printf("ffn: 4096-%lld-4096, GELU (tanh), cross-entropy over the 4096 outputs\n",
	       (long long)models[1].dims[1]);
	for (size_t mi = 0; mi < sizeof(models) / sizeof(models[0]); mi++) {
		const struct model_spec *m = &models[mi];

		if (only_model && strcmp(only_model, m->name) != 0)
			continue;
		for (int p = 0; p < 2; p++) {
			enum ax_precision prec = p ? AX_PRECISION_BF16 : AX_PRECISION_F32;

			if (only_prec && strcmp(only_prec, p ? "bf16" : "f32") != 0)
				continue;
			if (batch > 0) {
				run_config(m, batch, prec, reps, warmup, seconds);
				continue;
			}
			for (int b = 0; b < m->n_batches; b++)
				run_config(m, m->batches[b], prec, reps, warmup, seconds);
		}
	}
	return 0;
}

#else /* !AXON_BENCH_CUDA */

int main(void)
{
	printf("gpu_mlp: this axon was built without CUDA (%s); nothing to measure "
	       "(configure with -DAXON_CUDA=ON on a machine with the CUDA toolkit)\n",
	       ax_build_info());
	return 0;
}

#endif
