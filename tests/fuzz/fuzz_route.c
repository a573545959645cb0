/*
 * fuzz_route.c - libFuzzer target for how both fronts read a request's
 * target: the native API's routes and its decoding of paths, query
 * arguments and form fields (server/route.h), and the S3 front's path,
 * bucket names, x-amz-copy-source, continuation tokens and choice of
 * operation (server/s3_route.h, decoding with sigv4.h's helpers). Those
 * files are compiled in (pure modules). Built as a fuzzer with clang and
 * -DCAIRN_FUZZ=ON; replay.c feeds it the stored corpus as an ordinary
 * test with any compiler.
 *
 * The input is a request as text:
 *   METHOD\n RAW_PATH\n RAW_QUERY\n COPY_SOURCE\n FORM_BODY
 * (a missing line is empty; an empty COPY_SOURCE is no such header). The
 * query is split as MHD splits it for the handlers (name[=value] pieces
 * between '&', values as sent); the form body is given as exactly its
 * bytes, in a buffer of its own size.
 *
 * Besides the sanitizers, the target aborts unless:
 *  - native routes: what a route names holds: a namespace and bucket of 1
 *    to CAIRN_NAME_MAX bytes without NUL, an object path the engine takes
 *    (1 to CAIRN_KEY_MAX bytes, no NUL) that is UTF-8 without empty, "."
 *    or ".." segments, a job id of 32 hex digits, a hash that prints and
 *    reads back; and each survives encoding into a path of its own and
 *    routing again unchanged (decode(encode(x)) == x);
 *  - query arguments and form fields: a decoded value holds no NUL, is
 *    no longer than what was sent, is what was sent when nothing needed
 *    decoding, and reads back after encoding; a form field is the first
 *    field of that name, decoded as a query argument is;
 *  - S3 paths: the bucket and key are the path's decoded bytes, whole (no
 *    NUL cut them short), the key 1 to CAIRN_KEY_MAX bytes; both survive
 *    encoding and splitting again; KeyTooLongError only for a key that
 *    decodes to more than CAIRN_KEY_MAX bytes;
 *  - S3 bucket names: a resolved namespace and bucket pass the engine's
 *    name check and are what the request named;
 *  - x-amz-copy-source: the bucket and key are the value's decoded bytes,
 *    whole;
 *  - continuation tokens: one accepted is hex, and reads back from the
 *    key it gives; any key's token reads back to it;
 *  - S3 operations: GET and HEAD only read; writes come only with their
 *    method (PUT, DELETE, POST); an object's operations only with a key, a
 *    bucket's only without; the upload operations only with the request's
 *    uploadId, and a request that names an uploadId never reaches an
 *    object's operation that ignores it (an abort is never a delete).
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_route
 *   mkdir -p /tmp/route-corpus
 *   build-fuzz/tests/fuzz_route -dict=tests/fuzz/route.dict -max_len=4096
 *       -max_total_time=600 /tmp/route-corpus tests/fuzz/corpus/route
 */
#include "meta/meta_int.h" /* cairn__meta_check_name, _key */
#include "route.h"
#include "s3_route.h"
#include "sigv4.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXARGS 32

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_route: %s\n", what);
		abort();
	}
}

/* ---- encoding, the other way ---- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* s[0, n) percent-encoded (keep_slash: '/' stays) after prefix into a new string. */
static char *enc(const char *prefix, const char *s, size_t n, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t pl = strlen(prefix), o = pl;
	char *out = malloc(pl + 3 * n + 1);

	if (out == NULL)
		abort();
	memcpy(out, prefix, pl);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static char *cat(char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	char *c = realloc(a, al + bl + 1);

	if (c == NULL)
		abort();
	memcpy(c + al, b, bl + 1);
	return c;
}

/* A plain reference decoder: %XX only, any byte allowed; -1 for a bad escape. */
static long ref_decode(char *out, const char *s, size_t n, bool plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;
			if (n - i < 3 || (h = cairn__hexv(s[i + 1])) < 0 || (l = cairn__hexv(s[i + 2])) < 0)
				return -1;
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			out[o++] = plus_space && s[i] == '+' ? ' ' : s[i];
		}
	}
	return (long)o;
}

/* ---- the native API ---- */

static bool names_bucket(enum cairn__handler h)
{
	switch (h) {
	case CAIRN__H_BUCKET:
	case CAIRN__H_SETTINGS:
	case CAIRN__H_TREE:
	case CAIRN__H_UPLOAD:
	case CAIRN__H_RESOLVE:
	case CAIRN__H_BATCH:
	case CAIRN__H_PREWARM:
	case CAIRN__H_WEB_BLOB:
		return true;
	default:
		return false;
	}
}

static bool names_hash(enum cairn__handler h)
{
	return h == CAIRN__H_CHUNK || h == CAIRN__H_XORB || h == CAIRN__H_RECON ||
	       h == CAIRN__H_NODE_FILE || h == CAIRN__H_REGION_FILE;
}

static void check_name(const char *s)
{
	size_t n = strlen(s);

	check(n >= 1 && n <= CAIRN_NAME_MAX, "a name's length");
}

static void check_key(const cairn__target *t)
{
	const char *k = t->key;
	size_t seg = 0;

	check(t->key_len <= CAIRN_KEY_MAX && k[t->key_len] == '\0', "a key's length");
	check(memchr(k, '\0', t->key_len) == NULL, "a NUL in a key");
	check(cairn__meta_check_key(k, t->key_len) == 0, "a key the engine refuses");
	check(cairn__utf8_ok(k, t->key_len), "a key that is not UTF-8");
	for (size_t i = 0; i <= t->key_len; i++) {
		if (i < t->key_len && k[i] != '/')
			continue;
		check(i > seg && !(i - seg == 1 && k[seg] == '.') &&
			      !(i - seg == 2 && k[seg] == '.' && k[seg + 1] == '.'),
		      "an empty, . or .. segment in a key");
		seg = i + 1;
	}
}

static void native_route(const char *path)
{
	cairn__target t, t2;
	enum cairn__handler h = cairn__route(path, &t), h2;

	check(h >= CAIRN__H_BADPATH && h <= CAIRN__H_REGION_FILE, "a handler out of range");
	h2 = cairn__route(path, &t2);
	check(h == h2 && memcmp(&t, &t2, sizeof(t)) == 0, "routing twice differs");
	if (h == CAIRN__H_BADPATH || h == CAIRN__H_NOTFOUND)
		return;
	if (h == CAIRN__H_PREWARM_JOB || h == CAIRN__H_NODE_JOB) {
		check(strlen(t.key) == 32 && strspn(t.key, "0123456789abcdef") == 32, "a job id");
		return;
	}
	if (names_hash(h)) {
		char hex[CAIRN_HASH_HEX_LEN + 1];
		cairn_hash back;
		cairn_hash_to_hex(hex, &t.file);
		check(cairn_hash_from_hex(&back, hex, strlen(hex)) == 0 &&
			      memcmp(&back, &t.file, sizeof(back)) == 0,
		      "a hash that does not read back");
		return;
	}
	if (t.key_len > 0)
		check_key(&t);
	if (names_bucket(h) || (h == CAIRN__H_WEB_TREE && t.ns[0] != '\0')) {
		char *ns = enc("", t.ns, strlen(t.ns), false);
		char *name = enc("", t.name, strlen(t.name), false);
		char *p;
		check_name(t.ns);
		check_name(t.name);
		/* the bucket again, through its own path */
		p = cat(cat(cat(enc("/api/buckets/", "", 0, false), ns), "/"), name);
		h2 = cairn__route(p, &t2);
		check(h2 == CAIRN__H_BUCKET && strcmp(t2.ns, t.ns) == 0 && strcmp(t2.name, t.name) == 0,
		      "a bucket that does not route back");
		free(p);
		/* and the key, as a download */
		if (t.key_len > 0) {
			char *k = enc("/resolve/", t.key, t.key_len, true);
			p = cat(cat(cat(cat(enc("/buckets/", "", 0, false), ns), "/"), name), k);
			free(k);
			h2 = cairn__route(p, &t2);
			check(h2 == CAIRN__H_RESOLVE && t2.key_len == t.key_len &&
				      memcmp(t2.key, t.key, t.key_len) == 0 && strcmp(t2.ns, t.ns) == 0 &&
				      strcmp(t2.name, t.name) == 0,
			      "a key that does not route back");
			free(p);
		}
		free(ns);
		free(name);
	} else {
		check(t.ns[0] == '\0' && t.name[0] == '\0', "a bucket named by a route without one");
	}
}

/* ---- query arguments ---- */

typedef struct qarg {
	char *name;
	char *value; /* NULL: "name" without '=' */
} qarg;

typedef struct query {
	qarg a[MAXARGS];
	size_t n;
} query;

/* As MHD splits a query for its handlers (cairn__keep_url: nothing decoded). */
static void split_query(query *q, char *s)
{
	q->n = 0;
	while (*s != '\0' && q->n < MAXARGS) {
		char *amp = strchr(s, '&'), *eq;
		if (amp)
			*amp = '\0';
		eq = strchr(s, '=');
		if (eq)
			*eq = '\0';
		if (*s != '\0') {
			q->a[q->n].name = s;
			q->a[q->n].value = eq ? eq + 1 : NULL;
			q->n++;
		}
		if (amp == NULL)
			break;
		s = amp + 1;
	}
}

static const qarg *find_arg(const query *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->a[i].name, name) == 0)
			return &q->a[i];
	return NULL;
}

static void check_decoded(const char *v, size_t n, const char *out, long d, bool plus)
{
	char *back, *ref = malloc(n + 1);
	long r;

	if (ref == NULL)
		abort();
	r = ref_decode(ref, v, n, plus);
	if (d >= 0) {
		check((size_t)d <= n, "decoded longer than sent");
		check(memchr(out, '\0', (size_t)d) == NULL, "a NUL decoded");
		check(r == d && memcmp(ref, out, (size_t)d) == 0, "decoded other bytes than sent");
		if (strpbrk(v, plus ? "%+" : "%") == NULL)
			check((size_t)d == n && memcmp(out, v, n) == 0, "plain text changed");
		back = enc("", out, (size_t)d, false);
		{
			char again[1024];
			size_t bl = strlen(back);
			if (bl < sizeof(again)) {
				long d2 = plus ? cairn__query_decode(again, sizeof(again), back, bl)
					       : cairn__pct_decode(again, sizeof(again), back, bl);
				check(d2 == d && memcmp(again, out, (size_t)d) == 0,
				      "an encoded value does not read back");
			}
		}
		free(back);
	} else {
		/* refused: a bad escape, a NUL, or too long for the buffer */
		check(r < 0 || memchr(ref, '\0', (size_t)r) != NULL || (size_t)r > 512,
		      "a good value refused");
	}
	free(ref);
}

static void native_query(const query *q, const char *body, size_t body_len)
{
	char out[512];

	for (size_t i = 0; i < q->n; i++) {
		const char *v = q->a[i].value;
		long d, f;
		char field[512];
		if (v == NULL)
			continue;
		d = cairn__query_decode(out, sizeof(out), v, strlen(v));
		check_decoded(v, strlen(v), out, d, true);
		d = cairn__pct_decode(out, sizeof(out), v, strlen(v));
		check_decoded(v, strlen(v), out, d, false);
		/* the same name as a form field of the body */
		f = cairn__form_field(body, body_len, q->a[i].name, field, sizeof(field));
		if (f >= 0) {
			const char *p = body, *end = body + body_len, *val = NULL, *vend = NULL;
			size_t nl = strlen(q->a[i].name);
			check((size_t)f == strlen(field), "a form field with a NUL, or unterminated");
			/* the first "name=" field */
			while (p < end) {
				const char *amp = memchr(p, '&', (size_t)(end - p));
				const char *fe = amp ? amp : end;
				if ((size_t)(fe - p) > nl && memcmp(p, q->a[i].name, nl) == 0 &&
				    p[nl] == '=') {
					val = p + nl + 1;
					vend = fe;
					break;
				}
				p = fe + 1;
			}
			check(val != NULL, "a form field that is not there");
			{
				long d2 = cairn__query_decode(out, sizeof(field) - 1, val,
							      (size_t)(vend - val));
				check(d2 == f && memcmp(out, field, (size_t)f) == 0,
				      "a form field decoded unlike a query argument");
			}
		}
	}
}

/* ---- S3 ---- */

static bool q_has(void *ctx, const char *name)
{
	return find_arg(ctx, name) != NULL;
}

/* s3.c's arg(): the first value, decoded as the signature decodes it */
static bool q_get(void *ctx, const char *name, char *out, size_t cap)
{
	const qarg *a = find_arg(ctx, name);
	long n;

	if (a == NULL || a->value == NULL)
		return false;
	n = s3_query_decode(out, cap - 1, a->value, strlen(a->value));
	if (n < 0)
		return false;
	out[n] = '\0';
	return true;
}

static void s3_path(const char *path, s3_target *t, bool *ok)
{
	const char *code = NULL, *msg = NULL;
	const char *p = path[0] == '/' ? path + 1 : path, *slash = strchr(p, '/');
	size_t bl = slash ? (size_t)(slash - p) : strlen(p);
	char *ref = malloc(strlen(path) + 1);
	long r;

	if (ref == NULL)
		abort();
	*ok = s3_split_path(path, t, &code, &msg) == 0;
	if (!*ok) {
		check(code != NULL && msg != NULL, "an S3 path error without a code");
		if (strcmp(code, "KeyTooLongError") == 0) {
			r = ref_decode(ref, slash + 1, strlen(slash + 1), false);
			check(r > CAIRN_KEY_MAX, "KeyTooLongError for a key that is not too long");
		}
		free(ref);
		return;
	}
	r = ref_decode(ref, p, bl, false);
	check(r >= 0 && strlen(t->bucket) == (size_t)r && memcmp(ref, t->bucket, (size_t)r) == 0,
	      "an S3 bucket that is not the path's");
	if (t->has_key) {
		r = ref_decode(ref, slash + 1, strlen(slash + 1), false);
		check(t->key_len >= 1 && t->key_len <= CAIRN_KEY_MAX && t->key[t->key_len] == '\0' &&
			      cairn__meta_check_key(t->key, t->key_len) == 0,
		      "an S3 key the engine refuses");
		check(r == (long)t->key_len && memcmp(ref, t->key, t->key_len) == 0,
		      "an S3 key that is not the path's");
	} else {
		check(t->key_len == 0 && (slash == NULL || slash[1] == '\0'), "an S3 key lost");
	}
	free(ref);
	/* again, through a path of our own (when its bucket is short enough sent
	 * encoded: the ceiling is on the bytes sent) */
	{
		s3_target t2;
		const char *c2, *m2;
		char *p2 = enc("/", t->bucket, strlen(t->bucket), false);
		if (strlen(p2) - 1 >= sizeof(t2.bucket)) {
			free(p2);
			return;
		}
		if (t->has_key) {
			char *k = enc("/", t->key, t->key_len, true);
			p2 = cat(p2, k);
			free(k);
		}
		check(s3_split_path(p2, &t2, &c2, &m2) == 0 && strcmp(t2.bucket, t->bucket) == 0 &&
			      t2.has_key == t->has_key && t2.key_len == t->key_len &&
			      memcmp(t2.key, t->key, t->key_len) == 0,
		      "an S3 bucket and key that do not split back");
		free(p2);
	}
}

static void s3_bucket(const char *bucket)
{
	static const char *const users[] = {NULL, "alice"};

	for (size_t u = 0; u < 2; u++) {
		char ns[CAIRN_NAME_MAX + 1], name[CAIRN_NAME_MAX + 1];
		const char *sep = strstr(bucket, S3_NS_SEP);

		bool ns_form = sep != NULL && s3_name_ok(bucket, (size_t)(sep - bucket)) &&
			       s3_name_ok(sep + 2, strlen(sep + 2));

		if (!s3_resolve_bucket(bucket, users[u], ns, name)) {
			check(!ns_form && (users[u] == NULL || !s3_name_ok(bucket, strlen(bucket))),
			      "a good S3 bucket name refused");
			continue;
		}
		check(cairn__meta_check_name("namespace", ns) == 0 &&
			      cairn__meta_check_name("bucket", name) == 0,
		      "an S3 bucket resolved to a name the engine refuses");
		if (ns_form) {
			check(strlen(ns) == (size_t)(sep - bucket) && memcmp(ns, bucket, strlen(ns)) == 0 &&
				      strcmp(name, sep + 2) == 0,
			      "NS--NAME resolved to another bucket");
		} else {
			check(users[u] != NULL && strcmp(ns, users[u]) == 0 && strcmp(name, bucket) == 0,
			      "a plain S3 bucket name resolved to another's");
		}
	}
}

static void s3_copy(const char *h)
{
	s3_target t;
	size_t hl = strcspn(h, "?");
	char *ref = malloc(hl + 1);
	const char *p, *slash;
	long r;

	if (ref == NULL)
		abort();
	if (s3_copy_source(h, &t)) {
		r = ref_decode(ref, h, hl, false);
		check(r > 0, "a copy source that does not decode");
		p = ref[0] == '/' ? ref + 1 : ref;
		slash = memchr(p, '/', (size_t)(ref + r - p));
		check(slash != NULL, "a copy source without a bucket");
		check(strlen(t.bucket) == (size_t)(slash - p) &&
			      memcmp(t.bucket, p, (size_t)(slash - p)) == 0,
		      "a copy source's bucket that is not the header's");
		check(t.has_key && t.key_len == (size_t)(ref + r - slash - 1) &&
			      memcmp(t.key, slash + 1, t.key_len) == 0,
		      "a copy source's key that is not the header's");
		check(cairn__meta_check_key(t.key, t.key_len) == 0, "a copy source key the engine refuses");
	}
	free(ref);
}

static void s3_tokens(const char *s, size_t n)
{
	char key[CAIRN_KEY_MAX], tok[2 * CAIRN_KEY_MAX + 1];
	long k = s3_token_parse(key, sizeof(key), s);

	if (k >= 0) {
		size_t tl = strlen(s);
		check((size_t)k * 2 == tl && (size_t)k <= sizeof(key), "a token's length");
		check(strspn(s, "0123456789abcdefABCDEF") == tl, "a token that is not hex");
		s3_token_of(tok, key, (size_t)k);
		for (size_t i = 0; i < tl; i++)
			check(tok[i] == (s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]),
			      "a token that does not print back");
	}
	/* any key's token reads back to it */
	if (n > CAIRN_KEY_MAX)
		n = CAIRN_KEY_MAX;
	s3_token_of(tok, s, n);
	k = s3_token_parse(key, sizeof(key), tok);
	check(k == (long)n && memcmp(key, s, n) == 0, "a key's token that does not read back");
}

typedef enum { READ, WRITE_PUT, WRITE_DELETE, WRITE_POST, NONE } kind;

static kind op_kind(s3_op op)
{
	switch (op) {
	case S3_OP_LIST_BUCKETS:
	case S3_OP_HEAD_BUCKET:
	case S3_OP_BUCKET_SUB:
	case S3_OP_LIST_UPLOADS:
	case S3_OP_LIST_VERSIONS:
	case S3_OP_LIST_OBJECTS:
	case S3_OP_LIST_OBJECTS_V2:
	case S3_OP_GET_OBJECT:
	case S3_OP_LIST_PARTS:
		return READ;
	case S3_OP_CREATE_BUCKET:
	case S3_OP_PUT_BUCKET_ACL:
	case S3_OP_PUT_OBJECT:
	case S3_OP_COPY_OBJECT:
	case S3_OP_UPLOAD_PART_COPY:
		return WRITE_PUT;
	case S3_OP_DELETE_BUCKET:
	case S3_OP_DELETE_OBJECT:
	case S3_OP_ABORT_MPU:
		return WRITE_DELETE;
	case S3_OP_DELETE_OBJECTS:
	case S3_OP_CREATE_MPU:
	case S3_OP_COMPLETE_MPU:
		return WRITE_POST;
	default: /* refusals, and sub-resources (which check the method themselves) */
		return NONE;
	}
}

static void s3_op_check(const char *method, const s3_target *t, query *q, bool copy)
{
	s3_query qa = {q_has, q_get, q};
	char upload[CAIRN_MPU_ID_LEN + 1], want[CAIRN_MPU_ID_LEN + 1];
	const char *sub = NULL;
	s3_op op = s3_route_op(method, t, &qa, copy, upload, &sub);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool named = q_has(q, "uploadId");
	kind k = op_kind(op);

	check(op >= S3_OP_NOT_ALLOWED && op <= S3_OP_COMPLETE_MPU, "an S3 operation out of range");
	check(strlen(upload) <= CAIRN_MPU_ID_LEN, "an upload id too long");
	if (get)
		check(k == READ || k == NONE, "a GET or HEAD that writes");
	if (k == WRITE_PUT)
		check(strcmp(method, "PUT") == 0, "a PUT operation without PUT");
	if (k == WRITE_DELETE)
		check(strcmp(method, "DELETE") == 0, "a DELETE operation without DELETE");
	if (k == WRITE_POST)
		check(strcmp(method, "POST") == 0, "a POST operation without POST");
	if (op == S3_OP_LIST_BUCKETS)
		check(t->bucket[0] == '\0', "a bucket listed as the service");
	if (op >= S3_OP_CREATE_BUCKET && op <= S3_OP_LIST_OBJECTS_V2)
		check(t->bucket[0] != '\0' && !t->has_key, "a bucket operation on a key");
	if (op >= S3_OP_OBJECT_SUB)
		check(t->bucket[0] != '\0' && t->has_key, "an object operation without a key");
	check((sub != NULL) == (op == S3_OP_BUCKET_SUB || op == S3_OP_OBJECT_SUB ||
				op == S3_OP_BUCKET_SETTING),
	      "a sub-resource where none belongs");
	if (sub != NULL)
		check(q_has(q, sub), "a sub-resource the query does not name");
	if (op >= S3_OP_LIST_PARTS)
		check(upload[0] != '\0', "an upload operation without an upload id");
	if (op == S3_OP_NO_SUCH_UPLOAD)
		check(named, "NoSuchUpload without an uploadId");
	if (named && op != S3_OP_NO_SUCH_UPLOAD) {
		/* the upload id is the argument's value, whole */
		check(q_get(q, "uploadId", want, sizeof(want)) && strcmp(want, upload) == 0 &&
			      upload[0] != '\0',
		      "an upload id that is not the request's");
		if (t->has_key && t->bucket[0] != '\0')
			check(op != S3_OP_GET_OBJECT && op != S3_OP_DELETE_OBJECT &&
				      op != S3_OP_COPY_OBJECT,
			      "an uploadId ignored by an object operation");
	}
	if (!named)
		check(upload[0] == '\0', "an upload id from nowhere");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *lines[4] = {"", "", "", ""}, *s, *body;
	size_t body_len = 0;
	query q;
	s3_target t;
	bool ok;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	s = text;
	for (int i = 0; i < 4 && s < text + size; i++) {
		char *nl = memchr(s, '\n', (size_t)(text + size - s));
		lines[i] = s;
		if (nl == NULL) {
			s = text + size;
			break;
		}
		*nl = '\0';
		s = nl + 1;
	}
	/* the form body: exactly its bytes */
	body_len = (size_t)(text + size - s);
	body = malloc(body_len ? body_len : 1);
	if (body == NULL) {
		free(text);
		return 0;
	}
	memcpy(body, s, body_len);

	native_route(lines[1]);
	s3_path(lines[1], &t, &ok);
	if (ok) {
		s3_bucket(t.bucket);
		s3_tokens(t.key, t.key_len);
	}
	if (lines[3][0] != '\0')
		s3_copy(lines[3]);
	split_query(&q, lines[2]);
	native_query(&q, body, body_len);
	if (ok)
		s3_op_check(lines[0], &t, &q, lines[3][0] != '\0');
	for (size_t i = 0; i < q.n; i++)
		if (q.a[i].value != NULL)
			s3_tokens(q.a[i].value, strlen(q.a[i].value));
	free(body);
	free(text);
	return 0;
}
