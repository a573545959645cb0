/*
 * xetgen.h - deterministic test inputs named by a spec string, shared by
 * the chunking tests and the xet-core reference comparison:
 *
 *   splitmix:SEED:LEN        SplitMix64 output, little-endian bytes
 *   const:BYTE:LEN           one byte value repeated
 *   lowent:SEED:LEN          random bytes from a 4-symbol alphabet
 *   repeat:SEED:BLOCK:LEN    one random BLOCK-byte block, repeated
 *   text:SEED:LEN            words from a small vocabulary, spaces, newlines
 *   edits:SEED:LEN           random data with every 100 KiB a few bytes changed
 */
#ifndef CAIRN_TEST_XETGEN_H
#define CAIRN_TEST_XETGEN_H

#include "harness.h"

#include <inttypes.h>

/* Generate the input named by spec; returns NULL for a malformed spec. */
static inline uint8_t *xetgen(const char *spec, size_t *len_out)
{
	char kind[16];
	unsigned long long a = 0, b = 0, c = 0;
	int n = sscanf(spec, "%15[a-z]:%llu:%llu:%llu", kind, &a, &b, &c);
	uint8_t *p;
	size_t len;

	if (n < 3)
		return NULL;
	len = (size_t)(strcmp(kind, "repeat") == 0 ? c : b);
	if (strcmp(kind, "repeat") == 0 && (n < 4 || b == 0))
		return NULL;
	p = test_xmalloc(len);
	if (strcmp(kind, "splitmix") == 0) {
		splitmix64_fill(a, p, len);
	} else if (strcmp(kind, "const") == 0) {
		memset(p, (int)a, len);
	} else if (strcmp(kind, "lowent") == 0) {
		splitmix64_fill(a, p, len);
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)('a' + (p[i] & 3));
	} else if (strcmp(kind, "repeat") == 0) {
		size_t blk = (size_t)b;
		uint8_t *one = test_xmalloc(blk);
		splitmix64_fill(a, one, blk);
		for (size_t i = 0; i < len; i++)
			p[i] = one[i % blk];
		free(one);
	} else if (strcmp(kind, "text") == 0) {
		static const char *words[] = {"the", "model", "loss", "step", "checkpoint",
					      "gradient", "of", "and", "epoch", "tensor",
					      "batch", "weights", "a", "layer", "attention"};
		uint64_t s = a;
		size_t i = 0;
		while (i < len) {
			uint64_t r = splitmix64_next(&s);
			const char *w = words[r % 15];
			for (; *w && i < len; w++)
				p[i++] = (uint8_t)*w;
			if (i < len)
				p[i++] = (r >> 32) % 11 == 0 ? '\n' : ' ';
		}
	} else if (strcmp(kind, "edits") == 0) {
		uint64_t s = a ^ 0x5eed;
		splitmix64_fill(a, p, len);
		for (size_t i = 50000; i < len; i += 102400)
			for (int k = 0; k < 4 && i + (size_t)k < len; k++)
				p[i + (size_t)k] = (uint8_t)splitmix64_next(&s);
	} else {
		free(p);
		return NULL;
	}
	*len_out = len;
	return p;
}

#endif /* CAIRN_TEST_XETGEN_H */
