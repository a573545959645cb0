/*
 * test_chunk.c - properties of the chunker and the whole-file hasher that
 * must hold for any input: sizes stay within bounds, every code path (the
 * streaming chunker, the parallel hasher with any thread count and block
 * size, buffers, regular files, pipes) cuts identically, edits only change
 * nearby chunks, and bad file descriptors give clear errors.
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static cairn_file_chunks *hash_buf(const uint8_t *p, size_t n, unsigned threads, size_t block)
{
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL;

	o.threads = threads;
	o.block_size = block;
	if (cairn_hash_buffer(&fc, p, n, &o) != 0)
		return NULL;
	return fc;
}

static bool same_chunks(const cairn_file_chunks *a, const cairn_file_chunks *b)
{
	if (a->count != b->count || a->size != b->size ||
	    !cairn_hash_equal(&a->file_hash, &b->file_hash))
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (a->chunks[i].offset != b->chunks[i].offset ||
		    a->chunks[i].len != b->chunks[i].len ||
		    !cairn_hash_equal(&a->chunks[i].hash, &b->chunks[i].hash))
			return false;
	return true;
}

static void bounds(void)
{
	static const char *specs[] = {"splitmix:21:3000000", "const:0:1000000",
				      "lowent:22:2000000", "repeat:23:5:900000"};

	test_section("chunk sizes within [MIN, MAX], contiguous, covering the input");
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		size_t n;
		uint8_t *p = xetgen(specs[s], &n);
		cairn_file_chunks *fc = hash_buf(p, n, 1, 0);
		uint64_t off = 0;
		bool ok = fc != NULL;

		for (size_t i = 0; ok && i < fc->count; i++) {
			const cairn_chunk_info *c = &fc->chunks[i];
			ok = c->offset == off && c->len <= CAIRN_CHUNK_MAX &&
			     (c->len >= CAIRN_CHUNK_MIN || i + 1 == fc->count) && c->len > 0;
			off += c->len;
		}
		CHECKF(ok && off == n, "%s", specs[s]);
		cairn_file_chunks_free(fc);
		free(p);
	}
	/* a constant byte never matches: cuts every MAX bytes exactly */
	{
		size_t n = 3 * CAIRN_CHUNK_MAX + 5;
		uint8_t *p = test_xmalloc(n);
		cairn_file_chunks *fc;

		memset(p, 0xAB, n);
		fc = hash_buf(p, n, 2, 0);
		CHECK(fc && fc->count == 4 && fc->chunks[3].len == 5);
		cairn_file_chunks_free(fc);
		free(p);
	}
}

static void all_paths_agree(void)
{
	uint64_t seed = 0;

	test_section("threads and block sizes never change the answer");
	for (int round = 0; round < 6; round++) {
		size_t n = (size_t)(splitmix64_next(&seed) % (9u << 20)) + 1;
		uint8_t *p = test_xmalloc(n);
		cairn_file_chunks *ref;

		splitmix64_fill(seed, p, n);
		if (round % 2)
			for (size_t i = 0; i < n; i++)
				p[i] &= 0x0F; /* lower entropy, other cut pattern */
		ref = hash_buf(p, n, 1, 0);
		if (!CHECK(ref != NULL)) {
			free(p);
			continue;
		}
		for (unsigned t = 1; t <= 4; t++) {
			static const size_t blocks[] = {0, 1u << 20, (1u << 20) + 4097};
			for (size_t b = 0; b < 3; b++) {
				cairn_file_chunks *fc = hash_buf(p, n, t, blocks[b]);
				CHECKF(fc && same_chunks(ref, fc), "n=%zu threads=%u block=%zu", n, t,
				       blocks[b]);
				cairn_file_chunks_free(fc);
			}
		}
		cairn_file_chunks_free(ref);
		free(p);
	}
}

static void *feed_pipe(void *arg)
{
	uint8_t **ctx = arg;
	size_t n = (size_t)(uintptr_t)ctx[1], off = 0;
	int fd = (int)(intptr_t)ctx[2];

	while (off < n) {
		size_t k = n - off < 77777 ? n - off : 77777;
		ssize_t w = write(fd, ctx[0] + off, k);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	return NULL;
}

static void fds(void)
{
	size_t n;
	uint8_t *p = xetgen("splitmix:31:5000001", &n);
	cairn_file_chunks *ref = hash_buf(p, n, 1, 0), *fc = NULL;
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	char path[] = "/tmp/cairn-test-chunk-XXXXXX";
	int fd, pfd[2];

	test_section("regular files and pipes");
	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	o.threads = 2;
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(cairn_hash_fd(&fc, fd, &o) == 0 && same_chunks(ref, fc));
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)n); /* left past what was hashed */
	cairn_file_chunks_free(fc);
	fc = NULL;
	/* from the current offset on, like other checksum tools */
	{
		cairn_file_chunks *tail = hash_buf(p + 1000, n - 1000, 1, 0);
		CHECK(lseek(fd, 1000, SEEK_SET) == 1000);
		CHECK(cairn_hash_fd(&fc, fd, &o) == 0 && tail && same_chunks(tail, fc));
		cairn_file_chunks_free(tail);
		cairn_file_chunks_free(fc);
		fc = NULL;
	}
	close(fd);
	unlink(path);

	CHECK(pipe(pfd) == 0);
	{
		pthread_t th;
		void *ctx[3] = {p, (void *)(uintptr_t)n, (void *)(intptr_t)pfd[1]};
		pthread_create(&th, NULL, feed_pipe, ctx);
		CHECK(cairn_hash_fd(&fc, pfd[0], &o) == 0 && fc && same_chunks(ref, fc));
		pthread_join(th, NULL);
		close(pfd[0]);
		cairn_file_chunks_free(fc);
		fc = NULL;
	}

	test_section("bad descriptors are clear errors");
	CHECK(cairn_hash_fd(&fc, -1, NULL) == CAIRN_EIO && fc == NULL);
	CHECK(strstr(cairn_error_last(), "Bad file descriptor") != NULL);
	fd = open("/", O_RDONLY | O_DIRECTORY);
	CHECK(cairn_hash_fd(&fc, fd, NULL) == CAIRN_EIO && fc == NULL);
	CHECKF(strstr(cairn_error_last(), "directory") != NULL, "%s", cairn_error_last());
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	CHECK(cairn_hash_fd(&fc, fd, NULL) == 0 && fc->size == 0 && fc->count == 0 &&
	      cairn_hash_is_zero(&fc->file_hash));
	cairn_file_chunks_free(fc);
	close(fd);

	cairn_file_chunks_free(ref);
	free(p);
}

static uint64_t last_progress;
static int progress_calls;
static bool progress_monotonic = true;

static void on_progress(void *ctx, uint64_t done)
{
	(void)ctx;
	if (done < last_progress)
		progress_monotonic = false;
	last_progress = done;
	progress_calls++;
}

static void options(void)
{
	size_t n;
	uint8_t *p = xetgen("splitmix:41:20000000", &n);
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL, *plain = hash_buf(p, n, 2, 0);
	cairn_hash salt, want;
	cairn_chunk_ref *refs;

	test_section("progress and salt");
	o.progress = on_progress;
	o.block_size = 1u << 20;
	CHECK(cairn_hash_buffer(&fc, p, n, &o) == 0);
	CHECK(progress_calls >= 10 && progress_monotonic && last_progress == n);
	cairn_file_chunks_free(fc);

	memset(&salt, 0x5a, sizeof(salt));
	o.salt = &salt;
	o.progress = NULL;
	CHECK(cairn_hash_buffer(&fc, p, n, &o) == 0);
	refs = test_xmalloc(plain->count * sizeof(*refs));
	for (size_t i = 0; i < plain->count; i++) {
		refs[i].hash = plain->chunks[i].hash;
		refs[i].len = plain->chunks[i].len;
	}
	CHECK(cairn_file_hash(&want, refs, plain->count, &salt) == 0);
	CHECK(cairn_hash_equal(&fc->file_hash, &want));
	CHECK(!cairn_hash_equal(&fc->file_hash, &plain->file_hash));
	free(refs);
	cairn_file_chunks_free(fc);
	cairn_file_chunks_free(plain);
	free(p);
}

/* The point of it all: a small edit changes only nearby chunks. */
static void locality(void)
{
	size_t n = 8u << 20, shared = 0;
	uint8_t *a = test_xmalloc(n), *b = test_xmalloc(n + 100);
	cairn_file_chunks *fa, *fb;

	test_section("an insertion changes only the chunks around it");
	splitmix64_fill(51, a, n);
	memcpy(b, a, n / 2);
	memset(b + n / 2, 'X', 100); /* insert 100 bytes in the middle */
	memcpy(b + n / 2 + 100, a + n / 2, n / 2);
	fa = hash_buf(a, n, 2, 0);
	fb = hash_buf(b, n + 100, 2, 0);
	for (size_t i = 0; i < fb->count; i++)
		for (size_t k = 0; k < fa->count; k++)
			if (cairn_hash_equal(&fb->chunks[i].hash, &fa->chunks[k].hash)) {
				shared++;
				break;
			}
	CHECKF(fb->count - shared <= 3 && fb->count > 100, "%zu of %zu chunks new",
	       fb->count - shared, fb->count);
	cairn_file_chunks_free(fa);
	cairn_file_chunks_free(fb);
	free(a);
	free(b);
}

static void streaming_api(void)
{
	cairn_chunker c;
	bool cut = true;
	uint8_t buf[CAIRN_CHUNK_MAX + 10];

	test_section("streaming chunker API");
	cairn_chunker_init(&c);
	CHECK(cairn_chunker_next(&c, buf, 0, &cut) == 0 && !cut);
	CHECK(cairn_chunker_pending(&c) == 0);
	memset(buf, 7, sizeof(buf));
	CHECK(cairn_chunker_next(&c, buf, 100, &cut) == 100 && !cut);
	CHECK(cairn_chunker_pending(&c) == 100);
	CHECK(cairn_chunker_next(&c, buf, sizeof(buf), &cut) == CAIRN_CHUNK_MAX - 100 && cut);
	CHECK(cairn_chunker_pending(&c) == 0);
}

/* A cancel flag stops hashing between blocks (CAIRN_ECANCELED); unset, it changes nothing. */
static void cancel(void)
{
	size_t n = 6u << 20;
	uint8_t *p = test_xmalloc(n);
	_Atomic bool stop = true;
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL, *ref = NULL;
	char path[] = "/tmp/cairn-test-cancel-XXXXXX";
	int fd;

	test_section("cancel");
	splitmix64_fill(9, p, n);
	o.block_size = 1u << 20;
	o.threads = 2;
	o.cancel = &stop;
	CHECK(cairn_hash_buffer(&fc, p, n, &o) == CAIRN_ECANCELED);
	CHECK(fc == NULL);
	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n && lseek(fd, 0, SEEK_SET) == 0);
	CHECK(cairn_hash_fd(&fc, fd, &o) == CAIRN_ECANCELED);
	stop = false;
	CHECK(lseek(fd, 0, SEEK_SET) == 0 && cairn_hash_fd(&fc, fd, &o) == 0);
	CHECK(cairn_hash_buffer(&ref, p, n, NULL) == 0);
	CHECK(fc && ref && cairn_hash_equal(&fc->file_hash, &ref->file_hash));
	cairn_file_chunks_free(fc);
	cairn_file_chunks_free(ref);
	close(fd);
	unlink(path);
	free(p);
}

int main(void)
{
	streaming_api();
	bounds();
	all_paths_agree();
	fds();
	options();
	locality();
	cancel();
	return test_done();
}
