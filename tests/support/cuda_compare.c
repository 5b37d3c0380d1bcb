/* cuda_compare.c - host-side helpers of the CUDA tests (see cuda_compare.h). */
#include "cuda_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* Fails naming the case, the tensor, the first bad element and both values. */
void cc_compare(const char *label, const char *what, const float *gpu, const float *cpu,
		    int64_t n, struct tol tol)
{
	for (int64_t i = 0; i < n; i++) {
		double diff = fabs((double)gpu[i] - (double)cpu[i]);
		double allowed = tol.atol + tol.rtol * fabs((double)cpu[i]);

		if (isnan(cpu[i]) && isnan(gpu[i]))
			continue;
		if (!(diff <= allowed))
			fail_msg("%s: %s element %lld: gpu %.9g, cpu %.9g (|diff| %.3g > %.3g)",
				 label, what, (long long)i, gpu[i], cpu[i], diff, allowed);
	}
}

/* A row-major host copy of any f32 tensor on any device: the memory span its
 * view covers comes down in one copy (through a 1-D header over the same
 * first element, so no kernel is involved), then is gathered by strides. */
float *cc_fetch(const struct ax_tensor *t)
{
	int64_t n = ax_tensor_numel(t), extent = 1;
	struct ax_tensor span = *t, host = *t;
	float *buf, *out = malloc((size_t)(n ? n : 1) * sizeof(float));

	assert_non_null(out);
	assert_int_equal(t->dtype, AX_F32);
	if (n == 0)
		return out;
	for (int d = 0; d < t->ndim; d++)
		extent += (t->shape[d] - 1) * t->stride[d];
	buf = malloc((size_t)extent * sizeof(float));
	assert_non_null(buf);
	span.ndim = 1;
	span.shape[0] = extent;
	span.stride[0] = 1;
	TU_OK(ax_tensor_download(&span, buf, (size_t)extent * sizeof(float)));
	host.data = buf;
	host.device = AX_CPU;
	tu_read(&host, out);
	free(buf);
	return out;
}

/* A new contiguous tensor on ctx's device holding `values`. */
struct ax_tensor *cc_put(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			     const int64_t *shape, const void *values)
{
	struct ax_tensor *t = NULL;

	TU_OK(ax_tensor_new(ctx, dtype, ndim, shape, 0, &t));
	TU_OK(ax_tensor_upload(t, values, (size_t)ax_tensor_numel(t) * ax_dtype_size(dtype)));
	return t;
}

struct ax_ctx *cc_make_ctx(struct ax_device device, enum ax_precision precision,
			       uint64_t seed)
{
	struct ax_ctx_options opt = {.device = device, .seed = seed, .precision = precision};
	struct ax_ctx *ctx = NULL;

	TU_OK(ax_ctx_create(&opt, &ctx));
	return ctx;
}

uint64_t cc_seed_of(const char *label)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *label; label++)
		h = (h ^ (unsigned char)*label) * 1099511628211ULL;
	return h;
}
