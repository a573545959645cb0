/*
 * body.h - the native API's JSON request bodies (http.c), read and
 * checked before anything acts on them: a bucket's "private" and
 * "regions" settings, the batched dedup query, a pre-warm request, and
 * the NDJSON lines of a batch. Pure functions over the body's bytes (which
 * need no NUL after them); jansson parses, these check what it returns.
 * No I/O, no global state but a thread's message buffer; thread safe.
 * tests/fuzz/fuzz_body.c fuzzes them.
 */
#ifndef CAIRN_SERVER_BODY_H
#define CAIRN_SERVER_BODY_H

#include "cairn/repo.h"
#include "cairn/sys/meta.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CAIRN__QUERY_MAX 8192    /* hashes per dedup query */
#define CAIRN__BATCH_LINES 10000 /* lines per batch */

/*
 * The "private" member of a JSON body: 1 true, 0 false, -1 absent (or no
 * body at all), -2 bad (the body is not a JSON object, or "private" not a
 * boolean).
 */
int cairn__body_private(const char *body, size_t len);

/* Does the origin know region name? 0, CAIRN_ENOTFOUND, or another CAIRN_E* code. */
typedef int (*cairn__region_known_fn)(void *ctx, const char *name);

/*
 * The keep-warm list of a settings body ({"regions": ["eu", ...]}) into
 * out, comma-separated, each a region known says exists, none twice.
 * Returns 1: given; 0: absent (or the body does not parse); or a negative
 * CAIRN_E* code: CAIRN_EINVALID with *why (a thread's buffer, or static),
 * or known's code.
 */
int cairn__body_regions(const char *body, size_t len, char out[CAIRN_REGIONS_MAX + 1],
			const char **why, cairn__region_known_fn known, void *ctx);

/*
 * A dedup query {"chunks": [hash, ...]}: at most CAIRN__QUERY_MAX hashes
 * into *out (malloc'd, the caller's to free; at least one element is
 * allocated), their number in *n. Returns 0, CAIRN_EINVALID with *why, or
 * CAIRN_ENOMEM.
 */
int cairn__body_chunks(const char *body, size_t len, cairn_hash **out, size_t *n,
		       const char **why);

/*
 * A pre-warm request {"prefix": "...", "region": "NAME"} ("prefix"
 * optional: "" then). On success *v is the parsed body (the caller's to
 * json_decref) and *prefix, *region point into it. Returns 0, or
 * CAIRN_EINVALID (*v NULL).
 */
int cairn__body_prewarm(const char *body, size_t len, json_t **v, const char **prefix,
			const char **region);

/* ---- batches (POST /api/buckets/NS/NAME/batch) ---- */

/* One parsed line: the op and what it owns. */
typedef struct cairn__batch_line {
	cairn_batch_op op;
	json_t *json; /* the strings op points into */
	cairn_chunk_ref *chunks;
	char key[CAIRN_KEY_MAX + 1];
	char src_ns[CAIRN_NAME_MAX + 1], src_name[CAIRN_NAME_MAX + 1];
} cairn__batch_line;

typedef struct cairn__batch {
	cairn__batch_line *lines;
	cairn_batch_op *ops; /* ops[i] is lines[i].op, for cairn_batch_apply */
	size_t n;
} cairn__batch;

/*
 * Read a batch body: one flat JSON object per line, blank lines skipped,
 * each {"op": "add" | "copy" | "delete", "path": KEY, ...}; a copy's
 * source bucket is ns/name unless "src_bucket" names one. On success *b
 * holds the ops, in order. Returns 0; CAIRN_ETOOBIG (more than
 * CAIRN__BATCH_LINES lines); CAIRN_ENOMEM; or CAIRN_EINVALID with msg
 * (msgcap bytes) saying "line N: what is wrong". *b is always to be freed
 * with cairn__batch_free.
 */
int cairn__batch_read(cairn__batch *b, const char *body, size_t len, const char *ns,
		      const char *name, char *msg, size_t msgcap);

void cairn__batch_free(cairn__batch *b);

/* The line number (from 1, blank lines counted) of body's op number op (from 0). */
size_t cairn__batch_line_of(const char *body, size_t len, size_t op);

#endif /* CAIRN_SERVER_BODY_H */
