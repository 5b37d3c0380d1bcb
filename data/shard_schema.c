/* shard_schema.c - what one shard says about itself: its datasets' shapes
 * and types and its attributes (num_classes, normalisation statistics),
 * read and checked with a message naming the shard and the field; and the
 * check that every shard of a dataset agrees with the first. dataset.c
 * opens directories of shards on top of this. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

hid_t ax_shard_open_file(const char *path)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file;

	if (fapl < 0)
		return -1;
	/* Locking breaks on network file systems, and a reader never needs it. */
	H5Pset_file_locking(fapl, 0, 1);
	file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	H5Pclose(fapl);
	return file;
}

static herr_t collect_name(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
	char *list = data;
	size_t used = strlen(list);

	(void)group;
	(void)info;
	if (used + strlen(name) + 4 < 256)
		snprintf(list + used, 256 - used, "%s'%s'", used ? ", " : "", name);
	return 0;
}

/* "found: 'images', 'labels'" for messages about a missing dataset. */
static void root_names(hid_t file, char *list)
{
	list[0] = '\0';
	H5Literate(file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, list);
	if (!list[0])
		strcpy(list, "nothing");
}

static enum ax_status read_int_attr(hid_t file, const char *name, const char *path, int *value,
				    int *present)
{
	hid_t attr, space;
	hssize_t n;
	herr_t rc;

	*present = H5Aexists(file, name) > 0;
	if (!*present)
		return AX_OK;
	attr = H5Aopen(file, name, H5P_DEFAULT);
	if (attr < 0)
		return AX_ERROR(AX_ERR_IO, "data: %s: cannot read attribute '%s'", path, name);
	/* H5Aread fills the whole attribute: an array would overrun `value`. */
	space = H5Aget_space(attr);
	n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
	if (space >= 0)
		H5Sclose(space);
	if (n != 1) {
		H5Aclose(attr);
		return AX_ERROR(AX_ERR_INVALID, "data: %s: attribute '%s' has %lld values; it must "
				"be one integer", path, name, (long long)n);
	}
	rc = H5Aread(attr, H5T_NATIVE_INT, value);
	H5Aclose(attr);
	if (rc < 0)
		return AX_ERROR(AX_ERR_INVALID, "data: %s: attribute '%s' is not an integer", path,
				name);
	return AX_OK;
}

static enum ax_status read_float_array_attr(hid_t file, const char *name, const char *path,
					    float *values, int *count)
{
	hid_t attr, space;
	hssize_t n;
	herr_t rc;

	*count = 0;
	if (H5Aexists(file, name) <= 0)
		return AX_OK;
	attr = H5Aopen(file, name, H5P_DEFAULT);
	if (attr < 0)
		return AX_ERROR(AX_ERR_IO, "data: %s: cannot read attribute '%s'", path, name);
	space = H5Aget_space(attr);
	n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
	if (space >= 0)
		H5Sclose(space);
	if (n < 1 || n > AX_DATA_MAX_CHANNELS) {
		H5Aclose(attr);
		return AX_ERROR(AX_ERR_INVALID, "data: %s: attribute '%s' has %lld values; it needs "
				"1 to %d", path, name, (long long)n, AX_DATA_MAX_CHANNELS);
	}
	rc = H5Aread(attr, H5T_NATIVE_FLOAT, values);
	H5Aclose(attr);
	if (rc < 0)
		return AX_ERROR(AX_ERR_INVALID, "data: %s: attribute '%s' is not numeric", path, name);
	*count = (int)n;
	return AX_OK;
}

/* Shape and element class of one dataset; returns the open dataset or < 0. */
static enum ax_status describe(hid_t file, const char *dset_name, const char *path, int *ndim,
			       hsize_t *dims, H5T_class_t *cls, size_t *size, H5T_sign_t *sign)
{
	char found[256];
	hid_t dset, type, space;

	if (H5Lexists(file, dset_name, H5P_DEFAULT) <= 0) {
		root_names(file, found);
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has no dataset '%s' (found %s); a "
				"shard needs 'inputs' and 'targets' (see docs/data-format.md)", path,
				dset_name, found);
	}
	dset = H5Dopen2(file, dset_name, H5P_DEFAULT);
	if (dset < 0)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: '%s' is not a dataset", path,
				dset_name);
	type = H5Dget_type(dset);
	space = H5Dget_space(dset);
	*ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
	if (*ndim > 0 && *ndim <= AX_DATA_MAX_SAMPLE_DIMS + 1)
		H5Sget_simple_extent_dims(space, dims, NULL);
	*cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
	*size = type >= 0 ? H5Tget_size(type) : 0;
	*sign = *cls == H5T_INTEGER ? H5Tget_sign(type) : H5T_SGN_ERROR;
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	H5Dclose(dset);
	if (*ndim == 0)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: '%s' is a scalar; it must be an "
				"array with one row per sample", path, dset_name);
	if (*ndim < 0 || *ndim > AX_DATA_MAX_SAMPLE_DIMS + 1)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: '%s' has %d dimensions; axon reads "
				"1 to %d", path, dset_name, *ndim, AX_DATA_MAX_SAMPLE_DIMS + 1);
	return AX_OK;
}

static const char *class_name(H5T_class_t cls, size_t size, H5T_sign_t sign)
{
	static _Thread_local char buf[32];

	switch (cls) {
	case H5T_INTEGER:
		snprintf(buf, sizeof(buf), "%sint%zu", sign == H5T_SGN_NONE ? "u" : "", 8 * size);
		return buf;
	case H5T_FLOAT:
		snprintf(buf, sizeof(buf), "float%zu", 8 * size);
		return buf;
	case H5T_STRING: return "string";
	case H5T_COMPOUND: return "compound";
	default: return "an unsupported type";
	}
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t len)
{
	ax_shape_str(ndim, shape, buf, len);
}

enum ax_status ax_shard_read_schema(hid_t file, const char *path, struct ax_shard_schema *sc)
{
	hsize_t in_dims[AX_DATA_MAX_SAMPLE_DIMS + 1], tg_dims[AX_DATA_MAX_SAMPLE_DIMS + 1];
	int in_ndim, tg_ndim, version = 1, present, mean_n, std_n;
	H5T_class_t in_cls, tg_cls;
	size_t in_size, tg_size;
	H5T_sign_t in_sign, tg_sign;
	enum ax_status st;

	memset(sc, 0, sizeof(*sc));
	st = read_int_attr(file, "axon_schema_version", path, &version, &present);
	if (st)
		return st;
	if (version > AX_DATA_SCHEMA_VERSION)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has schema version %d; this axon "
				"reads version %d: upgrade axon", path, version,
				AX_DATA_SCHEMA_VERSION);
	st = describe(file, "inputs", path, &in_ndim, in_dims, &in_cls, &in_size, &in_sign);
	if (!st)
		st = describe(file, "targets", path, &tg_ndim, tg_dims, &tg_cls, &tg_size, &tg_sign);
	if (st)
		return st;
	if (in_ndim < 2)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: 'inputs' has shape [%llu]; it must "
				"be [N, ...] with at least one dimension per sample", path,
				(unsigned long long)in_dims[0]);
	if (in_cls == H5T_INTEGER && in_size == 1 && in_sign == H5T_SGN_NONE)
		sc->input_dtype = AX_U8;
	else if (in_cls == H5T_FLOAT && (in_size == 4 || in_size == 8))
		sc->input_dtype = AX_F32;
	else
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: 'inputs' is %s; axon reads uint8 "
				"or float inputs (store images as uint8, features as float32)",
				path, class_name(in_cls, in_size, in_sign));
	if (tg_ndim == 1 && tg_cls == H5T_INTEGER) {
		sc->target_kind = AX_TARGET_CLASS;
		sc->target_dim = 1;
	} else if ((tg_ndim == 1 || tg_ndim == 2) && tg_cls == H5T_FLOAT) {
		sc->target_kind = AX_TARGET_REGRESSION;
		sc->target_dim = tg_ndim == 2 ? (int64_t)tg_dims[1] : 1;
	} else {
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: 'targets' is %s with %d "
				"dimension(s); it must be integer class labels [N] or float "
				"targets [N] / [N, k]", path, class_name(tg_cls, tg_size, tg_sign),
				tg_ndim);
	}
	if (in_dims[0] != tg_dims[0])
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has %llu inputs but %llu targets; "
				"every input needs one target (re-run axon data convert)", path,
				(unsigned long long)in_dims[0], (unsigned long long)tg_dims[0]);
	if (in_dims[0] == 0)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s is empty (0 samples); remove it or "
				"re-run axon data convert", path);
	sc->count = (int64_t)in_dims[0];
	sc->sample_ndim = in_ndim - 1;
	for (int d = 1; d < in_ndim; d++)
		sc->sample_shape[d - 1] = (int64_t)in_dims[d];
	for (int d = 0; d < sc->sample_ndim; d++) {
		if (sc->sample_shape[d] == 0) {
			char shape[96];

			shape_text(sc->sample_ndim, sc->sample_shape, shape, sizeof(shape));
			return AX_ERROR(AX_ERR_INVALID, "data: shard %s: 'inputs' has samples of shape "
					"%s, which hold no values; every sample dimension must be at "
					"least 1", path, shape);
		}
	}
	if (sc->target_dim == 0)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: 'targets' has width 0 (shape "
				"[%llu, 0]); regression targets need at least one column", path,
				(unsigned long long)tg_dims[0]);
	st = read_int_attr(file, "num_classes", path, &sc->num_classes, &sc->has_classes);
	if (st)
		return st;
	if (sc->has_classes && sc->target_kind == AX_TARGET_CLASS && sc->num_classes < 1)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: num_classes is %d", path,
				sc->num_classes);
	st = read_float_array_attr(file, "norm_mean", path, sc->mean, &mean_n);
	if (!st)
		st = read_float_array_attr(file, "norm_std", path, sc->std, &std_n);
	if (st)
		return st;
	if (mean_n != std_n)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: norm_mean has %d values but "
				"norm_std has %d", path, mean_n, std_n);
	if (mean_n > 1 && mean_n != sc->sample_shape[0])
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s: %d normalisation values, but axis 1 "
				"of inputs has size %lld (use 1 value or one per channel)", path,
				mean_n, (long long)sc->sample_shape[0]);
	for (int c = 0; c < mean_n; c++) {
		if (!(sc->std[c] > 0.0f) || !isfinite(sc->mean[c]) || !isfinite(sc->std[c]))
			return AX_ERROR(AX_ERR_INVALID, "data: shard %s: normalisation %d has mean %g "
					"and std %g; std must be positive", path, c, sc->mean[c],
					sc->std[c]);
	}
	sc->num_norm = mean_n;
	return AX_OK;
}

/* Every shard must match the first one. */
enum ax_status ax_shard_check_same(const struct ax_shard_schema *a, const char *a_path,
				   const struct ax_shard_schema *b, const char *b_path)
{
	char sa[96], sb[96];

	if (a->sample_ndim != b->sample_ndim ||
	    memcmp(a->sample_shape, b->sample_shape, sizeof(int64_t) * (size_t)a->sample_ndim)) {
		shape_text(a->sample_ndim, a->sample_shape, sa, sizeof(sa));
		shape_text(b->sample_ndim, b->sample_shape, sb, sizeof(sb));
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has samples of shape %s but %s has "
				"%s; all shards of a dataset must agree", b_path, sb, a_path, sa);
	}
	if (a->input_dtype != b->input_dtype)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has %s inputs but %s has %s", b_path,
				b->input_dtype == AX_U8 ? "uint8" : "float", a_path,
				a->input_dtype == AX_U8 ? "uint8" : "float");
	if (a->target_kind != b->target_kind || a->target_dim != b->target_dim)
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s has %s targets of width %lld but %s "
				"has %s of width %lld", b_path,
				b->target_kind == AX_TARGET_CLASS ? "class" : "regression",
				(long long)b->target_dim, a_path,
				a->target_kind == AX_TARGET_CLASS ? "class" : "regression",
				(long long)a->target_dim);
	if (a->has_classes != b->has_classes || (a->has_classes && a->num_classes != b->num_classes))
		return AX_ERROR(AX_ERR_INVALID, "data: shard %s says num_classes %d but %s says %d",
				b_path, b->has_classes ? b->num_classes : -1, a_path,
				a->has_classes ? a->num_classes : -1);
	if (a->num_norm != b->num_norm ||
	    memcmp(a->mean, b->mean, sizeof(float) * (size_t)a->num_norm) ||
	    memcmp(a->std, b->std, sizeof(float) * (size_t)a->num_norm))
		return AX_ERROR(AX_ERR_INVALID, "data: shards %s and %s have different normalisation "
				"statistics; convert them together", a_path, b_path);
	return AX_OK;
}

