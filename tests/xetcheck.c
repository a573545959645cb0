/*
 * xetcheck.c - compare Cairn's chunking and hashing with answers computed
 * by xet-core itself (its wasm build, run under Node by
 * tests/xetref/xet-ref.mjs).
 *
 *   xetcheck list                 print the standard input specs, one a line
 *   xetcheck gen DIR SPEC...      write each input to DIR/<n>.bin and a
 *                                 manifest DIR/inputs.json for the reference
 *   xetcheck check REF.json       regenerate every input named in REF.json
 *                                 and check boundaries, chunk hashes, xorb
 *                                 hash, file hash and verification hash,
 *                                 through every code path: the parallel
 *                                 hasher (1 and 2 threads, several block
 *                                 sizes, buffer and file) and the streaming
 *                                 chunker fed in odd piece sizes.
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/chunk.h"
#include "cairn/hash.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

/* xet's published vectors first, then the edge and shape cases. */
static const char *const standard_specs[] = {
	"splitmix:0:1000000",    /* xet vector: cuts at 84493, 134421, ... */
	"const:59:1000000",      /* xet vector: a cut every 131072 bytes */
	"const:0:0",             /* empty */
	"splitmix:1:1",          /* one byte */
	"splitmix:2:8191",       "splitmix:3:8192",  "splitmix:4:8193",
	"const:7:8192",          "splitmix:5:131071", "splitmix:6:131072",
	"splitmix:7:131073",     "const:0:131073",    "const:255:262145",
	"splitmix:8:5242997",    /* multi-MiB random */
	"lowent:9:3000000",      /* low entropy */
	"repeat:10:10000:2000000", /* repetitive */
	"repeat:11:64:1000000",  /* short period */
	"text:12:1500000",       /* text-like */
	"edits:13:2000000",      /* random with scattered edits */
};

static int cmd_list(void)
{
	for (size_t i = 0; i < sizeof(standard_specs) / sizeof(standard_specs[0]); i++)
		printf("%s\n", standard_specs[i]);
	return 0;
}

static int cmd_gen(const char *dir, int n, char **specs)
{
	json_t *manifest = json_array();

	for (int i = 0; i < n; i++) {
		char path[4096];
		size_t len;
		uint8_t *p = xetgen(specs[i], &len);
		FILE *f;

		if (p == NULL) {
			fprintf(stderr, "xetcheck: bad spec '%s'\n", specs[i]);
			return 2;
		}
		snprintf(path, sizeof(path), "%s/%d.bin", dir, i);
		f = fopen(path, "wb");
		if (f == NULL || (len && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
			perror(path);
			return 2;
		}
		json_array_append_new(manifest, json_pack("{s:s, s:s, s:I}", "spec", specs[i],
							  "file", path, "size", (json_int_t)len));
		free(p);
	}
	{
		char path[4096];
		snprintf(path, sizeof(path), "%s/inputs.json", dir);
		if (json_dump_file(manifest, path, JSON_INDENT(1)) != 0) {
			perror(path);
			return 2;
		}
	}
	json_decref(manifest);
	return 0;
}

/* What the reference says about one input. */
typedef struct expect {
	const char *spec;
	size_t n;
	uint64_t *lens;
	cairn_hash *hashes;
	cairn_hash xorb, file, verif;
} expect;

static bool hex_field(json_t *o, const char *key, cairn_hash *out)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && cairn_hash_from_hex(out, s, strlen(s)) == 0;
}

static void compare_chunks(const expect *e, const cairn_chunk_info *c, size_t n,
			   const char *path)
{
	size_t bad = SIZE_MAX;

	if (!CHECKF(n == e->n, "%s via %s: %zu chunks, reference has %zu", e->spec, path, n,
		    e->n))
		return;
	for (size_t i = 0; i < n && bad == SIZE_MAX; i++)
		if (c[i].len != e->lens[i] || !cairn_hash_equal(&c[i].hash, &e->hashes[i]))
			bad = i;
	CHECKF(bad == SIZE_MAX, "%s via %s: chunk %zu differs", e->spec, path, bad);
}

static void check_parallel(const expect *e, const uint8_t *p, size_t len)
{
	static const struct {
		unsigned threads;
		size_t block;
	} modes[] = {{1, 0}, {2, 0}, {2, 1u << 20}, {3, 1u << 20}};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
		cairn_file_chunks *fc = NULL;
		char what[64];

		o.threads = modes[m].threads;
		o.block_size = modes[m].block;
		snprintf(what, sizeof(what), "buffer/%u threads/%zu block", o.threads, o.block_size);
		if (!CHECK(cairn_hash_buffer(&fc, p, len, &o) == 0))
			continue;
		compare_chunks(e, fc->chunks, fc->count, what);
		CHECKF(cairn_hash_equal(&fc->file_hash, &e->file), "%s via %s: file hash", e->spec,
		       what);
		CHECK_EQ_U64(fc->size, len);
		cairn_file_chunks_free(fc);
	}
}

static void check_fd(const expect *e, const uint8_t *p, size_t len)
{
	char path[] = "/tmp/cairn-xetcheck-XXXXXX";
	int fd = mkstemp(path);
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	cairn_file_chunks *fc = NULL;

	if (!CHECK(fd >= 0))
		return;
	unlink(path);
	CHECK(len == 0 || write(fd, p, len) == (ssize_t)len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0); /* hashing starts at the current offset */
	o.threads = 2;
	o.block_size = 1u << 20;
	if (CHECK(cairn_hash_fd(&fc, fd, &o) == 0)) {
		compare_chunks(e, fc->chunks, fc->count, "file/2 threads");
		CHECKF(cairn_hash_equal(&fc->file_hash, &e->file), "%s via file: file hash",
		       e->spec);
		cairn_file_chunks_free(fc);
	}
	close(fd);
}

static void check_streaming(const expect *e, const uint8_t *p, size_t len)
{
	static const size_t pieces[] = {1, 7, 4093, 65537, 64, 131072, 100003, 8127, 3};
	cairn_chunk_info *c = test_xmalloc((len / CAIRN_CHUNK_MIN + 2) * sizeof(*c));
	cairn_chunker ck;
	size_t n = 0, pos = 0, start = 0, k = 0;

	cairn_chunker_init(&ck);
	while (pos < len) {
		size_t piece = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t end = pos + piece < len ? pos + piece : len;

		while (pos < end) {
			bool cut;
			pos += cairn_chunker_next(&ck, p + pos, end - pos, &cut);
			if (cut) {
				c[n].offset = start;
				c[n].len = pos - start;
				cairn_chunk_hash(&c[n].hash, p + start, pos - start);
				n++;
				start = pos;
			}
		}
	}
	if (cairn_chunker_pending(&ck) > 0) {
		CHECK_EQ_U64(cairn_chunker_pending(&ck), len - start);
		c[n].offset = start;
		c[n].len = len - start;
		cairn_chunk_hash(&c[n].hash, p + start, len - start);
		n++;
	}
	compare_chunks(e, c, n, "streaming chunker, odd pieces");

	/* the Merkle hashes over the reference's own chunk list */
	{
		cairn_chunk_ref *refs = test_xmalloc((n + 1) * sizeof(*refs));
		cairn_hash *hs = test_xmalloc((n + 1) * sizeof(*hs));
		cairn_hash x, f, v;

		for (size_t i = 0; i < n; i++) {
			refs[i].hash = c[i].hash;
			refs[i].len = c[i].len;
			hs[i] = c[i].hash;
		}
		CHECK(cairn_xorb_hash(&x, refs, n) == 0);
		CHECK(cairn_file_hash(&f, refs, n, NULL) == 0);
		cairn_verification_hash(&v, hs, n);
		CHECKF(cairn_hash_equal(&x, &e->xorb), "%s: xorb hash", e->spec);
		CHECKF(cairn_hash_equal(&f, &e->file), "%s: file hash", e->spec);
		CHECKF(cairn_hash_equal(&v, &e->verif), "%s: verification hash", e->spec);
		free(refs);
		free(hs);
	}
	free(c);
}

static int cmd_check(const char *ref_path)
{
	json_error_t err;
	json_t *root = json_load_file(ref_path, 0, &err), *item;
	size_t idx;

	if (!CHECKF(root && json_is_array(root), "%s: %s", ref_path, root ? "not an array" : err.text))
		return test_done();
	json_array_foreach(root, idx, item) {
		expect e;
		json_t *chunks = json_object_get(item, "chunks"), *ch;
		size_t len, k;
		uint8_t *p;

		memset(&e, 0, sizeof(e));
		e.spec = json_string_value(json_object_get(item, "spec"));
		if (!CHECK(e.spec && json_is_array(chunks)))
			continue;
		test_section(e.spec);
		p = xetgen(e.spec, &len);
		if (!CHECKF(p != NULL, "bad spec %s", e.spec))
			continue;
		CHECK_EQ_U64(json_integer_value(json_object_get(item, "size")), len);
		e.n = json_array_size(chunks);
		e.lens = test_xmalloc((e.n + 1) * sizeof(*e.lens));
		e.hashes = test_xmalloc((e.n + 1) * sizeof(*e.hashes));
		json_array_foreach(chunks, k, ch) {
			const char *hx = json_string_value(json_array_get(ch, 1));
			e.lens[k] = (uint64_t)json_integer_value(json_array_get(ch, 0));
			CHECK(hx && cairn_hash_from_hex(&e.hashes[k], hx, strlen(hx)) == 0);
		}
		CHECK(hex_field(item, "xorb_hash", &e.xorb));
		CHECK(hex_field(item, "file_hash", &e.file));
		CHECK(hex_field(item, "verification_hash", &e.verif));

		check_streaming(&e, p, len);
		check_parallel(&e, p, len);
		check_fd(&e, p, len);
		free(e.lens);
		free(e.hashes);
		free(p);
	}
	json_decref(root);
	return test_done();
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return cmd_list();
	if (argc >= 3 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argv[2], argc - 3, argv + 3);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2]);
	fprintf(stderr, "usage: xetcheck list | gen DIR SPEC... | check REF.json\n");
	return 2;
}
