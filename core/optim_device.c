/* optim_device.c - optimizer steps for parameters on a GPU.
 *
 * The per-step scalars are the CPU's (ax_adam_scalars, in double on the
 * host); the update itself is one fused launch over the flat buffers
 * (k_optim.cu) that walks the table of non-frozen slices kept by the
 * parameter store. Weight decay is per slice (biases and norm gains skip
 * it), exactly as in the CPU loops of optim_adam.c and optim_sgd.c. */
#include "cuda/flat.h"
#include "internal.h"
#include "optim_internal.h"

enum ax_status ax_optim_device_step(struct ax_optimizer *opt, float lr)
{
	const struct ax_optim_options *o = &opt->options;
	const struct ax_cuda_slice *slices;
	float *w = ax_params_data(opt->params), *g = ax_params_grad(opt->params);
	int n_slices, index = opt->device.index;
	int64_t max_numel;
	enum ax_status st;

	st = ax_params_slices(opt->params, &slices, &n_slices, &max_numel);
	if (st || n_slices == 0)
		return st;
	if (o->kind == AX_OPTIM_SGD) {
		struct ax_cuda_sgd_args a = {
			.lr = lr, .weight_decay = o->weight_decay, .momentum = o->momentum,
			.dampening = o->dampening, .nesterov = o->nesterov,
			.first_step = opt->steps == 0,
		};

		return ax_cuda_sgd_step(index, w, g, opt->n_state ? opt->state[0] : NULL, slices,
					n_slices, max_numel, &a);
	} else {
		struct ax_adam_scalars sc = ax_adam_scalars(opt, lr);
		int decoupled = o->kind == AX_OPTIM_ADAMW, decays = o->weight_decay != 0.0f;
		struct ax_cuda_adam_args a = {
			.l2 = decays && !decoupled ? o->weight_decay : 0.0f,
			.shrink = decays && decoupled ? sc.shrink : 1.0f,
			.beta1 = o->beta1, .beta2 = o->beta2, .step_size = sc.step_size,
			.inv_sqrt_bc2 = sc.inv_sqrt_bc2, .eps = o->eps,
		};

		return ax_cuda_adam_step(index, w, g, opt->state[0], opt->state[1], slices,
					 n_slices, max_numel, &a);
	}
}
