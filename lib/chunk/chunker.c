/*
 * chunker.c - xet-core's content-defined chunking: the gear hash scans and
 * the streaming boundary finder (see include/cairn/chunk.h, chunk_int.h).
 *
 * The streaming finder follows xet-core step by step: skip the first
 * MIN - 64 - 1 bytes of a chunk without hashing them, hash the next 64
 * without testing, then test every byte up to MAX.
 */
#include "chunk_int.h"
#include "../util/util_int.h"

#include <string.h>

#define T cairn__gear_table

/* First chunk offset the chunker hashes: MIN - 64 - 1 (xet-core's skip). */
#define HASH_FROM (CAIRN_CHUNK_MIN - GEAR_WINDOW - 1)
/* First chunk offset tested: a chunk is at least MIN bytes. */
#define TEST_FROM (CAIRN_CHUNK_MIN - 1)

void cairn__gear_roll(uint64_t *h, const uint8_t *p, size_t n)
{
	uint64_t x = *h;

	for (size_t i = 0; i < n; i++)
		x = (x << 1) + T[p[i]];
	*h = x;
}

size_t cairn__gear_find(uint64_t *h, const uint8_t *p, size_t n)
{
	uint64_t x = *h;
	size_t i = 0;

	/* unrolled by four: one dependent shift-add per byte is the limit */
	for (; i + 4 <= n; i += 4) {
		x = (x << 1) + T[p[i]];
		if (CAIRN__UNLIKELY((x & GEAR_MASK) == 0)) {
			*h = x;
			return i + 1;
		}
		x = (x << 1) + T[p[i + 1]];
		if (CAIRN__UNLIKELY((x & GEAR_MASK) == 0)) {
			*h = x;
			return i + 2;
		}
		x = (x << 1) + T[p[i + 2]];
		if (CAIRN__UNLIKELY((x & GEAR_MASK) == 0)) {
			*h = x;
			return i + 3;
		}
		x = (x << 1) + T[p[i + 3]];
		if (CAIRN__UNLIKELY((x & GEAR_MASK) == 0)) {
			*h = x;
			return i + 4;
		}
	}
	for (; i < n; i++) {
		x = (x << 1) + T[p[i]];
		if ((x & GEAR_MASK) == 0) {
			*h = x;
			return i + 1;
		}
	}
	*h = x;
	return n;
}

void cairn_chunker_init(cairn_chunker *c)
{
	c->h = 0;
	c->len = 0;
}

uint64_t cairn_chunker_pending(const cairn_chunker *c)
{
	return c->len;
}

size_t cairn_chunker_next(cairn_chunker *c, const void *data, size_t len, bool *cut)
{
	const uint8_t *p = data;
	size_t pos = 0;

	*cut = false;
	/* offsets below HASH_FROM cannot influence any tested hash */
	if (c->len < HASH_FROM) {
		size_t skip = HASH_FROM - (size_t)c->len;
		if (skip > len)
			skip = len;
		pos += skip;
		c->len += skip;
	}
	/* hash, but do not test, up to the first admissible position */
	if (c->len < TEST_FROM && pos < len) {
		size_t n = TEST_FROM - (size_t)c->len;
		if (n > len - pos)
			n = len - pos;
		cairn__gear_roll(&c->h, p + pos, n);
		pos += n;
		c->len += n;
	}
	if (pos < len) {
		size_t room = CAIRN_CHUNK_MAX - (size_t)c->len;
		size_t n = len - pos < room ? len - pos : room;
		size_t k = cairn__gear_find(&c->h, p + pos, n);

		pos += k;
		c->len += k;
		if ((k > 0 && (c->h & GEAR_MASK) == 0) || c->len == CAIRN_CHUNK_MAX) {
			*cut = true;
			c->h = 0;
			c->len = 0;
		}
	}
	return pos;
}
