/*
 * xorb.h - xet's xorb format: chunks, each compressed on its own, followed
 * by a footer that lists every chunk's hash, where each chunk ends packed
 * and unpacked, and the xorb hash. Cairn writes and reads it byte for byte
 * as xet-core does, so xorbs move freely between Cairn and xet clients.
 *
 *   chunk 0 | chunk 1 | ... | footer | footer length (u32, little endian)
 *   chunk   = 8-byte header (version 0, packed length: 3 bytes, scheme,
 *             raw length: 3 bytes) + packed bytes
 *
 * A writer packs chunks into one xorb in memory; a reader (cairn_xorb)
 * checks a whole serialized xorb, gives the chunk list and decodes chunk
 * ranges; cairn_xorb_decode_range decodes a bare run of chunks (a byte
 * range cut out of a xorb) against hashes the caller already trusts; a
 * cairn_xorb_stream decodes such a run as its bytes arrive, for a caller
 * that has no chunk hashes yet (a downloading client).
 *
 * Readers treat their input as hostile: every length and offset is checked
 * before it is used, malformed input is CAIRN_ECORRUPT with a message that
 * says what and where, and decoded bytes are only ever handed out after
 * their chunk hash matched (the stream hands each chunk out with the hash
 * it has, for the caller to check).
 *
 * Thread safety: a writer belongs to one thread at a time. A cairn_xorb is
 * read-only once opened; any number of threads may read from it at once.
 */
#ifndef CAIRN_XORB_H
#define CAIRN_XORB_H

#include "common.h"
#include "hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ceiling on a serialized xorb, footer included (xet's CAS rejects more). */
#define CAIRN_XORB_MAX_BYTES (64u * 1024u * 1024u)
/* Chunks per xorb a writer allows (xet-core's producer cap; readers accept more). */
#define CAIRN_XORB_MAX_CHUNKS 8192u
/* Bytes of the header in front of every chunk. */
#define CAIRN_XORB_CHUNK_HEADER_LEN 8u
/* A chunk's raw length never exceeds CAIRN_CHUNK_MAX (128 KiB, chunk.h). */

/*
 * How a chunk's bytes are stored: the scheme byte of its header. 0 to 2
 * are xet's; 64 and 65 are Cairn's own, for xorbs at rest that no xet
 * client sees (docs/storage.md: compression at rest).
 */
typedef enum cairn_xorb_scheme {
	CAIRN_XORB_NONE = 0,      /* as is */
	CAIRN_XORB_LZ4 = 1,       /* one LZ4 frame */
	CAIRN_XORB_BG4_LZ4 = 2,   /* bytes grouped by position mod 4, then one LZ4 frame */
	CAIRN_XORB_ZSTD = 64,     /* one zstd frame */
	CAIRN_XORB_BG4_ZSTD = 65, /* bytes grouped by position mod 4, then one zstd frame */
	/*
	 * A run: consecutive chunks compressed together, so each finds its
	 * matches in the ones before it. The first holds one zstd frame of all
	 * their bytes (its header's raw length is its own); each of the others
	 * follows with no packed bytes of its own. A run reads from its first
	 * chunk; at most CAIRN_XORB_RUN_MAX_CHUNKS chunks, CAIRN_XORB_RUN_MAX_RAW
	 * bytes.
	 */
	CAIRN_XORB_ZSTD_RUN = 66,
	CAIRN_XORB_RUN_NEXT = 67,
	CAIRN_XORB_COMPACT = 254, /* writers only: the smallest of every scheme, per chunk */
	CAIRN_XORB_AUTO = 255,    /* writers only: xet's schemes, chosen per chunk (the default) */
} cairn_xorb_scheme;

/* Whether a chunk scheme is one of xet's (what every xet client decodes). */
#define CAIRN_XORB_SCHEME_IS_XET(s) ((unsigned)(s) <= CAIRN_XORB_BG4_LZ4)

/* zstd's level for CAIRN_XORB_COMPACT and the zstd schemes, unless set. */
#define CAIRN_XORB_ZSTD_LEVEL 9
#define CAIRN_XORB_RUN_MAX_CHUNKS 64u
#define CAIRN_XORB_RUN_MAX_RAW (1u << 20)

/* ---- writing ------------------------------------------------------------ */

typedef struct cairn_xorb_writer cairn_xorb_writer;

/*
 * A writer for one xorb at a time, with scheme CAIRN_XORB_AUTO.
 * Returns 0 or CAIRN_ENOMEM. Free with cairn_xorb_writer_free.
 */
CAIRN_API int cairn_xorb_writer_new(cairn_xorb_writer **out);

/*
 * Choose the scheme for the chunks added from now on. Whatever the scheme,
 * a chunk that does not get smaller is stored as CAIRN_XORB_NONE.
 * Returns 0 or CAIRN_EINVALID (unknown scheme).
 */
CAIRN_API int cairn_xorb_writer_set_scheme(cairn_xorb_writer *w, cairn_xorb_scheme scheme);

/*
 * zstd's compression level (1 to 22) for the zstd schemes and
 * CAIRN_XORB_COMPACT. Returns 0 or CAIRN_EINVALID.
 */
CAIRN_API int cairn_xorb_writer_set_level(cairn_xorb_writer *w, int level);

/*
 * Compress and append one chunk of 1 to CAIRN_CHUNK_MAX bytes. `hash` is the
 * chunk's cairn_chunk_hash when the caller already has it (it is trusted,
 * not recomputed), or NULL to compute it here.
 * Returns 0; CAIRN_ETOOBIG if the xorb is full (the chunk would take it
 * past CAIRN_XORB_MAX_BYTES or CAIRN_XORB_MAX_CHUNKS): nothing changed,
 * finish this xorb and add the chunk to the next; CAIRN_EINVALID (empty or
 * oversized chunk, or the writer is finished); CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_writer_add(cairn_xorb_writer *w, const void *data, size_t len,
				    const cairn_hash *hash);

/*
 * Append n consecutive chunks (data[i], lens[i], hashes[i]; hashes may be
 * NULL) as one run (CAIRN_XORB_ZSTD_RUN) when that stores fewer bytes than
 * adding them one by one with the writer's scheme, else one by one. n is
 * 1..CAIRN_XORB_RUN_MAX_CHUNKS and the chunks add up to at most
 * CAIRN_XORB_RUN_MAX_RAW bytes. All or nothing. Returns 0; CAIRN_ETOOBIG
 * (the xorb cannot take them all: nothing changed); CAIRN_EINVALID;
 * CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_writer_add_run(cairn_xorb_writer *w, const void *const *data,
					const size_t *lens, const cairn_hash *hashes, size_t n);

/*
 * Append chunks that arrive already serialized: chunks laid end to end with
 * no footer, as a xet client uploads a xorb when it leaves the footer to
 * the server. Each chunk is decoded to learn its hash and raw length, then
 * stored exactly as it came. All or nothing: on error the writer is as
 * before. Only CAIRN_XORB_MAX_BYTES applies (other writers may put more
 * than CAIRN_XORB_MAX_CHUNKS chunks in a xorb).
 * Returns 0; CAIRN_ECORRUPT (a chunk is malformed or does not decode; the
 * message says which); CAIRN_ETOOBIG; CAIRN_EINVALID (writer finished);
 * CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_writer_add_packed(cairn_xorb_writer *w, const void *bytes, size_t len);

/* Chunks added so far. */
CAIRN_API size_t cairn_xorb_writer_count(const cairn_xorb_writer *w);
/* Bytes the xorb would have if finished now, footer included. */
CAIRN_API uint64_t cairn_xorb_writer_size(const cairn_xorb_writer *w);
/* Serialized bytes of the chunks added so far: headers and data, no footer. */
CAIRN_API uint64_t cairn_xorb_writer_chunk_bytes(const cairn_xorb_writer *w);
/* Raw (uncompressed) bytes of the chunks added so far. */
CAIRN_API uint64_t cairn_xorb_writer_raw_size(const cairn_xorb_writer *w);

/*
 * Append the footer and hand out the serialized xorb: its hash (the xet
 * xorb hash, also its storage name), bytes and length (any of the three
 * may be NULL). `bytes` is borrowed: valid until cairn_xorb_writer_reset or
 * cairn_xorb_writer_free. Further adds fail until a reset; finishing again
 * returns the same xorb.
 * Returns 0, CAIRN_EINVALID (no chunks: a xorb holds at least one), or
 * CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_writer_finish(cairn_xorb_writer *w, cairn_hash *xorb_hash,
				       const uint8_t **bytes, size_t *len);

/* Start a new, empty xorb, keeping the scheme and the memory already held. */
CAIRN_API void cairn_xorb_writer_reset(cairn_xorb_writer *w);

/* Accepts NULL. */
CAIRN_API void cairn_xorb_writer_free(cairn_xorb_writer *w);

/* ---- reading a whole xorb ----------------------------------------------- */

typedef struct cairn_xorb cairn_xorb;

/*
 * Parse and check a serialized xorb: the footer (xet-core's current layout,
 * and the older one it still reads), every chunk header against the
 * footer's boundaries, and the footer's xorb hash against the xet Merkle
 * hash of its chunk list. Chunk contents are checked when read. The reader
 * borrows `data`: it must stay valid and unchanged until cairn_xorb_free.
 * Returns 0; CAIRN_ECORRUPT (malformed; the message says what and where);
 * CAIRN_ETOOBIG (over CAIRN_XORB_MAX_BYTES); CAIRN_ENOMEM.
 * Compare cairn_xorb_id() with the name the xorb was stored under.
 */
CAIRN_API int cairn_xorb_open(cairn_xorb **out, const void *data, size_t len);

/* Accepts NULL. */
CAIRN_API void cairn_xorb_free(cairn_xorb *x);

/* The xorb hash. Borrowed: valid until cairn_xorb_free. */
CAIRN_API const cairn_hash *cairn_xorb_id(const cairn_xorb *x);
CAIRN_API size_t cairn_xorb_chunk_count(const cairn_xorb *x);
/*
 * Chunk i's hash (i < count, else NULL). Borrowed: valid until
 * cairn_xorb_free. The hashes of consecutive chunks are consecutive in
 * memory: cairn_xorb_chunk_hash(x, i) is the `expected` array for chunks
 * i, i + 1, ... in cairn_xorb_decode_range.
 */
CAIRN_API const cairn_hash *cairn_xorb_chunk_hash(const cairn_xorb *x, size_t i);
/* Chunk i's raw length (i < count, else 0). */
CAIRN_API uint32_t cairn_xorb_chunk_len(const cairn_xorb *x, size_t i);
/* Chunk i's scheme byte (i < count, else CAIRN_XORB_NONE). */
CAIRN_API cairn_xorb_scheme cairn_xorb_chunk_scheme(const cairn_xorb *x, size_t i);
/*
 * 0 if every chunk uses one of xet's schemes, else CAIRN_EINVALID naming
 * the first that does not: what a xorb from a client must pass.
 */
CAIRN_API int cairn_xorb_check_xet_schemes(const cairn_xorb *x);

/* Where chunks [first, end) sit in the serialized xorb, and their raw size. */
typedef struct cairn_xorb_span {
	uint64_t offset;   /* byte offset of chunk `first`'s header */
	uint64_t length;   /* serialized bytes of the range, headers included */
	uint64_t raw_size; /* bytes once decoded */
} cairn_xorb_span;

/*
 * Locate chunks [first, end). Returns 0 or CAIRN_EINVALID (first > end or
 * end > count). An empty range is valid and has zero sizes.
 */
CAIRN_API int cairn_xorb_span_get(const cairn_xorb *x, size_t first, size_t end,
				  cairn_xorb_span *out);

/*
 * Decode chunks [first, end) into dst (raw_size bytes of the range, see
 * cairn_xorb_span_get), checking each against its hash.
 * Returns 0; CAIRN_ECORRUPT (a chunk does not decode or does not match
 * its hash: dst is then zeroed, so no unchecked byte escapes);
 * CAIRN_EINVALID (bad range or dst_cap too small); CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_read_chunks(const cairn_xorb *x, size_t first, size_t end, void *dst,
				     size_t dst_cap);

/*
 * Called once per chunk, in order, with its decoded and checked bytes
 * (borrowed for the call only). Return 0 to go on; anything else stops the
 * walk and becomes the walk's return value.
 */
typedef int (*cairn_xorb_chunk_fn)(void *ctx, size_t index, const void *data, size_t len);

/*
 * Decode chunks [first, end) one at a time into fn, with no buffer the size
 * of the range. Returns 0, fn's non-zero value, CAIRN_ECORRUPT (fn is not
 * called for the bad chunk), CAIRN_EINVALID (bad range), CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_read_each(const cairn_xorb *x, size_t first, size_t end,
				   cairn_xorb_chunk_fn fn, void *ctx);

/*
 * Decode every chunk and check it against its hash; with cairn_xorb_open's
 * checks this proves the whole xorb is what its id says. What a server runs
 * on an uploaded xorb. Returns 0, CAIRN_ECORRUPT or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_verify(const cairn_xorb *x);

/* ---- reading a bare run of chunks --------------------------------------- */

/*
 * Decode exactly n chunks laid end to end in bytes[0..len) (no footer: the
 * serialized chunks [a, a + n) of some xorb, e.g. from a ranged GET) into
 * dst, checking chunk k against expected[k]. *out_len receives the bytes
 * written.
 * Returns 0; CAIRN_ECORRUPT (malformed, too few or too many chunks, or a
 * hash mismatch: dst is then zeroed); CAIRN_ETOOBIG (the chunks decode to
 * more than dst_cap bytes: dst is zeroed); CAIRN_ENOMEM.
 */
CAIRN_API int cairn_xorb_decode_range(void *dst, size_t dst_cap, size_t *out_len,
				      const void *bytes, size_t len, const cairn_hash *expected,
				      size_t n);

/* ---- decoding a bare run of chunks as it arrives ----------------------- */

typedef struct cairn_xorb_stream cairn_xorb_stream;

/*
 * Called once per chunk, in order (index 0 is the first chunk fed since
 * the start or the last reset), with its decoded bytes and the hash they
 * have. The bytes were checked against NOTHING: the caller compares the
 * hash with what it expects (or, as a downloader does, recomputes a file
 * hash from all of them) before it trusts them. data is borrowed for the
 * call only. Return 0 to go on; anything else stops the stream and is
 * returned by the feed.
 */
typedef int (*cairn_xorb_stream_fn)(void *ctx, size_t index, const void *data, size_t len,
				    const cairn_hash *hash);

/*
 * A decoder for serialized chunks laid end to end (no footer), fed in
 * pieces of any size as they arrive, e.g. from a ranged GET. It holds at
 * most one chunk. Returns 0, CAIRN_EINVALID (fn NULL) or CAIRN_ENOMEM; free
 * with cairn_xorb_stream_free. One thread at a time.
 */
CAIRN_API int cairn_xorb_stream_new(cairn_xorb_stream **out, cairn_xorb_stream_fn fn,
				    void *ctx);

/*
 * Feed the next len bytes; fn runs for every chunk they complete. Returns
 * 0; CAIRN_ECORRUPT (a malformed header or a chunk that does not decode;
 * the message says which); fn's non-zero value; CAIRN_ENOMEM. An error
 * sticks: later feeds return it until cairn_xorb_stream_reset.
 */
CAIRN_API int cairn_xorb_stream_feed(cairn_xorb_stream *s, const void *bytes, size_t len);

/*
 * The input is over: 0 if it ended between two chunks, else CAIRN_ECORRUPT
 * (or the error that stopped the stream).
 */
CAIRN_API int cairn_xorb_stream_end(cairn_xorb_stream *s);

/*
 * Which chunks the caller wants, by index as fn would see it (ctx is fn's).
 * The others are parsed and counted but neither decoded, hashed nor handed
 * to fn, and a run is decoded only as far as its last chunk wanted: a
 * damaged chunk no one wants goes unnoticed. NULL (the default): every
 * chunk. Kept across resets.
 */
typedef bool (*cairn_xorb_stream_want_fn)(void *ctx, size_t index);
CAIRN_API void cairn_xorb_stream_set_want(cairn_xorb_stream *s, cairn_xorb_stream_want_fn want);

/* Chunks handed to fn (or skipped as unwanted) since the start or the last reset. */
CAIRN_API size_t cairn_xorb_stream_count(const cairn_xorb_stream *s);

/* Forget any partial chunk and any error; the next byte starts chunk 0. */
CAIRN_API void cairn_xorb_stream_reset(cairn_xorb_stream *s);

/* Accepts NULL. */
CAIRN_API void cairn_xorb_stream_free(cairn_xorb_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_XORB_H */
