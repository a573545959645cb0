/*
 * fuzz_markdown.c - libFuzzer target for the README renderer
 * (server/markdown.h, compiled in as test_markdown does: a pure module).
 * Built as a fuzzer with clang and -DCAIRN_FUZZ=ON; replay.c feeds it the
 * stored corpus as an ordinary test with any compiler.
 *
 * The input is a README, any bytes, rendered by cairn__markdown_html into
 * an open_memstream. Besides the sanitizers (and libFuzzer's timeout: the
 * renderer promises linear work), the target aborts unless the output is
 * what markdown.h promises for untrusted input: rendering succeeds; the
 * output is UTF-8 text without NUL, C0 controls but tab and LF, or DEL;
 * every '<' opens one of the renderer's own tags (h2..h6 p ul ol li pre
 * code em strong a blockquote hr) with only its own attributes, so no
 * "<script", "<img" or "<!--" ever gets through; every '&' starts one of
 * the five entities it writes, and no '>', '"' or '\'' stands bare in text;
 * each href, read as a browser decodes the attribute, is http, https,
 * mailto or scheme-less, so no "javascript:" or "data:" link; tags are
 * balanced, no link sits inside a link, nesting stays under 64; and the
 * output is at most FUZZ_GROWTH times the input plus a constant. The
 * output checker is test_markdown.c's, so the two agree on the promise.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_markdown
 *   mkdir -p /tmp/markdown-corpus
 *   build-fuzz/tests/fuzz_markdown -dict=tests/fuzz/markdown.dict -max_len=4096
 *       -max_total_time=600 /tmp/markdown-corpus tests/fuzz/corpus/markdown
 */
#include "markdown.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output bytes per input byte, at most (escapes, U+FFFD and a line's tags). */
#define FUZZ_GROWTH 64

/* ---- the output checker (tests/test_markdown.c's) ---- */

static const char *const TAGS[] = { "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol",
				    "li", "pre", "code", "em", "strong", "a", "blockquote",
				    "hr" };
static const char *const ENTITIES[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };

static size_t entity_at(const char *p)
{
	for (size_t i = 0; i < sizeof ENTITIES / sizeof *ENTITIES; i++)
		if (strncmp(p, ENTITIES[i], strlen(ENTITIES[i])) == 0)
			return strlen(ENTITIES[i]);
	return 0;
}

/* An attribute value as a browser reads it (our five entities decoded). */
static void decode(const char *v, size_t n, char *out)
{
	static const char plain[] = "&<>\"'";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		size_t e = v[i] == '&' ? entity_at(v + i) : 0;
		for (size_t k = 0; e && k < 5; k++)
			if (strncmp(v + i, ENTITIES[k], e) == 0)
				out[o++] = plain[k];
		if (e)
			i += e - 1;
		else
			out[o++] = v[i];
	}
	out[o] = 0;
}

static int href_safe(const char *u)
{
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	size_t k = strcspn(u, ":/?#");
	if (u[k] != ':')
		return 1;
	return (k == 4 && strncasecmp(u, "http", 4) == 0) ||
	       (k == 5 && strncasecmp(u, "https", 5) == 0) ||
	       (k == 6 && strncasecmp(u, "mailto", 6) == 0);
}

static int utf8_ok(const unsigned char *p)
{
	while (*p) {
		size_t k = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
					   (*p & 0xf8) == 0xf0 ? 4 : 0;
		if (k == 0 || (k == 1 && *p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return 0;
		uint32_t cp = k == 1 ? *p : *p & (0x7f >> k);
		for (size_t j = 1; j < k; j++) {
			if ((p[j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += k;
	}
	return 1;
}

/* 1 if html is what the renderer may write; else 0 and *why. */
static int html_ok(const char *html, const char **why)
{
	const char *stack[64];
	size_t depth = 0, in_a = 0;
	const char *p = html;

	if (!utf8_ok((const unsigned char *)html))
		return *why = "not UTF-8 text", 0;
	while (*p) {
		if (*p == '&') {
			if (entity_at(p) == 0)
				return *why = "a bare &", 0;
			p++;
			continue;
		}
		if (*p == '>' || *p == '"' || *p == '\'')
			return *why = "an unescaped > \" or ' in text", 0;
		if (*p != '<') {
			p++;
			continue;
		}
		int closing = *++p == '/';
		p += closing;
		size_t nl = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789"), t;
		for (t = 0; t < sizeof TAGS / sizeof *TAGS; t++)
			if (strlen(TAGS[t]) == nl && strncmp(p, TAGS[t], nl) == 0)
				break;
		if (t == sizeof TAGS / sizeof *TAGS)
			return *why = "a tag not ours", 0;
		const char *name = TAGS[t];
		p += nl;
		int href = 0;
		while (!closing && *p == ' ') { /* name="value" */
			p++;
			size_t an = strspn(p, "abcdefghijklmnopqrstuvwxyz");
			char attr[16], *val;
			if (an == 0 || an >= sizeof attr || p[an] != '=' || p[an + 1] != '"')
				return *why = "a malformed attribute", 0;
			memcpy(attr, p, an);
			attr[an] = 0;
			p += an + 2;
			size_t vn = strcspn(p, "\"<>");
			if (p[vn] != '"')
				return *why = "an attribute value not closed", 0;
			for (size_t i = 0; i < vn; i++)
				if (p[i] == '&' && entity_at(p + i) == 0)
					return *why = "a bare & in an attribute", 0;
			/* (test_markdown.c's is a fixed buffer; any length here) */
			if ((val = malloc(vn + 1)) == NULL)
				return *why = NULL, 1;
			decode(p, vn, val);
			p += vn + 1;
			*why = NULL;
			if (strcmp(name, "a") == 0 && strcmp(attr, "href") == 0) {
				if (!href_safe(val))
					*why = "an unsafe href";
				href = 1;
			} else if (strcmp(name, "a") == 0 && strcmp(attr, "rel") == 0) {
				if (strcmp(val, "nofollow noopener noreferrer") != 0)
					*why = "another rel";
			} else if (strcmp(name, "a") == 0 && strcmp(attr, "title") == 0) {
			} else if (strcmp(name, "ol") == 0 && strcmp(attr, "start") == 0) {
				if (val[0] == 0 || val[strspn(val, "0123456789")] != 0)
					*why = "a start not a number";
			} else if (strcmp(name, "code") == 0 && strcmp(attr, "class") == 0) {
				size_t ln = strlen(val) - 9;
				if (strncmp(val, "language-", 9) != 0 || ln < 1 || ln > 32 ||
				    strspn(val + 9, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						    "0123456789_+-") != ln)
					*why = "a bad class";
			} else {
				*why = "an attribute not ours";
			}
			free(val);
			if (*why != NULL)
				return 0;
		}
		if (*p++ != '>')
			return *why = "a tag not closed", 0;
		if (strcmp(name, "a") == 0 && !closing && !href)
			return *why = "a link without href", 0;
		if (strcmp(name, "hr") == 0) {
			if (closing)
				return *why = "</hr>", 0;
			continue;
		}
		if (closing) {
			if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
				return *why = "a closing tag that does not match", 0;
			depth--;
			in_a -= strcmp(name, "a") == 0;
		} else {
			if (depth == sizeof stack / sizeof *stack)
				return *why = "tags nested too deep", 0;
			if (strcmp(name, "a") == 0 && in_a++)
				return *why = "a link inside a link", 0;
			stack[depth++] = name;
		}
	}
	if (depth != 0)
		return *why = "tags left open", 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *html = NULL;
	size_t len = 0;
	const char *why = NULL;
	FILE *out = open_memstream(&html, &len);
	int rc;

	if (out == NULL)
		return 0;
	rc = cairn__markdown_html(out, (const char *)data, size);
	if (fclose(out) != 0 || html == NULL)
		abort();
	if (rc != 0) {
		fprintf(stderr, "fuzz_markdown: render failed: %d\n", rc);
		abort();
	}
	if (strlen(html) != len) {
		fprintf(stderr, "fuzz_markdown: NUL in the output\n");
		abort();
	}
	if (len > FUZZ_GROWTH * size + 256) {
		fprintf(stderr, "fuzz_markdown: %zu bytes out of %zu in\n", len, size);
		abort();
	}
	if (!html_ok(html, &why)) {
		fprintf(stderr, "fuzz_markdown: %s in:\n%s\n", why, html);
		abort();
	}
	free(html);
	return 0;
}
