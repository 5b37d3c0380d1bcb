/* manifest.c - reading a dataset's manifest.json (cJSON).
 *
 * The manifest is optional; when present it is authoritative for which files
 * are shards (and their order), and its counts must match the files. It may
 * also supply num_classes and normalisation statistics that the shards lack.
 * Writing it is the converter's job (writer.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "axon/alloc.h"
#include "data_internal.h"

static char *slurp(const char *path, long *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (64L << 20) &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = ax_alloc((size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			ax_free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[len] = '\0';
			*len_out = len;
		}
	}
	fclose(f);
	return buf;
}

static int read_floats(const cJSON *array, float *out)
{
	int n = 0;
	const cJSON *item;

	if (!cJSON_IsArray(array))
		return -1;
	cJSON_ArrayForEach(item, array) {
		if (!cJSON_IsNumber(item) || n >= AX_DATA_MAX_CHANNELS)
			return -1;
		out[n++] = (float)item->valuedouble;
	}
	return n;
}

enum ax_status ax_manifest_read(const char *dir, char ***files_out, int64_t **counts_out, int *n_out,
				int *num_classes, int *num_norm, float *mean, float *std)
{
	char path[4096];
	long len = 0;
	char *text;
	cJSON *root = NULL;
	const cJSON *shards, *item, *norm;
	char **files = NULL;
	int64_t *counts = NULL;
	int n = 0, total;
	enum ax_status st = AX_OK;

	*n_out = -1;
	*num_classes = 0;
	*num_norm = 0;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	text = slurp(path, &len);
	if (!text) {
		FILE *probe = fopen(path, "rb");

		if (!probe)
			return AX_OK; /* no manifest: the directory listing decides */
		fclose(probe);
		return AX_ERROR(AX_ERR_IO, "data: cannot read %s", path);
	}
	root = cJSON_ParseWithLength(text, (size_t)len);
	if (!root) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s is not valid JSON (near \"%.20s\"); fix it or "
			      "delete it to use the *.h5 files in name order", path,
			      cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
		goto done;
	}
	shards = cJSON_GetObjectItemCaseSensitive(root, "shards");
	if (!cJSON_IsArray(shards) || (total = cJSON_GetArraySize(shards)) < 1) {
		st = AX_ERROR(AX_ERR_INVALID, "data: %s has no \"shards\" list", path);
		goto done;
	}
	files = ax_calloc((size_t)total, sizeof(*files));
	counts = ax_calloc((size_t)total, sizeof(*counts));
	if (!files || !counts) {
		st = AX_ERR_NOMEM;
		goto done;
	}
	cJSON_ArrayForEach(item, shards) {
		const cJSON *file = cJSON_GetObjectItemCaseSensitive(item, "file");
		const cJSON *samples = cJSON_GetObjectItemCaseSensitive(item, "samples");

		if (!cJSON_IsString(file) || !cJSON_IsNumber(samples) || strchr(file->valuestring, '/')) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: shard entry %d needs \"file\" (a name in "
				      "the directory) and \"samples\"", path, n);
			goto done;
		}
		files[n] = ax_alloc(strlen(file->valuestring) + 1);
		if (!files[n]) {
			st = AX_ERR_NOMEM;
			goto done;
		}
		strcpy(files[n], file->valuestring);
		counts[n] = (int64_t)samples->valuedouble;
		n++;
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "num_classes");
	if (cJSON_IsNumber(item))
		*num_classes = item->valueint;
	norm = cJSON_GetObjectItemCaseSensitive(root, "normalization");
	if (cJSON_IsObject(norm)) {
		int nm = read_floats(cJSON_GetObjectItemCaseSensitive(norm, "mean"), mean);
		int ns = read_floats(cJSON_GetObjectItemCaseSensitive(norm, "std"), std);

		if (nm != ns || nm < 0) {
			st = AX_ERROR(AX_ERR_INVALID, "data: %s: normalization needs \"mean\" and \"std\" "
				      "arrays of the same length", path);
			goto done;
		}
		*num_norm = nm;
	}
done:
	if (st) {
		for (int i = 0; i < n; i++)
			ax_free(files ? files[i] : NULL);
		ax_free(files);
		ax_free(counts);
	} else {
		*files_out = files;
		*counts_out = counts;
		*n_out = n;
	}
	cJSON_Delete(root);
	ax_free(text);
	return st;
}
