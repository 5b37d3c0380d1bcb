/* test_optim.c - optimizers, gradient clipping and learning-rate schedules.
 *
 * The optimizers are checked against trajectories computed independently in
 * float64 by NumPy from PyTorch's documented update rules
 * (tests/fixtures/make_optim_reference.py -> tests/fixtures/optim_reference.h),
 * including a NO_DECAY and a FROZEN parameter. Clipping is checked against
 * hand-computed norms, the schedules against their closed forms evaluated
 * here in double, and checkpoint state by restoring it into a second
 * optimizer and requiring bit-identical continuations. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "fixtures/optim_reference.h"

/* ---- the reference parameter store: w decays, b NO_DECAY, f FROZEN ---- */

struct store {
	struct ax_params *params;
	struct ax_tensor *w, *b, *f;
};

static void store_create(struct store *s)
{
	const int64_t shape_b[1] = {OPTREF_NB}, shape_f[1] = {OPTREF_NF};

	TU_OK(ax_params_create(AX_CPU, &s->params));
	TU_OK(ax_params_add(s->params, "w", 2, optref_shape_w, 0, &s->w));
	TU_OK(ax_params_add(s->params, "b", 1, shape_b, AX_PARAM_NO_DECAY, &s->b));
	TU_OK(ax_params_add(s->params, "f", 1, shape_f, AX_PARAM_FROZEN, &s->f));
	TU_OK(ax_params_finalize(s->params));
	memcpy(s->w->data, optref_init_w, sizeof(optref_init_w));
	memcpy(s->b->data, optref_init_b, sizeof(optref_init_b));
	memcpy(s->f->data, optref_init_f, sizeof(optref_init_f));
}

/* The fixture's gradients of step t (the frozen f gets some too: they must be ignored). */
static void store_set_grads(struct store *s, int t)
{
	memcpy(s->w->grad->data, optref_grad_w[t], sizeof(optref_grad_w[t]));
	memcpy(s->b->grad->data, optref_grad_b[t], sizeof(optref_grad_b[t]));
	memcpy(s->f->grad->data, optref_grad_f[t], sizeof(optref_grad_f[t]));
}

/* ---- optimizers against the NumPy reference ---- */

static void test_reference_trajectories(void **state)
{
	const size_t n_cases = sizeof(optref_cases) / sizeof(optref_cases[0]);

	(void)state;
	for (size_t c = 0; c < n_cases; c++) {
		const struct optref_case *ref = &optref_cases[c];
		struct store s;
		struct ax_optimizer *opt;
		char what[96];

		store_create(&s);
		TU_OK(ax_optimizer_create(s.params, &ref->options, &opt));
		for (int t = 0; t < OPTREF_STEPS; t++) {
			store_set_grads(&s, t);
			TU_OK(ax_optimizer_step(opt, ref->lr[t]));
			assert_int_equal(ax_optimizer_step_count(opt), t + 1);
			snprintf(what, sizeof(what), "%s step %d: w", ref->name, t + 1);
			tu_assert_close(s.w->data, ref->w[t], OPTREF_NW, 1e-7, 1e-6, what);
			snprintf(what, sizeof(what), "%s step %d: b (no decay)", ref->name, t + 1);
			tu_assert_close(s.b->data, ref->b[t], OPTREF_NB, 1e-7, 1e-6, what);
			/* Frozen: not a bit changes. */
			assert_memory_equal(s.f->data, optref_init_f, sizeof(optref_init_f));
			/* The step reads gradients and leaves them as they were. */
			assert_memory_equal(s.w->grad->data, optref_grad_w[t], sizeof(optref_grad_w[t]));
		}
		/* The frozen parameter's state slice was never touched. */
		for (int i = 0; i < ax_optimizer_state_count(opt); i++) {
			float *buf;
			int64_t off = ax_params_offset(s.params, 2);

			TU_OK(ax_optimizer_state(opt, i, NULL, &buf));
			for (int j = 0; j < OPTREF_NF; j++)
				assert_true(buf[off + j] == 0.0f);
		}
		ax_optimizer_destroy(opt);
		ax_params_destroy(s.params);
	}
}

/* The state buffers have the params layout, under PyTorch's names: after one
 * Adam step exp_avg = (1 - beta1) g and exp_avg_sq = (1 - beta2) g^2 at each
 * parameter's offset. */
/* ax_optimizer_step_clear: the same update, bit for bit, as ax_optimizer_step
 * (parameters and state, every case of the reference, frozen and no-decay
 * parameters included), and afterwards every gradient is zero. */
static void test_step_clear(void **state)
{
	const size_t n_cases = sizeof(optref_cases) / sizeof(optref_cases[0]);

	(void)state;
	for (size_t c = 0; c < n_cases; c++) {
		const struct optref_case *ref = &optref_cases[c];
		struct store a, b;
		struct ax_optimizer *oa, *ob;
		int64_t size;

		store_create(&a);
		store_create(&b);
		size = ax_params_size(a.params);
		TU_OK(ax_optimizer_create(a.params, &ref->options, &oa));
		TU_OK(ax_optimizer_create(b.params, &ref->options, &ob));
		for (int t = 0; t < OPTREF_STEPS; t++) {
			const float *g = ax_params_grad(b.params);

			store_set_grads(&a, t);
			store_set_grads(&b, t);
			TU_OK(ax_optimizer_step(oa, ref->lr[t]));
			TU_OK(ax_optimizer_step_clear(ob, ref->lr[t]));
			assert_int_equal(ax_optimizer_step_count(ob), t + 1);
			assert_memory_equal(ax_params_data(a.params), ax_params_data(b.params),
					    (size_t)size * sizeof(float));
			for (int i = 0; i < ax_optimizer_state_count(oa); i++) {
				float *sa, *sb;

				TU_OK(ax_optimizer_state(oa, i, NULL, &sa));
				TU_OK(ax_optimizer_state(ob, i, NULL, &sb));
				assert_memory_equal(sa, sb, (size_t)size * sizeof(float));
			}
			for (int64_t j = 0; j < size; j++)
				if (g[j] != 0.0f)
					fail_msg("%s step %d: gradient element %lld is %g after "
						 "step_clear", ref->name, t + 1, (long long)j, g[j]);
		}
		/* A bad learning rate clears nothing. */
		store_set_grads(&b, 0);
		assert_int_equal(ax_optimizer_step_clear(ob, -1.0f), AX_ERR_INVALID);
		assert_memory_equal(b.w->grad->data, optref_grad_w[0], sizeof(optref_grad_w[0]));
		ax_optimizer_destroy(oa);
		ax_optimizer_destroy(ob);
		ax_params_destroy(a.params);
		ax_params_destroy(b.params);
	}
}

static void test_state_layout_and_names(void **state)
{
	struct ax_optim_options sgd_plain = {.kind = AX_OPTIM_SGD};
	struct ax_optim_options sgd_mom = {.kind = AX_OPTIM_SGD, .momentum = 0.9f};
	struct ax_optim_options adam = ax_optim_defaults(AX_OPTIM_ADAM);
	struct ax_optimizer *opt;
	struct store s;
	const char *name;
	float *m, *v;

	(void)state;
	store_create(&s);
	TU_OK(ax_optimizer_create(s.params, &sgd_plain, &opt));
	assert_int_equal(ax_optimizer_state_count(opt), 0);
	assert_int_equal(ax_optimizer_state(opt, 0, &name, &m), AX_ERR_RANGE);
	ax_optimizer_destroy(opt);

	TU_OK(ax_optimizer_create(s.params, &sgd_mom, &opt));
	assert_int_equal(ax_optimizer_state_count(opt), 1);
	TU_OK(ax_optimizer_state(opt, 0, &name, &m));
	assert_string_equal(name, "momentum_buffer");
	store_set_grads(&s, 0);
	TU_OK(ax_optimizer_step(opt, 0.1f));
	/* First step: the momentum buffer is the decayed gradient (here wd = 0). */
	assert_memory_equal(m + ax_params_offset(s.params, 0), optref_grad_w[0],
			    sizeof(optref_grad_w[0]));
	ax_optimizer_destroy(opt);

	TU_OK(ax_optimizer_create(s.params, &adam, &opt));
	assert_int_equal(ax_optimizer_state_count(opt), 2);
	TU_OK(ax_optimizer_state(opt, 0, &name, &m));
	assert_string_equal(name, "exp_avg");
	TU_OK(ax_optimizer_state(opt, 1, &name, &v));
	assert_string_equal(name, "exp_avg_sq");
	assert_int_equal(ax_optimizer_state(opt, 2, &name, &v), AX_ERR_RANGE);
	assert_int_equal(ax_optimizer_state(opt, -1, &name, &v), AX_ERR_RANGE);
	TU_OK(ax_optimizer_state(opt, 1, NULL, &v));
	TU_OK(ax_optimizer_step(opt, 0.01f));
	for (int k = 0; k < 2; k++) {
		int64_t off = ax_params_offset(s.params, k);
		const float *g = k == 0 ? optref_grad_w[0] : optref_grad_b[0];
		int n = k == 0 ? OPTREF_NW : OPTREF_NB;

		for (int j = 0; j < n; j++) {
			double gj = g[j];

			assert_true(fabs(m[off + j] - (1 - 0.9) * gj) <= 1e-6 * fabs(gj));
			assert_true(fabs(v[off + j] - (1 - 0.999) * gj * gj) <= 1e-5 * gj * gj);
		}
	}
	ax_optimizer_destroy(opt);
	ax_params_destroy(s.params);
}

/* Defaults are PyTorch's; NULL options are plain SGD. */
static void test_defaults(void **state)
{
	struct ax_optim_options o = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_optimizer *opt;
	struct store s;

	(void)state;
	assert_int_equal(o.kind, AX_OPTIM_ADAMW);
	assert_true(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f);
	assert_true(o.weight_decay == 0.01f);
	o = ax_optim_defaults(AX_OPTIM_ADAM);
	assert_true(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f);
	assert_true(o.weight_decay == 0.0f);
	o = ax_optim_defaults(AX_OPTIM_SGD);
	assert_true(o.momentum == 0.0f && o.dampening == 0.0f && o.nesterov == 0);
	assert_true(o.weight_decay == 0.0f);
	assert_string_equal(ax_optim_kind_name(AX_OPTIM_ADAMW), "adamw");

	store_create(&s);
	TU_OK(ax_optimizer_create(s.params, NULL, &opt));
	assert_int_equal(ax_optimizer_options(opt)->kind, AX_OPTIM_SGD);
	store_set_grads(&s, 0);
	TU_OK(ax_optimizer_step(opt, 0.5f));
	/* Plain SGD: w = w0 - lr * g, and b likewise. */
	for (int j = 0; j < OPTREF_NW; j++)
		assert_true(((float *)s.w->data)[j] == optref_init_w[j] - 0.5f * optref_grad_w[0][j]);
	ax_optimizer_destroy(opt);
	ax_params_destroy(s.params);
}

/* ---- validation ---- */

static void expect_invalid(struct ax_params *params, struct ax_optim_options o,
			   const char *field, const char *value)
{
	struct ax_optimizer *opt = NULL;
	enum ax_status st = ax_optimizer_create(params, &o, &opt);

	if (st != AX_ERR_INVALID)
		fail_msg("options with bad %s gave %s, expected AX_ERR_INVALID", field,
			 ax_status_name(st));
	assert_null(opt);
	if (!strstr(ax_last_error(), field) || !strstr(ax_last_error(), value))
		fail_msg("message for bad %s does not name it and '%s': %s", field, value,
			 ax_last_error());
}

static void test_option_validation(void **state)
{
	struct ax_optim_options sgd = ax_optim_defaults(AX_OPTIM_SGD), o;
	struct ax_optim_options adam = ax_optim_defaults(AX_OPTIM_ADAM);
	struct ax_optimizer *opt;
	struct ax_params *unfinished;
	struct store s;
	float before[OPTREF_NW];

	(void)state;
	store_create(&s);
	o = sgd, o.momentum = -0.5f;
	expect_invalid(s.params, o, "momentum", "-0.5");
	o = sgd, o.momentum = NAN;
	expect_invalid(s.params, o, "momentum", "nan");
	o = sgd, o.dampening = -0.25f;
	expect_invalid(s.params, o, "dampening", "-0.25");
	o = sgd, o.dampening = 1.5f;
	expect_invalid(s.params, o, "dampening", "1.5");
	o = sgd, o.weight_decay = -0.01f;
	expect_invalid(s.params, o, "weight_decay", "-0.01");
	o = sgd, o.nesterov = 1;
	expect_invalid(s.params, o, "nesterov", "momentum 0");
	o = sgd, o.nesterov = 1, o.momentum = 0.9f, o.dampening = 0.5f;
	expect_invalid(s.params, o, "nesterov", "dampening 0.5");
	o = sgd, o.nesterov = 2, o.momentum = 0.9f;
	expect_invalid(s.params, o, "nesterov", "2");
	o = adam, o.beta1 = 1.0f;
	expect_invalid(s.params, o, "beta1", "1");
	o = adam, o.beta1 = -0.1f;
	expect_invalid(s.params, o, "beta1", "-0.1");
	o = adam, o.beta2 = 1.0f;
	expect_invalid(s.params, o, "beta2", "got 1");
	o = adam, o.beta2 = NAN;
	expect_invalid(s.params, o, "beta2", "nan");
	o = adam, o.eps = 0.0f;
	expect_invalid(s.params, o, "eps", "got 0");
	o = adam, o.eps = -1e-8f;
	expect_invalid(s.params, o, "eps", "-1e-08");
	o = ax_optim_defaults(AX_OPTIM_ADAMW), o.weight_decay = INFINITY;
	expect_invalid(s.params, o, "weight_decay", "inf");
	o = adam, o.kind = (enum ax_optim_kind)7;
	expect_invalid(s.params, o, "kind", "7");
	/* Fields the kind does not use are ignored: a config may hold every key. */
	o = sgd, o.beta1 = 0.9f, o.eps = 0.0f;
	TU_OK(ax_optimizer_create(s.params, &o, &opt));
	ax_optimizer_destroy(opt);
	o = adam, o.momentum = 0.9f;
	TU_OK(ax_optimizer_create(s.params, &o, &opt));

	/* A bad learning rate updates nothing and does not count as a step. */
	memcpy(before, s.w->data, sizeof(before));
	store_set_grads(&s, 0);
	assert_int_equal(ax_optimizer_step(opt, -0.1f), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "learning rate"));
	assert_int_equal(ax_optimizer_step(opt, NAN), AX_ERR_INVALID);
	assert_int_equal(ax_optimizer_step(opt, INFINITY), AX_ERR_INVALID);
	assert_memory_equal(before, s.w->data, sizeof(before));
	assert_int_equal(ax_optimizer_step_count(opt), 0);
	assert_int_equal(ax_optimizer_set_step_count(opt, -1), AX_ERR_INVALID);
	ax_optimizer_destroy(opt);

	/* Parameters must be finalized first. */
	TU_OK(ax_params_create(AX_CPU, &unfinished));
	assert_int_equal(ax_optimizer_create(unfinished, &adam, &opt), AX_ERR_STATE);
	assert_int_equal(ax_optimizer_create(NULL, &adam, &opt), AX_ERR_INVALID);
	ax_params_destroy(unfinished);
	ax_params_destroy(s.params);
}

/* lr 0 (a warmup starting from 0) changes no weight but, as in PyTorch,
 * advances the moments and the step count. */
static void test_zero_lr_step(void **state)
{
	struct ax_optim_options o = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_optimizer *opt;
	struct store s;
	float *m;

	(void)state;
	store_create(&s);
	TU_OK(ax_optimizer_create(s.params, &o, &opt));
	store_set_grads(&s, 0);
	TU_OK(ax_optimizer_step(opt, 0.0f));
	assert_memory_equal(s.w->data, optref_init_w, sizeof(optref_init_w));
	assert_int_equal(ax_optimizer_step_count(opt), 1);
	TU_OK(ax_optimizer_state(opt, 0, NULL, &m));
	assert_true(m[ax_params_offset(s.params, 0)] != 0.0f);
	ax_optimizer_destroy(opt);
	ax_params_destroy(s.params);
}

/* ---- checkpoint state round trip ---- */

/* Run `first` steps on A, copy its parameters, state buffers and step count
 * into a fresh B on a second store, continue both for the remaining steps:
 * B must match A bit for bit. Without the step count B must differ (the
 * test can fail). */
static void roundtrip(struct ax_optim_options o, int restore_count, int expect_equal)
{
	enum { FIRST = 3 };
	struct store a, b;
	struct ax_optimizer *oa, *ob;
	size_t bytes;

	store_create(&a);
	store_create(&b);
	bytes = (size_t)ax_params_size(a.params) * sizeof(float);
	TU_OK(ax_optimizer_create(a.params, &o, &oa));
	for (int t = 0; t < FIRST; t++) {
		store_set_grads(&a, t);
		TU_OK(ax_optimizer_step(oa, 0.03f));
	}
	/* "Save" A and "load" into B. */
	memcpy(ax_params_data(b.params), ax_params_data(a.params), bytes);
	TU_OK(ax_optimizer_create(b.params, &o, &ob));
	assert_int_equal(ax_optimizer_state_count(ob), ax_optimizer_state_count(oa));
	for (int i = 0; i < ax_optimizer_state_count(oa); i++) {
		const char *na, *nb;
		float *ba, *bb;

		TU_OK(ax_optimizer_state(oa, i, &na, &ba));
		TU_OK(ax_optimizer_state(ob, i, &nb, &bb));
		assert_string_equal(na, nb);
		memcpy(bb, ba, bytes);
	}
	if (restore_count)
		TU_OK(ax_optimizer_set_step_count(ob, ax_optimizer_step_count(oa)));
	for (int t = FIRST; t < OPTREF_STEPS; t++) {
		store_set_grads(&a, t);
		store_set_grads(&b, t);
		TU_OK(ax_optimizer_step(oa, 0.02f));
		TU_OK(ax_optimizer_step(ob, 0.02f));
	}
	if (expect_equal) {
		assert_int_equal(ax_optimizer_step_count(ob), OPTREF_STEPS);
		assert_memory_equal(ax_params_data(a.params), ax_params_data(b.params), bytes);
		for (int i = 0; i < ax_optimizer_state_count(oa); i++) {
			float *ba, *bb;

			TU_OK(ax_optimizer_state(oa, i, NULL, &ba));
			TU_OK(ax_optimizer_state(ob, i, NULL, &bb));
			assert_memory_equal(ba, bb, bytes);
		}
	} else {
		assert_memory_not_equal(ax_params_data(a.params), ax_params_data(b.params), bytes);
	}
	ax_optimizer_destroy(oa);
	ax_optimizer_destroy(ob);
	ax_params_destroy(a.params);
	ax_params_destroy(b.params);
}

static void test_state_roundtrip(void **state)
{
	struct ax_optim_options sgd = {.kind = AX_OPTIM_SGD, .momentum = 0.9f, .dampening = 0.1f,
				       .weight_decay = 0.01f};
	struct ax_optim_options nesterov = {.kind = AX_OPTIM_SGD, .momentum = 0.9f, .nesterov = 1};
	struct ax_optim_options adam = ax_optim_defaults(AX_OPTIM_ADAM);
	struct ax_optim_options adamw = ax_optim_defaults(AX_OPTIM_ADAMW);

	(void)state;
	adam.weight_decay = 0.05f;
	roundtrip(sgd, 1, 1);
	roundtrip(nesterov, 1, 1);
	roundtrip(adam, 1, 1);
	roundtrip(adamw, 1, 1);
	/* Without the step count: Adam restarts its bias correction, and SGD
	 * re-initialises its momentum buffer to the gradient (visible with dampening). */
	roundtrip(adamw, 0, 0);
	roundtrip(sgd, 0, 0);
}

/* ---- allocation failures ---- */

static struct {
	long count, fail_at, live;
} counter;

static void *counting_alloc(void *user, size_t size)
{
	const struct ax_allocator *def = ax_default_allocator();
	void *p;

	(void)user;
	if (++counter.count == counter.fail_at)
		return NULL;
	p = def->alloc(def->user, size);
	if (p)
		counter.live++;
	return p;
}

static void counting_free(void *user, void *ptr)
{
	const struct ax_allocator *def = ax_default_allocator();

	(void)user;
	counter.live--;
	def->free(def->user, ptr);
}

/* Failing each allocation of ax_optimizer_create in turn gives AX_ERR_NOMEM
 * and leaks nothing; steps allocate nothing. */
static void test_create_allocation_failures(void **state)
{
	static const struct ax_allocator counting = {counting_alloc, counting_free, NULL};
	struct ax_optim_options o = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_optimizer *opt;
	struct store s;
	long needed;

	(void)state;
	store_create(&s);
	ax_set_allocator(&counting);
	counter.count = counter.live = 0;
	counter.fail_at = 0;
	TU_OK(ax_optimizer_create(s.params, &o, &opt));
	needed = counter.count;
	assert_int_equal(needed, 3); /* the struct and two moment buffers */
	store_set_grads(&s, 0);
	TU_OK(ax_optimizer_step(opt, 0.01f));
	assert_int_equal(counter.count, needed);
	ax_optimizer_destroy(opt);
	assert_int_equal(counter.live, 0);
	for (long k = 1; k <= needed; k++) {
		counter.count = counter.live = 0;
		counter.fail_at = k;
		opt = NULL;
		assert_int_equal(ax_optimizer_create(s.params, &o, &opt), AX_ERR_NOMEM);
		assert_null(opt);
		assert_int_equal(counter.live, 0);
	}
	ax_set_allocator(NULL);
	ax_params_destroy(s.params);
}

/* ---- gradient clipping ---- */

/* a = (3, 4), c = (12): global norm 13. The frozen f holds large gradients
 * that must neither count nor be scaled. */
struct clip_store {
	struct ax_params *params;
	float *a, *c, *f;
};

static void clip_store_create(struct clip_store *s)
{
	const int64_t two[1] = {2}, one[1] = {1}, three[1] = {3};
	struct ax_tensor *a, *c, *f;

	TU_OK(ax_params_create(AX_CPU, &s->params));
	TU_OK(ax_params_add(s->params, "a", 1, two, 0, &a));
	TU_OK(ax_params_add(s->params, "c", 1, one, AX_PARAM_NO_DECAY, &c));
	TU_OK(ax_params_add(s->params, "f", 1, three, AX_PARAM_FROZEN, &f));
	TU_OK(ax_params_finalize(s->params));
	s->a = a->grad->data;
	s->c = c->grad->data;
	s->f = f->grad->data;
	s->a[0] = 3.0f;
	s->a[1] = 4.0f;
	s->c[0] = 12.0f;
	s->f[0] = s->f[1] = s->f[2] = 100.0f;
}

static void test_clip_grad_norm(void **state)
{
	struct clip_store s;
	double norm = 0;
	float coef;

	(void)state;
	clip_store_create(&s);

	TU_OK(ax_grad_norm(s.params, &norm));
	assert_true(norm == 13.0);

	/* Below the limit: nothing changes. */
	TU_OK(ax_clip_grad_norm(s.params, 20.0f, &norm));
	assert_true(norm == 13.0);
	assert_true(s.a[0] == 3.0f && s.a[1] == 4.0f && s.c[0] == 12.0f);

	/* Above: scaled by max_norm / (norm + 1e-6), frozen untouched. */
	TU_OK(ax_clip_grad_norm(s.params, 6.5f, &norm));
	assert_true(norm == 13.0);
	coef = (float)(6.5 / (13.0 + 1e-6));
	assert_true(s.a[0] == 3.0f * coef && s.a[1] == 4.0f * coef && s.c[0] == 12.0f * coef);
	assert_true(fabs(s.a[0] - 1.5) < 1e-6 && fabs(s.a[1] - 2.0) < 1e-6 &&
		    fabs(s.c[0] - 6.0) < 1e-6);
	assert_true(s.f[0] == 100.0f && s.f[1] == 100.0f && s.f[2] == 100.0f);
	TU_OK(ax_grad_norm(s.params, &norm));
	assert_true(fabs(norm - 6.5) < 1e-5 && norm < 6.5);

	/* At exactly the limit PyTorch still scales, by 13 / (13 + 1e-6). */
	s.a[0] = 3.0f, s.a[1] = 4.0f, s.c[0] = 12.0f;
	TU_OK(ax_clip_grad_norm(s.params, 13.0f, NULL));
	coef = (float)(13.0 / (13.0 + 1e-6));
	assert_true(coef < 1.0f && s.c[0] == 12.0f * coef);

	/* max_norm = +Inf never clips. */
	TU_OK(ax_clip_grad_norm(s.params, INFINITY, &norm));
	assert_true(s.c[0] == 12.0f * coef);

	assert_int_equal(ax_clip_grad_norm(s.params, 0.0f, &norm), AX_ERR_INVALID);
	assert_non_null(strstr(ax_last_error(), "max_norm"));
	assert_int_equal(ax_clip_grad_norm(s.params, -1.0f, &norm), AX_ERR_INVALID);
	assert_int_equal(ax_clip_grad_norm(s.params, NAN, &norm), AX_ERR_INVALID);
	ax_params_destroy(s.params);
}

/* A NaN or Inf gradient gives a NaN or Inf norm and leaves every gradient
 * exactly as it was, so the caller can skip the step. */
static void test_clip_nonfinite(void **state)
{
	struct clip_store s;
	double norm = 0;
	size_t bytes;
	float saved[64];

	(void)state;
	clip_store_create(&s);
	bytes = (size_t)ax_params_size(s.params) * sizeof(float);
	assert_true(bytes <= sizeof(saved));

	s.a[1] = NAN;
	memcpy(saved, ax_params_grad(s.params), bytes);
	TU_OK(ax_grad_norm(s.params, &norm));
	assert_true(isnan(norm));
	TU_OK(ax_clip_grad_norm(s.params, 1.0f, &norm));
	assert_true(isnan(norm));
	assert_memory_equal(saved, ax_params_grad(s.params), bytes);

	s.a[1] = 4.0f;
	s.c[0] = -INFINITY;
	memcpy(saved, ax_params_grad(s.params), bytes);
	TU_OK(ax_clip_grad_norm(s.params, 1.0f, &norm));
	assert_true(isinf(norm) && norm > 0);
	assert_memory_equal(saved, ax_params_grad(s.params), bytes);

	/* A NaN in a frozen gradient does not count. */
	s.c[0] = 12.0f;
	s.f[1] = NAN;
	TU_OK(ax_grad_norm(s.params, &norm));
	assert_true(norm == 13.0);
	ax_params_destroy(s.params);
}

/* Many elements (vector loop plus tail) against a double sum done here. */
static void test_grad_norm_long(void **state)
{
	enum { N = 1003 };
	const int64_t shape[1] = {N};
	struct ax_params *params;
	struct ax_tensor *t;
	double want = 0, norm;
	float *g;

	(void)state;
	TU_OK(ax_params_create(AX_CPU, &params));
	TU_OK(ax_params_add(params, "t", 1, shape, 0, &t));
	TU_OK(ax_params_finalize(params));
	g = t->grad->data;
	for (int i = 0; i < N; i++) {
		g[i] = (float)((i % 17) - 8) * 0.37f + (i == 500 ? 1e-4f : 0.0f);
		want += (double)g[i] * g[i];
	}
	want = sqrt(want);
	TU_OK(ax_grad_norm(params, &norm));
	assert_true(fabs(norm - want) <= 1e-12 * want);
	ax_params_destroy(params);
}

/* ---- schedules ---- */

static void expect_lr(const struct ax_schedule *s, int64_t step, double want)
{
	float got = ax_schedule_lr(s, step);

	/* The schedule computes in double and rounds once: within a float ulp. */
	if (!(fabs((double)got - want) <= 1.2e-7 * fabs(want) + 1e-30))
		fail_msg("%s schedule at step %lld: lr %.9g, expected %.9g",
			 ax_schedule_kind_name(s->kind), (long long)step, got, want);
}

static void test_schedule_constant_warmup(void **state)
{
	struct ax_schedule s = {.kind = AX_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 10};
	double base = 0.1f;

	(void)state;
	TU_OK(ax_schedule_validate(&s));
	/* Default start factor 0: linear from 0. */
	expect_lr(&s, 0, 0.0);
	expect_lr(&s, 1, base * 0.1);
	expect_lr(&s, 5, base * 0.5);
	expect_lr(&s, 9, base * 0.9);
	expect_lr(&s, 10, base);
	expect_lr(&s, 11, base);
	expect_lr(&s, 1000000, base);
	expect_lr(&s, -5, 0.0);
	/* PyTorch LinearLR's default start factor 1/3. */
	s.warmup_start_factor = 1.0f / 3;
	{
		double f = s.warmup_start_factor;

		expect_lr(&s, 0, base * f);
		expect_lr(&s, 4, base * (f + (1 - f) * 0.4));
		expect_lr(&s, 10, base);
	}
	/* No warmup: base from step 0. */
	s.warmup_steps = 0;
	expect_lr(&s, 0, base);
}

static void test_schedule_step(void **state)
{
	struct ax_schedule s = {.kind = AX_SCHED_STEP, .base_lr = 0.1f, .warmup_steps = 5,
				.step_size = 10, .gamma = 0.5f};
	double base = 0.1f;

	(void)state;
	TU_OK(ax_schedule_validate(&s));
	expect_lr(&s, 0, 0.0);
	expect_lr(&s, 4, base * 0.8);
	expect_lr(&s, 5, base);
	expect_lr(&s, 14, base);
	expect_lr(&s, 15, base * 0.5);
	expect_lr(&s, 24, base * 0.5);
	expect_lr(&s, 25, base * 0.25);
	expect_lr(&s, 105, base * pow(0.5, 10));
	s.gamma = 0.1f;
	expect_lr(&s, 35, base * pow((double)0.1f, 3));
}

static void test_schedule_cosine(void **state)
{
	struct ax_schedule s = {.kind = AX_SCHED_COSINE, .base_lr = 0.1f, .warmup_steps = 10,
				.total_steps = 110, .min_lr = 0.001f};
	double base = 0.1f, min = 0.001f, pi = acos(-1.0);

	(void)state;
	TU_OK(ax_schedule_validate(&s));
	expect_lr(&s, 5, base * 0.5);
	expect_lr(&s, 10, base);
	expect_lr(&s, 35, min + (base - min) * (1 + cos(pi * 25 / 100)) / 2);
	expect_lr(&s, 60, (base + min) / 2); /* midpoint */
	expect_lr(&s, 109, min + (base - min) * (1 + cos(pi * 99 / 100)) / 2);
	expect_lr(&s, 110, min);
	expect_lr(&s, 111, min);
	expect_lr(&s, 1000000, min);
	/* No warmup, decay to 0. */
	s.warmup_steps = 0;
	s.min_lr = 0;
	expect_lr(&s, 0, base);
	expect_lr(&s, 55, base / 2);
	expect_lr(&s, 110, 0.0);
}

/* The rate is a function of the step alone: a run resumed at step k (a fresh
 * copy of the schedule, steps asked out of order) sees the same values. */
static void test_schedule_resume(void **state)
{
	const struct ax_schedule s = {.kind = AX_SCHED_COSINE, .base_lr = 3e-4f,
				      .warmup_steps = 100, .warmup_start_factor = 0.1f,
				      .total_steps = 1000, .min_lr = 3e-6f};
	float run[1200];

	(void)state;
	for (int k = 0; k < 1200; k++)
		run[k] = ax_schedule_lr(&s, k);
	for (int k = 1199; k >= 0; k -= 7) {
		struct ax_schedule resumed = s;

		assert_true(ax_schedule_lr(&resumed, k) == run[k]);
	}
	/* And it is continuous at the warmup boundary and monotone after. */
	assert_true(run[99] < run[100] && run[100] == 3e-4f);
	for (int k = 101; k < 1200; k++)
		assert_true(run[k] <= run[k - 1]);
}

static void expect_sched_invalid(struct ax_schedule s, const char *field, const char *value)
{
	enum ax_status st = ax_schedule_validate(&s);

	if (st != AX_ERR_INVALID)
		fail_msg("schedule with bad %s gave %s, expected AX_ERR_INVALID", field,
			 ax_status_name(st));
	if (!strstr(ax_last_error(), field) || !strstr(ax_last_error(), value))
		fail_msg("message for bad %s does not name it and '%s': %s", field, value,
			 ax_last_error());
}

static void test_schedule_validation(void **state)
{
	const struct ax_schedule ok_step = {.kind = AX_SCHED_STEP, .base_lr = 0.1f,
					    .step_size = 10, .gamma = 0.5f};
	const struct ax_schedule ok_cos = {.kind = AX_SCHED_COSINE, .base_lr = 0.1f,
					   .warmup_steps = 10, .total_steps = 100};
	struct ax_schedule s;

	(void)state;
	TU_OK(ax_schedule_validate(&ok_step));
	TU_OK(ax_schedule_validate(&ok_cos));
	s = ok_step, s.base_lr = -0.1f;
	expect_sched_invalid(s, "base_lr", "-0.1");
	s = ok_step, s.base_lr = NAN;
	expect_sched_invalid(s, "base_lr", "nan");
	s = ok_step, s.warmup_steps = -1;
	expect_sched_invalid(s, "warmup_steps", "-1");
	s = ok_step, s.warmup_start_factor = 1.5f;
	expect_sched_invalid(s, "warmup_start_factor", "1.5");
	s = ok_step, s.warmup_start_factor = -0.5f;
	expect_sched_invalid(s, "warmup_start_factor", "-0.5");
	s = ok_step, s.step_size = 0;
	expect_sched_invalid(s, "step_size", "0");
	s = ok_step, s.gamma = 0.0f;
	expect_sched_invalid(s, "gamma", "got 0");
	s = ok_step, s.gamma = 1.5f;
	expect_sched_invalid(s, "gamma", "1.5");
	s = ok_cos, s.total_steps = 10;
	expect_sched_invalid(s, "total_steps", "10");
	s = ok_cos, s.min_lr = 0.2f;
	expect_sched_invalid(s, "min_lr", "0.2");
	s = ok_cos, s.min_lr = -1e-3f;
	expect_sched_invalid(s, "min_lr", "-0.001");
	s = ok_cos, s.kind = (enum ax_schedule_kind)9;
	expect_sched_invalid(s, "kind", "9");
	assert_int_equal(ax_schedule_validate(NULL), AX_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_trajectories),
		cmocka_unit_test(test_step_clear),
		cmocka_unit_test(test_state_layout_and_names),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_option_validation),
		cmocka_unit_test(test_zero_lr_step),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_create_allocation_failures),
		cmocka_unit_test(test_clip_grad_norm),
		cmocka_unit_test(test_clip_nonfinite),
		cmocka_unit_test(test_grad_norm_long),
		cmocka_unit_test(test_schedule_constant_warmup),
		cmocka_unit_test(test_schedule_step),
		cmocka_unit_test(test_schedule_cosine),
		cmocka_unit_test(test_schedule_resume),
		cmocka_unit_test(test_schedule_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
