/* train_ckpt.c - checkpoints in a training run: saving, resuming, rolling back.
 *
 * The parameters and optimizer state are identical on every rank, so rank 0
 * alone writes them (through the background saver: the step waits only for
 * the snapshot copy); the one per-rank part, each rank's RNG, is gathered to
 * it first. Resuming is the mirror image: rank 0 finds and verifies the
 * checkpoint, loads it and broadcasts the state, so N ranks do not read the
 * same file N times. The data cursor counts global positions, so a run saved
 * on one number of ranks continues on another with the same global batch;
 * only the per-rank dropout streams cannot carry over then (they are derived
 * afresh, see docs/checkpoints.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer.h"

static void rng_for_rank(struct trainer *t, int rank, struct ax_rng *rng)
{
	/* A distinct dropout stream per rank, a function of the model seed. */
	ax_rng_init(rng, (uint64_t)t->cfg.model_seed * 0x9E3779B97F4A7C15ULL + (uint64_t)rank + 1);
}

/* The host arrays a checkpoint reads and a load writes: the live buffers on
 * the CPU, the host copies (t->host_*) on a GPU. */
static void tensors_of(struct trainer *t, struct ax_ckpt_tensors *tt)
{
	int gpu = t->device.kind != AX_DEVICE_CPU;

	memset(tt, 0, sizeof(*tt));
	tt->params = t->params;
	tt->param_data = gpu ? t->host_params : ax_params_data(t->params);
	tt->n_opt = ax_optimizer_state_count(t->opt);
	if (tt->n_opt > AX_CKPT_MAX_OPT_BUFFERS)
		tt->n_opt = AX_CKPT_MAX_OPT_BUFFERS;
	for (int i = 0; i < tt->n_opt; i++) {
		float *buf = NULL;

		ax_optimizer_state(t->opt, i, &tt->opt_names[i], &buf);
		tt->opt_data[i] = gpu ? t->host_state[i] : buf;
	}
}

/* Copy the parameters and optimizer state between device and host copies. */
static enum ax_status move_state(struct trainer *t, enum ax_copy_kind kind)
{
	const struct ax_device_ops *dev = ax_device_ops_get(t->device.kind);
	size_t bytes = (size_t)ax_params_size(t->params) * sizeof(float);
	enum ax_status st;
	int n = ax_optimizer_state_count(t->opt);

	if (t->device.kind == AX_DEVICE_CPU)
		return AX_OK;
	if (!t->host_params) {
		t->host_params = calloc(1, bytes ? bytes : 1);
		for (int i = 0; i < n && i < 2; i++)
			t->host_state[i] = calloc(1, bytes ? bytes : 1);
		if (!t->host_params || (n > 0 && !t->host_state[0]) || (n > 1 && !t->host_state[1]))
			return AX_ERROR(AX_ERR_NOMEM, "train: out of memory for host copies of the "
					"state (%zu bytes each)", bytes);
	}
	st = kind == AX_COPY_D2H ? dev->copy(t->device.index, t->host_params,
					     ax_params_data(t->params), bytes, kind)
				 : dev->copy(t->device.index, ax_params_data(t->params),
					     t->host_params, bytes, kind);
	for (int i = 0; !st && i < n && i < 2; i++) {
		float *buf = NULL;

		ax_optimizer_state(t->opt, i, NULL, &buf);
		st = kind == AX_COPY_D2H ? dev->copy(t->device.index, t->host_state[i], buf, bytes, kind)
					 : dev->copy(t->device.index, buf, t->host_state[i], bytes, kind);
	}
	return st;
}

enum ax_status ax_train_pull_state(struct trainer *t)
{
	return move_state(t, AX_COPY_D2H);
}

enum ax_status ax_train_push_state(struct trainer *t)
{
	return move_state(t, AX_COPY_H2D);
}

enum ax_status ax_train_ckpt_setup(struct trainer *t)
{
	struct ax_rng rng;

	snprintf(t->ckpt_dir, sizeof(t->ckpt_dir), "%s/checkpoints", t->cfg.dir);
	t->lr_scale = 1.0;
	t->last_save = ax_train_now();
	rng_for_rank(t, t->rank, &rng);
	*ax_ctx_rng(t->ctx) = rng;
	if (t->rank != 0)
		return AX_OK;
	if (mkdir(t->ckpt_dir, 0777) != 0 && errno != EEXIST)
		return AX_ERROR(AX_ERR_IO, "train: cannot create %s: %s", t->ckpt_dir, strerror(errno));
	/* Leftovers of saves interrupted by a crash: never valid, always removed. */
	ax_ckpt_cleanup(t->ckpt_dir, 0, NULL, stdout);
	return ax_ckpt_saver_create(t->ckpt_dir, &t->saver);
}

void ax_train_ckpt_teardown(struct trainer *t)
{
	ax_ckpt_saver_destroy(t->saver);
	t->saver = NULL;
	free(t->host_params);
	free(t->host_state[0]);
	free(t->host_state[1]);
	t->host_params = t->host_state[0] = t->host_state[1] = NULL;
}

enum ax_status ax_train_ckpt_save(struct trainer *t, int wait, int as_best)
{
	struct ax_ckpt_meta *meta = calloc(1, sizeof(*meta));
	struct ax_ckpt_tensors tt;
	struct ax_data_cursor cursor;
	struct ax_rng *rng = ax_ctx_rng(t->ctx);
	int64_t *rngs = calloc((size_t)(2 * t->world), sizeof(int64_t));
	enum ax_status st;

	if (!meta || !rngs) {
		free(meta);
		free(rngs);
		return AX_ERROR(AX_ERR_NOMEM, "train: out of memory for a checkpoint");
	}
	ax_coord_beat(t->step, "checkpoint");
	/* Gather every rank's RNG to rank 0: a sum where each rank fills its slot. */
	rngs[2 * t->rank] = (int64_t)rng->seed;
	rngs[2 * t->rank + 1] = (int64_t)rng->counter;
	st = ax_dist_sum_i64(t->dist, rngs, 2 * (int64_t)t->world);
	if (st)
		goto done;
	/* Every rank records the save: "is this step saved already?" decides
	 * whether the next save (a collective) runs, so it must agree everywhere. */
	t->last_save = ax_train_now();
	t->last_saved_step = t->step;
	if (t->rank != 0)
		goto done;
	/* A batch read ahead for the next step is not consumed yet. */
	if (t->have_next)
		cursor = t->next_cursor;
	else
		ax_loader_cursor(t->loader, &cursor);
	meta->step = t->step;
	meta->epoch = t->epoch;
	meta->data_seed = cursor.seed;
	meta->data_epoch = cursor.epoch;
	meta->data_position = cursor.position;
	meta->optimizer_steps = ax_optimizer_step_count(t->opt);
	meta->have_best = t->have_best;
	meta->best = t->best;
	meta->best_step = t->best_step;
	meta->bad_evals = t->bad_evals;
	meta->lr_scale = t->lr_scale;
	meta->world = t->world;
	for (int r = 0; r < t->world && r < AX_CKPT_MAX_RANKS; r++) {
		meta->rng_seed[r] = (uint64_t)rngs[2 * r];
		meta->rng_counter[r] = (uint64_t)rngs[2 * r + 1];
	}
	st = ax_train_pull_state(t);
	if (st)
		goto done;
	tensors_of(t, &tt);
	/* The previous save must be over before retention runs (it would take
	 * the in-flight save's step-N.tmp for a leftover). A failed save (a full
	 * disk) is reported and training goes on; older checkpoints are intact. */
	st = ax_ckpt_saver_wait(t->saver, NULL, 0);
	if (st)
		fprintf(stderr, "axon train: checkpoint save failed, training continues: %s\n",
			ax_last_error());
	ax_ckpt_cleanup(t->ckpt_dir, (int)t->cfg.ckpt_keep_last, t->best_ckpt[0] ? t->best_ckpt : NULL,
			NULL);
	st = ax_ckpt_saver_submit(t->saver, meta, &tt, t->config_text);
	if (as_best)
		snprintf(t->best_ckpt, sizeof(t->best_ckpt), "%s/step-%010lld", t->ckpt_dir,
			 (long long)t->step);
	if (wait) {
		char committed[4200];

		st = ax_ckpt_saver_wait(t->saver, committed, sizeof(committed));
		if (!st) {
			printf("checkpoint: step %lld saved in %s\n", (long long)t->step, committed);
			fflush(stdout);
		}
	}
done:
	free(meta);
	free(rngs);
	return st;
}

/* Rank 0 finds (or is given) and loads a checkpoint; every rank receives the
 * state. *found is 0 when there is nothing to resume from. */
static enum ax_status load_everywhere(struct trainer *t, const char *which, int explicit_path,
				      struct ax_ckpt_meta *meta, int *found)
{
	struct ax_ckpt_tensors tt;
	char path[4200] = "";
	enum ax_status st = AX_OK;
	int64_t flags[2] = {0, 0}; /* found, failed */
	int all_ok, first_bad;

	*found = 0;
	if (t->device.kind != AX_DEVICE_CPU && !t->host_params) {
		st = ax_train_pull_state(t); /* allocates the host copies */
		if (st)
			return st;
	}
	tensors_of(t, &tt);
	if (t->rank == 0) {
		if (explicit_path) {
			snprintf(path, sizeof(path), "%s", which);
		} else {
			st = ax_ckpt_find_latest(t->ckpt_dir, path, sizeof(path), stdout);
			if (st == AX_ERR_RANGE) {
				ax_clear_error();
				st = AX_OK;
				path[0] = '\0';
			}
		}
		if (!st && path[0]) {
			st = ax_ckpt_load(path, meta, &tt, NULL);
			flags[0] = !st;
		}
		if (!st && path[0])
			printf("resume: continuing from %s (step %lld, epoch %lld, saved by %d rank(s))\n",
			       path, (long long)meta->step, (long long)meta->epoch, meta->world);
	}
	flags[1] = st != AX_OK;
	if (ax_dist_agree(t->dist, st == AX_OK, &all_ok, &first_bad) == AX_OK && !all_ok && !st)
		st = AX_ERROR(AX_ERR_STATE, "resume failed on rank %d (its message says why)", first_bad);
	if (st)
		return st;
	st = ax_dist_broadcast(t->dist, flags, sizeof(flags), 0);
	if (st || !flags[0])
		return st;
	st = ax_dist_broadcast(t->dist, meta, sizeof(*meta), 0);
	if (!st)
		st = ax_dist_broadcast(t->dist, (void *)tt.param_data,
				       (size_t)ax_params_size(t->params) * sizeof(float), 0);
	for (int i = 0; !st && i < tt.n_opt; i++)
		st = ax_dist_broadcast(t->dist, (void *)tt.opt_data[i],
				       (size_t)ax_params_size(t->params) * sizeof(float), 0);
	if (!st)
		st = ax_train_push_state(t);
	*found = !st;
	return st;
}

enum ax_status ax_train_ckpt_resume(struct trainer *t, struct ax_data_cursor *cursor,
				    int *have_cursor)
{
	struct ax_ckpt_meta *meta;
	int found = 0;
	enum ax_status st;

	*have_cursor = 0;
	if (!t->resume || strcmp(t->resume, "none") == 0)
		return AX_OK;
	meta = calloc(1, sizeof(*meta));
	if (!meta)
		return AX_ERROR(AX_ERR_NOMEM, "train: out of memory");
	st = load_everywhere(t, t->resume, strcmp(t->resume, "auto") != 0, meta, &found);
	if (!st && !found && t->rank == 0)
		printf("resume: no checkpoint in %s; starting fresh\n", t->ckpt_dir);
	if (!st && found) {
		struct ax_rng *rng = ax_ctx_rng(t->ctx);

		t->step = meta->step;
		t->epoch = meta->epoch;
		t->have_best = meta->have_best;
		t->best = meta->best;
		t->best_step = meta->best_step;
		t->bad_evals = meta->bad_evals;
		t->lr_scale = meta->lr_scale;
		t->last_saved_step = meta->step;
		st = ax_optimizer_set_step_count(t->opt, meta->optimizer_steps);
		cursor->seed = meta->data_seed;
		cursor->epoch = meta->data_epoch;
		cursor->position = meta->data_position;
		*have_cursor = 1;
		if (meta->world == t->world) {
			rng->seed = meta->rng_seed[t->rank];
			rng->counter = meta->rng_counter[t->rank];
		} else {
			/* Another world size: fresh per-rank streams, started past
			 * every saved counter so no mask repeats. */
			uint64_t top = 0;

			for (int r = 0; r < meta->world; r++)
				top = meta->rng_counter[r] > top ? meta->rng_counter[r] : top;
			rng_for_rank(t, t->rank, rng);
			rng->counter = top;
			if (t->rank == 0)
				printf("resume: saved on %d rank(s), continuing on %d with the same global "
				       "batch; dropout masks are drawn afresh\n", meta->world, t->world);
		}
	}
	free(meta);
	return st;
}

enum ax_status ax_train_ckpt_rollback(struct trainer *t)
{
	struct ax_ckpt_meta *meta = calloc(1, sizeof(*meta));
	int found = 0;
	enum ax_status st;

	if (!meta)
		return AX_ERROR(AX_ERR_NOMEM, "train: out of memory");
	/* Let a save in flight finish: it may be the newest good state. */
	if (t->rank == 0)
		ax_ckpt_saver_wait(t->saver, NULL, 0);
	st = load_everywhere(t, NULL, 0, meta, &found);
	if (!st && !found)
		st = AX_ERROR(AX_ERR_INVALID, "train: the gradients were not finite for %lld steps in a "
			      "row at step %lld and there is no checkpoint to roll back to; lower "
			      "[optimizer] lr or set clip_grad_norm", (long long)t->nan_streak,
			      (long long)t->step);
	if (!st) {
		/* The data keeps moving forward: the batches that diverged are not replayed. */
		st = ax_optimizer_set_step_count(t->opt, meta->optimizer_steps);
		/* From the lower of the current and the saved scale: a second
		 * roll-back to the same checkpoint lowers the rate again. */
		t->lr_scale = (t->lr_scale < meta->lr_scale ? t->lr_scale : meta->lr_scale) *
			      t->cfg.nan_lr_factor;
		if (t->rank == 0)
			printf("nan guard: %lld non-finite steps in a row; rolled back to the checkpoint "
			       "of step %lld, learning rate now x%.3g\n", (long long)t->nan_streak,
			       (long long)meta->step, t->lr_scale);
		if (t->rank == 0 && t->metrics) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "type", "rollback");
			cJSON_AddNumberToObject(o, "step", (double)t->step);
			cJSON_AddNumberToObject(o, "to_step", (double)meta->step);
			cJSON_AddNumberToObject(o, "lr_scale", t->lr_scale);
			ax_train_write_json(t, o);
		}
		t->nan_streak = 0;
	}
	free(meta);
	return st;
}
