/* axon/init.h - parameter initialisation from a struct ax_rng.
 *
 * fan_in and fan_out follow PyTorch: for a weight of shape (out, in, k...)
 * fan_in = in * prod(k) and fan_out = out * prod(k). Host (CPU) tensors only;
 * GPU parameters are initialised on the host and copied. All functions fail
 * with AX_ERR_DTYPE for non-f32 tensors, AX_ERR_SHAPE when a fan is undefined
 * (fewer than 2 dimensions) and AX_ERR_UNSUPPORTED for non-contiguous or
 * device tensors. */
#ifndef AXON_INIT_H
#define AXON_INIT_H

#include "axon/rng.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* He (Kaiming) normal: N(0, 2 / fan_in), for ReLU networks. */
enum ax_status ax_init_he_normal(struct ax_tensor *t, struct ax_rng *rng);
/* He uniform: U(-b, b) with b = sqrt(6 / fan_in). */
enum ax_status ax_init_he_uniform(struct ax_tensor *t, struct ax_rng *rng);
/* Xavier (Glorot) normal: N(0, 2 / (fan_in + fan_out)). */
enum ax_status ax_init_xavier_normal(struct ax_tensor *t, struct ax_rng *rng);
/* Xavier uniform: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)). */
enum ax_status ax_init_xavier_uniform(struct ax_tensor *t, struct ax_rng *rng);
/* U(lo, hi), any shape (PyTorch's default bias init is U(-1/sqrt(fan_in), +)). */
enum ax_status ax_init_uniform(struct ax_tensor *t, struct ax_rng *rng, float lo, float hi);
/* N(mean, std^2), any shape. */
enum ax_status ax_init_normal(struct ax_tensor *t, struct ax_rng *rng, float mean, float std);
/* Every element = value, any shape. */
enum ax_status ax_init_constant(struct ax_tensor *t, float value);

/* ax_init_fans - fan_in and fan_out of t as above. */
enum ax_status ax_init_fans(const struct ax_tensor *t, int64_t *fan_in, int64_t *fan_out);

#ifdef __cplusplus
}
#endif
#endif
