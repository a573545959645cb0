/*
 * web.c - the browsable pages (web.h): what people see of their buckets
 * in a browser. Each page is built whole into memory (open_memstream) and
 * handed to http.c; listings are pages of at most 1000 entries, so a page
 * costs the same on a folder of ten files or of a million.
 *
 * Safety, in one place: every value that did not come from this file goes
 * through esc() (text and attributes alike) or put_url() (hrefs); READMEs
 * go through markdown.c, which escapes everything it does not render
 * itself. No page changes state on GET. The two forms (login, logout) are
 * POSTs with a CSRF token: login's is a double-submit cookie, logout's is
 * derived from the session's secret, which only the browser holding the
 * HttpOnly cookie has. http.c also sends a Content-Security-Policy that
 * allows no script at all.
 */
#include "web.h"

#include "markdown.h"
#include "route.h"
#include "server_int.h"
#include "token.h"

#include "cairn/blake3.h"
#include "cairn/errors.h"
#include "cairn/sys/meta.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define PAGE_DEFAULT 100       /* entries per listing page */
#define PAGE_MAX 1000
#define README_MAX (256 << 10) /* a bigger README is linked, not rendered */
#define SESSION_SECS (7 * 24 * 3600)
#define LOGIN_CSRF_COOKIE "cairn_login_csrf"

static atomic_uint g_s3_port;

void cairn__web_set_s3_port(unsigned port)
{
	atomic_store(&g_s3_port, port);
}

/* ---- output helpers -------------------------------------------------------------------- */

/* Text or an attribute value: the five characters HTML gives meaning to, escaped. */
static void esc(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		case '\0': fputs("\xEF\xBF\xBD", f); break; /* U+FFFD */
		default: fputc(s[i], f);
		}
	}
}

static void escs(FILE *f, const char *s)
{
	esc(f, s, strlen(s));
}

/* Bytes percent-encoded for a URL: all but unreserved characters (and '/' if keep_slash). */
static void put_url(FILE *f, const char *s, size_t n, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
		    (keep_slash && ch == '/'))
			fputc(ch, f);
		else
			fprintf(f, "%%%c%c", hexd[ch >> 4], hexd[ch & 15]);
	}
}

static void put_hex(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", (unsigned char)s[i]);
}

bool cairn__web_key_addressable(const char *key, size_t len)
{
	size_t i = 0;

	if (len == 0 || !cairn__utf8_ok(key, len))
		return false;
	while (i <= len) {
		const char *seg = key + i;
		const char *end = memchr(seg, '/', len - i);
		size_t sl = end ? (size_t)(end - seg) : len - i;

		if (sl == 0 || (sl == 1 && seg[0] == '.') ||
		    (sl == 2 && seg[0] == '.' && seg[1] == '.') || memchr(seg, '\0', sl))
			return false;
		i += sl + 1;
		if (end == NULL)
			break;
	}
	return true;
}

/*
 * The URL of a page (what: "tree", "blob", "resolve") about key in bucket
 * ns/name. A folder's URL ends with '/', so relative links in its README
 * resolve inside it.
 */
static void put_link(FILE *f, const char *ns, const char *name, const char *what,
		     const char *key, size_t len, bool folder)
{
	fputs("/buckets/", f);
	put_url(f, ns, strlen(ns), false);
	fputc('/', f);
	put_url(f, name, strlen(name), false);
	if (len == 0) {
		fputc('/', f);
		return;
	}
	if (cairn__web_key_addressable(key, len)) {
		fprintf(f, "/%s/", what);
		put_url(f, key, len, true);
		if (folder)
			fputc('/', f);
	} else {
		fprintf(f, "/%s?path=", what);
		put_url(f, key, len, false);
		if (folder)
			fputs("%2F", f);
	}
}

static void put_size(FILE *f, uint64_t n)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		fprintf(f, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	fprintf(f, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
}

/* A size for a table cell: human, with the exact count for screen readers and hover. */
static void put_size_cell(FILE *f, uint64_t n)
{
	fprintf(f, "<span title=\"%" PRIu64 " bytes\">", n);
	put_size(f, n);
	fputs("</span>", f);
}

static void put_time(FILE *f, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char iso[32], shown[32];

	if (ns <= 0 || gmtime_r(&t, &tm) == NULL) {
		fputs("<span aria-label=\"unknown\">&#8212;</span>", f);
		return;
	}
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M UTC", &tm);
	fprintf(f, "<time datetime=\"%s\">%s</time>", iso, shown);
}

static void put_count(FILE *f, uint64_t n)
{
	char d[32];
	int len = snprintf(d, sizeof(d), "%" PRIu64, n);

	/* thousands separated by thin spaces */
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			fputs("&#8239;", f);
		fputc(d[i], f);
	}
}

/* ---- the page frame ----------------------------------------------------------------------- */

static void page_begin(FILE *f, const cairn__web_req *r, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>",
	      f);
	escs(f, title);
	fputs(" &#183; Cairn</title>\n<link rel=\"stylesheet\" href=\"/static/cairn.css\">\n"
	      "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
	      "<header class=\"top\">\n<a class=\"brand\" href=\"/\">Cairn</a>\n"
	      "<nav aria-label=\"Account\" class=\"account\">\n",
	      f);
	if (r->authed) {
		fputs("<span>Signed in as <strong>", f);
		escs(f, r->user);
		fputs("</strong></span>\n", f);
		if (r->by_session) {
			fputs("<form method=\"post\" action=\"/logout\" class=\"inline\">"
			      "<input type=\"hidden\" name=\"csrf\" value=\"",
			      f);
			escs(f, r->csrf);
			fputs("\"><button type=\"submit\">Log out</button></form>\n", f);
		}
	} else {
		fputs("<a href=\"/login\">Log in</a>\n", f);
	}
	fputs("</nav>\n</header>\n<main id=\"main\">\n", f);
}

static void page_end(FILE *f)
{
	fprintf(f, "</main>\n<footer class=\"foot\">Cairn %d.%d.%d &#183; storage buckets for "
		   "machine-learning work</footer>\n</body>\n</html>\n",
		CAIRN_VERSION_MAJOR, CAIRN_VERSION_MINOR, CAIRN_VERSION_PATCH);
}

static void badge(FILE *f, bool is_private)
{
	fprintf(f, "<span class=\"badge %s\">%s</span>", is_private ? "private" : "public",
		is_private ? "Private" : "Public");
}

/* An error page with status and a sentence (text, escaped). */
static void error_page(FILE *f, const cairn__web_req *r, cairn__web_page *p, unsigned status,
		       const char *title, const char *text)
{
	p->status = status;
	page_begin(f, r, title);
	fputs("<h1>", f);
	escs(f, title);
	fputs("</h1>\n<p>", f);
	escs(f, text);
	fputs("</p>\n<p><a href=\"/\">Back to the bucket list</a></p>\n", f);
	page_end(f);
}

/* ---- the caller ----------------------------------------------------------------------------- */

static bool can_see(const cairn__web_req *r, const cairn_bucket_row *b)
{
	return !b->is_private ||
	       (r->authed && (r->admin || strcmp(r->user, b->ns) == 0));
}

static void csrf_of(char out[CAIRN__CSRF_LEN + 1], const char *secret, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	cairn_blake3_hasher h;
	uint8_t d[CAIRN__CSRF_LEN / 2];

	cairn_blake3_init_derive_key(&h, "cairn 2026-11-27 web form csrf token v1");
	cairn_blake3_update(&h, secret, len);
	cairn_blake3_finalize(&h, d, sizeof(d));
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 15];
	}
	out[CAIRN__CSRF_LEN] = '\0';
}

/* A form's token against the expected one, without an early exit. */
static bool same_token(const char *given, size_t len, const char *want)
{
	return len == CAIRN__CSRF_LEN && cairn__same_text(given, want, CAIRN__CSRF_LEN);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int cairn__web_session(cairn_meta *m, const char *v, char user[CAIRN_NAME_MAX + 1],
		       char scope[CAIRN_SCOPE_MAX + 1], char csrf[CAIRN__CSRF_LEN + 1])
{
	uint8_t hash[32];
	int rc;

	if (v == NULL || cairn_token_hash(hash, v, strlen(v)) != 0)
		return CAIRN_EAUTH;
	rc = m->session_lookup(m, hash, now_ns(), user, scope);
	if (rc == 0)
		csrf_of(csrf, v, strlen(v));
	return rc;
}

/* ---- home ---------------------------------------------------------------------------------- */

typedef struct bucket_list {
	cairn_bucket_row *rows;
	size_t n, cap;
	bool only_public;
} bucket_list;

#define BUCKETS_SHOWN 1000

static int collect_bucket(void *ctx, const cairn_bucket_row *b)
{
	bucket_list *l = ctx;

	if (l->only_public && b->is_private)
		return 0;
	if (l->n == BUCKETS_SHOWN)
		return 1; /* enough for one page */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		cairn_bucket_row *nr = realloc(l->rows, cap * sizeof(*nr));
		if (nr == NULL)
			return CAIRN_ENOMEM;
		l->rows = nr;
		l->cap = cap;
	}
	l->rows[l->n++] = *b;
	return 0;
}

static void bucket_table(FILE *f, const cairn__web_req *r, const char *caption,
			 const bucket_list *l)
{
	fputs("<table class=\"listing\">\n<caption>", f);
	escs(f, caption);
	fputs("</caption>\n<thead><tr><th scope=\"col\">Bucket</th><th scope=\"col\">Visibility"
	      "</th><th scope=\"col\" class=\"num\">Files</th><th scope=\"col\" class=\"num\">"
	      "Size</th><th scope=\"col\">Created</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = 0; i < l->n; i++) {
		const cairn_bucket_row *b = &l->rows[i];
		uint64_t objects = 0, bytes = 0;

		if (r->meta->bucket_totals(r->meta, b->id, &objects, &bytes) != 0)
			objects = bytes = 0; /* deleted meanwhile */
		fputs("<tr><th scope=\"row\"><a href=\"", f);
		put_link(f, b->ns, b->name, "tree", NULL, 0, true);
		fputs("\">", f);
		escs(f, b->ns);
		fputs("/", f);
		escs(f, b->name);
		fputs("</a></th><td>", f);
		badge(f, b->is_private);
		fputs("</td><td class=\"num\">", f);
		put_count(f, objects);
		fputs("</td><td class=\"num\">", f);
		put_size_cell(f, bytes);
		fputs("</td><td>", f);
		put_time(f, b->created_ns);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody>\n</table>\n", f);
}

static int page_home(FILE *f, const cairn__web_req *r, cairn__web_page *p)
{
	bucket_list mine = {0}, pub = {0};
	int rc = 0;

	pub.only_public = true;
	if (r->authed && (rc = cairn_bucket_list(r->repo, r->user, collect_bucket, &mine)) < 0)
		goto done;
	if ((rc = cairn_bucket_list(r->repo, NULL, collect_bucket, &pub)) < 0)
		goto done;
	rc = 0;
	page_begin(f, r, "Buckets");
	fputs("<h1>Buckets</h1>\n", f);
	if (r->authed) {
		fputs("<section aria-labelledby=\"mine\">\n<h2 id=\"mine\">Your buckets</h2>\n", f);
		if (mine.n == 0)
			fputs("<p>You have no buckets yet. Make one with <code>cairn buckets create "
			      "NAME</code>.</p>\n",
			      f);
		else
			bucket_table(f, r, "Buckets in your namespace", &mine);
		if (mine.n == BUCKETS_SHOWN)
			fprintf(f, "<p>Showing the first %d.</p>\n", BUCKETS_SHOWN);
		fputs("</section>\n", f);
	}
	fputs("<section aria-labelledby=\"public\">\n<h2 id=\"public\">Public buckets</h2>\n", f);
	if (pub.n == 0)
		fputs("<p>No public buckets here yet.</p>\n", f);
	else
		bucket_table(f, r, "Buckets anyone may read", &pub);
	if (pub.n == BUCKETS_SHOWN)
		fprintf(f, "<p>Showing the first %d.</p>\n", BUCKETS_SHOWN);
	fputs("</section>\n", f);
	if (!r->authed)
		fputs("<p class=\"hint\"><a href=\"/login\">Log in</a> with a token to see your "
		      "private buckets.</p>\n",
		      f);
	page_end(f);
	p->status = 200;
done:
	free(mine.rows);
	free(pub.rows);
	return rc;
}

/* ---- bucket and folder pages --------------------------------------------------------------- */

/* A query argument, decoded into out (cap bytes); NULL if absent, bad or too long. */
static const char *arg(const cairn__web_req *r, const char *name, char *out, size_t cap,
		       size_t *len)
{
	return cairn__query_arg(r->conn, name, out, cap, len) ? out : NULL;
}

/* Was the argument given at all (so a NULL from arg() means a bad one)? */
static bool has_arg(const cairn__web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name) != NULL;
}

/* The bucket, if the caller may see it; else a 404 page (the same for private and missing). */
static int visible_bucket(FILE *f, const cairn__web_req *r, cairn__web_page *p,
			  cairn_bucket_row *b)
{
	int rc = cairn_bucket_get(r->repo, r->ns, r->name, b);

	if (rc == 0 && can_see(r, b))
		return 0;
	if (rc == 0 || rc == CAIRN_ENOTFOUND || rc == CAIRN_EINVALID) {
		error_page(f, r, p, 404, "Not found", "There is no such bucket, or it is private.");
		return CAIRN_ENOTFOUND;
	}
	return rc;
}

/* Breadcrumbs: Buckets > ns/name > each folder of key[0, len) > (last, not a link, if !folder). */
static void crumbs(FILE *f, const cairn__web_req *r, const char *key, size_t len, bool last_file)
{
	size_t i = 0;

	fputs("<nav aria-label=\"Breadcrumb\" class=\"crumbs\">\n<ol>\n<li><a href=\"/\">"
	      "Buckets</a></li>\n<li>",
	      f);
	if (len == 0) {
		fputs("<a aria-current=\"page\" href=\"", f);
	} else {
		fputs("<a href=\"", f);
	}
	put_link(f, r->ns, r->name, "tree", NULL, 0, true);
	fputs("\">", f);
	escs(f, r->ns);
	fputs("/", f);
	escs(f, r->name);
	fputs("</a></li>\n", f);
	while (i < len) {
		const char *slash = memchr(key + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - key) : len;
		bool final = end == len;

		fputs("<li>", f);
		if (final && last_file) {
			fputs("<span aria-current=\"page\">", f);
			esc(f, key + i, end - i);
			fputs("</span>", f);
		} else {
			fprintf(f, "<a %shref=\"", final ? "aria-current=\"page\" " : "");
			put_link(f, r->ns, r->name, "tree", key, end, true);
			fputs("\">", f);
			esc(f, key + i, end - i);
			fputs("</a>", f);
		}
		fputs("</li>\n", f);
		i = end + 1;
	}
	fputs("</ol>\n</nav>\n", f);
}

typedef struct listing {
	FILE *f;
	const cairn__web_req *r;
	size_t skip;  /* the folder's prefix length: entries show what follows it */
	size_t shown;
	char last[CAIRN_KEY_MAX];
	size_t last_len;
} listing;

static int list_one(void *ctx, const cairn_object_row *row, const char *prefix, size_t len)
{
	listing *l = ctx;
	FILE *f = l->f;
	const char *key = row ? row->key : prefix;
	size_t klen = row ? row->key_len : len;

	fputs("<tr>", f);
	if (row == NULL) {
		fputs("<th scope=\"row\"><a class=\"dir\" href=\"", f);
		put_link(f, l->r->ns, l->r->name, "tree", key, klen - 1, true);
		fputs("\">", f);
		esc(f, key + l->skip, klen - l->skip);
		fputs("</a></th><td class=\"num\"><span class=\"muted\">folder</span></td>"
		      "<td><span class=\"muted\" aria-label=\"not applicable\">&#8212;</span></td>",
		      f);
	} else {
		fputs("<th scope=\"row\"><a class=\"file\" href=\"", f);
		put_link(f, l->r->ns, l->r->name, "blob", key, klen, false);
		fputs("\">", f);
		if (klen == l->skip) /* "dir/" itself: an S3 client's folder marker */
			fputs("<span class=\"muted\">(this folder&#39;s marker object)</span>", f);
		else
			esc(f, key + l->skip, klen - l->skip);
		fputs("</a></th><td class=\"num\">", f);
		put_size_cell(f, row->size);
		fputs("</td><td>", f);
		put_time(f, row->mtime_ns ? row->mtime_ns : row->created_ns);
		fputs("</td>", f);
	}
	fputs("</tr>\n", f);
	memcpy(l->last, key, klen);
	l->last_len = klen;
	l->shown++;
	return 0;
}

/*
 * A bucket's dedup figures walk every file it holds (cairn_bucket_stats),
 * so a page keeps them for STATS_TTL_S per bucket: many views of a big
 * bucket cost one walk. Bucket ids are never reused.
 */
#define STATS_TTL_S 30
#define STATS_SLOTS 64

static struct {
	int64_t id;
	time_t at;
	cairn_stats st;
} stats_cache[STATS_SLOTS];
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;

static int bucket_stats_cached(const cairn__web_req *r, int64_t id, cairn_stats *st)
{
	size_t slot = (size_t)((uint64_t)id % STATS_SLOTS);
	time_t now = time(NULL);
	int rc;

	pthread_mutex_lock(&stats_mu);
	if (stats_cache[slot].id == id && now - stats_cache[slot].at < STATS_TTL_S) {
		*st = stats_cache[slot].st;
		pthread_mutex_unlock(&stats_mu);
		return 0;
	}
	pthread_mutex_unlock(&stats_mu);
	memset(st, 0, sizeof(*st));
	if ((rc = cairn_bucket_stats(r->repo, r->ns, r->name, st)) != 0)
		return rc;
	pthread_mutex_lock(&stats_mu);
	stats_cache[slot].id = id;
	stats_cache[slot].at = now;
	stats_cache[slot].st = *st;
	pthread_mutex_unlock(&stats_mu);
	return 0;
}

/* The summary of a bucket: what it holds and what that costs once deduplicated. */
static int bucket_summary(FILE *f, const cairn__web_req *r, int64_t id)
{
	cairn_stats st;
	int rc;

	if ((rc = bucket_stats_cached(r, id, &st)) != 0)
		return rc;
	fputs("<section aria-labelledby=\"usage\" class=\"summary\">\n<h2 id=\"usage\" "
	      "class=\"visually-hidden\">Usage</h2>\n<dl class=\"stats\">\n",
	      f);
	fputs("<div><dt>Files</dt><dd>", f);
	put_count(f, st.objects);
	fputs("</dd></div>\n<div><dt>Logical size</dt><dd>", f);
	put_size_cell(f, st.logical_bytes);
	fputs("</dd></div>\n<div><dt>Stored size</dt><dd>", f);
	put_size_cell(f, st.stored_bytes);
	fputs("</dd></div>\n<div><dt>Dedup ratio</dt><dd>", f);
	if (st.stored_bytes > 0 && st.logical_bytes > 0) {
		double ratio = (double)st.logical_bytes / (double)st.stored_bytes;
		fprintf(f, "%.2f&#215;", ratio);
		if (st.stored_bytes < st.logical_bytes)
			fprintf(f, " <span class=\"muted\">(saves %.1f%%)</span>",
				100.0 * (1.0 - (double)st.stored_bytes / (double)st.logical_bytes));
	} else {
		fputs("<span aria-label=\"not applicable\">&#8212;</span>", f);
	}
	fputs("</dd></div>\n<div><dt>Chunks</dt><dd>", f);
	put_count(f, st.chunks);
	fputs("</dd></div>\n<div><dt>Xorbs</dt><dd>", f);
	put_count(f, st.xorbs);
	fputs("</dd></div>\n</dl>\n</section>\n", f);
	return 0;
}

typedef struct sink {
	FILE *f;
} sink;

static int to_file(void *ctx, const void *data, size_t len)
{
	sink *s = ctx;

	return fwrite(data, 1, len, s->f) == len ? 0 : CAIRN_ENOMEM;
}

/* The folder's README.md below its listing, if it has one. */
static int readme(FILE *f, const cairn__web_req *r, const char *folder, size_t flen)
{
	char *key = malloc(flen + 11), *text = NULL;
	size_t klen = flen + 9 + (flen > 0), tlen = 0;
	cairn_object_row row;
	sink s;
	int rc;

	if (key == NULL)
		return CAIRN_ENOMEM;
	memcpy(key, folder, flen);
	if (flen > 0)
		key[flen] = '/';
	memcpy(key + flen + (flen > 0), "README.md", 9);
	rc = klen <= CAIRN_KEY_MAX ? cairn_object_stat(r->repo, r->ns, r->name, key, klen, &row)
				   : CAIRN_ENOTFOUND;
	if (rc == CAIRN_ENOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc != 0)
		goto done;
	fputs("<section aria-labelledby=\"readme\" class=\"readme\">\n<h2 id=\"readme\">"
	      "<a href=\"",
	      f);
	put_link(f, r->ns, r->name, "blob", key, klen, false);
	fputs("\">README.md</a></h2>\n", f);
	if (row.size > README_MAX) {
		fputs("<p>This README is too long to show here; follow the link to download it.</p>\n",
		      f);
		fputs("</section>\n", f);
		goto done;
	}
	if ((s.f = open_memstream(&text, &tlen)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	rc = cairn_object_get(r->repo, r->ns, r->name, key, klen, 0, README_MAX, to_file, &s);
	if (fclose(s.f) != 0 && rc == 0)
		rc = CAIRN_ENOMEM;
	if (rc == CAIRN_ENOTFOUND) {
		/* deleted since the stat: a page without it */
		fputs("<p>The README was deleted while this page was made.</p>\n</section>\n", f);
		rc = 0;
		goto done;
	}
	if (rc != 0)
		goto done;
	fputs("<div class=\"markdown\">\n", f);
	rc = cairn__markdown_html(f, text, tlen);
	fputs("</div>\n</section>\n", f);
done:
	free(text);
	free(key);
	return rc;
}

/* The folder page's URL with its filter and page size (a cursor may follow: "&amp;after="). */
static void page_href(FILE *f, const cairn__web_req *r, const char *filter, size_t filter_len,
		      size_t limit)
{
	put_link(f, r->ns, r->name, "tree", r->key, r->key_len, true);
	fputs(r->key_len == 0 || cairn__web_key_addressable(r->key, r->key_len) ? "?" : "&amp;", f);
	if (filter_len > 0) {
		fputs("prefix=", f);
		put_url(f, filter, filter_len, false);
		fputs("&amp;", f);
	}
	fprintf(f, "limit=%zu", limit);
}

/*
 * The target of a tree page that names no folder: an object there gets
 * its file page; a key with neither objects nor folder under it is a 404.
 */
static int page_blob(FILE *f, const cairn__web_req *r, cairn__web_page *p);

static int page_tree(FILE *f, const cairn__web_req *r, cairn__web_page *p)
{
	cairn_list_options lo = CAIRN_LIST_OPTIONS_INIT;
	cairn_bucket_row b;
	listing *l = NULL;
	char *prefix = NULL, *after = NULL, *title = NULL;
	char fbuf[CAIRN_KEY_MAX + 1], cbuf[2 * CAIRN_KEY_MAX + 1], lbuf[16];
	const char *filter = arg(r, "prefix", fbuf, sizeof(fbuf), NULL);
	const char *cur = arg(r, "after", cbuf, sizeof(cbuf), NULL);
	const char *lim = arg(r, "limit", lbuf, sizeof(lbuf), NULL);
	size_t flen = r->key_len, plen, filter_len = filter ? strlen(filter) : 0, alen = 0;
	uint64_t objects = 0, bytes = 0;
	bool truncated = false;
	size_t limit = PAGE_DEFAULT;
	int rc;

	if ((rc = visible_bucket(f, r, p, &b)) != 0)
		return rc == CAIRN_ENOTFOUND ? 0 : rc;
	if ((filter == NULL && has_arg(r, "prefix")) || (cur == NULL && has_arg(r, "after")) ||
	    (lim == NULL && has_arg(r, "limit"))) {
		error_page(f, r, p, 400, "Bad request", "An argument of this page is malformed.");
		return 0;
	}
	if (lim != NULL) {
		char *end;
		long v = strtol(lim, &end, 10);
		if (*lim == '\0' || *end != '\0' || v < 1 || v > PAGE_MAX) {
			error_page(f, r, p, 400, "Bad request", "limit must be 1 to 1000");
			return 0;
		}
		limit = (size_t)v;
	}
	if (flen + 1 > CAIRN_KEY_MAX && filter_len == 0)
		return page_blob(f, r, p); /* too long for a folder: a file, if anything */
	if (flen + 1 + filter_len > CAIRN_KEY_MAX) {
		error_page(f, r, p, 400, "Bad request", "That path and filter are too long.");
		return 0;
	}
	if ((prefix = malloc(flen + 1 + filter_len + 1)) == NULL ||
	    (after = malloc(CAIRN_KEY_MAX)) == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	memcpy(prefix, r->key, flen);
	plen = flen;
	if (flen > 0)
		prefix[plen++] = '/';
	/* a folder page: does the folder exist? (an object of that name gets its file page) */
	if (flen > 0) {
		if ((rc = r->meta->prefix_totals(r->meta, b.id, prefix, plen, &objects, &bytes)) != 0)
			goto done;
		if (objects == 0) {
			cairn_object_row row;
			rc = cairn_object_stat(r->repo, r->ns, r->name, r->key, r->key_len, &row);
			if (rc == 0) {
				rc = page_blob(f, r, p);
				goto done;
			}
			if (rc != CAIRN_ENOTFOUND)
				goto done;
			rc = 0;
			error_page(f, r, p, 404, "Not found", "There is no such folder or file.");
			goto done;
		}
	}
	/* a folder's URL ends with '/', so its README's relative links resolve inside it */
	if (r->url != NULL && !r->post && r->url[strlen(r->url) - 1] != '/' &&
	    (flen == 0 || cairn__web_key_addressable(r->key, flen))) {
		FILE *u = fmemopen(p->location, sizeof(p->location) - 1, "w");
		if (u != NULL) {
			put_link(u, r->ns, r->name, "tree", r->key, flen, true);
			fclose(u);
		}
		p->status = 308;
		fputs("<!DOCTYPE html>\n<title>Moved</title>\n", f);
		goto done;
	}
	memcpy(prefix + plen, filter ? filter : "", filter_len);
	if (cur != NULL) {
		size_t n = strlen(cur);
		if (n == 0 || n % 2 || n / 2 > CAIRN_KEY_MAX) {
			error_page(f, r, p, 400, "Bad request", "That page cursor is malformed.");
			goto done;
		}
		for (size_t i = 0; i < n / 2; i++) {
			int hi = cairn__hexv(cur[2 * i]), lo4 = cairn__hexv(cur[2 * i + 1]);
			if (hi < 0 || lo4 < 0) {
				error_page(f, r, p, 400, "Bad request", "That page cursor is malformed.");
				goto done;
			}
			after[i] = (char)(hi << 4 | lo4);
		}
		alen = n / 2;
		lo.start_after = after;
		lo.start_after_len = alen;
	}
	lo.prefix = prefix;
	lo.prefix_len = plen + filter_len;
	lo.delimiter = "/";
	lo.delimiter_len = 1;
	lo.limit = limit;
	if (filter_len > 0 &&
	    (rc = r->meta->prefix_totals(r->meta, b.id, prefix, plen + filter_len, &objects,
					 &bytes)) != 0)
		goto done;

	if (flen == 0)
		title = strdup(r->name);
	else if ((title = malloc(flen + 2)) != NULL)
		snprintf(title, flen + 2, "%.*s/", (int)flen, r->key);
	page_begin(f, r, title ? title : r->name);
	crumbs(f, r, r->key, flen, false);
	fputs("<h1>", f);
	if (flen == 0) {
		escs(f, r->ns);
		fputs("/", f);
		escs(f, r->name);
	} else {
		const char *base = memrchr(r->key, '/', flen);
		base = base ? base + 1 : r->key;
		esc(f, base, (size_t)(r->key + flen - base));
		fputs("/", f);
	}
	fputs(" ", f);
	badge(f, b.is_private);
	fputs("</h1>\n", f);
	if (flen == 0 && cur == NULL && filter_len == 0) {
		if ((rc = bucket_summary(f, r, b.id)) != 0)
			goto done;
	} else if (flen > 0) {
		fputs("<p class=\"folder-stats\">This folder holds ", f);
		put_count(f, objects);
		fputs(objects == 1 ? " file" : " files", f);
		fputs(" (", f);
		put_size(f, bytes);
		fputs(") in all, its subfolders included.</p>\n", f);
	}

	/* the filter: a GET form, it changes nothing */
	fputs("<form method=\"get\" class=\"filter\" role=\"search\" action=\"", f);
	put_link(f, r->ns, r->name, "tree", r->key, flen, true);
	fputs("\">\n", f);
	if (!cairn__web_key_addressable(r->key, flen) && flen > 0) {
		fputs("<input type=\"hidden\" name=\"path\" value=\"", f);
		esc(f, r->key, flen);
		fputs("/\">\n", f);
	}
	fputs("<label for=\"prefix\">Names starting with</label>\n"
	      "<input id=\"prefix\" name=\"prefix\" type=\"search\" value=\"",
	      f);
	esc(f, filter ? filter : "", filter_len);
	fputs("\">\n<button type=\"submit\">Filter</button>\n", f);
	if (filter_len > 0) {
		fputs("<a href=\"", f);
		put_link(f, r->ns, r->name, "tree", r->key, flen, true);
		fputs("\">Clear</a>\n", f);
	}
	fputs("</form>\n", f);
	if (filter_len > 0) {
		fputs("<p class=\"folder-stats\">", f);
		put_count(f, objects);
		fputs(objects == 1 ? " file" : " files", f);
		fputs(" (", f);
		put_size(f, bytes);
		fputs(") match.</p>\n", f);
	}

	l->f = f;
	l->r = r;
	l->skip = plen;
	fputs("<table class=\"listing\" id=\"listing\">\n<caption>", f);
	if (flen == 0)
		fputs("Files and folders at the top of the bucket", f);
	else {
		fputs("Files and folders in ", f);
		esc(f, r->key, flen);
		fputs("/", f);
	}
	if (cur != NULL)
		fputs(" (continued)", f);
	fputs("</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\" class=\"num\">"
	      "Size</th><th scope=\"col\">Modified</th></tr></thead>\n<tbody>\n",
	      f);
	rc = cairn_object_list(r->repo, r->ns, r->name, &lo, list_one, l, &truncated);
	if (rc != 0)
		goto done;
	fputs("</tbody>\n</table>\n", f);
	if (l->shown == 0)
		fputs("<p>Nothing here.</p>\n", f);
	fputs("<nav aria-label=\"Pages\" class=\"pages\">\n", f);
	fprintf(f, "<span>%zu %s on this page</span>\n", l->shown,
		l->shown == 1 ? "entry" : "entries");
	if (cur != NULL) {
		fputs("<a href=\"", f);
		page_href(f, r, filter, filter_len, limit);
		fputs("\">First page</a>\n", f);
	}
	if (truncated) {
		fputs("<a rel=\"next\" href=\"", f);
		page_href(f, r, filter, filter_len, limit);
		fputs("&amp;after=", f);
		put_hex(f, l->last, l->last_len);
		fputs("\">Next page</a>\n", f);
	}
	fputs("</nav>\n", f);
	if (cur == NULL && filter_len == 0 && (rc = readme(f, r, r->key, flen)) != 0)
		goto done;
	page_end(f);
	p->status = 200;
done:
	free(title);
	free(l);
	free(after);
	free(prefix);
	return rc;
}

/* ---- file pages ------------------------------------------------------------------------------ */

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(cairn_hash));
}

/* A copyable snippet: a labelled, selectable block. */
static void snippet_begin(FILE *f, const char *id, const char *label)
{
	fprintf(f, "<div class=\"snippet\"><h3 id=\"%s\">%s</h3>\n<pre aria-labelledby=\"%s\" "
		   "tabindex=\"0\"><code>",
		id, label, id);
}

static void snippet_end(FILE *f)
{
	fputs("</code></pre></div>\n", f);
}

/* A value for a shell command line, in single quotes, then HTML-escaped. */
static void shell_word(FILE *f, const char *s, size_t n)
{
	fputs("&#39;", f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			fputs("&#39;\\&#39;&#39;", f);
		else
			esc(f, s + i, 1);
	}
	fputs("&#39;", f);
}

/*
 * A Python string literal of UTF-8 text (quotes: with its quotes), in
 * ASCII: controls and non-ASCII characters as \\x, \\u, \\U escapes; then
 * HTML-escaped. s must be valid UTF-8 (cairn__utf8_ok).
 */
static void py_string(FILE *f, const char *s, size_t n, bool quotes)
{
	if (quotes)
		fputs("&quot;", f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		uint32_t cp;
		size_t k;

		if (ch == '\\' || ch == '"') {
			fprintf(f, "\\%s", ch == '"' ? "&quot;" : "\\");
			continue;
		}
		if (ch >= 0x20 && ch < 0x7F) {
			esc(f, s + i, 1);
			continue;
		}
		if (ch < 0x80) {
			fprintf(f, "\\x%02x", ch);
			continue;
		}
		k = ch >= 0xF0 ? 3 : ch >= 0xE0 ? 2 : 1;
		cp = ch & (0x3F >> k);
		for (size_t j = 1; j <= k && i + j < n; j++)
			cp = cp << 6 | ((unsigned char)s[i + j] & 0x3F);
		i += k;
		if (cp > 0xFFFF)
			fprintf(f, "\\U%08" PRIx32, cp);
		else
			fprintf(f, "\\u%04" PRIx32, cp);
	}
	if (quotes)
		fputs("&quot;", f);
}

/* "cairn://buckets/NS/NAME/KEY" (or S3's "s3://NS--NAME/KEY"), malloc'd; NULL: no memory. */
static char *remote_uri(const cairn__web_req *r, bool s3, size_t *len)
{
	size_t cap = strlen(r->ns) + strlen(r->name) + r->key_len + 32;
	char *u = malloc(cap);
	int h;

	if (u == NULL)
		return NULL;
	h = snprintf(u, cap, s3 ? "s3://%s--%s/" : "cairn://buckets/%s/%s/", r->ns, r->name);
	memcpy(u + h, r->key, r->key_len);
	*len = (size_t)h + r->key_len;
	u[*len] = '\0';
	return u;
}

/* The Host the browser used, or a placeholder (escaped where used). */
static const char *host_of(const cairn__web_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]";

	/* it lands in shell and Python snippets: a host name, or a placeholder */
	if (h == NULL || *h == '\0' || strlen(h) > 255 || h[strspn(h, ok)] != '\0')
		return "HOST:PORT";
	return h;
}

/* The host part of a Host header value (a bracketed IPv6 address kept whole). */
static size_t host_name_len(const char *h)
{
	const char *colon;

	if (h[0] == '[') {
		const char *end = strchr(h, ']');
		return end ? (size_t)(end - h) + 1 : strlen(h);
	}
	colon = strchr(h, ':');
	return colon ? (size_t)(colon - h) : strlen(h);
}

static int page_blob(FILE *f, const cairn__web_req *r, cairn__web_page *p)
{
	cairn_bucket_row b;
	cairn_object_row row;
	cairn_term *terms = NULL;
	cairn_hash *xorbs = NULL;
	size_t n = 0, nx = 0;
	uint64_t chunks = 0, fsize = 0;
	char hexh[CAIRN_HASH_HEX_LEN + 1], *ctype = NULL, *uri = NULL, *s3uri = NULL;
	const char *base, *host = host_of(r);
	size_t blen, ulen = 0, s3len = 0;
	unsigned s3port = atomic_load(&g_s3_port);
	int rc;

	if ((rc = visible_bucket(f, r, p, &b)) != 0)
		return rc == CAIRN_ENOTFOUND ? 0 : rc;
	if (r->key_len == 0) {
		error_page(f, r, p, 404, "Not found", "There is no such file.");
		return 0;
	}
	rc = cairn_object_stat(r->repo, r->ns, r->name, r->key, r->key_len, &row);
	if (rc == CAIRN_ENOTFOUND) {
		error_page(f, r, p, 404, "Not found", "There is no such file.");
		return 0;
	}
	if (rc != 0)
		return rc;
	/* row's strings are borrowed until the next call on the repo */
	if (row.content_type && (ctype = strdup(row.content_type)) == NULL)
		return CAIRN_ENOMEM;
	rc = r->meta->file_get(r->meta, &row.file, &fsize, &terms, &n);
	if (rc != 0)
		goto done;
	if (n > 0 && (xorbs = malloc(n * sizeof(*xorbs))) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		chunks += terms[i].end - terms[i].first;
		xorbs[i] = terms[i].xorb;
	}
	if (n > 1)
		qsort(xorbs, n, sizeof(*xorbs), cmp_hash);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !cairn_hash_equal(&xorbs[i], &xorbs[i - 1]))
			nx++;
	cairn_hash_to_hex(hexh, &row.file);
	base = memrchr(r->key, '/', r->key_len);
	base = base ? base + 1 : r->key;
	blen = (size_t)(r->key + r->key_len - base);
	if (blen == 0) { /* "dir/": a folder marker is named by its whole key */
		base = r->key;
		blen = r->key_len;
	}

	{
		char *title = strndup(base, blen);
		page_begin(f, r, title ? title : "File");
		free(title);
	}
	crumbs(f, r, r->key, r->key_len, true);
	fputs("<h1 class=\"filename\">", f);
	esc(f, base, blen);
	fputs("</h1>\n<p class=\"actions\"><a class=\"button\" download=\"", f);
	esc(f, base, blen);
	fputs("\" href=\"", f);
	put_link(f, r->ns, r->name, "resolve", r->key, r->key_len, false);
	fputs("\">Download</a> <span class=\"muted\">", f);
	put_size(f, row.size);
	fputs("; the link takes HTTP Range requests</span></p>\n", f);

	fputs("<dl class=\"facts\">\n<div><dt>Path</dt><dd><code>", f);
	esc(f, r->key, r->key_len);
	fputs("</code></dd></div>\n<div><dt>Size</dt><dd>", f);
	put_size(f, row.size);
	fprintf(f, " <span class=\"muted\">(%" PRIu64 " bytes)</span></dd></div>\n", row.size);
	fputs("<div><dt>Modified</dt><dd>", f);
	put_time(f, row.mtime_ns ? row.mtime_ns : row.created_ns);
	fputs("</dd></div>\n<div><dt>Uploaded</dt><dd>", f);
	put_time(f, row.created_ns);
	fputs("</dd></div>\n<div><dt>Content type</dt><dd>", f);
	if (ctype)
		escs(f, ctype);
	else
		fputs("<span class=\"muted\">application/octet-stream (none recorded)</span>", f);
	fprintf(f, "</dd></div>\n<div><dt>Xet hash</dt><dd><code class=\"hash\">%s</code></dd>"
		   "</div>\n",
		hexh);
	fputs("<div><dt>Chunks</dt><dd>", f);
	put_count(f, chunks);
	fputs("</dd></div>\n<div><dt>Xorbs</dt><dd>", f);
	put_count(f, nx);
	fputs("</dd></div>\n</dl>\n", f);

	fputs("<section aria-labelledby=\"fetch\" class=\"snippets\">\n<h2 id=\"fetch\">Fetch "
	      "it</h2>\n",
	      f);
	if (b.is_private)
		fputs("<p>This bucket is private: each of these needs a token (or an S3 key) of its "
		      "owner.</p>\n",
		      f);
	snippet_begin(f, "snip-cli", "Cairn CLI");
	if ((uri = remote_uri(r, false, &ulen)) == NULL ||
	    (s3uri = remote_uri(r, true, &s3len)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto done;
	}
	fputs("cairn buckets cp ", f);
	shell_word(f, uri, ulen);
	fputs(" ", f);
	shell_word(f, base, blen);
	fputs("\n", f);
	snippet_end(f);

	snippet_begin(f, "snip-py", "Python");
	if (cairn__utf8_ok(r->key, r->key_len)) {
		fputs("import cairn\n\nclient = cairn.Client(endpoint=&quot;http://", f);
		py_string(f, host, strlen(host), false);
		fputs("&quot;)\nclient.download_file(", f);
		py_string(f, uri, ulen, true);
		fputs(", ", f);
		py_string(f, base, blen, true);
		fputs(")\n", f);
	} else {
		fputs("# this key is not UTF-8 text, which Python's str paths need: use the CLI", f);
	}
	snippet_end(f);
	if (s3port != 0) {
		snippet_begin(f, "snip-s3", "S3 (aws-cli)");
		fputs("aws s3 cp ", f);
		shell_word(f, s3uri, s3len);
		fputs(" ", f);
		shell_word(f, base, blen);
		fputs(" --endpoint-url http://", f);
		esc(f, host, host_name_len(host));
		fprintf(f, ":%u%s\n", s3port, b.is_private ? "" : " --no-sign-request");
		snippet_end(f);
	}
	snippet_begin(f, "snip-curl", "curl");
	fputs("curl -fL ", f);
	if (b.is_private)
		fputs("-H &quot;Authorization: Bearer $CAIRN_TOKEN&quot; ", f);
	fputs("-o ", f);
	shell_word(f, base, blen);
	fputs(" &#39;http://", f);
	escs(f, host);
	/* a link holds only unreserved bytes, '%', '/', '?' and '=': safe as it is */
	put_link(f, r->ns, r->name, "resolve", r->key, r->key_len, false);
	fputs("&#39;\n", f);
	snippet_end(f);
	fputs("</section>\n", f);
	page_end(f);
	p->status = 200;
done:
	free(uri);
	free(s3uri);
	free(ctype);
	free(xorbs);
	free(terms);
	return rc;
}

/* ---- login and logout ---------------------------------------------------------------------- */

static int random_hex(char *out, size_t bytes)
{
	static const char hexd[] = "0123456789abcdef";
	uint8_t b[32];
	size_t got = 0;

	if (bytes > sizeof(b))
		return CAIRN_EINVALID;
	while (got < bytes) {
		ssize_t n = getrandom(b + got, bytes - got, 0);
		if (n < 0)
			return CAIRN_EIO;
		got += (size_t)n;
	}
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = hexd[b[i] >> 4];
		out[2 * i + 1] = hexd[b[i] & 15];
	}
	out[2 * bytes] = '\0';
	return 0;
}

/*
 * A POST from a page of another site is refused whatever it carries: the
 * browser names the page's origin (Origin, or Sec-Fetch-Site), and it must
 * be this server.
 */
static bool same_origin(const cairn__web_req *r)
{
	const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	const char *site = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");

	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
		return false;
	if (origin == NULL)
		return true; /* not a browser, or an old one: the CSRF token decides */
	if (host == NULL)
		return false;
	if (strncmp(origin, "http://", 7) == 0)
		origin += 7;
	else if (strncmp(origin, "https://", 8) == 0)
		origin += 8;
	else
		return false; /* "null" and the like */
	return strcmp(origin, host) == 0;
}

static void login_form(FILE *f, const cairn__web_req *r, const char *csrf, const char *problem)
{
	page_begin(f, r, "Log in");
	fputs("<h1>Log in</h1>\n", f);
	if (problem) {
		fputs("<p role=\"alert\" class=\"error\">", f);
		escs(f, problem);
		fputs("</p>\n", f);
	}
	fputs("<form method=\"post\" action=\"/login\" class=\"login\">\n"
	      "<input type=\"hidden\" name=\"csrf\" value=\"",
	      f);
	escs(f, csrf);
	fputs("\">\n<label for=\"token\">Access token</label>\n"
	      "<input id=\"token\" name=\"token\" type=\"password\" required "
	      "autocomplete=\"current-password\" spellcheck=\"false\" "
	      "aria-describedby=\"token-help\">\n"
	      "<p id=\"token-help\" class=\"hint\">A token starts with <code>cairn_</code>. "
	      "An admin makes one with <code>cairn admin tokens create --user NAME</code>; "
	      "<code>cairn login</code> keeps yours in <code>~/.config/cairn</code>.</p>\n"
	      "<button type=\"submit\">Log in</button>\n</form>\n",
	      f);
	page_end(f);
}

static void set_cookie(cairn__web_page *p, int i, const char *name, const char *value,
		       const char *path, long max_age)
{
	snprintf(p->cookies[i], sizeof(p->cookies[i]),
		 "%s=%s; Path=%s; Max-Age=%ld; HttpOnly; SameSite=Strict", name, value, path,
		 max_age);
}

static int page_login(FILE *f, const cairn__web_req *r, cairn__web_page *p)
{
	const char *have = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, LOGIN_CSRF_COOKIE);
	char csrf[CAIRN__CSRF_LEN + 1], given[CAIRN__CSRF_LEN + 2], token[CAIRN_TOKEN_LEN + 2];
	char session[CAIRN_TOKEN_LEN + 1], user[CAIRN_NAME_MAX + 1], scope[CAIRN_SCOPE_MAX + 1];
	uint8_t thash[32], shash[32];
	long glen;
	int64_t now;
	int rc, wait;

	/* the double-submit token: the cookie's, or a new one */
	if (have != NULL && strlen(have) == CAIRN__CSRF_LEN &&
	    strspn(have, "0123456789abcdef") == CAIRN__CSRF_LEN) {
		memcpy(csrf, have, sizeof(csrf));
	} else {
		if ((rc = random_hex(csrf, CAIRN__CSRF_LEN / 2)) != 0)
			return rc;
		set_cookie(p, 0, LOGIN_CSRF_COOKIE, csrf, "/login", 3600);
		have = NULL;
	}
	if (!r->post) {
		p->status = 200;
		login_form(f, r, csrf, NULL);
		return 0;
	}
	glen = cairn__form_field(r->body, r->body_len, "csrf", given, sizeof(given));
	if (!same_origin(r) || have == NULL || glen < 0 ||
	    !same_token(given, (size_t)glen, csrf)) {
		p->status = 403;
		login_form(f, r, csrf,
			   "This form expired or came from another site. Please try again.");
		return 0;
	}
	/* a login is an authentication like any other: failures count, and past the
	 * limit it is refused unread (authlimit.c) */
	if ((wait = cairn__auth_blocked(r->conn)) > 0) {
		char m[120];
		snprintf(m, sizeof(m), "Too many failed logins from this address; try again in %d s.",
			 wait);
		p->status = 429;
		login_form(f, r, csrf, m);
		return 0;
	}
	glen = cairn__form_field(r->body, r->body_len, "token", token, sizeof(token));
	if (glen < 0 || cairn_token_hash(thash, token, (size_t)glen) != 0) {
		cairn__auth_failed(r->conn);
		p->status = 401;
		login_form(f, r, csrf, "That is not a Cairn token (they look like cairn_ and 64 "
				       "hexadecimal digits).");
		return 0;
	}
	rc = r->meta->token_lookup(r->meta, thash, user, scope);
	if (rc == CAIRN_EAUTH) {
		cairn__auth_failed(r->conn);
		p->status = 401;
		login_form(f, r, csrf, "That token is unknown or revoked.");
		return 0;
	}
	if (rc != 0)
		return rc;
	/* a session of its own: logging out ends it, not the token */
	if ((rc = cairn_token_generate(session, shash)) != 0)
		return rc;
	now = now_ns();
	if ((rc = r->meta->begin(r->meta, true)) != 0)
		return rc;
	rc = r->meta->session_create(r->meta, shash, thash, now,
				     now + (int64_t)SESSION_SECS * 1000000000);
	if (rc == 0)
		rc = r->meta->commit(r->meta);
	else
		r->meta->rollback(r->meta);
	if (rc != 0)
		return rc;
	set_cookie(p, 0, CAIRN__SESSION_COOKIE, session, "/", SESSION_SECS);
	set_cookie(p, 1, LOGIN_CSRF_COOKIE, "", "/login", 0);
	p->status = 303;
	snprintf(p->location, sizeof(p->location), "/");
	fputs("<!DOCTYPE html>\n<title>Logged in</title>\n<p><a href=\"/\">Continue</a></p>\n", f);
	return 0;
}

static int page_logout(FILE *f, const cairn__web_req *r, cairn__web_page *p)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, CAIRN__SESSION_COOKIE);
	char given[CAIRN__CSRF_LEN + 2];
	long glen = cairn__form_field(r->body, r->body_len, "csrf", given, sizeof(given));
	uint8_t hash[32];
	int rc;

	if (!same_origin(r)) {
		/* another site's page: it may not even clear a cookie */
		error_page(f, r, p, 403, "Forbidden",
			   "That logout request did not come from a Cairn page.");
		return 0;
	}
	if (!r->by_session || v == NULL || cairn_token_hash(hash, v, strlen(v)) != 0) {
		/* no session: nothing to end; a stale cookie goes */
		if (v != NULL)
			set_cookie(p, 0, CAIRN__SESSION_COOKIE, "", "/", 0);
		p->status = 303;
		snprintf(p->location, sizeof(p->location), "/");
		fputs("<!DOCTYPE html>\n<title>Logged out</title>\n<p><a href=\"/\">Continue</a></p>\n",
		      f);
		return 0;
	}
	if (glen < 0 || !same_token(given, (size_t)glen, r->csrf)) {
		error_page(f, r, p, 403, "Forbidden",
			   "That logout request did not come from a Cairn page. You are still "
			   "logged in.");
		return 0;
	}
	if ((rc = r->meta->begin(r->meta, true)) != 0)
		return rc;
	rc = r->meta->session_delete(r->meta, hash);
	if (rc == 0 || rc == CAIRN_ENOTFOUND)
		rc = r->meta->commit(r->meta);
	else
		r->meta->rollback(r->meta);
	if (rc != 0)
		return rc;
	set_cookie(p, 0, CAIRN__SESSION_COOKIE, "", "/", 0);
	p->status = 303;
	snprintf(p->location, sizeof(p->location), "/");
	fputs("<!DOCTYPE html>\n<title>Logged out</title>\n<p><a href=\"/\">Continue</a></p>\n", f);
	return 0;
}

/* ---- the style sheet ----------------------------------------------------------------------- */

static const char CSS[] =
	":root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;"
	"--link:#0550ae;--accent:#0a3069;--ok:#116329;--warn:#7d4e00;--focus:#bf3989}\n"
	"@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;"
	"--panel:#161b22;--line:#30363d;--link:#79c0ff;--accent:#a5d6ff;--ok:#56d364;"
	"--warn:#e3b341;--focus:#ff7bd5}}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
	"color:var(--fg);background:var(--bg)}\n"
	"a{color:var(--link)}\n"
	":focus-visible{outline:3px solid var(--focus);outline-offset:2px}\n"
	".skip{position:absolute;left:-999px;top:0;padding:.5rem;background:var(--bg)}\n"
	".skip:focus{left:.5rem}\n"
	".visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\n"
	".top{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;"
	"padding:.75rem 1.5rem;border-bottom:1px solid var(--line);background:var(--panel)}\n"
	".brand{font-weight:700;font-size:1.25rem;text-decoration:none;color:var(--fg)}\n"
	".account{display:flex;gap:.75rem;align-items:center}\n"
	".inline{display:inline;margin:0}\n"
	"main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}\n"
	"h1{font-size:1.75rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}\n"
	"h2{font-size:1.25rem;margin:1.5rem 0 .5rem}\n"
	"h3{font-size:1rem;margin:1rem 0 .25rem}\n"
	".crumbs ol{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem;padding:0;margin:0}\n"
	".crumbs li{overflow-wrap:anywhere}\n"
	".crumbs li+li::before{content:'/';margin-right:.25rem;color:var(--muted)}\n"
	".badge{display:inline-block;font-size:.8rem;font-weight:600;padding:.1rem .5rem;"
	"border-radius:1rem;border:1px solid currentColor;vertical-align:middle}\n"
	".badge.public{color:var(--ok)}.badge.private{color:var(--warn)}\n"
	".stats,.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));"
	"gap:.75rem;margin:1rem 0;padding:0}\n"
	".stats div,.facts div{background:var(--panel);border:1px solid var(--line);"
	"border-radius:.5rem;padding:.5rem .75rem;min-width:0}\n"
	"dt{font-size:.85rem;color:var(--muted)}dd{margin:0;font-weight:600;overflow-wrap:anywhere}\n"
	".facts{grid-template-columns:repeat(auto-fit,minmax(16rem,1fr))}\n"
	".hash{font-size:.85rem;word-break:break-all}\n"
	".muted{color:var(--muted);font-weight:400}\n"
	".filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:1rem 0}\n"
	"input,button,.button{font:inherit;padding:.4rem .6rem;border:1px solid var(--line);"
	"border-radius:.4rem;background:var(--bg);color:var(--fg)}\n"
	"button,.button{background:var(--accent);color:var(--bg);border-color:var(--accent);"
	"cursor:pointer;text-decoration:none;display:inline-block}\n"
	".login{display:grid;gap:.5rem;max-width:32rem}\n"
	".error{color:#a40e26;font-weight:600}\n"
	"@media (prefers-color-scheme:dark){.error{color:#ff7b72}}\n"
	"table.listing{width:100%;border-collapse:collapse;margin:.5rem 0}\n"
	".listing caption{text-align:left;color:var(--muted);padding:.25rem 0}\n"
	".listing th,.listing td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid "
	"var(--line);vertical-align:top}\n"
	".listing tbody th{font-weight:400;overflow-wrap:anywhere}\n"
	".listing .num{text-align:right;white-space:nowrap}\n"
	".listing a{text-decoration:none}.listing a:hover{text-decoration:underline}\n"
	".listing a.dir{font-weight:600}\n"
	".pages{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin:.5rem 0}\n"
	".readme,.snippets{margin-top:2rem;border-top:1px solid var(--line)}\n"
	".markdown{overflow-wrap:anywhere}\n"
	"pre{background:var(--panel);border:1px solid var(--line);border-radius:.4rem;"
	"padding:.75rem;overflow-x:auto}\n"
	".snippet pre{user-select:all;white-space:pre-wrap;word-break:break-all}\n"
	"code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}\n"
	".foot{max-width:72rem;margin:0 auto;padding:1rem 1.5rem;color:var(--muted);"
	"font-size:.85rem}\n"
	"@media (max-width:40rem){main,.top{padding-left:.75rem;padding-right:.75rem}"
	".listing th:nth-child(3),.listing td:nth-child(3){display:none}}\n";

/* ---- entry -------------------------------------------------------------------------------- */

int cairn__web_page_build(const cairn__web_req *r, enum cairn__web_kind kind,
			  cairn__web_page *p)
{
	FILE *f;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	p->ctype = "text/html; charset=utf-8";
	if (kind == CAIRN__WEB_CSS) {
		p->status = 200;
		p->ctype = "text/css; charset=utf-8";
		p->len = sizeof(CSS) - 1;
		if ((p->body = malloc(p->len)) == NULL)
			return CAIRN_ENOMEM;
		memcpy(p->body, CSS, p->len);
		return 0;
	}
	if ((f = open_memstream(&p->body, &p->len)) == NULL)
		return CAIRN_ENOMEM;
	switch (kind) {
	case CAIRN__WEB_HOME:
		rc = page_home(f, r, p);
		break;
	case CAIRN__WEB_TREE:
		rc = page_tree(f, r, p);
		break;
	case CAIRN__WEB_BLOB:
		rc = page_blob(f, r, p);
		break;
	case CAIRN__WEB_LOGIN:
		rc = page_login(f, r, p);
		break;
	case CAIRN__WEB_LOGOUT:
		rc = page_logout(f, r, p);
		break;
	default:
		error_page(f, r, p, 404, "Not found", "There is no such page.");
		break;
	}
	if (rc != 0) {
		/* start over with an error page: what was written may be half a table */
		const char *msg = cairn_error_last();
		fprintf(stderr, "web: page failed: %s (%s)\n", cairn_error_name(rc),
			msg && *msg ? msg : "no message");
		fclose(f);
		free(p->body);
		p->body = NULL;
		if ((f = open_memstream(&p->body, &p->len)) == NULL)
			return CAIRN_ENOMEM;
		memset(p->cookies, 0, sizeof(p->cookies));
		p->location[0] = '\0';
		error_page(f, r, p, 500, "Something went wrong",
			   "The server could not make this page. The error is in its log.");
	}
	if (fclose(f) != 0) {
		free(p->body);
		p->body = NULL;
		p->len = 0;
		return CAIRN_ENOMEM;
	}
	return rc;
}
