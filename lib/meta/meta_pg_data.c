/*
 * meta_pg_data.c - the PostgreSQL backend's objects, files and their
 * terms, xorbs and their chunks, chunk grants, GC and the bucket
 * statistics (meta_pg_int.h; meta_sqlite.c is the reference).
 *
 * Each function does what its SQLite twin does, with the same checks and
 * messages; what differs is how rows travel. A file's terms, a xorb's
 * chunks and a batch of grants go in one statement each: the hashes as one
 * bytea of 32-byte runs (cut apart in SQL), the integers as bigint[]
 * arrays. Listings without a limit fetch pages of rows by keyset (the
 * next page starts after the last key seen), so memory stays bounded; in
 * a transaction every page sees the same snapshot, outside one each page
 * sees what was committed when it ran. A callback runs while no statement
 * does, so it may call the handle, but not the listing it is called from
 * (CAIRN_EINVALID, as with SQLite).
 */
#include "meta_pg_int.h"

#include <libpq-events.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 10000       /* rows of a listing fetched at a time */
#define OBJECT_PAGE 1000 /* objects carry up to 20 KiB of metadata each */

/* Bits of pg->listing (above the count bucket_list keeps): which listing's callback runs. */
enum {
	LIST_OBJECTS = 1 << 20,
	LIST_FILES = 1 << 21,
	LIST_XORBS = 1 << 22,
	LIST_TERMS = 1 << 23,
};

/* files no object and no part of an upload in progress names, older than $1 */
#define GC_FILE_WHERE                                                                      \
	"created_ns < $1::bigint AND NOT EXISTS "                                          \
	"(SELECT 1 FROM objects WHERE objects.file_hash = files.hash) AND NOT EXISTS "     \
	"(SELECT 1 FROM multipart_parts WHERE multipart_parts.file_hash = files.hash)"
#define XORB_COLS "hash, stored, raw, chunks, created_ns, used_ns"
#define XORB_READ_COLS XORB_COLS ", gen, coalesce(rest_name, hash)"
/* what read_object reads, in its order */
#define OBJECT_COLS                                                                        \
	"file_hash, size, mtime_ns, created_ns, content_type, md5, parts, user_meta, part_sizes"
/* the i-th (from 1) 32-byte hash of a packed bytea parameter $n */
#define NTH_HASH(n, i) "substring(" n "::bytea FROM ((" i " - 1) * 32 + 1)::integer FOR 32)"

static const uint8_t empty[1]; /* a zero-length bytea (a NULL pointer would be SQL NULL) */

/* ---- helpers --------------------------------------------------------------------------------- */

static const char *hex(char buf[CAIRN_HASH_HEX_LEN + 1], const cairn_hash *h)
{
	cairn_hash_to_hex(buf, h);
	return buf;
}

static pg_arg hash_arg(const cairn_hash *h)
{
	return PG_BYTES(h->bytes, sizeof(h->bytes));
}

static int check_u64(uint64_t v, const char *what)
{
	if (v > (uint64_t)INT64_MAX)
		return cairn__error_set(CAIRN_EINVALID, "metadata: %s %llu is too large", what,
					(unsigned long long)v);
	return 0;
}


static uint64_t get_u64(const PGresult *r, int row, int col)
{
	return (uint64_t)cairn__pg_get_i64(r, row, col);
}

static uint32_t get_u32(const PGresult *r, int row, int col)
{
	return (uint32_t)cairn__pg_get_i64(r, row, col);
}

static int get_hash(cairn_hash *out, const PGresult *r, int row, int col)
{
	return cairn__pg_get_fixed(r, row, col, out->bytes, sizeof(out->bytes));
}

static int list_enter(meta_pg *pg, int bit, const char *what)
{
	if (pg->listing & bit)
		return cairn__error_set(CAIRN_EINVALID,
					"metadata: %s called from a callback of its own listing",
					what);
	pg->listing |= bit;
	return 0;
}

static void list_leave(meta_pg *pg, int bit)
{
	pg->listing &= ~bit;
}

/* A bigint[] parameter as text, "{1,2,3}": open for n values, add each, close. */
typedef struct int_array {
	char *text;
	size_t at;
} int_array;

static int array_open(int_array *a, size_t n)
{
	if (n > (SIZE_MAX - 3) / 21 || (a->text = malloc(n * 21 + 3)) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for %zu values", n);
	a->text[0] = '{';
	a->at = 1;
	return 0;
}

static void array_add(int_array *a, int64_t v)
{
	a->at += (size_t)sprintf(a->text + a->at, "%s%" PRId64, a->at > 1 ? "," : "", v);
}

static const char *array_close(int_array *a)
{
	a->text[a->at++] = '}';
	a->text[a->at] = '\0';
	return a->text;
}

/*
 * n hashes as one bytea of 32-byte runs (NTH_HASH cuts them apart): the
 * first at `first`, the next `stride` bytes further each (a field of an
 * array of rows).
 */
static uint8_t *pack_hashes(const cairn_hash *first, size_t stride, size_t n)
{
	uint8_t *p = malloc(n ? n * 32 : 1);

	if (p == NULL) {
		cairn__error_set(CAIRN_ENOMEM, "out of memory for %zu hashes", n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(p + 32 * i, (const uint8_t *)first + i * stride, 32);
	return p;
}

/* ---- object_get's strings: per connection, freed with it ------------------------------------- */

/* object_get's strings live in the handle (meta_pg_int.h): until its next call. */
static object_store *store_of(meta_pg *pg)
{
	return &pg->obj;
}

/* ---- bucket statistics ----------------------------------------------------------------------- */

/*
 * Pages of objects in key order, with their terms: a range of the primary
 * key per page, so no page sorts more than its own rows.
 */
static int pg_bucket_terms(cairn_meta *m, int64_t bucket,
			   int (*fn)(void *ctx, const cairn_hash *xorb, uint32_t first,
				     uint32_t end),
			   void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	uint8_t *last = NULL;
	size_t last_len = 0;
	char b[24], page[24];
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "bucket_terms: NULL callback");
	if ((rc = list_enter(pg, LIST_TERMS, "bucket_terms")) != 0)
		return rc;
	cairn__pg_i64(b, bucket);
	cairn__pg_i64(page, OBJECT_PAGE);
	for (;;) {
		pg_arg a[3] = {PG_TEXT(b), last ? PG_BYTES(last, last_len) : PG_BYTES(empty, 0),
			       PG_TEXT(page)};
		PGresult *r = cairn__pg_exec(
			pg, "bucket_terms",
			"SELECT o.key, t.xorb_hash, t.chunk_first, t.chunk_end FROM "
			"(SELECT key, file_hash FROM objects WHERE bucket_id = $1::bigint "
			"AND key > $2::bytea ORDER BY key LIMIT $3::bigint) AS o "
			"LEFT JOIN file_terms AS t ON t.file_hash = o.file_hash "
			"ORDER BY o.key, t.seq",
			3, a, &rc);
		int rows, objects = 0;

		if (r == NULL)
			break;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			cairn_hash x;

			if (i == 0 || strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0)
				objects++;
			if (PQgetisnull(r, i, 1)) /* an empty file has no terms */
				continue;
			if ((rc = get_hash(&x, r, i, 1)) == 0)
				rc = fn(ctx, &x, get_u32(r, i, 2), get_u32(r, i, 3));
		}
		free(last);
		last = NULL;
		if (rc == 0 && objects == OBJECT_PAGE)
			rc = cairn__pg_get_bytes(r, rows - 1, 0, &last, &last_len);
		PQclear(r);
		if (rc != 0 || objects < OBJECT_PAGE)
			break;
	}
	free(last);
	list_leave(pg, LIST_TERMS);
	return rc;
}

static int pg_prefix_totals(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			    uint64_t *objects, uint64_t *bytes)
{
	meta_pg *pg = cairn__pg(m);
	uint8_t *lo = malloc(CAIRN_KEY_MAX + 1), *hi = malloc(CAIRN_KEY_MAX + 1);
	size_t lo_len, hi_len;
	char b[24];
	PGresult *r;
	int rc;

	if (lo == NULL || hi == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, NULL, 0)) !=
	    0)
		goto done;
	{
		pg_arg a[3] = {PG_TEXT(cairn__pg_i64(b, bucket)), PG_BYTES(lo, lo_len),
			       PG_BYTES(hi, hi_len)};

		r = cairn__pg_exec(pg, "prefix_totals",
				   "SELECT count(*), coalesce(sum(size), 0) FROM objects WHERE "
				   "bucket_id = $1::bigint AND key >= $2::bytea "
				   "AND key < $3::bytea",
				   3, a, &rc);
	}
	if (r != NULL) {
		*objects = get_u64(r, 0, 0);
		*bytes = get_u64(r, 0, 1);
		PQclear(r);
	}
done:
	free(lo);
	free(hi);
	return rc;
}

/* ---- objects --------------------------------------------------------------------------------- */

/* An object's content type and user metadata: NULL or within their ceilings. */
static int check_strings(const char *content_type, const char *user_meta)
{
	if (content_type && strnlen(content_type, CAIRN_CTYPE_MAX + 1) > CAIRN_CTYPE_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a content type has at most %d bytes",
					CAIRN_CTYPE_MAX);
	if (user_meta &&
	    strnlen(user_meta, CAIRN_USER_META_TEXT_MAX + 1) > CAIRN_USER_META_TEXT_MAX)
		return cairn__error_set(CAIRN_EINVALID,
					"user metadata has at most %d bytes of text",
					CAIRN_USER_META_TEXT_MAX);
	return 0;
}

/* The file must be recorded, and the object is all of it. */
static int object_file_ok(meta_pg *pg, const cairn_object_row *row)
{
	char h[CAIRN_HASH_HEX_LEN + 1];
	pg_arg a[1] = {hash_arg(&row->file)};
	uint64_t file_size;
	int rc;
	PGresult *r = cairn__pg_exec(pg, "object_put: file",
				     "SELECT size FROM files WHERE hash = $1::bytea", 1, a, &rc);

	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return cairn__error_set(CAIRN_ENOTFOUND,
					"object_put: file %s is not recorded (file_put first)",
					hex(h, &row->file));
	}
	file_size = get_u64(r, 0, 0);
	PQclear(r);
	if (file_size != row->size)
		return cairn__error_set(CAIRN_EINVALID,
					"object_put: size %llu, but file %s holds %llu bytes",
					(unsigned long long)row->size, hex(h, &row->file),
					(unsigned long long)file_size);
	return 0;
}

static int pg_object_put(cairn_meta *m, int64_t bucket, const cairn_object_row *row)
{
	meta_pg *pg = cairn__pg(m);
	char b[24], size[24], mtime[24], created[24], parts[24];
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "object_put")) != 0)
		return rc;
	if (row == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_put: no row");
	if ((rc = cairn__meta_check_key(row->key, row->key_len)) != 0 ||
	    (rc = check_u64(row->size, "object size")) != 0 ||
	    (rc = check_strings(row->content_type, row->user_meta)) != 0)
		return rc;
	if ((rc = cairn__pg_op_begin(pg, "object_put")) != 0)
		return rc;
	if ((rc = object_file_ok(pg, row)) != 0)
		return cairn__pg_op_end(pg, rc, "object_put");
	if (row->part_sizes && row->parts > CAIRN_META_PARTS_MAX)
		return cairn__pg_op_end(
			pg, cairn__error_set(CAIRN_EINVALID, "object_put: %u parts", row->parts),
			"object_put");
	{
		pg_arg a[11] = {
			PG_TEXT(cairn__pg_i64(b, bucket)),
			PG_BYTES(row->key, row->key_len),
			hash_arg(&row->file),
			PG_TEXT(cairn__pg_i64(size, (int64_t)row->size)),
			PG_TEXT(cairn__pg_i64(mtime, row->mtime_ns)),
			PG_TEXT(cairn__pg_i64(created, row->created_ns)),
			PG_TEXT(row->content_type),
			row->has_md5 ? PG_BYTES(row->md5, sizeof(row->md5)) : PG_NULL,
			PG_TEXT(cairn__pg_i64(parts, row->parts)),
			PG_TEXT(row->user_meta),
			row->part_sizes && row->parts > 0
				? PG_BYTES(row->part_sizes, 8 * (size_t)row->parts)
				: PG_NULL,
		};

		/* inserts nothing when the bucket does not exist */
		r = cairn__pg_exec(pg, "object_put",
				   "INSERT INTO objects (bucket_id, key, file_hash, size, "
				   "mtime_ns, created_ns, content_type, md5, parts, user_meta, "
				   "part_sizes) SELECT id, $2::bytea, $3::bytea, $4::bigint, "
				   "$5::bigint, $6::bigint, $7::text, $8::bytea, $9::integer, "
				   "$10::text, $11::bytea FROM buckets WHERE id = $1::bigint "
				   "ON CONFLICT (bucket_id, key) DO UPDATE SET "
				   "file_hash = excluded.file_hash, size = excluded.size, "
				   "mtime_ns = excluded.mtime_ns, "
				   "created_ns = excluded.created_ns, "
				   "content_type = excluded.content_type, md5 = excluded.md5, "
				   "parts = excluded.parts, user_meta = excluded.user_meta, "
				   "part_sizes = excluded.part_sizes",
				   11, a, &rc);
	}
	if (r != NULL && cairn__pg_changes(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "object_put: no bucket with id %lld",
				      (long long)bucket);
	PQclear(r);
	return cairn__pg_op_end(pg, rc, "object_put");
}

/*
 * The columns from file_hash on, at `col`, of row i (key set by the
 * caller): content_type and user_meta point into r, part_sizes into *owned
 * (the caller frees it).
 */
static int read_object(cairn_object_row *row, const PGresult *r, int i, int col, uint8_t **owned)
{
	size_t len;
	int rc;

	*owned = NULL;
	if ((rc = get_hash(&row->file, r, i, col)) != 0)
		return rc;
	row->size = get_u64(r, i, col + 1);
	row->mtime_ns = cairn__pg_get_i64(r, i, col + 2);
	row->created_ns = cairn__pg_get_i64(r, i, col + 3);
	row->content_type = PQgetisnull(r, i, col + 4) ? NULL : PQgetvalue(r, i, col + 4);
	row->has_md5 = !PQgetisnull(r, i, col + 5);
	memset(row->md5, 0, sizeof(row->md5));
	if (row->has_md5 && cairn__pg_get_fixed(r, i, col + 5, row->md5, sizeof(row->md5)) != 0)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored MD5 is not 16 bytes");
	row->parts = get_u32(r, i, col + 6);
	row->user_meta = PQgetisnull(r, i, col + 7) ? NULL : PQgetvalue(r, i, col + 7);
	if ((rc = cairn__pg_get_bytes(r, i, col + 8, owned, &len)) != 0)
		return rc;
	if (*owned != NULL && (row->parts == 0 || row->parts > CAIRN_META_PARTS_MAX ||
			       len != 8 * (size_t)row->parts)) {
		free(*owned); /* not what it should be: as if unknown */
		*owned = NULL;
	}
	row->part_sizes = *owned;
	return 0;
}

/* A stored string into buf of cap bytes (NUL included), or NULL; one too long is damage. */
static int copy_text(const char **out, char *buf, size_t cap, const char *text, const char *what)
{
	size_t n;

	*out = NULL;
	if (text == NULL)
		return 0;
	if ((n = strlen(text)) >= cap)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored %s is too long", what);
	memcpy(buf, text, n + 1);
	*out = buf;
	return 0;
}

static int pg_object_get(cairn_meta *m, int64_t bucket, const char *key, size_t key_len,
			 cairn_object_row *out)
{
	meta_pg *pg = cairn__pg(m);
	cairn_object_row row;
	uint8_t *sizes = NULL;
	object_store *d;
	char b[24];
	PGresult *r;
	int rc;

	if (out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_get: no row to fill");
	if ((rc = cairn__meta_check_key(key, key_len)) != 0)
		return rc;
	d = store_of(pg);
	{
		pg_arg a[2] = {PG_TEXT(cairn__pg_i64(b, bucket)), PG_BYTES(key, key_len)};

		r = cairn__pg_exec(pg, "object_get",
				   "SELECT " OBJECT_COLS " FROM objects "
				   "WHERE bucket_id = $1::bigint AND key = $2::bytea",
				   2, a, &rc);
	}
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return cairn__error_set(CAIRN_ENOTFOUND, "no such object in bucket %lld",
					(long long)bucket);
	}
	rc = read_object(&row, r, 0, 0, &sizes);
	if (rc == 0)
		rc = copy_text(&row.content_type, d->content_type, sizeof(d->content_type),
			       row.content_type, "content type");
	if (rc == 0)
		rc = copy_text(&row.user_meta, d->user_meta, sizeof(d->user_meta), row.user_meta,
			       "user metadata");
	if (rc == 0 && sizes) {
		memcpy(d->part_sizes, sizes, 8 * (size_t)row.parts);
		row.part_sizes = d->part_sizes;
	}
	free(sizes);
	PQclear(r);
	if (rc != 0)
		return rc;
	memmove(d->key, key, key_len); /* key may be a previous out->key */
	row.key = d->key;
	row.key_len = key_len;
	*out = row;
	return 0;
}


static int pg_object_delete(cairn_meta *m, int64_t bucket, const char *key, size_t key_len)
{
	meta_pg *pg = cairn__pg(m);
	char b[24];
	pg_arg a[2] = {PG_TEXT(cairn__pg_i64(b, bucket)), PG_BYTES(key, key_len)};
	int rc;

	if ((rc = cairn__pg_need_write(pg, "object_delete")) != 0 ||
	    (rc = cairn__meta_check_key(key, key_len)) != 0)
		return rc;
	return cairn__pg_change_one(pg, "object_delete",
			  "DELETE FROM objects WHERE bucket_id = $1::bigint AND key = $2::bytea", 2,
			  a, "no such object");
}

/* Pages of the key range [lo, hi); the next page starts just after the last key seen. */
static int pg_object_list(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
			  const char *after, size_t after_len, size_t limit,
			  cairn_meta_object_fn fn, void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	uint8_t lo[CAIRN_KEY_MAX + 1], hi[CAIRN_KEY_MAX + 1];
	size_t lo_len, hi_len, left = limit;
	char b[24];
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object_list: no callback");
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, after,
					after_len)) != 0 ||
	    (rc = list_enter(pg, LIST_OBJECTS, "object_list")) != 0)
		return rc;
	cairn__pg_i64(b, bucket);
	for (;;) {
		size_t page = limit && left < OBJECT_PAGE ? left : OBJECT_PAGE;
		char p[24];
		pg_arg a[4] = {PG_TEXT(b), PG_BYTES(lo, lo_len), PG_BYTES(hi, hi_len),
			       PG_TEXT(cairn__pg_i64(p, (int64_t)page))};
		PGresult *r = cairn__pg_exec(pg, "object_list",
					     "SELECT key, " OBJECT_COLS " FROM objects WHERE "
					     "bucket_id = $1::bigint AND key >= $2::bytea "
					     "AND key < $3::bytea ORDER BY key "
					     "LIMIT $4::bigint",
					     4, a, &rc);
		int rows;

		if (r == NULL)
			break;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			cairn_object_row row;
			uint8_t *key = NULL, *sizes = NULL;
			size_t key_len = 0;

			if ((rc = cairn__pg_get_bytes(r, i, 0, &key, &key_len)) == 0 &&
			    (key == NULL || key_len > CAIRN_KEY_MAX))
				rc = cairn__error_set(CAIRN_ECORRUPT,
						      "metadata: a stored key is malformed");
			if (rc == 0)
				rc = read_object(&row, r, i, 1, &sizes);
			if (rc == 0) {
				row.key = (const char *)key;
				row.key_len = key_len;
				rc = fn(ctx, &row);
			}
			if (key != NULL && key_len <= CAIRN_KEY_MAX) { /* next: after this key */
				memcpy(lo, key, key_len);
				lo[key_len] = 0x00;
				lo_len = key_len + 1;
			}
			free(key);
			free(sizes);
		}
		PQclear(r);
		if (rc != 0 || (size_t)rows < page || (limit && (left -= page) == 0))
			break;
	}
	list_leave(pg, LIST_OBJECTS);
	return rc;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* Why a term was not inserted: the first whose xorb is missing or too short. */
static int term_refused(meta_pg *pg, const pg_arg *xorbs, const char *ends,
			const cairn_term *terms)
{
	char h[CAIRN_HASH_HEX_LEN + 1];
	pg_arg a[2] = {xorbs[0], PG_TEXT(ends)};
	PGresult *r;
	size_t i;
	int rc;

	r = cairn__pg_exec(pg, "file_put: xorb",
			   "SELECT t.i - 1, x.chunks FROM unnest($2::bigint[]) WITH ORDINALITY "
			   "AS t(e, i) LEFT JOIN xorbs AS x ON x.hash = " NTH_HASH("$1", "t.i") " "
			   "WHERE x.hash IS NULL OR x.chunks < t.e ORDER BY t.i LIMIT 1",
			   2, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) { /* every term fits: the insert failed for another reason */
		PQclear(r);
		return cairn__error_set(CAIRN_EIO, "metadata: file_put: a term was not recorded");
	}
	i = (size_t)get_u64(r, 0, 0);
	if (PQgetisnull(r, 0, 1))
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "file_put: term %zu names xorb %s, which is not recorded", i,
				      hex(h, &terms[i].xorb));
	else
		rc = cairn__error_set(CAIRN_EINVALID,
				      "file_put: term %zu asks for chunks [%u, %u) of xorb %s, "
				      "which holds %u",
				      i, terms[i].first, terms[i].end, hex(h, &terms[i].xorb),
				      get_u32(r, 0, 1));
	PQclear(r);
	return rc;
}

/* All terms in one statement; a term whose xorb is missing or too short inserts nothing. */
static int insert_terms(meta_pg *pg, const cairn_hash *file, const cairn_term *terms, size_t n)
{
	int_array first = {NULL, 0}, end = {NULL, 0}, raw = {NULL, 0};
	uint8_t *packed;
	PGresult *r;
	int rc;

	if ((packed = pack_hashes(&terms[0].xorb, sizeof(*terms), n)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	if ((rc = array_open(&first, n)) != 0 || (rc = array_open(&end, n)) != 0 ||
	    (rc = array_open(&raw, n)) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		array_add(&first, terms[i].first);
		array_add(&end, terms[i].end);
		array_add(&raw, (int64_t)terms[i].raw_len);
	}
	{
		pg_arg a[5] = {hash_arg(file), PG_BYTES(packed, 32 * n),
			       PG_TEXT(array_close(&first)), PG_TEXT(array_close(&end)),
			       PG_TEXT(array_close(&raw))};

		r = cairn__pg_exec(pg, "file_put: term",
				   "INSERT INTO file_terms (file_hash, seq, xorb_hash, "
				   "chunk_first, chunk_end, raw_len) SELECT $1::bytea, t.i - 1, "
				   "x.hash, t.f, t.e, t.r FROM unnest($3::bigint[], $4::bigint[], "
				   "$5::bigint[]) WITH ORDINALITY AS t(f, e, r, i) "
				   "JOIN xorbs AS x ON x.hash = " NTH_HASH("$2", "t.i") " "
				   "AND x.chunks >= t.e",
				   5, a, &rc);
		if (r != NULL && cairn__pg_changes(r) != n)
			rc = term_refused(pg, &a[1], end.text, terms);
		PQclear(r);
	}
done:
	free(packed);
	free(first.text);
	free(end.text);
	free(raw.text);
	return rc;
}

static int pg_file_put(cairn_meta *m, const cairn_hash *file, uint64_t size,
		       const cairn_term *terms, size_t n, int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char sz[24], now[24];
	uint64_t sum = 0;
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "file_put")) != 0)
		return rc;
	if (file == NULL || (n > 0 && terms == NULL))
		return cairn__error_set(CAIRN_EINVALID, "file_put: NULL argument");
	if ((rc = check_u64(size, "file size")) != 0)
		return rc;
	if (n > INT_MAX / 32)
		return cairn__error_set(CAIRN_EINVALID, "file_put: %zu terms", n);
	for (size_t i = 0; i < n; i++) {
		if (terms[i].first >= terms[i].end)
			return cairn__error_set(CAIRN_EINVALID,
						"file_put: term %zu has no chunks ([%u, %u))", i,
						terms[i].first, terms[i].end);
		if (terms[i].raw_len > size - sum) /* sum <= size: no overflow */
			return cairn__error_set(CAIRN_EINVALID,
						"file_put: the terms hold more than the "
						"file's %llu bytes",
						(unsigned long long)size);
		sum += terms[i].raw_len;
	}
	if (sum != size)
		return cairn__error_set(CAIRN_EINVALID,
					"file_put: the terms hold %llu bytes, the file %llu",
					(unsigned long long)sum, (unsigned long long)size);

	if ((rc = cairn__pg_op_begin(pg, "file_put")) != 0)
		return rc;
	{
		pg_arg a[3] = {hash_arg(file), PG_TEXT(cairn__pg_i64(sz, (int64_t)size)),
			       PG_TEXT(cairn__pg_i64(now, now_ns))};

		r = cairn__pg_exec(pg, "file_put",
				   "INSERT INTO files (hash, size, created_ns) VALUES ($1::bytea, "
				   "$2::bigint, $3::bigint) ON CONFLICT (hash) DO NOTHING",
				   3, a, &rc);
	}
	/* recorded already: nothing to do */
	if (r != NULL && cairn__pg_changes(r) == 1 && n > 0)
		rc = insert_terms(pg, file, terms, n);
	PQclear(r);
	return cairn__pg_op_end(pg, rc, "file_put");
}

static int pg_file_get(cairn_meta *m, const cairn_hash *file, uint64_t *size, cairn_term **terms,
		       size_t *n)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_term *list = NULL;
	size_t count = 0;
	uint64_t file_size;
	PGresult *r;
	int rc, rows;

	if (file == NULL || terms == NULL || n == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_get: NULL argument");
	{
		pg_arg a[1] = {hash_arg(file)};

		/* one statement: the file and its terms from the same snapshot */
		r = cairn__pg_exec(pg, "file_get",
				   "SELECT f.size, t.seq, t.xorb_hash, t.chunk_first, t.chunk_end, "
				   "t.raw_len FROM files AS f LEFT JOIN file_terms AS t "
				   "ON t.file_hash = f.hash WHERE f.hash = $1::bytea "
				   "ORDER BY t.seq",
				   1, a, &rc);
	}
	if (r == NULL)
		return rc;
	if ((rows = PQntuples(r)) == 0) {
		PQclear(r);
		return cairn__error_set(CAIRN_ENOTFOUND, "no file %s", hex(h, file));
	}
	file_size = get_u64(r, 0, 0);
	if (!PQgetisnull(r, 0, 1) && (list = malloc((size_t)rows * sizeof(*list))) == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for %d terms", rows);
	for (int i = 0; i < rows && rc == 0 && list != NULL; i++) {
		cairn_term *t = &list[count];

		if (get_u64(r, i, 1) != count) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: file %s misses term %zu",
					      hex(h, file), count);
			break;
		}
		if ((rc = get_hash(&t->xorb, r, i, 2)) != 0)
			break;
		t->first = get_u32(r, i, 3);
		t->end = get_u32(r, i, 4);
		t->raw_len = get_u64(r, i, 5);
		count++;
	}
	PQclear(r);
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

static int pg_file_list(cairn_meta *m, cairn_meta_file_fn fn, void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	cairn_hash last;
	bool started = false;
	char page[24];
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_list: no callback");
	if ((rc = list_enter(pg, LIST_FILES, "file_list")) != 0)
		return rc;
	cairn__pg_i64(page, PAGE);
	for (;;) {
		pg_arg a[2] = {started ? hash_arg(&last) : PG_BYTES(empty, 0), PG_TEXT(page)};
		PGresult *r = cairn__pg_exec(pg, "file_list",
					     "SELECT hash, size FROM files WHERE hash > $1::bytea "
					     "ORDER BY hash LIMIT $2::bigint",
					     2, a, &rc);
		int rows;

		if (r == NULL)
			break;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			cairn_hash file;

			if ((rc = get_hash(&file, r, i, 0)) != 0)
				break;
			last = file;
			started = true;
			rc = fn(ctx, &file, get_u64(r, i, 1));
		}
		PQclear(r);
		if (rc != 0 || rows < PAGE)
			break;
	}
	list_leave(pg, LIST_FILES);
	return rc;
}

/* ---- xorbs and the chunk index --------------------------------------------------------------- */

static int read_xorb(cairn_xorb_row *row, const PGresult *r, int i)
{
	int rc = get_hash(&row->hash, r, i, 0);

	if (rc != 0)
		return rc;
	row->stored = get_u64(r, i, 1);
	row->raw = get_u64(r, i, 2);
	row->chunks = get_u32(r, i, 3);
	row->created_ns = cairn__pg_get_i64(r, i, 4);
	row->used_ns = cairn__pg_get_i64(r, i, 5);
	row->gen = get_u32(r, i, 6);
	return get_hash(&row->name, r, i, 7);
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
					"xorb_put: the chunks end at %llu, past the xorb's "
					"%llu bytes",
					(unsigned long long)at, (unsigned long long)row->stored);
	if (raw != row->raw)
		return cairn__error_set(CAIRN_EINVALID,
					"xorb_put: the chunks decode to %llu bytes, the row "
					"says %llu",
					(unsigned long long)raw, (unsigned long long)row->raw);
	return 0;
}

/* All of a xorb's chunks in one statement. */
static int insert_chunks(meta_pg *pg, const cairn_hash *xorb, const cairn_chunk_row *chunks,
			 size_t n)
{
	int_array off = {NULL, 0}, packed_len = {NULL, 0}, raw = {NULL, 0};
	uint8_t *packed;
	int rc;

	if ((packed = pack_hashes(&chunks[0].hash, sizeof(*chunks), n)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	if ((rc = array_open(&off, n)) != 0 || (rc = array_open(&packed_len, n)) != 0 ||
	    (rc = array_open(&raw, n)) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		array_add(&off, (int64_t)chunks[i].offset);
		array_add(&packed_len, chunks[i].packed_len);
		array_add(&raw, chunks[i].raw_len);
	}
	{
		pg_arg a[5] = {hash_arg(xorb), PG_BYTES(packed, 32 * n), PG_TEXT(array_close(&off)),
			       PG_TEXT(array_close(&packed_len)), PG_TEXT(array_close(&raw))};

		rc = cairn__pg_run(pg, "xorb_put: chunk",
				   "INSERT INTO xorb_chunks (xorb_hash, idx, chunk_hash, "
				   "chunk_offset, packed_len, raw_len) SELECT $1::bytea, t.i - 1, "
				   NTH_HASH("$2", "t.i") ", t.o, t.p, t.r FROM "
				   "unnest($3::bigint[], $4::bigint[], $5::bigint[]) "
				   "WITH ORDINALITY AS t(o, p, r, i)",
				   5, a);
	}
done:
	free(packed);
	free(off.text);
	free(packed_len.text);
	free(raw.text);
	return rc;
}

static int pg_xorb_put(cairn_meta *m, const cairn_xorb_row *row, const cairn_chunk_row *chunks,
		       size_t n)
{
	meta_pg *pg = cairn__pg(m);
	char stored[24], raw[24], count[24], created[24], used[24];
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "xorb_put")) != 0)
		return rc;
	if (row == NULL || (n > 0 && chunks == NULL))
		return cairn__error_set(CAIRN_EINVALID, "xorb_put: NULL argument");
	if ((rc = check_u64(row->stored, "xorb size")) != 0 ||
	    (rc = check_u64(row->raw, "xorb raw size")) != 0 ||
	    (rc = check_chunks(row, chunks, n)) != 0)
		return rc;
	if (n > INT_MAX / 32)
		return cairn__error_set(CAIRN_EINVALID, "xorb_put: %zu chunks", n);

	if ((rc = cairn__pg_op_begin(pg, "xorb_put")) != 0)
		return rc;
	{
		pg_arg a[6] = {hash_arg(&row->hash),
			       PG_TEXT(cairn__pg_i64(stored, (int64_t)row->stored)),
			       PG_TEXT(cairn__pg_i64(raw, (int64_t)row->raw)),
			       PG_TEXT(cairn__pg_i64(count, row->chunks)),
			       PG_TEXT(cairn__pg_i64(created, row->created_ns)),
			       PG_TEXT(cairn__pg_i64(used, row->used_ns))};

		r = cairn__pg_exec(pg, "xorb_put",
				   "INSERT INTO xorbs (" XORB_COLS ") VALUES ($1::bytea, "
				   "$2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint) "
				   "ON CONFLICT (hash) DO NOTHING",
				   6, a, &rc);
		if (r != NULL && cairn__pg_changes(r) == 0) {
			/*
			 * Recorded already. Its uploader is about to reference it, so it
			 * counts as used now, like a xorb a dedup query promised: the
			 * grace period then protects it from a concurrent gc.
			 */
			pg_arg t[2] = {a[0], a[5]};

			rc = cairn__pg_run(pg, "xorb_put: touch",
					   "UPDATE xorbs SET used_ns = greatest(used_ns, "
					   "$2::bigint) WHERE hash = $1::bytea",
					   2, t);
		} else if (r != NULL && n > 0) {
			rc = insert_chunks(pg, &row->hash, chunks, n);
		}
		PQclear(r);
	}
	return cairn__pg_op_end(pg, rc, "xorb_put");
}

static int pg_xorb_get(cairn_meta *m, const cairn_hash *xorb, cairn_xorb_row *out)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_xorb_row row;
	PGresult *r;
	int rc;

	if (xorb == NULL || out == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_get: NULL argument");
	{
		pg_arg a[1] = {hash_arg(xorb)};

		r = cairn__pg_exec(pg, "xorb_get",
				   "SELECT " XORB_READ_COLS " FROM xorbs WHERE hash = $1::bytea", 1, a,
				   &rc);
	}
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s", hex(h, xorb));
	else
		rc = read_xorb(&row, r, 0);
	PQclear(r);
	if (rc == 0)
		*out = row;
	return rc;
}

/* out[] is written as rows are read: on error its contents are unspecified. */
static int pg_xorb_chunks(cairn_meta *m, const cairn_hash *xorb, uint32_t first, uint32_t end,
			  cairn_chunk_row *out, cairn_hash *name)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1], f[24], e[24];
	uint32_t at = first;
	PGresult *r;
	int rc;

	if (xorb == NULL || first > end || (out == NULL && end > first))
		return cairn__error_set(CAIRN_EINVALID, "xorb_chunks: bad arguments");
	if (name) {
		pg_arg a[1] = {hash_arg(xorb)};

		r = cairn__pg_exec(pg, "xorb_chunks",
				   "SELECT coalesce(rest_name, hash) FROM xorbs WHERE hash = $1::bytea",
				   1, a, &rc);
		if (r == NULL)
			return rc;
		if (PQntuples(r) == 0)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "no xorb %s", hex(h, xorb));
		else
			rc = get_hash(name, r, 0, 0);
		PQclear(r);
		if (rc != 0)
			return rc;
	}
	if (first == end)
		return 0;
	{
		pg_arg a[3] = {hash_arg(xorb), PG_TEXT(cairn__pg_i64(f, first)),
			       PG_TEXT(cairn__pg_i64(e, end))};

		r = cairn__pg_exec(pg, "xorb_chunks",
				   "SELECT idx, chunk_hash, chunk_offset, packed_len, raw_len "
				   "FROM xorb_chunks WHERE xorb_hash = $1::bytea "
				   "AND idx >= $2::bigint AND idx < $3::bigint ORDER BY idx",
				   3, a, &rc);
	}
	if (r == NULL)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		cairn_chunk_row *c;

		if (get_u64(r, i, 0) != at)
			break; /* a gap: reported below */
		c = &out[at - first];
		if ((rc = get_hash(&c->hash, r, i, 1)) != 0)
			break;
		c->offset = get_u64(r, i, 2);
		c->packed_len = get_u32(r, i, 3);
		c->raw_len = get_u32(r, i, 4);
		at++;
	}
	PQclear(r);
	if (rc == 0 && at != end)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "xorb %s: no chunk %u recorded",
				      hex(h, xorb), at);
	return rc;
}

static int pg_xorb_touch(cairn_meta *m, const cairn_hash *xorb, int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char missing[80], h[CAIRN_HASH_HEX_LEN + 1], now[24];
	int rc;

	if ((rc = cairn__pg_need_write(pg, "xorb_touch")) != 0)
		return rc;
	if (xorb == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_touch: no xorb");
	snprintf(missing, sizeof(missing), "no xorb %s", hex(h, xorb));
	{
		pg_arg a[2] = {hash_arg(xorb), PG_TEXT(cairn__pg_i64(now, now_ns))};

		return cairn__pg_change_one(pg, "xorb_touch",
				  "UPDATE xorbs SET used_ns = greatest(used_ns, $2::bigint) WHERE "
				  "hash = $1::bytea",
				  2, a, missing);
	}
}

static int pg_xorb_repack(cairn_meta *m, const cairn_hash *xorb, uint32_t old_gen, uint32_t gen,
			  const cairn_hash *name, uint64_t stored, const cairn_chunk_row *chunks,
			  size_t n, int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	int_array off = {NULL, 0}, plen = {NULL, 0}, raw = {NULL, 0};
	char h[CAIRN_HASH_HEX_LEN + 1], og[24], ng[24], st[24], now[24];
	cairn_xorb_row row, want;
	uint8_t *packed = NULL;
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "xorb_repack")) != 0)
		return rc;
	if (xorb == NULL || name == NULL || n == 0 || chunks == NULL || gen <= old_gen)
		return cairn__error_set(CAIRN_EINVALID, "xorb_repack: bad arguments");
	if ((rc = pg_xorb_get(m, xorb, &row)) != 0)
		return rc;
	if (row.gen != old_gen)
		return cairn__error_set(CAIRN_ENOTFOUND, "xorb %s is at generation %u, not %u",
					hex(h, xorb), row.gen, old_gen);
	want = row;
	want.stored = stored;
	if ((rc = check_u64(stored, "xorb size")) != 0 || (rc = check_chunks(&want, chunks, n)) != 0)
		return rc;
	if ((packed = pack_hashes(&chunks[0].hash, sizeof(*chunks), n)) == NULL)
		return CAIRN_ENOMEM;
	if ((rc = array_open(&off, n)) != 0 || (rc = array_open(&plen, n)) != 0 ||
	    (rc = array_open(&raw, n)) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		array_add(&off, (int64_t)chunks[i].offset);
		array_add(&plen, chunks[i].packed_len);
		array_add(&raw, chunks[i].raw_len);
	}
	if ((rc = cairn__pg_op_begin(pg, "xorb_repack")) != 0)
		goto done;
	{
		pg_arg a[5] = {hash_arg(xorb), PG_TEXT(cairn__pg_i64(og, old_gen)),
			       PG_TEXT(cairn__pg_i64(ng, gen)), hash_arg(name),
			       PG_TEXT(cairn__pg_i64(st, (int64_t)stored))};

		r = cairn__pg_exec(pg, "xorb_repack",
				   "UPDATE xorbs SET gen = $3::bigint, rest_name = $4::bytea, "
				   "stored = $5::bigint WHERE hash = $1::bytea AND gen = $2::bigint",
				   5, a, &rc);
		if (r != NULL) {
			if (cairn__pg_changes(r) != 1)
				rc = cairn__error_set(CAIRN_ENOTFOUND, "xorb %s changed meanwhile",
						      hex(h, xorb));
			PQclear(r);
		}
	}
	if (rc == 0) {
		/* every chunk moves, or nothing: the same hashes and raw lengths, new places */
		pg_arg a[5] = {hash_arg(xorb), PG_BYTES(packed, 32 * n), PG_TEXT(array_close(&off)),
			       PG_TEXT(array_close(&plen)), PG_TEXT(array_close(&raw))};

		r = cairn__pg_exec(pg, "xorb_repack: chunks",
				   "UPDATE xorb_chunks AS c SET chunk_offset = t.o, packed_len = t.p "
				   "FROM unnest($3::bigint[], $4::bigint[], $5::bigint[]) "
				   "WITH ORDINALITY AS t(o, p, r, i) WHERE c.xorb_hash = $1::bytea "
				   "AND c.idx = t.i - 1 AND c.chunk_hash = " NTH_HASH("$2", "t.i") " "
				   "AND c.raw_len = t.r",
				   5, a, &rc);
		if (r != NULL) {
			if (cairn__pg_changes(r) != n)
				rc = cairn__error_set(CAIRN_EINVALID,
						      "xorb_repack: the chunks of %s are not the ones "
						      "recorded",
						      hex(h, xorb));
			PQclear(r);
		}
	}
	/* a form kept as it was (nothing to gain) stays current, under its name */
	if (rc == 0 && !cairn_hash_equal(&row.name, name)) {
		pg_arg a[2] = {hash_arg(&row.name), PG_TEXT(cairn__pg_i64(now, now_ns))};

		rc = cairn__pg_run(pg, "xorb_repack: retire",
				   "INSERT INTO retired_names (name, retired_ns) VALUES ($1::bytea, "
				   "$2::bigint) ON CONFLICT (name) DO UPDATE SET retired_ns = "
				   "excluded.retired_ns",
				   2, a);
	}
	rc = cairn__pg_op_end(pg, rc, "xorb_repack");
done:
	free(packed);
	free(off.text);
	free(plen.text);
	free(raw.text);
	return rc;
}

static int pg_name_state(cairn_meta *m, const cairn_hash *name, int64_t *retired_ns)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	pg_arg a[1] = {hash_arg(name)};
	PGresult *r;
	int rc;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "name_state: NULL argument");
	r = cairn__pg_exec(pg, "name_state",
			   "SELECT 0, 0 FROM xorbs WHERE (hash = $1::bytea AND rest_name IS NULL) "
			   "OR rest_name = $1::bytea UNION ALL SELECT 1, retired_ns FROM "
			   "retired_names WHERE name = $1::bytea ORDER BY 1 LIMIT 1",
			   1, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no stored xorb is named %s", hex(h, name));
	} else {
		rc = (int)cairn__pg_get_i64(r, 0, 0);
		if (rc == 1 && retired_ns)
			*retired_ns = cairn__pg_get_i64(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

static int pg_retired_take(cairn_meta *m, int64_t cutoff_ns,
			   int (*fn)(void *ctx, const cairn_hash *name), void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	char cut[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(cut, cutoff_ns))};
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "retired_take")) != 0)
		return rc;
	if ((rc = cairn__pg_op_begin(pg, "retired_take")) != 0)
		return rc;
	/* the names that are no xorb's current form again: those the caller removes */
	r = cairn__pg_exec(pg, "retired_take",
			   "DELETE FROM retired_names AS n WHERE retired_ns < $1::bigint "
			   "RETURNING name, EXISTS (SELECT 1 FROM xorbs AS x WHERE "
			   "(x.hash = n.name AND x.rest_name IS NULL) OR x.rest_name = n.name)",
			   1, a, &rc);
	if (r != NULL) {
		for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
			cairn_hash name;
			if (PQgetvalue(r, i, 1)[0] == 't')
				continue;
			if ((rc = get_hash(&name, r, i, 0)) == 0 && fn)
				rc = fn(ctx, &name);
		}
		PQclear(r);
	}
	return cairn__pg_op_end(pg, rc, "retired_take");
}

static int pg_xorb_list(cairn_meta *m, cairn_meta_xorb_fn fn, void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	cairn_hash last;
	bool started = false;
	char page[24];
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "xorb_list: no callback");
	if ((rc = list_enter(pg, LIST_XORBS, "xorb_list")) != 0)
		return rc;
	cairn__pg_i64(page, PAGE);
	for (;;) {
		pg_arg a[2] = {started ? hash_arg(&last) : PG_BYTES(empty, 0), PG_TEXT(page)};
		PGresult *r = cairn__pg_exec(pg, "xorb_list",
					     "SELECT " XORB_READ_COLS " FROM xorbs "
					     "WHERE hash > $1::bytea ORDER BY hash "
					     "LIMIT $2::bigint",
					     2, a, &rc);
		int rows;

		if (r == NULL)
			break;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			cairn_xorb_row row;

			if ((rc = read_xorb(&row, r, i)) != 0)
				break;
			last = row.hash;
			started = true;
			rc = fn(ctx, &row);
		}
		PQclear(r);
		if (rc != 0 || rows < PAGE)
			break;
	}
	list_leave(pg, LIST_XORBS);
	return rc;
}

static int pg_chunk_lookup(cairn_meta *m, const cairn_hash *chunk, cairn_hash *xorb,
			   uint32_t *index)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash found;
	uint32_t idx = 0;
	PGresult *r;
	int rc;

	if (chunk == NULL)
		return cairn__error_set(CAIRN_EINVALID, "chunk_lookup: no chunk");
	{
		pg_arg a[1] = {hash_arg(chunk)};

		r = cairn__pg_exec(pg, "chunk_lookup",
				   "SELECT xorb_hash, idx FROM xorb_chunks WHERE chunk_hash = "
				   "$1::bytea LIMIT 1",
				   1, a, &rc);
	}
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no chunk %s recorded", hex(h, chunk));
	} else {
		rc = get_hash(&found, r, 0, 0);
		idx = get_u32(r, 0, 1);
	}
	PQclear(r);
	if (rc != 0)
		return rc;
	if (xorb)
		*xorb = found;
	if (index)
		*index = idx;
	return 0;
}

/* ---- garbage collection ---------------------------------------------------------------------- */

/* Delete the xorbs of a page (hashes packed) and their chunk index entries. */
static int gc_delete(meta_pg *pg, const cairn_xorb_row *rows, size_t n)
{
	uint8_t *packed = pack_hashes(&rows[0].hash, sizeof(*rows), n);
	char count[24];
	int rc;

	if (packed == NULL)
		return CAIRN_ENOMEM;
	{
		pg_arg a[2] = {PG_BYTES(packed, 32 * n), PG_TEXT(cairn__pg_i64(count, (int64_t)n))};

		if ((rc = cairn__pg_run(pg, "gc: chunk index",
					"DELETE FROM xorb_chunks WHERE xorb_hash IN (SELECT "
					NTH_HASH("$1", "i") " FROM generate_series(1, "
					"$2::integer) AS i)",
					2, a)) == 0)
			rc = cairn__pg_run(pg, "gc: xorb",
					   "DELETE FROM xorbs WHERE hash IN (SELECT "
					   NTH_HASH("$1", "i") " FROM generate_series(1, "
					   "$2::integer) AS i)",
					   2, a);
	}
	free(packed);
	return rc;
}

/*
 * All of it or nothing: if fn returns non-zero (returned) or a statement
 * fails, every deletion of this call is undone. The doomed xorbs come a
 * page at a time, in hash order; fn sees each page before it is deleted.
 */
static int pg_gc(cairn_meta *m, int64_t cutoff_ns, cairn_meta_xorb_fn fn, void *ctx,
		 uint64_t *files_deleted)
{
	meta_pg *pg = cairn__pg(m);
	cairn_xorb_row *doomed = NULL;
	cairn_hash last;
	bool started = false;
	uint64_t files = 0;
	char cut[24], page[24];
	pg_arg a[1] = {PG_TEXT(cairn__pg_i64(cut, cutoff_ns))};
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_op_begin(pg, "gc")) != 0)
		return rc;
	cairn__pg_i64(page, PAGE);

	/* files first: the xorbs they alone held become collectable in the same pass */
	rc = cairn__pg_run(pg, "gc: file terms",
			   "DELETE FROM file_terms WHERE file_hash IN "
			   "(SELECT hash FROM files WHERE " GC_FILE_WHERE ")",
			   1, a);
	if (rc == 0) {
		r = cairn__pg_exec(pg, "gc: files", "DELETE FROM files WHERE " GC_FILE_WHERE, 1, a,
				   &rc);
		if (r != NULL)
			files = cairn__pg_changes(r);
		PQclear(r);
	}
	if (rc == 0)
		rc = cairn__pg_run(pg, "gc: chunk grants",
				   "DELETE FROM chunk_grants WHERE created_ns < $1::bigint", 1, a);
	if (rc == 0 && (doomed = malloc(PAGE * sizeof(*doomed))) == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for gc candidates");
	while (rc == 0) {
		pg_arg p[3] = {a[0], started ? hash_arg(&last) : PG_BYTES(empty, 0),
			       PG_TEXT(page)};
		size_t n = 0;

		r = cairn__pg_exec(pg, "gc: xorbs",
				   "SELECT " XORB_READ_COLS " FROM xorbs WHERE "
				   "created_ns < $1::bigint AND used_ns < $1::bigint "
				   "AND hash > $2::bytea AND NOT EXISTS (SELECT 1 FROM "
				   "file_terms WHERE file_terms.xorb_hash = xorbs.hash) "
				   "ORDER BY hash LIMIT $3::bigint",
				   3, p, &rc);
		if (r == NULL)
			break;
		for (int i = 0; i < PQntuples(r) && rc == 0; i++)
			if ((rc = read_xorb(&doomed[n], r, i)) == 0)
				n++;
		PQclear(r);
		for (size_t i = 0; i < n && rc == 0; i++)
			if (fn)
				rc = fn(ctx, &doomed[i]);
		if (rc == 0 && n > 0)
			rc = gc_delete(pg, doomed, n);
		if (n < PAGE)
			break;
		last = doomed[n - 1].hash;
		started = true;
	}
	free(doomed);
	rc = cairn__pg_op_end(pg, rc, "gc");
	if (rc == 0 && files_deleted)
		*files_deleted = files;
	return rc;
}

/* ---- the chunk protocol's access rules ------------------------------------------------------- */

static int pg_chunk_access(cairn_meta *m, const cairn_hash *chunk, const char *ns, bool all,
			   int64_t grant_since_ns, cairn_hash *xorb, uint32_t *index,
			   uint32_t *raw_len)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1], since[24];
	cairn_hash found;
	uint32_t idx = 0, raw = 0;
	PGresult *r;
	int rc;

	if (chunk == NULL)
		return cairn__error_set(CAIRN_EINVALID, "chunk_access: no chunk");
	{
		pg_arg a[4] = {hash_arg(chunk), PG_TEXT(ns), PG_TEXT(all ? "true" : "false"),
			       PG_TEXT(cairn__pg_i64(since, grant_since_ns))};

		/*
		 * $1 chunk, $2 the caller's namespace (NULL: anonymous), $3 every
		 * bucket counts (admin), $4 oldest grant that counts. A copy of the
		 * chunk is usable when a term of an object the caller can read
		 * covers it, or when the caller holds a grant for the chunk (then
		 * any copy will do).
		 */
		r = cairn__pg_exec(pg, "chunk_access",
				   "SELECT c.xorb_hash, c.idx, c.raw_len FROM xorb_chunks AS c "
				   "WHERE c.chunk_hash = $1::bytea AND ("
				   "($2::text IS NOT NULL AND EXISTS (SELECT 1 FROM "
				   "chunk_grants AS g WHERE g.ns = $2::text AND "
				   "g.chunk_hash = $1::bytea AND g.created_ns >= $4::bigint)) "
				   "OR EXISTS (SELECT 1 FROM file_terms AS t "
				   "JOIN objects AS o ON o.file_hash = t.file_hash "
				   "JOIN buckets AS b ON b.id = o.bucket_id "
				   "WHERE t.xorb_hash = c.xorb_hash AND t.chunk_first <= c.idx "
				   "AND c.idx < t.chunk_end AND ($3::boolean OR NOT b.private OR "
				   "b.ns = $2::text))) LIMIT 1",
				   4, a, &rc);
	}
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND,
				      "chunk %s is not stored or not visible to you",
				      hex(h, chunk));
	} else {
		rc = get_hash(&found, r, 0, 0);
		idx = get_u32(r, 0, 1);
		raw = get_u32(r, 0, 2);
	}
	PQclear(r);
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

/* One statement for all the chunks (DISTINCT: a chunk named twice is one grant). */
static int pg_grant_put(cairn_meta *m, const char *ns, const cairn_hash *chunks, size_t n,
			int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	uint8_t *packed;
	char now[24], count[24];
	int rc;

	if (ns == NULL || (n > 0 && chunks == NULL))
		return cairn__error_set(CAIRN_EINVALID, "grant_put: no namespace or chunks");
	if (n > INT_MAX / 32)
		return cairn__error_set(CAIRN_EINVALID, "grant_put: %zu chunks", n);
	if ((rc = cairn__pg_op_begin(pg, "grant_put")) != 0)
		return rc;
	if (n == 0)
		return cairn__pg_op_end(pg, 0, "grant_put");
	if ((packed = pack_hashes(chunks, sizeof(*chunks), n)) == NULL)
		return cairn__pg_op_end(pg, CAIRN_ENOMEM, "grant_put");
	{
		pg_arg a[4] = {PG_TEXT(ns), PG_BYTES(packed, 32 * n),
			       PG_TEXT(cairn__pg_i64(now, now_ns)),
			       PG_TEXT(cairn__pg_i64(count, (int64_t)n))};

		rc = cairn__pg_run(pg, "grant_put",
				   "INSERT INTO chunk_grants (ns, chunk_hash, created_ns) "
				   "SELECT DISTINCT $1::text, " NTH_HASH("$2", "i") ", "
				   "$3::bigint FROM generate_series(1, $4::integer) AS i "
				   "ON CONFLICT (ns, chunk_hash) DO UPDATE SET created_ns = "
				   "greatest(chunk_grants.created_ns, excluded.created_ns)",
				   4, a);
	}
	free(packed);
	return cairn__pg_op_end(pg, rc, "grant_put");
}

static int pg_file_visible(cairn_meta *m, const cairn_hash *file, const char *ns, bool all)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1];
	PGresult *r;
	int rc;

	if (file == NULL)
		return cairn__error_set(CAIRN_EINVALID, "file_visible: no file");
	{
		pg_arg a[3] = {hash_arg(file), PG_TEXT(ns), PG_TEXT(all ? "true" : "false")};

		r = cairn__pg_exec(pg, "file_visible",
				   "SELECT 1 FROM objects AS o "
				   "JOIN buckets AS b ON b.id = o.bucket_id "
				   "WHERE o.file_hash = $1::bytea AND ($3::boolean "
				   "OR NOT b.private OR b.ns = $2::text) LIMIT 1",
				   3, a, &rc);
	}
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no file %s you can read", hex(h, file));
	PQclear(r);
	return rc;
}

/* ---- the table ------------------------------------------------------------------------------- */

void cairn__pg_data_init(cairn_meta *m)
{
	m->object_put = pg_object_put;
	m->object_get = pg_object_get;
	m->object_delete = pg_object_delete;
	m->object_list = pg_object_list;
	m->file_put = pg_file_put;
	m->file_get = pg_file_get;
	m->file_list = pg_file_list;
	m->xorb_put = pg_xorb_put;
	m->xorb_get = pg_xorb_get;
	m->xorb_chunks = pg_xorb_chunks;
	m->xorb_touch = pg_xorb_touch;
	m->xorb_list = pg_xorb_list;
	m->xorb_repack = pg_xorb_repack;
	m->name_state = pg_name_state;
	m->retired_take = pg_retired_take;
	m->chunk_lookup = pg_chunk_lookup;
	m->gc = pg_gc;
	m->chunk_access = pg_chunk_access;
	m->grant_put = pg_grant_put;
	m->file_visible = pg_file_visible;
	m->bucket_terms = pg_bucket_terms;
	m->prefix_totals = pg_prefix_totals;
}
