/* packsize - what the xorbs of a series of files would take under each
 * chunk scheme: xet's (AUTO: LZ4, BG4 + LZ4) and Cairn's at-rest COMPACT
 * (zstd, BG4 + zstd) at several zstd levels.
 *
 *   packsize [-l LEVEL,...] FILE...
 *
 * The files are chunked as an upload would chunk them, in order; a chunk
 * seen before is stored once (deduplication across the whole series). Each
 * configuration packs the distinct chunks into xorbs of its own and prints
 * the serialized bytes (footers included), their share of all the files'
 * bytes, and the packing speed in MB/s of distinct raw bytes. With
 * PACKSIZE_WHATIF set it adds what-ifs beside them: runs of other sizes,
 * up to a whole xorb in one frame, with and without zstd's long-distance
 * matching (--long), and a trained dictionary.
 */
#define _POSIX_C_SOURCE 200809L
#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include <fcntl.h>
#include <stdbool.h>
#include <zdict.h>
#include <zstd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXCONF 8

typedef struct conf {
	const char *name;
	cairn_xorb_scheme scheme;
	int level;
	bool runs; /* chunks in runs (cairn_xorb_writer_add_run), as the recompression pass */
	const void *rp[CAIRN_XORB_RUN_MAX_CHUNKS];
	size_t rl[CAIRN_XORB_RUN_MAX_CHUNKS], rn, rraw;
	cairn_hash rh[CAIRN_XORB_RUN_MAX_CHUNKS];
	uint8_t *rbuf;
	cairn_xorb_writer *w;
	uint64_t bytes;
	double secs;
} conf;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* distinct chunk hashes: open addressing on the first 8 bytes */
static cairn_hash *set;
static size_t set_mask, set_n;

static int set_add(const cairn_hash *h)
{
	size_t pos;
	uint64_t k;

	if (2 * (set_n + 1) > set_mask + 1) {
		size_t ncap = set_mask ? 2 * (set_mask + 1) : 1024, om = set_mask;
		cairn_hash *old = set, *nset = calloc(ncap, sizeof(*nset));
		if (nset == NULL)
			exit(1);
		set = nset;
		set_mask = ncap - 1;
		set_n = 0;
		for (size_t i = 0; old && i <= om; i++) {
			static const cairn_hash zero;
			if (memcmp(&old[i], &zero, sizeof(zero)) != 0)
				set_add(&old[i]);
		}
		free(old);
	}
	memcpy(&k, h->bytes, 8);
	for (pos = (size_t)k & set_mask;; pos = (pos + 1) & set_mask) {
		static const cairn_hash zero;
		if (memcmp(&set[pos], &zero, sizeof(zero)) == 0)
			break;
		if (memcmp(&set[pos], h, sizeof(*h)) == 0)
			return 0;
	}
	set[pos] = *h;
	set_n++;
	return 1;
}

static void add_pending(conf *c)
{
	double t0 = now();
	int rc;

	if (c->rn == 0)
		return;
	rc = cairn_xorb_writer_add_run(c->w, c->rp, c->rl, c->rh, c->rn);
	if (rc == CAIRN_ETOOBIG) {
		size_t len;
		cairn_xorb_writer_finish(c->w, NULL, NULL, &len);
		c->bytes += len;
		cairn_xorb_writer_reset(c->w);
		rc = cairn_xorb_writer_add_run(c->w, c->rp, c->rl, c->rh, c->rn);
	}
	if (rc != 0) {
		fprintf(stderr, "packsize: %s\n", cairn_error_last());
		exit(1);
	}
	c->rn = 0;
	c->rraw = 0;
	c->secs += now() - t0;
}

static void flush(conf *c)
{
	size_t len;

	if (c->runs)
		add_pending(c);
	if (cairn_xorb_writer_count(c->w) == 0)
		return;
	cairn_xorb_writer_finish(c->w, NULL, NULL, &len);
	c->bytes += len;
	cairn_xorb_writer_reset(c->w);
}

static void add(conf *c, const uint8_t *p, size_t n, const cairn_hash *h)
{
	double t0;
	int rc;

	if (c->runs) {
		if (c->rn == CAIRN_XORB_RUN_MAX_CHUNKS || c->rraw + n > CAIRN_XORB_RUN_MAX_RAW)
			add_pending(c);
		if (c->rbuf == NULL)
			c->rbuf = malloc(CAIRN_XORB_RUN_MAX_RAW);
		memcpy(c->rbuf + c->rraw, p, n);
		c->rp[c->rn] = c->rbuf + c->rraw;
		c->rl[c->rn] = n;
		c->rh[c->rn] = *h;
		c->rn++;
		c->rraw += n;
		return;
	}
	t0 = now();
	rc = cairn_xorb_writer_add(c->w, p, n, h);

	if (rc == CAIRN_ETOOBIG) {
		flush(c);
		rc = cairn_xorb_writer_add(c->w, p, n, h);
	}
	if (rc != 0) {
		fprintf(stderr, "packsize: %s\n", cairn_error_last());
		exit(1);
	}
	c->secs += now() - t0;
}

/*
 * What-ifs beside the real writers: the distinct chunks compressed in runs
 * of consecutive chunks (one zstd frame up to `run` raw bytes), and one by
 * one against a dictionary trained on a sample of them.
 */
static uint8_t *all;      /* the distinct chunks, end to end */
static size_t all_len, all_cap;
static size_t *ends;      /* where each ends */
static size_t nends, ends_cap;

static void keep(const uint8_t *p, size_t n)
{
	if (all_len + n > all_cap) {
		all_cap = (all_len + n) * 2;
		all = realloc(all, all_cap);
	}
	if (nends == ends_cap) {
		ends_cap = ends_cap ? 2 * ends_cap : 1024;
		ends = realloc(ends, ends_cap * sizeof(*ends));
	}
	memcpy(all + all_len, p, n);
	all_len += n;
	ends[nends++] = all_len;
}

/* ldm: with zstd's long-distance matching and a 128 MiB window (`zstd --long=27`). */
static void what_if_runs(uint64_t total, size_t run, int level, bool ldm)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(run + CAIRN_CHUNK_MAX);
	uint8_t *out = malloc(cap);
	uint64_t sum = 0;
	size_t start = 0, i = 0;
	double t0 = now();

	while (i < nends) {
		size_t j = i;
		while (j < nends && (ends[j] - start <= run || j == i))
			j++;
		ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
		if (ldm) {
			ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
		}
		sum += ZSTD_compress2(cc, out, cap, all + start, ends[j - 1] - start) + 8 * (j - i);
		start = ends[j - 1];
		i = j;
	}
	printf("what if: runs of %5zu KiB -%-2d%s %14llu  %6.2f%% of all  %8.1f MB/s\n", run >> 10,
	       level, ldm ? " --long" : "       ", (unsigned long long)sum,
	       100.0 * (double)sum / (double)total,
	       (double)all_len / (now() - t0) / 1e6);
	ZSTD_freeCCtx(cc);
	free(out);
}

static void what_if_dict(uint64_t total, size_t dict_size, int level)
{
	size_t *sizes = malloc(nends * sizeof(*sizes)), n = 0, sample = 0;
	uint8_t *dict = malloc(dict_size), *out = malloc(ZSTD_compressBound(CAIRN_CHUNK_MAX));
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	uint64_t sum = 0;
	size_t dlen;
	double t0 = now();

	/* a sample: the first 8 MiB of chunks */
	for (size_t i = 0; i < nends && sample < (8u << 20); i++) {
		sizes[n++] = ends[i] - (i ? ends[i - 1] : 0);
		sample += sizes[n - 1];
	}
	dlen = ZDICT_trainFromBuffer(dict, dict_size, all, sizes, (unsigned)n);
	if (ZDICT_isError(dlen)) {
		printf("what if: dictionary: %s\n", ZDICT_getErrorName(dlen));
		goto out;
	}
	{
		ZSTD_CDict *cd = ZSTD_createCDict(dict, dlen, level);
		for (size_t i = 0; i < nends; i++) {
			size_t a = i ? ends[i - 1] : 0;
			size_t r = ZSTD_compress_usingCDict(cc, out, ZSTD_compressBound(CAIRN_CHUNK_MAX),
							    all + a, ends[i] - a, cd);
			sum += 8 + (r < ends[i] - a ? r : ends[i] - a);
		}
		ZSTD_freeCDict(cd);
	}
	sum += dlen;
	printf("what if: dict %3zu KiB -%-2d     %14llu  %6.2f%% of all  %8.1f MB/s\n", dict_size >> 10,
	       level, (unsigned long long)sum, 100.0 * (double)sum / (double)total,
	       (double)all_len / (now() - t0) / 1e6);
out:
	ZSTD_freeCCtx(cc);
	free(sizes);
	free(dict);
	free(out);
}

int main(int argc, char **argv)
{
	conf cf[MAXCONF];
	size_t nc = 0;
	char levels[256] = "3,9,19";
	uint64_t total = 0, distinct = 0;
	int a = 1;

	if (argc > 2 && strcmp(argv[1], "-l") == 0) {
		snprintf(levels, sizeof(levels), "%s", argv[2]);
		a = 3;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: packsize [-l LEVEL,...] FILE...\n");
		return 2;
	}
	cf[nc++] = (conf){.name = "xet (LZ4, BG4+LZ4)", .scheme = CAIRN_XORB_AUTO};
	for (char *tok = strtok(levels, ","); tok && nc < MAXCONF; tok = strtok(NULL, ",")) {
		static char names[MAXCONF][48];
		snprintf(names[nc], sizeof(names[nc]), "compact zstd -%d", atoi(tok));
		cf[nc] = (conf){.name = names[nc], .scheme = CAIRN_XORB_COMPACT, .level = atoi(tok)};
		nc++;
		if (nc < MAXCONF) {
			snprintf(names[nc], sizeof(names[nc]), "compact runs -%d", atoi(tok));
			cf[nc] = (conf){.name = names[nc], .scheme = CAIRN_XORB_COMPACT,
					.level = atoi(tok), .runs = true};
			nc++;
		}
	}
	for (size_t i = 0; i < nc; i++) {
		if (cairn_xorb_writer_new(&cf[i].w) != 0 ||
		    cairn_xorb_writer_set_scheme(cf[i].w, cf[i].scheme) != 0 ||
		    (cf[i].level && cairn_xorb_writer_set_level(cf[i].w, cf[i].level) != 0)) {
			fprintf(stderr, "packsize: %s\n", cairn_error_last());
			return 1;
		}
	}
	for (; a < argc; a++) {
		int fd = open(argv[a], O_RDONLY);
		struct stat st;
		cairn_file_chunks *fc;
		uint8_t *map;

		if (fd < 0 || fstat(fd, &st) != 0) {
			perror(argv[a]);
			return 1;
		}
		total += (uint64_t)st.st_size;
		if (st.st_size == 0) {
			close(fd);
			continue;
		}
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED || cairn_hash_buffer(&fc, map, (size_t)st.st_size, NULL) != 0) {
			fprintf(stderr, "packsize: %s: cannot chunk\n", argv[a]);
			return 1;
		}
		for (size_t k = 0; k < fc->count; k++) {
			const cairn_chunk_info *ch = &fc->chunks[k];
			if (!set_add(&ch->hash))
				continue;
			distinct += ch->len;
			if (getenv("PACKSIZE_WHATIF"))
				keep(map + ch->offset, (size_t)ch->len);
			for (size_t i = 0; i < nc; i++)
				add(&cf[i], map + ch->offset, (size_t)ch->len, &ch->hash);
		}
		cairn_file_chunks_free(fc);
		munmap(map, (size_t)st.st_size);
		close(fd);
	}
	printf("files %d, bytes %llu, distinct chunk bytes %llu (%.1f%%)\n", argc - 1,
	       (unsigned long long)total, (unsigned long long)distinct,
	       total ? 100.0 * (double)distinct / (double)total : 0.0);
	for (size_t i = 0; i < nc; i++) {
		flush(&cf[i]);
		printf("%-22s %14llu  %6.2f%% of all  %8.1f MB/s\n", cf[i].name,
		       (unsigned long long)cf[i].bytes,
		       total ? 100.0 * (double)cf[i].bytes / (double)total : 0.0,
		       cf[i].secs > 0 ? (double)distinct / cf[i].secs / 1e6 : 0.0);
		cairn_xorb_writer_free(cf[i].w);
		free(cf[i].rbuf);
	}
	if (getenv("PACKSIZE_WHATIF")) {
		what_if_runs(total, 256u << 10, 9, false);
		what_if_runs(total, 1u << 20, 9, false);
		what_if_runs(total, 1u << 20, 9, true);
		what_if_runs(total, 4u << 20, 9, false);
		/* a whole xorb in one frame, where a long window could find far matches */
		what_if_runs(total, 64u << 20, 9, false);
		what_if_runs(total, 64u << 20, 9, true);
		what_if_dict(total, 112u << 10, 9);
	}
	free(set);
	free(all);
	free(ends);
	return 0;
}
