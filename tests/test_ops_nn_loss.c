/* test_ops_nn_loss.c - the losses: cross_entropy and mse.
 *
 * Forward values are compared with references computed here in double
 * precision (with large logits, label smoothing, ignored samples, all samples
 * ignored); the gradients are finite-difference checked on contiguous,
 * transposed and strided inputs, and the cross-entropy gradient is also
 * compared with its closed form. Error cases check the status and that the
 * message names the op and the offending shapes or values. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "gradcheck.h"

/* The status must be `want` and the last error must contain every string of
 * the NULL-terminated list that follows. */
static void expect_error(enum ax_status got, enum ax_status want, ...)
{
	const char *part, *missing = NULL;
	va_list ap;

	if (got != want)
		fail_msg("got %s, expected %s (last error: %s)", ax_status_name(got),
			 ax_status_name(want), ax_last_error());
	va_start(ap, want);
	while ((part = va_arg(ap, const char *)) != NULL) {
		if (!missing && !strstr(ax_last_error(), part))
			missing = part;
	}
	va_end(ap);
	if (missing)
		fail_msg("error \"%s\" does not mention \"%s\"", ax_last_error(), missing);
}

/* ---- cross-entropy ---- */

/* PyTorch's cross_entropy(reduction='mean', label_smoothing=s, ignore_index)
 * in double, except that all-ignored gives 0. */
static double ref_cross_entropy(const float *logits, const int32_t *labels, int n, int c,
				double s, int32_t ignore)
{
	double total = 0.0;
	int count = 0;

	for (int i = 0; i < n; i++) {
		const float *row = logits + i * c;
		double max = row[0], sum = 0.0, mean = 0.0, lse;

		if (labels[i] == ignore)
			continue;
		for (int k = 1; k < c; k++)
			max = fmax(max, row[k]);
		for (int k = 0; k < c; k++) {
			sum += exp((double)row[k] - max);
			mean += row[k];
		}
		mean /= c;
		lse = max + log(sum);
		total += (1.0 - s) * (lse - row[labels[i]]) + s * (lse - mean);
		count++;
	}
	return count ? total / count : 0.0;
}

/* Run cross-entropy on (n, c) logits and compare with the double reference. */
static void check_ce_forward(const float *logits, const int32_t *labels, int n, int c,
			     float s, int32_t ignore, const char *what)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t ls[2] = {n, c}, ys[1] = {n};
	struct ax_ce_options opt = {s, ignore};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, ls, logits);
	struct ax_tensor *y = tu_tensor(ctx, AX_I32, 1, ys, labels), *loss;
	float want;

	want = (float)ref_cross_entropy(logits, labels, n, c, s, ignore);
	TU_OK(ax_cross_entropy(ctx, x, y, &opt, &loss));
	assert_int_equal(loss->ndim, 0);
	assert_int_equal(loss->dtype, AX_F32);
	assert_true(isfinite(*ax_tensor_f32(loss)));
	tu_assert_close(ax_tensor_f32(loss), &want, 1, 1e-6, 2e-6, what);
	ax_ctx_destroy(ctx);
}

static void test_cross_entropy_forward(void **state)
{
	enum { N = 9, C = 6 };
	float logits[N * C];
	int32_t labels[N] = {0, 5, 2, -100, 3, 1, 4, 2, 5};
	int32_t custom[N] = {0, 5, 2, 3, 3, 1, 4, 3, 5};  /* ignore_index 3, inside [0, C) */
	int32_t all_ignored[N];
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 3);
	ax_rng_uniform(&rng, logits, N * C, -4.0f, 4.0f);
	check_ce_forward(logits, labels, N, C, 0.0f, -100, "ce, no smoothing");
	check_ce_forward(logits, labels, N, C, 0.2f, -100, "ce, smoothing 0.2");
	check_ce_forward(logits, custom, N, C, 0.0f, 3, "ce, ignore_index 3");
	check_ce_forward(logits, custom, N, C, 0.1f, 3, "ce, ignore_index 3, smoothing");
	/* Huge logits: a naive exp overflows (or underflows to log 0). */
	for (int i = 0; i < N * C; i++)
		logits[i] *= 250.0f;
	logits[0] = 1000.0f;
	logits[1] = -1000.0f;
	logits[C + 5] = -1000.0f; /* sample 1's label is the least likely class: loss ~ 2000 */
	check_ce_forward(logits, labels, N, C, 0.0f, -100, "ce, large logits");
	check_ce_forward(logits, labels, N, C, 0.3f, -100, "ce, large logits, smoothing");
	/* Every sample ignored: 0, documented (PyTorch gives NaN). */
	for (int i = 0; i < N; i++)
		all_ignored[i] = -100;
	check_ce_forward(logits, all_ignored, N, C, 0.1f, -100, "ce, all ignored");
}

/* A hand-worked case: logits (1, 2) = [0, ln 3] -> p = [1/4, 3/4]. */
static void test_cross_entropy_hand(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t ls[2] = {1, 2}, ys[1] = {1};
	const float logits[2] = {0.0f, (float)log(3.0)};
	const int32_t label0[1] = {0};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, ls, logits), *loss;
	float want = (float)log(4.0);

	(void)state;
	TU_OK(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, label0), NULL, &loss));
	tu_assert_close(ax_tensor_f32(loss), &want, 1, 1e-6, 1e-6, "-log(1/4)");
	ax_ctx_destroy(ctx);
}

/* Backward against the closed form g/count * (p - ((1-s) onehot + s/C)). */
static void test_cross_entropy_backward_closed_form(void **state)
{
	enum { N = 5, C = 4 };
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t ls[2] = {N, C}, ys[1] = {N}, scalar[1] = {1};
	const int32_t labels[N] = {1, -1, 3, 0, -1};
	const float s = 0.25f, seed = 1.5f;
	struct ax_ce_options opt = {s, -1};
	float logits[N * C], want[N * C];
	struct ax_tensor *x, *loss, *g;
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 11);
	ax_rng_uniform(&rng, logits, N * C, -3.0f, 3.0f);
	x = tu_tensor(ctx, AX_F32, 2, ls, logits);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, labels), &opt, &loss));
	g = tu_tensor(ctx, AX_F32, 0, scalar, &seed);
	TU_OK(ax_backward_with(ctx, loss, g));
	for (int i = 0; i < N; i++) {
		double max = logits[i * C], sum = 0.0;

		for (int k = 0; k < C; k++)
			max = fmax(max, logits[i * C + k]);
		for (int k = 0; k < C; k++)
			sum += exp((double)logits[i * C + k] - max);
		for (int k = 0; k < C; k++) {
			double p = exp((double)logits[i * C + k] - max) / sum;
			double target = (1.0 - s) * (k == labels[i]) + s / C;

			want[i * C + k] = labels[i] == -1 ? 0.0f : (float)(seed / 3.0 * (p - target));
		}
	}
	tu_assert_close(ax_tensor_f32(x->grad), want, N * C, 1e-6, 1e-5, "dlogits");
	ax_ctx_destroy(ctx);
}

/* All samples ignored: the loss is 0 and so is its gradient. */
static void test_cross_entropy_all_ignored_grad(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t ls[2] = {2, 3}, ys[1] = {2};
	const float logits[6] = {1, 2, 3, 4, 5, 6};
	const int32_t labels[2] = {-100, -100};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, ls, logits), *loss;

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, labels), NULL, &loss));
	assert_true(*ax_tensor_f32(loss) == 0.0f);
	TU_OK(ax_backward(ctx, loss));
	for (int i = 0; i < 6; i++)
		assert_true(ax_tensor_f32(x->grad)[i] == 0.0f);
	ax_ctx_destroy(ctx);
}

static void test_cross_entropy_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t ls[2] = {4, 3}, ys[1] = {4}, ys5[1] = {5}, l1[1] = {12};
	const int32_t bad[4] = {0, 2, 7, 1}, neg[4] = {0, -5, 1, 1}, good[4] = {0, 1, 2, -100};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, ls, NULL), *loss = NULL;
	struct ax_ce_options opt = AX_CE_DEFAULTS;

	(void)state;
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, bad), NULL, &loss),
		     AX_ERR_RANGE, "cross_entropy", "sample 2", "7", "3 classes", NULL);
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, neg), NULL, &loss),
		     AX_ERR_RANGE, "sample 1", "-5", NULL);
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_F32, 1, ys, NULL), NULL, &loss),
		     AX_ERR_DTYPE, "cross_entropy", "labels", "i32", NULL);
	expect_error(ax_cross_entropy(ctx, tu_tensor(ctx, AX_I32, 2, ls, NULL),
				      tu_tensor(ctx, AX_I32, 1, ys, good), NULL, &loss),
		     AX_ERR_DTYPE, "cross_entropy", "logits", NULL);
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys5, NULL), NULL, &loss),
		     AX_ERR_SHAPE, "cross_entropy", "[4, 3]", "[5]", NULL);
	expect_error(ax_cross_entropy(ctx, tu_tensor(ctx, AX_F32, 1, l1, NULL),
				      tu_tensor(ctx, AX_I32, 1, ys, good), NULL, &loss),
		     AX_ERR_SHAPE, "cross_entropy", "[12]", "[4]", NULL);
	opt.label_smoothing = 1.0f;
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, good), &opt, &loss),
		     AX_ERR_INVALID, "label_smoothing", NULL);
	opt.label_smoothing = -0.1f;
	expect_error(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, good), &opt, &loss),
		     AX_ERR_INVALID, "label_smoothing", NULL);
	assert_null(loss);
	/* The same call with valid labels works (ignore_index -100 is skipped). */
	TU_OK(ax_cross_entropy(ctx, x, tu_tensor(ctx, AX_I32, 1, ys, good), NULL, &loss));
	tu_assert_close(ax_tensor_f32(loss), &(float){(float)log(3.0)}, 1, 1e-6, 1e-6,
			"uniform logits");
	ax_ctx_destroy(ctx);
}

struct ce_arg {
	struct ax_ce_options opt;
};

static enum ax_status build_ce(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
			       struct ax_tensor **out)
{
	const struct ce_arg *a = arg;

	return ax_cross_entropy(ctx, in[0], in[1], &a->opt, out);
}

static void test_cross_entropy_gradcheck(void **state)
{
	static const int32_t labels[7] = {2, 0, 4, -100, 1, 3, 4};
	static const int32_t with_three[7] = {2, 3, 4, 0, 3, 1, 1};
	const enum gc_layout layouts[3] = {GC_CONTIGUOUS, GC_TRANSPOSED, GC_STRIDED};
	struct ce_arg plain = {AX_CE_DEFAULTS}, smooth = {{0.15f, -100}}, custom = {{0.3f, 3}};

	(void)state;
	for (int l = 0; l < 3; l++) {
		struct gc_input in[2] = {
			{.ndim = 2, .shape = {7, 5}, .dtype = AX_F32, .layout = layouts[l],
			 .lo = -3.0f, .hi = 3.0f},
			{.ndim = 1, .shape = {7}, .dtype = AX_I32, .layout = layouts[l] == GC_STRIDED ?
			 GC_STRIDED : GC_CONTIGUOUS, .values = labels},
		};

		assert_int_equal(gc_check("ce", 2, in, build_ce, &plain, NULL), 0);
		assert_int_equal(gc_check("ce smoothing", 2, in, build_ce, &smooth, NULL), 0);
		in[1].values = with_three;
		assert_int_equal(gc_check("ce ignore 3", 2, in, build_ce, &custom, NULL), 0);
	}
	/* One class, and one sample. */
	{
		static const int32_t zero[3] = {0, 0, 0}, one[1] = {2};
		struct gc_input c1[2] = {
			{.ndim = 2, .shape = {3, 1}, .dtype = AX_F32},
			{.ndim = 1, .shape = {3}, .dtype = AX_I32, .values = zero},
		};
		struct gc_input n1[2] = {
			{.ndim = 2, .shape = {1, 4}, .dtype = AX_F32},
			{.ndim = 1, .shape = {1}, .dtype = AX_I32, .values = one},
		};

		assert_int_equal(gc_check("ce C=1", 2, c1, build_ce, &smooth, NULL), 0);
		assert_int_equal(gc_check("ce N=1", 2, n1, build_ce, &smooth, NULL), 0);
	}
}

/* ---- mse ---- */

static void test_mse_forward(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t shape[2] = {3, 4};
	float a[12], b[12], got;
	double want = 0.0;
	struct ax_tensor *pa, *tb, *loss;
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 5);
	ax_rng_uniform(&rng, a, 12, -2.0f, 2.0f);
	ax_rng_uniform(&rng, b, 12, -2.0f, 2.0f);
	for (int i = 0; i < 12; i++)
		want += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	want /= 12.0;
	pa = tu_tensor(ctx, AX_F32, 2, shape, a);
	tb = tu_tensor(ctx, AX_F32, 2, shape, b);
	TU_OK(ax_mse(ctx, pa, tb, &loss));
	assert_int_equal(loss->ndim, 0);
	got = *ax_tensor_f32(loss);
	tu_assert_close(&got, &(float){(float)want}, 1, 1e-7, 1e-6, "mse");
	/* A strided target: every other column of a (3, 8) buffer. */
	{
		const int64_t wide[2] = {3, 8};
		float buf[24];
		struct ax_tensor *t;

		for (int i = 0; i < 24; i++)
			buf[i] = (i % 2) ? NAN : b[(i / 8) * 4 + (i % 8) / 2];
		t = tu_tensor(ctx, AX_F32, 2, wide, buf);
		t->shape[1] = 4;
		t->stride[1] = 2;
		TU_OK(ax_mse(ctx, pa, t, &loss));
		tu_assert_close(ax_tensor_f32(loss), &got, 1, 0, 0, "mse, strided target");
	}
	ax_ctx_destroy(ctx);
}

static void test_mse_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t s34[2] = {3, 4}, s43[2] = {4, 3}, s4[1] = {4};
	struct ax_tensor *a = tu_tensor(ctx, AX_F32, 2, s34, NULL), *loss = NULL;

	(void)state;
	expect_error(ax_mse(ctx, a, tu_tensor(ctx, AX_F32, 2, s43, NULL), &loss), AX_ERR_SHAPE,
		     "mse", "[3, 4]", "[4, 3]", NULL);
	/* No broadcasting, even where NumPy would broadcast. */
	expect_error(ax_mse(ctx, a, tu_tensor(ctx, AX_F32, 1, s4, NULL), &loss), AX_ERR_SHAPE,
		     "mse", "[3, 4]", "[4]", NULL);
	expect_error(ax_mse(ctx, a, tu_tensor(ctx, AX_I32, 2, s34, NULL), &loss), AX_ERR_DTYPE,
		     "mse", "target", NULL);
	assert_null(loss);
	ax_ctx_destroy(ctx);
}

static enum ax_status build_mse(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				struct ax_tensor **out)
{
	(void)arg;
	return ax_mse(ctx, in[0], in[1], out);
}

/* x used twice through one op: mse(x, x) is 0 for every x, so dx must be 0. */
static enum ax_status build_mse_self(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				     struct ax_tensor **out)
{
	(void)arg;
	return ax_mse(ctx, in[0], in[0], out);
}

static void test_mse_gradcheck(void **state)
{
	const enum gc_layout layouts[3] = {GC_CONTIGUOUS, GC_TRANSPOSED, GC_STRIDED};

	(void)state;
	for (int l = 0; l < 3; l++) {
		struct gc_input in[2] = {
			{.ndim = 2, .shape = {4, 5}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 2, .shape = {4, 5}, .dtype = AX_F32, .layout = layouts[(l + 1) % 3]},
		};
		struct gc_input in3[2] = {
			{.ndim = 3, .shape = {2, 3, 4}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 3, .shape = {2, 3, 4}, .dtype = AX_F32, .layout = layouts[l],
			 .no_grad = l == 2},
		};

		assert_int_equal(gc_check("mse", 2, in, build_mse, NULL, NULL), 0);
		assert_int_equal(gc_check("mse 3-d", 2, in3, build_mse, NULL, NULL), 0);
		assert_int_equal(gc_check("mse self", 1, in, build_mse_self, NULL, NULL), 0);
	}
	{
		struct gc_input v[2] = {
			{.ndim = 1, .shape = {9}, .dtype = AX_F32, .layout = GC_STRIDED},
			{.ndim = 1, .shape = {9}, .dtype = AX_F32},
		};

		assert_int_equal(gc_check("mse 1-d", 2, v, build_mse, NULL, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cross_entropy_forward),
		cmocka_unit_test(test_cross_entropy_hand),
		cmocka_unit_test(test_cross_entropy_backward_closed_form),
		cmocka_unit_test(test_cross_entropy_all_ignored_grad),
		cmocka_unit_test(test_cross_entropy_errors),
		cmocka_unit_test(test_cross_entropy_gradcheck),
		cmocka_unit_test(test_mse_forward),
		cmocka_unit_test(test_mse_errors),
		cmocka_unit_test(test_mse_gradcheck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
