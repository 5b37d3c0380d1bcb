/* cuda/k_elementwise.cu - CUDA kernels of the elementwise ops: add, sub, mul,
 * div (broadcasting), affine, pow_scalar, exp, log, sqrt, relu, leaky_relu,
 * gelu, sigmoid, tanh, and the to_f32 conversion.
 *
 * The same functions as cpu/binary.c and cpu/unary.c, formula for formula
 * (which saved value each backward reads, relu's gradient at 0, the stable
 * sigmoid, the erfc and sigmoid spellings of GELU). Each op is a small
 * functor; four kernel templates (binary forward, binary gradient, unary
 * forward, unary gradient) serve them all. A kernel has a dense variant (every
 * operand is row-major over the output's shape: offset == index, no division)
 * and a strided one. For the strided one the host first drops size-1 axes and
 * fuses axes that are contiguous in every operand (as the CPU iterator does),
 * and the device divides in 32 bits whenever the element count allows, since
 * 64-bit division would dominate these memory-bound loops.
 *
 * Backward of a binary op: when the input was not broadcast (as many elements
 * as the output), a fused kernel adds its gradient term straight into the
 * input's gradient; when it was, the term goes to a full-size scratch tensor
 * that ax_cuda_acc sums down into the gradient without atomics. add (and sub's
 * first input) pass grad_out through unchanged, so they are ax_cuda_acc alone.
 *
 * Rounding: nvcc fuses a * b + c into one FMA by default; the CPU build never
 * does (strict C11, baseline x86-64). Wherever a formula adds a product or a
 * libm result (affine, tanh', sigmoid's 1 + e, the GELUs, every
 * `grad += term`), __fmul_rn / __fadd_rn keep both roundings, so the rational
 * ops give the CPU's bits exactly and the others differ only by the libm
 * functions (expf, erfcf, tanhf, powf: a few ulp). */
#include <math.h>
#include <stdint.h>

#include "layout.cuh"

/* Everything up to the entry points has internal linkage, so kernels and
 * helpers of the same name in other .cu files cannot collide. */
namespace {

/* ---- layouts (host) ---- */

/* ---- index math (device) ---- */


/* ---- numerics shared by forward and backward (device) ---- */

#define SQRT1_2 0.70710678118654752440f      /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define GELU_K 0.79788456080286535588f       /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* sigmoid(z) and 1 - sigmoid(z) to full relative accuracy: e = exp(-|z|) in
 * (0, 1] never overflows; sigmoid is 1/(1+e) for z >= 0 and e/(1+e) below,
 * and 1 - sigmoid is the other one (cpu/unary.c). */
__device__ __forceinline__ float sigmoid_pair(float z, float *one_minus)
{
	float e = expf(-fabsf(z));
	float r = 1.0f / __fadd_rn(1.0f, e);

	if (z >= 0.0f) {
		*one_minus = e * r;
		return r;
	}
	*one_minus = r;
	return e * r;
}

__device__ __forceinline__ float sigmoid_of(float z)
{
	float one_minus;

	return sigmoid_pair(z, &one_minus);
}

/* GELU, exact form: x Phi(x) = x erfc(-x/sqrt2) / 2 (erfc keeps the negative
 * tail accurate); derivative Phi(x) + x phi(x). */
__device__ __forceinline__ float gelu_erf(float x)
{
	return 0.5f * x * erfcf(-x * SQRT1_2);
}

__device__ __forceinline__ float gelu_erf_grad(float x)
{
	float cdf = 0.5f * erfcf(-x * SQRT1_2);
	float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);

	/* The guard keeps x = +-inf (pdf = 0) from giving inf * 0 = NaN. */
	return __fadd_rn(cdf, pdf != 0.0f ? __fmul_rn(x, pdf) : 0.0f);
}

/* GELU, tanh form: x sigmoid(2u), u = k (x + c x^3); derivative
 * s + 2 x s (1 - s) k (1 + 3 c x^2) with s = sigmoid(2u). */
__device__ __forceinline__ float gelu_tanh(float x)
{
	float u = GELU_K * (x + __fmul_rn(GELU_C * x * x, x));

	return x * sigmoid_of(2.0f * u);
}

__device__ __forceinline__ float gelu_tanh_grad(float x)
{
	float u = GELU_K * (x + __fmul_rn(GELU_C * x * x, x));
	float one_minus;
	float s = sigmoid_pair(2.0f * u, &one_minus);
	float t = s * one_minus;

	/* t underflows to 0 for |x| > ~11; the guard keeps 0 * inf from NaN. */
	return __fadd_rn(s, t != 0.0f ? __fmul_rn(2.0f * x * t * GELU_K,
						  1.0f + __fmul_rn(3.0f * GELU_C * x, x))
				      : 0.0f);
}

/* ---- functors ---- */

/* Binary forward: y = op(u, v), u from a, v from b. */
struct f_add {
	__device__ float operator()(float u, float v) const { return u + v; }
};
struct f_sub {
	__device__ float operator()(float u, float v) const { return u - v; }
};
struct f_mul {
	__device__ float operator()(float u, float v) const { return u * v; }
};
struct f_div {
	__device__ float operator()(float u, float v) const { return u / v; }
};

/* Binary gradient terms: gv = grad_out, u and v = elements of the two extra
 * operands (when the term reads them). */
struct t_negate { /* sub: b */
	static constexpr bool uses_x = false, uses_y = false;
	__device__ float operator()(float gv, float u, float v) const { return -gv; }
};
struct t_times { /* mul: a gets g * b, b gets g * a */
	static constexpr bool uses_x = true, uses_y = false;
	__device__ float operator()(float gv, float u, float v) const { return gv * u; }
};
struct t_over { /* div: a gets g / b */
	static constexpr bool uses_x = true, uses_y = false;
	__device__ float operator()(float gv, float u, float v) const { return gv / u; }
};
/* div: b gets -g a/b^2 = -g out / b (u = out, v = b): no squaring of b, which
 * would overflow or underflow where a/b/b is still representable. */
struct t_div_b {
	static constexpr bool uses_x = true, uses_y = true;
	__device__ float operator()(float gv, float u, float v) const { return -gv * u / v; }
};

/* Unary forward: y = op(v). */
struct f_affine { /* also to_f32 after the conversion to float */
	float scale, shift;
	__device__ float operator()(float v) const { return __fmul_rn(scale, v) + shift; }
};
struct f_square {
	__device__ float operator()(float v) const { return v * v; }
};
struct f_pow {
	float pw;
	__device__ float operator()(float v) const { return powf(v, pw); }
};
struct f_exp {
	__device__ float operator()(float v) const { return expf(v); }
};
struct f_log {
	__device__ float operator()(float v) const { return logf(v); }
};
struct f_sqrt {
	__device__ float operator()(float v) const { return sqrtf(v); }
};
/* `v < 0 ? 0 : v` keeps a NaN input NaN. */
struct f_relu {
	__device__ float operator()(float v) const { return v < 0.0f ? 0.0f : v; }
};
struct f_leaky_relu {
	float slope;
	__device__ float operator()(float v) const
	{
		return (v > 0.0f ? v : 0.0f) + __fmul_rn(slope, v > 0.0f ? 0.0f : v);
	}
};
struct f_sigmoid {
	__device__ float operator()(float v) const { return sigmoid_of(v); }
};
struct f_tanh {
	__device__ float operator()(float v) const { return tanhf(v); }
};
struct f_gelu_erf {
	__device__ float operator()(float v) const { return gelu_erf(v); }
};
struct f_gelu_tanh {
	__device__ float operator()(float v) const { return gelu_tanh(v); }
};

/* Unary gradient terms: gv = grad_out, v = the saved element (out or x, as
 * the CPU kernel chose; see each op below). */
struct g_affine {
	static constexpr bool uses_saved = false;
	float scale;
	__device__ float operator()(float gv, float v) const { return scale * gv; }
};
struct g_square {
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return 2.0f * v * gv; }
};
struct g_pow {
	static constexpr bool uses_saved = true;
	float pw, pw1; /* p and p - 1 */
	__device__ float operator()(float gv, float v) const { return pw * powf(v, pw1) * gv; }
};
struct g_exp { /* v = out */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return gv * v; }
};
struct g_log { /* v = x */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return gv / v; }
};
struct g_sqrt { /* v = out: 1 / (2 sqrt(x)), inf at 0 */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return 0.5f * gv / v; }
};
struct g_relu { /* v = out: out > 0 exactly where x > 0; 0 at x = 0 */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return v > 0.0f ? gv : 0.0f; }
};
struct g_leaky_relu { /* v = x; the slope at x = 0 */
	static constexpr bool uses_saved = true;
	float slope;
	__device__ float operator()(float gv, float v) const
	{
		return (v > 0.0f ? gv : 0.0f) + __fmul_rn(slope, v > 0.0f ? 0.0f : gv);
	}
};
struct g_sigmoid { /* v = out */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return gv * v * (1.0f - v); }
};
struct g_tanh { /* v = out */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const
	{
		return gv * (1.0f - __fmul_rn(v, v));
	}
};
struct g_gelu_erf { /* v = x */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return gv * gelu_erf_grad(v); }
};
struct g_gelu_tanh { /* v = x */
	static constexpr bool uses_saved = true;
	__device__ float operator()(float gv, float v) const { return gv * gelu_tanh_grad(v); }
};

/* ---- kernels ---- */

/* y[i] = op(a[.], b[.]) over the output (contiguous); a and b are seen
 * through the output's shape (stride 0 where broadcast). */
template <class Op, bool Dense, typename I>
__global__ void binary_fwd_kernel(float *y, const float *a, const float *b, ax_cu_layout la,
				  ax_cu_layout lb, int64_t n, Op op)
{
	AX_CU_GRID_STRIDE(i, n) {
		int64_t oa = i, ob = i;

		if constexpr (!Dense)
			ax_cu_offsets2<I>(la, lb, (I)i, &oa, &ob);
		y[i] = op(a[oa], b[ob]);
	}
}

/* dst[i] (+)= term(g[i], x[.], y[.]) over the output's shape: Add into an
 * unbroadcast input's gradient, or store into the full-size scratch that
 * ax_cuda_acc then sums down. */
template <class Term, bool Add, bool Dense, typename I>
__global__ void binary_grad_kernel(float *dst, const float *g, const float *x, const float *y,
				   ax_cu_layout lx, ax_cu_layout ly, int64_t n, Term term)
{
	AX_CU_GRID_STRIDE(i, n) {
		int64_t ox = i, oy = i;
		float u = 0.0f, v = 0.0f;

		if constexpr (!Dense)
			ax_cu_offsets2<I>(lx, ly, (I)i, &ox, &oy);
		if constexpr (Term::uses_x)
			u = x[ox];
		if constexpr (Term::uses_y)
			v = y[oy];
		float t = term(g[i], u, v);

		if constexpr (Add)
			dst[i] = __fadd_rn(dst[i], t);
		else
			dst[i] = t;
	}
}

/* y[i] = op((float)x[.]); T is the input's element type (f32, or u8/i32 for
 * to_f32). */
template <class Op, typename T, bool Dense, typename I>
__global__ void unary_fwd_kernel(float *y, const T *x, ax_cu_layout lx, int64_t n, Op op)
{
	AX_CU_GRID_STRIDE(i, n) {
		int64_t o = i;

		if constexpr (!Dense)
			o = ax_cu_offset1<I>(lx, (I)i);
		y[i] = op((float)x[o]);
	}
}

/* dst[i] += term(g[i], saved[.]); dst (grad of x) and g are contiguous with
 * the output's shape. */
template <class Term, bool Dense, typename I>
__global__ void unary_grad_kernel(float *dst, const float *g, const float *saved,
				  ax_cu_layout ls, int64_t n, Term term)
{
	AX_CU_GRID_STRIDE(i, n) {
		float v = 0.0f;

		if constexpr (Term::uses_saved) {
			int64_t o = i;

			if constexpr (!Dense)
				o = ax_cu_offset1<I>(ls, (I)i);
			v = saved[o];
		}
		dst[i] = __fadd_rn(dst[i], term(g[i], v));
	}
}

/* ---- launches ---- */

static int fits_u32(int64_t n)
{
	return n <= (int64_t)UINT32_MAX;
}

template <class Op>
static enum ax_status binary_forward(struct ax_ctx *ctx, struct ax_node *node, Op op)
{
	struct ax_tensor *out = node->out;
	int64_t n = ax_tensor_numel(out);
	cudaStream_t stream = ax_cuda_stream(ctx);
	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);
	float *y = (float *)out->data;
	const float *a = (const float *)node->in[0]->data, *b = (const float *)node->in[1]->data;
	ax_cu_layout l[2];

	if (n == 0)
		return AX_OK;
	l[0] = ax_cu_layout_bcast(node->in[0], out->ndim, out->shape);
	l[1] = ax_cu_layout_bcast(node->in[1], out->ndim, out->shape);
	ax_cu_merge_layouts(l, 2);
	if (l[0].contiguous && l[1].contiguous)
		binary_fwd_kernel<Op, true, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, a, b, l[0], l[1], n, op);
	else if (fits_u32(n))
		binary_fwd_kernel<Op, false, uint32_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, a, b, l[0], l[1], n, op);
	else
		binary_fwd_kernel<Op, false, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, a, b, l[0], l[1], n, op);
	return AX_CUDA_LAUNCHED(node);
}

template <class Term, bool Add>
static void launch_binary_grad(cudaStream_t stream, int dense, int64_t n, float *dst,
			       const float *g, const float *x, const float *y,
			       const ax_cu_layout &lx, const ax_cu_layout &ly, Term term)
{
	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);

	if (dense)
		binary_grad_kernel<Term, Add, true, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, x, y, lx, ly, n, term);
	else if (fits_u32(n))
		binary_grad_kernel<Term, Add, false, uint32_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, x, y, lx, ly, n, term);
	else
		binary_grad_kernel<Term, Add, false, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, x, y, lx, ly, n, term);
}

/* Add term(grad_out, x, y) into the gradient of input k, summed over the axes
 * it was broadcast along. x and y (seen through the output's shape) are the
 * operands the term reads; NULL for one it does not. */
template <class Term>
static enum ax_status binary_backward(struct ax_ctx *ctx, struct ax_node *node, int k, Term term,
				      const struct ax_tensor *x, const struct ax_tensor *y)
{
	const struct ax_tensor *out = node->out, *g = out->grad;
	int64_t n = ax_tensor_numel(out);
	struct ax_tensor *grad, *scratch;
	ax_cu_layout l[2];
	enum ax_status st;

	if (!ax_needs_grad(node->in[k]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[k], &grad);
	if (st || n == 0)
		return st;
	if (!x)
		x = g;
	if (!y)
		y = g;
	l[0] = ax_cu_layout_bcast(x, out->ndim, out->shape);
	l[1] = ax_cu_layout_bcast(y, out->ndim, out->shape);
	ax_cu_merge_layouts(l, 2);
	int dense = (!Term::uses_x || l[0].contiguous) && (!Term::uses_y || l[1].contiguous);
	const float *gp = (const float *)g->data;
	const float *xp = (const float *)x->data, *yp = (const float *)y->data;
	cudaStream_t stream = ax_cuda_stream(ctx);

	/* Not broadcast: the gradient (contiguous, input's shape) has the
	 * output's elements in the output's order, so add in place. */
	if (ax_tensor_numel(node->in[k]) == n) {
		launch_binary_grad<Term, true>(stream, dense, n, (float *)grad->data, gp, xp, yp,
					       l[0], l[1], term);
		return AX_CUDA_LAUNCHED(node);
	}
	st = ax_tensor_new(ctx, AX_F32, out->ndim, out->shape, 0, &scratch);
	if (st)
		return st;
	launch_binary_grad<Term, false>(stream, dense, n, (float *)scratch->data, gp, xp, yp, l[0],
					l[1], term);
	st = AX_CUDA_LAUNCHED(node);
	if (st)
		return st;
	return ax_cuda_acc(ctx, grad, scratch);
}

/* grad of input k += grad_out, summed down where it was broadcast. */
static enum ax_status backward_pass_through(struct ax_ctx *ctx, struct ax_node *node, int k)
{
	struct ax_tensor *grad;
	enum ax_status st;

	if (!ax_needs_grad(node->in[k]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[k], &grad);
	if (st)
		return st;
	return ax_cuda_acc(ctx, grad, node->out->grad);
}

/* out = op(x) with x of element type T, any strides. */
template <class Op, typename T>
static enum ax_status unary_forward_from(struct ax_ctx *ctx, struct ax_node *node, Op op)
{
	const struct ax_tensor *x = node->in[0];
	int64_t n = ax_tensor_numel(node->out);
	cudaStream_t stream = ax_cuda_stream(ctx);
	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);
	float *y = (float *)node->out->data;
	const T *xp = (const T *)x->data;
	ax_cu_layout l;

	if (n == 0)
		return AX_OK;
	l = ax_cu_layout_of(x);
	ax_cu_merge_layouts(&l, 1);
	if (l.contiguous)
		unary_fwd_kernel<Op, T, true, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, xp, l, n, op);
	else if (fits_u32(n))
		unary_fwd_kernel<Op, T, false, uint32_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, xp, l, n, op);
	else
		unary_fwd_kernel<Op, T, false, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(y, xp, l, n, op);
	return AX_CUDA_LAUNCHED(node);
}

template <class Op>
static enum ax_status unary_forward(struct ax_ctx *ctx, struct ax_node *node, Op op)
{
	return unary_forward_from<Op, float>(ctx, node, op);
}

/* grad_x += term(grad_out, saved) over x's (= out's) shape; saved is out or
 * x, or NULL for a term that reads neither. */
template <class Term>
static enum ax_status unary_backward(struct ax_ctx *ctx, struct ax_node *node, Term term,
				     const struct ax_tensor *saved)
{
	int64_t n = ax_tensor_numel(node->out);
	struct ax_tensor *grad;
	ax_cu_layout l;
	enum ax_status st;

	if (!ax_needs_grad(node->in[0]))
		return AX_OK;
	st = ax_grad_of(ctx, node->in[0], &grad);
	if (st || n == 0)
		return st;
	if (!saved)
		saved = node->out->grad;
	l = ax_cu_layout_of(saved);
	ax_cu_merge_layouts(&l, 1);

	cudaStream_t stream = ax_cuda_stream(ctx);
	unsigned grid = ax_cu_grid(n, AX_CU_THREADS);
	float *dst = (float *)grad->data;
	const float *g = (const float *)node->out->grad->data;
	const float *sp = (const float *)saved->data;

	if (!Term::uses_saved || l.contiguous)
		unary_grad_kernel<Term, true, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, sp, l, n, term);
	else if (fits_u32(n))
		unary_grad_kernel<Term, false, uint32_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, sp, l, n, term);
	else
		unary_grad_kernel<Term, false, int64_t>
			<<<grid, AX_CU_THREADS, 0, stream>>>(dst, g, sp, l, n, term);
	return AX_CUDA_LAUNCHED(node);
}

} /* namespace */

/* ---- the kernel table's entries ---- */

extern "C" {

/* add, sub, mul, div: no attrs. */

enum ax_status ax_cuda_fwd_add(struct ax_ctx *ctx, struct ax_node *node)
{
	return binary_forward(ctx, node, f_add());
}

enum ax_status ax_cuda_bwd_add(struct ax_ctx *ctx, struct ax_node *node)
{
	enum ax_status st = backward_pass_through(ctx, node, 0);

	return st ? st : backward_pass_through(ctx, node, 1);
}

enum ax_status ax_cuda_fwd_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	return binary_forward(ctx, node, f_sub());
}

enum ax_status ax_cuda_bwd_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	enum ax_status st = backward_pass_through(ctx, node, 0);

	return st ? st : binary_backward(ctx, node, 1, t_negate(), NULL, NULL);
}

enum ax_status ax_cuda_fwd_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	return binary_forward(ctx, node, f_mul());
}

enum ax_status ax_cuda_bwd_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *a = node->in[0], *b = node->in[1];
	enum ax_status st = binary_backward(ctx, node, 0, t_times(), b, NULL);

	return st ? st : binary_backward(ctx, node, 1, t_times(), a, NULL);
}

enum ax_status ax_cuda_fwd_div(struct ax_ctx *ctx, struct ax_node *node)
{
	return binary_forward(ctx, node, f_div());
}

enum ax_status ax_cuda_bwd_div(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *b = node->in[1];
	enum ax_status st = binary_backward(ctx, node, 0, t_over(), b, NULL);

	return st ? st : binary_backward(ctx, node, 1, t_div_b(), node->out, b);
}

/* affine: f[0] = scale, f[1] = shift. */

enum ax_status ax_cuda_fwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_affine{node->attrs.f[0], node->attrs.f[1]});
}

enum ax_status ax_cuda_bwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_affine{node->attrs.f[0]}, NULL);
}

/* pow_scalar: f[0] = p. p == 2 is v * v, exact, as on the CPU. */

enum ax_status ax_cuda_fwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	float pw = node->attrs.f[0];

	if (pw == 2.0f)
		return unary_forward(ctx, node, f_square());
	return unary_forward(ctx, node, f_pow{pw});
}

enum ax_status ax_cuda_bwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	float pw = node->attrs.f[0];
	struct ax_tensor *unused;

	/* x^0 is constant: the gradient is exactly 0, even at x = 0 where
	 * 0 * 0^-1 would be NaN; still create the gradient (cpu/unary.c). */
	if (pw == 0.0f)
		return ax_needs_grad(node->in[0]) ? ax_grad_of(ctx, node->in[0], &unused) : AX_OK;
	if (pw == 2.0f)
		return unary_backward(ctx, node, g_square(), node->in[0]);
	return unary_backward(ctx, node, g_pow{pw, pw - 1.0f}, node->in[0]);
}

/* exp, log, sqrt: IEEE results (inf, NaN) propagate, as on the CPU. */

enum ax_status ax_cuda_fwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_exp());
}

enum ax_status ax_cuda_bwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_exp(), node->out);
}

enum ax_status ax_cuda_fwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_log());
}

enum ax_status ax_cuda_bwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_log(), node->in[0]);
}

enum ax_status ax_cuda_fwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_sqrt());
}

enum ax_status ax_cuda_bwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_sqrt(), node->out);
}

/* relu; leaky_relu: f[0] = slope. */

enum ax_status ax_cuda_fwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_relu());
}

enum ax_status ax_cuda_bwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_relu(), node->out);
}

enum ax_status ax_cuda_fwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_leaky_relu{node->attrs.f[0]});
}

enum ax_status ax_cuda_bwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_leaky_relu{node->attrs.f[0]}, node->in[0]);
}

/* gelu: i[0] = enum ax_gelu_form (checked by the shape function). */

enum ax_status ax_cuda_fwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	if (node->attrs.i[0] == AX_GELU_TANH)
		return unary_forward(ctx, node, f_gelu_tanh());
	return unary_forward(ctx, node, f_gelu_erf());
}

enum ax_status ax_cuda_bwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	if (node->attrs.i[0] == AX_GELU_TANH)
		return unary_backward(ctx, node, g_gelu_tanh(), node->in[0]);
	return unary_backward(ctx, node, g_gelu_erf(), node->in[0]);
}

/* sigmoid, tanh: backward reads out. */

enum ax_status ax_cuda_fwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_sigmoid());
}

enum ax_status ax_cuda_bwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_sigmoid(), node->out);
}

enum ax_status ax_cuda_fwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_forward(ctx, node, f_tanh());
}

enum ax_status ax_cuda_bwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return unary_backward(ctx, node, g_tanh(), node->out);
}

/* to_f32: f[0] = scale, f[1] = shift; y = scale * x + shift from u8, i32 or
 * f32 of any layout. No backward (AX_OPF_NO_GRAD). */

enum ax_status ax_cuda_fwd_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	f_affine op = {node->attrs.f[0], node->attrs.f[1]};

	switch (x->dtype) {
	case AX_U8:
		return unary_forward_from<f_affine, uint8_t>(ctx, node, op);
	case AX_I32:
		return unary_forward_from<f_affine, int32_t>(ctx, node, op);
	case AX_F32:
		return unary_forward_from<f_affine, float>(ctx, node, op);
	default:
		return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dtype %d passed the shape check",
				     (int)x->dtype);
	}
}

} /* extern "C" */
