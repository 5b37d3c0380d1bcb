/* train.c - `axon train CONFIG [--set section.key=value ...]`.
 *
 * The training loop as one straight line per step: next batch from the
 * loader (already normalised, prefetched by its I/O thread), forward,
 * loss, backward, optional gradient clipping, optimizer step at the
 * schedule's learning rate, arena reset. Around it: validation at the
 * configured interval (loss, accuracy, macro precision/recall/F1), early
 * stopping on a validation metric with patience (the best weights are kept
 * in best.h5), metrics.jsonl with one JSON object per logged step and per
 * evaluation, model.h5 at the end, and progress on one updating line on a
 * terminal or plain log lines otherwise.
 *
 * Data-parallel: every rank runs this loop on its share of each batch (the
 * config's batch_size is global). Gradients are averaged over ranks in
 * buckets while backward runs (dist/grad_sync.c); with accumulate_steps > 1
 * only the last micro-batch communicates. Set-up problems on any rank end all
 * ranks cleanly (ax_dist_agree); a failure mid-run aborts the job so no rank
 * is left waiting in a collective. Only rank 0 prints and writes files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "axon/weights.h"
#include "trainer.h"

double ax_train_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: axon train CONFIG [--set section.key=value ...] [--profile] [--rank-logs]\n"
		     "\n"
		     "Train the model CONFIG describes (see docs/config.md). Writes into [output] dir:\n"
		     "config.ini (the resolved config), metrics.jsonl, model.h5 and best.h5.\n"
		     "Run it under mpirun or srun for data-parallel training (docs/launching.md).\n"
		     "\n"
		     "  --profile     print where each step's time goes (data, forward, backward,\n"
		     "                waiting for gradients, optimizer)\n"
		     "  --rank-logs   every rank also writes its own log to DIR/rank-N.log\n"
		     "  --resume auto|PATH|none\n"
		     "                auto: continue from the newest checkpoint in DIR/checkpoints\n"
		     "                that verifies (fresh start when there is none); PATH: exactly\n"
		     "                that checkpoint; none (default): start fresh\n"
		     "\n"
		     "exit codes: 0 done, 1 error, 2 usage, 3 watchdog (no progress), 75 stopped by\n"
		     "SIGTERM/SIGUSR1 after saving a checkpoint (docs/checkpoints.md)\n");
}

static enum ax_status make_dirs(const char *path)
{
	char buf[AX_CONFIG_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return AX_ERROR(AX_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return AX_ERROR(AX_ERR_IO, "cannot create run directory %s: %s", buf, strerror(errno));
	return AX_OK;
}

/* ---- setup ---- */

static void loader_options(const struct trainer *t, struct ax_loader_options *lo_out);

/* [loop] device: cpu, cuda (one GPU per rank: the local rank's; an error when
 * a node has more ranks than GPUs) or auto (cuda when every rank of the node
 * can have a GPU, else cpu). All ranks must come to the same answer; ax_cmd_train
 * checks that after set-up. */
static enum ax_status pick_device(struct trainer *t)
{
	const char *want = t->cfg.device;
	int count = ax_cuda_count(), index;
	enum ax_status st;

	t->device = AX_CPU;
	if (strcmp(want, "cpu") == 0)
		return AX_OK;
	if (strcmp(want, "auto") == 0 && (count <= 0 || ax_dist_local_world(t->dist) > count)) {
		if (strcmp(t->cfg.precision, "bf16") == 0)
			return AX_ERROR(AX_ERR_INVALID, "config %s: precision = bf16 needs a GPU per "
					"rank, but device = auto found %d GPU(s) for %d local rank(s); "
					"use precision = f32", t->cfg.source, count < 0 ? 0 : count,
					ax_dist_local_world(t->dist));
		return AX_OK;
	}
	st = ax_dist_pick_gpu(t->dist, &index);
	if (st)
		return st;
	t->device = (struct ax_device){AX_DEVICE_CUDA, index};
	return AX_OK;
}

static enum ax_status setup(struct trainer *t)
{
	struct ax_config *c = &t->cfg;
	struct ax_optim_options oo;
	const struct ax_dataset_info *info;
	enum ax_status st;
	size_t len;
	FILE *f;

	t->threads = ax_run_threads(c->threads ? c->threads : ax_dist_threads(t->dist));
	if (c->batch_size % (t->world * c->accumulate_steps) != 0) {
		long long unit = (long long)t->world * (long long)c->accumulate_steps;
		long long below = (long long)c->batch_size / unit * unit;

		return AX_ERROR(AX_ERR_INVALID, "config %s: the global batch_size %lld cannot be split "
				"evenly over %d rank(s) x %lld micro-batch(es); use a multiple of %lld "
				"(such as %lld or %lld)", c->source, (long long)c->batch_size, t->world,
				(long long)c->accumulate_steps, unit, below > 0 ? below : unit * 2,
				below > 0 ? below + unit : unit * 3);
	}
	t->micro_batch = c->batch_size / (t->world * c->accumulate_steps);
	st = ax_dataset_open(c->train, &t->train);
	if (!st && c->val[0])
		st = ax_dataset_open(c->val, &t->val);
	if (st)
		return st;
	info = ax_dataset_info(t->train);
	st = pick_device(t);
	if (st)
		return st;
	st = ax_run_model(c, info, c->train, t->device, &t->model);
	if (st)
		return st;
	/* Accuracy, precision, ... of a regression are always 0: the run would stop
	 * after `patience` evaluations with the first weights as best.h5. */
	if (info->target_kind != AX_TARGET_CLASS && c->early_stopping_metric[0] &&
	    strcmp(c->early_stopping_metric, "val_loss") != 0)
		return AX_ERROR(AX_ERR_INVALID, "config %s: early_stopping_metric %s needs class labels, "
				"but %s has regression targets; use val_loss", c->source,
				c->early_stopping_metric, c->train);
	t->params = ax_model_params(t->model);
	/* No collective may run in here: a rank that fails goes straight to the
	 * agreement in ax_cmd_train, and its peers must meet it there (the
	 * initial weights are broadcast after it). */
	st = ax_grad_sync_create(t->dist, t->params, (size_t)c->bucket_kib << 10, &t->sync);
	if (st)
		return st;
	ax_grad_sync_set_prescaled(t->sync, 1); /* micro_step divides the loss by world */

	if (strcmp(c->optimizer, "sgd") == 0) {
		oo = ax_optim_defaults(AX_OPTIM_SGD);
		oo.momentum = c->momentum;
		oo.dampening = c->dampening;
		oo.nesterov = c->nesterov;
	} else {
		oo = ax_optim_defaults(strcmp(c->optimizer, "adam") == 0 ? AX_OPTIM_ADAM : AX_OPTIM_ADAMW);
		oo.beta1 = c->beta1;
		oo.beta2 = c->beta2;
		oo.eps = c->eps;
	}
	oo.weight_decay = c->weight_decay;
	st = ax_optimizer_create(t->params, &oo, &t->opt);
	if (st)
		return st;

	{
		/* The loader starts after a possible resume; its checks run now, so
		 * a job that cannot run fails before it creates any file. */
		struct ax_loader_options lo;

		loader_options(t, &lo);
		st = ax_loader_validate(t->train, &lo);
		if (st)
			return st;
	}
	t->steps_per_epoch = info->num_samples / t->world / t->micro_batch / c->accumulate_steps;
	t->total_steps = c->steps > 0 ? c->steps : c->epochs * t->steps_per_epoch;

	memset(&t->sched, 0, sizeof(t->sched));
	t->sched.kind = strcmp(c->schedule, "cosine") == 0 ? AX_SCHED_COSINE
			: strcmp(c->schedule, "step") == 0 ? AX_SCHED_STEP
							   : AX_SCHED_CONSTANT;
	t->sched.base_lr = c->lr;
	t->sched.warmup_steps = c->warmup_steps;
	t->sched.warmup_start_factor = c->warmup_start_factor;
	t->sched.step_size = c->step_size;
	t->sched.gamma = c->gamma;
	t->sched.total_steps = t->total_steps;
	t->sched.min_lr = c->min_lr;
	st = ax_schedule_validate(&t->sched);
	if (st)
		return st;

	if (info->target_kind == AX_TARGET_CLASS) {
		st = ax_confusion_create(info->num_classes, &t->confusion);
		if (st)
			return st;
	}
	{
		struct ax_ctx_options co = {.device = t->device};

		co.precision = strcmp(c->precision, "bf16") == 0 ? AX_PRECISION_BF16 : AX_PRECISION_F32;
		st = ax_ctx_create(&co, &t->ctx);
		if (st)
			return st;
	}
	if (t->device.kind != AX_DEVICE_CPU) {
		/* Two slots: the next step's batch uploads while this one computes. */
		int64_t per_sample = 1;

		for (int d = 0; d < info->sample_ndim; d++)
			per_sample *= info->sample_shape[d];
		t->stage_x_bytes = ((size_t)(t->micro_batch * per_sample) * sizeof(float) + 255) /
				   256 * 256;
		t->stage_y_bytes = (size_t)t->micro_batch *
				   (info->target_kind == AX_TARGET_CLASS ? sizeof(int32_t)
									  : sizeof(float) *
										    (size_t)info->target_dim);
		st = ax_stager_create(t->device, 2, t->stage_x_bytes + t->stage_y_bytes, &t->stager);
		if (st)
			return st;
	}
	ax_ctx_set_grad_ready(t->ctx, ax_grad_sync_ready, t->sync);

	/* The run directory: the resolved config first, so any run can be repeated. */
	if (!c->dir[0]) {
		const char *base = strrchr(c->source, '/') ? strrchr(c->source, '/') + 1 : c->source;

		snprintf(c->dir, sizeof(c->dir), "runs/%.*s", (int)strcspn(base, "."), base);
	}
	f = open_memstream(&t->config_text, &len);
	if (!f)
		return AX_ERROR(AX_ERR_NOMEM, "train: out of memory");
	ax_config_write(c, f);
	fclose(f);
	return AX_OK;
}

/* The loader starts where the data stands: the beginning, or a resumed
 * checkpoint's cursor. */
static void loader_options(const struct trainer *t, struct ax_loader_options *lo_out)
{
	const struct ax_config *c = &t->cfg;
	struct ax_loader_options lo;

	memset(&lo, 0, sizeof(lo));
	lo.batch_size = t->micro_batch;
	lo.sampler.seed = (uint64_t)c->data_seed;
	lo.sampler.rank = t->rank;
	lo.sampler.world = t->world;
	lo.sampler.shuffle = c->shuffle;
	lo.sampler.window_shards = c->window_shards;
	lo.sampler.drop_remainder = 1;
	lo.prefetch = c->prefetch;
	lo.normalize = 1;
	lo.augment.crop_padding = c->crop_padding;
	lo.augment.hflip = c->hflip;
	lo.drop_last = 1;
	lo.max_epochs = c->steps > 0 ? 0 : c->epochs;
	*lo_out = lo;
}

static enum ax_status start_loader(struct trainer *t, const struct ax_data_cursor *cursor)
{
	struct ax_loader_options lo;

	loader_options(t, &lo);
	return ax_loader_create(t->train, &lo, cursor, &t->loader);
}

/* The run directory, once every rank's set-up went well (so a rank that
 * failed leaves no half-made run behind): rank 0's files and, with
 * --rank-logs, every rank's log. */
static enum ax_status open_run_dir(struct trainer *t)
{
	struct ax_config *c = &t->cfg;
	char path[AX_CONFIG_PATH_MAX + 32];
	enum ax_status st;
	FILE *f;

	if (t->rank_logs) {
		st = make_dirs(c->dir);
		snprintf(path, sizeof(path), "%s/rank-%d.log", c->dir, t->rank);
		if (!st && !(t->rank_log = fopen(path, "w")))
			st = AX_ERROR(AX_ERR_IO, "train: cannot write %s: %s", path, strerror(errno));
		if (st)
			return st;
	}
	if (t->rank != 0)
		return AX_OK; /* only rank 0 writes the run directory */
	st = make_dirs(c->dir);
	if (st)
		return st;
	snprintf(path, sizeof(path), "%s/config.ini", c->dir);
	f = fopen(path, "w");
	if (!f || fputs(t->config_text, f) < 0 || fclose(f) != 0)
		return AX_ERROR(AX_ERR_IO, "train: cannot write %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/metrics.jsonl", c->dir);
	t->metrics = fopen(path, "w");
	if (!t->metrics)
		return AX_ERROR(AX_ERR_IO, "train: cannot write %s: %s", path, strerror(errno));
	/* mpirun hands rank 0 a pty even when its own output is a file: use
	 * plain log lines for every multi-rank run. */
	t->tty = t->world == 1 && isatty(STDOUT_FILENO);
	return AX_OK;
}

static void teardown(struct trainer *t)
{
	if (t->metrics)
		fclose(t->metrics);
	if (t->rank_log)
		fclose(t->rank_log);
	ax_grad_sync_destroy(t->sync);
	free(t->config_text);
	ax_loader_destroy(t->loader);
	ax_stager_destroy(t->stager);
	ax_confusion_destroy(t->confusion);
	ax_optimizer_destroy(t->opt);
	ax_model_destroy(t->model);
	ax_dataset_close(t->train);
	ax_dataset_close(t->val);
	ax_ctx_destroy(t->ctx);
}

/* ---- the loop ---- */

/* Where a batch's tensors come from: host memory on the CPU; on a GPU the
 * staging ring, which uploads asynchronously (inputs at the start of the
 * slot, labels or targets after them). */
static enum ax_status stage(struct trainer *t, const struct ax_batch *b, void **xd, void **yd)
{
	const struct ax_dataset_info *info = ax_dataset_info(t->train);
	size_t x_bytes = (size_t)b->size * sizeof(float), y_bytes;
	char *host, *base;
	enum ax_status st;

	for (int d = 0; d < info->sample_ndim; d++)
		x_bytes *= (size_t)info->sample_shape[d];
	if (t->device.kind == AX_DEVICE_CPU) {
		*xd = b->inputs;
		*yd = b->labels ? (void *)b->labels : (void *)b->targets;
		return AX_OK;
	}
	y_bytes = (size_t)b->size * (b->labels ? sizeof(int32_t)
					       : sizeof(float) * (size_t)info->target_dim);
	host = ax_stager_host(t->stager);
	if (!host)
		return ax_last_error_status();
	memcpy(host, b->inputs, x_bytes);
	memcpy(host + t->stage_x_bytes, b->labels ? (void *)b->labels : (void *)b->targets, y_bytes);
	st = ax_stager_submit(t->stager, t->stage_x_bytes + y_bytes, (void **)&base);
	if (st)
		return st;
	*xd = base;
	*yd = base + t->stage_x_bytes;
	return AX_OK;
}

/* GPU runs: read and upload the next step's first batch while the GPU works
 * on this step's backward. The loader's cursor before the read is kept, so a
 * checkpoint taken now still resumes at that batch. */
static enum ax_status read_ahead(struct trainer *t)
{
	enum ax_status st;

	ax_loader_cursor(t->loader, &t->next_cursor);
	st = ax_loader_next(t->loader, &t->next);
	if (st == AX_ERR_RANGE) {
		ax_clear_error();
		t->next_end = 1;
		return AX_OK;
	}
	if (!st)
		st = stage(t, &t->next, &t->next_x, &t->next_y);
	t->have_next = !st;
	return st;
}

/* One micro-batch: forward, loss, backward, queued on the context's device.
 * *loss is the local loss tensor (on the device; read it before the reset). */
static enum ax_status micro_step(struct trainer *t, const struct ax_batch *b, void *xd, void *yd,
				 struct ax_tensor **loss_out)
{
	const struct ax_dataset_info *info = ax_dataset_info(t->train);
	const struct ax_ce_options ce = {t->cfg.label_smoothing, -100};
	int64_t xs[AX_MAX_DIMS + 1];
	struct ax_tensor *x, *y, *out, *loss = NULL, *scaled;
	double t0 = ax_train_now(), t1;
	enum ax_status st;

	xs[0] = b->size;
	memcpy(xs + 1, info->sample_shape, sizeof(int64_t) * (size_t)info->sample_ndim);
	st = ax_tensor_wrap(t->ctx, AX_F32, info->sample_ndim + 1, xs, xd, &x);
	if (!st)
		st = ax_model_forward(t->model, t->ctx, x, &out);
	if (!st && info->target_kind == AX_TARGET_CLASS) {
		st = ax_tensor_wrap(t->ctx, AX_I32, 1, &b->size, yd, &y);
		if (!st)
			st = ax_cross_entropy(t->ctx, out, y, &ce, &loss);
	} else if (!st) {
		int64_t ts[2] = {b->size, info->target_dim};

		st = ax_tensor_wrap(t->ctx, AX_F32, 2, ts, yd, &y);
		if (!st)
			st = ax_mse(t->ctx, out, y, &loss);
	}
	/* The mean over the global batch: 1/k of each of k micro-batches and 1/world
	 * of each rank's (so the gradient all-reduce only sums). */
	scaled = loss;
	if (!st && t->cfg.accumulate_steps * t->world > 1)
		st = ax_mul_scalar(t->ctx, loss, ax_grad_sync_loss_scale(t->sync) /
					     (float)t->cfg.accumulate_steps, &scaled);
	/* Fault tests poison chosen step attempts (AXON_FAULT_NAN_STEPS). */
	if (!st && ax_coord_fault_nan(t->attempts))
		st = ax_mul_scalar(t->ctx, scaled, NAN, &scaled);
	t1 = ax_train_now();
	t->prof.forward += t1 - t0;
	ax_coord_beat(t->step, "backward");
	if (!st)
		st = ax_backward(t->ctx, scaled);
	t->prof.backward += ax_train_now() - t1;
	*loss_out = loss;
	return st;
}

/* The mean of every rank's loss for logging (a small all-reduce, only at log steps). */
static double global_loss(struct trainer *t, double sum, int64_t count)
{
	double v[2] = {sum, (double)count};

	if (ax_dist_sum_f64(t->dist, v, 2))
		return sum / (double)(count ? count : 1);
	return v[0] / (v[1] > 0 ? v[1] : 1);
}

/* Checkpoint and stop decisions: checked every step on one rank, every
 * AGREE_EVERY steps (one tiny all-reduce) on several. */
#define AGREE_EVERY 16

static enum ax_status coordinate(struct trainer *t, int *stop_by_signal)
{
	int save_steps = t->cfg.ckpt_every_steps > 0 && t->step % t->cfg.ckpt_every_steps == 0;
	int stop = 0, save_time = 0;
	enum ax_status st = AX_OK;

	if (t->world == 1 || t->step % AGREE_EVERY == 0) {
		int due = t->cfg.ckpt_every_minutes > 0 &&
			  ax_train_now() - t->last_save >= 60.0 * t->cfg.ckpt_every_minutes;

		st = ax_coord_agree(t->dist, ax_coord_signal() != 0, due, &stop, &save_time);
	}
	if (st)
		return st;
	if (stop) {
		if (t->rank == 0)
			printf("%ssignal received: saving a checkpoint at step %lld and stopping (exit %d; "
			       "resume with --resume auto)\n", t->tty ? "\n" : "", (long long)t->step,
			       AX_EXIT_PREEMPTED);
		*stop_by_signal = 1;
		return ax_train_ckpt_save(t, 1, 0);
	}
	if ((save_steps || save_time) && t->last_saved_step != t->step)
		st = ax_train_ckpt_save(t, 0, 0);
	return st;
}

static enum ax_status train_loop(struct trainer *t, int *stop_by_signal)
{
	int64_t k = t->cfg.accumulate_steps;
	double loss_sum = 0;
	int64_t loss_count = 0;
	enum ax_status st = AX_OK;
	int stop = 0, end_of_data = 0;
	int grads_zero = 0; /* the last optimizer step left the gradients zero */

	t->start = ax_train_now();
	t->start_step = t->step;
	t->attempts = t->step;
	while (t->step < t->total_steps && !stop && !end_of_data) {
		struct ax_batch b;
		int last_in_epoch = 0;
		float lr = (float)(ax_schedule_lr(&t->sched, t->step) * t->lr_scale), value = 0;
		double t0, norm = 0;

		if (!grads_zero)
			st = ax_params_zero_grad(t->params);
		grads_zero = 0;
		for (int64_t m = 0; !st && m < k; m++) {
			struct ax_tensor *loss = NULL;
			const float *lv = NULL;
			void *xd = NULL, *yd = NULL;

			t0 = ax_train_now();
			ax_coord_beat(t->step, "data");
			if (t->have_next) {
				b = t->next;
				xd = t->next_x;
				yd = t->next_y;
				t->have_next = 0;
			} else if (t->next_end) {
				st = AX_ERR_RANGE;
			} else {
				st = ax_loader_next(t->loader, &b);
				if (!st)
					st = stage(t, &b, &xd, &yd);
			}
			t->prof.data += ax_train_now() - t0;
			if (st == AX_ERR_RANGE) {
				ax_clear_error();
				st = AX_OK;
				end_of_data = 1;
				break;
			}
			if (st)
				break;
			t->epoch = b.epoch;
			last_in_epoch |= b.last_in_epoch;
			ax_coord_beat(t->step, "forward");
			ax_grad_sync_begin(t->sync, m == k - 1);
			st = micro_step(t, &b, xd, yd, &loss);
			/* The GPU runs backward while the host reads the next batch. */
			if (!st && m == k - 1 && t->device.kind != AX_DEVICE_CPU)
				st = read_ahead(t);
			if (!st)
				st = ax_run_host_f32(t->ctx, loss, &lv);
			value = st ? NAN : *lv;
			if (!st)
				st = ax_ctx_reset(t->ctx);
			else
				ax_ctx_reset(t->ctx);
			loss_sum += value / (double)k;
		}
		if (st || end_of_data)
			break;
		t0 = ax_train_now();
		ax_coord_beat(t->step, "gradients");
		st = ax_grad_sync_finish(t->sync);
		t->prof.comm += ax_train_now() - t0;
		t0 = ax_train_now();
		ax_coord_beat(t->step, "optimizer");
		/* The NaN guard looks at the averaged gradient, the same on every
		 * rank, so all ranks skip (or roll back) together without talking. */
		if (!st)
			st = t->cfg.clip_grad_norm > 0 ? ax_clip_grad_norm(t->params, t->cfg.clip_grad_norm, &norm)
							: ax_grad_norm(t->params, &norm);
		t->attempts++;
		if (!st && !isfinite(norm)) {
			t->nan_streak++;
			loss_sum = 0;
			if (t->rank == 0) {
				cJSON *o = cJSON_CreateObject();

				printf("%snan guard: step %lld has a non-finite gradient norm; update skipped "
				       "(%lld in a row)\n", t->tty ? "\n" : "", (long long)t->step,
				       (long long)t->nan_streak);
				cJSON_AddStringToObject(o, "type", "nan");
				cJSON_AddNumberToObject(o, "step", (double)t->step);
				cJSON_AddNumberToObject(o, "in_a_row", (double)t->nan_streak);
				ax_train_write_json(t, o);
			}
			if (t->nan_streak >= t->cfg.nan_patience)
				st = ax_train_ckpt_rollback(t);
			/* A signal still stops the run while steps are being skipped. */
			if (!st)
				st = coordinate(t, stop_by_signal);
			if (st || *stop_by_signal)
				break;
			continue;
		}
		t->nan_streak = 0;
		/* The step clears the gradients as it reads them: no zero_grad pass
		 * before the next step (a skipped step above leaves them to it). */
		if (!st)
			st = ax_optimizer_step_clear(t->opt, lr);
		grads_zero = !st;
		t->prof.optimizer += ax_train_now() - t0;
		if (st)
			break;
		t->step++;
		t->prof.steps++;
		loss_count++;
		if (t->rank_log)
			fprintf(t->rank_log, "step %lld epoch %lld local loss %.6f\n", (long long)t->step,
				(long long)t->epoch, value);
		if (t->step % t->cfg.log_every == 0 || t->step == t->total_steps) {
			ax_train_progress(t, t->step, t->epoch, global_loss(t, loss_sum, loss_count), lr, 1);
			loss_sum = 0;
			loss_count = 0;
		} else {
			ax_train_progress(t, t->step, t->epoch, loss_sum / (double)loss_count, lr, 0);
		}
		if ((t->cfg.eval_every > 0 && t->step % t->cfg.eval_every == 0) ||
		    (t->cfg.eval_every == 0 && last_in_epoch) || t->step == t->total_steps) {
			ax_coord_beat(t->step, "eval");
			st = ax_train_validate(t, t->step, t->epoch, &stop);
			/* A new best: keep a checkpoint of it that retention never removes. */
			if (!st && t->have_best && t->best_step == t->step)
				st = ax_train_ckpt_save(t, 0, 1);
			if (st)
				break;
		}
		st = coordinate(t, stop_by_signal);
		if (st || *stop_by_signal)
			break;
	}
	if (t->rank == 0 && t->tty)
		printf("\n");
	if (!st && !*stop_by_signal) {
		double seconds = ax_train_now() - t->start;

		if (t->last_saved_step != t->step)
			st = ax_train_ckpt_save(t, 1, 0);
		else if (t->rank == 0)
			st = ax_ckpt_saver_wait(t->saver, NULL, 0);
		if (!st && t->rank == 0)
			st = ax_train_save_weights(t, "model.h5", t->step, t->epoch, "seconds", seconds);
		if (!st && t->rank == 0)
			printf("trained %lld steps (%lld epochs) on %d rank(s) in %.1f s, %.0f samples/s; "
			       "weights in %s/model.h5%s\n", (long long)t->step,
			       (long long)(t->step / (t->steps_per_epoch ? t->steps_per_epoch : 1)),
			       t->world, seconds,
			       seconds > 0 ? (t->step - t->start_step) * t->cfg.batch_size / seconds : 0,
			       t->cfg.dir, t->have_best ? ", best in best.h5" : "");
	}
	return st;
}

int ax_cmd_train(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"set", required_argument, NULL, 's'},
		{"profile", no_argument, NULL, 'p'},
		{"rank-logs", no_argument, NULL, 'r'},
		{"resume", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char **overrides = calloc((size_t)argc, sizeof(char *));
	int n_overrides = 0, opt, in_run = 0, stop_by_signal = 0, have_cursor = 0;
	struct ax_data_cursor cursor;
	struct trainer *t = calloc(1, sizeof(*t));
	enum ax_status st;

	if (!overrides || !t) {
		fprintf(stderr, "axon train: out of memory\n");
		return 1;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 's') {
			overrides[n_overrides++] = optarg;
		} else if (opt == 'p') {
			t->show_profile = 1;
		} else if (opt == 'r') {
			t->rank_logs = 1;
		} else if (opt == 'R') {
			t->resume = optarg;
		} else {
			usage(opt == 'h' ? stdout : stderr);
			free(overrides);
			free(t);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		free(overrides);
		free(t);
		return 2;
	}
	/* Before MPI_Init, so MPI's own handlers are installed on top of ours. */
	ax_coord_install_signals();
	st = ax_dist_init(NULL, NULL, &t->dist);
	if (st) {
		ax_run_report("train", st);
		free(overrides);
		free(t);
		return 1;
	}
	t->rank = ax_dist_rank(t->dist);
	t->world = ax_dist_world(t->dist);
	st = ax_config_load(&t->cfg, argv[optind], n_overrides, overrides);
	st = ax_train_agree(t, st, "reading the config");
	if (!st)
		st = ax_dist_check_same(t->dist, ax_config_hash(&t->cfg), "config");
	if (!st)
		st = ax_train_agree(t, setup(t), "set-up");
	if (!st)
		st = ax_train_join(t);
	if (!st)
		st = ax_train_agree(t, open_run_dir(t), "creating the run directory");
	if (!st)
		st = ax_train_agree(t, ax_train_ckpt_setup(t), "preparing checkpoints");
	if (!st)
		st = ax_train_ckpt_resume(t, &cursor, &have_cursor);
	if (!st)
		st = ax_train_agree(t, start_loader(t, have_cursor ? &cursor : NULL), "starting the data loader");
	if (!st && t->rank == 0) {
		char where[160] = "cpu";

		if (t->device.kind != AX_DEVICE_CPU &&
		    ax_device_ops_get(t->device.kind)->describe(t->device.index, where, sizeof(where)))
			ax_clear_error();
		printf("axon %s: training %s on %s (%lld samples), %d rank(s) x %d BLAS thread(s), "
		       "global batch %lld, device %s%s, run dir %s\n", ax_version(), t->cfg.source,
		       t->cfg.train, (long long)ax_dataset_info(t->train)->num_samples, t->world,
		       t->threads, (long long)t->cfg.batch_size, where,
		       strcmp(t->cfg.precision, "bf16") == 0 ? " bf16" : "", t->cfg.dir);
		if (t->world > 1)
			printf("gradients: all-reduced over %s%s%s%s\n", ax_grad_sync_transport_name(t->sync),
			       ax_grad_sync_transport_note(t->sync)[0] ? " (shared memory not used: " : "",
			       ax_grad_sync_transport_note(t->sync),
			       ax_grad_sync_transport_note(t->sync)[0] ? ")" : "");
		ax_model_summary(t->model, stdout);
	}
	if (!st) {
		in_run = 1;
		ax_coord_watchdog_start(t->cfg.watchdog_seconds, t->rank);
		st = train_loop(t, &stop_by_signal);
	}
	if (st) {
		if (t->world > 1)
			fprintf(stderr, "axon train (rank %d of %d): %s\n", t->rank, t->world,
				ax_last_error());
		else
			ax_run_report("train", st);
		/* Mid-run, the other ranks may be inside a collective: end the job. */
		if (in_run && t->world > 1) {
			fflush(NULL);
			ax_dist_abort(t->dist, 1);
		}
	}
	ax_coord_watchdog_stop();
	ax_train_ckpt_teardown(t);
	teardown(t);
	ax_dist_finalize(t->dist);
	free(overrides);
	free(t);
	return st ? AX_EXIT_ERROR : stop_by_signal ? AX_EXIT_PREEMPTED : AX_EXIT_OK;
}
