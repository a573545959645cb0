/*
 * hash.h - xet-compatible content hashes: chunk hash, xorb hash (xet's
 * aggregated Merkle hash), file hash and term verification hash, and the
 * hexadecimal form xet prints them in.
 *
 * All hashes are 32 bytes. Text form: each 8-byte word of the hash is read
 * as a little-endian u64 and printed as 16 lowercase hex digits, so the
 * bytes of every word appear reversed compared with a plain byte dump.
 * This is the form xet-core, the Hugging Face Hub and Cairn show everywhere.
 */
#ifndef CAIRN_HASH_H
#define CAIRN_HASH_H

#include "common.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_hash {
	uint8_t bytes[32];
} cairn_hash;

/* A chunk as the Merkle hashes see it: its hash and its length in bytes. */
typedef struct cairn_chunk_ref {
	cairn_hash hash;
	uint64_t len;
} cairn_chunk_ref;

#define CAIRN_HASH_HEX_LEN 64

/* Write the 64-digit xet text form plus a NUL into out[65]. */
CAIRN_API void cairn_hash_to_hex(char out[CAIRN_HASH_HEX_LEN + 1], const cairn_hash *h);
/*
 * Parse exactly 64 hex digits (either case) in xet text form.
 * Returns 0, or CAIRN_EINVALID (out untouched) for any other input.
 */
CAIRN_API int cairn_hash_from_hex(cairn_hash *out, const char *hex, size_t len);
CAIRN_API bool cairn_hash_equal(const cairn_hash *a, const cairn_hash *b);
CAIRN_API bool cairn_hash_is_zero(const cairn_hash *h);

/* Chunk hash: BLAKE3 keyed with xet's DATA_KEY over the chunk's bytes. */
CAIRN_API void cairn_chunk_hash(cairn_hash *out, const void *data, size_t len);

/*
 * Xorb hash: the root of xet's aggregated Merkle tree over the chunks, in
 * order (variable branching: a node closes after a child whose hash is 0
 * mod 4, with 2 to 9 children). Zero chunks give the all-zero hash.
 * Returns 0 or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_hash(cairn_hash *out, const cairn_chunk_ref *chunks, size_t n);

/*
 * File hash: the same Merkle root, then BLAKE3 keyed with `salt` (NULL means
 * 32 zero bytes, the Hub's unsalted file hash). Zero chunks (an empty file)
 * give the all-zero hash. Returns 0 or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_file_hash(cairn_hash *out, const cairn_chunk_ref *chunks, size_t n,
			      const cairn_hash *salt);

/* Keyed BLAKE3 of one hash under a 32-byte key (xet's "hmac"). */
CAIRN_API void cairn_hash_keyed(cairn_hash *out, const cairn_hash *msg, const cairn_hash *key);

/*
 * Term verification hash: BLAKE3 keyed with xet's VERIFICATION_KEY over the
 * raw 32-byte chunk hashes of a term's chunk range, concatenated.
 */
CAIRN_API void cairn_verification_hash(cairn_hash *out, const cairn_hash *hashes, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_HASH_H */
