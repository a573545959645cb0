/*
 * repack.c - recompression at rest (cairn_repo_recompress, repo.h).
 *
 * Ingest keeps xet's fast schemes; this pass gives cold xorbs Cairn's
 * stronger ones. A xorb's identity never changes: the same chunks, hashes
 * and xorb hash, so file terms, the chunk index and every client's view
 * stay as they were. What changes is its stored form, which is why a
 * xorb row has a generation and the name of its current form.
 *
 * The order of events is what makes a crash harmless:
 *   1. the old form is read whole and every chunk checked;
 *   2. the new form is built and stored durably under a name keyed by the
 *      xorb and the new bytes (cairn_xorb_form_name);
 *   3. one transaction moves the row and its chunk offsets to the new form
 *      and retires the old name;
 *   4. GC removes the retired form after its grace period, and a new form
 *      step 3 never recorded (a crash, or a lost race) as any orphan.
 * Before 3 commits the old form is current; after, the new one is; both
 * are complete on disk throughout.
 */
#include "core_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void cairn_xorb_form_name(cairn_hash *out, const cairn_hash *xorb, const void *bytes, size_t len)
{
	cairn_hash content;

	cairn_chunk_hash(&content, bytes, len);
	cairn_hash_keyed(out, &content, xorb);
}

int cairn_xorb_form_size(cairn_repo *r, const cairn_hash *form, uint64_t *size)
{
	int rc = r->meta->begin(r->meta, false);

	if (rc < 0)
		return rc;
	rc = r->meta->name_state(r->meta, form, NULL);
	r->meta->rollback(r->meta);
	if (rc < 0)
		return rc;
	return r->store->size(r->store, form, size);
}

typedef struct candidates {
	cairn_xorb_row *rows;
	size_t n, cap;
	int64_t cutoff;
	int err;
} candidates;

static int collect(void *ctx, const cairn_xorb_row *row)
{
	candidates *c = ctx;

	if (row->gen != 0 || row->created_ns >= c->cutoff || row->used_ns >= c->cutoff)
		return 0;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 256;
		cairn_xorb_row *nr = realloc(c->rows, ncap * sizeof(*nr));
		if (nr == NULL) {
			c->err = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			return 1;
		}
		c->rows = nr;
		c->cap = ncap;
	}
	c->rows[c->n++] = *row;
	return 0;
}

/* Remove a new form nothing recorded (the xorb went, or another pass won), under the write lock. */
static void drop_unrecorded(cairn_repo *r, const cairn_hash *name)
{
	if (r->meta->begin(r->meta, true) != 0)
		return;
	if (r->meta->name_state(r->meta, name, NULL) == CAIRN_ENOTFOUND)
		r->store->remove(r->store, name);
	r->meta->rollback(r->meta);
}

typedef struct pauser {
	int (*fn)(void *ctx);
	void *ctx;
} pauser;

/* Let other work go first, if the caller asks; CAIRN_ECANCELED if it says stop. */
static int pause_point(const pauser *p)
{
	if (p->fn != NULL && p->fn(p->ctx) != 0)
		return cairn__error_set(CAIRN_ECANCELED, "recompression stopped");
	return 0;
}

/*
 * Rewrite one xorb. *after gets its stored bytes; *changed whether a new
 * form was recorded. Returns 0 or an error.
 */
static int repack_one(cairn_repo *r, const cairn_xorb_row *row, cairn_xorb_writer *w,
		      uint8_t *chunk, const pauser *pz, bool *changed, uint64_t *after)
{
	char hex[CAIRN_HASH_HEX_LEN + 1];
	cairn_chunk_row *rows = NULL;
	cairn_xorb *x = NULL;
	uint8_t *data = NULL;
	const uint8_t *out;
	cairn_hash xh, name;
	size_t n, len;
	int rc;

	*changed = false;
	*after = row->stored;
	cairn_hash_to_hex(hex, &row->hash);
	if (row->stored > CAIRN_XORB_MAX_BYTES)
		return cairn__error_set(CAIRN_ECORRUPT, "xorb %s: %llu bytes recorded", hex,
					(unsigned long long)row->stored);
	if ((data = malloc(row->stored ? row->stored : 1)) == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	rc = r->store->read(r->store, &row->name, 0, row->stored, data);
	if (rc == CAIRN_ENOTFOUND) {
		rc = 0; /* collected meanwhile: nothing to do */
		goto done;
	}
	if (rc == 0)
		rc = cairn_xorb_open(&x, data, row->stored);
	if (rc == 0 && !cairn_hash_equal(cairn_xorb_id(x), &row->hash))
		rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s: its contents hash to another name",
				      hex);
	if (rc < 0)
		goto done;

	/*
	 * Every chunk decoded and checked, then packed again in runs of
	 * consecutive chunks: the writer keeps a run as one frame when that
	 * is smaller than its chunks one by one (text finds matches in the
	 * chunks before), else packs them one by one (numbers group bytes).
	 */
	n = cairn_xorb_chunk_count(x);
	cairn_xorb_writer_reset(w);
	for (size_t a = 0, b; a < n && rc == 0; a = b) {
		const void *ptrs[CAIRN_XORB_RUN_MAX_CHUNKS];
		size_t lens[CAIRN_XORB_RUN_MAX_CHUNKS], raw = 0;

		for (b = a; b < n && b - a < CAIRN_XORB_RUN_MAX_CHUNKS &&
			    raw + cairn_xorb_chunk_len(x, b) <= CAIRN_XORB_RUN_MAX_RAW;
		     b++) {
			lens[b - a] = cairn_xorb_chunk_len(x, b);
			ptrs[b - a] = chunk + raw;
			raw += lens[b - a];
		}
		rc = pause_point(pz);
		if (rc == 0)
			rc = cairn_xorb_read_chunks(x, a, b, chunk, CAIRN_XORB_RUN_MAX_RAW);
		if (rc == 0)
			rc = cairn_xorb_writer_add_run(w, ptrs, lens, cairn_xorb_chunk_hash(x, a), b - a);
	}
	if (rc == 0)
		rc = cairn_xorb_writer_finish(w, &xh, &out, &len);
	if (rc == 0 && !cairn_hash_equal(&xh, &row->hash))
		rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s: repacked, it hashes otherwise", hex);
	if (rc == CAIRN_ETOOBIG || rc == CAIRN_EINVALID) {
		rc = 0; /* it does not fit Cairn's form (or has empty chunks): kept as it came */
		len = (size_t)row->stored;
	}
	if (rc < 0)
		goto done;
	if ((uint64_t)len * 100 > row->stored * 99) {
		/* under 1% to gain: kept as it is, marked done so no pass tries again */
		if ((rows = malloc((n ? n : 1) * sizeof(*rows))) == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			goto done;
		}
		if ((rc = pause_point(pz)) < 0)
			goto done;
		rc = r->meta->begin(r->meta, true);
		if (rc == 0) {
			rc = r->meta->xorb_chunks(r->meta, &row->hash, 0, (uint32_t)n, rows, NULL);
			if (rc == 0)
				rc = r->meta->xorb_repack(r->meta, &row->hash, row->gen,
							  row->gen + 1, &row->name, row->stored,
							  rows, n, cairn__now_ns());
			if (rc == 0)
				rc = r->meta->commit(r->meta);
			else
				r->meta->rollback(r->meta);
		}
		if (rc == CAIRN_ENOTFOUND)
			rc = 0;
		goto done;
	}

	/* the new form's chunk rows, from the new bytes */
	{
		cairn_xorb *nx = NULL;
		if ((rows = malloc(n * sizeof(*rows))) == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			goto done;
		}
		if ((rc = cairn_xorb_open(&nx, out, len)) < 0)
			goto done;
		for (size_t i = 0; i < n; i++) {
			cairn_xorb_span sp;
			cairn_xorb_span_get(nx, i, i + 1, &sp);
			rows[i].hash = *cairn_xorb_chunk_hash(nx, i);
			rows[i].offset = sp.offset;
			rows[i].packed_len = (uint32_t)sp.length;
			rows[i].raw_len = cairn_xorb_chunk_len(nx, i);
		}
		cairn_xorb_free(nx);
	}
	/*
	 * The last pause is before the write: from the write to the commit
	 * there is none, since gc takes a stored form nothing records for an
	 * orphan once it is older than the grace period
	 */
	cairn_xorb_form_name(&name, &row->hash, out, len);
	if ((rc = pause_point(pz)) < 0 || (rc = r->store->put(r->store, &name, out, len)) < 0)
		goto done;
	rc = r->meta->begin(r->meta, true);
	if (rc == 0) {
		/* the put may have found an earlier attempt's file, which gc may take */
		rc = cairn__store_ensure(r, &name, out, len);
		if (rc == 0)
			rc = r->meta->xorb_repack(r->meta, &row->hash, row->gen, row->gen + 1,
						  &name, len, rows, n, cairn__now_ns());
		if (rc == 0)
			rc = r->meta->commit(r->meta);
		else
			r->meta->rollback(r->meta);
	}
	if (rc == CAIRN_ENOTFOUND) {
		/* gone, or recompressed by another pass: ours is an orphan unless it won */
		drop_unrecorded(r, &name);
		rc = 0;
		goto done;
	}
	if (rc == 0) {
		*changed = true;
		*after = len;
	}
done:
	cairn_xorb_free(x);
	free(data);
	free(rows);
	return rc;
}

int cairn_repo_recompress(cairn_repo *r, const cairn_recompress_options *opts,
			  cairn_recompress_result *out)
{
	cairn_recompress_result res;
	cairn_xorb_writer *w = NULL;
	pauser pz = {NULL, NULL};
	candidates c;
	uint8_t *chunk = NULL;
	int rc;

	memset(&res, 0, sizeof(res));
	memset(&c, 0, sizeof(c));
	if (opts && (opts->version < 1 || opts->version > CAIRN_RECOMPRESS_OPTIONS_VERSION)) {
		rc = cairn__error_set(CAIRN_EINVALID, "recompress options version %u, expected "
				      "1..%u", opts->version, CAIRN_RECOMPRESS_OPTIONS_VERSION);
		goto done;
	}
	if (opts && opts->version >= 2) /* version 1 ends before the pause */
		pz = (pauser){opts->pause, opts->pause_ctx};
	if (opts && opts->min_age_ns < 0) {
		rc = cairn__error_set(CAIRN_EINVALID, "negative age");
		goto done;
	}
	rc = cairn_xorb_writer_new(&w);
	if (rc == 0)
		rc = cairn_xorb_writer_set_scheme(w, CAIRN_XORB_COMPACT);
	if (rc == 0 && opts && opts->level)
		rc = cairn_xorb_writer_set_level(w, opts->level);
	if (rc == 0 && (chunk = malloc(CAIRN_XORB_RUN_MAX_RAW)) == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if (rc < 0)
		goto done;

	/* the candidates first (no writes under a running scan) */
	c.cutoff = cairn__now_ns() - (opts ? opts->min_age_ns : 0);
	if ((rc = r->meta->begin(r->meta, false)) < 0)
		goto done;
	rc = r->meta->xorb_list(r->meta, collect, &c);
	r->meta->rollback(r->meta);
	if (c.err)
		rc = c.err;
	if (rc < 0)
		goto done;

	for (size_t i = 0; i < c.n; i++) {
		bool changed = false;
		uint64_t after = 0;

		if (opts && opts->cancel && atomic_load(opts->cancel)) {
			rc = cairn__error_set(CAIRN_ECANCELED, "recompression stopped");
			break;
		}
		if (opts && opts->max_xorbs && res.xorbs >= opts->max_xorbs)
			break;
		rc = pause_point(&pz);
		if (rc == 0)
			rc = repack_one(r, &c.rows[i], w, chunk, &pz, &changed, &after);
		if (rc < 0)
			break;
		res.xorbs++;
		res.rewritten += changed;
		res.kept += !changed;
		res.bytes_before += c.rows[i].stored;
		res.bytes_after += after;
		res.raw_bytes += c.rows[i].raw;
		if (opts && opts->progress)
			opts->progress(opts->progress_ctx, &res);
	}
done:
	if (out)
		*out = res;
	cairn_xorb_writer_free(w);
	free(chunk);
	free(c.rows);
	return rc;
}
