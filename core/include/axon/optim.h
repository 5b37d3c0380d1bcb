/* axon/optim.h - optimizers and gradient clipping over the flat parameter buffers.
 *
 * One interface for every algorithm: fill a struct ax_optim_options (start
 * from ax_optim_defaults(kind)), create an optimizer for a finalized struct
 * ax_params, call ax_optimizer_step(opt, lr) after each backward pass. The
 * learning rate is an argument of the step, not an option, so a schedule
 * (axon/schedule.h) is just a function called once per step.
 *
 * An optimizer keeps its state (momentum, moments) in flat buffers with the
 * same layout as struct ax_params, so a step is one pass over memory and the
 * state is checkpointed as a handful of arrays plus the step count. Frozen
 * parameters (AX_PARAM_FROZEN) are skipped: their values and state are never
 * touched. Parameters registered with AX_PARAM_NO_DECAY get no weight decay.
 *
 * The update rules are PyTorch's (torch.optim.SGD, Adam, AdamW with
 * maximize=False, amsgrad=False), so a run can be compared with PyTorch step
 * by step. One difference: PyTorch counts steps per parameter, axon counts
 * them per optimizer. They agree unless a parameter is frozen for a while and
 * then unfrozen: PyTorch then restarts its bias correction (Adam) or momentum
 * initialisation (SGD) for that parameter, axon continues from the global count.
 *
 * Typical use:
 *
 *     struct ax_optim_options o = ax_optim_defaults(AX_OPTIM_ADAMW);
 *     o.weight_decay = 0.05f;
 *     ax_optimizer_create(params, &o, &opt);
 *     for (step = 0; ...; step++) {
 *             ... forward, ax_backward ...
 *             ax_clip_grad_norm(params, 1.0f, &norm);    // optional
 *             ax_optimizer_step(opt, ax_schedule_lr(&sched, step));
 *     }
 */
#ifndef AXON_OPTIM_H
#define AXON_OPTIM_H

#include <stdint.h>

#include "axon/params.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ax_optim_kind {
	/* torch.optim.SGD. With g = grad + weight_decay * w (coupled, L2):
	 *   v = g at the first step, else v = momentum * v + (1 - dampening) * g;
	 *   w -= lr * (nesterov ? g + momentum * v : v)      (w -= lr * g without momentum) */
	AX_OPTIM_SGD,
	/* torch.optim.Adam. With g = grad + weight_decay * w (coupled, L2) and t the
	 * step count starting at 1:
	 *   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2;
	 *   w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
	AX_OPTIM_ADAM,
	/* torch.optim.AdamW: Adam with decoupled weight decay, applied first:
	 *   w *= 1 - lr * weight_decay;  then the Adam update with g = grad. */
	AX_OPTIM_ADAMW,
};

/* Options. Fields that the kind does not use are ignored and not validated,
 * so one struct can be filled from a config that holds every key. */
struct ax_optim_options {
	enum ax_optim_kind kind;
	/* SGD only (PyTorch defaults 0, 0, 0). */
	float momentum;     /* >= 0; 0 disables the momentum buffer */
	float dampening;    /* in [0, 1]; scales the gradient's share of the momentum */
	int nesterov;       /* 0 or 1; needs momentum > 0 and dampening 0 */
	/* Adam and AdamW only (PyTorch defaults 0.9, 0.999, 1e-8). */
	float beta1;        /* in [0, 1) */
	float beta2;        /* in [0, 1) */
	float eps;          /* > 0 */
	/* All kinds: >= 0. Coupled (added to the gradient) for SGD and Adam,
	 * decoupled (w -= lr * weight_decay * w) for AdamW. PyTorch defaults: 0
	 * for SGD and Adam, 0.01 for AdamW. */
	float weight_decay;
};

/* ax_optim_defaults - PyTorch's defaults for `kind`: SGD without momentum or
 * decay; Adam with betas (0.9, 0.999), eps 1e-8, no decay; AdamW likewise with
 * weight_decay 0.01. Fields the kind does not use are 0. An unknown kind gives
 * all zeros (ax_optimizer_create then reports it). */
struct ax_optim_options ax_optim_defaults(enum ax_optim_kind kind);

/* ax_optim_kind_name - "sgd", "adam", "adamw", or "unknown". */
const char *ax_optim_kind_name(enum ax_optim_kind kind);

struct ax_optimizer;

/* ax_optimizer_create - an optimizer for `params` (finalized, on the CPU). The
 * options are validated field by field and copied; NULL options means SGD
 * with PyTorch's defaults. State buffers are allocated zero-filled and the
 * step count is 0. *out is owned by the caller (ax_optimizer_destroy); it
 * keeps a pointer to `params`, which must outlive it.
 * Errors: AX_ERR_INVALID (NULL params/out, or a bad option: the message names
 * the field and its value), AX_ERR_STATE (params not finalized),
 * AX_ERR_UNSUPPORTED (parameters not on the CPU), AX_ERR_NOMEM. */
enum ax_status ax_optimizer_create(struct ax_params *params,
				   const struct ax_optim_options *options,
				   struct ax_optimizer **out);

/* ax_optimizer_destroy - free the optimizer and its state; NULL is a no-op. */
void ax_optimizer_destroy(struct ax_optimizer *opt);

/* ax_optimizer_options - the options the optimizer was created with. */
const struct ax_optim_options *ax_optimizer_options(const struct ax_optimizer *opt);

/* ax_optimizer_step - one update of every non-frozen parameter from its
 * gradient, with learning rate lr, then the step count goes up by one.
 * Gradients are read, not modified. Makes no heap allocation.
 * Errors: AX_ERR_INVALID (lr negative or not finite; nothing is updated). */
enum ax_status ax_optimizer_step(struct ax_optimizer *opt, float lr);

/* ax_optimizer_step_clear - ax_optimizer_step, after which every gradient is
 * zero, as ax_params_zero_grad leaves it: a training loop that calls this
 * needs no zero_grad before the next backward. The clearing is folded into
 * the update's pass over the gradients (on the CPU, Adam's pass is bound by
 * the divider, so the extra store is free; a separate memset of the gradient
 * buffer costs about 2.5% of a small MLP's step). Errors: as
 * ax_optimizer_step (a bad lr updates and clears nothing). */
enum ax_status ax_optimizer_step_clear(struct ax_optimizer *opt, float lr);

/* ax_optimizer_step_count - the number of steps taken (restored ones included). */
int64_t ax_optimizer_step_count(const struct ax_optimizer *opt);

/* ax_optimizer_set_step_count - set the step count, for restoring a checkpoint
 * together with the state buffers. Adam's bias correction and SGD's momentum
 * initialisation depend on it. Errors: AX_ERR_INVALID (negative count). */
enum ax_status ax_optimizer_set_step_count(struct ax_optimizer *opt, int64_t steps);

/* ax_optimizer_state_count - how many state buffers the optimizer has: 1 for
 * SGD with momentum, 0 for SGD without, 2 for Adam and AdamW. */
int ax_optimizer_state_count(const struct ax_optimizer *opt);

/* ax_optimizer_state - state buffer i (0 <= i < ax_optimizer_state_count):
 * its stable name ("momentum_buffer" for SGD; "exp_avg" then "exp_avg_sq" for
 * Adam and AdamW, as in PyTorch's optimizer state_dict) and its data:
 * ax_params_size(params) floats in the ax_params layout (parameter k's state
 * at ax_params_offset(params, k)). The buffer is owned by the optimizer and
 * may be written (to restore a checkpoint). Either output may be NULL.
 * Errors: AX_ERR_RANGE (no buffer i). */
enum ax_status ax_optimizer_state(const struct ax_optimizer *opt, int i, const char **name,
				  float **buffer);

/* ---- gradient clipping (clip.c) ---- */

/* ax_grad_norm - the global L2 norm of all non-frozen gradients, summed in
 * double: sqrt(sum over parameters of sum g^2). NaN or +Inf when a gradient
 * is NaN or infinite (use it to detect a diverged step).
 * Errors: AX_ERR_INVALID (NULL argument), AX_ERR_STATE (params not finalized),
 * AX_ERR_UNSUPPORTED (not on the CPU). */
enum ax_status ax_grad_norm(const struct ax_params *params, double *norm);

/* ax_clip_grad_norm - torch.nn.utils.clip_grad_norm_: compute the global norm
 * as ax_grad_norm does and, when coef = max_norm / (norm + 1e-6) is below 1,
 * multiply every non-frozen gradient by coef. *total_norm (may be NULL)
 * receives the norm before clipping. When the norm is NaN or infinite the
 * gradients are left untouched and the norm is returned as it is (status
 * AX_OK): the caller decides whether to skip the step. max_norm may be +Inf
 * (never clip). Errors: AX_ERR_INVALID (max_norm not > 0 or NaN), and those
 * of ax_grad_norm. */
enum ax_status ax_clip_grad_norm(struct ax_params *params, float max_norm, double *total_norm);

#ifdef __cplusplus
}
#endif
#endif
