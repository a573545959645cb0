/*
 * s3_xml.h - XML for the S3 front (s3.c): the growing buffer its answers
 * are written into (with S3's escaping and URL encoding of keys), a
 * minimal reader for request bodies, and the request bodies S3 takes:
 * CreateBucketConfiguration (checked, then ignored), DeleteObjects,
 * CompleteMultipartUpload and AccessControlPolicy. Pure functions over
 * the body's bytes (which need no NUL after them): no I/O, no global
 * state, thread safe. tests/fuzz/fuzz_s3xml.c fuzzes the readers.
 */
#ifndef CAIRN_SERVER_S3_XML_H
#define CAIRN_SERVER_S3_XML_H

#include "cairn/repo.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- writing ---- */

/* A growing text buffer, always NUL-terminated once written to; oom sticks. */
typedef struct s3_xbuf {
	char *p;
	size_t n, cap;
	bool oom;
} s3_xbuf;

void s3_xb_put(s3_xbuf *b, const char *s, size_t n);
void s3_xb_str(s3_xbuf *b, const char *s);
/* printf into b, at most 511 bytes at once */
void s3_xb_fmt(s3_xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for XML (the five entities; control characters as numeric references). */
void s3_xb_esc(s3_xbuf *b, const char *s, size_t n);
/* <tag>escaped text</tag> */
void s3_xb_el(s3_xbuf *b, const char *tag, const char *s, size_t n);
/* S3's URL encoding of a key for encoding-type=url (every byte but unreserved and '/'). */
void s3_xb_urlenc(s3_xbuf *b, const char *s, size_t n);
/* A key element: escaped, or URL-encoded when the request asked for encoding-type=url. */
void s3_xb_key(s3_xbuf *b, const char *tag, const char *s, size_t n, bool url);

/* ---- reading ---- */

/*
 * The request bodies S3 takes are small and flat: a root element holding
 * a list of elements holding text. This walks such a document: each call
 * yields the next start tag, end tag or text; entities are decoded into
 * the text. Comments, processing instructions and declarations are
 * skipped; anything malformed ends the walk with an error (MalformedXML):
 * a tag or comment left open, an end tag that does not close the element
 * opened last, an element left open at the end, more than S3_XML_DEPTH
 * open at once, a bad entity, a name empty (or its local part), longer
 * than 63 bytes or holding a NUL.
 */
typedef enum s3_xtok { S3_X_END, S3_X_OPEN, S3_X_CLOSE, S3_X_TEXT, S3_X_ERR } s3_xtok;

#define S3_XML_DEPTH 16 /* elements open at once (S3's bodies nest 5 deep) */

typedef struct s3_xreader {
	const char *p, *end;
	char name[64];      /* S3_X_OPEN, S3_X_CLOSE: the element's name, without a prefix */
	s3_xbuf text;       /* S3_X_TEXT: the text, decoded (never empty) */
	bool pending_close; /* <a/> was reported open: its close comes next */
	unsigned depth;     /* elements open, their names as written: */
	char open[S3_XML_DEPTH][64]; /* an end tag must close the last one */
} s3_xreader;

/* Walk doc[0, n) (NULL: an empty document). Free x->text.p when done. */
void s3_xr_init(s3_xreader *x, const char *doc, size_t n);
s3_xtok s3_xr_next(s3_xreader *x);

/* ---- the request bodies ---- */

#define S3_DELETE_MAX 1000 /* keys per DeleteObjects */

/* Is doc[0, n) well-formed as the reader takes it (an empty body is)? */
bool s3_xml_ok(const char *doc, size_t n);

/* A DeleteObjects body: the objects, in order, and whether it is quiet. */
typedef struct s3_delete {
	bool quiet;
	size_t n;
	struct s3_delete_obj {
		size_t at, len; /* its key: keys.p + at, len bytes; len 0: none given (or too long) */
	} *obj;
	s3_xbuf keys;
} s3_delete;

/*
 * Read a DeleteObjects body (<Delete><Object><Key>K</Key></Object>...
 * <Quiet>true</Quiet></Delete>) into *d (cleared first; free it with
 * s3_delete_free whatever this returns). A key is at most CAIRN_KEY_MAX
 * bytes, or taken as none. Returns 0; CAIRN_EINVALID malformed, or no
 * object; CAIRN_ETOOBIG more than S3_DELETE_MAX objects; CAIRN_ENOMEM.
 */
int s3_delete_parse(const char *doc, size_t n, s3_delete *d);
void s3_delete_free(s3_delete *d);

/*
 * Read a CompleteMultipartUpload body (<Part><PartNumber>N</PartNumber>
 * <ETag>"hex"</ETag></Part>...) into *want (malloc'd, the caller's to free)
 * and *n: each part has both, its number in 1..CAIRN_MPU_PARTS_MAX, at
 * most CAIRN_MPU_PARTS_MAX parts (in the order given: their order is
 * cairn_mpu_complete's to check). Returns 0; CAIRN_EINVALID malformed or
 * no parts (or no memory); CAIRN_ENOTFOUND an ETag that is not an MD5 in
 * hex, which no part can have (InvalidPart).
 */
int s3_complete_parse(const char *doc, size_t n, cairn_mpu_want **want, size_t *count);

/*
 * An AccessControlPolicy document as Cairn's one setting: 1 when it grants
 * READ to AllUsers, 0 when it grants nothing beyond the owner (owner_ns);
 * -1 for a grant that setting cannot express (to someone else, WRITE to
 * everyone...) or a document that does not parse.
 */
int s3_acl_public(const char *doc, size_t n, const char *owner_ns);

#endif /* CAIRN_SERVER_S3_XML_H */
