/*
 * maint.c - keeping a data directory honest: garbage collection (reclaim
 * what nothing references, never what an upload was just promised) and
 * fsck (prove every stored byte and every reference is what it claims).
 */
#include "core_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- gc ------------------------------------------------------------------------- */

typedef struct doomed {
	cairn_hash *h;
	uint64_t *bytes;
	size_t n, cap;
	int err;
} doomed;

static int collect_xorb(void *ctx, const cairn_xorb_row *row)
{
	doomed *d = ctx;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		cairn_hash *nh = realloc(d->h, ncap * sizeof(*nh));
		uint64_t *nb;
		if (nh == NULL) {
			d->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			return 1;
		}
		d->h = nh;
		nb = realloc(d->bytes, ncap * sizeof(*nb));
		if (nb == NULL) {
			d->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			return 1;
		}
		d->bytes = nb;
		d->cap = ncap;
	}
	d->h[d->n] = row->name; /* its stored form: what goes from the store */
	d->bytes[d->n] = row->stored;
	d->n++;
	return 0;
}

/* A retired stored form (its size is not known here: counted as 0 bytes). */
static int collect_name(void *ctx, const cairn_hash *name)
{
	cairn_xorb_row row;

	memset(&row, 0, sizeof(row));
	row.name = *name;
	return collect_xorb(ctx, &row);
}

/* Stored but unrecorded xorbs older than the cutoff (left by a crash). */
typedef struct orphans {
	cairn_repo *r;
	int64_t cutoff;
	doomed d;
} orphans;

static int find_orphan(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	orphans *o = ctx;
	cairn_xorb_row row;
	int rc;

	if (mtime_ns >= o->cutoff)
		return 0; /* maybe an upload between storing and recording */
	/* a current form stays; a retired one goes when its time comes (below) */
	rc = o->r->meta->name_state(o->r->meta, xorb, NULL);
	if (rc >= 0)
		return 0;
	if (rc != CAIRN_ENOTFOUND) {
		o->d.err = rc;
		return 1;
	}
	memset(&row, 0, sizeof(row));
	row.hash = *xorb;
	row.name = *xorb;
	row.stored = size;
	return collect_xorb(&o->d, &row);
}

/*
 * Remove each doomed stored form under the write lock, and only while no
 * record names it: an upload may rebuild the same xorb (same bytes, same
 * name) and record it meanwhile; flush_xorb checks the file exists under
 * the same lock before it records a xorb.
 */
static int remove_unrecorded(cairn_repo *r, const doomed *d, cairn_gc_result *out)
{
	int rc = 0;

	for (size_t i = 0; i < d->n; i++) {
		int e = r->meta->begin(r->meta, true);

		if (e == 0) {
			e = r->meta->name_state(r->meta, &d->h[i], NULL);
			if (e == CAIRN_ENOTFOUND)
				e = r->store->remove(r->store, &d->h[i]);
			else if (e >= 0)
				e = 1; /* recorded (or retired) again meanwhile: keep it */
			r->meta->rollback(r->meta);
		}
		if (e < 0 && rc == 0)
			rc = e;
		if (e == 0 && out) {
			out->xorbs++;
			out->bytes += d->bytes[i];
		}
	}
	return rc;
}

int cairn_repo_gc(cairn_repo *r, int64_t grace_ns, cairn_gc_result *out)
{
	doomed d;
	uint64_t files = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	if (grace_ns < 0)
		return cairn__error_set(CAIRN_EINVALID, "negative grace period");
	/* one collector at a time, whatever server or process it runs in */
	if (r->meta->gc_lock && (rc = r->meta->gc_lock(r->meta, true)) != 0)
		return rc;
	rc = r->meta->begin(r->meta, true);
	if (rc < 0) {
		if (r->meta->gc_lock)
			r->meta->gc_lock(r->meta, false);
		return rc;
	}
	rc = r->meta->gc(r->meta, cairn__now_ns() - grace_ns, collect_xorb, &d, &files);
	if (rc > 0 || d.err)
		rc = d.err ? d.err : cairn__error_set(CAIRN_ERROR, "gc stopped");
	if (rc < 0) {
		r->meta->rollback(r->meta);
		goto done;
	}
	rc = r->meta->commit(r->meta);
	if (rc < 0)
		goto done;
	/* The records are gone; now the files (a failure only costs space). */
	if (out) {
		memset(out, 0, sizeof(*out));
		out->files = files;
	}
	rc = remove_unrecorded(r, &d, out);

	/* Stored forms recompression replaced, once no reader can still be on them. */
	{
		doomed old;
		int e;

		memset(&old, 0, sizeof(old));
		e = r->meta->begin(r->meta, true);
		if (e == 0) {
			e = r->meta->retired_take(r->meta, cairn__now_ns() - grace_ns, collect_name,
						  &old);
			if (e > 0 || old.err)
				e = old.err ? old.err : cairn__error_set(CAIRN_ERROR, "gc stopped");
			if (e == 0)
				e = r->meta->commit(r->meta);
			else
				r->meta->rollback(r->meta);
		}
		if (e == 0)
			e = remove_unrecorded(r, &old, out);
		if (e < 0 && rc == 0)
			rc = e;
		free(old.h);
		free(old.bytes);
	}

	/* Files no record names (a crash between storing and recording). */
	{
		orphans o;
		int e;

		memset(&o, 0, sizeof(o));
		o.r = r;
		o.cutoff = cairn__now_ns() - grace_ns;
		e = r->store->list(r->store, find_orphan, &o);
		if (e > 0 || o.d.err)
			e = o.d.err ? o.d.err : 0;
		if (e == 0)
			e = remove_unrecorded(r, &o.d, out);
		if (e < 0 && rc == 0)
			rc = e;
		free(o.d.h);
		free(o.d.bytes);
	}
done:
	if (r->meta->gc_lock)
		r->meta->gc_lock(r->meta, false);
	free(d.h);
	free(d.bytes);
	return rc;
}

/* --- fsck ------------------------------------------------------------------------ */

typedef struct fsck_ctx {
	cairn_repo *r;
	cairn_fsck_fn fn;
	void *ctx;
	uint64_t faults;
	int err; /* the check itself failed (memory, I/O on metadata) */
	/* sorted xorb hashes known to the metadata, for the orphan scan */
	cairn_hash *known;
	size_t nknown, cap;
} fsck_ctx;

static void fault(fsck_ctx *fc, const char *fmt, ...) CAIRN__PRINTF(2, 3);

static void fault(fsck_ctx *fc, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fc->faults++;
	if (fc->fn)
		fc->fn(fc->ctx, line);
}

static int check_xorb(void *ctx, const cairn_xorb_row *row)
{
	fsck_ctx *fc = ctx;
	cairn_repo *r = fc->r;
	char hex[CAIRN_HASH_HEX_LEN + 1];
	cairn_chunk_row *rows = NULL;
	uint8_t *data = NULL;
	cairn_xorb *x = NULL;
	uint64_t size;
	int rc;

	cairn_hash_to_hex(hex, &row->hash);
	if (fc->nknown == fc->cap) {
		size_t ncap = fc->cap ? fc->cap * 2 : 256;
		cairn_hash *nk = realloc(fc->known, ncap * sizeof(*nk));
		if (nk == NULL) {
			fc->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			return 1;
		}
		fc->known = nk;
		fc->cap = ncap;
	}
	fc->known[fc->nknown++] = row->name;
	if (row->gen == 0 && !cairn_hash_equal(&row->name, &row->hash)) {
		fault(fc, "xorb %s: generation 0 is stored under another name", hex);
		return 0;
	}

	rc = r->store->size(r->store, &row->name, &size);
	if (rc < 0) {
		fault(fc, "xorb %s: recorded but not stored (%s)", hex, cairn_error_last());
		return 0;
	}
	if (size != row->stored) {
		fault(fc, "xorb %s: %llu bytes stored, %llu recorded", hex, (unsigned long long)size,
		      (unsigned long long)row->stored);
		return 0;
	}
	if (size > CAIRN_XORB_MAX_BYTES) {
		fault(fc, "xorb %s: %llu bytes, over the xorb limit", hex, (unsigned long long)size);
		return 0;
	}
	data = malloc(size ? size : 1);
	rows = malloc((row->chunks ? row->chunks : 1) * sizeof(*rows));
	if (data == NULL || rows == NULL) {
		fc->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	rc = r->store->read(r->store, &row->name, 0, size, data);
	if (rc < 0) {
		fault(fc, "xorb %s: unreadable (%s)", hex, cairn_error_last());
		goto done;
	}
	rc = cairn_xorb_open(&x, data, size);
	if (rc == 0)
		rc = cairn_xorb_verify(x);
	if (rc < 0) {
		fault(fc, "xorb %s: %s", hex, cairn_error_last());
		goto done;
	}
	if (!cairn_hash_equal(cairn_xorb_id(x), &row->hash)) {
		fault(fc, "xorb %s: its contents hash to another name", hex);
		goto done;
	}
	if (!cairn_hash_equal(&row->name, &row->hash)) {
		cairn_hash want;
		cairn_xorb_form_name(&want, &row->hash, data, size);
		if (!cairn_hash_equal(&want, &row->name)) {
			fault(fc, "xorb %s: its recompressed form (generation %u) is not what its "
			      "name says", hex, row->gen);
			goto done;
		}
	}
	if (cairn_xorb_chunk_count(x) != row->chunks) {
		fault(fc, "xorb %s: %zu chunks, %u recorded", hex, cairn_xorb_chunk_count(x),
		      row->chunks);
		goto done;
	}
	rc = r->meta->xorb_chunks(r->meta, &row->hash, 0, row->chunks, rows, NULL);
	if (rc < 0) {
		fault(fc, "xorb %s: chunk records missing", hex);
		goto done;
	}
	for (uint32_t i = 0; i < row->chunks; i++) {
		cairn_xorb_span sp;
		cairn_xorb_span_get(x, i, i + 1, &sp);
		if (!cairn_hash_equal(&rows[i].hash, cairn_xorb_chunk_hash(x, i)) ||
		    rows[i].offset != sp.offset || rows[i].packed_len != sp.length ||
		    rows[i].raw_len != cairn_xorb_chunk_len(x, i)) {
			fault(fc, "xorb %s: chunk %u differs from its record", hex, i);
			break;
		}
	}
done:
	cairn_xorb_free(x);
	free(data);
	free(rows);
	return fc->err ? 1 : 0;
}

static int check_file(void *ctx, const cairn_hash *file, uint64_t size)
{
	fsck_ctx *fc = ctx;
	cairn_repo *r = fc->r;
	char hex[CAIRN_HASH_HEX_LEN + 1];
	cairn_term *terms = NULL;
	uint64_t fsize, total = 0;
	size_t n;
	int rc;

	cairn_hash_to_hex(hex, file);
	rc = r->meta->file_get(r->meta, file, &fsize, &terms, &n);
	if (rc < 0) {
		fault(fc, "file %s: terms unreadable (%s)", hex, cairn_error_last());
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		cairn_xorb_row xr;
		uint64_t raw = 0;
		cairn_chunk_row *rows;

		if (r->meta->xorb_get(r->meta, &terms[i].xorb, &xr) < 0) {
			fault(fc, "file %s: term %zu names a missing xorb", hex, i);
			continue;
		}
		if (terms[i].first >= terms[i].end || terms[i].end > xr.chunks) {
			fault(fc, "file %s: term %zu has chunks %u..%u of %u", hex, i, terms[i].first,
			      terms[i].end, xr.chunks);
			continue;
		}
		rows = malloc((terms[i].end - terms[i].first) * sizeof(*rows));
		if (rows == NULL) {
			fc->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			free(terms);
			return 1;
		}
		if (r->meta->xorb_chunks(r->meta, &terms[i].xorb, terms[i].first, terms[i].end,
					 rows, NULL) == 0) {
			for (uint32_t k = 0; k < terms[i].end - terms[i].first; k++)
				raw += rows[k].raw_len;
			if (raw != terms[i].raw_len)
				fault(fc, "file %s: term %zu is %llu bytes, its chunks %llu", hex, i,
				      (unsigned long long)terms[i].raw_len, (unsigned long long)raw);
		}
		free(rows);
		total += terms[i].raw_len;
	}
	if (total != size)
		fault(fc, "file %s: terms add up to %llu of %llu bytes", hex,
		      (unsigned long long)total, (unsigned long long)size);
	free(terms);
	return 0;
}

typedef struct obj_check {
	fsck_ctx *fc;
	const cairn_bucket_row *b;
} obj_check;

static int check_object(void *ctx, const cairn_object_row *row)
{
	obj_check *oc = ctx;
	cairn_term *terms = NULL;
	uint64_t size;
	size_t n;
	int rc = oc->fc->r->meta->file_get(oc->fc->r->meta, &row->file, &size, &terms, &n);

	if (rc < 0)
		fault(oc->fc, "object %s/%s/%.*s: its file is missing", oc->b->ns, oc->b->name,
		      (int)(row->key_len > 200 ? 200 : row->key_len), row->key);
	else if (size != row->size)
		fault(oc->fc, "object %s/%s/%.*s: %llu bytes, its file %llu", oc->b->ns,
		      oc->b->name, (int)(row->key_len > 200 ? 200 : row->key_len), row->key,
		      (unsigned long long)row->size, (unsigned long long)size);
	free(terms);
	return 0;
}

/* A part of an upload in progress: a file like an object's (GC keeps it; fsck checks it). */
typedef struct part_check {
	obj_check *oc;
	const char *id;
} part_check;

static int check_part(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
		      const uint8_t md5[16], int64_t created_ns)
{
	part_check *pc = ctx;
	fsck_ctx *fc = pc->oc->fc;
	cairn_term *terms = NULL;
	uint64_t fsize;
	size_t n;
	int rc = fc->r->meta->file_get(fc->r->meta, file, &fsize, &terms, &n);

	(void)md5;
	(void)created_ns;
	if (rc < 0)
		fault(fc, "upload %s in %s/%s: part %u's file is missing", pc->id, pc->oc->b->ns,
		      pc->oc->b->name, number);
	else if (fsize != size)
		fault(fc, "upload %s in %s/%s: part %u has %llu bytes, its file %llu", pc->id,
		      pc->oc->b->ns, pc->oc->b->name, number, (unsigned long long)size,
		      (unsigned long long)fsize);
	free(terms);
	return 0;
}

static int check_upload(void *ctx, const char *id, const char *key, size_t key_len,
			int64_t created_ns)
{
	part_check pc = {ctx, id};
	int rc = pc.oc->fc->r->meta->mpu_parts(pc.oc->fc->r->meta, id, 0, 0, check_part, &pc);

	(void)key;
	(void)key_len;
	(void)created_ns;
	if (rc < 0) {
		pc.oc->fc->err = rc;
		return 1;
	}
	return 0;
}

static int check_bucket(void *ctx, const cairn_bucket_row *b)
{
	fsck_ctx *fc = ctx;
	obj_check oc = {fc, b};
	int rc = fc->r->meta->object_list(fc->r->meta, b->id, NULL, 0, NULL, 0, 0, check_object,
					  &oc);

	if (rc >= 0 && !fc->err)
		rc = fc->r->meta->mpu_list(fc->r->meta, b->id, NULL, 0, NULL, 0, NULL, 0,
					   check_upload, &oc);
	if (rc < 0 || fc->err) {
		if (rc < 0)
			fc->err = rc;
		return 1;
	}
	return 0;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(cairn_hash));
}

static int check_orphan(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	fsck_ctx *fc = ctx;
	char hex[CAIRN_HASH_HEX_LEN + 1];

	(void)size;
	(void)mtime_ns;
	if ((fc->nknown == 0 ||
	     bsearch(xorb, fc->known, fc->nknown, sizeof(cairn_hash), cmp_hash) == NULL) &&
	    fc->r->meta->name_state(fc->r->meta, xorb, NULL) != 1) {
		/* harmless (a crash between storing and recording), but reported */
		cairn_hash_to_hex(hex, xorb);
		if (fc->fn) {
			char line[160];
			snprintf(line, sizeof(line), "note: xorb %s is stored but not recorded (orphan)",
				 hex);
			fc->fn(fc->ctx, line);
		}
	}
	return 0;
}

int cairn_repo_fsck(cairn_repo *r, cairn_fsck_fn fn, void *ctx, uint64_t *faults)
{
	fsck_ctx fc;
	int rc;

	memset(&fc, 0, sizeof(fc));
	fc.r = r;
	fc.fn = fn;
	fc.ctx = ctx;
	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = r->meta->xorb_list(r->meta, check_xorb, &fc);
	if (rc >= 0 && !fc.err)
		rc = r->meta->file_list(r->meta, check_file, &fc);
	if (rc >= 0 && !fc.err)
		rc = r->meta->bucket_list(r->meta, NULL, check_bucket, &fc);
	if (rc >= 0 && !fc.err) {
		if (fc.nknown > 1)
			qsort(fc.known, fc.nknown, sizeof(cairn_hash), cmp_hash);
		rc = r->store->list(r->store, check_orphan, &fc);
	}
	r->meta->rollback(r->meta);
	if (fc.err)
		rc = fc.err;
	free(fc.known);
	if (rc > 0)
		rc = 0;
	if (rc == 0 && faults)
		*faults = fc.faults;
	return rc;
}
