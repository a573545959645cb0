/*
 * blake3_int.h - the contract between the BLAKE3 tree logic (blake3.c) and
 * its compression back ends (blake3_portable.c, blake3_sse41.c,
 * blake3_avx2.c, blake3_avx512.c), glued by blake3_dispatch.c.
 *
 * Every back end provides the same three operations; SIMD ones differ only
 * in how many inputs hash_many advances at once (its "degree"). Each SIMD
 * file is compiled with its own -m flags and is only called after CPUID
 * says the instructions exist.
 */
#ifndef CAIRN_BLAKE3_INT_H
#define CAIRN_BLAKE3_INT_H

#include "cairn/blake3.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define B3_BLOCK_LEN 64
#define B3_CHUNK_LEN 1024
#define B3_OUT_LEN 32
#define B3_KEY_LEN 32

enum b3_flags {
	B3_CHUNK_START = 1 << 0,
	B3_CHUNK_END = 1 << 1,
	B3_PARENT = 1 << 2,
	B3_ROOT = 1 << 3,
	B3_KEYED_HASH = 1 << 4,
	B3_DERIVE_KEY_CONTEXT = 1 << 5,
	B3_DERIVE_KEY_MATERIAL = 1 << 6,
};

/* The initial chaining value (SHA-256's IV) and the message permutation
 * schedule: row r gives the message word order used in round r. */
extern const uint32_t cairn__b3_iv[8];
extern const uint8_t cairn__b3_schedule[7][16];

/*
 * compress_in_place: cv = first 8 words of compress(cv, block, counter,
 * block_len, flags). `block` is 64 bytes, zero-padded past block_len.
 */
typedef void (*b3_compress_in_place_fn)(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
					uint8_t block_len, uint64_t counter, uint8_t flags);
/*
 * compress_xof: all 16 output words of the compression, serialized little
 * endian into out[64] (the extended output of a root node).
 */
typedef void (*b3_compress_xof_fn)(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				   uint8_t block_len, uint64_t counter, uint8_t flags,
				   uint8_t out[64]);
/*
 * hash_many: for each of num_inputs inputs, each exactly `blocks` full
 * blocks long, start from `key` and compress every block; the first block
 * gets flags|flags_start, the last flags|flags_end (both if blocks == 1).
 * Input i uses counter + i when increment_counter, else counter. Writes the
 * 32-byte little-endian chaining value of input i at out + 32*i.
 * Used for whole chunks (blocks = 16) and for parent nodes (blocks = 1).
 */
typedef void (*b3_hash_many_fn)(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
				const uint32_t key[8], uint64_t counter, bool increment_counter,
				uint8_t flags, uint8_t flags_start, uint8_t flags_end,
				uint8_t *out);

typedef struct b3_backend {
	b3_compress_in_place_fn compress_in_place;
	b3_compress_xof_fn compress_xof;
	b3_hash_many_fn hash_many;
	size_t degree; /* inputs hash_many advances in parallel */
} b3_backend;

/* The active back end (cached after the first call). */
const b3_backend *cairn__b3_backend(void);

/* Portable back end; always present. SIMD back ends fall back to it for
 * whatever they do not implement themselves. */
void cairn__b3_compress_in_place_portable(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
					  uint8_t block_len, uint64_t counter, uint8_t flags);
void cairn__b3_compress_xof_portable(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				     uint8_t block_len, uint64_t counter, uint8_t flags,
				     uint8_t out[64]);
void cairn__b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
				  const uint32_t key[8], uint64_t counter, bool increment_counter,
				  uint8_t flags, uint8_t flags_start, uint8_t flags_end,
				  uint8_t *out);

#if defined(CAIRN_B3_HAVE_SSE41)
void cairn__b3_compress_in_place_sse41(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				       uint8_t block_len, uint64_t counter, uint8_t flags);
void cairn__b3_compress_xof_sse41(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				  uint8_t block_len, uint64_t counter, uint8_t flags,
				  uint8_t out[64]);
void cairn__b3_hash_many_sse41(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
			       const uint32_t key[8], uint64_t counter, bool increment_counter,
			       uint8_t flags, uint8_t flags_start, uint8_t flags_end,
			       uint8_t *out);
#endif

#if defined(CAIRN_B3_HAVE_AVX2)
/* AVX2 provides hash_many (degree 8); compression comes from SSE4.1. */
void cairn__b3_hash_many_avx2(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
			      const uint32_t key[8], uint64_t counter, bool increment_counter,
			      uint8_t flags, uint8_t flags_start, uint8_t flags_end,
			      uint8_t *out);
#endif

#if defined(CAIRN_B3_HAVE_AVX512)
void cairn__b3_compress_in_place_avx512(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
					uint8_t block_len, uint64_t counter, uint8_t flags);
void cairn__b3_compress_xof_avx512(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
				   uint8_t block_len, uint64_t counter, uint8_t flags,
				   uint8_t out[64]);
void cairn__b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
				const uint32_t key[8], uint64_t counter, bool increment_counter,
				uint8_t flags, uint8_t flags_start, uint8_t flags_end,
				uint8_t *out);
#endif

#endif /* CAIRN_BLAKE3_INT_H */
