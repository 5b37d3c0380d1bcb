/* test_cuda_ops.c - every op on the GPU against the same op on the CPU.
 *
 * For each case the inputs are drawn once on the host; a CPU context and a
 * CUDA context each get their own copy (ax_tensor_new + ax_tensor_upload of
 * the same bytes), run the op forward, then backward with the same random
 * cotangent (ax_backward_with). The forward output and the gradient of every
 * input that requires one are brought back to the host and compared element
 * by element:
 *
 *     |gpu - cpu| <= atol + rtol * |cpu|
 *
 * Tolerances (tol_of below), and why:
 *   elementwise  atol 1e-5, rtol 1e-4. The GPU evaluates the same formula with
 *                CUDA's libm (expf, logf, erff, tanhf, powf: <= 4 ulp) where
 *                the CPU uses glibc's (<= 1 ulp); a few ulp is ~5e-7 relative,
 *                so 1e-4 leaves a wide margin while any indexing, broadcast or
 *                formula mistake (errors of order 1) fails. atol covers
 *                outputs that cancel to near 0 (gelu near 0, log near 1).
 *   f32 GEMM     atol = rtol = 2e-5 * sqrt(K), K the longest reduction of the
 *                case (forward K, or M / N for the weight / input gradients).
 *                cuBLAS sums in another order (tiles, split-K) than OpenBLAS;
 *                with inputs in U(-1, 1) each order's rounding error is a
 *                random walk of ~sqrt(K) * 6e-8 * |partial sums|, ~1e-6 here,
 *                so 2e-5 * sqrt(K) is ~100x that. It is still below what TF32
 *                (10-bit mantissa, ~5e-4 per product) would give, so a kernel
 *                that let cuBLAS use TF32 fails.
 *   bf16 GEMM    atol 5e-3 * sqrt(K), rtol 1e-2, against the CPU's f32: each
 *                operand rounded to bf16 (8 bits, relative error <= 2^-9)
 *                makes each product off by ~1.6e-3 rms, the sum off by
 *                ~sqrt(K) * 5e-4 rms for U(-1, 1) inputs; the bound is ~9
 *                standard deviations.
 *   reductions   atol max(1e-5, 2e-6 * sqrt(n)), rtol 1e-4 (sum, mean, mse,
 *                layer_norm over n elements): a different summation order, as
 *                for GEMMs (the CPU sums in double; a float tree sum on the
 *                GPU also fits).
 *   cross-entropy forward elementwise; backward atol 1e-6 (the gradient is
 *                scaled by 1/N, so 1e-5 would be loose).
 *   exact        concat, contiguous, reshape/permute/slice, to_f32 of bytes:
 *                copies must be bit-identical (atol = rtol = 0).
 *   dropout      the mask is a pure function of the context RNG, the same
 *                Philox stream on both devices: zeros must be in exactly the
 *                same places (checked separately, element by element) and the
 *                kept values agree to rounding of x * scale (rtol 1e-6).
 * After every case the two context RNGs must be at the same counter (an op
 * that consumes random numbers consumes the same amount on both devices).
 *
 * Strided inputs: an input can be a transposed view (ax_transpose), a
 * permuted one (ax_permute) or a slice with a step of 2 along the rows or the
 * last axis (ax_slice), made on each device from a contiguous uploaded base;
 * its gradient is then the base's, which also tests the backward of those
 * view ops.
 *
 * Also here: an op given a CPU tensor on a CUDA context (and the reverse)
 * fails with AX_ERR_DEVICE. Gradient checks, optimizers and training steps on
 * the GPU are in test_cuda_train.c.
 *
 * Exits 77 (ctest: skipped) when this build or machine has no usable GPU. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_compare.h"

#define GPU CC_GPU
#define MAX_IN 6

/* ---- tolerances ---- */

enum tol_kind {
	T_ELEM = 0, /* elementwise */
	T_EXACT,    /* copies */
	T_GEMM,     /* f32 GEMM, reduction length k */
	T_BF16,     /* bf16 GEMM, reduction length k */
	T_REDUCE,   /* sums over k elements */
	T_CE,       /* cross-entropy */
	T_DROPOUT,  /* dropout: exact zeros, kept values to rounding */
};

static void tol_of(enum tol_kind kind, int64_t k, struct tol *fwd, struct tol *bwd)
{
	double root = sqrt((double)(k > 0 ? k : 1));

	switch (kind) {
	case T_EXACT:
		*fwd = (struct tol){0.0, 0.0};
		break;
	case T_GEMM:
		*fwd = (struct tol){2e-5 * root, 2e-5 * root};
		break;
	case T_BF16:
		*fwd = (struct tol){5e-3 * root, 1e-2};
		break;
	case T_REDUCE:
		*fwd = (struct tol){2e-6 * root > 1e-5 ? 2e-6 * root : 1e-5, 1e-4};
		break;
	case T_DROPOUT:
		*fwd = (struct tol){0.0, 1e-6};
		break;
	case T_CE:
	case T_ELEM:
	default:
		*fwd = (struct tol){1e-5, 1e-4};
		break;
	}
	*bwd = *fwd;
	if (kind == T_CE)
		bwd->atol = 1e-6;
}

/* Dropout: a zero on one device and not on the other is a different mask. */
static void compare_zeros(const char *label, const char *what, const float *gpu, const float *cpu,
			  int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if ((gpu[i] == 0.0f) != (cpu[i] == 0.0f))
			fail_msg("%s: %s element %lld: gpu %.9g, cpu %.9g (the masks differ)",
				 label, what, (long long)i, gpu[i], cpu[i]);
	}
}

/* ---- cases ---- */

enum view_kind {
	V_PLAIN = 0,
	V_TRANSPOSE,  /* base has the last two axes swapped; ax_transpose */
	V_PERMUTE,    /* 3-D: base (s1, s2, s0), ax_permute {2, 0, 1} */
	V_SLICE_ROWS, /* base has 2 s0 + 1 rows; ax_slice axis 0, start 1, step 2 */
	V_SLICE_LAST, /* base has 2 s_last on the last axis; ax_slice start 1, step 2 */
};

struct input {
	int ndim;
	int64_t shape[AX_MAX_DIMS]; /* as the op sees it */
	enum ax_dtype dtype;
	enum view_kind view;
	float lo, hi;               /* U(lo, hi); both 0: U(-1, 1) */
	float min_abs;              /* redraw |x| < min_abs (kinks) */
	const void *values;         /* fixed values (labels, indices, bytes); V_PLAIN only */
	int no_grad;                /* an f32 input that does not require a gradient */
	int absent;                 /* an optional input passed as NULL */
};

typedef enum ax_status (*build_fn)(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
				   struct ax_tensor **out);

struct op_case {
	const char *label;
	build_fn build;
	const void *arg;
	int n_in;
	struct input in[MAX_IN];
	enum tol_kind tol;
	int64_t k;                  /* reduction length for T_GEMM, T_BF16, T_REDUCE */
	enum ax_precision precision; /* of the GPU context */
};

/* An input's base (what is uploaded) and its values. */
struct prepared {
	int ndim;
	int64_t shape[AX_MAX_DIMS];
	int64_t numel;
	void *host;
	int grad;
};

static void prepare(struct prepared *p, const struct input *in, struct ax_rng *rng,
		    const char *label)
{
	size_t elem = ax_dtype_size(in->dtype);
	int nd = in->ndim;

	memset(p, 0, sizeof(*p));
	if (in->absent)
		return;
	p->ndim = nd;
	memcpy(p->shape, in->shape, sizeof(p->shape));
	switch (in->view) {
	case V_TRANSPOSE:
		assert_true(nd >= 2);
		p->shape[nd - 2] = in->shape[nd - 1];
		p->shape[nd - 1] = in->shape[nd - 2];
		break;
	case V_PERMUTE:
		assert_int_equal(nd, 3);
		p->shape[0] = in->shape[1];
		p->shape[1] = in->shape[2];
		p->shape[2] = in->shape[0];
		break;
	case V_SLICE_ROWS:
		p->shape[0] = 2 * in->shape[0] + 1;
		break;
	case V_SLICE_LAST:
		p->shape[nd - 1] = 2 * in->shape[nd - 1];
		break;
	case V_PLAIN:
		break;
	}
	p->numel = 1;
	for (int d = 0; d < nd; d++)
		p->numel *= p->shape[d];
	p->host = malloc((size_t)(p->numel ? p->numel : 1) * elem);
	assert_non_null(p->host);
	if (in->values) {
		if (in->view != V_PLAIN)
			fail_msg("%s: fixed values need a plain input", label);
		memcpy(p->host, in->values, (size_t)p->numel * elem);
	} else if (in->dtype == AX_F32) {
		float lo = in->lo, hi = in->hi, *v = p->host;

		if (lo == 0.0f && hi == 0.0f) {
			lo = -1.0f;
			hi = 1.0f;
		}
		for (int64_t i = 0; i < p->numel; i++) {
			do
				ax_rng_uniform(rng, &v[i], 1, lo, hi);
			while (fabsf(v[i]) < in->min_abs);
		}
	} else {
		fail_msg("%s: a %s input needs fixed values", label, ax_dtype_name(in->dtype));
	}
	p->grad = in->dtype == AX_F32 && !in->no_grad;
}

/* The base tensor on ctx's device, and the view of it the op gets. */
static void make_input(struct ax_ctx *ctx, const struct input *in, const struct prepared *p,
		       struct ax_tensor **base, struct ax_tensor **view)
{
	static const int perm[3] = {2, 0, 1};
	int nd = in->ndim;

	*base = *view = NULL;
	if (in->absent)
		return;
	*base = cc_put(ctx, in->dtype, p->ndim, p->shape, p->host);
	if (p->grad)
		TU_OK(ax_tensor_set_requires_grad(*base, 1));
	switch (in->view) {
	case V_PLAIN:
		*view = *base;
		break;
	case V_TRANSPOSE:
		TU_OK(ax_transpose(ctx, *base, nd - 2, nd - 1, view));
		break;
	case V_PERMUTE:
		TU_OK(ax_permute(ctx, *base, perm, view));
		break;
	case V_SLICE_ROWS:
		TU_OK(ax_slice(ctx, *base, 0, 1, p->shape[0], 2, view));
		break;
	case V_SLICE_LAST:
		TU_OK(ax_slice(ctx, *base, nd - 1, 1, p->shape[nd - 1], 2, view));
		break;
	}
	for (int d = 0; d < nd; d++)
		assert_int_equal((*view)->shape[d], in->shape[d]);
}

struct side {
	struct ax_ctx *ctx;
	struct ax_tensor *base[MAX_IN], *in[MAX_IN], *y;
};

static void run_forward(struct side *s, const struct op_case *c, const struct prepared *p,
			struct ax_device device, enum ax_precision precision)
{
	char name[32];
	enum ax_status st;

	s->ctx = cc_make_ctx(device, precision, cc_seed_of(c->label) ^ 0x5eedULL);
	for (int k = 0; k < MAX_IN; k++)
		s->base[k] = s->in[k] = NULL;
	for (int k = 0; k < c->n_in; k++)
		make_input(s->ctx, &c->in[k], &p[k], &s->base[k], &s->in[k]);
	st = c->build(s->ctx, s->in, c->arg, &s->y);
	if (st)
		fail_msg("%s on %s: %s: %s", c->label, ax_device_name(device, name, sizeof(name)),
			 ax_status_name(st), ax_last_error());
	assert_int_equal(s->y->dtype, AX_F32);
}

static void run_backward(struct side *s, const struct op_case *c, const float *cot)
{
	struct ax_tensor *seed = cc_put(s->ctx, AX_F32, s->y->ndim, s->y->shape, cot);
	enum ax_status st = ax_backward_with(s->ctx, s->y, seed);

	if (st)
		fail_msg("%s on %s: backward: %s: %s", c->label,
			 s->y->device.kind == AX_DEVICE_CPU ? "cpu" : "cuda", ax_status_name(st),
			 ax_last_error());
}

/* The gradient of input k as a row-major host array (zeros when none). */
static float *grad_of(const struct side *s, int k, int64_t numel)
{
	const struct ax_tensor *g = s->base[k]->grad;
	float *out;

	if (g)
		return cc_fetch(g);
	out = calloc((size_t)(numel ? numel : 1), sizeof(float));
	assert_non_null(out);
	return out;
}

static void run_case(const struct op_case *c)
{
	struct prepared p[MAX_IN];
	struct side cpu, gpu;
	struct tol fwd, bwd;
	struct ax_rng rng;
	float *cot = NULL, *ycpu, *ygpu;
	int64_t ny;
	int exact_zeros = c->tol == T_DROPOUT;

	tol_of(c->tol, c->k, &fwd, &bwd);
	ax_rng_init(&rng, cc_seed_of(c->label));
	for (int k = 0; k < c->n_in; k++)
		prepare(&p[k], &c->in[k], &rng, c->label);
	run_forward(&cpu, c, p, AX_CPU, AX_PRECISION_F32);
	run_forward(&gpu, c, p, GPU, c->precision);

	assert_int_equal(gpu.y->ndim, cpu.y->ndim);
	for (int d = 0; d < cpu.y->ndim; d++)
		assert_int_equal(gpu.y->shape[d], cpu.y->shape[d]);
	assert_true(gpu.y->device.kind == AX_DEVICE_CUDA);
	ny = ax_tensor_numel(cpu.y);
	ycpu = cc_fetch(cpu.y);
	ygpu = cc_fetch(gpu.y);
	cc_compare(c->label, "forward", ygpu, ycpu, ny, fwd);
	if (exact_zeros)
		compare_zeros(c->label, "forward", ygpu, ycpu, ny);
	free(ycpu);
	free(ygpu);

	assert_int_equal(!!(gpu.y->flags & AX_TENSOR_REQUIRES_GRAD),
			 !!(cpu.y->flags & AX_TENSOR_REQUIRES_GRAD));
	if (cpu.y->flags & AX_TENSOR_REQUIRES_GRAD) {
		cot = malloc((size_t)(ny ? ny : 1) * sizeof(float));
		assert_non_null(cot);
		ax_rng_uniform(&rng, cot, ny, -1.0f, 1.0f);
		run_backward(&cpu, c, cot);
		run_backward(&gpu, c, cot);
		for (int k = 0; k < c->n_in; k++) {
			char what[48];
			float *gc, *gg;

			if (!p[k].grad)
				continue;
			/* The reference must have produced a gradient, or nothing is compared. */
			if (!cpu.base[k]->grad)
				fail_msg("%s: the CPU computed no gradient for input %d", c->label, k);
			gc = grad_of(&cpu, k, p[k].numel);
			gg = grad_of(&gpu, k, p[k].numel);
			snprintf(what, sizeof(what), "gradient of input %d", k);
			cc_compare(c->label, what, gg, gc, p[k].numel, bwd);
			if (exact_zeros)
				compare_zeros(c->label, what, gg, gc, p[k].numel);
			free(gc);
			free(gg);
		}
	}
	/* Same random numbers consumed on both devices. */
	assert_int_equal(ax_ctx_rng(gpu.ctx)->counter, ax_ctx_rng(cpu.ctx)->counter);
	free(cot);
	for (int k = 0; k < c->n_in; k++)
		free(p[k].host);
	ax_ctx_destroy(cpu.ctx);
	ax_ctx_destroy(gpu.ctx);
}

static void run_cases(const struct op_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* Input shorthands. */
#define F2(a, b) {.ndim = 2, .shape = {a, b}}
#define F3(a, b, c) {.ndim = 3, .shape = {a, b, c}}
#define F1(a) {.ndim = 1, .shape = {a}}
#define VIEW2(a, b, v) {.ndim = 2, .shape = {a, b}, .view = v}
#define VIEW3(a, b, c, v) {.ndim = 3, .shape = {a, b, c}, .view = v}
#define ABSENT {.absent = 1}

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

enum unary_kind {
	U_AFFINE, U_ADD_SCALAR, U_MUL_SCALAR, U_POW, U_EXP, U_LOG, U_SQRT, U_RELU, U_LEAKY,
	U_GELU_ERF, U_GELU_TANH, U_SIGMOID, U_TANH, U_TO_F32, U_CONTIGUOUS,
};

struct unary_arg {
	enum unary_kind kind;
	float a, b;
};

static enum ax_status b_unary(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			      struct ax_tensor **out)
{
	const struct unary_arg *u = arg;
	struct ax_tensor *x = in[0];

	switch (u->kind) {
	case U_AFFINE:
		return ax_affine(ctx, x, u->a, u->b, out);
	case U_ADD_SCALAR:
		return ax_add_scalar(ctx, x, u->a, out);
	case U_MUL_SCALAR:
		return ax_mul_scalar(ctx, x, u->a, out);
	case U_POW:
		return ax_pow_scalar(ctx, x, u->a, out);
	case U_EXP:
		return ax_exp(ctx, x, out);
	case U_LOG:
		return ax_log(ctx, x, out);
	case U_SQRT:
		return ax_sqrt(ctx, x, out);
	case U_RELU:
		return ax_relu(ctx, x, out);
	case U_LEAKY:
		return ax_leaky_relu(ctx, x, u->a, out);
	case U_GELU_ERF:
		return ax_gelu(ctx, x, AX_GELU_ERF, out);
	case U_GELU_TANH:
		return ax_gelu(ctx, x, AX_GELU_TANH, out);
	case U_SIGMOID:
		return ax_sigmoid(ctx, x, out);
	case U_TANH:
		return ax_tanh(ctx, x, out);
	case U_TO_F32:
		return ax_to_f32(ctx, x, u->a, u->b, out);
	case U_CONTIGUOUS:
		return ax_contiguous(ctx, x, out);
	}
	return AX_ERR_INVALID;
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

static enum ax_status b_mse(struct ax_ctx *ctx, struct ax_tensor **in, const void *arg,
			    struct ax_tensor **out)
{
	(void)arg;
	return ax_mse(ctx, in[0], in[1], out);
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
		cmocka_unit_test(test_linalg),
		cmocka_unit_test(test_linalg_bf16),
		cmocka_unit_test(test_elementwise),
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_softmax),
		cmocka_unit_test(test_cross_entropy),
		cmocka_unit_test(test_dropout),
		cmocka_unit_test(test_embedding_layer_norm),
		cmocka_unit_test(test_device_mismatch),
	};

	if (!ax_cuda_available()) {
		printf("SKIP: no usable CUDA GPU (axon %s, %s)\n", ax_version(), ax_build_info());
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
