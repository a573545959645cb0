/*
 * xet.c - the chunk protocol from the client's side (docs/api.md, "The
 * chunk protocol"): uploads that send only the chunks the server lacks,
 * downloads rebuilt from reconstruction terms, and server-side copies.
 *
 * Upload (cairn_client_put_file): the file is chunked and hashed here
 * (cairn_hash_fd), repeats within it are dropped, the server is asked
 * which of the rest it has, and the chunks it lacks are read back with
 * pread, packed into xorbs and sent; then one batch line commits the
 * object by its chunk list. The chunks to send are cut into xorb-sized
 * groups up front, so that worker threads can each take the next group,
 * pack it (the costly part: compression) and send it, with no ordering
 * between them: a xorb is named by its own hash, and the commit names
 * chunks, not xorbs.
 *
 * Download (cairn_client_get_file): the reconstruction lists terms (runs
 * of chunks of one xorb, in file order) and, per xorb, the byte ranges to
 * fetch. Each fetch range is one ranged GET, taken by the next free worker
 * and decoded as its bytes arrive (cairn_xorb_stream); every decoded chunk
 * is written at the file offsets of each term that uses it (one range may
 * serve several terms, and terms may repeat) and its hash and length kept
 * at its place in the file's chunk list. Nothing is trusted until the end:
 * the file hash recomputed from that list must be the object's, or the
 * temporary file is removed.
 *
 * Threads: the calling thread is worker 0 and uses the caller's client;
 * the others clone it (own connection). A failing worker records the first
 * error and the others stop at their next step; the calling thread
 * re-raises it once all are joined.
 */
#include "client_int.h"
#include "cairn/chunk.h"
#include "cairn/hash.h"
#include "cairn/xorb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUERY_MAX 8192          /* hashes per dedup query (the server's limit) */
#define XORB_TARGET (32u << 20) /* bytes of a xorb we pack, footer included */
#define FOOTER_FIXED 128u       /* a v1 footer's fixed part and length field, rounded up */
#define FOOTER_PER_CHUNK 40u    /* hash + two ends */
#define PARALLEL_UP 4
#define PARALLEL_DOWN 6
#define PARALLEL_MAX 16
#define XORB_TRIES 8          /* 1 + 7 retries, backoff 0.2 s doubling to 5 s */
#define RECON_MAX (64u << 20) /* ceiling on a reconstruction answer */
#define REF_LEN 40            /* a chunk in a commit: 32-byte hash, u64 LE length */
#define BATCH_MAX (64u << 20) /* the server's ceiling on a batch body */

/* ---- what the threads of one transfer share ------------------------------------------ */

typedef struct shared {
	pthread_mutex_t mu;
	atomic_bool stop; /* a worker failed: the others stop at their next step */
	int code;         /* the first failure and its message */
	char msg[1024];
	cairn_client_progress_fn fn;
	void *fn_ctx;
	cairn_client_progress p;
} shared;

static void shared_init(shared *s, const cairn_client_xfer_options *o, cairn_client_phase ph,
			uint64_t total)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->stop, false);
	s->fn = o ? o->progress : NULL;
	s->fn_ctx = o ? o->progress_ctx : NULL;
	s->p.phase = ph;
	s->p.total = total;
}

static void shared_fini(shared *s)
{
	pthread_mutex_destroy(&s->mu);
}

/* Keep the first failure (code and this thread's message) and stop everyone. */
static void shared_fail(shared *s, int code)
{
	pthread_mutex_lock(&s->mu);
	if (s->code == 0) {
		s->code = code;
		snprintf(s->msg, sizeof(s->msg), "%s", cairn_error_last());
	}
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->stop, true);
}

/* On the calling thread: the recorded failure as this thread's error, or 0. */
static int shared_rethrow(shared *s)
{
	return s->code ? cairn__error_set(s->code, "%s", s->msg) : 0;
}

/* Call the progress callback; s->mu held. */
static void report_locked(shared *s)
{
	if (s->fn)
		s->fn(s->fn_ctx, &s->p);
}

static unsigned parallel_of(const cairn_client_xfer_options *o, unsigned dflt)
{
	unsigned n = o && o->parallel ? o->parallel : dflt;

	return n > PARALLEL_MAX ? PARALLEL_MAX : n;
}

static int check_options(const cairn_client_xfer_options *o)
{
	if (o != NULL && o->version != CAIRN_CLIENT_XFER_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unknown cairn_client_xfer_options version %u",
					o->version);
	return 0;
}

/*
 * Run fn on n workers: args[0] on this thread, the others on threads of
 * their own. A thread that cannot start is simply missing: the work is
 * taken from a shared counter, so the others do its part.
 */
static void run_workers(void *(*fn)(void *), void *args, size_t arg_size, unsigned n)
{
	pthread_t tid[PARALLEL_MAX];
	bool started[PARALLEL_MAX] = {false};

	for (unsigned i = 1; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, fn, (char *)args + i * arg_size) == 0;
	fn(args);
	for (unsigned i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}

/* ---- small helpers -------------------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding of src[0..n) into dst (4 * ceil(n / 3) chars, no NUL). */
static size_t b64_encode(char *dst, const uint8_t *src, size_t n)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = b64_alphabet[(v >> 6) & 63];
		dst[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)src[i] << 16;
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = '=';
		dst[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = b64_alphabet[(v >> 6) & 63];
		dst[o++] = '=';
	}
	return o;
}

static void put_ref(uint8_t out[REF_LEN], const cairn_hash *h, uint64_t len)
{
	memcpy(out, h->bytes, 32);
	cairn__store64_le(out + 32, len);
}

/* key as a JSON string literal (quotes included), malloc'd; NULL if not UTF-8. */
static char *json_quote(const char *s)
{
	json_t *v = json_string(s);
	char *q = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	json_decref(v);
	return q;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cairn__error_set(CAIRN_EIO, "reading the file: %s", strerror(errno));
		if (r == 0)
			return cairn__error_set(CAIRN_EIO,
						"the file changed while it was uploaded (it is "
						"shorter than when it was hashed)");
		got += (size_t)r;
	}
	return 0;
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cairn__error_set(CAIRN_EIO, "writing the download: %s",
						strerror(w < 0 ? errno : EIO));
		done += (size_t)w;
	}
	return 0;
}

/* ---- upload: a set of files ----------------------------------------------------------- */

/*
 * One file of an upload set. Files fail alone: one that cannot be read,
 * or changes while it is hashed or sent, is left out of the commit, and
 * the rest of the set goes on.
 */
typedef struct up_file {
	const char *key;
	int fd;
	bool own_fd;
	bool expect;          /* must still be expect_size bytes, mtime expect_mtime */
	uint64_t expect_size;
	int64_t expect_mtime;
	struct stat st0;
	cairn_file_chunks *fc;
	size_t *slot;         /* fc->chunks[i] is distinct chunk slot[i] of the set */
	char *line;           /* its commit line */
	size_t line_len;
	uint64_t hashed;      /* hashing progress */
	uint64_t new_bytes, new_chunks;
	int rc;               /* 0 while it is fine (under the job's lock once threads run) */
	char msg[512];
	char hash[65];        /* committed */
} up_file;

/* A distinct chunk of the set, at its first occurrence. */
typedef struct up_chunk {
	uint32_t file, idx;
	bool present; /* the server has it (the dedup query said so) */
	bool sent;    /* in a xorb the server took */
} up_chunk;

typedef struct up_job up_job;

typedef struct up_worker {
	up_job *j;
	unsigned id;
	uint64_t raw;      /* raw bytes of the xorb in flight */
	uint64_t len;      /* its serialized length */
} up_worker;

struct up_job {
	cairn_client *c; /* the caller's: worker 0's */
	up_file *files;
	size_t nfiles;
	up_chunk *chunks; /* the distinct ones */
	size_t nchunks;
	size_t *news;     /* the ones to send, in set order */
	size_t *bounds;   /* xorb groups: news[bounds[g], bounds[g + 1]) */
	size_t ngroups;
	atomic_size_t next;
	shared sh;
	/* under sh.mu */
	uint64_t raw_done, wire_done, stored_bytes, xorbs;
	uint64_t raw_inflight[PARALLEL_MAX], wire_inflight[PARALLEL_MAX];
	uint64_t deduped;
	uint64_t sent; /* request bodies of the worker clones (worker 0's are on c) */
};

/* File f fails (the first reason is kept). Takes the job's lock. */
static void file_fail(up_job *j, up_file *f, int rc, const char *msg)
{
	pthread_mutex_lock(&j->sh.mu);
	if (f->rc == 0) {
		f->rc = rc;
		snprintf(f->msg, sizeof(f->msg), "%s", msg);
	}
	pthread_mutex_unlock(&j->sh.mu);
}

static bool file_failed(up_job *j, up_file *f)
{
	bool failed;

	pthread_mutex_lock(&j->sh.mu);
	failed = f->rc != 0;
	pthread_mutex_unlock(&j->sh.mu);
	return failed;
}

static void up_report_locked(up_job *j)
{
	uint64_t raw = j->raw_done, wire = j->wire_done;

	for (unsigned i = 0; i < PARALLEL_MAX; i++) {
		raw += j->raw_inflight[i];
		wire += j->wire_inflight[i];
	}
	j->sh.p.done = j->deduped + raw;
	j->sh.p.wire = wire;
	report_locked(&j->sh);
}

/* ---- upload: hashing ---- */

typedef struct hash_ctx {
	up_job *j;
	up_file *f;
} hash_ctx;

static void hash_progress(void *ctx, uint64_t done)
{
	hash_ctx *h = ctx;
	up_job *j = h->j;
	uint64_t sum = 0;

	pthread_mutex_lock(&j->sh.mu);
	h->f->hashed = done;
	for (size_t i = 0; i < j->nfiles; i++)
		sum += j->files[i].hashed;
	j->sh.p.done = sum;
	report_locked(&j->sh);
	pthread_mutex_unlock(&j->sh.mu);
}

/* Big files are hashed with every core; small ones one per worker, side by side. */
#define HASH_ALONE (64u << 20)

static void hash_one(up_job *j, up_file *f)
{
	cairn_hash_options hopts = CAIRN_HASH_OPTIONS_INIT;
	hash_ctx hc = {j, f};
	int rc;

	hopts.threads = (uint64_t)f->st0.st_size >= HASH_ALONE ? 0 : 1;
	hopts.cancel = j->c->cancel; /* a cancel stops hashing too, not just transfers */
	hopts.progress = j->sh.fn ? hash_progress : NULL;
	hopts.progress_ctx = &hc;
	if (lseek(f->fd, 0, SEEK_SET) != 0) {
		file_fail(j, f, CAIRN_EIO, strerror(errno));
		return;
	}
	rc = cairn_hash_fd(&f->fc, f->fd, &hopts);
	if (rc == 0 && f->fc->size != (uint64_t)f->st0.st_size)
		rc = cairn__error_set(CAIRN_EIO, "the file changed while it was hashed");
	if (rc == 0 && f->fc->count > UINT32_MAX)
		rc = cairn__error_set(CAIRN_ETOOBIG, "too many chunks");
	if (rc != 0)
		file_fail(j, f, rc, cairn_error_last());
}

typedef struct hash_worker {
	up_job *j;
} hash_worker;

static void *hash_work(void *arg)
{
	up_job *j = ((hash_worker *)arg)->j;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->nfiles)
			break;
		if (j->files[i].rc == 0) /* set before the threads started */
			hash_one(j, &j->files[i]);
	}
	return NULL;
}

/* ---- upload: which chunks to send ---- */

/*
 * The distinct chunks of the files that are still fine, each at its first
 * occurrence in set order; every file's slot[] points into them.
 */
static int distinct_chunks(up_job *j)
{
	size_t total = 0, cap = 16, *table;

	for (size_t i = 0; i < j->nfiles; i++)
		if (j->files[i].rc == 0)
			total += j->files[i].fc->count;
	while (cap < 2 * total)
		cap *= 2;
	table = calloc(cap, sizeof(*table)); /* distinct index + 1, 0: empty */
	j->chunks = malloc((total ? total : 1) * sizeof(*j->chunks));
	if (table == NULL || j->chunks == NULL) {
		free(table);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for %zu chunk hashes", total);
	}
	for (size_t i = 0; i < j->nfiles; i++) {
		up_file *f = &j->files[i];
		if (f->rc != 0)
			continue;
		f->slot = malloc((f->fc->count ? f->fc->count : 1) * sizeof(*f->slot));
		if (f->slot == NULL) {
			free(table);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < f->fc->count; k++) {
			const cairn_hash *h = &f->fc->chunks[k].hash;
			/* chunk hashes are uniform: their first word is a fine table hash */
			size_t pos = (size_t)cairn__load64_le(h->bytes) & (cap - 1);
			for (;;) {
				up_chunk *u;
				if (table[pos] == 0) {
					u = &j->chunks[j->nchunks];
					u->file = (uint32_t)i;
					u->idx = (uint32_t)k;
					u->present = u->sent = false;
					table[pos] = ++j->nchunks;
					break;
				}
				u = &j->chunks[table[pos] - 1];
				if (cairn_hash_equal(&j->files[u->file].fc->chunks[u->idx].hash, h))
					break;
				pos = (pos + 1) & (cap - 1);
			}
			f->slot[k] = table[pos] - 1;
		}
	}
	free(table);
	return 0;
}

static const cairn_chunk_info *chunk_info(const up_job *j, size_t u)
{
	return &j->files[j->chunks[u].file].fc->chunks[j->chunks[u].idx];
}

/* Ask the server which distinct chunks it has, QUERY_MAX hashes a request. */
static int query_present(up_job *j)
{
	cairn_client *c = j->c;
	char *body = malloc(32 + (size_t)QUERY_MAX * (CAIRN_HASH_HEX_LEN + 3));
	int rc = 0;

	if (body == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a dedup query");
	for (size_t b = 0; b < j->nchunks && rc == 0; b += QUERY_MAX) {
		size_t n = j->nchunks - b < QUERY_MAX ? j->nchunks - b : QUERY_MAX, o;
		request r = REQUEST_INIT;
		const char *bits;
		json_t *v = NULL;

		o = (size_t)sprintf(body, "{\"chunks\":[");
		for (size_t k = 0; k < n; k++) {
			if (k)
				body[o++] = ',';
			body[o++] = '"';
			cairn_hash_to_hex(body + o, &chunk_info(j, b + k)->hash);
			o += CAIRN_HASH_HEX_LEN;
			body[o++] = '"';
		}
		strcpy(body + o, "]}");
		r.method = "POST";
		r.body = body;
		r.idempotent = true; /* a question: asking twice is harmless */
		r.url = cairn__client_url(c, "/v1/chunks/default", NULL, NULL, NULL, NULL, NULL);
		if (r.url == NULL) {
			rc = CAIRN_ENOMEM;
			break;
		}
		rc = cairn__client_call_json(c, &r, &v);
		free((char *)r.url);
		if (rc == CAIRN_ENOTFOUND || (rc != 0 && c->status == 405)) {
			rc = cairn__error_set(CAIRN_EUNSUPPORTED,
					      "the server at %s does not speak the chunk protocol "
					      "(POST /v1/chunks/default answered HTTP %ld)",
					      c->endpoint, c->status);
			break;
		}
		if (rc != 0)
			break;
		bits = json_string_value(json_object_get(v, "present"));
		if (bits == NULL || strlen(bits) != n) {
			rc = cairn__error_set(CAIRN_EIO, "the server's dedup answer is malformed "
							 "(want %zu flags)", n);
		} else {
			for (size_t k = 0; k < n && rc == 0; k++) {
				if (bits[k] != '0' && bits[k] != '1')
					rc = cairn__error_set(CAIRN_EIO, "the server's dedup answer "
									 "is malformed");
				j->chunks[b + k].present = bits[k] == '1';
			}
		}
		json_decref(v);
	}
	free(body);
	return rc;
}

/*
 * Cut news[0..n) into xorb groups: group g is news[bounds[g], bounds[g + 1]).
 * A group's serialized size is bounded by its raw bytes plus headers and
 * footer (packing never grows a chunk), so every group fits XORB_TARGET and
 * CAIRN_XORB_MAX_CHUNKS.
 */
static int cut_groups(up_job *j, size_t n)
{
	size_t ng = 0, count = 0;
	uint64_t size = FOOTER_FIXED;

	j->bounds = malloc((n + 2) * sizeof(*j->bounds));
	if (j->bounds == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	j->bounds[0] = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t add = CAIRN_XORB_CHUNK_HEADER_LEN + chunk_info(j, j->news[k])->len +
			       FOOTER_PER_CHUNK;
		if (count > 0 && (size + add > XORB_TARGET || count == CAIRN_XORB_MAX_CHUNKS)) {
			j->bounds[++ng] = k;
			size = FOOTER_FIXED;
			count = 0;
		}
		size += add;
		count++;
	}
	if (count > 0)
		j->bounds[++ng] = n;
	j->ngroups = ng;
	return 0;
}

/* ---- upload: packing and sending xorbs ---- */

/* libcurl's upload progress of worker w's xorb. */
static void up_progress(void *ctx, uint64_t sent)
{
	up_worker *w = ctx;
	up_job *j = w->j;

	if (j->sh.fn == NULL || w->len == 0)
		return;
	if (sent > w->len)
		sent = w->len; /* a retry restarts the count; never report more than one body */
	pthread_mutex_lock(&j->sh.mu);
	j->wire_inflight[w->id] = sent;
	j->raw_inflight[w->id] = (uint64_t)((double)w->raw * (double)sent / (double)w->len);
	up_report_locked(j);
	pthread_mutex_unlock(&j->sh.mu);
}

/*
 * Pack group g into xw: added[] gets the news[] positions packed, *raw
 * their bytes. A chunk whose file cannot be read, or no longer holds what
 * was hashed, is left out and its file fails; the rest of the group goes.
 */
static int pack_group(up_job *j, cairn_xorb_writer *xw, uint8_t *buf, size_t g, size_t *added,
		      size_t *nadded, uint64_t *raw)
{
	int rc;

	cairn_xorb_writer_reset(xw);
	for (size_t k = j->bounds[g]; k < j->bounds[g + 1]; k++) {
		const cairn_chunk_info *ci = chunk_info(j, j->news[k]);
		up_file *f = &j->files[j->chunks[j->news[k]].file];
		cairn_hash h;

		if (file_failed(j, f))
			continue;
		if ((rc = read_at(f->fd, buf, (size_t)ci->len, ci->offset)) != 0) {
			file_fail(j, f, rc, cairn_error_last());
			continue;
		}
		/* what we send must be what we hashed: the server would refuse the xorb */
		cairn_chunk_hash(&h, buf, (size_t)ci->len);
		if (!cairn_hash_equal(&h, &ci->hash)) {
			char msg[160];
			snprintf(msg, sizeof(msg), "the file changed while it was uploaded (bytes at "
						   "offset %" PRIu64 ")", ci->offset);
			file_fail(j, f, CAIRN_EIO, msg);
			continue;
		}
		if ((rc = cairn_xorb_writer_add(xw, buf, (size_t)ci->len, &h)) != 0)
			return rc;
		added[(*nadded)++] = k;
		*raw += ci->len;
	}
	return 0;
}

/* Pack group g and send it; the chunks it carried are marked sent once the server has them. */
static int send_group(up_worker *w, cairn_client *c, cairn_xorb_writer *xw, uint8_t *buf,
		      size_t g)
{
	up_job *j = w->j;
	char hex[CAIRN_HASH_HEX_LEN + 1];
	request r = REQUEST_INIT;
	const uint8_t *bytes;
	uint64_t raw = 0, sent0 = c->sent;
	cairn_hash xh;
	json_t *v = NULL;
	size_t len, nadded = 0;
	size_t *added = malloc((j->bounds[g + 1] - j->bounds[g]) * sizeof(*added));
	int rc;

	if (added == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	rc = pack_group(j, xw, buf, g, added, &nadded, &raw);
	if (rc != 0 || nadded == 0) /* nadded 0: every file of this group failed */
		goto done;
	if ((rc = cairn_xorb_writer_finish(xw, &xh, &bytes, &len)) != 0)
		goto done;
	cairn_hash_to_hex(hex, &xh);
	w->raw = raw;
	w->len = len;
	r.method = "POST";
	r.data = bytes;
	r.data_len = len;
	r.content_type = "application/octet-stream";
	r.idempotent = true; /* a xorb is named by its content: sending it twice is harmless */
	r.tries = XORB_TRIES;
	r.progress = up_progress;
	r.progress_ctx = w;
	r.url = cairn__client_url(c, "/v1/xorbs/default/", NULL, NULL, hex, NULL, NULL);
	if (r.url == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	rc = cairn__client_call_json(c, &r, &v);
	free((char *)r.url);
	if (rc != 0) {
		/* keep the server's reason, say which xorb (and that we insisted) */
		char msg[768];
		snprintf(msg, sizeof(msg), "%s", cairn_error_last());
		if (c->status >= 500)
			rc = cairn__error_set(rc, "uploading xorb %.16s... (%u tries): %s", hex,
					      XORB_TRIES, msg);
		else
			rc = cairn__error_set(rc, "uploading xorb %.16s...: %s", hex, msg);
		goto done;
	}
	pthread_mutex_lock(&j->sh.mu);
	for (size_t i = 0; i < nadded; i++)
		j->chunks[j->news[added[i]]].sent = true;
	j->raw_done += raw;
	j->wire_done += c->sent - sent0;
	j->raw_inflight[w->id] = j->wire_inflight[w->id] = 0;
	j->stored_bytes += cairn__client_get_u64(v, "stored_bytes");
	j->xorbs++;
	up_report_locked(j);
	pthread_mutex_unlock(&j->sh.mu);
	w->len = 0;
	json_decref(v);
done:
	free(added);
	return rc;
}

static void *up_work(void *arg)
{
	up_worker *w = arg;
	up_job *j = w->j;
	cairn_client *c = w->id == 0 ? j->c : NULL;
	cairn_xorb_writer *xw = NULL;
	uint8_t *buf = NULL;
	int rc = 0;

	/* a helper that cannot get going leaves its share to the others */
	if (c == NULL && cairn__client_clone(&c, j->c) != 0)
		return NULL;
	buf = malloc(CAIRN_CHUNK_MAX);
	if (buf == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for a chunk");
	else
		rc = cairn_xorb_writer_new(&xw);
	if (rc != 0 && w->id != 0)
		goto done;
	while (rc == 0 && !atomic_load(&j->sh.stop)) {
		size_t g = atomic_fetch_add(&j->next, 1);
		if (g >= j->ngroups)
			break;
		rc = send_group(w, c, xw, buf, g);
	}
	if (rc != 0)
		shared_fail(&j->sh, rc);
done:
	cairn_xorb_writer_free(xw);
	free(buf);
	if (c != j->c) {
		pthread_mutex_lock(&j->sh.mu);
		j->sent += c->sent;
		pthread_mutex_unlock(&j->sh.mu);
		cairn_client_free(c);
	}
	return NULL;
}

/* ---- upload: the commit ---- */

/*
 * One NDJSON "add" line for a file: its chunk list as base64 of 40 bytes
 * a chunk. Encoded three chunks (120 bytes, 160 characters) at a time so
 * the raw list is never built whole.
 */
static int add_line(char **out, size_t *len_out, const char *key, const cairn_file_chunks *fc,
		    int64_t mtime_ns)
{
	char hex[CAIRN_HASH_HEX_LEN + 1], *q = json_quote(key), *line, *o;
	size_t cap;

	if (q == NULL)
		return cairn__error_set(CAIRN_EINVALID, "object path '%s' is not UTF-8", key);
	cap = strlen(q) + 256 + (fc->count * REF_LEN + 2) / 3 * 4;
	line = malloc(cap);
	if (line == NULL) {
		free(q);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for the commit of %zu chunks",
					fc->count);
	}
	cairn_hash_to_hex(hex, &fc->file_hash);
	o = line + sprintf(line, "{\"op\":\"add\",\"path\":%s,\"hash\":\"%s\",\"size\":%" PRIu64
				 ",\"chunks\":\"",
			   q, hex, fc->size);
	free(q);
	for (size_t i = 0; i < fc->count; i += 3) {
		uint8_t refs[3 * REF_LEN];
		size_t n = fc->count - i < 3 ? fc->count - i : 3;
		for (size_t k = 0; k < n; k++)
			put_ref(refs + k * REF_LEN, &fc->chunks[i + k].hash, fc->chunks[i + k].len);
		o += b64_encode(o, refs, n * REF_LEN);
	}
	o += sprintf(o, "\",\"mtime_ns\":%" PRId64 "}\n", mtime_ns);
	*len_out = (size_t)(o - line);
	*out = line;
	return 0;
}

#define BATCH_LINES 10000 /* the server's ceiling on lines in a batch */

/*
 * Commit files in[0..n) (indices of files still fine) in one batch. A 400
 * naming a line ("line N: ...") fails that file alone: *bad gets its index
 * in `in` and the caller sends the rest again. Any other failure is the
 * whole set's.
 */
static int commit_batch(up_job *j, const char *ns, const char *name, const size_t *in, size_t n,
			size_t *bad)
{
	cairn_client *c = j->c;
	request r = REQUEST_INIT;
	json_t *v = NULL, *results;
	size_t len = 0;
	char *body;
	int rc;

	*bad = SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		len += j->files[in[i]].line_len;
	body = malloc(len ? len : 1);
	if (body == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a commit");
	len = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(body + len, j->files[in[i]].line, j->files[in[i]].line_len);
		len += j->files[in[i]].line_len;
	}
	r.method = "POST";
	r.data = body;
	r.data_len = len;
	r.content_type = "application/x-ndjson";
	/* adds by content: applying them twice leaves the same state */
	r.idempotent = true;
	r.url = cairn__client_url(c, "/api/buckets/", ns, name, "/batch", NULL, NULL);
	if (r.url == NULL) {
		free(body);
		return CAIRN_ENOMEM;
	}
	rc = cairn__client_call_json(c, &r, &v);
	free((char *)r.url);
	free(body);
	if (rc == CAIRN_EINVALID && c->status == 400) {
		unsigned long line = 0;
		const char *m = cairn_error_last();
		if (sscanf(m, "line %lu:", &line) == 1 && line >= 1 && line <= n) {
			*bad = line - 1;
			return rc;
		}
	}
	if (rc != 0)
		return rc;
	results = json_object_get(v, "results");
	if (json_array_size(results) != n) {
		json_decref(v);
		return cairn__error_set(CAIRN_EIO, "the server's batch answer is malformed");
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		up_file *f = &j->files[in[i]];
		json_t *res = json_array_get(results, i);
		const char *hash = json_string_value(json_object_get(res, "hash"));
		char mine[CAIRN_HASH_HEX_LEN + 1];
		cairn_hash_to_hex(mine, &f->fc->file_hash);
		if (hash == NULL || strcmp(hash, mine) != 0 ||
		    cairn__client_get_u64(res, "size") != f->fc->size)
			rc = cairn__error_set(CAIRN_EIO, "the server committed %s as %s, not the file "
					      "sent (%s)", f->key, hash ? hash : "nothing", mine);
		else
			memcpy(f->hash, mine, sizeof(f->hash));
	}
	json_decref(v);
	return rc;
}

/* Commit every file still fine, in batches under the server's ceilings. */
static int commit_all(up_job *j, const char *ns, const char *name)
{
	size_t *in = malloc((j->nfiles ? j->nfiles : 1) * sizeof(*in)), n = 0;
	int rc = 0;

	if (in == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < j->nfiles; i++)
		if (j->files[i].rc == 0)
			in[n++] = i;
	for (size_t start = 0; start < n && rc == 0;) {
		size_t end = start, bytes = 0, bad;
		while (end < n && end - start < BATCH_LINES &&
		       (end == start || bytes + j->files[in[end]].line_len <= BATCH_MAX))
			bytes += j->files[in[end++]].line_len;
		rc = commit_batch(j, ns, name, in + start, end - start, &bad);
		if (rc != 0 && bad != SIZE_MAX) {
			/* that file alone is refused: drop it, send the others again */
			file_fail(j, &j->files[in[start + bad]], rc, cairn_error_last());
			memmove(in + start + bad, in + start + bad + 1, (n - start - bad - 1) * sizeof(*in));
			n--;
			rc = 0;
			continue;
		}
		start = end;
	}
	free(in);
	return rc;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

static int64_t mtime_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The bucket exists and is visible: one cheap call before hashing anything. */
static int bucket_visible(cairn_client *c, const char *ns, const char *name)
{
	request r = REQUEST_INIT;
	int rc;

	r.method = "GET";
	r.idempotent = true;
	r.url = cairn__client_url(c, "/api/buckets/", ns, name, "/tree", NULL, "?limit=1");
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_call_json(c, &r, NULL);
	free((char *)r.url);
	return rc;
}

/* ---- upload: the whole of it ---- */

/*
 * Upload files[0..n) (fd, st0 and key set; rc set for those that failed
 * already) as one set. Returns 0 when the set ran (each file's rc says how
 * it went) or what stopped it all. total (may be NULL) gets the sums.
 */
static int put_set(cairn_client *c, const char *ns, const char *name, up_file *files, size_t n,
		   const cairn_client_xfer_options *opts, cairn_client_put_result *total)
{
	cairn_client_put_result sum;
	up_worker w[PARALLEL_MAX];
	hash_worker hw[PARALLEL_MAX];
	uint64_t sent0 = c->sent, size = 0, new_bytes = 0;
	size_t nn = 0;
	unsigned nw;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	up_job *j;
	int rc;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (files[i].rc == 0)
			size += (uint64_t)files[i].st0.st_size;
	shared_init(&j->sh, opts, CAIRN_CLIENT_HASHING, size);
	memset(&sum, 0, sizeof(sum));
	j->c = c;
	j->files = files;
	j->nfiles = n;

	if ((rc = bucket_visible(c, ns, name)) != 0)
		goto done;

	/* 1. chunk and hash, several files at once */
	nw = cpus < 1 ? 1 : cpus > PARALLEL_MAX ? PARALLEL_MAX : (unsigned)cpus;
	if (nw > n)
		nw = n ? (unsigned)n : 1;
	atomic_init(&j->next, 0);
	for (unsigned i = 0; i < nw; i++)
		hw[i].j = j;
	run_workers(hash_work, hw, sizeof(hw[0]), nw);
	for (size_t i = 0; i < n; i++) {
		up_file *f = &files[i];
		if (f->rc != 0)
			continue;
		/* the commit line now: a key the server cannot take fails before anything is sent */
		rc = add_line(&f->line, &f->line_len, f->key, f->fc, mtime_of(&f->st0));
		if (rc == 0 && f->line_len > BATCH_MAX)
			rc = cairn__error_set(CAIRN_ETOOBIG,
					      "the file has %zu chunks: its commit would be over the "
					      "server's %u MiB batch limit",
					      f->fc->count, BATCH_MAX >> 20);
		if (rc == CAIRN_ENOMEM)
			goto done;
		if (rc != 0)
			file_fail(j, f, rc, cairn_error_last());
		rc = 0;
	}

	/* 2. which chunks the server lacks: each distinct chunk asked once */
	if ((rc = distinct_chunks(j)) != 0 || (rc = query_present(j)) != 0)
		goto done;
	j->news = malloc((j->nchunks ? j->nchunks : 1) * sizeof(*j->news));
	if (j->news == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t k = 0; k < j->nchunks; k++) {
		if (!j->chunks[k].present) {
			up_file *f = &files[j->chunks[k].file];
			j->news[nn++] = k;
			new_bytes += chunk_info(j, k)->len;
			f->new_bytes += chunk_info(j, k)->len;
			f->new_chunks++;
		}
	}

	/* 3. pack and send them */
	if ((rc = cut_groups(j, nn)) != 0)
		goto done;
	atomic_store(&j->next, 0);
	pthread_mutex_lock(&j->sh.mu);
	j->deduped = size - new_bytes;
	j->sh.p.phase = CAIRN_CLIENT_UPLOADING;
	j->sh.p.deduped = j->deduped;
	j->wire_done = c->sent - sent0; /* the queries */
	up_report_locked(j);
	pthread_mutex_unlock(&j->sh.mu);
	nw = parallel_of(opts, PARALLEL_UP);
	if (nw > j->ngroups)
		nw = j->ngroups ? (unsigned)j->ngroups : 1;
	for (unsigned i = 0; i < nw; i++)
		w[i] = (up_worker){j, i, 0, 0};
	if (j->ngroups > 0)
		run_workers(up_work, w, sizeof(w[0]), nw);
	if ((rc = shared_rethrow(&j->sh)) != 0)
		goto done;
	if (atomic_load(&j->next) < j->ngroups) {
		rc = cairn__error_set(CAIRN_EIO, "no worker could upload the xorbs");
		goto done;
	}

	/* 4. commit the files that are still what was hashed, with every chunk there */
	for (size_t i = 0; i < n; i++) {
		up_file *f = &files[i];
		struct stat st1;
		if (f->rc != 0)
			continue;
		if (fstat(f->fd, &st1) != 0 || !same_file_state(&f->st0, &st1)) {
			file_fail(j, f, CAIRN_EIO, "the file changed while it was uploaded");
			continue;
		}
		for (size_t k = 0; k < f->fc->count; k++) {
			const up_chunk *u = &j->chunks[f->slot[k]];
			if (!u->present && !u->sent) {
				char msg[sizeof(f->msg)];
				snprintf(msg, sizeof(msg), "it shares data with %.200s, which failed: %.200s",
					 files[u->file].key, files[u->file].msg);
				file_fail(j, f, CAIRN_EIO, msg);
				break;
			}
		}
	}
	if ((rc = commit_all(j, ns, name)) != 0)
		goto done;
	pthread_mutex_lock(&j->sh.mu);
	j->wire_done = c->sent - sent0 + j->sent;
	up_report_locked(j);
	pthread_mutex_unlock(&j->sh.mu);
	for (size_t i = 0; i < n; i++) {
		if (files[i].rc != 0)
			continue;
		sum.size += files[i].fc->size;
		sum.chunks += files[i].fc->count;
	}
	sum.new_chunks = nn;
	sum.new_bytes = new_bytes;
	sum.stored_bytes = j->stored_bytes;
	sum.xorbs = j->xorbs;
	sum.bytes_sent = c->sent - sent0 + j->sent;
	if (total)
		*total = sum;
done:
	free(j->bounds);
	free(j->news);
	free(j->chunks);
	shared_fini(&j->sh);
	free(j);
	return rc;
}

static void up_file_free(up_file *f)
{
	if (f->own_fd && f->fd >= 0)
		close(f->fd);
	cairn_file_chunks_free(f->fc);
	free(f->slot);
	free(f->line);
}

static void put_result_of(const up_file *f, cairn_client_put_result *res)
{
	memset(res, 0, sizeof(*res));
	if (f->fc == NULL)
		return;
	memcpy(res->hash, f->hash, sizeof(res->hash));
	res->size = f->fc->size;
	res->chunks = f->fc->count;
	res->new_chunks = f->new_chunks;
	res->new_bytes = f->new_bytes;
}

int cairn_client_put_file(cairn_client *c, const char *ns, const char *name, const char *key,
			  int fd, const cairn_client_xfer_options *opts,
			  cairn_client_put_result *out)
{
	cairn_client_put_result sum;
	up_file f;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0 || (rc = check_options(opts)) != 0)
		return rc;
	memset(&f, 0, sizeof(f));
	f.key = key;
	f.fd = fd;
	if (fstat(fd, &f.st0) != 0)
		return cairn__error_set(CAIRN_EIO, "fstat: %s", strerror(errno));
	if (!S_ISREG(f.st0.st_mode))
		return cairn__error_set(CAIRN_EINVALID,
					"the chunk protocol uploads regular files only");
	rc = put_set(c, ns, name, &f, 1, opts, &sum);
	if (rc == 0 && f.rc != 0)
		rc = cairn__error_set(f.rc, "%s", f.msg);
	if (rc == 0 && out) {
		*out = sum;
		memcpy(out->hash, f.hash, sizeof(out->hash));
	}
	up_file_free(&f);
	return rc;
}

int cairn_client_put_files(cairn_client *c, const char *ns, const char *name,
			   cairn_client_put_item *items, size_t n,
			   const cairn_client_xfer_options *opts, cairn_client_put_result *total)
{
	up_file *files;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 || (rc = check_options(opts)) != 0)
		return rc;
	if (n > UINT32_MAX)
		return cairn__error_set(CAIRN_EINVALID, "too many files in one set");
	files = calloc(n ? n : 1, sizeof(*files));
	if (files == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		up_file *f = &files[i];
		cairn_client_put_item *it = &items[i];
		f->key = it->key;
		f->fd = -1;
		f->expect = it->expect;
		f->expect_size = it->expect_size;
		f->expect_mtime = it->expect_mtime_ns;
		if ((rc = cairn__client_check_key(it->key)) != 0) {
			f->rc = rc;
			snprintf(f->msg, sizeof(f->msg), "%s", cairn_error_last());
			continue;
		}
		f->fd = open(it->path, O_RDONLY | O_CLOEXEC);
		f->own_fd = f->fd >= 0;
		if (f->fd < 0 || fstat(f->fd, &f->st0) != 0) {
			f->rc = CAIRN_EIO;
			snprintf(f->msg, sizeof(f->msg), "%s", strerror(errno));
		} else if (!S_ISREG(f->st0.st_mode)) {
			f->rc = CAIRN_EINVALID;
			snprintf(f->msg, sizeof(f->msg), "not a regular file");
		} else if (f->expect && ((uint64_t)f->st0.st_size != f->expect_size ||
					 mtime_of(&f->st0) != f->expect_mtime)) {
			f->rc = CAIRN_EEXISTS;
			snprintf(f->msg, sizeof(f->msg), "changed since the plan was made");
		}
	}
	rc = put_set(c, ns, name, files, n, opts, total);
	for (size_t i = 0; i < n; i++) {
		items[i].rc = files[i].rc;
		snprintf(items[i].msg, sizeof(items[i].msg), "%s", files[i].msg);
		put_result_of(&files[i], &items[i].res);
		items[i].mtime_ns = mtime_of(&files[i].st0);
		up_file_free(&files[i]);
	}
	free(files);
	return rc;
}

/* ---- download: the plan ---------------------------------------------------------------- */

/* A term: chunks [start, end) of one xorb, unpacked bytes at file_off. */
typedef struct term {
	uint64_t start, end;
	uint64_t unpacked;
	uint64_t file_off;
	uint64_t cursor;   /* the next byte to write, while its fetch runs */
	size_t first_slot; /* its first chunk's place in the file's chunk list */
	size_t fetch;
} term;

/* One ranged GET: chunks [cstart, cend) of a xorb, bytes [rstart, rend] of url. */
typedef struct fetch {
	char *url;
	const char *xorb; /* hex, for messages; borrowed from the reconstruction */
	uint64_t rstart, rend;
	uint64_t cstart, cend;
	size_t t0, nt;    /* its terms: order[t0 .. t0 + nt), by start */
	bool queued;      /* in todo */
} fetch;

/* The fetch_info entries of one xorb: fetches[first .. first + n). */
typedef struct xorb_key {
	const char *hex;
	size_t first, n;
} xorb_key;

typedef struct down_job {
	cairn_client *c;
	int fd;
	term *terms;
	size_t nterms;
	fetch *fetches;
	size_t nfetches;
	size_t *order;   /* term indices grouped by fetch, by start within */
	size_t *todo;    /* the fetches some term uses */
	size_t ntodo;
	size_t max_nt;   /* the most terms one fetch serves */
	cairn_chunk_ref *refs; /* the file's chunks, in order */
	size_t nrefs;
	atomic_size_t next;
	shared sh;
	uint64_t received; /* under sh.mu */
} down_job;

static int bad_recon(const char *what, size_t i)
{
	return cairn__error_set(CAIRN_EIO, "the server's reconstruction is malformed (%s %zu)",
				what, i);
}

/* A JSON integer >= 0, or false. */
static bool get_uint(json_t *o, const char *k, uint64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool get_range(json_t *o, const char *k, uint64_t *start, uint64_t *end)
{
	json_t *r = json_object_get(o, k);

	return get_uint(r, "start", start) && get_uint(r, "end", end);
}

/* A fetch URL: absolute as given, else relative to the endpoint. NULL if unusable. */
static char *fetch_url(const cairn_client *c, const char *u)
{
	size_t n;
	char *s;

	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return NULL;
	if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0)
		return strdup(u);
	n = strlen(c->endpoint) + strlen(u) + 2;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s%s", c->endpoint, u[0] == '/' ? "" : "/", u);
	return s;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const xorb_key *)a)->hex, ((const xorb_key *)b)->hex);
}

typedef struct sort_item {
	size_t fetch;
	uint64_t start;
	size_t t;
} sort_item;

static int cmp_item(const void *a, const void *b)
{
	const sort_item *x = a, *y = b;

	if (x->fetch != y->fetch)
		return x->fetch < y->fetch ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->t < y->t ? -1 : x->t > y->t;
}

/* fetch_info into j->fetches, keyed by xorb in keys (sorted). */
static int parse_fetch_info(down_job *j, json_t *fi, xorb_key **keys_out, size_t *nk_out)
{
	const char *k;
	json_t *arr;
	size_t nk = 0, nf = 0;
	xorb_key *keys;

	if (!json_is_object(fi))
		return bad_recon("fetch_info", 0);
	json_object_foreach(fi, k, arr) {
		if (!json_is_array(arr))
			return bad_recon("fetch_info of xorb", nk);
		nf += json_array_size(arr);
		nk++;
	}
	keys = calloc(nk ? nk : 1, sizeof(*keys));
	j->fetches = calloc(nf ? nf : 1, sizeof(*j->fetches));
	*keys_out = keys;
	if (keys == NULL || j->fetches == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for the reconstruction");
	nk = 0;
	json_object_foreach(fi, k, arr) {
		json_t *e;
		size_t i;

		keys[nk] = (xorb_key){k, j->nfetches, json_array_size(arr)};
		json_array_foreach(arr, i, e) {
			fetch *f = &j->fetches[j->nfetches];
			const char *u = json_string_value(json_object_get(e, "url"));

			f->xorb = k;
			if (u == NULL || !get_range(e, "range", &f->cstart, &f->cend) ||
			    !get_range(e, "url_range", &f->rstart, &f->rend) ||
			    f->cstart >= f->cend || f->rstart > f->rend ||
			    f->rend - f->rstart >= CAIRN_XORB_MAX_BYTES ||
			    /* every chunk takes at least its header */
			    f->cend - f->cstart > (f->rend - f->rstart + 1) / CAIRN_XORB_CHUNK_HEADER_LEN)
				return bad_recon("fetch_info entry", j->nfetches);
			if ((f->url = fetch_url(j->c, u)) == NULL)
				return bad_recon("fetch_info url", j->nfetches);
			j->nfetches++;
		}
		nk++;
	}
	if (nk > 1)
		qsort(keys, nk, sizeof(*keys), cmp_key);
	*nk_out = nk;
	return 0;
}

/*
 * Check the reconstruction of a file of `size` bytes with hash `want` and
 * turn it into the plan: terms at their file offsets, each tied to the
 * fetch that covers it, and the fetches to make.
 */
static int make_plan(down_job *j, json_t *v, const cairn_hash *want, uint64_t size)
{
	json_t *terms = json_object_get(v, "terms"), *e;
	const char *fh = json_string_value(json_object_get(v, "file"));
	xorb_key *keys = NULL;
	sort_item *items = NULL;
	uint64_t off = 0, sz, skip = 0;
	size_t nk = 0, slots = 0, i;
	cairn_hash got;
	int rc;

	if (fh == NULL || cairn_hash_from_hex(&got, fh, strlen(fh)) != 0 ||
	    !cairn_hash_equal(&got, want) || !get_uint(v, "size", &sz) || sz != size)
		return cairn__error_set(CAIRN_EIO, "the server's reconstruction is for another file");
	/* a whole file starts at its first chunk: an offset only comes with a byte range */
	if (json_object_get(v, "offset_into_first_range") != NULL &&
	    (!get_uint(v, "offset_into_first_range", &skip) || skip != 0))
		return bad_recon("offset_into_first_range", 0);
	if (!json_is_array(terms) || json_array_size(terms) == 0)
		return bad_recon("terms", 0);
	if ((rc = parse_fetch_info(j, json_object_get(v, "fetch_info"), &keys, &nk)) != 0)
		goto done;
	j->nterms = json_array_size(terms);
	j->terms = calloc(j->nterms, sizeof(*j->terms));
	items = calloc(j->nterms, sizeof(*items));
	if (j->terms == NULL || items == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for the reconstruction");
		goto done;
	}
	json_array_foreach(terms, i, e) {
		term *t = &j->terms[i];
		xorb_key key, *kp;
		size_t n, best;

		key.hex = json_string_value(json_object_get(e, "hash"));
		if (key.hex == NULL || !get_uint(e, "unpacked_length", &t->unpacked) ||
		    !get_range(e, "range", &t->start, &t->end) || t->start >= t->end ||
		    /* each chunk has 1 .. CAIRN_CHUNK_MAX bytes */
		    t->end - t->start > t->unpacked ||
		    t->unpacked / CAIRN_CHUNK_MAX > t->end - t->start ||
		    t->unpacked > size - off) {
			rc = bad_recon("term", i);
			goto done;
		}
		t->file_off = off;
		t->first_slot = slots;
		off += t->unpacked;
		slots += (size_t)(t->end - t->start);
		/*
		 * The widest range that covers the term: ranges often nest (a term
		 * that repeats part of another), and one GET then serves them all.
		 */
		kp = bsearch(&key, keys, nk, sizeof(*keys), cmp_key);
		best = SIZE_MAX;
		for (n = 0; kp && n < kp->n; n++) {
			const fetch *f = &j->fetches[kp->first + n];
			if (f->cstart <= t->start && t->end <= f->cend &&
			    (best == SIZE_MAX || f->cend - f->cstart >
						       j->fetches[best].cend - j->fetches[best].cstart))
				best = kp->first + n;
		}
		if (best == SIZE_MAX) {
			rc = cairn__error_set(CAIRN_EIO, "the server's reconstruction has no fetch_info "
							 "for term %zu (xorb %.16s...)",
					      i, key.hex);
			goto done;
		}
		t->fetch = best;
		items[i] = (sort_item){t->fetch, t->start, i};
	}
	if (off != size) {
		rc = cairn__error_set(CAIRN_EIO, "the server's reconstruction adds up to %" PRIu64
						 " bytes, the object has %" PRIu64,
				      off, size);
		goto done;
	}
	/* terms grouped by fetch, in chunk order within each */
	if (j->nterms > 1)
		qsort(items, j->nterms, sizeof(*items), cmp_item);
	j->order = malloc(j->nterms * sizeof(*j->order));
	j->todo = malloc(j->nterms * sizeof(*j->todo));
	j->refs = malloc(slots * sizeof(*j->refs));
	if (j->order == NULL || j->todo == NULL || j->refs == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory for %zu chunks", slots);
		goto done;
	}
	j->nrefs = slots;
	for (i = 0; i < j->nterms; i++) {
		fetch *f = &j->fetches[items[i].fetch];
		j->order[i] = items[i].t;
		if (i == 0 || items[i - 1].fetch != items[i].fetch)
			f->t0 = i;
		if (++f->nt > j->max_nt)
			j->max_nt = f->nt;
	}
	/* fetch in file order (each where its first term is): the writes move forward */
	for (i = 0; i < j->nterms; i++) {
		fetch *f = &j->fetches[j->terms[i].fetch];
		if (!f->queued) {
			f->queued = true;
			j->todo[j->ntodo++] = j->terms[i].fetch;
		}
	}
done:
	free(items);
	free(keys);
	return rc;
}

static void plan_free(down_job *j)
{
	for (size_t i = 0; i < j->nfetches; i++)
		free(j->fetches[i].url);
	free(j->fetches);
	free(j->terms);
	free(j->order);
	free(j->todo);
	free(j->refs);
}

/* ---- download: fetching and decoding --------------------------------------------------- */

typedef struct down_worker {
	down_job *j;
	unsigned id;
	cairn_xorb_stream *s;
	const fetch *f;  /* the fetch running */
	size_t next;     /* the next of its terms to begin */
	size_t *active;  /* its terms that cover the current chunk */
	size_t nactive;
	size_t want_next; /* on_want: the next of its terms to look at */
	uint64_t want_end; /* on_want: the end of the terms begun so far */
	uint64_t written; /* file bytes written by this try of the fetch */
} down_worker;

/* A decoded chunk: write it wherever a term of this fetch places it. */
static int on_chunk(void *ctx, size_t index, const void *data, size_t len, const cairn_hash *hash)
{
	down_worker *w = ctx;
	down_job *j = w->j;
	const fetch *f = w->f;
	uint64_t i = f->cstart + index, wrote = 0;
	int rc;

	if (i >= f->cend)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb %.16s...: the range holds more than the %" PRIu64
					" chunks asked for",
					f->xorb, f->cend - f->cstart);
	while (w->next < f->nt && j->terms[j->order[f->t0 + w->next]].start == i)
		w->active[w->nactive++] = j->order[f->t0 + w->next++];
	for (size_t k = 0; k < w->nactive;) {
		term *t = &j->terms[w->active[k]];

		if (len > t->file_off + t->unpacked - t->cursor)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb %.16s...: chunks %" PRIu64 "..%" PRIu64
						" decode to more than the %" PRIu64 " bytes the "
						"reconstruction says",
						f->xorb, t->start, t->end, t->unpacked);
		if ((rc = write_at(j->fd, data, len, t->cursor)) != 0)
			return rc;
		j->refs[t->first_slot + (size_t)(i - t->start)] = (cairn_chunk_ref){*hash, len};
		t->cursor += len;
		wrote += len;
		if (i + 1 == t->end)
			w->active[k] = w->active[--w->nactive];
		else
			k++;
	}
	w->written += wrote;
	pthread_mutex_lock(&j->sh.mu);
	j->sh.p.done += wrote;
	report_locked(&j->sh);
	pthread_mutex_unlock(&j->sh.mu);
	return 0;
}

/*
 * Whether chunk `index` of the running fetch is in one of its terms (the
 * stream skips the others: a range widened to whole runs decodes only as
 * far as it must). Indices come in order.
 */
static bool on_want(void *ctx, size_t index)
{
	down_worker *w = ctx;
	const down_job *j = w->j;
	const fetch *f = w->f;
	uint64_t i = f->cstart + index;

	while (w->want_next < f->nt && j->terms[j->order[f->t0 + w->want_next]].start <= i) {
		uint64_t e = j->terms[j->order[f->t0 + w->want_next]].end;
		if (e > w->want_end)
			w->want_end = e;
		w->want_next++;
	}
	return i < w->want_end;
}

static int on_bytes(void *ctx, const void *p, size_t n)
{
	down_worker *w = ctx;
	down_job *j = w->j;

	if (atomic_load(&j->sh.stop))
		return cairn__error_set(CAIRN_ERROR, "stopped");
	pthread_mutex_lock(&j->sh.mu);
	j->received += n;
	j->sh.p.wire = j->received;
	pthread_mutex_unlock(&j->sh.mu);
	return cairn_xorb_stream_feed(w->s, p, n);
}

/* Before a fetch, and before a retry of it: as if nothing had arrived. */
static int on_restart(void *ctx)
{
	down_worker *w = ctx;
	down_job *j = w->j;
	const fetch *f = w->f;

	cairn_xorb_stream_reset(w->s);
	w->next = 0;
	w->nactive = 0;
	w->want_next = 0;
	w->want_end = 0;
	for (size_t k = 0; k < f->nt; k++) {
		term *t = &j->terms[j->order[f->t0 + k]];
		t->cursor = t->file_off;
	}
	pthread_mutex_lock(&j->sh.mu);
	j->sh.p.done -= w->written;
	pthread_mutex_unlock(&j->sh.mu);
	w->written = 0;
	return 0;
}

static int fetch_one(down_worker *w, cairn_client *c, const fetch *f)
{
	down_job *j = w->j;
	request r = REQUEST_INIT;
	char range[64];
	int rc;

	w->f = f;
	w->written = 0; /* the last fetch's bytes stay counted: only a retry takes its own back */
	on_restart(w);
	snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, f->rstart, f->rend);
	r.method = "GET";
	r.url = f->url;
	r.header = range;
	r.anonymous = true; /* the signature is the permission; the URL may point elsewhere */
	r.idempotent = true;
	r.sink = on_bytes;
	r.restart = on_restart;
	r.sink_ctx = w;
	rc = cairn__client_perform(c, &r);
	if (rc == 0 && c->status != 206 && c->status != 200)
		rc = cairn__client_answer_error(c);
	if (rc != 0) {
		char msg[768];
		snprintf(msg, sizeof(msg), "%s", cairn_error_last());
		return cairn__error_set(rc, "fetching xorb %.16s...: %s", f->xorb, msg);
	}
	if ((rc = cairn_xorb_stream_end(w->s)) != 0)
		return rc;
	if (cairn_xorb_stream_count(w->s) != f->cend - f->cstart)
		return cairn__error_set(CAIRN_ECORRUPT,
					"xorb %.16s...: the range holds %zu chunks, not the %" PRIu64
					" asked for",
					f->xorb, cairn_xorb_stream_count(w->s), f->cend - f->cstart);
	for (size_t k = 0; k < f->nt; k++) {
		const term *t = &j->terms[j->order[f->t0 + k]];
		if (t->cursor != t->file_off + t->unpacked)
			return cairn__error_set(CAIRN_ECORRUPT,
						"xorb %.16s...: chunks %" PRIu64 "..%" PRIu64
						" decode to %" PRIu64 " bytes, the reconstruction "
						"says %" PRIu64,
						f->xorb, t->start, t->end, t->cursor - t->file_off,
						t->unpacked);
	}
	return 0;
}

static void *down_work(void *arg)
{
	down_worker *w = arg;
	down_job *j = w->j;
	cairn_client *c = w->id == 0 ? j->c : NULL;
	int rc;

	if (c == NULL && cairn__client_clone(&c, j->c) != 0)
		return NULL;
	w->active = malloc(j->max_nt * sizeof(*w->active));
	if (w->active == NULL)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	else
		rc = cairn_xorb_stream_new(&w->s, on_chunk, w);
	if (rc == 0)
		cairn_xorb_stream_set_want(w->s, on_want);
	if (rc != 0 && w->id != 0)
		goto done;
	while (rc == 0 && !atomic_load(&j->sh.stop)) {
		size_t k = atomic_fetch_add(&j->next, 1);
		if (k >= j->ntodo)
			break;
		rc = fetch_one(w, c, &j->fetches[j->todo[k]]);
	}
	if (rc != 0)
		shared_fail(&j->sh, rc);
done:
	cairn_xorb_stream_free(w->s);
	free(w->active);
	if (c != j->c)
		cairn_client_free(c);
	return NULL;
}

/* ---- download -------------------------------------------------------------------------- */

/* The object's file hash and size, from HEAD .../resolve/KEY. */
static int head_object(cairn_client *c, const char *ns, const char *name, const char *key,
		       cairn_hash *hash, uint64_t *size)
{
	request r = REQUEST_INIT;
	struct curl_header *hd = NULL;
	curl_off_t cl = -1;
	const char *e;
	size_t n;
	int rc;

	r.method = "HEAD";
	r.idempotent = true;
	r.url = cairn__client_url(c, "/buckets/", ns, name, "/resolve/", key, NULL);
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_perform(c, &r);
	free((char *)r.url);
	if (rc != 0)
		return rc;
	if (c->status == 404)
		return cairn__error_set(CAIRN_ENOTFOUND, "no such object (or bucket %s/%s is not "
							 "visible to you)",
					ns, name);
	if (c->status != 200)
		return cairn__client_answer_error(c);
	if (curl_easy_header(c->h, "ETag", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return cairn__error_set(CAIRN_EIO, "the server sent no ETag (file hash)");
	e = hd->value;
	if (strncmp(e, "W/", 2) == 0)
		e += 2;
	n = strlen(e);
	if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
		e++;
		n -= 2;
	}
	if (cairn_hash_from_hex(hash, e, n) != 0)
		return cairn__error_set(CAIRN_EIO, "the server's ETag is not a file hash");
	if (curl_easy_getinfo(c->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK || cl < 0)
		return cairn__error_set(CAIRN_EIO, "the server sent no Content-Length");
	*size = (uint64_t)cl;
	return 0;
}

/* A new file ".BASE.cairn-XXXXXX" beside path (mode 0666 less the umask). */
static int open_temp(const char *path, char *tmp, size_t cap, int *fd_out)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char d[PATH_MAX], b[PATH_MAX];

	if (strlen(path) >= sizeof(d))
		return cairn__error_set(CAIRN_EINVALID, "destination path too long");
	snprintf(d, sizeof(d), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	for (int attempt = 0; attempt < 32; attempt++) {
		uint8_t rnd[6];
		char suffix[7];
		int fd;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return cairn__error_set(CAIRN_EIO, "getrandom: %s", strerror(errno));
		for (int k = 0; k < 6; k++)
			suffix[k] = alnum[rnd[k] % (sizeof(alnum) - 1)];
		suffix[6] = '\0';
		if ((size_t)snprintf(tmp, cap, "%s/.%s.cairn-%s", dirname(d), basename(b), suffix) >=
		    cap)
			return cairn__error_set(CAIRN_EINVALID, "destination path too long");
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != EEXIST)
			return cairn__error_set(CAIRN_EIO, "cannot create a file beside %s: %s", path,
						strerror(errno));
		snprintf(d, sizeof(d), "%s", path); /* dirname and basename may write into them */
		snprintf(b, sizeof(b), "%s", path);
	}
	return cairn__error_set(CAIRN_EIO, "cannot create a file beside %s", path);
}

/* Make path's directory entry durable. */
static void sync_dir(const char *path)
{
	char d[PATH_MAX];
	int fd;

	snprintf(d, sizeof(d), "%s", path);
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * Without a reconstruction: the object as the server streams it (it checks
 * each chunk), then hashed here, so what lands is checked all the same.
 */
static int stream_whole(cairn_client *c, const char *ns, const char *name, const char *key,
			int fd, const cairn_hash *want, uint64_t size, uint64_t *received)
{
	char h1[CAIRN_HASH_HEX_LEN + 1], h2[CAIRN_HASH_HEX_LEN + 1];
	cairn_file_chunks *fc = NULL;
	uint64_t n = 0;
	int rc;

	if ((rc = cairn_client_download_to_fd(c, ns, name, key, fd, &n)) != 0)
		return rc;
	*received = n;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return cairn__error_set(CAIRN_EIO, "lseek: %s", strerror(errno));
	if ((rc = cairn_hash_fd(&fc, fd, NULL)) != 0)
		return rc;
	if (fc->size != size || !cairn_hash_equal(&fc->file_hash, want)) {
		cairn_hash_to_hex(h1, &fc->file_hash);
		cairn_hash_to_hex(h2, want);
		rc = cairn__error_set(CAIRN_ECORRUPT,
				      "the downloaded data (%" PRIu64 " bytes) hashes to %s, not the "
				      "object's %s (%" PRIu64 " bytes); it changed meanwhile, or is "
				      "corrupt",
				      fc->size, h1, h2, size);
	}
	cairn_file_chunks_free(fc);
	return rc;
}

/* Fetch, decode and write every range of the plan into fd; check the file hash. */
static int download_plan(down_job *j, const cairn_client_xfer_options *opts,
			 const cairn_hash *want)
{
	char h1[CAIRN_HASH_HEX_LEN + 1], h2[CAIRN_HASH_HEX_LEN + 1];
	down_worker w[PARALLEL_MAX];
	cairn_hash got;
	unsigned nw = parallel_of(opts, PARALLEL_DOWN);
	int rc;

	if (nw > j->ntodo)
		nw = (unsigned)j->ntodo;
	for (unsigned i = 0; i < nw; i++)
		w[i] = (down_worker){.j = j, .id = i};
	atomic_init(&j->next, 0);
	run_workers(down_work, w, sizeof(w[0]), nw);
	if ((rc = shared_rethrow(&j->sh)) != 0)
		return rc;
	if (atomic_load(&j->next) < j->ntodo)
		return cairn__error_set(CAIRN_EIO, "no worker could fetch the xorb ranges");
	/* each chunk is in place: only now does anything say the bytes are right */
	if ((rc = cairn_file_hash(&got, j->refs, j->nrefs, NULL)) != 0)
		return rc;
	if (!cairn_hash_equal(&got, want)) {
		cairn_hash_to_hex(h1, &got);
		cairn_hash_to_hex(h2, want);
		return cairn__error_set(CAIRN_ECORRUPT,
					"the downloaded data hashes to %s, not the object's %s "
					"(corrupt on the server or damaged in transit)",
					h1, h2);
	}
	return 0;
}

int cairn_client_get_file(cairn_client *c, const char *ns, const char *name, const char *key,
			  const char *path, const cairn_client_xfer_options *opts,
			  cairn_client_get_result *out)
{
	char tmp[PATH_MAX + 64], hex[CAIRN_HASH_HEX_LEN + 1];
	request r = REQUEST_INIT;
	cairn_client_get_result res;
	cairn_hash want;
	json_t *v = NULL;
	uint64_t size = 0;
	down_job *j;
	bool made = false;
	int fd = -1, rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0 ||
	    (rc = cairn__client_check_key(key)) != 0 || (rc = check_options(opts)) != 0)
		return rc;
	if (path == NULL || *path == '\0')
		return cairn__error_set(CAIRN_EINVALID, "no destination path");
	if ((rc = head_object(c, ns, name, key, &want, &size)) != 0)
		return rc;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	shared_init(&j->sh, opts, CAIRN_CLIENT_DOWNLOADING, size);
	j->c = c;
	memset(&res, 0, sizeof(res));
	cairn_hash_to_hex(hex, &want);
	if ((rc = open_temp(path, tmp, sizeof(tmp), &fd)) != 0)
		goto fail;
	made = true;
	j->fd = fd;
	if (size == 0) {
		/* no chunks: the file hash of an empty list */
		cairn_hash zero;
		if ((rc = cairn_file_hash(&zero, NULL, 0, NULL)) != 0)
			goto fail;
		if (!cairn_hash_equal(&zero, &want)) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "the object is empty, but its hash is %s",
					      hex);
			goto fail;
		}
	} else {
		r.method = "GET";
		r.idempotent = true;
		r.max = RECON_MAX;
		/*
		 * schemes=cairn: recompressed xorbs come as stored (the stream
		 * decodes Cairn's schemes), not decoded by the server into their
		 * xet form; CAIRN_XET_SCHEMES_ONLY=1 asks as any xet client does
		 */
		{
			const char *xo = getenv("CAIRN_XET_SCHEMES_ONLY");
			bool xet_only = xo != NULL && strcmp(xo, "1") == 0;
			size_t qn = (c->region_q ? strlen(c->region_q) : 0) + 32;
			char *q = malloc(qn);
			r.url = NULL;
			if (q != NULL) {
				snprintf(q, qn, "%s%s", c->region_q ? c->region_q : "",
					 xet_only	 ? ""
					 : c->region_q ? "&schemes=cairn"
							 : "?schemes=cairn");
				r.url = cairn__client_url(c, "/v1/reconstructions/", NULL, NULL, hex,
							  NULL, q[0] ? q : NULL);
				free(q);
			}
		}
		if (r.url == NULL) {
			rc = CAIRN_ENOMEM;
			goto fail;
		}
		rc = cairn__client_call_json(c, &r, &v);
		free((char *)r.url);
		if (rc == CAIRN_ENOTFOUND || (rc != 0 && c->status == 405)) {
			/* no reconstruction (an older server, or the object just went) */
			if ((rc = stream_whole(c, ns, name, key, fd, &want, size, &j->received)) != 0)
				goto fail;
			goto written;
		}
		if (rc != 0)
			goto fail;
		if ((rc = make_plan(j, v, &want, size)) != 0)
			goto fail;
		if (ftruncate(fd, (off_t)size) != 0) {
			rc = cairn__error_set(CAIRN_EIO, "sizing %s: %s", tmp, strerror(errno));
			goto fail;
		}
		if ((rc = download_plan(j, opts, &want)) != 0)
			goto fail;
	}
written:
	if (fsync(fd) != 0) {
		rc = cairn__error_set(CAIRN_EIO, "writing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = cairn__error_set(CAIRN_EIO, "writing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = cairn__error_set(CAIRN_EIO, "cannot rename %s to %s: %s", tmp, path,
				      strerror(errno));
		goto fail;
	}
	sync_dir(path);
	snprintf(res.hash, sizeof(res.hash), "%s", hex);
	res.size = size;
	res.bytes_received = j->received;
	res.terms = j->nterms;
	res.fetches = j->ntodo;
	if (out)
		*out = res;
	goto done;
fail:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
done:
	json_decref(v);
	plan_free(j);
	shared_fini(&j->sh);
	free(j);
	return rc;
}

/* ---- copy ------------------------------------------------------------------------------ */

/* POST one NDJSON line to NS/NAME's batch; the one result's hash and size into out. */
static int batch_one(cairn_client *c, const char *ns, const char *name, const char *line,
		     size_t len, cairn_client_put_result *out)
{
	request r = REQUEST_INIT;
	json_t *v = NULL, *res;
	const char *hash;
	int rc;

	r.method = "POST";
	r.data = line;
	r.data_len = len;
	r.content_type = "application/x-ndjson";
	/* one add or copy: applying it twice leaves the same state */
	r.idempotent = true;
	r.url = cairn__client_url(c, "/api/buckets/", ns, name, "/batch", NULL, NULL);
	if (r.url == NULL)
		return CAIRN_ENOMEM;
	rc = cairn__client_call_json(c, &r, &v);
	free((char *)r.url);
	if (rc != 0)
		return rc;
	res = json_array_get(json_object_get(v, "results"), 0);
	hash = json_string_value(json_object_get(res, "hash"));
	if (hash == NULL || strlen(hash) != CAIRN_HASH_HEX_LEN) {
		json_decref(v);
		return cairn__error_set(CAIRN_EIO, "the server's batch answer is malformed");
	}
	snprintf(out->hash, sizeof(out->hash), "%s", hash);
	out->size = cairn__client_get_u64(res, "size");
	json_decref(v);
	return 0;
}


int cairn_client_copy(cairn_client *c, const char *src_ns, const char *src_name,
		      const char *src_key, const char *dst_ns, const char *dst_name,
		      const char *dst_key, cairn_client_put_result *out)
{
	char sb[2 * CAIRN_CLIENT_NAME_MAX + 2];
	cairn_client_put_result res;
	char *line = NULL, *qd = NULL, *qs = NULL, *qb = NULL;
	size_t len;
	int rc;

	if ((rc = cairn__client_check_bucket(src_ns, src_name)) != 0 ||
	    (rc = cairn__client_check_bucket(dst_ns, dst_name)) != 0 ||
	    (rc = cairn__client_check_key(src_key)) != 0 ||
	    (rc = cairn__client_check_key(dst_key)) != 0)
		return rc;
	snprintf(sb, sizeof(sb), "%s/%s", src_ns, src_name);
	qd = json_quote(dst_key);
	qs = json_quote(src_key);
	qb = json_quote(sb);
	if (qd == NULL || qs == NULL || qb == NULL) {
		rc = cairn__error_set(CAIRN_EINVALID, "object paths and names must be UTF-8");
		goto done;
	}
	len = strlen(qd) + strlen(qs) + strlen(qb) + 64;
	line = malloc(len);
	if (line == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	len = (size_t)snprintf(line, len, "{\"op\":\"copy\",\"path\":%s,\"src_bucket\":%s,"
					  "\"src_path\":%s}\n",
			       qd, qb, qs);
	memset(&res, 0, sizeof(res));
	if ((rc = batch_one(c, dst_ns, dst_name, line, len, &res)) == 0 && out)
		*out = res;
done:
	free(line);
	free(qd);
	free(qs);
	free(qb);
	return rc;
}

/* ---- deleting many ------------------------------------------------------------------------ */

int cairn_client_delete_many(cairn_client *c, const char *ns, const char *name,
			     const char *const *keys, size_t n, size_t *missing)
{
	size_t gone = 0;
	int rc;

	if ((rc = cairn__client_check_bucket(ns, name)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = cairn__client_check_key(keys[i])) != 0)
			return rc;
	for (size_t start = 0; start < n && rc == 0;) {
		size_t end = start, len = 0, cap = 0;
		char *body = NULL;
		request r = REQUEST_INIT;
		json_t *v = NULL, *res;

		/* lines of at most ~6 KiB each: well under the server's 64 MiB */
		while (end < n && end - start < BATCH_LINES) {
			char *q = json_quote(keys[end]);
			size_t need;
			if (q == NULL) {
				rc = cairn__error_set(CAIRN_EINVALID, "object path '%s' is not UTF-8",
						      keys[end]);
				break;
			}
			need = strlen(q) + 32;
			if (len + need > cap) {
				size_t ncap = cap ? 2 * cap : 64 * 1024;
				char *nb;
				while (ncap < len + need)
					ncap *= 2;
				if ((nb = realloc(body, ncap)) == NULL) {
					free(q);
					rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
					break;
				}
				body = nb;
				cap = ncap;
			}
			len += (size_t)sprintf(body + len, "{\"op\":\"delete\",\"path\":%s}\n", q);
			free(q);
			end++;
		}
		if (rc == 0) {
			r.method = "POST";
			r.data = body;
			r.data_len = len;
			r.content_type = "application/x-ndjson";
			r.idempotent = true; /* deleting twice: the second finds nothing, as wanted */
			r.url = cairn__client_url(c, "/api/buckets/", ns, name, "/batch", NULL, NULL);
			rc = r.url ? cairn__client_call_json(c, &r, &v) : CAIRN_ENOMEM;
			free((char *)r.url);
		}
		for (size_t i = 0; rc == 0 && i < end - start; i++) {
			res = json_array_get(json_object_get(v, "results"), i);
			gone += json_is_true(json_object_get(res, "missing"));
		}
		json_decref(v);
		free(body);
		start = end;
	}
	if (rc == 0 && missing)
		*missing = gone;
	return rc;
}

int cairn_client_clone(cairn_client **out, const cairn_client *c)
{
	return cairn__client_clone(out, c);
}
