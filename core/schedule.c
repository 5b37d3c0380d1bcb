/* schedule.c - learning-rate schedules (see axon/schedule.h).
 *
 * Closed forms of step only, no state: the training loop asks for the rate of
 * step k, whether it got there by training or by resuming a checkpoint. The
 * formulas are PyTorch's chainable schedulers (LinearLR, then StepLR or
 * CosineAnnealingLR) written out in closed form, evaluated in double. */
#include <math.h>

#include "axon/schedule.h"

/* M_PI is not in C11 (nor POSIX without XSI). */
static const double pi = 3.14159265358979323846;

const char *ax_schedule_kind_name(enum ax_schedule_kind kind)
{
	switch (kind) {
	case AX_SCHED_CONSTANT:
		return "constant";
	case AX_SCHED_STEP:
		return "step";
	case AX_SCHED_COSINE:
		return "cosine";
	}
	return "unknown";
}

/* `!(x >= lo)` rather than `x < lo` so that NaN fails too. */
enum ax_status ax_schedule_validate(const struct ax_schedule *s)
{
	const char *kind;

	if (!s)
		return AX_ERROR(AX_ERR_INVALID, "ax_schedule_validate: schedule is NULL");
	kind = ax_schedule_kind_name(s->kind);
	if (s->kind != AX_SCHED_CONSTANT && s->kind != AX_SCHED_STEP && s->kind != AX_SCHED_COSINE)
		return AX_ERROR(AX_ERR_INVALID, "schedule: kind %d is not one of AX_SCHED_CONSTANT, "
				"AX_SCHED_STEP, AX_SCHED_COSINE", (int)s->kind);
	if (!(s->base_lr >= 0.0f) || isinf(s->base_lr))
		return AX_ERROR(AX_ERR_INVALID, "schedule %s: base_lr must be finite and >= 0, got %g",
				kind, s->base_lr);
	if (s->warmup_steps < 0)
		return AX_ERROR(AX_ERR_INVALID, "schedule %s: warmup_steps must be >= 0, got %lld",
				kind, (long long)s->warmup_steps);
	if (!(s->warmup_start_factor >= 0.0f && s->warmup_start_factor <= 1.0f))
		return AX_ERROR(AX_ERR_INVALID, "schedule %s: warmup_start_factor must be in [0, 1], "
				"got %g", kind, s->warmup_start_factor);
	if (s->kind == AX_SCHED_STEP) {
		if (s->step_size < 1)
			return AX_ERROR(AX_ERR_INVALID, "schedule step: step_size must be >= 1, got "
					"%lld", (long long)s->step_size);
		if (!(s->gamma > 0.0f && s->gamma <= 1.0f))
			return AX_ERROR(AX_ERR_INVALID, "schedule step: gamma must be in (0, 1], got %g",
					s->gamma);
	}
	if (s->kind == AX_SCHED_COSINE) {
		if (s->total_steps <= s->warmup_steps)
			return AX_ERROR(AX_ERR_INVALID, "schedule cosine: total_steps (%lld) must be "
					"greater than warmup_steps (%lld); total_steps counts the "
					"warmup", (long long)s->total_steps,
					(long long)s->warmup_steps);
		if (!(s->min_lr >= 0.0f && s->min_lr <= s->base_lr))
			return AX_ERROR(AX_ERR_INVALID, "schedule cosine: min_lr must be in [0, base_lr "
					"= %g], got %g", s->base_lr, s->min_lr);
	}
	return AX_OK;
}

float ax_schedule_lr(const struct ax_schedule *s, int64_t step)
{
	double base = s->base_lr;
	int64_t warmup = s->warmup_steps;
	int64_t after;

	if (step < 0)
		step = 0;
	if (step < warmup) {
		/* Linear from base * f at step 0 to base at step W (reached exactly). */
		double f = s->warmup_start_factor;

		return (float)(base * (f + (1.0 - f) * (double)step / (double)warmup));
	}
	after = step - warmup;
	switch (s->kind) {
	case AX_SCHED_CONSTANT:
		return (float)base;
	case AX_SCHED_STEP:
		/* Integer division: the decays happen at W + k * step_size exactly. */
		return (float)(base * pow((double)s->gamma, (double)(after / s->step_size)));
	case AX_SCHED_COSINE: {
		int64_t span = s->total_steps - warmup;
		double min = s->min_lr;

		if (after >= span)
			return (float)min;
		return (float)(min + (base - min) * 0.5 *
			       (1.0 + cos(pi * (double)after / (double)span)));
	}
	}
	return NAN;
}
