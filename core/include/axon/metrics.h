/* axon/metrics.h - classification metrics from a confusion matrix.
 *
 * Evaluation accumulates a confusion matrix of raw counts, counts[true][pred],
 * batch by batch; accuracy, precision, recall and F1 are derived from the
 * counts only when asked. Because everything derives from integer counts,
 * data-parallel ranks combine their results exactly by summing the matrices
 * (ax_confusion_merge here, or an all-reduce of `counts` as num_classes^2
 * int64 values) before computing the metrics once.
 *
 * Semantics follow scikit-learn's precision_recall_fscore_support with
 * labels = range(num_classes), average = "macro" and zero_division = 0:
 *   precision[c] = tp / (tp + fp), 0 when class c was never predicted;
 *   recall[c]    = tp / (tp + fn), 0 when class c never occurs as a label;
 *   f1[c]        = 2 tp / (2 tp + fp + fn), 0 when both are 0 (this equals
 *                  2 P R / (P + R) whenever that is defined);
 *   macro_*      = the unweighted mean of the per-class values over ALL
 *                  num_classes classes, including classes that occur neither
 *                  as a label nor as a prediction (they contribute 0). Note
 *                  that sklearn's default (no `labels` argument) averages only
 *                  over classes seen in y_true or y_pred; pass
 *                  labels=range(C) to sklearn to compare.
 *   accuracy     = trace / total.
 * With no samples at all (total == 0) every metric is 0. */
#ifndef AXON_METRICS_H
#define AXON_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Labels equal to this are skipped by the add functions (the same default as
 * the cross-entropy op's ignore_index and PyTorch's). */
#define AX_METRICS_IGNORE_LABEL (-100)

struct ax_confusion {
	int num_classes;
	int64_t *counts; /* (num_classes, num_classes) row-major: [true][predicted] */
};

struct ax_class_metrics {
	double accuracy;
	double macro_precision;
	double macro_recall;
	double macro_f1;
	int64_t total;   /* samples counted (ignored labels excluded) */
};

/* ax_confusion_create - an all-zero matrix for `num_classes` classes
 * (1 <= num_classes <= 65536). Release with ax_confusion_destroy.
 * Errors: AX_ERR_INVALID (out NULL, num_classes out of range), AX_ERR_NOMEM. */
enum ax_status ax_confusion_create(int num_classes, struct ax_confusion **out);

/* ax_confusion_destroy - free the matrix; NULL is a no-op. */
void ax_confusion_destroy(struct ax_confusion *conf);

/* ax_confusion_reset - set every count to zero (start of an evaluation). */
void ax_confusion_reset(struct ax_confusion *conf);

/* ax_confusion_add_logits - count N samples whose scores are `logits`
 * (N, C) row-major float, C = num_classes, with true classes `labels` (N).
 * The prediction is the argmax of each row; ties go to the lowest index, and
 * a NaN counts as larger than any number (the first NaN wins, as in NumPy),
 * so a diverged model shows up as wrong predictions rather than as class 0.
 * Labels equal to AX_METRICS_IGNORE_LABEL are skipped. All labels are checked
 * before anything is counted, so on error the matrix is unchanged.
 * Errors: AX_ERR_INVALID (NULL pointers with n > 0, n < 0), AX_ERR_RANGE (a
 * label outside [0, C) that is not the ignore value; names sample and label). */
enum ax_status ax_confusion_add_logits(struct ax_confusion *conf, const float *logits,
				       const int32_t *labels, int64_t n);

/* ax_confusion_add_predictions - as ax_confusion_add_logits with the predicted
 * classes `predicted` (N) given directly. A prediction outside [0, C) is
 * AX_ERR_RANGE too (for a sample whose label is not ignored). */
enum ax_status ax_confusion_add_predictions(struct ax_confusion *conf, const int32_t *predicted,
					    const int32_t *labels, int64_t n);

/* ax_confusion_merge - dst += src, count by count (results of another rank or
 * shard). Errors: AX_ERR_INVALID (NULL), AX_ERR_SHAPE (different num_classes). */
enum ax_status ax_confusion_merge(struct ax_confusion *dst, const struct ax_confusion *src);

/* ax_confusion_metrics - accuracy and macro averages into *metrics, and when
 * the pointers are not NULL the per-class precision, recall and f1 into
 * arrays of num_classes doubles each (semantics at the top of this file).
 * Errors: AX_ERR_INVALID (conf or metrics NULL). */
enum ax_status ax_confusion_metrics(const struct ax_confusion *conf,
				    struct ax_class_metrics *metrics, double *precision,
				    double *recall, double *f1);

/* ax_confusion_print - write the matrix for a person to `out`: rows are true
 * classes, columns predicted ones, both headed by class names (`class_names`,
 * num_classes strings, or NULL for the indices 0..C-1; long names are cut to
 * 16 characters), every column right-aligned to its widest entry; then a
 * per-class table of precision, recall, F1 and support, and one line with
 * accuracy and the macro averages. Meant for tens of classes: a 1000-class
 * matrix prints, but is a million numbers wide.
 * Errors: AX_ERR_INVALID (NULL conf or out), AX_ERR_IO (writing failed). */
enum ax_status ax_confusion_print(const struct ax_confusion *conf, FILE *out,
				  const char *const *class_names);

#ifdef __cplusplus
}
#endif
#endif
