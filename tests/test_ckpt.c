/* test_ckpt.c - training checkpoints: round trip, readers, errors, faults,
 * discovery, retention and the background saver.
 *
 * Every test works on real files in a mkdtemp directory and, for the faults,
 * on real processes, signals and a real full file system. A save -> verify
 * -> load round trip is bit-for-bit for parameters (NaN payload, -0, a
 * denormal, a 1-element and a 0-d tensor) and two AdamW buffers, and exact
 * for every metadata field (64-bit seeds and counters above 2^53, three
 * ranks' RNG state); h5py and h5ls read state.h5. Loads into the wrong model
 * or optimizer fail naming the tensor and leave the destination alone.
 * Faults: a flipped byte (mid-file, in the superblock, in a tensor with the
 * manifest forged to match) fails verification and makes find_latest fall
 * back to an older checkpoint, as does a missing manifest; a writer
 * SIGKILLed at random instants leaves only verifiable commits and at most
 * one step-N.tmp; a full tmpfs fails the save with "No space left" and
 * leaves the older checkpoint loadable. Retention keeps the newest N plus
 * the best. The saver's snapshot is a copy, and its failures are reported.
 *
 * AXON_TEST_SEED fixes the random kill instants (the seed is printed). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <hdf5.h>

#include "axon/ckpt.h"

struct spec {
	const char *name;
	int ndim;
	int64_t shape[4];
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct spec mlp_specs[] = {
	{"fc1.weight", 2, {64, 32}},
	{"fc1.bias", 1, {64}},
	{"fc2.weight", 2, {10, 64}},
	{"fc2.bias", 1, {10}},
	{"scale", 1, {1}},
	{"temperature", 0, {0}},
};

static const char *const adamw_names[2] = {"exp_avg", "exp_avg_sq"};

static char dir[64];

/* A model's parameters and optimizer buffers, in the ax_params layout. */
struct model {
	struct ax_params *params;
	float *opt[AX_CKPT_MAX_OPT_BUFFERS];
	struct ax_ckpt_tensors tensors;
};

static void model_init(struct model *m, const struct spec *specs, int n, int n_opt,
		       const char *const *opt_names)
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

static void model_free(struct model *m)
{
	for (int b = 0; b < AX_CKPT_MAX_OPT_BUFFERS; b++)
		free(m->opt[b]);
	ax_params_destroy(m->params);
	memset(m, 0, sizeof(*m));
}

/* The flat buffer `which` (-1: the parameters, b: optimizer buffer b). */
static float *buffer_of(const struct model *m, int which)
{
	return which < 0 ? ax_params_data(m->params) : m->opt[which];
}

static size_t buffer_bytes(const struct model *m)
{
	return (size_t)ax_params_size(m->params) * sizeof(float);
}

/* Deterministic values in [-1, 1), different per seed, buffer and element;
 * the padding between tensors stays zero (a load leaves it zero too). */
static void model_fill(struct model *m, uint64_t seed)
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

static void model_fill_constant(struct model *m, float value)
{
	for (int which = -1; which < m->tensors.n_opt; which++) {
		float *flat = buffer_of(m, which);

		for (int i = 0; i < ax_params_count(m->params); i++) {
			const struct ax_tensor *t = ax_params_get(m->params, i);

			for (int64_t k = 0; k < ax_tensor_numel(t); k++)
				flat[ax_params_offset(m->params, i) + k] = value;
		}
	}
}

/* Every buffer of a and b holds the same bits. */
static void assert_same_state(const struct model *a, const struct model *b)
{
	assert_int_equal(ax_params_size(a->params), ax_params_size(b->params));
	for (int which = -1; which < a->tensors.n_opt; which++) {
		if (memcmp(buffer_of(a, which), buffer_of(b, which), buffer_bytes(a)) != 0)
			fail_msg("%s differs after the round trip",
				 which < 0 ? "the parameters" : a->tensors.opt_names[which]);
	}
}

/* A copy of every buffer, to prove a failed load changed nothing. */
static float *model_snapshot(const struct model *m)
{
	size_t bytes = buffer_bytes(m);
	float *copy = malloc(bytes * (size_t)(1 + m->tensors.n_opt) + 1);

	assert_non_null(copy);
	for (int which = -1; which < m->tensors.n_opt; which++)
		memcpy((char *)copy + bytes * (size_t)(which + 1), buffer_of(m, which), bytes);
	return copy;
}

static void assert_unchanged(const struct model *m, float *before)
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
static void meta_fill(struct ax_ckpt_meta *meta, int64_t step)
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

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void expect_error(enum ax_status got, enum ax_status want, const char *const *needles)
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

static FILE *capture_begin(struct capture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
	return c->f;
}

static const char *capture_end(struct capture *c)
{
	fclose(c->f);
	c->f = NULL;
	return c->text;
}

static void contains(const char *text, const char *needle, const char *what)
{
	if (!strstr(text, needle))
		fail_msg("%s lacks '%s':\n%s", what, needle, text);
}

static void step_path(char *out, size_t len, const char *in, int64_t step)
{
	snprintf(out, len, "%s/step-%010lld", in, (long long)step);
}

static void save_step(const char *in, struct model *m, int64_t step, char *committed, size_t len)
{
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));

	assert_non_null(meta);
	meta_fill(meta, step);
	TU_OK(ax_ckpt_save(in, meta, &m->tensors, "[model]\nfc1 = linear 64\n", committed, len));
	free(meta);
}

/* XOR one byte of a file at `offset` (negative: from the end). */
static void flip_byte(const char *file, long offset)
{
	int fd = open(file, O_RDWR);
	unsigned char byte;
	off_t at;

	assert_true(fd >= 0);
	at = offset >= 0 ? offset : lseek(fd, 0, SEEK_END) + offset;
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

static long file_size(const char *file)
{
	struct stat st;

	assert_int_equal(stat(file, &st), 0);
	return (long)st.st_size;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-ckpt-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove the test directory (unmounting the disk-full test's tmpfs if an
 * assertion left it mounted) and check that no HDF5 object was left open. */
static int teardown(void **state)
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

/* ---- the format ---- */

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

/* ---- damage and discovery ---- */

/* A flipped byte anywhere fails verification with a message saying so; with
 * the manifest forged to match, the tensor's Fletcher-32 still catches it. */
static void test_flipped_byte_fails_verify(void **state)
{
	const float marker = 12345.678f;
	struct model a, b;
	char committed[256], file[300], manifest[300], text[512];
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	unsigned char *bytes, pattern[4];
	long size, found = -1;
	int matches = 0;
	struct capture report;
	float *before;
	FILE *f;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&b, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 1);
	model_fill(&b, 2);
	((float *)ax_params_find(a.params, "fc2.weight")->data)[6] = marker;
	save_step(dir, &a, 10, committed, sizeof(committed));
	snprintf(file, sizeof(file), "%s/state.h5", committed);
	size = file_size(file);

	/* In the middle of the file. */
	flip_byte(file, size / 2);
	EXPECT_ERROR(ax_ckpt_verify(committed, capture_begin(&report)), AX_ERR_IO, "damaged",
		     "CRC-32", "state.h5", "step-0000000010");
	contains(capture_end(&report), "FAIL", "the verify report");
	free(report.text);
	before = model_snapshot(&b);
	EXPECT_ERROR(ax_ckpt_load(committed, meta, &b.tensors, NULL), AX_ERR_IO, "damaged");
	assert_unchanged(&b, before);
	flip_byte(file, size / 2); /* flipped back, it verifies: the byte was the cause */
	TU_OK(ax_ckpt_verify(committed, NULL));

	/* In the first 512 bytes (the HDF5 superblock). */
	flip_byte(file, 100);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "damaged", "CRC");
	flip_byte(file, 100);

	/* Cut short. */
	assert_int_equal(truncate(file, size - 1000), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "truncated");

	/* A flipped bit in a tensor's data, and a manifest rewritten to match:
	 * the per-chunk checksum is the second line of defence. */
	{
		FILE *in;

		meta_fill(meta, 10);
		TU_OK(ax_ckpt_save(dir, meta, &a.tensors, NULL, NULL, 0));
		size = file_size(file);
		bytes = malloc((size_t)size);
		assert_non_null(bytes);
		in = fopen(file, "rb");
		assert_non_null(in);
		assert_int_equal(fread(bytes, 1, (size_t)size, in), (size_t)size);
		fclose(in);
	}
	memcpy(pattern, &marker, 4); /* the file is little-endian, as is this machine */
	for (long k = 0; k + 4 <= size; k++) {
		if (memcmp(bytes + k, pattern, 4) == 0) {
			found = k;
			matches++;
		}
	}
	assert_int_equal(matches, 1);
	bytes[found + 1] ^= 0x10;
	f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, (size_t)size, f), (size_t)size);
	assert_int_equal(fclose(f), 0);
	snprintf(manifest, sizeof(manifest), "%s/MANIFEST.json", committed);
	snprintf(text, sizeof(text),
		 "{\"format\": \"axon-checkpoint\", \"format_version\": 1, \"step\": 10, "
		 "\"files\": {\"state.h5\": {\"bytes\": %ld, \"crc32\": \"%08lx\"}}}\n",
		 size, (unsigned long)crc32(crc32(0L, Z_NULL, 0), bytes, (uInt)size));
	f = fopen(manifest, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_IO, "'params/fc2.weight'",
		     "checksum");
	free(bytes);

	/* A damaged manifest. */
	f = fopen(manifest, "w");
	assert_non_null(f);
	fputs("{\"format\": \"axon-checkpoint\", \"fil", f);
	assert_int_equal(fclose(f), 0);
	EXPECT_ERROR(ax_ckpt_verify(committed, NULL), AX_ERR_INVALID, "MANIFEST.json",
		     "damaged");
	model_free(&a);
	model_free(&b);
	free(meta);
}

/* find_latest takes the newest checkpoint that verifies and says why it
 * skipped the others; a directory of interrupted saves has none. */
static void test_find_latest_skips_damaged(void **state)
{
	struct model a, b;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	char c10[256], c20[256], c30[256], file[300], found[256], only_tmp[128], p[300];
	struct capture log;
	const char *text;

	(void)state;
	assert_non_null(meta);
	model_init(&a, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&b, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&a, 1);
	save_step(dir, &a, 10, c10, sizeof(c10));
	model_fill(&a, 2);
	save_step(dir, &a, 20, c20, sizeof(c20));

	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), NULL));
	assert_string_equal(found, c20);

	snprintf(file, sizeof(file), "%s/state.h5", c20);
	flip_byte(file, file_size(file) / 2);
	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), capture_begin(&log)));
	text = capture_end(&log);
	assert_string_equal(found, c10);
	contains(text, "skipping", "find_latest's log");
	contains(text, "step-0000000020", "find_latest's log");
	contains(text, "damaged", "find_latest's log");
	free(log.text);
	/* ... and step 10 holds step 10's state. */
	model_fill(&a, 1);
	TU_OK(ax_ckpt_load(found, meta, &b.tensors, NULL));
	assert_same_state(&a, &b);
	assert_int_equal(meta->step, 10);

	/* A newer checkpoint without its manifest is skipped too. */
	save_step(dir, &a, 30, c30, sizeof(c30));
	snprintf(file, sizeof(file), "%s/MANIFEST.json", c30);
	assert_int_equal(unlink(file), 0);
	TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), capture_begin(&log)));
	text = capture_end(&log);
	assert_string_equal(found, c10);
	contains(text, "step-0000000030", "find_latest's log");
	contains(text, "MANIFEST.json", "find_latest's log");
	contains(text, "step-0000000020", "find_latest's log");
	free(log.text);

	/* Only leftovers of interrupted saves, and an empty or missing directory. */
	snprintf(only_tmp, sizeof(only_tmp), "%s/only-tmp", dir);
	assert_int_equal(mkdir(only_tmp, 0755), 0);
	EXPECT_ERROR(ax_ckpt_find_latest(only_tmp, found, sizeof(found), NULL), AX_ERR_RANGE,
		     "no valid checkpoint", "only-tmp");
	save_step(only_tmp, &a, 5, p, sizeof(p));
	snprintf(file, sizeof(file), "%s/step-0000000005.tmp", only_tmp);
	assert_int_equal(rename(p, file), 0);
	snprintf(p, sizeof(p), "%s/step-0000000007.tmp", only_tmp);
	assert_int_equal(mkdir(p, 0755), 0);
	EXPECT_ERROR(ax_ckpt_find_latest(only_tmp, found, sizeof(found), NULL), AX_ERR_RANGE,
		     "no valid checkpoint");
	snprintf(p, sizeof(p), "%s/none", dir);
	EXPECT_ERROR(ax_ckpt_find_latest(p, found, sizeof(found), NULL), AX_ERR_RANGE, "none");
	model_free(&a);
	model_free(&b);
	free(meta);
}

/* ---- faults during a save ---- */

struct listing {
	int64_t committed[256], tmp[256];
	int n_committed, n_tmp, other;
};

static void list_dir(const char *in, struct listing *l)
{
	DIR *d = opendir(in);
	struct dirent *e;

	memset(l, 0, sizeof(*l));
	assert_non_null(d);
	while ((e = readdir(d))) {
		long long step;
		int used = 0;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (sscanf(e->d_name, "step-%lld%n", &step, &used) == 1 && e->d_name[used] == '\0' &&
		    l->n_committed < 256)
			l->committed[l->n_committed++] = step;
		else if (sscanf(e->d_name, "step-%lld%n", &step, &used) == 1 &&
			 !strcmp(e->d_name + used, ".tmp") && l->n_tmp < 256)
			l->tmp[l->n_tmp++] = step;
		else
			l->other++;
	}
	closedir(d);
}

static uint64_t next_random(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* A process saving a 64 MB checkpoint over and over is SIGKILLed at random
 * instants: whatever the instant, every committed step verifies and holds
 * that step's values, at most one step-N.tmp is left, cleanup removes it and
 * find_latest returns the newest commit. */
static void test_sigkill_during_save(void **state)
{
	const struct spec big[] = {{"embed.weight", 2, {4000, 4000}}, {"embed.bias", 1, {4000}},
				   {"head.weight", 2, {10, 4000}}, {"head.bias", 1, {1}}};
	struct model m;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	const char *seed_text = getenv("AXON_TEST_SEED");
	uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10)
				  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	uint64_t rng = seed;
	int64_t next_step = 1, newest = 0;
	char kills[512] = "";
	int commits_seen = 0, tmp_seen = 0;

	(void)state;
	assert_non_null(meta);
	print_message("kill instants drawn with AXON_TEST_SEED=%llu\n", (unsigned long long)seed);
	model_init(&m, big, COUNT(big), 0, NULL);
	for (int round = 0; round < 6; round++) {
		/* Three kinds of round: 5-200 ms after the fork; 5-200 ms after the
		 * child's first commit (kills in later saves: a first save can take
		 * longer than 200 ms); 1-20 ms after a step-N.tmp appears (a kill
		 * in the middle of writing, whatever the machine's speed). */
		int mode = round % 3;
		long delay_ms = mode == 2 ? 1 + (long)(next_random(&rng) % 20)
					  : 5 + (long)(next_random(&rng) % 196);
		struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
		struct listing before, after;
		char found[256], committed[256], log_line[64];
		struct capture log;
		int status, leftovers;
		pid_t child;

		list_dir(dir, &before);
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			alarm(30); /* never outlive a parent that failed an assertion */
			for (int64_t step = next_step;; step++) {
				model_fill_constant(&m, (float)step);
				meta_fill(meta, step);
				if (ax_ckpt_save(dir, meta, &m.tensors, NULL, NULL, 0) != AX_OK) {
					fprintf(stderr, "child: %s\n", ax_last_error());
					_exit(3);
				}
			}
		}
		if (mode > 0) {
			struct listing now;
			struct timespec poll = {0, 1000000L};

			for (int waited = 0; waited < 10000; waited++) {
				list_dir(dir, &now);
				if (mode == 1 ? now.n_committed > before.n_committed : now.n_tmp > 0)
					break;
				nanosleep(&poll, NULL);
			}
		}
		nanosleep(&delay, NULL);
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		if (!WIFSIGNALED(status))
			fail_msg("round %d: the saving child exited with %d before the kill", round,
				 WEXITSTATUS(status));

		list_dir(dir, &after);
		if (after.n_tmp > 1)
			fail_msg("round %d: %d step-N.tmp directories after one kill", round,
				 after.n_tmp);
		assert_int_equal(after.other, 0);
		tmp_seen += after.n_tmp;
		for (int i = 0; i < after.n_committed; i++) {
			step_path(committed, sizeof(committed), dir, after.committed[i]);
			if (ax_ckpt_verify(committed, NULL) != AX_OK)
				fail_msg("round %d: committed %s does not verify: %s", round, committed,
					 ax_last_error());
			if (after.committed[i] > newest)
				newest = after.committed[i];
			if (after.committed[i] >= next_step)
				commits_seen++;
		}
		for (int i = 0; i < after.n_committed; i++)
			if (after.committed[i] + 1 > next_step)
				next_step = after.committed[i] + 1;
		for (int i = 0; i < after.n_tmp; i++)
			if (after.tmp[i] + 1 > next_step)
				next_step = after.tmp[i] + 1;

		leftovers = after.n_tmp;
		assert_true(ax_ckpt_cleanup(dir, 2, NULL, capture_begin(&log)) >= leftovers);
		capture_end(&log);
		list_dir(dir, &after);
		assert_int_equal(after.n_tmp, 0);
		if (leftovers)
			contains(log.text, "(left by an interrupted save)", "cleanup's log");
		free(log.text);
		if (newest > 0) {
			TU_OK(ax_ckpt_find_latest(dir, found, sizeof(found), NULL));
			step_path(committed, sizeof(committed), dir, newest);
			assert_string_equal(found, committed);
			/* The commit holds its own step's values, not a mix. */
			model_fill_constant(&m, -1.0f);
			TU_OK(ax_ckpt_load(found, meta, &m.tensors, NULL));
			assert_int_equal(meta->step, newest);
			for (int i = 0; i < ax_params_count(m.params); i++) {
				const struct ax_tensor *t = ax_params_get(m.params, i);

				for (int64_t k = 0; k < ax_tensor_numel(t); k++)
					if (((float *)t->data)[k] != (float)newest)
						fail_msg("%s: %s[%lld] is %g", found, t->name,
							 (long long)k, ((float *)t->data)[k]);
			}
		}
		snprintf(log_line, sizeof(log_line), "%s%ld%s", round ? ", " : "", delay_ms,
			 mode == 1 ? " after a commit" : mode == 2 ? " into a save" : "");
		strncat(kills, log_line, sizeof(kills) - strlen(kills) - 1);
	}
	print_message("killed after %s ms: %d commits, %d interrupted saves, newest step %lld\n",
		      kills, commits_seen, tmp_seen, (long long)newest);
	assert_true(commits_seen > 0); /* the rounds that waited for one */
	assert_true(tmp_seen > 0);     /* the rounds that killed a save in progress */
	model_free(&m);
	free(meta);
}

/* A disk that fills up during a save: the save fails saying so, leaves no
 * step-N.tmp, and the older checkpoint still verifies and loads. Needs root
 * to mount a 2 MiB tmpfs. */
static void test_disk_full(void **state)
{
	const struct spec big[] = {{"fc1.weight", 2, {64, 32}}, {"huge", 2, {300, 1000}}};
	struct model small_model, big_model, got;
	char small[128], committed[256], failed[256];
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta));
	struct listing l;

	(void)state;
	assert_non_null(meta);
	snprintf(small, sizeof(small), "%s/small", dir);
	assert_int_equal(mkdir(small, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", small, "tmpfs", 0, "size=2m") != 0) {
		print_message("SKIPPED the disk-full check: cannot mount a tmpfs here (%s)\n",
			      geteuid() != 0 ? "not root" : strerror(errno));
		free(meta);
		return;
	}
	model_init(&small_model, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_init(&big_model, big, COUNT(big), 2, adamw_names); /* 3.6 MB of floats */
	model_init(&got, mlp_specs, COUNT(mlp_specs), 2, adamw_names);
	model_fill(&small_model, 1);
	model_fill(&big_model, 2);
	save_step(small, &small_model, 1, committed, sizeof(committed));
	meta_fill(meta, 2);
	EXPECT_ERROR(ax_ckpt_save(small, meta, &big_model.tensors, NULL, NULL, 0), AX_ERR_IO,
		     "No space left", "step-0000000002.tmp");
	print_message("disk full reported as: %s\n", ax_last_error());
	list_dir(small, &l);
	assert_int_equal(l.n_tmp, 0);
	assert_int_equal(l.n_committed, 1);
	step_path(failed, sizeof(failed), small, 2);
	assert_false(exists(failed));
	TU_OK(ax_ckpt_verify(committed, NULL));
	TU_OK(ax_ckpt_load(committed, meta, &got.tensors, NULL));
	assert_same_state(&small_model, &got);
	/* The space was given back: the small one saves again. */
	save_step(small, &small_model, 3, committed, sizeof(committed));
	assert_int_equal(umount(small), 0);
	model_free(&small_model);
	model_free(&big_model);
	model_free(&got);
	free(meta);
}

/* ---- retention ---- */

static void test_cleanup_keeps_newest_and_best(void **state)
{
	struct model a;
	char p[300], best[300], runs[128], other[128];
	struct listing l;
	struct capture log;
	int removed;

	(void)state;
	model_init(&a, mlp_specs, COUNT(mlp_specs), 0, NULL);
	model_fill(&a, 1);
	for (int64_t step = 100; step <= 500; step += 100)
		save_step(dir, &a, step, step == 200 ? best : p, sizeof(p));
	snprintf(p, sizeof(p), "%s/step-0000000600.tmp", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/step-0000000050.tmp", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/notes.txt", dir); /* not ours: left alone */
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0644)), 0);

	removed = ax_ckpt_cleanup(dir, 2, best, capture_begin(&log));
	capture_end(&log);
	contains(log.text, "step-0000000600.tmp (left by an interrupted save)", "cleanup's log");
	contains(log.text, "removing", "cleanup's log");
	free(log.text);
	assert_int_equal(removed, 4); /* 100, 300 and the two .tmp */
	list_dir(dir, &l);
	assert_int_equal(l.n_tmp, 0);
	assert_int_equal(l.other, 1);
	assert_int_equal(l.n_committed, 3);
	for (int64_t step = 100; step <= 500; step += 100) {
		step_path(p, sizeof(p), dir, step);
		assert_int_equal(exists(p), step == 200 || step >= 400);
	}

	/* The best being one of the newest does not keep an extra one. */
	snprintf(runs, sizeof(runs), "%s/second", dir);
	for (int64_t step = 1; step <= 4; step++)
		save_step(runs, &a, step, step == 4 ? best : p, sizeof(p));
	assert_int_equal(ax_ckpt_cleanup(runs, 2, best, NULL), 2);
	list_dir(runs, &l);
	assert_int_equal(l.n_committed, 2);
	step_path(p, sizeof(p), runs, 3);
	assert_true(exists(p));
	assert_true(exists(best));

	/* keep_last 0 keeps every commit and still removes leftovers; a missing
	 * directory removes nothing. */
	snprintf(p, sizeof(p), "%s/step-0000000009.tmp", runs);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(ax_ckpt_cleanup(runs, 0, NULL, NULL), 1);
	list_dir(runs, &l);
	assert_int_equal(l.n_committed, 2);
	assert_int_equal(l.n_tmp, 0);
	snprintf(other, sizeof(other), "%s/none", dir);
	assert_int_equal(ax_ckpt_cleanup(other, 1, NULL, NULL), 0);
	model_free(&a);
}

/* ---- the background saver ---- */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The nice value of every thread of this process but the main one, into
 * nices[]; returns how many. */
static int other_threads_nice(int *nices, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		char file[300], line[1024], *p;
		FILE *f;
		int nice_value = 0;

		if (e->d_name[0] == '.' || atoi(e->d_name) == (int)getpid())
			continue;
		snprintf(file, sizeof(file), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(file, "r");
		if (!f)
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		/* After "pid (comm)": state is field 3, nice field 19. */
		for (int field = 3; p && field <= 19; field++) {
			p = strchr(p + 1, ' ');
			if (p && field == 19)
				nice_value = atoi(p + 1);
		}
		if (p)
			nices[n++] = nice_value;
	}
	closedir(d);
	return n;
}

static void test_saver(void **state)
{
	const struct spec specs[] = {{"fc1.weight", 2, {2000, 1000}}, {"fc1.bias", 1, {2000}},
				     {"fc2.weight", 2, {10, 2000}}, {"fc2.bias", 1, {10}}};
	struct model a, expected, got;
	struct ax_ckpt_saver *saver = NULL, *broken = NULL;
	struct ax_ckpt_meta *meta = malloc(sizeof(*meta)), *back = malloc(sizeof(*back));
	char committed[256], want[256], blocker[128];
	double t0, submit_seconds, snapshot_seconds, save_seconds;
	char *config = NULL;

	(void)state;
	assert_non_null(meta);
	assert_non_null(back);
	model_init(&a, specs, COUNT(specs), 2, adamw_names);
	model_init(&expected, specs, COUNT(specs), 2, adamw_names);
	model_init(&got, specs, COUNT(specs), 2, adamw_names);
	model_fill(&a, 1);
	model_fill(&expected, 1);
	meta_fill(meta, 1000);

	TU_OK(ax_ckpt_saver_create(dir, &saver));
	t0 = now_seconds();
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, "lr = 0.1\n"));
	submit_seconds = now_seconds() - t0;
	/* Training goes on: the live state changes while the save runs. */
	model_fill(&a, 2);
	meta->step = 999999;
	TU_OK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
	step_path(want, sizeof(want), dir, 1000);
	assert_string_equal(committed, want);
	ax_ckpt_saver_times(saver, &snapshot_seconds, &save_seconds);
	print_message("saver, %.0f MB of state: submit held the caller %.1f ms (snapshot %.1f ms), "
		      "the save took %.1f ms in the background\n",
		      3.0 * (double)buffer_bytes(&a) / 1e6, 1e3 * submit_seconds,
		      1e3 * snapshot_seconds, 1e3 * save_seconds);
	assert_true(snapshot_seconds <= submit_seconds);
	/* The saver thread yields to training: nice +10 from the process's. */
	{
		int nices[16], n = other_threads_nice(nices, 16), found = 0;

		for (int i = 0; i < n; i++)
			found += nices[i] == (getpriority(PRIO_PROCESS, 0) + 10 < 19
						      ? getpriority(PRIO_PROCESS, 0) + 10 : 19);
		if (found != 1)
			fail_msg("expected one thread at nice %d (the saver) among %d, found %d",
				 getpriority(PRIO_PROCESS, 0) + 10, n, found);
	}
	if (!(submit_seconds < save_seconds))
		fail_msg("submit held the caller %.3f s, longer than the save (%.3f s)",
			 submit_seconds, save_seconds);
	TU_OK(ax_ckpt_load(committed, back, &got.tensors, &config));
	assert_same_state(&expected, &got); /* the values at submit, not the later ones */
	assert_int_equal(back->step, 1000);
	assert_string_equal(config, "lr = 0.1\n");
	ax_free(config);

	/* Back to back: the second submit waits for the first; both commit. */
	meta->step = 1001;
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL));
	model_fill(&a, 3);
	meta->step = 1002;
	TU_OK(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL));
	TU_OK(ax_ckpt_saver_wait(saver, committed, sizeof(committed)));
	step_path(want, sizeof(want), dir, 1002);
	assert_string_equal(committed, want);
	TU_OK(ax_ckpt_load(committed, back, &got.tensors, NULL));
	assert_same_state(&a, &got);
	step_path(want, sizeof(want), dir, 1001);
	TU_OK(ax_ckpt_verify(want, NULL));
	TU_OK(ax_ckpt_saver_wait(saver, NULL, 0)); /* nothing in flight: the last status */
	ax_ckpt_saver_destroy(saver);

	/* A directory that cannot be written (a path under a regular file; root
	 * ignores permission bits): wait reports it, and so does the next submit. */
	snprintf(blocker, sizeof(blocker), "%s/a-file", dir);
	assert_int_equal(close(open(blocker, O_CREAT | O_WRONLY, 0644)), 0);
	TU_OK(ax_ckpt_saver_create(blocker, &broken));
	TU_OK(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL));
	strcpy(committed, "unchanged");
	EXPECT_ERROR(ax_ckpt_saver_wait(broken, committed, sizeof(committed)), AX_ERR_IO,
		     "a-file/step-0000001002.tmp", "Not a directory");
	assert_string_equal(committed, "");
	TU_OK(ax_ckpt_saver_wait(broken, NULL, 0)); /* reported once */
	TU_OK(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL));
	meta->step = 1003;
	EXPECT_ERROR(ax_ckpt_saver_submit(broken, meta, &a.tensors, NULL), AX_ERR_IO,
		     "step-0000001002.tmp", "Not a directory");
	EXPECT_ERROR(ax_ckpt_saver_wait(broken, NULL, 0), AX_ERR_IO, "step-0000001003.tmp");
	ax_ckpt_saver_destroy(broken);
	ax_ckpt_saver_destroy(NULL);

	/* A submit that could not be saved is refused before any copy. */
	TU_OK(ax_ckpt_saver_create(dir, &saver));
	a.tensors.n_opt = AX_CKPT_MAX_OPT_BUFFERS + 1;
	EXPECT_ERROR(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL), AX_ERR_INVALID,
		     "optimizer buffers");
	a.tensors.n_opt = 2;
	a.tensors.opt_data[1] = NULL;
	EXPECT_ERROR(ax_ckpt_saver_submit(saver, meta, &a.tensors, NULL), AX_ERR_INVALID,
		     "no data");
	a.tensors.opt_data[1] = a.opt[1];
	TU_OK(ax_ckpt_saver_wait(saver, NULL, 0));
	ax_ckpt_saver_destroy(saver);
	model_free(&a);
	model_free(&expected);
	model_free(&got);
	free(meta);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_bit_for_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_by_h5py_and_h5ls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_fails_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_latest_skips_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_during_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_keeps_newest_and_best, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saver, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
