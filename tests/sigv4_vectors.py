#!/usr/bin/env python3
"""sigv4_vectors.py - S3 request-signing vectors from botocore, for test_sigv4.c.

Drives a real botocore S3 client (the library under boto3 and aws-cli) with
fixed credentials and a frozen clock, captures each request at the moment it
would go on the wire (the `before-send` event, so nothing is sent anywhere),
and writes tests/sigv4_vectors.h: method, raw path, raw query, headers and
body exactly as the server would receive them. The C test checks that
server/sigv4.c accepts every one (and rejects it once tampered with).

The object keys are the awkward ones: spaces, '+', '%', '&', '=', quotes,
'~', '$', unicode, a literal '%2F' in a key, and so on. Forms covered: SigV4
with the Authorization header (payload hashed over http; aws-chunked with
an unsigned CRC32 trailer over https, which botocore >= 1.36 sends for
PutObject), SigV4 presigned URLs, SigV2 with the header, and SigV2
presigned URLs (botocore's HmacV1Auth / HmacV1QueryAuth).

Then the same from s3cmd (Debian's package, S3/ in dist-packages), whose
signers are its own: SigV2 with x-amz-date (so an empty Date line) and
SigV4, built by its S3Request.get_triplet() exactly as it sends them.

Regenerate (needs botocore, as aws-cli's Python has it, and s3cmd):
    python3 tests/sigv4_vectors.py > tests/sigv4_vectors.h
"""
import datetime
import email.utils
import hashlib
import sys
import time
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.config import Config

ACCESS_KEY = "AKIDCAIRNTEST0001"
# A secret with the characters that trip signers up: '/', '+', '=', and UTF-8.
SECRET = "s3cr/t+K3y=w1th~odd&chars \u00e9\u4e2d"
NOW = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.timezone.utc)
NOW_EPOCH = int(NOW.timestamp())

KEYS = [
    "plain.txt",
    "dir/sub dir/a b+c.txt",
    "100% & more=yes?no#frag;semi,comma",
    "quotes \"double\" 'single' (paren) [br] {cu} <lt> *star* !bang @at $dollar",
    "tilde~under_score-dash.dot",
    "unicode/\u00fcml\u00e4ut \u65e5\u672c\u8a9e \U0001f600.bin",
    "slash%2Fliteral/and\\backslash",
    "plus+plus++ and  two  spaces",
]


class Captured(Exception):
    pass


def freeze_clock():
    """Every clock botocore's signers read, frozen at NOW."""
    botocore.auth.get_current_datetime = lambda *a, **k: NOW.replace(tzinfo=None)
    botocore.auth.formatdate = lambda *a, **k: email.utils.formatdate(
        NOW_EPOCH, usegmt=True
    )
    real_time = time.time
    time.time = lambda: float(NOW_EPOCH)
    return real_time


def client(endpoint, signature_version):
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        config=Config(
            signature_version=signature_version,
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
        ),
    )


def capture(cl, op, **params):
    """The request botocore would send for op(**params)."""
    seen = {}

    def before_send(request, **kwargs):
        seen["request"] = request
        raise Captured()

    cl.meta.events.register_first("before-send.s3", before_send)
    try:
        getattr(cl, op)(**params)
    except Captured:
        pass
    finally:
        cl.meta.events.unregister("before-send.s3", before_send)
    req = seen["request"]
    parts = urlsplit(req.url)
    headers = [(k, v if isinstance(v, str) else v.decode("latin-1"))
               for k, v in req.headers.items()]
    # Unsigned and different on every run or machine: left out so that the
    # file regenerates identically (amz-sdk-request, also unsigned, stays).
    headers = [(k, v) for k, v in headers
               if k.lower() not in ("user-agent", "amz-sdk-invocation-id")]
    if not any(k.lower() == "host" for k, _ in headers):
        # urllib3 adds it on the wire; botocore signs the same value.
        headers.insert(0, ("Host", botocore.auth._host_from_url(req.url)))
    body = req.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return req.method, parts.path, parts.query, headers, bytes(body)


def presign(cl, op, params, expires, method=None, send=()):
    """A presigned URL, used with the headers in send (those it signed)."""
    url = cl.generate_presigned_url(op, Params=params, ExpiresIn=expires,
                                    HttpMethod=method)
    parts = urlsplit(url)
    host = parts.netloc
    return ((method or "GET"), parts.path, parts.query, [("Host", host)] + list(send),
            b"")


def c_string(b):
    """A C string literal for bytes b (octal escapes keep it unambiguous)."""
    if isinstance(b, str):
        b = b.encode("utf-8")
    out = []
    for c in b:
        ch = chr(c)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "?":
            out.append("\\?")  # no trigraphs
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % c)
    return '"' + "".join(out) + '"'


def vectors():
    v4 = client("http://127.0.0.1:9000", "s3v4")
    v4tls = client("https://s3.cairn.test:9443", "s3v4")
    v2 = client("http://127.0.0.1:9000", "s3")
    out = []

    def add(name, kind, req, payload=""):
        out.append((name, kind, req, payload))

    for i, key in enumerate(KEYS):
        add("v4 GetObject key %d" % i, "S3_V4_HEADER",
            capture(v4, "get_object", Bucket="bkt", Key=key, Range="bytes=0-9"))
        add("v4 PutObject key %d" % i, "S3_V4_HEADER",
            capture(v4, "put_object", Bucket="bkt", Key=key,
                    Body=("body of %s\n" % key).encode("utf-8"),
                    ContentType="text/plain; charset=utf-8",
                    Metadata={"note": "  spaced   out  value ", "k": key.encode(
                        "ascii", "replace").decode()}))
        add("v4 presigned GetObject key %d" % i, "S3_V4_QUERY",
            presign(v4, "get_object",
                    {"Bucket": "bkt", "Key": key,
                     "ResponseContentDisposition": 'attachment; filename="%s"' % key},
                    3600))
        add("v2 GetObject key %d" % i, "S3_V2_HEADER",
            capture(v2, "get_object", Bucket="bkt", Key=key))
        add("v2 presigned GetObject key %d" % i, "S3_V2_QUERY",
            presign(v2, "get_object",
                    {"Bucket": "bkt", "Key": key,
                     "ResponseContentType": "text/plain; x=\u00e9",
                     "ResponseContentDisposition": "inline; a+b"},
                    600))

    add("v4 ListObjectsV2 awkward prefix", "S3_V4_HEADER",
        capture(v4, "list_objects_v2", Bucket="bkt", Prefix="dir/a b+c&d=e%f~\u00fc",
                Delimiter="/", StartAfter="x y", MaxKeys=7))
    add("v4 ListObjects (v1) marker", "S3_V4_HEADER",
        capture(v4, "list_objects", Bucket="bkt", Marker="m+n o", EncodingType="url"))
    add("v4 ListBuckets", "S3_V4_HEADER", capture(v4, "list_buckets"))
    add("v4 CreateMultipartUpload", "S3_V4_HEADER",
        capture(v4, "create_multipart_upload", Bucket="bkt", Key="big file+.bin",
                Metadata={"a": "b"}))
    add("v4 UploadPart", "S3_V4_HEADER",
        capture(v4, "upload_part", Bucket="bkt", Key="big file+.bin", PartNumber=3,
                UploadId="up/load+id=", Body=b"part three data"))
    add("v4 DeleteObjects", "S3_V4_HEADER",
        capture(v4, "delete_objects", Bucket="bkt",
                Delete={"Objects": [{"Key": "a b"}, {"Key": "c&d"}]}))
    add("v4 HeadBucket", "S3_V4_HEADER", capture(v4, "head_bucket", Bucket="bkt"))
    add("v4 CopyObject", "S3_V4_HEADER",
        capture(v4, "copy_object", Bucket="bkt", Key="dst key",
                CopySource={"Bucket": "bkt", "Key": "src key+&.txt"}))
    # PutObject over TLS: botocore sends an aws-chunked body with an
    # unsigned CRC32 trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
    big = bytes((i * 7 + 3) % 251 for i in range(3 * 1024 * 1024 + 123))
    for name, body in (("small", b"trailer body \xe2\x9c\x93\n"), ("empty", b""),
                       ("3 MiB", big)):
        add("v4 PutObject TLS trailer %s" % name, "S3_V4_HEADER",
            capture(v4tls, "put_object", Bucket="bkt", Key="t/" + name, Body=body),
            payload=body)
    add("v4 presigned PutObject", "S3_V4_QUERY",
        presign(v4, "put_object", {"Bucket": "bkt", "Key": "up load+.bin",
                                   "ContentType": "application/octet-stream"},
                604800, "PUT", send=[("Content-Type", "application/octet-stream")]))
    # A path signed exactly as sent, not re-encoded: botocore's signer on a
    # hand-built request, as JS clients using encodeURIComponent (which
    # leaves !'()* raw) sign. The spec's form would be %21%27%28%29%2A.
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    raw = AWSRequest(method="GET", url="http://127.0.0.1:9000/bkt/it's(1)!*.txt",
                     headers={"X-Amz-Content-SHA256": botocore.auth.EMPTY_SHA256_HASH})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1").add_auth(raw)
    add("v4 path signed as sent", "S3_V4_HEADER",
        ("GET", urlsplit(raw.url).path, "",
         [("Host", "127.0.0.1:9000")] + [(k, v) for k, v in raw.headers.items()], b""))
    add("v2 PutObject", "S3_V2_HEADER",
        capture(v2, "put_object", Bucket="bkt", Key="v2 put+&.txt", Body=b"v2 body",
                ContentType="text/plain", Metadata={"note": "  v2  meta "}))
    add("v2 UploadPart", "S3_V2_HEADER",
        capture(v2, "upload_part", Bucket="bkt", Key="big", PartNumber=2,
                UploadId="id+/=x", Body=b"x"))
    add("v2 GetObjectAcl", "S3_V2_HEADER",
        capture(v2, "get_object_acl", Bucket="bkt", Key="k", VersionId="v 1"))
    add("v2 ListObjects", "S3_V2_HEADER",
        capture(v2, "list_objects", Bucket="bkt", Prefix="p q"))
    return out


def s3cmd_vectors():
    """Requests s3cmd builds (its S3Request.get_triplet signs them)."""
    sys.path.append("/usr/lib/python3/dist-packages")  # Debian's s3cmd
    real_gmtime = time.gmtime
    time.gmtime = lambda *a: real_gmtime(NOW_EPOCH)
    try:
        import S3.Config
        import S3.Crypto
        import S3.S3
    except ImportError:
        sys.exit("sigv4_vectors.py: s3cmd's S3 package is needed (apt-get install s3cmd)")

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return NOW.replace(tzinfo=None)

    class Shim:
        datetime = FrozenDatetime

    S3.Crypto.datetime = Shim
    cfg = S3.Config.Config()
    cfg.access_key = ACCESS_KEY
    cfg.secret_key = SECRET
    cfg.host_base = cfg.host_bucket = "127.0.0.1:9000"  # path-style
    cfg.use_https = False
    out = []
    for v2 in (True, False):
        cfg.signature_v2 = v2
        s3 = S3.S3.S3(cfg)
        kind = "S3_V2_HEADER" if v2 else "S3_V4_HEADER"
        tag = "s3cmd v2" if v2 else "s3cmd v4"
        reqs = [
            ("GetObject", "OBJECT_GET", KEYS[1], None, None, b""),
            ("GetObject versionId", "OBJECT_GET", KEYS[2], {"versionId": "v 1+2"}, None, b""),
            ("GetObject unicode", "OBJECT_GET", KEYS[5], None, None, b""),
            ("ListObjects", "BUCKET_LIST", None, {"prefix": "p q+r&", "delimiter": "/"}, None,
             b""),
            ("PutObject", "OBJECT_PUT", KEYS[3], None,
             # inner runs of spaces: s3cmd's SigV4 keeps them, the spec
             # collapses them (outer ones never reach the server: HTTP trims)
             {"content-type": "text/plain", "x-amz-meta-note": "x   y",
              "content-length": "5"}, b"hello"),
            ("Initiate multipart", "OBJECT_POST", KEYS[7], {"uploads": None}, None, b""),
            ("UploadPart", "OBJECT_PUT", KEYS[7], {"partNumber": "1", "uploadId": "a+b/c="},
             {"content-length": "3"}, b"abc"),
        ]
        for name, op, key, params, headers, body in reqs:
            req = s3.create_request(op, bucket="bkt", object=key, headers=headers,
                                    body=body, uri_params=params)
            method, resource, hdrs = req.get_triplet()
            uri = s3.format_uri(resource)
            path, _, query = uri.partition("?")
            hl = [("Host", "127.0.0.1:9000")] + [(k, str(v)) for k, v in hdrs.items()]
            out.append(("%s %s" % (tag, name), kind, (method, path, query, hl, body), ""))
    time.gmtime = real_gmtime
    return out


def main():
    real_time = freeze_clock()
    vs = vectors()
    time.time = real_time
    vs += s3cmd_vectors()
    w = sys.stdout.write
    w("/* Generated by tests/sigv4_vectors.py with botocore %s: do not edit.\n"
      " * Requests a real botocore S3 client built, captured before sending;\n"
      " * regenerate with: python3 tests/sigv4_vectors.py > tests/sigv4_vectors.h */\n"
      % botocore.__version__)
    w("#define VEC_ACCESS_KEY %s\n" % c_string(ACCESS_KEY))
    w("#define VEC_SECRET %s\n" % c_string(SECRET))
    w("#define VEC_NOW %dLL\n\n" % NOW_EPOCH)
    w("static const struct vec {\n\tconst char *name;\n\ts3_auth_kind kind;\n"
      "\tconst char *method, *path, *query;\n"
      "\tconst char *headers; /* \"Name: value\\n\" each */\n"
      "\tconst char *body;\n\tsize_t body_len;\n"
      "\tconst char *decoded; /* aws-chunked bodies: the bytes they carry */\n"
      "\tsize_t decoded_len;\n"
      "\t/* a body too big to print (body NULL): what follows its data, and\n"
      "\t * the SHA-256 of the whole, to check the test rebuilt it exactly */\n"
      "\tconst char *body_tail, *body_sha256;\n} vectors[] = {\n")
    for name, kind, (method, path, query, headers, body), payload in vs:
        hdrs = "".join("%s: %s\n" % (k, v) for k, v in headers)
        hdr_lit = c_string(hdrs.encode("latin-1") if all(ord(c) < 256 for c in hdrs)
                           else hdrs.encode("utf-8"))
        w("\t{%s, %s, %s, %s, %s,\n" % (c_string(name), kind, c_string(method),
                                          c_string(path), c_string(query)))
        w("\t %s,\n" % hdr_lit)
        if len(body) > 4096 or len(payload) > 4096:
            # Too big to print: the test rebuilds it (data from the formula
            # above in 1 MiB chunks, botocore's size) and checks the hash.
            tail = body[body.rindex(b"\r\n0\r\n") + 2:]
            w("\t NULL, %d, NULL, %d,\n\t %s, \"%s\"},\n" % (
                len(body), len(payload), c_string(tail), hashlib.sha256(body).hexdigest()))
            continue
        w("\t %s, %d,\n" % (c_string(body), len(body)))
        if payload or "trailer" in name:
            w("\t %s, %d, NULL, NULL},\n" % (c_string(payload), len(payload)))
        else:
            w("\t NULL, 0, NULL, NULL},\n")
    w("};\n")


if __name__ == "__main__":
    main()
