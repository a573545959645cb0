/*
 * test_repo.c - the storage engine end to end on a temporary data
 * directory: buckets, objects written and read back whole and by range,
 * deduplication measured by the stats, listing with prefixes, delimiters
 * and pages, copy and delete, GC with its grace period, fsck clean and
 * fsck (and reads) catching corruption; and recompression recording a
 * stored form only while its file is there (gc may take one an earlier
 * attempt left for an orphan between the pass's put and its commit).
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/errors.h"
#include "cairn/repo.h"
#include "cairn/sys/meta.h"
#include "cairn/sys/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static bool reads_back(cairn_repo *r, const char *key, const uint8_t *want, size_t n,
		       uint64_t off, uint64_t len)
{
	test_sink s = {0};
	int rc = cairn_object_get(r, "alice", "ckpt", key, strlen(key), off, len, test_sink_write, &s);
	uint64_t end = len > n - off ? n : off + len;
	bool ok = rc == 0 && s.n == end - off && (s.n == 0 || memcmp(s.p, want + off, s.n) == 0);

	if (!ok)
		printf("# read %s [%llu,+%llu): rc=%d got %zu: %s\n", key, (unsigned long long)off,
		       (unsigned long long)len, rc, s.n, cairn_error_last());
	free(s.p);
	return ok;
}

static char tmpdir[64];

static void rm_rf(const char *path)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

/* A safetensors-like checkpoint: 30 tensors of 1 MiB of bf16-ish values;
 * each version rewrites 6 of them (20%). */
static uint8_t *checkpoint(int v, size_t *len)
{
	size_t nt = 30, ts = 1024 * 1024;
	uint8_t *p = test_xmalloc(nt * ts);

	for (size_t t = 0; t < nt; t++) {
		int gen = 0;
		for (int k = 1; k <= v; k++)
			if ((t + (size_t)k * 7) % 5 == 0) /* 6 of 30 tensors per version */
				gen = k;
		splitmix64_fill((uint64_t)t * 1000 + (uint64_t)gen, p + t * ts, ts);
		for (size_t i = 1; i < ts; i += 2)
			p[t * ts + i] = (uint8_t)(0x3c + (p[t * ts + i] & 3)); /* bf16 exponents */
	}
	*len = nt * ts;
	return p;
}

static void basics(cairn_repo *r)
{
	size_t n;
	uint8_t *a = xetgen("splitmix:1:3000000", &n);
	cairn_put_result res;
	cairn_object_row row;
	cairn_bucket_row b;

	test_section("buckets");
	CHECK(cairn_bucket_create(r, "alice", "ckpt", true) == 0);
	CHECK(cairn_bucket_create(r, "alice", "ckpt", true) == CAIRN_EEXISTS);
	CHECK(cairn_bucket_create(r, "alice", "Bad Name", true) == CAIRN_EINVALID);
	CHECK(cairn_bucket_get(r, "alice", "ckpt", &b) == 0 && b.is_private);
	CHECK(cairn_bucket_set_private(r, "alice", "ckpt", false) == 0);
	CHECK(cairn_bucket_get(r, "alice", "ckpt", &b) == 0 && !b.is_private);
	CHECK(cairn_bucket_get(r, "alice", "nope", &b) == CAIRN_ENOTFOUND);

	test_section("put and get");
	CHECK(cairn_object_put(r, "alice", "ckpt", "a.bin", 5, a, n, NULL, &res) == 0);
	CHECK(res.size == n && res.new_chunks == res.chunks && res.chunks > 10);
	CHECK(reads_back(r, "a.bin", a, n, 0, UINT64_MAX));
	CHECK(reads_back(r, "a.bin", a, n, 12345, 700000));
	CHECK(reads_back(r, "a.bin", a, n, n - 1, 10));
	CHECK(reads_back(r, "a.bin", a, n, n, 10));
	CHECK(reads_back(r, "a.bin", a, n, 0, 0));
	{
		test_sink s = {0};
		CHECK(cairn_object_get(r, "alice", "ckpt", "a.bin", 5, n + 1, 1, test_sink_write, &s) ==
		      CAIRN_EINVALID);
		CHECK(cairn_object_get(r, "alice", "ckpt", "zz", 2, 0, 1, test_sink_write, &s) ==
		      CAIRN_ENOTFOUND);
		free(s.p);
	}
	CHECK(cairn_object_stat(r, "alice", "ckpt", "a.bin", 5, &row) == 0 && row.size == n);
	CHECK(cairn_object_put(r, "alice", "nope", "a.bin", 5, a, n, NULL, NULL) ==
	      CAIRN_ENOTFOUND);

	test_section("identical objects cost nothing new");
	CHECK(cairn_object_put(r, "alice", "ckpt", "copy-of-a.bin", 13, a, n, NULL, &res) == 0);
	CHECK(res.new_chunks == 0 && res.stored_bytes == 0);
	CHECK(cairn_object_copy(r, "alice", "ckpt", "a.bin", 5, "alice", "ckpt", "b/c.bin", 7) ==
	      0);
	CHECK(reads_back(r, "b/c.bin", a, n, 0, UINT64_MAX));
	{
		cairn_stats st;
		CHECK(cairn_bucket_stats(r, "alice", "ckpt", &st) == 0);
		CHECK(st.objects == 3 && st.logical_bytes == 3 * n);
		CHECK(st.stored_bytes > 0 && st.stored_bytes <= n + 8 * st.chunks);
		printf("# 3 copies of %zu bytes: logical %llu, stored %llu\n", n,
		       (unsigned long long)st.logical_bytes, (unsigned long long)st.stored_bytes);
	}

	test_section("overwrite and delete");
	{
		size_t m;
		uint8_t *c = xetgen("text:3:500000", &m);
		CHECK(cairn_object_put(r, "alice", "ckpt", "a.bin", 5, c, m, NULL, &res) == 0);
		CHECK(reads_back(r, "a.bin", c, m, 0, UINT64_MAX));
		CHECK(reads_back(r, "copy-of-a.bin", a, n, 0, UINT64_MAX));
		free(c);
	}
	/* a reader pins the version it opened: an overwrite does not show */
	{
		cairn_reader *rd;
		test_sink s = {0};
		size_t m;
		uint8_t *d = xetgen("splitmix:44:400000", &m);
		CHECK(cairn_reader_open(&rd, r, "alice", "ckpt", "copy-of-a.bin", 13) == 0);
		CHECK(cairn_reader_size(rd) == n);
		CHECK(cairn_object_put(r, "alice", "ckpt", "copy-of-a.bin", 13, d, m, NULL, NULL) == 0);
		CHECK(cairn_reader_read(rd, 1000, 500000, test_sink_write, &s) == 0 && s.n == 500000 &&
		      memcmp(s.p, a + 1000, 500000) == 0);
		CHECK(cairn_reader_read(rd, n + 1, 1, test_sink_write, &s) == CAIRN_EINVALID);
		cairn_reader_close(rd);
		CHECK(reads_back(r, "copy-of-a.bin", d, m, 0, UINT64_MAX));
		free(s.p);
		free(d);
	}
	CHECK(cairn_object_delete(r, "alice", "ckpt", "copy-of-a.bin", 13) == 0);
	CHECK(cairn_object_delete(r, "alice", "ckpt", "copy-of-a.bin", 13) == CAIRN_ENOTFOUND);
	CHECK(cairn_object_stat(r, "alice", "ckpt", "copy-of-a.bin", 13, &row) == CAIRN_ENOTFOUND);
	free(a);
}

typedef struct listing {
	char out[4096];
	size_t len;
} listing;

static int on_entry(void *ctx, const cairn_object_row *row, const char *prefix, size_t plen)
{
	listing *l = ctx;
	if (row)
		l->len += (size_t)snprintf(l->out + l->len, sizeof(l->out) - l->len, "%.*s ",
					   (int)row->key_len, row->key);
	else
		l->len += (size_t)snprintf(l->out + l->len, sizeof(l->out) - l->len, "[%.*s] ",
					   (int)plen, prefix);
	return 0;
}

static void listings(cairn_repo *r)
{
	static const char *keys[] = {"x/1", "x/2", "x/y/3", "x/y/4", "x/z", "xa", "y", "z/q"};
	cairn_list_options o = CAIRN_LIST_OPTIONS_INIT;
	listing l;
	bool more;

	test_section("listing");
	CHECK(cairn_bucket_create(r, "alice", "list", false) == 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(cairn_object_put(r, "alice", "list", keys[i], strlen(keys[i]), keys[i],
				       strlen(keys[i]), NULL, NULL) == 0);
	memset(&l, 0, sizeof(l));
	CHECK(cairn_object_list(r, "alice", "list", &o, on_entry, &l, &more) == 0 && !more);
	CHECK_STR(l.out, "x/1 x/2 x/y/3 x/y/4 x/z xa y z/q ");

	memset(&l, 0, sizeof(l));
	o.delimiter = "/";
	o.delimiter_len = 1;
	CHECK(cairn_object_list(r, "alice", "list", &o, on_entry, &l, &more) == 0 && !more);
	CHECK_STR(l.out, "[x/] xa y [z/] ");

	memset(&l, 0, sizeof(l));
	o.prefix = "x/";
	o.prefix_len = 2;
	CHECK(cairn_object_list(r, "alice", "list", &o, on_entry, &l, &more) == 0 && !more);
	CHECK_STR(l.out, "x/1 x/2 [x/y/] x/z ");

	/* pages of two, resuming after the last entry */
	memset(&l, 0, sizeof(l));
	o.limit = 2;
	CHECK(cairn_object_list(r, "alice", "list", &o, on_entry, &l, &more) == 0 && more);
	CHECK_STR(l.out, "x/1 x/2 ");
	o.start_after = "x/2";
	o.start_after_len = 3;
	memset(&l, 0, sizeof(l));
	CHECK(cairn_object_list(r, "alice", "list", &o, on_entry, &l, &more) == 0 && !more);
	CHECK_STR(l.out, "[x/y/] x/z ");

	/* pages of one with a delimiter: a page that ends on a common prefix
	 * resumes after everything under it (never the same prefix again) */
	{
		char cursor[64] = "";
		size_t clen = 0;
		int pages = 0;
		listing all;
		cairn_list_options p = CAIRN_LIST_OPTIONS_INIT;

		memset(&all, 0, sizeof(all));
		p.delimiter = "/";
		p.delimiter_len = 1;
		p.limit = 1;
		do {
			memset(&l, 0, sizeof(l));
			p.start_after = clen ? cursor : NULL;
			p.start_after_len = clen;
			if (!CHECK(cairn_object_list(r, "alice", "list", &p, on_entry, &l, &more) == 0))
				break;
			all.len += (size_t)snprintf(all.out + all.len, sizeof(all.out) - all.len, "%s",
						    l.out);
			/* the cursor: the entry just listed, without its decoration */
			clen = strlen(l.out) - 1;
			if (l.out[0] == '[') {
				memcpy(cursor, l.out + 1, clen - 2);
				clen -= 2;
			} else {
				memcpy(cursor, l.out, clen);
			}
		} while (more && ++pages < 20);
		CHECK_STR(all.out, "[x/] xa y [z/] ");
	}
}

/* The checkpoint series: what each new version costs. */
static void series(cairn_repo *r)
{
	uint64_t prev_stored = 0;

	test_section("checkpoint series: each version stores about what changed");
	CHECK(cairn_bucket_create(r, "alice", "series", false) == 0);
	for (int v = 0; v < 5; v++) {
		size_t n;
		uint8_t *p = checkpoint(v, &n);
		char key[32];
		cairn_put_result res;
		cairn_stats st;

		snprintf(key, sizeof(key), "step-%d.safetensors", v);
		CHECK(cairn_object_put(r, "alice", "series", key, strlen(key), p, n, NULL, &res) ==
		      0);
		CHECK(cairn_bucket_stats(r, "alice", "series", &st) == 0);
		printf("# v%d: %zu bytes, %llu new raw bytes (%.1f%%), stored +%llu (stats +%llu)\n", v,
		       n, (unsigned long long)res.new_bytes, 100.0 * (double)res.new_bytes / (double)n,
		       (unsigned long long)res.stored_bytes,
		       (unsigned long long)(st.stored_bytes - prev_stored));
		if (v > 0) {
			/* 6 of 30 tensors changed: 20% of the bytes, plus the chunks
			 * that straddle a changed tensor's edges */
			CHECKF(res.new_bytes < n / 4, "v%d new bytes %llu", v,
			       (unsigned long long)res.new_bytes);
			CHECKF(res.new_bytes >= n / 5, "v%d new bytes %llu", v,
			       (unsigned long long)res.new_bytes);
		}
		/* the stats move by exactly what the write stored */
		CHECK_EQ_U64(st.stored_bytes - prev_stored, res.stored_bytes);
		prev_stored = st.stored_bytes;
		free(p);
	}
}

static void gc_and_fsck(cairn_repo *r)
{
	uint64_t faults = 99;
	cairn_gc_result g;
	cairn_stats before, after;
	size_t n;
	uint8_t *p = xetgen("splitmix:9:2000000", &n);

	test_section("fsck clean; gc keeps what is referenced or recent");
	CHECK(cairn_repo_fsck(r, NULL, NULL, &faults) == 0 && faults == 0);
	CHECK(cairn_object_put(r, "alice", "ckpt", "tmp.bin", 7, p, n, NULL, NULL) == 0);
	CHECK(cairn_object_delete(r, "alice", "ckpt", "tmp.bin", 7) == 0);
	CHECK(cairn_repo_stats(r, &before) == 0);
	/* within the grace period nothing goes */
	CHECK(cairn_repo_gc(r, 3600ll * 1000000000, &g) == 0 && g.xorbs == 0);
	/* with no grace the unreferenced data goes, nothing else */
	CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.xorbs >= 1 && g.files >= 1);
	CHECK(cairn_repo_stats(r, &after) == 0 && after.stored_bytes < before.stored_bytes);
	CHECK(cairn_repo_fsck(r, NULL, NULL, &faults) == 0 && faults == 0);

	/* a xorb file no record names (as a crash between storing and
	 * recording leaves): kept within the grace period, then reclaimed */
	{
		char dir[128];
		cairn_store *st;
		cairn_hash orphan;
		uint64_t sz;
		memset(&orphan, 0x42, sizeof(orphan));
		snprintf(dir, sizeof(dir), "%s/xorbs", tmpdir);
		if (CHECK(cairn_store_local_open(&st, dir) == 0)) {
			CHECK(st->put(st, &orphan, "orphan bytes", 12) == 0);
			CHECK(cairn_repo_gc(r, 3600ll * 1000000000, &g) == 0);
			CHECK(st->size(st, &orphan, &sz) == 0);
			CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.xorbs == 1 && g.bytes == 12);
			CHECK(st->size(st, &orphan, &sz) == CAIRN_ENOTFOUND);
			st->close(st);
		}
	}
	free(p);
}

static void fsck_line(void *ctx, const char *what)
{
	(void)ctx;
	printf("# fsck: %s\n", what);
}

/* Flip one byte in the middle of every stored xorb file. */
static int corrupt_all(const char *dir)
{
	char sub[512], path[1024];
	int hit = 0;

	for (int a = 0; a < 256; a++) {
		DIR *d;
		struct dirent *e;
		snprintf(sub, sizeof(sub), "%s/xorbs/%02x", dir, a);
		d = opendir(sub);
		if (!d)
			continue;
		while ((e = readdir(d)) != NULL) {
			struct stat st;
			int fd;
			uint8_t b;
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, e->d_name);
			fd = open(path, O_RDWR);
			if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 100) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			if (pread(fd, &b, 1, 20) == 1) {
				b ^= 0x40;
				if (pwrite(fd, &b, 1, 20) == 1)
					hit++;
			}
			close(fd);
		}
		closedir(d);
	}
	return hit;
}

static void corruption(cairn_repo *r)
{
	uint64_t faults = 0;
	test_sink s = {0};

	test_section("corruption is found and never served");
	CHECK(corrupt_all(tmpdir) > 0);
	CHECK(cairn_repo_fsck(r, fsck_line, NULL, &faults) == 0 && faults > 0);
	CHECK(cairn_object_get(r, "alice", "ckpt", "b/c.bin", 7, 0, UINT64_MAX, test_sink_write, &s) ==
	      CAIRN_ECORRUPT);
	printf("# get: %s\n", cairn_error_last());
	free(s.p);
}

/*
 * A local store that, once armed, loses the next name asked for by size
 * (removes it, says it is not there): what gc's orphan sweep does to a
 * form an earlier pass left behind, right between this pass's put (which
 * found the file, and left it) and its commit.
 */
typedef struct losing_store {
	cairn_store base;
	cairn_store *inner;
	bool armed;
	int lost, puts;
} losing_store;

static int ls_put(cairn_store *s, const cairn_hash *x, const void *d, size_t n)
{
	losing_store *l = (losing_store *)s;
	l->puts++;
	return l->inner->put(l->inner, x, d, n);
}
static int ls_read(cairn_store *s, const cairn_hash *x, uint64_t off, size_t n, void *out)
{
	losing_store *l = (losing_store *)s;
	return l->inner->read(l->inner, x, off, n, out);
}
static int ls_size(cairn_store *s, const cairn_hash *x, uint64_t *out)
{
	losing_store *l = (losing_store *)s;
	if (l->armed) {
		l->armed = false;
		l->lost++;
		l->inner->remove(l->inner, x);
		return CAIRN_ENOTFOUND;
	}
	return l->inner->size(l->inner, x, out);
}
static int ls_remove(cairn_store *s, const cairn_hash *x)
{
	losing_store *l = (losing_store *)s;
	return l->inner->remove(l->inner, x);
}
static int ls_list(cairn_store *s, cairn_store_list_fn fn, void *ctx)
{
	losing_store *l = (losing_store *)s;
	return l->inner->list(l->inner, fn, ctx);
}
static void ls_close(cairn_store *s)
{
	losing_store *l = (losing_store *)s;
	l->inner->close(l->inner);
	free(l);
}

static void faults_count(void *ctx, const char *what)
{
	printf("# fsck: %s\n", what);
	(*(int *)ctx)++;
}

static void recompress_lost_form(void)
{
	char dir[64], path[128];
	cairn_meta *meta = NULL;
	losing_store *ls = test_xmalloc(sizeof(*ls));
	cairn_repo *r = NULL;
	cairn_recompress_result res;
	cairn_recompress_options o = {CAIRN_RECOMPRESS_OPTIONS_VERSION, 0, 0, 0, NULL, NULL,
				      NULL, NULL, NULL};
	cairn_put_result put;
	uint64_t faults = 0;
	int seen = 0;
	uint8_t *text;
	size_t n = 3 << 20;

	test_section("recompression: a form lost between its put and its commit is put again");
	snprintf(dir, sizeof(dir), "/tmp/cairn-test-repack-XXXXXX");
	if (!CHECK(mkdtemp(dir) != NULL))
		return;
	memset(ls, 0, sizeof(*ls));
	snprintf(path, sizeof(path), "%s/xorbs", dir);
	CHECK(cairn_store_local_open(&ls->inner, path) == 0);
	ls->base = (cairn_store){CAIRN_STORE_VERSION, ls_put, ls_read, ls_size, ls_remove, ls_list,
				 ls_close};
	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	CHECK(cairn_meta_sqlite_open(&meta, path) == 0);
	if (!CHECKF(cairn_repo_open_with(&r, meta, &ls->base) == 0, "%s", cairn_error_last()))
		return;
	text = test_xmalloc(n);
	for (size_t i = 0; i < n; i++) /* text-like: compresses well in runs */
		text[i] = (uint8_t)("loss step epoch grad layer token\n"[(i * 7 + i / 97) % 33]);
	CHECK(cairn_bucket_create(r, "alice", "rc", false) == 0);
	CHECK(cairn_object_put(r, "alice", "rc", "t.txt", 5, text, n, NULL, &put) == 0);
	ls->armed = true; /* the pass's check under the write lock finds its form gone */
	ls->puts = 0;
	CHECKF(cairn_repo_recompress(r, &o, &res) == 0, "%s", cairn_error_last());
	CHECK(res.rewritten == 1);
	CHECK(ls->lost == 1);
	CHECK(ls->puts == 2); /* the pass's put, and again after the loss */
	CHECK(cairn_repo_fsck(r, faults_count, &seen, &faults) == 0);
	CHECK(faults == 0 && seen == 0);
	{
		test_sink s = {0};
		CHECK(cairn_object_get(r, "alice", "rc", "t.txt", 5, 0, UINT64_MAX, test_sink_write,
				       &s) == 0 &&
		      s.n == n && memcmp(s.p, text, n) == 0);
		free(s.p);
	}
	{
		/* a reconstruction computes the layouts asked for, the same as when both are */
		const cairn_caller admin = {.ns = NULL, .admin = true, .writer = false};
		static const unsigned forms[] = {0, CAIRN_RECON_RAW_LAYOUT, CAIRN_RECON_STORED_FORMS};
		cairn_recon_term *all = NULL, *t = NULL;
		size_t na = 0, nt = 0;
		uint64_t size = 0;
		bool same = true;

		CHECK(cairn_file_reconstruct(r, &admin, &put.file, &size, &all, &na) == 0);
		CHECK(na > 0 && all[0].raw_layout && all[0].form_stop > all[0].form_start &&
		      all[0].byte_end > all[0].byte_start);
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			CHECK(cairn_file_reconstruct_as(r, &admin, &put.file, forms[f], &size, &t,
							&nt) == 0 &&
			      nt == na);
			for (size_t i = 0; i < nt && i < na; i++) {
				bool raw = forms[f] & CAIRN_RECON_RAW_LAYOUT,
				     st = forms[f] & CAIRN_RECON_STORED_FORMS;
				same = same && t[i].first == all[i].first && t[i].end == all[i].end &&
				       t[i].raw_len == all[i].raw_len &&
				       t[i].raw_layout == all[i].raw_layout &&
				       t[i].byte_start == (raw ? all[i].byte_start : 0) &&
				       t[i].byte_end == (raw ? all[i].byte_end : 0) &&
				       t[i].form_start == (st ? all[i].form_start : 0) &&
				       t[i].form_stop == (st ? all[i].form_stop : 0) &&
				       t[i].form_first == (st ? all[i].form_first : 0) &&
				       t[i].form_end == (st ? all[i].form_end : 0);
			}
			CHECKF(same, "forms %u", forms[f]);
			free(t);
			t = NULL;
		}
		free(all);
	}
	free(text);
	cairn_repo_close(r);
	rm_rf(dir);
}

int main(void)
{
	cairn_repo *r = NULL;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-repo-XXXXXX");
	if (!CHECK(mkdtemp(tmpdir) != NULL))
		return test_done();
	rc = cairn_repo_open(&r, tmpdir);
	if (!CHECKF(rc == 0, "%s", cairn_error_last()))
		return test_done();
	basics(r);
	listings(r);
	series(r);
	gc_and_fsck(r);
	/* reopen: everything still there */
	cairn_repo_close(r);
	CHECK(cairn_repo_open(&r, tmpdir) == 0);
	{
		size_t n;
		uint8_t *a = xetgen("splitmix:1:3000000", &n);
		CHECK(reads_back(r, "b/c.bin", a, n, 0, UINT64_MAX));
		free(a);
	}
	corruption(r);
	cairn_repo_close(r);
	rm_rf(tmpdir);
	recompress_lost_form();
	return test_done();
}
