/*
 * client_int.h - what the two halves of the client share: the client
 * struct, one request's description, and the request plumbing of client.c
 * (retries, the answer-to-code table), which the chunk protocol (xet.c)
 * drives from several threads, one cairn_client per thread.
 */
#ifndef CAIRN_CLIENT_INT_H
#define CAIRN_CLIENT_INT_H

#include "cairn/client.h"
#include "cairn/errors.h"
#include "../util/util_int.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct request request;

struct cairn_client {
	CURL *h;
	char *endpoint; /* without a trailing '/' */
	char *token;    /* as given, for cairn__client_clone; or NULL */
	char *auth;     /* "Authorization: Bearer ..." or NULL */
	char *region;   /* the region reads go through (cairn_client_set_region), or NULL */
	char *region_q; /* "?region=NAME" for reconstructions, or NULL */
	char errbuf[CURL_ERROR_SIZE];

	/* the answer being read */
	char *buf;
	size_t len, cap, max;
	bool too_big;
	long status;
	long retry_after; /* the last answer's Retry-After, seconds (0: not a number); -1: none */

	/* the request being run: where a 2xx body goes, where an upload comes from */
	request *req;
	uint64_t written;
	int write_errno;

	int read_errno;
	uint64_t read; /* bytes taken from in_fd by this try */

	/* request bodies handed to the network, every try counted */
	uint64_t sent;

	/* set by cairn_client_cancel; clones share their parent's */
	atomic_bool cancel_own;
	atomic_bool *cancel;
};

/*
 * One request. A 2xx body goes to out_fd, or to sink, or (JSON) to c->buf;
 * the request body comes from in_fd, or data/data_len, or the string body.
 */
struct request {
	const char *method;      /* GET, HEAD, POST, PUT, DELETE */
	const char *url;
	const char *body;        /* a JSON body, or NULL */
	const void *data;        /* a binary body (data_len bytes), or NULL */
	size_t data_len;
	const char *content_type; /* of body or data; NULL: application/json */
	int in_fd;               /* upload source or -1 */
	off_t in_start;          /* where to seek back to for a retry; -1: not seekable */
	int64_t in_size;         /* the body's size if known, else -1 */
	int out_fd;              /* download sink or -1 */
	/*
	 * Or a download sink as a callback: returns 0 or a CAIRN_E* code (which
	 * stops the transfer and is returned by cairn__client_perform). With
	 * restart set, a retry after bytes arrived is allowed: restart is called
	 * first and must undo what the sink did.
	 */
	int (*sink)(void *ctx, const void *p, size_t n);
	int (*restart)(void *ctx);
	void *sink_ctx;
	int sink_rc;             /* set by the transfer: the sink's failure */
	/* upload progress of this request's body: bytes sent so far */
	void (*progress)(void *ctx, uint64_t sent);
	void *progress_ctx;
	bool idempotent;
	bool anonymous;          /* no Authorization header (signed URLs, maybe elsewhere) */
	bool follow;             /* follow a redirect (a region's node; the token stays behind) */
	unsigned tries;          /* attempts in all; 0: 1 + 3 retries */
	size_t max;              /* ceiling on a JSON answer; 0: CAIRN_CLIENT_JSON_MAX */
	const char *header;      /* extra headers or NULL */
	const char *header2;
};

#define REQUEST_INIT                                                                   \
	{                                                                              \
		.in_fd = -1, .in_start = -1, .in_size = -1, .out_fd = -1                 \
	}

/*
 * The URL endpoint + head + ns/name + tail + key + query (each optional
 * after head; name only with ns). NULL without memory (message set).
 */
char *cairn__client_url(const cairn_client *c, const char *head, const char *ns,
			const char *name, const char *tail, const char *key, const char *query);

/* Argument checks, with the message set: 0 or CAIRN_EINVALID. */
int cairn__client_check_bucket(const char *ns, const char *name);
int cairn__client_check_key(const char *key);

/* A second client of the same endpoint and token (for another thread). */
int cairn__client_clone(cairn_client **out, const cairn_client *c);

/*
 * Run r with retries. Returns 0 when an HTTP answer arrived (any status:
 * c->status, c->buf), or a CAIRN_E* code for a transport failure or a
 * failed sink.
 */
int cairn__client_perform(cairn_client *c, request *r);

/* A non-2xx answer as a code, with the server's message. */
int cairn__client_answer_error(cairn_client *c);

/* Run r; decode a 2xx JSON answer into *out (NULL: ignore it). Non-2xx: its code. */
int cairn__client_call_json(cairn_client *c, request *r, json_t **out);

/* A JSON number as u64 (0 if absent or negative). */
uint64_t cairn__client_get_u64(json_t *o, const char *k);

#endif /* CAIRN_CLIENT_INT_H */
