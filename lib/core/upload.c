/*
 * upload.c - writing an object: chunk the stream as it arrives, look each
 * chunk up (first among the chunks this upload already stored, then in
 * the chunk index), pack only new chunks into xorbs, store each full xorb
 * durably and record it, and at commit write the file and the object in
 * one transaction.
 *
 * Order is what makes it crash-safe: a xorb is durable in the store before
 * its metadata row exists, and both exist before any file refers to them.
 * A crash at any point leaves at worst unreferenced xorbs, which GC
 * reclaims after the grace period. Chunks found in the index mark their
 * xorb as promised (used_ns), so GC keeps it through the grace period, and
 * the commit re-checks that every xorb it refers to is still there.
 *
 * Memory: the open chunk (<= 128 KiB) in a 4 MiB window, one xorb being
 * packed and one being stored (<= 32 MiB each), and about 150 bytes per
 * chunk of the object (its hash and place, and the in-upload dedup map).
 *
 * The same machinery serves callers that cut the chunks themselves
 * (cairn__upload_chunk, cairn__upload_stored: completing a multipart
 * upload, mpu.c) and callers that record something other than an object
 * at commit (cairn__upload_commit_with: a part).
 */
#include "core_int.h"

#include <jansson.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW (4u << 20)
/*
 * Xorbs this writer closes at 32 MiB rather than xet's 64 MiB ceiling: one
 * is stored while the next fills, so two are in memory at once, and two
 * halves keep an upload's memory where one full xorb had it.
 */
#define XORB_TARGET (32u << 20)
#define NO_SLOT UINT32_MAX

/* A xorb this upload refers to: stored earlier, or being packed now. */
typedef struct xslot {
	cairn_hash hash; /* known once stored */
	bool stored;
	bool touched;
} xslot;

/* Where one chunk of the object lives. */
typedef struct chunk_loc {
	uint32_t slot;
	uint32_t idx;
} chunk_loc;

/* Open-addressing map: chunk hash -> location, for chunks this upload stored. */
typedef struct dedup_map {
	struct dm_entry {
		cairn_hash h;
		chunk_loc loc;
		bool used;
	} *e;
	size_t cap, n;
} dedup_map;

struct cairn_upload {
	cairn_repo *r;
	cairn_chunker ck;
	uint8_t *buf;
	size_t len;   /* bytes in buf */
	size_t start; /* open chunk starts here */
	size_t scan;  /* chunker has seen up to here */

	cairn_chunk_ref *refs; /* every chunk of the object, in order */
	chunk_loc *locs;
	size_t n, cap;

	xslot *slots;
	size_t nslots, slots_cap;
	uint32_t open_slot; /* the xorb being packed, or NO_SLOT */
	cairn_xorb_writer *w;      /* packing now */
	cairn_xorb_writer *w_next; /* the other one: being stored, or idle */
	dedup_map map;

	/* A full xorb being written to the store on a thread of its own while
	 * packing goes on; recorded (on this thread) once it is durable. */
	struct pending {
		bool active, threaded;
		pthread_t tid;
		cairn_repo *r;
		cairn_xorb_writer *w;
		uint32_t slot;
		cairn_hash xh;
		const uint8_t *bytes;
		size_t len;
		int rc;
		char err[256];
	} pend;

	/* who writes: dedup is reported against what they can see (set_caller) */
	bool has_who, who_admin, who_anon;
	char who_ns[CAIRN_NAME_MAX + 1];
	cairn_xorb_writer *scratch; /* sizes chunks stored for others as if stored now */

	cairn_put_result res;
	int err; /* sticky: after a failure the upload can only be freed */
	bool committed;
};

static uint64_t hash_key(const cairn_hash *h)
{
	uint64_t k;
	memcpy(&k, h->bytes, sizeof(k));
	return k;
}

static int map_grow(dedup_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	struct dm_entry *ne = calloc(ncap, sizeof(*ne));

	if (ne == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->e[i].used)
			continue;
		for (size_t j = hash_key(&m->e[i].h) & (ncap - 1);; j = (j + 1) & (ncap - 1)) {
			if (!ne[j].used) {
				ne[j] = m->e[i];
				break;
			}
		}
	}
	free(m->e);
	m->e = ne;
	m->cap = ncap;
	return 0;
}

static const chunk_loc *map_find(const dedup_map *m, const cairn_hash *h)
{
	if (m->cap == 0)
		return NULL;
	for (size_t j = hash_key(h) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
		if (!m->e[j].used)
			return NULL;
		if (cairn_hash_equal(&m->e[j].h, h))
			return &m->e[j].loc;
	}
}

static int map_put(dedup_map *m, const cairn_hash *h, chunk_loc loc)
{
	if ((m->n + 1) * 2 > m->cap) {
		int rc = map_grow(m);
		if (rc < 0)
			return rc;
	}
	for (size_t j = hash_key(h) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
		if (!m->e[j].used) {
			m->e[j].used = true;
			m->e[j].h = *h;
			m->e[j].loc = loc;
			m->n++;
			return 0;
		}
	}
}

int cairn_upload_new(cairn_upload **out, cairn_repo *r)
{
	cairn_upload *u = calloc(1, sizeof(*u));
	int rc;

	if (u == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	u->r = r;
	u->open_slot = NO_SLOT;
	cairn_chunker_init(&u->ck);
	u->buf = malloc(WINDOW);
	if (u->buf == NULL) {
		free(u);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	rc = cairn_xorb_writer_new(&u->w);
	if (rc == 0)
		rc = cairn_xorb_writer_new(&u->w_next);
	if (rc < 0) {
		cairn_xorb_writer_free(u->w);
		free(u->buf);
		free(u);
		return rc;
	}
	*out = u;
	return 0;
}

static void wait_store(cairn_upload *u);

int cairn_upload_set_caller(cairn_upload *u, const cairn_caller *who)
{
	if (who == NULL) {
		u->has_who = false;
		return 0;
	}
	if (who->ns && strlen(who->ns) > CAIRN_NAME_MAX)
		return cairn__error_set(CAIRN_EINVALID, "namespace too long");
	u->has_who = true;
	u->who_admin = who->admin;
	u->who_anon = who->ns == NULL;
	snprintf(u->who_ns, sizeof(u->who_ns), "%s", who->ns ? who->ns : "");
	return 0;
}

/*
 * A chunk found stored (chunk `idx` of xorb): if the writer could not see
 * it, report it as new, with the bytes it takes in the store.
 */
static int count_unseen(cairn_upload *u, const uint8_t *p, size_t len, const cairn_hash *h)
{
	cairn_meta *m = u->r->meta;
	int rc;

	if (!u->has_who)
		return 0;
	rc = m->chunk_access(m, h, u->who_anon ? NULL : u->who_ns, u->who_admin,
			     cairn__now_ns() - CAIRN_GRANT_NS, NULL, NULL, NULL);
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	cairn_error_clear();
	/*
	 * Its stored size as this upload would have stored it: the size of
	 * the copy the store holds would tell how (and so whether) someone
	 * else stored it.
	 */
	if (u->scratch == NULL && (rc = cairn_xorb_writer_new(&u->scratch)) < 0)
		return rc;
	cairn_xorb_writer_reset(u->scratch); /* one chunk at a time: memory stays one chunk */
	if ((rc = cairn_xorb_writer_add(u->scratch, p, len, h)) < 0)
		return rc;
	u->res.new_chunks++;
	u->res.new_bytes += len;
	u->res.stored_bytes += cairn_xorb_writer_chunk_bytes(u->scratch);
	return 0;
}

void cairn_upload_free(cairn_upload *u)
{
	if (u == NULL)
		return;
	wait_store(u); /* never free a buffer a store thread still reads */
	cairn_xorb_writer_free(u->w);
	cairn_xorb_writer_free(u->w_next);
	cairn_xorb_writer_free(u->scratch);
	free(u->buf);
	free(u->refs);
	free(u->locs);
	free(u->slots);
	free(u->map.e);
	free(u);
}

static int new_slot(cairn_upload *u, uint32_t *out)
{
	if (u->nslots == u->slots_cap) {
		size_t ncap = u->slots_cap ? u->slots_cap * 2 : 16;
		xslot *ns = realloc(u->slots, ncap * sizeof(*ns));
		if (ns == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		u->slots = ns;
		u->slots_cap = ncap;
	}
	memset(&u->slots[u->nslots], 0, sizeof(xslot));
	*out = (uint32_t)u->nslots++;
	return 0;
}

/* The slot of a stored xorb found in the index, made once per xorb. */
static int known_slot(cairn_upload *u, const cairn_hash *xorb, uint32_t *out)
{
	/* most chunks found in the index come from the xorb the last one did */
	for (size_t k = u->nslots; k-- > 0 && u->nslots - k <= 8;) {
		if (u->slots[k].stored && cairn_hash_equal(&u->slots[k].hash, xorb)) {
			*out = (uint32_t)k;
			return 0;
		}
	}
	for (size_t k = 0; k < u->nslots; k++) {
		if (u->slots[k].stored && cairn_hash_equal(&u->slots[k].hash, xorb)) {
			*out = (uint32_t)k;
			return 0;
		}
	}
	{
		int rc = new_slot(u, out);
		if (rc < 0)
			return rc;
	}
	u->slots[*out].hash = *xorb;
	u->slots[*out].stored = true;
	return 0;
}

static void *store_thread(void *arg)
{
	struct pending *p = arg;

	p->rc = p->r->store->put(p->r->store, &p->xh, p->bytes, p->len);
	if (p->rc < 0)
		snprintf(p->err, sizeof(p->err), "%s", cairn_error_last());
	return NULL;
}

/* Wait for the store thread, if one runs. */
static void wait_store(cairn_upload *u)
{
	if (u->pend.active && u->pend.threaded) {
		pthread_join(u->pend.tid, NULL);
		u->pend.threaded = false;
	}
}

int cairn__store_ensure(cairn_repo *r, const cairn_hash *name, const void *bytes, size_t len)
{
	uint64_t have = 0;
	int rc = r->store->size(r->store, name, &have);

	if (rc == CAIRN_ENOTFOUND)
		return r->store->put(r->store, name, bytes, len);
	if (rc == 0 && have != len)
		return cairn__error_set(CAIRN_ECORRUPT, "stored xorb has %llu bytes, not %zu",
					(unsigned long long)have, len);
	return rc;
}

/*
 * Record a xorb that is durable in the store: its row and its chunks in the
 * chunk index, in a transaction of its own. *packed (may be NULL) gets its
 * chunks' serialized bytes (headers included, footer not).
 */
int cairn__xorb_record(cairn_repo *r, const cairn_hash *xh, const uint8_t *bytes, size_t len,
		       uint64_t *packed)
{
	cairn_xorb *x = NULL;
	cairn_chunk_row *rows = NULL;
	cairn_xorb_row xr;
	uint64_t sum = 0;
	size_t n;
	int rc;

	rc = cairn_xorb_open(&x, bytes, len);
	if (rc < 0)
		return rc;
	n = cairn_xorb_chunk_count(x);
	rows = malloc(n * sizeof(*rows));
	if (rows == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	memset(&xr, 0, sizeof(xr));
	for (size_t i = 0; i < n; i++) {
		cairn_xorb_span sp;
		cairn_xorb_span_get(x, i, i + 1, &sp);
		rows[i].hash = *cairn_xorb_chunk_hash(x, i);
		rows[i].offset = sp.offset;
		rows[i].packed_len = (uint32_t)sp.length;
		rows[i].raw_len = cairn_xorb_chunk_len(x, i);
		xr.raw += rows[i].raw_len;
		sum += rows[i].packed_len;
	}
	xr.hash = *xh;
	xr.stored = len;
	xr.chunks = (uint32_t)n;
	xr.created_ns = xr.used_ns = cairn__now_ns();
	rc = r->meta->begin(r->meta, true);
	if (rc < 0)
		goto done;
	/* a GC that dropped an identical xorb's records may have removed its file */
	rc = cairn__store_ensure(r, xh, bytes, len);
	if (rc == 0)
		rc = r->meta->xorb_put(r->meta, &xr, rows, n);
	if (rc < 0) {
		r->meta->rollback(r->meta);
		goto done;
	}
	rc = r->meta->commit(r->meta);
	if (rc == 0 && packed)
		*packed = sum;
done:
	cairn_xorb_free(x);
	free(rows);
	return rc;
}

/*
 * Finish the pending xorb: wait until it is durable in the store, then
 * record it and its chunks (its own transaction).
 */
static int complete_flush(cairn_upload *u)
{
	struct pending *p = &u->pend;
	uint64_t packed;
	int rc;

	if (!p->active)
		return 0;
	wait_store(u);
	if (p->rc < 0)
		return cairn__error_set(p->rc, "%s", p->err);
	rc = cairn__xorb_record(u->r, &p->xh, p->bytes, p->len, &packed);
	if (rc < 0)
		return rc;
	u->res.stored_bytes += packed;
	u->slots[p->slot].hash = p->xh;
	u->slots[p->slot].stored = true;
	u->slots[p->slot].touched = true;
	cairn_xorb_writer_reset(p->w);
	p->active = false;
	return 0;
}

/*
 * The xorb being packed is full (or the object ends): record the one
 * before it, then start storing this one on a thread of its own and go on
 * packing into the other writer. Storing (a 64 MiB write and fsync) thus
 * overlaps with chunking, hashing and compressing the next xorb.
 */
static int start_flush(cairn_upload *u)
{
	struct pending *p = &u->pend;
	cairn_xorb_writer *tmp;
	int rc;

	if (u->open_slot == NO_SLOT)
		return 0;
	rc = complete_flush(u);
	if (rc < 0)
		return rc;
	p->r = u->r;
	p->w = u->w;
	p->slot = u->open_slot;
	p->rc = 0;
	p->err[0] = '\0';
	rc = cairn_xorb_writer_finish(p->w, &p->xh, &p->bytes, &p->len);
	if (rc < 0)
		return rc;
	p->active = true;
	p->threaded = pthread_create(&p->tid, NULL, store_thread, p) == 0;
	if (!p->threaded)
		store_thread(p); /* no thread to be had: store it here */
	tmp = u->w;
	u->w = u->w_next;
	u->w_next = tmp;
	u->open_slot = NO_SLOT;
	return 0;
}

/* Store and record everything packed so far. */
static int flush_xorb(cairn_upload *u)
{
	int rc = start_flush(u);

	return rc < 0 ? rc : complete_flush(u);
}

static int push_ref(cairn_upload *u, const cairn_hash *h, size_t len, chunk_loc loc)
{
	if (u->n == u->cap) {
		size_t ncap = u->cap ? u->cap * 2 : 1024;
		cairn_chunk_ref *nr = realloc(u->refs, ncap * sizeof(*nr));
		chunk_loc *nl;
		if (nr == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		u->refs = nr;
		nl = realloc(u->locs, ncap * sizeof(*nl));
		if (nl == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		u->locs = nl;
		u->cap = ncap;
	}
	u->refs[u->n].hash = *h;
	u->refs[u->n].len = len;
	u->locs[u->n] = loc;
	u->n++;
	u->res.chunks++;
	u->res.size += len;
	return 0;
}

/* One complete chunk of the object. */
static int take_chunk(cairn_upload *u, const uint8_t *p, size_t len)
{
	cairn_repo *r = u->r;
	const chunk_loc *have;
	chunk_loc loc;
	cairn_hash h, xorb;
	uint32_t idx;
	int rc;

	cairn_chunk_hash(&h, p, len);
	have = map_find(&u->map, &h);
	if (have)
		return push_ref(u, &h, len, *have);

	rc = r->meta->chunk_lookup(r->meta, &h, &xorb, &idx);
	if (rc == 0) {
		rc = known_slot(u, &xorb, &loc.slot);
		if (rc < 0)
			return rc;
		if (!u->slots[loc.slot].touched) {
			/* promise: GC keeps this xorb through the grace period */
			rc = r->meta->begin(r->meta, true);
			if (rc == 0)
				rc = r->meta->xorb_touch(r->meta, &xorb, cairn__now_ns());
			if (rc == 0)
				rc = r->meta->commit(r->meta);
			else
				r->meta->rollback(r->meta);
			if (rc == CAIRN_ENOTFOUND) {
				/* collected between lookup and touch: forget it, pack anew */
				u->slots[loc.slot].stored = false;
				memset(&u->slots[loc.slot].hash, 0, sizeof(cairn_hash));
				goto pack;
			}
			if (rc < 0)
				return rc;
			u->slots[loc.slot].touched = true;
		}
		loc.idx = idx;
		if ((rc = count_unseen(u, p, len, &h)) < 0)
			return rc;
		rc = map_put(&u->map, &h, loc);
		return rc < 0 ? rc : push_ref(u, &h, len, loc);
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
pack:

	/* new: pack it, starting a new xorb when this one has its share */
	if (u->open_slot != NO_SLOT && cairn_xorb_writer_size(u->w) + len + 256 > XORB_TARGET) {
		rc = start_flush(u);
		if (rc < 0)
			return rc;
	}
	if (u->open_slot == NO_SLOT) {
		rc = new_slot(u, &u->open_slot);
		if (rc < 0)
			return rc;
	}
	rc = cairn_xorb_writer_add(u->w, p, len, &h);
	if (rc == CAIRN_ETOOBIG) {
		rc = start_flush(u);
		if (rc < 0)
			return rc;
		rc = new_slot(u, &u->open_slot);
		if (rc < 0)
			return rc;
		rc = cairn_xorb_writer_add(u->w, p, len, &h);
	}
	if (rc < 0)
		return rc;
	loc.slot = u->open_slot;
	loc.idx = (uint32_t)(cairn_xorb_writer_count(u->w) - 1);
	u->res.new_chunks++;
	u->res.new_bytes += len;
	rc = map_put(&u->map, &h, loc);
	return rc < 0 ? rc : push_ref(u, &h, len, loc);
}

/* Cut whatever complete chunks the window holds. */
static int scan(cairn_upload *u)
{
	while (u->scan < u->len) {
		bool cut;
		u->scan += cairn_chunker_next(&u->ck, u->buf + u->scan, u->len - u->scan, &cut);
		if (cut) {
			int rc = take_chunk(u, u->buf + u->start, u->scan - u->start);
			if (rc < 0)
				return rc;
			u->start = u->scan;
		}
	}
	return 0;
}

int cairn_upload_write(cairn_upload *u, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (u->err)
		return u->err;
	if (u->committed)
		return cairn__error_set(CAIRN_EINVALID, "upload already committed");
	while (len > 0) {
		size_t room, take;
		int rc;

		if (u->len == WINDOW) {
			/* keep only the open chunk (< 128 KiB) */
			memmove(u->buf, u->buf + u->start, u->len - u->start);
			u->len -= u->start;
			u->scan -= u->start;
			u->start = 0;
		}
		room = WINDOW - u->len;
		take = len < room ? len : room;
		memcpy(u->buf + u->len, p, take);
		u->len += take;
		p += take;
		len -= take;
		rc = scan(u);
		if (rc < 0)
			return u->err = rc;
	}
	return 0;
}

/* --- put options ------------------------------------------------------------------ */

/*
 * User metadata as S3 has it: a JSON object of string values, at most
 * CAIRN_USER_META_MAX bytes of names and values (what S3 counts), and a
 * text the metadata can store.
 */
static int check_user_meta(const char *text)
{
	size_t len = strnlen(text, CAIRN_USER_META_TEXT_MAX + 1), bytes = 0;
	json_error_t jerr;
	const char *name;
	json_t *obj, *v;
	int rc = 0;

	if (len > CAIRN_USER_META_TEXT_MAX)
		return cairn__error_set(CAIRN_ETOOBIG, "user metadata text over %d bytes",
					CAIRN_USER_META_TEXT_MAX);
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
		return cairn__error_set(CAIRN_EINVALID, "user metadata is not JSON: %s", jerr.text);
	if (!json_is_object(obj)) {
		rc = cairn__error_set(CAIRN_EINVALID, "user metadata is not a JSON object");
		goto done;
	}
	json_object_foreach(obj, name, v) {
		if (!json_is_string(v)) {
			rc = cairn__error_set(CAIRN_EINVALID, "user metadata '%.64s' is not a string",
					      name);
			goto done;
		}
		bytes += strlen(name) + json_string_length(v);
	}
	if (bytes > CAIRN_USER_META_MAX)
		rc = cairn__error_set(CAIRN_ETOOBIG,
				      "user metadata has %zu bytes of names and values, over %d",
				      bytes, CAIRN_USER_META_MAX);
done:
	json_decref(obj);
	return rc;
}

int cairn__put_opts_read(cairn__put_opts *out, const cairn_put_options *o)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return 0;
	if (o->version < 1 || o->version > CAIRN_PUT_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID,
					"put options version %u (this build knows 1..%d)", o->version,
					CAIRN_PUT_OPTIONS_VERSION);
	out->mtime_ns = o->mtime_ns;
	out->content_type = o->content_type;
	out->md5 = o->md5;
	if (o->content_type && strnlen(o->content_type, CAIRN_CTYPE_MAX + 1) > CAIRN_CTYPE_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a content type has at most %d bytes",
					CAIRN_CTYPE_MAX);
	/* printable ASCII, what a media type is: the same answer from every metadata
	 * backend (PostgreSQL's text would refuse bytes that are not UTF-8) */
	for (const char *p = o->content_type; p && *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
			return cairn__error_set(CAIRN_EINVALID,
						"a content type is printable ASCII (byte 0x%02x)",
						(unsigned char)*p);
	/* a version 1 caller's struct ends before these: never read them */
	if (o->version >= 2) {
		if (o->user_meta && (rc = check_user_meta(o->user_meta)) < 0)
			return rc;
		if (o->parts > CAIRN_MPU_PARTS_MAX)
			return cairn__error_set(CAIRN_EINVALID, "%u parts, over %d", o->parts,
						CAIRN_MPU_PARTS_MAX);
		out->user_meta = o->user_meta;
		out->parts = o->parts;
	}
	return 0;
}

/* --- commit ------------------------------------------------------------------------ */

/*
 * Store what is left, hash the file, and make its terms (runs of
 * consecutive chunks of one xorb): *terms malloc'd.
 */
static int finish(cairn_upload *u, cairn_term **out, size_t *nout)
{
	cairn_term *terms = NULL;
	size_t nterms = 0;
	int rc;

	if (u->len > u->start) {
		rc = take_chunk(u, u->buf + u->start, u->len - u->start);
		if (rc < 0)
			return rc;
		u->start = u->scan = u->len;
	}
	rc = flush_xorb(u);
	if (rc < 0)
		return rc;
	rc = cairn_file_hash(&u->res.file, u->refs, u->n, NULL);
	if (rc < 0)
		return rc;
	if (u->n > 0) {
		terms = malloc(u->n * sizeof(*terms));
		if (terms == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < u->n; i++) {
		const chunk_loc *l = &u->locs[i];
		cairn_term *t = nterms ? &terms[nterms - 1] : NULL;
		if (t && cairn_hash_equal(&t->xorb, &u->slots[l->slot].hash) && t->end == l->idx) {
			t->end++;
			t->raw_len += u->refs[i].len;
			continue;
		}
		t = &terms[nterms++];
		t->xorb = u->slots[l->slot].hash;
		t->first = l->idx;
		t->end = l->idx + 1;
		t->raw_len = u->refs[i].len;
	}
	*out = terms;
	*nout = nterms;
	return 0;
}

/* Inside the commit's transaction: the file, then what the caller records. */
static int commit_txn(cairn_upload *u, const cairn_term *terms, size_t nterms,
		      cairn__record_fn fn, void *ctx)
{
	cairn_repo *r = u->r;
	int64_t now = cairn__now_ns();
	int rc;

	/* every xorb still there (a GC past the grace period would show here) */
	for (size_t i = 0; i < u->nslots; i++) {
		cairn_xorb_row xr;
		rc = r->meta->xorb_get(r->meta, &u->slots[i].hash, &xr);
		if (rc == CAIRN_ENOTFOUND)
			return cairn__error_set(CAIRN_EIO,
						"a xorb this upload uses was collected; retry the upload");
		if (rc < 0)
			return rc;
	}
	rc = r->meta->file_put(r->meta, &u->res.file, u->res.size, terms, nterms, now);
	return rc < 0 ? rc : fn(ctx, r, &u->res, now);
}

int cairn__upload_commit_with(cairn_upload *u, cairn__record_fn fn, void *ctx,
			      cairn_put_result *res)
{
	cairn_repo *r = u->r;
	cairn_term *terms = NULL;
	size_t nterms = 0;
	int rc;

	if (u->err)
		return u->err;
	if (u->committed)
		return cairn__error_set(CAIRN_EINVALID, "upload already committed");
	rc = finish(u, &terms, &nterms);
	if (rc < 0)
		return u->err = rc;
	rc = r->meta->begin(r->meta, true);
	if (rc == 0) {
		rc = commit_txn(u, terms, nterms, fn, ctx);
		if (rc == 0)
			rc = r->meta->commit(r->meta);
		else
			r->meta->rollback(r->meta);
	}
	free(terms);
	if (rc < 0)
		return rc; /* not sticky: the caller may retry the commit */
	u->committed = true;
	if (res)
		*res = u->res;
	return 0;
}

/* Where an object commit goes, and with what. */
typedef struct object_dest {
	const char *ns, *name, *key;
	size_t key_len;
	const cairn__put_opts *o;
} object_dest;

static int record_object(void *ctx, cairn_repo *r, const cairn_put_result *res, int64_t now_ns)
{
	const object_dest *d = ctx;
	cairn_object_row row;
	int64_t id;
	int rc = cairn__bucket_id(r, d->ns, d->name, &id);

	if (rc < 0)
		return rc;
	memset(&row, 0, sizeof(row));
	row.key = d->key;
	row.key_len = d->key_len;
	row.file = res->file;
	row.size = res->size;
	row.mtime_ns = d->o->mtime_ns;
	row.created_ns = now_ns;
	row.content_type = d->o->content_type;
	if (d->o->md5) {
		row.has_md5 = true;
		memcpy(row.md5, d->o->md5, 16);
	}
	row.parts = d->o->parts;
	row.user_meta = d->o->user_meta;
	return cairn__object_put(r, id, &row);
}

int cairn_upload_commit(cairn_upload *u, const char *ns, const char *name, const char *key,
			size_t key_len, const cairn_put_options *opts, cairn_put_result *res)
{
	cairn__put_opts o;
	object_dest d = {ns, name, key, key_len, &o};
	int rc = cairn__put_opts_read(&o, opts);

	return rc < 0 ? rc : cairn__upload_commit_with(u, record_object, &d, res);
}

/* --- chunks cut by the caller ----------------------------------------------------------- */

int cairn__upload_chunk(cairn_upload *u, const void *data, size_t len)
{
	int rc;

	if (u->err)
		return u->err;
	if (u->committed || u->len > u->start || len == 0 || len > CAIRN_CHUNK_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a chunk of %zu bytes cannot be added here",
					len);
	rc = take_chunk(u, data, len);
	return rc < 0 ? (u->err = rc) : 0;
}

int cairn__upload_stored(cairn_upload *u, const cairn_chunk_ref *c, const cairn_hash *xorb,
			 uint32_t idx)
{
	chunk_loc loc;
	int rc;

	if (u->err)
		return u->err;
	if (u->committed || u->len > u->start || c->len == 0 || c->len > CAIRN_CHUNK_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a chunk of %llu bytes cannot be added here",
					(unsigned long long)c->len);
	/* no promise needed: a recorded file names it, and keeps it */
	rc = known_slot(u, xorb, &loc.slot);
	if (rc == 0) {
		loc.idx = idx;
		rc = push_ref(u, &c->hash, (size_t)c->len, loc);
	}
	return rc < 0 ? (u->err = rc) : 0;
}

int cairn_object_put(cairn_repo *r, const char *ns, const char *name, const char *key,
		     size_t key_len, const void *data, size_t len, const cairn_put_options *opts,
		     cairn_put_result *res)
{
	cairn_upload *u;
	int rc = cairn_upload_new(&u, r);

	if (rc < 0)
		return rc;
	rc = cairn_upload_write(u, data, len);
	if (rc == 0)
		rc = cairn_upload_commit(u, ns, name, key, key_len, opts, res);
	cairn_upload_free(u);
	return rc;
}

int cairn_object_put_fd(cairn_repo *r, const char *ns, const char *name, const char *key,
			size_t key_len, int fd, const cairn_put_options *opts,
			cairn_put_result *res)
{
	cairn_upload *u;
	uint8_t *buf = malloc(1u << 20);
	int rc;

	if (buf == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_upload_new(&u, r);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	for (;;) {
		ssize_t got = read(fd, buf, 1u << 20);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = cairn__error_set(CAIRN_EIO, "read: %s", strerror(errno));
			break;
		}
		if (got == 0)
			break;
		rc = cairn_upload_write(u, buf, (size_t)got);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = cairn_upload_commit(u, ns, name, key, key_len, opts, res);
	cairn_upload_free(u);
	free(buf);
	return rc;
}
