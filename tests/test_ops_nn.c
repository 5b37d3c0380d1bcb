/* test_ops_nn.c - softmax, log_softmax, dropout, embedding, layer_norm (the
 * losses are in test_ops_nn_loss.c).
 *
 * Forward values are compared with references computed here in double
 * (softmax of +-1000 logits, layer norm of rows with a large mean); every op's
 * gradient is finite-difference checked on contiguous, transposed and strided
 * inputs; dropout's statistics, scaling and reproducibility are checked on a
 * large tensor; errors are checked for status and message. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "gradcheck.h"

static const enum gc_layout layouts[3] = {GC_CONTIGUOUS, GC_TRANSPOSED, GC_STRIDED};

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

/* ---- softmax, log_softmax ---- */

/* Softmax (or log-softmax) in double of x viewed as (outer, len, inner) along
 * the middle axis, into want (float). */
static void ref_softmax(const float *x, float *want, int outer, int len, int inner, int take_log)
{
	for (int o = 0; o < outer; o++) {
		for (int j = 0; j < inner; j++) {
			const float *xr = x + o * len * inner + j;
			float *wr = want + o * len * inner + j;
			double max = xr[0], sum = 0.0;

			for (int a = 1; a < len; a++)
				max = fmax(max, xr[a * inner]);
			for (int a = 0; a < len; a++)
				sum += exp((double)xr[a * inner] - max);
			for (int a = 0; a < len; a++) {
				double z = (double)xr[a * inner] - max;

				wr[a * inner] = (float)(take_log ? z - log(sum) : exp(z) / sum);
			}
		}
	}
}

static void assert_all_finite(const float *v, int64_t n, const char *what)
{
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			fail_msg("%s: element %lld is %g", what, (long long)i, v[i]);
	}
}

/* Logits of +-1000: exp would overflow (or underflow everything to 0)
 * without the max subtraction. */
static void test_softmax_large_logits(void **state)
{
	const float x[5 * 4] = {
		1000.0f, 999.0f, 998.0f, 0.0f,
		-1000.0f, -1001.0f, -1002.0f, -1003.0f,
		1000.0f, 1000.0f, 1000.0f, 1000.0f,
		-1000.0f, 0.0f, 1000.0f, 500.0f,
		-1000.0f, -1000.0f, -1000.0f, -1000.0f,
	};
	const int64_t shape[2] = {5, 4};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *t = tu_tensor(ctx, AX_F32, 2, shape, x), *y;
	float want[20];

	(void)state;
	for (int take_log = 0; take_log < 2; take_log++) {
		const char *what = take_log ? "log_softmax" : "softmax";

		/* Along the rows (inner == 1). */
		ref_softmax(x, want, 5, 4, 1, take_log);
		TU_OK(take_log ? ax_log_softmax(ctx, t, -1, &y) : ax_softmax(ctx, t, 1, &y));
		assert_all_finite(ax_tensor_f32(y), 20, what);
		tu_assert_close(ax_tensor_f32(y), want, 20, 1e-7, 1e-6, what);
		/* Down the columns (inner == 4). */
		ref_softmax(x, want, 1, 5, 4, take_log);
		TU_OK(take_log ? ax_log_softmax(ctx, t, 0, &y) : ax_softmax(ctx, t, -2, &y));
		assert_all_finite(ax_tensor_f32(y), 20, what);
		tu_assert_close(ax_tensor_f32(y), want, 20, 1e-7, 1e-6, what);
	}
	/* Spot values: a uniform row, and log p of the -1000 entry of row 3. */
	TU_OK(ax_softmax(ctx, t, -1, &y));
	assert_true(fabsf(ax_tensor_f32(y)[8] - 0.25f) < 1e-7f);
	TU_OK(ax_log_softmax(ctx, t, -1, &y));
	assert_true(fabsf(ax_tensor_f32(y)[12] + 2000.0f) < 1e-3f);
	ax_ctx_destroy(ctx);
}

/* A 3-D input on each of its axes, and a transposed view, against the reference. */
static void test_softmax_axes(void **state)
{
	const int64_t shape[3] = {3, 4, 5};
	struct ax_ctx *ctx = tu_ctx(1);
	float x[60], want[60], got[60];
	struct ax_tensor *t, *tt, *y;
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 9);
	ax_rng_uniform(&rng, x, 60, -5.0f, 5.0f);
	t = tu_tensor(ctx, AX_F32, 3, shape, x);
	for (int take_log = 0; take_log < 2; take_log++) {
		for (int axis = 0; axis < 3; axis++) {
			int outer = 1, inner = 1;

			for (int d = 0; d < axis; d++)
				outer *= (int)shape[d];
			for (int d = axis + 1; d < 3; d++)
				inner *= (int)shape[d];
			ref_softmax(x, want, outer, (int)shape[axis], inner, take_log);
			TU_OK(take_log ? ax_log_softmax(ctx, t, axis - 3, &y)
				       : ax_softmax(ctx, t, axis, &y));
			tu_assert_close(ax_tensor_f32(y), want, 60, 1e-7, 1e-5, "softmax axis");
		}
	}
	/* A (5, 4, 3)-shaped transposed view of the same memory, along its last
	 * axis, is the (3, 4, 5) softmax along axis 0 read back transposed. */
	tt = tu_tensor(ctx, AX_F32, 3, shape, x);
	tt->shape[0] = 5;
	tt->shape[2] = 3;
	tt->stride[0] = 1;
	tt->stride[2] = 20;
	ref_softmax(x, want, 1, 3, 20, 0);
	TU_OK(ax_softmax(ctx, tt, -1, &y));
	assert_true(ax_tensor_is_contiguous(y));
	tu_read(y, got);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			for (int k = 0; k < 3; k++)
				assert_true(fabsf(got[i * 12 + j * 3 + k] - want[k * 20 + j * 5 + i]) <
					    1e-6f);
	ax_ctx_destroy(ctx);
}

static void test_softmax_errors(void **state)
{
	const int64_t shape[2] = {2, 3};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, shape, NULL), *y = NULL;

	(void)state;
	expect_error(ax_softmax(ctx, x, 2, &y), AX_ERR_INVALID, "softmax", "axis 2", "[2, 3]",
		     NULL);
	expect_error(ax_log_softmax(ctx, x, -3, &y), AX_ERR_INVALID, "log_softmax", "-3", NULL);
	expect_error(ax_softmax(ctx, tu_tensor(ctx, AX_I32, 2, shape, NULL), 0, &y),
		     AX_ERR_DTYPE, "softmax", "i32", NULL);
	expect_error(ax_softmax(ctx, NULL, 0, &y), AX_ERR_INVALID, "softmax", NULL);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

struct softmax_arg {
	int axis, take_log;
};

static enum ax_status build_softmax(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				    struct ax_tensor **out)
{
	const struct softmax_arg *a = arg;

	return a->take_log ? ax_log_softmax(ctx, in[0], a->axis, out)
			   : ax_softmax(ctx, in[0], a->axis, out);
}

/* softmax feeding mse against its own input: x reaches the loss by two paths,
 * so its gradient must be the sum of both. */
static enum ax_status build_softmax_twice(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
					  struct ax_tensor **out)
{
	struct ax_tensor *y;
	enum ax_status st = ax_softmax(ctx, in[0], -1, &y);

	(void)arg;
	return st ? st : ax_mse(ctx, y, in[0], out);
}

static void test_softmax_gradcheck(void **state)
{
	(void)state;
	for (int take_log = 0; take_log < 2; take_log++) {
		for (int l = 0; l < 3; l++) {
			struct gc_input m = {.ndim = 2, .shape = {5, 7}, .dtype = AX_F32,
					     .layout = layouts[l], .lo = -3.0f, .hi = 3.0f};
			struct gc_input c = {.ndim = 3, .shape = {3, 4, 5}, .dtype = AX_F32,
					     .layout = layouts[l], .lo = -3.0f, .hi = 3.0f};

			for (int axis = -2; axis < 2; axis++) {
				struct softmax_arg a = {axis, take_log};

				assert_int_equal(gc_check("softmax 2-d", 1, &m, build_softmax, &a,
							  NULL), 0);
			}
			for (int axis = 0; axis < 3; axis++) {
				struct softmax_arg a = {axis, take_log};

				assert_int_equal(gc_check("softmax 3-d", 1, &c, build_softmax, &a,
							  NULL), 0);
			}
		}
		{
			struct gc_input v = {.ndim = 1, .shape = {11}, .dtype = AX_F32,
					     .layout = GC_STRIDED, .lo = -2.0f, .hi = 2.0f};
			struct softmax_arg a = {0, take_log};

			assert_int_equal(gc_check("softmax 1-d", 1, &v, build_softmax, &a, NULL), 0);
		}
	}
	{
		struct gc_input m = {.ndim = 2, .shape = {4, 6}, .dtype = AX_F32,
				     .layout = GC_TRANSPOSED};

		assert_int_equal(gc_check("softmax twice", 1, &m, build_softmax_twice, NULL, NULL),
				 0);
	}
}

/* ---- dropout ---- */

static void test_dropout_modes_and_errors(void **state)
{
	const int64_t shape[2] = {3, 4};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, shape, NULL), *y = NULL;
	struct ax_rng before = *ax_ctx_rng(ctx);

	(void)state;
	/* Evaluation mode, or p == 0: x itself, and the RNG is not touched. */
	ax_ctx_set_training(ctx, 0);
	TU_OK(ax_dropout(ctx, x, 0.5f, &y));
	assert_ptr_equal(y, x);
	ax_ctx_set_training(ctx, 1);
	y = NULL;
	TU_OK(ax_dropout(ctx, x, 0.0f, &y));
	assert_ptr_equal(y, x);
	assert_memory_equal(&before, ax_ctx_rng(ctx), sizeof(before));
	/* Training with p > 0: a new tensor. */
	TU_OK(ax_dropout(ctx, x, 0.5f, &y));
	assert_ptr_not_equal(y, x);
	y = NULL;
	expect_error(ax_dropout(ctx, x, 1.0f, &y), AX_ERR_INVALID, "dropout", "p", NULL);
	expect_error(ax_dropout(ctx, x, -0.1f, &y), AX_ERR_INVALID, "dropout", NULL);
	expect_error(ax_dropout(ctx, x, NAN, &y), AX_ERR_INVALID, "dropout", NULL);
	ax_ctx_set_training(ctx, 0);
	expect_error(ax_dropout(ctx, x, 1.5f, &y), AX_ERR_INVALID, "dropout", NULL);
	expect_error(ax_dropout(ctx, tu_tensor(ctx, AX_I32, 2, shape, NULL), 0.5f, &y),
		     AX_ERR_DTYPE, "dropout", "i32", NULL);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

static void test_dropout_statistics(void **state)
{
	enum { N = 200000 };
	const int64_t shape[2] = {400, 500};
	const float p = 0.3f;
	struct ax_ctx *ctx = tu_ctx(77);
	struct ax_tensor *x, *y1, *y2, *y3, *ones;
	struct ax_rng saved;
	static float values[N];
	int64_t zeros = 0, differ = 0;

	(void)state;
	ax_rng_init(&saved, 1);
	ax_rng_uniform(&saved, values, N, 0.5f, 1.5f); /* never 0, so 0 means dropped */
	x = tu_tensor(ctx, AX_F32, 2, shape, values);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	saved = *ax_ctx_rng(ctx);
	TU_OK(ax_dropout(ctx, x, p, &y1));
	for (int64_t i = 0; i < N; i++) {
		float got = ax_tensor_f32(y1)[i];
		double kept = (double)values[i] / (1.0 - p);

		if (got == 0.0f)
			zeros++;
		else if (fabs(got - kept) > 1e-6 * kept)
			fail_msg("element %lld: %g, expected x/(1-p) = %g", (long long)i, got, kept);
	}
	/* Binomial: the standard deviation of the fraction is ~0.001. */
	assert_true(fabs((double)zeros / N - p) < 0.006);
	/* The same RNG state gives the same mask; the advanced state another one. */
	*ax_ctx_rng(ctx) = saved;
	TU_OK(ax_dropout(ctx, x, p, &y2));
	assert_memory_equal(ax_tensor_f32(y1), ax_tensor_f32(y2), N * sizeof(float));
	TU_OK(ax_dropout(ctx, x, p, &y3));
	for (int64_t i = 0; i < N; i++)
		differ += (ax_tensor_f32(y1)[i] == 0.0f) != (ax_tensor_f32(y3)[i] == 0.0f);
	assert_true(differ > N / 10);
	/* Backward through y3 with a seed of ones: 1/(1-p) where kept, 0 where dropped. */
	ones = tu_tensor(ctx, AX_F32, 2, shape, NULL);
	for (int64_t i = 0; i < N; i++)
		ax_tensor_f32(ones)[i] = 1.0f;
	TU_OK(ax_backward_with(ctx, y3, ones));
	for (int64_t i = 0; i < N; i++) {
		float want = ax_tensor_f32(y3)[i] == 0.0f ? 0.0f : 1.0f / (1.0f - p);

		if (ax_tensor_f32(x->grad)[i] != want)
			fail_msg("dx[%lld] = %g, expected %g", (long long)i,
				 ax_tensor_f32(x->grad)[i], want);
	}
	ax_ctx_destroy(ctx);
}

/* The mask is word for word the one ax_rng_u32 defines (element kept when
 * ax_u32_to_unit(w_i) >= p), and the context RNG advances as ax_rng_u32 would
 * advance it, for sizes that do and do not fill whole blocks and chunks. */
static void test_dropout_matches_rng_u32(void **state)
{
	static const int64_t sizes[] = {1, 3, 4, 63, 64, 65, 1001, 4099};
	static float ones[4099];
	static uint32_t words[4099];
	const float p = 0.37f;
	struct ax_ctx *ctx = tu_ctx(0x123456789abcULL);

	(void)state;
	for (int i = 0; i < 4099; i++)
		ones[i] = 1.0f;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct ax_rng expect = *ax_ctx_rng(ctx);
		struct ax_tensor *x, *y;

		TU_OK(ax_tensor_wrap(ctx, AX_F32, 1, &sizes[k], ones, &x));
		TU_OK(ax_dropout(ctx, x, p, &y));
		ax_rng_u32(&expect, words, sizes[k]);
		assert_memory_equal(&expect, ax_ctx_rng(ctx), sizeof(expect));
		for (int64_t i = 0; i < sizes[k]; i++) {
			int kept = ax_tensor_f32(y)[i] != 0.0f;

			if (kept != (ax_u32_to_unit(words[i]) >= p))
				fail_msg("size %lld element %lld: kept %d, word %u", (long long)sizes[k],
					 (long long)i, kept, words[i]);
		}
	}
	ax_ctx_destroy(ctx);
}

struct dropout_arg {
	float p;
};

static enum ax_status build_dropout(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				    struct ax_tensor **out)
{
	const struct dropout_arg *a = arg;

	return ax_dropout(ctx, in[0], a->p, out);
}

/* gradcheck restores the context RNG before every forward pass, so the mask
 * is the same in the analytic and every numeric pass (training mode). */
static void test_dropout_gradcheck(void **state)
{
	struct dropout_arg half = {0.5f}, small = {0.1f};

	(void)state;
	for (int l = 0; l < 3; l++) {
		struct gc_input m = {.ndim = 2, .shape = {6, 8}, .dtype = AX_F32, .layout = layouts[l]};
		struct gc_input c = {.ndim = 3, .shape = {2, 3, 5}, .dtype = AX_F32,
				     .layout = layouts[l]};

		assert_int_equal(gc_check("dropout 0.5", 1, &m, build_dropout, &half, NULL), 0);
		assert_int_equal(gc_check("dropout 0.1", 1, &c, build_dropout, &small, NULL), 0);
	}
}

/* ---- embedding ---- */

static void test_embedding_forward_and_grad(void **state)
{
	const int64_t ws[2] = {4, 3}, is[2] = {2, 3};
	const float w[12] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
	const int32_t idx[6] = {3, 0, 3, 1, 1, 3};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *weight = tu_tensor(ctx, AX_F32, 2, ws, w), *out, *seed;
	float want[18], dwant[12] = {0};

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(weight, 1));
	TU_OK(ax_embedding(ctx, weight, tu_tensor(ctx, AX_I32, 2, is, idx), &out));
	assert_int_equal(out->ndim, 3);
	assert_int_equal(out->shape[0], 2);
	assert_int_equal(out->shape[1], 3);
	assert_int_equal(out->shape[2], 3);
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 3; j++)
			want[i * 3 + j] = w[idx[i] * 3 + j];
	tu_assert_close(ax_tensor_f32(out), want, 18, 0, 0, "embedding rows");
	/* Seed the output with g[i][j] = i + 1: row r of dweight gets the sum of
	 * (i + 1) over positions i holding r (rows 3 and 1 repeat). */
	seed = tu_tensor(ctx, AX_F32, 3, out->shape, NULL);
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 3; j++) {
			ax_tensor_f32(seed)[i * 3 + j] = (float)(i + 1);
			dwant[idx[i] * 3 + j] += (float)(i + 1);
		}
	TU_OK(ax_backward_with(ctx, out, seed));
	tu_assert_close(ax_tensor_f32(weight->grad), dwant, 12, 0, 0, "dweight scatter-add");
	ax_ctx_destroy(ctx);
}

static void test_embedding_errors(void **state)
{
	const int64_t ws[2] = {4, 3}, is[2] = {2, 3}, w1[1] = {4};
	const int32_t high[6] = {0, 1, 2, 3, 0, 4}, low[6] = {0, -1, 0, 0, 0, 0};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *weight = tu_tensor(ctx, AX_F32, 2, ws, NULL), *out = NULL;

	(void)state;
	expect_error(ax_embedding(ctx, weight, tu_tensor(ctx, AX_I32, 2, is, high), &out),
		     AX_ERR_RANGE, "embedding", "[1, 2]", "is 4", "[0, 4)", NULL);
	expect_error(ax_embedding(ctx, weight, tu_tensor(ctx, AX_I32, 2, is, low), &out),
		     AX_ERR_RANGE, "embedding", "[0, 1]", "-1", NULL);
	expect_error(ax_embedding(ctx, weight, tu_tensor(ctx, AX_F32, 2, is, NULL), &out),
		     AX_ERR_DTYPE, "embedding", "indices", "i32", NULL);
	expect_error(ax_embedding(ctx, tu_tensor(ctx, AX_F32, 1, w1, NULL),
				  tu_tensor(ctx, AX_I32, 2, is, NULL), &out),
		     AX_ERR_SHAPE, "embedding", "[4]", NULL);
	assert_null(out);
	ax_ctx_destroy(ctx);
}

static enum ax_status build_embedding(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				      struct ax_tensor **out)
{
	(void)arg;
	return ax_embedding(ctx, in[0], in[1], out);
}

static void test_embedding_gradcheck(void **state)
{
	/* Repeated indices: row 4 three times, rows 0 and 2 twice; row 3 never. */
	static const int32_t idx[12] = {4, 0, 2, 4, 1, 0, 2, 4, 5, 1, 1, 0};

	(void)state;
	for (int l = 0; l < 3; l++) {
		struct gc_input in[2] = {
			{.ndim = 2, .shape = {6, 5}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 2, .shape = {3, 4}, .dtype = AX_I32, .layout = layouts[2 - l],
			 .values = idx},
		};
		struct gc_input flat[2] = {
			{.ndim = 2, .shape = {6, 5}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 1, .shape = {12}, .dtype = AX_I32, .values = idx},
		};

		assert_int_equal(gc_check("embedding 2-d idx", 2, in, build_embedding, NULL, NULL),
				 0);
		assert_int_equal(gc_check("embedding 1-d idx", 2, flat, build_embedding, NULL, NULL),
				 0);
	}
}

/* ---- layer_norm ---- */

static void ref_layer_norm(const float *x, const float *gamma, const float *beta, int rows,
			   int dim, double eps, float *want)
{
	for (int r = 0; r < rows; r++) {
		const float *xr = x + r * dim;
		double mean = 0.0, var = 0.0;

		for (int j = 0; j < dim; j++)
			mean += xr[j];
		mean /= dim;
		for (int j = 0; j < dim; j++)
			var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
		var /= dim;
		for (int j = 0; j < dim; j++) {
			double v = ((double)xr[j] - mean) / sqrt(var + eps);

			want[r * dim + j] = (float)(v * (gamma ? gamma[j] : 1.0) + (beta ? beta[j] : 0.0));
		}
	}
}

static void test_layer_norm_forward(void **state)
{
	enum { ROWS = 6, D = 7 };
	const int64_t shape[3] = {2, 3, D}, ps[1] = {D};
	struct ax_ctx *ctx = tu_ctx(1);
	float x[ROWS * D], gamma[D], beta[D], want[ROWS * D];
	struct ax_tensor *xt, *gt, *bt, *y;
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 21);
	ax_rng_uniform(&rng, x, ROWS * D, -2.0f, 2.0f);
	ax_rng_uniform(&rng, gamma, D, 0.5f, 1.5f);
	ax_rng_uniform(&rng, beta, D, -1.0f, 1.0f);
	/* Row 1 sits at 1e4 with a spread of ~1: E[x^2] - E[x]^2 in float would
	 * lose every digit of its variance. Row 2 is constant: xhat = 0. */
	for (int j = 0; j < D; j++) {
		x[D + j] = 10000.0f + (float)j * 0.5f;
		x[2 * D + j] = 3.0f;
	}
	xt = tu_tensor(ctx, AX_F32, 3, shape, x);
	gt = tu_tensor(ctx, AX_F32, 1, ps, gamma);
	bt = tu_tensor(ctx, AX_F32, 1, ps, beta);
	ref_layer_norm(x, gamma, beta, ROWS, D, 1e-5, want);
	TU_OK(ax_layer_norm(ctx, xt, gt, bt, 1e-5f, &y));
	assert_int_equal(y->ndim, 3);
	tu_assert_close(ax_tensor_f32(y), want, ROWS * D, 2e-6, 2e-6, "layer_norm");
	for (int j = 0; j < D; j++)
		assert_true(fabsf(ax_tensor_f32(y)[2 * D + j] - beta[j]) < 1e-6f);
	ref_layer_norm(x, NULL, NULL, ROWS, D, 0.1, want);
	TU_OK(ax_layer_norm(ctx, xt, NULL, NULL, 0.1f, &y));
	tu_assert_close(ax_tensor_f32(y), want, ROWS * D, 2e-6, 2e-6, "layer_norm, no affine");
	ax_ctx_destroy(ctx);
}

static void test_layer_norm_errors(void **state)
{
	const int64_t shape[2] = {3, 7}, p6[1] = {6}, p17[2] = {1, 7};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, shape, NULL), *y = NULL;

	(void)state;
	expect_error(ax_layer_norm(ctx, x, tu_tensor(ctx, AX_F32, 1, p6, NULL), NULL, 1e-5f, &y),
		     AX_ERR_SHAPE, "layer_norm", "gamma", "[3, 7]", "[6]", NULL);
	expect_error(ax_layer_norm(ctx, x, NULL, tu_tensor(ctx, AX_F32, 2, p17, NULL), 1e-5f, &y),
		     AX_ERR_SHAPE, "layer_norm", "beta", "[3, 7]", "[1, 7]", NULL);
	expect_error(ax_layer_norm(ctx, x, tu_tensor(ctx, AX_I32, 1, p6, NULL), NULL, 1e-5f, &y),
		     AX_ERR_DTYPE, "layer_norm", "gamma", NULL);
	expect_error(ax_layer_norm(ctx, x, NULL, NULL, -1.0f, &y), AX_ERR_INVALID, "layer_norm",
		     "eps", NULL);
	assert_null(y);
	ax_ctx_destroy(ctx);
}

struct ln_arg {
	int has_gamma, has_beta;
	float eps;
};

static enum ax_status build_layer_norm(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				       struct ax_tensor **out)
{
	const struct ln_arg *a = arg;
	struct ax_tensor *gamma = a->has_gamma ? in[1] : NULL;
	struct ax_tensor *beta = a->has_beta ? in[a->has_gamma ? 2 : 1] : NULL;

	return ax_layer_norm(ctx, in[0], gamma, beta, a->eps, out);
}

static void test_layer_norm_gradcheck(void **state)
{
	struct ln_arg full = {1, 1, 1e-5f}, bare = {0, 0, 1e-3f}, beta_only = {0, 1, 1e-5f};

	(void)state;
	for (int l = 0; l < 3; l++) {
		struct gc_input in[3] = {
			{.ndim = 3, .shape = {2, 3, 7}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 1, .shape = {7}, .dtype = AX_F32, .lo = 0.5f, .hi = 1.5f,
			 .layout = l == 2 ? GC_STRIDED : GC_CONTIGUOUS},
			{.ndim = 1, .shape = {7}, .dtype = AX_F32},
		};
		struct gc_input flat[2] = {
			{.ndim = 2, .shape = {4, 7}, .dtype = AX_F32, .layout = layouts[l]},
			{.ndim = 1, .shape = {7}, .dtype = AX_F32},
		};

		assert_int_equal(gc_check("layer_norm", 3, in, build_layer_norm, &full, NULL), 0);
		assert_int_equal(gc_check("layer_norm bare", 1, flat, build_layer_norm, &bare, NULL),
				 0);
		assert_int_equal(gc_check("layer_norm beta", 2, flat, build_layer_norm, &beta_only,
					  NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_softmax_large_logits),
		cmocka_unit_test(test_softmax_axes),
		cmocka_unit_test(test_softmax_errors),
		cmocka_unit_test(test_softmax_gradcheck),
		cmocka_unit_test(test_dropout_modes_and_errors),
		cmocka_unit_test(test_dropout_statistics),
		cmocka_unit_test(test_dropout_matches_rng_u32),
		cmocka_unit_test(test_dropout_gradcheck),
		cmocka_unit_test(test_embedding_forward_and_grad),
		cmocka_unit_test(test_embedding_errors),
		cmocka_unit_test(test_layer_norm_gradcheck),
		cmocka_unit_test(test_layer_norm_forward),
		cmocka_unit_test(test_layer_norm_errors),
		cmocka_unit_test(test_embedding_gradcheck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
