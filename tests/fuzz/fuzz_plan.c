/*
 * fuzz_plan.c - libFuzzer target for the sync plan reader
 * (cairn_sync_plan_read in include/cairn/sync.h): a plan file is JSON
 * Lines a user may have edited, and `cairn buckets sync --plan FILE`
 * acts on it. Built as a fuzzer with clang and -DCAIRN_FUZZ=ON; replay.c
 * feeds it the stored corpus as an ordinary test with any compiler.
 *
 * The input is the plan file, read through fmemopen. Besides the sanitizers
 * (and LeakSanitizer: the plan is freed with cairn_sync_plan_free), the
 * target aborts unless: a failure is CAIRN_EINVALID (or ENOMEM), leaves
 * *out alone and sets a message; a plan read has a source and a
 * destination, one of them cairn://, items whose kind is one of the four,
 * whose direction agrees with the source's side, with a path that is
 * relative, has no empty, "." or ".." part, and appears once, a reason,
 * and a hash that is "" or 64 lower-case hex digits; the counts add up;
 * and the plan survives cairn_sync_plan_write and a second read unchanged,
 * the second write giving the same bytes as the first.
 *
 * It found two bugs in the reader, both fixed: a header whose "source" did
 * not parse made parse_header free the destination's uninitialized root,
 * and the reader took "cairn://x" for a bucket where the root parser took
 * it for a folder. Their inputs are in the replayed corpus (crash-*,
 * empty-source, local-cairn-source).
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_plan
 *   mkdir -p /tmp/plan-corpus
 *   build-fuzz/tests/fuzz_plan -dict=tests/fuzz/plan.dict -max_len=4096
 *       -max_total_time=600 /tmp/plan-corpus tests/fuzz/corpus/plan
 */
#include "cairn/errors.h"
#include "cairn/sync.h"
#include "sync/sync_int.h" /* cairn__sync_root_parse */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENTINEL ((cairn_sync_plan *)&sentinel_)
static int sentinel_;

static bool path_ok(const char *p)
{
	const char *s = p;

	if (*p == '\0' || *p == '/')
		return false;
	for (;;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (s[n] == '\0')
			return true;
		s += n + 1;
	}
}

static bool hash_ok(const char *h)
{
	size_t n = strlen(h);
	return n == 0 || (n == 64 && strspn(h, "0123456789abcdef") == 64);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check(const cairn_sync_plan *p)
{
	bool src_remote, dst_remote;
	size_t counts[4], total = 0;
	uint64_t bytes[4];
	char **paths;
	sync_root rs, rd;

	if (p->source == NULL || p->destination == NULL)
		abort();
	/* each side as sync itself will take it */
	if (cairn__sync_root_parse(&rs, p->source) != 0 ||
	    cairn__sync_root_parse(&rd, p->destination) != 0)
		abort();
	src_remote = rs.remote;
	dst_remote = rd.remote;
	cairn__sync_root_free(&rs);
	cairn__sync_root_free(&rd);
	if (src_remote == dst_remote)
		abort();
	if (p->n > 0 && p->items == NULL)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const cairn_sync_item *it = &p->items[i];
		if ((unsigned)it->kind > CAIRN_SYNC_SKIP || it->path == NULL || it->reason == NULL ||
		    !path_ok(it->path) || !hash_ok(it->hash))
			abort();
		if ((it->kind == CAIRN_SYNC_UPLOAD && src_remote) ||
		    (it->kind == CAIRN_SYNC_DOWNLOAD && !src_remote))
			abort();
		if (it->size > INT64_MAX)
			abort();
	}
	paths = malloc((p->n ? p->n : 1) * sizeof(*paths));
	if (paths != NULL) {
		for (size_t i = 0; i < p->n; i++)
			paths[i] = p->items[i].path;
		qsort(paths, p->n, sizeof(*paths), by_path);
		for (size_t i = 1; i < p->n; i++)
			if (strcmp(paths[i - 1], paths[i]) == 0)
				abort(); /* a path decided twice */
		free(paths);
	}
	cairn_sync_plan_counts(p, counts, bytes);
	for (int k = 0; k < 4; k++)
		total += counts[k];
	if (total != p->n)
		abort();
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same(const cairn_sync_plan *a, const cairn_sync_plan *b)
{
	if (!str_eq(a->source, b->source) || !str_eq(a->destination, b->destination) ||
	    a->created_ns != b->created_ns || !str_eq(a->filters, b->filters) || a->n != b->n ||
	    a->opts.checksum != b->opts.checksum || a->opts.ignore_times != b->opts.ignore_times ||
	    a->opts.ignore_sizes != b->opts.ignore_sizes || a->opts.existing != b->opts.existing ||
	    a->opts.ignore_existing != b->opts.ignore_existing ||
	    a->opts.delete_extra != b->opts.delete_extra)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const cairn_sync_item *x = &a->items[i], *y = &b->items[i];
		if (x->kind != y->kind || strcmp(x->path, y->path) != 0 || x->size != y->size ||
		    x->mtime_ns != y->mtime_ns || strcmp(x->hash, y->hash) != 0 ||
		    strcmp(x->reason, y->reason) != 0)
			return false;
	}
	return true;
}

/* Write p to memory; NULL if writing failed. */
static char *written(const cairn_sync_plan *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int rc;

	if (f == NULL)
		return NULL;
	rc = cairn_sync_plan_write(p, f);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static cairn_sync_plan *read_mem(const void *data, size_t size, int *rc)
{
	cairn_sync_plan *p = SENTINEL;
	FILE *f;

	/* fmemopen wants at least a byte of buffer */
	f = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	if (f == NULL) {
		*rc = 1;
		return NULL;
	}
	*rc = cairn_sync_plan_read(&p, f);
	fclose(f);
	if (*rc != 0) {
		if (p != SENTINEL)
			abort(); /* out written on failure */
		if (*rc != CAIRN_EINVALID && *rc != CAIRN_ENOMEM)
			abort();
		if (cairn_error_last() == NULL || cairn_error_last()[0] == '\0')
			abort();
		return NULL;
	}
	if (p == NULL || p == SENTINEL)
		abort();
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cairn_sync_plan *p, *q = NULL;
	char *w1 = NULL, *w2 = NULL;
	size_t n1 = 0, n2 = 0;
	int rc;

	p = read_mem(data, size, &rc);
	if (p == NULL)
		return 0;
	check(p);
	w1 = written(p, &n1);
	if (w1 == NULL)
		goto done;
	q = read_mem(w1, n1, &rc);
	if (q == NULL) {
		if (rc == CAIRN_EINVALID) {
			fprintf(stderr, "fuzz_plan: a written plan does not read back: %s\n%.*s",
				cairn_error_last(), (int)n1, w1);
			abort();
		}
		goto done;
	}
	check(q);
	if (!same(p, q)) {
		fprintf(stderr, "fuzz_plan: the plan changed on a round trip:\n%.*s", (int)n1, w1);
		abort();
	}
	w2 = written(q, &n2);
	if (w2 != NULL && (n1 != n2 || memcmp(w1, w2, n1) != 0))
		abort();
done:
	free(w1);
	free(w2);
	cairn_sync_plan_free(p);
	cairn_sync_plan_free(q);
	return 0;
}
