/* weights.c - save and load the model weights file (see axon/weights.h).
 *
 * HDF5 makes a file that every Python tool reads, but as a container it
 * has sharp edges (PLATFORM-NOTES): a writer killed before H5Fclose leaves
 * a file that does not open, a flipped data byte reads back silently wrong
 * unless the dataset carries a checksum, and on a full disk H5Dwrite fails
 * while the closes report success. So a save builds the file in memory
 * (HDF5's core driver: HDF5 never meets a disk error, which in 1.10.8 can
 * leave a file stuck open inside the library), with Fletcher-32 on every
 * chunk and the return of every HDF5 call checked; writes the image to
 * "<path>.tmp" with plain checked write() calls and fsync; reopens that
 * file and compares every tensor byte for byte with memory; and only then
 * renames it over the old file and fsyncs the directory.
 * A load reads every tensor into one scratch buffer and copies into the
 * parameters only at the end, so no error leaves a model half-loaded.
 *
 * HDF5's own error printing is off while we work; the first failure's
 * cause (h5_checked.c) goes into our message next to the file and tensor
 * names instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "axon/alloc.h"
#include "axon/device.h"
#include "axon/version.h"
#include "axon/weights.h"
#include "h5_checked.h"

#define PATH_BYTES 4096
#define NAMES_IN_MESSAGE 4

/* ---- small helpers ---- */

/* The directory part of path ("." when it has none). */
static void directory_of(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, PATH_BYTES, ".");
	else if (slash == path)
		snprintf(out, PATH_BYTES, "/");
	else
		snprintf(out, PATH_BYTES, "%.*s", (int)(slash - path), path);
}

static int64_t numel_of(int ndim, const int64_t *shape)
{
	int64_t n = 1;

	for (int d = 0; d < ndim; d++)
		n *= shape[d];
	return n;
}

/* "first, second, third, fourth and 3 more" from names[i] where pick[i]. */
static void list_names(char *out, size_t len, const char *const *names, const int *pick,
		       int count)
{
	int shown = 0, total = 0;
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		if (!pick[i])
			continue;
		total++;
		if (shown < NAMES_IN_MESSAGE && used < len) {
			used += (size_t)snprintf(out + used, len - used, "%s'%s'",
						 shown ? ", " : "", names[i]);
			shown++;
		}
	}
	if (total > shown && used < len)
		snprintf(out + used, len - used, " and %d more", total - shown);
}

/* The format attributes, when present, must say this is a weights file we
 * can read. */
static enum ax_status check_format(hid_t file, const char *path, struct ax_ckpt_failure *fail)
{
	char *format = NULL;
	long long version = 0;
	int present = 0;
	char detail[AX_CKPT_REASON_BYTES + 64];
	enum ax_status st = AX_OK;

	if (ax_ckpt_read_string_attribute(file, "format", &format, fail) < 0 ||
	    ax_ckpt_read_int_attribute(file, "format_version", &version, &present, fail) < 0) {
		st = AX_ERROR(AX_ERR_IO, "weights: cannot read the format attributes of %s: %s; "
			      "the file may be damaged", path,
			      ax_ckpt_describe(fail, detail, sizeof(detail)));
	} else if (format && strcmp(format, AX_WEIGHTS_FORMAT) != 0) {
		st = AX_ERROR(AX_ERR_INVALID, "weights: %s is an '%s' file, not '%s'; give the "
			      "path of a model weights file (model.h5 or best.h5)", path, format,
			      AX_WEIGHTS_FORMAT);
	} else if (present && (version < 1 || version > AX_WEIGHTS_FORMAT_VERSION)) {
		st = AX_ERROR(AX_ERR_UNSUPPORTED, "weights: %s has format_version %lld; this axon "
			      "(%s) reads version %d; use a newer axon", path, version,
			      ax_version(), AX_WEIGHTS_FORMAT_VERSION);
	}
	ax_free(format);
	return st;
}

/* ---- saving ---- */

struct save_job {
	const struct ax_params *params;
	const float *host;        /* the flat values in host memory */
	const char *path;
	char temp_path[PATH_BYTES];
	const char *config;
	const char *meta;
	const char *step;         /* what was being done when it failed */
	const char *tensor;       /* the tensor it was done to, or NULL */
	int out_of_memory;        /* the failure was an allocation */
	struct ax_ckpt_failure fail;
};

#define SAVE_STEP(job, what, name) ((job)->step = (what), (job)->tensor = (name))

/* Build the whole file in memory (HDF5's core driver, no backing store)
 * and copy its image into *image. HDF5 itself never touches the disk, so a
 * full disk cannot fail inside H5Fclose: HDF5 1.10.8 then keeps the file
 * open with a broken metadata cache (leaking its descriptor and the space
 * of the deleted temp file) and crashes at exit. */
static int build_image(struct save_job *job, size_t increment, unsigned char **image,
		       size_t *image_bytes)
{
	struct ax_ckpt_failure *fail = &job->fail;
	hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
	ssize_t bytes;
	herr_t result;

	SAVE_STEP(job, "creating the file in memory", NULL);
	AX_CKPT_CHECK(fapl = H5Pcreate(H5P_FILE_ACCESS));
	AX_CKPT_CHECK(H5Pset_fapl_core(fapl, increment, 0));
	/* "Semi": H5Fclose fails while anything is open, rather than leaving
	 * the file open behind a success. */
	AX_CKPT_CHECK(H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI));
	AX_CKPT_CHECK(file = H5Fcreate(job->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
	for (int i = 0; i < ax_params_count(job->params); i++) {
		const struct ax_tensor *t = ax_params_get(job->params, i);

		SAVE_STEP(job, "writing", t->name);
		AX_CKPT_CHECK(ax_ckpt_write_f32(file, t->name, t->ndim, t->shape,
						job->host + ax_params_offset(job->params, i), fail));
	}
	SAVE_STEP(job, "writing the attributes", NULL);
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "format", AX_WEIGHTS_FORMAT, fail));
	AX_CKPT_CHECK(ax_ckpt_write_int_attribute(file, "format_version",
						  AX_WEIGHTS_FORMAT_VERSION, fail));
	AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "axon_version", ax_version(), fail));
	if (job->config)
		AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "config", job->config, fail));
	if (job->meta)
		AX_CKPT_CHECK(ax_ckpt_write_string_attribute(file, "meta", job->meta, fail));
	SAVE_STEP(job, "taking the file image", NULL);
	AX_CKPT_CHECK(H5Fflush(file, H5F_SCOPE_LOCAL));
	AX_CKPT_CHECK(bytes = H5Fget_file_image(file, NULL, 0));
	*image = ax_alloc((size_t)bytes);
	if (!*image) {
		job->out_of_memory = 1;
		ax_ckpt_capture_text(fail, "out of memory for the file image");
		goto done;
	}
	*image_bytes = (size_t)bytes;
	AX_CKPT_CHECK(H5Fget_file_image(file, *image, (size_t)bytes));
	result = H5Fclose(file);
	file = H5I_INVALID_HID;
	AX_CKPT_CHECK(result);
done:
	if (file >= 0)
		H5Fclose(file);
	if (fapl >= 0)
		H5Pclose(fapl);
	return fail->captured ? -1 : 0;
}

/* Write the image to the temp file with plain checked calls and fsync it. */
static int write_image(struct save_job *job, const unsigned char *image, size_t bytes)
{
	struct ax_ckpt_failure *fail = &job->fail;
	size_t written = 0;
	int fd;

	SAVE_STEP(job, "creating the file", NULL);
	errno = 0;
	fd = open(job->temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		ax_ckpt_capture_errno(fail);
		return -1;
	}
	SAVE_STEP(job, "writing the file", NULL);
	while (written < bytes) {
		ssize_t n = write(fd, image + written, bytes - written);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC; /* a write that makes no progress */
			goto fail_open;
		}
		written += (size_t)n;
	}
	SAVE_STEP(job, "syncing the file to disk", NULL);
	if (fsync(fd) < 0)
		goto fail_open;
	SAVE_STEP(job, "closing the file", NULL);
	if (close(fd) < 0) {
		ax_ckpt_capture_errno(fail);
		return -1;
	}
	return 0;
fail_open:
	ax_ckpt_capture_errno(fail);
	close(fd);
	return -1;
}

/* Open the finished temp file as a reader would and compare every tensor
 * with memory, byte for byte (this also runs every chunk's checksum). */
static int verify_temp(struct save_job *job, float *scratch)
{
	struct ax_ckpt_failure *fail = &job->fail;
	hid_t file;
	char *format = NULL, *config = NULL, *meta = NULL;
	int ndim;
	int64_t shape[AX_MAX_DIMS];
	herr_t result;

	SAVE_STEP(job, "verifying (opening the file again)", NULL);
	file = ax_ckpt_open_read_only(job->temp_path, fail);
	if (file < 0)
		return -1;
	SAVE_STEP(job, "verifying the attributes", NULL);
	AX_CKPT_CHECK(ax_ckpt_read_string_attribute(file, "format", &format, fail));
	AX_CKPT_CHECK(ax_ckpt_read_string_attribute(file, "config", &config, fail));
	AX_CKPT_CHECK(ax_ckpt_read_string_attribute(file, "meta", &meta, fail));
	if (!format || strcmp(format, AX_WEIGHTS_FORMAT) != 0 ||
	    (job->config && (!config || strcmp(config, job->config) != 0)) ||
	    (job->meta && (!meta || strcmp(meta, job->meta) != 0))) {
		ax_ckpt_capture_text(fail, "the attributes read back differ from those written");
		goto done;
	}
	for (int i = 0; i < ax_params_count(job->params); i++) {
		const struct ax_tensor *t = ax_params_get(job->params, i);
		int64_t numel = numel_of(t->ndim, t->shape);

		SAVE_STEP(job, "verifying", t->name);
		if (ax_ckpt_read_f32(file, t->name, t->ndim, t->shape, &ndim, shape, scratch,
				     fail) != AX_CKPT_READ_OK) {
			ax_ckpt_capture_text(fail, "the tensor read back has another shape "
					     "or type");
			goto done;
		}
		if (numel > 0 && memcmp(scratch, job->host + ax_params_offset(job->params, i),
					(size_t)numel * sizeof(float)) != 0) {
			ax_ckpt_capture_text(fail, "the values read back differ from those "
					     "written");
			goto done;
		}
	}
	SAVE_STEP(job, "verifying (closing the file)", NULL);
	result = H5Fclose(file);
	file = H5I_INVALID_HID;
	AX_CKPT_CHECK(result);
done:
	if (file >= 0)
		H5Fclose(file);
	ax_free(format);
	ax_free(config);
	ax_free(meta);
	return fail->captured ? -1 : 0;
}

/* Remove the temp file if one is there (a regular file only: check_save
 * refused to start when anything else was at that name). */
static void remove_temp(const char *temp_path)
{
	struct stat st;

	if (lstat(temp_path, &st) == 0 && S_ISREG(st.st_mode))
		unlink(temp_path);
}

/* Arguments and paths, before anything is written. */
static enum ax_status check_save(const struct ax_params *params, const char *path,
				 const char *meta_json, char *temp_path, char *directory)
{
	struct stat st;
	cJSON *meta;

	if (!params || !path || !path[0])
		return AX_ERROR(AX_ERR_INVALID, "ax_weights_save: params or path is NULL or empty");
	if (!ax_params_data(params))
		return AX_ERROR(AX_ERR_STATE, "ax_weights_save: the parameters are not finalized; "
				"call ax_params_finalize first");
	if (strlen(path) + sizeof(".tmp") > PATH_BYTES)
		return AX_ERROR(AX_ERR_INVALID, "weights: path '%s' is longer than %d bytes; choose "
				"a shorter one", path, PATH_BYTES - 5);
	snprintf(temp_path, PATH_BYTES, "%s.tmp", path);
	directory_of(path, directory);
	if (meta_json) {
		meta = cJSON_Parse(meta_json);
		if (!meta)
			return AX_ERROR(AX_ERR_INVALID, "weights: the metadata for %s is not valid "
					"JSON (near '%.40s'); pass a JSON object such as "
					"{\"step\": 100}", path, cJSON_GetErrorPtr() ?
					cJSON_GetErrorPtr() : "");
		cJSON_Delete(meta);
	}
	errno = 0;
	if (stat(directory, &st) != 0 || !S_ISDIR(st.st_mode))
		return AX_ERROR(AX_ERR_IO, "weights: cannot save %s: directory '%s' does not exist "
				"(%s); create it first", path, directory,
				errno ? strerror(errno) : "not a directory");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return AX_ERROR(AX_ERR_INVALID, "weights: cannot save to %s: it is a directory; "
				"give a file name such as %s/model.h5", path, path);
	if (lstat(temp_path, &st) == 0 && !S_ISREG(st.st_mode))
		return AX_ERROR(AX_ERR_IO, "weights: cannot save %s: the temporary name %s is "
				"taken by something that is not a regular file; remove it", path,
				temp_path);
	return AX_OK;
}

enum ax_status ax_weights_save(const struct ax_params *params, const char *path,
			       const char *config_text, const char *meta_json)
{
	struct save_job job = {0};
	struct ax_ckpt_h5_quiet quiet;
	char directory[PATH_BYTES], detail[AX_CKPT_REASON_BYTES + 64];
	float *host_copy = NULL, *scratch = NULL;
	unsigned char *image = NULL;
	size_t image_bytes = 0, increment = (size_t)1 << 20;
	int64_t largest = 1;
	enum ax_status st;

	st = check_save(params, path, meta_json, job.temp_path, directory);
	if (st)
		return st;
	job.params = params;
	job.path = path;
	job.config = config_text;
	job.meta = meta_json;
	for (int i = 0; i < ax_params_count(params); i++) {
		const struct ax_tensor *t = ax_params_get(params, i);
		int64_t numel = numel_of(t->ndim, t->shape);

		largest = numel > largest ? numel : largest;
		/* Grow the in-memory file once: data plus room for its metadata. */
		increment += (size_t)numel * sizeof(float) + 4096;
	}
	scratch = ax_alloc((size_t)largest * sizeof(float));
	if (!scratch)
		return AX_ERR_NOMEM;
	if (ax_params_device(params).kind == AX_DEVICE_CPU) {
		job.host = ax_params_data(params);
	} else {
		struct ax_device device = ax_params_device(params);
		size_t bytes = (size_t)ax_params_size(params) * sizeof(float);

		host_copy = ax_alloc(bytes ? bytes : 1);
		if (!host_copy) {
			st = AX_ERR_NOMEM;
			goto done;
		}
		st = ax_device_ops_get(device.kind)->copy(device.index, host_copy,
							  ax_params_data(params), bytes,
							  AX_COPY_D2H);
		if (st)
			goto done;
		job.host = host_copy;
	}

	ax_ckpt_h5_quiet_begin(&quiet);
	if (build_image(&job, increment, &image, &image_bytes) == 0 &&
	    write_image(&job, image, image_bytes) == 0) {
		ax_free(image);
		image = NULL;
		if (verify_temp(&job, scratch) == 0) {
			SAVE_STEP(&job, "renaming it into place", NULL);
			errno = 0;
			if (rename(job.temp_path, path) != 0)
				ax_ckpt_capture_errno(&job.fail);
		}
	}
	ax_ckpt_h5_quiet_end(&quiet);
	if (job.fail.captured) {
		remove_temp(job.temp_path);
		st = AX_ERROR(job.out_of_memory ? AX_ERR_NOMEM : AX_ERR_IO, "weights: saving %s failed while %s%s%s%s (temporary file "
			      "%s, now removed): %s; the previous %s, if any, is untouched; check "
			      "free space and permissions", path, job.step,
			      job.tensor ? " tensor '" : "", job.tensor ? job.tensor : "",
			      job.tensor ? "'" : "", job.temp_path,
			      ax_ckpt_describe(&job.fail, detail, sizeof(detail)), path);
		goto done;
	}
	if (ax_ckpt_sync_path(directory, 1, &job.fail) != 0)
		st = AX_ERROR(AX_ERR_IO, "weights: %s was written and renamed into place, but "
			      "syncing directory %s failed: %s; a power loss now could lose the "
			      "new file", path, directory,
			      ax_ckpt_describe(&job.fail, detail, sizeof(detail)));
done:
	ax_free(image);
	ax_free(scratch);
	ax_free(host_copy);
	return st;
}

/* ---- loading ---- */

struct name_list {
	char **names;
	int count;
	int capacity;
	int out_of_memory;
};

static void name_list_free(struct name_list *list)
{
	for (int i = 0; i < list->count; i++)
		ax_free(list->names[i]);
	ax_free(list->names);
}

/* H5Lvisit callback: note every dataset reachable by a hard link. */
static herr_t collect_dataset(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
	struct name_list *list = data;
	hid_t object;
	int is_dataset;

	if (info->type != H5L_TYPE_HARD)
		return 0;
	object = H5Oopen(group, name, H5P_DEFAULT);
	if (object < 0)
		return -1;
	is_dataset = H5Iget_type(object) == H5I_DATASET;
	H5Oclose(object);
	if (!is_dataset)
		return 0;
	if (list->count == list->capacity) {
		int capacity = list->capacity ? 2 * list->capacity : 32;
		char **names = ax_calloc((size_t)capacity, sizeof(*names));

		if (!names) {
			list->out_of_memory = 1;
			return -1;
		}
		if (list->count)
			memcpy(names, list->names, (size_t)list->count * sizeof(*names));
		ax_free(list->names);
		list->names = names;
		list->capacity = capacity;
	}
	list->names[list->count] = ax_ckpt_copy_string(name);
	if (!list->names[list->count]) {
		list->out_of_memory = 1;
		return -1;
	}
	list->count++;
	return 0;
}

/* Everything a load holds; released in one place. */
struct load_state {
	hid_t file;
	struct name_list datasets;
	int *dataset_of;      /* (count) parameter i -> dataset index, -1 when missing */
	int *used;            /* (datasets.count) 1 when a parameter takes it */
	int *missing;         /* (count) 1 when parameter i is missing */
	const char **param_names;
	float *scratch;       /* the matched tensors, back to back */
};

/* Match parameters to datasets and apply the flags; shapes come after. */
static enum ax_status match_names(struct ax_params *params, const char *path, unsigned flags,
				  struct load_state *s, int *loaded, int *missing, int *extra)
{
	int count = ax_params_count(params);
	char names[1024];

	*loaded = *missing = *extra = 0;
	for (int i = 0; i < count; i++) {
		s->param_names[i] = ax_params_get(params, i)->name;
		s->dataset_of[i] = -1;
		for (int j = 0; j < s->datasets.count; j++) {
			if (strcmp(s->datasets.names[j], s->param_names[i]) == 0) {
				s->dataset_of[i] = j;
				s->used[j] = 1;
				break;
			}
		}
		s->missing[i] = s->dataset_of[i] < 0;
		*missing += s->missing[i];
	}
	*loaded = count - *missing;
	for (int j = 0; j < s->datasets.count; j++)
		*extra += !s->used[j];
	if (*missing && !(flags & AX_WEIGHTS_PARTIAL)) {
		list_names(names, sizeof(names), s->param_names, s->missing, count);
		return AX_ERROR(AX_ERR_INVALID, "weights: %s lacks %d of the model's %d parameters: "
				"%s; is it the weights of this model? To load only what matches "
				"(transfer learning), use AX_WEIGHTS_PARTIAL", path, *missing,
				count, names);
	}
	if (*extra && !(flags & AX_WEIGHTS_IGNORE_EXTRA)) {
		for (int j = 0; j < s->datasets.count; j++)
			s->used[j] = !s->used[j];
		list_names(names, sizeof(names), (const char *const *)s->datasets.names, s->used,
			   s->datasets.count);
		return AX_ERROR(AX_ERR_INVALID, "weights: %s has %d tensor(s) the model does not: "
				"%s; is it the weights of this model? To skip them, use "
				"AX_WEIGHTS_IGNORE_EXTRA", path, *extra, names);
	}
	if (count > 0 && *loaded == 0)
		return AX_ERROR(AX_ERR_INVALID, "weights: none of the model's %d parameters is in "
				"%s; check the path and the model", count, path);
	return AX_OK;
}

/* Check every matched tensor's shape and type, then read them all into
 * s->scratch. */
static enum ax_status read_matched(struct ax_params *params, const char *path,
				   struct load_state *s, struct ax_ckpt_failure *fail)
{
	int count = ax_params_count(params), ndim;
	int64_t total = 0, at = 0, shape[AX_MAX_DIMS];
	char file_shape[96], model_shape[96], detail[AX_CKPT_REASON_BYTES + 64];

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < count; i++) {
			const struct ax_tensor *t = ax_params_get(params, i);
			float *out = pass ? s->scratch + at : NULL;

			if (s->dataset_of[i] < 0)
				continue;
			switch (ax_ckpt_read_f32(s->file, t->name, t->ndim, t->shape, &ndim, shape,
						 out, fail)) {
			case AX_CKPT_READ_OK:
				break;
			case AX_CKPT_READ_SHAPE:
				if (ndim > AX_MAX_DIMS)
					snprintf(file_shape, sizeof(file_shape), "%d dims", ndim);
				else
					ax_shape_str(ndim, shape, file_shape, sizeof(file_shape));
				return AX_ERROR(AX_ERR_SHAPE, "weights: tensor '%s' is %s in %s but "
						"%s in the model; the file was saved from a "
						"different architecture (check the layer sizes "
						"in the config)", t->name, file_shape, path,
						ax_shape_str(t->ndim, t->shape, model_shape,
							     sizeof(model_shape)));
			case AX_CKPT_READ_DTYPE:
				return AX_ERROR(AX_ERR_DTYPE, "weights: dataset '%s' in %s does "
						"not hold floating-point numbers", t->name, path);
			case AX_CKPT_READ_FAILED:
				return AX_ERROR(AX_ERR_IO, "weights: %s is damaged: reading tensor "
						"'%s' failed (%s); the model is unchanged; use "
						"another copy (best.h5, a checkpoint) or save "
						"it again", path, t->name,
						ax_ckpt_describe(fail, detail, sizeof(detail)));
			}
			if (pass == 0)
				total += numel_of(t->ndim, t->shape);
			else
				at += numel_of(t->ndim, t->shape);
		}
		if (pass == 0) {
			s->scratch = ax_alloc((size_t)(total ? total : 1) * sizeof(float));
			if (!s->scratch)
				return AX_ERR_NOMEM;
		}
	}
	return AX_OK;
}

/* Everything was read: copy scratch into the parameters. */
static enum ax_status commit(struct ax_params *params, const struct load_state *s)
{
	struct ax_device device = ax_params_device(params);
	const struct ax_device_ops *dev = ax_device_ops_get(device.kind);
	int64_t at = 0;

	for (int i = 0; i < ax_params_count(params); i++) {
		const struct ax_tensor *t = ax_params_get(params, i);
		size_t bytes = (size_t)numel_of(t->ndim, t->shape) * sizeof(float);
		float *dst = ax_params_data(params) + ax_params_offset(params, i);
		enum ax_status st;

		if (s->dataset_of[i] < 0)
			continue;
		if (device.kind == AX_DEVICE_CPU) {
			memcpy(dst, s->scratch + at, bytes);
		} else {
			st = dev->copy(device.index, dst, s->scratch + at, bytes, AX_COPY_H2D);
			if (st)
				return st;
		}
		at += numel_of(t->ndim, t->shape);
	}
	return AX_OK;
}

static enum ax_status open_for_load(const char *path, hid_t *file, struct ax_ckpt_failure *fail)
{
	struct stat st;
	char temp_path[PATH_BYTES], detail[AX_CKPT_REASON_BYTES + 64];

	if (stat(path, &st) != 0) {
		int error_number = errno, interrupted;

		snprintf(temp_path, sizeof(temp_path), "%s.tmp", path);
		interrupted = stat(temp_path, &st) == 0;
		return AX_ERROR(AX_ERR_IO, "weights: cannot open %s: %s%s", path,
				strerror(error_number), interrupted ? "; only the temporary file of "
				"an interrupted save is there, which is never complete" : "");
	}
	*file = ax_ckpt_open_read_only(path, fail);
	if (*file < 0)
		return AX_ERROR(AX_ERR_IO, "weights: %s is not a readable HDF5 file (%s); it is "
				"truncated, damaged or of another kind; restore it from another "
				"copy (best.h5, a checkpoint)", path,
				ax_ckpt_describe(fail, detail, sizeof(detail)));
	return AX_OK;
}

enum ax_status ax_weights_load_ex(struct ax_params *params, const char *path, unsigned flags,
				  struct ax_weights_info *info)
{
	struct load_state s = {.file = H5I_INVALID_HID};
	struct ax_weights_info found = {0};
	struct ax_ckpt_failure fail_record = {0}, *fail = &fail_record;
	struct ax_ckpt_h5_quiet quiet;
	char detail[AX_CKPT_REASON_BYTES + 64];
	int count;
	enum ax_status st;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!params || !path)
		return AX_ERROR(AX_ERR_INVALID, "ax_weights_load: params or path is NULL");
	if (flags & ~(unsigned)(AX_WEIGHTS_PARTIAL | AX_WEIGHTS_IGNORE_EXTRA))
		return AX_ERROR(AX_ERR_INVALID, "ax_weights_load: unknown flags 0x%x", flags);
	if (!ax_params_data(params))
		return AX_ERROR(AX_ERR_STATE, "ax_weights_load: the parameters are not finalized; "
				"call ax_params_finalize first");
	count = ax_params_count(params);
	ax_ckpt_h5_quiet_begin(&quiet);
	st = open_for_load(path, &s.file, fail);
	if (st)
		goto done;
	st = check_format(s.file, path, fail);
	if (st)
		goto done;
	errno = 0;
	if (H5Lvisit(s.file, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &s.datasets) < 0) {
		if (s.datasets.out_of_memory) {
			st = AX_ERR_NOMEM;
		} else {
			ax_ckpt_capture(fail);
			st = AX_ERROR(AX_ERR_IO, "weights: cannot list the tensors in %s (%s); the "
				      "file is damaged", path,
				      ax_ckpt_describe(fail, detail, sizeof(detail)));
		}
		goto done;
	}
	s.dataset_of = ax_calloc((size_t)count + 1, sizeof(int));
	s.missing = ax_calloc((size_t)count + 1, sizeof(int));
	s.param_names = ax_calloc((size_t)count + 1, sizeof(char *));
	s.used = ax_calloc((size_t)s.datasets.count + 1, sizeof(int));
	if (!s.dataset_of || !s.missing || !s.param_names || !s.used) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	st = match_names(params, path, flags, &s, &found.loaded, &found.missing, &found.extra);
	if (st)
		goto done;
	st = read_matched(params, path, &s, fail);
	if (st)
		goto done;
	if (info) {
		if (ax_ckpt_read_string_attribute(s.file, "config", &found.config, fail) < 0 ||
		    ax_ckpt_read_string_attribute(s.file, "meta", &found.meta, fail) < 0) {
			st = AX_ERROR(AX_ERR_IO, "weights: cannot read the config or meta "
				      "attribute of %s (%s)", path,
				      ax_ckpt_describe(fail, detail, sizeof(detail)));
			goto done;
		}
	}
	st = commit(params, &s);
	if (st)
		goto done;
	if (info) {
		*info = found;
		found.config = found.meta = NULL;
	}
done:
	if (s.file >= 0)
		H5Fclose(s.file);
	ax_ckpt_h5_quiet_end(&quiet);
	ax_weights_info_release(&found);
	name_list_free(&s.datasets);
	ax_free(s.dataset_of);
	ax_free(s.missing);
	ax_free(s.param_names);
	ax_free(s.used);
	ax_free(s.scratch);
	return st;
}

enum ax_status ax_weights_load(struct ax_params *params, const char *path, unsigned flags,
			       char **config_out)
{
	struct ax_weights_info info;
	enum ax_status st;

	if (config_out)
		*config_out = NULL;
	st = ax_weights_load_ex(params, path, flags, config_out ? &info : NULL);
	if (st || !config_out)
		return st;
	*config_out = info.config;
	info.config = NULL;
	ax_weights_info_release(&info);
	return AX_OK;
}

void ax_weights_info_release(struct ax_weights_info *info)
{
	if (!info)
		return;
	ax_free(info->config);
	ax_free(info->meta);
	info->config = info->meta = NULL;
}
