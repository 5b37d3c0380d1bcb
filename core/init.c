/* init.c - He / Xavier / uniform / normal / constant initialisation.
 *
 * Fans follow PyTorch's definitions so a model initialised here has the same
 * scale as its PyTorch twin (the values differ: the generators differ). */
#include <math.h>

#include "axon/alloc.h"
#include "axon/init.h"

enum fill_kind { FILL_UNIFORM, FILL_NORMAL, FILL_CONSTANT };

static enum ax_status check_tensor(const struct ax_tensor *t, const char *what)
{
	if (!t)
		return AX_ERROR(AX_ERR_INVALID, "%s: tensor is NULL", what);
	if (t->dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "%s: %s is %s, needs f32", what,
				t->name ? t->name : "tensor", ax_dtype_name(t->dtype));
	if (!ax_tensor_is_contiguous(t) || !t->data)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "%s: %s must be a contiguous tensor with data",
				what, t->name ? t->name : "tensor");
	return AX_OK;
}

/* Fill t from the host RNG: in place on the CPU; for a GPU tensor into a
 * host buffer that is then uploaded, so a model gets the same initial values
 * on every device. */
static enum ax_status fill(struct ax_tensor *t, struct ax_rng *rng, enum fill_kind kind, float a,
			   float b, const char *what)
{
	int64_t n;
	float *p;
	enum ax_status st = check_tensor(t, what);

	if (st)
		return st;
	n = ax_tensor_numel(t);
	p = t->device.kind == AX_DEVICE_CPU ? t->data : ax_alloc((size_t)(n ? n : 1) * sizeof(float));
	if (!p)
		return AX_ERR_NOMEM;
	switch (kind) {
	case FILL_UNIFORM:
		ax_rng_uniform(rng, p, n, a, b);
		break;
	case FILL_NORMAL:
		ax_rng_normal(rng, p, n, a, b);
		break;
	case FILL_CONSTANT:
		for (int64_t i = 0; i < n; i++)
			p[i] = a;
		break;
	}
	if (t->device.kind != AX_DEVICE_CPU) {
		st = ax_tensor_upload(t, p, (size_t)n * sizeof(float));
		ax_free(p);
	}
	return st;
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
	enum ax_status st = check_tensor(t, what);
	double fan;
	float scale;

	if (!st)
		st = ax_init_fans(t, &fan_in, &fan_out);
	if (st)
		return st;
	fan = use_fan_out ? (double)(fan_in + fan_out) : (double)fan_in;
	if (fan <= 0)
		return AX_OK; /* an empty tensor: nothing to fill */
	scale = (float)sqrt(numerator / fan);
	if (normal)
		return fill(t, rng, FILL_NORMAL, 0.0f, scale, what);
	return fill(t, rng, FILL_UNIFORM, -scale, scale, what);
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
	return fill(t, rng, FILL_UNIFORM, lo, hi, "init_uniform");
}

enum ax_status ax_init_normal(struct ax_tensor *t, struct ax_rng *rng, float mean, float std)
{
	return fill(t, rng, FILL_NORMAL, mean, std, "init_normal");
}

enum ax_status ax_init_constant(struct ax_tensor *t, float value)
{
	return fill(t, NULL, FILL_CONSTANT, value, 0.0f, "init_constant");
}
