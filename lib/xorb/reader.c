/*
 * reader.c - reading xorbs that arrive from the network or the disk (see
 * include/cairn/xorb.h): whole xorbs with their footer, and bare runs of
 * chunks cut out of one.
 *
 * Everything here is parsed from untrusted bytes. The order of checks is
 * what keeps it safe: the footer length is checked against the buffer
 * before the footer is touched; the chunk count is checked against the
 * footer length before anything is allocated for it (so allocations are
 * bounded by the input's size); every chunk boundary is checked against
 * the previous one and the footer's start before its header is read; and a
 * header's lengths are checked against the bytes really there before any
 * decoding. Reads parse each header again instead of trusting what open
 * saw, so even a buffer changed behind the reader's back cannot make it
 * read or write out of bounds.
 */
#include "xorb_int.h"

#include <stdlib.h>
#include <string.h>

struct cairn_xorb {
	const uint8_t *data; /* borrowed */
	size_t len;
	size_t n;
	cairn_hash id;
	cairn_hash *hashes;   /* n chunk hashes, contiguous (see cairn_xorb_chunk_hash) */
	uint32_t *starts;     /* n + 1 entries: chunk i is data[starts[i], starts[i + 1]) */
	uint64_t *raw_starts; /* n + 1 entries: the same once decoded */
};

void cairn_xorb_free(cairn_xorb *x)
{
	if (x == NULL)
		return;
	free(x->hashes);
	free(x->starts);
	free(x->raw_starts);
	free(x);
}

/* Footer fields, located but not yet trusted beyond their placement. */
typedef struct footer {
	unsigned version;
	size_t n;
	const uint8_t *hash;     /* the xorb hash */
	const uint8_t *hashes;   /* n * 32 */
	const uint8_t *ends;     /* n * u32 */
	const uint8_t *raw_ends; /* n * u32, NULL in a v0 footer */
} footer;

static int corrupt_footer(const char *what)
{
	return cairn__error_set(CAIRN_ECORRUPT, "xorb footer: %s", what);
}

/* Parse a v1 footer f[0..flen) (ident and version already checked). */
static int parse_footer_v1(footer *out, const uint8_t *f, uint32_t flen)
{
	const uint8_t *tail, *hs, *bs;
	uint32_t n, hashes_from_end, bounds_from_end;

	if (flen < XORB_FOOTER_V1_FIXED)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb footer: %u bytes, at least %u needed",
					flen, XORB_FOOTER_V1_FIXED);
	tail = f + flen - XORB_FOOTER_TAIL;
	n = cairn__load32_le(tail);
	hashes_from_end = cairn__load32_le(tail + 4);
	bounds_from_end = cairn__load32_le(tail + 8);
	if ((uint64_t)flen != XORB_FOOTER_V1_FIXED + (uint64_t)XORB_FOOTER_V1_PER_CHUNK * n)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb footer: %u bytes cannot hold %u chunks", flen, n);
	hs = f + 40;
	bs = hs + 12 + (size_t)32 * n;
	if (memcmp(hs, XORB_IDENT_HASHES, XORB_IDENT_LEN) != 0)
		return corrupt_footer("hashes section missing");
	if (hs[7] != XORB_HASHES_VERSION)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb footer: unknown hashes section version %u", hs[7]);
	if (memcmp(bs, XORB_IDENT_BOUNDS, XORB_IDENT_LEN) != 0)
		return corrupt_footer("boundary section missing");
	if (bs[7] != XORB_BOUNDS_VERSION)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb footer: unknown boundary section version %u", bs[7]);
	if (cairn__load32_le(hs + 8) != n || cairn__load32_le(bs + 8) != n)
		return corrupt_footer("chunk counts disagree between sections");
	if (hashes_from_end != (uint32_t)(f + flen - hs) ||
	    bounds_from_end != (uint32_t)(f + flen - bs))
		return corrupt_footer("section offsets disagree with the layout");
	out->n = n;
	out->hash = f + 8;
	out->hashes = hs + 12;
	out->ends = bs + 12;
	out->raw_ends = bs + 12 + (size_t)4 * n;
	return 0;
}

/* Parse a v0 footer (older writers): ident, version, hash, n, ends, hashes, 16 bytes. */
static int parse_footer_v0(footer *out, const uint8_t *f, uint32_t flen)
{
	uint32_t n;

	if (flen < XORB_FOOTER_V0_FIXED)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb footer: %u bytes, at least %u needed",
					flen, XORB_FOOTER_V0_FIXED);
	n = cairn__load32_le(f + 40);
	if ((uint64_t)flen != XORB_FOOTER_V0_FIXED + (uint64_t)XORB_FOOTER_V0_PER_CHUNK * n)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb footer: %u bytes cannot hold %u chunks", flen, n);
	out->n = n;
	out->hash = f + 8;
	out->ends = f + 44;
	out->hashes = f + 44 + (size_t)4 * n;
	out->raw_ends = NULL;
	return 0;
}

/*
 * Walk the chunk headers against the footer's boundaries: chunk i must
 * start where chunk i - 1 ended, hold a valid header whose lengths fill it
 * exactly, and (v1) decode to what the raw boundaries say; the last chunk
 * must end where the footer starts.
 */
static int walk_chunks(cairn_xorb *x, cairn_chunk_ref *refs, const footer *ft,
		       size_t footer_start)
{
	uint64_t pos = 0, raw = 0, run_raw = 0;
	size_t run_n = 0; /* chunks of the run in progress, 0: none */
	int rc;

	for (size_t i = 0; i < ft->n; i++) {
		uint64_t end = cairn__load32_le(ft->ends + 4 * i);
		xorb_chunk_header h;

		if (end < pos + CAIRN_XORB_CHUNK_HEADER_LEN || end > footer_start)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb footer: chunk %zu ends at %llu, outside "
						"[%llu, %zu]",
						i, (unsigned long long)end,
						(unsigned long long)(pos + CAIRN_XORB_CHUNK_HEADER_LEN),
						footer_start);
		rc = cairn__xorb_header_parse(&h, x->data + pos, (size_t)(end - pos), i);
		if (rc < 0)
			return rc;
		if (CAIRN_XORB_CHUNK_HEADER_LEN + (uint64_t)h.packed != end - pos)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb chunk %zu: header says %u packed bytes, the "
						"footer %llu",
						i, h.packed,
						(unsigned long long)(end - pos -
								     CAIRN_XORB_CHUNK_HEADER_LEN));
		/* a run: a head, then its later chunks, within a run's bounds */
		if (h.scheme == CAIRN_XORB_ZSTD_RUN) {
			run_n = 1;
			run_raw = h.raw;
		} else if (h.scheme == CAIRN_XORB_RUN_NEXT) {
			if (run_n == 0)
				return cairn__error_set(CAIRN_ECORRUPT,
							"xorb chunk %zu: a run's later chunk with no "
							"run before it",
							i);
			run_n++;
			run_raw += h.raw;
			if (run_n > CAIRN_XORB_RUN_MAX_CHUNKS || run_raw > CAIRN_XORB_RUN_MAX_RAW)
				return cairn__error_set(CAIRN_ECORRUPT,
							"xorb chunk %zu: a run past %u chunks or %u "
							"bytes",
							i, CAIRN_XORB_RUN_MAX_CHUNKS,
							CAIRN_XORB_RUN_MAX_RAW);
		} else {
			run_n = 0;
		}
		if (ft->raw_ends && cairn__load32_le(ft->raw_ends + 4 * i) != raw + h.raw)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb chunk %zu: raw length %u disagrees with the "
						"footer's raw boundaries",
						i, h.raw);
		memcpy(x->hashes[i].bytes, ft->hashes + (size_t)32 * i, 32);
		refs[i].hash = x->hashes[i];
		refs[i].len = h.raw;
		x->starts[i] = (uint32_t)pos;
		x->raw_starts[i] = raw;
		pos = end;
		raw += h.raw;
	}
	if (pos != footer_start)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb: %llu unaccounted bytes between the last chunk and "
					"the footer",
					(unsigned long long)(footer_start - pos));
	x->starts[ft->n] = (uint32_t)pos;
	x->raw_starts[ft->n] = raw;
	return 0;
}

int cairn_xorb_open(cairn_xorb **out, const void *data, size_t len)
{
	const uint8_t *p = data;
	cairn_xorb *x = NULL;
	cairn_chunk_ref *refs = NULL;
	cairn_hash computed;
	footer ft;
	uint32_t flen;
	size_t fstart;
	int rc;

	if (len > CAIRN_XORB_MAX_BYTES)
		return cairn__error_set(CAIRN_ETOOBIG, "xorb of %zu bytes exceeds the %u-byte maximum",
					len, CAIRN_XORB_MAX_BYTES);
	if (p == NULL || len < XORB_LEN_FIELD + 8)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb truncated: %zu bytes", p ? len : 0);
	flen = cairn__load32_le(p + len - XORB_LEN_FIELD);
	if (flen > len - XORB_LEN_FIELD)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb truncated: footer of %u bytes, only %zu before its "
					"length",
					flen, len - XORB_LEN_FIELD);
	fstart = len - XORB_LEN_FIELD - flen;
	if (flen < 8 || memcmp(p + fstart, XORB_IDENT, XORB_IDENT_LEN) != 0)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb footer: no XETBLOB identifier");
	memset(&ft, 0, sizeof(ft));
	ft.version = p[fstart + 7];
	if (ft.version == XORB_FOOTER_V1)
		rc = parse_footer_v1(&ft, p + fstart, flen);
	else if (ft.version == XORB_FOOTER_V0)
		rc = parse_footer_v0(&ft, p + fstart, flen);
	else
		rc = cairn__error_set(CAIRN_ECORRUPT, "xorb footer: unknown version %u", ft.version);
	if (rc < 0)
		return rc;
	if (ft.n == 0)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb holds no chunks");

	/* ft.n <= flen / 36 <= len / 36: the allocations below are bounded by the input */
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		goto oom;
	x->data = p;
	x->len = len;
	x->n = ft.n;
	memcpy(x->id.bytes, ft.hash, 32);
	x->hashes = malloc(ft.n * sizeof(*x->hashes));
	x->starts = malloc((ft.n + 1) * sizeof(*x->starts));
	x->raw_starts = malloc((ft.n + 1) * sizeof(*x->raw_starts));
	refs = malloc(ft.n * sizeof(*refs));
	if (x->hashes == NULL || x->starts == NULL || x->raw_starts == NULL || refs == NULL)
		goto oom;

	rc = walk_chunks(x, refs, &ft, fstart);
	if (rc < 0)
		goto fail;
	rc = cairn_xorb_hash(&computed, refs, x->n);
	if (rc < 0)
		goto fail;
	if (!cairn_hash_equal(&computed, &x->id)) {
		char want[CAIRN_HASH_HEX_LEN + 1], have[CAIRN_HASH_HEX_LEN + 1];
		cairn_hash_to_hex(want, &x->id);
		cairn_hash_to_hex(have, &computed);
		rc = cairn__error_set(CAIRN_ECORRUPT,
				      "xorb footer: xorb hash %s, but its chunk list hashes to %s",
				      want, have);
		goto fail;
	}
	free(refs);
	*out = x;
	return 0;
oom:
	rc = cairn__error_set(CAIRN_ENOMEM, "out of memory opening a xorb of %zu chunks", ft.n);
fail:
	free(refs);
	cairn_xorb_free(x);
	return rc;
}

const cairn_hash *cairn_xorb_id(const cairn_xorb *x)
{
	return &x->id;
}

size_t cairn_xorb_chunk_count(const cairn_xorb *x)
{
	return x->n;
}

const cairn_hash *cairn_xorb_chunk_hash(const cairn_xorb *x, size_t i)
{
	return i < x->n ? &x->hashes[i] : NULL;
}

uint32_t cairn_xorb_chunk_len(const cairn_xorb *x, size_t i)
{
	return i < x->n ? (uint32_t)(x->raw_starts[i + 1] - x->raw_starts[i]) : 0;
}

cairn_xorb_scheme cairn_xorb_chunk_scheme(const cairn_xorb *x, size_t i)
{
	return i < x->n ? (cairn_xorb_scheme)x->data[x->starts[i] + 4] : CAIRN_XORB_NONE;
}

int cairn_xorb_check_xet_schemes(const cairn_xorb *x)
{
	for (size_t i = 0; i < x->n; i++) {
		cairn_xorb_scheme s = cairn_xorb_chunk_scheme(x, i);
		if (!CAIRN_XORB_SCHEME_IS_XET(s))
			return cairn__error_set(CAIRN_EINVALID,
						"xorb chunk %zu: compression scheme %u is not one "
						"of xet's (0 to 2)",
						i, (unsigned)s);
	}
	return 0;
}

static int check_range(const cairn_xorb *x, size_t first, size_t end)
{
	if (first > end || end > x->n)
		return cairn__error_set(CAIRN_EINVALID,
					"chunk range [%zu, %zu) outside the xorb's %zu chunks", first,
					end, x->n);
	return 0;
}

int cairn_xorb_span_get(const cairn_xorb *x, size_t first, size_t end, cairn_xorb_span *out)
{
	int rc = check_range(x, first, end);

	if (rc < 0)
		return rc;
	out->offset = x->starts[first];
	out->length = (uint64_t)x->starts[end] - x->starts[first];
	out->raw_size = x->raw_starts[end] - x->raw_starts[first];
	return 0;
}

/*
 * Parse chunk i's header again (the bytes are the caller's; see the file
 * comment) and check it still agrees with what open recorded.
 */
static int chunk_header(xorb_chunk_header *h, const cairn_xorb *x, size_t i)
{
	uint32_t s = x->starts[i], e = x->starts[i + 1];
	int rc = cairn__xorb_header_parse(h, x->data + s, e - s, i);

	if (rc < 0)
		return rc;
	if (CAIRN_XORB_CHUNK_HEADER_LEN + (uint64_t)h->packed != e - s ||
	    h->raw != x->raw_starts[i + 1] - x->raw_starts[i])
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: header changed since open",
					i);
	return 0;
}

/* Chunk i's scheme byte (its header was checked by open). */
static uint8_t scheme_at(const cairn_xorb *x, size_t i)
{
	return x->data[x->starts[i] + 4];
}

/*
 * Decode the run that holds chunk i, whole, into buf (CAIRN_XORB_RUN_MAX_RAW
 * bytes); *head and *stop get its chunks [head, stop).
 */
static int decode_run(xorb_decoder *d, const cairn_xorb *x, size_t i, uint8_t *buf, size_t *head,
		      size_t *stop)
{
	xorb_chunk_header h;
	size_t a = i, b = i + 1;
	int rc;

	while (a > 0 && scheme_at(x, a) == CAIRN_XORB_RUN_NEXT)
		a--;
	while (b < x->n && scheme_at(x, b) == CAIRN_XORB_RUN_NEXT)
		b++;
	if ((rc = chunk_header(&h, x, a)) < 0)
		return rc;
	if (h.scheme != CAIRN_XORB_ZSTD_RUN)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb chunk %zu: a run with no head", i);
	rc = cairn__xorb_run_decode(d, buf, (size_t)(x->raw_starts[b] - x->raw_starts[a]),
				    (size_t)(x->raw_starts[b] - x->raw_starts[a]),
				    x->data + x->starts[a] + CAIRN_XORB_CHUNK_HEADER_LEN, h.packed, a);
	*head = a;
	*stop = b;
	return rc;
}

int cairn_xorb_read_each(const cairn_xorb *x, size_t first, size_t end, cairn_xorb_chunk_fn fn,
			 void *ctx)
{
	xorb_decoder d;
	uint8_t *buf = NULL, *runbuf = NULL;
	int rc = check_range(x, first, end);

	if (rc < 0 || first == end)
		return rc;
	rc = cairn__xorb_decoder_init(&d);
	if (rc < 0)
		return rc;
	for (size_t i = first; i < end;) {
		const uint8_t *src;
		xorb_chunk_header h;

		rc = chunk_header(&h, x, i);
		if (rc < 0)
			break;
		src = x->data + x->starts[i] + CAIRN_XORB_CHUNK_HEADER_LEN;
		if (h.scheme == CAIRN_XORB_ZSTD_RUN || h.scheme == CAIRN_XORB_RUN_NEXT) {
			/* a run reads from its head: decode it whole, hand out what is asked */
			size_t head = i, stop = i;
			if (runbuf == NULL && (runbuf = malloc(CAIRN_XORB_RUN_MAX_RAW)) == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for a run");
				break;
			}
			if ((rc = decode_run(&d, x, i, runbuf, &head, &stop)) < 0)
				break;
			for (; i < stop && i < end && rc == 0; i++) {
				const uint8_t *c = runbuf + (x->raw_starts[i] - x->raw_starts[head]);
				uint32_t n = (uint32_t)(x->raw_starts[i + 1] - x->raw_starts[i]);
				rc = cairn__xorb_check(c, n, &x->hashes[i], i);
				if (rc == 0)
					rc = fn(ctx, i, c, n);
			}
			if (rc != 0)
				break;
			continue;
		}
		if (h.scheme == CAIRN_XORB_NONE) {
			/* stored as is: check in place, hand out without a copy */
			rc = cairn__xorb_check(src, h.raw, &x->hashes[i], i);
			if (rc < 0)
				break;
			rc = fn(ctx, i, src, h.raw);
		} else {
			if (buf == NULL && (buf = malloc(CAIRN_CHUNK_MAX)) == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for a chunk");
				break;
			}
			rc = cairn__xorb_decode_chunk(&d, buf, &h, src, &x->hashes[i], i);
			if (rc < 0)
				break;
			rc = fn(ctx, i, buf, h.raw);
		}
		if (rc != 0)
			break;
		i++;
	}
	free(buf);
	free(runbuf);
	cairn__xorb_decoder_fini(&d);
	return rc;
}

typedef struct into_buffer {
	uint8_t *out;
	size_t off;
} into_buffer;

static int copy_chunk(void *ctx, size_t index, const void *data, size_t len)
{
	into_buffer *b = ctx;

	(void)index;
	memcpy(b->out + b->off, data, len);
	b->off += len;
	return 0;
}

int cairn_xorb_read_chunks(const cairn_xorb *x, size_t first, size_t end, void *dst,
			   size_t dst_cap)
{
	uint8_t none;
	into_buffer b = {dst ? dst : &none, 0};
	uint64_t size;
	int rc = check_range(x, first, end);

	if (rc < 0)
		return rc;
	size = x->raw_starts[end] - x->raw_starts[first];
	if (size > dst_cap || (dst == NULL && size > 0))
		return cairn__error_set(CAIRN_EINVALID,
					"chunks [%zu, %zu) decode to %llu bytes, buffer holds %zu",
					first, end, (unsigned long long)size, dst_cap);
	if (first == end)
		return 0;
	rc = cairn_xorb_read_each(x, first, end, copy_chunk, &b);
	if (rc < 0 && size > 0)
		memset(dst, 0, (size_t)size); /* no unchecked byte leaves */
	return rc;
}

static int discard(void *ctx, size_t index, const void *data, size_t len)
{
	(void)ctx;
	(void)index;
	(void)data;
	(void)len;
	return 0;
}

int cairn_xorb_verify(const cairn_xorb *x)
{
	return cairn_xorb_read_each(x, 0, x->n, discard, NULL);
}

int cairn_xorb_decode_range(void *dst, size_t dst_cap, size_t *out_len, const void *bytes,
			    size_t len, const cairn_hash *expected, size_t n)
{
	const uint8_t *p = bytes;
	uint8_t *out = dst, none;
	xorb_decoder d;
	size_t pos = 0, off = 0, touched = 0, k;
	int rc = 0;

	if ((n > 0 && expected == NULL) || (p == NULL && len > 0) || (out == NULL && dst_cap > 0))
		return cairn__error_set(CAIRN_EINVALID, "cairn_xorb_decode_range: NULL buffer");
	if (out == NULL)
		out = &none; /* dst_cap is 0: only empty chunks can fit */
	if (n == 0 || len == 0) {
		if (n != 0 || len != 0)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb range: %zu bytes for %zu chunks", len, n);
		*out_len = 0;
		return 0;
	}
	rc = cairn__xorb_decoder_init(&d);
	if (rc < 0)
		return rc;
	for (k = 0; k < n; k++) {
		xorb_chunk_header h;

		if (pos == len) {
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "xorb range: %zu chunks expected, the bytes hold %zu",
					      n, k);
			break;
		}
		rc = cairn__xorb_header_parse(&h, p + pos, len - pos, k);
		if (rc < 0)
			break;
		if (h.raw > dst_cap - off) {
			rc = cairn__error_set(CAIRN_ETOOBIG,
					      "xorb range: chunks decode to more than the %zu-byte "
					      "buffer",
					      dst_cap);
			break;
		}
		if (h.scheme == CAIRN_XORB_ZSTD_RUN) {
			/* a run: its later chunks in the range follow; decode what they cover */
			size_t at = pos + CAIRN_XORB_CHUNK_HEADER_LEN + h.packed, m = 1;
			size_t want = h.raw;
			xorb_chunk_header nx;

			while (k + m < n && len - at >= CAIRN_XORB_CHUNK_HEADER_LEN &&
			       p[at + 4] == CAIRN_XORB_RUN_NEXT) {
				if ((rc = cairn__xorb_header_parse(&nx, p + at, len - at, k + m)) < 0)
					break;
				if (nx.raw > dst_cap - off - want) {
					rc = cairn__error_set(CAIRN_ETOOBIG,
							      "xorb range: chunks decode to more than "
							      "the %zu-byte buffer",
							      dst_cap);
					break;
				}
				want += nx.raw;
				at += CAIRN_XORB_CHUNK_HEADER_LEN;
				m++;
			}
			if (rc < 0)
				break;
			touched = off + want;
			rc = cairn__xorb_run_decode(&d, out + off, want, 0,
						    p + pos + CAIRN_XORB_CHUNK_HEADER_LEN, h.packed, k);
			/* each chunk against its hash; the headers say where each ends */
			for (size_t q = 0, a = pos, o = off; q < m && rc == 0; q++) {
				xorb_chunk_header c;
				cairn__xorb_header_parse(&c, p + a, len - a, k + q);
				rc = cairn__xorb_check(out + o, c.raw, &expected[k + q], k + q);
				o += c.raw;
				a += CAIRN_XORB_CHUNK_HEADER_LEN + c.packed;
			}
			if (rc < 0)
				break;
			pos = at;
			off += want;
			k += m - 1;
			continue;
		}
		if (h.scheme == CAIRN_XORB_RUN_NEXT) {
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "xorb range: chunk %zu is a run's later chunk, without "
					      "its run's first",
					      k);
			break;
		}
		touched = off + h.raw;
		rc = cairn__xorb_decode_chunk(&d, out + off, &h,
					      p + pos + CAIRN_XORB_CHUNK_HEADER_LEN, &expected[k],
					      k);
		if (rc < 0)
			break;
		pos += CAIRN_XORB_CHUNK_HEADER_LEN + h.packed;
		off += h.raw;
	}
	if (rc == 0 && pos != len)
		rc = cairn__error_set(CAIRN_ECORRUPT, "xorb range: %zu bytes after the %zu chunks",
				      len - pos, n);
	cairn__xorb_decoder_fini(&d);
	if (rc < 0) {
		if (touched)
			memset(out, 0, touched); /* no unchecked byte leaves */
		return rc;
	}
	*out_len = off;
	return 0;
}
