/*
 * file_hash.c - chunk and hash a whole file or buffer on every core.
 *
 * Chunking is a sequential scan, but it resynchronises: two scans of the
 * same bytes that start at different places agree on every boundary after
 * the first boundary they share, because the chunker restarts from zero at
 * each cut. So each round, every thread takes one slice of a window and
 * (in one pass, while the bytes are in cache) reads it, chunks it as if a
 * chunk started at the slice, and hashes the chunks it finds. Thread 0's
 * slice starts where a real chunk starts, so its chunks are final. The
 * calling thread then re-chunks from the last final boundary into the next
 * slice until it meets a boundary that slice's thread also found; from
 * there on that thread's chunks are final too. On ordinary data this costs
 * a chunk or two per slice; data that never resynchronises (e.g. a constant
 * byte, cut only at the maximum size) is simply re-chunked serially, with
 * the same answer. The unfinished last chunk is carried to the next round.
 * Results are identical whatever the thread count or block size.
 */
#include "chunk_int.h"
#include "../util/util_int.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BLOCK (16u << 20)
#define MIN_BLOCK (1u << 20)
#define MAX_BLOCK (1u << 30)
#define MAX_THREADS 64
/*
 * Slices start at multiples of the largest chunk from the window start (a
 * real boundary): on constant data, cut only every CAIRN_CHUNK_MAX bytes,
 * each thread's guess then lines up with the real cuts at once.
 */
#define SLICE_ALIGN CAIRN_CHUNK_MAX

typedef struct hasher hasher;
typedef void (*phase_fn)(hasher *hs, unsigned t);

typedef struct worker {
	hasher *hs;
	unsigned t;
	pthread_t tid;
} worker;

/* Chunks one thread found in its slice, assuming a chunk began there. */
typedef struct spec_list {
	cairn_chunk_info *c; /* offsets relative to the window */
	size_t n, cap;
	size_t lo, hi;       /* the slice */
	size_t valid;        /* end of the bytes present (and chunked) */
	size_t got;          /* bytes this thread read */
	int err;             /* errno of this thread's failed read, or 0 */
} spec_list;

struct hasher {
	unsigned nthreads; /* threads running (1 + started workers) */
	worker workers[MAX_THREADS];
	pthread_barrier_t start, done;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	bool gate_open; /* workers wait here until the barriers exist */
	bool no_barriers; /* ... and leave at once if they could not be made */
	bool pooled;    /* barriers and workers exist */
	phase_fn phase;
	bool quit;

	/* the window of this round: win[0] is the start of the open chunk */
	const uint8_t *win;
	size_t win_len;   /* bytes present */
	uint64_t win_off; /* stream offset of win[0] */

	/* reading (file mode) */
	int fd;
	bool from_fd;
	uint8_t *buf;      /* carry + block */
	size_t carry;      /* bytes already in buf */
	uint64_t base;     /* file offset the stream started at */
	uint64_t read_off; /* file offset of buf[carry] */

	spec_list spec[MAX_THREADS];

	/* output */
	cairn_chunk_info *chunks;
	size_t count, cap;
};

/* --- the thread pool: every phase runs on all threads, then all wait --- */


/* Has the caller asked to stop (version 2 options)? */
static bool canceled(const cairn_hash_options *opts)
{
	return opts && opts->version >= 2 && opts->cancel && atomic_load(opts->cancel);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	hasher *hs = w->hs;

	/* wait until the pool knows how many of us there are */
	pthread_mutex_lock(&hs->gate_mu);
	while (!hs->gate_open)
		pthread_cond_wait(&hs->gate_cv, &hs->gate_mu);
	pthread_mutex_unlock(&hs->gate_mu);
	if (hs->no_barriers)
		return NULL;
	for (;;) {
		pthread_barrier_wait(&hs->start);
		if (hs->quit)
			break;
		hs->phase(hs, w->t);
		pthread_barrier_wait(&hs->done);
	}
	return NULL;
}

static void run_phase(hasher *hs, phase_fn fn)
{
	hs->phase = fn;
	if (hs->pooled)
		pthread_barrier_wait(&hs->start);
	fn(hs, 0);
	if (hs->pooled)
		pthread_barrier_wait(&hs->done);
}

/* CPUs this process may run on (affinity and cpusets respected). */
static unsigned pick_threads(unsigned want)
{
	cpu_set_t set;
	long n;

	if (want > 0)
		return want > MAX_THREADS ? MAX_THREADS : want;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static void open_gate(hasher *hs)
{
	pthread_mutex_lock(&hs->gate_mu);
	hs->gate_open = true;
	pthread_cond_broadcast(&hs->gate_cv);
	pthread_mutex_unlock(&hs->gate_mu);
}

/*
 * Start up to want - 1 workers. Workers wait at a gate until the barriers
 * are made for exactly the number that started; if fewer start (or the
 * barriers cannot be made), the pool simply runs with what it has, down to
 * the calling thread alone. Never fails.
 */
static void pool_start(hasher *hs, unsigned want)
{
	unsigned started = 0;

	hs->nthreads = 1;
	if (want <= 1)
		return;
	pthread_mutex_init(&hs->gate_mu, NULL);
	pthread_cond_init(&hs->gate_cv, NULL);
	for (unsigned t = 1; t < want; t++) {
		hs->workers[t].hs = hs;
		hs->workers[t].t = t;
		if (pthread_create(&hs->workers[t].tid, NULL, worker_main, &hs->workers[t]) != 0)
			break;
		started++;
	}
	if (started > 0) {
		if (pthread_barrier_init(&hs->start, NULL, started + 1) != 0) {
			hs->no_barriers = true;
		} else if (pthread_barrier_init(&hs->done, NULL, started + 1) != 0) {
			pthread_barrier_destroy(&hs->start);
			hs->no_barriers = true;
		}
	}
	open_gate(hs);
	if (started > 0 && hs->no_barriers) {
		/* the workers leave at the gate */
		for (unsigned t = 1; t <= started; t++)
			pthread_join(hs->workers[t].tid, NULL);
		started = 0;
	}
	hs->nthreads = started + 1;
	hs->pooled = started > 0;
	if (!hs->pooled) {
		/* every worker has been joined (or none started) */
		pthread_cond_destroy(&hs->gate_cv);
		pthread_mutex_destroy(&hs->gate_mu);
	}
}

static void pool_stop(hasher *hs)
{
	if (!hs->pooled)
		return;
	hs->quit = true;
	pthread_barrier_wait(&hs->start);
	for (unsigned t = 1; t < hs->nthreads; t++)
		pthread_join(hs->workers[t].tid, NULL);
	pthread_barrier_destroy(&hs->start);
	pthread_barrier_destroy(&hs->done);
	pthread_cond_destroy(&hs->gate_cv);
	pthread_mutex_destroy(&hs->gate_mu);
	hs->pooled = false;
}

/* --- the per-thread pass: read, chunk, hash ------------------------------ */

/*
 * Read [from, to) of the window from the file; returns bytes read (short
 * only at end of file or on error, which sets sl->err).
 */
static size_t read_range(hasher *hs, spec_list *sl, size_t from, size_t to)
{
	size_t done = 0;

	while (from + done < to) {
		ssize_t r = pread(hs->fd, hs->buf + from + done, to - from - done,
				  (off_t)(hs->read_off + (from - hs->carry) + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			sl->err = errno;
			break;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return done;
}

/* Bytes read ahead of the chunker: small enough that they are still in
 * this core's cache when chunked and hashed. */
#define READ_PIECE (256u << 10)

static void phase_work(hasher *hs, unsigned t)
{
	spec_list *sl = &hs->spec[t];
	cairn_chunker ck;
	size_t pos, start, avail;
	bool more = hs->from_fd;

	sl->n = 0;
	sl->got = 0;
	sl->err = 0;
	if (hs->from_fd) {
		/* bytes below the carry are already here from the last round */
		avail = sl->lo > hs->carry ? sl->lo : (hs->carry < sl->hi ? hs->carry : sl->hi);
	} else {
		avail = sl->hi < hs->win_len ? sl->hi : hs->win_len;
	}
	cairn_chunker_init(&ck);
	pos = start = sl->lo;
	for (;;) {
		while (pos < avail) {
			bool cut;
			pos += cairn_chunker_next(&ck, hs->win + pos, avail - pos, &cut);
			if (!cut)
				continue;
			if (sl->n == sl->cap) {
				/* cannot happen: cap counts every MIN bytes of the
				 * largest slice. Fail loudly rather than drop a cut. */
				sl->err = ENOBUFS;
				sl->valid = avail;
				return;
			}
			sl->c[sl->n].offset = start;
			sl->c[sl->n].len = pos - start;
			cairn_chunk_hash(&sl->c[sl->n].hash, hs->win + start, pos - start);
			sl->n++;
			start = pos;
		}
		if (!more || avail >= sl->hi)
			break;
		{
			size_t want = sl->hi - avail < READ_PIECE ? sl->hi - avail : READ_PIECE;
			size_t got = read_range(hs, sl, avail, avail + want);
			sl->got += got;
			avail += got;
			if (got < want)
				more = false; /* end of file: chunk what came, then stop */
		}
	}
	sl->valid = avail;
}

/* --- merging the slices (calling thread) ------------------------------------- */

static int push_chunk(hasher *hs, size_t off, size_t len, const cairn_hash *hash)
{
	cairn_chunk_info *c;

	if (hs->count == hs->cap) {
		size_t ncap = hs->cap ? hs->cap * 2 : 256;
		cairn_chunk_info *n = realloc(hs->chunks, ncap * sizeof(*n));
		if (n == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory for the chunk list");
		hs->chunks = n;
		hs->cap = ncap;
	}
	c = &hs->chunks[hs->count++];
	c->offset = hs->win_off + off;
	c->len = len;
	if (hash)
		c->hash = *hash;
	else
		cairn_chunk_hash(&c->hash, hs->win + off, len);
	return 0;
}

/* Take a thread's chunks from index `from` on as final. */
static int adopt(hasher *hs, const spec_list *sl, size_t from, size_t *cur)
{
	for (size_t k = from; k < sl->n; k++) {
		int rc = push_chunk(hs, (size_t)sl->c[k].offset, (size_t)sl->c[k].len,
				    &sl->c[k].hash);
		if (rc < 0)
			return rc;
		*cur = (size_t)(sl->c[k].offset + sl->c[k].len);
	}
	return 0;
}

/*
 * Chunk from *cur (a real boundary) into slice sl until a boundary the
 * slice's thread also found, then adopt that thread's chunks. Without a
 * meeting point, *cur ends at the start of the chunk still open at the
 * slice's end.
 */
static int merge_slice(hasher *hs, const spec_list *sl, size_t *cur)
{
	cairn_chunker ck;
	size_t pos = *cur, start = *cur, j = 0;
	int rc;

	if (*cur == sl->lo)
		return adopt(hs, sl, 0, cur);
	cairn_chunker_init(&ck);
	while (pos < sl->valid) {
		bool cut;
		pos += cairn_chunker_next(&ck, hs->win + pos, sl->valid - pos, &cut);
		if (!cut)
			continue;
		rc = push_chunk(hs, start, pos - start, NULL);
		if (rc < 0)
			return rc;
		start = *cur = pos;
		if (pos == sl->lo)
			return adopt(hs, sl, 0, cur);
		while (j < sl->n && sl->c[j].offset + sl->c[j].len < pos)
			j++;
		if (j < sl->n && sl->c[j].offset + sl->c[j].len == pos)
			return adopt(hs, sl, j + 1, cur);
	}
	return 0;
}

/* One round over the window; *consumed = bytes now final. */
static int round_once(hasher *hs, bool eof, size_t *consumed)
{
	size_t cur = 0;
	int rc;

	for (unsigned t = 0; t < hs->nthreads; t++) {
		const spec_list *sl = &hs->spec[t];
		if (sl->lo >= hs->win_len)
			break;
		rc = t == 0 ? adopt(hs, sl, 0, &cur) : merge_slice(hs, sl, &cur);
		if (rc < 0)
			return rc;
	}
	if (eof && cur < hs->win_len) {
		if (hs->win_len - cur >= CAIRN_CHUNK_MAX)
			return cairn__error_set(CAIRN_ERROR, "internal error: unmerged tail of %zu bytes",
						hs->win_len - cur);
		rc = push_chunk(hs, cur, hs->win_len - cur, NULL);
		if (rc < 0)
			return rc;
		cur = hs->win_len;
	}
	*consumed = cur;
	return 0;
}

/* Lay out the slices of a window of `cap` bytes. */
static void plan_slices(hasher *hs, size_t cap)
{
	size_t per = (cap / hs->nthreads + SLICE_ALIGN - 1) / SLICE_ALIGN * SLICE_ALIGN;

	for (unsigned t = 0; t < hs->nthreads; t++) {
		spec_list *sl = &hs->spec[t];
		sl->lo = (size_t)t * per;
		sl->hi = sl->lo + per;
		if (sl->lo > cap)
			sl->lo = cap;
		if (sl->hi > cap || t + 1 == hs->nthreads)
			sl->hi = cap;
	}
}

/* Start the pool, then size each thread's chunk list for the largest
 * slice a window of max_window bytes can give it. */
static int setup(hasher *hs, unsigned threads, size_t max_window)
{
	size_t per;

	pool_start(hs, threads);
	per = (max_window / hs->nthreads + SLICE_ALIGN - 1) / SLICE_ALIGN * SLICE_ALIGN;
	for (unsigned t = 0; t < hs->nthreads; t++) {
		hs->spec[t].cap = per / CAIRN_CHUNK_MIN + 2;
		hs->spec[t].c = malloc(hs->spec[t].cap * sizeof(cairn_chunk_info));
		if (hs->spec[t].c == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	return 0;
}

/* Safe after any failure of setup. */
static void teardown(hasher *hs)
{
	pool_stop(hs);
	for (unsigned t = 0; t < MAX_THREADS; t++)
		free(hs->spec[t].c);
	free(hs->buf);
}

/* After a phase: the first error any thread met, or 0. */
static int phase_error(const hasher *hs)
{
	for (unsigned t = 0; t < hs->nthreads; t++) {
		int e = hs->spec[t].err;
		if (e == ENOBUFS)
			return cairn__error_set(CAIRN_ERROR, "internal error: chunk list overflow");
		if (e)
			return cairn__error_set(CAIRN_EIO, "read: %s", strerror(e));
	}
	return 0;
}

static int finish(hasher *hs, uint64_t size, const cairn_hash_options *o,
		  cairn_file_chunks **out)
{
	cairn_file_chunks *fc = calloc(1, sizeof(*fc));
	cairn_chunk_ref *refs = NULL;
	int rc;

	if (fc == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if (hs->count > 0) {
		refs = malloc(hs->count * sizeof(*refs));
		if (refs == NULL) {
			free(fc);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < hs->count; i++) {
		refs[i].hash = hs->chunks[i].hash;
		refs[i].len = hs->chunks[i].len;
	}
	rc = cairn_file_hash(&fc->file_hash, refs, hs->count, o ? o->salt : NULL);
	free(refs);
	if (rc < 0) {
		free(fc);
		return rc;
	}
	fc->size = size;
	fc->count = hs->count;
	fc->chunks = hs->chunks;
	hs->chunks = NULL;
	*out = fc;
	return 0;
}

/* The block per round: 1 MiB .. 1 GiB (0 means the default). */
static int block_size(size_t *out, const cairn_hash_options *o)
{
	size_t b = o && o->block_size ? o->block_size : DEFAULT_BLOCK;

	if (b > MAX_BLOCK)
		return cairn__error_set(CAIRN_EINVALID, "block_size %zu is over the 1 GiB limit", b);
	*out = b < MIN_BLOCK ? MIN_BLOCK : b;
	return 0;
}

/* Threads worth using for n bytes: each should get a few MiB per round. */
static unsigned threads_for(const cairn_hash_options *o, uint64_t n)
{
	unsigned t = pick_threads(o ? o->threads : 0);
	uint64_t most = n / MIN_BLOCK;

	if (most < 1)
		most = 1;
	return (uint64_t)t > most ? (unsigned)most : t;
}

int cairn_hash_buffer(cairn_file_chunks **out, const void *data, size_t len,
		      const cairn_hash_options *opts)
{
	hasher hs;
	size_t block = 0, pos = 0;
	int rc = block_size(&block, opts);

	if (rc < 0)
		return rc;
	memset(&hs, 0, sizeof(hs));
	rc = setup(&hs, threads_for(opts, len), block + CAIRN_CHUNK_MAX);
	while (rc == 0) {
		size_t avail = len - pos, used = 0;
		bool eof = avail <= block + CAIRN_CHUNK_MAX;

		hs.win = (const uint8_t *)data + pos;
		hs.win_off = pos;
		hs.win_len = eof ? avail : block + CAIRN_CHUNK_MAX;
		plan_slices(&hs, hs.win_len);
		run_phase(&hs, phase_work);
		rc = phase_error(&hs);
		if (rc < 0)
			break;
		rc = round_once(&hs, eof, &used);
		if (rc < 0)
			break;
		pos += used;
		if (opts && opts->progress)
			opts->progress(opts->progress_ctx, pos);
		if (!eof && canceled(opts)) {
			rc = cairn__error_set(CAIRN_ECANCELED, "hashing canceled");
			break;
		}
		if (eof)
			break;
	}
	teardown(&hs);
	if (rc == 0)
		rc = finish(&hs, len, opts, out);
	free(hs.chunks);
	return rc;
}

/*
 * The read window: 2 MiB aligned and marked for transparent huge pages, so
 * first touching it costs a handful of faults instead of one per 4 KiB page.
 */
static uint8_t *alloc_window(size_t n)
{
	size_t align = 2u << 20, rounded = (n + align - 1) / align * align;
	void *p;

	if (n < 2 * align)
		return malloc(n); /* small files: no huge page to clear */
	p = aligned_alloc(align, rounded);

#ifdef MADV_HUGEPAGE
	if (p)
		madvise(p, rounded, MADV_HUGEPAGE); /* a hint; failure is harmless */
#endif
	return p;
}

/* Sequential read for pipes and other unseekable inputs; waits on a
 * non-blocking descriptor rather than failing. */
static size_t read_stream(hasher *hs, size_t want, int *err)
{
	size_t got = 0;

	while (got < want) {
		ssize_t r = read(hs->fd, hs->buf + hs->carry + got, want - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {.fd = hs->fd, .events = POLLIN};
				if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
					continue;
			}
			*err = errno;
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

/*
 * Regular files are read with pread from the descriptor's current offset
 * (so `cairn hash - < file` after a partial read hashes the rest, like
 * other checksum tools) and the offset is advanced past what was hashed.
 */
int cairn_hash_fd(cairn_file_chunks **out, int fd, const cairn_hash_options *opts)
{
	hasher hs;
	size_t block = 0, cap;
	struct stat st, st_after;
	bool regular, changed = false;
	uint64_t total = 0, left = 0;
	int rc = block_size(&block, opts), err = 0;

	if (rc < 0)
		return rc;
	cap = block + CAIRN_CHUNK_MAX; /* window bytes */
	if (fstat(fd, &st) != 0)
		return cairn__error_set(CAIRN_EIO, "fstat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return cairn__error_set(CAIRN_EIO, "read: %s", strerror(EISDIR));
	regular = S_ISREG(st.st_mode);
	memset(&hs, 0, sizeof(hs));
	if (regular) {
		off_t here = lseek(fd, 0, SEEK_CUR);
		hs.base = here > 0 ? (uint64_t)here : 0;
		left = (uint64_t)st.st_size > hs.base ? (uint64_t)st.st_size - hs.base : 0;
		/*
		 * A small file needs a window of its size (+1 byte to see the
		 * end), but never less than a whole chunk + 1: an open chunk
		 * carried over (if the file grows meanwhile) must leave room.
		 */
		if (left < cap) {
			cap = (size_t)left + 1;
			if (cap < CAIRN_CHUNK_MAX + 1)
				cap = CAIRN_CHUNK_MAX + 1;
		}
	}

	hs.fd = fd;
	hs.buf = alloc_window(cap);
	if (hs.buf == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a %zu-byte window", cap);
	hs.win = hs.buf;
	rc = setup(&hs, regular ? threads_for(opts, left) : 1, cap);
	while (rc == 0) {
		size_t want = cap - hs.carry, got = 0, used = 0;
		bool eof, seen_short = false;

		plan_slices(&hs, cap);
		hs.read_off = hs.base + total;
		if (regular) {
			hs.from_fd = true;
			run_phase(&hs, phase_work);
			rc = phase_error(&hs);
			if (rc < 0)
				break;
			/* slices must be full up to the first short one */
			for (unsigned t = 0; t < hs.nthreads; t++) {
				const spec_list *sl = &hs.spec[t];
				size_t from = sl->lo > hs.carry ? sl->lo : hs.carry;
				if (seen_short && sl->got > 0)
					changed = true;
				got += sl->got;
				if (from < sl->hi && sl->valid < sl->hi)
					seen_short = true;
			}
		} else {
			got = read_stream(&hs, want, &err);
			if (err) {
				rc = cairn__error_set(CAIRN_EIO, "read: %s", strerror(err));
				break;
			}
		}
		if (changed)
			break;
		eof = got < want;
		total += got;
		hs.win_len = hs.carry + got;
		hs.win_off = total - hs.win_len;
		if (!regular) {
			plan_slices(&hs, hs.win_len);
			hs.from_fd = false;
			run_phase(&hs, phase_work);
		}
		rc = round_once(&hs, eof, &used);
		if (rc < 0)
			break;
		if (opts && opts->progress)
			opts->progress(opts->progress_ctx, hs.win_off + used);
		if (!eof && canceled(opts)) {
			rc = cairn__error_set(CAIRN_ECANCELED, "hashing canceled");
			break;
		}
		if (eof)
			break;
		hs.carry = hs.win_len - used;
		memmove(hs.buf, hs.buf + used, hs.carry);
	}
	teardown(&hs);
	/* a file rewritten, truncated or grown while we read it has no one hash */
	if (rc == 0 && regular &&
	    (changed || fstat(fd, &st_after) != 0 || !same_file_state(&st, &st_after) ||
	     total != left))
		rc = cairn__error_set(CAIRN_EIO, "read: file changed while reading");
	if (rc == 0 && regular)
		(void)lseek(fd, (off_t)(hs.base + total), SEEK_SET);
	if (rc == 0)
		rc = finish(&hs, total, opts, out);
	free(hs.chunks);
	return rc;
}

void cairn_file_chunks_free(cairn_file_chunks *fc)
{
	if (fc == NULL)
		return;
	free(fc->chunks);
	free(fc);
}
