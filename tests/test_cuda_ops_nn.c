/* test_cuda_ops_nn.c - the neural-network ops on the GPU against the same
 * ops on the CPU.
 *
 * Each case runs forward and backward on a CPU and a CUDA context from the
 * same inputs and compares the output and every gradient (run_case in
 * tests/support/cuda_compare.h, which explains the method and the
 * tolerances): matmul, bmm and linear in f32 and under bf16 precision,
 * softmax and log_softmax, cross-entropy, dropout (the same masks on both
 * devices), embedding and layer norm. Elementwise ops, reductions and
 * shape ops are in test_cuda_ops.c.
 *
 * Exits 77 (ctest: skipped) when this build or machine has no usable GPU. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>

#include "cuda_compare.h"

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* ---- build functions ---- */

static enum ax_status b_matmul(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			       struct ax_tensor **out)
{
	(void)arg;
	return ax_matmul(ctx, in[0], in[1], out);
}

static enum ax_status b_bmm(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_bmm(ctx, in[0], in[1], out);
}

static enum ax_status b_linear(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			       struct ax_tensor **out)
{
	(void)arg;
	return ax_linear(ctx, in[0], in[1], in[2], out);
}

/* permute -> strided slice -> reshape (a copy: the slice is strided) ->
 * matmul: the view ops' backward passes chained. x (2, 3, 4), w (4, 5). */
static enum ax_status b_view_chain(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				   struct ax_tensor **out)
{
	static const int perm[3] = {2, 0, 1};
	static const int64_t flat[2] = {4, 4};
	struct ax_tensor *t, *s, *r;
	enum ax_status st;

	(void)arg;
	st = ax_permute(ctx, in[0], perm, &t);    /* (4, 2, 3) */
	if (!st)
		st = ax_slice(ctx, t, 2, 0, 3, 2, &s); /* (4, 2, 2) */
	if (!st)
		st = ax_reshape(ctx, s, 2, flat, &r);  /* (4, 4) */
	if (!st)
		st = ax_matmul(ctx, r, in[1], out);    /* (4, 5) */
	return st;
}

struct softmax_arg {
	int log, axis;
};

static enum ax_status b_softmax(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				struct ax_tensor **out)
{
	const struct softmax_arg *s = arg;

	if (s->log)
		return ax_log_softmax(ctx, in[0], s->axis, out);
	return ax_softmax(ctx, in[0], s->axis, out);
}

static enum ax_status b_cross_entropy(struct ax_ctx *ctx, struct ax_tensor **in,
				      const void *arg, struct ax_tensor **out)
{
	return ax_cross_entropy(ctx, in[0], in[1], arg, out);
}

static enum ax_status b_dropout(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				struct ax_tensor **out)
{
	return ax_dropout(ctx, in[0], *(const float *)arg, out);
}

/* Two dropouts in a row: the second mask comes from where the first left the RNG. */
static enum ax_status b_dropout_twice(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				      struct ax_tensor **out)
{
	struct ax_tensor *t;
	enum ax_status st = ax_dropout(ctx, in[0], *(const float *)arg, &t);

	return st ? st : ax_dropout(ctx, t, *(const float *)arg, out);
}

static enum ax_status b_embedding(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				  struct ax_tensor **out)
{
	(void)arg;
	return ax_embedding(ctx, in[0], in[1], out);
}

static enum ax_status b_layer_norm(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				   struct ax_tensor **out)
{
	return ax_layer_norm(ctx, in[0], in[1], in[2], *(const float *)arg, out);
}

/* ---- linear algebra ---- */

static void test_linalg(void **state)
{
	const struct op_case cases[] = {
		{"matmul (33,64)@(64,40)", b_matmul, NULL, 2,
		 .in = {F2(33, 64), F2(64, 40)}, T_GEMM, 64},
		{"matmul a transposed, b row-sliced", b_matmul, NULL, 2,
		 .in = {VIEW2(33, 64, V_TRANSPOSE), VIEW2(64, 40, V_SLICE_ROWS)}, T_GEMM, 64},
		{"matmul a column-sliced, b transposed", b_matmul, NULL, 2,
		 .in = {VIEW2(33, 64, V_SLICE_LAST), VIEW2(64, 40, V_TRANSPOSE)}, T_GEMM, 64},
		{"matmul odd sizes (130,257)@(257,65)", b_matmul, NULL, 2,
		 .in = {F2(130, 257), F2(257, 65)}, T_GEMM, 257},
		{"matmul (1,7)@(7,1)", b_matmul, NULL, 2, .in = {F2(1, 7), F2(7, 1)}, T_GEMM, 7},
		{"matmul batched, b broadcast", b_matmul, NULL, 2,
		 .in = {F3(3, 17, 24), F2(24, 20)}, T_GEMM, 51},
		{"matmul batched, a broadcast", b_matmul, NULL, 2,
		 .in = {F2(17, 24), F3(3, 24, 20)}, T_GEMM, 60},
		{"matmul batched, a permuted, b transposed", b_matmul, NULL, 2,
		 .in = {VIEW3(3, 17, 24, V_PERMUTE), VIEW3(3, 24, 20, V_TRANSPOSE)}, T_GEMM, 24},
		{"bmm (4,9,16)@(4,16,12)", b_bmm, NULL, 2,
		 .in = {F3(4, 9, 16), F3(4, 16, 12)}, T_GEMM, 16},
		{"bmm a row-sliced", b_bmm, NULL, 2,
		 .in = {VIEW3(4, 9, 16, V_SLICE_ROWS), F3(4, 16, 12)}, T_GEMM, 16},
		{"linear (64,96) w (48,96) + b", b_linear, NULL, 3,
		 .in = {F2(64, 96), F2(48, 96), F1(48)}, T_GEMM, 96},
		{"linear x transposed", b_linear, NULL, 3,
		 .in = {VIEW2(64, 96, V_TRANSPOSE), F2(48, 96), F1(48)}, T_GEMM, 96},
		{"linear x row-sliced, w transposed, bias sliced", b_linear, NULL, 3,
		 .in = {VIEW2(64, 96, V_SLICE_ROWS), VIEW2(48, 96, V_TRANSPOSE),
			{.ndim = 1, .shape = {48}, .view = V_SLICE_LAST}},
		  T_GEMM, 96},
		{"linear 3-D x", b_linear, NULL, 3,
		 .in = {F3(4, 16, 96), F2(48, 96), F1(48)}, T_GEMM, 96},
		{"linear 3-D x permuted", b_linear, NULL, 3,
		 .in = {VIEW3(4, 16, 96, V_PERMUTE), F2(48, 96), F1(48)}, T_GEMM, 96},
		{"linear without bias", b_linear, NULL, 3,
		 .in = {F2(64, 96), F2(48, 96), ABSENT}, T_GEMM, 96},
		{"linear x fixed (no grad)", b_linear, NULL, 3,
		 .in = {{.ndim = 2, .shape = {64, 96}, .no_grad = 1}, F2(48, 96), F1(48)}, T_GEMM,
		  96},
		{"linear (1,7) w (1,7)", b_linear, NULL, 3,
		 .in = {F2(1, 7), F2(1, 7), F1(1)}, T_GEMM, 7},
		{"linear MLP-sized (64,784) w (256,784)", b_linear, NULL, 3,
		 .in = {F2(64, 784), F2(256, 784), F1(256)}, T_GEMM, 784},
		{"view chain: permute, slice, reshape, matmul", b_view_chain, NULL, 2,
		 .in = {F3(2, 3, 4), F2(4, 5)}, T_GEMM, 4},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

static void test_linalg_bf16(void **state)
{
	const struct op_case cases[] = {
		{"bf16 matmul (33,64)@(64,40)", b_matmul, NULL, 2,
		 .in = {F2(33, 64), F2(64, 40)}, T_BF16, 64, AX_PRECISION_BF16},
		{"bf16 matmul a transposed, b row-sliced", b_matmul, NULL, 2,
		 .in = {VIEW2(33, 64, V_TRANSPOSE), VIEW2(64, 40, V_SLICE_ROWS)}, T_BF16, 64,
		  AX_PRECISION_BF16},
		{"bf16 matmul batched, b broadcast", b_matmul, NULL, 2,
		 .in = {F3(3, 17, 24), F2(24, 20)}, T_BF16, 51, AX_PRECISION_BF16},
		{"bf16 bmm", b_bmm, NULL, 2,
		 .in = {F3(4, 9, 16), F3(4, 16, 12)}, T_BF16, 16, AX_PRECISION_BF16},
		{"bf16 linear", b_linear, NULL, 3,
		 .in = {F2(64, 96), F2(48, 96), F1(48)}, T_BF16, 96, AX_PRECISION_BF16},
		{"bf16 linear x transposed, no bias", b_linear, NULL, 3,
		 .in = {VIEW2(64, 96, V_TRANSPOSE), F2(48, 96), ABSENT}, T_BF16, 96,
		  AX_PRECISION_BF16},
		{"bf16 linear 3-D x", b_linear, NULL, 3,
		 .in = {F3(4, 16, 96), F2(48, 96), F1(48)}, T_BF16, 96, AX_PRECISION_BF16},
		{"bf16 linear MLP-sized", b_linear, NULL, 3,
		 .in = {F2(64, 784), F2(256, 784), F1(256)}, T_BF16, 784, AX_PRECISION_BF16},
		/* bf16 is for matmul and linear only: other ops stay f32. */
		{"bf16 context: gelu stays f32", b_unary, &(struct unary_arg){U_GELU_ERF, 0, 0}, 1,
		 .in = {F2(9, 31)}, T_ELEM, 0, AX_PRECISION_BF16},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

/* ---- neural-network ops ---- */

static void test_softmax(void **state)
{
	const struct op_case cases[] = {
		{"softmax last axis", b_softmax, &(struct softmax_arg){0, -1}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .lo = -5, .hi = 5}}},
		{"softmax axis 0 (inner > 1)", b_softmax, &(struct softmax_arg){0, 0}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .lo = -5, .hi = 5}}},
		{"softmax middle axis of 3-D", b_softmax, &(struct softmax_arg){0, 1}, 1,
		 .in = {{.ndim = 3, .shape = {3, 11, 5}, .lo = -5, .hi = 5}}},
		{"softmax of a transposed view", b_softmax, &(struct softmax_arg){0, -1}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .view = V_TRANSPOSE, .lo = -5, .hi = 5}}},
		{"softmax of a row-sliced view", b_softmax, &(struct softmax_arg){0, -1}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .view = V_SLICE_ROWS, .lo = -5, .hi = 5}}},
		{"softmax large logits", b_softmax, &(struct softmax_arg){0, -1}, 1,
		 .in = {{.ndim = 2, .shape = {8, 50}, .lo = -80, .hi = 80}}},
		{"softmax long rows (4,3000)", b_softmax, &(struct softmax_arg){0, -1}, 1,
		 .in = {{.ndim = 2, .shape = {4, 3000}, .lo = -5, .hi = 5}}},
		{"log_softmax last axis", b_softmax, &(struct softmax_arg){1, -1}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .lo = -5, .hi = 5}}},
		{"log_softmax axis 0", b_softmax, &(struct softmax_arg){1, 0}, 1,
		 .in = {{.ndim = 2, .shape = {16, 37}, .lo = -5, .hi = 5}}},
		{"log_softmax permuted view", b_softmax, &(struct softmax_arg){1, 2}, 1,
		 .in = {{.ndim = 3, .shape = {3, 4, 9}, .view = V_PERMUTE, .lo = -5, .hi = 5}}},
		{"log_softmax large logits", b_softmax, &(struct softmax_arg){1, -1}, 1,
		 .in = {{.ndim = 2, .shape = {8, 50}, .lo = -80, .hi = 80}}},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

static void test_cross_entropy(void **state)
{
	static const int32_t labels[24] = {0, 9, 3, -100, 5, 1, 3, 7, 2, 8, 6, 4,
					   3, 3, 0, -100, 9, 2, 1, 5, 7, 3, 8, 6};
	/* With ignore_index 3, -100 would be a label out of range: 3s instead. */
	static const int32_t labels3[24] = {0, 9, 3, 3, 5, 1, 3, 7, 2, 8, 6, 4,
					    3, 3, 0, 3, 9, 2, 1, 5, 7, 3, 8, 6};
	static const int32_t ignored[24] = {-100, -100, -100, -100, -100, -100, -100, -100,
					    -100, -100, -100, -100, -100, -100, -100, -100,
					    -100, -100, -100, -100, -100, -100, -100, -100};
	static const struct ax_ce_options smooth = {0.1f, -100}, ignore3 = {0.0f, 3},
					  both = {0.2f, 3};
#define LABELS(v) {.ndim = 1, .shape = {24}, .dtype = AX_I32, .values = v}
#define LOGITS(lo_, hi_) {.ndim = 2, .shape = {24, 10}, .lo = lo_, .hi = hi_}
	const struct op_case cases[] = {
		{"cross_entropy, default options", b_cross_entropy, NULL, 2,
		 .in = {LOGITS(-4, 4), LABELS(labels)}, T_CE},
		{"cross_entropy, label smoothing 0.1", b_cross_entropy, &smooth, 2,
		 .in = {LOGITS(-4, 4), LABELS(labels)}, T_CE},
		{"cross_entropy, ignore_index 3", b_cross_entropy, &ignore3, 2,
		 .in = {LOGITS(-4, 4), LABELS(labels3)}, T_CE},
		{"cross_entropy, smoothing 0.2 and ignore_index 3", b_cross_entropy, &both, 2,
		 .in = {LOGITS(-4, 4), LABELS(labels3)}, T_CE},
		{"cross_entropy, logits transposed", b_cross_entropy, &smooth, 2,
		 .in = {{.ndim = 2, .shape = {24, 10}, .view = V_TRANSPOSE, .lo = -4, .hi = 4},
			LABELS(labels)},
		  T_CE},
		{"cross_entropy, logits row-sliced", b_cross_entropy, NULL, 2,
		 .in = {{.ndim = 2, .shape = {24, 10}, .view = V_SLICE_ROWS, .lo = -4, .hi = 4},
			LABELS(labels)},
		  T_CE},
		{"cross_entropy, large logits", b_cross_entropy, &smooth, 2,
		 .in = {LOGITS(-300, 300), LABELS(labels)}, T_CE},
		{"cross_entropy, every sample ignored", b_cross_entropy, &smooth, 2,
		 .in = {LOGITS(-4, 4), LABELS(ignored)}, T_CE},
	};
#undef LABELS
#undef LOGITS
	static int32_t wide_labels[64];
	const struct op_case wide[] = {
		{"cross_entropy, 1000 classes", b_cross_entropy, &smooth, 2,
		 .in = {{.ndim = 2, .shape = {64, 1000}, .lo = -3, .hi = 3},
			{.ndim = 1, .shape = {64}, .dtype = AX_I32, .values = wide_labels}},
		  T_CE},
	};

	(void)state;
	for (int i = 0; i < 64; i++)
		wide_labels[i] = (i * 397) % 1000;
	run_cases(cases, N_CASES(cases));
	run_cases(wide, N_CASES(wide));
}

static void test_dropout(void **state)
{
	static const float p3 = 0.3f, p5 = 0.5f, p9 = 0.9f;
	/* |x| >= 0.01 so that a zero in the output is a dropped element. */
	const struct op_case cases[] = {
		{"dropout 0.3 (37,53)", b_dropout, &p3, 1,
		 .in = {{.ndim = 2, .shape = {37, 53}, .min_abs = 0.01f}}, T_DROPOUT},
		{"dropout 0.5 of a transposed view", b_dropout, &p5, 1,
		 .in = {{.ndim = 2, .shape = {40, 24}, .view = V_TRANSPOSE, .min_abs = 0.01f}},
		  T_DROPOUT},
		{"dropout 0.9, 7 elements", b_dropout, &p9, 1,
		 .in = {{.ndim = 2, .shape = {1, 7}, .min_abs = 0.01f}}, T_DROPOUT},
		{"dropout 0.3 twice", b_dropout_twice, &p3, 1,
		 .in = {{.ndim = 2, .shape = {13, 29}, .min_abs = 0.01f}}, T_DROPOUT},
		{"dropout 0.3, 100k elements", b_dropout, &p3, 1,
		 .in = {{.ndim = 2, .shape = {250, 401}, .min_abs = 0.01f}}, T_DROPOUT},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

static void test_embedding_layer_norm(void **state)
{
	static const int32_t idx[21] = {0, 19, 3, 3, 7, 19, 0, 11, 5, 5, 5, 2,
					18, 1, 0, 9, 12, 3, 6, 4, 19};
	static const float eps = 1e-5f, eps0 = 0.0f;
	const struct op_case cases[] = {
		{"embedding (20,12), indices (3,7) with repeats", b_embedding, NULL, 2,
		 .in = {F2(20, 12), {.ndim = 2, .shape = {3, 7}, .dtype = AX_I32, .values = idx}}},
		{"embedding transposed weight", b_embedding, NULL, 2,
		 .in = {VIEW2(20, 12, V_TRANSPOSE),
			{.ndim = 1, .shape = {21}, .dtype = AX_I32, .values = idx}}},
		{"layer_norm with gamma and beta", b_layer_norm, &eps, 3,
		 .in = {F2(16, 48), F1(48), F1(48)}, T_REDUCE, 48},
		{"layer_norm without gamma and beta", b_layer_norm, &eps, 3,
		 .in = {F2(16, 48), ABSENT, ABSENT}, T_REDUCE, 48},
		{"layer_norm gamma only, eps 0", b_layer_norm, &eps0, 3,
		 .in = {F2(16, 48), F1(48), ABSENT}, T_REDUCE, 48},
		{"layer_norm beta only", b_layer_norm, &eps, 3,
		 .in = {F2(16, 48), ABSENT, F1(48)}, T_REDUCE, 48},
		{"layer_norm large mean", b_layer_norm, &eps, 3,
		 .in = {{.ndim = 2, .shape = {16, 48}, .lo = 99, .hi = 101}, F1(48), F1(48)},
		  T_REDUCE, 48},
		{"layer_norm of a transposed view", b_layer_norm, &eps, 3,
		 .in = {VIEW2(16, 48, V_TRANSPOSE), F1(48), F1(48)}, T_REDUCE, 48},
		{"layer_norm 3-D, long rows", b_layer_norm, &eps, 3,
		 .in = {F3(2, 5, 1024), F1(1024), F1(1024)}, T_REDUCE, 1024},
		{"layer_norm x fixed, gamma sliced", b_layer_norm, &eps, 3,
		 .in = {{.ndim = 2, .shape = {16, 48}, .no_grad = 1},
			{.ndim = 1, .shape = {48}, .view = V_SLICE_LAST}, F1(48)},
		  T_REDUCE, 48},
	};

	(void)state;
	run_cases(cases, N_CASES(cases));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linalg),
		cmocka_unit_test(test_linalg_bf16),
		cmocka_unit_test(test_softmax),
		cmocka_unit_test(test_cross_entropy),
		cmocka_unit_test(test_dropout),
		cmocka_unit_test(test_embedding_layer_norm),
	};

	if (!ax_cuda_available()) {
		printf("SKIP: no usable CUDA GPU (axon %s, %s)\n", ax_version(), ax_build_info());
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
