/*
 * sigv4.c - request authentication for the S3 front (sigv4.h): AWS
 * Signature Version 4 (Authorization header, presigned query, aws-chunked
 * bodies with signed chunks or a checksum trailer) and Version 2 (header
 * and presigned query), written from AWS's S3 API reference.
 *
 * Everything here is a pure function of the request description the front
 * hands in; nothing is global but the CRC tables (built once). Signing
 * uses libcrypto (HMAC, SHA-256, SHA-1, MD5); comparisons of signatures use
 * CRYPTO_memcmp so their time does not depend on where they differ.
 *
 * Where clients differ from the letter of the spec, we accept what the
 * spec says and, besides, what the common clients demonstrably sign (the
 * path exactly as sent, SigV2 sub-resource values as sent): each extra form
 * names the same request, so accepting it costs no security, only an
 * HMAC per try on the failure path.
 */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALGO "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CANONICAL_MAX (256u * 1024) /* a canonical request larger than this is refused */
#define SIGNED_HEADERS_MAX 2048
#define LINE_MAX_ 4096              /* an aws-chunked header or trailer line */

/* ---- errors ---- */

static void clip(char *dst, size_t cap, const char *src, size_t n)
{
	if (n < cap) {
		memcpy(dst, src, n);
		dst[n] = '\0';
		return;
	}
	memcpy(dst, src, cap - 4);
	memcpy(dst + cap - 4, "...", 4);
}

static int fail(s3_err *err, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(s3_err *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->string_to_sign[0] = '\0';
	err->canonical_request[0] = '\0';
	return -1;
}

static int nomem(s3_err *err)
{
	return fail(err, 500, "InternalError", "out of memory");
}

/* ---- small string helpers ---- */

static char lc(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static bool is_sp(char c)
{
	return c == ' ' || c == '\t';
}

/* Python's str.split() whitespace, which is what SDKs collapse in header values. */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* s[0..n) equals the NUL-terminated b, ignoring ASCII case. */
static bool ci_eqn(const char *s, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] == '\0' || lc(s[i]) != lc(b[i]))
			return false;
	return b[i] == '\0';
}

static bool ci_eq(const char *a, const char *b)
{
	return ci_eqn(a, strlen(a), b);
}

static bool eqn(const char *s, size_t n, const char *b)
{
	return strlen(b) == n && memcmp(s, b, n) == 0;
}

static bool is_amz(const char *n, size_t l)
{
	return l >= 6 && ci_eqn(n, 6, "x-amz-");
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_ws(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ws((*s)[*n - 1]))
		(*n)--;
}

/* The first value of header name (any case), and how many there are. */
static const char *header(const s3_req *r, const char *name, size_t *count)
{
	const char *first = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->nheaders; i++) {
		if (r->headers[i].name && ci_eq(r->headers[i].name, name)) {
			if (first == NULL)
				first = r->headers[i].value ? r->headers[i].value : "";
			n++;
		}
	}
	if (count)
		*count = n;
	return first;
}

/* A lower-case hex string of exactly 2n digits into bytes. */
static bool unhex(uint8_t *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return true;
}

void s3_hex(char *out, const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[p[i] >> 4];
		out[2 * i + 1] = hexd[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3_base64(char *out, const uint8_t *p, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static long pct_decode(char *out, size_t cap, const char *s, size_t n, bool plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int h, l;
			if (n - i < 3 || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return -1;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o >= cap)
			return -1;
		out[o++] = c;
	}
	if (o < cap)
		out[o] = '\0';
	return (long)o;
}

long s3_url_decode(char *out, size_t cap, const char *s, size_t n)
{
	return pct_decode(out, cap, s, n, false);
}

long s3_query_decode(char *out, size_t cap, const char *s, size_t n)
{
	return pct_decode(out, cap, s, n, true);
}

/* ---- a growing buffer with a ceiling ---- */

enum { BUF_OK, BUF_NOMEM, BUF_TOOBIG };

typedef struct buf {
	char *p;
	size_t n, cap;
	int bad;
} buf;

static void buf_add(buf *b, const void *s, size_t n)
{
	if (b->bad || n == 0)
		return;
	if (n > CANONICAL_MAX - b->n) {
		b->bad = BUF_TOOBIG;
		return;
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *np;
		while (cap < b->n + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->bad = BUF_NOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_adds(buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static const char *buf_str(const buf *b)
{
	return b->p ? b->p : "";
}

static int buf_fail(const buf *b, s3_err *err)
{
	if (b->bad == BUF_NOMEM)
		return nomem(err);
	return fail(err, 400, "InvalidRequest",
		    "The request is too large to authenticate (canonical form over %u KiB).",
		    CANONICAL_MAX / 1024);
}

/* ---- AWS's UriEncode ---- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static void enc_byte(buf *b, unsigned char c)
{
	static const char hexu[] = "0123456789ABCDEF";
	char e[3] = {'%', hexu[c >> 4], hexu[c & 15]};

	if (unreserved(c))
		buf_add(b, &c, 1);
	else
		buf_add(b, e, 3);
}

/*
 * Decode s[0..n) and encode it again the AWS way: the string a correct
 * client signed, whatever (valid) encoding it put on the wire. A literal
 * '/' is kept when keep_slash (the path's separators) while an encoded
 * %2F, being part of a key, stays encoded; '+' is a space in a query.
 * False for a bad escape.
 */
static bool reencode(buf *b, const char *s, size_t n, bool keep_slash, bool plus_space)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int h, l;
			if (n - i < 3 || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return false;
			enc_byte(b, (unsigned char)(h << 4 | l));
			i += 2;
		} else if (c == '/' && keep_slash) {
			buf_add(b, "/", 1);
		} else if (c == '+' && plus_space) {
			buf_add(b, "%20", 3);
		} else {
			enc_byte(b, c);
		}
	}
	return true;
}

/* ---- the query string ---- */

typedef struct qparam {
	const char *name, *val;
	size_t nlen, vlen;
	bool has_eq;
} qparam;

/* The next name[=value] of a raw query; empty pieces ("a&&b") are skipped. */
static bool next_param(const char **cur, qparam *p)
{
	const char *s = *cur;

	while (*s == '&')
		s++;
	if (*s == '\0')
		return false;
	p->name = s;
	while (*s && *s != '&' && *s != '=')
		s++;
	p->nlen = (size_t)(s - p->name);
	p->has_eq = *s == '=';
	if (p->has_eq)
		s++;
	p->val = s;
	while (*s && *s != '&')
		s++;
	p->vlen = p->has_eq ? (size_t)(s - p->val) : 0;
	*cur = s;
	return true;
}

/* How many parameters are named name exactly (raw); *p gets the first. */
static int find_param(const char *q, const char *name, qparam *p)
{
	qparam t;
	int n = 0;

	while (next_param(&q, &t)) {
		if (eqn(t.name, t.nlen, name)) {
			if (n++ == 0)
				*p = t;
		}
	}
	return n;
}

/* A parameter's value decoded into out (cap bytes), '+' a space. */
static bool param_value(const qparam *p, char *out, size_t cap)
{
	long n = pct_decode(out, cap, p->val, p->vlen, true);

	return n >= 0 && (size_t)n < cap;
}

typedef struct qpair {
	const char *n, *v;
	size_t nl, vl, no, vo;
} qpair;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

static int cmp_qpair(const void *x, const void *y)
{
	const qpair *a = x, *b = y;
	int c = cmp_bytes(a->n, a->nl, b->n, b->nl);

	return c ? c : cmp_bytes(a->v, a->vl, b->v, b->vl);
}

/*
 * SigV4's canonical query: every parameter (but X-Amz-Signature when
 * presigned), name and value re-encoded, sorted by name then value, joined
 * as n=v with '&' (n= for no value).
 */
static int canonical_query(buf *out, const char *q, bool presigned, s3_err *err)
{
	const char *cur = q;
	qparam p;
	size_t count = 0, k = 0;
	qpair *pairs;
	buf arena = {0};
	int rc = 0;

	while (next_param(&cur, &p))
		count++;
	if (count == 0)
		return 0;
	if ((pairs = calloc(count, sizeof(*pairs))) == NULL)
		return nomem(err);
	cur = q;
	while (next_param(&cur, &p)) {
		if (presigned && eqn(p.name, p.nlen, "X-Amz-Signature"))
			continue;
		pairs[k].no = arena.n;
		if (!reencode(&arena, p.name, p.nlen, false, true))
			goto bad_escape;
		pairs[k].nl = arena.n - pairs[k].no;
		pairs[k].vo = arena.n;
		if (!reencode(&arena, p.val, p.vlen, false, true))
			goto bad_escape;
		pairs[k].vl = arena.n - pairs[k].vo;
		k++;
	}
	if (arena.bad) {
		rc = buf_fail(&arena, err);
		goto done;
	}
	for (size_t i = 0; i < k; i++) {
		pairs[i].n = buf_str(&arena) + pairs[i].no;
		pairs[i].v = buf_str(&arena) + pairs[i].vo;
	}
	if (k > 1)
		qsort(pairs, k, sizeof(*pairs), cmp_qpair);
	for (size_t i = 0; i < k; i++) {
		if (i)
			buf_add(out, "&", 1);
		buf_add(out, pairs[i].n, pairs[i].nl);
		buf_add(out, "=", 1);
		buf_add(out, pairs[i].v, pairs[i].vl);
	}
	goto done;
bad_escape:
	rc = fail(err, 400, "InvalidArgument", "The query string has an invalid percent-escape.");
done:
	free(pairs);
	free(arena.p);
	return rc;
}

/* ---- dates ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool civil_ok(int y, int mo, int d, int h, int mi, int s)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60)
		return false;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return false;
	return true;
}

static int64_t epoch_of(int y, int mo, int d, int h, int mi, int s)
{
	return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static int num(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* yyyymmddThhmmssZ, SigV4's form. */
static bool parse_iso(const char *s, int64_t *t)
{
	int y, mo, d, h, mi, sec;

	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !is_digits(s, 8) ||
	    !is_digits(s + 9, 6))
		return false;
	y = num(s, 4);
	mo = num(s + 4, 2);
	d = num(s + 6, 2);
	h = num(s + 9, 2);
	mi = num(s + 11, 2);
	sec = num(s + 13, 2);
	if (!civil_ok(y, mo, d, h, mi, sec))
		return false;
	*t = epoch_of(y, mo, d, h, mi, sec);
	return true;
}

/*
 * An HTTP date, "Fri, 24 May 2013 00:00:00 GMT" (RFC 1123; also with
 * "+0000" or "UTC" for the zone, as s3cmd writes x-amz-date, and without
 * the weekday).
 */
static bool parse_http_date(const char *s, int64_t *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = s, *comma = strchr(s, ',');
	int d, mo = 0, y, h, mi, sec;
	size_t n;

	if (comma)
		p = comma + 1;
	while (*p == ' ')
		p++;
	for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
		;
	if (n < 1 || n > 2 || p[n] != ' ')
		return false;
	d = num(p, n);
	p += n + 1;
	for (int i = 0; i < 12; i++)
		if (strncmp(p, months + 3 * i, 3) == 0)
			mo = i + 1;
	if (mo == 0 || p[3] != ' ')
		return false;
	p += 4;
	if (!is_digits(p, 4) || p[4] != ' ')
		return false;
	y = num(p, 4);
	p += 5;
	if (!is_digits(p, 2) || p[2] != ':' || !is_digits(p + 3, 2) || p[5] != ':' ||
	    !is_digits(p + 6, 2))
		return false;
	h = num(p, 2);
	mi = num(p + 3, 2);
	sec = num(p + 6, 2);
	p += 8;
	if (strcmp(p, " GMT") != 0 && strcmp(p, " UTC") != 0 && strcmp(p, " +0000") != 0 &&
	    strcmp(p, " Z") != 0)
		return false;
	if (!civil_ok(y, mo, d, h, mi, sec))
		return false;
	*t = epoch_of(y, mo, d, h, mi, sec);
	return true;
}

static void put2(char *o, int v)
{
	o[0] = (char)('0' + v / 10 % 10);
	o[1] = (char)('0' + v % 10);
}

static void fmt_iso(char out[17], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int y;

	gmtime_r(&tt, &tm);
	y = tm.tm_year + 1900;
	put2(out, y / 100);
	put2(out + 2, y % 100);
	put2(out + 4, tm.tm_mon + 1);
	put2(out + 6, tm.tm_mday);
	out[8] = 'T';
	put2(out + 9, tm.tm_hour);
	put2(out + 11, tm.tm_min);
	put2(out + 13, tm.tm_sec);
	out[15] = 'Z';
	out[16] = '\0';
}

/* ---- crypto ---- */

static bool hmac256(uint8_t out[32], const void *key, size_t klen, const void *msg, size_t mlen)
{
	unsigned int len = 32;

	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &len) != NULL && len == 32;
}

static bool sha256(uint8_t out[32], const void *p, size_t n)
{
	return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request") */
static bool signing_key(uint8_t out[32], const char *secret, const char *date8, const char *region)
{
	size_t sl = strlen(secret);
	char *k = malloc(sl + 5);
	uint8_t a[32], b[32];
	bool ok;

	if (k == NULL)
		return false;
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, sl + 1);
	ok = hmac256(a, k, sl + 4, date8, strlen(date8)) &&
	     hmac256(b, a, 32, region, strlen(region)) && hmac256(a, b, 32, "s3", 2) &&
	     hmac256(out, a, 32, "aws4_request", 12);
	OPENSSL_cleanse(k, sl + 4);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	free(k);
	return ok;
}

/* ---- what parsing finds ---- */

typedef struct parsed {
	/* SigV4 */
	char signed_headers[SIGNED_HEADERS_MAX];
	char signature[65];
	char date8[9];
	char region[65];
	char payload[80]; /* the canonical request's last line */
	/* SigV2 */
	char v2_sig[65];
	char v2_expires[24]; /* Expires as sent, for the string to sign */
} parsed;

/* The malformed-request code of each form. */
static const char *malformed_code(s3_auth_kind k)
{
	return k == S3_V4_QUERY || k == S3_V2_QUERY ? "AuthorizationQueryParametersError"
						    : "AuthorizationHeaderMalformed";
}

static bool key_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

/* AKID/yyyymmdd/region/s3/aws4_request, read from the right (a key may hold '/'). */
static int parse_credential(const char *c, size_t n, s3_auth_kind kind, s3_auth *a, parsed *p,
			    s3_err *err)
{
	const char *code = malformed_code(kind);
	size_t slash[4];
	int found = 0;
	const char *date, *region, *service, *term;
	size_t datel, regionl, servicel, terml;

	for (size_t i = n; i-- > 0 && found < 4;)
		if (c[i] == '/')
			slash[found++] = i;
	if (found < 4)
		return fail(err, 400, code,
			    "The Credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
	date = c + slash[3] + 1;
	datel = slash[2] - slash[3] - 1;
	region = c + slash[2] + 1;
	regionl = slash[1] - slash[2] - 1;
	service = c + slash[1] + 1;
	servicel = slash[0] - slash[1] - 1;
	term = c + slash[0] + 1;
	terml = n - slash[0] - 1;
	if (!key_ok(c, slash[3]))
		return fail(err, 400, code, "The Credential's access key is empty, too long or not printable.");
	if (datel != 8 || !is_digits(date, 8))
		return fail(err, 400, code, "The Credential's date \"%.*s\" is not YYYYMMDD.",
			    (int)(datel > 32 ? 32 : datel), date);
	if (regionl == 0 || regionl >= sizeof(p->region))
		return fail(err, 400, code, "The Credential's region is empty or too long.");
	for (size_t i = 0; i < regionl; i++)
		if ((unsigned char)region[i] <= ' ' || region[i] == 0x7f)
			return fail(err, 400, code, "The Credential's region is not printable.");
	if (!eqn(service, servicel, "s3"))
		return fail(err, 400, code,
			    "The Credential should be scoped to the correct service: 's3', not '%.*s'.",
			    (int)(servicel > 32 ? 32 : servicel), service);
	if (!eqn(term, terml, "aws4_request"))
		return fail(err, 400, code,
			    "The Credential should be scoped with a valid terminator: 'aws4_request'.");
	memcpy(a->access_key, c, slash[3]);
	a->access_key[slash[3]] = '\0';
	memcpy(p->date8, date, 8);
	p->date8[8] = '\0';
	memcpy(p->region, region, regionl);
	p->region[regionl] = '\0';
	snprintf(a->scope, sizeof(a->scope), "%s/%s/s3/aws4_request", p->date8, p->region);
	return 0;
}

/* SignedHeaders: ';'-separated names, non-empty, with host among them. */
static int parse_signed_headers(const char *s, size_t n, s3_auth_kind kind, parsed *p, s3_err *err)
{
	const char *code = malformed_code(kind);
	bool host = false;
	size_t start = 0;

	if (n == 0 || n >= sizeof(p->signed_headers))
		return fail(err, 400, code, "SignedHeaders is empty or longer than %d bytes.",
			    SIGNED_HEADERS_MAX - 1);
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == ';') {
			if (i == start)
				return fail(err, 400, code, "SignedHeaders has an empty name.");
			if (ci_eqn(s + start, i - start, "host"))
				host = true;
			start = i + 1;
		} else if ((unsigned char)s[i] <= ' ' || s[i] == ':' || s[i] == 0x7f) {
			return fail(err, 400, code, "SignedHeaders has a character a header name cannot.");
		}
	}
	if (!host)
		return fail(err, 400, code, "SignedHeaders must include the host header.");
	memcpy(p->signed_headers, s, n);
	p->signed_headers[n] = '\0';
	return 0;
}

static int parse_signature_hex(const char *s, size_t n, s3_auth_kind kind, parsed *p, s3_err *err)
{
	if (n != 64)
		return fail(err, 400, malformed_code(kind), "The Signature is not 64 hex digits.");
	for (size_t i = 0; i < 64; i++) {
		if (hexval(s[i]) < 0)
			return fail(err, 400, malformed_code(kind), "The Signature is not 64 hex digits.");
		p->signature[i] = lc(s[i]);
	}
	p->signature[64] = '\0';
	return 0;
}

/* ---- the payload mode ---- */

static int parse_payload(const s3_req *r, s3_auth *a, parsed *p, const char *v, s3_err *err)
{
	bool v4 = a->kind == S3_V4_HEADER || a->kind == S3_V4_QUERY;
	size_t n;
	const char *dl, *tr;
	size_t count;

	a->payload = S3_PAYLOAD_UNSIGNED;
	if (v == NULL) {
		snprintf(p->payload, sizeof(p->payload), "UNSIGNED-PAYLOAD");
		return 0;
	}
	n = strlen(v);
	trim(&v, &n);
	if (n >= sizeof(p->payload)) {
		if (!v4)
			return 0;
		return fail(err, 400, "InvalidArgument",
			    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256 in hex.");
	}
	memcpy(p->payload, v, n);
	p->payload[n] = '\0';
	if (n == 64 && unhex(a->payload_sha256, v, 32)) {
		a->payload = S3_PAYLOAD_SHA256;
		return 0;
	}
	if (strcmp(p->payload, "UNSIGNED-PAYLOAD") == 0)
		return 0;
	if (strcmp(p->payload, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0 ||
	    strcmp(p->payload, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0) {
		a->chunk_signed = true;
	} else if (strcmp(p->payload, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0) {
		a->chunk_signed = false;
	} else {
		/* only SigV4 signs it: V2 and anonymous requests may carry anything */
		if (!v4)
			return 0;
		return fail(err, 400, "InvalidArgument",
			    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256 in hex (not \"%.40s\").",
			    p->payload);
	}
	if (a->kind == S3_V4_QUERY)
		return fail(err, 400, "InvalidRequest",
			    "A presigned request cannot carry a streaming (aws-chunked) payload.");
	if (a->chunk_signed && a->kind != S3_V4_HEADER)
		return fail(err, 400, "InvalidRequest",
			    "Signed chunks (%s) need a request signed with SigV4's Authorization header.",
			    p->payload);
	a->payload = S3_PAYLOAD_STREAMING;
	dl = header(r, "x-amz-decoded-content-length", NULL);
	if (dl == NULL)
		return fail(err, 411, "MissingContentLength",
			    "A streaming upload needs x-amz-decoded-content-length.");
	n = strlen(dl);
	trim(&dl, &n);
	if (!is_digits(dl, n) || n > 19)
		return fail(err, 400, "InvalidArgument",
			    "x-amz-decoded-content-length is not a number of bytes.");
	a->decoded_length = strtoull(dl, NULL, 10);
	a->trailer[0] = '\0';
	tr = header(r, "x-amz-trailer", &count);
	if (tr != NULL) {
		s3_digest_kind k;
		n = strlen(tr);
		trim(&tr, &n);
		if (count > 1 || n >= sizeof(a->trailer))
			return fail(err, 400, "InvalidRequest",
				    "x-amz-trailer must name one x-amz-checksum-* header.");
		for (size_t i = 0; i < n; i++)
			a->trailer[i] = lc(tr[i]);
		a->trailer[n] = '\0';
		if (strncmp(a->trailer, "x-amz-checksum-", 15) != 0 ||
		    s3_digest_kind_by_name(&k, a->trailer) != 0 || k == S3_MD5)
			return fail(err, 400, "InvalidRequest",
				    "The trailer \"%s\" is not a checksum we support (crc32, crc32c, crc64nvme, sha1, sha256).",
				    a->trailer);
	}
	if (a->chunk_signed && strstr(p->payload, "TRAILER") && a->trailer[0] == '\0')
		return fail(err, 400, "InvalidRequest", "%s needs an x-amz-trailer header.", p->payload);
	if (strstr(p->payload, "TRAILER") == NULL && a->trailer[0] != '\0')
		return fail(err, 400, "InvalidRequest",
			    "x-amz-trailer needs a -TRAILER x-amz-content-sha256 value.");
	return 0;
}

/* ---- the four forms ---- */

/* The date of a header-signed request: x-amz-date, else Date. */
static int request_date(const s3_req *r, int64_t *t, s3_err *err)
{
	const char *d = header(r, "x-amz-date", NULL);
	bool amz = d != NULL;
	size_t n;
	char buf_[64];

	if (d == NULL)
		d = header(r, "date", NULL);
	if (d == NULL)
		return fail(err, 400, "MissingSecurityHeader",
			    "Your request was missing a required header: x-amz-date (or Date).");
	n = strlen(d);
	trim(&d, &n);
	if (n >= sizeof(buf_))
		goto bad;
	memcpy(buf_, d, n);
	buf_[n] = '\0';
	if (parse_iso(buf_, t) || parse_http_date(buf_, t))
		return 0;
bad:
	return fail(err, 403, "AccessDenied",
		    "AWS authentication requires a valid Date or x-amz-date header (%s does not parse).",
		    amz ? "x-amz-date" : "Date");
}

static int check_skew(const s3_req *r, int64_t t, s3_err *err)
{
	int64_t d = r->now - t;

	if (d > S3_MAX_SKEW_S || d < -S3_MAX_SKEW_S)
		return fail(err, 403, "RequestTimeTooSkewed",
			    "The difference between the request time and the current time is too large.");
	return 0;
}

static int parse_v4_header(const s3_req *r, const char *v, s3_auth *a, parsed *p, s3_err *err)
{
	const char *s = v + strlen(ALGO);
	const char *cred = NULL, *sh = NULL, *sig = NULL;
	size_t credn = 0, shn = 0, sign = 0;
	const char *code = "AuthorizationHeaderMalformed";
	int64_t t;

	if (*s != '\0' && !is_sp(*s) && *s != ',')
		return fail(err, 400, "InvalidArgument", "Unsupported Authorization Type");
	for (;;) {
		const char *k, *val;
		size_t kn, vn;
		while (is_sp(*s) || *s == ',')
			s++;
		if (*s == '\0')
			break;
		k = s;
		while (*s && *s != '=' && !is_sp(*s) && *s != ',')
			s++;
		kn = (size_t)(s - k);
		if (*s != '=')
			return fail(err, 400, code,
				    "The authorization header is malformed; expecting Credential=, SignedHeaders= and Signature= after %s.",
				    ALGO);
		val = ++s;
		while (*s && !is_sp(*s) && *s != ',')
			s++;
		vn = (size_t)(s - val);
		if (eqn(k, kn, "Credential") && cred == NULL) {
			cred = val;
			credn = vn;
		} else if (eqn(k, kn, "SignedHeaders") && sh == NULL) {
			sh = val;
			shn = vn;
		} else if (eqn(k, kn, "Signature") && sig == NULL) {
			sig = val;
			sign = vn;
		} else {
			return fail(err, 400, code,
				    "The authorization header is malformed; unexpected or repeated \"%.*s\".",
				    (int)(kn > 32 ? 32 : kn), k);
		}
	}
	if (cred == NULL || sh == NULL || sig == NULL)
		return fail(err, 400, code,
			    "The authorization header is malformed; it needs Credential, SignedHeaders and Signature.");
	if (parse_credential(cred, credn, a->kind, a, p, err) ||
	    parse_signed_headers(sh, shn, a->kind, p, err) ||
	    parse_signature_hex(sig, sign, a->kind, p, err) || request_date(r, &t, err))
		return -1;
	fmt_iso(a->amz_date, t);
	if (memcmp(a->amz_date, p->date8, 8) != 0)
		return fail(err, 400, code,
			    "Invalid credential date \"%s\": it is not the date of x-amz-date \"%s\".",
			    p->date8, a->amz_date);
	if (header(r, "x-amz-content-sha256", NULL) == NULL)
		return fail(err, 400, "InvalidRequest",
			    "Missing required header for this request: x-amz-content-sha256");
	if (parse_payload(r, a, p, header(r, "x-amz-content-sha256", NULL), err))
		return -1;
	return check_skew(r, t, err);
}

/* A presigned V4 parameter, present exactly once, decoded. */
static int v4_param(const s3_req *r, const char *name, char *out, size_t cap, s3_err *err)
{
	qparam qp;
	int n = find_param(r->raw_query, name, &qp);

	if (n == 0)
		return fail(err, 400, "AuthorizationQueryParametersError",
			    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters (%s is missing).",
			    name);
	if (n > 1)
		return fail(err, 400, "AuthorizationQueryParametersError", "%s appears more than once.",
			    name);
	if (!param_value(&qp, out, cap))
		return fail(err, 400, "AuthorizationQueryParametersError",
			    "%s is too long or has a bad percent-escape.", name);
	return 0;
}

static int parse_v4_query(const s3_req *r, s3_auth *a, parsed *p, s3_err *err)
{
	char algo[32], cred[256], date[32], expires[24], sh[SIGNED_HEADERS_MAX], sig[72];
	const char *code = "AuthorizationQueryParametersError";
	const char *payload = NULL;
	char payload_q[80];
	qparam qp;
	int64_t t, e;

	if (v4_param(r, "X-Amz-Algorithm", algo, sizeof(algo), err) ||
	    v4_param(r, "X-Amz-Credential", cred, sizeof(cred), err) ||
	    v4_param(r, "X-Amz-Date", date, sizeof(date), err) ||
	    v4_param(r, "X-Amz-Expires", expires, sizeof(expires), err) ||
	    v4_param(r, "X-Amz-SignedHeaders", sh, sizeof(sh), err) ||
	    v4_param(r, "X-Amz-Signature", sig, sizeof(sig), err))
		return -1;
	if (strcmp(algo, ALGO) != 0)
		return fail(err, 400, code, "X-Amz-Algorithm only supports \"%s\".", ALGO);
	if (parse_credential(cred, strlen(cred), a->kind, a, p, err) ||
	    parse_signed_headers(sh, strlen(sh), a->kind, p, err) ||
	    parse_signature_hex(sig, strlen(sig), a->kind, p, err))
		return -1;
	if (!parse_iso(date, &t))
		return fail(err, 400, code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".");
	memcpy(a->amz_date, date, 17);
	if (memcmp(a->amz_date, p->date8, 8) != 0)
		return fail(err, 400, code,
			    "Invalid credential date \"%s\": it is not the date of X-Amz-Date \"%s\".",
			    p->date8, a->amz_date);
	if (!is_digits(expires, strlen(expires)) || strlen(expires) > 7)
		return fail(err, 400, code, "X-Amz-Expires should be a number of seconds.");
	e = atol(expires);
	if (e < 1)
		return fail(err, 400, code, "X-Amz-Expires must be at least one second.");
	if (e > S3_MAX_PRESIGN_S)
		return fail(err, 400, code,
			    "X-Amz-Expires must be less than a week (in seconds) that is 604800.");
	a->expires = t + e;
	/* A payload hash is signed only if the client put one in the query or a
	 * (then signed) header; the presigned default is UNSIGNED-PAYLOAD. */
	if (find_param(r->raw_query, "X-Amz-Content-Sha256", &qp) > 0) {
		if (!param_value(&qp, payload_q, sizeof(payload_q)))
			return fail(err, 400, code, "X-Amz-Content-Sha256 is not a payload hash.");
		payload = payload_q;
	} else {
		payload = header(r, "x-amz-content-sha256", NULL);
	}
	if (parse_payload(r, a, p, payload, err))
		return -1;
	if (t - r->now > S3_MAX_SKEW_S)
		return fail(err, 403, "AccessDenied", "Request is not yet valid");
	if (r->now > a->expires)
		return fail(err, 403, "AccessDenied", "Request has expired");
	return 0;
}

static int parse_v2_header(const s3_req *r, const char *v, s3_auth *a, parsed *p, s3_err *err)
{
	const char *s = v + 4, *colon;
	size_t n;
	int64_t t;

	while (is_sp(*s))
		s++;
	n = strlen(s);
	trim(&s, &n);
	colon = NULL;
	for (size_t i = n; i-- > 0;)
		if (s[i] == ':') {
			colon = s + i;
			break;
		}
	if (colon == NULL || !key_ok(s, (size_t)(colon - s)) ||
	    (size_t)(s + n - colon - 1) == 0 || (size_t)(s + n - colon - 1) >= sizeof(p->v2_sig))
		return fail(err, 400, "AuthorizationHeaderMalformed",
			    "The authorization header is malformed; expecting \"AWS <AccessKeyId>:<Signature>\".");
	memcpy(a->access_key, s, (size_t)(colon - s));
	a->access_key[colon - s] = '\0';
	memcpy(p->v2_sig, colon + 1, (size_t)(s + n - colon - 1));
	p->v2_sig[s + n - colon - 1] = '\0';
	if (request_date(r, &t, err) ||
	    parse_payload(r, a, p, header(r, "x-amz-content-sha256", NULL), err))
		return -1;
	return check_skew(r, t, err);
}

/* A SigV2 query value: '+' and a space (what '+' became if the server
 * already turned it into one) are '+', as base64 and keys want them. */
static bool v2_value(const qparam *qp, char *out, size_t cap)
{
	long n = pct_decode(out, cap, qp->val, qp->vlen, false);

	if (n < 0 || (size_t)n >= cap)
		return false;
	for (long i = 0; i < n; i++)
		if (out[i] == ' ')
			out[i] = '+';
	return true;
}

static int parse_v2_query(const s3_req *r, s3_auth *a, parsed *p, s3_err *err)
{
	const char *need =
		"Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters";
	qparam k, s, e;
	char key[160];

	if (find_param(r->raw_query, "AWSAccessKeyId", &k) != 1 ||
	    find_param(r->raw_query, "Signature", &s) != 1 ||
	    find_param(r->raw_query, "Expires", &e) != 1)
		return fail(err, 403, "AccessDenied", "%s (each once).", need);
	if (!v2_value(&k, key, sizeof(key)) || !key_ok(key, strlen(key)))
		return fail(err, 400, "AuthorizationQueryParametersError",
			    "AWSAccessKeyId is empty, too long or not printable.");
	if (!v2_value(&s, p->v2_sig, sizeof(p->v2_sig)) || p->v2_sig[0] == '\0')
		return fail(err, 400, "AuthorizationQueryParametersError",
			    "Signature is empty, too long or badly escaped.");
	if (!param_value(&e, p->v2_expires, sizeof(p->v2_expires)) ||
	    !is_digits(p->v2_expires, strlen(p->v2_expires)) || strlen(p->v2_expires) > 18)
		return fail(err, 400, "AuthorizationQueryParametersError",
			    "Expires must be a time in seconds since the epoch.");
	strcpy(a->access_key, key);
	a->expires = atoll(p->v2_expires);
	if (parse_payload(r, a, p, header(r, "x-amz-content-sha256", NULL), err))
		return -1;
	if (r->now > a->expires)
		return fail(err, 403, "AccessDenied", "Request has expired");
	return 0;
}

/* Which scheme, then that scheme's parse. */
static int parse_all(const s3_req *r, s3_auth *a, parsed *p, s3_err *err)
{
	size_t nauth;
	const char *auth = header(r, "authorization", &nauth);
	const char *q = r->raw_query;
	qparam qp;
	bool v4q = find_param(q, "X-Amz-Algorithm", &qp) || find_param(q, "X-Amz-Credential", &qp) ||
		   find_param(q, "X-Amz-Signature", &qp);
	bool v2q = find_param(q, "AWSAccessKeyId", &qp) || find_param(q, "Signature", &qp);
	int schemes = (auth != NULL) + v4q + v2q;

	memset(a, 0, sizeof(*a));
	memset(p, 0, sizeof(*p));
	if (schemes > 1 || nauth > 1)
		return fail(err, 400, "InvalidArgument",
			    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.");
	if (auth != NULL) {
		while (is_sp(*auth))
			auth++;
		if (strncmp(auth, ALGO, strlen(ALGO)) == 0) {
			a->kind = S3_V4_HEADER;
			return parse_v4_header(r, auth, a, p, err);
		}
		if (strncmp(auth, "AWS ", 4) == 0) {
			a->kind = S3_V2_HEADER;
			return parse_v2_header(r, auth, a, p, err);
		}
		return fail(err, 400, "InvalidArgument", "Unsupported Authorization Type");
	}
	if (v4q) {
		a->kind = S3_V4_QUERY;
		return parse_v4_query(r, a, p, err);
	}
	if (v2q) {
		a->kind = S3_V2_QUERY;
		return parse_v2_query(r, a, p, err);
	}
	a->kind = S3_ANON;
	return parse_payload(r, a, p, header(r, "x-amz-content-sha256", NULL), err);
}

/* The request with "" for a missing path or query, so nothing below checks. */
static s3_req sane(const s3_req *r)
{
	s3_req s = *r;

	if (s.raw_path == NULL)
		s.raw_path = "";
	if (s.raw_query == NULL)
		s.raw_query = "";
	if (s.method == NULL)
		s.method = "";
	return s;
}

int s3_auth_parse(const s3_req *req, s3_auth *a, s3_err *err)
{
	s3_req r_ = sane(req), *r = &r_;
	parsed p;
	s3_auth t;
	int rc = parse_all(r, &t, &p, err);

	if (rc == 0)
		*a = t;
	return rc;
}

/* ---- SigV4 verification ---- */

/* The signed-header name list contains name (any case). */
static bool is_signed(const char *list, const char *name, size_t nl)
{
	const char *s = list;

	for (;;) {
		const char *e = strchr(s, ';');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == nl) {
			size_t i;
			for (i = 0; i < l && lc(s[i]) == lc(name[i]); i++)
				;
			if (i == l)
				return true;
		}
		if (e == NULL)
			return false;
		s = e + 1;
	}
}

/* name:value\n for each signed header: values trimmed, inner whitespace
 * runs made one space (unless !collapse: s3cmd's SigV4 keeps them),
 * repeated headers joined with ','. *runs tells whether a value had one. */
static void canonical_headers(buf *b, const s3_req *r, const char *list, bool collapse,
			      bool *runs)
{
	const char *s = list;

	for (;;) {
		const char *e = strchr(s, ';');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		bool first = true;

		buf_add(b, s, l);
		buf_add(b, ":", 1);
		for (size_t i = 0; i < r->nheaders; i++) {
			const char *hn = r->headers[i].name, *v = r->headers[i].value;
			size_t vn;
			bool space = false;
			if (hn == NULL || !ci_eqn(s, l, hn))
				continue;
			v = v ? v : "";
			vn = strlen(v);
			trim(&v, &vn);
			if (!first)
				buf_add(b, ",", 1);
			first = false;
			for (size_t k = 0; k < vn; k++) {
				if (is_ws(v[k]) && collapse) {
					*runs |= space;
					space = true;
					continue;
				}
				if (space)
					buf_add(b, " ", 1);
				space = false;
				buf_add(b, v + k, 1);
			}
		}
		buf_add(b, "\n", 1);
		if (e == NULL)
			return;
		s = e + 1;
	}
}

static int verify_v4(const s3_req *r, s3_auth *a, const parsed *p, const char *secret,
		     s3_err *err)
{
	buf query = {0}, uri = {0}, cr = {0}, first = {0};
	const char *uris[2];
	size_t urin[2];
	int nuris = 1, rc = -1;
	bool runs = false;
	uint8_t key[32], h[32], mac[32];
	char hexh[65], sig[65], sts[320], first_sts[320];
	bool match = false;

	/* S3's rule: an x-amz-* header that was not signed could change what the
	 * request does without the signature noticing. */
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *n = r->headers[i].name;
		if (n && is_amz(n, strlen(n)) && !is_signed(p->signed_headers, n, strlen(n)))
			return fail(err, 403, "AccessDenied",
				    "There were headers present in the request which were not signed: %.100s",
				    n);
	}
	if (!reencode(&uri, r->raw_path, strlen(r->raw_path), true, false)) {
		rc = fail(err, 400, "InvalidURI", "Couldn't parse the specified URI (bad percent-escape).");
		goto done;
	}
	if (uri.n == 0)
		buf_add(&uri, "/", 1);
	if (canonical_query(&query, r->raw_query, a->kind == S3_V4_QUERY, err))
		goto done;
	if (uri.bad || query.bad) {
		rc = buf_fail(uri.bad ? &uri : &query, err);
		goto done;
	}
	uris[0] = buf_str(&uri);
	urin[0] = uri.n;
	/* a client that signed the path exactly as it sent it */
	if (r->raw_path[0] && strcmp(r->raw_path, uris[0]) != 0) {
		uris[1] = r->raw_path;
		urin[1] = strlen(r->raw_path);
		nuris = 2;
	}
	if (!signing_key(key, secret, p->date8, p->region)) {
		rc = nomem(err);
		goto done;
	}
	/* the spec's form first; then the path as sent; then, only if a signed
	 * value has a run of spaces, both again with the run kept */
	for (int i = 0; i < 2 * nuris && !match; i++) {
		bool collapse = i < nuris;

		if (!collapse && !runs)
			break;
		cr.n = 0;
		if (cr.p)
			cr.p[0] = '\0';
		buf_adds(&cr, r->method);
		buf_add(&cr, "\n", 1);
		buf_add(&cr, uris[i % nuris], urin[i % nuris]);
		buf_add(&cr, "\n", 1);
		buf_add(&cr, buf_str(&query), query.n);
		buf_add(&cr, "\n", 1);
		canonical_headers(&cr, r, p->signed_headers, collapse, &runs);
		buf_add(&cr, "\n", 1);
		buf_adds(&cr, p->signed_headers);
		buf_add(&cr, "\n", 1);
		buf_adds(&cr, p->payload);
		if (cr.bad) {
			rc = buf_fail(&cr, err);
			goto done;
		}
		if (!sha256(h, cr.p, cr.n)) {
			rc = nomem(err);
			goto done;
		}
		s3_hex(hexh, h, 32);
		snprintf(sts, sizeof(sts), ALGO "\n%s\n%s\n%s", a->amz_date, a->scope, hexh);
		if (!hmac256(mac, key, 32, sts, strlen(sts))) {
			rc = nomem(err);
			goto done;
		}
		s3_hex(sig, mac, 32);
		match = CRYPTO_memcmp(sig, p->signature, 64) == 0;
		if (i == 0) {
			/* the spec's form is the one to show if nothing matches */
			memcpy(first_sts, sts, sizeof(sts));
			first = cr;
			cr = (buf){0};
		}
	}
	if (!match) {
		char shown[200];
		size_t o = 0;

		/* the string to sign on one line, its newlines as \n */
		for (const char *c = first_sts; *c && o + 3 < sizeof(shown); c++) {
			if (*c == '\n') {
				shown[o++] = '\\';
				shown[o++] = 'n';
			} else {
				shown[o++] = *c;
			}
		}
		shown[o] = '\0';
		fail(err, 403, "SignatureDoesNotMatch",
		     "The signature does not match (check the secret key and signing method); we signed: %s",
		     shown);
		if (err) {
			clip(err->canonical_request, sizeof(err->canonical_request), buf_str(&first),
			     first.n);
			clip(err->string_to_sign, sizeof(err->string_to_sign), first_sts,
			     strlen(first_sts));
		}
		goto done;
	}
	memcpy(a->signing_key, key, 32);
	memcpy(a->seed_signature, p->signature, 65);
	rc = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	free(query.p);
	free(uri.p);
	free(cr.p);
	free(first.p);
	return rc;
}

/* ---- SigV2 verification ---- */

/* Sub-resources S3 signs in SigV2 (botocore's list: AWS's documented ones
 * and those added since), and the response-* overrides. */
static const char *const SUBRESOURCES[] = {
	"accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
	"lifecycle", "location", "logging", "metrics", "notification", "object-lock",
	"partNumber", "policy", "replication", "requestPayment", "response-cache-control",
	"response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires", "restore",
	"select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
	"versionId", "versioning", "versions", "website",
};

static bool is_subresource(const char *n, size_t l)
{
	for (size_t i = 0; i < sizeof(SUBRESOURCES) / sizeof(SUBRESOURCES[0]); i++)
		if (eqn(n, l, SUBRESOURCES[i]))
			return true;
	return false;
}

typedef struct amzh {
	const char *name, *val;
	size_t nl, vl;
	size_t seq;
} amzh;

/* x-amz-* names compare without case; equal names keep their order. */
static int cmp_amz_name(const amzh *a, const amzh *b)
{
	size_t n = a->nl < b->nl ? a->nl : b->nl;

	for (size_t i = 0; i < n; i++) {
		unsigned char ca = (unsigned char)lc(a->name[i]), cb = (unsigned char)lc(b->name[i]);
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return a->nl < b->nl ? -1 : a->nl > b->nl;
}

static int cmp_amzh(const void *x, const void *y)
{
	const amzh *a = x, *b = y;
	int c = cmp_amz_name(a, b);

	return c ? c : (a->seq < b->seq ? -1 : a->seq > b->seq);
}

typedef struct subres {
	const char *n, *v;
	size_t nl, vl, seq;
	bool has_eq;
} subres;

static int cmp_subres(const void *x, const void *y)
{
	const subres *a = x, *b = y;
	int c = cmp_bytes(a->n, a->nl, b->n, b->nl);

	return c ? c : (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/* Percent-decode s[0..n) onto b. False for a bad escape. */
static bool add_decoded(buf *b, const char *s, size_t n, bool plus_space)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int h, l;
			if (n - i < 3 || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return false;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		buf_add(b, &c, 1);
	}
	return true;
}

/* Content-MD5 or Content-Type: the header, or with a presigned URL the
 * parameter botocore moves it to; trimmed. */
static bool v2_std(buf *b, const s3_req *r, const char *name, bool query)
{
	const char *v = header(r, name, NULL);
	size_t n;
	qparam qp;

	if (v == NULL && query && find_param(r->raw_query, name, &qp) == 1)
		return add_decoded(b, qp.val, qp.vlen, true);
	if (v == NULL)
		return true;
	n = strlen(v);
	trim(&v, &n);
	buf_add(b, v, n);
	return true;
}

/*
 * SigV2's string to sign: METHOD, Content-MD5, Content-Type, the date (or
 * Expires), the x-amz-* headers (lower-cased, sorted, repeats joined with
 * ','; with a presigned URL, x-amz-* parameters count as headers), and the
 * resource: the path and the sub-resources, sorted by name, their values
 * decoded (the spec, botocore) or as sent (s3cmd). The path as sent
 * (V2_PATH_RAW), re-encoded (V2_PATH_CANONICAL), or a bare bucket with its
 * slash (V2_PATH_BUCKET_SLASH: botocore and s3cmd sign "/bkt/" for a
 * request to "/bkt").
 */
enum { V2_PATH_RAW, V2_PATH_CANONICAL, V2_PATH_BUCKET_SLASH, V2_PATH_FORMS };

static int v2_string(buf *b, const s3_req *r, const parsed *p, bool query, int path_form,
		     bool values_raw, s3_err *err)
{
	const char *q = r->raw_query, *cur;
	size_t na = 0, ns = 0, k = 0, ql = strlen(q), used = 0;
	amzh *ah = NULL;
	subres *sr = NULL;
	char *dec = NULL; /* decoded x-amz-* parameter values: never longer than the query */
	qparam qp;
	int rc = 0;

	buf_adds(b, r->method);
	buf_add(b, "\n", 1);
	if (!v2_std(b, r, "content-md5", query))
		goto bad_escape;
	buf_add(b, "\n", 1);
	if (!v2_std(b, r, "content-type", query))
		goto bad_escape;
	buf_add(b, "\n", 1);
	/* with x-amz-date the Date line is empty, whatever Date says */
	if (query)
		buf_adds(b, p->v2_expires);
	else if (header(r, "x-amz-date", NULL) == NULL)
		v2_std(b, r, "date", false);
	buf_add(b, "\n", 1);

	for (size_t i = 0; i < r->nheaders; i++)
		if (r->headers[i].name && is_amz(r->headers[i].name, strlen(r->headers[i].name)))
			na++;
	for (cur = q; next_param(&cur, &qp);) {
		if (query && is_amz(qp.name, qp.nlen))
			na++;
		if (is_subresource(qp.name, qp.nlen))
			ns++;
	}
	if ((na && (ah = calloc(na, sizeof(*ah))) == NULL) ||
	    (ns && (sr = calloc(ns, sizeof(*sr))) == NULL) || (dec = malloc(ql + 1)) == NULL) {
		rc = nomem(err);
		goto done;
	}
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *n = r->headers[i].name, *v;
		size_t vl;
		if (n == NULL || !is_amz(n, strlen(n)))
			continue;
		v = r->headers[i].value ? r->headers[i].value : "";
		vl = strlen(v);
		trim(&v, &vl);
		ah[k] = (amzh){n, v, strlen(n), vl, k};
		k++;
	}
	for (cur = q; query && next_param(&cur, &qp);) {
		long dl;
		if (!is_amz(qp.name, qp.nlen))
			continue;
		if ((dl = pct_decode(dec + used, ql + 1 - used, qp.val, qp.vlen, false)) < 0)
			goto bad_escape;
		ah[k] = (amzh){qp.name, dec + used, qp.nlen, (size_t)dl, k};
		used += (size_t)dl;
		k++;
	}
	if (k > 1)
		qsort(ah, k, sizeof(*ah), cmp_amzh);
	for (size_t i = 0, j; i < k; i = j) {
		for (size_t c = 0; c < ah[i].nl; c++) {
			char ch = lc(ah[i].name[c]);
			buf_add(b, &ch, 1);
		}
		buf_add(b, ":", 1);
		for (j = i; j < k && cmp_amz_name(&ah[j], &ah[i]) == 0; j++) {
			if (j > i)
				buf_add(b, ",", 1);
			buf_add(b, ah[j].val, ah[j].vl);
		}
		buf_add(b, "\n", 1);
	}

	if (path_form != V2_PATH_CANONICAL) {
		buf_adds(b, r->raw_path);
		if (path_form == V2_PATH_BUCKET_SLASH)
			buf_add(b, "/", 1);
	} else if (!reencode(b, r->raw_path, strlen(r->raw_path), true, false)) {
		goto bad_escape;
	}
	k = 0;
	for (cur = q; next_param(&cur, &qp);) {
		if (!is_subresource(qp.name, qp.nlen))
			continue;
		sr[k] = (subres){qp.name, qp.val, qp.nlen, qp.vlen, k, qp.has_eq};
		k++;
	}
	if (k > 1)
		qsort(sr, k, sizeof(*sr), cmp_subres);
	for (size_t i = 0; i < k; i++) {
		buf_add(b, i ? "&" : "?", 1);
		buf_add(b, sr[i].n, sr[i].nl);
		if (!sr[i].has_eq)
			continue;
		buf_add(b, "=", 1);
		if (values_raw)
			buf_add(b, sr[i].v, sr[i].vl);
		else if (!add_decoded(b, sr[i].v, sr[i].vl, true))
			goto bad_escape;
	}
	if (b->bad)
		rc = buf_fail(b, err);
	goto done;
bad_escape:
	rc = fail(err, 400, "InvalidURI", "Couldn't parse the specified URI (bad percent-escape).");
done:
	free(ah);
	free(sr);
	free(dec);
	return rc;
}

static int verify_v2(const s3_req *r, const parsed *p, const char *secret, s3_err *err,
		     bool query)
{
	enum { TRIES = 2 * V2_PATH_FORMS };
	buf tries[TRIES] = {{0}};
	const char *path = r->raw_path;
	bool bare_bucket = path[0] == '/' && path[1] != '\0' && strchr(path + 1, '/') == NULL;
	int rc = -1;
	bool match = false;

	for (int i = 0; i < TRIES && !match; i++) {
		int form = i % V2_PATH_FORMS;
		uint8_t mac[20];
		unsigned int ml = sizeof(mac);
		char sig[32];
		bool dup = false;

		if (form == V2_PATH_BUCKET_SLASH && !bare_bucket)
			continue;
		if (v2_string(&tries[i], r, p, query, form, i >= V2_PATH_FORMS, err))
			goto done;
		for (int j = 0; j < i; j++)
			dup |= tries[j].n == tries[i].n && tries[j].p &&
			       memcmp(tries[j].p, tries[i].p, tries[i].n) == 0;
		if (dup)
			continue;
		if (HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)buf_str(&tries[i]),
			 tries[i].n, mac, &ml) == NULL) {
			rc = nomem(err);
			goto done;
		}
		s3_base64(sig, mac, sizeof(mac));
		match = strlen(p->v2_sig) == strlen(sig) &&
			CRYPTO_memcmp(sig, p->v2_sig, strlen(sig)) == 0;
	}
	if (!match) {
		char shown[200];
		size_t o = 0;

		/* what the spec signs, on one line, its newlines as \n */
		for (const char *c = buf_str(&tries[V2_PATH_CANONICAL]); *c && o + 3 < 120; c++) {
			if (*c == '\n') {
				shown[o++] = '\\';
				shown[o++] = 'n';
			} else {
				shown[o++] = *c;
			}
		}
		shown[o] = '\0';
		fail(err, 403, "SignatureDoesNotMatch",
		     "The signature does not match (check the secret key and signing method); we signed: %s%s",
		     shown, o + 3 >= 120 ? "..." : "");
		if (err)
			clip(err->string_to_sign, sizeof(err->string_to_sign),
			     buf_str(&tries[V2_PATH_CANONICAL]), tries[V2_PATH_CANONICAL].n);
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < TRIES; i++)
		free(tries[i].p);
	return rc;
}

int s3_auth_verify(const s3_req *req, s3_auth *a, const char *secret, s3_err *err)
{
	s3_req r_ = sane(req), *r = &r_;
	parsed p;
	s3_auth t;
	int rc;

	if (parse_all(r, &t, &p, err))
		return -1;
	if (t.kind == S3_ANON) {
		*a = t;
		return 0;
	}
	if (secret == NULL)
		return fail(err, 403, "SignatureDoesNotMatch", "No secret for this access key.");
	if (t.kind == S3_V4_HEADER || t.kind == S3_V4_QUERY)
		rc = verify_v4(r, &t, &p, secret, err);
	else
		rc = verify_v2(r, &p, secret, err, t.kind == S3_V2_QUERY);
	if (rc == 0)
		*a = t;
	OPENSSL_cleanse(&t, sizeof(t));
	return rc;
}

/* ---- digests ---- */

struct s3_digest {
	s3_digest_kind kind;
	EVP_MD_CTX *md; /* MD5, SHA-1, SHA-256 */
	uint64_t crc;   /* the CRCs, reflected, before the final complement */
};

/* Reflected table CRCs: CRC-32 (zlib's), CRC-32C (Castagnoli) and
 * CRC-64/NVME, the polynomials S3's x-amz-checksum-* headers name. */
static uint32_t crc32_tab[256], crc32c_tab[256];
static uint64_t crc64_tab[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t a = i, b = i;
		uint64_t c = i;
		for (int k = 0; k < 8; k++) {
			a = (a & 1) ? (a >> 1) ^ 0xEDB88320u : a >> 1;
			b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
			c = (c & 1) ? (c >> 1) ^ UINT64_C(0x9A6C9329AC4BC9B5) : c >> 1;
		}
		crc32_tab[i] = a;
		crc32c_tab[i] = b;
		crc64_tab[i] = c;
	}
}

static const EVP_MD *md_of(s3_digest_kind k)
{
	switch (k) {
	case S3_MD5:
		return EVP_md5();
	case S3_SHA256:
		return EVP_sha256();
	case S3_SHA1:
		return EVP_sha1();
	default:
		return NULL;
	}
}

size_t s3_digest_len(s3_digest_kind kind)
{
	switch (kind) {
	case S3_MD5:
		return 16;
	case S3_SHA256:
		return 32;
	case S3_SHA1:
		return 20;
	case S3_CRC32:
	case S3_CRC32C:
		return 4;
	case S3_CRC64NVME:
		return 8;
	}
	return 0;
}

int s3_digest_kind_by_name(s3_digest_kind *out, const char *name)
{
	static const struct {
		const char *name;
		s3_digest_kind kind;
	} names[] = {
		{"crc32", S3_CRC32}, {"crc32c", S3_CRC32C}, {"crc64nvme", S3_CRC64NVME},
		{"sha1", S3_SHA1},   {"sha256", S3_SHA256},
	};

	if (strlen(name) > 15 && ci_eqn(name, 15, "x-amz-checksum-"))
		name += 15;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ci_eq(name, names[i].name)) {
			*out = names[i].kind;
			return 0;
		}
	}
	return -1;
}

s3_digest *s3_digest_new(s3_digest_kind kind)
{
	s3_digest *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->kind = kind;
	d->crc = ~UINT64_C(0);
	if (md_of(kind)) {
		if ((d->md = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(d->md, md_of(kind), NULL) != 1) {
			s3_digest_free(d);
			return NULL;
		}
	} else if (pthread_once(&crc_once, crc_init) != 0) {
		free(d);
		return NULL;
	}
	return d;
}

void s3_digest_update(s3_digest *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t c = d->crc;

	switch (d->kind) {
	case S3_CRC32:
		for (size_t i = 0; i < n; i++)
			c = crc32_tab[(c ^ b[i]) & 0xff] ^ ((c & 0xffffffffu) >> 8);
		break;
	case S3_CRC32C:
		for (size_t i = 0; i < n; i++)
			c = crc32c_tab[(c ^ b[i]) & 0xff] ^ ((c & 0xffffffffu) >> 8);
		break;
	case S3_CRC64NVME:
		for (size_t i = 0; i < n; i++)
			c = crc64_tab[(c ^ b[i]) & 0xff] ^ (c >> 8);
		break;
	default:
		if (n)
			EVP_DigestUpdate(d->md, p, n);
		return;
	}
	d->crc = c;
}

void s3_digest_final(s3_digest *d, uint8_t *out)
{
	size_t len = s3_digest_len(d->kind);

	if (d->md) {
		EVP_DigestFinal_ex(d->md, out, NULL);
		EVP_DigestInit_ex(d->md, md_of(d->kind), NULL);
		return;
	}
	/* big endian, as S3 (and botocore) write the CRCs */
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(~d->crc >> (8 * (len - 1 - i)));
	d->crc = ~UINT64_C(0);
}

void s3_digest_free(s3_digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->md);
	free(d);
}

/* ---- aws-chunked ---- */

enum cstate { C_HEADER, C_DATA, C_DATA_CRLF, C_TRAILER, C_DONE, C_FAILED };

struct s3_chunked {
	enum cstate st;
	bool chunk_signed;
	uint8_t key[32];
	char date[17];
	char scope[160];
	char prev[65];          /* the chain: the last signature that held */
	char want[65];          /* the signature the current chunk claims */
	uint64_t expect, total; /* x-amz-decoded-content-length, and so far */
	uint64_t left;          /* of the current chunk's data */
	EVP_MD_CTX *sha;        /* the current chunk's data (signed chunks) */
	s3_digest *check;       /* every byte, for the trailer's checksum */
	char trailer[32];       /* the announced trailer ("" for none) */
	char trailer_value[96];
	char trailer_canon[160]; /* "name:value\n", what the trailer signature signs */
	bool trailer_got, trailer_sig_got, blank_skipped;
	int crlf;               /* bytes of the CRLF after a chunk's data seen */
	bool cr;                /* the current line's '\r' came */
	size_t line_len;
	char line[LINE_MAX_];
	s3_err err;             /* the error that stuck */
};

s3_chunked *s3_chunked_new(const s3_auth *a)
{
	s3_chunked *c = calloc(1, sizeof(*c));
	s3_digest_kind k;

	if (c == NULL)
		return NULL;
	c->chunk_signed = a->chunk_signed;
	memcpy(c->key, a->signing_key, sizeof(c->key));
	memcpy(c->date, a->amz_date, sizeof(c->date));
	memcpy(c->scope, a->scope, sizeof(c->scope));
	memcpy(c->prev, a->seed_signature, sizeof(c->prev));
	c->date[sizeof(c->date) - 1] = c->scope[sizeof(c->scope) - 1] = c->prev[64] = '\0';
	c->expect = a->decoded_length;
	memcpy(c->trailer, a->trailer, sizeof(c->trailer));
	c->trailer[sizeof(c->trailer) - 1] = '\0';
	if (c->chunk_signed && (c->sha = EVP_MD_CTX_new()) == NULL)
		goto oom;
	if (c->trailer[0] && (s3_digest_kind_by_name(&k, c->trailer) != 0 ||
			      (c->check = s3_digest_new(k)) == NULL))
		goto oom;
	return c;
oom:
	s3_chunked_free(c);
	return NULL;
}

void s3_chunked_free(s3_chunked *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->sha);
	s3_digest_free(c->check);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

const char *s3_chunked_trailer(const s3_chunked *c)
{
	return c->trailer_got ? c->trailer_value : NULL;
}

/* The error sticks: later calls get it again. */
static int cfail(s3_chunked *c, s3_err *err, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int cfail(s3_chunked *c, s3_err *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	c->st = C_FAILED;
	c->err.status = status;
	c->err.code = code;
	va_start(ap, fmt);
	vsnprintf(c->err.message, sizeof(c->err.message), fmt, ap);
	va_end(ap);
	c->err.string_to_sign[0] = c->err.canonical_request[0] = '\0';
	if (err)
		*err = c->err;
	return -1;
}

static int stuck(const s3_chunked *c, s3_err *err)
{
	if (err)
		*err = c->err;
	return -1;
}

/* HMAC(key, algo \n date \n scope \n prev \n rest) in hex, compared with want. */
static int chain_check(s3_chunked *c, s3_err *err, const char *algo, const char *rest,
		       const char *want, const char *what)
{
	char sts[512], sig[65];
	uint8_t mac[32];

	snprintf(sts, sizeof(sts), "%s\n%s\n%s\n%s\n%s", algo, c->date, c->scope, c->prev, rest);
	if (!hmac256(mac, c->key, 32, sts, strlen(sts)))
		return cfail(c, err, 500, "InternalError", "out of memory");
	s3_hex(sig, mac, 32);
	if (CRYPTO_memcmp(sig, want, 64) != 0) {
		cfail(c, err, 403, "SignatureDoesNotMatch",
		      "The %s signature does not match (the chunk after %llu bytes).", what,
		      (unsigned long long)c->total);
		clip(c->err.string_to_sign, sizeof(c->err.string_to_sign), sts, strlen(sts));
		if (err)
			*err = c->err;
		return -1;
	}
	memcpy(c->prev, sig, sizeof(c->prev));
	return 0;
}

/* A chunk's data ended (or the final chunk came): its signature. */
static int chunk_done(s3_chunked *c, s3_err *err, bool empty)
{
	uint8_t h[32];
	char rest[64 + 1 + 65];

	if (!c->chunk_signed)
		return 0;
	if (empty ? !sha256(h, "", 0) : EVP_DigestFinal_ex(c->sha, h, NULL) != 1)
		return cfail(c, err, 500, "InternalError", "out of memory");
	memcpy(rest, EMPTY_SHA256 "\n", 65);
	s3_hex(rest + 65, h, 32);
	return chain_check(c, err, "AWS4-HMAC-SHA256-PAYLOAD", rest, c->want, "chunk");
}

/* "hex-size;chunk-signature=SIG" (signed) or "hex-size[;ext]" (unsigned). */
static int header_line(s3_chunked *c, s3_err *err)
{
	const char *l = c->line;
	size_t len = c->line_len, i = 0;
	uint64_t size = 0;
	const char *sigkey = ";chunk-signature=";

	for (; i < len && hexval(l[i]) >= 0; i++) {
		if (i == 16)
			return cfail(c, err, 400, "InvalidArgument", "A chunk size has too many digits.");
		size = size * 16 + (uint64_t)hexval(l[i]);
	}
	if (i == 0)
		return cfail(c, err, 400, "InvalidArgument",
			     "Malformed aws-chunked body: a chunk header does not start with a hex size.");
	if (c->chunk_signed) {
		if (len - i != strlen(sigkey) + 64 || memcmp(l + i, sigkey, strlen(sigkey)) != 0)
			return cfail(c, err, 400, "InvalidArgument",
				     "Malformed aws-chunked body: a chunk header needs ;chunk-signature= and 64 hex digits.");
		for (size_t k = 0; k < 64; k++) {
			char h = l[i + strlen(sigkey) + k];
			if (hexval(h) < 0)
				return cfail(c, err, 400, "InvalidArgument",
					     "Malformed aws-chunked body: a chunk signature is not hex.");
			c->want[k] = lc(h);
		}
		c->want[64] = '\0';
	} else if (i < len && l[i] != ';') {
		return cfail(c, err, 400, "InvalidArgument",
			     "Malformed aws-chunked body: unexpected bytes after a chunk size.");
	}
	if (size > c->expect - c->total)
		return cfail(c, err, 400, "InvalidArgument",
			     "The chunks add up to more than x-amz-decoded-content-length (%llu bytes).",
			     (unsigned long long)c->expect);
	if (size == 0) {
		if (c->total != c->expect)
			return cfail(c, err, 400, "IncompleteBody",
				     "You did not provide the number of bytes specified by x-amz-decoded-content-length (%llu of %llu).",
				     (unsigned long long)c->total, (unsigned long long)c->expect);
		c->st = C_TRAILER;
		return chunk_done(c, err, true);
	}
	if (c->chunk_signed && EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL) != 1)
		return cfail(c, err, 500, "InternalError", "out of memory");
	c->left = size;
	c->st = C_DATA;
	return 0;
}

static bool trailer_complete(const s3_chunked *c)
{
	return c->trailer[0] == '\0' || (c->trailer_got && (!c->chunk_signed || c->trailer_sig_got));
}

/* After the final chunk: the checksum, its signature, then an empty line. */
static int trailer_line(s3_chunked *c, s3_err *err)
{
	const char *l = c->line, *colon, *v;
	size_t len = c->line_len, nl, vl;

	if (len == 0) {
		/* AWS's own example puts an empty line between the final chunk
		 * and its trailer: one is allowed there. */
		if (c->trailer[0] && !c->trailer_got && !c->blank_skipped) {
			c->blank_skipped = true;
			return 0;
		}
		if (!trailer_complete(c))
			return cfail(c, err, 400, "IncompleteBody",
				     "The body ended without the %s trailer x-amz-trailer announced%s.",
				     c->trailer, c->trailer_got ? " (its x-amz-trailer-signature)" : "");
		c->st = C_DONE;
		return 0;
	}
	if ((colon = memchr(l, ':', len)) == NULL)
		return cfail(c, err, 400, "InvalidArgument",
			     "Malformed aws-chunked body: a trailer line is not name:value.");
	nl = (size_t)(colon - l);
	v = colon + 1;
	vl = len - nl - 1;
	trim(&v, &vl);
	if (c->trailer[0] && !c->trailer_got && ci_eqn(l, nl, c->trailer)) {
		uint8_t d[32];
		char mine[48];
		s3_digest_kind k;

		if (vl >= sizeof(c->trailer_value))
			return cfail(c, err, 400, "BadDigest", "The %s trailer is too long.", c->trailer);
		memcpy(c->trailer_value, v, vl);
		c->trailer_value[vl] = '\0';
		s3_digest_kind_by_name(&k, c->trailer);
		s3_digest_final(c->check, d);
		s3_base64(mine, d, s3_digest_len(k));
		if (strcmp(mine, c->trailer_value) != 0)
			return cfail(c, err, 400, "BadDigest",
				     "The %s you specified did not match the calculated checksum.",
				     c->trailer);
		snprintf(c->trailer_canon, sizeof(c->trailer_canon), "%s:%s\n", c->trailer,
			 c->trailer_value);
		c->trailer_got = true;
		return 0;
	}
	if (c->chunk_signed && c->trailer_got && !c->trailer_sig_got &&
	    ci_eqn(l, nl, "x-amz-trailer-signature")) {
		uint8_t h[32];
		char hex[65], want[65];

		if (vl != 64)
			return cfail(c, err, 400, "InvalidArgument",
				     "Malformed aws-chunked body: x-amz-trailer-signature is not 64 hex digits.");
		for (size_t k = 0; k < 64; k++)
			want[k] = lc(v[k]);
		want[64] = '\0';
		if (!sha256(h, c->trailer_canon, strlen(c->trailer_canon)))
			return cfail(c, err, 500, "InternalError", "out of memory");
		s3_hex(hex, h, 32);
		if (chain_check(c, err, "AWS4-HMAC-SHA256-TRAILER", hex, want, "trailer"))
			return -1;
		c->trailer_sig_got = true;
		return 0;
	}
	return cfail(c, err, 400, "InvalidArgument",
		     "Malformed aws-chunked body: unexpected trailer \"%.*s\".", (int)(nl > 64 ? 64 : nl), l);
}

int s3_chunked_feed(s3_chunked *c, const void *p, size_t n,
		    int (*out)(void *ctx, const void *data, size_t len), void *ctx, s3_err *err)
{
	const uint8_t *b = p;

	if (c->st == C_FAILED)
		return stuck(c, err);
	while (n > 0) {
		switch (c->st) {
		case C_HEADER:
		case C_TRAILER: {
			uint8_t ch = *b++;
			n--;
			if (c->cr) {
				int rc;
				if (ch != '\n')
					return cfail(c, err, 400, "InvalidArgument",
						     "Malformed aws-chunked body: a line ends in CR without LF.");
				c->cr = false;
				rc = c->st == C_HEADER ? header_line(c, err) : trailer_line(c, err);
				c->line_len = 0;
				if (rc)
					return -1;
			} else if (ch == '\r') {
				c->cr = true;
			} else if (ch == '\n') {
				return cfail(c, err, 400, "InvalidArgument",
					     "Malformed aws-chunked body: a line ends in LF without CR.");
			} else if (c->line_len == sizeof(c->line)) {
				return cfail(c, err, 400, "InvalidArgument",
					     "Malformed aws-chunked body: a chunk header or trailer line is longer than %d bytes.",
					     LINE_MAX_);
			} else {
				c->line[c->line_len++] = (char)ch;
			}
			break;
		}
		case C_DATA: {
			size_t m = n < c->left ? n : (size_t)c->left;
			int rc;
			if (c->chunk_signed && EVP_DigestUpdate(c->sha, b, m) != 1)
				return cfail(c, err, 500, "InternalError", "out of memory");
			if (c->check)
				s3_digest_update(c->check, b, m);
			c->total += m;
			c->left -= m;
			rc = out ? out(ctx, b, m) : 0;
			b += m;
			n -= m;
			if (rc != 0) {
				cfail(c, NULL, 500, "InternalError", "The body's consumer stopped.");
				return rc;
			}
			if (c->left == 0) {
				if (chunk_done(c, err, false))
					return -1;
				c->st = C_DATA_CRLF;
				c->crlf = 0;
			}
			break;
		}
		case C_DATA_CRLF:
			if (*b != (c->crlf == 0 ? '\r' : '\n'))
				return cfail(c, err, 400, "InvalidArgument",
					     "Malformed aws-chunked body: a chunk's data is not followed by CRLF (a chunk longer than its size?).");
			b++;
			n--;
			if (++c->crlf == 2)
				c->st = C_HEADER;
			break;
		case C_DONE:
			return cfail(c, err, 400, "InvalidArgument",
				     "Malformed aws-chunked body: bytes after its end.");
		case C_FAILED:
			return stuck(c, err);
		}
	}
	return 0;
}

int s3_chunked_finish(s3_chunked *c, s3_err *err)
{
	if (c->st == C_FAILED)
		return stuck(c, err);
	if (c->st == C_DONE)
		return 0;
	/* everything that is signed or checked came; only the last CRLF did not */
	if (c->st == C_TRAILER && c->line_len == 0 && !c->cr && trailer_complete(c)) {
		c->st = C_DONE;
		return 0;
	}
	if (c->st == C_TRAILER)
		return cfail(c, err, 400, "IncompleteBody",
			     "The body ended before the %s trailer and its end.",
			     c->trailer[0] ? c->trailer : "empty");
	return cfail(c, err, 400, "IncompleteBody",
		     "The body ended before the final zero-length chunk (%llu of %llu bytes came).",
		     (unsigned long long)c->total, (unsigned long long)c->expect);
}
