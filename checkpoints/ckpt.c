/* ckpt.c - the checkpoint format, its atomic commit, verification and load.
 *
 * A save builds state.h5 entirely in memory (HDF5's core driver, every call
 * checked), takes its CRC-32, and only then touches the disk: the image goes
 * to step-N.tmp/state.h5 through plain checked write() calls, MANIFEST.json
 * next to it, both fsynced, the directory fsynced; the files are read back
 * and verified (size, CRC, every tensor with its Fletcher-32 checksum); then
 * step-N.tmp is renamed to step-N and the parent directory fsynced. Building
 * in memory matters: with HDF5 1.10 writing to a full disk, H5Fclose fails
 * and the library keeps the file open (see weights.c), while a write() that
 * fails is just an error. Any failure removes step-N.tmp. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "axon/alloc.h"
#include "axon/ckpt.h"
#include "axon/version.h"
#include "ckpt_internal.h"
#include "h5_checked.h"

#define STATE_FILE "state.h5"
#define MANIFEST_FILE "MANIFEST.json"

/* ---- small file helpers ---- */

static enum ax_status io_error(const char *what, const char *path)
{
	return AX_ERROR(AX_ERR_IO, "checkpoint: %s %s failed: %s", what, path, strerror(errno));
}

static enum ax_status write_all(const char *path, const void *data, size_t bytes)
{
	const unsigned char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return io_error("creating", path);
	while (bytes > 0) {
		ssize_t n = write(fd, p, bytes > ((size_t)1 << 30) ? (size_t)1 << 30 : bytes);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			enum ax_status st = io_error("writing", path);

			close(fd);
			return st;
		}
		p += n;
		bytes -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		enum ax_status st = io_error("fsync of", path);

		close(fd);
		return st;
	}
	if (close(fd) != 0)
		return io_error("closing", path);
	return AX_OK;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* Some file systems cannot sync a directory; that is not a failed save. */
	if (rc != 0 && (errno == EINVAL || errno == ENOTSUP))
		rc = 0;
	close(fd);
	return rc;
}

void ax_ckpt_remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char child[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		ax_ckpt_remove_tree(child);
	}
	closedir(d);
	rmdir(path);
}

/* CRC-32 and size of a file, read in 8 MiB pieces. */
static enum ax_status file_crc(const char *path, uint32_t *crc, int64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf;
	uLong c = crc32(0L, Z_NULL, 0);
	ssize_t n;

	*bytes = 0;
	if (fd < 0)
		return io_error("opening", path);
	buf = ax_alloc((size_t)8 << 20);
	if (!buf) {
		close(fd);
		return AX_ERR_NOMEM;
	}
	while ((n = read(fd, buf, (size_t)8 << 20)) > 0) {
		c = crc32(c, buf, (uInt)n);
		*bytes += n;
	}
	ax_free(buf);
	close(fd);
	if (n < 0)
		return io_error("reading", path);
	*crc = (uint32_t)c;
	return AX_OK;
}

/* ---- the state JSON ---- */

static char *u64_text(uint64_t v, char *buf)
{
	snprintf(buf, 24, "%llu", (unsigned long long)v);
	return buf;
}

static char *meta_to_json(const struct ax_ckpt_meta *m)
{
	cJSON *o = cJSON_CreateObject(), *seeds = cJSON_CreateArray(), *counters = cJSON_CreateArray();
	char buf[32], *text;

	cJSON_AddNumberToObject(o, "step", (double)m->step);
	cJSON_AddNumberToObject(o, "epoch", (double)m->epoch);
	cJSON_AddStringToObject(o, "data_seed", u64_text(m->data_seed, buf));
	cJSON_AddNumberToObject(o, "data_epoch", (double)m->data_epoch);
	cJSON_AddNumberToObject(o, "data_position", (double)m->data_position);
	cJSON_AddNumberToObject(o, "optimizer_steps", (double)m->optimizer_steps);
	cJSON_AddBoolToObject(o, "have_best", m->have_best);
	snprintf(buf, sizeof(buf), "%.17g", m->best);
	cJSON_AddStringToObject(o, "best", buf);
	cJSON_AddNumberToObject(o, "best_step", (double)m->best_step);
	cJSON_AddNumberToObject(o, "bad_evals", (double)m->bad_evals);
	snprintf(buf, sizeof(buf), "%.17g", m->lr_scale);
	cJSON_AddStringToObject(o, "lr_scale", buf);
	cJSON_AddNumberToObject(o, "world", m->world);
	/* 64-bit values as strings: JSON numbers are doubles. */
	for (int r = 0; r < m->world && r < AX_CKPT_MAX_RANKS; r++) {
		cJSON_AddItemToArray(seeds, cJSON_CreateString(u64_text(m->rng_seed[r], buf)));
		cJSON_AddItemToArray(counters, cJSON_CreateString(u64_text(m->rng_counter[r], buf)));
	}
	cJSON_AddItemToObject(o, "rng_seed", seeds);
	cJSON_AddItemToObject(o, "rng_counter", counters);
	cJSON_AddStringToObject(o, "axon_version", ax_version());
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static int json_u64(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *end;

	if (!cJSON_IsString(v))
		return 0;
	errno = 0;
	*out = strtoull(v->valuestring, &end, 10);
	return !errno && *end == '\0';
}

static int json_i64(const cJSON *o, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		return 0;
	*out = (int64_t)v->valuedouble;
	return 1;
}

static int json_double_text(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v))
		return 0;
	*out = strtod(v->valuestring, NULL);
	return 1;
}

static enum ax_status meta_from_json(const char *text, const char *path, struct ax_ckpt_meta *m)
{
	cJSON *o = cJSON_Parse(text);
	const cJSON *seeds, *counters, *item;
	int64_t world = 0;
	int ok;

	memset(m, 0, sizeof(*m));
	ok = o && json_i64(o, "step", &m->step) && json_i64(o, "epoch", &m->epoch) &&
	     json_u64(o, "data_seed", &m->data_seed) && json_i64(o, "data_epoch", &m->data_epoch) &&
	     json_i64(o, "data_position", &m->data_position) &&
	     json_i64(o, "optimizer_steps", &m->optimizer_steps) &&
	     json_double_text(o, "best", &m->best) && json_i64(o, "best_step", &m->best_step) &&
	     json_i64(o, "bad_evals", &m->bad_evals) && json_double_text(o, "lr_scale", &m->lr_scale) &&
	     json_i64(o, "world", &world) && world >= 1 && world <= AX_CKPT_MAX_RANKS;
	if (ok) {
		m->have_best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "have_best"));
		m->world = (int)world;
		seeds = cJSON_GetObjectItemCaseSensitive(o, "rng_seed");
		counters = cJSON_GetObjectItemCaseSensitive(o, "rng_counter");
		ok = cJSON_GetArraySize(seeds) == m->world && cJSON_GetArraySize(counters) == m->world;
		for (int r = 0; ok && r < m->world; r++) {
			item = cJSON_GetArrayItem(seeds, r);
			ok = cJSON_IsString(item);
			if (ok)
				m->rng_seed[r] = strtoull(item->valuestring, NULL, 10);
			item = cJSON_GetArrayItem(counters, r);
			ok = ok && cJSON_IsString(item);
			if (ok)
				m->rng_counter[r] = strtoull(item->valuestring, NULL, 10);
		}
	}
	cJSON_Delete(o);
	if (!ok)
		return AX_ERROR(AX_ERR_INVALID, "checkpoint %s: its \"state\" attribute is missing a "
				"field or malformed; the checkpoint is damaged", path);
	return AX_OK;
}

/* ---- building state.h5 in memory ---- */

static int write_tensors(hid_t file, const struct ax_ckpt_tensors *t, struct ax_ckpt_failure *fail)
{
	int n = ax_params_count(t->params);
	char name[512];

	for (int i = 0; i < n; i++) {
		const struct ax_tensor *p = ax_params_get(t->params, i);
		int64_t off = ax_params_offset(t->params, i);

		snprintf(name, sizeof(name), "params/%s", p->name);
		if (ax_ckpt_write_f32(file, name, p->ndim, p->shape, t->param_data + off, fail) < 0)
			return -1;
		for (int b = 0; b < t->n_opt; b++) {
			snprintf(name, sizeof(name), "optimizer/%s/%s", t->opt_names[b], p->name);
			if (ax_ckpt_write_f32(file, name, p->ndim, p->shape, t->opt_data[b] + off, fail) < 0)
				return -1;
		}
	}
	return 0;
}

static int build_image(const struct ax_ckpt_meta *meta, const struct ax_ckpt_tensors *t,
		       const char *config, unsigned char **image, size_t *bytes,
		       struct ax_ckpt_failure *fail)
{
	hid_t fapl = -1, file = -1;
	char *state = meta_to_json(meta), opt_list[256] = "";
	ssize_t size;
	int rc = -1;

	for (int b = 0; b < t->n_opt; b++)
		snprintf(opt_list + strlen(opt_list), sizeof(opt_list) - strlen(opt_list), "%s%s",
			 b ? "," : "", t->opt_names[b]);
	*image = NULL;
	if (!state) {
		ax_ckpt_capture_text(fail, "out of memory");
		goto done;
	}
	AX_CKPT_CHECK(fapl = H5Pcreate(H5P_FILE_ACCESS));
	AX_CKPT_CHECK(H5Pset_fapl_core(fapl, (size_t)16 << 20, 0));
	AX_CKPT_CHECK(file = H5Fcreate("axon-checkpoint", H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "format", "axon-checkpoint", fail));
	AX_CKPT_CHECK(ax_ckpt_write_int_attribute(file, "format_version", AX_CKPT_FORMAT_VERSION, fail));
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "state", state, fail));
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "optimizer_buffers", opt_list, fail));
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "config", config ? config : "", fail));
	AX_CKPT_CHECK(write_tensors(file, t, fail));
	AX_CKPT_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL));
	AX_CKPT_CHECK(size = H5Fget_file_image(file, NULL, 0));
	*image = ax_alloc((size_t)size);
	if (!*image) {
		ax_ckpt_capture_text(fail, "out of memory for the file image");
		goto done;
	}
	AX_CKPT_CHECK(H5Fget_file_image(file, *image, (size_t)size));
	*bytes = (size_t)size;
	rc = 0;
done:
	if (file >= 0 && H5Fclose(file) < 0 && rc == 0) {
		ax_ckpt_capture(fail);
		rc = -1;
	}
	if (fapl >= 0)
		H5Pclose(fapl);
	if (rc) {
		ax_free(*image);
		*image = NULL;
	}
	cJSON_free(state);
	return rc;
}

static enum ax_status write_manifest(const char *dir, int64_t step, int64_t bytes, uint32_t crc)
{
	char path[4400], text[512];
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, MANIFEST_FILE);
	n = snprintf(text, sizeof(text),
		     "{\"format\": \"axon-checkpoint\", \"format_version\": %d, \"step\": %lld, "
		     "\"files\": {\"%s\": {\"bytes\": %lld, \"crc32\": \"%08x\"}}}\n",
		     AX_CKPT_FORMAT_VERSION, (long long)step, STATE_FILE, (long long)bytes, crc);
	return write_all(path, text, (size_t)n);
}

/* The optimizer buffers' count and names: each name becomes a group in
 * state.h5 and an entry of the comma-separated "optimizer_buffers". */
static enum ax_status check_opt_buffers(const struct ax_ckpt_tensors *t, int saving)
{
	if (t->n_opt < 0 || t->n_opt > AX_CKPT_MAX_OPT_BUFFERS)
		return AX_ERROR(AX_ERR_INVALID, "checkpoint: %d optimizer buffers (at most %d)",
				t->n_opt, AX_CKPT_MAX_OPT_BUFFERS);
	for (int b = 0; b < t->n_opt; b++) {
		const char *name = t->opt_names[b];

		if (!name || !name[0] || strlen(name) >= 64 || strpbrk(name, "/,"))
			return AX_ERROR(AX_ERR_INVALID, "checkpoint: optimizer buffer %d has no usable "
					"name ('%s': 1 to 63 characters, no '/' or ',')", b,
					name ? name : "(null)");
		if (!t->opt_data[b])
			return AX_ERROR(AX_ERR_INVALID, "checkpoint: optimizer buffer '%s' has no data",
					name);
	}
	if (saving && !t->param_data)
		return AX_ERROR(AX_ERR_INVALID, "ax_ckpt_save: no parameter data");
	return AX_OK;
}

enum ax_status ax_ckpt_save(const char *dir, const struct ax_ckpt_meta *meta,
			    const struct ax_ckpt_tensors *tensors, const char *config_text,
			    char *committed, size_t committed_len)
{
	struct ax_ckpt_failure failure = {0}, *fail = &failure;
	struct ax_ckpt_h5_quiet quiet;
	char tmp[4200], final[4096], state[4400], why[AX_CKPT_REASON_BYTES + 64];
	unsigned char *image = NULL;
	size_t bytes = 0;
	enum ax_status st;

	if (!dir || !meta || !tensors || !tensors->params)
		return AX_ERROR(AX_ERR_INVALID, "ax_ckpt_save: missing argument");
	/* A world outside 1..AX_CKPT_MAX_RANKS would save a state that no load
	 * accepts (meta_from_json refuses it). */
	if (meta->world < 1 || meta->world > AX_CKPT_MAX_RANKS)
		return AX_ERROR(AX_ERR_INVALID, "ax_ckpt_save: meta->world is %d, not 1 to %d",
				meta->world, AX_CKPT_MAX_RANKS);
	st = check_opt_buffers(tensors, 1);
	if (st)
		return st;
	if (strlen(dir) > 3000)
		return AX_ERROR(AX_ERR_INVALID, "checkpoint: directory name too long: %.80s...", dir);
	snprintf(final, sizeof(final), "%s/step-%010lld", dir, (long long)meta->step);
	snprintf(tmp, sizeof(tmp), "%s.tmp", final);
	snprintf(state, sizeof(state), "%s/%s", tmp, STATE_FILE);
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return io_error("creating the checkpoint directory", dir);
	ax_ckpt_remove_tree(tmp); /* a leftover of an interrupted save of the same step */
	if (mkdir(tmp, 0777) != 0)
		return io_error("creating", tmp);

	ax_ckpt_h5_quiet_begin(&quiet);
	if (build_image(meta, tensors, config_text, &image, &bytes, fail) < 0) {
		ax_ckpt_h5_quiet_end(&quiet);
		ax_ckpt_remove_tree(tmp);
		return AX_ERROR(AX_ERR_IO, "checkpoint: building step %lld failed: %s",
				(long long)meta->step, ax_ckpt_describe(fail, why, sizeof(why)));
	}
	ax_ckpt_h5_quiet_end(&quiet);
	st = write_all(state, image, bytes);
	if (!st) {
		/* CRC-32 of the whole image (crc32 takes at most 4 GiB a call). */
		uLong c = crc32(0L, Z_NULL, 0);

		for (size_t off = 0; off < bytes; off += (size_t)1 << 30)
			c = crc32(c, image + off,
				  (uInt)(bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30));
		st = write_manifest(tmp, meta->step, (int64_t)bytes, (uint32_t)c);
	}
	ax_free(image);
	if (!st && sync_dir(tmp) != 0)
		st = io_error("fsync of", tmp);
	if (!st)
		st = ax_ckpt_verify(tmp, NULL);
	if (!st) {
		ax_ckpt_remove_tree(final); /* the same step saved again (a resumed run) */
		if (rename(tmp, final) != 0)
			st = io_error("committing (rename) of", tmp);
		else if (sync_dir(dir) != 0)
			st = io_error("fsync of", dir);
	}
	if (st) {
		ax_ckpt_remove_tree(tmp);
		return st;
	}
	if (committed)
		snprintf(committed, committed_len, "%s", final);
	return AX_OK;
}

/* ---- verification ---- */

static enum ax_status read_manifest(const char *path, int64_t *bytes, uint32_t *crc)
{
	char file[4096], buf[2048];
	FILE *f;
	size_t n;
	cJSON *o, *entry;
	const cJSON *b, *c;
	enum ax_status st = AX_OK;

	snprintf(file, sizeof(file), "%s/%s", path, MANIFEST_FILE);
	f = fopen(file, "rb");
	if (!f) {
		struct stat sb;
		int missing = stat(path, &sb) != 0;

		/* A mistyped --resume PATH: say so rather than blame a save. */
		if (missing || !S_ISDIR(sb.st_mode))
			return AX_ERROR(AX_ERR_IO, "checkpoint %s: %s", path,
					missing ? strerror(errno) : "not a directory");
		return AX_ERROR(AX_ERR_IO, "checkpoint %s has no %s (an interrupted save?)", path,
				MANIFEST_FILE);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	o = cJSON_Parse(buf);
	entry = o ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "files"),
						     STATE_FILE)
		  : NULL;
	b = cJSON_GetObjectItemCaseSensitive(entry, "bytes");
	c = cJSON_GetObjectItemCaseSensitive(entry, "crc32");
	if (!cJSON_IsNumber(b) || !cJSON_IsString(c))
		st = AX_ERROR(AX_ERR_INVALID, "checkpoint %s: %s is damaged", path, MANIFEST_FILE);
	else {
		*bytes = (int64_t)b->valuedouble;
		*crc = (uint32_t)strtoul(c->valuestring, NULL, 16);
	}
	cJSON_Delete(o);
	return st;
}

struct visit {
	const char *path;
	float *scratch;
	size_t scratch_floats;
	int64_t datasets, floats;
	FILE *report;
	enum ax_status st;
};

static herr_t read_each(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
	struct visit *v = data;
	hid_t dset, space;
	hssize_t n;
	herr_t rc;

	if (info->type != H5O_TYPE_DATASET)
		return 0;
	dset = H5Dopen2(root, name, H5P_DEFAULT);
	space = dset >= 0 ? H5Dget_space(dset) : -1;
	n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
	if (space >= 0)
		H5Sclose(space);
	if (n >= 0 && (size_t)n > v->scratch_floats) {
		float *bigger = ax_alloc((size_t)n * sizeof(float));

		if (!bigger) {
			H5Dclose(dset);
			v->st = AX_ERR_NOMEM;
			return -1;
		}
		ax_free(v->scratch);
		v->scratch = bigger;
		v->scratch_floats = (size_t)n;
	}
	rc = n < 0 ? -1 : n == 0 ? 0 : H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
					       v->scratch);
	if (dset >= 0)
		H5Dclose(dset);
	if (rc < 0) {
		v->st = AX_ERROR(AX_ERR_IO, "checkpoint %s: tensor '%s' does not read back (checksum "
				 "mismatch or damaged file)", v->path, name);
		return -1;
	}
	v->datasets++;
	v->floats += n;
	return 0;
}

enum ax_status ax_ckpt_verify(const char *path, FILE *report)
{
	struct ax_ckpt_failure failure = {0};
	struct ax_ckpt_h5_quiet quiet;
	struct visit v = {path, NULL, 0, 0, 0, report, AX_OK};
	char state[4200], why[AX_CKPT_REASON_BYTES + 64], *format = NULL;
	int64_t want_bytes = 0, bytes = 0;
	uint32_t want_crc = 0, crc = 0;
	hid_t file;
	enum ax_status st;

	st = read_manifest(path, &want_bytes, &want_crc);
	snprintf(state, sizeof(state), "%s/%s", path, STATE_FILE);
	if (!st)
		st = file_crc(state, &crc, &bytes);
	if (!st && bytes != want_bytes)
		st = AX_ERROR(AX_ERR_IO, "checkpoint %s: %s has %lld bytes, the manifest says %lld "
			      "(truncated?)", path, STATE_FILE, (long long)bytes, (long long)want_bytes);
	if (!st && crc != want_crc)
		st = AX_ERROR(AX_ERR_IO, "checkpoint %s: %s is damaged (CRC-32 %08x, the manifest says "
			      "%08x)", path, STATE_FILE, crc, want_crc);
	if (st) {
		if (report)
			fprintf(report, "FAIL %s\n", ax_last_error());
		return st;
	}
	if (report)
		fprintf(report, "ok   %s: %lld bytes, CRC-32 %08x matches\n", STATE_FILE,
			(long long)bytes, crc);
	ax_ckpt_h5_quiet_begin(&quiet);
	file = ax_ckpt_open_read_only(state, &failure);
	if (file < 0) {
		ax_ckpt_h5_quiet_end(&quiet);
		st = AX_ERROR(AX_ERR_IO, "checkpoint %s: cannot open %s: %s", path, STATE_FILE,
			      ax_ckpt_describe(&failure, why, sizeof(why)));
		if (report)
			fprintf(report, "FAIL %s\n", ax_last_error());
		return st;
	}
	if (ax_ckpt_read_string_attribute(file, "format", &format, &failure) < 0 || !format ||
	    strcmp(format, "axon-checkpoint") != 0)
		st = AX_ERROR(AX_ERR_INVALID, "checkpoint %s: not an axon checkpoint", path);
	if (!st && H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, read_each, &v) < 0 && !v.st)
		v.st = AX_ERROR(AX_ERR_IO, "checkpoint %s: walking %s failed", path, STATE_FILE);
	if (!st)
		st = v.st;
	H5Fclose(file);
	ax_ckpt_h5_quiet_end(&quiet);
	ax_free(format);
	ax_free(v.scratch);
	if (report) {
		if (st)
			fprintf(report, "FAIL %s\n", ax_last_error());
		else
			fprintf(report, "ok   %lld tensors, %lld values, every checksum matches\n",
				(long long)v.datasets, (long long)v.floats);
	}
	return st;
}

/* ---- loading ---- */

enum ax_status ax_ckpt_load(const char *path, struct ax_ckpt_meta *meta,
			    const struct ax_ckpt_tensors *into, char **config_out)
{
	struct ax_ckpt_failure failure = {0};
	struct ax_ckpt_h5_quiet quiet;
	const struct ax_params *params = into->params;
	int64_t size = ax_params_size(params);
	float *scratch = NULL;
	char state_path[4200], name[512], why[AX_CKPT_REASON_BYTES + 64], *state = NULL, *config = NULL;
	hid_t file = -1;
	enum ax_status st = check_opt_buffers(into, 0);

	if (!st)
		st = ax_ckpt_verify(path, NULL);
	if (st)
		return st;
	scratch = ax_calloc((size_t)size * (size_t)(1 + into->n_opt), sizeof(float));
	if (!scratch)
		return AX_ERR_NOMEM;
	snprintf(state_path, sizeof(state_path), "%s/%s", path, STATE_FILE);
	ax_ckpt_h5_quiet_begin(&quiet);
	file = ax_ckpt_open_read_only(state_path, &failure);
	if (file < 0 || ax_ckpt_read_string_attribute(file, "state", &state, &failure) < 0 || !state ||
	    ax_ckpt_read_string_attribute(file, "config", &config, &failure) < 0) {
		st = AX_ERROR(AX_ERR_IO, "checkpoint %s: cannot read its state: %s", path,
			      ax_ckpt_describe(&failure, why, sizeof(why)));
		goto done;
	}
	st = meta_from_json(state, path, meta);
	for (int i = 0; !st && i < ax_params_count(params); i++) {
		const struct ax_tensor *p = ax_params_get(params, i);
		int64_t off = ax_params_offset(params, i), shape[AX_MAX_DIMS];
		int ndim;

		for (int b = -1; !st && b < into->n_opt; b++) {
			enum ax_ckpt_read r;
			float *dst = scratch + (size_t)(b + 1) * (size_t)size + off;

			if (b < 0)
				snprintf(name, sizeof(name), "params/%s", p->name);
			else
				snprintf(name, sizeof(name), "optimizer/%s/%s", into->opt_names[b], p->name);
			r = ax_ckpt_read_f32(file, name, p->ndim, p->shape, &ndim, shape, dst, &failure);
			if (r == AX_CKPT_READ_SHAPE) {
				char a[96], c[96];

				st = AX_ERROR(AX_ERR_SHAPE, "checkpoint %s: '%s' has shape %s, the model "
					      "needs %s (a different model?)", path, name,
					      ax_shape_str(ndim, shape, a, sizeof(a)),
					      ax_shape_str(p->ndim, p->shape, c, sizeof(c)));
			} else if (r != AX_CKPT_READ_OK) {
				st = AX_ERROR(AX_ERR_INVALID, "checkpoint %s: cannot read '%s': %s (a "
					      "different model or optimizer?)", path, name,
					      ax_ckpt_describe(&failure, why, sizeof(why)));
			}
		}
	}
	if (!st) {
		/* Everything read: only now overwrite the live state. */
		memcpy((float *)(into->param_data ? into->param_data : ax_params_data(params)), scratch,
		       (size_t)size * sizeof(float));
		for (int b = 0; b < into->n_opt; b++)
			memcpy((float *)into->opt_data[b], scratch + (size_t)(b + 1) * (size_t)size,
			       (size_t)size * sizeof(float));
		if (config_out) {
			*config_out = config;
			config = NULL;
		}
	}
done:
	if (file >= 0)
		H5Fclose(file);
	ax_ckpt_h5_quiet_end(&quiet);
	ax_free(scratch);
	ax_free(state);
	ax_free(config);
	return st;
}

static herr_t print_each(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
	FILE *out = data;
	hid_t dset, space;
	hsize_t dims[16];
	int nd;

	if (info->type != H5O_TYPE_DATASET)
		return 0;
	dset = H5Dopen2(root, name, H5P_DEFAULT);
	space = dset >= 0 ? H5Dget_space(dset) : -1;
	nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
	if (nd >= 0 && nd <= 16)
		H5Sget_simple_extent_dims(space, dims, NULL);
	fprintf(out, "  %-40s [", name);
	for (int d = 0; d < nd && d < 16; d++)
		fprintf(out, d ? ", %llu" : "%llu", (unsigned long long)dims[d]);
	fprintf(out, "]\n");
	if (space >= 0)
		H5Sclose(space);
	if (dset >= 0)
		H5Dclose(dset);
	return 0;
}

enum ax_status ax_ckpt_inspect(const char *path, FILE *out)
{
	struct ax_ckpt_failure failure = {0};
	struct ax_ckpt_h5_quiet quiet;
	struct ax_ckpt_meta meta;
	char state_path[4200], why[AX_CKPT_REASON_BYTES + 64], *state = NULL, *config = NULL;
	int64_t bytes;
	uint32_t crc;
	hid_t file;
	enum ax_status st = read_manifest(path, &bytes, &crc);

	if (st)
		return st;
	snprintf(state_path, sizeof(state_path), "%s/%s", path, STATE_FILE);
	ax_ckpt_h5_quiet_begin(&quiet);
	file = ax_ckpt_open_read_only(state_path, &failure);
	if (file < 0 || ax_ckpt_read_string_attribute(file, "state", &state, &failure) < 0 || !state) {
		if (file >= 0)
			H5Fclose(file);
		ax_ckpt_h5_quiet_end(&quiet);
		return AX_ERROR(AX_ERR_IO, "checkpoint %s: cannot read it: %s", path,
				ax_ckpt_describe(&failure, why, sizeof(why)));
	}
	ax_ckpt_read_string_attribute(file, "config", &config, &failure);
	st = meta_from_json(state, path, &meta);
	if (!st) {
		fprintf(out, "checkpoint %s\n", path);
		fprintf(out, "  %s: %lld bytes, CRC-32 %08x (manifest)\n", STATE_FILE, (long long)bytes,
			crc);
		fprintf(out, "  step %lld, epoch %lld, optimizer steps %lld, saved by %d rank(s)\n",
			(long long)meta.step, (long long)meta.epoch, (long long)meta.optimizer_steps,
			meta.world);
		fprintf(out, "  data cursor: seed %llu, epoch %lld, position %lld\n",
			(unsigned long long)meta.data_seed, (long long)meta.data_epoch,
			(long long)meta.data_position);
		if (meta.have_best)
			fprintf(out, "  best metric %.6g at step %lld (%lld evaluations since)\n",
				meta.best, (long long)meta.best_step, (long long)meta.bad_evals);
		fprintf(out, "  learning-rate scale %.6g, config %zu bytes\n", meta.lr_scale,
			config ? strlen(config) : 0);
		fprintf(out, "  tensors:\n");
		H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, print_each, out);
	}
	H5Fclose(file);
	ax_ckpt_h5_quiet_end(&quiet);
	ax_free(state);
	ax_free(config);
	return st;
}
