/* evaluate.c - building the configured model for a dataset, and one
 * evaluation pass (shared by train's validation, eval and predict).
 *
 * Evaluation reads the dataset in natural order through the same loader as
 * training (so the same normalisation applies), with the remainder kept so
 * every sample counts once, in no-grad mode so no tape is recorded. The loss
 * is summed per sample in double and divided once at the end. */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>

#include "run.h"

void openblas_set_num_threads(int num_threads);

int ax_run_threads(int requested)
{
	int threads = requested;

	if (threads <= 0) {
		cpu_set_t set;

		threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
		if (threads < 1)
			threads = 1;
	}
	openblas_set_num_threads(threads);
	return threads;
}

void ax_run_report(const char *command, enum ax_status st)
{
	fprintf(stderr, "axon %s: %s\n", command, st ? ax_last_error() : "ok");
}

enum ax_status ax_run_input(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			    const int64_t *shape, void *host, struct ax_tensor **out)
{
	enum ax_status st;
	struct ax_tensor *t;

	if (ax_ctx_device(ctx).kind == AX_DEVICE_CPU)
		return ax_tensor_wrap(ctx, dtype, ndim, shape, host, out);
	st = ax_tensor_new(ctx, dtype, ndim, shape, 0, &t);
	if (!st)
		st = ax_tensor_upload(t, host, (size_t)ax_tensor_numel(t) * ax_dtype_size(dtype));
	*out = st ? NULL : t;
	return st;
}

enum ax_status ax_run_host_f32(struct ax_ctx *ctx, const struct ax_tensor *t, const float **out)
{
	size_t bytes = (size_t)ax_tensor_numel(t) * sizeof(float);
	enum ax_status st;
	void *host;

	if (t->device.kind == AX_DEVICE_CPU) {
		*out = t->data;
		return AX_OK;
	}
	host = ax_ctx_alloc(ctx, bytes ? bytes : 1);
	if (!host)
		return AX_ERR_NOMEM;
	st = ax_tensor_download(t, host, bytes);
	*out = st ? NULL : host;
	return st;
}

enum ax_status ax_run_model(const struct ax_config *cfg, const struct ax_dataset_info *info,
			    const char *data_dir, struct ax_device device, struct ax_model **out)
{
	struct ax_model *model;
	int64_t shape[AX_MAX_DIMS];
	int ndim, last;
	enum ax_status st;

	st = ax_model_create_on(cfg->layers, cfg->n_layers, info->sample_ndim, info->sample_shape,
				(uint64_t)cfg->model_seed, device, &model);
	if (st)
		return st;
	last = ax_model_num_layers(model) - 1;
	ndim = ax_model_layer_shape(model, last, shape);
	if (strcmp(cfg->loss, "cross_entropy") == 0) {
		if (info->target_kind != AX_TARGET_CLASS) {
			st = AX_ERROR(AX_ERR_INVALID, "config %s: loss cross_entropy needs class labels, "
				      "but %s has regression targets; use loss = mse", cfg->source,
				      data_dir);
		} else if (ndim != 1 || shape[0] != info->num_classes) {
			char buf[64];

			st = AX_ERROR(AX_ERR_SHAPE, "config %s: the last layer %s gives %s per sample, "
				      "but %s has %d classes; make it 'linear %d'", cfg->source,
				      ax_model_layer(model, last)->name,
				      ax_shape_str(ndim, shape, buf, sizeof(buf)), data_dir,
				      info->num_classes, info->num_classes);
		}
	} else if (info->target_kind != AX_TARGET_REGRESSION) {
		st = AX_ERROR(AX_ERR_INVALID, "config %s: loss mse needs float targets, but %s has "
			      "class labels; use loss = cross_entropy", cfg->source, data_dir);
	} else if (ndim != 1 || shape[0] != info->target_dim) {
		st = AX_ERROR(AX_ERR_SHAPE, "config %s: the last layer gives %lld outputs but %s has "
			      "%lld targets per sample", cfg->source, (long long)shape[0], data_dir,
			      (long long)info->target_dim);
	}
	if (st) {
		ax_model_destroy(model);
		return st;
	}
	*out = model;
	return AX_OK;
}

enum ax_status ax_run_evaluate(struct ax_model *model, struct ax_ctx *ctx, struct ax_dataset *ds,
			       const struct ax_config *cfg, struct ax_dist *dist,
			       struct ax_eval *result, ax_eval_batch_fn per_batch, void *user)
{
	const struct ax_dataset_info *info = ax_dataset_info(ds);
	struct ax_loader_options o;
	struct ax_loader *loader = NULL;
	struct ax_batch b;
	int was_grad = ax_ctx_set_grad_enabled(ctx, 0), was_training = ax_ctx_set_training(ctx, 0);
	double loss_sum = 0;
	enum ax_status st;

	memset(&o, 0, sizeof(o));
	o.batch_size = cfg->batch_size;
	o.sampler.rank = ax_dist_rank(dist);
	o.sampler.world = ax_dist_world(dist);
	o.sampler.window_shards = cfg->window_shards;
	o.normalize = 1;
	o.max_epochs = 1;
	o.prefetch = cfg->prefetch;
	result->loss = 0;
	result->samples = 0;
	st = ax_loader_create(ds, &o, NULL, &loader);
	while (!st) {
		int64_t xs[AX_MAX_DIMS + 1], width;
		struct ax_tensor *x, *y, *out, *loss;
		const float *logits = NULL, *loss_value = NULL;

		st = ax_loader_next(loader, &b);
		if (st == AX_ERR_RANGE) { /* the loader's "no more data": the pass is complete */
			ax_clear_error();
			st = AX_OK;
			break;
		}
		if (st)
			break;
		xs[0] = b.size;
		memcpy(xs + 1, info->sample_shape, sizeof(int64_t) * (size_t)info->sample_ndim);
		st = ax_run_input(ctx, AX_F32, info->sample_ndim + 1, xs, b.inputs, &x);
		if (!st)
			st = ax_model_forward(model, ctx, x, &out);
		width = st ? 0 : out->shape[out->ndim - 1];
		if (!st && info->target_kind == AX_TARGET_CLASS) {
			struct ax_ce_options ce = {cfg->label_smoothing, -100};

			st = ax_run_input(ctx, AX_I32, 1, &b.size, b.labels, &y);
			if (!st)
				st = ax_cross_entropy(ctx, out, y, &ce, &loss);
		} else if (!st) {
			int64_t ts[2] = {b.size, info->target_dim};

			st = ax_run_input(ctx, AX_F32, 2, ts, b.targets, &y);
			if (!st)
				st = ax_mse(ctx, out, y, &loss);
		}
		/* Metrics are computed on the host (one copy of the logits per batch on a GPU). */
		if (!st)
			st = ax_run_host_f32(ctx, out, &logits);
		if (!st)
			st = ax_run_host_f32(ctx, loss, &loss_value);
		if (!st && info->target_kind == AX_TARGET_CLASS && result->confusion)
			st = ax_confusion_add_logits(result->confusion, logits, b.labels, b.size);
		if (!st) {
			loss_sum += (double)*loss_value * (double)b.size;
			result->samples += b.size;
		}
		if (!st && per_batch)
			st = per_batch(user, &b, logits, width);
		if (!st)
			st = ax_ctx_reset(ctx);
		else
			ax_ctx_reset(ctx);
	}
	ax_loader_destroy(loader);
	ax_ctx_set_grad_enabled(ctx, was_grad);
	ax_ctx_set_training(ctx, was_training);
	/* Every rank reaches the reductions, failed or not, so none is left waiting. */
	if (ax_dist_world(dist) > 1) {
		double sums[3] = {loss_sum, (double)result->samples, st ? 1.0 : 0.0};
		enum ax_status rst = ax_dist_sum_f64(dist, sums, 3);

		if (!rst && result->confusion)
			rst = ax_dist_sum_i64(dist, result->confusion->counts,
					      (int64_t)result->confusion->num_classes *
						      result->confusion->num_classes);
		if (!st && !rst && sums[2] > 0)
			st = AX_ERROR(AX_ERR_IO, "evaluation failed on another rank (see its message)");
		if (!st)
			st = rst;
		loss_sum = sums[0];
		result->samples = (int64_t)sums[1];
	}
	if (!st && result->samples > 0)
		result->loss = loss_sum / (double)result->samples;
	return st;
}
