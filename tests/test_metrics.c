/* test_metrics.c - confusion matrices and the metrics derived from them.
 *
 * Hand-made matrices with every value worked out by hand in the comments
 * (a class never predicted, a class absent, a class in neither, all correct,
 * all wrong, no samples); the argmax tie and NaN rules; the ignore label;
 * merging equals counting everything at once; range errors leave the matrix
 * untouched; and a random 200-sample, 7-class case against sklearn's
 * formulas (classic 2PR/(P+R) F1) recomputed in double straight from the
 * label arrays, not from the matrix. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOL 1e-12

static struct ax_confusion *confusion(int C)
{
	struct ax_confusion *conf;

	TU_OK(ax_confusion_create(C, &conf));
	return conf;
}

/* Fill conf so that counts equals `matrix` (C x C), through add_predictions. */
static void fill_from_matrix(struct ax_confusion *conf, const int *matrix)
{
	int C = conf->num_classes;

	for (int t = 0; t < C; t++) {
		for (int p = 0; p < C; p++) {
			for (int k = 0; k < matrix[t * C + p]; k++) {
				int32_t label = t, predicted = p;

				TU_OK(ax_confusion_add_predictions(conf, &predicted, &label, 1));
			}
		}
	}
	for (int k = 0; k < C * C; k++)
		assert_int_equal(conf->counts[k], matrix[k]);
}

static void assert_near(double got, double want, const char *what)
{
	if (fabs(got - want) > TOL)
		fail_msg("%s: got %.15g, want %.15g", what, got, want);
}

static void check_metrics(const struct ax_confusion *conf, double accuracy, double macro_p,
			  double macro_r, double macro_f1, int64_t total, const double *want_p,
			  const double *want_r, const double *want_f1)
{
	struct ax_class_metrics m;
	double p[16], r[16], f[16];
	char what[64];

	TU_OK(ax_confusion_metrics(conf, &m, p, r, f));
	assert_near(m.accuracy, accuracy, "accuracy");
	assert_near(m.macro_precision, macro_p, "macro precision");
	assert_near(m.macro_recall, macro_r, "macro recall");
	assert_near(m.macro_f1, macro_f1, "macro f1");
	assert_int_equal(m.total, total);
	for (int c = 0; c < conf->num_classes; c++) {
		snprintf(what, sizeof(what), "precision[%d]", c);
		assert_near(p[c], want_p[c], what);
		snprintf(what, sizeof(what), "recall[%d]", c);
		assert_near(r[c], want_r[c], what);
		snprintf(what, sizeof(what), "f1[%d]", c);
		assert_near(f[c], want_f1[c], what);
	}
	/* The per-class arrays are optional. */
	TU_OK(ax_confusion_metrics(conf, &m, NULL, NULL, NULL));
	assert_near(m.macro_f1, macro_f1, "macro f1 without per-class arrays");
}

/* Class 2 occurs twice but is never predicted: its precision is 0 by
 * zero_division, not NaN, and it still counts in the macro mean. */
static void test_class_never_predicted(void **state)
{
	/* rows: true 0, 1, 2; columns: predicted 0, 1, 2 */
	static const int matrix[9] = {3, 1, 0,
				      1, 2, 0,
				      2, 0, 0};
	/* predicted totals 6, 3, 0; true totals 4, 3, 2; tp 3, 2, 0 */
	const double p[3] = {3.0 / 6, 2.0 / 3, 0};
	const double r[3] = {3.0 / 4, 2.0 / 3, 0};
	/* f1 = 2tp / (2tp + fp + fn): 6/10, 4/6, 0 */
	const double f[3] = {0.6, 2.0 / 3, 0};
	struct ax_confusion *conf = confusion(3);

	(void)state;
	fill_from_matrix(conf, matrix);
	check_metrics(conf, 5.0 / 9, (0.5 + 2.0 / 3) / 3, (0.75 + 2.0 / 3) / 3,
		      (0.6 + 2.0 / 3) / 3, 9, p, r, f);
	ax_confusion_destroy(conf);
}

/* Class 2 is never a true label but is predicted twice: recall 0 (zero
 * division), precision 0/2, f1 0/(0 + 2 + 0) = 0. */
static void test_class_absent(void **state)
{
	static const int matrix[9] = {2, 0, 1,
				      0, 1, 1,
				      0, 0, 0};
	const double p[3] = {1, 1, 0};
	const double r[3] = {2.0 / 3, 0.5, 0};
	/* class 0: tp 2 fp 0 fn 1 -> 4/5; class 1: tp 1 fp 0 fn 1 -> 2/3 */
	const double f[3] = {0.8, 2.0 / 3, 0};
	struct ax_confusion *conf = confusion(3);

	(void)state;
	fill_from_matrix(conf, matrix);
	check_metrics(conf, 3.0 / 5, 2.0 / 3, (2.0 / 3 + 0.5) / 3, (0.8 + 2.0 / 3) / 3, 5, p,
		      r, f);
	ax_confusion_destroy(conf);
}

/* Class 3 is neither a label nor a prediction: the macro average is over
 * ALL classes, so perfect predictions on 0..2 give macro scores of 3/4. */
static void test_class_in_neither(void **state)
{
	static const int matrix[16] = {2, 0, 0, 0,
				       0, 3, 0, 0,
				       0, 0, 1, 0,
				       0, 0, 0, 0};
	const double ones[4] = {1, 1, 1, 0};
	struct ax_confusion *conf = confusion(4);

	(void)state;
	fill_from_matrix(conf, matrix);
	check_metrics(conf, 1.0, 0.75, 0.75, 0.75, 6, ones, ones, ones);
	ax_confusion_destroy(conf);
}

static void test_all_correct_all_wrong_and_empty(void **state)
{
	static const int correct[9] = {4, 0, 0, 0, 1, 0, 0, 0, 7};
	static const int wrong[9] = {0, 2, 0, 0, 0, 3, 1, 0, 0};
	const double ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
	struct ax_confusion *conf = confusion(3);

	(void)state;
	fill_from_matrix(conf, correct);
	check_metrics(conf, 1, 1, 1, 1, 12, ones, ones, ones);
	ax_confusion_reset(conf);
	fill_from_matrix(conf, wrong);
	check_metrics(conf, 0, 0, 0, 0, 6, zeros, zeros, zeros);
	/* No samples: every metric 0, nothing divides by zero. */
	ax_confusion_reset(conf);
	check_metrics(conf, 0, 0, 0, 0, 0, zeros, zeros, zeros);
	ax_confusion_destroy(conf);
}

/* Ties go to the lowest index; a NaN beats every number, the first NaN wins. */
static void test_argmax_rule(void **state)
{
	const float nan = NAN, inf = INFINITY;
	const float logits[6][4] = {
		{1, 3, 3, 0},          /* tie 1/2 -> 1 */
		{2, 2, 2, 2},          /* all equal -> 0 */
		{-inf, -inf, -1, -inf}, /* -> 2 */
		{1, nan, 5, nan},      /* first NaN -> 1 */
		{nan, 9, 9, 9},        /* NaN first -> 0 */
		{-5, -4, inf, inf},    /* tie at +inf -> 2 */
	};
	const int32_t labels[6] = {0, 1, 2, 3, 0, 1};
	const int want_pred[6] = {1, 0, 2, 1, 0, 2};
	int64_t want[16] = {0};
	struct ax_confusion *conf = confusion(4);

	(void)state;
	TU_OK(ax_confusion_add_logits(conf, &logits[0][0], labels, 6));
	for (int i = 0; i < 6; i++)
		want[labels[i] * 4 + want_pred[i]]++;
	assert_memory_equal(conf->counts, want, sizeof(want));
	ax_confusion_destroy(conf);
}

/* Labels of -100 are skipped, whatever their logits hold. */
static void test_ignore_label(void **state)
{
	const float logits[4][2] = {{0, 1}, {NAN, NAN}, {1, 0}, {0, 1}};
	const int32_t labels[4] = {1, AX_METRICS_IGNORE_LABEL, 0, AX_METRICS_IGNORE_LABEL};
	const int32_t predicted[4] = {1, 99, 0, -7}; /* ignored samples may hold anything */
	const int64_t want[4] = {1, 0, 0, 1};
	struct ax_class_metrics m;
	struct ax_confusion *conf = confusion(2);

	(void)state;
	TU_OK(ax_confusion_add_logits(conf, &logits[0][0], labels, 4));
	assert_memory_equal(conf->counts, want, sizeof(want));
	TU_OK(ax_confusion_metrics(conf, &m, NULL, NULL, NULL));
	assert_int_equal(m.total, 2);
	assert_near(m.accuracy, 1.0, "accuracy with ignored samples");
	ax_confusion_reset(conf);
	TU_OK(ax_confusion_add_predictions(conf, predicted, labels, 4));
	assert_memory_equal(conf->counts, want, sizeof(want));
	ax_confusion_destroy(conf);
}

/* A tiny deterministic generator for the random cases. */
static uint32_t next_random(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

/* Four "ranks" each count a quarter of the batches; merging their matrices
 * gives exactly the matrix of counting everything in one. */
static void test_merge_equals_adding_all(void **state)
{
	enum { N = 400, C = 5, RANKS = 4 };
	float logits[N * C];
	int32_t labels[N];
	struct ax_confusion *all = confusion(C), *merged = confusion(C), *rank[RANKS];
	struct ax_confusion *other = confusion(C + 1);
	uint64_t s = 11;

	(void)state;
	for (int i = 0; i < N * C; i++)
		logits[i] = (float)(next_random(&s) % 1000) / 100.0f;
	for (int i = 0; i < N; i++)
		labels[i] = (i % 17 == 0) ? AX_METRICS_IGNORE_LABEL : (int32_t)(next_random(&s) % C);
	TU_OK(ax_confusion_add_logits(all, logits, labels, N));
	for (int r = 0; r < RANKS; r++) {
		/* rank r counts rows [r*N/RANKS, (r+1)*N/RANKS) in two uneven batches */
		int64_t begin = (int64_t)r * N / RANKS, end = (int64_t)(r + 1) * N / RANKS;
		int64_t mid = begin + (end - begin) / 3;

		rank[r] = confusion(C);
		TU_OK(ax_confusion_add_logits(rank[r], logits + begin * C, labels + begin,
					      mid - begin));
		TU_OK(ax_confusion_add_logits(rank[r], logits + mid * C, labels + mid, end - mid));
		TU_OK(ax_confusion_merge(merged, rank[r]));
	}
	assert_memory_equal(merged->counts, all->counts, sizeof(int64_t) * C * C);
	/* Different class counts do not merge, and merged stays as it was. */
	assert_int_equal(ax_confusion_merge(merged, other), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "5 and 6 classes"));
	assert_memory_equal(merged->counts, all->counts, sizeof(int64_t) * C * C);
	for (int r = 0; r < RANKS; r++)
		ax_confusion_destroy(rank[r]);
	ax_confusion_destroy(all);
	ax_confusion_destroy(merged);
	ax_confusion_destroy(other);
}

/* A label outside [0, C) fails naming sample and label, and the batch adds
 * nothing (not even the good samples before it). */
static void test_range_errors(void **state)
{
	const float logits[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
	const int32_t bad_high[3] = {0, 1, 3}, bad_low[3] = {-1, 1, 2}, good[3] = {0, 1, 2};
	const int32_t bad_pred[3] = {0, 5, 2};
	const int64_t zeros[9] = {0};
	struct ax_confusion *conf = confusion(3), *none = NULL;

	(void)state;
	assert_int_equal(ax_confusion_add_logits(conf, &logits[0][0], bad_high, 3), AX_ERR_RANGE);
	assert_non_null(strstr(ax_last_error(), "sample 2 has label 3"));
	assert_memory_equal(conf->counts, zeros, sizeof(zeros));
	assert_int_equal(ax_confusion_add_logits(conf, &logits[0][0], bad_low, 3), AX_ERR_RANGE);
	assert_non_null(strstr(ax_last_error(), "sample 0 has label -1"));
	assert_int_equal(ax_confusion_add_predictions(conf, good, bad_high, 3), AX_ERR_RANGE);
	assert_int_equal(ax_confusion_add_predictions(conf, bad_pred, good, 3), AX_ERR_RANGE);
	assert_non_null(strstr(ax_last_error(), "sample 1 has prediction 5"));
	assert_memory_equal(conf->counts, zeros, sizeof(zeros));
	/* Bad arguments. */
	assert_int_equal(ax_confusion_add_logits(conf, NULL, good, 3), AX_ERR_INVALID);
	assert_int_equal(ax_confusion_add_logits(conf, &logits[0][0], good, -1), AX_ERR_INVALID);
	TU_OK(ax_confusion_add_logits(conf, NULL, NULL, 0));
	assert_int_equal(ax_confusion_create(0, &none), AX_ERR_INVALID);
	assert_null(none);
	ax_confusion_destroy(NULL);
	ax_confusion_destroy(conf);
}

/* 200 random samples over 7 classes, predictions right about half the time
 * and never class 6; against sklearn's definitions computed in double from
 * the arrays themselves (f1 as 2PR/(P+R), zero_division = 0, macro over
 * labels = range(7)). */
static void test_random_against_sklearn_formulas(void **state)
{
	enum { N = 200, C = 7 };
	int32_t labels[N], predicted[N];
	double want_p[C], want_r[C], want_f[C];
	double sum_p = 0, sum_r = 0, sum_f = 0;
	int correct = 0;
	uint64_t s = 2024;
	struct ax_confusion *conf = confusion(C);

	(void)state;
	for (int i = 0; i < N; i++) {
		labels[i] = (int32_t)(next_random(&s) % C);
		predicted[i] = next_random(&s) % 2 ? labels[i] : (int32_t)(next_random(&s) % C);
		if (predicted[i] == 6)
			predicted[i] = 5;
	}
	for (int c = 0; c < C; c++) {
		int tp = 0, n_pred = 0, n_true = 0;

		for (int i = 0; i < N; i++) {
			tp += labels[i] == c && predicted[i] == c;
			n_pred += predicted[i] == c;
			n_true += labels[i] == c;
		}
		want_p[c] = n_pred ? (double)tp / n_pred : 0.0;
		want_r[c] = n_true ? (double)tp / n_true : 0.0;
		want_f[c] = want_p[c] + want_r[c] > 0 ?
			    2 * want_p[c] * want_r[c] / (want_p[c] + want_r[c]) : 0.0;
		sum_p += want_p[c];
		sum_r += want_r[c];
		sum_f += want_f[c];
	}
	for (int i = 0; i < N; i++)
		correct += labels[i] == predicted[i];
	assert_true(want_p[6] == 0.0 && want_r[6] == 0.0); /* the never-predicted class */
	TU_OK(ax_confusion_add_predictions(conf, predicted, labels, N));
	check_metrics(conf, (double)correct / N, sum_p / C, sum_r / C, sum_f / C, N, want_p,
		      want_r, want_f);
	ax_confusion_destroy(conf);
}

/* The printout names every class, and the matrix rows line up. */
static void test_print(void **state)
{
	static const int matrix[9] = {120, 3, 0, 7, 5, 0, 1, 0, 0};
	const char *const names[3] = {"cat", "a-very-long-class-name-indeed", NULL};
	char text[4096], *line, *save = NULL;
	size_t n, width = 0;
	int rows = 0;
	FILE *f = tmpfile();
	struct ax_confusion *conf = confusion(3);

	(void)state;
	assert_non_null(f);
	fill_from_matrix(conf, matrix);
	TU_OK(ax_confusion_print(conf, f, names));
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "cat"));
	assert_non_null(strstr(text, "a-very-long-clas"));
	assert_null(strstr(text, "a-very-long-class-name")); /* cut to 16 characters */
	assert_non_null(strstr(text, "true \\ pred"));
	assert_non_null(strstr(text, "accuracy 0.9191"));    /* 125 / 136 */
	/* The header and the three matrix rows have the same length. */
	line = strtok_r(text, "\n", &save);
	for (line = strtok_r(NULL, "\n", &save); line && rows < 4; line = strtok_r(NULL, "\n", &save)) {
		if (rows == 0)
			width = strlen(line);
		assert_int_equal(strlen(line), width);
		rows++;
	}
	assert_int_equal(rows, 4);
	ax_confusion_destroy(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_never_predicted),
		cmocka_unit_test(test_class_absent),
		cmocka_unit_test(test_class_in_neither),
		cmocka_unit_test(test_all_correct_all_wrong_and_empty),
		cmocka_unit_test(test_argmax_rule),
		cmocka_unit_test(test_ignore_label),
		cmocka_unit_test(test_merge_equals_adding_all),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_random_against_sklearn_formulas),
		cmocka_unit_test(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
