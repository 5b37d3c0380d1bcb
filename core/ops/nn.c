/* ops/nn.c - PLACEHOLDER: shape functions and public wrappers of the nn ops, not written yet. */
#include "../internal.h"

enum ax_status ax_shape_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

