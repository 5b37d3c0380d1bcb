/* testutil.c - helpers shared by the cmocka tests (see testutil.h). */
#include <math.h>
#include <string.h>

#include "testutil.h"

struct ax_ctx *tu_ctx(uint64_t seed)
{
	struct ax_ctx_options opt = {.device = AX_CPU, .seed = seed};
	struct ax_ctx *ctx = NULL;

	TU_OK(ax_ctx_create(&opt, &ctx));
	return ctx;
}

struct ax_tensor *tu_tensor(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			    const int64_t *shape, const void *values)
{
	struct ax_tensor *t = NULL;

	TU_OK(ax_tensor_new(ctx, dtype, ndim, shape, 1, &t));
	if (values)
		memcpy(t->data, values, (size_t)ax_tensor_numel(t) * ax_dtype_size(dtype));
	return t;
}

void tu_assert_close(const float *got, const float *want, int64_t n, double atol, double rtol,
		     const char *what)
{
	for (int64_t i = 0; i < n; i++) {
		double diff = fabs((double)got[i] - (double)want[i]);

		if (!(diff <= atol + rtol * fabs((double)want[i])))
			fail_msg("%s: element %lld is %.9g, expected %.9g (|diff| %.3g)", what,
				 (long long)i, got[i], want[i], diff);
	}
}

void tu_read(const struct ax_tensor *t, float *out)
{
	int64_t n = ax_tensor_numel(t);

	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0, rest = i;

		for (int d = t->ndim - 1; d >= 0; d--) {
			off += (rest % t->shape[d]) * t->stride[d];
			rest /= t->shape[d];
		}
		out[i] = ((const float *)t->data)[off];
	}
}
