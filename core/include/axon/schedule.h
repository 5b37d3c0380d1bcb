/* axon/schedule.h - learning-rate schedules: warmup, then constant, step or cosine.
 *
 * A schedule is a plain struct and the learning rate a pure function of the
 * step index, so a run resumed at step k gets exactly the rates it would
 * have had, with nothing to checkpoint beyond the step. Step 0 is the first
 * optimizer step: pass ax_schedule_lr(&s, step) to ax_optimizer_step.
 *
 * With W = warmup_steps:
 *
 *   step < W (linear warmup, PyTorch LinearLR(start_factor, 1.0, total_iters=W)):
 *     lr = base_lr * (f + (1 - f) * step / W),  f = warmup_start_factor
 *   step >= W, by kind:
 *     AX_SCHED_CONSTANT: base_lr
 *     AX_SCHED_STEP (PyTorch StepLR after the warmup):
 *       base_lr * gamma ^ floor((step - W) / step_size)
 *     AX_SCHED_COSINE (PyTorch CosineAnnealingLR with T_max = total_steps - W):
 *       min_lr + (base_lr - min_lr) * (1 + cos(pi * (step - W) / (total_steps - W))) / 2
 *       and min_lr from total_steps on.
 *
 * The arithmetic is done in double and rounded to float once. */
#ifndef AXON_SCHEDULE_H
#define AXON_SCHEDULE_H

#include <stdint.h>

#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ax_schedule_kind {
	AX_SCHED_CONSTANT,
	AX_SCHED_STEP,
	AX_SCHED_COSINE,
};

/* A zero-initialised struct plus base_lr is a constant schedule without
 * warmup. Fields a kind does not use are ignored. */
struct ax_schedule {
	enum ax_schedule_kind kind;
	float base_lr;             /* finite, >= 0: the rate after warmup */
	int64_t warmup_steps;      /* >= 0; 0 disables warmup */
	/* In [0, 1]: the rate at step 0 is base_lr * warmup_start_factor. The
	 * zero default starts from 0, as the warmups of Hugging Face
	 * transformers do (step 0 then changes no weight but advances the
	 * optimizer's state); set 1.0f / 3 for PyTorch LinearLR's default. */
	float warmup_start_factor;
	int64_t step_size;         /* AX_SCHED_STEP: >= 1, steps between decays */
	float gamma;               /* AX_SCHED_STEP: in (0, 1], factor per decay */
	int64_t total_steps;       /* AX_SCHED_COSINE: > warmup_steps, warmup included */
	float min_lr;              /* AX_SCHED_COSINE: in [0, base_lr], the final rate */
};

/* ax_schedule_validate - check every field the kind uses. Returns AX_OK or
 * AX_ERR_INVALID with a message naming the field, its value and the rule.
 * s == NULL is AX_ERR_INVALID. */
enum ax_status ax_schedule_validate(const struct ax_schedule *s);

/* ax_schedule_lr - the learning rate for optimizer step `step` (0-based; a
 * negative step is treated as 0). `s` must pass ax_schedule_validate; for a
 * schedule that does not, the result is unspecified (NaN for an unknown kind). */
float ax_schedule_lr(const struct ax_schedule *s, int64_t step);

/* ax_schedule_kind_name - "constant", "step", "cosine", or "unknown". */
const char *ax_schedule_kind_name(enum ax_schedule_kind kind);

#ifdef __cplusplus
}
#endif
#endif
