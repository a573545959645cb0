/*
 * apply.c - carrying out a sync plan (sync.h).
 *
 * Uploads go in sets (cairn_client_put_files): up to SET_FILES files or
 * SET_BYTES bytes are hashed side by side, asked about in one dedup query
 * series, packed together into xorbs and committed in one batch, so a
 * folder of small files costs a few requests, not a few per file. A
 * re-run after an interruption skips what was committed (the plan sees it)
 * and sends no xorb twice (the server reports its chunks as present).
 *
 * Downloads run `jobs` at once, one client (connection) per thread. Small
 * files come in one streamed GET, larger ones by reconstruction with
 * ranged reads in parallel; either way the file hash is checked against
 * the plan's before the file is renamed into place, and its mtime set to
 * the object's.
 *
 * Deletes are one batch per 10,000 keys (remote) or unlink (local).
 */
#include "sync_int.h"

#include "cairn/chunk.h"
#include "cairn/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SET_FILES 256
#define SET_BYTES (UINT64_C(1) << 30)
#define SMALL_GET (UINT64_C(4) << 20) /* downloads up to this size come in one GET */
#define JOBS_DEFAULT 4
#define JOBS_MAX 16

typedef struct apply_ctx {
	cairn_client *c;
	const cairn_sync_plan *p;
	const cairn_sync_apply_options *o;
	sync_root src, dst;
	cairn_sync_summary *sum;
	pthread_mutex_t mu;
	cairn_sync_progress prog; /* under mu */
	uint64_t base_done, base_wire; /* finished sets' bytes */
} apply_ctx;

static void report_locked(apply_ctx *a)
{
	if (a->o && a->o->progress)
		a->o->progress(a->o->progress_ctx, &a->prog);
}

static void fail(apply_ctx *a, const char *path, const char *fmt, ...) CAIRN__PRINTF(3, 4);

/* One failure against a file, kept for the summary. */
static void fail(apply_ctx *a, const char *path, const char *fmt, ...)
{
	cairn_sync_summary *s = a->sum;
	char why[768], **grown, *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&a->mu);
	s->failed++;
	if (asprintf(&line, "%s%s%s", path, *path ? ": " : "", why) >= 0 &&
	    (grown = realloc(s->failures, (s->nfailures + 1) * sizeof(*grown))) != NULL) {
		s->failures = grown;
		s->failures[s->nfailures++] = line;
	} else {
		free(line);
	}
	pthread_mutex_unlock(&a->mu);
}

void cairn_sync_summary_free(cairn_sync_summary *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nfailures; i++)
		free(s->failures[i]);
	free(s->failures);
	memset(s, 0, sizeof(*s));
}

/* ---- before anything: is every source as planned? ---- */

typedef struct remote_seen {
	const sync_root *r;
	const cairn_sync_plan *p;
	size_t *order; /* download items by path */
	size_t n;
	bool *ok;
	int rc;
} remote_seen;

static int by_item_path(const void *a, const void *b, void *ctx)
{
	const cairn_sync_plan *p = ctx;
	return strcmp(p->items[*(const size_t *)a].path, p->items[*(const size_t *)b].path);
}

static int on_remote(void *ctx, const cairn_client_entry *e)
{
	remote_seen *s = ctx;
	size_t pl = strlen(s->r->prefix), lo = 0, hi = s->n;
	const char *rel = e->path;

	if (e->is_dir)
		return 0;
	if (pl > 0) {
		if (strncmp(rel, s->r->prefix, pl) != 0 || rel[pl] != '/')
			return 0;
		rel += pl + 1;
	}
	while (lo < hi) { /* find rel among the planned downloads */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->p->items[s->order[mid]].path, rel);
		if (c == 0) {
			const cairn_sync_item *it = &s->p->items[s->order[mid]];
			s->ok[mid] = it->size == e->size && e->hash &&
				     (it->hash[0] == '\0' || strcmp(it->hash, e->hash) == 0);
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Every upload's local file still of the planned size and mtime, every
 * download's object still of the planned size and hash; else each changed
 * one is named in the summary and CAIRN_EEXISTS returned.
 */
static int check_sources(apply_ctx *a)
{
	const cairn_sync_plan *p = a->p;
	remote_seen s = {&a->src, p, NULL, 0, NULL, 0};
	int rc = 0;

	if (!a->src.remote) {
		for (size_t i = 0; i < p->n; i++) {
			const cairn_sync_item *it = &p->items[i];
			char *path;
			struct stat st;
			if (it->kind != CAIRN_SYNC_UPLOAD)
				continue;
			if ((path = cairn__sync_local(&a->src, it->path)) == NULL)
				return cairn__error_set(CAIRN_ENOMEM, "out of memory");
			if (stat(path, &st) != 0)
				fail(a, it->path, "changed since the plan was made (%s)", strerror(errno));
			else if ((uint64_t)st.st_size != it->size ||
				 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
					 it->mtime_ns)
				fail(a, it->path, "changed since the plan was made");
			free(path);
		}
	} else {
		for (size_t i = 0; i < p->n; i++)
			s.n += p->items[i].kind == CAIRN_SYNC_DOWNLOAD;
		s.order = malloc((s.n ? s.n : 1) * sizeof(*s.order));
		s.ok = calloc(s.n ? s.n : 1, sizeof(*s.ok));
		if (s.order == NULL || s.ok == NULL) {
			free(s.order);
			free(s.ok);
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		s.n = 0;
		for (size_t i = 0; i < p->n; i++)
			if (p->items[i].kind == CAIRN_SYNC_DOWNLOAD)
				s.order[s.n++] = i;
		if (s.n > 1)
			qsort_r(s.order, s.n, sizeof(*s.order), by_item_path, (void *)p);
		if (s.n > 0)
			rc = cairn_client_list(a->c, a->src.ns, a->src.name, a->src.prefix, true,
					       on_remote, &s);
		for (size_t k = 0; k < s.n && rc == 0; k++)
			if (!s.ok[k])
				fail(a, p->items[s.order[k]].path,
				     "changed since the plan was made (or gone)");
		free(s.order);
		free(s.ok);
		if (rc != 0)
			return rc;
	}
	if (a->sum->failed > 0)
		return cairn__error_set(CAIRN_EEXISTS,
					"%llu source file%s changed since the plan was made; "
					"nothing was done (make a new plan)",
					(unsigned long long)a->sum->failed,
					a->sum->failed == 1 ? "" : "s");
	return 0;
}

/* ---- uploads ---- */

typedef struct set_progress {
	apply_ctx *a;
	uint64_t hashed_total; /* the set's bytes */
} set_progress;

static void on_set_progress(void *ctx, const cairn_client_progress *cp)
{
	set_progress *sp = ctx;
	apply_ctx *a = sp->a;

	pthread_mutex_lock(&a->mu);
	/* hashing counts half of a file's way, sending (or finding it there) the other half */
	if (cp->phase == CAIRN_CLIENT_HASHING) {
		a->prog.phase = "hashing";
		a->prog.bytes_done = a->base_done + cp->done / 2;
	} else {
		a->prog.phase = "uploading";
		a->prog.bytes_done = a->base_done + sp->hashed_total / 2 + cp->done / 2;
		a->prog.bytes_saved = a->sum->bytes_saved + cp->deduped;
	}
	a->prog.wire = a->base_wire + cp->wire;
	report_locked(a);
	pthread_mutex_unlock(&a->mu);
}

static int upload_set(apply_ctx *a, cairn_client_put_item *items, size_t n, uint64_t bytes)
{
	cairn_client_xfer_options xo = CAIRN_CLIENT_XFER_OPTIONS_INIT;
	cairn_client_put_result total;
	set_progress sp = {a, bytes};
	int rc;

	xo.progress = on_set_progress;
	xo.progress_ctx = &sp;
	memset(&total, 0, sizeof(total));
	rc = cairn_client_put_files(a->c, a->dst.ns, a->dst.name, items, n, &xo, &total);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < n; i++) {
		if (items[i].rc == 0) {
			a->sum->uploaded++;
			a->sum->bytes += items[i].res.size;
			a->prog.files_done++;
		}
	}
	a->sum->bytes_sent += total.bytes_sent;
	a->sum->bytes_saved += total.size > total.new_bytes ? total.size - total.new_bytes : 0;
	a->base_done += bytes;
	a->base_wire += total.bytes_sent;
	a->prog.bytes_done = a->base_done;
	a->prog.bytes_saved = a->sum->bytes_saved;
	report_locked(a);
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < n; i++)
		if (items[i].rc != 0)
			fail(a, items[i].key + (a->dst.prefix[0] ? strlen(a->dst.prefix) + 1 : 0), "%s",
			     items[i].msg);
	return 0;
}

static int do_uploads(apply_ctx *a)
{
	const cairn_sync_plan *p = a->p;
	cairn_client_put_item *items = calloc(SET_FILES, sizeof(*items));
	char **keys = calloc(SET_FILES, sizeof(*keys)), **paths = calloc(SET_FILES, sizeof(*paths));
	size_t n = 0;
	uint64_t bytes = 0;
	int rc = 0;

	if (items == NULL || keys == NULL || paths == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i <= p->n && rc == 0; i++) {
		const cairn_sync_item *it = i < p->n ? &p->items[i] : NULL;
		bool flush = it == NULL ? n > 0
					: it->kind == CAIRN_SYNC_UPLOAD && n > 0 &&
						  (n == SET_FILES || bytes + it->size > SET_BYTES);
		if (flush) {
			rc = upload_set(a, items, n, bytes);
			for (size_t k = 0; k < n; k++) {
				free(keys[k]);
				free(paths[k]);
			}
			memset(items, 0, n * sizeof(*items));
			n = 0;
			bytes = 0;
		}
		if (it == NULL || it->kind != CAIRN_SYNC_UPLOAD || rc != 0)
			continue;
		keys[n] = cairn__sync_key(&a->dst, it->path);
		paths[n] = cairn__sync_local(&a->src, it->path);
		if (keys[n] == NULL || paths[n] == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			n++;
			break;
		}
		items[n].key = keys[n];
		items[n].path = paths[n];
		items[n].expect = true;
		items[n].expect_size = it->size;
		items[n].expect_mtime_ns = it->mtime_ns;
		bytes += it->size;
		n++;
	}
done:
	for (size_t k = 0; keys && paths && k < n; k++) {
		free(keys[k]);
		free(paths[k]);
	}
	free(items);
	free(keys);
	free(paths);
	return rc;
}

/* ---- downloads ---- */

typedef struct down_ctx {
	apply_ctx *a;
	size_t *todo; /* item indices */
	size_t n;
	atomic_size_t next;
	atomic_int fatal; /* a failure every later download would share (network, auth) */
	char fatal_msg[512];
} down_ctx;

/* mkdir -p of path's parent folders. */
static int make_parents(const char *path)
{
	char *d = strdup(path);
	int rc = 0;

	if (d == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (char *s = strchr(d + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(d, 0755) != 0 && errno != EEXIST)
			rc = cairn__error_set(CAIRN_EIO, "mkdir %s: %s", d, strerror(errno));
		*s = '/';
	}
	free(d);
	return rc;
}

/* A temporary file beside path. */
static int temp_beside(const char *path, char **tmp_out)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
	char *tmp;
	int fd;

	if (asprintf(&tmp, "%.*s.%s.cairn-XXXXXX", (int)dl, path, slash ? slash + 1 : path) < 0)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return cairn__error_set(CAIRN_EIO, "cannot create a file beside %s: %s", path,
					strerror(e));
	}
	*tmp_out = tmp;
	return fd;
}

/*
 * A small object in one streamed GET, into a temporary file; its file hash
 * must be the planned one before it replaces path.
 */
static int get_small(cairn_client *c, const sync_root *r, const char *key, const char *path,
		     const cairn_sync_item *it, uint64_t *received)
{
	cairn_file_chunks *fc = NULL;
	char *tmp = NULL, hex[CAIRN_HASH_HEX_LEN + 1];
	uint64_t size = 0;
	int fd = temp_beside(path, &tmp), rc;

	if (fd < 0)
		return fd;
	rc = cairn_client_download_to_fd(c, r->ns, r->name, key, fd, &size);
	*received += size;
	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = cairn__error_set(CAIRN_EIO, "lseek: %s", strerror(errno));
	if (rc == 0 && (rc = cairn_hash_fd(&fc, fd, &(cairn_hash_options){
							     .version = CAIRN_HASH_OPTIONS_VERSION,
							     .threads = 1})) == 0) {
		cairn_hash_to_hex(hex, &fc->file_hash);
		if (strcmp(hex, it->hash) != 0 || fc->size != it->size)
			rc = cairn__error_set(CAIRN_ECORRUPT, "the object changed since the plan "
					      "was made, or did not arrive intact (hash %s, planned "
					      "%s)", hex, it->hash);
	}
	cairn_file_chunks_free(fc);
	if (rc == 0 && fsync(fd) != 0)
		rc = cairn__error_set(CAIRN_EIO, "fsync: %s", strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = cairn__error_set(CAIRN_EIO, "close: %s", strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = cairn__error_set(CAIRN_EIO, "rename to %s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int get_one(down_ctx *d, cairn_client *c, const cairn_sync_item *it)
{
	apply_ctx *a = d->a;
	char *key = cairn__sync_key(&a->src, it->path), *path = cairn__sync_local(&a->dst, it->path);
	cairn_client_get_result res;
	uint64_t received = 0;
	int rc;

	memset(&res, 0, sizeof(res));
	if (key == NULL || path == NULL) {
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = make_parents(path)) != 0)
		goto done;
	if (it->size <= SMALL_GET && it->hash[0]) {
		rc = get_small(c, &a->src, key, path, it, &received);
	} else {
		rc = cairn_client_get_file(c, a->src.ns, a->src.name, key, path, NULL, &res);
		received = res.bytes_received;
		if (rc == 0 && it->hash[0] && strcmp(res.hash, it->hash) != 0)
			/* whole and verified, but a newer version than planned: keep it, say so */
			rc = cairn__error_set(CAIRN_EEXISTS, "the object changed since the plan was "
					      "made (downloaded the new version)");
	}
	if (rc == 0) {
		struct timespec t[2] = {{0, UTIME_OMIT}, {it->mtime_ns / 1000000000,
							   it->mtime_ns % 1000000000}};
		if (it->mtime_ns < 0 || utimensat(AT_FDCWD, path, t, 0) != 0)
			rc = cairn__error_set(CAIRN_EIO, "setting the mtime of %s: %s", path,
					      strerror(errno));
	}
done:
	pthread_mutex_lock(&a->mu);
	a->sum->bytes_received += received;
	if (rc == 0) {
		a->sum->downloaded++;
		a->sum->bytes += it->size;
		a->prog.files_done++;
	}
	a->prog.bytes_done += it->size;
	a->prog.wire += received;
	report_locked(a);
	pthread_mutex_unlock(&a->mu);
	free(key);
	free(path);
	return rc;
}

static void *down_work(void *arg)
{
	down_ctx *d = arg;
	apply_ctx *a = d->a;
	cairn_client *c = NULL;

	if (cairn_client_clone(&c, a->c) != 0)
		return NULL; /* the other workers take its share */
	while (atomic_load(&d->fatal) == 0) {
		size_t k = atomic_fetch_add(&d->next, 1);
		const cairn_sync_item *it;
		int rc;
		if (k >= d->n)
			break;
		it = &a->p->items[d->todo[k]];
		rc = get_one(d, c, it);
		if (rc == CAIRN_EAUTH || rc == CAIRN_EPERM ||
		    (rc == CAIRN_EIO && strstr(cairn_error_last(), "connect") != NULL)) {
			int zero = 0;
			if (atomic_compare_exchange_strong(&d->fatal, &zero, rc))
				snprintf(d->fatal_msg, sizeof(d->fatal_msg), "%s", cairn_error_last());
		}
		if (rc != 0)
			fail(a, it->path, "%s", cairn_error_last());
	}
	cairn_client_free(c);
	return NULL;
}

static int do_downloads(apply_ctx *a)
{
	const cairn_sync_plan *p = a->p;
	unsigned jobs = a->o && a->o->jobs ? a->o->jobs : JOBS_DEFAULT;
	pthread_t tid[JOBS_MAX];
	bool started[JOBS_MAX] = {false};
	down_ctx d;
	size_t launched = 0;

	memset(&d, 0, sizeof(d));
	d.a = a;
	d.todo = malloc((p->n ? p->n : 1) * sizeof(*d.todo));
	if (d.todo == NULL)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].kind == CAIRN_SYNC_DOWNLOAD)
			d.todo[d.n++] = i;
	atomic_init(&d.next, 0);
	atomic_init(&d.fatal, 0);
	if (jobs > JOBS_MAX)
		jobs = JOBS_MAX;
	if (jobs > d.n)
		jobs = d.n ? (unsigned)d.n : 1;
	for (unsigned i = 0; i < jobs && d.n > 0; i++) {
		started[i] = pthread_create(&tid[i], NULL, down_work, &d) == 0;
		launched += started[i];
	}
	for (unsigned i = 0; i < jobs; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	free(d.todo);
	if (d.n > 0 && launched == 0)
		return cairn__error_set(CAIRN_ENOMEM, "no thread could start a download");
	if (atomic_load(&d.fatal) != 0)
		return cairn__error_set(atomic_load(&d.fatal), "%s", d.fatal_msg);
	return 0;
}

/* ---- deletes ---- */

static int do_deletes(apply_ctx *a)
{
	const cairn_sync_plan *p = a->p;
	int rc = 0;

	if (a->dst.remote) {
		char **keys = malloc((p->n ? p->n : 1) * sizeof(*keys));
		size_t n = 0;
		if (keys == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		for (size_t i = 0; i < p->n && rc == 0; i++) {
			if (p->items[i].kind != CAIRN_SYNC_DELETE)
				continue;
			if ((keys[n++] = cairn__sync_key(&a->dst, p->items[i].path)) == NULL)
				rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
		}
		if (rc == 0 && n > 0)
			rc = cairn_client_delete_many(a->c, a->dst.ns, a->dst.name,
						      (const char *const *)keys, n, NULL);
		if (rc == 0) {
			pthread_mutex_lock(&a->mu);
			a->sum->deleted += n;
			a->prog.files_done += n;
			report_locked(a);
			pthread_mutex_unlock(&a->mu);
		}
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		return rc;
	}
	for (size_t i = 0; i < p->n; i++) {
		const cairn_sync_item *it = &p->items[i];
		char *path;
		if (it->kind != CAIRN_SYNC_DELETE)
			continue;
		if ((path = cairn__sync_local(&a->dst, it->path)) == NULL)
			return cairn__error_set(CAIRN_ENOMEM, "out of memory");
		if (unlink(path) != 0 && errno != ENOENT) {
			fail(a, it->path, "%s", strerror(errno));
		} else {
			pthread_mutex_lock(&a->mu);
			a->sum->deleted++;
			a->prog.files_done++;
			pthread_mutex_unlock(&a->mu);
		}
		free(path);
	}
	return 0;
}

int cairn_sync_apply(cairn_client *c, const cairn_sync_plan *p,
		     const cairn_sync_apply_options *opts, cairn_sync_summary *out)
{
	apply_ctx a;
	int rc;

	memset(out, 0, sizeof(*out));
	if (opts && opts->version != CAIRN_SYNC_APPLY_OPTIONS_VERSION)
		return cairn__error_set(CAIRN_EINVALID, "unknown cairn_sync_apply_options version %u",
					opts->version);
	memset(&a, 0, sizeof(a));
	a.c = c;
	a.p = p;
	a.o = opts;
	a.sum = out;
	pthread_mutex_init(&a.mu, NULL);
	if ((rc = cairn__sync_root_parse(&a.src, p->source)) < 0 ||
	    (rc = cairn__sync_root_parse(&a.dst, p->destination)) < 0)
		goto done;
	if (a.src.remote == a.dst.remote) {
		rc = cairn__error_set(CAIRN_EINVALID, "a plan goes between a local folder and a bucket");
		goto done;
	}
	for (size_t i = 0; i < p->n; i++) {
		const cairn_sync_item *it = &p->items[i];
		if (it->kind == CAIRN_SYNC_SKIP) {
			out->skipped++;
			continue;
		}
		a.prog.files_total++;
		if (it->kind != CAIRN_SYNC_DELETE)
			a.prog.bytes_total += it->size;
	}
	if (opts && opts->verify_sources && (rc = check_sources(&a)) != 0)
		goto done;
	a.prog.phase = a.src.remote ? "downloading" : "hashing";
	pthread_mutex_lock(&a.mu);
	report_locked(&a);
	pthread_mutex_unlock(&a.mu);
	rc = a.src.remote ? do_downloads(&a) : do_uploads(&a);
	if (rc == 0) {
		a.prog.phase = "deleting";
		rc = do_deletes(&a);
	}
	/* what could not even be listed counts as failed too */
	for (size_t i = 0; i < p->nerrors; i++) {
		/* "PATH: why" already */
		const char *sep = strstr(p->errors[i], ": ");
		fail(&a, sep ? "" : p->errors[i], "%s", sep ? p->errors[i] : "cannot be read");
	}
done:
	cairn__sync_root_free(&a.src);
	cairn__sync_root_free(&a.dst);
	pthread_mutex_destroy(&a.mu);
	return rc;
}
