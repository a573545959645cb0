/*
 * markdown_check.h - what the Markdown renderer's output (server/markdown.c)
 * must be whatever the input: only its own tags and attributes, every '&'
 * a known entity, hrefs http(s), mailto or relative once decoded, tags
 * balanced with no link in a link, valid UTF-8 without NUL or controls.
 * html_ok(html, &why): 1, or 0 with why; shared by tests/test_markdown.c
 * and the fuzz target tests/fuzz/fuzz_markdown.c.
 */
#ifndef CAIRN_TEST_MARKDOWN_CHECK_H
#define CAIRN_TEST_MARKDOWN_CHECK_H

#include <stdlib.h>
#include <string.h>

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

#endif
