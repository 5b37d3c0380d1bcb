/* test_model.c - whole-model gradient checks.
 *
 * For a small MLP the analytic gradient g = dL/dtheta over the whole flat
 * parameter vector is compared with a numeric directional derivative:
 * for a random unit direction d,
 *     (L(theta + h d) - L(theta - h d)) / (2h)  ~=  <g, d>.
 * One number per direction tests every parameter's gradient at once, weighted
 * by a random amount, through the real training graph (linear, activation,
 * dropout with a fixed mask, cross-entropy with label smoothing / MSE).
 * Tolerance: |numeric - analytic| <= 1e-4 + 2e-3 |analytic|, with h = 1e-2 on
 * a unit-norm d. Smooth activations (GELU, tanh) keep h d from crossing kinks;
 * the loss is f32, so its rounding (~1e-7) divided by 2h is ~1e-5. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "tiny_mlp.h"

enum loss_kind { LOSS_CE, LOSS_MSE };

struct setup {
	struct tmlp m;
	struct ax_ctx *ctx;
	float x[16 * 10];
	int32_t labels[16];
	float targets[16 * 5];
	int64_t batch;
	enum loss_kind loss;
	struct ax_rng rng_start;
};

static enum ax_status loss_of(struct setup *s, int record, float *value)
{
	const int64_t xs[2] = {s->batch, 10}, ts[2] = {s->batch, 5};
	const struct ax_ce_options ce = {0.1f, 3};
	struct ax_tensor *x, *logits, *loss, *target;
	enum ax_status st;

	ax_ctx_reset(s->ctx);
	*ax_ctx_rng(s->ctx) = s->rng_start; /* the same dropout mask every time */
	ax_ctx_set_grad_enabled(s->ctx, record);
	st = ax_tensor_wrap(s->ctx, AX_F32, 2, xs, s->x, &x);
	if (!st)
		st = tmlp_forward(&s->m, s->ctx, x, &logits);
	if (!st && s->loss == LOSS_CE) {
		struct ax_tensor *y;

		st = ax_tensor_wrap(s->ctx, AX_I32, 1, &s->batch, s->labels, &y);
		if (!st)
			st = ax_cross_entropy(s->ctx, logits, y, &ce, &loss);
	} else if (!st) {
		st = ax_tensor_wrap(s->ctx, AX_F32, 2, ts, s->targets, &target);
		if (!st)
			st = ax_mse(s->ctx, logits, target, &loss);
	}
	if (!st && record)
		st = ax_backward(s->ctx, loss);
	if (!st)
		*value = *(float *)loss->data;
	return st;
}

static void check_model(enum tmlp_act act, float dropout, enum loss_kind kind, uint64_t seed)
{
	const int64_t sizes[] = {10, 12, 8, 5};
	struct setup s;
	struct ax_rng rng;
	int64_t size;
	float *theta, *grad, *dir, lp, lm, l0;

	memset(&s, 0, sizeof(s));
	s.batch = 16;
	s.loss = kind;
	ax_rng_init(&rng, seed);
	ax_rng_uniform(&rng, s.x, 16 * 10, -1.0f, 1.0f);
	ax_rng_uniform(&rng, s.targets, 16 * 5, -1.0f, 1.0f);
	for (int i = 0; i < 16; i++)
		s.labels[i] = i % 5; /* label 3 is ignore_index: some rows are skipped */
	TU_OK(tmlp_create(&s.m, 3, sizes, act, dropout, seed));
	s.ctx = tu_ctx(seed);
	s.rng_start = *ax_ctx_rng(s.ctx);
	size = ax_params_size(s.m.params);
	theta = ax_params_data(s.m.params);
	grad = test_malloc((size_t)size * sizeof(float));
	dir = test_malloc((size_t)size * sizeof(float));

	TU_OK(ax_params_zero_grad(s.m.params));
	TU_OK(loss_of(&s, 1, &l0));
	memcpy(grad, ax_params_grad(s.m.params), (size_t)size * sizeof(float));
	for (int trial = 0; trial < 4; trial++) {
		double norm = 0, analytic = 0, numeric, h = 1e-2;
		float *saved = test_malloc((size_t)size * sizeof(float));

		ax_rng_normal(&rng, dir, size, 0.0f, 1.0f);
		for (int64_t i = 0; i < size; i++)
			norm += (double)dir[i] * dir[i];
		norm = sqrt(norm);
		for (int64_t i = 0; i < size; i++) {
			dir[i] = (float)(dir[i] / norm);
			analytic += (double)grad[i] * dir[i];
		}
		memcpy(saved, theta, (size_t)size * sizeof(float));
		for (int64_t i = 0; i < size; i++)
			theta[i] = saved[i] + (float)h * dir[i];
		TU_OK(loss_of(&s, 0, &lp));
		for (int64_t i = 0; i < size; i++)
			theta[i] = saved[i] - (float)h * dir[i];
		TU_OK(loss_of(&s, 0, &lm));
		memcpy(theta, saved, (size_t)size * sizeof(float));
		test_free(saved);
		numeric = ((double)lp - (double)lm) / (2 * h);
		if (!(fabs(numeric - analytic) <= 1e-4 + 2e-3 * fabs(analytic)))
			fail_msg("direction %d: analytic %.7g, numeric %.7g (loss %.6g)", trial, analytic,
				 numeric, l0);
	}
	test_free(grad);
	test_free(dir);
	ax_ctx_destroy(s.ctx);
	tmlp_destroy(&s.m);
}

static void test_gelu_mlp_cross_entropy_dropout(void **state)
{
	(void)state;
	check_model(TMLP_GELU, 0.3f, LOSS_CE, 11);
}

static void test_tanh_mlp_mse(void **state)
{
	(void)state;
	check_model(TMLP_TANH, 0.0f, LOSS_MSE, 12);
}

/* With the gradient deliberately wrong in one parameter, the check must fail:
 * flip the sign of fc2.bias's gradient and compare along fc2.bias alone. */
static void test_check_detects_wrong_gradient(void **state)
{
	const int64_t sizes[] = {10, 12, 8, 5};
	struct setup s;
	struct ax_tensor *b2;
	float l0, lp, lm, *g;
	double analytic = 0, numeric, h = 1e-2;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.batch = 16;
	s.loss = LOSS_CE;
	for (int i = 0; i < 160; i++)
		s.x[i] = sinf((float)i);
	for (int i = 0; i < 16; i++)
		s.labels[i] = i % 5;
	TU_OK(tmlp_create(&s.m, 3, sizes, TMLP_TANH, 0.0f, 5));
	s.ctx = tu_ctx(5);
	s.rng_start = *ax_ctx_rng(s.ctx);
	TU_OK(ax_params_zero_grad(s.m.params));
	TU_OK(loss_of(&s, 1, &l0));
	b2 = ax_params_find(s.m.params, "fc2.bias");
	g = b2->grad->data;
	for (int i = 0; i < 8; i++)
		analytic -= g[i] / sqrt(8.0); /* the corrupted (negated) gradient along d */
	for (int i = 0; i < 8; i++)
		((float *)b2->data)[i] += (float)(h / sqrt(8.0));
	TU_OK(loss_of(&s, 0, &lp));
	for (int i = 0; i < 8; i++)
		((float *)b2->data)[i] -= (float)(2 * h / sqrt(8.0));
	TU_OK(loss_of(&s, 0, &lm));
	numeric = ((double)lp - (double)lm) / (2 * h);
	assert_true(fabs(numeric) > 1e-3);
	assert_false(fabs(numeric - analytic) <= 1e-4 + 2e-3 * fabs(analytic));
	ax_ctx_destroy(s.ctx);
	tmlp_destroy(&s.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gelu_mlp_cross_entropy_dropout),
		cmocka_unit_test(test_tanh_mlp_mse),
		cmocka_unit_test(test_check_detects_wrong_gradient),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
