/* load - a load generator for `cairn serve`, through its native API and its
 * S3 front, that survives the server being killed and restarted.
 *
 *   load --url URL (--token TOKEN [--ns NS] | --creds FILE) [--s3-url URL]
 *        [--s3-share PCT] [--outage-file FILE] [--bucket-prefix P] [--buckets N]
 *        [--threads N] [--seconds S] [--max-ops N] [--max-objects N]
 *        [--max-size BYTES] [--seed N]
 *
 * N threads, each with its own libcurl easy handle (keep-alive), run a random
 * mix of uploads, downloads (whole or a Range, every byte checked), listings
 * (paged, checked against what the thread wrote) and deletes for a fixed
 * time. Each request picks a front by a coin: the native API (bearer token)
 * or, with --s3-url, the S3 front (SigV4 signed by libcurl; PutObject,
 * GetObject, ListObjectsV2 with continuation tokens, DeleteObject), so what
 * one front wrote is read, listed and deleted through the other.
 *
 * --creds FILE has one line per user, "NS TOKEN [ACCESS_KEY SECRET]"; thread
 * t acts as user t mod U in that user's bucket P((t / U) mod N). Thread t
 * writes only under the key prefix "tNNN/", so it knows what its keys must
 * hold while other threads share the bucket. Contents are derived from a
 * 64-bit seed, so any byte at any offset can be recomputed; about 40% of
 * uploads reuse a seed from a small shared pool (dedup).
 *
 * The server may be killed and restarted during the run: --outage-file names
 * a file holding a number, odd while the server is down, made odd by the
 * driver before each kill and even again once the restarted server answers
 * (bench/soak.sh). A request that fails at the connection level (refused,
 * reset, closed before the answer) is excused when that number was odd, or
 * changed, between its start and its failure; any other failure, any 5xx, any
 * wrong byte is an error. A write or delete that failed so is "in flight"
 * (even "could not connect": libcurl sends a request again on a new
 * connection when the kept-alive one it was sent on dies): its key may hold
 * the old or the new state, nothing else, and the thread settles which by
 * reading the key back before it goes on (it retries with a short backoff
 * until the server answers). Only writes answered 2xx are acknowledged: each
 * must be readable, byte for byte, until the thread itself overwrites or
 * deletes it.
 *
 * At the end every key a thread has used is checked through every front: the
 * objects it believes exist are read whole and compared byte for byte, the
 * keys it deleted must answer 404, and its prefix must list exactly its
 * objects. Prints, per operation and front, the ok and error counts, ops/s,
 * MB/s and p50/p99 latency. Ends with "N passed, N failed"; exits non-zero on
 * any error.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { OP_UPLOAD, OP_DOWNLOAD, OP_LIST, OP_DELETE, OP_VERIFY, OP_N };
static const char *const op_name[OP_N] = {"upload", "download", "list", "delete", "verify"};
enum { FRONT_NATIVE, FRONT_S3, FRONT_N };
static const char *const front_name[FRONT_N] = {"native", "s3"};

#define MIN_SIZE 1024u
#define POOL 24 /* shared seeds: repeated contents */
#define MAX_CREDS 64
#define KEY_MAX 48
#define HIST 8

struct cred {
	char ns[64], token[160], access[64], secret[128];
};

static const char *g_url, *g_s3_url, *g_outage_file, *g_bprefix = "load";
static struct cred g_creds[MAX_CREDS];
static unsigned g_ncreds;
static unsigned g_buckets = 4, g_threads = 64, g_seconds = 20, g_max_objects = 12, g_s3_share;
static size_t g_max_size = 4u << 20;
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
static size_t size_of_pool(uint64_t seed) { return MIN_SIZE + (size_t)(splitmix(seed) % (g_max_size - MIN_SIZE + 1)); }

/* What a key holds: absent, or the object of this seed and size. */
struct ver {
	bool present;
	uint64_t seed;
	size_t size;
};

/*
 * A key of the thread's, live or deleted (kept, so the end can check it is
 * gone). unsure: a write or delete of it was in flight when its connection
 * died, so it holds v or alt, and the thread must read it to know which.
 */
struct key {
	char name[KEY_MAX];
	struct ver v, alt;
	bool unsure;
	unsigned nhist;
	char hist[HIST][40]; /* its last events, printed with an error about it */
};

struct lat {
	double *v;
	size_t n, cap;
};

struct stat_cell {
	unsigned long ok, err, down;
	uint64_t bytes;
	struct lat lat;
};

struct thr {
	unsigned id;
	pthread_t th;
	CURL *h;
	unsigned h_gen; /* the outage number the handle was made in */
	uint64_t rng;
	const struct cred *cr;
	char bucket[64];
	struct key *keys;
	size_t nkeys, cap, nlive;
	unsigned long next_key;
	struct stat_cell st[FRONT_N][OP_N];
	unsigned long acked_up, acked_del, in_flight, settled_old, settled_new, http5xx, wrong_bytes;
	unsigned backoff; /* consecutive excused failures */
	uint8_t *buf;
	char *body;
	size_t body_len, body_cap;
	char etag[80];
	/* download check against up to two candidate contents */
	struct ver d_cand[2];
	unsigned d_ncand;
	uint64_t d_off, d_pos, d_bad[2];
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

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
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

/* The outage number: odd while the driver has the server down (0 without --outage-file). */
static unsigned outage_gen(void)
{
	char b[32];
	ssize_t n;
	int fd;

	if (!g_outage_file || (fd = open(g_outage_file, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = 0;
	return (unsigned)strtoul(b, NULL, 10);
}

static void report_err(struct thr *t, int front, int op, const char *key, long code, CURLcode cc, const char *what)
{
	t->st[front][op].err++;
	if (code >= 500)
		t->http5xx++;
	if (atomic_fetch_add(&g_err_printed, 1) < 30)
		fprintf(stderr, "ERROR thread %u %s %s %s/%s: http %ld, curl %d (%s)%s%.300s\n", t->id, front_name[front],
			op_name[op], t->bucket, key, code, (int)cc, curl_easy_strerror(cc), what ? ": " : "",
			what ? what : "");
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
	if (t->body_len + len + 1 > t->body_cap) {
		size_t c = t->body_cap ? t->body_cap : 4096;
		while (c < t->body_len + len + 1)
			c *= 2;
		char *b = realloc(t->body, c);
		if (!b)
			return 0;
		t->body = b;
		t->body_cap = c;
	}
	memcpy(t->body + t->body_len, p, len);
	t->body_len += len;
	t->body[t->body_len] = 0;
	return len;
}

/* Bytes of a download: compared with every candidate content at once. */
static size_t verify_cb(char *p, size_t s, size_t n, void *u)
{
	struct thr *t = u;
	size_t len = s * n;
	const uint8_t *b = (const uint8_t *)p;
	for (unsigned c = 0; c < t->d_ncand; c++) {
		const struct ver *v = &t->d_cand[c];
		for (size_t i = 0; i < len; i++) {
			uint64_t off = t->d_off + t->d_pos + i;
			if (off >= v->size || b[i] != content_byte(v->seed, off))
				t->d_bad[c]++;
		}
	}
	t->d_pos += len;
	return len;
}

static size_t header_cb(char *p, size_t s, size_t n, void *u)
{
	struct thr *t = u;
	size_t len = s * n;
	if (len > 6 && !strncasecmp(p, "ETag:", 5)) {
		size_t i = 5, j = 0;
		while (i < len && (p[i] == ' ' || p[i] == '"'))
			i++;
		while (i < len && p[i] != '"' && p[i] != '\r' && p[i] != '\n' && j + 1 < sizeof t->etag)
			t->etag[j++] = p[i++];
		t->etag[j] = 0;
	}
	return len;
}

/*
 * Start a request on front f: a fresh handle when an outage began or ended
 * since the last one (no connection to a dead server is reused), the front's
 * credentials, and the headers every request carries. *gen gets the outage
 * number at the start.
 */
static struct curl_slist *begin(struct thr *t, int f, const char *url, unsigned *gen)
{
	*gen = outage_gen();
	if (*gen != t->h_gen) {
		curl_easy_cleanup(t->h);
		if (!(t->h = curl_easy_init()))
			abort();
		t->h_gen = *gen;
	}
	CURL *h = t->h;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	struct curl_slist *l = curl_slist_append(NULL, "Expect:");
	if (f == FRONT_S3) {
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
		curl_easy_setopt(h, CURLOPT_USERNAME, t->cr->access);
		curl_easy_setopt(h, CURLOPT_PASSWORD, t->cr->secret);
	} else {
		char hdr[256];
		snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", t->cr->token);
		l = curl_slist_append(l, hdr);
	}
	return l;
}

/* The SHA-256 of an empty body, for S3 requests that have none. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct curl_slist *s3_no_body(struct curl_slist *l)
{
	return curl_slist_append(l, "x-amz-content-sha256: " EMPTY_SHA256);
}

enum { RES_OK, RES_DOWN, RES_FAIL };

static bool conn_error(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
	       cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE || cc == CURLE_WEIRD_SERVER_REPLY;
}

/*
 * Run the request: RES_OK when an answer came (its status in *code), RES_DOWN when
 * the connection failed while the server was down (excused), RES_FAIL for any
 * other failure (not counted here).
 */
static int perform(struct thr *t, struct curl_slist *hl, unsigned gen, long *code, CURLcode *ccp, double *dt)
{
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, hl);
	double t0 = now();
	CURLcode cc = curl_easy_perform(t->h);
	*dt = now() - t0;
	*code = 0;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, code);
	*ccp = cc;
	if (cc == CURLE_OK)
		return RES_OK;
	if (conn_error(cc) && g_outage_file) {
		unsigned g1 = outage_gen();
		if ((gen & 1) || (g1 & 1) || g1 != gen)
			return RES_DOWN;
	}
	return RES_FAIL;
}

/* After an excused failure: wait a little longer each time (50 ms .. 1 s). */
static void backoff(struct thr *t, int f, int op)
{
	t->st[f][op].down++;
	unsigned ms = 50u << (t->backoff < 5 ? t->backoff : 5);
	t->backoff++;
	sleep_ms(ms > 1000 ? 1000 : ms);
}

static int pick_front(struct thr *t)
{
	return g_s3_url && rnd(t) % 100 < g_s3_share ? FRONT_S3 : FRONT_NATIVE;
}

static void key_url(struct thr *t, int f, char *url, size_t n, const char *kind, const char *key)
{
	if (f == FRONT_S3)
		snprintf(url, n, "%s/%s/%s", g_s3_url, t->bucket, key);
	else
		snprintf(url, n, "%s/buckets/%s/%s/%s/%s", g_url, t->cr->ns, t->bucket, kind, key);
}

static void hex(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static struct key *key_new(struct thr *t)
{
	if (t->nkeys == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->keys = realloc(t->keys, t->cap * sizeof *t->keys);
		if (!t->keys)
			abort();
	}
	struct key *k = &t->keys[t->nkeys++];
	memset(k, 0, sizeof *k);
	snprintf(k->name, sizeof k->name, "t%03u/o%06lu.bin", t->id, t->next_key++);
	return k;
}

/* The index of a random key that is (present) or is not (!present) there; -1 if none. */
static long pick_key(struct thr *t, bool present)
{
	size_t n = present ? t->nlive : t->nkeys - t->nlive;
	if (n == 0)
		return -1;
	size_t want = (size_t)(rnd(t) % n);
	for (size_t i = 0; i < t->nkeys; i++)
		if (t->keys[i].v.present == present && want-- == 0)
			return (long)i;
	return -1;
}

static void key_set(struct thr *t, struct key *k, struct ver v)
{
	t->nlive += (size_t)v.present - (size_t)k->v.present;
	k->v = v;
	k->unsure = false;
}

static double g_t0;

/* Remember what happened to a key: "12.345 s3 put 200 1234567" and the like. */
static void key_note(struct key *k, int f, const char *what, long code, CURLcode cc, size_t size)
{
	snprintf(k->hist[k->nhist++ % HIST], sizeof k->hist[0], "%.3f %s %s %ld/%d %zu", now() - g_t0,
		 f == FRONT_S3 ? "s3" : "nat", what, code, (int)cc, size);
}

/* An error about key k: counted, and printed with the key's history. */
static void key_err(struct thr *t, int f, int op, struct key *k, long code, CURLcode cc, const char *what)
{
	report_err(t, f, op, k->name, code, cc, what);
	if (atomic_load(&g_err_printed) <= 30) {
		unsigned first = k->nhist > HIST ? k->nhist - HIST : 0;
		for (unsigned i = first; i < k->nhist; i++)
			fprintf(stderr, "    %s: %s\n", k->name, k->hist[i % HIST]);
	}
}

/* A write or delete that may or may not have happened: its key holds k->v or v. */
static void key_unsure(struct thr *t, struct key *k, struct ver v, bool outage)
{
	t->in_flight += outage;
	k->alt = v;
	k->unsure = true;
}

/*
 * GET a key whole or a random range through front f (op is OP_DOWNLOAD or
 * OP_VERIFY) and check every byte; for an unsure key, find which of its two
 * states it holds and keep that one. RES_OK when checked (pass or error).
 */
static int do_get(struct thr *t, int f, int op, struct key *k, bool whole)
{
	char url[512], range[96] = "whole";
	key_url(t, f, url, sizeof url, "resolve", k->name);
	unsigned gen;
	struct curl_slist *hl = begin(t, f, url, &gen);
	if (f == FRONT_S3)
		hl = s3_no_body(hl);
	const struct ver *v = &k->v;
	uint64_t a = 0, b = v->size ? v->size - 1 : 0;
	if (!whole && !k->unsure && v->present) {
		switch (rnd(t) % 3) {
		case 0: /* a-b */
			a = rnd(t) % v->size;
			b = a + rnd(t) % (v->size - a);
			snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-%" PRIu64, a, b);
			break;
		case 1: /* a- */
			a = rnd(t) % v->size;
			snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-", a);
			break;
		default: { /* -n */
			uint64_t n = 1 + rnd(t) % v->size;
			a = v->size - n;
			snprintf(range, sizeof range, "Range: bytes=-%" PRIu64, n);
			break;
		}
		}
		hl = curl_slist_append(hl, range);
	} else {
		whole = true;
	}
	/* candidate c is state c: k->v, and k->alt when unsure (an absent one matches no byte) */
	t->d_ncand = k->unsure ? 2 : 1;
	t->d_cand[0] = k->v;
	t->d_cand[1] = k->alt;
	t->d_off = a;
	t->d_pos = 0;
	t->d_bad[0] = t->d_bad[1] = 0;
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, verify_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	long code;
	CURLcode cc;
	double dt;
	int r = perform(t, hl, gen, &code, &cc, &dt);
	curl_slist_free_all(hl);
	char why[200];
	if (r != RES_OK && (code == 200 || code == 206) && t->d_pos) {
		/* bytes that came before the connection died must be right too */
		bool some_match = false;
		for (unsigned c = 0; c < t->d_ncand; c++)
			some_match |= t->d_cand[c].present && t->d_bad[c] == 0;
		if (!some_match) {
			t->wrong_bytes++;
			key_err(t, f, op, k, code, cc, "wrong bytes before the connection died");
			return RES_OK;
		}
	}
	if (r == RES_DOWN)
		return RES_DOWN;
	if (r == RES_FAIL) {
		key_err(t, f, op, k, code, cc, range);
		return RES_OK;
	}
	if (code == 206 && !whole) {
		uint64_t want = b - a + 1;
		if (t->d_pos != want || t->d_bad[0]) {
			snprintf(why, sizeof why, "%s: got %" PRIu64 " bytes of %" PRIu64 ", %" PRIu64 " wrong (size %zu)",
				 range, t->d_pos, want, t->d_bad[0], v->size);
			t->wrong_bytes++;
			key_err(t, f, op, k, code, cc, why);
			return RES_OK;
		}
	} else if (whole && (code == 200 || code == 404)) {
		/* which of the key's states is it? */
		int match = -1;
		for (unsigned c = 0; c < t->d_ncand && match < 0; c++) {
			const struct ver *s = &t->d_cand[c];
			if (code == 404 ? !s->present : s->present && t->d_bad[c] == 0 && t->d_pos == s->size)
				match = (int)c;
		}
		if (match < 0) {
			if (code == 404)
				snprintf(why, sizeof why, "404 for a key that holds an acknowledged object (%zu bytes)",
					 v->size);
			else if (!v->present && !k->unsure)
				snprintf(why, sizeof why, "200 for a deleted key (%" PRIu64 " bytes)", t->d_pos);
			else {
				snprintf(why, sizeof why, "whole: got %" PRIu64 " bytes, %" PRIu64 " wrong (size %zu%s)",
					 t->d_pos, t->d_bad[0], v->size, k->unsure ? "; or its write in flight" : "");
				t->wrong_bytes++;
			}
			key_err(t, f, op, k, code, cc, why);
			return RES_OK;
		}
		if (k->unsure) {
			if (match == 0)
				t->settled_old++;
			else
				t->settled_new++;
			key_note(k, f, match == 0 ? "read:old" : "read:new", code, cc, (size_t)t->d_pos);
			key_set(t, k, t->d_cand[match]);
		}
	} else {
		key_err(t, f, op, k, code, cc, range);
		return RES_OK;
	}
	t->st[f][op].ok++;
	t->st[f][op].bytes += t->d_pos * (code != 404);
	lat_add(&t->st[f][op].lat, dt);
	return RES_OK;
}

/* Read back a key written or deleted while the server died, until the server answers. */
static bool settle(struct thr *t, struct key *k, double deadline)
{
	while (k->unsure) {
		if (now() >= deadline)
			return false;
		int f = pick_front(t);
		if (do_get(t, f, OP_DOWNLOAD, k, true) == RES_DOWN)
			backoff(t, f, OP_DOWNLOAD);
		else if (k->unsure) /* an error was counted: stop guessing */
			k->unsure = false;
	}
	t->backoff = 0;
	return true;
}

/* PUT a new key, or overwrite one (live or deleted), through a random front. */
static struct key *do_upload(struct thr *t, long idx)
{
	struct ver v = {true, 0, 0};
	if (rnd(t) % 100 < 40) {
		v.seed = pool_seed((unsigned)(rnd(t) % POOL));
		v.size = size_of_pool(v.seed);
	} else {
		v.seed = rnd(t);
		v.size = MIN_SIZE + (size_t)(rnd(t) % (g_max_size - MIN_SIZE + 1));
	}
	struct key *k = idx >= 0 ? &t->keys[idx] : key_new(t);
	fill(t->buf, v.seed, 0, v.size);

	int f = pick_front(t);
	char url[512];
	key_url(t, f, url, sizeof url, "upload", k->name);
	unsigned gen;
	struct curl_slist *hl = begin(t, f, url, &gen);
	hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
	unsigned char md5[16];
	if (f == FRONT_S3) {
		char hdr[128] = "x-amz-content-sha256: UNSIGNED-PAYLOAD";
		if (rnd(t) % 3) { /* mostly the real hash, which the server checks */
			unsigned char sha[32];
			EVP_Digest(t->buf, v.size, sha, NULL, EVP_sha256(), NULL);
			strcpy(hdr, "x-amz-content-sha256: ");
			hex(hdr + strlen(hdr), sha, 32);
		}
		hl = curl_slist_append(hl, hdr);
		EVP_Digest(t->buf, v.size, md5, NULL, EVP_md5(), NULL);
		curl_easy_setopt(t->h, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(t->h, CURLOPT_HEADERDATA, t);
	}
	curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, (const char *)t->buf);
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)v.size);
	t->body_len = 0;
	t->etag[0] = 0;
	if (t->body)
		t->body[0] = 0;
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	long code;
	CURLcode cc;
	double dt;
	int r = perform(t, hl, gen, &code, &cc, &dt);
	curl_slist_free_all(hl);
	key_note(k, f, "put", code, cc, v.size);
	if (r == RES_DOWN) {
		/*
		 * It may have reached the server even when libcurl says it could not
		 * connect: sent on a kept-alive connection that then died, it is sent
		 * again on a new one, and that connect is what failed.
		 */
		key_unsure(t, k, v, true);
		backoff(t, f, OP_UPLOAD);
		return k;
	}
	if (r == RES_FAIL || code != 200) {
		key_err(t, f, OP_UPLOAD, k, code, cc, t->body_len ? t->body : NULL);
		key_unsure(t, k, v, false); /* the write may or may not have happened */
		return k;
	}
	char want[64];
	if (f == FRONT_S3) {
		hex(want, md5, 16);
		if (strcmp(t->etag, want) != 0) {
			key_err(t, f, OP_UPLOAD, k, code, cc, "ETag is not the MD5 of the body");
			key_unsure(t, k, v, false);
			return k;
		}
	} else {
		snprintf(want, sizeof want, "\"size\":%zu", v.size);
		if (!t->body || !strstr(t->body, want)) {
			key_err(t, f, OP_UPLOAD, k, code, cc, "size missing from answer");
			key_unsure(t, k, v, false);
			return k;
		}
	}
	t->st[f][OP_UPLOAD].ok++;
	t->st[f][OP_UPLOAD].bytes += v.size;
	lat_add(&t->st[f][OP_UPLOAD].lat, dt);
	t->acked_up++;
	t->backoff = 0;
	key_set(t, k, v);
	return k;
}

/* DELETE a live key, then GET it through the other front: 404 expected. */
static struct key *do_delete(struct thr *t)
{
	struct key *k = &t->keys[pick_key(t, true)];
	int f = pick_front(t);
	char url[512];
	key_url(t, f, url, sizeof url, "resolve", k->name);
	unsigned gen;
	struct curl_slist *hl = begin(t, f, url, &gen);
	if (f == FRONT_S3)
		hl = s3_no_body(hl);
	curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, "DELETE");
	long code;
	CURLcode cc;
	double dt;
	int r = perform(t, hl, gen, &code, &cc, &dt);
	curl_slist_free_all(hl);
	key_note(k, f, "delete", code, cc, 0);
	struct ver gone = {false, 0, 0};
	if (r == RES_DOWN) {
		key_unsure(t, k, gone, true); /* as for an upload: it may have been done */
		backoff(t, f, OP_DELETE);
		return k;
	}
	if (r == RES_FAIL || code != (f == FRONT_S3 ? 204 : 200)) {
		key_err(t, f, OP_DELETE, k, code, cc, NULL);
		key_unsure(t, k, gone, false);
		return k;
	}
	t->st[f][OP_DELETE].ok++;
	lat_add(&t->st[f][OP_DELETE].lat, dt);
	t->acked_del++;
	t->backoff = 0;
	key_set(t, k, gone);
	/* gone through the other front too (a connection lost here is excused) */
	int other = g_s3_url ? !f : f;
	key_url(t, other, url, sizeof url, "resolve", k->name);
	hl = begin(t, other, url, &gen);
	if (other == FRONT_S3)
		hl = s3_no_body(hl);
	r = perform(t, hl, gen, &code, &cc, &dt);
	curl_slist_free_all(hl);
	if (r == RES_FAIL || (r == RES_OK && code != 404))
		key_err(t, other, OP_DELETE, k, code, cc, "GET after delete: expected 404");
	return k;
}

/* Percent-encode s (all but unreserved characters), as SigV4's canonical query wants. */
static void qenc(char *out, size_t n, const char *s)
{
	size_t j = 0;
	for (; *s && j + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			out[j++] = (char)c;
		else
			j += (size_t)sprintf(out + j, "%%%02X", c);
	}
	out[j] = 0;
}

/* The text between open and close after *p (advanced past it); false if none. */
static bool xml_next(const char **p, const char *open, const char *close, char *out, size_t n)
{
	const char *a = strstr(*p, open), *b;
	if (!a)
		return false;
	a += strlen(open);
	if (!(b = strstr(a, close)))
		return false;
	size_t len = (size_t)(b - a) < n - 1 ? (size_t)(b - a) : n - 1;
	memcpy(out, a, len);
	out[len] = 0;
	*p = b + strlen(close);
	return true;
}

/*
 * One page of a listing through front f: keys and sizes into names/sizes (at
 * most max), the next cursor into next ("" when it was the last page).
 */
static int list_page(struct thr *t, int f, bool own, unsigned limit, const char *cursor, char (*names)[KEY_MAX + 16],
		     size_t *sizes, size_t max, size_t *count, char *next, size_t next_n, long *code, CURLcode *cc,
		     double *dt)
{
	char url[1024], enc[512], prefix[16];
	snprintf(prefix, sizeof prefix, "t%03u/", t->id);
	if (f == FRONT_S3) {
		/* libcurl 7.88 signs the query as written: the parameters go in sorted order */
		size_t n = (size_t)snprintf(url, sizeof url, "%s/%s?", g_s3_url, t->bucket);
		if (*cursor) {
			qenc(enc, sizeof enc, cursor);
			n += (size_t)snprintf(url + n, sizeof url - n, "continuation-token=%s&", enc);
		}
		n += (size_t)snprintf(url + n, sizeof url - n, "list-type=2&max-keys=%u", limit);
		if (own) {
			qenc(enc, sizeof enc, prefix);
			snprintf(url + n, sizeof url - n, "&prefix=%s", enc);
		}
	} else {
		size_t n = (size_t)snprintf(url, sizeof url, "%s/api/buckets/%s/%s/tree%s%.*s?recursive=true&limit=%u",
					    g_url, t->cr->ns, t->bucket, own ? "/" : "", own ? 4 : 0, prefix, limit);
		if (*cursor) {
			qenc(enc, sizeof enc, cursor);
			snprintf(url + n, sizeof url - n, "&cursor=%s", enc);
		}
	}
	unsigned gen;
	struct curl_slist *hl = begin(t, f, url, &gen);
	if (f == FRONT_S3)
		hl = s3_no_body(hl);
	t->body_len = 0;
	if (t->body)
		t->body[0] = 0;
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	int r = perform(t, hl, gen, code, cc, dt);
	curl_slist_free_all(hl);
	*count = 0;
	next[0] = 0;
	if (r != RES_OK || *code != 200 || !t->body)
		return r;
	const char *p = t->body;
	char val[KEY_MAX + 16], num[32];
	if (f == FRONT_S3) {
		while (xml_next(&p, "<Key>", "</Key>", val, sizeof val) && xml_next(&p, "<Size>", "</Size>", num, sizeof num))
			if (*count < max) {
				memcpy(names[*count], val, sizeof val);
				sizes[(*count)++] = (size_t)strtoull(num, NULL, 10);
			}
		p = t->body;
		if (strstr(t->body, "<IsTruncated>true</IsTruncated>"))
			xml_next(&p, "<NextContinuationToken>", "</NextContinuationToken>", next, next_n);
	} else {
		while (xml_next(&p, "\"type\":\"file\",\"path\":\"", "\"", val, sizeof val) &&
		       xml_next(&p, "\"size\":", ",", num, sizeof num))
			if (*count < max) {
				memcpy(names[*count], val, sizeof val);
				sizes[(*count)++] = (size_t)strtoull(num, NULL, 10);
			}
		p = t->body;
		xml_next(&p, "\"next_cursor\":\"", "\"", next, next_n);
	}
	return RES_OK;
}

#define PAGE_MAX 1000

/*
 * List the thread's own prefix (checked: exactly its live keys, with their
 * sizes) or the whole bucket (checked: keys in order) through front f, page
 * by page. RES_DOWN if the connection failed during an outage.
 */
static int do_list(struct thr *t, int f, int op, bool own, unsigned limit)
{
	static _Thread_local char names[PAGE_MAX][KEY_MAX + 16];
	static _Thread_local size_t sizes[PAGE_MAX];
	char cursor[512] = "", next[512], last[KEY_MAX + 16] = "", why[200];
	size_t count, seen = 0;
	long code;
	CURLcode cc;
	double dt, total = 0;
	unsigned pages = 0;
	const char *what = own ? "own prefix" : "whole bucket";

	do {
		int r = list_page(t, f, own, limit, cursor, names, sizes, PAGE_MAX, &count, next, sizeof next, &code,
				  &cc, &dt);
		total += dt;
		if (r == RES_DOWN)
			return RES_DOWN;
		if (r == RES_FAIL || code != 200) {
			report_err(t, f, op, what, code, cc, t->body_len ? t->body : NULL);
			return RES_OK;
		}
		for (size_t i = 0; i < count; i++) {
			if (strcmp(names[i], last) <= 0) {
				snprintf(why, sizeof why, "%s: %.64s listed after %.64s", what, names[i], last);
				report_err(t, f, op, "", code, cc, why);
				return RES_OK;
			}
			memcpy(last, names[i], sizeof last);
			if (!own)
				continue;
			size_t j;
			for (j = 0; j < t->nkeys; j++)
				if (!strcmp(t->keys[j].name, names[i]))
					break;
			if (j == t->nkeys || !t->keys[j].v.present || t->keys[j].v.size != sizes[i]) {
				snprintf(why, sizeof why, "own listing has %.64s (%zu bytes): %s", names[i], sizes[i],
					 j == t->nkeys ? "not a key of ours" : !t->keys[j].v.present ? "deleted" : "wrong size");
				report_err(t, f, op, "", code, cc, why);
				return RES_OK;
			}
			seen++;
		}
		if (count > limit || (*next && count == 0)) {
			snprintf(why, sizeof why, "%s: page of %zu entries, limit %u", what, count, limit);
			report_err(t, f, op, "", code, cc, why);
			return RES_OK;
		}
		memcpy(cursor, next, sizeof cursor);
		pages++;
	} while (*cursor && pages < 100000);
	if (own && seen != t->nlive) {
		snprintf(why, sizeof why, "own listing has %zu objects, expected %zu", seen, t->nlive);
		report_err(t, f, op, "", code, cc, why);
		return RES_OK;
	}
	t->st[f][op].ok++;
	lat_add(&t->st[f][op].lat, total);
	return RES_OK;
}

static double g_deadline;

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct key *touched = NULL;
	for (unsigned long n = 0; n < g_max_ops && now() < g_deadline; n++) {
		/* a write in flight at a kill: read it back before anything else */
		if (touched && touched->unsure && !settle(t, touched, g_deadline))
			break;
		touched = NULL;
		unsigned r = (unsigned)(rnd(t) % 100);
		if (t->nlive == 0 || (r < 35 && t->nlive < g_max_objects)) {
			touched = do_upload(t, -1);
		} else if (r < 40) { /* overwrite: mostly a live key, sometimes a deleted one */
			long i = rnd(t) % 4 ? -1 : pick_key(t, false);
			touched = do_upload(t, i >= 0 ? i : pick_key(t, true));
		} else if (r < 75) {
			int f = pick_front(t);
			if (do_get(t, f, OP_DOWNLOAD, &t->keys[pick_key(t, true)], rnd(t) % 2) == RES_DOWN)
				backoff(t, f, OP_DOWNLOAD);
			else
				t->backoff = 0;
		} else if (r < 85) {
			int f = pick_front(t);
			bool own = rnd(t) & 1;
			unsigned limit = own ? 1 + (unsigned)(rnd(t) % 8) : 100 + (unsigned)(rnd(t) % 900);
			if (do_list(t, f, OP_LIST, own, limit) == RES_DOWN)
				backoff(t, f, OP_LIST);
			else
				t->backoff = 0;
		} else {
			touched = do_delete(t);
		}
	}
	return NULL;
}

/*
 * The end: wait for the server to be up, settle what is still unsure, then
 * read every key through every front and list the prefix through each.
 * A connection failure here is retried (the driver kills no more).
 */
static void *verifier(void *arg)
{
	struct thr *t = arg;
	double give_up = now() + 600;
	while (outage_gen() & 1 && now() < give_up)
		sleep_ms(100);
	for (size_t i = 0; i < t->nkeys; i++)
		settle(t, &t->keys[i], give_up);
	for (int f = 0; f < (g_s3_url ? FRONT_N : 1); f++) {
		for (size_t i = 0; i < t->nkeys; i++)
			while (do_get(t, f, OP_VERIFY, &t->keys[i], true) == RES_DOWN && now() < give_up)
				backoff(t, f, OP_VERIFY);
		while (do_list(t, f, OP_VERIFY, true, PAGE_MAX) == RES_DOWN && now() < give_up)
			backoff(t, f, OP_VERIFY);
	}
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
	fprintf(stderr,
		"usage: load --url URL (--token TOKEN [--ns NS] | --creds FILE) [--s3-url URL] [--s3-share PCT]\n"
		"            [--outage-file FILE] [--bucket-prefix P] [--buckets N] [--threads N] [--seconds S]\n"
		"            [--max-ops N] [--max-objects N] [--max-size BYTES] [--seed N]\n");
	exit(2);
}

/* --creds FILE: "NS TOKEN [ACCESS SECRET]" per line. */
static int read_creds(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f) && g_ncreds < MAX_CREDS) {
		struct cred *c = &g_creds[g_ncreds];
		int n = sscanf(line, "%63s %159s %63s %127s", c->ns, c->token, c->access, c->secret);
		if (n == 2 || n == 4)
			g_ncreds++;
		else if (n > 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return g_ncreds ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *token = NULL, *ns = "admin", *creds = NULL;
	bool share_set = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--url"))
			g_url = v;
		else if (!strcmp(a, "--token"))
			token = v;
		else if (!strcmp(a, "--ns"))
			ns = v;
		else if (!strcmp(a, "--creds"))
			creds = v;
		else if (!strcmp(a, "--s3-url"))
			g_s3_url = v;
		else if (!strcmp(a, "--s3-share"))
			g_s3_share = (unsigned)strtoul(v, NULL, 10), share_set = true;
		else if (!strcmp(a, "--outage-file"))
			g_outage_file = v;
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
		else if (!strcmp(a, "--max-size"))
			g_max_size = (size_t)strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			g_seed = strtoull(v, NULL, 10);
		else
			usage();
	}
	if (creds) {
		if (read_creds(creds) != 0) {
			fprintf(stderr, "load: %s: want lines of \"NS TOKEN [ACCESS_KEY SECRET]\"\n", creds);
			return 2;
		}
	} else if (token) {
		snprintf(g_creds[0].ns, sizeof g_creds[0].ns, "%s", ns);
		snprintf(g_creds[0].token, sizeof g_creds[0].token, "%s", token);
		g_ncreds = 1;
	}
	if (!g_url || !g_ncreds || !g_buckets || !g_threads || !g_max_objects || g_max_size < MIN_SIZE ||
	    g_s3_share > 100)
		usage();
	if (g_s3_url) {
		for (unsigned i = 0; i < g_ncreds; i++)
			if (!g_creds[i].access[0]) {
				fprintf(stderr, "load: --s3-url needs an access key for every user in --creds\n");
				return 2;
			}
		if (!share_set)
			g_s3_share = 50;
	}
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
		t->h_gen = outage_gen();
		t->buf = malloc(g_max_size);
		if (!t->h || !t->buf)
			return 1;
		t->cr = &g_creds[i % g_ncreds];
		snprintf(t->bucket, sizeof t->bucket, "%s%u", g_bprefix, (i / g_ncreds) % g_buckets);
	}
	printf("load: %u threads, %u users, %u buckets each, %u s, objects up to %zu bytes, native %s", g_threads,
	       g_ncreds, g_buckets, g_seconds, g_max_size, g_url);
	if (g_s3_url)
		printf(" + S3 %s (%u%% of requests)", g_s3_url, g_s3_share);
	printf("\n");
	fflush(stdout);
	double t0 = now();
	g_t0 = t0;
	g_deadline = t0 + g_seconds;
	for (unsigned i = 0; i < g_threads; i++)
		if (pthread_create(&ts[i].th, NULL, worker, &ts[i]))
			return 1;
	for (unsigned i = 0; i < g_threads; i++)
		pthread_join(ts[i].th, NULL);
	double elapsed = now() - t0;
	printf("load phase over after %.1f s; verifying\n", elapsed);
	fflush(stdout);
	double v0 = now();
	for (unsigned i = 0; i < g_threads; i++)
		if (pthread_create(&ts[i].th, NULL, verifier, &ts[i]))
			return 1;
	for (unsigned i = 0; i < g_threads; i++)
		pthread_join(ts[i].th, NULL);
	double velapsed = now() - v0;

	struct stat_cell all[FRONT_N][OP_N] = {0};
	unsigned long tok = 0, terr = 0, down = 0, acked_up = 0, acked_del = 0, in_flight = 0, s_old = 0, s_new = 0,
		      h5 = 0, wrong = 0;
	size_t live = 0, deleted = 0;
	uint64_t up = 0, dn = 0;
	for (unsigned i = 0; i < g_threads; i++) {
		struct thr *t = &ts[i];
		for (int f = 0; f < FRONT_N; f++)
			for (int k = 0; k < OP_N; k++) {
				struct stat_cell *a = &all[f][k], *c = &t->st[f][k];
				a->ok += c->ok;
				a->err += c->err;
				a->down += c->down;
				a->bytes += c->bytes;
				for (size_t j = 0; j < c->lat.n; j++)
					lat_add(&a->lat, c->lat.v[j]);
				if (k == OP_UPLOAD)
					up += c->bytes;
				else if (k != OP_VERIFY)
					dn += c->bytes;
			}
		acked_up += t->acked_up;
		acked_del += t->acked_del;
		in_flight += t->in_flight;
		s_old += t->settled_old;
		s_new += t->settled_new;
		h5 += t->http5xx;
		wrong += t->wrong_bytes;
		live += t->nlive;
		deleted += t->nkeys - t->nlive;
	}
	printf("%-9s %-7s %8s %7s %7s %9s %9s %9s %9s\n", "op", "front", "ok", "errors", "outage", "ops/s", "MB/s",
	       "p50 ms", "p99 ms");
	for (int k = 0; k < OP_N; k++)
		for (int f = 0; f < FRONT_N; f++) {
			struct stat_cell *a = &all[f][k];
			if (f == FRONT_S3 && !g_s3_url)
				continue;
			qsort(a->lat.v, a->lat.n, sizeof(double), cmpd);
			double secs = k == OP_VERIFY ? velapsed : elapsed;
			printf("%-9s %-7s %8lu %7lu %7lu %9.1f %9.1f %9.2f %9.2f\n", op_name[k], front_name[f], a->ok,
			       a->err, a->down, secs > 0 ? (double)a->ok / secs : 0.0,
			       secs > 0 ? (double)a->bytes / 1e6 / secs : 0.0, pct(&a->lat, 0.5) * 1e3,
			       pct(&a->lat, 0.99) * 1e3);
			tok += a->ok;
			terr += a->err;
			down += a->down;
		}
	printf("elapsed %.1f s (+%.1f s verify); load phase: up %.1f MB, down %.1f MB (%.1f MB/s)\n", elapsed,
	       velapsed, (double)up / 1e6, (double)dn / 1e6, elapsed > 0 ? (double)(up + dn) / 1e6 / elapsed : 0.0);
	printf("acknowledged writes: %lu (%lu uploads, %lu deletes); at the end %zu objects, %zu absent keys "
	       "(deleted or never written), checked through every front\n",
	       acked_up + acked_del, acked_up, acked_del, live, deleted);
	printf("connection failures during outages (excused): %lu; writes cut off by an outage: %lu (read back: %lu "
	       "old state, %lu new)\n",
	       down, in_flight, s_old, s_new);
	printf("5xx answers: %lu; wrong bytes: %lu\n", h5, wrong);
	printf("total errors: %lu\n", terr);
	printf("%lu passed, %lu failed\n", tok, terr);
	for (unsigned i = 0; i < g_threads; i++) {
		curl_easy_cleanup(ts[i].h);
		free(ts[i].buf);
		free(ts[i].keys);
		free(ts[i].body);
		for (int f = 0; f < FRONT_N; f++)
			for (int k = 0; k < OP_N; k++)
				free(ts[i].st[f][k].lat.v);
	}
	for (int f = 0; f < FRONT_N; f++)
		for (int k = 0; k < OP_N; k++)
			free(all[f][k].lat.v);
	free(ts);
	curl_global_cleanup();
	return terr ? 1 : 0;
}
