/* ops/elementwise.c - PLACEHOLDER: shape functions and public wrappers of the elementwise ops, not written yet. */
#include "../internal.h"

enum ax_status ax_shape_add(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_sub(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_mul(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_div(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_affine(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_pow_scalar(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_exp(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_log(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_sqrt(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_leaky_relu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_gelu(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_sigmoid(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_tanh(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_to_f32(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

