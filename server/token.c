/*
 * token.c - API tokens (token.h).
 *
 * The stored form is BLAKE3 keyed with TOKEN_KEY below over the token's 32
 * random bytes. The key is fixed and public (it is in this file): it does
 * not make the hash secret, it only separates token hashes from every other
 * BLAKE3 hash in Cairn. The protection against a leaked database is that the
 * secret has 256 bits of entropy, so its hash cannot be inverted or guessed;
 * no slow password hash is needed. Changing the key invalidates every token.
 */
#include "token.h"

#include "cairn/blake3.h"
#include "cairn/errors.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* exactly 32 bytes; never change (every stored token hash depends on it) */
static const char TOKEN_KEY[] = "cairn api token hash key v1 ....";
_Static_assert(sizeof(TOKEN_KEY) - 1 == CAIRN_BLAKE3_KEY_LEN, "token key is 32 bytes");

static void digest(uint8_t hash[32], const uint8_t secret[32])
{
	cairn_blake3_keyed_hash(hash, (const uint8_t *)TOKEN_KEY, secret, 32);
}

int cairn_token_generate(char out[CAIRN_TOKEN_LEN + 1], uint8_t hash[32])
{
	static const char hexd[] = "0123456789abcdef";
	uint8_t secret[32];
	size_t got = 0;

	while (got < sizeof(secret)) {
		ssize_t n = getrandom(secret + got, sizeof(secret) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CAIRN_EIO;
		}
		got += (size_t)n;
	}
	memcpy(out, CAIRN_TOKEN_PREFIX, 6);
	for (size_t i = 0; i < 32; i++) {
		out[6 + 2 * i] = hexd[secret[i] >> 4];
		out[6 + 2 * i + 1] = hexd[secret[i] & 15];
	}
	out[CAIRN_TOKEN_LEN] = '\0';
	digest(hash, secret);
	memset(secret, 0, sizeof(secret));
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int cairn_token_hash(uint8_t hash[32], const char *text, size_t len)
{
	uint8_t secret[32];

	if (len != CAIRN_TOKEN_LEN || memcmp(text, CAIRN_TOKEN_PREFIX, 6) != 0)
		return CAIRN_EAUTH;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(text[6 + 2 * i]), lo = hexval(text[6 + 2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CAIRN_EAUTH;
		secret[i] = (uint8_t)(hi << 4 | lo);
	}
	digest(hash, secret);
	memset(secret, 0, sizeof(secret));
	return 0;
}
