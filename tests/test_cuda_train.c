/* test_cuda_train.c - gradients, optimizers and training steps on the GPU.
 *
 * gc_check (tests/support/gradcheck.c) run on the GPU for a representative
 * set of ops (analytic against numeric gradients, as on the CPU); the
 * optimizers (AdamW, Adam, SGD with momentum, Nesterov, plain SGD) for 5
 * steps on GPU parameters against CPU parameters given identical values and
 * gradients (1e-6 relative; the GPU passes use the CPU loops' operation
 * order), their state buffers, a frozen parameter left alone; the gradient
 * norm and clipping; and a small MLP training step with its parameters on
 * each device. Tolerances as in support/cuda_compare.h.
 *
 * Exits 77 (ctest: skipped) when this build or machine has no usable GPU. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_compare.h"
#include "gradcheck.h"

#define GPU CC_GPU
#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* ---- gradient checks on the GPU ---- */

static enum ax_status gc_linear(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				struct ax_tensor **out)
{
	(void)arg;
	return ax_linear(ctx, in[0], in[1], in[2], out);
}

static enum ax_status gc_matmul(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				struct ax_tensor **out)
{
	(void)arg;
	return ax_matmul(ctx, in[0], in[1], out);
}

static enum ax_status gc_gelu(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
			      struct ax_tensor **out)
{
	return ax_gelu(ctx, in[0], *(enum ax_gelu_form *)arg, out);
}

static enum ax_status gc_softmax(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				 struct ax_tensor **out)
{
	(void)arg;
	return ax_softmax(ctx, in[0], -1, out);
}

static enum ax_status gc_ce(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
			    struct ax_tensor **out)
{
	return ax_cross_entropy(ctx, in[0], in[1], arg, out);
}

static enum ax_status gc_layer_norm(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				    struct ax_tensor **out)
{
	(void)arg;
	return ax_layer_norm(ctx, in[0], in[1], in[2], 1e-5f, out);
}

static enum ax_status gc_mean(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
			      struct ax_tensor **out)
{
	static const int axes[1] = {1};

	(void)arg;
	return ax_mean(ctx, in[0], 1, axes, 0, out);
}

static enum ax_status gc_dropout(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				 struct ax_tensor **out)
{
	(void)arg;
	return ax_dropout(ctx, in[0], 0.25f, out);
}

static void test_gradcheck_gpu(void **state)
{
	static const int32_t labels[6] = {0, 4, -100, 2, 2, 1};
	struct ax_ce_options smooth = {0.1f, -100};
	enum ax_gelu_form erf_form = AX_GELU_ERF, tanh_form = AX_GELU_TANH;
	struct ax_device previous = gc_set_device(GPU);
	int failed = 0;

	(void)state;
	{
		struct gc_input in[3] = {{.ndim = 2, .shape = {5, 7}, .layout = GC_TRANSPOSED},
					 {.ndim = 2, .shape = {4, 7}},
					 {.ndim = 1, .shape = {4}, .layout = GC_STRIDED}};

		failed |= gc_check("gpu linear", 3, in, gc_linear, NULL, NULL);
	}
	{
		struct gc_input in[2] = {{.ndim = 2, .shape = {4, 6}, .layout = GC_STRIDED},
					 {.ndim = 2, .shape = {6, 3}, .layout = GC_TRANSPOSED}};

		failed |= gc_check("gpu matmul", 2, in, gc_matmul, NULL, NULL);
	}
	{
		struct gc_input in[1] = {{.ndim = 2, .shape = {3, 5}, .lo = -3, .hi = 3}};

		failed |= gc_check("gpu gelu erf", 1, in, gc_gelu, &erf_form, NULL);
		failed |= gc_check("gpu gelu tanh", 1, in, gc_gelu, &tanh_form, NULL);
	}
	{
		struct gc_input in[1] = {{.ndim = 2, .shape = {4, 6}, .layout = GC_TRANSPOSED}};

		failed |= gc_check("gpu softmax", 1, in, gc_softmax, NULL, NULL);
	}
	{
		struct gc_input in[2] = {{.ndim = 2, .shape = {6, 5}, .lo = -3, .hi = 3},
					 {.ndim = 1, .shape = {6}, .dtype = AX_I32,
					  .values = labels}};

		failed |= gc_check("gpu cross_entropy", 2, in, gc_ce, &smooth, NULL);
	}
	{
		struct gc_input in[3] = {{.ndim = 2, .shape = {4, 8}, .layout = GC_STRIDED},
					 {.ndim = 1, .shape = {8}},
					 {.ndim = 1, .shape = {8}}};

		failed |= gc_check("gpu layer_norm", 3, in, gc_layer_norm, NULL, NULL);
	}
	{
		struct gc_input in[1] = {{.ndim = 3, .shape = {3, 4, 5}, .layout = GC_TRANSPOSED}};

		failed |= gc_check("gpu mean", 1, in, gc_mean, NULL, NULL);
	}
	{
		struct gc_input in[1] = {{.ndim = 2, .shape = {5, 6}}};

		failed |= gc_check("gpu dropout", 1, in, gc_dropout, NULL, NULL);
	}
	gc_set_device(previous);
	assert_int_equal(failed, 0);
}

/* ---- parameters and optimizers on the GPU ---- */

struct param_spec {
	const char *name;
	int ndim;
	int64_t shape[2];
	unsigned flags;
};

static const struct param_spec opt_params[] = {
	{"fc1.weight", 2, {37, 19}, 0},
	{"fc1.bias", 1, {37}, AX_PARAM_NO_DECAY},
	{"fc2.weight", 2, {5, 37}, 0},
	{"frozen.weight", 2, {3, 3}, AX_PARAM_FROZEN},
};
#define N_OPT_PARAMS ((int)N_CASES(opt_params))

static struct ax_params *make_params(struct ax_device device, const struct param_spec *specs,
				     int n, float *const *values)
{
	struct ax_params *params = NULL;

	TU_OK(ax_params_create(device, &params));
	for (int i = 0; i < n; i++) {
		struct ax_tensor *t;

		TU_OK(ax_params_add(params, specs[i].name, specs[i].ndim, specs[i].shape,
				    specs[i].flags, &t));
	}
	TU_OK(ax_params_finalize(params));
	for (int i = 0; i < n; i++) {
		struct ax_tensor *t = ax_params_get(params, i);

		TU_OK(ax_tensor_upload(t, values[i], (size_t)ax_tensor_numel(t) * sizeof(float)));
	}
	return params;
}

static void set_grads(struct ax_params *params, float *const *grads)
{
	for (int i = 0; i < ax_params_count(params); i++) {
		struct ax_tensor *t = ax_params_get(params, i);

		assert_non_null(t->grad);
		TU_OK(ax_tensor_upload(t->grad, grads[i],
				       (size_t)ax_tensor_numel(t) * sizeof(float)));
	}
}

/* Parameter values (or gradients) of both stores compared one by one. */
static void compare_params(const char *label, struct ax_params *gpu, struct ax_params *cpu,
			   int grads, struct tol tol)
{
	for (int i = 0; i < ax_params_count(cpu); i++) {
		struct ax_tensor *tc = ax_params_get(cpu, i), *tg = ax_params_get(gpu, i);
		float *vc = cc_fetch(grads ? tc->grad : tc), *vg = cc_fetch(grads ? tg->grad : tg);
		char what[96];

		snprintf(what, sizeof(what), "%s %s", tc->name, grads ? "gradient" : "value");
		cc_compare(label, what, vg, vc, ax_tensor_numel(tc), tol);
		free(vc);
		free(vg);
	}
}

/* The optimizer state of parameter slices, read from the GPU through a
 * tensor wrapped over the state buffer. */
static void compare_state(const char *label, struct ax_optimizer *gpu, struct ax_optimizer *cpu,
			  struct ax_params *params, struct ax_ctx *gctx)
{
	int64_t size = ax_params_size(params);
	float *back = malloc((size_t)size * sizeof(float));

	assert_non_null(back);
	assert_int_equal(ax_optimizer_state_count(gpu), ax_optimizer_state_count(cpu));
	assert_int_equal(ax_optimizer_step_count(gpu), ax_optimizer_step_count(cpu));
	for (int s = 0; s < ax_optimizer_state_count(cpu); s++) {
		const char *name_c, *name_g;
		float *buf_c, *buf_g;
		struct ax_tensor *t;

		TU_OK(ax_optimizer_state(cpu, s, &name_c, &buf_c));
		TU_OK(ax_optimizer_state(gpu, s, &name_g, &buf_g));
		assert_string_equal(name_g, name_c);
		TU_OK(ax_tensor_wrap(gctx, AX_F32, 1, &size, buf_g, &t));
		TU_OK(ax_tensor_download(t, back, (size_t)size * sizeof(float)));
		for (int i = 0; i < ax_params_count(params); i++) {
			int64_t off = ax_params_offset(params, i);
			int64_t n = ax_tensor_numel(ax_params_get(params, i));
			double scale = 0;
			char what[96];

			/* 1e-6 of the buffer's scale: a momentum that cancels to near 0
			 * keeps the absolute rounding error of its larger terms. */
			for (int64_t j = 0; j < n; j++)
				scale = fmax(scale, fabs((double)buf_c[off + j]));
			snprintf(what, sizeof(what), "%s of %s", name_c,
				 ax_params_get(params, i)->name);
			cc_compare(label, what, back + off, buf_c + off, n,
				(struct tol){1e-6 * scale, 1e-6});
		}
	}
	free(back);
}

static void free_all(float **arrays, int n)
{
	for (int i = 0; i < n; i++)
		free(arrays[i]);
}

static void random_arrays(float **arrays, const struct param_spec *specs, int n,
			  struct ax_rng *rng, float scale)
{
	for (int i = 0; i < n; i++) {
		int64_t numel = specs[i].shape[0] * (specs[i].ndim > 1 ? specs[i].shape[1] : 1);

		arrays[i] = malloc((size_t)numel * sizeof(float));
		assert_non_null(arrays[i]);
		ax_rng_uniform(rng, arrays[i], numel, -scale, scale);
	}
}

/* 5 steps on identical parameters and gradients: the values agree within
 * 1e-6 relative (both sides evaluate the same update in f32; only the
 * rounding of sqrt and division may differ by an ulp), and so does the
 * state. The frozen parameter never moves on either side. */
static void optimizer_case(const char *label, const struct ax_optim_options *options)
{
	struct ax_rng rng;
	float *values[N_OPT_PARAMS], *grads[N_OPT_PARAMS];
	struct ax_params *pc, *pg;
	struct ax_optimizer *oc = NULL, *og = NULL;
	struct ax_ctx *gctx = cc_make_ctx(GPU, AX_PRECISION_F32, 1);
	float *frozen_before, *frozen_after;

	ax_rng_init(&rng, cc_seed_of(label));
	random_arrays(values, opt_params, N_OPT_PARAMS, &rng, 0.5f);
	pc = make_params(AX_CPU, opt_params, N_OPT_PARAMS, values);
	pg = make_params(GPU, opt_params, N_OPT_PARAMS, values);
	assert_true(ax_params_device(pg).kind == AX_DEVICE_CUDA);
	TU_OK(ax_optimizer_create(pc, options, &oc));
	TU_OK(ax_optimizer_create(pg, options, &og));
	frozen_before = cc_fetch(ax_params_get(pg, N_OPT_PARAMS - 1));
	for (int step = 0; step < 5; step++) {
		float lr = 0.01f / (float)(1 + step);

		random_arrays(grads, opt_params, N_OPT_PARAMS, &rng, 1.0f + (float)step);
		set_grads(pc, grads);
		set_grads(pg, grads);
		free_all(grads, N_OPT_PARAMS);
		TU_OK(ax_optimizer_step(oc, lr));
		TU_OK(ax_optimizer_step(og, lr));
		compare_params(label, pg, pc, 0, (struct tol){1e-8, 1e-6});
	}
	compare_state(label, og, oc, pg, gctx);
	frozen_after = cc_fetch(ax_params_get(pg, N_OPT_PARAMS - 1));
	assert_memory_equal(frozen_after, frozen_before, 9 * sizeof(float));
	free(frozen_before);
	free(frozen_after);
	free_all(values, N_OPT_PARAMS);
	ax_optimizer_destroy(oc);
	ax_optimizer_destroy(og);
	ax_params_destroy(pc);
	ax_params_destroy(pg);
	ax_ctx_destroy(gctx);
}

static void test_optimizers(void **state)
{
	struct ax_optim_options adamw = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_optim_options adam = ax_optim_defaults(AX_OPTIM_ADAM);
	struct ax_optim_options sgd = ax_optim_defaults(AX_OPTIM_SGD);
	struct ax_optim_options nesterov = ax_optim_defaults(AX_OPTIM_SGD);
	struct ax_optim_options plain = ax_optim_defaults(AX_OPTIM_SGD);

	(void)state;
	adamw.weight_decay = 0.05f;
	optimizer_case("AdamW", &adamw);
	adam.weight_decay = 0.01f;
	optimizer_case("Adam, coupled decay", &adam);
	sgd.momentum = 0.9f;
	sgd.dampening = 0.1f;
	sgd.weight_decay = 0.01f;
	optimizer_case("SGD momentum 0.9, dampening 0.1", &sgd);
	nesterov.momentum = 0.9f;
	nesterov.nesterov = 1;
	nesterov.weight_decay = 1e-3f;
	optimizer_case("SGD Nesterov", &nesterov);
	optimizer_case("SGD plain", &plain);
}

/* The global gradient norm (frozen parameters excluded) and clipping. */
static void test_grad_norm_clip(void **state)
{
	struct ax_rng rng;
	float *values[N_OPT_PARAMS], *grads[N_OPT_PARAMS];
	struct ax_params *pc, *pg;
	double norm_c, norm_g, before_c, before_g;

	(void)state;
	ax_rng_init(&rng, 99);
	random_arrays(values, opt_params, N_OPT_PARAMS, &rng, 0.5f);
	random_arrays(grads, opt_params, N_OPT_PARAMS, &rng, 2.0f);
	pc = make_params(AX_CPU, opt_params, N_OPT_PARAMS, values);
	pg = make_params(GPU, opt_params, N_OPT_PARAMS, values);
	set_grads(pc, grads);
	set_grads(pg, grads);
	TU_OK(ax_grad_norm(pc, &norm_c));
	TU_OK(ax_grad_norm(pg, &norm_g));
	assert_true(fabs(norm_g - norm_c) <= 1e-6 * norm_c);
	TU_OK(ax_clip_grad_norm(pc, (float)(norm_c / 3), &before_c));
	TU_OK(ax_clip_grad_norm(pg, (float)(norm_c / 3), &before_g));
	assert_true(fabs(before_g - before_c) <= 1e-6 * before_c);
	compare_params("clip_grad_norm", pg, pc, 1, (struct tol){1e-8, 1e-6});
	/* Not clipped when under the limit: the gradients are unchanged. */
	TU_OK(ax_clip_grad_norm(pg, 1e30f, NULL));
	compare_params("clip_grad_norm, no clipping", pg, pc, 1, (struct tol){1e-8, 1e-6});
	TU_OK(ax_params_zero_grad(pg));
	for (int i = 0; i < N_OPT_PARAMS; i++) {
		struct ax_tensor *t = ax_params_get(pg, i);
		float *g = cc_fetch(t->grad);

		for (int64_t j = 0; j < ax_tensor_numel(t); j++)
			assert_true(g[j] == 0.0f);
		free(g);
	}
	free_all(values, N_OPT_PARAMS);
	free_all(grads, N_OPT_PARAMS);
	ax_params_destroy(pc);
	ax_params_destroy(pg);
}

/* Three training steps of a small MLP (linear, relu, dropout, linear,
 * cross-entropy, AdamW) with the parameters on each device: the losses,
 * the parameter gradients (which land in the flat gradient buffer) and the
 * parameters after each step agree. */
static void test_mlp_steps(void **state)
{
	static const struct param_spec specs[] = {
		{"fc1.weight", 2, {32, 20}, 0},
		{"fc1.bias", 1, {32}, AX_PARAM_NO_DECAY},
		{"fc2.weight", 2, {5, 32}, 0},
		{"fc2.bias", 1, {5}, AX_PARAM_NO_DECAY},
	};
	enum { N = 4, B = 16, IN = 20 };
	const int64_t xs[2] = {B, IN}, ys[1] = {B};
	struct ax_optim_options oo = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_params *params[2];
	struct ax_optimizer *opt[2];
	struct ax_ctx *ctx[2];
	float *values[N], x[B * IN];
	int32_t y[B];
	struct ax_rng rng;

	(void)state;
	ax_rng_init(&rng, 5);
	random_arrays(values, specs, N, &rng, 0.3f);
	params[0] = make_params(AX_CPU, specs, N, values);
	params[1] = make_params(GPU, specs, N, values);
	for (int s = 0; s < 2; s++) {
		TU_OK(ax_optimizer_create(params[s], &oo, &opt[s]));
		ctx[s] = cc_make_ctx(s ? GPU : AX_CPU, AX_PRECISION_F32, 11);
	}
	for (int step = 0; step < 3; step++) {
		float loss[2];

		ax_rng_uniform(&rng, x, B * IN, -2.0f, 2.0f);
		for (int i = 0; i < B; i++)
			y[i] = (int32_t)((i * 7 + step) % 5);
		for (int s = 0; s < 2; s++) {
			struct ax_params *p = params[s];
			struct ax_tensor *xt = cc_put(ctx[s], AX_F32, 2, xs, x);
			struct ax_tensor *yt = cc_put(ctx[s], AX_I32, 1, ys, y), *h, *l;

			TU_OK(ax_params_zero_grad(p));
			TU_OK(ax_linear(ctx[s], xt, ax_params_get(p, 0), ax_params_get(p, 1), &h));
			TU_OK(ax_relu(ctx[s], h, &h));
			TU_OK(ax_dropout(ctx[s], h, 0.25f, &h));
			TU_OK(ax_linear(ctx[s], h, ax_params_get(p, 2), ax_params_get(p, 3), &h));
			TU_OK(ax_cross_entropy(ctx[s], h, yt, NULL, &l));
			TU_OK(ax_backward(ctx[s], l));
			TU_OK(ax_tensor_download(l, &loss[s], sizeof(float)));
		}
		cc_compare("mlp step", "loss", &loss[1], &loss[0], 1, (struct tol){1e-5, 1e-5});
		compare_params("mlp step", params[1], params[0], 1, (struct tol){1e-5, 1e-4});
		for (int s = 0; s < 2; s++) {
			TU_OK(ax_optimizer_step(opt[s], 1e-2f));
			TU_OK(ax_ctx_reset(ctx[s]));
		}
		compare_params("mlp step", params[1], params[0], 0, (struct tol){1e-6, 1e-5});
	}
	for (int s = 0; s < 2; s++) {
		ax_optimizer_destroy(opt[s]);
		ax_params_destroy(params[s]);
		ax_ctx_destroy(ctx[s]);
	}
	free_all(values, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gradcheck_gpu),
		cmocka_unit_test(test_optimizers),
		cmocka_unit_test(test_grad_norm_clip),
		cmocka_unit_test(test_mlp_steps),
	};

	if (!ax_cuda_available()) {
		printf("SKIP: no usable CUDA GPU (axon %s, %s)\n", ax_version(), ax_build_info());
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
