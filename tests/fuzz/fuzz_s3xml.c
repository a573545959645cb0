/*
 * fuzz_s3xml.c - libFuzzer target for the XML request bodies of the S3
 * front (server/s3_xml.h, compiled in: a pure module): the reader, and
 * DeleteObjects, CompleteMultipartUpload, AccessControlPolicy and
 * CreateBucketConfiguration bodies. Built as a fuzzer with clang and
 * -DCAIRN_FUZZ=ON; replay.c feeds it the stored corpus as an ordinary
 * test with any compiler.
 *
 * The input is the body, given to each parser in a buffer of exactly its
 * size (no NUL after it: a read past the end is a sanitizer report).
 * Besides the sanitizers, the target aborts unless:
 *  - the reader: every token is one of five, a name is 1 to 63 bytes
 *    without '>', '/' or white space, a text is never empty, elements nest
 *    (each end tag closes the element opened last, none is left open at
 *    X_END), and the walk ends (X_END or X_ERR, then again the same);
 *    s3_xml_ok agrees with it;
 *  - DeleteObjects: a body the reader refuses is refused; one read holds
 *    1 to S3_DELETE_MAX objects, each key at most CAIRN_KEY_MAX bytes and
 *    within the parsed keys; the objects, written back as a DeleteObjects
 *    body with the front's own escaping (s3_xb_el), read back the same,
 *    with the same Quiet;
 *  - CompleteMultipartUpload: a body the reader refuses is refused; one
 *    read holds 1 to CAIRN_MPU_PARTS_MAX parts numbered 1 to
 *    CAIRN_MPU_PARTS_MAX, every ETag in a part was an MD5 in hex (quotes
 *    and spaces around it aside), and the parts, written back, read back
 *    the same;
 *  - AccessControlPolicy: 1, 0 or -1, and -1 for a body the reader refuses;
 *  - escaping: any text without NUL (a slice of the input) escaped by
 *    s3_xb_esc reads back as itself.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_s3xml
 *   mkdir -p /tmp/s3xml-corpus
 *   build-fuzz/tests/fuzz_s3xml -dict=tests/fuzz/s3xml.dict -max_len=8192
 *       -max_total_time=600 /tmp/s3xml-corpus tests/fuzz/corpus/s3xml
 */
#include "s3_xml.h"

#include "cairn/errors.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_s3xml: %s\n", what);
		abort();
	}
}

/* The whole walk; whether it ended without an error. */
static bool walk(const char *doc, size_t n)
{
	s3_xreader x;
	s3_xtok t;
	size_t steps = 0, depth = 0;
	char open[S3_XML_DEPTH][64];

	s3_xr_init(&x, doc, n);
	while ((t = s3_xr_next(&x)) != S3_X_END && t != S3_X_ERR) {
		check(t == S3_X_OPEN || t == S3_X_CLOSE || t == S3_X_TEXT, "a token out of range");
		if (t == S3_X_TEXT) {
			check(x.text.n > 0 && x.text.p != NULL && x.text.p[x.text.n] == '\0',
			      "an empty or unterminated text");
		} else {
			size_t nl = strlen(x.name);
			check(nl >= 1 && nl < sizeof(x.name) &&
				      strpbrk(x.name, ">/ \t\r\n") == NULL,
			      "a bad element name");
		}
		/* elements nest: each end closes the one opened last */
		if (t == S3_X_OPEN) {
			check(depth < S3_XML_DEPTH, "elements nested too deep");
			memcpy(open[depth++], x.name, sizeof(x.name));
		} else if (t == S3_X_CLOSE) {
			check(depth > 0 && strcmp(open[depth - 1], x.name) == 0,
			      "an end tag that closes another element");
			depth--;
		}
		/* each token takes a byte at least, but <a/> gives two */
		check(++steps <= 2 * n + 2, "a walk that does not end");
	}
	check(t == S3_X_ERR || depth == 0, "an element left open at the end");
	check(s3_xr_next(&x) == t || t == S3_X_ERR, "a walk that goes on after its end");
	free(x.text.p);
	return t == S3_X_END;
}

/* What the reader makes of text, or NULL when it is refused; *len its length. */
static char *read_text(const char *doc, size_t n, size_t *len)
{
	s3_xreader x;
	s3_xtok t;
	char *out = NULL;

	s3_xr_init(&x, doc, n);
	*len = 0;
	while ((t = s3_xr_next(&x)) == S3_X_OPEN || t == S3_X_CLOSE || t == S3_X_TEXT) {
		if (t == S3_X_TEXT && out == NULL) {
			out = malloc(x.text.n + 1);
			if (out == NULL)
				abort();
			memcpy(out, x.text.p, x.text.n + 1);
			*len = x.text.n;
		}
	}
	free(x.text.p);
	if (t == S3_X_ERR) {
		free(out);
		return NULL;
	}
	return out ? out : calloc(1, 1);
}

/* Escaped by the front's writer, s[0, n) reads back as itself. */
static void escaping(const char *s, size_t n)
{
	s3_xbuf b = {0};
	size_t got;
	char *back;

	if (n == 0 || memchr(s, '\0', n) != NULL)
		return;
	s3_xb_el(&b, "Key", s, n);
	if (b.oom) {
		free(b.p);
		return;
	}
	back = read_text(b.p, b.n, &got);
	check(back != NULL && got == n && memcmp(back, s, n) == 0, "escaped text does not read back");
	free(back);
	free(b.p);
}

static void deletes(const char *doc, size_t n, bool ok)
{
	s3_delete d, d2;
	s3_xbuf b = {0};
	int rc = s3_delete_parse(doc, n, &d), rc2;

	check(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ETOOBIG || rc == CAIRN_ENOMEM,
	      "DeleteObjects: an error out of range");
	if (!ok)
		check(rc != 0, "DeleteObjects: a body the reader refuses was read");
	if (rc != 0) {
		s3_delete_free(&d);
		return;
	}
	check(d.n >= 1 && d.n <= S3_DELETE_MAX, "DeleteObjects: the number of objects");
	s3_xb_str(&b, "<?xml version=\"1.0\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < d.n; i++) {
		check(d.obj[i].len <= CAIRN_KEY_MAX, "DeleteObjects: a key too long");
		check(d.obj[i].len == 0 || d.obj[i].at + d.obj[i].len <= d.keys.n,
		      "DeleteObjects: a key outside the keys");
		s3_xb_str(&b, "<Object>");
		if (d.obj[i].len > 0 && memchr(d.keys.p + d.obj[i].at, '\0', d.obj[i].len) == NULL)
			s3_xb_el(&b, "Key", d.keys.p + d.obj[i].at, d.obj[i].len);
		s3_xb_str(&b, "</Object>");
	}
	s3_xb_fmt(&b, "<Quiet>%s</Quiet></Delete>", d.quiet ? "true" : "false");
	if (b.oom)
		goto done;
	rc2 = s3_delete_parse(b.p, b.n, &d2);
	check(rc2 == 0 || rc2 == CAIRN_ENOMEM, "DeleteObjects: written back, it does not read");
	if (rc2 == 0) {
		check(d2.n == d.n && d2.quiet == d.quiet, "DeleteObjects: read back, other objects");
		for (size_t i = 0; i < d.n; i++) {
			const char *k = d.obj[i].len ? d.keys.p + d.obj[i].at : "";
			size_t kl = d.obj[i].len;
			if (kl > 0 && memchr(k, '\0', kl) != NULL)
				kl = 0; /* written without its key */
			check(d2.obj[i].len == kl &&
				      (kl == 0 || memcmp(d2.keys.p + d2.obj[i].at, k, kl) == 0),
			      "DeleteObjects: read back, another key");
		}
	}
	s3_delete_free(&d2);
done:
	free(b.p);
	s3_delete_free(&d);
}

static bool md5_text_ok(const char *s, size_t n)
{
	while (n > 0 && (*s == '"' || *s == ' '))
		s++, n--;
	while (n > 0 && (s[n - 1] == '"' || s[n - 1] == ' '))
		n--;
	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF", s[i]) == NULL || s[i] == '\0')
			return false;
	return true;
}

/* Every ETag text inside a Part, as the parser sees the document, is an MD5 in hex. */
static bool etags_ok(const char *doc, size_t n)
{
	s3_xreader x;
	s3_xtok t;
	bool in_part = false, in_etag = false, ok = true;

	s3_xr_init(&x, doc, n);
	while ((t = s3_xr_next(&x)) != S3_X_END && t != S3_X_ERR) {
		if (t == S3_X_OPEN) {
			in_part |= strcmp(x.name, "Part") == 0;
			in_etag = strcmp(x.name, "ETag") == 0;
		} else if (t == S3_X_CLOSE) {
			if (strcmp(x.name, "Part") == 0)
				in_part = false;
			in_etag = false;
		} else if (in_part && in_etag) {
			ok &= md5_text_ok(x.text.p, x.text.n);
		}
	}
	free(x.text.p);
	return ok;
}

static void completes(const char *doc, size_t n, bool ok)
{
	static const char hexd[] = "0123456789abcdef";
	cairn_mpu_want *want = NULL, *want2 = NULL;
	size_t k = 0, k2 = 0;
	s3_xbuf b = {0};
	int rc = s3_complete_parse(doc, n, &want, &k), rc2;

	check(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ENOTFOUND,
	      "CompleteMultipartUpload: an error out of range");
	if (!ok)
		check(rc != 0, "CompleteMultipartUpload: a body the reader refuses was read");
	if (rc != 0)
		return;
	check(k >= 1 && k <= CAIRN_MPU_PARTS_MAX, "CompleteMultipartUpload: the number of parts");
	check(etags_ok(doc, n), "CompleteMultipartUpload: an ETag that is not an MD5 taken");
	s3_xb_str(&b, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < k; i++) {
		char hex[33];
		check(want[i].number >= 1 && want[i].number <= CAIRN_MPU_PARTS_MAX,
		      "CompleteMultipartUpload: a part number out of range");
		for (size_t j = 0; j < 16; j++) {
			hex[2 * j] = hexd[want[i].md5[j] >> 4];
			hex[2 * j + 1] = hexd[want[i].md5[j] & 15];
		}
		hex[32] = '\0';
		s3_xb_fmt(&b, "<Part><PartNumber>%u</PartNumber><ETag>&quot;%s&quot;</ETag></Part>",
			  want[i].number, hex);
	}
	s3_xb_str(&b, "</CompleteMultipartUpload>");
	if (!b.oom) {
		rc2 = s3_complete_parse(b.p, b.n, &want2, &k2);
		check(rc2 == 0 && k2 == k && memcmp(want, want2, k * sizeof(*want)) == 0,
		      "CompleteMultipartUpload: written back, it reads otherwise");
	}
	free(b.p);
	free(want);
	free(want2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = malloc(size ? size : 1);
	bool ok;
	int pub;

	if (doc == NULL)
		return 0;
	memcpy(doc, data, size);
	ok = walk(doc, size);
	check(s3_xml_ok(doc, size) == ok, "s3_xml_ok and the walk disagree");
	check(s3_xml_ok(NULL, 0), "no body is a bad body");
	deletes(doc, size, ok);
	completes(doc, size, ok);
	pub = s3_acl_public(doc, size, "alice");
	check(pub >= -1 && pub <= 1 && (ok || pub == -1), "AccessControlPolicy: a bad answer");
	/* the input's text, and each slice of it between '<'s, through the writer */
	escaping(doc, size < 2048 ? size : 2048);
	for (size_t i = 0, start = 0; i <= size; i++)
		if (i == size || doc[i] == '<') {
			escaping(doc + start, i - start);
			start = i + 1;
		}
	free(doc);
	return 0;
}
