/* cuda/kernels.c - the CUDA kernel table, filled from the op list.
 *
 * Every op has a CUDA forward and (unless AX_OPF_NO_GRAD) backward kernel;
 * a missing one is a link error, not a run-time surprise. The kernels live
 * in k_*.cu (CUDA C++) and k_linalg.c (cuBLAS / cuBLASLt). */
#include "cuda_internal.h"

const struct ax_kernel_table ax_cuda_kernels = {
	.device = "cuda",
	.fwd = {
#define AX_X(E, n, f) [AX_OP_##E] = ax_cuda_fwd_##n,
		AX_OP_LIST(AX_X)
#undef AX_X
	},
	.bwd = {
#define AX_X(E, n, f) [AX_OP_##E] = ((f) & AX_OPF_NO_GRAD) ? NULL : ax_cuda_bwd_##n,
		AX_OP_LIST(AX_X)
#undef AX_X
	},
};
