/*
 * crash_writer.c - the two halves of the kill -9 test (tests/crash.sh).
 *
 *   crash_writer write DIR SEED   put, overwrite and delete objects forever,
 *                                 printing "try" before and "ack" after each
 *                                 operation (flushed), until killed
 *   crash_writer check DIR LOG    reopen DIR and check every key against the
 *                                 log (all rounds so far): it must hold what
 *                                 its last acked operation left, or what an
 *                                 operation cut off by a kill would; fsck
 *                                 must be clean and no temp file may remain
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/errors.h"
#include "cairn/repo.h"

#include <dirent.h>
#include <unistd.h>

#define NKEYS 12

static void spec_for(uint64_t seed, char *out, size_t cap)
{
	static const char *kinds[] = {"splitmix:%llu:%llu", "lowent:%llu:%llu", "text:%llu:%llu"};
	uint64_t s = seed;
	uint64_t r = splitmix64_next(&s);
	uint64_t len = splitmix64_next(&s) % 3000000 + 1;

	snprintf(out, cap, kinds[r % 3], (unsigned long long)(seed % 1000),
		 (unsigned long long)len);
}

static int do_write(const char *dir, uint64_t seed)
{
	cairn_repo *r;
	int rc = cairn_repo_open(&r, dir);

	if (rc < 0) {
		fprintf(stderr, "open: %s\n", cairn_error_last());
		return 1;
	}
	rc = cairn_bucket_create(r, "crash", "b", false);
	if (rc < 0 && rc != CAIRN_EEXISTS) {
		fprintf(stderr, "bucket: %s\n", cairn_error_last());
		return 1;
	}
	for (uint64_t i = 0;; i++) {
		uint64_t op = splitmix64_next(&seed);
		char key[16], spec[64];

		snprintf(key, sizeof(key), "k%llu", (unsigned long long)(op % NKEYS));
		if ((op >> 32) % 5 == 0) {
			printf("try del %s\n", key);
			fflush(stdout);
			rc = cairn_object_delete(r, "crash", "b", key, strlen(key));
			if (rc < 0 && rc != CAIRN_ENOTFOUND) {
				fprintf(stderr, "delete: %s\n", cairn_error_last());
				return 1;
			}
			printf("ack del %s\n", key);
		} else {
			size_t n;
			uint8_t *p;
			spec_for(op, spec, sizeof(spec));
			p = xetgen(spec, &n);
			printf("try put %s %s\n", key, spec);
			fflush(stdout);
			rc = cairn_object_put(r, "crash", "b", key, strlen(key), p, n, NULL, NULL);
			free(p);
			if (rc < 0) {
				fprintf(stderr, "put: %s\n", cairn_error_last());
				return 1;
			}
			printf("ack put %s %s\n", key, spec);
		}
		fflush(stdout);
		if (i % 25 == 24)
			cairn_repo_gc(r, 0, NULL); /* collect as we go, racing the kills */
	}
}

#define MAX_FLIGHTS 64

typedef struct state {
	char acked[64]; /* "" = absent; "-" = deleted; else the spec */
	/* operations cut off by kills since the last ack: each may or may not
	 * have happened, and any of them may be the one that stuck */
	char flights[MAX_FLIGHTS][64];
	int nflights;
} state;

/* Does the key hold what spec says ("-" or "": absent)? */
static bool holds(cairn_repo *r, const char *key, const char *spec)
{
	test_sink s = {0};
	int rc = cairn_object_get(r, "crash", "b", key, strlen(key), 0, UINT64_MAX, test_sink_write, &s);
	bool ok;

	if (spec[0] == '\0' || spec[0] == '-') {
		ok = rc == CAIRN_ENOTFOUND;
		if (!ok)
			printf("# %s: expected absent, get rc=%d\n", key, rc);
	} else {
		size_t n;
		uint8_t *p = xetgen(spec, &n);
		ok = rc == 0 && s.n == n && memcmp(s.p, p, n) == 0;
		if (!ok)
			printf("# %s: get rc=%d, %zu bytes (want %zu): %s\n", key, rc, s.n, n,
			       rc ? cairn_error_last() : "content differs");
		free(p);
	}
	free(s.p);
	return ok;
}

static const char *key_name(char *buf, size_t cap, int k)
{
	snprintf(buf, cap, "k%d", k);
	return buf;
}

static void fsck_line(void *ctx, const char *what)
{
	(void)ctx;
	if (strncmp(what, "note:", 5) != 0)
		printf("# fsck: %s\n", what);
}

static int do_check(const char *dir, const char *log)
{
	state st[NKEYS];
	char line[256], path[512];
	FILE *f = fopen(log, "r");
	cairn_repo *r;
	uint64_t faults = 1;

	memset(st, 0, sizeof(st));
	if (!CHECK(f != NULL))
		return test_done();
	while (fgets(line, sizeof(line), f)) {
		char what[8], op[8], key[16], spec[64] = "";
		int k;
		if (sscanf(line, "%7s %7s %15s %63s", what, op, key, spec) < 3 || key[0] != 'k')
			continue;
		k = atoi(key + 1);
		if (k < 0 || k >= NKEYS)
			continue;
		/* operations are sequential: a "try" with no "ack" was cut off by a
		 * kill, and may or may not have happened */
		if (strcmp(what, "try") == 0) {
			if (st[k].nflights < MAX_FLIGHTS)
				snprintf(st[k].flights[st[k].nflights++], sizeof(st[k].flights[0]), "%s",
					 strcmp(op, "del") == 0 ? "-" : spec);
		} else if (strcmp(what, "ack") == 0) {
			snprintf(st[k].acked, sizeof(st[k].acked), "%s",
				 strcmp(op, "del") == 0 ? "-" : spec);
			st[k].nflights = 0; /* its own try is acked; earlier cut-offs superseded */
		}
	}
	fclose(f);

	if (!CHECKF(cairn_repo_open(&r, dir) == 0, "%s", cairn_error_last()))
		return test_done();
	for (int k = 0; k < NKEYS; k++) {
		char key[16];
		bool ok = holds(r, key_name(key, sizeof(key), k), st[k].acked);
		for (int fl = 0; !ok && fl < st[k].nflights; fl++)
			ok = holds(r, key, st[k].flights[fl]);
		CHECKF(ok, "%s: expected %s or one of %d operations cut off by kills", key,
		       st[k].acked[0] ? st[k].acked : "(absent)", st[k].nflights);
	}
	CHECK(cairn_repo_fsck(r, fsck_line, NULL, &faults) == 0 && faults == 0);
	cairn_repo_close(r);

	/* the reopen swept every temporary file */
	snprintf(path, sizeof(path), "%s/xorbs/.tmp", dir);
	{
		DIR *d = opendir(path);
		int left = 0;
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				left++;
		if (d)
			closedir(d);
		CHECKF(left == 0, "%d temporary files survived the start-up sweep", left);
	}
	return test_done();
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return do_check(argv[2], argv[3]);
	fprintf(stderr, "usage: crash_writer write DIR SEED | check DIR LOG\n");
	return 2;
}
