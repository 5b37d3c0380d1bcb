/* cpu/kernels.c - the CPU kernel table, filled from the op list.
 *
 * Ops flagged AX_OPF_NO_GRAD have no backward entry. */
#include "../internal.h"


const struct ax_kernel_table ax_cpu_kernels = {
	.device = "cpu",
	.fwd = {
#define AX_X(E, n, f) [AX_OP_##E] = ax_cpu_fwd_##n,
		AX_OP_LIST(AX_X)
#undef AX_X
	},
	.bwd = {
#define AX_X(E, n, f) [AX_OP_##E] = ((f) & AX_OPF_NO_GRAD) ? NULL : ax_cpu_bwd_##n,
		AX_OP_LIST(AX_X)
#undef AX_X
	},
};
