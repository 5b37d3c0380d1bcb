/* dataset.c - opening a dataset directory and validating its shards.
 *
 * Opening reads metadata only (dataset shapes, types, attributes) plus the
 * labels, which are small: that is enough to reject every malformed input the
 * loader could meet later - a missing or misnamed dataset, inputs and targets
 * of different lengths, sample shapes or types that differ between shards, a
 * label outside [0, num_classes), an empty shard, a truncated or non-HDF5
 * file - with a message that names the shard, before a training job has
 * spent anything. Shards are opened read-only with HDF5 file locking off
 * (locking fails on NFS/Lustre) and closed again; the loader reopens them
 * from its I/O thread. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "axon/alloc.h"
#include "data_internal.h"

void ax_h5_quiet(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static char *dup_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = ax_alloc(n);

	if (copy)
		memcpy(copy, s, n);
	return copy;
}

/* ---- labels ---- */

/* Read every label of shard s and check it against num_classes (when
 * known, else against INT32_MAX); *max_label receives the largest label
 * seen. Labels are read as int64 so that a wide label which does not fit in
 * int32 is reported as it is, not clipped by the conversion into range. */
static enum ax_status check_labels(hid_t file, const struct ax_shard *shard, int known,
				   int num_classes, int32_t *max_label)
{
	hid_t dset = H5Dopen2(file, "targets", H5P_DEFAULT);
	int64_t *labels = ax_alloc((size_t)shard->count * sizeof(int64_t));
	int64_t limit = known ? num_classes : INT32_MAX;
	enum ax_status st = AX_OK;
	herr_t rc;

	if (dset < 0 || !labels) {
		st = dset < 0 ? AX_ERROR(AX_ERR_IO, "data: shard %s: cannot open 'targets'",
					 shard->path)
			      : AX_ERR_NOMEM;
		goto done;
	}
	rc = H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
	if (rc < 0) {
		st = AX_ERROR(AX_ERR_IO, "data: shard %s: reading 'targets' failed (truncated or "
			      "damaged file?)", shard->path);
		goto done;
	}
	for (int64_t i = 0; i < shard->count; i++) {
		if (labels[i] < 0 || labels[i] >= limit) {
			st = AX_ERROR(AX_ERR_INVALID, "data: shard %s: sample %lld has label %lld, "
				      "outside [0, %lld); fix the labels or num_classes", shard->path,
				      (long long)i, (long long)labels[i], (long long)limit);
			goto done;
		}
		if (labels[i] > *max_label)
			*max_label = (int32_t)labels[i];
	}
done:
	if (dset >= 0)
		H5Dclose(dset);
	ax_free(labels);
	return st;
}

/* ---- discovery ---- */

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with_h5(const char *name)
{
	size_t n = strlen(name);

	return (n > 3 && strcmp(name + n - 3, ".h5") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".hdf5") == 0);
}

/* The shard file names of `dir` (sorted), from a directory listing. */
static enum ax_status list_shards(const char *dir, char ***names_out, int *n_out)
{
	DIR *d = opendir(dir);
	struct dirent *entry;
	char **names = NULL;
	int n = 0, cap = 0;

	if (!d)
		return AX_ERROR(AX_ERR_IO, "data: cannot open dataset directory %s: %s", dir,
				strerror(errno));
	while ((entry = readdir(d))) {
		if (!ends_with_h5(entry->d_name))
			continue;
		if (n == cap) {
			int new_cap = cap ? 2 * cap : 16;
			char **grown = ax_alloc((size_t)new_cap * sizeof(*grown));

			if (!grown)
				goto nomem;
			if (n)
				memcpy(grown, names, (size_t)n * sizeof(*grown));
			ax_free(names);
			names = grown;
			cap = new_cap;
		}
		names[n] = dup_string(entry->d_name);
		if (!names[n])
			goto nomem;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), compare_names);
	*names_out = names;
	*n_out = n;
	return AX_OK;
nomem:
	closedir(d);
	for (int i = 0; i < n; i++)
		ax_free(names[i]);
	ax_free(names);
	return AX_ERR_NOMEM;
}

void ax_dataset_close(struct ax_dataset *ds)
{
	if (!ds)
		return;
	for (int s = 0; s < ds->num_shards; s++)
		ax_free(ds->shards[s].path);
	ax_free(ds->shards);
	ax_free(ds->dir);
	ax_free(ds);
}

static enum ax_status open_shards(struct ax_dataset *ds, char **names, const int64_t *expect)
{
	struct ax_shard_schema first, cur;
	int32_t max_label = -1;
	enum ax_status st = AX_OK;

	for (int s = 0; s < ds->num_shards; s++) {
		struct ax_shard *shard = &ds->shards[s];
		size_t len = strlen(ds->dir) + strlen(names[s]) + 2;
		hid_t file;
		htri_t is_h5;

		shard->path = ax_alloc(len);
		if (!shard->path)
			return AX_ERR_NOMEM;
		snprintf(shard->path, len, "%s/%s", ds->dir, names[s]);
		shard->name = shard->path + strlen(ds->dir) + 1;
		is_h5 = H5Fis_hdf5(shard->path);
		if (is_h5 <= 0)
			return AX_ERROR(AX_ERR_IO, "data: shard %s %s", shard->path,
					is_h5 == 0 ? "is not an HDF5 file (or its header is damaged)"
						   : "cannot be read (missing or unreadable)");
		file = ax_shard_open_file(shard->path);
		if (file < 0)
			return AX_ERROR(AX_ERR_IO, "data: cannot open shard %s: the file is truncated "
					"or damaged; re-create it", shard->path);
		st = ax_shard_read_schema(file, shard->path, s == 0 ? &first : &cur);
		if (!st && s > 0)
			st = ax_shard_check_same(&first, ds->shards[0].path, &cur, shard->path);
		shard->count = s == 0 ? first.count : cur.count;
		if (!st && expect && expect[s] != shard->count)
			st = AX_ERROR(AX_ERR_INVALID, "data: manifest.json says %s has %lld samples, the "
				      "file has %lld; re-run axon data convert", shard->name,
				      (long long)expect[s], (long long)shard->count);
		if (!st && first.target_kind == AX_TARGET_CLASS)
			st = check_labels(file, shard, first.has_classes, first.num_classes, &max_label);
		H5Fclose(file);
		if (st)
			return st;
		shard->first_id = s == 0 ? 0 : ds->shards[s - 1].first_id + ds->shards[s - 1].count;
	}
	ds->info.num_samples = ds->shards[ds->num_shards - 1].first_id +
			       ds->shards[ds->num_shards - 1].count;
	ds->info.sample_ndim = first.sample_ndim;
	memcpy(ds->info.sample_shape, first.sample_shape, sizeof(first.sample_shape));
	ds->info.sample_numel = 1;
	for (int d = 0; d < first.sample_ndim; d++)
		ds->info.sample_numel *= first.sample_shape[d];
	ds->info.input_dtype = first.input_dtype;
	ds->info.target_kind = first.target_kind;
	ds->info.target_dim = first.target_dim;
	if (first.target_kind == AX_TARGET_CLASS) {
		ds->num_classes_known = first.has_classes;
		ds->info.num_classes = first.has_classes ? first.num_classes : max_label + 1;
	}
	ds->info.num_norm = first.num_norm;
	memcpy(ds->info.norm_mean, first.mean, sizeof(float) * (size_t)first.num_norm);
	memcpy(ds->info.norm_std, first.std, sizeof(float) * (size_t)first.num_norm);
	ds->input_bytes = (size_t)ds->info.sample_numel * (first.input_dtype == AX_U8 ? 1 : 4);
	return AX_OK;
}

enum ax_status ax_dataset_open(const char *dir, struct ax_dataset **out)
{
	struct ax_dataset *ds;
	struct stat sb;
	char **names = NULL;
	int64_t *counts = NULL;
	int n = -1, m_classes = 0, m_norm = 0;
	float m_mean[AX_DATA_MAX_CHANNELS], m_std[AX_DATA_MAX_CHANNELS];
	enum ax_status st;

	if (!dir || !out)
		return AX_ERROR(AX_ERR_INVALID, "ax_dataset_open: dir or out is NULL");
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return AX_ERROR(AX_ERR_IO, "data: dataset directory %s %s", dir,
				stat(dir, &sb) != 0 ? "does not exist" : "is not a directory");
	ax_h5_quiet();
	ds = ax_calloc(1, sizeof(*ds));
	if (!ds)
		return AX_ERR_NOMEM;
	ds->dir = dup_string(dir);
	if (!ds->dir) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	st = ax_manifest_read(dir, &names, &counts, &n, &m_classes, &m_norm, m_mean, m_std);
	if (!st && n < 0)
		st = list_shards(dir, &names, &n);
	if (st)
		goto fail;
	if (n == 0) {
		st = AX_ERROR(AX_ERR_IO, "data: dataset directory %s holds no shard files (*.h5); "
			      "create one with axon data convert", dir);
		goto fail;
	}
	ds->num_shards = n;
	ds->shards = ax_calloc((size_t)n, sizeof(*ds->shards));
	if (!ds->shards) {
		st = AX_ERR_NOMEM;
		goto fail;
	}
	st = open_shards(ds, names, counts);
	if (st)
		goto fail;
	/* The manifest fills in what the shards do not say. */
	if (ds->info.target_kind == AX_TARGET_CLASS && !ds->num_classes_known && m_classes > 0) {
		if (m_classes < ds->info.num_classes) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: manifest.json says num_classes %d but "
				      "a label %d was found", dir, m_classes, ds->info.num_classes - 1);
			goto fail;
		}
		ds->info.num_classes = m_classes;
		ds->num_classes_known = 1;
	}
	if (ds->info.num_norm == 0 && m_norm > 0) {
		/* Held to the same rules as the attributes: the loader indexes its
		 * per-channel tables by axis 1, and divides by std. */
		if (m_norm > 1 && m_norm != ds->info.sample_shape[0]) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s/manifest.json: %d normalisation values, "
				      "but axis 1 of inputs has size %lld (use 1 value or one per "
				      "channel)", dir, m_norm, (long long)ds->info.sample_shape[0]);
			goto fail;
		}
		for (int c = 0; c < m_norm; c++) {
			if (!(m_std[c] > 0.0f) || !isfinite(m_mean[c]) || !isfinite(m_std[c])) {
				st = AX_ERROR(AX_ERR_INVALID, "data: %s/manifest.json: normalisation %d "
					      "has mean %g and std %g; std must be positive", dir, c,
					      m_mean[c], m_std[c]);
				goto fail;
			}
		}
		ds->info.num_norm = m_norm;
		memcpy(ds->info.norm_mean, m_mean, sizeof(float) * (size_t)m_norm);
		memcpy(ds->info.norm_std, m_std, sizeof(float) * (size_t)m_norm);
	}
	ds->info.num_shards = n;
	*out = ds;
	goto done;
fail:
	ax_dataset_close(ds);
done:
	for (int i = 0; i < n; i++)
		ax_free(names[i]);
	ax_free(names);
	ax_free(counts);
	return st;
}

const struct ax_dataset_info *ax_dataset_info(const struct ax_dataset *ds)
{
	return &ds->info;
}

const char *ax_dataset_shard_path(const struct ax_dataset *ds, int s)
{
	return (s >= 0 && s < ds->num_shards) ? ds->shards[s].path : NULL;
}

int64_t ax_dataset_shard_count(const struct ax_dataset *ds, int s)
{
	return (s >= 0 && s < ds->num_shards) ? ds->shards[s].count : -1;
}

int64_t ax_dataset_shard_first_id(const struct ax_dataset *ds, int s)
{
	return ds->shards[s].first_id;
}

size_t ax_dataset_target_bytes(const struct ax_dataset *ds)
{
	return (size_t)ds->info.target_dim * 4;
}

/* ---- reading ---- */

/* Read rows [row0, row0 + rows) of one dataset with memory type `mem_type`. */
static enum ax_status read_rows(hid_t file, const char *name, const char *path, hid_t mem_type,
				int64_t row0, int64_t rows, void *buf)
{
	hsize_t dims[AX_DATA_MAX_SAMPLE_DIMS + 1], start[AX_DATA_MAX_SAMPLE_DIMS + 1] = {0};
	hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS), dset, fspace = -1, mspace = -1;
	enum ax_status st = AX_OK;
	int ndim;

	/* A cache big enough for any sane chunk, so a chunk that spans two
	 * pieces of a sequential read is decompressed once. */
	if (dapl >= 0)
		H5Pset_chunk_cache(dapl, 521, (size_t)32 << 20, 1.0);
	dset = H5Dopen2(file, name, dapl >= 0 ? dapl : H5P_DEFAULT);
	if (dapl >= 0)
		H5Pclose(dapl);
	if (dset < 0)
		return AX_ERROR(AX_ERR_IO, "data: shard %s: cannot open '%s'", path, name);
	fspace = H5Dget_space(dset);
	ndim = fspace >= 0 ? H5Sget_simple_extent_ndims(fspace) : -1;
	if (ndim < 1 || ndim > AX_DATA_MAX_SAMPLE_DIMS + 1) {
		st = AX_ERROR(AX_ERR_IO, "data: shard %s: cannot read the shape of '%s'", path, name);
		goto done;
	}
	H5Sget_simple_extent_dims(fspace, dims, NULL);
	start[0] = (hsize_t)row0;
	dims[0] = (hsize_t)rows;
	mspace = H5Screate_simple(ndim, dims, NULL);
	if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, dims, NULL) < 0 ||
	    H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, buf) < 0)
		st = AX_ERROR(AX_ERR_IO, "data: shard %s: reading rows %lld..%lld of '%s' failed "
			      "(truncated or damaged file?)", path, (long long)row0,
			      (long long)(row0 + rows - 1), name);
done:
	if (mspace >= 0)
		H5Sclose(mspace);
	if (fspace >= 0)
		H5Sclose(fspace);
	H5Dclose(dset);
	return st;
}

enum ax_status ax_shard_reader_open(const struct ax_dataset *ds, int s, struct ax_shard_reader *r)
{
	r->ds = ds;
	r->shard = s;
	r->file = ax_shard_open_file(ds->shards[s].path);
	if (r->file < 0)
		return AX_ERROR(AX_ERR_IO, "data: cannot open shard %s (was it moved, truncated or "
				"damaged since the job started?)", ds->shards[s].path);
	return AX_OK;
}

enum ax_status ax_shard_reader_read(struct ax_shard_reader *r, int64_t row0, int64_t rows,
				    void *inputs, void *targets)
{
	const struct ax_dataset *ds = r->ds;
	const struct ax_shard *shard = &ds->shards[r->shard];
	enum ax_status st = AX_OK;

	if (row0 < 0 || rows < 0 || row0 + rows > shard->count)
		return AX_ERROR(AX_ERR_INVALID, "data: rows %lld..%lld are outside shard %s (%lld "
				"samples)", (long long)row0, (long long)(row0 + rows - 1),
				shard->path, (long long)shard->count);
	if (rows == 0)
		return AX_OK;
	if (inputs)
		st = read_rows(r->file, "inputs", shard->path,
			       ds->info.input_dtype == AX_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT,
			       row0, rows, inputs);
	if (!st && targets)
		st = read_rows(r->file, "targets", shard->path,
			       ds->info.target_kind == AX_TARGET_CLASS ? H5T_NATIVE_INT32
								       : H5T_NATIVE_FLOAT,
			       row0, rows, targets);
	return st;
}

void ax_shard_reader_close(struct ax_shard_reader *r)
{
	if (r->file >= 0)
		H5Fclose(r->file);
	r->file = -1;
}

enum ax_status ax_shard_read(const struct ax_dataset *ds, int s, int64_t row0, int64_t rows,
			     void *inputs, void *targets)
{
	struct ax_shard_reader r;
	enum ax_status st = ax_shard_reader_open(ds, s, &r);

	if (st)
		return st;
	st = ax_shard_reader_read(&r, row0, rows, inputs, targets);
	ax_shard_reader_close(&r);
	return st;
}

enum ax_status ax_dataset_verify(struct ax_dataset *ds, int64_t *histogram,
				 struct ax_data_stats *stats)
{
	const int64_t piece = 4096;
	const struct ax_dataset_info *info = &ds->info;
	void *inputs = ax_alloc((size_t)piece * ds->input_bytes);
	void *targets = ax_alloc((size_t)piece * ax_dataset_target_bytes(ds));
	double sum = 0, sum_sq = 0, lo = INFINITY, hi = -INFINITY;
	int64_t elements = 0;
	enum ax_status st = AX_OK;

	if (!inputs || !targets) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	ax_h5_quiet();
	if (histogram)
		memset(histogram, 0, sizeof(int64_t) * (size_t)info->num_classes);
	for (int s = 0; s < ds->num_shards && !st; s++) {
		const struct ax_shard *shard = &ds->shards[s];

		for (int64_t row = 0; row < shard->count && !st; row += piece) {
			int64_t rows = shard->count - row < piece ? shard->count - row : piece;
			int64_t n = rows * info->sample_numel;

			st = ax_shard_read(ds, s, row, rows, inputs, targets);
			if (st)
				break;
			for (int64_t i = 0; i < n; i++) {
				double v = info->input_dtype == AX_U8 ? ((const uint8_t *)inputs)[i]
								      : ((const float *)inputs)[i];

				if (!isfinite(v)) {
					st = AX_ERROR(AX_ERR_INVALID, "data: shard %s: sample %lld has a "
						      "non-finite input value", shard->path,
						      (long long)(row + i / info->sample_numel));
					break;
				}
				sum += v;
				sum_sq += v * v;
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			elements += n;
			if (info->target_kind == AX_TARGET_CLASS) {
				const int32_t *labels = targets;

				for (int64_t i = 0; i < rows && !st; i++) {
					if (labels[i] < 0 || labels[i] >= info->num_classes)
						st = AX_ERROR(AX_ERR_INVALID, "data: shard %s: sample %lld has "
							      "label %d, outside [0, %d)", shard->path,
							      (long long)(row + i), labels[i],
							      info->num_classes);
					else if (histogram)
						histogram[labels[i]]++;
				}
			}
		}
	}
	if (!st && stats) {
		double mean = elements ? sum / (double)elements : 0;

		stats->min = lo;
		stats->max = hi;
		stats->mean = mean;
		stats->std = elements ? sqrt(fmax(sum_sq / (double)elements - mean * mean, 0)) : 0;
	}
done:
	ax_free(inputs);
	ax_free(targets);
	return st;
}
