/* axon/ckpt.h - training checkpoints: format, atomic commit, verification,
 * discovery for resume, retention, and a background saver.
 *
 * A checkpoint is a directory DIR/step-NNNNNNNNNN/ holding
 *   state.h5       parameters (/params/<name>) and optimizer state
 *                  (/optimizer/<buffer>/<name>), float32 with Fletcher-32
 *                  checksums, plus root attributes "format", "format_version",
 *                  "state" (JSON: step, epoch, data cursor, optimizer steps,
 *                  early-stopping state, learning-rate scale, every rank's RNG)
 *                  and "config" (the resolved config text);
 *   MANIFEST.json  the byte count and CRC-32 of state.h5.
 * Tensors are stored per parameter name, so a checkpoint does not depend on
 * the world size or on the flat layout: a job saved on 2 ranks resumes on 3.
 *
 * Commit protocol: everything is written into step-N.tmp/ with every call
 * checked, fsynced, read back and verified (CRC and every tensor), then the
 * directory is renamed to step-N (the commit point) and its parent fsynced.
 * A kill at any instant leaves either a complete step-N or a step-N.tmp that
 * the next run deletes; a full disk fails the save and leaves older
 * checkpoints alone; a flipped byte anywhere fails verification. */
#ifndef AXON_CKPT_H
#define AXON_CKPT_H

#include <stdint.h>
#include <stdio.h>

#include "axon/params.h"
#include "axon/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_CKPT_FORMAT_VERSION 1
#define AX_CKPT_MAX_OPT_BUFFERS 4
#define AX_CKPT_MAX_RANKS 4096

/* The small, non-tensor part of the training state. */
struct ax_ckpt_meta {
	int64_t step;              /* optimizer steps done */
	int64_t epoch;
	uint64_t data_seed;        /* the sampler cursor */
	int64_t data_epoch, data_position;
	int64_t optimizer_steps;
	int have_best;             /* early stopping */
	double best;
	int64_t best_step, bad_evals;
	double lr_scale;           /* lowered by NaN roll-backs */
	int world;                 /* ranks at save time */
	uint64_t rng_seed[AX_CKPT_MAX_RANKS], rng_counter[AX_CKPT_MAX_RANKS]; /* per rank */
};

/* The tensors: flat host arrays in the layout of `params` (names and shapes
 * come from it). opt_names[i] names optimizer buffer i ("exp_avg", ...). For
 * parameters on a GPU, param_data and opt_data are host copies (the trainer
 * downloads before a save and uploads after a load); ax_ckpt_load writes into
 * param_data (ax_params_data(params) when it is NULL) and opt_data. */
struct ax_ckpt_tensors {
	const struct ax_params *params;
	const float *param_data;
	int n_opt;
	const char *opt_names[AX_CKPT_MAX_OPT_BUFFERS];
	const float *opt_data[AX_CKPT_MAX_OPT_BUFFERS];
};

/* ax_ckpt_save - write and commit DIR/step-<meta->step> (see above); on
 * success the committed path goes to `committed` (may be NULL). Errors:
 * AX_ERR_IO naming the file and the cause (ENOSPC...); nothing of the new
 * checkpoint is left behind and older ones are untouched. AX_ERR_INVALID
 * for meta->world outside 1..AX_CKPT_MAX_RANKS, more than
 * AX_CKPT_MAX_OPT_BUFFERS buffers, or a buffer name that is empty, 64
 * characters or longer, or holds '/' or ','. */
enum ax_status ax_ckpt_save(const char *dir, const struct ax_ckpt_meta *meta,
			    const struct ax_ckpt_tensors *tensors, const char *config_text,
			    char *committed, size_t committed_len);

/* ax_ckpt_verify - check a committed checkpoint directory: MANIFEST present,
 * state.h5 size and CRC-32, format, and every tensor readable with its
 * checksum. Writes one line per finding to `report` (may be NULL).
 * AX_OK, or AX_ERR_IO / AX_ERR_INVALID saying what is wrong. */
enum ax_status ax_ckpt_verify(const char *path, FILE *report);

/* ax_ckpt_load - verify `path`, then read its meta and copy its tensors into
 * `params` and into the optimizer buffers named in `into` (matched by name;
 * a buffer the checkpoint lacks is an error). Nothing is changed unless
 * everything was read. *config_out (may be NULL) gets the stored config text
 * (ax_alloc'd). Errors name the tensor and both shapes. */
enum ax_status ax_ckpt_load(const char *path, struct ax_ckpt_meta *meta,
			    const struct ax_ckpt_tensors *into, char **config_out);

/* ax_ckpt_find_latest - the newest committed checkpoint under `dir` that
 * verifies, into path; older ones are tried in turn and every rejected one is
 * logged with its reason to `log`. AX_ERR_RANGE when there is none. */
enum ax_status ax_ckpt_find_latest(const char *dir, char *path, size_t len, FILE *log);

/* ax_ckpt_cleanup - delete leftovers of interrupted saves (step-*.tmp) and
 * all but the newest `keep_last` committed checkpoints (0: keep them all),
 * never `keep_also` (a path spelled as ax_ckpt_save returned it, may be
 * NULL: the best one; kept in addition when it is not among the newest).
 * Returns how many were removed. Not while a save into `dir` is in flight
 * (call ax_ckpt_saver_wait first): its step-N.tmp would be deleted. */
int ax_ckpt_cleanup(const char *dir, int keep_last, const char *keep_also, FILE *log);

/* ax_ckpt_inspect - print a checkpoint's metadata and tensor list. */
enum ax_status ax_ckpt_inspect(const char *path, FILE *out);

/* ---- the background saver ---- */

/* Saving a large model takes seconds; the step must not wait for it. submit
 * copies the state into buffers the saver owns (the only time training is
 * held up: a memcpy) and a thread writes and commits it. One save is in
 * flight at a time: submit first waits for the previous one. The thread
 * runs at nice +10 from the process's, so it takes the CPU time training
 * leaves rather than preempting it. */
struct ax_ckpt_saver;

enum ax_status ax_ckpt_saver_create(const char *dir, struct ax_ckpt_saver **out);
/* ax_ckpt_saver_submit - snapshot and start saving; returns the previous
 * save's status (a failed save is reported here or by wait). */
enum ax_status ax_ckpt_saver_submit(struct ax_ckpt_saver *saver, const struct ax_ckpt_meta *meta,
				    const struct ax_ckpt_tensors *tensors, const char *config_text);
/* ax_ckpt_saver_wait - wait for the save in flight; its status, and its
 * committed path into `committed` (may be NULL). */
enum ax_status ax_ckpt_saver_wait(struct ax_ckpt_saver *saver, char *committed, size_t len);
/* Seconds the last submit held the caller (the snapshot copy) and the last
 * save took in the background. */
void ax_ckpt_saver_times(const struct ax_ckpt_saver *saver, double *snapshot_seconds,
			 double *save_seconds);
void ax_ckpt_saver_destroy(struct ax_ckpt_saver *saver);

#ifdef __cplusplus
}
#endif
#endif
