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
	{
		/* the tier asked for must be the tier that runs */
		const char *want = getenv("CAIRN_BLAKE3_TIER");
		cairn_blake3_tier t;
		if (want && (cairn_blake3_tier_parse(&t, want) != 0 || t != cairn_blake3_tier_get())) {
			fprintf(stderr, "b3tool: tier %s requested, %s running\n", want,
				cairn_blake3_tier_name(cairn_blake3_tier_get()));
			return 77;
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
		/* odd piece sizes: 1, 1000, 65536, 7, ... bytes per update */
		for (size_t piece = 1;; piece = piece * 1000 % 65537 + 7) {
			n = fread(buf, 1, piece < sizeof(buf) ? piece : sizeof(buf), f);
			if (n == 0)
				break;
			cairn_blake3_update(&h, buf, n);
		}
		fclose(f);
		cairn_blake3_finalize(&h, out, len);
		for (size_t k = 0; k < len; k++)
			printf("%02x", out[k]);
		printf("  %s\n", argv[i]);
		free(out);
	}
	return 0;
}
