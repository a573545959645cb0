/*
 * client.h - the HTTP client of a Cairn server's native API: who am I,
 * buckets (create, info, list, delete, settings), listing a bucket's tree,
 * and streaming uploads and downloads of single objects.
 *
 * One cairn_client holds one libcurl easy handle, reused for every request
 * so the connection is kept alive between calls. A client is not thread
 * safe: use one per thread.
 *
 * Errors: every function returns 0 or a negative CAIRN_E* code with the
 * message in cairn_error_last(). Server answers map back as 400 EINVALID,
 * 401 EAUTH, 403 EPERM, 404 ENOTFOUND, 409 EEXISTS, 413 ETOOBIG, anything
 * else EIO; the message is the server's own. A server that cannot be
 * reached is CAIRN_EIO. Idempotent requests (GET, PUT, DELETE; uploads
 * from a seekable fd) are retried 3 times on connection errors and 5xx
 * answers, after 0.2, 0.4 and 0.8 s; other requests only when the
 * connection could not be made at all (nothing was sent).
 *
 * Ceilings: a JSON answer is read up to CAIRN_CLIENT_JSON_MAX bytes; an
 * error body during a download up to 64 KiB. Object bodies stream between
 * the fd and the socket and are never held whole.
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include "common.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_CLIENT_JSON_MAX (8u << 20)
#define CAIRN_CLIENT_DEFAULT_ENDPOINT "http://127.0.0.1:8700"
#define CAIRN_CLIENT_NAME_MAX 96 /* namespace and bucket names (the server's CAIRN_NAME_MAX) */
#define CAIRN_CLIENT_KEY_MAX 1024 /* object keys (the server's CAIRN_KEY_MAX) */

typedef struct cairn_client cairn_client;

/* The caller of a token, from GET /api/whoami. */
typedef struct cairn_client_whoami {
	char user[CAIRN_CLIENT_NAME_MAX + 1];
	char scope[8]; /* "read", "write" or "admin" */
} cairn_client_whoami;

/* A bucket; the stats are filled by cairn_client_bucket_info only. */
typedef struct cairn_client_bucket {
	char ns[CAIRN_CLIENT_NAME_MAX + 1];
	char name[CAIRN_CLIENT_NAME_MAX + 1];
	bool is_private;
	int64_t created_ns;
	bool has_stats;
	uint64_t objects, logical_bytes, stored_bytes, chunks, xorbs;
} cairn_client_bucket;

/* One entry of a tree listing. Borrowed: valid during the callback only. */
typedef struct cairn_client_entry {
	bool is_dir;       /* a common prefix (path without its trailing '/') */
	const char *path;  /* NUL-terminated; key bytes, may be any UTF-8 */
	uint64_t size;     /* files only */
	const char *hash;  /* files only: 64 hex digits */
	int64_t mtime_ns;  /* files only */
} cairn_client_entry;

/* What the server reports for a committed upload. */
typedef struct cairn_client_put_result {
	char hash[65];
	uint64_t size, new_bytes, stored_bytes, chunks, new_chunks;
} cairn_client_put_result;

/* Callbacks: return 0 to go on; anything else stops the walk and is returned. */
typedef int (*cairn_client_bucket_cb)(void *ctx, const cairn_client_bucket *b);
typedef int (*cairn_client_entry_cb)(void *ctx, const cairn_client_entry *e);

/*
 * A client of the server at endpoint ("http://host:port", no trailing path
 * needed), authenticating with token (NULL: anonymous). Both strings are
 * copied. *out belongs to the caller: cairn_client_free. Errors: EINVALID
 * (empty endpoint), ENOMEM, EIO (libcurl would not start).
 */
CAIRN_API int cairn_client_new(cairn_client **out, const char *endpoint, const char *token);
CAIRN_API void cairn_client_free(cairn_client *c);

/* The endpoint the client talks to. Borrowed: lives as long as c. */
CAIRN_API const char *cairn_client_endpoint(const cairn_client *c);

/* Who the token belongs to. EAUTH without a token or with a bad one. */
CAIRN_API int cairn_client_whoami_get(cairn_client *c, cairn_client_whoami *out);

/*
 * Create bucket ns/name. EEXISTS if it exists (0 with exist_ok), EAUTH /
 * EPERM without the right to write in ns, EINVALID for a bad name.
 */
CAIRN_API int cairn_client_bucket_create(cairn_client *c, const char *ns, const char *name,
					 bool is_private, bool exist_ok);

/* A bucket with its stats. ENOTFOUND (also for a private bucket of someone else). */
CAIRN_API int cairn_client_bucket_info(cairn_client *c, const char *ns, const char *name,
				       cairn_client_bucket *out);

/* The buckets the caller may see, in namespace ns (NULL: all), to cb. */
CAIRN_API int cairn_client_bucket_list(cairn_client *c, const char *ns,
				       cairn_client_bucket_cb cb, void *ctx);

/*
 * Delete a bucket. Without force a bucket holding objects is refused with
 * EEXISTS ("not empty"); with missing_ok a missing bucket is success.
 */
CAIRN_API int cairn_client_bucket_delete(cairn_client *c, const char *ns, const char *name,
					 bool force, bool missing_ok);

/* Make a bucket private or public. ENOTFOUND, EAUTH, EPERM. */
CAIRN_API int cairn_client_bucket_set_private(cairn_client *c, const char *ns,
					      const char *name, bool is_private);

/*
 * The entries under folder prefix ("" or NULL: the root; no trailing '/')
 * in key order: one level (folders as is_dir entries) or, with recursive,
 * every object below. Pages through the server's cursor internally. cb may
 * call other functions of the same client.
 */
CAIRN_API int cairn_client_list(cairn_client *c, const char *ns, const char *name,
				const char *prefix, bool recursive, cairn_client_entry_cb cb,
				void *ctx);

/*
 * Upload everything readable from fd (from its current offset to EOF) as
 * object key, streaming. The object is replaced atomically by the server
 * once the whole body arrived; a failed upload leaves the old state. out
 * may be NULL. Retried only when fd is seekable.
 */
CAIRN_API int cairn_client_upload_fd(cairn_client *c, const char *ns, const char *name,
				     const char *key, int fd, cairn_client_put_result *out);

/*
 * Write object key to fd, streaming; *size (may be NULL) gets the bytes
 * written. A failure after bytes were written is returned as such (EIO):
 * the caller discards what fd holds. Retried only before the first byte.
 */
CAIRN_API int cairn_client_download_to_fd(cairn_client *c, const char *ns, const char *name,
					  const char *key, int fd, uint64_t *size);

/* Delete object key. ENOTFOUND if there is none. */
CAIRN_API int cairn_client_delete_object(cairn_client *c, const char *ns, const char *name,
					 const char *key);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_CLIENT_H */
