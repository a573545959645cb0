/*
 * piece.c - serving a byte range as an MHD response body, one piece of
 * CAIRN__PIECE bytes at a time: the piece is filled (from an object
 * reader, or from a stored xorb) only when MHD asks past what the buffer
 * holds, so memory stays one piece per download whatever its size. Both
 * fronts (http.c, s3.c) stream through here.
 */
#include "server_int.h"

#include "cairn/errors.h"

#include <microhttpd.h>
#include <string.h>

typedef struct piece_sink {
	uint8_t *buf;
	size_t cap, n;
} piece_sink;

static int piece_put(void *ctx, const void *data, size_t len)
{
	piece_sink *s = ctx;

	if (len > s->cap - s->n)
		return CAIRN_ERROR; /* more than asked for: cannot happen */
	memcpy(s->buf + s->n, data, len);
	s->n += len;
	return 0;
}

int cairn__piece_from_reader(void *rd, uint64_t at, size_t want, uint8_t *buf)
{
	piece_sink s = {buf, want, 0};
	/* the reader pinned one version: an overwrite meanwhile cannot mix in */
	int rc = cairn_reader_read(rd, at, want, piece_put, &s);

	if (rc == 0 && s.n != want)
		rc = CAIRN_ECORRUPT;
	return rc;
}

ssize_t cairn__pieces_serve(cairn__pieces *p, uint64_t pos, char *out, size_t max,
			    cairn__fill_fn fill, void *ctx, uint64_t *bytes_out)
{
	uint64_t at = p->first + pos, end = p->first + p->len;
	size_t n;

	if (pos >= p->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (p->buf_len == 0 || at < p->buf_off || at >= p->buf_off + p->buf_len) {
		size_t want = end - at < CAIRN__PIECE ? (size_t)(end - at) : CAIRN__PIECE;

		p->buf_len = 0;
		p->buf_off = at;
		if (fill(ctx, at, want, p->buf) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR; /* the fill said why */
		p->buf_len = want;
	}
	n = (size_t)(p->buf_off + p->buf_len - at);
	if (n > max)
		n = max;
	memcpy(out, p->buf + (at - p->buf_off), n);
	*bytes_out += n;
	return (ssize_t)n;
}
