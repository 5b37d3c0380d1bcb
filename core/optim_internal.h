/* optim_internal.h - what the optimizer files share: the optimizer struct
 * and one step function per algorithm family. optim.c owns creation,
 * validation and state; optim_sgd.c and optim_adam.c own the update loops. */
#ifndef AXON_OPTIM_INTERNAL_H
#define AXON_OPTIM_INTERNAL_H

#include <stdint.h>

#include "axon/optim.h"
#include "axon/tensor.h"

enum { AX_OPTIM_MAX_STATE = 2 };

struct ax_optimizer {
	struct ax_params *params;
	struct ax_optim_options options;
	int n_state;                       /* buffers in use in state[] */
	float *state[AX_OPTIM_MAX_STATE];  /* each (ax_params_size) floats, params layout */
	int64_t steps;                     /* steps taken; the next one is steps + 1 */
	struct ax_device device;           /* the parameters' device; state lives there */
};

/* One update of every non-frozen parameter; lr is already validated and the
 * caller bumps opt->steps afterwards. With `clear`, every gradient slice
 * (frozen ones too) is left zero, as ax_params_zero_grad would leave it. */
void ax_optim_sgd_step(struct ax_optimizer *opt, float lr, int clear);
void ax_optim_adam_step(struct ax_optimizer *opt, float lr, int clear); /* Adam and AdamW */

/* optim_device.c: the same update on a GPU store, one fused launch over the
 * flat buffers. Can fail (device errors). */
enum ax_status ax_optim_device_step(struct ax_optimizer *opt, float lr);

/* The per-step scalars of Adam/AdamW, shared by the CPU and GPU passes. */
struct ax_adam_scalars {
	float step_size, inv_sqrt_bc2, shrink;
};
struct ax_adam_scalars ax_adam_scalars(const struct ax_optimizer *opt, float lr);

#endif
