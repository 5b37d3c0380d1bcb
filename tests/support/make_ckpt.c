/* make_ckpt.c - write a small checkpoint for the CLI tests.
 *
 * usage: make_ckpt DIR STEP
 * Saves a 20-16-3 MLP's parameters and two AdamW buffers with metadata for
 * two ranks as DIR/step-<STEP> through ax_ckpt_save (the real commit
 * protocol) and prints the committed path. The values depend on STEP, so
 * two checkpoints differ. Exit 0, or 1 with axon's message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/axon.h"
#include "axon/ckpt.h"

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int ndim;
		int64_t shape[2];
	} specs[] = {{"fc1.weight", 2, {16, 20}}, {"fc1.bias", 1, {16}},
		     {"fc2.weight", 2, {3, 16}}, {"fc2.bias", 1, {3}}};
	struct ax_params *params = NULL;
	struct ax_ckpt_tensors tensors = {0};
	struct ax_ckpt_meta *meta = calloc(1, sizeof(*meta));
	float *opt[2] = {NULL, NULL};
	char committed[4200];
	enum ax_status st;
	long long step;
	size_t size;
	int rc = 1;

	if (argc != 3 || sscanf(argv[2], "%lld", &step) != 1 || step < 0) {
		fprintf(stderr, "usage: make_ckpt DIR STEP\n");
		return 2;
	}
	if (!meta)
		return 1;
	st = ax_params_create(AX_CPU, &params);
	for (size_t i = 0; !st && i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct ax_tensor *t;

		st = ax_params_add(params, specs[i].name, specs[i].ndim, specs[i].shape, 0, &t);
	}
	if (!st)
		st = ax_params_finalize(params);
	if (st)
		goto done;
	size = (size_t)ax_params_size(params);
	for (int b = 0; b < 2; b++) {
		opt[b] = calloc(size, sizeof(float));
		if (!opt[b])
			goto done;
	}
	for (size_t k = 0; k < size; k++) {
		float *w = ax_params_data(params);

		w[k] = (float)((k * 7 + (size_t)step) % 101) / 50.0f - 1.0f;
		opt[0][k] = w[k] * 0.1f;
		opt[1][k] = w[k] * w[k] * 0.01f;
	}
	tensors.params = params;
	tensors.param_data = ax_params_data(params);
	tensors.n_opt = 2;
	tensors.opt_names[0] = "exp_avg";
	tensors.opt_names[1] = "exp_avg_sq";
	tensors.opt_data[0] = opt[0];
	tensors.opt_data[1] = opt[1];
	meta->step = step;
	meta->epoch = step / 100;
	meta->data_seed = 12345;
	meta->data_position = step * 20;
	meta->optimizer_steps = step;
	meta->have_best = 1;
	meta->best = 0.875;
	meta->best_step = step;
	meta->lr_scale = 1.0;
	meta->world = 2;
	meta->rng_seed[0] = 1;
	meta->rng_seed[1] = 2;
	st = ax_ckpt_save(argv[1], meta, &tensors, "[model]\nfc1 = linear 16\n", committed,
			  sizeof(committed));
	if (!st) {
		printf("%s\n", committed);
		rc = 0;
	}
done:
	if (st)
		fprintf(stderr, "make_ckpt: %s\n", ax_last_error());
	free(opt[0]);
	free(opt[1]);
	free(meta);
	ax_params_destroy(params);
	return rc;
}
