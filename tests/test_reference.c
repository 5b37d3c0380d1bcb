/* test_reference.c - forward values of the MLP building blocks against
 * references computed independently in float64 by NumPy
 * (tests/fixtures/make_reference.py -> tests/fixtures/reference.h).
 *
 * Tolerance: axon computes in f32, so each value may differ from the float64
 * reference by a few ulps of the magnitudes summed to make it: we allow
 * 1e-5 absolute + 1e-5 relative (about 100 ulps at 1.0), which still catches
 * any formula error (a wrong constant in GELU's tanh form changes values
 * by > 1e-3). */
#include "testutil.h"

#include <math.h>

#include "fixtures/reference.h"

#define ATOL 1e-5
#define RTOL 1e-5

struct fixture {
	struct ax_ctx *ctx;
	struct ax_tensor *x, *w1, *b1, *w2, *b2, *gamma, *beta, *labels, *target;
};

static int setup(void **state)
{
	static struct fixture f;
	const int64_t xs[2] = {REF_B, REF_D}, w1s[2] = {REF_H, REF_D}, b1s[1] = {REF_H};
	const int64_t w2s[2] = {REF_C, REF_H}, b2s[1] = {REF_C}, ds[1] = {REF_D};
	const int64_t ls[1] = {REF_B}, ts[2] = {REF_B, REF_C};

	f.ctx = tu_ctx(1);
	ax_ctx_set_grad_enabled(f.ctx, 0);
	f.x = tu_tensor(f.ctx, AX_F32, 2, xs, ref_x);
	f.w1 = tu_tensor(f.ctx, AX_F32, 2, w1s, ref_w1);
	f.b1 = tu_tensor(f.ctx, AX_F32, 1, b1s, ref_b1);
	f.w2 = tu_tensor(f.ctx, AX_F32, 2, w2s, ref_w2);
	f.b2 = tu_tensor(f.ctx, AX_F32, 1, b2s, ref_b2);
	f.gamma = tu_tensor(f.ctx, AX_F32, 1, ds, ref_gamma);
	f.beta = tu_tensor(f.ctx, AX_F32, 1, ds, ref_beta);
	f.labels = tu_tensor(f.ctx, AX_I32, 1, ls, ref_labels);
	f.target = tu_tensor(f.ctx, AX_F32, 2, ts, ref_target);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ax_ctx_destroy(f->ctx);
	return 0;
}

static void check(const struct ax_tensor *t, const float *want, const char *what)
{
	int64_t n = ax_tensor_numel(t);
	float *got = test_malloc((size_t)n * sizeof(float));

	tu_read(t, got);
	tu_assert_close(got, want, n, ATOL, RTOL, what);
	test_free(got);
}

static struct ax_tensor *linear1(struct fixture *f)
{
	struct ax_tensor *h;

	TU_OK(ax_linear(f->ctx, f->x, f->w1, f->b1, &h));
	return h;
}

static void test_linear_and_activations(void **state)
{
	struct fixture *f = *state;
	struct ax_tensor *h = linear1(f), *y;

	check(h, ref_linear1, "linear");
	TU_OK(ax_relu(f->ctx, h, &y));
	check(y, ref_relu, "relu");
	TU_OK(ax_leaky_relu(f->ctx, h, 0.01f, &y));
	check(y, ref_leaky_relu, "leaky_relu");
	TU_OK(ax_gelu(f->ctx, h, AX_GELU_ERF, &y));
	check(y, ref_gelu_erf, "gelu (erf)");
	TU_OK(ax_gelu(f->ctx, h, AX_GELU_TANH, &y));
	check(y, ref_gelu_tanh, "gelu (tanh)");
	TU_OK(ax_sigmoid(f->ctx, h, &y));
	check(y, ref_sigmoid, "sigmoid");
	TU_OK(ax_tanh(f->ctx, h, &y));
	check(y, ref_tanh, "tanh");
}

/* The same linear layer through matmul + add, the unfused path. */
static void test_matmul_add_matches_linear(void **state)
{
	struct fixture *f = *state;
	struct ax_tensor *wt, *prod, *h;

	TU_OK(ax_transpose(f->ctx, f->w1, 0, 1, &wt));
	TU_OK(ax_matmul(f->ctx, f->x, wt, &prod));
	TU_OK(ax_add(f->ctx, prod, f->b1, &h));
	check(h, ref_linear1, "matmul + add");
}

static struct ax_tensor *logits(struct fixture *f)
{
	struct ax_tensor *h = linear1(f), *out;

	TU_OK(ax_relu(f->ctx, h, &h));
	TU_OK(ax_linear(f->ctx, h, f->w2, f->b2, &out));
	return out;
}

static void test_mlp_head_and_losses(void **state)
{
	struct fixture *f = *state;
	struct ax_tensor *z = logits(f), *y, *loss;
	struct ax_ce_options smooth = {0.1f, -100}, ignore3 = {0.0f, 3};

	check(z, ref_logits, "MLP logits");
	TU_OK(ax_softmax(f->ctx, z, -1, &y));
	check(y, ref_softmax, "softmax");
	TU_OK(ax_log_softmax(f->ctx, z, 1, &y));
	check(y, ref_log_softmax, "log_softmax");
	TU_OK(ax_cross_entropy(f->ctx, z, f->labels, NULL, &loss));
	assert_int_equal(loss->ndim, 0);
	assert_true(fabs(*(float *)loss->data - ref_ce) < ATOL + RTOL * ref_ce);
	TU_OK(ax_cross_entropy(f->ctx, z, f->labels, &smooth, &loss));
	assert_true(fabs(*(float *)loss->data - ref_ce_smooth) < ATOL + RTOL * ref_ce_smooth);
	TU_OK(ax_cross_entropy(f->ctx, z, f->labels, &ignore3, &loss));
	assert_true(fabs(*(float *)loss->data - ref_ce_ignore3) < ATOL + RTOL * ref_ce_ignore3);
	TU_OK(ax_mse(f->ctx, z, f->target, &loss));
	assert_true(fabs(*(float *)loss->data - ref_mse) < ATOL + RTOL * ref_mse);
}

static void test_layer_norm(void **state)
{
	struct fixture *f = *state;
	struct ax_tensor *y;

	TU_OK(ax_layer_norm(f->ctx, f->x, f->gamma, f->beta, 1e-5f, &y));
	check(y, ref_layer_norm, "layer_norm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear_and_activations),
		cmocka_unit_test(test_matmul_add_matches_linear),
		cmocka_unit_test(test_mlp_head_and_losses),
		cmocka_unit_test(test_layer_norm),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
