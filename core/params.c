/* params.c - the flat parameter store (see axon/params.h).
 *
 * Registration collects names and shapes; finalize computes offsets in
 * reverse registration order (each slice rounded up to 16 floats so every
 * parameter starts on a cache line) and allocates the two flat buffers. The
 * parameter tensors are heap headers viewing those buffers. */
#include <string.h>

#include "cuda/flat.h"
#include "internal.h"

struct param_entry {
	char *name;
	unsigned flags;
	int64_t offset;
	int64_t numel;
	struct ax_tensor *tensor;
	struct ax_tensor *grad;
};

struct ax_params {
	struct ax_device device;
	const struct ax_device_ops *dev;
	struct param_entry *entries;
	int count;
	int capacity;
	int finalized;
	int64_t size;   /* floats per flat buffer, padding included */
	int64_t numel;
	float *data;
	float *grad;
	int grad_external; /* grad is the caller's (ax_params_set_grad_buffer) */
	/* Off the CPU: the slice table the flat-buffer kernels walk (device
	 * memory) and the host copy it was uploaded from. */
	struct ax_cuda_slice *slices_host;
	struct ax_cuda_slice *slices_dev;
	int n_slices;
	int64_t max_slice;
};

enum ax_status ax_params_create(struct ax_device device, struct ax_params **out)
{
	struct ax_params *params;
	enum ax_status st;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_params_create: out is NULL");
	st = ax_device_check(device);
	if (st)
		return st;
	params = ax_calloc(1, sizeof(*params));
	if (!params)
		return AX_ERR_NOMEM;
	params->device = device;
	params->dev = ax_device_ops_get(device.kind);
	*out = params;
	return AX_OK;
}

void ax_params_destroy(struct ax_params *params)
{
	if (!params)
		return;
	for (int i = 0; i < params->count; i++) {
		ax_free(params->entries[i].name);
		ax_free(params->entries[i].tensor);
		ax_free(params->entries[i].grad);
	}
	ax_free(params->entries);
	ax_free(params->slices_host);
	if (params->slices_dev)
		params->dev->free(params->device.index, params->slices_dev);
	if (params->data)
		params->dev->free(params->device.index, params->data);
	if (params->grad && !params->grad_external)
		params->dev->free(params->device.index, params->grad);
	ax_free(params);
}

static enum ax_status grow(struct ax_params *params)
{
	int capacity = params->capacity ? params->capacity * 2 : 16;
	struct param_entry *entries = ax_calloc((size_t)capacity, sizeof(*entries));

	if (!entries)
		return AX_ERR_NOMEM;
	if (params->count)
		memcpy(entries, params->entries, (size_t)params->count * sizeof(*entries));
	ax_free(params->entries);
	params->entries = entries;
	params->capacity = capacity;
	return AX_OK;
}

enum ax_status ax_params_add(struct ax_params *params, const char *name, int ndim,
			     const int64_t *shape, unsigned flags, struct ax_tensor **out)
{
	struct param_entry entry = {0};
	enum ax_status st;
	size_t len;

	if (!params || !name || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_params_add: params, name or out is NULL");
	if (params->finalized)
		return AX_ERROR(AX_ERR_STATE, "ax_params_add: cannot add '%s' after "
				"ax_params_finalize", name);
	if (!name[0])
		return AX_ERROR(AX_ERR_INVALID, "ax_params_add: empty parameter name");
	if (ax_params_find(params, name))
		return AX_ERROR(AX_ERR_INVALID, "ax_params_add: a parameter named '%s' already "
				"exists; give each layer a unique name", name);
	if (params->count == params->capacity) {
		st = grow(params);
		if (st)
			return st;
	}
	len = strlen(name);
	entry.name = ax_alloc(len + 1);
	entry.tensor = ax_calloc(1, sizeof(*entry.tensor));
	entry.grad = ax_calloc(1, sizeof(*entry.grad));
	if (!entry.name || !entry.tensor || !entry.grad) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	memcpy(entry.name, name, len + 1);
	st = ax_tensor_set_shape(entry.tensor, ndim, shape);
	if (st)
		goto fail;
	ax_tensor_set_shape(entry.grad, ndim, shape);
	entry.flags = flags;
	entry.numel = ax_tensor_numel(entry.tensor);
	entry.tensor->dtype = entry.grad->dtype = AX_F32;
	entry.tensor->device = entry.grad->device = params->device;
	entry.tensor->name = entry.name;
	entry.tensor->flags = AX_TENSOR_PARAM;
	if (!(flags & AX_PARAM_FROZEN))
		entry.tensor->flags |= AX_TENSOR_REQUIRES_GRAD;
	params->entries[params->count++] = entry;
	*out = entry.tensor;
	return AX_OK;
fail:
	ax_free(entry.name);
	ax_free(entry.tensor);
	ax_free(entry.grad);
	return st;
}

enum ax_status ax_params_finalize(struct ax_params *params)
{
	int64_t offset = 0;
	size_t bytes;
	enum ax_status st;

	if (!params)
		return AX_ERROR(AX_ERR_INVALID, "ax_params_finalize: params is NULL");
	if (params->finalized)
		return AX_ERROR(AX_ERR_STATE, "ax_params_finalize: already finalized");
	/* Reverse registration order: the last layer's gradients are final first. */
	for (int i = params->count - 1; i >= 0; i--) {
		params->entries[i].offset = offset;
		offset += (params->entries[i].numel + 15) / 16 * 16;
		params->numel += params->entries[i].numel;
	}
	params->size = offset;
	bytes = (size_t)(offset ? offset : 16) * sizeof(float);
	st = params->dev->alloc(params->device.index, bytes, (void **)&params->data);
	if (st)
		goto fail;
	st = params->dev->alloc(params->device.index, bytes, (void **)&params->grad);
	if (st)
		goto fail;
	st = params->dev->memset_zero(params->device.index, params->data, bytes);
	if (!st)
		st = params->dev->memset_zero(params->device.index, params->grad, bytes);
	if (st)
		goto fail;
	for (int i = 0; i < params->count; i++) {
		struct param_entry *e = &params->entries[i];

		e->tensor->data = params->data + e->offset;
		e->grad->data = params->grad + e->offset;
		e->tensor->grad = e->grad;
	}
	params->finalized = 1;
	return AX_OK;
fail:
	if (params->data)
		params->dev->free(params->device.index, params->data);
	if (params->grad)
		params->dev->free(params->device.index, params->grad);
	params->data = params->grad = NULL;
	params->numel = 0;
	return st;
}

struct ax_device ax_params_device(const struct ax_params *params)
{
	return params->device;
}

int ax_params_count(const struct ax_params *params)
{
	return params->count;
}

struct ax_tensor *ax_params_get(const struct ax_params *params, int i)
{
	return (i >= 0 && i < params->count) ? params->entries[i].tensor : NULL;
}

struct ax_tensor *ax_params_find(const struct ax_params *params, const char *name)
{
	for (int i = 0; i < params->count; i++) {
		if (strcmp(params->entries[i].name, name) == 0)
			return params->entries[i].tensor;
	}
	return NULL;
}

unsigned ax_params_flags(const struct ax_params *params, int i)
{
	return (i >= 0 && i < params->count) ? params->entries[i].flags : 0;
}

int64_t ax_params_offset(const struct ax_params *params, int i)
{
	return (i >= 0 && i < params->count) ? params->entries[i].offset : -1;
}

int64_t ax_params_size(const struct ax_params *params)
{
	return params->size;
}

int64_t ax_params_numel(const struct ax_params *params)
{
	return params->numel;
}

float *ax_params_data(const struct ax_params *params)
{
	return params->data;
}

float *ax_params_grad(const struct ax_params *params)
{
	return params->grad;
}

enum ax_status ax_params_zero_grad(struct ax_params *params)
{
	if (!params->finalized)
		return AX_ERROR(AX_ERR_STATE, "ax_params_zero_grad: params not finalized");
	return params->dev->memset_zero(params->device.index, params->grad,
					(size_t)params->size * sizeof(float));
}

enum ax_status ax_params_set_grad_buffer(struct ax_params *params, float *buffer)
{
	size_t bytes;
	float *target = buffer;

	if (!params || !params->finalized)
		return AX_ERROR(AX_ERR_STATE, "ax_params_set_grad_buffer: params not finalized");
	if (params->device.kind != AX_DEVICE_CPU)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "ax_params_set_grad_buffer: CPU parameters only");
	if (!buffer && !params->grad_external)
		return AX_OK;
	bytes = (size_t)(params->size ? params->size : 16) * sizeof(float);
	if (!target) {
		enum ax_status st = params->dev->alloc(params->device.index, bytes, (void **)&target);

		if (st)
			return st;
	}
	if (target != params->grad)
		memcpy(target, params->grad, bytes);
	if (!params->grad_external)
		params->dev->free(params->device.index, params->grad);
	params->grad = target;
	params->grad_external = buffer != NULL;
	for (int i = 0; i < params->count; i++)
		params->entries[i].grad->data = target + params->entries[i].offset;
	return AX_OK;
}

enum ax_status ax_params_set_frozen(struct ax_params *params, int i, int frozen)
{
	if (i < 0 || i >= params->count)
		return AX_ERROR(AX_ERR_INVALID, "ax_params_set_frozen: no parameter %d (have %d)", i,
				params->count);
	if (frozen) {
		params->entries[i].flags |= AX_PARAM_FROZEN;
		params->entries[i].tensor->flags &= ~(unsigned)AX_TENSOR_REQUIRES_GRAD;
	} else {
		params->entries[i].flags &= ~(unsigned)AX_PARAM_FROZEN;
		params->entries[i].tensor->flags |= AX_TENSOR_REQUIRES_GRAD;
	}
	return AX_OK;
}

enum ax_status ax_params_slices(struct ax_params *params, const struct ax_cuda_slice **table,
				int *n, int64_t *max_numel)
{
	struct ax_cuda_slice fresh[64], *want = fresh;
	size_t bytes = (size_t)(params->count ? params->count : 1) * sizeof(*want);
	int count = 0;
	int64_t largest = 0;
	enum ax_status st = AX_OK;

	if (!params->finalized)
		return AX_ERROR(AX_ERR_STATE, "parameters not finalized");
	if (params->count > 64) {
		want = ax_alloc(bytes);
		if (!want)
			return AX_ERR_NOMEM;
	}
	for (int i = 0; i < params->count; i++) {
		const struct param_entry *e = &params->entries[i];

		if (e->flags & AX_PARAM_FROZEN)
			continue;
		want[count] = (struct ax_cuda_slice){e->offset, e->numel,
						     !(e->flags & AX_PARAM_NO_DECAY), 0};
		largest = e->numel > largest ? e->numel : largest;
		count++;
	}
	/* Upload only when the table changed (a parameter was frozen or thawed). */
	if (!params->slices_dev || count != params->n_slices ||
	    memcmp(want, params->slices_host, (size_t)count * sizeof(*want)) != 0) {
		if (!params->slices_dev) {
			params->slices_host = ax_alloc(bytes);
			if (!params->slices_host) {
				st = AX_ERR_NOMEM;
				goto done;
			}
			st = params->dev->alloc(params->device.index, bytes,
						(void **)&params->slices_dev);
			if (st)
				goto done;
		}
		memcpy(params->slices_host, want, (size_t)count * sizeof(*want));
		st = params->dev->copy(params->device.index, params->slices_dev, want,
				       (size_t)count * sizeof(*want), AX_COPY_H2D);
		if (st)
			goto done;
		params->n_slices = count;
		params->max_slice = largest;
	}
	*table = params->slices_dev;
	*n = params->n_slices;
	*max_numel = params->max_slice;
done:
	if (want != fresh)
		ax_free(want);
	return st;
}
