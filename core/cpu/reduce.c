/* cpu/reduce.c - PLACEHOLDER: CPU kernels of the reduce ops, not written yet. */
#include "../internal.h"

enum ax_status ax_cpu_fwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_sum(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_fwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

enum ax_status ax_cpu_bwd_mean(struct ax_ctx *ctx, struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED, "not implemented yet");
}

