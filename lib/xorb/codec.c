/*
 * codec.c - one chunk in and out of its stored form: the 8-byte chunk
 * header, byte grouping (BG4), LZ4 frames (liblz4), zstd frames (libzstd,
 * Cairn's own schemes for xorbs at rest), and the decoder that turns
 * untrusted packed bytes back into a chunk and checks its hash.
 *
 * LZ4 frames are what xet-core writes (lz4_flex's FrameEncoder with its
 * defaults): no content size, no checksums, independent blocks. We ask
 * liblz4 for 256 KiB blocks so that every chunk (at most 128 KiB) is one
 * block. The compressed bytes differ from lz4_flex's (two compressors), the
 * format does not: each side decodes the other's frames.
 *
 * Decoding trusts nothing: the header's raw length is the exact size of the
 * output buffer, a frame that would write more, stops short, or leaves
 * bytes unread is CAIRN_ECORRUPT, and the result must hash to the chunk's
 * hash before anyone sees it.
 */
#include "xorb_int.h"

#include <lz4frame.h>
#include <math.h>
#include <zstd.h>
#include <stdlib.h>
#include <string.h>

void cairn__xorb_header_put(uint8_t out[CAIRN_XORB_CHUNK_HEADER_LEN], const xorb_chunk_header *h)
{
	out[0] = XORB_CHUNK_VERSION;
	cairn__store24_le(out + 1, h->packed);
	out[4] = h->scheme;
	cairn__store24_le(out + 5, h->raw);
}

int cairn__xorb_header_parse(xorb_chunk_header *out, const uint8_t *p, size_t avail,
			     size_t index)
{
	xorb_chunk_header h;

	if (avail < CAIRN_XORB_CHUNK_HEADER_LEN)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: header truncated (%zu of %u bytes)", index,
					avail, CAIRN_XORB_CHUNK_HEADER_LEN);
	if (p[0] != XORB_CHUNK_VERSION)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: unknown header version %u",
					index, p[0]);
	h.packed = cairn__load24_le(p + 1);
	h.scheme = p[4];
	h.raw = cairn__load24_le(p + 5);
	if (h.scheme > CAIRN_XORB_BG4_LZ4 && h.scheme != CAIRN_XORB_ZSTD &&
	    h.scheme != CAIRN_XORB_BG4_ZSTD && h.scheme != CAIRN_XORB_ZSTD_RUN &&
	    h.scheme != CAIRN_XORB_RUN_NEXT)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: unknown compression scheme %u", index,
					h.scheme);
	if (h.raw > CAIRN_CHUNK_MAX)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: raw length %u exceeds the %u-byte maximum",
					index, h.raw, (unsigned)CAIRN_CHUNK_MAX);
	if (h.scheme == CAIRN_XORB_RUN_NEXT && (h.packed != 0 || h.raw == 0))
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: a run's later chunk with %u packed and %u "
					"raw bytes",
					index, h.packed, h.raw);
	if (h.scheme == CAIRN_XORB_NONE && h.packed != h.raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: stored as is but packed length %u != raw "
					"length %u",
					index, h.packed, h.raw);
	if (h.packed > (h.scheme == CAIRN_XORB_ZSTD_RUN ? CAIRN_XORB_RUN_MAX_RAW : XORB_MAX_PACKED))
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: packed length %u exceeds the %u-byte maximum",
					index, h.packed, XORB_MAX_PACKED);
	if (h.packed > avail - CAIRN_XORB_CHUNK_HEADER_LEN)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: %u packed bytes, only %zu left", index,
					h.packed, avail - CAIRN_XORB_CHUNK_HEADER_LEN);
	*out = h;
	return 0;
}

/* ---- byte grouping ---- */

/* Where group g starts in the grouped form of n bytes. */
static size_t group_start(size_t n, unsigned g)
{
	size_t q = n / 4, r = n % 4;
	return g * q + (g < r ? g : r);
}

void cairn__bg4_split(uint8_t *dst, const uint8_t *src, size_t n)
{
	uint8_t *g0 = dst, *g1 = dst + group_start(n, 1);
	uint8_t *g2 = dst + group_start(n, 2), *g3 = dst + group_start(n, 3);
	size_t q = n / 4, i;

	for (i = 0; i < q; i++) {
		g0[i] = src[4 * i];
		g1[i] = src[4 * i + 1];
		g2[i] = src[4 * i + 2];
		g3[i] = src[4 * i + 3];
	}
	/* the n % 4 trailing bytes go one each to the first groups */
	switch (n % 4) {
	case 3: g2[q] = src[4 * q + 2]; /* fall through */
	case 2: g1[q] = src[4 * q + 1]; /* fall through */
	case 1: g0[q] = src[4 * q]; break;
	default: break;
	}
}

void cairn__bg4_join(uint8_t *dst, const uint8_t *src, size_t n)
{
	const uint8_t *g0 = src, *g1 = src + group_start(n, 1);
	const uint8_t *g2 = src + group_start(n, 2), *g3 = src + group_start(n, 3);
	size_t q = n / 4, i;

	for (i = 0; i < q; i++) {
		dst[4 * i] = g0[i];
		dst[4 * i + 1] = g1[i];
		dst[4 * i + 2] = g2[i];
		dst[4 * i + 3] = g3[i];
	}
	switch (n % 4) {
	case 3: dst[4 * q + 2] = g2[q]; /* fall through */
	case 2: dst[4 * q + 1] = g1[q]; /* fall through */
	case 1: dst[4 * q] = g0[q]; break;
	default: break;
	}
}

/* Set bits in each byte value. */
static const uint8_t POPCOUNT8[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
	B6(0), B6(1), B6(1), B6(2)
#undef B2
#undef B4
#undef B6
};

/* Add the set-bit counts of p[0..n) to the histograms; p sits at a multiple of 4 in the chunk. */
static void popcount_hist(uint32_t hist[4][9], const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		hist[0][POPCOUNT8[p[i]]]++;
		hist[1][POPCOUNT8[p[i + 1]]]++;
		hist[2][POPCOUNT8[p[i + 2]]]++;
		hist[3][POPCOUNT8[p[i + 3]]]++;
	}
	for (; i < n; i++)
		hist[i % 4][POPCOUNT8[p[i]]]++;
}

#define PREDICT_WINDOWS 4
#define PREDICT_WINDOW 4096

/*
 * The predictor xet-core describes (bg4_prediction.rs and its notes): count
 * set bits per byte in four histograms, one per byte position mod 4. If
 * some position's histogram diverges from the pooled one (Kullback-Leibler
 * divergence above 0.02), the bytes have a per-position structure, as
 * little-endian numbers do, and grouping positions lets LZ4 find the runs
 * it cannot see interleaved. xet-core counts the whole chunk; we count four
 * 4 KiB windows spread over it (at offsets that are multiples of 4, so
 * positions keep their meaning), a quarter of the work or less for the
 * same answers on every kind of data we measured (see writer.c).
 */
bool cairn__bg4_predict(const uint8_t *src, size_t n)
{
	uint32_t hist[4][9] = {{0}};
	double pooled[9], total_all = 0;
	double max_kl = 0;

	if (n <= PREDICT_WINDOWS * PREDICT_WINDOW) {
		popcount_hist(hist, src, n);
	} else {
		size_t step = (n / PREDICT_WINDOWS) & ~(size_t)3;
		for (size_t k = 0; k < PREDICT_WINDOWS; k++)
			popcount_hist(hist, src + k * step, PREDICT_WINDOW);
	}

	for (unsigned b = 0; b < 9; b++) {
		/* one pseudo-count keeps every pooled probability above zero */
		pooled[b] = 1.0 + hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b];
		total_all += pooled[b];
	}
	for (unsigned g = 0; g < 4; g++) {
		double total = 0, kl = 0;
		for (unsigned b = 0; b < 9; b++)
			total += hist[g][b];
		if (total == 0)
			continue;
		for (unsigned b = 0; b < 9; b++) {
			double p = hist[g][b] / total;
			if (p > 0)
				kl += p * log(p * total_all / pooled[b]);
		}
		if (kl > max_kl)
			max_kl = kl;
	}
	return max_kl > 0.02;
}

/* ---- LZ4 frames ---- */

static void frame_prefs(LZ4F_preferences_t *p)
{
	memset(p, 0, sizeof(*p));
	p->frameInfo.blockSizeID = LZ4F_max256KB;
	p->frameInfo.blockMode = LZ4F_blockIndependent;
	p->frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
	p->frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
	p->compressionLevel = 0; /* LZ4's fast mode, as lz4_flex */
}

size_t cairn__xorb_pack_bound(void)
{
	LZ4F_preferences_t p;
	size_t a, b;

	frame_prefs(&p);
	a = LZ4F_compressFrameBound(CAIRN_CHUNK_MAX, &p);
	b = ZSTD_compressBound(CAIRN_CHUNK_MAX);
	return a > b ? a : b;
}

size_t cairn__lz4_frame_compress(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t n)
{
	LZ4F_preferences_t p;
	size_t r;

	frame_prefs(&p);
	r = LZ4F_compressFrame(dst, dst_cap, src, n, &p);
	return LZ4F_isError(r) ? 0 : r;
}

/* ---- zstd frames ---- */

void cairn__xorb_encoder_fini(xorb_encoder *e)
{
	ZSTD_freeCCtx(e->zcctx);
	e->zcctx = NULL;
}

/*
 * One zstd frame of src[0..n) into dst[0..cap), at e's level; the frame
 * records its content size, no checksum (the chunk hash checks the bytes).
 * Returns its length, or 0.
 */
size_t cairn__zstd_frame_compress(xorb_encoder *e, uint8_t *dst, size_t cap, const uint8_t *src,
				  size_t n)
{
	size_t r;

	if (e->zcctx == NULL && (e->zcctx = ZSTD_createCCtx()) == NULL)
		return 0;
	ZSTD_CCtx_reset(e->zcctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(e->zcctx, ZSTD_c_compressionLevel,
			       e->level ? e->level : CAIRN_XORB_ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(e->zcctx, ZSTD_c_checksumFlag, 0);
	r = ZSTD_compress2(e->zcctx, dst, cap, src, n);
	return ZSTD_isError(r) ? 0 : r;
}

size_t cairn__xorb_pack(xorb_encoder *e, uint8_t *dst, const uint8_t *src, size_t n,
			cairn_xorb_scheme scheme, uint8_t *tmp)
{
	size_t cap = cairn__xorb_pack_bound(), r;

	switch (scheme) {
	case CAIRN_XORB_LZ4:
		r = cairn__lz4_frame_compress(dst, cap, src, n);
		break;
	case CAIRN_XORB_BG4_LZ4:
		cairn__bg4_split(tmp, src, n);
		r = cairn__lz4_frame_compress(dst, cap, tmp, n);
		break;
	case CAIRN_XORB_ZSTD:
		r = cairn__zstd_frame_compress(e, dst, cap, src, n);
		break;
	case CAIRN_XORB_BG4_ZSTD:
		cairn__bg4_split(tmp, src, n);
		r = cairn__zstd_frame_compress(e, dst, cap, tmp, n);
		break;
	default:
		return 0;
	}
	/* as xet-core: only a strictly smaller result is worth a decoding step */
	return r > 0 && r < n ? r : 0;
}

/* ---- decoding ---- */

int cairn__xorb_decoder_init(xorb_decoder *d)
{
	LZ4F_dctx *dctx = NULL;

	d->dctx = NULL;
	d->zdctx = NULL;
	d->scratch = NULL;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)) || dctx == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for an LZ4 decoder");
	d->dctx = dctx;
	return 0;
}

void cairn__xorb_decoder_fini(xorb_decoder *d)
{
	if (d->dctx)
		LZ4F_freeDecompressionContext(d->dctx);
	ZSTD_freeDCtx(d->zdctx);
	free(d->scratch);
	d->dctx = NULL;
	d->zdctx = NULL;
	d->scratch = NULL;
}

uint8_t *cairn__xorb_decoder_scratch(xorb_decoder *d)
{
	if (d->scratch == NULL) {
		d->scratch = malloc(CAIRN_CHUNK_MAX);
		if (d->scratch == NULL)
			cairn__error_set(CAIRN_ENOMEM, "out of memory for a chunk buffer");
	}
	return d->scratch;
}

/*
 * Decode one LZ4 frame that must fill dst[0..raw) exactly and use every
 * byte of src[0..packed). Each call to LZ4F_decompress either consumes
 * input or produces output, both bounded, so the loop ends; a call that
 * does neither means the frame is cut short or longer than the header says.
 */
static int lz4_frame_decode(LZ4F_dctx *dctx, uint8_t *dst, size_t raw, const uint8_t *src,
			    size_t packed, size_t index)
{
	LZ4F_decompressOptions_t opt;
	size_t in = 0, out = 0;

	memset(&opt, 0, sizeof(opt));
	opt.stableDst = 1; /* dst stays put across calls: no copies for linked blocks */
	LZ4F_resetDecompressionContext(dctx);
	for (;;) {
		size_t dst_n = raw - out, src_n = packed - in;
		size_t r = LZ4F_decompress(dctx, dst + out, &dst_n, src + in, &src_n, &opt);

		if (LZ4F_isError(r))
			return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: bad LZ4 frame (%s)",
						index, LZ4F_getErrorName(r));
		in += src_n;
		out += dst_n;
		if (r == 0)
			break;
		if (src_n == 0 && dst_n == 0) {
			if (in == packed)
				return cairn__error_set(CAIRN_ECORRUPT,
							"xorb chunk %zu: LZ4 frame truncated", index);
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb chunk %zu: LZ4 frame holds more than the %zu "
						"bytes the header says",
						index, raw);
		}
	}
	if (in != packed)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: %zu bytes after the LZ4 frame", index,
					packed - in);
	if (out != raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: decodes to %zu bytes, the header says %zu",
					index, out, raw);
	return 0;
}

/*
 * Decode one zstd frame that must be all of src[0..packed) and fill
 * dst[0..raw) exactly. The window is capped at what a chunk needs, so a
 * hostile frame cannot ask for more memory than that.
 */
static int zstd_frame_decode(xorb_decoder *d, uint8_t *dst, size_t raw, const uint8_t *src,
			     size_t packed, size_t index)
{
	unsigned long long size;
	size_t r;

	if (d->zdctx == NULL) {
		if ((d->zdctx = ZSTD_createDCtx()) == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory for a zstd decoder");
	}
	ZSTD_DCtx_setParameter(d->zdctx, ZSTD_d_windowLogMax, 17); /* 128 KiB: one chunk */
	/* one frame exactly: its declared size is the header's, and it ends where the bytes do */
	size = ZSTD_getFrameContentSize(src, packed);
	if (size != raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: zstd frame does not declare the %zu bytes "
					"the header says",
					index, raw);
	r = ZSTD_findFrameCompressedSize(src, packed);
	if (ZSTD_isError(r) || r != packed)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: zstd frame %s", index,
					ZSTD_isError(r) ? "truncated or malformed"
							: "followed by other bytes");
	r = ZSTD_decompressDCtx(d->zdctx, dst, raw, src, packed);
	if (ZSTD_isError(r))
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: bad zstd frame (%s)",
					index, ZSTD_getErrorName(r));
	if (r != raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: decodes to %zu bytes, the header says %zu",
					index, r, raw);
	return 0;
}

int cairn__xorb_run_decode(xorb_decoder *d, uint8_t *dst, size_t want, size_t total,
			   const uint8_t *src, size_t packed, size_t index)
{
	size_t size, in = 0, out = 0;
	int rc = cairn__xorb_run_open(d, src, packed, &size, index);

	if (rc != 0)
		return rc;
	if (size < want || (total && size != total))
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: a run's zstd frame does not declare the "
					"bytes of its chunks",
					index);
	/* the first `want` bytes: a reader that needs the run's start stops there */
	return cairn__xorb_run_step(d, dst, &out, want, src, packed, &in, index);
}

int cairn__xorb_run_open(xorb_decoder *d, const uint8_t *src, size_t packed, size_t *total,
			 size_t index)
{
	unsigned long long size = ZSTD_getFrameContentSize(src, packed);
	size_t r;

	if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size == 0 ||
	    size > CAIRN_XORB_RUN_MAX_RAW)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: a run's zstd frame does not declare a size "
					"a run may have",
					index);
	r = ZSTD_findFrameCompressedSize(src, packed);
	if (ZSTD_isError(r) || r != packed)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: a run's zstd frame %s",
					index,
					ZSTD_isError(r) ? "is truncated or malformed"
							: "is followed by other bytes");
	if (d->zdctx == NULL && (d->zdctx = ZSTD_createDCtx()) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a zstd decoder");
	ZSTD_DCtx_reset(d->zdctx, ZSTD_reset_session_and_parameters);
	ZSTD_DCtx_setParameter(d->zdctx, ZSTD_d_windowLogMax, 20); /* a run's 1 MiB */
	*total = (size_t)size;
	return 0;
}

int cairn__xorb_run_step(xorb_decoder *d, uint8_t *dst, size_t *out_pos, size_t want,
			 const uint8_t *src, size_t packed, size_t *in_pos, size_t index)
{
	ZSTD_inBuffer in = {src, packed, *in_pos};
	ZSTD_outBuffer out = {dst, want, *out_pos};
	int rc = 0;

	while (out.pos < want) {
		size_t before_in = in.pos, before_out = out.pos;
		size_t r = ZSTD_decompressStream(d->zdctx, &out, &in);

		if (ZSTD_isError(r)) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: bad zstd frame (%s)",
					      index, ZSTD_getErrorName(r));
			break;
		}
		if (in.pos == before_in && out.pos == before_out) {
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "xorb chunk %zu: a run's zstd frame ends early", index);
			break;
		}
	}
	*in_pos = in.pos;
	*out_pos = out.pos;
	return rc;
}

int cairn__xorb_unpack(xorb_decoder *d, uint8_t *dst, const xorb_chunk_header *h,
		       const uint8_t *src, size_t index)
{
	uint8_t *tmp, empty;

	if (h->raw == 0)
		dst = &empty; /* nothing is written; keeps pointer arithmetic off NULL */
	switch (h->scheme) {
	case CAIRN_XORB_NONE:
		memcpy(dst, src, h->raw);
		return 0;
	case CAIRN_XORB_LZ4:
		return lz4_frame_decode(d->dctx, dst, h->raw, src, h->packed, index);
	case CAIRN_XORB_BG4_LZ4:
		tmp = cairn__xorb_decoder_scratch(d);
		if (tmp == NULL)
			return CAIRN_ENOMEM;
		if (lz4_frame_decode(d->dctx, tmp, h->raw, src, h->packed, index) < 0)
			return CAIRN_ECORRUPT;
		cairn__bg4_join(dst, tmp, h->raw);
		return 0;
	case CAIRN_XORB_ZSTD:
		return zstd_frame_decode(d, dst, h->raw, src, h->packed, index);
	case CAIRN_XORB_BG4_ZSTD:
		tmp = cairn__xorb_decoder_scratch(d);
		if (tmp == NULL)
			return CAIRN_ENOMEM;
		if (zstd_frame_decode(d, tmp, h->raw, src, h->packed, index) < 0)
			return CAIRN_ECORRUPT;
		cairn__bg4_join(dst, tmp, h->raw);
		return 0;
	case CAIRN_XORB_ZSTD_RUN:
	case CAIRN_XORB_RUN_NEXT:
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: part of a run, read only with its run", index);
	default:
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: unknown scheme %u", index,
					h->scheme);
	}
}

int cairn__xorb_check(const uint8_t *data, size_t len, const cairn_hash *expected, size_t index)
{
	char want[CAIRN_HASH_HEX_LEN + 1], have[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash got;

	cairn_chunk_hash(&got, data, len);
	if (cairn_hash_equal(&got, expected))
		return 0;
	cairn_hash_to_hex(want, expected);
	cairn_hash_to_hex(have, &got);
	return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: content hashes to %s, expected %s",
				index, have, want);
}

int cairn__xorb_decode_chunk(xorb_decoder *d, uint8_t *dst, const xorb_chunk_header *h,
			     const uint8_t *src, const cairn_hash *expected, size_t index)
{
	int rc = cairn__xorb_unpack(d, dst, h, src, index);

	if (rc < 0)
		return rc;
	return cairn__xorb_check(dst, h->raw, expected, index);
}
