/*
 * http.c - the native HTTP API over libmicrohttpd: routing, bearer-token
 * authentication, permissions, JSON responses, streaming uploads and
 * ranged downloads, metrics and the access log.
 *
 * Threads: MHD runs a pool of worker threads; a connection stays on one of
 * them for its whole life, so every callback of a request runs on the same
 * thread. Each worker thread opens its own cairn_repo and cairn_meta
 * (single-threaded handles) the first time it needs them; they are kept in
 * a list and closed when the daemon has stopped.
 *
 * Memory: upload bodies go to cairn_upload_write as they arrive; downloads
 * are read in pieces of CAIRN__PIECE bytes into a per-request buffer (piece.c); JSON bodies
 * are capped at JSON_MAX. Nothing holds a whole object. The chunk
 * protocol's xorb uploads and batches are held whole while checked (up to
 * one xorb, or 64 MiB), drawing on one budget (g_budget) so their
 * sum stays bounded: past it, clients are told to retry (503).
 *
 * Permissions: a token's scope is read, write or admin; an admin-scoped
 * token is a site administrator. A private bucket is visible to its owner
 * (the user named like its namespace) and admins only; anyone else gets
 * 404, as if it did not exist. Public buckets are readable by anyone.
 * Writing needs a write or admin token of the owner, or an admin token.
 */
#include "server_int.h"
#include "body.h"
#include "cache.h"
#include "region.h"
#include "route.h"
#include "token.h"
#include "web.h"

#include "cairn/blake3.h"
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define JSON_MAX (1u << 20)              /* request JSON bodies */
#define UPLOAD_MAX (UINT64_C(1) << 40)   /* one object: 1 TiB */
#define URL_MAX 4096

/* ---- metrics ------------------------------------------------------------------- */

static const unsigned metric_codes[] = {200, 201, 204, 206, 400, 401, 403, 404, 405,
					409, 411, 413, 414, 416, 429, 431, 500, 501, 503};
#define N_CODES (sizeof(metric_codes) / sizeof(metric_codes[0]))
static const double hist_le[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LE (sizeof(hist_le) / sizeof(hist_le[0]))

static struct {
	atomic_uint_fast64_t by_code[N_CODES + 1]; /* last: any other code */
	atomic_uint_fast64_t bytes_in, bytes_out, errors;
	atomic_uint_fast64_t hist[N_LE + 1];       /* last: +Inf */
	atomic_uint_fast64_t seconds_us, count;
	atomic_uint_fast64_t dedup_chunks, upload_chunks;
	atomic_uint_fast64_t aborted; /* ended by the client before any response */
} metrics;

double cairn__since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

void cairn__request_done(const char *front, const char *method, const char *url,
			 unsigned status, uint64_t in, uint64_t out, const struct timespec *t0,
			 bool whole)
{
	double secs = cairn__since(t0);

	cairn__metrics_record(status, in, out, secs);
	fprintf(stderr, "%s %s %s %u %" PRIu64 " %.1fms%s\n", front, method, url, status, out,
		secs * 1e3, whole ? "" : " (aborted)");
}

void cairn__metrics_record(unsigned status, uint64_t in, uint64_t out, double secs)
{
	size_t i;

	for (i = 0; i < N_CODES && metric_codes[i] != status; i++)
		;
	atomic_fetch_add(&metrics.by_code[i], 1);
	atomic_fetch_add(&metrics.bytes_in, in);
	atomic_fetch_add(&metrics.bytes_out, out);
	if (status >= 500)
		atomic_fetch_add(&metrics.errors, 1);
	for (i = 0; i < N_LE && secs > hist_le[i]; i++)
		;
	atomic_fetch_add(&metrics.hist[i], 1);
	atomic_fetch_add(&metrics.seconds_us, (uint64_t)(secs * 1e6));
	atomic_fetch_add(&metrics.count, 1);
}

/* bytes of big request bodies held now (see want_big_body) */
static _Atomic uint64_t big_body_used;

/* ---- per-thread engine handles ------------------------------------------------------ */

typedef struct worker {
	cairn_repo *repo;
	cairn_meta *meta;
	struct worker *next;
} worker;

static const char *g_data_dir;
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static worker *workers;
static _Thread_local worker *tl_worker;

static int worker_get(worker **out);

int cairn__worker(cairn_repo **repo, cairn_meta **meta)
{
	worker *w;
	int rc = worker_get(&w);

	if (rc == 0) {
		*repo = w->repo;
		*meta = w->meta;
	}
	return rc;
}

/* This thread's handles, opened on first use. Returns 0 or a CAIRN_E* code. */
static int worker_get(worker **out)
{
	char path[4096];
	worker *w;
	int rc;

	if (tl_worker != NULL) {
		*out = tl_worker;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return CAIRN_ENOMEM;
	snprintf(path, sizeof(path), "%s/cairn.db", g_data_dir);
	if ((rc = cairn_repo_open(&w->repo, g_data_dir)) != 0 ||
	    (rc = cairn_meta_open(&w->meta, g_data_dir)) != 0) {
		cairn_repo_close(w->repo);
		free(w);
		return rc;
	}
	if (!cairn__cache_on())
		cairn_repo_on_put(w->repo, cairn__warm_put, NULL); /* keep-warm (region.c) */
	pthread_mutex_lock(&workers_lock);
	w->next = workers;
	workers = w;
	pthread_mutex_unlock(&workers_lock);
	tl_worker = w;
	*out = w;
	return 0;
}

static void workers_close(void)
{
	pthread_mutex_lock(&workers_lock);
	while (workers) {
		worker *w = workers;
		workers = w->next;
		w->meta->close(w->meta);
		cairn_repo_close(w->repo);
		free(w);
	}
	pthread_mutex_unlock(&workers_lock);
}

/* ---- requests ------------------------------------------------------------------------ */

enum route {
	R_NONE,
	R_UPLOAD,    /* streams its body */
	R_JSON_BODY, /* collects a small JSON body, then runs */
};

typedef struct req {
	struct timespec t0;
	char method[16];
	char url[256];       /* for the log, truncated */
	unsigned status;
	uint64_t bytes_in, bytes_out;
	enum route route;
	int hid;              /* the handler a body route runs at its end */
	bool begun;           /* routed (first_call ran to its end) */
	const char *allow;    /* the Allow header of a 405 */

	/* caller */
	bool authed, admin, can_write_scope;
	char user[CAIRN_NAME_MAX + 1];
	char scope[CAIRN_SCOPE_MAX + 1];

	const char *raw_url;  /* MHD's, valid for the request */
	const char *bad_path; /* why route() refused the path (H_BADPATH) */
	bool by_session;      /* authed by the web session cookie */
	char csrf[CAIRN__CSRF_LEN + 1]; /* that session's form token */

	/* target */
	bool key_in_query;    /* the key comes from the "path" argument (web.h) */
	char ns[CAIRN_NAME_MAX + 1];
	char name[CAIRN_NAME_MAX + 1];
	char key[CAIRN_KEY_MAX + 1];
	size_t key_len;

	/* JSON body */
	char *body;
	size_t body_len;
	bool too_big;
	bool big_body;     /* a xorb or batch: announced, allocated at once, budgeted */
	size_t body_cap;   /* its announced length */
	uint64_t reserved; /* of the memory budget */

	/* upload */
	cairn_upload *up;
	int up_rc;
	char up_msg[256];
	int64_t mtime_ns;

	/* download */
	cairn_hash file;
	cairn_hash xname; /* a xorb read: the stored form read (file's current one, or older) */
	bool xraw;        /* a xorb read of its raw layout (a recompressed xorb) */
	cairn_xorb_raw *raw; /* its reader, made on the first piece */
	cairn_reader *rd; /* the pinned version a download streams */
	cairn__pieces pc;     /* the range served, in pieces */
	cairn__fill_fn fill;  /* what fills them */
	void *fill_ctx;
	cairn__node_file *nf; /* a cache node's file being served */
} req;

static void budget_release(req *q);

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	req *q = *con_cls;
	double secs;

	(void)cls;
	(void)c;
	if (q == NULL)
		return;
	secs = cairn__since(&q->t0);
	if (q->status == 0 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		/* the client went away (or the connection failed) before any response */
		atomic_fetch_add(&metrics.aborted, 1);
		atomic_fetch_add(&metrics.bytes_in, q->bytes_in);
		fprintf(stderr, "%s %s - %" PRIu64 " %.1fms (aborted)\n", q->method, q->url,
			q->bytes_out, secs * 1e3);
	} else {
		if (q->status == 0)
			q->status = 500; /* completed without a response: cannot happen */
		cairn__metrics_record(q->status, q->bytes_in, q->bytes_out, secs);
		fprintf(stderr, "%s %s %u %" PRIu64 " %.1fms%s\n", q->method, q->url, q->status,
			q->bytes_out, secs * 1e3,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	}
	budget_release(q);
	cairn_upload_free(q->up);
	cairn_reader_close(q->rd);
	cairn__cache_file_close(q->nf);
	cairn_xorb_raw_close(q->raw);
	free(q->body);
	free(q->pc.buf);
	free(q);
	*con_cls = NULL;
}

#define URL_TTL_S 3600 /* signed URLs (xorb reads, region downloads) last an hour */

/* ---- responses ------------------------------------------------------------------------ */

/* Queue a body: copied (mode MUST_COPY), or taken over and freed by MHD (MUST_FREE). */
static enum MHD_Result send_mem(struct MHD_Connection *c, req *q, unsigned status,
				const char *ctype, char *data, size_t len,
				enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
	enum MHD_Result ret;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	if (status == 405 && q->allow != NULL)
		MHD_add_response_header(r, "Allow", q->allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	q->status = status;
	q->bytes_out = len;
	return ret;
}

static enum MHD_Result send_buf(struct MHD_Connection *c, req *q, unsigned status,
				const char *ctype, const char *data, size_t len)
{
	return send_mem(c, q, status, ctype, (char *)data, len, MHD_RESPMEM_MUST_COPY);
}

/* Send a JSON value (consumed). */
static enum MHD_Result send_json(struct MHD_Connection *c, req *q, unsigned status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(v);
	if (text == NULL)
		return send_buf(c, q, 500, "text/plain", "out of memory\n", 14);
	n = strlen(text);
	text[n] = '\n'; /* replaces the NUL: the length is passed */
	return send_mem(c, q, status, "application/json", text, n + 1, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_error(struct MHD_Connection *c, req *q, unsigned status,
				  const char *code, const char *msg)
{
	json_t *v = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			      msg && *msg ? msg : code);
	return send_json(c, q, status, v);
}

/* The one table from engine error codes to HTTP. */
static const struct {
	int code;
	unsigned status;
	const char *name;
} error_map[] = {
	{CAIRN_EINVALID, 400, "InvalidArgument"},
	{CAIRN_ENOTFOUND, 404, "NotFound"},
	{CAIRN_EEXISTS, 409, "Conflict"},
	{CAIRN_ETOOBIG, 413, "TooLarge"},
	{CAIRN_EAUTH, 401, "Unauthorized"},
	{CAIRN_EPERM, 403, "Forbidden"},
	{CAIRN_EUNSUPPORTED, 501, "NotImplemented"},
	{CAIRN_ECORRUPT, 500, "Internal"},
	{CAIRN_EIO, 500, "Internal"},
	{CAIRN_ENOMEM, 500, "Internal"},
	{CAIRN_ERROR, 500, "Internal"},
};

static enum MHD_Result send_code(struct MHD_Connection *c, req *q, int code, const char *msg)
{
	for (size_t i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (error_map[i].code == code)
			return send_error(c, q, error_map[i].status, error_map[i].name, msg);
	return send_error(c, q, 500, "Internal", msg);
}

/*
 * The engine's last message, for a response to the error code rc. The
 * message slot is cleared at the start of every request (handler), so a
 * message can only come from this request; with none, a fixed text.
 */
static enum MHD_Result send_engine(struct MHD_Connection *c, req *q, int rc)
{
	const char *msg = cairn_error_last();

	return send_code(c, q, rc, msg[0] ? msg : cairn_error_name(rc));
}

/*
 * Memory a request may hold beyond a JSON body: xorb uploads and batches
 * (held whole while they are checked) and streaming uploads (a window and
 * the xorbs being packed and stored) draw on one budget; past it a request
 * is told to come back (503 SlowDown), never queued in memory.
 */
static uint64_t g_budget = UINT64_C(1) << 30; /* --upload-memory */

/*
 * What each namespace holds: one tenant may take a quarter of the budget,
 * so trickling uploads from one token cannot shut everyone else out. Its
 * first request is always let in when the budget has room (a single xorb
 * or upload may be bigger than a small budget's quarter).
 */
typedef struct ns_use {
	char ns[CAIRN_NAME_MAX + 1];
	uint64_t used;
	struct ns_use *next;
} ns_use;

static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static ns_use *ns_uses;

static ns_use **ns_find(const char *ns)
{
	ns_use **p = &ns_uses;

	while (*p && strcmp((*p)->ns, ns) != 0)
		p = &(*p)->next;
	return p;
}

bool cairn__budget_take(const char *ns, uint64_t n, uint64_t *reserved)
{
	uint64_t cur;
	ns_use **p, *u;
	bool ok = false;

	pthread_mutex_lock(&budget_lock);
	cur = atomic_load(&big_body_used);
	p = ns_find(ns);
	u = *p;
	if (n <= g_budget - cur && (u == NULL || n <= g_budget / 4 - (u->used < g_budget / 4 ? u->used : g_budget / 4))) {
		if (u == NULL && (u = calloc(1, sizeof(*u))) != NULL) {
			snprintf(u->ns, sizeof(u->ns), "%s", ns);
			*p = u;
		}
		if (u != NULL) {
			u->used += n;
			atomic_store(&big_body_used, cur + n);
			*reserved += n;
			ok = true;
		}
	}
	pthread_mutex_unlock(&budget_lock);
	return ok;
}

void cairn__budget_release(const char *ns, uint64_t *reserved)
{
	ns_use **p, *u;

	if (*reserved == 0)
		return;
	pthread_mutex_lock(&budget_lock);
	atomic_fetch_sub(&big_body_used, *reserved);
	p = ns_find(ns);
	if ((u = *p) != NULL) {
		u->used -= *reserved < u->used ? *reserved : u->used;
		if (u->used == 0) {
			*p = u->next;
			free(u);
		}
	}
	pthread_mutex_unlock(&budget_lock);
	*reserved = 0;
}

/* Reserve n bytes for request q (released when it completes). */
static bool budget_take(req *q, uint64_t n)
{
	return cairn__budget_take(q->authed ? q->user : "", n, &q->reserved);
}

static void budget_release(req *q)
{
	cairn__budget_release(q->authed ? q->user : "", &q->reserved);
}

static enum MHD_Result send_slow_down(struct MHD_Connection *c, req *q)
{
	struct MHD_Response *r;
	const char *body = "{\"error\":{\"code\":\"SlowDown\",\"message\":\"the server holds too "
			   "many uploads at once; retry shortly\"}}\n";
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Retry-After", "1");
	ret = MHD_queue_response(c, 503, r);
	MHD_destroy_response(r);
	q->status = 503;
	q->bytes_out = strlen(body);
	return ret;
}

/* ---- decoding ------------------------------------------------------------------------- */

bool cairn__same_text(const char *a, const char *b, size_t n)
{
	volatile unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool cairn__query_arg(struct MHD_Connection *c, const char *name, char *out, size_t cap,
		      size_t *len)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	size_t n;
	long d;

	if (v == NULL)
		return false;
	n = strlen(v);
	if (n >= URL_MAX)
		return false;
	d = cairn__query_decode(out, cap - 1, v, n);
	if (d < 0)
		return false;
	out[d] = '\0';
	if (len)
		*len = (size_t)d;
	return true;
}

/* The url gets no decoding from MHD (the handlers decode segment by segment). */
size_t cairn__keep_url(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* ---- authentication and permissions ---------------------------------------------------- */

/*
 * Returns 0 (anonymous or a valid token), CAIRN_EAUTH (*msg says why) or
 * another code from the metadata (its message in cairn_error_last).
 */
static int authenticate(struct MHD_Connection *c, worker *w, req *q, bool cookie_ok,
			const char **msg)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	uint8_t hash[32];
	int rc;

	*msg = NULL;
	if (h == NULL && cookie_ok) {
		/* a browser's session (web.c): an unknown or ended one is anonymous */
		const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
							    CAIRN__SESSION_COOKIE);
		if (v == NULL)
			return 0;
		rc = cairn__web_session(w->meta, v, q->user, q->scope, q->csrf);
		if (rc == CAIRN_EAUTH) {
			cairn_error_clear();
			return 0;
		}
		if (rc != 0)
			return rc;
		q->authed = q->by_session = true;
		q->admin = strcmp(q->scope, "admin") == 0;
		q->can_write_scope = q->admin || strcmp(q->scope, "write") == 0;
		return 0;
	}
	if (h == NULL)
		return 0;
	if (strncmp(h, "Bearer ", 7) != 0 ||
	    cairn_token_hash(hash, h + 7, strlen(h + 7)) != 0) {
		*msg = "malformed Authorization header (want: Bearer cairn_...)";
		return CAIRN_EAUTH;
	}
	rc = w->meta->token_lookup(w->meta, hash, q->user, q->scope);
	if (rc == CAIRN_EAUTH)
		*msg = "unknown or revoked token";
	if (rc != 0)
		return rc;
	q->authed = true;
	q->admin = strcmp(q->scope, "admin") == 0;
	q->can_write_scope = q->admin || strcmp(q->scope, "write") == 0;
	return 0;
}

static bool is_owner(const req *q, const char *ns)
{
	return q->authed && (q->admin || strcmp(q->user, ns) == 0);
}

/* May the caller write in namespace ns? 0, or CAIRN_EAUTH / CAIRN_EPERM with *msg. */
static int write_check(const req *q, const char *ns, const char **msg)
{
	if (!q->authed) {
		*msg = "this needs a token (Authorization: Bearer cairn_...)";
		return CAIRN_EAUTH;
	}
	if (!is_owner(q, ns)) {
		*msg = "only the namespace's owner or an admin may do this";
		return CAIRN_EPERM;
	}
	if (!q->can_write_scope) {
		*msg = "this token is read-only";
		return CAIRN_EPERM;
	}
	return 0;
}

/*
 * The target bucket, if the caller may see it. A private bucket of someone
 * else answers exactly like a missing one. Returns 0 or sends the error and
 * returns its code (*ret set).
 */
static int find_bucket(struct MHD_Connection *c, worker *w, req *q, cairn_bucket_row *b,
		       enum MHD_Result *ret)
{
	int rc = cairn_bucket_get(w->repo, q->ns, q->name, b);
	char msg[2 * CAIRN_NAME_MAX + 32];

	if (rc == 0 && (!b->is_private || is_owner(q, b->ns)))
		return 0;
	if (rc == 0 || rc == CAIRN_ENOTFOUND || rc == CAIRN_EINVALID) {
		snprintf(msg, sizeof(msg), "no bucket %s/%s", q->ns, q->name);
		*ret = send_error(c, q, 404, "NotFound", msg);
		return CAIRN_ENOTFOUND;
	}
	*ret = send_engine(c, q, rc);
	return rc;
}

/* The target bucket, if the caller may see it and write to it (else the
 * error is sent and its code returned, *ret set). */
static int writable_bucket(struct MHD_Connection *c, worker *w, req *q, cairn_bucket_row *b,
			   enum MHD_Result *ret)
{
	const char *msg;
	int rc = find_bucket(c, w, q, b, ret);

	if (rc != 0)
		return rc;
	if ((rc = write_check(q, q->ns, &msg)) != 0)
		*ret = send_code(c, q, rc, msg);
	return rc;
}

/* The caller, as the engine's visibility rules want it. */
static void caller_of(const req *q, cairn_caller *who)
{
	who->ns = q->authed ? q->user : NULL;
	who->admin = q->authed && q->admin;
	who->writer = q->authed && q->can_write_scope;
}

/* ---- handlers --------------------------------------------------------------------- */

static atomic_uint_fast64_t m_xorb_reads, m_region_fills;

static enum MHD_Result h_metrics(struct MHD_Connection *c, req *q)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	uint64_t cum = 0;
	enum MHD_Result ret;

	if (f == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	fprintf(f, "# HELP cairn_http_requests_total HTTP requests by status code.\n"
		   "# TYPE cairn_http_requests_total counter\n");
	for (size_t i = 0; i <= N_CODES; i++) {
		char code[16];
		if (i < N_CODES)
			snprintf(code, sizeof(code), "%u", metric_codes[i]);
		else
			snprintf(code, sizeof(code), "other");
		fprintf(f, "cairn_http_requests_total{code=\"%s\"} %" PRIu64 "\n", code,
			(uint64_t)atomic_load(&metrics.by_code[i]));
	}
	fprintf(f, "# TYPE cairn_http_bytes_in_total counter\ncairn_http_bytes_in_total %" PRIu64
		   "\n# TYPE cairn_http_bytes_out_total counter\ncairn_http_bytes_out_total %" PRIu64
		   "\n# TYPE cairn_http_errors_total counter\ncairn_http_errors_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&metrics.bytes_in), (uint64_t)atomic_load(&metrics.bytes_out),
		(uint64_t)atomic_load(&metrics.errors));
	fprintf(f, "# HELP cairn_http_aborted_total Requests the client ended before a response.\n"
		   "# TYPE cairn_http_aborted_total counter\ncairn_http_aborted_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&metrics.aborted));
	fprintf(f, "# HELP cairn_http_request_seconds Time from request to response end.\n"
		   "# TYPE cairn_http_request_seconds histogram\n");
	for (size_t i = 0; i <= N_LE; i++) {
		cum += atomic_load(&metrics.hist[i]);
		if (i < N_LE)
			fprintf(f, "cairn_http_request_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				hist_le[i], cum);
		else
			fprintf(f, "cairn_http_request_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
				cum);
	}
	fprintf(f, "cairn_http_request_seconds_sum %.6f\ncairn_http_request_seconds_count %" PRIu64
		   "\n",
		(double)atomic_load(&metrics.seconds_us) / 1e6, cum);
	fprintf(f, "# HELP cairn_dedup_chunks_total Uploaded chunks that were stored already.\n"
		   "# TYPE cairn_dedup_chunks_total counter\ncairn_dedup_chunks_total %" PRIu64
		   "\n# TYPE cairn_upload_chunks_total counter\ncairn_upload_chunks_total %" PRIu64
		   "\n",
		(uint64_t)atomic_load(&metrics.dedup_chunks),
		(uint64_t)atomic_load(&metrics.upload_chunks));
	fprintf(f, "# HELP cairn_upload_memory_bytes Memory reserved now by uploads in flight.\n"
		   "# TYPE cairn_upload_memory_bytes gauge\ncairn_upload_memory_bytes %" PRIu64
		   "\n# TYPE cairn_upload_memory_limit_bytes gauge\n"
		   "cairn_upload_memory_limit_bytes %" PRIu64 "\n",
		(uint64_t)atomic_load(&big_body_used), g_budget);
	fprintf(f, "# HELP cairn_xorb_reads_total Signed xorb reads served (ranges and region "
		   "fills).\n# TYPE cairn_xorb_reads_total counter\ncairn_xorb_reads_total %" PRIu64
		   "\n# TYPE cairn_region_fills_total counter\ncairn_region_fills_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&m_xorb_reads), (uint64_t)atomic_load(&m_region_fills));
	cairn__conn_metrics(f);
	if (cairn__cache_on())
		cairn__cache_metrics(f);
	else {
		cairn__warm_metrics(f);
		cairn__recompress_metrics(f);
	}
	if (fclose(f) != 0) {
		free(text);
		return send_error(c, q, 500, "Internal", "out of memory");
	}
	ret = send_buf(c, q, 200, "text/plain; version=0.0.4", text, size);
	free(text);
	return ret;
}

static json_t *bucket_json(const cairn_bucket_row *b)
{
	json_t *regs = json_array();
	const char *p = b->regions;

	while (regs != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		json_array_append_new(regs, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return json_pack("{s:s,s:s,s:b,s:I,s:o*}", "namespace", b->ns, "name", b->name, "private",
			 b->is_private, "created_ns", (json_int_t)b->created_ns, "regions", regs);
}

typedef struct list_ctx {
	const req *q;
	json_t *arr;
} list_ctx;

static int list_bucket(void *ctx, const cairn_bucket_row *b)
{
	list_ctx *lc = ctx;

	if (b->is_private && !is_owner(lc->q, b->ns))
		return 0;
	return json_array_append_new(lc->arr, bucket_json(b)) == 0 ? 0 : CAIRN_ENOMEM;
}

static enum MHD_Result h_bucket_list(struct MHD_Connection *c, worker *w, req *q)
{
	char ns[CAIRN_NAME_MAX + 2];
	bool have = cairn__query_arg(c, "namespace", ns, sizeof(ns), NULL);
	list_ctx lc = {q, json_array()};
	int rc;

	if (!have && MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "namespace")) {
		json_decref(lc.arr);
		return send_error(c, q, 400, "InvalidArgument", "bad namespace argument");
	}
	rc = lc.arr ? cairn_bucket_list(w->repo, have ? ns : NULL, list_bucket, &lc)
		    : CAIRN_ENOMEM;
	if (rc != 0) {
		json_decref(lc.arr);
		return send_engine(c, q, rc);
	}
	return send_json(c, q, 200, json_pack("{s:o}", "buckets", lc.arr));
}

static enum MHD_Result h_bucket_create(struct MHD_Connection *c, worker *w, req *q)
{
	const char *msg;
	int priv = cairn__body_private(q->body, q->body_len);
	int rc = write_check(q, q->ns, &msg);
	cairn_bucket_row b;

	if (rc != 0)
		return send_code(c, q, rc, msg);
	if (priv == -2)
		return send_error(c, q, 400, "InvalidArgument",
				  "body must be a JSON object; \"private\" a boolean");
	/* private unless asked otherwise: nothing is published by accident */
	rc = cairn_bucket_create(w->repo, q->ns, q->name, priv != 0);
	if (rc == 0)
		rc = cairn_bucket_get(w->repo, q->ns, q->name, &b);
	if (rc != 0)
		return send_engine(c, q, rc);
	return send_json(c, q, 201, bucket_json(&b));
}

static int count_one(void *ctx, const cairn_object_row *row, const char *prefix, size_t len);

static enum MHD_Result h_bucket_info(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	unsigned n = 0;
	cairn_bucket_row b;
	cairn_stats st;
	enum MHD_Result ret;
	json_t *v;
	int rc;

	if (find_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	/*
	 * An empty bucket has all-zero stats. Asking the engine anyway would
	 * reach qsort(NULL, 0, ...) in lib/core/repo.c's sum_uses, which
	 * UBSan rejects (reported; worked around here).
	 */
	memset(&st, 0, sizeof(st));
	lo.limit = 1;
	rc = cairn_object_list(w->repo, q->ns, q->name, &lo, count_one, &n, NULL);
	if (rc == 0 && n > 0)
		rc = cairn_bucket_stats(w->repo, q->ns, q->name, &st);
	if (rc != 0)
		return send_engine(c, q, rc);
	v = bucket_json(&b);
	json_object_set_new(v, "objects", json_integer((json_int_t)st.objects));
	json_object_set_new(v, "logical_bytes", json_integer((json_int_t)st.logical_bytes));
	json_object_set_new(v, "dedup_bytes", json_integer((json_int_t)st.dedup_bytes));
	json_object_set_new(v, "stored_bytes", json_integer((json_int_t)st.stored_bytes));
	json_object_set_new(v, "chunks", json_integer((json_int_t)st.chunks));
	json_object_set_new(v, "xorbs", json_integer((json_int_t)st.xorbs));
	return send_json(c, q, 200, v);
}

static int count_one(void *ctx, const cairn_object_row *row, const char *prefix, size_t len)
{
	(void)row;
	(void)prefix;
	(void)len;
	(*(unsigned *)ctx)++;
	return 0;
}

static enum MHD_Result h_bucket_delete(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	cairn_bucket_row b;
	enum MHD_Result ret;
	char force[8];
	unsigned n = 0;
	int rc;

	if (writable_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	if (!cairn__query_arg(c, "force", force, sizeof(force), NULL) || strcmp(force, "true") != 0) {
		lo.limit = 1;
		rc = cairn_object_list(w->repo, q->ns, q->name, &lo, count_one, &n, NULL);
		if (rc != 0)
			return send_engine(c, q, rc);
		if (n > 0)
			return send_error(c, q, 409, "BucketNotEmpty",
					  "the bucket holds objects (delete with ?force=true)");
	}
	if ((rc = cairn_bucket_delete(w->repo, q->ns, q->name)) != 0)
		return send_engine(c, q, rc);
	return send_json(c, q, 200, json_pack("{s:b}", "deleted", 1));
}

/* Does the origin know region name (cairn__body_regions)? */
static int region_known(void *ctx, const char *name)
{
	worker *w = ctx;
	char url[CAIRN_REGION_URL_MAX + 1];

	return w->meta->region_get(w->meta, name, url, NULL);
}

/* PUT /api/buckets/NS/NAME/settings {"private": B, "regions": [...]}: either or both. */
static enum MHD_Result h_bucket_settings(struct MHD_Connection *c, worker *w, req *q)
{
	char regions[CAIRN_REGIONS_MAX + 1];
	const char *why = NULL;
	cairn_bucket_row b;
	enum MHD_Result ret;
	int priv, regs, rc;

	if (writable_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	priv = cairn__body_private(q->body, q->body_len);
	regs = priv == -2 ? 0
			  : cairn__body_regions(q->body, q->body_len, regions, &why, region_known, w);
	if (priv == -2 || (priv == -1 && regs == 0))
		return send_error(c, q, 400, "InvalidArgument",
				  "body must be a JSON object with \"private\": true|false and/or "
				  "\"regions\": [names]");
	if (regs < 0)
		return regs == CAIRN_EINVALID ? send_error(c, q, 400, "InvalidArgument", why)
					      : send_engine(c, q, regs);
	if ((priv >= 0 && (rc = cairn_bucket_set_private(w->repo, q->ns, q->name, priv == 1)) != 0) ||
	    (regs == 1 && (rc = cairn_bucket_set_regions(w->repo, q->ns, q->name, regions)) != 0) ||
	    (rc = cairn_bucket_get(w->repo, q->ns, q->name, &b)) != 0)
		return send_engine(c, q, rc);
	if (regs == 1)
		cairn__warm_settings_changed();
	return send_json(c, q, 200, bucket_json(&b));
}

/* ---- listing ---------------------------------------------------------------------- */

typedef struct tree_ctx {
	json_t *arr;
	char last[CAIRN_KEY_MAX];
	size_t last_len;
} tree_ctx;

static int tree_one(void *ctx, const cairn_object_row *row, const char *prefix, size_t len)
{
	tree_ctx *tc = ctx;
	char hexh[CAIRN_HASH_HEX_LEN + 1];
	json_t *e;

	if (row != NULL) {
		cairn_hash_to_hex(hexh, &row->file);
		e = json_pack("{s:s,s:s%,s:I,s:s,s:I}", "type", "file", "path", row->key,
			      row->key_len, "size", (json_int_t)row->size, "hash", hexh,
			      "mtime_ns", (json_int_t)row->mtime_ns);
		prefix = row->key;
		len = row->key_len;
	} else {
		/* the common prefix without its trailing "/" */
		e = json_pack("{s:s,s:s%}", "type", "directory", "path", prefix, len - 1);
	}
	if (e == NULL || json_array_append_new(tc->arr, e) != 0)
		return CAIRN_EINVALID; /* not UTF-8 (stored by another front) or no memory */
	memcpy(tc->last, prefix, len);
	tc->last_len = len;
	return 0;
}

static enum MHD_Result h_tree(struct MHD_Connection *c, worker *w, req *q)
{
	static const char hexd[] = "0123456789abcdef";
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	char arg[2 * CAIRN_KEY_MAX + 2], after[CAIRN_KEY_MAX], prefix[CAIRN_KEY_MAX + 1];
	char cursor[2 * CAIRN_KEY_MAX + 1];
	size_t alen;
	tree_ctx *tc;
	cairn_bucket_row b;
	enum MHD_Result ret;
	bool recursive = false, truncated = false;
	int rc;

	if (find_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	if (cairn__query_arg(c, "recursive", arg, sizeof(arg), NULL))
		recursive = strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0;
	if (cairn__query_arg(c, "limit", arg, sizeof(arg), NULL)) {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || v < 1 || v > 1000)
			return send_error(c, q, 400, "InvalidArgument", "limit must be 1..1000");
		lo.limit = (size_t)v;
	} else if (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit")) {
		return send_error(c, q, 400, "InvalidArgument", "limit must be 1..1000");
	}
	if (cairn__query_arg(c, "cursor", arg, sizeof(arg), &alen)) {
		/* the cursor is the hex of the last entry given */
		if (alen == 0 || alen % 2 || alen / 2 > CAIRN_KEY_MAX)
			return send_error(c, q, 400, "InvalidArgument", "bad cursor");
		for (size_t i = 0; i < alen / 2; i++) {
			int hi = cairn__hexv(arg[2 * i]), lo4 = cairn__hexv(arg[2 * i + 1]);
			if (hi < 0 || lo4 < 0)
				return send_error(c, q, 400, "InvalidArgument", "bad cursor");
			after[i] = (char)(hi << 4 | lo4);
		}
		alen /= 2;
		/* a directory's cursor resumes after all it holds: the engine
		 * does that for any start-after inside a common prefix */
		lo.start_after = after;
		lo.start_after_len = alen;
	} else if (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor")) {
		return send_error(c, q, 400, "InvalidArgument", "bad cursor");
	}
	if (q->key_len > 0) {
		if (q->key_len + 1 > CAIRN_KEY_MAX)
			return send_error(c, q, 400, "InvalidArgument", "prefix too long");
		memcpy(prefix, q->key, q->key_len);
		prefix[q->key_len] = '/';
		lo.prefix = prefix;
		lo.prefix_len = q->key_len + 1;
	}
	if (!recursive) {
		lo.delimiter = "/";
		lo.delimiter_len = 1;
	}
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL || (tc->arr = json_array()) == NULL) {
		free(tc);
		return send_error(c, q, 500, "Internal", "out of memory");
	}
	rc = cairn_object_list(w->repo, q->ns, q->name, &lo, tree_one, tc, &truncated);
	if (rc != 0) {
		json_decref(tc->arr);
		free(tc);
		return send_engine(c, q, rc);
	}
	for (size_t i = 0; i < tc->last_len; i++) {
		cursor[2 * i] = hexd[(uint8_t)tc->last[i] >> 4];
		cursor[2 * i + 1] = hexd[(uint8_t)tc->last[i] & 15];
	}
	cursor[2 * tc->last_len] = '\0';
	ret = send_json(c, q, 200,
			json_pack("{s:o,s:o}", "entries", tc->arr, "next_cursor",
				  truncated ? json_string(cursor) : json_null()));
	free(tc);
	return ret;
}

/* ---- objects -------------------------------------------------------------------------- */

/* First call of an upload: checks, then start writing. NULL *ret: go on reading the body. */
static enum MHD_Result upload_begin(struct MHD_Connection *c, worker *w, req *q, bool *started)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *mt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cairn-Mtime");
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc;

	*started = false;
	if (writable_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	if (cl != NULL && strtoull(cl, NULL, 10) > UPLOAD_MAX)
		return send_error(c, q, 413, "TooLarge", "object over the size ceiling (1 TiB)");
	{
		/* what the engine holds for it: a 4 MiB window, and xorbs up to 2 x 32 MiB */
		uint64_t n = cl ? strtoull(cl, NULL, 10) : UINT64_MAX;
		uint64_t need = (UINT64_C(4) << 20) + (n < (UINT64_C(64) << 20) ? n : UINT64_C(64) << 20);
		if (!budget_take(q, need))
			return send_slow_down(c, q);
	}
	if (mt != NULL) {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(mt, &end, 10);
		if (*mt == '\0' || *end != '\0' || errno != 0)
			return send_error(c, q, 400, "InvalidArgument",
					  "X-Cairn-Mtime must be nanoseconds since the epoch");
		q->mtime_ns = v;
	}
	if ((rc = cairn_upload_new(&q->up, w->repo)) != 0)
		return send_engine(c, q, rc);
	{
		/* its dedup figures may only speak of chunks the writer can see */
		cairn_caller who;
		caller_of(q, &who);
		if ((rc = cairn_upload_set_caller(q->up, &who)) != 0)
			return send_engine(c, q, rc);
	}
	*started = true;
	return MHD_YES;
}

static void upload_data(req *q, const char *data, size_t n)
{
	int rc;

	if (q->up_rc != 0)
		return; /* failed already: drain the body, then say why */
	if (q->bytes_in > UPLOAD_MAX) {
		q->up_rc = CAIRN_ETOOBIG;
		snprintf(q->up_msg, sizeof(q->up_msg), "object over the size ceiling (1 TiB)");
		return;
	}
	rc = cairn_upload_write(q->up, data, n);
	if (rc != 0) {
		q->up_rc = rc;
		snprintf(q->up_msg, sizeof(q->up_msg), "%s", cairn_error_last());
	}
}

static enum MHD_Result upload_end(struct MHD_Connection *c, req *q)
{
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	cairn_put_result res;
	char hexh[CAIRN_HASH_HEX_LEN + 1];
	int rc;

	if (q->up_rc != 0)
		return send_code(c, q, q->up_rc, q->up_msg);
	po.mtime_ns = q->mtime_ns;
	rc = cairn_upload_commit(q->up, q->ns, q->name, q->key, q->key_len, &po, &res);
	if (rc != 0)
		return send_engine(c, q, rc);
	atomic_fetch_add(&metrics.upload_chunks, res.chunks);
	atomic_fetch_add(&metrics.dedup_chunks, res.chunks - res.new_chunks);
	cairn_hash_to_hex(hexh, &res.file);
	return send_json(c, q, 200,
			 json_pack("{s:s%,s:s,s:I,s:I,s:I,s:I,s:I}", "path", q->key, q->key_len,
				   "hash", hexh, "size", (json_int_t)res.size, "new_bytes",
				   (json_int_t)res.new_bytes, "stored_bytes",
				   (json_int_t)res.stored_bytes, "chunks", (json_int_t)res.chunks,
				   "new_chunks", (json_int_t)res.new_chunks));
}

/* An object's bytes, from the version the request pinned. */
static int fill_object(void *ctx, uint64_t at, size_t want, uint8_t *buf)
{
	req *q = ctx;
	int rc = cairn__piece_from_reader(q->rd, at, want, buf);

	if (rc != 0)
		fprintf(stderr, "cairn serve: %s/%s: read at %" PRIu64 " failed: %s\n", q->ns, q->name,
			at, cairn_error_last());
	return rc;
}

static ssize_t read_piece(void *cls, uint64_t pos, char *out, size_t max)
{
	req *q = cls;

	return cairn__pieces_serve(&q->pc, pos, out, max, q->fill, q->fill_ctx, &q->bytes_out);
}

/*
 * A "Range: bytes=..." header against size: 1 one satisfiable range
 * (*first, *len), 0 none or not understood (serve everything),
 * -1 unsatisfiable.
 */
int cairn__parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (*h == '-') { /* the last n bytes */
		if (h[1] < '0' || h[1] > '9')
			return 0;
		b = strtoull(h + 1, &end, 10);
		if (*end != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*len = b < size ? b : size;
		*first = size - *len;
		return 1;
	}
	if (*h < '0' || *h > '9')
		return 0;
	a = strtoull(h, &end, 10);
	if (*end != '-')
		return 0;
	h = end + 1;
	if (*h == '\0') {
		b = UINT64_MAX;
	} else {
		if (*h < '0' || *h > '9')
			return 0;
		b = strtoull(h, &end, 10);
		if (*end != '\0' || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*first = a;
	*len = b - a + 1;
	return 1;
}

/*
 * Answer a GET or HEAD of a file of size bytes whose hash is file: the
 * Range header honoured (206, or 416), the body filled piece by piece by
 * fill(ctx, ...). Downloads never run as pages of this server.
 */
static enum MHD_Result send_file(struct MHD_Connection *c, req *q, uint64_t size,
				 const cairn_hash *file, cairn__fill_fn fill, void *ctx)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char etag[CAIRN_HASH_HEX_LEN + 3], cr[96];
	unsigned status = 200;
	int rr;

	q->pc.first = 0;
	q->pc.len = size;
	rr = cairn__parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), size,
				&q->pc.first, &q->pc.len);
	if (rr < 0) {
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Range", cr);
		ret = MHD_queue_response(c, 416, r);
		MHD_destroy_response(r);
		q->status = 416;
		return ret;
	}
	if (rr > 0) {
		status = 206;
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, q->pc.first,
			 q->pc.first + q->pc.len - 1, size);
	}
	q->pc.buf = malloc(CAIRN__PIECE);
	if (q->pc.buf == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	q->fill = fill;
	q->fill_ctx = ctx;
	r = MHD_create_response_from_callback(q->pc.len, 64 * 1024, read_piece, q, NULL);
	if (r == NULL)
		return MHD_NO;
	etag[0] = '"';
	cairn_hash_to_hex(etag + 1, file);
	etag[CAIRN_HASH_HEX_LEN + 1] = '"';
	etag[CAIRN_HASH_HEX_LEN + 2] = '\0';
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	/* stored bytes never run as a page of this origin (sessions live here) */
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy", "sandbox");
	if (status == 206)
		MHD_add_response_header(r, "Content-Range", cr);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	q->status = status;
	return ret;
}

/*
 * ?region=NAME on a resolve: a redirect to that region's cache node, which
 * serves the file from its cache (GET /v1/files/HASH, signed for an hour).
 */
static enum MHD_Result resolve_to_region(struct MHD_Connection *c, worker *w, req *q,
					 const char *region)
{
	char url[CAIRN_REGION_URL_MAX + 1], loc[CAIRN_REGION_URL_MAX + 256];
	char hex[CAIRN_HASH_HEX_LEN + 1], exp[24], mac[65];
	struct MHD_Response *r;
	enum MHD_Result ret;
	uint8_t key[32];
	size_t ul;
	int rc = w->meta->region_get(w->meta, region, url, key);

	if (rc != 0)
		return rc == CAIRN_ENOTFOUND ? send_error(c, q, 400, "InvalidArgument",
							  "no such region")
					     : send_engine(c, q, rc);
	cairn_hash_to_hex(hex, &q->file);
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + URL_TTL_S);
	cairn__region_sign(mac, key, "file", hex, exp);
	ul = strlen(url);
	while (ul > 0 && url[ul - 1] == '/')
		url[--ul] = '\0';
	snprintf(loc, sizeof(loc), "%s/v1/files/%s?exp=%s&sig=%s", url, hex, exp, mac);
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Location", loc);
	MHD_add_response_header(r, "Cache-Control", "private, no-store");
	ret = MHD_queue_response(c, 307, r);
	MHD_destroy_response(r);
	q->status = 307;
	return ret;
}

static enum MHD_Result h_resolve_get(struct MHD_Connection *c, worker *w, req *q)
{
	char region[CAIRN_NAME_MAX + 1];
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc;

	if (find_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	/* one version, looked up once: every piece comes from it */
	if ((rc = cairn_reader_open(&q->rd, w->repo, q->ns, q->name, q->key, q->key_len)) != 0)
		return send_engine(c, q, rc);
	q->file = *cairn_reader_file(q->rd);
	if (cairn__query_arg(c, "region", region, sizeof(region), NULL) && region[0] != '\0')
		return resolve_to_region(c, w, q, region);
	return send_file(c, q, cairn_reader_size(q->rd), &q->file, fill_object, q);
}

static enum MHD_Result h_resolve_delete(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_bucket_row b;
	enum MHD_Result ret;
	int rc;

	if (writable_bucket(c, w, q, &b, &ret) != 0)
		return ret;
	if ((rc = cairn_object_delete(w->repo, q->ns, q->name, q->key, q->key_len)) != 0)
		return send_engine(c, q, rc);
	return send_json(c, q, 200, json_pack("{s:b}", "deleted", 1));
}

/* ---- the chunk protocol (docs/api.md) ------------------------------------------------- */

/*
 * Signed xorb URLs: a reconstruction hands out URLs that carry their own
 * permission, a keyed BLAKE3 of (xorb, byte range, expiry) under a key
 * kept in DATA_DIR/url-key (0600). Made once, on first start; every server
 * over the same data directory signs alike.
 */
static uint8_t g_url_key[CAIRN_BLAKE3_KEY_LEN];


/*
 * On metadata several servers share (PostgreSQL), the URL key is the one
 * stored there (the first server's wins), so a URL one server signs checks
 * on any other. 0, or -1 (said).
 */
static int share_url_key(void)
{
	uint8_t shared[CAIRN_BLAKE3_KEY_LEN];
	cairn_repo *repo;
	cairn_meta *meta;
	int rc;

	if (cairn__worker(&repo, &meta) != 0)
		return -1;
	if (meta->shared_secret == NULL)
		return 0;
	if ((rc = meta->shared_secret(meta, "url-key", g_url_key, shared)) != 0) {
		fprintf(stderr, "cairn serve: the shared URL key: %s\n", cairn_error_last());
		errno = EIO;
		return -1;
	}
	memcpy(g_url_key, shared, sizeof(g_url_key));
	return 0;
}

static int load_url_key(const char *dir)
{
	char path[4096], tmp[4096 + 16];
	uint8_t key[CAIRN_BLAKE3_KEY_LEN];
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/url-key", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		while (got < sizeof(key)) {
			ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
			if (n < 0 && errno != EINTR)
				return -1;
			if (n > 0)
				got += (size_t)n;
		}
		snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0) {
			close(fd);
			unlink(tmp);
			return -1;
		}
		close(fd);
		/* link, not rename: a key another server made first is kept, never replaced */
		if (link(tmp, path) != 0 && errno != EEXIST) {
			unlink(tmp);
			return -1;
		}
		unlink(tmp);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	got = 0;
	while (got < sizeof(g_url_key)) {
		ssize_t n = read(fd, g_url_key + got, sizeof(g_url_key) - got);
		if (n <= 0) {
			close(fd);
			errno = n == 0 ? EINVAL : errno;
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

/* The signature of xorb bytes [start, end] (inclusive) until exp, as 64 hex digits. */
static void url_sig(char out[65], const cairn_hash *xorb, uint64_t start, uint64_t end,
		    int64_t exp)
{
	cairn__url_mac(out, g_url_key, xorb, start, end, exp);
}

/* Query argument `name` as a hash into *out: 1; 0 absent; -1 not a hash. */
static int query_hash(struct MHD_Connection *c, const char *name, cairn_hash *out)
{
	char hex[CAIRN_HASH_HEX_LEN + 2];
	size_t n;

	if (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name) == NULL)
		return 0;
	return cairn__query_arg(c, name, hex, sizeof(hex), &n) && n == CAIRN_HASH_HEX_LEN && cairn_hash_from_hex(out, hex, n) == 0 ? 1 : -1;
}

/* Compare without an early exit, so timing does not tell how much of a guess was right. */
/*
 * A route that holds a big body (up to cap): its length must be announced,
 * within cap and within the budget; the buffer is allocated at once.
 */
static enum MHD_Result want_big_body(struct MHD_Connection *c, req *q, int hid, size_t cap,
				     const char *what, unsigned factor)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	unsigned long long n;
	char msg[96];
	char *end;

	if (cl == NULL)
		return send_error(c, q, 411, "LengthRequired", "send a Content-Length");
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (*cl == '\0' || *end != '\0' || errno != 0 || n > cap) {
		snprintf(msg, sizeof(msg), "%s over %zu MiB", what, cap >> 20);
		return send_error(c, q, 413, "TooLarge", msg);
	}
	/* factor: what handling it holds beside the body (a batch: its parse, decoded) */
	if (!budget_take(q, factor * n))
		return send_slow_down(c, q);
	q->big_body = true;
	q->body_cap = (size_t)n;
	if (n > 0 && (q->body = malloc((size_t)n)) == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	q->route = R_JSON_BODY;
	q->hid = hid;
	return MHD_YES;
}

static enum MHD_Result h_chunk_get(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_caller who;
	bool present = false;
	char hexh[CAIRN_HASH_HEX_LEN + 1];
	int rc;

	if (!q->authed)
		return send_error(c, q, 401, "Unauthorized", "the dedup query needs a token");
	caller_of(q, &who);
	if ((rc = cairn_chunks_query(w->repo, &who, &q->file, 1, &present)) != 0)
		return send_engine(c, q, rc);
	if (!present)
		return send_error(c, q, 404, "NotFound", "no such chunk");
	cairn_hash_to_hex(hexh, &q->file);
	return send_json(c, q, 200, json_pack("{s:s}", "chunk", hexh));
}

static enum MHD_Result h_chunk_query(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_hash *hashes = NULL;
	bool *present = NULL;
	char *bits = NULL;
	const char *why;
	cairn_caller who;
	enum MHD_Result ret;
	size_t n;
	int rc;

	rc = cairn__body_chunks(q->body, q->body_len, &hashes, &n, &why);
	if (rc != 0)
		return rc == CAIRN_EINVALID ? send_error(c, q, 400, "InvalidArgument", why)
					    : send_error(c, q, 500, "Internal", "out of memory");
	present = calloc(n ? n : 1, sizeof(*present));
	bits = malloc(n + 1);
	if (present == NULL || bits == NULL) {
		ret = send_error(c, q, 500, "Internal", "out of memory");
		goto done;
	}
	caller_of(q, &who);
	if ((rc = cairn_chunks_query(w->repo, &who, hashes, n, present)) != 0) {
		ret = send_engine(c, q, rc);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		bits[i] = present[i] ? '1' : '0';
		atomic_fetch_add(&metrics.dedup_chunks, present[i]);
	}
	atomic_fetch_add(&metrics.upload_chunks, n);
	ret = send_json(c, q, 200, json_pack("{s:s%}", "present", bits, n));
done:
	free(hashes);
	free(present);
	free(bits);
	return ret;
}

#define XORB_BODY_MAX ((size_t)CAIRN_XORB_MAX_BYTES) /* footer included, as the reader takes it */

static enum MHD_Result h_xorb_put(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_ingest_result res;
	char hexh[CAIRN_HASH_HEX_LEN + 1];
	int rc;

	/* the engine says EINVALID for bad client bytes; ECORRUPT is our store's */
	rc = cairn_xorb_ingest(w->repo, q->user, &q->file, q->body, q->body_len, &res);
	if (rc != 0)
		return send_engine(c, q, rc);
	cairn_hash_to_hex(hexh, &q->file);
	return send_json(c, q, 200,
			 json_pack("{s:s,s:I,s:I,s:I}", "xorb", hexh, "chunks", (json_int_t)res.chunks,
				   "new_chunks", (json_int_t)res.new_chunks, "stored_bytes",
				   (json_int_t)res.stored_bytes));
}

/*
 * What a URL to a xorb's raw layout is signed over: the xorb hash keyed
 * apart, so a signature for the stored bytes never serves as one for the
 * raw layout, nor the other way round.
 */
static void raw_layout_id(cairn_hash *out, const cairn_hash *xorb)
{
	static const cairn_hash key = {{'c', 'a', 'i', 'r', 'n', ' ', 'r', 'a', 'w', ' ', 'l',
					'a', 'y', 'o', 'u', 't', ' ', 'o', 'f', ' ', 'a', ' ',
					'x', 'o', 'r', 'b', ' ', 'v', '1', '.', '.', '.'}};

	cairn_hash_keyed(out, xorb, &key);
}

/*
 * One fetch_info entry: chunks [first, end) of xorb, at bytes [start,
 * stop) of what the URL names. How: 0 the xorb as it came (through base,
 * with key); 1 its raw layout (the origin); 2 its stored form, in Cairn's
 * own schemes, for a client that decodes them (through base, with key).
 */
typedef struct recon_fetch {
	cairn_hash xorb, form;
	uint32_t first, end;
	uint64_t start, stop;
	int how;
} recon_fetch;

static recon_fetch fetch_of(const cairn_recon_term *t, bool stored_forms)
{
	recon_fetch r = {t->xorb, t->xorb, t->first, t->end, t->byte_start, t->byte_end, 0};

	if (t->raw_layout && stored_forms) {
		r = (recon_fetch){t->xorb,	t->form,      t->form_first, t->form_end,
				  t->form_start, t->form_stop, 2};
	} else if (t->raw_layout) {
		r.how = 1;
	}
	return r;
}

/* Order of fetches by (xorb, first, end): equal ranges of a xorb fall together. */
static int by_range(const void *a, const void *b)
{
	const recon_fetch *x = a, *y = b;
	int c = memcmp(x->xorb.bytes, y->xorb.bytes, sizeof(x->xorb.bytes));

	if (c != 0)
		return c;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/*
 * The reconstruction as JSON text, written straight out (a parser's tree
 * of a file with a million terms would cost many times the text):
 * "terms" in file order, and "fetch_info" with each distinct chunk range
 * of each xorb once, found by sorting (not by searching per term).
 * stored_forms: the client decodes Cairn's own schemes, and a recompressed
 * xorb's chunks come as they are stored (whole runs), not decoded by the
 * origin into their raw layout.
 */
static int write_recon(FILE *f, const cairn_hash *file, uint64_t size, const cairn_recon_term *t,
		       size_t n, int64_t exp, const char *base, const uint8_t *key,
		       bool stored_forms)
{
	char hexh[CAIRN_HASH_HEX_LEN + 1], hexf[CAIRN_HASH_HEX_LEN + 1], sig[65];
	recon_fetch *fe = malloc((n ? n : 1) * sizeof(*fe));
	size_t m = 0; /* fetches, once ranges are merged */

	if (fe == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		fe[i] = fetch_of(&t[i], stored_forms);
	if (n > 1)
		qsort(fe, n, sizeof(*fe), by_range);
	/*
	 * A stored form's ranges are widened to whole runs, so neighbouring
	 * terms' ranges often share runs: those that overlap become one, so
	 * that each run is sent and decoded once.
	 */
	for (size_t i = 0; i < n; i++) {
		recon_fetch *last = m ? &fe[m - 1] : NULL;
		if (last && fe[i].how == 2 && last->how == 2 &&
		    cairn_hash_equal(&last->xorb, &fe[i].xorb) &&
		    cairn_hash_equal(&last->form, &fe[i].form) && fe[i].first < last->end) {
			if (fe[i].end > last->end) {
				last->end = fe[i].end;
				last->stop = fe[i].stop;
			}
			continue;
		}
		fe[m++] = fe[i];
	}
	cairn_hash_to_hex(hexh, file);
	fprintf(f, "{\"file\":\"%s\",\"size\":%" PRIu64 ",\"offset_into_first_range\":0,"
		   "\"terms\":[", hexh, size);
	for (size_t i = 0; i < n; i++) {
		cairn_hash_to_hex(hexh, &t[i].xorb);
		fprintf(f, "%s{\"hash\":\"%s\",\"unpacked_length\":%" PRIu64
			   ",\"range\":{\"start\":%u,\"end\":%u}}",
			i ? "," : "", hexh, t[i].raw_len, t[i].first, t[i].end);
	}
	fputs("],\"fetch_info\":{", f);
	for (size_t k = 0; k < m; k++) {
		const recon_fetch *x = &fe[k], *prev = k ? &fe[k - 1] : NULL;
		bool new_xorb = prev == NULL || !cairn_hash_equal(&prev->xorb, &x->xorb);
		if (!new_xorb && prev->first == x->first && prev->end == x->end)
			continue; /* a range listed already */
		cairn_hash_to_hex(hexh, &x->xorb);
		cairn_hash_to_hex(hexf, &x->form);
		if (new_xorb)
			fprintf(f, "%s\"%s\":[", k ? "]," : "", hexh);
		else
			fputc(',', f);
		if (x->how == 1) {
			/* recompressed: its xet form comes from the origin, which decodes it */
			cairn_hash id;
			raw_layout_id(&id, &x->xorb);
			cairn__url_mac(sig, g_url_key, &id, x->start, x->stop - 1, exp);
		} else if (x->how == 2) {
			cairn_hash id;
			cairn__form_url_id(&id, &x->xorb, &x->form);
			cairn__url_mac(sig, key, &id, x->start, x->stop - 1, exp);
		} else {
			cairn__url_mac(sig, key, &x->xorb, x->start, x->stop - 1, exp);
		}
		fprintf(f, "{\"range\":{\"start\":%u,\"end\":%u},\"url\":\"%s/v1/xorbs/default/%s"
			   "?start=%" PRIu64 "&end=%" PRIu64 "&exp=%" PRId64 "&sig=%s%s%s\","
			   "\"url_range\":{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}}",
			x->first, x->end, x->how == 1 ? "" : base, hexh, x->start, x->stop - 1, exp,
			sig, x->how == 1 ? "&layout=raw" : x->how == 2 ? "&form=" : "",
			x->how == 2 ? hexf : "", x->start, x->stop - 1);
	}
	fputs(m ? "]}}\n" : "}}\n", f);
	free(fe);
	return ferror(f) ? -1 : 0;
}

/* What answering a reconstruction holds, per term: the terms, their text, its copy. */
#define RECON_TERM_COST 1024u

static enum MHD_Result h_reconstruction(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_recon_term *t = NULL;
	int64_t exp = (int64_t)time(NULL) + URL_TTL_S;
	cairn_caller who;
	uint64_t size = 0;
	char *text = NULL;
	size_t n = 0, len = 0;
	FILE *f;
	int rc;

	char region[CAIRN_NAME_MAX + 1], base[CAIRN_REGION_URL_MAX + 1] = "";
	uint8_t rkey[32];
	const uint8_t *key = g_url_key;
	bool stored_forms;

	/* ?region=NAME: the fetch URLs point at that region's cache node, signed for it */
	if (cairn__query_arg(c, "region", region, sizeof(region), NULL) && region[0] != '\0') {
		rc = w->meta->region_get(w->meta, region, base, rkey);
		if (rc == CAIRN_ENOTFOUND)
			return send_error(c, q, 400, "InvalidArgument", "no such region");
		if (rc != 0)
			return send_engine(c, q, rc);
		{
			size_t bl = strlen(base);
			while (bl > 0 && base[bl - 1] == '/')
				base[--bl] = '\0';
		}
		key = rkey;
	}
	/* ?schemes=cairn: the client decodes Cairn's own schemes (write_recon) */
	{
		char sc[16];
		stored_forms = cairn__query_arg(c, "schemes", sc, sizeof(sc), NULL) &&
			       strcmp(sc, "cairn") == 0;
	}
	caller_of(q, &who);
	rc = cairn_file_reconstruct_as(w->repo, &who, &q->file,
				       stored_forms ? CAIRN_RECON_STORED_FORMS : CAIRN_RECON_RAW_LAYOUT,
				       &size, &t, &n);
	if (rc != 0) {
		if (rc == CAIRN_ENOTFOUND)
			return send_error(c, q, 404, "NotFound", "no such file");
		return send_engine(c, q, rc);
	}
	/* a file of a great many terms answers in much text: it draws on the budget */
	if (n > 1024 && !budget_take(q, (uint64_t)n * RECON_TERM_COST)) {
		free(t);
		return send_slow_down(c, q);
	}
	f = open_memstream(&text, &len);
	if (f == NULL || write_recon(f, &q->file, size, t, n, exp, base, key, stored_forms) != 0) {
		if (f)
			fclose(f);
		free(text);
		free(t);
		return send_error(c, q, 500, "Internal", "out of memory");
	}
	fclose(f);
	free(t);
	/* handed over, not copied: a big reconstruction is held once */
	return send_mem(c, q, 200, "application/json", text, len, MHD_RESPMEM_MUST_FREE);
}

/* A stored xorb's serialized bytes (the client checks the chunks it decodes). */
static int fill_xorb(void *ctx, uint64_t at, size_t want, uint8_t *buf)
{
	req *q = ctx;
	worker *w;
	int rc = worker_get(&w);

	if (rc == 0 && q->xraw && q->raw == NULL)
		rc = cairn_xorb_raw_open(&q->raw, w->repo, &q->file);
	if (rc == 0)
		rc = q->xraw ? cairn_xorb_raw_read(q->raw, at, want, buf)
			     : cairn_xorb_read_bytes(w->repo, &q->xname, at, want, buf);
	if (rc != 0)
		fprintf(stderr, "cairn serve: xorb read at %" PRIu64 " failed: %s\n", at,
			cairn_error_last());
	return rc;
}

static ssize_t read_xorb_piece(void *cls, uint64_t pos, char *out, size_t max)
{
	req *q = cls;

	return cairn__pieces_serve(&q->pc, pos, out, max, fill_xorb, q, &q->bytes_out);
}

/* GET of a signed xorb URL: the signature is the permission. */
/*
 * A node's request about q->file (and form, if not NULL): region's MAC
 * over "what:HEX:EXP" (HEX: the file's, or "XORB.FORM") in ?exp=&sig=. 0,
 * or -1 with the refusal sent (*ret).
 */
static int node_signed(struct MHD_Connection *c, worker *w, req *q, const char *region,
		       const char *what, const cairn_hash *form, enum MHD_Result *ret)
{
	char e[32], sig[80], hex[CAIRN__FILL_SUBJECT_LEN + 1], url[CAIRN_REGION_URL_MAX + 1];
	uint8_t key[32];
	int rc;

	if (!cairn__query_arg(c, "exp", e, sizeof(e), NULL) ||
	    !cairn__query_arg(c, "sig", sig, sizeof(sig), NULL)) {
		*ret = send_error(c, q, 403, "Forbidden", "a node's request needs exp and sig");
		return -1;
	}
	rc = w->meta->region_get(w->meta, region, url, key);
	if (rc != 0) {
		*ret = rc == CAIRN_ENOTFOUND ? send_error(c, q, 403, "Forbidden", "no such region")
					     : send_engine(c, q, rc);
		return -1;
	}
	cairn__fill_subject(hex, &q->file, form);
	if (!cairn__region_check(key, what, hex, e, sig)) {
		*ret = send_error(c, q, 403, "Forbidden", "bad or expired signature");
		return -1;
	}
	return 0;
}

/*
 * A cache node's fill (cache.c): a whole xorb for region NAME, signed with
 * the region's secret over "fill:HASH:EXP": its current stored form,
 * whatever the generation (the node decodes any); with &form=NAME, that
 * stored form (over "fill:HASH.NAME:EXP"), current or replaced and not yet
 * collected. X-Cairn-Form names the form sent.
 */
static enum MHD_Result h_xorb_fill(struct MHD_Connection *c, worker *w, req *q,
				   const char *region)
{
	char hexf[CAIRN_HASH_HEX_LEN + 1];
	cairn_xorb_row x;
	cairn_hash form;
	struct MHD_Response *r;
	enum MHD_Result ret;
	uint64_t size = 0;
	int rc, fq = query_hash(c, "form", &form);

	if (fq < 0)
		return send_error(c, q, 400, "InvalidArgument", "form is not a hash");
	if (node_signed(c, w, q, region, "fill", fq ? &form : NULL, &ret) != 0)
		return ret;
	if (fq) {
		q->xname = form;
		rc = cairn_xorb_form_size(w->repo, &form, &size);
	} else {
		rc = w->meta->xorb_get(w->meta, &q->file, &x);
		if (rc == 0) {
			q->xname = x.name;
			size = x.stored;
		}
		if (rc == 0 && x.stored > 0) {
			/* recorded but gone from the store: say so now, not halfway through the body */
			uint8_t last;
			rc = cairn_xorb_read_bytes(w->repo, &q->xname, x.stored - 1, 1, &last);
		}
	}
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT)
		return send_error(c, q, 404, "NotFound", "no such xorb (or not whole) in the store");
	if (rc != 0)
		return send_engine(c, q, rc);
	if (size > CAIRN_XORB_MAX_BYTES)
		return send_error(c, q, 500, "Internal", "a stored form over 64 MiB");
	atomic_fetch_add(&m_region_fills, 1);
	atomic_fetch_add(&m_xorb_reads, 1);
	q->pc.first = 0;
	q->pc.len = size;
	q->pc.buf = malloc(CAIRN__PIECE);
	if (q->pc.buf == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	r = MHD_create_response_from_callback(q->pc.len, 64 * 1024, read_xorb_piece, q, NULL);
	if (r == NULL)
		return MHD_NO;
	cairn_hash_to_hex(hexf, &q->xname);
	MHD_add_response_header(r, "X-Cairn-Form", hexf);
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	q->status = 200;
	return ret;
}

/*
 * A node may ask for the reconstruction of any file, as it may fill any
 * xorb: who may read the file was checked when the origin signed the
 * redirect or answered the S3 request that sent the reader to the node.
 */
json_t *cairn__node_terms_json(cairn_repo *repo, const cairn_hash *file, int *rc)
{
	const cairn_caller admin = {.ns = NULL, .admin = true, .writer = false};
	cairn_recon_term *t = NULL;
	json_t *arr, *v = NULL;
	uint64_t size = 0;
	size_t n = 0;

	/* chunk ranges are all a node reads by */
	if ((*rc = cairn_file_reconstruct_as(repo, &admin, file, 0, &size, &t, &n)) != 0)
		return NULL;
	if ((arr = json_array()) != NULL) {
		for (size_t i = 0; i < n; i++) {
			char hex[CAIRN_HASH_HEX_LEN + 1];
			cairn_hash_to_hex(hex, &t[i].xorb);
			if (json_array_append_new(arr, json_pack("[s,I,I,I]", hex,
								 (json_int_t)t[i].first,
								 (json_int_t)t[i].end,
								 (json_int_t)t[i].raw_len)) != 0) {
				json_decref(arr);
				arr = NULL;
				break;
			}
		}
	}
	free(t);
	if (arr != NULL)
		v = json_pack("{s:I,s:o}", "size", (json_int_t)size, "terms", arr);
	if (v == NULL)
		*rc = CAIRN_ENOMEM;
	return v;
}

/* GET /v1/region-files/HASH?region=R&exp=E&sig=S (S: R's MAC over "recon:HASH:E"). */
static enum MHD_Result h_region_file(struct MHD_Connection *c, worker *w, req *q)
{
	char region[CAIRN_NAME_MAX + 1];
	enum MHD_Result ret;
	json_t *v;
	int rc;

	if (!cairn__query_arg(c, "region", region, sizeof(region), NULL))
		return send_error(c, q, 403, "Forbidden", "a node's request names its region");
	if (node_signed(c, w, q, region, "recon", NULL, &ret) != 0)
		return ret;
	if ((v = cairn__node_terms_json(w->repo, &q->file, &rc)) == NULL)
		return send_engine(c, q, rc);
	return send_json(c, q, 200, v);
}

/* The query of a signed xorb URL, and the part of it a Range header asks for. */
typedef struct signed_read {
	uint64_t start, end; /* the signed bytes [start, end] */
	int64_t exp;
	char sig[80];
	uint64_t first, len; /* what to send */
	bool partial;        /* a Range asked for part of it (206) */
	char cr[96];         /* its Content-Range */
} signed_read;

/* Parse a signed xorb URL's query and Range. 0, or the refusal sent (*ret) and -1. */
static int signed_read_parse(struct MHD_Connection *c, req *q, signed_read *sr,
			     enum MHD_Result *ret)
{
	char a[32], b[32], e[32];
	unsigned long long start, end;
	long long exp;
	uint64_t rs, rl;
	int rr;

	if (!cairn__query_arg(c, "start", a, sizeof(a), NULL) ||
	    !cairn__query_arg(c, "end", b, sizeof(b), NULL) ||
	    !cairn__query_arg(c, "exp", e, sizeof(e), NULL) ||
	    !cairn__query_arg(c, "sig", sr->sig, sizeof(sr->sig), NULL) ||
	    sscanf(a, "%llu", &start) != 1 || sscanf(b, "%llu", &end) != 1 ||
	    sscanf(e, "%lld", &exp) != 1 || strlen(sr->sig) != 64 || end < start ||
	    end - start >= XORB_BODY_MAX) {
		*ret = send_error(c, q, 403, "Forbidden",
				  "xorbs are read through the signed URLs of a reconstruction");
		return -1;
	}
	sr->start = start;
	sr->end = end;
	sr->exp = exp;
	sr->first = start;
	sr->len = end - start + 1;
	rr = cairn__parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), end + 1,
				&rs, &rl);
	if (rr < 0 || (rr > 0 && rs < start)) {
		*ret = send_error(c, q, 416, "InvalidRange", "the range is outside the signed one");
		return -1;
	}
	sr->partial = rr > 0;
	if (sr->partial) {
		sr->first = rs;
		sr->len = rl;
		snprintf(sr->cr, sizeof(sr->cr), "bytes %" PRIu64 "-%" PRIu64 "/*", rs, rs + rl - 1);
	}
	return 0;
}

/* Queue r (a response of sr's bytes, NULL: failed) for a signed read. */
static enum MHD_Result signed_read_send(struct MHD_Connection *c, req *q, const signed_read *sr,
					struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	if (sr->partial)
		MHD_add_response_header(r, "Content-Range", sr->cr);
	ret = MHD_queue_response(c, sr->partial ? 206 : 200, r);
	MHD_destroy_response(r);
	q->status = sr->partial ? 206 : 200;
	return ret;
}

static enum MHD_Result h_xorb_get(struct MHD_Connection *c, worker *w, req *q)
{
	char want[65], region[CAIRN_NAME_MAX + 1];
	signed_read sr;
	enum MHD_Result ret;
	int fq;

	if (cairn__query_arg(c, "region", region, sizeof(region), NULL))
		return h_xorb_fill(c, w, q, region);
	if (signed_read_parse(c, q, &sr, &ret) != 0)
		return ret;
	q->xname = q->file;
	{
		char layout[8];
		q->xraw = cairn__query_arg(c, "layout", layout, sizeof(layout), NULL) &&
			  strcmp(layout, "raw") == 0;
	}
	if (q->xraw) {
		cairn_hash id;
		raw_layout_id(&id, &q->file);
		url_sig(want, &id, sr.start, sr.end, sr.exp);
	} else if ((fq = query_hash(c, "form", &q->xname)) != 0) {
		/* a stored form, by name (one replaced since stays until gc's grace is over) */
		cairn_hash id;
		if (fq < 0)
			return send_error(c, q, 400, "InvalidArgument", "form is not a hash");
		cairn__form_url_id(&id, &q->file, &q->xname);
		url_sig(want, &id, sr.start, sr.end, sr.exp);
	} else {
		url_sig(want, &q->file, sr.start, sr.end, sr.exp);
	}
	if (!cairn__same_text(want, sr.sig, 64))
		return send_error(c, q, 403, "Forbidden", "bad signature");
	if (sr.exp < (int64_t)time(NULL))
		return send_error(c, q, 403, "Forbidden", "this URL has expired; ask for a new "
				  "reconstruction");
	atomic_fetch_add(&m_xorb_reads, 1);
	q->pc.first = sr.first;
	q->pc.len = sr.len;
	q->pc.buf = malloc(CAIRN__PIECE);
	if (q->pc.buf == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	return signed_read_send(
		c, q, &sr,
		MHD_create_response_from_callback(q->pc.len, 64 * 1024, read_xorb_piece, q, NULL));
}

/* ---- batches ---- */

#define BATCH_MAX ((size_t)64 << 20)

static json_t *result_json(const cairn_batch_op *o)
{
	char hexh[CAIRN_HASH_HEX_LEN + 1];
	const char *op = o->type == CAIRN_OP_ADD ? "add" : o->type == CAIRN_OP_COPY ? "copy" : "delete";

	if (o->type == CAIRN_OP_DELETE)
		return o->missing ? json_pack("{s:s,s:s%,s:b}", "op", op, "path", o->key, o->key_len,
					      "missing", 1)
				  : json_pack("{s:s,s:s%}", "op", op, "path", o->key, o->key_len);
	cairn_hash_to_hex(hexh, &o->file);
	return json_pack("{s:s,s:s%,s:s,s:I}", "op", op, "path", o->key, o->key_len, "hash", hexh,
			 "size", (json_int_t)o->size);
}

static enum MHD_Result h_batch(struct MHD_Connection *c, worker *w, req *q)
{
	cairn__batch b;
	size_t bad = 0;
	char msg[512];
	cairn_caller who;
	enum MHD_Result ret;
	json_t *results;
	int rc;

	rc = cairn__batch_read(&b, q->body, q->body_len, q->ns, q->name, msg, sizeof(msg));
	if (rc != 0) {
		ret = rc == CAIRN_ETOOBIG  ? send_error(c, q, 413, "TooLarge",
							"a batch has at most 10000 lines")
		      : rc == CAIRN_EINVALID ? send_error(c, q, 400, "InvalidArgument", msg)
					     : send_error(c, q, 500, "Internal", "out of memory");
		goto done;
	}
	caller_of(q, &who);
	rc = cairn_batch_apply(w->repo, &who, q->ns, q->name, b.ops, b.n, &bad);
	if (rc != 0) {
		if (bad < b.n) {
			/* line numbers count blank lines too */
			snprintf(msg, sizeof(msg), "line %zu: %s",
				 cairn__batch_line_of(q->body, q->body_len, bad), cairn_error_last());
			ret = send_code(c, q, rc, msg);
		} else {
			ret = send_engine(c, q, rc);
		}
		goto done;
	}
	results = json_array();
	for (size_t i = 0; i < b.n && results; i++)
		if (json_array_append_new(results, result_json(&b.ops[i])) != 0) {
			json_decref(results);
			results = NULL;
		}
	ret = results ? send_json(c, q, 200, json_pack("{s:o}", "results", results))
		      : send_error(c, q, 500, "Internal", "out of memory");
done:
	cairn__batch_free(&b);
	return ret;
}

/* ---- routing ------------------------------------------------------------------------ */

#define IS_WEB(h) ((h) >= CAIRN__H_WEB_HOME && (h) <= CAIRN__H_WEB_CSS)

/* What url names (route.c), and into q what it carries. */
static enum cairn__handler route(const char *url, req *q)
{
	cairn__target t;
	enum cairn__handler h = cairn__route(url, &t);

	memcpy(q->ns, t.ns, sizeof(q->ns));
	memcpy(q->name, t.name, sizeof(q->name));
	memcpy(q->key, t.key, sizeof(q->key));
	q->key_len = t.key_len;
	q->key_in_query = t.key_in_query;
	q->file = t.file;
	q->bad_path = t.bad_path;
	return h;
}

static enum MHD_Result not_allowed(struct MHD_Connection *c, req *q, const char *allow)
{
	q->allow = allow;
	return send_error(c, q, 405, "MethodNotAllowed", "method not allowed here");
}

/* A route that reads a JSON body: check its announced size, then collect it. */
static enum MHD_Result want_body(struct MHD_Connection *c, req *q, int hid)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

	if (cl != NULL && strtoull(cl, NULL, 10) > JSON_MAX)
		return send_error(c, q, 413, "TooLarge", "JSON body over 1 MiB");
	q->route = R_JSON_BODY;
	q->hid = hid;
	return MHD_YES;
}

#define ALLOW_GET "GET, HEAD"
#define FORM_MAX 8192 /* the pages' forms hold a token and a CSRF token */

/* A page's form body: small, collected like a JSON body. */
static enum MHD_Result want_form(struct MHD_Connection *c, req *q, int hid)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

	if (cl != NULL && strtoull(cl, NULL, 10) > FORM_MAX)
		return send_error(c, q, 413, "TooLarge", "form over 8 KiB");
	q->route = R_JSON_BODY;
	q->hid = hid;
	return MHD_YES;
}

/* What every page's response carries: no script may run, no other site may frame it. */
static void page_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'self'; img-src 'self'; "
				"form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
}

/* A page (web.c), built and sent. */
static enum MHD_Result h_web(struct MHD_Connection *c, worker *w, req *q, int h)
{
	static const enum cairn__web_kind kinds[] = {
		[CAIRN__H_WEB_HOME] = CAIRN__WEB_HOME,	    [CAIRN__H_WEB_TREE] = CAIRN__WEB_TREE,
		[CAIRN__H_WEB_BLOB] = CAIRN__WEB_BLOB,	    [CAIRN__H_WEB_LOGIN] = CAIRN__WEB_LOGIN,
		[CAIRN__H_WEB_LOGOUT] = CAIRN__WEB_LOGOUT, [CAIRN__H_WEB_CSS] = CAIRN__WEB_CSS,
	};
	cairn__web_req wr;
	cairn__web_page pg;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int rc;

	memset(&wr, 0, sizeof(wr));
	wr.conn = c;
	wr.url = q->raw_url;
	wr.repo = w->repo;
	wr.meta = w->meta;
	wr.post = strcmp(q->method, "POST") == 0;
	wr.authed = q->authed;
	wr.admin = q->admin;
	wr.user = q->user;
	wr.by_session = q->by_session;
	memcpy(wr.csrf, q->csrf, sizeof(wr.csrf));
	wr.ns = q->ns;
	wr.name = q->name;
	wr.key = q->key;
	wr.key_len = q->key_len;
	wr.body = q->body ? q->body : "";
	wr.body_len = q->body_len;
	rc = cairn__web_page_build(&wr, kinds[h], &pg);
	if (pg.body == NULL) /* not even an error page */
		return send_code(c, q, rc ? rc : CAIRN_ENOMEM, "out of memory");
	r = MHD_create_response_from_buffer(pg.len, pg.body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(pg.body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", pg.ctype);
	page_headers(r);
	MHD_add_response_header(r, "Cache-Control",
				h == CAIRN__H_WEB_CSS ? "public, max-age=3600" : "no-store");
	for (int i = 0; i < 2; i++)
		if (pg.cookies[i][0])
			MHD_add_response_header(r, "Set-Cookie", pg.cookies[i]);
	if (pg.location[0])
		MHD_add_response_header(r, "Location", pg.location);
	ret = MHD_queue_response(c, pg.status, r);
	MHD_destroy_response(r);
	q->status = pg.status;
	q->bytes_out = pg.len;
	return ret;
}

/* ---- regions and pre-warming (the origin's side; the node's is cache.c) ---------------- */

static int region_json(void *ctx, const char *name, const char *url, int64_t created_ns)
{
	json_t *e = json_pack("{s:s,s:s,s:I}", "name", name, "url", url, "created_ns",
			      (json_int_t)created_ns);

	return e == NULL || json_array_append_new(ctx, e) != 0 ? CAIRN_ENOMEM : 0;
}

/* GET /api/regions: names and URLs (never secrets), for clients choosing one. */
static enum MHD_Result h_regions(struct MHD_Connection *c, worker *w, req *q)
{
	json_t *arr = json_array();
	int rc;

	if (arr == NULL)
		return send_error(c, q, 500, "Internal", "out of memory");
	if ((rc = w->meta->region_list(w->meta, region_json, arr)) != 0) {
		json_decref(arr);
		return send_engine(c, q, rc);
	}
	return send_json(c, q, 200, json_pack("{s:o}", "regions", arr));
}

typedef struct prewarm_walk {
	cairn_hash *files;
	size_t n, cap;
	uint64_t logical;
	char last[CAIRN_KEY_MAX];
	size_t last_len;
} prewarm_walk;

static int prewarm_object(void *ctx, const cairn_object_row *row, const char *prefix, size_t len)
{
	prewarm_walk *pw = ctx;

	(void)prefix;
	(void)len;
	if (row == NULL)
		return 0;
	memcpy(pw->last, row->key, row->key_len);
	pw->last_len = row->key_len;
	pw->logical += row->size;
	if (pw->n == pw->cap) {
		size_t cap = pw->cap ? 2 * pw->cap : 256;
		cairn_hash *nf = realloc(pw->files, cap * sizeof(*nf));
		if (nf == NULL)
			return CAIRN_ENOMEM;
		pw->files = nf;
		pw->cap = cap;
	}
	/* the listing holds a read transaction: files are looked up after it */
	pw->files[pw->n++] = row->file;
	return 0;
}

/*
 * POST /api/buckets/NS/NAME/prewarm {"prefix": P, "region": R}: every xorb of
 * every file under P, sent to R's node as a job it stages and pins.
 */
static enum MHD_Result h_prewarm(struct MHD_Connection *c, worker *w, req *q)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	char url[CAIRN_REGION_URL_MAX + 1], job[33], bucket[2 * CAIRN_NAME_MAX + 2];
	const char *prefix, *region;
	uint8_t key[32];
	prewarm_walk *pw = NULL;
	cairn_caller who;
	json_t *v = NULL;
	char *body = NULL, *answer = NULL;
	bool truncated = true;
	long status = 0;
	enum MHD_Result ret;
	int rc;

	if (cairn__body_prewarm(q->body, q->body_len, &v, &prefix, &region) != 0)
		return send_error(c, q, 400, "InvalidArgument",
				  "want {\"prefix\": \"...\", \"region\": \"NAME\"}");
	rc = w->meta->region_get(w->meta, region, url, key);
	if (rc != 0) {
		json_decref(v);
		return rc == CAIRN_ENOTFOUND ? send_error(c, q, 404, "NotFound", "no such region")
					     : send_engine(c, q, rc);
	}
	if ((pw = calloc(1, sizeof(*pw))) == NULL) {
		json_decref(v);
		return send_error(c, q, 500, "Internal", "out of memory");
	}
	caller_of(q, &who);
	lo.prefix = prefix;
	lo.prefix_len = strlen(prefix);
	lo.limit = 1000;
	while (truncated) {
		rc = cairn_object_list(w->repo, q->ns, q->name, &lo, prewarm_object, pw, &truncated);
		if (rc != 0)
			break;
		lo.start_after = pw->last;
		lo.start_after_len = pw->last_len;
	}
	snprintf(bucket, sizeof(bucket), "%s/%s", q->ns, q->name);
	if (rc == 0)
		rc = cairn__region_job(w->repo, w->meta, &who, pw->files, pw->n, pw->logical, bucket,
				       prefix, true, job, &body);
	if (rc != 0) {
		ret = send_engine(c, q, rc);
		goto done;
	}
	if (cairn__region_post_job(url, key, body, &status, &answer) != 0) {
		ret = send_error(c, q, 502, "BadGateway", "the region's cache node cannot be reached");
		goto done;
	}
	if (status != 202 || answer == NULL) {
		char m[200];
		snprintf(m, sizeof(m), "the region's cache node answered %ld: %.120s", status,
			 answer ? answer : "");
		ret = send_error(c, q, 502, "BadGateway", m);
		goto done;
	}
	ret = send_mem(c, q, 202, "application/json", answer, strlen(answer),
		       MHD_RESPMEM_MUST_FREE);
	answer = NULL;
done:
	free(answer);
	free(body);
	json_decref(v);
	free(pw->files);
	free(pw);
	return ret;
}

/*
 * GET or DELETE /api/prewarm/JOB?region=NAME: a job's progress (for a
 * token that can read the job's bucket, which the node's copy of the job
 * names), or its release (one that can write to it). Both are signed by
 * the origin for the node.
 */
static enum MHD_Result h_prewarm_job(struct MHD_Connection *c, worker *w, req *q, bool release)
{
	char region[CAIRN_NAME_MAX + 1], url[CAIRN_REGION_URL_MAX + 200], exp[24], mac[65];
	const char *bucket = NULL, *slash;
	cairn_bucket_row b;
	enum MHD_Result ret;
	uint8_t key[32];
	char *answer = NULL;
	json_t *v = NULL;
	long status = 0;
	size_t ul;
	int rc;

	if (!cairn__query_arg(c, "region", region, sizeof(region), NULL))
		return send_error(c, q, 400, "InvalidArgument", "which region? (?region=NAME)");
	if (strspn(q->key, "0123456789abcdef") != 32)
		return send_error(c, q, 404, "NotFound", "no such job");
	rc = w->meta->region_get(w->meta, region, url, key);
	if (rc != 0)
		return rc == CAIRN_ENOTFOUND ? send_error(c, q, 404, "NotFound", "no such region")
					     : send_engine(c, q, rc);
	ul = strlen(url);
	while (ul > 0 && url[ul - 1] == '/')
		url[--ul] = '\0';
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 300);
	cairn__region_sign(mac, key, "status", q->key, exp);
	snprintf(url + ul, sizeof(url) - ul, "/v1/prewarm/%.32s?exp=%s&sig=%s", q->key, exp, mac);
	if (cairn__node_request(url, "GET", NULL, 0, "", "", &status, &answer) != 0)
		return send_error(c, q, 502, "BadGateway", "the region's cache node cannot be reached");
	if (status == 404) {
		free(answer);
		return send_error(c, q, 404, "NotFound", "no such job in that region");
	}
	v = status == 200 && answer ? json_loads(answer, 0, NULL) : NULL;
	if (v == NULL || json_unpack(v, "{s:s}", "bucket", &bucket) != 0 ||
	    (slash = strchr(bucket, '/')) == NULL || (size_t)(slash - bucket) > CAIRN_NAME_MAX ||
	    strlen(slash + 1) > CAIRN_NAME_MAX) {
		char m[200];
		snprintf(m, sizeof(m), "the region's cache node answered %ld: %.120s", status,
			 answer ? answer : "");
		json_decref(v);
		free(answer);
		return send_error(c, q, 502, "BadGateway", m);
	}
	memcpy(q->ns, bucket, (size_t)(slash - bucket));
	q->ns[slash - bucket] = '\0';
	snprintf(q->name, sizeof(q->name), "%s", slash + 1);
	json_decref(v);
	if ((release ? writable_bucket(c, w, q, &b, &ret) : find_bucket(c, w, q, &b, &ret)) != 0) {
		free(answer);
		return ret;
	}
	if (!release)
		return send_mem(c, q, 200, "application/json", answer, strlen(answer),
				MHD_RESPMEM_MUST_FREE);
	free(answer);
	answer = NULL;
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 300);
	cairn__region_sign(mac, key, "release", q->key, exp);
	snprintf(url + ul, sizeof(url) - ul, "/v1/prewarm/%.32s?exp=%s&sig=%s", q->key, exp, mac);
	if (cairn__node_request(url, "DELETE", NULL, 0, exp, mac, &status, &answer) != 0)
		return send_error(c, q, 502, "BadGateway", "the region's cache node cannot be reached");
	if (answer == NULL)
		return send_error(c, q, 502, "BadGateway", "no answer from the node");
	return send_mem(c, q, (unsigned)status, "application/json", answer, strlen(answer),
			MHD_RESPMEM_MUST_FREE);
}

/* ---- a cache node's requests ------------------------------------------------------------- */

static enum MHD_Result node_answer(struct MHD_Connection *c, req *q, unsigned status, char *json,
				   const char *msg)
{
	if (status >= 200 && status < 300 && json)
		return send_mem(c, q, status, "application/json", json, strlen(json),
				MHD_RESPMEM_MUST_FREE);
	free(json);
	return send_error(c, q, status, status == 404 ? "NotFound" : status == 403 ? "Forbidden"
				       : status == 416 ? "InvalidRange" : status == 502 ? "BadGateway"
				       : status == 400 ? "InvalidArgument" : "Error",
			  msg);
}

/* A signed xorb range from the cache (cache.c checks the signature, fills and verifies). */
static enum MHD_Result h_node_xorb(struct MHD_Connection *c, req *q)
{
	const char *msg = NULL;
	struct MHD_Response *r;
	signed_read sr;
	enum MHD_Result ret;
	unsigned st;
	int fd = -1;

	cairn_hash form;
	int fq = query_hash(c, "form", &form);

	if (fq < 0)
		return send_error(c, q, 400, "InvalidArgument", "form is not a hash");
	if (signed_read_parse(c, q, &sr, &ret) != 0)
		return ret;
	st = cairn__cache_xorb(&q->file, fq ? &form : NULL, sr.start, sr.end, sr.exp, sr.sig, &fd,
			       &msg);
	if (st != 200)
		return node_answer(c, q, st, NULL, msg);
	r = MHD_create_response_from_fd_at_offset64(sr.len, fd, sr.first);
	if (r == NULL)
		close(fd);
	q->bytes_out = sr.len; /* MHD sends the file itself */
	return signed_read_send(c, q, &sr, r);
}

/* GET /v1/files/HASH?exp=&sig=: a whole file from the cache (a resolve the origin redirected). */
static enum MHD_Result h_node_file(struct MHD_Connection *c, req *q)
{
	char hex[CAIRN_HASH_HEX_LEN + 1], e[32] = "", sig[80] = "";
	const char *msg = NULL;
	unsigned st;

	cairn_hash_to_hex(hex, &q->file);
	cairn__query_arg(c, "exp", e, sizeof(e), NULL);
	cairn__query_arg(c, "sig", sig, sizeof(sig), NULL);
	st = cairn__cache_file_open(hex, e, sig, &q->nf, &msg);
	if (st != 200)
		return node_answer(c, q, st, NULL, msg);
	return send_file(c, q, cairn__cache_file_size(q->nf), &q->file, cairn__cache_file_read,
			 q->nf);
}

/* What a cache node answers: signed xorb reads and pre-warm jobs; nothing else is here. */
static enum MHD_Result node_call(struct MHD_Connection *c, req *q, int h, const char *m)
{
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	char *json = NULL;
	const char *msg = NULL;
	unsigned st;

	switch (h) {
	case CAIRN__H_XORB:
		return get ? h_node_xorb(c, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_NODE_FILE:
		return get ? h_node_file(c, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_NODE_JOBS:
		if (strcmp(m, "POST") != 0)
			return not_allowed(c, q, "POST");
		return want_big_body(c, q, CAIRN__H_NODE_JOBS, (size_t)64 << 20, "a job", 1);
	case CAIRN__H_NODE_JOB:
		if (get) {
			/* a job names its bucket and prefix: only the origin asks, signed */
			char e[32] = "", sig[80] = "";
			cairn__query_arg(c, "exp", e, sizeof(e), NULL);
			cairn__query_arg(c, "sig", sig, sizeof(sig), NULL);
			st = cairn__cache_job_status(q->key, e, sig, &json, &msg);
		} else if (strcmp(m, "DELETE") == 0) {
			char e[32] = "", sig[80] = "";
			cairn__query_arg(c, "exp", e, sizeof(e), NULL);
			cairn__query_arg(c, "sig", sig, sizeof(sig), NULL);
			st = cairn__cache_job_release(q->key, e, sig, &json, &msg);
		} else {
			return not_allowed(c, q, "GET, HEAD, DELETE");
		}
		return node_answer(c, q, st, json, msg);
	default:
		return send_error(c, q, 404, "NotFound",
				  "this is a region's cache node: it serves the signed xorb reads "
				  "its origin hands out, and pre-warm jobs; ask the origin for the rest");
	}
}

/*
 * Route a request and run it, or (body routes) check it and start reading
 * its body. early: this is the first call of a request that announced a
 * body; only routes that read a body (and requests refused outright) are
 * handled then, so their checks come before any of the body is read.
 * Anything else is left for the final call (q->begun stays false): a
 * response queued in the first call is an "early" one, which closes the
 * connection.
 */
static enum MHD_Result first_call(struct MHD_Connection *c, req *q, const char *url,
				  const char *m, bool early)
{
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	enum cairn__handler h;
	const char *msg;
	worker *w;
	int rc;

	if (strlen(url) > URL_MAX) {
		q->begun = true;
		return send_error(c, q, 414, "URITooLong",
				  "the path is over 4096 bytes (as sent, before decoding)");
	}
	h = route(url, q);
	if (early && h != CAIRN__H_NOTFOUND && h != CAIRN__H_BADPATH &&
	    !(h == CAIRN__H_UPLOAD && strcmp(m, "PUT") == 0) &&
	    !(h == CAIRN__H_BUCKET && strcmp(m, "POST") == 0) &&
	    !(h == CAIRN__H_SETTINGS && strcmp(m, "PUT") == 0) &&
	    !((h == CAIRN__H_CHUNKS || h == CAIRN__H_XORB || h == CAIRN__H_BATCH || h == CAIRN__H_WEB_LOGIN ||
	       h == CAIRN__H_WEB_LOGOUT || h == CAIRN__H_PREWARM || h == CAIRN__H_NODE_JOBS) &&
	      strcmp(m, "POST") == 0))
		return MHD_YES; /* its body is dropped; it runs in the final call */
	q->begun = true;
	if (h == CAIRN__H_NOTFOUND)
		return send_error(c, q, 404, "NotFound", "no such endpoint");
	if (h == CAIRN__H_BADPATH)
		return send_error(c, q, 400, "InvalidArgument",
				  q->bad_path ? q->bad_path : "bad path: not a 64-hex-digit hash");
	if (h == CAIRN__H_HEALTH)
		return get ? send_buf(c, q, 200, "text/plain", "ok\n", 3)
			   : not_allowed(c, q, ALLOW_GET);
	if (h == CAIRN__H_METRICS)
		return get ? h_metrics(c, q) : not_allowed(c, q, ALLOW_GET);
	if (cairn__cache_on())
		return node_call(c, q, h, m);
	if ((rc = worker_get(&w)) != 0)
		return send_engine(c, q, rc);
	/*
	 * The session cookie counts only where a browser needs it: pages,
	 * downloads and logout. SameSite=Strict keeps other sites' pages from
	 * sending it; the API never takes it, so no state changes on it but
	 * logout's (which checks a CSRF token too).
	 */
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization") != NULL) {
		int wait = cairn__auth_blocked(c);
		if (wait > 0) {
			char m2[120];
			snprintf(m2, sizeof(m2), "too many failed authentications from this address; "
						 "try again in %d s", wait);
			return send_error(c, q, 429, "TooManyRequests", m2);
		}
	}
	if ((rc = authenticate(c, w, q,
			       (IS_WEB(h) || h == CAIRN__H_RESOLVE) &&
				       (get || (h == CAIRN__H_WEB_LOGOUT && strcmp(m, "POST") == 0)),
			       &msg)) != 0) {
		if (rc == CAIRN_EAUTH)
			cairn__auth_failed(c);
		return msg ? send_code(c, q, rc, msg) : send_engine(c, q, rc);
	}
	if (q->can_write_scope)
		cairn__write_begins(c, q->method); /* the recompression pass yields to it */
	if (q->key_in_query) {
		size_t n;
		if (!cairn__query_arg(c, "path", q->key, CAIRN_KEY_MAX + 1, &n))
			return send_error(c, q, 400, "InvalidArgument",
					  "bad or missing path argument");
		if (h == CAIRN__H_WEB_TREE && n > 0 && q->key[n - 1] == '/')
			n--;
		q->key_len = n;
		q->key[n] = '\0';
		if (h != CAIRN__H_WEB_TREE && n == 0)
			return send_error(c, q, 400, "InvalidArgument", "empty path argument");
	}

	switch (h) {
	case CAIRN__H_WHOAMI:
		if (!get)
			return not_allowed(c, q, ALLOW_GET);
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "no token given");
		return send_json(c, q, 200,
				 json_pack("{s:s,s:s}", "user", q->user, "scope", q->scope));
	case CAIRN__H_BUCKETS:
		return get ? h_bucket_list(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_BUCKET:
		if (get)
			return h_bucket_info(c, w, q);
		if (strcmp(m, "DELETE") == 0)
			return h_bucket_delete(c, w, q);
		if (strcmp(m, "POST") == 0) {
			/* no body is collected for anonymous callers */
			if (!q->authed)
				return send_error(c, q, 401, "Unauthorized", "this needs a token");
			return want_body(c, q, CAIRN__H_BUCKET);
		}
		return not_allowed(c, q, "GET, HEAD, POST, DELETE");
	case CAIRN__H_SETTINGS:
		if (strcmp(m, "PUT") != 0)
			return not_allowed(c, q, "PUT");
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "this needs a token");
		return want_body(c, q, CAIRN__H_SETTINGS);
	case CAIRN__H_TREE:
		return get ? h_tree(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_UPLOAD: {
		bool started;
		enum MHD_Result ret;
		if (strcmp(m, "PUT") != 0)
			return not_allowed(c, q, "PUT");
		ret = upload_begin(c, w, q, &started);
		if (started)
			q->route = R_UPLOAD;
		return ret;
	}
	case CAIRN__H_RESOLVE:
		if (get)
			return h_resolve_get(c, w, q);
		if (strcmp(m, "DELETE") == 0)
			return h_resolve_delete(c, w, q);
		return not_allowed(c, q, "GET, HEAD, DELETE");
	case CAIRN__H_CHUNKS:
		if (strcmp(m, "POST") != 0)
			return not_allowed(c, q, "POST");
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "the dedup query needs a token");
		return want_body(c, q, CAIRN__H_CHUNKS);
	case CAIRN__H_CHUNK:
		return get ? h_chunk_get(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_XORB:
		if (get)
			return h_xorb_get(c, w, q);
		if (strcmp(m, "POST") != 0)
			return not_allowed(c, q, "GET, HEAD, POST");
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "uploading xorbs needs a token");
		if (!q->can_write_scope)
			return send_error(c, q, 403, "Forbidden", "this token is read-only");
		return want_big_body(c, q, CAIRN__H_XORB, XORB_BODY_MAX, "a xorb", 1);
	case CAIRN__H_RECON:
		return get ? h_reconstruction(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_REGION_FILE:
		return get ? h_region_file(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_BATCH: {
		cairn_bucket_row b;
		enum MHD_Result ret;
		if (strcmp(m, "POST") != 0)
			return not_allowed(c, q, "POST");
		if (writable_bucket(c, w, q, &b, &ret) != 0)
			return ret;
		return want_big_body(c, q, CAIRN__H_BATCH, BATCH_MAX, "a batch", 3);
	}
	case CAIRN__H_WEB_LOGIN:
		if (strcmp(m, "POST") == 0)
			return want_form(c, q, CAIRN__H_WEB_LOGIN);
		return get ? h_web(c, w, q, h) : not_allowed(c, q, "GET, HEAD, POST");
	case CAIRN__H_WEB_LOGOUT:
		/* no GET: following a link must not log anyone out */
		return strcmp(m, "POST") == 0 ? want_form(c, q, CAIRN__H_WEB_LOGOUT)
					      : not_allowed(c, q, "POST");
	case CAIRN__H_WEB_HOME:
	case CAIRN__H_WEB_TREE:
	case CAIRN__H_WEB_BLOB:
	case CAIRN__H_WEB_CSS:
		return get ? h_web(c, w, q, h) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_REGIONS:
		return get ? h_regions(c, w, q) : not_allowed(c, q, ALLOW_GET);
	case CAIRN__H_PREWARM: {
		cairn_bucket_row b;
		enum MHD_Result ret;
		if (strcmp(m, "POST") != 0)
			return not_allowed(c, q, "POST");
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "pre-warming needs a token");
		if (find_bucket(c, w, q, &b, &ret) != 0)
			return ret;
		return want_body(c, q, CAIRN__H_PREWARM);
	}
	case CAIRN__H_PREWARM_JOB:
		if (!get && strcmp(m, "DELETE") != 0)
			return not_allowed(c, q, "GET, HEAD, DELETE");
		if (!q->authed)
			return send_error(c, q, 401, "Unauthorized", "pre-warm jobs need a token");
		return h_prewarm_job(c, w, q, !get);
	default:
		return send_error(c, q, 404, "NotFound", "no such endpoint");
	}
}

static enum MHD_Result last_call(struct MHD_Connection *c, req *q)
{
	worker *w;
	int rc;

	/* the thread served other connections since this one's first call */
	cairn_error_clear();
	if (q->route == R_UPLOAD)
		return upload_end(c, q);
	if (q->too_big)
		return send_error(c, q, 413, "TooLarge",
				  q->big_body ? "body longer than announced"
				  : q->hid == CAIRN__H_WEB_LOGIN || q->hid == CAIRN__H_WEB_LOGOUT ? "form over 8 KiB"
										   : "JSON body over 1 MiB");
	if (q->big_body && q->body_len != q->body_cap)
		return send_error(c, q, 400, "InvalidArgument", "body shorter than announced");
	if ((rc = worker_get(&w)) != 0)
		return send_engine(c, q, rc);
	switch (q->hid) {
	case CAIRN__H_BUCKET:
		return h_bucket_create(c, w, q);
	case CAIRN__H_CHUNKS:
		return h_chunk_query(c, w, q);
	case CAIRN__H_XORB:
		return h_xorb_put(c, w, q);
	case CAIRN__H_BATCH:
		return h_batch(c, w, q);
	case CAIRN__H_WEB_LOGIN:
	case CAIRN__H_WEB_LOGOUT:
		return h_web(c, w, q, q->hid);
	case CAIRN__H_PREWARM:
		return h_prewarm(c, w, q);
	case CAIRN__H_NODE_JOBS: {
		char *json = NULL;
		const char *msg = NULL;
		unsigned st = cairn__cache_job_post(
			q->body ? q->body : "", q->body_len,
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cairn-Exp"),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cairn-Sig"), &json, &msg);
		return node_answer(c, q, st, json, msg);
	}
	default:
		return h_bucket_settings(c, w, q);
	}
}

/* Does the request announce a body (Content-Length > 0, or chunked)? */
static bool has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");

	return te != NULL || (cl != NULL && strtoull(cl, NULL, 10) > 0);
}

/*
 * MHD calls this once with the headers, then once per piece of the body,
 * then once more with *size 0. A response queued in the first call is an
 * "early" one, answered with Connection: close; so a request is only
 * routed in the first call when it announced a body that a route may
 * refuse before reading it (see first_call), otherwise in the final call.
 */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	req *q = *con_cls;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &q->t0);
		/* no message from an earlier request (maybe another user's) may leak */
		cairn_error_clear();
		snprintf(q->method, sizeof(q->method), "%s", method);
		snprintf(q->url, sizeof(q->url), "%s", url);
		q->raw_url = url;
		*con_cls = q;
		{
			char why[128];
			if (!cairn__target_ok(c, why, sizeof(why))) {
				q->begun = true;
				return send_error(c, q, 414, "URITooLong", why);
			}
			if (!cairn__headers_ok(c, why, sizeof(why))) {
				q->begun = true;
				return send_error(c, q, 431, "HeadersTooLarge", why);
			}
		}
		if (!has_body(c))
			return MHD_YES; /* routed in the next call, the final one */
		return first_call(c, q, url, method, true);
	}
	if (*size > 0) {
		q->bytes_in += *size;
		if (q->route == R_UPLOAD) {
			/*
			 * After a failure the rest is drained and the error sent at
			 * the end: MHD 0.9.75 refuses MHD_queue_response during data
			 * calls, and closing would leave the client without an answer.
			 */
			upload_data(q, data, *size);
		} else if (q->route == R_JSON_BODY && q->big_body && !q->too_big) {
			if (*size > q->body_cap - q->body_len) {
				q->too_big = true;
			} else {
				memcpy(q->body + q->body_len, data, *size);
				q->body_len += *size;
			}
		} else if (q->route == R_JSON_BODY && !q->too_big) {
			size_t cap = q->hid == CAIRN__H_WEB_LOGIN || q->hid == CAIRN__H_WEB_LOGOUT ? FORM_MAX
										    : JSON_MAX;
			if (*size > cap - q->body_len) {
				q->too_big = true;
			} else {
				char *nb = realloc(q->body, q->body_len + *size);
				if (nb == NULL)
					return MHD_NO;
				q->body = nb;
				memcpy(q->body + q->body_len, data, *size);
				q->body_len += *size;
			}
		}
		*size = 0;
		return MHD_YES;
	}
	if (!q->begun) {
		/* the final call of a request not routed yet (no body, or a dropped one) */
		cairn_error_clear();
		ret = first_call(c, q, url, method, false);
		if (ret != MHD_YES || q->route == R_NONE)
			return ret;
		/* a body route with an empty body: its body is complete */
	} else if (q->route == R_NONE) {
		return MHD_YES; /* a response is queued already */
	}
	return last_call(c, q);
}

/* ---- the server ------------------------------------------------------------------------- */

int cairn__server_run(const cairn_server_config *cfg)
{
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d, *s3 = NULL;
	unsigned port = 0;
	sigset_t set;
	int sig;

	g_data_dir = cfg->data_dir;
	g_budget = (uint64_t)cfg->upload_memory_mib << 20;
	if (load_url_key(cfg->data_dir) != 0 || (!cfg->region && share_url_key() != 0)) {
		fprintf(stderr, "cairn serve: cannot read or make %s/url-key: %s\n", cfg->data_dir,
			strerror(errno));
		return CAIRN_EIO;
	}
	if (cfg->region) {
		cairn__cache_config cc = {cfg->region, cfg->origin, cfg->data_dir, cfg->region_key,
					  cfg->cache_size};
		if (cairn__cache_start(&cc) != 0)
			return CAIRN_EIO;
		fprintf(stderr, "cairn serve: cache node of region %s for %s, %" PRIu64
				" bytes of cache\n",
			cfg->region, cfg->origin, cfg->cache_size);
	}
	d = cairn__daemon_start("HTTP", cfg->host, cfg->port, cfg->threads, handler, completed,
				cfg->port_file, &port);
	if (d == NULL) {
		cairn__cache_stop();
		cairn__conns_stop();
		return CAIRN_EIO;
	}
	fprintf(stderr, "cairn serve: listening on %s:%u (%u threads), data in %s\n", cfg->host,
		port, cfg->threads, cfg->data_dir);
	if (cfg->s3_host &&
	    (s3 = cfg->region ? cairn__node_s3_start(cfg) : cairn__s3_start(cfg)) == NULL) {
		MHD_stop_daemon(d);
		cairn__conns_stop();
		workers_close();
		return CAIRN_EIO;
	}
	if (s3 && (info = MHD_get_daemon_info(s3, MHD_DAEMON_INFO_BIND_PORT)) != NULL)
		cairn__web_set_s3_port(info->port);
	if (!cfg->region) {
		cairn__warm_start(); /* a failure is said, and only costs keep-warm */
		cairn__recompress_start(cfg->recompress_every_s, cfg->recompress_age_s,
					cfg->recompress_level);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "cairn serve: %s: finishing requests in flight\n",
		sig == SIGTERM ? "SIGTERM" : "SIGINT");
	{
		MHD_socket ls = MHD_quiesce_daemon(d);

		if (s3) {
			MHD_socket ls3 = MHD_quiesce_daemon(s3);
			if (ls3 != MHD_INVALID_SOCKET)
				close(ls3);
		}
		struct timespec pause = {0, 20 * 1000 * 1000};

		if (ls != MHD_INVALID_SOCKET)
			close(ls);
		for (int i = 0; i < 30 * 50; i++) {
			info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (info == NULL || info->num_connections == 0)
				break;
			nanosleep(&pause, NULL);
		}
	}
	if (s3)
		MHD_stop_daemon(s3);
	MHD_stop_daemon(d);
	cairn__recompress_stop();
	cairn__conns_stop();
	cairn__warm_stop();
	cairn__cache_stop();
	workers_close();
	fprintf(stderr, "cairn serve: stopped\n");
	return 0;
}
