/*
 * test_hash_faults.c - whole-file hashing under injected faults (SQLite's
 * do_faultsim_test idea): make the Nth allocation fail, or every thread
 * creation from the Nth on, and loop over N. Each run must either succeed
 * with exactly the fault-free answer or fail with CAIRN_ENOMEM; never a
 * wrong hash, a crash or a hang. Also inputs whose boundaries fall exactly
 * on the edges of the per-thread slices.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=aligned_alloc,--wrap=pthread_create (see tests/CMakeLists.txt).
 */
#include "harness.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "chunk/chunk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static bool armed;
static long fail_alloc_at = -1, alloc_calls;
static long fail_thread_from = -1, thread_calls;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

static bool alloc_fails(void)
{
	return armed && alloc_calls++ == fail_alloc_at;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return alloc_fails() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	return alloc_fails() ? NULL : __real_aligned_alloc(a, n);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (armed && fail_thread_from >= 0 && thread_calls++ >= fail_thread_from)
		return EAGAIN;
	return __real_pthread_create(t, a, fn, arg);
}

static bool same(const cairn_file_chunks *a, const cairn_file_chunks *b)
{
	if (!a || !b || a->count != b->count || a->size != b->size ||
	    !cairn_hash_equal(&a->file_hash, &b->file_hash))
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (a->chunks[i].offset != b->chunks[i].offset ||
		    a->chunks[i].len != b->chunks[i].len ||
		    !cairn_hash_equal(&a->chunks[i].hash, &b->chunks[i].hash))
			return false;
	return true;
}

static int hash_either(cairn_file_chunks **out, bool use_fd, int fd, const uint8_t *p, size_t n,
		       unsigned threads)
{
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	int rc;

	o.threads = threads;
	o.block_size = 1u << 20;
	if (use_fd && lseek(fd, 0, SEEK_SET) != 0)
		return -100;
	armed = true;
	rc = use_fd ? cairn_hash_fd(out, fd, &o) : cairn_hash_buffer(out, p, n, &o);
	armed = false;
	return rc;
}

static void fault_loops(const uint8_t *p, size_t n, int fd)
{
	cairn_file_chunks *ref = NULL;

	CHECK(hash_either(&ref, false, -1, p, n, 1) == 0);
	for (int use_fd = 0; use_fd < 2; use_fd++) {
		long runs = 0, enomem = 0;
		bool wrong = false;

		test_section(use_fd ? "allocation failures, file" : "allocation failures, buffer");
		for (fail_alloc_at = 0;; fail_alloc_at++) {
			cairn_file_chunks *fc = NULL;
			int rc;

			alloc_calls = 0;
			rc = hash_either(&fc, use_fd, fd, p, n, 4);
			runs++;
			if (rc == CAIRN_ENOMEM)
				enomem++;
			else if (rc != 0 || !same(ref, fc))
				wrong = true;
			cairn_file_chunks_free(fc);
			if (alloc_calls <= fail_alloc_at)
				break; /* this run never reached the fault: done */
		}
		fail_alloc_at = -1;
		CHECKF(!wrong && enomem > 0, "%ld runs, %ld ENOMEM", runs, enomem);
		printf("# %ld runs, %ld failed cleanly with ENOMEM\n", runs, enomem);

		test_section(use_fd ? "thread start failures, file" : "thread start failures, buffer");
		for (fail_thread_from = 0; fail_thread_from < 4; fail_thread_from++) {
			cairn_file_chunks *fc = NULL;
			thread_calls = 0;
			CHECKF(hash_either(&fc, use_fd, fd, p, n, 4) == 0 && same(ref, fc),
			       "threads fail from call %ld", fail_thread_from);
			cairn_file_chunks_free(fc);
		}
		fail_thread_from = -1;
	}
	cairn_file_chunks_free(ref);
}

/* A 64-byte window whose gear hash is a boundary candidate. */
static void find_trigger(uint8_t w[GEAR_WINDOW])
{
	uint64_t s = 99;

	for (;;) {
		uint64_t h = 0;
		splitmix64_fill(splitmix64_next(&s), w, GEAR_WINDOW);
		for (size_t i = 0; i < GEAR_WINDOW; i++)
			h = (h << 1) + cairn__gear_table[w[i]];
		if ((h & GEAR_MASK) == 0)
			return;
	}
}

/* Boundaries forced onto slice edges (multiples of 4 KiB and 128 KiB). */
static void slice_edges(void)
{
	uint8_t trig[GEAR_WINDOW];
	size_t n = 7u << 20;
	uint8_t *p = test_xmalloc(n);

	test_section("boundaries exactly on slice edges");
	find_trigger(trig);
	for (int variant = 0; variant < 3; variant++) {
		cairn_file_chunks *ref = NULL;

		if (variant == 1)
			memset(p, 0, n); /* zeros between triggers: cuts only at MAX or triggers */
		else
			splitmix64_fill(77 + (uint64_t)variant, p, n);
		for (size_t end = 4096; end <= n; end += variant == 2 ? 4096 : CAIRN_CHUNK_MAX)
			memcpy(p + end - GEAR_WINDOW, trig, GEAR_WINDOW);
		CHECK(hash_either(&ref, false, -1, p, n, 1) == 0);
		for (unsigned t = 2; t <= 5; t++) {
			cairn_file_chunks *fc = NULL;
			CHECKF(hash_either(&fc, false, -1, p, n, t) == 0 && same(ref, fc),
			       "variant %d threads %u", variant, t);
			cairn_file_chunks_free(fc);
		}
		cairn_file_chunks_free(ref);
	}
	free(p);
}

int main(void)
{
	size_t n = 5u << 20;
	uint8_t *p = test_xmalloc(n);
	char path[] = "/tmp/cairn-test-faults-XXXXXX";
	int fd = mkstemp(path);

	if (!CHECK(fd >= 0))
		return test_done();
	unlink(path);
	splitmix64_fill(5, p, n);
	CHECK(write(fd, p, n) == (ssize_t)n);
	fault_loops(p, n, fd);
	slice_edges();
	close(fd);
	free(p);
	return test_done();
}
