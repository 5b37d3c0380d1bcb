/* test_cuda_ops.c - elementwise ops, reductions and shape ops on the GPU
 * against the same ops on the CPU.
 *
 * Each case runs forward and backward on a CPU and a CUDA context from the
 * same inputs and compares the output and every gradient (run_case in
 * tests/support/cuda_compare.h, which explains the method and the
 * tolerances): the binary ops with broadcasting, the unary ops and to_f32,
 * sum, mean and mse, and reshape, permute, slice, concat and contiguous.
 * Linear algebra, softmax, cross-entropy, dropout, embedding and layer
 * norm are in test_cuda_ops_nn.c.
 *
 * Also here: an op given a CPU tensor on a CUDA context (and the reverse)
 * fails with AX_ERR_DEVICE. Gradient checks, optimizers and training steps on
 * the GPU are in test_cuda_train.c.
 *
 * Exits 77 (ctest: skipped) when this build or machine has no usable GPU. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cuda_compare.h"

#define GPU CC_GPU
#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* ---- build functions ---- */

static enum ax_status b_add(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_add(ctx, in[0], in[1], out);
}

static enum ax_status b_sub(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_sub(ctx, in[0], in[1], out);
}

static enum ax_status b_mul(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_mul(ctx, in[0], in[1], out);
}

static enum ax_status b_div(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_div(ctx, in[0], in[1], out);
}

/* x * x: one tensor used twice gets both contributions. */
static enum ax_status b_square(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			       struct ax_tensor **out)
{
	(void)arg;
	return ax_mul(ctx, in[0], in[0], out);
}

struct reduce_arg {
	int mean, n_axes, axes[4], keepdim;
};

static enum ax_status b_reduce(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			       struct ax_tensor **out)
{
	const struct reduce_arg *r = arg;

	if (r->mean)
		return ax_mean(ctx, in[0], r->n_axes, r->axes, r->keepdim, out);
	return ax_sum(ctx, in[0], r->n_axes, r->axes, r->keepdim, out);
}

struct reshape_arg {
	int ndim;
	int64_t shape[4];
};

static enum ax_status b_reshape(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				struct ax_tensor **out)
{
	const struct reshape_arg *r = arg;

	return ax_reshape(ctx, in[0], r->ndim, r->shape, out);
}

static enum ax_status b_permute(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				struct ax_tensor **out)
{
	return ax_permute(ctx, in[0], arg, out);
}

struct slice_arg {
	int axis;
	int64_t start, end, step;
};

static enum ax_status b_slice(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			      struct ax_tensor **out)
{
	const struct slice_arg *s = arg;

	return ax_slice(ctx, in[0], s->axis, s->start, s->end, s->step, out);
}

struct concat_arg {
	int n, axis;
};

static enum ax_status b_concat(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			       struct ax_tensor **out)
{
	const struct concat_arg *a = arg;

	return ax_concat(ctx, a->n, in, a->axis, out);
}

static enum ax_status b_mse(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_mse(ctx, in[0], in[1], out);
}

/* ---- elementwise ---- */

static void test_elementwise(void **state)
{
	const struct op_case cases[] = {
		{"add same shape", b_add, NULL, 2, .in = {F2(7, 13), F2(7, 13)}},
		{"add broadcast (8,1,6)+(5,6)", b_add, NULL, 2, .in = {F3(8, 1, 6), F2(5, 6)}},
		{"add a transposed + b sliced row", b_add, NULL, 2,
		 .in = {VIEW2(7, 13, V_TRANSPOSE),
			{.ndim = 1, .shape = {13}, .view = V_SLICE_LAST}}},
		{"add broadcast bias (64,32)+(32)", b_add, NULL, 2,
		 .in = {F2(64, 32), F1(32)}, T_REDUCE, 64},
		{"add a permuted + b row-sliced", b_add, NULL, 2,
		 .in = {VIEW3(3, 4, 5, V_PERMUTE), VIEW3(3, 4, 5, V_SLICE_ROWS)}},
		{"sub broadcast (5,1)-(1,6)", b_sub, NULL, 2, .in = {F2(5, 1), F2(1, 6)}},
		{"sub b fixed", b_sub, NULL, 2,
		 .in = {F2(6, 5), {.ndim = 2, .shape = {6, 5}, .no_grad = 1}}},
		{"mul broadcast (4,5,6)*(5,1)", b_mul, NULL, 2, .in = {F3(4, 5, 6), F2(5, 1)}},
		{"mul a column-sliced", b_mul, NULL, 2,
		 .in = {VIEW2(6, 9, V_SLICE_LAST), F2(6, 9)}},
		{"mul x*x (one tensor twice)", b_square, NULL, 1, .in = {F2(6, 7)}},
		{"div", b_div, NULL, 2,
		 .in = {F2(6, 7), {.ndim = 2, .shape = {6, 7}, .lo = 0.5f, .hi = 2}}},
		{"div broadcast, signed divisor", b_div, NULL, 2,
		 .in = {F2(6, 7), {.ndim = 1, .shape = {7}, .lo = -2, .hi = 2, .min_abs = 0.5f}}},
		{"affine 1.5 x - 0.25, transposed", b_unary,
		 &(struct unary_arg){U_AFFINE, 1.5f, -0.25f}, 1,
		 .in = {VIEW2(9, 11, V_TRANSPOSE)}},
		{"add_scalar 3", b_unary, &(struct unary_arg){U_ADD_SCALAR, 3.0f, 0}, 1,
		 .in = {F2(9, 11)}},
		{"mul_scalar -2, sliced", b_unary, &(struct unary_arg){U_MUL_SCALAR, -2.0f, 0}, 1,
		 .in = {VIEW2(9, 11, V_SLICE_ROWS)}},
		{"pow 2.5", b_unary, &(struct unary_arg){U_POW, 2.5f, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = 0.5f, .hi = 2}}},
		{"pow 3, negative inputs", b_unary, &(struct unary_arg){U_POW, 3.0f, 0}, 1,
		 .in = {F2(9, 11)}},
		{"pow 2", b_unary, &(struct unary_arg){U_POW, 2.0f, 0}, 1, .in = {F2(9, 11)}},
		{"pow -1.5", b_unary, &(struct unary_arg){U_POW, -1.5f, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = 0.5f, .hi = 2}}},
		{"pow 0.5", b_unary, &(struct unary_arg){U_POW, 0.5f, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = 0.1f, .hi = 4}}},
		{"exp", b_unary, &(struct unary_arg){U_EXP, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = -3, .hi = 3}}},
		{"log", b_unary, &(struct unary_arg){U_LOG, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = 0.05f, .hi = 4}}},
		{"sqrt", b_unary, &(struct unary_arg){U_SQRT, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .lo = 0.05f, .hi = 4}}},
		{"relu, row-sliced", b_unary, &(struct unary_arg){U_RELU, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .view = V_SLICE_ROWS, .min_abs = 1e-3f}}},
		{"leaky_relu 0.1", b_unary, &(struct unary_arg){U_LEAKY, 0.1f, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 11}, .min_abs = 1e-3f}}},
		{"gelu erf", b_unary, &(struct unary_arg){U_GELU_ERF, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 31}, .lo = -4, .hi = 4}}},
		{"gelu tanh, transposed", b_unary, &(struct unary_arg){U_GELU_TANH, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 31}, .view = V_TRANSPOSE, .lo = -4, .hi = 4}}},
		{"sigmoid", b_unary, &(struct unary_arg){U_SIGMOID, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 31}, .lo = -8, .hi = 8}}},
		{"tanh", b_unary, &(struct unary_arg){U_TANH, 0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {9, 31}, .lo = -4, .hi = 4}}},
		{"to_f32 f32, transposed", b_unary, &(struct unary_arg){U_TO_F32, 0.5f, 1.0f}, 1,
		 .in = {{.ndim = 2, .shape = {5, 6}, .view = V_TRANSPOSE, .no_grad = 1}}},
		{"elementwise, 100k elements", b_unary, &(struct unary_arg){U_GELU_TANH, 0, 0}, 1,
		 .in = {F2(250, 401)}},
	};
	static uint8_t bytes[4 * 33];
	static int32_t ints[4 * 33];
	const struct op_case typed[] = {
		{"to_f32 u8", b_unary, &(struct unary_arg){U_TO_F32, 1.0f / 255.0f, -0.5f}, 1,
		 .in = {{.ndim = 2, .shape = {4, 33}, .dtype = AX_U8, .values = bytes}}},
		{"to_f32 i32", b_unary, &(struct unary_arg){U_TO_F32, 0.5f, 1.0f}, 1,
		 .in = {{.ndim = 2, .shape = {4, 33}, .dtype = AX_I32, .values = ints}}},
	};

	(void)state;
	for (int i = 0; i < 4 * 33; i++) {
		bytes[i] = (uint8_t)(i * 37 + 11);
		ints[i] = i * 7919 - 500000;
	}
	run_cases(cases, N_CASES(cases));
	run_cases(typed, N_CASES(typed));
}

/* ---- reductions ---- */

static void test_reduce(void **state)
{
	const struct op_case cases[] = {
		{"sum all (6,7,8)", b_reduce, &(struct reduce_arg){0, 0, {0}, 0}, 1,
		 .in = {F3(6, 7, 8)}, T_REDUCE, 336},
		{"sum axis 1 keepdim", b_reduce, &(struct reduce_arg){0, 1, {1}, 1}, 1,
		 .in = {F3(6, 7, 8)}, T_REDUCE, 7},
		{"sum axes 0 and 2", b_reduce, &(struct reduce_arg){0, 2, {0, 2}, 0}, 1,
		 .in = {F3(6, 7, 8)}, T_REDUCE, 48},
		{"sum axis -1 of a transposed view", b_reduce,
		 &(struct reduce_arg){0, 1, {-1}, 0}, 1,
		 .in = {VIEW2(9, 10, V_TRANSPOSE)}, T_REDUCE, 10},
		{"sum all of a row-sliced view", b_reduce, &(struct reduce_arg){0, 0, {0}, 0}, 1,
		 .in = {VIEW2(20, 33, V_SLICE_ROWS)}, T_REDUCE, 660},
		{"sum axis 0 of a permuted view", b_reduce, &(struct reduce_arg){0, 1, {0}, 1}, 1,
		 .in = {VIEW3(5, 6, 7, V_PERMUTE)}, T_REDUCE, 5},
		{"sum a long leading axis (4096,3)", b_reduce,
		 &(struct reduce_arg){0, 1, {0}, 0}, 1,
		 .in = {F2(4096, 3)}, T_REDUCE, 4096},
		{"sum a long last axis (3,4096)", b_reduce, &(struct reduce_arg){0, 1, {-1}, 0}, 1,
		 .in = {F2(3, 4096)}, T_REDUCE, 4096},
		{"sum all of 100k elements, offset", b_reduce,
		 &(struct reduce_arg){0, 0, {0}, 0}, 1,
		 .in = {{.ndim = 2, .shape = {250, 401}, .lo = 0.5f, .hi = 1.5f}}, T_REDUCE,
		  100250},
		{"mean all", b_reduce, &(struct reduce_arg){1, 0, {0}, 0}, 1,
		 .in = {F3(6, 7, 8)}, T_REDUCE, 336},
		{"mean axis 1", b_reduce, &(struct reduce_arg){1, 1, {1}, 0}, 1,
		 .in = {F3(6, 7, 8)}, T_REDUCE, 7},
		{"mean axis 0 of a transposed view, keepdim", b_reduce,
		 &(struct reduce_arg){1, 1, {0}, 1}, 1,
		 .in = {VIEW2(12, 5, V_TRANSPOSE)}, T_REDUCE, 12},
		{"mean a long axis (2,8192)", b_reduce, &(struct reduce_arg){1, 1, {1}, 0}, 1,
		 .in = {F2(2, 8192)}, T_REDUCE, 8192},
		{"mse", b_mse, NULL, 2, .in = {F2(7, 9), F2(7, 9)}, T_REDUCE, 63},
		{"mse pred transposed, target fixed", b_mse, NULL, 2,
		 .in = {VIEW2(7, 9, V_TRANSPOSE), {.ndim = 2, .shape = {7, 9}, .no_grad = 1}},
		  T_REDUCE, 63},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

/* ---- shape ops: views and copies ---- */

static void test_shape(void **state)
{
	static const int perm[3] = {2, 0, 1}, perm4[4] = {3, 1, 0, 2};
	const struct op_case cases[] = {
		{"reshape (4,6) -> (2,3,4)", b_reshape, &(struct reshape_arg){3, {2, 3, 4}}, 1,
		 .in = {F2(4, 6)}, T_EXACT},
		{"reshape a transposed view (a copy) -> (24)", b_reshape,
		 &(struct reshape_arg){1, {24}}, 1,
		 .in = {VIEW2(4, 6, V_TRANSPOSE)}, T_EXACT},
		{"reshape with -1", b_reshape, &(struct reshape_arg){2, {-1, 12}}, 1,
		 .in = {F3(2, 3, 8)}, T_EXACT},
		{"permute {2,0,1}", b_permute, perm, 1, .in = {F3(2, 3, 4)}, T_EXACT},
		{"permute 4-D", b_permute, perm4, 1,
		 .in = {{.ndim = 4, .shape = {2, 3, 4, 5}}}, T_EXACT},
		{"slice axis 1, 1:-1:2", b_slice, &(struct slice_arg){1, 1, -1, 2}, 1,
		 .in = {F2(4, 9)}, T_EXACT},
		{"slice axis 0, -7:100:3", b_slice, &(struct slice_arg){0, -7, 100, 3}, 1,
		 .in = {F2(10, 3)}, T_EXACT},
		{"slice of a transposed view", b_slice, &(struct slice_arg){0, 2, 5, 1}, 1,
		 .in = {VIEW2(6, 4, V_TRANSPOSE)}, T_EXACT},
		{"concat axis 1, strided inputs", b_concat, &(struct concat_arg){3, 1}, 3,
		 .in = {F2(3, 4), VIEW2(3, 2, V_TRANSPOSE), VIEW2(3, 5, V_SLICE_ROWS)}, T_EXACT},
		{"concat axis 0, 3-D", b_concat, &(struct concat_arg){2, 0}, 2,
		 .in = {F3(2, 3, 4), VIEW3(5, 3, 4, V_PERMUTE)}, T_EXACT},
		{"concat axis -1, one input fixed", b_concat, &(struct concat_arg){2, -1}, 2,
		 .in = {F2(3, 4), {.ndim = 2, .shape = {3, 6}, .no_grad = 1}}, T_EXACT},
		{"contiguous of a transposed view", b_unary,
		 &(struct unary_arg){U_CONTIGUOUS, 0, 0}, 1,
		 .in = {VIEW2(5, 7, V_TRANSPOSE)}, T_EXACT},
		{"contiguous of a permuted view", b_unary,
		 &(struct unary_arg){U_CONTIGUOUS, 0, 0}, 1,
		 .in = {VIEW3(3, 5, 7, V_PERMUTE)}, T_EXACT},
		{"contiguous of a column-sliced view", b_unary,
		 &(struct unary_arg){U_CONTIGUOUS, 0, 0}, 1,
		 .in = {VIEW2(5, 7, V_SLICE_LAST)}, T_EXACT},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

/* ---- devices must match ---- */

static void expect_device_error(enum ax_status st, const char *op, const char *input)
{
	if (st != AX_ERR_DEVICE)
		fail_msg("%s: got %s, expected AX_ERR_DEVICE (%s)", op, ax_status_name(st),
			 ax_last_error());
	assert_non_null(strstr(ax_last_error(), op));
	assert_non_null(strstr(ax_last_error(), input));
}

static void test_device_mismatch(void **state)
{
	const int64_t shape[2] = {3, 4}, wshape[2] = {5, 4}, bshape[1] = {5};
	float values[20], back[12];
	struct ax_ctx *gctx = cc_make_ctx(GPU, AX_PRECISION_F32, 1);
	struct ax_ctx *cctx = cc_make_ctx(AX_CPU, AX_PRECISION_F32, 1);
	struct ax_tensor *host = NULL, *dev = NULL, *heap_gpu = NULL, *w, *bias_cpu = NULL;
	struct ax_tensor *out = NULL, *view;

	(void)state;
	for (int i = 0; i < 20; i++)
		values[i] = (float)i - 5.5f;
	TU_OK(ax_tensor_create(AX_F32, AX_CPU, 2, shape, &host));
	memcpy(host->data, values, 12 * sizeof(float));
	dev = cc_put(gctx, AX_F32, 2, shape, values);
	w = cc_put(gctx, AX_F32, 2, wshape, values);
	TU_OK(ax_tensor_create(AX_F32, AX_CPU, 1, bshape, &bias_cpu));

	expect_device_error(ax_add(gctx, dev, host, &out), "add", "input 1 is on cpu");
	assert_null(out);
	assert_non_null(strstr(ax_last_error(), "cuda:0"));
	expect_device_error(ax_relu(gctx, host, &out), "relu", "input 0 is on cpu");
	expect_device_error(ax_linear(gctx, dev, w, bias_cpu, &out), "linear", "input 2");
	expect_device_error(ax_add(cctx, host, dev, &out), "add", "input 1 is on cuda:0");
	assert_null(out);

	/* A heap tensor on the GPU: upload, download, use in an op. */
	TU_OK(ax_tensor_create(AX_F32, GPU, 2, shape, &heap_gpu));
	TU_OK(ax_tensor_upload(heap_gpu, values, sizeof(back)));
	TU_OK(ax_tensor_download(heap_gpu, back, sizeof(back)));
	assert_memory_equal(back, values, sizeof(back));
	TU_OK(ax_add(gctx, dev, heap_gpu, &out));
	TU_OK(ax_tensor_download(out, back, sizeof(back)));
	for (int i = 0; i < 12; i++)
		assert_true(back[i] == 2.0f * values[i]);
	/* Transfers check their size and layout. */
	assert_int_equal(ax_tensor_upload(heap_gpu, values, sizeof(back) - 4), AX_ERR_SHAPE);
	TU_OK(ax_transpose(gctx, dev, 0, 1, &view));
	assert_int_equal(ax_tensor_download(view, back, sizeof(back)), AX_ERR_SHAPE);

	ax_tensor_destroy(host);
	ax_tensor_destroy(bias_cpu);
	ax_tensor_destroy(heap_gpu);
	ax_ctx_destroy(gctx);
	ax_ctx_destroy(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elementwise),
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_device_mismatch),
	};

	if (!ax_cuda_available()) {
		printf("SKIP: no usable CUDA GPU (axon %s, %s)\n", ax_version(), ax_build_info());
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
