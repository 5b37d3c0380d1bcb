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
	/* Make device `index` ready (CUDA: streams, library handles, memory pool);
	 * idempotent. Contexts and parameter stores call it when created. */
	enum ax_status (*open)(int index);
	/* size bytes on device `index`, aligned to at least AX_ALIGN. */
	enum ax_status (*alloc)(int index, size_t size, void **out);
	void (*free)(int index, void *ptr);
	/* Copy `size` bytes; host pointers are ordinary memory. */
	enum ax_status (*copy)(int index, void *dst, const void *src, size_t size,
			       enum ax_copy_kind kind);
	enum ax_status (*memset_zero)(int index, void *ptr, size_t size);
	/* Wait until all work queued on the device is done. */
	enum ax_status (*synchronize)(int index);
	/* Host memory the device copies from fastest (pinned on CUDA, plain on
	 * the CPU); host_free(NULL) is a no-op. */
	enum ax_status (*host_alloc)(size_t size, void **out);
	void (*host_free)(void *ptr);
	/* Queue a host-to-device copy that overlaps with work already queued and
	 * comes before work queued later; `event` (from event_create) is recorded
	 * when the copy is done, so the host may reuse `src` after
	 * event_wait_host(event). The CPU copies at once. */
	enum ax_status (*upload_async)(int index, void *dst, const void *src, size_t size,
				       void *event);
	enum ax_status (*event_create)(void **out);
	void (*event_destroy)(void *event);
	enum ax_status (*event_wait_host)(void *event);
	/* A one-line description of device `index` (name, capability, memory). */
	enum ax_status (*describe)(int index, char *buf, size_t len);
};

/* ax_device_ops_get - the table for `kind`; never NULL for a valid kind. */
const struct ax_device_ops *ax_device_ops_get(enum ax_device_kind kind);

/* ax_device_check - AX_OK when `device` exists in this build and machine,
 * otherwise AX_ERR_UNSUPPORTED (CUDA not built) or AX_ERR_DEVICE (no such GPU). */
enum ax_status ax_device_check(struct ax_device device);

/* ax_cuda_available - 1 when this build has CUDA and sees at least one GPU. */
int ax_cuda_available(void);

/* ax_cuda_count - GPUs visible to this process (after CUDA_VISIBLE_DEVICES);
 * -1 when this build has no CUDA. */
int ax_cuda_count(void);

/* ---- batch staging: host -> device copies overlapped with compute ----
 *
 * A stager owns `slots` pairs of (host buffer, device buffer) of slot_bytes
 * each. The caller fills ax_stager_host() with the next batch and calls
 * ax_stager_submit, which starts the copy and returns where the batch will be
 * on the device; kernels queued after submit see it, kernels queued before
 * keep running while it travels. With two slots the next batch uploads while
 * the current step computes. On the CPU the host buffer is the batch (no copy). */
struct ax_stager;

/* ax_stager_create - slots (>= 1) buffers of slot_bytes on `device`.
 * Errors: AX_ERR_NOMEM, device errors. */
enum ax_status ax_stager_create(struct ax_device device, int slots, size_t slot_bytes,
				struct ax_stager **out);

/* ax_stager_destroy - waits for pending copies and frees; NULL is a no-op. */
void ax_stager_destroy(struct ax_stager *s);

/* ax_stager_host - the host buffer of the next slot, safe to write (waits
 * until that slot's previous copy has finished). NULL on a device error
 * (message in ax_last_error). */
void *ax_stager_host(struct ax_stager *s);

/* ax_stager_submit - upload the first `bytes` of the host buffer; *device_ptr
 * is where they will be. Moves on to the next slot. Errors: AX_ERR_RANGE when
 * bytes exceeds slot_bytes, device errors. */
enum ax_status ax_stager_submit(struct ax_stager *s, size_t bytes, void **device_ptr);

#ifdef __cplusplus
}
#endif
#endif
