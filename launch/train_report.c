/* train_report.c - what a training run tells people and leaves on disk:
 * the progress line or log lines, metrics.jsonl, validation with early
 * stopping, and the weights files (model.h5, best.h5). Only rank 0 prints
 * and writes; every rank computes the same reduced metrics and so takes the
 * same early-stopping decision. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon/weights.h"
#include "trainer.h"

void ax_train_write_json(struct trainer *t, cJSON *obj)
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

enum ax_status ax_train_save_weights(struct trainer *t, const char *file, int64_t step, int64_t epoch,
				   const char *metric, double value)
{
	char path[AX_CONFIG_PATH_MAX + 32], meta[256];

	snprintf(path, sizeof(path), "%s/%s", t->cfg.dir, file);
	snprintf(meta, sizeof(meta), "{\"step\": %lld, \"epoch\": %lld, \"%s\": %.9g}",
		 (long long)step, (long long)epoch, metric, value);
	return ax_weights_save(t->params, path, t->config_text, meta);
}

/* Validate; returns 1 in *stop when patience has run out. */
enum ax_status ax_train_validate(struct trainer *t, int64_t step, int64_t epoch, int *stop)
{
	const char *metric = t->cfg.early_stopping_metric[0] ? t->cfg.early_stopping_metric
							    : "val_loss";
	struct ax_eval e = {0};
	struct ax_class_metrics m = {0};
	double value, t0 = ax_train_now();
	int improved;
	cJSON *obj;
	enum ax_status st;

	*stop = 0;
	if (!t->val)
		return AX_OK;
	if (t->confusion)
		ax_confusion_reset(t->confusion);
	e.confusion = t->confusion;
	st = ax_run_evaluate(t->model, t->ctx, t->val, &t->cfg, t->dist, &e, NULL, NULL);
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
	cJSON_AddNumberToObject(obj, "seconds", ax_train_now() - t0);
	ax_train_write_json(t, obj);
	if (t->rank != 0)
		goto decide;
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
decide:
	/* Every rank holds the same reduced metrics, so every rank decides alike. */
	if (improved) {
		t->best = value;
		t->best_step = step;
		t->have_best = 1;
		t->bad_evals = 0;
		return t->rank == 0 ? ax_train_save_weights(t, "best.h5", step, epoch, metric, value) : AX_OK;
	}
	t->bad_evals++;
	if (t->cfg.early_stopping_metric[0] && t->cfg.patience > 0 && t->bad_evals >= t->cfg.patience) {
		if (t->rank == 0)
			printf("early stopping: %s has not improved for %lld evaluations (best %.6g at step "
		       "%lld)\n", metric, (long long)t->bad_evals, t->best, (long long)t->best_step);
		*stop = 1;
	}
	return AX_OK;
}

/* ---- progress ---- */

void ax_train_progress(struct trainer *t, int64_t step, int64_t epoch, double loss, float lr,
		     int force_log)
{
	/* Steps of this process only: a resumed run starts at t->start_step. */
	double elapsed = ax_train_now() - t->start;
	double rate = elapsed > 0 ? (step - t->start_step) * t->cfg.batch_size / elapsed : 0;
	double left = rate > 0 ? (double)(t->total_steps - step) * t->cfg.batch_size / rate : 0;
	int64_t epochs = t->cfg.steps > 0 ? 0 : t->cfg.epochs;
	char eta[32];

	format_eta(left, eta, sizeof(eta));
	if (t->rank == 0 && t->tty && ax_train_now() - t->last_print > 0.1) {
		printf("\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.3g  %.0f samples/s  "
		       "eta %s", (long long)epoch + 1, (long long)epochs, (long long)step,
		       (long long)t->total_steps, loss, lr, rate, eta);
		fflush(stdout);
		t->last_print = ax_train_now();
	}
	if (!force_log)
		return;
	if (t->rank == 0) {
		cJSON *obj = cJSON_CreateObject();

		cJSON_AddStringToObject(obj, "type", "train");
		cJSON_AddNumberToObject(obj, "step", (double)step);
		cJSON_AddNumberToObject(obj, "epoch", (double)epoch);
		cJSON_AddNumberToObject(obj, "loss", loss);
		cJSON_AddNumberToObject(obj, "lr", lr);
		cJSON_AddNumberToObject(obj, "samples_per_sec", rate);
		cJSON_AddNumberToObject(obj, "seconds", elapsed);
		ax_train_write_json(t, obj);
		if (!t->tty) {
			printf("train epoch %lld step %lld/%lld loss %.4f lr %.3g %.0f samples/s eta %s\n",
			       (long long)epoch, (long long)step, (long long)t->total_steps, loss, lr,
			       rate, eta);
			fflush(stdout);
		}
	}
	if (t->show_profile && t->rank == 0 && t->prof.steps > 0) {
		const struct profile *p = &t->prof;
		double total = p->data + p->forward + p->backward + p->comm + p->optimizer;
		double ms = 1e3 / (double)p->steps;

		printf("%sprofile over %lld steps, ms/step: data wait %.3f, forward %.3f, backward %.3f, "
		       "gradient wait %.3f, optimizer %.3f, total %.3f\n", t->tty ? "\r\033[K" : "",
		       (long long)p->steps, p->data * ms, p->forward * ms, p->backward * ms,
		       p->comm * ms, p->optimizer * ms, total * ms);
		memset(&t->prof, 0, sizeof(t->prof));
	}
}

