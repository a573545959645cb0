/*
 * core_int.h - what the storage engine's files share: the repo itself
 * and small helpers. Private to lib/core.
 */
#ifndef CAIRN_CORE_INT_H
#define CAIRN_CORE_INT_H

#include "cairn/chunk.h"
#include "cairn/repo.h"
#include "cairn/xorb.h"
#include "../util/util_int.h"

struct cairn_repo {
	cairn_meta *meta;
	cairn_store *store;
	cairn_put_hook on_put; /* cairn_repo_on_put */
	void *on_put_ctx;
};

/*
 * A chunk row that is a run's later chunk (CAIRN_XORB_RUN_NEXT: its header
 * alone); its bytes are in its run's first chunk.
 */
#define CAIRN__IS_RUN_NEXT(row) ((row).packed_len == CAIRN_XORB_CHUNK_HEADER_LEN)

/*
 * In a write transaction, before a row that names stored file `name`
 * commits: make sure the file is there. A put finds a file of the same
 * name and leaves it, and gc (which removes unrecorded files under the
 * write lock) may have taken that one for an orphan since; it is put
 * again. Returns 0, CAIRN_ECORRUPT (a file of another size: the store
 * never rewrites a name), or the store's error.
 */
int cairn__store_ensure(cairn_repo *r, const cairn_hash *name, const void *bytes, size_t len);

/*
 * The chunk rows a read of term t needs, t's xorb being xr: t's own and,
 * in a recompressed xorb, those of the runs t cuts into (a run has at most
 * CAIRN_XORB_RUN_MAX_CHUNKS chunks, so rows up to that many either side
 * are read). Rows [*lo, *lo + n) land in *rows (grown as needed, *cap its
 * room), every size checked; [*head, *end), in chunk indices, runs from
 * the head of the run t->first is in to the end of the run t->end - 1 is
 * in (t's own chunks without runs). Returns 0, CAIRN_ECORRUPT, CAIRN_ENOMEM
 * or the metadata's error.
 */
int cairn__term_rows(cairn_repo *r, const cairn_term *t, const cairn_xorb_row *xr,
		     cairn_chunk_row **rows, size_t *cap, uint32_t *lo, uint32_t *head,
		     uint32_t *end);

/* meta->object_put, then the put hook. */
int cairn__object_put(cairn_repo *r, int64_t bucket, const cairn_object_row *row);

/* Wall-clock time in ns since the epoch (what the metadata records). */
int64_t cairn__now_ns(void);

/* A bucket's id; CAIRN_ENOTFOUND with a message naming it. */
int cairn__bucket_id(cairn_repo *r, const char *ns, const char *name, int64_t *id);

/*
 * Record a xorb durable in the store (its row and chunk index entries, one
 * transaction; stored again first if a GC removed it meanwhile). *packed
 * (may be NULL) gets its chunks' serialized bytes, footer excluded.
 */
int cairn__xorb_record(cairn_repo *r, const cairn_hash *xh, const uint8_t *bytes, size_t len,
		       uint64_t *packed);

/* Put options as the engine uses them, checked (cairn__put_opts_read). */
typedef struct cairn__put_opts {
	int64_t mtime_ns;
	const char *content_type;
	const uint8_t *md5;       /* 16 bytes, or NULL */
	const char *user_meta;    /* a JSON object of strings, or NULL */
	unsigned parts;
} cairn__put_opts;

/*
 * Read o (NULL: defaults), any version this build knows; the strings stay
 * the caller's. Returns 0, CAIRN_EINVALID (unknown version, content type
 * too long, user metadata not a JSON object of strings, too many parts),
 * CAIRN_ETOOBIG (user metadata over CAIRN_USER_META_MAX).
 */
int cairn__put_opts_read(cairn__put_opts *out, const cairn_put_options *o);

/*
 * What a commit records besides the file, in the commit's transaction
 * (the file is recorded already): an object, a part. res is the upload's
 * result so far (file, size...). Returns 0 or an error (all rolled back).
 */
typedef int (*cairn__record_fn)(void *ctx, cairn_repo *r, const cairn_put_result *res,
				int64_t now_ns);

/*
 * cairn_upload_commit with fn in place of the object write: store what is
 * left, then in one transaction check the xorbs, record the file, call fn.
 */
int cairn__upload_commit_with(cairn_upload *u, cairn__record_fn fn, void *ctx,
			      cairn_put_result *res);

/*
 * For a caller that cuts the chunks itself (never mixed with
 * cairn_upload_write): add the object's next chunk, given its bytes (found
 * in the index or packed, as any upload's)...
 */
int cairn__upload_chunk(cairn_upload *u, const void *data, size_t len);
/* ... or a chunk stored already: chunk idx of xorb, which a recorded file names. */
int cairn__upload_stored(cairn_upload *u, const cairn_chunk_ref *c, const cairn_hash *xorb,
			 uint32_t idx);

/*
 * A reader of a recorded file rather than an object (a part of a
 * multipart upload). Returns 0, CAIRN_ECORRUPT (no such file record, or
 * terms that do not add up), CAIRN_ENOMEM.
 */
int cairn__reader_open_file(cairn_reader **out, cairn_repo *r, const cairn_hash *file);

#endif /* CAIRN_CORE_INT_H */
