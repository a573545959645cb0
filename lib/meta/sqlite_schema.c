/*
 * sqlite_schema.c - the SQLite metadata schema, its migrations, and the
 * checks and settings applied to every connection when it opens.
 *
 * The schema version is PRAGMA user_version and the file is marked as
 * Cairn's with PRAGMA application_id; both live in the database header and
 * change inside the migration's transaction, so a database is always at
 * exactly one version. Migration k (entry k - 1 of the array below) takes
 * version k - 1 to k; changing the schema means appending an entry, never
 * editing one that has shipped.
 *
 * Keys and hashes are BLOBs: SQLite compares BLOBs with memcmp (a proper
 * prefix first), which is the byte order object listings promise. Tables
 * are STRICT (a value of the wrong type is an error, not a conversion).
 * Foreign keys make the rules hold in the database itself: an object names
 * a recorded file, a file's terms name recorded xorbs (so garbage
 * collection cannot delete a xorb a file still uses), and chunk index
 * rows belong to a recorded xorb. Every column a foreign key points from
 * is indexed, so deleting a parent never scans a child table.
 */
#include "meta_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

const cairn__meta_migration cairn__meta_sqlite_migrations[] = {
	{
		"initial schema",
		/* ids are never reused (AUTOINCREMENT): a request that still
		 * holds a deleted bucket's id must not reach a new bucket */
		"CREATE TABLE buckets (\n"
		"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		"	ns TEXT NOT NULL,\n"
		"	name TEXT NOT NULL,\n"
		"	private INTEGER NOT NULL CHECK (private IN (0, 1)),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	UNIQUE (ns, name)\n"
		") STRICT;\n"
		"CREATE TABLE files (\n"
		"	hash BLOB PRIMARY KEY CHECK (length(hash) = 32),\n"
		"	size INTEGER NOT NULL CHECK (size >= 0),\n"
		"	created_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE TABLE objects (\n"
		"	bucket_id INTEGER NOT NULL REFERENCES buckets (id),\n"
		"	key BLOB NOT NULL,\n"
		"	file_hash BLOB NOT NULL REFERENCES files (hash),\n"
		"	size INTEGER NOT NULL CHECK (size >= 0),\n"
		"	mtime_ns INTEGER NOT NULL,\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	content_type TEXT,\n"
		"	md5 BLOB CHECK (md5 IS NULL OR length(md5) = 16),\n"
		"	PRIMARY KEY (bucket_id, key)\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX objects_by_file ON objects (file_hash);\n"
		"CREATE TABLE xorbs (\n"
		"	hash BLOB PRIMARY KEY CHECK (length(hash) = 32),\n"
		"	stored INTEGER NOT NULL CHECK (stored >= 0),\n"
		"	raw INTEGER NOT NULL CHECK (raw >= 0),\n"
		"	chunks INTEGER NOT NULL CHECK (chunks >= 0),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	used_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n"
		/* term seq counts from 0; chunks [chunk_first, chunk_end) */
		"CREATE TABLE file_terms (\n"
		"	file_hash BLOB NOT NULL REFERENCES files (hash),\n"
		"	seq INTEGER NOT NULL,\n"
		"	xorb_hash BLOB NOT NULL REFERENCES xorbs (hash),\n"
		"	chunk_first INTEGER NOT NULL,\n"
		"	chunk_end INTEGER NOT NULL,\n"
		"	raw_len INTEGER NOT NULL,\n"
		"	PRIMARY KEY (file_hash, seq),\n"
		"	CHECK (0 <= chunk_first AND chunk_first < chunk_end)\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX file_terms_by_xorb ON file_terms (xorb_hash);\n"
		"CREATE TABLE xorb_chunks (\n"
		"	xorb_hash BLOB NOT NULL REFERENCES xorbs (hash),\n"
		"	idx INTEGER NOT NULL,\n"
		"	chunk_hash BLOB NOT NULL CHECK (length(chunk_hash) = 32),\n"
		"	chunk_offset INTEGER NOT NULL,\n"
		"	packed_len INTEGER NOT NULL,\n"
		"	raw_len INTEGER NOT NULL,\n"
		"	PRIMARY KEY (xorb_hash, idx)\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX xorb_chunks_by_chunk ON xorb_chunks (chunk_hash);\n",
	},
	{
		"users and tokens",
		/*
		 * A user's name is its namespace: the buckets whose ns is the
		 * name are the user's. A token is stored only as a keyed hash of
		 * its secret (server/token.c), so the database alone does not
		 * let anyone in; a revoked token keeps its row (revoked_ns set)
		 * so its hash can never be issued again.
		 */
		"CREATE TABLE users (\n"
		"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		"	name TEXT NOT NULL UNIQUE,\n"
		"	created_ns INTEGER NOT NULL\n"
		") STRICT;\n"
		"CREATE TABLE tokens (\n"
		"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		"	user_id INTEGER NOT NULL REFERENCES users (id),\n"
		"	scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),\n"
		"	hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	revoked_ns INTEGER\n"
		") STRICT;\n"
		"CREATE INDEX tokens_by_user ON tokens (user_id);\n",
	},
	{
		"chunk grants",
		/*
		 * The chunk protocol's proof of possession: a namespace that
		 * uploaded a xorb may commit files naming its chunks, even
		 * chunks the store held already for someone else (knowing a
		 * hash alone must never be enough). Rows age out at GC.
		 */
		"CREATE TABLE chunk_grants (\n"
		"	ns TEXT NOT NULL,\n"
		"	chunk_hash BLOB NOT NULL CHECK (length(chunk_hash) = 32),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	PRIMARY KEY (ns, chunk_hash)\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX chunk_grants_by_age ON chunk_grants (created_ns);\n",
	},
	{
		"S3: object metadata, access keys, multipart uploads",
		/*
		 * An object remembers what S3 shows of it: the part count of a
		 * multipart upload (its ETag is hex(md5)-parts) and the user
		 * metadata (x-amz-meta-*, a JSON object text).
		 *
		 * An S3 access key keeps its secret as given: SigV4 signs with
		 * the secret itself, so the server must be able to recompute
		 * every signature (as every S3 server does). A revoked key keeps
		 * its row, so its id is never issued again.
		 *
		 * A multipart upload's parts are files like any other, recorded
		 * as they arrive; a part row keeps its file (and so its xorbs)
		 * from GC until the upload completes or is aborted. Completing
		 * writes the object and deletes the upload's rows in one
		 * transaction. Upload ids are random (never reused).
		 */
		"ALTER TABLE objects ADD COLUMN parts INTEGER NOT NULL DEFAULT 0 CHECK (parts >= 0);\n"
		"ALTER TABLE objects ADD COLUMN user_meta TEXT;\n"
		"CREATE TABLE s3_keys (\n"
		"	access_key TEXT PRIMARY KEY,\n"
		"	user_id INTEGER NOT NULL REFERENCES users (id),\n"
		"	secret TEXT NOT NULL,\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	revoked_ns INTEGER\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX s3_keys_by_user ON s3_keys (user_id);\n"
		"CREATE TABLE multipart_uploads (\n"
		"	id TEXT PRIMARY KEY CHECK (length(id) = 32),\n"
		"	bucket_id INTEGER NOT NULL REFERENCES buckets (id),\n"
		"	key BLOB NOT NULL,\n"
		"	content_type TEXT,\n"
		"	user_meta TEXT,\n"
		"	created_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n"
		/* listings go by (key, id) within a bucket */
		"CREATE INDEX multipart_uploads_by_key ON multipart_uploads (bucket_id, key, id);\n"
		"CREATE TABLE multipart_parts (\n"
		"	upload_id TEXT NOT NULL REFERENCES multipart_uploads (id),\n"
		"	number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 10000),\n"
		"	file_hash BLOB NOT NULL REFERENCES files (hash),\n"
		"	size INTEGER NOT NULL CHECK (size >= 0),\n"
		"	md5 BLOB NOT NULL CHECK (length(md5) = 16),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	PRIMARY KEY (upload_id, number)\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX multipart_parts_by_file ON multipart_parts (file_hash);\n",
	},
	{
		"part sizes",
		/*
		 * A multipart object keeps its parts' sizes (u64 little endian
		 * each, in order), so S3's GET ?partNumber=N can serve part N.
		 */
		"ALTER TABLE objects ADD COLUMN part_sizes BLOB;\n",
	},
	{
		"web sessions",
		/*
		 * A browser logged in with a token holds a session: a random
		 * secret in an HttpOnly cookie, stored here only as a keyed hash
		 * (like tokens). A session acts with its token's user and scope
		 * and ends when it expires, when it logs out, or when that token
		 * is revoked (the lookup joins the token row).
		 */
		"CREATE TABLE web_sessions (\n"
		"	hash BLOB PRIMARY KEY CHECK (length(hash) = 32),\n"
		"	token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),\n"
		"	created_ns INTEGER NOT NULL,\n"
		"	expires_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n"
		"CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_ns);\n",
	},
	{
		"regions",
		/*
		 * A region is a cache node (`cairn serve --region`) the origin
		 * points reconstructions at. Its secret signs the URLs the node
		 * serves and the requests between the two; like an S3 secret it
		 * is kept as given, since both sides must compute the same MACs.
		 */
		"CREATE TABLE regions (\n"
		"	name TEXT PRIMARY KEY,\n"
		"	url TEXT NOT NULL,\n"
		"	secret BLOB NOT NULL CHECK (length(secret) = 32),\n"
		"	created_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n",
	},
	{
		"keep-warm regions",
		/*
		 * The regions a bucket keeps warm (`buckets settings --regions`):
		 * names, comma-separated; each new object is staged on their
		 * cache nodes in the background.
		 */
		"ALTER TABLE buckets ADD COLUMN regions TEXT NOT NULL DEFAULT '';\n",
	},
	{
		"recompressed xorbs",
		/*
		 * A xorb's stored form has a generation: 0 as it came (stored
		 * under its hash, rest_name NULL), then one more per
		 * recompression, stored under rest_name. A replaced form's name
		 * waits in retired_names until no reader can still use it.
		 */
		"ALTER TABLE xorbs ADD COLUMN gen INTEGER NOT NULL DEFAULT 0 CHECK (gen >= 0);\n"
		"ALTER TABLE xorbs ADD COLUMN rest_name BLOB CHECK (rest_name IS NULL OR "
		"length(rest_name) = 32);\n"
		"CREATE UNIQUE INDEX xorbs_by_rest_name ON xorbs (rest_name) WHERE rest_name IS NOT "
		"NULL;\n"
		"CREATE TABLE retired_names (\n"
		"	name BLOB PRIMARY KEY CHECK (length(name) = 32),\n"
		"	retired_ns INTEGER NOT NULL\n"
		") STRICT, WITHOUT ROWID;\n",
	},
	/* migration 10 goes here: { "what it does", "ALTER TABLE ...;" }, */
};

const unsigned cairn__meta_sqlite_schema_version =
	sizeof(cairn__meta_sqlite_migrations) / sizeof(cairn__meta_sqlite_migrations[0]);

static int db_error(sqlite3 *db, int rc, const char *path, const char *what)
{
	int code = CAIRN_EIO;

	if ((rc & 0xFF) == SQLITE_NOTADB || (rc & 0xFF) == SQLITE_CORRUPT)
		code = CAIRN_ECORRUPT;
	else if ((rc & 0xFF) == SQLITE_NOMEM)
		code = CAIRN_ENOMEM;
	if ((rc & 0xFF) == SQLITE_NOTADB)
		return cairn__error_set(code, "%s is not a SQLite database (so not Cairn metadata)",
					path);
	return cairn__error_set(code, "metadata %s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* Run one statement that returns at most one value; *value gets it (as text if text != NULL). */
static int query_one(sqlite3 *db, const char *path, const char *sql, int64_t *value,
		     char *text, size_t text_cap)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			if (value)
				*value = sqlite3_column_int64(st, 0);
			if (text) {
				const unsigned char *t = sqlite3_column_text(st, 0);
				snprintf(text, text_cap, "%s", t ? (const char *)t : "");
			}
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		rc = db_error(db, rc, path, sql);
	sqlite3_finalize(st);
	return rc;
}

static int exec(sqlite3 *db, const char *path, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_error(db, rc, path, sql);
}

enum db_kind { DB_FRESH, DB_CAIRN, DB_FOREIGN };

/*
 * What the file holds, from its header and its schema; *version = user_version.
 * One statement, so one snapshot: another process may be migrating the
 * file right now, and a mix of before and after would look foreign.
 */
static int identify(sqlite3 *db, const char *path, enum db_kind *kind, int64_t *version)
{
	static const char sql[] = "SELECT (SELECT application_id FROM pragma_application_id), "
				  "(SELECT user_version FROM pragma_user_version), "
				  "(SELECT count(*) FROM sqlite_master)";
	sqlite3_stmt *st = NULL;
	int64_t app = 0, objects = 0;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		app = sqlite3_column_int64(st, 0);
		*version = sqlite3_column_int64(st, 1);
		objects = sqlite3_column_int64(st, 2);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		rc = db_error(db, rc, path, "reading the header");
	sqlite3_finalize(st);
	if (rc != 0)
		return rc;
	if (app == 0 && *version == 0 && objects == 0)
		*kind = DB_FRESH;
	else if (app == CAIRN_META_SQLITE_APP_ID && *version > 0)
		*kind = DB_CAIRN;
	else
		*kind = DB_FOREIGN;
	return 0;
}

static int check_kind(enum db_kind kind, int64_t version, const char *path)
{
	if (kind == DB_FOREIGN)
		return cairn__error_set(CAIRN_ECORRUPT,
					"%s is a SQLite database, but not Cairn metadata", path);
	if (version > (int64_t)cairn__meta_sqlite_schema_version)
		return cairn__error_set(CAIRN_ECORRUPT,
					"metadata %s has schema version %lld, newer than this build "
					"knows (%u): upgrade Cairn to open it",
					path, (long long)version, cairn__meta_sqlite_schema_version);
	return 0;
}

/* Apply the missing migrations, each in its own write transaction. */
static int migrate(sqlite3 *db, const char *path)
{
	char sql[96];
	int rc;

	for (;;) {
		enum db_kind kind;
		int64_t version = 0;

		if ((rc = exec(db, path, "BEGIN IMMEDIATE")) != 0)
			return rc;
		/* again under the write lock: another process may have migrated */
		rc = identify(db, path, &kind, &version);
		if (rc == 0)
			rc = check_kind(kind, version, path);
		if (rc != 0 || version == (int64_t)cairn__meta_sqlite_schema_version) {
			if (rc == 0)
				rc = exec(db, path, "COMMIT");
			if (rc != 0)
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld; PRAGMA application_id = %d",
			 (long long)version + 1, CAIRN_META_SQLITE_APP_ID);
		rc = exec(db, path, cairn__meta_sqlite_migrations[version].sql);
		if (rc == 0)
			rc = exec(db, path, sql);
		if (rc == 0)
			rc = exec(db, path, "COMMIT");
		if (rc != 0) {
			char why[256];

			snprintf(why, sizeof(why), "%s", cairn_error_last());
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return cairn__error_set(rc, "migration %lld (%s) failed: %s",
						(long long)version + 1,
						cairn__meta_sqlite_migrations[version].name, why);
		}
	}
}

int cairn__meta_sqlite_setup(sqlite3 *db, const char *path)
{
	char mode[16];
	enum db_kind kind;
	int64_t version = 0, on = 0;
	int rc;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, CAIRN_META_SQLITE_BUSY_MS);
	/* no schema trick can corrupt the file or run functions from it */
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

	/* first look, before anything can write to a file that is not ours */
	if ((rc = identify(db, path, &kind, &version)) != 0 ||
	    (rc = check_kind(kind, version, path)) != 0)
		return rc;

	/*
	 * WAL: readers never block the writer. synchronous=FULL: in WAL mode
	 * every COMMIT syncs the log before it returns, so an acknowledged
	 * commit survives power loss (NORMAL would only survive a crash of
	 * the process). Foreign keys are off unless asked for, per connection.
	 */
	/*
	 * Switching to WAL needs a moment alone with the file and does not
	 * wait for it by itself: when several processes open a new database
	 * at once it can answer "locked". Retry for as long as the busy
	 * timeout would have waited.
	 */
	for (int waited = 0;; waited += 10) {
		rc = query_one(db, path, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
		if (rc == 0)
			break;
		if (waited >= CAIRN_META_SQLITE_BUSY_MS ||
		    ((sqlite3_errcode(db) & 0xff) != SQLITE_BUSY &&
		     (sqlite3_errcode(db) & 0xff) != SQLITE_LOCKED))
			return rc;
		sqlite3_sleep(10);
	}
	if (strcmp(mode, "wal") != 0)
		return cairn__error_set(CAIRN_EIO, "metadata %s: cannot use WAL (journal mode is %s)",
					path, mode);
	if ((rc = exec(db, path, "PRAGMA synchronous = FULL")) != 0 ||
	    (rc = exec(db, path, "PRAGMA foreign_keys = ON")) != 0 ||
	    (rc = query_one(db, path, "PRAGMA foreign_keys", &on, NULL, 0)) != 0)
		return rc;
	if (on != 1)
		return cairn__error_set(CAIRN_EUNSUPPORTED,
					"this SQLite cannot enforce foreign keys");

	if (version == (int64_t)cairn__meta_sqlite_schema_version)
		return 0;
	return migrate(db, path);
}
