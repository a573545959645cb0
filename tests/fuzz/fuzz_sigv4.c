/*
 * fuzz_sigv4.c - libFuzzer target for the S3 front's request authentication
 * (server/sigv4.h, compiled in as test_sigv4 does: a pure module). Built as
 * a fuzzer with clang and -DCAIRN_FUZZ=ON; replay.c feeds it the stored
 * corpus as an ordinary test with any compiler.
 *
 * The input is a request as text, so the fuzzer reaches past the framing:
 *   METHOD\n RAW_PATH\n RAW_QUERY\n Name: value\n ... \n \n BODY
 * (header values lose their leading spaces and tabs, as libmicrohttpd
 * gives them; at most FUZZ_MAXH headers). Two pseudo-headers steer the
 * target and are not passed on: "@now: SECONDS" (the server's clock;
 * default 20130524T000000Z, AWS's examples' date) and "@step: N" (the piece
 * size the body is fed in). The secret is AWS's example secret.
 *
 * What it does: s3_auth_parse; s3_auth_verify with the secret; then, when
 * that fails with SignatureDoesNotMatch, signs the string to sign the
 * server reported (SigV4: the HMAC chain over the scope; SigV2: HMAC-SHA1,
 * base64) and puts that signature in the request in place of the one it
 * had; s3_auth_verify must now succeed. A body in aws-chunked form
 * (verified, or STREAMING-UNSIGNED-PAYLOAD-TRAILER, which needs no
 * verification) is decoded by s3_chunked twice, in one piece and in pieces
 * of @step bytes; both must agree, and on success give exactly
 * x-amz-decoded-content-length bytes. Every s3_digest kind must give the
 * same digest over the body in one piece and in pieces. s3_url_decode and
 * s3_query_decode run over the path and query. Besides the sanitizers,
 * the target aborts when parse and verify disagree on a malformed request,
 * when an error comes without a status and code, or when any of the
 * above does not hold.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_sigv4
 *   mkdir -p /tmp/sigv4-corpus
 *   build-fuzz/tests/fuzz_sigv4 -dict=tests/fuzz/sigv4.dict -max_len=8192
 *       -max_total_time=600 /tmp/sigv4-corpus tests/fuzz/corpus/sigv4
 */
#include "sigv4.h"

#include <openssl/hmac.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAXH 24
#define FUZZ_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define FUZZ_NOW 1369353600LL /* 20130524T000000Z */

typedef struct freq {
	s3_req r;
	s3_header h[FUZZ_MAXH];
	char *query; /* owned copies the re-signing may replace */
	char *auth;
	size_t auth_i; /* index of the Authorization header in h, or FUZZ_MAXH */
	size_t step;
	const uint8_t *body;
	size_t body_len;
} freq;

/* Split the input (copied to text, NUL-terminated) into a request. */
static void split(freq *f, char *text, size_t size)
{
	char *lines[3] = {"", "", ""}, *s = text, *end = text + size;
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	f->auth_i = FUZZ_MAXH;
	f->r.now = FUZZ_NOW;
	for (int i = 0; i < 3 && s < end; i++) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		lines[i] = s;
		if (nl == NULL) {
			s = end;
			break;
		}
		*nl = '\0';
		s = nl + 1;
	}
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s)), *colon, *v;
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		if (*s == '\0') { /* the empty line: the body follows */
			s = nl + 1;
			break;
		}
		colon = strchr(s, ':');
		v = colon ? colon + 1 : nl;
		if (colon)
			*colon = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcmp(s, "@now") == 0) {
			f->r.now = strtoll(v, NULL, 10);
		} else if (strcmp(s, "@step") == 0) {
			f->step = strtoul(v, NULL, 10);
		} else if (n < FUZZ_MAXH) {
			f->h[n].name = s;
			f->h[n].value = v;
			n++;
		}
		s = nl + 1;
	}
	f->r.method = lines[0];
	f->r.raw_path = lines[1];
	f->r.raw_query = lines[2];
	f->r.headers = f->h;
	f->r.nheaders = n;
	f->body = (const uint8_t *)(s < end ? s : end);
	f->body_len = s < end ? (size_t)(end - s) : 0;
}

static bool err_ok(const s3_err *e)
{
	return e->status >= 400 && e->status < 600 && e->code != NULL && e->code[0] != '\0';
}

/* ---- re-signing what the server says it signed ---- */

static bool hmac256(uint8_t out[32], const void *key, size_t klen, const char *msg)
{
	unsigned int ol = 32;
	return HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg), out, &ol) != NULL;
}

/* SigV4: "AWS4-HMAC-SHA256\nDATE\nyyyymmdd/REGION/s3/aws4_request\nHASH" */
static bool sign_v4(char out[65], const char *sts)
{
	char date8[9], region[160], k0[128];
	const char *scope = strchr(sts, '\n'), *slash, *tail;
	uint8_t k[32];

	if (scope == NULL || (scope = strchr(scope + 1, '\n')) == NULL)
		return false;
	scope++;
	slash = strchr(scope, '/');
	tail = strstr(scope, "/s3/aws4_request\n");
	if (slash == NULL || slash - scope != 8 || tail == NULL || tail < slash ||
	    (size_t)(tail - slash - 1) >= sizeof(region))
		return false;
	memcpy(date8, scope, 8);
	date8[8] = '\0';
	memcpy(region, slash + 1, (size_t)(tail - slash - 1));
	region[tail - slash - 1] = '\0';
	snprintf(k0, sizeof(k0), "AWS4%s", FUZZ_SECRET);
	if (!hmac256(k, k0, strlen(k0), date8) || !hmac256(k, k, 32, region) ||
	    !hmac256(k, k, 32, "s3") || !hmac256(k, k, 32, "aws4_request") ||
	    !hmac256(k, k, 32, sts))
		return false;
	s3_hex(out, k, 32);
	return true;
}

static bool sign_v2(char out[29], const char *sts)
{
	uint8_t mac[20];
	unsigned int ml = sizeof(mac);

	if (HMAC(EVP_sha1(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (const uint8_t *)sts,
		 strlen(sts), mac, &ml) == NULL)
		return false;
	s3_base64(out, mac, sizeof(mac));
	return true;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')))
			return false;
	return true;
}

/* In the Authorization value: every "Signature=" followed by 64 hex digits
 * gets sig (the parser took one of them, and accepts only one). */
static char *with_v4_header_sig(const char *v, const char *sig)
{
	char *c = strdup(v), *p;

	for (p = c; c && (p = strstr(p, "Signature=")) != NULL; p++)
		if (strlen(p + 10) >= 64 && all_hex(p + 10, 64))
			memcpy(p + 10, sig, 64);
	return c;
}

/* "AWS KEY:SIG": what follows the last ':' becomes sig. */
static char *with_v2_header_sig(const char *v, const char *sig)
{
	const char *colon = strrchr(v, ':');
	size_t n = colon ? (size_t)(colon - v) + 1 : 0;
	char *c;

	if (colon == NULL || (c = malloc(n + strlen(sig) + 1)) == NULL)
		return NULL;
	memcpy(c, v, n);
	strcpy(c + n, sig);
	return c;
}

/* The query with each NAME=... parameter's value replaced by val. */
static char *with_query_param(const char *q, const char *name, const char *val)
{
	size_t nl = strlen(name), cap = strlen(q) + 1, o = 0;
	const char *s = q;
	char *c;

	for (const char *p = q; *p; p++)
		cap += *p == '&' ? strlen(val) : 0;
	cap += strlen(val);
	if ((c = malloc(cap)) == NULL)
		return NULL;
	for (;;) {
		const char *amp = strchr(s, '&');
		size_t len = amp ? (size_t)(amp - s) : strlen(s);
		if (len > nl && strncmp(s, name, nl) == 0 && s[nl] == '=') {
			memcpy(c + o, s, nl + 1);
			o += nl + 1;
			strcpy(c + o, val);
			o += strlen(val);
		} else {
			memcpy(c + o, s, len);
			o += len;
		}
		if (amp == NULL)
			break;
		c[o++] = '&';
		s = amp + 1;
	}
	c[o] = '\0';
	return c;
}

/* Percent-encode base64 for a query value. */
static void pct_b64(char *out, const char *b64)
{
	for (; *b64; b64++) {
		if (*b64 == '+' || *b64 == '/' || *b64 == '=') {
			sprintf(out, "%%%02X", (unsigned char)*b64);
			out += 3;
		} else {
			*out++ = *b64;
		}
	}
	*out = '\0';
}

/*
 * The request failed verification with what it signed in e: sign that
 * ourselves and put the signature in. Returns false when this request's
 * form cannot be re-signed here (its string to sign was clipped, or the
 * signature is not where we look).
 */
static bool resign(freq *f, const s3_auth *a, const s3_err *e)
{
	const char *sts = e->string_to_sign;
	size_t sl = strlen(sts);
	char sig[65], v2[29], v2q[3 * 28 + 1];
	char *nv = NULL;

	if (sl == 0 || sl >= sizeof(e->string_to_sign) - 1 ||
	    (sl >= 3 && strcmp(sts + sl - 3, "...") == 0))
		return false;
	switch (a->kind) {
	case S3_V4_HEADER:
	case S3_V4_QUERY:
		if (!sign_v4(sig, sts))
			return false;
		if (a->kind == S3_V4_QUERY) {
			nv = with_query_param(f->r.raw_query, "X-Amz-Signature", sig);
			free(f->query);
			f->query = nv;
			f->r.raw_query = nv ? nv : "";
			return nv != NULL;
		}
		break;
	case S3_V2_HEADER:
	case S3_V2_QUERY:
		/* SigV2 signs decoded bytes: a %00 puts a NUL in the string to
		 * sign, which e->string_to_sign cannot show whole */
		if (strstr(f->r.raw_path, "%00") || strstr(f->r.raw_query, "%00"))
			return false;
		if (!sign_v2(v2, sts))
			return false;
		if (a->kind == S3_V2_QUERY) {
			pct_b64(v2q, v2);
			nv = with_query_param(f->r.raw_query, "Signature", v2q);
			free(f->query);
			f->query = nv;
			f->r.raw_query = nv ? nv : "";
			return nv != NULL;
		}
		break;
	default:
		return false;
	}
	for (size_t i = 0; i < f->r.nheaders; i++) {
		if (strcasecmp(f->h[i].name, "authorization") != 0)
			continue;
		nv = a->kind == S3_V4_HEADER ? with_v4_header_sig(f->h[i].value, sig)
					     : with_v2_header_sig(f->h[i].value, v2);
		if (nv == NULL)
			return false;
		free(f->auth);
		f->auth = nv;
		f->h[i].value = nv;
		return true;
	}
	return false;
}

/* Whether the (lower-cased) SignedHeaders list names authorization: then
 * the signature signs itself and cannot be put in afterwards. */
static bool signs_authorization(const freq *f)
{
	for (size_t i = 0; i < f->r.nheaders; i++)
		if (strcasecmp(f->h[i].name, "authorization") == 0 &&
		    strcasestr(f->h[i].value, "authorization") != NULL)
			return true;
	return false;
}

/* ---- the body ---- */

typedef struct sink {
	uint8_t *p;
	size_t n, cap;
} sink;

static int sink_write(void *ctx, const void *d, size_t n)
{
	sink *s = ctx;
	if (n > s->cap - s->n)
		abort(); /* more decoded bytes than the body had */
	memcpy(s->p + s->n, d, n);
	s->n += n;
	return 0;
}

static int decode(const s3_auth *a, const uint8_t *body, size_t n, size_t step, sink *out,
		  s3_err *e, char *trailer, size_t tcap)
{
	s3_chunked *c = s3_chunked_new(a);
	int rc = 0;

	trailer[0] = '\0';
	if (c == NULL)
		return -2;
	for (size_t o = 0; o < n && rc == 0;) {
		size_t m = step < n - o ? step : n - o;
		rc = s3_chunked_feed(c, body + o, m, sink_write, out, e);
		o += m;
	}
	if (rc == 0)
		rc = s3_chunked_finish(c, e);
	if (rc == 0 && s3_chunked_trailer(c))
		snprintf(trailer, tcap, "%s", s3_chunked_trailer(c));
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && !err_ok(e))
		abort();
	/* an error sticks */
	if (rc == -1 && s3_chunked_feed(c, "0\r\n", 3, sink_write, out, e) != -1)
		abort();
	s3_chunked_free(c);
	return rc;
}

static void chunked(const freq *f, const s3_auth *a)
{
	sink one = {0}, many = {0};
	s3_err e1, e2;
	char t1[128], t2[128];
	int r1, r2;
	size_t step = f->step ? f->step : 1 + f->body_len % 7;

	if (a->payload != S3_PAYLOAD_STREAMING)
		return;
	one.cap = many.cap = f->body_len;
	one.p = malloc(f->body_len + 1);
	many.p = malloc(f->body_len + 1);
	if (one.p == NULL || many.p == NULL)
		goto done;
	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = decode(a, f->body, f->body_len, f->body_len ? f->body_len : 1, &one, &e1, t1, sizeof(t1));
	r2 = decode(a, f->body, f->body_len, step, &many, &e2, t2, sizeof(t2));
	if (r1 == -2 || r2 == -2)
		goto done;
	if (r1 != r2 || (r1 != 0 && strcmp(e1.code, e2.code) != 0))
		abort(); /* the piece sizes changed the verdict */
	if (r1 == 0 && (one.n != many.n || memcmp(one.p, many.p, one.n) != 0 ||
			strcmp(t1, t2) != 0 || one.n != a->decoded_length))
		abort();
done:
	free(one.p);
	free(many.p);
}

static void digests(const uint8_t *p, size_t n, size_t step)
{
	for (int k = S3_MD5; k <= S3_CRC64NVME; k++) {
		s3_digest *d = s3_digest_new((s3_digest_kind)k), *d2 = s3_digest_new((s3_digest_kind)k);
		uint8_t a[32], b[32];
		size_t len = s3_digest_len((s3_digest_kind)k);

		if (len == 0 || len > sizeof(a))
			abort();
		if (d && d2) {
			s3_digest_update(d, p, n);
			s3_digest_final(d, a);
			for (size_t o = 0; o < n; o += step)
				s3_digest_update(d2, p + o, step < n - o ? step : n - o);
			s3_digest_final(d2, b);
			if (memcmp(a, b, len) != 0)
				abort();
			/* usable again after a final */
			s3_digest_update(d, p, n);
			s3_digest_final(d, b);
		}
		s3_digest_free(d);
		s3_digest_free(d2);
	}
}

static void decoders(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	long a, b;

	if (out == NULL)
		return;
	a = s3_url_decode(out, n + 1, s, n);
	if (a > (long)n || (a >= 0 && (size_t)a < n + 1 && out[a] != '\0'))
		abort();
	b = s3_query_decode(out, n + 1, s, n);
	if (b > (long)n || (a < 0) != (b < 0) || (a >= 0 && a != b))
		abort(); /* '+' differs only in what it becomes */
	free(out);
}

/* Errors only parsing gives: verify, which parses first, gives them exactly
 * when s3_auth_parse does. */
static bool parse_only(const char *code)
{
	static const char *const codes[] = {"AuthorizationHeaderMalformed",
					    "AuthorizationQueryParametersError",
					    "MissingSecurityHeader", "RequestTimeTooSkewed",
					    "MissingContentLength"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	freq f;
	s3_auth a, v;
	s3_err e;
	s3_digest_kind dk;
	int pr, vr;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	split(&f, text, size);

	decoders(f.r.raw_path);
	decoders(f.r.raw_query);
	for (size_t i = 0; i < f.r.nheaders; i++)
		(void)s3_digest_kind_by_name(&dk, f.h[i].name);
	digests(f.body, f.body_len, f.step ? f.step : 1 + size % 61);

	memset(&e, 0, sizeof(e));
	pr = s3_auth_parse(&f.r, &a, &e);
	if (pr != 0 && (pr != -1 || !err_ok(&e)))
		abort();
	if (pr != 0)
		goto done;
	if (a.payload == S3_PAYLOAD_STREAMING && !a.chunk_signed)
		chunked(&f, &a); /* no signature needed to decode */

	memset(&e, 0, sizeof(e));
	vr = s3_auth_verify(&f.r, &v, FUZZ_SECRET, &e);
	if (vr != 0 && (vr != -1 || !err_ok(&e)))
		abort();
	/* verify parses again: it must not find a parse error parse did not */
	if (vr != 0 && parse_only(e.code))
		abort();
	if (vr != 0 && strcmp(e.code, "SignatureDoesNotMatch") == 0 && a.kind != S3_ANON &&
	    !signs_authorization(&f) && resign(&f, &a, &e)) {
		s3_auth a2;
		memset(&e, 0, sizeof(e));
		if (s3_auth_parse(&f.r, &a2, &e) != 0)
			goto done; /* the new signature changed how it parses (a V2 value) */
		vr = s3_auth_verify(&f.r, &v, FUZZ_SECRET, &e);
		if (vr != 0)
			abort(); /* signed what the server said it signed, still refused */
	}
	if (vr == 0 && v.payload == S3_PAYLOAD_STREAMING)
		chunked(&f, &v);
done:
	free(f.query);
	free(f.auth);
	free(text);
	return 0;
}
