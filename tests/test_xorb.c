/*
 * test_xorb.c - the xorb codec (include/cairn/xorb.h): round trips for every
 * scheme on every kind of data; the footer byte for byte against a second,
 * independent serializer written here from the format's description (and
 * xet-core's own unit-test numbers); both footer versions; full xorbs at
 * the chunk and byte ceilings; range reads; and hostile input: every
 * truncation, random corruptions, forged hashes, all CAIRN_ECORRUPT, and
 * never a wrong byte handed out; and every allocation failing in turn.
 *
 * No xorb written by xet-core itself was found to keep as a vector (the
 * spec's sample lives in a Hugging Face dataset, not in any repository);
 * tests/data/xorb_mixed_v1.xorb is Cairn's own, kept so that a change in
 * the reader or the format shows up as a failure here.
 *
 * Usage: test_xorb [DATA_DIR] | test_xorb --make-vector PATH
 */
#include "harness.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/hash.h"
#include "cairn/xorb.h"

#include <lz4frame.h>
#include <zstd.h>
#include <stdbool.h>

#define KiB 1024u

/* ---- data ---------------------------------------------------------------- */

enum kind { K_RANDOM, K_ZEROS, K_TEXT, K_BF16, K_FP32, K_COUNT };
static const char *KIND_NAMES[K_COUNT] = {"random", "zeros", "text", "bf16", "fp32"};

/* A roughly normal value with standard deviation `sd` (Irwin-Hall, 4 uniforms). */
static float normalish(uint64_t *s, float sd)
{
	float u = 0;
	for (int i = 0; i < 4; i++)
		u += (float)(splitmix64_next(s) >> 40) / (float)(1u << 24);
	return (u - 2.0f) * 1.7320508f * sd;
}

static void fill(enum kind k, uint64_t seed, uint8_t *p, size_t n)
{
	static const char *words[] = {"the ", "model ", "checkpoint ", "of ", "a ",
				      "bucket\n", "gradient ", "optimizer ", "step ", "0.001 "};
	uint64_t s = seed;
	size_t i = 0;

	switch (k) {
	case K_RANDOM:
		splitmix64_fill(seed, p, n);
		break;
	case K_ZEROS:
		memset(p, 0, n);
		break;
	case K_TEXT:
		while (i < n) {
			const char *w = words[splitmix64_next(&s) % 10];
			for (; *w && i < n; w++)
				p[i++] = (uint8_t)*w;
		}
		break;
	case K_BF16:
		for (; i + 2 <= n; i += 2) {
			float f = normalish(&s, 0.02f);
			uint32_t u;
			memcpy(&u, &f, 4);
			p[i] = (uint8_t)(u >> 16);
			p[i + 1] = (uint8_t)(u >> 24);
		}
		for (; i < n; i++)
			p[i] = 0x3c;
		break;
	case K_FP32:
		for (; i + 4 <= n; i += 4) {
			float f = normalish(&s, 0.02f);
			memcpy(p + i, &f, 4);
		}
		for (; i < n; i++)
			p[i] = 0xbd;
		break;
	default:
		break;
	}
}

/* ---- small helpers -------------------------------------------------------- */

typedef struct xorb_bytes {
	uint8_t *p;
	size_t len;
	cairn_hash hash;
} xorb_bytes;

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void st24(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 3; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Pack n chunks of `data` cut at `sizes` with one writer; copy the result out. */
static int pack(xorb_bytes *out, cairn_xorb_scheme scheme, const uint8_t *data,
		const size_t *sizes, size_t n)
{
	cairn_xorb_writer *w = NULL;
	const uint8_t *b;
	size_t off = 0;
	int rc = cairn_xorb_writer_new(&w);

	if (rc == 0)
		rc = cairn_xorb_writer_set_scheme(w, scheme);
	for (size_t i = 0; rc == 0 && i < n; off += sizes[i], i++)
		rc = cairn_xorb_writer_add(w, data + off, sizes[i], NULL);
	if (rc == 0)
		rc = cairn_xorb_writer_finish(w, &out->hash, &b, &out->len);
	if (rc == 0) {
		out->p = test_xmalloc(out->len);
		memcpy(out->p, b, out->len);
	}
	cairn_xorb_writer_free(w);
	return rc;
}

static int collect(void *ctx, size_t index, const void *data, size_t len)
{
	uint8_t **cursor = ctx;
	(void)index;
	memcpy(*cursor, data, len);
	*cursor += len;
	return 0;
}

/* The scheme byte of each chunk header, walked from the start. */
static void schemes_of(const xorb_bytes *x, size_t n, int counts[3])
{
	size_t pos = 0;

	counts[0] = counts[1] = counts[2] = 0;
	for (size_t i = 0; i < n && pos + 8 <= x->len; i++) {
		uint32_t packed = x->p[pos + 1] | x->p[pos + 2] << 8 | x->p[pos + 3] << 16;
		if (x->p[pos + 4] < 3)
			counts[x->p[pos + 4]]++;
		pos += 8 + packed;
	}
}

/*
 * Everything a reader offers, checked against the data the xorb was made
 * from: open, id, chunk list, whole and ranged reads (buffer, callback,
 * bare byte range), verify. Returns true if all agree.
 */
static bool check_reads(const xorb_bytes *xb, const uint8_t *data, const size_t *sizes, size_t n)
{
	cairn_xorb *x = NULL;
	cairn_chunk_ref *refs = test_xmalloc(n * sizeof(*refs));
	size_t total = 0, off = 0;
	bool ok = true;
	cairn_hash h;
	uint8_t *out, *cursor;

	for (size_t i = 0; i < n; i++)
		total += sizes[i];
	out = test_xmalloc(total);
	if (cairn_xorb_open(&x, xb->p, xb->len) != 0) {
		printf("  open: %s\n", cairn_error_last());
		free(out);
		free(refs);
		return false;
	}
	ok &= cairn_xorb_chunk_count(x) == n;
	ok &= cairn_hash_equal(cairn_xorb_id(x), &xb->hash);
	for (size_t i = 0; i < n; i++) {
		cairn_chunk_hash(&refs[i].hash, data + off, sizes[i]);
		refs[i].len = sizes[i];
		ok &= cairn_hash_equal(cairn_xorb_chunk_hash(x, i), &refs[i].hash);
		ok &= cairn_xorb_chunk_len(x, i) == sizes[i];
		off += sizes[i];
	}
	ok &= cairn_xorb_chunk_hash(x, n) == NULL && cairn_xorb_chunk_len(x, n) == 0;
	ok &= cairn_xorb_hash(&h, refs, n) == 0 && cairn_hash_equal(&h, &xb->hash);

	memset(out, 0xee, total);
	ok &= cairn_xorb_read_chunks(x, 0, n, out, total) == 0 && memcmp(out, data, total) == 0;
	memset(out, 0xee, total);
	cursor = out;
	ok &= cairn_xorb_read_each(x, 0, n, collect, &cursor) == 0 && cursor == out + total &&
	      memcmp(out, data, total) == 0;
	ok &= cairn_xorb_verify(x) == 0;

	/* a few ranges, as a reader and as bare bytes */
	for (size_t first = 0; first <= n; first += 1 + n / 3) {
		for (size_t end = first; end <= n; end += 1 + n / 4) {
			cairn_xorb_span sp;
			size_t got = 0, at = 0;
			for (size_t i = 0; i < first; i++)
				at += sizes[i];
			ok &= cairn_xorb_span_get(x, first, end, &sp) == 0;
			memset(out, 0xee, total);
			ok &= cairn_xorb_read_chunks(x, first, end, out, sp.raw_size) == 0 &&
			      memcmp(out, data + at, sp.raw_size) == 0;
			memset(out, 0xee, total);
			ok &= cairn_xorb_decode_range(out, total, &got, xb->p + sp.offset, sp.length,
						      cairn_xorb_chunk_hash(x, first),
						      end - first) == 0 &&
			      got == sp.raw_size && memcmp(out, data + at, got) == 0;
		}
	}
	cairn_xorb_free(x);
	free(out);
	free(refs);
	return ok;
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trips(void)
{
	static const size_t one[] = {1};
	static const size_t small[] = {8 * KiB};
	static const size_t big[] = {128 * KiB};
	static const size_t mixed[] = {1, 3, 4097, 8 * KiB, 64 * KiB, 128 * KiB, 7, 65535, 2, 12345};
	static const struct {
		const char *name;
		const size_t *sizes;
		size_t n;
	} cuts[] = {{"1 B", one, 1},
		    {"8 KiB", small, 1},
		    {"128 KiB", big, 1},
		    {"mixed sizes", mixed, sizeof(mixed) / sizeof(mixed[0])}};
	static const cairn_xorb_scheme schemes[] = {CAIRN_XORB_NONE, CAIRN_XORB_LZ4,
						    CAIRN_XORB_BG4_LZ4, CAIRN_XORB_AUTO};
	static const char *scheme_names[] = {"none", "lz4", "bg4-lz4", "auto"};
	uint8_t *data = test_xmalloc(512 * KiB);

	test_section("round trips: every scheme, kind of data and chunk size");
	for (int k = 0; k < K_COUNT; k++) {
		fill((enum kind)k, 100 + k, data, 512 * KiB);
		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			for (size_t s = 0; s < 4; s++) {
				xorb_bytes xb = {0};
				int counts[3];
				bool ok = pack(&xb, schemes[s], data, cuts[c].sizes, cuts[c].n) == 0;

				ok = ok && check_reads(&xb, data, cuts[c].sizes, cuts[c].n);
				CHECKF(ok, "%s, %s, %s: %s", KIND_NAMES[k], cuts[c].name,
				       scheme_names[s], cairn_error_last());
				if (!ok) {
					free(xb.p);
					continue;
				}
				schemes_of(&xb, cuts[c].n, counts);
				/* NONE never compresses; nothing compresses random bytes */
				if (schemes[s] == CAIRN_XORB_NONE || k == K_RANDOM)
					CHECKF(counts[0] == (int)cuts[c].n, "%s %s %s stored as is",
					       KIND_NAMES[k], cuts[c].name, scheme_names[s]);
				/* a forced scheme is used wherever it helps (zeros: beyond 1 byte) */
				if (k == K_ZEROS && cuts[c].sizes[0] > 1 && cuts[c].n == 1 &&
				    (schemes[s] == CAIRN_XORB_LZ4 || schemes[s] == CAIRN_XORB_BG4_LZ4))
					CHECKF(counts[schemes[s]] == 1, "zeros %s %s", cuts[c].name,
					       scheme_names[s]);
				/* auto groups bytes of floats, and leaves text to plain LZ4 */
				if (schemes[s] == CAIRN_XORB_AUTO && cuts[c].sizes[0] >= 8 * KiB &&
				    cuts[c].n == 1) {
					if (k == K_BF16 || k == K_FP32)
						CHECKF(counts[2] == 1, "auto on %s uses bg4",
						       KIND_NAMES[k]);
					if (k == K_TEXT)
						CHECKF(counts[1] == 1, "auto on text uses lz4");
				}
				free(xb.p);
			}
		}
	}
	free(data);
}

/* ---- Cairn's own schemes: zstd, byte grouping + zstd, and the compact writer ------- */

static uint8_t first_scheme(const xorb_bytes *xb)
{
	return xb->len > 8 ? xb->p[4] : 0xff;
}

/* Re-pack one chunk's xorb with a hand-made packed body; returns the reader's verdict. */
static int open_with_body(uint8_t scheme, const uint8_t *body, size_t body_len, const uint8_t *raw,
			  size_t raw_len, bool same)
{
	cairn_xorb_writer *w = NULL;
	uint8_t *chunk = test_xmalloc(8 + body_len);
	cairn_xorb *x = NULL;
	int rc;

	chunk[0] = 0;
	chunk[1] = (uint8_t)body_len;
	chunk[2] = (uint8_t)(body_len >> 8);
	chunk[3] = (uint8_t)(body_len >> 16);
	chunk[4] = scheme;
	chunk[5] = (uint8_t)raw_len;
	chunk[6] = (uint8_t)(raw_len >> 8);
	chunk[7] = (uint8_t)(raw_len >> 16);
	memcpy(chunk + 8, body, body_len);
	/* add_packed decodes to learn the hash: it is the first reader to judge */
	CHECK(cairn_xorb_writer_new(&w) == 0);
	rc = cairn_xorb_writer_add_packed(w, chunk, 8 + body_len);
	if (rc == 0) {
		const uint8_t *b;
		size_t len;
		uint8_t *out = test_xmalloc(raw_len ? raw_len : 1);
		CHECK(cairn_xorb_writer_finish(w, NULL, &b, &len) == 0);
		rc = cairn_xorb_open(&x, b, len);
		if (rc == 0)
			rc = cairn_xorb_read_chunks(x, 0, 1, out, raw_len);
		/* (a flipped byte may decode to other bytes: they hash to another chunk) */
		if (rc == 0 && same)
			CHECK(memcmp(out, raw, raw_len) == 0);
		cairn_xorb_free(x);
		free(out);
	}
	cairn_xorb_writer_free(w);
	free(chunk);
	return rc;
}

static void zstd_schemes(void)
{
	static const size_t mixed[] = {1, 2, 3, 4, 5, 4097, 8 * KiB, 64 * KiB, 128 * KiB, 65535};
	static const cairn_xorb_scheme schemes[] = {CAIRN_XORB_ZSTD, CAIRN_XORB_BG4_ZSTD,
						    CAIRN_XORB_COMPACT};
	static const char *names[] = {"zstd", "bg4-zstd", "compact"};
	uint8_t *data = test_xmalloc(512 * KiB);

	test_section("Cairn's schemes: zstd, bg4 + zstd, compact; round trips and edges");
	for (int k = 0; k < K_COUNT; k++) {
		fill((enum kind)k, 200 + k, data, 512 * KiB);
		for (size_t s = 0; s < 3; s++) {
			xorb_bytes xb = {0}, one = {0}, lz = {0};
			size_t big = 128 * KiB;
			bool ok = pack(&xb, schemes[s], data, mixed, sizeof(mixed) / sizeof(mixed[0])) == 0;

			CHECKF(ok && check_reads(&xb, data, mixed, sizeof(mixed) / sizeof(mixed[0])),
			       "%s on %s: %s", names[s], KIND_NAMES[k], cairn_error_last());
			/* the xorb hash is over chunks, not their encoding: the same as xet's */
			CHECK(pack(&lz, CAIRN_XORB_AUTO, data, mixed, sizeof(mixed) / sizeof(mixed[0])) ==
			      0);
			CHECKF(cairn_hash_equal(&xb.hash, &lz.hash), "%s on %s: same xorb hash",
			       names[s], KIND_NAMES[k]);
			/* one big chunk: which scheme it got */
			CHECK(pack(&one, schemes[s], data, &big, 1) == 0);
			if (k == K_RANDOM)
				CHECKF(first_scheme(&one) == CAIRN_XORB_NONE, "%s keeps random as is",
				       names[s]);
			else if (schemes[s] != CAIRN_XORB_COMPACT)
				CHECKF(first_scheme(&one) == schemes[s], "%s on %s used",
				       names[s], KIND_NAMES[k]);
			else
				CHECKF(first_scheme(&one) == (k == K_BF16 || k == K_FP32
								      ? CAIRN_XORB_BG4_ZSTD
								      : CAIRN_XORB_ZSTD),
				       "compact on %s: scheme %u", KIND_NAMES[k], first_scheme(&one));
			/* compact never stores more than xet's schemes on text and numbers */
			if (schemes[s] == CAIRN_XORB_COMPACT && k != K_RANDOM)
				CHECKF(xb.len <= lz.len, "compact %zu <= auto %zu on %s", xb.len, lz.len,
				       KIND_NAMES[k]);
			{
				cairn_xorb *x = NULL;
				CHECK(cairn_xorb_open(&x, xb.p, xb.len) == 0);
				/* a xorb in Cairn's schemes is no client's to upload */
				if (k != K_RANDOM)
					CHECK(cairn_xorb_check_xet_schemes(x) == CAIRN_EINVALID);
				cairn_xorb_free(x);
				CHECK(cairn_xorb_open(&x, lz.p, lz.len) == 0);
				CHECK(cairn_xorb_check_xet_schemes(x) == 0);
				cairn_xorb_free(x);
			}
			free(xb.p);
			free(one.p);
			free(lz.p);
		}
	}

	test_section("hostile zstd chunks are CAIRN_ECORRUPT, never a crash or a wrong byte");
	{
		size_t n = 20000, cap = ZSTD_compressBound(n), z;
		uint8_t *frame = test_xmalloc(cap + 16), *bad = test_xmalloc(cap + 16);

		fill(K_TEXT, 7, data, n);
		z = ZSTD_compress(frame, cap, data, n, 3);
		CHECK(!ZSTD_isError(z));
		CHECK(open_with_body(CAIRN_XORB_ZSTD, frame, z, data, n, true) == 0);
		/* cut short, one byte more, another length in the header */
		CHECK(open_with_body(CAIRN_XORB_ZSTD, frame, z - 1, data, n, true) == CAIRN_ECORRUPT);
		memcpy(bad, frame, z);
		bad[z] = 0;
		CHECK(open_with_body(CAIRN_XORB_ZSTD, bad, z + 1, data, n, true) == CAIRN_ECORRUPT);
		CHECK(open_with_body(CAIRN_XORB_ZSTD, frame, z, data, n - 1, true) == CAIRN_ECORRUPT);
		/* flipped bytes all through the frame */
		for (size_t i = 0; i < z; i += 97) {
			int rc;
			memcpy(bad, frame, z);
			bad[i] ^= 0x5a;
			rc = open_with_body(CAIRN_XORB_ZSTD, bad, z, data, n, false);
			CHECKF(rc == CAIRN_ECORRUPT || rc == 0, "flip at %zu: %d", i, rc);
		}
		/* a frame without its content size, and one that wants a window past a chunk's */
		{
			ZSTD_CCtx *cc = ZSTD_createCCtx();
			ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
			z = ZSTD_compress2(cc, bad, cap, data, n);
			CHECK(!ZSTD_isError(z));
			CHECK(open_with_body(CAIRN_XORB_ZSTD, bad, z, data, n, true) == CAIRN_ECORRUPT);
			ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
			{
				ZSTD_inBuffer in = {data, n / 2, 0};
				ZSTD_outBuffer out = {bad, cap, 0};
				/* streamed in two calls: a frame that never says its size */
				CHECK(!ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue)));
				in.size = n;
				CHECK(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end) == 0);
				CHECK(open_with_body(CAIRN_XORB_ZSTD, bad, out.pos, data, n, true) ==
				      CAIRN_ECORRUPT);
			}
			ZSTD_freeCCtx(cc);
		}
		/* an unknown scheme next to ours */
		CHECK(open_with_body(66, frame, z, data, n, true) == CAIRN_ECORRUPT);
		free(frame);
		free(bad);
	}
	{
		cairn_xorb_writer *w = NULL;
		CHECK(cairn_xorb_writer_new(&w) == 0);
		CHECK(cairn_xorb_writer_set_level(w, 0) == CAIRN_EINVALID);
		CHECK(cairn_xorb_writer_set_level(w, 23) == CAIRN_EINVALID);
		CHECK(cairn_xorb_writer_set_level(w, 19) == 0);
		CHECK(cairn_xorb_writer_set_scheme(w, (cairn_xorb_scheme)66) == CAIRN_EINVALID);
		cairn_xorb_writer_free(w);
	}
	free(data);
}

static void zstd_runs(void)
{
	enum { N = 21 };
	size_t sizes[N], total = 0, off = 0;
	const void *ptrs[N];
	uint8_t *data = test_xmalloc(1024 * KiB), *out = test_xmalloc(1024 * KiB);
	cairn_xorb_writer *w = NULL;
	cairn_xorb *x = NULL;
	const uint8_t *b;
	xorb_bytes xb = {0};
	size_t len;

	test_section("runs: consecutive chunks in one zstd frame, read from any chunk");
	fill(K_TEXT, 300, data, 512 * KiB);
	fill(K_FP32, 301, data + 512 * KiB, 512 * KiB);
	for (size_t i = 0; i < N; i++) {
		sizes[i] = i < 20 ? 3000 + i * 1777 : 64 * KiB; /* 20 of text, then floats */
		ptrs[i] = data + (i < 20 ? off : 512 * KiB);
		off += sizes[i];
		total += sizes[i];
	}
	CHECK(off - sizes[20] < 512 * KiB);
	CHECK(cairn_xorb_writer_new(&w) == 0);
	CHECK(cairn_xorb_writer_set_scheme(w, CAIRN_XORB_COMPACT) == 0);
	CHECK(cairn_xorb_writer_add_run(w, ptrs, sizes, NULL, 10) == 0);
	CHECK(cairn_xorb_writer_add_run(w, ptrs + 10, sizes + 10, NULL, 10) == 0);
	CHECK(cairn_xorb_writer_add_run(w, ptrs + 20, sizes + 20, NULL, 1) == 0);
	CHECK(cairn_xorb_writer_count(w) == N);
	/* bounds: chunks, bytes, empty */
	{
		const void *many[CAIRN_XORB_RUN_MAX_CHUNKS + 1];
		size_t ones[CAIRN_XORB_RUN_MAX_CHUNKS + 1], big[9], zero = 0;
		for (size_t i = 0; i <= CAIRN_XORB_RUN_MAX_CHUNKS; i++) {
			many[i] = data;
			ones[i] = 1;
		}
		CHECK(cairn_xorb_writer_add_run(w, many, ones, NULL, CAIRN_XORB_RUN_MAX_CHUNKS + 1) ==
		      CAIRN_EINVALID);
		for (size_t i = 0; i < 9; i++)
			big[i] = 128 * KiB;
		CHECK(cairn_xorb_writer_add_run(w, many, big, NULL, 9) == CAIRN_EINVALID);
		CHECK(cairn_xorb_writer_add_run(w, many, &zero, NULL, 1) == CAIRN_EINVALID);
		CHECK(cairn_xorb_writer_count(w) == N);
	}
	CHECK(cairn_xorb_writer_finish(w, &xb.hash, &b, &len) == 0);
	xb.p = test_xmalloc(len);
	memcpy(xb.p, b, len);
	xb.len = len;
	cairn_xorb_writer_free(w);

	/* the chunks, end to end, as the reads must give them back */
	{
		uint8_t *flat = test_xmalloc(total);
		for (size_t i = 0, at = 0; i < N; at += sizes[i], i++)
			memcpy(flat + at, ptrs[i], sizes[i]);
		CHECK(cairn_xorb_open(&x, xb.p, xb.len) == 0);
		CHECK(cairn_xorb_chunk_scheme(x, 0) == CAIRN_XORB_ZSTD_RUN);
		CHECK(cairn_xorb_chunk_scheme(x, 1) == CAIRN_XORB_RUN_NEXT);
		CHECK(cairn_xorb_chunk_scheme(x, 10) == CAIRN_XORB_ZSTD_RUN);
		CHECK(cairn_xorb_chunk_scheme(x, 20) == CAIRN_XORB_BG4_ZSTD);
		CHECK(cairn_xorb_verify(x) == 0);
		/* every range, as a reader; bare byte ranges that start at a run's first chunk */
		for (size_t first = 0; first <= N; first++) {
			for (size_t end = first; end <= N; end++) {
				cairn_xorb_span sp;
				size_t at = 0, got = 0;
				uint8_t *cursor = out;
				int rc;
				for (size_t i = 0; i < first; i++)
					at += sizes[i];
				CHECK(cairn_xorb_span_get(x, first, end, &sp) == 0);
				CHECKF(cairn_xorb_read_chunks(x, first, end, out, sp.raw_size) == 0 &&
					       memcmp(out, flat + at, sp.raw_size) == 0,
				       "read_chunks [%zu, %zu)", first, end);
				CHECKF(cairn_xorb_read_each(x, first, end, collect, &cursor) == 0 &&
					       cursor == out + sp.raw_size &&
					       memcmp(out, flat + at, sp.raw_size) == 0,
				       "read_each [%zu, %zu)", first, end);
				if (first == end)
					continue;
				rc = cairn_xorb_decode_range(out, 1024 * KiB, &got, xb.p + sp.offset,
							     sp.length, cairn_xorb_chunk_hash(x, first),
							     end - first);
				if (cairn_xorb_chunk_scheme(x, first) == CAIRN_XORB_RUN_NEXT)
					CHECKF(rc == CAIRN_ECORRUPT, "bare range [%zu, %zu) from a run's "
					       "middle: %d", first, end, rc);
				else
					CHECKF(rc == 0 && got == sp.raw_size &&
						       memcmp(out, flat + at, got) == 0,
					       "bare range [%zu, %zu): %d", first, end, rc);
			}
		}
		cairn_xorb_free(x);
		free(flat);
	}
	/* hostile: a run's later chunk first, a head made a later chunk, a later chunk with bytes */
	{
		uint8_t *bad = test_xmalloc(xb.len);
		cairn_xorb_span sp;
		CHECK(cairn_xorb_open(&x, xb.p, xb.len) == 0);
		CHECK(cairn_xorb_span_get(x, 10, 11, &sp) == 0);
		cairn_xorb_free(x);
		memcpy(bad, xb.p, xb.len);
		bad[4] = CAIRN_XORB_RUN_NEXT;
		CHECK(cairn_xorb_open(&x, bad, xb.len) == CAIRN_ECORRUPT);
		memcpy(bad, xb.p, xb.len);
		bad[sp.offset + 4] = CAIRN_XORB_RUN_NEXT; /* run 2 joins run 1: its frame has bytes */
		CHECK(cairn_xorb_open(&x, bad, xb.len) == CAIRN_ECORRUPT);
		/* the frame cut: every read of the run fails, none hands out a byte */
		memcpy(bad, xb.p, xb.len);
		bad[20] ^= 0x55;
		if (cairn_xorb_open(&x, bad, xb.len) == 0) {
			CHECK(cairn_xorb_verify(x) == CAIRN_ECORRUPT);
			memset(out, 0, 64);
			CHECK(cairn_xorb_read_chunks(x, 3, 4, out, sizes[3]) == CAIRN_ECORRUPT);
			cairn_xorb_free(x);
		}
		free(bad);
	}
	free(xb.p);
	free(data);
	free(out);
}

/* ---- byte grouping through the public format --------------------------------- */

/* Decode one LZ4 frame with liblz4 directly, to look inside a BG4 chunk. */
static bool lz4_frame_raw(uint8_t *dst, size_t cap, const uint8_t *src, size_t len)
{
	LZ4F_dctx *d = NULL;
	size_t dn = cap, sn = len, r;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		return false;
	r = LZ4F_decompress(d, dst, &dn, src, &sn, NULL);
	LZ4F_freeDecompressionContext(d);
	return r == 0 && dn == cap && sn == len;
}

static void bg4_layout(void)
{
	test_section("BG4: bytes grouped by position mod 4, spare bytes to the first groups");
	/*
	 * The spec: [A1 A2 A3 A4 B1 B2 ..] -> [A1 B1 C1 .. A2 B2 C2 .. A3 .. A4 ..],
	 * and when n % 4 != 0 the spare bytes go one each to groups 1, 2, 3.
	 * Group by hand, then look inside what the writer stored.
	 */
	for (size_t n = 4000; n <= 4003; n++) {
		uint8_t *chunk = test_xmalloc(n), *expect = test_xmalloc(n);
		uint8_t *inside = test_xmalloc(n);
		xorb_bytes xb = {0};
		size_t at = 0, q = n / 4, r = n % 4;

		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)(i % 4 == 3 ? i / 4 : i % 4 * 50);
		for (size_t g = 0; g < 4; g++)
			for (size_t i = 0; i < q + (g < r); i++)
				expect[at++] = chunk[4 * i + g];
		CHECK(pack(&xb, CAIRN_XORB_BG4_LZ4, chunk, &n, 1) == 0);
		if (xb.p && xb.p[4] == CAIRN_XORB_BG4_LZ4) {
			uint32_t packed = xb.p[1] | xb.p[2] << 8 | xb.p[3] << 16;
			CHECKF(lz4_frame_raw(inside, n, xb.p + 8, packed) &&
				       memcmp(inside, expect, n) == 0,
			       "grouping of %zu bytes", n);
		} else {
			CHECKF(0, "%zu bytes not stored as BG4", n);
		}
		CHECK(xb.p && check_reads(&xb, chunk, &n, 1));
		free(xb.p);
		free(chunk);
		free(expect);
		free(inside);
	}
}

/* ---- an independent serializer: the format as described ---------------------- */

typedef struct tchunk {
	uint8_t scheme;
	const uint8_t *packed;
	uint32_t packed_len;
	uint32_t raw_len;
	cairn_hash hash;
} tchunk;

/*
 * Serialize chunks and a footer (version 1 or 0) from the field list of
 * hub-docs docs/xet/xorb.md and xet-core's XorbObjectInfo, written here
 * without looking at lib/xorb.
 */
static uint8_t *ref_xorb(size_t *len, const tchunk *c, size_t n, const cairn_hash *xorb_hash,
			 int version)
{
	size_t chunk_bytes = 0, footer, at = 0;
	uint32_t raw = 0;
	uint8_t *p;

	for (size_t i = 0; i < n; i++)
		chunk_bytes += 8 + c[i].packed_len;
	footer = version == 1 ? 7 + 1 + 32 + (7 + 1 + 4 + 32 * n) + (7 + 1 + 4 + 8 * n) + 4 + 4 +
					4 + 16
			      : 7 + 1 + 32 + 4 + 4 * n + 32 * n + 16;
	*len = chunk_bytes + footer + 4;
	p = test_xmalloc(*len);
	for (size_t i = 0; i < n; i++) {
		p[at] = 0;
		st24(p + at + 1, c[i].packed_len);
		p[at + 4] = c[i].scheme;
		st24(p + at + 5, c[i].raw_len);
		memcpy(p + at + 8, c[i].packed, c[i].packed_len);
		at += 8 + c[i].packed_len;
	}
	memcpy(p + at, "XETBLOB", 7);
	p[at + 7] = (uint8_t)version;
	memcpy(p + at + 8, xorb_hash->bytes, 32);
	at += 40;
	if (version == 1) {
		size_t hashes_at = at, bounds_at, end;
		memcpy(p + at, "XBLBHSH", 7);
		p[at + 7] = 0;
		st32(p + at + 8, (uint32_t)n);
		at += 12;
		for (size_t i = 0; i < n; i++, at += 32)
			memcpy(p + at, c[i].hash.bytes, 32);
		bounds_at = at;
		memcpy(p + at, "XBLBBND", 7);
		p[at + 7] = 1;
		st32(p + at + 8, (uint32_t)n);
		at += 12;
		for (size_t i = 0, end_at = 0; i < n; i++, at += 4) {
			end_at += 8 + c[i].packed_len;
			st32(p + at, (uint32_t)end_at);
		}
		for (size_t i = 0; i < n; i++, at += 4) {
			raw += c[i].raw_len;
			st32(p + at, raw);
		}
		end = at + 4 + 4 + 4 + 16;
		st32(p + at, (uint32_t)n);
		st32(p + at + 4, (uint32_t)(end - hashes_at));
		st32(p + at + 8, (uint32_t)(end - bounds_at));
		at += 12;
	} else {
		st32(p + at, (uint32_t)n);
		at += 4;
		for (size_t i = 0, end_at = 0; i < n; i++, at += 4) {
			end_at += 8 + c[i].packed_len;
			st32(p + at, (uint32_t)end_at);
		}
		for (size_t i = 0; i < n; i++, at += 32)
			memcpy(p + at, c[i].hash.bytes, 32);
	}
	memset(p + at, 0, 16);
	at += 16;
	st32(p + at, (uint32_t)footer);
	return p;
}

/* Chunks stored as is, from data cut at sizes. */
static tchunk *plain_chunks(const uint8_t *data, const size_t *sizes, size_t n, cairn_hash *xh)
{
	tchunk *c = test_xmalloc(n * sizeof(*c));
	cairn_chunk_ref *refs = test_xmalloc(n * sizeof(*refs));
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		c[i].scheme = 0;
		c[i].packed = data + off;
		c[i].packed_len = c[i].raw_len = (uint32_t)sizes[i];
		cairn_chunk_hash(&c[i].hash, data + off, sizes[i]);
		refs[i].hash = c[i].hash;
		refs[i].len = sizes[i];
		off += sizes[i];
	}
	if (cairn_xorb_hash(xh, refs, n) != 0)
		memset(xh, 0, sizeof(*xh));
	free(refs);
	return c;
}

static void footer_layout(void)
{
	static const size_t three[] = {100, 100, 100};
	static const size_t odd[] = {1, 70000, 5, 131072, 8192};
	uint8_t data[100 * 3], *big = test_xmalloc(300 * KiB);
	xorb_bytes xb = {0};
	size_t rlen, fstart;
	cairn_hash xh;
	tchunk *c;
	uint8_t *ref;

	test_section("footer: xet-core's layout, byte for byte");
	/*
	 * xet-core's own unit tests (xorb_object_format.rs): three 100-byte
	 * chunks stored as is end at 108, 216 and 324; a footer with no chunks
	 * is 92 bytes (XORB_OBJECT_INFO_DEFAULT_LENGTH), each chunk adds a
	 * hash (32) and two u32 boundaries (8).
	 */
	splitmix64_fill(7, data, sizeof(data));
	CHECK(pack(&xb, CAIRN_XORB_NONE, data, three, 3) == 0);
	CHECK_EQ_U64(xb.len, 324 + 92 + 3 * 40 + 4);
	if (xb.len == 324 + 92 + 3 * 40 + 4) {
		const uint8_t *f = xb.p + 324;
		CHECK_EQ_U64(ld32(xb.p + xb.len - 4), 92 + 3 * 40);
		CHECK_MEM(f, "XETBLOB\x01", 8);
		CHECK_MEM(f + 8, xb.hash.bytes, 32);
		CHECK_MEM(f + 40, "XBLBHSH\x00", 8);
		CHECK_EQ_U64(ld32(f + 48), 3);
		CHECK_MEM(f + 148, "XBLBBND\x01", 8);
		CHECK_EQ_U64(ld32(f + 156), 3);
		CHECK_EQ_U64(ld32(f + 160), 108);
		CHECK_EQ_U64(ld32(f + 164), 216);
		CHECK_EQ_U64(ld32(f + 168), 324);
		CHECK_EQ_U64(ld32(f + 172), 100); /* raw ends */
		CHECK_EQ_U64(ld32(f + 176), 200);
		CHECK_EQ_U64(ld32(f + 180), 300);
		CHECK_EQ_U64(ld32(f + 184), 3); /* the fixed tail: n, offsets, 16 bytes */
		CHECK_EQ_U64(ld32(f + 188), 212 - 40);
		CHECK_EQ_U64(ld32(f + 192), 212 - 148);
		for (int i = 0; i < 16; i++)
			CHECK(f[196 + i] == 0);
	}
	c = plain_chunks(data, three, 3, &xh);
	ref = ref_xorb(&rlen, c, 3, &xh, 1);
	CHECK(cairn_hash_equal(&xh, &xb.hash));
	CHECK(rlen == xb.len && memcmp(ref, xb.p, rlen) == 0);
	free(ref);
	free(c);
	free(xb.p);

	/* the same for odd sizes, and the old (v0) footer reads the same */
	splitmix64_fill(8, big, 300 * KiB);
	CHECK(pack(&xb, CAIRN_XORB_NONE, big, odd, 5) == 0);
	c = plain_chunks(big, odd, 5, &xh);
	ref = ref_xorb(&rlen, c, 5, &xh, 1);
	CHECK(rlen == xb.len && memcmp(ref, xb.p, rlen) == 0);
	free(ref);
	ref = ref_xorb(&rlen, c, 5, &xh, 0);
	{
		xorb_bytes v0 = {ref, rlen, xh};
		CHECKF(check_reads(&v0, big, odd, 5), "v0 footer: %s", cairn_error_last());
	}
	fstart = rlen - 4 - ld32(ref + rlen - 4);
	CHECK(fstart == xb.len - 4 - ld32(xb.p + xb.len - 4)); /* same chunk bytes */
	free(ref);
	free(c);
	free(xb.p);
	free(big);
}

/* Hand-made xorbs the writer never makes but the format allows. */
static void reader_tolerance(void)
{
	uint8_t data[64], *many;
	size_t sizes[3] = {10, 0, 20}, rlen;
	cairn_xorb *x = NULL;
	cairn_hash xh;
	tchunk *c;
	uint8_t *ref;

	test_section("reader: no chunks, empty chunks, more than 8192 chunks, nonce ignored");
	/* a footer for zero chunks is well formed, but a xorb holds at least one */
	memset(&xh, 0, sizeof(xh));
	ref = ref_xorb(&rlen, NULL, 0, &xh, 1);
	CHECK_EQ_U64(rlen, 92 + 4);
	CHECK(cairn_xorb_open(&x, ref, rlen) == CAIRN_ECORRUPT);
	CHECK(strstr(cairn_error_last(), "no chunks") != NULL);
	free(ref);
	ref = ref_xorb(&rlen, NULL, 0, &xh, 0);
	CHECK(cairn_xorb_open(&x, ref, rlen) == CAIRN_ECORRUPT);
	free(ref);

	splitmix64_fill(9, data, sizeof(data));
	c = plain_chunks(data, sizes, 3, &xh);
	ref = ref_xorb(&rlen, c, 3, &xh, 1);
	{
		xorb_bytes xb = {ref, rlen, xh};
		CHECKF(check_reads(&xb, data, sizes, 3), "empty chunk: %s", cairn_error_last());
	}
	/* the 16-byte nonce/reserved buffer: readers must ignore it */
	for (int i = 0; i < 16; i++)
		ref[rlen - 4 - 16 + i] = (uint8_t)(0xa5 + i);
	CHECK(cairn_xorb_open(&x, ref, rlen) == 0 && cairn_xorb_verify(x) == 0);
	cairn_xorb_free(x);
	x = NULL;
	free(ref);
	free(c);

	/* 9000 one-byte chunks: over the writer's cap, still a valid xorb */
	{
		size_t n = 9000, *one = test_xmalloc(n * sizeof(*one));
		many = test_xmalloc(n);
		splitmix64_fill(10, many, n);
		for (size_t i = 0; i < n; i++)
			one[i] = 1;
		c = plain_chunks(many, one, n, &xh);
		ref = ref_xorb(&rlen, c, n, &xh, 1);
		CHECKF(cairn_xorb_open(&x, ref, rlen) == 0, "9000 chunks: %s", cairn_error_last());
		CHECK(x && cairn_xorb_chunk_count(x) == n && cairn_xorb_verify(x) == 0);
		cairn_xorb_free(x);
		free(ref);
		free(c);
		free(one);
		free(many);
	}
}

/* ---- writer contract ------------------------------------------------------------ */

static void writer_contract(void)
{
	cairn_xorb_writer *w = NULL;
	uint8_t *big = test_xmalloc(CAIRN_CHUNK_MAX + 1);
	const uint8_t *b1, *b2;
	size_t l1, l2;
	cairn_hash h1, h2;

	test_section("writer: errors, finish twice, reset");
	splitmix64_fill(11, big, CAIRN_CHUNK_MAX + 1);
	CHECK(cairn_xorb_writer_new(&w) == 0);
	CHECK(cairn_xorb_writer_set_scheme(w, (cairn_xorb_scheme)7) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_add(w, big, 0, NULL) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_add(w, NULL, 5, NULL) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_add(w, big, CAIRN_CHUNK_MAX + 1, NULL) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_finish(w, &h1, &b1, &l1) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_count(w) == 0);
	CHECK(cairn_xorb_writer_add(w, big, CAIRN_CHUNK_MAX, NULL) == 0);
	CHECK(cairn_xorb_writer_add(w, big + 5, 1000, NULL) == 0);
	CHECK(cairn_xorb_writer_count(w) == 2);
	CHECK_EQ_U64(cairn_xorb_writer_raw_size(w), CAIRN_CHUNK_MAX + 1000);
	l2 = (size_t)cairn_xorb_writer_size(w);
	CHECK(cairn_xorb_writer_finish(w, &h1, &b1, &l1) == 0);
	CHECK_EQ_U64(l1, l2);
	CHECK(cairn_xorb_writer_add(w, big, 10, NULL) == CAIRN_EINVALID);
	CHECK(cairn_xorb_writer_finish(w, &h2, &b2, &l2) == 0);
	CHECK(b1 == b2 && l1 == l2 && cairn_hash_equal(&h1, &h2));
	CHECK_STR(cairn_error_name(CAIRN_EINVALID), "CAIRN_EINVALID");

	cairn_xorb_writer_reset(w);
	CHECK(cairn_xorb_writer_count(w) == 0 && cairn_xorb_writer_raw_size(w) == 0);
	CHECK(cairn_xorb_writer_add(w, big + 5, 1000, NULL) == 0);
	CHECK(cairn_xorb_writer_finish(w, &h2, &b2, &l2) == 0);
	{
		cairn_hash one;
		cairn_chunk_hash(&one, big + 5, 1000);
		CHECK(cairn_hash_equal(&h2, &one)); /* a one-chunk xorb's hash is the chunk's */
	}
	cairn_xorb_writer_free(w);
	cairn_xorb_writer_free(NULL);
	cairn_xorb_free(NULL);
	free(big);
}

/* ---- ceilings ---------------------------------------------------------------------- */

static void ceilings(void)
{
	cairn_xorb_writer *w = NULL;
	cairn_xorb *x = NULL;
	uint8_t *data = test_xmalloc(CAIRN_CHUNK_MAX);
	const uint8_t *b;
	size_t len, n;
	cairn_hash h;
	int rc = 0;

	test_section("ceilings: 8192 chunks, 64 MiB");
	CHECK(cairn_xorb_writer_new(&w) == 0);
	splitmix64_fill(12, data, CAIRN_CHUNK_MAX);
	for (n = 0; n < CAIRN_XORB_MAX_CHUNKS && rc == 0; n++)
		rc = cairn_xorb_writer_add(w, data + n % 1000, 1 + n % 5, NULL);
	CHECK(rc == 0 && cairn_xorb_writer_count(w) == CAIRN_XORB_MAX_CHUNKS);
	CHECK(cairn_xorb_writer_add(w, data, 1, NULL) == CAIRN_ETOOBIG);
	CHECK(cairn_xorb_writer_count(w) == CAIRN_XORB_MAX_CHUNKS);
	CHECK(cairn_xorb_writer_finish(w, &h, &b, &len) == 0);
	CHECK(cairn_xorb_open(&x, b, len) == 0 && x && cairn_xorb_chunk_count(x) == 8192 &&
	      cairn_xorb_verify(x) == 0);
	cairn_xorb_free(x);
	x = NULL;

	/*
	 * Random 128 KiB chunks stay as they are: 8 + 131072 bytes each plus 40
	 * in the footer; 511 fit under 64 MiB with 106448 bytes to spare, enough
	 * for one more chunk of exactly 106400 bytes.
	 */
	cairn_xorb_writer_reset(w);
	rc = 0;
	for (n = 0; rc == 0; n++) {
		data[0] = (uint8_t)n;
		data[1] = (uint8_t)(n >> 8);
		rc = cairn_xorb_writer_add(w, data, CAIRN_CHUNK_MAX, NULL);
	}
	CHECK(rc == CAIRN_ETOOBIG);
	CHECK_EQ_U64(cairn_xorb_writer_count(w), 511);
	CHECK_EQ_U64(CAIRN_XORB_MAX_BYTES - cairn_xorb_writer_size(w), 106448);
	CHECK(cairn_xorb_writer_add(w, data + 7, 106401, NULL) == CAIRN_ETOOBIG);
	CHECK(cairn_xorb_writer_add(w, data + 7, 106400, NULL) == 0);
	CHECK_EQ_U64(cairn_xorb_writer_size(w), CAIRN_XORB_MAX_BYTES);
	CHECK(cairn_xorb_writer_add(w, data, 1, NULL) == CAIRN_ETOOBIG);
	CHECK(cairn_xorb_writer_finish(w, &h, &b, &len) == 0);
	CHECK_EQ_U64(len, CAIRN_XORB_MAX_BYTES);
	CHECK(cairn_xorb_open(&x, b, len) == 0 && x && cairn_xorb_chunk_count(x) == 512 &&
	      cairn_xorb_verify(x) == 0);
	cairn_xorb_free(x);
	x = NULL;
	{
		uint8_t *over = calloc(1, (size_t)CAIRN_XORB_MAX_BYTES + 1);
		CHECK(over && cairn_xorb_open(&x, over, (size_t)CAIRN_XORB_MAX_BYTES + 1) ==
				      CAIRN_ETOOBIG);
		free(over);
	}
	cairn_xorb_writer_free(w);
	free(data);
}

/* ---- ranges ---------------------------------------------------------------------------- */

static void ranges(void)
{
	size_t sizes[40], total = 0, got;
	uint8_t *data, *out;
	xorb_bytes xb = {0};
	cairn_xorb *x = NULL;
	cairn_xorb_span sp;
	uint64_t s = 13;
	bool ok = true;

	test_section("ranges: every [first, end) of a 40-chunk xorb");
	for (size_t i = 0; i < 40; i++) {
		sizes[i] = 1 + splitmix64_next(&s) % (40 * KiB);
		total += sizes[i];
	}
	data = test_xmalloc(total);
	out = test_xmalloc(total);
	/* floats, text and random in turn: a mix of all three schemes */
	for (size_t i = 0, off = 0; i < 40; off += sizes[i], i++)
		fill((enum kind)(i % 3 == 0 ? K_FP32 : i % 3 == 1 ? K_TEXT : K_RANDOM), 200 + i,
		     data + off, sizes[i]);
	CHECK(pack(&xb, CAIRN_XORB_AUTO, data, sizes, 40) == 0);
	CHECK(cairn_xorb_open(&x, xb.p, xb.len) == 0);
	if (x == NULL)
		goto out;
	for (size_t first = 0; first <= 40; first++) {
		for (size_t end = first; end <= 40; end++) {
			size_t at = 0;
			for (size_t i = 0; i < first; i++)
				at += sizes[i];
			ok &= cairn_xorb_span_get(x, first, end, &sp) == 0;
			ok &= cairn_xorb_read_chunks(x, first, end, out, sp.raw_size) == 0 &&
			      memcmp(out, data + at, sp.raw_size) == 0;
			ok &= cairn_xorb_decode_range(out, total, &got, xb.p + sp.offset, sp.length,
						      cairn_xorb_chunk_hash(x, first),
						      end - first) == 0 &&
			      got == sp.raw_size && memcmp(out, data + at, got) == 0;
		}
	}
	CHECK(ok);

	CHECK(cairn_xorb_span_get(x, 3, 2, &sp) == CAIRN_EINVALID);
	CHECK(cairn_xorb_span_get(x, 0, 41, &sp) == CAIRN_EINVALID);
	CHECK(cairn_xorb_read_chunks(x, 5, 41, out, total) == CAIRN_EINVALID);
	CHECK(cairn_xorb_span_get(x, 2, 5, &sp) == 0);
	CHECK(cairn_xorb_read_chunks(x, 2, 5, out, (size_t)sp.raw_size - 1) == CAIRN_EINVALID);
	CHECK(cairn_xorb_read_each(x, 7, 3, collect, NULL) == CAIRN_EINVALID);
	CHECK(cairn_xorb_read_chunks(x, 4, 4, NULL, 0) == 0);

	/* bare ranges: too few or too many chunks, a wrong hash, a small buffer */
	{
		const cairn_hash *hs = cairn_xorb_chunk_hash(x, 2);
		cairn_hash wrong[3];
		memcpy(wrong, hs, sizeof(wrong));
		wrong[1].bytes[5] ^= 1;
		CHECK(cairn_xorb_decode_range(out, total, &got, xb.p + sp.offset, sp.length, hs, 4) ==
		      CAIRN_ECORRUPT);
		CHECK(cairn_xorb_decode_range(out, total, &got, xb.p + sp.offset, sp.length, hs, 2) ==
		      CAIRN_ECORRUPT);
		memset(out, 0x55, total);
		CHECK(cairn_xorb_decode_range(out, total, &got, xb.p + sp.offset, sp.length, wrong,
					      3) == CAIRN_ECORRUPT);
		{
			bool zeroed = true;
			for (size_t i = 0; i < sizes[2] + sizes[3]; i++)
				zeroed &= out[i] == 0;
			CHECKF(zeroed, "decoded bytes wiped after a hash mismatch");
		}
		CHECK(cairn_xorb_decode_range(out, (size_t)sp.raw_size - 1, &got, xb.p + sp.offset,
					      sp.length, hs, 3) == CAIRN_ETOOBIG);
		CHECK(cairn_xorb_decode_range(out, total, &got, xb.p, 0, NULL, 0) == 0 && got == 0);
		CHECK(cairn_xorb_decode_range(out, total, &got, xb.p, 0, hs, 1) == CAIRN_ECORRUPT);
	}
out:
	cairn_xorb_free(x);
	free(xb.p);
	free(data);
	free(out);
}

/* ---- hostile input ------------------------------------------------------------------------ */

static int count_calls(void *ctx, size_t index, const void *data, size_t len)
{
	(void)index;
	(void)data;
	(void)len;
	(*(int *)ctx)++;
	return 0;
}

/*
 * What a reader may do with a damaged xorb: refuse it (CAIRN_ECORRUPT), or,
 * if the damage did not change what the chunks decode to (an LZ4 match
 * that copies the same bytes from elsewhere, the ignored nonce), give
 * exactly the original bytes. Returns 0 (refused), 1 (intact), -1 (wrong).
 */
static int judge(const uint8_t *p, size_t len, const uint8_t *data, size_t total)
{
	cairn_xorb *x = NULL;
	uint8_t *out;
	int rc = cairn_xorb_open(&x, p, len), verdict;

	if (rc != 0)
		return rc == CAIRN_ECORRUPT ? 0 : -1;
	out = test_xmalloc(total);
	memset(out, 0x77, total);
	rc = cairn_xorb_read_chunks(x, 0, cairn_xorb_chunk_count(x), out, total);
	if (rc == CAIRN_ECORRUPT) {
		bool zeroed = true;
		for (size_t i = 0; i < total; i++)
			zeroed &= out[i] == 0;
		verdict = zeroed && cairn_xorb_verify(x) == CAIRN_ECORRUPT ? 0 : -1;
	} else if (rc == 0) {
		verdict = memcmp(out, data, total) == 0 && cairn_xorb_verify(x) == 0 ? 1 : -1;
	} else {
		verdict = -1;
	}
	free(out);
	cairn_xorb_free(x);
	return verdict;
}

/*
 * The xorb hash of the four chunks below (random, text, bf16, zeros): also
 * the id of tests/data/xorb_mixed_v1.xorb, which holds them with schemes
 * none, LZ4, BG4 + LZ4, BG4 + LZ4 (regenerate: test_xorb --make-vector PATH).
 */
#define GOLDEN_HASH "6ae826e40feea468911f0f31bffacff3f94a14d1f7dfabcf5af9398e98ec463f"

static void hostile(const char *data_dir, const char *make_vector)
{
	static const size_t sizes[] = {700, 3000, 2048, 513};
	uint8_t data[700 + 3000 + 2048 + 513], *p;
	const size_t total = sizeof(data);
	xorb_bytes xb = {0};
	cairn_xorb_writer *w = NULL;
	uint64_t s = 14;
	int wrong = 0, refused = 0, intact = 0, schemes[3];
	size_t trunc_ok = 0;
	cairn_xorb *x = NULL;
	const uint8_t *b;

	test_section("hostile input: truncations, corruptions, forged hashes");
	/* a small xorb with every scheme in it */
	fill(K_RANDOM, 1, data, 700);
	fill(K_TEXT, 2, data + 700, 3000);
	fill(K_BF16, 3, data + 3700, 2048);
	fill(K_ZEROS, 4, data + 5748, 513);
	CHECK(cairn_xorb_writer_new(&w) == 0);
	cairn_xorb_writer_set_scheme(w, CAIRN_XORB_NONE);
	CHECK(cairn_xorb_writer_add(w, data, 700, NULL) == 0);
	cairn_xorb_writer_set_scheme(w, CAIRN_XORB_LZ4);
	CHECK(cairn_xorb_writer_add(w, data + 700, 3000, NULL) == 0);
	cairn_xorb_writer_set_scheme(w, CAIRN_XORB_BG4_LZ4);
	CHECK(cairn_xorb_writer_add(w, data + 3700, 2048, NULL) == 0);
	CHECK(cairn_xorb_writer_add(w, data + 5748, 513, NULL) == 0);
	CHECK(cairn_xorb_writer_finish(w, &xb.hash, &b, &xb.len) == 0);
	xb.p = test_xmalloc(xb.len);
	memcpy(xb.p, b, xb.len);
	cairn_xorb_writer_free(w);
	schemes_of(&xb, 4, schemes);
	CHECKF(schemes[0] == 1 && schemes[1] == 1 && schemes[2] == 2, "%d %d %d", schemes[0], schemes[1], schemes[2]);
	CHECK(check_reads(&xb, data, sizes, 4));
	{
		char hex[CAIRN_HASH_HEX_LEN + 1];
		cairn_hash_to_hex(hex, &xb.hash);
		CHECK_STR(hex, GOLDEN_HASH);
	}
	if (make_vector) {
		FILE *f = fopen(make_vector, "wb");
		CHECK(f && fwrite(xb.p, 1, xb.len, f) == xb.len && fclose(f) == 0);
	}

	/* every truncation; every prefix of the chunk bytes as a bare range */
	{
		size_t body = xb.len - 4 - (92 + 4 * 40), got, off = 0;
		uint8_t out[sizeof(data)];
		cairn_hash hs[4];
		for (int i = 0; i < 4; off += sizes[i], i++)
			cairn_chunk_hash(&hs[i], data + off, sizes[i]);
		for (size_t len = 0; len < xb.len; len++) {
			int rc;
			p = test_xmalloc(len ? len : 1);
			memcpy(p, xb.p, len);
			trunc_ok += cairn_xorb_open(&x, p, len) == CAIRN_ECORRUPT;
			rc = cairn_xorb_decode_range(out, sizeof(out), &got, p, len, hs, 4);
			trunc_ok += len == body ? rc == 0 && got == total : rc == CAIRN_ECORRUPT;
			free(p);
		}
		CHECK_EQ_U64(trunc_ok, 2 * xb.len);
	}

	/* single-byte corruptions everywhere, many times over */
	p = test_xmalloc(xb.len);
	for (int t = 0; t < 20000; t++) {
		size_t at = splitmix64_next(&s) % xb.len;
		uint8_t v = (uint8_t)(1 + splitmix64_next(&s) % 255);
		int verdict;
		memcpy(p, xb.p, xb.len);
		p[at] ^= v;
		verdict = judge(p, xb.len, data, total);
		wrong += verdict < 0;
		refused += verdict == 0;
		intact += verdict == 1;
		if (verdict < 0 && wrong < 5)
			printf("  wrong result: byte %zu ^= 0x%02x\n", at, v);
	}
	CHECKF(wrong == 0, "%d corruptions gave a wrong answer", wrong);
	printf("# 20000 single-byte corruptions: %d refused, %d harmless\n", refused, intact);

	/* bursts of random bytes, and random lengths of garbage */
	for (int t = 0; t < 3000; t++) {
		size_t at = splitmix64_next(&s) % xb.len;
		size_t n = 1 + splitmix64_next(&s) % 64;
		memcpy(p, xb.p, xb.len);
		for (size_t i = at; i < at + n && i < xb.len; i++)
			p[i] = (uint8_t)splitmix64_next(&s);
		wrong += judge(p, xb.len, data, total) < 0;
	}
	for (int t = 0; t < 3000; t++) {
		size_t n = splitmix64_next(&s) % xb.len;
		splitmix64_fill(splitmix64_next(&s), p, n);
		if (t % 2 && n > 100) /* a plausible tail: a copied footer */
			memcpy(p + n - 100, xb.p + xb.len - 100, 100);
		wrong += judge(p, n, data, total) < 0;
	}
	CHECKF(wrong == 0, "%d bursts gave a wrong answer", wrong);

	/* a chunk hash changed in the footer: the xorb hash no longer matches */
	{
		size_t hashes_at = xb.len - 4 - (92 + 4 * 40) + 52;
		memcpy(p, xb.p, xb.len);
		p[hashes_at + 32 + 3] ^= 0x40;
		CHECK(cairn_xorb_open(&x, p, xb.len) == CAIRN_ECORRUPT);
		CHECK(strstr(cairn_error_last(), "xorb hash") != NULL);
	}

	/*
	 * A forged footer: chunk 1's hash swapped for another and the xorb hash
	 * recomputed to match. open() cannot tell; reading must.
	 */
	{
		size_t fstart = xb.len - 4 - (92 + 4 * 40), at = 0;
		cairn_chunk_ref refs[4];
		cairn_hash xh;
		uint8_t out[sizeof(data)];
		int calls = 0;
		memcpy(p, xb.p, xb.len);
		for (int i = 0; i < 4; i++) {
			cairn_chunk_hash(&refs[i].hash, data + at, sizes[i]);
			refs[i].len = sizes[i];
			at += sizes[i];
		}
		cairn_chunk_hash(&refs[1].hash, "forged", 6);
		memcpy(p + fstart + 52 + 32, refs[1].hash.bytes, 32);
		CHECK(cairn_xorb_hash(&xh, refs, 4) == 0);
		memcpy(p + fstart + 8, xh.bytes, 32);
		CHECK(cairn_xorb_open(&x, p, xb.len) == 0);
		if (x) {
			memset(out, 0x99, sizeof(out));
			CHECK(cairn_xorb_read_chunks(x, 0, 4, out, sizeof(out)) == CAIRN_ECORRUPT);
			CHECK(out[0] == 0 && out[701] == 0 && out[sizeof(out) - 1] == 0);
			CHECK(cairn_xorb_read_chunks(x, 0, 1, out, sizeof(out)) == 0); /* chunk 0 is fine */
			CHECK(cairn_xorb_read_each(x, 0, 4, count_calls, &calls) == CAIRN_ECORRUPT);
			CHECK(calls == 1); /* chunk 1 never reached the callback */
			CHECK(cairn_xorb_verify(x) == CAIRN_ECORRUPT);
			CHECK(strstr(cairn_error_last(), "chunk 1") != NULL);
			cairn_xorb_free(x);
			x = NULL;
		}
	}
	free(p);

	/* the same checks on a v0 footer built by hand */
	{
		tchunk c[4];
		size_t off = 0, rlen;
		cairn_chunk_ref refs[4];
		cairn_hash xh;
		uint8_t *ref;
		int v0_wrong = 0, v0_trunc = 0;
		for (int i = 0; i < 4; i++) {
			c[i].scheme = 0;
			c[i].packed = data + off;
			c[i].packed_len = c[i].raw_len = (uint32_t)sizes[i];
			cairn_chunk_hash(&c[i].hash, data + off, sizes[i]);
			refs[i].hash = c[i].hash;
			refs[i].len = sizes[i];
			off += sizes[i];
		}
		cairn_xorb_hash(&xh, refs, 4);
		ref = ref_xorb(&rlen, c, 4, &xh, 0);
		CHECK(judge(ref, rlen, data, total) == 1);
		p = test_xmalloc(rlen);
		for (size_t len = 0; len < rlen; len++)
			v0_trunc += judge(ref, len, data, total) == 0;
		for (int t = 0; t < 5000; t++) {
			memcpy(p, ref, rlen);
			p[splitmix64_next(&s) % rlen] ^= (uint8_t)(1 + splitmix64_next(&s) % 255);
			v0_wrong += judge(p, rlen, data, total) < 0;
		}
		CHECK_EQ_U64(v0_trunc, rlen);
		CHECK(v0_wrong == 0);
		free(p);
		free(ref);
	}

	/* footerless bodies into a writer (what a server does with some uploads) */
	{
		size_t body = xb.len - 4 - (92 + 4 * 40);
		cairn_xorb_writer *w2 = NULL;
		cairn_hash h2;
		const uint8_t *b2;
		size_t l2;
		CHECK(cairn_xorb_writer_new(&w2) == 0);
		CHECK(cairn_xorb_writer_add_packed(w2, xb.p, body) == 0);
		CHECK(cairn_xorb_writer_count(w2) == 4);
		CHECK(cairn_xorb_writer_finish(w2, &h2, &b2, &l2) == 0);
		CHECK(cairn_hash_equal(&h2, &xb.hash) && l2 == xb.len && memcmp(b2, xb.p, l2) == 0);
		cairn_xorb_writer_reset(w2);
		p = test_xmalloc(body);
		for (int t = 0; t < 2000; t++) {
			size_t at = splitmix64_next(&s) % body;
			int rc;
			memcpy(p, xb.p, body);
			p[at] ^= (uint8_t)(1 + splitmix64_next(&s) % 255);
			rc = cairn_xorb_writer_add_packed(w2, p, body);
			if (rc == 0) {
				/* it decoded: then it must hash differently, or be the same data */
				CHECK(cairn_xorb_writer_finish(w2, &h2, &b2, &l2) == 0);
				if (cairn_hash_equal(&h2, &xb.hash))
					intact++;
			} else {
				wrong += rc != CAIRN_ECORRUPT || cairn_xorb_writer_count(w2) != 0;
			}
			cairn_xorb_writer_reset(w2);
		}
		for (size_t len = 0; len <= body; len++) {
			/* a prefix is whole chunks when it ends on a chunk boundary */
			bool boundary = false;
			size_t e = 0;
			while (e < len)
				e += 8 + (ld32(xb.p + e + 1) & 0xffffff);
			boundary = e == len;
			int rc = cairn_xorb_writer_add_packed(w2, xb.p, len);
			wrong += boundary ? rc != 0 : rc != CAIRN_ECORRUPT;
			cairn_xorb_writer_reset(w2);
		}
		CHECKF(wrong == 0, "add_packed on damaged bodies");
		free(p);
		cairn_xorb_writer_free(w2);
	}
	free(xb.p);

	/* the stored vector (regression: reader and format) */
	if (data_dir) {
		char path[4096];
		FILE *f;
		uint8_t *buf;
		long n;
		snprintf(path, sizeof(path), "%s/xorb_mixed_v1.xorb", data_dir);
		f = fopen(path, "rb");
		CHECKF(f != NULL, "open %s", path);
		if (f) {
			fseek(f, 0, SEEK_END);
			n = ftell(f);
			fseek(f, 0, SEEK_SET);
			buf = test_xmalloc((size_t)n);
			CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
			fclose(f);
			CHECK(judge(buf, (size_t)n, data, total) == 1);
			CHECK(cairn_xorb_open(&x, buf, (size_t)n) == 0);
			if (x) {
				char hex[CAIRN_HASH_HEX_LEN + 1];
				cairn_hash_to_hex(hex, cairn_xorb_id(x));
				CHECK_STR(hex, GOLDEN_HASH);
				cairn_xorb_free(x);
			}
			free(buf);
		}
	}
}

/* ---- allocation failures ----------------------------------------------------------------- */

/*
 * SQLite's do_faultsim_test idea: make the Nth allocation fail and loop
 * over N. test_xorb is linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc (tests/CMakeLists.txt), which reaches libcairn's own
 * allocations (liblz4's are its own business). Every call must either give
 * the fault-free answer or fail with CAIRN_ENOMEM and leave nothing behind
 * (the sanitizer build checks for leaks).
 */
static bool armed;
static long fail_at = -1, alloc_calls;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static bool alloc_fails(void)
{
	return armed && alloc_calls++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return alloc_fails() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

/* 0: right answer; 1: CAIRN_ENOMEM; -1: anything else. */
static int fault_outcome(int rc, bool right)
{
	if (rc == 0)
		return right ? 0 : -1;
	return rc == CAIRN_ENOMEM ? 1 : -1;
}

static void faults(void)
{
	enum { N = 300, SZ = 5000 };
	uint8_t *data = test_xmalloc(N * SZ), *out = test_xmalloc(N * SZ);
	xorb_bytes ref = {0};
	size_t sizes[N], body;
	int bad = 0, enomem = 0;
	long n;

	test_section("allocation failures: CAIRN_ENOMEM or the right answer");
	for (int i = 0; i < N; i++) {
		sizes[i] = SZ;
		fill((enum kind)(i % 3 == 0 ? K_BF16 : i % 3 == 1 ? K_TEXT : K_RANDOM), 300 + i,
		     data + i * SZ, SZ);
	}
	/* 1.5 MiB in 300 chunks: the writer's buffer and chunk arrays both grow */
	CHECK(pack(&ref, CAIRN_XORB_AUTO, data, sizes, N) == 0);
	body = ref.len - 4 - (92 + 40 * N);
	for (n = 0;; n++) {
		cairn_xorb_writer *w = NULL;
		cairn_xorb *x = NULL;
		const uint8_t *b;
		size_t len = 0, got = 0;
		cairn_hash h;
		uint8_t *cursor = out;
		int rc;

		armed = true;
		fail_at = n;
		alloc_calls = 0;

		rc = cairn_xorb_writer_new(&w);
		for (int i = 0; rc == 0 && i < N; i++)
			rc = cairn_xorb_writer_add(w, data + i * SZ, SZ, NULL);
		if (rc == 0)
			rc = cairn_xorb_writer_finish(w, &h, &b, &len);
		bad += fault_outcome(rc, rc == 0 && len == ref.len && memcmp(b, ref.p, len) == 0) < 0;
		enomem += rc == CAIRN_ENOMEM;
		if (w) {
			cairn_xorb_writer_reset(w);
			rc = cairn_xorb_writer_add_packed(w, ref.p, body);
			if (rc != 0 && cairn_xorb_writer_count(w) != 0)
				bad++; /* all or nothing */
			if (rc == 0)
				rc = cairn_xorb_writer_finish(w, &h, &b, &len);
			bad += fault_outcome(rc, rc == 0 && len == ref.len &&
							 memcmp(b, ref.p, len) == 0) < 0;
		}
		cairn_xorb_writer_free(w);

		rc = cairn_xorb_open(&x, ref.p, ref.len);
		bad += fault_outcome(rc, rc == 0 && x != NULL) < 0;
		if (x) {
			rc = cairn_xorb_read_chunks(x, 0, N, out, N * SZ);
			bad += fault_outcome(rc, rc == 0 && memcmp(out, data, N * SZ) == 0) < 0;
			rc = cairn_xorb_read_each(x, 0, N, collect, &cursor);
			bad += fault_outcome(rc, rc == 0 && memcmp(out, data, N * SZ) == 0) < 0;
			rc = cairn_xorb_verify(x);
			bad += fault_outcome(rc, true) < 0;
			rc = cairn_xorb_decode_range(out, N * SZ, &got, ref.p, body,
						     cairn_xorb_chunk_hash(x, 0), N);
			bad += fault_outcome(rc, rc == 0 && got == N * SZ &&
							 memcmp(out, data, N * SZ) == 0) < 0;
			cairn_xorb_free(x);
		}
		armed = false;
		if (alloc_calls <= n)
			break; /* every allocation of the run succeeded: all paths covered */
	}
	CHECKF(bad == 0, "%d calls gave something other than the answer or CAIRN_ENOMEM", bad);
	CHECKF(enomem > 0 && n > 5, "faults reached the code (%ld allocations)", n);
	printf("# %ld allocation sites failed in turn\n", n);
	free(ref.p);
	free(data);
	free(out);
}

int main(int argc, char **argv)
{
	round_trips();
	zstd_schemes();
	zstd_runs();
	bg4_layout();
	footer_layout();
	reader_tolerance();
	writer_contract();
	ceilings();
	ranges();
	faults();
	if (argc == 3 && strcmp(argv[1], "--make-vector") == 0)
		hostile(NULL, argv[2]);
	else
		hostile(argc > 1 ? argv[1] : NULL, NULL);
	return test_done();
}
