/*
 * blake3_avx2.c - the AVX2 BLAKE3 back end: hash_many of degree 8.
 *
 * Eight inputs run side by side in 256-bit registers, one 32-bit word of
 * each input per lane, so every state and message word is a vector of
 * eight. Single compressions (chunk tails, parents on the stack, output
 * blocks) come from blake3_sse41.c, as do inputs left over from groups of
 * eight. Compiled with -mavx2 only; blake3_dispatch.c selects it only when
 * CPUID and XGETBV say both AVX2 and SSE4.1 are usable.
 */
#include "blake3_int.h"

#include <immintrin.h>

/* The message schedule again (same table as cairn__b3_schedule), local so
 * the unrolled rounds index the message vectors with constants. */
static const uint8_t sched[7][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
	{3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
	{10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
	{12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
	{9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
	{11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline __m256i loadu256(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

static inline void storeu256(uint8_t *p, __m256i v)
{
	_mm256_storeu_si256((__m256i *)(void *)p, v);
}

static inline __m256i vadd(__m256i a, __m256i b)
{
	return _mm256_add_epi32(a, b);
}

static inline __m256i vxor(__m256i a, __m256i b)
{
	return _mm256_xor_si256(a, b);
}

static inline __m256i set1(uint32_t w)
{
	return _mm256_set1_epi32((int)w);
}

/* Right rotations of every 32-bit lane; the byte shuffles work within each
 * 128-bit half, so the pattern is given twice. */
static inline __m256i rotr16(__m256i x)
{
	const __m256i m = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
					   2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
	return _mm256_shuffle_epi8(x, m);
}

static inline __m256i rotr12(__m256i x)
{
	return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
}

static inline __m256i rotr8(__m256i x)
{
	const __m256i m = _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
					   1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
	return _mm256_shuffle_epi8(x, m);
}

static inline __m256i rotr7(__m256i x)
{
	return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25));
}

/* The G function on state words a, b, c, d of all eight inputs. */
static inline void g8(__m256i v[16], int a, int b, int c, int d, __m256i mx, __m256i my)
{
	v[a] = vadd(vadd(v[a], v[b]), mx);
	v[d] = rotr16(vxor(v[d], v[a]));
	v[c] = vadd(v[c], v[d]);
	v[b] = rotr12(vxor(v[b], v[c]));
	v[a] = vadd(vadd(v[a], v[b]), my);
	v[d] = rotr8(vxor(v[d], v[a]));
	v[c] = vadd(v[c], v[d]);
	v[b] = rotr7(vxor(v[b], v[c]));
}

static inline void round8(__m256i v[16], const __m256i m[16], int r)
{
	const uint8_t *s = sched[r];

	g8(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
	g8(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
	g8(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
	g8(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
	g8(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
	g8(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
	g8(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
	g8(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/*
 * Transpose an 8x8 matrix of 32-bit words held as eight rows x[0..7]:
 * interleave words within each 128-bit half, then pairs of words, which
 * leaves rows k and k+4 of the result in the low and high halves; the
 * last step swaps the halves into place.
 */
static inline void transpose8(__m256i x[8])
{
	__m256i t[8], u[8];

	for (int i = 0; i < 8; i += 2) {
		t[i] = _mm256_unpacklo_epi32(x[i], x[i + 1]); /* a0 b0 a1 b1 | a4 b4 a5 b5 */
		t[i + 1] = _mm256_unpackhi_epi32(x[i], x[i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 */
	}
	for (int i = 0; i < 8; i += 4) {
		u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);     /* a0 b0 c0 d0 | a4 .. d4 */
		u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]); /* a1 .. d1 | a5 .. d5 */
		u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]); /* 2 | 6 */
		u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]); /* 3 | 7 */
	}
	for (int k = 0; k < 4; k++) {
		x[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
		x[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
	}
}

/* Message words of block `off` of eight inputs: m[k] lane i = word k of in[i]. */
static inline void load_msg8(__m256i m[16], const uint8_t *const in[8], size_t off)
{
	for (int half = 0; half < 2; half++) {
		size_t at = off + 32 * (size_t)half;

		for (int i = 0; i < 8; i++)
			m[8 * half + i] = loadu256(in[i] + at);
		transpose8(&m[8 * half]);
	}
}

static void hash8(const uint8_t *const in[8], size_t blocks, const uint32_t key[8],
		  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
		  uint8_t flags_end, uint8_t *out)
{
	__m256i h[8], v[16], m[16];
	__m256i ctr_lo, ctr_hi;
	uint32_t lo[8], hi[8];
	uint8_t f = flags | flags_start;

	/* per-lane 64-bit counters, split into low and high words */
	for (int i = 0; i < 8; i++) {
		uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);

		lo[i] = (uint32_t)c;
		hi[i] = (uint32_t)(c >> 32);
	}
	ctr_lo = _mm256_loadu_si256((const __m256i *)(const void *)lo);
	ctr_hi = _mm256_loadu_si256((const __m256i *)(const void *)hi);

	for (int k = 0; k < 8; k++)
		h[k] = set1(key[k]);

	for (size_t b = 0; b < blocks; b++) {
		if (b + 1 == blocks)
			f |= flags_end;
		load_msg8(m, in, b * B3_BLOCK_LEN);
		for (int k = 0; k < 8; k++)
			v[k] = h[k];
		v[8] = set1(cairn__b3_iv[0]);
		v[9] = set1(cairn__b3_iv[1]);
		v[10] = set1(cairn__b3_iv[2]);
		v[11] = set1(cairn__b3_iv[3]);
		v[12] = ctr_lo;
		v[13] = ctr_hi;
		v[14] = set1(B3_BLOCK_LEN);
		v[15] = set1(f);
		round8(v, m, 0);
		round8(v, m, 1);
		round8(v, m, 2);
		round8(v, m, 3);
		round8(v, m, 4);
		round8(v, m, 5);
		round8(v, m, 6);
		for (int k = 0; k < 8; k++)
			h[k] = vxor(v[k], v[k + 8]);
		f = flags;
	}

	/* back to one row (one whole CV) per input */
	transpose8(h);
	for (int i = 0; i < 8; i++)
		storeu256(out + i * B3_OUT_LEN, h[i]);
}

void cairn__b3_hash_many_avx2(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
			      const uint32_t key[8], uint64_t counter, bool increment_counter,
			      uint8_t flags, uint8_t flags_start, uint8_t flags_end,
			      uint8_t *out)
{
	while (num_inputs >= 8) {
		hash8(inputs, blocks, key, counter, increment_counter, flags, flags_start,
		      flags_end, out);
		if (increment_counter)
			counter += 8;
		inputs += 8;
		num_inputs -= 8;
		out += 8 * B3_OUT_LEN;
	}
	/* the rest (at most seven) in groups of four, then one at a time */
	if (num_inputs > 0)
		cairn__b3_hash_many_sse41(inputs, num_inputs, blocks, key, counter,
					  increment_counter, flags, flags_start, flags_end, out);
}
