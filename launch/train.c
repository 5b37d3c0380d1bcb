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
 * terminal or plain log lines otherwise. */
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
#include "run.h"

struct trainer {
	struct ax_config cfg;
	struct ax_dataset *train, *val;
	struct ax_model *model;
	struct ax_params *params;
	struct ax_optimizer *opt;
	struct ax_schedule sched;
	struct ax_loader *loader;
	struct ax_ctx *ctx;
	struct ax_confusion *confusion;
	FILE *metrics;
	char *config_text;
	int tty, threads;
	int64_t total_steps, steps_per_epoch;
	double start, last_print;
	/* early stopping */
	double best;
	int64_t best_step, bad_evals;
	int have_best;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: axon train CONFIG [--set section.key=value ...]\n"
		     "\n"
		     "Train the model CONFIG describes (see docs/config.md). Writes into [output] dir:\n"
		     "config.ini (the resolved config), metrics.jsonl, model.h5 and best.h5.\n");
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

static void write_json(struct trainer *t, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);

	if (text && t->metrics) {
		fprintf(t->metrics, "%s\n", text);
		fflush(t->metrics);
	}
	free(text);
	cJSON_Delete(obj);
}

static void format_eta(double seconds, char *buf, size_t len)
{
	long s = seconds > 0 && seconds < 1e8 ? (long)seconds : 0;

	if (s >= 3600)
		snprintf(buf, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
}

/* ---- setup ---- */

static enum ax_status setup(struct trainer *t)
{
	struct ax_config *c = &t->cfg;
	struct ax_optim_options oo;
	struct ax_loader_options lo;
	const struct ax_dataset_info *info;
	char path[AX_CONFIG_PATH_MAX + 32];
	enum ax_status st;
	size_t len;
	FILE *f;

	t->threads = ax_run_threads(c->threads);
	st = ax_dataset_open(c->train, &t->train);
	if (!st && c->val[0])
		st = ax_dataset_open(c->val, &t->val);
	if (st)
		return st;
	info = ax_dataset_info(t->train);
	st = ax_run_model(c, info, c->train, &t->model);
	if (st)
		return st;
	t->params = ax_model_params(t->model);

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

	memset(&lo, 0, sizeof(lo));
	lo.batch_size = c->batch_size;
	lo.sampler.seed = (uint64_t)c->data_seed;
	lo.sampler.world = 1;
	lo.sampler.shuffle = c->shuffle;
	lo.sampler.window_shards = c->window_shards;
	lo.sampler.drop_remainder = 1;
	lo.prefetch = c->prefetch;
	lo.normalize = 1;
	lo.augment.crop_padding = c->crop_padding;
	lo.augment.hflip = c->hflip;
	lo.drop_last = 1;
	lo.max_epochs = c->steps > 0 ? 0 : c->epochs;
	st = ax_loader_create(t->train, &lo, NULL, &t->loader);
	if (st)
		return st;
	t->steps_per_epoch = info->num_samples / c->batch_size;
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
	st = ax_ctx_create(NULL, &t->ctx);
	if (st)
		return st;

	/* The run directory: the resolved config first, so any run can be repeated. */
	if (!c->dir[0]) {
		const char *base = strrchr(c->source, '/') ? strrchr(c->source, '/') + 1 : c->source;

		snprintf(c->dir, sizeof(c->dir), "runs/%.*s", (int)strcspn(base, "."), base);
	}
	st = make_dirs(c->dir);
	if (st)
		return st;
	f = open_memstream(&t->config_text, &len);
	if (!f)
		return AX_ERROR(AX_ERR_NOMEM, "train: out of memory");
	ax_config_write(c, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/config.ini", c->dir);
	f = fopen(path, "w");
	if (!f || fputs(t->config_text, f) < 0 || fclose(f) != 0)
		return AX_ERROR(AX_ERR_IO, "train: cannot write %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/metrics.jsonl", c->dir);
	t->metrics = fopen(path, "w");
	if (!t->metrics)
		return AX_ERROR(AX_ERR_IO, "train: cannot write %s: %s", path, strerror(errno));
	t->tty = isatty(STDOUT_FILENO);
	return AX_OK;
}

static void teardown(struct trainer *t)
{
	if (t->metrics)
		fclose(t->metrics);
	free(t->config_text);
	ax_loader_destroy(t->loader);
	ax_confusion_destroy(t->confusion);
	ax_optimizer_destroy(t->opt);
	ax_model_destroy(t->model);
	ax_dataset_close(t->train);
	ax_dataset_close(t->val);
	ax_ctx_destroy(t->ctx);
}

/* ---- evaluation and early stopping ---- */

static int metric_lower_is_better(const char *metric)
{
	return strcmp(metric, "val_loss") == 0;
}

static double metric_value(const char *metric, const struct ax_eval *e,
			   const struct ax_class_metrics *m)
{
	if (strcmp(metric, "val_accuracy") == 0)
		return m->accuracy;
	if (strcmp(metric, "val_precision") == 0)
		return m->macro_precision;
	if (strcmp(metric, "val_recall") == 0)
		return m->macro_recall;
	if (strcmp(metric, "val_f1") == 0)
		return m->macro_f1;
	return e->loss;
}

static enum ax_status save_weights(struct trainer *t, const char *file, int64_t step, int64_t epoch,
				   const char *metric, double value)
{
	char path[AX_CONFIG_PATH_MAX + 32], meta[256];

	snprintf(path, sizeof(path), "%s/%s", t->cfg.dir, file);
	snprintf(meta, sizeof(meta), "{\"step\": %lld, \"epoch\": %lld, \"%s\": %.9g}",
		 (long long)step, (long long)epoch, metric, value);
	return ax_weights_save(t->params, path, t->config_text, meta);
}

/* Validate; returns 1 in *stop when patience has run out. */
static enum ax_status validate(struct trainer *t, int64_t step, int64_t epoch, int *stop)
{
	const char *metric = t->cfg.early_stopping_metric[0] ? t->cfg.early_stopping_metric
							    : "val_loss";
	struct ax_eval e = {0};
	struct ax_class_metrics m = {0};
	double value, t0 = now();
	int improved;
	cJSON *obj;
	enum ax_status st;

	*stop = 0;
	if (!t->val)
		return AX_OK;
	if (t->confusion)
		ax_confusion_reset(t->confusion);
	e.confusion = t->confusion;
	st = ax_run_evaluate(t->model, t->ctx, t->val, &t->cfg, &e, NULL, NULL);
	if (!st && t->confusion)
		st = ax_confusion_metrics(t->confusion, &m, NULL, NULL, NULL);
	if (st)
		return st;
	value = metric_value(metric, &e, &m);
	improved = !t->have_best ||
		   (metric_lower_is_better(metric) ? value < t->best - t->cfg.min_delta
						   : value > t->best + t->cfg.min_delta);
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "type", "eval");
	cJSON_AddStringToObject(obj, "split", "val");
	cJSON_AddNumberToObject(obj, "step", (double)step);
	cJSON_AddNumberToObject(obj, "epoch", (double)epoch);
	cJSON_AddNumberToObject(obj, "loss", e.loss);
	if (t->confusion) {
		cJSON_AddNumberToObject(obj, "accuracy", m.accuracy);
		cJSON_AddNumberToObject(obj, "precision", m.macro_precision);
		cJSON_AddNumberToObject(obj, "recall", m.macro_recall);
		cJSON_AddNumberToObject(obj, "f1", m.macro_f1);
	}
	cJSON_AddNumberToObject(obj, "samples", (double)e.samples);
	cJSON_AddBoolToObject(obj, "best", improved);
	cJSON_AddNumberToObject(obj, "seconds", now() - t0);
	write_json(t, obj);
	if (t->tty)
		printf("\r\033[K");
	if (t->confusion)
		printf("eval  epoch %lld step %lld: loss %.4f accuracy %.4f precision %.4f recall %.4f "
		       "f1 %.4f%s\n", (long long)epoch, (long long)step, e.loss, m.accuracy,
		       m.macro_precision, m.macro_recall, m.macro_f1, improved ? "  (best)" : "");
	else
		printf("eval  epoch %lld step %lld: loss %.6f%s\n", (long long)epoch, (long long)step,
		       e.loss, improved ? "  (best)" : "");
	fflush(stdout);
	if (improved) {
		t->best = value;
		t->best_step = step;
		t->have_best = 1;
		t->bad_evals = 0;
		return save_weights(t, "best.h5", step, epoch, metric, value);
	}
	t->bad_evals++;
	if (t->cfg.early_stopping_metric[0] && t->cfg.patience > 0 && t->bad_evals >= t->cfg.patience) {
		printf("early stopping: %s has not improved for %lld evaluations (best %.6g at step "
		       "%lld)\n", metric, (long long)t->bad_evals, t->best, (long long)t->best_step);
		*stop = 1;
	}
	return AX_OK;
}

/* ---- progress ---- */

static void progress(struct trainer *t, int64_t step, int64_t epoch, double loss, float lr,
		     int force_log)
{
	double elapsed = now() - t->start, rate = elapsed > 0 ? step * t->cfg.batch_size / elapsed : 0;
	double left = rate > 0 ? (double)(t->total_steps - step) * t->cfg.batch_size / rate : 0;
	int64_t epochs = t->cfg.steps > 0 ? 0 : t->cfg.epochs;
	char eta[32];

	format_eta(left, eta, sizeof(eta));
	if (t->tty && now() - t->last_print > 0.1) {
		printf("\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.3g  %.0f samples/s  "
		       "eta %s", (long long)epoch + 1, (long long)epochs, (long long)step,
		       (long long)t->total_steps, loss, lr, rate, eta);
		fflush(stdout);
		t->last_print = now();
	}
	if (force_log) {
		cJSON *obj = cJSON_CreateObject();

		cJSON_AddStringToObject(obj, "type", "train");
		cJSON_AddNumberToObject(obj, "step", (double)step);
		cJSON_AddNumberToObject(obj, "epoch", (double)epoch);
		cJSON_AddNumberToObject(obj, "loss", loss);
		cJSON_AddNumberToObject(obj, "lr", lr);
		cJSON_AddNumberToObject(obj, "samples_per_sec", rate);
		cJSON_AddNumberToObject(obj, "seconds", elapsed);
		write_json(t, obj);
		if (!t->tty) {
			printf("train epoch %lld step %lld/%lld loss %.4f lr %.3g %.0f samples/s eta %s\n",
			       (long long)epoch, (long long)step, (long long)t->total_steps, loss, lr,
			       rate, eta);
			fflush(stdout);
		}
	}
}

/* ---- the loop ---- */

static enum ax_status train_loop(struct trainer *t)
{
	const struct ax_dataset_info *info = ax_dataset_info(t->train);
	const struct ax_ce_options ce = {t->cfg.label_smoothing, -100};
	int64_t step = 0, epoch = 0, xs[AX_MAX_DIMS + 1];
	double loss_sum = 0;
	int64_t loss_count = 0;
	enum ax_status st = AX_OK;
	int stop = 0;

	memcpy(xs + 1, info->sample_shape, sizeof(int64_t) * (size_t)info->sample_ndim);
	t->start = now();
	while (step < t->total_steps && !stop) {
		struct ax_batch b;
		struct ax_tensor *x, *y, *out, *loss;
		float lr, value;

		st = ax_loader_next(t->loader, &b);
		if (st == AX_ERR_RANGE) {
			ax_clear_error();
			st = AX_OK;
			break;
		}
		if (st)
			break;
		epoch = b.epoch;
		lr = ax_schedule_lr(&t->sched, step);
		xs[0] = b.size;
		st = ax_params_zero_grad(t->params);
		if (!st)
			st = ax_tensor_wrap(t->ctx, AX_F32, info->sample_ndim + 1, xs, b.inputs, &x);
		if (!st)
			st = ax_model_forward(t->model, t->ctx, x, &out);
		if (!st && info->target_kind == AX_TARGET_CLASS) {
			st = ax_tensor_wrap(t->ctx, AX_I32, 1, &b.size, b.labels, &y);
			if (!st)
				st = ax_cross_entropy(t->ctx, out, y, &ce, &loss);
		} else if (!st) {
			int64_t ts[2] = {b.size, info->target_dim};

			st = ax_tensor_wrap(t->ctx, AX_F32, 2, ts, b.targets, &y);
			if (!st)
				st = ax_mse(t->ctx, out, y, &loss);
		}
		if (!st)
			st = ax_backward(t->ctx, loss);
		if (!st && t->cfg.clip_grad_norm > 0) {
			double norm;

			st = ax_clip_grad_norm(t->params, t->cfg.clip_grad_norm, &norm);
		}
		if (!st)
			st = ax_optimizer_step(t->opt, lr);
		value = st ? NAN : *(float *)loss->data;
		if (st) {
			ax_ctx_reset(t->ctx);
			break;
		}
		st = ax_ctx_reset(t->ctx);
		if (st)
			break;
		if (!isfinite(value)) {
			st = AX_ERROR(AX_ERR_INVALID, "train: the loss is %g at step %lld (epoch %lld); "
				      "lower [optimizer] lr or set clip_grad_norm", value,
				      (long long)step, (long long)epoch);
			break;
		}
		step++;
		loss_sum += value;
		loss_count++;
		progress(t, step, epoch, loss_sum / (double)loss_count, lr,
			 step % t->cfg.log_every == 0 || step == t->total_steps);
		if (step % t->cfg.log_every == 0) {
			loss_sum = 0;
			loss_count = 0;
		}
		if ((t->cfg.eval_every > 0 && step % t->cfg.eval_every == 0) ||
		    (t->cfg.eval_every == 0 && b.last_in_epoch) || step == t->total_steps) {
			st = validate(t, step, epoch, &stop);
			if (st)
				break;
		}
	}
	if (t->tty)
		printf("\n");
	if (!st) {
		double seconds = now() - t->start;

		st = save_weights(t, "model.h5", step, epoch, "seconds", seconds);
		printf("trained %lld steps (%lld epochs) in %.1f s, %.0f samples/s; weights in %s/model.h5"
		       "%s\n", (long long)step, (long long)(step / (t->steps_per_epoch ? t->steps_per_epoch : 1)),
		       seconds, seconds > 0 ? step * t->cfg.batch_size / seconds : 0, t->cfg.dir,
		       t->have_best ? ", best in best.h5" : "");
	}
	return st;
}

int ax_cmd_train(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"set", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char **overrides = calloc((size_t)argc, sizeof(char *));
	int n_overrides = 0, opt;
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
		} else if (opt == 'h') {
			usage(stdout);
			free(overrides);
			free(t);
			return 0;
		} else {
			usage(stderr);
			free(overrides);
			free(t);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		free(overrides);
		free(t);
		return 2;
	}
	st = ax_config_load(&t->cfg, argv[optind], n_overrides, overrides);
	if (!st)
		st = setup(t);
	if (!st) {
		printf("axon %s: training %s on %s (%lld samples), %d BLAS thread(s), run dir %s\n",
		       ax_version(), t->cfg.source, t->cfg.train,
		       (long long)ax_dataset_info(t->train)->num_samples, t->threads, t->cfg.dir);
		ax_model_summary(t->model, stdout);
		st = train_loop(t);
	}
	if (st)
		ax_run_report("train", st);
	teardown(t);
	free(overrides);
	free(t);
	return st ? 1 : 0;
}
