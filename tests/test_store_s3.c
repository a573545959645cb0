/*
 * test_store_s3.c - the S3 xorb store (lib/store/store_s3.c) against an S3
 * implementation that is not ours, started on 127.0.0.1 by
 * tests/store_s3/run.sh, which passes its address in CAIRN_TEST_S3
 * ("http://127.0.0.1:PORT"), an existing, empty bucket in
 * CAIRN_TEST_S3_BUCKET, credentials in CAIRN_TEST_S3_KEY and _SECRET, and
 * CAIRN_TEST_S3_CHECKS_SIGNATURES when the store checks them. The store's contract (sys/store.h): put is
 * idempotent, read returns exactly the bytes asked for, size, remove,
 * list (over more than one page), many threads at once, and clear
 * errors for what is missing, too short, refused or unreachable.
 */
#include "harness.h"

#include "cairn/errors.h"
#include "cairn/sys/store.h"
#include "cairn/xorb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *endpoint, *bucket, *key, *secret_key;

static cairn_store *open_store(const char *prefix, const char *secret)
{
	cairn_store_s3_config cfg = {endpoint, bucket, prefix, "us-east-1", key,
				     secret ? secret : secret_key, NULL};
	cairn_store *s = NULL;

	CHECK(cairn_store_s3_open(&s, &cfg) == 0);
	return s;
}

/* len bytes derived from seed, and a name for them (any 32 bytes do for a store). */
static uint8_t *blob(cairn_hash *name, uint64_t seed, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
	for (size_t i = 0; i < sizeof(name->bytes); i++)
		name->bytes[i] = (uint8_t)((seed >> (i % 8 * 8)) ^ i * 31 ^ len);
	return p;
}

typedef struct seen {
	size_t n;
	uint64_t bytes;
	bool has_mtime;
} seen;

static int count(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	seen *sn = ctx;

	(void)xorb;
	sn->n++;
	sn->bytes += size;
	sn->has_mtime |= mtime_ns > 0;
	return 0;
}

static int stop_at_3(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	(void)xorb;
	(void)size;
	(void)mtime_ns;
	return ++*(int *)ctx == 3 ? 42 : 0;
}

static void round_trips(void)
{
	cairn_store *s = open_store("rt/", NULL);
	cairn_hash h, missing;
	size_t len = (3u << 20) + 17;
	uint8_t *p = blob(&h, 1, len), *q = malloc(len), *m = blob(&missing, 99, 1);
	uint64_t size = 0;
	seen sn = {0};

	CHECK(s->put(s, &h, p, len) == 0);
	CHECK(s->put(s, &h, p, len) == 0); /* again: fine, nothing changes */
	CHECK(s->size(s, &h, &size) == 0 && size == len);
	memset(q, 0, len);
	CHECK(s->read(s, &h, 0, len, q) == 0 && memcmp(p, q, len) == 0);
	memset(q, 0, len);
	CHECK(s->read(s, &h, 1000, 70000, q) == 0 && memcmp(p + 1000, q, 70000) == 0);
	CHECK(s->read(s, &h, len - 1, 1, q) == 0 && q[0] == p[len - 1]);
	CHECK(s->read(s, &h, 0, 0, q) == 0);
	/* past the end: corrupt (the metadata said the xorb was longer) */
	CHECK(s->read(s, &h, len - 10, 20, q) == CAIRN_ECORRUPT);
	CHECK(s->read(s, &h, len + 5, 1, q) == CAIRN_ECORRUPT);
	CHECK(s->read(s, &missing, 0, 1, q) == CAIRN_ENOTFOUND);
	CHECK(s->size(s, &missing, &size) == CAIRN_ENOTFOUND);
	CHECK(strstr(cairn_error_last(), "no xorb") != NULL);
	CHECK(s->list(s, count, &sn) == 0);
	CHECK(sn.n == 1 && sn.bytes == len && sn.has_mtime);
	CHECK(s->remove(s, &h) == 0);
	CHECK(s->remove(s, &h) == 0); /* absent: still fine */
	CHECK(s->size(s, &h, &size) == CAIRN_ENOTFOUND);
	memset(&sn, 0, sizeof(sn));
	CHECK(s->list(s, count, &sn) == 0 && sn.n == 0);
	free(p);
	free(q);
	free(m);
	s->close(s);
}

/* Another prefix sees none of the first's xorbs; a listing spans pages. */
static void prefixes_and_pages(void)
{
	cairn_store *a = open_store("pa", NULL), *b = open_store("pb/deeper/", NULL);
	seen sn = {0};
	int n = 0;

	for (uint64_t i = 0; i < 1005; i++) {
		cairn_hash h;
		uint8_t *p = blob(&h, 1000 + i, 10 + i % 7);
		CHECK(a->put(a, &h, p, 10 + i % 7) == 0);
		free(p);
	}
	{
		cairn_hash h;
		uint8_t *p = blob(&h, 5, 100);
		CHECK(b->put(b, &h, p, 100) == 0);
		free(p);
	}
	CHECK(a->list(a, count, &sn) == 0);
	CHECK(sn.n == 1005);
	memset(&sn, 0, sizeof(sn));
	CHECK(b->list(b, count, &sn) == 0 && sn.n == 1 && sn.bytes == 100);
	CHECK(a->list(a, stop_at_3, &n) == 42 && n == 3);
	a->close(a);
	b->close(b);
}

typedef struct job {
	int t;
	int fails;
} job;

static void *worker(void *arg)
{
	job *j = arg;
	cairn_store *s = open_store("threads", NULL);

	for (int i = 0; i < 20; i++) {
		cairn_hash h;
		/* half the names are shared by every thread: racing puts of one xorb (not
		 * against s3rver, whose PUT is not atomic: a reader can see half an object) */
		bool shared = i % 2 && getenv("CAIRN_TEST_S3_PUT_NOT_ATOMIC") == NULL;
		size_t len = shared ? 4096 : 1000 + (size_t)(i * 977 + j->t * 31) % 200000;
		uint64_t seed = shared ? 5000 + (uint64_t)i : 6000 + (uint64_t)j->t * 100 + (uint64_t)i;
		uint8_t *p = blob(&h, seed, len), *q = malloc(len);

		int rc = s->put(s, &h, p, len);
		const char *what = "put";

		if (rc == 0) {
			what = "read";
			rc = s->read(s, &h, 0, len, q);
		}
		if (rc == 0 && memcmp(p, q, len) != 0) {
			what = "compare";
			rc = CAIRN_ECORRUPT;
		}
		if (rc != 0) {
			fprintf(stderr, "# thread %d, xorb %d (%s): %s: %s\n", j->t, i,
				shared ? "shared" : "own", what, cairn_error_last());
			j->fails++;
		}
		free(p);
		free(q);
	}
	s->close(s);
	return NULL;
}

static void threads(void)
{
	pthread_t th[6];
	job jobs[6];
	int fails = 0;

	for (int t = 0; t < 6; t++) {
		jobs[t] = (job){t, 0};
		CHECK(pthread_create(&th[t], NULL, worker, &jobs[t]) == 0);
	}
	for (int t = 0; t < 6; t++) {
		pthread_join(th[t], NULL);
		fails += jobs[t].fails;
	}
	CHECK(fails == 0);
}

static void refusals(bool checks_signatures)
{
	cairn_store *s = open_store("rt/", "not-the-secret");
	cairn_store_s3_config bad = {"ftp://x", "b", NULL, NULL, "k", "s", NULL};
	cairn_store *t = NULL;
	cairn_hash h;
	uint8_t *p = blob(&h, 7, 100);
	uint64_t size;

	if (checks_signatures) {
		/* a wrong secret: refused, and the error says so */
		CHECK(s->put(s, &h, p, 100) == CAIRN_EIO);
		CHECK(strstr(cairn_error_last(), "SignatureDoesNotMatch") != NULL ||
		      strstr(cairn_error_last(), "HTTP 403") != NULL);
		CHECK(s->size(s, &h, &size) == CAIRN_EIO);
	}
	s->close(s);
	CHECK(cairn_store_s3_open(&t, &bad) == CAIRN_EINVALID);
	bad.endpoint = "http://127.0.0.1:1";
	/* prefixes XML or a URL would change: refused before anything is sent */
	bad.prefix = "a&b";
	CHECK(cairn_store_s3_open(&t, &bad) == CAIRN_EINVALID);
	bad.prefix = "x/../y";
	CHECK(cairn_store_s3_open(&t, &bad) == CAIRN_EINVALID);
	bad.prefix = "./x";
	CHECK(cairn_store_s3_open(&t, &bad) == CAIRN_EINVALID);
	bad.prefix = "ok/deeper.v2/";
	CHECK(cairn_store_s3_open(&t, &bad) == 0);
	t->close(t);
	bad.prefix = NULL;
	bad.bucket = "a/b";
	CHECK(cairn_store_s3_open(&t, &bad) == CAIRN_EINVALID);
	bad.bucket = "b";
	CHECK(cairn_store_s3_open(&t, &bad) == 0);
	/* nothing listens there: every try fails, the error says where */
	CHECK(t->put(t, &h, p, 100) == CAIRN_EIO);
	CHECK(strstr(cairn_error_last(), "127.0.0.1:1") != NULL);
	t->close(t);
	/* a bucket that does not exist */
	{
		cairn_store_s3_config nb = {endpoint, "no-such-bucket-here", NULL, NULL, key,
					    secret_key, NULL};
		CHECK(cairn_store_s3_open(&t, &nb) == 0);
		CHECK(t->put(t, &h, p, 100) == CAIRN_EIO);
		CHECK(strstr(cairn_error_last(), "NoSuchBucket") != NULL);
		t->close(t);
	}
	free(p);
}

int main(void)
{
	endpoint = getenv("CAIRN_TEST_S3");
	bucket = getenv("CAIRN_TEST_S3_BUCKET");
	key = getenv("CAIRN_TEST_S3_KEY");
	secret_key = getenv("CAIRN_TEST_S3_SECRET");
	if (endpoint == NULL || bucket == NULL || key == NULL || secret_key == NULL) {
		fprintf(stderr, "test_store_s3: run through tests/store_s3/run.sh\n");
		return 1;
	}
	round_trips();
	prefixes_and_pages();
	threads();
	/* s3rver and moto take any SigV4 signature; Cairn's own S3 front checks them */
	refusals(getenv("CAIRN_TEST_S3_CHECKS_SIGNATURES") != NULL);
	return test_done();
}
