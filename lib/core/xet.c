/*
 * xet.c - the engine's side of the chunk protocol (repo.h): which chunks a
 * caller may know of and use, taking xorbs clients built, reconstruction
 * terms for downloads, and batches of object changes committed by chunk
 * list.
 *
 * The rule that holds it together: a caller learns of, and may build files
 * from, only chunks it could read anyway or has shown it holds (by
 * uploading them: a grant). So the dedup query is no oracle for what
 * other tenants store, and a chunk hash alone never yields the chunk's
 * bytes. The store still keeps each chunk once: a xorb's chunks that are
 * stored already are dropped at ingest, whoever stored them.
 */
#include "core_int.h"

#include <stdlib.h>
#include <string.h>

static const char *caller_ns(const cairn_caller *who)
{
	return who ? who->ns : NULL;
}

static bool caller_all(const cairn_caller *who)
{
	return who && who->admin;
}

/* ---- a set of hashes -------------------------------------------------------------- */

/*
 * Open addressing over indices into an array of hashes; chunk hashes are
 * uniform, so their first word is a fine table hash. Finds the first
 * index holding each hash, in O(1) expected per call.
 */
typedef struct hash_set {
	size_t *slot; /* index + 1; 0: empty */
	size_t mask;
} hash_set;

static int hash_set_init(hash_set *hs, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	hs->slot = calloc(cap, sizeof(*hs->slot));
	hs->mask = cap - 1;
	return hs->slot ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory");
}

/* The first index i of `all` with all[i] == all[k]; records k if it is the first. */
static size_t hash_set_first(hash_set *hs, const cairn_hash *(*at)(const void *, size_t),
			     const void *all, size_t k)
{
	const cairn_hash *h = at(all, k);
	size_t pos = (size_t)cairn__load64_le(h->bytes) & hs->mask;

	while (hs->slot[pos] != 0) {
		if (cairn_hash_equal(at(all, hs->slot[pos] - 1), h))
			return hs->slot[pos] - 1;
		pos = (pos + 1) & hs->mask;
	}
	hs->slot[pos] = k + 1;
	return k;
}

static const cairn_hash *array_at(const void *all, size_t k)
{
	return &((const cairn_hash *)all)[k];
}

static const cairn_hash *xorb_at(const void *x, size_t k)
{
	return cairn_xorb_chunk_hash(x, k);
}

/* ---- the dedup query -------------------------------------------------------------- */

int cairn_chunks_query(cairn_repo *r, const cairn_caller *who, const cairn_hash *chunks,
		       size_t n, bool *present)
{
	int64_t since = cairn__now_ns() - CAIRN_GRANT_NS;
	cairn_hash *xorbs = NULL;
	hash_set seen = {NULL, 0};
	size_t nx = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	xorbs = malloc(n * sizeof(*xorbs));
	if (xorbs == NULL || hash_set_init(&seen, n) != 0) {
		free(xorbs);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		cairn_hash x;
		/* a hash asked twice is looked up once: repeating one cannot amplify timing */
		size_t first = hash_set_first(&seen, array_at, chunks, i);
		if (first != i) {
			present[i] = present[first];
			continue;
		}
		rc = r->meta->chunk_access(r->meta, &chunks[i], caller_ns(who), caller_all(who),
					   since, &x, NULL, NULL);
		present[i] = rc == 0;
		if (rc == CAIRN_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto done;
		/* runs of chunks share a xorb: touch each once per run */
		if (nx == 0 || !cairn_hash_equal(&xorbs[nx - 1], &x))
			xorbs[nx++] = x;
	}
	cairn_error_clear();
	/*
	 * Promised to a writer: GC keeps these through its grace period while
	 * it commits. A reader cannot commit, and costs no write transaction.
	 */
	if (nx > 0 && who && who->writer && (rc = r->meta->begin(r->meta, true)) == 0) {
		int64_t now = cairn__now_ns();
		for (size_t i = 0; i < nx && rc == 0; i++) {
			rc = r->meta->xorb_touch(r->meta, &xorbs[i], now);
			if (rc == CAIRN_ENOTFOUND)
				rc = 0; /* collected since: the commit will say so */
		}
		if (rc == 0)
			rc = r->meta->commit(r->meta);
		else
			r->meta->rollback(r->meta);
	}
done:
	free(seen.slot);
	free(xorbs);
	return rc;
}

/* ---- xorbs from clients ------------------------------------------------------------- */

/*
 * Touch the xorb holding each chunk the store had before this ingest and
 * grant ns every chunk, in one transaction. CAIRN_ENOTFOUND: one of those
 * xorbs was collected meanwhile (nothing committed).
 */
static int grant_all(cairn_repo *r, const char *ns, const cairn_xorb *x, const bool *had)
{
	size_t n = cairn_xorb_chunk_count(x);
	int64_t now = cairn__now_ns();
	int rc = r->meta->begin(r->meta, true);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		cairn_hash at;
		if (!had[i])
			continue;
		rc = r->meta->chunk_lookup(r->meta, cairn_xorb_chunk_hash(x, i), &at, NULL);
		if (rc == 0)
			rc = r->meta->xorb_touch(r->meta, &at, now);
	}
	if (rc == 0)
		rc = r->meta->grant_put(r->meta, ns, cairn_xorb_chunk_hash(x, 0), n, now);
	if (rc == 0)
		return r->meta->commit(r->meta);
	r->meta->rollback(r->meta);
	return rc;
}

/* Repack chunks of x the store lacks (had[i] false, first copy only) into a xorb of ours. */
static int store_new_chunks(cairn_repo *r, const cairn_xorb *x, const uint8_t *bytes,
			    const bool *had, uint64_t *stored)
{
	size_t n = cairn_xorb_chunk_count(x);
	cairn_xorb_writer *w = NULL;
	const uint8_t *out;
	cairn_hash xh;
	size_t len;
	int rc = cairn_xorb_writer_new(&w);

	hash_set seen = {NULL, 0};

	if (rc == 0)
		rc = hash_set_init(&seen, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		cairn_xorb_span sp;
		/* a chunk the xorb holds twice is stored once */
		if (had[i] || hash_set_first(&seen, xorb_at, x, i) != i)
			continue;
		cairn_xorb_span_get(x, i, i + 1, &sp);
		rc = cairn_xorb_writer_add_packed(w, bytes + sp.offset, sp.length);
	}
	free(seen.slot);
	if (rc == 0)
		rc = cairn_xorb_writer_finish(w, &xh, &out, &len);
	if (rc == 0)
		rc = r->store->put(r->store, &xh, out, len);
	if (rc == 0)
		rc = cairn__xorb_record(r, &xh, out, len, stored);
	cairn_xorb_writer_free(w);
	return rc;
}

int cairn_xorb_ingest(cairn_repo *r, const char *ns, const cairn_hash *name, const void *bytes,
		      size_t len, cairn_ingest_result *res)
{
	cairn_ingest_result out = {0, 0, 0};
	char want[CAIRN_HASH_HEX_LEN + 1], got[CAIRN_HASH_HEX_LEN + 1];
	cairn_xorb *x = NULL;
	bool *had = NULL;
	size_t n;
	int rc;

	int64_t since = cairn__now_ns() - CAIRN_GRANT_NS;
	size_t missing = 0;
	uint64_t ignored;

	if (ns == NULL)
		return cairn__error_set(CAIRN_EINVALID, "a xorb upload needs a namespace");
	/* the client's bytes being wrong is the client's error, whatever the reader calls it */
	if ((rc = cairn_xorb_open(&x, bytes, len)) < 0)
		return rc == CAIRN_ENOMEM ? rc : cairn__error_set(CAIRN_EINVALID, "%s",
								  cairn_error_last());
	if (!cairn_hash_equal(cairn_xorb_id(x), name)) {
		cairn_hash_to_hex(want, name);
		cairn_hash_to_hex(got, cairn_xorb_id(x));
		rc = cairn__error_set(CAIRN_EINVALID, "xorb hash is %s, not %s as named", got, want);
		goto done;
	}
	n = out.chunks = cairn_xorb_chunk_count(x);
	if (n > CAIRN_XORB_MAX_CHUNKS) {
		rc = cairn__error_set(CAIRN_EINVALID, "a xorb holds at most %u chunks, this one %zu",
				      CAIRN_XORB_MAX_CHUNKS, n);
		goto done;
	}
	/* Cairn's own schemes live at rest only: what clients exchange decodes anywhere */
	if ((rc = cairn_xorb_check_xet_schemes(x)) < 0)
		goto done;
	if ((rc = cairn_xorb_verify(x)) < 0) {
		if (rc != CAIRN_ENOMEM)
			rc = cairn__error_set(CAIRN_EINVALID, "%s", cairn_error_last());
		goto done;
	}
	had = calloc(n ? n : 1, sizeof(*had));
	if (had == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const cairn_hash *h = cairn_xorb_chunk_hash(x, i);
		cairn_xorb_span sp;
		/* what the store holds decides what to store... */
		rc = r->meta->chunk_lookup(r->meta, h, NULL, NULL);
		if (rc < 0 && rc != CAIRN_ENOTFOUND)
			goto done;
		had[i] = rc == 0;
		missing += !had[i];
		/*
		 * ...but the answer speaks only of what the caller could see: a
		 * chunk stored for another tenant counts as new here, with the
		 * bytes it came in (else the answer would be an oracle).
		 */
		rc = r->meta->chunk_access(r->meta, h, ns, false, since, NULL, NULL, NULL);
		if (rc < 0 && rc != CAIRN_ENOTFOUND)
			goto done;
		if (rc == CAIRN_ENOTFOUND) {
			cairn_xorb_span_get(x, i, i + 1, &sp);
			out.new_chunks++;
			out.stored_bytes += sp.length;
		}
	}
	cairn_error_clear();
	rc = 0;
	if (missing == n) {
		/* all new: keep it exactly as the client made it */
		rc = r->store->put(r->store, name, bytes, len);
		if (rc == 0)
			rc = cairn__xorb_record(r, name, bytes, len, &ignored);
	} else if (missing > 0) {
		rc = store_new_chunks(r, x, bytes, had, &ignored);
	}
	if (rc < 0)
		goto done;
	rc = grant_all(r, ns, x, had);
	if (rc == CAIRN_ENOTFOUND) {
		/* a chunk we counted on was collected meanwhile: keep the whole xorb */
		memset(had, 0, n * sizeof(*had));
		rc = r->store->put(r->store, name, bytes, len);
		if (rc == 0)
			rc = cairn__xorb_record(r, name, bytes, len, &ignored);
		if (rc == 0)
			rc = grant_all(r, ns, x, had);
	}
	if (rc == 0 && res)
		*res = out;
done:
	free(had);
	cairn_xorb_free(x);
	return rc;
}

/* ---- reconstruction ------------------------------------------------------------------- */

/*
 * A recompressed xorb's term t: set out's stored-form span, from the head
 * of the run chunk t->first is in to the end of the run chunk t->end - 1
 * is in (the rows read land in *win, *cap its room).
 */
static int stored_span(cairn_repo *r, const cairn_term *t, cairn_chunk_row **win, size_t *cap,
		       cairn_recon_term *out)
{
	cairn_xorb_row xr;
	uint32_t lo, h, e;
	int rc = r->meta->xorb_get(r->meta, &t->xorb, &xr);

	if (rc == 0)
		rc = cairn__term_rows(r, t, &xr, win, cap, &lo, &h, &e);
	if (rc < 0)
		return rc;
	out->form = xr.name;
	out->form_first = h;
	out->form_end = e;
	out->form_start = (*win)[h - lo].offset;
	out->form_stop = (*win)[e - 1 - lo].offset + (*win)[e - 1 - lo].packed_len;
	if (out->form_stop <= out->form_start ||
	    out->form_stop - out->form_start > CAIRN_XORB_MAX_BYTES)
		return cairn__error_set(CAIRN_ECORRUPT, "chunk offsets out of order");
	return 0;
}

int cairn_file_reconstruct(cairn_repo *r, const cairn_caller *who, const cairn_hash *file,
			   uint64_t *size, cairn_recon_term **terms, size_t *n)
{
	return cairn_file_reconstruct_as(r, who, file,
					 CAIRN_RECON_RAW_LAYOUT | CAIRN_RECON_STORED_FORMS, size,
					 terms, n);
}

int cairn_file_reconstruct_as(cairn_repo *r, const cairn_caller *who, const cairn_hash *file,
			      unsigned forms, uint64_t *size, cairn_recon_term **terms, size_t *n)
{
	cairn_term *t = NULL;
	cairn_recon_term *out = NULL;
	cairn_chunk_row *rows = NULL, *before = NULL, *win = NULL;
	size_t nt = 0, win_cap = 0;
	cairn_hash name;
	int rc;

	rc = r->meta->begin(r->meta, false);
	if (rc < 0)
		return rc;
	rc = r->meta->file_visible(r->meta, file, caller_ns(who), caller_all(who));
	if (rc == 0)
		rc = r->meta->file_get(r->meta, file, size, &t, &nt);
	if (rc == 0 && nt > 0 && (out = calloc(nt, sizeof(*out))) == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < nt && rc == 0; i++) {
		size_t k = t[i].end - t[i].first;
		cairn_chunk_row *nr;
		uint64_t raw = 0;
		/* sizes from the metadata are bounded before they size anything */
		if (t[i].end <= t[i].first || k > CAIRN_XORB_MAX_BYTES / CAIRN_XORB_CHUNK_HEADER_LEN) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "term with chunks %u..%u", t[i].first,
					      t[i].end);
			break;
		}
		if ((nr = realloc(rows, k * sizeof(*rows))) == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		rows = nr;
		rc = r->meta->xorb_chunks(r->meta, &t[i].xorb, t[i].first, t[i].end, rows, &name);
		if (rc < 0)
			break;
		/* recompressed: the client gets the xet form of the chunks, stored as is */
		out[i].raw_layout = !cairn_hash_equal(&name, &t[i].xorb);
		if (out[i].raw_layout && (forms & CAIRN_RECON_STORED_FORMS) &&
		    (rc = stored_span(r, &t[i], &win, &win_cap, &out[i])) < 0)
			break;
		for (size_t j = 0; j < k; j++)
			raw += rows[j].raw_len;
		if (raw != t[i].raw_len) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "term %zu: chunks add up to %llu bytes, "
					      "not %llu", i, (unsigned long long)raw,
					      (unsigned long long)t[i].raw_len);
			break;
		}
		out[i].xorb = t[i].xorb;
		out[i].first = t[i].first;
		out[i].end = t[i].end;
		out[i].raw_len = raw;
		if (out[i].raw_layout && (forms & CAIRN_RECON_RAW_LAYOUT)) {
			/* its raw layout: every chunk before it, as is, comes first */
			uint64_t at = (uint64_t)CAIRN_XORB_CHUNK_HEADER_LEN * t[i].first;
			if (t[i].first > 0) {
				nr = realloc(before, t[i].first * sizeof(*before));
				if (nr == NULL) {
					rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
					break;
				}
				before = nr;
				rc = r->meta->xorb_chunks(r->meta, &t[i].xorb, 0, t[i].first, before,
							  NULL);
				if (rc < 0)
					break;
			}
			for (uint32_t j = 0; j < t[i].first; j++)
				at += before[j].raw_len;
			out[i].byte_start = at;
			out[i].byte_end = at + (uint64_t)CAIRN_XORB_CHUNK_HEADER_LEN * k + raw;
		} else if (!out[i].raw_layout) {
			out[i].byte_start = rows[0].offset;
			out[i].byte_end = rows[k - 1].offset + rows[k - 1].packed_len;
		}
	}
	r->meta->rollback(r->meta); /* a read transaction: nothing to keep */
	free(rows);
	free(before);
	free(win);
	free(t);
	if (rc < 0) {
		free(out);
		return rc;
	}
	*terms = out;
	*n = nt;
	return 0;
}

int cairn_xorb_read_bytes(cairn_repo *r, const cairn_hash *xorb, uint64_t off, size_t len,
			  void *out)
{
	return r->store->read(r->store, xorb, off, len, out);
}

/*
 * The raw layout of a xorb, cut at [off, off + len): find the chunks that
 * overlap, read their stored bytes at once (whole runs), decode and check
 * them, and lay them out with NONE headers.
 */
struct cairn_xorb_raw {
	cairn_repo *r;
	cairn_hash xorb, name;
	cairn_chunk_row *rows;
	uint64_t *at; /* where chunk i's header sits in the raw layout; at[n]: the end */
	size_t n;
	/* the chunks last decoded, [s, e), and their bytes */
	size_t s, e;
	uint8_t *raw;
	size_t raw_cap;
};

void cairn_xorb_raw_close(cairn_xorb_raw *x)
{
	if (x == NULL)
		return;
	free(x->rows);
	free(x->at);
	free(x->raw);
	free(x);
}

int cairn_xorb_raw_open(cairn_xorb_raw **out, cairn_repo *r, const cairn_hash *xorb)
{
	const uint64_t H = CAIRN_XORB_CHUNK_HEADER_LEN;
	cairn_xorb_raw *x = calloc(1, sizeof(*x));
	cairn_xorb_row row;
	int rc;

	if (x == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	x->r = r;
	x->xorb = *xorb;
	rc = r->meta->begin(r->meta, false);
	if (rc == 0) {
		rc = r->meta->xorb_get(r->meta, xorb, &row);
		if (rc == 0 && (row.chunks == 0 || row.chunks > CAIRN_XORB_MAX_BYTES / H))
			rc = cairn__error_set(CAIRN_ECORRUPT, "xorb with %u chunks", row.chunks);
		if (rc == 0 && ((x->rows = malloc(row.chunks * sizeof(*x->rows))) == NULL ||
				(x->at = malloc((row.chunks + 1) * sizeof(*x->at))) == NULL))
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		if (rc == 0)
			rc = r->meta->xorb_chunks(r->meta, xorb, 0, row.chunks, x->rows, &x->name);
		r->meta->rollback(r->meta);
	}
	if (rc == 0) {
		x->n = row.chunks;
		x->at[0] = 0;
		for (size_t k = 0; k < x->n && rc == 0; k++) {
			if (x->rows[k].raw_len == 0 || x->rows[k].raw_len > CAIRN_CHUNK_MAX)
				rc = cairn__error_set(CAIRN_ECORRUPT, "chunk %zu has impossible sizes", k);
			x->at[k + 1] = x->at[k] + H + x->rows[k].raw_len;
		}
	}
	if (rc < 0) {
		cairn_xorb_raw_close(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* Decode chunks [s, e) (whole runs) into x->raw, unless they are there already. */
static int raw_decode(cairn_xorb_raw *x, size_t s, size_t e)
{
	cairn_hash *hashes;
	uint64_t plen = x->rows[e - 1].offset + x->rows[e - 1].packed_len - x->rows[s].offset;
	size_t rlen = (size_t)(x->at[e] - x->at[s] - CAIRN_XORB_CHUNK_HEADER_LEN * (e - s)), got;
	uint8_t *packed;
	int rc;

	if (x->raw != NULL && x->s <= s && e <= x->e)
		return 0;
	/* offsets come from the metadata: a span that runs backwards or past a xorb is damage */
	if (x->rows[e - 1].offset < x->rows[s].offset || plen > CAIRN_XORB_MAX_BYTES)
		return cairn__error_set(CAIRN_ECORRUPT, "chunk offsets out of order");
	x->s = x->e = 0;
	if (rlen > x->raw_cap) {
		uint8_t *nr = realloc(x->raw, rlen);
		if (nr == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		x->raw = nr;
		x->raw_cap = rlen;
	}
	packed = malloc(plen ? plen : 1);
	hashes = malloc((e - s) * sizeof(*hashes));
	if (packed == NULL || hashes == NULL) {
		free(packed);
		free(hashes);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (size_t k = s; k < e; k++)
		hashes[k - s] = x->rows[k].hash;
	rc = x->r->store->read(x->r->store, &x->name, x->rows[s].offset, plen, packed);
	if (rc == 0)
		rc = cairn_xorb_decode_range(x->raw, rlen, &got, packed, plen, hashes, e - s);
	if (rc == 0 && got != rlen)
		rc = cairn__error_set(CAIRN_ECORRUPT, "chunks decode to %zu bytes, expected %zu", got,
				      rlen);
	free(packed);
	free(hashes);
	if (rc == 0) {
		x->s = s;
		x->e = e;
	}
	return rc;
}

int cairn_xorb_raw_read(cairn_xorb_raw *x, uint64_t off, size_t len, void *out)
{
	const uint64_t H = CAIRN_XORB_CHUNK_HEADER_LEN;
	uint64_t end = off + len;
	uint8_t *dst = out;
	size_t i, j, s, e;
	int rc;

	if (len == 0)
		return 0;
	if (off > x->at[x->n] || len > x->at[x->n] - off)
		return cairn__error_set(CAIRN_EINVALID, "bytes %llu..%llu are past the xorb's %llu",
					(unsigned long long)off, (unsigned long long)end,
					(unsigned long long)x->at[x->n]);
	/* chunks [i, j) overlap; runs are read whole: [s, e) */
	for (i = 0; x->at[i + 1] <= off; i++)
		;
	for (j = i; j < x->n && x->at[j] < end; j++)
		;
	for (s = i; s > 0 && x->rows[s].packed_len == H; s--)
		;
	for (e = j; e < x->n && x->rows[e].packed_len == H; e++)
		;
	/* a group of at most 8 MiB decoded at once: a long read goes in several */
	if (x->at[e] - x->at[s] > ((uint64_t)8 << 20) && j - i > 1) {
		size_t mid = i + 1;
		while (mid < j - 1 && x->at[mid + 1] - x->at[i] <= ((uint64_t)4 << 20))
			mid++;
		rc = cairn_xorb_raw_read(x, off, (size_t)(x->at[mid] - off), out);
		if (rc == 0)
			rc = cairn_xorb_raw_read(x, x->at[mid], (size_t)(end - x->at[mid]),
						 dst + (x->at[mid] - off));
		return rc;
	}
	if ((rc = raw_decode(x, s, e)) < 0)
		return rc;
	/* lay chunks [i, j) out as NONE chunks, keeping what falls in [off, end) */
	for (size_t k = i; k < j; k++) {
		uint8_t hdr[CAIRN_XORB_CHUNK_HEADER_LEN];
		uint32_t n = x->rows[k].raw_len;
		const uint8_t *parts[2] = {
			hdr, x->raw + (x->at[k] - x->at[x->s] - H * (k - x->s))};
		const uint64_t lens[2] = {H, n};
		uint64_t pos = x->at[k];

		hdr[0] = 0;
		hdr[1] = (uint8_t)n;
		hdr[2] = (uint8_t)(n >> 8);
		hdr[3] = (uint8_t)(n >> 16);
		hdr[4] = CAIRN_XORB_NONE;
		hdr[5] = (uint8_t)n;
		hdr[6] = (uint8_t)(n >> 8);
		hdr[7] = (uint8_t)(n >> 16);
		for (int p = 0; p < 2; p++) {
			uint64_t a = pos > off ? pos : off, b = pos + lens[p] < end ? pos + lens[p] : end;
			if (b > a)
				memcpy(dst + (a - off), parts[p] + (a - pos), (size_t)(b - a));
			pos += lens[p];
		}
	}
	return 0;
}

/* ---- batches ---------------------------------------------------------------------------- */

/* An add, checked and resolved to terms before the transaction. */
typedef struct resolved {
	cairn_term *terms;
	size_t n;
} resolved;

/* Resolve op's chunks to terms, checking each is visible to who and has its stated length. */
static int resolve_add(cairn_repo *r, const cairn_caller *who, const cairn_batch_op *op,
		       resolved *rs)
{
	int64_t since = cairn__now_ns() - CAIRN_GRANT_NS;
	char h[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash fh;
	uint64_t total = 0;
	int rc;

	if (op->chunks == NULL) {
		/* by hash alone: a file the caller can read already */
		uint64_t size;
		rc = r->meta->file_visible(r->meta, &op->file, caller_ns(who), caller_all(who));
		if (rc == 0)
			rc = r->meta->file_get(r->meta, &op->file, &size, &rs->terms, &rs->n);
		if (rc == CAIRN_ENOTFOUND)
			return cairn__error_set(CAIRN_EINVALID, "file %s is not stored or not "
						"visible to you (send its chunks)",
						(cairn_hash_to_hex(h, &op->file), h));
		if (rc == 0 && size != op->size)
			rc = cairn__error_set(CAIRN_EINVALID, "file %s has %llu bytes, not %llu",
					      (cairn_hash_to_hex(h, &op->file), h),
					      (unsigned long long)size,
					      (unsigned long long)op->size);
		return rc;
	}
	if (op->nchunks > 0 && (rs->terms = malloc(op->nchunks * sizeof(*rs->terms))) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < op->nchunks; i++) {
		const cairn_chunk_ref *c = &op->chunks[i];
		cairn_term *t = rs->n ? &rs->terms[rs->n - 1] : NULL;
		cairn_hash x;
		uint32_t idx, raw;

		/*
		 * What the chunker makes: every chunk but the last at least
		 * CAIRN_CHUNK_MIN bytes, none over CAIRN_CHUNK_MAX. It bounds a
		 * file's chunks (and terms) by its size.
		 */
		if (c->len == 0 || c->len > CAIRN_CHUNK_MAX ||
		    (i + 1 < op->nchunks && c->len < CAIRN_CHUNK_MIN))
			return cairn__error_set(CAIRN_EINVALID, "chunk %zu has %llu bytes: not a "
						"chunk the chunker makes (%d..%d bytes, only the "
						"last may be shorter)", i, (unsigned long long)c->len,
						CAIRN_CHUNK_MIN, CAIRN_CHUNK_MAX);

		rc = r->meta->chunk_access(r->meta, &c->hash, caller_ns(who), caller_all(who),
					   since, &x, &idx, &raw);
		if (rc == CAIRN_ENOTFOUND)
			return cairn__error_set(CAIRN_EINVALID, "chunk %s is not stored or not "
						"visible to you (upload it first)",
						(cairn_hash_to_hex(h, &c->hash), h));
		if (rc < 0)
			return rc;
		if (raw != c->len)
			return cairn__error_set(CAIRN_EINVALID, "chunk %s has %u bytes, not %llu",
						(cairn_hash_to_hex(h, &c->hash), h), raw,
						(unsigned long long)c->len);
		total += raw;
		if (t && cairn_hash_equal(&t->xorb, &x) && t->end == idx) {
			t->end++;
			t->raw_len += raw;
			continue;
		}
		t = &rs->terms[rs->n++];
		t->xorb = x;
		t->first = idx;
		t->end = idx + 1;
		t->raw_len = raw;
	}
	cairn_error_clear();
	if (total != op->size)
		return cairn__error_set(CAIRN_EINVALID, "the chunks add up to %llu bytes, not %llu",
					(unsigned long long)total, (unsigned long long)op->size);
	if ((rc = cairn_file_hash(&fh, op->chunks, op->nchunks, NULL)) < 0)
		return rc;
	if (!cairn_hash_equal(&fh, &op->file))
		return cairn__error_set(CAIRN_EINVALID, "the chunks hash to file %s, not the one "
					"named", (cairn_hash_to_hex(h, &fh), h));
	return 0;
}

/* Apply one checked op inside the batch's transaction. */
static int apply_one(cairn_repo *r, const cairn_caller *who, int64_t bucket,
		     cairn_batch_op *op, const resolved *rs, int64_t now)
{
	cairn_object_row row;
	int rc;

	memset(&row, 0, sizeof(row));
	row.key = op->key;
	row.key_len = op->key_len;
	row.created_ns = now;
	switch (op->type) {
	case CAIRN_OP_ADD:
		rc = r->meta->file_put(r->meta, &op->file, op->size, rs->terms, rs->n, now);
		if (rc < 0)
			return rc;
		row.file = op->file;
		row.size = op->size;
		row.mtime_ns = op->mtime_ns;
		return cairn__object_put(r, bucket, &row);
	case CAIRN_OP_COPY: {
		cairn_bucket_row src;
		cairn_object_row o;
		rc = r->meta->bucket_get(r->meta, op->src_ns, op->src_name, &src);
		if (rc == 0 && src.is_private && !caller_all(who) &&
		    !(who && who->ns && strcmp(who->ns, src.ns) == 0))
			rc = CAIRN_ENOTFOUND;
		if (rc == CAIRN_ENOTFOUND)
			return cairn__error_set(rc, "no bucket %s/%s", op->src_ns, op->src_name);
		if (rc == 0)
			rc = r->meta->object_get(r->meta, src.id, op->src_key, op->src_key_len, &o);
		if (rc == CAIRN_ENOTFOUND)
			return cairn__error_set(rc, "no object %.*s in %s/%s", (int)op->src_key_len,
						op->src_key, op->src_ns, op->src_name);
		if (rc < 0)
			return rc;
		row.file = op->file = o.file;
		row.size = op->size = o.size;
		row.mtime_ns = o.mtime_ns;
		row.content_type = NULL; /* o's strings are only good until the next call */
		return cairn__object_put(r, bucket, &row);
	}
	case CAIRN_OP_DELETE:
		rc = r->meta->object_delete(r->meta, bucket, op->key, op->key_len);
		op->missing = rc == CAIRN_ENOTFOUND;
		if (op->missing)
			cairn_error_clear();
		return op->missing ? 0 : rc;
	}
	return cairn__error_set(CAIRN_EINVALID, "unknown operation");
}

int cairn_batch_apply(cairn_repo *r, const cairn_caller *who, const char *ns, const char *name,
		      cairn_batch_op *ops, size_t n, size_t *bad)
{
	resolved *rs = calloc(n ? n : 1, sizeof(*rs));
	int64_t bucket, now = cairn__now_ns();
	size_t i = 0;
	int rc;

	if (bad)
		*bad = n;
	if (rs == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn__bucket_id(r, ns, name, &bucket)) < 0) {
		i = n;
		goto done;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (ops[i].key_len == 0 || ops[i].key_len > CAIRN_KEY_MAX)
			rc = cairn__error_set(CAIRN_EINVALID, "bad path");
		else if (ops[i].type == CAIRN_OP_ADD)
			rc = resolve_add(r, who, &ops[i], &rs[i]);
	}
	if (rc < 0) {
		i--;
		goto done;
	}
	if ((rc = r->meta->begin(r->meta, true)) < 0) {
		i = n;
		goto done;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = apply_one(r, who, bucket, &ops[i], &rs[i], now);
	if (rc == 0) {
		i = n;
		rc = r->meta->commit(r->meta);
	} else {
		i--;
		r->meta->rollback(r->meta);
	}
done:
	if (rc < 0 && bad)
		*bad = i;
	for (size_t k = 0; k < n; k++)
		free(rs[k].terms);
	free(rs);
	return rc;
}
