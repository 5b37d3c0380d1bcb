/* test_ops_elementwise.c - add, sub, mul, div, affine, pow_scalar, exp, log,
 * sqrt, relu, leaky_relu, gelu, sigmoid, tanh and to_f32.
 *
 * Every differentiable op is gradient-checked (finite differences, default
 * tolerances) on several shapes and layouts, broadcasting ones on broadcast
 * shape pairs; forward values are compared with double-precision references
 * computed here, including the cases where a naive formula loses accuracy
 * (sigmoid and GELU tails, overflow of exp); and the error paths are checked
 * for their status and message. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "internal.h"

/* ---- helpers ---- */

enum elem_op {
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_AFFINE, OP_ADD_SCALAR, OP_MUL_SCALAR, OP_POW,
	OP_EXP, OP_LOG, OP_SQRT, OP_RELU, OP_LEAKY, OP_GELU_ERF, OP_GELU_TANH, OP_SIGMOID,
	OP_TANH, OP_SQUARE_SELF, OP_ADD_SELF, OP_DIV_SELF,
};

struct elem_case {
	enum elem_op op;
	float p0, p1;
};

/* Runs the op under test; the *_SELF cases feed one input as both operands. */
static enum ax_status run_op(struct ax_ctx *ctx, const struct elem_case *c, struct ax_tensor *a,
			     struct ax_tensor *b, struct ax_tensor **out)
{
	switch (c->op) {
	case OP_ADD: return ax_add(ctx, a, b, out);
	case OP_SUB: return ax_sub(ctx, a, b, out);
	case OP_MUL: return ax_mul(ctx, a, b, out);
	case OP_DIV: return ax_div(ctx, a, b, out);
	case OP_AFFINE: return ax_affine(ctx, a, c->p0, c->p1, out);
	case OP_ADD_SCALAR: return ax_add_scalar(ctx, a, c->p0, out);
	case OP_MUL_SCALAR: return ax_mul_scalar(ctx, a, c->p0, out);
	case OP_POW: return ax_pow_scalar(ctx, a, c->p0, out);
	case OP_EXP: return ax_exp(ctx, a, out);
	case OP_LOG: return ax_log(ctx, a, out);
	case OP_SQRT: return ax_sqrt(ctx, a, out);
	case OP_RELU: return ax_relu(ctx, a, out);
	case OP_LEAKY: return ax_leaky_relu(ctx, a, c->p0, out);
	case OP_GELU_ERF: return ax_gelu(ctx, a, AX_GELU_ERF, out);
	case OP_GELU_TANH: return ax_gelu(ctx, a, AX_GELU_TANH, out);
	case OP_SIGMOID: return ax_sigmoid(ctx, a, out);
	case OP_TANH: return ax_tanh(ctx, a, out);
	case OP_SQUARE_SELF: return ax_mul(ctx, a, a, out);
	case OP_ADD_SELF: return ax_add(ctx, a, a, out);
	case OP_DIV_SELF: return ax_div(ctx, a, a, out);
	}
	return AX_ERR_INVALID;
}

static enum ax_status build(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
			    struct ax_tensor **out)
{
	return run_op(ctx, arg, in[0], in[1], out);
}

static enum ax_status build_unary(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				  struct ax_tensor **out)
{
	return run_op(ctx, arg, in[0], NULL, out);
}

#define SHAPE(...) .ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
		   .shape = {__VA_ARGS__}

/* An f32 view of `values` (row-major, numel of shape) whose last axis is
 * every other element of a buffer twice as wide; the gaps hold NaN. */
static struct ax_tensor *strided_f32(struct ax_ctx *ctx, int ndim, const int64_t *shape,
				     const float *values)
{
	struct ax_tensor *t = tu_tensor(ctx, AX_F32, ndim, shape, NULL);
	int64_t n = ax_tensor_numel(t);
	float *buf = ax_ctx_alloc(ctx, (size_t)(2 * n + 1) * sizeof(float));

	assert_non_null(buf);
	for (int64_t i = 0; i < 2 * n + 1; i++)
		buf[i] = NAN;
	for (int64_t i = 0; i < n; i++)
		buf[2 * i] = values[i];
	t->data = buf;
	for (int d = 0; d < ndim; d++)
		t->stride[d] *= 2;
	return t;
}

static void assert_error_mentions(const char *a, const char *b, const char *c)
{
	const char *msg = ax_last_error();

	if (a && !strstr(msg, a))
		fail_msg("error message \"%s\" does not mention \"%s\"", msg, a);
	if (b && !strstr(msg, b))
		fail_msg("error message \"%s\" does not mention \"%s\"", msg, b);
	if (c && !strstr(msg, c))
		fail_msg("error message \"%s\" does not mention \"%s\"", msg, c);
}

/* ---- gradient checks ---- */

/* Shape pairs for the binary ops: same shape, bias-like broadcast, both sides
 * broadcast, scalars, and every layout. */
static const struct gc_input binary_pairs[][2] = {
	{{SHAPE(3, 4)}, {SHAPE(3, 4)}},
	{{SHAPE(3, 4), .layout = GC_TRANSPOSED}, {SHAPE(3, 4), .layout = GC_STRIDED}},
	{{SHAPE(2, 3, 4), .layout = GC_STRIDED}, {SHAPE(4)}},
	{{SHAPE(4)}, {SHAPE(2, 3, 4), .layout = GC_TRANSPOSED}},
	{{SHAPE(2, 1, 4), .layout = GC_TRANSPOSED}, {SHAPE(3, 1), .layout = GC_STRIDED}},
	{{.ndim = 0}, {SHAPE(2, 3), .layout = GC_TRANSPOSED}},
	{{SHAPE(3, 1)}, {SHAPE(1, 4), .layout = GC_TRANSPOSED}},
	{{SHAPE(5), .layout = GC_STRIDED}, {.ndim = 0}},
	{{SHAPE(2, 3, 1, 4), .layout = GC_STRIDED}, {SHAPE(3, 5, 1), .layout = GC_TRANSPOSED}},
};

static void check_binary(enum elem_op op, float b_lo, float b_hi, float b_min_abs)
{
	struct elem_case c = {op, 0, 0};
	char label[64];

	for (size_t k = 0; k < sizeof(binary_pairs) / sizeof(binary_pairs[0]); k++) {
		struct gc_input in[2] = {binary_pairs[k][0], binary_pairs[k][1]};

		in[1].lo = b_lo;
		in[1].hi = b_hi;
		in[1].min_abs = b_min_abs;
		snprintf(label, sizeof(label), "binary op %d pair %zu", (int)op, k);
		assert_int_equal(gc_check(label, 2, in, build, &c, NULL), 0);
	}
}

static void test_grad_add(void **state)
{
	(void)state;
	check_binary(OP_ADD, 0, 0, 0);
}

static void test_grad_sub(void **state)
{
	(void)state;
	check_binary(OP_SUB, 0, 0, 0);
}

static void test_grad_mul(void **state)
{
	(void)state;
	check_binary(OP_MUL, 0, 0, 0);
}

/* Divisors stay away from 0: |b| in [0.5, 2], both signs. */
static void test_grad_div(void **state)
{
	(void)state;
	check_binary(OP_DIV, -2.0f, 2.0f, 0.5f);
}

/* One tensor as both operands must receive both contributions. */
static void test_grad_same_input_twice(void **state)
{
	const struct gc_input in = {SHAPE(3, 4), .layout = GC_STRIDED};
	const struct gc_input pos = {SHAPE(2, 5), .layout = GC_TRANSPOSED, .lo = 0.5f, .hi = 2.0f};
	struct elem_case sq = {OP_SQUARE_SELF, 0, 0}, add = {OP_ADD_SELF, 0, 0};
	struct elem_case div = {OP_DIV_SELF, 0, 0};
	const float xv[] = {-1.5f, 0.0f, 0.25f, 3.0f};
	const int64_t shape[] = {4};
	struct ax_ctx *ctx = tu_ctx(1);
	struct ax_tensor *x, *y, *seed;
	const float ones[] = {1, 1, 1, 1};
	float got[4];

	(void)state;
	assert_int_equal(gc_check("x*x", 1, &in, build_unary, &sq, NULL), 0);
	assert_int_equal(gc_check("x+x", 1, &in, build_unary, &add, NULL), 0);
	assert_int_equal(gc_check("x/x", 1, &pos, build_unary, &div, NULL), 0);
	/* Exact values: d(x*x)/dx = 2x. */
	x = tu_tensor(ctx, AX_F32, 1, shape, xv);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_mul(ctx, x, x, &y));
	seed = tu_tensor(ctx, AX_F32, 1, shape, ones);
	TU_OK(ax_backward_with(ctx, y, seed));
	assert_non_null(x->grad);
	tu_read(x->grad, got);
	for (int i = 0; i < 4; i++)
		assert_true(got[i] == 2.0f * xv[i]);
	ax_ctx_destroy(ctx);
}

struct unary_spec {
	struct elem_case c;
	float lo, hi, min_abs;
	const char *label;
};

static const struct gc_input unary_shapes[] = {
	{SHAPE(7)},
	{SHAPE(3, 5), .layout = GC_TRANSPOSED},
	{SHAPE(2, 3, 4), .layout = GC_STRIDED},
	{.ndim = 0},
	{SHAPE(4, 1, 3), .layout = GC_TRANSPOSED},
	{SHAPE(2, 1, 6), .layout = GC_STRIDED},
};

static void check_unary(const struct unary_spec *spec)
{
	char label[96];

	for (size_t k = 0; k < sizeof(unary_shapes) / sizeof(unary_shapes[0]); k++) {
		struct gc_input in = unary_shapes[k];

		in.lo = spec->lo;
		in.hi = spec->hi;
		in.min_abs = spec->min_abs;
		snprintf(label, sizeof(label), "%s shape %zu", spec->label, k);
		assert_int_equal(gc_check(label, 1, &in, build_unary, (void *)&spec->c, NULL), 0);
	}
}

/* Ranges: log, sqrt and non-integer powers need x > 0; relu and leaky relu
 * keep |x| >= 0.05 so x +- h never crosses the kink. */
static const struct unary_spec unary_specs[] = {
	{{OP_AFFINE, 2.5f, -1.0f}, 0, 0, 0, "affine"},
	{{OP_ADD_SCALAR, 3.0f, 0}, 0, 0, 0, "add_scalar"},
	{{OP_MUL_SCALAR, -0.5f, 0}, 0, 0, 0, "mul_scalar"},
	{{OP_POW, 2.0f, 0}, -2.0f, 2.0f, 0, "pow 2"},
	{{OP_POW, 3.0f, 0}, -2.0f, 2.0f, 0, "pow 3"},
	{{OP_POW, 1.0f, 0}, -2.0f, 2.0f, 0, "pow 1"},
	{{OP_POW, 0.0f, 0}, -2.0f, 2.0f, 0, "pow 0"},
	{{OP_POW, 0.5f, 0}, 0.3f, 3.0f, 0, "pow 0.5"},
	{{OP_POW, 2.5f, 0}, 0.3f, 2.0f, 0, "pow 2.5"},
	{{OP_POW, -1.5f, 0}, 0.5f, 2.0f, 0, "pow -1.5"},
	{{OP_EXP, 0, 0}, -2.0f, 2.0f, 0, "exp"},
	{{OP_LOG, 0, 0}, 0.3f, 3.0f, 0, "log"},
	{{OP_SQRT, 0, 0}, 0.3f, 3.0f, 0, "sqrt"},
	{{OP_RELU, 0, 0}, 0, 0, 0.05f, "relu"},
	{{OP_LEAKY, 0.1f, 0}, 0, 0, 0.05f, "leaky_relu 0.1"},
	{{OP_LEAKY, -0.3f, 0}, 0, 0, 0.05f, "leaky_relu -0.3"},
	{{OP_GELU_ERF, 0, 0}, -4.0f, 4.0f, 0, "gelu erf"},
	{{OP_GELU_TANH, 0, 0}, -4.0f, 4.0f, 0, "gelu tanh"},
	{{OP_SIGMOID, 0, 0}, -4.0f, 4.0f, 0, "sigmoid"},
	{{OP_TANH, 0, 0}, -3.0f, 3.0f, 0, "tanh"},
};

static void test_grad_unary(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(unary_specs) / sizeof(unary_specs[0]); k++)
		check_unary(&unary_specs[k]);
}

/* A chain, so each backward kernel must add into an existing gradient and
 * read a gradient that is not a leaf's: y = tanh(x) * sigmoid(x) + gelu(exp(x)). */
static enum ax_status build_chain(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				  struct ax_tensor **out)
{
	struct ax_tensor *t, *s, *p, *e, *g;
	enum ax_status st;

	(void)arg;
	if ((st = ax_tanh(ctx, in[0], &t)) || (st = ax_sigmoid(ctx, in[0], &s)) ||
	    (st = ax_mul(ctx, t, s, &p)) || (st = ax_exp(ctx, in[0], &e)) ||
	    (st = ax_gelu(ctx, e, AX_GELU_TANH, &g)))
		return st;
	return ax_add(ctx, p, g, out);
}

static void test_grad_chain(void **state)
{
	const struct gc_input in = {SHAPE(3, 4), .layout = GC_TRANSPOSED, .lo = -2, .hi = 1};

	(void)state;
	assert_int_equal(gc_check("chain", 1, &in, build_chain, NULL, NULL), 0);
}

/* ---- exact backward values at the edges ---- */

static void grad_of_unary(enum elem_op op, float p0, int n, const float *xv, float *gx)
{
	struct ax_ctx *ctx = tu_ctx(2);
	const int64_t shape[] = {n};
	struct elem_case c = {op, p0, 0};
	struct ax_tensor *x, *y, *seed;
	float ones[16];

	assert_true(n <= 16);
	for (int i = 0; i < n; i++)
		ones[i] = 1.0f;
	x = tu_tensor(ctx, AX_F32, 1, shape, xv);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(run_op(ctx, &c, x, NULL, &y));
	seed = tu_tensor(ctx, AX_F32, 1, shape, ones);
	TU_OK(ax_backward_with(ctx, y, seed));
	assert_non_null(x->grad);
	tu_read(x->grad, gx);
	ax_ctx_destroy(ctx);
}

static void test_grad_edges(void **state)
{
	const float xv[] = {-2.0f, 0.0f, 3.0f};
	float g[6];

	(void)state;
	grad_of_unary(OP_RELU, 0, 3, xv, g);
	assert_true(g[0] == 0.0f && g[1] == 0.0f && g[2] == 1.0f); /* 0 at the kink */
	grad_of_unary(OP_LEAKY, 0.1f, 3, xv, g);
	assert_true(g[0] == 0.1f && g[1] == 0.1f && g[2] == 1.0f);
	grad_of_unary(OP_LEAKY, -0.3f, 3, xv, g);
	assert_true(g[0] == -0.3f && g[1] == -0.3f && g[2] == 1.0f);
	grad_of_unary(OP_POW, 0.0f, 3, xv, g); /* x^0: 0 everywhere, not NaN at 0 */
	assert_true(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f);
	grad_of_unary(OP_POW, 3.0f, 3, xv, g);
	assert_true(g[0] == 12.0f && g[1] == 0.0f && g[2] == 27.0f);
	grad_of_unary(OP_SQRT, 0, 3, xv, g); /* NaN below 0, inf at 0, as PyTorch */
	assert_true(isnan(g[0]) && isinf(g[1]) && g[1] > 0);
	assert_true(fabsf(g[2] - (float)(0.5 / sqrt(3.0))) < 1e-7f);
	/* Saturated sigmoid, tanh and GELU: finite, correct limits. */
	{
		const float big[] = {-1000.0f, -30.0f, 30.0f, 1000.0f, -INFINITY, INFINITY};

		grad_of_unary(OP_SIGMOID, 0, 4, big, g);
		for (int i = 0; i < 4; i++)
			assert_true(g[i] >= 0.0f && g[i] < 1e-12f);
		grad_of_unary(OP_TANH, 0, 4, big, g);
		for (int i = 0; i < 4; i++)
			assert_true(g[i] == 0.0f);
		for (int form = 0; form < 2; form++) {
			float gg[6];

			grad_of_unary(form ? OP_GELU_TANH : OP_GELU_ERF, 0, 6, big, gg);
			assert_true(gg[0] == 0.0f && fabsf(gg[1]) < 1e-30f && gg[2] == 1.0f);
			assert_true(gg[3] == 1.0f && gg[4] == 0.0f && gg[5] == 1.0f);
		}
	}
}

/* Broadcast inputs receive the sum over the axes they were stretched along. */
static void test_grad_broadcast_sums(void **state)
{
	struct ax_ctx *ctx = tu_ctx(3);
	const int64_t sa[] = {3, 1}, sb[] = {1, 4}, so[] = {3, 4};
	const float av[] = {1, 2, 3}, bv[] = {-1, 0.5f, 2, 4};
	float seedv[12], ga[3], gb[4];
	struct ax_tensor *a, *b, *y, *seed;

	(void)state;
	for (int i = 0; i < 12; i++)
		seedv[i] = (float)(i + 1);
	a = tu_tensor(ctx, AX_F32, 2, sa, av);
	b = tu_tensor(ctx, AX_F32, 2, sb, bv);
	TU_OK(ax_tensor_set_requires_grad(a, 1));
	TU_OK(ax_tensor_set_requires_grad(b, 1));
	TU_OK(ax_mul(ctx, a, b, &y));
	seed = tu_tensor(ctx, AX_F32, 2, so, seedv);
	TU_OK(ax_backward_with(ctx, y, seed));
	tu_read(a->grad, ga);
	tu_read(b->grad, gb);
	for (int i = 0; i < 3; i++) {
		double want = 0;

		for (int j = 0; j < 4; j++)
			want += seedv[i * 4 + j] * bv[j];
		assert_true(fabs(ga[i] - want) < 1e-5);
	}
	for (int j = 0; j < 4; j++) {
		double want = 0;

		for (int i = 0; i < 3; i++)
			want += seedv[i * 4 + j] * av[i];
		assert_true(fabs(gb[j] - want) < 1e-5);
	}
	ax_ctx_destroy(ctx);
}

/* ---- forward values ---- */

/* out[i,j,k] = a[i,0,k] op b[j,0] for a (2,1,4) strided and b (3,1), against
 * a double reference; and a long dense run (vectorised body plus tail) and a
 * broadcast scalar against per-element float results. */
static void test_forward_binary(void **state)
{
	struct ax_ctx *ctx = tu_ctx(4);
	const int64_t sa[] = {2, 1, 4}, sb[] = {3, 1}, sn[] = {1003}, s0[] = {0, 3}, s3[] = {3};
	float av[8], bv[3], got[24], want[24];
	static float xa[1003], xb[1003], big[1003];
	struct ax_tensor *a, *b, *y, *la, *lb, *z, *e, *scalar;

	(void)state;
	for (int i = 0; i < 8; i++)
		av[i] = 0.75f * (float)i - 2.0f;
	for (int j = 0; j < 3; j++)
		bv[j] = 1.5f - (float)j * 1.25f;
	a = strided_f32(ctx, 3, sa, av);
	b = tu_tensor(ctx, AX_F32, 2, sb, bv);
	for (int op = OP_ADD; op <= OP_DIV; op++) {
		struct elem_case c = {(enum elem_op)op, 0, 0};

		TU_OK(run_op(ctx, &c, a, b, &y));
		assert_int_equal(y->ndim, 3);
		assert_int_equal(y->shape[0], 2);
		assert_int_equal(y->shape[1], 3);
		assert_int_equal(y->shape[2], 4);
		tu_read(y, got);
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 3; j++)
				for (int k = 0; k < 4; k++) {
					double u = av[i * 4 + k], v = bv[j];
					double r = op == OP_ADD ? u + v : op == OP_SUB ? u - v
						   : op == OP_MUL ? u * v : u / v;

					want[(i * 3 + j) * 4 + k] = (float)r;
				}
		tu_assert_close(got, want, 24, 1e-6, 1e-6, "broadcast binary");
	}
	for (int i = 0; i < 1003; i++) {
		xa[i] = sinf((float)i) * 3.0f;
		xb[i] = cosf((float)i * 0.7f) + 2.0f;
	}
	la = tu_tensor(ctx, AX_F32, 1, sn, xa);
	lb = tu_tensor(ctx, AX_F32, 1, sn, xb);
	scalar = tu_tensor(ctx, AX_F32, 0, NULL, (const float[]){0.37f});
	TU_OK(ax_div(ctx, la, lb, &z));
	tu_read(z, big);
	for (int i = 0; i < 1003; i++)
		assert_true(big[i] == xa[i] / xb[i]);
	TU_OK(ax_sub(ctx, scalar, lb, &z));
	tu_read(z, big);
	for (int i = 0; i < 1003; i++)
		assert_true(big[i] == 0.37f - xb[i]);
	TU_OK(ax_mul(ctx, la, scalar, &z));
	tu_read(z, big);
	for (int i = 0; i < 1003; i++)
		assert_true(big[i] == xa[i] * 0.37f);
	/* Empty tensors broadcast and produce an empty result without trouble. */
	e = tu_tensor(ctx, AX_F32, 2, s0, NULL);
	TU_OK(ax_add(ctx, e, tu_tensor(ctx, AX_F32, 1, s3, bv), &z));
	assert_int_equal(z->shape[0], 0);
	assert_int_equal(z->shape[1], 3);
	ax_ctx_destroy(ctx);
}

static double ref_sigmoid(double x)
{
	return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* Reference values in double. GELU-tanh uses the identity
 * 0.5 x (1 + tanh u) = x / (1 + exp(-2u)), which double evaluates without
 * cancellation even where 1 + tanh u is below double's epsilon; a separate
 * check below compares it with the literal formula where that is accurate. */
static double ref_unary(enum elem_op op, double p0, double p1, double x)
{
	double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);

	switch (op) {
	case OP_AFFINE: return p0 * x + p1;
	case OP_POW: return pow(x, p0);
	case OP_EXP: return exp(x);
	case OP_LOG: return log(x);
	case OP_SQRT: return sqrt(x);
	case OP_RELU: return x > 0 || isnan(x) ? x : 0;
	case OP_LEAKY: return x > 0 ? x : p0 * x;
	case OP_GELU_ERF: return 0.5 * x * erfc(-x / sqrt(2.0));
	case OP_GELU_TANH: return x / (1.0 + exp(-2.0 * u));
	case OP_SIGMOID: return ref_sigmoid(x);
	case OP_TANH: return tanh(x);
	default: return NAN;
	}
}

/* Compare op(x) with the double reference: NaN where the reference is NaN,
 * exact infinities, otherwise within `rtol` relative (plus a tiny atol for
 * values that round to 0 in f32). */
static void check_forward(enum elem_op op, float p0, float p1, int n, const float *xv,
			  double rtol, const char *what)
{
	struct ax_ctx *ctx = tu_ctx(5);
	const int64_t shape[] = {n};
	struct elem_case c = {op, p0, p1};
	struct ax_tensor *x, *y;
	float got[64];

	assert_true(n <= 64);
	/* Strided input, to run the kernels' general path as well. */
	x = strided_f32(ctx, 1, shape, xv);
	TU_OK(run_op(ctx, &c, x, NULL, &y));
	tu_read(y, got);
	for (int i = 0; i < n; i++) {
		double want = ref_unary(op, p0, p1, xv[i]);

		if (isnan(want)) {
			if (!isnan(got[i]))
				fail_msg("%s(%g) = %g, expected NaN", what, xv[i], got[i]);
		} else if (isinf(want) || fabs(want) > 3.4e38) {
			if (got[i] != (float)want)
				fail_msg("%s(%g) = %g, expected %g", what, xv[i], got[i], want);
		} else if (!(fabs(got[i] - want) <= 1e-44 + rtol * fabs(want))) {
			fail_msg("%s(%g) = %.9g, expected %.9g (rel err %.3g)", what, xv[i], got[i],
				 want, fabs(got[i] - want) / fabs(want));
		}
	}
	/* The same on a contiguous input: the dense path must agree bit for bit. */
	{
		float dense[64];

		x = tu_tensor(ctx, AX_F32, 1, shape, xv);
		TU_OK(run_op(ctx, &c, x, NULL, &y));
		tu_read(y, dense);
		for (int i = 0; i < n; i++)
			assert_true(memcmp(&dense[i], &got[i], sizeof(float)) == 0 ||
				    (isnan(dense[i]) && isnan(got[i])));
	}
	ax_ctx_destroy(ctx);
}

static void test_forward_unary(void **state)
{
	const float wide[] = {-1000, -80, -30, -6, -5, -3, -1, -0.5f, -1e-3f, 0, 1e-3f, 0.5f, 1,
			      3, 5, 6, 30, 80, 1000, -INFINITY, INFINITY, NAN};
	const float pos[] = {1e-30f, 1e-3f, 0.5f, 1, 2, 10, 1e30f, 0, -1, INFINITY};
	const float mid[] = {-87, -20, -2.5f, -1, 0, 0.25f, 1, 20, 88, 89};
	const float pw[] = {-2, -0.5f, 0, 0.5f, 2, 3};
	const float gelu_x[] = {-80, -30, -9, -6, -5, -3, -1, -0.5f, -1e-3f, 0, 1e-3f, 0.5f, 1, 3,
				5, 30, 1000, INFINITY, NAN};
	int nw = (int)(sizeof(wide) / sizeof(wide[0]));
	int ng = (int)(sizeof(gelu_x) / sizeof(gelu_x[0]));

	(void)state;
	/* Sigmoid and both GELU tails keep full relative accuracy: a naive
	 * 1 + erf or 1 - sigmoid would be off by whole percent at x = -5 and
	 * give 0 or NaN further out. */
	check_forward(OP_SIGMOID, 0, 0, nw, wide, 5e-7, "sigmoid");
	/* GELU: 1e-5 because the tail is ill-conditioned in f32 itself: at
	 * x = -6 the result moves by ~2|x|^2 relative per relative change of x,
	 * so rounding the argument of erfc or exp alone costs ~4e-6. A naive
	 * formula is off by 10% there (and by 100% at -30). */
	check_forward(OP_GELU_ERF, 0, 0, ng, gelu_x, 1e-5, "gelu erf");
	check_forward(OP_GELU_TANH, 0, 0, ng, gelu_x, 1e-5, "gelu tanh");
	check_forward(OP_TANH, 0, 0, nw, wide, 3e-7, "tanh");
	check_forward(OP_RELU, 0, 0, nw, wide, 0, "relu");
	check_forward(OP_LEAKY, 0.1f, 0, nw, wide, 1e-7, "leaky_relu");
	check_forward(OP_AFFINE, -2.5f, 0.75f, nw, wide, 2e-7, "affine");
	check_forward(OP_EXP, 0, 0, 10, mid, 3e-7, "exp"); /* 89 overflows to inf */
	check_forward(OP_LOG, 0, 0, 10, pos, 3e-7, "log"); /* log 0 = -inf, log -1 = NaN */
	check_forward(OP_SQRT, 0, 0, 10, pos, 3e-7, "sqrt");
	check_forward(OP_POW, 3.0f, 0, 6, pw, 3e-7, "pow 3"); /* (-2)^3 = -8 */
	check_forward(OP_POW, 2.0f, 0, 6, pw, 3e-7, "pow 2");
	check_forward(OP_POW, -1.0f, 0, 6, pw, 3e-7, "pow -1"); /* 0^-1 = inf */
	check_forward(OP_POW, 0.0f, 0, 6, pw, 0, "pow 0");      /* 0^0 = 1 */
	check_forward(OP_POW, 1.5f, 0, 6, pw, 3e-7, "pow 1.5"); /* negatives: NaN */
	/* Hand-computed anchors: GELU(1) = Phi(1), GELU(-1) = -Phi(-1). */
	assert_true(fabs(ref_unary(OP_GELU_ERF, 0, 0, 1.0) - 0.8413447460685429) < 1e-15);
	assert_true(fabs(ref_unary(OP_GELU_ERF, 0, 0, -1.0) + 0.15865525393145707) < 1e-15);
	/* The GELU-tanh reference equals PyTorch's literal formula where that is
	 * accurate in double. */
	for (double x = -4; x <= 4; x += 0.5) {
		double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);

		assert_true(fabs(ref_unary(OP_GELU_TANH, 0, 0, x) - 0.5 * x * (1 + tanh(u))) < 1e-12);
	}
}

static void test_to_f32(void **state)
{
	struct ax_ctx *ctx = tu_ctx(6);
	const uint8_t bytes[] = {0, 1, 127, 128, 255, 42};
	const int32_t ints[] = {-7, 0, 123456, -2147483647, 5, 9};
	const float floats[] = {-1.5f, 0, 2.25f, 1e6f, 3, -4};
	const int64_t shape[] = {2, 3};
	struct ax_tensor *x, *y;
	struct ax_ctx_stats stats;
	float got[6];

	(void)state;
	x = tu_tensor(ctx, AX_U8, 2, shape, bytes);
	TU_OK(ax_to_f32(ctx, x, 1.0f / 255.0f, -0.5f, &y));
	assert_int_equal(y->dtype, AX_F32);
	tu_read(y, got);
	for (int i = 0; i < 6; i++)
		assert_true(fabs(got[i] - (bytes[i] / 255.0 - 0.5)) < 1e-7);
	/* i32 through a transposed view: element [r][c] of the (3, 2) view is ints[c*3 + r]. */
	x = tu_tensor(ctx, AX_I32, 2, shape, ints);
	x->shape[0] = 3;
	x->shape[1] = 2;
	x->stride[0] = 1;
	x->stride[1] = 3;
	TU_OK(ax_to_f32(ctx, x, 2.0f, 1.0f, &y));
	assert_int_equal(y->shape[0], 3);
	tu_read(y, got);
	for (int r = 0; r < 3; r++)
		for (int c = 0; c < 2; c++) {
			double want = 2.0 * ints[c * 3 + r] + 1.0;

			assert_true(fabs(got[r * 2 + c] - want) <= 1e-7 * fabs(want) + 1e-7);
		}
	/* f32, strided, requiring a gradient: converted, but never on the tape. */
	x = strided_f32(ctx, 2, shape, floats);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	TU_OK(ax_to_f32(ctx, x, 0.5f, 0.0f, &y));
	tu_read(y, got);
	for (int i = 0; i < 6; i++)
		assert_true(got[i] == 0.5f * floats[i]);
	assert_false(y->flags & AX_TENSOR_REQUIRES_GRAD);
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 0);
	/* The table names a backward that must never run; if it does, it says so. */
	{
		struct ax_node node;

		memset(&node, 0, sizeof(node));
		node.op = AX_OP_TO_F32;
		assert_int_equal(ax_cpu_bwd_to_f32(ctx, &node), AX_ERR_INTERNAL);
		assert_error_mentions("to_f32", "no backward", NULL);
		assert_null(ax_cpu_kernels.bwd[AX_OP_TO_F32]);
	}
	ax_ctx_destroy(ctx);
}

/* ---- recording ---- */

static void test_no_grad_mode(void **state)
{
	struct ax_ctx *ctx = tu_ctx(7);
	const int64_t shape[] = {2, 3};
	const float v[] = {1, -2, 3, -4, 5, 0.5f};
	struct ax_tensor *x, *y, *outs[8];
	struct ax_ctx_stats stats;
	int n = 0;

	(void)state;
	x = tu_tensor(ctx, AX_F32, 2, shape, v);
	TU_OK(ax_tensor_set_requires_grad(x, 1));
	assert_int_equal(ax_ctx_set_grad_enabled(ctx, 0), 1);
	TU_OK(ax_add(ctx, x, x, &outs[n++]));
	TU_OK(ax_mul(ctx, x, outs[0], &outs[n++]));
	TU_OK(ax_exp(ctx, x, &outs[n++]));
	TU_OK(ax_relu(ctx, x, &outs[n++]));
	TU_OK(ax_gelu(ctx, x, AX_GELU_TANH, &outs[n++]));
	TU_OK(ax_affine(ctx, x, 2, 1, &outs[n++]));
	TU_OK(ax_sigmoid(ctx, x, &outs[n++]));
	for (int i = 0; i < n; i++) {
		assert_false(outs[i]->flags & AX_TENSOR_REQUIRES_GRAD);
		assert_null(outs[i]->producer);
	}
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 0);
	/* Recording back on: the same op is taped. */
	assert_int_equal(ax_ctx_set_grad_enabled(ctx, 1), 0);
	TU_OK(ax_tanh(ctx, x, &y));
	assert_true(y->flags & AX_TENSOR_REQUIRES_GRAD);
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 1);
	/* Inputs that need no gradient are not taped either. */
	TU_OK(ax_exp(ctx, outs[0], &y));
	assert_false(y->flags & AX_TENSOR_REQUIRES_GRAD);
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.tape_nodes, 1);
	ax_ctx_destroy(ctx);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
	struct ax_ctx *ctx = tu_ctx(8);
	const int64_t s23[] = {2, 3}, s4[] = {4}, s32[] = {3, 2};
	struct ax_tensor *a = tu_tensor(ctx, AX_F32, 2, s23, NULL);
	struct ax_tensor *b = tu_tensor(ctx, AX_F32, 1, s4, NULL);
	struct ax_tensor *c = tu_tensor(ctx, AX_F32, 2, s32, NULL);
	struct ax_tensor *ia = tu_tensor(ctx, AX_I32, 2, s23, NULL);
	struct ax_tensor *ub = tu_tensor(ctx, AX_U8, 1, s4, NULL);
	struct ax_tensor *sentinel = (struct ax_tensor *)&sentinel, *out = sentinel;
	static const char *names[] = {"add", "sub", "mul", "div"};

	(void)state;
	for (int op = OP_ADD; op <= OP_DIV; op++) {
		struct elem_case k = {(enum elem_op)op, 0, 0};

		assert_int_equal(run_op(ctx, &k, a, b, &out), AX_ERR_SHAPE);
		assert_error_mentions(names[op], "[2, 3]", "[4]");
		assert_int_equal(run_op(ctx, &k, c, a, &out), AX_ERR_SHAPE);
		assert_error_mentions(names[op], "[3, 2]", "[2, 3]");
		assert_int_equal(run_op(ctx, &k, ia, a, &out), AX_ERR_DTYPE);
		assert_error_mentions(names[op], "i32", "f32");
		assert_int_equal(run_op(ctx, &k, a, ub, &out), AX_ERR_DTYPE);
		assert_error_mentions(names[op], "u8", NULL);
		assert_int_equal(run_op(ctx, &k, a, NULL, &out), AX_ERR_INVALID);
		assert_error_mentions(names[op], NULL, NULL);
		assert_int_equal(run_op(ctx, &k, NULL, a, &out), AX_ERR_INVALID);
		assert_ptr_equal(out, sentinel);
	}
	for (size_t k = 0; k < sizeof(unary_specs) / sizeof(unary_specs[0]); k++) {
		assert_int_equal(run_op(ctx, &unary_specs[k].c, ia, NULL, &out), AX_ERR_DTYPE);
		assert_error_mentions("i32", "[2, 3]", NULL);
		assert_int_equal(run_op(ctx, &unary_specs[k].c, NULL, NULL, &out), AX_ERR_INVALID);
		assert_ptr_equal(out, sentinel);
	}
	/* to_f32 takes every real dtype; an unknown one is refused, not read. */
	{
		struct ax_tensor *bad = tu_tensor(ctx, AX_U8, 1, s4, NULL);

		bad->dtype = (enum ax_dtype)99;
		assert_int_equal(ax_to_f32(ctx, bad, 1, 0, &out), AX_ERR_DTYPE);
		assert_error_mentions("to_f32", "99", "[4]");
	}
	assert_int_equal(ax_exp(ctx, ub, &out), AX_ERR_DTYPE);
	assert_error_mentions("exp", "u8", "[4]");
	assert_int_equal(ax_gelu(ctx, a, (enum ax_gelu_form)7, &out), AX_ERR_INVALID);
	assert_error_mentions("gelu", "form 7", NULL);
	assert_int_equal(ax_add(NULL, a, a, &out), AX_ERR_INVALID);
	assert_int_equal(ax_relu(ctx, a, NULL), AX_ERR_INVALID);
	assert_ptr_equal(out, sentinel);
	ax_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grad_add),
		cmocka_unit_test(test_grad_sub),
		cmocka_unit_test(test_grad_mul),
		cmocka_unit_test(test_grad_div),
		cmocka_unit_test(test_grad_same_input_twice),
		cmocka_unit_test(test_grad_unary),
		cmocka_unit_test(test_grad_chain),
		cmocka_unit_test(test_grad_edges),
		cmocka_unit_test(test_grad_broadcast_sums),
		cmocka_unit_test(test_forward_binary),
		cmocka_unit_test(test_forward_unary),
		cmocka_unit_test(test_to_f32),
		cmocka_unit_test(test_no_grad_mode),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
