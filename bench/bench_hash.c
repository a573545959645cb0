/*
 * bench_hash.c - the data path's speed on one in-memory buffer, measured
 * side by side in one run: memcpy (the machine's limit), the gear scan
 * alone (finding boundaries as xet-core does, skipping the first
 * 8 KiB - 65 bytes of each chunk, where no boundary may fall), keyed BLAKE3 on 64 KiB chunks per tier, chunk + hash on one core
 * and on every core. Prints GB/s (10^9 bytes per second), best of N runs.
 *
 * usage: bench_hash [MiB] [runs]     (default 1024 MiB, 3 runs)
 */
#include "cairn/blake3.h"
#include "cairn/chunk.h"
#include "cairn/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t sink;

static void fill(uint8_t *p, size_t n)
{
	uint64_t s = 0x1234;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
		memcpy(p + i, &z, 8);
	}
}

typedef void (*work_fn)(const uint8_t *p, size_t n, void *ctx);

static double best_gbps(work_fn fn, const uint8_t *p, size_t n, void *ctx, int runs)
{
	double best = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now(), t;
		fn(p, n, ctx);
		t = now() - t0;
		if ((double)n / t / 1e9 > best)
			best = (double)n / t / 1e9;
	}
	return best;
}

static void w_memcpy(const uint8_t *p, size_t n, void *ctx)
{
	memcpy(ctx, p, n);
	sink += ((uint8_t *)ctx)[n / 2];
}

static void w_gear_stream(const uint8_t *p, size_t n, void *ctx)
{
	cairn_chunker c;
	size_t pos = 0, cuts = 0;
	(void)ctx;
	cairn_chunker_init(&c);
	while (pos < n) {
		bool cut;
		pos += cairn_chunker_next(&c, p + pos, n - pos, &cut);
		cuts += cut;
	}
	sink += cuts;
}

static void w_blake3_64k(const uint8_t *p, size_t n, void *ctx)
{
	cairn_hash h;
	(void)ctx;
	for (size_t off = 0; off + 65536 <= n; off += 65536) {
		cairn_chunk_hash(&h, p + off, 65536);
		sink += h.bytes[0];
	}
}

static void w_chunk_hash(const uint8_t *p, size_t n, void *ctx)
{
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL;
	o.threads = *(unsigned *)ctx;
	if (cairn_hash_buffer(&fc, p, n, &o) != 0) {
		fprintf(stderr, "hash failed\n");
		exit(1);
	}
	sink += fc->count;
	cairn_file_chunks_free(fc);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	size_t n = mib << 20;
	uint8_t *p = malloc(n), *q = malloc(n);
	unsigned one = 1, all = 0;
	double mc, gs, c1, c2;

	if (!p || !q)
		return 1;
	fill(p, n);
	memset(q, 1, n);
	printf("buffer: %zu MiB of pseudo-random bytes, best of %d runs, GB/s = 1e9 B/s\n", mib,
	       runs);
	mc = best_gbps(w_memcpy, p, n, q, runs);
	printf("%-44s %7.2f GB/s\n", "memcpy (machine limit)", mc);
	gs = best_gbps(w_gear_stream, p, n, NULL, runs);
	printf("%-44s %7.2f GB/s\n", "gear scan: chunk boundaries only, 1 core", gs);
	for (int t = 0; t < CAIRN_BLAKE3_TIER_COUNT; t++) {
		char name[64];
		if (!cairn_blake3_tier_supported((cairn_blake3_tier)t))
			continue;
		cairn_blake3_set_tier((cairn_blake3_tier)t);
		snprintf(name, sizeof(name), "keyed BLAKE3, 64 KiB chunks, %s",
			 cairn_blake3_tier_name((cairn_blake3_tier)t));
		printf("%-44s %7.2f GB/s\n", name, best_gbps(w_blake3_64k, p, n, NULL, runs));
	}
	/* back to the best tier */
	for (int t = CAIRN_BLAKE3_TIER_COUNT - 1; t >= 0; t--)
		if (cairn_blake3_set_tier((cairn_blake3_tier)t) == 0)
			break;
	c1 = best_gbps(w_chunk_hash, p, n, &one, runs);
	printf("%-44s %7.2f GB/s\n", "chunk + hash, 1 thread", c1);
	c2 = best_gbps(w_chunk_hash, p, n, &all, runs);
	printf("%-44s %7.2f GB/s  (%.2fx the 1-thread rate)\n", "chunk + hash, all cores", c2,
	       c2 / c1);
	fprintf(stderr, "(%llu)\n", (unsigned long long)sink);
	free(p);
	free(q);
	return 0;
}
