/*
 * xet_hash.c - xet's hashes over chunks (see include/cairn/hash.h) and the
 * text form of a hash. The keys are xet-core's constants; changing any byte
 * here breaks compatibility with every xet client and server.
 */
#include "cairn/hash.h"
#include "cairn/blake3.h"
#include "../util/util_int.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t DATA_KEY[32] = {
	102, 151, 245, 119, 91,  149, 80,  222, 49,  53, 203, 172, 165, 151, 24, 28,
	157, 228, 33,  16,  155, 235, 43,  88,  180, 208, 176, 75, 147, 173, 242, 41,
};

static const uint8_t INTERNAL_NODE_KEY[32] = {
	1,  126, 197, 199, 165, 71, 41,  150, 253, 148, 102, 102, 180, 138, 2,   230,
	93, 221, 83,  111, 55,  199, 109, 210, 248, 99,  82,  230, 74,  83,  113, 63,
};

static const uint8_t VERIFICATION_KEY[32] = {
	127, 24,  87, 214, 206, 86,  237, 102, 18, 127, 249, 19,  231, 165, 195, 243,
	164, 205, 38, 213, 181, 219, 73,  230, 65, 36,  152, 127, 40,  251, 148, 195,
};

/* Mean branching factor of the aggregated tree, and the widest node. */
#define MERKLE_MEAN_BRANCHING 4
#define MERKLE_MAX_CHILDREN (2 * MERKLE_MEAN_BRANCHING + 1)

static const char HEXDIGITS[] = "0123456789abcdef";

void cairn_hash_to_hex(char out[CAIRN_HASH_HEX_LEN + 1], const cairn_hash *h)
{
	char *o = out;

	for (size_t w = 0; w < 4; w++) {
		/* word w printed as a little-endian u64: most significant byte first */
		for (size_t i = 8; i-- > 0;) {
			uint8_t b = h->bytes[w * 8 + i];
			*o++ = HEXDIGITS[b >> 4];
			*o++ = HEXDIGITS[b & 15];
		}
	}
	*o = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cairn_hash_from_hex(cairn_hash *out, const char *hex, size_t len)
{
	cairn_hash h;

	if (hex == NULL || len != CAIRN_HASH_HEX_LEN)
		return cairn__error_set(CAIRN_EINVALID, "a hash is %d hex digits, got %zu",
					CAIRN_HASH_HEX_LEN, hex ? len : 0);
	for (size_t w = 0; w < 4; w++) {
		for (size_t i = 0; i < 8; i++) {
			int hi = hexval(hex[w * 16 + 2 * i]);
			int lo = hexval(hex[w * 16 + 2 * i + 1]);
			if (hi < 0 || lo < 0)
				return cairn__error_set(CAIRN_EINVALID,
							"invalid hex digit in hash at %zu",
							w * 16 + 2 * i);
			h.bytes[w * 8 + 7 - i] = (uint8_t)(hi << 4 | lo);
		}
	}
	*out = h;
	return 0;
}

bool cairn_hash_equal(const cairn_hash *a, const cairn_hash *b)
{
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

bool cairn_hash_is_zero(const cairn_hash *h)
{
	static const cairn_hash zero;
	return cairn_hash_equal(h, &zero);
}

void cairn_chunk_hash(cairn_hash *out, const void *data, size_t len)
{
	cairn_blake3_keyed_hash(out->bytes, DATA_KEY, data, len);
}

void cairn_hash_keyed(cairn_hash *out, const cairn_hash *msg, const cairn_hash *key)
{
	cairn_hash r;

	cairn_blake3_keyed_hash(r.bytes, key->bytes, msg->bytes, sizeof(msg->bytes));
	*out = r;
}

void cairn_verification_hash(cairn_hash *out, const cairn_hash *hashes, size_t n)
{
	cairn_blake3_hasher h;

	cairn_blake3_init_keyed(&h, VERIFICATION_KEY);
	for (size_t i = 0; i < n; i++)
		cairn_blake3_update(&h, hashes[i].bytes, sizeof(hashes[i].bytes));
	cairn_blake3_finalize(&h, out->bytes, sizeof(out->bytes));
}

/*
 * How many of the next n entries form one node: close after the first
 * entry at index >= 2 whose hash is 0 mod 4 (the hash's last word read as
 * a little-endian u64), else take as many as the widest node allows.
 */
static size_t next_merge_cut(const cairn_chunk_ref *e, size_t n)
{
	size_t end = n < MERKLE_MAX_CHILDREN ? n : MERKLE_MAX_CHILDREN;

	if (n <= 2)
		return n;
	for (size_t i = 2; i < end; i++)
		if ((e[i].hash.bytes[24] % MERKLE_MEAN_BRANCHING) == 0)
			return i + 1;
	return end;
}

/* Write v in decimal at p; returns the number of digits. */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Hash one node: lines "<hex> : <len>\n", keyed with INTERNAL_NODE_KEY. */
static cairn_chunk_ref merge_node(const cairn_chunk_ref *e, size_t n)
{
	char buf[MERKLE_MAX_CHILDREN * (CAIRN_HASH_HEX_LEN + 3 + 20 + 1) + 1];
	size_t pos = 0;
	cairn_chunk_ref r;

	r.len = 0;
	for (size_t i = 0; i < n; i++) {
		cairn_hash_to_hex(buf + pos, &e[i].hash);
		pos += CAIRN_HASH_HEX_LEN;
		memcpy(buf + pos, " : ", 3);
		pos += 3;
		pos += put_u64(buf + pos, e[i].len);
		buf[pos++] = '\n';
		r.len += e[i].len;
	}
	cairn_blake3_keyed_hash(r.hash.bytes, INTERNAL_NODE_KEY, buf, pos);
	return r;
}

static int merkle_root(cairn_hash *out, const cairn_chunk_ref *chunks, size_t n)
{
	cairn_chunk_ref *level;

	if (n == 0) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (n == 1) {
		*out = chunks[0].hash;
		return 0;
	}
	level = malloc(n * sizeof(*level));
	if (level == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory hashing %zu chunks", n);
	memcpy(level, chunks, n * sizeof(*level));
	while (n > 1) {
		size_t w = 0, r = 0;
		while (r < n) {
			size_t cut = next_merge_cut(level + r, n - r);
			level[w++] = merge_node(level + r, cut);
			r += cut;
		}
		n = w;
	}
	*out = level[0].hash;
	free(level);
	return 0;
}

int cairn_xorb_hash(cairn_hash *out, const cairn_chunk_ref *chunks, size_t n)
{
	return merkle_root(out, chunks, n);
}

int cairn_file_hash(cairn_hash *out, const cairn_chunk_ref *chunks, size_t n,
		    const cairn_hash *salt)
{
	static const cairn_hash zero_salt;
	cairn_hash root;
	int rc;

	if (n == 0) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	rc = merkle_root(&root, chunks, n);
	if (rc < 0)
		return rc;
	cairn_hash_keyed(out, &root, salt ? salt : &zero_salt);
	return 0;
}
