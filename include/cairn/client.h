/*
 * client.h - the HTTP client of a Cairn server's native API: who am I,
 * buckets (create, info, list, delete, settings), listing a bucket's tree,
 * streaming uploads and downloads of single objects, and the chunk
 * protocol (docs/api.md): uploads that send only the chunks the server
 * lacks, downloads rebuilt from xorb ranges, server-side copies.
 *
 * One cairn_client holds one libcurl easy handle, reused for every request
 * so the connection is kept alive between calls. A client is not thread
 * safe: use one per thread. (cairn_client_put_file and _get_file run
 * several requests at once on threads of their own, each with its own
 * connection; the caller's client is used by the calling thread only.)
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
#define CAIRN_CLIENT_KEY_MAX CAIRN_OBJECT_KEY_MAX /* object keys (cairn_key_valid) */
#define CAIRN_CLIENT_REGIONS_MAX 511 /* a bucket's keep-warm list, comma-separated */

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
	char regions[CAIRN_CLIENT_REGIONS_MAX + 1]; /* kept warm, comma-separated (info only) */
	uint64_t dedup_bytes; /* with the stats: distinct chunks, decoded */
} cairn_client_bucket;

/* One entry of a tree listing. Borrowed: valid during the callback only. */
typedef struct cairn_client_entry {
	bool is_dir;       /* a common prefix (path without its trailing '/') */
	const char *path;  /* NUL-terminated; key bytes, may be any UTF-8 */
	uint64_t size;     /* files only */
	const char *hash;  /* files only: 64 hex digits */
	int64_t mtime_ns;  /* files only */
} cairn_client_entry;

/*
 * What an upload did. hash and size are the object's; chunks is how many
 * chunks it has. new_chunks / new_bytes: chunks (and their raw bytes) that
 * had to be stored (streaming upload: as the server counted; chunk
 * protocol: those the client sent). stored_bytes: what the store grew by.
 * bytes_sent: request bodies that went on the wire, every try counted
 * (chunk protocol: dedup queries + xorbs + the commit). xorbs: xorbs sent.
 */
typedef struct cairn_client_put_result {
	char hash[65];
	uint64_t size, new_bytes, stored_bytes, chunks, new_chunks;
	uint64_t bytes_sent, xorbs;
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

/*
 * Read through region's cache node (docs/regions.md): reconstructions are
 * asked for with ?region=NAME, so their xorb URLs point at that node, and
 * it is the default region of the pre-warm calls. NULL or "" reads from
 * the origin. cairn_client_new starts from $CAIRN_REGION. EINVALID (not a
 * region name: lowercase letters, digits, '.', '_', '-', 1..96 bytes).
 */
CAIRN_API int cairn_client_set_region(cairn_client *c, const char *region);
/* The region set, or NULL. */
CAIRN_API const char *cairn_client_region(const cairn_client *c);

/*
 * A second client of the same endpoint and token, with its own connection:
 * what another thread uses. Errors as cairn_client_new.
 */
CAIRN_API int cairn_client_clone(cairn_client **out, const cairn_client *c);

/*
 * Ask c's calls in progress, on any thread (and those of its clones), to
 * stop: transfers abort and the calls return CAIRN_ECANCELED. It stays
 * set, failing every later call, until cancel is false again. What was
 * stopped leaves nothing half-written (uploads commit only whole).
 */
CAIRN_API void cairn_client_cancel(cairn_client *c, bool cancel);

/*
 * Bytes [offset, offset + len) of object key into buf (len at most 64
 * MiB); *got gets how many came (fewer at the object's end). The server
 * checks every chunk it serves. Returns 0, ENOTFOUND, EINVALID (offset
 * past the end, or len too big), EAUTH / EPERM, EIO.
 */
CAIRN_API int cairn_client_read_range(cairn_client *c, const char *ns, const char *name,
				      const char *key, uint64_t offset, size_t len, void *buf,
				      size_t *got);

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
 * The regions a bucket keeps warm: regions is a comma-separated list of
 * region names ("" for none); every object committed to the bucket from
 * then on is staged on those regions' cache nodes in the background.
 * EINVALID (a name the origin does not know), ENOTFOUND, EAUTH, EPERM.
 */
CAIRN_API int cairn_client_bucket_set_regions(cairn_client *c, const char *ns,
					      const char *name, const char *regions);

/*
 * A pre-warm job, as its region's cache node reports it. state: "queued",
 * "running", "waiting" (the origin cannot be reached: message says why;
 * the job goes on when it can), "done", "failed" or "released". files
 * and xorbs count what the job stages, *_done what is staged; bytes are
 * the xorbs' stored bytes, logical_bytes the files' sizes.
 */
typedef struct cairn_client_prewarm {
	char job[33];
	char region[CAIRN_CLIENT_NAME_MAX + 1];
	char bucket[2 * CAIRN_CLIENT_NAME_MAX + 2]; /* "NS/NAME" */
	char prefix[CAIRN_CLIENT_KEY_MAX + 1];
	char state[16];
	char message[512];
	uint64_t files, files_done, xorbs, xorbs_done, bytes, bytes_done, logical_bytes;
	double bytes_per_second; /* bytes_done over the time the job has run */
} cairn_client_prewarm;

/*
 * Stage every xorb of every object of NS/NAME whose key starts with prefix
 * ("" or NULL: all) on region's cache node and pin it there (region NULL:
 * the client's, cairn_client_set_region). The job runs on the node;
 * *out is its first report. EINVALID (no region given), ENOTFOUND (no
 * such bucket or region), EAUTH, EIO (the node cannot be reached).
 */
CAIRN_API int cairn_client_prewarm_start(cairn_client *c, const char *ns, const char *name,
					 const char *prefix, const char *region,
					 cairn_client_prewarm *out);
/* A job's progress (region NULL: the client's). ENOTFOUND, EAUTH, EIO. */
CAIRN_API int cairn_client_prewarm_get(cairn_client *c, const char *job, const char *region,
				       cairn_client_prewarm *out);
/* Unpin a job's xorbs (the node may evict them again); *out its last report. */
CAIRN_API int cairn_client_prewarm_release(cairn_client *c, const char *job,
					   const char *region, cairn_client_prewarm *out);

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

/* ---- the chunk protocol --------------------------------------------------------- */

typedef enum cairn_client_phase {
	CAIRN_CLIENT_HASHING,     /* chunking and hashing the local file */
	CAIRN_CLIENT_UPLOADING,   /* sending the chunks the server lacks, then the commit */
	CAIRN_CLIENT_DOWNLOADING, /* fetching and decoding xorb ranges */
} cairn_client_phase;

/* Where a transfer stands. Borrowed: valid during the callback only. */
typedef struct cairn_client_progress {
	cairn_client_phase phase;
	uint64_t done;    /* bytes of the file handled in this phase (uploading: deduped included) */
	uint64_t total;   /* the file's size */
	uint64_t deduped; /* uploading: bytes the server had already, not sent */
	uint64_t wire;    /* bytes on the wire so far: request bodies up, xorb bytes down */
} cairn_client_progress;

/*
 * Called from any of the transfer's threads, one call at a time, often
 * (the callee throttles its own output). Must not call into the client.
 */
typedef void (*cairn_client_progress_fn)(void *ctx, const cairn_client_progress *p);

typedef struct cairn_client_xfer_options {
	unsigned version;   /* CAIRN_CLIENT_XFER_OPTIONS_VERSION */
	unsigned parallel;  /* requests in flight: 0 is 4 for uploads, 6 for downloads; at most 16 */
	cairn_client_progress_fn progress; /* may be NULL */
	void *progress_ctx;
} cairn_client_xfer_options;

#define CAIRN_CLIENT_XFER_OPTIONS_VERSION 1
#define CAIRN_CLIENT_XFER_OPTIONS_INIT {CAIRN_CLIENT_XFER_OPTIONS_VERSION, 0, NULL, NULL}

/*
 * Upload the regular file behind fd as object key by the chunk protocol:
 * chunk and hash it here, ask the server which chunks it already has
 * (POST /v1/chunks/default, 8192 hashes a request), pack the others (each
 * once, in file order) into xorbs of at most 32 MiB and send them
 * (POST /v1/xorbs/default/HASH, `parallel` at once), then commit the file
 * by its chunk list (POST .../batch). The whole file is read with pread,
 * whatever fd's offset (left at the end). Memory: about 150 bytes per
 * chunk (one chunk per 64 KiB on average) plus one xorb per request in
 * flight. A file that changes while it is uploaded is not committed (EIO).
 * opts and out may be NULL.
 *
 * Xorb uploads and the commit are retried with backoff on connection
 * errors and 5xx (7 times; a 503's Retry-After is honoured, up to 10 s).
 * Xorbs already sent stay on the server when a later step fails; sending
 * them again costs nothing.
 *
 * Returns 0; EINVALID (not a regular file, bad names); ENOTFOUND (no such
 * bucket); EAUTH / EPERM (no token, read-only token, not the owner); EIO
 * (the network, or the file changed while it was read); EUNSUPPORTED (the
 * server does not speak the chunk protocol: use cairn_client_upload_fd);
 * ETOOBIG (a commit over the server's 64 MiB batch limit: about 1.2
 * million chunks, 80 GiB); ENOMEM.
 */
CAIRN_API int cairn_client_put_file(cairn_client *c, const char *ns, const char *name,
				    const char *key, int fd,
				    const cairn_client_xfer_options *opts,
				    cairn_client_put_result *out);

/* One file of cairn_client_put_files. */
typedef struct cairn_client_put_item {
	const char *key;          /* in: the object path */
	const char *path;         /* in: the local file */
	bool expect;              /* in: refuse the file unless it still has this size and mtime */
	uint64_t expect_size;
	int64_t expect_mtime_ns;
	int rc;                   /* out: 0 if committed, else why not (msg) */
	char msg[512];
	cairn_client_put_result res; /* out: hash, size, chunks; new_chunks and new_bytes count
				      * the chunks first met in this file; the rest are totals */
	int64_t mtime_ns;         /* out: the mtime committed with it */
} cairn_client_put_item;

/*
 * Upload files as one set, as cairn_client_put_file does one: the files
 * are hashed side by side (a big one with every core), the server is asked
 * once about every distinct chunk of the set, the chunks it lacks are
 * packed together into xorbs whatever file they come from, and the files
 * are committed in as few batches as the server's ceilings allow (10,000
 * lines, 64 MiB). Made for many small files: a folder of checkpoints costs
 * a few requests, not a few per file.
 *
 * Files fail alone: one that cannot be opened, is not a regular file,
 * changes while it is read (or differs from expect_size / expect_mtime_ns,
 * CAIRN_EEXISTS), or that the server refuses, gets rc and msg, and the
 * others are committed. Returns 0 when the set ran (look at every
 * item's rc), or what stopped it all (network, no bucket, no permission).
 * total (may be NULL): sums over the committed files, with bytes_sent,
 * stored_bytes and xorbs of the whole set. All files are open at once:
 * keep sets to a few hundred files.
 */
CAIRN_API int cairn_client_put_files(cairn_client *c, const char *ns, const char *name,
				     cairn_client_put_item *items, size_t n,
				     const cairn_client_xfer_options *opts,
				     cairn_client_put_result *total);

/*
 * Delete keys[0..n) from bucket ns/name in batches of 10,000 (each batch
 * all or nothing on the server). A key that is not there is not an error:
 * *missing (may be NULL) counts them. Returns 0, EINVALID (a bad key:
 * nothing sent), ENOTFOUND (no bucket), EAUTH / EPERM, EIO.
 */
CAIRN_API int cairn_client_delete_many(cairn_client *c, const char *ns, const char *name,
				       const char *const *keys, size_t n, size_t *missing);

/* What a download did. */
typedef struct cairn_client_get_result {
	char hash[65];          /* the file hash, verified */
	uint64_t size;
	uint64_t bytes_received; /* xorb bytes fetched, every try counted */
	uint64_t terms, fetches; /* reconstruction terms; ranged GETs made */
} cairn_client_get_result;

/*
 * Download object key into the file `path` by reconstruction: its file
 * hash and size (HEAD .../resolve/KEY), the terms (GET
 * /v1/reconstructions/HASH), then ranged GETs of the xorb ranges,
 * `parallel` at once, decoded as they arrive and written at their offsets
 * into a temporary file beside path (".NAME.cairn-XXXXXX"). Only when the
 * file hash recomputed from every chunk equals the object's is the file
 * fsynced and renamed over path; on any failure the temporary file is
 * removed and path is untouched. A server with no reconstruction for the
 * object (one without the chunk protocol) streams it whole instead
 * (GET .../resolve/KEY), and the file hash is checked all the same.
 * Memory: about 40 bytes per chunk and 100 per term, plus two chunk
 * buffers per request in flight. The signed URLs expire after an hour: a
 * download must finish within it. opts and out may be NULL.
 *
 * Returns 0; ENOTFOUND (no such object or bucket); EAUTH / EPERM;
 * ECORRUPT (the data does not decode, or does not hash to the object's
 * file hash: corrupt on the server or in transit); EIO (network, local
 * disk); ENOMEM.
 */
CAIRN_API int cairn_client_get_file(cairn_client *c, const char *ns, const char *name,
				    const char *key, const char *path,
				    const cairn_client_xfer_options *opts,
				    cairn_client_get_result *out);

/*
 * Make dst_key in bucket dst_ns/dst_name the same file as src_key in
 * src_ns/src_name, on the server (a batch "copy": no data moves). out (may
 * be NULL) gets the hash and size; its other fields are 0.
 * Returns 0; ENOTFOUND (source object or either bucket); EAUTH / EPERM
 * (writing dst needs a write token of its owner; the source must be
 * readable); EINVALID.
 */
CAIRN_API int cairn_client_copy(cairn_client *c, const char *src_ns, const char *src_name,
				const char *src_key, const char *dst_ns, const char *dst_name,
				const char *dst_key, cairn_client_put_result *out);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_CLIENT_H */
