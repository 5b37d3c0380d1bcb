/* cpu/elementwise.c - PLACEHOLDER: CPU kernels of the elementwise ops, not written yet. */
#include "../internal.h"

enum ax_status ax_cpu_fwd_add(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_add(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_div(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_div(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

