/*
 * s3_xml.c - XML for the S3 front: answers written, request bodies read
 * (see s3_xml.h). s3.c collects a body whole (up to its ceiling) and hands
 * it here; what comes back is checked as the header says.
 */
#include "s3_xml.h"
#include "route.h" /* cairn__hexv */

#include "cairn/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- writing ---- */

void s3_xb_put(s3_xbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;
		while (cap < b->n + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void s3_xb_str(s3_xbuf *b, const char *s)
{
	s3_xb_put(b, s, strlen(s));
}

void s3_xb_fmt(s3_xbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		s3_xb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Text escaped for XML (the five entities; control characters as numeric references). */
void s3_xb_esc(s3_xbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&': s3_xb_str(b, "&amp;"); break;
		case '<': s3_xb_str(b, "&lt;"); break;
		case '>': s3_xb_str(b, "&gt;"); break;
		case '"': s3_xb_str(b, "&quot;"); break;
		case '\'': s3_xb_str(b, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				s3_xb_fmt(b, "&#x%X;", c);
			else
				s3_xb_put(b, (const char *)&s[i], 1);
		}
	}
}

/* <tag>escaped text</tag> */
void s3_xb_el(s3_xbuf *b, const char *tag, const char *s, size_t n)
{
	s3_xb_fmt(b, "<%s>", tag);
	s3_xb_esc(b, s, n);
	s3_xb_fmt(b, "</%s>", tag);
}

/* S3's URL encoding of a key for encoding-type=url (every byte but unreserved and '/'). */
void s3_xb_urlenc(s3_xbuf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			s3_xb_put(b, (const char *)&s[i], 1);
		} else {
			char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
			s3_xb_put(b, e, 3);
		}
	}
}

/* A key element: escaped, or URL-encoded when the request asked for encoding-type=url. */
void s3_xb_key(s3_xbuf *b, const char *tag, const char *s, size_t n, bool url)
{
	s3_xb_fmt(b, "<%s>", tag);
	if (url)
		s3_xb_urlenc(b, s, n);
	else
		s3_xb_esc(b, s, n);
	s3_xb_fmt(b, "</%s>", tag);
}

/* ---- reading ---- */

void s3_xr_init(s3_xreader *x, const char *doc, size_t n)
{
	memset(x, 0, sizeof(*x));
	x->p = doc ? doc : "";
	x->end = x->p + (doc ? n : 0);
}

static bool decode_entities(s3_xbuf *out, const char *s, size_t n)
{
	out->n = 0;
	if (out->p)
		out->p[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '&') {
			s3_xb_put(out, &s[i], 1);
			continue;
		}
		const char *semi = memchr(s + i, ';', n - i);
		size_t len;
		if (semi == NULL)
			return false;
		len = (size_t)(semi - (s + i)) + 1;
		if (len == 5 && memcmp(s + i, "&amp;", 5) == 0)
			s3_xb_str(out, "&");
		else if (len == 4 && memcmp(s + i, "&lt;", 4) == 0)
			s3_xb_str(out, "<");
		else if (len == 4 && memcmp(s + i, "&gt;", 4) == 0)
			s3_xb_str(out, ">");
		else if (len == 6 && memcmp(s + i, "&quot;", 6) == 0)
			s3_xb_str(out, "\"");
		else if (len == 6 && memcmp(s + i, "&apos;", 6) == 0)
			s3_xb_str(out, "'");
		else if (len > 3 && s[i + 1] == '#') {
			char num[16];
			unsigned long cp;
			char *e;
			if (len - 3 >= sizeof(num))
				return false;
			memcpy(num, s + i + 2, len - 3);
			num[len - 3] = '\0';
			cp = num[0] == 'x' ? strtoul(num + 1, &e, 16) : strtoul(num, &e, 10);
			if (*e != '\0' || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				return false;
			{
				char u[4];
				size_t k;
				if (cp < 0x80)
					u[0] = (char)cp, k = 1;
				else if (cp < 0x800)
					u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), k = 2;
				else if (cp < 0x10000)
					u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)),
					u[2] = (char)(0x80 | (cp & 63)), k = 3;
				else
					u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
					u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)),
					k = 4;
				s3_xb_put(out, u, k);
			}
		} else {
			return false;
		}
		i += len - 1;
	}
	if (out->p == NULL)
		s3_xb_put(out, "", 0);
	return !out->oom;
}

s3_xtok s3_xr_next(s3_xreader *x)
{
	if (x->pending_close) {
		x->pending_close = false;
		x->depth--;
		return S3_X_CLOSE; /* x->name still names it */
	}
	for (;;) {
		const char *lt;
		if (x->p >= x->end)
			return x->depth == 0 ? S3_X_END : S3_X_ERR; /* an element left open */
		if (*x->p != '<') {
			lt = memchr(x->p, '<', (size_t)(x->end - x->p));
			if (lt == NULL)
				lt = x->end;
			if (!decode_entities(&x->text, x->p, (size_t)(lt - x->p)))
				return S3_X_ERR;
			x->p = lt;
			return S3_X_TEXT;
		}
		if (x->end - x->p >= 4 && memcmp(x->p, "<!--", 4) == 0) {
			/* the body is no C string: nothing may be read past its end */
			const char *e = memmem(x->p + 4, (size_t)(x->end - x->p) - 4, "-->", 3);
			if (e == NULL)
				return S3_X_ERR;
			x->p = e + 3;
			continue;
		}
		if (x->end - x->p >= 2 && (x->p[1] == '?' || x->p[1] == '!')) {
			const char *e = memchr(x->p, '>', (size_t)(x->end - x->p));
			if (e == NULL)
				return S3_X_ERR;
			x->p = e + 1;
			continue;
		}
		{
			const char *gt = memchr(x->p, '>', (size_t)(x->end - x->p));
			const char *n = x->p + 1;
			bool close = false, selfclose;
			size_t len = 0;
			char *colon;
			if (gt == NULL)
				return S3_X_ERR;
			if (*n == '/')
				close = true, n++;
			selfclose = gt > n && gt[-1] == '/';
			while (n + len < gt && n[len] != ' ' && n[len] != '\t' && n[len] != '\r' &&
			       n[len] != '\n' && n[len] != '/')
				len++;
			if (len == 0 || len >= sizeof(x->name) || memchr(n, '\0', len) != NULL)
				return S3_X_ERR;
			/* an end tag closes the element open last, of the same name */
			if (close) {
				if (x->depth == 0 || strlen(x->open[x->depth - 1]) != len ||
				    memcmp(x->open[x->depth - 1], n, len) != 0)
					return S3_X_ERR;
				x->depth--;
			} else {
				if (x->depth == S3_XML_DEPTH)
					return S3_X_ERR;
				memcpy(x->open[x->depth], n, len);
				x->open[x->depth][len] = '\0';
				x->depth++;
			}
			memcpy(x->name, n, len);
			x->name[len] = '\0';
			/* an element's namespace prefix does not matter here; its name does */
			if ((colon = strchr(x->name, ':')) != NULL) {
				if (colon[1] == '\0')
					return S3_X_ERR;
				memmove(x->name, colon + 1, strlen(colon + 1) + 1);
			}
			x->p = gt + 1;
			/* <a/>: an empty element, opened now and closed at the next call */
			x->pending_close = selfclose && !close;
			return close ? S3_X_CLOSE : S3_X_OPEN;
		}
	}
}

/* ---- the request bodies ---- */

bool s3_xml_ok(const char *doc, size_t n)
{
	s3_xreader x;
	s3_xtok t;

	s3_xr_init(&x, doc, n);
	while ((t = s3_xr_next(&x)) != S3_X_END && t != S3_X_ERR)
		;
	free(x.text.p);
	return t != S3_X_ERR;
}

int s3_delete_parse(const char *doc, size_t n, s3_delete *d)
{
	s3_xreader x;
	s3_xtok t;
	bool in_object = false, in_key = false, in_quiet = false;
	size_t key_at = 0, key_len = 0, count = 0, cap = 0;
	int depth = 0, rc = 0;

	memset(d, 0, sizeof(*d));
	s3_xr_init(&x, doc, n);
	/*
	 * A first pass checks the document, counts, and finds <Quiet> (which
	 * clients send after the objects), so nothing is deleted from a bad one.
	 */
	while ((t = s3_xr_next(&x)) != S3_X_END && t != S3_X_ERR) {
		if (t == S3_X_OPEN) {
			depth++, count += strcmp(x.name, "Object") == 0;
			in_quiet = depth == 2 && strcmp(x.name, "Quiet") == 0;
		} else if (t == S3_X_TEXT && in_quiet) {
			d->quiet = x.text.n == 4 && strncasecmp(x.text.p, "true", 4) == 0;
		} else if (t == S3_X_CLOSE) {
			depth--;
			in_quiet = false;
		}
		if (depth < 0)
			t = S3_X_ERR;
	}
	if (t == S3_X_ERR || depth != 0 || count == 0 || count > S3_DELETE_MAX) {
		free(x.text.p);
		return count > S3_DELETE_MAX ? CAIRN_ETOOBIG : CAIRN_EINVALID;
	}
	free(x.text.p);
	s3_xr_init(&x, doc, n); /* the second pass, from the top */
	while (rc == 0 && (t = s3_xr_next(&x)) != S3_X_END) {
		if (t == S3_X_ERR) {
			rc = CAIRN_ENOMEM; /* it read once: only memory can fail now */
		} else if (t == S3_X_OPEN) {
			if (strcmp(x.name, "Object") == 0)
				in_object = true, key_len = 0;
			in_key = in_object && strcmp(x.name, "Key") == 0;
		} else if (t == S3_X_TEXT) {
			if (in_key && x.text.n <= CAIRN_KEY_MAX) {
				key_at = d->keys.n;
				key_len = x.text.n;
				s3_xb_put(&d->keys, x.text.p, x.text.n);
				if (d->keys.oom)
					rc = CAIRN_ENOMEM;
			}
		} else if (t == S3_X_CLOSE) {
			in_key = false;
			if (strcmp(x.name, "Object") == 0 && in_object) {
				in_object = false;
				if (d->n == cap) {
					size_t ncap = cap ? 2 * cap : 16;
					struct s3_delete_obj *no = realloc(d->obj, ncap * sizeof(*no));
					if (no == NULL) {
						rc = CAIRN_ENOMEM;
						break;
					}
					d->obj = no;
					cap = ncap;
				}
				d->obj[d->n].at = key_len ? key_at : 0;
				d->obj[d->n].len = key_len;
				d->n++;
			}
		}
	}
	free(x.text.p);
	return rc;
}

void s3_delete_free(s3_delete *d)
{
	free(d->obj);
	free(d->keys.p);
	memset(d, 0, sizeof(*d));
}

/* An ETag as a client sends it back ("hex", hex, &quot;hex&quot; decoded already) into md5. */
static bool etag_md5(const char *s, size_t n, uint8_t out[16])
{
	while (n > 0 && (*s == '"' || *s == ' '))
		s++, n--;
	while (n > 0 && (s[n - 1] == '"' || s[n - 1] == ' '))
		n--;
	if (n != 32)
		return false;
	for (size_t i = 0; i < 16; i++) {
		int hi = cairn__hexv(s[2 * i]), lo = cairn__hexv(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false; /* sscanf's %2x took " f", "+f" and "-1" */
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int s3_complete_parse(const char *doc, size_t n, cairn_mpu_want **out, size_t *count)
{
	cairn_mpu_want *want = NULL, cur;
	size_t k = 0, cap = 0;
	bool in_part = false, has_num = false, has_etag = false;
	const char *field = "";
	s3_xreader x;
	s3_xtok t;

	s3_xr_init(&x, doc, n);
	memset(&cur, 0, sizeof(cur));
	while ((t = s3_xr_next(&x)) != S3_X_END && t != S3_X_ERR) {
		if (t == S3_X_OPEN) {
			if (strcmp(x.name, "Part") == 0)
				in_part = true, has_num = has_etag = false;
			field = x.name;
		} else if (t == S3_X_TEXT && in_part) {
			if (strcmp(field, "PartNumber") == 0) {
				char num[16];
				char *e;
				long v;
				if (x.text.n == 0 || x.text.n >= sizeof(num)) {
					t = S3_X_ERR;
					break;
				}
				memcpy(num, x.text.p, x.text.n);
				num[x.text.n] = '\0';
				v = strtol(num, &e, 10);
				if (*e != '\0' || v < 1 || v > CAIRN_MPU_PARTS_MAX) {
					t = S3_X_ERR;
					break;
				}
				cur.number = (unsigned)v;
				has_num = true;
			} else if (strcmp(field, "ETag") == 0) {
				if (!etag_md5(x.text.p, x.text.n, cur.md5)) {
					free(x.text.p);
					free(want);
					return CAIRN_ENOTFOUND;
				}
				has_etag = true;
			}
		} else if (t == S3_X_CLOSE) {
			field = "";
			if (strcmp(x.name, "Part") == 0 && in_part) {
				in_part = false;
				if (!has_num || !has_etag || k >= CAIRN_MPU_PARTS_MAX) {
					t = S3_X_ERR;
					break;
				}
				if (k == cap) {
					size_t ncap = cap ? 2 * cap : 64;
					cairn_mpu_want *nw = realloc(want, ncap * sizeof(*nw));
					if (nw == NULL) {
						t = S3_X_ERR;
						break;
					}
					want = nw;
					cap = ncap;
				}
				want[k++] = cur;
			}
		}
	}
	free(x.text.p);
	if (t == S3_X_ERR || k == 0) {
		free(want);
		return CAIRN_EINVALID;
	}
	*out = want;
	*count = k;
	return 0;
}

int s3_acl_public(const char *doc, size_t n, const char *owner_ns)
{
	s3_xreader x;
	s3_xtok t;
	char field[64] = "";
	bool in_grant = false, all_users = false, owner = false, read = false;
	int pub = 0;

	s3_xr_init(&x, doc, n);
	while (pub >= 0 && (t = s3_xr_next(&x)) != S3_X_END) {
		if (t == S3_X_ERR) {
			pub = -1;
		} else if (t == S3_X_OPEN) {
			snprintf(field, sizeof(field), "%s", x.name);
			if (strcmp(x.name, "Grant") == 0)
				in_grant = true, all_users = owner = read = false;
		} else if (t == S3_X_TEXT && in_grant) {
			if (strcmp(field, "URI") == 0)
				all_users = x.text.n >= 9 &&
					    memcmp(x.text.p + x.text.n - 9, "/AllUsers", 9) == 0;
			else if (strcmp(field, "ID") == 0)
				owner = x.text.n == strlen(owner_ns) &&
					memcmp(x.text.p, owner_ns, x.text.n) == 0;
			else if (strcmp(field, "Permission") == 0)
				read = x.text.n == 4 && memcmp(x.text.p, "READ", 4) == 0;
		} else if (t == S3_X_CLOSE) {
			field[0] = '\0';
			if (strcmp(x.name, "Grant") == 0 && in_grant) {
				in_grant = false;
				if (all_users && read)
					pub = 1;
				else if (!owner)
					pub = -1;
			}
		}
	}
	free(x.text.p);
	return pub;
}

