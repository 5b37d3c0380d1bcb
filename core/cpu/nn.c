/* cpu/nn.c - PLACEHOLDER: CPU kernels of the nn ops, not written yet. */
#include "../internal.h"

enum ax_status ax_cpu_fwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_log_softmax(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_cross_entropy(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_mse(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_embedding(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_layer_norm(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

