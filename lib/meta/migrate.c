/*
 * migrate.c - copying a data directory's SQLite metadata into PostgreSQL
 * (cairn_meta_copy_to_pg, for `cairn admin migrate`).
 *
 * Table by table, parents before children, every row of the SQLite file
 * goes into the same table of the PostgreSQL schema (meta_pg.c keeps the
 * names and columns alike): bytea values in binary, everything else as
 * text PostgreSQL converts to the column's type (SQLite's 0/1 booleans
 * included). The destination must be empty, or hold an earlier run's copy
 * of this same file (cairn_migrations names it): ids keep their values,
 * so rows of another origin would mix with these. A row already there is
 * left alone (ON CONFLICT DO NOTHING), so a copy that stopped can be run
 * again and goes on; the identity sequences are moved past the ids. Each
 * batch holds the writers' lock, so a server cannot write in between. At
 * the end each table's rows are counted on both sides.
 */
#include "meta_pg_int.h"

#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* In the order foreign keys need; "id" tables keep their identity values. */
static const struct {
	const char *table;
	bool identity;
} TABLES[] = {
	{"users", true},          {"buckets", true},         {"files", false},
	{"xorbs", false},         {"xorb_chunks", false},    {"file_terms", false},
	{"objects", false},       {"tokens", true},          {"chunk_grants", false},
	{"s3_keys", false},       {"multipart_uploads", false}, {"multipart_parts", false},
	{"web_sessions", false},  {"regions", false},
};

#define BATCH 500 /* rows per transaction */
/* BEGIN, and the writers' lock for this transaction. */
static int begin_batch(meta_pg *pg, const char *table)
{
	char lock[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(lock, CAIRN__PG_WRITE_LOCK))};
	int rc = cairn__pg_run(pg, table, "BEGIN", 0, NULL);

	if (rc == 0)
		rc = cairn__pg_run(pg, table, "SELECT pg_advisory_xact_lock($1::bigint)", 1, a);
	return rc;
}

static int copy_table(sqlite3 *db, meta_pg *pg, const char *table, bool identity,
		      cairn_meta_copy_fn progress, void *ctx, uint64_t *rows)
{
	char sql[2048], *ins = NULL;
	size_t insn = 0;
	sqlite3_stmt *st = NULL;
	FILE *f;
	int ncol, rc = 0, src;
	uint64_t n = 0;

	snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return cairn__error_set(CAIRN_EIO, "migrate: %s: %s", table, sqlite3_errmsg(db));
	ncol = sqlite3_column_count(st);
	if (ncol > 16) {
		sqlite3_finalize(st);
		return cairn__error_set(CAIRN_EINVALID, "migrate: %s has %d columns", table, ncol);
	}
	if ((f = open_memstream(&ins, &insn)) == NULL) {
		sqlite3_finalize(st);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	fprintf(f, "INSERT INTO %s (", table);
	for (int c = 0; c < ncol; c++)
		fprintf(f, "%s%s", c ? ", " : "", sqlite3_column_name(st, c));
	fprintf(f, ")%s VALUES (", identity ? " OVERRIDING SYSTEM VALUE" : "");
	for (int c = 0; c < ncol; c++)
		fprintf(f, "%s$%d", c ? ", " : "", c + 1);
	fputs(") ON CONFLICT DO NOTHING", f);
	if (fclose(f) != 0) {
		sqlite3_finalize(st);
		free(ins);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	rc = begin_batch(pg, table);
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		pg_arg a[16];
		char num[16][24];

		for (int c = 0; c < ncol; c++) {
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_NULL:
				a[c] = PG_NULL;
				break;
			case SQLITE_INTEGER:
				a[c] = PG_TEXT(cairn__pg_i64(num[c], sqlite3_column_int64(st, c)));
				break;
			case SQLITE_BLOB:
				a[c] = PG_BYTES(sqlite3_column_blob(st, c), sqlite3_column_bytes(st, c));
				if (a[c].v == NULL)
					a[c] = PG_BYTES("", 0);
				break;
			default:
				a[c] = PG_TEXT((const char *)sqlite3_column_text(st, c));
				break;
			}
		}
		rc = cairn__pg_run(pg, table, ins, ncol, a);
		if (rc == 0 && ++n % BATCH == 0) {
			rc = cairn__pg_run(pg, table, "COMMIT", 0, NULL);
			if (rc == 0)
				rc = begin_batch(pg, table);
			if (rc == 0 && progress)
				progress(ctx, table, n);
		}
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = cairn__error_set(CAIRN_EIO, "migrate: reading %s: %s", table, sqlite3_errmsg(db));
	if (rc == 0)
		rc = cairn__pg_run(pg, table, "COMMIT", 0, NULL);
	else
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	sqlite3_finalize(st);
	free(ins);
	if (rc == 0 && identity) {
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
			 "greatest((SELECT max(id) FROM %s), 1))",
			 table, table);
		rc = cairn__pg_run(pg, table, sql, 0, NULL);
	}
	if (rc == 0 && progress)
		progress(ctx, table, n);
	*rows = n;
	return rc;
}

/* Rows in table on both sides: equal, or an error naming the table. */
static int verify_table(sqlite3 *db, meta_pg *pg, const char *table)
{
	char sql[256];
	sqlite3_stmt *st;
	int64_t here = -1, there;
	PGresult *r;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			here = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if ((r = cairn__pg_exec(pg, table, sql, 0, NULL, &rc)) == NULL)
		return rc;
	there = cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	if (here != there)
		return cairn__error_set(CAIRN_ECORRUPT,
					"migrate: %s: %" PRId64 " rows in SQLite, %" PRId64
					" in PostgreSQL (rows made there since would explain it; "
					"otherwise run again)",
					table, here, there);
	return 0;
}

/*
 * The destination is empty (this copy claims it), or an earlier run of this
 * copy claimed it: anything else is refused before a row is written.
 */
static int claim_destination(meta_pg *pg, const char *sqlite_path)
{
	char real[PATH_MAX], now[24];
	struct timespec t;
	pg_arg a[2] = {PG_TEXT(real), PG_TEXT(now)};
	PGresult *r;
	int rc;

	if (realpath(sqlite_path, real) == NULL)
		snprintf(real, sizeof(real), "%s", sqlite_path);
	clock_gettime(CLOCK_REALTIME, &t);
	cairn__pg_i64(now, (int64_t)t.tv_sec * 1000000000 + t.tv_nsec);
	if ((r = cairn__pg_exec(pg, "migrate",
				"SELECT (SELECT count(*) FROM cairn_migrations WHERE source = $1), "
				"(SELECT count(*) FROM cairn_migrations), "
				"EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM buckets) OR "
				"EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM files) OR "
				"EXISTS (SELECT 1 FROM s3_keys) OR EXISTS (SELECT 1 FROM regions)",
				1, a, &rc)) == NULL)
		return rc;
	{
		bool ours = cairn__pg_get_i64(r, 0, 0) > 0;
		bool others = cairn__pg_get_i64(r, 0, 1) > (ours ? 1 : 0);
		bool rows = PQgetvalue(r, 0, 2)[0] == 't';
		PQclear(r);
		if (others || (rows && !ours))
			return cairn__error_set(CAIRN_EEXISTS,
						"migrate: the PostgreSQL database is in use already "
						"(%s); copy into an empty one (a server started on it "
						"makes its admin user: migrate before starting servers)",
						others ? "another data directory was copied there"
						       : "it has users, buckets or files");
	}
	return cairn__pg_run(pg, "migrate",
			     "INSERT INTO cairn_migrations (source, started_ns) VALUES ($1, "
			     "$2::bigint) ON CONFLICT DO NOTHING",
			     2, a);
}

int cairn_meta_copy_to_pg(const char *sqlite_path, const char *conninfo,
			  cairn_meta_copy_fn progress, void *ctx)
{
	cairn_meta *src = NULL, *dst = NULL;
	sqlite3 *db = NULL;
	int rc;

	/* open both the usual way: the SQLite file is checked and migrated, the
	 * PostgreSQL schema created or migrated to the same version */
	if ((rc = cairn_meta_sqlite_open(&src, sqlite_path)) != 0)
		return rc;
	src->close(src);
	if ((rc = cairn_meta_pg_open(&dst, conninfo)) != 0)
		return rc;
	if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = cairn__error_set(CAIRN_EIO, "migrate: %s: %s", sqlite_path,
				      db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, CAIRN_META_SQLITE_BUSY_MS);
	/* one snapshot of the source for the whole copy */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = cairn__error_set(CAIRN_EIO, "migrate: %s", sqlite3_errmsg(db));
		goto out;
	}
	if ((rc = claim_destination(cairn__pg(dst), sqlite_path)) != 0)
		goto out;
	for (size_t i = 0; rc == 0 && i < sizeof(TABLES) / sizeof(TABLES[0]); i++) {
		uint64_t rows;
		rc = copy_table(db, cairn__pg(dst), TABLES[i].table, TABLES[i].identity, progress,
				ctx, &rows);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(TABLES) / sizeof(TABLES[0]); i++)
		rc = verify_table(db, cairn__pg(dst), TABLES[i].table);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	dst->close(dst);
	return rc;
}
