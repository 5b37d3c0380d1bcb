/* axon/optim.h - optimizers over the flat parameter buffers.
 *
 * An optimizer keeps its state (momentum, moments) in flat buffers with the
 * same layout as struct ax_params, so a step is one pass over memory and the
 * state is checkpointed as a handful of arrays. Frozen parameters are skipped;
 * parameters registered with AX_PARAM_NO_DECAY get no weight decay. */
#ifndef AXON_OPTIM_H
#define AXON_OPTIM_H

#include <stdint.h>

#include "axon/params.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ax_sgd_options {
	float momentum;     /* 0 disables the velocity buffer */
	float dampening;    /* PyTorch semantics; usually 0 */
	float weight_decay; /* L2, added to the gradient (coupled) */
	int nesterov;       /* needs momentum > 0 and dampening == 0 */
};

struct ax_sgd;

/* ax_sgd_create - SGD for `params` (finalized). Errors: AX_ERR_INVALID
 * (bad options, naming the field), AX_ERR_STATE (params not finalized), AX_ERR_NOMEM. */
enum ax_status ax_sgd_create(struct ax_params *params, const struct ax_sgd_options *options,
			     struct ax_sgd **out);
void ax_sgd_destroy(struct ax_sgd *sgd);

/* ax_sgd_step - one update with learning rate lr:
 *   g = grad + wd * w;  v = momentum * v + (1 - dampening) * g  (v = g at the first step);
 *   w -= lr * (nesterov ? g + momentum * v : v). */
enum ax_status ax_sgd_step(struct ax_sgd *sgd, float lr);

/* The velocity buffer (flat, params layout) or NULL without momentum. */
float *ax_sgd_velocity(const struct ax_sgd *sgd);

#ifdef __cplusplus
}
#endif
#endif
