/*
 * store_s3.c - the xorb store in an S3-compatible object store (AWS S3,
 * MinIO, Ceph RGW, Garage, ...): one object per xorb, PREFIX/xorbs/HEX,
 * path-style requests signed with AWS Signature Version 4 (our own
 * signer, libcrypto's HMAC and SHA-256), over libcurl.
 *
 * put: HEAD first (xorbs are immutable: one already there is kept), then a
 *   PUT whose body's SHA-256 is signed, so the store refuses a body
 *   damaged on the way. S3 PUTs are atomic and durable once answered.
 * read: a ranged GET of exactly the bytes asked for.
 * list: ListObjectsV2 pages of 1000.
 * Every request is retried on connection errors, 5xx, 429 and S3's
 * SlowDown, 5 tries after 0.2, 0.4, 0.8, 1.6 s. Each thread keeps its
 * own libcurl handle (connections are reused), so every function may be
 * called from many threads at once.
 */
#include "cairn/sys/store.h"
#include "cairn/errors.h"

#include "../util/util_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRIES 5
#define LIST_MAX_BODY ((size_t)16 << 20)

typedef struct s3_store {
	cairn_store base;
	char *endpoint; /* scheme://host[:port], no trailing '/' */
	char *host;     /* host[:port], as the Host header */
	char *bucket;
	char *prefix;   /* "" or "a/b/" (with its '/') */
	char *region;
	char *access_key, *secret_key, *token;
} s3_store;

static s3_store *of(cairn_store *s)
{
	return (s3_store *)s;
}

/* ---- signing ---------------------------------------------------------------------------------- */

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(char out[65], const void *p, size_t n)
{
	uint8_t d[32];
	unsigned dl = 0;

	EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
	hex(out, d, 32);
}

static void hmac(uint8_t out[32], const void *key, size_t klen, const char *msg)
{
	unsigned len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg), out, &len);
}

/* S3's URI encoding: unreserved bytes kept, the rest %XX; '/' kept when slash. */
static void uri_encode(FILE *f, const char *s, bool slash)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~' || (slash && ch == '/'))
			fputc(ch, f);
		else
			fprintf(f, "%%%02X", ch);
	}
}

typedef struct call {
	const char *method;
	char *path;         /* /bucket/key, encoded */
	char *query;        /* canonical (sorted, encoded) query, "" if none */
	char payload[65];   /* hex SHA-256 of the body */
	struct curl_slist *headers;
} call;

/*
 * The request's Authorization and x-amz-* headers into c->headers. The
 * query's names must already be in sorted order (callers build it so).
 */
static int sign(s3_store *s, call *c)
{
	char date[17], date8[9], scope[160], creq_hash[65], sig[65], line[512];
	char *creq = NULL, *sts = NULL;
	size_t n = 0;
	uint8_t k1[32], k2[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date8, date, 8);
	date8[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date8, s->region);
	if ((f = open_memstream(&creq, &n)) == NULL)
		return CAIRN_ENOMEM;
	fprintf(f, "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", c->method,
		c->path, c->query, s->host, c->payload, date);
	if (s->token)
		fprintf(f, "x-amz-security-token:%s\n", s->token);
	fprintf(f, "\nhost;x-amz-content-sha256;x-amz-date%s\n%s",
		s->token ? ";x-amz-security-token" : "", c->payload);
	if (fclose(f) != 0) {
		free(creq);
		return CAIRN_ENOMEM;
	}
	sha256_hex(creq_hash, creq, n);
	free(creq);
	if ((f = open_memstream(&sts, &n)) == NULL)
		return CAIRN_ENOMEM;
	fprintf(f, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, creq_hash);
	if (fclose(f) != 0) {
		free(sts);
		return CAIRN_ENOMEM;
	}
	{
		size_t kl = strlen(s->secret_key) + 5;
		char *k0 = malloc(kl);
		if (k0 == NULL) {
			free(sts);
			return CAIRN_ENOMEM;
		}
		snprintf(k0, kl, "AWS4%s", s->secret_key);
		hmac(k1, k0, kl - 1, date8);
		OPENSSL_cleanse(k0, kl);
		free(k0);
	}
	hmac(k2, k1, 32, s->region);
	hmac(k1, k2, 32, "s3");
	hmac(k2, k1, 32, "aws4_request");
	hmac(k1, k2, 32, sts);
	free(sts);
	hex(sig, k1, 32);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	snprintf(line, sizeof(line), "Host: %s", s->host);
	c->headers = curl_slist_append(c->headers, line);
	snprintf(line, sizeof(line), "x-amz-date: %s", date);
	c->headers = curl_slist_append(c->headers, line);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", c->payload);
	c->headers = curl_slist_append(c->headers, line);
	if (s->token) {
		char *t = malloc(strlen(s->token) + 32);
		if (t == NULL)
			return CAIRN_ENOMEM;
		sprintf(t, "x-amz-security-token: %s", s->token);
		c->headers = curl_slist_append(c->headers, t);
		free(t);
	}
	snprintf(line, sizeof(line),
		 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, "
		 "SignedHeaders=host;x-amz-content-sha256;x-amz-date%s, Signature=%s",
		 s->access_key, scope, s->token ? ";x-amz-security-token" : "", sig);
	c->headers = curl_slist_append(c->headers, line);
	return c->headers ? 0 : CAIRN_ENOMEM;
}

/* ---- requests --------------------------------------------------------------------------------- */

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_free(void *h)
{
	curl_easy_cleanup(h);
}

static void tl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&tl_key, tl_free);
}

/* This thread's handle, reset for a new request. */
static CURL *handle(void)
{
	CURL *h;

	pthread_once(&tl_once, tl_init);
	h = pthread_getspecific(tl_key);
	if (h == NULL) {
		if ((h = curl_easy_init()) == NULL)
			return NULL;
		pthread_setspecific(tl_key, h);
	} else {
		curl_easy_reset(h);
	}
	return h;
}

typedef struct sink {
	uint8_t *buf; /* fixed (a read) or grown (a listing, an error body) */
	size_t len, cap;
	bool grow, over;
	long status;  /* of the answer being read (from its status line) */
	char err[1024]; /* the start of an error answer's body (never in buf) */
	size_t err_len;
} sink;

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	sink *k = ctx;

	if (size * n > 9 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', size * n);
		k->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		k->err_len = 0;
	}
	return size * n;
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	sink *k = ctx;
	size_t add = size * n;

	if (k->status >= 300) { /* an error's body: kept apart, and only its start */
		size_t room = sizeof(k->err) - 1 - k->err_len;
		memcpy(k->err + k->err_len, p, add < room ? add : room);
		k->err_len += add < room ? add : room;
		k->err[k->err_len] = '\0';
		return add;
	}

	if (add > k->cap - k->len) {
		size_t cap = k->cap ? k->cap : 4096;
		uint8_t *nb;
		if (!k->grow || k->len + add > LIST_MAX_BODY) {
			k->over = true;
			return 0;
		}
		while (cap < k->len + add)
			cap *= 2;
		if ((nb = realloc(k->buf, cap)) == NULL)
			return 0;
		k->buf = nb;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, p, add);
	k->len += add;
	return add;
}

typedef struct upload {
	const uint8_t *p;
	size_t len, at;
} upload;

static size_t on_read(char *out, size_t size, size_t n, void *ctx)
{
	upload *u = ctx;
	size_t m = size * n;

	if (m > u->len - u->at)
		m = u->len - u->at;
	memcpy(out, u->p + u->at, m);
	u->at += m;
	return m;
}

/*
 * One signed request, retried. body/len: a PUT's body. range: "a-b" or
 * NULL. Answers into *k; *status gets the final HTTP status, *length the
 * Content-Length of a HEAD. Returns 0 (an answer came), or CAIRN_EIO (no
 * answer after every try: message set).
 */
static int perform(s3_store *s, const char *method, const char *key, const char *query,
		   const void *body, size_t len, const char *range, sink *k, long *status,
		   uint64_t *length)
{
	char url[4096], errbuf[CURL_ERROR_SIZE] = "";
	unsigned delay_ms = 200;
	CURLcode cc = CURLE_OK;

	for (int t = 0; t < TRIES; t++) {
		call c = {method, NULL, (char *)(query ? query : ""), "", NULL};
		size_t pn = 0;
		FILE *f = open_memstream(&c.path, &pn);
		CURL *h = handle();
		upload up = {body, len, 0};
		curl_off_t cl = -1;
		int rc;

		if (f == NULL || h == NULL) {
			if (f) {
				fclose(f);
				free(c.path);
			}
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		fputc('/', f);
		uri_encode(f, s->bucket, false);
		if (key) {
			fputc('/', f);
			uri_encode(f, key, true);
		}
		if (fclose(f) != 0) {
			free(c.path);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		sha256_hex(c.payload, body ? body : "", body ? len : 0);
		if ((rc = sign(s, &c)) != 0) {
			free(c.path);
			curl_slist_free_all(c.headers);
			return cairn__error_set(rc, "out of memory");
		}
		if (range) {
			char rh[96];
			snprintf(rh, sizeof(rh), "Range: bytes=%s", range);
			c.headers = curl_slist_append(c.headers, rh);
		}
		c.headers = curl_slist_append(c.headers, "Expect:");
		snprintf(url, sizeof(url), "%s%s%s%s", s->endpoint, c.path, c.query[0] ? "?" : "",
			 c.query);
		free(c.path);
		k->len = 0; /* a retry starts the answer over */
		k->over = false;
		k->status = 0;
		k->err_len = 0;
		k->err[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, k);
		curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* the path exactly as signed */
		if (strcmp(method, "HEAD") == 0) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (strcmp(method, "PUT") == 0) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h, CURLOPT_READDATA, &up);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		} else if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		}
		cc = curl_easy_perform(h);
		curl_slist_free_all(c.headers);
		*status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
		if (length && curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
			*length = cl >= 0 ? (uint64_t)cl : 0;
		if (cc == CURLE_WRITE_ERROR && k->over)
			return 0; /* more than asked for: the caller says what that means */
		if (cc == CURLE_OK && *status != 429 && *status < 500)
			return 0;
		if (t + 1 < TRIES) {
			struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			delay_ms *= 2;
		}
	}
	if (cc != CURLE_OK)
		return cairn__error_set(CAIRN_EIO, "S3 store %s: %s %s: %s", s->endpoint, method,
					key ? key : s->bucket, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return cairn__error_set(CAIRN_EIO, "S3 store %s: %s %s: HTTP %ld after %d tries",
				s->endpoint, method, key ? key : s->bucket, *status, TRIES);
}

/* An S3 error answer as a message: its <Code> and <Message>. */
static int s3_fail(s3_store *s, const char *what, const char *key, long status, const sink *k)
{
	char code[64] = "", msg[256] = "";
	const char *p = k->err;
	const char *a, *b;

	if ((a = strstr(p, "<Code>")) && (b = strstr(a, "</Code>")))
		snprintf(code, sizeof(code), "%.*s", (int)(b - a - 6), a + 6);
	if ((a = strstr(p, "<Message>")) && (b = strstr(a, "</Message>")))
		snprintf(msg, sizeof(msg), "%.*s", (int)(b - a - 9), a + 9);
	return cairn__error_set(CAIRN_EIO, "S3 store %s: %s %s: HTTP %ld %s%s%s", s->endpoint, what,
				key, status, code, msg[0] ? ": " : "", msg);
}

static void key_of(const s3_store *s, char *out, size_t cap, const cairn_hash *xorb)
{
	char h[CAIRN_HASH_HEX_LEN + 1];

	cairn_hash_to_hex(h, xorb);
	snprintf(out, cap, "%sxorbs/%s", s->prefix, h);
}

/* ---- the store -------------------------------------------------------------------------------- */

static int s3_size(cairn_store *st, const cairn_hash *xorb, uint64_t *out)
{
	s3_store *s = of(st);
	char key[2048];
	sink k = {.grow = true};
	long status;
	uint64_t len = 0;
	int rc;

	key_of(s, key, sizeof(key), xorb);
	rc = perform(s, "HEAD", key, NULL, NULL, 0, NULL, &k, &status, &len);
	free(k.buf);
	if (rc != 0)
		return rc;
	if (status == 404)
		return cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s in the S3 store", key);
	if (status != 200)
		return cairn__error_set(CAIRN_EIO, "S3 store %s: HEAD %s: HTTP %ld", s->endpoint, key,
					status);
	*out = len;
	return 0;
}

static int s3_put(cairn_store *st, const cairn_hash *xorb, const void *data, size_t len)
{
	s3_store *s = of(st);
	char key[2048];
	sink k = {.grow = true};
	uint64_t have;
	long status;
	int rc = s3_size(st, xorb, &have);

	if (rc == 0 && have == len)
		return 0; /* immutable: already there */
	if (rc != 0 && rc != CAIRN_ENOTFOUND)
		return rc;
	key_of(s, key, sizeof(key), xorb);
	rc = perform(s, "PUT", key, NULL, data, len, NULL, &k, &status, NULL);
	if (rc == 0 && status != 200)
		rc = s3_fail(s, "PUT", key, status, &k);
	free(k.buf);
	return rc;
}

static int s3_read(cairn_store *st, const cairn_hash *xorb, uint64_t off, size_t len, void *out)
{
	s3_store *s = of(st);
	char key[2048], range[64];
	sink k = {.buf = out, .cap = len};
	long status;
	int rc;

	if (len == 0) {
		uint64_t size;
		if ((rc = s3_size(st, xorb, &size)) != 0)
			return rc;
		return off <= size ? 0 : cairn__error_set(CAIRN_ECORRUPT, "xorb shorter than asked");
	}
	key_of(s, key, sizeof(key), xorb);
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	rc = perform(s, "GET", key, NULL, NULL, 0, range, &k, &status, NULL);
	if (rc != 0)
		return rc;
	if (status == 404)
		return cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s in the S3 store", key);
	if (status == 416)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb %s is shorter than %" PRIu64 " bytes",
					key, off + len);
	if (status != 206 && !(status == 200 && off == 0))
		return s3_fail(s, "GET", key, status, &k);
	if (k.over || k.len != len)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb %s: %zu bytes at %" PRIu64
							" came back as %zu",
					key, len, off, k.len);
	return 0;
}

static int s3_remove(cairn_store *st, const cairn_hash *xorb)
{
	s3_store *s = of(st);
	char key[2048];
	sink k = {.grow = true};
	long status;
	int rc;

	key_of(s, key, sizeof(key), xorb);
	rc = perform(s, "DELETE", key, NULL, NULL, 0, NULL, &k, &status, NULL);
	if (rc == 0 && status != 204 && status != 200 && status != 404)
		rc = s3_fail(s, "DELETE", key, status, &k);
	free(k.buf);
	return rc;
}

/* The text between <tag> and </tag> after *p (moved past it), or NULL. */
static const char *xml_next(const char **p, const char *end, const char *tag, size_t *n)
{
	char open[40], close[40];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(*p, (size_t)(end - *p), open, strlen(open));
	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (b == NULL)
		return NULL;
	*n = (size_t)(b - a);
	*p = b + strlen(close);
	return a;
}

/* "2026-11-27T05:12:01.000Z" as ns since the epoch (0 if it does not parse). */
static int64_t iso_ns(const char *s, size_t n)
{
	struct tm tm;
	char buf[40];

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (sscanf(buf, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000000;
}

static int s3_list(cairn_store *st, cairn_store_list_fn fn, void *ctx)
{
	s3_store *s = of(st);
	char *token = NULL;
	int rc = 0;

	for (;;) {
		char *query = NULL;
		size_t qn = 0;
		FILE *f = open_memstream(&query, &qn);
		sink k = {.grow = true};
		const char *p, *end, *v;
		size_t n;
		long status;
		bool truncated;

		if (f == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		/* the canonical order: continuation-token, list-type, max-keys, prefix */
		if (token) {
			fputs("continuation-token=", f);
			uri_encode(f, token, false);
			fputc('&', f);
		}
		fputs("list-type=2&max-keys=1000&prefix=", f);
		uri_encode(f, s->prefix, false);
		uri_encode(f, "xorbs/", false);
		if (fclose(f) != 0) {
			free(query);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		rc = perform(s, "GET", NULL, query, NULL, 0, NULL, &k, &status, NULL);
		free(query);
		if (rc == 0 && (status != 200 || k.over))
			rc = k.over ? cairn__error_set(CAIRN_EIO, "S3 store: a listing over 16 MiB")
				    : s3_fail(s, "LIST", s->bucket, status, &k);
		if (rc != 0) {
			free(k.buf);
			break;
		}
		p = (const char *)k.buf;
		end = p + k.len;
		truncated = false;
		{
			const char *q = p;
			if ((v = xml_next(&q, end, "IsTruncated", &n)) != NULL)
				truncated = n == 4 && memcmp(v, "true", 4) == 0;
		}
		free(token);
		token = NULL;
		if (truncated) {
			const char *q = p;
			if ((v = xml_next(&q, end, "NextContinuationToken", &n)) == NULL ||
			    (token = strndup(v, n)) == NULL) {
				free(k.buf);
				rc = cairn__error_set(CAIRN_EIO, "S3 store: a truncated listing "
								 "without a continuation token");
				break;
			}
		}
		while (rc == 0 && p < end) {
			const char *c = p, *kk, *sz, *lm;
			size_t kn = 0, sn = 0, ln = 0;
			size_t pl = strlen(s->prefix) + 6;
			char num[32];
			cairn_hash h;

			if ((v = xml_next(&c, end, "Contents", &n)) == NULL)
				break;
			p = c;
			c = v;
			end = v + n; /* within this <Contents> */
			kk = xml_next(&c, end, "Key", &kn);
			c = v;
			sz = xml_next(&c, end, "Size", &sn);
			c = v;
			lm = xml_next(&c, end, "LastModified", &ln);
			end = (const char *)k.buf + k.len;
			if (kk == NULL || sz == NULL || kn != pl + CAIRN_HASH_HEX_LEN ||
			    cairn_hash_from_hex(&h, kk + pl, CAIRN_HASH_HEX_LEN) != 0 ||
			    sn >= sizeof(num))
				continue; /* not one of ours */
			memcpy(num, sz, sn);
			num[sn] = '\0';
			rc = fn(ctx, &h, strtoull(num, NULL, 10), lm ? iso_ns(lm, ln) : 0);
		}
		free(k.buf);
		if (rc != 0 || token == NULL)
			break;
	}
	free(token);
	return rc;
}

static void s3_close(cairn_store *st)
{
	s3_store *s = of(st);

	if (s == NULL)
		return;
	free(s->endpoint);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->access_key);
	if (s->secret_key) {
		OPENSSL_cleanse(s->secret_key, strlen(s->secret_key));
		free(s->secret_key);
	}
	free(s->token);
	free(s);
}

int cairn_store_s3_open(cairn_store **out, const cairn_store_s3_config *cfg)
{
	s3_store *s;
	const char *h, *e;
	size_t pl;

	if (cfg == NULL || cfg->endpoint == NULL || cfg->bucket == NULL || *cfg->bucket == '\0' ||
	    cfg->access_key == NULL || cfg->secret_key == NULL)
		return cairn__error_set(CAIRN_EINVALID, "an S3 store needs an endpoint, a bucket and "
							"credentials");
	if (strncmp(cfg->endpoint, "http://", 7) == 0)
		h = cfg->endpoint + 7;
	else if (strncmp(cfg->endpoint, "https://", 8) == 0)
		h = cfg->endpoint + 8;
	else
		return cairn__error_set(CAIRN_EINVALID, "S3 endpoint '%s': http:// or https://",
					cfg->endpoint);
	if (strchr(cfg->bucket, '/') != NULL || strlen(cfg->bucket) > 63)
		return cairn__error_set(CAIRN_EINVALID, "bad S3 bucket name '%s'", cfg->bucket);
	if (cfg->prefix) {
		/* plain path segments only: nothing XML or URLs would escape, no "." or ".." */
		const char *p = cfg->prefix;
		if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-") !=
			    strlen(p) ||
		    strlen(p) > 512)
			return cairn__error_set(CAIRN_EINVALID,
						"S3 prefix '%s': letters, digits, '/', '_', '.', '-'",
						p);
		while (*p) {
			size_t n = strcspn(p, "/");
			if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
				return cairn__error_set(CAIRN_EINVALID,
							"S3 prefix '%s': no '.' or '..' segments",
							cfg->prefix);
			p += n + (p[n] == '/');
		}
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	e = h + strcspn(h, "/");
	s->endpoint = strndup(cfg->endpoint, (size_t)(e - cfg->endpoint));
	s->host = strndup(h, (size_t)(e - h));
	s->bucket = strdup(cfg->bucket);
	pl = cfg->prefix ? strlen(cfg->prefix) : 0;
	while (pl > 0 && cfg->prefix[pl - 1] == '/')
		pl--;
	if ((s->prefix = malloc(pl + 2)) != NULL)
		snprintf(s->prefix, pl + 2, "%.*s%s", (int)pl, pl ? cfg->prefix : "", pl ? "/" : "");
	s->region = strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
	s->access_key = strdup(cfg->access_key);
	s->secret_key = strdup(cfg->secret_key);
	s->token = cfg->session_token && *cfg->session_token ? strdup(cfg->session_token) : NULL;
	if (!s->endpoint || !s->host || !s->bucket || !s->prefix || !s->region || !s->access_key ||
	    !s->secret_key || (cfg->session_token && *cfg->session_token && !s->token)) {
		s3_close(&s->base);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	s->base.version = CAIRN_STORE_VERSION;
	s->base.put = s3_put;
	s->base.read = s3_read;
	s->base.size = s3_size;
	s->base.remove = s3_remove;
	s->base.list = s3_list;
	s->base.close = s3_close;
	*out = &s->base;
	return 0;
}

/* ---- opening by URL ----------------------------------------------------------------------------- */

/* "key = value" lines of an AWS-style credentials file (the first section, or [default]). */
static int read_credentials(const char *path, char **key, char **secret, char **token,
			    char **region)
{
	char line[1024];
	bool in = true, seen_section = false;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return cairn__error_set(CAIRN_EINVALID, "S3 credentials %s: %s", path,
					strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq, *v, *end;
		char **slot = NULL;

		p += strspn(p, " \t");
		end = p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
				   end[-1] == '\t'))
			*--end = '\0';
		if (*p == '\0' || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			/* the first section is used, or [default] wherever it is */
			in = !seen_section || strncmp(p, "[default]", 9) == 0;
			seen_section = true;
			continue;
		}
		if (!in || (eq = strchr(p, '=')) == NULL)
			continue;
		v = eq + 1 + strspn(eq + 1, " \t");
		while (eq > p && (eq[-1] == ' ' || eq[-1] == '\t'))
			eq--;
		*eq = '\0';
		if (strcmp(p, "aws_access_key_id") == 0 || strcmp(p, "access_key_id") == 0)
			slot = key;
		else if (strcmp(p, "aws_secret_access_key") == 0 ||
			 strcmp(p, "secret_access_key") == 0)
			slot = secret;
		else if (strcmp(p, "aws_session_token") == 0 || strcmp(p, "session_token") == 0)
			slot = token;
		else if (strcmp(p, "region") == 0)
			slot = region;
		if (slot) {
			free(*slot);
			*slot = strdup(v);
		}
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return 0;
}

static char *env_dup(const char *a, const char *b)
{
	const char *v = getenv(a);

	if ((v == NULL || *v == '\0') && b != NULL)
		v = getenv(b);
	return v && *v ? strdup(v) : NULL;
}

int cairn_store_open_url(cairn_store **out, const char *url, const char *endpoint,
			 const char *credentials_file)
{
	char *bucket = NULL, *key = NULL, *secret = NULL, *token = NULL, *region = NULL;
	char ep[512];
	const char *b, *slash;
	int rc;

	if (url == NULL || strncmp(url, "s3://", 5) != 0)
		return cairn__error_set(CAIRN_EINVALID, "store '%s': s3://BUCKET[/PREFIX] expected",
					url ? url : "");
	b = url + 5;
	slash = strchr(b, '/');
	bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
	if (credentials_file && *credentials_file)
		rc = read_credentials(credentials_file, &key, &secret, &token, &region);
	else
		rc = 0;
	if (rc == 0) {
		if (key == NULL && secret == NULL) {
			key = env_dup("AWS_ACCESS_KEY_ID", NULL);
			secret = env_dup("AWS_SECRET_ACCESS_KEY", NULL);
			if (token == NULL)
				token = env_dup("AWS_SESSION_TOKEN", NULL);
		}
		if (region == NULL)
			region = env_dup("AWS_REGION", "AWS_DEFAULT_REGION");
		if (key == NULL || secret == NULL)
			rc = cairn__error_set(CAIRN_EINVALID,
					      "store %s: no credentials (AWS_ACCESS_KEY_ID and "
					      "AWS_SECRET_ACCESS_KEY, or a credentials file)",
					      url);
	}
	if (rc == 0) {
		cairn_store_s3_config cfg = {NULL, bucket, slash ? slash + 1 : NULL, region, key,
					     secret, token};
		if (endpoint && *endpoint)
			cfg.endpoint = endpoint;
		else {
			snprintf(ep, sizeof(ep), "https://s3.%s.amazonaws.com",
				 region ? region : "us-east-1");
			cfg.endpoint = ep;
		}
		rc = bucket ? cairn_store_s3_open(out, &cfg)
			    : cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (secret)
		OPENSSL_cleanse(secret, strlen(secret));
	free(bucket);
	free(key);
	free(secret);
	free(token);
	free(region);
	return rc;
}
