/* test_core.c - status, RNG, arena, params: the engine's plumbing. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "internal.h"

/* Random123's known-answer vector for philox4x32-10, counter 0, key 0. */
static void test_philox_known_answer(void **state)
{
	uint32_t out[4];

	(void)state;
	ax_philox(0, 0, out);
	assert_int_equal(out[0], 0x6627e8d5u);
	assert_int_equal(out[1], 0xe169c58du);
	assert_int_equal(out[2], 0xbc57ac4cu);
	assert_int_equal(out[3], 0x9b00dbd8u);
}

/* The vectorised block generator (AVX2 and portable paths, full lane groups
 * and tails) matches the scalar reference block for block. */
static void test_philox_blocks_match_scalar(void **state)
{
	const int64_t counts[] = {1, 15, 16, 17, 33, 100};
	uint32_t got[400], want[400];

	(void)state;
	for (int path = 0; path < 2; path++) {
		int previous = ax_rng_force_portable(path);

		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			uint64_t seed = 0x0123456789abcdefULL + c, counter = (1ULL << 32) - 7;

			ax_philox_blocks(seed, counter, counts[c], got);
			for (int64_t b = 0; b < counts[c]; b++)
				ax_philox(seed, counter + (uint64_t)b, want + 4 * b);
			assert_memory_equal(got, want, (size_t)counts[c] * 4 * sizeof(uint32_t));
		}
		ax_rng_force_portable(previous);
	}
}

/* Saving the state is copying the struct: a restored generator repeats. */
static void test_rng_save_restore(void **state)
{
	struct ax_rng rng, saved;
	float a[37], b[37];

	(void)state;
	ax_rng_init(&rng, 42);
	ax_rng_uniform(&rng, a, 5, 0.0f, 1.0f);
	saved = rng;
	ax_rng_normal(&rng, a, 37, 0.0f, 1.0f);
	rng = saved;
	ax_rng_normal(&rng, b, 37, 0.0f, 1.0f);
	assert_memory_equal(a, b, sizeof(a));
	/* Different seeds give different streams. */
	ax_rng_init(&rng, 43);
	ax_rng_normal(&rng, b, 37, 0.0f, 1.0f);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* Moments of the two distributions are what they claim. */
static void test_rng_moments(void **state)
{
	enum { N = 200000 };
	static float v[N];
	struct ax_rng rng;
	double mean = 0, var = 0;

	(void)state;
	ax_rng_init(&rng, 7);
	ax_rng_normal(&rng, v, N, 1.0f, 2.0f);
	for (int i = 0; i < N; i++)
		mean += v[i];
	mean /= N;
	for (int i = 0; i < N; i++)
		var += (v[i] - mean) * (v[i] - mean);
	var /= N;
	assert_true(fabs(mean - 1.0) < 0.02);
	assert_true(fabs(var - 4.0) < 0.06);
	ax_rng_uniform(&rng, v, N, -3.0f, 1.0f);
	mean = 0;
	for (int i = 0; i < N; i++) {
		assert_true(v[i] >= -3.0f && v[i] < 1.0f);
		mean += v[i];
	}
	assert_true(fabs(mean / N + 1.0) < 0.01);
}

static void test_status_messages(void **state)
{
	const char *file;
	int line;

	(void)state;
	ax_clear_error();
	assert_string_equal(ax_last_error(), "");
	assert_int_equal(AX_ERROR(AX_ERR_SHAPE, "op: bad %d", 3), AX_ERR_SHAPE);
	assert_string_equal(ax_last_error(), "op: bad 3");
	assert_int_equal(ax_last_error_status(), AX_ERR_SHAPE);
	ax_last_error_where(&file, &line);
	assert_non_null(strstr(file, "test_core.c"));
	assert_true(line > 0);
	assert_string_equal(ax_status_name(AX_ERR_NOMEM), "AX_ERR_NOMEM");
}

static void test_arena_grows_then_coalesces(void **state)
{
	struct ax_ctx_options opt = {.device = AX_CPU, .arena_chunk_bytes = 4096};
	struct ax_ctx *ctx;
	struct ax_ctx_stats stats;

	(void)state;
	TU_OK(ax_ctx_create(&opt, &ctx));
	for (int i = 0; i < 100; i++)
		assert_non_null(ax_ctx_alloc(ctx, 1000));
	ax_ctx_stats(ctx, &stats);
	assert_true(stats.arena_chunks > 1);
	assert_true(stats.arena_used >= 100 * 1000);
	TU_OK(ax_ctx_reset(ctx));
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.arena_chunks, 1);
	assert_int_equal(stats.arena_used, 0);
	/* The same demand now fits in the single chunk. */
	for (int i = 0; i < 100; i++) {
		char *p = ax_ctx_alloc(ctx, 1000);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % AX_ALIGN, 0);
		memset(p, 0xab, 1000);
	}
	ax_ctx_stats(ctx, &stats);
	assert_int_equal(stats.arena_chunks, 1);
	ax_ctx_destroy(ctx);
}

static void test_params_layout(void **state)
{
	struct ax_params *params;
	struct ax_tensor *w1, *b1, *w2;
	const int64_t s_w1[] = {4, 3}, s_b1[] = {4}, s_w2[] = {2, 4};

	(void)state;
	TU_OK(ax_params_create(AX_CPU, &params));
	TU_OK(ax_params_add(params, "fc1.weight", 2, s_w1, 0, &w1));
	TU_OK(ax_params_add(params, "fc1.bias", 1, s_b1, AX_PARAM_NO_DECAY, &b1));
	TU_OK(ax_params_add(params, "fc2.weight", 2, s_w2, 0, &w2));
	assert_int_equal(ax_params_add(params, "fc1.bias", 1, s_b1, 0, &b1), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "fc1.bias"));
	TU_OK(ax_params_finalize(params));
	/* Reverse registration order, 16-float aligned slices. */
	assert_int_equal(ax_params_offset(params, 2), 0);
	assert_int_equal(ax_params_offset(params, 1), 16);
	assert_int_equal(ax_params_offset(params, 0), 32);
	assert_int_equal(ax_params_size(params), 48);
	assert_int_equal(ax_params_numel(params), 12 + 4 + 8);
	assert_ptr_equal(w1->data, ax_params_data(params) + 32);
	assert_ptr_equal(w1->grad->data, ax_params_grad(params) + 32);
	assert_ptr_equal(ax_params_find(params, "fc2.weight"), w2);
	assert_null(ax_params_find(params, "fc3.weight"));
	assert_int_equal(ax_params_add(params, "late", 1, s_b1, 0, &b1), AX_ERR_STATE);
	ax_params_destroy(params);
}

/* ax_params_set_grad_buffer: the gradients move (values copied, every .grad
 * repointed) into caller memory and back, and the store never frees it. */
static void test_params_grad_buffer(void **state)
{
	struct ax_params *params;
	struct ax_tensor *w, *b;
	const int64_t s_w[] = {3, 5}, s_b[] = {3};
	float external[32] __attribute__((aligned(64)));
	float *own;

	(void)state;
	TU_OK(ax_params_create(AX_CPU, &params));
	TU_OK(ax_params_add(params, "fc.weight", 2, s_w, 0, &w));
	TU_OK(ax_params_add(params, "fc.bias", 1, s_b, 0, &b));
	assert_int_equal(ax_params_set_grad_buffer(params, external), AX_ERR_STATE);
	TU_OK(ax_params_finalize(params));
	assert_int_equal(ax_params_size(params), 32);
	for (int i = 0; i < 15; i++)
		((float *)w->grad->data)[i] = (float)i + 1;
	((float *)b->grad->data)[2] = -7.0f;
	memset(external, 0xff, sizeof(external));
	TU_OK(ax_params_set_grad_buffer(params, external));
	assert_ptr_equal(ax_params_grad(params), external);
	assert_ptr_equal(w->grad->data, external + ax_params_offset(params, 0));
	assert_ptr_equal(b->grad->data, external + ax_params_offset(params, 1));
	assert_true(((float *)w->grad->data)[14] == 15.0f);
	assert_true(((float *)b->grad->data)[2] == -7.0f);
	TU_OK(ax_params_zero_grad(params));
	assert_true(external[ax_params_offset(params, 0) + 3] == 0.0f);
	((float *)w->grad->data)[4] = 42.0f;
	/* Back into memory of the store's own, with the values. */
	TU_OK(ax_params_set_grad_buffer(params, NULL));
	own = ax_params_grad(params);
	assert_true(own < external || own >= external + 32);
	assert_ptr_equal(w->grad->data, own + ax_params_offset(params, 0));
	assert_true(((float *)w->grad->data)[4] == 42.0f);
	TU_OK(ax_params_set_grad_buffer(params, NULL)); /* already its own: nothing to do */
	TU_OK(ax_params_set_grad_buffer(params, external));
	ax_params_destroy(params); /* must not free `external` (a stack array) */
}

static void test_init_scales(void **state)
{
	struct ax_params *params;
	struct ax_tensor *w;
	const int64_t shape[] = {512, 256};
	struct ax_rng rng;
	double var = 0;
	float bound = sqrtf(6.0f / (256 + 512));
	int64_t n = 512 * 256;

	(void)state;
	TU_OK(ax_params_create(AX_CPU, &params));
	TU_OK(ax_params_add(params, "w", 2, shape, 0, &w));
	TU_OK(ax_params_finalize(params));
	ax_rng_init(&rng, 1);
	TU_OK(ax_init_he_normal(w, &rng));
	for (int64_t i = 0; i < n; i++)
		var += (double)ax_tensor_f32(w)[i] * ax_tensor_f32(w)[i];
	var /= (double)n;
	assert_true(fabs(var - 2.0 / 256) < 0.03 * 2.0 / 256);
	TU_OK(ax_init_xavier_uniform(w, &rng));
	for (int64_t i = 0; i < n; i++)
		assert_true(fabsf(ax_tensor_f32(w)[i]) <= bound);
	ax_params_destroy(params);
}

static void test_cuda_stub_or_device(void **state)
{
	struct ax_ctx_options opt = {.device = {AX_DEVICE_CUDA, 0}};
	struct ax_ctx *ctx = NULL;
	enum ax_status st;

	(void)state;
	st = ax_ctx_create(&opt, &ctx);
	if (ax_cuda_available()) {
		assert_int_equal(st, AX_OK);
		ax_ctx_destroy(ctx);
	} else {
		assert_true(st == AX_ERR_UNSUPPORTED || st == AX_ERR_DEVICE);
		assert_true(strlen(ax_last_error()) > 10);
		assert_null(ctx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_philox_known_answer),
		cmocka_unit_test(test_philox_blocks_match_scalar),
		cmocka_unit_test(test_rng_save_restore),
		cmocka_unit_test(test_rng_moments),
		cmocka_unit_test(test_status_messages),
		cmocka_unit_test(test_arena_grows_then_coalesces),
		cmocka_unit_test(test_params_layout),
		cmocka_unit_test(test_params_grad_buffer),
		cmocka_unit_test(test_init_scales),
		cmocka_unit_test(test_cuda_stub_or_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
