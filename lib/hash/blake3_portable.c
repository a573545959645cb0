/*
 * blake3_portable.c - the reference-speed BLAKE3 compression in plain C.
 *
 * This is the back end every machine has and the one the SIMD tiers are
 * checked against. hash_many here simply loops over its inputs.
 */
#include "blake3_int.h"
#include "../util/util_int.h"

const uint32_t cairn__b3_iv[8] = {
	0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
	0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/* Row r is the message word order for round r: the identity permutation
 * applied r times. */
const uint8_t cairn__b3_schedule[7][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
	{3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
	{10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
	{12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
	{9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
	{11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t rotr32(uint32_t w, unsigned c)
{
	return (w >> c) | (w << (32 - c));
}

static inline void mix(uint32_t s[16], size_t a, size_t b, size_t c, size_t d, uint32_t mx,
		       uint32_t my)
{
	s[a] = s[a] + s[b] + mx;
	s[d] = rotr32(s[d] ^ s[a], 16);
	s[c] = s[c] + s[d];
	s[b] = rotr32(s[b] ^ s[c], 12);
	s[a] = s[a] + s[b] + my;
	s[d] = rotr32(s[d] ^ s[a], 8);
	s[c] = s[c] + s[d];
	s[b] = rotr32(s[b] ^ s[c], 7);
}

static inline void one_round(uint32_t s[16], const uint32_t m[16], size_t r)
{
	const uint8_t *o = cairn__b3_schedule[r];

	/* columns, then diagonals */
	mix(s, 0, 4, 8, 12, m[o[0]], m[o[1]]);
	mix(s, 1, 5, 9, 13, m[o[2]], m[o[3]]);
	mix(s, 2, 6, 10, 14, m[o[4]], m[o[5]]);
	mix(s, 3, 7, 11, 15, m[o[6]], m[o[7]]);
	mix(s, 0, 5, 10, 15, m[o[8]], m[o[9]]);
	mix(s, 1, 6, 11, 12, m[o[10]], m[o[11]]);
	mix(s, 2, 7, 8, 13, m[o[12]], m[o[13]]);
	mix(s, 3, 4, 9, 14, m[o[14]], m[o[15]]);
}

static void compress_state(uint32_t s[16], const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
			   uint8_t block_len, uint64_t counter, uint8_t flags)
{
	uint32_t m[16];

	for (size_t i = 0; i < 16; i++)
		m[i] = cairn__load32_le(block + 4 * i);
	for (size_t i = 0; i < 8; i++)
		s[i] = cv[i];
	s[8] = cairn__b3_iv[0];
	s[9] = cairn__b3_iv[1];
	s[10] = cairn__b3_iv[2];
	s[11] = cairn__b3_iv[3];
	s[12] = (uint32_t)counter;
	s[13] = (uint32_t)(counter >> 32);
	s[14] = block_len;
	s[15] = flags;
	for (size_t r = 0; r < 7; r++)
		one_round(s, m, r);
}

void cairn__b3_compress_in_place_portable(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
					  uint8_t block_len, uint64_t counter, uint8_t flags)
{
	uint32_t s[16];

	compress_state(s, cv, block, block_len, counter, flags);
	for (size_t i = 0; i < 8; i++)
		cv[i] = s[i] ^ s[i + 8];
}

void cairn__b3_compress_xof_portable(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				     uint8_t block_len, uint64_t counter, uint8_t flags,
				     uint8_t out[64])
{
	uint32_t s[16];

	compress_state(s, cv, block, block_len, counter, flags);
	for (size_t i = 0; i < 8; i++) {
		cairn__store32_le(out + 4 * i, s[i] ^ s[i + 8]);
		cairn__store32_le(out + 32 + 4 * i, s[i + 8] ^ cv[i]);
	}
}

void cairn__b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
				  const uint32_t key[8], uint64_t counter, bool increment_counter,
				  uint8_t flags, uint8_t flags_start, uint8_t flags_end,
				  uint8_t *out)
{
	for (size_t i = 0; i < num_inputs; i++) {
		uint32_t cv[8];
		const uint8_t *in = inputs[i];
		uint8_t f = flags | flags_start;

		for (size_t k = 0; k < 8; k++)
			cv[k] = key[k];
		for (size_t b = 0; b < blocks; b++) {
			if (b + 1 == blocks)
				f |= flags_end;
			cairn__b3_compress_in_place_portable(cv, in + b * B3_BLOCK_LEN, B3_BLOCK_LEN,
							    counter, f);
			f = flags;
		}
		for (size_t k = 0; k < 8; k++)
			cairn__store32_le(out + i * B3_OUT_LEN + 4 * k, cv[k]);
		if (increment_counter)
			counter++;
	}
}
