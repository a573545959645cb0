/*
 * node_s3.c - a cache node's S3 front (`cairn serve --region NAME
 * --origin URL --origin-s3 URL --s3-listen HOST:PORT`): S3 reads in the
 * region, for aws-cli, boto3, rclone and s3cmd pointed at the node.
 *
 * Every GET and HEAD goes on to the origin's S3 front as it came: path,
 * query and headers, Host and the signature included, so the origin
 * checks the signature and who may read what exactly as for a request
 * sent to it. The node adds its region and the region's MAC; for a GET
 * of an object the origin then answers with the object's headers and,
 * as the body, its reconstruction and the range asked for, and the node
 * serves those bytes from its cache (cache.c: misses fetched, every chunk
 * checked). Other answers (listings, errors, 304s, HEADs) are passed back
 * as they are. Writes are refused: they go to the origin.
 */
#include "cache.h"
#include "server_int.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ANSWER_MAX ((size_t)64 << 20) /* a listing or a reconstruction; never object bytes */

static char g_origin_s3[512];

#define TARGET_MAX CAIRN__TARGET_MAX /* a request target (path and query) the node forwards */

typedef struct nreq {
	struct timespec t0;
	bool begun;          /* the handler has seen it */
	char *target;        /* the request target exactly as it came; NULL if too long */
	bool target_long;    /* it was over TARGET_MAX */
	char method[16];
	char url[512]; /* for the log line */
	unsigned status;
	bool responded;
	uint64_t bytes_out;
	cairn__node_file *nf;
	cairn__pieces pc;
} nreq;

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	nreq *q = *con_cls;

	(void)cls;
	(void)c;
	if (q == NULL)
		return;
	if (q->status == 0)
		q->status = 500;
	cairn__request_done("s3", q->method, q->url, q->status, 0, q->bytes_out, &q->t0,
			    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	cairn__cache_file_close(q->nf);
	free(q->pc.buf);
	free(q->target);
	free(q);
	*con_cls = NULL;
}

/* Every request starts here, with its target before MHD parses it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	nreq *q = calloc(1, sizeof(*q));

	(void)cls;
	(void)c;
	if (q == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &q->t0);
	if (strlen(uri) <= TARGET_MAX)
		q->target = strdup(uri);
	else
		q->target_long = true;
	return q;
}

static enum MHD_Result queue(struct MHD_Connection *c, nreq *q, unsigned status,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	q->status = status;
	q->responded = true;
	return ret;
}

/* An S3 error document (no body for a HEAD). */
static enum MHD_Result send_err(struct MHD_Connection *c, nreq *q, unsigned status,
				const char *code, const char *msg)
{
	bool head = strcmp(q->method, "HEAD") == 0;
	char body[1024];
	int n = snprintf(body, sizeof(body),
			 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
			 "<Message>%s</Message></Error>",
			 code, msg);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		head ? 0 : (size_t)n, head ? (void *)"" : body, MHD_RESPMEM_MUST_COPY);

	if (r != NULL && !head)
		MHD_add_response_header(r, "Content-Type", "application/xml");
	q->bytes_out = head ? 0 : (uint64_t)n;
	return queue(c, q, status, r);
}

/* ---- the request to the origin ---------------------------------------------------------------- */

typedef struct answer {
	char *body;
	size_t len, cap;
	bool too_big;
	struct curl_slist *headers; /* "Name: value" lines, as they came */
} answer;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	answer *a = ctx;
	size_t add = size * n;

	if (add > ANSWER_MAX - a->len) {
		a->too_big = true;
		return 0;
	}
	if (a->len + add > a->cap) {
		size_t cap = a->cap ? a->cap : 16384;
		char *nb;
		while (cap < a->len + add)
			cap *= 2;
		if ((nb = realloc(a->body, cap)) == NULL)
			return 0;
		a->body = nb;
		a->cap = cap;
	}
	memcpy(a->body + a->len, p, add);
	a->len += add;
	return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	answer *a = ctx;
	size_t len = size * n;
	char line[8192];

	if (strncmp(p, "HTTP/", 5) == 0) { /* a new answer (after a 100): start again */
		curl_slist_free_all(a->headers);
		a->headers = NULL;
		return len;
	}
	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len == 0 || len >= sizeof(line) || memchr(p, ':', len) == NULL)
		return size * n;
	memcpy(line, p, len);
	line[len] = '\0';
	a->headers = curl_slist_append(a->headers, line);
	return size * n;
}

typedef struct build {
	struct curl_slist *h;
	bool bad; /* a header value with CR, LF or NUL in it */
	const char *credential; /* Authorization, for the region MAC */
} build;

static bool hop_by_hop(const char *name)
{
	static const char *const skip[] = {"Connection", "Keep-Alive", "Content-Length",
					   "Transfer-Encoding", "Expect", "TE", "Upgrade",
					   "Proxy-Authorization", "Proxy-Connection", "Trailer"};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcasecmp(name, skip[i]) == 0)
			return true;
	return strncasecmp(name, "X-Cairn-", 8) == 0; /* only the node's own go on */
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	build *b = cls;
	char line[CAIRN__HEADER_BYTES_MAX + 4]; /* any header the front takes (cairn__headers_ok) */

	(void)kind;
	if (hop_by_hop(key))
		return MHD_YES;
	if (value != NULL && strpbrk(value, "\r\n") != NULL) {
		b->bad = true; /* never passed on: it could split into two headers */
		return MHD_NO;
	}
	if (strcasecmp(key, "Authorization") == 0)
		b->credential = value;
	/* "Name;" sends an empty value with libcurl ("Name:" would remove the header) */
	if (value == NULL || *value == '\0')
		snprintf(line, sizeof(line), "%s;", key);
	else
		snprintf(line, sizeof(line), "%s: %s", key, value);
	b->h = curl_slist_append(b->h, line);
	return MHD_YES;
}

/* ---- the answer to the reader ------------------------------------------------------------------ */

static ssize_t read_piece(void *cls, uint64_t pos, char *out, size_t max)
{
	nreq *q = cls;

	return cairn__pieces_serve(&q->pc, pos, out, max, cairn__cache_file_read, q->nf,
				   &q->bytes_out);
}

static ssize_t no_body(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)cls;
	(void)pos;
	(void)out;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR; /* a HEAD: never asked */
}

static const char *header_of(const answer *a, const char *name)
{
	size_t n = strlen(name);

	for (const struct curl_slist *h = a->headers; h; h = h->next)
		if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':')
			return h->data + n + 1 + strspn(h->data + n + 1, " \t");
	return NULL;
}

/* The response to the reader: a file from the cache, a HEAD's headers, or the body as it came. */
static struct MHD_Response *respond(nreq *q, answer *a, long status, const char **why)
{
	struct MHD_Response *r = NULL;

	*why = "out of memory";
	if (header_of(a, "X-Cairn-Region-File") != NULL && status / 100 == 2 &&
	    strcmp(q->method, "GET") == 0) {
		json_t *v = json_loadb(a->body ? a->body : "", a->len, 0, NULL);
		json_int_t first = json_integer_value(json_object_get(v, "first"));
		json_int_t len = json_integer_value(json_object_get(v, "len"));

		if (v == NULL || !json_is_integer(json_object_get(v, "first")) ||
		    !json_is_integer(json_object_get(v, "len")) ||
		    cairn__cache_file_from_json(v, &q->nf, why) != 200 || first < 0 || len < 0 ||
		    (uint64_t)first + (uint64_t)len > cairn__cache_file_size(q->nf)) {
			if (q->nf != NULL)
				*why = "the origin sent a malformed range";
			json_decref(v);
			return NULL;
		}
		json_decref(v);
		q->pc.first = (uint64_t)first;
		q->pc.len = (uint64_t)len;
		if ((q->pc.buf = malloc(CAIRN__PIECE)) == NULL)
			return NULL;
		r = MHD_create_response_from_callback(q->pc.len, 64 * 1024, read_piece, q, NULL);
	} else if (strcmp(q->method, "HEAD") == 0) {
		const char *cl = header_of(a, "Content-Length");
		unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
		r = MHD_create_response_from_callback(n, 4096, no_body, NULL, NULL);
	} else {
		r = MHD_create_response_from_buffer(a->len, a->body ? a->body : (void *)"",
						    MHD_RESPMEM_MUST_COPY);
		q->bytes_out = a->len;
	}
	if (r == NULL)
		return NULL;
	for (const struct curl_slist *h = a->headers; h; h = h->next) {
		char name[256];
		const char *colon = strchr(h->data, ':');
		size_t n = (size_t)(colon - h->data);

		if (n == 0 || n >= sizeof(name))
			continue;
		memcpy(name, h->data, n);
		name[n] = '\0';
		if (hop_by_hop(name) || strcasecmp(name, "Date") == 0)
			continue;
		MHD_add_response_header(r, name, colon + 1 + strspn(colon + 1, " \t"));
	}
	return r;
}

/*
 * The subject of the node's MAC on a forwarded request: the method, the
 * reader's address and the reader's own credential (the Authorization
 * header, or a presigned URL's signature), so a MAC seen once cannot vouch
 * for another request, nor another reader.
 */
void cairn__node_s3_subject(char out[65], const char *method, const char *client,
			    const char *credential)
{
	char buf[4300];
	int n = snprintf(buf, sizeof(buf), "%s\n%.64s\n%.4096s", method, client ? client : "",
			 credential ? credential : "");

	cairn__body_digest(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A presigned URL's signature (X-Amz-Signature, or SigV2's Signature), or NULL. */
static const char *query_signature(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "X-Amz-Signature");

	return v ? v : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "Signature");
}

static enum MHD_Result forward(struct MHD_Connection *c, nreq *q)
{
	char exp[24], mac[65], subject[65], hr[160], he[64], hs[96], client[46], hc[80];
	build b = {NULL, false, NULL};
	answer a = {0};
	char *target = NULL;
	struct MHD_Response *r;
	const char *why;
	CURL *h;
	CURLcode cc;
	long status = 0;

	/* origin-form only: anything else would make the origin's URL point elsewhere */
	if (q->target_long)
		return send_err(c, q, 400, "InvalidURI",
				"The request target (path and query) is over 8192 bytes.");
	if (q->target == NULL)
		return send_err(c, q, 500, "InternalError", "out of memory");
	if (q->target[0] != '/')
		return send_err(c, q, 400, "InvalidURI", "Couldn't parse the specified URI.");
	if ((target = malloc(strlen(g_origin_s3) + strlen(q->target) + 1)) == NULL)
		return send_err(c, q, 500, "InternalError", "out of memory");
	sprintf(target, "%s%s", g_origin_s3, q->target);
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &b);
	if (b.bad) {
		free(target);
		curl_slist_free_all(b.h);
		return send_err(c, q, 400, "InvalidArgument", "a header value holds CR or LF");
	}
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 300);
	/* the origin counts failed authentications against the reader, not this node */
	cairn__addr_text(c, client);
	cairn__node_s3_subject(subject, q->method, client,
			       b.credential ? b.credential : query_signature(c));
	cairn__cache_sign(mac, "s3", subject, exp);
	snprintf(hr, sizeof(hr), "X-Cairn-Region: %s", cairn__cache_region());
	snprintf(he, sizeof(he), "X-Cairn-Region-Exp: %s", exp);
	snprintf(hs, sizeof(hs), "X-Cairn-Region-Sig: %s", mac);
	snprintf(hc, sizeof(hc), "X-Cairn-Client: %s", client);
	b.h = curl_slist_append(b.h, hr);
	b.h = curl_slist_append(b.h, he);
	b.h = curl_slist_append(b.h, hs);
	b.h = curl_slist_append(b.h, hc);
	if ((h = curl_easy_init()) == NULL) {
		free(target);
		curl_slist_free_all(b.h);
		return send_err(c, q, 500, "InternalError", "out of memory");
	}
	curl_easy_setopt(h, CURLOPT_URL, target);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* "..", "." and all: as the reader signed it */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, b.h);
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(b.h);
	free(target);
	if (cc != CURLE_OK) {
		fprintf(stderr, "s3: origin %s: %s\n", g_origin_s3,
			a.too_big ? "answer over 64 MiB" : curl_easy_strerror(cc));
		free(a.body);
		curl_slist_free_all(a.headers);
		if (a.too_big) /* not a network failure: a retry would fare the same */
			return send_err(c, q, 502, "InternalError",
					"the origin's answer (a listing or a reconstruction) is over "
					"64 MiB, more than this region's node takes");
		return send_err(c, q, 503, "ServiceUnavailable",
				"the origin cannot be reached from this region; try again");
	}
	r = respond(q, &a, status, &why);
	free(a.body);
	curl_slist_free_all(a.headers);
	if (r == NULL) {
		fprintf(stderr, "s3: %s %s: %s\n", q->method, q->url, why);
		return send_err(c, q, 502, "InternalError", why);
	}
	return queue(c, q, (unsigned)status, r);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	nreq *q = *con_cls;

	(void)cls;
	(void)version;
	(void)data;
	if (q == NULL)
		return MHD_NO; /* on_uri could not allocate */
	if (!q->begun) {
		q->begun = true;
		snprintf(q->method, sizeof(q->method), "%s", method);
		snprintf(q->url, sizeof(q->url), "%s", url);
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return send_err(c, q, 405, "MethodNotAllowed",
					"this is a region's read-only S3 endpoint: write to the "
					"origin");
		{
			char why[128];
			if (!cairn__target_ok(c, why, sizeof(why)))
				return send_err(c, q, 400, "InvalidURI", why);
			if (!cairn__headers_ok(c, why, sizeof(why)))
				return send_err(c, q, 400, "RequestHeaderSectionTooLarge", why);
		}
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0; /* a GET's body: nothing to do with it */
		return MHD_YES;
	}
	if (q->responded)
		return MHD_YES;
	return forward(c, q);
}

struct MHD_Daemon *cairn__node_s3_start(const cairn_server_config *cfg)
{
	unsigned port = 0;
	struct MHD_Daemon *d;
	size_t n;

	snprintf(g_origin_s3, sizeof(g_origin_s3), "%s", cfg->origin_s3);
	n = strlen(g_origin_s3);
	while (n > 0 && g_origin_s3[n - 1] == '/')
		g_origin_s3[--n] = '\0';
	d = cairn__daemon_start_raw("S3", cfg->s3_host, cfg->s3_port, cfg->threads, handler,
				    completed, on_uri, cfg->s3_port_file, &port);
	if (d != NULL)
		fprintf(stderr, "cairn serve: region S3 on %s:%u, reads from %s\n", cfg->s3_host,
			port, g_origin_s3);
	return d;
}
