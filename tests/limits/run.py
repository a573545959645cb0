"""run.py BUILD_DIR - every limit docs/limits.md lists, checked from both
sides where it can be: a value at the limit is taken, one past it gets the
documented error. The table names the few checked elsewhere.

Starts its own servers on 127.0.0.1: an origin with its S3 port (the
defaults), a cache node of it (with its S3 port), a "crowd" server with
few connections allowed, and a "clock" server with short timeouts. Requests
come from several loopback addresses (127.0.0.x) so that per-address
limits and the failed-authentication count of one check do not reach
another. Never asserts on time: waits are only bounded, generously.
Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
Run with /usr/bin/python3 (standard library only)."""

import http.client
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import s3sign  # noqa: E402
from live import (Server, check, connect, finish, free_port, raw, read_all, req,  # noqa: E402
                  status_of)

BUILD = os.path.abspath(sys.argv[1])
CAIRN = os.path.join(BUILD, "cairn")
W = tempfile.mkdtemp()
MIB = 1 << 20
HASH0 = "0" * 64


def cairn(*args):
    return subprocess.run([CAIRN, *args], capture_output=True, text=True)


def code_of(body):
    """The error code of a JSON or an S3 XML error body, or None."""
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        pass
    try:
        return ET.fromstring(body).findtext("Code")
    except ET.ParseError:
        return None


def is_error(name, answer, status, code, part=None):
    """answer: (status, headers, body). Checks the status, the code and a piece of the message."""
    st, _, body = answer
    ok = st == status and code_of(body) == code and (part is None or part.encode() in body)
    check(name, ok, (st, body[:240]))


def head_request(port, target, fields, total, method="GET", source=None):
    """A request of exactly `fields` header fields with `total` bytes of names and
    values (Host and Connection among them), sent raw. Returns (status, body)."""
    base = [("Host", "x"), ("Connection", "close")]
    used = sum(len(k) + len(v) for k, v in base)
    hs = list(base)
    for i in range(fields - len(base) - 1):
        k = "X-F%03d" % i
        hs.append((k, "v"))
        used += len(k) + 1
    hs.append(("X-Pad", "p" * (total - used - len("X-Pad"))))
    assert len(hs) == fields and sum(len(k) + len(v) for k, v in hs) == total
    data = ("%s %s HTTP/1.1\r\n" % (method, target) +
            "".join("%s: %s\r\n" % kv for kv in hs) + "\r\n").encode()
    answer = raw(port, data, source)
    return status_of(answer), answer.split(b"\r\n\r\n", 1)[-1]


class S3:
    """Signed S3 requests by hand (tests/lib/s3sign.py)."""

    def __init__(self, port, key, secret):
        self.port, self.key, self.secret = port, key, secret

    def __call__(self, method, path, params=(), headers=None, body=b"", payload=None,
                 source=None, secret=None):
        h = dict(headers or {})
        s3sign.sign_v4(method, path, params, h, payload or s3sign.sha256hex(body), self.key,
                       secret or self.secret, "127.0.0.1:%d" % self.port)
        qs = "&".join("%s=%s" % (s3sign.enc(k), s3sign.enc(v)) for k, v in params)
        return req(self.port, method, path + ("?" + qs if qs else ""), h, body, source)

    def announce(self, path, length, headers=None):
        """A signed PUT (UNSIGNED-PAYLOAD) announcing length bytes with Expect: 100-continue;
        the first line of the answer the server sends before any body."""
        h = dict(headers or {}, **{"Content-Length": str(length), "Expect": "100-continue"})
        s3sign.sign_v4("PUT", path, [], h, "UNSIGNED-PAYLOAD", self.key, self.secret,
                       "127.0.0.1:%d" % self.port)
        return first_answer(self.port, "PUT", path, h)


def read_answer(sock):
    """One answer from sock, its body read to its Content-Length: the bytes, or b""
    if the server closed the connection first."""
    got = b""
    while b"\r\n\r\n" not in got:
        b = sock.recv(65536)
        if not b:
            return b""
        got += b
    head, rest = got.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    need = int(m.group(1)) if m and status_of(got) != 100 else 0
    while len(rest) < need:
        b = sock.recv(65536)
        if not b:
            break
        rest += b
    return head + b"\r\n\r\n" + rest


def first_answer(port, method, path, headers):
    """Send only a request's head (with Expect: 100-continue) and read what comes
    first: "HTTP/1.1 100 Continue" or a final answer."""
    s = connect(port, timeout=120)
    try:
        s.sendall(("%s %s HTTP/1.1\r\n" % (method, path) +
                   "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n").encode())
        return read_answer(s)
    finally:
        s.close()


def exchange(sock, target=b"/healthz"):
    """One GET on an open keep-alive connection: the status, or None if the server
    closed it without an answer."""
    try:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        return status_of(read_answer(sock))
    except (ConnectionResetError, BrokenPipeError):
        return None


def until(cond, tries=600, pause=0.05):
    """Ask cond() until it holds (bounded, never timed)."""
    for _ in range(tries):
        v = cond()
        if v:
            return v
        time.sleep(pause)
    return cond()


# ---- request heads: target, path, header fields and bytes, on every front -----------------

def heads(o, n):
    pad = lambda base, total: base + "a" * (total - len(base))  # noqa: E731
    st, body = head_request(o.port, pad("/healthz?x=", 8192), 3, 100)
    check("native: a request target of 8192 bytes is taken", st == 200, (st, body[:120]))
    st, body = head_request(o.port, pad("/healthz?x=", 8193), 3, 100)
    check("native: 8193 bytes: 414 URITooLong", st == 414 and code_of(body) == "URITooLong",
          (st, body[:120]))
    st, body = head_request(o.port, pad("/", 4096), 3, 100)
    check("native: a path of 4096 bytes is taken (404: no such endpoint)",
          st == 404 and code_of(body) == "NotFound", (st, body[:120]))
    st, body = head_request(o.port, pad("/", 4097), 3, 100)
    check("native: a path of 4097 bytes: 414 URITooLong", st == 414 and code_of(body) ==
          "URITooLong", (st, body[:120]))
    fronts = (("native", o.port, "/healthz", 200, None, 431, "HeadersTooLarge"),
              ("S3", o.s3, "/", 403, "AccessDenied", 400, "RequestHeaderSectionTooLarge"),
              ("node", n.port, "/healthz", 200, None, 431, "HeadersTooLarge"),
              ("node S3", n.s3, "/", 403, "AccessDenied", 400, "RequestHeaderSectionTooLarge"))
    for what, port, path, ok_st, ok_code, bad_st, bad_code in fronts:
        st, body = head_request(port, path, 100, 16384)
        check("%s: 100 header fields, 16384 bytes of them, are taken" % what,
              st == ok_st and code_of(body) == ok_code, (st, body[:160]))
        for fields, total, over in ((101, 1000, "101 header fields"),
                                    (3, 16385, "16385 bytes of headers")):
            st, body = head_request(port, path, fields, total)
            check("%s: %s: %d %s" % (what, over, bad_st, bad_code),
                  st == bad_st and code_of(body) == bad_code, (st, body[:160]))
    for what, port, path in (("S3", o.s3, "/"), ("node S3", n.s3, "/")):
        st, body = head_request(port, pad(path + "?x=", 8192), 3, 100)
        check("%s: a request target of 8192 bytes is taken" % what,
              st == 403 and code_of(body) == "AccessDenied", (st, body[:160]))
        st, body = head_request(port, pad(path + "?x=", 8193), 3, 100)
        check("%s: 8193 bytes: 400 InvalidURI" % what, st == 400 and code_of(body) ==
              "InvalidURI", (st, body[:160]))
    # far past ours, libmicrohttpd's own memory for a request's head answers
    st, body = head_request(o.port, "/healthz", 3, 80000)
    check("native: 80000 bytes of headers: libmicrohttpd's 431 (or a reset)",
          st in (431, None) and b"HeadersTooLarge" not in body, (st, body[:120]))


# ---- names and keys -----------------------------------------------------------------------

def names_and_keys(o, A, s3):
    st = req(o.port, "POST", "/api/buckets/alice/" + "b" * 96, A, b"{}")
    check("native: a bucket name of 96 bytes", st[0] == 201, st[:1] + (st[2][:100],))
    is_error("native: a bucket name of 97 bytes: 400 InvalidArgument",
             req(o.port, "POST", "/api/buckets/alice/" + "b" * 97, A, b"{}"), 400,
             "InvalidArgument", "96 bytes")
    is_error("native: a bucket name with an upper-case letter: 400 InvalidArgument",
             req(o.port, "POST", "/api/buckets/alice/Bad", A, b"{}"), 400, "InvalidArgument",
             "starts with a lowercase letter")
    is_error("native: a bucket name with a '+': 400 InvalidArgument",
             req(o.port, "POST", "/api/buckets/alice/a+b", A, b"{}"), 400, "InvalidArgument",
             "holds only")
    is_error("native: reading a bucket of such a name: 404 NotFound",
             req(o.port, "GET", "/api/buckets/alice/Bad", A), 404, "NotFound")
    key = "k/" + "x" * 1022
    st, _, body = req(o.port, "PUT", "/buckets/alice/pub/upload/" + key, A, b"at the limit")
    check("native: a key of 1024 bytes is stored", st == 200, (st, body[:100]))
    st, _, body = req(o.port, "GET", "/buckets/alice/pub/resolve/" + key)
    check("native: and read back", st == 200 and body == b"at the limit", (st, body[:100]))
    is_error("native: a key of 1025 bytes: 400 InvalidArgument",
             req(o.port, "PUT", "/buckets/alice/pub/upload/" + key + "y", A, b"x"), 400,
             "InvalidArgument", "at most 1024 bytes")
    st, _, _ = req(o.port, "PUT", "/buckets/alice/pub/upload/" + "%C3%A9" * 512, A, b"x")
    check("native: a key of 512 two-byte letters (1024 bytes) is stored", st == 200, st)
    for what, k, part in (("a NUL", "a%00b", "NUL"), ("a '..' segment", "a/../b", "'..'"),
                          ("a '.' segment", "./x", "'..'"), ("an empty segment", "a//b", "empty"),
                          ("an escaped '/'", "a%2Fb", "escaped '/'"),
                          ("a bad escape", "a%zzb", "percent-escape"),
                          ("bytes that are not UTF-8", "a%FFb", "UTF-8")):
        is_error("native: a key with %s: 400 InvalidArgument" % what,
                 req(o.port, "PUT", "/buckets/alice/pub/upload/" + k, A, b"x"), 400,
                 "InvalidArgument", part)
    # the same rule for a batch's paths
    line = lambda p: json.dumps({"op": "copy", "path": p, "src_path": key})  # noqa: E731
    st, _, body = req(o.port, "POST", "/api/buckets/alice/pub/batch", A,
                      (line("c/" + "y" * 1022) + "\n").encode())
    check("native batch: a path of 1024 bytes", st == 200, (st, body[:120]))
    is_error("native batch: a path of 1025 bytes: 400 InvalidArgument",
             req(o.port, "POST", "/api/buckets/alice/pub/batch", A,
                 (line("c/" + "y" * 1023) + "\n").encode()), 400, "InvalidArgument",
             "line 1: \\\"path\\\" must be a key of 1 to 1024 bytes")
    # S3: the same length; any bytes but NUL ("..", empty segments: a key, not a path)
    st = s3("PUT", "/" + "s" * 96)
    check("S3: CreateBucket of a 96-byte name", st[0] == 200, (st[0], st[2][:120]))
    is_error("S3: CreateBucket of a 97-byte name: 400 InvalidBucketName", s3("PUT", "/" + "s" * 97),
             400, "InvalidBucketName")
    is_error("S3: CreateBucket of 'Bad': 400 InvalidBucketName", s3("PUT", "/Bad"), 400,
             "InvalidBucketName")
    is_error("S3: listing 'Bad': 404 NoSuchBucket", s3("GET", "/Bad"), 404, "NoSuchBucket")
    st = s3("PUT", "/pub/" + key, body=b"s3 at the limit")
    check("S3: a key of 1024 bytes is stored", st[0] == 200, (st[0], st[2][:120]))
    st = s3("GET", "/pub/" + key)
    check("S3: and read back", st[0] == 200 and st[2] == b"s3 at the limit", (st[0], st[2][:80]))
    is_error("S3: a key of 1025 bytes: 400 KeyTooLongError", s3("PUT", "/pub/" + key + "y",
                                                                  body=b"x"),
             400, "KeyTooLongError")
    is_error("S3: a key with a NUL: 400 InvalidArgument", s3("PUT", "/pub/a%00b", body=b"x"), 400,
             "InvalidArgument", "NUL")
    is_error("S3: a key with a bad escape: 400 InvalidURI", s3("PUT", "/pub/a%zzb", body=b"x"),
             400, "InvalidURI")
    for k in ("a/../b", "a//b", "./c"):
        st = s3("PUT", "/pub/" + k, body=b"a key")
        check("S3: the key %r is a key" % k, st[0] == 200, (st[0], st[2][:120]))


# ---- request bodies -----------------------------------------------------------------------

def chunked(port, method, path, headers, body, piece=65536):
    """A request whose body is sent chunked (no Content-Length)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.putrequest(method, path)
        for k, v in headers.items():
            c.putheader(k, v)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(body), piece):
            p = body[i:i + piece]
            c.send(b"%x\r\n%s\r\n" % (len(p), p))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def bodies(o, A, s3):
    def json_of(n):
        head = b'{"private":false,"pad":"'
        return head + b"p" * (n - len(head) - 2) + b'"}'
    st, _, body = req(o.port, "POST", "/api/buckets/alice/j1", A, json_of(MIB))
    check("native: a JSON body of 1 MiB", st == 201, (st, body[:120]))
    got = first_answer(o.port, "POST", "/api/buckets/alice/j2",
                       dict(A, **{"Content-Length": str(MIB + 1), "Expect": "100-continue",
                                  "Host": "x"}))
    check("native: a JSON body of 1 MiB + 1: 413 TooLarge",
          status_of(got) == 413 and b'"TooLarge"' in got and b"1 MiB" in got, got[:200])
    is_error("native: the same, chunked (no Content-Length): 413 TooLarge",
             chunked(o.port, "POST", "/api/buckets/alice/j3", A, json_of(MIB + 1)), 413,
             "TooLarge", "1 MiB")
    hashes = lambda n: json.dumps({"chunks": ["%064x" % i for i in range(n)]}).encode()  # noqa
    st, _, body = req(o.port, "POST", "/v1/chunks/default", A, hashes(8192))
    check("native: a dedup query of 8192 hashes",
          st == 200 and len(json.loads(body)["present"]) == 8192, (st, body[:100]))
    is_error("native: 8193 hashes: 400 InvalidArgument",
             req(o.port, "POST", "/v1/chunks/default", A, hashes(8193)), 400, "InvalidArgument",
             "at most 8192")
    # a xorb: 64 MiB is taken (and refused for what it holds), a byte more is not read
    st, _, body = req(o.port, "POST", "/v1/xorbs/default/" + HASH0, A, b"\0" * (64 * MIB))
    check("native: a xorb of 64 MiB is read (then refused: not a xorb)",
          st == 400 and code_of(body) == "InvalidArgument", (st, body[:160]))
    got = first_answer(o.port, "POST", "/v1/xorbs/default/" + HASH0,
                       dict(A, **{"Content-Length": str(64 * MIB + 1),
                                  "Expect": "100-continue", "Host": "x"}))
    check("native: a xorb of 64 MiB + 1: 413 TooLarge",
          status_of(got) == 413 and b'"TooLarge"' in got, got[:200])
    # batches: 64 MiB and 10,000 lines
    one = b'{"op":"delete","path":"nothing/here"}'
    st, _, body = req(o.port, "POST", "/api/buckets/alice/pub/batch", A,
                      one + b" " * (64 * MIB - len(one)))
    check("native: a batch of 64 MiB", st == 200, (st, body[:160]))
    got = first_answer(o.port, "POST", "/api/buckets/alice/pub/batch",
                       dict(A, **{"Content-Length": str(64 * MIB + 1),
                                  "Expect": "100-continue", "Host": "x"}))
    check("native: a batch of 64 MiB + 1: 413 TooLarge",
          status_of(got) == 413 and b'"TooLarge"' in got, got[:200])
    st, _, body = req(o.port, "POST", "/api/buckets/alice/pub/batch", A, b"\n".join([one] * 10000))
    check("native: a batch of 10000 lines", st == 200 and len(json.loads(body)["results"]) == 10000,
          (st, body[:100]))
    is_error("native: 10001 lines: 413 TooLarge",
             req(o.port, "POST", "/api/buckets/alice/pub/batch", A, b"\n".join([one] * 10001)),
             413, "TooLarge", "10000 lines")
    # one object: 1 TiB announced is taken (100 Continue), a byte more is refused unread
    got = first_answer(o.port, "PUT", "/buckets/alice/pub/upload/huge",
                       dict(A, **{"Content-Length": str(1 << 40), "Expect": "100-continue",
                                  "Host": "x"}))
    check("native: an upload announcing 1 TiB is taken (100 Continue)", status_of(got) == 100,
          got[:200])
    got = first_answer(o.port, "PUT", "/buckets/alice/pub/upload/huge",
                       dict(A, **{"Content-Length": str((1 << 40) + 1), "Expect": "100-continue",
                                  "Host": "x"}))
    check("native: 1 TiB + 1: 413 TooLarge", status_of(got) == 413 and b'"TooLarge"' in got,
          got[:200])
    # the pages' forms
    st, _, body = req(o.port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"},
                      b"x" * 8192)
    check("web: a form of 8 KiB is read (403: no CSRF cookie)", st == 403, (st, body[:100]))
    got = first_answer(o.port, "POST", "/login", {"Host": "x", "Content-Length": "8193",
                                                  "Expect": "100-continue"})
    check("web: a form of 8 KiB + 1: 413 TooLarge",
          status_of(got) == 413 and b'"TooLarge"' in got and b"8 KiB" in got, got[:200])
    # S3: one PUT (or part) of 5 GiB is taken, a byte more is not
    got = s3.announce("/pub/huge", 5 << 30)
    check("S3: a PUT announcing 5 GiB is taken (100 Continue)", status_of(got) == 100, got[:200])
    got = s3.announce("/pub/huge", (5 << 30) + 1)
    check("S3: 5 GiB + 1: 400 EntityTooLarge",
          status_of(got) == 400 and b"<Code>EntityTooLarge</Code>" in got, got[:300])
    # XML bodies: 4 MiB
    doc = b'<Delete><Object><Key>nothing</Key></Object></Delete>'
    st = s3("POST", "/pub", [("delete", "")], body=doc + b" " * (4 * MIB - len(doc)))
    check("S3: an XML body of 4 MiB", st[0] == 200, (st[0], st[2][:160]))
    is_error("S3: an XML body of 4 MiB + 1: 400 MaxMessageLengthExceeded",
             s3("POST", "/pub", [("delete", "")], body=doc + b" " * (4 * MIB + 1 - len(doc))),
             400, "MaxMessageLengthExceeded")
    many = lambda n: ("<Delete>" + "".join("<Object><Key>k%d</Key></Object>" % i  # noqa: E731
                                           for i in range(n)) + "</Delete>").encode()
    st = s3("POST", "/pub", [("delete", "")], body=many(1000))
    check("S3: DeleteObjects of 1000 keys", st[0] == 200 and st[2].count(b"<Deleted>") == 1000,
          (st[0], st[2][:120]))
    is_error("S3: 1001 keys: 400 MalformedXML", s3("POST", "/pub", [("delete", "")],
                                                    body=many(1001)),
             400, "MalformedXML", "at most 1000 keys")
    # user metadata: 2 KiB of names and values (after x-amz-meta-)
    st = s3("PUT", "/pub/meta", headers={"x-amz-meta-m": "v" * 2047}, body=b"x")
    check("S3: 2048 bytes of user metadata", st[0] == 200, (st[0], st[2][:160]))
    is_error("S3: 2049 bytes: 400 MetadataTooLarge",
             s3("PUT", "/pub/meta", headers={"x-amz-meta-m": "v" * 2048}, body=b"x"), 400,
             "MetadataTooLarge")
    # multipart: part numbers 1..10000, at most 10000 parts in a completion
    st = s3("POST", "/pub/mp", [("uploads", "")])
    uid = ET.fromstring(st[2]).findtext("{http://s3.amazonaws.com/doc/2006-03-01/}UploadId")
    st = s3("PUT", "/pub/mp", [("partNumber", "10000"), ("uploadId", uid)], body=b"part")
    check("S3: part number 10000", st[0] == 200, (st[0], st[2][:160]))
    is_error("S3: part number 10001: 400 InvalidArgument",
             s3("PUT", "/pub/mp", [("partNumber", "10001"), ("uploadId", uid)], body=b"part"),
             400, "InvalidArgument", "between 1 and 10000")
    parts = lambda n: ("<CompleteMultipartUpload>" + "".join(  # noqa: E731
        "<Part><PartNumber>%d</PartNumber><ETag>\"%032x\"</ETag></Part>" % (i + 1, i)
        for i in range(n)) + "</CompleteMultipartUpload>").encode()
    is_error("S3: a completion naming 10000 parts is read (400 InvalidPart: none uploaded)",
             s3("POST", "/pub/mp", [("uploadId", uid)], body=parts(10000)), 400, "InvalidPart")
    is_error("S3: 10001 parts: 400 MalformedXML",
             s3("POST", "/pub/mp", [("uploadId", uid)], body=parts(10001)), 400, "MalformedXML")


# ---- listings -------------------------------------------------------------------------------

def listings(o, A, s3):
    # 1001 objects, one file: copies in one batch
    req(o.port, "PUT", "/buckets/alice/pub/upload/one", A, b"one file")
    lines = [json.dumps({"op": "copy", "path": "f%04d" % i, "src_bucket": "alice/pub",
                         "src_path": "one"}) for i in range(1001)]
    st, _, body = req(o.port, "POST", "/api/buckets/alice/many", A, b'{"private":false}')
    st, _, body = req(o.port, "POST", "/api/buckets/alice/many/batch", A,
                      "\n".join(lines).encode())
    check("1001 objects to list", st == 200, (st, body[:120]))
    st, _, body = req(o.port, "GET", "/api/buckets/alice/many/tree?recursive=true&limit=1000")
    v = json.loads(body) if st == 200 else {}
    check("native tree: limit=1000 gives 1000 and a cursor",
          len(v.get("entries", [])) == 1000 and v.get("next_cursor"), (st, body[:120]))
    st, _, body = req(o.port, "GET", "/api/buckets/alice/many/tree?recursive=true")
    check("native tree: 1000 without a limit", st == 200 and
          len(json.loads(body)["entries"]) == 1000, st)
    for bad in ("1001", "0", "%zz"):
        is_error("native tree: limit=%s: 400 InvalidArgument" % bad,
                 req(o.port, "GET", "/api/buckets/alice/many/tree?limit=" + bad), 400,
                 "InvalidArgument", "1..1000")
    cursor = "7a" * 1024  # the hex of a 1024-byte key
    st, _, body = req(o.port, "GET", "/api/buckets/alice/many/tree?cursor=" + cursor)
    check("native tree: a cursor of a 1024-byte key", st == 200, (st, body[:120]))
    is_error("native tree: a cursor of 1025 bytes: 400 InvalidArgument",
             req(o.port, "GET", "/api/buckets/alice/many/tree?cursor=" + cursor + "7a"), 400,
             "InvalidArgument", "bad cursor")
    st = s3("GET", "/alice--many", [("list-type", "2"), ("max-keys", "1000")])
    check("S3 ListObjectsV2: max-keys=1000 gives 1000, truncated",
          st[0] == 200 and st[2].count(b"<Contents>") == 1000 and
          b"<IsTruncated>true</IsTruncated>" in st[2], (st[0], st[2][:120]))
    st = s3("GET", "/alice--many", [("list-type", "2"), ("max-keys", "1001")])
    check("S3 ListObjectsV2: max-keys=1001 is 1000 (as S3)",
          st[0] == 200 and st[2].count(b"<Contents>") == 1000 and
          b"<MaxKeys>1000</MaxKeys>" in st[2], (st[0], st[2][:120]))
    for what, args, name, most in (
            ("ListObjects", [], "prefix", 1024), ("ListObjects", [], "marker", 1024),
            ("ListObjectsV2", [("list-type", "2")], "start-after", 1024),
            ("ListObjectVersions", [("versions", "")], "key-marker", 1024),
            ("ListObjects", [], "delimiter", 63),
            ("ListMultipartUploads", [("uploads", "")], "upload-id-marker", 63)):
        st = s3("GET", "/alice--many", args + [(name, "z" * most)])
        check("S3 %s: a %s of %d bytes" % (what, name, most), st[0] == 200,
              (st[0], st[2][:120]))
        is_error("S3 %s: %d bytes: 400 InvalidArgument" % (what, most + 1),
                 s3("GET", "/alice--many", args + [(name, "z" * (most + 1))]), 400,
                 "InvalidArgument", name)
    st = s3("GET", "/alice--many", [("list-type", "2"), ("continuation-token", "7a" * 1024)])
    check("S3 ListObjectsV2: a continuation token of 2048 hex digits", st[0] == 200,
          (st[0], st[2][:120]))
    is_error("S3 ListObjectsV2: 2050: 400 InvalidArgument",
             s3("GET", "/alice--many", [("list-type", "2"), ("continuation-token", "7a" * 1025)]),
             400, "InvalidArgument", "continuation token")
    st, _, body = req(o.port, "GET", "/buckets/alice/many/tree/?limit=1000")
    check("web folder page: limit=1000", st == 200 and body.count(b'href="/buckets/alice/many/'
                                                                    b'blob/') >= 1000, st)
    st, _, body = req(o.port, "GET", "/buckets/alice/many/tree/?limit=1001")
    check("web folder page: limit=1001: 400 page", st == 400 and b"limit must be 1 to 1000" in body,
          (st, body[:100]))


# ---- Range ------------------------------------------------------------------------------------

def ranges(o, A, s3):
    data = bytes(range(256)) * 4  # 1024 bytes
    req(o.port, "PUT", "/buckets/alice/pub/upload/r.bin", A, data)
    s3("PUT", "/pub/r3.bin", body=data)
    url = "/buckets/alice/pub/resolve/r.bin"
    for h, st_want, want in (("bytes=0-0", 206, data[:1]), ("bytes=1000-", 206, data[1000:]),
                             ("bytes=-24", 206, data[-24:]), ("bytes=1000-9999", 206, data[1000:]),
                             ("bytes=0-0,5-5", 200, data), ("items=0-1", 200, data),
                             ("bytes=5-1", 200, data)):
        st, _, body = req(o.port, "GET", url, {"Range": h})
        check("native Range %s: %d" % (h, st_want), st == st_want and body == want, st)
    for h in ("bytes=1024-", "bytes=-0"):
        st, hd, body = req(o.port, "GET", url, {"Range": h})
        check("native Range %s: 416, Content-Range bytes */1024" % h,
              st == 416 and hd.get("Content-Range") == "bytes */1024", (st, hd.get("Content-Range")))
    st = s3("GET", "/pub/r3.bin", headers={"Range": "bytes=-24"})
    check("S3 Range bytes=-24: 206", st[0] == 206 and st[2] == data[-24:], st[0])
    st = s3("GET", "/pub/r3.bin", headers={"Range": "bytes=0-0,5-5"})
    check("S3 Range of two ranges: 200, the whole object", st[0] == 200 and st[2] == data, st[0])
    is_error("S3 Range bytes=1024-: 416 InvalidRange",
             s3("GET", "/pub/r3.bin", headers={"Range": "bytes=1024-"}), 416, "InvalidRange")
    is_error("S3 Range with partNumber: 400 InvalidRequest",
             s3("GET", "/pub/r3.bin", [("partNumber", "1")], headers={"Range": "bytes=0-0"}), 400,
             "InvalidRequest")


# ---- the web pages -----------------------------------------------------------------------------

def web(o, A):
    for size, shown in ((256 << 10, True), ((256 << 10) + 1, False)):
        folder = "readme%d" % size
        text = b"# Limit\n\n" + b"x" * (size - 10) + b"\n"
        req(o.port, "PUT", "/buckets/alice/pub/upload/%s/README.md" % folder, A, text)
        st, _, body = req(o.port, "GET", "/buckets/alice/pub/tree/%s/" % folder)
        rendered = b"<h2>Limit</h2>" in body and b"too long to show here" not in body
        check("web: a README of %d bytes is %s" % (size, "rendered" if shown else "linked"),
              st == 200 and rendered == shown, (st, rendered))


# ---- a cache node's own limits -------------------------------------------------------------------

def node(n):
    got = first_answer(n.port, "POST", "/v1/prewarm", {"Host": "x", "Expect": "100-continue",
                                                       "Content-Length": str(64 * MIB + 1)})
    check("node: a pre-warm job of 64 MiB + 1: 413 TooLarge",
          status_of(got) == 413 and b'"TooLarge"' in got, got[:200])
    st, _, body = req(n.port, "POST", "/v1/prewarm", {"X-Cairn-Exp": "1", "X-Cairn-Sig": "0"},
                      b" " * (64 * MIB))
    check("node: a job of 64 MiB is read (403: not signed by the origin)",
          st == 403 and code_of(body) == "Forbidden", (st, body[:160]))


# ---- connections: per address and in all (the "crowd" server) -----------------------------------

def open_held(port, source, n, target=b"/healthz"):
    """n keep-alive connections from source, each answered once."""
    held = []
    for _ in range(n):
        s = connect(port, source, 60)
        held.append(s)
        if exchange(s, target) is None:
            return held, False
    return held, True


def connections(crowd):
    # --per-ip-connections 3 --max-connections 6
    held, ok = open_held(crowd.port, "127.0.0.2", 3)
    check("3 connections from one address (--per-ip-connections 3)", ok)
    extra = connect(crowd.port, "127.0.0.2", 60)
    check("the 4th from it is closed without an answer", exchange(extra) is None)
    extra.close()
    more, ok = open_held(crowd.port, "127.0.0.3", 3)
    held += more
    check("3 more from another address: 6 in all (--max-connections 6)", ok)
    extra = connect(crowd.port, "127.0.0.4", 60)
    check("the 7th connection (a third address) is closed without an answer",
          exchange(extra) is None)
    extra.close()
    check("the 6 open ones are still served", all([exchange(s) == 200 for s in held]))
    for s in held:
        s.close()

    def refused():
        try:
            st, _, body = req(crowd.port, "GET", "/metrics", source="127.0.0.5")
        except OSError:
            return None
        m = re.search(rb'cairn_connections_refused_total\{front="HTTP"\} (\d+)', body)
        return st == 200 and m and int(m.group(1)) >= 1
    check("once they close, new ones are served; /metrics counts the refused", until(refused))
    # the S3 front has the same limits of its own
    held, ok = open_held(crowd.s3, "127.0.0.6", 3, b"/")
    check("S3: 3 connections from one address", ok)
    extra = connect(crowd.s3, "127.0.0.6", 60)
    check("S3: the 4th is closed without an answer", exchange(extra, b"/") is None)
    extra.close()
    for s in held:
        s.close()


def slow_clients(o):
    """Slowloris: clients trickling their headers cost a connection each, not a worker."""
    slow = []
    for _ in range(200):
        sk = connect(o.port, "127.0.0.7", 60)
        sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sk)
    st, _, _ = req(o.port, "GET", "/healthz", timeout=60)
    check("served while 200 slow clients (4 threads) hold connections", st == 200, st)
    for sk in slow:
        try:
            sk.sendall(b"a")  # still trickling
        except OSError:
            pass
    st, _, _ = req(o.port, "GET", "/healthz", timeout=60)
    check("and still served as they trickle on", st == 200, st)
    for sk in slow:
        sk.close()


# ---- timeouts (the "clock" server: --idle-timeout 3 --header-timeout 6) ---------------------------

def trickle(port, first, pause=0.25, stop_after=None, line=True):
    """Send a request's head a line at a time (line=False: its request line a byte
    at a time). stop_after: lines, then finish the head; None: trickle until the
    server answers or closes. Returns what it answered."""
    s = connect(port, "127.0.0.8", 120)
    try:
        s.sendall(first)
        i = 0
        while stop_after is None or i < stop_after:
            if select.select([s], [], [], pause)[0]:
                break  # the server spoke (or closed)
            try:
                s.sendall(b"X-Trickle-%d: x\r\n" % i if line else b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
            if i > 2000:
                break
        if stop_after is not None:
            s.sendall(b"Connection: close\r\n\r\n")
        return read_all(s)
    finally:
        s.close()


def timeouts(clock):
    results = {}

    def run(name, fn):
        try:
            results[name] = fn()
        except Exception as e:  # noqa: BLE001 - reported as the check's failure
            results[name] = repr(e).encode()

    def idle():
        s = connect(clock.port, "127.0.0.9", 120)
        try:
            return read_all(s)
        finally:
            s.close()

    def keepalive_idle():
        s = connect(clock.port, "127.0.0.9", 120)
        try:
            first = exchange(s)
            return b"%d|" % (first or 0) + read_all(s)
        finally:
            s.close()

    def body_idle():
        s = connect(clock.port, "127.0.0.9", 120)
        try:
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nabc")
            return read_all(s)
        finally:
            s.close()

    def body_pause():
        s = connect(clock.port, "127.0.0.9", 120)
        try:
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-"
                      b"form-urlencoded\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabc")
            time.sleep(0.3)
            s.sendall(b"def")
            return read_all(s)
        finally:
            s.close()

    jobs = {
        "idle": idle,
        "keepalive": keepalive_idle,
        "body": body_idle,
        "body-pause": body_pause,
        "trickle": lambda: trickle(clock.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"),
        "trickle-s3": lambda: trickle(clock.s3, b"GET / HTTP/1.1\r\nHost: x\r\n"),
        "trickle-short": lambda: trickle(clock.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                                         stop_after=3),
        "trickle-line": lambda: trickle(clock.port, b"GET /healthz?x=", line=False),
    }
    threads = [threading.Thread(target=run, args=(k, f)) for k, f in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    r = results
    check("a connection with no request is closed without a word (--idle-timeout)",
          r.get("idle") == b"", r.get("idle"))
    check("a keep-alive connection after its answer: closed without a word",
          r.get("keepalive") == b"200|", r.get("keepalive"))
    check("a body that stops coming: closed, no answer (--idle-timeout)",
          r.get("body") == b"", r.get("body"))
    check("a body that pauses less than that is read (403: no CSRF cookie)",
          status_of(r.get("body-pause", b"")) == 403, (r.get("body-pause") or b"")[:80])
    t = r.get("trickle", b"")
    check("native: headers trickled past --header-timeout: 408 RequestTimeout",
          status_of(t) == 408 and code_of(t.split(b"\r\n\r\n", 1)[-1]) == "RequestTimeout",
          t[:200])
    t = r.get("trickle-s3", b"")
    check("S3: the same: 400 RequestTimeout",
          status_of(t) == 400 and code_of(t.split(b"\r\n\r\n", 1)[-1]) == "RequestTimeout",
          t[:200])
    check("a request line trickled past it: closed without a word (no request to answer yet)",
          r.get("trickle-line") == b"", r.get("trickle-line"))
    check("headers trickled for less than it are served",
          status_of(r.get("trickle-short", b"")) == 200, (r.get("trickle-short") or b"")[:80])


# ---- failed authentications: 30 a minute from one address ---------------------------------------

def auth_limit(o, n, A, s3):
    src = "127.0.0.10"
    codes = [req(o.port, "GET", "/api/whoami", {"Authorization": "Bearer cairn_" + "%064x" % i},
                 source=src)[0] for i in range(31)]
    check("native: 30 wrong tokens are 401", codes[:30] == [401] * 30, codes[:30])
    check("native: the 31st is 429", codes[30] == 429, codes[30])
    is_error("native: then even a good token from that address: 429 TooManyRequests",
             req(o.port, "GET", "/api/whoami", A, source=src), 429, "TooManyRequests",
             "try again in")
    st, _, _ = req(o.port, "GET", "/api/buckets/alice/pub", source=src)
    check("native: anonymous reads from it are not refused", st == 200, st)
    is_error("native: a malformed Authorization header: 401 Unauthorized",
             req(o.port, "GET", "/api/whoami", {"Authorization": "Bearer cairn_" + "0" * 63},
                 source="127.0.0.18"), 401, "Unauthorized", "malformed")
    st, _, _ = req(o.port, "GET", "/api/whoami", A, source="127.0.0.11")
    check("native: another address is not refused", st == 200, st)
    # S3: a wrong secret is a failed authentication too; past the limit, 503 SlowDown
    src = "127.0.0.12"
    codes = [code_of(s3("GET", "/pub", source=src, secret="wrong")[2]) for _ in range(31)]
    check("S3: 30 wrong signatures are SignatureDoesNotMatch",
          codes[:30] == ["SignatureDoesNotMatch"] * 30, codes[:30])
    check("S3: the 31st is SlowDown", codes[30] == "SlowDown", codes[30])
    is_error("S3: then even a good signature from that address: 503 SlowDown",
             s3("GET", "/pub", source=src), 503, "SlowDown")
    # a malformed signature is the client's bug, not a guess: not counted
    src = "127.0.0.16"
    bad = {"Authorization": "AWS4-HMAC-SHA256 Credential=x"}
    codes = [code_of(req(o.s3, "GET", "/pub", bad, source=src)[2]) for _ in range(35)]
    check("S3: 35 malformed Authorization headers: 400 AuthorizationHeaderMalformed",
          codes == ["AuthorizationHeaderMalformed"] * 35, codes[:3])
    st = s3("GET", "/pub", source=src)
    check("S3: and they do not count: a good signature from that address is served",
          st[0] == 200, st[0])
    # the access key id: 1 to 128 printable bytes
    src = "127.0.0.17"
    is_error("S3: an unknown access key id of 128 bytes: 403 InvalidAccessKeyId",
             S3(o.s3, "K" * 128, "x")("GET", "/pub", source=src), 403, "InvalidAccessKeyId")
    is_error("S3: an access key id of 129 bytes: 400 AuthorizationHeaderMalformed",
             S3(o.s3, "K" * 129, "x")("GET", "/pub", source=src), 400,
             "AuthorizationHeaderMalformed")
    # SignedHeaders: 2047 bytes (a long header name makes it so)
    base = len("host;x-amz-content-sha256;x-amz-date;")
    for size, want in ((2047, 200), (2048, 400)):
        st = s3("GET", "/pub", headers={"x-" + "n" * (size - base - 2): "v"}, source=src)
        check("S3: SignedHeaders of %d bytes: %d" % (size, want),
              st[0] == want and (want == 200 or code_of(st[2]) == "AuthorizationHeaderMalformed"),
              (st[0], st[2][:160]))
    # through a region's node, the origin counts the reader's failures, not the node's
    ns3 = S3(n.s3, s3.key, s3.secret)
    src = "127.0.0.14"
    codes = [code_of(ns3("GET", "/pub", source=src, secret="wrong")[2]) for _ in range(31)]
    check("node S3: 30 wrong signatures, then SlowDown",
          codes == ["SignatureDoesNotMatch"] * 30 + ["SlowDown"], codes)
    is_error("node S3: then even a good signature from that reader: 503 SlowDown",
             ns3("GET", "/pub", source=src), 503, "SlowDown")
    st = ns3("GET", "/pub", source="127.0.0.15")
    check("node S3: another reader through the same node is served", st[0] == 200,
          (st[0], st[2][:160]))
    # the login form counts as well
    src = "127.0.0.13"
    origin = "http://127.0.0.1:%d" % o.port
    st, h, body = req(o.port, "GET", "/login", source=src)
    csrf = re.search(r"cairn_login_csrf=([^;]+)", h.get("Set-Cookie", "")).group(1)
    hd = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin,
          "Cookie": "cairn_login_csrf=" + csrf}
    form = lambda t: urllib.parse.urlencode({"csrf": csrf, "token": t})  # noqa: E731
    codes = [req(o.port, "POST", "/login", hd, form("cairn_" + "%064x" % i), source=src)[0]
             for i in range(31)]
    check("web: 30 failed logins are 401", codes[:30] == [401] * 30, codes[:30])
    check("web: the 31st is 429", codes[30] == 429, codes[30])
    st, _, body = req(o.port, "POST", "/login", hd, form(A["Authorization"][7:]), source=src)
    check("web: then even the right token from that address: 429",
          st == 429 and b"Too many failed logins" in body, st)


def main():
    for k in ("CAIRN_ENDPOINT", "CAIRN_TOKEN", "CAIRN_REGION", "CAIRN_META", "CAIRN_STORE"):
        os.environ.pop(k, None)
    os.environ["HOME"] = W
    data = os.path.join(W, "origin")
    o = Server(CAIRN, data, W, "origin", "--threads", "4", s3=True)
    cairn("admin", "users", "create", "alice", "--data", data)
    tok = cairn("admin", "tokens", "create", "--user", "alice", "--scope", "write", "--data",
                data).stdout.strip()
    key = json.loads(cairn("admin", "keys", "create", "--user", "alice", "--data", data,
                           "--json").stdout)
    A = {"Authorization": "Bearer " + tok}
    s3 = S3(o.s3, key["access_key_id"], key["secret_access_key"])
    nport, ndata = free_port(), os.path.join(W, "node")
    out = cairn("admin", "regions", "add", "eu", "http://127.0.0.1:%d" % nport, "--data", data)
    os.makedirs(ndata)
    with open(os.path.join(ndata, "region-key"), "w") as f:
        f.write(re.search(r"region key: (\w+)", out.stdout).group(1))
    n = Server(CAIRN, ndata, W, "node", "--region", "eu", "--origin",
               "http://127.0.0.1:%d" % o.port, "--origin-s3", "http://127.0.0.1:%d" % o.s3,
               s3=True, port=nport)
    crowd = Server(CAIRN, os.path.join(W, "crowd"), W, "crowd", "--threads", "2",
                   "--max-connections", "6", "--per-ip-connections", "3", s3=True)
    clock = Server(CAIRN, os.path.join(W, "clock"), W, "clock", "--threads", "2",
                   "--idle-timeout", "3", "--header-timeout", "6", s3=True)
    st, _, body = req(o.port, "POST", "/api/buckets/alice/pub", A, b'{"private":false}')
    if st != 201:
        raise SystemExit("cannot make a bucket: %d %r" % (st, body[:200]))
    for section, args in ((heads, (o, n)), (names_and_keys, (o, A, s3)), (bodies, (o, A, s3)),
                          (listings, (o, A, s3)), (ranges, (o, A, s3)), (web, (o, A)),
                          (node, (n,)), (connections, (crowd,)), (slow_clients, (o,)),
                          (timeouts, (clock,)), (auth_limit, (o, n, A, s3))):
        try:
            section(*args)
        except Exception as e:  # one broken section must not hide the others' results
            import traceback
            traceback.print_exc()
            check(section.__name__ + " (ran to its end)", False, repr(e))


try:
    main()
except BaseException:  # an unexpected stop is a failure, never a silent one
    import traceback
    traceback.print_exc()
    check("the test ran to its end", False, "stopped")
sys.exit(finish(W))
