/*
 * test_sigv4.c - S3 request authentication (server/sigv4.h): SigV4 with the
 * Authorization header and presigned, aws-chunked bodies (signed chunks,
 * signed and unsigned checksum trailers), SigV2 header and presigned, and
 * the digests and helpers the S3 front shares.
 *
 * Where the expected values come from, so that nothing here only agrees
 * with itself:
 *  - AWS's published examples (access key AKIAIOSFODNN7EXAMPLE, secret
 *    wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1, 20130524T000000Z):
 *    the S3 API reference, "Signature Calculations for the Authorization
 *    Header: Transferring Payload in a Single Chunk" (GET Object with Range,
 *    PUT Object, GET Bucket lifecycle, GET Bucket list objects: signatures
 *    and canonical-request hashes), "Authenticating Requests: Using Query
 *    Parameters" (the presigned GET), "... Transferring Payload in Multiple
 *    Chunks" (the seed and three chunk signatures) and "Signature
 *    Calculations for trailing headers" (the same upload with a CRC32C
 *    trailer: seed, chunk and trailer signatures, as reproduced by several
 *    independent implementations' test suites).
 *  - sigv4_vectors.h: requests a real botocore S3 client made with awkward
 *    keys and secret, captured before sending (tests/sigv4_vectors.py says
 *    how; regenerate it there). SigV4 header, presigned, unsigned-trailer
 *    aws-chunked uploads, SigV2 header and presigned. Then s3cmd's, whose
 *    SigV2 and SigV4 signers are its own.
 *  - Check values of the CRCs ("123456789") from their catalogues, and
 *    FIPS 180 / RFC 1321 digests of "abc" and "".
 */
#include "harness.h"

#include "sigv4.h"

#include <stdbool.h>

/* ---- requests from text ---- */

#define MAXH 40

/* A request built from "Name: value\n" lines, owning its copies. */
typedef struct treq {
	s3_req r;
	s3_header h[MAXH];
	char store[16384];
	char path[2048], query[4096];
} treq;

static void treq_init(treq *t, const char *method, const char *path, const char *query,
		      const char *headers, int64_t now)
{
	size_t o = 0, n = 0;
	const char *s = headers;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", path);
	snprintf(t->query, sizeof(t->query), "%s", query);
	while (*s) {
		const char *nl = strchr(s, '\n'), *colon = strchr(s, ':');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		const char *v;
		if (colon == NULL || colon > s + len || n == MAXH || o + len + 2 > sizeof(t->store)) {
			fprintf(stderr, "bad test header block\n");
			exit(2);
		}
		memcpy(t->store + o, s, (size_t)(colon - s));
		t->store[o + (size_t)(colon - s)] = '\0';
		t->h[n].name = t->store + o;
		o += (size_t)(colon - s) + 1;
		v = colon + 1;
		while (*v == ' ')
			v++;
		memcpy(t->store + o, v, (size_t)(s + len - v));
		t->store[o + (size_t)(s + len - v)] = '\0';
		t->h[n].value = t->store + o;
		o += (size_t)(s + len - v) + 1;
		n++;
		s += len + (nl != NULL);
	}
	t->r.method = method;
	t->r.raw_path = t->path;
	t->r.raw_query = t->query;
	t->r.headers = t->h;
	t->r.nheaders = n;
	t->r.now = now;
}

static s3_header *treq_find(treq *t, const char *name)
{
	for (size_t i = 0; i < t->r.nheaders; i++)
		if (strcasecmp(t->h[i].name, name) == 0)
			return &t->h[i];
	return NULL;
}

/* Replace (or add) a header's value; value must outlive t. */
static void treq_set(treq *t, const char *name, const char *value)
{
	s3_header *h = treq_find(t, name);

	if (h) {
		h->value = value;
		return;
	}
	t->h[t->r.nheaders].name = name;
	t->h[t->r.nheaders].value = value;
	t->r.nheaders++;
}

static void treq_del(treq *t, const char *name)
{
	for (size_t i = 0; i < t->r.nheaders; i++) {
		if (strcasecmp(t->h[i].name, name) == 0) {
			memmove(&t->h[i], &t->h[i + 1], (t->r.nheaders - i - 1) * sizeof(t->h[0]));
			t->r.nheaders--;
			i--;
		}
	}
}

static int verify(const treq *t, const char *secret, s3_auth *a, s3_err *e)
{
	memset(e, 0, sizeof(*e));
	if (s3_auth_parse(&t->r, a, e) != 0)
		return -1;
	return s3_auth_verify(&t->r, a, secret, e);
}

/* What the last fails_with saw. */
static s3_err last;

/* Parse (and verify when it parses) and expect this error code. */
static bool fails_with(const treq *t, const char *secret, const char *code, int status)
{
	s3_auth a;
	s3_err e;
	int rc = verify(t, secret, &a, &e);

	last = e;
	if (rc == 0) {
		printf("  accepted, expected %s\n", code);
		return false;
	}
	if (strcmp(e.code, code) != 0 || e.status != status) {
		printf("  got %d %s (%s), expected %d %s\n", e.status, e.code, e.message, status, code);
		return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- AWS's published examples ---- */

#define AWS_KEY "AKIAIOSFODNN7EXAMPLE"
#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AWS_T 1369353600LL /* 20130524T000000Z */
#define AWS_CRED "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct aws_example {
	const char *name, *method, *path, *query, *headers;
	const char *cr_hash; /* the canonical request's SHA-256 AWS prints ("" if not) */
} AWS_EXAMPLES[] = {
	{"GET Object", "GET", "/test.txt", "",
	 "Host: examplebucket.s3.amazonaws.com\n"
	 "Range: bytes=0-9\n"
	 "x-amz-content-sha256: " EMPTY "\n"
	 "x-amz-date: 20130524T000000Z\n"
	 "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
	 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n",
	 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"},
	/* the request line has "test$file.text": the canonical URI is /test%24file.text */
	{"PUT Object", "PUT", "/test$file.text", "",
	 "Host: examplebucket.s3.amazonaws.com\n"
	 "Date: Fri, 24 May 2013 00:00:00 GMT\n"
	 "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
	 "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\n"
	 "x-amz-date: 20130524T000000Z\n"
	 "x-amz-storage-class: REDUCED_REDUNDANCY\n"
	 "x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n",
	 "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"},
	{"GET Bucket lifecycle", "GET", "/", "lifecycle",
	 "Host: examplebucket.s3.amazonaws.com\n"
	 "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
	 "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543\n"
	 "x-amz-date: 20130524T000000Z\n"
	 "x-amz-content-sha256: " EMPTY "\n",
	 "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"},
	{"GET Bucket (list objects)", "GET", "/", "max-keys=2&prefix=J",
	 "Host: examplebucket.s3.amazonaws.com\n"
	 "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
	 "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7\n"
	 "x-amz-date: 20130524T000000Z\n"
	 "x-amz-content-sha256: " EMPTY "\n",
	 ""},
	{"presigned GET Object", "GET", "/test.txt",
	 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	 "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
	 "Host: examplebucket.s3.amazonaws.com\n",
	 "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"},
};

static void test_aws_examples(void)
{
	test_section("AWS's published SigV4 examples");
	for (size_t i = 0; i < sizeof(AWS_EXAMPLES) / sizeof(AWS_EXAMPLES[0]); i++) {
		const struct aws_example *x = &AWS_EXAMPLES[i];
		treq t;
		s3_auth a;
		s3_err e;

		treq_init(&t, x->method, x->path, x->query, x->headers, AWS_T);
		CHECKF(verify(&t, AWS_SECRET, &a, &e) == 0, "%s: %s %s", x->name, e.code, e.message);
		CHECK_STR(a.access_key, AWS_KEY);
		CHECK_STR(a.scope, "20130524/us-east-1/s3/aws4_request");
		CHECK_STR(a.amz_date, "20130524T000000Z");
		/* the canonical request hash, from the string to sign a wrong secret shows */
		CHECK(verify(&t, "wrong", &a, &e) != 0);
		CHECK_STR(e.code, "SignatureDoesNotMatch");
		CHECK_EQ_U64(e.status, 403);
		if (x->cr_hash[0])
			CHECKF(ends_with(e.string_to_sign, x->cr_hash), "%s: %s", x->name,
			       e.string_to_sign);
		CHECKF(strstr(e.message, "20130524/us-east-1/s3/aws4_request") != NULL, "%s",
		       e.message);
		CHECK(strncmp(e.canonical_request, x->method, strlen(x->method)) == 0);
	}
	{
		/* The PUT example's body hashes to its x-amz-content-sha256. */
		treq t;
		s3_auth a;
		s3_err e;
		s3_digest *d = s3_digest_new(S3_SHA256);
		uint8_t h[32];
		const char *body = "Welcome to Amazon S3.";

		treq_init(&t, "PUT", "/test%24file.text", "", AWS_EXAMPLES[1].headers, AWS_T);
		CHECK(verify(&t, AWS_SECRET, &a, &e) == 0); /* encoded once: the same */
		CHECK(a.payload == S3_PAYLOAD_SHA256);
		s3_digest_update(d, body, strlen(body));
		s3_digest_final(d, h);
		CHECK_MEM(h, a.payload_sha256, 32);
		s3_digest_free(d);
		CHECK(verify(&t, "wrong", &a, &e) != 0);
		CHECK(strncmp(e.canonical_request, "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n",
			      58) == 0);
	}
}

/* ---- the chunked upload examples ---- */

#define CHUNK_SIG0 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
static const char *CHUNK_SIGS[3] = {
	CHUNK_SIG0,
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};
static const char *TRAILER_CHUNK_SIGS[3] = {
	"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
	"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
	"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
};
#define TRAILER_SIG "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"

static void chunked_request(treq *t, bool trailer)
{
	const char *h =
		trailer ? "Host: s3.amazonaws.com\n"
			  "x-amz-date: 20130524T000000Z\n"
			  "x-amz-storage-class: REDUCED_REDUNDANCY\n"
			  "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;"
			  "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,"
			  "Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e\n"
			  "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\n"
			  "Content-Encoding: aws-chunked\n"
			  "x-amz-decoded-content-length: 66560\n"
			  "x-amz-trailer: x-amz-checksum-crc32c\n"
			: "Host: s3.amazonaws.com\n"
			  "x-amz-date: 20130524T000000Z\n"
			  "x-amz-storage-class: REDUCED_REDUNDANCY\n"
			  "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
			  "x-amz-decoded-content-length;x-amz-storage-class,"
			  "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\n"
			  "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n"
			  "Content-Encoding: aws-chunked\n"
			  "x-amz-decoded-content-length: 66560\n"
			  "Content-Length: 66824\n";
	treq_init(t, "PUT", "/examplebucket/chunkObject.txt", "", h, AWS_T);
}

/* 64 KiB + 1 KiB of 'a' as the examples frame them; returns the length. */
static size_t chunked_body(uint8_t *b, const char *const sigs[3], const char *trailer)
{
	size_t o = 0;

	o += (size_t)sprintf((char *)b + o, "10000;chunk-signature=%s\r\n", sigs[0]);
	memset(b + o, 'a', 65536);
	o += 65536;
	o += (size_t)sprintf((char *)b + o, "\r\n400;chunk-signature=%s\r\n", sigs[1]);
	memset(b + o, 'a', 1024);
	o += 1024;
	o += (size_t)sprintf((char *)b + o, "\r\n0;chunk-signature=%s\r\n%s\r\n", sigs[2], trailer);
	return o;
}

/* Feed body in pieces of step bytes (0: pseudo-random 1..97); the decoded
 * bytes go to sink. Returns feed's first failure or finish's result. */
static int decode(const s3_auth *a, const uint8_t *body, size_t n, size_t step, test_sink *sink,
		  s3_err *e, const char **trailer_out)
{
	s3_chunked *c = s3_chunked_new(a);
	uint64_t seed = 7;
	int rc = 0;

	if (c == NULL)
		return -2;
	for (size_t o = 0; o < n && rc == 0;) {
		size_t m = step ? step : 1 + splitmix64_next(&seed) % 97;
		if (m > n - o)
			m = n - o;
		rc = s3_chunked_feed(c, body + o, m, test_sink_write, sink, e);
		o += m;
	}
	if (rc == 0)
		rc = s3_chunked_finish(c, e);
	if (rc == 0 && trailer_out) {
		static char keep[100];
		const char *v = s3_chunked_trailer(c);
		snprintf(keep, sizeof(keep), "%s", v ? v : "(none)");
		*trailer_out = keep;
	}
	s3_chunked_free(c);
	return rc;
}

static int stop42(void *ctx, const void *d, size_t l)
{
	(void)ctx;
	(void)d;
	(void)l;
	return 42;
}

static bool all_a(const test_sink *s, size_t n)
{
	if (s->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s->p[i] != 'a')
			return false;
	return true;
}

/* "10000;chunk-signature=<64 hex>\r\n": where the first chunk's data starts */
#define HDR1 88
/* where the second chunk's signature starts */
#define SIG2 (HDR1 + 65536 + 2 + 20)

static void test_aws_chunked(void)
{
	static uint8_t body[70000], bad[70000];
	treq t;
	s3_auth a;
	s3_err e;
	size_t n;

	test_section("AWS's chunked upload example (signed chunks)");
	chunked_request(&t, false);
	CHECKF(verify(&t, AWS_SECRET, &a, &e) == 0, "%s %s", e.code, e.message);
	CHECK(a.payload == S3_PAYLOAD_STREAMING && a.chunk_signed && a.trailer[0] == '\0');
	CHECK_EQ_U64(a.decoded_length, 66560);
	CHECK_STR(a.seed_signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
	CHECK(verify(&t, "wrong", &(s3_auth){0}, &e) != 0);
	CHECKF(ends_with(e.string_to_sign, "cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455"),
	       "%s", e.string_to_sign);
	n = chunked_body(body, CHUNK_SIGS, "");
	CHECK_EQ_U64(n, 66824); /* the example's Content-Length */
	CHECK(memcmp(body + HDR1 - 2, "\r\naaaa", 6) == 0);
	CHECK(memcmp(body + SIG2 - 20, "400;chunk-signature=0055", 24) == 0);
	{
		size_t steps[] = {1, 0, 3, 4096, 65536, 70000};
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			test_sink s = {0};
			int rc = decode(&a, body, n, steps[i], &s, &e, NULL);
			CHECKF(rc == 0, "step %zu: %s %s", steps[i], rc ? e.code : "", rc ? e.message : "");
			CHECKF(all_a(&s, 66560), "step %zu: %zu bytes", steps[i], s.n);
			free(s.p);
		}
	}

	test_section("aws-chunked: what must fail");
	{
		/* a chunk signature changed */
		test_sink s = {0};
		memcpy(bad, body, n);
		bad[SIG2 + 10] ^= 1; /* in chunk 2's signature */
		CHECK(decode(&a, bad, n, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "SignatureDoesNotMatch");
		free(s.p);
	}
	{
		/* a data byte changed: its chunk's signature fails */
		test_sink s = {0};
		memcpy(bad, body, n);
		bad[HDR1 + 30000] = 'b';
		CHECK(decode(&a, bad, n, 1, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "SignatureDoesNotMatch");
		CHECK_EQ_U64(e.status, 403);
		free(s.p);
	}
	{
		/* the chunks in another order: the chain breaks */
		test_sink s = {0};
		const char *swapped[3] = {CHUNK_SIGS[1], CHUNK_SIGS[0], CHUNK_SIGS[2]};
		size_t m = chunked_body(bad, swapped, "");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "SignatureDoesNotMatch");
		free(s.p);
	}
	{
		/* truncated anywhere: finish says the body is incomplete */
		size_t cuts[] = {0, 10, HDR1, HDR1 + 65536, HDR1 + 65538, n - 90, n - 2, n - 1};
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			test_sink s = {0};
			int rc = decode(&a, body, cuts[i], 0, &s, &e, NULL);
			if (cuts[i] == n - 2) {
				/* everything signed came, only the last CRLF did not */
				CHECKF(rc == 0, "cut at %zu: %s", cuts[i], e.message);
			} else {
				CHECKF(rc == -1 && strcmp(e.code, "IncompleteBody") == 0,
				       "cut at %zu: %d %s", cuts[i], rc, rc ? e.code : "");
			}
			free(s.p);
		}
	}
	{
		/* a decoded length that is not the chunks' sum */
		s3_auth b = a;
		test_sink s = {0};
		b.decoded_length = 66561;
		CHECK(decode(&b, body, n, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "IncompleteBody");
		free(s.p);
		memset(&s, 0, sizeof(s));
		b.decoded_length = 66559;
		CHECK(decode(&b, body, n, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		free(s.p);
	}
	{
		/* bytes after the end, a chunk longer than its size, a bare LF */
		test_sink s = {0};
		memcpy(bad, body, n);
		bad[n] = 'x';
		CHECK(decode(&a, bad, n + 1, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		free(s.p);
		memset(&s, 0, sizeof(s));
		memcpy(bad, body, n);
		bad[HDR1 + 65536] = 'a'; /* the CR after the first chunk's data */
		CHECK(decode(&a, bad, n, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		free(s.p);
		memset(&s, 0, sizeof(s));
		memcpy(bad, body, n);
		bad[HDR1 - 2] = ' '; /* the CR of the first header line */
		CHECK(decode(&a, bad, n, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		free(s.p);
	}
	{
		/* a header line over 4 KiB; a size with too many digits; no signature */
		static uint8_t line[5000];
		test_sink s = {0};
		memset(line, '0', sizeof(line));
		CHECK(decode(&a, line, sizeof(line), 0, &s, &e, NULL) == -1);
		CHECKF(strstr(e.message, "4096") != NULL, "%s", e.message);
		CHECK(decode(&a, (const uint8_t *)"00000000000000001;chunk-signature=", 34, 0, &s, &e, NULL) == -1);
		CHECK(decode(&a, (const uint8_t *)"10000\r\n", 7, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		CHECK(decode(&a, (const uint8_t *)";chunk-signature=\r\n", 19, 0, &s, &e, NULL) == -1);
		free(s.p);
	}
	{
		/* errors stick; a consumer that stops gets its value back */
		s3_chunked *c = s3_chunked_new(&a);
		s3_err e2;
		CHECK(s3_chunked_feed(c, "zz\r\n", 4, NULL, NULL, &e) == -1);
		CHECK(s3_chunked_feed(c, body, 10, NULL, NULL, &e2) == -1);
		CHECK_STR(e2.message, e.message);
		CHECK(s3_chunked_finish(c, &e2) == -1);
		s3_chunked_free(c);
		c = s3_chunked_new(&a); /* no consumer: decoded and dropped */
		CHECK(s3_chunked_feed(c, body, 200, NULL, NULL, &e) == 0);
		s3_chunked_free(c);
	}
	{
		s3_chunked *c = s3_chunked_new(&a);
		CHECK(s3_chunked_feed(c, body, n, stop42, NULL, &e) == 42);
		CHECK(s3_chunked_feed(c, body, 1, stop42, NULL, &e) == -1);
		s3_chunked_free(c);
	}

	test_section("AWS's trailer example (signed chunks, signed CRC32C trailer)");
	chunked_request(&t, true);
	CHECKF(verify(&t, AWS_SECRET, &a, &e) == 0, "%s %s", e.code, e.message);
	CHECK(a.payload == S3_PAYLOAD_STREAMING && a.chunk_signed);
	CHECK_STR(a.trailer, "x-amz-checksum-crc32c");
	CHECK(verify(&t, "wrong", &(s3_auth){0}, &e) != 0);
	CHECKF(ends_with(e.string_to_sign, "44d48b8c2f70eae815a0198cc73d7a546a73a93359c070abbaa5e6c7de112559"),
	       "%s", e.string_to_sign);
	n = chunked_body(body, TRAILER_CHUNK_SIGS,
			 "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n");
	for (size_t step = 0; step < 3; step++) {
		test_sink s = {0};
		const char *tv = NULL;
		int rc = decode(&a, body, n, step == 2 ? 65536 : step, &s, &e, &tv);
		CHECKF(rc == 0, "%s %s", rc ? e.code : "", rc ? e.message : "");
		CHECK(all_a(&s, 66560));
		CHECK(tv && strcmp(tv, "sOO8/Q==") == 0);
		free(s.p);
	}
	{
		/* AWS's page shows an empty line before the trailer: allowed once */
		test_sink s = {0};
		size_t m = chunked_body(bad, TRAILER_CHUNK_SIGS,
					"\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == 0);
		free(s.p);
	}
	{
		/* a wrong checksum; a wrong trailer signature; none at all */
		test_sink s = {0};
		size_t m = chunked_body(bad, TRAILER_CHUNK_SIGS,
					"x-amz-checksum-crc32c:sOO8/A==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "BadDigest");
		free(s.p);
		memset(&s, 0, sizeof(s));
		m = chunked_body(bad, TRAILER_CHUNK_SIGS,
				 "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" CHUNK_SIG0 "\r\n");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "SignatureDoesNotMatch");
		free(s.p);
		memset(&s, 0, sizeof(s));
		m = chunked_body(bad, TRAILER_CHUNK_SIGS, "x-amz-checksum-crc32c:sOO8/Q==\r\n");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "IncompleteBody");
		free(s.p);
		memset(&s, 0, sizeof(s));
		m = chunked_body(bad, TRAILER_CHUNK_SIGS, "");
		CHECK(decode(&a, bad, m, 0, &s, &e, NULL) == -1);
		free(s.p);
	}
}

/* ---- requests botocore made ---- */

#include "sigv4_vectors.h"

/* The body too big to print: botocore's framing of (i * 7 + 3) % 251 in
 * 1 MiB chunks, then the tail it printed; checked against its SHA-256. */
static uint8_t *rebuild(const struct vec *v, uint8_t **data)
{
	uint8_t *b = test_xmalloc(v->body_len), *d = test_xmalloc(v->decoded_len), h[32];
	size_t o = 0;
	char hex[65];
	s3_digest *sha = s3_digest_new(S3_SHA256);

	for (size_t i = 0; i < v->decoded_len; i++)
		d[i] = (uint8_t)((i * 7 + 3) % 251);
	for (size_t i = 0; i < v->decoded_len; i += 1u << 20) {
		size_t m = v->decoded_len - i < (1u << 20) ? v->decoded_len - i : 1u << 20;
		o += (size_t)sprintf((char *)b + o, "%zx\r\n", m);
		memcpy(b + o, d + i, m);
		o += m;
		memcpy(b + o, "\r\n", 2);
		o += 2;
	}
	memcpy(b + o, v->body_tail, strlen(v->body_tail));
	o += strlen(v->body_tail);
	CHECK_EQ_U64(o, v->body_len);
	s3_digest_update(sha, b, o);
	s3_digest_final(sha, h);
	s3_digest_free(sha);
	s3_hex(hex, h, 32);
	CHECK_STR(hex, v->body_sha256);
	*data = d;
	return b;
}

static const char *other_method(const char *m)
{
	return strcmp(m, "GET") == 0 ? "HEAD" : "GET";
}

static void test_botocore(void)
{
	test_section("requests botocore and s3cmd made (sigv4_vectors.h)");
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		bool v4 = v->kind == S3_V4_HEADER || v->kind == S3_V4_QUERY;
		bool presigned = v->kind == S3_V4_QUERY || v->kind == S3_V2_QUERY;
		treq t;
		s3_auth a;
		s3_err e;
		int rc;

		treq_init(&t, v->method, v->path, v->query, v->headers, VEC_NOW);
		rc = verify(&t, VEC_SECRET, &a, &e);
		CHECKF(rc == 0, "%s: %s %s | %s", v->name, rc ? e.code : "", rc ? e.message : "",
		       rc ? e.canonical_request : "");
		if (rc != 0)
			continue;
		CHECKF(a.kind == v->kind, "%s: kind %d", v->name, (int)a.kind);
		CHECK_STR(a.access_key, VEC_ACCESS_KEY);

		/* the body: its hash, or its aws-chunked decoding */
		if (a.payload == S3_PAYLOAD_SHA256) {
			uint8_t h[32];
			s3_digest *d = s3_digest_new(S3_SHA256);
			s3_digest_update(d, v->body, v->body_len);
			s3_digest_final(d, h);
			CHECKF(memcmp(h, a.payload_sha256, 32) == 0, "%s: body hash", v->name);
			s3_digest_free(d);
		} else if (a.payload == S3_PAYLOAD_STREAMING) {
			uint8_t *data = NULL, *body = NULL;
			const uint8_t *bp = (const uint8_t *)v->body, *dp = (const uint8_t *)v->decoded;

			CHECK(!a.chunk_signed);
			CHECK_STR(a.trailer, "x-amz-checksum-crc32");
			CHECK_EQ_U64(a.decoded_length, v->decoded_len);
			if (v->body == NULL) {
				body = rebuild(v, &data);
				bp = body;
				dp = data;
			}
			for (size_t step = 0; step < 3; step++) {
				test_sink s = {0};
				const char *tv = NULL;
				size_t st = step == 0 ? 1 : step == 1 ? 0 : v->body_len;
				if (v->body_len > 100000 && st == 1)
					st = 4093;
				rc = decode(&a, bp, v->body_len, st, &s, &e, &tv);
				CHECKF(rc == 0, "%s step %zu: %s", v->name, st, rc ? e.message : "");
				CHECKF(s.n == v->decoded_len && (s.n == 0 || memcmp(s.p, dp, s.n) == 0),
				       "%s: decoded bytes", v->name);
				CHECK(tv && memmem(bp, v->body_len, tv, strlen(tv)) != NULL);
				free(s.p);
			}
			{
				/* the same body with its checksum changed */
				uint8_t *bad = test_xmalloc(v->body_len);
				test_sink s = {0};
				char *c;
				memcpy(bad, bp, v->body_len);
				{
					/* the trailer is in the last 64 bytes, after the data */
					size_t from = v->body_len > 64 ? v->body_len - 64 : 0;
					c = memmem(bad + from, v->body_len - from, "checksum-crc32:", 15);
					c = c ? c + 9 : NULL;
				}
				if (CHECK(c != NULL)) {
					c[6] = c[6] == 'A' ? 'B' : 'A';
					CHECK(decode(&a, bad, v->body_len, 0, &s, &e, NULL) == -1);
					CHECK_STR(e.code, "BadDigest");
				}
				free(s.p);
				free(bad);
			}
			free(body);
			free(data);
		}

		/* another secret, method, path */
		CHECK(fails_with(&t, "s3cr/t+K3y=w1th~odd&chars", "SignatureDoesNotMatch", 403));
		t.r.method = other_method(v->method);
		CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s", v->name);
		t.r.method = v->method;
		snprintf(t.path, sizeof(t.path), "%sx", v->path);
		CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s", v->name);
		snprintf(t.path, sizeof(t.path), "%s", v->path);
		/* the query: SigV2 signs only sub-resources */
		snprintf(t.query, sizeof(t.query), "%s%s%s", v->query, v->query[0] ? "&" : "",
			 v4 ? "extra=1" : "acl");
		CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s", v->name);
		snprintf(t.query, sizeof(t.query), "%s", v->query);
		/* a signed header (SigV2 signs no Host; its header form the Date) */
		if (v4) {
			treq_set(&t, "Host", "elsewhere:9000");
			CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s", v->name);
			treq_init(&t, v->method, v->path, v->query, v->headers, VEC_NOW);
			/* an x-amz-* header added after signing */
			treq_set(&t, "X-Amz-Meta-Late", "1");
			CHECKF(fails_with(&t, VEC_SECRET, "AccessDenied", 403), "%s", v->name);
			treq_del(&t, "X-Amz-Meta-Late");
		} else if (v->kind == S3_V2_HEADER) {
			/* the date signed: x-amz-date when there is one (s3cmd), else Date */
			if (treq_find(&t, "x-amz-date")) {
				treq_set(&t, "x-amz-date", "Thu, 29 Feb 2024 23:59:59 +0000");
				CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s",
				       v->name);
				treq_init(&t, v->method, v->path, v->query, v->headers, VEC_NOW);
				treq_set(&t, "Date", "Thu, 29 Feb 2024 23:59:59 GMT");
				CHECKF(verify(&t, VEC_SECRET, &a, &e) == 0, "%s: Date ignored", v->name);
			} else {
				treq_set(&t, "Date", "Thu, 29 Feb 2024 23:59:59 GMT");
				CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s",
				       v->name);
			}
			treq_init(&t, v->method, v->path, v->query, v->headers, VEC_NOW);
			treq_set(&t, "x-amz-meta-late", "1");
			CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s", v->name);
			treq_del(&t, "x-amz-meta-late");
		} else {
			char *x;
			snprintf(t.query, sizeof(t.query), "%s", v->query);
			x = strstr(t.query, "Expires=");
			if (CHECK(x != NULL)) {
				x[8] = x[8] == '1' ? '2' : '1';
				CHECKF(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403), "%s",
				       v->name);
			}
			snprintf(t.query, sizeof(t.query), "%s", v->query);
		}
		/* the clock */
		if (!presigned) {
			t.r.now = VEC_NOW + 900;
			CHECK(verify(&t, VEC_SECRET, &a, &e) == 0);
			t.r.now = VEC_NOW - 901;
			CHECKF(fails_with(&t, VEC_SECRET, "RequestTimeTooSkewed", 403), "%s", v->name);
		} else {
			t.r.now = a.expires;
			CHECK(verify(&t, VEC_SECRET, &a, &e) == 0);
			t.r.now = a.expires + 1;
			CHECKF(fails_with(&t, VEC_SECRET, "AccessDenied", 403), "%s", v->name);
			CHECK_STR(last.message, "Request has expired");
		}
	}
}

/* ---- what SigV4 parsing must refuse or tolerate ---- */

static const char *GET_HEADERS_FMT = "Host: examplebucket.s3.amazonaws.com\n"
				     "Range: bytes=0-9\n"
				     "x-amz-content-sha256: " EMPTY "\n"
				     "x-amz-date: 20130524T000000Z\n"
				     "Authorization: %s\n";
#define GET_SIG "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

static void get_with_auth(treq *t, const char *auth)
{
	char h[1024];

	snprintf(h, sizeof(h), GET_HEADERS_FMT, auth);
	treq_init(t, "GET", "/test.txt", "", h, AWS_T);
}

static void test_v4_parse(void)
{
	static const struct {
		const char *auth, *code;
		int status;
	} cases[] = {
		/* the spacings clients send */
		{"AWS4-HMAC-SHA256 " AWS_CRED ", SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" GET_SIG, NULL, 0},
		{"AWS4-HMAC-SHA256   " AWS_CRED " ,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date ,  Signature=" GET_SIG "  ", NULL, 0},
		{"AWS4-HMAC-SHA256 Signature=" GET_SIG ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," AWS_CRED, NULL, 0},
		{"AWS4-HMAC-SHA256 " AWS_CRED " SignedHeaders=host;range;x-amz-content-sha256;x-amz-date Signature=F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41", NULL, 0},
		/* what is malformed */
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date", "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG ",Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8", "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/ec2/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2013052/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524//s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG, "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256", "AuthorizationHeaderMalformed", 400},
		{"AWS4-HMAC-SHA256Credential=x", "InvalidArgument", 400},
		{"AWS4-ECDSA-P256-SHA256 " AWS_CRED, "InvalidArgument", 400},
		{"Bearer cairn_0123", "InvalidArgument", 400},
		{"", "InvalidArgument", 400},
		/* signs fine, but another secret's signature */
		{"AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42", "SignatureDoesNotMatch", 403},
	};
	treq t;
	s3_auth a;
	s3_err e;

	test_section("SigV4 header: spacings, malformed headers");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		get_with_auth(&t, cases[i].auth);
		if (cases[i].code == NULL) {
			int rc = verify(&t, AWS_SECRET, &a, &e);
			CHECKF(rc == 0, "case %zu: %s %s", i, rc ? e.code : "", rc ? e.message : "");
		} else {
			CHECKF(fails_with(&t, AWS_SECRET, cases[i].code, cases[i].status), "case %zu", i);
		}
	}

	/* no query at all (NULL) is an empty one */
	get_with_auth(&t, "AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG);
	t.r.raw_query = NULL;
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	/* a path encoded where it need not be names the same canonical URI */
	snprintf(t.path, sizeof(t.path), "/test%%2Etxt");
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);

	test_section("SigV4 header: dates, clocks, payloads, unsigned headers");
	get_with_auth(&t, "AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG);
	t.r.now = AWS_T + 900;
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	t.r.now = AWS_T - 900;
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	t.r.now = AWS_T + 901;
	CHECK(fails_with(&t, AWS_SECRET, "RequestTimeTooSkewed", 403));
	t.r.now = AWS_T - 901;
	CHECK(fails_with(&t, AWS_SECRET, "RequestTimeTooSkewed", 403));
	t.r.now = AWS_T;
	/* header values are trimmed (and inner runs of spaces collapsed) */
	treq_set(&t, "Range", "  bytes=0-9\t ");
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	treq_set(&t, "Range", "bytes=0-8");
	CHECK(fails_with(&t, AWS_SECRET, "SignatureDoesNotMatch", 403));
	treq_set(&t, "Range", "bytes=0-9");
	/* a second Range header is part of what was signed */
	t.h[t.r.nheaders].name = "range";
	t.h[t.r.nheaders++].value = "bytes=0-9";
	CHECK(fails_with(&t, AWS_SECRET, "SignatureDoesNotMatch", 403));
	t.r.nheaders--;
	/* an x-amz-* header nobody signed: S3 refuses it */
	treq_set(&t, "X-Amz-Acl", "public-read");
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	CHECK(strstr(last.message, "not signed") != NULL);
	treq_del(&t, "X-Amz-Acl");
	/* dates */
	treq_set(&t, "x-amz-date", "20130524T000000");
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	treq_set(&t, "x-amz-date", "20130230T000000Z");
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	treq_del(&t, "x-amz-date");
	CHECK(fails_with(&t, AWS_SECRET, "MissingSecurityHeader", 400));
	/* with Date instead, the string to sign carries it in SigV4's form */
	treq_set(&t, "Date", "Fri, 24 May 2013 00:00:00 GMT");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0);
	CHECK_STR(a.amz_date, "20130524T000000Z");
	treq_set(&t, "Date", "Fri, 24 May 2013 00:00:00");
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	treq_set(&t, "Date", "Fri, 24 May 2013 00:00:00 +0000");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0);
	treq_set(&t, "Date", "24 May 2013 00:00:00 UTC");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0);
	treq_del(&t, "Date");
	treq_set(&t, "x-amz-date", "20130524T000000Z");
	/* payload hashes */
	treq_del(&t, "x-amz-content-sha256");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400));
	treq_set(&t, "x-amz-content-sha256", "SHA256-PLEASE");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidArgument", 400));
	treq_set(&t, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.payload == S3_PAYLOAD_UNSIGNED);
	treq_set(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
	CHECK(fails_with(&t, AWS_SECRET, "MissingContentLength", 411));
	treq_set(&t, "x-amz-decoded-content-length", "12x");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidArgument", 400));
	treq_set(&t, "x-amz-decoded-content-length", "12");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.payload == S3_PAYLOAD_STREAMING &&
	      a.chunk_signed && a.decoded_length == 12);
	treq_set(&t, "x-amz-trailer", "x-amz-checksum-crc32");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400)); /* no -TRAILER form */
	treq_set(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && strcmp(a.trailer, "x-amz-checksum-crc32") == 0);
	treq_set(&t, "x-amz-trailer", "x-amz-checksum-md5");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400));
	treq_set(&t, "x-amz-trailer", "X-Amz-Checksum-CRC64NVME");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && strcmp(a.trailer, "x-amz-checksum-crc64nvme") == 0);
	treq_del(&t, "x-amz-trailer");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400)); /* -TRAILER without one */

	test_section("schemes: one at a time; anonymous");
	get_with_auth(&t, "AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" GET_SIG);
	snprintf(t.query, sizeof(t.query), "X-Amz-Signature=%s", GET_SIG);
	CHECK(fails_with(&t, AWS_SECRET, "InvalidArgument", 400));
	snprintf(t.query, sizeof(t.query), "AWSAccessKeyId=x&Signature=y&Expires=1");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidArgument", 400));
	t.query[0] = '\0';
	t.h[t.r.nheaders] = *treq_find(&t, "Authorization");
	t.r.nheaders++;
	CHECK(fails_with(&t, AWS_SECRET, "InvalidArgument", 400));
	treq_init(&t, "GET", "/b/k", "prefix=a&Expires=5", "Host: h\n", AWS_T);
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.kind == S3_ANON && a.payload == S3_PAYLOAD_UNSIGNED);
	CHECK(s3_auth_verify(&t.r, &a, NULL, &e) == 0 && a.kind == S3_ANON);
	/* anonymous bodies: a hash is still checked, signed chunks are refused,
	 * an unsigned aws-chunked body with a trailer decodes */
	treq_set(&t, "x-amz-content-sha256", EMPTY);
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.payload == S3_PAYLOAD_SHA256);
	treq_set(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
	treq_set(&t, "x-amz-decoded-content-length", "3");
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400));
	treq_set(&t, "x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
	treq_set(&t, "x-amz-trailer", "x-amz-checksum-crc32");
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.payload == S3_PAYLOAD_STREAMING && !a.chunk_signed);
	{
		/* "abc": CRC32 352441c2 */
		const char *body = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
		test_sink s = {0};
		const char *tv = NULL;
		CHECK(decode(&a, (const uint8_t *)body, strlen(body), 1, &s, &e, &tv) == 0);
		CHECK(s.n == 3 && memcmp(s.p, "abc", 3) == 0);
		CHECK(tv && strcmp(tv, "NSRBwg==") == 0);
		free(s.p);
		/* chunk extensions are ignored without signatures; a size that lies is not */
		body = "3;ext=1\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
		memset(&s, 0, sizeof(s));
		CHECK(decode(&a, (const uint8_t *)body, strlen(body), 0, &s, &e, NULL) == 0);
		free(s.p);
		body = "2\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
		memset(&s, 0, sizeof(s));
		CHECK(decode(&a, (const uint8_t *)body, strlen(body), 0, &s, &e, NULL) == -1);
		free(s.p);
		body = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32c:NSRBwg==\r\n\r\n";
		memset(&s, 0, sizeof(s));
		CHECK(decode(&a, (const uint8_t *)body, strlen(body), 0, &s, &e, NULL) == -1);
		CHECK_STR(e.code, "InvalidArgument");
		free(s.p);
	}
}

static void test_presigned(void)
{
	const char *q = AWS_EXAMPLES[4].query;
	const char *hdr = AWS_EXAMPLES[4].headers;
	char query[1024];
	treq t;
	s3_auth a;
	s3_err e;

	test_section("SigV4 presigned: time, limits, parameters");
	treq_init(&t, "GET", "/test.txt", q, hdr, AWS_T + 86400);
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	CHECK(a.kind == S3_V4_QUERY && a.expires == AWS_T + 86400 && a.payload == S3_PAYLOAD_UNSIGNED);
	t.r.now = AWS_T + 86401;
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	CHECK_STR(last.message, "Request has expired");
	t.r.now = AWS_T - 900;
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	t.r.now = AWS_T - 901;
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));
	CHECK_STR(last.message, "Request is not yet valid");
	t.r.now = AWS_T;

	/* the same parameters in another order, encoded another (valid) way */
	treq_init(&t, "GET", "/test.txt",
		  "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
		  "&X-Amz-SignedHeaders=host&X-Amz-Expires=86400&X-Amz-Date=20130524T000000Z"
		  "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2f20130524%2fus-east-1%2Fs3%2Faws4_request"
		  "&X-Amz-Algorithm=AWS4-HMAC-SHA256",
		  hdr, AWS_T);
	CHECK(verify(&t, AWS_SECRET, &a, &e) == 0);
	/* anything added to the query is signed too */
	snprintf(query, sizeof(query), "%s&x-id=GetObject", q);
	treq_init(&t, "GET", "/test.txt", query, hdr, AWS_T);
	CHECK(fails_with(&t, AWS_SECRET, "SignatureDoesNotMatch", 403));
	/* a header S3 would refuse unsigned */
	treq_init(&t, "GET", "/test.txt", q, hdr, AWS_T);
	treq_set(&t, "x-amz-server-side-encryption", "AES256");
	CHECK(fails_with(&t, AWS_SECRET, "AccessDenied", 403));

	static const struct {
		const char *from, *to, *code;
	} edits[] = {
		{"X-Amz-Expires=86400", "X-Amz-Expires=604801", "AuthorizationQueryParametersError"},
		{"X-Amz-Expires=86400", "X-Amz-Expires=0", "AuthorizationQueryParametersError"},
		{"X-Amz-Expires=86400", "X-Amz-Expires=-5", "AuthorizationQueryParametersError"},
		{"X-Amz-Expires=86400", "X-Amz-Expires=1d", "AuthorizationQueryParametersError"},
		{"X-Amz-Expires=86400", "X-Amz-Expires=86401", "SignatureDoesNotMatch"},
		{"&X-Amz-Date=20130524T000000Z", "", "AuthorizationQueryParametersError"},
		{"X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24T00:00:00Z", "AuthorizationQueryParametersError"},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", "AuthorizationQueryParametersError"},
		{"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range", "AuthorizationQueryParametersError"},
		{"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host&X-Amz-SignedHeaders=host", "AuthorizationQueryParametersError"},
		{"%2Fs3%2F", "%2Fs4%2F", "AuthorizationQueryParametersError"},
		{"%2Fus-east-1%2F", "%2Fus-west-2%2F", "SignatureDoesNotMatch"},
		{"X-Amz-Signature=aeee", "X-Amz-Signature=beee", "SignatureDoesNotMatch"},
		{"X-Amz-Signature=aeee", "X-Amz-Signature=%zzee", "AuthorizationQueryParametersError"},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const char *at = strstr(q, edits[i].from);
		int status = strcmp(edits[i].code, "AuthorizationQueryParametersError") == 0 ? 400 : 403;
		snprintf(query, sizeof(query), "%.*s%s%s", (int)(at - q), q, edits[i].to,
			 at + strlen(edits[i].from));
		treq_init(&t, "GET", "/test.txt", query, hdr, AWS_T);
		CHECKF(fails_with(&t, AWS_SECRET, edits[i].code, status), "edit %zu", i);
	}
	/* a payload hash in the query makes the body's hash checked */
	snprintf(query, sizeof(query), "%s&X-Amz-Content-Sha256=%s", q, EMPTY);
	treq_init(&t, "GET", "/test.txt", query, hdr, AWS_T);
	CHECK(s3_auth_parse(&t.r, &a, &e) == 0 && a.payload == S3_PAYLOAD_SHA256);
	snprintf(query, sizeof(query), "%s&X-Amz-Content-Sha256=STREAMING-UNSIGNED-PAYLOAD-TRAILER", q);
	treq_init(&t, "GET", "/test.txt", query, hdr, AWS_T);
	CHECK(fails_with(&t, AWS_SECRET, "InvalidRequest", 400));
}

/* ---- canonical forms, seen through the error's canonical request ---- */

static void test_canonical(void)
{
	static char longpath[3000];
	treq t;
	s3_auth a;
	s3_err e;
	const char *hdr = "Host: h\nx-amz-date: 20130524T000000Z\nx-amz-content-sha256: UNSIGNED-PAYLOAD\n"
			  "X-Amz-Meta-A:  one   two \nx-amz-meta-a: three\n"
			  "Authorization: AWS4-HMAC-SHA256 " AWS_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a,"
			  "Signature=0000000000000000000000000000000000000000000000000000000000000000\n";

	test_section("canonical URI, query and headers");
	treq_init(&t, "GET", "/bkt/a%2fb/%7e%41+c$d!'()*/", "b=2&a=x+y&a=%2B&c=&d&&%7e=%7E&e=f=g", hdr, AWS_T);
	CHECK(verify(&t, "s", &a, &e) != 0);
	CHECKF(strncmp(e.canonical_request,
		       "GET\n/bkt/a%2Fb/~A%2Bc%24d%21%27%28%29%2A/\n"
		       "a=%2B&a=x%20y&b=2&c=&d=&e=f%3Dg&~=~\n"
		       "host:h\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n"
		       "x-amz-meta-a:one two,three\n\n"
		       "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a\nUNSIGNED-PAYLOAD",
		       strlen(e.canonical_request)) == 0,
	       "%s", e.canonical_request);
	/* no path at all is "/"; a bad escape is no URI */
	treq_init(&t, "GET", "", "", hdr, AWS_T);
	CHECK(verify(&t, "s", &a, &e) != 0);
	CHECK(strncmp(e.canonical_request, "GET\n/\n\n", 7) == 0);
	treq_init(&t, "GET", "/a%zz", "", hdr, AWS_T);
	CHECK(fails_with(&t, "s", "InvalidURI", 400));
	treq_init(&t, "GET", "/a", "x=%4", hdr, AWS_T);
	CHECK(fails_with(&t, "s", "InvalidArgument", 400));
	/* a long canonical request is clipped for the error, not lost */
	memset(longpath, 'k', sizeof(longpath) - 1);
	longpath[0] = '/';
	treq_init(&t, "GET", longpath, "", hdr, AWS_T);
	CHECK(verify(&t, "s", &a, &e) != 0);
	CHECK(strlen(e.canonical_request) == sizeof(e.canonical_request) - 1 &&
	      ends_with(e.canonical_request, "..."));
}

/* ---- SigV2 beyond botocore's requests ---- */

static void test_v2(void)
{
	treq t;
	s3_auth a;
	s3_err e;
	const struct vec *get = NULL, *pre = NULL;

	test_section("SigV2: malformed, expired, the clock");
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		if (get == NULL && vectors[i].kind == S3_V2_HEADER)
			get = &vectors[i];
		if (pre == NULL && vectors[i].kind == S3_V2_QUERY)
			pre = &vectors[i];
	}
	treq_init(&t, "GET", "/b/k", "", "Host: h\nDate: Thu, 29 Feb 2024 23:59:58 GMT\nAuthorization: AWS nocolon\n", VEC_NOW);
	CHECK(fails_with(&t, VEC_SECRET, "AuthorizationHeaderMalformed", 400));
	treq_init(&t, "GET", "/b/k", "", "Host: h\nDate: Thu, 29 Feb 2024 23:59:58 GMT\nAuthorization: AWS :sig\n", VEC_NOW);
	CHECK(fails_with(&t, VEC_SECRET, "AuthorizationHeaderMalformed", 400));
	treq_init(&t, "GET", "/b/k", "", "Host: h\nAuthorization: AWS k:sig\n", VEC_NOW);
	CHECK(fails_with(&t, VEC_SECRET, "MissingSecurityHeader", 400));
	treq_init(&t, "GET", "/b/k", "AWSAccessKeyId=k&Signature=s", "Host: h\n", VEC_NOW);
	CHECK(fails_with(&t, VEC_SECRET, "AccessDenied", 403));
	treq_init(&t, "GET", "/b/k", "AWSAccessKeyId=k&Signature=s&Expires=soon", "Host: h\n", VEC_NOW);
	CHECK(fails_with(&t, VEC_SECRET, "AuthorizationQueryParametersError", 400));
	if (CHECK(get != NULL && pre != NULL)) {
		treq_init(&t, get->method, get->path, get->query, get->headers, VEC_NOW + 901);
		CHECK(fails_with(&t, VEC_SECRET, "RequestTimeTooSkewed", 403));
		/* x-amz-date wins over Date: the Date line is then empty, so this
		 * request (signed with Date in it) no longer matches */
		treq_init(&t, get->method, get->path, get->query, get->headers, VEC_NOW);
		treq_set(&t, "x-amz-date", "Thu, 29 Feb 2024 23:59:58 +0000");
		CHECK(fails_with(&t, VEC_SECRET, "SignatureDoesNotMatch", 403));
		CHECKF(strncmp(last.string_to_sign, "GET\n\n\n\nx-amz-checksum-mode:ENABLED\nx-amz-date:", 44) == 0,
		       "%s", last.string_to_sign);
		/* a '+' the server already turned into a space in the signature */
		{
			char q[1024], *sig;
			snprintf(q, sizeof(q), "%s", pre->query);
			sig = strstr(q, "Signature=%2B");
			if (CHECK(sig != NULL)) {
				memmove(sig + 11, sig + 13, strlen(sig + 13) + 1);
				sig[10] = ' ';
				treq_init(&t, pre->method, pre->path, q, pre->headers, VEC_NOW);
				CHECK(verify(&t, VEC_SECRET, &a, &e) == 0);
				sig[10] = '+';
				treq_init(&t, pre->method, pre->path, q, pre->headers, VEC_NOW);
				CHECK(verify(&t, VEC_SECRET, &a, &e) == 0);
			}
		}
	}
}

/* ---- digests and helpers ---- */

static void hexof(char *out, s3_digest_kind k, const void *p, size_t n)
{
	s3_digest *d = s3_digest_new(k);
	uint8_t h[32];

	s3_digest_update(d, p, n);
	s3_digest_final(d, h);
	s3_hex(out, h, s3_digest_len(k));
	/* used again after a final: the same answer */
	s3_digest_update(d, p, n / 2);
	s3_digest_update(d, (const char *)p + n / 2, n - n / 2);
	s3_digest_final(d, h);
	{
		char again[65];
		s3_hex(again, h, s3_digest_len(k));
		CHECK_STR(again, out);
	}
	s3_digest_free(d);
}

static void test_digests(void)
{
	char h[65], b64[64], out[64];
	s3_digest_kind k;
	static uint8_t a66560[66560];

	test_section("digests and helpers");
	hexof(h, S3_MD5, "", 0);
	CHECK_STR(h, "d41d8cd98f00b204e9800998ecf8427e");
	hexof(h, S3_MD5, "abc", 3);
	CHECK_STR(h, "900150983cd24fb0d6963f7d28e17f72");
	hexof(h, S3_SHA256, "abc", 3);
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hexof(h, S3_SHA256, "", 0);
	CHECK_STR(h, EMPTY);
	hexof(h, S3_SHA1, "abc", 3);
	CHECK_STR(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	hexof(h, S3_CRC32, "123456789", 9);
	CHECK_STR(h, "cbf43926");
	hexof(h, S3_CRC32C, "123456789", 9);
	CHECK_STR(h, "e3069283");
	hexof(h, S3_CRC64NVME, "123456789", 9);
	CHECK_STR(h, "ae8b14860a799888");
	hexof(h, S3_CRC32, "", 0);
	CHECK_STR(h, "00000000");
	{
		/* the trailer example's checksum is the CRC32C of its 66560 'a's */
		s3_digest *d = s3_digest_new(S3_CRC32C);
		uint8_t c[4];
		memset(a66560, 'a', sizeof(a66560));
		s3_digest_update(d, a66560, sizeof(a66560));
		s3_digest_final(d, c);
		s3_base64(b64, c, 4);
		CHECK_STR(b64, "sOO8/Q==");
		s3_digest_free(d);
	}
	CHECK(s3_digest_kind_by_name(&k, "x-amz-checksum-crc32c") == 0 && k == S3_CRC32C);
	CHECK(s3_digest_kind_by_name(&k, "CRC64NVME") == 0 && k == S3_CRC64NVME);
	CHECK(s3_digest_kind_by_name(&k, "X-Amz-Checksum-SHA1") == 0 && k == S3_SHA1);
	CHECK(s3_digest_kind_by_name(&k, "sha256") == 0 && k == S3_SHA256);
	CHECK(s3_digest_kind_by_name(&k, "md5") == -1);
	CHECK(s3_digest_kind_by_name(&k, "x-amz-checksum-") == -1);
	CHECK_EQ_U64(s3_digest_len(S3_SHA1), 20);

	s3_base64(b64, (const uint8_t *)"", 0);
	CHECK_STR(b64, "");
	s3_base64(b64, (const uint8_t *)"f", 1);
	CHECK_STR(b64, "Zg==");
	s3_base64(b64, (const uint8_t *)"fo", 2);
	CHECK_STR(b64, "Zm8=");
	s3_base64(b64, (const uint8_t *)"foob", 4);
	CHECK_STR(b64, "Zm9vYg==");
	s3_base64(b64, (const uint8_t *)"\xfb\xff", 2);
	CHECK_STR(b64, "+/8=");
	s3_hex(h, (const uint8_t *)"\x00\xff\x10", 3);
	CHECK_STR(h, "00ff10");

	CHECK(s3_url_decode(out, sizeof(out), "a%20b+c%2fd%E2%9C%93", 20) == 10);
	CHECK_STR(out, "a b+c/d\xe2\x9c\x93");
	CHECK(s3_query_decode(out, sizeof(out), "a%20b+c", 7) == 5);
	CHECK_STR(out, "a b c");
	CHECK(s3_url_decode(out, sizeof(out), "a%2", 3) == -1);
	CHECK(s3_url_decode(out, sizeof(out), "a%g1", 4) == -1);
	CHECK(s3_url_decode(out, 3, "abcd", 4) == -1);
	CHECK(s3_url_decode(out, 4, "abcd", 4) == 4); /* fits, unterminated */
	CHECK(s3_url_decode(out, sizeof(out), "", 0) == 0 && out[0] == '\0');
}

int main(void)
{
	test_aws_examples();
	test_aws_chunked();
	test_botocore();
	test_v4_parse();
	test_presigned();
	test_canonical();
	test_v2();
	test_digests();
	return test_done();
}
