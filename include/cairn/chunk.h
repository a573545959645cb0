/*
 * chunk.h - content-defined chunking exactly as xet-core does it, and
 * whole-file hashing (chunk boundaries, chunk hashes, file hash).
 *
 * Chunk boundaries come from a gear rolling hash over the last 64 bytes:
 * a chunk ends after a byte where the hash's top 16 bits are zero, but never
 * before CAIRN_CHUNK_MIN bytes and always at CAIRN_CHUNK_MAX bytes. They
 * depend only on the content, never on how the input was split into calls.
 */
#ifndef CAIRN_CHUNK_H
#define CAIRN_CHUNK_H

#include "common.h"
#include "hash.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_CHUNK_TARGET (64 * 1024)
#define CAIRN_CHUNK_MIN (8 * 1024)
#define CAIRN_CHUNK_MAX (128 * 1024)

/*
 * Streaming boundary finder. Lives in caller memory; no allocation, no
 * copy of the data: the caller keeps the bytes of the current chunk.
 */
typedef struct cairn_chunker {
	uint64_t h;   /* gear hash state */
	uint64_t len; /* bytes of the current chunk seen so far */
} cairn_chunker;

CAIRN_API void cairn_chunker_init(cairn_chunker *c);

/*
 * Feed the next len bytes of the stream. Returns how many were consumed.
 * If *cut is true, the current chunk ends after those bytes and the chunker
 * has started the next chunk: call again with the rest. Otherwise all len
 * bytes belong to the current, still open chunk.
 */
CAIRN_API size_t cairn_chunker_next(cairn_chunker *c, const void *data, size_t len, bool *cut);

/* Bytes in the open chunk: at end of input, a final chunk if non-zero. */
CAIRN_API uint64_t cairn_chunker_pending(const cairn_chunker *c);

/* One chunk of a hashed file. */
typedef struct cairn_chunk_info {
	uint64_t offset;
	uint64_t len;
	cairn_hash hash;
} cairn_chunk_info;

/* The result of hashing a whole file or buffer. Free with cairn_file_chunks_free. */
typedef struct cairn_file_chunks {
	cairn_hash file_hash; /* xet file hash (salted if a salt was given) */
	uint64_t size;        /* bytes in the file */
	size_t count;         /* number of chunks */
	cairn_chunk_info *chunks;
} cairn_file_chunks;

typedef struct cairn_hash_options {
	unsigned version;         /* CAIRN_HASH_OPTIONS_VERSION */
	unsigned threads;         /* 0: one per online CPU; 1: the calling thread only */
	size_t block_size;        /* bytes read per round; 0: 16 MiB; 1 MiB .. 1 GiB */
	const cairn_hash *salt;   /* NULL: unsalted (the Hub's file hash) */
	/* Called after each block with bytes done so far; may be NULL. */
	void (*progress)(void *ctx, uint64_t done);
	void *progress_ctx;
	/*
	 * Version 2: when *cancel turns true (from any thread), hashing stops
	 * after the block in progress with CAIRN_ECANCELED. NULL: never.
	 */
#ifdef __cplusplus
	const void *cancel; /* a C11 atomic_bool */
#else
	const _Atomic bool *cancel;
#endif
} cairn_hash_options;

#define CAIRN_HASH_OPTIONS_VERSION 2
#define CAIRN_HASH_OPTIONS_INIT {CAIRN_HASH_OPTIONS_VERSION, 0, 0, NULL, NULL, NULL, NULL}

/*
 * Chunk and hash everything readable from fd, from its current offset on.
 * A regular file is read with positioned reads, in parallel, and its offset
 * is left just past the end; anything else (a pipe) is read sequentially.
 * opts may be NULL for defaults.
 * Returns 0; CAIRN_EIO if a read fails or a regular file changes (size,
 * mtime) while it is read; CAIRN_EINVALID for a block_size over 1 GiB;
 * CAIRN_ENOMEM. On success *out belongs to the caller.
 */
CAIRN_API int cairn_hash_fd(cairn_file_chunks **out, int fd, const cairn_hash_options *opts);

/* The same for a buffer in memory. */
CAIRN_API int cairn_hash_buffer(cairn_file_chunks **out, const void *data, size_t len,
				const cairn_hash_options *opts);

/* Accepts NULL. */
CAIRN_API void cairn_file_chunks_free(cairn_file_chunks *fc);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_CHUNK_H */
