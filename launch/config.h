/* config.h - the training config: an INI file people read and edit.
 *
 *   [data]       train, val, test (dataset directories), batch_size (global), ...
 *   [model]      one line per layer, in order: NAME = KIND [ARGS]
 *                    fc1 = linear 256
 *                    drop1 = dropout 0.2
 *                    res1 = add residual=fc1
 *   [optimizer]  name = sgd | adam | adamw, lr, weight_decay, ...
 *   [schedule]   name = constant | step | cosine, warmup_steps, ...
 *   [loop]       epochs or steps, eval_every, early stopping, loss, ...
 *   [output]     dir
 *   [checkpoint] every_steps, every_minutes, keep_last, nan_patience, ...
 *
 * Every key is checked: an unknown section or key, a missing required key or
 * a bad value is an error naming the file, the line and the key. `--set
 * section.key=value` overrides are checked the same way. The resolved config
 * (every key, defaults filled in) is what a run directory records. */
#ifndef AXON_LAUNCH_CONFIG_H
#define AXON_LAUNCH_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "axon/axon.h"

#define AX_CONFIG_MAX_LAYERS 64
#define AX_CONFIG_PATH_MAX 1024

struct ax_config {
	char source[AX_CONFIG_PATH_MAX]; /* the file it came from */

	/* [data] */
	char train[AX_CONFIG_PATH_MAX], val[AX_CONFIG_PATH_MAX], test[AX_CONFIG_PATH_MAX];
	int64_t batch_size;          /* global: split evenly over ranks */
	int shuffle;
	int64_t data_seed;
	int crop_padding, hflip;
	int window_shards, prefetch;

	/* [model] */
	struct ax_layer_spec layers[AX_CONFIG_MAX_LAYERS];
	int n_layers;
	int64_t model_seed;

	/* [optimizer] */
	char optimizer[16];          /* sgd, adam, adamw */
	float lr, momentum, dampening, beta1, beta2, eps, weight_decay, clip_grad_norm;
	int nesterov;

	/* [schedule] */
	char schedule[16];           /* constant, step, cosine */
	int64_t warmup_steps, step_size;
	float gamma, min_lr, warmup_start_factor;

	/* [loop] */
	int64_t epochs, steps;       /* one of them > 0; steps wins */
	int64_t eval_every;          /* steps between validations; 0 = every epoch */
	int64_t log_every;           /* steps between log lines */
	char loss[16];               /* cross_entropy, mse */
	float label_smoothing;
	char early_stopping_metric[32]; /* val_loss, val_accuracy, val_f1, ... ; "" = off */
	int64_t patience;
	float min_delta;
	int threads;                 /* BLAS threads per rank; 0 = the cores available */
	int64_t accumulate_steps;    /* micro-batches per optimizer step */
	int64_t bucket_kib;          /* gradient all-reduce bucket size; 0 = default */
	char device[8];              /* auto, cpu, cuda */
	char grad_transport[8];      /* auto, shm, mpi: how CPU gradients are all-reduced */
	char precision[8];           /* f32, bf16 (matmul/linear on CUDA) */

	/* [output] */
	char dir[AX_CONFIG_PATH_MAX];

	/* [checkpoint] */
	int64_t ckpt_every_steps;    /* 0: by time only */
	float ckpt_every_minutes;    /* 0: by steps only */
	int64_t ckpt_keep_last;
	int64_t nan_patience;        /* non-finite steps in a row before a roll-back */
	float nan_lr_factor;         /* learning rate multiplier at a roll-back */
	float watchdog_seconds;      /* 0: no watchdog */
};

/* ax_config_defaults - every field at its default (no layers, no paths). */
void ax_config_defaults(struct ax_config *cfg);

/* ax_config_load - read `path` into cfg (defaults first), then apply the
 * overrides "section.key=value" in order, then check that required keys are
 * there and values are consistent. Errors: AX_ERR_IO (cannot read),
 * AX_ERR_INVALID (with file:line and key). */
enum ax_status ax_config_load(struct ax_config *cfg, const char *path, int n_overrides,
			      char *const *overrides);

/* ax_config_write - the resolved config as INI text (every key). */
void ax_config_write(const struct ax_config *cfg, FILE *out);

/* ax_config_hash - FNV-1a of the resolved text: equal configs, equal hash. */
uint64_t ax_config_hash(const struct ax_config *cfg);

#endif
