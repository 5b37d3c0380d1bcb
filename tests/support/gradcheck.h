/* gradcheck.h - finite-difference gradient checks for axon ops.
 *
 * gc_check builds a small graph from random inputs, seeds its output with a
 * random cotangent R and runs ax_backward_with, which gives the analytic
 * vector-Jacobian product dL/dx for L = sum(y * R). It then perturbs every
 * element of every differentiable input by +-h, re-runs the forward pass and
 * forms the central difference (L(x+h) - L(x-h)) / (2h), with L summed in
 * double. Each element must satisfy
 *
 *     |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
 *
 * Default tolerances (GC_TOL_DEFAULT): h = 1e-2, atol = 5e-4, rtol = 5e-3.
 * Why these: the forward pass is f32, so each output carries ~6e-8 relative
 * rounding; summed over ~100 outputs and divided by 2h that is ~1e-5 of noise
 * at h = 1e-2, while the truncation error of a central difference is
 * ~h^2/6 * |f'''|, about 2e-5 for the smooth ops here. A gradient that is off
 * by 1% fails (tests/test_gradcheck.c proves it). Inputs to ops with kinks
 * (relu, leaky relu) are drawn with |x| >= min_abs so that x +- h never
 * crosses the kink.
 *
 * Layouts: every input can be given contiguous, transposed (the last two axes
 * stored swapped, so the view has unit stride on the second-last axis) or
 * strided (every other element of a buffer twice as wide). Padding elements
 * of strided buffers hold NaN, so a kernel that reads outside the view fails
 * the check instead of passing by luck. */
#ifndef AXON_TEST_GRADCHECK_H
#define AXON_TEST_GRADCHECK_H

#include <stdint.h>

#include "axon/axon.h"

enum gc_layout {
	GC_CONTIGUOUS = 0,
	GC_TRANSPOSED, /* needs ndim >= 2 */
	GC_STRIDED,
};

struct gc_input {
	int ndim;
	int64_t shape[AX_MAX_DIMS];
	enum ax_dtype dtype;     /* AX_F32 inputs are checked; others are fixed */
	enum gc_layout layout;
	float lo, hi;            /* f32 values from U(lo, hi); both 0 means U(-1, 1) */
	float min_abs;           /* redraw values with |x| < min_abs (kinks at 0) */
	const void *values;      /* fixed values in row-major order (needed for i32/u8) */
	int no_grad;             /* 1: an f32 input that is not differentiated */
};

struct gc_tol {
	double h, atol, rtol;
};
#define GC_TOL_DEFAULT ((struct gc_tol){1e-2, 5e-4, 5e-3})

/* Build the graph under test from the prepared inputs. in[k] has
 * requires_grad set when it is checked. */
typedef enum ax_status (*gc_build_fn)(struct ax_ctx *ctx, struct ax_tensor **in, void *arg,
				      struct ax_tensor **out);

/* gc_check - returns 0 when every checked element passes; otherwise prints
 * the worst element (label, input, index, analytic, numeric) and returns 1.
 * A forward or backward error also prints and returns 1. tol NULL means the
 * default. The context runs in training mode with the same RNG state for
 * every forward pass (so dropout's mask is fixed). */
int gc_check(const char *label, int n, const struct gc_input *inputs, gc_build_fn build,
	     void *arg, const struct gc_tol *tol);

/* gc_seed - the seed used for inputs and cotangents; changes per call of gc_check
 * unless set (so a failure report prints it and can be replayed). */
void gc_set_seed(uint64_t seed);

/* gc_set_device - run the graphs of later gc_check calls on `device` (the
 * CPU until set); returns the previous device. On a device other than the
 * CPU each forward pass uploads every input's physical buffer (padding
 * included, so transposed and strided inputs stay views with the same
 * strides) into an arena tensor, the cotangent is uploaded, and the output
 * and the analytic gradients are downloaded so the loss is still summed in
 * double on the host. The CPU path is unchanged (inputs wrap host memory). */
struct ax_device gc_set_device(struct ax_device device);

#endif
