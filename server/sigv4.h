/*
 * sigv4.h - request authentication for the S3 front (s3.c): AWS Signature
 * Version 4 (the Authorization header, presigned query strings, and
 * streaming "aws-chunked" payloads whose every chunk is signed) and the
 * Version 2 forms clients still use (the presigned query string boto3
 * makes for us-east-1 and `s3cmd signurl` makes; the "AWS key:sig"
 * header). Pure functions over a description of the request: no I/O, no
 * global state, thread safe. HMAC, SHA-256, SHA-1 and MD5 come from
 * OpenSSL's libcrypto.
 *
 * How the front uses it:
 *   s3_auth_parse(req)          -> which scheme, which access key (or anonymous)
 *   (look the key's secret up)
 *   s3_auth_verify(req, secret) -> the signature holds, the time is right
 *   body: S3_PAYLOAD_SHA256     -> s3_digest over the body, compare at the end
 *         S3_PAYLOAD_STREAMING  -> s3_chunked decodes and checks each chunk
 *
 * Canonical forms are AWS's: the path is decoded and re-encoded segment by
 * segment (unreserved characters kept, everything else %XX, '/' kept, an
 * encoded %2F stays encoded), which is what every SDK signs for any key;
 * a path signed exactly as sent is accepted too. Query names and values are
 * decoded ('+' as a space) and re-encoded the same way, then sorted.
 * Besides the spec's forms, what common clients demonstrably sign is
 * accepted (each names the same request): SigV2 resources as botocore and
 * s3cmd write them ("/bkt/" for "/bkt", sub-resource values as sent), and
 * s3cmd's SigV4 header values with inner runs of spaces kept.
 */
#ifndef CAIRN_SIGV4_H
#define CAIRN_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_MAX_SKEW_S 900                  /* 15 minutes of clock skew */
#define S3_MAX_PRESIGN_S (7 * 24 * 3600)  /* SigV4 presigned URLs: at most 7 days */

/* One header as received (names in any case; a name may repeat). */
typedef struct s3_header {
	const char *name;
	const char *value;
} s3_header;

/* The request, borrowed. */
typedef struct s3_req {
	const char *method;    /* "GET", "PUT", ... */
	const char *raw_path;  /* as on the request line: percent-encoding kept, no query;
				* path-style (SigV2 signs it as the resource) */
	const char *raw_query; /* as on the request line, without '?'; "" if none */
	const s3_header *headers;
	size_t nheaders;
	int64_t now;           /* seconds since the epoch */
} s3_req;

typedef enum s3_auth_kind {
	S3_ANON,       /* no credentials at all */
	S3_V4_HEADER,  /* Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=... */
	S3_V4_QUERY,   /* X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Signature=... */
	S3_V2_HEADER,  /* Authorization: AWS KEY:SIGNATURE */
	S3_V2_QUERY,   /* AWSAccessKeyId=...&Expires=...&Signature=... */
} s3_auth_kind;

typedef enum s3_payload {
	S3_PAYLOAD_UNSIGNED,  /* UNSIGNED-PAYLOAD, presigned, V2, or no body */
	S3_PAYLOAD_SHA256,    /* x-amz-content-sha256 is the body's SHA-256: check it at the end */
	/* An aws-chunked body: decode with s3_chunked. STREAMING-AWS4-HMAC-SHA256-PAYLOAD
	 * (every chunk signed), its -TRAILER form (and a signed checksum trailer),
	 * or STREAMING-UNSIGNED-PAYLOAD-TRAILER (no chunk signatures; a checksum
	 * trailer, which botocore >= 1.36 sends for uploads over https). */
	S3_PAYLOAD_STREAMING,
} s3_payload;

typedef struct s3_auth {
	s3_auth_kind kind;
	char access_key[129];
	s3_payload payload;
	uint8_t payload_sha256[32]; /* S3_PAYLOAD_SHA256: what the body must hash to */
	uint64_t decoded_length;    /* S3_PAYLOAD_STREAMING: x-amz-decoded-content-length */
	int64_t expires;            /* presigned forms: when it stops being valid (epoch s) */
	/* filled by s3_auth_verify, for the chunk signatures of a streaming body */
	uint8_t signing_key[32];
	char amz_date[17];          /* yyyymmddThhmmssZ */
	char scope[160];            /* yyyymmdd/region/s3/aws4_request */
	char seed_signature[65];    /* the request's own signature, lower-case hex */
	/* S3_PAYLOAD_STREAMING: whether each chunk carries a chunk-signature, and
	 * the checksum trailer announced by x-amz-trailer (lower case, such as
	 * "x-amz-checksum-crc32"; "" for none), which s3_chunked checks. */
	bool chunk_signed;
	char trailer[32];
} s3_auth;

/* An S3 error: HTTP status, S3's error code, and a message for humans. */
typedef struct s3_err {
	int status;
	const char *code; /* static: "SignatureDoesNotMatch", "AccessDenied", ... */
	char message[256];
	/* SignatureDoesNotMatch only ("" otherwise): what we signed, for the
	 * <StringToSign> and <CanonicalRequest> elements AWS's error carries
	 * (truncated with "..." when longer). The canonical request is SigV4's. */
	char string_to_sign[320];
	char canonical_request[2048];
} s3_err;

/*
 * Which scheme the request uses and with which access key; the payload
 * mode and, for presigned forms, the expiry. No secret is needed yet.
 * Returns 0 (a->kind S3_ANON when there are no credentials), or -1 with
 * *err set: 400 AuthorizationHeaderMalformed (header forms) or
 * AuthorizationQueryParametersError (query forms) for a malformed
 * Authorization or X-Amz-* parameters, a credential scope that is not
 * s3 / aws4_request, a credential date that is not the request's, an
 * X-Amz-Expires outside 1..604800 s, SignedHeaders without host;
 * 400 InvalidArgument for an unknown x-amz-content-sha256 value (SigV4;
 * other schemes ignore what they cannot use), a malformed
 * x-amz-decoded-content-length, an unsupported Authorization type, or
 * more than one scheme at once; 400 InvalidRequest when
 * x-amz-content-sha256 is missing (header SigV4), a streaming payload
 * comes presigned, signed chunks come without SigV4's Authorization
 * header, or x-amz-trailer is not one supported checksum matching the
 * payload form; 411 MissingContentLength when a streaming payload has no
 * x-amz-decoded-content-length; 400 MissingSecurityHeader when no
 * x-amz-date (or Date) is given, 403 AccessDenied when it does not parse;
 * 403 AccessDenied ("Request has expired", "Request is not yet valid")
 * for a presigned URL out of its time; 403 RequestTimeTooSkewed for a
 * header-signed request more than 15 minutes from now.
 */
int s3_auth_parse(const s3_req *r, s3_auth *a, s3_err *err);

/*
 * Check the signature with the access key's secret, computing the
 * canonical request exactly as AWS does (URI and query percent-encoding,
 * sorted query, lower-cased signed headers with trimmed values). Parses
 * the request again (the same errors as s3_auth_parse) and on success
 * rewrites *a, now with the signing key, date, scope and seed signature a
 * streaming body needs. Returns 0 (at once for S3_ANON) or -1 with 403
 * SignatureDoesNotMatch (the message includes the string to sign, as
 * AWS's does, to help debug clients; err->string_to_sign and
 * err->canonical_request carry them whole), 403 AccessDenied when an
 * x-amz-* header present is not among the SigV4 SignedHeaders (S3's
 * "There were headers present in the request which were not signed"),
 * 400 InvalidURI for a path with a bad percent-escape. The signature
 * comparison takes constant time.
 */
int s3_auth_verify(const s3_req *r, s3_auth *a, const char *secret, s3_err *err);

/* ---- digests (libcrypto's EVP underneath; the CRCs are ours) ---- */

/* MD5 and SHA-256 for Content-MD5 and x-amz-content-sha256; the rest are
 * the x-amz-checksum-* algorithms (CRCs output big endian, as S3 does). */
typedef enum s3_digest_kind {
	S3_MD5,
	S3_SHA256,
	S3_SHA1,
	S3_CRC32,
	S3_CRC32C,
	S3_CRC64NVME,
} s3_digest_kind;
typedef struct s3_digest s3_digest;

/* Bytes of output of a kind: 16, 32, 20, 4, 4, 8. */
size_t s3_digest_len(s3_digest_kind kind);

/* The kind an x-amz-checksum-* header (or the bare algorithm: "crc32",
 * "CRC32C", "sha256", ...) names, any case. Returns 0, or -1 if none. */
int s3_digest_kind_by_name(s3_digest_kind *out, const char *name);

/* NULL without memory. */
s3_digest *s3_digest_new(s3_digest_kind kind);
void s3_digest_update(s3_digest *d, const void *p, size_t n);
/* out: s3_digest_len(kind) bytes. The digest can be used again after a final. */
void s3_digest_final(s3_digest *d, uint8_t *out);
void s3_digest_free(s3_digest *d);

/* ---- streaming payloads (aws-chunked) ---- */

/*
 * Decodes "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" bodies:
 *   hex-size;chunk-signature=SIG\r\n <size bytes> \r\n ... 0;chunk-signature=SIG\r\n\r\n
 * checking each chunk's signature against the chain that starts at the
 * seed signature, and that the decoded bytes add up to the
 * x-amz-decoded-content-length. The -TRAILER forms end with trailer lines
 * instead of the last empty line:
 *   0;chunk-signature=SIG\r\n x-amz-checksum-crc32:BASE64\r\n x-amz-trailer-signature:SIG\r\n \r\n
 * (STREAMING-UNSIGNED-PAYLOAD-TRAILER: "hex-size\r\n" without signatures,
 * and no trailer signature); the checksum is checked against the decoded
 * bytes. Memory is bounded (a chunk's data is passed on as it arrives,
 * hashed on the way; a chunk header or trailer line is at most 4 KiB).
 * Data of a chunk whose signature then fails has been passed on already:
 * the caller must not commit anything unless s3_chunked_finish returns 0.
 */
typedef struct s3_chunked s3_chunked;

/* a must have been verified (its signing key and seed signature are used;
 * an unsigned-chunk payload needs no verification). a is copied from. NULL
 * without memory. */
s3_chunked *s3_chunked_new(const s3_auth *a);

/*
 * Feed raw body bytes. out receives decoded bytes (return non-zero to stop:
 * that value is returned, and the decoder is done with: later calls fail).
 * Returns 0, out's value, or -1 with *err set: 400 IncompleteBody /
 * InvalidArgument (malformed framing, more bytes than declared), 403
 * SignatureDoesNotMatch (a chunk's or the trailer's signature), 400
 * BadDigest (the trailer's checksum). An error sticks: later calls return
 * it again.
 */
int s3_chunked_feed(s3_chunked *c, const void *p, size_t n,
		    int (*out)(void *ctx, const void *data, size_t len), void *ctx, s3_err *err);

/* The body ended: the final zero-length chunk must have come and every length add up. */
int s3_chunked_finish(s3_chunked *c, s3_err *err);

/* After a successful finish: the checked trailer's value (the base64 checksum,
 * to store or answer with), or NULL without one. Borrowed until the free. */
const char *s3_chunked_trailer(const s3_chunked *c);

void s3_chunked_free(s3_chunked *c);

/* ---- small helpers the front shares ---- */

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void s3_hex(char *out, const uint8_t *p, size_t n);

/* Percent-decode s[0..n) into out (cap bytes); '+' stays '+' (paths). Returns
 * the length, or -1 for a bad escape or too small an out. NUL-terminates
 * when there is room after the bytes. */
long s3_url_decode(char *out, size_t cap, const char *s, size_t n);

/* The same for query names and values, where '+' is a space. */
long s3_query_decode(char *out, size_t cap, const char *s, size_t n);

/* Base64 of n bytes into out (4 * ((n + 2) / 3) + 1 bytes), NUL-terminated. */
void s3_base64(char *out, const uint8_t *p, size_t n);

#endif /* CAIRN_SIGV4_H */
