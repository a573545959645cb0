/*
 * test_blake3.c - BLAKE3 against the official test vectors (hash, keyed
 * hash, derive key; every listed length; 131 bytes of output) on every tier
 * this machine can run, with the input fed whole and in odd pieces, plus
 * every tier against the portable one on random inputs and seeks.
 *
 * usage: test_blake3 VECTORS.json
 */
#include "harness.h"

#include "cairn/blake3.h"

#include <jansson.h>

static void hexdump(char *out, const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

typedef enum { MODE_HASH, MODE_KEYED, MODE_DERIVE } mode;

static void init_mode(cairn_blake3_hasher *h, mode m, const char *key, const char *ctx)
{
	if (m == MODE_HASH)
		cairn_blake3_init(h);
	else if (m == MODE_KEYED)
		cairn_blake3_init_keyed(h, (const uint8_t *)key);
	else
		cairn_blake3_init_derive_key(h, ctx);
}

static void run_vectors(json_t *root)
{
	const char *key = json_string_value(json_object_get(root, "key"));
	const char *ctx = json_string_value(json_object_get(root, "context_string"));
	json_t *cases = json_object_get(root, "cases");
	static const char *fields[] = {"hash", "keyed_hash", "derive_key"};
	static const size_t splits[] = {1, 7, 63, 64, 65, 1023, 1024, 1025, 4096, 100000};
	size_t i;
	json_t *c;

	if (!CHECK(key && strlen(key) == 32 && ctx && json_is_array(cases)))
		return;
	json_array_foreach(cases, i, c) {
		size_t n = (size_t)json_integer_value(json_object_get(c, "input_len"));
		uint8_t *in = test_xmalloc(n);

		for (size_t k = 0; k < n; k++)
			in[k] = (uint8_t)(k % 251);
		for (int m = 0; m < 3; m++) {
			const char *want = json_string_value(json_object_get(c, fields[m]));
			uint8_t out[131];
			char got[2 * 131 + 1];
			cairn_blake3_hasher h;

			if (!CHECK(want && strlen(want) == 262))
				continue;
			init_mode(&h, (mode)m, key, ctx);
			cairn_blake3_update(&h, in, n);
			cairn_blake3_finalize(&h, out, sizeof(out));
			hexdump(got, out, sizeof(out));
			CHECKF(strcmp(got, want) == 0, "%s len %zu", fields[m], n);

			/* the first 32 bytes alone are a prefix of the same stream */
			cairn_blake3_finalize(&h, out, 32);
			hexdump(got, out, 32);
			CHECKF(strncmp(got, want, 64) == 0, "%s len %zu (32 bytes)", fields[m], n);

			/* seeking into the output stream */
			cairn_blake3_finalize_seek(&h, 67, out, 64);
			hexdump(got, out, 64);
			CHECKF(strncmp(got, want + 2 * 67, 128) == 0, "%s len %zu seek", fields[m], n);

			/* fed in pieces: same answer */
			for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
				size_t off = 0;
				init_mode(&h, (mode)m, key, ctx);
				while (off < n) {
					size_t take = n - off < splits[s] ? n - off : splits[s];
					cairn_blake3_update(&h, in + off, take);
					off += take;
				}
				cairn_blake3_finalize(&h, out, sizeof(out));
				hexdump(got, out, sizeof(out));
				CHECKF(strcmp(got, want) == 0, "%s len %zu split %zu", fields[m], n,
				       splits[s]);
			}
		}
		free(in);
	}
}

/* Every tier gives the portable tier's bytes on random data, any length. */
static void cross_tier(void)
{
	static const size_t lens[] = {0, 1, 64, 65, 1024, 1025, 2047, 4096, 8191, 16385,
				      65536, 65537, 131072, 200000, 1048576 + 3};
	size_t maxlen = 1048576 + 3;
	uint8_t *in = test_xmalloc(maxlen + 1); /* +1: hashed from in + 1 */
	uint8_t key[32];
	cairn_blake3_tier saved = cairn_blake3_tier_get();

	splitmix64_fill(42, in, maxlen + 1);
	splitmix64_fill(7, key, sizeof(key));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t ref[3][100], out[100];

		cairn_blake3_set_tier(CAIRN_BLAKE3_PORTABLE);
		for (int m = 0; m < 3; m++) {
			cairn_blake3_hasher h;
			init_mode(&h, (mode)m, (const char *)key, "cairn cross-tier test");
			cairn_blake3_update(&h, in + 1, lens[i]); /* unaligned on purpose */
			cairn_blake3_finalize_seek(&h, 5, ref[m], sizeof(ref[m]));
		}
		for (int t = 1; t < CAIRN_BLAKE3_TIER_COUNT; t++) {
			if (!cairn_blake3_tier_supported((cairn_blake3_tier)t))
				continue;
			cairn_blake3_set_tier((cairn_blake3_tier)t);
			for (int m = 0; m < 3; m++) {
				cairn_blake3_hasher h;
				init_mode(&h, (mode)m, (const char *)key, "cairn cross-tier test");
				cairn_blake3_update(&h, in + 1, lens[i]);
				cairn_blake3_finalize_seek(&h, 5, out, sizeof(out));
				CHECKF(memcmp(out, ref[m], sizeof(out)) == 0, "tier %s mode %d len %zu",
				       cairn_blake3_tier_name((cairn_blake3_tier)t), m, lens[i]);
			}
		}
	}
	cairn_blake3_set_tier(saved);
	free(in);
}

static void tier_api(void)
{
	cairn_blake3_tier t;

	test_section("tier api");
	CHECK(cairn_blake3_tier_supported(CAIRN_BLAKE3_PORTABLE));
	CHECK(cairn_blake3_tier_parse(&t, "avx2") == 0 && t == CAIRN_BLAKE3_AVX2);
	CHECK(cairn_blake3_tier_parse(&t, "mmx") < 0);
	CHECK(!cairn_blake3_tier_supported((cairn_blake3_tier)99));
	CHECK(cairn_blake3_set_tier((cairn_blake3_tier)99) < 0);
	for (int i = 0; i < CAIRN_BLAKE3_TIER_COUNT; i++)
		printf("# tier %-8s %s\n", cairn_blake3_tier_name((cairn_blake3_tier)i),
		       cairn_blake3_tier_supported((cairn_blake3_tier)i) ? "supported"
									: "not available here");
}

int main(int argc, char **argv)
{
	json_error_t err;
	json_t *root;

	if (argc < 2) {
		fprintf(stderr, "usage: test_blake3 VECTORS.json\n");
		return 2;
	}
	root = json_load_file(argv[1], 0, &err);
	if (!CHECKF(root != NULL, "%s: %s", argv[1], err.text))
		return test_done();

	tier_api();
	for (int t = 0; t < CAIRN_BLAKE3_TIER_COUNT; t++) {
		char name[64];
		if (!cairn_blake3_tier_supported((cairn_blake3_tier)t))
			continue;
		cairn_blake3_set_tier((cairn_blake3_tier)t);
		snprintf(name, sizeof(name), "official vectors, tier %s",
			 cairn_blake3_tier_name((cairn_blake3_tier)t));
		test_section(name);
		run_vectors(root);
	}
	test_section("all tiers equal the portable tier");
	cross_tier();
	json_decref(root);
	return test_done();
}
