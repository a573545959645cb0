/*
 * repo.h - the storage engine: a data directory holding buckets of
 * objects, stored as deduplicated, compressed chunks in xorbs.
 *
 * Writing an object cuts it into content-defined chunks, looks every chunk
 * up in the chunk index, packs only new chunks into xorbs (each stored
 * durably before anything refers to it), and then commits
 * (bucket, key) -> file atomically. Reading rebuilds the bytes from xorb
 * chunk ranges and checks every chunk against its hash: corruption is an
 * error, never data. Memory stays flat in object size.
 *
 * Thread safety: a cairn_repo and its uploads belong to one thread at a
 * time. Several repos (threads or processes) may open the same directory.
 */
#ifndef CAIRN_REPO_H
#define CAIRN_REPO_H

#include "common.h"
#include "hash.h"
#include "sys/meta.h"
#include "sys/store.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_repo cairn_repo;

/*
 * Open (creating if needed) the data directory: DATA_DIR/cairn.db
 * (SQLite metadata), DATA_DIR/xorbs/ (the xorb store). With $CAIRN_STORE
 * set ("s3://BUCKET[/PREFIX]"), the xorbs live in that S3 store instead
 * ($CAIRN_S3_ENDPOINT, $CAIRN_S3_CREDENTIALS: cairn_store_open_url).
 * Returns 0, CAIRN_EIO, CAIRN_EINVALID (a bad store), CAIRN_ECORRUPT (not
 * a Cairn directory, or a newer one) or CAIRN_ENOMEM. Close with
 * cairn_repo_close.
 */
CAIRN_API int cairn_repo_open(cairn_repo **out, const char *data_dir);

/* Open over given backends; the repo owns them from then on (also on error). */
CAIRN_API int cairn_repo_open_with(cairn_repo **out, cairn_meta *meta, cairn_store *store);

/* Accepts NULL. */
CAIRN_API void cairn_repo_close(cairn_repo *r);

/* --- buckets ---------------------------------------------------------------- */

/* Returns 0, CAIRN_EEXISTS, CAIRN_EINVALID (bad name). */
CAIRN_API int cairn_bucket_create(cairn_repo *r, const char *ns, const char *name,
				  bool is_private);
/* Returns 0 or CAIRN_ENOTFOUND. */
CAIRN_API int cairn_bucket_get(cairn_repo *r, const char *ns, const char *name,
			       cairn_bucket_row *out);
/* Buckets of ns (all when NULL), by (ns, name). fn's non-zero return stops and is returned. */
CAIRN_API int cairn_bucket_list(cairn_repo *r, const char *ns, cairn_meta_bucket_fn fn, void *ctx);
/* Returns 0 or CAIRN_ENOTFOUND. */
CAIRN_API int cairn_bucket_set_private(cairn_repo *r, const char *ns, const char *name,
				       bool is_private);
/* The regions a bucket keeps warm: names, comma-separated ("" for none).
 * Returns 0, CAIRN_ENOTFOUND, CAIRN_EINVALID (over CAIRN_REGIONS_MAX bytes). */
CAIRN_API int cairn_bucket_set_regions(cairn_repo *r, const char *ns, const char *name,
				       const char *regions);

/*
 * Tell fn of every object this repo handle writes: the bucket's id and the
 * object's file, called inside the writing transaction, before it
 * commits (so fn must not block, and must allow for a rollback: the
 * file may then be unknown). NULL fn: no more calls.
 */
typedef void (*cairn_put_hook)(void *ctx, int64_t bucket, const cairn_hash *file);
CAIRN_API void cairn_repo_on_put(cairn_repo *r, cairn_put_hook fn, void *ctx);
/* Delete a bucket, all its objects and its uploads in progress (their data
 * goes at the next GC). */
CAIRN_API int cairn_bucket_delete(cairn_repo *r, const char *ns, const char *name);

/* What a bucket or a store holds and costs. */
typedef struct cairn_stats {
	uint64_t objects;
	uint64_t logical_bytes; /* sum of object sizes */
	uint64_t stored_bytes;  /* distinct chunks they use, as stored (compressed,
				 * chunk headers included); for the whole store,
				 * the xorb files' sizes */
	uint64_t chunks;        /* distinct chunks */
	uint64_t xorbs;         /* xorbs holding them */
	uint64_t dedup_bytes;   /* distinct chunks they use, decoded: logical bytes after
				 * deduplication, before compression */
} cairn_stats;

/* A bucket's stats. Returns 0 or CAIRN_ENOTFOUND. */
CAIRN_API int cairn_bucket_stats(cairn_repo *r, const char *ns, const char *name,
				 cairn_stats *out);
/* The whole store (objects and logical bytes over all buckets; all xorbs). */
CAIRN_API int cairn_repo_stats(cairn_repo *r, cairn_stats *out);

/* --- writing objects ------------------------------------------------------------ */

typedef struct cairn_put_options {
	unsigned version;         /* CAIRN_PUT_OPTIONS_VERSION */
	int64_t mtime_ns;         /* the source's mtime, kept with the object */
	const char *content_type; /* NULL: none */
	const uint8_t *md5;       /* 16 bytes, or NULL */
	/* version 2 (S3) */
	const char *user_meta;    /* the object's user metadata (S3 x-amz-meta-*) as a JSON
				   * object text {"name": "value", ...}, names lower-case without
				   * the prefix; string values only; at most CAIRN_USER_META_MAX
				   * bytes of names and values (as S3 counts them; the text at
				   * most CAIRN_USER_META_TEXT_MAX); NULL: none */
	unsigned parts;           /* a multipart object's part count (its S3 ETag is
				   * hex(md5) "-" parts); 0 for a single PUT */
} cairn_put_options;

#define CAIRN_PUT_OPTIONS_VERSION 2
#define CAIRN_PUT_OPTIONS_INIT {CAIRN_PUT_OPTIONS_VERSION, 0, NULL, NULL, NULL, 0}
#define CAIRN_USER_META_MAX 2048 /* S3's limit on user metadata: names + values, in bytes */

/* What a write stored. */
typedef struct cairn_put_result {
	cairn_hash file;     /* xet file hash */
	uint64_t size;
	uint64_t chunks;     /* chunks in the object */
	uint64_t new_chunks; /* of which were stored now */
	uint64_t new_bytes;  /* raw bytes of those */
	uint64_t stored_bytes; /* new chunks as stored: compressed, with their
				* 8-byte headers (xorb footers not counted) */
} cairn_put_result;

/*
 * Who is asking: a namespace (NULL: anonymous) and whether the token is an
 * admin's (every bucket then counts as readable). A chunk or file is
 * visible to a caller when it is part of an object in a bucket the caller
 * can read (public, or its own); a chunk also when the caller's namespace
 * uploaded it in a xorb within CAIRN_GRANT_NS (and no GC past its grace
 * period ran since).
 */
typedef struct cairn_caller {
	const char *ns;
	bool admin;
	bool writer; /* may upload and commit (a write or admin token) */
} cairn_caller;

#define CAIRN_GRANT_NS (INT64_C(24) * 3600 * 1000000000)

typedef struct cairn_upload cairn_upload;

/* Start writing an object from a stream of buffers. */
CAIRN_API int cairn_upload_new(cairn_upload **out, cairn_repo *r);
/*
 * Say who writes (ns is copied), so the result reports deduplication only
 * against chunks visible to them: a chunk the store holds for someone else
 * is still stored once, but counts as new in the result (else the result
 * would tell what other tenants store). Without it the result counts
 * against the whole store (what an administrator sees).
 */
CAIRN_API int cairn_upload_set_caller(cairn_upload *u, const cairn_caller *who);
/* Add the next bytes. Returns 0, CAIRN_EIO (store), CAIRN_ENOMEM. */
CAIRN_API int cairn_upload_write(cairn_upload *u, const void *data, size_t len);
/*
 * Store what is left and commit (ns, name, key) -> the object, atomically:
 * replaces a previous object under that key. res may be NULL. opts may be
 * NULL; a version 1 struct is read as such.
 * Returns 0, CAIRN_ENOTFOUND (no bucket), CAIRN_EINVALID (bad key or
 * options: user metadata that is not a JSON object of strings...),
 * CAIRN_ETOOBIG (user metadata over CAIRN_USER_META_MAX), CAIRN_EIO. On
 * error the previous object (if any) is untouched.
 */
CAIRN_API int cairn_upload_commit(cairn_upload *u, const char *ns, const char *name,
				  const char *key, size_t key_len, const cairn_put_options *opts,
				  cairn_put_result *res);
/* Abandon (if not committed) and free. Accepts NULL. */
CAIRN_API void cairn_upload_free(cairn_upload *u);

/* Write an object from everything readable from fd. */
CAIRN_API int cairn_object_put_fd(cairn_repo *r, const char *ns, const char *name,
				  const char *key, size_t key_len, int fd,
				  const cairn_put_options *opts, cairn_put_result *res);
/* Write an object from a buffer. */
CAIRN_API int cairn_object_put(cairn_repo *r, const char *ns, const char *name, const char *key,
			       size_t key_len, const void *data, size_t len,
			       const cairn_put_options *opts, cairn_put_result *res);

/* --- reading, listing, deleting, copying ------------------------------------------ */

/* Receives verified object bytes in order; non-zero stops the read and is returned. */
typedef int (*cairn_write_fn)(void *ctx, const void *data, size_t len);

/*
 * Stat an object. out->key/content_type are borrowed until the next call
 * on r. Returns 0 or CAIRN_ENOTFOUND (no bucket or no key).
 */
CAIRN_API int cairn_object_stat(cairn_repo *r, const char *ns, const char *name,
				const char *key, size_t key_len, cairn_object_row *out);

/*
 * Read bytes [offset, offset + len) of an object (len UINT64_MAX: to the
 * end), every chunk checked, into fn. Returns 0; CAIRN_ENOTFOUND;
 * CAIRN_EINVALID (offset past the end); CAIRN_ECORRUPT (stored data does
 * not match its hash: fn never sees a wrong byte); CAIRN_EIO; fn's value.
 */
CAIRN_API int cairn_object_get(cairn_repo *r, const char *ns, const char *name,
			       const char *key, size_t key_len, uint64_t offset, uint64_t len,
			       cairn_write_fn fn, void *ctx);

/*
 * A reader pins one version of an object: it looks the object up once and
 * then reads any ranges of that version (what a download serving many
 * pieces wants). A later overwrite does not change what it reads; if GC
 * has since reclaimed that version's data, reads fail with CAIRN_ECORRUPT.
 * Open returns 0, CAIRN_ENOTFOUND, CAIRN_ECORRUPT or CAIRN_ENOMEM.
 * The reader belongs to one thread at a time and must not outlive r.
 */
typedef struct cairn_reader cairn_reader;
CAIRN_API int cairn_reader_open(cairn_reader **out, cairn_repo *r, const char *ns,
				const char *name, const char *key, size_t key_len);
CAIRN_API uint64_t cairn_reader_size(const cairn_reader *rd);
/* The xet file hash of the pinned version. Borrowed until close. */
CAIRN_API const cairn_hash *cairn_reader_file(const cairn_reader *rd);
/* As cairn_object_get, on the pinned version. */
CAIRN_API int cairn_reader_read(cairn_reader *rd, uint64_t offset, uint64_t len,
				cairn_write_fn fn, void *ctx);
/* Accepts NULL. */
CAIRN_API void cairn_reader_close(cairn_reader *rd);

/* Returns 0 or CAIRN_ENOTFOUND. */
CAIRN_API int cairn_object_delete(cairn_repo *r, const char *ns, const char *name,
				  const char *key, size_t key_len);

/* Server-side copy: the new key shares the same file (no data copied) and
 * the source's content type, md5, part count and user metadata. */
CAIRN_API int cairn_object_copy(cairn_repo *r, const char *src_ns, const char *src_name,
				const char *src_key, size_t src_key_len, const char *dst_ns,
				const char *dst_name, const char *dst_key, size_t dst_key_len);

typedef struct cairn_list_options {
	unsigned version;          /* CAIRN_LIST_OPTIONS_VERSION */
	const char *prefix;        /* NULL: all */
	size_t prefix_len;
	const char *delimiter;     /* NULL: none; else roll keys up into common prefixes */
	size_t delimiter_len;
	const char *start_after;   /* NULL: from the start (also the page cursor) */
	size_t start_after_len;
	size_t limit;              /* entries (objects + prefixes) per page; 0: 1000 */
} cairn_list_options;

#define CAIRN_LIST_OPTIONS_VERSION 1
#define CAIRN_LIST_OPTIONS_INIT {CAIRN_LIST_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, 0}

/* One listing entry: an object (row != NULL) or a common prefix (row == NULL). */
typedef int (*cairn_list_fn)(void *ctx, const cairn_object_row *row, const char *prefix,
			     size_t prefix_len);

/*
 * One page of keys in byte order. *truncated says whether more follow; the
 * next page starts after the last entry given (its key or common prefix).
 */
CAIRN_API int cairn_object_list(cairn_repo *r, const char *ns, const char *name,
				const cairn_list_options *opts, cairn_list_fn fn, void *ctx,
				bool *truncated);

/* --- the chunk protocol (client-side deduplication; docs/api.md) ----------------------- */

/*
 * Which of chunks[0..n) are visible to who: present[i] set for each. A
 * hash asked twice is looked up once. For a writer, the xorbs holding the
 * visible ones are marked as promised, so GC keeps them through its grace
 * period while the caller commits. Returns 0, CAIRN_EIO.
 */
CAIRN_API int cairn_chunks_query(cairn_repo *r, const cairn_caller *who,
				 const cairn_hash *chunks, size_t n, bool *present);

/*
 * What cairn_xorb_ingest did, as the caller may know it: chunks it could
 * not see before count as new, with the bytes they came in, whether or
 * not the store held them for someone else.
 */
typedef struct cairn_ingest_result {
	uint64_t chunks;       /* in the xorb */
	uint64_t new_chunks;   /* of which the caller could not see before */
	uint64_t stored_bytes; /* their serialized bytes, headers included */
} cairn_ingest_result;

/*
 * Take a serialized xorb a client uploaded as `name`: check its footer,
 * decode every chunk against its hash, and check its hash is `name`
 * (CAIRN_EINVALID, CAIRN_ECORRUPT otherwise: nothing stored). Chunks the
 * store holds already are not stored again: a xorb of only new chunks is
 * stored as it came; one with some, has those repacked into a xorb of our
 * own. Then ns is granted every chunk of it (the proof that it holds
 * them). Idempotent. res may be NULL. At most CAIRN_XORB_MAX_CHUNKS
 * chunks (CAIRN_EINVALID beyond).
 */
CAIRN_API int cairn_xorb_ingest(cairn_repo *r, const char *ns, const cairn_hash *name,
				const void *bytes, size_t len, cairn_ingest_result *res);

/* One term of a reconstruction: chunks [first, end) of xorb, at serialized bytes [start, end). */
typedef struct cairn_recon_term {
	cairn_hash xorb;
	uint32_t first, end;
	uint64_t raw_len;
	uint64_t byte_start, byte_end; /* byte_end exclusive */
	/*
	 * false: the bytes are the stored xorb's (cairn_xorb_read_bytes); true:
	 * the xorb was recompressed with Cairn's own schemes, and the bytes are
	 * of its xet form with every chunk stored as is (cairn_xorb_raw_read).
	 */
	bool raw_layout;
	/*
	 * raw_layout only: the same chunks as they are stored, in Cairn's own
	 * schemes, for a reader that decodes them (cairn_xorb_stream): chunks
	 * [form_first, form_end) hold [first, end) and the rest of any run it
	 * cuts into, at bytes [form_start, form_stop) of the stored form
	 * `form` (cairn_xorb_read_bytes with form as the name).
	 */
	cairn_hash form;
	uint32_t form_first, form_end;
	uint64_t form_start, form_stop;
} cairn_recon_term;

/*
 * How to rebuild file, if visible to who: *terms (malloc'd, free()) in
 * order. Returns 0, CAIRN_ENOTFOUND (absent or not visible),
 * CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 */
CAIRN_API int cairn_file_reconstruct(cairn_repo *r, const cairn_caller *who,
				     const cairn_hash *file, uint64_t *size,
				     cairn_recon_term **terms, size_t *n);

/*
 * The same, with only the layouts of recompressed xorbs' terms that the
 * caller will use computed (each costs metadata reads): forms is
 * CAIRN_RECON_RAW_LAYOUT (byte_start, byte_end), CAIRN_RECON_STORED_FORMS
 * (form...), both (cairn_file_reconstruct) or 0 (chunk ranges only). What
 * is not asked for is 0. Terms of other xorbs always have their bytes.
 */
#define CAIRN_RECON_RAW_LAYOUT 1u
#define CAIRN_RECON_STORED_FORMS 2u
CAIRN_API int cairn_file_reconstruct_as(cairn_repo *r, const cairn_caller *who,
					const cairn_hash *file, unsigned forms, uint64_t *size,
					cairn_recon_term **terms, size_t *n);

/*
 * Read serialized bytes [off, off + len) of a stored xorb (what a signed
 * xorb URL serves). Returns 0, CAIRN_ENOTFOUND, CAIRN_ECORRUPT, CAIRN_EIO.
 */
CAIRN_API int cairn_xorb_read_bytes(cairn_repo *r, const cairn_hash *xorb, uint64_t off,
				    size_t len, void *out);

/*
 * The store name of a recompressed form of xorb whose serialized bytes are
 * bytes[0..len): a keyed hash of both, so a form is only ever stored under
 * a name that says what it holds. (A xorb as it came is stored under its
 * own hash.)
 */
CAIRN_API void cairn_xorb_form_name(cairn_hash *out, const cairn_hash *xorb, const void *bytes,
				    size_t len);

/*
 * The size in *size of stored form `form`: a xorb's current form, or a
 * replaced one gc has not collected yet (what a cache node fetches when a
 * URL names a form it does not hold). Returns 0, CAIRN_ENOTFOUND (no such
 * form, or gone from the store), CAIRN_EIO.
 */
CAIRN_API int cairn_xorb_form_size(cairn_repo *r, const cairn_hash *form, uint64_t *size);

/*
 * A reader of a xorb's raw layout: the xet xorb of the same chunks, each
 * stored as is (scheme NONE), without the footer; chunk i's header sits at
 * 8 * i plus the raw lengths of the chunks before it. What a
 * reconstruction's raw_layout terms point into. The chunk list is read
 * once, at open; the chunks last decoded are kept for the next read (a
 * response served in pieces). Not thread-safe.
 * open returns 0, CAIRN_ENOTFOUND, CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 * read fills out with bytes [off, off + len), every chunk checked against
 * its hash on the way: 0, CAIRN_EINVALID (a range past the end),
 * CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 */
typedef struct cairn_xorb_raw cairn_xorb_raw;
CAIRN_API int cairn_xorb_raw_open(cairn_xorb_raw **out, cairn_repo *r, const cairn_hash *xorb);
CAIRN_API int cairn_xorb_raw_read(cairn_xorb_raw *x, uint64_t off, size_t len, void *out);
/* Accepts NULL. */
CAIRN_API void cairn_xorb_raw_close(cairn_xorb_raw *x);

typedef enum cairn_op_type { CAIRN_OP_ADD, CAIRN_OP_COPY, CAIRN_OP_DELETE } cairn_op_type;

/* One operation of a batch. */
typedef struct cairn_batch_op {
	cairn_op_type type;
	const char *key; /* the target, key_len bytes */
	size_t key_len;
	/* add: the file, with its chunks (or chunks NULL: a file visible already) */
	cairn_hash file;
	uint64_t size;
	const cairn_chunk_ref *chunks;
	size_t nchunks;
	int64_t mtime_ns;
	/* copy: the source object */
	const char *src_ns, *src_name, *src_key;
	size_t src_key_len;
	/* filled in: the object's file and size (add, copy); delete found nothing */
	bool missing;
} cairn_batch_op;

/*
 * Apply ops to bucket ns/name, all in one transaction: every add's chunks
 * must be visible to who, with the stated lengths, adding up to size and
 * hashing to file; a copy's source bucket must be visible to who. The
 * caller checks who may write the bucket. On error nothing is applied and
 * *bad (may be NULL) is the index of the op at fault (or n, for none).
 * Returns 0, CAIRN_EINVALID (a bad op), CAIRN_ENOTFOUND (no bucket, or a
 * copy's source missing), CAIRN_EIO, CAIRN_ENOMEM.
 */
CAIRN_API int cairn_batch_apply(cairn_repo *r, const cairn_caller *who, const char *ns,
				const char *name, cairn_batch_op *ops, size_t n, size_t *bad);

/* --- S3: copies with new metadata, multipart uploads ------------------------------- */

/*
 * As cairn_object_copy (the new key shares the file: no data copied), but
 * with the destination's options: replace NULL keeps the source's content
 * type, md5, part count and user metadata (S3 COPY); else they come from
 * replace (S3 REPLACE; its mtime_ns too). Returns 0, CAIRN_ENOTFOUND,
 * CAIRN_EINVALID or CAIRN_ETOOBIG (replace's options, as cairn_upload_commit).
 */
CAIRN_API int cairn_object_copy_with(cairn_repo *r, const char *src_ns, const char *src_name,
				     const char *src_key, size_t src_key_len, const char *dst_ns,
				     const char *dst_name, const char *dst_key, size_t dst_key_len,
				     const cairn_put_options *replace);

#define CAIRN_MPU_ID_LEN 32      /* an upload id: 32 lower-case hex digits (random) */
#define CAIRN_MPU_PARTS_MAX 10000
#define CAIRN_MPU_PART_MIN (5u << 20) /* every part but the last: at least 5 MiB */

/*
 * Start a multipart upload of key in ns/name; opts (may be NULL) are the
 * final object's content type and user metadata. *id gets its id.
 * Returns 0, CAIRN_ENOTFOUND (no bucket), CAIRN_EINVALID (bad key or
 * options), CAIRN_ETOOBIG (user metadata, as cairn_upload_commit).
 */
CAIRN_API int cairn_mpu_create(cairn_repo *r, const char *ns, const char *name, const char *key,
			       size_t key_len, const cairn_put_options *opts,
			       char id[CAIRN_MPU_ID_LEN + 1]);

/*
 * Store what u was given as part `part` (1..CAIRN_MPU_PARTS_MAX) of upload
 * id, replacing an earlier part with that number: its chunks and xorbs as
 * any upload, its file recorded (kept from GC while the upload lives), a
 * part row (number, file, size, md5). md5 is the part's MD5 (its ETag).
 * res may be NULL. Returns 0, CAIRN_ENOTFOUND (no such upload in ns/name),
 * CAIRN_EINVALID (part number), CAIRN_EIO.
 */
CAIRN_API int cairn_upload_commit_part(cairn_upload *u, const char *ns, const char *name,
				       const char *id, unsigned part, const uint8_t md5[16],
				       cairn_put_result *res);

typedef struct cairn_mpu_part {
	unsigned number;
	uint64_t size;
	uint8_t md5[16];
	int64_t created_ns;
} cairn_mpu_part;

/*
 * The upload's key (borrowed until the next call on r) and its parts with
 * numbers over `after`, in order, at most max (0: all): *parts malloc'd
 * (free()), *truncated when more follow. Returns 0 or CAIRN_ENOTFOUND.
 */
CAIRN_API int cairn_mpu_parts(cairn_repo *r, const char *ns, const char *name, const char *id,
			      unsigned after, size_t max, const char **key, size_t *key_len,
			      cairn_mpu_part **parts, size_t *n, bool *truncated);

/* One upload in progress; borrowed during the callback. */
typedef struct cairn_mpu_info {
	const char *id;
	const char *key;
	size_t key_len;
	int64_t created_ns;
} cairn_mpu_info;

typedef int (*cairn_mpu_fn)(void *ctx, const cairn_mpu_info *u);

/*
 * Uploads in progress in ns/name whose key starts with prefix, ordered by
 * (key, id), after (key_marker, id_marker) when given (id_marker NULL:
 * after every upload of key_marker), at most max (0: 1000). *truncated
 * when more follow. Returns 0, CAIRN_ENOTFOUND (no bucket), fn's value.
 * fn runs inside a read of the metadata: it must not call into r.
 */
CAIRN_API int cairn_mpu_list(cairn_repo *r, const char *ns, const char *name, const char *prefix,
			     size_t prefix_len, const char *key_marker, size_t key_marker_len,
			     const char *id_marker, size_t max, cairn_mpu_fn fn, void *ctx,
			     bool *truncated);

/* Drop an upload and its parts (their data goes at the next GC). 0 or CAIRN_ENOTFOUND. */
CAIRN_API int cairn_mpu_abort(cairn_repo *r, const char *ns, const char *name, const char *id);

/* A part as CompleteMultipartUpload names it. */
typedef struct cairn_mpu_want {
	unsigned number;
	uint8_t md5[16]; /* its ETag */
} cairn_mpu_want;

typedef enum cairn_mpu_error {
	CAIRN_MPU_OK,
	CAIRN_MPU_NO_SUCH_UPLOAD,     /* S3 NoSuchUpload (404) */
	CAIRN_MPU_INVALID_PART,       /* a part missing, or its ETag not the stored one (400) */
	CAIRN_MPU_INVALID_PART_ORDER, /* numbers not ascending (400) */
	CAIRN_MPU_ENTITY_TOO_SMALL,   /* a part but the last under 5 MiB (400) */
	CAIRN_MPU_ENTITY_TOO_LARGE,   /* the parts add up to over CAIRN_MPU_OBJECT_MAX (400) */
} cairn_mpu_error;

#define CAIRN_MPU_OBJECT_MAX (UINT64_C(5) << 40) /* S3's largest object: 5 TiB */

/*
 * Make the object from the named parts, in that order, and end the
 * upload: atomically, as any write. Its file hash is the xet hash of the
 * whole content as if uploaded in one piece: chunking resynchronises a
 * chunk or two after each part boundary, so only those regions are read
 * and chunked again; the rest reuses the parts' chunks. The object's md5
 * is the MD5 of the parts' MD5s and its part count n (S3's multipart
 * ETag); its mtime the time of completion. Parts not named are dropped.
 * res may be NULL; *why says which S3 error applies when the answer is
 * CAIRN_EINVALID or CAIRN_ENOTFOUND (else CAIRN_MPU_OK).
 * Returns 0, CAIRN_ENOTFOUND, CAIRN_EINVALID, CAIRN_EIO, CAIRN_ECORRUPT.
 */
CAIRN_API int cairn_mpu_complete(cairn_repo *r, const char *ns, const char *name, const char *id,
				 const cairn_mpu_want *parts, size_t n, cairn_put_result *res,
				 cairn_mpu_error *why);

/* --- maintenance --------------------------------------------------------------------- */

typedef struct cairn_gc_result {
	uint64_t files;        /* file records deleted */
	uint64_t xorbs;        /* xorbs deleted */
	uint64_t bytes;        /* their stored bytes */
} cairn_gc_result;

/*
 * Reclaim what nothing references: files no object uses, then xorbs no file
 * uses, then stored xorb files no record names (left by a crash between
 * storing and recording), skipping anything created, written or promised to
 * an upload within the last grace_ns (an upload in progress never loses a
 * chunk it was told exists), and the stored forms recompression replaced
 * more than grace_ns ago (a reader that found one before may still read it).
 */
CAIRN_API int cairn_repo_gc(cairn_repo *r, int64_t grace_ns, cairn_gc_result *out);

/*
 * Recompression at rest: xorbs that nothing has created or used for
 * min_age_ns, still in the form they came in (xet's LZ4 schemes), are
 * rewritten with Cairn's own (zstd; byte grouping + zstd for numbers; the
 * smallest per chunk) when that saves at least 1%. The chunks, their hashes
 * and the xorb hash stay the same, so nothing that references the xorb
 * changes. Each new form is stored durably under a name of its own first,
 * then one transaction points the xorb at it and retires the old form,
 * which GC removes after its grace period: a crash at any moment leaves
 * every chunk readable. Xet clients read recompressed xorbs in their raw
 * layout (cairn_xorb_raw_read).
 */
typedef struct cairn_recompress_result {
	uint64_t xorbs;        /* examined (old enough, not yet recompressed) */
	uint64_t rewritten;    /* rewritten in the stronger form */
	uint64_t kept;         /* left as they were: under 1% to gain */
	uint64_t bytes_before; /* stored bytes of those examined, before */
	uint64_t bytes_after;  /* and after (kept ones count the same on both sides) */
	uint64_t raw_bytes;    /* their decoded bytes */
} cairn_recompress_result;

typedef struct cairn_recompress_options {
	unsigned version;   /* CAIRN_RECOMPRESS_OPTIONS_VERSION */
	int64_t min_age_ns; /* only xorbs neither created nor used for this long */
	int level;          /* zstd's level, 1..22; 0: CAIRN_XORB_ZSTD_LEVEL */
	uint64_t max_xorbs; /* stop after examining this many; 0: all */
	/* when *cancel turns true (any thread), stop after the xorb in progress */
#ifdef __cplusplus
	const void *cancel;
#else
	const _Atomic bool *cancel;
#endif
	/* after each xorb, the totals so far; may be NULL */
	void (*progress)(void *ctx, const cairn_recompress_result *so_far);
	void *progress_ctx;
	/*
	 * (version 2) called before each group of chunks is compressed and
	 * before the new form is written (never between that write and its
	 * commit): it may block, to let other work go first; non-zero stops
	 * the pass (CAIRN_ECANCELED), the xorb in progress left as it was.
	 * May be NULL.
	 */
	int (*pause)(void *ctx);
	void *pause_ctx;
} cairn_recompress_options;

#define CAIRN_RECOMPRESS_OPTIONS_VERSION 2

/*
 * One pass of recompression (opts may be NULL: every xorb, at once, at the
 * default level). Returns 0; CAIRN_ECANCELED; or the first error reading or
 * writing (a xorb that does not check is CAIRN_ECORRUPT: it is left as it
 * is and the pass stops, for fsck to report). *out (may be NULL) gets the
 * totals either way.
 */
CAIRN_API int cairn_repo_recompress(cairn_repo *r, const cairn_recompress_options *opts,
				    cairn_recompress_result *out);

/* Called per problem fsck finds; `what` is one line. */
typedef void (*cairn_fsck_fn)(void *ctx, const char *what);

/*
 * Verify everything: every xorb decodes and matches its hash and its
 * recorded chunks; every file's terms point at existing chunks and add up
 * to its size; every object's file exists, and every part's of an upload
 * in progress (a file no object names yet is no fault). *faults counts
 * problems (0 is clean). Returns 0 when the check itself ran (whatever it
 * found).
 */
CAIRN_API int cairn_repo_fsck(cairn_repo *r, cairn_fsck_fn fn, void *ctx, uint64_t *faults);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_REPO_H */
