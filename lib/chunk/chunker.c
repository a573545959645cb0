/*
 * chunker.c - xet-core's content-defined chunking: the gear hash scans and
 * the streaming boundary finder (see include/cairn/chunk.h, chunk_int.h).
 *
 * The streaming finder follows xet-core step by step: skip the first
 * MIN - 64 - 1 bytes of a chunk without hashing them, hash the next 64
 * without testing, then test every byte up to MAX. The candidate scanner
 * is the fast path used by whole-file hashing; both give the same cuts.
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

/* Hash state after the GEAR_WINDOW - 1 bytes before p[at] (or fewer at
 * the start of the buffer). */
static uint64_t warm(const uint8_t *p, size_t at)
{
	size_t s = at >= GEAR_WINDOW - 1 ? at - (GEAR_WINDOW - 1) : 0;
	uint64_t h = 0;

	cairn__gear_roll(&h, p + s, at - s);
	return h;
}

static inline void set_bit(uint64_t *bits, size_t i)
{
	bits[i / 64] |= 1ull << (i % 64);
}

void cairn__gear_candidates(const uint8_t *p, size_t from, size_t n, uint64_t *bits)
{
	size_t L;

	if (from >= n)
		return;
	L = (n - from) / 2;
	if (L >= 4 * GEAR_WINDOW) {
		/*
		 * Two independent strips interleaved: every byte's shift-add
		 * depends on the one before, so a single strip leaves the core
		 * waiting on that chain; two fill it (measured: more strips
		 * gain nothing once the loads and tests saturate the core).
		 */
		const uint8_t *p0 = p + from, *p1 = p + from + L;
		uint64_t h0 = warm(p, from), h1 = warm(p, from + L);

		for (size_t i = 0; i < L; i++) {
			h0 = (h0 << 1) + T[p0[i]];
			h1 = (h1 << 1) + T[p1[i]];
			if (CAIRN__UNLIKELY((h0 & GEAR_MASK) == 0))
				set_bit(bits, from + i);
			if (CAIRN__UNLIKELY((h1 & GEAR_MASK) == 0))
				set_bit(bits, from + L + i);
		}
		from += 2 * L;
	}
	{
		uint64_t h = warm(p, from);
		size_t i = from;

		while (i < n) {
			size_t k = cairn__gear_find(&h, p + i, n - i);
			i += k;
			if ((h & GEAR_MASK) == 0)
				set_bit(bits, i - 1);
		}
	}
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
