/*
 * s3_route.h - how the S3 front (s3.c) reads a request's target: the
 * bucket and key of a path-style path, the bucket a name means (NS--NAME,
 * or the caller's own), x-amz-copy-source, the operation a method, path
 * and query ask for, and the continuation tokens of listings. Pure
 * functions over text (decoding with sigv4.h's s3_url_decode and
 * s3_query_decode): no I/O, no global state, thread safe.
 * tests/fuzz/fuzz_route.c fuzzes them, with the native API's routes.
 */
#ifndef CAIRN_SERVER_S3_ROUTE_H
#define CAIRN_SERVER_S3_ROUTE_H

#include "cairn/repo.h"
#include "cairn/sys/meta.h"

#include <stdbool.h>
#include <stddef.h>

#define S3_NS_SEP "--"
#define S3_BUCKET_MAX (2 * CAIRN_NAME_MAX + 2) /* a bucket as named: NS--NAME */

/* A bucket or namespace name: 1 to CAIRN_NAME_MAX of [a-z0-9], then [a-z0-9._-]. */
bool s3_name_ok(const char *s, size_t n);

/* What a path names, decoded. */
typedef struct s3_target {
	char bucket[S3_BUCKET_MAX + 1]; /* as named in the request; "" for the service */
	char key[CAIRN_KEY_MAX + 1];    /* key_len bytes (NUL-terminated) when has_key */
	size_t key_len;
	bool has_key;
} s3_target;

/*
 * Split a raw path (as sent, without the query) into *t: /BUCKET[/KEY],
 * each percent-decoded ('+' stays '+'); a '/' after the bucket with nothing
 * after it names no key. Returns 0, or -1 with S3's error code and message
 * for a 400: InvalidBucketName (too long, or a NUL), InvalidURI (a bad
 * escape), KeyTooLongError (over CAIRN_KEY_MAX bytes decoded) or
 * InvalidArgument (a NUL in the key).
 */
int s3_split_path(const char *url, s3_target *t, const char **code, const char **msg);

/*
 * The bucket a request's bucket name means, into ns and name: NS--NAME is
 * namespace NS's bucket NAME; a plain name is one of user's (NULL for an
 * anonymous caller: it must name the namespace). false if it means none.
 */
bool s3_resolve_bucket(const char *bucket, const char *user, char ns[CAIRN_NAME_MAX + 1],
		       char name[CAIRN_NAME_MAX + 1]);

/*
 * An x-amz-copy-source value, "[/]BUCKET/KEY[?versionId=...]" URL-encoded
 * as a whole, into *t (has_key set). false if it does not name a bucket
 * and a key, or holds a NUL.
 */
bool s3_copy_source(const char *h, s3_target *t);

/* A listing's continuation token: the hex of the key to start after. */
void s3_token_of(char *out, const char *key, size_t n); /* out: 2n + 1 bytes */
/* Its key back into out (cap bytes, no NUL added); the length, or -1 if not a
 * token (an odd length, a byte not a hex digit, or longer than cap). */
long s3_token_parse(char *out, size_t cap, const char *t);

/* The query arguments of a request, as MHD has them (values as sent). */
typedef struct s3_query {
	/* is argument name given (with a value or without)? */
	bool (*has)(void *ctx, const char *name);
	/* its value decoded ('+' a space) into out (cap bytes, NUL added); false if
	 * absent, not decodable or longer than cap - 1 */
	bool (*get)(void *ctx, const char *name, char *out, size_t cap);
	void *ctx;
} s3_query;

typedef enum s3_op {
	S3_OP_NOT_ALLOWED,      /* 405 MethodNotAllowed */
	S3_OP_NO_SUCH_UPLOAD,   /* an uploadId that names none: 404 NoSuchUpload */
	S3_OP_LIST_BUCKETS,
	/* a bucket (t->bucket named, no key) */
	S3_OP_CREATE_BUCKET,    /* PUT; reads an XML body */
	S3_OP_PUT_BUCKET_ACL,   /* PUT ?acl; reads an XML body */
	S3_OP_BUCKET_SETTING,   /* PUT of another sub-resource: 501 */
	S3_OP_DELETE_OBJECTS,   /* POST ?delete; reads an XML body */
	S3_OP_DELETE_BUCKET,
	S3_OP_HEAD_BUCKET,
	S3_OP_BUCKET_SUB,       /* GET of a sub-resource (*sub) */
	S3_OP_LIST_UPLOADS,
	S3_OP_LIST_VERSIONS,
	S3_OP_LIST_OBJECTS,
	S3_OP_LIST_OBJECTS_V2,
	/* an object (a key) */
	S3_OP_OBJECT_SUB,       /* any method on a sub-resource (*sub) */
	S3_OP_GET_OBJECT,       /* GET, HEAD */
	S3_OP_DELETE_OBJECT,
	S3_OP_PUT_OBJECT,       /* PUT: an object, or a part when there is an upload id */
	S3_OP_COPY_OBJECT,      /* PUT with x-amz-copy-source */
	S3_OP_CREATE_MPU,       /* POST ?uploads */
	/* an object's multipart upload (an upload id) */
	S3_OP_LIST_PARTS,
	S3_OP_ABORT_MPU,
	S3_OP_UPLOAD_PART_COPY,
	S3_OP_COMPLETE_MPU,     /* POST; reads an XML body */
} s3_op;

/*
 * The operation method asks for on t with query arguments qa (copy_source:
 * the request has x-amz-copy-source). upload_id gets the uploadId
 * argument, "" without one; sub the sub-resource's name (static) for
 * S3_OP_BUCKET_SUB, S3_OP_OBJECT_SUB and S3_OP_BUCKET_SETTING, else NULL.
 */
s3_op s3_route_op(const char *method, const s3_target *t, const s3_query *qa, bool copy_source,
		  char upload_id[CAIRN_MPU_ID_LEN + 1], const char **sub);

#endif /* CAIRN_SERVER_S3_ROUTE_H */
