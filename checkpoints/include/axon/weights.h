/* axon/weights.h - the model weights file (model.h5, best.h5).
 *
 * An HDF5 file that h5py, h5ls and h5dump read as they are:
 *   - one float32 dataset per parameter, named exactly as the parameter
 *     ("fc1.weight"; a name with '/' becomes nested groups), in the
 *     parameter's own shape (PyTorch layout, [out, in] for a linear weight).
 *     Datasets are chunked (about 4 MiB a chunk) with the Fletcher-32
 *     checksum filter, so a flipped byte in the data is caught at load. Two
 *     kinds of tensor cannot be chunked in HDF5 and are stored contiguous,
 *     without a checksum: 0-d scalars and tensors with no elements.
 *   - attributes on the file (the root group):
 *       format          "axon-weights"
 *       format_version  1 (int32)
 *       axon_version    the library version that wrote it ("0.1.0")
 *       config          optional: the resolved run configuration, as text
 *       meta            optional: a JSON object (step, epoch, metric, ...)
 *   In Python: f = h5py.File("model.h5"); w = f["fc1.weight"][()].
 *
 * Saving is atomic: the file is built in memory with every HDF5 call
 * checked, written as "<path>.tmp" with checked writes and fsync'ed, opened
 * again and every tensor read back and compared byte for byte, and only
 * then renamed over `path` (and the directory fsync'ed). A crash, a full
 * disk or any error leaves an existing file at `path` as it was. A save
 * holds the file's image in host memory, about twice the parameter bytes
 * at its peak (plus a host copy of the parameters when they live on a
 * GPU). Only one process may save to a given path at a time (in a
 * data-parallel run, rank 0).
 *
 * Loading reads every tensor into scratch memory first and copies into the
 * parameters only when the whole file has been read and checked, so a
 * failed load never leaves a model half-overwritten. */
#ifndef AXON_WEIGHTS_H
#define AXON_WEIGHTS_H

#include "axon/params.h"
#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_WEIGHTS_FORMAT "axon-weights"
#define AX_WEIGHTS_FORMAT_VERSION 1

/* Flags for loading. */
enum {
	/* Load the parameters the file has and leave the others as they are
	 * (transfer learning: a new head on a pretrained body). At least one
	 * parameter must match, and shapes must still agree. */
	AX_WEIGHTS_PARTIAL = 1u << 0,
	/* Accept tensors in the file that the model does not have. */
	AX_WEIGHTS_IGNORE_EXTRA = 1u << 1,
};

/* What a load found. config and meta are ax_alloc'd copies of the file's
 * attributes (NULL when absent); release them with ax_weights_info_release. */
struct ax_weights_info {
	int loaded;   /* parameters whose values came from the file */
	int missing;  /* parameters the file lacks (left unchanged; AX_WEIGHTS_PARTIAL) */
	int extra;    /* datasets the model lacks (AX_WEIGHTS_IGNORE_EXTRA) */
	char *config; /* the "config" attribute */
	char *meta;   /* the "meta" attribute (JSON text) */
};

/* ax_weights_save - write every parameter of a finalized store to `path`
 * atomically (see above). config_text and meta_json may be NULL; meta_json
 * must be valid JSON. Parameters on a GPU are copied to the host first.
 * Errors: AX_ERR_INVALID (NULL params or path, a path too long or naming a
 * directory, meta_json not JSON), AX_ERR_STATE (params not finalized),
 * AX_ERR_NOMEM, AX_ERR_IO (the directory does not exist; "<path>.tmp"
 * exists and is not a regular file; any write, sync, verify or rename
 * failure - the message names the file, the tensor and the reason, such as
 * "No space left on device"). On error nothing is left at "<path>.tmp" and
 * the file at `path` is untouched, except in one case the message says:
 * the rename succeeded but the directory could not be fsync'ed. */
enum ax_status ax_weights_save(const struct ax_params *params, const char *path,
			       const char *config_text, const char *meta_json);

/* ax_weights_load - read `path` into the parameters of a finalized store:
 * every parameter from the dataset of the same name. When config_out is not
 * NULL, *config_out receives an ax_alloc'd copy of the "config" attribute
 * (NULL when the file has none); free it with ax_free. Same as
 * ax_weights_load_ex with the counts discarded. */
enum ax_status ax_weights_load(struct ax_params *params, const char *path, unsigned flags,
			       char **config_out);

/* ax_weights_load_ex - as ax_weights_load, reporting what was found in
 * *info (may be NULL; on error it holds zeros and NULLs).
 * Files written by other tools (h5py from a PyTorch state_dict) load too:
 * the format attributes are checked only when present, and float datasets
 * of any precision or byte order are converted to float32.
 * Errors, all leaving every parameter unchanged:
 *   AX_ERR_INVALID  NULL params/path, unknown flags; a parameter missing
 *                   from the file (without AX_WEIGHTS_PARTIAL); datasets the
 *                   model lacks (without AX_WEIGHTS_IGNORE_EXTRA); no
 *                   parameter matched at all; a "format" other than
 *                   "axon-weights". Messages list the names (the first few).
 *   AX_ERR_SHAPE    a tensor whose shape differs; names it and both shapes.
 *   AX_ERR_DTYPE    a dataset that does not hold floats.
 *   AX_ERR_UNSUPPORTED  format_version newer than this library reads.
 *   AX_ERR_STATE    params not finalized.
 *   AX_ERR_IO       the file does not exist, is not HDF5, is truncated, or
 *                   a checksum fails (the message says it is damaged).
 *   AX_ERR_NOMEM. */
enum ax_status ax_weights_load_ex(struct ax_params *params, const char *path, unsigned flags,
				  struct ax_weights_info *info);

/* ax_weights_info_release - free info->config and info->meta and zero them. */
void ax_weights_info_release(struct ax_weights_info *info);

#ifdef __cplusplus
}
#endif
#endif
