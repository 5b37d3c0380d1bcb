/* stager.c - batch staging: host -> device copies overlapped with compute.
 *
 * A ring of slots, each a host buffer the device reads fastest (pinned on
 * CUDA), a device buffer and an event. Submitting slot i queues its copy on
 * the device's upload stream and orders later compute after it; before the
 * host writes slot i again, it waits on slot i's event (the copy it queued
 * last time has finished by then in all but pathological cases, so this
 * wait costs nothing in steady state). On the CPU the host buffer is handed
 * out as the device pointer and nothing is copied. */
#include "internal.h"

#define MAX_SLOTS 4

struct ax_stager {
	struct ax_device device;
	const struct ax_device_ops *dev;
	int slots, next;
	size_t slot_bytes;
	void *host[MAX_SLOTS];
	void *device_buf[MAX_SLOTS];
	void *event[MAX_SLOTS];
	int pending[MAX_SLOTS];   /* a copy from host[i] may still be running */
};

enum ax_status ax_stager_create(struct ax_device device, int slots, size_t slot_bytes,
				struct ax_stager **out)
{
	struct ax_stager *s;
	enum ax_status st;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_stager_create: out is NULL");
	*out = NULL;
	if (slots < 1 || slots > MAX_SLOTS)
		return AX_ERROR(AX_ERR_INVALID, "ax_stager_create: slots must be 1..%d, got %d",
				MAX_SLOTS, slots);
	st = ax_device_check(device);
	if (st)
		return st;
	s = ax_calloc(1, sizeof(*s));
	if (!s)
		return AX_ERR_NOMEM;
	s->device = device;
	s->dev = ax_device_ops_get(device.kind);
	s->slots = slots;
	s->slot_bytes = slot_bytes ? slot_bytes : 1;
	for (int i = 0; i < slots && !st; i++) {
		st = s->dev->host_alloc(s->slot_bytes, &s->host[i]);
		if (!st && device.kind != AX_DEVICE_CPU)
			st = s->dev->alloc(device.index, s->slot_bytes, &s->device_buf[i]);
		if (!st)
			st = s->dev->event_create(&s->event[i]);
	}
	if (st) {
		ax_stager_destroy(s);
		return st;
	}
	*out = s;
	return AX_OK;
}

void ax_stager_destroy(struct ax_stager *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->slots; i++) {
		if (s->pending[i] && s->event[i])
			s->dev->event_wait_host(s->event[i]);
		if (s->event[i])
			s->dev->event_destroy(s->event[i]);
		if (s->device_buf[i])
			s->dev->free(s->device.index, s->device_buf[i]);
		s->dev->host_free(s->host[i]);
	}
	ax_free(s);
}

void *ax_stager_host(struct ax_stager *s)
{
	int i = s->next;

	if (s->pending[i]) {
		if (s->dev->event_wait_host(s->event[i]))
			return NULL;
		s->pending[i] = 0;
	}
	return s->host[i];
}

enum ax_status ax_stager_submit(struct ax_stager *s, size_t bytes, void **device_ptr)
{
	int i = s->next;
	enum ax_status st;

	if (bytes > s->slot_bytes)
		return AX_ERROR(AX_ERR_RANGE, "stager: a batch of %zu bytes does not fit the %zu-byte "
				"slot", bytes, s->slot_bytes);
	if (s->device.kind == AX_DEVICE_CPU) {
		*device_ptr = s->host[i];
	} else {
		st = s->dev->upload_async(s->device.index, s->device_buf[i], s->host[i], bytes,
					  s->event[i]);
		if (st)
			return st;
		s->pending[i] = 1;
		*device_ptr = s->device_buf[i];
	}
	s->next = (i + 1) % s->slots;
	return AX_OK;
}
