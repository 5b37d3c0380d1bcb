/* cuda_compare.h - what the CUDA tests (test_cuda_ops.c, test_cuda_ops_nn.c,
 * test_cuda_train.c) share: comparing device results with CPU ones, host
 * copies of device tensors, contexts on a device; and the op-case harness
 * of the two op tests, test_cuda_ops.c and test_cuda_ops_nn.c (static
 * inline below). */
#ifndef AXON_TEST_CUDA_COMPARE_H
#define AXON_TEST_CUDA_COMPARE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/axon.h"
#include "testutil.h"

#define CC_GPU ((struct ax_device){AX_DEVICE_CUDA, 0})

struct tol {
	double atol, rtol;
};

/* Fails (cmocka) naming label, what, the first element with
 * |gpu - cpu| > atol + rtol |cpu| and both values; NaN matches NaN. */
void cc_compare(const char *label, const char *what, const float *gpu, const float *cpu,
		int64_t n, struct tol tol);

/* A malloc'd row-major host copy of any f32 tensor on any device (views too). */
float *cc_fetch(const struct ax_tensor *t);

/* A new contiguous tensor on ctx's device holding `values`. */
struct ax_tensor *cc_put(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim, const int64_t *shape,
			 const void *values);

struct ax_ctx *cc_make_ctx(struct ax_device device, enum ax_precision precision, uint64_t seed);

/* A seed derived from a case label (FNV-1a), so each case draws its own data. */
uint64_t cc_seed_of(const char *label);

/* ==== the op cases of test_cuda_ops.c and test_cuda_ops_nn.c ====
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
 * view ops. */

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

static inline void tol_of(enum tol_kind kind, int64_t k, struct tol *fwd, struct tol *bwd)
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
static inline void compare_zeros(const char *label, const char *what, const float *gpu,
				 const float *cpu, int64_t n)
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

static inline void prepare(struct prepared *p, const struct input *in, struct ax_rng *rng,
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
static inline void make_input(struct ax_ctx *ctx, const struct input *in,
			      const struct prepared *p, struct ax_tensor **base,
			      struct ax_tensor **view)
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

static inline void run_forward(struct side *s, const struct op_case *c, const struct prepared *p,
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

static inline void run_backward(struct side *s, const struct op_case *c, const float *cot)
{
	struct ax_tensor *seed = cc_put(s->ctx, AX_F32, s->y->ndim, s->y->shape, cot);
	enum ax_status st = ax_backward_with(s->ctx, s->y, seed);

	if (st)
		fail_msg("%s on %s: backward: %s: %s", c->label,
			 s->y->device.kind == AX_DEVICE_CPU ? "cpu" : "cuda", ax_status_name(st),
			 ax_last_error());
}

/* The gradient of input k as a row-major host array (zeros when none). */
static inline float *grad_of(const struct side *s, int k, int64_t numel)
{
	const struct ax_tensor *g = s->base[k]->grad;
	float *out;

	if (g)
		return cc_fetch(g);
	out = calloc((size_t)(numel ? numel : 1), sizeof(float));
	assert_non_null(out);
	return out;
}

static inline void run_case(const struct op_case *c)
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
	run_forward(&gpu, c, p, CC_GPU, c->precision);

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
				fail_msg("%s: the CPU computed no gradient for input %d",
					 c->label, k);
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

static inline void run_cases(const struct op_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

/* Input shorthands. */
#define F2(a, b) {.ndim = 2, .shape = {a, b}}
#define F3(a, b, c) {.ndim = 3, .shape = {a, b, c}}
#define F1(a) {.ndim = 1, .shape = {a}}
#define VIEW2(a, b, v) {.ndim = 2, .shape = {a, b}, .view = v}
#define VIEW3(a, b, c, v) {.ndim = 3, .shape = {a, b, c}, .view = v}
#define ABSENT {.absent = 1}

/* ---- the unary ops' build function (elementwise, shape ops, bf16 context) ---- */

enum unary_kind {
	U_AFFINE, U_ADD_SCALAR, U_MUL_SCALAR, U_POW, U_EXP, U_LOG, U_SQRT, U_RELU, U_LEAKY,
	U_GELU_ERF, U_GELU_TANH, U_SIGMOID, U_TANH, U_TO_F32, U_CONTIGUOUS,
};

struct unary_arg {
	enum unary_kind kind;
	float a, b;
};

static inline enum ax_status b_unary(struct ax_ctx *ctx, struct ax_tensor **in,
				     const void *arg, struct ax_tensor **out)
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

#endif
