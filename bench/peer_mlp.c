/* peer_mlp.c - the axon side of the PyTorch peer benchmark (issue 4).
 *
 * Trains the Fashion-MNIST MLP recipe of examples/fashion_mnist_mlp
 * (784-256-128-10, ReLU, dropout 0.2 after each hidden layer, cross-entropy,
 * AdamW lr 1e-3 weight decay 1e-2, biases without decay) through the
 * library API (ax_model, ax_optimizer) on the real training images, read
 * once with zlib's gzread from the IDX files and normalised in memory as
 * float32 with the training set's mean and standard deviation. Every step
 * gathers its batch from that preloaded array in a shuffled order (a new
 * permutation each epoch), so the work per step is what
 * bench/peer_mlp_torch.py does on the PyTorch side, which reads the very
 * same floats from the .npy files this program writes (--write-data).
 *
 * Modes:
 *   bench_peer_mlp --write-data DIR [--source IDXDIR]
 *       write DIR/{train,test}_{x,y}.npy: the normalised float32 images
 *       (N, 784) and int32 labels (N), for the PyTorch side.
 *   bench_peer_mlp [--batch B] [--threads T] [--steps N] [--reps R] [--warmup W]
 *       throughput: W warm-up steps, then R repetitions of N timed steps;
 *       prints the median step time and samples/s (and the fastest
 *       repetition's, the least disturbed on a shared host). The same run also times
 *       the GEMM-only bound: the step's exact cblas_sgemm calls (recorded
 *       from a real step: shapes, transposes, leading dimensions, beta)
 *       replayed back to back on hot buffers with nothing else around them,
 *       in repetitions alternating with the step repetitions so that a change
 *       of machine speed hits both. share = step throughput / GEMM-only
 *       throughput. The engine's own sgemm time inside the step is timed too
 *       (this program defines cblas_sgemm and forwards to OpenBLAS's, found
 *       with dlsym(RTLD_NEXT), as bench/mlp_step.c does).
 *   bench_peer_mlp --train-epochs E [--batch B] [--threads T] [--seed S]
 *       the accuracy check: E epochs with the recipe's cosine schedule (over
 *       all steps, to 0, as config.ini), then the accuracy on the 10,000
 *       test images in evaluation mode.
 *   bench_peer_mlp --profile-steps N [--batch B] [--threads T]
 *       N training steps and nothing else after the warm-up (for perf record).
 *   --zero-grad fused|separate (any mode)
 *       fused (default, as axon train): ax_optimizer_step_clear leaves the
 *       gradients zero for the next step; separate: ax_params_zero_grad
 *       before each step and ax_optimizer_step (the memset pass).
 *
 * Threading: axon has exactly one thread pool, OpenBLAS's own pthreads, sized
 * with openblas_set_num_threads(T); its elementwise kernels, the optimizer and
 * the data gathering run on the calling thread. There is no OpenMP.
 *
 * The last line of a throughput run is one "RESULT key=value ..." line for
 * bench/peer_mlp.sh. */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "axon/axon.h"

char *openblas_get_config(void);

#define CHECK(expr)                                                                          \
	do {                                                                                 \
		enum ax_status st_ = (expr);                                                 \
		if (st_ != AX_OK) {                                                          \
			fprintf(stderr, "peer_mlp: %s failed: %s\n", #expr, ax_last_error()); \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

enum { IN = 784, H1 = 256, H2 = 128, OUT = 10, MAX_CALLS = 64 };

/* ---- data: IDX files through gzread, normalised once ---- */

struct dataset {
	int64_t n;
	float *x;     /* (n, IN) normalised */
	int32_t *y;   /* (n) */
};

static void gz_read_all(gzFile f, const char *path, void *buf, size_t bytes)
{
	unsigned char *p = buf;

	while (bytes > 0) {
		unsigned want = bytes > (1u << 30) ? (1u << 30) : (unsigned)bytes;
		int got = gzread(f, p, want);

		if (got <= 0) {
			fprintf(stderr, "peer_mlp: %s: truncated or unreadable IDX file\n", path);
			exit(1);
		}
		p += got;
		bytes -= (size_t)got;
	}
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads an IDX file of unsigned bytes with `ndim` dimensions; returns the
 * bytes and the first dimension in *n (the others must multiply to `row`). */
static unsigned char *read_idx_u8(const char *path, int ndim, int64_t row, int64_t *n)
{
	unsigned char head[16];
	int64_t count, per = 1;
	unsigned char *data;
	gzFile f = gzopen(path, "rb");

	if (!f) {
		fprintf(stderr, "peer_mlp: cannot open %s\n", path);
		exit(1);
	}
	gz_read_all(f, path, head, (size_t)(4 + 4 * ndim));
	if (head[0] || head[1] || head[2] != 0x08 || head[3] != ndim) {
		fprintf(stderr, "peer_mlp: %s is not a %d-D IDX file of unsigned bytes\n", path, ndim);
		exit(1);
	}
	count = be32(head + 4);
	for (int d = 1; d < ndim; d++)
		per *= be32(head + 4 + 4 * d);
	if (per != row) {
		fprintf(stderr, "peer_mlp: %s: %lld values per sample, expected %lld\n", path,
			(long long)per, (long long)row);
		exit(1);
	}
	data = malloc((size_t)(count * row));
	if (!data) {
		fprintf(stderr, "peer_mlp: out of memory reading %s\n", path);
		exit(1);
	}
	gz_read_all(f, path, data, (size_t)(count * row));
	gzclose(f);
	*n = count;
	return data;
}

/* Loads train and test; both normalised as (p / 255 - mean) / std with the
 * mean and standard deviation of the training pixels (computed in double),
 * as axon's loader does with the statistics axon data convert stores. */
static void load_fashion_mnist(const char *dir, struct dataset *train, struct dataset *test)
{
	static const char *const files[4] = {"train-images-idx3-ubyte.gz",
					     "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
					     "t10k-labels-idx1-ubyte.gz"};
	struct dataset *sets[2] = {train, test};
	double sum = 0, sum_sq = 0, mean, std;
	unsigned char *pixels[2];

	for (int s = 0; s < 2; s++) {
		char path[1024];
		int64_t n_labels;
		unsigned char *labels;

		snprintf(path, sizeof(path), "%s/%s", dir, files[2 * s]);
		pixels[s] = read_idx_u8(path, 3, IN, &sets[s]->n);
		snprintf(path, sizeof(path), "%s/%s", dir, files[2 * s + 1]);
		labels = read_idx_u8(path, 1, 1, &n_labels);
		if (n_labels != sets[s]->n) {
			fprintf(stderr, "peer_mlp: %s has %lld labels for %lld images\n", path,
				(long long)n_labels, (long long)sets[s]->n);
			exit(1);
		}
		sets[s]->y = malloc((size_t)n_labels * sizeof(int32_t));
		sets[s]->x = malloc((size_t)(sets[s]->n * IN) * sizeof(float));
		if (!sets[s]->y || !sets[s]->x) {
			fprintf(stderr, "peer_mlp: out of memory\n");
			exit(1);
		}
		for (int64_t i = 0; i < n_labels; i++)
			sets[s]->y[i] = labels[i];
		free(labels);
	}
	for (int64_t i = 0; i < train->n * IN; i++) {
		double v = pixels[0][i] / 255.0;

		sum += v;
		sum_sq += v * v;
	}
	mean = sum / (double)(train->n * IN);
	std = sqrt(sum_sq / (double)(train->n * IN) - mean * mean);
	for (int s = 0; s < 2; s++) {
		for (int64_t i = 0; i < sets[s]->n * IN; i++)
			sets[s]->x[i] = (float)((pixels[s][i] / 255.0 - mean) / std);
		free(pixels[s]);
	}
}

/* A NumPy .npy (format 1.0) of a C-order array; header padded to 64 bytes. */
static void write_npy(const char *path, const char *descr, int ndim, const int64_t *shape,
		      const void *data, size_t bytes)
{
	char header[128];
	int len, total;
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
	FILE *f = fopen(path, "wb");

	if (!f) {
		fprintf(stderr, "peer_mlp: cannot write %s\n", path);
		exit(1);
	}
	if (ndim == 1)
		len = snprintf(header, sizeof(header),
			       "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
			       (long long)shape[0]);
	else
		len = snprintf(header, sizeof(header),
			       "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
			       descr, (long long)shape[0], (long long)shape[1]);
	total = (10 + len + 1 + 63) / 64 * 64;
	while (10 + len + 1 < total)
		header[len++] = ' ';
	header[len++] = '\n';
	pre[8] = (unsigned char)(len & 0xff);
	pre[9] = (unsigned char)(len >> 8);
	if (fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)len, f) != (size_t)len ||
	    fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
		fprintf(stderr, "peer_mlp: short write to %s\n", path);
		exit(1);
	}
}

static void write_data(const char *dir, const struct dataset *train, const struct dataset *test)
{
	const struct dataset *sets[2] = {train, test};
	static const char *const names[2] = {"train", "test"};

	for (int s = 0; s < 2; s++) {
		char path[1024];
		int64_t shape[2] = {sets[s]->n, IN};

		snprintf(path, sizeof(path), "%s/%s_x.npy", dir, names[s]);
		write_npy(path, "<f4", 2, shape, sets[s]->x, (size_t)(shape[0] * IN) * sizeof(float));
		snprintf(path, sizeof(path), "%s/%s_y.npy", dir, names[s]);
		write_npy(path, "<i4", 1, shape, sets[s]->y, (size_t)shape[0] * sizeof(int32_t));
	}
	printf("wrote %s/{train,test}_{x,y}.npy: %lld + %lld samples\n", dir,
	       (long long)train->n, (long long)test->n);
}

/* ---- cblas_sgemm interposer: timing and recording ---- */

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
			 const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
			 const float, const float *, const blasint, const float *, const blasint,
			 const float, float *, const blasint);

struct sgemm_call {
	enum CBLAS_TRANSPOSE ta, tb;
	blasint M, N, K, lda, ldb, ldc;
	float alpha, beta;
	const float *A, *B;
	float *C;
};

static sgemm_fn real_sgemm;
static double sgemm_seconds;
static int sgemm_timing, sgemm_recording, n_calls;
static struct sgemm_call calls[MAX_CALLS];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
		 const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N, const blasint K,
		 const float alpha, const float *A, const blasint lda, const float *B,
		 const blasint ldb, const float beta, float *C, const blasint ldc)
{
	double t0;

	if (!real_sgemm) {
		real_sgemm = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
		if (!real_sgemm) {
			fprintf(stderr, "peer_mlp: cannot find OpenBLAS's cblas_sgemm\n");
			exit(1);
		}
	}
	if (sgemm_recording) {
		if (order != CblasRowMajor || n_calls == MAX_CALLS) {
			fprintf(stderr, "peer_mlp: unexpected sgemm call to record\n");
			exit(1);
		}
		calls[n_calls++] = (struct sgemm_call){ta, tb, M, N, K, lda, ldb, ldc, alpha, beta,
						       A, B, C};
	}
	if (!sgemm_timing) {
		real_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	t0 = now();
	real_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
	sgemm_seconds += now() - t0;
}

/* The recorded calls replayed on buffers of our own. Every distinct pointer
 * of the step gets one buffer (as large as its largest use), so a GEMM that
 * reads what an earlier one wrote reads the same buffer here too and the
 * cache sees the step's data flow. Contents are small constants: sgemm's
 * speed does not depend on them (no denormals arise). */
struct replay {
	int n_bufs;
	const void *key[3 * MAX_CALLS];
	size_t floats[3 * MAX_CALLS];
	float *buf[3 * MAX_CALLS];
	struct sgemm_call call[MAX_CALLS];
};

static int replay_slot(struct replay *r, const void *p, size_t floats)
{
	for (int i = 0; i < r->n_bufs; i++) {
		if (r->key[i] == p) {
			if (floats > r->floats[i])
				r->floats[i] = floats;
			return i;
		}
	}
	r->key[r->n_bufs] = p;
	r->floats[r->n_bufs] = floats;
	return r->n_bufs++;
}

static void replay_prepare(struct replay *r)
{
	int slot[MAX_CALLS][3];

	r->n_bufs = 0;
	for (int c = 0; c < n_calls; c++) {
		const struct sgemm_call *k = &calls[c];
		blasint rows_a = k->ta == CblasNoTrans ? k->M : k->K;
		blasint rows_b = k->tb == CblasNoTrans ? k->K : k->N;

		slot[c][0] = replay_slot(r, k->A, (size_t)rows_a * (size_t)k->lda);
		slot[c][1] = replay_slot(r, k->B, (size_t)rows_b * (size_t)k->ldb);
		slot[c][2] = replay_slot(r, k->C, (size_t)k->M * (size_t)k->ldc);
	}
	for (int i = 0; i < r->n_bufs; i++) {
		r->buf[i] = malloc(r->floats[i] * sizeof(float));
		if (!r->buf[i]) {
			fprintf(stderr, "peer_mlp: out of memory\n");
			exit(1);
		}
		for (size_t j = 0; j < r->floats[i]; j++)
			r->buf[i][j] = 0.01f;
	}
	for (int c = 0; c < n_calls; c++) {
		r->call[c] = calls[c];
		r->call[c].A = r->buf[slot[c][0]];
		r->call[c].B = r->buf[slot[c][1]];
		r->call[c].C = r->buf[slot[c][2]];
	}
}

static void replay_run(const struct replay *r)
{
	for (int c = 0; c < n_calls; c++) {
		const struct sgemm_call *k = &r->call[c];

		real_sgemm(CblasRowMajor, k->ta, k->tb, k->M, k->N, k->K, k->alpha, k->A, k->lda,
			   k->B, k->ldb, k->beta, k->C, k->ldc);
	}
}

static void replay_free(struct replay *r)
{
	for (int i = 0; i < r->n_bufs; i++)
		free(r->buf[i]);
	r->n_bufs = 0;
}

/* ---- the recipe ---- */

/* Linear(784, 256), ReLU, Dropout(0.2), Linear(256, 128), ReLU, Dropout(0.2),
 * Linear(128, 10), PyTorch's default init, on samples of shape (784). */
static struct ax_model *recipe_model(uint64_t seed)
{
	struct ax_layer_spec layers[7];
	const int64_t sample[1] = {IN};
	struct ax_model *model;

	ax_layer_spec_default(&layers[0], AX_LAYER_LINEAR, "fc1");
	layers[0].out_features = H1;
	ax_layer_spec_default(&layers[1], AX_LAYER_RELU, "relu1");
	ax_layer_spec_default(&layers[2], AX_LAYER_DROPOUT, "drop1");
	layers[2].p = 0.2f;
	ax_layer_spec_default(&layers[3], AX_LAYER_LINEAR, "fc2");
	layers[3].out_features = H2;
	ax_layer_spec_default(&layers[4], AX_LAYER_RELU, "relu2");
	ax_layer_spec_default(&layers[5], AX_LAYER_DROPOUT, "drop2");
	layers[5].p = 0.2f;
	ax_layer_spec_default(&layers[6], AX_LAYER_LINEAR, "fc3");
	layers[6].out_features = OUT;
	CHECK(ax_model_create(layers, 7, 1, sample, seed, &model));
	return model;
}

/* The shuffled order: a permutation of 0..n-1, redrawn at each epoch. */
struct order {
	int64_t n, next;
	int64_t *perm;
	struct ax_rng rng;
};

static void order_shuffle(struct order *o)
{
	for (int64_t i = o->n - 1; i > 0; i--) {
		uint32_t w[2];
		int64_t j, t;

		ax_rng_u32(&o->rng, w, 2);
		j = (int64_t)((((uint64_t)w[0] << 32) | w[1]) % (uint64_t)(i + 1));
		t = o->perm[i];
		o->perm[i] = o->perm[j];
		o->perm[j] = t;
	}
	o->next = 0;
}

static void order_init(struct order *o, int64_t n, uint64_t seed)
{
	o->n = n;
	o->perm = malloc((size_t)n * sizeof(int64_t));
	if (!o->perm) {
		fprintf(stderr, "peer_mlp: out of memory\n");
		exit(1);
	}
	for (int64_t i = 0; i < n; i++)
		o->perm[i] = i;
	ax_rng_init(&o->rng, seed);
	order_shuffle(o);
}

/* Gathers the next `batch` samples into x (batch, IN) and y (batch); an
 * epoch's remainder that does not fill a batch is dropped. */
static void next_batch(struct order *o, const struct dataset *ds, int64_t batch, float *x,
		      int32_t *y)
{
	if (o->next + batch > o->n)
		order_shuffle(o);
	for (int64_t i = 0; i < batch; i++) {
		int64_t s = o->perm[o->next + i];

		memcpy(x + i * IN, ds->x + s * IN, IN * sizeof(float));
		y[i] = ds->y[s];
	}
	o->next += batch;
}

/* --zero-grad separate: ax_params_zero_grad before each step and a plain
 * ax_optimizer_step, instead of ax_optimizer_step_clear (for comparison). */
static int separate_zero;

/* One training step on the batch in x, y; returns the loss. */
static float train_step(struct ax_model *model, struct ax_ctx *ctx, struct ax_optimizer *opt,
			float lr, float *x, int32_t *y, int64_t batch)
{
	const int64_t xs[2] = {batch, IN};
	struct ax_tensor *xt, *yt, *logits, *loss;
	float value;

	if (separate_zero)
		CHECK(ax_params_zero_grad(ax_model_params(model)));
	CHECK(ax_tensor_wrap(ctx, AX_F32, 2, xs, x, &xt));
	CHECK(ax_tensor_wrap(ctx, AX_I32, 1, &batch, y, &yt));
	CHECK(ax_model_forward(model, ctx, xt, &logits));
	CHECK(ax_cross_entropy(ctx, logits, yt, NULL, &loss));
	CHECK(ax_backward(ctx, loss));
	/* As axon train does: the step clears the gradients (the model starts
	 * with zero ones), unless --zero-grad separate asks for the memset. */
	if (separate_zero)
		CHECK(ax_optimizer_step(opt, lr));
	else
		CHECK(ax_optimizer_step_clear(opt, lr));
	value = *(float *)loss->data;
	CHECK(ax_ctx_reset(ctx));
	return value;
}

static double test_accuracy(struct ax_model *model, struct ax_ctx *ctx, const struct dataset *test)
{
	const int64_t chunk = 1000;
	int64_t correct = 0;

	ax_ctx_set_grad_enabled(ctx, 0);
	ax_ctx_set_training(ctx, 0);
	for (int64_t start = 0; start < test->n; start += chunk) {
		int64_t rows = test->n - start < chunk ? test->n - start : chunk;
		const int64_t xs[2] = {rows, IN};
		struct ax_tensor *xt, *logits;
		const float *l;

		CHECK(ax_tensor_wrap(ctx, AX_F32, 2, xs, test->x + start * IN, &xt));
		CHECK(ax_model_forward(model, ctx, xt, &logits));
		l = logits->data;
		for (int64_t i = 0; i < rows; i++) {
			int best = 0;

			for (int c = 1; c < OUT; c++)
				if (l[i * OUT + c] > l[i * OUT + best])
					best = c;
			correct += best == test->y[start + i];
		}
		CHECK(ax_ctx_reset(ctx));
	}
	ax_ctx_set_grad_enabled(ctx, 1);
	ax_ctx_set_training(ctx, 1);
	return (double)correct / (double)test->n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void machine_lines(int threads)
{
	char line[256], model[256] = "unknown CPU";
	const char *env = getenv("OPENBLAS_NUM_THREADS");
	FILE *f = fopen("/proc/cpuinfo", "r");
	int parallel = openblas_get_parallel();

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
	printf("axon: %s (%s), zlib %s\n", ax_version(), ax_build_info(), zlibVersion());
	printf("blas: OpenBLAS %s\n", openblas_get_config());
	printf("threads: openblas_set_num_threads(%d) -> %d OpenBLAS threads (%s pool); "
	       "OPENBLAS_NUM_THREADS=%s; elementwise kernels on the calling thread, no OpenMP\n",
	       threads, openblas_get_num_threads(),
	       parallel == 0 ? "no" : parallel == 1 ? "pthreads" : "OpenMP", env ? env : "(unset)");
}

static int run_train(const struct dataset *train, const struct dataset *test, int64_t batch,
		     int epochs, uint64_t seed)
{
	struct ax_model *model = recipe_model(seed);
	struct ax_optim_options oo = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_ctx_options co = {.device = AX_CPU, .seed = seed};
	struct ax_schedule sched = {.kind = AX_SCHED_COSINE, .base_lr = 1e-3f};
	struct ax_optimizer *opt;
	struct ax_ctx *ctx;
	struct order order;
	int64_t steps_per_epoch = train->n / batch, step = 0;
	float *x = malloc((size_t)(batch * IN) * sizeof(float));
	int32_t *y = malloc((size_t)batch * sizeof(int32_t));
	double t0 = now(), acc;

	oo.weight_decay = 1e-2f;
	CHECK(ax_optimizer_create(ax_model_params(model), &oo, &opt));
	CHECK(ax_ctx_create(&co, &ctx));
	sched.total_steps = epochs * steps_per_epoch;
	CHECK(ax_schedule_validate(&sched));
	order_init(&order, train->n, seed + 1000);
	for (int e = 0; e < epochs; e++) {
		double loss_sum = 0;

		for (int64_t s = 0; s < steps_per_epoch; s++) {
			next_batch(&order, train, batch, x, y);
			loss_sum += train_step(model, ctx, opt, ax_schedule_lr(&sched, step++), x, y,
					       batch);
		}
		printf("epoch %d  train loss %.4f\n", e + 1, loss_sum / (double)steps_per_epoch);
	}
	acc = test_accuracy(model, ctx, test);
	printf("RESULT side=axon mode=train epochs=%d batch=%lld seed=%llu test_accuracy=%.4f "
	       "seconds=%.2f\n",
	       epochs, (long long)batch, (unsigned long long)seed, acc, now() - t0);
	free(x);
	free(y);
	free(order.perm);
	ax_optimizer_destroy(opt);
	ax_ctx_destroy(ctx);
	ax_model_destroy(model);
	return 0;
}

static int run_throughput(const struct dataset *train, int64_t batch, int threads, int steps,
			  int reps, int warmup, int profile_steps)
{
	struct ax_model *model = recipe_model(1);
	struct ax_optim_options oo = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_ctx_options co = {.device = AX_CPU, .seed = 1};
	struct ax_optimizer *opt;
	struct ax_ctx *ctx;
	struct order order;
	struct replay *replay = calloc(1, sizeof(*replay));
	float *x = malloc((size_t)(batch * IN) * sizeof(float));
	int32_t *y = malloc((size_t)batch * sizeof(int32_t));
	double *t_step = calloc((size_t)reps, sizeof(double));
	double *t_gemm = calloc((size_t)reps, sizeof(double));
	double *t_instep = calloc((size_t)reps, sizeof(double));
	double ts, tg, ti;

	if (!replay || !x || !y || !t_step || !t_gemm || !t_instep) {
		fprintf(stderr, "peer_mlp: out of memory\n");
		exit(1);
	}
	oo.weight_decay = 1e-2f;
	CHECK(ax_optimizer_create(ax_model_params(model), &oo, &opt));
	CHECK(ax_ctx_create(&co, &ctx));
	order_init(&order, train->n, 1000);

	/* Warm-up: arena sized, OpenBLAS's pool started, caches and branch
	 * predictors trained. Then one step records its sgemm calls. */
	for (int i = 0; i < warmup; i++) {
		next_batch(&order, train, batch, x, y);
		train_step(model, ctx, opt, 1e-3f, x, y, batch);
	}
	if (profile_steps > 0) {
		double t0 = now();

		for (int i = 0; i < profile_steps; i++) {
			next_batch(&order, train, batch, x, y);
			train_step(model, ctx, opt, 1e-3f, x, y, batch);
		}
		printf("profile: %d steps, %.4f ms per step\n", profile_steps,
		       (now() - t0) / profile_steps * 1e3);
		reps = 0;
	}
	n_calls = 0;
	sgemm_recording = 1;
	next_batch(&order, train, batch, x, y);
	train_step(model, ctx, opt, 1e-3f, x, y, batch);
	sgemm_recording = 0;
	replay_prepare(replay);
	for (int i = 0; i < warmup; i++)
		replay_run(replay);

	for (int r = 0; r < reps; r++) {
		double t0 = now();

		for (int i = 0; i < steps; i++)
			replay_run(replay);
		t_gemm[r] = (now() - t0) / steps;
		sgemm_seconds = 0;
		sgemm_timing = 1;
		t0 = now();
		for (int i = 0; i < steps; i++) {
			next_batch(&order, train, batch, x, y);
			train_step(model, ctx, opt, 1e-3f, x, y, batch);
		}
		t_step[r] = (now() - t0) / steps;
		sgemm_timing = 0;
		t_instep[r] = sgemm_seconds / steps;
	}
	if (reps == 0)
		goto done;
	qsort(t_step, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_gemm, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_instep, (size_t)reps, sizeof(double), cmp_double);
	ts = t_step[reps / 2];
	tg = t_gemm[reps / 2];
	ti = t_instep[reps / 2];
	printf("sgemm calls per step: %d\n", n_calls);
	for (int c = 0; c < n_calls; c++)
		printf("  %c%c M=%d N=%d K=%d beta=%g\n", calls[c].ta == CblasNoTrans ? 'N' : 'T',
		       calls[c].tb == CblasNoTrans ? 'N' : 'T', (int)calls[c].M, (int)calls[c].N,
		       (int)calls[c].K, (double)calls[c].beta);
	printf("batch %lld, %d threads: step %.4f ms (range %.4f-%.4f) = %.0f samples/s; "
	       "in-step sgemm %.4f ms (%.1f%% of the step); GEMM-only %.4f ms = %.0f samples/s; "
	       "share of the GEMM-only bound %.1f%%\n",
	       (long long)batch, threads, ts * 1e3, t_step[0] * 1e3, t_step[reps - 1] * 1e3,
	       (double)batch / ts, ti * 1e3, 100.0 * ti / ts, tg * 1e3, (double)batch / tg,
	       100.0 * tg / ts);
	printf("RESULT side=axon batch=%lld threads=%d step_ms=%.4f samples_s=%.0f "
	       "instep_gemm_ms=%.4f gemm_only_ms=%.4f gemm_only_samples_s=%.0f share_pct=%.1f "
	       "best_samples_s=%.0f gemm_only_best_samples_s=%.0f\n",
	       (long long)batch, threads, ts * 1e3, (double)batch / ts, ti * 1e3, tg * 1e3,
	       (double)batch / tg, 100.0 * tg / ts, (double)batch / t_step[0],
	       (double)batch / t_gemm[0]);
done:
	replay_free(replay);
	free(replay);
	free(x);
	free(y);
	free(t_step);
	free(t_gemm);
	free(t_instep);
	free(order.perm);
	ax_optimizer_destroy(opt);
	ax_ctx_destroy(ctx);
	ax_model_destroy(model);
	return 0;
}

int main(int argc, char **argv)
{
	const char *source = "/usr/share/datasets/fashion-mnist", *write_dir = NULL;
	int64_t batch = 64;
	int threads = 1, steps = 300, reps = 7, warmup = 50, epochs = 0, profile_steps = 0;
	uint64_t seed = 1;
	struct dataset train, test;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "peer_mlp: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "--batch") == 0)
			batch = atoll(v);
		else if (strcmp(a, "--threads") == 0)
			threads = atoi(v);
		else if (strcmp(a, "--steps") == 0)
			steps = atoi(v);
		else if (strcmp(a, "--reps") == 0)
			reps = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			warmup = atoi(v);
		else if (strcmp(a, "--train-epochs") == 0)
			epochs = atoi(v);
		else if (strcmp(a, "--profile-steps") == 0)
			profile_steps = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--source") == 0)
			source = v;
		else if (strcmp(a, "--write-data") == 0)
			write_dir = v;
		else if (strcmp(a, "--zero-grad") == 0 && (strcmp(v, "separate") == 0 ||
							   strcmp(v, "fused") == 0))
			separate_zero = strcmp(v, "separate") == 0;
		else {
			fprintf(stderr,
				"usage: %s [--batch B] [--threads T] [--steps N] [--reps R] "
				"[--warmup W] [--train-epochs E] [--seed S] [--source IDXDIR] "
				"[--write-data DIR] [--profile-steps N] "
				"[--zero-grad fused|separate]\n",
				argv[0]);
			return 2;
		}
		i++;
	}
	if (batch < 1 || threads < 1 || steps < 1 || reps < 1 || warmup < 1) {
		fprintf(stderr, "peer_mlp: batch, threads, steps, reps and warmup must be >= 1\n");
		return 2;
	}
	openblas_set_num_threads(threads);
	load_fashion_mnist(source, &train, &test);
	if (write_dir) {
		write_data(write_dir, &train, &test);
		return 0;
	}
	machine_lines(threads);
	printf("recipe: 784-256-128-10, ReLU, dropout 0.2, AdamW lr 1e-3 wd 1e-2 (biases no "
	       "decay), cross-entropy; %lld preloaded Fashion-MNIST training images, shuffled\n",
	       (long long)train.n);
	if (epochs > 0)
		return run_train(&train, &test, batch, epochs, seed);
	printf("%d warm-up steps, then median of %d reps x %d steps (alternating with the "
	       "GEMM-only replay)\n",
	       warmup, reps, steps);
	return run_throughput(&train, batch, threads, steps, reps, warmup, profile_steps);
}
