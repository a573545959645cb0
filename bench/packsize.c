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
 * bytes, and the packing speed in MB/s of distinct raw bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include <fcntl.h>
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

static void flush(conf *c)
{
	size_t len;

	if (cairn_xorb_writer_count(c->w) == 0)
		return;
	cairn_xorb_writer_finish(c->w, NULL, NULL, &len);
	c->bytes += len;
	cairn_xorb_writer_reset(c->w);
}

static void add(conf *c, const uint8_t *p, size_t n, const cairn_hash *h)
{
	double t0 = now();
	int rc = cairn_xorb_writer_add(c->w, p, n, h);

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
	cf[nc++] = (conf){"xet (LZ4, BG4+LZ4)", CAIRN_XORB_AUTO, 0, NULL, 0, 0};
	for (char *tok = strtok(levels, ","); tok && nc < MAXCONF; tok = strtok(NULL, ",")) {
		static char names[MAXCONF][48];
		snprintf(names[nc], sizeof(names[nc]), "compact zstd -%d", atoi(tok));
		cf[nc] = (conf){names[nc], CAIRN_XORB_COMPACT, atoi(tok), NULL, 0, 0};
		nc++;
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
	}
	free(set);
	return 0;
}
