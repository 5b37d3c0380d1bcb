/* test_ops_shape.c - reshape, transpose, permute, slice, concat, contiguous:
 * views share their input's memory, values and slice semantics (negative
 * and clamped bounds, steps, empty results), gradients through single ops and
 * chains of views, and the error messages. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"

static struct ax_tensor *iota(struct ax_ctx *ctx, int ndim, const int64_t *shape)
{
	struct ax_tensor *t = tu_tensor(ctx, AX_F32, ndim, shape, NULL);
	float *v = t->data;

	for (int64_t i = 0; i < ax_tensor_numel(t); i++)
		v[i] = (float)i;
	return t;
}

static void assert_values(const struct ax_tensor *t, const float *want, const char *what)
{
	float got[256];

	assert_true(ax_tensor_numel(t) <= 256);
	tu_read(t, got);
	tu_assert_close(got, want, ax_tensor_numel(t), 0, 0, what);
}

/* ---- views share memory ---- */

static void test_views_share_memory(void **state)
{
	const int64_t shape[] = {3, 4, 5}, flat[] = {4, 15}, infer[] = {-1, 5};
	const int perm[] = {1, 2, 0};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x = iota(ctx, 3, shape), *y, *z;
	float want[60];

	(void)state;
	TU_OK(ax_reshape(ctx, x, 2, flat, &y));
	assert_ptr_equal(y->data, x->data);
	assert_int_equal(y->shape[0], 4);
	assert_int_equal(y->shape[1], 15);
	TU_OK(ax_reshape(ctx, x, 2, infer, &y));
	assert_ptr_equal(y->data, x->data);
	assert_int_equal(y->shape[0], 12);

	TU_OK(ax_transpose(ctx, x, 0, -1, &y));
	assert_ptr_equal(y->data, x->data);
	assert_int_equal(y->shape[0], 5);
	assert_int_equal(y->shape[2], 3);
	assert_int_equal(y->stride[0], 1);
	assert_int_equal(y->stride[1], 5);
	assert_int_equal(y->stride[2], 20);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			for (int k = 0; k < 3; k++)
				want[(i * 4 + j) * 3 + k] = (float)(k * 20 + j * 5 + i);
	assert_values(y, want, "transpose(0, -1)");

	TU_OK(ax_permute(ctx, x, perm, &y));
	assert_ptr_equal(y->data, x->data);
	assert_int_equal(y->stride[0], 5);
	assert_int_equal(y->stride[1], 1);
	assert_int_equal(y->stride[2], 20);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 5; j++)
			for (int k = 0; k < 3; k++)
				want[(i * 5 + j) * 3 + k] = (float)(k * 20 + i * 5 + j);
	assert_values(y, want, "permute(1, 2, 0)");

	TU_OK(ax_slice(ctx, x, 1, 1, 4, 2, &y));
	assert_ptr_equal(y->data, (float *)x->data + 5);
	assert_int_equal(y->shape[1], 2);
	assert_int_equal(y->stride[1], 10);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			for (int k = 0; k < 5; k++)
				want[(i * 2 + j) * 5 + k] = (float)(i * 20 + (1 + 2 * j) * 5 + k);
	assert_values(y, want, "slice(axis 1, 1:4:2)");

	/* A view of a view still points into x. */
	TU_OK(ax_transpose(ctx, x, 1, 2, &y));
	TU_OK(ax_slice(ctx, y, 1, -2, 5, 1, &z)); /* x[:, :, 3:5], last two axes swapped */
	assert_ptr_equal(z->data, (float *)x->data + 3);
	assert_int_equal(z->shape[1], 2);

	/* Reshape of a strided input copies (as PyTorch's reshape). */
	TU_OK(ax_reshape(ctx, y, 2, flat, &z));
	assert_true(z->data != x->data);
	assert_true(ax_tensor_is_contiguous(z));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 5; j++)
			for (int k = 0; k < 4; k++)
				want[(i * 5 + j) * 4 + k] = (float)(i * 20 + k * 5 + j);
	assert_values(z, want, "reshape(transposed)");
	ax_ctx_destroy(ctx);
}

/* ---- slice ---- */

static void test_slice_semantics(void **state)
{
	static const struct {
		int64_t start, end, step;
		int n;
		float want[10];
	} cases[] = {
		{2, 8, 1, 6, {2, 3, 4, 5, 6, 7}},
		{-3, 10, 1, 3, {7, 8, 9}},
		{0, -1, 3, 3, {0, 3, 6}},
		{-100, 100, 4, 3, {0, 4, 8}},
		{1, 10, 9, 1, {1}},
		{9, 10, 5, 1, {9}},
		{5, 2, 1, 0, {0}},
		{10, 20, 1, 0, {0}},
		{3, 3, 1, 0, {0}},
		{-20, -15, 1, 0, {0}},
	};
	const int64_t shape[] = {10}, shape2[] = {2, 10};
	struct ax_ctx *ctx = tu_ctx(2);
	struct ax_tensor *x = iota(ctx, 1, shape), *x2 = iota(ctx, 2, shape2), *y;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char what[64];

		snprintf(what, sizeof(what), "slice %zu", c);
		TU_OK(ax_slice(ctx, x, 0, cases[c].start, cases[c].end, cases[c].step, &y));
		assert_int_equal(y->shape[0], cases[c].n);
		assert_values(y, cases[c].want, what);
		/* Same along the last axis of a 2-D tensor, with axis -1. */
		TU_OK(ax_slice(ctx, x2, -1, cases[c].start, cases[c].end, cases[c].step, &y));
		assert_int_equal(y->shape[0], 2);
		assert_int_equal(y->shape[1], cases[c].n);
		if (cases[c].n > 0) {
			float got[20];

			tu_read(y, got);
			for (int i = 0; i < cases[c].n; i++) {
				assert_true(got[i] == cases[c].want[i]);
				assert_true(got[cases[c].n + i] == cases[c].want[i] + 10);
			}
		}
	}
	assert_int_equal(ax_slice(ctx, x, 0, 0, 5, 0, &y), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "slice: step"));
	assert_int_equal(ax_slice(ctx, x2, 2, 0, 5, 1, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "slice: axis 2"));
	assert_non_null(strstr(ax_last_error(), "[2, 10]"));
	ax_ctx_destroy(ctx);
}

/* ---- reshape ---- */

static void test_reshape(void **state)
{
	const int64_t shape[] = {3, 4, 5}, two_infer[] = {-1, 3, -1}, bad[] = {7, 9};
	const int64_t no_fit[] = {7, -1}, negative[] = {-2, 30}, back[] = {5, -1, 2};
	const int64_t one[] = {1, 1}, three_ones[] = {1, 1, 1}, lab_shape[] = {6};
	const int64_t lab_new[] = {2, 3};
	const int32_t labels[] = {1, 2, 3, 4, 5, 6};
	float s = 4.0f;
	struct ax_ctx *ctx = tu_ctx(3);
	struct ax_tensor *x = iota(ctx, 3, shape), *y;

	(void)state;
	TU_OK(ax_reshape(ctx, x, 3, back, &y));
	assert_int_equal(y->shape[1], 6);
	assert_int_equal(ax_reshape(ctx, x, 3, two_infer, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "reshape: more than one -1"));
	assert_int_equal(ax_reshape(ctx, x, 2, bad, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "reshape:"));
	assert_non_null(strstr(ax_last_error(), "[3, 4, 5]"));
	assert_non_null(strstr(ax_last_error(), "[7, 9]"));
	assert_int_equal(ax_reshape(ctx, x, 2, no_fit, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "[7, -1]"));
	assert_int_equal(ax_reshape(ctx, x, 2, negative, &y), AX_ERR_SHAPE);
	assert_int_equal(ax_reshape(ctx, x, 9, back, &y), AX_ERR_SHAPE);
	/* To and from scalars. */
	TU_OK(ax_reshape(ctx, tu_tensor(ctx, AX_F32, 2, one, &s), 0, NULL, &y));
	assert_int_equal(y->ndim, 0);
	assert_true(*(float *)y->data == 4.0f);
	TU_OK(ax_reshape(ctx, y, 3, three_ones, &y));
	assert_int_equal(y->ndim, 3);
	/* Any dtype can be viewed. */
	TU_OK(ax_reshape(ctx, tu_tensor(ctx, AX_I32, 1, lab_shape, labels), 2, lab_new, &y));
	assert_int_equal(y->dtype, AX_I32);
	assert_int_equal(((int32_t *)y->data)[5], 6);
	ax_ctx_destroy(ctx);
}

static void test_permute_errors(void **state)
{
	const int64_t shape[] = {2, 3, 4};
	const int repeat[] = {0, 0, 1}, range[] = {0, 1, 3}, negative[] = {-1, 0, 1};
	struct ax_ctx *ctx = tu_ctx(4);
	struct ax_tensor *x = iota(ctx, 3, shape), *y = NULL;

	(void)state;
	assert_int_equal(ax_permute(ctx, x, repeat, &y), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "permute: [0, 0, 1] is not a permutation"));
	assert_int_equal(ax_permute(ctx, x, range, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "permute: axis 3"));
	assert_non_null(strstr(ax_last_error(), "[2, 3, 4]"));
	assert_int_equal(ax_permute(ctx, x, NULL, &y), AX_ERR_INVALID);
	assert_int_equal(ax_transpose(ctx, x, 0, 3, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "transpose:"));
	assert_non_null(strstr(ax_last_error(), "[2, 3, 4]"));
	assert_null(y);
	TU_OK(ax_permute(ctx, x, negative, &y));
	assert_int_equal(y->shape[0], 4);
	assert_int_equal(y->shape[1], 2);
	assert_int_equal(y->shape[2], 3);
	ax_ctx_destroy(ctx);
}

/* ---- concat ---- */

static void test_concat_values(void **state)
{
	const int64_t sa[] = {2, 3}, sb[] = {2, 1}, sc[] = {2, 2}, se[] = {2, 0};
	const float va[] = {1, 2, 3, 4, 5, 6}, vb[] = {7, 8}, vc[] = {9, 10, 11, 12};
	const float want1[] = {1, 2, 3, 7, 9, 10, 4, 5, 6, 8, 11, 12};
	struct ax_ctx *ctx = tu_ctx(5);
	struct ax_tensor *a = tu_tensor(ctx, AX_F32, 2, sa, va);
	struct ax_tensor *b = tu_tensor(ctx, AX_F32, 2, sb, vb);
	struct ax_tensor *c = tu_tensor(ctx, AX_F32, 2, sc, vc);
	struct ax_tensor *e = tu_tensor(ctx, AX_F32, 2, se, NULL);
	struct ax_tensor *y, *at, *ct;

	(void)state;
	{
		struct ax_tensor *xs[] = {a, e, b, c};

		TU_OK(ax_concat(ctx, 4, xs, -1, &y));
		assert_int_equal(y->shape[0], 2);
		assert_int_equal(y->shape[1], 6);
		assert_values(y, want1, "concat axis -1");
	}
	/* Along axis 0, from transposed views: a^T (3, 2) and c^T (2, 2). */
	TU_OK(ax_transpose(ctx, a, 0, 1, &at));
	TU_OK(ax_transpose(ctx, c, 0, 1, &ct));
	{
		struct ax_tensor *xs[] = {at, ct};
		const float want0[] = {1, 4, 2, 5, 3, 6, 9, 11, 10, 12};

		TU_OK(ax_concat(ctx, 2, xs, 0, &y));
		assert_int_equal(y->shape[0], 5);
		assert_values(y, want0, "concat axis 0 of transposes");
	}
	{
		struct ax_tensor *xs[] = {a};

		TU_OK(ax_concat(ctx, 1, xs, 1, &y));
		assert_true(y != a);
		assert_values(y, va, "concat of one");
	}
	ax_ctx_destroy(ctx);
}

static void test_concat_errors(void **state)
{
	const int64_t sa[] = {2, 3}, sb[] = {3, 2}, s1[] = {6};
	struct ax_ctx *ctx = tu_ctx(6);
	struct ax_tensor *a = tu_tensor(ctx, AX_F32, 2, sa, NULL), *y = NULL;
	struct ax_tensor *xs[3] = {a, a, tu_tensor(ctx, AX_F32, 2, sb, NULL)};

	(void)state;
	assert_int_equal(ax_concat(ctx, 3, xs, 1, &y), AX_ERR_SHAPE);
	assert_string_equal(ax_last_error(), "concat: input 2 is [3, 2] but input 0 is [2, 3]: "
			    "sizes must match except along axis 1");
	xs[2] = tu_tensor(ctx, AX_F32, 1, s1, NULL);
	assert_int_equal(ax_concat(ctx, 3, xs, 0, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "concat: input 2 is [6] but input 0 is [2, 3]"));
	xs[2] = tu_tensor(ctx, AX_I32, 2, sa, NULL);
	assert_int_equal(ax_concat(ctx, 3, xs, 0, &y), AX_ERR_DTYPE);
	assert_non_null(strstr(ax_last_error(), "concat: inputs must be f32, input 2 is i32"));
	xs[2] = NULL;
	assert_int_equal(ax_concat(ctx, 3, xs, 0, &y), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "input 2 is NULL"));
	assert_int_equal(ax_concat(ctx, 2, xs, 2, &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "concat: axis 2"));
	assert_int_equal(ax_concat(ctx, 0, xs, 0, &y), AX_ERR_INVALID);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

/* ---- contiguous ---- */

static void test_contiguous(void **state)
{
	const int64_t shape[] = {2, 3};
	const int32_t labels[] = {1, 2, 3, 4, 5, 6};
	const float want[] = {0, 3, 1, 4, 2, 5};
	struct ax_ctx *ctx = tu_ctx(7);
	struct ax_tensor *x = iota(ctx, 2, shape), *xt, *y, *lab, *labt;

	(void)state;
	TU_OK(ax_contiguous(ctx, x, &y));
	assert_ptr_equal(y, x);
	TU_OK(ax_transpose(ctx, x, 0, 1, &xt));
	TU_OK(ax_contiguous(ctx, xt, &y));
	assert_true(y != xt && y->data != x->data);
	assert_true(ax_tensor_is_contiguous(y));
	tu_assert_close(y->data, want, 6, 0, 0, "contiguous(x^T)");
	/* Integer tensors too. */
	lab = tu_tensor(ctx, AX_I32, 2, shape, labels);
	TU_OK(ax_transpose(ctx, lab, 0, 1, &labt));
	TU_OK(ax_contiguous(ctx, labt, &y));
	assert_int_equal(y->dtype, AX_I32);
	for (int i = 0; i < 6; i++)
		assert_int_equal(((int32_t *)y->data)[i], (int32_t)want[i] + 1);
	ax_ctx_destroy(ctx);
}

/* ---- gradients ---- */

enum view_chain {
	CH_RESHAPE,       /* (2, 3, 4) -> (4, -1) */
	CH_TRANSPOSE,     /* axes 0 and 2 */
	CH_PERMUTE,       /* (2, 0, 1) */
	CH_SLICE,         /* axis 1, 1:3 */
	CH_SLICE_STEP,    /* axis -1, -3:100:2 */
	CH_CONTIGUOUS,
	CH_SLICE_OF_T,    /* slice(transpose(x)) */
	CH_RESHAPE_CHAIN, /* reshape(slice(permute(x))) */
	CH_T_T,           /* transpose(transpose(x)) */
	CH_CONCAT_SELF,   /* concat(x, slice(x)): x used twice */
	CH_COUNT
};

static enum ax_status build_chain(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				  struct ax_tensor **out)
{
	const int64_t to_4[] = {4, -1}, flat[] = {-1};
	const int perm[] = {2, 0, 1};
	struct ax_tensor *x = in[0], *t, *u;
	enum ax_status st;

	switch (*(const enum view_chain *)arg) {
	case CH_RESHAPE: return ax_reshape(ctx, x, 2, to_4, out);
	case CH_TRANSPOSE: return ax_transpose(ctx, x, 0, 2, out);
	case CH_PERMUTE: return ax_permute(ctx, x, perm, out);
	case CH_SLICE: return ax_slice(ctx, x, 1, 1, 3, 1, out);
	case CH_SLICE_STEP: return ax_slice(ctx, x, -1, -3, 100, 2, out);
	case CH_CONTIGUOUS: return ax_contiguous(ctx, x, out);
	case CH_SLICE_OF_T:
		st = ax_transpose(ctx, x, 0, 2, &t);
		return st ? st : ax_slice(ctx, t, 0, 1, 4, 2, out);
	case CH_RESHAPE_CHAIN:
		st = ax_permute(ctx, x, perm, &t);
		if (!st)
			st = ax_slice(ctx, t, 2, 0, 3, 2, &u);
		return st ? st : ax_reshape(ctx, u, 1, flat, out);
	case CH_T_T:
		st = ax_transpose(ctx, x, 1, 2, &t);
		return st ? st : ax_transpose(ctx, t, 0, 1, out);
	case CH_CONCAT_SELF: {
		struct ax_tensor *pair[2];

		st = ax_slice(ctx, x, 0, 1, 2, 1, &t);
		if (st)
			return st;
		pair[0] = x;
		pair[1] = t;
		return ax_concat(ctx, 2, pair, 0, out);
	}
	default: return AX_ERR_INVALID;
	}
}

static void test_view_gradcheck(void **state)
{
	static const enum gc_layout layouts[] = {GC_CONTIGUOUS, GC_TRANSPOSED, GC_STRIDED};

	(void)state;
	for (enum view_chain ch = 0; ch < CH_COUNT; ch++)
		for (int l = 0; l < 3; l++) {
			struct gc_input in = {.ndim = 3, .shape = {2, 3, 4}, .layout = layouts[l]};
			char label[64];

			snprintf(label, sizeof(label), "view chain %d layout %d", (int)ch, l);
			assert_int_equal(gc_check(label, 1, &in, build_chain, &ch, NULL), 0);
		}
}

static enum ax_status build_concat3(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				    struct ax_tensor **out)
{
	return ax_concat(ctx, 3, in, *(const int *)arg, out);
}

static void test_concat_gradcheck(void **state)
{
	struct gc_input in[3] = {
		{.ndim = 2, .shape = {2, 3}, .layout = GC_TRANSPOSED},
		{.ndim = 2, .shape = {2, 1}, .layout = GC_STRIDED},
		{.ndim = 2, .shape = {2, 4}},
	};
	struct gc_input rows[3] = {
		{.ndim = 3, .shape = {1, 2, 3}, .layout = GC_STRIDED},
		{.ndim = 3, .shape = {3, 2, 3}, .layout = GC_TRANSPOSED},
		{.ndim = 3, .shape = {2, 2, 3}, .no_grad = 1},
	};
	int axis = -1;

	(void)state;
	assert_int_equal(gc_check("concat axis -1", 3, in, build_concat3, &axis, NULL), 0);
	axis = 0;
	assert_int_equal(gc_check("concat axis 0", 3, rows, build_concat3, &axis, NULL), 0);
}

/* Gradient through slice(transpose(x)) by hand: sum over columns 1 and 3 of
 * x puts exactly 1 there and 0 elsewhere; the view shares x's memory. */
static void test_chain_gradient_by_hand(void **state)
{
	const int64_t shape[] = {3, 4};
	struct ax_ctx *ctx = tu_ctx(8);
	struct ax_tensor *x = iota(ctx, 2, shape), *t, *s, *loss;
	float want[12];

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_transpose(ctx, x, 0, 1, &t));
	TU_OK(ax_slice(ctx, t, 0, 1, 4, 2, &s));
	assert_ptr_equal(s->data, (float *)x->data + 1);
	TU_OK(ax_sum(ctx, s, 0, NULL, 0, &loss));
	assert_true(*(float *)loss->data == (1 + 5 + 9) + (3 + 7 + 11));
	TU_OK(ax_backward(ctx, loss));
	for (int i = 0; i < 12; i++)
		want[i] = (i % 4 == 1 || i % 4 == 3) ? 1.0f : 0.0f;
	assert_non_null(x->grad);
	tu_assert_close(x->grad->data, want, 12, 0, 0, "d sum(slice(transpose(x))) / dx");
	ax_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_views_share_memory),
		cmocka_unit_test(test_slice_semantics),
		cmocka_unit_test(test_reshape),
		cmocka_unit_test(test_permute_errors),
		cmocka_unit_test(test_concat_values),
		cmocka_unit_test(test_concat_errors),
		cmocka_unit_test(test_contiguous),
		cmocka_unit_test(test_view_gradcheck),
		cmocka_unit_test(test_concat_gradcheck),
		cmocka_unit_test(test_chain_gradient_by_hand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
