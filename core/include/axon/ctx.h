/* axon/ctx.h - the execution context: step arena, tape, autograd.
 *
 * A context is where one replica runs its steps. Ops called on it run
 * eagerly; while gradient recording is on and an input requires a gradient,
 * each op also appends a record to the tape. ax_backward walks the tape in
 * reverse and accumulates gradients into the inputs' .grad tensors (parameter
 * gradients land in the flat gradient buffer of their struct ax_params).
 *
 * Everything a step creates - op outputs, saved tensors, tape records, gradients
 * of non-parameters - is carved from the context's step arena. The arena grows
 * in chunks while a step runs; ax_ctx_reset rewinds it, and if the step needed
 * more than one chunk, replaces them with one chunk big enough for the whole
 * step. So after the first step a training step makes no heap allocation.
 *
 * A typical step:
 *
 *     ax_params_zero_grad(params);
 *     ax_linear(ctx, x, fc1_w, fc1_b, &h);      ...      ax_cross_entropy(..., &loss);
 *     ax_backward(ctx, loss);
 *     ax_optimizer_step(opt, lr);
 *     ax_ctx_reset(ctx);                        // every tensor of the step is gone
 */
#ifndef AXON_CTX_H
#define AXON_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "axon/rng.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ax_ctx;

/* Arithmetic of matmul and linear. Parameters, gradients, optimizer state and
 * every other op stay f32 in both modes. */
enum ax_precision {
	AX_PRECISION_F32 = 0, /* f32 inputs, f32 accumulation (TF32 never used) */
	AX_PRECISION_BF16,    /* CUDA only: operands rounded to bf16, f32 accumulation
	                       * and output; the f32 master weights are unchanged */
};

struct ax_ctx_options {
	struct ax_device device;   /* where ops run; AX_CPU by default */
	size_t arena_chunk_bytes;  /* first arena chunk; 0 means 1 MiB */
	uint64_t seed;             /* seeds the context RNG (dropout) */
	enum ax_precision precision; /* AX_PRECISION_F32 unless set */
};

/* Called during ax_backward when a parameter's gradient is final: the tape
 * record of its first use in forward has been processed, so nothing later in
 * the backward walk adds to it. dist/ starts bucket all-reduces from here. */
typedef void (*ax_grad_ready_fn)(void *user, struct ax_tensor *param);

struct ax_ctx_stats {
	size_t arena_bytes;    /* capacity of all arena chunks */
	size_t arena_used;     /* bytes handed out since the last reset */
	size_t arena_peak;     /* most bytes used by any step so far */
	int arena_chunks;      /* chunks held now */
	int64_t tape_nodes;    /* records on the tape now */
	uint64_t step;         /* resets so far */
};

/* ax_ctx_create - a context for `options` (NULL: CPU, 1 MiB chunk, seed 0).
 * Errors: AX_ERR_NOMEM, AX_ERR_UNSUPPORTED / AX_ERR_DEVICE for an absent device. */
enum ax_status ax_ctx_create(const struct ax_ctx_options *options, struct ax_ctx **out);

/* ax_ctx_destroy - free the context and its arena; NULL is a no-op. Tensors
 * from the arena become invalid. */
void ax_ctx_destroy(struct ax_ctx *ctx);

/* ax_ctx_reset - end a step: drop the tape and every arena tensor, keep the
 * memory. May replace several chunks by one (the only allocation it makes).
 * Errors: AX_ERR_NOMEM (the arena then keeps its old chunks and stays usable). */
enum ax_status ax_ctx_reset(struct ax_ctx *ctx);

/* ax_ctx_device - the device the context runs on. */
struct ax_device ax_ctx_device(const struct ax_ctx *ctx);

/* ax_ctx_set_grad_enabled - turn tape recording on (1) or off (0); returns the
 * previous setting. Off is the no-grad mode used for evaluation: ops run
 * forward only and their outputs never require a gradient. */
int ax_ctx_set_grad_enabled(struct ax_ctx *ctx, int enabled);

/* ax_ctx_set_training - training mode (1, dropout active) or evaluation mode
 * (0, dropout is the identity); returns the previous setting. Default 1. */
int ax_ctx_set_training(struct ax_ctx *ctx, int training);

int ax_ctx_grad_enabled(const struct ax_ctx *ctx);
int ax_ctx_training(const struct ax_ctx *ctx);

/* ax_ctx_rng - the context's RNG (used by dropout). Save and restore it by
 * copying the struct. */
struct ax_rng *ax_ctx_rng(struct ax_ctx *ctx);

/* ax_ctx_set_grad_ready - install (or with NULL remove) the gradient-final hook. */
void ax_ctx_set_grad_ready(struct ax_ctx *ctx, ax_grad_ready_fn fn, void *user);

/* ax_ctx_stats - arena and tape figures. */
void ax_ctx_stats(const struct ax_ctx *ctx, struct ax_ctx_stats *stats);

/* ax_ctx_alloc - `size` bytes from the step arena, aligned to AX_ALIGN, valid
 * until the next reset. NULL (last error AX_ERR_NOMEM) on failure. */
void *ax_ctx_alloc(struct ax_ctx *ctx, size_t size);

/* ax_tensor_new - an arena tensor of `shape` on the context's device,
 * zero-filled when `zero` is non-zero. Errors: AX_ERR_SHAPE, AX_ERR_NOMEM. */
enum ax_status ax_tensor_new(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			     const int64_t *shape, int zero, struct ax_tensor **out);

/* ax_tensor_wrap - an arena header over caller-owned contiguous memory on the
 * context's device (no copy). The caller keeps `data` alive for the step. */
enum ax_status ax_tensor_wrap(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			      const int64_t *shape, void *data, struct ax_tensor **out);

/* ax_backward - gradients of the scalar `loss` with respect to every tensor
 * that requires one and that it depends on. Parameter gradients are added to
 * what their buffer holds (so micro-batches accumulate until zero_grad).
 * Once per step: the tape is consumed.
 * Errors: AX_ERR_SHAPE (loss not one element), AX_ERR_STATE (loss does not
 * require grad, or backward already ran this step), kernel errors. */
enum ax_status ax_backward(struct ax_ctx *ctx, struct ax_tensor *loss);

/* ax_backward_with - as ax_backward, for a tensor `y` of any shape seeded with
 * the gradient `grad_y` (same shape, AX_F32, any strides): computes the
 * vector-Jacobian product grad_y^T dy/dx for every x that requires a gradient.
 * Errors: AX_ERR_SHAPE when grad_y's shape differs from y's, as ax_backward. */
enum ax_status ax_backward_with(struct ax_ctx *ctx, struct ax_tensor *y,
				const struct ax_tensor *grad_y);

#ifdef __cplusplus
}
#endif
#endif
