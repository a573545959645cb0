/*
 * replay.c - run a fuzz target without libFuzzer: feed it every file named
 * on the command line, or found (not recursively) in a directory named
 * there, once each. This is how the stored corpora run as ordinary tests
 * under any compiler (libgit2's standalone driver, zstd's regression
 * driver); crashes and sanitizer reports fail the test like any other.
 *
 * Usage: replay PATH...   (exit 0 when every input ran, 1 if one was unreadable)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, got;

	if (f == NULL) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *p = realloc(buf, cap ? 2 * cap : 65536);
			if (p == NULL) {
				fclose(f);
				free(buf);
				fprintf(stderr, "replay: out of memory reading %s\n", path);
				return -1;
			}
			buf = p;
			cap = cap ? 2 * cap : 65536;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned runs = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += run_file(argv[i]) != 0;
			runs++;
			continue;
		}
		d = opendir(argv[i]);
		if (d == NULL) {
			bad++;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			char path[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			bad += run_file(path) != 0;
			runs++;
		}
		closedir(d);
	}
	printf("replay: %u inputs, %u unreadable\n", runs, bad);
	return bad || runs == 0 ? 1 : 0;
}
