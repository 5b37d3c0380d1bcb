/* internal.h - what the engine's own files share and the public headers hide:
 * the context struct, tape records, the op table and the kernel tables. */
#ifndef AXON_INTERNAL_H
#define AXON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "axon/axon.h"
#include "op_list.h"

enum ax_op {
#define AX_X(E, n, f) AX_OP_##E,
	AX_OP_LIST(AX_X)
#undef AX_X
	AX_OP_COUNT
};

/* Small per-op arguments (axis lists, slopes, eps, ...). Each op documents
 * which slots it uses next to its shape function. */
struct ax_op_attrs {
	float f[4];
	int64_t i[AX_MAX_DIMS + 4];
};

/* One tape record: an op applied to inputs, producing `out`. */
struct ax_node {
	enum ax_op op;
	int n_in;
	struct ax_tensor **in;        /* (n_in) inputs; optional inputs may be NULL */
	struct ax_tensor *out;
	struct ax_op_attrs attrs;
	void *saved;                  /* kernel-owned scratch in the arena (masks, stats) */
	uint32_t first_use_mask;      /* bit k: in[k] is a parameter first used here */
	struct ax_node *prev;         /* the record before this one on the tape */
};

typedef enum ax_status (*ax_shape_fn)(struct ax_ctx *ctx, struct ax_node *node);
typedef enum ax_status (*ax_kernel_fn)(struct ax_ctx *ctx, struct ax_node *node);

struct ax_op_info {
	const char *name;
	unsigned flags;
	ax_shape_fn shape;
};

extern const struct ax_op_info ax_op_table[AX_OP_COUNT];

struct ax_kernel_table {
	const char *device;
	ax_kernel_fn fwd[AX_OP_COUNT];
	ax_kernel_fn bwd[AX_OP_COUNT];
};

extern const struct ax_kernel_table ax_cpu_kernels;
extern const struct ax_kernel_table ax_cuda_kernels;

/* Shape functions and kernels, declared from the list. */
#define AX_X(E, n, f)                                                     \
	enum ax_status ax_shape_##n(struct ax_ctx *ctx, struct ax_node *node); \
	enum ax_status ax_cpu_fwd_##n(struct ax_ctx *ctx, struct ax_node *node); \
	enum ax_status ax_cpu_bwd_##n(struct ax_ctx *ctx, struct ax_node *node);
AX_OP_LIST(AX_X)
#undef AX_X

/* The step arena: a list of chunks with a bump pointer (arena.c). */
struct ax_arena_chunk;

struct ax_arena {
	struct ax_arena_chunk *head;    /* the chunk being filled */
	struct ax_arena_chunk *chunks;  /* all chunks, newest first (head == chunks) */
	size_t chunk_bytes;             /* next chunk's minimum size */
	size_t used;                    /* bytes handed out since reset */
	size_t peak;
	size_t capacity;
	int n_chunks;
	struct ax_device device;        /* arena memory lives on this device */
};

struct ax_ctx {
	struct ax_device device;
	const struct ax_device_ops *dev;
	const struct ax_kernel_table *kernels;
	struct ax_arena arena;          /* host: headers, tape records, CPU data */
	struct ax_arena device_arena;   /* tensor data when the device is not the CPU */
	struct ax_node *tape;           /* newest record; walk ->prev */
	int64_t tape_nodes;
	uint64_t step;                  /* bumped at every reset; tags first uses */
	int grad_enabled;
	int training;
	int backward_done;
	enum ax_precision precision;
	struct ax_rng rng;
	ax_grad_ready_fn grad_ready;
	void *grad_ready_user;
};

/* arena.c */
void ax_arena_init(struct ax_arena *arena, struct ax_device device, size_t chunk_bytes);
void *ax_arena_alloc(struct ax_arena *arena, size_t size);
enum ax_status ax_arena_reset(struct ax_arena *arena);
void ax_arena_release(struct ax_arena *arena);

/* ctx.c */

/* ax_ctx_alloc_data - `size` bytes of tensor storage on the context's device. */
void *ax_ctx_alloc_data(struct ax_ctx *ctx, size_t size);

/* ax_ctx_new_header - a zeroed tensor header in the arena (no data). */
struct ax_tensor *ax_ctx_new_header(struct ax_ctx *ctx);

/* rng.c: make ax_philox_blocks use its portable path even where AVX2 exists
 * (for tests that compare both paths); returns the previous setting. */
int ax_rng_force_portable(int on);

/* params.c: the table of non-frozen parameter slices for the flat-buffer
 * kernels of a GPU store, in device memory; refreshed when frozen flags
 * change. *n may be 0. */
struct ax_cuda_slice;
enum ax_status ax_params_slices(struct ax_params *params, const struct ax_cuda_slice **table,
				int *n, int64_t *max_numel);

/* dispatch.c */

/* ax_op_run - the one path every op takes: validate, shape, allocate the
 * output, run the device's forward kernel, record on the tape. `in` is
 * copied; attrs may be NULL (all zero). */
enum ax_status ax_op_run(struct ax_ctx *ctx, enum ax_op op, int n_in,
			 struct ax_tensor *const *in, const struct ax_op_attrs *attrs,
			 struct ax_tensor **out);

/* ax_needs_grad - the backward pass must produce a gradient for t. */
static inline int ax_needs_grad(const struct ax_tensor *t)
{
	return t != NULL && (t->flags & AX_TENSOR_REQUIRES_GRAD) != 0;
}

/* ax_grad_of - t's gradient tensor, allocated in the arena and zero-filled on
 * first use (parameters already have theirs). Kernels add into it. */
enum ax_status ax_grad_of(struct ax_ctx *ctx, struct ax_tensor *t, struct ax_tensor **grad);

/* ax_node_error - fail `node` with a message prefixed by the op's name. */
enum ax_status ax_node_error_at(const struct ax_node *node, enum ax_status status,
				const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define AX_NODE_ERROR(node, status, ...) \
	ax_node_error_at((node), (status), __FILE__, __LINE__, __VA_ARGS__)

/* ax_norm_axis - turn a possibly negative axis into [0, ndim); -1 if out of range. */
static inline int ax_norm_axis(int axis, int ndim)
{
	if (axis < 0)
		axis += ndim;
	return (axis >= 0 && axis < ndim) ? axis : -1;
}

/* ax_broadcast_shape - the NumPy broadcast of a and b into (ndim, shape);
 * AX_ERR_SHAPE naming the op when they do not broadcast. */
enum ax_status ax_broadcast_shape(const struct ax_node *node, const struct ax_tensor *a,
				  const struct ax_tensor *b, int *ndim, int64_t *shape);

#endif
