/*
 * test_meta.c - the SQLite metadata backend (include/cairn/sys/meta.h):
 * every function of the table, with its expected errors; object listings
 * checked against a model (memcmp order, prefixes and start keys with 0xFF,
 * control bytes, keys of the maximum length); garbage collection against
 * its cutoff and references; S3's object metadata, access keys and
 * multipart uploads (and migration 4 over an older database); transactions
 * seen from a second handle;
 * reopening, foreign files and a newer schema; the connection's durability
 * settings; and kill -9 at random moments: every commit acknowledged before
 * the kill is there afterwards, whole.
 *
 * Usage: test_meta (works in a fresh directory under $TMPDIR or /tmp)
 */
#include "harness.h"

#include <libpq-fe.h>

#include "cairn/errors.h"
#include "cairn/hash.h"
#include "cairn/sys/meta.h"
#include "meta/meta_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

/* ---- helpers --------------------------------------------------------------- */

static void db_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/*
 * CAIRN_TEST_PG (a libpq conninfo of a private PostgreSQL server that
 * tests/pg/run.sh started): the tests of the function table run against
 * the PostgreSQL backend instead, one database per name.
 */
static const char *pg;

static cairn_meta *open_pg(const char *name)
{
	char conninfo[1024], sql[256], db[128];
	cairn_meta *m = NULL;
	PGconn *admin;
	size_t j = 0;
	int rc;

	for (const char *p = name; *p && j + 1 < sizeof(db) - 12; p++)
		db[j++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_');
	db[j] = '\0';
	snprintf(conninfo, sizeof(conninfo), "%s dbname=postgres", pg);
	admin = PQconnectdb(conninfo);
	CHECKF(PQstatus(admin) == CONNECTION_OK, "%s", PQerrorMessage(admin));
	snprintf(sql, sizeof(sql), "CREATE DATABASE t_%s", db); /* fails once it exists: fine */
	PQclear(PQexec(admin, sql));
	PQfinish(admin);
	snprintf(conninfo, sizeof(conninfo), "%s dbname=t_%s", pg, db);
	rc = cairn_meta_pg_open(&m, conninfo);
	if (!CHECKF(rc == 0, "open %s: %s %s", conninfo, cairn_error_name(rc), cairn_error_last())) {
		fprintf(stderr, "cannot go on without a database\n");
		exit(1);
	}
	return m;
}

static cairn_meta *open_db(const char *name)
{
	char path[512];
	cairn_meta *m = NULL;
	int rc;

	if (pg)
		return open_pg(name);
	db_path(path, sizeof(path), name);
	rc = cairn_meta_sqlite_open(&m, path);
	if (!CHECKF(rc == 0, "open %s: %s %s", path, cairn_error_name(rc), cairn_error_last())) {
		fprintf(stderr, "cannot go on without a database\n");
		exit(1);
	}
	return m;
}

static void hash_of(cairn_hash *h, uint64_t seed)
{
	splitmix64_fill(seed, h->bytes, sizeof(h->bytes));
}

/* A xorb of n chunks: chunk i is 100 + i bytes raw, 58 + i packed (header included). */
static void make_xorb(cairn_xorb_row *row, cairn_chunk_row *chunks, uint64_t seed, uint32_t n,
		      int64_t t)
{
	uint64_t at = 0, raw = 0;

	hash_of(&row->hash, seed);
	for (uint32_t i = 0; i < n; i++) {
		hash_of(&chunks[i].hash, seed * 1000 + i + 1);
		chunks[i].offset = at;
		chunks[i].packed_len = 58 + i;
		chunks[i].raw_len = 100 + i;
		at += chunks[i].packed_len;
		raw += chunks[i].raw_len;
	}
	row->stored = at + 200; /* a footer */
	row->raw = raw;
	row->chunks = n;
	row->created_ns = t;
	row->used_ns = t;
}

static int put_xorb(cairn_meta *m, uint64_t seed, uint32_t n, int64_t t, cairn_xorb_row *out)
{
	cairn_chunk_row chunks[16];
	cairn_xorb_row row;

	make_xorb(&row, chunks, seed, n, t);
	if (out)
		*out = row;
	return m->xorb_put(m, &row, chunks, n);
}

/* A file made of all of a xorb's chunks (seed names the file, xseed the xorb). */
static int put_file(cairn_meta *m, uint64_t seed, uint64_t xseed, uint32_t n, int64_t t,
		    cairn_hash *file)
{
	cairn_term term;
	cairn_hash h;

	hash_of(&h, seed);
	hash_of(&term.xorb, xseed);
	term.first = 0;
	term.end = n;
	term.raw_len = 0;
	for (uint32_t i = 0; i < n; i++)
		term.raw_len += 100 + i;
	if (file)
		*file = h;
	return m->file_put(m, &h, term.raw_len, &term, 1, t);
}

static uint64_t file_bytes(uint32_t n)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < n; i++)
		b += 100 + i;
	return b;
}

static cairn_object_row object(const char *key, size_t len, const cairn_hash *file, uint64_t size)
{
	cairn_object_row row;

	memset(&row, 0, sizeof(row));
	row.key = key;
	row.key_len = len;
	row.file = *file;
	row.size = size;
	row.mtime_ns = 1234;
	row.created_ns = 5678;
	return row;
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void pragma_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECKF(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
	       sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The whole content of a file, malloc'd; *len set. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = test_xmalloc((size_t)n);
	*len = fread(p, 1, (size_t)n, f);
	fclose(f);
	return p;
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* ---- counting callbacks ------------------------------------------------------ */

typedef struct bucket_seen {
	int n;
	char names[16][2 * CAIRN_NAME_MAX + 2];
	int stop_at; /* return 99 at this row (1-based), 0 = never */
} bucket_seen;

static int on_bucket(void *ctx, const cairn_bucket_row *row)
{
	bucket_seen *b = ctx;

	if (b->n < 16)
		snprintf(b->names[b->n], sizeof(b->names[0]), "%s/%s", row->ns, row->name);
	b->n++;
	return b->n == b->stop_at ? 99 : 0;
}

static int count_xorb(void *ctx, const cairn_xorb_row *row)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static int count_file(void *ctx, const cairn_hash *file, uint64_t size)
{
	(void)file;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

/* ---- settings ------------------------------------------------------------------ */

static void test_settings(void)
{
	char path[512], mode[32];
	cairn_meta *m;
	sqlite3 *db, *other = NULL;

	test_section("connection settings");
	m = open_db("settings.db");
	CHECK(m->version == CAIRN_META_VERSION);
	db = cairn__meta_sqlite_db(m);
	pragma_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	CHECK_STR(mode, "wal");
	CHECK_EQ_U64(pragma_int(db, "PRAGMA synchronous"), 2); /* FULL */
	CHECK_EQ_U64(pragma_int(db, "PRAGMA foreign_keys"), 1);
	CHECK_EQ_U64(pragma_int(db, "PRAGMA busy_timeout"), CAIRN_META_SQLITE_BUSY_MS);
	CHECK_EQ_U64(pragma_int(db, "PRAGMA application_id"), CAIRN_META_SQLITE_APP_ID);
	CHECK_EQ_U64(pragma_int(db, "PRAGMA user_version"), cairn__meta_sqlite_schema_version);
	CHECK(cairn__meta_sqlite_schema_version >= 1);

	/* WAL is a property of the file: another connection sees it */
	db_path(path, sizeof(path), "settings.db");
	CHECK(sqlite3_open(path, &other) == SQLITE_OK);
	pragma_text(other, "PRAGMA journal_mode", mode, sizeof(mode));
	CHECK_STR(mode, "wal");
	sqlite3_close(other);
	m->close(m);
	m = open_db("settings.db"); /* reopens cleanly */
	m->close(m);
}

/* ---- buckets ------------------------------------------------------------------- */

static void test_buckets(void)
{
	static const char *bad[] = {"",     "A",   "-a",  ".a",  "_a",   "a b", "a/b",
				    "a\\b", "ab!", "aB",  "\xc3\xa4", "a\n", "a:b"};
	static const char *good[] = {"a", "0", "a.b-c_d", "9lives", "x--y..z__"};
	char longest[CAIRN_NAME_MAX + 2];
	cairn_bucket_row row;
	bucket_seen seen;
	uint64_t objects = 7, bytes = 7;
	int64_t id1 = 0, id2 = 0, id3 = 0, id4 = 0;
	cairn_meta *m;
	int rc;

	test_section("buckets");
	m = open_db("buckets.db");

	/* mutations need a write transaction */
	CHECK(m->bucket_create(m, "ns", "b", false, 1, &id1) == CAIRN_EINVALID);
	CHECK(m->begin(m, false) == 0);
	CHECK(m->bucket_create(m, "ns", "b", false, 1, &id1) == CAIRN_EINVALID);
	CHECK(m->begin(m, true) == CAIRN_EINVALID); /* no nesting */
	CHECK(m->commit(m) == 0);
	CHECK(m->commit(m) == CAIRN_EINVALID);
	m->rollback(m); /* harmless outside a transaction */

	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "alice", "models", false, 100, &id1) == 0);
	CHECK(m->bucket_create(m, "alice", "data", true, 200, &id2) == 0);
	CHECK(m->bucket_create(m, "bob", "models", false, 300, &id3) == 0);
	CHECK(id1 > 0 && id2 > 0 && id3 > 0 && id1 != id2 && id2 != id3);
	rc = m->bucket_create(m, "alice", "models", true, 400, &id4);
	CHECKF(rc == CAIRN_EEXISTS, "%s", cairn_error_name(rc));
	CHECK(strstr(cairn_error_last(), "alice/models") != NULL);
	CHECK(id4 == 0); /* untouched on error */

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECKF(m->bucket_create(m, "ns", bad[i], false, 1, NULL) == CAIRN_EINVALID,
		       "name \"%s\"", bad[i]);
		CHECKF(m->bucket_create(m, bad[i], "ok", false, 1, NULL) == CAIRN_EINVALID,
		       "namespace \"%s\"", bad[i]);
	}
	CHECK(m->bucket_create(m, NULL, "ok", false, 1, NULL) == CAIRN_EINVALID);
	memset(longest, 'n', sizeof(longest));
	longest[CAIRN_NAME_MAX + 1] = '\0';
	CHECK(m->bucket_create(m, "ns", longest, false, 1, NULL) == CAIRN_EINVALID);
	longest[CAIRN_NAME_MAX] = '\0';
	CHECK(m->bucket_create(m, longest, longest, false, 1, NULL) == 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECKF(m->bucket_create(m, "good", good[i], false, 1, NULL) == 0, "\"%s\": %s",
		       good[i], cairn_error_last());
	CHECK(m->commit(m) == 0);

	/* get */
	CHECK(m->bucket_get(m, "alice", "data", &row) == 0);
	CHECK(row.id == id2);
	CHECK_STR(row.ns, "alice");
	CHECK_STR(row.name, "data");
	CHECK(row.is_private);
	CHECK(row.created_ns == 200);
	CHECK(m->bucket_get(m, longest, longest, &row) == 0);
	CHECK(strlen(row.ns) == CAIRN_NAME_MAX && strlen(row.name) == CAIRN_NAME_MAX);
	CHECK(m->bucket_get(m, "alice", "nope", &row) == CAIRN_ENOTFOUND);
	CHECK(m->bucket_get(m, "carol", "models", &row) == CAIRN_ENOTFOUND);

	/* list: by (ns, name), one namespace or all, stopping early */
	memset(&seen, 0, sizeof(seen));
	CHECK(m->bucket_list(m, "alice", on_bucket, &seen) == 0);
	CHECK(seen.n == 2);
	CHECK_STR(seen.names[0], "alice/data");
	CHECK_STR(seen.names[1], "alice/models");
	memset(&seen, 0, sizeof(seen));
	CHECK(m->bucket_list(m, NULL, on_bucket, &seen) == 0);
	CHECK(seen.n == 4 + 5);
	CHECK_STR(seen.names[0], "alice/data");
	CHECK_STR(seen.names[2], "bob/models");
	CHECK_STR(seen.names[3], "good/0");
	memset(&seen, 0, sizeof(seen));
	CHECK(m->bucket_list(m, "nobody", on_bucket, &seen) == 0 && seen.n == 0);
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 2;
	CHECK(m->bucket_list(m, NULL, on_bucket, &seen) == 99);
	CHECK(seen.n == 2);

	/* set_private, totals, delete */
	CHECK(m->bucket_set_private(m, id1, true) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_set_private(m, id1, true) == 0);
	CHECK(m->bucket_set_private(m, id1, true) == 0); /* same value: still found */
	CHECK(m->bucket_set_private(m, 9999, true) == CAIRN_ENOTFOUND);
	CHECK(m->commit(m) == 0);
	CHECK(m->bucket_get(m, "alice", "models", &row) == 0 && row.is_private);
	CHECK_STR(row.regions, ""); /* none until set */

	/* set_regions, get_by_id */
	{
		char big[CAIRN_REGIONS_MAX + 2];
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK(m->bucket_set_regions(m, id1, "eu") == CAIRN_EINVALID); /* no transaction */
		CHECK(m->begin(m, true) == 0);
		CHECK(m->bucket_set_regions(m, id1, "eu,us-east") == 0);
		CHECK(m->bucket_set_regions(m, 9999, "eu") == CAIRN_ENOTFOUND);
		CHECK(m->bucket_set_regions(m, id1, big) == CAIRN_EINVALID); /* over the limit */
		CHECK(m->commit(m) == 0);
		CHECK(m->bucket_get(m, "alice", "models", &row) == 0);
		CHECK_STR(row.regions, "eu,us-east");
		memset(&row, 0, sizeof(row));
		CHECK(m->bucket_get_by_id(m, id1, &row) == 0);
		CHECK_STR(row.ns, "alice");
		CHECK_STR(row.name, "models");
		CHECK_STR(row.regions, "eu,us-east");
		CHECK(row.id == id1 && row.is_private);
		CHECK(m->bucket_get_by_id(m, 9999, &row) == CAIRN_ENOTFOUND);
		CHECK(m->begin(m, true) == 0);
		CHECK(m->bucket_set_regions(m, id1, "") == 0);
		CHECK(m->commit(m) == 0);
		CHECK(m->bucket_get_by_id(m, id1, &row) == 0);
		CHECK_STR(row.regions, "");
	}
	CHECK(m->bucket_totals(m, id1, &objects, &bytes) == 0);
	CHECK(objects == 0 && bytes == 0);
	objects = bytes = 7;
	CHECK(m->bucket_totals(m, 9999, &objects, &bytes) == CAIRN_ENOTFOUND);
	CHECK(objects == 7 && bytes == 7);

	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_delete(m, id3) == 0);
	CHECK(m->bucket_delete(m, id3) == CAIRN_ENOTFOUND);
	/* a deleted bucket's id is never given again */
	CHECK(m->bucket_create(m, "bob", "models", false, 500, &id4) == 0);
	CHECK(id4 > id3);
	CHECK(m->commit(m) == 0);
	CHECK(m->bucket_get(m, "bob", "models", &row) == 0 && row.id == id4);
	m->close(m);
}

/* ---- xorbs and files ------------------------------------------------------------- */

static void test_xorbs_files(void)
{
	cairn_chunk_row chunks[16], got[16];
	cairn_xorb_row x, xr;
	cairn_hash h, file, missing, found;
	cairn_term terms[3], *tl = NULL;
	uint64_t size = 0;
	uint32_t idx = 0;
	size_t n = 0;
	int count = 0, rc;
	cairn_meta *m;

	test_section("xorbs and the chunk index");
	m = open_db("xorbs.db");
	make_xorb(&x, chunks, 1, 5, 1000);
	CHECK(m->xorb_put(m, &x, chunks, 5) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->xorb_put(m, &x, chunks, 4) == CAIRN_EINVALID); /* count differs */
	chunks[2].offset++;
	CHECK(m->xorb_put(m, &x, chunks, 5) == CAIRN_EINVALID); /* a gap */
	chunks[2].offset--;
	x.raw++;
	CHECK(m->xorb_put(m, &x, chunks, 5) == CAIRN_EINVALID); /* raw bytes differ */
	x.raw--;
	x.stored = 10;
	CHECK(m->xorb_put(m, &x, chunks, 5) == CAIRN_EINVALID); /* chunks past the end */
	make_xorb(&x, chunks, 1, 5, 1000);
	CHECK(m->xorb_get(m, &x.hash, &xr) == CAIRN_ENOTFOUND); /* nothing was written */
	rc = m->xorb_put(m, &x, chunks, 5);
	CHECKF(rc == 0, "%s", cairn_error_last());
	CHECK(put_xorb(m, 2, 3, 1000, NULL) == 0);
	CHECK(put_xorb(m, 3, 0, 1000, NULL) == 0); /* an empty xorb is a xorb */
	CHECK(m->commit(m) == 0);

	CHECK(m->xorb_get(m, &x.hash, &xr) == 0);
	CHECK_MEM(&xr.hash, &x.hash, sizeof(x.hash));
	CHECK(xr.stored == x.stored && xr.raw == x.raw && xr.chunks == 5);
	CHECK(xr.created_ns == 1000 && xr.used_ns == 1000);
	hash_of(&missing, 424242);
	CHECK(m->xorb_get(m, &missing, &xr) == CAIRN_ENOTFOUND);

	CHECK(m->xorb_chunks(m, &x.hash, 0, 5, got, NULL) == 0);
	for (int i = 0; i < 5; i++) {
		CHECK_MEM(&got[i].hash, &chunks[i].hash, sizeof(cairn_hash));
		CHECK(got[i].offset == chunks[i].offset);
		CHECK(got[i].packed_len == chunks[i].packed_len);
		CHECK(got[i].raw_len == chunks[i].raw_len);
	}
	memset(got, 0, sizeof(got));
	CHECK(m->xorb_chunks(m, &x.hash, 2, 4, got, NULL) == 0);
	CHECK_MEM(&got[0].hash, &chunks[2].hash, sizeof(cairn_hash));
	CHECK_MEM(&got[1].hash, &chunks[3].hash, sizeof(cairn_hash));
	CHECK(m->xorb_chunks(m, &x.hash, 3, 3, got, NULL) == 0);
	CHECK(m->xorb_chunks(m, &x.hash, 4, 6, got, NULL) == CAIRN_ENOTFOUND);
	CHECK(m->xorb_chunks(m, &x.hash, 4, 2, got, NULL) == CAIRN_EINVALID);
	CHECK(m->xorb_chunks(m, &missing, 0, 1, got, NULL) == CAIRN_ENOTFOUND);

	CHECK(m->chunk_lookup(m, &chunks[3].hash, &found, &idx) == 0);
	CHECK_MEM(&found, &x.hash, sizeof(found));
	CHECK(idx == 3);
	CHECK(m->chunk_lookup(m, &missing, &found, &idx) == CAIRN_ENOTFOUND);

	/* touch moves used_ns forward only; re-putting a xorb counts as a use */
	CHECK(m->xorb_touch(m, &x.hash, 5000) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->xorb_touch(m, &x.hash, 5000) == 0);
	CHECK(m->xorb_touch(m, &x.hash, 4000) == 0);
	CHECK(m->xorb_touch(m, &missing, 5000) == CAIRN_ENOTFOUND);
	make_xorb(&xr, got, 2, 3, 7000);
	CHECK(m->xorb_put(m, &xr, got, 3) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->xorb_get(m, &x.hash, &xr) == 0 && xr.used_ns == 5000 && xr.created_ns == 1000);
	hash_of(&h, 2);
	CHECK(m->xorb_get(m, &h, &xr) == 0 && xr.used_ns == 7000 && xr.created_ns == 1000);
	count = 0;
	CHECK(m->xorb_list(m, count_xorb, &count) == 0 && count == 3);

	test_section("files");
	hash_of(&file, 77);
	terms[0] = (cairn_term){.first = 0, .end = 2, .raw_len = 201};
	hash_of(&terms[0].xorb, 1);
	terms[1] = (cairn_term){.first = 0, .end = 3, .raw_len = 303};
	hash_of(&terms[1].xorb, 2);
	terms[2] = (cairn_term){.first = 2, .end = 5, .raw_len = 309};
	hash_of(&terms[2].xorb, 1);
	CHECK(m->file_put(m, &file, 813, terms, 3, 2000) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->file_put(m, &file, 812, terms, 3, 2000) == CAIRN_EINVALID); /* sizes differ */
	terms[1].end = 4; /* xorb 2 has 3 chunks */
	rc = m->file_put(m, &file, 813, terms, 3, 2000);
	CHECKF(rc == CAIRN_EINVALID, "%s", cairn_error_name(rc));
	terms[1].end = 3;
	terms[1].first = 3;
	CHECK(m->file_put(m, &file, 813, terms, 3, 2000) == CAIRN_EINVALID); /* no chunks */
	terms[1].first = 0;
	terms[2].xorb = missing;
	rc = m->file_put(m, &file, 813, terms, 3, 2000);
	CHECKF(rc == CAIRN_ENOTFOUND, "%s", cairn_error_name(rc));
	/* the failed calls left nothing behind, not even the first terms */
	CHECK(m->file_get(m, &file, &size, &tl, &n) == CAIRN_ENOTFOUND);
	hash_of(&terms[2].xorb, 1);
	rc = m->file_put(m, &file, 813, terms, 3, 2000);
	CHECKF(rc == 0, "%s", cairn_error_last());
	/* recorded already: a second put changes nothing, even with other terms */
	CHECK(m->file_put(m, &file, 201, terms, 1, 3000) == 0);
	hash_of(&h, 78);
	CHECK(m->file_put(m, &h, 0, NULL, 0, 2000) == 0); /* the empty file */
	CHECK(m->commit(m) == 0);

	CHECK(m->file_get(m, &file, &size, &tl, &n) == 0);
	CHECK(size == 813 && n == 3);
	for (size_t i = 0; i < 3 && n == 3; i++) {
		CHECK_MEM(&tl[i].xorb, &terms[i].xorb, sizeof(cairn_hash));
		CHECK(tl[i].first == terms[i].first && tl[i].end == terms[i].end);
		CHECK(tl[i].raw_len == terms[i].raw_len);
	}
	free(tl);
	tl = NULL;
	size = 1;
	CHECK(m->file_get(m, &h, &size, &tl, &n) == 0);
	CHECK(size == 0 && n == 0);
	free(tl);
	CHECK(m->file_get(m, &missing, &size, &tl, &n) == CAIRN_ENOTFOUND);
	count = 0;
	CHECK(m->file_list(m, count_file, &count) == 0 && count == 2);

	/* a file cannot name a xorb that is not recorded, in any transaction */
	CHECK(m->begin(m, true) == 0);
	terms[0].xorb = missing;
	CHECK(m->file_put(m, &missing, 201, terms, 1, 1) == CAIRN_ENOTFOUND);
	m->rollback(m);
	m->close(m);
}

/* ---- objects ------------------------------------------------------------------- */

typedef struct inner_ctx {
	cairn_meta *m;
	int64_t bucket;
	int rows, nested_rc, get_rc;
} inner_ctx;

static int list_reenter(void *ctx, const cairn_object_row *row)
{
	inner_ctx *c = ctx;
	cairn_object_row got;

	c->rows++;
	c->nested_rc = c->m->object_list(c->m, c->bucket, NULL, 0, NULL, 0, 0, list_reenter, c);
	c->get_rc = c->m->object_get(c->m, c->bucket, row->key, row->key_len, &got);
	return 0;
}

static void test_objects(void)
{
	char key[CAIRN_KEY_MAX + 1], ctype[CAIRN_CTYPE_MAX + 2];
	cairn_object_row row, got;
	cairn_hash file, file2, missing;
	uint64_t objects = 0, bytes = 0;
	int64_t b = 0, b2 = 0;
	inner_ctx ic;
	cairn_meta *m;
	int rc;

	test_section("objects");
	m = open_db("objects.db");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "ns", "b", false, 1, &b) == 0);
	CHECK(m->bucket_create(m, "ns", "b2", false, 1, &b2) == 0);
	CHECK(put_xorb(m, 1, 4, 1, NULL) == 0);
	CHECK(put_file(m, 10, 1, 4, 1, &file) == 0);
	CHECK(put_file(m, 11, 1, 2, 1, &file2) == 0);
	hash_of(&missing, 999);

	row = object("a/b.txt", 7, &file, file_bytes(4));
	row.content_type = "text/plain";
	row.has_md5 = true;
	memset(row.md5, 0xAB, 16);
	rc = m->object_put(m, b, &row);
	CHECKF(rc == 0, "%s", cairn_error_last());
	row.content_type = NULL;
	row.has_md5 = false;
	CHECK(m->object_put(m, b2, &row) == 0);

	/* refusals */
	row = object("x", 1, &missing, 1);
	CHECK(m->object_put(m, b, &row) == CAIRN_ENOTFOUND); /* file not recorded */
	row = object("x", 1, &file, file_bytes(4) + 1);
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID); /* size is not the file's */
	row = object("x", 1, &file, file_bytes(4));
	rc = m->object_put(m, 4242, &row);
	CHECKF(rc == CAIRN_ENOTFOUND, "%s", cairn_error_name(rc)); /* no such bucket */
	row = object("", 0, &file, file_bytes(4));
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID);
	row = object("a\0b", 3, &file, file_bytes(4));
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID);
	memset(key, 'k', sizeof(key));
	row = object(key, CAIRN_KEY_MAX + 1, &file, file_bytes(4));
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID);
	memset(ctype, 't', sizeof(ctype));
	ctype[CAIRN_CTYPE_MAX + 1] = '\0';
	row = object("x", 1, &file, file_bytes(4));
	row.content_type = ctype;
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID);
	ctype[CAIRN_CTYPE_MAX] = '\0';
	CHECK(m->object_put(m, b, &row) == 0); /* the longest content type */

	/* the longest key, all 0xFF */
	memset(key, 0xFF, sizeof(key));
	row = object(key, CAIRN_KEY_MAX, &file2, file_bytes(2));
	row.mtime_ns = -5; /* before the epoch */
	CHECK(m->object_put(m, b, &row) == 0);
	CHECK(m->commit(m) == 0);

	/* get: every field back; strings owned by the handle */
	CHECK(m->object_get(m, b, "a/b.txt", 7, &got) == 0);
	CHECK(got.key_len == 7 && memcmp(got.key, "a/b.txt", 7) == 0);
	CHECK_MEM(&got.file, &file, sizeof(file));
	CHECK(got.size == file_bytes(4) && got.mtime_ns == 1234 && got.created_ns == 5678);
	CHECK(got.content_type && strcmp(got.content_type, "text/plain") == 0);
	CHECK(got.has_md5 && got.md5[0] == 0xAB && got.md5[15] == 0xAB);
	CHECK(m->object_get(m, b2, "a/b.txt", 7, &got) == 0);
	CHECK(got.content_type == NULL && !got.has_md5);
	CHECK(m->object_get(m, b, key, CAIRN_KEY_MAX, &got) == 0);
	CHECK(got.key_len == CAIRN_KEY_MAX && memcmp(got.key, key, CAIRN_KEY_MAX) == 0);
	CHECK(got.key != key); /* a copy the handle owns */
	CHECK(got.mtime_ns == -5);
	CHECK_MEM(&got.file, &file2, sizeof(file2));
	CHECK(m->object_get(m, b, "x", 1, &got) == 0);
	CHECK(got.content_type && strlen(got.content_type) == CAIRN_CTYPE_MAX);
	CHECK(m->object_get(m, b, "a/b.tx", 6, &got) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, b, "a/b.txt\xff", 8, &got) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, 4242, "a/b.txt", 7, &got) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, b, "", 0, &got) == CAIRN_EINVALID);

	CHECK(m->bucket_totals(m, b, &objects, &bytes) == 0);
	CHECK(objects == 3 && bytes == 2 * file_bytes(4) + file_bytes(2));

	/* replace */
	CHECK(m->begin(m, true) == 0);
	row = object("a/b.txt", 7, &file2, file_bytes(2));
	row.created_ns = 9999;
	CHECK(m->object_put(m, b, &row) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->object_get(m, b, "a/b.txt", 7, &got) == 0);
	CHECK_MEM(&got.file, &file2, sizeof(file2));
	CHECK(got.created_ns == 9999 && got.content_type == NULL && !got.has_md5);
	CHECK(m->bucket_totals(m, b, &objects, &bytes) == 0);
	CHECK(objects == 3 && bytes == file_bytes(4) + 2 * file_bytes(2));

	/* a callback may read through the handle, not re-enter its own listing */
	memset(&ic, 0, sizeof(ic));
	ic.m = m;
	ic.bucket = b;
	CHECK(m->object_list(m, b, NULL, 0, NULL, 0, 0, list_reenter, &ic) == 0);
	CHECK(ic.rows == 3 && ic.nested_rc == CAIRN_EINVALID && ic.get_rc == 0);

	/* delete */
	CHECK(m->object_delete(m, b, "x", 1) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->object_delete(m, b, "x", 1) == 0);
	CHECK(m->object_delete(m, b, "x", 1) == CAIRN_ENOTFOUND);
	CHECK(m->object_delete(m, b, "a\0", 2) == CAIRN_EINVALID);
	CHECK(m->commit(m) == 0);
	CHECK(m->object_get(m, b, "x", 1, &got) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, b2, "a/b.txt", 7, &got) == 0); /* the other bucket's copy */

	/* deleting a bucket deletes its objects, and only its */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_delete(m, b) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->object_get(m, b, "a/b.txt", 7, &got) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, b, key, CAIRN_KEY_MAX, &got) == CAIRN_ENOTFOUND);
	CHECK(m->bucket_totals(m, b, &objects, &bytes) == CAIRN_ENOTFOUND);
	CHECK(m->object_get(m, b2, "a/b.txt", 7, &got) == 0);
	m->close(m);
}

/* ---- object_list against a model --------------------------------------------------- */

typedef struct key {
	uint8_t b[CAIRN_KEY_MAX];
	size_t len;
} key;

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;

	return c ? c : (al > bl) - (al < bl);
}

static int key_qsort(const void *a, const void *b)
{
	const key *x = a, *y = b;

	return key_cmp(x->b, x->len, y->b, y->len);
}

typedef struct listed {
	key *keys;
	size_t n, cap;
	bool content_ok;
} listed;

static int on_object(void *ctx, const cairn_object_row *row)
{
	listed *l = ctx;

	if (l->n < l->cap) {
		memcpy(l->keys[l->n].b, row->key, row->key_len);
		l->keys[l->n].len = row->key_len;
	}
	l->n++;
	/* each object's content type is its key's length, to check rows match keys */
	if (!row->content_type || (size_t)atoi(row->content_type) != row->key_len)
		l->content_ok = false;
	return 0;
}

static void random_key(uint64_t *s, key *k, size_t max_len)
{
	/* bytes that sit at the edges of every ordering question */
	static const uint8_t alphabet[] = {0x01, 0x1F, '/', 'a', 'b', 0x7F, 0x80, 0xFE, 0xFF};

	k->len = 1 + splitmix64_next(s) % max_len;
	for (size_t i = 0; i < k->len; i++)
		k->b[i] = alphabet[splitmix64_next(s) % sizeof(alphabet)];
}

typedef struct terms_seen {
	size_t n;
	bool all_ok;
	cairn_hash want;
} terms_seen;

static int on_term(void *ctx, const cairn_hash *xorb, uint32_t first, uint32_t end)
{
	terms_seen *t = ctx;

	t->n++;
	if (!cairn_hash_equal(xorb, &t->want) || first != 0 || end != 1)
		t->all_ok = false;
	return 0;
}

static void test_object_list(void)
{
	enum { NKEYS = 260, NPREFIX = 48, NAFTER = 24 };
	static const size_t limits[] = {0, 1, 3, 1000};
	key *keys = test_xmalloc(sizeof(key) * (NKEYS + 8));
	key *prefixes = test_xmalloc(sizeof(key) * NPREFIX);
	key *afters = test_xmalloc(sizeof(key) * NAFTER);
	listed got = {test_xmalloc(sizeof(key) * (NKEYS + 8)), 0, NKEYS + 8, true};
	size_t n = 0, calls = 0, mismatches = 0;
	uint64_t s = 2024;
	cairn_hash file;
	int64_t bucket = 0, other = 0;
	cairn_meta *m;

	test_section("object_list: memcmp order, prefixes, start keys, limits");
	m = open_db("list.db");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "ns", "list", false, 1, &bucket) == 0);
	CHECK(m->bucket_create(m, "ns", "other", false, 1, &other) == 0);
	CHECK(put_xorb(m, 1, 1, 1, NULL) == 0);
	CHECK(put_file(m, 2, 1, 1, 1, &file) == 0);

	/* keys: random ones over edge bytes, and the extremes of length */
	for (int i = 0; i < NKEYS - 4; i++)
		random_key(&s, &keys[n++], 5);
	memset(keys[n].b, 0xFF, CAIRN_KEY_MAX);
	keys[n++].len = CAIRN_KEY_MAX;
	memset(keys[n].b, 0xFF, CAIRN_KEY_MAX);
	keys[n].b[CAIRN_KEY_MAX - 1] = 0xFE;
	keys[n++].len = CAIRN_KEY_MAX;
	memset(keys[n].b, 0x01, CAIRN_KEY_MAX);
	keys[n++].len = CAIRN_KEY_MAX;
	memset(keys[n].b, 'a', CAIRN_KEY_MAX);
	keys[n++].len = CAIRN_KEY_MAX;
	qsort(keys, n, sizeof(key), key_qsort);
	{
		size_t u = 0;

		for (size_t i = 0; i < n; i++)
			if (u == 0 || key_qsort(&keys[u - 1], &keys[i]) != 0)
				keys[u++] = keys[i];
		n = u;
	}
	for (size_t i = 0; i < n; i++) {
		char ct[16];
		cairn_object_row row = object((const char *)keys[i].b, keys[i].len, &file,
					      file_bytes(1));

		snprintf(ct, sizeof(ct), "%zu", keys[i].len);
		row.content_type = ct;
		if (!CHECKF(m->object_put(m, bucket, &row) == 0, "%s", cairn_error_last()))
			break;
	}
	/* another bucket's keys never show */
	{
		cairn_object_row row = object("a", 1, &file, file_bytes(1));

		row.content_type = "1";
		CHECK(m->object_put(m, other, &row) == 0);
	}
	CHECK(m->commit(m) == 0);

	/* prefixes: none, pieces of real keys, runs of 0xFF, random */
	prefixes[0].len = 0;
	prefixes[1].len = 1, prefixes[1].b[0] = 0xFF;
	prefixes[2].len = 2, prefixes[2].b[0] = 0xFF, prefixes[2].b[1] = 0xFF;
	prefixes[3].len = 2, prefixes[3].b[0] = 'a', prefixes[3].b[1] = 0xFF;
	memset(prefixes[4].b, 0xFF, CAIRN_KEY_MAX);
	prefixes[4].len = CAIRN_KEY_MAX;
	prefixes[5].len = 1, prefixes[5].b[0] = 0x01;
	for (int i = 6; i < NPREFIX; i++) {
		if (i % 3 == 0) {
			random_key(&s, &prefixes[i], 3);
		} else {
			const key *k = &keys[splitmix64_next(&s) % n];

			prefixes[i] = *k;
			prefixes[i].len = 1 + splitmix64_next(&s) % (k->len < 4 ? k->len : 4);
		}
	}
	afters[0].len = 0;
	for (int i = 1; i < NAFTER; i++) {
		if (i % 2)
			afters[i] = keys[splitmix64_next(&s) % n];
		else
			random_key(&s, &afters[i], 4);
	}

	for (int p = 0; p < NPREFIX; p++) {
		for (int a = -1; a < NAFTER; a++) {
			for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
				const key *pk = &prefixes[p], *ak = a >= 0 ? &afters[a] : NULL;
				size_t want = 0, w = 0;
				bool same = true;
				int rc;

				got.n = 0;
				rc = m->object_list(m, bucket, (const char *)pk->b, pk->len,
						    ak ? (const char *)ak->b : NULL,
						    ak ? ak->len : 0, limits[l], on_object, &got);
				calls++;
				for (size_t i = 0; i < n; i++) {
					const key *k = &keys[i];

					if (k->len < pk->len || memcmp(k->b, pk->b, pk->len) != 0)
						continue;
					if (ak && key_cmp(k->b, k->len, ak->b, ak->len) <= 0)
						continue;
					if (limits[l] && want == limits[l])
						break;
					if (w >= got.n || key_qsort(&got.keys[w], k) != 0)
						same = false;
					w++;
					want++;
				}
				if (rc != 0 || !same || got.n != want) {
					if (mismatches++ < 5)
						CHECKF(0, "prefix %d after %d limit %zu: rc %d, %zu "
						       "rows, want %zu", p, a, limits[l], rc, got.n,
						       want);
				}
			}
		}
	}
	CHECKF(mismatches == 0, "%zu of %zu listings differ from the model", mismatches, calls);
	CHECK(got.content_ok);

	/* prefix_totals: the same prefixes, counted against the model */
	mismatches = 0;
	for (int p = 0; p < NPREFIX; p++) {
		const key *pk = &prefixes[p];
		uint64_t objects = 99, bytes = 99, want = 0;

		for (size_t i = 0; i < n; i++)
			if (keys[i].len >= pk->len && memcmp(keys[i].b, pk->b, pk->len) == 0)
				want++;
		if (m->prefix_totals(m, bucket, (const char *)pk->b, pk->len, &objects, &bytes) !=
			    0 ||
		    objects != want || bytes != want * file_bytes(1))
			if (mismatches++ < 5)
				CHECKF(0, "prefix %d: %llu objects, want %llu", p,
				       (unsigned long long)objects, (unsigned long long)want);
	}
	CHECKF(mismatches == 0, "%zu prefix totals differ from the model", mismatches);
	/* bucket_terms: one term per object here (all name the same one-chunk file) */
	{
		terms_seen ts = {0, true, {{0}}};

		hash_of(&ts.want, 1);
		CHECK(m->bucket_terms(m, bucket, on_term, &ts) == 0);
		CHECKF(ts.n == n, "%zu terms for %zu objects", ts.n, n);
		CHECK(ts.all_ok);
		ts.n = 0;
		CHECK(m->bucket_terms(m, other, on_term, &ts) == 0 && ts.n == 1);
	}
	{
		uint64_t objects = 0, bytes = 0;
		char big[CAIRN_KEY_MAX + 1];

		CHECK(m->prefix_totals(m, other, "a", 1, &objects, &bytes) == 0 && objects == 1);
		CHECK(m->prefix_totals(m, other, "b", 1, &objects, &bytes) == 0 && objects == 0 &&
		      bytes == 0);
		memset(big, 'a', sizeof(big));
		CHECK(m->prefix_totals(m, bucket, big, sizeof(big), &objects, &bytes) ==
		      CAIRN_EINVALID);
	}

	/* everything, in order */
	got.n = 0;
	CHECK(m->object_list(m, bucket, NULL, 0, NULL, 0, 0, on_object, &got) == 0);
	CHECK(got.n == n);
	for (size_t i = 0; i < n && i < got.n; i++)
		if (!CHECK(key_qsort(&got.keys[i], &keys[i]) == 0))
			break;
	/* bounds too long to be keys */
	{
		char big[CAIRN_KEY_MAX + 1];

		memset(big, 'a', sizeof(big));
		CHECK(m->object_list(m, bucket, big, sizeof(big), NULL, 0, 0, on_object, &got) ==
		      CAIRN_EINVALID);
		CHECK(m->object_list(m, bucket, NULL, 0, big, sizeof(big), 0, on_object, &got) ==
		      CAIRN_EINVALID);
	}
	m->close(m);
	free(keys);
	free(prefixes);
	free(afters);
	free(got.keys);
}

/* ---- garbage collection ------------------------------------------------------------ */

typedef struct gc_seen {
	cairn_hash xorbs[16];
	int n;
	int fail_with;
} gc_seen;

static int on_gc(void *ctx, const cairn_xorb_row *row)
{
	gc_seen *g = ctx;

	if (g->fail_with)
		return g->fail_with;
	if (g->n < 16)
		g->xorbs[g->n] = row->hash;
	g->n++;
	return 0;
}

static bool saw(const gc_seen *g, uint64_t seed)
{
	cairn_hash h;

	hash_of(&h, seed);
	for (int i = 0; i < g->n && i < 16; i++)
		if (memcmp(&g->xorbs[i], &h, sizeof(h)) == 0)
			return true;
	return false;
}

static bool has_xorb(cairn_meta *m, uint64_t seed)
{
	cairn_xorb_row row;
	cairn_hash h;

	hash_of(&h, seed);
	return m->xorb_get(m, &h, &row) == 0;
}

static bool has_file(cairn_meta *m, uint64_t seed)
{
	cairn_term *t = NULL;
	cairn_hash h;
	uint64_t size;
	size_t n;
	bool ok;

	hash_of(&h, seed);
	ok = m->file_get(m, &h, &size, &t, &n) == 0;
	free(t);
	return ok;
}

/* One collector at a time: a second handle on the same metadata waits its turn. */
static int take_name(void *ctx, const cairn_hash *name)
{
	cairn_hash *got = ctx;

	*got = *name;
	return 0;
}

static void test_repack(void)
{
	cairn_chunk_row chunks[5], moved[5], got[5];
	cairn_xorb_row x, xr;
	cairn_hash form, other, seen, name;
	int64_t when = 0;
	cairn_meta *m;

	test_section("recompression: a xorb's stored form moves, the old name retires");
	m = open_db("repack.db");
	make_xorb(&x, chunks, 7, 5, 1000);
	CHECK(m->begin(m, true) == 0);
	CHECK(m->xorb_put(m, &x, chunks, 5) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->xorb_get(m, &x.hash, &xr) == 0);
	CHECK(xr.gen == 0 && cairn_hash_equal(&xr.name, &x.hash));
	CHECK(m->name_state(m, &x.hash, NULL) == 0);

	/* the new form: the same chunks, smaller, elsewhere */
	hash_of(&form, 777);
	memcpy(moved, chunks, sizeof(moved));
	for (int i = 0, at = 0; i < 5; i++) {
		moved[i].offset = (uint64_t)at;
		moved[i].packed_len = 20 + (uint32_t)i;
		at += (int)moved[i].packed_len;
	}
	CHECK(m->xorb_repack(m, &x.hash, 0, 1, &form, 300, moved, 5, 2000) == CAIRN_EINVALID);
	CHECK(m->begin(m, true) == 0);
	CHECK(m->xorb_repack(m, &x.hash, 1, 2, &form, 300, moved, 5, 2000) == CAIRN_ENOTFOUND);
	moved[3].hash.bytes[0] ^= 1; /* not the chunk recorded: refused, nothing changed */
	CHECK(m->xorb_repack(m, &x.hash, 0, 1, &form, 300, moved, 5, 2000) == CAIRN_EINVALID);
	moved[3].hash.bytes[0] ^= 1;
	moved[2].raw_len++;
	CHECK(m->xorb_repack(m, &x.hash, 0, 1, &form, 300, moved, 5, 2000) == CAIRN_EINVALID);
	moved[2].raw_len--;
	CHECK(m->xorb_repack(m, &x.hash, 0, 1, &form, 300, moved, 5, 2000) == 0);
	CHECK(m->commit(m) == 0);

	CHECK(m->xorb_get(m, &x.hash, &xr) == 0);
	CHECK(xr.gen == 1 && cairn_hash_equal(&xr.name, &form) && xr.stored == 300);
	CHECK(xr.raw == x.raw && xr.chunks == 5);
	CHECK(m->xorb_chunks(m, &x.hash, 0, 5, got, &name) == 0);
	CHECK(cairn_hash_equal(&name, &form));
	for (int i = 0; i < 5; i++)
		CHECK(got[i].offset == moved[i].offset && got[i].packed_len == moved[i].packed_len &&
		      got[i].raw_len == chunks[i].raw_len &&
		      cairn_hash_equal(&got[i].hash, &chunks[i].hash));
	CHECK(m->name_state(m, &form, NULL) == 0);
	CHECK(m->name_state(m, &x.hash, &when) == 1 && when == 2000);
	hash_of(&other, 778);
	CHECK(m->name_state(m, &other, NULL) == CAIRN_ENOTFOUND);

	/* kept as it is: the same name, a new generation, nothing retired */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->xorb_repack(m, &x.hash, 1, 2, &form, 300, moved, 5, 3000) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->xorb_get(m, &x.hash, &xr) == 0 && xr.gen == 2);
	CHECK(m->name_state(m, &form, NULL) == 0);

	/* retired names go once their time has passed, and only then */
	memset(&seen, 0, sizeof(seen));
	CHECK(m->retired_take(m, 2000, take_name, &seen) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->retired_take(m, 2000, take_name, &seen) == 0);
	CHECK(cairn_hash_is_zero(&seen));
	CHECK(m->retired_take(m, 2001, take_name, &seen) == 0);
	CHECK(cairn_hash_equal(&seen, &x.hash));
	CHECK(m->commit(m) == 0);
	CHECK(m->name_state(m, &x.hash, NULL) == CAIRN_ENOTFOUND);
	m->close(m);
}

static void test_gc_lock(void)
{
	cairn_meta *a = open_db("gclock.db"), *b = open_db("gclock.db");

	test_section("the collector's lock");
	CHECK(a->gc_lock(a, true) == 0);
	CHECK(a->gc_lock(a, true) == 0); /* its own: fine */
	CHECK(b->gc_lock(b, true) == CAIRN_EEXISTS);
	CHECK(strstr(cairn_error_last(), "another GC") != NULL);
	CHECK(a->gc_lock(a, false) == 0);
	CHECK(b->gc_lock(b, true) == 0);
	CHECK(a->gc_lock(a, true) == CAIRN_EEXISTS);
	b->close(b); /* closing releases it */
	CHECK(a->gc_lock(a, true) == 0);
	CHECK(a->gc_lock(a, false) == 0);
	a->close(a);
}

static void test_gc(void)
{
	cairn_chunk_row chunks[4];
	cairn_xorb_row x;
	cairn_object_row row;
	cairn_hash f1, xh;
	uint64_t files = 99;
	int64_t b = 0;
	gc_seen g;
	cairn_meta *m;
	uint32_t idx;

	test_section("garbage collection");
	m = open_db("gc.db");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "ns", "gc", false, 1, &b) == 0);
	CHECK(put_xorb(m, 101, 2, 100, NULL) == 0); /* used by f1, which an object names */
	CHECK(put_xorb(m, 102, 2, 100, NULL) == 0); /* used by f2 only: no object */
	CHECK(put_xorb(m, 103, 2, 100, NULL) == 0); /* unused, but promised recently */
	CHECK(put_xorb(m, 104, 2, 500, NULL) == 0); /* unused, but new */
	CHECK(put_xorb(m, 105, 2, 100, NULL) == 0); /* used by f3, new and unnamed */
	CHECK(put_xorb(m, 106, 2, 100, NULL) == 0); /* unused and old */
	CHECK(put_xorb(m, 107, 2, 300, NULL) == 0); /* created exactly at the cutoff */
	CHECK(m->xorb_touch(m, &(cairn_hash){{0}}, 1) == CAIRN_ENOTFOUND);
	hash_of(&xh, 103);
	CHECK(m->xorb_touch(m, &xh, 400) == 0);
	CHECK(put_file(m, 201, 101, 2, 100, &f1) == 0);
	CHECK(put_file(m, 202, 102, 2, 100, NULL) == 0);
	CHECK(put_file(m, 203, 105, 2, 500, NULL) == 0);
	row = object("kept", 4, &f1, file_bytes(2));
	CHECK(m->object_put(m, b, &row) == 0);
	CHECK(m->commit(m) == 0);

	memset(&g, 0, sizeof(g));
	CHECK(m->gc(m, 300, on_gc, &g, &files) == CAIRN_EINVALID); /* no transaction */

	/* a callback's refusal undoes the whole pass */
	memset(&g, 0, sizeof(g));
	g.fail_with = 42;
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 300, on_gc, &g, &files) == 42);
	CHECK(files == 99);
	CHECK(m->commit(m) == 0);
	CHECK(has_file(m, 202) && has_xorb(m, 102) && has_xorb(m, 106));

	memset(&g, 0, sizeof(g));
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 300, on_gc, &g, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 1);
	CHECK(g.n == 2 && saw(&g, 102) && saw(&g, 106));
	CHECK(has_file(m, 201) && !has_file(m, 202) && has_file(m, 203));
	CHECK(has_xorb(m, 101) && !has_xorb(m, 102) && has_xorb(m, 103) && has_xorb(m, 104));
	CHECK(has_xorb(m, 105) && !has_xorb(m, 106) && has_xorb(m, 107));
	/* the chunk index forgot the deleted xorbs' chunks */
	make_xorb(&x, chunks, 102, 2, 0);
	CHECK(m->chunk_lookup(m, &chunks[1].hash, &xh, &idx) == CAIRN_ENOTFOUND);
	make_xorb(&x, chunks, 101, 2, 0);
	CHECK(m->chunk_lookup(m, &chunks[1].hash, &xh, &idx) == 0 && idx == 1);

	/* nothing more to do at the same cutoff */
	memset(&g, 0, sizeof(g));
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 300, NULL, NULL, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 0);

	/* the object goes: its file and xorb follow; later cutoffs take the rest */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->object_delete(m, b, "kept", 4) == 0);
	CHECK(m->gc(m, 300, on_gc, &g, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 1 && g.n == 1 && saw(&g, 101));
	CHECK(!has_file(m, 201) && !has_xorb(m, 101));
	memset(&g, 0, sizeof(g));
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 501, on_gc, &g, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 1 && g.n == 4);
	CHECK(saw(&g, 103) && saw(&g, 104) && saw(&g, 105) && saw(&g, 107));
	m->close(m);
}

/* ---- S3: object metadata, access keys, multipart uploads (migration 4) -------------- */

static void test_object_s3(void)
{
	char *text = test_xmalloc(CAIRN_USER_META_TEXT_MAX + 2);
	cairn_object_row row, got;
	cairn_hash file;
	int64_t b = 0;
	cairn_meta *m;

	test_section("objects: part counts and user metadata");
	m = open_db("objects_s3.db");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "ns", "b", false, 1, &b) == 0);
	CHECK(put_xorb(m, 1, 4, 1, NULL) == 0);
	CHECK(put_file(m, 10, 1, 4, 1, &file) == 0);
	row = object("mp", 2, &file, file_bytes(4));
	row.parts = 10000;
	row.user_meta = "{\"a\":\"b\"}";
	CHECK(m->object_put(m, b, &row) == 0);
	row = object("plain", 5, &file, file_bytes(4));
	CHECK(m->object_put(m, b, &row) == 0);
	/* the longest text, and one byte more */
	memset(text, ' ', CAIRN_USER_META_TEXT_MAX + 1);
	text[0] = '{';
	text[CAIRN_USER_META_TEXT_MAX - 1] = '}';
	text[CAIRN_USER_META_TEXT_MAX] = '\0';
	row = object("long", 4, &file, file_bytes(4));
	row.user_meta = text;
	CHECK(m->object_put(m, b, &row) == 0);
	text[CAIRN_USER_META_TEXT_MAX] = ' ';
	text[CAIRN_USER_META_TEXT_MAX + 1] = '\0';
	CHECK(m->object_put(m, b, &row) == CAIRN_EINVALID);
	CHECK(m->commit(m) == 0);

	CHECK(m->object_get(m, b, "mp", 2, &got) == 0);
	CHECK(got.parts == 10000 && got.user_meta && strcmp(got.user_meta, "{\"a\":\"b\"}") == 0);
	CHECK(m->object_get(m, b, "plain", 5, &got) == 0);
	CHECK(got.parts == 0 && got.user_meta == NULL);
	CHECK(m->object_get(m, b, "long", 4, &got) == 0);
	CHECK(got.user_meta && strlen(got.user_meta) == CAIRN_USER_META_TEXT_MAX);
	/* a replace replaces them too */
	CHECK(m->begin(m, true) == 0);
	row = object("mp", 2, &file, file_bytes(4));
	CHECK(m->object_put(m, b, &row) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->object_get(m, b, "mp", 2, &got) == 0 && got.parts == 0 && got.user_meta == NULL);
	m->close(m);
	free(text);
}

/* An existing version-3 database gets migration 4: its objects are single PUTs with no metadata. */
static void test_migration_4(void)
{
	char path[512], sql[160];
	cairn_object_row got;
	cairn_bucket_row br;
	cairn_meta *m = NULL;
	sqlite3 *db = NULL;

	test_section("migration 4 over a version 3 database");
	db_path(path, sizeof(path), "v3.db");
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	for (unsigned i = 0; i < 3; i++)
		CHECK(sqlite3_exec(db, cairn__meta_sqlite_migrations[i].sql, NULL, NULL, NULL) ==
		      SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = 3; PRAGMA application_id = %d",
		 CAIRN_META_SQLITE_APP_ID);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	CHECKF(sqlite3_exec(db,
			    "INSERT INTO buckets (ns, name, private, created_ns) VALUES ('ns', 'old', 0, 1);"
			    "INSERT INTO files (hash, size, created_ns) VALUES (zeroblob(32), 0, 1);"
			    "INSERT INTO objects (bucket_id, key, file_hash, size, mtime_ns, created_ns, "
			    "content_type, md5) VALUES (1, CAST('k' AS BLOB), zeroblob(32), 0, 2, 3, "
			    "'text/plain', NULL);",
			    NULL, NULL, NULL) == SQLITE_OK,
	       "%s", sqlite3_errmsg(db));
	sqlite3_close(db);

	CHECKF(cairn_meta_sqlite_open(&m, path) == 0, "%s", cairn_error_last());
	if (m == NULL)
		return;
	CHECK_EQ_U64(pragma_int(cairn__meta_sqlite_db(m), "PRAGMA user_version"),
		     cairn__meta_sqlite_schema_version);
	CHECK(m->bucket_get(m, "ns", "old", &br) == 0);
	CHECK(m->object_get(m, br.id, "k", 1, &got) == 0);
	CHECK(got.parts == 0 && got.user_meta == NULL && got.mtime_ns == 2);
	CHECK(got.content_type && strcmp(got.content_type, "text/plain") == 0);
	m->close(m);
}

static void test_s3keys(void)
{
	char user[CAIRN_NAME_MAX + 1], secret[CAIRN_S3_SECRET_MAX + 1], longkey[CAIRN_S3_KEY_MAX + 2];
	cairn_meta *m;

	test_section("S3 access keys");
	m = open_db("s3keys.db");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->user_create(m, "alice", 1, NULL) == 0);
	CHECK(m->user_create(m, "bob", 1, NULL) == 0);
	CHECK(m->s3key_create(m, "alice", "AKIAALICE0000001", "s3cr3t/+with=chars", 2) == 0);
	CHECK(m->s3key_create(m, "bob", "AKIAALICE0000001", "other", 2) == CAIRN_EEXISTS);
	CHECK(m->s3key_create(m, "carol", "AKIACAROL", "x", 2) == CAIRN_ENOTFOUND);
	CHECK(m->s3key_create(m, "bob", "bad/key", "x", 2) == CAIRN_EINVALID);
	CHECK(m->s3key_create(m, "bob", "", "x", 2) == CAIRN_EINVALID);
	CHECK(m->s3key_create(m, "bob", "AKIABOB", "", 2) == CAIRN_EINVALID);
	CHECK(m->s3key_create(m, "bob", "AKIABOB", "with space", 2) == CAIRN_EINVALID);
	CHECK(m->s3key_create(m, "bob", NULL, "x", 2) == CAIRN_EINVALID);
	memset(longkey, 'K', sizeof(longkey));
	longkey[CAIRN_S3_KEY_MAX + 1] = '\0';
	CHECK(m->s3key_create(m, "bob", longkey, "x", 2) == CAIRN_EINVALID);
	longkey[CAIRN_S3_KEY_MAX] = '\0';
	CHECK(m->s3key_create(m, "bob", longkey, "b0b.s_e-cret", 2) == 0); /* the longest */
	CHECK(m->commit(m) == 0);
	CHECK(m->s3key_create(m, "bob", "AKIABOB2", "x", 2) == CAIRN_EINVALID); /* no transaction */

	CHECK(m->s3key_lookup(m, "AKIAALICE0000001", user, secret, sizeof(secret)) == 0);
	CHECK_STR(user, "alice");
	CHECK_STR(secret, "s3cr3t/+with=chars");
	CHECK(m->s3key_lookup(m, longkey, user, secret, sizeof(secret)) == 0);
	CHECK_STR(user, "bob");
	CHECK_STR(secret, "b0b.s_e-cret");
	CHECK(m->s3key_lookup(m, "AKIAALICE0000001", user, secret, 5) == CAIRN_EINVALID);
	CHECK(m->s3key_lookup(m, "AKIANOBODY", user, secret, sizeof(secret)) == CAIRN_EAUTH);
	CHECK(m->s3key_lookup(m, "bad/key", user, secret, sizeof(secret)) == CAIRN_EAUTH);
	CHECK(m->s3key_lookup(m, "", user, secret, sizeof(secret)) == CAIRN_EAUTH);

	CHECK(m->s3key_revoke(m, "AKIAALICE0000001", 3) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->s3key_revoke(m, "AKIAALICE0000001", 3) == 0);
	CHECK(m->s3key_revoke(m, "AKIAALICE0000001", 4) == CAIRN_ENOTFOUND);
	CHECK(m->s3key_revoke(m, "AKIANOBODY", 4) == CAIRN_ENOTFOUND);
	/* a revoked key's id is never issued again */
	CHECK(m->s3key_create(m, "alice", "AKIAALICE0000001", "new", 5) == CAIRN_EEXISTS);
	CHECK(m->commit(m) == 0);
	CHECK(m->s3key_lookup(m, "AKIAALICE0000001", user, secret, sizeof(secret)) == CAIRN_EAUTH);
	CHECK(m->s3key_lookup(m, longkey, user, secret, sizeof(secret)) == 0);
	m->close(m);
}

static void test_sessions(void)
{
	char user[CAIRN_NAME_MAX + 1], scope[CAIRN_SCOPE_MAX + 1];
	uint8_t tok[32], tok2[32], s1[32], s2[32], s3[32], none[32];
	cairn_meta *m;

	test_section("web sessions");
	memset(tok, 1, 32);
	memset(tok2, 2, 32);
	memset(s1, 11, 32);
	memset(s2, 12, 32);
	memset(s3, 13, 32);
	memset(none, 99, 32);
	m = open_db("sessions.db");
	CHECK(m->session_create(m, s1, tok, 10, 100) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->user_create(m, "alice", 1, NULL) == 0);
	CHECK(m->token_create(m, "alice", "write", tok, 1) == 0);
	CHECK(m->token_create(m, "alice", "read", tok2, 1) == 0);
	CHECK(m->session_create(m, s1, tok, 10, 100) == 0);
	CHECK(m->session_create(m, s1, tok, 10, 100) == CAIRN_EEXISTS);
	CHECK(m->session_create(m, s2, tok2, 10, 1000) == 0);
	CHECK(m->session_create(m, s3, tok, 10, 50) == 0);
	CHECK(m->commit(m) == 0);

	CHECK(m->session_lookup(m, s1, 20, user, scope) == 0);
	CHECK_STR(user, "alice");
	CHECK_STR(scope, "write");
	CHECK(m->session_lookup(m, s2, 20, user, scope) == 0);
	CHECK_STR(scope, "read");
	CHECK(m->session_lookup(m, none, 20, user, scope) == CAIRN_EAUTH);
	/* expiry */
	CHECK(m->session_lookup(m, s3, 49, user, scope) == 0);
	CHECK(m->session_lookup(m, s3, 50, user, scope) == CAIRN_EAUTH);
	CHECK(m->session_lookup(m, s1, 100, user, scope) == CAIRN_EAUTH);
	/* a new session sweeps the expired ones */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->session_create(m, none, tok, 60, 70) == 0);
	CHECK(m->session_delete(m, s3) == CAIRN_ENOTFOUND); /* swept at 60 */
	CHECK(m->session_delete(m, none) == 0);
	CHECK(m->session_delete(m, none) == CAIRN_ENOTFOUND);
	CHECK(m->commit(m) == 0);
	CHECK(m->session_lookup(m, s1, 20, user, scope) == 0); /* 100 > 60: kept */
	/* logout ends one session, not the token or another session */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->session_delete(m, s1) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->session_lookup(m, s1, 20, user, scope) == CAIRN_EAUTH);
	CHECK(m->token_lookup(m, tok, user, scope) == 0);
	CHECK(m->session_lookup(m, s2, 20, user, scope) == 0);
	/* revoking the token ends its sessions */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->token_revoke(m, tok2, 30) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->session_lookup(m, s2, 31, user, scope) == CAIRN_EAUTH);
	CHECK(m->session_lookup(m, NULL, 31, user, scope) == CAIRN_EINVALID);
	m->close(m);
}

static int count_region(void *ctx, const char *name, const char *url, int64_t created_ns)
{
	char *out = ctx;

	(void)created_ns;
	snprintf(out + strlen(out), 256 - strlen(out), "%s=%s ", name, url);
	return 0;
}

static void test_regions(void)
{
	uint8_t secret[32], got[32];
	char url[CAIRN_REGION_URL_MAX + 1], seen[256] = "", longurl[CAIRN_REGION_URL_MAX + 16];
	cairn_meta *m;

	test_section("regions");
	memset(secret, 7, 32);
	m = open_db("regions.db");
	CHECK(m->region_create(m, "eu", "http://eu.example:8700", secret, 1) == CAIRN_EINVALID);
	CHECK(m->begin(m, true) == 0);
	CHECK(m->region_create(m, "eu", "http://eu.example:8700", secret, 1) == 0);
	CHECK(m->region_create(m, "eu", "http://other", secret, 1) == CAIRN_EEXISTS);
	CHECK(m->region_create(m, "us-east", "https://us.example", secret, 1) == 0);
	CHECK(m->region_create(m, "Bad", "http://x.example", secret, 1) == CAIRN_EINVALID);
	CHECK(m->region_create(m, "x", "ftp://x.example", secret, 1) == CAIRN_EINVALID);
	CHECK(m->region_create(m, "x", "http://", secret, 1) == CAIRN_EINVALID);
	CHECK(m->region_create(m, "x", "http://a b", secret, 1) == CAIRN_EINVALID);
	CHECK(m->region_create(m, "x", "http://a\"b", secret, 1) == CAIRN_EINVALID);
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "http://", 7);
	longurl[sizeof(longurl) - 1] = '\0';
	CHECK(m->region_create(m, "x", longurl, secret, 1) == CAIRN_EINVALID);
	CHECK(m->commit(m) == 0);
	CHECK(m->region_get(m, "eu", url, got) == 0);
	CHECK_STR(url, "http://eu.example:8700");
	CHECK(memcmp(got, secret, 32) == 0);
	CHECK(m->region_get(m, "nowhere", url, got) == CAIRN_ENOTFOUND);
	CHECK(m->region_list(m, count_region, seen) == 0);
	CHECK_STR(seen, "eu=http://eu.example:8700 us-east=https://us.example ");
	CHECK(m->begin(m, true) == 0);
	CHECK(m->region_delete(m, "eu") == 0);
	CHECK(m->region_delete(m, "eu") == CAIRN_ENOTFOUND);
	CHECK(m->commit(m) == 0);
	CHECK(m->region_get(m, "eu", url, NULL) == CAIRN_ENOTFOUND);
	m->close(m);
}

typedef struct part_seen {
	int n;
	unsigned numbers[8];
	cairn_hash files[8];
	uint64_t sizes[8];
	uint8_t md5_first[8];
} part_seen;

static int on_part(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
		   const uint8_t md5[16], int64_t created_ns)
{
	part_seen *p = ctx;

	(void)created_ns;
	if (p->n < 8) {
		p->numbers[p->n] = number;
		p->files[p->n] = *file;
		p->sizes[p->n] = size;
		p->md5_first[p->n] = md5[0];
	}
	p->n++;
	return 0;
}

typedef struct upload_seen {
	char out[512];
	size_t len;
} upload_seen;

static int on_mpu(void *ctx, const char *id, const char *k, size_t k_len, int64_t created_ns)
{
	upload_seen *u = ctx;

	(void)created_ns;
	u->len += (size_t)snprintf(u->out + u->len, sizeof(u->out) - u->len, "%.*s:%.4s ",
				   (int)k_len, k, id);
	return 0;
}

static void test_mpu(void)
{
	/* ids chosen so their order is known */
	static const char id1[] = "1111111111111111111111111111111a";
	static const char id2[] = "2222222222222222222222222222222b";
	static const char id3[] = "3333333333333333333333333333333c";
	static const char id4[] = "4444444444444444444444444444444d";
	static const char id5[] = "5555555555555555555555555555555e";
	const char *k, *ct, *um;
	uint8_t md5[16];
	cairn_hash f1, f2, f3, missing;
	uint64_t files = 99;
	size_t k_len;
	int64_t b = 0, b2 = 0;
	part_seen ps;
	upload_seen us;
	cairn_meta *m;

	test_section("multipart uploads");
	m = open_db("mpu.db");
	memset(md5, 0x5A, sizeof(md5));
	hash_of(&missing, 999);
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_create(m, "ns", "b", false, 1, &b) == 0);
	CHECK(m->bucket_create(m, "ns", "b2", false, 1, &b2) == 0);
	CHECK(put_xorb(m, 1, 4, 1, NULL) == 0);
	CHECK(put_file(m, 10, 1, 4, 1, &f1) == 0);
	CHECK(put_file(m, 11, 1, 2, 1, &f2) == 0);
	CHECK(put_file(m, 12, 1, 3, 1, &f3) == 0);

	CHECK(m->mpu_create(m, b, id1, "k", 1, "text/plain", "{\"a\":\"b\"}", 5) == 0);
	CHECK(m->mpu_create(m, b, id1, "k", 1, NULL, NULL, 5) == CAIRN_EEXISTS);
	CHECK(m->mpu_create(m, 4242, id5, "k", 1, NULL, NULL, 5) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_create(m, b, "123", "k", 1, NULL, NULL, 5) == CAIRN_EINVALID);
	CHECK(m->mpu_create(m, b, "1111111111111111111111111111111A", "k", 1, NULL, NULL, 5) ==
	      CAIRN_EINVALID);
	CHECK(m->mpu_create(m, b, id5, "", 0, NULL, NULL, 5) == CAIRN_EINVALID);
	CHECK(m->mpu_create(m, b, id2, "k", 1, NULL, NULL, 6) == 0); /* a second upload of k */
	CHECK(m->mpu_create(m, b, id3, "j", 1, NULL, NULL, 7) == 0);
	CHECK(m->mpu_create(m, b2, id4, "k", 1, NULL, NULL, 8) == 0);

	CHECK(m->mpu_part_put(m, id1, 1, &f1, file_bytes(4), md5, 9) == 0);
	CHECK(m->mpu_part_put(m, id1, 2, &f2, file_bytes(2), md5, 9) == 0);
	md5[0] = 0x01;
	CHECK(m->mpu_part_put(m, id1, 2, &f1, file_bytes(4), md5, 10) == 0); /* replaced */
	CHECK(m->mpu_part_put(m, id1, 10000, &f1, file_bytes(4), md5, 10) == 0);
	CHECK(m->mpu_part_put(m, id1, 0, &f1, file_bytes(4), md5, 10) == CAIRN_EINVALID);
	CHECK(m->mpu_part_put(m, id1, 10001, &f1, file_bytes(4), md5, 10) == CAIRN_EINVALID);
	CHECK(m->mpu_part_put(m, id1, 3, &missing, 1, md5, 10) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_part_put(m, id1, 3, &f1, 1, md5, 10) == CAIRN_EINVALID); /* not its size */
	CHECK(m->mpu_part_put(m, id5, 1, &f1, file_bytes(4), md5, 10) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_part_put(m, id3, 1, &f3, file_bytes(3), md5, 10) == 0);
	CHECK(m->mpu_part_put(m, id4, 1, &f3, file_bytes(3), md5, 10) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->mpu_part_put(m, id1, 4, &f1, file_bytes(4), md5, 10) == CAIRN_EINVALID);

	CHECK(m->mpu_get(m, b, id1, &k, &k_len, &ct, &um) == 0);
	CHECK(k_len == 1 && k[0] == 'k' && ct && strcmp(ct, "text/plain") == 0 && um &&
	      strcmp(um, "{\"a\":\"b\"}") == 0);
	CHECK(m->mpu_get(m, b, id2, &k, &k_len, &ct, &um) == 0 && ct == NULL && um == NULL);
	CHECK(m->mpu_get(m, b2, id1, &k, &k_len, &ct, &um) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_get(m, b, id5, &k, &k_len, &ct, &um) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_get(m, b, "nonsense", NULL, NULL, NULL, NULL) == CAIRN_ENOTFOUND);

	memset(&ps, 0, sizeof(ps));
	CHECK(m->mpu_parts(m, id1, 0, 0, on_part, &ps) == 0);
	CHECK(ps.n == 3 && ps.numbers[0] == 1 && ps.numbers[1] == 2 && ps.numbers[2] == 10000);
	CHECK(memcmp(&ps.files[1], &f1, sizeof(f1)) == 0 && ps.sizes[1] == file_bytes(4) &&
	      ps.md5_first[1] == 0x01 && ps.md5_first[0] == 0x5A);
	memset(&ps, 0, sizeof(ps));
	CHECK(m->mpu_parts(m, id1, 1, 1, on_part, &ps) == 0 && ps.n == 1 && ps.numbers[0] == 2);
	memset(&ps, 0, sizeof(ps));
	CHECK(m->mpu_parts(m, id1, 10000, 0, on_part, &ps) == 0 && ps.n == 0);
	CHECK(m->mpu_parts(m, id5, 0, 0, on_part, &ps) == 0 && ps.n == 0);

	/* listings: by (key, id), prefixes, markers, limits */
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, NULL, 0, NULL, 0, NULL, 0, on_mpu, &us) == 0);
	CHECK_STR(us.out, "j:3333 k:1111 k:2222 ");
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, "k", 1, NULL, 0, NULL, 0, on_mpu, &us) == 0);
	CHECK_STR(us.out, "k:1111 k:2222 ");
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, NULL, 0, "j", 1, NULL, 0, on_mpu, &us) == 0);
	CHECK_STR(us.out, "k:1111 k:2222 ");
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, NULL, 0, "k", 1, id1, 0, on_mpu, &us) == 0);
	CHECK_STR(us.out, "k:2222 ");
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, NULL, 0, "k", 1, NULL, 0, on_mpu, &us) == 0 && us.len == 0);
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b, NULL, 0, "", 0, NULL, 2, on_mpu, &us) == 0);
	CHECK_STR(us.out, "j:3333 k:1111 ");
	memset(&us, 0, sizeof(us));
	CHECK(m->mpu_list(m, b2, NULL, 0, NULL, 0, NULL, 0, on_mpu, &us) == 0);
	CHECK_STR(us.out, "k:4444 ");

	/* GC: files the parts name stay; the replaced part's file goes */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 100, NULL, NULL, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 1 && has_file(m, 10) && !has_file(m, 11) && has_file(m, 12));

	/* delete: the upload and its parts; then its file is garbage */
	CHECK(m->mpu_delete(m, id1) == CAIRN_EINVALID); /* no transaction */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->mpu_delete(m, id1) == 0);
	CHECK(m->mpu_delete(m, id1) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_delete(m, "zz") == CAIRN_ENOTFOUND);
	CHECK(m->gc(m, 100, NULL, NULL, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 1 && !has_file(m, 10) && has_file(m, 12));
	memset(&ps, 0, sizeof(ps));
	CHECK(m->mpu_parts(m, id1, 0, 0, on_part, &ps) == 0 && ps.n == 0);

	/* deleting a bucket takes its uploads and their parts, not another bucket's */
	CHECK(m->begin(m, true) == 0);
	CHECK(m->bucket_delete(m, b) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(m->mpu_get(m, b, id2, NULL, NULL, NULL, NULL) == CAIRN_ENOTFOUND);
	CHECK(m->mpu_get(m, b, id3, NULL, NULL, NULL, NULL) == CAIRN_ENOTFOUND);
	memset(&ps, 0, sizeof(ps));
	CHECK(m->mpu_parts(m, id3, 0, 0, on_part, &ps) == 0 && ps.n == 0);
	CHECK(m->mpu_get(m, b2, id4, NULL, NULL, NULL, NULL) == 0);
	CHECK(m->begin(m, true) == 0);
	CHECK(m->gc(m, 100, NULL, NULL, &files) == 0);
	CHECK(m->commit(m) == 0);
	CHECK(files == 0 && has_file(m, 12)); /* b2's upload still names it */
	m->close(m);
}

/* ---- transactions and handles ------------------------------------------------------- */

static void test_transactions(void)
{
	cairn_meta *a, *b;
	cairn_bucket_row row;
	cairn_object_row obj;
	cairn_xorb_row xr;
	cairn_hash file;
	bucket_seen seen;
	int64_t id = 0;
	size_t nterms;
	cairn_term *t;
	uint64_t size;
	int rc;

	test_section("transactions");
	a = open_db("tx.db");
	b = open_db("tx.db");

	/* a rollback leaves nothing */
	CHECK(a->begin(a, true) == 0);
	CHECK(a->bucket_create(a, "tx", "gone", false, 1, &id) == 0);
	CHECK(put_xorb(a, 1, 3, 1, &xr) == 0);
	CHECK(put_file(a, 2, 1, 3, 1, &file) == 0);
	obj = object("k", 1, &file, file_bytes(3));
	CHECK(a->object_put(a, id, &obj) == 0);
	CHECK(a->bucket_get(a, "tx", "gone", &row) == 0); /* its own writes are visible */
	a->rollback(a);
	CHECK(a->bucket_get(a, "tx", "gone", &row) == CAIRN_ENOTFOUND);
	CHECK(a->xorb_get(a, &xr.hash, &xr) == CAIRN_ENOTFOUND);
	CHECK(a->file_get(a, &file, &size, &t, &nterms) == CAIRN_ENOTFOUND);
	CHECK(a->object_get(a, id, "k", 1, &obj) == CAIRN_ENOTFOUND);

	/* another handle sees committed data only */
	CHECK(a->begin(a, true) == 0);
	CHECK(a->bucket_create(a, "tx", "one", false, 1, NULL) == 0);
	CHECK(b->bucket_get(b, "tx", "one", &row) == CAIRN_ENOTFOUND);
	/* one writer at a time: b waits for the lock, then gives up with CAIRN_EIO */
	sqlite3_busy_timeout(cairn__meta_sqlite_db(b), 50);
	rc = b->begin(b, true);
	CHECKF(rc == CAIRN_EIO, "%s", cairn_error_name(rc));
	CHECKF(strstr(cairn_error_last(), "locked") != NULL, "%s", cairn_error_last());
	CHECK(b->commit(b) == CAIRN_EINVALID); /* b's begin failed: nothing to commit */
	sqlite3_busy_timeout(cairn__meta_sqlite_db(b), CAIRN_META_SQLITE_BUSY_MS);
	CHECK(a->commit(a) == 0);
	CHECK(b->bucket_get(b, "tx", "one", &row) == 0);

	/* a read transaction is one snapshot */
	CHECK(b->begin(b, false) == 0);
	memset(&seen, 0, sizeof(seen));
	CHECK(b->bucket_list(b, "tx", on_bucket, &seen) == 0 && seen.n == 1);
	CHECK(a->begin(a, true) == 0);
	CHECK(a->bucket_create(a, "tx", "two", false, 1, NULL) == 0);
	CHECK(a->commit(a) == 0);
	CHECK(b->bucket_get(b, "tx", "two", &row) == CAIRN_ENOTFOUND);
	CHECK(b->commit(b) == 0);
	CHECK(b->bucket_get(b, "tx", "two", &row) == 0);

	/* a failed call inside a transaction changes nothing; the rest commits */
	CHECK(a->begin(a, true) == 0);
	CHECK(a->bucket_create(a, "tx", "three", false, 1, NULL) == 0);
	CHECK(a->bucket_create(a, "tx", "three", false, 1, NULL) == CAIRN_EEXISTS);
	CHECK(a->commit(a) == 0);
	CHECK(b->bucket_get(b, "tx", "three", &row) == 0);

	/* closing with a transaction open rolls it back */
	CHECK(a->begin(a, true) == 0);
	CHECK(a->bucket_create(a, "tx", "four", false, 1, NULL) == 0);
	a->close(a);
	CHECK(b->bucket_get(b, "tx", "four", &row) == CAIRN_ENOTFOUND);
	CHECK(b->begin(b, true) == 0); /* and released the lock */
	b->rollback(b);
	b->close(b);

	test_section("reopen");
	a = open_db("tx.db");
	CHECK(a->bucket_get(a, "tx", "one", &row) == 0);
	CHECK(a->bucket_get(a, "tx", "two", &row) == 0);
	a->close(a);
	a = open_db("objects.db"); /* written by test_objects */
	CHECK(a->bucket_get(a, "ns", "b2", &row) == 0);
	CHECK(a->object_get(a, row.id, "a/b.txt", 7, &obj) == 0);
	CHECK(a->file_get(a, &obj.file, &size, &t, &nterms) == 0 && nterms == 1);
	free(t);
	a->close(a);
}

/* ---- opening what is not ours ------------------------------------------------------- */

static void test_refusals(void)
{
	char path[512], wal[520], sql[80];
	uint8_t *before, *after;
	size_t len_before = 0, len_after = 0;
	cairn_meta *m = NULL;
	FILE *f;
	int rc;

	test_section("refusals at open");
	CHECK(cairn_meta_sqlite_open(NULL, "x") == CAIRN_EINVALID);
	CHECK(cairn_meta_sqlite_open(&m, NULL) == CAIRN_EINVALID);

	/* a newer schema than this build knows */
	m = open_db("newer.db");
	m->close(m);
	m = NULL;
	db_path(path, sizeof(path), "newer.db");
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", cairn__meta_sqlite_schema_version + 1);
	raw_exec(path, sql);
	rc = cairn_meta_sqlite_open(&m, path);
	CHECKF(rc == CAIRN_ECORRUPT, "%s", cairn_error_name(rc));
	CHECKF(strstr(cairn_error_last(), "newer") != NULL, "%s", cairn_error_last());
	CHECK(m == NULL);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", cairn__meta_sqlite_schema_version);
	raw_exec(path, sql);
	CHECK(cairn_meta_sqlite_open(&m, path) == 0);
	if (m)
		m->close(m);
	m = NULL;

	/* not SQLite at all: refused, and not written to */
	db_path(path, sizeof(path), "text.db");
	f = fopen(path, "wb");
	for (int i = 0; i < 200; i++)
		fprintf(f, "line %d of a file that is certainly not a database\n", i);
	fclose(f);
	before = slurp(path, &len_before);
	rc = cairn_meta_sqlite_open(&m, path);
	CHECKF(rc == CAIRN_ECORRUPT, "%s", cairn_error_name(rc));
	CHECKF(strstr(cairn_error_last(), "not a SQLite database") != NULL, "%s",
	       cairn_error_last());
	after = slurp(path, &len_after);
	CHECK(len_before == len_after && memcmp(before, after, len_before) == 0);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK(!exists(wal));
	free(before);
	free(after);

	/* SQLite, but someone else's: refused, and not switched to WAL */
	db_path(path, sizeof(path), "foreign.db");
	raw_exec(path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')");
	before = slurp(path, &len_before);
	rc = cairn_meta_sqlite_open(&m, path);
	CHECKF(rc == CAIRN_ECORRUPT, "%s", cairn_error_name(rc));
	CHECKF(strstr(cairn_error_last(), "not Cairn") != NULL, "%s", cairn_error_last());
	after = slurp(path, &len_after);
	CHECK(len_before == len_after && memcmp(before, after, len_before) == 0);
	free(before);
	free(after);
	db_path(path, sizeof(path), "app.db");
	raw_exec(path, "PRAGMA application_id = 1234");
	CHECK(cairn_meta_sqlite_open(&m, path) == CAIRN_ECORRUPT);

	/* cannot be opened at all */
	rc = cairn_meta_sqlite_open(&m, dir); /* a directory */
	CHECKF(rc == CAIRN_EIO, "%s", cairn_error_name(rc));
	db_path(path, sizeof(path), "no/such/dir/x.db");
	CHECK(cairn_meta_sqlite_open(&m, path) == CAIRN_EIO);
	CHECK(m == NULL);

	/* an empty file is a new database */
	db_path(path, sizeof(path), "empty.db");
	f = fopen(path, "wb");
	fclose(f);
	CHECK(cairn_meta_sqlite_open(&m, path) == 0);
	if (m)
		m->close(m);
}

/* ---- several processes, kill -9 --------------------------------------------------- */

static void test_first_open_race(void)
{
	enum { KIDS = 6 };
	char path[512];
	pid_t kids[KIDS];
	int ok = 0;

	test_section("processes opening a new database at once");
	db_path(path, sizeof(path), "race.db");
	fflush(stdout);
	for (int i = 0; i < KIDS; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			cairn_meta *m;
			int64_t id;
			char name[16];
			int rc = cairn_meta_sqlite_open(&m, path);

			if (rc != 0) {
				fprintf(stderr, "child %d: %s\n", i, cairn_error_last());
				_exit(1);
			}
			snprintf(name, sizeof(name), "b%d", i);
			if (m->begin(m, true) || m->bucket_create(m, "race", name, false, 1, &id) ||
			    m->commit(m)) {
				fprintf(stderr, "child %d: %s\n", i, cairn_error_last());
				_exit(2);
			}
			m->close(m);
			_exit(0);
		}
	}
	for (int i = 0; i < KIDS; i++) {
		int status = 0;

		waitpid(kids[i], &status, 0);
		ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK(ok == KIDS);
	{
		cairn_meta *m = open_db("race.db");
		bucket_seen seen;

		memset(&seen, 0, sizeof(seen));
		CHECK(m->bucket_list(m, "race", on_bucket, &seen) == 0 && seen.n == KIDS);
		m->close(m);
	}
}

/* One transaction: a xorb, a file over it, a bucket and an object naming the file. */
static int kill_tx(cairn_meta *m, int i)
{
	char name[32];
	cairn_hash file;
	cairn_object_row row;
	int64_t id;
	int rc;

	snprintf(name, sizeof(name), "b%d", i);
	if ((rc = m->begin(m, true)) != 0)
		return rc;
	if ((rc = put_xorb(m, 10000 + (uint64_t)i, 3, i, NULL)) != 0 ||
	    (rc = put_file(m, 20000 + (uint64_t)i, 10000 + (uint64_t)i, 3, i, &file)) != 0 ||
	    (rc = m->bucket_create(m, "kill", name, false, i, &id)) != 0)
		goto fail;
	row = object("k", 1, &file, file_bytes(3));
	if ((rc = m->object_put(m, id, &row)) != 0)
		goto fail;
	return m->commit(m);
fail:
	m->rollback(m);
	return rc;
}

static void kill_child(const char *path, int fd)
{
	cairn_meta *m;

	if (cairn_meta_sqlite_open(&m, path) != 0)
		_exit(3);
	for (int i = 0;; i++) {
		char line[32];
		int len;

		if (kill_tx(m, i) != 0) {
			fprintf(stderr, "kill child: %s\n", cairn_error_last());
			_exit(4);
		}
		len = snprintf(line, sizeof(line), "acked %d\n", i);
		if (write(fd, line, (size_t)len) != len)
			_exit(5);
	}
}

/* Whether transaction i is there, whole. */
static bool kill_tx_present(cairn_meta *m, int i)
{
	char name[32];
	cairn_bucket_row b;
	cairn_object_row o;
	cairn_xorb_row x;
	cairn_hash xh;
	cairn_term *t = NULL;
	uint64_t size;
	size_t n;
	bool ok;

	snprintf(name, sizeof(name), "b%d", i);
	if (m->bucket_get(m, "kill", name, &b) != 0 || m->object_get(m, b.id, "k", 1, &o) != 0)
		return false;
	hash_of(&xh, 10000 + (uint64_t)i);
	ok = m->file_get(m, &o.file, &size, &t, &n) == 0 && n == 1 &&
	     m->xorb_get(m, &xh, &x) == 0 && x.chunks == 3;
	free(t);
	return ok;
}

static void test_kill9(void)
{
	enum { ROUNDS = 20 };
	uint64_t s = 0x5EED;
	int total_acked = 0, bad_rounds = 0;

	test_section("kill -9: every acknowledged commit survives");
	for (int round = 0; round < ROUNDS; round++) {
		char name[32], path[512], buf[1 << 16];
		size_t have = 0;
		int fds[2], status = 0, acked = 0, present = 0;
		bool in_order = true;
		pid_t pid;
		cairn_meta *m;
		struct timespec delay;
		ssize_t r;

		snprintf(name, sizeof(name), "kill%d.db", round);
		db_path(path, sizeof(path), name);
		if (!CHECK(pipe(fds) == 0))
			return;
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(fds[0]);
			kill_child(path, fds[1]);
		}
		close(fds[1]);
		/* every other round, after the first acknowledgement: some commits are
		 * acknowledged, however slow the machine is */
		while (round % 2 == 1 && memchr(buf, '\n', have) == NULL &&
		       (r = read(fds[0], buf + have, sizeof(buf) - 1 - have)) > 0)
			have += (size_t)r;
		/* 0 to 60 ms: sometimes before the database exists, mostly mid-commit */
		delay.tv_sec = 0;
		delay.tv_nsec = (long)(splitmix64_next(&s) % 60000) * 1000;
		nanosleep(&delay, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		       "round %d: the child ended by itself (status %d)", round, status);
		while ((r = read(fds[0], buf + have, sizeof(buf) - 1 - have)) > 0)
			have += (size_t)r;
		close(fds[0]);
		buf[have] = '\0';
		for (char *line = buf; *line;) {
			char *nl = strchr(line, '\n');
			int i;

			if (nl == NULL) /* a partial line: not an acknowledgement */
				break;
			if (sscanf(line, "acked %d", &i) != 1 || i != acked)
				in_order = false;
			acked++;
			line = nl + 1;
		}
		CHECK(in_order);
		total_acked += acked;

		m = open_db(name);
		for (int i = 0; i < acked; i++)
			if (!kill_tx_present(m, i)) {
				CHECKF(0, "round %d: acknowledged transaction %d is missing", round,
				       i);
				bad_rounds++;
				break;
			}
		/* at most one more (committed, killed before it said so), and whole */
		while (kill_tx_present(m, present))
			present++;
		{
			bucket_seen seen;
			int xorbs = 0;

			memset(&seen, 0, sizeof(seen));
			CHECK(m->bucket_list(m, "kill", on_bucket, &seen) == 0);
			CHECK(m->xorb_list(m, count_xorb, &xorbs) == 0);
			CHECKF(seen.n == present && xorbs == present &&
				       (present == acked || present == acked + 1),
			       "round %d: acked %d, present %d, buckets %d, xorbs %d", round,
			       acked, present, seen.n, xorbs);
		}
		m->close(m);
	}
	printf("kill -9: %d rounds, %d commits acknowledged in all\n", ROUNDS, total_acked);
	CHECK(total_acked > 0);
	CHECK(bad_rounds == 0);
}

/* ---- main ------------------------------------------------------------------------ */

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[600];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(dir, sizeof(dir), "%s/cairn-test-meta-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	pg = getenv("CAIRN_TEST_PG");
	if (pg && *pg) {
		/* the function table's behaviour; the SQLite file's own tests stay SQLite's */
		static const struct {
			const char *name;
			void (*run)(void);
		} tests[] = {{"buckets", test_buckets},       {"xorbs_files", test_xorbs_files},
			     {"objects", test_objects},       {"object_list", test_object_list},
			     {"gc", test_gc},                 {"gc_lock", test_gc_lock},
			     {"object_s3", test_object_s3},
			     {"s3keys", test_s3keys},         {"sessions", test_sessions},
			     {"regions", test_regions},       {"mpu", test_mpu},
			     {"repack", test_repack}};
		/* CAIRN_TEST_ONLY=a,b: only those (while a backend is being written) */
		const char *only = getenv("CAIRN_TEST_ONLY");

		printf("# against PostgreSQL: %s\n", pg);
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
			if (only && *only) {
				char pat[64];
				snprintf(pat, sizeof(pat), ",%s,", tests[i].name);
				char list[512];
				snprintf(list, sizeof(list), ",%s,", only);
				if (strstr(list, pat) == NULL)
					continue;
			}
			printf("# %s\n", tests[i].name);
			tests[i].run();
		}
		rc = test_done();
		remove_dir(dir);
		return rc;
	}
	pg = NULL;
	test_settings();
	test_buckets();
	test_xorbs_files();
	test_objects();
	test_object_list();
	test_gc();
	test_repack();
	test_gc_lock();
	test_object_s3();
	test_migration_4();
	test_s3keys();
	test_sessions();
	test_regions();
	test_mpu();
	test_transactions();
	test_refusals();
	test_first_open_race();
	test_kill9();
	rc = test_done();
	if (rc == 0)
		remove_dir(dir);
	else
		printf("databases kept in %s\n", dir);
	return rc;
}
