/* axon/device.h - the per-device function table.
 *
 * Memory, copies and synchronisation go through one table per device kind, so
 * no function body needs an #ifdef. A build without CUDA links a CUDA table
 * whose every entry answers AX_ERR_UNSUPPORTED with a message saying so. */
#ifndef AXON_DEVICE_H
#define AXON_DEVICE_H

#include <stddef.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ax_copy_kind { AX_COPY_H2D, AX_COPY_D2H, AX_COPY_D2D };

struct ax_device_ops {
	const char *name; /* "cpu", "cuda" */
	/* How many devices of this kind can be used (0 when none or not built). */
	int (*count)(void);
	/* size bytes on device `index`, aligned to at least AX_ALIGN. */
	enum ax_status (*alloc)(int index, size_t size, void **out);
	void (*free)(int index, void *ptr);
	/* Copy `size` bytes; host pointers are ordinary memory. */
	enum ax_status (*copy)(int index, void *dst, const void *src, size_t size,
			       enum ax_copy_kind kind);
	enum ax_status (*memset_zero)(int index, void *ptr, size_t size);
	/* Wait until all work queued on the device is done. */
	enum ax_status (*synchronize)(int index);
};

/* ax_device_ops_get - the table for `kind`; never NULL for a valid kind. */
const struct ax_device_ops *ax_device_ops_get(enum ax_device_kind kind);

/* ax_device_check - AX_OK when `device` exists in this build and machine,
 * otherwise AX_ERR_UNSUPPORTED (CUDA not built) or AX_ERR_DEVICE (no such GPU). */
enum ax_status ax_device_check(struct ax_device device);

/* ax_cuda_available - 1 when this build has CUDA and sees at least one GPU. */
int ax_cuda_available(void);

#ifdef __cplusplus
}
#endif
#endif
