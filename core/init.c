/* init.c - He / Xavier / uniform / normal / constant initialisation.
 *
 * Fans follow PyTorch's definitions so a model initialised here has the same
 * scale as its PyTorch twin (the values differ: the generators differ). */
#include <math.h>

#include "axon/init.h"

static enum ax_status check_host(const struct ax_tensor *t, const char *what)
{
	if (!t)
		return AX_ERROR(AX_ERR_INVALID, "%s: tensor is NULL", what);
	if (t->dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "%s: %s is %s, needs f32", what,
				t->name ? t->name : "tensor", ax_dtype_name(t->dtype));
	if (t->device.kind != AX_DEVICE_CPU || !ax_tensor_is_contiguous(t) || !t->data)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "%s: %s must be a contiguous host tensor "
				"(initialise on the host, then copy)", what,
				t->name ? t->name : "tensor");
	return AX_OK;
}

enum ax_status ax_init_fans(const struct ax_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
	int64_t receptive = 1;

	if (t->ndim < 2) {
		char buf[160];

		return AX_ERROR(AX_ERR_SHAPE, "init: fan_in/fan_out need at least 2 dimensions, "
				"%s has shape %s", t->name ? t->name : "tensor",
				ax_shape_str(t->ndim, t->shape, buf, sizeof(buf)));
	}
	for (int d = 2; d < t->ndim; d++)
		receptive *= t->shape[d];
	*fan_in = t->shape[1] * receptive;
	*fan_out = t->shape[0] * receptive;
	return AX_OK;
}

static enum ax_status fill_scaled(struct ax_tensor *t, struct ax_rng *rng, const char *what,
				  int normal, double numerator, int use_fan_out)
{
	int64_t fan_in, fan_out;
	enum ax_status st = check_host(t, what);
	double fan;

	if (!st)
		st = ax_init_fans(t, &fan_in, &fan_out);
	if (st)
		return st;
	fan = use_fan_out ? (double)(fan_in + fan_out) : (double)fan_in;
	if (fan <= 0)
		return AX_OK; /* an empty tensor: nothing to fill */
	if (normal)
		ax_rng_normal(rng, t->data, ax_tensor_numel(t), 0.0f, (float)sqrt(numerator / fan));
	else {
		float bound = (float)sqrt(numerator / fan);

		ax_rng_uniform(rng, t->data, ax_tensor_numel(t), -bound, bound);
	}
	return AX_OK;
}

enum ax_status ax_init_he_normal(struct ax_tensor *t, struct ax_rng *rng)
{
	return fill_scaled(t, rng, "init_he_normal", 1, 2.0, 0);
}

enum ax_status ax_init_he_uniform(struct ax_tensor *t, struct ax_rng *rng)
{
	return fill_scaled(t, rng, "init_he_uniform", 0, 6.0, 0);
}

enum ax_status ax_init_xavier_normal(struct ax_tensor *t, struct ax_rng *rng)
{
	return fill_scaled(t, rng, "init_xavier_normal", 1, 2.0, 1);
}

enum ax_status ax_init_xavier_uniform(struct ax_tensor *t, struct ax_rng *rng)
{
	return fill_scaled(t, rng, "init_xavier_uniform", 0, 6.0, 1);
}

enum ax_status ax_init_uniform(struct ax_tensor *t, struct ax_rng *rng, float lo, float hi)
{
	enum ax_status st = check_host(t, "init_uniform");

	if (st)
		return st;
	ax_rng_uniform(rng, t->data, ax_tensor_numel(t), lo, hi);
	return AX_OK;
}

enum ax_status ax_init_normal(struct ax_tensor *t, struct ax_rng *rng, float mean, float std)
{
	enum ax_status st = check_host(t, "init_normal");

	if (st)
		return st;
	ax_rng_normal(rng, t->data, ax_tensor_numel(t), mean, std);
	return AX_OK;
}

enum ax_status ax_init_constant(struct ax_tensor *t, float value)
{
	enum ax_status st = check_host(t, "init_constant");
	float *p;
	int64_t n;

	if (st)
		return st;
	p = t->data;
	n = ax_tensor_numel(t);
	for (int64_t i = 0; i < n; i++)
		p[i] = value;
	return AX_OK;
}
