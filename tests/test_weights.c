/* test_weights.c - the weights file: round trip, readers, errors and faults.
 *
 * Round trips are bit-for-bit (NaN payloads, -0, denormals included) over
 * tensors of rank 0 to 4, a 1-element one, an empty one, a nested name and
 * one big enough for several chunks. h5py (Debian's /usr/bin/python3) and
 * h5ls read the file and agree with C on names, shapes and sums. Wrong
 * shapes, missing and extra tensors fail naming them; partial loads load
 * what matches. Fault tests: a flipped data byte and a truncated file fail
 * with AX_ERR_IO; a save into a missing directory, onto a blocked temp name
 * or onto a full disk (a 1 MiB tmpfs, when we may mount one) fails and
 * leaves the old file loadable; a writer SIGKILLed at random moments always
 * leaves a file holding one complete save. Every failed load must leave the
 * parameters exactly as they were. */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "axon/weights.h"

struct spec {
	const char *name;
	int ndim;
	int64_t shape[4];
};

static char dir[64];
static char path[256];

static const struct spec round_trip_specs[] = {
	{"fc1.weight", 2, {5, 7}},
	{"fc1.bias", 1, {5}},
	{"scale", 1, {1}},
	{"empty", 2, {3, 0}},
	{"temperature", 0, {0}},
	{"conv.weight", 4, {4, 3, 3, 3}},
	{"encoder/proj.weight", 2, {6, 2}},
	{"big.weight", 2, {1100, 1000}}, /* 4.4 MB: two 4 MiB chunks */
};

static const struct spec base_specs[] = {
	{"fc1.weight", 2, {5, 7}},
	{"fc1.bias", 1, {5}},
	{"fc2.weight", 2, {3, 5}},
	{"fc2.bias", 1, {3}},
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct ax_params *make_params_on(struct ax_device device, const struct spec *specs,
				       int n)
{
	struct ax_params *params;
	struct ax_tensor *t;

	TU_OK(ax_params_create(device, &params));
	for (int i = 0; i < n; i++)
		TU_OK(ax_params_add(params, specs[i].name, specs[i].ndim, specs[i].shape, 0, &t));
	TU_OK(ax_params_finalize(params));
	return params;
}

static struct ax_params *make_params(const struct spec *specs, int n)
{
	return make_params_on(AX_CPU, specs, n);
}

/* Deterministic values in [-1, 1) that differ per seed, tensor and element. */
static void fill(struct ax_params *params, uint64_t seed)
{
	for (int i = 0; i < ax_params_count(params); i++) {
		struct ax_tensor *t = ax_params_get(params, i);
		float *v = t->data;
		uint64_t s = seed * 1000003 + (uint64_t)i * 7919 + 1;

		for (int64_t k = 0; k < ax_tensor_numel(t); k++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			v[k] = (float)((double)(s >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
		}
	}
}

static void fill_constant(struct ax_params *params, float value)
{
	for (int i = 0; i < ax_params_count(params); i++) {
		struct ax_tensor *t = ax_params_get(params, i);

		for (int64_t k = 0; k < ax_tensor_numel(t); k++)
			((float *)t->data)[k] = value;
	}
}

/* A copy of the whole flat buffer, to prove a failed load changed nothing. */
static float *snapshot(const struct ax_params *params)
{
	size_t bytes = (size_t)ax_params_size(params) * sizeof(float);
	float *copy = malloc(bytes ? bytes : 1);

	assert_non_null(copy);
	memcpy(copy, ax_params_data(params), bytes);
	return copy;
}

static void assert_unchanged(const struct ax_params *params, float *before)
{
	assert_memory_equal(ax_params_data(params), before,
			    (size_t)ax_params_size(params) * sizeof(float));
	free(before);
}

/* Tensor `name` holds the same bits in a and b. */
static void assert_same_tensor(const struct ax_params *a, const struct ax_params *b,
			       const char *name)
{
	struct ax_tensor *ta = ax_params_find(a, name), *tb = ax_params_find(b, name);

	assert_non_null(ta);
	assert_non_null(tb);
	assert_int_equal(ax_tensor_numel(ta), ax_tensor_numel(tb));
	if (memcmp(ta->data, tb->data, (size_t)ax_tensor_numel(ta) * sizeof(float)) != 0)
		fail_msg("tensor '%s' differs after the round trip", name);
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

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/axon-weights-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/model.h5", dir);
	return 0;
}

/* Remove the test directory (unmounting the disk-full test's tmpfs if an
 * assertion left it mounted), and check that no HDF5 object was left open:
 * a leaked file would hold its descriptor (and disk space) for good. */
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

static void test_round_trip_bit_for_bit(void **state)
{
	const char *config = "[model]\nkind = mlp\nhidden = 128\n[train]\nlr = 0.1\n";
	const char *meta = "{\"step\": 1200, \"epoch\": 3, \"metric\": 0.875}";
	struct ax_params *a = make_params(round_trip_specs, COUNT(round_trip_specs));
	struct ax_params *b = make_params(round_trip_specs, COUNT(round_trip_specs));
	float *w = ax_params_find(a, "fc1.weight")->data;
	uint32_t nan_bits = 0x7fc01234u;
	struct ax_weights_info info;
	char temp[300], *config_back = NULL;

	(void)state;
	fill(a, 1);
	fill(b, 2);
	memcpy(&w[0], &nan_bits, sizeof(float)); /* a NaN with a payload */
	w[1] = -0.0f;
	w[2] = 1e-40f;                           /* a denormal */
	w[3] = -INFINITY;
	TU_OK(ax_weights_save(a, path, config, meta));
	snprintf(temp, sizeof(temp), "%s.tmp", path);
	assert_false(exists(temp));
	TU_OK(ax_weights_load(b, path, 0, &config_back));
	for (int i = 0; i < COUNT(round_trip_specs); i++)
		assert_same_tensor(a, b, round_trip_specs[i].name);
	assert_string_equal(config_back, config);
	ax_free(config_back);

	/* Overwriting an existing file; the _ex form reports counts and meta. */
	fill(a, 3);
	TU_OK(ax_weights_save(a, path, NULL, meta));
	TU_OK(ax_weights_load_ex(b, path, 0, &info));
	assert_memory_equal(ax_params_data(a), ax_params_data(b),
			    (size_t)ax_params_size(a) * sizeof(float));
	assert_int_equal(info.loaded, COUNT(round_trip_specs));
	assert_int_equal(info.missing, 0);
	assert_int_equal(info.extra, 0);
	assert_null(info.config);
	assert_string_equal(info.meta, meta);
	ax_weights_info_release(&info);
	assert_null(info.meta);
	ax_params_destroy(a);
	ax_params_destroy(b);
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
	"import sys, h5py, numpy as np\n"
	"f = h5py.File(sys.argv[1], 'r')\n"
	"names = []\n"
	"f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)\n"
	"for n in sorted(names):\n"
	"    d = f[n]\n"
	"    s = float(np.asarray(d[()], dtype=np.float64).sum())\n"
	"    shape = ','.join(map(str, d.shape)) or 'scalar'\n"
	"    print('tensor', n, repr(s), shape, int(d.fletcher32), d.dtype)\n"
	"a = f.attrs\n"
	"print('attrs', a['format'], int(a['format_version']), a['axon_version'], a['meta'])\n";

/* h5py and h5ls read what we wrote: names, shapes, float32, checksums on,
 * sums equal to C's, the attributes. */
static void test_readable_by_h5py_and_h5ls(void **state)
{
	const char *meta = "{\"step\": 7}";
	struct ax_params *a = make_params(round_trip_specs, COUNT(round_trip_specs));
	char command[1024], *out, *line, *save = NULL;
	int status, tensors = 0;

	(void)state;
	fill(a, 5);
	TU_OK(ax_weights_save(a, path, NULL, meta));
	if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
		print_message("SKIPPED the h5py check: /usr/bin/python3 cannot import h5py "
			      "(install python3-h5py)\n");
	} else {
		char script[300];
		FILE *f;

		snprintf(script, sizeof(script), "%s/read_weights.py", dir);
		f = fopen(script, "w");
		assert_non_null(f);
		fputs(h5py_script, f);
		assert_int_equal(fclose(f), 0);
		snprintf(command, sizeof(command), "/usr/bin/python3 '%s' '%s' 2>&1", script, path);
		out = run_command(command, &status);
		if (status != 0)
			fail_msg("h5py could not read %s:\n%s", path, out);
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char name[128], shape[64], shape_want[64], dtype[16];
			double sum, want = 0;
			int fletcher;
			struct ax_tensor *t;

			if (strncmp(line, "attrs ", 6) == 0) {
				char want_attrs[128];

				snprintf(want_attrs, sizeof(want_attrs), "attrs axon-weights 1 %s %s",
					 ax_version(), meta);
				assert_string_equal(line, want_attrs);
				continue;
			}
			assert_int_equal(sscanf(line, "tensor %127s %lf %63s %d %15s", name, &sum,
						shape, &fletcher, dtype), 5);
			t = ax_params_find(a, name);
			if (!t)
				fail_msg("h5py sees '%s', which is not a parameter", name);
			for (int64_t k = 0; k < ax_tensor_numel(t); k++)
				want += ((float *)t->data)[k];
			if (fabs(sum - want) > 1e-9 * (1 + fabs(want)))
				fail_msg("%s: h5py sums to %.17g, C to %.17g", name, sum, want);
			shape_want[0] = '\0';
			for (int d = 0; d < t->ndim; d++)
				snprintf(shape_want + strlen(shape_want),
					 sizeof(shape_want) - strlen(shape_want), "%s%lld",
					 d ? "," : "", (long long)t->shape[d]);
			assert_string_equal(shape, t->ndim ? shape_want : "scalar");
			assert_string_equal(dtype, "float32");
			/* Checksummed unless HDF5 cannot chunk it (scalar, empty). */
			assert_int_equal(fletcher, t->ndim > 0 && ax_tensor_numel(t) > 0);
			tensors++;
		}
		assert_int_equal(tensors, COUNT(round_trip_specs));
		print_message("h5py read %d tensors and the attributes\n", tensors);
		free(out);
	}
	if (system("command -v h5ls >/dev/null 2>&1") == 0) {
		snprintf(command, sizeof(command), "h5ls -r '%s' 2>&1", path);
		out = run_command(command, &status);
		assert_int_equal(status, 0);
		assert_non_null(strstr(out, "/fc1.weight"));
		assert_non_null(strstr(out, "/encoder/proj.weight"));
		free(out);
	} else {
		print_message("SKIPPED the h5ls check: h5ls is not installed\n");
	}
	ax_params_destroy(a);
}

static void test_shape_missing_extra_errors(void **state)
{
	const struct spec wrong_shape[] = {{"fc1.weight", 2, {5, 7}}, {"fc1.bias", 1, {5}},
					   {"fc2.weight", 2, {4, 5}}, {"fc2.bias", 1, {3}}};
	const struct spec more[] = {{"fc1.weight", 2, {5, 7}}, {"fc1.bias", 1, {5}},
				    {"fc2.weight", 2, {3, 5}}, {"fc2.bias", 1, {3}},
				    {"fc3.weight", 2, {2, 3}}};
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	struct ax_params *b = make_params(wrong_shape, COUNT(wrong_shape));
	struct ax_params *c = make_params(more, COUNT(more));
	struct ax_params *d = make_params(base_specs, COUNT(base_specs) - 1); /* no fc2.bias */
	struct ax_weights_info info;
	float *before;

	(void)state;
	fill(a, 1);
	fill(b, 2);
	fill(c, 3);
	fill(d, 4);
	TU_OK(ax_weights_save(a, path, NULL, NULL));

	before = snapshot(b);
	EXPECT_ERROR(ax_weights_load(b, path, 0, NULL), AX_ERR_SHAPE, "'fc2.weight'", "[3, 5]",
		     "[4, 5]", "model.h5");
	assert_unchanged(b, before);
	before = snapshot(b);
	EXPECT_ERROR(ax_weights_load(b, path, AX_WEIGHTS_PARTIAL | AX_WEIGHTS_IGNORE_EXTRA, NULL),
		     AX_ERR_SHAPE, "'fc2.weight'");
	assert_unchanged(b, before);

	before = snapshot(c);
	EXPECT_ERROR(ax_weights_load(c, path, 0, NULL), AX_ERR_INVALID, "'fc3.weight'",
		     "AX_WEIGHTS_PARTIAL");
	assert_unchanged(c, before);

	before = snapshot(d);
	EXPECT_ERROR(ax_weights_load_ex(d, path, 0, &info), AX_ERR_INVALID, "'fc2.bias'",
		     "AX_WEIGHTS_IGNORE_EXTRA");
	assert_unchanged(d, before);
	assert_int_equal(info.loaded, 0);
	TU_OK(ax_weights_load_ex(d, path, AX_WEIGHTS_IGNORE_EXTRA, &info));
	assert_int_equal(info.loaded, 3);
	assert_int_equal(info.extra, 1);
	for (int i = 0; i < 3; i++)
		assert_same_tensor(a, d, base_specs[i].name);
	ax_weights_info_release(&info);

	assert_int_equal(ax_weights_load(d, path, 0x80, NULL), AX_ERR_INVALID);
	ax_params_destroy(a);
	ax_params_destroy(b);
	ax_params_destroy(c);
	ax_params_destroy(d);
}

/* Transfer learning: the body loads, the new head keeps its own values. */
static void test_partial_load(void **state)
{
	const struct spec new_head[] = {{"fc1.weight", 2, {5, 7}}, {"fc1.bias", 1, {5}},
					{"head.weight", 2, {10, 5}}, {"head.bias", 1, {10}}};
	const struct spec unrelated[] = {{"other", 1, {4}}};
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	struct ax_params *b = make_params(new_head, COUNT(new_head));
	struct ax_params *c = make_params(unrelated, 1);
	struct ax_params *head_before = make_params(new_head, COUNT(new_head));
	struct ax_weights_info info;

	(void)state;
	fill(a, 1);
	fill(b, 2);
	fill(head_before, 2);
	TU_OK(ax_weights_save(a, path, NULL, NULL));
	TU_OK(ax_weights_load_ex(b, path, AX_WEIGHTS_PARTIAL | AX_WEIGHTS_IGNORE_EXTRA, &info));
	assert_int_equal(info.loaded, 2);
	assert_int_equal(info.missing, 2);
	assert_int_equal(info.extra, 2);
	assert_same_tensor(a, b, "fc1.weight");
	assert_same_tensor(a, b, "fc1.bias");
	assert_same_tensor(head_before, b, "head.weight");
	assert_same_tensor(head_before, b, "head.bias");
	/* Partial without IGNORE_EXTRA still refuses fc2.*, and nothing matching at all fails. */
	EXPECT_ERROR(ax_weights_load(b, path, AX_WEIGHTS_PARTIAL, NULL), AX_ERR_INVALID,
		     "'fc2.weight'");
	EXPECT_ERROR(ax_weights_load(c, path, AX_WEIGHTS_PARTIAL | AX_WEIGHTS_IGNORE_EXTRA, NULL),
		     AX_ERR_INVALID, "none of the model's 1 parameters");
	ax_params_destroy(a);
	ax_params_destroy(b);
	ax_params_destroy(c);
	ax_params_destroy(head_before);
}

static unsigned char *read_whole(const char *p, long *size)
{
	FILE *f = fopen(p, "rb");
	unsigned char *bytes;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*size = ftell(f);
	rewind(f);
	bytes = malloc((size_t)*size);
	assert_non_null(bytes);
	assert_int_equal(fread(bytes, 1, (size_t)*size, f), (size_t)*size);
	fclose(f);
	return bytes;
}

static void write_whole(const char *p, const unsigned char *bytes, long size)
{
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, (size_t)size, f), (size_t)size);
	assert_int_equal(fclose(f), 0);
}

/* One flipped bit in a float's bytes: Fletcher-32 catches it, the load fails
 * with AX_ERR_IO and the model keeps its values. A truncated file and a
 * missing one fail the same way. */
static void test_corruption_detected(void **state)
{
	const float marker = 12345.678f;
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	struct ax_params *b = make_params(base_specs, COUNT(base_specs));
	unsigned char *bytes, pattern[4];
	long size, found = -1;
	int matches = 0;
	char missing[128], temp[160];
	float *before;

	(void)state;
	fill(a, 1);
	fill(b, 2);
	((float *)ax_params_find(a, "fc2.weight")->data)[6] = marker;
	TU_OK(ax_weights_save(a, path, NULL, NULL));
	memcpy(pattern, &marker, 4); /* the file is little-endian, as is this machine */
	bytes = read_whole(path, &size);
	for (long k = 0; k + 4 <= size; k++) {
		if (memcmp(bytes + k, pattern, 4) == 0) {
			found = k;
			matches++;
		}
	}
	assert_int_equal(matches, 1);
	bytes[found + 1] ^= 0x10;
	write_whole(path, bytes, size);

	before = snapshot(b);
	EXPECT_ERROR(ax_weights_load(b, path, 0, NULL), AX_ERR_IO, "damaged", "'fc2.weight'");
	assert_unchanged(b, before);

	/* A file cut in half (what a killed non-atomic writer would leave). */
	bytes[found + 1] ^= 0x10;
	write_whole(path, bytes, size / 2);
	before = snapshot(b);
	assert_int_equal(ax_weights_load(b, path, 0, NULL), AX_ERR_IO);
	assert_unchanged(b, before);
	free(bytes);

	snprintf(missing, sizeof(missing), "%s/none.h5", dir);
	EXPECT_ERROR(ax_weights_load(b, missing, 0, NULL), AX_ERR_IO, "none.h5",
		     "No such file");
	snprintf(temp, sizeof(temp), "%s.tmp", missing);
	write_whole(temp, (const unsigned char *)"x", 1);
	EXPECT_ERROR(ax_weights_load(b, missing, 0, NULL), AX_ERR_IO, "interrupted save");
	unlink(temp);
	ax_params_destroy(a);
	ax_params_destroy(b);
}

/* A directory that does not exist: a clean error and nothing created. */
static void test_save_into_missing_directory(void **state)
{
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	char nowhere_dir[128], nowhere[160], temp[192];

	(void)state;
	snprintf(nowhere_dir, sizeof(nowhere_dir), "%s/no-such-dir", dir);
	snprintf(nowhere, sizeof(nowhere), "%s/model.h5", nowhere_dir);
	snprintf(temp, sizeof(temp), "%s.tmp", nowhere);
	EXPECT_ERROR(ax_weights_save(a, nowhere, NULL, NULL), AX_ERR_IO, "no-such-dir",
		     "does not exist");
	assert_false(exists(nowhere_dir));
	assert_false(exists(nowhere));
	assert_false(exists(temp));
	/* A directory as the target, invalid JSON meta, an unfinalized store. */
	EXPECT_ERROR(ax_weights_save(a, dir, NULL, NULL), AX_ERR_INVALID, "is a directory");
	EXPECT_ERROR(ax_weights_save(a, path, NULL, "{\"step\": "), AX_ERR_INVALID, "JSON");
	assert_false(exists(path));
	ax_params_destroy(a);
}

/* A save that fails after the target exists leaves the old file loadable. */
static void test_failed_save_keeps_old_file(void **state)
{
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	struct ax_params *b = make_params(base_specs, COUNT(base_specs));
	struct ax_params *got = make_params(base_specs, COUNT(base_specs));
	char temp[300];
	struct stat st;

	(void)state;
	fill(a, 1);
	fill(b, 2);
	TU_OK(ax_weights_save(a, path, NULL, NULL));
	snprintf(temp, sizeof(temp), "%s.tmp", path);
	assert_int_equal(mkdir(temp, 0755), 0);
	EXPECT_ERROR(ax_weights_save(b, path, NULL, NULL), AX_ERR_IO, "model.h5.tmp");
	assert_int_equal(stat(temp, &st), 0); /* not ours to remove */
	assert_true(S_ISDIR(st.st_mode));
	TU_OK(ax_weights_load(got, path, 0, NULL));
	assert_memory_equal(ax_params_data(got), ax_params_data(a),
			    (size_t)ax_params_size(a) * sizeof(float));
	assert_int_equal(rmdir(temp), 0);

	/* A stale temp file from a crashed save is simply replaced. */
	write_whole(temp, (const unsigned char *)"partial garbage", 15);
	TU_OK(ax_weights_save(b, path, NULL, NULL));
	assert_false(exists(temp));
	TU_OK(ax_weights_load(got, path, 0, NULL));
	assert_memory_equal(ax_params_data(got), ax_params_data(b),
			    (size_t)ax_params_size(b) * sizeof(float));
	ax_params_destroy(a);
	ax_params_destroy(b);
	ax_params_destroy(got);
}

/* A disk that fills up during the save: the old file survives, the temp is
 * gone, the message says why. Needs root to mount a 1 MiB tmpfs. */
static void test_disk_full(void **state)
{
	const struct spec big[] = {{"fc1.weight", 2, {5, 7}}, {"fc1.bias", 1, {5}},
				   {"fc2.weight", 2, {3, 5}}, {"fc2.bias", 1, {3}},
				   {"huge", 2, {600, 1000}}};
	struct ax_params *a = make_params(base_specs, COUNT(base_specs));
	struct ax_params *b = make_params(big, COUNT(big));
	struct ax_params *got = make_params(base_specs, COUNT(base_specs));
	char small[300], target[320], temp[330];

	(void)state;
	snprintf(small, sizeof(small), "%s/small", dir);
	assert_int_equal(mkdir(small, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", small, "tmpfs", 0, "size=1m") != 0) {
		print_message("SKIPPED the disk-full check: cannot mount a tmpfs here (%s)\n",
			      geteuid() != 0 ? "not root" : strerror(errno));
		goto done;
	}
	snprintf(target, sizeof(target), "%s/model.h5", small);
	snprintf(temp, sizeof(temp), "%s.tmp", target);
	fill(a, 1);
	fill(b, 2);
	TU_OK(ax_weights_save(a, target, NULL, NULL));
	EXPECT_ERROR(ax_weights_save(b, target, NULL, NULL), AX_ERR_IO, "model.h5",
		     "No space left on device");
	print_message("disk full reported as: %s\n", ax_last_error());
	assert_false(exists(temp));
	TU_OK(ax_weights_load(got, target, 0, NULL));
	assert_memory_equal(ax_params_data(got), ax_params_data(a),
			    (size_t)ax_params_size(a) * sizeof(float));
	assert_int_equal(umount(small), 0);
done:
	ax_params_destroy(a);
	ax_params_destroy(b);
	ax_params_destroy(got);
}

/* A writer killed at random moments: the file at `path` always opens and
 * holds one complete save (every element the same version number). */
static void test_killed_writer_leaves_complete_file(void **state)
{
	const struct spec specs[] = {{"a", 2, {300, 1000}}, {"b", 1, {1000}}, {"c", 2, {200, 500}}};
	struct ax_params *params = make_params(specs, COUNT(specs));

	(void)state;
	fill_constant(params, 0.0f);
	TU_OK(ax_weights_save(params, path, NULL, NULL));
	for (int round = 0; round < 6; round++) {
		struct timespec delay = {0, (long)(2 + 17 * round) * 1000000L};
		float version = -1;
		int status;
		pid_t child = fork();

		assert_true(child >= 0);
		if (child == 0) {
			for (int v = 1;; v++) {
				fill_constant(params, (float)(v + 1000 * round));
				if (ax_weights_save(params, path, NULL, NULL) != AX_OK)
					_exit(3);
			}
		}
		nanosleep(&delay, NULL);
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFSIGNALED(status));
		fill_constant(params, -1.0f);
		TU_OK(ax_weights_load(params, path, 0, NULL));
		for (int i = 0; i < ax_params_count(params); i++) {
			struct ax_tensor *t = ax_params_get(params, i);

			for (int64_t k = 0; k < ax_tensor_numel(t); k++) {
				if (version < 0)
					version = ((float *)t->data)[k];
				if (((float *)t->data)[k] != version)
					fail_msg("round %d: tensor %s mixes saves %g and %g", round,
						 t->name, version, ((float *)t->data)[k]);
			}
		}
		print_message("killed after %ld ms: the file holds save %g\n",
			      delay.tv_nsec / 1000000L, version);
	}
	ax_params_destroy(params);
}

/* Files written by other tools: no format attributes, float64 big-endian
 * data is converted; integer data and a foreign format are refused. */
static void test_foreign_files(void **state)
{
	const struct spec specs[] = {{"w", 2, {2, 3}}};
	const double values[6] = {1.5, -2.25, 3, 0.125, 1e-3, -7};
	struct ax_params *params = make_params(specs, 1);
	hsize_t dims[2] = {2, 3};
	hid_t file, space, dataset, type, attribute;
	float *w = ax_params_get(params, 0)->data;
	float *before;
	int future = 2;

	(void)state;
	file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	space = H5Screate_simple(2, dims, NULL);
	dataset = H5Dcreate2(file, "w", H5T_IEEE_F64BE, space, H5P_DEFAULT, H5P_DEFAULT,
			     H5P_DEFAULT);
	assert_true(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
	H5Dclose(dataset);
	H5Fclose(file);
	TU_OK(ax_weights_load(params, path, 0, NULL));
	for (int k = 0; k < 6; k++)
		assert_true(w[k] == (float)values[k]);

	/* Integers where floats belong. */
	file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	dataset = H5Dcreate2(file, "w", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT,
			     H5P_DEFAULT);
	H5Dclose(dataset);
	/* ... and a format attribute naming something else. */
	type = H5Tcopy(H5T_C_S1);
	H5Tset_size(type, 15);
	H5Sclose(space);
	space = H5Screate(H5S_SCALAR);
	attribute = H5Acreate2(file, "format", type, space, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Awrite(attribute, type, "axon-checkpoint") >= 0);
	H5Aclose(attribute);
	H5Tclose(type);
	H5Sclose(space);
	H5Fclose(file);
	before = snapshot(params);
	EXPECT_ERROR(ax_weights_load(params, path, 0, NULL), AX_ERR_INVALID, "axon-checkpoint");
	assert_unchanged(params, before);

	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(H5Adelete(file, "format") >= 0);
	H5Fclose(file);
	before = snapshot(params);
	EXPECT_ERROR(ax_weights_load(params, path, 0, NULL), AX_ERR_DTYPE, "'w'");
	assert_unchanged(params, before);

	/* A format_version from the future. */
	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	space = H5Screate(H5S_SCALAR);
	attribute = H5Acreate2(file, "format_version", H5T_STD_I32LE, space, H5P_DEFAULT,
			       H5P_DEFAULT);
	assert_true(H5Awrite(attribute, H5T_NATIVE_INT, &future) >= 0);
	H5Aclose(attribute);
	H5Sclose(space);
	H5Fclose(file);
	EXPECT_ERROR(ax_weights_load(params, path, 0, NULL), AX_ERR_UNSUPPORTED,
		     "format_version 2");
	ax_params_destroy(params);
}

/* Parameters on a GPU are copied to the host to save and back to load; the
 * file is the same as from the CPU. Skipped without a CUDA device. */
static void test_gpu_parameters(void **state)
{
	const struct ax_device gpu = {AX_DEVICE_CUDA, 0};
	const struct ax_device_ops *cuda = ax_device_ops_get(AX_DEVICE_CUDA);
	struct ax_params *host = make_params(round_trip_specs, COUNT(round_trip_specs));
	struct ax_params *back = make_params(round_trip_specs, COUNT(round_trip_specs));
	struct ax_params *a, *b;
	size_t bytes = (size_t)ax_params_size(host) * sizeof(float);
	float *copy;

	(void)state;
	if (!ax_cuda_available()) {
		print_message("SKIPPED the GPU round trip: no CUDA device in this build or "
			      "machine\n");
		goto done;
	}
	a = make_params_on(gpu, round_trip_specs, COUNT(round_trip_specs));
	b = make_params_on(gpu, round_trip_specs, COUNT(round_trip_specs));
	fill(host, 9);
	/* Same specs, same layout: the flat buffers copy as a whole. */
	TU_OK(cuda->copy(0, ax_params_data(a), ax_params_data(host), bytes, AX_COPY_H2D));
	TU_OK(ax_weights_save(a, path, NULL, NULL));
	TU_OK(ax_weights_load(b, path, 0, NULL));
	copy = malloc(bytes);
	assert_non_null(copy);
	TU_OK(cuda->copy(0, copy, ax_params_data(b), bytes, AX_COPY_D2H));
	for (int i = 0; i < ax_params_count(host); i++) {
		const struct ax_tensor *t = ax_params_get(host, i);

		assert_memory_equal(copy + ax_params_offset(host, i), t->data,
				    (size_t)ax_tensor_numel(t) * sizeof(float));
	}
	TU_OK(ax_weights_load(back, path, 0, NULL)); /* a GPU save loads on the CPU */
	for (int i = 0; i < COUNT(round_trip_specs); i++)
		assert_same_tensor(host, back, round_trip_specs[i].name);
	free(copy);
	ax_params_destroy(a);
	ax_params_destroy(b);
done:
	ax_params_destroy(host);
	ax_params_destroy(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_bit_for_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_by_h5py_and_h5ls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shape_missing_extra_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_into_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_save_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer_leaves_complete_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_foreign_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_parameters, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
