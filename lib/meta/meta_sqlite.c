/*
 * meta_sqlite.c - the SQLite metadata backend: include/cairn/sys/meta.h's
 * table of functions over one SQLite connection (the schema and the open
 * time checks are in sqlite_schema.c).
 *
 * A handle is one connection, for one thread. Every statement is prepared
 * once, when the handle opens (so a statement that does not fit the schema
 * fails the open, not a request), and reused; every value reaches SQLite
 * through sqlite3_bind_*, never through the SQL text.
 *
 * Transactions: begin(true) is BEGIN IMMEDIATE (the write lock is taken at
 * once, so a commit never fails for a lock another writer holds), begin(false)
 * is a deferred read whose snapshot starts at its first read. Mutations
 * outside a write transaction are refused (CAIRN_EINVALID) rather than run
 * in a transaction of their own: a caller that forgot begin() would
 * otherwise believe that two calls were atomic. Each mutation that runs
 * several statements does so inside a savepoint and rolls back to it on
 * error, so a failed call changes nothing and the caller's transaction can
 * go on or roll back as it likes.
 *
 * Callbacks: rows are borrowed for the call (strings point into SQLite's
 * row). A callback may call other functions of the same handle, but not the
 * listing it is called from (CAIRN_EINVALID), and its non-zero return
 * stops the listing and is returned.
 */
#include "meta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

enum stmt_id {
	ST_BEGIN_READ,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_BUCKET_INSERT,
	ST_BUCKET_GET,
	ST_BUCKET_LIST,
	ST_BUCKET_LIST_NS,
	ST_BUCKET_SET_PRIVATE,
	ST_BUCKET_SET_REGIONS,
	ST_BUCKET_BY_ID,
	ST_BUCKET_DROP_OBJECTS,
	ST_BUCKET_DROP_PARTS,
	ST_BUCKET_DROP_UPLOADS,
	ST_BUCKET_DELETE,
	ST_BUCKET_TOTALS,
	ST_PREFIX_TOTALS,
	ST_BUCKET_TERMS,
	ST_OBJECT_UPSERT,
	ST_OBJECT_GET,
	ST_OBJECT_DELETE,
	ST_OBJECT_LIST,
	ST_FILE_INSERT,
	ST_FILE_SIZE,
	ST_TERM_INSERT,
	ST_FILE_GET,
	ST_FILE_LIST,
	ST_XORB_INSERT,
	ST_XORB_GET,
	ST_XORB_TOUCH,
	ST_XORB_LIST,
	ST_CHUNK_INSERT,
	ST_XORB_CHUNKS,
	ST_XORB_NAME,
	ST_XORB_REPACK,
	ST_CHUNK_MOVE,
	ST_RETIRE,
	ST_NAME_LIVE,
	ST_NAME_RETIRED,
	ST_RETIRED_OLD,
	ST_RETIRED_DEL,
	ST_CHUNK_LOOKUP,
	ST_GC_TERMS,
	ST_GC_FILES,
	ST_GC_XORBS,
	ST_GC_XORB_CHUNKS,
	ST_GC_XORB,
	ST_USER_INSERT,
	ST_USER_GET,
	ST_USER_COUNT,
	ST_TOKEN_INSERT,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_REVOKE,
	ST_SESSION_INSERT,
	ST_SESSION_EXPIRE,
	ST_SESSION_LOOKUP,
	ST_SESSION_DELETE,
	ST_REGION_INSERT,
	ST_REGION_GET,
	ST_REGION_LIST,
	ST_REGION_DELETE,
	ST_GRANT_PUT,
	ST_CHUNK_ACCESS,
	ST_FILE_VISIBLE,
	ST_GC_GRANTS,
	ST_S3KEY_INSERT,
	ST_S3KEY_LOOKUP,
	ST_S3KEY_REVOKE,
	ST_MPU_INSERT,
	ST_MPU_GET,
	ST_MPU_PART_UPSERT,
	ST_MPU_PARTS,
	ST_MPU_LIST,
	ST_MPU_DROP_PARTS,
	ST_MPU_DELETE,
	ST_COUNT
};

#define BUCKET_COLS "id, ns, name, private, created_ns, regions"
#define XORB_COLS "hash, stored, raw, chunks, created_ns, used_ns"
#define XORB_READ_COLS XORB_COLS ", gen, coalesce(rest_name, hash)"
/* what read_object reads, in its order */
#define OBJECT_COLS                                                                        \
	"file_hash, size, mtime_ns, created_ns, content_type, md5, parts, user_meta, part_sizes"
/* files no object and no part of an upload in progress names, older than ?1 */
#define GC_FILE_WHERE                                                                      \
	"created_ns < ?1 AND NOT EXISTS "                                                  \
	"(SELECT 1 FROM objects WHERE objects.file_hash = files.hash) AND NOT EXISTS "     \
	"(SELECT 1 FROM multipart_parts WHERE multipart_parts.file_hash = files.hash)"

static const char *const SQL[ST_COUNT] = {
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT meta_op",
	[ST_RELEASE] = "RELEASE meta_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO meta_op",

	[ST_BUCKET_INSERT] = "INSERT INTO buckets (ns, name, private, created_ns) "
			     "VALUES (?1, ?2, ?3, ?4)",
	[ST_BUCKET_GET] = "SELECT " BUCKET_COLS " FROM buckets WHERE ns = ?1 AND name = ?2",
	[ST_BUCKET_LIST] = "SELECT " BUCKET_COLS " FROM buckets ORDER BY ns, name",
	[ST_BUCKET_LIST_NS] = "SELECT " BUCKET_COLS " FROM buckets WHERE ns = ?1 ORDER BY name",
	[ST_BUCKET_SET_PRIVATE] = "UPDATE buckets SET private = ?2 WHERE id = ?1",
	[ST_BUCKET_SET_REGIONS] = "UPDATE buckets SET regions = ?2 WHERE id = ?1",
	[ST_BUCKET_BY_ID] = "SELECT " BUCKET_COLS " FROM buckets WHERE id = ?1",
	[ST_BUCKET_DROP_OBJECTS] = "DELETE FROM objects WHERE bucket_id = ?1",
	[ST_BUCKET_DROP_PARTS] = "DELETE FROM multipart_parts WHERE upload_id IN "
				 "(SELECT id FROM multipart_uploads WHERE bucket_id = ?1)",
	[ST_BUCKET_DROP_UPLOADS] = "DELETE FROM multipart_uploads WHERE bucket_id = ?1",
	[ST_BUCKET_DELETE] = "DELETE FROM buckets WHERE id = ?1",
	/* one statement, so one snapshot even outside a transaction */
	[ST_BUCKET_TOTALS] = "SELECT (SELECT count(*) FROM objects WHERE bucket_id = ?1), "
			     "(SELECT coalesce(sum(size), 0) FROM objects WHERE bucket_id = ?1) "
			     "FROM buckets WHERE id = ?1",
	/* a prefix's key range (cairn__meta_key_range): a range of the primary key */
	[ST_BUCKET_TERMS] = "SELECT t.xorb_hash, t.chunk_first, t.chunk_end FROM objects AS o "
			    "JOIN file_terms AS t ON t.file_hash = o.file_hash WHERE o.bucket_id = ?1",
	[ST_PREFIX_TOTALS] = "SELECT count(*), coalesce(sum(size), 0) FROM objects "
			     "WHERE bucket_id = ?1 AND key >= ?2 AND key < ?3",

	[ST_OBJECT_UPSERT] = "INSERT INTO objects (bucket_id, key, file_hash, size, mtime_ns, "
			     "created_ns, content_type, md5, parts, user_meta, part_sizes) "
			     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
			     "ON CONFLICT (bucket_id, key) DO UPDATE SET "
			     "file_hash = excluded.file_hash, size = excluded.size, "
			     "mtime_ns = excluded.mtime_ns, created_ns = excluded.created_ns, "
			     "content_type = excluded.content_type, md5 = excluded.md5, "
			     "parts = excluded.parts, user_meta = excluded.user_meta, "
			     "part_sizes = excluded.part_sizes",
	[ST_OBJECT_GET] = "SELECT " OBJECT_COLS " FROM objects WHERE bucket_id = ?1 AND key = ?2",
	[ST_OBJECT_DELETE] = "DELETE FROM objects WHERE bucket_id = ?1 AND key = ?2",
	/* a range over the primary key: see cairn__meta_key_range */
	[ST_OBJECT_LIST] = "SELECT key, " OBJECT_COLS " "
			   "FROM objects WHERE bucket_id = ?1 AND key >= ?2 AND key < ?3 "
			   "ORDER BY key LIMIT ?4",

	[ST_FILE_INSERT] = "INSERT INTO files (hash, size, created_ns) VALUES (?1, ?2, ?3) "
			   "ON CONFLICT (hash) DO NOTHING",
	[ST_FILE_SIZE] = "SELECT size FROM files WHERE hash = ?1",
	/* inserts nothing unless the xorb is recorded and holds the chunks */
	[ST_TERM_INSERT] = "INSERT INTO file_terms (file_hash, seq, xorb_hash, chunk_first, "
			   "chunk_end, raw_len) SELECT ?1, ?2, ?3, ?4, ?5, ?6 FROM xorbs "
			   "WHERE hash = ?3 AND chunks >= ?5",
	/* one statement: the file and its terms from the same snapshot */
	[ST_FILE_GET] = "SELECT f.size, t.seq, t.xorb_hash, t.chunk_first, t.chunk_end, "
			"t.raw_len FROM files AS f LEFT JOIN file_terms AS t "
			"ON t.file_hash = f.hash WHERE f.hash = ?1 ORDER BY t.seq",
	[ST_FILE_LIST] = "SELECT hash, size FROM files ORDER BY hash",

	[ST_XORB_INSERT] = "INSERT INTO xorbs (" XORB_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
			   "ON CONFLICT (hash) DO NOTHING",
	[ST_XORB_GET] = "SELECT " XORB_READ_COLS " FROM xorbs WHERE hash = ?1",
	[ST_XORB_TOUCH] = "UPDATE xorbs SET used_ns = max(used_ns, ?2) WHERE hash = ?1",
	[ST_XORB_LIST] = "SELECT " XORB_READ_COLS " FROM xorbs ORDER BY hash",
	[ST_CHUNK_INSERT] = "INSERT INTO xorb_chunks (xorb_hash, idx, chunk_hash, chunk_offset, "
			    "packed_len, raw_len) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_XORB_CHUNKS] = "SELECT idx, chunk_hash, chunk_offset, packed_len, raw_len "
			   "FROM xorb_chunks WHERE xorb_hash = ?1 AND idx >= ?2 AND idx < ?3 "
			   "ORDER BY idx",
	[ST_XORB_NAME] = "SELECT coalesce(rest_name, hash) FROM xorbs WHERE hash = ?1",
	[ST_XORB_REPACK] = "UPDATE xorbs SET gen = ?3, rest_name = ?4, stored = ?5 "
			   "WHERE hash = ?1 AND gen = ?2",
	[ST_CHUNK_MOVE] = "UPDATE xorb_chunks SET chunk_offset = ?3, packed_len = ?4 "
			  "WHERE xorb_hash = ?1 AND idx = ?2 AND chunk_hash = ?5 AND raw_len = ?6",
	[ST_RETIRE] = "INSERT OR REPLACE INTO retired_names (name, retired_ns) VALUES (?1, ?2)",
	[ST_NAME_LIVE] = "SELECT 1 FROM xorbs WHERE (hash = ?1 AND rest_name IS NULL) OR "
			 "rest_name = ?1 LIMIT 1",
	[ST_NAME_RETIRED] = "SELECT retired_ns FROM retired_names WHERE name = ?1",
	[ST_RETIRED_OLD] = "SELECT name FROM retired_names WHERE retired_ns < ?1",
	[ST_RETIRED_DEL] = "DELETE FROM retired_names WHERE name = ?1",
	[ST_CHUNK_LOOKUP] = "SELECT xorb_hash, idx FROM xorb_chunks WHERE chunk_hash = ?1 LIMIT 1",

	[ST_GC_TERMS] = "DELETE FROM file_terms WHERE file_hash IN "
			"(SELECT hash FROM files WHERE " GC_FILE_WHERE ")",
	[ST_GC_FILES] = "DELETE FROM files WHERE " GC_FILE_WHERE,
	[ST_GC_XORBS] = "SELECT " XORB_READ_COLS " FROM xorbs WHERE created_ns < ?1 AND used_ns < ?1 "
			"AND NOT EXISTS (SELECT 1 FROM file_terms "
			"WHERE file_terms.xorb_hash = xorbs.hash) ORDER BY hash",
	[ST_GC_XORB_CHUNKS] = "DELETE FROM xorb_chunks WHERE xorb_hash = ?1",
	[ST_GC_XORB] = "DELETE FROM xorbs WHERE hash = ?1",

	[ST_USER_INSERT] = "INSERT INTO users (name, created_ns) VALUES (?1, ?2)",
	[ST_USER_GET] = "SELECT id FROM users WHERE name = ?1",
	[ST_USER_COUNT] = "SELECT count(*) FROM users",
	/* inserts nothing when the user does not exist */
	[ST_TOKEN_INSERT] = "INSERT INTO tokens (user_id, scope, hash, created_ns) "
			    "SELECT id, ?2, ?3, ?4 FROM users WHERE name = ?1",
	[ST_TOKEN_LOOKUP] = "SELECT u.name, t.scope, t.hash, t.revoked_ns FROM tokens AS t "
			    "JOIN users AS u ON u.id = t.user_id WHERE t.hash = ?1",
	[ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ns = ?2 WHERE hash = ?1 "
			    "AND revoked_ns IS NULL",
	[ST_SESSION_INSERT] = "INSERT INTO web_sessions (hash, token_hash, created_ns, expires_ns) "
			      "VALUES (?1, ?2, ?3, ?4)",
	[ST_SESSION_EXPIRE] = "DELETE FROM web_sessions WHERE expires_ns <= ?1",
	/* a session lives only as long as its token */
	[ST_SESSION_LOOKUP] = "SELECT u.name, t.scope, s.hash FROM web_sessions AS s "
			      "JOIN tokens AS t ON t.hash = s.token_hash "
			      "JOIN users AS u ON u.id = t.user_id "
			      "WHERE s.hash = ?1 AND s.expires_ns > ?2 AND t.revoked_ns IS NULL",
	[ST_SESSION_DELETE] = "DELETE FROM web_sessions WHERE hash = ?1",
	[ST_REGION_INSERT] = "INSERT INTO regions (name, url, secret, created_ns) "
			     "VALUES (?1, ?2, ?3, ?4)",
	[ST_REGION_GET] = "SELECT url, secret FROM regions WHERE name = ?1",
	[ST_REGION_LIST] = "SELECT name, url, created_ns FROM regions ORDER BY name",
	[ST_REGION_DELETE] = "DELETE FROM regions WHERE name = ?1",

	[ST_GRANT_PUT] = "INSERT INTO chunk_grants (ns, chunk_hash, created_ns) VALUES (?1, ?2, ?3) "
			 "ON CONFLICT (ns, chunk_hash) DO UPDATE SET "
			 "created_ns = max(created_ns, excluded.created_ns)",
	/*
	 * ?1 chunk, ?2 the caller's namespace (NULL: anonymous), ?3 every
	 * bucket counts (admin), ?4 oldest grant that counts. A copy of the
	 * chunk is usable when a term of an object the caller can read
	 * covers it, or when the caller holds a grant for the chunk (then
	 * any copy will do).
	 */
	[ST_CHUNK_ACCESS] = "SELECT c.xorb_hash, c.idx, c.raw_len FROM xorb_chunks AS c "
			    "WHERE c.chunk_hash = ?1 AND ("
			    "(?2 IS NOT NULL AND EXISTS (SELECT 1 FROM chunk_grants AS g "
			    "WHERE g.ns = ?2 AND g.chunk_hash = ?1 AND g.created_ns >= ?4)) "
			    "OR EXISTS (SELECT 1 FROM file_terms AS t "
			    "JOIN objects AS o ON o.file_hash = t.file_hash "
			    "JOIN buckets AS b ON b.id = o.bucket_id "
			    "WHERE t.xorb_hash = c.xorb_hash AND t.chunk_first <= c.idx "
			    "AND c.idx < t.chunk_end AND (?3 OR b.private = 0 OR b.ns = ?2))) "
			    "LIMIT 1",
	[ST_FILE_VISIBLE] = "SELECT 1 FROM objects AS o JOIN buckets AS b ON b.id = o.bucket_id "
			    "WHERE o.file_hash = ?1 AND (?3 OR b.private = 0 OR b.ns = ?2) LIMIT 1",
	[ST_GC_GRANTS] = "DELETE FROM chunk_grants WHERE created_ns < ?1",

	/* inserts nothing when the user does not exist */
	[ST_S3KEY_INSERT] = "INSERT INTO s3_keys (access_key, user_id, secret, created_ns) "
			    "SELECT ?2, id, ?3, ?4 FROM users WHERE name = ?1",
	[ST_S3KEY_LOOKUP] = "SELECT u.name, k.secret, k.revoked_ns FROM s3_keys AS k "
			    "JOIN users AS u ON u.id = k.user_id WHERE k.access_key = ?1",
	[ST_S3KEY_REVOKE] = "UPDATE s3_keys SET revoked_ns = ?2 WHERE access_key = ?1 "
			    "AND revoked_ns IS NULL",

	[ST_MPU_INSERT] = "INSERT INTO multipart_uploads (id, bucket_id, key, content_type, "
			  "user_meta, created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_MPU_GET] = "SELECT key, content_type, user_meta FROM multipart_uploads "
		       "WHERE id = ?1 AND bucket_id = ?2",
	[ST_MPU_PART_UPSERT] = "INSERT INTO multipart_parts (upload_id, number, file_hash, size, "
			       "md5, created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
			       "ON CONFLICT (upload_id, number) DO UPDATE SET "
			       "file_hash = excluded.file_hash, size = excluded.size, "
			       "md5 = excluded.md5, created_ns = excluded.created_ns",
	[ST_MPU_PARTS] = "SELECT number, file_hash, size, md5, created_ns FROM multipart_parts "
			 "WHERE upload_id = ?1 AND number > ?2 ORDER BY number LIMIT ?3",
	/*
	 * ?2..?3 the prefix's key range (cairn__meta_key_range); after the
	 * marker ?4 (NULL: none): a later key, or the same key and a later id
	 * (?5 NULL: no id is later, so every upload of the marker key is skipped)
	 */
	[ST_MPU_LIST] = "SELECT id, key, created_ns FROM multipart_uploads "
			"WHERE bucket_id = ?1 AND key >= ?2 AND key < ?3 "
			"AND (?4 IS NULL OR key > ?4 OR (key = ?4 AND id > ?5)) "
			"ORDER BY key, id LIMIT ?6",
	[ST_MPU_DROP_PARTS] = "DELETE FROM multipart_parts WHERE upload_id = ?1",
	[ST_MPU_DELETE] = "DELETE FROM multipart_uploads WHERE id = ?1",
};

enum tx_state { TX_NONE, TX_READ, TX_WRITE };

typedef struct meta_sqlite {
	cairn_meta base; /* first: the table's address is the handle's */
	sqlite3 *db;
	enum tx_state tx;
	sqlite3_stmt *st[ST_COUNT];
	/*
	 * object_get's strings. out->key, content_type and user_meta point here,
	 * and only object_get writes here: they stay valid until the next
	 * object_get (or close), which is longer than meta.h promises
	 * ("until its next call").
	 */
	char key[CAIRN_KEY_MAX];
	char content_type[CAIRN_CTYPE_MAX + 1];
	char user_meta[CAIRN_USER_META_TEXT_MAX + 1];
	uint8_t part_sizes[8 * CAIRN_META_PARTS_MAX];
	/* mpu_get's strings: only mpu_get writes here */
	char mpu_key[CAIRN_KEY_MAX];
	char mpu_content_type[CAIRN_CTYPE_MAX + 1];
	char mpu_user_meta[CAIRN_USER_META_TEXT_MAX + 1];
	int gc_fd; /* the collector's lock (DB-gc.lock, flock), or -1 */
} meta_sqlite;

static meta_sqlite *handle(cairn_meta *m)
{
	return (meta_sqlite *)m;
}

/* ---- errors, statements, values ------------------------------------------ */

static int sql_error(meta_sqlite *s, int src, const char *what)
{
	int code;

	switch (src & 0xFF) {
	case SQLITE_NOMEM:
		code = CAIRN_ENOMEM;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = CAIRN_ECORRUPT;
		break;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		code = CAIRN_EINVALID;
		break;
	default: /* SQLITE_BUSY, SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY... */
		code = CAIRN_EIO;
		break;
	}
	return cairn__error_set(code, "metadata: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Reset a statement after use and drop its bindings (they point at the caller's memory). */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * A cached statement, unless it is running already (a callback calling its
 * own listing). *out is set either way, so no path binds to garbage.
 */
static int acquire(sqlite3_stmt **out, meta_sqlite *s, enum stmt_id id, const char *what)
{
	*out = s->st[id];
	if (sqlite3_stmt_busy(*out))
		return cairn__error_set(CAIRN_EINVALID,
					"metadata: %s called from a callback of its own listing", what);
	return 0;
}

/* Run a statement that returns no rows; always leaves it reset. */
static int run(meta_sqlite *s, sqlite3_stmt *st, const char *what)
{
	int src = sqlite3_step(st);
	int rc = 0;

	if (src != SQLITE_DONE && src != SQLITE_ROW)
		rc = sql_error(s, src, what);
	stmt_done(st);
	return rc;
}

static int run_id(meta_sqlite *s, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st;
	int rc = acquire(&st, s, id, what);

	return rc ? rc : run(s, st, what);
}

static const char *hex(char buf[CAIRN_HASH_HEX_LEN + 1], const cairn_hash *h)
{
	cairn_hash_to_hex(buf, h);
	return buf;
}

/* Values bound with SQLITE_STATIC are not copied, so these binds cannot fail at run time. */
static void bind_hash(sqlite3_stmt *st, int i, const cairn_hash *h)
{
	sqlite3_bind_blob(st, i, h->bytes, (int)sizeof(h->bytes), SQLITE_STATIC);
}

static void bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	/* a NULL pointer would bind SQL NULL, not an empty BLOB */
	static const uint8_t empty[1];

	sqlite3_bind_blob(st, i, len ? p : empty, (int)len, SQLITE_STATIC);
}

static int check_u64(uint64_t v, const char *what)
{
	if (v > (uint64_t)INT64_MAX)
		return cairn__error_set(CAIRN_EINVALID, "metadata: %s %llu is too large", what,
					(unsigned long long)v);
	return 0;
}

static int col_hash(cairn_hash *out, sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);

	if (p == NULL || sqlite3_column_bytes(st, col) != (int)sizeof(out->bytes))
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored hash is not 32 bytes");
	memcpy(out->bytes, p, sizeof(out->bytes));
	return 0;
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
	return (uint64_t)sqlite3_column_int64(st, col);
}

static uint32_t col_u32(sqlite3_stmt *st, int col)
{
	return (uint32_t)sqlite3_column_int64(st, col);
}

/* ---- transactions ---------------------------------------------------------- */

static int need_write(meta_sqlite *s, const char *what)
{
	if (s->tx != TX_WRITE)
		return cairn__error_set(CAIRN_EINVALID,
					"metadata: %s outside a write transaction (begin(true) first)",
					what);
	if (sqlite3_get_autocommit(s->db))
		return cairn__error_set(CAIRN_EIO,
					"metadata: %s: the transaction was rolled back by an earlier "
					"error; roll back and start again", what);
	return 0;
}

/* Roll the connection back without touching the thread's error message. */
static void rollback_quietly(meta_sqlite *s)
{
	if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_step(s->st[ST_ROLLBACK]);
		stmt_done(s->st[ST_ROLLBACK]);
	}
	s->tx = TX_NONE;
}

static int tx_begin(cairn_meta *m, bool write)
{
	meta_sqlite *s = handle(m);
	int rc;

	if (s->tx != TX_NONE)
		return cairn__error_set(CAIRN_EINVALID,
					"metadata: a transaction is open already (they do not nest)");
	rc = run_id(s, write ? ST_BEGIN_WRITE : ST_BEGIN_READ,
		    write ? "begin a write transaction" : "begin a read transaction");
	if (rc == 0)
		s->tx = write ? TX_WRITE : TX_READ;
	return rc;
}

/* A failed commit rolls back: the handle is then out of any transaction. */
static int tx_commit(cairn_meta *m)
{
	meta_sqlite *s = handle(m);
	int rc;

	if (s->tx == TX_NONE)
		return cairn__error_set(CAIRN_EINVALID, "metadata: commit without begin");
	if (sqlite3_get_autocommit(s->db)) {
		s->tx = TX_NONE;
		return cairn__error_set(CAIRN_EIO,
					"metadata: the transaction was rolled back by an earlier "
					"error; nothing was committed");
	}
	rc = run_id(s, ST_COMMIT, "commit");
	if (rc != 0) {
		rc = CAIRN_EIO; /* the message says why */
		rollback_quietly(s);
	}
	s->tx = TX_NONE;
	return rc;
}

static void tx_rollback(cairn_meta *m)
{
	meta_sqlite *s = handle(m);

	if (s->tx != TX_NONE)
		rollback_quietly(s);
}

/* Start a mutation that runs several statements: in a write transaction, in a savepoint. */
static int op_begin(meta_sqlite *s, const char *what)
{
	int rc = need_write(s, what);

	return rc ? rc : run_id(s, ST_SAVEPOINT, what);
}

/* End it: keep its changes if rc is 0, else undo them; returns rc. */
static int op_end(meta_sqlite *s, int rc, const char *what)
{
	if (rc == 0)
		return run_id(s, ST_RELEASE, what);
	if (!sqlite3_get_autocommit(s->db)) { /* else SQLite has rolled back everything */
		sqlite3_step(s->st[ST_ROLLBACK_TO]);
		stmt_done(s->st[ST_ROLLBACK_TO]);
		sqlite3_step(s->st[ST_RELEASE]);
		stmt_done(s->st[ST_RELEASE]);
	}
	return rc;
}

/* ---- buckets ------------------------------------------------------------------ */

static int bucket_create(cairn_meta *m, const char *ns, const char *name, bool is_private,
			 int64_t now_ns, int64_t *id)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = need_write(s, "bucket_create")) != 0 ||
	    (rc = cairn__meta_check_name("namespace", ns)) != 0 ||
	    (rc = cairn__meta_check_name("bucket name", name)) != 0 ||
	    (rc = acquire(&st, s, ST_BUCKET_INSERT, "bucket_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, is_private ? 1 : 0);
	sqlite3_bind_int64(st, 4, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		if (id)
			*id = sqlite3_last_insert_rowid(s->db);
	} else if (src == SQLITE_CONSTRAINT_UNIQUE) {
		rc = cairn__error_set(CAIRN_EEXISTS, "bucket %s/%s exists already", ns, name);
	} else {
		rc = sql_error(s, src, "bucket_create");
	}
	stmt_done(st);
	return rc;
}

static int copy_name(char out[CAIRN_NAME_MAX + 1], sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int len = sqlite3_column_bytes(st, col);

	if (t == NULL || len < 1 || len > CAIRN_NAME_MAX)
		return cairn__error_set(CAIRN_ECORRUPT,
					"metadata: a stored bucket name is malformed");
	memcpy(out, t, (size_t)len);
	out[len] = '\0';
	return 0;
}

static int read_bucket(cairn_bucket_row *row, sqlite3_stmt *st)
{
	int rc;

	row->id = sqlite3_column_int64(st, 0);
	if ((rc = copy_name(row->ns, st, 1)) != 0 || (rc = copy_name(row->name, st, 2)) != 0)
		return rc;
	row->is_private = sqlite3_column_int(st, 3) != 0;
	row->created_ns = sqlite3_column_int64(st, 4);
	{
		const unsigned char *t = sqlite3_column_text(st, 5);
		int len = sqlite3_column_bytes(st, 5);
		if (len < 0 || len > CAIRN_REGIONS_MAX)
			return cairn__error_set(CAIRN_ECORRUPT,
						"metadata: a bucket's region list is malformed");
		if (len > 0)
			memcpy(row->regions, t, (size_t)len);
		row->regions[len] = '\0';
	}
	return 0;
}

static int bucket_get(cairn_meta *m, const char *ns, const char *name, cairn_bucket_row *out)
{
	meta_sqlite *s = handle(m);
	cairn_bucket_row row;
	sqlite3_stmt *st;
	int rc, src;

	if (ns == NULL || name == NULL || out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_get: NULL argument");
	if ((rc = acquire(&st, s, ST_BUCKET_GET, "bucket_get")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = read_bucket(&row, st);
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no bucket %s/%s", ns, name);
	else
		rc = sql_error(s, src, "bucket_get");
	stmt_done(st);
	if (rc == 0)
		*out = row;
	return rc;
}

static int bucket_list(cairn_meta *m, const char *ns, cairn_meta_bucket_fn fn, void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_list: no callback");
	if ((rc = acquire(&st, s, ns ? ST_BUCKET_LIST_NS : ST_BUCKET_LIST, "bucket_list")) != 0)
		return rc;
	if (ns)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	for (;;) {
		cairn_bucket_row row;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "bucket_list");
			break;
		}
		if ((rc = read_bucket(&row, st)) != 0 || (rc = fn(ctx, &row)) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

/* Run an UPDATE or DELETE that must touch a row; CAIRN_ENOTFOUND with `missing` if none. */
static int run_on_one(meta_sqlite *s, sqlite3_stmt *st, const char *what, const char *missing)
{
	int rc = run(s, st, what);

	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", missing);
	return rc;
}

static int bucket_set_private(cairn_meta *m, int64_t id, bool is_private)
{
	meta_sqlite *s = handle(m);
	char missing[48];
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "bucket_set_private")) != 0 ||
	    (rc = acquire(&st, s, ST_BUCKET_SET_PRIVATE, "bucket_set_private")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, is_private ? 1 : 0);
	snprintf(missing, sizeof(missing), "no bucket with id %lld", (long long)id);
	return run_on_one(s, st, "bucket_set_private", missing);
}

static int bucket_set_regions(cairn_meta *m, int64_t id, const char *regions)
{
	meta_sqlite *s = handle(m);
	char missing[48];
	sqlite3_stmt *st;
	int rc;

	if (regions == NULL || strlen(regions) > CAIRN_REGIONS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "bucket_set_regions: over %d bytes",
					CAIRN_REGIONS_MAX);
	if ((rc = need_write(s, "bucket_set_regions")) != 0 ||
	    (rc = acquire(&st, s, ST_BUCKET_SET_REGIONS, "bucket_set_regions")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, regions, -1, SQLITE_STATIC);
	snprintf(missing, sizeof(missing), "no bucket with id %lld", (long long)id);
	return run_on_one(s, st, "bucket_set_regions", missing);
}

static int bucket_get_by_id(cairn_meta *m, int64_t id, cairn_bucket_row *out)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = acquire(&st, s, ST_BUCKET_BY_ID, "bucket_get_by_id")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = read_bucket(out, st);
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no bucket with id %lld", (long long)id);
	else
		rc = sql_error(s, src, "bucket_get_by_id");
	stmt_done(st);
	return rc;
}

static int bucket_delete(cairn_meta *m, int64_t id)
{
	meta_sqlite *s = handle(m);
	char missing[48];
	sqlite3_stmt *st;
	int rc;

	if ((rc = op_begin(s, "bucket_delete")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_BUCKET_DROP_OBJECTS, "bucket_delete")) == 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = run(s, st, "bucket_delete: objects");
	}
	/* uploads in progress go with it (their parts' data at the next GC) */
	if (rc == 0 && (rc = acquire(&st, s, ST_BUCKET_DROP_PARTS, "bucket_delete")) == 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = run(s, st, "bucket_delete: upload parts");
	}
	if (rc == 0 && (rc = acquire(&st, s, ST_BUCKET_DROP_UPLOADS, "bucket_delete")) == 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = run(s, st, "bucket_delete: uploads");
	}
	if (rc == 0 && (rc = acquire(&st, s, ST_BUCKET_DELETE, "bucket_delete")) == 0) {
		sqlite3_bind_int64(st, 1, id);
		snprintf(missing, sizeof(missing), "no bucket with id %lld", (long long)id);
		rc = run_on_one(s, st, "bucket_delete", missing);
	}
	return op_end(s, rc, "bucket_delete");
}

static int bucket_totals(cairn_meta *m, int64_t id, uint64_t *objects, uint64_t *bytes)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = acquire(&st, s, ST_BUCKET_TOTALS, "bucket_totals")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		if (objects)
			*objects = col_u64(st, 0);
		if (bytes)
			*bytes = col_u64(st, 1);
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no bucket with id %lld", (long long)id);
	} else {
		rc = sql_error(s, src, "bucket_totals");
	}
	stmt_done(st);
	return rc;
}

static int bucket_terms(cairn_meta *m, int64_t bucket,
			int (*fn)(void *ctx, const cairn_hash *xorb, uint32_t first, uint32_t end),
			void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_terms: NULL callback");
	if ((rc = acquire(&st, s, ST_BUCKET_TERMS, "bucket_terms")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		cairn_hash x;

		if ((rc = col_hash(&x, st, 0)) != 0 ||
		    (rc = fn(ctx, &x, col_u32(st, 1), col_u32(st, 2))) != 0)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = sql_error(s, src, "bucket_terms");
	stmt_done(st);
	return rc;
}

static int prefix_totals(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			 uint64_t *objects, uint64_t *bytes)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	uint8_t *lo = NULL, *hi = NULL;
	size_t lo_len, hi_len;
	int rc, src;

	lo = malloc(CAIRN_KEY_MAX + 1);
	hi = malloc(CAIRN_KEY_MAX + 1);
	if (lo == NULL || hi == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, NULL, 0)) !=
		    0 ||
	    (rc = acquire(&st, s, ST_PREFIX_TOTALS, "prefix_totals")) != 0)
		goto done;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, lo, lo_len);
	bind_bytes(st, 3, hi, hi_len);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*objects = col_u64(st, 0);
		*bytes = col_u64(st, 1);
	} else {
		rc = sql_error(s, src, "prefix_totals");
	}
	stmt_done(st);
done:
	free(lo);
	free(hi);
	return rc;
}

/* ---- objects ------------------------------------------------------------------ */

/* An object's (or an upload's) content type and user metadata: NULL or within their ceilings. */
static int check_strings(const char *content_type, const char *user_meta)
{
	if (content_type && strnlen(content_type, CAIRN_CTYPE_MAX + 1) > CAIRN_CTYPE_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a content type has at most %d bytes",
					CAIRN_CTYPE_MAX);
	if (user_meta &&
	    strnlen(user_meta, CAIRN_USER_META_TEXT_MAX + 1) > CAIRN_USER_META_TEXT_MAX)
		return cairn__error_set(CAIRN_EINVALID, "user metadata has at most %d bytes of text",
					CAIRN_USER_META_TEXT_MAX);
	return 0;
}

/*
 * Copy a stored string column into a buffer of cap bytes (NUL included),
 * or give NULL for SQL NULL; one too long is damage.
 */
static int copy_text(const char **out, char *buf, size_t cap, sqlite3_stmt *st, int col,
		     const char *what)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	*out = NULL;
	if (t == NULL)
		return 0;
	if (n >= cap)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored %s is too long", what);
	memcpy(buf, t, n);
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int object_put(cairn_meta *m, int64_t bucket, const cairn_object_row *row)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	uint64_t file_size = 0;
	int rc, src;

	if ((rc = need_write(s, "object_put")) != 0)
		return rc;
	if (row == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_put: no row");
	if ((rc = cairn__meta_check_key(row->key, row->key_len)) != 0 ||
	    (rc = check_u64(row->size, "object size")) != 0)
		return rc;
	if ((rc = check_strings(row->content_type, row->user_meta)) != 0)
		return rc;

	/* the file must be recorded, and the object is all of it */
	if ((rc = acquire(&st, s, ST_FILE_SIZE, "object_put")) != 0)
		return rc;
	bind_hash(st, 1, &row->file);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		file_size = col_u64(st, 0);
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "object_put: file %s is not recorded (file_put first)",
				      hex(h, &row->file));
	else
		rc = sql_error(s, src, "object_put: file");
	stmt_done(st);
	if (rc != 0)
		return rc;
	if (file_size != row->size)
		return cairn__error_set(CAIRN_EINVALID,
					"object_put: size %llu, but file %s holds %llu bytes",
					(unsigned long long)row->size, hex(h, &row->file),
					(unsigned long long)file_size);

	if ((rc = acquire(&st, s, ST_OBJECT_UPSERT, "object_put")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, row->key, row->key_len);
	bind_hash(st, 3, &row->file);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)row->size);
	sqlite3_bind_int64(st, 5, row->mtime_ns);
	sqlite3_bind_int64(st, 6, row->created_ns);
	if (row->content_type)
		sqlite3_bind_text(st, 7, row->content_type, -1, SQLITE_STATIC);
	if (row->has_md5)
		bind_bytes(st, 8, row->md5, sizeof(row->md5));
	sqlite3_bind_int64(st, 9, row->parts);
	if (row->user_meta)
		sqlite3_bind_text(st, 10, row->user_meta, -1, SQLITE_STATIC);
	if (row->part_sizes && row->parts > 0) {
		if (row->parts > CAIRN_META_PARTS_MAX) {
			stmt_done(st);
			return cairn__error_set(CAIRN_EINVALID, "object_put: %u parts", row->parts);
		}
		bind_bytes(st, 11, row->part_sizes, 8 * (size_t)row->parts);
	}
	src = sqlite3_step(st);
	if (src == SQLITE_CONSTRAINT_FOREIGNKEY) /* the file was checked above */
		rc = cairn__error_set(CAIRN_ENOTFOUND, "object_put: no bucket with id %lld",
				      (long long)bucket);
	else if (src != SQLITE_DONE)
		rc = sql_error(s, src, "object_put");
	stmt_done(st);
	return rc;
}

/* The columns from file_hash on, at `col`, of an objects row (key set by the caller). */
static int read_object(cairn_object_row *row, sqlite3_stmt *st, int col)
{
	const void *md5;
	int rc;

	if ((rc = col_hash(&row->file, st, col)) != 0)
		return rc;
	row->size = col_u64(st, col + 1);
	row->mtime_ns = sqlite3_column_int64(st, col + 2);
	row->created_ns = sqlite3_column_int64(st, col + 3);
	row->content_type = (const char *)sqlite3_column_text(st, col + 4);
	md5 = sqlite3_column_blob(st, col + 5);
	row->has_md5 = md5 != NULL;
	if (md5 != NULL) {
		if (sqlite3_column_bytes(st, col + 5) != (int)sizeof(row->md5))
			return cairn__error_set(CAIRN_ECORRUPT,
						"metadata: a stored MD5 is not 16 bytes");
		memcpy(row->md5, md5, sizeof(row->md5));
	} else {
		memset(row->md5, 0, sizeof(row->md5));
	}
	row->parts = col_u32(st, col + 6);
	row->user_meta = (const char *)sqlite3_column_text(st, col + 7);
	row->part_sizes = sqlite3_column_blob(st, col + 8);
	if (row->part_sizes != NULL &&
	    (row->parts == 0 || row->parts > CAIRN_META_PARTS_MAX ||
	     sqlite3_column_bytes(st, col + 8) != (int)(8 * row->parts)))
		row->part_sizes = NULL; /* not what it should be: as if unknown */
	return 0;
}

static int object_get(cairn_meta *m, int64_t bucket, const char *key, size_t key_len,
		      cairn_object_row *out)
{
	meta_sqlite *s = handle(m);
	cairn_object_row row;
	sqlite3_stmt *st;
	int rc, src;

	if (out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_get: no row to fill");
	if ((rc = cairn__meta_check_key(key, key_len)) != 0 ||
	    (rc = acquire(&st, s, ST_OBJECT_GET, "object_get")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, key, key_len);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = read_object(&row, st, 0);
		if (rc == 0)
			rc = copy_text(&row.content_type, s->content_type, sizeof(s->content_type), st,
				       4, "content type");
		if (rc == 0)
			rc = copy_text(&row.user_meta, s->user_meta, sizeof(s->user_meta), st, 7,
				       "user metadata");
		if (rc == 0 && row.part_sizes) {
			memcpy(s->part_sizes, row.part_sizes, 8 * (size_t)row.parts);
			row.part_sizes = s->part_sizes;
		}
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no such object in bucket %lld",
				      (long long)bucket);
	} else {
		rc = sql_error(s, src, "object_get");
	}
	stmt_done(st);
	if (rc != 0)
		return rc;
	memmove(s->key, key, key_len); /* key may be a previous out->key */
	row.key = s->key;
	row.key_len = key_len;
	*out = row;
	return 0;
}

static int object_delete(cairn_meta *m, int64_t bucket, const char *key, size_t key_len)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "object_delete")) != 0 ||
	    (rc = cairn__meta_check_key(key, key_len)) != 0 ||
	    (rc = acquire(&st, s, ST_OBJECT_DELETE, "object_delete")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, key, key_len);
	return run_on_one(s, st, "object_delete", "no such object");
}

static int object_list(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
		       const char *after, size_t after_len, size_t limit, cairn_meta_object_fn fn,
		       void *ctx)
{
	meta_sqlite *s = handle(m);
	uint8_t lo[CAIRN_KEY_MAX + 1], hi[CAIRN_KEY_MAX + 1];
	size_t lo_len, hi_len;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_list: no callback");
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, after,
					after_len)) != 0 ||
	    (rc = acquire(&st, s, ST_OBJECT_LIST, "object_list")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, lo, lo_len);
	bind_bytes(st, 3, hi, hi_len);
	sqlite3_bind_int64(st, 4, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
	for (;;) {
		cairn_object_row row;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "object_list");
			break;
		}
		row.key = sqlite3_column_blob(st, 0);
		row.key_len = (size_t)sqlite3_column_bytes(st, 0);
		if ((rc = read_object(&row, st, 1)) != 0 || (rc = fn(ctx, &row)) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

/* ---- files ------------------------------------------------------------------ */

/* Why a term was not inserted: its xorb is missing or too short. */
static int term_refused(meta_sqlite *s, size_t i, const cairn_term *t)
{
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = acquire(&st, s, ST_XORB_GET, "file_put")) != 0)
		return rc;
	bind_hash(st, 1, &t->xorb);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = cairn__error_set(CAIRN_EINVALID,
				      "file_put: term %zu asks for chunks [%u, %u) of xorb %s, "
				      "which holds %u", i, t->first, t->end, hex(h, &t->xorb),
				      col_u32(st, 3));
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "file_put: term %zu names xorb %s, which is not recorded", i,
				      hex(h, &t->xorb));
	else
		rc = sql_error(s, src, "file_put: xorb");
	stmt_done(st);
	return rc;
}

static int file_put(cairn_meta *m, const cairn_hash *file, uint64_t size, const cairn_term *terms,
		    size_t n, int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	uint64_t sum = 0;
	int rc;

	if ((rc = need_write(s, "file_put")) != 0)
		return rc;
	if (file == NULL || (n > 0 && terms == NULL))
		return cairn__error_set(CAIRN_EINVALID, "file_put: NULL argument");
	if ((rc = check_u64(size, "file size")) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (terms[i].first >= terms[i].end)
			return cairn__error_set(CAIRN_EINVALID,
						"file_put: term %zu has no chunks ([%u, %u))", i,
						terms[i].first, terms[i].end);
		if (terms[i].raw_len > size - sum) /* sum <= size: no overflow */
			return cairn__error_set(CAIRN_EINVALID,
						"file_put: the terms hold more than the file's %llu "
						"bytes", (unsigned long long)size);
		sum += terms[i].raw_len;
	}
	if (sum != size)
		return cairn__error_set(CAIRN_EINVALID,
					"file_put: the terms hold %llu bytes, the file %llu",
					(unsigned long long)sum, (unsigned long long)size);

	if ((rc = op_begin(s, "file_put")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_FILE_INSERT, "file_put")) != 0)
		return op_end(s, rc, "file_put");
	bind_hash(st, 1, file);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, now_ns);
	rc = run(s, st, "file_put");
	if (rc != 0 || sqlite3_changes(s->db) == 0) /* recorded already: nothing to do */
		return op_end(s, rc, "file_put");

	if ((rc = acquire(&st, s, ST_TERM_INSERT, "file_put")) != 0)
		return op_end(s, rc, "file_put");
	for (size_t i = 0; i < n && rc == 0; i++) {
		bind_hash(st, 1, file);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_hash(st, 3, &terms[i].xorb);
		sqlite3_bind_int64(st, 4, terms[i].first);
		sqlite3_bind_int64(st, 5, terms[i].end);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)terms[i].raw_len);
		rc = run(s, st, "file_put: term");
		if (rc == 0 && sqlite3_changes(s->db) == 0)
			rc = term_refused(s, i, &terms[i]);
	}
	return op_end(s, rc, "file_put");
}

static int file_get(cairn_meta *m, const cairn_hash *file, uint64_t *size, cairn_term **terms,
		    size_t *n)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_term *list = NULL;
	size_t count = 0, cap = 0;
	uint64_t file_size = 0;
	bool found = false;
	sqlite3_stmt *st;
	int rc;

	if (file == NULL || terms == NULL || n == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_get: NULL argument");
	if ((rc = acquire(&st, s, ST_FILE_GET, "file_get")) != 0)
		return rc;
	bind_hash(st, 1, file);
	for (;;) {
		cairn_term *t;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "file_get");
			break;
		}
		found = true;
		file_size = col_u64(st, 0);
		if (sqlite3_column_type(st, 1) == SQLITE_NULL) /* a file with no terms */
			continue;
		if (col_u64(st, 1) != count) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: file %s misses term %zu",
					      hex(h, file), count);
			break;
		}
		if (count == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			cairn_term *grown = realloc(list, ncap * sizeof(*list));

			if (grown == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for %zu terms",
						      ncap);
				break;
			}
			list = grown;
			cap = ncap;
		}
		t = &list[count];
		if ((rc = col_hash(&t->xorb, st, 2)) != 0)
			break;
		t->first = col_u32(st, 3);
		t->end = col_u32(st, 4);
		t->raw_len = col_u64(st, 5);
		count++;
	}
	stmt_done(st);
	if (rc == 0 && !found)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no file %s", hex(h, file));
	if (rc != 0) {
		free(list);
		return rc;
	}
	if (size)
		*size = file_size;
	*terms = list;
	*n = count;
	return 0;
}

static int file_list(cairn_meta *m, cairn_meta_file_fn fn, void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_list: no callback");
	if ((rc = acquire(&st, s, ST_FILE_LIST, "file_list")) != 0)
		return rc;
	for (;;) {
		cairn_hash file;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "file_list");
			break;
		}
		if ((rc = col_hash(&file, st, 0)) != 0 ||
		    (rc = fn(ctx, &file, col_u64(st, 1))) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

/* ---- xorbs and the chunk index ------------------------------------------------ */

static int read_xorb(cairn_xorb_row *row, sqlite3_stmt *st)
{
	int rc = col_hash(&row->hash, st, 0);

	if (rc != 0)
		return rc;
	row->stored = col_u64(st, 1);
	row->raw = col_u64(st, 2);
	row->chunks = col_u32(st, 3);
	row->created_ns = sqlite3_column_int64(st, 4);
	row->used_ns = sqlite3_column_int64(st, 5);
	row->gen = col_u32(st, 6);
	return col_hash(&row->name, st, 7);
}

/* Chunk rows must describe the xorb: contiguous from offset 0, inside it, raw sizes adding up. */
static int check_chunks(const cairn_xorb_row *row, const cairn_chunk_row *chunks, size_t n)
{
	uint64_t at = 0, raw = 0;

	if (n != row->chunks)
		return cairn__error_set(CAIRN_EINVALID, "xorb_put: %zu chunk rows for %u chunks", n,
					row->chunks);
	for (size_t i = 0; i < n; i++) {
		if (chunks[i].offset != at)
			return cairn__error_set(CAIRN_EINVALID,
						"xorb_put: chunk %zu at offset %llu, expected %llu",
						i, (unsigned long long)chunks[i].offset,
						(unsigned long long)at);
		if (chunks[i].packed_len == 0)
			return cairn__error_set(CAIRN_EINVALID, "xorb_put: chunk %zu is empty", i);
		at += chunks[i].packed_len;
		raw += chunks[i].raw_len;
	}
	if (at > row->stored)
		return cairn__error_set(CAIRN_EINVALID,
					"xorb_put: the chunks end at %llu, past the xorb's %llu bytes",
					(unsigned long long)at, (unsigned long long)row->stored);
	if (raw != row->raw)
		return cairn__error_set(CAIRN_EINVALID,
					"xorb_put: the chunks decode to %llu bytes, the row says %llu",
					(unsigned long long)raw, (unsigned long long)row->raw);
	return 0;
}

static int xorb_put(cairn_meta *m, const cairn_xorb_row *row, const cairn_chunk_row *chunks,
		    size_t n)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "xorb_put")) != 0)
		return rc;
	if (row == NULL || (n > 0 && chunks == NULL))
		return cairn__error_set(CAIRN_EINVALID, "xorb_put: NULL argument");
	if ((rc = check_u64(row->stored, "xorb size")) != 0 ||
	    (rc = check_u64(row->raw, "xorb raw size")) != 0 ||
	    (rc = check_chunks(row, chunks, n)) != 0)
		return rc;

	if ((rc = op_begin(s, "xorb_put")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_XORB_INSERT, "xorb_put")) != 0)
		return op_end(s, rc, "xorb_put");
	bind_hash(st, 1, &row->hash);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)row->stored);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)row->raw);
	sqlite3_bind_int64(st, 4, row->chunks);
	sqlite3_bind_int64(st, 5, row->created_ns);
	sqlite3_bind_int64(st, 6, row->used_ns);
	rc = run(s, st, "xorb_put");
	if (rc == 0 && sqlite3_changes(s->db) == 0) {
		/*
		 * Recorded already. Its uploader is about to reference it, so it
		 * counts as used now, like a xorb a dedup query promised: the
		 * grace period then protects it from a concurrent gc.
		 */
		if ((rc = acquire(&st, s, ST_XORB_TOUCH, "xorb_put")) == 0) {
			bind_hash(st, 1, &row->hash);
			sqlite3_bind_int64(st, 2, row->used_ns);
			rc = run(s, st, "xorb_put: touch");
		}
		return op_end(s, rc, "xorb_put");
	}

	if (rc == 0)
		rc = acquire(&st, s, ST_CHUNK_INSERT, "xorb_put");
	for (size_t i = 0; i < n && rc == 0; i++) {
		bind_hash(st, 1, &row->hash);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_hash(st, 3, &chunks[i].hash);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)chunks[i].offset);
		sqlite3_bind_int64(st, 5, chunks[i].packed_len);
		sqlite3_bind_int64(st, 6, chunks[i].raw_len);
		rc = run(s, st, "xorb_put: chunk");
	}
	return op_end(s, rc, "xorb_put");
}

static int xorb_get(cairn_meta *m, const cairn_hash *xorb, cairn_xorb_row *out)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_xorb_row row;
	sqlite3_stmt *st;
	int rc, src;

	if (xorb == NULL || out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_get: NULL argument");
	if ((rc = acquire(&st, s, ST_XORB_GET, "xorb_get")) != 0)
		return rc;
	bind_hash(st, 1, xorb);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = read_xorb(&row, st);
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s", hex(h, xorb));
	else
		rc = sql_error(s, src, "xorb_get");
	stmt_done(st);
	if (rc == 0)
		*out = row;
	return rc;
}

/* out[] is written as rows arrive: on error its contents are unspecified. */
static int xorb_chunks(cairn_meta *m, const cairn_hash *xorb, uint32_t first, uint32_t end,
		       cairn_chunk_row *out, cairn_hash *name)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	uint32_t at = first;
	int rc;

	if (xorb == NULL || first > end || (out == NULL && end > first))
		return cairn__error_set(CAIRN_EINVALID, "xorb_chunks: bad arguments");
	if (name) {
		if ((rc = acquire(&st, s, ST_XORB_NAME, "xorb_chunks")) != 0)
			return rc;
		bind_hash(st, 1, xorb);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			rc = col_hash(name, st, 0);
		else if (rc == SQLITE_DONE)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s", hex(h, xorb));
		else
			rc = sql_error(s, rc, "xorb_chunks");
		stmt_done(st);
		if (rc != 0)
			return rc;
	}
	if (first == end)
		return 0;
	if ((rc = acquire(&st, s, ST_XORB_CHUNKS, "xorb_chunks")) != 0)
		return rc;
	bind_hash(st, 1, xorb);
	sqlite3_bind_int64(st, 2, first);
	sqlite3_bind_int64(st, 3, end);
	for (;;) {
		cairn_chunk_row *c;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "xorb_chunks");
			break;
		}
		if (col_u64(st, 0) != at)
			break; /* a gap: reported below */
		c = &out[at - first];
		if ((rc = col_hash(&c->hash, st, 1)) != 0)
			break;
		c->offset = col_u64(st, 2);
		c->packed_len = col_u32(st, 3);
		c->raw_len = col_u32(st, 4);
		at++;
	}
	stmt_done(st);
	if (rc == 0 && at != end)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "xorb %s: no chunk %u recorded",
				      hex(h, xorb), at);
	return rc;
}

static int xorb_touch(cairn_meta *m, const cairn_hash *xorb, int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	char missing[80];
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "xorb_touch")) != 0)
		return rc;
	if (xorb == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_touch: no xorb");
	if ((rc = acquire(&st, s, ST_XORB_TOUCH, "xorb_touch")) != 0)
		return rc;
	bind_hash(st, 1, xorb);
	sqlite3_bind_int64(st, 2, now_ns);
	snprintf(missing, sizeof(missing), "no xorb %s", hex(h, xorb));
	return run_on_one(s, st, "xorb_touch", missing);
}

static int xorb_list(cairn_meta *m, cairn_meta_xorb_fn fn, void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_list: no callback");
	if ((rc = acquire(&st, s, ST_XORB_LIST, "xorb_list")) != 0)
		return rc;
	for (;;) {
		cairn_xorb_row row;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "xorb_list");
			break;
		}
		if ((rc = read_xorb(&row, st)) != 0 || (rc = fn(ctx, &row)) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

static int xorb_repack(cairn_meta *m, const cairn_hash *xorb, uint32_t old_gen, uint32_t gen,
		       const cairn_hash *name, uint64_t stored, const cairn_chunk_row *chunks,
		       size_t n, int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_xorb_row row, want;
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "xorb_repack")) != 0)
		return rc;
	if (xorb == NULL || name == NULL || (n > 0 && chunks == NULL) || gen <= old_gen)
		return cairn__error_set(CAIRN_EINVALID, "xorb_repack: bad arguments");
	if ((rc = xorb_get(m, xorb, &row)) != 0)
		return rc;
	if (row.gen != old_gen)
		return cairn__error_set(CAIRN_ENOTFOUND, "xorb %s is at generation %u, not %u",
					hex(h, xorb), row.gen, old_gen);
	want = row;
	want.stored = stored;
	if ((rc = check_u64(stored, "xorb size")) != 0 || (rc = check_chunks(&want, chunks, n)) != 0)
		return rc;

	if ((rc = op_begin(s, "xorb_repack")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_XORB_REPACK, "xorb_repack")) == 0) {
		bind_hash(st, 1, xorb);
		sqlite3_bind_int64(st, 2, old_gen);
		sqlite3_bind_int64(st, 3, gen);
		bind_hash(st, 4, name);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)stored);
		rc = run(s, st, "xorb_repack");
		if (rc == 0 && sqlite3_changes(s->db) != 1)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "xorb %s changed meanwhile",
					      hex(h, xorb));
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = acquire(&st, s, ST_CHUNK_MOVE, "xorb_repack")) != 0)
			break;
		bind_hash(st, 1, xorb);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)chunks[i].offset);
		sqlite3_bind_int64(st, 4, chunks[i].packed_len);
		bind_hash(st, 5, &chunks[i].hash);
		sqlite3_bind_int64(st, 6, chunks[i].raw_len);
		rc = run(s, st, "xorb_repack: chunk");
		if (rc == 0 && sqlite3_changes(s->db) != 1)
			rc = cairn__error_set(CAIRN_EINVALID,
					      "xorb_repack: chunk %zu of %s is not the one recorded",
					      i, hex(h, xorb));
	}
	/* a form kept as it was (nothing to gain) stays current, under its name */
	if (rc == 0 && !cairn_hash_equal(&row.name, name) &&
	    (rc = acquire(&st, s, ST_RETIRE, "xorb_repack")) == 0) {
		bind_hash(st, 1, &row.name);
		sqlite3_bind_int64(st, 2, now_ns);
		rc = run(s, st, "xorb_repack: retire");
	}
	return op_end(s, rc, "xorb_repack");
}

static int name_state(cairn_meta *m, const cairn_hash *name, int64_t *retired_ns)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	int rc, src;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "name_state: NULL argument");
	if ((rc = acquire(&st, s, ST_NAME_LIVE, "name_state")) != 0)
		return rc;
	bind_hash(st, 1, name);
	src = sqlite3_step(st);
	stmt_done(st);
	if (src == SQLITE_ROW)
		return 0;
	if (src != SQLITE_DONE)
		return sql_error(s, src, "name_state");
	if ((rc = acquire(&st, s, ST_NAME_RETIRED, "name_state")) != 0)
		return rc;
	bind_hash(st, 1, name);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		if (retired_ns)
			*retired_ns = sqlite3_column_int64(st, 0);
		rc = 1;
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no stored xorb is named %s", hex(h, name));
	} else {
		rc = sql_error(s, src, "name_state");
	}
	stmt_done(st);
	return rc;
}

static int retired_take(cairn_meta *m, int64_t cutoff_ns,
			int (*fn)(void *ctx, const cairn_hash *name), void *ctx)
{
	meta_sqlite *s = handle(m);
	cairn_hash *names = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	if ((rc = need_write(s, "retired_take")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_RETIRED_OLD, "retired_take")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, cutoff_ns);
	for (;;) {
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "retired_take");
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			cairn_hash *grown = realloc(names, ncap * sizeof(*names));
			if (grown == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
				break;
			}
			names = grown;
			cap = ncap;
		}
		if ((rc = col_hash(&names[n], st, 0)) != 0)
			break;
		n++;
	}
	stmt_done(st);
	if (rc == 0)
		rc = op_begin(s, "retired_take");
	else
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int live = name_state(m, &names[i], NULL);
		if ((rc = acquire(&st, s, ST_RETIRED_DEL, "retired_take")) != 0)
			break;
		bind_hash(st, 1, &names[i]);
		if ((rc = run(s, st, "retired_take")) != 0)
			break;
		/* a name stored again since (the same xorb uploaded anew) stays */
		if (live == 0)
			continue;
		if (fn && (rc = fn(ctx, &names[i])) != 0)
			break;
	}
	rc = op_end(s, rc, "retired_take");
out:
	free(names);
	return rc;
}

static int chunk_lookup(cairn_meta *m, const cairn_hash *chunk, cairn_hash *xorb,
			uint32_t *index)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash found;
	uint32_t idx = 0;
	sqlite3_stmt *st;
	int rc, src;

	if (chunk == NULL)
		return cairn__error_set(CAIRN_EINVALID, "chunk_lookup: no chunk");
	if ((rc = acquire(&st, s, ST_CHUNK_LOOKUP, "chunk_lookup")) != 0)
		return rc;
	bind_hash(st, 1, chunk);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = col_hash(&found, st, 0);
		idx = col_u32(st, 1);
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no chunk %s recorded", hex(h, chunk));
	} else {
		rc = sql_error(s, src, "chunk_lookup");
	}
	stmt_done(st);
	if (rc != 0)
		return rc;
	if (xorb)
		*xorb = found;
	if (index)
		*index = idx;
	return 0;
}

/* ---- garbage collection ------------------------------------------------------- */

/* The xorbs gc may delete, collected before any is deleted (no delete under a running scan). */
static int gc_candidates(meta_sqlite *s, int64_t cutoff_ns, cairn_xorb_row **out, size_t *n)
{
	cairn_xorb_row *list = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	if ((rc = acquire(&st, s, ST_GC_XORBS, "gc")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, cutoff_ns);
	for (;;) {
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "gc: xorbs");
			break;
		}
		if (count == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			cairn_xorb_row *grown = realloc(list, ncap * sizeof(*list));

			if (grown == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM,
						      "out of memory for %zu gc candidates", ncap);
				break;
			}
			list = grown;
			cap = ncap;
		}
		if ((rc = read_xorb(&list[count], st)) != 0)
			break;
		count++;
	}
	stmt_done(st);
	if (rc != 0) {
		free(list);
		return rc;
	}
	*out = list;
	*n = count;
	return 0;
}

/*
 * All of it or nothing: if fn returns non-zero (returned) or a statement
 * fails, every deletion of this call is undone.
 */
static int gc(cairn_meta *m, int64_t cutoff_ns, cairn_meta_xorb_fn fn, void *ctx,
	      uint64_t *files_deleted)
{
	meta_sqlite *s = handle(m);
	cairn_xorb_row *doomed = NULL;
	uint64_t files = 0;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((rc = op_begin(s, "gc")) != 0)
		return rc;

	/* files first: the xorbs they alone held become collectable in the same pass */
	if ((rc = acquire(&st, s, ST_GC_TERMS, "gc")) == 0) {
		sqlite3_bind_int64(st, 1, cutoff_ns);
		rc = run(s, st, "gc: file terms");
	}
	if (rc == 0 && (rc = acquire(&st, s, ST_GC_FILES, "gc")) == 0) {
		sqlite3_bind_int64(st, 1, cutoff_ns);
		rc = run(s, st, "gc: files");
		files = (uint64_t)sqlite3_changes(s->db);
	}

	if (rc == 0 && (rc = acquire(&st, s, ST_GC_GRANTS, "gc")) == 0) {
		sqlite3_bind_int64(st, 1, cutoff_ns);
		rc = run(s, st, "gc: chunk grants");
	}
	if (rc == 0)
		rc = gc_candidates(s, cutoff_ns, &doomed, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (fn && (rc = fn(ctx, &doomed[i])) != 0)
			break;
		if ((rc = acquire(&st, s, ST_GC_XORB_CHUNKS, "gc")) != 0)
			break;
		bind_hash(st, 1, &doomed[i].hash);
		if ((rc = run(s, st, "gc: chunk index")) != 0 ||
		    (rc = acquire(&st, s, ST_GC_XORB, "gc")) != 0)
			break;
		bind_hash(st, 1, &doomed[i].hash);
		rc = run(s, st, "gc: xorb");
	}
	free(doomed);
	rc = op_end(s, rc, "gc");
	if (rc == 0 && files_deleted)
		*files_deleted = files;
	return rc;
}

/* ---- users and tokens ------------------------------------------------------- */

static int user_create(cairn_meta *m, const char *name, int64_t now_ns, int64_t *id)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = need_write(s, "user_create")) != 0 ||
	    (rc = cairn__meta_check_name("user name", name)) != 0 ||
	    (rc = acquire(&st, s, ST_USER_INSERT, "user_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		if (id)
			*id = sqlite3_last_insert_rowid(s->db);
	} else if (src == SQLITE_CONSTRAINT_UNIQUE) {
		rc = cairn__error_set(CAIRN_EEXISTS, "user %s exists already", name);
	} else {
		rc = sql_error(s, src, "user_create");
	}
	stmt_done(st);
	return rc;
}

static int user_get(cairn_meta *m, const char *name, int64_t *id)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "user_get: NULL name");
	if ((rc = acquire(&st, s, ST_USER_GET, "user_get")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		if (id)
			*id = sqlite3_column_int64(st, 0);
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", name);
	} else {
		rc = sql_error(s, src, "user_get");
	}
	stmt_done(st);
	return rc;
}

static int user_count(cairn_meta *m, uint64_t *n)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (n == NULL)
		return cairn__error_set(CAIRN_EINVALID, "user_count: NULL argument");
	if ((rc = acquire(&st, s, ST_USER_COUNT, "user_count")) != 0)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*n = col_u64(st, 0);
	else
		rc = sql_error(s, src, "user_count");
	stmt_done(st);
	return rc;
}

static bool scope_ok(const char *scope)
{
	return scope != NULL && (strcmp(scope, "read") == 0 || strcmp(scope, "write") == 0 ||
				 strcmp(scope, "admin") == 0);
}

static int token_create(cairn_meta *m, const char *user, const char *scope,
			const uint8_t hash[32], int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (user == NULL || hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_create: NULL argument");
	if (!scope_ok(scope))
		return cairn__error_set(CAIRN_EINVALID,
					"token scope must be read, write or admin, not '%s'",
					scope ? scope : "(null)");
	if ((rc = need_write(s, "token_create")) != 0 ||
	    (rc = acquire(&st, s, ST_TOKEN_INSERT, "token_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	bind_bytes(st, 3, hash, 32);
	sqlite3_bind_int64(st, 4, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		if (sqlite3_changes(s->db) == 0)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	} else if (src == SQLITE_CONSTRAINT_UNIQUE) {
		rc = cairn__error_set(CAIRN_EEXISTS, "that token is recorded already");
	} else {
		rc = sql_error(s, src, "token_create");
	}
	stmt_done(st);
	return rc;
}

/* memcmp that takes the same time wherever the first difference is. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * Step a lookup of a token or session hash (columns: user name, scope,
 * the stored hash, and optionally a revocation time that must be NULL)
 * into user and scope. Returns 0, CAIRN_EAUTH (unknown: says `unknown`),
 * CAIRN_ECORRUPT or an SQL error. Finishes st.
 */
static int read_credential(meta_sqlite *s, sqlite3_stmt *st, const uint8_t hash[32],
			   const char *unknown, const char *what, char user[CAIRN_NAME_MAX + 1],
			   char scope[CAIRN_SCOPE_MAX + 1])
{
	int rc = 0, src = sqlite3_step(st);

	if (src == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 2);
		const unsigned char *sc = sqlite3_column_text(st, 1);
		int sc_len = sqlite3_column_bytes(st, 1);

		if (h == NULL || sqlite3_column_bytes(st, 2) != 32 || !same_bytes(h, hash, 32) ||
		    (sqlite3_column_count(st) > 3 && sqlite3_column_type(st, 3) != SQLITE_NULL)) {
			rc = cairn__error_set(CAIRN_EAUTH, "%s", unknown);
		} else if (sc == NULL || sc_len < 1 || sc_len > CAIRN_SCOPE_MAX) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored scope is malformed");
		} else if ((rc = copy_name(user, st, 0)) == 0) {
			memcpy(scope, sc, (size_t)sc_len);
			scope[sc_len] = '\0';
		}
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_EAUTH, "%s", unknown);
	} else {
		rc = sql_error(s, src, what);
	}
	stmt_done(st);
	return rc;
}

static int token_lookup(cairn_meta *m, const uint8_t hash[32], char user[CAIRN_NAME_MAX + 1],
			char scope[CAIRN_SCOPE_MAX + 1])
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (hash == NULL || user == NULL || scope == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_lookup: NULL argument");
	if ((rc = acquire(&st, s, ST_TOKEN_LOOKUP, "token_lookup")) != 0)
		return rc;
	bind_bytes(st, 1, hash, 32);
	/* a revoked token's row stays (column 3 set): it answers as unknown */
	return read_credential(s, st, hash, "unknown or revoked token", "token_lookup", user, scope);
}

static int token_revoke(cairn_meta *m, const uint8_t hash[32], int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_revoke: NULL argument");
	if ((rc = need_write(s, "token_revoke")) != 0 ||
	    (rc = acquire(&st, s, ST_TOKEN_REVOKE, "token_revoke")) != 0)
		return rc;
	bind_bytes(st, 1, hash, 32);
	sqlite3_bind_int64(st, 2, now_ns);
	rc = run(s, st, "token_revoke");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no such token (or revoked already)");
	return rc;
}

/* ---- web sessions --------------------------------------------------------------- */

static int session_create(cairn_meta *m, const uint8_t hash[32], const uint8_t token_hash[32],
			  int64_t now_ns, int64_t expires_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (hash == NULL || token_hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_create: NULL argument");
	if ((rc = need_write(s, "session_create")) != 0 ||
	    (rc = acquire(&st, s, ST_SESSION_EXPIRE, "session_create: expire")) != 0)
		return rc;
	/* expired sessions go whenever a new one starts: the table stays small */
	sqlite3_bind_int64(st, 1, now_ns);
	if ((rc = run(s, st, "session_create: expire")) != 0 ||
	    (rc = acquire(&st, s, ST_SESSION_INSERT, "session_create")) != 0)
		return rc;
	bind_bytes(st, 1, hash, 32);
	bind_bytes(st, 2, token_hash, 32);
	sqlite3_bind_int64(st, 3, now_ns);
	sqlite3_bind_int64(st, 4, expires_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = cairn__error_set(CAIRN_EEXISTS, "that session is recorded already");
	else if (src != SQLITE_DONE)
		rc = sql_error(s, src, "session_create");
	stmt_done(st);
	return rc;
}

static int session_lookup(cairn_meta *m, const uint8_t hash[32], int64_t now_ns,
			  char user[CAIRN_NAME_MAX + 1], char scope[CAIRN_SCOPE_MAX + 1])
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (hash == NULL || user == NULL || scope == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_lookup: NULL argument");
	if ((rc = acquire(&st, s, ST_SESSION_LOOKUP, "session_lookup")) != 0)
		return rc;
	bind_bytes(st, 1, hash, 32);
	sqlite3_bind_int64(st, 2, now_ns);
	return read_credential(s, st, hash, "unknown or ended session", "session_lookup", user,
			       scope);
}

static int session_delete(cairn_meta *m, const uint8_t hash[32])
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_delete: NULL argument");
	if ((rc = need_write(s, "session_delete")) != 0 ||
	    (rc = acquire(&st, s, ST_SESSION_DELETE, "session_delete")) != 0)
		return rc;
	bind_bytes(st, 1, hash, 32);
	rc = run(s, st, "session_delete");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no such session");
	return rc;
}

/* ---- regions ------------------------------------------------------------------- */

static int region_create(cairn_meta *m, const char *name, const char *url,
			 const uint8_t secret[32], int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	size_t ulen;
	int rc, src;

	if ((rc = cairn__meta_check_name("region name", name)) != 0)
		return rc;
	if (url == NULL || secret == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_create: NULL argument");
	ulen = strnlen(url, CAIRN_REGION_URL_MAX + 1);
	if (ulen > CAIRN_REGION_URL_MAX ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    ulen <= 8)
		return cairn__error_set(CAIRN_EINVALID,
					"a region's URL is http:// or https:// and a host, at most "
					"%d bytes",
					CAIRN_REGION_URL_MAX);
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || url[i] == '"' ||
		    url[i] == '\\')
			return cairn__error_set(CAIRN_EINVALID, "a region's URL holds no spaces, "
								"controls, quotes or backslashes");
	if ((rc = need_write(s, "region_create")) != 0 ||
	    (rc = acquire(&st, s, ST_REGION_INSERT, "region_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, url, (int)ulen, SQLITE_STATIC);
	bind_bytes(st, 3, secret, 32);
	sqlite3_bind_int64(st, 4, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = cairn__error_set(CAIRN_EEXISTS, "region %s exists already", name);
	else if (src != SQLITE_DONE)
		rc = sql_error(s, src, "region_create");
	stmt_done(st);
	return rc;
}

static int region_get(cairn_meta *m, const char *name, char *url, uint8_t secret[32])
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (name == NULL || url == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_get: NULL argument");
	if ((rc = acquire(&st, s, ST_REGION_GET, "region_get")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const unsigned char *u = sqlite3_column_text(st, 0);
		int ul = sqlite3_column_bytes(st, 0);
		const void *sec = sqlite3_column_blob(st, 1);

		if (u == NULL || ul < 1 || ul > CAIRN_REGION_URL_MAX || sec == NULL ||
		    sqlite3_column_bytes(st, 1) != 32) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: region %s is malformed",
					      name);
		} else {
			memcpy(url, u, (size_t)ul);
			url[ul] = '\0';
			if (secret)
				memcpy(secret, sec, 32);
		}
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no region %s", name);
	} else {
		rc = sql_error(s, src, "region_get");
	}
	stmt_done(st);
	return rc;
}

static int region_list(cairn_meta *m,
		       int (*fn)(void *ctx, const char *name, const char *url, int64_t created_ns),
		       void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_list: NULL callback");
	if ((rc = acquire(&st, s, ST_REGION_LIST, "region_list")) != 0)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		const char *u = (const char *)sqlite3_column_text(st, 1);

		if (n == NULL || u == NULL) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a region row is malformed");
			break;
		}
		if ((rc = fn(ctx, n, u, sqlite3_column_int64(st, 2))) != 0)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = sql_error(s, src, "region_list");
	stmt_done(st);
	return rc;
}

static int region_delete(cairn_meta *m, const char *name)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_delete: NULL argument");
	if ((rc = need_write(s, "region_delete")) != 0 ||
	    (rc = acquire(&st, s, ST_REGION_DELETE, "region_delete")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return run_on_one(s, st, "region_delete", "no such region");
}

/* ---- the handle --------------------------------------------------------------- */

/* ---- the chunk protocol's access rules ----------------------------------------- */

static void bind_ns(sqlite3_stmt *st, int i, const char *ns)
{
	if (ns)
		sqlite3_bind_text(st, i, ns, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int chunk_access(cairn_meta *m, const cairn_hash *chunk, const char *ns, bool all,
			int64_t grant_since_ns, cairn_hash *xorb, uint32_t *index,
			uint32_t *raw_len)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash found;
	uint32_t idx = 0, raw = 0;
	sqlite3_stmt *st;
	int rc, src;

	if (chunk == NULL)
		return cairn__error_set(CAIRN_EINVALID, "chunk_access: no chunk");
	if ((rc = acquire(&st, s, ST_CHUNK_ACCESS, "chunk_access")) != 0)
		return rc;
	bind_hash(st, 1, chunk);
	bind_ns(st, 2, ns);
	sqlite3_bind_int(st, 3, all);
	sqlite3_bind_int64(st, 4, grant_since_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = col_hash(&found, st, 0);
		idx = col_u32(st, 1);
		raw = col_u32(st, 2);
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "chunk %s is not stored or not visible to you", hex(h, chunk));
	} else {
		rc = sql_error(s, src, "chunk_access");
	}
	stmt_done(st);
	if (rc != 0)
		return rc;
	if (xorb)
		*xorb = found;
	if (index)
		*index = idx;
	if (raw_len)
		*raw_len = raw;
	return 0;
}

static int grant_put(cairn_meta *m, const char *ns, const cairn_hash *chunks, size_t n,
		     int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (ns == NULL || (n > 0 && chunks == NULL))
		return cairn__error_set(CAIRN_EINVALID, "grant_put: no namespace or chunks");
	if ((rc = op_begin(s, "grant_put")) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = acquire(&st, s, ST_GRANT_PUT, "grant_put")) != 0)
			break;
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
		bind_hash(st, 2, &chunks[i]);
		sqlite3_bind_int64(st, 3, now_ns);
		rc = run(s, st, "grant_put");
	}
	return op_end(s, rc, "grant_put");
}

static int file_visible(cairn_meta *m, const cairn_hash *file, const char *ns, bool all)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	int rc, src;

	if (file == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_visible: no file");
	if ((rc = acquire(&st, s, ST_FILE_VISIBLE, "file_visible")) != 0)
		return rc;
	bind_hash(st, 1, file);
	bind_ns(st, 2, ns);
	sqlite3_bind_int(st, 3, all);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no file %s you can read", hex(h, file));
	else if (src != SQLITE_ROW)
		rc = sql_error(s, src, "file_visible");
	stmt_done(st);
	return rc;
}

/* ---- S3 access keys ------------------------------------------------------------ */

/* An access key id: 1..CAIRN_S3_KEY_MAX of [A-Za-z0-9._-] (never '/': SigV4's separator). */
static int check_access_key(const char *key)
{
	size_t n = key ? strnlen(key, CAIRN_S3_KEY_MAX + 1) : 0;

	if (n == 0 || n > CAIRN_S3_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "an S3 access key has 1 to %d characters",
					CAIRN_S3_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return cairn__error_set(CAIRN_EINVALID,
						"an S3 access key is made of A-Z a-z 0-9 . _ -");
	}
	return 0;
}

static int s3key_create(cairn_meta *m, const char *user, const char *access_key,
			const char *secret, int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	size_t slen = secret ? strnlen(secret, CAIRN_S3_SECRET_MAX + 1) : 0;
	sqlite3_stmt *st;
	int rc, src;

	if (user == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_create: no user");
	if ((rc = check_access_key(access_key)) != 0)
		return rc;
	if (slen == 0 || slen > CAIRN_S3_SECRET_MAX)
		return cairn__error_set(CAIRN_EINVALID, "an S3 secret has 1 to %d characters",
					CAIRN_S3_SECRET_MAX);
	for (size_t i = 0; i < slen; i++)
		if (secret[i] <= ' ' || secret[i] > '~')
			return cairn__error_set(CAIRN_EINVALID,
						"an S3 secret is printable ASCII without spaces");
	if ((rc = need_write(s, "s3key_create")) != 0 ||
	    (rc = acquire(&st, s, ST_S3KEY_INSERT, "s3key_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, secret, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		if (sqlite3_changes(s->db) == 0)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	} else if (src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE) {
		rc = cairn__error_set(CAIRN_EEXISTS, "S3 access key %s exists already", access_key);
	} else {
		rc = sql_error(s, src, "s3key_create");
	}
	stmt_done(st);
	return rc;
}

static int s3key_lookup(cairn_meta *m, const char *access_key, char user[CAIRN_NAME_MAX + 1],
			char *secret, size_t secret_cap)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if (access_key == NULL || user == NULL || secret == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_lookup: NULL argument");
	if (check_access_key(access_key) != 0) /* cannot be stored: unknown */
		return cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
	if ((rc = acquire(&st, s, ST_S3KEY_LOOKUP, "s3key_lookup")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, access_key, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const unsigned char *sec = sqlite3_column_text(st, 1);
		int sec_len = sqlite3_column_bytes(st, 1);

		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			rc = cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
		} else if (sec == NULL || sec_len < 1 || sec_len > CAIRN_S3_SECRET_MAX) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored S3 secret is malformed");
		} else if ((size_t)sec_len >= secret_cap) {
			rc = cairn__error_set(CAIRN_EINVALID, "s3key_lookup: the secret needs %d bytes",
					      sec_len + 1);
		} else if ((rc = copy_name(user, st, 0)) == 0) {
			memcpy(secret, sec, (size_t)sec_len);
			secret[sec_len] = '\0';
		}
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
	} else {
		rc = sql_error(s, src, "s3key_lookup");
	}
	stmt_done(st);
	return rc;
}

static int s3key_revoke(cairn_meta *m, const char *access_key, int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (access_key == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_revoke: NULL argument");
	if ((rc = need_write(s, "s3key_revoke")) != 0 ||
	    (rc = acquire(&st, s, ST_S3KEY_REVOKE, "s3key_revoke")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, access_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ns);
	return run_on_one(s, st, "s3key_revoke", "no such S3 access key (or revoked already)");
}

/* ---- multipart uploads ----------------------------------------------------------- */

#define MPU_ID_LEN 32 /* CAIRN_MPU_ID_LEN of repo.h */
#define MPU_PARTS_MAX 10000

/* An upload id: exactly 32 lower-case hex digits. */
static bool mpu_id_ok(const char *id)
{
	size_t n = id ? strnlen(id, MPU_ID_LEN + 1) : 0;

	if (n != MPU_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static int mpu_create(cairn_meta *m, int64_t bucket, const char *id, const char *key,
		      size_t key_len, const char *content_type, const char *user_meta,
		      int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = need_write(s, "mpu_create")) != 0)
		return rc;
	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_EINVALID, "an upload id is 32 lower-case hex digits");
	if ((rc = cairn__meta_check_key(key, key_len)) != 0 ||
	    (rc = check_strings(content_type, user_meta)) != 0 ||
	    (rc = acquire(&st, s, ST_MPU_INSERT, "mpu_create")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, bucket);
	bind_bytes(st, 3, key, key_len);
	if (content_type)
		sqlite3_bind_text(st, 4, content_type, -1, SQLITE_STATIC);
	if (user_meta)
		sqlite3_bind_text(st, 5, user_meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "mpu_create: no bucket with id %lld",
				      (long long)bucket);
	else if (src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE)
		rc = cairn__error_set(CAIRN_EEXISTS, "upload %s exists already", id);
	else if (src != SQLITE_DONE)
		rc = sql_error(s, src, "mpu_create");
	stmt_done(st);
	return rc;
}

static int mpu_get(cairn_meta *m, int64_t bucket, const char *id, const char **key,
		   size_t *key_len, const char **content_type, const char **user_meta)
{
	meta_sqlite *s = handle(m);
	const char *ct = NULL, *um = NULL;
	sqlite3_stmt *st;
	size_t klen = 0;
	int rc, src;

	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	if ((rc = acquire(&st, s, ST_MPU_GET, "mpu_get")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, bucket);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const void *k = sqlite3_column_blob(st, 0);

		klen = (size_t)sqlite3_column_bytes(st, 0);
		if (k == NULL || klen == 0 || klen > CAIRN_KEY_MAX)
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored upload key is malformed");
		else
			memcpy(s->mpu_key, k, klen);
		if (rc == 0)
			rc = copy_text(&ct, s->mpu_content_type, sizeof(s->mpu_content_type), st, 1,
				       "content type");
		if (rc == 0)
			rc = copy_text(&um, s->mpu_user_meta, sizeof(s->mpu_user_meta), st, 2,
				       "user metadata");
	} else if (src == SQLITE_DONE) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no upload %.32s in bucket %lld", id,
				      (long long)bucket);
	} else {
		rc = sql_error(s, src, "mpu_get");
	}
	stmt_done(st);
	if (rc != 0)
		return rc;
	if (key)
		*key = s->mpu_key;
	if (key_len)
		*key_len = klen;
	if (content_type)
		*content_type = ct;
	if (user_meta)
		*user_meta = um;
	return 0;
}

static int mpu_part_put(cairn_meta *m, const char *id, unsigned number, const cairn_hash *file,
			uint64_t size, const uint8_t md5[16], int64_t now_ns)
{
	meta_sqlite *s = handle(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	uint64_t file_size = 0;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = need_write(s, "mpu_part_put")) != 0)
		return rc;
	if (file == NULL || md5 == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_part_put: NULL argument");
	if (number < 1 || number > MPU_PARTS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "part numbers are 1 to %d, not %u",
					MPU_PARTS_MAX, number);
	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	if ((rc = check_u64(size, "part size")) != 0)
		return rc;

	/* the file must be recorded, and the part is all of it (as object_put) */
	if ((rc = acquire(&st, s, ST_FILE_SIZE, "mpu_part_put")) != 0)
		return rc;
	bind_hash(st, 1, file);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		file_size = col_u64(st, 0);
	else if (src == SQLITE_DONE)
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "mpu_part_put: file %s is not recorded (file_put first)",
				      hex(h, file));
	else
		rc = sql_error(s, src, "mpu_part_put: file");
	stmt_done(st);
	if (rc != 0)
		return rc;
	if (file_size != size)
		return cairn__error_set(CAIRN_EINVALID,
					"mpu_part_put: size %llu, but file %s holds %llu bytes",
					(unsigned long long)size, hex(h, file),
					(unsigned long long)file_size);

	if ((rc = acquire(&st, s, ST_MPU_PART_UPSERT, "mpu_part_put")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, number);
	bind_hash(st, 3, file);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	bind_bytes(st, 5, md5, 16);
	sqlite3_bind_int64(st, 6, now_ns);
	src = sqlite3_step(st);
	if (src == SQLITE_CONSTRAINT_FOREIGNKEY) /* the file was checked above */
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no upload %.32s", id);
	else if (src != SQLITE_DONE)
		rc = sql_error(s, src, "mpu_part_put");
	stmt_done(st);
	return rc;
}

static int mpu_parts(cairn_meta *m, const char *id, unsigned after, size_t max,
		     int (*fn)(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
			       const uint8_t md5[16], int64_t created_ns),
		     void *ctx)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_parts: no callback");
	if (!mpu_id_ok(id))
		return 0; /* no such upload: no parts */
	if ((rc = acquire(&st, s, ST_MPU_PARTS, "mpu_parts")) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, max == 0 || max > INT64_MAX ? -1 : (sqlite3_int64)max);
	for (;;) {
		cairn_hash file;
		const void *md5;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "mpu_parts");
			break;
		}
		if ((rc = col_hash(&file, st, 1)) != 0)
			break;
		md5 = sqlite3_column_blob(st, 3);
		if (md5 == NULL || sqlite3_column_bytes(st, 3) != 16) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored MD5 is not 16 bytes");
			break;
		}
		if ((rc = fn(ctx, col_u32(st, 0), &file, col_u64(st, 2), md5,
			     sqlite3_column_int64(st, 4))) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

static int mpu_list(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
		    const char *key_marker, size_t key_marker_len, const char *id_marker,
		    size_t limit,
		    int (*fn)(void *ctx, const char *id, const char *key, size_t key_len,
			      int64_t created_ns),
		    void *ctx)
{
	meta_sqlite *s = handle(m);
	uint8_t lo[CAIRN_KEY_MAX + 1], hi[CAIRN_KEY_MAX + 1];
	size_t lo_len, hi_len;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_list: no callback");
	if (key_marker && key_marker_len > CAIRN_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a key marker has at most %d bytes",
					CAIRN_KEY_MAX);
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, NULL, 0)) !=
		    0 ||
	    (rc = acquire(&st, s, ST_MPU_LIST, "mpu_list")) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, bucket);
	bind_bytes(st, 2, lo, lo_len);
	bind_bytes(st, 3, hi, hi_len);
	if (key_marker) {
		bind_bytes(st, 4, key_marker, key_marker_len);
		if (id_marker)
			sqlite3_bind_text(st, 5, id_marker, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 6, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
	for (;;) {
		const unsigned char *id;
		int src = sqlite3_step(st);

		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = sql_error(s, src, "mpu_list");
			break;
		}
		id = sqlite3_column_text(st, 0);
		if (id == NULL || sqlite3_column_bytes(st, 0) != MPU_ID_LEN) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored upload id is malformed");
			break;
		}
		if ((rc = fn(ctx, (const char *)id, sqlite3_column_blob(st, 1),
			     (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int64(st, 2))) != 0)
			break;
	}
	stmt_done(st);
	return rc;
}

static int mpu_delete(cairn_meta *m, const char *id)
{
	meta_sqlite *s = handle(m);
	sqlite3_stmt *st;
	int rc;

	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	if ((rc = op_begin(s, "mpu_delete")) != 0)
		return rc;
	if ((rc = acquire(&st, s, ST_MPU_DROP_PARTS, "mpu_delete")) == 0) {
		sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
		rc = run(s, st, "mpu_delete: parts");
	}
	if (rc == 0 && (rc = acquire(&st, s, ST_MPU_DELETE, "mpu_delete")) == 0) {
		sqlite3_bind_text(st, 1, id, MPU_ID_LEN, SQLITE_STATIC);
		rc = run_on_one(s, st, "mpu_delete", "no such upload");
	}
	return op_end(s, rc, "mpu_delete");
}

static void release(meta_sqlite *s)
{
	if (s->db) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (int i = 0; i < ST_COUNT; i++)
			sqlite3_finalize(s->st[i]);
		sqlite3_close(s->db);
	}
	free(s);
}

static int gc_lock(cairn_meta *m, bool take)
{
	meta_sqlite *s = handle(m);
	const char *db = sqlite3_db_filename(s->db, "main");
	char path[4200];
	int fd;

	if (!take) {
		if (s->gc_fd >= 0)
			close(s->gc_fd); /* closing the file releases its flock */
		s->gc_fd = -1;
		return 0;
	}
	if (s->gc_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s-gc.lock", db && *db ? db : "cairn.db");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return cairn__error_set(CAIRN_EIO, "metadata: %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? cairn__error_set(CAIRN_EEXISTS, "another GC is running on "
									"this metadata")
					: cairn__error_set(CAIRN_EIO, "metadata: %s: %s", path,
							   strerror(e));
	}
	s->gc_fd = fd;
	return 0;
}

static void meta_close(cairn_meta *m)
{
	if (m != NULL) {
		gc_lock(m, false);
		release(handle(m));
	}
}

static const cairn_meta sqlite_table = {
	.version = CAIRN_META_VERSION,
	.begin = tx_begin,
	.commit = tx_commit,
	.rollback = tx_rollback,
	.bucket_create = bucket_create,
	.bucket_get = bucket_get,
	.bucket_list = bucket_list,
	.bucket_set_private = bucket_set_private,
	.bucket_set_regions = bucket_set_regions,
	.bucket_get_by_id = bucket_get_by_id,
	.bucket_delete = bucket_delete,
	.bucket_totals = bucket_totals,
	.object_put = object_put,
	.object_get = object_get,
	.object_delete = object_delete,
	.object_list = object_list,
	.file_put = file_put,
	.file_get = file_get,
	.file_list = file_list,
	.xorb_put = xorb_put,
	.xorb_get = xorb_get,
	.xorb_chunks = xorb_chunks,
	.xorb_touch = xorb_touch,
	.xorb_list = xorb_list,
	.xorb_repack = xorb_repack,
	.name_state = name_state,
	.retired_take = retired_take,
	.chunk_lookup = chunk_lookup,
	.gc = gc,
	.close = meta_close,
	.gc_lock = gc_lock,
	.user_create = user_create,
	.user_get = user_get,
	.user_count = user_count,
	.token_create = token_create,
	.token_lookup = token_lookup,
	.token_revoke = token_revoke,
	.session_create = session_create,
	.session_lookup = session_lookup,
	.session_delete = session_delete,
	.prefix_totals = prefix_totals,
	.bucket_terms = bucket_terms,
	.region_create = region_create,
	.region_get = region_get,
	.region_list = region_list,
	.region_delete = region_delete,
	.chunk_access = chunk_access,
	.grant_put = grant_put,
	.file_visible = file_visible,
	.s3key_create = s3key_create,
	.s3key_lookup = s3key_lookup,
	.s3key_revoke = s3key_revoke,
	.mpu_create = mpu_create,
	.mpu_get = mpu_get,
	.mpu_part_put = mpu_part_put,
	.mpu_parts = mpu_parts,
	.mpu_list = mpu_list,
	.mpu_delete = mpu_delete,
};

int cairn_meta_sqlite_open(cairn_meta **out, const char *path)
{
	meta_sqlite *s;
	int rc, src;

	if (out == NULL || path == NULL)
		return cairn__error_set(CAIRN_EINVALID, "cairn_meta_sqlite_open: NULL argument");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a metadata handle");
	s->base = sqlite_table;
	s->gc_fd = -1;

	/*
	 * A new database file is made 0600 first (S3 secrets and region keys live
	 * in it); SQLite then gives its -wal and -shm files the same mode.
	 */
	{
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	/* NOMUTEX: a handle belongs to one thread (meta.h), so no lock per call */
	src = sqlite3_open_v2(path, &s->db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			      NULL);
	if (src != SQLITE_OK) {
		rc = cairn__error_set(src == SQLITE_NOMEM ? CAIRN_ENOMEM : CAIRN_EIO,
				      "cannot open metadata %s: %s", path,
				      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
		goto fail;
	}
	if ((rc = cairn__meta_sqlite_setup(s->db, path)) != 0)
		goto fail;
	for (int i = 0; i < ST_COUNT; i++) {
		src = sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
					 NULL);
		if (src != SQLITE_OK) {
			rc = sql_error(s, src, "prepare");
			goto fail;
		}
	}
	*out = &s->base;
	return 0;

fail:
	release(s);
	return rc;
}

struct sqlite3 *cairn__meta_sqlite_db(cairn_meta *m)
{
	return handle(m)->db;
}
