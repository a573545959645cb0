/*
 * blake3.h - BLAKE3 hashing (hash, keyed hash, derive key; any output length).
 *
 * The hasher lives in caller memory (on the stack is fine) and holds no
 * pointers to the heap, so it never needs freeing and may be copied. The
 * compression core is chosen at run time from the CPU (portable C, SSE4.1,
 * AVX2, AVX-512); every tier gives identical output. Set the environment
 * variable CAIRN_BLAKE3_TIER=portable|sse41|avx2|avx512 before the first use,
 * or call cairn_blake3_set_tier(), to force a tier (tests run them all).
 *
 * Thread safety: a hasher is owned by one thread at a time; distinct
 * hashers are independent. Tier selection is process-wide.
 */
#ifndef CAIRN_BLAKE3_H
#define CAIRN_BLAKE3_H

#include "common.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_BLAKE3_KEY_LEN 32
#define CAIRN_BLAKE3_OUT_LEN 32
#define CAIRN_BLAKE3_BLOCK_LEN 64
#define CAIRN_BLAKE3_CHUNK_LEN 1024
#define CAIRN_BLAKE3_MAX_DEPTH 54

/* State of the chunk being absorbed. Treat as opaque. */
typedef struct cairn_blake3_chunk_state {
	uint32_t cv[8];
	uint64_t chunk_counter;
	uint8_t buf[CAIRN_BLAKE3_BLOCK_LEN];
	uint8_t buf_len;
	uint8_t blocks_compressed;
	uint8_t flags;
} cairn_blake3_chunk_state;

/* A BLAKE3 hasher. Treat the fields as opaque. */
typedef struct cairn_blake3_hasher {
	uint32_t key[8];
	cairn_blake3_chunk_state chunk;
	uint8_t cv_stack_len;
	/* one extra entry: a subtree's CV is pushed before it is merged */
	uint8_t cv_stack[(CAIRN_BLAKE3_MAX_DEPTH + 1) * CAIRN_BLAKE3_OUT_LEN];
} cairn_blake3_hasher;

/* Plain hash mode. */
CAIRN_API void cairn_blake3_init(cairn_blake3_hasher *self);
/* Keyed hash mode with a 32-byte key. */
CAIRN_API void cairn_blake3_init_keyed(cairn_blake3_hasher *self,
				       const uint8_t key[CAIRN_BLAKE3_KEY_LEN]);
/* Key derivation mode: the context is a NUL-terminated string ... */
CAIRN_API void cairn_blake3_init_derive_key(cairn_blake3_hasher *self, const char *context);
/* ... or any bytes. */
CAIRN_API void cairn_blake3_init_derive_key_raw(cairn_blake3_hasher *self,
						 const void *context, size_t context_len);

/* Absorb len bytes; any split of the input gives the same result. */
CAIRN_API void cairn_blake3_update(cairn_blake3_hasher *self, const void *input, size_t len);

/*
 * Write out_len bytes of output (any length; 32 is the default hash size).
 * Does not modify the hasher: more input may follow and finalize again.
 */
CAIRN_API void cairn_blake3_finalize(const cairn_blake3_hasher *self, uint8_t *out,
				     size_t out_len);
/* As finalize, starting at byte offset `seek` of the output stream. */
CAIRN_API void cairn_blake3_finalize_seek(const cairn_blake3_hasher *self, uint64_t seek,
					  uint8_t *out, size_t out_len);

/* Reset to the state right after init (same mode and key). */
CAIRN_API void cairn_blake3_reset(cairn_blake3_hasher *self);

/* One-shot keyed hash with a 32-byte output: the hot path for chunk hashes. */
CAIRN_API void cairn_blake3_keyed_hash(uint8_t out[CAIRN_BLAKE3_OUT_LEN],
				       const uint8_t key[CAIRN_BLAKE3_KEY_LEN],
				       const void *input, size_t len);

typedef enum cairn_blake3_tier {
	CAIRN_BLAKE3_PORTABLE = 0,
	CAIRN_BLAKE3_SSE41 = 1,
	CAIRN_BLAKE3_AVX2 = 2,
	CAIRN_BLAKE3_AVX512 = 3,
	CAIRN_BLAKE3_TIER_COUNT
} cairn_blake3_tier;

/* The tier in use (the best the CPU supports unless forced). */
CAIRN_API cairn_blake3_tier cairn_blake3_tier_get(void);
/* Whether this CPU and build can run a tier. */
CAIRN_API bool cairn_blake3_tier_supported(cairn_blake3_tier tier);
/*
 * Force a tier for the whole process. Returns 0, or CAIRN_EUNSUPPORTED if the
 * CPU or the build cannot run it. Not safe while other threads are hashing.
 */
CAIRN_API int cairn_blake3_set_tier(cairn_blake3_tier tier);
/* "portable", "sse41", "avx2", "avx512". */
CAIRN_API const char *cairn_blake3_tier_name(cairn_blake3_tier tier);
/* Parse a tier name; returns 0 or CAIRN_EINVALID. */
CAIRN_API int cairn_blake3_tier_parse(cairn_blake3_tier *out, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_BLAKE3_H */
