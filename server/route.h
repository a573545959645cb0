/*
 * route.h - how the native API reads a request's target (http.c): which
 * handler a path names and what the path carries (namespace, bucket, key,
 * hash), and the percent-decoding of paths, query arguments and form
 * fields (web.c's login form). Pure functions over text: no I/O, no
 * global state, thread safe. tests/fuzz/fuzz_route.c fuzzes them.
 *
 * Paths arrive as sent (cairn__keep_url: MHD decodes nothing) and without
 * the query; each segment is decoded on its own, so an encoded '/' (%2F)
 * never splits a segment and never appears in a key.
 */
#ifndef CAIRN_SERVER_ROUTE_H
#define CAIRN_SERVER_ROUTE_H

#include "cairn/hash.h"
#include "cairn/sys/meta.h"

#include <stdbool.h>
#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int cairn__hexv(char ch);

/* Is s[0, n) valid UTF-8 (jansson's check: what JSON answers can carry)? */
bool cairn__utf8_ok(const char *s, size_t n);

/*
 * Percent-decode s[0, n) into out (cap bytes; no NUL added). Returns the
 * length, or -1 for a bad escape, a NUL byte (sent or decoded), or more
 * than cap bytes.
 */
long cairn__pct_decode(char *out, size_t cap, const char *s, size_t n);

/* The same for a query argument or form field, where '+' is a space. */
long cairn__query_decode(char *out, size_t cap, const char *s, size_t n);

/*
 * The field name of an application/x-www-form-urlencoded body[0, len),
 * decoded into out (cap bytes, NUL added). Returns its length, or -1 if
 * absent, bad (as cairn__query_decode) or longer than cap - 1.
 */
long cairn__form_field(const char *body, size_t len, const char *name, char *out, size_t cap);

/* What a path names. */
enum cairn__handler {
	CAIRN__H_NOTFOUND = -1,
	CAIRN__H_BADPATH = -2,
	CAIRN__H_HEALTH = 0,
	CAIRN__H_METRICS,
	CAIRN__H_WHOAMI,
	CAIRN__H_BUCKETS,
	CAIRN__H_BUCKET,
	CAIRN__H_SETTINGS,
	CAIRN__H_TREE,
	CAIRN__H_UPLOAD,
	CAIRN__H_RESOLVE,
	CAIRN__H_CHUNKS,   /* POST /v1/chunks/default: the batched dedup query */
	CAIRN__H_CHUNK,    /* GET /v1/chunks/default/HASH */
	CAIRN__H_XORB,     /* /v1/xorbs/default/HASH */
	CAIRN__H_RECON,    /* /v1/reconstructions/HASH */
	CAIRN__H_BATCH,    /* /api/buckets/NS/NAME/batch */
	CAIRN__H_WEB_HOME, /* the pages (web.c) */
	CAIRN__H_WEB_TREE,
	CAIRN__H_WEB_BLOB,
	CAIRN__H_WEB_LOGIN,
	CAIRN__H_WEB_LOGOUT,
	CAIRN__H_WEB_CSS,
	CAIRN__H_REGIONS,     /* GET /api/regions */
	CAIRN__H_PREWARM,     /* POST /api/buckets/NS/NAME/prewarm (origin) */
	CAIRN__H_PREWARM_JOB, /* GET, DELETE /api/prewarm/JOB?region=NAME (origin) */
	CAIRN__H_NODE_JOBS,   /* POST /v1/prewarm (a cache node) */
	CAIRN__H_NODE_JOB,    /* GET, DELETE /v1/prewarm/JOB (a cache node) */
	CAIRN__H_NODE_FILE,   /* GET /v1/files/HASH?exp=&sig= (a cache node) */
	CAIRN__H_REGION_FILE, /* GET /v1/region-files/HASH?region=&exp=&sig= (origin, for nodes) */
};

/* What the path carries, decoded. Fields a route does not name stay zero. */
typedef struct cairn__target {
	char ns[CAIRN_NAME_MAX + 1];   /* 1 to CAIRN_NAME_MAX bytes, no NUL (not checked */
	char name[CAIRN_NAME_MAX + 1]; /* against the naming rule: the engine does that) */
	/* the object path (no empty, "." or ".." segment, UTF-8, NUL-terminated;
	 * key_len 0 for a bucket's root), or a pre-warm job's id (32 hex digits) */
	char key[CAIRN_KEY_MAX + 1];
	size_t key_len;
	bool key_in_query; /* the key comes from the "path" argument (web.h) */
	cairn_hash file;   /* the hash routes' hash */
	const char *bad_path; /* CAIRN__H_BADPATH: which rule the path broke (static text) */
} cairn__target;

/*
 * The handler url (a path as sent, without the query) names, and into *t
 * (cleared first) what it carries. CAIRN__H_BADPATH: a route's path that
 * does not decode (an empty, "." or ".." segment, a NUL, a bad escape, not
 * UTF-8, too long, or a bad hash); CAIRN__H_NOTFOUND: no route.
 */
enum cairn__handler cairn__route(const char *url, cairn__target *t);

#endif /* CAIRN_SERVER_ROUTE_H */
