/* dist/cuda/stub.c - the NCCL transport of a build without CUDA: a GPU
 * parameter store cannot exist in such a build, so these are unreachable
 * through the public API; they fail with a message saying why. */
#include "../dist_internal.h"

static enum ax_status unsupported(void)
{
	return AX_ERROR(AX_ERR_UNSUPPORTED, "dist: this axon was built without CUDA/NCCL; "
			"rebuild with -DAXON_CUDA=ON for GPU training");
}

enum ax_status ax_nccl_create(struct ax_dist *dist, int device, struct ax_nccl **out)
{
	(void)dist;
	(void)device;
	*out = NULL;
	return unsupported();
}

void ax_nccl_destroy(struct ax_nccl *n)
{
	(void)n;
}

enum ax_status ax_nccl_start(struct ax_nccl *n, float *buf, int64_t count, int average)
{
	(void)n;
	(void)buf;
	(void)count;
	(void)average;
	return unsupported();
}

enum ax_status ax_nccl_finish(struct ax_nccl *n, double timeout_seconds)
{
	(void)n;
	(void)timeout_seconds;
	return unsupported();
}
