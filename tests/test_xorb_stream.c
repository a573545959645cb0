/*
 * test_xorb_stream.c - the streaming chunk decoder (cairn_xorb_stream in
 * include/cairn/xorb.h), which a client downloading xorb ranges feeds as
 * the bytes arrive: the same chunks and hashes whatever the piece sizes
 * (one byte at a time included, so headers and chunks split anywhere), a
 * sub-range of a xorb, and hostile input: truncation, a bad header, a
 * compressed chunk that does not decode, a stored chunk changed (decodes,
 * but to another hash), errors that stick until a reset, and a callback
 * that stops the stream. Then runs of Cairn's own schemes (one zstd frame
 * for several chunks): handed out chunk by chunk whatever the pieces, and
 * refused when a range starts inside a run, ends inside one, or when the
 * later chunks' sizes do not use up the frame exactly.
 */
#include "harness.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/hash.h"
#include "cairn/xorb.h"

#include <stdbool.h>

#define NCHUNKS 7
#define SEEN_MAX 16 /* the most chunks a test feeds */

/* What the callback saw. */
typedef struct seen {
	size_t n;
	size_t next_index; /* indices must come 0, 1, 2, ... */
	bool order_ok;
	cairn_hash hash[SEEN_MAX];
	size_t len[SEEN_MAX];
	bool hash_ok[SEEN_MAX]; /* the hash handed out is the hash of the bytes */
	test_sink bytes;
	int stop_at; /* return 1 at this chunk (-1: never) */
	uint32_t want_mask; /* chunks wanted, when a want filter is set */
	size_t indices[SEEN_MAX]; /* the index of each chunk handed out */
} seen;

static bool want_some(void *ctx, size_t index)
{
	const seen *s = ctx;

	return index < 32 && (s->want_mask >> index & 1);
}

static int on_chunk(void *ctx, size_t index, const void *data, size_t len,
		    const cairn_hash *hash)
{
	seen *s = ctx;
	cairn_hash h;

	if ((int)index == s->stop_at)
		return 1;
	if ((s->want_mask == 0 && index != s->next_index) || index < s->next_index ||
	    s->n >= SEEN_MAX) {
		s->order_ok = false;
		return 0;
	}
	s->indices[s->n] = index;
	cairn_chunk_hash(&h, data, len);
	s->hash_ok[s->n] = cairn_hash_equal(&h, hash);
	s->hash[s->n] = *hash;
	s->len[s->n] = len;
	s->n++;
	s->next_index = index + 1;
	test_sink_write(&s->bytes, data, len);
	return 0;
}

static void seen_reset(seen *s)
{
	free(s->bytes.p);
	memset(s, 0, sizeof(*s));
	s->order_ok = true;
	s->stop_at = -1;
}

/* Feed bytes[0..len) in pieces of `piece` bytes; the first error, or 0. */
static int feed_all(cairn_xorb_stream *st, const uint8_t *bytes, size_t len, size_t piece)
{
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		int rc = cairn_xorb_stream_feed(st, bytes + off, n);
		if (rc != 0)
			return rc;
	}
	return cairn_xorb_stream_end(st);
}

/* Text-like bytes: words from a small list, varied by seed. */
static void words_fill(uint64_t seed, uint8_t *p, size_t n)
{
	static const char *w[] = {"loss ", "step ", "epoch ", "grad ", "the ", "layer ", "token ",
				  "{\"lr\": ", "0.0031, ", "\n"};
	uint64_t x = seed * 0x9e3779b97f4a7c15u + 1;

	for (size_t i = 0; i < n;) {
		const char *t;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (t = w[x % 10]; *t && i < n; t++)
			p[i++] = (uint8_t)*t;
	}
}

#define RUN_N 9

/*
 * A xorb with two runs around a chunk of its own: chunks 0..4 one run,
 * 5 alone, 6..8 one run.
 */
static void runs(cairn_xorb_stream *st, seen *s)
{
	static const size_t rsz[RUN_N] = {20000, 1, 65536, 30000, 9000, 131072, 40000, 77, 50000};
	static const size_t pieces[] = {1, 5, 8, 9, 1000, 65536, SIZE_MAX};
	const void *ptr[RUN_N];
	uint8_t *flat, *mut;
	size_t total = 0, blen;
	const uint8_t *bytes;
	cairn_xorb_writer *w;
	cairn_xorb_span sp, c;
	cairn_xorb *x;
	int rc;

	test_section("runs: one frame, handed out chunk by chunk");
	for (size_t k = 0; k < RUN_N; k++)
		total += rsz[k];
	flat = test_xmalloc(total);
	words_fill(7, flat, total);
	for (size_t k = 0, at = 0; k < RUN_N; at += rsz[k], k++)
		ptr[k] = flat + at;
	CHECK(cairn_xorb_writer_new(&w) == 0);
	CHECK(cairn_xorb_writer_set_scheme(w, CAIRN_XORB_COMPACT) == 0);
	CHECK(cairn_xorb_writer_add_run(w, ptr, rsz, NULL, 5) == 0);
	CHECK(cairn_xorb_writer_add(w, ptr[5], rsz[5], NULL) == 0);
	CHECK(cairn_xorb_writer_add_run(w, ptr + 6, rsz + 6, NULL, 3) == 0);
	CHECK(cairn_xorb_writer_finish(w, NULL, &bytes, &blen) == 0);
	CHECK(cairn_xorb_open(&x, bytes, blen) == 0);
	CHECK(cairn_xorb_chunk_scheme(x, 0) == CAIRN_XORB_ZSTD_RUN);
	CHECK(cairn_xorb_chunk_scheme(x, 4) == CAIRN_XORB_RUN_NEXT);
	CHECK(cairn_xorb_chunk_scheme(x, 5) != CAIRN_XORB_RUN_NEXT);
	CHECK(cairn_xorb_chunk_scheme(x, 6) == CAIRN_XORB_ZSTD_RUN);
	CHECK(cairn_xorb_span_get(x, 0, RUN_N, &sp) == 0);
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		bool same = true;
		seen_reset(s);
		cairn_xorb_stream_reset(st);
		rc = feed_all(st, bytes + sp.offset, (size_t)sp.length, pieces[p]);
		CHECKF(rc == 0, "piece %zu: %s", pieces[p], cairn_error_last());
		CHECK_EQ_U64(s->n, RUN_N);
		CHECK(s->order_ok);
		for (size_t k = 0; k < s->n; k++)
			same = same && s->hash_ok[k] && s->len[k] == rsz[k] &&
			       cairn_hash_equal(&s->hash[k], cairn_xorb_chunk_hash(x, k));
		CHECKF(same && s->bytes.n == total && memcmp(s->bytes.p, flat, total) == 0,
		       "piece %zu: chunks differ", pieces[p]);
	}

	test_section("runs: ranges must hold them whole");
	/* from a run's head, whole runs: fine; from its middle, or ending in one: refused */
	CHECK(cairn_xorb_span_get(x, 5, RUN_N, &c) == 0);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + c.offset, (size_t)c.length, 100) == 0);
	CHECK_EQ_U64(s->n, RUN_N - 5);
	CHECK(cairn_xorb_span_get(x, 2, 5, &c) == 0);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + c.offset, (size_t)c.length, 100) == CAIRN_ECORRUPT);
	CHECK_EQ_U64(s->n, 0);
	CHECK(cairn_xorb_span_get(x, 0, 3, &c) == 0);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + c.offset, (size_t)c.length, 100) == CAIRN_ECORRUPT);
	CHECK(cairn_xorb_span_get(x, 0, 7, &c) == 0);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + c.offset, (size_t)c.length, 100) == CAIRN_ECORRUPT);

	test_section("runs: only the chunks wanted are decoded and handed out");
	cairn_xorb_stream_set_want(st, want_some);
	{
		static const uint32_t masks[] = {1u << 2 | 1u << 7, 1u << 0, 1u << 4 | 1u << 5,
						 1u << 8, 0x1ff};
		for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
			size_t k = 0;
			bool same = true;
			seen_reset(s);
			s->want_mask = masks[m];
			cairn_xorb_stream_reset(st);
			rc = feed_all(st, bytes + sp.offset, (size_t)sp.length, 3000);
			CHECKF(rc == 0, "mask %x: %s", (unsigned)masks[m], cairn_error_last());
			CHECK_EQ_U64(cairn_xorb_stream_count(st), RUN_N);
			CHECK(s->order_ok);
			for (size_t i = 0; i < RUN_N; i++) {
				if (!(masks[m] >> i & 1))
					continue;
				same = same && k < s->n && s->indices[k] == i && s->hash_ok[k] &&
				       cairn_hash_equal(&s->hash[k], cairn_xorb_chunk_hash(x, i));
				k++;
			}
			CHECKF(same && k == s->n, "mask %x: chunks differ", (unsigned)masks[m]);
		}
		/* a run's sizes are still checked: a later chunk one byte short */
		CHECK(cairn_xorb_span_get(x, 4, 5, &c) == 0);
		mut = test_xmalloc((size_t)sp.length);
		memcpy(mut, bytes + sp.offset, (size_t)sp.length);
		mut[c.offset - sp.offset + 5] = (uint8_t)(rsz[4] - 1);
		mut[c.offset - sp.offset + 6] = (uint8_t)((rsz[4] - 1) >> 8);
		seen_reset(s);
		s->want_mask = 1u << 1;
		cairn_xorb_stream_reset(st);
		CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == CAIRN_ECORRUPT);
		/* a chunk not wanted is not decoded: damage to its bytes goes unseen, unless wanted */
		CHECK(cairn_xorb_chunk_scheme(x, 5) != CAIRN_XORB_NONE);
		CHECK(cairn_xorb_span_get(x, 5, 6, &c) == 0);
		memcpy(mut, bytes + sp.offset, (size_t)sp.length);
		memset(mut + (c.offset - sp.offset) + CAIRN_XORB_CHUNK_HEADER_LEN, 0xff,
		       (size_t)c.length - CAIRN_XORB_CHUNK_HEADER_LEN);
		seen_reset(s);
		s->want_mask = 1u << 4 | 1u << 6;
		cairn_xorb_stream_reset(st);
		CHECKF(feed_all(st, mut, (size_t)sp.length, 4096) == 0, "%s", cairn_error_last());
		CHECK_EQ_U64(s->n, 2);
		seen_reset(s);
		s->want_mask = 1u << 5;
		cairn_xorb_stream_reset(st);
		CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == CAIRN_ECORRUPT);
		free(mut);
	}
	cairn_xorb_stream_set_want(st, NULL);

	test_section("runs: hostile sizes and frames");
	mut = test_xmalloc((size_t)sp.length);
	/* a later chunk says more bytes than the frame has left */
	CHECK(cairn_xorb_span_get(x, 4, 5, &c) == 0);
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[c.offset - sp.offset + 5] ^= 0x40; /* raw length, low byte */
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == CAIRN_ECORRUPT);
	CHECK(s->n <= 4);
	/* ... or fewer: the frame is not used up when the next chunk starts */
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[c.offset - sp.offset + 5] = (uint8_t)(rsz[4] - 1);
	mut[c.offset - sp.offset + 6] = (uint8_t)((rsz[4] - 1) >> 8);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == CAIRN_ECORRUPT);
	CHECK(s->n <= 5);
	/* the frame changed: refused, or decodes to other hashes (a downloader checks them) */
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[8 + 40] ^= 0x21;
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	rc = feed_all(st, mut, (size_t)sp.length, 4096);
	CHECK(rc == CAIRN_ECORRUPT ||
	      (rc == 0 && !cairn_hash_equal(&s->hash[0], cairn_xorb_chunk_hash(x, 0))) ||
	      (rc == 0 && !cairn_hash_equal(&s->hash[1], cairn_xorb_chunk_hash(x, 1))) ||
	      (rc == 0 && !cairn_hash_equal(&s->hash[2], cairn_xorb_chunk_hash(x, 2))) ||
	      (rc == 0 && !cairn_hash_equal(&s->hash[3], cairn_xorb_chunk_hash(x, 3))) ||
	      (rc == 0 && !cairn_hash_equal(&s->hash[4], cairn_xorb_chunk_hash(x, 4))));
	/* a run's head that says more bytes than its frame holds */
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[5] = (uint8_t)130000; /* a chunk may have 130000 bytes; the frame holds 124537 */
	mut[6] = (uint8_t)(130000 >> 8);
	mut[7] = (uint8_t)(130000 >> 16);
	seen_reset(s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == CAIRN_ECORRUPT);
	CHECK_EQ_U64(s->n, 0);
	free(mut);
	cairn_xorb_free(x);
	cairn_xorb_writer_free(w);
	free(flat);
}

int main(void)
{
	static const size_t sizes[NCHUNKS] = {65536, 32768, 51200, 1, 131072, 9000, 70000};
	static const size_t pieces[] = {1, 3, 7, 8, 9, 4096, 16384, 65539, SIZE_MAX};
	uint8_t *data[NCHUNKS], *mut;
	size_t total = 0, blen, k;
	const uint8_t *bytes;
	cairn_xorb_writer *w;
	cairn_xorb_stream *st;
	cairn_xorb_span sp;
	cairn_xorb *x;
	seen s;
	int rc;

	memset(&s, 0, sizeof(s));
	/* random (stored as is), zeros and text-like (LZ4), numbers (maybe BG4) */
	for (k = 0; k < NCHUNKS; k++) {
		data[k] = test_xmalloc(sizes[k]);
		splitmix64_fill(k + 1, data[k], sizes[k]);
		if (k == 1)
			memset(data[k], 0, sizes[k]);
		if (k == 2)
			for (size_t i = 0; i < sizes[k]; i++)
				data[k][i] = (uint8_t)("the quick brown fox "[i % 20]);
		if (k == 5)
			for (size_t i = 0; i < sizes[k]; i++)
				data[k][i] = (uint8_t)(i % 4 == 3 ? 0x3f : data[k][i] & 7);
		total += sizes[k];
	}
	CHECK(cairn_xorb_writer_new(&w) == 0);
	for (k = 0; k < NCHUNKS; k++)
		CHECK(cairn_xorb_writer_add(w, data[k], sizes[k], NULL) == 0);
	CHECK(cairn_xorb_writer_finish(w, NULL, &bytes, &blen) == 0);
	CHECK(cairn_xorb_open(&x, bytes, blen) == 0);
	CHECK(cairn_xorb_span_get(x, 0, NCHUNKS, &sp) == 0);
	CHECK(cairn_xorb_stream_new(&st, on_chunk, &s) == 0);

	test_section("every piece size");
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		size_t off = 0;
		bool same = true;

		seen_reset(&s);
		cairn_xorb_stream_reset(st);
		rc = feed_all(st, bytes + sp.offset, (size_t)sp.length, pieces[p]);
		CHECKF(rc == 0, "piece %zu: %s", pieces[p], cairn_error_last());
		CHECK_EQ_U64(s.n, NCHUNKS);
		CHECK_EQ_U64(cairn_xorb_stream_count(st), NCHUNKS);
		CHECK(s.order_ok);
		CHECK_EQ_U64(s.bytes.n, total);
		for (k = 0; k < s.n; k++) {
			CHECK(s.hash_ok[k]);
			CHECK(cairn_hash_equal(&s.hash[k], cairn_xorb_chunk_hash(x, k)));
			same = same && s.len[k] == sizes[k] && s.bytes.p &&
			       memcmp(s.bytes.p + off, data[k], sizes[k]) == 0;
			off += sizes[k];
		}
		CHECKF(same, "piece %zu: bytes differ", pieces[p]);
	}

	test_section("a sub-range, as a ranged GET cuts it");
	CHECK(cairn_xorb_span_get(x, 2, 5, &sp) == 0);
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + sp.offset, (size_t)sp.length, 1000) == 0);
	CHECK_EQ_U64(s.n, 3);
	for (k = 0; k < s.n; k++)
		CHECK(cairn_hash_equal(&s.hash[k], cairn_xorb_chunk_hash(x, 2 + k)));
	CHECK(cairn_xorb_span_get(x, 0, NCHUNKS, &sp) == 0);

	test_section("truncated");
	for (size_t cut = 1; cut < 20; cut += 3) {
		seen_reset(&s);
		cairn_xorb_stream_reset(st);
		rc = feed_all(st, bytes + sp.offset, (size_t)sp.length - cut, 4096);
		CHECKF(rc == CAIRN_ECORRUPT, "cut %zu: rc %d", cut, rc);
		CHECK_EQ_U64(s.n, NCHUNKS - 1);
	}
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + sp.offset, 5, 5) == CAIRN_ECORRUPT); /* inside a header */
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes, 0, 1) == 0); /* nothing is zero chunks */
	CHECK_EQ_U64(s.n, 0);

	test_section("hostile bytes");
	mut = test_xmalloc((size_t)sp.length);
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[0] = 1; /* header version */
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(cairn_xorb_stream_feed(st, mut, (size_t)sp.length) == CAIRN_ECORRUPT);
	CHECK(cairn_xorb_stream_feed(st, bytes + sp.offset, 10) == CAIRN_ECORRUPT); /* sticks */
	CHECK(cairn_xorb_stream_end(st) == CAIRN_ECORRUPT);
	CHECK_EQ_U64(s.n, 0);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, bytes + sp.offset, (size_t)sp.length, 777) == 0); /* reset clears it */
	CHECK_EQ_U64(s.n, NCHUNKS);

	/* a packed length over any chunk's maximum */
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[1] = mut[2] = 0xff;
	mut[3] = 0x7f;
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(cairn_xorb_stream_feed(st, mut, 8) == CAIRN_ECORRUPT);

	/* chunk 1 (zeros) is LZ4: a byte in its frame changed does not decode, or not to it */
	{
		cairn_xorb_span c1;
		CHECK(cairn_xorb_span_get(x, 1, 2, &c1) == 0);
		memcpy(mut, bytes + sp.offset, (size_t)sp.length);
		CHECK(mut[c1.offset - sp.offset + 4] != CAIRN_XORB_NONE);
		mut[c1.offset - sp.offset + 8 + 5] ^= 0x55;
		seen_reset(&s);
		cairn_xorb_stream_reset(st);
		rc = feed_all(st, mut, (size_t)sp.length, 4096);
		CHECK(rc == CAIRN_ECORRUPT ||
		      (rc == 0 && !cairn_hash_equal(&s.hash[1], cairn_xorb_chunk_hash(x, 1))));
	}
	/* chunk 0 is stored as is: a changed byte decodes, to another hash */
	memcpy(mut, bytes + sp.offset, (size_t)sp.length);
	mut[100] ^= 1;
	seen_reset(&s);
	cairn_xorb_stream_reset(st);
	CHECK(feed_all(st, mut, (size_t)sp.length, 4096) == 0);
	CHECK(s.hash_ok[0]);
	CHECK(!cairn_hash_equal(&s.hash[0], cairn_xorb_chunk_hash(x, 0)));

	runs(st, &s);

	test_section("the callback stops it");
	seen_reset(&s);
	s.stop_at = 3;
	cairn_xorb_stream_reset(st);
	CHECK(cairn_xorb_stream_feed(st, bytes + sp.offset, (size_t)sp.length) == 1);
	CHECK_EQ_U64(s.n, 3);
	CHECK(cairn_xorb_stream_feed(st, bytes, 1) == 1);

	{
		cairn_xorb_stream *none = NULL;
		CHECK(cairn_xorb_stream_new(&none, NULL, NULL) == CAIRN_EINVALID && none == NULL);
	}
	cairn_xorb_stream_free(st);
	cairn_xorb_stream_free(NULL);
	cairn_xorb_free(x);
	cairn_xorb_writer_free(w);
	seen_reset(&s);
	free(mut);
	for (k = 0; k < NCHUNKS; k++)
		free(data[k]);
	return test_done();
}
