/*
 * mpu.c - S3 multipart uploads (include/cairn/repo.h, cairn_mpu_*): each
 * part is stored as any upload is (chunked, deduplicated, xorbs durable
 * first) and recorded as a file of its own, which the part's row keeps
 * from GC while the upload lives. Completing makes the object the named
 * parts spell, as if its bytes had been uploaded in one piece.
 *
 * Why completion re-chunks a little, and only a little: each part was
 * chunked from its own first byte, but a single pass over the whole
 * object would not have cut there, so near each part boundary the two
 * chunkings differ. They agree again as soon as they share a boundary:
 * the chunker restarts from zero at every cut, so two scans of the same
 * bytes that cut at the same place cut alike from then on (the idea
 * behind the parallel hasher in lib/chunk/file_hash.c). So completion
 * walks the parts in order, keeping the invariant "every chunk so far is
 * a chunk of the single pass". A part's chunks from a shared boundary on
 * are final, except its last chunk, which only the part's end cut. From
 * the start of that last chunk (a true boundary) a fresh chunker reads on,
 * across the junction into the next part (bytes read back through the
 * engine's reader, every chunk verified), until it cuts exactly where the
 * next part's own chunking has a boundary; from there that part's chunks
 * are final in turn. On ordinary data that is a chunk or two per
 * boundary; data that never resynchronises is simply re-chunked, with the
 * same answer. The re-chunked chunks are looked up in the chunk index and
 * the missing ones packed and stored, by the upload machinery
 * (cairn__upload_chunk); the reused ones keep their place
 * (cairn__upload_stored). So the object's file hash is the one a single
 * PUT of the same bytes gets, and deduplication works across both.
 *
 * Crash safety: completion only adds xorbs (durable before recorded)
 * until its one transaction, which records the file, writes the object
 * and deletes the upload's rows. A crash before it leaves the upload as
 * it was (and at worst unreferenced xorbs for GC); after it, the object.
 *
 * Memory: a part's chunk list at a time (its hashes and places, about 48
 * bytes a chunk), the object's chunk list (as any upload), and two chunks
 * of bytes (one read back, one being cut); never a part's bytes.
 */
#include "core_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* An upload id: CAIRN_MPU_ID_LEN lower-case hex digits. */
static bool id_ok(const char *id)
{
	size_t n = id ? strnlen(id, CAIRN_MPU_ID_LEN + 1) : 0;

	if (n != CAIRN_MPU_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static int no_upload(const char *id, const char *ns, const char *name)
{
	return cairn__error_set(CAIRN_ENOTFOUND, "no upload %.*s in %s/%s",
				id_ok(id) ? CAIRN_MPU_ID_LEN : 16, id ? id : "(null)", ns, name);
}

/* The bucket's id and that the upload is one of its: 0 or CAIRN_ENOTFOUND. */
static int upload_in(cairn_repo *r, const char *ns, const char *name, const char *id,
		     int64_t *bucket)
{
	int rc = cairn__bucket_id(r, ns, name, bucket);

	if (rc < 0)
		return rc;
	rc = r->meta->mpu_get(r->meta, *bucket, id, NULL, NULL, NULL, NULL);
	return rc == CAIRN_ENOTFOUND ? no_upload(id, ns, name) : rc;
}

/* --- create, parts, list, abort -------------------------------------------------- */

/* A fresh random id: 128 bits from the kernel, so ids are never guessed or reused. */
static int new_id(char id[CAIRN_MPU_ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t raw[CAIRN_MPU_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return cairn__error_set(CAIRN_EIO, "getrandom: %s", strerror(errno));
		}
		got += (size_t)k;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		id[2 * i] = digits[raw[i] >> 4];
		id[2 * i + 1] = digits[raw[i] & 15];
	}
	id[CAIRN_MPU_ID_LEN] = '\0';
	return 0;
}

static int create_txn(cairn_repo *r, const char *ns, const char *name, const char *key,
		      size_t key_len, const cairn__put_opts *o, const char *id)
{
	int64_t bucket;
	int rc = cairn__bucket_id(r, ns, name, &bucket);

	return rc < 0 ? rc
		      : r->meta->mpu_create(r->meta, bucket, id, key, key_len, o->content_type,
					    o->user_meta, cairn__now_ns());
}

int cairn_mpu_create(cairn_repo *r, const char *ns, const char *name, const char *key,
		     size_t key_len, const cairn_put_options *opts, char id[CAIRN_MPU_ID_LEN + 1])
{
	char nid[CAIRN_MPU_ID_LEN + 1];
	cairn__put_opts o;
	int rc = cairn__put_opts_read(&o, opts);

	/* an id taken already is a 2^-128 event; a second draw settles it */
	for (int attempt = 0; rc == 0; attempt++) {
		if ((rc = new_id(nid)) < 0 || (rc = r->meta->begin(r->meta, true)) < 0)
			break;
		rc = create_txn(r, ns, name, key, key_len, &o, nid);
		if (rc == 0) {
			rc = r->meta->commit(r->meta);
			break;
		}
		r->meta->rollback(r->meta);
		if (rc != CAIRN_EEXISTS || attempt == 2)
			break;
		cairn_error_clear();
		rc = 0;
	}
	if (rc == 0)
		memcpy(id, nid, sizeof(nid));
	return rc;
}

/* Where a part commit goes. */
typedef struct part_dest {
	const char *ns, *name, *id;
	unsigned part;
	const uint8_t *md5;
} part_dest;

static int record_part(void *ctx, cairn_repo *r, const cairn_put_result *res, int64_t now_ns)
{
	const part_dest *d = ctx;
	int64_t bucket;
	int rc = upload_in(r, d->ns, d->name, d->id, &bucket);

	if (rc < 0)
		return rc;
	rc = r->meta->mpu_part_put(r->meta, d->id, d->part, &res->file, res->size, d->md5, now_ns);
	return rc == CAIRN_ENOTFOUND ? no_upload(d->id, d->ns, d->name) : rc;
}

int cairn_upload_commit_part(cairn_upload *u, const char *ns, const char *name, const char *id,
			     unsigned part, const uint8_t md5[16], cairn_put_result *res)
{
	part_dest d = {ns, name, id, part, md5};

	if (part < 1 || part > CAIRN_MPU_PARTS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "part numbers are 1 to %d, not %u",
					CAIRN_MPU_PARTS_MAX, part);
	if (md5 == NULL)
		return cairn__error_set(CAIRN_EINVALID, "a part needs its MD5");
	if (!id_ok(id))
		return no_upload(id, ns, name);
	return cairn__upload_commit_with(u, record_part, &d, res);
}

/* A part as recorded. */
typedef struct stored_part {
	unsigned number;
	cairn_hash file;
	uint64_t size;
	uint8_t md5[16];
	int64_t created_ns;
} stored_part;

typedef struct part_list {
	stored_part *p;
	size_t n, cap;
	int err;
} part_list;

static int collect_part(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
			const uint8_t md5[16], int64_t created_ns)
{
	part_list *pl = ctx;

	if (pl->n == pl->cap) {
		size_t ncap = pl->cap ? pl->cap * 2 : 64;
		stored_part *np = realloc(pl->p, ncap * sizeof(*np));
		if (np == NULL) {
			pl->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			return 1;
		}
		pl->p = np;
		pl->cap = ncap;
	}
	pl->p[pl->n].number = number;
	pl->p[pl->n].file = *file;
	pl->p[pl->n].size = size;
	memcpy(pl->p[pl->n].md5, md5, 16);
	pl->p[pl->n].created_ns = created_ns;
	pl->n++;
	return 0;
}

/* The upload's parts after `after`, at most max (0: all), into pl. */
static int load_parts(cairn_repo *r, const char *id, unsigned after, size_t max, part_list *pl)
{
	int rc = r->meta->mpu_parts(r->meta, id, after, max, collect_part, pl);

	if (pl->err)
		return pl->err;
	return rc > 0 ? cairn__error_set(CAIRN_ERROR, "part listing stopped") : rc;
}

int cairn_mpu_parts(cairn_repo *r, const char *ns, const char *name, const char *id,
		    unsigned after, size_t max, const char **key, size_t *key_len,
		    cairn_mpu_part **parts, size_t *n, bool *truncated)
{
	part_list pl = {NULL, 0, 0, 0};
	cairn_mpu_part *out = NULL;
	const char *k = NULL;
	size_t klen = 0;
	int64_t bucket;
	int rc;

	if (!id_ok(id))
		return no_upload(id, ns, name);
	if (max > CAIRN_MPU_PARTS_MAX)
		max = 0; /* no upload has more */
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = cairn__bucket_id(r, ns, name, &bucket);
	if (rc == 0) {
		rc = r->meta->mpu_get(r->meta, bucket, id, &k, &klen, NULL, NULL);
		if (rc == CAIRN_ENOTFOUND)
			rc = no_upload(id, ns, name);
	}
	/* one more than asked tells whether more follow */
	if (rc == 0)
		rc = load_parts(r, id, after, max ? max + 1 : 0, &pl);
	r->meta->rollback(r->meta);
	if (rc == 0) {
		out = malloc((pl.n ? pl.n : 1) * sizeof(*out));
		if (out == NULL)
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (rc < 0) {
		free(pl.p);
		return rc;
	}
	if (truncated)
		*truncated = max && pl.n > max;
	if (max && pl.n > max)
		pl.n = max;
	for (size_t i = 0; i < pl.n; i++) {
		out[i].number = pl.p[i].number;
		out[i].size = pl.p[i].size;
		memcpy(out[i].md5, pl.p[i].md5, 16);
		out[i].created_ns = pl.p[i].created_ns;
	}
	free(pl.p);
	if (key)
		*key = k; /* the meta's copy: good until its next mpu_get */
	if (key_len)
		*key_len = klen;
	*parts = out;
	*n = pl.n;
	return 0;
}

typedef struct mpu_list_ctx {
	cairn_mpu_fn fn;
	void *ctx;
	size_t max, seen;
	bool more;
	int err;
} mpu_list_ctx;

static int list_one(void *vctx, const char *id, const char *key, size_t key_len,
		    int64_t created_ns)
{
	mpu_list_ctx *lc = vctx;
	cairn_mpu_info info = {id, key, key_len, created_ns};
	int rc;

	if (lc->seen == lc->max) {
		lc->more = true;
		return 1;
	}
	lc->seen++;
	rc = lc->fn(lc->ctx, &info);
	if (rc != 0) {
		lc->err = rc;
		return 1;
	}
	return 0;
}

int cairn_mpu_list(cairn_repo *r, const char *ns, const char *name, const char *prefix,
		   size_t prefix_len, const char *key_marker, size_t key_marker_len,
		   const char *id_marker, size_t max, cairn_mpu_fn fn, void *ctx, bool *truncated)
{
	mpu_list_ctx lc = {fn, ctx, max ? max : 1000, 0, false, 0};
	int64_t bucket;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "cairn_mpu_list: no callback");
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = cairn__bucket_id(r, ns, name, &bucket);
	if (rc == 0)
		rc = r->meta->mpu_list(r->meta, bucket, prefix, prefix ? prefix_len : 0, key_marker,
				       key_marker_len, key_marker ? id_marker : NULL,
				       lc.max + 1, list_one, &lc);
	r->meta->rollback(r->meta);
	if (lc.err)
		return lc.err;
	if (rc > 0)
		rc = 0; /* list_one stopped it: the page is full */
	if (rc == 0 && truncated)
		*truncated = lc.more;
	return rc;
}

static int abort_txn(cairn_repo *r, const char *ns, const char *name, const char *id)
{
	int64_t bucket;
	int rc = upload_in(r, ns, name, id, &bucket);

	return rc < 0 ? rc : r->meta->mpu_delete(r->meta, id);
}

int cairn_mpu_abort(cairn_repo *r, const char *ns, const char *name, const char *id)
{
	int rc;

	if (!id_ok(id))
		return no_upload(id, ns, name);
	if ((rc = r->meta->begin(r->meta, true)) < 0)
		return rc;
	rc = abort_txn(r, ns, name, id);
	if (rc < 0) {
		r->meta->rollback(r->meta);
		return rc;
	}
	return r->meta->commit(r->meta);
}

/* --- complete ---------------------------------------------------------------------- */

/* One part's chunks, as its file's terms name them. */
typedef struct part_chunks {
	cairn_term *terms;
	size_t nterms;
	cairn_chunk_ref *refs; /* hash and length of chunk k */
	struct ploc {
		uint32_t term; /* the term holding chunk k */
		uint32_t idx;  /* its index in that term's xorb */
	} *locs;
	size_t n, cap;
	cairn_chunk_row *rows; /* scratch for one term's chunk rows */
	size_t rows_cap;
} part_chunks;

static void part_chunks_free(part_chunks *pc)
{
	free(pc->terms);
	free(pc->refs);
	free(pc->locs);
	free(pc->rows);
}

/* Term ti's chunks, appended to pc (inside a read transaction). */
static int load_term(cairn_repo *r, part_chunks *pc, size_t ti)
{
	const cairn_term *t = &pc->terms[ti];
	size_t n = t->end - t->first;
	uint64_t raw = 0;
	int rc;

	/* a term from the metadata sizes arrays: no more chunks than a xorb can hold */
	if (t->end <= t->first || n > CAIRN_XORB_MAX_BYTES / (CAIRN_XORB_CHUNK_HEADER_LEN + 1))
		return cairn__error_set(CAIRN_ECORRUPT, "term with chunks %u..%u", t->first, t->end);
	if (n > pc->rows_cap) {
		cairn_chunk_row *nr = realloc(pc->rows, n * sizeof(*nr));
		if (nr == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		pc->rows = nr;
		pc->rows_cap = n;
	}
	if (pc->n + n > pc->cap) {
		size_t ncap = pc->cap ? pc->cap : 1024;
		cairn_chunk_ref *nr;
		struct ploc *nl;
		while (ncap < pc->n + n)
			ncap *= 2;
		nr = realloc(pc->refs, ncap * sizeof(*nr));
		if (nr == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		pc->refs = nr;
		nl = realloc(pc->locs, ncap * sizeof(*nl));
		if (nl == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		pc->locs = nl;
		pc->cap = ncap;
	}
	rc = r->meta->xorb_chunks(r->meta, &t->xorb, t->first, t->end, pc->rows, NULL);
	if (rc == CAIRN_ENOTFOUND) {
		/* a file names chunks the index does not have: damage, named */
		char why[256];
		snprintf(why, sizeof(why), "%s", cairn_error_last()); /* the same slot: copy first */
		return cairn__error_set(CAIRN_ECORRUPT, "%s", why);
	}
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		if (pc->rows[k].raw_len == 0 || pc->rows[k].raw_len > CAIRN_CHUNK_MAX)
			return cairn__error_set(CAIRN_ECORRUPT, "chunk %zu has %u bytes",
						(size_t)t->first + k, pc->rows[k].raw_len);
		pc->refs[pc->n].hash = pc->rows[k].hash;
		pc->refs[pc->n].len = pc->rows[k].raw_len;
		pc->locs[pc->n].term = (uint32_t)ti;
		pc->locs[pc->n].idx = t->first + (uint32_t)k;
		pc->n++;
		raw += pc->rows[k].raw_len;
	}
	if (raw != t->raw_len)
		return cairn__error_set(CAIRN_ECORRUPT, "term chunks add up to %llu, not %llu",
					(unsigned long long)raw, (unsigned long long)t->raw_len);
	return 0;
}

/*
 * A part's chunk list, proved to be the part: its chunks add up to the
 * part's size and hash to its file hash, so what completion reuses is
 * exactly what was uploaded.
 */
static int load_part(cairn_repo *r, const stored_part *sp, part_chunks *pc)
{
	char hex[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash fh;
	uint64_t size = 0, sum = 0;
	int rc;

	free(pc->terms);
	pc->terms = NULL;
	pc->nterms = 0;
	pc->n = 0;
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = r->meta->file_get(r->meta, &sp->file, &size, &pc->terms, &pc->nterms);
	for (size_t i = 0; rc == 0 && i < pc->nterms; i++)
		rc = load_term(r, pc, i);
	r->meta->rollback(r->meta);
	cairn_hash_to_hex(hex, &sp->file);
	if (rc == CAIRN_ENOTFOUND)
		return cairn__error_set(CAIRN_ECORRUPT, "part %u: file %s is not recorded",
					sp->number, hex);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < pc->n; k++)
		sum += pc->refs[k].len;
	if (size != sp->size || sum != size)
		return cairn__error_set(CAIRN_ECORRUPT,
					"part %u: %llu bytes, its file %llu, its chunks %llu",
					sp->number, (unsigned long long)sp->size,
					(unsigned long long)size, (unsigned long long)sum);
	rc = cairn_file_hash(&fh, pc->refs, pc->n, NULL);
	if (rc < 0)
		return rc;
	if (!cairn_hash_equal(&fh, &sp->file))
		return cairn__error_set(CAIRN_ECORRUPT, "part %u: its chunks do not hash to file %s",
					sp->number, hex);
	return 0;
}

/* The object being composed from the parts. */
typedef struct composer {
	cairn_repo *r;
	cairn_upload *u;    /* collects the object's chunks; packs new ones */
	cairn_chunker ck;   /* the re-chunker... */
	bool open;          /* ... running: buf holds its open chunk */
	uint8_t *buf;       /* CAIRN_CHUNK_MAX bytes */
	size_t len;
	uint8_t *in;        /* one part chunk read back (CAIRN_CHUNK_MAX bytes) */
	size_t in_len;
} composer;

/* Verified bytes of a part chunk, as the reader hands them out. */
static int take_in(void *ctx, const void *data, size_t len)
{
	composer *c = ctx;

	if (len > CAIRN_CHUNK_MAX - c->in_len)
		return cairn__error_set(CAIRN_ECORRUPT, "a stored chunk is over %d bytes",
					CAIRN_CHUNK_MAX);
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return 0;
}

/* Bytes for the re-chunker; every chunk it cuts joins the object. */
static int feed(composer *c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		bool cut;
		size_t k = cairn_chunker_next(&c->ck, p, len, &cut);

		/* the chunker cuts at CAIRN_CHUNK_MAX: buf never overflows */
		if (c->len + k > CAIRN_CHUNK_MAX)
			return cairn__error_set(CAIRN_ERROR, "re-chunking overran a chunk");
		memcpy(c->buf + c->len, p, k);
		c->len += k;
		p += k;
		len -= k;
		if (cut) {
			int rc = cairn__upload_chunk(c->u, c->buf, c->len);
			if (rc < 0)
				return rc;
			c->len = 0;
		}
	}
	return 0;
}

/*
 * Re-chunk part chunk k (at part offset off): its bytes, read back and
 * verified, through the re-chunker. Read first, then fed: the reader
 * holds a read transaction, and storing a chunk needs a write one.
 */
static int rechunk(composer *c, cairn_reader **rd, const stored_part *sp, const part_chunks *pc,
		   size_t k, uint64_t off)
{
	int rc;

	/* most parts are only read a chunk or two into: open their reader then */
	if (*rd == NULL && (rc = cairn__reader_open_file(rd, c->r, &sp->file)) < 0)
		return rc;
	c->in_len = 0;
	rc = cairn_reader_read(*rd, off, pc->refs[k].len, take_in, c);
	if (rc == 0 && c->in_len != pc->refs[k].len)
		rc = cairn__error_set(CAIRN_ECORRUPT,
				      "a part chunk read back as %zu bytes, not %llu", c->in_len,
				      (unsigned long long)pc->refs[k].len);
	if (rc == 0)
		rc = feed(c, c->in, c->in_len);
	if (rc != 0)
		return rc;
	/* it cut exactly at the end of chunk k, a boundary of the part's own
	 * chunking too: from here the two agree */
	if (c->len == 0)
		c->open = false;
	return 0;
}

/* Add the parts' bytes to the object, chunked as one pass would (see the top). */
static int compose(composer *c, const stored_part *const *use, size_t n)
{
	part_chunks pc;
	cairn_reader *rd = NULL;
	int rc = 0;

	memset(&pc, 0, sizeof(pc));
	for (size_t j = 0; j < n && rc == 0; j++) {
		bool last = j + 1 == n;
		uint64_t off = 0; /* part offset of chunk s */
		size_t s = 0;     /* the part's first chunk not yet covered */

		if ((rc = load_part(c->r, use[j], &pc)) < 0)
			break;
		/* a run open from the part before: go on until it meets a boundary of this part */
		while (rc == 0 && c->open && s < pc.n) {
			rc = rechunk(c, &rd, use[j], &pc, s, off);
			off += pc.refs[s++].len;
		}
		if (rc == 0 && !c->open) {
			/* final up to the last chunk (the last part's too: the object ends there) */
			size_t end = last ? pc.n : (pc.n ? pc.n - 1 : 0);
			for (; rc == 0 && s < end; s++) {
				const struct ploc *l = &pc.locs[s];
				rc = cairn__upload_stored(c->u, &pc.refs[s], &pc.terms[l->term].xorb,
							  l->idx);
				off += pc.refs[s].len;
			}
			/* the last chunk only ended because the part did: a fresh run from its start */
			if (rc == 0 && !last && s < pc.n) {
				cairn_chunker_init(&c->ck);
				c->len = 0;
				c->open = true;
				rc = rechunk(c, &rd, use[j], &pc, s, off);
			}
		}
		cairn_reader_close(rd);
		rd = NULL;
	}
	/* the object's end cuts the run's last chunk */
	if (rc == 0 && c->open && c->len > 0)
		rc = cairn__upload_chunk(c->u, c->buf, c->len);
	part_chunks_free(&pc);
	return rc;
}

/* Everything completion checks again in its transaction, and writes. */
typedef struct complete_ctx {
	const char *ns, *name, *id;
	const stored_part *const *use;
	size_t n;
	char *key; /* the upload's, copied */
	size_t key_len;
	char *content_type, *user_meta;
	uint8_t md5[16];
	cairn_mpu_error *why;
} complete_ctx;

static int record_complete(void *ctx, cairn_repo *r, const cairn_put_result *res, int64_t now_ns)
{
	complete_ctx *cc = ctx;
	part_list now = {NULL, 0, 0, 0};
	cairn_object_row row;
	uint8_t *sizes;
	int64_t bucket;
	size_t i = 0;
	int rc = upload_in(r, cc->ns, cc->name, cc->id, &bucket);

	if (rc == CAIRN_ENOTFOUND)
		*cc->why = CAIRN_MPU_NO_SUCH_UPLOAD; /* completed or aborted meanwhile */
	if (rc < 0)
		return rc;
	/* the parts used are still the upload's (none replaced meanwhile) */
	rc = load_parts(r, cc->id, 0, 0, &now);
	for (size_t k = 0; rc == 0 && k < cc->n; k++) {
		while (i < now.n && now.p[i].number < cc->use[k]->number)
			i++;
		if (i == now.n || now.p[i].number != cc->use[k]->number ||
		    !cairn_hash_equal(&now.p[i].file, &cc->use[k]->file)) {
			*cc->why = CAIRN_MPU_INVALID_PART;
			rc = cairn__error_set(CAIRN_EINVALID, "part %u changed while the upload "
					      "completed; complete again", cc->use[k]->number);
		}
	}
	free(now.p);
	if (rc < 0)
		return rc;
	memset(&row, 0, sizeof(row));
	row.key = cc->key;
	row.key_len = cc->key_len;
	row.file = res->file;
	row.size = res->size;
	row.mtime_ns = now_ns;
	row.created_ns = now_ns;
	row.content_type = cc->content_type;
	row.has_md5 = true;
	memcpy(row.md5, cc->md5, 16);
	row.parts = (unsigned)cc->n;
	row.user_meta = cc->user_meta;
	/* the parts' sizes stay with the object (S3 serves GET ?partNumber=N from them) */
	sizes = malloc(8 * cc->n);
	if (sizes == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t k = 0; k < cc->n; k++)
		cairn__store64_le(sizes + 8 * k, cc->use[k]->size);
	row.part_sizes = sizes;
	rc = cairn__object_put(r, bucket, &row);
	free(sizes);
	return rc < 0 ? rc : r->meta->mpu_delete(r->meta, cc->id);
}

/* S3's multipart ETag: the MD5 of the parts' binary MD5s, in order. */
static int etag_md5(uint8_t out[16], const stored_part *const *use, size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned olen = 0;
	int ok;

	if (ctx == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, use[i]->md5, 16);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &olen) && olen == 16;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : cairn__error_set(CAIRN_ERROR, "MD5 is not available");
}

/* The parts named, in order, checked as S3 checks them. */
static int match_parts(const part_list *pl, const cairn_mpu_want *want, size_t n,
		       const stored_part **use, cairn_mpu_error *why)
{
	size_t i = 0;

	for (size_t k = 0; k < n; k++) {
		if (want[k].number < 1 || want[k].number > CAIRN_MPU_PARTS_MAX) {
			*why = CAIRN_MPU_INVALID_PART;
			return cairn__error_set(CAIRN_EINVALID, "no part number %u", want[k].number);
		}
		if (k > 0 && want[k].number <= want[k - 1].number) {
			*why = CAIRN_MPU_INVALID_PART_ORDER;
			return cairn__error_set(CAIRN_EINVALID,
						"parts must be listed in ascending order (%u after %u)",
						want[k].number, want[k - 1].number);
		}
	}
	for (size_t k = 0; k < n; k++) {
		while (i < pl->n && pl->p[i].number < want[k].number)
			i++;
		if (i == pl->n || pl->p[i].number != want[k].number) {
			*why = CAIRN_MPU_INVALID_PART;
			return cairn__error_set(CAIRN_EINVALID, "part %u was not uploaded",
						want[k].number);
		}
		if (memcmp(pl->p[i].md5, want[k].md5, 16) != 0) {
			*why = CAIRN_MPU_INVALID_PART;
			return cairn__error_set(CAIRN_EINVALID,
						"part %u's ETag is not the one given", want[k].number);
		}
		use[k] = &pl->p[i];
	}
	for (size_t k = 0; k + 1 < n; k++) {
		if (use[k]->size < CAIRN_MPU_PART_MIN) {
			*why = CAIRN_MPU_ENTITY_TOO_SMALL;
			return cairn__error_set(CAIRN_EINVALID,
						"part %u has %llu bytes; every part but the last "
						"needs at least %u", use[k]->number,
						(unsigned long long)use[k]->size, CAIRN_MPU_PART_MIN);
		}
	}
	return 0;
}

int cairn_mpu_complete(cairn_repo *r, const char *ns, const char *name, const char *id,
		       const cairn_mpu_want *parts, size_t n, cairn_put_result *res,
		       cairn_mpu_error *why)
{
	cairn_mpu_error why_local;
	part_list pl = {NULL, 0, 0, 0};
	const stored_part **use = NULL;
	complete_ctx cc;
	composer c;
	const char *k, *ct, *um;
	int64_t bucket;
	int rc;

	if (why == NULL)
		why = &why_local;
	*why = CAIRN_MPU_OK;
	memset(&cc, 0, sizeof(cc));
	memset(&c, 0, sizeof(c));
	if (!id_ok(id)) {
		*why = CAIRN_MPU_NO_SUCH_UPLOAD;
		return no_upload(id, ns, name);
	}
	if (n == 0 || n > CAIRN_MPU_PARTS_MAX || parts == NULL) {
		*why = CAIRN_MPU_INVALID_PART;
		return cairn__error_set(CAIRN_EINVALID, "a multipart upload completes with 1 to %d "
					"parts, not %zu", CAIRN_MPU_PARTS_MAX, n);
	}

	/* the upload, its options and its parts, from one snapshot */
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = cairn__bucket_id(r, ns, name, &bucket);
	if (rc == 0) {
		rc = r->meta->mpu_get(r->meta, bucket, id, &k, &cc.key_len, &ct, &um);
		if (rc == CAIRN_ENOTFOUND)
			rc = no_upload(id, ns, name);
		/* the meta's copies last until its next mpu_get: keep ours */
		if (rc == 0 && ((cc.key = malloc(cc.key_len)) == NULL ||
				(ct && (cc.content_type = strdup(ct)) == NULL) ||
				(um && (cc.user_meta = strdup(um)) == NULL)))
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		if (rc == 0)
			memcpy(cc.key, k, cc.key_len);
	}
	if (rc == 0)
		rc = load_parts(r, id, 0, 0, &pl);
	r->meta->rollback(r->meta);
	if (rc == CAIRN_ENOTFOUND)
		*why = CAIRN_MPU_NO_SUCH_UPLOAD;
	if (rc < 0)
		goto done;

	use = malloc(n * sizeof(*use));
	if (use == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = match_parts(&pl, parts, n, use, why)) < 0 || (rc = etag_md5(cc.md5, use, n)) < 0)
		goto done;
	{
		/* the object's size has a ceiling like any object's (S3's: 5 TiB) */
		uint64_t total = 0;
		for (size_t i = 0; i < n; i++)
			total += use[i]->size;
		if (total > CAIRN_MPU_OBJECT_MAX) {
			*why = CAIRN_MPU_ENTITY_TOO_LARGE;
			rc = cairn__error_set(CAIRN_ETOOBIG, "the parts add up to %llu bytes, over the "
					      "%llu a multipart object may have",
					      (unsigned long long)total,
					      (unsigned long long)CAIRN_MPU_OBJECT_MAX);
			goto done;
		}
	}

	c.r = r;
	c.buf = malloc(CAIRN_CHUNK_MAX);
	c.in = malloc(CAIRN_CHUNK_MAX);
	if (c.buf == NULL || c.in == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = cairn_upload_new(&c.u, r)) < 0)
		goto done;
	if ((rc = compose(&c, use, n)) < 0) {
		/* aborted meanwhile (and its data collected)? then that is the answer */
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", cairn_error_last());
		if (r->meta->begin(r->meta, false) == 0) {
			if (upload_in(r, ns, name, id, &bucket) == CAIRN_ENOTFOUND) {
				*why = CAIRN_MPU_NO_SUCH_UPLOAD;
				rc = CAIRN_ENOTFOUND;
			}
			r->meta->rollback(r->meta);
		}
		if (rc != CAIRN_ENOTFOUND)
			cairn__error_set(rc, "%s", msg);
		goto done;
	}
	cc.ns = ns;
	cc.name = name;
	cc.id = id;
	cc.use = use;
	cc.n = n;
	cc.why = why;
	rc = cairn__upload_commit_with(c.u, record_complete, &cc, res);
done:
	cairn_upload_free(c.u);
	free(c.buf);
	free(c.in);
	free(use);
	free(pl.p);
	free(cc.key);
	free(cc.content_type);
	free(cc.user_meta);
	return rc;
}
