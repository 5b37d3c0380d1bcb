/* train.c - the Fashion-MNIST MLP of config.ini, written against the library API.
 *
 *   build/examples/fashion_mnist_mlp_train DATA_DIR [EPOCHS]
 *
 * DATA_DIR holds train/, val/ and test/ as written by
 * `axon data convert --fashion-mnist --out DATA_DIR --val-fraction 0.1`.
 * The same model, optimizer and schedule as config.ini: 784-256-128-10 with
 * ReLU and dropout 0.2, AdamW (lr 1e-3, weight decay 1e-2), batch 64, cosine
 * schedule; it prints the validation accuracy per epoch and the test
 * accuracy at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/axon.h"
#include "axon/data.h"

#define CHECK(expr)                                                                       \
	do {                                                                              \
		enum ax_status st_ = (expr);                                              \
		if (st_ != AX_OK) {                                                       \
			fprintf(stderr, "fashion_mnist_mlp: %s\n", ax_last_error());     \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

enum { BATCH = 64 };

/* Accuracy of the model on a dataset, in evaluation mode. */
static double accuracy(struct ax_model *model, struct ax_ctx *ctx, struct ax_dataset *ds)
{
	const struct ax_dataset_info *info = ax_dataset_info(ds);
	struct ax_loader_options lo = {.batch_size = 256, .sampler = {.world = 1}, .normalize = 1,
				       .max_epochs = 1};
	struct ax_loader *loader;
	struct ax_confusion *conf;
	struct ax_class_metrics m;
	struct ax_batch b;

	CHECK(ax_confusion_create(info->num_classes, &conf));
	CHECK(ax_loader_create(ds, &lo, NULL, &loader));
	ax_ctx_set_grad_enabled(ctx, 0);
	ax_ctx_set_training(ctx, 0);
	while (ax_loader_next(loader, &b) == AX_OK) {
		const int64_t shape[3] = {b.size, 28, 28};
		struct ax_tensor *x, *logits;

		CHECK(ax_tensor_wrap(ctx, AX_F32, 3, shape, b.inputs, &x));
		CHECK(ax_model_forward(model, ctx, x, &logits));
		CHECK(ax_confusion_add_logits(conf, logits->data, b.labels, b.size));
		CHECK(ax_ctx_reset(ctx));
	}
	ax_ctx_set_grad_enabled(ctx, 1);
	ax_ctx_set_training(ctx, 1);
	CHECK(ax_confusion_metrics(conf, &m, NULL, NULL, NULL));
	ax_loader_destroy(loader);
	ax_confusion_destroy(conf);
	return m.accuracy;
}

int main(int argc, char **argv)
{
	char path[1024];
	struct ax_dataset *train, *val, *test;
	struct ax_layer_spec layers[8];
	struct ax_model *model;
	struct ax_optimizer *opt;
	struct ax_optim_options oo = ax_optim_defaults(AX_OPTIM_ADAMW);
	struct ax_schedule sched = {0};
	struct ax_loader_options lo = {0};
	struct ax_loader *loader;
	struct ax_ctx *ctx;
	struct ax_batch b;
	int64_t epochs = argc > 2 ? atoll(argv[2]) : 10, step = 0, steps_per_epoch;
	double loss_sum = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DATA_DIR [EPOCHS]\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/train", argv[1]);
	CHECK(ax_dataset_open(path, &train));
	snprintf(path, sizeof(path), "%s/val", argv[1]);
	CHECK(ax_dataset_open(path, &val));
	snprintf(path, sizeof(path), "%s/test", argv[1]);
	CHECK(ax_dataset_open(path, &test));

	/* model = Sequential(Flatten, Linear(784, 256), ReLU, Dropout(0.2),
	 *                    Linear(256, 128), ReLU, Dropout(0.2), Linear(128, 10)) */
	ax_layer_spec_default(&layers[0], AX_LAYER_FLATTEN, "flatten");
	ax_layer_spec_default(&layers[1], AX_LAYER_LINEAR, "fc1");
	layers[1].out_features = 256;
	ax_layer_spec_default(&layers[2], AX_LAYER_RELU, "relu1");
	ax_layer_spec_default(&layers[3], AX_LAYER_DROPOUT, "drop1");
	layers[3].p = 0.2f;
	ax_layer_spec_default(&layers[4], AX_LAYER_LINEAR, "fc2");
	layers[4].out_features = 128;
	ax_layer_spec_default(&layers[5], AX_LAYER_RELU, "relu2");
	ax_layer_spec_default(&layers[6], AX_LAYER_DROPOUT, "drop2");
	layers[6].p = 0.2f;
	ax_layer_spec_default(&layers[7], AX_LAYER_LINEAR, "fc3");
	layers[7].out_features = 10;
	CHECK(ax_model_create(layers, 8, ax_dataset_info(train)->sample_ndim,
			      ax_dataset_info(train)->sample_shape, 1, &model));

	/* opt = AdamW(lr=1e-3, weight_decay=1e-2); cosine schedule over all steps */
	oo.weight_decay = 1e-2f;
	CHECK(ax_optimizer_create(ax_model_params(model), &oo, &opt));
	steps_per_epoch = ax_dataset_info(train)->num_samples / BATCH;
	sched.kind = AX_SCHED_COSINE;
	sched.base_lr = 1e-3f;
	sched.total_steps = epochs * steps_per_epoch;
	CHECK(ax_schedule_validate(&sched));

	lo.batch_size = BATCH;
	lo.sampler = (struct ax_sampler_options){.seed = 1, .world = 1, .shuffle = 1,
						 .drop_remainder = 1};
	lo.normalize = 1;
	lo.drop_last = 1;
	lo.max_epochs = epochs;
	CHECK(ax_loader_create(train, &lo, NULL, &loader));
	CHECK(ax_ctx_create(NULL, &ctx));

	while (ax_loader_next(loader, &b) == AX_OK) {
		const int64_t shape[3] = {b.size, 28, 28};
		struct ax_tensor *x, *y, *logits, *loss;

		/* Gradients start zero and step_clear leaves them zero: no zero_grad. */
		CHECK(ax_tensor_wrap(ctx, AX_F32, 3, shape, b.inputs, &x));
		CHECK(ax_tensor_wrap(ctx, AX_I32, 1, &b.size, b.labels, &y));
		CHECK(ax_model_forward(model, ctx, x, &logits));
		CHECK(ax_cross_entropy(ctx, logits, y, NULL, &loss));
		CHECK(ax_backward(ctx, loss));
		CHECK(ax_optimizer_step_clear(opt, ax_schedule_lr(&sched, step++)));
		loss_sum += *(float *)loss->data;
		CHECK(ax_ctx_reset(ctx));
		if (b.last_in_epoch) {
			printf("epoch %2lld  train loss %.4f  val accuracy %.4f\n", (long long)b.epoch + 1,
			       loss_sum / (double)steps_per_epoch, accuracy(model, ctx, val));
			loss_sum = 0;
		}
	}
	printf("test accuracy %.4f (10,000 images never used for training)\n",
	       accuracy(model, ctx, test));

	ax_loader_destroy(loader);
	ax_ctx_destroy(ctx);
	ax_optimizer_destroy(opt);
	ax_model_destroy(model);
	ax_dataset_close(train);
	ax_dataset_close(val);
	ax_dataset_close(test);
	return 0;
}
