/*
 * test_xet_proto.c - the engine's side of the chunk protocol: the dedup
 * query answers only about chunks the caller can read or has uploaded; a
 * commit by chunk list needs the same (a hash alone never gives access);
 * xorbs from clients are verified, and chunks stored already are not
 * stored again whoever sends them; batches are all or nothing;
 * reconstruction terms decode to the file; GC ends grants.
 */
#include "harness.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/repo.h"
#include "cairn/xorb.h"

#include <unistd.h>

static char tmpdir[64];

/* A client's xorb of chunks [first, end) of fc over data. */
static uint8_t *make_xorb(const uint8_t *data, const cairn_file_chunks *fc, size_t first,
			  size_t end, cairn_hash *name, size_t *len)
{
	cairn_xorb_writer *w = NULL;
	const uint8_t *bytes;
	uint8_t *copy = NULL;

	if (cairn_xorb_writer_new(&w) != 0)
		return NULL;
	for (size_t i = first; i < end; i++)
		if (cairn_xorb_writer_add(w, data + fc->chunks[i].offset, fc->chunks[i].len,
					  &fc->chunks[i].hash) != 0)
			goto out;
	if (cairn_xorb_writer_finish(w, name, &bytes, len) != 0)
		goto out;
	copy = test_xmalloc(*len);
	memcpy(copy, bytes, *len);
out:
	cairn_xorb_writer_free(w);
	return copy;
}

static cairn_chunk_ref *refs_of(const cairn_file_chunks *fc)
{
	cairn_chunk_ref *refs = test_xmalloc((fc->count ? fc->count : 1) * sizeof(*refs));

	for (size_t i = 0; i < fc->count; i++) {
		refs[i].hash = fc->chunks[i].hash;
		refs[i].len = fc->chunks[i].len;
	}
	return refs;
}

static size_t count_present(cairn_repo *r, const cairn_caller *who, const cairn_file_chunks *fc)
{
	cairn_hash *h = test_xmalloc(fc->count * sizeof(*h));
	bool *p = test_xmalloc(fc->count * sizeof(*p));
	size_t k = 0;

	for (size_t i = 0; i < fc->count; i++)
		h[i] = fc->chunks[i].hash;
	CHECK(cairn_chunks_query(r, who, h, fc->count, p) == 0);
	for (size_t i = 0; i < fc->count; i++)
		k += p[i];
	free(h);
	free(p);
	return k;
}

static int add_op(cairn_repo *r, const cairn_caller *who, const char *ns, const char *key,
		  const cairn_file_chunks *fc, const cairn_chunk_ref *refs)
{
	cairn_batch_op op;

	memset(&op, 0, sizeof(op));
	op.type = CAIRN_OP_ADD;
	op.key = key;
	op.key_len = strlen(key);
	op.file = fc->file_hash;
	op.size = fc->size;
	op.chunks = refs;
	op.nchunks = fc->count;
	return cairn_batch_apply(r, who, ns, "b", &op, 1, NULL);
}

static bool reads_as(cairn_repo *r, const char *ns, const char *key, const uint8_t *want,
		     size_t n)
{
	test_sink s = {0};
	int rc = cairn_object_get(r, ns, "b", key, strlen(key), 0, UINT64_MAX, test_sink_write, &s);
	bool ok = rc == 0 && s.n == n && memcmp(s.p, want, n) == 0;

	free(s.p);
	return ok;
}

/* Rebuild a file from its reconstruction terms, reading bytes as a client would. */
static bool rebuild(cairn_repo *r, const cairn_caller *who, const cairn_hash *file,
		    const uint8_t *want, size_t n)
{
	cairn_recon_term *t = NULL;
	uint64_t size = 0, at = 0;
	size_t nt = 0;
	bool ok;

	if (cairn_file_reconstruct(r, who, file, &size, &t, &nt) != 0)
		return false;
	ok = size == n;
	for (size_t i = 0; i < nt && ok; i++) {
		size_t blen = (size_t)(t[i].byte_end - t[i].byte_start), got = 0;
		uint8_t *bytes = test_xmalloc(blen), *raw = test_xmalloc(t[i].raw_len);
		cairn_file_chunks *fc = NULL;
		/* the expected hashes: what the writer computed for these bytes */
		ok = cairn_xorb_read_bytes(r, &t[i].xorb, t[i].byte_start, blen, bytes) == 0 &&
		     at + t[i].raw_len <= n &&
		     cairn_hash_buffer(&fc, want + at, t[i].raw_len, NULL) == 0 &&
		     fc->count == t[i].end - t[i].first;
		if (ok) {
			cairn_hash *exp = test_xmalloc(fc->count * sizeof(*exp));
			for (size_t k = 0; k < fc->count; k++)
				exp[k] = fc->chunks[k].hash;
			ok = cairn_xorb_decode_range(raw, t[i].raw_len, &got, bytes, blen, exp,
						     fc->count) == 0 &&
			     got == t[i].raw_len && memcmp(raw, want + at, got) == 0;
			free(exp);
		}
		at += t[i].raw_len;
		cairn_file_chunks_free(fc);
		free(bytes);
		free(raw);
	}
	free(t);
	return ok && at == n;
}

int main(void)
{
	cairn_caller alice = {"alice", false, true}, bob = {"bob", false, true};
	cairn_caller anon = {NULL, false, false}, root = {"admin", true, true};
	cairn_put_result res_a;
	cairn_repo *r = NULL;
	cairn_file_chunks *fa = NULL, *fb = NULL;
	cairn_chunk_ref *refs_a, *refs_b;
	cairn_ingest_result ing;
	cairn_stats st0, st1;
	size_t na = 3000000, xlen;
	uint8_t *a = test_xmalloc(na), *b = test_xmalloc(na), *x;
	cairn_hash xname;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-xet-XXXXXX");
	if (!CHECK(mkdtemp(tmpdir) != NULL) || !CHECK(cairn_repo_open(&r, tmpdir) == 0))
		return test_done();
	CHECK(cairn_bucket_create(r, "alice", "b", true) == 0);
	CHECK(cairn_bucket_create(r, "bob", "b", true) == 0);
	CHECK(cairn_bucket_create(r, "carol", "b", false) == 0);

	/* a: alice's private file. b: the first half of a, then new bytes */
	splitmix64_fill(1, a, na);
	memcpy(b, a, na / 2);
	splitmix64_fill(2, b + na / 2, na - na / 2);
	CHECK(cairn_hash_buffer(&fa, a, na, NULL) == 0);
	CHECK(cairn_hash_buffer(&fb, b, na, NULL) == 0);
	refs_a = refs_of(fa);
	refs_b = refs_of(fb);
	CHECK(cairn_object_put(r, "alice", "b", "a", 1, a, na, NULL, &res_a) == 0);

	test_section("the dedup query is scoped to what the caller can read");
	CHECK_EQ_U64(count_present(r, &alice, fa), fa->count);
	CHECK_EQ_U64(count_present(r, &bob, fa), 0);
	CHECK_EQ_U64(count_present(r, &anon, fa), 0);
	CHECK_EQ_U64(count_present(r, &root, fa), fa->count);

	test_section("an upload's dedup figures count only what the writer can see");
	{
		cairn_upload *u = NULL;
		cairn_put_result res;
		CHECK(cairn_repo_stats(r, &st0) == 0);
		CHECK(cairn_upload_new(&u, r) == 0);
		CHECK(cairn_upload_set_caller(u, &bob) == 0);
		CHECK(cairn_upload_write(u, a, na) == 0);
		CHECK(cairn_upload_commit(u, "bob", "b", "copy-of-a", 9, NULL, &res) == 0);
		cairn_upload_free(u);
		CHECK_EQ_U64(res.new_chunks, fa->count);
		CHECK_EQ_U64(res.new_bytes, na);
		/* sized as if stored now, not as the copy alice's upload made */
		CHECK_EQ_U64(res.stored_bytes, res_a.stored_bytes);
		CHECK(cairn_repo_stats(r, &st1) == 0);
		CHECK_EQ_U64(st1.xorbs, st0.xorbs); /* still stored once */
		CHECK_EQ_U64(st1.stored_bytes, st0.stored_bytes);
		CHECK(cairn_object_delete(r, "bob", "b", "copy-of-a", 9) == 0);
		/* alice, writing it again, is told it was all there */
		CHECK(cairn_upload_new(&u, r) == 0);
		CHECK(cairn_upload_set_caller(u, &alice) == 0);
		CHECK(cairn_upload_write(u, a, na) == 0);
		CHECK(cairn_upload_commit(u, "alice", "b", "again", 5, NULL, &res) == 0);
		cairn_upload_free(u);
		CHECK_EQ_U64(res.new_chunks, 0);
		CHECK(cairn_object_delete(r, "alice", "b", "again", 5) == 0);
	}

	test_section("a hash alone gives no access");
	rc = add_op(r, &bob, "bob", "stolen", fa, refs_a);
	CHECK(rc == CAIRN_EINVALID);
	CHECKF(strstr(cairn_error_last(), "not visible to you") != NULL, "%s", cairn_error_last());
	CHECK(cairn_file_reconstruct(r, &bob, &fa->file_hash, &(uint64_t){0},
				     &(cairn_recon_term *){NULL}, &(size_t){0}) == CAIRN_ENOTFOUND);

	test_section("a xorb of chunks stored already is not stored again");
	CHECK(cairn_repo_stats(r, &st0) == 0);
	x = make_xorb(a, fa, 0, fa->count, &xname, &xlen);
	CHECK(x != NULL);
	rc = cairn_xorb_ingest(r, "bob", &xname, x, xlen, &ing);
	CHECKF(rc == 0, "%s", cairn_error_last());
	CHECK_EQ_U64(ing.chunks, fa->count);
	/* the answer says nothing of alice's copy: all new to bob, at his bytes */
	CHECK_EQ_U64(ing.new_chunks, fa->count);
	CHECK(ing.stored_bytes > 0 && ing.stored_bytes < xlen);
	CHECK(cairn_repo_stats(r, &st1) == 0);
	CHECK_EQ_U64(st1.xorbs, st0.xorbs);
	CHECK_EQ_U64(st1.stored_bytes, st0.stored_bytes);
	/* having sent them, bob may use them, and reads alice's bytes as his own */
	CHECK_EQ_U64(count_present(r, &bob, fa), fa->count);
	rc = add_op(r, &bob, "bob", "mine", fa, refs_a);
	CHECKF(rc == 0, "%s", cairn_error_last());
	CHECK(reads_as(r, "bob", "mine", a, na));
	CHECK(rebuild(r, &bob, &fa->file_hash, a, na));
	/* sending it again: now bob has them */
	CHECK(cairn_xorb_ingest(r, "bob", &xname, x, xlen, &ing) == 0);
	CHECK_EQ_U64(ing.new_chunks, 0);
	CHECK_EQ_U64(ing.stored_bytes, 0);
	free(x);

	test_section("a xorb with some new chunks: only those are stored");
	{
		size_t half = 0;
		x = make_xorb(b, fb, 0, fb->count, &xname, &xlen);
		rc = cairn_xorb_ingest(r, "alice", &xname, x, xlen, &ing);
		CHECKF(rc == 0, "%s", cairn_error_last());
		for (size_t i = 0; i < fb->count; i++)
			half += fb->chunks[i].offset + fb->chunks[i].len <= na / 2;
		CHECK(ing.new_chunks > 0 && ing.new_chunks < fb->count);
		CHECKF(ing.new_chunks <= fb->count - half, "%llu new of %zu, %zu shared",
		       (unsigned long long)ing.new_chunks, fb->count, half);
		CHECK(ing.stored_bytes > 0 && ing.stored_bytes < xlen * 3 / 4);
		CHECK(cairn_repo_stats(r, &st1) == 0);
		CHECK_EQ_U64(st1.xorbs, st0.xorbs + 1);
		/* not under the client's name: that xorb would hold chunks twice */
		CHECK(cairn_xorb_read_bytes(r, &xname, 0, 1, &(uint8_t){0}) == CAIRN_ENOTFOUND);
		rc = add_op(r, &alice, "alice", "v2", fb, refs_b);
		CHECKF(rc == 0, "%s", cairn_error_last());
		CHECK(reads_as(r, "alice", "v2", b, na));
		CHECK(rebuild(r, &alice, &fb->file_hash, b, na));
		/* idempotent */
		CHECK(cairn_xorb_ingest(r, "alice", &xname, x, xlen, &ing) == 0);
		CHECK_EQ_U64(ing.new_chunks, 0);
		free(x);
	}

	test_section("bad xorbs are refused and store nothing");
	{
		cairn_hash other = xname;
		uint8_t *c = test_xmalloc(na);
		cairn_file_chunks *fcc = NULL;
		splitmix64_fill(3, c, na);
		CHECK(cairn_hash_buffer(&fcc, c, na, NULL) == 0);
		CHECK(cairn_repo_stats(r, &st0) == 0);
		x = make_xorb(c, fcc, 0, fcc->count, &xname, &xlen);
		CHECK(cairn_xorb_ingest(r, "bob", &other, x, xlen, NULL) == CAIRN_EINVALID);
		CHECK(strstr(cairn_error_last(), "not") != NULL);
		x[100] ^= 1; /* inside the first chunk's data */
		/* the client's bytes are wrong: its error, not the store's */
		rc = cairn_xorb_ingest(r, "bob", &xname, x, xlen, NULL);
		CHECKF(rc == CAIRN_EINVALID, "rc %d", rc);
		CHECK(cairn_xorb_ingest(r, "bob", &xname, x, 10, NULL) == CAIRN_EINVALID);
		CHECK(cairn_repo_stats(r, &st1) == 0);
		CHECK_EQ_U64(st1.xorbs, st0.xorbs);
		CHECK_EQ_U64(count_present(r, &bob, fcc), 0);
		free(x);
		free(c);
		cairn_file_chunks_free(fcc);
	}

	test_section("batches are checked whole and applied whole");
	{
		cairn_batch_op ops[3];
		size_t bad = 99;
		memset(ops, 0, sizeof(ops));
		ops[0].type = CAIRN_OP_COPY;
		ops[0].key = "copy";
		ops[0].key_len = 4;
		ops[0].src_ns = "alice";
		ops[0].src_name = "b";
		ops[0].src_key = "a";
		ops[0].src_key_len = 1;
		ops[1].type = CAIRN_OP_DELETE;
		ops[1].key = "v2";
		ops[1].key_len = 2;
		ops[2].type = CAIRN_OP_ADD;
		ops[2].key = "wrong";
		ops[2].key_len = 5;
		ops[2].file = fb->file_hash;
		ops[2].size = fb->size + 1; /* lies about the size */
		ops[2].chunks = refs_b;
		ops[2].nchunks = fb->count;
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", ops, 3, &bad) == CAIRN_EINVALID);
		CHECK_EQ_U64(bad, 2);
		CHECK(reads_as(r, "alice", "v2", b, na)); /* the delete did not happen */
		ops[2].size = fb->size;
		ops[2].file = fa->file_hash; /* the chunks do not hash to this */
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", ops, 3, &bad) == CAIRN_EINVALID);
		ops[2].file = fb->file_hash;
		refs_b[0].len++; /* a chunk's length wrong */
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", ops, 3, &bad) == CAIRN_EINVALID);
		refs_b[0].len--;
		rc = cairn_batch_apply(r, &alice, "alice", "b", ops, 3, &bad);
		CHECKF(rc == 0, "%s", cairn_error_last());
		CHECK(reads_as(r, "alice", "copy", a, na));
		CHECK(reads_as(r, "alice", "wrong", b, na));
		CHECK(!reads_as(r, "alice", "v2", b, na));
		/* bob may not copy out of alice's private bucket (it does not exist for him) */
		ops[0].key = "x";
		ops[0].key_len = 1;
		CHECK(cairn_batch_apply(r, &bob, "bob", "b", ops, 1, &bad) == CAIRN_ENOTFOUND);
		CHECK_EQ_U64(bad, 0);
		/* adding by file hash alone: only a file the caller can read */
		memset(ops, 0, sizeof(ops));
		ops[0].type = CAIRN_OP_ADD;
		ops[0].key = "byhash";
		ops[0].key_len = 6;
		ops[0].file = fb->file_hash;
		ops[0].size = fb->size;
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", ops, 1, NULL) == 0);
		CHECK(cairn_batch_apply(r, &bob, "bob", "b", ops, 1, NULL) == CAIRN_EINVALID);
	}

	test_section("chunk lists the chunker cannot make are refused");
	{
		cairn_chunk_ref small[3];
		cairn_batch_op op;
		memset(&op, 0, sizeof(op));
		memcpy(small, refs_a, sizeof(small));
		small[1].len = 100; /* a short chunk in the middle */
		op.type = CAIRN_OP_ADD;
		op.key = "odd";
		op.key_len = 3;
		op.chunks = small;
		op.nchunks = 3;
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", &op, 1, NULL) == CAIRN_EINVALID);
		CHECK(strstr(cairn_error_last(), "not a chunk the chunker makes") != NULL);
		small[1].len = CAIRN_CHUNK_MAX + 1;
		CHECK(cairn_batch_apply(r, &alice, "alice", "b", &op, 1, NULL) == CAIRN_EINVALID);
	}

	test_section("a xorb over the chunk ceiling is refused before any work");
	{
		cairn_xorb_writer *w = NULL;
		const uint8_t *bytes;
		uint8_t one[16];
		size_t len, added = 0;
		CHECK(cairn_xorb_writer_new(&w) == 0);
		for (uint32_t i = 0; i <= CAIRN_XORB_MAX_CHUNKS; i++) {
			memcpy(one, &i, sizeof(i));
			memset(one + 4, 7, sizeof(one) - 4);
			{
				/* a tiny chunk, serialized by hand: header + raw bytes */
				uint8_t ch[8 + sizeof(one)];
				ch[0] = 0;
				ch[1] = sizeof(one), ch[2] = 0, ch[3] = 0;
				ch[4] = 0;
				ch[5] = sizeof(one), ch[6] = 0, ch[7] = 0;
				memcpy(ch + 8, one, sizeof(one));
				added += cairn_xorb_writer_add_packed(w, ch, sizeof(ch)) == 0;
			}
		}
		CHECK_EQ_U64(added, CAIRN_XORB_MAX_CHUNKS + 1);
		rc = cairn_xorb_writer_finish(w, &xname, &bytes, &len);
		CHECKF(rc == 0, "%s", cairn_error_last());
		CHECK(cairn_xorb_ingest(r, "bob", &xname, bytes, len, NULL) == CAIRN_EINVALID);
		CHECKF(strstr(cairn_error_last(), "at most 8192 chunks") != NULL, "%s",
		       cairn_error_last());
		cairn_xorb_writer_free(w);
	}

	test_section("public buckets are readable by everyone, and so are their chunks");
	CHECK(cairn_object_put(r, "carol", "b", "pub", 3, b, na, NULL, NULL) == 0);
	CHECK_EQ_U64(count_present(r, &anon, fb), fb->count);
	CHECK(rebuild(r, &anon, &fb->file_hash, b, na));

	test_section("GC ends grants");
	{
		uint8_t *c = test_xmalloc(na);
		cairn_file_chunks *fcc = NULL;
		cairn_chunk_ref *refs_c;
		cairn_gc_result g;
		splitmix64_fill(4, c, na);
		CHECK(cairn_hash_buffer(&fcc, c, na, NULL) == 0);
		refs_c = refs_of(fcc);
		/* alice keeps the data alive; bob's access rests on his grant alone */
		CHECK(cairn_object_put(r, "alice", "b", "c", 1, c, na, NULL, NULL) == 0);
		x = make_xorb(c, fcc, 0, fcc->count, &xname, &xlen);
		CHECK(cairn_xorb_ingest(r, "bob", &xname, x, xlen, NULL) == 0);
		CHECK_EQ_U64(count_present(r, &bob, fcc), fcc->count);
		usleep(2000);
		CHECK(cairn_repo_gc(r, 0, &g) == 0);
		CHECK_EQ_U64(count_present(r, &alice, fcc), fcc->count); /* still stored */
		CHECK_EQ_U64(count_present(r, &bob, fcc), 0);            /* grant gone */
		CHECK(add_op(r, &bob, "bob", "late", fcc, refs_c) == CAIRN_EINVALID);
		free(x);
		free(c);
		free(refs_c);
		cairn_file_chunks_free(fcc);
	}

	test_section("fsck is clean after all of it");
	{
		uint64_t faults = 1;
		CHECK(cairn_repo_fsck(r, NULL, NULL, &faults) == 0);
		CHECK_EQ_U64(faults, 0);
	}

	free(refs_a);
	free(refs_b);
	cairn_file_chunks_free(fa);
	cairn_file_chunks_free(fb);
	free(a);
	free(b);
	cairn_repo_close(r);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return test_done();
}
