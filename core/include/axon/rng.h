/* axon/rng.h - a seeded, counter-based random number generator (Philox4x32-10).
 *
 * The whole state is two integers: the seed (the key) and a counter. Block c of
 * the stream is philox(seed, c), four 32-bit words, a pure function of the two,
 * so element i of a fill can be computed anywhere (another thread, a GPU) without
 * stepping through elements 0..i-1, and saving the state is copying the struct.
 * Every fill of n values consumes ceil(n / 4) blocks. */
#ifndef AXON_RNG_H
#define AXON_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ax_rng {
	uint64_t seed;    /* the key */
	uint64_t counter; /* the next block to use */
};

/* ax_rng_init - start the stream of `seed` at block 0. */
void ax_rng_init(struct ax_rng *rng, uint64_t seed);

/* ax_philox - block `counter` of the stream of `seed`: 4 words into out. */
void ax_philox(uint64_t seed, uint64_t counter, uint32_t out[4]);

/* ax_philox_blocks - blocks counter .. counter + n_blocks - 1 of the stream of
 * `seed`, in order, into words[0 .. 4 n_blocks): word j of block counter + b
 * is words[4 b + j]. Vectorised; the state-free building block of the fills. */
void ax_philox_blocks(uint64_t seed, uint64_t counter, int64_t n_blocks, uint32_t *words);

/* ax_rng_u32 - fill out[0..n) with uniform 32-bit words. */
void ax_rng_u32(struct ax_rng *rng, uint32_t *out, int64_t n);

/* ax_rng_uniform - fill out[0..n) uniformly from [lo, hi). */
void ax_rng_uniform(struct ax_rng *rng, float *out, int64_t n, float lo, float hi);

/* ax_rng_normal - fill out[0..n) from N(mean, std^2) (Box-Muller on pairs). */
void ax_rng_normal(struct ax_rng *rng, float *out, int64_t n, float mean, float std);

/* ax_u32_to_unit - map a word to [0, 1) with 24 bits of precision. */
static inline float ax_u32_to_unit(uint32_t word)
{
	return (float)(word >> 8) * (1.0f / 16777216.0f);
}

#ifdef __cplusplus
}
#endif
#endif
