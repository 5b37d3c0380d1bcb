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

/* Sixteen consecutive blocks side by side: a structure-of-arrays loop that
 * compilers turn into SIMD code (poorly: the 32x32->64 multiplies need
 * unpacking), kept as the portable path. */
#define PHILOX_LANES 16

static void philox_lanes(uint64_t seed, uint64_t counter, uint32_t *words)
{
	uint32_t c0[PHILOX_LANES], c1[PHILOX_LANES], c2[PHILOX_LANES], c3[PHILOX_LANES];
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);

	for (int b = 0; b < PHILOX_LANES; b++) {
		uint64_t block = counter + (uint64_t)b;

		c0[b] = (uint32_t)block;
		c1[b] = (uint32_t)(block >> 32);
		c2[b] = 0;
		c3[b] = 0;
	}
	for (int round = 0; round < 10; round++) {
		for (int b = 0; b < PHILOX_LANES; b++) {
			uint64_t p0 = (uint64_t)PHILOX_M0 * c0[b];
			uint64_t p1 = (uint64_t)PHILOX_M1 * c2[b];
			uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[b] ^ k0;
			uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[b] ^ k1;

			c1[b] = (uint32_t)p1;
			c3[b] = (uint32_t)p0;
			c0[b] = n0;
			c2[b] = n2;
		}
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	for (int b = 0; b < PHILOX_LANES; b++) {
		words[4 * b + 0] = c0[b];
		words[4 * b + 1] = c1[b];
		words[4 * b + 2] = c2[b];
		words[4 * b + 3] = c3[b];
	}
}

#if defined(__x86_64__)
#include <immintrin.h>

/* The 32x32 -> 64-bit products of m with the eight lanes of c: _mm256_mul_epu32
 * multiplies the even lanes; the odd lanes are shifted down and multiplied
 * too; the high and low halves are then blended back into lane order. */
__attribute__((target("avx2")))
static inline void mulhilo8(__m256i m, __m256i c, __m256i *hi, __m256i *lo)
{
	__m256i even = _mm256_mul_epu32(m, c);
	__m256i odd = _mm256_mul_epu32(m, _mm256_srli_epi64(c, 32));

	/* Blend mask 0xAA: odd 32-bit lanes from the second operand. */
	*hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
	*lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* PHILOX_LANES blocks as two groups of eight lanes, rounds interleaved so the
 * two multiply chains overlap. Bit-identical to ax_philox. */
__attribute__((target("avx2")))
static void philox_lanes_avx2(uint64_t seed, uint64_t counter, uint32_t *words)
{
	const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
	__m256i c[2][4];

	for (int g = 0; g < 2; g++) {
		uint32_t lo[8], hi[8];

		for (int b = 0; b < 8; b++) {
			uint64_t block = counter + (uint64_t)(8 * g + b);

			lo[b] = (uint32_t)block;
			hi[b] = (uint32_t)(block >> 32);
		}
		c[g][0] = _mm256_loadu_si256((const __m256i *)lo);
		c[g][1] = _mm256_loadu_si256((const __m256i *)hi);
		c[g][2] = _mm256_setzero_si256();
		c[g][3] = _mm256_setzero_si256();
	}
	for (int round = 0; round < 10; round++) {
		__m256i key0 = _mm256_set1_epi32((int)k0), key1 = _mm256_set1_epi32((int)k1);

		for (int g = 0; g < 2; g++) {
			__m256i hi0, lo0, hi1, lo1;

			mulhilo8(m0, c[g][0], &hi0, &lo0);
			mulhilo8(m1, c[g][2], &hi1, &lo1);
			c[g][0] = _mm256_xor_si256(_mm256_xor_si256(hi1, c[g][1]), key0);
			c[g][2] = _mm256_xor_si256(_mm256_xor_si256(hi0, c[g][3]), key1);
			c[g][1] = lo1;
			c[g][3] = lo0;
		}
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	/* Lane b of c[g][j] is word j of block 8g + b: a 4 x 8 transpose puts
	 * each block's four words together (words[4 * block + j]). */
	for (int g = 0; g < 2; g++) {
		__m256i t01lo = _mm256_unpacklo_epi32(c[g][0], c[g][1]); /* b0 b1 | b4 b5 */
		__m256i t01hi = _mm256_unpackhi_epi32(c[g][0], c[g][1]); /* b2 b3 | b6 b7 */
		__m256i t23lo = _mm256_unpacklo_epi32(c[g][2], c[g][3]);
		__m256i t23hi = _mm256_unpackhi_epi32(c[g][2], c[g][3]);
		__m256i b04 = _mm256_unpacklo_epi64(t01lo, t23lo); /* block 0 | block 4 */
		__m256i b15 = _mm256_unpackhi_epi64(t01lo, t23lo);
		__m256i b26 = _mm256_unpacklo_epi64(t01hi, t23hi);
		__m256i b37 = _mm256_unpackhi_epi64(t01hi, t23hi);
		__m256i *out = (__m256i *)(words + 32 * g);

		_mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(b04, b15, 0x20));
		_mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(b26, b37, 0x20));
		_mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(b04, b15, 0x31));
		_mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(b26, b37, 0x31));
	}
}

static int force_portable;

static int have_avx2(void)
{
	static int cached = -1;

	if (cached < 0)
		cached = __builtin_cpu_supports("avx2") ? 1 : 0;
	return cached && !force_portable;
}
#else
static int force_portable;

static int have_avx2(void)
{
	return 0;
}
#define philox_lanes_avx2 philox_lanes
#endif

int ax_rng_force_portable(int on)
{
	int previous = force_portable;

	force_portable = on;
	return previous;
}

void ax_philox_blocks(uint64_t seed, uint64_t counter, int64_t n_blocks, uint32_t *words)
{
	int64_t b = 0;

	if (have_avx2()) {
		for (; b + PHILOX_LANES <= n_blocks; b += PHILOX_LANES)
			philox_lanes_avx2(seed, counter + (uint64_t)b, words + 4 * b);
	}
	for (; b + PHILOX_LANES <= n_blocks; b += PHILOX_LANES)
		philox_lanes(seed, counter + (uint64_t)b, words + 4 * b);
	for (; b < n_blocks; b++)
		ax_philox(seed, counter + (uint64_t)b, words + 4 * b);
}

void ax_rng_init(struct ax_rng *rng, uint64_t seed)
{
	rng->seed = seed;
	rng->counter = 0;
}

void ax_rng_u32(struct ax_rng *rng, uint32_t *out, int64_t n)
{
	int64_t full = n / 4;

	ax_philox_blocks(rng->seed, rng->counter, full, out);
	rng->counter += (uint64_t)full;
	if (n % 4) {
		uint32_t block[4];

		ax_philox(rng->seed, rng->counter++, block);
		for (int64_t j = 0; j < n % 4; j++)
			out[4 * full + j] = block[j];
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
