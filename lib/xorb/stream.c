/*
 * stream.c - decoding a bare run of chunks as its bytes arrive (see
 * cairn_xorb_stream in include/cairn/xorb.h): what a client downloading a
 * xorb range uses, when it has no list of chunk hashes to check against
 * and does not want to hold the whole range before decoding it.
 *
 * The decoder keeps at most one chunk: its 8-byte header, then its packed
 * bytes; or, inside a run of Cairn's own (CAIRN_XORB_ZSTD_RUN, then its
 * CAIRN_XORB_RUN_NEXT chunks), the run's frame and what of it is decoded,
 * at most CAIRN_XORB_RUN_MAX_RAW each, handed out chunk by chunk as the
 * later headers arrive. A run must be whole: it starts at its head and its
 * chunks use up exactly the bytes its frame declares.
 *
 * A caller may say which chunks it wants (cairn_xorb_stream_set_want):
 * the others are parsed but not decoded, hashed or handed out, and a run
 * is decoded only as far as the last chunk wanted so far. A downloader
 * whose range holds whole runs for the sake of a few chunks saves most of
 * the work that way. A chunk whose packed bytes all sit in one piece of
 * input is
 * decoded from there without a copy; one split across pieces is gathered
 * in a buffer first. Each header goes through cairn__xorb_header_parse, so
 * a hostile stream cannot make the decoder buffer more than
 * XORB_MAX_PACKED bytes or write past a CAIRN_CHUNK_MAX-byte chunk.
 *
 * The chunk handed to the callback has been decoded but checked against
 * nothing: the stream computes its hash and hands both out, and the caller
 * compares (a downloader recomputes the file hash from all of them).
 */
#include "xorb_int.h"

#include <stdlib.h>
#include <string.h>

struct cairn_xorb_stream {
	cairn_xorb_stream_fn fn;
	void *ctx;
	xorb_decoder d;
	uint8_t hdr[CAIRN_XORB_CHUNK_HEADER_LEN];
	size_t hdr_have;       /* header bytes gathered for the current chunk */
	bool in_body;          /* the header is complete, packed bytes follow */
	xorb_chunk_header h;   /* the current chunk's header, once in_body */
	uint8_t *packed;       /* XORB_MAX_PACKED bytes, for a chunk split across pieces */
	size_t have;           /* packed bytes gathered */
	uint8_t *out;          /* CAIRN_CHUNK_MAX bytes: a compressed chunk decoded */
	size_t index;          /* chunks handed out since the start */
	int err;               /* a failure sticks until reset */
	cairn_xorb_stream_want_fn want; /* NULL: every chunk */
	/*
	 * The run being handed out (run_len > 0): its frame run_src[0..run_packed),
	 * read up to run_in; it declares run_len bytes, run[0..run_dec) decoded,
	 * and the chunks so far take run[0..run_used).
	 */
	uint8_t *run, *run_src; /* CAIRN_XORB_RUN_MAX_RAW bytes each, once a run is seen */
	size_t run_packed, run_in, run_len, run_dec, run_used;
};

/* The most a chunk's packed bytes can be: a run's frame may exceed a chunk's bound. */
#define PACKED_CAP                                                                           \
	(XORB_MAX_PACKED > CAIRN_XORB_RUN_MAX_RAW ? XORB_MAX_PACKED : CAIRN_XORB_RUN_MAX_RAW)

int cairn_xorb_stream_new(cairn_xorb_stream **out, cairn_xorb_stream_fn fn, void *ctx)
{
	cairn_xorb_stream *s;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "cairn_xorb_stream_new: no callback");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a xorb stream");
	s->fn = fn;
	s->ctx = ctx;
	if ((rc = cairn__xorb_decoder_init(&s->d)) < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cairn_xorb_stream_free(cairn_xorb_stream *s)
{
	if (s == NULL)
		return;
	cairn__xorb_decoder_fini(&s->d);
	free(s->packed);
	free(s->out);
	free(s->run);
	free(s->run_src);
	free(s);
}

void cairn_xorb_stream_set_want(cairn_xorb_stream *s, cairn_xorb_stream_want_fn want)
{
	s->want = want;
}

void cairn_xorb_stream_reset(cairn_xorb_stream *s)
{
	s->hdr_have = 0;
	s->in_body = false;
	s->have = 0;
	s->index = 0;
	s->err = 0;
	s->run_len = s->run_used = 0;
}

/* The run in progress is over: its chunks must have used up exactly its bytes. */
static int run_close(cairn_xorb_stream *s)
{
	if (s->run_used != s->run_len)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb range: a run ends with %zu of its %zu bytes not used "
					"by its chunks (before chunk %zu)",
					s->run_len - s->run_used, s->run_len, s->index);
	s->run_len = s->run_used = 0;
	return 0;
}

size_t cairn_xorb_stream_count(const cairn_xorb_stream *s)
{
	return s->index;
}

/*
 * The current chunk of the run in progress: the next h.raw bytes of its
 * frame, decoded (into *data) only if wanted.
 */
static int run_take(cairn_xorb_stream *s, bool wanted, const uint8_t **data)
{
	int rc;

	if (s->run_len - s->run_used < s->h.raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb range: chunk %zu is part of a run %s", s->index,
					s->run_len == 0 ? "whose first chunk is not in the range"
							: "that has no bytes left for it");
	if (wanted) {
		rc = cairn__xorb_run_step(&s->d, s->run, &s->run_dec, s->run_used + s->h.raw,
					  s->run_src, s->run_packed, &s->run_in, s->index);
		if (rc < 0)
			return rc;
		*data = s->run + s->run_used;
	}
	s->run_used += s->h.raw;
	return 0;
}

/* A run's head, its frame at src: the run begins (its frame is kept), then its first chunk. */
static int run_head(cairn_xorb_stream *s, const uint8_t *src, bool wanted, const uint8_t **data)
{
	size_t total;
	int rc;

	if ((s->run == NULL && (s->run = malloc(CAIRN_XORB_RUN_MAX_RAW)) == NULL) ||
	    (s->run_src == NULL && (s->run_src = malloc(CAIRN_XORB_RUN_MAX_RAW)) == NULL))
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a run");
	/* kept for the chunks after the head (header parsing bounds it by the run maximum) */
	if (src != s->run_src)
		memcpy(s->run_src, src, s->h.packed);
	rc = cairn__xorb_run_open(&s->d, s->run_src, s->h.packed, &total, s->index);
	if (rc < 0)
		return rc;
	if (total < s->h.raw)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb chunk %zu: a run's frame holds %zu bytes, its first "
					"chunk alone %u",
					s->index, total, s->h.raw);
	s->run_packed = s->h.packed;
	s->run_in = s->run_dec = s->run_used = 0;
	s->run_len = total;
	return run_take(s, wanted, data);
}

/* Decode the current chunk from src[0..h.packed), if wanted hash it and hand it out. */
static int emit(cairn_xorb_stream *s, const uint8_t *src)
{
	bool wanted = s->want == NULL || s->want(s->ctx, s->index);
	const uint8_t *data = src;
	cairn_hash hash;
	int rc;

	if (s->h.scheme == CAIRN_XORB_RUN_NEXT) {
		if ((rc = run_take(s, wanted, &data)) < 0)
			return rc;
	} else {
		if (s->run_len > 0 && (rc = run_close(s)) < 0)
			return rc;
		if (s->h.scheme == CAIRN_XORB_ZSTD_RUN) {
			if ((rc = run_head(s, src, wanted, &data)) < 0)
				return rc;
		} else if (wanted && s->h.scheme != CAIRN_XORB_NONE) {
			if (s->out == NULL && (s->out = malloc(CAIRN_CHUNK_MAX)) == NULL)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory for a chunk");
			rc = cairn__xorb_unpack(&s->d, s->out, &s->h, src, s->index);
			if (rc < 0)
				return rc;
			data = s->out;
		}
	}
	if (wanted) {
		cairn_chunk_hash(&hash, data, s->h.raw);
		rc = s->fn(s->ctx, s->index, data, s->h.raw, &hash);
		if (rc != 0)
			return rc;
	}
	s->index++;
	s->in_body = false;
	s->hdr_have = 0;
	s->have = 0;
	return 0;
}

static int feed(cairn_xorb_stream *s, const uint8_t *p, size_t len)
{
	int rc;

	while (len > 0) {
		size_t take;

		if (!s->in_body) {
			take = CAIRN_XORB_CHUNK_HEADER_LEN - s->hdr_have;
			if (take > len)
				take = len;
			memcpy(s->hdr + s->hdr_have, p, take);
			s->hdr_have += take;
			p += take;
			len -= take;
			if (s->hdr_have < CAIRN_XORB_CHUNK_HEADER_LEN)
				break;
			/* the packed bytes are not here yet: allow the most any chunk may have */
			rc = cairn__xorb_header_parse(&s->h, s->hdr,
						      CAIRN_XORB_CHUNK_HEADER_LEN + PACKED_CAP,
						      s->index);
			if (rc < 0)
				return rc;
			s->in_body = true;
			s->have = 0;
			if (s->h.packed == 0 && (rc = emit(s, p)) != 0)
				return rc;
			continue;
		}
		if (s->have == 0 && len >= s->h.packed) {
			/* the whole chunk is in this piece: decode it in place */
			take = s->h.packed;
			if ((rc = emit(s, p)) != 0)
				return rc;
			p += take;
			len -= take;
			continue;
		}
		/*
		 * Split across pieces: gathered, a run's frame straight into
		 * run_src, where it is decoded from (the previous run's chunks
		 * were all handed out before this head's bytes came)
		 */
		{
			bool run = s->h.scheme == CAIRN_XORB_ZSTD_RUN;
			uint8_t **buf = run ? &s->run_src : &s->packed;
			if (*buf == NULL &&
			    (*buf = malloc(run ? CAIRN_XORB_RUN_MAX_RAW : XORB_MAX_PACKED)) == NULL)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory for a chunk");
			take = s->h.packed - s->have;
			if (take > len)
				take = len;
			memcpy(*buf + s->have, p, take);
			s->have += take;
			p += take;
			len -= take;
			if (s->have == s->h.packed && (rc = emit(s, *buf)) != 0)
				return rc;
		}
	}
	return 0;
}

int cairn_xorb_stream_feed(cairn_xorb_stream *s, const void *bytes, size_t len)
{
	if (s->err != 0)
		return s->err;
	if (bytes == NULL && len > 0)
		return cairn__error_set(CAIRN_EINVALID, "cairn_xorb_stream_feed: NULL buffer");
	s->err = feed(s, bytes, len);
	return s->err;
}

int cairn_xorb_stream_end(cairn_xorb_stream *s)
{
	if (s->err != 0)
		return s->err;
	if (s->in_body || s->hdr_have > 0)
		return s->err = cairn__error_set(CAIRN_ECORRUPT,
						 "xorb range: the bytes end inside chunk %zu",
						 s->index);
	if (s->run_len > 0)
		s->err = run_close(s);
	return s->err;
}
