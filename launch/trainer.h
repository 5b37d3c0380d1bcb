/* trainer.h - the state of one `axon train` run, shared by train.c (set-up
 * and the step loop), train_report.c (progress, validation, weights files)
 * and train_ckpt.c (checkpoints, resume, roll-back). */
#ifndef AXON_LAUNCH_TRAINER_H
#define AXON_LAUNCH_TRAINER_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "axon/ckpt.h"
#include "coordinator.h"
#include "run.h"

struct profile {
	double data, forward, backward, comm, optimizer;
	int64_t steps;
};

struct trainer {
	struct ax_config cfg;
	struct ax_dist *dist;
	struct ax_grad_sync *sync;
	int rank, world, show_profile, rank_logs;
	int64_t micro_batch;
	struct profile prof;
	FILE *rank_log;
	struct ax_dataset *train, *val;
	struct ax_model *model;
	struct ax_params *params;
	struct ax_optimizer *opt;
	struct ax_schedule sched;
	struct ax_loader *loader;
	struct ax_ctx *ctx;
	struct ax_confusion *confusion;
	FILE *metrics;
	char *config_text;
	int tty, threads;
	int64_t total_steps, steps_per_epoch;
	double start, last_print;
	int64_t start_step;          /* t->step when this process began (after a resume) */
	/* early stopping */
	double best;
	int64_t best_step, bad_evals;
	int have_best;
	/* checkpoints and the coordinator (train_ckpt.c) */
	struct ax_ckpt_saver *saver;
	char ckpt_dir[AX_CONFIG_PATH_MAX + 16];
	char best_ckpt[AX_CONFIG_PATH_MAX + 64];
	const char *resume;          /* --resume: NULL/"none", "auto" or a path */
	int64_t step;                /* optimizer steps done */
	int64_t epoch;
	double lr_scale;             /* lowered by NaN roll-backs */
	int64_t nan_streak;
	int64_t attempts;            /* step attempts, skipped ones included (the NaN fault hook) */
	double last_save;            /* when the last checkpoint was submitted */
	int64_t last_saved_step;
	/* the device (train.c): a GPU run keeps the batch staging ring, the
	 * next step's first batch uploaded ahead, and host copies of the
	 * parameters and optimizer state for checkpoints (train_ckpt.c) */
	struct ax_device device;
	struct ax_stager *stager;
	size_t stage_x_bytes, stage_y_bytes;
	int have_next, next_end;          /* a staged batch waits; or the data ended */
	struct ax_batch next;             /* its metadata (host pointers not used) */
	void *next_x, *next_y;            /* where it is on the device */
	struct ax_data_cursor next_cursor; /* the loader's cursor before it was read */
	float *host_params, *host_state[2];
};

double ax_train_now(void);

/* train_report.c */
void ax_train_write_json(struct trainer *t, cJSON *obj);
void ax_train_progress(struct trainer *t, int64_t step, int64_t epoch, double loss, float lr,
		       int force_log);
enum ax_status ax_train_validate(struct trainer *t, int64_t step, int64_t epoch, int *stop);
enum ax_status ax_train_save_weights(struct trainer *t, const char *file, int64_t step,
				     int64_t epoch, const char *metric, double value);

/* train_ranks.c (collective) */
/* Set-up is over when every rank says it went well: a rank that failed
 * returns its own error, the others one naming the rank that stopped them. */
enum ax_status ax_train_agree(struct trainer *t, enum ax_status st, const char *phase);
/* Same model and device kind on every rank, rank 0's weights everywhere, the
 * gradient transport connected and its time limit set. */
enum ax_status ax_train_join(struct trainer *t);

/* train_ckpt.c */
/* GPU runs: copy parameters and optimizer state between the device and the
 * host copies (no-ops on the CPU). */
enum ax_status ax_train_pull_state(struct trainer *t);
enum ax_status ax_train_push_state(struct trainer *t);
enum ax_status ax_train_ckpt_setup(struct trainer *t);
/* Resume per --resume: fills t->step/epoch/..., returns the data cursor to
 * start the loader from in *cursor (*have_cursor 0 when starting fresh). */
enum ax_status ax_train_ckpt_resume(struct trainer *t, struct ax_data_cursor *cursor,
				    int *have_cursor);
/* Submit a checkpoint of the state after t->step steps (the loader's cursor
 * says where the data stands); rank 0 writes it, every rank takes part. */
enum ax_status ax_train_ckpt_save(struct trainer *t, int wait, int as_best);
/* Roll back to the newest checkpoint and lower the learning rate. */
enum ax_status ax_train_ckpt_rollback(struct trainer *t);
void ax_train_ckpt_teardown(struct trainer *t);

#endif
