/*
 * server_int.h - what the server's files share: the configuration, the
 * HTTP handlers' entry points, and the per-thread engine handles.
 */
#ifndef CAIRN_SERVER_INT_H
#define CAIRN_SERVER_INT_H

#include "cairn/repo.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

typedef struct cairn_server_config {
	const char *data_dir;
	const char *host;
	const char *port;      /* service, "0" for any free port */
	unsigned threads;
	const char *port_file; /* NULL: none */
	unsigned upload_memory_mib; /* what uploads in flight may hold together */
	const char *s3_host;   /* the S3 front: NULL for none */
	const char *s3_port;
	const char *s3_port_file;
	const char *region;     /* a cache node of this region (cache.c): NULL for an origin */
	const char *origin;     /* its origin's URL */
	const char *region_key; /* the region's secret: NULL for DATA/region-key */
	uint64_t cache_size;    /* bytes the cache may hold beyond pinned xorbs */
	const char *origin_s3;  /* a node's S3 front: the origin's S3 URL, or NULL */
	/* background recompression (recompress.c): every recompress_every_s seconds
	 * (0: off), xorbs unused for recompress_age_s, at zstd level recompress_level */
	unsigned recompress_every_s;
	int64_t recompress_age_s;
	int recompress_level;
} cairn_server_config;

/* Background recompression (recompress.c); interval 0 starts nothing. */
int cairn__recompress_start(unsigned interval_s, int64_t min_age_s, int level);
void cairn__recompress_stop(void);
void cairn__recompress_metrics(FILE *f);

/*
 * Serve until SIGTERM or SIGINT (which the caller has blocked in every
 * thread), then finish requests in flight and stop. Returns 0 or a
 * negative CAIRN_E* code (message set).
 */
int cairn__server_run(const cairn_server_config *cfg);

/* ---- shared by the native front (http.c) and the S3 front (s3.c) ---- */

#include <microhttpd.h>

/* This thread's engine handles, opened on first use. Returns 0 or a CAIRN_E* code. */
int cairn__worker(cairn_repo **repo, cairn_meta **meta);

/*
 * The upload memory budget (cairn serve --upload-memory): reserve n bytes
 * for namespace ns ("" for anonymous) into *reserved; false when the budget
 * or the namespace's share is full (answer 503 SlowDown). Release all of
 * *reserved when the request ends.
 */
bool cairn__budget_take(const char *ns, uint64_t n, uint64_t *reserved);
void cairn__budget_release(const char *ns, uint64_t *reserved);

/* Count a finished request in /metrics. */
void cairn__metrics_record(unsigned status, uint64_t in, uint64_t out, double secs);
/* Seconds since t0 (CLOCK_MONOTONIC). */
double cairn__since(const struct timespec *t0);
/* A finished request: counted in /metrics and logged on stderr as
 * "FRONT METHOD URL STATUS BYTES_OUT TIMEms[ (aborted)]". */
void cairn__request_done(const char *front, const char *method, const char *url,
			 unsigned status, uint64_t in, uint64_t out, const struct timespec *t0,
			 bool whole);

/*
 * A "Range: bytes=..." header against size: 1 one satisfiable range
 * (*first, *len), 0 none or not understood (serve everything), -1
 * unsatisfiable.
 */
int cairn__parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *len);

/*
 * The reconstruction of file a region's cache node serves it from:
 * {"size": N, "terms": [[xorb hex, first chunk, end chunk, raw bytes], ...]}
 * (cache.h's cairn__cache_file_from_json). NULL with *rc on failure.
 */
typedef struct json_t json_t;
json_t *cairn__node_terms_json(cairn_repo *repo, const cairn_hash *file, int *rc);

/* a[0, n) == b[0, n), in time that does not depend on where they differ. */
bool cairn__same_text(const char *a, const char *b, size_t n);

/* A query argument, percent-decoded ('+' is a space: cairn__query_decode, route.h)
 * into out (cap bytes, NUL added), its length in *len (may be NULL); false if
 * absent, bad or too long. */
bool cairn__query_arg(struct MHD_Connection *c, const char *name, char *out, size_t cap,
		      size_t *len);

/* MHD's unescape callback that keeps URLs and arguments as sent. */
size_t cairn__keep_url(void *cls, struct MHD_Connection *c, char *s);

/*
 * A byte range served in pieces (piece.c): the range, and the buffer of
 * CAIRN__PIECE bytes holding [buf_off, buf_off + buf_len).
 */
#define CAIRN__PIECE (1u << 20)

typedef struct cairn__pieces {
	uint64_t first, len; /* the range served */
	uint8_t *buf;        /* CAIRN__PIECE bytes, the caller's to allocate and free */
	uint64_t buf_off;
	size_t buf_len;
} cairn__pieces;

/* Fill buf with the source's bytes [at, at + want); 0, or non-zero after logging why. */
typedef int (*cairn__fill_fn)(void *ctx, uint64_t at, size_t want, uint8_t *buf);

/* The body of MHD_create_response_from_callback: bytes counted into *bytes_out. */
ssize_t cairn__pieces_serve(cairn__pieces *p, uint64_t pos, char *out, size_t max,
			    cairn__fill_fn fill, void *ctx, uint64_t *bytes_out);

/* Fill from a cairn_reader (every chunk checked). Returns 0 or a CAIRN_E* code. */
int cairn__piece_from_reader(void *rd, uint64_t at, size_t want, uint8_t *buf);

/*
 * Failed authentications per client address (authlimit.c): _failed counts
 * one; _blocked is 0, or the seconds to wait when the address has failed
 * too often lately (its credentials are then refused unread: 429).
 */
int cairn__auth_blocked(struct MHD_Connection *c);
void cairn__auth_failed(struct MHD_Connection *c);
/* The same for an address as 16 bytes (IPv4 mapped into IPv6). */
int cairn__auth_blocked_at(const uint8_t addr[16]);
void cairn__auth_failed_at(const uint8_t addr[16]);
/* An address in text (IPv4 or IPv6) as 16 bytes; false if it is not one. */
bool cairn__addr_parse(const char *text, uint8_t out[16]);
/* The client's address of c as text ("" if MHD has none); out holds 46 bytes. */
void cairn__addr_text(struct MHD_Connection *c, char out[46]);

/*
 * Connections (conn.c, `cairn serve` options): one address may hold
 * cairn__per_ip_connections (0: any); a front holds cairn__max_connections
 * in all; one is closed after cairn__idle_timeout_s without a byte either
 * way, or when a request's line and headers take over
 * cairn__header_timeout_s (from the connection's start or its previous
 * response's end).
 */
extern unsigned cairn__per_ip_connections;
extern unsigned cairn__max_connections;

/*
 * No write in progress on any front, and none ended in the last quiet_ms
 * milliseconds: when background work (recompress.c) may use the disk and
 * the CPU without slowing uploads. A write is a PUT or POST whose caller
 * was authenticated with a right to write (cairn__write_begins, called by
 * each front once it knows who asks), counted until the request ends:
 * requests refused for want of a valid credential never count.
 */
bool cairn__writes_quiet(int64_t quiet_ms);
void cairn__write_begins(struct MHD_Connection *c, const char *method);
extern unsigned cairn__idle_timeout_s;
extern unsigned cairn__header_timeout_s;

/* Stop the thread that keeps the header deadline (after the daemons stopped). */
void cairn__conns_stop(void);

/* Connections open, refused and timed out, by front, as Prometheus text. */
void cairn__conn_metrics(FILE *out);

/*
 * A request's target (path and query, as sent) is at most
 * CAIRN__TARGET_MAX bytes; its headers at most CAIRN__HEADER_FIELDS_MAX
 * fields and CAIRN__HEADER_BYTES_MAX bytes of names and values together.
 * false (msg says why, in cap bytes) when over; the front answers in its
 * own format.
 */
#define CAIRN__TARGET_MAX 8192
#define CAIRN__HEADER_FIELDS_MAX 100
#define CAIRN__HEADER_BYTES_MAX 16384
bool cairn__target_ok(struct MHD_Connection *c, char *msg, size_t cap);
bool cairn__headers_ok(struct MHD_Connection *c, char *msg, size_t cap);

/* A cache node's S3 front (node_s3.c), reading through cfg->origin_s3. NULL on failure (said). */
struct MHD_Daemon *cairn__node_s3_start(const cairn_server_config *cfg);

/*
 * An MHD daemon on host:port (conn.c; what: "HTTP" or "S3", which also
 * says the format of the errors conn.c sends itself: JSON or S3's XML):
 * its own thread pool, requests kept as sent (cairn__keep_url), the
 * connection limits above; the bound port in *bound and, atomically, in
 * port_file (may be NULL). NULL on failure (said).
 */
struct MHD_Daemon *cairn__daemon_start(const char *what, const char *host, const char *port,
				       unsigned threads, MHD_AccessHandlerCallback on_request,
				       MHD_RequestCompletedCallback on_done,
				       const char *port_file, unsigned *bound);
/* The same, and on_uri sees each request's target as it came, before any
 * parsing; what it returns is the request's first *con_cls. */
typedef void *(*cairn__uri_fn)(void *cls, const char *uri, struct MHD_Connection *c);
struct MHD_Daemon *cairn__daemon_start_raw(const char *what, const char *host, const char *port,
					    unsigned threads, MHD_AccessHandlerCallback on_request,
					    MHD_RequestCompletedCallback on_done,
					    cairn__uri_fn on_uri, const char *port_file,
					    unsigned *bound);

/* Start the S3 front on cfg->s3_host:s3_port (writes cfg->s3_port_file). NULL on failure (said). */
struct MHD_Daemon *cairn__s3_start(const cairn_server_config *cfg);

#endif /* CAIRN_SERVER_INT_H */
