/*
 * cache.h - a region's cache node (cache.c): `cairn serve --region NAME
 * --origin URL`. It keeps verified copies of the origin's xorbs in
 * DATA/cache/, serves the signed xorb ranges of reconstructions the origin
 * pointed at this region, fills misses from the origin, evicts the least
 * recently used xorbs beyond --cache-size (never pinned ones), and runs
 * pre-warm jobs that stage and pin every xorb of a bucket prefix.
 *
 * The node and the origin share the region's secret (made by `cairn admin
 * regions add`): the origin signs the xorb URLs it hands out for the
 * region and the jobs it sends; the node signs its fills.
 */
#ifndef CAIRN_SERVER_CACHE_H
#define CAIRN_SERVER_CACHE_H

#include "cairn/hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CAIRN__REGION_KEY_LEN 32

typedef struct cairn__cache_config {
	const char *region;   /* this node's region name */
	const char *origin;   /* the origin's base URL */
	const char *data_dir;
	const char *key_file; /* the region's secret, 64 hex digits; NULL: DATA/region-key */
	uint64_t max_bytes;   /* --cache-size */
} cairn__cache_config;

/* Open the cache and start the job worker. Returns 0 or a CAIRN_E* code (said on stderr). */
int cairn__cache_start(const cairn__cache_config *cfg);
/* Stop the worker and close (in-flight jobs resume at the next start). */
void cairn__cache_stop(void);
/* Is this server a cache node? */
bool cairn__cache_on(void);
/* Its region's name. */
const char *cairn__cache_region(void);
/*
 * What a node's MAC on a forwarded S3 request covers (node_s3.c, checked by
 * s3.c): a digest of the method, the reader's address as text (sent as
 * X-Cairn-Client) and the reader's credential (Authorization, or a
 * presigned URL's signature; NULL for an anonymous read).
 */
void cairn__node_s3_subject(char out[65], const char *method, const char *client,
			    const char *credential);
/* cairn__region_sign with this node's region key. */
void cairn__cache_sign(char out[65], const char *what, const char *subject, const char *exp);

/*
 * A signed range [start, end] of xorb (the query of a region's fetch URL)
 * in stored form `form` (&form=; NULL: the xorb as it came): on success
 * (200) *fd is an open descriptor of the verified cached copy, of that
 * form, the caller's to close. Otherwise an HTTP status, with *msg.
 */
unsigned cairn__cache_xorb(const cairn_hash *xorb, const cairn_hash *form, uint64_t start,
			   uint64_t end, int64_t exp, const char *sig, int *fd, const char **msg);

/*
 * A whole file served by the node (resolve downloads, S3 GETs): its
 * reconstruction, then its bytes from the cached xorbs (fetched as they
 * are missed), every chunk checked as it is decoded.
 *  open: for GET /v1/files/HEX?exp=&sig= (the origin's MAC over
 *    "file:HEX:EXP"): asks the origin for the reconstruction. An HTTP
 *    status (200 with *out) or *msg.
 *  from_json: from a reconstruction already at hand ({"size": N, "terms":
 *    [[xorb, first, end, raw_len], ...]}, what the origin sends).
 *  read: a cairn__fill_fn over the file's bytes.
 */
typedef struct cairn__node_file cairn__node_file;
typedef struct json_t json_t;
unsigned cairn__cache_file_open(const char *hex, const char *exp, const char *sig,
				cairn__node_file **out, const char **msg);
int cairn__cache_file_from_json(json_t *v, cairn__node_file **out, const char **msg);
uint64_t cairn__cache_file_size(const cairn__node_file *f);
int cairn__cache_file_read(void *f, uint64_t at, size_t want, uint8_t *buf);
void cairn__cache_file_close(cairn__node_file *f);

/*
 * Pre-warm jobs. Each returns an HTTP status and, for 2xx, *json (malloc'd
 * JSON text) or, otherwise, *msg.
 *  post: the origin's signed job (X-Cairn-Exp, X-Cairn-Sig over the body);
 *  get: a job's progress (what post and release answer);
 *  status: get, for the origin's signed request ("status", the job id);
 *  release: unpin a job's xorbs (signed by the origin).
 */
unsigned cairn__cache_job_post(const char *body, size_t len, const char *exp, const char *sig,
			       char **json, const char **msg);
unsigned cairn__cache_job_get(const char *job, char **json, const char **msg);
unsigned cairn__cache_job_status(const char *job, const char *exp, const char *sig, char **json,
				 const char **msg);
unsigned cairn__cache_job_release(const char *job, const char *exp, const char *sig,
				  char **json, const char **msg);

/* Lines for /metrics: hits, fills, bytes, evictions. */
void cairn__cache_metrics(FILE *f);

/*
 * The region MAC shared by the origin and its nodes: 64 hex digits of
 * keyed BLAKE3 over msg.
 */
void cairn__region_mac(char out[65], const uint8_t key[CAIRN__REGION_KEY_LEN], const char *msg,
		       size_t len);

/*
 * The region MAC of "what:subject:exp" (exp: decimal seconds), what both
 * sides sign and check: a node's fills ("fill", the xorb's hex), the
 * origin's jobs ("job", cairn__body_digest of the body) and releases
 * ("release", the job id). check: the MAC matches and exp is not past.
 */
void cairn__region_sign(char out[65], const uint8_t key[CAIRN__REGION_KEY_LEN], const char *what,
			const char *subject, const char *exp);
bool cairn__region_check(const uint8_t key[CAIRN__REGION_KEY_LEN], const char *what,
			 const char *subject, const char *exp, const char *sig);
/* 64 hex digits of BLAKE3 over body. */
void cairn__body_digest(char out[65], const void *body, size_t len);

/* The MAC of a fetch URL for xorb bytes [start, end] until exp (the origin's own URLs too). */
void cairn__url_mac(char out[65], const uint8_t key[32], const cairn_hash *xorb, uint64_t start,
		    uint64_t end, int64_t exp);

/*
 * The subject a node's fill is signed over: the xorb's hex, or
 * "XORBHEX.FORMHEX" for a given stored form (form not NULL).
 */
#define CAIRN__FILL_SUBJECT_LEN (2 * CAIRN_HASH_HEX_LEN + 1)
void cairn__fill_subject(char out[CAIRN__FILL_SUBJECT_LEN + 1], const cairn_hash *xorb,
			 const cairn_hash *form);

/*
 * What a fetch URL for stored form `form` of xorb is MAC'd over in place
 * of the xorb: both, keyed together, so a URL for one form never serves
 * another, nor the xorb as it came.
 */
void cairn__form_url_id(cairn_hash *out, const cairn_hash *xorb, const cairn_hash *form);

#endif /* CAIRN_SERVER_CACHE_H */
