/*
 * test_sync.c - sync's parts that need no server: filter rules (a table
 * of patterns and paths, first-match order, filter files), the local walk
 * (symbolic links followed, loops and broken links reported, odd names,
 * deep trees), and plan files written, read back, and refused when edited
 * into something invalid.
 */
#include "harness.h"

#include "cairn/errors.h"
#include "cairn/sync.h"
#include "../lib/sync/sync_int.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void put_file(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	if (!CHECKF(f != NULL, "create %s", path))
		return;
	fputs(text, f);
	fclose(f);
}

static void mk(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	CHECKF(mkdir(path, 0755) == 0, "mkdir %s", path);
}

static bool selects(const char *rules, const char *path)
{
	cairn_filter *f = NULL;
	char buf[256], *save = NULL;
	bool r;

	if (cairn_filter_new(&f) != 0)
		return false;
	snprintf(buf, sizeof(buf), "%s", rules);
	for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (cairn_filter_add(f, tok[0] == '+', tok + 1) != 0)
			printf("# bad rule %s: %s\n", tok, cairn_error_last());
	r = cairn_filter_selects(f, path);
	cairn_filter_free(f);
	return r;
}

static void filters(void)
{
	static const struct {
		const char *rules; /* space-separated, each +PATTERN or -PATTERN */
		const char *path;
		bool want;
	} t[] = {
		{"", "a/b.bin", true},
		{"-*.tmp", "x.tmp", false},
		{"-*.tmp", "a/b/x.tmp", false},     /* unanchored: any depth */
		{"-*.tmp", "x.tmp.bin", true},
		{"-/x.tmp", "a/x.tmp", true},      /* anchored */
		{"-/x.tmp", "x.tmp", false},
		{"-a/*", "a/b", false},
		{"-a/*", "a/b/c", true},           /* '*' stops at '/' */
		{"-a/**", "a/b/c", false},
		{"-logs/", "logs/1/2.txt", false}, /* a folder and all below */
		{"-logs/", "logs", true},
		{"-?.bin", "a.bin", false},
		{"-?.bin", "ab.bin", true},
		{"-[a-c]?.bin", "bz.bin", false},
		{"-[a-c]?.bin", "dz.bin", true},
		{"-[!a-c].bin", "d.bin", false},
		{"-[!a-c].bin", "a.bin", true},
		{"-\\*.bin", "*.bin", false},
		{"-\\*.bin", "x.bin", true},
		{"+*.safetensors -*", "m/model.safetensors", true}, /* first match wins */
		{"+*.safetensors -*", "m/opt.pt", false},
		{"-*.safetensors +*", "m/model.safetensors", false},
		{"+*.json", "a.txt", false},       /* an include leaves the rest out */
		{"+*.json", "a.json", true},
		{"-**/tmp/**", "a/tmp/b", false},
		{"-**/tmp/**", "tmp/b", true},     /* '**' then '/': a folder above tmp */
		{"-tmp/", "x/tmp/b", false},       /* unanchored: tried at each depth */
		{"-*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", true},
		{"-**a**a**a**a**a**a**b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", true},
		{"-ünï*", "dir/ünïcode.bin", false},
	};
	cairn_filter *f = NULL;

	test_section("filter patterns");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(selects(t[i].rules, t[i].path) == t[i].want, "rules '%s' path '%s'", t[i].rules,
		       t[i].path);

	test_section("bad patterns and filter files");
	CHECK(cairn_filter_new(&f) == 0);
	CHECK(cairn_filter_add(f, true, "") == CAIRN_EINVALID);
	CHECK(cairn_filter_add(f, true, "a[bc") == CAIRN_EINVALID);
	CHECK(cairn_filter_add(f, true, "ab\\") == CAIRN_EINVALID);
	put_file("rules", "# checkpoints only\n\n+ *.safetensors\n; note\n- *\n");
	{
		char path[128];
		snprintf(path, sizeof(path), "%s/rules", tmpdir);
		CHECK(cairn_filter_load(f, path) == 0);
		CHECK_EQ_U64(cairn_filter_count(f), 2);
		CHECK(cairn_filter_selects(f, "a/m.safetensors"));
		CHECK(!cairn_filter_selects(f, "a/m.bin"));
		put_file("rules2", "+ ok\nexclude this\n");
		snprintf(path, sizeof(path), "%s/rules2", tmpdir);
		CHECK(cairn_filter_load(f, path) == CAIRN_EINVALID);
		CHECKF(strstr(cairn_error_last(), "line 2") != NULL, "%s", cairn_error_last());
		snprintf(path, sizeof(path), "%s/none", tmpdir);
		CHECK(cairn_filter_load(f, path) == CAIRN_EIO);
		{
			char *big = test_xmalloc(9000);
			memset(big, 'x', 8998);
			memcpy(big, "- ", 2);
			big[8998] = '\n';
			big[8999] = '\0';
			put_file("rules3", "+ a\n");
			snprintf(path, sizeof(path), "%s/rules3", tmpdir);
			{
				FILE *fa = fopen(path, "a");
				if (fa) {
					fputs(big, fa);
					fclose(fa);
				}
			}
			CHECK(cairn_filter_load(f, path) == CAIRN_EINVALID);
			CHECKF(strstr(cairn_error_last(), "line 2: over 4096 bytes") != NULL, "%s",
			       cairn_error_last());
			free(big);
		}
	}
	cairn_filter_free(f);
	CHECK(cairn_filter_new(&f) == 0);
	CHECK(cairn_filter_add(f, false, "a b*") == 0);
	CHECK(!cairn_filter_selects(f, "x/a b.bin"));
	CHECK(cairn_filter_selects(f, "x/ab.bin"));
	cairn_filter_free(f);
}

static bool listed(const sync_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].path, path) == 0)
			return true;
	return false;
}

static bool noted(char **list, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(list[i], what) != NULL)
			return true;
	return false;
}

static void walk(void)
{
	sync_root r;
	sync_list l;
	cairn_sync_plan p;
	char deep[512] = "t/deep", path[600];
	cairn_filter *f = NULL;

	test_section("the local walk");
	mk("t");
	mk("t/a");
	mk("t/empty");
	put_file("t/a/one.bin", "1");
	put_file("t/a/sp ace %+#'\"ü.bin", "2");
	put_file("t/zero", "");
	mk("t/deep");
	for (int i = 0; i < 20; i++) {
		strcat(deep, "/d");
		mk(deep);
	}
	strcat(deep, "/leaf");
	put_file(deep, "deep");
	snprintf(path, sizeof(path), "%s/t/link-to-file", tmpdir);
	CHECK(symlink("a/one.bin", path) == 0);
	snprintf(path, sizeof(path), "%s/t/link-to-dir", tmpdir);
	CHECK(symlink("a", path) == 0);
	snprintf(path, sizeof(path), "%s/t/a/loop", tmpdir);
	CHECK(symlink("..", path) == 0);
	snprintf(path, sizeof(path), "%s/t/broken", tmpdir);
	CHECK(symlink("nowhere", path) == 0);
	snprintf(path, sizeof(path), "%s/t/fifo", tmpdir);
	CHECK(mkfifo(path, 0644) == 0);
	snprintf(path, sizeof(path), "%s/t/bad-\xff-name", tmpdir);
	put_file("t/bad-\xff-name", "x");
	put_file("t/a/skip.tmp", "x");

	snprintf(path, sizeof(path), "%s/t/", tmpdir);
	CHECK(cairn__sync_root_parse(&r, path) == 0);
	CHECK(cairn_filter_new(&f) == 0);
	CHECK(cairn_filter_add(f, false, "*.tmp") == 0);
	memset(&p, 0, sizeof(p));
	CHECKF(cairn__sync_walk(&r, f, &l, &p) == 0, "%s", cairn_error_last());
	CHECK(listed(&l, "a/one.bin"));
	CHECK(listed(&l, "a/sp ace %+#'\"ü.bin"));
	CHECK(listed(&l, "zero"));
	CHECK(listed(&l, deep + 2));
	CHECK(listed(&l, "link-to-file"));          /* links are followed */
	CHECK(listed(&l, "link-to-dir/one.bin"));
	CHECK(!listed(&l, "a/skip.tmp"));            /* filtered */
	CHECK(!listed(&l, "link-to-dir/loop/a/one.bin"));
	CHECK(noted(p.errors, p.nerrors, "a/loop: a symbolic link loop"));
	CHECK(noted(p.errors, p.nerrors, "broken: broken symbolic link"));
	CHECK(noted(p.errors, p.nerrors, "name is not UTF-8"));
	CHECK(noted(p.warnings, p.nwarnings, "fifo: not a regular file"));
	for (size_t i = 1; i < l.n; i++)
		CHECKF(strcmp(l.e[i - 1].path, l.e[i].path) < 0, "order %s %s", l.e[i - 1].path,
		       l.e[i].path);
	if (geteuid() != 0) { /* root reads anything: only an ordinary user can test this */
		size_t before = p.nerrors;
		snprintf(path, sizeof(path), "%s/t/a/one.bin", tmpdir);
		chmod(path, 0);
		cairn__sync_list_free(&l);
		CHECK(cairn__sync_walk(&r, f, &l, &p) == 0);
		CHECK(!listed(&l, "a/one.bin"));
		CHECK(p.nerrors > before);
		chmod(path, 0644);
	}
	cairn__sync_list_free(&l);
	for (size_t i = 0; i < p.nerrors; i++)
		free(p.errors[i]);
	for (size_t i = 0; i < p.nwarnings; i++)
		free(p.warnings[i]);
	free(p.errors);
	free(p.warnings);
	cairn__sync_root_free(&r);
	cairn_filter_free(f);

	test_section("roots");
	CHECK(cairn__sync_root_parse(&r, "cairn://buckets/alice/b/x/y/") == 0);
	CHECK(r.remote && strcmp(r.ns, "alice") == 0 && strcmp(r.prefix, "x/y") == 0);
	{
		char *k = cairn__sync_key(&r, "f.bin");
		CHECK(k && strcmp(k, "x/y/f.bin") == 0);
		free(k);
	}
	cairn__sync_root_free(&r);
	CHECK(cairn__sync_root_parse(&r, "cairn://buckets/alice/b") == 0);
	CHECK(r.prefix && r.prefix[0] == '\0');
	cairn__sync_root_free(&r);
	CHECK(cairn__sync_root_parse(&r, "cairn://buckets/Alice/b") == CAIRN_EINVALID);
	cairn__sync_root_free(&r);
	CHECK(cairn__sync_root_parse(&r, "cairn://buckets/alice/b/../x") == CAIRN_EINVALID);
	cairn__sync_root_free(&r);
	CHECK(cairn__sync_root_parse(&r, "cairn://buckets/alice") == CAIRN_EINVALID);
	cairn__sync_root_free(&r);
}

/* Read plan text; 0 or the error code. */
static int read_text(const char *text, cairn_sync_plan **p)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc = cairn_sync_plan_read(p, f);

	fclose(f);
	return rc;
}

static void plans(void)
{
	static const char *head = "{\"cairn_sync_plan\":1,\"source\":\"./x\",\"destination\":"
				  "\"cairn://buckets/a/b/c\",\"created_ns\":5,\"options\":{\"delete\":true}}\n";
	static const struct {
		const char *line;
		const char *why;
	} bad[] = {
		{"{\"op\":\"fly\",\"path\":\"a\",\"size\":1}", "\"op\" must be"},
		{"{\"op\":\"upload\",\"path\":\"../etc/passwd\",\"size\":1}", "\"path\""},
		{"{\"op\":\"upload\",\"path\":\"/abs\",\"size\":1}", "\"path\""},
		{"{\"op\":\"upload\",\"path\":\"a//b\",\"size\":1}", "\"path\""},
		{"{\"op\":\"upload\",\"path\":\"a\\u0000b\",\"size\":1}", "plan line 2"},
		{"{\"op\":\"upload\",\"path\":\"a\",\"size\":-1}", "\"size\""},
		{"{\"op\":\"upload\",\"path\":\"a\"}", "\"size\""},
		{"{\"op\":\"upload\",\"path\":\"a\",\"size\":1,\"hash\":\"xyz\"}", "\"hash\""},
		{"{\"op\":\"download\",\"path\":\"a\",\"size\":1}", "a download in a plan whose source is local"},
		{"[1,2]", "not a JSON object"},
		{"{\"op\":\"upload\",\"path\":\"a\",\"size\":1", "not a JSON object"},
		{"{\"op\":\"upload\",\"path\":\"a\",\"size\":1}\n{\"op\":\"delete\",\"path\":\"a\",\"size\":1}",
		 "more than once"},
	};
	cairn_sync_plan *p = NULL, *q = NULL;
	char text[1024], *buf = NULL;
	size_t len = 0;
	FILE *out;

	test_section("plans round trip");
	snprintf(text, sizeof(text), "%s%s", head,
		 "{\"op\":\"upload\",\"path\":\"sp ace/ü.bin\",\"size\":3,\"mtime_ns\":7,\"reason\":\"new\"}\n"
		 "\n"
		 "{\"op\":\"skip\",\"path\":\"b\",\"size\":0,\"reason\":\"same\",\"hash\":"
		 "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n"
		 "{\"op\":\"delete\",\"path\":\"c\",\"size\":9}\n");
	CHECKF(read_text(text, &p) == 0, "%s", cairn_error_last());
	if (p == NULL)
		return;
	CHECK_EQ_U64(p->n, 3);
	CHECK(p->opts.delete_extra && !p->opts.checksum);
	CHECK_STR(p->items[0].path, "sp ace/ü.bin");
	CHECK(p->items[0].kind == CAIRN_SYNC_UPLOAD && p->items[0].mtime_ns == 7);
	CHECK(p->items[1].kind == CAIRN_SYNC_SKIP && p->items[1].hash[0] == '0');
	CHECK(p->items[2].kind == CAIRN_SYNC_DELETE && p->items[2].size == 9);
	out = open_memstream(&buf, &len);
	CHECK(cairn_sync_plan_write(p, out) == 0);
	fclose(out);
	CHECK(read_text(buf, &q) == 0);
	if (q) {
		CHECK_EQ_U64(q->n, p->n);
		CHECK_STR(q->source, "./x");
		CHECK_STR(q->items[1].hash, p->items[1].hash);
		CHECK_STR(q->items[0].reason, "new");
	}
	cairn_sync_plan_free(q);
	cairn_sync_plan_free(p);
	free(buf);

	test_section("a line longer than any plan line is refused without reading it whole");
	{
		size_t n = 200000;
		char *big = test_xmalloc(n + 600);
		size_t o = (size_t)snprintf(big, n + 600, "%s{\"op\":\"upload\",\"path\":\"", head);
		memset(big + o, 'a', n);
		snprintf(big + o + n, 600, "\",\"size\":1}\n{\"op\":\"skip\",\"path\":\"b\",\"size\":1}\n");
		CHECK(read_text(big, &p) == CAIRN_EINVALID);
		CHECKF(strstr(cairn_error_last(), "line 2: line over 64 KiB") != NULL, "%s",
		       cairn_error_last());
		free(big);
	}

	test_section("plans edited into nonsense are refused, naming the line");
	CHECK(read_text("", &p) == CAIRN_EINVALID);
	CHECK(read_text("{\"op\":\"upload\",\"path\":\"a\",\"size\":1}\n", &p) == CAIRN_EINVALID);
	CHECK(strstr(cairn_error_last(), "line 1") != NULL);
	CHECK(read_text("{\"cairn_sync_plan\":1,\"source\":\"a\",\"destination\":\"b\","
			"\"created_ns\":1}\n", &p) == CAIRN_EINVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s\n", head, bad[i].line);
		CHECKF(read_text(text, &p) == CAIRN_EINVALID, "accepted: %s", bad[i].line);
		CHECKF(strstr(cairn_error_last(), bad[i].why) != NULL, "%s: %s", bad[i].line,
		       cairn_error_last());
		CHECKF(strstr(bad[i].why, "more than once") != NULL ||
			       strstr(cairn_error_last(), "line 2") != NULL,
		       "%s", cairn_error_last());
	}
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-sync-XXXXXX");
	if (!CHECK(mkdtemp(tmpdir) != NULL))
		return test_done();
	filters();
	walk();
	plans();
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return test_done();
}
