/* metrics.c - confusion matrices and the classification metrics derived
 * from them (see axon/metrics.h for the exact semantics).
 *
 * The matrix holds raw int64 counts and nothing else: no running ratios that
 * would round differently depending on batch order, and nothing that cannot
 * be summed across ranks. Metrics are computed from the counts in double
 * when asked. The add functions validate a whole batch before counting any
 * of it, so a bad label leaves the matrix as it was. */
#include <math.h>
#include <string.h>

#include "axon/alloc.h"
#include "axon/metrics.h"

#define MAX_CLASSES 65536
#define NAME_CHARS 16 /* class names are cut to this many characters when printed */

enum ax_status ax_confusion_create(int num_classes, struct ax_confusion **out)
{
	struct ax_confusion *conf;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_confusion_create: out is NULL");
	*out = NULL;
	if (num_classes < 1 || num_classes > MAX_CLASSES)
		return AX_ERROR(AX_ERR_INVALID, "ax_confusion_create: num_classes is %d; it must "
				"be between 1 and %d", num_classes, MAX_CLASSES);
	conf = ax_calloc(1, sizeof(*conf));
	if (!conf)
		return AX_ERR_NOMEM;
	conf->counts = ax_calloc((size_t)num_classes * (size_t)num_classes, sizeof(int64_t));
	if (!conf->counts) {
		ax_free(conf);
		return AX_ERR_NOMEM;
	}
	conf->num_classes = num_classes;
	*out = conf;
	return AX_OK;
}

void ax_confusion_destroy(struct ax_confusion *conf)
{
	if (!conf)
		return;
	ax_free(conf->counts);
	ax_free(conf);
}

void ax_confusion_reset(struct ax_confusion *conf)
{
	if (conf)
		memset(conf->counts, 0,
		       (size_t)conf->num_classes * (size_t)conf->num_classes * sizeof(int64_t));
}

static enum ax_status check_batch(const struct ax_confusion *conf, const void *scores,
				  const int32_t *labels, int64_t n, const char *fn)
{
	if (!conf)
		return AX_ERROR(AX_ERR_INVALID, "%s: conf is NULL", fn);
	if (n < 0)
		return AX_ERROR(AX_ERR_INVALID, "%s: negative sample count %lld", fn, (long long)n);
	if (n > 0 && (!scores || !labels))
		return AX_ERROR(AX_ERR_INVALID, "%s: %s is NULL with %lld samples", fn,
				scores ? "labels" : "the prediction array", (long long)n);
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] == AX_METRICS_IGNORE_LABEL)
			continue;
		if (labels[i] < 0 || labels[i] >= conf->num_classes)
			return AX_ERROR(AX_ERR_RANGE, "%s: sample %lld has label %d, outside [0, %d) "
					"and not the ignore value %d; check the dataset's labels "
					"and the model's num_classes", fn, (long long)i,
					(int)labels[i], conf->num_classes, AX_METRICS_IGNORE_LABEL);
	}
	return AX_OK;
}

/* Index of the largest of row[0..C): ties keep the first, and a NaN beats
 * every number (the first NaN wins), as numpy.argmax does. */
static int argmax_row(const float *row, int C)
{
	int best = 0;

	if (isnan(row[0]))
		return 0;
	for (int c = 1; c < C; c++) {
		if (isnan(row[c]))
			return c;
		if (row[c] > row[best])
			best = c;
	}
	return best;
}

enum ax_status ax_confusion_add_logits(struct ax_confusion *conf, const float *logits,
				       const int32_t *labels, int64_t n)
{
	enum ax_status st = check_batch(conf, logits, labels, n, "ax_confusion_add_logits");
	int C;

	if (st)
		return st;
	C = conf->num_classes;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] == AX_METRICS_IGNORE_LABEL)
			continue;
		conf->counts[(int64_t)labels[i] * C + argmax_row(logits + i * C, C)]++;
	}
	return AX_OK;
}

enum ax_status ax_confusion_add_predictions(struct ax_confusion *conf, const int32_t *predicted,
					    const int32_t *labels, int64_t n)
{
	enum ax_status st = check_batch(conf, predicted, labels, n,
					"ax_confusion_add_predictions");
	int C;

	if (st)
		return st;
	C = conf->num_classes;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] == AX_METRICS_IGNORE_LABEL)
			continue;
		if (predicted[i] < 0 || predicted[i] >= C)
			return AX_ERROR(AX_ERR_RANGE, "ax_confusion_add_predictions: sample %lld "
					"has prediction %d, outside [0, %d); predictions must be "
					"class indices", (long long)i, (int)predicted[i], C);
	}
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] != AX_METRICS_IGNORE_LABEL)
			conf->counts[(int64_t)labels[i] * C + predicted[i]]++;
	}
	return AX_OK;
}

enum ax_status ax_confusion_merge(struct ax_confusion *dst, const struct ax_confusion *src)
{
	int64_t cells;

	if (!dst || !src)
		return AX_ERROR(AX_ERR_INVALID, "ax_confusion_merge: dst or src is NULL");
	if (dst->num_classes != src->num_classes)
		return AX_ERROR(AX_ERR_SHAPE, "ax_confusion_merge: matrices for %d and %d classes "
				"cannot be merged; every rank must evaluate the same model",
				dst->num_classes, src->num_classes);
	cells = (int64_t)dst->num_classes * dst->num_classes;
	for (int64_t k = 0; k < cells; k++)
		dst->counts[k] += src->counts[k];
	return AX_OK;
}

/* tp, fp, fn of class c from the counts. */
static void class_counts(const struct ax_confusion *conf, int c, int64_t *tp, int64_t *fp,
			 int64_t *fn)
{
	int C = conf->num_classes;
	int64_t predicted = 0, actual = 0;

	for (int k = 0; k < C; k++) {
		predicted += conf->counts[(int64_t)k * C + c];
		actual += conf->counts[(int64_t)c * C + k];
	}
	*tp = conf->counts[(int64_t)c * C + c];
	*fp = predicted - *tp;
	*fn = actual - *tp;
}

/* a / b, or 0 when b is 0 (sklearn's zero_division = 0). */
static double ratio(int64_t a, int64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

enum ax_status ax_confusion_metrics(const struct ax_confusion *conf,
				    struct ax_class_metrics *metrics, double *precision,
				    double *recall, double *f1)
{
	int C;
	int64_t correct = 0, total = 0;
	double sum_p = 0, sum_r = 0, sum_f = 0;

	if (!conf || !metrics)
		return AX_ERROR(AX_ERR_INVALID, "ax_confusion_metrics: conf or metrics is NULL");
	C = conf->num_classes;
	for (int c = 0; c < C; c++) {
		int64_t tp, fp, fn;
		double p, r, f;

		class_counts(conf, c, &tp, &fp, &fn);
		p = ratio(tp, tp + fp);
		r = ratio(tp, tp + fn);
		f = ratio(2 * tp, 2 * tp + fp + fn);
		if (precision)
			precision[c] = p;
		if (recall)
			recall[c] = r;
		if (f1)
			f1[c] = f;
		sum_p += p;
		sum_r += r;
		sum_f += f;
		correct += tp;
		total += tp + fn;
	}
	metrics->total = total;
	metrics->accuracy = ratio(correct, total);
	metrics->macro_precision = sum_p / C;
	metrics->macro_recall = sum_r / C;
	metrics->macro_f1 = sum_f / C;
	return AX_OK;
}

/* ---- printing ---- */

/* The printed name of class c: its given name or its index, cut to NAME_CHARS. */
static const char *class_label(const char *const *class_names, int c, char *buf, size_t len)
{
	if (class_names && class_names[c])
		snprintf(buf, len, "%.*s", NAME_CHARS, class_names[c]);
	else
		snprintf(buf, len, "%d", c);
	return buf;
}

static int digits(int64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

enum ax_status ax_confusion_print(const struct ax_confusion *conf, FILE *out,
				  const char *const *class_names)
{
	static const char corner[] = "true \\ pred";
	struct ax_class_metrics m;
	double *per_class = NULL;
	int *width = NULL;
	int C, head;
	char name[NAME_CHARS + 1];
	enum ax_status st = AX_OK;

	if (!conf || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_confusion_print: conf or out is NULL");
	C = conf->num_classes;
	width = ax_calloc((size_t)C, sizeof(*width));
	per_class = ax_calloc((size_t)C * 3, sizeof(*per_class));
	if (!width || !per_class) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	ax_confusion_metrics(conf, &m, per_class, per_class + C, per_class + 2 * C);

	/* Column widths: the widest of the header and the counts below it. */
	head = (int)strlen(corner);
	for (int c = 0; c < C; c++) {
		int name_len = (int)strlen(class_label(class_names, c, name, sizeof(name)));

		head = name_len > head ? name_len : head;
		width[c] = name_len;
		for (int t = 0; t < C; t++) {
			int w = digits(conf->counts[(int64_t)t * C + c]);

			width[c] = w > width[c] ? w : width[c];
		}
	}

	fprintf(out, "confusion matrix, %lld samples (rows: true class, columns: predicted)\n",
		(long long)m.total);
	fprintf(out, "%-*s", head, corner);
	for (int c = 0; c < C; c++)
		fprintf(out, "  %*s", width[c], class_label(class_names, c, name, sizeof(name)));
	fputc('\n', out);
	for (int t = 0; t < C; t++) {
		fprintf(out, "%-*s", head, class_label(class_names, t, name, sizeof(name)));
		for (int c = 0; c < C; c++)
			fprintf(out, "  %*lld", width[c], (long long)conf->counts[(int64_t)t * C + c]);
		fputc('\n', out);
	}

	fprintf(out, "\n%-*s  precision     recall         f1    support\n", head, "class");
	for (int c = 0; c < C; c++) {
		int64_t tp, fp, fn;

		class_counts(conf, c, &tp, &fp, &fn);
		fprintf(out, "%-*s  %9.4f  %9.4f  %9.4f  %9lld\n", head,
			class_label(class_names, c, name, sizeof(name)), per_class[c],
			per_class[C + c], per_class[2 * C + c], (long long)(tp + fn));
	}
	fprintf(out, "accuracy %.4f; macro precision %.4f, recall %.4f, f1 %.4f "
		"(over all %d classes)\n", m.accuracy, m.macro_precision, m.macro_recall,
		m.macro_f1, C);
	if (ferror(out))
		st = AX_ERROR(AX_ERR_IO, "ax_confusion_print: writing the confusion matrix failed "
			      "(disk full or a closed stream?)");
done:
	ax_free(width);
	ax_free(per_class);
	return st;
}
