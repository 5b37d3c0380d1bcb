/* xor_mlp.c - train a small MLP on XOR through the axon library API.
 *
 * The shape of the classic PyTorch loop, in C:
 *
 *     model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
 *     opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
 *     for epoch in range(200):
 *         opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()
 *
 * Prints the falling loss and the final predictions; exits non-zero if the
 * model did not learn XOR (so it doubles as a smoke test). */
#include <stdio.h>
#include <stdlib.h>

#include "axon/axon.h"

#define CHECK(expr)                                                                   \
	do {                                                                          \
		enum ax_status st_ = (expr);                                          \
		if (st_ != AX_OK) {                                                   \
			fprintf(stderr, "xor_mlp: %s failed: %s\n", #expr, ax_last_error()); \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

int main(void)
{
	/* The four XOR cases, repeated to a batch of 8. */
	float inputs[8][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 0}, {0, 1}, {1, 0}, {1, 1}};
	int32_t labels[8] = {0, 1, 1, 0, 0, 1, 1, 0};
	const int64_t x_shape[2] = {8, 2}, y_shape[1] = {8};
	const int64_t w1_shape[2] = {16, 2}, b1_shape[1] = {16};
	const int64_t w2_shape[2] = {2, 16}, b2_shape[1] = {2};
	struct ax_params *params;
	struct ax_tensor *w1, *b1, *w2, *b2;
	struct ax_ctx *ctx;
	struct ax_optimizer *sgd;
	struct ax_optim_options sgd_options = {.kind = AX_OPTIM_SGD, .momentum = 0.9f};
	struct ax_rng rng;
	float loss_value = 0;
	int correct = 0;

	/* model: parameters are named as in a PyTorch state_dict */
	CHECK(ax_params_create(AX_CPU, &params));
	CHECK(ax_params_add(params, "fc1.weight", 2, w1_shape, 0, &w1));
	CHECK(ax_params_add(params, "fc1.bias", 1, b1_shape, AX_PARAM_NO_DECAY, &b1));
	CHECK(ax_params_add(params, "fc2.weight", 2, w2_shape, 0, &w2));
	CHECK(ax_params_add(params, "fc2.bias", 1, b2_shape, AX_PARAM_NO_DECAY, &b2));
	CHECK(ax_params_finalize(params));
	ax_rng_init(&rng, 2026);
	CHECK(ax_init_xavier_uniform(w1, &rng));
	CHECK(ax_init_xavier_uniform(w2, &rng));

	CHECK(ax_ctx_create(NULL, &ctx));
	CHECK(ax_optimizer_create(params, &sgd_options, &sgd));

	for (int epoch = 1; epoch <= 200; epoch++) {
		struct ax_tensor *x, *y, *h, *logits, *loss;

		CHECK(ax_params_zero_grad(params));
		CHECK(ax_tensor_wrap(ctx, AX_F32, 2, x_shape, inputs, &x));
		CHECK(ax_tensor_wrap(ctx, AX_I32, 1, y_shape, labels, &y));
		CHECK(ax_linear(ctx, x, w1, b1, &h));      /* (8, 16) */
		CHECK(ax_tanh(ctx, h, &h));
		CHECK(ax_linear(ctx, h, w2, b2, &logits)); /* (8, 2) */
		CHECK(ax_cross_entropy(ctx, logits, y, NULL, &loss));
		CHECK(ax_backward(ctx, loss));
		CHECK(ax_optimizer_step(sgd, 0.5f));
		loss_value = *(float *)loss->data;
		if (epoch == 1 || epoch % 20 == 0)
			printf("epoch %3d  loss %.5f\n", epoch, loss_value);
		CHECK(ax_ctx_reset(ctx));
	}

	/* Evaluate without recording. */
	{
		struct ax_tensor *x, *h, *logits, *probs;

		ax_ctx_set_grad_enabled(ctx, 0);
		ax_ctx_set_training(ctx, 0);
		CHECK(ax_tensor_wrap(ctx, AX_F32, 2, x_shape, inputs, &x));
		CHECK(ax_linear(ctx, x, w1, b1, &h));
		CHECK(ax_tanh(ctx, h, &h));
		CHECK(ax_linear(ctx, h, w2, b2, &logits));
		CHECK(ax_softmax(ctx, logits, -1, &probs));
		for (int i = 0; i < 4; i++) {
			const float *p = (const float *)probs->data + 2 * i;
			int predicted = p[1] > p[0];

			correct += predicted == labels[i];
			printf("%g xor %g -> %d  (p = %.3f)\n", inputs[i][0], inputs[i][1], predicted,
			       p[predicted]);
		}
	}
	printf("final loss %.5f, %d/4 correct\n", loss_value, correct);

	ax_optimizer_destroy(sgd);
	ax_ctx_destroy(ctx);
	ax_params_destroy(params);
	return correct == 4 && loss_value < 0.05f ? 0 : 1;
}
