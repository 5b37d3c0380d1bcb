/* test_autograd.c - the tape: reuse, no-grad mode, misuse, the grad-ready
 * hook, frozen parameters and accumulation across micro-batches. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "tiny_mlp.h"

/* y = sum(x * x + x): x feeds three uses; dy/dx = 2x + 1. */
static void test_reuse_accumulates(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t shape[] = {2, 3};
	const float xv[] = {-1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 2.0f};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 2, shape, xv), *sq, *s, *loss;
	float g[6], want[6];

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_mul(ctx, x, x, &sq));
	TU_OK(ax_add(ctx, sq, x, &s));
	TU_OK(ax_sum(ctx, s, 0, NULL, 0, &loss));
	TU_OK(ax_backward(ctx, loss));
	tu_read(x->grad, g);
	for (int i = 0; i < 6; i++)
		want[i] = 2.0f * xv[i] + 1.0f;
	tu_assert_close(g, want, 6, 1e-6, 0, "d/dx sum(x*x + x)");
	ax_ctx_destroy(ctx);
}

static void test_no_grad_mode(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t shape[] = {4};
	const float xv[] = {1, 2, 3, 4};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 1, shape, xv), *y, *loss;
	struct ax_ctx_stats stats;

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	assert_int_equal(ax_ctx_set_grad_enabled(ctx, 0), 1);
	TU_OK(ax_tanh(ctx, x, &y));
	TU_OK(ax_sum(ctx, y, 0, NULL, 0, &loss));
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 0);
	assert_false(loss->flags & AX_TENSOR_REQUIRES_GRAD);
	assert_true(fabsf(*(float *)loss->data - (tanhf(1) + tanhf(2) + tanhf(3) + tanhf(4))) < 1e-6f);
	assert_int_equal(ax_backward(ctx, loss), AX_ERR_STATE);
	assert_non_null(strstr(ax_last_error(), "does not require a gradient"));
	/* Back on: the same ops record. */
	assert_int_equal(ax_ctx_set_grad_enabled(ctx, 1), 0);
	TU_OK(ax_tanh(ctx, x, &y));
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 1);
	ax_ctx_destroy(ctx);
}

static void test_misuse_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(1);
	const int64_t shape[] = {3};
	const float xv[] = {1, 2, 3};
	struct ax_tensor *x = tu_tensor(ctx, AX_F32, 1, shape, xv), *y, *loss;

	(void)state;
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_mul_scalar(ctx, x, 2.0f, &y));
	/* A loss must be a single element. */
	assert_int_equal(ax_backward(ctx, y), AX_ERR_SHAPE);
	assert_non_null(strstr(ax_last_error(), "[3]"));
	TU_OK(ax_sum(ctx, y, 0, NULL, 0, &loss));
	TU_OK(ax_backward(ctx, loss));
	/* Once per step. */
	assert_int_equal(ax_backward(ctx, loss), AX_ERR_STATE);
	/* Labels cannot require a gradient. */
	{
		const int32_t lv[] = {0, 1, 2};
		struct ax_tensor *labels = tu_tensor(ctx, AX_I32, 1, shape, lv);

		assert_int_equal(ax_tensor_set_requires_grad(labels, 1), AX_ERR_DTYPE);
	}
	/* After reset, the step starts afresh. */
	TU_OK(ax_ctx_reset(ctx));
	x = tu_tensor(ctx, AX_F32, 1, shape, xv);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_sum(ctx, x, 0, NULL, 0, &loss));
	TU_OK(ax_backward(ctx, loss));
	ax_ctx_destroy(ctx);
}

struct ready_log {
	int count;
	const char *names[16];
	float snapshot[16][4]; /* first elements of the gradient when it was declared final */
};

static void on_ready(void *user, struct ax_tensor *param)
{
	struct ready_log *log = user;

	if (log->count < 16) {
		log->names[log->count] = param->name;
		memcpy(log->snapshot[log->count], param->grad->data, 4 * sizeof(float));
		log->count++;
	}
}

/* The hook fires once per parameter, last layer first, and the gradient it
 * sees is already the final one. */
static void test_grad_ready_hook(void **state)
{
	const int64_t sizes[] = {5, 4, 4, 3}, xs[] = {6, 5}, ls[] = {6};
	const int32_t labels[] = {0, 1, 2, 0, 1, 2};
	struct ready_log log = {0};
	struct ax_ctx *ctx = tu_ctx(2);
	struct tmlp m;
	struct ax_tensor *x, *y, *logits, *loss;
	float xv[30];
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 5);
	ax_rng_uniform(&rng, xv, 30, -1, 1);
	TU_OK(tmlp_create(&m, 3, sizes, TMLP_TANH, 0.0f, 3));
	ax_ctx_set_grad_ready(ctx, on_ready, &log);
	x = tu_tensor(ctx, AX_F32, 2, xs, xv);
	y = tu_tensor(ctx, AX_I32, 1, ls, labels);
	TU_OK(tmlp_forward(&m, ctx, x, &logits));
	TU_OK(ax_cross_entropy(ctx, logits, y, NULL, &loss));
	TU_OK(ax_backward(ctx, loss));
	assert_int_equal(log.count, 6);
	/* Reverse of first use: fc3 is final first, fc1 last. */
	assert_string_equal(log.names[0], "fc3.weight");
	assert_string_equal(log.names[1], "fc3.bias");
	assert_string_equal(log.names[4], "fc1.weight");
	assert_string_equal(log.names[5], "fc1.bias");
	for (int i = 0; i < log.count; i++) {
		struct ax_tensor *p = ax_params_find(m.params, log.names[i]);

		assert_memory_equal(log.snapshot[i], p->grad->data, 4 * sizeof(float));
	}
	/* The flat layout puts the first-final gradients first. */
	assert_true(ax_params_offset(m.params, 4) < ax_params_offset(m.params, 0));
	ax_ctx_destroy(ctx);
	tmlp_destroy(&m);
}

/* Two micro-batches accumulated without zero_grad give the gradient of their
 * concatenation (summed loss); a frozen parameter gets none. */
static void test_accumulation_and_freezing(void **state)
{
	const int64_t sizes[] = {3, 4, 2}, half[] = {2, 3}, full[] = {4, 3}, lh[] = {2}, lf[] = {4};
	const float xv[12] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f,
			      -0.7f, 0.8f, 0.9f, 1.0f, -1.1f, 1.2f};
	const int32_t yv[4] = {0, 1, 1, 0};
	const struct ax_ce_options ce = {0.0f, -100};
	struct ax_ctx *ctx = tu_ctx(3);
	struct tmlp m;
	struct ax_tensor *x, *y, *logits, *loss, *scaled;
	int64_t size;
	float *whole, *parts;

	(void)state;
	TU_OK(tmlp_create(&m, 2, sizes, TMLP_TANH, 0.0f, 4));
	TU_OK(ax_params_set_frozen(m.params, 1, 1)); /* fc1.bias */
	size = ax_params_size(m.params);
	whole = test_calloc((size_t)size, sizeof(float));
	parts = test_calloc((size_t)size, sizeof(float));
	/* The whole batch: mean CE over 4, times 4 = summed CE. */
	TU_OK(ax_params_zero_grad(m.params));
	x = tu_tensor(ctx, AX_F32, 2, full, xv);
	y = tu_tensor(ctx, AX_I32, 1, lf, yv);
	TU_OK(tmlp_forward(&m, ctx, x, &logits));
	TU_OK(ax_cross_entropy(ctx, logits, y, &ce, &loss));
	TU_OK(ax_mul_scalar(ctx, loss, 4.0f, &scaled));
	TU_OK(ax_backward(ctx, scaled));
	memcpy(whole, ax_params_grad(m.params), (size_t)size * sizeof(float));
	TU_OK(ax_ctx_reset(ctx));
	/* Two halves, no zero_grad in between. */
	TU_OK(ax_params_zero_grad(m.params));
	for (int part = 0; part < 2; part++) {
		x = tu_tensor(ctx, AX_F32, 2, half, xv + 6 * part);
		y = tu_tensor(ctx, AX_I32, 1, lh, yv + 2 * part);
		TU_OK(tmlp_forward(&m, ctx, x, &logits));
		TU_OK(ax_cross_entropy(ctx, logits, y, &ce, &loss));
		TU_OK(ax_mul_scalar(ctx, loss, 2.0f, &scaled));
		TU_OK(ax_backward(ctx, scaled));
		TU_OK(ax_ctx_reset(ctx));
	}
	memcpy(parts, ax_params_grad(m.params), (size_t)size * sizeof(float));
	tu_assert_close(parts, whole, size, 1e-6, 1e-5, "accumulated micro-batch gradient");
	/* The frozen bias kept a zero gradient; the others did not. */
	{
		struct ax_tensor *b1 = ax_params_get(m.params, 1), *w1 = ax_params_get(m.params, 0);
		float nz = 0;

		for (int i = 0; i < 4; i++) {
			assert_true(((float *)b1->grad->data)[i] == 0.0f);
			nz += fabsf(((float *)w1->grad->data)[i]);
		}
		assert_true(nz > 0);
	}
	test_free(whole);
	test_free(parts);
	ax_ctx_destroy(ctx);
	tmlp_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_accumulates),
		cmocka_unit_test(test_no_grad_mode),
		cmocka_unit_test(test_misuse_errors),
		cmocka_unit_test(test_grad_ready_hook),
		cmocka_unit_test(test_accumulation_and_freezing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
