/* cuda_compare.h - what the CUDA tests (test_cuda_ops.c, test_cuda_train.c)
 * share: comparing device results with CPU ones, host copies of device
 * tensors, contexts on a device. */
#ifndef AXON_TEST_CUDA_COMPARE_H
#define AXON_TEST_CUDA_COMPARE_H

#include <stdint.h>

#include "axon/axon.h"

#define CC_GPU ((struct ax_device){AX_DEVICE_CUDA, 0})

struct tol {
	double atol, rtol;
};

/* Fails (cmocka) naming label, what, the first element with
 * |gpu - cpu| > atol + rtol |cpu| and both values; NaN matches NaN. */
void cc_compare(const char *label, const char *what, const float *gpu, const float *cpu,
		int64_t n, struct tol tol);

/* A malloc'd row-major host copy of any f32 tensor on any device (views too). */
float *cc_fetch(const struct ax_tensor *t);

/* A new contiguous tensor on ctx's device holding `values`. */
struct ax_tensor *cc_put(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim, const int64_t *shape,
			 const void *values);

struct ax_ctx *cc_make_ctx(struct ax_device device, enum ax_precision precision, uint64_t seed);

/* A seed derived from a case label (FNV-1a), so each case draws its own data. */
uint64_t cc_seed_of(const char *label);

#endif
