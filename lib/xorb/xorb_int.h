/*
 * xorb_int.h - the xorb format's constants and the per-chunk codec shared
 * by the writer (writer.c) and the readers (reader.c).
 *
 * Footer, as xet-core serializes XorbObjectInfo (version 1), all integers
 * little endian, n = number of chunks:
 *
 *   "XETBLOB" 1                        ident, version
 *   xorb hash (32)
 *   "XBLBHSH" 0  n  hash[n] (32 each)  hashes section
 *   "XBLBBND" 1  n  end[n]  raw_end[n] boundary section: where each chunk
 *                                      ends, packed (headers included) and
 *                                      raw (decoded, concatenated)
 *   n  hashes_from_end  bounds_from_end  (u32 each; from each section's
 *                                      start to the end of the footer)
 *   16 bytes: a nonce (4) and 12 reserved bytes; written as zeros, ignored
 *   then the footer's length (u32), which does not count itself.
 *
 * A version 0 footer (older xet-core writers; still read by xet-core) is
 * "XETBLOB" 0, xorb hash, n, end[n], hash[n], 16 bytes.
 */
#ifndef CAIRN_XORB_INT_H
#define CAIRN_XORB_INT_H

#include "cairn/chunk.h"
#include "cairn/xorb.h"
#include "../util/util_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XORB_IDENT "XETBLOB"
#define XORB_IDENT_HASHES "XBLBHSH"
#define XORB_IDENT_BOUNDS "XBLBBND"
#define XORB_IDENT_LEN 7
#define XORB_FOOTER_V1 1
#define XORB_FOOTER_V0 0
#define XORB_HASHES_VERSION 0
#define XORB_BOUNDS_VERSION 1
#define XORB_CHUNK_VERSION 0

/* Footer bytes apart from the per-chunk arrays, and per chunk. */
#define XORB_FOOTER_V1_FIXED 92u /* 3 * (7 + 1) + 32 + 2 * 4 + 3 * 4 + 16 */
#define XORB_FOOTER_V1_PER_CHUNK 40u /* hash + end + raw_end */
#define XORB_FOOTER_V0_FIXED 60u /* 7 + 1 + 32 + 4 + 16 */
#define XORB_FOOTER_V0_PER_CHUNK 36u /* end + hash */
#define XORB_FOOTER_TAIL 28u /* n, two offsets, 16 bytes: the fixed end of a v1 footer */
#define XORB_FOOTER_RESERVED 16u
#define XORB_LEN_FIELD 4u

/*
 * The largest packed length a reader accepts for a compressed chunk. Writers
 * never store more than the raw length; xet-core's reader allows twice the
 * largest chunk, and so do we, so anything xet-core reads, Cairn reads.
 */
#define XORB_MAX_PACKED (2u * CAIRN_CHUNK_MAX)

/* A parsed chunk header. */
typedef struct xorb_chunk_header {
	uint8_t scheme;
	uint32_t packed; /* bytes after the header */
	uint32_t raw;    /* bytes once decoded */
} xorb_chunk_header;

static inline void cairn__store24_le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
}

static inline uint32_t cairn__load24_le(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

/* Write the 8-byte header of a chunk. */
void cairn__xorb_header_put(uint8_t out[CAIRN_XORB_CHUNK_HEADER_LEN], const xorb_chunk_header *h);

/*
 * Parse the header of chunk `index` from p[0..avail), with every rule a
 * reader enforces: version 0, a known scheme (xet's or Cairn's own), raw <= CAIRN_CHUNK_MAX,
 * packed <= XORB_MAX_PACKED (and == raw when stored as is), and header
 * plus packed bytes within avail. Returns 0 or CAIRN_ECORRUPT.
 */
int cairn__xorb_header_parse(xorb_chunk_header *out, const uint8_t *p, size_t avail,
			     size_t index);

/* ---- compression (codec.c) ---- */

/* Room a compressed chunk of up to CAIRN_CHUNK_MAX bytes may need. */
size_t cairn__xorb_pack_bound(void);

/*
 * Byte grouping 4: byte i of src goes to group i % 4, groups concatenated;
 * groups 0..(n % 4 - 1) hold one byte more. join undoes split.
 */
void cairn__bg4_split(uint8_t *dst, const uint8_t *src, size_t n);
void cairn__bg4_join(uint8_t *dst, const uint8_t *src, size_t n);

/* Whether byte grouping is expected to help LZ4 on these bytes. */
bool cairn__bg4_predict(const uint8_t *src, size_t n);

/*
 * Compress src[0..n) (n <= CAIRN_CHUNK_MAX) as one LZ4 frame into dst
 * (cairn__xorb_pack_bound() bytes). Returns the frame's length, or 0 if
 * LZ4 failed (never happens with a big enough dst).
 */
size_t cairn__lz4_frame_compress(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t n);

/*
 * What compressing needs beyond buffers: a zstd context and its level,
 * made on the first zstd chunk. Owned by one thread.
 */
typedef struct xorb_encoder {
	void *zcctx; /* ZSTD_CCtx */
	int level;
} xorb_encoder;

void cairn__xorb_encoder_fini(xorb_encoder *e);

/* One zstd frame of src[0..n) into dst[0..cap) at e's level (content size recorded, no checksum). Its length, or 0. */
size_t cairn__zstd_frame_compress(xorb_encoder *e, uint8_t *dst, size_t cap, const uint8_t *src,
				  size_t n);

/*
 * Pack src with `scheme` (LZ4, BG4_LZ4, ZSTD or BG4_ZSTD; not NONE, AUTO
 * or COMPACT) into dst (cairn__xorb_pack_bound() bytes), using tmp
 * (CAIRN_CHUNK_MAX bytes) for byte grouping. Returns the packed length, or
 * 0 if the scheme did not make the chunk smaller (store it as is) or its
 * encoder could not be made.
 */
size_t cairn__xorb_pack(xorb_encoder *e, uint8_t *dst, const uint8_t *src, size_t n,
			cairn_xorb_scheme scheme, uint8_t *tmp);

/* ---- decompression (codec.c) ---- */

/* What decoding needs, made once per read call (owned by one thread). */
typedef struct xorb_decoder {
	void *dctx;       /* LZ4F_dctx */
	void *zdctx;      /* ZSTD_DCtx, made on the first zstd chunk */
	uint8_t *scratch; /* CAIRN_CHUNK_MAX bytes, made on first need */
} xorb_decoder;

int cairn__xorb_decoder_init(xorb_decoder *d);
void cairn__xorb_decoder_fini(xorb_decoder *d);
/* A CAIRN_CHUNK_MAX-byte buffer owned by the decoder. Returns NULL (message set) if out of memory. */
uint8_t *cairn__xorb_decoder_scratch(xorb_decoder *d);

/*
 * Decode chunk `index` (header h, packed bytes src[0..h->packed), already
 * bounds-checked by cairn__xorb_header_parse) into dst[0..h->raw). The
 * bytes are NOT checked against any hash yet. Returns 0, CAIRN_ECORRUPT
 * (the packed bytes do not decode to exactly h->raw bytes) or CAIRN_ENOMEM.
 */
int cairn__xorb_unpack(xorb_decoder *d, uint8_t *dst, const xorb_chunk_header *h,
		       const uint8_t *src, size_t index);

/*
 * Decode the first `want` bytes of a run's zstd frame src[0..packed) into
 * dst: the frame must declare exactly `total` bytes (0: at least want,
 * when the caller has only the run's first chunks) and end exactly at
 * packed. Chunk hashes are the caller's to check. Returns 0,
 * CAIRN_ECORRUPT or CAIRN_ENOMEM.
 */
int cairn__xorb_run_decode(xorb_decoder *d, uint8_t *dst, size_t want, size_t total,
			   const uint8_t *src, size_t packed, size_t index);

/*
 * Decoding a run's zstd frame src[0..packed) a piece at a time (what a
 * streaming reader does, stopping at the last chunk it wants). open checks
 * that the frame declares 1 .. CAIRN_XORB_RUN_MAX_RAW bytes (set in
 * *total) and ends exactly at packed, and readies d. step goes on decoding
 * into dst until *out_pos reaches want (dst[0..want) then holds the frame's
 * first want bytes); *in_pos and *out_pos carry the positions from one
 * step to the next, starting at 0. Nothing else may use d in between.
 * Return 0, CAIRN_ECORRUPT or CAIRN_ENOMEM.
 */
int cairn__xorb_run_open(xorb_decoder *d, const uint8_t *src, size_t packed, size_t *total,
			 size_t index);
int cairn__xorb_run_step(xorb_decoder *d, uint8_t *dst, size_t *out_pos, size_t want,
			 const uint8_t *src, size_t packed, size_t *in_pos, size_t index);

/* Check decoded chunk `index` against its hash. Returns 0 or CAIRN_ECORRUPT. */
int cairn__xorb_check(const uint8_t *data, size_t len, const cairn_hash *expected, size_t index);

/*
 * Unpack and check. On CAIRN_ECORRUPT dst may hold unchecked bytes: the
 * caller wipes or discards them.
 */
int cairn__xorb_decode_chunk(xorb_decoder *d, uint8_t *dst, const xorb_chunk_header *h,
			     const uint8_t *src, const cairn_hash *expected, size_t index);

#endif /* CAIRN_XORB_INT_H */
