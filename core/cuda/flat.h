/* cuda/flat.h - the optimizer and gradient-norm passes over the flat
 * parameter buffers on a GPU (k_optim.cu), declared without CUDA types so
 * that the device-independent optimizer code (core/optim*.c, core/clip.c)
 * can call them; a build without CUDA links stub.c's versions, which report
 * AX_ERR_UNSUPPORTED. */
#ifndef AXON_CUDA_FLAT_H
#define AXON_CUDA_FLAT_H

#include <stdint.h>

#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Optimizer and gradient-norm passes over the flat buffers (k_optim.cu).
 * `slices` is a device array of n_slices {offset, numel, decay} records
 * (frozen parameters are left out by the caller); every pass runs on the
 * compute stream of GPU `index`. */
struct ax_cuda_slice {
	int64_t offset;
	int64_t numel;
	int decays;          /* weight decay applies to this slice */
	int pad;
};

/* Weight decay (Adam's l2 / AdamW's shrink / SGD's weight_decay) applies
 * only to slices with decays = 1; the others use l2 = 0, shrink = 1,
 * weight_decay = 0, as the CPU loops do. */
struct ax_cuda_adam_args {
	float l2;            /* Adam's coupled decay (0 for AdamW) */
	float shrink;        /* AdamW's 1 - lr * wd (1 for Adam) */
	float beta1, beta2, step_size, inv_sqrt_bc2, eps;
};

struct ax_cuda_sgd_args {
	float lr, weight_decay, momentum, dampening;
	int nesterov;
	int first_step;      /* the momentum buffer starts as a copy of the gradient */
};

/* w, g, m, v are the flat buffers; the slice table is in device memory. One
 * launch per pass: blockIdx.y picks the slice, a grid-stride loop in x walks
 * it. The passes touch slices[0..n_slices) and nothing else; `max_numel` is
 * the largest slice (sizes the x grid). */
enum ax_status ax_cuda_adam_step(int index, float *w, const float *g, float *m, float *v,
				 const struct ax_cuda_slice *slices, int n_slices, int64_t max_numel,
				 const struct ax_cuda_adam_args *args);
enum ax_status ax_cuda_sgd_step(int index, float *w, const float *g, float *buf,
				const struct ax_cuda_slice *slices, int n_slices, int64_t max_numel,
				const struct ax_cuda_sgd_args *args);
/* Sum of squares of g over the slices, in double, into *out (host; syncs). */
enum ax_status ax_cuda_sum_squares(int index, const float *g, const struct ax_cuda_slice *slices,
				   int n_slices, int64_t max_numel, double *out);
/* g *= coef over the slices. */
enum ax_status ax_cuda_scale(int index, float *g, const struct ax_cuda_slice *slices,
			     int n_slices, int64_t max_numel, float coef);
/* Count of non-finite values of x[0..n) into *out (host; syncs). */
enum ax_status ax_cuda_count_nonfinite(int index, const float *x, int64_t n, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
