/*
 * client.c - the native API client (include/cairn/client.h) over one
 * libcurl easy handle per client: request plumbing with retries, the one
 * table from HTTP answers back to CAIRN_E* codes, JSON decoding (jansson),
 * and the streaming upload and download paths. The chunk protocol (xet.c)
 * drives the same plumbing through client_int.h.
 *
 * A request's answer lands in c->buf (capped at CAIRN_CLIENT_JSON_MAX, or
 * the request's own ceiling) unless it is a successful download, whose
 * bytes go straight to the caller's fd or sink. Uploads are read from the
 * caller's fd by libcurl's read callback, or sent from a buffer the caller
 * holds (a xorb, a batch), so neither direction ever copies a whole object.
 */
#include "client_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ERRBODY_MAX (64u << 10) /* an error body during a download */
#define TREE_PAGE 1000          /* the server's largest page */
#define RETRY_FIRST_MS 200      /* then doubling */
#define RETRY_MAX_MS 5000
#define RETRY_AFTER_MAX 10      /* seconds of a server's Retry-After we honour */
#define BIG_BODY (1u << 20)     /* bodies from here on wait for "100 Continue" */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- strings ----------------------------------------------------------------------- */

/* Percent-encode s onto f; '/' kept when keep_slash (object keys). */
static void put_enc(FILE *f, const char *s, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~' || (keep_slash && *p == '/'))
			fputc(*p, f);
		else
			fprintf(f, "%%%c%c", hexd[*p >> 4], hexd[*p & 15]);
	}
}

/*
 * The URL endpoint + head + ns/name + tail + key (each optional after ns).
 * Returns NULL without memory (message set).
 */
char *cairn__client_url(const cairn_client *c, const char *head, const char *ns,
			const char *name, const char *tail, const char *key, const char *query)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	if (f == NULL) {
		cairn__error_set(CAIRN_ENOMEM, "out of memory");
		return NULL;
	}
	fputs(c->endpoint, f);
	fputs(head, f);
	if (ns) {
		put_enc(f, ns, false);
		if (name) {
			fputc('/', f);
			put_enc(f, name, false);
		}
	}
	if (tail)
		fputs(tail, f);
	if (key)
		put_enc(f, key, true);
	if (query)
		fputs(query, f);
	if (fclose(f) != 0) {
		free(s);
		cairn__error_set(CAIRN_ENOMEM, "out of memory");
		return NULL;
	}
	return s;
}

/* A bucket or namespace name as the server takes it: 1..96 bytes, no '/'. */
static int check_name(const char *what, const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > CAIRN_CLIENT_NAME_MAX || strchr(s, '/'))
		return cairn__error_set(CAIRN_EINVALID, "bad %s name '%s'", what, s ? s : "");
	return 0;
}

int cairn__client_check_bucket(const char *ns, const char *name)
{
	int rc = check_name("namespace", ns);

	return rc ? rc : check_name("bucket", name);
}

/* An object key by the one rule (cairn_key_valid), with a message saying which part failed. */
int cairn__client_check_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > CAIRN_CLIENT_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "bad object path '%s' (1..1024 bytes)",
					key ? key : "");
	if (!cairn_key_valid(key, n))
		return cairn__error_set(CAIRN_EINVALID,
					"bad object path '%s' (empty, '.' or '..' segment)", key);
	return 0;
}

/* ---- client ----------------------------------------------------------------------- */

int cairn_client_new(cairn_client **out, const char *endpoint, const char *token)
{
	cairn_client *c;
	size_t n;

	if (endpoint == NULL || *endpoint == '\0')
		return cairn__error_set(CAIRN_EINVALID, "no endpoint given");
	if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
		return cairn__error_set(CAIRN_EINVALID,
					"endpoint '%s' must start with http:// or https://",
					endpoint);
	if (token != NULL && (*token == '\0' || strpbrk(token, "\r\n") != NULL))
		return cairn__error_set(CAIRN_EINVALID, "malformed token");
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return cairn__error_set(CAIRN_EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	atomic_init(&c->cancel_own, false);
	c->cancel = &c->cancel_own;
	c->endpoint = strdup(endpoint);
	if (c->endpoint == NULL)
		goto nomem;
	n = strlen(c->endpoint);
	while (n > 0 && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	{
		/* a region's cache node serves the reconstructions' xorb reads (docs/regions.md) */
		const char *reg = getenv("CAIRN_REGION");
		if (reg != NULL && *reg != '\0' && cairn_client_set_region(c, reg) != 0) {
			int rc = cairn__error_set(CAIRN_EINVALID,
						  "CAIRN_REGION '%s' is not a region name", reg);
			cairn_client_free(c);
			return rc;
		}
	}
	if (token != NULL) {
		size_t an = strlen(token) + 32;
		c->token = strdup(token);
		c->auth = malloc(an);
		if (c->token == NULL || c->auth == NULL)
			goto nomem;
		snprintf(c->auth, an, "Authorization: Bearer %s", token);
	}
	c->h = curl_easy_init();
	if (c->h == NULL) {
		cairn_client_free(c);
		return cairn__error_set(CAIRN_EIO, "libcurl would not start");
	}
	c->retry_after = -1;
	*out = c;
	return 0;
nomem:
	cairn_client_free(c);
	return cairn__error_set(CAIRN_ENOMEM, "out of memory");
}

int cairn__client_clone(cairn_client **out, const cairn_client *c)
{
	int rc = cairn_client_new(out, c->endpoint, c->token);

	if (rc == 0)
		rc = cairn_client_set_region(*out, c->region);
	if (rc != 0) {
		cairn_client_free(*out);
		*out = NULL;
		return rc;
	}
	(*out)->cancel = c->cancel; /* a cancel reaches every thread of a transfer */
	return 0;
}

int cairn_client_set_region(cairn_client *c, const char *region)
{
	char *name = NULL, *q = NULL;
	size_t n;

	if (region != NULL && *region != '\0') {
		n = strlen(region);
		if (n > CAIRN_CLIENT_NAME_MAX ||
		    strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n)
			return cairn__error_set(CAIRN_EINVALID, "'%s' is not a region name", region);
		name = strdup(region);
		q = malloc(n + 9);
		if (name == NULL || q == NULL) {
			free(name);
			free(q);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		snprintf(q, n + 9, "?region=%s", region);
	}
	free(c->region);
	free(c->region_q);
	c->region = name;
	c->region_q = q;
	return 0;
}

const char *cairn_client_region(const cairn_client *c)
{
	return c->region;
}

void cairn_client_cancel(cairn_client *c, bool cancel)
{
	atomic_store(c->cancel, cancel);
}

void cairn_client_free(cairn_client *c)
{
	if (c == NULL)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	free(c->endpoint);
	free(c->token);
	free(c->auth);
	free(c->region);
	free(c->region_q);
	free(c->buf);
	free(c);
}

const char *cairn_client_endpoint(const cairn_client *c)
{
	return c->endpoint;
}

/* ---- transfer callbacks ------------------------------------------------------------ */

/* Keep a 2xx body in c->buf, up to c->max bytes. */
static size_t keep(cairn_client *c, const char *p, size_t len)
{
	if (len > c->max - c->len) {
		c->too_big = true;
		return 0;
	}
	if (c->len + len + 1 > c->cap) {
		size_t ncap = c->cap ? c->cap : 4096;
		char *nb;
		while (ncap < c->len + len + 1)
			ncap *= 2;
		nb = realloc(c->buf, ncap);
		if (nb == NULL)
			return 0;
		c->buf = nb;
		c->cap = ncap;
	}
	memcpy(c->buf + c->len, p, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return len;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	cairn_client *c = ud;
	request *r = c->req;
	size_t len = size * nmemb;
	long st = 0;

	if (r->out_fd < 0 && r->sink == NULL)
		return keep(c, p, len);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
	if (st != 200 && st != 206)
		return keep(c, p, len); /* an error body */
	if (r->sink != NULL) {
		int rc = r->sink(r->sink_ctx, p, len);
		if (rc != 0) {
			r->sink_rc = rc;
			return 0; /* aborts the transfer */
		}
		c->written += len;
		return len;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(r->out_fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			c->write_errno = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	c->written += len;
	return len;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	cairn_client *c = ud;
	ssize_t r;

	do
		r = read(c->req->in_fd, p, size * nmemb);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		c->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	c->read += (uint64_t)r;
	return (size_t)r;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	const cairn_client *c = ud;
	const request *r = c->req;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (atomic_load(c->cancel))
		return 1; /* libcurl aborts the transfer */
	if (r->progress)
		r->progress(r->progress_ctx, ulnow > 0 ? (uint64_t)ulnow : 0);
	return 0;
}

/* ---- requests ---------------------------------------------------------------------- */

static void pause_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* Transport failures where the request can be tried again. */
static bool transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
		return true;
	default:
		return false;
	}
}

/* One try of r. Returns the CURLcode; c->status and c->buf hold the answer. */
static CURLcode perform_once(cairn_client *c, request *r)
{
	struct curl_slist *hdrs = NULL, *nh;
	curl_off_t up = 0, ra = -1;
	CURL *h = c->h;
	CURLcode rc;

	curl_easy_reset(h);
	c->len = 0;
	if (c->buf)
		c->buf[0] = '\0';
	c->too_big = false;
	c->status = 0;
	c->retry_after = -1;
	c->written = 0;
	c->write_errno = c->read_errno = 0;
	c->read = 0;
	c->req = r;
	r->sink_rc = 0;
	c->max = r->out_fd >= 0 || r->sink ? ERRBODY_MAX : r->max ? r->max : CAIRN_CLIENT_JSON_MAX;
	c->errbuf[0] = '\0';

	curl_easy_setopt(h, CURLOPT_URL, r->url);
	/* libcurl sends neither Authorization nor cookies to another host it is redirected to */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, r->follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 2L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a stalled connection (no byte for 60 s) fails; a slow one does not */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION_STRING);
	/* every transfer watches for a cancel (and reports upload progress if asked) */
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	if (c->auth && !r->anonymous && (nh = curl_slist_append(hdrs, c->auth)) != NULL)
		hdrs = nh;
	if (r->header && (nh = curl_slist_append(hdrs, r->header)) != NULL)
		hdrs = nh;
	if (r->header2 && (nh = curl_slist_append(hdrs, r->header2)) != NULL)
		hdrs = nh;
	if (r->in_fd >= 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		if (r->in_size >= 0)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_size);
		/*
		 * A body that cannot be read twice waits longer for "100 Continue"
		 * (libcurl's default is 1 s): a refusal that comes first leaves it
		 * whole, to be sent again (slowed_down)
		 */
		if (r->in_start < 0)
			curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
	} else if (r->body || r->data) {
		char ct[96];
		snprintf(ct, sizeof(ct), "Content-Type: %s",
			 r->content_type ? r->content_type : "application/json");
		if ((nh = curl_slist_append(hdrs, ct)) != NULL)
			hdrs = nh;
		/*
		 * A big body (a xorb, a batch) first asks whether it is wanted, so a
		 * refusal (403, 413, 503 SlowDown) costs no upload; a small one is
		 * sent at once, not worth the round trip.
		 */
		nh = curl_slist_append(hdrs, (r->data ? r->data_len : strlen(r->body)) >= BIG_BODY
						     ? "Expect: 100-continue"
						     : "Expect:");
		if (nh != NULL)
			hdrs = nh;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->data ? r->data : (const void *)r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(r->data ? r->data_len : strlen(r->body)));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	if (curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
		c->sent += (uint64_t)up;
	{
		/* libcurl says 0 for no Retry-After at all: whether one came is asked apart */
		struct curl_header *hh;
		if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hh) == CURLHE_OK)
			c->retry_after =
				curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0
					? (long)ra
					: 0;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}

/*
 * A 503 with a Retry-After header (Cairn's SlowDown: its upload memory is
 * taken, and the request was not acted on) may be sent again whatever the
 * request, if its body can be; a bare 503 (a proxy's, maybe after the
 * server acted) only for an idempotent one. A body read from a pipe is
 * sent again only if libcurl took none of it: it waits for "100 Continue"
 * before a big or unsized body, and a refusal that comes first keeps it.
 */
static bool slowed_down(const cairn_client *c, const request *r)
{
	if (c->status != 503 || c->retry_after < 0)
		return false;
	return r->in_fd < 0 || r->in_start >= 0 || c->read == 0;
}

int cairn__client_perform(cairn_client *c, request *r)
{
	unsigned tries = r->tries ? r->tries : 4;
	long wait = RETRY_FIRST_MS;
	CURLcode rc;

	for (unsigned attempt = 1;; attempt++) {
		bool again;

		if (atomic_load(c->cancel))
			return cairn__error_set(CAIRN_ECANCELED, "canceled");
		rc = perform_once(c, r);
		if (atomic_load(c->cancel))
			return cairn__error_set(CAIRN_ECANCELED, "canceled");
		if (rc == CURLE_OK && !c->too_big)
			again = c->status >= 500 && (r->idempotent || slowed_down(c, r));
		else if (r->sink_rc != 0)
			again = false; /* the sink refused the bytes: not the network's fault */
		else
			again = transient(rc) && (r->idempotent || rc == CURLE_COULDNT_CONNECT);
		if (c->written > 0 && again) {
			/* bytes are out: only a sink that can take them back may start over */
			if (r->restart == NULL || r->restart(r->sink_ctx) != 0)
				again = false;
		}
		if (r->in_fd >= 0 && again && r->in_start >= 0 &&
		    lseek(r->in_fd, r->in_start, SEEK_SET) != r->in_start)
			again = false;
		if (!again || attempt >= tries)
			break;
		if (c->retry_after > 0 && wait < c->retry_after * 1000)
			pause_ms((c->retry_after > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : c->retry_after) *
				 1000);
		else
			pause_ms(wait);
		wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
	}
	if (r->sink_rc != 0)
		return r->sink_rc;
	if (c->too_big)
		return cairn__error_set(CAIRN_ETOOBIG, "%s %s: answer over %u bytes", r->method,
					r->url, (unsigned)c->max);
	if (c->write_errno)
		return cairn__error_set(CAIRN_EIO, "writing the download: %s",
					strerror(c->write_errno));
	if (c->read_errno)
		return cairn__error_set(CAIRN_EIO, "reading the upload: %s",
					strerror(c->read_errno));
	if (rc != CURLE_OK) {
		if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
			return cairn__error_set(CAIRN_EIO, "cannot reach %s: %s", c->endpoint,
						c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		return cairn__error_set(CAIRN_EIO, "connection to %s lost (%s): %s", c->endpoint,
					r->method, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	}
	return 0;
}

/* The one table from HTTP answers back to codes. */
static int status_code(long status)
{
	switch (status) {
	case 400: return CAIRN_EINVALID;
	case 401: return CAIRN_EAUTH;
	case 403: return CAIRN_EPERM;
	case 404: return CAIRN_ENOTFOUND;
	case 409: return CAIRN_EEXISTS;
	case 413: return CAIRN_ETOOBIG;
	default: return CAIRN_EIO;
	}
}

int cairn__client_answer_error(cairn_client *c)
{
	int code = status_code(c->status);
	json_t *v = c->len ? json_loadb(c->buf, c->len, 0, NULL) : NULL;
	const char *msg = json_string_value(
		json_object_get(json_object_get(v, "error"), "message"));

	if (msg != NULL && *msg != '\0')
		cairn__error_set(code, "%s", msg);
	else
		cairn__error_set(code, "server answered HTTP %ld", c->status);
	json_decref(v);
	return code;
}

int cairn__client_call_json(cairn_client *c, request *r, json_t **out)
{
	json_error_t jerr;
	json_t *v;
	int rc = cairn__client_perform(c, r);

	if (rc != 0)
		return rc;
	if (c->status < 200 || c->status > 299)
		return cairn__client_answer_error(c);
	if (out == NULL)
		return 0;
	v = json_loadb(c->buf ? c->buf : "", c->len, 0, &jerr);
	if (!json_is_object(v)) {
		json_decref(v);
		return cairn__error_set(CAIRN_EIO, "the server's answer is not a JSON object");
	}
	*out = v;
	return 0;
}

uint64_t cairn__client_get_u64(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

static int bucket_from_json(json_t *o, cairn_client_bucket *b)
{
	const char *ns = json_string_value(json_object_get(o, "namespace"));
	const char *name = json_string_value(json_object_get(o, "name"));

	if (ns == NULL || name == NULL || strlen(ns) > CAIRN_CLIENT_NAME_MAX ||
	    strlen(name) > CAIRN_CLIENT_NAME_MAX)
		return cairn__error_set(CAIRN_EIO, "the server sent a malformed bucket");
	memset(b, 0, sizeof(*b));
	snprintf(b->ns, sizeof(b->ns), "%s", ns);
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->is_private = json_is_true(json_object_get(o, "private"));
	b->created_ns = (int64_t)json_integer_value(json_object_get(o, "created_ns"));
	if (json_object_get(o, "objects") != NULL) {
		b->has_stats = true;
		b->objects = cairn__client_get_u64(o, "objects");
		b->logical_bytes = cairn__client_get_u64(o, "logical_bytes");
		b->stored_bytes = cairn__client_get_u64(o, "stored_bytes");
		b->dedup_bytes = cairn__client_get_u64(o, "dedup_bytes");
		b->chunks = cairn__client_get_u64(o, "chunks");
		b->xorbs = cairn__client_get_u64(o, "xorbs");
	}
	{
		json_t *regs = json_object_get(o, "regions"), *e;
		size_t i, at = 0;
		json_array_foreach(regs, i, e) {
			const char *rn = json_string_value(e);
			size_t rl = rn ? strlen(rn) : 0;
			if (rl == 0 || at + rl + (at > 0) > CAIRN_CLIENT_REGIONS_MAX)
				return cairn__error_set(CAIRN_EIO, "the server sent a malformed "
								   "region list");
			at += (size_t)snprintf(b->regions + at, sizeof(b->regions) - at, "%s%s",
					       at > 0 ? "," : "", rn);
		}
	}
	return 0;
}

/* ---- the API ----------------------------------------------------------------------- */

/* Build the URL from its parts (as cairn__client_url), make the call, free the URL. */
static int call_at(cairn_client *c, request *r, const char *head, const char *ns,
		   const char *name, const char *tail, const char *key, const char *query,
		   json_t **out)
{
	char *url = cairn__client_url(c, head, ns, name, tail, key, query);
	int rc;

	if (url == NULL)
		return CAIRN_ENOMEM;
	r->url = url;
	rc = cairn__client_call_json(c, r, out);
	r->url = NULL;
	free(url);
	return rc;
}

int cairn_client_whoami_get(cairn_client *c, cairn_client_whoami *out)
{
	request r = REQUEST_INIT;
	json_t *v = NULL;
	const char *user, *scope;
	int rc;

	r.method = "GET";
	r.idempotent = true;
	rc = call_at(c, &r, "/api/whoami", NULL, NULL, NULL, NULL, NULL, &v);
	if (rc != 0)
		return rc;
	user = json_string_value(json_object_get(v, "user"));
	scope = json_string_value(json_object_get(v, "scope"));
	if (user == NULL || scope == NULL || strlen(user) >= sizeof(out->user) ||
	    strlen(scope) >= sizeof(out->scope)) {
		json_decref(v);
		return cairn__error_set(CAIRN_EIO, "the server sent a malformed whoami answer");
	}
	snprintf(out->user, sizeof(out->user), "%s", user);
	snprintf(out->scope, sizeof(out->scope), "%s", scope);
	json_decref(v);
	return 0;
}

int cairn_client_bucket_create(cairn_client *c, const char *ns, const char *name,
			       bool is_private, bool exist_ok)
{
	request r = REQUEST_INIT;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	r.method = "POST";
	r.body = is_private ? "{\"private\":true}" : "{\"private\":false}";
	rc = call_at(c, &r, "/api/buckets/", ns, name, NULL, NULL, NULL, NULL);
	if (rc == CAIRN_EEXISTS && exist_ok)
		rc = 0;
	return rc;
}

int cairn_client_bucket_info(cairn_client *c, const char *ns, const char *name,
			     cairn_client_bucket *out)
{
	request r = REQUEST_INIT;
	json_t *v = NULL;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	r.method = "GET";
	r.idempotent = true;
	rc = call_at(c, &r, "/api/buckets/", ns, name, NULL, NULL, NULL, &v);
	if (rc == 0)
		rc = bucket_from_json(v, out);
	json_decref(v);
	return rc;
}

int cairn_client_bucket_list(cairn_client *c, const char *ns, cairn_client_bucket_cb cb,
			     void *ctx)
{
	request r = REQUEST_INIT;
	json_t *v = NULL, *arr, *e;
	char *q = NULL;
	size_t i;
	int rc;

	if (ns != NULL) {
		size_t n = 0;
		FILE *f;
		if ((rc = check_name("namespace", ns)) != 0)
			return rc;
		f = open_memstream(&q, &n);
		if (f == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		fputs("?namespace=", f);
		put_enc(f, ns, false);
		if (fclose(f) != 0) {
			free(q);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
	}
	r.method = "GET";
	r.idempotent = true;
	r.url = cairn__client_url(c, "/api/buckets", NULL, NULL, NULL, NULL, q);
	free(q);
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_call_json(c, &r, &v);
	free((char *)r.url);
	if (rc != 0)
		return rc;
	arr = json_object_get(v, "buckets");
	if (!json_is_array(arr)) {
		json_decref(v);
		return cairn__error_set(CAIRN_EIO, "the server sent a malformed bucket list");
	}
	json_array_foreach(arr, i, e) {
		cairn_client_bucket b;
		if ((rc = bucket_from_json(e, &b)) != 0 || (rc = cb(ctx, &b)) != 0)
			break;
	}
	json_decref(v);
	return rc;
}

int cairn_client_bucket_delete(cairn_client *c, const char *ns, const char *name, bool force,
			       bool missing_ok)
{
	request r = REQUEST_INIT;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	r.method = "DELETE";
	r.idempotent = true;
	rc = call_at(c, &r, "/api/buckets/", ns, name, NULL, NULL, force ? "?force=true" : NULL, NULL);
	if (rc == CAIRN_ENOTFOUND && missing_ok)
		rc = 0;
	return rc;
}

int cairn_client_bucket_set_private(cairn_client *c, const char *ns, const char *name,
				    bool is_private)
{
	request r = REQUEST_INIT;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	r.method = "PUT";
	r.idempotent = true;
	r.body = is_private ? "{\"private\":true}" : "{\"private\":false}";
	rc = call_at(c, &r, "/api/buckets/", ns, name, "/settings", NULL, NULL, NULL);
	return rc;
}

int cairn_client_bucket_set_regions(cairn_client *c, const char *ns, const char *name,
				    const char *regions)
{
	request r = REQUEST_INIT;
	json_t *arr, *body;
	const char *p = regions ? regions : "";
	char *text;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	if (strlen(p) > CAIRN_CLIENT_REGIONS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "too many regions (%d bytes at most)",
					CAIRN_CLIENT_REGIONS_MAX);
	if ((arr = json_array()) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > CAIRN_CLIENT_NAME_MAX) {
			json_decref(arr);
			return cairn__error_set(CAIRN_EINVALID, "bad region list '%s'", regions);
		}
		json_array_append_new(arr, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	body = json_pack("{s:o}", "regions", arr);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	r.method = "PUT";
	r.idempotent = true;
	r.body = text;
	rc = call_at(c, &r, "/api/buckets/", ns, name, "/settings", NULL, NULL, NULL);
	free(text);
	return rc;
}

/* ---- pre-warming ---------------------------------------------------------------------------- */

static int prewarm_region(const cairn_client *c, const char *region, const char **out)
{
	*out = region && *region ? region : c->region;
	if (*out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "which region? (--region NAME, or "
							"CAIRN_REGION)");
	if (strlen(*out) > CAIRN_CLIENT_NAME_MAX ||
	    strspn(*out, "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(*out))
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a region name", *out);
	return 0;
}

static void copy_str(char *out, size_t cap, json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	snprintf(out, cap, "%s", v ? v : "");
}

static int prewarm_from_json(json_t *o, cairn_client_prewarm *p)
{
	const char *job = json_string_value(json_object_get(o, "job"));

	if (job == NULL || strlen(job) != 32 || json_string_value(json_object_get(o, "state")) == NULL)
		return cairn__error_set(CAIRN_EIO, "the server sent a malformed pre-warm job");
	memset(p, 0, sizeof(*p));
	copy_str(p->job, sizeof(p->job), o, "job");
	copy_str(p->region, sizeof(p->region), o, "region");
	copy_str(p->bucket, sizeof(p->bucket), o, "bucket");
	copy_str(p->prefix, sizeof(p->prefix), o, "prefix");
	copy_str(p->state, sizeof(p->state), o, "state");
	copy_str(p->message, sizeof(p->message), o, "message");
	p->files = cairn__client_get_u64(o, "files");
	p->files_done = cairn__client_get_u64(o, "files_done");
	p->xorbs = cairn__client_get_u64(o, "xorbs");
	p->xorbs_done = cairn__client_get_u64(o, "xorbs_done");
	p->bytes = cairn__client_get_u64(o, "bytes");
	p->bytes_done = cairn__client_get_u64(o, "bytes_done");
	p->logical_bytes = cairn__client_get_u64(o, "logical_bytes");
	p->bytes_per_second = json_number_value(json_object_get(o, "bytes_per_second"));
	return 0;
}

int cairn_client_prewarm_start(cairn_client *c, const char *ns, const char *name,
			       const char *prefix, const char *region, cairn_client_prewarm *out)
{
	request r = REQUEST_INIT;
	json_t *body, *v = NULL;
	const char *reg;
	char *text;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = prewarm_region(c, region, &reg)) != 0)
		return rc;
	if (prefix != NULL && strlen(prefix) > CAIRN_CLIENT_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "prefix longer than %d bytes",
					CAIRN_CLIENT_KEY_MAX);
	body = json_pack("{s:s,s:s}", "prefix", prefix ? prefix : "", "region", reg);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory (or a prefix not UTF-8)");
	r.method = "POST";
	r.body = text;
	rc = call_at(c, &r, "/api/buckets/", ns, name, "/prewarm", NULL, NULL, &v);
	free(text);
	if (rc == 0)
		rc = prewarm_from_json(v, out);
	json_decref(v);
	return rc;
}

static int prewarm_job_call(cairn_client *c, const char *method, const char *job,
			    const char *region, cairn_client_prewarm *out)
{
	request r = REQUEST_INIT;
	char tail[64], query[CAIRN_CLIENT_NAME_MAX + 16];
	const char *reg;
	json_t *v = NULL;
	int rc;

	if ((rc = prewarm_region(c, region, &reg)) != 0)
		return rc;
	if (job == NULL || strlen(job) != 32 || strspn(job, "0123456789abcdef") != 32)
		return cairn__error_set(CAIRN_EINVALID, "'%s' is not a job id (32 hex digits)",
					job ? job : "");
	snprintf(tail, sizeof(tail), "/api/prewarm/%s", job);
	snprintf(query, sizeof(query), "?region=%s", reg);
	r.method = method;
	r.idempotent = true;
	rc = call_at(c, &r, tail, NULL, NULL, NULL, NULL, query, &v);
	if (rc == 0)
		rc = prewarm_from_json(v, out);
	json_decref(v);
	return rc;
}

int cairn_client_prewarm_get(cairn_client *c, const char *job, const char *region,
			     cairn_client_prewarm *out)
{
	return prewarm_job_call(c, "GET", job, region, out);
}

int cairn_client_prewarm_release(cairn_client *c, const char *job, const char *region,
				 cairn_client_prewarm *out)
{
	return prewarm_job_call(c, "DELETE", job, region, out);
}

/* Feed one page's entries to cb. */
static int list_page(json_t *arr, cairn_client_entry_cb cb, void *ctx)
{
	json_t *e;
	size_t i;
	int rc;

	json_array_foreach(arr, i, e) {
		cairn_client_entry ent;
		const char *type = json_string_value(json_object_get(e, "type"));

		memset(&ent, 0, sizeof(ent));
		ent.path = json_string_value(json_object_get(e, "path"));
		if (type == NULL || ent.path == NULL)
			return cairn__error_set(CAIRN_EIO, "the server sent a malformed entry");
		ent.is_dir = strcmp(type, "directory") == 0;
		if (!ent.is_dir) {
			ent.size = cairn__client_get_u64(e, "size");
			ent.hash = json_string_value(json_object_get(e, "hash"));
			ent.mtime_ns = (int64_t)json_integer_value(json_object_get(e, "mtime_ns"));
			if (ent.hash == NULL)
				ent.hash = "";
		}
		if ((rc = cb(ctx, &ent)) != 0)
			return rc;
	}
	return 0;
}

int cairn_client_list(cairn_client *c, const char *ns, const char *name, const char *prefix,
		      bool recursive, cairn_client_entry_cb cb, void *ctx)
{
	char *cursor = NULL;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	if (prefix != NULL && *prefix != '\0' && (rc = cairn__client_check_key(prefix)) != 0)
		return rc;
	for (;;) {
		request r = REQUEST_INIT;
		char query[64];
		char *qs = NULL;
		size_t qn = 0;
		FILE *f = open_memstream(&qs, &qn);
		json_t *v = NULL, *next;

		if (f == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		snprintf(query, sizeof(query), "?limit=%d%s", TREE_PAGE,
			 recursive ? "&recursive=true" : "");
		fputs(query, f);
		if (cursor) {
			fputs("&cursor=", f);
			fputs(cursor, f);
		}
		if (fclose(f) != 0) {
			free(qs);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		r.method = "GET";
		r.idempotent = true;
		r.url = cairn__client_url(c, "/api/buckets/", ns, name,
					  prefix && *prefix ? "/tree/" : "/tree",
					  prefix && *prefix ? prefix : NULL, qs);
		free(qs);
		if (r.url == NULL) {
			rc = CAIRN_ENOMEM;
			break;
		}
		rc = cairn__client_call_json(c, &r, &v);
		free((char *)r.url);
		if (rc != 0)
			break;
		free(cursor);
		cursor = NULL;
		next = json_object_get(v, "next_cursor");
		if (json_is_string(next) && (cursor = strdup(json_string_value(next))) == NULL) {
			json_decref(v);
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		if (!json_is_array(json_object_get(v, "entries")))
			rc = cairn__error_set(CAIRN_EIO, "the server sent a malformed listing");
		else
			rc = list_page(json_object_get(v, "entries"), cb, ctx);
		json_decref(v);
		if (rc != 0 || cursor == NULL)
			break;
	}
	free(cursor);
	return rc;
}

int cairn_client_upload_fd(cairn_client *c, const char *ns, const char *name, const char *key,
			   int fd, cairn_client_put_result *out)
{
	request r = REQUEST_INIT;
	char mtime[64];
	struct stat st;
	uint64_t sent0;
	json_t *v = NULL;
	const char *hash;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0)
		return rc;
	r.method = "PUT";
	r.in_fd = fd;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		r.in_start = lseek(fd, 0, SEEK_CUR);
		if (r.in_start >= 0 && st.st_size >= r.in_start)
			r.in_size = (int64_t)(st.st_size - r.in_start);
		snprintf(mtime, sizeof(mtime), "X-Cairn-Mtime: %" PRId64,
			 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
		r.header = mtime;
	}
	r.idempotent = r.in_start >= 0;
	sent0 = c->sent;
	rc = call_at(c, &r, "/buckets/", ns, name, "/upload/", key, NULL, &v);
	if (rc != 0)
		return rc;
	hash = json_string_value(json_object_get(v, "hash"));
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		snprintf(out->hash, sizeof(out->hash), "%s", hash ? hash : "");
		out->size = cairn__client_get_u64(v, "size");
		out->new_bytes = cairn__client_get_u64(v, "new_bytes");
		out->stored_bytes = cairn__client_get_u64(v, "stored_bytes");
		out->chunks = cairn__client_get_u64(v, "chunks");
		out->new_chunks = cairn__client_get_u64(v, "new_chunks");
		out->bytes_sent = c->sent - sent0;
	}
	json_decref(v);
	return 0;
}

int cairn_client_download_to_fd(cairn_client *c, const char *ns, const char *name,
				const char *key, int fd, uint64_t *size)
{
	request r = REQUEST_INIT;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0)
		return rc;
	r.method = "GET";
	r.idempotent = true;
	r.out_fd = fd;
	/* with a region, the origin redirects to its node, which serves the bytes */
	r.follow = c->region_q != NULL;
	r.url = cairn__client_url(c, "/buckets/", ns, name, "/resolve/", key, c->region_q);
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_perform(c, &r);
	free((char *)r.url);
	if (rc != 0)
		return rc;
	if (c->status != 200)
		return cairn__client_answer_error(c);
	if (size)
		*size = c->written;
	return 0;
}

typedef struct range_sink {
	uint8_t *buf;
	size_t cap, n;
} range_sink;

static int range_put(void *ctx, const void *p, size_t n)
{
	range_sink *s = ctx;

	if (n > s->cap - s->n)
		return cairn__error_set(CAIRN_EIO, "the server sent more than the range asked for");
	memcpy(s->buf + s->n, p, n);
	s->n += n;
	return 0;
}

static int range_restart(void *ctx)
{
	((range_sink *)ctx)->n = 0;
	return 0;
}

int cairn_client_read_range(cairn_client *c, const char *ns, const char *name, const char *key,
			    uint64_t offset, size_t len, void *buf, size_t *got)
{
	request r = REQUEST_INIT;
	range_sink s = {buf, len, 0};
	char range[64];
	int rc;

	*got = 0;
	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0)
		return rc;
	if (len == 0)
		return 0;
	if (len > (64u << 20))
		return cairn__error_set(CAIRN_EINVALID, "a range read takes at most 64 MiB");
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)offset,
		 (unsigned long long)(offset + len - 1));
	r.method = "GET";
	r.idempotent = true;
	r.header = range;
	r.sink = range_put;
	r.restart = range_restart;
	r.sink_ctx = &s;
	r.follow = c->region_q != NULL; /* through the region's node, as a download */
	r.url = cairn__client_url(c, "/buckets/", ns, name, "/resolve/", key, c->region_q);
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_perform(c, &r);
	free((char *)r.url);
	if (rc != 0)
		return rc;
	if (c->status == 416)
		return cairn__error_set(CAIRN_EINVALID, "offset %llu is past the end of %s",
					(unsigned long long)offset, key);
	if (c->status != 206 && c->status != 200)
		return cairn__client_answer_error(c);
	*got = s.n;
	return 0;
}

int cairn_client_delete_object(cairn_client *c, const char *ns, const char *name,
			       const char *key)
{
	request r = REQUEST_INIT;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0)
		return rc;
	r.method = "DELETE";
	r.idempotent = true;
	rc = call_at(c, &r, "/buckets/", ns, name, "/resolve/", key, NULL, NULL);
	return rc;
}
