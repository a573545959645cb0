/*
 * b3tool.c - print the BLAKE3 hash of files the way b3sum does, so the
 * suite can use Debian's b3sum as a second opinion on every tier.
 *
 *   b3tool [--keyed KEYFILE | --derive-key CONTEXT] [--length N] FILE...
 *
 * The tier comes from CAIRN_BLAKE3_TIER. Output: "<hex>  <path>" per file.
 */
#include "cairn/blake3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	uint8_t key[32];
	const char *context = NULL;
	int keyed = 0, i = 1;
	size_t len = 32;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--keyed") == 0 && i + 1 < argc) {
			FILE *k = fopen(argv[++i], "rb");
			if (!k || fread(key, 1, 32, k) != 32) {
				fprintf(stderr, "b3tool: need a 32-byte key file\n");
				return 2;
			}
			fclose(k);
			keyed = 1;
		} else if (strcmp(argv[i], "--derive-key") == 0 && i + 1 < argc) {
			context = argv[++i];
		} else if (strcmp(argv[i], "--length") == 0 && i + 1 < argc) {
			len = strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "b3tool: bad option %s\n", argv[i]);
			return 2;
		}
	}
	for (; i < argc; i++) {
		cairn_blake3_hasher h;
		static uint8_t buf[1 << 16];
		uint8_t *out = malloc(len ? len : 1);
		FILE *f = fopen(argv[i], "rb");
		size_t n;

		if (!f || !out) {
			perror(argv[i]);
			return 1;
		}
		if (keyed)
			cairn_blake3_init_keyed(&h, key);
		else if (context)
			cairn_blake3_init_derive_key(&h, context);
		else
			cairn_blake3_init(&h);
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			cairn_blake3_update(&h, buf, n);
		fclose(f);
		cairn_blake3_finalize(&h, out, len);
		for (size_t k = 0; k < len; k++)
			printf("%02x", out[k]);
		printf("  %s\n", argv[i]);
		free(out);
	}
	return 0;
}
