/*
 * repo.c - the storage engine over a metadata backend and a xorb store
 * (include/cairn/repo.h): opening a data directory, buckets, stats, and
 * reading, listing, copying and deleting objects. Writing lives in
 * upload.c, garbage collection and fsck in maint.c.
 */
#include "core_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t cairn__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int make_dir(const char *path)
{
	/* a new data directory is its owner's alone: the metadata holds S3 secrets */
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return cairn__error_set(CAIRN_EIO, "mkdir %s: %s", path, strerror(errno));
}

int cairn_repo_open_with(cairn_repo **out, cairn_meta *meta, cairn_store *store)
{
	cairn_repo *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		if (meta)
			meta->close(meta);
		if (store)
			store->close(store);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	r->meta = meta;
	r->store = store;
	*out = r;
	return 0;
}

int cairn_repo_open(cairn_repo **out, const char *data_dir)
{
	char path[4096];
	cairn_meta *meta = NULL;
	cairn_store *store = NULL;
	int rc;

	if (strlen(data_dir) > sizeof(path) - 32)
		return cairn__error_set(CAIRN_EINVALID, "data directory path too long");
	rc = make_dir(data_dir);
	if (rc < 0)
		return rc;
	rc = cairn_meta_open(&meta, data_dir); /* $CAIRN_META: PostgreSQL */
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/xorbs", data_dir);
	/* $CAIRN_STORE: the xorbs elsewhere (`cairn serve --store`, docs/deploy.md) */
	if (getenv("CAIRN_STORE") && *getenv("CAIRN_STORE"))
		rc = cairn_store_open_url(&store, getenv("CAIRN_STORE"), getenv("CAIRN_S3_ENDPOINT"),
					  getenv("CAIRN_S3_CREDENTIALS"));
	else
		rc = cairn_store_local_open(&store, path);
	if (rc < 0) {
		meta->close(meta);
		return rc;
	}
	return cairn_repo_open_with(out, meta, store);
}

void cairn_repo_close(cairn_repo *r)
{
	if (r == NULL)
		return;
	if (r->meta)
		r->meta->close(r->meta);
	if (r->store)
		r->store->close(r->store);
	free(r);
}

int cairn__bucket_id(cairn_repo *r, const char *ns, const char *name, int64_t *id)
{
	cairn_bucket_row row;
	int rc = r->meta->bucket_get(r->meta, ns, name, &row);

	if (rc == 0)
		*id = row.id;
	else if (rc == CAIRN_ENOTFOUND)
		cairn__error_set(rc, "no bucket %s/%s", ns, name);
	return rc;
}

/* Run a one-statement write in its own transaction. */
#define IN_WRITE_TXN(r, expr)                                                                \
	do {                                                                                   \
		int rc_ = (r)->meta->begin((r)->meta, true);                                    \
		if (rc_ < 0)                                                                    \
			return rc_;                                                             \
		rc_ = (expr);                                                                   \
		if (rc_ < 0) {                                                                  \
			(r)->meta->rollback((r)->meta);                                         \
			return rc_;                                                             \
		}                                                                               \
		return (r)->meta->commit((r)->meta);                                            \
	} while (0)

int cairn_bucket_create(cairn_repo *r, const char *ns, const char *name, bool is_private)
{
	int64_t id;

	IN_WRITE_TXN(r, r->meta->bucket_create(r->meta, ns, name, is_private, cairn__now_ns(), &id));
}

int cairn_bucket_get(cairn_repo *r, const char *ns, const char *name, cairn_bucket_row *out)
{
	return r->meta->bucket_get(r->meta, ns, name, out);
}

int cairn_bucket_list(cairn_repo *r, const char *ns, cairn_meta_bucket_fn fn, void *ctx)
{
	return r->meta->bucket_list(r->meta, ns, fn, ctx);
}

static int set_private_txn(cairn_repo *r, const char *ns, const char *name, bool is_private)
{
	int64_t id;
	int rc = cairn__bucket_id(r, ns, name, &id);

	return rc < 0 ? rc : r->meta->bucket_set_private(r->meta, id, is_private);
}

static int set_regions_txn(cairn_repo *r, const char *ns, const char *name, const char *regions)
{
	int64_t id;
	int rc = cairn__bucket_id(r, ns, name, &id);

	return rc < 0 ? rc : r->meta->bucket_set_regions(r->meta, id, regions);
}

int cairn_bucket_set_regions(cairn_repo *r, const char *ns, const char *name, const char *regions)
{
	IN_WRITE_TXN(r, set_regions_txn(r, ns, name, regions));
}

void cairn_repo_on_put(cairn_repo *r, cairn_put_hook fn, void *ctx)
{
	r->on_put = fn;
	r->on_put_ctx = ctx;
}

int cairn__object_put(cairn_repo *r, int64_t bucket, const cairn_object_row *row)
{
	int rc = r->meta->object_put(r->meta, bucket, row);

	if (rc == 0 && r->on_put != NULL)
		r->on_put(r->on_put_ctx, bucket, &row->file);
	return rc;
}

int cairn_bucket_set_private(cairn_repo *r, const char *ns, const char *name, bool is_private)
{
	IN_WRITE_TXN(r, set_private_txn(r, ns, name, is_private));
}

static int bucket_delete_txn(cairn_repo *r, const char *ns, const char *name)
{
	int64_t id;
	int rc = cairn__bucket_id(r, ns, name, &id);

	return rc < 0 ? rc : r->meta->bucket_delete(r->meta, id);
}

int cairn_bucket_delete(cairn_repo *r, const char *ns, const char *name)
{
	IN_WRITE_TXN(r, bucket_delete_txn(r, ns, name));
}

/* --- stats: distinct chunks of the files a set of objects uses ------------------- */

/* Chunk ranges used per xorb, merged at the end. */
typedef struct range_use {
	cairn_hash xorb;
	uint32_t first, end;
} range_use;

typedef struct stats_ctx {
	cairn_repo *r;
	range_use *uses;
	size_t n, cap;
	cairn_stats *st;
} stats_ctx;

static int add_use(void *ctx, const cairn_hash *xorb, uint32_t first, uint32_t end)
{
	stats_ctx *sc = ctx;

	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 256;
		range_use *nu = realloc(sc->uses, ncap * sizeof(*nu));
		if (nu == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		sc->uses = nu;
		sc->cap = ncap;
	}
	sc->uses[sc->n].xorb = *xorb;
	sc->uses[sc->n].first = first;
	sc->uses[sc->n].end = end;
	sc->n++;
	return 0;
}

static int cmp_use(const void *a, const void *b)
{
	const range_use *x = a, *y = b;
	int c = memcmp(x->xorb.bytes, y->xorb.bytes, 32);

	if (c)
		return c;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sum packed bytes and count of the union of the recorded ranges. */
static int sum_uses(stats_ctx *sc)
{
	cairn_chunk_row *rows = NULL;
	size_t rows_cap = 0;
	size_t i = 0;
	int rc = 0;

	if (sc->n > 1)
		qsort(sc->uses, sc->n, sizeof(*sc->uses), cmp_use);
	while (i < sc->n) {
		size_t j = i;
		uint32_t lo, hi;

		sc->st->xorbs++;
		/* merge overlapping ranges of the same xorb */
		while (j < sc->n && cairn_hash_equal(&sc->uses[j].xorb, &sc->uses[i].xorb)) {
			lo = sc->uses[j].first;
			hi = sc->uses[j].end;
			j++;
			while (j < sc->n && cairn_hash_equal(&sc->uses[j].xorb, &sc->uses[i].xorb) &&
			       sc->uses[j].first <= hi) {
				if (sc->uses[j].end > hi)
					hi = sc->uses[j].end;
				j++;
			}
			if (hi > lo) {
				if (hi - lo > rows_cap) {
					cairn_chunk_row *nr = realloc(rows, (hi - lo) * sizeof(*nr));
					if (nr == NULL) {
						rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
						goto done;
					}
					rows = nr;
					rows_cap = hi - lo;
				}
				rc = sc->r->meta->xorb_chunks(sc->r->meta, &sc->uses[i].xorb, lo, hi,
							     rows, NULL);
				if (rc < 0)
					goto done;
				for (uint32_t k = 0; k < hi - lo; k++) {
					sc->st->stored_bytes += rows[k].packed_len;
					sc->st->dedup_bytes += rows[k].raw_len;
				}
				sc->st->chunks += hi - lo;
			}
		}
		i = j;
	}
done:
	free(rows);
	return rc;
}

int cairn_bucket_stats(cairn_repo *r, const char *ns, const char *name, cairn_stats *out)
{
	stats_ctx sc;
	int64_t id;
	int rc;

	memset(&sc, 0, sizeof(sc));
	memset(out, 0, sizeof(*out));
	sc.r = r;
	sc.st = out;
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = cairn__bucket_id(r, ns, name, &id);
	if (rc == 0)
		rc = r->meta->bucket_totals(r->meta, id, &out->objects, &out->logical_bytes);
	/* every term of every object, in one query, merged per xorb by sum_uses */
	if (rc == 0)
		rc = r->meta->bucket_terms(r->meta, id, add_use, &sc);
	if (rc == 0)
		rc = sum_uses(&sc);
	r->meta->rollback(r->meta);
	free(sc.uses);
	return rc;
}

static int stats_xorb(void *ctx, const cairn_xorb_row *row)
{
	cairn_stats *st = ctx;

	st->xorbs++;
	st->chunks += row->chunks;
	st->stored_bytes += row->stored;
	st->dedup_bytes += row->raw;
	return 0;
}

typedef struct totals_ctx {
	cairn_repo *r;
	cairn_stats *st;
	int err;
} totals_ctx;

static int totals_bucket(void *ctx, const cairn_bucket_row *b)
{
	totals_ctx *tc = ctx;
	uint64_t objects, bytes;
	int rc = tc->r->meta->bucket_totals(tc->r->meta, b->id, &objects, &bytes);

	if (rc < 0) {
		tc->err = rc;
		return 1;
	}
	tc->st->objects += objects;
	tc->st->logical_bytes += bytes;
	return 0;
}

int cairn_repo_stats(cairn_repo *r, cairn_stats *out)
{
	totals_ctx tc = {r, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = r->meta->bucket_list(r->meta, NULL, totals_bucket, &tc);
	if (rc > 0)
		rc = 0;
	if (tc.err < 0)
		rc = tc.err;
	if (rc == 0)
		rc = r->meta->xorb_list(r->meta, stats_xorb, out);
	r->meta->rollback(r->meta);
	return rc;
}

/* --- objects -------------------------------------------------------------------- */

int cairn_object_stat(cairn_repo *r, const char *ns, const char *name, const char *key,
		      size_t key_len, cairn_object_row *out)
{
	int64_t id;
	int rc = cairn__bucket_id(r, ns, name, &id);

	if (rc < 0)
		return rc;
	rc = r->meta->object_get(r->meta, id, key, key_len, out);
	if (rc == CAIRN_ENOTFOUND)
		cairn__error_set(rc, "no object '%.*s' in %s/%s", (int)(key_len > 200 ? 200 : key_len),
				 key, ns, name);
	return rc;
}

static int object_delete_txn(cairn_repo *r, const char *ns, const char *name, const char *key,
			     size_t key_len)
{
	int64_t id;
	int rc = cairn__bucket_id(r, ns, name, &id);

	return rc < 0 ? rc : r->meta->object_delete(r->meta, id, key, key_len);
}

int cairn_object_delete(cairn_repo *r, const char *ns, const char *name, const char *key,
			size_t key_len)
{
	IN_WRITE_TXN(r, object_delete_txn(r, ns, name, key, key_len));
}

typedef struct copy_args {
	const char *sns, *sname, *skey, *dns, *dname, *dkey;
	size_t sklen, dklen;
	const cairn__put_opts *replace; /* NULL: keep the source's */
} copy_args;

static int object_copy_txn(cairn_repo *r, const copy_args *a)
{
	int64_t sid = 0, did = 0;
	cairn_object_row row;
	/* the source's strings live in the meta until its next call: keep copies */
	char ctype[CAIRN_CTYPE_MAX + 1];
	char *meta = NULL;
	int rc = cairn__bucket_id(r, a->sns, a->sname, &sid);

	if (rc == 0)
		rc = cairn__bucket_id(r, a->dns, a->dname, &did);
	if (rc == 0) {
		rc = r->meta->object_get(r->meta, sid, a->skey, a->sklen, &row);
		if (rc == CAIRN_ENOTFOUND)
			cairn__error_set(rc, "no object '%.*s' in %s/%s",
					 (int)(a->sklen > 200 ? 200 : a->sklen), a->skey, a->sns,
					 a->sname);
	}
	if (rc < 0)
		return rc;
	if (a->replace) {
		const cairn__put_opts *o = a->replace;
		row.mtime_ns = o->mtime_ns;
		row.content_type = o->content_type;
		row.has_md5 = o->md5 != NULL;
		if (o->md5)
			memcpy(row.md5, o->md5, 16);
		else
			memset(row.md5, 0, 16);
		if (o->parts != row.parts)
			row.part_sizes = NULL; /* other parts than the source's: sizes unknown */
		row.parts = o->parts;
		row.user_meta = o->user_meta;
	} else {
		if (row.content_type) {
			snprintf(ctype, sizeof(ctype), "%s", row.content_type);
			row.content_type = ctype;
		}
		if (row.user_meta) {
			meta = strdup(row.user_meta);
			if (meta == NULL)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory");
			row.user_meta = meta;
		}
	}
	row.key = a->dkey;
	row.key_len = a->dklen;
	row.created_ns = cairn__now_ns();
	rc = cairn__object_put(r, did, &row);
	free(meta);
	return rc;
}

int cairn_object_copy_with(cairn_repo *r, const char *src_ns, const char *src_name,
			   const char *src_key, size_t src_key_len, const char *dst_ns,
			   const char *dst_name, const char *dst_key, size_t dst_key_len,
			   const cairn_put_options *replace)
{
	cairn__put_opts o;
	copy_args a = {src_ns, src_name, src_key, dst_ns, dst_name, dst_key,
		       src_key_len, dst_key_len, replace ? &o : NULL};
	int rc = cairn__put_opts_read(&o, replace);

	if (rc < 0)
		return rc;
	IN_WRITE_TXN(r, object_copy_txn(r, &a));
}

int cairn_object_copy(cairn_repo *r, const char *src_ns, const char *src_name,
		      const char *src_key, size_t src_key_len, const char *dst_ns,
		      const char *dst_name, const char *dst_key, size_t dst_key_len)
{
	return cairn_object_copy_with(r, src_ns, src_name, src_key, src_key_len, dst_ns, dst_name,
				      dst_key, dst_key_len, NULL);
}

/* --- reading ---------------------------------------------------------------------- */

/* Packed bytes read from the store at once, at most (bounds memory). */
#define READ_GROUP (8u << 20)

struct cairn_reader {
	cairn_repo *r;
	cairn_hash file;
	uint64_t size;
	cairn_term *terms;
	uint64_t *starts; /* raw offset where each term begins */
	size_t n;
	/* the chunk rows of one term, kept: a download reads a term in many pieces */
	size_t rows_term; /* which term they belong to, or SIZE_MAX */
	cairn_hash rows_name; /* the stored form their offsets are into */
	cairn_chunk_row *rows; /* chunks [first - pre, end + post) of the term's xorb */
	cairn_hash *hashes;
	size_t rows_cap;
	size_t pre, post; /* rows around the term's own: the rest of runs it cuts into */
	uint8_t *packed, *raw;
	size_t packed_cap, raw_cap;
};

/* The most a stored chunk can take (its header, and LZ4's worst case on
 * 128 KiB: a writer stores a chunk as is when compression does not help),
 * or a run's first chunk (the whole run's frame). A run's later chunks are
 * their headers alone. */
#define PACKED_MAX (CAIRN_XORB_CHUNK_HEADER_LEN + CAIRN_CHUNK_MAX + CAIRN_CHUNK_MAX / 64 + 64)
#define RUN_PACKED_MAX (CAIRN_XORB_CHUNK_HEADER_LEN + CAIRN_XORB_RUN_MAX_RAW)

int cairn__term_rows(cairn_repo *r, const cairn_term *t, const cairn_xorb_row *xr,
		     cairn_chunk_row **rows, size_t *cap, uint32_t *lo, uint32_t *head,
		     uint32_t *end)
{
	uint32_t a = t->first, b = t->end, h, e;
	size_t all;
	int rc;

	/* a term from the metadata sizes the arrays: no more chunks than a xorb can hold */
	if (t->end <= t->first ||
	    t->end - t->first > CAIRN_XORB_MAX_BYTES / (CAIRN_XORB_CHUNK_HEADER_LEN + 1))
		return cairn__error_set(CAIRN_ECORRUPT, "term with chunks %u..%u", t->first, t->end);
	if (xr->chunks < t->end)
		return cairn__error_set(CAIRN_ECORRUPT, "term past its xorb's %u chunks", xr->chunks);
	if (!cairn_hash_equal(&xr->name, &xr->hash)) {
		a = t->first > CAIRN_XORB_RUN_MAX_CHUNKS ? t->first - CAIRN_XORB_RUN_MAX_CHUNKS : 0;
		b = xr->chunks - t->end > CAIRN_XORB_RUN_MAX_CHUNKS ? t->end + CAIRN_XORB_RUN_MAX_CHUNKS
								     : xr->chunks;
	}
	all = b - a;
	if (all > *cap) {
		cairn_chunk_row *nr = realloc(*rows, all * sizeof(*nr));
		if (nr == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		*rows = nr;
		*cap = all;
	}
	rc = r->meta->xorb_chunks(r->meta, &t->xorb, a, b, *rows, NULL);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < all; k++) {
		const cairn_chunk_row *c = &(*rows)[k];
		if (c->raw_len == 0 || c->raw_len > CAIRN_CHUNK_MAX ||
		    c->packed_len < CAIRN_XORB_CHUNK_HEADER_LEN || c->packed_len > RUN_PACKED_MAX)
			return cairn__error_set(CAIRN_ECORRUPT, "chunk %zu has impossible sizes",
						(size_t)a + k);
	}
	h = t->first - a;
	e = t->end - a;
	while (h > 0 && CAIRN__IS_RUN_NEXT((*rows)[h]))
		h--;
	if (CAIRN__IS_RUN_NEXT((*rows)[h]))
		return cairn__error_set(CAIRN_ECORRUPT, "chunk %zu: a run with no head",
					(size_t)a + h);
	while (e < all && CAIRN__IS_RUN_NEXT((*rows)[e]))
		e++;
	*lo = a;
	*head = a + h;
	*end = a + e;
	return 0;
}

/*
 * The chunk rows of term ti (cached), checked against what reading them
 * will trust: every size bounded, and the sizes adding up to the term's.
 */
static int load_term_rows(cairn_reader *rd, size_t ti)
{
	const cairn_term *t = &rd->terms[ti];
	size_t cap = rd->rows_cap, n;
	uint32_t lo, head, end;
	cairn_xorb_row xr;
	uint64_t raw = 0;
	int rc;

	if (rd->rows_term == ti)
		return 0;
	rd->rows_term = SIZE_MAX;
	rd->pre = rd->post = 0;
	/* (one read transaction: the name and the offsets are of one form) */
	rc = rd->r->meta->xorb_get(rd->r->meta, &t->xorb, &xr);
	if (rc == 0)
		rc = cairn__term_rows(rd->r, t, &xr, &rd->rows, &rd->rows_cap, &lo, &head, &end);
	if (rc == 0 && rd->rows_cap > cap) {
		cairn_hash *nh = realloc(rd->hashes, rd->rows_cap * sizeof(*nh));
		if (nh == NULL)
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		else
			rd->hashes = nh;
	}
	if (rc < 0) {
		rd->rows_cap = cap; /* the room both arrays have: the hashes did not grow */
		return rc;
	}
	rd->rows_name = xr.name;
	/* keep the term's rows and those of the runs it cuts into */
	n = end - head;
	memmove(rd->rows, rd->rows + (head - lo), n * sizeof(*rd->rows));
	for (size_t k = 0; k < n; k++)
		rd->hashes[k] = rd->rows[k].hash;
	rd->pre = t->first - head;
	rd->post = end - t->end;
	for (size_t k = 0; k < t->end - t->first; k++)
		raw += rd->rows[rd->pre + k].raw_len;
	if (raw != t->raw_len)
		return cairn__error_set(CAIRN_ECORRUPT, "term chunks add up to %llu, not %llu",
					(unsigned long long)raw, (unsigned long long)t->raw_len);
	rd->rows_term = ti;
	return 0;
}

/*
 * Emit bytes [want_lo, want_hi) of a term whose raw bytes start at raw_base,
 * reading and verifying only the chunks that overlap.
 */
static int read_term(cairn_reader *rd, size_t ti, uint64_t want_lo, uint64_t want_hi,
		     cairn_write_fn fn, void *ctx)
{
	cairn_repo *r = rd->r;
	const cairn_term *t = &rd->terms[ti];
	size_t n = t->end - t->first;
	const cairn_chunk_row *rows;
	const cairn_hash *hashes;
	uint8_t **packed = &rd->packed, **raw = &rd->raw;
	size_t *packed_cap = &rd->packed_cap, *raw_cap = &rd->raw_cap;
	uint64_t pos = rd->starts[ti];
	size_t i = 0;
	int rc;

	rc = load_term_rows(rd, ti);
	if (rc < 0)
		goto fail;
	/* rows[pre + k] is the term's chunk k; rows before and after finish runs */
	rows = rd->rows;
	hashes = rd->hashes;
	i = rd->pre;
	n += rd->pre;
	/* skip chunks wholly before the range */
	while (i < n && pos + rows[i].raw_len <= want_lo) {
		pos += rows[i].raw_len;
		i++;
	}
	while (i < n && pos < want_hi) {
		size_t j = i, s = i, e, plen = 0, rlen = 0, all = 0, skip = 0, got = 0;
		uint64_t cut_lo, cut_hi;

		/* a group of chunks: up to READ_GROUP bytes stored and decoded
		 * (a chunk that compresses well must not grow the buffer), and
		 * only what is wanted */
		do {
			plen += rows[j].packed_len;
			rlen += rows[j].raw_len;
			j++;
		} while (j < n && plen + rows[j].packed_len <= READ_GROUP &&
			 rlen + rows[j].raw_len <= READ_GROUP && pos + rlen < want_hi);
		/* runs are read whole: from the head of the first's, to the end of the last's */
		while (CAIRN__IS_RUN_NEXT(rows[s]) && s > 0)
			s--;
		for (e = j; e < n + rd->post && CAIRN__IS_RUN_NEXT(rows[e]); e++)
			;
		/* offsets come from the metadata: a span that runs backwards or past a xorb is damage */
		if (rows[e - 1].offset < rows[s].offset ||
		    rows[e - 1].offset + rows[e - 1].packed_len - rows[s].offset >
			    CAIRN_XORB_MAX_BYTES) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "chunk offsets out of order");
			goto fail;
		}
		plen = (size_t)(rows[e - 1].offset + rows[e - 1].packed_len - rows[s].offset);
		for (size_t k = s; k < e; k++)
			all += rows[k].raw_len;
		for (size_t k = s; k < i; k++)
			skip += rows[k].raw_len;
		if (plen > *packed_cap) {
			uint8_t *np = realloc(*packed, plen);
			if (np == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
				goto done;
			}
			*packed = np;
			*packed_cap = plen;
		}
		if (all > *raw_cap) {
			uint8_t *nr = realloc(*raw, all);
			if (nr == NULL) {
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
				goto done;
			}
			*raw = nr;
			*raw_cap = all;
		}
		rc = r->store->read(r->store, &rd->rows_name, rows[s].offset, plen, *packed);
		if (rc < 0)
			goto fail;
		rc = cairn_xorb_decode_range(*raw, all, &got, *packed, plen, hashes + s, e - s);
		if (rc == 0 && got != all)
			rc = cairn__error_set(CAIRN_ECORRUPT, "chunks decode to %zu bytes, expected %zu",
					      got, all);
		if (rc < 0)
			goto fail;
		cut_lo = want_lo > pos ? want_lo - pos : 0;
		cut_hi = want_hi < pos + rlen ? want_hi - pos : rlen;
		if (cut_hi > cut_lo) {
			rc = fn(ctx, *raw + skip + cut_lo, (size_t)(cut_hi - cut_lo));
			if (rc != 0)
				goto done;
		}
		pos += rlen;
		i = j;
	}
	goto done;
fail:
	/*
	 * Data the metadata promises but the store cannot give back, or gives
	 * back wrong (missing file, short file, a size or hash that does not
	 * match): corruption, named, never "not found" for a key that exists.
	 */
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT || rc == CAIRN_ETOOBIG) {
		char hex[CAIRN_HASH_HEX_LEN + 1], why[256];
		cairn_hash_to_hex(hex, &t->xorb);
		/* copy first: the message is formatted into the same slot */
		snprintf(why, sizeof(why), "%s", cairn_error_last());
		rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s chunks %zu..%zu: %s", hex,
				      (size_t)t->first + i - rd->pre, (size_t)t->end, why);
	}
done:
	return rc;
}

/* Load rd->file's terms (in the caller's read transaction). */
static int reader_terms(cairn_reader *rd)
{
	int rc = rd->r->meta->file_get(rd->r->meta, &rd->file, &rd->size, &rd->terms, &rd->n);

	if (rc == CAIRN_ENOTFOUND) {
		char hex[CAIRN_HASH_HEX_LEN + 1];
		cairn_hash_to_hex(hex, &rd->file);
		rc = cairn__error_set(CAIRN_ECORRUPT, "the record of file %s is missing", hex);
	}
	return rc;
}

/* Where each term begins, checked against the file's size. */
static int reader_index(cairn_reader *rd)
{
	uint64_t pos = 0;

	rd->starts = malloc((rd->n ? rd->n : 1) * sizeof(*rd->starts));
	if (rd->starts == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < rd->n; i++) {
		rd->starts[i] = pos;
		pos += rd->terms[i].raw_len;
	}
	if (pos != rd->size)
		return cairn__error_set(CAIRN_ECORRUPT, "file terms cover %llu of %llu bytes",
					(unsigned long long)pos, (unsigned long long)rd->size);
	return 0;
}

int cairn_reader_open(cairn_reader **out, cairn_repo *r, const char *ns, const char *name,
		      const char *key, size_t key_len)
{
	cairn_reader *rd = calloc(1, sizeof(*rd));
	cairn_object_row row;
	int rc;

	if (rd == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	rd->r = r;
	rd->rows_term = SIZE_MAX;
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		goto fail;
	rc = cairn_object_stat(r, ns, name, key, key_len, &row);
	if (rc == 0) {
		rd->file = row.file;
		rc = reader_terms(rd);
	}
	r->meta->rollback(r->meta);
	if (rc == 0)
		rc = reader_index(rd);
	if (rc < 0)
		goto fail;
	*out = rd;
	return 0;
fail:
	cairn_reader_close(rd);
	return rc;
}

int cairn__reader_open_file(cairn_reader **out, cairn_repo *r, const cairn_hash *file)
{
	cairn_reader *rd = calloc(1, sizeof(*rd));
	int rc;

	if (rd == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	rd->r = r;
	rd->rows_term = SIZE_MAX;
	rd->file = *file;
	rc = r->meta->begin(r->meta, false);
	if (rc == 0) {
		rc = reader_terms(rd);
		r->meta->rollback(r->meta);
	}
	if (rc == 0)
		rc = reader_index(rd);
	if (rc < 0) {
		cairn_reader_close(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

uint64_t cairn_reader_size(const cairn_reader *rd)
{
	return rd->size;
}

const cairn_hash *cairn_reader_file(const cairn_reader *rd)
{
	return &rd->file;
}

int cairn_reader_read(cairn_reader *rd, uint64_t offset, uint64_t len, cairn_write_fn fn,
		      void *ctx)
{
	uint64_t end;
	size_t lo = 0, hi = rd->n;
	int rc;

	if (offset > rd->size)
		return cairn__error_set(CAIRN_EINVALID, "offset %llu is past the end (%llu bytes)",
					(unsigned long long)offset, (unsigned long long)rd->size);
	end = len > rd->size - offset ? rd->size : offset + len;
	/* the last term starting at or before offset */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (rd->starts[mid] <= offset)
			lo = mid;
		else
			hi = mid;
	}
	rc = rd->r->meta->begin(rd->r->meta, false);
	if (rc < 0)
		return rc;
	for (size_t i = lo; i < rd->n && rd->starts[i] < end; i++) {
		if (rd->starts[i] + rd->terms[i].raw_len <= offset)
			continue;
		rc = read_term(rd, i, offset, end, fn, ctx);
		if (rc != 0)
			break;
	}
	rd->r->meta->rollback(rd->r->meta);
	return rc;
}

void cairn_reader_close(cairn_reader *rd)
{
	if (rd == NULL)
		return;
	free(rd->terms);
	free(rd->starts);
	free(rd->rows);
	free(rd->hashes);
	free(rd->packed);
	free(rd->raw);
	free(rd);
}

int cairn_object_get(cairn_repo *r, const char *ns, const char *name, const char *key,
		     size_t key_len, uint64_t offset, uint64_t len, cairn_write_fn fn, void *ctx)
{
	cairn_reader *rd;
	int rc = cairn_reader_open(&rd, r, ns, name, key, key_len);

	if (rc < 0)
		return rc;
	rc = cairn_reader_read(rd, offset, len, fn, ctx);
	cairn_reader_close(rd);
	return rc;
}

/* --- listing -------------------------------------------------------------------------- */

typedef struct list_ctx {
	const cairn_list_options *o;
	cairn_list_fn fn;
	void *ctx;
	size_t limit, emitted;
	char skip[CAIRN_KEY_MAX];  /* after a common prefix: list from here */
	size_t skip_len;
	bool rolled;               /* stopped at a common prefix: resume after it */
	bool full;
	int err;
} list_ctx;

static const void *find_mem(const char *h, size_t hl, const char *n, size_t nl)
{
	if (nl == 0 || nl > hl)
		return NULL;
	for (size_t i = 0; i + nl <= hl; i++)
		if (memcmp(h + i, n, nl) == 0)
			return h + i;
	return NULL;
}

static int list_one(void *vctx, const cairn_object_row *row)
{
	list_ctx *lc = vctx;
	const cairn_list_options *o = lc->o;
	size_t pl = o->prefix ? o->prefix_len : 0;
	int rc;

	if (lc->emitted == lc->limit) {
		lc->full = true;
		return 1;
	}
	if (o->delimiter && o->delimiter_len > 0) {
		const char *d = find_mem(row->key + pl, row->key_len - pl, o->delimiter,
					 o->delimiter_len);
		if (d) {
			size_t cpl = (size_t)(d - row->key) + o->delimiter_len;
			rc = lc->fn(lc->ctx, NULL, row->key, cpl);
			if (rc != 0) {
				lc->err = rc;
				return 1;
			}
			lc->emitted++;
			/* every key under this prefix sorts at or before prefix + 0xFF... */
			memcpy(lc->skip, row->key, cpl);
			memset(lc->skip + cpl, 0xFF, CAIRN_KEY_MAX - cpl);
			lc->skip_len = CAIRN_KEY_MAX;
			lc->rolled = true;
			return 1;
		}
	}
	rc = lc->fn(lc->ctx, row, NULL, 0);
	if (rc != 0) {
		lc->err = rc;
		return 1;
	}
	lc->emitted++;
	return 0;
}

int cairn_object_list(cairn_repo *r, const char *ns, const char *name,
		      const cairn_list_options *opts, cairn_list_fn fn, void *ctx, bool *truncated)
{
	cairn_list_options dflt = CAIRN_LIST_OPTIONS_INIT;
	list_ctx *lc;
	int64_t id;
	int rc;

	if (opts == NULL)
		opts = &dflt;
	if ((opts->prefix && opts->prefix_len > CAIRN_KEY_MAX) ||
	    (opts->start_after && opts->start_after_len > CAIRN_KEY_MAX))
		return cairn__error_set(CAIRN_EINVALID, "prefix or start-after over %d bytes",
					CAIRN_KEY_MAX);
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	lc->o = opts;
	lc->fn = fn;
	lc->ctx = ctx;
	lc->limit = opts->limit ? opts->limit : 1000;
	if (opts->start_after) {
		size_t pl = opts->prefix ? opts->prefix_len : 0;
		const char *d = NULL;

		memcpy(lc->skip, opts->start_after, opts->start_after_len);
		lc->skip_len = opts->start_after_len;
		/*
		 * A cursor that is (or lies under) a common prefix resumes after
		 * everything that rolls up into it, or the same prefix would come
		 * back on every page.
		 */
		if (opts->delimiter && opts->delimiter_len > 0 && opts->start_after_len >= pl &&
		    (pl == 0 || memcmp(opts->start_after, opts->prefix, pl) == 0))
			d = find_mem(opts->start_after + pl, opts->start_after_len - pl,
				     opts->delimiter, opts->delimiter_len);
		if (d) {
			size_t cpl = (size_t)(d - opts->start_after) + opts->delimiter_len;
			memset(lc->skip + cpl, 0xFF, CAIRN_KEY_MAX - cpl);
			lc->skip_len = CAIRN_KEY_MAX;
		}
	}
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		goto out;
	rc = cairn__bucket_id(r, ns, name, &id);
	while (rc == 0) {
		lc->rolled = false;
		/* one more than the page needs tells whether more follow */
		rc = r->meta->object_list(r->meta, id, opts->prefix, opts->prefix ? opts->prefix_len : 0,
					  lc->skip_len || opts->start_after ? lc->skip : NULL,
					  lc->skip_len, lc->limit - lc->emitted + 1, list_one, lc);
		if (rc > 0)
			rc = 0; /* list_one stopped the walk; why is in lc */
		if (rc < 0 || lc->err || lc->full || !lc->rolled)
			break;
	}
	if (rc == 0 && lc->err)
		rc = lc->err;
	if (truncated)
		*truncated = lc->full;
	r->meta->rollback(r->meta);
out:
	free(lc);
	return rc;
}
