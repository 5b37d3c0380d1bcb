/* ctx.c - the execution context: options, modes, arena-backed tensors.
 *
 * A context owns two arenas: host memory for tensor headers and tape records,
 * and device memory for tensor data. On the CPU the second is not used and
 * both live in the host arena. */
#include <string.h>

#include "internal.h"

enum ax_status ax_ctx_create(const struct ax_ctx_options *options, struct ax_ctx **out)
{
	struct ax_ctx_options opt = {.device = AX_CPU};
	struct ax_ctx *ctx;
	enum ax_status st;

	if (!out)
		return AX_ERROR(AX_ERR_INVALID, "ax_ctx_create: out is NULL");
	if (options)
		opt = *options;
	st = ax_device_check(opt.device);
	if (st)
		return st;
	if (opt.precision != AX_PRECISION_F32 && opt.precision != AX_PRECISION_BF16)
		return AX_ERROR(AX_ERR_INVALID, "ax_ctx_create: unknown precision %d",
				(int)opt.precision);
	if (opt.precision == AX_PRECISION_BF16 && opt.device.kind != AX_DEVICE_CUDA)
		return AX_ERROR(AX_ERR_UNSUPPORTED, "ax_ctx_create: bf16 precision runs on CUDA "
				"devices only; use f32 on the CPU");
	st = ax_device_ops_get(opt.device.kind)->open(opt.device.index);
	if (st)
		return st;
	ctx = ax_calloc(1, sizeof(*ctx));
	if (!ctx)
		return AX_ERR_NOMEM;
	ctx->device = opt.device;
	ctx->dev = ax_device_ops_get(opt.device.kind);
	ctx->kernels = opt.device.kind == AX_DEVICE_CPU ? &ax_cpu_kernels : &ax_cuda_kernels;
	ax_arena_init(&ctx->arena, AX_CPU, opt.arena_chunk_bytes);
	ax_arena_init(&ctx->device_arena, opt.device, opt.arena_chunk_bytes);
	ctx->grad_enabled = 1;
	ctx->training = 1;
	ctx->step = 1;
	ctx->precision = opt.precision;
	ax_rng_init(&ctx->rng, opt.seed);
	*out = ctx;
	return AX_OK;
}

void ax_ctx_destroy(struct ax_ctx *ctx)
{
	if (!ctx)
		return;
	ax_arena_release(&ctx->arena);
	ax_arena_release(&ctx->device_arena);
	ax_free(ctx);
}

enum ax_status ax_ctx_reset(struct ax_ctx *ctx)
{
	enum ax_status st;

	if (!ctx)
		return AX_ERROR(AX_ERR_INVALID, "ax_ctx_reset: ctx is NULL");
	ctx->tape = NULL;
	ctx->tape_nodes = 0;
	ctx->backward_done = 0;
	ctx->step++;
	st = ax_arena_reset(&ctx->arena);
	if (!st)
		st = ax_arena_reset(&ctx->device_arena);
	return st;
}

struct ax_device ax_ctx_device(const struct ax_ctx *ctx)
{
	return ctx->device;
}

int ax_ctx_set_grad_enabled(struct ax_ctx *ctx, int enabled)
{
	int previous = ctx->grad_enabled;

	ctx->grad_enabled = enabled != 0;
	return previous;
}

int ax_ctx_set_training(struct ax_ctx *ctx, int training)
{
	int previous = ctx->training;

	ctx->training = training != 0;
	return previous;
}

int ax_ctx_grad_enabled(const struct ax_ctx *ctx)
{
	return ctx->grad_enabled;
}

int ax_ctx_training(const struct ax_ctx *ctx)
{
	return ctx->training;
}

struct ax_rng *ax_ctx_rng(struct ax_ctx *ctx)
{
	return &ctx->rng;
}

void ax_ctx_set_grad_ready(struct ax_ctx *ctx, ax_grad_ready_fn fn, void *user)
{
	ctx->grad_ready = fn;
	ctx->grad_ready_user = user;
}

void ax_ctx_stats(const struct ax_ctx *ctx, struct ax_ctx_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->arena_bytes = ctx->arena.capacity + ctx->device_arena.capacity;
	stats->arena_used = ctx->arena.used + ctx->device_arena.used;
	stats->arena_peak = ctx->arena.peak + ctx->device_arena.peak;
	stats->arena_chunks = ctx->arena.n_chunks + ctx->device_arena.n_chunks;
	stats->tape_nodes = ctx->tape_nodes;
	stats->step = ctx->step - 1;
}

void *ax_ctx_alloc(struct ax_ctx *ctx, size_t size)
{
	return ax_arena_alloc(&ctx->arena, size);
}

void *ax_ctx_alloc_data(struct ax_ctx *ctx, size_t size)
{
	if (ctx->device.kind == AX_DEVICE_CPU)
		return ax_arena_alloc(&ctx->arena, size);
	return ax_arena_alloc(&ctx->device_arena, size);
}

struct ax_tensor *ax_ctx_new_header(struct ax_ctx *ctx)
{
	struct ax_tensor *t = ax_arena_alloc(&ctx->arena, sizeof(*t));

	if (t)
		memset(t, 0, sizeof(*t));
	return t;
}

enum ax_status ax_tensor_new(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			     const int64_t *shape, int zero, struct ax_tensor **out)
{
	struct ax_tensor *t;
	enum ax_status st;
	size_t bytes;

	if (!ctx || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_tensor_new: ctx or out is NULL");
	if (ax_dtype_size(dtype) == 0)
		return AX_ERROR(AX_ERR_DTYPE, "ax_tensor_new: unknown dtype %d", (int)dtype);
	t = ax_ctx_new_header(ctx);
	if (!t)
		return AX_ERR_NOMEM;
	st = ax_tensor_set_shape(t, ndim, shape);
	if (st)
		return st;
	t->dtype = dtype;
	t->device = ctx->device;
	bytes = (size_t)ax_tensor_numel(t) * ax_dtype_size(dtype);
	t->data = ax_ctx_alloc_data(ctx, bytes);
	if (!t->data)
		return AX_ERR_NOMEM;
	if (zero) {
		st = ctx->dev->memset_zero(ctx->device.index, t->data, bytes);
		if (st)
			return st;
	}
	*out = t;
	return AX_OK;
}

enum ax_status ax_tensor_wrap(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			      const int64_t *shape, void *data, struct ax_tensor **out)
{
	struct ax_tensor *t;
	enum ax_status st;

	if (!ctx || !out || !data)
		return AX_ERROR(AX_ERR_INVALID, "ax_tensor_wrap: ctx, data or out is NULL");
	if (ax_dtype_size(dtype) == 0)
		return AX_ERROR(AX_ERR_DTYPE, "ax_tensor_wrap: unknown dtype %d", (int)dtype);
	t = ax_ctx_new_header(ctx);
	if (!t)
		return AX_ERR_NOMEM;
	st = ax_tensor_set_shape(t, ndim, shape);
	if (st)
		return st;
	t->dtype = dtype;
	t->device = ctx->device;
	t->data = data;
	*out = t;
	return AX_OK;
}
