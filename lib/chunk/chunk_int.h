/*
 * chunk_int.h - gear hash internals shared by the streaming chunker and the
 * parallel whole-file hasher.
 *
 * The gear hash after byte i is sum(TABLE[b[i-k]] << k) for k < 64 (older
 * bytes shift out of the 64-bit word), so once 64 bytes of a chunk have
 * been hashed its value depends only on the last 64 bytes, not on where the
 * chunk began. xet-core only tests positions at least CAIRN_CHUNK_MIN bytes
 * into a chunk and starts hashing 64 + 1 bytes before that, so whether a
 * position may end a chunk depends on its content alone, and every cut
 * restarts the scan from scratch: two scans that ever cut at the same place
 * agree from there on (file_hash.c builds its parallelism on this).
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

#endif /* CAIRN_CHUNK_INT_H */
