/* data_loader.c - how fast the data loader delivers Fashion-MNIST, and
 * whether a training step ever waits for it.
 *
 * Converts the Fashion-MNIST training set (60,000 images of 28x28 bytes)
 * with ax_data_convert into a temporary directory, then measures, at batch
 * 64 and 256:
 *   (a) the loader alone: HDF5 shards -> I/O thread -> shuffled, normalised
 *       float batches, taken by a consumer that does nothing else. The first
 *       epoch (cold: it includes opening and reading the shards, from the page
 *       cache since they were just written) and the later ones separately;
 *       once with one window over every shard (the default here: read once,
 *       reused every epoch) and once with one shard per window (streaming:
 *       every epoch re-reads every shard, memory bounded by two shards).
 *   (b) the same batches gathered from memory: a single-threaded loop over
 *       the same epoch order that gathers the same sample ids from an
 *       in-memory uint8 array (read from the IDX file with zlib) and
 *       normalises them the same way. Its first batch is compared with the
 *       loader's, bit for bit, so the two do the same work.
 *   (c) the loader feeding a real training step: the 784-256-128-10 MLP
 *       (ReLU, cross-entropy, SGD with momentum, code from mlp_step.c) for two
 *       epochs, then the same number of steps on one fixed batch without a
 *       loader (fixed/s). Reports the share of the run spent waiting in
 *       ax_loader_next (ax_loader_stats wait_seconds / wall time), with and
 *       without the first batch (which waits for the first window to be
 *       read), the longest single wait, the number over 1 ms and the median
 *       time of one ax_loader_next call (med_us), and the
 *       CPU time of the I/O thread as a share of the run (io_cpu%: process
 *       CPU time minus this thread's) and the speed of its HDF5 reads
 *       (read_MB/s, from ax_loader_stats); loss and accuracy show the
 *       batches are real data.
 * Goals: loader alone >= 5x the rate at which the MLP trains; data wait < 2%
 * of training time. Loader and gather figures are medians of --reps runs;
 * a training row is the run with the median wait share of --reps runs.
 *
 *   bench_data_loader [--reps R] [--shards S] [--threads T] [--prefetch P]
 *                     [--keep DIR]
 *
 * --threads sets OpenBLAS threads for the training step (default 1: the
 * I/O thread gets the other core of a 2-core machine); --prefetch the
 * loader's ring depth (default: the loader's, 4); --keep converts into DIR
 * and leaves it there. Every figure depends on the I/O thread having a core:
 * the load average at start is printed, and a busy machine shows as wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "axon/axon.h"
#include "axon/data.h"
#include "axon/data_convert.h"

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

#define FMNIST "/usr/share/datasets/fashion-mnist/"
#define WARM_EPOCHS 3

static int prefetch; /* --prefetch; 0: the loader's default (4) */

enum { IN = 784, H1 = 256, H2 = 128, OUT = 10, LAYERS = 3 };
static const int64_t sizes[LAYERS + 1] = {IN, H1, H2, OUT};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
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
	/* The I/O thread needs a core of its own: a busy machine shows up as wait. */
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fgets(line, sizeof(line), f))
			printf("load average at start: %s", line);
		fclose(f);
	}
}

/* ---- the in-memory copy (b) ---- */

/* The whole IDX image file into memory: (n, 28, 28) bytes. */
static uint8_t *read_idx_images(const char *path, int64_t *n_out)
{
	gzFile gz = gzopen(path, "rb");
	unsigned char header[16];
	uint8_t *images;
	int64_t n, bytes;

	if (!gz || gzread(gz, header, 16) != 16) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(1);
	}
	n = (int64_t)header[4] << 24 | header[5] << 16 | header[6] << 8 | header[7];
	bytes = n * IN;
	images = malloc((size_t)bytes);
	for (int64_t done = 0; done < bytes;) {
		int got = gzread(gz, images + done, (unsigned)(bytes - done > (1 << 30) ? 1 << 30
										    : bytes - done));

		if (got <= 0) {
			fprintf(stderr, "bench: %s is truncated\n", path);
			exit(1);
		}
		done += got;
	}
	gzclose(gz);
	*n_out = n;
	return images;
}

/* One batch gathered and normalised from memory, exactly as the loader does
 * it: x' = raw * scale + shift with scale = (1/255)/std, shift = -mean/std. */
static void gather(const uint8_t *images, const int64_t *ids, int64_t count, float scale,
		   float shift, float *out)
{
	for (int64_t i = 0; i < count; i++) {
		const uint8_t *raw = images + ids[i] * IN;
		float *dst = out + i * IN;

		for (int e = 0; e < IN; e++)
			dst[e] = (float)raw[e] * scale + shift;
	}
}

/* ---- the model (from mlp_step.c) ---- */

struct model {
	struct ax_params *params;
	struct ax_tensor *w[LAYERS], *b[LAYERS];
};

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

/* One SGD step; returns the loss and adds the number of correct predictions. */
static float step(struct model *m, struct ax_ctx *ctx, struct ax_optimizer *sgd, float *x_data,
		  int32_t *y_data, int64_t batch, int64_t *correct)
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
		if (l < LAYERS - 1)
			CHECK(ax_relu(ctx, h, &h));
	}
	if (correct) {
		const float *logits = h->data;

		for (int64_t i = 0; i < batch; i++) {
			int best = 0;

			for (int c = 1; c < OUT; c++)
				if (logits[i * OUT + c] > logits[i * OUT + best])
					best = c;
			*correct += best == y_data[i];
		}
	}
	CHECK(ax_cross_entropy(ctx, h, y, NULL, &loss));
	CHECK(ax_backward(ctx, loss));
	CHECK(ax_optimizer_step(sgd, 0.05f));
	value = *(float *)loss->data;
	CHECK(ax_ctx_reset(ctx));
	return value;
}

/* ---- the dataset ---- */

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static struct ax_loader_options loader_options(int64_t batch, uint64_t seed, int window,
					       int64_t epochs)
{
	struct ax_loader_options lo = {
		.batch_size = batch,
		.sampler = {.seed = seed, .world = 1, .shuffle = 1, .window_shards = window},
		.normalize = 1,
		.drop_last = 1,
		.max_epochs = epochs,
		.prefetch = prefetch,
	};
	return lo;
}

/* (a): one run of 1 + WARM_EPOCHS epochs; seconds of the cold epoch and per
 * warm epoch, and batches per epoch. */
static void loader_alone(struct ax_dataset *ds, int64_t batch, uint64_t seed, int window,
			 double *cold, double *warm, int64_t *per_epoch)
{
	struct ax_loader_options lo = loader_options(batch, seed, window, 1 + WARM_EPOCHS);
	struct ax_loader *loader;
	struct ax_batch b;
	double t0 = now(), t1 = 0;
	int64_t batches = 0;
	volatile float sink = 0;
	enum ax_status st;

	CHECK(ax_loader_create(ds, &lo, NULL, &loader));
	while ((st = ax_loader_next(loader, &b)) == AX_OK) {
		sink += b.inputs[0];
		batches++;
		if (b.epoch == 0 && b.last_in_epoch) {
			t1 = now();
			*per_epoch = batches;
		}
	}
	if (st != AX_ERR_RANGE)
		CHECK(st);
	*cold = t1 - t0;
	*warm = (now() - t1) / WARM_EPOCHS;
	ax_loader_destroy(loader);
}

/* (b): one epoch gathered from memory in the sampler's order; seconds. */
static double memory_epoch(struct ax_dataset *ds, const uint8_t *images, int64_t batch,
			   uint64_t seed, int64_t epoch, float scale, float shift, float *out)
{
	struct ax_sampler_options so = {.seed = seed, .world = 1, .shuffle = 1,
					.window_shards = ax_dataset_info(ds)->num_shards};
	struct ax_sampler *sampler;
	int64_t n = ax_dataset_info(ds)->num_samples;
	int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
	double t0, t;

	CHECK(ax_sampler_create(ds, &so, &sampler));
	t0 = now();
	/* The order is part of the work (the loader makes it too). */
	CHECK(ax_sampler_epoch(sampler, epoch, order));
	for (int64_t k = 0; k + batch <= n; k += batch)
		gather(images, order + k, batch, scale, shift, out);
	t = now() - t0;
	ax_sampler_destroy(sampler);
	free(order);
	return t;
}

/* The loader's first batch equals the in-memory gather of the same ids. */
static void check_same_work(struct ax_dataset *ds, const uint8_t *images, int64_t batch,
			    float scale, float shift)
{
	struct ax_loader_options lo = loader_options(batch, 7, 0, 1);
	struct ax_loader *loader;
	struct ax_batch b;
	float *mine = malloc(sizeof(float) * (size_t)(batch * IN));

	CHECK(ax_loader_create(ds, &lo, NULL, &loader));
	CHECK(ax_loader_next(loader, &b));
	gather(images, b.sample_ids, b.size, scale, shift, mine);
	if (memcmp(mine, b.inputs, sizeof(float) * (size_t)(b.size * IN)) != 0) {
		fprintf(stderr, "bench: the loader's batch differs from the in-memory gather\n");
		exit(1);
	}
	ax_loader_destroy(loader);
	free(mine);
}

/* (c): what one training run measured. */
struct train_result {
	int64_t steps;
	double seconds;      /* wall time of the loader-fed run, loader creation included */
	double fixed_rate;   /* steps/s of the same steps on one fixed batch, no loader */
	double wait, first_wait; /* ax_loader_stats wait_seconds: all, and the first batch's */
	double max_wait;     /* longest single wait after the first batch */
	int64_t long_waits;  /* waits over 1 ms after the first batch */
	double median_wait;  /* median time of one ax_loader_next call after the first */
	double read_rate;    /* bytes_read / io_seconds of ax_loader_stats: HDF5 read speed */
	double io_cpu;       /* CPU seconds of the loader's I/O thread (process - this thread) */
	double loss_first;   /* mean loss of the first 20 steps */
	double loss_last;    /* mean loss of the second epoch */
	double accuracy;     /* training accuracy during the second epoch */
};

/* (c): two epochs of training fed by the loader, then the same number of
 * steps on one fixed batch (the first the loader gave) with a fresh model. */
static struct train_result train(struct ax_dataset *ds, int64_t batch, int window, uint64_t seed)
{
	struct ax_loader_options lo = loader_options(batch, seed, window, 2);
	struct ax_optim_options so = ax_optim_defaults(AX_OPTIM_SGD);
	struct train_result r = {0};
	struct ax_loader *loader;
	struct ax_loader_stats stats;
	struct ax_batch b;
	struct model m, m2;
	struct ax_ctx *ctx;
	struct ax_optimizer *sgd;
	double t0, cpu_process, cpu_thread;
	int64_t correct = 0, seen_last = 0, last_epoch_steps = 0;
	enum ax_status st;
	float *x_fixed = malloc(sizeof(float) * (size_t)(batch * IN));
	int32_t *y_fixed = malloc(sizeof(int32_t) * (size_t)batch);
	double *calls = malloc(sizeof(double) * (size_t)(2 * ax_dataset_info(ds)->num_samples /
							   batch + 1));

	so.momentum = 0.9f;
	model_create(&m);
	CHECK(ax_ctx_create(NULL, &ctx));
	CHECK(ax_optimizer_create(m.params, &so, &sgd));
	t0 = now();
	cpu_process = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
	cpu_thread = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
	CHECK(ax_loader_create(ds, &lo, NULL, &loader));
	for (;;) {
		double tw = now(), waited;
		float loss;

		st = ax_loader_next(loader, &b);
		waited = now() - tw;
		if (st)
			break;
		if (r.steps == 0) {
			ax_loader_stats(loader, &stats);
			r.first_wait = stats.wait_seconds;
			memcpy(x_fixed, b.inputs, sizeof(float) * (size_t)(batch * IN));
			memcpy(y_fixed, b.labels, sizeof(int32_t) * (size_t)batch);
		} else {
			calls[r.steps - 1] = waited;
			r.long_waits += waited > 1e-3;
			r.max_wait = waited > r.max_wait ? waited : r.max_wait;
		}
		loss = step(&m, ctx, sgd, b.inputs, b.labels, b.size, b.epoch == 1 ? &correct : NULL);
		if (b.epoch == 0 && b.step_in_epoch < 20)
			r.loss_first += loss / 20;
		if (b.epoch == 1) {
			seen_last += b.size;
			last_epoch_steps++;
			r.loss_last += loss;
		}
		r.steps++;
	}
	if (st != AX_ERR_RANGE)
		CHECK(st);
	r.seconds = now() - t0;
	r.io_cpu = (cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_process) -
		   (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_thread);
	ax_loader_stats(loader, &stats);
	r.wait = stats.wait_seconds;
	r.read_rate = stats.io_seconds > 0 ? (double)stats.bytes_read / stats.io_seconds : 0;
	r.loss_last /= (double)(last_epoch_steps ? last_epoch_steps : 1);
	r.accuracy = (double)correct / (double)(seen_last ? seen_last : 1);
	r.median_wait = r.steps > 1 ? median(calls, (int)(r.steps - 1)) : 0;
	free(calls);
	ax_loader_destroy(loader);
	ax_optimizer_destroy(sgd);
	ax_params_destroy(m.params);

	model_create(&m2);
	CHECK(ax_optimizer_create(m2.params, &so, &sgd));
	for (int i = 0; i < 20; i++)
		step(&m2, ctx, sgd, x_fixed, y_fixed, batch, NULL);
	t0 = now();
	for (int64_t i = 0; i < r.steps; i++)
		step(&m2, ctx, sgd, x_fixed, y_fixed, batch, NULL);
	r.fixed_rate = (double)r.steps / (now() - t0);
	ax_optimizer_destroy(sgd);
	ax_params_destroy(m2.params);
	ax_ctx_destroy(ctx);
	free(x_fixed);
	free(y_fixed);
	return r;
}

static int cmp_wait_share(const void *a, const void *b)
{
	const struct train_result *x = a, *y = b;
	double sx = x->wait / x->seconds, sy = y->wait / y->seconds;

	return (sx > sy) - (sx < sy);
}

/* The run with the median wait share of `reps` runs (a consistent row, not
 * column-wise medians); fixed_rate is replaced by the median over the runs. */
static void print_train(int64_t batch, int window, struct train_result *runs, int reps)
{
	struct train_result r;
	double *fixed = malloc(sizeof(double) * (size_t)reps);

	for (int i = 0; i < reps; i++)
		fixed[i] = runs[i].fixed_rate;
	qsort(runs, (size_t)reps, sizeof(*runs), cmp_wait_share);
	r = runs[reps / 2];
	r.fixed_rate = median(fixed, reps);
	printf("%6lld %7s %6lld %8.3f %8.0f %8.0f %7.2f%% %9.2f%% %8.1f %6lld %7.1f %7.1f%% %7.0f "
	       "%6.3f %6.3f %5.1f%%\n",
	       (long long)batch, window ? "1 shard" : "all", (long long)r.steps, r.seconds,
	       (double)r.steps / r.seconds, r.fixed_rate, 100.0 * r.wait / r.seconds,
	       100.0 * (r.wait - r.first_wait) / r.seconds, 1e3 * r.max_wait,
	       (long long)r.long_waits, 1e6 * r.median_wait, 100.0 * r.io_cpu / r.seconds,
	       r.read_rate / 1e6, r.loss_first, r.loss_last,
	       100.0 * r.accuracy);
	free(fixed);
	runs[0].fixed_rate = r.fixed_rate; /* for the caller */
}

int main(int argc, char **argv)
{
	int reps = 5, shards = 4, threads = 1;
	const char *keep = NULL;
	const int64_t batches[] = {64, 256};
	char dir[4096], train_dir[4200];
	struct ax_convert_options co;
	struct ax_dataset *ds;
	const struct ax_dataset_info *info;
	uint8_t *images;
	int64_t n_images;
	float scale, shift, *out;
	double t0, t_convert, train_rate[2] = {0, 0}, alone_rate[2][2] = {{0, 0}, {0, 0}};

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--shards") == 0)
			shards = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--prefetch") == 0)
			prefetch = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--keep") == 0)
			keep = argv[i + 1];
	}
	if (reps < 1)
		reps = 1;
	machine_line();
	openblas_set_num_threads(threads);

	/* The dataset: Fashion-MNIST train, converted. */
	if (keep) {
		snprintf(dir, sizeof(dir), "%s", keep);
	} else {
		snprintf(dir, sizeof(dir), "/tmp/axon-bench-data-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	}
	ax_convert_options_init(&co);
	co.format = AX_CONVERT_IDX;
	co.train_inputs = FMNIST "train-images-idx3-ubyte.gz";
	co.train_targets = FMNIST "train-labels-idx1-ubyte.gz";
	co.out_dir = dir;
	co.shards = shards;
	co.overwrite = 1;
	t0 = now();
	CHECK(ax_data_convert(&co, NULL));
	t_convert = now() - t0;
	snprintf(train_dir, sizeof(train_dir), "%s/train", dir);
	CHECK(ax_dataset_open(train_dir, &ds));
	info = ax_dataset_info(ds);
	printf("data: Fashion-MNIST train, %lld samples of 28x28 uint8, %d shards, "
	       "converted in %.2f s (chunks %d rows, no compression, Fletcher-32)\n",
	       (long long)info->num_samples, info->num_shards, t_convert,
	       (int)ax_data_default_chunk_rows(IN));
	printf("normalisation: mean %.4f std %.4f; shuffle on, drop_last, median of %d runs\n\n",
	       info->norm_mean[0], info->norm_std[0], reps);

	images = read_idx_images(FMNIST "train-images-idx3-ubyte.gz", &n_images);
	if (n_images != info->num_samples) {
		fprintf(stderr, "bench: IDX has %lld images, the dataset %lld\n",
			(long long)n_images, (long long)info->num_samples);
		return 1;
	}
	scale = (1.0f / 255.0f) / info->norm_std[0];
	shift = -info->norm_mean[0] / info->norm_std[0];
	out = malloc(sizeof(float) * 256 * IN);

	/* (a) and (b) */
	printf("loader alone (a) and in-memory gather (b), batches/s\n");
	printf("%6s %7s %12s %12s %12s %12s %10s\n", "batch", "window", "a_cold_ep0", "a_warm",
	       "a_warm_MB/s", "b_memory", "a_warm/b");
	for (int bi = 0; bi < 2; bi++) {
		int64_t batch = batches[bi];

		check_same_work(ds, images, batch, scale, shift);
		for (int wi = 0; wi < 2; wi++) {
			int window = wi ? 1 : 0;
			double *cold = calloc((size_t)reps, sizeof(double));
			double *warm = calloc((size_t)reps, sizeof(double));
			double *mem = calloc((size_t)reps, sizeof(double));
			int64_t per_epoch = 0;
			double c, w, mm;

			for (int r = 0; r < reps; r++) {
				loader_alone(ds, batch, 100 + (uint64_t)r, window, &cold[r], &warm[r],
					     &per_epoch);
				mem[r] = memory_epoch(ds, images, batch, 100 + (uint64_t)r, 1, scale,
						      shift, out);
			}
			c = (double)per_epoch / median(cold, reps);
			w = (double)per_epoch / median(warm, reps);
			mm = (double)per_epoch / median(mem, reps);
			alone_rate[bi][wi] = w;
			printf("%6lld %7s %12.0f %12.0f %12.0f %12.0f %9.2fx\n", (long long)batch,
			       window ? "1 shard" : "all", c, w,
			       w * (double)(batch * IN * 4) / 1e6, mm, w / mm);
			free(cold);
			free(warm);
			free(mem);
		}
	}

	/* (c) */
	printf("\ntraining the 784-256-128-10 MLP for 2 epochs, fed by the loader "
	       "(%d BLAS thread%s)\n", threads, threads == 1 ? "" : "s");
	printf("%6s %7s %6s %8s %8s %8s %8s %10s %8s %6s %7s %8s %7s %6s %6s %6s\n", "batch",
	       "window", "steps", "seconds", "steps/s", "fixed/s", "wait%", "wait-1st%", "max_ms",
	       ">1ms", "med_us", "io_cpu%", "read_MB/s", "loss0", "loss1", "acc1");
	for (int bi = 0; bi < 2; bi++) {
		for (int wi = 0; wi < 2; wi++) {
			struct train_result *runs = malloc(sizeof(*runs) * (size_t)reps);

			for (int r = 0; r < reps; r++)
				runs[r] = train(ds, batches[bi], wi ? 1 : 0, 11 + (uint64_t)r);
			print_train(batches[bi], wi ? 1 : 0, runs, reps);
			if (wi == 0)
				train_rate[bi] = runs[0].fixed_rate;
			free(runs);
		}
	}
	/* The goal: the loader alone (warm) at least 5x the MLP's step rate. */
	printf("\nloader alone (warm) vs the MLP's step rate without a loader (goal >= 5x):\n");
	for (int bi = 0; bi < 2; bi++)
		printf("  batch %3lld: MLP %6.0f steps/s; loader %7.0f (window all) / %7.0f "
		       "(1 shard) batches/s = %5.1fx / %5.1fx\n", (long long)batches[bi],
		       train_rate[bi], alone_rate[bi][0], alone_rate[bi][1],
		       alone_rate[bi][0] / train_rate[bi], alone_rate[bi][1] / train_rate[bi]);

	free(out);
	free(images);
	ax_dataset_close(ds);
	if (!keep)
		remove_tree(dir);
	return 0;
}
