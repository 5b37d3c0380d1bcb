/* axon/params.h - the flat parameter store.
 *
 * All parameters of a model live in one contiguous buffer per device, and
 * their gradients in a second one of the same layout; each parameter is a
 * named tensor viewing its slice. The layout is the reverse of registration
 * order: a model registers its layers in forward order, gradients become
 * final in backward (reverse) order, so gradient buckets are contiguous
 * slices, filled front to back while backward runs. The optimizer, the
 * all-reduce and checkpoints each work on the flat buffers in one go.
 *
 * Life cycle: create, add every parameter, finalize (allocates the buffers,
 * zero-filled), initialise the values (axon/init.h), train, destroy. */
#ifndef AXON_PARAMS_H
#define AXON_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ax_params;

/* Flags for ax_params_add. */
enum {
	AX_PARAM_NO_DECAY = 1u << 0, /* weight decay skips it (biases, norm gains) */
	AX_PARAM_FROZEN = 1u << 1,   /* no gradient, the optimizer leaves it alone */
};

/* ax_params_create - an empty store on `device`. Errors: AX_ERR_NOMEM, device errors. */
enum ax_status ax_params_create(struct ax_device device, struct ax_params **out);

/* ax_params_destroy - free the store, its buffers and its tensors; NULL is a no-op. */
void ax_params_destroy(struct ax_params *params);

/* ax_params_add - register a parameter called `name` (copied; unique within
 * the store) of the given shape. *out is valid until destroy, but has no data
 * until ax_params_finalize. Errors: AX_ERR_STATE (after finalize),
 * AX_ERR_INVALID (empty or duplicate name), AX_ERR_SHAPE, AX_ERR_NOMEM. */
enum ax_status ax_params_add(struct ax_params *params, const char *name, int ndim,
			     const int64_t *shape, unsigned flags, struct ax_tensor **out);

/* ax_params_finalize - allocate the flat value and gradient buffers (zeroed)
 * and point every parameter and its .grad at its slice. Slices start at
 * multiples of 16 floats (64 bytes). Errors: AX_ERR_STATE (twice), AX_ERR_NOMEM. */
enum ax_status ax_params_finalize(struct ax_params *params);

/* The device the buffers live on. */
struct ax_device ax_params_device(const struct ax_params *params);

/* Number of parameters. */
int ax_params_count(const struct ax_params *params);

/* Parameter i in registration order (0 <= i < count), or NULL. */
struct ax_tensor *ax_params_get(const struct ax_params *params, int i);

/* The parameter called `name`, or NULL. */
struct ax_tensor *ax_params_find(const struct ax_params *params, const char *name);

/* Flags given at registration for parameter i. */
unsigned ax_params_flags(const struct ax_params *params, int i);

/* Offset in floats of parameter i within the flat buffers. */
int64_t ax_params_offset(const struct ax_params *params, int i);

/* Floats in each flat buffer, padding included. */
int64_t ax_params_size(const struct ax_params *params);

/* Number of parameter elements (without padding). */
int64_t ax_params_numel(const struct ax_params *params);

/* The flat buffers (on the store's device); NULL before finalize. */
float *ax_params_data(const struct ax_params *params);
float *ax_params_grad(const struct ax_params *params);

/* ax_params_zero_grad - set every gradient to zero. */
enum ax_status ax_params_zero_grad(struct ax_params *params);

/* ax_params_set_grad_buffer - CPU only: move the gradient buffer into
 * caller-owned memory of ax_params_size() floats, 64-byte aligned (dist/ puts
 * it in memory shared between the ranks of a node); the gradients are copied
 * over and every parameter's .grad points into it. The store no longer frees
 * it; the caller keeps it alive until the store is destroyed or pointed back
 * at a buffer of its own with buffer = NULL (copied back again).
 * Errors: AX_ERR_STATE (not finalized), AX_ERR_UNSUPPORTED (not on the CPU),
 * AX_ERR_NOMEM. */
enum ax_status ax_params_set_grad_buffer(struct ax_params *params, float *buffer);

/* ax_params_set_frozen - freeze (1) or unfreeze (0) parameter i: a frozen
 * parameter does not require a gradient and the optimizers skip it. */
enum ax_status ax_params_set_frozen(struct ax_params *params, int i, int frozen);

#ifdef __cplusplus
}
#endif
#endif
