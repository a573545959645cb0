/*
 * walk.c - the sides of a sync: parsing roots, and listing a local tree
 * (symbolic links followed, loops refused, unreadable entries reported by
 * name while the rest goes on).
 */
#include "sync_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEME "cairn://buckets/"
#define DEPTH_MAX 256

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CAIRN_CLIENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (i > 0 && (c == '.' || c == '_' || c == '-'))))
			return false;
	}
	return true;
}

int cairn__sync_root_parse(sync_root *r, const char *s)
{
	const char *p, *slash;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (strncmp(s, "cairn://", 8) == 0 && strncmp(s, SCHEME, strlen(SCHEME)) != 0)
		return cairn__error_set(CAIRN_EINVALID, "'%s': a bucket path is "
							"cairn://buckets/NS/NAME[/FOLDER]",
					s);
	if (strncmp(s, SCHEME, strlen(SCHEME)) != 0) {
		n = strlen(s);
		if (n == 0)
			return cairn__error_set(CAIRN_EINVALID, "empty local path");
		while (n > 1 && s[n - 1] == '/')
			n--; /* "dir/" and "dir" are the same folder */
		r->dir = strndup(s, n);
		return r->dir ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	r->remote = true;
	p = s + strlen(SCHEME);
	slash = strchr(p, '/');
	if (slash == NULL || !name_ok(p, (size_t)(slash - p)))
		return cairn__error_set(CAIRN_EINVALID, "'%s': want cairn://buckets/NS/NAME[/FOLDER]",
					s);
	memcpy(r->ns, p, (size_t)(slash - p));
	p = slash + 1;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (!name_ok(p, n))
		return cairn__error_set(CAIRN_EINVALID, "'%s': want cairn://buckets/NS/NAME[/FOLDER]",
					s);
	memcpy(r->name, p, n);
	p = slash ? slash + 1 : p + n;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	r->prefix = strndup(p, n);
	if (r->prefix == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	if (n > 0 && !cairn__sync_path_ok(r->prefix))
		return cairn__error_set(CAIRN_EINVALID, "'%s': bad folder (empty, '.' or '..' parts)",
					s);
	return 0;
}

void cairn__sync_root_free(sync_root *r)
{
	free(r->dir);
	free(r->prefix);
	memset(r, 0, sizeof(*r));
}

static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 2);

	if (s == NULL)
		return NULL;
	memcpy(s, a, na);
	s[na] = '/';
	memcpy(s + na + 1, b, nb + 1);
	if (na == 0)
		memmove(s, s + 1, nb + 1);
	return s;
}

char *cairn__sync_key(const sync_root *r, const char *rel)
{
	return join(r->prefix ? r->prefix : "", rel);
}

char *cairn__sync_local(const sync_root *r, const char *rel)
{
	return join(r->dir, rel);
}

bool cairn__sync_path_ok(const char *s)
{
	return s != NULL && cairn_key_valid(s, strlen(s));
}

int cairn__sync_note(cairn_sync_plan *p, bool warning, const char *fmt, ...)
{
	char ***list = warning ? &p->warnings : &p->errors;
	size_t *n = warning ? &p->nwarnings : &p->nerrors;
	char **grown, *line = NULL;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (grown == NULL) {
		free(line);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	*list = grown;
	(*list)[(*n)++] = line;
	return 0;
}

long cairn__sync_getline(FILE *in, char *buf, size_t cap)
{
	size_t n;
	int ch = 0;

	if (fgets(buf, (int)cap, in) == NULL)
		return 0;
	n = strlen(buf);
	if (n + 1 == cap && buf[n - 1] != '\n') {
		/* longer than cap: skip the rest of it, say so */
		while ((ch = fgetc(in)) != EOF && ch != '\n')
			;
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return (long)n + 1;
}

void cairn__sync_list_free(sync_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].path);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static int list_push(sync_list *l, const char *rel, const struct stat *st)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 256;
		sync_entry *ne = realloc(l->e, ncap * sizeof(*ne));
		if (ne == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		l->e = ne;
		l->cap = ncap;
	}
	memset(&l->e[l->n], 0, sizeof(l->e[0]));
	l->e[l->n].path = strdup(rel);
	if (l->e[l->n].path == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	l->e[l->n].size = (uint64_t)st->st_size;
	l->e[l->n].mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	l->n++;
	return 0;
}

/* Valid UTF-8 (what a bucket key must be), checked by hand: no surrogates, no overlongs. */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
		unsigned cp;
		if (k < 0)
			return false;
		cp = k == 0 ? c : c & (0x3Fu >> k);
		for (int i = 1; i <= k; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3Fu);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += k + 1;
	}
	return true;
}

typedef struct walker {
	const cairn_filter *f;
	sync_list *out;
	cairn_sync_plan *p;
	struct {
		dev_t dev;
		ino_t ino;
	} up[DEPTH_MAX + 1]; /* the folders on the current path, for loops */
} walker;

static int walk_dir(walker *w, const char *abs, const char *rel, int depth);

/* One directory entry (abs and rel name it). Problems are noted; only fatal errors return. */
static int walk_entry(walker *w, const char *abs, const char *rel, int depth)
{
	struct stat st;

	if (stat(abs, &st) != 0) {
		struct stat lst;
		if (lstat(abs, &lst) == 0 && S_ISLNK(lst.st_mode))
			return cairn__sync_note(w->p, false, "%s: broken symbolic link", rel);
		return cairn__sync_note(w->p, false, "%s: %s", rel, strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		for (int i = 0; i <= depth; i++)
			if (w->up[i].dev == st.st_dev && w->up[i].ino == st.st_ino)
				return cairn__sync_note(w->p, false,
							"%s: a symbolic link loop (not followed)", rel);
		if (depth + 1 > DEPTH_MAX)
			return cairn__sync_note(w->p, false, "%s: more than %d folders deep", rel,
						DEPTH_MAX);
		w->up[depth + 1].dev = st.st_dev;
		w->up[depth + 1].ino = st.st_ino;
		return walk_dir(w, abs, rel, depth + 1);
	}
	if (!S_ISREG(st.st_mode))
		return cairn__sync_note(w->p, true, "%s: not a regular file (skipped)", rel);
	if (!cairn_filter_selects(w->f, rel))
		return 0;
	if (!utf8_ok(rel))
		return cairn__sync_note(w->p, false, "%s: name is not UTF-8 (a bucket key must be)",
					rel);
	if (strlen(rel) > CAIRN_CLIENT_KEY_MAX)
		return cairn__sync_note(w->p, false, "%s: path over %d bytes", rel,
					CAIRN_CLIENT_KEY_MAX);
	if (access(abs, R_OK) != 0)
		return cairn__sync_note(w->p, false, "%s: %s", rel, strerror(errno));
	return list_push(w->out, rel, &st);
}

static int walk_dir(walker *w, const char *abs, const char *rel, int depth)
{
	DIR *d = opendir(abs);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return cairn__sync_note(w->p, false, "%s: %s", *rel ? rel : abs, strerror(errno));
	while (rc == 0) {
		char *cabs, *crel;
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = cairn__sync_note(w->p, false, "%s: %s", *rel ? rel : abs,
						      strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cabs = join(abs, de->d_name);
		crel = join(rel, de->d_name);
		if (cabs == NULL || crel == NULL)
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		else
			rc = walk_entry(w, cabs, crel, depth);
		free(cabs);
		free(crel);
	}
	closedir(d);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const sync_entry *)a)->path, ((const sync_entry *)b)->path);
}

int cairn__sync_walk(const sync_root *r, const cairn_filter *f, sync_list *out,
		     cairn_sync_plan *p)
{
	walker *w = calloc(1, sizeof(*w));
	struct stat st;
	int rc;

	if (w == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	memset(out, 0, sizeof(*out));
	if (stat(r->dir, &st) != 0) {
		rc = cairn__error_set(errno == ENOENT ? CAIRN_ENOTFOUND : CAIRN_EIO, "%s: %s", r->dir,
				      strerror(errno));
		free(w);
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		free(w);
		return cairn__error_set(CAIRN_EINVALID, "%s is not a folder", r->dir);
	}
	w->f = f;
	w->out = out;
	w->p = p;
	w->up[0].dev = st.st_dev;
	w->up[0].ino = st.st_ino;
	rc = walk_dir(w, r->dir, "", 0);
	free(w);
	if (rc < 0) {
		cairn__sync_list_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->e, out->n, sizeof(out->e[0]), by_path);
	return 0;
}
