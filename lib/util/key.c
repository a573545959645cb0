/*
 * key.c - what an object key may be (cairn_key_valid, include/cairn/common.h):
 * the one rule the server's fronts and the sync planner both hold keys to.
 */
#include "util_int.h"

#include <string.h>

bool cairn_key_valid(const char *key, size_t len)
{
	size_t seg = 0;

	if (key == NULL || len == 0 || len > CAIRN_OBJECT_KEY_MAX || memchr(key, '\0', len) != NULL)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && key[i] != '/')
			continue;
		if (i == seg || (i - seg == 1 && key[seg] == '.') ||
		    (i - seg == 2 && key[seg] == '.' && key[seg + 1] == '.'))
			return false;
		seg = i + 1;
	}
	return true;
}
