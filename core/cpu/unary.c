/* cpu/unary.c - CPU kernels of the one-input elementwise ops: affine,
 * pow_scalar, exp, log, sqrt, relu, leaky_relu, gelu, sigmoid, tanh, and the
 * to_f32 conversion.
 *
 * Forward walks (out, x) with the strided iterator, so any input view works
 * and a dense input is one long row. Backward walks (grad_x, grad_out, saved)
 * where `saved` is whichever of out and x the derivative is cheaper or safer
 * to compute from: out for exp, sqrt, relu, sigmoid and tanh (their
 * derivatives are functions of the output, and out is contiguous), x for
 * log, pow, leaky relu and gelu (affine needs neither). Nothing extra is
 * stored between forward and backward.
 *
 * Numerics worth knowing (each is commented where it happens): sigmoid and
 * the tanh form of GELU never evaluate exp of a positive number, so they
 * cannot overflow; the erf form of GELU uses erfc so that its tiny negative
 * tail keeps its relative accuracy. */
#include <math.h>
#include <stdint.h>

#include "../internal.h"
#include "strided.h"

/* GCC 12 at -O2 uses the "very cheap" vectoriser cost model, which only
 * vectorises a loop whose trip count is a known multiple of the vector width.
 * So dense loops run n rounded down to a multiple of 8, then a scalar tail.
 * (Loops that call libm, such as expf, stay scalar either way.) */
#define DENSE_FOR(i, n, ...)                                      \
	do {                                                      \
		int64_t i##_main_ = (n) & ~(int64_t)7, i = 0;     \
		for (; i < i##_main_; i++) {                      \
			__VA_ARGS__;                              \
		}                                                 \
		for (; i < (n); i++) {                            \
			__VA_ARGS__;                              \
		}                                                 \
	} while (0)

/* Forward row over (y, x): y = EXPR with v = the x element. `prm` points at
 * node->attrs.f; PRE hoists the parameters out of the loop (declarations
 * only, no commas). The dense loop is a helper with restrict parameters:
 * GCC ignores restrict on local pointer variables, and without it the loop
 * would need a run-time alias check, which the -O2 cost model refuses. */
#define UNARY_ROW(name, PRE, EXPR)                                                  \
	static inline void name##_dense(int64_t n, float *restrict y,                \
					const float *restrict x, const float *prm)   \
	{                                                                            \
		PRE;                                                                 \
		DENSE_FOR(i, n, float v = x[i]; y[i] = (EXPR));                      \
	}                                                                            \
	static void name(int64_t n, float *const *p, const int64_t *s, const void *arg)  \
	{                                                                            \
		const float *prm = arg;                                              \
		(void)prm;                                                           \
		if (s[0] == 1 && s[1] == 1) {                                        \
			name##_dense(n, p[0], p[1], prm);                            \
		} else {                                                             \
			PRE;                                                         \
			for (int64_t i = 0; i < n; i++) {                            \
				float v = p[1][i * s[1]];                            \
				p[0][i * s[0]] = (EXPR);                             \
			}                                                            \
		}                                                                    \
	}

/* Backward row over (dst, g, saved): dst += TERM with gv = the upstream
 * gradient and v = the saved element (out or x). */
#define GRAD_ROW(name, PRE, TERM)                                                   \
	static inline void name##_dense(int64_t n, float *restrict dst,              \
					const float *restrict g,                     \
					const float *restrict saved, const float *prm) \
	{                                                                            \
		PRE;                                                                 \
		DENSE_FOR(i, n, float gv = g[i]; float v = saved[i]; (void)v;       \
			  dst[i] += (TERM));                                         \
	}                                                                            \
	static void name(int64_t n, float *const *p, const int64_t *s, const void *arg)  \
	{                                                                            \
		const float *prm = arg;                                              \
		(void)prm;                                                           \
		if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                           \
			name##_dense(n, p[0], p[1], p[2], prm);                      \
		} else {                                                             \
			PRE;                                                         \
			for (int64_t i = 0; i < n; i++) {                            \
				float gv = p[1][i * s[1]], v = p[2][i * s[2]];       \
				(void)v;                                             \
				p[0][i * s[0]] += (TERM);                            \
			}                                                            \
		}                                                                    \
	}

static enum ax_status unary_forward(struct ax_node *node, ax_row_fn row)
{
	const struct ax_tensor *ops[2] = {node->out, node->in[0]};
	struct ax_iter it;

	ax_iter_tensors(&it, node->out->ndim, node->out->shape, 2, ops);
	ax_iter_rows(&it, row, node->attrs.f);
	return AX_OK;
}

/* grad_x += row(grad_out, saved) over x's (= out's) shape. */
static enum ax_status unary_backward(struct ax_ctx *ctx, struct ax_node *node, ax_row_fn row,
				     const struct ax_tensor *saved)
{
	struct ax_tensor *dst;
	struct ax_iter it;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &dst);
	if (st)
		return st;
	const struct ax_tensor *ops[3] = {dst, node->out->grad, saved};

	ax_iter_tensors(&it, node->out->ndim, node->out->shape, 3, ops);
	ax_iter_rows(&it, row, node->attrs.f);
	return AX_OK;
}

/* ---- affine: y = scale * x + shift ---- */

UNARY_ROW(row_affine, const float scale = prm[0]; const float shift = prm[1],
	  scale * v + shift)
GRAD_ROW(grad_affine, const float scale = prm[0], scale * gv)

enum ax_status ax_cpu_fwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_affine);
}

enum ax_status ax_cpu_bwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_affine, node->out->grad); /* saved unused */
}

/* ---- pow_scalar: y = x^p ---- */

/* powf gives NaN for a negative base and non-integer p; we keep that (see
 * ops/elementwise.c). p == 2 is common (squares) and exact as v * v. */
UNARY_ROW(row_square, , v * v)
UNARY_ROW(row_pow, const float pw = prm[0], powf(v, pw))
GRAD_ROW(grad_square, , 2.0f * v * gv)
GRAD_ROW(grad_pow, const float pw = prm[0]; const float pw1 = pw - 1.0f,
	 pw * powf(v, pw1) * gv)

enum ax_status ax_cpu_fwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, node->attrs.f[0] == 2.0f ? row_square : row_pow);
}

enum ax_status ax_cpu_bwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	float pw = node->attrs.f[0];
	struct ax_tensor *unused;

	/* x^0 is constant 1: the gradient is exactly 0, even at x = 0 where
	 * 0 * 0^-1 would be NaN (PyTorch does the same). Still create the
	 * gradient so the input has one, as with any other op. */
	if (pw == 0.0f)
		return ax_needs_grad(node->in[0]) ? ax_grad_of(ctx, node->in[0], &unused) : AX_OK;
	return unary_backward(ctx, node, pw == 2.0f ? grad_square : grad_pow, node->in[0]);
}

/* ---- exp, log, sqrt ---- */

UNARY_ROW(row_exp, , expf(v))
GRAD_ROW(grad_exp, , gv * v) /* saved = out: d e^x = e^x */

UNARY_ROW(row_log, , logf(v))
GRAD_ROW(grad_log, , gv / v) /* saved = x */

UNARY_ROW(row_sqrt, , sqrtf(v))
GRAD_ROW(grad_sqrt, , 0.5f * gv / v) /* saved = out: d sqrt(x) = 1 / (2 sqrt(x)) */

enum ax_status ax_cpu_fwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_exp);
}

enum ax_status ax_cpu_bwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_exp, node->out);
}

enum ax_status ax_cpu_fwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_log);
}

enum ax_status ax_cpu_bwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_log, node->in[0]);
}

enum ax_status ax_cpu_fwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_sqrt);
}

enum ax_status ax_cpu_bwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_sqrt, node->out);
}

/* ---- relu, leaky relu ---- */

/* `v < 0 ? 0 : v` rather than `v > 0 ? v : 0` so a NaN input stays NaN (as
 * in PyTorch) instead of being silently zeroed. Backward reads out: out > 0
 * exactly where x > 0, and the gradient at x = 0 is 0 (PyTorch's choice). */
UNARY_ROW(row_relu, , v < 0.0f ? 0.0f : v)
GRAD_ROW(grad_relu, , v > 0.0f ? gv : 0.0f)

/* Backward reads x, not out: with a negative slope out's sign says nothing
 * about x's. Gradient at x = 0 is the slope (as PyTorch). Both are spelled as
 * a sum of two selects against a constant, the only select shape GCC's -O2
 * vectoriser turns into masks; `v > 0 ? v : slope * v` stays a scalar
 * branch. The sum is exact: one of its terms is always 0 (slope finite). */
UNARY_ROW(row_leaky_relu, const float slope = prm[0],
	  (v > 0.0f ? v : 0.0f) + slope * (v > 0.0f ? 0.0f : v))
GRAD_ROW(grad_leaky_relu, const float slope = prm[0],
	 (v > 0.0f ? gv : 0.0f) + slope * (v > 0.0f ? 0.0f : gv))

enum ax_status ax_cpu_fwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_relu);
}

enum ax_status ax_cpu_bwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_relu, node->out);
}

enum ax_status ax_cpu_fwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_leaky_relu);
}

enum ax_status ax_cpu_bwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_leaky_relu, node->in[0]);
}

/* ---- sigmoid, tanh ---- */

/* sigmoid(z) and 1 - sigmoid(z), both to full relative accuracy: with
 * e = exp(-|z|) in (0, 1] (never overflows), sigmoid is 1/(1+e) for z >= 0
 * and e/(1+e) for z < 0, and 1 - sigmoid is the other one. Computing
 * 1 - sigmoid by subtraction would lose everything once sigmoid rounds to 1. */
static inline float sigmoid_pair(float z, float *one_minus)
{
	float e = expf(-fabsf(z));
	float r = 1.0f / (1.0f + e);

	if (z >= 0.0f) {
		*one_minus = e * r;
		return r;
	}
	*one_minus = r;
	return e * r;
}

static inline float sigmoid_of(float z)
{
	float one_minus;

	return sigmoid_pair(z, &one_minus);
}

UNARY_ROW(row_sigmoid, , sigmoid_of(v))
GRAD_ROW(grad_sigmoid, , gv * v * (1.0f - v)) /* saved = out */

UNARY_ROW(row_tanh, , tanhf(v))
GRAD_ROW(grad_tanh, , gv * (1.0f - v * v)) /* saved = out */

enum ax_status ax_cpu_fwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_sigmoid);
}

enum ax_status ax_cpu_bwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_sigmoid, node->out);
}

enum ax_status ax_cpu_fwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, row_tanh);
}

enum ax_status ax_cpu_bwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, grad_tanh, node->out);
}

/* ---- gelu ---- */

#define SQRT1_2 0.70710678118654752440f      /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define GELU_K 0.79788456080286535588f       /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* Exact form: x Phi(x) with Phi(x) = (1 + erf(x/sqrt2))/2 = erfc(-x/sqrt2)/2.
 * The erfc spelling is the same function but keeps its accuracy for
 * negative x, where 1 + erf(..) would cancel to a few bits (at x = -5 the
 * sum is 6e-7, below f32's spacing near 1). Derivative: Phi(x) + x phi(x). */
static inline float gelu_erf(float x)
{
	return 0.5f * x * erfcf(-x * SQRT1_2);
}

static inline float gelu_erf_grad(float x)
{
	float cdf = 0.5f * erfcf(-x * SQRT1_2);
	float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);

	/* pdf underflows to 0 long before x overflows; the guard only keeps
	 * x = +-inf from giving inf * 0 = NaN. */
	return cdf + (pdf != 0.0f ? x * pdf : 0.0f);
}

/* Tanh form: 0.5 x (1 + tanh(u)), u = k (x + c x^3). Since
 * 1 + tanh(u) = 2 sigmoid(2u), this is x sigmoid(2u), computed with the
 * stable sigmoid so that the negative tail does not cancel either.
 * Derivative: s + x * 2 s (1 - s) * du/dx with s = sigmoid(2u) (because
 * 1 - tanh^2 = 4 s (1 - s)) and du/dx = k (1 + 3 c x^2). */
static inline float gelu_tanh(float x)
{
	float u = GELU_K * (x + GELU_C * x * x * x);

	return x * sigmoid_of(2.0f * u);
}

static inline float gelu_tanh_grad(float x)
{
	float u = GELU_K * (x + GELU_C * x * x * x);
	float one_minus;
	float s = sigmoid_pair(2.0f * u, &one_minus);
	float t = s * one_minus;

	/* t underflows to 0 once |x| > ~11, long before 3 c x^2 can overflow;
	 * the guard keeps huge |x| from giving 0 * inf = NaN. */
	return s + (t != 0.0f ? 2.0f * x * t * GELU_K * (1.0f + 3.0f * GELU_C * x * x) : 0.0f);
}

UNARY_ROW(row_gelu_erf, , gelu_erf(v))
UNARY_ROW(row_gelu_tanh, , gelu_tanh(v))
GRAD_ROW(grad_gelu_erf, , gv * gelu_erf_grad(v))   /* saved = x */
GRAD_ROW(grad_gelu_tanh, , gv * gelu_tanh_grad(v)) /* saved = x */

enum ax_status ax_cpu_fwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(node, node->attrs.i[0] == AX_GELU_TANH ? row_gelu_tanh : row_gelu_erf);
}

enum ax_status ax_cpu_bwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node,
			      node->attrs.i[0] == AX_GELU_TANH ? grad_gelu_tanh : grad_gelu_erf,
			      node->in[0]);
}

/* ---- to_f32: y = scale * x + shift from u8, i32 or f32 ---- */

/* One dense conversion loop per source type, restrict for the vectoriser. */
#define CONVERT_ROW(name, T)                                                        \
	static void name(int64_t n, float *restrict y, const T *restrict x, float scale, \
			 float shift)                                                \
	{                                                                            \
		DENSE_FOR(i, n, y[i] = scale * (float)x[i] + shift);                 \
	}

CONVERT_ROW(convert_u8, uint8_t)
CONVERT_ROW(convert_i32, int32_t)
CONVERT_ROW(convert_f32, float)

/* The strided iterator steps in floats, so the input is first made dense
 * (a no-op for the usual contiguous batch of bytes). */
enum ax_status ax_cpu_fwd_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	const float scale = node->attrs.f[0], shift = node->attrs.f[1];
	int64_t n = ax_tensor_numel(x);
	const void *src;

	if (n == 0)
		return AX_OK;
	src = ax_cpu_dense(ctx, x);
	if (!src)
		return AX_ERR_NOMEM;
	switch (x->dtype) {
	case AX_U8:
		convert_u8(n, node->out->data, src, scale, shift);
		return AX_OK;
	case AX_I32:
		convert_i32(n, node->out->data, src, scale, shift);
		return AX_OK;
	case AX_F32:
		convert_f32(n, node->out->data, src, scale, shift);
		return AX_OK;
	default:
		return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dtype %d passed the shape check",
				     (int)x->dtype);
	}
}

/* to_f32 is AX_OPF_NO_GRAD, so it is never recorded and the kernel table
 * holds NULL for its backward; the table's initializer still names this
 * function, so it exists, and says so loudly if anything ever calls it. */
enum ax_status ax_cpu_bwd_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_INTERNAL,
			     "has no backward (it is never recorded on the tape); reaching it "
			     "is a bug in axon");
}
