/* device.c - picking a device table and checking a device exists.
 *
 * The CUDA table comes from core/cuda/: the real one in a CUDA build, the
 * stub otherwise. Nothing here knows which. */
#include <stdio.h>

#include "axon/device.h"

extern const struct ax_device_ops ax_cpu_device_ops;
extern const struct ax_device_ops ax_cuda_device_ops;

const struct ax_device_ops *ax_device_ops_get(enum ax_device_kind kind)
{
	return kind == AX_DEVICE_CUDA ? &ax_cuda_device_ops : &ax_cpu_device_ops;
}

enum ax_status ax_device_check(struct ax_device device)
{
	int count;

	switch (device.kind) {
	case AX_DEVICE_CPU:
		return AX_OK;
	case AX_DEVICE_CUDA:
		count = ax_cuda_device_ops.count();
		if (count < 0)
			return AX_ERROR(AX_ERR_UNSUPPORTED, "this axon was built without CUDA; "
					"rebuild with -DAXON_CUDA=ON on a machine with the CUDA toolkit");
		if (device.index < 0 || device.index >= count)
			return AX_ERROR(AX_ERR_DEVICE, "cuda:%d requested but %d GPU(s) are visible "
					"(check CUDA_VISIBLE_DEVICES)", device.index, count);
		return AX_OK;
	default:
		return AX_ERROR(AX_ERR_INVALID, "unknown device kind %d", (int)device.kind);
	}
}

int ax_cuda_available(void)
{
	return ax_cuda_device_ops.count() > 0;
}

int ax_cuda_count(void)
{
	return ax_cuda_device_ops.count();
}
