/*
 * filter.c - include/exclude rules for sync (sync.h), with rclone's
 * semantics: rules are tried in order and the first whose pattern matches
 * decides; when none matches, a path is selected unless an include rule
 * exists (then everything not included is left out, as if a final
 * "- **" were there).
 *
 * Patterns match the path relative to the sync root ("a/b/c.bin"):
 *   *      any run of characters except '/'
 *   **     any run of characters, '/' included
 *   ?      one character except '/'
 *   [...]  one character of a set ("[a-z0-9]", "[!.]" for "not a dot")
 *   \c     the character c itself
 * A pattern starting with '/' is anchored at the root; any other matches
 * at any depth ("*.tmp" matches "x.tmp" and "a/b/x.tmp"). A pattern ending
 * in '/' matches everything below a folder ("logs/" is "logs/" followed by "**").
 */
#include "sync_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rule {
	bool include;
	bool anchored;
	char *pat; /* '/'-anchoring and a trailing '/' turned into "**" */
} rule;

struct cairn_filter {
	rule *r;
	size_t n, cap;
	bool any_include;
};

int cairn_filter_new(cairn_filter **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory");
}

void cairn_filter_free(cairn_filter *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->r[i].pat);
	free(f->r);
	free(f);
}

size_t cairn_filter_count(const cairn_filter *f)
{
	return f ? f->n : 0;
}

int cairn_filter_rule(const cairn_filter *f, size_t i, bool *include, const char **pattern)
{
	if (f == NULL || i >= f->n)
		return cairn__error_set(CAIRN_EINVALID, "no filter rule %zu", i);
	*include = f->r[i].include;
	*pattern = f->r[i].pat;
	return 0;
}

/* Does a set "[...]" starting at p close? Its length through ']' or 0. */
static size_t set_len(const char *p)
{
	size_t i = 1;

	if (p[i] == '!' || p[i] == '^')
		i++;
	if (p[i] == ']')
		i++; /* a leading ']' is a member */
	for (; p[i]; i++) {
		if (p[i] == '\\' && p[i + 1])
			i++;
		else if (p[i] == ']')
			return i + 1;
	}
	return 0;
}

int cairn_filter_add(cairn_filter *f, bool include, const char *pattern)
{
	size_t n = pattern ? strlen(pattern) : 0;
	rule r;

	if (n == 0)
		return cairn__error_set(CAIRN_EINVALID, "empty filter pattern");
	if (n > 4096)
		return cairn__error_set(CAIRN_EINVALID, "filter pattern over 4096 bytes");
	for (size_t i = 0; i < n; i++) {
		if (pattern[i] == '\\') {
			if (++i == n)
				return cairn__error_set(CAIRN_EINVALID,
							"filter pattern '%s' ends in a lone '\\'", pattern);
		} else if (pattern[i] == '[') {
			size_t k = set_len(pattern + i);
			if (k == 0)
				return cairn__error_set(CAIRN_EINVALID,
							"filter pattern '%s': '[' without ']'", pattern);
			i += k - 1;
		}
	}
	r.include = include;
	r.anchored = pattern[0] == '/';
	if (r.anchored) {
		pattern++;
		n--;
	}
	/* "dir/" matches what is below dir */
	r.pat = malloc(n + 3);
	if (r.pat == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	memcpy(r.pat, pattern, n + 1);
	if (n > 0 && pattern[n - 1] == '/')
		memcpy(r.pat + n, "**", 3);
	if (f->n == f->cap) {
		size_t ncap = f->cap ? 2 * f->cap : 8;
		rule *nr = realloc(f->r, ncap * sizeof(*nr));
		if (nr == NULL) {
			free(r.pat);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		f->r = nr;
		f->cap = ncap;
	}
	f->r[f->n++] = r;
	f->any_include |= include;
	return 0;
}

int cairn_filter_load(cairn_filter *f, const char *path)
{
	FILE *in = fopen(path, "r");
	char line[4096 + 8]; /* "+ " and a pattern of at most 4096 bytes */
	size_t lineno = 0;
	long got;
	int rc = 0;

	if (in == NULL)
		return cairn__error_set(CAIRN_EIO, "%s: %s", path, strerror(errno));
	while (rc == 0 && (got = cairn__sync_getline(in, line, sizeof(line))) != 0) {
		size_t len = (size_t)got - 1;
		lineno++;
		if (got < 0) {
			rc = cairn__error_set(CAIRN_EINVALID, "%s: line %zu: over 4096 bytes", path,
					      lineno);
			break;
		}
		if (len == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (len < 3 || (line[0] != '+' && line[0] != '-') || line[1] != ' ') {
			rc = cairn__error_set(CAIRN_EINVALID,
					      "%s: line %zu: want '+ PATTERN' or '- PATTERN', got '%s'",
					      path, lineno, line);
			break;
		}
		rc = cairn_filter_add(f, line[0] == '+', line + 2);
		if (rc < 0)
			rc = cairn__error_set(rc, "%s: line %zu: %s", path, lineno, cairn_error_last());
	}
	if (rc == 0 && ferror(in))
		rc = cairn__error_set(CAIRN_EIO, "%s: read error", path);
	fclose(in);
	return rc;
}

/* Does c match the set at p (of length len, "[...]")? */
static bool set_has(const char *p, size_t len, char c)
{
	size_t i = 1, end = len - 1;
	bool neg = false, hit = false;

	if (p[i] == '!' || p[i] == '^') {
		neg = true;
		i++;
	}
	for (bool first = true; i < end; first = false) {
		char lo = p[i], hi;
		if (lo == '\\' && i + 1 < end)
			lo = p[++i];
		else if (lo == ']' && !first)
			break;
		i++;
		hi = lo;
		if (i + 1 < end && p[i] == '-') {
			hi = p[i + 1];
			if (hi == '\\' && i + 2 < end)
				hi = p[i + 2], i++;
			i += 2;
		}
		if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
			hit = true;
	}
	return c != '/' && hit != neg;
}

/*
 * Glob match of pattern p against the whole of s. Iterative with one
 * backtrack point per kind of star, so no pattern is exponential: a '**'
 * retried resets the '*' point, as any later '*' lies after it.
 */
static bool glob(const char *p, const char *s)
{
	const char *star_p = NULL, *star_s = NULL; /* last '*' */
	const char *dstar_p = NULL, *dstar_s = NULL; /* last '**' */

	for (;;) {
		if (*p == '*' && p[1] == '*') {
			while (*p == '*')
				p++;
			dstar_p = p;
			dstar_s = s;
			star_p = NULL;
			continue;
		}
		if (*p == '*') {
			p++;
			star_p = p;
			star_s = s;
			continue;
		}
		if (*s == '\0' && *p == '\0')
			return true;
		if (*s != '\0' && *p != '\0') {
			if (*p == '?' && *s != '/') {
				p++, s++;
				continue;
			}
			if (*p == '[') {
				size_t k = set_len(p);
				if (k && set_has(p, k, *s)) {
					p += k, s++;
					continue;
				}
			} else if (*p == '\\' && p[1] == *s) {
				p += 2, s++;
				continue;
			} else if (*p == *s && *p != '?' && *p != '\\') {
				p++, s++;
				continue;
			}
		}
		/* mismatch: let the last '*' take one more character (not a '/') */
		if (star_p && *star_s != '\0' && *star_s != '/') {
			s = ++star_s;
			p = star_p;
			continue;
		}
		if (dstar_p && *dstar_s != '\0') {
			s = ++dstar_s;
			p = dstar_p;
			star_p = NULL;
			continue;
		}
		return false;
	}
}

static bool rule_matches(const rule *r, const char *path)
{
	if (glob(r->pat, path))
		return true;
	if (r->anchored)
		return false;
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (glob(r->pat, s + 1))
			return true;
	return false;
}

bool cairn_filter_selects(const cairn_filter *f, const char *path)
{
	if (f == NULL)
		return true;
	for (size_t i = 0; i < f->n; i++)
		if (rule_matches(&f->r[i], path))
			return f->r[i].include;
	return !f->any_include;
}
