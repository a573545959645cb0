/*
 * route.c - the native API's routes and the decoding of what a request
 * names in its path, query and forms (see route.h). http.c calls
 * cairn__route with each request's path and acts on what it names.
 */
#include "route.h"

#include <jansson.h>
#include <string.h>

int cairn__hexv(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool cairn__utf8_ok(const char *s, size_t n)
{
	json_t *v = json_stringn(s, n);

	json_decref(v);
	return v != NULL;
}

/* Why a path or a name in it is refused (negative returns of the decoders below). */
enum {
	BAD_ESCAPE = -1,
	BAD_NUL = -2,
	BAD_LONG = -3,
	BAD_SEGMENT = -4, /* empty, "." or ".." */
	BAD_SLASH = -5,   /* "%2F" inside a segment */
	BAD_UTF8 = -6,
};

/* What a client is told of a refused key (a BAD_* reason). */
static const char *bad_key_why(long why)
{
	switch (why) {
	case BAD_ESCAPE:
		return "bad path: a bad percent-escape";
	case BAD_NUL:
		return "bad path: a key cannot hold a NUL byte";
	case BAD_LONG:
		return "bad path: a key holds at most 1024 bytes (decoded)";
	case BAD_SEGMENT:
		return "bad path: an empty, '.' or '..' segment";
	case BAD_SLASH:
		return "bad path: an escaped '/' (%2F) inside a segment";
	default:
		return "bad path: a key must be UTF-8";
	}
}

/* The decoder: the length, or BAD_ESCAPE, BAD_NUL or BAD_LONG. */
static long decode(char *out, size_t cap, const char *s, size_t n, bool plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return BAD_ESCAPE;
			hi = cairn__hexv(s[i + 1]);
			lo = cairn__hexv(s[i + 2]);
			if (hi < 0 || lo < 0)
				return BAD_ESCAPE;
			ch = (char)(hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus_space) {
			ch = ' ';
		}
		if (ch == '\0')
			return BAD_NUL;
		if (o >= cap)
			return BAD_LONG;
		out[o++] = ch;
	}
	return (long)o;
}

long cairn__pct_decode(char *out, size_t cap, const char *s, size_t n)
{
	long d = decode(out, cap, s, n, false);

	return d < 0 ? -1 : d;
}

long cairn__query_decode(char *out, size_t cap, const char *s, size_t n)
{
	long d = decode(out, cap, s, n, true);

	return d < 0 ? -1 : d;
}

long cairn__form_field(const char *body, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		const char *amp = memchr(body + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - body) : len;

		if (end - i > nl && memcmp(body + i, name, nl) == 0 && body[i + nl] == '=') {
			long o;
			if (cap == 0)
				return -1;
			o = decode(out, cap - 1, body + i + nl + 1, end - (i + nl + 1), true);
			if (o < 0)
				return -1;
			out[o] = '\0';
			return o;
		}
		i = end + 1;
	}
	return -1;
}

/*
 * Decode a '/'-separated path s[0, n) into out: every segment non-empty,
 * not "." or "..", no NUL, valid UTF-8, at most cap bytes in all.
 * Returns the length or a BAD_* reason.
 */
static long decode_path(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0, i = 0;

	while (i <= n) {
		const char *seg = s + i;
		const char *end = memchr(seg, '/', n - i);
		size_t sl = end ? (size_t)(end - seg) : n - i;
		long d;

		if (o > 0) {
			if (o >= cap)
				return BAD_LONG;
			out[o++] = '/';
		}
		d = decode(out + o, cap - o, seg, sl, false);
		if (d < 0)
			return d;
		if (d == 0 || (d == 1 && out[o] == '.') ||
		    (d == 2 && out[o] == '.' && out[o + 1] == '.'))
			return BAD_SEGMENT;
		if (memchr(out + o, '/', (size_t)d) != NULL)
			return BAD_SLASH;
		o += (size_t)d;
		i += sl + 1;
		if (end == NULL)
			break;
	}
	return cairn__utf8_ok(out, o) ? (long)o : BAD_UTF8;
}

/*
 * One name segment of s into out (CAIRN_NAME_MAX bytes); *s moves past it
 * and its '/'. false (t->bad_path says why) if it does not decode or fit.
 */
static bool name_seg(cairn__target *t, char out[CAIRN_NAME_MAX + 1], const char **s)
{
	const char *p = *s, *end = strchr(p, '/');
	size_t n = end ? (size_t)(end - p) : strlen(p);
	long d = decode(out, CAIRN_NAME_MAX, p, n, false);

	if (d <= 0) {
		t->bad_path = d == BAD_LONG ? "bad path: a namespace or bucket name holds at most "
					      "96 bytes"
			      : d == 0	    ? "bad path: an empty namespace or bucket name"
					    : bad_key_why(d);
		return false;
	}
	out[d] = '\0';
	*s = end ? end + 1 : p + n;
	return true;
}

/* The object path s[0, n) after a route prefix into t->key. */
static bool key_path_n(cairn__target *t, const char *s, size_t n, bool may_be_empty)
{
	long d;

	if (n == 0) {
		t->key_len = 0;
		if (!may_be_empty)
			t->bad_path = "bad path: an empty key";
		return may_be_empty;
	}
	d = decode_path(t->key, CAIRN_KEY_MAX, s, n);
	if (d <= 0) {
		t->bad_path = bad_key_why(d);
		return false;
	}
	t->key_len = (size_t)d;
	t->key[d] = '\0';
	return true;
}

static bool key_path(cairn__target *t, const char *s, bool may_be_empty)
{
	return key_path_n(t, s, strlen(s), may_be_empty);
}

/*
 * A page's path after "tree" or "blob" (s: what follows the word): "/PATH"
 * with a trailing '/' allowed for folders, nothing (the key then comes
 * from the "path" argument: t->key_in_query), or "/" (the root).
 */
static bool page_path(cairn__target *t, const char *s, bool folder)
{
	size_t n;

	if (*s == '\0') {
		t->key_in_query = true;
		return true;
	}
	if (*s != '/')
		return false;
	s++;
	n = strlen(s);
	if (folder && n > 0 && s[n - 1] == '/')
		n--;
	return key_path_n(t, s, n, folder);
}

/* A hash as the last segment (the query string is not part of url). */
static bool hash_seg(cairn__target *t, const char *s)
{
	return cairn_hash_from_hex(&t->file, s, strlen(s)) == 0;
}

enum cairn__handler cairn__route(const char *url, cairn__target *t)
{
	const char *s;

	memset(t, 0, sizeof(*t));
	if (strcmp(url, "/healthz") == 0)
		return CAIRN__H_HEALTH;
	if (strcmp(url, "/") == 0)
		return CAIRN__H_WEB_HOME;
	if (strcmp(url, "/login") == 0)
		return CAIRN__H_WEB_LOGIN;
	if (strcmp(url, "/logout") == 0)
		return CAIRN__H_WEB_LOGOUT;
	if (strcmp(url, "/static/cairn.css") == 0)
		return CAIRN__H_WEB_CSS;
	if (strcmp(url, "/metrics") == 0)
		return CAIRN__H_METRICS;
	if (strcmp(url, "/api/regions") == 0)
		return CAIRN__H_REGIONS;
	if (strncmp(url, "/api/prewarm/", 13) == 0 && strlen(url + 13) == 32 &&
	    strspn(url + 13, "0123456789abcdef") == 32) {
		memcpy(t->key, url + 13, 33);
		return CAIRN__H_PREWARM_JOB;
	}
	if (strcmp(url, "/v1/prewarm") == 0)
		return CAIRN__H_NODE_JOBS;
	if (strncmp(url, "/v1/prewarm/", 12) == 0 && strlen(url + 12) == 32 &&
	    strspn(url + 12, "0123456789abcdef") == 32) {
		memcpy(t->key, url + 12, 33);
		return CAIRN__H_NODE_JOB;
	}
	if (strcmp(url, "/api/whoami") == 0)
		return CAIRN__H_WHOAMI;
	if (strcmp(url, "/api/buckets") == 0)
		return CAIRN__H_BUCKETS;
	if (strncmp(url, "/api/buckets/", 13) == 0) {
		s = url + 13;
		if (!name_seg(t, t->ns, &s))
			return CAIRN__H_BADPATH;
		if (strchr(s, '/') == NULL) {
			if (!name_seg(t, t->name, &s))
				return CAIRN__H_BADPATH;
			return CAIRN__H_BUCKET;
		}
		if (!name_seg(t, t->name, &s))
			return CAIRN__H_BADPATH;
		if (strcmp(s, "settings") == 0)
			return CAIRN__H_SETTINGS;
		if (strcmp(s, "batch") == 0)
			return CAIRN__H_BATCH;
		if (strcmp(s, "prewarm") == 0)
			return CAIRN__H_PREWARM;
		if (strcmp(s, "tree") == 0)
			return key_path(t, "", true) ? CAIRN__H_TREE : CAIRN__H_BADPATH;
		if (strncmp(s, "tree/", 5) == 0)
			return key_path(t, s + 5, true) ? CAIRN__H_TREE : CAIRN__H_BADPATH;
		return CAIRN__H_NOTFOUND;
	}
	if (strcmp(url, "/v1/chunks/default") == 0)
		return CAIRN__H_CHUNKS;
	if (strncmp(url, "/v1/chunks/default/", 19) == 0)
		return hash_seg(t, url + 19) ? CAIRN__H_CHUNK : CAIRN__H_BADPATH;
	if (strncmp(url, "/v1/xorbs/default/", 18) == 0)
		return hash_seg(t, url + 18) ? CAIRN__H_XORB : CAIRN__H_BADPATH;
	if (strncmp(url, "/v1/reconstructions/", 20) == 0)
		return hash_seg(t, url + 20) ? CAIRN__H_RECON : CAIRN__H_BADPATH;
	if (strncmp(url, "/v1/files/", 10) == 0)
		return hash_seg(t, url + 10) ? CAIRN__H_NODE_FILE : CAIRN__H_BADPATH;
	if (strncmp(url, "/v1/region-files/", 17) == 0)
		return hash_seg(t, url + 17) ? CAIRN__H_REGION_FILE : CAIRN__H_BADPATH;
	if (strncmp(url, "/buckets/", 9) == 0) {
		enum cairn__handler h;
		s = url + 9;
		if (!name_seg(t, t->ns, &s))
			return CAIRN__H_BADPATH;
		if (strchr(s, '/') == NULL) /* the bucket's page, /buckets/NS/NAME */
			return name_seg(t, t->name, &s) ? CAIRN__H_WEB_TREE : CAIRN__H_BADPATH;
		if (!name_seg(t, t->name, &s))
			return CAIRN__H_BADPATH;
		if (*s == '\0') /* /buckets/NS/NAME/ */
			return CAIRN__H_WEB_TREE;
		if (strncmp(s, "tree", 4) == 0 && (s[4] == '\0' || s[4] == '/'))
			return page_path(t, s + 4, true) ? CAIRN__H_WEB_TREE : CAIRN__H_BADPATH;
		if (strncmp(s, "blob", 4) == 0 && (s[4] == '\0' || s[4] == '/'))
			return page_path(t, s + 4, false) ? CAIRN__H_WEB_BLOB : CAIRN__H_BADPATH;
		if (strcmp(s, "resolve") == 0) {
			t->key_in_query = true;
			return CAIRN__H_RESOLVE;
		}
		if (strncmp(s, "upload/", 7) == 0)
			h = CAIRN__H_UPLOAD, s += 7;
		else if (strncmp(s, "resolve/", 8) == 0)
			h = CAIRN__H_RESOLVE, s += 8;
		else /* /buckets/NS/NAME/PATH: a README's relative link from the top folder */
			return page_path(t, s - 1, true) ? CAIRN__H_WEB_TREE : CAIRN__H_BADPATH;
		return key_path(t, s, false) ? h : CAIRN__H_BADPATH;
	}
	return CAIRN__H_NOTFOUND;
}
