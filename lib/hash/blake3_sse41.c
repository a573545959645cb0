/*
 * blake3_sse41.c - the SSE4.1 BLAKE3 back end (degree 4).
 *
 * One compression keeps the 4x4 state as four row vectors and mixes the
 * columns, then the diagonals after rotating the rows into line. hash_many
 * instead runs four inputs side by side, one 32-bit word of each input per
 * lane, so every state word and message word is a vector of four. This file
 * is compiled with -msse4.1 only and is called only after blake3_dispatch.c
 * has seen SSE4.1 in CPUID; blake3_avx2.c borrows its compression and uses
 * its hash_many for inputs left over from groups of eight.
 */
#include "blake3_int.h"

#include <smmintrin.h>

/* Lane order for _mm_shuffle_epi32, written first lane first. */
#define LANES(a, b, c, d) _MM_SHUFFLE(d, c, b, a)

/*
 * The message schedule again (same table as cairn__b3_schedule), local so
 * that with the rounds unrolled every index is a compile-time constant and
 * the message vectors can stay in registers.
 */
static const uint8_t sched[7][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
	{3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
	{10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
	{12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
	{9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
	{11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline __m128i loadu128(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline void storeu128(uint8_t *p, __m128i v)
{
	_mm_storeu_si128((__m128i *)(void *)p, v);
}

static inline __m128i vadd(__m128i a, __m128i b)
{
	return _mm_add_epi32(a, b);
}

static inline __m128i vxor(__m128i a, __m128i b)
{
	return _mm_xor_si128(a, b);
}

static inline __m128i set1(uint32_t w)
{
	return _mm_set1_epi32((int)w);
}

/* Right rotations of every 32-bit lane. */
static inline __m128i rotr16(__m128i x)
{
	const __m128i m = _mm_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
	return _mm_shuffle_epi8(x, m);
}

static inline __m128i rotr12(__m128i x)
{
	return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20));
}

static inline __m128i rotr8(__m128i x)
{
	const __m128i m = _mm_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
	return _mm_shuffle_epi8(x, m);
}

static inline __m128i rotr7(__m128i x)
{
	return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25));
}

/* --- one compression, row-wise ----------------------------------------- */

/* The G function on whole rows: lane i of each row is one of the four G
 * applications of the step. The message word is added before the freshly
 * computed b so it is off the dependency chain. */
static inline void g_rows(__m128i *r0, __m128i *r1, __m128i *r2, __m128i *r3, __m128i mx,
			  __m128i my)
{
	*r0 = vadd(vadd(*r0, mx), *r1);
	*r3 = rotr16(vxor(*r3, *r0));
	*r2 = vadd(*r2, *r3);
	*r1 = rotr12(vxor(*r1, *r2));
	*r0 = vadd(vadd(*r0, my), *r1);
	*r3 = rotr8(vxor(*r3, *r0));
	*r2 = vadd(*r2, *r3);
	*r1 = rotr7(vxor(*r1, *r2));
}

/*
 * One round. The message comes as the round's words in schedule order:
 * with w[k] = m[sched[r][k]], mx holds w0 w2 w4 w6, my w1 w3 w5 w7, dx
 * w8 w10 w12 w14 and dy w9 w11 w13 w15. The diagonals are lined up by
 * rotating rows 0, 2 and 3 and leaving row 1 alone: row 1 is the last one
 * the column step computes, so this keeps the shuffles off the critical
 * path. Lane j then holds diagonal G number (j+3)%4, so dx and dy rotate
 * the same way as row 0.
 */
static inline void round_rows(__m128i *r0, __m128i *r1, __m128i *r2, __m128i *r3, __m128i mx,
			      __m128i my, __m128i dx, __m128i dy)
{
	g_rows(r0, r1, r2, r3, mx, my);
	*r0 = _mm_shuffle_epi32(*r0, LANES(3, 0, 1, 2));
	*r2 = _mm_shuffle_epi32(*r2, LANES(1, 2, 3, 0));
	*r3 = _mm_shuffle_epi32(*r3, LANES(2, 3, 0, 1));
	dx = _mm_shuffle_epi32(dx, LANES(3, 0, 1, 2));
	dy = _mm_shuffle_epi32(dy, LANES(3, 0, 1, 2));
	g_rows(r0, r1, r2, r3, dx, dy);
	*r0 = _mm_shuffle_epi32(*r0, LANES(1, 2, 3, 0));
	*r2 = _mm_shuffle_epi32(*r2, LANES(3, 0, 1, 2));
	*r3 = _mm_shuffle_epi32(*r3, LANES(2, 3, 0, 1));
}

/*
 * Advance the round's message vectors to the next round. Each round uses
 * the previous round's words through the permutation p = sched[1]:
 * w'[k] = w[p[k]], which in terms of the four vectors is
 *   mx' = mx1 my1 my3 mx2     my' = mx3 dx1 mx0 dy2
 *   dx' = my0 dx2 dy0 dy3     dy' = dy1 my2 dx3 dx0
 * (blend_epi16 masks: two bits per 32-bit lane).
 */
static inline void permute_msg(__m128i *mx, __m128i *my, __m128i *dx, __m128i *dy)
{
	__m128i a = *mx, b = *my, c = *dx, d = *dy, t, u;

	t = _mm_shuffle_epi32(a, LANES(1, 0, 0, 2));
	u = _mm_shuffle_epi32(b, LANES(0, 1, 3, 0));
	*mx = _mm_blend_epi16(t, u, 0x3C);

	t = _mm_shuffle_epi32(a, LANES(3, 0, 0, 0));
	t = _mm_blend_epi16(t, c, 0x0C);
	u = _mm_shuffle_epi32(d, LANES(0, 0, 0, 2));
	*my = _mm_blend_epi16(t, u, 0xC0);

	t = _mm_shuffle_epi32(c, LANES(0, 2, 0, 0));
	t = _mm_blend_epi16(b, t, 0x0C);
	u = _mm_shuffle_epi32(d, LANES(0, 0, 0, 3));
	*dx = _mm_blend_epi16(t, u, 0xF0);

	t = _mm_shuffle_epi32(d, LANES(1, 0, 0, 0));
	u = _mm_shuffle_epi32(b, LANES(0, 2, 0, 0));
	t = _mm_blend_epi16(t, u, 0x0C);
	u = _mm_shuffle_epi32(c, LANES(0, 0, 3, 0));
	*dy = _mm_blend_epi16(t, u, 0xF0);
}

/* Run the seven rounds; leaves the final state rows in r[0..3]. */
static inline void compress_rows(__m128i r[4], const uint32_t cv[8],
				 const uint8_t block[B3_BLOCK_LEN], uint8_t block_len,
				 uint64_t counter, uint8_t flags)
{
	__m128i q0 = loadu128(block), q1 = loadu128(block + 16);
	__m128i q2 = loadu128(block + 32), q3 = loadu128(block + 48);
	__m128i mx, my, dx, dy;
	__m128i r0, r1, r2, r3;

	/* round 0 takes the words in order: evens and odds of each half */
	mx = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(q0), _mm_castsi128_ps(q1),
					     _MM_SHUFFLE(2, 0, 2, 0)));
	my = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(q0), _mm_castsi128_ps(q1),
					     _MM_SHUFFLE(3, 1, 3, 1)));
	dx = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(q2), _mm_castsi128_ps(q3),
					     _MM_SHUFFLE(2, 0, 2, 0)));
	dy = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(q2), _mm_castsi128_ps(q3),
					     _MM_SHUFFLE(3, 1, 3, 1)));

	r0 = _mm_loadu_si128((const __m128i *)(const void *)cv);
	r1 = _mm_loadu_si128((const __m128i *)(const void *)(cv + 4));
	r2 = _mm_loadu_si128((const __m128i *)(const void *)cairn__b3_iv);
	r3 = _mm_setr_epi32((int)(uint32_t)counter, (int)(uint32_t)(counter >> 32),
			    (int)block_len, (int)flags);

	round_rows(&r0, &r1, &r2, &r3, mx, my, dx, dy);
	for (int i = 1; i < 7; i++) {
		permute_msg(&mx, &my, &dx, &dy);
		round_rows(&r0, &r1, &r2, &r3, mx, my, dx, dy);
	}
	r[0] = r0;
	r[1] = r1;
	r[2] = r2;
	r[3] = r3;
}

void cairn__b3_compress_in_place_sse41(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				       uint8_t block_len, uint64_t counter, uint8_t flags)
{
	__m128i r[4];

	compress_rows(r, cv, block, block_len, counter, flags);
	_mm_storeu_si128((__m128i *)(void *)cv, vxor(r[0], r[2]));
	_mm_storeu_si128((__m128i *)(void *)(cv + 4), vxor(r[1], r[3]));
}

void cairn__b3_compress_xof_sse41(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				  uint8_t block_len, uint64_t counter, uint8_t flags,
				  uint8_t out[64])
{
	__m128i r[4];

	compress_rows(r, cv, block, block_len, counter, flags);
	storeu128(out, vxor(r[0], r[2]));
	storeu128(out + 16, vxor(r[1], r[3]));
	storeu128(out + 32, vxor(r[2], _mm_loadu_si128((const __m128i *)(const void *)cv)));
	storeu128(out + 48, vxor(r[3], _mm_loadu_si128((const __m128i *)(const void *)(cv + 4))));
}

/* --- four inputs at once, one word of each per lane --------------------- */

/* The full G function on the state words a, b, c, d of all four inputs. */
static inline void g4(__m128i v[16], int a, int b, int c, int d, __m128i mx, __m128i my)
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

static inline void round4(__m128i v[16], const __m128i m[16], int r)
{
	const uint8_t *s = sched[r];

	g4(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
	g4(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
	g4(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
	g4(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
	g4(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
	g4(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
	g4(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
	g4(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/* Transpose a 4x4 matrix of 32-bit words held as four rows. */
static inline void transpose4(__m128i *a, __m128i *b, __m128i *c, __m128i *d)
{
	__m128i ab_lo = _mm_unpacklo_epi32(*a, *b); /* a0 b0 a1 b1 */
	__m128i ab_hi = _mm_unpackhi_epi32(*a, *b); /* a2 b2 a3 b3 */
	__m128i cd_lo = _mm_unpacklo_epi32(*c, *d);
	__m128i cd_hi = _mm_unpackhi_epi32(*c, *d);

	*a = _mm_unpacklo_epi64(ab_lo, cd_lo); /* a0 b0 c0 d0 */
	*b = _mm_unpackhi_epi64(ab_lo, cd_lo);
	*c = _mm_unpacklo_epi64(ab_hi, cd_hi);
	*d = _mm_unpackhi_epi64(ab_hi, cd_hi);
}

/* Message words of block `off` of four inputs: m[k] lane i = word k of in[i]. */
static inline void load_msg4(__m128i m[16], const uint8_t *const in[4], size_t off)
{
	for (int q = 0; q < 4; q++) {
		size_t at = off + 16 * (size_t)q;

		m[4 * q + 0] = loadu128(in[0] + at);
		m[4 * q + 1] = loadu128(in[1] + at);
		m[4 * q + 2] = loadu128(in[2] + at);
		m[4 * q + 3] = loadu128(in[3] + at);
		transpose4(&m[4 * q + 0], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
	}
}

static void hash4(const uint8_t *const in[4], size_t blocks, const uint32_t key[8],
		  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
		  uint8_t flags_end, uint8_t *out)
{
	__m128i h[8], v[16], m[16];
	__m128i ctr_lo, ctr_hi;
	uint32_t lo[4], hi[4];
	uint8_t f = flags | flags_start;

	/* per-lane 64-bit counters, split into low and high words */
	for (int i = 0; i < 4; i++) {
		uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);

		lo[i] = (uint32_t)c;
		hi[i] = (uint32_t)(c >> 32);
	}
	ctr_lo = _mm_setr_epi32((int)lo[0], (int)lo[1], (int)lo[2], (int)lo[3]);
	ctr_hi = _mm_setr_epi32((int)hi[0], (int)hi[1], (int)hi[2], (int)hi[3]);

	for (int k = 0; k < 8; k++)
		h[k] = set1(key[k]);

	for (size_t b = 0; b < blocks; b++) {
		if (b + 1 == blocks)
			f |= flags_end;
		load_msg4(m, in, b * B3_BLOCK_LEN);
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
		round4(v, m, 0);
		round4(v, m, 1);
		round4(v, m, 2);
		round4(v, m, 3);
		round4(v, m, 4);
		round4(v, m, 5);
		round4(v, m, 6);
		for (int k = 0; k < 8; k++)
			h[k] = vxor(v[k], v[k + 8]);
		f = flags;
	}

	/* back to one row per input: words 0-3, then words 4-7 */
	transpose4(&h[0], &h[1], &h[2], &h[3]);
	transpose4(&h[4], &h[5], &h[6], &h[7]);
	for (int i = 0; i < 4; i++) {
		storeu128(out + i * B3_OUT_LEN, h[i]);
		storeu128(out + i * B3_OUT_LEN + 16, h[i + 4]);
	}
}

/* One input, one block at a time, for what is left over from groups. */
static void hash_one(const uint8_t *in, size_t blocks, const uint32_t key[8], uint64_t counter,
		     uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
	uint32_t cv[8];
	uint8_t f = flags | flags_start;

	for (int k = 0; k < 8; k++)
		cv[k] = key[k];
	for (size_t b = 0; b < blocks; b++) {
		if (b + 1 == blocks)
			f |= flags_end;
		cairn__b3_compress_in_place_sse41(cv, in + b * B3_BLOCK_LEN, B3_BLOCK_LEN, counter,
						  f);
		f = flags;
	}
	/* x86 is little endian: the words' memory image is the CV's bytes */
	_mm_storeu_si128((__m128i *)(void *)out, _mm_loadu_si128((const __m128i *)(void *)cv));
	_mm_storeu_si128((__m128i *)(void *)(out + 16),
			 _mm_loadu_si128((const __m128i *)(void *)(cv + 4)));
}

void cairn__b3_hash_many_sse41(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
			       const uint32_t key[8], uint64_t counter, bool increment_counter,
			       uint8_t flags, uint8_t flags_start, uint8_t flags_end,
			       uint8_t *out)
{
	while (num_inputs >= 4) {
		hash4(inputs, blocks, key, counter, increment_counter, flags, flags_start,
		      flags_end, out);
		if (increment_counter)
			counter += 4;
		inputs += 4;
		num_inputs -= 4;
		out += 4 * B3_OUT_LEN;
	}
	while (num_inputs > 0) {
		hash_one(inputs[0], blocks, key, counter, flags, flags_start, flags_end, out);
		if (increment_counter)
			counter++;
		inputs++;
		num_inputs--;
		out += B3_OUT_LEN;
	}
}
