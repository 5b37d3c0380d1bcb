/* optim.c - the optimizer interface: options, validation, state, dispatch.
 *
 * Every algorithm shares this front end: ax_optimizer_create checks each
 * option the algorithm uses against PyTorch's rules and allocates the state
 * buffers in the flat parameter layout; ax_optimizer_step validates the
 * learning rate once and hands over to the algorithm's fused loops
 * (optim_sgd.c, optim_adam.c). Keeping the state as named flat buffers plus
 * one step count is what lets a checkpoint save and restore any optimizer
 * without knowing which one it is. */
#include <math.h>

#include "internal.h"
#include "optim_internal.h"

struct ax_optim_options ax_optim_defaults(enum ax_optim_kind kind)
{
	struct ax_optim_options o = {0};

	o.kind = kind;
	switch (kind) {
	case AX_OPTIM_SGD:
		break;
	case AX_OPTIM_ADAMW:
		o.weight_decay = 0.01f;
		/* fall through */
	case AX_OPTIM_ADAM:
		o.beta1 = 0.9f;
		o.beta2 = 0.999f;
		o.eps = 1e-8f;
		break;
	}
	return o;
}

const char *ax_optim_kind_name(enum ax_optim_kind kind)
{
	switch (kind) {
	case AX_OPTIM_SGD:
		return "sgd";
	case AX_OPTIM_ADAM:
		return "adam";
	case AX_OPTIM_ADAMW:
		return "adamw";
	}
	return "unknown";
}

/* Only the fields the kind uses are checked (the others are ignored, so one
 * options struct can be filled from a config that holds every key).
 * `!(x >= lo)` rather than `x < lo` so that NaN fails too. */
static enum ax_status validate(const struct ax_optim_options *o)
{
	const char *kind = ax_optim_kind_name(o->kind);

	if (o->kind != AX_OPTIM_SGD && o->kind != AX_OPTIM_ADAM && o->kind != AX_OPTIM_ADAMW)
		return AX_ERROR(AX_ERR_INVALID, "optimizer: kind %d is not one of AX_OPTIM_SGD, "
				"AX_OPTIM_ADAM, AX_OPTIM_ADAMW", (int)o->kind);
	if (!(o->weight_decay >= 0.0f) || isinf(o->weight_decay))
		return AX_ERROR(AX_ERR_INVALID, "optimizer %s: weight_decay must be finite and >= 0, "
				"got %g", kind, o->weight_decay);
	if (o->kind == AX_OPTIM_SGD) {
		if (!(o->momentum >= 0.0f) || isinf(o->momentum))
			return AX_ERROR(AX_ERR_INVALID, "optimizer sgd: momentum must be finite and "
					">= 0, got %g", o->momentum);
		if (!(o->dampening >= 0.0f && o->dampening <= 1.0f))
			return AX_ERROR(AX_ERR_INVALID, "optimizer sgd: dampening must be in [0, 1], "
					"got %g", o->dampening);
		if (o->nesterov != 0 && o->nesterov != 1)
			return AX_ERROR(AX_ERR_INVALID, "optimizer sgd: nesterov must be 0 or 1, "
					"got %d", o->nesterov);
		if (o->nesterov && (o->momentum <= 0.0f || o->dampening != 0.0f))
			return AX_ERROR(AX_ERR_INVALID, "optimizer sgd: nesterov needs momentum > 0 "
					"and dampening 0, got momentum %g and dampening %g",
					o->momentum, o->dampening);
		return AX_OK;
	}
	if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
		return AX_ERROR(AX_ERR_INVALID, "optimizer %s: beta1 must be in [0, 1), got %g "
				"(PyTorch's default is 0.9)", kind, o->beta1);
	if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
		return AX_ERROR(AX_ERR_INVALID, "optimizer %s: beta2 must be in [0, 1), got %g "
				"(PyTorch's default is 0.999)", kind, o->beta2);
	if (!(o->eps > 0.0f) || isinf(o->eps))
		return AX_ERROR(AX_ERR_INVALID, "optimizer %s: eps must be finite and > 0, got %g "
				"(PyTorch's default is 1e-8; start from ax_optim_defaults)", kind, o->eps);
	return AX_OK;
}

enum ax_status ax_optimizer_create(struct ax_params *params,
				   const struct ax_optim_options *options,
				   struct ax_optimizer **out)
{
	struct ax_optim_options o = ax_optim_defaults(AX_OPTIM_SGD);
	struct ax_optimizer *opt;
	enum ax_status st;
	int n_state;

	if (!params || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_optimizer_create: params or out is NULL");
	if (options)
		o = *options;
	st = validate(&o);
	if (st)
		return st;
	if (!ax_params_data(params))
		return AX_ERROR(AX_ERR_STATE, "ax_optimizer_create: call ax_params_finalize first");
	if (o.kind == AX_OPTIM_SGD)
		n_state = o.momentum > 0.0f ? 1 : 0;
	else
		n_state = 2;
	opt = ax_calloc(1, sizeof(*opt));
	if (!opt)
		return AX_ERR_NOMEM;
	opt->params = params;
	opt->options = o;
	opt->device = ax_params_device(params);
	for (int i = 0; i < n_state; i++) {
		/* 16 floats minimum: ax_params_size is 0 for a store without parameters. */
		int64_t size = ax_params_size(params);
		size_t bytes = (size_t)(size ? size : 16) * sizeof(float);

		if (opt->device.kind == AX_DEVICE_CPU) {
			opt->state[i] = ax_calloc(1, bytes);
			st = opt->state[i] ? AX_OK : AX_ERR_NOMEM;
		} else {
			const struct ax_device_ops *dev = ax_device_ops_get(opt->device.kind);

			st = dev->alloc(opt->device.index, bytes, (void **)&opt->state[i]);
			if (!st)
				st = dev->memset_zero(opt->device.index, opt->state[i], bytes);
		}
		if (st) {
			ax_optimizer_destroy(opt);
			return st;
		}
		opt->n_state = i + 1;
	}
	*out = opt;
	return AX_OK;
}

void ax_optimizer_destroy(struct ax_optimizer *opt)
{
	if (!opt)
		return;
	for (int i = 0; i < opt->n_state; i++) {
		if (opt->device.kind == AX_DEVICE_CPU)
			ax_free(opt->state[i]);
		else if (opt->state[i])
			ax_device_ops_get(opt->device.kind)->free(opt->device.index, opt->state[i]);
	}
	ax_free(opt);
}

const struct ax_optim_options *ax_optimizer_options(const struct ax_optimizer *opt)
{
	return &opt->options;
}

static enum ax_status step(struct ax_optimizer *opt, float lr, int clear)
{
	if (!(lr >= 0.0f) || isinf(lr))
		return AX_ERROR(AX_ERR_INVALID, "optimizer %s: learning rate must be finite and "
				">= 0, got %g at step %lld", ax_optim_kind_name(opt->options.kind), lr,
				(long long)opt->steps + 1);
	if (opt->device.kind != AX_DEVICE_CPU) {
		/* The GPU pass is launch-bound, not divider-bound: a separate
		 * clear costs the same as a fused one. */
		enum ax_status st = ax_optim_device_step(opt, lr);

		if (!st && clear)
			st = ax_params_zero_grad(opt->params);
		if (st)
			return st;
	} else if (opt->options.kind == AX_OPTIM_SGD) {
		ax_optim_sgd_step(opt, lr, clear);
	} else {
		ax_optim_adam_step(opt, lr, clear);
	}
	opt->steps++;
	return AX_OK;
}

enum ax_status ax_optimizer_step(struct ax_optimizer *opt, float lr)
{
	return step(opt, lr, 0);
}

enum ax_status ax_optimizer_step_clear(struct ax_optimizer *opt, float lr)
{
	return step(opt, lr, 1);
}

int64_t ax_optimizer_step_count(const struct ax_optimizer *opt)
{
	return opt->steps;
}

enum ax_status ax_optimizer_set_step_count(struct ax_optimizer *opt, int64_t steps)
{
	if (steps < 0)
		return AX_ERROR(AX_ERR_INVALID, "ax_optimizer_set_step_count: step count must be "
				">= 0, got %lld", (long long)steps);
	opt->steps = steps;
	return AX_OK;
}

int ax_optimizer_state_count(const struct ax_optimizer *opt)
{
	return opt->n_state;
}

enum ax_status ax_optimizer_state(const struct ax_optimizer *opt, int i, const char **name,
				  float **buffer)
{
	/* Names as in PyTorch's optimizer state_dict, so checkpoints read alike. */
	static const char *const sgd_names[] = {"momentum_buffer"};
	static const char *const adam_names[] = {"exp_avg", "exp_avg_sq"};

	if (i < 0 || i >= opt->n_state)
		return AX_ERROR(AX_ERR_RANGE, "optimizer %s: no state buffer %d (it has %d)",
				ax_optim_kind_name(opt->options.kind), i, opt->n_state);
	if (name)
		*name = opt->options.kind == AX_OPTIM_SGD ? sgd_names[i] : adam_names[i];
	if (buffer)
		*buffer = opt->state[i];
	return AX_OK;
}
