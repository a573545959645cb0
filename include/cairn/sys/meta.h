/*
 * sys/meta.h - the metadata interface: buckets, objects, files (how to
 * rebuild them from xorb chunks), xorbs and the chunk index that makes
 * deduplication work.
 *
 * The core sees only this table of functions: SQLite today
 * (cairn_meta_sqlite_open), PostgreSQL later. Every mutation happens
 * inside a write transaction (begin(true) ... commit); a transaction that
 * commit() acknowledged survives kill -9 and power loss. Reads may run in
 * a read transaction (begin(false)) for a consistent view, or outside any
 * transaction (each call then sees committed data).
 *
 * Ownership: rows handed to callbacks are borrowed for the call. Arrays a
 * function allocates for its caller are freed with free().
 *
 * Thread safety: one cairn_meta per thread; open more for more threads
 * (SQLite: several handles on the same file is the normal way).
 */
#ifndef CAIRN_SYS_META_H
#define CAIRN_SYS_META_H

#include "../common.h"
#include "../hash.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_META_VERSION 1

/* Ceilings the metadata enforces (CAIRN_EINVALID beyond them). */
#define CAIRN_NAME_MAX 96    /* namespace and bucket names: [a-z0-9][a-z0-9._-]* */
#define CAIRN_KEY_MAX CAIRN_OBJECT_KEY_MAX /* object keys: cairn_key_valid */
#define CAIRN_CTYPE_MAX 255  /* content types */
#define CAIRN_SCOPE_MAX 5    /* token scopes: "read", "write", "admin" */
#define CAIRN_META_PARTS_MAX 10000 /* parts of a multipart object (S3's ceiling) */
/*
 * User metadata as stored: JSON object text. S3's own limit (2 KiB of
 * names and values, CAIRN_USER_META_MAX in repo.h) is the engine's to
 * check; any compact text of metadata within it fits in this.
 */
#define CAIRN_USER_META_TEXT_MAX 20480
#define CAIRN_S3_KEY_MAX 128    /* S3 access key ids: 1..128 of [A-Za-z0-9._-] */
#define CAIRN_S3_SECRET_MAX 128 /* their secrets: 1..128 printable ASCII, no space */
#define CAIRN_REGION_URL_MAX 512 /* a region's base URL */
#define CAIRN_REGIONS_MAX 511    /* a bucket's keep-warm regions, comma-separated */

typedef struct cairn_meta cairn_meta;

typedef struct cairn_bucket_row {
	int64_t id;
	char ns[CAIRN_NAME_MAX + 1];
	char name[CAIRN_NAME_MAX + 1];
	bool is_private;
	int64_t created_ns; /* server time, ns since the epoch */
	char regions[CAIRN_REGIONS_MAX + 1]; /* kept warm: region names, comma-separated */
} cairn_bucket_row;

typedef struct cairn_object_row {
	const char *key;       /* bytes, key_len of them (not NUL-terminated) */
	size_t key_len;
	cairn_hash file;       /* xet file hash */
	uint64_t size;
	int64_t mtime_ns;      /* the client's mtime of the source */
	int64_t created_ns;    /* when this version was committed */
	const char *content_type; /* NUL-terminated, or NULL */
	bool has_md5;
	uint8_t md5[16];
	unsigned parts;        /* a multipart object's part count, else 0 */
	const uint8_t *part_sizes; /* its parts' sizes, u64 little endian each, or NULL
				    * (borrowed like content_type) */
	const char *user_meta; /* JSON object text, or NULL (borrowed like content_type) */
} cairn_object_row;

/* Chunks [first, end) of a xorb, raw_len bytes once decoded. */
typedef struct cairn_term {
	cairn_hash xorb;
	uint32_t first, end;
	uint64_t raw_len;
} cairn_term;

/* One chunk of a stored xorb. */
typedef struct cairn_chunk_row {
	cairn_hash hash;
	uint64_t offset;     /* of its header in the serialized xorb */
	uint32_t packed_len; /* header included */
	uint32_t raw_len;
} cairn_chunk_row;

typedef struct cairn_xorb_row {
	cairn_hash hash;
	uint64_t stored;  /* serialized bytes */
	uint64_t raw;     /* decoded bytes of all chunks */
	uint32_t chunks;
	int64_t created_ns;
	int64_t used_ns;  /* last time an upload was told it exists */
	/*
	 * Its stored form: generation 0 is the xorb as it came, stored under
	 * its hash; each recompression makes the next generation, stored under
	 * a name of its own (lib/core/repack.c). xorb_put ignores both.
	 */
	uint32_t gen;
	cairn_hash name;
} cairn_xorb_row;

typedef int (*cairn_meta_bucket_fn)(void *ctx, const cairn_bucket_row *row);
typedef int (*cairn_meta_object_fn)(void *ctx, const cairn_object_row *row);
typedef int (*cairn_meta_xorb_fn)(void *ctx, const cairn_xorb_row *row);
typedef int (*cairn_meta_file_fn)(void *ctx, const cairn_hash *file, uint64_t size);

struct cairn_meta {
	unsigned version; /* CAIRN_META_VERSION */

	/* --- transactions: not nested. Returns 0 or CAIRN_EIO. --- */
	int (*begin)(cairn_meta *m, bool write);
	int (*commit)(cairn_meta *m);
	void (*rollback)(cairn_meta *m);

	/* --- buckets --- */
	/* Returns 0 (*id set), CAIRN_EEXISTS, CAIRN_EINVALID (bad name). */
	int (*bucket_create)(cairn_meta *m, const char *ns, const char *name, bool is_private,
			     int64_t now_ns, int64_t *id);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*bucket_get)(cairn_meta *m, const char *ns, const char *name, cairn_bucket_row *out);
	/* Buckets of ns (all if ns is NULL), ordered by (ns, name). */
	int (*bucket_list)(cairn_meta *m, const char *ns, cairn_meta_bucket_fn fn, void *ctx);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*bucket_set_private)(cairn_meta *m, int64_t id, bool is_private);
	/* regions: names, comma-separated, at most CAIRN_REGIONS_MAX bytes ("" for none).
	 * Returns 0, CAIRN_ENOTFOUND, CAIRN_EINVALID (too long). */
	int (*bucket_set_regions)(cairn_meta *m, int64_t id, const char *regions);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*bucket_get_by_id)(cairn_meta *m, int64_t id, cairn_bucket_row *out);
	/* Delete a bucket and every object in it. Returns 0 or CAIRN_ENOTFOUND. */
	int (*bucket_delete)(cairn_meta *m, int64_t id);
	/* Objects and their logical bytes in a bucket. */
	int (*bucket_totals)(cairn_meta *m, int64_t id, uint64_t *objects, uint64_t *bytes);

	/* --- objects --- */
	/* Insert or replace (bucket, key). The file must exist (file_put). */
	int (*object_put)(cairn_meta *m, int64_t bucket, const cairn_object_row *row);
	/*
	 * Returns 0 or CAIRN_ENOTFOUND. out->key, out->content_type and
	 * out->user_meta point into storage owned by the meta: valid until its
	 * next call.
	 */
	int (*object_get)(cairn_meta *m, int64_t bucket, const char *key, size_t key_len,
			  cairn_object_row *out);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*object_delete)(cairn_meta *m, int64_t bucket, const char *key, size_t key_len);
	/*
	 * Objects whose key starts with prefix (prefix_len bytes; 0 = all) and
	 * sorts after `after` (after_len bytes; NULL = from the start), in key
	 * byte order, at most limit of them (0 = no limit).
	 */
	int (*object_list)(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			   const char *after, size_t after_len, size_t limit, cairn_meta_object_fn fn,
			   void *ctx);

	/* --- files: a file hash and the terms that rebuild its bytes --- */
	/* Record a file if not there already. Every term's xorb must exist. */
	int (*file_put)(cairn_meta *m, const cairn_hash *file, uint64_t size,
			const cairn_term *terms, size_t n, int64_t now_ns);
	/* Returns 0 (*terms malloc'd, *n set) or CAIRN_ENOTFOUND. */
	int (*file_get)(cairn_meta *m, const cairn_hash *file, uint64_t *size, cairn_term **terms,
			size_t *n);
	int (*file_list)(cairn_meta *m, cairn_meta_file_fn fn, void *ctx);

	/* --- xorbs and the chunk index --- */
	/* Record a stored xorb and its chunks (indexed for dedup), if not there. */
	int (*xorb_put)(cairn_meta *m, const cairn_xorb_row *row, const cairn_chunk_row *chunks,
			size_t n);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*xorb_get)(cairn_meta *m, const cairn_hash *xorb, cairn_xorb_row *out);
	/*
	 * Chunks [first, end) of a xorb into out[end - first], and the name its
	 * stored form has now (*name; may be NULL), which those offsets are
	 * into. CAIRN_ENOTFOUND if any is missing.
	 */
	int (*xorb_chunks)(cairn_meta *m, const cairn_hash *xorb, uint32_t first, uint32_t end,
			   cairn_chunk_row *out, cairn_hash *name);
	/* Mark a xorb as just promised to an upload (its used_ns = now). */
	int (*xorb_touch)(cairn_meta *m, const cairn_hash *xorb, int64_t now_ns);
	int (*xorb_list)(cairn_meta *m, cairn_meta_xorb_fn fn, void *ctx);
	/* Where a chunk is stored (any one copy). Returns 0 or CAIRN_ENOTFOUND. */
	int (*chunk_lookup)(cairn_meta *m, const cairn_hash *chunk, cairn_hash *xorb,
			    uint32_t *index);

	/*
	 * Garbage collection, inside a write transaction: delete files that no
	 * object references and that were created before cutoff_ns, then xorbs
	 * that no file references, created and last used before cutoff_ns
	 * (with their chunk index entries). fn is called for each deleted xorb
	 * so the caller can remove it from the store after commit.
	 * *files_deleted receives the number of files deleted.
	 */
	int (*gc)(cairn_meta *m, int64_t cutoff_ns, cairn_meta_xorb_fn fn, void *ctx,
		  uint64_t *files_deleted);
	/*
	 * Recompression, in a write transaction: xorb's stored form moves from
	 * generation old_gen to gen, stored as `name` (stored bytes), with its
	 * chunks where `chunks` says (n rows: every chunk, the same hashes and
	 * raw lengths, new offsets and packed lengths). The old form's name is
	 * retired at now_ns (unless name is the old name: a form kept as it
	 * was, only marked as done): readers that looked it up before may still read
	 * it until retired_take removes it. Returns 0; CAIRN_ENOTFOUND (the
	 * xorb is gone, or no longer at old_gen: nothing changed);
	 * CAIRN_EINVALID (rows that do not describe the xorb).
	 */
	int (*xorb_repack)(cairn_meta *m, const cairn_hash *xorb, uint32_t old_gen, uint32_t gen,
			   const cairn_hash *name, uint64_t stored, const cairn_chunk_row *chunks,
			   size_t n, int64_t now_ns);
	/*
	 * What a name in the store is to the metadata: 0 a xorb's current
	 * stored form; 1 a retired one (*retired_ns set; may be NULL);
	 * CAIRN_ENOTFOUND neither (an orphan).
	 */
	int (*name_state)(cairn_meta *m, const cairn_hash *name, int64_t *retired_ns);
	/*
	 * In a write transaction: forget every name retired before cutoff_ns
	 * that is not a current form again, calling fn for each (the caller
	 * removes it from the store after commit). Returns 0 or fn's value.
	 */
	int (*retired_take)(cairn_meta *m, int64_t cutoff_ns,
			    int (*fn)(void *ctx, const cairn_hash *name), void *ctx);

	/*
	 * The collector's lock: one GC at a time over the same metadata, from
	 * any process or server (take), until released (take false) or the
	 * handle closes. Returns 0, CAIRN_EEXISTS (another collector holds it),
	 * CAIRN_EIO.
	 */
	int (*gc_lock)(cairn_meta *m, bool take);

	/*
	 * A secret every server on this metadata shares (the key that signs
	 * xorb URLs): the value stored under name, or, the first time, proposed
	 * (32 bytes), which is then stored; whichever server comes first wins
	 * and all get the same. NULL where the metadata is one server's alone
	 * (SQLite: the key stays a file in the data directory). Returns 0 or
	 * CAIRN_EIO.
	 */
	int (*shared_secret)(cairn_meta *m, const char *name, const uint8_t proposed[32],
			     uint8_t out[32]);

	/* Release everything; the table itself too. Rolls back an open transaction. */
	void (*close)(cairn_meta *m);

	/*
	 * --- users and API tokens. A user's name is its namespace. Tokens are
	 * stored as a 32-byte keyed hash of the secret only (the secret itself
	 * is shown once, never stored). Mutations need a write transaction. ---
	 */
	/* Returns 0 (*id set if id != NULL), CAIRN_EEXISTS, CAIRN_EINVALID (bad name). */
	int (*user_create)(cairn_meta *m, const char *name, int64_t now_ns, int64_t *id);
	/* Returns 0 (*id set if id != NULL) or CAIRN_ENOTFOUND. */
	int (*user_get)(cairn_meta *m, const char *name, int64_t *id);
	/* How many users exist. */
	int (*user_count)(cairn_meta *m, uint64_t *n);
	/*
	 * Record a token of user with scope "read", "write" or "admin".
	 * Returns 0, CAIRN_ENOTFOUND (no such user), CAIRN_EINVALID (bad
	 * scope), CAIRN_EEXISTS (that hash is recorded already).
	 */
	int (*token_create)(cairn_meta *m, const char *user, const char *scope,
			    const uint8_t hash[32], int64_t now_ns);
	/*
	 * The user and scope of a token hash. Returns 0, CAIRN_EAUTH (unknown
	 * or revoked token).
	 */
	int (*token_lookup)(cairn_meta *m, const uint8_t hash[32], char user[CAIRN_NAME_MAX + 1],
			    char scope[CAIRN_SCOPE_MAX + 1]);
	/* Returns 0 or CAIRN_ENOTFOUND (unknown, or revoked already). */
	int (*token_revoke)(cairn_meta *m, const uint8_t hash[32], int64_t now_ns);

	/*
	 * --- the chunk protocol's access rules. "Visible to ns" (ns NULL:
	 * anonymous; all: every bucket counts, for an admin): part of an
	 * object in a public bucket or one of ns's own. ---
	 */
	/*
	 * A stored copy of chunk that ns may use: one inside an object ns
	 * can read, or any copy when ns holds a grant for the chunk made at
	 * or after grant_since_ns. Any of xorb, index, raw_len may be NULL.
	 * Returns 0 or CAIRN_ENOTFOUND (not stored, or not for ns to know).
	 */
	int (*chunk_access)(cairn_meta *m, const cairn_hash *chunk, const char *ns, bool all,
			    int64_t grant_since_ns, cairn_hash *xorb, uint32_t *index,
			    uint32_t *raw_len);
	/*
	 * Record that ns proved it holds these chunks (it uploaded them) at
	 * now_ns. Needs a write transaction; gc drops grants older than its
	 * cutoff.
	 */
	int (*grant_put)(cairn_meta *m, const char *ns, const cairn_hash *chunks, size_t n,
			 int64_t now_ns);
	/* Is file the content of an object visible to ns? Returns 0 or CAIRN_ENOTFOUND. */
	int (*file_visible)(cairn_meta *m, const cairn_hash *file, const char *ns, bool all);

	/*
	 * --- S3 access keys (migration 4). The secret is kept as given: SigV4
	 * needs it to recompute signatures (as every S3 server does). ---
	 */
	/* Returns 0, CAIRN_ENOTFOUND (no such user), CAIRN_EEXISTS (that id exists). */
	int (*s3key_create)(cairn_meta *m, const char *user, const char *access_key,
			    const char *secret, int64_t now_ns);
	/*
	 * The user and secret of a live key. Returns 0 or CAIRN_EAUTH (unknown
	 * or revoked).
	 */
	int (*s3key_lookup)(cairn_meta *m, const char *access_key, char user[CAIRN_NAME_MAX + 1],
			    char *secret, size_t secret_cap);
	/* Returns 0 or CAIRN_ENOTFOUND (unknown, or revoked already). */
	int (*s3key_revoke)(cairn_meta *m, const char *access_key, int64_t now_ns);

	/*
	 * --- multipart uploads (migration 4): see cairn_mpu_* in repo.h. An
	 * id is CAIRN_MPU_ID_LEN (32) lower-case hex digits; part numbers are
	 * 1..10000. ---
	 */
	/* Returns 0, CAIRN_ENOTFOUND (no bucket), CAIRN_EEXISTS (that id), CAIRN_EINVALID. */
	int (*mpu_create)(cairn_meta *m, int64_t bucket, const char *id, const char *key,
			  size_t key_len, const char *content_type, const char *user_meta,
			  int64_t now_ns);
	/* Its key and options; strings borrowed until the next call. 0 or CAIRN_ENOTFOUND. */
	int (*mpu_get)(cairn_meta *m, int64_t bucket, const char *id, const char **key,
		       size_t *key_len, const char **content_type, const char **user_meta);
	/*
	 * Insert or replace part `number`; the file must be recorded and hold
	 * size bytes. Returns 0, CAIRN_ENOTFOUND (no upload, or no file),
	 * CAIRN_EINVALID.
	 */
	int (*mpu_part_put)(cairn_meta *m, const char *id, unsigned number, const cairn_hash *file,
			    uint64_t size, const uint8_t md5[16], int64_t now_ns);
	/*
	 * Parts with number > after, ascending, at most max (0: all); file and
	 * md5 are borrowed for the call. An unknown id has no parts (the
	 * caller checks the upload with mpu_get).
	 */
	int (*mpu_parts)(cairn_meta *m, const char *id, unsigned after, size_t max,
			 int (*fn)(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
				   const uint8_t md5[16], int64_t created_ns),
			 void *ctx);
	/*
	 * Uploads of bucket whose key starts with prefix, ordered by (key, id),
	 * after (key_marker, id_marker) when key_marker is given (id_marker
	 * NULL: after every upload of key_marker), at most limit (0: all).
	 */
	int (*mpu_list)(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			const char *key_marker, size_t key_marker_len, const char *id_marker,
			size_t limit,
			int (*fn)(void *ctx, const char *id, const char *key, size_t key_len,
				  int64_t created_ns),
			void *ctx);
	/* Drop the upload and its part rows. 0 or CAIRN_ENOTFOUND. */
	int (*mpu_delete)(cairn_meta *m, const char *id);

	/*
	 * --- web sessions: a browser logged in with a token. hash is the
	 * keyed hash of the session's secret (as for tokens); the session acts
	 * as the token of token_hash until expires_ns, and ends with it.
	 */
	/* Returns 0, CAIRN_EEXISTS. Also drops sessions expired by now_ns. */
	int (*session_create)(cairn_meta *m, const uint8_t hash[32], const uint8_t token_hash[32],
			      int64_t now_ns, int64_t expires_ns);
	/* Its token's user and scope. Returns 0, CAIRN_EAUTH (unknown, expired, token revoked). */
	int (*session_lookup)(cairn_meta *m, const uint8_t hash[32], int64_t now_ns,
			      char user[CAIRN_NAME_MAX + 1], char scope[CAIRN_SCOPE_MAX + 1]);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*session_delete)(cairn_meta *m, const uint8_t hash[32]);

	/*
	 * --- regions (cache nodes): name (a bucket-style name), base URL
	 * (http:// or https://, at most CAIRN_REGION_URL_MAX bytes), secret.
	 */
	/* Returns 0, CAIRN_EEXISTS, CAIRN_EINVALID (bad name or URL). */
	int (*region_create)(cairn_meta *m, const char *name, const char *url,
			     const uint8_t secret[32], int64_t now_ns);
	/* Returns 0 or CAIRN_ENOTFOUND. url: CAIRN_REGION_URL_MAX + 1 bytes; secret may be NULL. */
	int (*region_get)(cairn_meta *m, const char *name, char *url, uint8_t secret[32]);
	/* Every region in name order (fn's non-zero value stops and is returned). */
	int (*region_list)(cairn_meta *m,
			   int (*fn)(void *ctx, const char *name, const char *url, int64_t created_ns),
			   void *ctx);
	/* Returns 0 or CAIRN_ENOTFOUND. */
	int (*region_delete)(cairn_meta *m, const char *name);

	/*
	 * Every term of every object of bucket, as (xorb, first, end), in no
	 * particular order, in one pass (what a bucket's dedup figures sum).
	 * fn's non-zero value stops the walk and is returned.
	 */
	int (*bucket_terms)(cairn_meta *m, int64_t bucket,
			    int (*fn)(void *ctx, const cairn_hash *xorb, uint32_t first,
				      uint32_t end),
			    void *ctx);

	/* How many objects of bucket have keys starting with prefix, and their bytes. */
	int (*prefix_totals)(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			     uint64_t *objects, uint64_t *bytes);
};

/*
 * Open (creating if needed) SQLite metadata at path: WAL journal,
 * synchronous=FULL (acknowledged commits survive power loss), foreign keys,
 * a busy timeout, and the schema migrated to the current version.
 * Returns 0, CAIRN_EIO (cannot open; the message says why), CAIRN_ECORRUPT
 * (not a Cairn database, or a newer schema than this build knows).
 */
CAIRN_API int cairn_meta_sqlite_open(cairn_meta **out, const char *path);

/*
 * A PostgreSQL backend (libpq): conninfo is a "postgres://..." URL or a
 * "host=... dbname=..." string. The schema is created or migrated on
 * open (once, under a lock, when servers start together). Writers take
 * one advisory lock, so write transactions run one at a time across all
 * servers, as SQLite's do. Returns 0, CAIRN_EIO (cannot connect: message
 * says why), CAIRN_ECORRUPT (a newer schema) or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_meta_pg_open(cairn_meta **out, const char *conninfo);

/*
 * The metadata a data directory uses: PostgreSQL when $CAIRN_META is a
 * postgres:// URL (`cairn serve --meta`), else SQLite in DATA_DIR/cairn.db.
 */
CAIRN_API int cairn_meta_open(cairn_meta **out, const char *data_dir);

/*
 * Copy the SQLite metadata at sqlite_path into the PostgreSQL database of
 * conninfo (its schema made or migrated first), table by table; rows
 * already there are kept, so a copy that stopped can run again. Then
 * each table's rows are counted on both sides. progress (may be NULL):
 * per table, and every 500 rows. Returns 0, CAIRN_ECORRUPT (the counts
 * differ: the message names the table), CAIRN_EIO.
 */
typedef void (*cairn_meta_copy_fn)(void *ctx, const char *table, uint64_t rows);
CAIRN_API int cairn_meta_copy_to_pg(const char *sqlite_path, const char *conninfo,
				    cairn_meta_copy_fn progress, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_SYS_META_H */
