/*
 * harness.h - Cairn's tiny test harness (in the spirit of Redis' testhelp.h
 * and curl's fail_unless): CHECK records a pass or a failure with its
 * location and keeps going; test_done() prints "N passed, N failed" and
 * returns the exit status for ctest (77 marks a skipped test).
 */
#ifndef CAIRN_TEST_HARNESS_H
#define CAIRN_TEST_HARNESS_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SKIP 77

static int test_passed_;
static int test_failed_;
static const char *test_section_ = "";

static inline void test_section(const char *name)
{
	test_section_ = name;
	printf("# %s\n", name);
}

static inline int test_check_(int ok, const char *file, int line, const char *expr,
			      const char *fmt, ...)
{
	if (ok) {
		test_passed_++;
		return 1;
	}
	test_failed_++;
	printf("FAIL %s:%d [%s] %s", file, line, test_section_, expr);
	if (fmt && *fmt) {
		va_list ap;
		printf(": ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("\n");
	return 0;
}

/* CHECK(cond) or CHECKF(cond, "fmt", ...) with a message on failure. */
#define CHECK(cond) test_check_(!!(cond), __FILE__, __LINE__, #cond, NULL)
#define CHECKF(cond, ...) test_check_(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_EQ_U64(a, b)                                                               \
	test_check_((uint64_t)(a) == (uint64_t)(b), __FILE__, __LINE__, #a " == " #b,     \
		    "%llu != %llu", (unsigned long long)(a), (unsigned long long)(b))
#define CHECK_STR(a, b)                                                                  \
	test_check_(strcmp((a), (b)) == 0, __FILE__, __LINE__, #a " == " #b,              \
		    "\"%s\" != \"%s\"", (a), (b))
#define CHECK_MEM(a, b, n)                                                               \
	test_check_(memcmp((a), (b), (n)) == 0, __FILE__, __LINE__, #a " == " #b, NULL)

static inline int test_done(void)
{
	printf("%d passed, %d failed\n", test_passed_, test_failed_);
	return test_failed_ ? 1 : (test_passed_ ? 0 : 1);
}

/* SplitMix64: the deterministic generator behind every generated input
 * (xet's published vectors use it too, seed 0, bytes little endian). */
static inline uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static inline void splitmix64_fill(uint64_t seed, uint8_t *out, size_t len)
{
	uint64_t s = seed;
	size_t i = 0;

	while (i < len) {
		uint64_t v = splitmix64_next(&s);
		for (int k = 0; k < 8 && i < len; k++, i++)
			out[i] = (uint8_t)(v >> (8 * k));
	}
}

static inline void *test_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

/* A growing buffer to collect streamed bytes (a cairn_write_fn). */
typedef struct test_sink {
	uint8_t *p;
	size_t n, cap;
} test_sink;

static inline int test_sink_write(void *ctx, const void *data, size_t len)
{
	test_sink *s = ctx;
	if (s->n + len > s->cap) {
		size_t ncap = (s->n + len) * 2;
		uint8_t *np = realloc(s->p, ncap);
		if (np == NULL)
			return -1;
		s->p = np;
		s->cap = ncap;
	}
	memcpy(s->p + s->n, data, len);
	s->n += len;
	return 0;
}

#endif /* CAIRN_TEST_HARNESS_H */
