/* test_ops_reduce.c - sum and mean: values over many axis sets (keepdim on
 * and off, strided inputs) against sums formed in double, accuracy of long
 * reductions, empty reductions, finite-difference gradients, and errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* Reference: reduce the row-major (ndim, shape) array over the axes in mask,
 * in double; out is in the row-major order of the kept axes. */
static int64_t reference_reduce(int ndim, const int64_t *shape, const float *x, unsigned mask,
				int mean, double *out)
{
	int64_t n = 1, n_out = 1, count = 1;

	for (int d = 0; d < ndim; d++) {
		n *= shape[d];
		if (mask & (1u << d))
			count *= shape[d];
		else
			n_out *= shape[d];
	}
	for (int64_t o = 0; o < n_out; o++)
		out[o] = 0.0;
	for (int64_t i = 0; i < n; i++) {
		int64_t rest = i, o = 0, step = 1;

		for (int d = ndim - 1; d >= 0; d--) {
			int64_t id = rest % shape[d];

			rest /= shape[d];
			if (!(mask & (1u << d))) {
				o += id * step;
				step *= shape[d];
			}
		}
		out[o] += x[i];
	}
	if (mean)
		for (int64_t o = 0; o < n_out; o++)
			out[o] /= (double)count;
	return n_out;
}

/* x (3, 4, 5) stored transposed on its last two axes (a strided view). */
static struct ax_tensor *transposed_input(struct ax_ctx *ctx, const float *values)
{
	const int64_t phys_shape[] = {3, 5, 4};
	struct ax_tensor *t = tu_tensor(ctx, AX_F32, 3, phys_shape, NULL);
	float *buf = t->data;

	t->shape[1] = 4;
	t->shape[2] = 5;
	t->stride[1] = 1;
	t->stride[2] = 4;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			for (int k = 0; k < 5; k++)
				buf[i * 20 + k * 4 + j] = values[i * 20 + j * 5 + k];
	return t;
}

struct axis_set {
	int n;
	int axes[3];
	unsigned mask;
};

static const struct axis_set axis_sets[] = {
	{0, {0}, 7},       {1, {0}, 1},       {1, {1}, 2},      {1, {-1}, 4},
	{2, {0, 2}, 5},    {2, {2, 0}, 5},    {2, {1, 2}, 6},   {2, {-3, -2}, 3},
	{3, {0, 1, 2}, 7}, {3, {2, -2, 0}, 7},
};

/* One reduction of x (3, 4, 5), given contiguous or transposed, checked for
 * shape and values against the double reference. */
static void check_reduce(struct ax_ctx *ctx, const float *x, int transposed, int mean,
			 int keep, const struct axis_set *as, const char *what)
{
	const int64_t shape[] = {3, 4, 5};
	struct ax_tensor *t = transposed ? transposed_input(ctx, x)
					 : tu_tensor(ctx, AX_F32, 3, shape, x);
	struct ax_tensor *y;
	float got[60], wantf[60];
	double want[60];
	int64_t n_out;
	int d_out = 0;

	if (mean)
		TU_OK(ax_mean(ctx, t, as->n, as->axes, keep, &y));
	else
		TU_OK(ax_sum(ctx, t, as->n, as->axes, keep, &y));
	/* Shape: reduced axes dropped, or kept with size 1. */
	for (int d = 0; d < 3; d++) {
		if (!(as->mask & (1u << d)))
			assert_int_equal(y->shape[d_out++], shape[d]);
		else if (keep)
			assert_int_equal(y->shape[d_out++], 1);
	}
	assert_int_equal(y->ndim, d_out);
	n_out = reference_reduce(3, shape, x, as->mask, mean, want);
	assert_int_equal(ax_tensor_numel(y), n_out);
	for (int64_t i = 0; i < n_out; i++)
		wantf[i] = (float)want[i];
	tu_read(y, got);
	tu_assert_close(got, wantf, n_out, 1e-6, 1e-6, what);
}

static void test_reduce_values(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_rng rng;
	float x[60];

	(void)state;
	ax_rng_init(&rng, 3);
	ax_rng_uniform(&rng, x, 60, -2.0f, 2.0f);
	for (int layout = 0; layout < 2; layout++)
		for (int mean = 0; mean < 2; mean++)
			for (int keep = 0; keep < 2; keep++)
				for (size_t s = 0; s < sizeof(axis_sets) / sizeof(axis_sets[0]); s++) {
					char what[96];

					snprintf(what, sizeof(what), "%s set %zu keepdim %d layout %d",
						 mean ? "mean" : "sum", s, keep, layout);
					check_reduce(ctx, x, layout, mean, keep, &axis_sets[s], what);
				}
	ax_ctx_destroy(ctx);
}

/* 4 million copies of 0.1f: a float running sum drifts by ~1e-2 relative;
 * the double accumulator is exact to float rounding. Also along the leading
 * axis (each output accumulates across rows) and for mean. */
static void test_reduce_long_is_accurate(void **state)
{
	enum { N = 4 << 20 };
	const int64_t shape[] = {N}, shape2[] = {N / 2, 2};
	struct ax_ctx *ctx = tu_ctx(2);
	struct ax_tensor *x, *x2, *y;
	double want = (double)N * (double)0.1f;
	float *v;
	int axis0 = 0;

	(void)state;
	x = tu_tensor(ctx, AX_F32, 1, shape, NULL);
	v = x->data;
	for (int i = 0; i < N; i++)
		v[i] = 0.1f;
	TU_OK(ax_sum(ctx, x, 0, NULL, 0, &y));
	assert_int_equal(y->ndim, 0);
	assert_true(fabs(*(float *)y->data - want) <= 1e-7 * want);
	TU_OK(ax_mean(ctx, x, 0, NULL, 0, &y));
	assert_true(fabs(*(float *)y->data - (double)0.1f) <= 1e-7);
	x2 = tu_tensor(ctx, AX_F32, 2, shape2, x->data);
	TU_OK(ax_sum(ctx, x2, 1, &axis0, 0, &y));
	assert_int_equal(y->shape[0], 2);
	for (int j = 0; j < 2; j++)
		assert_true(fabs(((float *)y->data)[j] - want / 2) <= 1e-7 * want);
	ax_ctx_destroy(ctx);
}

/* Reducing over a zero-size axis: sum 0, mean NaN (as PyTorch); an empty
 * result stays empty; a scalar reduces to itself. */
static void test_reduce_empty_and_scalar(void **state)
{
	const int64_t shape[] = {2, 0}, shape0[] = {0, 3};
	struct ax_ctx *ctx = tu_ctx(3);
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, shape, NULL), *y;
	float five = 5.0f;
	int axis1 = 1;

	(void)state;
	TU_OK(ax_sum(ctx, x, 1, &axis1, 0, &y));
	assert_int_equal(y->shape[0], 2);
	assert_true(((float *)y->data)[0] == 0.0f && ((float *)y->data)[1] == 0.0f);
	TU_OK(ax_mean(ctx, x, 1, &axis1, 1, &y));
	assert_true(isnan(((float *)y->data)[0]));
	TU_OK(ax_sum(ctx, tu_tensor(ctx, AX_F32, 2, shape0, NULL), 1, &axis1, 0, &y));
	assert_int_equal(y->ndim, 1);
	assert_int_equal(y->shape[0], 0);
	TU_OK(ax_mean(ctx, tu_tensor(ctx, AX_F32, 0, NULL, &five), 0, NULL, 0, &y));
	assert_int_equal(y->ndim, 0);
	assert_true(*(float *)y->data == 5.0f);
	ax_ctx_destroy(ctx);
}

struct reduce_arg {
	int mean, n, keep;
	int axes[3];
};

static enum ax_status build_reduce(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	const struct reduce_arg *r = arg;

	return r->mean ? ax_mean(ctx, in[0], r->n, r->axes, r->keep, out)
		       : ax_sum(ctx, in[0], r->n, r->axes, r->keep, out);
}

static void test_reduce_gradcheck(void **state)
{
	static const enum gc_layout layouts[] = {GC_CONTIGUOUS, GC_TRANSPOSED, GC_STRIDED};

	(void)state;
	for (int mean = 0; mean < 2; mean++)
		for (size_t s = 0; s < sizeof(axis_sets) / sizeof(axis_sets[0]); s++)
			for (int l = 0; l < 3; l++) {
				const struct axis_set *as = &axis_sets[s];
				struct reduce_arg r = {mean, as->n, (int)(s + l) % 2, {0}};
				struct gc_input in = {.ndim = 3, .shape = {2, 3, 4},
						      .layout = layouts[l]};
				char label[96];

				memcpy(r.axes, as->axes, sizeof(r.axes));
				snprintf(label, sizeof(label), "%s set %zu layout %d keepdim %d",
					 mean ? "mean" : "sum", s, l, r.keep);
				assert_int_equal(gc_check(label, 1, &in, build_reduce, &r, NULL), 0);
			}
}

/* mean(x) + sum(x) style reuse: a tensor reduced twice gets both gradients. */
static enum ax_status build_twice(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				  struct ax_tensor **out)
{
	struct ax_tensor *a, *b, *pair[2];
	enum ax_status st;

	(void)arg;
	st = ax_mean(ctx, in[0], 0, NULL, 1, &a);
	if (!st)
		st = ax_sum(ctx, in[0], 0, NULL, 1, &b);
	if (st)
		return st;
	pair[0] = a;
	pair[1] = b;
	return ax_concat(ctx, 2, pair, 0, out);
}

static void test_reduce_used_twice(void **state)
{
	struct gc_input in = {.ndim = 2, .shape = {3, 4}, .layout = GC_STRIDED};

	(void)state;
	assert_int_equal(gc_check("mean and sum of one x", 1, &in, build_twice, NULL, NULL), 0);
}

static void test_reduce_errors(void **state)
{
	const int64_t shape[] = {2, 3, 4};
	struct ax_ctx *ctx = tu_ctx(4);
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 3, shape, NULL), *y = NULL;
	int bad[] = {3}, neg[] = {-4}, dup[] = {1, -2}, many[9] = {0};

	(void)state;
	assert_int_equal(ax_sum(ctx, x, 1, bad, 0, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "sum: axis 3 is out of range"));
	assert_non_null(strstr(ax_last_error(), "[2, 3, 4]"));
	assert_int_equal(ax_mean(ctx, x, 1, neg, 0, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "mean: axis -4"));
	assert_int_equal(ax_sum(ctx, x, 2, dup, 0, &y), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "sum: axis 1 appears twice"));
	assert_int_equal(ax_sum(ctx, x, 9, many, 0, &y), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "sum"));
	assert_int_equal(ax_sum(ctx, x, 1, NULL, 0, &y), AX_ERR_INVALID);
	assert_int_equal(ax_mean(ctx, tu_tensor(ctx, AX_I32, 3, shape, NULL), 0, NULL, 0, &y),
			 AX_ERR_DTYPE);
	assert_non_null(strstr(ax_last_error(), "mean"));
	assert_non_null(strstr(ax_last_error(), "i32"));
	assert_null(y);
	ax_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reduce_values),
		cmocka_unit_test(test_reduce_long_is_accurate),
		cmocka_unit_test(test_reduce_empty_and_scalar),
		cmocka_unit_test(test_reduce_gradcheck),
		cmocka_unit_test(test_reduce_used_twice),
		cmocka_unit_test(test_reduce_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
