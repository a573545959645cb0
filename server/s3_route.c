/*
 * s3_route.c - the S3 front's reading of a request's target (see
 * s3_route.h). s3.c splits the path before authenticating, resolves the
 * bucket once it knows the caller, and dispatches on s3_route_op.
 */
#include "s3_route.h"
#include "route.h" /* cairn__hexv */
#include "sigv4.h"

#include <string.h>

bool s3_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CAIRN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      (i > 0 && (ch == '.' || ch == '_' || ch == '-'))))
			return false;
	}
	return true;
}

/* Is every '%' of s[0, n) followed by two hex digits? */
static bool escapes_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		if (n - i < 3 || cairn__hexv(s[i + 1]) < 0 || cairn__hexv(s[i + 2]) < 0)
			return false;
		i += 2;
	}
	return true;
}

int s3_split_path(const char *url, s3_target *t, const char **code, const char **msg)
{
	const char *p = url[0] == '/' ? url + 1 : url, *slash = strchr(p, '/');
	size_t bl = slash ? (size_t)(slash - p) : strlen(p);
	long n;

	memset(t, 0, sizeof(*t));
	if (bl >= sizeof(t->bucket)) {
		*code = "InvalidBucketName";
		*msg = "The specified bucket is not valid.";
		return -1;
	}
	n = s3_url_decode(t->bucket, sizeof(t->bucket) - 1, p, bl);
	if (n < 0) {
		*code = "InvalidURI";
		*msg = "Couldn't parse the specified URI.";
		return -1;
	}
	if (memchr(t->bucket, '\0', (size_t)n) != NULL) {
		/* a NUL (%00) would cut the name short: another bucket */
		*code = "InvalidBucketName";
		*msg = "The specified bucket is not valid.";
		return -1;
	}
	t->bucket[n] = '\0';
	if (slash && slash[1] != '\0') {
		const char *k = slash + 1;
		size_t kl = strlen(k);
		n = s3_url_decode(t->key, sizeof(t->key) - 1, k, kl);
		if (n <= 0 || memchr(t->key, '\0', (size_t)n) != NULL) {
			if (!escapes_ok(k, kl)) {
				*code = "InvalidURI";
				*msg = "Couldn't parse the specified URI.";
			} else if (n < 0) {
				*code = "KeyTooLongError";
				*msg = "Your key is too long";
			} else {
				*code = "InvalidArgument";
				*msg = n == 0 ? "A key cannot be empty." : "A key cannot hold a NUL byte.";
			}
			return -1;
		}
		t->key[n] = '\0';
		t->key_len = (size_t)n;
		t->has_key = true;
	}
	return 0;
}

bool s3_resolve_bucket(const char *bucket, const char *user, char ns[CAIRN_NAME_MAX + 1],
		       char name[CAIRN_NAME_MAX + 1])
{
	const char *sep = strstr(bucket, S3_NS_SEP);
	size_t n;

	/* s3_name_ok bounds every length by CAIRN_NAME_MAX */
	if (sep != NULL && s3_name_ok(bucket, (size_t)(sep - bucket)) &&
	    s3_name_ok(sep + 2, strlen(sep + 2))) {
		memcpy(ns, bucket, (size_t)(sep - bucket));
		ns[sep - bucket] = '\0';
		n = strlen(sep + 2);
		memcpy(name, sep + 2, n + 1);
		return true;
	}
	if (user == NULL || !s3_name_ok(bucket, n = strlen(bucket)))
		return false;
	memcpy(ns, user, strlen(user) + 1);
	memcpy(name, bucket, n + 1);
	return true;
}

bool s3_copy_source(const char *h, s3_target *t)
{
	char dec[CAIRN_KEY_MAX + 2 * CAIRN_NAME_MAX + 16];
	const char *p, *slash, *qm;
	long n;
	size_t hl;

	memset(t, 0, sizeof(*t));
	if (h == NULL)
		return false;
	hl = strlen(h);
	qm = memchr(h, '?', hl);
	if (qm)
		hl = (size_t)(qm - h); /* a versionId: there is one version */
	n = s3_url_decode(dec, sizeof(dec) - 1, h, hl);
	if (n <= 0 || memchr(dec, '\0', (size_t)n) != NULL)
		return false; /* a NUL (%00) would cut the key short: another object */
	dec[n] = '\0';
	p = dec[0] == '/' ? dec + 1 : dec;
	slash = strchr(p, '/');
	if (slash == NULL || (size_t)(slash - p) >= sizeof(t->bucket) || slash[1] == '\0' ||
	    strlen(slash + 1) > CAIRN_KEY_MAX)
		return false;
	memcpy(t->bucket, p, (size_t)(slash - p));
	t->bucket[slash - p] = '\0';
	t->key_len = strlen(slash + 1);
	memcpy(t->key, slash + 1, t->key_len + 1);
	t->has_key = true;
	return true;
}

void s3_token_of(char *out, const char *key, size_t n)
{
	s3_hex(out, (const uint8_t *)key, n);
}

long s3_token_parse(char *out, size_t cap, const char *t)
{
	size_t n = strlen(t);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = cairn__hexv(t[2 * i]), lo = cairn__hexv(t[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1; /* sscanf's %2x took "e-", " 1" and "+f" */
		out[i] = (char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

/* ---- operations ---- */

static const char *const BUCKET_SUBS[] = {"location", "versioning", "acl", "tagging", "policy",
					  "cors", "lifecycle", "website", "logging", "encryption",
					  "replication", "notification", "requestPayment",
					  "object-lock", "ownershipControls", "accelerate"};

static const char *const OBJECT_SUBS[] = {"tagging", "acl", "retention", "legal-hold", "torrent",
					  "attributes", "restore", "select"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The first of subs the query names, or NULL. */
static const char *sub_of(const s3_query *qa, const char *const *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (qa->has(qa->ctx, subs[i]))
			return subs[i];
	return NULL;
}

s3_op s3_route_op(const char *method, const s3_target *t, const s3_query *qa, bool copy_source,
		  char upload_id[CAIRN_MPU_ID_LEN + 1], const char **sub)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	*sub = NULL;
	upload_id[0] = '\0';
	/* an uploadId that cannot name an upload (no value, empty, too long, a bad escape) */
	if (qa->has(qa->ctx, "uploadId") &&
	    (!qa->get(qa->ctx, "uploadId", upload_id, CAIRN_MPU_ID_LEN + 1) || upload_id[0] == '\0')) {
		upload_id[0] = '\0';
		return S3_OP_NO_SUCH_UPLOAD;
	}

	if (t->bucket[0] == '\0')
		return get ? S3_OP_LIST_BUCKETS : S3_OP_NOT_ALLOWED;
	if (!t->has_key) {
		if (strcmp(method, "PUT") == 0) {
			if (qa->has(qa->ctx, "acl"))
				return S3_OP_PUT_BUCKET_ACL;
			if ((*sub = sub_of(qa, BUCKET_SUBS, N_OF(BUCKET_SUBS))) != NULL)
				return S3_OP_BUCKET_SETTING;
			return S3_OP_CREATE_BUCKET;
		}
		if (strcmp(method, "POST") == 0 && qa->has(qa->ctx, "delete"))
			return S3_OP_DELETE_OBJECTS;
		if (strcmp(method, "DELETE") == 0)
			return S3_OP_DELETE_BUCKET;
		if (strcmp(method, "HEAD") == 0)
			return S3_OP_HEAD_BUCKET;
		if (get) {
			char lt[8];
			if ((*sub = sub_of(qa, BUCKET_SUBS, N_OF(BUCKET_SUBS))) != NULL)
				return S3_OP_BUCKET_SUB;
			if (qa->has(qa->ctx, "uploads"))
				return S3_OP_LIST_UPLOADS;
			if (qa->has(qa->ctx, "versions"))
				return S3_OP_LIST_VERSIONS;
			return qa->get(qa->ctx, "list-type", lt, sizeof(lt)) && strcmp(lt, "2") == 0
				       ? S3_OP_LIST_OBJECTS_V2
				       : S3_OP_LIST_OBJECTS;
		}
		return S3_OP_NOT_ALLOWED;
	}

	/* an object */
	if ((*sub = sub_of(qa, OBJECT_SUBS, N_OF(OBJECT_SUBS))) != NULL)
		return S3_OP_OBJECT_SUB;
	if (get)
		return upload_id[0] ? S3_OP_LIST_PARTS : S3_OP_GET_OBJECT;
	if (strcmp(method, "DELETE") == 0)
		return upload_id[0] ? S3_OP_ABORT_MPU : S3_OP_DELETE_OBJECT;
	if (strcmp(method, "PUT") == 0) {
		if (copy_source)
			return upload_id[0] ? S3_OP_UPLOAD_PART_COPY : S3_OP_COPY_OBJECT;
		return S3_OP_PUT_OBJECT;
	}
	if (strcmp(method, "POST") == 0) {
		if (qa->has(qa->ctx, "uploads"))
			return S3_OP_CREATE_MPU;
		if (upload_id[0])
			return S3_OP_COMPLETE_MPU;
	}
	return S3_OP_NOT_ALLOWED;
}
