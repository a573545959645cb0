/*
 * test_xet_hash.c - xet's hash text form and Merkle hashes against values
 * published by xet-core (its aggregated-hash correctness table and its hex
 * endianness example) and against properties any implementation must have.
 */
#include "harness.h"

#include "cairn/blake3.h"
#include "cairn/errors.h"
#include "cairn/hash.h"

static cairn_hash H(const char *hex)
{
	cairn_hash h;
	int rc = cairn_hash_from_hex(&h, hex, strlen(hex));
	if (rc != 0) {
		fprintf(stderr, "bad hex in test: %s\n", hex);
		exit(2);
	}
	return h;
}

static void check_hex(const cairn_hash *h, const char *want, const char *what)
{
	char got[CAIRN_HASH_HEX_LEN + 1];
	cairn_hash_to_hex(got, h);
	CHECKF(strcmp(got, want) == 0, "%s: got %s want %s", what, got, want);
}

static void text_form(void)
{
	static const uint8_t raw[32] = {22,  175, 58,  132, 4,   75,  131, 214, 190, 153, 138,
					66,  226, 3,   153, 242, 204, 86,  80,  234, 249, 153,
					80,  99,  159, 80,  65,  138, 236, 231, 149, 78};
	cairn_hash h, back;
	char hex[CAIRN_HASH_HEX_LEN + 1];

	test_section("hex text form");
	memcpy(h.bytes, raw, 32);
	check_hex(&h, "d6834b04843aaf16f29903e2428a99be635099f9ea5056cc4e95e7ec8a41509f",
		  "xet-core endianness example");
	cairn_hash_to_hex(hex, &h);
	CHECK(cairn_hash_from_hex(&back, hex, 64) == 0 && cairn_hash_equal(&h, &back));
	/* upper case parses too */
	CHECK(cairn_hash_from_hex(&back,
				  "D6834B04843AAF16F29903E2428A99BE635099F9EA5056CC4E95E7EC8A41509F",
				  64) == 0 &&
	      cairn_hash_equal(&h, &back));
	/* anything else is refused and leaves out untouched */
	back = h;
	CHECK(cairn_hash_from_hex(&back, hex, 63) == CAIRN_EINVALID);
	CHECK(cairn_hash_from_hex(&back, hex, 65) == CAIRN_EINVALID);
	CHECK(cairn_hash_from_hex(&back, NULL, 64) == CAIRN_EINVALID);
	hex[10] = 'g';
	CHECK(cairn_hash_from_hex(&back, hex, 64) == CAIRN_EINVALID);
	hex[10] = ' ';
	CHECK(cairn_hash_from_hex(&back, hex, 64) == CAIRN_EINVALID);
	CHECK(cairn_hash_equal(&back, &h));
	CHECK(strlen(cairn_error_last()) > 0);
}

/* Entries of xet-core's aggregated hash correctness table (xorb hash and
 * unsalted file hash for lists of (hash, length)). */
typedef struct entry {
	const char *hash;
	uint64_t len;
} entry;

typedef struct ref_case {
	entry e[8];
	size_t n;
	const char *xorb;
	const char *file;
} ref_case;

#define A "cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6"
#define B "c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72"
#define C "0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37"
#define D "adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784"
#define Z "0000000000000000000000000000000000000000000000000000000000000000"

static const ref_case merkle_cases[] = {
	{{{Z, 0}}, 1, Z, "638a6bc391964a85939d48f008e8bdbae6a7975e7ca2d87a3ce2492f4e4d8a4c"},
	{{{A, 100}}, 1, A, "8e16257caa3fe079d484d872a8975264b2ff683b0d6db9028cc7c0f968a45661"},
	{{{A, 100}, {B, 200}, {C, 300}},
	 3,
	 "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc",
	 "54e55dccc6653c612bdb5576c5d3cb34bb31bc4e100248abccf4c908b3ef7715"},
	{{{A, 100}, {A, 100}, {A, 100}, {A, 100}},
	 4,
	 "89f2ada89ff8c96763c6b25010e6dd76a4c05b1466207633ea559acf2093211b",
	 "2cdba690d0e09563596e0cda626d43eb4c96ef1e994fe72d9b2f5a83cfcd36dd"},
	{{{A, 100}, {B, 200}, {A, 100}, {B, 200}},
	 4,
	 "90f8313ef12df385d237a067aded02562c35ded12116e32eba401dbc86c38031",
	 "284ea045e5a579e99c21ec597c20de1fc0c09e7168162aac00db8f61b3d82dbb"},
	{{{A, 100}, {B, 200}, {A, 100}, {B, 200}, {C, 300}, {D, 400}},
	 6,
	 "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9",
	 "91d21684db364c8883ab8209fa5eb2e781cf07f37e1fa43e731c30839afe422f"},
	{{{Z, 0}, {A, 100}, {Z, 0}, {A, 100}},
	 4,
	 "e1755c85be07fd6b7a8d7becc85e6d8c5f507f2a3d38b316bcb6f97855e72188",
	 "207caf24fce045ac6d873b4c6186a5a435d600d103e1ae345e55ddf1f4b7f7ef"},
};

static void merkle(void)
{
	cairn_hash out, salt;

	test_section("xorb and file hashes (xet-core reference table)");
	for (size_t i = 0; i < sizeof(merkle_cases) / sizeof(merkle_cases[0]); i++) {
		const ref_case *rc = &merkle_cases[i];
		cairn_chunk_ref refs[8];
		char what[64];

		for (size_t k = 0; k < rc->n; k++) {
			refs[k].hash = H(rc->e[k].hash);
			refs[k].len = rc->e[k].len;
		}
		snprintf(what, sizeof(what), "case %zu xorb", i);
		CHECK(cairn_xorb_hash(&out, refs, rc->n) == 0);
		check_hex(&out, rc->xorb, what);
		snprintf(what, sizeof(what), "case %zu file", i);
		CHECK(cairn_file_hash(&out, refs, rc->n, NULL) == 0);
		check_hex(&out, rc->file, what);
		/* an explicit zero salt is the same as none */
		memset(&salt, 0, sizeof(salt));
		CHECK(cairn_file_hash(&out, refs, rc->n, &salt) == 0);
		check_hex(&out, rc->file, what);
	}

	/* salted file hash: the one-chunk case of the same table */
	{
		cairn_chunk_ref r = {H(A), 100};
		salt = H("285371a6a3c8c4e561469c97766c46f0b9799bd8ea51a4ad27a082df8c28b7da");
		CHECK(cairn_file_hash(&out, &r, 1, &salt) == 0);
		check_hex(&out, "6c18994ed5e6a223aeff68a6e386dbba7b3c25de076245dc77892b4ad49ac978",
			  "salted file hash");
	}

	/* empty lists: all-zero hashes */
	CHECK(cairn_xorb_hash(&out, NULL, 0) == 0 && cairn_hash_is_zero(&out));
	CHECK(cairn_file_hash(&out, NULL, 0, NULL) == 0 && cairn_hash_is_zero(&out));
}

static void chunk_and_verification(void)
{
	cairn_hash h, hs[3];
	uint8_t data[1000];

	test_section("chunk and verification hashes");
	/* chunk hash == keyed BLAKE3 under DATA_KEY, checked independently
	 * against the key bytes published in xet's spec */
	{
		static const uint8_t key[32] = {102, 151, 245, 119, 91,  149, 80,  222,
						49,  53,  203, 172, 165, 151, 24,  28,
						157, 228, 33,  16,  155, 235, 43,  88,
						180, 208, 176, 75,  147, 173, 242, 41};
		cairn_hash want;
		splitmix64_fill(3, data, sizeof(data));
		cairn_chunk_hash(&h, data, sizeof(data));
		cairn_blake3_keyed_hash(want.bytes, key, data, sizeof(data));
		CHECK(cairn_hash_equal(&h, &want));
	}
	/* verification hash is order-sensitive and covers every hash */
	for (int i = 0; i < 3; i++)
		cairn_chunk_hash(&hs[i], data + i * 10, 10);
	{
		cairn_hash v1, v2, v3;
		cairn_verification_hash(&v1, hs, 3);
		cairn_verification_hash(&v2, hs, 2);
		hs[2] = hs[0];
		cairn_verification_hash(&v3, hs, 3);
		CHECK(!cairn_hash_equal(&v1, &v2));
		CHECK(!cairn_hash_equal(&v1, &v3));
	}
}

int main(void)
{
	text_form();
	merkle();
	chunk_and_verification();
	return test_done();
}
