/*
 * bench_engine.c - the storage engine's speed and space, for bench/engine.sh.
 *
 *   bench_engine io DATADIR MiB      put then get one object of MiB random bytes
 *                                    and one of bf16-like values; GB/s and peak RSS
 *   bench_engine gen DIR N MiB       write a checkpoint series: N versions of a
 *                                    safetensors-like file of MiB (4 MiB tensors of
 *                                    bf16-like values), each rewriting 20% of them
 *   bench_engine put DATADIR FILE... put each file (key = its name) and print, per
 *                                    file, seconds and new stored bytes
 */
#include "cairn/errors.h"
#include "cairn/repo.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t sm(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* bf16-like: small normal-ish weights, so sign/exponent bytes repeat */
static void fill(uint8_t *p, size_t n, uint64_t seed, int bf16)
{
	uint64_t s = seed;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = sm(&s);
		if (bf16) {
			for (int k = 0; k < 4; k++) {
				uint8_t mant = (uint8_t)(v >> (16 * k));
				uint8_t ex = (uint8_t)(0x3b + ((v >> (16 * k + 8)) & 3));
				p[i + 2 * (size_t)k] = mant;
				p[i + 2 * (size_t)k + 1] = (uint8_t)(ex | ((v >> (16 * k + 10)) & 0x80));
			}
		} else {
			memcpy(p + i, &v, 8);
		}
	}
}

static int discard(void *ctx, const void *d, size_t n)
{
	(void)d;
	*(uint64_t *)ctx += n;
	return 0;
}

static int io(const char *dir, size_t mib)
{
	cairn_repo *r;
	uint8_t *buf = malloc(1u << 20);
	struct rusage ru;

	if (cairn_repo_open(&r, dir) < 0) {
		fprintf(stderr, "%s\n", cairn_error_last());
		return 1;
	}
	cairn_bucket_create(r, "bench", "io", false);
	for (int kind = 0; kind < 2; kind++) {
		cairn_upload *u;
		cairn_put_result res;
		uint64_t got = 0;
		double t0, tp = 0, tg;
		const char *key = kind ? "bf16" : "random";

		cairn_upload_new(&u, r);
		for (size_t i = 0; i < mib; i++) {
			/* generating the data is not part of the put: time only the write */
			fill(buf, 1u << 20, i * 7919 + (uint64_t)kind, kind);
			t0 = now();
			if (cairn_upload_write(u, buf, 1u << 20) < 0)
				return fprintf(stderr, "%s\n", cairn_error_last()), 1;
			tp += now() - t0;
		}
		t0 = now();
		if (cairn_upload_commit(u, "bench", "io", key, strlen(key), NULL, &res) < 0)
			return fprintf(stderr, "%s\n", cairn_error_last()), 1;
		cairn_upload_free(u);
		tp += now() - t0;
		t0 = now();
		if (cairn_object_get(r, "bench", "io", key, strlen(key), 0, UINT64_MAX, discard,
				     &got) < 0)
			return fprintf(stderr, "%s\n", cairn_error_last()), 1;
		tg = now() - t0;
		printf("%-8s %5zu MiB: put %.2f GB/s, get %.2f GB/s (verified), stored %.1f%% of raw\n",
		       key, mib, (double)res.size / tp / 1e9, (double)got / tg / 1e9,
		       100.0 * (double)res.stored_bytes / (double)res.size);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("peak resident memory: %ld MiB\n", ru.ru_maxrss / 1024);
	cairn_repo_close(r);
	free(buf);
	return 0;
}

static int gen(const char *dir, int n, size_t mib)
{
	size_t ts = 4u << 20, nt = (mib << 20) / ts;
	uint8_t *t = malloc(ts);
	char path[4096];

	for (int v = 0; v < n; v++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/step-%03d.safetensors", dir, v);
		f = fopen(path, "wb");
		if (!f)
			return perror(path), 1;
		/* a small JSON-ish header, like safetensors */
		fprintf(f, "{\"__metadata__\":{\"step\":\"%d\"}}", v);
		for (size_t k = 0; k < nt; k++) {
			int g = 0;
			for (int j = 1; j <= v; j++)
				if ((k + (size_t)j * 3) % 5 == 0)
					g = j;
			fill(t, ts, k * 100003 + (uint64_t)g, 1);
			fwrite(t, 1, ts, f);
		}
		fclose(f);
	}
	free(t);
	return 0;
}

static int put(const char *dir, int nfiles, char **files)
{
	cairn_repo *r;

	if (cairn_repo_open(&r, dir) < 0)
		return fprintf(stderr, "%s\n", cairn_error_last()), 1;
	cairn_bucket_create(r, "bench", "series", false);
	for (int i = 0; i < nfiles; i++) {
		const char *key = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];
		int fd = open(files[i], O_RDONLY);
		cairn_put_result res;
		double t0 = now();
		if (fd < 0 || cairn_object_put_fd(r, "bench", "series", key, strlen(key), fd, NULL,
						  &res) < 0)
			return fprintf(stderr, "%s: %s\n", files[i], cairn_error_last()), 1;
		close(fd);
		printf("%s %.3f %llu %llu\n", key, now() - t0, (unsigned long long)res.stored_bytes,
		       (unsigned long long)res.size);
	}
	cairn_repo_close(r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "io") == 0)
		return io(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atoi(argv[3]), strtoul(argv[4], NULL, 10));
	if (argc >= 4 && strcmp(argv[1], "put") == 0)
		return put(argv[2], argc - 3, argv + 3);
	fprintf(stderr, "usage: bench_engine io DATADIR MiB | gen DIR N MiB | put DATADIR FILE...\n");
	return 2;
}
