/*
 * util_int.h - private helpers shared by every layer of libcairn:
 * error reporting and small portable byte-order routines.
 */
#ifndef CAIRN_UTIL_INT_H
#define CAIRN_UTIL_INT_H

#include "cairn/errors.h"

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define CAIRN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CAIRN__LIKELY(x) __builtin_expect(!!(x), 1)
#define CAIRN__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CAIRN__PRINTF(a, b)
#define CAIRN__LIKELY(x) (x)
#define CAIRN__UNLIKELY(x) (x)
#endif

/* Format the thread's error message and return code, for `return cairn__error_set(...)`. */
int cairn__error_set(int code, const char *fmt, ...) CAIRN__PRINTF(2, 3);

static inline uint32_t cairn__load32_le(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static inline void cairn__store32_le(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline uint64_t cairn__load64_le(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)cairn__load32_le(b) | ((uint64_t)cairn__load32_le(b + 4) << 32);
}

static inline void cairn__store64_le(void *p, uint64_t v)
{
	cairn__store32_le(p, (uint32_t)v);
	cairn__store32_le((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#endif /* CAIRN_UTIL_INT_H */
