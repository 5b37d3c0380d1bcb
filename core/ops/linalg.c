/* ops/linalg.c - PLACEHOLDER: shape functions and public wrappers of the linalg ops, not written yet. */
#include "../internal.h"

enum ax_status ax_shape_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_shape_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

