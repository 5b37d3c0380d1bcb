/* ckpt_fixture.h - what the checkpoint tests (test_ckpt*.c) share: a model's
 * parameters and optimizer buffers in the ax_params layout, filled with
 * deterministic values, compared bit for bit and snapshotted; metadata with
 * every field set; error and log checks; and the mkdtemp directory each test
 * runs in (setup/teardown). Header-only: every helper is static, and those a
 * test program does not use are marked unused. */
#ifndef AXON_TEST_CKPT_FIXTURE_H
#define AXON_TEST_CKPT_FIXTURE_H

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "axon/ckpt.h"

struct spec {
	const char *name;
	int ndim;
	int64_t shape[4];
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static __attribute__((unused)) const struct spec mlp_specs[] = {
	{"fc1.weight", 2, {64, 32}},
	{"fc1.bias", 1, {64}},
	{"fc2.weight", 2, {10, 64}},
	{"fc2.bias", 1, {10}},
	{"scale", 1, {1}},
	{"temperature", 0, {0}},
};

static __attribute__((unused)) const char *const adamw_names[2] = {"exp_avg", "exp_avg_sq"};

static char dir[64];

/* A model's parameters and optimizer buffers, in the ax_params layout. */
struct model {
	struct ax_params *params;
	float *opt[AX_CKPT_MAX_OPT_BUFFERS];
	struct ax_ckpt_tensors tensors;
};

static __attribute__((unused)) void model_init(struct model *m, const struct spec *specs, int n,
					       int n_opt, const char *const *opt_names)
{
	struct ax_tensor *t;
	size_t size;

	memset(m, 0, sizeof(*m));
	TU_OK(ax_params_create(AX_CPU, &m->params));
	for (int i = 0; i < n; i++)
		TU_OK(ax_params_add(m->params, specs[i].name, specs[i].ndim, specs[i].shape, 0, &t));
	TU_OK(ax_params_finalize(m->params));
	size = (size_t)ax_params_size(m->params);
	m->tensors.params = m->params;
	m->tensors.param_data = ax_params_data(m->params);
	m->tensors.n_opt = n_opt;
	for (int b = 0; b < n_opt; b++) {
		m->opt[b] = calloc(size ? size : 1, sizeof(float));
		assert_non_null(m->opt[b]);
		m->tensors.opt_names[b] = opt_names[b];
		m->tensors.opt_data[b] = m->opt[b];
	}
}

static __attribute__((unused)) void model_free(struct model *m)
{
	for (int b = 0; b < AX_CKPT_MAX_OPT_BUFFERS; b++)
		free(m->opt[b]);
	ax_params_destroy(m->params);
	memset(m, 0, sizeof(*m));
}

/* The flat buffer `which` (-1: the parameters, b: optimizer buffer b). */
static __attribute__((unused)) float *buffer_of(const struct model *m, int which)
{
	return which < 0 ? ax_params_data(m->params) : m->opt[which];
}

static __attribute__((unused)) size_t buffer_bytes(const struct model *m)
{
	return (size_t)ax_params_size(m->params) * sizeof(float);
}

/* Deterministic values in [-1, 1), different per seed, buffer and element;
 * the padding between tensors stays zero (a load leaves it zero too). */
static __attribute__((unused)) void model_fill(struct model *m, uint64_t seed)
{
	for (int which = -1; which < m->tensors.n_opt; which++) {
		float *flat = buffer_of(m, which);

		for (int i = 0; i < ax_params_count(m->params); i++) {
			const struct ax_tensor *t = ax_params_get(m->params, i);
			float *v = flat + ax_params_offset(m->params, i);
			uint64_t s = seed * 1000003 + (uint64_t)(which + 1) * 104729 + (uint64_t)i * 7919;

			for (int64_t k = 0; k < ax_tensor_numel(t); k++) {
				s = s * 6364136223846793005ULL + 1442695040888963407ULL;
				v[k] = (float)((double)(s >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
			}
		}
	}
}

/* Every buffer of a and b holds the same bits. */
static __attribute__((unused)) void assert_same_state(const struct model *a, const struct model *b)
{
	assert_int_equal(ax_params_size(a->params), ax_params_size(b->params));
	for (int which = -1; which < a->tensors.n_opt; which++) {
		if (memcmp(buffer_of(a, which), buffer_of(b, which), buffer_bytes(a)) != 0)
			fail_msg("%s differs after the round trip",
				 which < 0 ? "the parameters" : a->tensors.opt_names[which]);
	}
}

/* A copy of every buffer, to prove a failed load changed nothing. */
static __attribute__((unused)) float *model_snapshot(const struct model *m)
{
	size_t bytes = buffer_bytes(m);
	float *copy = malloc(bytes * (size_t)(1 + m->tensors.n_opt) + 1);

	assert_non_null(copy);
	for (int which = -1; which < m->tensors.n_opt; which++)
		memcpy((char *)copy + bytes * (size_t)(which + 1), buffer_of(m, which), bytes);
	return copy;
}

static __attribute__((unused)) void assert_unchanged(const struct model *m, float *before)
{
	size_t bytes = buffer_bytes(m);

	for (int which = -1; which < m->tensors.n_opt; which++) {
		if (memcmp((char *)before + bytes * (size_t)(which + 1), buffer_of(m, which), bytes))
			fail_msg("a failed load changed %s",
				 which < 0 ? "the parameters" : m->tensors.opt_names[which]);
	}
	free(before);
}

/* Metadata with every field set; the 64-bit values do not fit a double. */
static __attribute__((unused)) void meta_fill(struct ax_ckpt_meta *meta, int64_t step)
{
	memset(meta, 0, sizeof(*meta));
	meta->step = step;
	meta->epoch = 17;
	meta->data_seed = 18446744073709551557ULL; /* 2^64 - 59 */
	meta->data_epoch = 16;
	meta->data_position = 59968;
	meta->optimizer_steps = step - 3;
	meta->have_best = 1;
	meta->best = 1.0 / 3.0; /* needs all 17 digits */
	meta->best_step = step - 500;
	meta->bad_evals = 2;
	meta->lr_scale = 0.25 * (1.0 / 3.0);
	meta->world = 3;
	for (int r = 0; r < 3; r++) {
		/* 2^53 + 1 and beyond: a double would round them */
		meta->rng_seed[r] = 9007199254740993ULL + (uint64_t)r * 0x0123456789abcdefULL;
		meta->rng_counter[r] = 0xfedcba9876543211ULL - (uint64_t)r;
	}
}

static __attribute__((unused)) int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static __attribute__((unused)) void expect_error(enum ax_status got, enum ax_status want,
						 const char *const *needles)
{
	if (got != want)
		fail_msg("expected %s, got %s: %s", ax_status_name(want), ax_status_name(got),
			 ax_last_error());
	for (int i = 0; needles[i]; i++) {
		if (!strstr(ax_last_error(), needles[i]))
			fail_msg("message lacks '%s': %s", needles[i], ax_last_error());
	}
}

#define EXPECT_ERROR(call, status, ...) \
	expect_error((call), (status), (const char *const[]){__VA_ARGS__, NULL})

/* Captures what a call writes to a FILE * (a report or a log). */
struct capture {
	FILE *f;
	char *text;
	size_t len;
};

static __attribute__((unused)) FILE *capture_begin(struct capture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
	return c->f;
}

static __attribute__((unused)) const char *capture_end(struct capture *c)
{
	fclose(c->f);
	c->f = NULL;
	return c->text;
}

static __attribute__((unused)) void contains(const char *text, const char *needle,
					     const char *what)
{
	if (!strstr(text, needle))
		fail_msg("%s lacks '%s':\n%s", what, needle, text);
}

static __attribute__((unused)) void step_path(char *out, size_t len, const char *in, int64_t step)
{
	snprintf(out, len, "%s/step-%010lld", in, (long long)step);
}

static __attribute__((unused)) void save_step(const char *in, struct model *m, int64_t step,
					      char *committed, size_t len)
{
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));

	assert_non_null(meta);
	meta_fill(meta, step);
	TU_OK(ax_ckpt_save(in, meta, &m->tensors, "[model]\nfc1 = linear 64\n", committed, len));
	free(meta);
}

static __attribute__((unused)) int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-ckpt-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove the test directory (unmounting the disk-full test's tmpfs if an
 * assertion left it mounted) and check that no HDF5 object was left open. */
static __attribute__((unused)) int teardown(void **state)
{
	char command[160], small[96];
	ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);

	(void)state;
	snprintf(small, sizeof(small), "%s/small", dir);
	umount(small); /* usually not mounted: the error is expected */
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (open_objects != 0) {
		print_error("%zd HDF5 objects are still open after the test\n", open_objects);
		return -1;
	}
	return system(command) == 0 ? 0 : -1;
}

#endif
