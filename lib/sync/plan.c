/*
 * plan.c - deciding what a sync does (sync.h): list both sides, compare
 * file by file, and the plan's JSON Lines form.
 *
 * The comparison, for a file the source has:
 *   destination lacks it       upload/download ("new"), or skip with --existing
 *   destination has it         skip with --ignore-existing; else
 *     --checksum               transfer when the xet file hashes differ
 *     otherwise                transfer when the sizes differ (unless
 *                              --ignore-sizes) or the mtimes differ by more
 *                              than MTIME_WINDOW_NS, or always with
 *                              --ignore-times
 * and with --delete, a selected destination file the source lacks is
 * deleted. Files the filter leaves out are neither copied nor deleted.
 */
#include "sync_int.h"

#include "cairn/chunk.h"
#include "cairn/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * mtimes closer than this are equal: some filesystems keep less than
 * nanoseconds, and a file downloaded there must not look changed.
 */
#define MTIME_WINDOW_NS INT64_C(1000000)

#define PLAN_FORMAT 1
#define PLAN_LINE_MAX (64u << 10) /* a path of 1 KiB, a reason, numbers: far below this */

static const char *const KIND_NAME[] = {"upload", "download", "delete", "skip"};

/* ---- listing the remote side ---- */

typedef struct remote_ctx {
	const sync_root *r;
	const cairn_filter *f;
	sync_list *out;
	int rc;
} remote_ctx;

static int on_remote(void *ctx, const cairn_client_entry *e)
{
	remote_ctx *rc = ctx;
	size_t pl = strlen(rc->r->prefix);
	const char *rel = e->path;
	sync_list *l = rc->out;

	if (e->is_dir)
		return 0;
	if (pl > 0) {
		if (strncmp(rel, rc->r->prefix, pl) != 0 || rel[pl] != '/')
			return 0;
		rel += pl + 1;
	}
	if (!cairn_filter_selects(rc->f, rel))
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 256;
		sync_entry *ne = realloc(l->e, ncap * sizeof(*ne));
		if (ne == NULL)
			return rc->rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		l->e = ne;
		l->cap = ncap;
	}
	memset(&l->e[l->n], 0, sizeof(l->e[0]));
	if ((l->e[l->n].path = strdup(rel)) == NULL)
		return rc->rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
	l->e[l->n].size = e->size;
	l->e[l->n].mtime_ns = e->mtime_ns;
	if (e->hash)
		snprintf(l->e[l->n].hash, sizeof(l->e[0].hash), "%s", e->hash);
	l->n++;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const sync_entry *)a)->path, ((const sync_entry *)b)->path);
}

static int list_remote(cairn_client *c, const sync_root *r, const cairn_filter *f, bool may_miss,
		       sync_list *out)
{
	remote_ctx ctx = {r, f, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cairn_client_list(c, r->ns, r->name, r->prefix, true, on_remote, &ctx);
	if (rc == CAIRN_ENOTFOUND && may_miss && r->prefix[0] != '\0') {
		/* a folder that does not exist yet is an empty destination... */
		cairn_client_bucket b;
		rc = cairn_client_bucket_info(c, r->ns, r->name, &b); /* ...if the bucket does */
	}
	if (rc == 0)
		rc = ctx.rc;
	if (rc < 0) {
		cairn__sync_list_free(out);
		return rc;
	}
	/* key order is byte order, and so is this; sorted anyway, cheaply, to be sure */
	if (out->n > 1)
		qsort(out->e, out->n, sizeof(out->e[0]), by_path);
	return 0;
}

/* ---- the plan ---- */

static int push_item(cairn_sync_plan *p, size_t *cap, cairn_sync_kind kind, const sync_entry *e,
		     const char *reason)
{
	cairn_sync_item *it;

	if (p->n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 256;
		cairn_sync_item *ni = realloc(p->items, ncap * sizeof(*ni));
		if (ni == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		p->items = ni;
		*cap = ncap;
	}
	it = &p->items[p->n];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->size = e->size;
	it->mtime_ns = e->mtime_ns;
	memcpy(it->hash, e->hash, sizeof(it->hash));
	it->path = strdup(e->path);
	it->reason = strdup(reason);
	if (it->path == NULL || it->reason == NULL) {
		free(it->path);
		free(it->reason);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	p->n++;
	return 0;
}

/* The xet hash of a local file into e->hash; a failure is noted against the file. */
static int hash_local(const sync_root *r, sync_entry *e, const cairn_sync_options *o,
		      cairn_sync_plan *p, bool *ok)
{
	cairn_hash_options ho = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL;
	char *path = cairn__sync_local(r, e->path);
	int fd, rc;

	*ok = false;
	if (path == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return cairn__sync_note(p, false, "%s: %s", e->path, strerror(errno));
	ho.threads = o->threads;
	rc = cairn_hash_fd(&fc, fd, &ho);
	close(fd);
	if (rc == CAIRN_ENOMEM)
		return rc;
	if (rc < 0)
		return cairn__sync_note(p, false, "%s: %s", e->path, cairn_error_last());
	cairn_hash_to_hex(e->hash, &fc->file_hash);
	e->size = fc->size;
	cairn_file_chunks_free(fc);
	*ok = true;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *filters_text(const cairn_filter *f)
{
	size_t n = cairn_filter_count(f), len = 0;
	char *s;

	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool inc;
		const char *pat;
		cairn_filter_rule(f, i, &inc, &pat);
		len += strlen(pat) + 3;
	}
	s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	len = 0;
	for (size_t i = 0; i < n; i++) {
		bool inc;
		const char *pat;
		cairn_filter_rule(f, i, &inc, &pat);
		len += (size_t)sprintf(s + len, "%c %s\n", inc ? '+' : '-', pat);
	}
	return s;
}

static int compare(const sync_root *src, const sync_root *dst, sync_list *a, sync_list *b,
		   const cairn_sync_options *o, cairn_sync_plan *p)
{
	cairn_sync_kind move = src->remote ? CAIRN_SYNC_DOWNLOAD : CAIRN_SYNC_UPLOAD;
	const sync_root *local = src->remote ? dst : src;
	size_t i = 0, j = 0, cap = 0;
	int rc = 0;

	while (rc == 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->e[i].path, b->e[j].path);
		sync_entry *s = c <= 0 ? &a->e[i] : NULL, *d = c >= 0 ? &b->e[j] : NULL;

		if (d == NULL) {
			rc = o->existing ? push_item(p, &cap, CAIRN_SYNC_SKIP, s,
						     "not at the destination (--existing)")
					 : push_item(p, &cap, move, s, "new");
		} else if (s == NULL) {
			if (o->delete_extra)
				rc = push_item(p, &cap, CAIRN_SYNC_DELETE, d, "not in the source");
		} else if (o->ignore_existing) {
			rc = push_item(p, &cap, CAIRN_SYNC_SKIP, s, "exists (--ignore-existing)");
		} else if (o->checksum) {
			/* the local side is hashed here; the remote side has its hash listed */
			sync_entry *le = src->remote ? d : s;
			bool ok = true;
			if (!o->ignore_sizes && s->size != d->size)
				rc = push_item(p, &cap, move, s, "size differs");
			else if ((rc = hash_local(local, le, o, p, &ok)) == 0 && ok)
				rc = strcmp(s->hash, d->hash) != 0
					     ? push_item(p, &cap, move, s, "checksum differs")
					     : push_item(p, &cap, CAIRN_SYNC_SKIP, s, "same checksum");
		} else if (o->ignore_times) {
			rc = push_item(p, &cap, move, s, "--ignore-times");
		} else if (!o->ignore_sizes && s->size != d->size) {
			rc = push_item(p, &cap, move, s, "size differs");
		} else if (s->mtime_ns - d->mtime_ns > MTIME_WINDOW_NS ||
			   d->mtime_ns - s->mtime_ns > MTIME_WINDOW_NS) {
			rc = push_item(p, &cap, move, s, "modification time differs");
		} else {
			rc = push_item(p, &cap, CAIRN_SYNC_SKIP, s,
				       o->ignore_sizes ? "same modification time"
						       : "same size and modification time");
		}
		i += c <= 0;
		j += c >= 0;
	}
	return rc;
}

int cairn_sync_plan_make(cairn_client *c, const char *source, const char *destination,
			 const cairn_sync_options *opts, cairn_sync_plan **out)
{
	cairn_sync_options o = CAIRN_SYNC_OPTIONS_INIT;
	sync_root src, dst;
	sync_list a = {0}, b = {0};
	cairn_sync_plan *p = NULL;
	int rc;

	if (opts)
		o = *opts;
	if ((rc = cairn__sync_root_parse(&src, source)) < 0 ||
	    (rc = cairn__sync_root_parse(&dst, destination)) < 0)
		goto done;
	if (src.remote == dst.remote) {
		rc = cairn__error_set(CAIRN_EINVALID, "one side must be a local folder and the other "
				      "cairn://buckets/NS/NAME[/FOLDER]");
		goto done;
	}
	if (o.existing && o.ignore_existing) {
		rc = cairn__error_set(CAIRN_EINVALID, "--existing and --ignore-existing together "
				      "would transfer nothing");
		goto done;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->source = strdup(source)) == NULL ||
	    (p->destination = strdup(destination)) == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	p->created_ns = now_ns();
	p->opts = o;
	p->opts.filter = NULL;
	p->filters = filters_text(o.filter);
	if (src.remote) {
		if ((rc = list_remote(c, &src, o.filter, false, &a)) < 0)
			goto done;
		rc = cairn__sync_walk(&dst, o.filter, &b, p);
		if (rc == CAIRN_ENOTFOUND) /* a folder to be made */
			rc = 0;
	} else {
		if ((rc = cairn__sync_walk(&src, o.filter, &a, p)) < 0)
			goto done;
		rc = list_remote(c, &dst, o.filter, true, &b);
	}
	if (rc < 0)
		goto done;
	rc = compare(&src, &dst, &a, &b, &o, p);
done:
	cairn__sync_list_free(&a);
	cairn__sync_list_free(&b);
	cairn__sync_root_free(&src);
	cairn__sync_root_free(&dst);
	if (rc < 0) {
		cairn_sync_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void cairn_sync_plan_free(cairn_sync_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].path);
		free(p->items[i].reason);
	}
	for (size_t i = 0; i < p->nerrors; i++)
		free(p->errors[i]);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->items);
	free(p->errors);
	free(p->warnings);
	free(p->source);
	free(p->destination);
	free(p->filters);
	free(p);
}

void cairn_sync_plan_counts(const cairn_sync_plan *p, size_t counts[4], uint64_t bytes[4])
{
	for (int k = 0; k < 4; k++)
		counts[k] = 0, bytes[k] = 0;
	for (size_t i = 0; i < p->n; i++) {
		counts[p->items[i].kind]++;
		bytes[p->items[i].kind] += p->items[i].size;
	}
}

/* ---- the JSON Lines form ---- */

static int put_line(FILE *out, json_t *v)
{
	int rc = v && json_dumpf(v, out, JSON_COMPACT) == 0 && fputc('\n', out) != EOF ? 0 : -1;

	json_decref(v);
	return rc == 0 ? 0 : cairn__error_set(CAIRN_EIO, "cannot write the plan");
}

int cairn_sync_plan_write(const cairn_sync_plan *p, FILE *out)
{
	const cairn_sync_options *o = &p->opts;
	json_t *opts = json_pack("{s:b,s:b,s:b,s:b,s:b,s:b}", "checksum", o->checksum, "ignore_times",
				 o->ignore_times, "ignore_sizes", o->ignore_sizes, "existing",
				 o->existing, "ignore_existing", o->ignore_existing, "delete",
				 o->delete_extra);
	int rc;

	if (opts && p->filters)
		json_object_set_new(opts, "filters", json_string(p->filters));
	rc = put_line(out, json_pack("{s:i,s:s,s:s,s:I,s:o}", "cairn_sync_plan", PLAN_FORMAT,
				     "source", p->source, "destination", p->destination, "created_ns",
				     (json_int_t)p->created_ns, "options", opts));
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		const cairn_sync_item *it = &p->items[i];
		json_t *v = json_pack("{s:s,s:s,s:I,s:I,s:s}", "op", KIND_NAME[it->kind], "path",
				      it->path, "size", (json_int_t)it->size, "mtime_ns",
				      (json_int_t)it->mtime_ns, "reason", it->reason);
		if (v && it->hash[0])
			json_object_set_new(v, "hash", json_string(it->hash));
		rc = put_line(out, v);
	}
	if (rc == 0 && fflush(out) != 0)
		rc = cairn__error_set(CAIRN_EIO, "cannot write the plan: %s", strerror(errno));
	return rc;
}

static bool opt_bool(json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

static const char *parse_header(cairn_sync_plan *p, json_t *v)
{
	json_t *o = json_object_get(v, "options");
	const char *s = json_string_value(json_object_get(v, "source"));
	const char *d = json_string_value(json_object_get(v, "destination"));
	const char *f;
	sync_root rs = {0}, rd = {0}; /* freed below even when parsing stops at the first */
	bool ok;

	if (json_integer_value(json_object_get(v, "cairn_sync_plan")) != PLAN_FORMAT)
		return "not a Cairn sync plan (the first line must be its header, format 1)";
	if (s == NULL || d == NULL)
		return "the header needs \"source\" and \"destination\"";
	ok = cairn__sync_root_parse(&rs, s) == 0 && cairn__sync_root_parse(&rd, d) == 0 &&
	     rs.remote != rd.remote;
	cairn__sync_root_free(&rs);
	cairn__sync_root_free(&rd);
	cairn_error_clear();
	if (!ok)
		return "\"source\" and \"destination\" must be a local folder and a cairn:// folder";
	if (!json_is_integer(json_object_get(v, "created_ns")))
		return "the header needs \"created_ns\"";
	p->source = strdup(s);
	p->destination = strdup(d);
	p->created_ns = (int64_t)json_integer_value(json_object_get(v, "created_ns"));
	p->opts = (cairn_sync_options)CAIRN_SYNC_OPTIONS_INIT;
	p->opts.checksum = opt_bool(o, "checksum");
	p->opts.ignore_times = opt_bool(o, "ignore_times");
	p->opts.ignore_sizes = opt_bool(o, "ignore_sizes");
	p->opts.existing = opt_bool(o, "existing");
	p->opts.ignore_existing = opt_bool(o, "ignore_existing");
	p->opts.delete_extra = opt_bool(o, "delete");
	f = json_string_value(json_object_get(o, "filters"));
	if (f)
		p->filters = strdup(f);
	if (p->source == NULL || p->destination == NULL || (f && p->filters == NULL))
		return "out of memory";
	return NULL;
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const char *parse_item(cairn_sync_plan *p, size_t *cap, json_t *v, bool src_remote)
{
	const char *op = json_string_value(json_object_get(v, "op"));
	const char *path = json_string_value(json_object_get(v, "path"));
	const char *reason = json_string_value(json_object_get(v, "reason"));
	json_t *size = json_object_get(v, "size"), *mt = json_object_get(v, "mtime_ns");
	json_t *h = json_object_get(v, "hash");
	sync_entry e;
	int kind = -1;

	if (!json_is_object(v))
		return "not a JSON object";
	for (int k = 0; op && k < 4; k++)
		if (strcmp(op, KIND_NAME[k]) == 0)
			kind = k;
	if (kind < 0)
		return "\"op\" must be upload, download, delete or skip";
	if ((kind == CAIRN_SYNC_UPLOAD && src_remote) || (kind == CAIRN_SYNC_DOWNLOAD && !src_remote))
		return src_remote ? "an upload in a plan whose source is a bucket"
				  : "a download in a plan whose source is local";
	if (path == NULL || !cairn__sync_path_ok(path) || strlen(path) != json_string_length(
		json_object_get(v, "path")))
		return "\"path\" must be a relative path without empty, \".\" or \"..\" parts";
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return "\"size\" must be a byte count";
	if (mt != NULL && !json_is_integer(mt))
		return "\"mtime_ns\" must be an integer";
	if (h != NULL && (!json_is_string(h) || !hex64(json_string_value(h))))
		return "\"hash\" must be 64 hex digits";
	memset(&e, 0, sizeof(e));
	e.path = (char *)path;
	e.size = (uint64_t)json_integer_value(size);
	e.mtime_ns = mt ? (int64_t)json_integer_value(mt) : 0;
	if (h)
		memcpy(e.hash, json_string_value(h), 65);
	if (push_item(p, cap, (cairn_sync_kind)kind, &e, reason ? reason : "") < 0)
		return "out of memory";
	return NULL;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A path may have one decision only (an edited plan could say two). */
static int no_twice(const cairn_sync_plan *p)
{
	char **paths = malloc((p->n ? p->n : 1) * sizeof(*paths));
	int rc = 0;

	if (paths == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		paths[i] = p->items[i].path;
	if (p->n > 1)
		qsort(paths, p->n, sizeof(*paths), by_str);
	for (size_t i = 1; i < p->n && rc == 0; i++)
		if (strcmp(paths[i - 1], paths[i]) == 0)
			rc = cairn__error_set(CAIRN_EINVALID, "the plan names '%s' more than once",
					      paths[i]);
	free(paths);
	return rc;
}

int cairn_sync_plan_read(cairn_sync_plan **out, FILE *in)
{
	cairn_sync_plan *p = calloc(1, sizeof(*p));
	char *line = malloc(PLAN_LINE_MAX + 2);
	size_t cap = 0, lineno = 0, len;
	const char *why = NULL;
	bool src_remote = false;
	long got;
	int rc = 0;

	if (p == NULL || line == NULL) {
		free(p);
		free(line);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	while (why == NULL && (got = cairn__sync_getline(in, line, PLAN_LINE_MAX + 2)) != 0) {
		json_t *v;
		lineno++;
		if (got < 0) {
			why = "line over 64 KiB (a plan line names one file)";
			break;
		}
		len = (size_t)got - 1;
		if (len == 0)
			continue;
		v = json_loadb(line, len, 0, NULL);
		if (!json_is_object(v))
			why = "not a JSON object";
		else if (p->source == NULL) {
			why = parse_header(p, v);
			/* the root parser's rule: only cairn://buckets/ names a bucket */
			src_remote = why == NULL && strncmp(p->source, "cairn://buckets/", 16) == 0;
		} else {
			why = parse_item(p, &cap, v, src_remote);
		}
		json_decref(v);
	}
	if (why == NULL && ferror(in))
		rc = cairn__error_set(CAIRN_EIO, "cannot read the plan: %s", strerror(errno));
	else if (why == NULL && p->source == NULL)
		rc = cairn__error_set(CAIRN_EINVALID, "the plan is empty (no header line)");
	else if (why != NULL)
		rc = cairn__error_set(CAIRN_EINVALID, "plan line %zu: %s", lineno, why);
	free(line);
	if (rc == 0)
		rc = no_twice(p);
	if (rc < 0) {
		cairn_sync_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}
