/* run.h - what the train, eval and predict commands share: building the model
 * a config describes for a dataset, threads, and one pass of evaluation. */
#ifndef AXON_LAUNCH_RUN_H
#define AXON_LAUNCH_RUN_H

#include <stdio.h>

#include "axon/axon.h"
#include "axon/data.h"
#include "axon/dist.h"
#include "config.h"

/* The subcommands (return the process exit code). */
int ax_cmd_train(int argc, char **argv);
int ax_cmd_eval(int argc, char **argv);
int ax_cmd_predict(int argc, char **argv);

/* ax_run_threads - set the BLAS threads for this process: `requested`, or
 * when 0 the cores this process may run on (its affinity mask, so ranks
 * bound by mpirun or srun each get their own share). Returns the count. */
int ax_run_threads(int requested);

/* ax_run_model - the config's model for samples of `info`, checked against
 * the dataset: for cross-entropy the last layer must give num_classes
 * outputs; for MSE, target_dim. Errors name the layer and the dataset. */
enum ax_status ax_run_model(const struct ax_config *cfg, const struct ax_dataset_info *info,
			    const char *data_dir, struct ax_device device, struct ax_model **out);

/* ax_run_input - a batch tensor on ctx's device from host memory: a view of
 * `host` on the CPU, an uploaded copy in the step arena on a GPU. */
enum ax_status ax_run_input(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			    const int64_t *shape, void *host, struct ax_tensor **out);

/* ax_run_host_f32 - t's values readable on the host: t->data on the CPU, a
 * downloaded copy in ctx's host arena (valid until ax_ctx_reset) on a GPU. */
enum ax_status ax_run_host_f32(struct ax_ctx *ctx, const struct ax_tensor *t, const float **out);


/* One pass over a dataset in evaluation mode (no grad, no dropout, natural
 * order, every sample once). With `dist` (may be NULL) each rank evaluates its
 * share and the loss, sample count and confusion counts are summed over
 * ranks, so every rank ends with the same result. */
struct ax_eval {
	double loss;           /* mean over samples */
	int64_t samples;
	struct ax_confusion *confusion; /* classification only; caller-owned, may be NULL */
};

/* Called per batch with the model's outputs (batch, outputs) as host floats. */
typedef enum ax_status (*ax_eval_batch_fn)(void *user, const struct ax_batch *batch,
					   const float *outputs, int64_t width);

enum ax_status ax_run_evaluate(struct ax_model *model, struct ax_ctx *ctx, struct ax_dataset *ds,
			       const struct ax_config *cfg, struct ax_dist *dist,
			       struct ax_eval *result, ax_eval_batch_fn per_batch, void *user);

/* Print an error the way every command does: "axon: <message>". */
void ax_run_report(const char *command, enum ax_status st);

#endif
