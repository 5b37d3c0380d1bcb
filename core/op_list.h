/* op_list.h - the one list of operations (an X-macro).
 *
 * X(ENUM, name, flags): ENUM gives AX_OP_ENUM, `name` is the op's stable text
 * name (used in messages, files and checkpoints; never store the enum number)
 * and the base of its functions:
 *   ax_shape_<name>     validate inputs and set the output's shape and dtype
 *                       (view ops also set its data pointer and strides)
 *   ax_cpu_fwd_<name>   CPU forward kernel
 *   ax_cpu_bwd_<name>   CPU backward kernel (absent for AX_OPF_NO_GRAD ops)
 * Adding an op: one line here, one shape function, one kernel pair per device,
 * one public wrapper in axon/ops.h. */
#ifndef AXON_OP_LIST_H
#define AXON_OP_LIST_H

/* Flags */
#define AX_OPF_VIEW 1u    /* output shares its input's memory; no allocation */
#define AX_OPF_NO_GRAD 2u /* never recorded on the tape */

#define AX_OP_LIST(X)                          \
	X(MATMUL, matmul, 0)                   \
	X(LINEAR, linear, 0)                   \
	X(ADD, add, 0)                         \
	X(SUB, sub, 0)                         \
	X(MUL, mul, 0)                         \
	X(DIV, div, 0)                         \
	X(AFFINE, affine, 0)                   \
	X(POW_SCALAR, pow_scalar, 0)           \
	X(EXP, exp, 0)                         \
	X(LOG, log, 0)                         \
	X(SQRT, sqrt, 0)                       \
	X(RELU, relu, 0)                       \
	X(LEAKY_RELU, leaky_relu, 0)           \
	X(GELU, gelu, 0)                       \
	X(SIGMOID, sigmoid, 0)                 \
	X(TANH, tanh, 0)                       \
	X(TO_F32, to_f32, AX_OPF_NO_GRAD)      \
	X(SUM, sum, 0)                         \
	X(MEAN, mean, 0)                       \
	X(RESHAPE, reshape, AX_OPF_VIEW)       \
	X(PERMUTE, permute, AX_OPF_VIEW)       \
	X(SLICE, slice, AX_OPF_VIEW)           \
	X(CONCAT, concat, 0)                   \
	X(CONTIGUOUS, contiguous, 0)           \
	X(SOFTMAX, softmax, 0)                 \
	X(LOG_SOFTMAX, log_softmax, 0)         \
	X(CROSS_ENTROPY, cross_entropy, 0)     \
	X(MSE, mse, 0)                         \
	X(DROPOUT, dropout, 0)                 \
	X(EMBEDDING, embedding, 0)             \
	X(LAYER_NORM, layer_norm, 0)

#endif
