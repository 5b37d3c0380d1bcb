/* tensor.c - tensor headers: shapes, strides, heap tensors and names.
 *
 * A heap tensor is one allocation: the header, padded to AX_ALIGN, followed
 * by its data, so create/destroy is a single alloc/free pair and the data is
 * aligned for SIMD loads. Device tensors keep the header on the host and the
 * data on the device. */
#include <stdio.h>
#include <string.h>

#include "axon/alloc.h"
#include "axon/device.h"
#include "axon/tensor.h"

size_t ax_dtype_size(enum ax_dtype dtype)
{
	switch (dtype) {
	case AX_F32: return 4;
	case AX_I32: return 4;
	case AX_U8: return 1;
	default: return 0;
	}
}

const char *ax_dtype_name(enum ax_dtype dtype)
{
	switch (dtype) {
	case AX_F32: return "f32";
	case AX_I32: return "i32";
	case AX_U8: return "u8";
	default: return "?";
	}
}

const char *ax_device_name(struct ax_device device, char *buf, size_t len)
{
	if (device.kind == AX_DEVICE_CPU)
		snprintf(buf, len, "cpu");
	else
		snprintf(buf, len, "cuda:%d", device.index);
	return buf;
}

int64_t ax_tensor_numel(const struct ax_tensor *t)
{
	int64_t n = 1;

	for (int d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

int ax_tensor_is_contiguous(const struct ax_tensor *t)
{
	int64_t expect = 1;

	for (int d = t->ndim - 1; d >= 0; d--) {
		/* A size-1 axis can have any stride without changing the layout. */
		if (t->shape[d] != 1 && t->stride[d] != expect)
			return 0;
		expect *= t->shape[d];
	}
	return 1;
}

const char *ax_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
	size_t pos = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	pos += (size_t)snprintf(buf + pos, len - pos, "[");
	for (int d = 0; d < ndim && pos < len; d++)
		pos += (size_t)snprintf(buf + pos, len - pos, d ? ", %lld" : "%lld",
					(long long)shape[d]);
	if (pos < len)
		snprintf(buf + pos, len - pos, "]");
	return buf;
}

enum ax_status ax_tensor_set_shape(struct ax_tensor *t, int ndim, const int64_t *shape)
{
	int64_t stride = 1;
	char buf[160];

	if (ndim < 0 || ndim > AX_MAX_DIMS)
		return AX_ERROR(AX_ERR_SHAPE, "tensor: %d dimensions, axon supports 0 to %d", ndim,
				AX_MAX_DIMS);
	for (int d = 0; d < ndim; d++) {
		if (shape[d] < 0)
			return AX_ERROR(AX_ERR_SHAPE, "tensor: negative size in shape %s",
					ax_shape_str(ndim, shape, buf, sizeof(buf)));
	}
	t->ndim = ndim;
	for (int d = AX_MAX_DIMS - 1; d >= 0; d--) {
		t->shape[d] = d < ndim ? shape[d] : 1;
		t->stride[d] = d < ndim ? stride : 0;
		if (d < ndim)
			stride *= shape[d];
	}
	return AX_OK;
}

enum ax_status ax_tensor_set_requires_grad(struct ax_tensor *t, int requires_grad)
{
	if (!t)
		return AX_ERROR(AX_ERR_INVALID, "tensor: NULL tensor");
	if (requires_grad && t->dtype != AX_F32)
		return AX_ERROR(AX_ERR_DTYPE, "tensor: only f32 tensors can require a gradient, "
				"this one is %s", ax_dtype_name(t->dtype));
	if (requires_grad)
		t->flags |= AX_TENSOR_REQUIRES_GRAD;
	else
		t->flags &= ~(unsigned)AX_TENSOR_REQUIRES_GRAD;
	return AX_OK;
}

/* Header size rounded up so the data that follows is aligned. */
static size_t header_bytes(void)
{
	return (sizeof(struct ax_tensor) + AX_ALIGN - 1) / AX_ALIGN * AX_ALIGN;
}

enum ax_status ax_tensor_create(enum ax_dtype dtype, struct ax_device device, int ndim,
				const int64_t *shape, struct ax_tensor **out)
{
	struct ax_tensor header = {0};
	struct ax_tensor *t;
	const struct ax_device_ops *dev;
	enum ax_status st;
	size_t bytes;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_tensor_create: out is NULL");
	if (ax_dtype_size(dtype) == 0)
		return AX_ERROR(AX_ERR_DTYPE, "ax_tensor_create: unknown dtype %d", (int)dtype);
	st = ax_device_check(device);
	if (st)
		return st;
	st = ax_tensor_set_shape(&header, ndim, shape);
	if (st)
		return st;
	bytes = (size_t)ax_tensor_numel(&header) * ax_dtype_size(dtype);
	dev = ax_device_ops_get(device.kind);
	t = ax_alloc(header_bytes() + (device.kind == AX_DEVICE_CPU ? bytes : 0));
	if (!t)
		return AX_ERR_NOMEM;
	*t = header;
	t->dtype = dtype;
	t->device = device;
	t->flags = AX_TENSOR_HEAP;
	if (device.kind == AX_DEVICE_CPU) {
		t->data = (char *)t + header_bytes();
		memset(t->data, 0, bytes);
	} else {
		st = dev->alloc(device.index, bytes ? bytes : 1, &t->data);
		if (!st)
			st = dev->memset_zero(device.index, t->data, bytes);
		if (st) {
			if (t->data)
				dev->free(device.index, t->data);
			ax_free(t);
			return st;
		}
	}
	*out = t;
	return AX_OK;
}

void ax_tensor_destroy(struct ax_tensor *t)
{
	if (!t)
		return;
	if (t->device.kind != AX_DEVICE_CPU && t->data)
		ax_device_ops_get(t->device.kind)->free(t->device.index, t->data);
	ax_free(t);
}

static enum ax_status check_transfer(const struct ax_tensor *t, size_t bytes, const char *who)
{
	char buf[160];
	size_t have;

	if (!t || !t->data)
		return AX_ERROR(AX_ERR_INVALID, "%s: NULL tensor or tensor without data", who);
	have = (size_t)ax_tensor_numel(t) * ax_dtype_size(t->dtype);
	if (!ax_tensor_is_contiguous(t))
		return AX_ERROR(AX_ERR_SHAPE, "%s: the tensor %s is a strided view; copy it with "
				"ax_contiguous first", who, ax_shape_str(t->ndim, t->shape, buf,
									 sizeof(buf)));
	if (have != bytes)
		return AX_ERROR(AX_ERR_SHAPE, "%s: the tensor %s %s holds %zu bytes but %zu were "
				"given", who, ax_dtype_name(t->dtype),
				ax_shape_str(t->ndim, t->shape, buf, sizeof(buf)), have, bytes);
	return AX_OK;
}

enum ax_status ax_tensor_upload(struct ax_tensor *t, const void *src, size_t bytes)
{
	enum ax_status st = check_transfer(t, bytes, "ax_tensor_upload");

	if (st)
		return st;
	return ax_device_ops_get(t->device.kind)->copy(t->device.index, t->data, src, bytes,
						       AX_COPY_H2D);
}

enum ax_status ax_tensor_download(const struct ax_tensor *t, void *dst, size_t bytes)
{
	enum ax_status st = check_transfer(t, bytes, "ax_tensor_download");

	if (st)
		return st;
	return ax_device_ops_get(t->device.kind)->copy(t->device.index, dst, t->data, bytes,
						       AX_COPY_D2H);
}
