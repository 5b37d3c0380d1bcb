/* test_gradcheck.c - the gradient checker itself must be able to fail.
 *
 * A graph whose forward pass differs slightly between the recorded (analytic)
 * run and the unrecorded (numeric) runs has a wrong "backward" by
 * construction. The checker must reject a 1% error and accept the true op. */
#include "testutil.h"

#include "gradcheck.h"

/* y = scale * x where the numeric passes see scale * (1 + skew). */
static enum ax_status skewed_scale(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	float skew = *(const float *)arg;
	float scale = ax_ctx_grad_enabled(ctx) ? 3.0f : 3.0f * (1.0f + skew);

	return ax_mul_scalar(ctx, in[0], scale, out);
}

static void test_accepts_exact_and_rejects_wrong(void **state)
{
	struct gc_input x = {.ndim = 2, .shape = {4, 5}, .dtype = AX_F32};
	float exact = 0.0f, one_percent = 0.01f, sign = -2.0f;

	(void)state;
	assert_int_equal(gc_check("exact", 1, &x, skewed_scale, &exact, NULL), 0);
	assert_int_equal(gc_check("1% off", 1, &x, skewed_scale, &one_percent, NULL), 1);
	assert_int_equal(gc_check("wrong sign", 1, &x, skewed_scale, &sign, NULL), 1);
}

/* A strided input's padding is NaN: a kernel that reads it must fail the check.
 * y = x + 0 * (x read as if it were contiguous): correct ops give dy/dx = 1,
 * but the contiguous misread pulls padding into the forward pass. */
static enum ax_status read_padding(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				   struct ax_tensor **out)
{
	struct ax_tensor *wide = ax_ctx_alloc(ctx, sizeof(*wide)), *zeroed;
	enum ax_status st;

	(void)arg;
	if (!wide)
		return AX_ERR_NOMEM;
	*wide = *in[0];
	wide->flags = 0;
	ax_tensor_set_shape(wide, in[0]->ndim, in[0]->shape);
	st = ax_affine(ctx, wide, 0.0f, 0.0f, &zeroed);
	if (!st)
		st = ax_add(ctx, in[0], zeroed, out);
	return st;
}

static void test_strided_padding_is_poisoned(void **state)
{
	struct gc_input x = {.ndim = 2, .shape = {3, 4}, .dtype = AX_F32, .layout = GC_STRIDED};

	(void)state;
	assert_int_equal(gc_check("reads padding", 1, &x, read_padding, NULL, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_exact_and_rejects_wrong),
		cmocka_unit_test(test_strided_padding_is_poisoned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
