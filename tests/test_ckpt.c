/* test_ckpt.c - training checkpoints, the format: round trip, readers and
 * load errors.
 *
 * Every test works on real files in a mkdtemp directory. A save -> verify
 * -> load round trip is bit-for-bit for parameters (NaN payload, -0, a
 * denormal, a 1-element and a 0-d tensor) and two AdamW buffers, and exact
 * for every metadata field (64-bit seeds and counters above 2^53, three
 * ranks' RNG state); a save no load would accept is refused; h5py and h5ls
 * read state.h5. Loads into the wrong model or optimizer fail naming the
 * tensor and leave the destination alone.
 *
 * Damage, faults, discovery and retention: test_ckpt_recovery.c; the
 * background saver: test_ckpt_saver.c; what they share:
 * support/ckpt_fixture.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_fixture.h"

static void assert_same_meta(const struct ax_ckpt_meta *a, const struct ax_ckpt_meta *b)
{
	assert_int_equal(a->step, b->step);
	assert_int_equal(a->epoch, b->epoch);
	assert_true(a->data_seed == b->data_seed);
	assert_int_equal(a->data_epoch, b->data_epoch);
	assert_int_equal(a->data_position, b->data_position);
	assert_int_equal(a->optimizer_steps, b->optimizer_steps);
	assert_int_equal(a->have_best, b->have_best);
	assert_memory_equal(&a->best, &b->best, sizeof(double));
	assert_int_equal(a->best_step, b->best_step);
	assert_int_equal(a->bad_evals, b->bad_evals);
	assert_memory_equal(&a->lr_scale, &b->lr_scale, sizeof(double));
	assert_int_equal(a->world, b->world);
	for (int r = 0; r < a->world; r++) {
		if (a->rng_seed[r] != b->rng_seed[r] || a->rng_counter[r] != b->rng_counter[r])
			fail_msg("rank %d's RNG state: saved %llu/%llu, loaded %llu/%llu", r,
				 (unsigned long long)a->rng_seed[r],
				 (unsigned long long)a->rng_counter[r],
				 (unsigned long long)b->rng_seed[r],
				 (unsigned long long)b->rng_counter[r]);
	}
}

static void test_round_trip_bit_for_bit(void **state)
{
	const char *config = "[model]\nfc1 = linear 64\nact = relu\nfc2 = linear 10\n"
			     "[optimizer]\nname = adamw\nlr = 0.001\n";
	struct model a, b;
	struct ax_ckpt_meta *saved = malloc(sizeof(*saved)), *loaded = malloc(sizeof(*loaded));
	float *w;
	uint32_t nan_bits = 0x7fc01234u;
	char committed[256], want[256], temp[300], *config_back = NULL;
	struct capture report;
	const char *text;

	(void)state;
	assert_non_null(saved);
	assert_non_null(loaded);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&b, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 1);
	model_fill(&b, 2);
	w = ax_params_find(a.params, "fc1.weight")->data;
	memcpy(&w[0], &nan_bits, sizeof(float)); /* a NaN with a payload */
	w[1] = -0.0f;
	w[2] = 1e-40f; /* a denormal */
	w[3] = -INFINITY;
	a.opt[1][ax_params_offset(a.params, 4)] = 3.4e38f; /* "scale", the 1-element tensor */
	meta_fill(saved, 123456789012LL);

	TU_OK(ax_ckpt_save(dir, saved, &a.tensors, config, committed, sizeof(committed)));
	step_path(want, sizeof(want), dir, 123456789012LL);
	assert_string_equal(committed, want);
	snprintf(temp, sizeof(temp), "%s.tmp", want);
	assert_false(exists(temp));

	TU_OK(ax_ckpt_verify(committed, capture_begin(&report)));
	text = capture_end(&report);
	contains(text, "CRC-32", "the verify report");
	contains(text, "18 tensors", "the verify report"); /* 6 parameters x 3 buffers */
	free(report.text);

	memset(loaded, 0x55, sizeof(*loaded));
	TU_OK(ax_ckpt_load(committed, loaded, &b.tensors, &config_back));
	assert_same_state(&a, &b);
	assert_same_meta(saved, loaded);
	assert_string_equal(config_back, config);
	ax_free(config_back);

	/* The same step saved again (a resumed run) replaces the commit. */
	model_fill(&a, 3);
	TU_OK(ax_ckpt_save(dir, saved, &a.tensors, NULL, NULL, 0));
	TU_OK(ax_ckpt_load(committed, loaded, &b.tensors, &config_back));
	assert_same_state(&a, &b);
	assert_string_equal(config_back, "");
	ax_free(config_back);
	assert_false(exists(temp));

	/* No best yet, and an infinite best: both survive. */
	saved->have_best = 0;
	saved->best = INFINITY;
	saved->world = 1;
	saved->step = 5;
	TU_OK(ax_ckpt_save(dir, saved, &a.tensors, NULL, committed, sizeof(committed)));
	TU_OK(ax_ckpt_load(committed, loaded, &b.tensors, NULL));
	assert_same_meta(saved, loaded);

	EXPECT_ERROR(ax_ckpt_save(dir, NULL, &a.tensors, NULL, NULL, 0), AX_ERR_INVALID,
		     "missing argument");
	/* Arguments that would save something no load accepts are refused. */
	saved->world = 0;
	saved->step = 6;
	EXPECT_ERROR(ax_ckpt_save(dir, saved, &a.tensors, NULL, NULL, 0), AX_ERR_INVALID,
		     "world is 0");
	saved->world = 1;
	a.tensors.opt_names[1] = "exp/avg";
	EXPECT_ERROR(ax_ckpt_save(dir, saved, &a.tensors, NULL, NULL, 0), AX_ERR_INVALID,
		     "'exp/avg'");
	EXPECT_ERROR(ax_ckpt_load(committed, loaded, &a.tensors, NULL), AX_ERR_INVALID,
		     "'exp/avg'");
	a.tensors.opt_names[1] = adamw_names[1];
	a.tensors.n_opt = AX_CKPT_MAX_OPT_BUFFERS + 1;
	EXPECT_ERROR(ax_ckpt_save(dir, saved, &a.tensors, NULL, NULL, 0), AX_ERR_INVALID,
		     "optimizer buffers");
	a.tensors.n_opt = 2;
	step_path(want, sizeof(want), dir, 6);
	assert_false(exists(want));
	snprintf(temp, sizeof(temp), "%s.tmp", want);
	assert_false(exists(temp));
	model_free(&a);
	model_free(&b);
	free(saved);
	free(loaded);
}

/* Run a command, return its output (malloc'd) and exit status. */
static char *run_command(const char *command, int *status)
{
	size_t cap = 1 << 16, used = 0, n;
	char *out = malloc(cap);
	FILE *pipe = popen(command, "r");

	assert_non_null(out);
	assert_non_null(pipe);
	while ((n = fread(out + used, 1, cap - 1 - used, pipe)) > 0)
		used += n;
	out[used] = '\0';
	*status = pclose(pipe);
	return out;
}

static const char h5py_script[] =
	"import sys, json, h5py, numpy as np\n"
	"f = h5py.File(sys.argv[1], 'r')\n"
	"names = []\n"
	"f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)\n"
	"for n in sorted(names):\n"
	"    d = f[n]\n"
	"    s = float(np.asarray(d[()], dtype=np.float64).sum())\n"
	"    shape = ','.join(map(str, d.shape)) or 'scalar'\n"
	"    print('tensor', n, repr(s), shape, d.dtype)\n"
	"a = f.attrs\n"
	"state = json.loads(a['state'])\n"
	"print('attrs', a['format'], int(a['format_version']), a['optimizer_buffers'],\n"
	"      state['step'], state['rng_seed'][2], state['rng_counter'][0])\n";

/* h5py and h5ls open state.h5: names, shapes, sums equal to C's, the
 * attributes and the state JSON. */
static void test_readable_by_h5py_and_h5ls(void **state)
{
	struct model a;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	char committed[256], file[300], command[1024], *out, *line, *save = NULL;
	int status, tensors = 0;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 5);
	meta_fill(meta, 42);
	TU_OK(ax_ckpt_save(dir, meta, &a.tensors, "x = 1\n", committed, sizeof(committed)));
	snprintf(file, sizeof(file), "%s/state.h5", committed);
	if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
		print_message("SKIPPED the h5py check: /usr/bin/python3 cannot import h5py "
			      "(install python3-h5py)\n");
	} else {
		char script[300], want_attrs[256];
		FILE *f;

		snprintf(script, sizeof(script), "%s/read_state.py", dir);
		f = fopen(script, "w");
		assert_non_null(f);
		fputs(h5py_script, f);
		assert_int_equal(fclose(f), 0);
		snprintf(command, sizeof(command), "/usr/bin/python3 '%s' '%s' 2>&1", script, file);
		out = run_command(command, &status);
		if (status != 0)
			fail_msg("h5py could not read %s:\n%s", file, out);
		snprintf(want_attrs, sizeof(want_attrs),
			 "attrs axon-checkpoint 1 exp_avg,exp_avg_sq 42 %llu %llu",
			 (unsigned long long)meta->rng_seed[2],
			 (unsigned long long)meta->rng_counter[0]);
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char name[128], shape[64], shape_want[64], dtype[16], *tensor_name;
			double sum, want = 0;
			int which = -1, index = -1;
			const struct ax_tensor *t;

			if (strncmp(line, "attrs ", 6) == 0) {
				assert_string_equal(line, want_attrs);
				continue;
			}
			assert_int_equal(sscanf(line, "tensor %127s %lf %63s %15s", name, &sum, shape,
						dtype), 4);
			if (strncmp(name, "params/", 7) == 0) {
				tensor_name = name + 7;
			} else if (strncmp(name, "optimizer/exp_avg/", 18) == 0) {
				tensor_name = name + 18;
				which = 0;
			} else if (strncmp(name, "optimizer/exp_avg_sq/", 21) == 0) {
				tensor_name = name + 21;
				which = 1;
			} else {
				fail_msg("h5py sees an unexpected dataset '%s'", name);
				return;
			}
			t = ax_params_find(a.params, tensor_name);
			if (!t)
				fail_msg("h5py sees '%s', which is not a parameter", name);
			for (int i = 0; i < ax_params_count(a.params); i++)
				if (ax_params_get(a.params, i) == t)
					index = i;
			for (int64_t k = 0; k < ax_tensor_numel(t); k++)
				want += buffer_of(&a, which)[ax_params_offset(a.params, index) + k];
			if (fabs(sum - want) > 1e-9 * (1 + fabs(want)))
				fail_msg("%s: h5py sums to %.17g, C to %.17g", name, sum, want);
			shape_want[0] = '\0';
			for (int d = 0; d < t->ndim; d++)
				snprintf(shape_want + strlen(shape_want),
					 sizeof(shape_want) - strlen(shape_want), "%s%lld",
					 d ? "," : "", (long long)t->shape[d]);
			assert_string_equal(shape, t->ndim ? shape_want : "scalar");
			assert_string_equal(dtype, "float32");
			tensors++;
		}
		assert_int_equal(tensors, 3 * COUNT(mlp_specs));
		print_message("h5py read %d tensors and the state attribute\n", tensors);
		free(out);
	}
	if (system("command -v h5ls >/dev/null 2>&1") == 0) {
		snprintf(command, sizeof(command), "h5ls -r '%s' 2>&1", file);
		out = run_command(command, &status);
		assert_int_equal(status, 0);
		contains(out, "/params/fc1.weight", "h5ls -r");
		contains(out, "/optimizer/exp_avg_sq/fc2.bias", "h5ls -r");
		free(out);
	} else {
		print_message("SKIPPED the h5ls check: h5ls is not installed\n");
	}
	model_free(&a);
	free(meta);
}

/* Loads into the wrong model or optimizer fail, say which tensor and why,
 * and change nothing. */
static void test_load_errors(void **state)
{
	const struct spec other_shape[] = {{"fc1.weight", 2, {64, 32}}, {"fc1.bias", 1, {64}},
					   {"fc2.weight", 2, {12, 64}}, {"fc2.bias", 1, {10}},
					   {"scale", 1, {1}}, {"temperature", 0, {0}}};
	const char *const momentum_names[1] = {"momentum"};
	struct model a, wrong, adamw, sgd;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	char committed[256], missing[300];
	float *before;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 1, adamw_names); /* exp_avg only */
	model_init(&wrong, other_shape, COUNT(other_shape), 1, adamw_names);
	model_init(&adamw, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&sgd, mlp_specs, COUNT(mlp_specs), 1, momentum_names);
	model_fill(&a, 1);
	model_fill(&wrong, 2);
	model_fill(&adamw, 3);
	model_fill(&sgd, 4);
	save_step(dir, &a, 7, committed, sizeof(committed));

	before = model_snapshot(&wrong);
	EXPECT_ERROR(ax_ckpt_load(committed, meta, &wrong.tensors, NULL), AX_ERR_SHAPE,
		     "'params/fc2.weight'", "[10, 64]", "[12, 64]", "step-0000000007");
	assert_unchanged(&wrong, before);

	before = model_snapshot(&adamw);
	EXPECT_ERROR(ax_ckpt_load(committed, meta, &adamw.tensors, NULL), AX_ERR_INVALID,
		     "exp_avg_sq", "fc1.weight");
	assert_unchanged(&adamw, before);

	before = model_snapshot(&sgd);
	EXPECT_ERROR(ax_ckpt_load(committed, meta, &sgd.tensors, NULL), AX_ERR_INVALID,
		     "'optimizer/momentum/fc1.weight'");
	assert_unchanged(&sgd, before);

	snprintf(missing, sizeof(missing), "%s/step-0000000099", dir);
	before = model_snapshot(&a);
	EXPECT_ERROR(ax_ckpt_load(missing, meta, &a.tensors, NULL), AX_ERR_IO, "step-0000000099",
		     "No such file or directory");
	assert_unchanged(&a, before);
	model_free(&a);
	model_free(&wrong);
	model_free(&adamw);
	model_free(&sgd);
	free(meta);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_bit_for_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_by_h5py_and_h5ls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
