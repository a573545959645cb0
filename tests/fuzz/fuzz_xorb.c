/*
 * fuzz_xorb.c - libFuzzer target for every reader of untrusted xorb bytes
 * (include/cairn/xorb.h). Built as a fuzzer with clang and -DCAIRN_FUZZ=ON;
 * replay.c feeds it the stored corpus as an ordinary test with any compiler.
 *
 * As untrusted bytes, the input is tried as a whole xorb (open, then every
 * read); again with the footer's xorb hash recomputed from the footer's own
 * chunk list, so that mutated footers get past the hash check and reach
 * the reads; as a bare run of chunks handed to a writer (what a server
 * does with a footerless upload); as a bare range; and fed in two pieces
 * to the streaming decoder a downloader uses. As data, it is
 * packed by a writer (every scheme, Cairn's zstd ones and runs too, chunk
 * sizes from its first bytes) and
 * must read back identical. Besides the sanitizers, the target checks what
 * must hold for any input and aborts if not: reads agree with verify, a
 * failed read leaves no byte behind, a xorb a writer rebuilt from accepted
 * chunks opens and verifies, and those chunks decode as a bare range
 * against their hashes, but not as one chunk fewer.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_xorb
 *   mkdir -p /tmp/xorb-corpus
 *   build-fuzz/tests/fuzz_xorb -dict=tests/fuzz/xorb.dict -max_len=65536
 *       -max_total_time=600 /tmp/xorb-corpus tests/fuzz/corpus/xorb
 * Add anything it finds (crash-*, and inputs worth keeping) to
 * tests/fuzz/corpus/xorb/, where fuzz_xorb_replay runs them in ctest.
 */
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded ranges bigger than this are read chunk by chunk only. */
#define FUZZ_READ_MAX (4u << 20)

static int touch(void *ctx, size_t index, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t *acc = ctx;
	(void)index;
	for (size_t i = 0; i < len; i++)
		*acc ^= b[i]; /* reads every byte handed out: ASan checks they exist */
	return 0;
}

static void whole(const uint8_t *data, size_t size)
{
	cairn_xorb *x = NULL;
	cairn_xorb_span sp;
	uint8_t acc = 0;
	size_t n;
	int each, verify;

	if (cairn_xorb_open(&x, data, size) != 0)
		return;
	n = cairn_xorb_chunk_count(x);
	each = cairn_xorb_read_each(x, 0, n, touch, &acc);
	verify = cairn_xorb_verify(x);
	if (each != verify || (each != 0 && each != CAIRN_ECORRUPT))
		abort();
	if (cairn_xorb_span_get(x, 0, n, &sp) != 0 || sp.offset != 0)
		abort();
	if (sp.raw_size <= FUZZ_READ_MAX) {
		uint8_t *out = malloc(sp.raw_size ? sp.raw_size : 1);
		size_t got = 0;
		int rc;
		if (out == NULL)
			goto done;
		memset(out, 0xa5, sp.raw_size);
		rc = cairn_xorb_read_chunks(x, 0, n, out, sp.raw_size);
		if (rc != verify)
			abort();
		for (size_t i = 0; rc != 0 && i < sp.raw_size; i++)
			if (out[i] != 0)
				abort(); /* an unchecked byte escaped */
		/* the chunk bytes as a bare range, against the footer's hashes */
		rc = cairn_xorb_decode_range(out, sp.raw_size, &got, data + sp.offset, sp.length,
					     cairn_xorb_chunk_hash(x, 0), n);
		if (rc != verify || (rc == 0 && got != sp.raw_size))
			abort();
		/* a range from the middle */
		if (n > 2 && cairn_xorb_span_get(x, 1, n - 1, &sp) == 0) {
			rc = cairn_xorb_read_chunks(x, 1, n - 1, out, sp.raw_size);
			if (rc != 0 && rc != CAIRN_ECORRUPT)
				abort();
		}
		free(out);
	}
done:
	cairn_xorb_free(x);
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * If the input ends like a version 1 footer, write into a copy the xorb
 * hash of the chunk list that footer describes (hashes, and raw lengths
 * from its raw boundaries), and try that as a whole xorb.
 */
static void repaired(const uint8_t *data, size_t size)
{
	cairn_chunk_ref *refs;
	uint8_t *copy, *f;
	uint32_t flen, n, prev = 0;
	cairn_hash h;

	if (size < 96)
		return;
	flen = ld32(data + size - 4);
	if (flen > size - 4 || flen < 92 || (flen - 92) % 40 != 0)
		return;
	n = (flen - 92) / 40;
	copy = malloc(size);
	refs = malloc((n ? n : 1) * sizeof(*refs));
	if (copy == NULL || refs == NULL)
		goto done;
	memcpy(copy, data, size);
	f = copy + size - 4 - flen;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t end = ld32(f + 52 + 32 * (size_t)n + 12 + 4 * (size_t)n + 4 * (size_t)i);
		memcpy(refs[i].hash.bytes, f + 52 + 32 * (size_t)i, 32);
		refs[i].len = end - prev;
		prev = end;
	}
	if (cairn_xorb_hash(&h, refs, n) == 0) {
		memcpy(f + 8, h.bytes, 32);
		whole(copy, size);
	}
done:
	free(refs);
	free(copy);
}

/* What the streaming decoder handed out: the first STREAM_KEEP hashes, and how many. */
#define STREAM_KEEP 64
typedef struct streamed {
	cairn_hash h[STREAM_KEEP];
	size_t n;
} streamed;

static int on_streamed(void *ctx, size_t index, const void *p, size_t len, const cairn_hash *h)
{
	streamed *st = ctx;
	uint8_t acc = 0;

	if (index != st->n)
		abort();
	touch(&acc, index, p, len);
	if (st->n < STREAM_KEEP)
		st->h[st->n] = *h;
	st->n++;
	return 0;
}

/* A want filter: every third chunk, from the one the input's last byte says. */
static size_t want_from;
static bool want_third(void *ctx, size_t index)
{
	(void)ctx;
	return index >= want_from && (index - want_from) % 3 == 0;
}

static int on_wanted(void *ctx, size_t index, const void *p, size_t len, const cairn_hash *h)
{
	const streamed *all = ctx;
	uint8_t acc = 0;

	/* a chunk handed out under a filter is the one the whole stream handed out there */
	if (!want_third(NULL, index) || index >= all->n ||
	    (index < STREAM_KEEP && !cairn_hash_equal(&all->h[index], h)))
		abort();
	touch(&acc, index, p, len);
	return 0;
}

/*
 * The input through cairn_xorb_stream, cut in two where its first byte
 * says; if that went through, again with a want filter, which must go
 * through too, hand out the same chunks where it wants them, and count
 * them all.
 */
static int stream_all(const uint8_t *data, size_t size, streamed *st)
{
	cairn_xorb_stream *s = NULL;
	size_t cut = size ? data[0] % (size + 1) : 0;
	int rc;

	st->n = 0;
	if (cairn_xorb_stream_new(&s, on_streamed, st) != 0)
		return CAIRN_ENOMEM;
	rc = cairn_xorb_stream_feed(s, data, cut);
	if (rc == 0)
		rc = cairn_xorb_stream_feed(s, data + cut, size - cut);
	if (rc == 0)
		rc = cairn_xorb_stream_end(s);
	if (rc != 0 && rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM)
		abort();
	cairn_xorb_stream_free(s);
	if (rc == 0 && cairn_xorb_stream_new(&s, on_wanted, st) == 0) {
		int wrc;
		want_from = size ? data[size - 1] % 4 : 0;
		cairn_xorb_stream_set_want(s, want_third);
		wrc = cairn_xorb_stream_feed(s, data, cut);
		if (wrc == 0)
			wrc = cairn_xorb_stream_feed(s, data + cut, size - cut);
		if (wrc == 0)
			wrc = cairn_xorb_stream_end(s);
		if ((wrc != 0 && wrc != CAIRN_ENOMEM) ||
		    (wrc == 0 && cairn_xorb_stream_count(s) != st->n))
			abort();
		cairn_xorb_stream_free(s);
	}
	return rc;
}

static void bare(const uint8_t *data, size_t size)
{
	static streamed st;
	int src;
	static uint8_t out[4 * 128 * 1024];
	static const cairn_hash zero[4];
	cairn_xorb_writer *w = NULL;
	cairn_xorb *x = NULL;
	cairn_xorb_span sp;
	const uint8_t *b;
	size_t len, got, n;
	cairn_hash h;

	/* against hashes that cannot match: parses and decodes, never succeeds */
	if (cairn_xorb_decode_range(out, sizeof(out), &got, data, size, zero, 1 + size % 4) == 0)
		abort();

	src = stream_all(data, size, &st);
	if (cairn_xorb_writer_new(&w) != 0)
		return;
	if (cairn_xorb_writer_add_packed(w, data, size) == 0 && cairn_xorb_writer_count(w) > 0) {
		if (cairn_xorb_writer_finish(w, &h, &b, &len) != 0)
			abort();
		/* whatever the writer accepted must come back whole */
		if (cairn_xorb_open(&x, b, len) != 0 || cairn_xorb_verify(x) != 0 ||
		    !cairn_hash_equal(cairn_xorb_id(x), &h))
			abort();
		/* the same bytes as a bare range: exactly that many chunks */
		n = cairn_xorb_chunk_count(x);
		/* and streamed: the same chunks, in order */
		if (src != 0 || st.n != n)
			abort();
		for (size_t i = 0; i < n && i < STREAM_KEEP; i++)
			if (!cairn_hash_equal(&st.h[i], cairn_xorb_chunk_hash(x, 0) + i))
				abort();
		if (cairn_xorb_span_get(x, 0, n, &sp) != 0)
			abort();
		if (sp.raw_size <= sizeof(out)) {
			const cairn_hash *hs = cairn_xorb_chunk_hash(x, 0);
			if (cairn_xorb_decode_range(out, sizeof(out), &got, data, size, hs, n) != 0 ||
			    got != sp.raw_size)
				abort();
			if (cairn_xorb_decode_range(out, sizeof(out), &got, data, size, hs, n - 1) !=
			    CAIRN_ECORRUPT)
				abort();
		}
		cairn_xorb_free(x);
	} else if (cairn_xorb_writer_count(w) != 0) {
		abort(); /* all or nothing */
	}
	cairn_xorb_writer_free(w);
}

/* Pack the input as chunks and read it back: the writer's side. */
static void roundtrip(const uint8_t *data, size_t size)
{
	cairn_xorb_writer *w = NULL;
	cairn_xorb *x = NULL;
	const uint8_t *b;
	uint8_t *back = NULL;
	size_t len, off = 0, step;
	cairn_hash h;
	int rc = 0;

	if (size < 2 || cairn_xorb_writer_new(&w) != 0)
		return;
	/* scheme and chunk size from the first two bytes: small chunks, or big ones */
	{
		static const cairn_xorb_scheme schemes[] = {
			CAIRN_XORB_NONE, CAIRN_XORB_LZ4,	  CAIRN_XORB_BG4_LZ4, CAIRN_XORB_AUTO,
			CAIRN_XORB_ZSTD, CAIRN_XORB_BG4_ZSTD, CAIRN_XORB_COMPACT, CAIRN_XORB_AUTO};
		cairn_xorb_writer_set_scheme(w, schemes[data[0] % 8]);
		/* a fast level for the zstd schemes: the fuzzer's time goes to readers */
		cairn_xorb_writer_set_level(w, 1);
	}
	step = data[1] & 1 ? 1 + (size_t)data[1] * 61 : 128 * 1024;
	while (rc == 0 && off < size) {
		size_t n = size - off < step ? size - off : step;
		if (data[0] % 8 == 6) {
			/* the compact writer packs runs, as the recompression pass does */
			const void *p[8];
			size_t l[8], k = 0;
			for (; k < 8 && off < size; k++) {
				n = size - off < step ? size - off : step;
				p[k] = data + off;
				l[k] = n;
				off += n;
			}
			rc = cairn_xorb_writer_add_run(w, p, l, NULL, k);
			continue;
		}
		rc = cairn_xorb_writer_add(w, data + off, n, NULL);
		off += n;
	}
	if (rc == CAIRN_ETOOBIG || (back = malloc(size)) == NULL)
		goto done; /* more than one xorb holds: not this target's business */
	if (rc != 0 || cairn_xorb_writer_finish(w, &h, &b, &len) != 0 ||
	    cairn_xorb_open(&x, b, len) != 0 ||
	    cairn_xorb_read_chunks(x, 0, cairn_xorb_chunk_count(x), back, size) != 0 ||
	    memcmp(back, data, size) != 0)
		abort();
done:
	free(back);
	cairn_xorb_free(x);
	cairn_xorb_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	whole(data, size);
	repaired(data, size);
	bare(data, size);
	roundtrip(data, size);
	return 0;
}
