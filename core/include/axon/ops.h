/* axon/ops.h - the differentiable operations.
 *
 * Every op takes the context first and its result last, runs forward at once
 * on the context's device, and (when recording is on and an input requires a
 * gradient) appends a tape record so ax_backward can differentiate it. Results
 * live in the step arena. Inputs may be any strided view; results are
 * contiguous except for the view ops (reshape of a contiguous input,
 * transpose, permute, slice), which share their input's memory.
 *
 * Every op returns AX_OK or an error and leaves *out untouched on error. Shape
 * errors name the op and the shapes involved, e.g.
 *   "matmul: inner dimensions differ: a is [64, 784], b is [256, 10]".
 * All float ops take AX_F32; labels and indices are AX_I32.
 *
 * Broadcasting (add, sub, mul, div) follows NumPy: shapes are aligned on the
 * right, and a dimension of size 1 (or a missing one) stretches to match. */
#ifndef AXON_OPS_H
#define AXON_OPS_H

#include <stdint.h>

#include "axon/ctx.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear algebra (cblas_sgemm on CPU; transposed views need no copy) ---- */

/* a (..., M, K) @ b (..., K, N) -> (..., M, N). Batch dimensions broadcast.
 * Both operands need at least 2 dimensions. */
enum ax_status ax_matmul(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
			 struct ax_tensor **out);

/* Batched matmul: a (B, M, K) @ b (B, K, N) -> (B, M, N), exactly 3-D. */
enum ax_status ax_bmm(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out);

/* Fully connected layer, PyTorch layout: x (..., in) @ weight(out, in)^T + bias(out)
 * -> (..., out). bias may be NULL. One fused op: the bias is written first and
 * the GEMM accumulates onto it. */
enum ax_status ax_linear(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor *weight,
			 struct ax_tensor *bias, struct ax_tensor **out);

/* ---- elementwise, broadcasting ---- */

enum ax_status ax_add(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out);
enum ax_status ax_sub(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out);
enum ax_status ax_mul(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out);
enum ax_status ax_div(struct ax_ctx *ctx, struct ax_tensor *a, struct ax_tensor *b,
		      struct ax_tensor **out);

/* ---- with a scalar ---- */

/* scale * x + shift (covers x + c, x - c, c - x, -x, x * c, x / c). */
enum ax_status ax_affine(struct ax_ctx *ctx, struct ax_tensor *x, float scale, float shift,
			 struct ax_tensor **out);
enum ax_status ax_add_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float c,
			     struct ax_tensor **out);
enum ax_status ax_mul_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float c,
			     struct ax_tensor **out);
/* x ^ p; for non-integer p the input must be positive. */
enum ax_status ax_pow_scalar(struct ax_ctx *ctx, struct ax_tensor *x, float p,
			     struct ax_tensor **out);

/* ---- unary ---- */

enum ax_status ax_exp(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);
enum ax_status ax_log(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);
enum ax_status ax_sqrt(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);
enum ax_status ax_relu(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);
/* x for x > 0, slope * x otherwise. */
enum ax_status ax_leaky_relu(struct ax_ctx *ctx, struct ax_tensor *x, float slope,
			     struct ax_tensor **out);

enum ax_gelu_form {
	AX_GELU_ERF = 0, /* x * Phi(x), exact */
	AX_GELU_TANH,    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
};
enum ax_status ax_gelu(struct ax_ctx *ctx, struct ax_tensor *x, enum ax_gelu_form form,
		       struct ax_tensor **out);
enum ax_status ax_sigmoid(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);
enum ax_status ax_tanh(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);

/* u8 or i32 (or f32) -> f32 as scale * x + shift; never differentiated. Used to
 * turn raw image bytes into normalised floats. */
enum ax_status ax_to_f32(struct ax_ctx *ctx, struct ax_tensor *x, float scale, float shift,
			 struct ax_tensor **out);

/* ---- reductions ---- */

/* Sum (mean) over `n_axes` axes (negative counts from the end); n_axes == 0
 * reduces over all of them. keepdim keeps reduced axes with size 1. */
enum ax_status ax_sum(struct ax_ctx *ctx, struct ax_tensor *x, int n_axes, const int *axes,
		      int keepdim, struct ax_tensor **out);
enum ax_status ax_mean(struct ax_ctx *ctx, struct ax_tensor *x, int n_axes, const int *axes,
		       int keepdim, struct ax_tensor **out);

/* ---- shape ---- */

/* Same elements, new shape; one entry may be -1 (inferred). A view when x is
 * contiguous, otherwise a copy (as PyTorch's reshape). */
enum ax_status ax_reshape(struct ax_ctx *ctx, struct ax_tensor *x, int ndim,
			  const int64_t *shape, struct ax_tensor **out);
/* Swap two axes (a view). */
enum ax_status ax_transpose(struct ax_ctx *ctx, struct ax_tensor *x, int axis0, int axis1,
			    struct ax_tensor **out);
/* Reorder axes: out axis i is x axis perm[i] (a view). */
enum ax_status ax_permute(struct ax_ctx *ctx, struct ax_tensor *x, const int *perm,
			  struct ax_tensor **out);
/* Elements start, start+step, ... < end along `axis` (a view). Negative
 * start/end count from the end; both are clamped to [0, size]; step >= 1. */
enum ax_status ax_slice(struct ax_ctx *ctx, struct ax_tensor *x, int axis, int64_t start,
			int64_t end, int64_t step, struct ax_tensor **out);
/* Join n tensors along `axis`; other dimensions must match. */
enum ax_status ax_concat(struct ax_ctx *ctx, int n, struct ax_tensor *const *xs, int axis,
			 struct ax_tensor **out);
/* A contiguous copy (or x itself when it already is contiguous). */
enum ax_status ax_contiguous(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor **out);

/* ---- neural-network ops ---- */

/* softmax / log-softmax along `axis` (negative counts from the end);
 * max-subtracted, so large logits do not overflow. */
enum ax_status ax_softmax(struct ax_ctx *ctx, struct ax_tensor *x, int axis,
			  struct ax_tensor **out);
enum ax_status ax_log_softmax(struct ax_ctx *ctx, struct ax_tensor *x, int axis,
			      struct ax_tensor **out);

struct ax_ce_options {
	float label_smoothing; /* in [0, 1): target = (1-s) one-hot + s/C */
	int32_t ignore_index;  /* samples with this label add nothing; default -100 */
};
/* Default options: no smoothing, ignore_index -100. */
#define AX_CE_DEFAULTS ((struct ax_ce_options){0.0f, -100})

/* Cross-entropy from logits (N, C) and integer labels (N) -> scalar, the mean
 * over samples whose label is not ignore_index (0 when all are ignored). Fused
 * log-softmax + NLL: stable for any logit size, one pass for the gradient.
 * options may be NULL. A label outside [0, C) that is not ignore_index is
 * AX_ERR_RANGE naming the sample and the label. */
enum ax_status ax_cross_entropy(struct ax_ctx *ctx, struct ax_tensor *logits,
				struct ax_tensor *labels, const struct ax_ce_options *options,
				struct ax_tensor **out);

/* Mean squared error over all elements of equal-shaped pred and target -> scalar. */
enum ax_status ax_mse(struct ax_ctx *ctx, struct ax_tensor *pred, struct ax_tensor *target,
		      struct ax_tensor **out);

/* Inverted dropout: in training mode each element is zeroed with probability p
 * and the rest scaled by 1/(1-p), with the mask drawn from the context RNG; in
 * evaluation mode (or p == 0) *out is x itself. p in [0, 1). */
enum ax_status ax_dropout(struct ax_ctx *ctx, struct ax_tensor *x, float p,
			  struct ax_tensor **out);

/* Rows of weight (V, D) picked by indices (...) of AX_I32 -> (..., D). An index
 * outside [0, V) is AX_ERR_RANGE naming its position and value. */
enum ax_status ax_embedding(struct ax_ctx *ctx, struct ax_tensor *weight,
			    struct ax_tensor *indices, struct ax_tensor **out);

/* Layer normalisation over the last dimension D of x (..., D):
 * (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance.
 * gamma and beta (D) may each be NULL (then 1 and 0). */
enum ax_status ax_layer_norm(struct ax_ctx *ctx, struct ax_tensor *x, struct ax_tensor *gamma,
			     struct ax_tensor *beta, float eps, struct ax_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
