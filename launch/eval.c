/* eval.c - `axon eval` and `axon predict`.
 *
 *   axon eval CONFIG --weights FILE [--data DIR] [--set ...]
 *       loss, accuracy, macro precision/recall/F1 and the confusion matrix
 *   axon predict CONFIG --weights FILE --data DIR --out FILE [--set ...]
 *       per sample: index, predicted class, class probabilities, as CSV
 *       (FILE ends in .csv) or HDF5 (anything else: datasets "index",
 *       "predicted", "probabilities")
 *
 * Both build the model from the config, load the weights by parameter name
 * (a missing or misshapen tensor is an error naming it) and make one pass
 * over the dataset in natural order. */
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon/weights.h"
#include "run.h"

struct cli {
	const char *config, *weights, *data, *out;
	char **overrides;
	int n_overrides;
};

static int parse_cli(const char *command, int argc, char **argv, struct cli *cli, int need_out)
{
	static const struct option longopts[] = {
		{"weights", required_argument, NULL, 'w'}, {"data", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},     {"set", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int opt;

	memset(cli, 0, sizeof(*cli));
	cli->overrides = calloc((size_t)argc, sizeof(char *));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w': cli->weights = optarg; break;
		case 'd': cli->data = optarg; break;
		case 'o': cli->out = optarg; break;
		case 's': cli->overrides[cli->n_overrides++] = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || !cli->weights || (need_out && (!cli->out || !cli->data)))
		goto usage;
	cli->config = argv[optind];
	return 0;
usage:
	fprintf(stderr, "usage: axon %s CONFIG --weights FILE %s[--set section.key=value ...]\n",
		command, need_out ? "--data DIR --out FILE.csv|FILE.h5 " : "[--data DIR] ");
	return 2;
}

struct session {
	struct ax_config cfg;
	struct ax_dataset *ds;
	struct ax_model *model;
	struct ax_ctx *ctx;
	const char *data;
};

static enum ax_status open_session(struct session *s, const struct cli *cli)
{
	enum ax_status st = ax_config_load(&s->cfg, cli->config, cli->n_overrides, cli->overrides);

	if (st)
		return st;
	ax_run_threads(s->cfg.threads);
	s->data = cli->data ? cli->data : s->cfg.test[0] ? s->cfg.test : s->cfg.val;
	if (!s->data[0])
		return AX_ERROR(AX_ERR_INVALID, "no dataset to evaluate: pass --data DIR or set [data] "
				"test in %s", cli->config);
	st = ax_dataset_open(s->data, &s->ds);
	if (!st)
		st = ax_run_model(&s->cfg, ax_dataset_info(s->ds), s->data, AX_CPU, &s->model);
	if (!st)
		st = ax_weights_load(ax_model_params(s->model), cli->weights, 0, NULL);
	if (!st)
		st = ax_ctx_create(NULL, &s->ctx);
	return st;
}

static void close_session(struct session *s)
{
	ax_ctx_destroy(s->ctx);
	ax_model_destroy(s->model);
	ax_dataset_close(s->ds);
}

int ax_cmd_eval(int argc, char **argv)
{
	struct cli cli;
	struct session s = {0};
	struct ax_eval e = {0};
	struct ax_class_metrics m;
	enum ax_status st;
	int rc = parse_cli("eval", argc, argv, &cli, 0);

	if (rc) {
		free(cli.overrides);
		return rc;
	}
	st = open_session(&s, &cli);
	if (!st && ax_dataset_info(s.ds)->target_kind == AX_TARGET_CLASS)
		st = ax_confusion_create(ax_dataset_info(s.ds)->num_classes, &e.confusion);
	if (!st)
		st = ax_run_evaluate(s.model, s.ctx, s.ds, &s.cfg, NULL, &e, NULL, NULL);
	if (!st) {
		printf("dataset %s: %lld samples, weights %s\n", s.data, (long long)e.samples,
		       cli.weights);
		printf("loss %.6f\n", e.loss);
		if (e.confusion) {
			st = ax_confusion_metrics(e.confusion, &m, NULL, NULL, NULL);
			if (!st) {
				printf("accuracy %.4f  macro precision %.4f  recall %.4f  f1 %.4f\n\n",
				       m.accuracy, m.macro_precision, m.macro_recall, m.macro_f1);
				st = ax_confusion_print(e.confusion, stdout, NULL);
			}
		}
	}
	if (st)
		ax_run_report("eval", st);
	ax_confusion_destroy(e.confusion);
	close_session(&s);
	free(cli.overrides);
	return st ? 1 : 0;
}

/* ---- predict ---- */

struct predictions {
	FILE *csv;
	int64_t n, capacity, width;
	int64_t *index;
	int32_t *predicted;
	float *probabilities; /* (n, width) */
};

/* Softmax of one row into probs; returns the argmax (first maximum). */
static int32_t softmax_row(const float *z, int64_t width, float *probs)
{
	float top = z[0];
	int32_t arg = 0;
	double total = 0;

	for (int64_t c = 1; c < width; c++)
		if (z[c] > top) {
			top = z[c];
			arg = (int32_t)c;
		}
	for (int64_t c = 0; c < width; c++) {
		probs[c] = expf(z[c] - top);
		total += probs[c];
	}
	for (int64_t c = 0; c < width; c++)
		probs[c] = (float)(probs[c] / total);
	return arg;
}

static enum ax_status on_batch(void *user, const struct ax_batch *b, const float *outputs,
			       int64_t width)
{
	struct predictions *p = user;

	if (p->n + b->size > p->capacity) {
		int64_t cap = (p->n + b->size) * 2;
		void *i = realloc(p->index, sizeof(int64_t) * (size_t)cap);
		void *k = i ? realloc(p->predicted, sizeof(int32_t) * (size_t)cap) : NULL;
		void *q = k ? realloc(p->probabilities, sizeof(float) * (size_t)(cap * width)) : NULL;

		if (i)
			p->index = i;
		if (k)
			p->predicted = k;
		if (!q)
			return AX_ERROR(AX_ERR_NOMEM, "predict: out of memory for %lld predictions",
					(long long)cap);
		p->probabilities = q;
		p->capacity = cap;
	}
	p->width = width;
	for (int64_t i = 0; i < b->size; i++) {
		float *probs = p->probabilities + (p->n + i) * width;

		p->index[p->n + i] = b->sample_ids[i];
		p->predicted[p->n + i] = softmax_row(outputs + i * width, width, probs);
	}
	p->n += b->size;
	return AX_OK;
}

static enum ax_status write_csv(const struct predictions *p, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return AX_ERROR(AX_ERR_IO, "predict: cannot create %s", path);
	fprintf(f, "index,predicted");
	for (int64_t c = 0; c < p->width; c++)
		fprintf(f, ",p%lld", (long long)c);
	fputc('\n', f);
	for (int64_t i = 0; i < p->n; i++) {
		fprintf(f, "%lld,%d", (long long)p->index[i], p->predicted[i]);
		for (int64_t c = 0; c < p->width; c++)
			fprintf(f, ",%.6g", p->probabilities[i * p->width + c]);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return AX_ERROR(AX_ERR_IO, "predict: writing %s failed (disk full?)", path);
	return AX_OK;
}

static enum ax_status write_h5(const struct predictions *p, const char *path)
{
	hsize_t n = (hsize_t)p->n, dims[2] = {(hsize_t)p->n, (hsize_t)p->width};
	hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	int ok = file >= 0;

	if (ok) {
		hid_t s1 = H5Screate_simple(1, &n, NULL), s2 = H5Screate_simple(2, dims, NULL);
		hid_t d;

		d = H5Dcreate2(file, "index", H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		ok &= d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->index) >= 0;
		if (d >= 0)
			H5Dclose(d);
		d = H5Dcreate2(file, "predicted", H5T_STD_I32LE, s1, H5P_DEFAULT, H5P_DEFAULT,
			       H5P_DEFAULT);
		ok &= d >= 0 &&
		      H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->predicted) >= 0;
		if (d >= 0)
			H5Dclose(d);
		d = H5Dcreate2(file, "probabilities", H5T_IEEE_F32LE, s2, H5P_DEFAULT, H5P_DEFAULT,
			       H5P_DEFAULT);
		ok &= d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
					 p->probabilities) >= 0;
		if (d >= 0)
			H5Dclose(d);
		H5Sclose(s1);
		H5Sclose(s2);
		ok &= H5Fclose(file) >= 0;
	}
	if (!ok) {
		remove(path);
		return AX_ERROR(AX_ERR_IO, "predict: writing %s failed (disk full or no permission?)",
				path);
	}
	return AX_OK;
}

int ax_cmd_predict(int argc, char **argv)
{
	struct cli cli;
	struct session s = {0};
	struct ax_eval e = {0};
	struct predictions p = {0};
	enum ax_status st;
	size_t len;
	int rc = parse_cli("predict", argc, argv, &cli, 1);

	if (rc) {
		free(cli.overrides);
		return rc;
	}
	st = open_session(&s, &cli);
	if (!st && ax_dataset_info(s.ds)->target_kind != AX_TARGET_CLASS)
		st = AX_ERROR(AX_ERR_UNSUPPORTED, "predict: %s has regression targets; predict writes "
			      "class predictions (use eval for the loss)", s.data);
	if (!st)
		st = ax_run_evaluate(s.model, s.ctx, s.ds, &s.cfg, NULL, &e, on_batch, &p);
	if (!st) {
		len = strlen(cli.out);
		st = len > 4 && strcmp(cli.out + len - 4, ".csv") == 0 ? write_csv(&p, cli.out)
								     : write_h5(&p, cli.out);
	}
	if (!st)
		printf("wrote %lld predictions to %s\n", (long long)p.n, cli.out);
	else
		ax_run_report("predict", st);
	free(p.index);
	free(p.predicted);
	free(p.probabilities);
	close_session(&s);
	free(cli.overrides);
	return st ? 1 : 0;
}
