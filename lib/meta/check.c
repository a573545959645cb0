/*
 * check.c - what every metadata backend checks the same way: bucket and
 * namespace names, object keys, and the byte range an object listing
 * covers (see meta_int.h). Keys are byte strings compared like memcmp
 * (a proper prefix first), the order SQLite gives BLOBs and PostgreSQL
 * gives bytea, so one range computed here serves both.
 */
#include "meta_int.h"

#include <string.h>

int cairn__meta_check_name(const char *what, const char *name)
{
	size_t len;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "no %s given", what);
	len = strnlen(name, CAIRN_NAME_MAX + 1);
	if (len == 0)
		return cairn__error_set(CAIRN_EINVALID, "the %s is empty", what);
	if (len > CAIRN_NAME_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a %s has at most %d characters", what,
					CAIRN_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (alnum || (i > 0 && (c == '.' || c == '_' || c == '-')))
			continue;
		if (i == 0)
			return cairn__error_set(CAIRN_EINVALID,
						"a %s starts with a lowercase letter or a digit: "
						"\"%s\"", what, name);
		return cairn__error_set(CAIRN_EINVALID,
					"a %s holds only a-z, 0-9, '.', '_' and '-': \"%s\"",
					what, name);
	}
	return 0;
}

int cairn__meta_check_key(const char *key, size_t len)
{
	if (len == 0 || key == NULL)
		return cairn__error_set(CAIRN_EINVALID, "an object key holds at least one byte");
	if (len > CAIRN_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID,
					"an object key holds at most %d bytes, got %zu",
					CAIRN_KEY_MAX, len);
	if (memchr(key, '\0', len) != NULL)
		return cairn__error_set(CAIRN_EINVALID, "an object key cannot hold a NUL byte");
	return 0;
}

/* memcmp order over byte strings of different lengths: a proper prefix first. */
static int bytes_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return (a_len > b_len) - (a_len < b_len);
}

int cairn__meta_key_range(uint8_t *lo, size_t *lo_len, uint8_t *hi, size_t *hi_len,
			  const char *prefix, size_t prefix_len, const char *after,
			  size_t after_len)
{
	size_t n;

	if (prefix == NULL && prefix_len != 0)
		return cairn__error_set(CAIRN_EINVALID, "object_list: a NULL prefix of %zu bytes",
					prefix_len);
	if (prefix_len > CAIRN_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID,
					"a key prefix holds at most %d bytes, got %zu",
					CAIRN_KEY_MAX, prefix_len);
	if (after != NULL && after_len > CAIRN_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID,
					"a listing's start key holds at most %d bytes, got %zu",
					CAIRN_KEY_MAX, after_len);

	/* hi: the prefix's successor, or past every valid key */
	n = prefix_len;
	while (n > 0 && (uint8_t)prefix[n - 1] == 0xFF)
		n--;
	if (n == 0) {
		memset(hi, 0xFF, CAIRN_KEY_MAX + 1);
		*hi_len = CAIRN_KEY_MAX + 1;
	} else {
		memcpy(hi, prefix, n);
		hi[n - 1]++;
		*hi_len = n;
	}

	/* lo: the larger of the prefix and after || 0x00 */
	if (after != NULL) {
		if (after_len)
			memcpy(lo, after, after_len);
		lo[after_len] = 0x00;
		if (bytes_cmp(lo, after_len + 1, (const uint8_t *)prefix, prefix_len) > 0) {
			*lo_len = after_len + 1;
			return 0;
		}
	}
	if (prefix_len)
		memcpy(lo, prefix, prefix_len);
	*lo_len = prefix_len;
	return 0;
}
