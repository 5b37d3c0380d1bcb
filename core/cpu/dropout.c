/* cpu/dropout.c - inverted dropout, forward and backward.
 *
 * Element i is kept when the uniform ax_u32_to_unit(w_i) is >= p, where w_i
 * is word i of what ax_rng_u32(ctx rng, w, n) would return: dropped with
 * probability p (to within 2^-24), kept elements scaled by 1/(1-p) so the
 * expected output is x. The mask is therefore a pure function of the context
 * RNG state (restoring the state repeats it), and the state advances exactly
 * as ax_rng_u32 would advance it: by ceil(n / 4) Philox blocks.
 *
 * Speed: dropout is on the MLP's hot path. The words come from
 * ax_philox_blocks (vectorised Philox, PHILOX_LANES blocks per call; the test
 * suite checks the masks agree with ax_rng_u32 word for word) one chunk at a
 * time into a small stack buffer, and turn straight into the output.
 * node->saved keeps a one-byte keep mask per element (arena); backward is
 * dx += g * (mask * 1/(1-p)). Dropped elements are x * 0, so a NaN in x stays
 * NaN, as in PyTorch.
 * The wrapper never runs this op in evaluation mode or with p == 0. */
#include <math.h>

#include "../internal.h"
#include "strided.h"

#define PHILOX_LANES 16 /* blocks generated per chunk */
#define CHUNK (4 * PHILOX_LANES) /* elements per chunk */

/* Mask and output for `len` elements from their words. Called with the
 * compile-time length CHUNK for every full chunk: GCC 12 at -O2 (its
 * "very cheap" cost model) only vectorises loops whose trip count is a known
 * multiple of the vector width, so a fixed length is what makes this a SIMD
 * loop. Branch-free, as a random mask would defeat the branch predictor. */
static inline void apply_words(int64_t len, const uint32_t *restrict words,
			       const float *restrict x, float *restrict y, uint8_t *restrict mask,
			       int32_t threshold, float keep_scale)
{
	for (int64_t i = 0; i < len; i++) {
		int32_t keep = (int32_t)(words[i] >> 8) >= threshold;

		mask[i] = (uint8_t)keep;
		y[i] = x[i] * ((float)keep * keep_scale);
	}
}

enum ax_status ax_cpu_fwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0];
	struct ax_rng *rng = ax_ctx_rng(ctx);
	int64_t n = ax_tensor_numel(x), start;
	float p = node->attrs.f[0], keep_scale = 1.0f / (1.0f - p);
	/* ax_u32_to_unit(w) = (w >> 8) * 2^-24 >= p  <=>  (w >> 8) >= p * 2^24,
	 * and since w >> 8 is an integer, <=> (w >> 8) >= ceil(p * 2^24): the
	 * same test as the float compare (p * 2^24 is exact in double), made on
	 * integers below 2^24 so that signed SIMD compares can do it. */
	int32_t threshold = (int32_t)ceil((double)p * 16777216.0);
	float *y = node->out->data;
	uint32_t words[CHUNK];
	const float *xd;
	uint8_t *mask;

	mask = ax_ctx_alloc(ctx, (size_t)(n ? n : 1));
	xd = n ? ax_cpu_dense(ctx, x) : NULL;
	if (!mask || (n && !xd))
		return AX_ERR_NOMEM;
	for (start = 0; start + CHUNK <= n; start += CHUNK) {
		ax_philox_blocks(rng->seed, rng->counter + (uint64_t)(start / 4), PHILOX_LANES, words);
		apply_words(CHUNK, words, xd + start, y + start, mask + start, threshold, keep_scale);
	}
	if (start < n) {
		ax_philox_blocks(rng->seed, rng->counter + (uint64_t)(start / 4), PHILOX_LANES, words);
		apply_words(n - start, words, xd + start, y + start, mask + start, threshold,
			    keep_scale);
	}
	rng->counter += (uint64_t)((n + 3) / 4);
	node->saved = mask;
	return AX_OK;
}

/* dx += g * (mask ? 1/(1-p) : 0) over `len` elements (CHUNK for full chunks,
 * for the same reason as apply_words). */
static inline void backward_chunk(int64_t len, const uint8_t *restrict mask,
				  const float *restrict g, float *restrict dx, float keep_scale)
{
	for (int64_t i = 0; i < len; i++)
		dx[i] += g[i] * ((float)mask[i] * keep_scale);
}

enum ax_status ax_cpu_bwd_dropout(struct ax_ctx *ctx, struct ax_node *node)
{
	struct ax_tensor *x = node->in[0], *grad;
	int64_t n = ax_tensor_numel(x), start;
	float keep_scale = 1.0f / (1.0f - node->attrs.f[0]);
	const uint8_t *mask = node->saved;
	const float *g = node->out->grad->data;
	float *dx;
	enum ax_status st;

	if (!ax_needs_grad(x))
		return AX_OK;
	st = ax_grad_of(ctx, x, &grad);
	if (st)
		return st;
	dx = grad->data;
	for (start = 0; start + CHUNK <= n; start += CHUNK)
		backward_chunk(CHUNK, mask + start, g + start, dx + start, keep_scale);
	backward_chunk(n - start, mask + start, g + start, dx + start, keep_scale);
	return AX_OK;
}
