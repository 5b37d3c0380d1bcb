/* test_ops_linalg.c - matmul, bmm and linear: forward against a naive
 * double-precision triple loop, finite-difference gradients for contiguous,
 * transposed (the no-copy CblasTrans path) and strided (the copy path)
 * operands and for broadcast batch axes, proof that transposed operands are
 * not copied, and the error messages. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* ---- helpers ---- */

static int64_t numel_of(int ndim, const int64_t *shape)
{
	int64_t n = 1;

	for (int d = 0; d < ndim; d++)
		n *= shape[d];
	return n;
}

/* An arena tensor holding `values` (row-major) in `layout`: contiguous, with
 * the last two axes stored swapped, or every other element of a buffer twice
 * as wide whose padding is NaN. */
static struct ax_tensor *make_view(struct ax_ctx *ctx, int ndim, const int64_t *shape,
				   const float *values, enum gc_layout layout)
{
	int64_t phys[AX_MAX_DIMS] = {0}, pstride[AX_MAX_DIMS] = {0}, stride[AX_MAX_DIMS];
	int64_t total = 1;
	int64_t n = numel_of(ndim, shape);
	struct ax_tensor *t;
	float *buf;

	for (int d = 0; d < ndim; d++)
		phys[d] = shape[d];
	if (layout == GC_TRANSPOSED) {
		phys[ndim - 2] = shape[ndim - 1];
		phys[ndim - 1] = shape[ndim - 2];
	} else if (layout == GC_STRIDED) {
		phys[ndim - 1] *= 2;
	}
	for (int d = ndim - 1; d >= 0; d--) {
		pstride[d] = total;
		total *= phys[d];
	}
	memcpy(stride, pstride, sizeof(stride));
	if (layout == GC_TRANSPOSED) {
		stride[ndim - 2] = pstride[ndim - 1];
		stride[ndim - 1] = pstride[ndim - 2];
	} else if (layout == GC_STRIDED) {
		stride[ndim - 1] = 2;
	}
	buf = ax_ctx_alloc(ctx, (size_t)(total ? total : 1) * sizeof(float));
	assert_non_null(buf);
	for (int64_t i = 0; i < total; i++)
		buf[i] = NAN;
	TU_OK(ax_tensor_wrap(ctx, AX_F32, ndim, shape, buf, &t));
	memcpy(t->stride, stride, sizeof(int64_t) * (size_t)ndim);
	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0, rest = i;

		for (int d = ndim - 1; d >= 0; d--) {
			off += (rest % shape[d]) * stride[d];
			rest /= shape[d];
		}
		buf[off] = values[i];
	}
	return t;
}

static float *random_values(int64_t n, uint64_t seed)
{
	float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
	struct ax_rng rng;

	assert_non_null(v);
	ax_rng_init(&rng, seed);
	ax_rng_uniform(&rng, v, n, -1.0f, 1.0f);
	return v;
}

/* Offset of the row-major element of an operand of shape (nd, shape) whose
 * batch axes are broadcast against an output batch index (nb axes). */
static int64_t batch_base(int nd, const int64_t *shape, int nb, const int64_t *index)
{
	int64_t off = 0, mat = shape[nd - 2] * shape[nd - 1], step = mat;

	for (int d = nd - 3; d >= 0; d--) {
		int od = d - (nd - 2) + nb;

		off += (shape[d] == 1 ? 0 : index[od]) * step;
		step *= shape[d];
	}
	return off;
}

/* out = a @ b with NumPy batch broadcasting, in double. Returns numel(out). */
static int64_t naive_matmul(int na, const int64_t *sa, const float *a, int nbd,
			    const int64_t *sb, const float *b, double *out)
{
	int n = na > nbd ? na : nbd, nb = n - 2;
	int64_t M = sa[na - 2], K = sa[na - 1], N = sb[nbd - 1];
	int64_t bshape[AX_MAX_DIMS], index[AX_MAX_DIMS] = {0}, batches = 1, o = 0;

	for (int d = 0; d < nb; d++) {
		int da = d - (nb - (na - 2)), db = d - (nb - (nbd - 2));
		int64_t xa = da >= 0 ? sa[da] : 1, xb = db >= 0 ? sb[db] : 1;

		bshape[d] = xa == 1 ? xb : xa;
		batches *= bshape[d];
	}
	for (int64_t bi = 0; bi < batches; bi++) {
		int64_t oa = batch_base(na, sa, nb, index), ob = batch_base(nbd, sb, nb, index);

		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++) {
				double s = 0.0;

				for (int64_t k = 0; k < K; k++)
					s += (double)a[oa + i * K + k] * (double)b[ob + k * N + j];
				out[o++] = s;
			}
		for (int d = nb - 1; d >= 0; d--) {
			if (++index[d] < bshape[d])
				break;
			index[d] = 0;
		}
	}
	return o;
}

static void assert_close_double(const float *got, const double *want, int64_t n,
				const char *what)
{
	for (int64_t i = 0; i < n; i++) {
		double diff = fabs((double)got[i] - want[i]);

		if (!(diff <= 1e-5 + 1e-5 * fabs(want[i])))
			fail_msg("%s: element %lld is %.9g, expected %.9g", what, (long long)i,
				 got[i], want[i]);
	}
}

/* ---- matmul forward ---- */

struct mm_case {
	int na, nb;
	int64_t sa[4], sb[4];
	enum gc_layout la, lb;
	int out_ndim;
	int64_t out_shape[4];
};

static const struct mm_case mm_cases[] = {
	{2, 2, {3, 4}, {4, 5}, GC_CONTIGUOUS, GC_CONTIGUOUS, 2, {3, 5}},
	{2, 2, {3, 4}, {4, 5}, GC_TRANSPOSED, GC_CONTIGUOUS, 2, {3, 5}},
	{2, 2, {3, 4}, {4, 5}, GC_CONTIGUOUS, GC_TRANSPOSED, 2, {3, 5}},
	{2, 2, {3, 4}, {4, 5}, GC_TRANSPOSED, GC_TRANSPOSED, 2, {3, 5}},
	{2, 2, {3, 4}, {4, 5}, GC_STRIDED, GC_CONTIGUOUS, 2, {3, 5}},
	{2, 2, {3, 4}, {4, 5}, GC_TRANSPOSED, GC_STRIDED, 2, {3, 5}},
	{4, 2, {2, 3, 4, 5}, {5, 6}, GC_CONTIGUOUS, GC_TRANSPOSED, 4, {2, 3, 4, 6}},
	{4, 3, {3, 1, 4, 5}, {2, 5, 3}, GC_TRANSPOSED, GC_CONTIGUOUS, 4, {3, 2, 4, 3}},
	{3, 3, {2, 3, 4}, {2, 4, 2}, GC_STRIDED, GC_TRANSPOSED, 3, {2, 3, 2}},
	{2, 2, {1, 7}, {7, 1}, GC_TRANSPOSED, GC_TRANSPOSED, 2, {1, 1}},
	{2, 2, {5, 1}, {1, 4}, GC_TRANSPOSED, GC_STRIDED, 2, {5, 4}},
	{2, 2, {1, 6}, {6, 3}, GC_STRIDED, GC_STRIDED, 2, {1, 3}},
	{2, 4, {4, 3}, {2, 1, 3, 2}, GC_CONTIGUOUS, GC_TRANSPOSED, 4, {2, 1, 4, 2}},
};

static void test_matmul_forward_matches_naive(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);

	(void)state;
	for (size_t c = 0; c < sizeof(mm_cases) / sizeof(mm_cases[0]); c++) {
		const struct mm_case *mc = &mm_cases[c];
		int64_t na = numel_of(mc->na, mc->sa), nb = numel_of(mc->nb, mc->sb);
		float *va = random_values(na, 100 + c), *vb = random_values(nb, 200 + c);
		int64_t n_out = numel_of(mc->out_ndim, mc->out_shape);
		double *want = malloc((size_t)n_out * sizeof(double));
		float *got = malloc((size_t)n_out * sizeof(float));
		struct ax_tensor *a, *b, *y;
		char what[64];

		assert_non_null(want);
		assert_non_null(got);
		a = make_view(ctx, mc->na, mc->sa, va, mc->la);
		b = make_view(ctx, mc->nb, mc->sb, vb, mc->lb);
		TU_OK(ax_matmul(ctx, a, b, &y));
		assert_int_equal(y->ndim, mc->out_ndim);
		assert_memory_equal(y->shape, mc->out_shape, sizeof(int64_t) * (size_t)y->ndim);
		assert_true(ax_tensor_is_contiguous(y));
		assert_int_equal(naive_matmul(mc->na, mc->sa, va, mc->nb, mc->sb, vb, want), n_out);
		tu_read(y, got);
		snprintf(what, sizeof(what), "matmul case %zu", c);
		assert_close_double(got, want, n_out, what);
		free(va);
		free(vb);
		free(want);
		free(got);
		TU_OK(ax_ctx_reset(ctx));
	}
	ax_ctx_destroy(ctx);
}

/* A known small product, by hand. */
static void test_matmul_hand_values(void **state)
{
	struct ax_ctx *ctx = tu_ctx(2);
	const int64_t sa[] = {2, 3}, sb[] = {3, 2};
	const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {7, 8, 9, 10, 11, 12};
	const float want[] = {58, 64, 139, 154};
	struct ax_tensor *y;

	(void)state;
	TU_OK(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 2, sa, a), tu_tensor(ctx, AX_F32, 2, sb, b),
			&y));
	tu_assert_close(y->data, want, 4, 0, 0, "2x3 @ 3x2");
	ax_ctx_destroy(ctx);
}

/* Zero-size dimensions: K = 0 gives zeros, M = 0 an empty result. */
static void test_matmul_empty(void **state)
{
	struct ax_ctx *ctx = tu_ctx(3);
	const int64_t sa[] = {2, 0}, sb[] = {0, 3}, sc[] = {0, 4}, sd[] = {4, 3};
	struct ax_tensor *y;

	(void)state;
	TU_OK(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 2, sa, NULL), tu_tensor(ctx, AX_F32, 2, sb, NULL),
			&y));
	assert_int_equal(y->shape[0], 2);
	assert_int_equal(y->shape[1], 3);
	for (int i = 0; i < 6; i++)
		assert_true(((float *)y->data)[i] == 0.0f);
	TU_OK(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 2, sc, NULL), tu_tensor(ctx, AX_F32, 2, sd, NULL),
			&y));
	assert_int_equal(ax_tensor_numel(y), 0);
	ax_ctx_destroy(ctx);
}

/* Transposed operands are handed to sgemm in place: the arena grows by the
 * same amount as for contiguous ones. A strided operand is copied. */
static void test_matmul_transposed_not_copied(void **state)
{
	struct ax_ctx *ctx = tu_ctx(4);
	const int64_t sa[] = {32, 48}, sb[] = {48, 16};
	float *va = random_values(32 * 48, 5), *vb = random_values(48 * 16, 6);
	struct ax_tensor *ac, *bc, *at, *bt, *as, *y;
	struct ax_ctx_stats s0, s1, s2, s3;

	(void)state;
	ac = make_view(ctx, 2, sa, va, GC_CONTIGUOUS);
	bc = make_view(ctx, 2, sb, vb, GC_CONTIGUOUS);
	at = make_view(ctx, 2, sa, va, GC_TRANSPOSED);
	bt = make_view(ctx, 2, sb, vb, GC_TRANSPOSED);
	as = make_view(ctx, 2, sa, va, GC_STRIDED);
	ax_ctx_stats(ctx, &s0);
	TU_OK(ax_matmul(ctx, ac, bc, &y));
	ax_ctx_stats(ctx, &s1);
	TU_OK(ax_matmul(ctx, at, bt, &y));
	ax_ctx_stats(ctx, &s2);
	TU_OK(ax_matmul(ctx, as, bt, &y));
	ax_ctx_stats(ctx, &s3);
	assert_int_equal(s2.arena_used - s1.arena_used, s1.arena_used - s0.arena_used);
	assert_true(s3.arena_used - s2.arena_used >=
		    s1.arena_used - s0.arena_used + 32 * 48 * sizeof(float));
	/* Same for linear with a transposed weight (tied embeddings). */
	{
		const int64_t sw[] = {16, 48};
		float *vw = random_values(16 * 48, 7);
		struct ax_tensor *wc = make_view(ctx, 2, sw, vw, GC_CONTIGUOUS);
		struct ax_tensor *wt = make_view(ctx, 2, sw, vw, GC_TRANSPOSED);

		ax_ctx_stats(ctx, &s0);
		TU_OK(ax_linear(ctx, ac, wc, NULL, &y));
		ax_ctx_stats(ctx, &s1);
		TU_OK(ax_linear(ctx, at, wt, NULL, &y));
		ax_ctx_stats(ctx, &s2);
		assert_int_equal(s2.arena_used - s1.arena_used, s1.arena_used - s0.arena_used);
		free(vw);
	}
	free(va);
	free(vb);
	ax_ctx_destroy(ctx);
}

/* ---- matmul gradients ---- */

static enum ax_status build_matmul(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	(void)arg;
	return ax_matmul(ctx, in[0], in[1], out);
}

static enum ax_status build_bmm(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				struct ax_tensor **out)
{
	(void)arg;
	return ax_bmm(ctx, in[0], in[1], out);
}

static enum ax_status build_square(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	(void)arg;
	return ax_matmul(ctx, in[0], in[0], out);
}

static void test_matmul_gradcheck(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(mm_cases) / sizeof(mm_cases[0]); c++) {
		const struct mm_case *mc = &mm_cases[c];
		struct gc_input in[2] = {{0}, {0}};
		char label[64];

		in[0].ndim = mc->na;
		memcpy(in[0].shape, mc->sa, sizeof(mc->sa));
		in[0].layout = mc->la;
		in[1].ndim = mc->nb;
		memcpy(in[1].shape, mc->sb, sizeof(mc->sb));
		in[1].layout = mc->lb;
		snprintf(label, sizeof(label), "matmul case %zu", c);
		assert_int_equal(gc_check(label, 2, in, build_matmul, NULL, NULL), 0);
	}
}

/* Only one operand differentiated, and a @ a (both gradients into one buffer). */
static void test_matmul_gradcheck_partial_and_shared(void **state)
{
	struct gc_input in[2] = {{.ndim = 3, .shape = {2, 3, 4}, .layout = GC_TRANSPOSED},
				 {.ndim = 2, .shape = {4, 2}, .no_grad = 1}};
	struct gc_input sq = {.ndim = 2, .shape = {4, 4}, .layout = GC_TRANSPOSED};

	(void)state;
	assert_int_equal(gc_check("matmul a only", 2, in, build_matmul, NULL, NULL), 0);
	in[0].no_grad = 1;
	in[1].no_grad = 0;
	in[1].layout = GC_STRIDED;
	assert_int_equal(gc_check("matmul b only", 2, in, build_matmul, NULL, NULL), 0);
	assert_int_equal(gc_check("x @ x", 1, &sq, build_square, NULL, NULL), 0);
	sq.layout = GC_STRIDED;
	assert_int_equal(gc_check("x @ x strided", 1, &sq, build_square, NULL, NULL), 0);
}

static void test_bmm(void **state)
{
	struct gc_input in[2] = {{.ndim = 3, .shape = {3, 2, 4}, .layout = GC_TRANSPOSED},
				 {.ndim = 3, .shape = {3, 4, 5}}};
	struct ax_ctx *ctx = tu_ctx(8);
	const int64_t s2[] = {2, 4}, s3[] = {3, 4, 5}, s3b[] = {2, 4, 5}, s3c[] = {3, 2, 4};
	struct ax_tensor *y;

	(void)state;
	assert_int_equal(gc_check("bmm", 2, in, build_bmm, NULL, NULL), 0);
	assert_int_equal(ax_bmm(ctx, tu_tensor(ctx, AX_F32, 2, s2, NULL),
				tu_tensor(ctx, AX_F32, 3, s3, NULL), &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "bmm"));
	assert_non_null(strstr(ax_last_error(), "[2, 4]"));
	assert_non_null(strstr(ax_last_error(), "[3, 4, 5]"));
	/* bmm does not broadcast the batch, unlike matmul. */
	assert_int_equal(ax_bmm(ctx, tu_tensor(ctx, AX_F32, 3, s3c, NULL),
				tu_tensor(ctx, AX_F32, 3, s3b, NULL), &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "bmm: batch sizes differ"));
	ax_ctx_destroy(ctx);
}

static void test_matmul_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(9);
	const int64_t sa[] = {64, 784}, sb[] = {256, 10}, s1[] = {4}, s44[] = {4, 4};
	const int64_t sba[] = {2, 3, 4}, sbb[] = {3, 4, 2};
	struct ax_tensor *y = NULL;

	(void)state;
	assert_int_equal(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 2, sa, NULL),
				   tu_tensor(ctx, AX_F32, 2, sb, NULL), &y), AX_ERR_SHAPE);
	assert_string_equal(ax_last_error(),
			    "matmul: inner dimensions differ: a is [64, 784], b is [256, 10]");
	assert_null(y);
	assert_int_equal(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 1, s1, NULL),
				   tu_tensor(ctx, AX_F32, 2, s44, NULL), &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "matmul"));
	assert_non_null(strstr(ax_last_error(), "[4]"));
	assert_non_null(strstr(ax_last_error(), "[4, 4]"));
	assert_int_equal(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 3, sba, NULL),
				   tu_tensor(ctx, AX_F32, 3, sbb, NULL), &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "batch dimensions do not broadcast"));
	assert_non_null(strstr(ax_last_error(), "[2, 3, 4]"));
	assert_non_null(strstr(ax_last_error(), "[3, 4, 2]"));
	assert_int_equal(ax_matmul(ctx, tu_tensor(ctx, AX_I32, 2, s44, NULL),
				   tu_tensor(ctx, AX_F32, 2, s44, NULL), &y), AX_ERR_DTYPE);
	assert_non_null(strstr(ax_last_error(), "matmul"));
	assert_int_equal(ax_matmul(ctx, tu_tensor(ctx, AX_F32, 2, s44, NULL), NULL, &y),
			 AX_ERR_INVALID);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

/* ---- linear ---- */

struct lin_case {
	int nx;
	int64_t sx[3];
	int64_t out;
	enum gc_layout lx, lw, lb;
	int has_bias;
};

static const struct lin_case lin_cases[] = {
	{2, {5, 7}, 3, GC_CONTIGUOUS, GC_CONTIGUOUS, GC_CONTIGUOUS, 1},
	{2, {5, 7}, 3, GC_CONTIGUOUS, GC_CONTIGUOUS, GC_CONTIGUOUS, 0},
	{3, {2, 3, 7}, 4, GC_CONTIGUOUS, GC_CONTIGUOUS, GC_CONTIGUOUS, 1},
	{3, {2, 3, 7}, 4, GC_CONTIGUOUS, GC_TRANSPOSED, GC_CONTIGUOUS, 0},
	{2, {5, 7}, 3, GC_TRANSPOSED, GC_TRANSPOSED, GC_STRIDED, 1},
	{2, {5, 7}, 3, GC_STRIDED, GC_STRIDED, GC_CONTIGUOUS, 1},
	{3, {2, 3, 7}, 4, GC_TRANSPOSED, GC_CONTIGUOUS, GC_STRIDED, 1},
	{3, {2, 3, 7}, 4, GC_STRIDED, GC_CONTIGUOUS, GC_CONTIGUOUS, 0},
	{1, {7}, 3, GC_CONTIGUOUS, GC_CONTIGUOUS, GC_CONTIGUOUS, 1},
	{1, {7}, 3, GC_STRIDED, GC_TRANSPOSED, GC_CONTIGUOUS, 0},
	{2, {1, 1}, 1, GC_TRANSPOSED, GC_STRIDED, GC_STRIDED, 1},
};

static void test_linear_forward_matches_naive(void **state)
{
	struct ax_ctx *ctx = tu_ctx(10);

	(void)state;
	for (size_t c = 0; c < sizeof(lin_cases) / sizeof(lin_cases[0]); c++) {
		const struct lin_case *lc = &lin_cases[c];
		int64_t in_f = lc->sx[lc->nx - 1], nx = numel_of(lc->nx, lc->sx);
		int64_t rows = nx / in_f, sw[2] = {lc->out, in_f}, sbias[1] = {lc->out};
		float *vx = random_values(nx, 300 + c), *vw = random_values(lc->out * in_f, 400 + c);
		float *vb = random_values(lc->out, 500 + c);
		double *want = malloc((size_t)(rows * lc->out) * sizeof(double));
		float *got = malloc((size_t)(rows * lc->out) * sizeof(float));
		struct ax_tensor *x, *w, *b = NULL, *y;
		char what[64];

		assert_non_null(want);
		assert_non_null(got);
		x = make_view(ctx, lc->nx, lc->sx, vx, lc->lx);
		w = make_view(ctx, 2, sw, vw, lc->lw);
		if (lc->has_bias)
			b = make_view(ctx, 1, sbias, vb, lc->lb);
		TU_OK(ax_linear(ctx, x, w, b, &y));
		assert_int_equal(y->ndim, lc->nx);
		for (int d = 0; d < lc->nx - 1; d++)
			assert_int_equal(y->shape[d], lc->sx[d]);
		assert_int_equal(y->shape[lc->nx - 1], lc->out);
		for (int64_t r = 0; r < rows; r++)
			for (int64_t j = 0; j < lc->out; j++) {
				double s = lc->has_bias ? vb[j] : 0.0;

				for (int64_t k = 0; k < in_f; k++)
					s += (double)vx[r * in_f + k] * vw[j * in_f + k];
				want[r * lc->out + j] = s;
			}
		tu_read(y, got);
		snprintf(what, sizeof(what), "linear case %zu", c);
		assert_close_double(got, want, rows * lc->out, what);
		free(vx);
		free(vw);
		free(vb);
		free(want);
		free(got);
		TU_OK(ax_ctx_reset(ctx));
	}
	ax_ctx_destroy(ctx);
}

static enum ax_status build_linear(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	const int *has_bias = arg;

	return ax_linear(ctx, in[0], in[1], *has_bias ? in[2] : NULL, out);
}

static void test_linear_gradcheck(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(lin_cases) / sizeof(lin_cases[0]); c++) {
		const struct lin_case *lc = &lin_cases[c];
		int64_t in_f = lc->sx[lc->nx - 1];
		struct gc_input in[3] = {{0}, {0}, {0}};
		int has_bias = lc->has_bias;
		char label[64];

		in[0].ndim = lc->nx;
		memcpy(in[0].shape, lc->sx, sizeof(lc->sx));
		in[0].layout = lc->lx;
		in[1].ndim = 2;
		in[1].shape[0] = lc->out;
		in[1].shape[1] = in_f;
		in[1].layout = lc->lw;
		in[2].ndim = 1;
		in[2].shape[0] = lc->out;
		in[2].layout = lc->lb;
		snprintf(label, sizeof(label), "linear case %zu", c);
		assert_int_equal(gc_check(label, has_bias ? 3 : 2, in, build_linear, &has_bias,
					  NULL), 0);
	}
}

/* The first layer's input needs no gradient: dx is skipped, dW and db are right. */
static void test_linear_gradcheck_frozen_input(void **state)
{
	struct gc_input in[3] = {{.ndim = 2, .shape = {6, 5}, .no_grad = 1},
				 {.ndim = 2, .shape = {4, 5}},
				 {.ndim = 1, .shape = {4}}};
	int has_bias = 1;

	(void)state;
	assert_int_equal(gc_check("linear frozen x", 3, in, build_linear, &has_bias, NULL), 0);
	in[0].no_grad = 0;
	in[1].no_grad = 1;
	in[2].no_grad = 1;
	assert_int_equal(gc_check("linear x only", 3, in, build_linear, &has_bias, NULL), 0);
}

static void test_linear_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(11);
	const int64_t sx[] = {64, 784}, sw[] = {256, 780}, sw_ok[] = {256, 784}, sb[] = {255};
	const int64_t s1[] = {784};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, sx, NULL), *y = NULL;

	(void)state;
	assert_int_equal(ax_linear(ctx, x, tu_tensor(ctx, AX_F32, 2, sw, NULL), NULL, &y),
			 AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "linear:"));
	assert_non_null(strstr(ax_last_error(), "[64, 784]"));
	assert_non_null(strstr(ax_last_error(), "[256, 780]"));
	assert_int_equal(ax_linear(ctx, x, tu_tensor(ctx, AX_F32, 2, sw_ok, NULL),
				   tu_tensor(ctx, AX_F32, 1, sb, NULL), &y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "linear: bias"));
	assert_non_null(strstr(ax_last_error(), "[255]"));
	assert_non_null(strstr(ax_last_error(), "[256, 784]"));
	assert_int_equal(ax_linear(ctx, x, tu_tensor(ctx, AX_F32, 1, s1, NULL), NULL, &y),
			 AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "linear: weight must be 2-D"));
	assert_int_equal(ax_linear(ctx, tu_tensor(ctx, AX_U8, 2, sx, NULL),
				   tu_tensor(ctx, AX_F32, 2, sw_ok, NULL), NULL, &y), AX_ERR_DTYPE);
	assert_non_null(strstr(ax_last_error(), "linear"));
	assert_non_null(strstr(ax_last_error(), "u8"));
	assert_int_equal(ax_linear(ctx, x, NULL, NULL, &y), AX_ERR_INVALID);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

/* A two-layer MLP step through the public API, compared with the same
 * computation done by hand in double (a cheap end-to-end check that the
 * gradients of chained linears land in parameter buffers). */
static void test_linear_chain_gradients(void **state)
{
	struct ax_ctx *ctx = tu_ctx(12);
	const int64_t sx[] = {3, 4}, sw1[] = {5, 4}, sb1[] = {5}, sw2[] = {2, 5};
	float *vx = random_values(12, 20), *vw1 = random_values(20, 21);
	float *vb1 = random_values(5, 22), *vw2 = random_values(10, 23);
	struct ax_tensor *x, *w1, *b1, *w2, *h, *y, *loss;
	double hd[3][5], gw2[2][5] = {{0}}, gh[3][5] = {{0}}, gw1[5][4] = {{0}};
	float got[20], want[20];

	(void)state;
	x = tu_tensor(ctx, AX_F32, 2, sx, vx);
	w1 = tu_tensor(ctx, AX_F32, 2, sw1, vw1);
	b1 = tu_tensor(ctx, AX_F32, 1, sb1, vb1);
	w2 = tu_tensor(ctx, AX_F32, 2, sw2, vw2);
	TU_OK(ax_tensor_set_requires_grad(w1, 1));
	TU_OK(ax_tensor_set_requires_grad(b1, 1));
	TU_OK(ax_tensor_set_requires_grad(w2, 1));
	TU_OK(ax_linear(ctx, x, w1, b1, &h));
	TU_OK(ax_linear(ctx, h, w2, NULL, &y));
	TU_OK(ax_sum(ctx, y, 0, NULL, 0, &loss));
	TU_OK(ax_backward(ctx, loss));
	/* loss = sum(h W2^T): dW2[j][k] = sum_r h[r][k]; dh[r][k] = sum_j W2[j][k];
	 * dW1 = dh^T x. */
	for (int r = 0; r < 3; r++)
		for (int k = 0; k < 5; k++) {
			hd[r][k] = vb1[k];
			for (int i = 0; i < 4; i++)
				hd[r][k] += (double)vx[r * 4 + i] * vw1[k * 4 + i];
		}
	for (int j = 0; j < 2; j++)
		for (int k = 0; k < 5; k++)
			for (int r = 0; r < 3; r++) {
				gw2[j][k] += hd[r][k];
				gh[r][k] += vw2[j * 5 + k];
			}
	for (int k = 0; k < 5; k++)
		for (int i = 0; i < 4; i++)
			for (int r = 0; r < 3; r++)
				gw1[k][i] += gh[r][k] * vx[r * 4 + i];
	assert_non_null(w2->grad);
	for (int i = 0; i < 10; i++)
		want[i] = (float)gw2[i / 5][i % 5];
	tu_read(w2->grad, got);
	tu_assert_close(got, want, 10, 1e-5, 1e-5, "dW2");
	for (int i = 0; i < 20; i++)
		want[i] = (float)gw1[i / 4][i % 4];
	tu_read(w1->grad, got);
	tu_assert_close(got, want, 20, 1e-5, 1e-5, "dW1");
	for (int k = 0; k < 5; k++)
		want[k] = (float)(gh[0][k] + gh[1][k] + gh[2][k]);
	tu_read(b1->grad, got);
	tu_assert_close(got, want, 5, 1e-5, 1e-5, "db1");
	free(vx);
	free(vw1);
	free(vb1);
	free(vw2);
	ax_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matmul_forward_matches_naive),
		cmocka_unit_test(test_matmul_hand_values),
		cmocka_unit_test(test_matmul_empty),
		cmocka_unit_test(test_matmul_transposed_not_copied),
		cmocka_unit_test(test_matmul_gradcheck),
		cmocka_unit_test(test_matmul_gradcheck_partial_and_shared),
		cmocka_unit_test(test_bmm),
		cmocka_unit_test(test_matmul_errors),
		cmocka_unit_test(test_linear_forward_matches_naive),
		cmocka_unit_test(test_linear_gradcheck),
		cmocka_unit_test(test_linear_gradcheck_frozen_input),
		cmocka_unit_test(test_linear_errors),
		cmocka_unit_test(test_linear_chain_gradients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
