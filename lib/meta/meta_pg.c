/*
 * meta_pg.c - the PostgreSQL metadata backend (meta_pg_int.h): the
 * connection, the schema and its migrations, transactions, and buckets.
 * The other tables are in meta_pg_data.c and meta_pg_auth.c.
 *
 * A handle is one connection, for one thread (as with SQLite). The schema
 * version lives in cairn_schema(version); migrations run under an
 * advisory lock, so servers starting together migrate once. Every
 * mutation runs in a savepoint: a failed call (a duplicate name, say)
 * changes nothing and leaves the caller's transaction usable, as SQLite's
 * statement rollback does.
 */
#include "meta_pg_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_LOCK 0x4341524E53434845LL /* "CARNSCHE": migrations */
#define GC_LOCK 0x4341524E47434C4BLL     /* "CARNGCLK": one collector at a time */

/* ---- statements ------------------------------------------------------------------------------- */

static void quiet(void *arg, const PGresult *r);

/* A lost connection made again (PQreset keeps the settings); the session's settings too. */
static void pg_reconnect(meta_pg *pg)
{
	PQreset(pg->conn);
	if (PQstatus(pg->conn) == CONNECTION_OK) {
		PQsetNoticeReceiver(pg->conn, quiet, NULL);
		PQsetErrorVerbosity(pg->conn, PQERRORS_TERSE);
		PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
		pg->gc_locked = false; /* a session lock does not survive its session */
	}
}

const char *cairn__pg_i64(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

PGresult *cairn__pg_exec(meta_pg *pg, const char *what, const char *sql, int n,
			 const pg_arg *args, int *rc)
{
	const char *values[16];
	int lengths[16], formats[16];
	PGresult *r;
	ExecStatusType st;

	if (n > 16) {
		*rc = cairn__error_set(CAIRN_EINVALID, "metadata: %s: too many parameters", what);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		values[i] = args[i].v;
		lengths[i] = args[i].len < 0 ? 0 : args[i].len;
		formats[i] = args[i].len < 0 ? 0 : 1;
	}
	if (pg->tx == PG_TX_NONE && PQstatus(pg->conn) == CONNECTION_BAD)
		pg_reconnect(pg);
	r = PQexecParams(pg->conn, sql, n, NULL, values, lengths, formats, 0);
	if (r == NULL || (PQresultStatus(r) == PGRES_FATAL_ERROR &&
			  PQstatus(pg->conn) == CONNECTION_BAD && pg->tx == PG_TX_NONE)) {
		/* the server went away (a restart): once more on a new connection */
		PQclear(r);
		pg_reconnect(pg);
		r = PQexecParams(pg->conn, sql, n, NULL, values, lengths, formats, 0);
	}
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		*rc = 0;
		return r;
	}
	{
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn);
		char text[512];
		size_t tl;

		snprintf(text, sizeof(text), "%s", msg && *msg ? msg : "no answer");
		tl = strlen(text);
		while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == ' '))
			text[--tl] = '\0';
		if (state && strcmp(state, "23505") == 0) {
			*rc = cairn__error_set(CAIRN_EEXISTS, "metadata: %s: already exists", what);
		} else if (state && (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)) {
			/* a value the database refuses: text not UTF-8, a number out of range */
			fprintf(stderr, "cairn: metadata: %s: %s\n", what, text);
			*rc = cairn__error_set(CAIRN_EINVALID,
					       "metadata: %s: a value the database refuses (text "
					       "that is not UTF-8, or a number out of range)",
					       what);
		} else {
			/* the database's own words go to the log, not to whoever asked */
			fprintf(stderr, "cairn: metadata: %s: %s\n", what, text);
			*rc = cairn__error_set(CAIRN_EIO, "metadata: %s: the database failed (%s)",
					       what, state ? state : "no answer");
		}
	}
	if (pg->tx != PG_TX_NONE)
		pg->failed = true;
	PQclear(r);
	return NULL;
}

int cairn__pg_run(meta_pg *pg, const char *what, const char *sql, int n, const pg_arg *args)
{
	int rc;
	PGresult *r = cairn__pg_exec(pg, what, sql, n, args, &rc);

	PQclear(r);
	return rc;
}

int64_t cairn__pg_get_i64(const PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);

	return v && *v ? strtoll(v, NULL, 10) : 0;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* bytea text output ("\x" and hex digits) into out, up to cap bytes; the length, or -1. */
static long unhex_bytea(const char *v, uint8_t *out, size_t cap)
{
	size_t n;

	if (v == NULL || v[0] != '\\' || v[1] != 'x')
		return -1;
	v += 2;
	n = strlen(v);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexv(v[2 * i]), lo = hexv(v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

int cairn__pg_get_fixed(const PGresult *r, int row, int col, void *out, size_t n)
{
	if (PQgetisnull(r, row, col) || unhex_bytea(PQgetvalue(r, row, col), out, n) != (long)n)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored hash is malformed");
	return 0;
}

int cairn__pg_get_bytes(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
	const char *v = PQgetvalue(r, row, col);
	size_t cap;
	long got;

	*out = NULL;
	*len = 0;
	if (PQgetisnull(r, row, col))
		return 0;
	cap = strlen(v) / 2;
	if ((*out = malloc(cap ? cap : 1)) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if ((got = unhex_bytea(v, *out, cap)) < 0) {
		free(*out);
		*out = NULL;
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored value is malformed");
	}
	*len = (size_t)got;
	return 0;
}

/* ---- transactions -------------------------------------------------------------------------------- */

int cairn__pg_need_write(meta_pg *pg, const char *what)
{
	if (pg->tx != PG_TX_WRITE)
		return cairn__error_set(CAIRN_EINVALID,
					"metadata: %s outside a write transaction (begin(true) first)",
					what);
	if (pg->failed)
		return cairn__error_set(CAIRN_EIO,
					"metadata: %s: the transaction was rolled back by an earlier "
					"error; roll back and start again", what);
	return 0;
}

int cairn__pg_op_begin(meta_pg *pg, const char *what)
{
	int rc = cairn__pg_need_write(pg, what);

	return rc ? rc : cairn__pg_run(pg, what, "SAVEPOINT cairn_op", 0, NULL);
}

int cairn__pg_op_end(meta_pg *pg, int rc, const char *what)
{
	if (rc == 0)
		return cairn__pg_run(pg, what, "RELEASE SAVEPOINT cairn_op", 0, NULL);
	{
		PGresult *r = PQexec(pg->conn, "ROLLBACK TO SAVEPOINT cairn_op");
		if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
			PQclear(PQexec(pg->conn, "RELEASE SAVEPOINT cairn_op"));
			pg->failed = false; /* as if the call had not been made */
		}
		PQclear(r);
	}
	return rc;
}

static int pg_begin(cairn_meta *m, bool write)
{
	meta_pg *pg = cairn__pg(m);
	char lock[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(lock, CAIRN__PG_WRITE_LOCK))};
	int rc;

	if (pg->tx != PG_TX_NONE)
		return cairn__error_set(CAIRN_EINVALID, "metadata: begin inside a transaction");
	rc = cairn__pg_run(pg, "begin",
			   write ? "BEGIN ISOLATION LEVEL READ COMMITTED"
				 : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
			   0, NULL);
	if (rc != 0)
		return rc;
	pg->tx = write ? PG_TX_WRITE : PG_TX_READ;
	pg->failed = false;
	if (write && (rc = cairn__pg_run(pg, "begin", "SELECT pg_advisory_xact_lock($1::bigint)", 1,
					 a)) != 0) {
		PQclear(PQexec(pg->conn, "ROLLBACK"));
		pg->tx = PG_TX_NONE;
		return rc;
	}
	return 0;
}

static int pg_commit(cairn_meta *m)
{
	meta_pg *pg = cairn__pg(m);
	int rc;

	if (pg->tx == PG_TX_NONE)
		return cairn__error_set(CAIRN_EINVALID, "metadata: commit outside a transaction");
	if (pg->failed) {
		PQclear(PQexec(pg->conn, "ROLLBACK"));
		pg->tx = PG_TX_NONE;
		pg->failed = false;
		return cairn__error_set(CAIRN_EIO, "metadata: commit of a transaction an error "
						   "rolled back");
	}
	rc = cairn__pg_run(pg, "commit", "COMMIT", 0, NULL);
	pg->tx = PG_TX_NONE;
	pg->failed = false;
	return rc;
}

static void pg_rollback(cairn_meta *m)
{
	meta_pg *pg = cairn__pg(m);

	if (pg->tx == PG_TX_NONE)
		return;
	PQclear(PQexec(pg->conn, "ROLLBACK"));
	pg->tx = PG_TX_NONE;
	pg->failed = false;
}

/* ---- schema ------------------------------------------------------------------------------------- */

/*
 * The SQLite schema's tables, in PostgreSQL's types: bytea for keys and
 * hashes (compared like memcmp), bigint for sizes and times, identity
 * columns for ids (never reused, as SQLite's AUTOINCREMENT). Migration k
 * (entry k - 1) takes version k - 1 to k; append, never edit.
 */
static const char *const MIGRATIONS[] = {
	"CREATE TABLE buckets (\n"
	"	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"	ns text NOT NULL,\n"
	"	name text NOT NULL,\n"
	"	private boolean NOT NULL,\n"
	"	created_ns bigint NOT NULL,\n"
	"	regions text NOT NULL DEFAULT '',\n"
	"	UNIQUE (ns, name)\n"
	");\n"
	"CREATE TABLE files (\n"
	"	hash bytea PRIMARY KEY CHECK (length(hash) = 32),\n"
	"	size bigint NOT NULL CHECK (size >= 0),\n"
	"	created_ns bigint NOT NULL\n"
	");\n"
	"CREATE TABLE objects (\n"
	"	bucket_id bigint NOT NULL REFERENCES buckets (id),\n"
	"	key bytea NOT NULL,\n"
	"	file_hash bytea NOT NULL REFERENCES files (hash),\n"
	"	size bigint NOT NULL CHECK (size >= 0),\n"
	"	mtime_ns bigint NOT NULL,\n"
	"	created_ns bigint NOT NULL,\n"
	"	content_type text,\n"
	"	md5 bytea CHECK (md5 IS NULL OR length(md5) = 16),\n"
	"	parts integer NOT NULL DEFAULT 0 CHECK (parts >= 0),\n"
	"	user_meta text,\n"
	"	part_sizes bytea,\n"
	"	PRIMARY KEY (bucket_id, key)\n"
	");\n"
	"CREATE INDEX objects_by_file ON objects (file_hash);\n"
	"CREATE TABLE xorbs (\n"
	"	hash bytea PRIMARY KEY CHECK (length(hash) = 32),\n"
	"	stored bigint NOT NULL CHECK (stored >= 0),\n"
	"	raw bigint NOT NULL CHECK (raw >= 0),\n"
	"	chunks bigint NOT NULL CHECK (chunks >= 0),\n"
	"	created_ns bigint NOT NULL,\n"
	"	used_ns bigint NOT NULL\n"
	");\n"
	"CREATE TABLE file_terms (\n"
	"	file_hash bytea NOT NULL REFERENCES files (hash),\n"
	"	seq integer NOT NULL,\n"
	"	xorb_hash bytea NOT NULL REFERENCES xorbs (hash),\n"
	"	chunk_first integer NOT NULL,\n"
	"	chunk_end integer NOT NULL,\n"
	"	raw_len bigint NOT NULL,\n"
	"	PRIMARY KEY (file_hash, seq),\n"
	"	CHECK (0 <= chunk_first AND chunk_first < chunk_end)\n"
	");\n"
	"CREATE INDEX file_terms_by_xorb ON file_terms (xorb_hash);\n"
	"CREATE TABLE xorb_chunks (\n"
	"	xorb_hash bytea NOT NULL REFERENCES xorbs (hash),\n"
	"	idx integer NOT NULL,\n"
	"	chunk_hash bytea NOT NULL CHECK (length(chunk_hash) = 32),\n"
	"	chunk_offset bigint NOT NULL,\n"
	"	packed_len bigint NOT NULL,\n"
	"	raw_len bigint NOT NULL,\n"
	"	PRIMARY KEY (xorb_hash, idx)\n"
	");\n"
	"CREATE INDEX xorb_chunks_by_chunk ON xorb_chunks (chunk_hash);\n"
	"CREATE TABLE users (\n"
	"	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"	name text NOT NULL UNIQUE,\n"
	"	created_ns bigint NOT NULL\n"
	");\n"
	"CREATE TABLE tokens (\n"
	"	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"	user_id bigint NOT NULL REFERENCES users (id),\n"
	"	scope text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),\n"
	"	hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
	"	created_ns bigint NOT NULL,\n"
	"	revoked_ns bigint\n"
	");\n"
	"CREATE INDEX tokens_by_user ON tokens (user_id);\n"
	"CREATE TABLE chunk_grants (\n"
	"	ns text NOT NULL,\n"
	"	chunk_hash bytea NOT NULL CHECK (length(chunk_hash) = 32),\n"
	"	created_ns bigint NOT NULL,\n"
	"	PRIMARY KEY (ns, chunk_hash)\n"
	");\n"
	"CREATE INDEX chunk_grants_by_age ON chunk_grants (created_ns);\n"
	"CREATE TABLE s3_keys (\n"
	"	access_key text PRIMARY KEY,\n"
	"	user_id bigint NOT NULL REFERENCES users (id),\n"
	"	secret text NOT NULL,\n"
	"	created_ns bigint NOT NULL,\n"
	"	revoked_ns bigint\n"
	");\n"
	"CREATE INDEX s3_keys_by_user ON s3_keys (user_id);\n"
	"CREATE TABLE multipart_uploads (\n"
	"	id text PRIMARY KEY CHECK (length(id) = 32),\n"
	"	bucket_id bigint NOT NULL REFERENCES buckets (id),\n"
	"	key bytea NOT NULL,\n"
	"	content_type text,\n"
	"	user_meta text,\n"
	"	created_ns bigint NOT NULL\n"
	");\n"
	"CREATE INDEX multipart_uploads_by_key ON multipart_uploads (bucket_id, key, id);\n"
	"CREATE TABLE multipart_parts (\n"
	"	upload_id text NOT NULL REFERENCES multipart_uploads (id),\n"
	"	number integer NOT NULL CHECK (number BETWEEN 1 AND 10000),\n"
	"	file_hash bytea NOT NULL REFERENCES files (hash),\n"
	"	size bigint NOT NULL CHECK (size >= 0),\n"
	"	md5 bytea NOT NULL CHECK (length(md5) = 16),\n"
	"	created_ns bigint NOT NULL,\n"
	"	PRIMARY KEY (upload_id, number)\n"
	");\n"
	"CREATE INDEX multipart_parts_by_file ON multipart_parts (file_hash);\n"
	"CREATE TABLE web_sessions (\n"
	"	hash bytea PRIMARY KEY CHECK (length(hash) = 32),\n"
	"	token_hash bytea NOT NULL CHECK (length(token_hash) = 32),\n"
	"	created_ns bigint NOT NULL,\n"
	"	expires_ns bigint NOT NULL\n"
	");\n"
	"CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_ns);\n"
	"CREATE TABLE regions (\n"
	"	name text PRIMARY KEY,\n"
	"	url text NOT NULL,\n"
	"	secret bytea NOT NULL CHECK (length(secret) = 32),\n"
	"	created_ns bigint NOT NULL\n"
	");\n",
	/* 2: secrets every server shares (the URL key) */
	"CREATE TABLE cairn_secrets (\n"
	"	name text PRIMARY KEY,\n"
	"	value bytea NOT NULL CHECK (length(value) = 32)\n"
	");\n",
	/* 3: which SQLite files `cairn admin migrate` copies here (so a second run goes on) */
	"CREATE TABLE cairn_migrations (\n"
	"	source text PRIMARY KEY,\n"
	"	started_ns bigint NOT NULL\n"
	");\n",
	/* 4: recompressed xorbs (as SQLite's migration 9) */
	"ALTER TABLE xorbs ADD COLUMN gen bigint NOT NULL DEFAULT 0 CHECK (gen >= 0);\n"
	"ALTER TABLE xorbs ADD COLUMN rest_name bytea CHECK (rest_name IS NULL OR "
	"length(rest_name) = 32);\n"
	"CREATE UNIQUE INDEX xorbs_by_rest_name ON xorbs (rest_name) WHERE rest_name IS NOT NULL;\n"
	"CREATE TABLE retired_names (\n"
	"	name bytea PRIMARY KEY CHECK (length(name) = 32),\n"
	"	retired_ns bigint NOT NULL\n"
	");\n",
	/* migration 5 goes here */
};

#define SCHEMA_VERSION ((int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])))

static int schema_version(meta_pg *pg, int *version)
{
	int rc;
	PGresult *r = cairn__pg_exec(pg, "schema", "SELECT coalesce(max(version), 0) FROM "
						     "cairn_schema",
				     0, NULL, &rc);

	if (r == NULL)
		return rc;
	*version = (int)cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

/* Bring the schema to SCHEMA_VERSION, one transaction per migration, under a lock. */
static int migrate(meta_pg *pg)
{
	char lock[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(lock, SCHEMA_LOCK))};
	int version = 0, rc;

	/* the lock first: two servers starting together must not both create the table */
	if ((rc = cairn__pg_run(pg, "schema", "SELECT pg_advisory_lock($1::bigint)", 1, a)) != 0)
		return rc;
	if ((rc = cairn__pg_run(pg, "schema",
				"CREATE TABLE IF NOT EXISTS cairn_schema (version integer NOT NULL, "
				"applied_ns bigint NOT NULL)",
				0, NULL)) != 0) {
		PQclear(PQexec(pg->conn, "SELECT pg_advisory_unlock_all()"));
		return rc;
	}
	rc = schema_version(pg, &version);
	if (rc == 0 && version > SCHEMA_VERSION)
		rc = cairn__error_set(CAIRN_ECORRUPT,
				      "metadata: the database's schema (version %d) is newer than "
				      "this cairn (%d): upgrade cairn",
				      version, SCHEMA_VERSION);
	for (int v = version; rc == 0 && v < SCHEMA_VERSION; v++) {
		char vb[24];
		pg_arg va[1] = {PG_TEXT(cairn__pg_i64(vb, v + 1))};
		PGresult *r = PQexec(pg->conn, "BEGIN");
		PQclear(r);
		r = PQexec(pg->conn, MIGRATIONS[v]);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = cairn__error_set(CAIRN_EIO, "metadata: migration %d: %s", v + 1,
					      r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn));
			PQclear(r);
			PQclear(PQexec(pg->conn, "ROLLBACK"));
			break;
		}
		PQclear(r);
		rc = cairn__pg_run(pg, "schema",
				   "INSERT INTO cairn_schema (version, applied_ns) VALUES ($1::integer, "
				   "(extract(epoch FROM clock_timestamp()) * 1e9)::bigint)",
				   1, va);
		if (rc == 0)
			rc = cairn__pg_run(pg, "schema", "COMMIT", 0, NULL);
		else
			PQclear(PQexec(pg->conn, "ROLLBACK"));
	}
	PQclear(PQexec(pg->conn, "SELECT pg_advisory_unlock_all()"));
	return rc;
}

static int pg_gc_lock(cairn_meta *m, bool take);

/* ---- buckets ------------------------------------------------------------------------------------ */

#define BUCKET_COLS "id, ns, name, private, created_ns, regions"

static int read_bucket(const PGresult *r, int row, cairn_bucket_row *b)
{
	const char *ns = PQgetvalue(r, row, 1), *name = PQgetvalue(r, row, 2);
	const char *regions = PQgetvalue(r, row, 5);

	memset(b, 0, sizeof(*b));
	if (strlen(ns) < 1 || strlen(ns) > CAIRN_NAME_MAX || strlen(name) < 1 ||
	    strlen(name) > CAIRN_NAME_MAX || strlen(regions) > CAIRN_REGIONS_MAX)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored bucket is malformed");
	b->id = cairn__pg_get_i64(r, row, 0);
	memcpy(b->ns, ns, strlen(ns) + 1);
	memcpy(b->name, name, strlen(name) + 1);
	b->is_private = PQgetvalue(r, row, 3)[0] == 't';
	b->created_ns = cairn__pg_get_i64(r, row, 4);
	memcpy(b->regions, regions, strlen(regions) + 1);
	return 0;
}

static int pg_bucket_create(cairn_meta *m, const char *ns, const char *name, bool is_private,
			    int64_t now_ns, int64_t *id)
{
	meta_pg *pg = cairn__pg(m);
	char t[24];
	pg_arg a[4] = {PG_TEXT(ns), PG_TEXT(name), PG_TEXT(is_private ? "true" : "false"),
		       PG_TEXT(cairn__pg_i64(t, now_ns))};
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "bucket_create")) != 0 ||
	    (rc = cairn__meta_check_name("namespace", ns)) != 0 ||
	    (rc = cairn__meta_check_name("bucket name", name)) != 0 ||
	    (rc = cairn__pg_op_begin(pg, "bucket_create")) != 0)
		return rc;
	r = cairn__pg_exec(pg, "bucket_create",
			   "INSERT INTO buckets (ns, name, private, created_ns) VALUES ($1, $2, "
			   "$3::boolean, $4::bigint) RETURNING id",
			   4, a, &rc);
	if (r != NULL && id)
		*id = cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "bucket %s/%s already exists", ns, name);
	return cairn__pg_op_end(pg, rc, "bucket_create");
}

static int one_bucket(meta_pg *pg, const char *what, const char *sql, int n, const pg_arg *a,
		      cairn_bucket_row *out, const char *missing)
{
	int rc;
	PGresult *r = cairn__pg_exec(pg, what, sql, n, a, &rc);

	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", missing);
	else
		rc = read_bucket(r, 0, out);
	PQclear(r);
	return rc;
}

static int pg_bucket_get(cairn_meta *m, const char *ns, const char *name, cairn_bucket_row *out)
{
	pg_arg a[2] = {PG_TEXT(ns), PG_TEXT(name)};
	char missing[2 * CAIRN_NAME_MAX + 16];

	if (ns == NULL || name == NULL || out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_get: NULL argument");
	snprintf(missing, sizeof(missing), "no bucket %s/%s", ns, name);
	return one_bucket(cairn__pg(m), "bucket_get",
			  "SELECT " BUCKET_COLS " FROM buckets WHERE ns = $1 AND name = $2", 2, a,
			  out, missing);
}

static int pg_bucket_get_by_id(cairn_meta *m, int64_t id, cairn_bucket_row *out)
{
	char t[24], missing[48];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(t, id))};

	snprintf(missing, sizeof(missing), "no bucket with id %" PRId64, id);
	return one_bucket(cairn__pg(m), "bucket_get_by_id",
			  "SELECT " BUCKET_COLS " FROM buckets WHERE id = $1::bigint", 1, a, out,
			  missing);
}

static int pg_bucket_list(cairn_meta *m, const char *ns, cairn_meta_bucket_fn fn, void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	pg_arg a[1] = {PG_TEXT(ns)};
	PGresult *r;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_list: no callback");
	r = cairn__pg_exec(pg, "bucket_list",
			   ns ? "SELECT " BUCKET_COLS " FROM buckets WHERE ns = $1 ORDER BY name "
				"COLLATE \"C\""
			      : "SELECT " BUCKET_COLS " FROM buckets ORDER BY ns COLLATE \"C\", "
				"name COLLATE \"C\"",
			   ns ? 1 : 0, a, &rc);
	if (r == NULL)
		return rc;
	pg->listing++;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		cairn_bucket_row b;
		if ((rc = read_bucket(r, i, &b)) == 0)
			rc = fn(ctx, &b);
	}
	pg->listing--;
	PQclear(r);
	return rc;
}

uint64_t cairn__pg_changes(const PGresult *r)
{
	return strtoull(PQcmdTuples((PGresult *)r), NULL, 10);
}

int cairn__pg_change_one(meta_pg *pg, const char *what, const char *sql, int n,
			 const pg_arg *a, const char *missing)
{
	int rc = cairn__pg_op_begin(pg, what);
	PGresult *r;

	if (rc != 0)
		return rc;
	r = cairn__pg_exec(pg, what, sql, n, a, &rc);
	if (r != NULL && cairn__pg_changes(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", missing);
	PQclear(r);
	return cairn__pg_op_end(pg, rc, what);
}

static int pg_bucket_set_private(cairn_meta *m, int64_t id, bool is_private)
{
	char t[24], missing[48];
	pg_arg a[2] = {PG_TEXT(cairn__pg_i64(t, id)), PG_TEXT(is_private ? "true" : "false")};

	snprintf(missing, sizeof(missing), "no bucket with id %" PRId64, id);
	return cairn__pg_change_one(cairn__pg(m), "bucket_set_private",
			  "UPDATE buckets SET private = $2::boolean WHERE id = $1::bigint", 2, a,
			  missing);
}

static int pg_bucket_set_regions(cairn_meta *m, int64_t id, const char *regions)
{
	char t[24], missing[48];
	pg_arg a[2] = {PG_TEXT(cairn__pg_i64(t, id)), PG_TEXT(regions)};

	if (regions == NULL || strlen(regions) > CAIRN_REGIONS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "bucket_set_regions: over %d bytes",
					CAIRN_REGIONS_MAX);
	snprintf(missing, sizeof(missing), "no bucket with id %" PRId64, id);
	return cairn__pg_change_one(cairn__pg(m), "bucket_set_regions",
			  "UPDATE buckets SET regions = $2 WHERE id = $1::bigint", 2, a, missing);
}

static int pg_bucket_delete(cairn_meta *m, int64_t id)
{
	meta_pg *pg = cairn__pg(m);
	char t[24], missing[48];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(t, id))};
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_op_begin(pg, "bucket_delete")) != 0)
		return rc;
	if ((rc = cairn__pg_run(pg, "bucket_delete",
				"DELETE FROM objects WHERE bucket_id = $1::bigint", 1, a)) == 0 &&
	    (rc = cairn__pg_run(pg, "bucket_delete",
				"DELETE FROM multipart_parts WHERE upload_id IN (SELECT id FROM "
				"multipart_uploads WHERE bucket_id = $1::bigint)",
				1, a)) == 0 &&
	    (rc = cairn__pg_run(pg, "bucket_delete",
				"DELETE FROM multipart_uploads WHERE bucket_id = $1::bigint", 1, a)) ==
		    0) {
		r = cairn__pg_exec(pg, "bucket_delete", "DELETE FROM buckets WHERE id = $1::bigint",
				   1, a, &rc);
		if (r != NULL && cairn__pg_changes(r) == 0) {
			snprintf(missing, sizeof(missing), "no bucket with id %" PRId64, id);
			rc = cairn__error_set(CAIRN_ENOTFOUND, "%s", missing);
		}
		PQclear(r);
	}
	return cairn__pg_op_end(pg, rc, "bucket_delete");
}

static int pg_bucket_totals(cairn_meta *m, int64_t id, uint64_t *objects, uint64_t *bytes)
{
	meta_pg *pg = cairn__pg(m);
	char t[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(t, id))};
	int rc;
	PGresult *r = cairn__pg_exec(pg, "bucket_totals",
				     "SELECT (SELECT count(*) FROM objects WHERE bucket_id = b.id), "
				     "(SELECT coalesce(sum(size), 0) FROM objects WHERE bucket_id = "
				     "b.id) FROM buckets AS b WHERE b.id = $1::bigint",
				     1, a, &rc);

	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return cairn__error_set(CAIRN_ENOTFOUND, "no bucket with id %" PRId64, id);
	}
	*objects = (uint64_t)cairn__pg_get_i64(r, 0, 0);
	*bytes = (uint64_t)cairn__pg_get_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

/* The collector's lock: a session advisory lock, gone with the connection at worst. */
static int pg_gc_lock(cairn_meta *m, bool take)
{
	meta_pg *pg = cairn__pg(m);
	char lock[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(lock, GC_LOCK))};
	PGresult *r;
	int rc;

	if (!take) {
		if (pg->gc_locked)
			rc = cairn__pg_run(pg, "gc_lock", "SELECT pg_advisory_unlock($1::bigint)", 1, a);
		else
			rc = 0;
		pg->gc_locked = false;
		return rc;
	}
	if (pg->gc_locked)
		return 0;
	if ((r = cairn__pg_exec(pg, "gc_lock", "SELECT pg_try_advisory_lock($1::bigint)", 1, a,
				&rc)) == NULL)
		return rc;
	pg->gc_locked = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return pg->gc_locked ? 0 : cairn__error_set(CAIRN_EEXISTS, "another GC is running on this "
								  "metadata");
}

static int pg_shared_secret(cairn_meta *m, const char *name, const uint8_t proposed[32],
			    uint8_t out[32])
{
	meta_pg *pg = cairn__pg(m);
	pg_arg a[2] = {PG_TEXT(name), PG_BYTES(proposed, 32)};
	PGresult *r;
	int rc;

	/* one statement: the row that is there, or the one this call puts there */
	r = cairn__pg_exec(pg, "shared_secret",
			   "WITH put AS (INSERT INTO cairn_secrets (name, value) VALUES ($1, $2::bytea) "
			   "ON CONFLICT (name) DO NOTHING RETURNING value) "
			   "SELECT value FROM put UNION ALL "
			   "SELECT value FROM cairn_secrets WHERE name = $1 LIMIT 1",
			   2, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		/* another server's insert committed while this one waited on it: a new
		 * statement sees it */
		PQclear(r);
		r = cairn__pg_exec(pg, "shared_secret",
				   "SELECT value FROM cairn_secrets WHERE name = $1", 1, a, &rc);
		if (r == NULL)
			return rc;
	}
	rc = PQntuples(r) == 1 ? cairn__pg_get_fixed(r, 0, 0, out, 32)
			       : cairn__error_set(CAIRN_EIO, "metadata: secret %s: no row", name);
	PQclear(r);
	return rc;
}

/* ---- open and close ------------------------------------------------------------------------------ */

static void pg_close(cairn_meta *m)
{
	meta_pg *pg = cairn__pg(m);

	if (pg == NULL)
		return;
	if (pg->conn && pg->gc_locked) /* now, not whenever the server sees the connection go */
		pg_gc_lock(m, false);
	if (pg->conn)
		PQfinish(pg->conn);
	free(pg);
}

static void quiet(void *arg, const PGresult *r)
{
	(void)arg;
	(void)r; /* notices (IF NOT EXISTS...) are not errors */
}

int cairn_meta_pg_open(cairn_meta **out, const char *conninfo)
{
	meta_pg *pg;
	int rc;

	if (out == NULL || conninfo == NULL)
		return cairn__error_set(CAIRN_EINVALID, "cairn_meta_pg_open: NULL argument");
	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	pg->conn = PQconnectdb(conninfo);
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
		rc = cairn__error_set(CAIRN_EIO, "metadata: cannot connect to PostgreSQL: %s",
				      pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		pg_close(&pg->base);
		return rc;
	}
	PQsetNoticeReceiver(pg->conn, quiet, NULL);
	/* errors without DETAIL lines: those quote row values, secrets among them */
	PQsetErrorVerbosity(pg->conn, PQERRORS_TERSE);
	PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
	if ((rc = migrate(pg)) != 0) {
		pg_close(&pg->base);
		return rc;
	}
	pg->base.version = CAIRN_META_VERSION;
	pg->base.begin = pg_begin;
	pg->base.commit = pg_commit;
	pg->base.rollback = pg_rollback;
	pg->base.close = pg_close;
	pg->base.gc_lock = pg_gc_lock;
	pg->base.shared_secret = pg_shared_secret;
	pg->base.bucket_create = pg_bucket_create;
	pg->base.bucket_get = pg_bucket_get;
	pg->base.bucket_get_by_id = pg_bucket_get_by_id;
	pg->base.bucket_list = pg_bucket_list;
	pg->base.bucket_set_private = pg_bucket_set_private;
	pg->base.bucket_set_regions = pg_bucket_set_regions;
	pg->base.bucket_delete = pg_bucket_delete;
	pg->base.bucket_totals = pg_bucket_totals;
	cairn__pg_data_init(&pg->base);
	cairn__pg_auth_init(&pg->base);
	*out = &pg->base;
	return 0;
}

/* ---- choosing the backend -------------------------------------------------------------------------- */

int cairn_meta_open(cairn_meta **out, const char *data_dir)
{
	const char *url = getenv("CAIRN_META");
	char path[4096];

	if (url != NULL && *url != '\0') {
		if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
			return cairn_meta_pg_open(out, url);
		return cairn__error_set(CAIRN_EINVALID,
					"CAIRN_META: postgres://... expected (or unset, for SQLite in "
					"the data directory)");
	}
	if (data_dir == NULL || strlen(data_dir) > sizeof(path) - 16)
		return cairn__error_set(CAIRN_EINVALID, "data directory path too long");
	snprintf(path, sizeof(path), "%s/cairn.db", data_dir);
	return cairn_meta_sqlite_open(out, path);
}
