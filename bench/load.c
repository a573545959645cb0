/* load - a load generator for `cairn serve`.
 *
 *   load --url URL --token TOKEN [--ns NS] [--bucket-prefix P] [--buckets N]
 *        [--threads N] [--seconds S] [--max-ops N] [--max-objects N] [--seed N]
 *
 * N threads, each with its own libcurl easy handle (keep-alive), run a random
 * mix of uploads, downloads (whole or a Range, every byte checked), listings
 * and deletes for a fixed time. Thread t writes only under the key prefix
 * "tNNN/" of bucket P(t mod N), so its own view is consistent while several
 * threads share one bucket. Object contents are derived from a 64-bit seed, so
 * any byte at any offset can be recomputed; about 40% of uploads reuse a seed
 * from a small shared pool so that the server sees repeated contents (dedup).
 * At the end every object each thread believes exists is read back and
 * checked. Ends with "N passed, N failed"; exits non-zero on any error.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_UPLOAD, OP_DOWNLOAD, OP_LIST, OP_DELETE, OP_VERIFY, OP_N };
static const char *const op_name[OP_N] = {"upload", "download", "list", "delete", "verify"};

#define MIN_SIZE 1024u
#define MAX_SIZE (4u << 20)
#define POOL 24 /* shared seeds: repeated contents */

static const char *g_url, *g_token, *g_ns = "admin", *g_bprefix = "load";
static unsigned g_buckets = 4, g_threads = 64, g_seconds = 20, g_max_objects = 12;
static unsigned long g_max_ops = 100000;
static uint64_t g_seed = 1;
static atomic_int g_err_printed;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The content byte at offset off of the object with this seed. */
static inline uint8_t content_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(splitmix(seed ^ ((off >> 3) * 0xd6e8feb86659fd93ull)) >> ((off & 7) * 8));
}

static void fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = content_byte(seed, off + i);
}

static uint64_t pool_seed(unsigned i) { return splitmix(g_seed * 1000003u + i + 77); }
static size_t size_of_pool(uint64_t seed) { return MIN_SIZE + (size_t)(splitmix(seed) % (MAX_SIZE - MIN_SIZE + 1)); }

struct obj {
	char key[48];
	uint64_t seed;
	size_t size;
};

struct lat {
	double *v;
	size_t n, cap;
};

struct thr {
	unsigned id;
	pthread_t th;
	CURL *h;
	uint64_t rng;
	char bucket[64];
	struct obj *objs;
	size_t nobj, cap;
	unsigned long next_key;
	unsigned long ok[OP_N], err[OP_N];
	uint64_t bytes_up, bytes_down;
	struct lat lat[OP_N];
	uint8_t *buf;
	char *list_body;
	size_t list_len, list_cap;
	/* download check */
	uint64_t d_seed, d_off, d_pos;
	uint64_t d_mismatch;
};

static uint64_t rnd(struct thr *t)
{
	t->rng = splitmix(t->rng);
	return t->rng;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lat_add(struct lat *l, double v)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (!l->v)
			abort();
	}
	l->v[l->n++] = v;
}

static void report_err(struct thr *t, int op, const char *key, long code, CURLcode cc, const char *what)
{
	t->err[op]++;
	if (atomic_fetch_add(&g_err_printed, 1) < 30)
		fprintf(stderr, "ERROR thread %u %s %s/%s: http %ld, curl %d (%s)%s%s\n", t->id, op_name[op],
			t->bucket, key, code, (int)cc, curl_easy_strerror(cc), what ? ": " : "", what ? what : "");
}

static size_t discard_cb(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static size_t collect_cb(char *p, size_t s, size_t n, void *u)
{
	struct thr *t = u;
	size_t len = s * n;
	if (t->list_len + len + 1 > t->list_cap) {
		size_t c = t->list_cap ? t->list_cap : 4096;
		while (c < t->list_len + len + 1)
			c *= 2;
		char *b = realloc(t->list_body, c);
		if (!b)
			return 0;
		t->list_body = b;
		t->list_cap = c;
	}
	memcpy(t->list_body + t->list_len, p, len);
	t->list_len += len;
	t->list_body[t->list_len] = 0;
	return len;
}

static size_t verify_cb(char *p, size_t s, size_t n, void *u)
{
	struct thr *t = u;
	size_t len = s * n;
	const uint8_t *b = (const uint8_t *)p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != content_byte(t->d_seed, t->d_off + t->d_pos + i))
			t->d_mismatch++;
	t->d_pos += len;
	return len;
}

static void reset(struct thr *t, const char *url)
{
	CURL *h = t->h;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
}

static struct curl_slist *auth_headers(void)
{
	char hdr[512];
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", g_token);
	struct curl_slist *l = curl_slist_append(NULL, hdr);
	l = curl_slist_append(l, "Expect:");
	return l;
}

static void obj_url(struct thr *t, char *url, size_t n, const char *kind, const char *key)
{
	snprintf(url, n, "%s/buckets/%s/%s/%s/%s", g_url, g_ns, t->bucket, kind, key);
}

/* PUT; on success records or replaces the object. */
static void do_upload(struct thr *t, int overwrite_idx)
{
	struct obj o;
	if (rnd(t) % 100 < 40) {
		o.seed = pool_seed((unsigned)(rnd(t) % POOL));
		o.size = size_of_pool(o.seed);
	} else {
		o.seed = rnd(t);
		o.size = MIN_SIZE + (size_t)(rnd(t) % (MAX_SIZE - MIN_SIZE + 1));
	}
	if (overwrite_idx >= 0)
		memcpy(o.key, t->objs[overwrite_idx].key, sizeof o.key);
	else
		snprintf(o.key, sizeof o.key, "t%03u/o%06lu.bin", t->id, t->next_key++);
	fill(t->buf, o.seed, 0, o.size);

	char url[512];
	obj_url(t, url, sizeof url, "upload", o.key);
	reset(t, url);
	struct curl_slist *hl = auth_headers();
	hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, (const char *)t->buf);
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o.size);
	t->list_len = 0;
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	double t0 = now();
	CURLcode cc = curl_easy_perform(t->h);
	double dt = now() - t0;
	long code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK || code != 200) {
		report_err(t, OP_UPLOAD, o.key, code, cc, t->list_len ? t->list_body : NULL);
		/* the old version (if any) is uncertain now: forget the key */
		if (overwrite_idx >= 0)
			t->objs[overwrite_idx] = t->objs[--t->nobj];
		return;
	}
	char want[64];
	snprintf(want, sizeof want, "\"size\":%zu", o.size);
	if (!t->list_body || !strstr(t->list_body, want)) {
		report_err(t, OP_UPLOAD, o.key, code, cc, "size missing from answer");
		return;
	}
	t->ok[OP_UPLOAD]++;
	t->bytes_up += o.size;
	lat_add(&t->lat[OP_UPLOAD], dt);
	if (overwrite_idx >= 0) {
		t->objs[overwrite_idx] = o;
	} else {
		if (t->nobj == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->objs = realloc(t->objs, t->cap * sizeof *t->objs);
			if (!t->objs)
				abort();
		}
		t->objs[t->nobj++] = o;
	}
}

/* GET the whole object or a random range (op is OP_DOWNLOAD or OP_VERIFY). */
static bool do_download(struct thr *t, int op, const struct obj *o, bool whole)
{
	char url[512], range[96];
	obj_url(t, url, sizeof url, "resolve", o->key);
	reset(t, url);
	struct curl_slist *hl = auth_headers();
	uint64_t a = 0, b = o->size - 1;
	if (!whole) {
		switch (rnd(t) % 3) {
		case 0: /* a-b */
			a = rnd(t) % o->size;
			b = a + rnd(t) % (o->size - a);
			snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-%" PRIu64, a, b);
			break;
		case 1: /* a- */
			a = rnd(t) % o->size;
			snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-", a);
			break;
		default: { /* -n */
			uint64_t n = 1 + rnd(t) % o->size;
			a = o->size - n;
			snprintf(range, sizeof range, "Range: bytes=-%" PRIu64, n);
			break;
		}
		}
		hl = curl_slist_append(hl, range);
	}
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, verify_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	t->d_seed = o->seed;
	t->d_off = a;
	t->d_pos = 0;
	t->d_mismatch = 0;
	double t0 = now();
	CURLcode cc = curl_easy_perform(t->h);
	double dt = now() - t0;
	long code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hl);
	uint64_t want = b - a + 1;
	char why[160];
	if (cc != CURLE_OK || code != (whole ? 200 : 206)) {
		report_err(t, op, o->key, code, cc, whole ? "whole" : range);
		return false;
	}
	if (t->d_pos != want || t->d_mismatch) {
		snprintf(why, sizeof why, "%s: got %" PRIu64 " bytes of %" PRIu64 ", %" PRIu64 " mismatched (size %zu)",
			 whole ? "whole" : range, t->d_pos, want, t->d_mismatch, o->size);
		report_err(t, op, o->key, code, cc, why);
		return false;
	}
	t->ok[op]++;
	t->bytes_down += t->d_pos;
	lat_add(&t->lat[op], dt);
	return true;
}

static void do_list(struct thr *t)
{
	char url[512];
	bool own = rnd(t) & 1;
	if (own)
		snprintf(url, sizeof url, "%s/api/buckets/%s/%s/tree/t%03u?recursive=true&limit=1000", g_url, g_ns,
			 t->bucket, t->id);
	else
		snprintf(url, sizeof url, "%s/api/buckets/%s/%s/tree?recursive=true", g_url, g_ns, t->bucket);
	reset(t, url);
	struct curl_slist *hl = auth_headers();
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	t->list_len = 0;
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	double t0 = now();
	CURLcode cc = curl_easy_perform(t->h);
	double dt = now() - t0;
	long code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hl);
	const char *what = own ? "own prefix" : "whole bucket";
	/* a fresh thread with nothing uploaded yet may list a missing prefix */
	if (cc != CURLE_OK || (code != 200 && !(own && t->nobj == 0 && code == 404))) {
		report_err(t, OP_LIST, "", code, cc, what);
		return;
	}
	if (own && code == 200) {
		/* its own prefix: exactly the objects it believes exist */
		size_t files = 0;
		for (const char *p = t->list_body; p && (p = strstr(p, "\"type\":\"file\"")); p++)
			files++;
		for (size_t i = 0; i < t->nobj && files == t->nobj; i++) {
			char needle[80];
			snprintf(needle, sizeof needle, "\"path\":\"%s\"", t->objs[i].key);
			if (!strstr(t->list_body, needle))
				files = (size_t)-1;
		}
		if (files != t->nobj) {
			char why[96];
			snprintf(why, sizeof why, "own listing has %zu files, expected %zu", files, t->nobj);
			report_err(t, OP_LIST, "", code, cc, why);
			return;
		}
	}
	t->ok[OP_LIST]++;
	lat_add(&t->lat[OP_LIST], dt);
}

static void do_delete(struct thr *t)
{
	size_t i = (size_t)(rnd(t) % t->nobj);
	struct obj o = t->objs[i];
	t->objs[i] = t->objs[--t->nobj];
	char url[512];
	obj_url(t, url, sizeof url, "resolve", o.key);
	reset(t, url);
	struct curl_slist *hl = auth_headers();
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, "DELETE");
	double t0 = now();
	CURLcode cc = curl_easy_perform(t->h);
	double dt = now() - t0;
	long code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK || code != 200) {
		report_err(t, OP_DELETE, o.key, code, cc, NULL);
		curl_slist_free_all(hl);
		return;
	}
	/* after its own delete, the object must be gone: 404 expected */
	reset(t, url);
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(t->h);
	code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK || code != 404) {
		report_err(t, OP_DELETE, o.key, code, cc, "GET after delete: expected 404");
		return;
	}
	t->ok[OP_DELETE]++;
	lat_add(&t->lat[OP_DELETE], dt);
}

static double g_deadline;

static void *worker(void *arg)
{
	struct thr *t = arg;
	for (unsigned long n = 0; n < g_max_ops && now() < g_deadline; n++) {
		unsigned r = (unsigned)(rnd(t) % 100);
		if (t->nobj == 0 || (r < 35 && t->nobj < g_max_objects))
			do_upload(t, -1);
		else if (r < 40)
			do_upload(t, (int)(rnd(t) % t->nobj)); /* overwrite */
		else if (r < 75)
			do_download(t, OP_DOWNLOAD, &t->objs[rnd(t) % t->nobj], rnd(t) % 2);
		else if (r < 85)
			do_list(t);
		else
			do_delete(t);
	}
	return NULL;
}

static void *verifier(void *arg)
{
	struct thr *t = arg;
	for (size_t i = 0; i < t->nobj; i++)
		do_download(t, OP_VERIFY, &t->objs[i], true);
	return NULL;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const struct lat *l, double p)
{
	if (!l->n)
		return 0;
	size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i];
}

static void usage(void)
{
	fprintf(stderr, "usage: load --url URL --token TOKEN [--ns NS] [--bucket-prefix P] [--buckets N]\n"
			"            [--threads N] [--seconds S] [--max-ops N] [--max-objects N] [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--url"))
			g_url = v;
		else if (!strcmp(a, "--token"))
			g_token = v;
		else if (!strcmp(a, "--ns"))
			g_ns = v;
		else if (!strcmp(a, "--bucket-prefix"))
			g_bprefix = v;
		else if (!strcmp(a, "--buckets"))
			g_buckets = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--threads"))
			g_threads = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seconds"))
			g_seconds = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--max-ops"))
			g_max_ops = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--max-objects"))
			g_max_objects = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			g_seed = strtoull(v, NULL, 10);
		else
			usage();
	}
	if (!g_url || !g_token || !g_buckets || !g_threads || !g_max_objects)
		usage();
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		return 1;
	struct thr *ts = calloc(g_threads, sizeof *ts);
	if (!ts)
		return 1;
	for (unsigned i = 0; i < g_threads; i++) {
		struct thr *t = &ts[i];
		t->id = i;
		t->rng = splitmix(g_seed * 7919u + i);
		t->h = curl_easy_init();
		t->buf = malloc(MAX_SIZE);
		if (!t->h || !t->buf)
			return 1;
		snprintf(t->bucket, sizeof t->bucket, "%s%u", g_bprefix, i % g_buckets);
	}
	printf("load: %u threads, %u buckets, %u s, %s\n", g_threads, g_buckets, g_seconds, g_url);
	fflush(stdout);
	double t0 = now();
	g_deadline = t0 + g_seconds;
	for (unsigned i = 0; i < g_threads; i++)
		if (pthread_create(&ts[i].th, NULL, worker, &ts[i]))
			return 1;
	for (unsigned i = 0; i < g_threads; i++)
		pthread_join(ts[i].th, NULL);
	double elapsed = now() - t0;
	double v0 = now();
	for (unsigned i = 0; i < g_threads; i++)
		if (pthread_create(&ts[i].th, NULL, verifier, &ts[i]))
			return 1;
	for (unsigned i = 0; i < g_threads; i++)
		pthread_join(ts[i].th, NULL);
	double velapsed = now() - v0;

	unsigned long ok[OP_N] = {0}, err[OP_N] = {0}, tok = 0, terr = 0;
	uint64_t up = 0, down = 0;
	struct lat all[OP_N] = {0};
	for (unsigned i = 0; i < g_threads; i++) {
		struct thr *t = &ts[i];
		for (int k = 0; k < OP_N; k++) {
			ok[k] += t->ok[k];
			err[k] += t->err[k];
			for (size_t j = 0; j < t->lat[k].n; j++)
				lat_add(&all[k], t->lat[k].v[j]);
		}
		up += t->bytes_up;
		down += t->bytes_down;
	}
	printf("%-9s %9s %8s %9s %9s %9s\n", "op", "ok", "errors", "ops/s", "p50 ms", "p99 ms");
	for (int k = 0; k < OP_N; k++) {
		qsort(all[k].v, all[k].n, sizeof(double), cmpd);
		double secs = k == OP_VERIFY ? velapsed : elapsed;
		printf("%-9s %9lu %8lu %9.1f %9.2f %9.2f\n", op_name[k], ok[k], err[k],
		       secs > 0 ? (double)ok[k] / secs : 0.0, pct(&all[k], 0.5) * 1e3, pct(&all[k], 0.99) * 1e3);
		tok += ok[k];
		terr += err[k];
	}
	printf("elapsed %.1f s (+%.1f s verify); bytes up %.1f MiB, down %.1f MiB (%.1f MiB/s)\n", elapsed, velapsed,
	       (double)up / 1048576.0, (double)down / 1048576.0, (double)(up + down) / 1048576.0 / (elapsed + velapsed));
	printf("total errors: %lu\n", terr);
	printf("%lu passed, %lu failed\n", tok, terr);
	for (unsigned i = 0; i < g_threads; i++) {
		curl_easy_cleanup(ts[i].h);
		free(ts[i].buf);
		free(ts[i].objs);
		free(ts[i].list_body);
		for (int k = 0; k < OP_N; k++)
			free(ts[i].lat[k].v);
	}
	for (int k = 0; k < OP_N; k++)
		free(all[k].v);
	free(ts);
	curl_global_cleanup();
	return terr ? 1 : 0;
}
