/*
 * test_mpu.c - S3 support in the storage engine: multipart uploads (the
 * completed object is chunked exactly as a single PUT of the same bytes:
 * same file hash, same chunks, every byte read back), the S3 errors of
 * completion, upload and part listings, abort, GC and fsck around uploads
 * in progress, kill -9 in the middle of a completion; user metadata and
 * version 1 put options; copies that keep or replace the metadata.
 *
 * Usage: test_mpu (works in a fresh directory under /tmp)
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/repo.h"

#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1u << 20)

static char tmpdir[64];

static void rm_rf(const char *path)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

static void md5_of(uint8_t out[16], const void *p, size_t n)
{
	unsigned len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_md5(), NULL) != 1 || len != 16) {
		fprintf(stderr, "no MD5\n");
		exit(2);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Upload p[0..n) as part num, written in uneven pieces; md5 gets its MD5. */
static int put_part(cairn_repo *r, const char *bucket, const char *id, unsigned num,
		    const void *data, size_t n, uint8_t md5[16], cairn_put_result *res)
{
	const uint8_t *p = data;
	cairn_upload *u;
	size_t at = 0, step = 777777;
	int rc;

	md5_of(md5, p, n);
	if ((rc = cairn_upload_new(&u, r)) < 0)
		return rc;
	while (rc == 0 && at < n) {
		size_t k = n - at < step ? n - at : step;
		rc = cairn_upload_write(u, p + at, k);
		at += k;
	}
	if (rc == 0)
		rc = cairn_upload_commit_part(u, "alice", bucket, id, num, md5, res);
	cairn_upload_free(u);
	return rc;
}

static bool reads_back(cairn_repo *r, const char *bucket, const char *key, const uint8_t *want,
		       size_t n)
{
	test_sink s = {0};
	int rc = cairn_object_get(r, "alice", bucket, key, strlen(key), 0, UINT64_MAX,
				  test_sink_write, &s);
	bool ok = rc == 0 && s.n == n && (n == 0 || memcmp(s.p, want, n) == 0);

	if (!ok)
		printf("# read %s: rc=%d got %zu of %zu: %s\n", key, rc, s.n, n, cairn_error_last());
	free(s.p);
	return ok;
}

/* The multipart ETag's MD5: of the parts' binary MD5s. */
static void etag_md5(uint8_t out[16], uint8_t (*md5s)[16], size_t n)
{
	md5_of(out, md5s, 16 * n);
}

/*
 * Upload data as parts of the given sizes and complete; then the same
 * bytes as one PUT. Same file hash and chunks as the single pass (and as
 * cairn_hash_buffer), the bytes read back, the ETag and the options kept.
 */
static void single_pass(cairn_repo *r, const char *label, const uint8_t *data,
			const size_t *sizes, size_t nparts)
{
	char mkey[64], skey[64], id[CAIRN_MPU_ID_LEN + 1];
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	cairn_mpu_want want[8];
	uint8_t md5s[8][16], etag[16];
	cairn_put_result mres, sres;
	cairn_file_chunks *fc = NULL;
	cairn_object_row row;
	cairn_mpu_error why = CAIRN_MPU_INVALID_PART;
	size_t total = 0, at = 0;
	double t0;
	int rc;

	snprintf(mkey, sizeof(mkey), "mp/%s", label);
	snprintf(skey, sizeof(skey), "sp/%s", label);
	for (size_t i = 0; i < nparts; i++)
		total += sizes[i];
	/* a content type is printable ASCII, on every metadata backend */
	po.content_type = "text/caf\xe9";
	CHECK(cairn_mpu_create(r, "alice", "up", mkey, strlen(mkey), &po, id) == CAIRN_EINVALID);
	po.content_type = "text/a\nb";
	CHECK(cairn_mpu_create(r, "alice", "up", mkey, strlen(mkey), &po, id) == CAIRN_EINVALID);
	po.content_type = "application/x-test";
	po.user_meta = "{\"label\":\"mpu\",\"n\":\"1\"}";
	rc = cairn_mpu_create(r, "alice", "up", mkey, strlen(mkey), &po, id);
	if (!CHECKF(rc == 0, "%s", cairn_error_last()))
		return;
	for (size_t i = 0; i < nparts; i++) {
		rc = put_part(r, "up", id, (unsigned)i + 1, data + at, sizes[i], md5s[i], NULL);
		CHECKF(rc == 0, "part %zu: %s", i + 1, cairn_error_last());
		want[i].number = (unsigned)i + 1;
		memcpy(want[i].md5, md5s[i], 16);
		at += sizes[i];
	}
	t0 = now_s();
	rc = cairn_mpu_complete(r, "alice", "up", id, want, nparts, &mres, &why);
	CHECKF(rc == 0 && why == CAIRN_MPU_OK, "%s", cairn_error_last());
	printf("# %s: %zu parts, %zu bytes: %llu chunks, %llu new (%llu bytes) at completion, "
	       "%.3f s\n", label, nparts, total, (unsigned long long)mres.chunks,
	       (unsigned long long)mres.new_chunks, (unsigned long long)mres.new_bytes,
	       now_s() - t0);

	/* the same bytes in one PUT: nothing new to store, the same file */
	CHECK(cairn_object_put(r, "alice", "up", skey, strlen(skey), data, total, NULL, &sres) == 0);
	CHECKF(cairn_hash_equal(&mres.file, &sres.file), "%s: file hashes differ", label);
	CHECK_EQ_U64(mres.chunks, sres.chunks);
	CHECK_EQ_U64(mres.size, total);
	CHECKF(sres.new_chunks == 0, "%s: the PUT stored %llu new chunks", label,
	       (unsigned long long)sres.new_chunks);
	CHECK(cairn_hash_buffer(&fc, data, total, NULL) == 0);
	if (fc) {
		CHECK(cairn_hash_equal(&fc->file_hash, &mres.file));
		CHECK_EQ_U64(fc->count, mres.chunks);
	}
	cairn_file_chunks_free(fc);
	CHECK(reads_back(r, "up", mkey, data, total));

	CHECK(cairn_object_stat(r, "alice", "up", mkey, strlen(mkey), &row) == 0);
	etag_md5(etag, md5s, nparts);
	CHECK(row.has_md5 && memcmp(row.md5, etag, 16) == 0);
	CHECK(row.parts == nparts && row.size == total);
	CHECK(row.content_type && strcmp(row.content_type, "application/x-test") == 0);
	CHECK(row.user_meta && strcmp(row.user_meta, po.user_meta) == 0);
	/* the upload is over */
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, nparts, NULL, &why) ==
	      CAIRN_ENOTFOUND && why == CAIRN_MPU_NO_SUCH_UPLOAD);
}

static void equivalence(cairn_repo *r)
{
	size_t n;
	uint8_t *data;

	test_section("a multipart object is chunked as one PUT of its bytes");
	CHECK(cairn_bucket_create(r, "alice", "up", true) == 0);
	{
		/* three parts of 5-6 MiB, sizes multiples of nothing, and a small last one */
		size_t sizes[] = {5 * MiB + 123457, 5 * MiB + 777777, 6 * MiB - 31337, 54321};
		data = xetgen("splitmix:7:17701434", &n);
		CHECK(n == sizes[0] + sizes[1] + sizes[2] + sizes[3]);
		single_pass(r, "random", data, sizes, 4);
		free(data);
	}
	{
		/* a middle part of constant bytes: cut only at the maximum size, the
		 * two chunkings never agree inside it, and the run crosses it whole */
		size_t sizes[] = {5 * MiB + 1001, 5 * MiB + 4099, 5 * MiB + 77};
		size_t total = sizes[0] + sizes[1] + sizes[2];
		data = xetgen("splitmix:8:15733817", &n);
		CHECK(n == total);
		memset(data + sizes[0], 0, sizes[1]);
		single_pass(r, "constant-middle", data, sizes, 3);
		free(data);
	}
	{
		/* a last part of constant bytes: the run goes on to the object's end */
		size_t sizes[] = {5 * MiB + 5, MiB + 7};
		data = xetgen("splitmix:11:6291468", &n);
		CHECK(n == sizes[0] + sizes[1]);
		memset(data + sizes[0], 0x33, sizes[1]);
		single_pass(r, "constant-tail", data, sizes, 2);
		free(data);
	}
	{
		/* a part boundary exactly where one pass cuts: no run is needed there */
		cairn_file_chunks *fc = NULL;
		size_t sizes[2];
		data = xetgen("text:9:11000000", &n);
		CHECK(cairn_hash_buffer(&fc, data, n, NULL) == 0);
		sizes[0] = 0;
		for (size_t i = 0; fc && i < fc->count; i++) {
			if (fc->chunks[i].offset >= CAIRN_MPU_PART_MIN) {
				sizes[0] = fc->chunks[i].offset;
				break;
			}
		}
		cairn_file_chunks_free(fc);
		sizes[1] = n - sizes[0];
		CHECK(sizes[0] >= CAIRN_MPU_PART_MIN);
		single_pass(r, "on-a-cut", data, sizes, 2);
		free(data);
	}
	{
		/* one part; and a last part of no bytes */
		size_t one[] = {3000000}, empty_last[] = {5 * MiB + 3, 0};
		data = xetgen("splitmix:10:5242883", &n);
		single_pass(r, "one-part", data, one, 1);
		single_pass(r, "empty-last", data, empty_last, 2);
		free(data);
	}
}

static void errors(cairn_repo *r)
{
	char id[CAIRN_MPU_ID_LEN + 1], other[CAIRN_MPU_ID_LEN + 1];
	uint8_t md5[4][16], etag[16];
	cairn_mpu_want want[3];
	cairn_mpu_error why;
	cairn_object_row row;
	size_t n;
	uint8_t *data = xetgen("splitmix:20:12000000", &n);
	uint8_t *small = xetgen("splitmix:21:5000", &n);

	test_section("completion: S3's errors, replaced and dropped parts");
	CHECK(cairn_mpu_create(r, "alice", "up", "e", 1, NULL, id) == 0);
	CHECK(strlen(id) == CAIRN_MPU_ID_LEN && strspn(id, "0123456789abcdef") == CAIRN_MPU_ID_LEN);
	CHECK(cairn_mpu_create(r, "alice", "up", "e", 1, NULL, other) == 0 && strcmp(id, other) != 0);
	CHECK(cairn_mpu_create(r, "alice", "nope", "e", 1, NULL, other) == CAIRN_ENOTFOUND);
	CHECK(cairn_mpu_create(r, "alice", "up", "", 0, NULL, other) == CAIRN_EINVALID);

	/* part 2 uploaded twice: the second counts */
	CHECK(put_part(r, "up", id, 1, data, 6 * MiB, md5[0], NULL) == 0);
	CHECK(put_part(r, "up", id, 2, small, 5000, md5[1], NULL) == 0);
	CHECK(put_part(r, "up", id, 2, data + 6 * MiB, 5 * MiB, md5[1], NULL) == 0);
	CHECK(put_part(r, "up", id, 3, data + 11 * MiB, 1000, md5[2], NULL) == 0);
	CHECK(put_part(r, "up", id, 0, small, 10, md5[3], NULL) == CAIRN_EINVALID);
	CHECK(put_part(r, "up", id, CAIRN_MPU_PARTS_MAX + 1, small, 10, md5[3], NULL) ==
	      CAIRN_EINVALID);
	CHECK(put_part(r, "up", "0123456789abcdef0123456789abcdef", 1, small, 10, md5[3], NULL) ==
	      CAIRN_ENOTFOUND);
	CHECK(put_part(r, "up", "not-an-id", 1, small, 10, md5[3], NULL) == CAIRN_ENOTFOUND);
	CHECK(put_part(r, "list", id, 1, small, 10, md5[3], NULL) == CAIRN_ENOTFOUND);

	for (int i = 0; i < 3; i++) {
		want[i].number = (unsigned)i + 1;
		memcpy(want[i].md5, md5[i], 16);
	}
	/* a wrong ETag */
	want[1].md5[0] ^= 1;
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, &why) == CAIRN_EINVALID &&
	      why == CAIRN_MPU_INVALID_PART);
	printf("# %s\n", cairn_error_last());
	want[1].md5[0] ^= 1;
	/* out of order, or twice */
	want[0].number = 2;
	want[1].number = 1;
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, &why) == CAIRN_EINVALID &&
	      why == CAIRN_MPU_INVALID_PART_ORDER);
	want[0].number = 1;
	want[1].number = 1;
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, &why) == CAIRN_EINVALID &&
	      why == CAIRN_MPU_INVALID_PART_ORDER);
	want[1].number = 2;
	/* a part never uploaded */
	want[2].number = 4;
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, &why) == CAIRN_EINVALID &&
	      why == CAIRN_MPU_INVALID_PART);
	want[2].number = 3;
	/* no parts; an unknown or malformed upload; another bucket's */
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 0, NULL, &why) == CAIRN_EINVALID);
	CHECK(cairn_mpu_complete(r, "alice", "up", "0123456789abcdef0123456789abcdef", want, 3, NULL,
				 &why) == CAIRN_ENOTFOUND && why == CAIRN_MPU_NO_SUCH_UPLOAD);
	CHECK(cairn_mpu_complete(r, "alice", "up", "../x", want, 3, NULL, &why) ==
	      CAIRN_ENOTFOUND && why == CAIRN_MPU_NO_SUCH_UPLOAD);
	CHECK(cairn_mpu_complete(r, "alice", "list", id, want, 3, NULL, &why) == CAIRN_ENOTFOUND &&
	      why == CAIRN_MPU_NO_SUCH_UPLOAD);
	/* a small part in the middle */
	{
		char id2[CAIRN_MPU_ID_LEN + 1];
		uint8_t m2[3][16];
		cairn_mpu_want w2[3];
		CHECK(cairn_mpu_create(r, "alice", "up", "small", 5, NULL, id2) == 0);
		CHECK(put_part(r, "up", id2, 1, data, 5 * MiB, m2[0], NULL) == 0);
		CHECK(put_part(r, "up", id2, 2, data, 5 * MiB - 1, m2[1], NULL) == 0);
		CHECK(put_part(r, "up", id2, 3, small, 10, m2[2], NULL) == 0);
		for (int i = 0; i < 3; i++) {
			w2[i].number = (unsigned)i + 1;
			memcpy(w2[i].md5, m2[i], 16);
		}
		CHECK(cairn_mpu_complete(r, "alice", "up", id2, w2, 3, NULL, &why) == CAIRN_EINVALID &&
		      why == CAIRN_MPU_ENTITY_TOO_SMALL);
		printf("# %s\n", cairn_error_last());
		/* nothing changed: the upload is still there, no object */
		CHECK(cairn_object_stat(r, "alice", "up", "small", 5, &row) == CAIRN_ENOTFOUND);
		/* parts 1 and 3 only: fine (the last may be small); part 2 is dropped */
		w2[1] = w2[2];
		CHECK(cairn_mpu_complete(r, "alice", "up", id2, w2, 2, NULL, &why) == 0 &&
		      why == CAIRN_MPU_OK);
		{
			uint8_t *both = test_xmalloc(5 * MiB + 10);
			memcpy(both, data, 5 * MiB);
			memcpy(both + 5 * MiB, small, 10);
			CHECK(reads_back(r, "up", "small", both, 5 * MiB + 10));
			free(both);
		}
	}
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, &why) == 0);
	CHECK(reads_back(r, "up", "e", data, 11 * MiB + 1000));
	CHECK(cairn_object_stat(r, "alice", "up", "e", 1, &row) == 0 && row.parts == 3);
	md5_of(etag, md5, 48);
	CHECK(memcmp(row.md5, etag, 16) == 0);

	/* abort */
	CHECK(cairn_mpu_abort(r, "alice", "up", id) == CAIRN_ENOTFOUND); /* completed */
	CHECK(put_part(r, "up", other, 1, small, 5000, md5[3], NULL) == 0);
	CHECK(cairn_mpu_abort(r, "alice", "list", other) == CAIRN_ENOTFOUND);
	CHECK(cairn_mpu_abort(r, "alice", "up", other) == 0);
	CHECK(cairn_mpu_abort(r, "alice", "up", other) == CAIRN_ENOTFOUND);
	CHECK(cairn_mpu_abort(r, "alice", "up", "nonsense") == CAIRN_ENOTFOUND);
	CHECK(put_part(r, "up", other, 1, small, 5000, md5[3], NULL) == CAIRN_ENOTFOUND);
	free(data);
	free(small);
}

typedef struct ulist {
	char out[1024];
	size_t len;
	char ids[8][CAIRN_MPU_ID_LEN + 1];
	int n;
} ulist;

static int on_upload(void *ctx, const cairn_mpu_info *u)
{
	ulist *l = ctx;

	l->len += (size_t)snprintf(l->out + l->len, sizeof(l->out) - l->len, "%.*s ",
				   (int)u->key_len, u->key);
	if (l->n < 8)
		snprintf(l->ids[l->n++], CAIRN_MPU_ID_LEN + 1, "%s", u->id);
	return 0;
}

static int stop_at_two(void *ctx, const cairn_mpu_info *u)
{
	int *n = ctx;
	(void)u;
	return ++*n == 2 ? 42 : 0;
}

static void listings(cairn_repo *r)
{
	static const char *keys[] = {"c", "a", "b/y", "a", "b/x"};
	char id[5][CAIRN_MPU_ID_LEN + 1], lo[CAIRN_MPU_ID_LEN + 1], hi[CAIRN_MPU_ID_LEN + 1];
	uint8_t md5[16], m5[16];
	cairn_mpu_part *parts = NULL;
	const char *key;
	size_t key_len, n;
	bool more;
	ulist l;
	int stops = 0;

	test_section("listing uploads and parts");
	CHECK(cairn_bucket_create(r, "alice", "list", false) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(cairn_mpu_create(r, "alice", "list", keys[i], strlen(keys[i]), NULL, id[i]) == 0);
	/* the two uploads of "a", by id */
	snprintf(lo, sizeof(lo), "%s", strcmp(id[1], id[3]) < 0 ? id[1] : id[3]);
	snprintf(hi, sizeof(hi), "%s", strcmp(id[1], id[3]) < 0 ? id[3] : id[1]);

	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, NULL, 0, NULL, 0, on_upload, &l, &more) ==
	      0 && !more);
	CHECK_STR(l.out, "a a b/x b/y c ");
	CHECK(strcmp(l.ids[0], lo) == 0 && strcmp(l.ids[1], hi) == 0);

	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", "b/", 2, NULL, 0, NULL, 0, on_upload, &l, &more) ==
	      0 && !more);
	CHECK_STR(l.out, "b/x b/y ");

	/* pages of two: after a key (all its uploads), after a key and id */
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, NULL, 0, NULL, 2, on_upload, &l, &more) ==
	      0 && more);
	CHECK_STR(l.out, "a a ");
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, "a", 1, NULL, 2, on_upload, &l, &more) ==
	      0 && more);
	CHECK_STR(l.out, "b/x b/y ");
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, "b/y", 3, NULL, 2, on_upload, &l, &more) ==
	      0 && !more);
	CHECK_STR(l.out, "c ");
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, "a", 1, lo, 2, on_upload, &l, &more) == 0 &&
	      more);
	CHECK_STR(l.out, "a b/x ");
	CHECK(strcmp(l.ids[0], hi) == 0);
	/* an id marker without a key marker means nothing (S3) */
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, NULL, 0, hi, 0, on_upload, &l, &more) ==
	      0);
	CHECK_STR(l.out, "a a b/x b/y c ");
	/* the prefix and the marker together; a callback's value stops the walk */
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", "b/", 2, "b/x", 3, NULL, 0, on_upload, &l, &more) ==
	      0);
	CHECK_STR(l.out, "b/y ");
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, NULL, 0, NULL, 0, stop_at_two, &stops,
			     &more) == 42);
	CHECK(cairn_mpu_list(r, "alice", "nope", NULL, 0, NULL, 0, NULL, 0, on_upload, &l, &more) ==
	      CAIRN_ENOTFOUND);

	/* parts: 1, 2, 3, 5; part 2 replaced */
	CHECK(put_part(r, "list", id[0], 1, "one", 3, md5, NULL) == 0);
	CHECK(put_part(r, "list", id[0], 2, "two", 3, md5, NULL) == 0);
	CHECK(put_part(r, "list", id[0], 5, "five", 4, md5, NULL) == 0);
	CHECK(put_part(r, "list", id[0], 3, "three", 5, md5, NULL) == 0);
	CHECK(put_part(r, "list", id[0], 2, "TWO!!!", 6, m5, NULL) == 0);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 0, 0, &key, &key_len, &parts, &n, &more) ==
	      0);
	CHECK(n == 4 && !more && key_len == 1 && key[0] == 'c');
	if (n == 4) {
		CHECK(parts[0].number == 1 && parts[1].number == 2 && parts[2].number == 3 &&
		      parts[3].number == 5);
		CHECK(parts[1].size == 6 && memcmp(parts[1].md5, m5, 16) == 0);
		CHECK(parts[3].size == 4 && parts[3].created_ns > 0);
	}
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 0, 2, NULL, NULL, &parts, &n, &more) == 0);
	CHECK(n == 2 && more && parts[0].number == 1 && parts[1].number == 2);
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 2, 2, NULL, NULL, &parts, &n, &more) == 0);
	CHECK(n == 2 && !more && parts[0].number == 3 && parts[1].number == 5);
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 3, 1, NULL, NULL, &parts, &n, &more) == 0);
	CHECK(n == 1 && !more && parts[0].number == 5);
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 5, 0, NULL, NULL, &parts, &n, &more) == 0);
	CHECK(n == 0 && !more);
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[1], 0, 0, NULL, NULL, &parts, &n, &more) == 0);
	CHECK(n == 0);
	free(parts);
	CHECK(cairn_mpu_parts(r, "alice", "up", id[0], 0, 0, NULL, NULL, &parts, &n, &more) ==
	      CAIRN_ENOTFOUND);
	CHECK(cairn_mpu_parts(r, "alice", "list", "zz", 0, 0, NULL, NULL, &parts, &n, &more) ==
	      CAIRN_ENOTFOUND);

	/* deleting the bucket drops its uploads */
	CHECK(cairn_bucket_delete(r, "alice", "list") == 0);
	CHECK(cairn_bucket_create(r, "alice", "list", false) == 0);
	memset(&l, 0, sizeof(l));
	CHECK(cairn_mpu_list(r, "alice", "list", NULL, 0, NULL, 0, NULL, 0, on_upload, &l, &more) ==
	      0 && l.len == 0);
	CHECK(cairn_mpu_parts(r, "alice", "list", id[0], 0, 0, NULL, NULL, &parts, &n, &more) ==
	      CAIRN_ENOTFOUND);
}

static void fsck_line(void *ctx, const char *what)
{
	(void)ctx;
	printf("# fsck: %s\n", what);
}

static bool fsck_clean(cairn_repo *r)
{
	uint64_t faults = 99;
	return cairn_repo_fsck(r, fsck_line, NULL, &faults) == 0 && faults == 0;
}

static void gc_around_uploads(cairn_repo *r)
{
	char id[CAIRN_MPU_ID_LEN + 1];
	uint8_t md5[2][16];
	cairn_mpu_want want[2];
	cairn_gc_result g;
	cairn_stats before, after;
	size_t n;
	uint8_t *data = xetgen("splitmix:30:5500000", &n);

	test_section("GC keeps what an upload in progress holds, and takes what it left");
	CHECK(cairn_repo_gc(r, 0, &g) == 0);
	CHECK(fsck_clean(r));
	CHECK(cairn_mpu_create(r, "alice", "up", "gc", 2, NULL, id) == 0);
	CHECK(put_part(r, "up", id, 1, data, 5 * MiB, md5[0], NULL) == 0);
	CHECK(put_part(r, "up", id, 2, data + 5 * MiB, n - 5 * MiB, md5[1], NULL) == 0);
	/* no grace at all: the parts' files and xorbs stay, fsck sees nothing wrong */
	CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.files == 0 && g.xorbs == 0);
	CHECK(fsck_clean(r));
	for (int i = 0; i < 2; i++) {
		want[i].number = (unsigned)i + 1;
		memcpy(want[i].md5, md5[i], 16);
	}
	CHECK(cairn_mpu_complete(r, "alice", "up", id, want, 2, NULL, NULL) == 0);
	CHECK(reads_back(r, "up", "gc", data, n));
	/* the parts' files are garbage now; the object's data is not */
	CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.files == 2);
	CHECK(reads_back(r, "up", "gc", data, n));
	CHECK(fsck_clean(r));

	/* abort: everything the upload stored goes at the next GC */
	splitmix64_fill(31, data, n);
	CHECK(cairn_mpu_create(r, "alice", "up", "gc2", 3, NULL, id) == 0);
	CHECK(put_part(r, "up", id, 1, data, 5 * MiB, md5[0], NULL) == 0);
	CHECK(put_part(r, "up", id, 2, data + 5 * MiB, n - 5 * MiB, md5[1], NULL) == 0);
	CHECK(cairn_repo_stats(r, &before) == 0);
	CHECK(cairn_mpu_abort(r, "alice", "up", id) == 0);
	CHECK(cairn_repo_gc(r, 3600ll * 1000000000, &g) == 0 && g.xorbs == 0);
	CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.files == 2 && g.xorbs >= 1);
	CHECK(cairn_repo_stats(r, &after) == 0 && before.stored_bytes - after.stored_bytes >= n);
	CHECK(fsck_clean(r));

	/* a bucket deleted with an upload in progress: its parts go too */
	CHECK(cairn_bucket_create(r, "alice", "doomed", false) == 0);
	CHECK(cairn_mpu_create(r, "alice", "doomed", "k", 1, NULL, id) == 0);
	CHECK(put_part(r, "doomed", id, 1, data, 100000, md5[0], NULL) == 0);
	CHECK(cairn_bucket_delete(r, "alice", "doomed") == 0);
	CHECK(cairn_repo_gc(r, 0, &g) == 0 && g.files == 1 && g.xorbs == 1);
	CHECK(fsck_clean(r));
	free(data);
}

static void user_meta(cairn_repo *r)
{
	/* a version 1 caller's struct: exactly that big (ASan sees any read past it) */
	typedef struct put_options_v1 {
		unsigned version;
		int64_t mtime_ns;
		const char *content_type;
		const uint8_t *md5;
	} put_options_v1;
	cairn_put_options po = CAIRN_PUT_OPTIONS_INIT;
	put_options_v1 *v1 = test_xmalloc(sizeof(*v1));
	cairn_object_row row;
	char big[3000], id[CAIRN_MPU_ID_LEN + 1];
	uint8_t md5[16];

	test_section("user metadata, option versions, copies");
	po.user_meta = "{\"a\":\"1\",\"b\":\"two words\",\"c\":\"\\u00e9\"}";
	CHECK(cairn_object_put(r, "alice", "up", "m", 1, "x", 1, &po, NULL) == 0);
	CHECK(cairn_object_stat(r, "alice", "up", "m", 1, &row) == 0 && row.user_meta &&
	      strcmp(row.user_meta, po.user_meta) == 0 && row.parts == 0);
	{
		static const char *bad[] = {"", "[]", "{\"a\":1}", "{\"a\":\"1\"", "{\"a\":\"1\"} x",
					    "{\"a\":\"1\",\"a\":\"2\"}", "\"s\"", "{\"a\":{}}"};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			po.user_meta = bad[i];
			CHECKF(cairn_object_put(r, "alice", "up", "m", 1, "y", 1, &po, NULL) ==
				       CAIRN_EINVALID,
			       "%s", bad[i]);
		}
	}
	/* 2 KiB of names and values is S3's limit, however long the text */
	memset(big, 0, sizeof(big));
	strcpy(big, "{\"k\":\"");
	memset(big + 6, 'v', 2047);
	strcat(big, "\"}");
	po.user_meta = big;
	CHECK(cairn_object_put(r, "alice", "up", "m", 1, "z", 1, &po, NULL) == 0);
	big[6 + 2047] = 'v';
	strcpy(big + 6 + 2048, "\"}");
	CHECK(cairn_object_put(r, "alice", "up", "m", 1, "z", 1, &po, NULL) == CAIRN_ETOOBIG);
	CHECK(cairn_mpu_create(r, "alice", "up", "m", 1, &po, id) == CAIRN_ETOOBIG);
	po.user_meta = NULL;
	po.version = 3;
	CHECK(cairn_object_put(r, "alice", "up", "m", 1, "z", 1, &po, NULL) == CAIRN_EINVALID);
	po.version = 0;
	CHECK(cairn_object_put(r, "alice", "up", "m", 1, "z", 1, &po, NULL) == CAIRN_EINVALID);
	po.version = CAIRN_PUT_OPTIONS_VERSION;
	CHECK(cairn_object_stat(r, "alice", "up", "m", 1, &row) == 0 && row.size == 1 &&
	      strlen(row.user_meta) > 2048); /* the 2 KiB one */

	/* version 1 options: read as such */
	v1->version = 1;
	v1->mtime_ns = 77;
	v1->content_type = "text/v1";
	md5_of(md5, "w", 1);
	v1->md5 = md5;
	CHECK(cairn_object_put(r, "alice", "up", "v1", 2, "w", 1, (const cairn_put_options *)v1,
			       NULL) == 0);
	CHECK(cairn_object_stat(r, "alice", "up", "v1", 2, &row) == 0 && row.mtime_ns == 77 &&
	      row.user_meta == NULL && row.parts == 0 && row.has_md5 &&
	      strcmp(row.content_type, "text/v1") == 0);
	free(v1);

	/* copies: COPY keeps everything, REPLACE takes the new options */
	CHECK(cairn_object_copy_with(r, "alice", "up", "mp/random", 9, "alice", "up", "copy", 4,
				     NULL) == 0);
	{
		cairn_object_row src;
		uint8_t src_md5[16];
		CHECK(cairn_object_stat(r, "alice", "up", "mp/random", 9, &src) == 0);
		memcpy(src_md5, src.md5, 16);
		CHECK(cairn_object_stat(r, "alice", "up", "copy", 4, &row) == 0);
		CHECK(row.parts == 4 && row.has_md5 && memcmp(row.md5, src_md5, 16) == 0);
		CHECK(row.user_meta && strcmp(row.user_meta, "{\"label\":\"mpu\",\"n\":\"1\"}") == 0);
		CHECK(row.content_type && strcmp(row.content_type, "application/x-test") == 0);
	}
	po.content_type = "text/replaced";
	po.user_meta = "{\"new\":\"yes\"}";
	po.md5 = NULL;
	po.parts = 0;
	po.mtime_ns = 12345;
	CHECK(cairn_object_copy_with(r, "alice", "up", "mp/random", 9, "alice", "up", "copy", 4,
				     &po) == 0);
	CHECK(cairn_object_stat(r, "alice", "up", "copy", 4, &row) == 0);
	CHECK(row.parts == 0 && !row.has_md5 && row.mtime_ns == 12345);
	CHECK(strcmp(row.user_meta, "{\"new\":\"yes\"}") == 0 &&
	      strcmp(row.content_type, "text/replaced") == 0);
	/* the old API keeps what the source has */
	CHECK(cairn_object_copy(r, "alice", "up", "mp/random", 9, "alice", "up", "copy2", 5) == 0);
	CHECK(cairn_object_stat(r, "alice", "up", "copy2", 5, &row) == 0 && row.parts == 4 &&
	      row.user_meta != NULL);
	po.user_meta = "not json";
	CHECK(cairn_object_copy_with(r, "alice", "up", "mp/random", 9, "alice", "up", "copy", 4,
				     &po) == CAIRN_EINVALID);
	CHECK(cairn_object_copy_with(r, "alice", "up", "nope", 4, "alice", "up", "copy", 4, NULL) ==
	      CAIRN_ENOTFOUND);
	CHECK(cairn_object_copy_with(r, "alice", "up", "copy", 4, "alice", "nope", "c", 1, NULL) ==
	      CAIRN_ENOTFOUND);
}

/*
 * kill -9 in the middle of completions: afterwards either the object is
 * there, whole, and the upload gone, or the upload is as it was and no
 * object; completing again then works.
 */
static void kill9(cairn_repo *r)
{
	enum { ROUNDS = 8 };
	char id[CAIRN_MPU_ID_LEN + 1], key[32];
	uint8_t md5[3][16];
	cairn_mpu_want want[3];
	size_t sizes[3] = {5 * MiB + 333, 5 * MiB + 4444, 70000}, n;
	uint8_t *data = xetgen("splitmix:40:10560537", &n);
	double took = 0;
	int done_first = 0, done_later = 0;

	test_section("kill -9 during completion");
	for (int round = 0; round < ROUNDS; round++) {
		cairn_object_row row;
		size_t at = 0;
		double t0;
		pid_t pid;
		int status;

		/* a fresh content each round, so completion has new chunks to store */
		splitmix64_fill(1000 + (uint64_t)round, data, n);
		snprintf(key, sizeof(key), "crash/%d", round);
		CHECK(cairn_mpu_create(r, "alice", "up", key, strlen(key), NULL, id) == 0);
		for (int i = 0; i < 3; i++) {
			CHECK(put_part(r, "up", id, (unsigned)i + 1, data + at, sizes[i], md5[i], NULL) ==
			      0);
			want[i].number = (unsigned)i + 1;
			memcpy(want[i].md5, md5[i], 16);
			at += sizes[i];
		}
		t0 = now_s();
		pid = fork();
		if (pid == 0) {
			cairn_repo *cr;
			int rc = cairn_repo_open(&cr, tmpdir);
			if (rc == 0)
				rc = cairn_mpu_complete(cr, "alice", "up", id, want, 3, NULL, NULL);
			_exit(rc == 0 ? 0 : 1);
		}
		if (!CHECK(pid > 0))
			break;
		if (round == 0) {
			/* the first runs to the end: how long a completion takes */
			waitpid(pid, &status, 0);
			took = now_s() - t0;
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			printf("# a completion takes %.3f s here\n", took);
		} else {
			struct timespec ts;
			double d = took * (double)round / (ROUNDS - 1);
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		if (cairn_object_stat(r, "alice", "up", key, strlen(key), &row) == 0) {
			cairn_mpu_part *p = NULL;
			size_t np;
			done_first++;
			CHECK(row.parts == 3);
			CHECK(cairn_mpu_parts(r, "alice", "up", id, 0, 0, NULL, NULL, &p, &np, NULL) ==
			      CAIRN_ENOTFOUND);
			free(p);
		} else {
			cairn_mpu_part *p = NULL;
			size_t np = 0;
			done_later++;
			CHECK(cairn_mpu_parts(r, "alice", "up", id, 0, 0, NULL, NULL, &p, &np, NULL) == 0 &&
			      np == 3);
			free(p);
			CHECKF(cairn_mpu_complete(r, "alice", "up", id, want, 3, NULL, NULL) == 0, "%s",
			       cairn_error_last());
		}
		CHECK(reads_back(r, "up", key, data, n));
	}
	printf("# %d completions finished before the kill, %d after it\n", done_first, done_later);
	CHECK(fsck_clean(r));
	{
		cairn_gc_result g;
		CHECK(cairn_repo_gc(r, 0, &g) == 0);
		CHECK(fsck_clean(r));
		CHECK(reads_back(r, "up", key, data, n));
	}
	free(data);
}

int main(void)
{
	cairn_repo *r = NULL;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-mpu-XXXXXX");
	if (!CHECK(mkdtemp(tmpdir) != NULL))
		return test_done();
	rc = cairn_repo_open(&r, tmpdir);
	if (!CHECKF(rc == 0, "%s", cairn_error_last()))
		return test_done();
	equivalence(r);
	errors(r);
	listings(r);
	gc_around_uploads(r);
	user_meta(r);
	kill9(r);
	CHECK(fsck_clean(r));
	cairn_repo_close(r);
	rc = test_done();
	if (rc == 0)
		rm_rf(tmpdir);
	else
		printf("data kept in %s\n", tmpdir);
	return rc;
}
