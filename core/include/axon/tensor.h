/* axon/tensor.h - tensors: typed, strided views of memory on one device.
 *
 * A tensor is a small header (shape, strides, dtype, device) pointing at its
 * first element. Shapes and strides are int64 and strides count elements, so
 * reshape, transpose and slice make new headers over the same memory without
 * copying. Who owns the memory depends on where the tensor came from:
 *   - ax_tensor_create: the tensor owns one heap block (header + data);
 *     release it with ax_tensor_destroy.
 *   - tensors made by ops or by ax_tensor_new/ax_tensor_wrap on a context
 *     live in that context's step arena and vanish at ax_ctx_reset;
 *   - parameters are views into the flat buffers of a struct ax_params. */
#ifndef AXON_TENSOR_H
#define AXON_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_MAX_DIMS 8

enum ax_dtype {
	AX_F32 = 0, /* float: activations, parameters, gradients */
	AX_I32,     /* int32_t: class labels, token and row indices */
	AX_U8,      /* uint8_t: raw image bytes */
	AX_DTYPE_COUNT
};

enum ax_device_kind {
	AX_DEVICE_CPU = 0,
	AX_DEVICE_CUDA,
	AX_DEVICE_KIND_COUNT
};

struct ax_device {
	enum ax_device_kind kind;
	int index; /* GPU ordinal; 0 for the CPU */
};

#define AX_CPU ((struct ax_device){AX_DEVICE_CPU, 0})

/* Flag bits of struct ax_tensor.flags. */
enum {
	AX_TENSOR_REQUIRES_GRAD = 1u << 0, /* backward computes a gradient for it */
	AX_TENSOR_PARAM = 1u << 1,         /* a parameter in a struct ax_params */
	AX_TENSOR_HEAP = 1u << 2,          /* made by ax_tensor_create */
};

struct ax_node; /* a tape record (internal) */

struct ax_tensor {
	void *data;                     /* first element, on `device` */
	int64_t shape[AX_MAX_DIMS];     /* (ndim) sizes; unused entries are 1 */
	int64_t stride[AX_MAX_DIMS];    /* (ndim) steps in elements, may be 0 or negative-free */
	int ndim;                       /* 0 is a scalar with one element */
	enum ax_dtype dtype;
	struct ax_device device;
	unsigned flags;
	struct ax_tensor *grad;         /* same shape, contiguous; NULL until backward reaches it */
	struct ax_node *producer;       /* the tape record that made it; NULL for leaves */
	const char *name;               /* parameters: "fc1.weight"; otherwise NULL */
	/* Bookkeeping for the tape: which step last saw this parameter, and the
	 * tape record of its first use in that step's forward pass. */
	uint64_t seen_step;
	struct ax_node *first_use;
	uint64_t grad_step;             /* the step `grad` belongs to (non-parameters) */
};

/* ax_dtype_size - bytes per element (4, 4, 1). */
size_t ax_dtype_size(enum ax_dtype dtype);

/* ax_dtype_name - "f32", "i32", "u8". */
const char *ax_dtype_name(enum ax_dtype dtype);

/* ax_device_name - "cpu" or "cuda:N" into buf (at least 16 bytes); returns buf. */
const char *ax_device_name(struct ax_device device, char *buf, size_t len);

/* ax_tensor_numel - number of elements (1 for a scalar). */
int64_t ax_tensor_numel(const struct ax_tensor *t);

/* ax_tensor_is_contiguous - 1 when the elements are dense in row-major order. */
int ax_tensor_is_contiguous(const struct ax_tensor *t);

/* ax_shape_str - "[64, 784]" into buf; returns buf (truncated to len). */
const char *ax_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* ax_tensor_set_shape - set ndim, shape and contiguous row-major strides.
 * Fails with AX_ERR_SHAPE for ndim outside [0, AX_MAX_DIMS] or a negative size. */
enum ax_status ax_tensor_set_shape(struct ax_tensor *t, int ndim, const int64_t *shape);

/* ax_tensor_create - a heap tensor that owns zero-filled storage for
 * `shape`. *out is released with ax_tensor_destroy.
 * Errors: AX_ERR_SHAPE, AX_ERR_NOMEM, AX_ERR_UNSUPPORTED (device absent). */
enum ax_status ax_tensor_create(enum ax_dtype dtype, struct ax_device device, int ndim,
				const int64_t *shape, struct ax_tensor **out);

/* ax_tensor_destroy - release a tensor from ax_tensor_create; NULL is a no-op. */
void ax_tensor_destroy(struct ax_tensor *t);

/* ax_tensor_set_requires_grad - mark a leaf tensor (an input, a parameter) as
 * needing a gradient (1) or not (0). Only AX_F32 tensors can require one.
 * Errors: AX_ERR_DTYPE. */
enum ax_status ax_tensor_set_requires_grad(struct ax_tensor *t, int requires_grad);

/* ax_tensor_upload - copy `bytes` from host memory into t's storage (t must
 * be contiguous and hold exactly `bytes`). On a GPU it waits until the copy
 * is done and ordered after the work already queued. Errors: AX_ERR_SHAPE
 * (size or layout mismatch, naming both), the device's copy error. */
enum ax_status ax_tensor_upload(struct ax_tensor *t, const void *src, size_t bytes);

/* ax_tensor_download - copy t's elements (contiguous, exactly `bytes`) to
 * host memory, after all work queued on t's device. */
enum ax_status ax_tensor_download(const struct ax_tensor *t, void *dst, size_t bytes);

/* ax_tensor_f32 - element pointer of a host f32 tensor (NULL for other dtypes). */
static inline float *ax_tensor_f32(const struct ax_tensor *t)
{
	return t->dtype == AX_F32 ? (float *)t->data : NULL;
}

#ifdef __cplusplus
}
#endif
#endif
