/*
 * token.h - API tokens: how they look to a user ("cairn_" and 64 lowercase
 * hex digits, 32 random bytes) and how the metadata stores them (a keyed
 * BLAKE3 hash of the 32 bytes, never the token itself). Shared by the
 * server (checking "Authorization: Bearer") and `cairn admin tokens`.
 */
#ifndef CAIRN_SERVER_TOKEN_H
#define CAIRN_SERVER_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_TOKEN_PREFIX "cairn_"
#define CAIRN_TOKEN_LEN (6 + 64) /* characters, without the NUL */

/*
 * A new token: out gets its text (NUL-terminated), hash what to store.
 * Returns 0 or CAIRN_EIO (no randomness from the kernel).
 */
int cairn_token_generate(char out[CAIRN_TOKEN_LEN + 1], uint8_t hash[32]);

/*
 * The stored hash of a token's text (len bytes, not NUL-terminated).
 * Returns 0 or CAIRN_EAUTH (not of the token form).
 */
int cairn_token_hash(uint8_t hash[32], const char *text, size_t len);

#endif /* CAIRN_SERVER_TOKEN_H */
