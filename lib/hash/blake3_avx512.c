/*
 * blake3_avx512.c - the AVX-512 BLAKE3 back end (tier "avx512"). It is
 * compiled with -mavx512f -mavx512vl and only called once blake3_dispatch.c
 * has seen both in CPUID and the OS saving the ZMM state. Single blocks are
 * compressed with the state as four rows of an xmm register each (diagonals
 * by lane rotation); hash_many runs 16 inputs at once with one 32-bit word
 * per zmm lane, then 8 (ymm) and 4 (xmm) at a time, and the last few one
 * block at a time. Output is identical to blake3_portable.c (blake3_int.h
 * states the contract).
 */
#include "blake3_int.h"

#include <immintrin.h>

#if !defined(__AVX512F__) || !defined(__AVX512VL__)
#error "blake3_avx512.c must be compiled with -mavx512f -mavx512vl"
#endif

#define B3_INLINE static inline __attribute__((always_inline))

/*
 * Make a vector value opaque to the optimizer (an empty asm that may change
 * it), so no arithmetic is reassociated across it. G's a + m + b is written
 * (a + m) + b so that a + m is done before b, the value the dependency chain
 * waits for, is ready; GCC would otherwise regroup the sum, which costs ~10%
 * in hash_many. The rounds are latency bound: vector adds, xors and
 * rotates each take 2 cycles on Zen 5.
 */
#define PIN(x) __asm__("" : "+v"(x))

/*
 * Message word order per round, arranged for the row layout: the first
 * eight select the words of the column step (x of the four G's, then y),
 * the second eight those of the diagonal step. The diagonal step runs G k
 * in lane (k + 1) % 4 (see diagonalize), hence the rotated order.
 */
static const int32_t msg_index[7][2][8] __attribute__((aligned(32))) = {
	{{0, 2, 4, 6, 1, 3, 5, 7}, {14, 8, 10, 12, 15, 9, 11, 13}},
	{{2, 3, 7, 4, 6, 10, 0, 13}, {15, 1, 12, 9, 8, 11, 5, 14}},
	{{3, 10, 13, 7, 4, 12, 2, 14}, {8, 6, 9, 11, 1, 5, 0, 15}},
	{{10, 12, 14, 13, 7, 9, 3, 15}, {1, 4, 11, 5, 6, 0, 2, 8}},
	{{12, 9, 15, 14, 13, 11, 10, 8}, {6, 7, 5, 0, 4, 2, 3, 1}},
	{{9, 11, 8, 15, 14, 5, 12, 1}, {4, 13, 0, 2, 7, 3, 10, 6}},
	{{11, 5, 1, 8, 15, 0, 9, 6}, {7, 14, 2, 3, 13, 10, 12, 4}},
};

/* --- one block, state in four xmm rows ----------------------------------- */

/* Half a G on all four rows: add message vector x, rotate by r1 then r2. */
#define ROW_HALF(x, r1, r2)                                                        \
	do {                                                                       \
		row0 = _mm_add_epi32(row0, (x));                                   \
		PIN(row0);                                                         \
		row0 = _mm_add_epi32(row0, row1);                                  \
		row3 = _mm_ror_epi32(_mm_xor_si128(row3, row0), r1);               \
		row2 = _mm_add_epi32(row2, row3);                                  \
		row1 = _mm_ror_epi32(_mm_xor_si128(row1, row2), r2);               \
	} while (0)

/*
 * Compress one block; the four rows of the final state go to r[0..3]. For
 * the diagonal step rows 0, 2 and 3 are rotated rather than row 1, which
 * is the last one the column step produces: lane j then holds G (j + 3) % 4.
 */
B3_INLINE void compress_rows(__m128i r[4], const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
			     uint8_t block_len, uint64_t counter, uint8_t flags)
{
	const __m256i m_lo = _mm256_loadu_si256((const __m256i *)block);
	const __m256i m_hi = _mm256_loadu_si256((const __m256i *)(block + 32));
	__m128i row0 = _mm_loadu_si128((const __m128i *)cv);
	__m128i row1 = _mm_loadu_si128((const __m128i *)(cv + 4));
	__m128i row2 = _mm_loadu_si128((const __m128i *)cairn__b3_iv);
	__m128i row3 = _mm_setr_epi32((int)(uint32_t)counter, (int)(uint32_t)(counter >> 32),
				      (int)block_len, (int)flags);

	for (size_t i = 0; i < 7; i++) {
		const __m256i col = _mm256_permutex2var_epi32(
			m_lo, _mm256_load_si256((const __m256i *)msg_index[i][0]), m_hi);
		const __m256i diag = _mm256_permutex2var_epi32(
			m_lo, _mm256_load_si256((const __m256i *)msg_index[i][1]), m_hi);

		ROW_HALF(_mm256_castsi256_si128(col), 16, 12);
		ROW_HALF(_mm256_extracti128_si256(col, 1), 8, 7);
		/* diagonalize */
		row0 = _mm_shuffle_epi32(row0, _MM_SHUFFLE(2, 1, 0, 3));
		row3 = _mm_shuffle_epi32(row3, _MM_SHUFFLE(1, 0, 3, 2));
		row2 = _mm_shuffle_epi32(row2, _MM_SHUFFLE(0, 3, 2, 1));
		ROW_HALF(_mm256_castsi256_si128(diag), 16, 12);
		ROW_HALF(_mm256_extracti128_si256(diag, 1), 8, 7);
		/* undiagonalize */
		row0 = _mm_shuffle_epi32(row0, _MM_SHUFFLE(0, 3, 2, 1));
		row3 = _mm_shuffle_epi32(row3, _MM_SHUFFLE(1, 0, 3, 2));
		row2 = _mm_shuffle_epi32(row2, _MM_SHUFFLE(2, 1, 0, 3));
	}
	r[0] = row0;
	r[1] = row1;
	r[2] = row2;
	r[3] = row3;
}

void cairn__b3_compress_in_place_avx512(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
					uint8_t block_len, uint64_t counter, uint8_t flags)
{
	__m128i r[4];

	compress_rows(r, cv, block, block_len, counter, flags);
	_mm_storeu_si128((__m128i *)cv, _mm_xor_si128(r[0], r[2]));
	_mm_storeu_si128((__m128i *)(cv + 4), _mm_xor_si128(r[1], r[3]));
}

void cairn__b3_compress_xof_avx512(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				   uint8_t block_len, uint64_t counter, uint8_t flags,
				   uint8_t out[64])
{
	__m128i r[4];

	compress_rows(r, cv, block, block_len, counter, flags);
	_mm_storeu_si128((__m128i *)out, _mm_xor_si128(r[0], r[2]));
	_mm_storeu_si128((__m128i *)(out + 16), _mm_xor_si128(r[1], r[3]));
	_mm_storeu_si128((__m128i *)(out + 32),
			 _mm_xor_si128(r[2], _mm_loadu_si128((const __m128i *)cv)));
	_mm_storeu_si128((__m128i *)(out + 48),
			 _mm_xor_si128(r[3], _mm_loadu_si128((const __m128i *)(cv + 4))));
}

/* --- many inputs, one per lane ------------------------------------------- */

/*
 * The seven rounds on a transposed state v0..v15 (one vector per state
 * word) with message vectors m[0..15]. VADD, VXOR and VROR name the
 * operations of the vector width in use; the functions below define them.
 */
#define LANE_HALF(a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3, x0, x1, \
		  x2, x3, r1, r2)                                                  \
	do {                                                                       \
		a0 = VADD(a0, x0);                                                 \
		a1 = VADD(a1, x1);                                                 \
		a2 = VADD(a2, x2);                                                 \
		a3 = VADD(a3, x3);                                                 \
		PIN(a0);                                                           \
		PIN(a1);                                                           \
		PIN(a2);                                                           \
		PIN(a3);                                                           \
		a0 = VADD(a0, b0);                                                 \
		a1 = VADD(a1, b1);                                                 \
		a2 = VADD(a2, b2);                                                 \
		a3 = VADD(a3, b3);                                                 \
		d0 = VROR(VXOR(d0, a0), r1);                                       \
		d1 = VROR(VXOR(d1, a1), r1);                                       \
		d2 = VROR(VXOR(d2, a2), r1);                                       \
		d3 = VROR(VXOR(d3, a3), r1);                                       \
		c0 = VADD(c0, d0);                                                 \
		c1 = VADD(c1, d1);                                                 \
		c2 = VADD(c2, d2);                                                 \
		c3 = VADD(c3, d3);                                                 \
		b0 = VROR(VXOR(b0, c0), r2);                                       \
		b1 = VROR(VXOR(b1, c1), r2);                                       \
		b2 = VROR(VXOR(b2, c2), r2);                                       \
		b3 = VROR(VXOR(b3, c3), r2);                                       \
	} while (0)

#define LANE_ROUND(m, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
	do {                                                                       \
		LANE_HALF(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, \
			  v14, v15, m[s0], m[s2], m[s4], m[s6], 16, 12);           \
		LANE_HALF(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, \
			  v14, v15, m[s1], m[s3], m[s5], m[s7], 8, 7);             \
		LANE_HALF(v0, v1, v2, v3, v5, v6, v7, v4, v10, v11, v8, v9, v15, v12, \
			  v13, v14, m[s8], m[s10], m[s12], m[s14], 16, 12);        \
		LANE_HALF(v0, v1, v2, v3, v5, v6, v7, v4, v10, v11, v8, v9, v15, v12, \
			  v13, v14, m[s9], m[s11], m[s13], m[s15], 8, 7);          \
	} while (0)

/* The schedule of blake3_portable.c, spelled out so it folds into the code. */
#define LANE_ROUNDS_1_TO_3(m)                                                      \
	do {                                                                       \
		LANE_ROUND(m, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); \
		LANE_ROUND(m, 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8); \
		LANE_ROUND(m, 3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1); \
	} while (0)
#define LANE_ROUNDS_4_TO_7(m)                                                      \
	do {                                                                       \
		LANE_ROUND(m, 10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6); \
		LANE_ROUND(m, 12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4); \
		LANE_ROUND(m, 9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7); \
		LANE_ROUND(m, 11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13); \
	} while (0)
#define LANE_ROUNDS(m)                                                             \
	do {                                                                       \
		LANE_ROUNDS_1_TO_3(m);                                             \
		LANE_ROUNDS_4_TO_7(m);                                             \
	} while (0)

/* Blocks ahead of the current one that hash_many prefetches, per input. */
#define PREFETCH_BLOCKS 2

/* ---- 16 inputs in zmm ---- */

#define VADD _mm512_add_epi32
#define VXOR _mm512_xor_si512
#define VROR _mm512_ror_epi32

/*
 * Load block `off` of 16 inputs and transpose: m[w] lane i = word w of
 * input i. 32-bit then 64-bit unpacks gather, per 128-bit lane L, word
 * 4L + k of four inputs (u[4g + k] for inputs 4g..4g+3); two rounds of
 * 128-bit shuffles then put the four groups side by side. Everything is
 * written out: GCC at -O2 keeps small loops, and their arrays in memory.
 */
B3_INLINE void load_transpose16(__m512i m[16], const uint8_t *const *in, size_t off)
{
	__m512i t[16], u[16];

#define LOAD_PAIR(i)                                                               \
	do {                                                                       \
		const __m512i a_ = _mm512_loadu_si512(in[i] + off);                \
		const __m512i b_ = _mm512_loadu_si512(in[(i) + 1] + off);          \
		t[i] = _mm512_unpacklo_epi32(a_, b_);                              \
		t[(i) + 1] = _mm512_unpackhi_epi32(a_, b_);                        \
	} while (0)
#define GROUP(g)                                                                   \
	do {                                                                       \
		u[g] = _mm512_unpacklo_epi64(t[g], t[(g) + 2]);                    \
		u[(g) + 1] = _mm512_unpackhi_epi64(t[g], t[(g) + 2]);              \
		u[(g) + 2] = _mm512_unpacklo_epi64(t[(g) + 1], t[(g) + 3]);        \
		u[(g) + 3] = _mm512_unpackhi_epi64(t[(g) + 1], t[(g) + 3]);        \
	} while (0)
#define SPREAD(k)                                                                  \
	do {                                                                       \
		const __m512i lo01_ =                                              \
			_mm512_shuffle_i32x4(u[k], u[4 + (k)], _MM_SHUFFLE(1, 0, 1, 0)); \
		const __m512i hi01_ =                                              \
			_mm512_shuffle_i32x4(u[k], u[4 + (k)], _MM_SHUFFLE(3, 2, 3, 2)); \
		const __m512i lo23_ = _mm512_shuffle_i32x4(u[8 + (k)], u[12 + (k)], \
							   _MM_SHUFFLE(1, 0, 1, 0)); \
		const __m512i hi23_ = _mm512_shuffle_i32x4(u[8 + (k)], u[12 + (k)], \
							   _MM_SHUFFLE(3, 2, 3, 2)); \
		m[k] = _mm512_shuffle_i32x4(lo01_, lo23_, _MM_SHUFFLE(2, 0, 2, 0)); \
		m[4 + (k)] = _mm512_shuffle_i32x4(lo01_, lo23_, _MM_SHUFFLE(3, 1, 3, 1)); \
		m[8 + (k)] = _mm512_shuffle_i32x4(hi01_, hi23_, _MM_SHUFFLE(2, 0, 2, 0)); \
		m[12 + (k)] = _mm512_shuffle_i32x4(hi01_, hi23_, _MM_SHUFFLE(3, 1, 3, 1)); \
	} while (0)

	LOAD_PAIR(0);
	LOAD_PAIR(2);
	LOAD_PAIR(4);
	LOAD_PAIR(6);
	LOAD_PAIR(8);
	LOAD_PAIR(10);
	LOAD_PAIR(12);
	LOAD_PAIR(14);
	GROUP(0);
	GROUP(4);
	GROUP(8);
	GROUP(12);
	SPREAD(0);
	SPREAD(1);
	SPREAD(2);
	SPREAD(3);

#undef LOAD_PAIR
#undef GROUP
#undef SPREAD
}

/*
 * Transpose the eight CV vectors back and store the 16 CVs contiguously:
 * after the unpacks b[j] lane L holds words 0-3 of input 4L + j and c[j]
 * words 4-7; each 64-byte store then takes one lane of b/c for two inputs.
 */
B3_INLINE void store_transpose16(uint8_t *out, __m512i h0, __m512i h1, __m512i h2, __m512i h3,
				 __m512i h4, __m512i h5, __m512i h6, __m512i h7)
{
	const __m512i t0 = _mm512_unpacklo_epi32(h0, h1), t1 = _mm512_unpackhi_epi32(h0, h1);
	const __m512i t2 = _mm512_unpacklo_epi32(h2, h3), t3 = _mm512_unpackhi_epi32(h2, h3);
	const __m512i t4 = _mm512_unpacklo_epi32(h4, h5), t5 = _mm512_unpackhi_epi32(h4, h5);
	const __m512i t6 = _mm512_unpacklo_epi32(h6, h7), t7 = _mm512_unpackhi_epi32(h6, h7);
	const __m512i b0 = _mm512_unpacklo_epi64(t0, t2), b1 = _mm512_unpackhi_epi64(t0, t2);
	const __m512i b2 = _mm512_unpacklo_epi64(t1, t3), b3 = _mm512_unpackhi_epi64(t1, t3);
	const __m512i c0 = _mm512_unpacklo_epi64(t4, t6), c1 = _mm512_unpackhi_epi64(t4, t6);
	const __m512i c2 = _mm512_unpacklo_epi64(t5, t7), c3 = _mm512_unpackhi_epi64(t5, t7);
	/* p[j] = lanes 0-1 of b[j], c[j]; q[j] = lanes 2-3 */
	const __m512i p0 = _mm512_shuffle_i32x4(b0, c0, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512i p1 = _mm512_shuffle_i32x4(b1, c1, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512i p2 = _mm512_shuffle_i32x4(b2, c2, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512i p3 = _mm512_shuffle_i32x4(b3, c3, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512i q0 = _mm512_shuffle_i32x4(b0, c0, _MM_SHUFFLE(3, 2, 3, 2));
	const __m512i q1 = _mm512_shuffle_i32x4(b1, c1, _MM_SHUFFLE(3, 2, 3, 2));
	const __m512i q2 = _mm512_shuffle_i32x4(b2, c2, _MM_SHUFFLE(3, 2, 3, 2));
	const __m512i q3 = _mm512_shuffle_i32x4(b3, c3, _MM_SHUFFLE(3, 2, 3, 2));

	_mm512_storeu_si512(out + 0 * 64, _mm512_shuffle_i32x4(p0, p1, _MM_SHUFFLE(2, 0, 2, 0)));
	_mm512_storeu_si512(out + 1 * 64, _mm512_shuffle_i32x4(p2, p3, _MM_SHUFFLE(2, 0, 2, 0)));
	_mm512_storeu_si512(out + 2 * 64, _mm512_shuffle_i32x4(p0, p1, _MM_SHUFFLE(3, 1, 3, 1)));
	_mm512_storeu_si512(out + 3 * 64, _mm512_shuffle_i32x4(p2, p3, _MM_SHUFFLE(3, 1, 3, 1)));
	_mm512_storeu_si512(out + 4 * 64, _mm512_shuffle_i32x4(q0, q1, _MM_SHUFFLE(2, 0, 2, 0)));
	_mm512_storeu_si512(out + 5 * 64, _mm512_shuffle_i32x4(q2, q3, _MM_SHUFFLE(2, 0, 2, 0)));
	_mm512_storeu_si512(out + 6 * 64, _mm512_shuffle_i32x4(q0, q1, _MM_SHUFFLE(3, 1, 3, 1)));
	_mm512_storeu_si512(out + 7 * 64, _mm512_shuffle_i32x4(q2, q3, _MM_SHUFFLE(3, 1, 3, 1)));
}

static void hash16(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
		   uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
		   uint8_t flags_end, uint8_t *out)
{
	__m512i h0 = _mm512_set1_epi32((int)key[0]), h1 = _mm512_set1_epi32((int)key[1]);
	__m512i h2 = _mm512_set1_epi32((int)key[2]), h3 = _mm512_set1_epi32((int)key[3]);
	__m512i h4 = _mm512_set1_epi32((int)key[4]), h5 = _mm512_set1_epi32((int)key[5]);
	__m512i h6 = _mm512_set1_epi32((int)key[6]), h7 = _mm512_set1_epi32((int)key[7]);
	const __m512i base_lo = _mm512_set1_epi32((int)(uint32_t)counter);
	const __m512i base_hi = _mm512_set1_epi32((int)(uint32_t)(counter >> 32));
	__m512i ctr_lo = base_lo, ctr_hi;
	__m512i msg[2][16];
	uint8_t f = flags | flags_start;

	/* lane i counts counter + i; a wrapped low word carries into the high */
	if (increment_counter)
		ctr_lo = _mm512_add_epi32(base_lo, _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
									10, 11, 12, 13, 14, 15));
	ctr_hi = _mm512_mask_add_epi32(base_hi, _mm512_cmplt_epu32_mask(ctr_lo, base_lo), base_hi,
				       _mm512_set1_epi32(1));

	/*
	 * The message of block blk + 1 is loaded and transposed halfway
	 * through block blk, where it fills issue slots the rounds leave idle.
	 */
	if (blocks > 0)
		load_transpose16(msg[0], inputs, 0);
	for (size_t blk = 0; blk < blocks; blk++) {
		const __m512i *const m = msg[blk & 1];
		__m512i v0 = h0, v1 = h1, v2 = h2, v3 = h3, v4 = h4, v5 = h5, v6 = h6, v7 = h7;
		__m512i v8 = _mm512_set1_epi32((int)cairn__b3_iv[0]);
		__m512i v9 = _mm512_set1_epi32((int)cairn__b3_iv[1]);
		__m512i v10 = _mm512_set1_epi32((int)cairn__b3_iv[2]);
		__m512i v11 = _mm512_set1_epi32((int)cairn__b3_iv[3]);
		__m512i v12 = ctr_lo, v13 = ctr_hi;
		__m512i v14 = _mm512_set1_epi32(B3_BLOCK_LEN);
		__m512i v15;

		if (blk + 1 == blocks)
			f |= flags_end;
		v15 = _mm512_set1_epi32(f);
		if (blk + PREFETCH_BLOCKS < blocks) {
			const size_t ahead = (blk + PREFETCH_BLOCKS) * B3_BLOCK_LEN;

			for (size_t i = 0; i < 16; i++)
				_mm_prefetch((const char *)(inputs[i] + ahead), _MM_HINT_T0);
		}
		LANE_ROUNDS_1_TO_3(m);
		if (blk + 1 < blocks)
			load_transpose16(msg[(blk + 1) & 1], inputs, (blk + 1) * B3_BLOCK_LEN);
		LANE_ROUNDS_4_TO_7(m);
		h0 = VXOR(v0, v8);
		h1 = VXOR(v1, v9);
		h2 = VXOR(v2, v10);
		h3 = VXOR(v3, v11);
		h4 = VXOR(v4, v12);
		h5 = VXOR(v5, v13);
		h6 = VXOR(v6, v14);
		h7 = VXOR(v7, v15);
		f = flags;
	}
	store_transpose16(out, h0, h1, h2, h3, h4, h5, h6, h7);
}

#undef VADD
#undef VXOR
#undef VROR

/* ---- 8 inputs in ymm ---- */

#define VADD _mm256_add_epi32
#define VXOR _mm256_xor_si256
#define VROR _mm256_ror_epi32

/* 8x8 transpose of 32-bit words: out[w] lane i = in[i] lane w (may alias). */
B3_INLINE void transpose8(__m256i out[8], const __m256i in[8])
{
	const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]);
	const __m256i t1 = _mm256_unpackhi_epi32(in[0], in[1]);
	const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]);
	const __m256i t3 = _mm256_unpackhi_epi32(in[2], in[3]);
	const __m256i t4 = _mm256_unpacklo_epi32(in[4], in[5]);
	const __m256i t5 = _mm256_unpackhi_epi32(in[4], in[5]);
	const __m256i t6 = _mm256_unpacklo_epi32(in[6], in[7]);
	const __m256i t7 = _mm256_unpackhi_epi32(in[6], in[7]);
	/* u[k] (u[4 + k]) lane L = word 4L + k of inputs 0-3 (4-7) */
	const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
	const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
	const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
	const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);

	out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
	out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
	out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
	out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
	out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
	out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
	out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
	out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

static void hash8(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
		  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
		  uint8_t flags_end, uint8_t *out)
{
	__m256i h[8];
	const __m256i base_lo = _mm256_set1_epi32((int)(uint32_t)counter);
	const __m256i base_hi = _mm256_set1_epi32((int)(uint32_t)(counter >> 32));
	__m256i ctr_lo = base_lo, ctr_hi;
	uint8_t f = flags | flags_start;

	h[0] = _mm256_set1_epi32((int)key[0]);
	h[1] = _mm256_set1_epi32((int)key[1]);
	h[2] = _mm256_set1_epi32((int)key[2]);
	h[3] = _mm256_set1_epi32((int)key[3]);
	h[4] = _mm256_set1_epi32((int)key[4]);
	h[5] = _mm256_set1_epi32((int)key[5]);
	h[6] = _mm256_set1_epi32((int)key[6]);
	h[7] = _mm256_set1_epi32((int)key[7]);
	if (increment_counter)
		ctr_lo = _mm256_add_epi32(base_lo, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	ctr_hi = _mm256_mask_add_epi32(base_hi, _mm256_cmplt_epu32_mask(ctr_lo, base_lo), base_hi,
				       _mm256_set1_epi32(1));

	for (size_t blk = 0; blk < blocks; blk++) {
		const size_t off = blk * B3_BLOCK_LEN;
		__m256i raw[16], m[16];
		__m256i v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3];
		__m256i v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
		__m256i v8 = _mm256_set1_epi32((int)cairn__b3_iv[0]);
		__m256i v9 = _mm256_set1_epi32((int)cairn__b3_iv[1]);
		__m256i v10 = _mm256_set1_epi32((int)cairn__b3_iv[2]);
		__m256i v11 = _mm256_set1_epi32((int)cairn__b3_iv[3]);
		__m256i v12 = ctr_lo, v13 = ctr_hi;
		__m256i v14 = _mm256_set1_epi32(B3_BLOCK_LEN);
		__m256i v15;

		if (blk + 1 == blocks)
			f |= flags_end;
		v15 = _mm256_set1_epi32(f);
		if (blk + PREFETCH_BLOCKS < blocks) {
			const size_t ahead = (blk + PREFETCH_BLOCKS) * B3_BLOCK_LEN;

			for (size_t i = 0; i < 8; i++)
				_mm_prefetch((const char *)(inputs[i] + ahead), _MM_HINT_T0);
		}
		/* raw[i] = words 0-7 of input i, raw[8 + i] words 8-15 */
#define LOAD2(i)                                                                   \
	do {                                                                       \
		raw[i] = _mm256_loadu_si256((const __m256i *)(inputs[i] + off));   \
		raw[8 + (i)] = _mm256_loadu_si256((const __m256i *)(inputs[i] + off + 32)); \
	} while (0)
		LOAD2(0);
		LOAD2(1);
		LOAD2(2);
		LOAD2(3);
		LOAD2(4);
		LOAD2(5);
		LOAD2(6);
		LOAD2(7);
#undef LOAD2
		transpose8(m, raw);
		transpose8(m + 8, raw + 8);
		LANE_ROUNDS(m);
		h[0] = VXOR(v0, v8);
		h[1] = VXOR(v1, v9);
		h[2] = VXOR(v2, v10);
		h[3] = VXOR(v3, v11);
		h[4] = VXOR(v4, v12);
		h[5] = VXOR(v5, v13);
		h[6] = VXOR(v6, v14);
		h[7] = VXOR(v7, v15);
		f = flags;
	}
	transpose8(h, h);
	_mm256_storeu_si256((__m256i *)(out + 0 * B3_OUT_LEN), h[0]);
	_mm256_storeu_si256((__m256i *)(out + 1 * B3_OUT_LEN), h[1]);
	_mm256_storeu_si256((__m256i *)(out + 2 * B3_OUT_LEN), h[2]);
	_mm256_storeu_si256((__m256i *)(out + 3 * B3_OUT_LEN), h[3]);
	_mm256_storeu_si256((__m256i *)(out + 4 * B3_OUT_LEN), h[4]);
	_mm256_storeu_si256((__m256i *)(out + 5 * B3_OUT_LEN), h[5]);
	_mm256_storeu_si256((__m256i *)(out + 6 * B3_OUT_LEN), h[6]);
	_mm256_storeu_si256((__m256i *)(out + 7 * B3_OUT_LEN), h[7]);
}

#undef VADD
#undef VXOR
#undef VROR

/* ---- 4 inputs in xmm ---- */

#define VADD _mm_add_epi32
#define VXOR _mm_xor_si128
#define VROR _mm_ror_epi32

/* 4x4 transpose of 32-bit words: out[w] lane i = in[i] lane w (may alias). */
B3_INLINE void transpose4(__m128i out[4], const __m128i in[4])
{
	const __m128i t0 = _mm_unpacklo_epi32(in[0], in[1]);
	const __m128i t1 = _mm_unpackhi_epi32(in[0], in[1]);
	const __m128i t2 = _mm_unpacklo_epi32(in[2], in[3]);
	const __m128i t3 = _mm_unpackhi_epi32(in[2], in[3]);

	out[0] = _mm_unpacklo_epi64(t0, t2);
	out[1] = _mm_unpackhi_epi64(t0, t2);
	out[2] = _mm_unpacklo_epi64(t1, t3);
	out[3] = _mm_unpackhi_epi64(t1, t3);
}

static void hash4(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
		  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
		  uint8_t flags_end, uint8_t *out)
{
	__m128i h[8];
	const __m128i base_lo = _mm_set1_epi32((int)(uint32_t)counter);
	const __m128i base_hi = _mm_set1_epi32((int)(uint32_t)(counter >> 32));
	__m128i ctr_lo = base_lo, ctr_hi;
	uint8_t f = flags | flags_start;

	h[0] = _mm_set1_epi32((int)key[0]);
	h[1] = _mm_set1_epi32((int)key[1]);
	h[2] = _mm_set1_epi32((int)key[2]);
	h[3] = _mm_set1_epi32((int)key[3]);
	h[4] = _mm_set1_epi32((int)key[4]);
	h[5] = _mm_set1_epi32((int)key[5]);
	h[6] = _mm_set1_epi32((int)key[6]);
	h[7] = _mm_set1_epi32((int)key[7]);
	if (increment_counter)
		ctr_lo = _mm_add_epi32(base_lo, _mm_setr_epi32(0, 1, 2, 3));
	ctr_hi = _mm_mask_add_epi32(base_hi, _mm_cmplt_epu32_mask(ctr_lo, base_lo), base_hi,
				    _mm_set1_epi32(1));

	for (size_t blk = 0; blk < blocks; blk++) {
		const uint8_t *const p0 = inputs[0] + blk * B3_BLOCK_LEN;
		const uint8_t *const p1 = inputs[1] + blk * B3_BLOCK_LEN;
		const uint8_t *const p2 = inputs[2] + blk * B3_BLOCK_LEN;
		const uint8_t *const p3 = inputs[3] + blk * B3_BLOCK_LEN;
		__m128i raw[16], m[16];
		__m128i v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3];
		__m128i v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
		__m128i v8 = _mm_set1_epi32((int)cairn__b3_iv[0]);
		__m128i v9 = _mm_set1_epi32((int)cairn__b3_iv[1]);
		__m128i v10 = _mm_set1_epi32((int)cairn__b3_iv[2]);
		__m128i v11 = _mm_set1_epi32((int)cairn__b3_iv[3]);
		__m128i v12 = ctr_lo, v13 = ctr_hi;
		__m128i v14 = _mm_set1_epi32(B3_BLOCK_LEN);
		__m128i v15;

		if (blk + 1 == blocks)
			f |= flags_end;
		v15 = _mm_set1_epi32(f);
		/* raw[4q + i] = words 4q..4q+3 of input i; transposing each
		 * group of four gives m[4q + k] = word 4q + k of every input */
#define LOAD4(q)                                                                   \
	do {                                                                       \
		raw[4 * (q)] = _mm_loadu_si128((const __m128i *)(p0 + 16 * (q)));  \
		raw[4 * (q) + 1] = _mm_loadu_si128((const __m128i *)(p1 + 16 * (q))); \
		raw[4 * (q) + 2] = _mm_loadu_si128((const __m128i *)(p2 + 16 * (q))); \
		raw[4 * (q) + 3] = _mm_loadu_si128((const __m128i *)(p3 + 16 * (q))); \
		transpose4(m + 4 * (q), raw + 4 * (q));                            \
	} while (0)
		LOAD4(0);
		LOAD4(1);
		LOAD4(2);
		LOAD4(3);
#undef LOAD4
		LANE_ROUNDS(m);
		h[0] = VXOR(v0, v8);
		h[1] = VXOR(v1, v9);
		h[2] = VXOR(v2, v10);
		h[3] = VXOR(v3, v11);
		h[4] = VXOR(v4, v12);
		h[5] = VXOR(v5, v13);
		h[6] = VXOR(v6, v14);
		h[7] = VXOR(v7, v15);
		f = flags;
	}
	/* words 0-3 then 4-7 of each input's CV */
	transpose4(h, h);
	transpose4(h + 4, h + 4);
	_mm_storeu_si128((__m128i *)(out + 0 * B3_OUT_LEN), h[0]);
	_mm_storeu_si128((__m128i *)(out + 0 * B3_OUT_LEN + 16), h[4]);
	_mm_storeu_si128((__m128i *)(out + 1 * B3_OUT_LEN), h[1]);
	_mm_storeu_si128((__m128i *)(out + 1 * B3_OUT_LEN + 16), h[5]);
	_mm_storeu_si128((__m128i *)(out + 2 * B3_OUT_LEN), h[2]);
	_mm_storeu_si128((__m128i *)(out + 2 * B3_OUT_LEN + 16), h[6]);
	_mm_storeu_si128((__m128i *)(out + 3 * B3_OUT_LEN), h[3]);
	_mm_storeu_si128((__m128i *)(out + 3 * B3_OUT_LEN + 16), h[7]);
}

#undef VADD
#undef VXOR
#undef VROR

/* ---- one input at a time ---- */

static void hash1(const uint8_t *input, size_t blocks, const uint32_t key[8], uint64_t counter,
		  uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
	uint32_t cv[8];
	uint8_t f = flags | flags_start;

	for (size_t i = 0; i < 8; i++)
		cv[i] = key[i];
	for (size_t blk = 0; blk < blocks; blk++) {
		if (blk + 1 == blocks)
			f |= flags_end;
		cairn__b3_compress_in_place_avx512(cv, input + blk * B3_BLOCK_LEN, B3_BLOCK_LEN,
						   counter, f);
		f = flags;
	}
	_mm256_storeu_si256((__m256i *)out, _mm256_loadu_si256((const __m256i *)cv));
}

void cairn__b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
				const uint32_t key[8], uint64_t counter, bool increment_counter,
				uint8_t flags, uint8_t flags_start, uint8_t flags_end,
				uint8_t *out)
{
	while (num_inputs >= 16) {
		hash16(inputs, blocks, key, counter, increment_counter, flags, flags_start,
		       flags_end, out);
		if (increment_counter)
			counter += 16;
		inputs += 16;
		num_inputs -= 16;
		out += 16 * B3_OUT_LEN;
	}
	if (num_inputs >= 8) {
		hash8(inputs, blocks, key, counter, increment_counter, flags, flags_start,
		      flags_end, out);
		if (increment_counter)
			counter += 8;
		inputs += 8;
		num_inputs -= 8;
		out += 8 * B3_OUT_LEN;
	}
	if (num_inputs >= 4) {
		hash4(inputs, blocks, key, counter, increment_counter, flags, flags_start,
		      flags_end, out);
		if (increment_counter)
			counter += 4;
		inputs += 4;
		num_inputs -= 4;
		out += 4 * B3_OUT_LEN;
	}
	while (num_inputs > 0) {
		hash1(inputs[0], blocks, key, counter, flags, flags_start, flags_end, out);
		if (increment_counter)
			counter++;
		inputs++;
		num_inputs--;
		out += B3_OUT_LEN;
	}
}
