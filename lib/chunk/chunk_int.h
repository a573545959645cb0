/*
 * chunk_int.h - gear hash internals shared by the streaming chunker and the
 * parallel whole-file hasher.
 *
 * The gear hash after byte i is sum(TABLE[b[i-k]] << k) for k < 64 (older
 * bytes shift out of the 64-bit word), so once 64 bytes of a chunk have
 * been hashed its value depends only on the last 64 bytes, not on where the
 * chunk began. xet-core only tests positions at least CAIRN_CHUNK_MIN bytes
 * into a chunk and starts hashing 64 + 1 bytes before that, so a position
 * is a boundary candidate or not by its content alone. The parallel hasher
 * relies on this: it finds candidates in slices of a block concurrently,
 * then picks the real boundaries in one cheap sequential pass.
 */
#ifndef CAIRN_CHUNK_INT_H
#define CAIRN_CHUNK_INT_H

#include "cairn/chunk.h"

#include <stddef.h>
#include <stdint.h>

#define GEAR_WINDOW 64
#define GEAR_MASK 0xFFFF000000000000ULL

extern const uint64_t cairn__gear_table[256];

/*
 * Advance *h over p[0..n) and return the count of bytes consumed up to and
 * including the first byte after which (h & GEAR_MASK) == 0, or n if none.
 */
size_t cairn__gear_find(uint64_t *h, const uint8_t *p, size_t n);

/* Advance *h over p[0..n) without testing. */
void cairn__gear_roll(uint64_t *h, const uint8_t *p, size_t n);

/*
 * Set bit i of `bits` (bit i%64 of word i/64) for every byte i in [from, n)
 * after which the window hash of p is a boundary candidate. Bytes before
 * `from` only warm the hash (up to 63 of them are read). Other bits are
 * left alone; the caller zeroes the bitmap. Concurrent callers must own
 * disjoint words, i.e. split ranges at multiples of 64 bytes.
 */
void cairn__gear_candidates(const uint8_t *p, size_t from, size_t n, uint64_t *bits);

#endif /* CAIRN_CHUNK_INT_H */
