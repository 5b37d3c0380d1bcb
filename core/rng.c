/* rng.c - Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11), the counter-based generator cuRAND and PyTorch also use.
 *
 * Ten rounds of two 32x32->64-bit multiplies mix a 128-bit counter under a
 * 64-bit key. The counter's high 64 bits are fixed at zero here; the low 64
 * are the block number. A fill of n values takes blocks counter ..
 * counter + ceil(n/4) - 1, element i using word i % 4 of block i / 4, so any
 * element can be regenerated independently (on a GPU, in parallel). */
#include <math.h>

#include "axon/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ax_philox(uint64_t seed, uint64_t counter, uint32_t out[4])
{
	uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);

	for (int round = 0; round < 10; round++) {
		uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
		uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
		uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
		uint32_t n1 = (uint32_t)p1;
		uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
		uint32_t n3 = (uint32_t)p0;

		c0 = n0;
		c1 = n1;
		c2 = n2;
		c3 = n3;
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

void ax_rng_init(struct ax_rng *rng, uint64_t seed)
{
	rng->seed = seed;
	rng->counter = 0;
}

void ax_rng_u32(struct ax_rng *rng, uint32_t *out, int64_t n)
{
	uint32_t block[4];

	for (int64_t i = 0; i < n; i += 4) {
		ax_philox(rng->seed, rng->counter++, block);
		for (int64_t j = 0; j < 4 && i + j < n; j++)
			out[i + j] = block[j];
	}
}

void ax_rng_uniform(struct ax_rng *rng, float *out, int64_t n, float lo, float hi)
{
	uint32_t block[4];
	float span = hi - lo;

	for (int64_t i = 0; i < n; i += 4) {
		ax_philox(rng->seed, rng->counter++, block);
		for (int64_t j = 0; j < 4 && i + j < n; j++)
			out[i + j] = lo + span * ax_u32_to_unit(block[j]);
	}
}

void ax_rng_normal(struct ax_rng *rng, float *out, int64_t n, float mean, float std)
{
	uint32_t block[4];
	const double two_pi = 6.283185307179586;

	/* Box-Muller on words (0,1) and (2,3) of each block: four normals per
	 * block. u1 is taken from (0, 1] so log(u1) is finite. */
	for (int64_t i = 0; i < n; i += 4) {
		ax_philox(rng->seed, rng->counter++, block);
		for (int pair = 0; pair < 2; pair++) {
			double u1 = ((double)(block[2 * pair] >> 8) + 1.0) / 16777216.0;
			double u2 = (double)(block[2 * pair + 1] >> 8) / 16777216.0;
			double r = sqrt(-2.0 * log(u1));
			int64_t at = i + 2 * pair;

			if (at < n)
				out[at] = mean + std * (float)(r * cos(two_pi * u2));
			if (at + 1 < n)
				out[at + 1] = mean + std * (float)(r * sin(two_pi * u2));
		}
	}
}
