/*
 * s3.c - the S3-compatible front: the same engine behind the API that
 * aws-cli, boto3, rclone and s3cmd speak, on a port of its own.
 *
 * Requests are path-style (/BUCKET/KEY), authenticated by sigv4.c (SigV4
 * header, presigned and streaming; SigV2 header and presigned) with access
 * keys from `cairn admin keys create`. A bucket name is a bucket of the key
 * owner's namespace; another namespace's bucket is reached as NS--NAME
 * (anonymous callers always name the namespace so). Objects written here
 * are chunked and deduplicated as they stream in, exactly as through the
 * native API, so both fronts dedup against each other.
 *
 * Threads and memory as in http.c: MHD's pool, per-thread engine handles,
 * bodies streamed (object bodies into the engine, XML bodies up to
 * XML_MAX), uploads drawing on the shared memory budget.
 */
#include "cache.h"
#include "server_int.h"
#include "s3_route.h"
#include "s3_xml.h"
#include "sigv4.h"

#include "cairn/errors.h"
#include "cairn/sys/meta.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XML_MAX (4u << 20)                 /* request XML bodies */
#define PUT_MAX (UINT64_C(5) << 30)        /* S3's largest single PUT (and part) */
#define PIECE (1u << 20)
#define LIST_MAX 1000

static void iso_time(char out[64], int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ns / 1000000) % 1000));
}

static void http_time(char out[40], int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* An HTTP date (RFC 1123, or the two older forms) as epoch seconds; -1 if not one. */
static int64_t parse_http_time(const char *s)
{
	static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
					    "%a %b %d %H:%M:%S %Y"};
	struct tm tm;

	for (size_t i = 0; s && i < sizeof(forms) / sizeof(forms[0]); i++) {
		const char *end;
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (end && *end == '\0')
			return (int64_t)timegm(&tm);
	}
	return -1;
}

/* ---- requests ---------------------------------------------------------------------------- */

typedef enum body_mode { B_NONE, B_XML, B_OBJECT, B_DRAIN } body_mode;

typedef enum s3op {
	OP_NONE,
	OP_LIST_BUCKETS,
	OP_CREATE_BUCKET,
	OP_DELETE_OBJECTS,
	OP_PUT_OBJECT,
	OP_UPLOAD_PART,
	OP_CREATE_MPU,
	OP_COMPLETE_MPU,
	OP_PUT_BUCKET_ACL,
} s3op;

typedef struct s3q {
	struct timespec t0;
	char method[16];
	char url[256];
	char request_id[17];
	unsigned status;
	uint64_t bytes_in, bytes_out;
	bool begun;        /* routed */
	bool responded;    /* a response is queued */

	/* the caller */
	s3_auth auth;
	bool authed, admin, writer;
	char user[CAIRN_NAME_MAX + 1];

	/* the target */
	char s3bucket[2 * CAIRN_NAME_MAX + 3]; /* as named in the request */
	char ns[CAIRN_NAME_MAX + 1];
	char name[CAIRN_NAME_MAX + 1];
	char key[CAIRN_KEY_MAX + 1];
	size_t key_len;
	bool has_key;

	/* the body */
	body_mode body;
	s3op op;
	s3_xbuf xml;
	bool too_big;
	cairn_upload *up;
	int up_rc;
	char up_msg[256];
	s3_digest *md5, *sha;
	s3_chunked *chunked;
	s3_err body_err;
	bool body_failed;
	uint64_t body_len;     /* decoded bytes */
	uint64_t want_len;     /* announced decoded length, or UINT64_MAX */
	unsigned part;
	char upload_id[CAIRN_MPU_ID_LEN + 1];
	uint64_t reserved;

	/* a download */
	cairn_reader *rd;
	cairn__pieces pc; /* the range served, in pieces */
} s3q;

static atomic_uint_fast64_t request_seq;

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	s3q *q = *con_cls;

	(void)cls;
	(void)c;
	if (q == NULL)
		return;
	if (q->status == 0)
		q->status = 500;
	cairn__request_done("s3", q->method, q->url, q->status, q->bytes_in, q->bytes_out, &q->t0,
			    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	cairn__budget_release(q->authed ? q->user : "", &q->reserved);
	cairn_upload_free(q->up);
	cairn_reader_close(q->rd);
	s3_digest_free(q->md5);
	s3_digest_free(q->sha);
	s3_chunked_free(q->chunked);
	free(q->xml.p);
	free(q->pc.buf);
	free(q);
	*con_cls = NULL;
}

/* ---- responses ---- */

static void common_headers(struct MHD_Response *r, const s3q *q)
{
	MHD_add_response_header(r, "x-amz-request-id", q->request_id);
	MHD_add_response_header(r, "Server", "Cairn");
}

static enum MHD_Result queue(struct MHD_Connection *c, s3q *q, unsigned status,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	common_headers(r, q);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	q->status = status;
	q->responded = true;
	return ret;
}

/* A body (copied), or none for HEAD. */
static enum MHD_Result send_body(struct MHD_Connection *c, s3q *q, unsigned status,
				 const char *ctype, const char *p, size_t n)
{
	bool head = strcmp(q->method, "HEAD") == 0;
	struct MHD_Response *r = MHD_create_response_from_buffer(head ? 0 : n, (void *)(head ? "" : p),
								  MHD_RESPMEM_MUST_COPY);

	if (r == NULL)
		return MHD_NO;
	if (ctype && !head)
		MHD_add_response_header(r, "Content-Type", ctype);
	q->bytes_out = head ? 0 : n;
	return queue(c, q, status, r);
}

static enum MHD_Result send_xml(struct MHD_Connection *c, s3q *q, unsigned status, s3_xbuf *b)
{
	enum MHD_Result ret;

	if (b->oom) {
		free(b->p);
		return send_body(c, q, 500, "text/plain", "out of memory\n", 14);
	}
	ret = send_body(c, q, status, "application/xml", b->p ? b->p : "", b->n);
	free(b->p);
	memset(b, 0, sizeof(*b));
	return ret;
}

static enum MHD_Result send_err(struct MHD_Connection *c, s3q *q, unsigned status,
				const char *code, const char *msg)
{
	s3_xbuf b = {0};

	s3_xb_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	s3_xb_el(&b, "Code", code, strlen(code));
	s3_xb_el(&b, "Message", msg, strlen(msg));
	if (q->s3bucket[0])
		s3_xb_el(&b, "BucketName", q->s3bucket, strlen(q->s3bucket));
	if (q->has_key)
		s3_xb_el(&b, "Key", q->key, q->key_len);
	s3_xb_el(&b, "Resource", q->url, strlen(q->url));
	s3_xb_el(&b, "RequestId", q->request_id, strlen(q->request_id));
	s3_xb_str(&b, "</Error>\n");
	return send_xml(c, q, status, &b);
}

static enum MHD_Result send_s3err(struct MHD_Connection *c, s3q *q, const s3_err *e)
{
	return send_err(c, q, (unsigned)e->status, e->code, e->message);
}

/* An engine failure as S3 sees it. */
static enum MHD_Result send_engine(struct MHD_Connection *c, s3q *q, int rc)
{
	const char *m = cairn_error_last();

	switch (rc) {
	case CAIRN_ENOTFOUND:
		return q->has_key ? send_err(c, q, 404, "NoSuchKey", "The specified key does not exist.")
				  : send_err(c, q, 404, "NoSuchBucket",
					     "The specified bucket does not exist");
	case CAIRN_EINVALID:
		return send_err(c, q, 400, "InvalidArgument", m[0] ? m : "invalid argument");
	case CAIRN_EPERM:
	case CAIRN_EAUTH:
		return send_err(c, q, 403, "AccessDenied", "Access Denied");
	case CAIRN_ETOOBIG:
		return send_err(c, q, 400, "EntityTooLarge",
				"Your proposed upload exceeds the maximum allowed size");
	default:
		return send_err(c, q, 500, "InternalError", m[0] ? m : "internal error");
	}
}

static enum MHD_Result no_content(struct MHD_Connection *c, s3q *q)
{
	return send_body(c, q, 204, NULL, "", 0);
}

/* ---- the request as sigv4.c wants it ---- */

typedef struct hdr_list {
	s3_header *h;
	size_t n, cap;
} hdr_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	hdr_list *l = cls;

	(void)kind;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		s3_header *nh = realloc(l->h, cap * sizeof(*nh));
		if (nh == NULL)
			return MHD_NO;
		l->h = nh;
		l->cap = cap;
	}
	l->h[l->n].name = key;
	l->h[l->n].value = value ? value : "";
	l->n++;
	return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	s3_xbuf *b = cls;

	(void)kind;
	if (b->n)
		s3_xb_str(b, "&");
	s3_xb_str(b, key);
	if (value) {
		s3_xb_str(b, "=");
		s3_xb_str(b, value);
	}
	return MHD_YES;
}

/*
 * A query argument, decoded as the signature's canonical query decodes it
 * ('+' is a space); false if absent or longer than cap - 1.
 */
static bool arg(struct MHD_Connection *c, const char *name, char *out, size_t cap)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	long n;

	if (v == NULL)
		return false;
	n = s3_query_decode(out, cap - 1, v, strlen(v));
	if (n < 0)
		return false;
	out[n] = '\0';
	return true;
}

static bool has_arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
					     NULL) == MHD_YES;
}

/*
 * The listings' text arguments fit their buffers, or the request is
 * refused (else arg() would find none, and a prefix too long to match
 * anything would list everything). true, or the error was sent (*ret).
 */
static bool list_args_ok(struct MHD_Connection *c, s3q *q, enum MHD_Result *ret)
{
	static const struct {
		const char *name;
		size_t max; /* bytes, decoded */
	} args[] = {
		{"prefix", CAIRN_KEY_MAX},	{"marker", CAIRN_KEY_MAX},
		{"start-after", CAIRN_KEY_MAX}, {"key-marker", CAIRN_KEY_MAX},
		{"continuation-token", 2 * CAIRN_KEY_MAX + 7},
		{"delimiter", 63},		{"upload-id-marker", 63},
		{"encoding-type", 15},
	};
	char buf[2 * CAIRN_KEY_MAX + 8], msg[128];

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, args[i].name);
		if (v != NULL && s3_query_decode(buf, args[i].max, v, strlen(v)) < 0) {
			snprintf(msg, sizeof(msg), "The %s argument is over %zu bytes, or badly escaped.",
				 args[i].name, args[i].max);
			*ret = send_err(c, q, 400, "InvalidArgument", msg);
			return false;
		}
	}
	return true;
}

static const char *hdr(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static int node_mac(struct MHD_Connection *c, const s3q *q);

/* Authenticate: who is asking (or anonymous). 0, or an error was sent (*ret). */
static int authenticate(struct MHD_Connection *c, s3q *q, const char *url, enum MHD_Result *ret)
{
	hdr_list hl = {NULL, 0, 0};
	s3_xbuf query = {0};
	s3_req r;
	s3_err e;
	cairn_repo *repo;
	cairn_meta *meta;
	char secret[256];
	uint8_t reader[16];
	bool by_node;
	int rc;

	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hl);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &query);
	if (query.oom) {
		free(hl.h);
		free(query.p);
		*ret = send_err(c, q, 500, "InternalError", "out of memory");
		return -1;
	}
	r.method = q->method;
	r.raw_path = url;
	r.raw_query = query.p ? query.p : "";
	r.headers = hl.h;
	r.nheaders = hl.n;
	r.now = (int64_t)time(NULL);
	memset(&e, 0, sizeof(e));
	rc = s3_auth_parse(&r, &q->auth, &e);
	/* through a node, the reader is the one whose failures count (authlimit.c) */
	by_node = hdr(c, "X-Cairn-Client") != NULL && node_mac(c, q) == 1 &&
		  cairn__addr_parse(hdr(c, "X-Cairn-Client"), reader);
	if (rc == 0 && q->auth.kind != S3_ANON &&
	    (by_node ? cairn__auth_blocked_at(reader) : cairn__auth_blocked(c)) > 0) {
		*ret = send_err(c, q, 503, "SlowDown",
				"Too many failed authentications from this address; slow down.");
		rc = -1;
		goto done;
	}
	if (rc == 0 && q->auth.kind != S3_ANON) {
		if ((rc = cairn__worker(&repo, &meta)) != 0) {
			*ret = send_engine(c, q, rc);
			goto done;
		}
		rc = meta->s3key_lookup(meta, q->auth.access_key, q->user, secret, sizeof(secret));
		if (rc == CAIRN_EAUTH) {
			e.status = 403;
			e.code = "InvalidAccessKeyId";
			snprintf(e.message, sizeof(e.message),
				 "The AWS Access Key Id you provided does not exist in our records.");
			rc = -1;
		} else if (rc != 0) {
			*ret = send_engine(c, q, rc);
			goto done;
		} else {
			rc = s3_auth_verify(&r, &q->auth, secret, &e);
		}
		memset(secret, 0, sizeof(secret));
	}
	if (rc != 0) {
		if (e.status == 403 && by_node) /* a wrong key or signature, not a malformed request */
			cairn__auth_failed_at(reader);
		else if (e.status == 403)
			cairn__auth_failed(c);
		*ret = send_s3err(c, q, &e);
		rc = -1;
		goto done;
	}
	if (q->auth.kind != S3_ANON) {
		q->authed = true;
		/* a key acts as its user with full rights in the user's namespace */
		q->writer = true;
		q->admin = strcmp(q->user, "admin") == 0;
		cairn__write_begins(c, q->method);
	}
done:
	free(hl.h);
	free(query.p);
	return rc;
}

/* ---- buckets: names, visibility, permission ---- */

/*
 * The bucket an S3 name means: NS--NAME names namespace NS; a plain name is
 * the caller's own (anonymous callers must name the namespace).
 */
static bool resolve_bucket(s3q *q)
{
	return s3_resolve_bucket(q->s3bucket, q->authed ? q->user : NULL, q->ns, q->name);
}

static bool may_read(const s3q *q, const cairn_bucket_row *b)
{
	return !b->is_private || (q->authed && (q->admin || strcmp(q->user, b->ns) == 0));
}

static bool may_write(const s3q *q, const char *ns)
{
	return q->authed && q->writer && (q->admin || strcmp(q->user, ns) == 0);
}

/*
 * The target bucket, readable (or writable) by the caller; else the S3
 * error is sent: NoSuchBucket for none, AccessDenied for someone else's.
 */
static int get_bucket(struct MHD_Connection *c, s3q *q, cairn_repo *r, bool write,
		      cairn_bucket_row *b, enum MHD_Result *ret)
{
	int rc;

	if (!resolve_bucket(q)) {
		*ret = q->authed || strstr(q->s3bucket, S3_NS_SEP)
			       ? send_err(c, q, 404, "NoSuchBucket", "The specified bucket does not exist")
			       : send_err(c, q, 403, "AccessDenied",
					  "Access Denied (anonymous requests name the bucket as "
					  "NAMESPACE--NAME)");
		return -1;
	}
	rc = cairn_bucket_get(r, q->ns, q->name, b);
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_EINVALID) {
		*ret = send_err(c, q, 404, "NoSuchBucket", "The specified bucket does not exist");
		return -1;
	}
	if (rc != 0) {
		*ret = send_engine(c, q, rc);
		return -1;
	}
	if (!may_read(q, b) || (write && !may_write(q, b->ns))) {
		*ret = send_err(c, q, 403, "AccessDenied", "Access Denied");
		return -1;
	}
	return 0;
}

/* ---- commits of one key, in order ---- */

/*
 * PutObject with If-None-Match: * must not replace an object that appears
 * while its body streams in. The engine commits unconditionally, so every
 * commit of an object through this front (PUT, copy, multipart complete)
 * holds a lock striped by key, and a conditional one checks again under it.
 * Writes through the native API or another process do not take it (see
 * docs/s3.md).
 */
#define COMMIT_STRIPES 64
#define M1 PTHREAD_MUTEX_INITIALIZER
#define M4 M1, M1, M1, M1
#define M16 M4, M4, M4, M4
static pthread_mutex_t commit_locks[COMMIT_STRIPES] = {M16, M16, M16, M16};
#undef M16
#undef M4
#undef M1

static pthread_mutex_t *commit_lock(const char *ns, const char *name, const char *key, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
	const char *parts[2] = {ns, name};
	pthread_mutex_t *m;

	for (int i = 0; i < 2; i++)
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * UINT64_C(1099511628211);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)key[i]) * UINT64_C(1099511628211);
	m = &commit_locks[h % COMMIT_STRIPES];
	pthread_mutex_lock(m);
	return m;
}

/* If-None-Match: * on a write: the key must not exist yet. */
static bool create_only(struct MHD_Connection *c)
{
	const char *h = hdr(c, "If-None-Match");

	return h != NULL && strcmp(h, "*") == 0;
}

/* Does the request's key exist? (An engine failure counts as yes: the write is refused.) */
static bool key_exists(cairn_repo *r, const s3q *q)
{
	cairn_object_row row;

	return cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row) != CAIRN_ENOTFOUND;
}

/* ---- objects: what S3 shows of them ---- */

static void etag_of(char out[80], const cairn_object_row *row)
{
	char hex[CAIRN_HASH_HEX_LEN + 1];

	if (row->has_md5) {
		s3_hex(hex, row->md5, 16);
		if (row->parts)
			snprintf(out, 80, "\"%s-%u\"", hex, row->parts);
		else
			snprintf(out, 80, "\"%s\"", hex);
	} else {
		/* written through the native API (no MD5 computed): the xet file hash */
		cairn_hash_to_hex(hex, &row->file);
		snprintf(out, 80, "\"%s\"", hex);
	}
}

/* x-amz-meta-* headers from the stored JSON. */
static void meta_headers(struct MHD_Response *r, const char *user_meta)
{
	json_t *v = user_meta ? json_loads(user_meta, 0, NULL) : NULL;
	const char *k;
	json_t *val;
	char name[300];

	json_object_foreach(v, k, val) {
		if (!json_is_string(val))
			continue;
		snprintf(name, sizeof(name), "x-amz-meta-%s", k);
		MHD_add_response_header(r, name, json_string_value(val));
	}
	json_decref(v);
}

typedef struct meta_ctx {
	json_t *obj;
	size_t bytes;
	bool bad;
} meta_ctx;

static enum MHD_Result collect_meta(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	meta_ctx *m = cls;
	char lower[300];
	size_t n;

	(void)kind;
	if (strncasecmp(key, "x-amz-meta-", 11) != 0)
		return MHD_YES;
	n = strlen(key + 11);
	if (n == 0 || n >= sizeof(lower)) {
		m->bad = true;
		return MHD_YES;
	}
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)((key[11 + i] >= 'A' && key[11 + i] <= 'Z') ? key[11 + i] + 32
									       : key[11 + i]);
	m->bytes += n + strlen(value ? value : "");
	if (json_object_set_new(m->obj, lower, json_string(value ? value : "")) != 0)
		m->bad = true;
	return MHD_YES;
}

/* The request's user metadata as JSON text (malloc'd, or NULL for none); -1 if too big or bad. */
static int user_meta_of(struct MHD_Connection *c, char **out)
{
	meta_ctx m = {json_object(), 0, false};

	*out = NULL;
	if (m.obj == NULL)
		return -1;
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_meta, &m);
	if (m.bad || m.bytes > CAIRN_USER_META_MAX) {
		json_decref(m.obj);
		return -1;
	}
	if (json_object_size(m.obj) > 0)
		*out = json_dumps(m.obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m.obj);
	return 0;
}

/* ---- list buckets, create, head, delete, location ---- */

typedef struct lb_ctx {
	s3_xbuf *b;
	const s3q *q;
} lb_ctx;

static int lb_one(void *ctx, const cairn_bucket_row *row)
{
	lb_ctx *l = ctx;
	char t[64], name[2 * CAIRN_NAME_MAX + 3];

	if (!may_read(l->q, row))
		return 0;
	/* the caller's own buckets by their name; others' (an admin sees all) as NS--NAME */
	if (strcmp(row->ns, l->q->user) == 0)
		snprintf(name, sizeof(name), "%s", row->name);
	else
		snprintf(name, sizeof(name), "%s" S3_NS_SEP "%s", row->ns, row->name);
	iso_time(t, row->created_ns);
	s3_xb_str(l->b, "<Bucket>");
	s3_xb_el(l->b, "Name", name, strlen(name));
	s3_xb_el(l->b, "CreationDate", t, strlen(t));
	s3_xb_str(l->b, "</Bucket>");
	return 0;
}

static enum MHD_Result list_buckets(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	s3_xbuf b = {0};
	lb_ctx l = {&b, q};
	int rc;

	if (!q->authed)
		return send_err(c, q, 403, "AccessDenied", "Access Denied");
	s3_xb_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner>");
	s3_xb_el(&b, "ID", q->user, strlen(q->user));
	s3_xb_el(&b, "DisplayName", q->user, strlen(q->user));
	s3_xb_str(&b, "</Owner><Buckets>");
	rc = cairn_bucket_list(r, q->admin ? NULL : q->user, lb_one, &l);
	if (rc != 0) {
		free(b.p);
		return send_engine(c, q, rc);
	}
	s3_xb_str(&b, "</Buckets></ListAllMyBucketsResult>\n");
	return send_xml(c, q, 200, &b);
}

/*
 * A bucket's canned ACL (x-amz-acl) as Cairn's one setting: 1 public
 * ("public-read"), 0 private ("private", or none), -1 one we cannot honour
 * (writes by everyone, reads by any signed caller...).
 */
static int canned_public(struct MHD_Connection *c)
{
	const char *acl = hdr(c, "x-amz-acl");

	if (acl == NULL || strcmp(acl, "private") == 0)
		return 0;
	return strcmp(acl, "public-read") == 0 ? 1 : -1;
}

static enum MHD_Result create_bucket(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	int rc, pub;

	/* the body, if any, must be a CreateBucketConfiguration; its region is accepted */
	if (!s3_xml_ok(q->xml.p, q->xml.n))
		return send_err(c, q, 400, "MalformedXML",
				"The XML you provided was not well-formed or did not validate "
				"against our published schema");
	if (!resolve_bucket(q))
		return send_err(c, q, 400, "InvalidBucketName", "The specified bucket is not valid.");
	if (!may_write(q, q->ns))
		return send_err(c, q, 403, "AccessDenied", "Access Denied");
	if ((pub = canned_public(c)) < 0)
		return send_err(c, q, 501, "NotImplemented",
				"Only the canned ACLs private and public-read are supported");
	rc = cairn_bucket_create(r, q->ns, q->name, pub == 0);
	if (rc == CAIRN_EEXISTS) {
		if (cairn_bucket_get(r, q->ns, q->name, &b) == 0)
			return send_err(c, q, 409, "BucketAlreadyOwnedByYou",
					"Your previous request to create the named bucket succeeded "
					"and you already own it.");
	}
	if (rc == CAIRN_EINVALID)
		return send_err(c, q, 400, "InvalidBucketName", "The specified bucket is not valid.");
	if (rc != 0)
		return send_engine(c, q, rc);
	{
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
									     MHD_RESPMEM_PERSISTENT);
		char loc[2 * CAIRN_NAME_MAX + 8];
		if (resp == NULL)
			return MHD_NO;
		snprintf(loc, sizeof(loc), "/%s", q->s3bucket);
		MHD_add_response_header(resp, "Location", loc);
		return queue(c, q, 200, resp);
	}
}

static int count_one(void *ctx, const cairn_object_row *row, const char *p, size_t n)
{
	(void)row;
	(void)p;
	(void)n;
	++*(size_t *)ctx;
	return 1;
}

static enum MHD_Result delete_bucket(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	enum MHD_Result ret;
	size_t n = 0;
	bool trunc;
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	lo.limit = 1;
	rc = cairn_object_list(r, q->ns, q->name, &lo, count_one, &n, &trunc);
	if (rc != 0 && rc != 1)
		return send_engine(c, q, rc);
	if (n > 0)
		return send_err(c, q, 409, "BucketNotEmpty",
				"The bucket you tried to delete is not empty");
	if ((rc = cairn_bucket_delete(r, q->ns, q->name)) != 0)
		return send_engine(c, q, rc);
	return no_content(c, q);
}

/* ---- listing objects ---- */

typedef struct lo_ctx {
	s3_xbuf *b;
	bool v2, url, owner;
	bool versions; /* ListObjectVersions: <Version> entries, each the one "null" version */
	const char *ns;
	size_t count;
	char last[CAIRN_KEY_MAX + 2]; /* the last key or prefix given (the next marker) */
	size_t last_len;
} lo_ctx;

static int lo_one(void *ctx, const cairn_object_row *row, const char *prefix, size_t plen)
{
	lo_ctx *l = ctx;
	char t[64], etag[80];

	l->count++;
	if (row == NULL) {
		s3_xb_str(l->b, "<CommonPrefixes>");
		s3_xb_key(l->b, "Prefix", prefix, plen, l->url);
		s3_xb_str(l->b, "</CommonPrefixes>");
		memcpy(l->last, prefix, plen);
		l->last_len = plen;
		return 0;
	}
	iso_time(t, row->created_ns);
	etag_of(etag, row);
	s3_xb_str(l->b, l->versions ? "<Version>" : "<Contents>");
	s3_xb_key(l->b, "Key", row->key, row->key_len, l->url);
	if (l->versions)
		s3_xb_str(l->b, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
	s3_xb_el(l->b, "LastModified", t, strlen(t));
	s3_xb_el(l->b, "ETag", etag, strlen(etag));
	s3_xb_fmt(l->b, "<Size>%" PRIu64 "</Size>", row->size);
	if (l->owner) {
		s3_xb_str(l->b, "<Owner>");
		s3_xb_el(l->b, "ID", l->ns, strlen(l->ns));
		s3_xb_el(l->b, "DisplayName", l->ns, strlen(l->ns));
		s3_xb_str(l->b, "</Owner>");
	}
	s3_xb_str(l->b, l->versions ? "<StorageClass>STANDARD</StorageClass></Version>"
				 : "<StorageClass>STANDARD</StorageClass></Contents>");
	memcpy(l->last, row->key, row->key_len);
	l->last_len = row->key_len;
	return 0;
}

static enum MHD_Result list_objects(struct MHD_Connection *c, s3q *q, cairn_repo *r, bool v2)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	cairn_bucket_row b;
	enum MHD_Result ret;
	char prefix[CAIRN_KEY_MAX + 1] = "", delim[64] = "", marker[CAIRN_KEY_MAX + 1] = "";
	char maxk[32], enc[16], tok[2 * CAIRN_KEY_MAX + 8], after[CAIRN_KEY_MAX + 1];
	long max = LIST_MAX;
	bool trunc = false, url = false, have_marker = false;
	size_t marker_len = 0;
	s3_xbuf x = {0};
	lo_ctx l;
	int rc;

	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	if (!list_args_ok(c, q, &ret))
		return ret;
	arg(c, "prefix", prefix, sizeof(prefix));
	arg(c, "delimiter", delim, sizeof(delim));
	if (arg(c, "encoding-type", enc, sizeof(enc))) {
		if (strcmp(enc, "url") != 0)
			return send_err(c, q, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
		url = true;
	}
	if (arg(c, "max-keys", maxk, sizeof(maxk))) {
		char *e;
		max = strtol(maxk, &e, 10);
		if (*maxk == '\0' || *e != '\0' || max < 0)
			return send_err(c, q, 400, "InvalidArgument",
					"Provided max-keys not an integer or within integer range");
		if (max > LIST_MAX)
			max = LIST_MAX;
	}
	if (v2) {
		if (arg(c, "continuation-token", tok, sizeof(tok))) {
			long n = s3_token_parse(marker, sizeof(marker) - 1, tok);
			if (n < 0)
				return send_err(c, q, 400, "InvalidArgument",
						"The continuation token provided is incorrect");
			marker_len = (size_t)n;
			have_marker = true;
		} else if (arg(c, "start-after", after, sizeof(after))) {
			marker_len = strlen(after);
			memcpy(marker, after, marker_len + 1);
			have_marker = marker_len > 0;
		}
	} else if (arg(c, "marker", marker, sizeof(marker))) {
		marker_len = strlen(marker);
		have_marker = marker_len > 0;
	}
	memset(&l, 0, sizeof(l));
	l.b = &x;
	l.v2 = v2;
	l.url = url;
	l.owner = !v2 || has_arg(c, "fetch-owner");
	l.ns = b.ns;
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&x, "Name", q->s3bucket, strlen(q->s3bucket));
	s3_xb_key(&x, "Prefix", prefix, strlen(prefix), url);
	if (delim[0])
		s3_xb_key(&x, "Delimiter", delim, strlen(delim), url);
	if (v2) {
		char t[2 * CAIRN_KEY_MAX + 8];
		if (arg(c, "continuation-token", t, sizeof(t)))
			s3_xb_el(&x, "ContinuationToken", t, strlen(t));
		if (arg(c, "start-after", after, sizeof(after)))
			s3_xb_key(&x, "StartAfter", after, strlen(after), url);
	} else {
		s3_xb_key(&x, "Marker", marker, marker_len, url);
	}
	s3_xb_fmt(&x, "<MaxKeys>%ld</MaxKeys>", max);
	if (url)
		s3_xb_str(&x, "<EncodingType>url</EncodingType>");
	if (max > 0) {
		lo.prefix = prefix[0] ? prefix : NULL;
		lo.prefix_len = strlen(prefix);
		lo.delimiter = delim[0] ? delim : NULL;
		lo.delimiter_len = strlen(delim);
		lo.start_after = have_marker ? marker : NULL;
		lo.start_after_len = marker_len;
		lo.limit = (size_t)max;
		/* the entries go in a buffer of their own: IsTruncated comes first */
		{
			s3_xbuf body = {0};
			l.b = &body;
			rc = cairn_object_list(r, q->ns, q->name, &lo, lo_one, &l, &trunc);
			l.b = &x;
			if (rc != 0) {
				free(body.p);
				free(x.p);
				return send_engine(c, q, rc);
			}
			s3_xb_fmt(&x, "<IsTruncated>%s</IsTruncated>", trunc ? "true" : "false");
			if (v2) {
				s3_xb_fmt(&x, "<KeyCount>%zu</KeyCount>", l.count);
				if (trunc) {
					char nt[2 * CAIRN_KEY_MAX + 3];
					s3_token_of(nt, l.last, l.last_len);
					s3_xb_el(&x, "NextContinuationToken", nt, strlen(nt));
				}
			} else if (trunc) {
				/* given whenever truncated, delimiter or not (clients rely on it) */
				s3_xb_key(&x, "NextMarker", l.last, l.last_len, url);
			}
			if (body.p)
				s3_xb_put(&x, body.p, body.n);
			x.oom |= body.oom;
			free(body.p);
		}
	} else {
		s3_xb_str(&x, "<IsTruncated>false</IsTruncated>");
		if (v2)
			s3_xb_str(&x, "<KeyCount>0</KeyCount>");
	}
	s3_xb_str(&x, "</ListBucketResult>\n");
	return send_xml(c, q, 200, &x);
}

/* ListObjectVersions, minimal: the current objects, each version "null" (lo_one). */
static enum MHD_Result list_versions(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	cairn_bucket_row b;
	enum MHD_Result ret;
	char prefix[CAIRN_KEY_MAX + 1] = "", delim[64] = "", marker[CAIRN_KEY_MAX + 1] = "";
	char maxk[32], enc[16];
	long max = LIST_MAX;
	bool trunc = false, url = false;
	s3_xbuf x = {0}, body = {0};
	lo_ctx l;
	int rc;

	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	if (!list_args_ok(c, q, &ret))
		return ret;
	arg(c, "prefix", prefix, sizeof(prefix));
	arg(c, "delimiter", delim, sizeof(delim));
	arg(c, "key-marker", marker, sizeof(marker));
	if (arg(c, "encoding-type", enc, sizeof(enc))) {
		if (strcmp(enc, "url") != 0)
			return send_err(c, q, 400, "InvalidArgument",
					"Invalid Encoding Method specified in Request");
		url = true;
	}
	if (arg(c, "max-keys", maxk, sizeof(maxk))) {
		max = strtol(maxk, NULL, 10);
		if (max <= 0 || max > LIST_MAX)
			max = LIST_MAX;
	}
	memset(&l, 0, sizeof(l));
	l.b = &body;
	l.url = url;
	l.ns = b.ns;
	l.versions = true;
	l.owner = true; /* a version always names its owner */
	lo.prefix = prefix[0] ? prefix : NULL;
	lo.prefix_len = strlen(prefix);
	lo.delimiter = delim[0] ? delim : NULL;
	lo.delimiter_len = strlen(delim);
	lo.start_after = marker[0] ? marker : NULL;
	lo.start_after_len = strlen(marker);
	lo.limit = (size_t)max;
	rc = cairn_object_list(r, q->ns, q->name, &lo, lo_one, &l, &trunc);
	if (rc != 0) {
		free(body.p);
		return send_engine(c, q, rc);
	}
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListVersionsResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&x, "Name", q->s3bucket, strlen(q->s3bucket));
	s3_xb_key(&x, "Prefix", prefix, strlen(prefix), url);
	if (delim[0])
		s3_xb_key(&x, "Delimiter", delim, strlen(delim), url);
	s3_xb_key(&x, "KeyMarker", marker, strlen(marker), url);
	s3_xb_str(&x, "<VersionIdMarker></VersionIdMarker>");
	s3_xb_fmt(&x, "<MaxKeys>%ld</MaxKeys><IsTruncated>%s</IsTruncated>", max,
	       trunc ? "true" : "false");
	if (url)
		s3_xb_str(&x, "<EncodingType>url</EncodingType>");
	if (trunc) {
		s3_xb_key(&x, "NextKeyMarker", l.last, l.last_len, url);
		s3_xb_str(&x, "<NextVersionIdMarker>null</NextVersionIdMarker>");
	}
	if (body.p)
		s3_xb_put(&x, body.p, body.n);
	free(body.p);
	s3_xb_str(&x, "</ListVersionsResult>\n");
	return send_xml(c, q, 200, &x);
}

/* ---- GET and HEAD of an object ---- */

static int fill_object(void *ctx, uint64_t at, size_t want, uint8_t *buf)
{
	s3q *q = ctx;
	int rc = cairn__piece_from_reader(q->rd, at, want, buf);

	if (rc != 0)
		fprintf(stderr, "s3: %s: read at %" PRIu64 " failed: %s\n", q->url, at,
			cairn_error_last());
	return rc;
}

static ssize_t read_piece(void *cls, uint64_t pos, char *out, size_t max)
{
	s3q *q = cls;

	return cairn__pieces_serve(&q->pc, pos, out, max, fill_object, q, &q->bytes_out);
}

/* Does the ETag list h (comma separated, quoted or not, or "*") name etag? */
static bool etag_matches(const char *h, const char *etag)
{
	const char *bare = etag + 1; /* etag is quoted */
	size_t bl = strlen(bare) - 1;

	while (h && *h) {
		const char *e;
		size_t n;
		while (*h == ' ' || *h == ',')
			h++;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		e = strchr(h, ',');
		n = e ? (size_t)(e - h) : strlen(h);
		while (n > 0 && h[n - 1] == ' ')
			n--;
		if ((n == 1 && *h == '*') || (n == bl && memcmp(h, bare, bl) == 0) ||
		    (n == bl + 2 && h[0] == '"' && memcmp(h + 1, bare, bl) == 0))
			return true;
		if (e == NULL)
			break;
		h = e + 1;
	}
	return false;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * Did a region's cache node pass this request on (node_s3.c)? X-Cairn-Region
 * names the region, X-Cairn-Region-Exp / -Sig are its MAC over
 * "s3:SUBJECT:EXP", SUBJECT binding it to this request's method, reader
 * (X-Cairn-Client) and credential (cairn__node_s3_subject).
 * 1: it did; 0: no such headers; -1: the headers are there but do not check.
 */
static int node_mac(struct MHD_Connection *c, const s3q *q)
{
	const char *reg = hdr(c, "X-Cairn-Region");
	char url[CAIRN_REGION_URL_MAX + 1];
	uint8_t key[32];
	cairn_repo *r;
	cairn_meta *m;

	if (reg == NULL)
		return 0;
	if (strlen(reg) > CAIRN_NAME_MAX ||
	    cairn__worker(&r, &m) != 0 || m->region_get(m, reg, url, key) != 0)
		return -1;
	{
		const char *cred = hdr(c, "Authorization");
		char subject[65];

		if (cred == NULL)
			cred = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "X-Amz-Signature");
		if (cred == NULL)
			cred = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Signature");
		cairn__node_s3_subject(subject, q->method, hdr(c, "X-Cairn-Client"), cred);
		return cairn__region_check(key, "s3", subject, hdr(c, "X-Cairn-Region-Exp"),
					   hdr(c, "X-Cairn-Region-Sig"))
			       ? 1
			       : -1;
	}
}

/* A GET a node passed on: 1 (the node serves the bytes), 0 (an ordinary request), -1 (forged). */
static int from_node(struct MHD_Connection *c, const s3q *q)
{
	if (strcmp(q->method, "GET") != 0)
		return 0; /* a HEAD is answered as it is */
	return node_mac(c, q);
}

static enum MHD_Result get_object(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	static const struct {
		const char *arg, *header;
	} overrides[] = {
		{"response-content-type", "Content-Type"},
		{"response-content-language", "Content-Language"},
		{"response-expires", "Expires"},
		{"response-cache-control", "Cache-Control"},
		{"response-content-disposition", "Content-Disposition"},
		{"response-content-encoding", "Content-Encoding"},
	};
	cairn_bucket_row b;
	cairn_object_row row;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char etag[80], lm[40], cr[96], pn[16], ctype[CAIRN_CTYPE_MAX + 1] = "", *meta = NULL;
	const char *h;
	unsigned status = 200, part = 0;
	uint64_t part_off = 0, part_len = 0;
	int rc, rr, node = from_node(c, q);

	if (node < 0)
		return send_err(c, q, 403, "AccessDenied", "bad or expired region signature");
	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	if ((rc = cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row)) != 0)
		return send_engine(c, q, rc);
	etag_of(etag, &row);
	http_time(lm, row.created_ns);
	if (row.content_type)
		snprintf(ctype, sizeof(ctype), "%s", row.content_type);
	if (row.user_meta && (meta = strdup(row.user_meta)) == NULL)
		return send_err(c, q, 500, "InternalError", "out of memory");
	/* preconditions, in S3's order */
	if ((h = hdr(c, "If-Match")) && !etag_matches(h, etag)) {
		free(meta);
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	}
	if (!hdr(c, "If-Match") && (h = hdr(c, "If-Unmodified-Since")) &&
	    parse_http_time(h) >= 0 && row.created_ns / 1000000000 > parse_http_time(h)) {
		free(meta);
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	}
	if (((h = hdr(c, "If-None-Match")) && etag_matches(h, etag)) ||
	    (!hdr(c, "If-None-Match") && (h = hdr(c, "If-Modified-Since")) &&
	     parse_http_time(h) >= 0 && row.created_ns / 1000000000 <= parse_http_time(h))) {
		free(meta);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Last-Modified", lm);
		return queue(c, q, 304, resp);
	}
	if (arg(c, "partNumber", pn, sizeof(pn))) {
		char *e;
		long v = strtol(pn, &e, 10);
		if (*pn == '\0' || *e != '\0' || v < 1 || v > 10000) {
			free(meta);
			return send_err(c, q, 400, "InvalidArgument",
					"Part number must be an integer between 1 and 10000, inclusive");
		}
		if (hdr(c, "Range")) {
			free(meta);
			return send_err(c, q, 400, "InvalidRequest",
					"Cannot specify both Range header and partNumber query "
					"parameter");
		}
		part = (unsigned)v;
		if (row.parts == 0 && part != 1) {
			free(meta);
			return send_err(c, q, 416, "InvalidPartNumber",
					"The requested partnumber is not satisfiable");
		}
		if (row.parts > 0) {
			if (part > row.parts) {
				free(meta);
				return send_err(c, q, 416, "InvalidPartNumber",
						"The requested partnumber is not satisfiable");
			}
			if (row.part_sizes == NULL) {
				/* completed before part sizes were kept */
				free(meta);
				return send_err(c, q, 501, "NotImplemented",
						"this object's part sizes are not known");
			}
			for (unsigned k = 0; k + 1 < part; k++)
				part_off += le64(row.part_sizes + 8 * k);
			part_len = le64(row.part_sizes + 8 * (part - 1));
		}
	}
	if ((rc = cairn_reader_open(&q->rd, r, q->ns, q->name, q->key, q->key_len)) != 0) {
		free(meta);
		return send_engine(c, q, rc);
	}
	q->pc.first = 0;
	q->pc.len = cairn_reader_size(q->rd);
	if (row.parts > 0 && part > 0) {
		if (part_off + part_len > q->pc.len) {
			free(meta);
			return send_err(c, q, 500, "InternalError", "part sizes do not match the object");
		}
		q->pc.first = part_off;
		q->pc.len = part_len;
		status = 206;
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, q->pc.first,
			 q->pc.first + q->pc.len - (q->pc.len ? 1 : 0), cairn_reader_size(q->rd));
	}
	rr = part ? 0 : cairn__parse_range(hdr(c, "Range"), cairn_reader_size(q->rd), &q->pc.first,
					   &q->pc.len);
	if (rr < 0) {
		free(meta);
		return send_err(c, q, 416, "InvalidRange", "The requested range is not satisfiable");
	}
	if (rr > 0) {
		status = 206;
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, q->pc.first,
			 q->pc.first + q->pc.len - 1, cairn_reader_size(q->rd));
	}
	if (node) {
		/* the node serves the bytes from its cache: it gets the terms and the range */
		json_t *v = cairn__node_terms_json(r, cairn_reader_file(q->rd), &rc);
		char *text;

		if (v == NULL) {
			free(meta);
			return send_engine(c, q, rc);
		}
		json_object_set_new(v, "first", json_integer((json_int_t)q->pc.first));
		json_object_set_new(v, "len", json_integer((json_int_t)q->pc.len));
		text = json_dumps(v, JSON_COMPACT);
		json_decref(v);
		resp = text ? MHD_create_response_from_buffer(strlen(text), text,
							      MHD_RESPMEM_MUST_FREE)
			    : NULL;
		if (resp == NULL) {
			free(text);
			free(meta);
			return send_err(c, q, 500, "InternalError", "out of memory");
		}
		MHD_add_response_header(resp, "X-Cairn-Region-File", "1");
	} else {
		/* for a HEAD, MHD sends this length and never asks for the body */
		q->pc.buf = malloc(CAIRN__PIECE);
		if (q->pc.buf == NULL) {
			free(meta);
			return send_err(c, q, 500, "InternalError", "out of memory");
		}
		resp = MHD_create_response_from_callback(q->pc.len, 64 * 1024, read_piece, q, NULL);
		if (resp == NULL) {
			free(meta);
			return MHD_NO;
		}
	}
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Last-Modified", lm);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "Content-Type",
				ctype[0] ? ctype : "binary/octet-stream");
	/*
	 * Stored HTML must not run as a page of this host: cookies ignore
	 * ports, so its script could plant cookies the web pages receive.
	 */
	MHD_add_response_header(resp, "Content-Security-Policy", "sandbox");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (status == 206)
		MHD_add_response_header(resp, "Content-Range", cr);
	if (row.parts > 0 && has_arg(c, "partNumber")) {
		char n[16];
		snprintf(n, sizeof(n), "%u", row.parts);
		MHD_add_response_header(resp, "x-amz-mp-parts-count", n);
	}
	meta_headers(resp, meta);
	free(meta);
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		char v[1024];
		if (arg(c, overrides[i].arg, v, sizeof(v))) {
			MHD_del_response_header(resp, overrides[i].header,
						MHD_get_response_header(resp, overrides[i].header));
			MHD_add_response_header(resp, overrides[i].header, v);
		}
	}
	return queue(c, q, status, resp);
}

/* ---- DELETE of an object, and DeleteObjects ---- */

static enum MHD_Result delete_object(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	rc = cairn_object_delete(r, q->ns, q->name, q->key, q->key_len);
	if (rc != 0 && rc != CAIRN_ENOTFOUND) /* deleting what is not there succeeds, as in S3 */
		return send_engine(c, q, rc);
	return no_content(c, q);
}

static enum MHD_Result delete_objects(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	s3_delete d;
	s3_xbuf out = {0}, errs = {0};
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	/* the whole document is read before anything is deleted */
	rc = s3_delete_parse(q->xml.p, q->xml.n, &d);
	if (rc != 0) {
		s3_delete_free(&d);
		if (rc == CAIRN_ENOMEM)
			return send_err(c, q, 500, "InternalError", "out of memory");
		return send_err(c, q, 400, "MalformedXML",
				rc == CAIRN_ETOOBIG ? "at most 1000 keys per DeleteObjects"
					 : "The XML you provided was not well-formed or did "
					   "not validate against our published schema");
	}
	s3_xb_str(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult "
			"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < d.n; i++) {
		const char *key = d.keys.p ? d.keys.p + d.obj[i].at : "";
		size_t key_len = d.obj[i].len;

		rc = key_len ? cairn_object_delete(r, q->ns, q->name, key, key_len) : CAIRN_EINVALID;
		if (rc == 0 || rc == CAIRN_ENOTFOUND) {
			if (!d.quiet) {
				s3_xb_str(&out, "<Deleted>");
				s3_xb_el(&out, "Key", key, key_len);
				s3_xb_str(&out, "</Deleted>");
			}
		} else {
			s3_xb_str(&errs, "<Error>");
			s3_xb_el(&errs, "Key", key, key_len);
			s3_xb_fmt(&errs, "<Code>%s</Code>",
				  rc == CAIRN_EINVALID ? "InvalidArgument" : "InternalError");
			s3_xb_el(&errs, "Message", cairn_error_last(), strlen(cairn_error_last()));
			s3_xb_str(&errs, "</Error>");
		}
	}
	s3_delete_free(&d);
	if (errs.p)
		s3_xb_put(&out, errs.p, errs.n);
	free(errs.p);
	s3_xb_str(&out, "</DeleteResult>\n");
	return send_xml(c, q, 200, &out);
}

/* ---- copies ---- */

/* x-amz-copy-source: "[/]BUCKET/KEY[?versionId=null]", URL-encoded. */
static bool copy_source(struct MHD_Connection *c, s3q *src_q)
{
	s3_target t;

	if (!s3_copy_source(hdr(c, "x-amz-copy-source"), &t))
		return false;
	memcpy(src_q->s3bucket, t.bucket, sizeof(src_q->s3bucket));
	memcpy(src_q->key, t.key, sizeof(src_q->key));
	src_q->key_len = t.key_len;
	src_q->has_key = t.has_key;
	return true;
}

/* The source of a copy, readable by the caller: bucket resolved, object stat'ed. */
static int copy_from(struct MHD_Connection *c, s3q *q, cairn_repo *r, s3q *src,
		     cairn_object_row *row, enum MHD_Result *ret)
{
	cairn_bucket_row b;
	int rc;

	memset(src, 0, sizeof(*src));
	src->authed = q->authed;
	src->admin = q->admin;
	src->writer = q->writer;
	memcpy(src->user, q->user, sizeof(src->user));
	if (!copy_source(c, src)) {
		*ret = send_err(c, q, 400, "InvalidArgument",
				"Copy Source must mention the source bucket and key: "
				"sourcebucket/sourcekey");
		return -1;
	}
	if (!resolve_bucket(src) || (rc = cairn_bucket_get(r, src->ns, src->name, &b)) != 0) {
		*ret = send_err(c, q, 404, "NoSuchBucket", "The specified bucket does not exist");
		return -1;
	}
	if (!may_read(q, &b)) {
		*ret = send_err(c, q, 403, "AccessDenied", "Access Denied");
		return -1;
	}
	rc = cairn_object_stat(r, src->ns, src->name, src->key, src->key_len, row);
	if (rc == CAIRN_ENOTFOUND) {
		*ret = send_err(c, q, 404, "NoSuchKey", "The specified key does not exist.");
		return -1;
	}
	if (rc != 0) {
		*ret = send_engine(c, q, rc);
		return -1;
	}
	return 0;
}

/*
 * The x-amz-copy-source-if-* conditions on the source (CopyObject and
 * UploadPartCopy): true when they hold. As for GET, a matching If-Match
 * makes If-Unmodified-Since moot and a present If-None-Match makes
 * If-Modified-Since moot; a date that does not parse is ignored.
 */
static bool copy_conditions_hold(struct MHD_Connection *c, const cairn_object_row *row)
{
	const char *im = hdr(c, "x-amz-copy-source-if-match");
	const char *inm = hdr(c, "x-amz-copy-source-if-none-match");
	const char *ius = hdr(c, "x-amz-copy-source-if-unmodified-since");
	const char *ims = hdr(c, "x-amz-copy-source-if-modified-since");
	int64_t at = row->created_ns / 1000000000, t;
	char etag[80];

	etag_of(etag, row);
	if (im && !etag_matches(im, etag))
		return false;
	if (!im && ius && (t = parse_http_time(ius)) >= 0 && at > t)
		return false;
	if (inm && etag_matches(inm, etag))
		return false;
	if (!inm && ims && (t = parse_http_time(ims)) >= 0 && at <= t)
		return false;
	return true;
}

static enum MHD_Result copy_object(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	cairn_object_row row;
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	enum MHD_Result ret;
	s3q *src = calloc(1, sizeof(*src));
	const char *dir = hdr(c, "x-amz-metadata-directive");
	bool replace = dir && strcmp(dir, "REPLACE") == 0;
	char etag[80], t[64], *meta = NULL;
	pthread_mutex_t *lock;
	s3_xbuf x = {0};
	int rc;

	if (src == NULL)
		return send_err(c, q, 500, "InternalError", "out of memory");
	if (dir && !replace && strcmp(dir, "COPY") != 0) {
		free(src);
		return send_err(c, q, 400, "InvalidArgument", "Unknown metadata directive.");
	}
	if (get_bucket(c, q, r, true, &b, &ret) != 0 || copy_from(c, q, r, src, &row, &ret) != 0) {
		free(src);
		return ret;
	}
	if (!replace && strcmp(src->ns, q->ns) == 0 && strcmp(src->name, q->name) == 0 &&
	    src->key_len == q->key_len && memcmp(src->key, q->key, q->key_len) == 0) {
		free(src);
		return send_err(c, q, 400, "InvalidRequest",
				"This copy request is illegal because it is trying to copy an object "
				"to itself without changing the object's metadata, storage class, "
				"website redirect location or encryption attributes.");
	}
	if (!copy_conditions_hold(c, &row)) {
		free(src);
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	}
	if (replace) {
		if (user_meta_of(c, &meta) != 0) {
			free(src);
			return send_err(c, q, 400, "MetadataTooLarge",
					"Your metadata headers exceed the maximum allowed metadata size.");
		}
		po.user_meta = meta;
		po.content_type = hdr(c, "Content-Type");
		po.md5 = row.has_md5 ? row.md5 : NULL;
		po.parts = row.parts;
		po.mtime_ns = row.mtime_ns;
	}
	lock = commit_lock(q->ns, q->name, q->key, q->key_len);
	rc = cairn_object_copy_with(r, src->ns, src->name, src->key, src->key_len, q->ns, q->name,
				    q->key, q->key_len, replace ? &po : NULL);
	pthread_mutex_unlock(lock);
	free(src);
	free(meta);
	if (rc != 0)
		return send_engine(c, q, rc);
	if ((rc = cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row)) != 0)
		return send_engine(c, q, rc);
	etag_of(etag, &row);
	iso_time(t, row.created_ns);
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult>");
	s3_xb_el(&x, "LastModified", t, strlen(t));
	s3_xb_el(&x, "ETag", etag, strlen(etag));
	s3_xb_str(&x, "</CopyObjectResult>\n");
	return send_xml(c, q, 200, &x);
}

/* ---- streaming object bodies (PutObject, UploadPart) ---- */

static int object_bytes(void *ctx, const void *p, size_t n)
{
	s3q *q = ctx;
	int rc;

	if (q->body_len + n > q->want_len || q->body_len + n > PUT_MAX) {
		q->body_failed = true;
		q->body_err.status = 400;
		q->body_err.code = "IncompleteBody";
		snprintf(q->body_err.message, sizeof(q->body_err.message),
			 "more bytes than the request announced");
		return 1;
	}
	q->body_len += n;
	s3_digest_update(q->md5, p, n);
	if ((rc = cairn_upload_write(q->up, p, n)) != 0) {
		q->up_rc = rc;
		snprintf(q->up_msg, sizeof(q->up_msg), "%s", cairn_error_last());
		return 1;
	}
	return 0;
}

static void body_data(s3q *q, const char *data, size_t n)
{
	if (q->body_failed || q->up_rc)
		return; /* drain the rest, answer at the end */
	if (q->chunked) {
		int rc = s3_chunked_feed(q->chunked, data, n, object_bytes, q, &q->body_err);
		if (rc < 0)
			q->body_failed = true;
		return;
	}
	if (q->sha)
		s3_digest_update(q->sha, data, n);
	object_bytes(q, data, n);
}

static bool b64_md5(const char *s, uint8_t out[16])
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (s == NULL || strlen(s) != 24 || strcmp(s + 22, "==") != 0)
		return false;
	for (size_t i = 0; i < 22; i++) {
		const char *p = strchr(al, s[i]);
		if (p == NULL || s[i] == '\0')
			return false;
		acc = acc << 6 | (uint32_t)(p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < 16)
				out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o == 16;
}

/* rclone keeps a file's mtime as x-amz-meta-mtime (seconds, maybe fractional). */
static int64_t mtime_from(struct MHD_Connection *c)
{
	const char *h = hdr(c, "x-amz-meta-mtime");
	char *end;
	double v;

	if (h == NULL)
		return 0;
	v = strtod(h, &end);
	if (end == h || v <= 0 || v > 1e11)
		return 0;
	return (int64_t)(v * 1e9);
}

/* The part number of an UploadPart or UploadPartCopy, 1..10000; 0 if none or bad. */
static unsigned part_number(struct MHD_Connection *c)
{
	char pn[16], *e;
	long v;

	if (!arg(c, "partNumber", pn, sizeof(pn)))
		return 0;
	v = strtol(pn, &e, 10);
	return pn[0] != '\0' && *e == '\0' && v >= 1 && v <= CAIRN_MPU_PARTS_MAX ? (unsigned)v : 0;
}

/* The request's upload exists, for the request's key; else NoSuchUpload was sent (*ret). */
static int upload_check(struct MHD_Connection *c, s3q *q, cairn_repo *r, enum MHD_Result *ret)
{
	cairn_mpu_part *parts = NULL;
	const char *key;
	size_t key_len, np = 0;
	bool trunc;
	int rc;

	rc = cairn_mpu_parts(r, q->ns, q->name, q->upload_id, 0, 1, &key, &key_len, &parts, &np,
			     &trunc);
	free(parts);
	if (rc == CAIRN_ENOTFOUND ||
	    (rc == 0 && (key_len != q->key_len || memcmp(key, q->key, key_len) != 0))) {
		*ret = send_err(c, q, 404, "NoSuchUpload",
				"The specified upload does not exist. The upload ID may be invalid, "
				"or the upload may have been aborted or completed.");
		return -1;
	}
	if (rc != 0) {
		*ret = send_engine(c, q, rc);
		return -1;
	}
	return 0;
}

/* First call of a PUT of object bytes: check, then start the upload. */
static enum MHD_Result put_begin(struct MHD_Connection *c, s3q *q, cairn_repo *r, bool part)
{
	const char *cl = hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	cairn_bucket_row b;
	enum MHD_Result ret;
	cairn_caller who = {q->user, q->admin, q->writer};
	uint64_t n;
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	if (part) {
		if ((q->part = part_number(c)) == 0)
			return send_err(c, q, 400, "InvalidArgument",
					"Part number must be an integer between 1 and 10000, inclusive");
		if (upload_check(c, q, r, &ret) != 0)
			return ret;
	}
	if (q->auth.payload == S3_PAYLOAD_STREAMING) {
		n = q->auth.decoded_length;
	} else if (cl != NULL) {
		n = strtoull(cl, NULL, 10);
	} else {
		return send_err(c, q, 411, "MissingContentLength",
				"You must provide the Content-Length HTTP header.");
	}
	if (n > PUT_MAX)
		return send_err(c, q, 400, "EntityTooLarge",
				"Your proposed upload exceeds the maximum allowed size");
	q->want_len = n;
	/* checked now to spare the body, and again at the commit */
	if (!part && create_only(c) && key_exists(r, q))
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	if (hdr(c, "Content-MD5")) {
		uint8_t m[16];
		if (!b64_md5(hdr(c, "Content-MD5"), m))
			return send_err(c, q, 400, "InvalidDigest",
					"The Content-MD5 you specified was invalid.");
	}
	/* the engine holds a window and up to two xorbs: the shared budget counts it */
	{
		uint64_t need = (UINT64_C(4) << 20) + (n < (UINT64_C(64) << 20) ? n : UINT64_C(64) << 20);
		if (!cairn__budget_take(q->authed ? q->user : "", need, &q->reserved))
			return send_err(c, q, 503, "SlowDown", "Please reduce your request rate.");
	}
	if ((rc = cairn_upload_new(&q->up, r)) != 0 || (rc = cairn_upload_set_caller(q->up, &who)) != 0)
		return send_engine(c, q, rc);
	q->md5 = s3_digest_new(S3_MD5);
	if (q->auth.payload == S3_PAYLOAD_SHA256)
		q->sha = s3_digest_new(S3_SHA256);
	if (q->auth.payload == S3_PAYLOAD_STREAMING)
		q->chunked = s3_chunked_new(&q->auth);
	if (q->md5 == NULL || (q->auth.payload == S3_PAYLOAD_SHA256 && q->sha == NULL) ||
	    (q->auth.payload == S3_PAYLOAD_STREAMING && q->chunked == NULL))
		return send_err(c, q, 500, "InternalError", "out of memory");
	q->body = B_OBJECT;
	q->op = part ? OP_UPLOAD_PART : OP_PUT_OBJECT;
	return MHD_YES;
}

/* The whole body arrived: check it, then commit the object (or part). */
static enum MHD_Result put_end(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	cairn_put_result res;
	uint8_t md5[16], sha[32], want[16];
	char etag[40], hex[33], *meta = NULL;
	struct MHD_Response *resp;
	pthread_mutex_t *lock;
	int rc;

	if (q->up_rc)
		return send_engine(c, q, q->up_rc);
	if (!q->body_failed && q->chunked && s3_chunked_finish(q->chunked, &q->body_err) != 0)
		q->body_failed = true;
	if (q->body_failed)
		return send_s3err(c, q, &q->body_err);
	if (q->body_len != q->want_len)
		return send_err(c, q, 400, "IncompleteBody",
				"You did not provide the number of bytes specified by the "
				"Content-Length HTTP header");
	if (q->sha) {
		s3_digest_final(q->sha, sha);
		if (memcmp(sha, q->auth.payload_sha256, 32) != 0)
			return send_err(c, q, 400, "XAmzContentSHA256Mismatch",
					"The provided 'x-amz-content-sha256' header does not match "
					"what was computed.");
	}
	s3_digest_final(q->md5, md5);
	if (hdr(c, "Content-MD5") && (!b64_md5(hdr(c, "Content-MD5"), want) ||
				      memcmp(want, md5, 16) != 0))
		return send_err(c, q, 400, "BadDigest",
				"The Content-MD5 you specified did not match what we received.");
	if (q->op == OP_UPLOAD_PART) {
		rc = cairn_upload_commit_part(q->up, q->ns, q->name, q->upload_id, q->part, md5, &res);
		if (rc == CAIRN_ENOTFOUND)
			return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	} else {
		if (user_meta_of(c, &meta) != 0)
			return send_err(c, q, 400, "MetadataTooLarge",
					"Your metadata headers exceed the maximum allowed metadata size.");
		po.md5 = md5;
		po.content_type = hdr(c, "Content-Type");
		po.user_meta = meta;
		po.mtime_ns = mtime_from(c);
		if (po.mtime_ns == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			po.mtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		}
		lock = commit_lock(q->ns, q->name, q->key, q->key_len);
		if (create_only(c) && key_exists(r, q))
			rc = CAIRN_EEXISTS;
		else
			rc = cairn_upload_commit(q->up, q->ns, q->name, q->key, q->key_len, &po, &res);
		pthread_mutex_unlock(lock);
		free(meta);
		if (rc == CAIRN_EEXISTS)
			return send_err(c, q, 412, "PreconditionFailed",
					"At least one of the pre-conditions you specified did not hold");
	}
	if (rc != 0)
		return send_engine(c, q, rc);
	s3_hex(hex, md5, 16);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "ETag", etag);
	return queue(c, q, 200, resp);
}

/* ---- multipart ---- */

static enum MHD_Result mpu_create(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	cairn_bucket_row b;
	enum MHD_Result ret;
	char id[CAIRN_MPU_ID_LEN + 1], *meta = NULL;
	s3_xbuf x = {0};
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	if (user_meta_of(c, &meta) != 0)
		return send_err(c, q, 400, "MetadataTooLarge",
				"Your metadata headers exceed the maximum allowed metadata size.");
	po.content_type = hdr(c, "Content-Type");
	po.user_meta = meta;
	rc = cairn_mpu_create(r, q->ns, q->name, q->key, q->key_len, &po, id);
	free(meta);
	if (rc != 0)
		return send_engine(c, q, rc);
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&x, "Bucket", q->s3bucket, strlen(q->s3bucket));
	s3_xb_el(&x, "Key", q->key, q->key_len);
	s3_xb_el(&x, "UploadId", id, strlen(id));
	s3_xb_str(&x, "</InitiateMultipartUploadResult>\n");
	return send_xml(c, q, 200, &x);
}

/* Does q's key hold the multipart object of n parts whose MD5s hash to md5? */
static bool completed_by(cairn_repo *r, const s3q *q, const uint8_t md5[16], size_t n)
{
	cairn_object_row row;

	return cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row) == 0 &&
	       row.has_md5 && row.parts == n && memcmp(row.md5, md5, 16) == 0;
}

static enum MHD_Result mpu_complete(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	cairn_object_row row;
	enum MHD_Result ret;
	cairn_mpu_want *want = NULL;
	cairn_mpu_error why = CAIRN_MPU_OK;
	size_t n = 0;
	char etag[80], loc[CAIRN_KEY_MAX + 256];
	s3_xbuf out = {0};
	pthread_mutex_t *lock;
	cairn_mpu_part *probe = NULL;
	uint8_t want_md5[16];
	bool gone;
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	/* a gone upload may be this very complete, retried: decided once the parts are read */
	gone = cairn_mpu_parts(r, q->ns, q->name, q->upload_id, 0, 1, &(const char *){NULL},
			       &(size_t){0}, &probe, &(size_t){0}, &(bool){false}) == CAIRN_ENOTFOUND;
	free(probe);
	if (!gone && upload_check(c, q, r, &ret) != 0)
		return ret;
	rc = s3_complete_parse(q->xml.p, q->xml.n, &want, &n);
	if (rc == CAIRN_ENOTFOUND)
		return send_err(c, q, 400, "InvalidPart",
				"One or more of the specified parts could not be found. The part may "
				"not have been uploaded, or the specified entity tag may not match "
				"the part's entity tag.");
	if (rc != 0)
		return send_err(c, q, 400, "MalformedXML",
				"The XML you provided was not well-formed or did not validate "
				"against our published schema");
	lock = commit_lock(q->ns, q->name, q->key, q->key_len);
	if (create_only(c) && key_exists(r, q)) {
		pthread_mutex_unlock(lock);
		free(want);
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	}
	rc = cairn_mpu_complete(r, q->ns, q->name, q->upload_id, want, n, NULL, &why);
	pthread_mutex_unlock(lock);
	{
		s3_digest *d = s3_digest_new(S3_MD5);
		memset(want_md5, 0, sizeof(want_md5));
		for (size_t i = 0; d && i < n; i++)
			s3_digest_update(d, want[i].md5, 16);
		if (d)
			s3_digest_final(d, want_md5);
		else
			gone = false; /* no digest: no retry detection */
		s3_digest_free(d);
	}
	free(want);
	switch (why) {
	case CAIRN_MPU_NO_SUCH_UPLOAD:
		/*
		 * The client may be retrying a complete whose answer it lost: if
		 * the key holds the object these parts make (its multipart ETag:
		 * the MD5 of their MD5s, and their count), answer as the first time.
		 */
		if (gone && completed_by(r, q, want_md5, n)) {
			why = CAIRN_MPU_OK;
			rc = 0;
			break;
		}
		return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	case CAIRN_MPU_INVALID_PART:
		return send_err(c, q, 400, "InvalidPart",
				"One or more of the specified parts could not be found. The part "
				"may not have been uploaded, or the specified entity tag may not "
				"match the part's entity tag.");
	case CAIRN_MPU_INVALID_PART_ORDER:
		return send_err(c, q, 400, "InvalidPartOrder",
				"The list of parts was not in ascending order. The parts list must "
				"be specified in order by part number.");
	case CAIRN_MPU_ENTITY_TOO_SMALL:
		return send_err(c, q, 400, "EntityTooSmall",
				"Your proposed upload is smaller than the minimum allowed object size.");
	default:
		break;
	}
	if (rc != 0)
		return send_engine(c, q, rc);
	if ((rc = cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row)) != 0)
		return send_engine(c, q, rc);
	etag_of(etag, &row);
	snprintf(loc, sizeof(loc), "/%s/%.*s", q->s3bucket, (int)q->key_len, q->key);
	s3_xb_str(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult "
		     "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&out, "Location", loc, strlen(loc));
	s3_xb_el(&out, "Bucket", q->s3bucket, strlen(q->s3bucket));
	s3_xb_el(&out, "Key", q->key, q->key_len);
	s3_xb_el(&out, "ETag", etag, strlen(etag));
	s3_xb_str(&out, "</CompleteMultipartUploadResult>\n");
	return send_xml(c, q, 200, &out);
}

static enum MHD_Result mpu_abort(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc;

	if (get_bucket(c, q, r, true, &b, &ret) != 0 || upload_check(c, q, r, &ret) != 0)
		return ret;
	rc = cairn_mpu_abort(r, q->ns, q->name, q->upload_id);
	if (rc == CAIRN_ENOTFOUND)
		return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	if (rc != 0)
		return send_engine(c, q, rc);
	return no_content(c, q);
}

static enum MHD_Result mpu_list_parts(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	cairn_mpu_part *parts = NULL;
	const char *key;
	size_t key_len, n = 0;
	bool trunc = false;
	char v[32], t[64];
	long after = 0, max = 1000;
	s3_xbuf x = {0};
	int rc;

	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	if (arg(c, "part-number-marker", v, sizeof(v)))
		after = strtol(v, NULL, 10);
	if (arg(c, "max-parts", v, sizeof(v)))
		max = strtol(v, NULL, 10);
	if (after < 0 || after > CAIRN_MPU_PARTS_MAX)
		after = 0;
	if (max <= 0 || max > 1000)
		max = 1000;
	rc = cairn_mpu_parts(r, q->ns, q->name, q->upload_id, (unsigned)after, (size_t)max, &key,
			     &key_len, &parts, &n, &trunc);
	if (rc == 0 && (key_len != q->key_len || memcmp(key, q->key, key_len) != 0)) {
		free(parts);
		rc = CAIRN_ENOTFOUND; /* another key's upload */
	}
	if (rc == CAIRN_ENOTFOUND)
		return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	if (rc != 0)
		return send_engine(c, q, rc);
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&x, "Bucket", q->s3bucket, strlen(q->s3bucket));
	s3_xb_el(&x, "Key", key, key_len);
	s3_xb_el(&x, "UploadId", q->upload_id, strlen(q->upload_id));
	s3_xb_fmt(&x, "<PartNumberMarker>%ld</PartNumberMarker>", after);
	if (n > 0)
		s3_xb_fmt(&x, "<NextPartNumberMarker>%u</NextPartNumberMarker>", parts[n - 1].number);
	s3_xb_fmt(&x, "<MaxParts>%ld</MaxParts><IsTruncated>%s</IsTruncated>", max,
	       trunc ? "true" : "false");
	s3_xb_str(&x, "<StorageClass>STANDARD</StorageClass>");
	for (size_t i = 0; i < n; i++) {
		char hex[33];
		s3_hex(hex, parts[i].md5, 16);
		iso_time(t, parts[i].created_ns);
		s3_xb_fmt(&x, "<Part><PartNumber>%u</PartNumber>", parts[i].number);
		s3_xb_el(&x, "LastModified", t, strlen(t));
		s3_xb_fmt(&x, "<ETag>\"%s\"</ETag><Size>%" PRIu64 "</Size></Part>", hex, parts[i].size);
	}
	free(parts);
	s3_xb_str(&x, "</ListPartsResult>\n");
	return send_xml(c, q, 200, &x);
}

typedef struct lu_ctx {
	s3_xbuf *b;
	char last_key[CAIRN_KEY_MAX + 1];
	size_t last_key_len;
	char last_id[CAIRN_MPU_ID_LEN + 1];
	size_t n;
} lu_ctx;

static int lu_one(void *ctx, const cairn_mpu_info *u)
{
	lu_ctx *l = ctx;
	char t[64];

	iso_time(t, u->created_ns);
	s3_xb_str(l->b, "<Upload>");
	s3_xb_el(l->b, "Key", u->key, u->key_len);
	s3_xb_el(l->b, "UploadId", u->id, strlen(u->id));
	s3_xb_el(l->b, "Initiated", t, strlen(t));
	s3_xb_str(l->b, "<StorageClass>STANDARD</StorageClass></Upload>");
	memcpy(l->last_key, u->key, u->key_len);
	l->last_key_len = u->key_len;
	snprintf(l->last_id, sizeof(l->last_id), "%s", u->id);
	l->n++;
	return 0;
}

static enum MHD_Result mpu_list(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	char prefix[CAIRN_KEY_MAX + 1] = "", km[CAIRN_KEY_MAX + 1] = "", idm[64] = "", v[32];
	long max = 1000;
	bool trunc = false;
	s3_xbuf x = {0}, body = {0};
	lu_ctx l;
	int rc;

	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	if (!list_args_ok(c, q, &ret))
		return ret;
	arg(c, "prefix", prefix, sizeof(prefix));
	arg(c, "key-marker", km, sizeof(km));
	arg(c, "upload-id-marker", idm, sizeof(idm));
	if (arg(c, "max-uploads", v, sizeof(v)))
		max = strtol(v, NULL, 10);
	if (max <= 0 || max > 1000)
		max = 1000;
	memset(&l, 0, sizeof(l));
	l.b = &body;
	rc = cairn_mpu_list(r, q->ns, q->name, prefix, strlen(prefix), km[0] ? km : NULL, strlen(km),
			    idm[0] ? idm : NULL, (size_t)max, lu_one, &l, &trunc);
	if (rc != 0) {
		free(body.p);
		return send_engine(c, q, rc);
	}
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult "
		   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	s3_xb_el(&x, "Bucket", q->s3bucket, strlen(q->s3bucket));
	s3_xb_el(&x, "KeyMarker", km, strlen(km));
	s3_xb_el(&x, "UploadIdMarker", idm, strlen(idm));
	s3_xb_el(&x, "NextKeyMarker", l.last_key, l.last_key_len);
	s3_xb_el(&x, "NextUploadIdMarker", l.last_id, strlen(l.last_id));
	s3_xb_el(&x, "Prefix", prefix, strlen(prefix));
	s3_xb_fmt(&x, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
	       trunc ? "true" : "false");
	if (body.p)
		s3_xb_put(&x, body.p, body.n);
	free(body.p);
	s3_xb_str(&x, "</ListMultipartUploadsResult>\n");
	return send_xml(c, q, 200, &x);
}

/*
 * UploadPartCopy: a range of an existing object becomes a part, read
 * through and stored deduplicated (its chunks are found again). A read
 * holds the metadata open while it calls back, and an upload writes to the
 * metadata: so each piece is read into a buffer first, then written.
 */
typedef struct piece {
	uint8_t *p;
	size_t n; /* filled, of PIECE */
} piece;

static int piece_fill(void *ctx, const void *data, size_t len)
{
	piece *pc = ctx;

	if (len > PIECE - pc->n)
		return CAIRN_ERROR;
	memcpy(pc->p + pc->n, data, len);
	pc->n += len;
	return 0;
}

static int copy_range(cairn_repo *r, const s3q *src, uint64_t first, uint64_t len,
		      cairn_upload *up, s3_digest *md5)
{
	cairn_reader *rd = NULL;
	piece pc = {malloc(CAIRN__PIECE), 0};
	int rc;

	if (pc.p == NULL)
		return CAIRN_ENOMEM;
	rc = cairn_reader_open(&rd, r, src->ns, src->name, src->key, src->key_len);
	while (rc == 0 && len > 0) {
		uint64_t want = len < PIECE ? len : PIECE;
		pc.n = 0;
		rc = cairn_reader_read(rd, first, want, piece_fill, &pc);
		if (rc == 0 && pc.n != want)
			rc = CAIRN_ECORRUPT;
		if (rc == 0) {
			s3_digest_update(md5, pc.p, pc.n);
			rc = cairn_upload_write(up, pc.p, pc.n);
		}
		first += want;
		len -= want;
	}
	cairn_reader_close(rd);
	free(pc.p);
	return rc;
}

static enum MHD_Result upload_part_copy(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	cairn_object_row row;
	enum MHD_Result ret;
	cairn_caller who = {q->user, q->admin, q->writer};
	s3q *src = calloc(1, sizeof(*src));
	cairn_upload *up = NULL;
	s3_digest *md5d = NULL;
	uint64_t first = 0, len;
	uint8_t md5[16];
	char hex[33], t[64];
	const char *range = hdr(c, "x-amz-copy-source-range");
	s3_xbuf x = {0};
	unsigned part;
	int rc;

	if (src == NULL)
		return send_err(c, q, 500, "InternalError", "out of memory");
	if ((part = part_number(c)) == 0) {
		free(src);
		return send_err(c, q, 400, "InvalidArgument",
				"Part number must be an integer between 1 and 10000, inclusive");
	}
	if (get_bucket(c, q, r, true, &b, &ret) != 0 || upload_check(c, q, r, &ret) != 0 ||
	    copy_from(c, q, r, src, &row, &ret) != 0) {
		free(src);
		return ret;
	}
	if (!copy_conditions_hold(c, &row)) {
		free(src);
		return send_err(c, q, 412, "PreconditionFailed",
				"At least one of the pre-conditions you specified did not hold");
	}
	len = row.size;
	if (range) {
		unsigned long long a, z;
		int end = 0;
		/* the form is checked first (InvalidArgument, as S3), then the bounds (the same) */
		if (sscanf(range, "bytes=%llu-%llu%n", &a, &z, &end) != 2 || range[end] != '\0' ||
		    range[6] < '0' || range[6] > '9' || z < a) {
			free(src);
			return send_err(c, q, 400, "InvalidArgument",
					"The x-amz-copy-source-range value must be of the form "
					"bytes=first-last where first and last are the zero-based "
					"offsets of the first and last bytes to copy");
		}
		if (z >= row.size) {
			char m[128];
			free(src);
			snprintf(m, sizeof(m),
				 "Range specified is not valid for source object of size: %" PRIu64,
				 row.size);
			return send_err(c, q, 400, "InvalidArgument", m);
		}
		first = a;
		len = z - a + 1;
	}
	if (len > PUT_MAX) {
		free(src);
		return send_err(c, q, 400, "EntityTooLarge",
				"Your proposed upload exceeds the maximum allowed size");
	}
	rc = cairn_upload_new(&up, r);
	if (rc == 0)
		rc = cairn_upload_set_caller(up, &who);
	if (rc == 0 && (md5d = s3_digest_new(S3_MD5)) == NULL)
		rc = CAIRN_ENOMEM;
	if (rc == 0)
		rc = copy_range(r, src, first, len, up, md5d);
	if (rc == 0) {
		s3_digest_final(md5d, md5);
		rc = cairn_upload_commit_part(up, q->ns, q->name, q->upload_id, part, md5, NULL);
	}
	cairn_upload_free(up);
	s3_digest_free(md5d);
	free(src);
	if (rc == CAIRN_ENOTFOUND)
		return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	if (rc != 0)
		return send_engine(c, q, rc);
	s3_hex(hex, md5, 16);
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		iso_time(t, (int64_t)ts.tv_sec * 1000000000);
	}
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult>");
	s3_xb_el(&x, "LastModified", t, strlen(t));
	s3_xb_fmt(&x, "<ETag>\"%s\"</ETag></CopyPartResult>\n", hex);
	return send_xml(c, q, 200, &x);
}

/* ---- a few bucket and object sub-resources clients ask about ---- */

/* The ACL of a bucket and its objects: the owner's, and everyone's read if public. */
static void acl_xml(s3_xbuf *x, const cairn_bucket_row *b)
{
	s3_xb_str(x, "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner>");
	s3_xb_el(x, "ID", b->ns, strlen(b->ns));
	s3_xb_el(x, "DisplayName", b->ns, strlen(b->ns));
	s3_xb_str(x, "</Owner><AccessControlList><Grant><Grantee "
		  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		  "xsi:type=\"CanonicalUser\">");
	s3_xb_el(x, "ID", b->ns, strlen(b->ns));
	s3_xb_el(x, "DisplayName", b->ns, strlen(b->ns));
	s3_xb_str(x, "</Grantee><Permission>FULL_CONTROL</Permission></Grant>");
	if (!b->is_private)
		s3_xb_str(x, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
			  "xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/"
			  "AllUsers</URI></Grantee><Permission>READ</Permission></Grant>");
	s3_xb_str(x, "</AccessControlList></AccessControlPolicy>\n");
}

/*
 * An object's sub-resources. Tags are not kept: an object has none (aws-cli
 * reads them before a multipart copy), and deleting them succeeds; its ACL
 * is its bucket's. The rest is not implemented.
 */
static enum MHD_Result object_subresource(struct MHD_Connection *c, s3q *q, cairn_repo *r,
					  const char *what)
{
	bool get = strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
	cairn_bucket_row b;
	cairn_object_row row;
	enum MHD_Result ret;
	s3_xbuf x = {0};
	int rc;

	if (get_bucket(c, q, r, !get, &b, &ret) != 0)
		return ret;
	if ((rc = cairn_object_stat(r, q->ns, q->name, q->key, q->key_len, &row)) != 0)
		return send_engine(c, q, rc);
	if (strcmp(what, "tagging") == 0 && get) {
		s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging "
			   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<TagSet></TagSet></Tagging>\n");
		return send_xml(c, q, 200, &x);
	}
	if (strcmp(what, "tagging") == 0 && strcmp(q->method, "DELETE") == 0)
		return no_content(c, q);
	if (strcmp(what, "acl") == 0 && get) {
		s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
		acl_xml(&x, &b);
		return send_xml(c, q, 200, &x);
	}
	return send_err(c, q, 501, "NotImplemented",
			"A header or query you provided implies functionality that is not implemented");
}

/*
 * PutBucketAcl: a canned ACL (x-amz-acl) or an AccessControlPolicy body
 * becomes the bucket's public/private setting, when it says no more than
 * that (what `s3cmd setacl --acl-public` and `aws s3api put-bucket-acl
 * --acl public-read` send).
 */
static enum MHD_Result put_bucket_acl(struct MHD_Connection *c, s3q *q, cairn_repo *r)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc, pub;

	if (get_bucket(c, q, r, true, &b, &ret) != 0)
		return ret;
	if (hdr(c, "x-amz-acl") != NULL)
		pub = canned_public(c);
	else if (q->xml.n > 0)
		pub = s3_acl_public(q->xml.p, q->xml.n, b.ns);
	else
		return send_err(c, q, 400, "MissingSecurityHeader",
				"Your request was missing a required header (x-amz-acl) or an "
				"AccessControlPolicy");
	if (pub < 0)
		return send_err(c, q, 501, "NotImplemented",
				"Only private and public-read (everyone may read) are supported: "
				"a bucket is public or private");
	if ((rc = cairn_bucket_set_private(r, q->ns, q->name, pub == 0)) != 0)
		return send_engine(c, q, rc);
	return send_body(c, q, 200, NULL, "", 0);
}

static enum MHD_Result bucket_subresource(struct MHD_Connection *c, s3q *q, cairn_repo *r,
					  const char *what)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	s3_xbuf x = {0};

	if (get_bucket(c, q, r, false, &b, &ret) != 0)
		return ret;
	s3_xb_str(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (strcmp(what, "location") == 0) {
		/* empty: us-east-1, what every client accepts for a server without regions */
		s3_xb_str(&x, "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>\n");
	} else if (strcmp(what, "versioning") == 0) {
		s3_xb_str(&x, "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>\n");
	} else if (strcmp(what, "acl") == 0) {
		acl_xml(&x, &b);
	} else if (strcmp(what, "tagging") == 0) {
		free(x.p);
		return send_err(c, q, 404, "NoSuchTagSet", "The TagSet does not exist");
	} else if (strcmp(what, "policy") == 0) {
		free(x.p);
		return send_err(c, q, 404, "NoSuchBucketPolicy", "The bucket policy does not exist");
	} else if (strcmp(what, "cors") == 0) {
		free(x.p);
		return send_err(c, q, 404, "NoSuchCORSConfiguration",
				"The CORS configuration does not exist");
	} else if (strcmp(what, "lifecycle") == 0) {
		free(x.p);
		return send_err(c, q, 404, "NoSuchLifecycleConfiguration",
				"The lifecycle configuration does not exist");
	} else {
		free(x.p);
		return send_err(c, q, 501, "NotImplemented",
				"A header or query you provided implies functionality that is not "
				"implemented");
	}
	return send_xml(c, q, 200, &x);
}

/* ---- routing ---- */

/* Split the raw path into bucket and key (decoded). false: a malformed path (sent). */
static bool split_path(struct MHD_Connection *c, s3q *q, const char *url, enum MHD_Result *ret)
{
	const char *code, *msg;
	s3_target t;

	if (s3_split_path(url, &t, &code, &msg) != 0) {
		*ret = send_err(c, q, 400, code, msg);
		return false;
	}
	memcpy(q->s3bucket, t.bucket, sizeof(q->s3bucket));
	memcpy(q->key, t.key, sizeof(q->key));
	q->key_len = t.key_len;
	q->has_key = t.has_key;
	return true;
}

static bool query_has(void *ctx, const char *name)
{
	return has_arg(ctx, name);
}

static bool query_get(void *ctx, const char *name, char *out, size_t cap)
{
	return arg(ctx, name, out, cap);
}

/*
 * Route a request. early: its first call, when it announced a body (only
 * operations that read a body start then). Without a body it runs in the
 * final call, so keep-alive is kept.
 */
static enum MHD_Result route(struct MHD_Connection *c, s3q *q, const char *url, bool early)
{
	const char *m = q->method, *sub;
	s3_query qa = {query_has, query_get, c};
	s3_target t;
	s3_op op;
	enum MHD_Result ret;
	cairn_repo *r;
	cairn_meta *meta;
	int rc;

	q->begun = true;
	if (!split_path(c, q, url, &ret))
		return ret;
	if (authenticate(c, q, url, &ret) != 0)
		return ret;
	if ((rc = cairn__worker(&r, &meta)) != 0)
		return send_engine(c, q, rc);
	(void)meta;
	memcpy(t.bucket, q->s3bucket, sizeof(t.bucket));
	t.has_key = q->has_key;
	t.key_len = 0; /* the operation depends on whether there is a key, not on which */
	t.key[0] = '\0';
	op = s3_route_op(m, &t, &qa, hdr(c, "x-amz-copy-source") != NULL, q->upload_id, &sub);
	switch (op) {
	case S3_OP_NO_SUCH_UPLOAD:
		return send_err(c, q, 404, "NoSuchUpload", "The specified upload does not exist.");
	case S3_OP_LIST_BUCKETS:
		return list_buckets(c, q, r);
	case S3_OP_PUT_BUCKET_ACL:
		if (early) {
			q->body = B_XML;
			q->op = OP_PUT_BUCKET_ACL;
			return MHD_YES;
		}
		return put_bucket_acl(c, q, r);
	case S3_OP_CREATE_BUCKET:
		if (early) {
			q->body = B_XML;
			q->op = OP_CREATE_BUCKET;
			return MHD_YES;
		}
		return create_bucket(c, q, r);
	case S3_OP_BUCKET_SETTING:
		return send_err(c, q, 501, "NotImplemented", "This bucket setting is not supported");
	case S3_OP_DELETE_OBJECTS:
		if (!early)
			return send_err(c, q, 400, "MalformedXML", "DeleteObjects needs a body");
		q->body = B_XML;
		q->op = OP_DELETE_OBJECTS;
		return MHD_YES;
	case S3_OP_DELETE_BUCKET:
		return delete_bucket(c, q, r);
	case S3_OP_HEAD_BUCKET: {
		cairn_bucket_row b;
		if (get_bucket(c, q, r, false, &b, &ret) != 0)
			return ret;
		return send_body(c, q, 200, NULL, "", 0);
	}
	case S3_OP_BUCKET_SUB:
		return bucket_subresource(c, q, r, sub);
	case S3_OP_LIST_UPLOADS:
		return mpu_list(c, q, r);
	case S3_OP_LIST_VERSIONS:
		return list_versions(c, q, r);
	case S3_OP_LIST_OBJECTS:
	case S3_OP_LIST_OBJECTS_V2:
		return list_objects(c, q, r, op == S3_OP_LIST_OBJECTS_V2);
	case S3_OP_OBJECT_SUB:
		return object_subresource(c, q, r, sub);
	case S3_OP_GET_OBJECT:
		return get_object(c, q, r);
	case S3_OP_LIST_PARTS:
		return mpu_list_parts(c, q, r);
	case S3_OP_DELETE_OBJECT:
		return delete_object(c, q, r);
	case S3_OP_ABORT_MPU:
		return mpu_abort(c, q, r);
	case S3_OP_COPY_OBJECT:
		return copy_object(c, q, r);
	case S3_OP_UPLOAD_PART_COPY:
		return upload_part_copy(c, q, r);
	case S3_OP_PUT_OBJECT:
		if (!early && hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH) == NULL &&
		    q->auth.payload != S3_PAYLOAD_STREAMING)
			return send_err(c, q, 411, "MissingContentLength",
					"You must provide the Content-Length HTTP header.");
		ret = put_begin(c, q, r, q->upload_id[0] != '\0');
		if (ret == MHD_YES && !early && !q->responded)
			return put_end(c, q, r); /* an empty body: all there is */
		return ret;
	case S3_OP_CREATE_MPU:
		return mpu_create(c, q, r);
	case S3_OP_COMPLETE_MPU:
		if (!early)
			return send_err(c, q, 400, "MalformedXML", "CompleteMultipartUpload needs a body");
		q->body = B_XML;
		q->op = OP_COMPLETE_MPU;
		return MHD_YES;
	default:
		return send_err(c, q, 405, "MethodNotAllowed",
				"The specified method is not allowed against this resource.");
	}
}

static enum MHD_Result last_call(struct MHD_Connection *c, s3q *q)
{
	cairn_repo *r;
	cairn_meta *meta;
	int rc;

	cairn_error_clear();
	if ((rc = cairn__worker(&r, &meta)) != 0)
		return send_engine(c, q, rc);
	if (q->body == B_OBJECT)
		return put_end(c, q, r);
	if (q->too_big)
		return send_err(c, q, 400, "MaxMessageLengthExceeded",
				"Your request was too big.");
	switch (q->op) {
	case OP_CREATE_BUCKET:
		return create_bucket(c, q, r);
	case OP_DELETE_OBJECTS:
		return delete_objects(c, q, r);
	case OP_COMPLETE_MPU:
		return mpu_complete(c, q, r);
	case OP_PUT_BUCKET_ACL:
		return put_bucket_acl(c, q, r);
	default:
		return send_err(c, q, 500, "InternalError", "no operation");
	}
}

static bool has_body(struct MHD_Connection *c)
{
	const char *cl = hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return hdr(c, "Transfer-Encoding") != NULL || (cl != NULL && strtoull(cl, NULL, 10) > 0);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	s3q *q = *con_cls;

	(void)cls;
	(void)version;
	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &q->t0);
		cairn_error_clear();
		snprintf(q->method, sizeof(q->method), "%s", method);
		snprintf(q->url, sizeof(q->url), "%s", url);
		snprintf(q->request_id, sizeof(q->request_id), "%016" PRIX64,
			 (uint64_t)atomic_fetch_add(&request_seq, 1) ^ (uint64_t)time(NULL) << 24);
		q->want_len = UINT64_MAX;
		*con_cls = q;
		{
			char why[128];
			if (!cairn__target_ok(c, why, sizeof(why))) {
				q->begun = true;
				return send_err(c, q, 400, "InvalidURI", why);
			}
			if (!cairn__headers_ok(c, why, sizeof(why))) {
				q->begun = true;
				return send_err(c, q, 400, "RequestHeaderSectionTooLarge", why);
			}
		}
		if (!has_body(c))
			return MHD_YES;
		return route(c, q, url, true);
	}
	if (*size > 0) {
		q->bytes_in += *size;
		if (q->body == B_OBJECT) {
			body_data(q, data, *size);
		} else if (q->body == B_XML && !q->too_big) {
			if (q->xml.n + *size > XML_MAX)
				q->too_big = true;
			else
				s3_xb_put(&q->xml, data, *size);
		}
		*size = 0;
		return MHD_YES;
	}
	if (!q->begun) {
		cairn_error_clear();
		return route(c, q, url, false);
	}
	if (q->responded)
		return MHD_YES;
	return last_call(c, q);
}

/* ---- the daemon ---- */

struct MHD_Daemon *cairn__s3_start(const cairn_server_config *cfg)
{
	unsigned port = 0;
	struct MHD_Daemon *d = cairn__daemon_start("S3", cfg->s3_host, cfg->s3_port, cfg->threads,
						   handler, completed, cfg->s3_port_file, &port);

	if (d != NULL)
		fprintf(stderr, "cairn serve: S3 on %s:%u\n", cfg->s3_host, port);
	return d;
}
