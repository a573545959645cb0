/*
 * sys/store.h - the xorb store interface: where serialized xorbs live.
 *
 * The core only ever sees this table of functions, so a store is a
 * directory today (cairn_store_local_open) and any S3-compatible service
 * later, without the core changing (the libgit2 odb_backend pattern).
 *
 * Xorbs are immutable and named by their xorb hash. A store never checks
 * contents (the core verifies every chunk it reads); it guarantees that a
 * put that returned 0 is durable (survives kill -9 and power loss) and
 * atomic (a reader sees the whole xorb or none of it).
 *
 * Thread safety: every function may be called from many threads at once.
 */
#ifndef CAIRN_SYS_STORE_H
#define CAIRN_SYS_STORE_H

#include "../common.h"
#include "../hash.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_STORE_VERSION 1

typedef struct cairn_store cairn_store;

/*
 * Called once per stored xorb with its size and when it was last written
 * (ns since the epoch; GC spares recent unrecorded xorbs, which may belong
 * to an upload in progress). Return non-zero to stop (that value is returned).
 */
typedef int (*cairn_store_list_fn)(void *ctx, const cairn_hash *xorb, uint64_t size,
				   int64_t mtime_ns);

struct cairn_store {
	unsigned version; /* CAIRN_STORE_VERSION */

	/*
	 * Store a whole xorb durably and atomically. Storing a name that
	 * exists already succeeds without rewriting it (xorbs are immutable).
	 * Returns 0, CAIRN_EIO (message names the OS error: ENOSPC, EIO...)
	 * or CAIRN_ENOMEM. On error nothing is left under the name.
	 */
	int (*put)(cairn_store *s, const cairn_hash *xorb, const void *data, size_t len);

	/*
	 * Read len bytes at offset off of a xorb into out. Returns 0;
	 * CAIRN_ENOTFOUND; CAIRN_ECORRUPT if the xorb is shorter than
	 * off + len; CAIRN_EIO.
	 */
	int (*read)(cairn_store *s, const cairn_hash *xorb, uint64_t off, size_t len, void *out);

	/* The size of a stored xorb. Returns 0, CAIRN_ENOTFOUND or CAIRN_EIO. */
	int (*size)(cairn_store *s, const cairn_hash *xorb, uint64_t *out);

	/* Remove a xorb. Returns 0 (also if absent) or CAIRN_EIO. */
	int (*remove)(cairn_store *s, const cairn_hash *xorb);

	/* Every stored xorb, in no particular order. Returns 0, fn's value or CAIRN_EIO. */
	int (*list)(cairn_store *s, cairn_store_list_fn fn, void *ctx);

	/* Release everything; the table itself too. */
	void (*close)(cairn_store *s);
};

/*
 * A store in a local directory: dir/ab/<64 hex digits> (ab = the first two
 * digits). Writes go to dir/../tmp (or dir/.tmp) first, are fsynced,
 * renamed into place, and the directory is fsynced. Opening sweeps
 * leftover temporary files. Creates dir if needed.
 * Returns 0, CAIRN_EIO or CAIRN_ENOMEM. Close with s->close(s).
 */
CAIRN_API int cairn_store_local_open(cairn_store **out, const char *dir);

/*
 * A store in an S3-compatible object store: each xorb is the object
 * PREFIX/xorbs/<64 hex digits> of bucket, reached path-style at endpoint
 * ("http(s)://host[:port]") and signed with AWS Signature Version 4.
 * Nothing is sent until the first call. Returns 0, CAIRN_EINVALID (a
 * missing or malformed field) or CAIRN_ENOMEM. Close with s->close(s).
 */
typedef struct cairn_store_s3_config {
	const char *endpoint;
	const char *bucket;
	const char *prefix;        /* NULL or "" for none */
	const char *region;        /* NULL: us-east-1 */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL unless the credentials are temporary */
} cairn_store_s3_config;

CAIRN_API int cairn_store_s3_open(cairn_store **out, const cairn_store_s3_config *cfg);

/*
 * The S3 store of url, "s3://BUCKET[/PREFIX]", at endpoint (NULL: AWS,
 * https://s3.REGION.amazonaws.com). Credentials come from
 * credentials_file when given (AWS's format: aws_access_key_id,
 * aws_secret_access_key, aws_session_token, region; the first section or
 * [default]), else from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN; the region from the file, else AWS_REGION or
 * AWS_DEFAULT_REGION, else us-east-1. Returns 0, CAIRN_EINVALID (with
 * what is missing) or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_store_open_url(cairn_store **out, const char *url, const char *endpoint,
				   const char *credentials_file);

/*
 * Copy every xorb of from into to, each checked whole (its footer, every
 * chunk, its name) before it is written and its size read back after; a
 * xorb already in to with the same size is skipped, so running it again
 * after a stop goes on. progress (may be NULL) after each xorb, with the
 * counts so far and the number in from. Returns 0 or the first error
 * (CAIRN_ECORRUPT for a xorb of from that does not check: nothing is
 * written for it).
 */
typedef struct cairn_store_copy_result {
	uint64_t total;   /* xorbs in the source */
	uint64_t copied;  /* written to the destination */
	uint64_t skipped; /* there already */
	uint64_t bytes;   /* bytes written */
} cairn_store_copy_result;
typedef void (*cairn_store_copy_fn)(void *ctx, const cairn_store_copy_result *so_far,
				    uint64_t total);
CAIRN_API int cairn_store_copy(cairn_store *from, cairn_store *to, cairn_store_copy_fn progress,
			       void *ctx, cairn_store_copy_result *out);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_SYS_STORE_H */
