/*
 * file_hash.c - chunk and hash a whole file or buffer on every core.
 *
 * Work goes in rounds over a window that always begins at the start of the
 * open chunk: (1) read the next block (regular files: each thread preads a
 * slice), (2) each thread marks the boundary candidates of its slice of the
 * window in a bitmap (see chunk_int.h for why slices are independent),
 * (3) the calling thread walks the bitmap to pick the real boundaries (a
 * few thousand bit tests per MiB), (4) the threads hash the chunks found,
 * split by bytes. The unfinished last chunk is carried to the next round.
 * Results are identical whatever the thread count or block size.
 */
#include "chunk_int.h"
#include "../util/util_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BLOCK (16u << 20)
#define MIN_BLOCK (1u << 20)
#define MAX_THREADS 64

typedef struct hasher hasher;
typedef void (*phase_fn)(hasher *hs, unsigned t);

typedef struct worker {
	hasher *hs;
	unsigned t;
	pthread_t tid;
} worker;

struct hasher {
	unsigned nthreads;
	worker workers[MAX_THREADS];
	pthread_barrier_t start, done;
	phase_fn phase;
	bool quit;

	/* the window of this round: win[0] is the start of the open chunk */
	const uint8_t *win;
	size_t win_len;
	uint64_t win_off; /* file offset of win[0] */
	uint64_t *bits;

	/* reading (file mode) */
	int fd;
	uint8_t *buf;      /* carry + block */
	size_t carry;      /* bytes already in buf */
	size_t want;       /* bytes to read this round */
	uint64_t read_off; /* file offset of buf[carry] */
	int read_err;      /* errno of a failed read, or 0 */
	size_t got[MAX_THREADS];

	/* output */
	cairn_chunk_info *chunks;
	size_t count, cap;
	size_t hash_from; /* first chunk of this round */
};

/* --- the thread pool: every phase runs on all threads, then all wait --- */

static void *worker_main(void *arg)
{
	worker *w = arg;
	hasher *hs = w->hs;

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
	if (hs->nthreads > 1)
		pthread_barrier_wait(&hs->start);
	fn(hs, 0);
	if (hs->nthreads > 1)
		pthread_barrier_wait(&hs->done);
}

static unsigned pick_threads(unsigned want)
{
	long n;

	if (want > 0)
		return want > MAX_THREADS ? MAX_THREADS : want;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static int pool_start(hasher *hs)
{
	unsigned started = 0;

	if (hs->nthreads <= 1)
		return 0;
	if (pthread_barrier_init(&hs->start, NULL, hs->nthreads) != 0)
		goto fail_barrier;
	if (pthread_barrier_init(&hs->done, NULL, hs->nthreads) != 0) {
		pthread_barrier_destroy(&hs->start);
		goto fail_barrier;
	}
	for (unsigned t = 1; t < hs->nthreads; t++) {
		hs->workers[t].hs = hs;
		hs->workers[t].t = t;
		if (pthread_create(&hs->workers[t].tid, NULL, worker_main, &hs->workers[t]) != 0)
			break;
		started++;
	}
	if (started + 1 == hs->nthreads)
		return 0;
	/* could not start them all: stop those that did, run single-threaded */
	hs->nthreads = started + 1;
	pthread_barrier_destroy(&hs->start);
	pthread_barrier_destroy(&hs->done);
	pthread_barrier_init(&hs->start, NULL, hs->nthreads);
	pthread_barrier_init(&hs->done, NULL, hs->nthreads);
	hs->quit = true;
	if (hs->nthreads > 1)
		pthread_barrier_wait(&hs->start);
	for (unsigned t = 1; t < hs->nthreads; t++)
		pthread_join(hs->workers[t].tid, NULL);
	pthread_barrier_destroy(&hs->start);
	pthread_barrier_destroy(&hs->done);
	hs->quit = false;
	hs->nthreads = 1;
	return 0;
fail_barrier:
	hs->nthreads = 1;
	return 0;
}

static void pool_stop(hasher *hs)
{
	if (hs->nthreads <= 1)
		return;
	hs->quit = true;
	pthread_barrier_wait(&hs->start);
	for (unsigned t = 1; t < hs->nthreads; t++)
		pthread_join(hs->workers[t].tid, NULL);
	pthread_barrier_destroy(&hs->start);
	pthread_barrier_destroy(&hs->done);
}

/* Split [0, n) into nthreads parts; part t is [*lo, *hi). Boundaries are
 * multiples of `align`. */
static void split(size_t n, unsigned nthreads, unsigned t, size_t align, size_t *lo, size_t *hi)
{
	size_t per = (n / nthreads + align - 1) / align * align;

	*lo = (size_t)t * per;
	*hi = *lo + per;
	if (*lo > n)
		*lo = n;
	if (*hi > n || t + 1 == nthreads)
		*hi = n;
}

/* --- phases --------------------------------------------------------------- */

static void phase_read(hasher *hs, unsigned t)
{
	size_t lo, hi, done = 0;

	split(hs->want, hs->nthreads, t, 4096, &lo, &hi);
	while (lo + done < hi) {
		ssize_t r = pread(hs->fd, hs->buf + hs->carry + lo + done, hi - lo - done,
				  (off_t)(hs->read_off + lo + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			hs->read_err = errno;
			break;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	hs->got[t] = done;
}

static void phase_scan(hasher *hs, unsigned t)
{
	size_t lo, hi;

	split(hs->win_len, hs->nthreads, t, 64, &lo, &hi);
	if (lo >= hi)
		return;
	memset(hs->bits + lo / 64, 0, ((hi - lo + 63) / 64) * sizeof(uint64_t));
	cairn__gear_candidates(hs->win, lo, hi, hs->bits);
}

static void phase_hash(hasher *hs, unsigned t)
{
	size_t first = hs->hash_from, n = hs->count - first;
	uint64_t total, lo_b, hi_b;

	if (n == 0)
		return;
	/* split by bytes: chunk i goes to the thread owning its first byte */
	total = hs->chunks[hs->count - 1].offset + hs->chunks[hs->count - 1].len -
		hs->chunks[first].offset;
	lo_b = hs->chunks[first].offset + total * t / hs->nthreads;
	hi_b = hs->chunks[first].offset + total * (t + 1) / hs->nthreads;
	for (size_t i = first; i < hs->count; i++) {
		cairn_chunk_info *c = &hs->chunks[i];
		if (c->offset < lo_b || c->offset >= hi_b)
			continue;
		cairn_chunk_hash(&c->hash, hs->win + (c->offset - hs->win_off), (size_t)c->len);
	}
}

/* --- boundary resolution (calling thread) ---------------------------------- */

/* First set bit in [lo, hi], or SIZE_MAX. */
static size_t first_set(const uint64_t *bits, size_t lo, size_t hi)
{
	size_t w = lo / 64, last = hi / 64;
	uint64_t word;

	if (lo > hi)
		return SIZE_MAX;
	word = bits[w] & (~0ull << (lo % 64));
	for (;;) {
		if (w == last) {
			unsigned top = (unsigned)(hi % 64);
			if (top < 63)
				word &= (2ull << top) - 1;
		}
		if (word)
			return w * 64 + (size_t)__builtin_ctzll(word);
		if (w == last)
			return SIZE_MAX;
		word = bits[++w];
	}
}

static int push_chunk(hasher *hs, uint64_t off, uint64_t len)
{
	if (hs->count == hs->cap) {
		size_t ncap = hs->cap ? hs->cap * 2 : 256;
		cairn_chunk_info *n = realloc(hs->chunks, ncap * sizeof(*n));
		if (n == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory for the chunk list");
		hs->chunks = n;
		hs->cap = ncap;
	}
	hs->chunks[hs->count].offset = off;
	hs->chunks[hs->count].len = len;
	hs->count++;
	return 0;
}

/* Cut the window into chunks; returns bytes consumed (the rest is the open
 * chunk) or a negative error. */
static int64_t resolve(hasher *hs, bool eof)
{
	size_t start = 0, n = hs->win_len;

	while (start < n) {
		size_t lo = start + CAIRN_CHUNK_MIN - 1;
		size_t hi = start + CAIRN_CHUNK_MAX - 1;
		size_t cut, p;
		int rc;

		if (hi < n) {
			p = first_set(hs->bits, lo, hi);
			cut = p != SIZE_MAX ? p + 1 : start + CAIRN_CHUNK_MAX;
		} else {
			p = lo < n ? first_set(hs->bits, lo, n - 1) : SIZE_MAX;
			if (p != SIZE_MAX)
				cut = p + 1;
			else if (eof)
				cut = n;
			else
				break; /* undecided until more data arrives */
		}
		rc = push_chunk(hs, hs->win_off + start, cut - start);
		if (rc < 0)
			return rc;
		start = cut;
	}
	return (int64_t)start;
}

/*
 * The one-thread way to cut the window: xet-core's streaming chunker, which
 * skips the first MIN - 65 bytes of every chunk instead of scanning them.
 */
static int64_t resolve_streaming(hasher *hs, bool eof)
{
	cairn_chunker c;
	size_t pos = 0, start = 0, n = hs->win_len;
	int rc;

	cairn_chunker_init(&c);
	while (pos < n) {
		bool cut;
		pos += cairn_chunker_next(&c, hs->win + pos, n - pos, &cut);
		if (cut) {
			rc = push_chunk(hs, hs->win_off + start, pos - start);
			if (rc < 0)
				return rc;
			start = pos;
		}
	}
	if (eof && start < n) {
		rc = push_chunk(hs, hs->win_off + start, n - start);
		if (rc < 0)
			return rc;
		start = n;
	}
	return (int64_t)start;
}

/* One round over hs->win[0..win_len). */
static int round_once(hasher *hs, bool eof, size_t *consumed)
{
	int64_t used;

	hs->hash_from = hs->count;
	if (hs->nthreads > 1) {
		run_phase(hs, phase_scan);
		used = resolve(hs, eof);
	} else {
		used = resolve_streaming(hs, eof);
	}
	if (used < 0)
		return (int)used;
	run_phase(hs, phase_hash);
	*consumed = (size_t)used;
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

static size_t block_size(const cairn_hash_options *o)
{
	size_t b = o && o->block_size ? o->block_size : DEFAULT_BLOCK;

	if (b < MIN_BLOCK)
		b = MIN_BLOCK;
	return b;
}

int cairn_hash_buffer(cairn_file_chunks **out, const void *data, size_t len,
		      const cairn_hash_options *opts)
{
	hasher hs;
	size_t block = block_size(opts), pos = 0;
	int rc = 0;

	memset(&hs, 0, sizeof(hs));
	hs.nthreads = pick_threads(opts ? opts->threads : 0);
	if (len < 2 * block)
		hs.nthreads = len < MIN_BLOCK ? 1 : hs.nthreads;
	hs.bits = malloc(((block + CAIRN_CHUNK_MAX) / 64 + 1) * sizeof(uint64_t));
	if (hs.bits == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	pool_start(&hs);
	do {
		size_t avail = len - pos, used = 0;
		bool eof = avail <= block + CAIRN_CHUNK_MAX;

		hs.win = (const uint8_t *)data + pos;
		hs.win_off = pos;
		hs.win_len = eof ? avail : block;
		rc = round_once(&hs, eof, &used);
		if (rc < 0)
			break;
		pos += used;
		if (opts && opts->progress)
			opts->progress(opts->progress_ctx, pos);
		if (eof)
			break;
	} while (pos < len);
	pool_stop(&hs);
	free(hs.bits);
	if (rc == 0)
		rc = finish(&hs, len, opts, out);
	free(hs.chunks);
	return rc;
}

int cairn_hash_fd(cairn_file_chunks **out, int fd, const cairn_hash_options *opts)
{
	hasher hs;
	size_t block = block_size(opts);
	struct stat st;
	bool regular;
	uint64_t total = 0;
	int rc = 0;

	if (fstat(fd, &st) != 0)
		return cairn__error_set(CAIRN_EIO, "fstat: %s", strerror(errno));
	regular = S_ISREG(st.st_mode);

	memset(&hs, 0, sizeof(hs));
	hs.fd = fd;
	hs.nthreads = regular ? pick_threads(opts ? opts->threads : 0) : 1;
	if (regular && (uint64_t)st.st_size < MIN_BLOCK)
		hs.nthreads = 1;
	if (regular && (uint64_t)st.st_size < block)
		block = (size_t)st.st_size < MIN_BLOCK ? MIN_BLOCK : (size_t)st.st_size;
	hs.buf = malloc(block + CAIRN_CHUNK_MAX);
	hs.bits = malloc(((block + CAIRN_CHUNK_MAX) / 64 + 1) * sizeof(uint64_t));
	if (hs.buf == NULL || hs.bits == NULL) {
		free(hs.buf);
		free(hs.bits);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory for a %zu-byte block", block);
	}
	pool_start(&hs);
	for (;;) {
		size_t got = 0, used = 0;
		bool eof;

		hs.want = block + CAIRN_CHUNK_MAX - hs.carry;
		if (regular) {
			hs.read_off = total;
			run_phase(&hs, phase_read);
			/* slices must be full up to the first short one */
			for (unsigned t = 0; t < hs.nthreads; t++) {
				size_t lo, hi;
				split(hs.want, hs.nthreads, t, 4096, &lo, &hi);
				got += hs.got[t];
				if (hs.got[t] < hi - lo) {
					for (unsigned u = t + 1; u < hs.nthreads; u++)
						if (hs.got[u] > 0)
							hs.read_err = hs.read_err ? hs.read_err : EIO;
					break;
				}
			}
		} else {
			while (got < hs.want) {
				ssize_t r = read(fd, hs.buf + hs.carry + got, hs.want - got);
				if (r < 0) {
					if (errno == EINTR)
						continue;
					hs.read_err = errno;
					break;
				}
				if (r == 0)
					break;
				got += (size_t)r;
			}
		}
		if (hs.read_err) {
			rc = cairn__error_set(CAIRN_EIO, "read: %s", strerror(hs.read_err));
			break;
		}
		eof = got < hs.want;
		total += got;
		hs.win = hs.buf;
		hs.win_len = hs.carry + got;
		hs.win_off = total - hs.win_len;
		rc = round_once(&hs, eof, &used);
		if (rc < 0)
			break;
		if (opts && opts->progress)
			opts->progress(opts->progress_ctx, hs.win_off + used);
		if (eof)
			break;
		hs.carry = hs.win_len - used;
		memmove(hs.buf, hs.buf + used, hs.carry);
	}
	pool_stop(&hs);
	free(hs.buf);
	free(hs.bits);
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
