/* test_alloc.c - memory behaviour of a training step, through the allocator hook.
 *
 * 1. After the first step, a training step (zero_grad, forward with dropout,
 *    cross-entropy, backward, SGD, reset) performs no heap allocation.
 * 2. Failing the N-th allocation, for every N that one short training program
 *    makes (create model, context, optimizer; two steps; destroy), gives
 *    AX_ERR_NOMEM or a run that absorbed the failure, never a crash, and
 *    leaves no live allocation behind (counted here; ASan builds also check). */
#include "testutil.h"

#include <string.h>

#include "tiny_mlp.h"

static struct {
	long count;   /* allocations requested */
	long live;    /* blocks not yet freed */
	long fail_at; /* 1-based index of the allocation to fail; 0 = never */
} counter;

static void *counting_alloc(void *user, size_t size)
{
	const struct ax_allocator *def = ax_default_allocator();
	void *ptr;

	(void)user;
	if (++counter.count == counter.fail_at)
		return NULL;
	ptr = def->alloc(def->user, size);
	if (ptr)
		counter.live++;
	return ptr;
}

static void counting_free(void *user, void *ptr)
{
	const struct ax_allocator *def = ax_default_allocator();

	(void)user;
	counter.live--;
	def->free(def->user, ptr);
}

static const struct ax_allocator counting = {counting_alloc, counting_free, NULL};

static void reset_counter(long fail_at)
{
	counter.count = 0;
	counter.live = 0;
	counter.fail_at = fail_at;
}

/* One training step on a fixed batch; the loss is returned through *loss. */
static enum ax_status train_step(struct tmlp *m, struct ax_ctx *ctx, struct ax_optimizer *sgd,
				 float *x_data, int32_t *y_data, int64_t batch, int64_t in,
				 float *loss_value)
{
	struct ax_tensor *x, *y, *logits, *loss;
	const int64_t xs[2] = {batch, in};
	enum ax_status st;

	st = ax_params_zero_grad(m->params);
	if (!st)
		st = ax_tensor_wrap(ctx, AX_F32, 2, xs, x_data, &x);
	if (!st)
		st = ax_tensor_wrap(ctx, AX_I32, 1, &batch, y_data, &y);
	if (!st)
		st = tmlp_forward(m, ctx, x, &logits);
	if (!st)
		st = ax_cross_entropy(ctx, logits, y, NULL, &loss);
	if (!st)
		st = ax_backward(ctx, loss);
	if (!st)
		st = ax_optimizer_step(sgd, 0.05f);
	if (!st)
		*loss_value = *(float *)loss->data;
	/* Reset even after a failure so the next step starts clean. */
	if (st)
		ax_ctx_reset(ctx);
	else
		st = ax_ctx_reset(ctx);
	return st;
}

static void fill_batch(float *x, int32_t *y, int64_t batch, int64_t in, int64_t classes)
{
	struct ax_rng rng;

	ax_rng_init(&rng, 99);
	ax_rng_uniform(&rng, x, batch * in, 0.0f, 1.0f);
	for (int64_t i = 0; i < batch; i++)
		y[i] = (int32_t)(i % classes);
}

static void test_no_allocation_after_first_step(void **state)
{
	enum { B = 64, IN = 784 };
	static float x[B * IN];
	static int32_t y[B];
	const int64_t sizes[] = {IN, 256, 128, 10};
	struct ax_ctx_options opt = {.device = AX_CPU, .arena_chunk_bytes = 64 * 1024, .seed = 3};
	struct ax_optim_options sgd_opt = {.kind = AX_OPTIM_SGD, .momentum = 0.9f,
					   .weight_decay = 1e-4f, .nesterov = 1};
	struct tmlp m;
	struct ax_ctx *ctx;
	struct ax_optimizer *sgd;
	float first = 0, loss = 0;
	long after_first;

	(void)state;
	fill_batch(x, y, B, IN, 10);
	ax_set_allocator(&counting);
	reset_counter(0);
	TU_OK(tmlp_create(&m, 3, sizes, TMLP_RELU, 0.2f, 1));
	TU_OK(ax_ctx_create(&opt, &ctx));
	TU_OK(ax_optimizer_create(m.params, &sgd_opt, &sgd));
	TU_OK(train_step(&m, ctx, sgd, x, y, B, IN, &first));
	after_first = counter.count;
	for (int step = 2; step <= 20; step++) {
		TU_OK(train_step(&m, ctx, sgd, x, y, B, IN, &loss));
		if (counter.count != after_first)
			fail_msg("step %d made %ld heap allocation(s)", step, counter.count - after_first);
	}
	/* The steps trained: a fixed batch is being memorised. */
	assert_true(loss < 0.5f * first);
	ax_optimizer_destroy(sgd);
	ax_ctx_destroy(ctx);
	tmlp_destroy(&m);
	assert_int_equal(counter.live, 0);
	ax_set_allocator(NULL);
}

/* The short program the failure test replays: every resource is released on
 * every path, whatever fails. */
static enum ax_status short_program(void)
{
	enum { B = 8, IN = 12 };
	float x[B * IN];
	int32_t y[B];
	const int64_t sizes[] = {IN, 16, 8, 4};
	/* A tiny first chunk so step 1 grows the arena several times. */
	struct ax_ctx_options opt = {.device = AX_CPU, .arena_chunk_bytes = 256, .seed = 3};
	struct ax_optim_options sgd_opt = {.kind = AX_OPTIM_SGD, .momentum = 0.9f};
	struct tmlp m = {0};
	struct ax_ctx *ctx = NULL;
	struct ax_optimizer *sgd = NULL;
	float loss;
	enum ax_status st;

	fill_batch(x, y, B, IN, 4);
	st = tmlp_create(&m, 3, sizes, TMLP_RELU, 0.25f, 1);
	if (!st)
		st = ax_ctx_create(&opt, &ctx);
	if (!st)
		st = ax_optimizer_create(m.params, &sgd_opt, &sgd);
	for (int step = 0; !st && step < 2; step++)
		st = train_step(&m, ctx, sgd, x, y, B, IN, &loss);
	ax_optimizer_destroy(sgd);
	ax_ctx_destroy(ctx);
	tmlp_destroy(&m);
	return st;
}

static void test_fail_every_allocation(void **state)
{
	long total, nomem = 0;

	(void)state;
	ax_set_allocator(&counting);
	reset_counter(0);
	TU_OK(short_program());
	total = counter.count;
	assert_true(total > 10);
	assert_int_equal(counter.live, 0);
	for (long n = 1; n <= total; n++) {
		enum ax_status st;

		reset_counter(n);
		st = short_program();
		if (st != AX_OK && st != AX_ERR_NOMEM)
			fail_msg("failing allocation %ld of %ld gave %s: %s", n, total,
				 ax_status_name(st), ax_last_error());
		if (st == AX_ERR_NOMEM)
			nomem++;
		if (counter.live != 0)
			fail_msg("failing allocation %ld of %ld leaked %ld block(s)", n, total,
				 counter.live);
	}
	ax_set_allocator(NULL);
	/* Only the arena's chunk merge may absorb a failure; everything else reports it. */
	print_message("failed each of %ld allocations: %ld reported AX_ERR_NOMEM, %ld absorbed\n",
		      total, nomem, total - nomem);
	assert_true(nomem >= total - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_allocation_after_first_step),
		cmocka_unit_test(test_fail_every_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
