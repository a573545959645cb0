#!/usr/bin/python3
# boto3_suite.py - the S3 front through boto3 (Debian's python3-boto3) and a
# few hand-made requests: every operation the front serves and every error
# it answers with, checked against what AWS documents. Run by run.sh with
# /usr/bin/python3; prints one "ok NAME" or "FAIL NAME: why" per check and
# ends with "N passed, N failed" (exit 1 on a failure).
#
# The environment says where and who:
#   S3_URL, NATIVE_URL, ADMIN_TOKEN
#   A_USER A_KEY A_SECRET     the main user (not an admin)
#   B_USER B_KEY B_SECRET     another user, for permissions
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import s3sign  # noqa: E402
from s3sign import enc, sha256hex  # noqa: E402

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

S3_URL = os.environ["S3_URL"]
NATIVE_URL = os.environ["NATIVE_URL"]
ADMIN_TOKEN = os.environ["ADMIN_TOKEN"]
A_USER, A_KEY, A_SECRET = os.environ["A_USER"], os.environ["A_KEY"], os.environ["A_SECRET"]
B_USER, B_KEY, B_SECRET = os.environ["B_USER"], os.environ["B_KEY"], os.environ["B_SECRET"]
HOSTPORT = urllib.parse.urlsplit(S3_URL).netloc
HOST, PORT = HOSTPORT.rsplit(":", 1)
MIB = 1 << 20

passed = failed = 0


def ok(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL %s%s" % (name, ": " + why if why else ""))
    sys.stdout.flush()


def eq(name, want, got):
    ok(name, want == got, "expected %r, got %r" % (want, got) if want != got else "")


def error_of(fn):
    """Run fn; (code, status, response) of the ClientError it raised, or None."""
    try:
        fn()
    except ClientError as e:
        r = e.response
        return r["Error"].get("Code"), r["ResponseMetadata"].get("HTTPStatusCode"), r
    return None


def expect_error(name, fn, code, status):
    try:
        got = error_of(fn)
    except Exception as e:  # a client-side failure is a failed check, not a crash
        ok(name, False, "raised %r" % e)
        return None
    if got is None:
        ok(name, False, "no error (expected %s %d)" % (code, status))
        return None
    ok(name, got[0] == code and got[1] == status,
       "expected %s %d, got %s %s" % (code, status, got[0], got[1]))
    return got[2]


def client(key=A_KEY, secret=A_SECRET, **cfg):
    cfg.setdefault("s3", {"addressing_style": "path"})
    cfg.setdefault("retries", {"total_max_attempts": 1})
    return boto3.client("s3", endpoint_url=S3_URL, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(**cfg))


def data(n, seed):
    return random.Random(seed).randbytes(n)


def md5hex(b):
    return hashlib.md5(b).hexdigest()


# ---- hand-made requests: our own SigV4 signer (tests/lib/s3sign.py), so time, payload and
# framing are ours to choose

def sign_v4(method, path, params, headers, payload_hash, key, secret, when=None):
    """s3sign.sign_v4 for this suite's server."""
    return s3sign.sign_v4(method, path, params, headers, payload_hash, key, secret, HOSTPORT, when)


def raw(method, path, params=(), headers=None, body=b"", key=A_KEY, secret=A_SECRET,
        when=None, payload_hash=None, sign=True, wire_query=None):
    """One request; (status, headers with lower-case names, body). wire_query: the
    query as sent, when it is not the canonical encoding of params."""
    headers = dict(headers or {})
    if sign:
        sign_v4(method, path, params, headers,
                payload_hash or sha256hex(body), key, secret, when)
    qs = wire_query if wire_query is not None else "&".join(
        "%s=%s" % (enc(k), enc(v)) for k, v in params)
    conn = http.client.HTTPConnection(HOST, int(PORT), timeout=60)
    try:
        conn.request(method, path + ("?" + qs if qs else ""), body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def xml_field(body, name):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.split("}")[-1] == name:
            return el.text
    return None


def native(method, path, body=None):
    req = urllib.request.Request(NATIVE_URL + path, method=method, data=body,
                                 headers={"Authorization": "Bearer " + ADMIN_TOKEN,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def fetch(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


s3 = client()
s3b = client(B_KEY, B_SECRET)
anon = client(signature_version=botocore.UNSIGNED)
BK = "bsuite"           # alice's private bucket
PUB = "bpublic"         # alice's public bucket
BOB = "bobs"            # bob's private bucket


# ---- buckets -------------------------------------------------------------------------------

def buckets():
    eq("create", 200, s3.create_bucket(Bucket=BK)["ResponseMetadata"]["HTTPStatusCode"])
    r = s3.create_bucket(Bucket=PUB, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eq("create-location-constraint", 200, r["ResponseMetadata"]["HTTPStatusCode"])
    eq("create-location-header", "/" + PUB, r.get("Location"))
    expect_error("create-again", lambda: s3.create_bucket(Bucket=BK),
                 "BucketAlreadyOwnedByYou", 409)
    expect_error("create-bad-name", lambda: s3.create_bucket(Bucket="Bad_Name"),
                 "InvalidBucketName", 400)
    expect_error("create-other-namespace", lambda: s3b.create_bucket(Bucket=A_USER + "--x"),
                 "AccessDenied", 403)
    s3b.create_bucket(Bucket=BOB)
    lb = s3.list_buckets()
    names = [b["Name"] for b in lb["Buckets"]]
    ok("list-buckets", BK in names and PUB in names, repr(names))
    ok("list-buckets-only-own", BOB not in names and B_USER + "--" + BOB not in names, repr(names))
    eq("list-buckets-owner", A_USER, lb["Owner"]["ID"])
    ok("list-buckets-date", all(isinstance(b["CreationDate"], datetime.datetime)
                                for b in lb["Buckets"]))
    eq("head-bucket", 200, s3.head_bucket(Bucket=BK)["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("head-bucket-missing", lambda: s3.head_bucket(Bucket="nope"), "404", 404)
    expect_error("head-bucket-others", lambda: s3b.head_bucket(Bucket=A_USER + "--" + BK),
                 "403", 403)
    eq("location", None, s3.get_bucket_location(Bucket=BK).get("LocationConstraint"))
    # public: through the native API, as `cairn buckets settings --public` does
    native("PUT", "/api/buckets/%s/%s/settings" % (A_USER, PUB), b'{"private": false}')
    s3.create_bucket(Bucket="gone")
    s3.put_object(Bucket="gone", Key="k", Body=b"x")
    expect_error("delete-bucket-not-empty", lambda: s3.delete_bucket(Bucket="gone"),
                 "BucketNotEmpty", 409)
    s3.delete_object(Bucket="gone", Key="k")
    eq("delete-bucket", 204, s3.delete_bucket(Bucket="gone")["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("delete-bucket-again", lambda: s3.delete_bucket(Bucket="gone"),
                 "NoSuchBucket", 404)
    expect_error("no-such-bucket", lambda: s3.get_object(Bucket="gone", Key="k"),
                 "NoSuchBucket", 404)
    expect_error("list-no-such-bucket", lambda: s3.list_objects_v2(Bucket="gone"),
                 "NoSuchBucket", 404)
    expect_error("delete-others-bucket", lambda: s3b.delete_bucket(Bucket=A_USER + "--" + PUB),
                 "AccessDenied", 403)
    for sub, fn in (("versioning", lambda: s3.get_bucket_versioning(Bucket=BK)),
                    ("acl", lambda: s3.get_bucket_acl(Bucket=BK))):
        try:
            eq("bucket-" + sub, 200, fn()["ResponseMetadata"]["HTTPStatusCode"])
        except ClientError as e:
            ok("bucket-" + sub, False, str(e))
    expect_error("bucket-tagging", lambda: s3.get_bucket_tagging(Bucket=BK), "NoSuchTagSet", 404)

    # canned and XML ACLs, as far as a bucket's one setting (public or private) goes
    s3.create_bucket(Bucket="acl", ACL="public-read")
    s3.put_object(Bucket="acl", Key="k", Body=b"acl")
    eq("acl-create-public", b"acl", anon.get_object(Bucket=A_USER + "--acl", Key="k")["Body"].read())
    grants = s3.get_bucket_acl(Bucket="acl")["Grants"]
    ok("acl-get-all-users", any(g["Grantee"].get("URI", "").endswith("/AllUsers") and
                                g["Permission"] == "READ" for g in grants), repr(grants))
    s3.put_bucket_acl(Bucket="acl", ACL="private")
    expect_error("acl-put-private", lambda: anon.get_object(Bucket=A_USER + "--acl", Key="k"),
                 "AccessDenied", 403)
    owner = s3.get_bucket_acl(Bucket="acl")["Owner"]
    s3.put_bucket_acl(Bucket="acl", AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ"}]})
    eq("acl-put-policy-public", b"acl",
       anon.get_object(Bucket=A_USER + "--acl", Key="k")["Body"].read())
    expect_error("acl-public-write", lambda: s3.put_bucket_acl(Bucket="acl", ACL="public-read-write"),
                 "NotImplemented", 501)
    expect_error("acl-grant-other", lambda: s3.put_bucket_acl(Bucket="acl", AccessControlPolicy={
        "Owner": owner, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": B_USER},
                                    "Permission": "WRITE"}]}), "NotImplemented", 501)
    expect_error("acl-others", lambda: s3b.put_bucket_acl(Bucket=A_USER + "--acl", ACL="private"),
                 "AccessDenied", 403)
    expect_error("acl-create-public-write", lambda: s3.create_bucket(Bucket="aclw",
                                                                    ACL="public-read-write"),
                 "NotImplemented", 501)
    s3.delete_object(Bucket="acl", Key="k")
    s3.delete_bucket(Bucket="acl")


# ---- objects: put, get, head, ranges, conditions -----------------------------------------------

def objects():
    body = data(100000, 1)
    r = s3.put_object(Bucket=BK, Key="obj", Body=body, ContentType="text/x-test",
                      Metadata={"Color": "blue", "with-dash": "a b  c"})
    eq("put-etag", '"%s"' % md5hex(body), r["ETag"])
    h = s3.head_object(Bucket=BK, Key="obj")
    eq("head-length", len(body), h["ContentLength"])
    eq("head-type", "text/x-test", h["ContentType"])
    eq("head-etag", '"%s"' % md5hex(body), h["ETag"])
    eq("head-meta", {"color": "blue", "with-dash": "a b  c"}, h["Metadata"])
    ok("head-last-modified", isinstance(h.get("LastModified"), datetime.datetime))
    eq("head-accept-ranges", "bytes", h.get("AcceptRanges"))
    g = s3.get_object(Bucket=BK, Key="obj")
    eq("get-body", body, g["Body"].read())
    eq("get-meta", {"color": "blue", "with-dash": "a b  c"}, g["Metadata"])
    # default content type, empty object
    s3.put_object(Bucket=BK, Key="empty", Body=b"")
    g = s3.get_object(Bucket=BK, Key="empty")
    eq("empty-body", b"", g["Body"].read())
    eq("empty-etag", '"d41d8cd98f00b204e9800998ecf8427e"', g["ETag"])
    eq("default-type", "binary/octet-stream", g["ContentType"])
    # overwrite
    s3.put_object(Bucket=BK, Key="over", Body=b"one")
    s3.put_object(Bucket=BK, Key="over", Body=b"two!")
    eq("overwrite", b"two!", s3.get_object(Bucket=BK, Key="over")["Body"].read())

    # ranges, in all their forms
    size = len(body)
    for name, rng, first, last in (("range-first", "bytes=0-9", 0, 9),
                                   ("range-mid", "bytes=1000-1999", 1000, 1999),
                                   ("range-open", "bytes=99990-", 99990, size - 1),
                                   ("range-suffix", "bytes=-5", size - 5, size - 1),
                                   ("range-suffix-big", "bytes=-500000", 0, size - 1),
                                   ("range-past-end", "bytes=99995-200000", 99995, size - 1),
                                   ("range-one", "bytes=7-7", 7, 7)):
        g = s3.get_object(Bucket=BK, Key="obj", Range=rng)
        got = g["Body"].read()
        ok(name, g["ResponseMetadata"]["HTTPStatusCode"] == 206 and got == body[first:last + 1]
           and g["ContentRange"] == "bytes %d-%d/%d" % (first, last, size),
           "%s %r %d bytes" % (g["ResponseMetadata"]["HTTPStatusCode"], g.get("ContentRange"),
                               len(got)))
    g = s3.get_object(Bucket=BK, Key="obj", Range="bytes=0-1,5-6")
    ok("range-multi-ignored", g["ResponseMetadata"]["HTTPStatusCode"] == 200 and
       g["Body"].read() == body)
    g = s3.get_object(Bucket=BK, Key="obj", Range="bytes=x-y")
    ok("range-garbage-ignored", g["ResponseMetadata"]["HTTPStatusCode"] == 200)
    expect_error("range-invalid", lambda: s3.get_object(Bucket=BK, Key="obj",
                                                         Range="bytes=%d-" % size),
                 "InvalidRange", 416)
    expect_error("range-invalid-empty", lambda: s3.get_object(Bucket=BK, Key="empty",
                                                               Range="bytes=0-"),
                 "InvalidRange", 416)
    h = s3.head_object(Bucket=BK, Key="obj", Range="bytes=10-19")
    ok("head-range", h["ResponseMetadata"]["HTTPStatusCode"] == 206 and h["ContentLength"] == 10,
       repr((h["ResponseMetadata"]["HTTPStatusCode"], h["ContentLength"])))
    g = s3.get_object(Bucket=BK, Key="obj", PartNumber=1)
    ok("part-number-1-single", g["ResponseMetadata"]["HTTPStatusCode"] in (200, 206) and
       g["Body"].read() == body)
    expect_error("part-number-2-single", lambda: s3.get_object(Bucket=BK, Key="obj", PartNumber=2),
                 "InvalidPartNumber", 416)

    # conditions
    etag = '"%s"' % md5hex(body)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    eq("if-match", 200, s3.get_object(Bucket=BK, Key="obj", IfMatch=etag)
       ["ResponseMetadata"]["HTTPStatusCode"])
    eq("if-match-star", 200, s3.get_object(Bucket=BK, Key="obj", IfMatch="*")
       ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("if-match-fails", lambda: s3.get_object(Bucket=BK, Key="obj", IfMatch='"00"'),
                 "PreconditionFailed", 412)
    expect_error("if-match-fails-head", lambda: s3.head_object(Bucket=BK, Key="obj", IfMatch='"00"'),
                 "412", 412)
    expect_error("if-none-match", lambda: s3.get_object(Bucket=BK, Key="obj", IfNoneMatch=etag),
                 "304", 304)
    eq("if-none-match-other", 200, s3.get_object(Bucket=BK, Key="obj", IfNoneMatch='"00"')
       ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("if-modified-since", lambda: s3.get_object(Bucket=BK, Key="obj",
                                                             IfModifiedSince=future), "304", 304)
    eq("if-modified-since-past", 200, s3.get_object(Bucket=BK, Key="obj", IfModifiedSince=past)
       ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("if-unmodified-since", lambda: s3.get_object(Bucket=BK, Key="obj",
                                                               IfUnmodifiedSince=past),
                 "PreconditionFailed", 412)
    eq("if-unmodified-since-future", 200,
       s3.get_object(Bucket=BK, Key="obj", IfUnmodifiedSince=future)
       ["ResponseMetadata"]["HTTPStatusCode"])
    # S3's pairs: If-Match true wins over If-Unmodified-Since false; If-None-Match
    # false (the ETag is another) wins over If-Modified-Since false
    eq("if-match-beats-unmodified", 200,
       s3.get_object(Bucket=BK, Key="obj", IfMatch=etag, IfUnmodifiedSince=past)
       ["ResponseMetadata"]["HTTPStatusCode"])
    eq("if-none-match-beats-modified", 200,
       s3.get_object(Bucket=BK, Key="obj", IfNoneMatch='"00"', IfModifiedSince=future)
       ["ResponseMetadata"]["HTTPStatusCode"])

    # response-* overrides
    g = s3.get_object(Bucket=BK, Key="obj", ResponseContentType="application/x-over",
                      ResponseContentDisposition='attachment; filename="f.bin"',
                      ResponseCacheControl="no-cache", ResponseContentLanguage="fr",
                      ResponseContentEncoding="identity",
                      ResponseExpires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))
    hd = g["ResponseMetadata"]["HTTPHeaders"]
    eq("override-type", "application/x-over", hd.get("content-type"))
    eq("override-disposition", 'attachment; filename="f.bin"', hd.get("content-disposition"))
    eq("override-cache", "no-cache", hd.get("cache-control"))
    eq("override-language", "fr", hd.get("content-language"))
    eq("override-encoding", "identity", hd.get("content-encoding"))
    ok("override-expires", "2030" in hd.get("expires", ""), hd.get("expires", ""))
    eq("override-body", body, g["Body"].read())

    # PUT If-None-Match: * (this botocore has no parameter for it: a header of our own)
    def inm(request, **kw):
        request.headers["If-None-Match"] = "*"
    c = client()
    c.meta.events.register("before-sign.s3.PutObject", inm)
    expect_error("put-if-none-match-exists", lambda: c.put_object(Bucket=BK, Key="obj", Body=b"z"),
                 "PreconditionFailed", 412)
    eq("put-if-none-match-kept", body, s3.get_object(Bucket=BK, Key="obj")["Body"].read())
    eq("put-if-none-match-new", 200, c.put_object(Bucket=BK, Key="inm-new", Body=b"z")
       ["ResponseMetadata"]["HTTPStatusCode"])
    # the key appears while the conditional body is still on its way: refused at the commit
    path = "/%s/inm-race" % BK
    h = {"If-None-Match": "*", "Content-Length": "200000"}
    sign_v4("PUT", path, [], h, "UNSIGNED-PAYLOAD", A_KEY, A_SECRET)
    conn = http.client.HTTPConnection(HOST, int(PORT), timeout=60)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(b"a" * 100000)
    s3.put_object(Bucket=BK, Key="inm-race", Body=b"the winner")
    conn.send(b"a" * 100000)
    st = conn.getresponse().status
    conn.close()
    eq("put-if-none-match-race", 412, st)
    eq("put-if-none-match-race-kept", b"the winner",
       s3.get_object(Bucket=BK, Key="inm-race")["Body"].read())

    # Content-MD5
    import base64
    good = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    eq("content-md5", 200, s3.put_object(Bucket=BK, Key="md5", Body=b"hello", ContentMD5=good)
       ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("bad-digest", lambda: s3.put_object(Bucket=BK, Key="md5", Body=b"hello",
                                                      ContentMD5=bad), "BadDigest", 400)
    expect_error("invalid-digest", lambda: s3.put_object(Bucket=BK, Key="md5", Body=b"hello",
                                                          ContentMD5="nope"), "InvalidDigest", 400)
    eq("bad-digest-kept", b"hello", s3.get_object(Bucket=BK, Key="md5")["Body"].read())

    # deletes
    eq("delete", 204, s3.delete_object(Bucket=BK, Key="over")["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("no-such-key", lambda: s3.get_object(Bucket=BK, Key="over"), "NoSuchKey", 404)
    expect_error("head-no-such-key", lambda: s3.head_object(Bucket=BK, Key="over"), "404", 404)
    eq("delete-missing", 204, s3.delete_object(Bucket=BK, Key="over")
       ["ResponseMetadata"]["HTTPStatusCode"])
    keys = ["d/%d" % i for i in range(5)]
    for k in keys:
        s3.put_object(Bucket=BK, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=BK, Delete={"Objects": [{"Key": k} for k in keys[:3]] +
                                             [{"Key": "d/missing"}]})
    eq("delete-objects", sorted(keys[:3] + ["d/missing"]), sorted(d["Key"] for d in r["Deleted"]))
    eq("delete-objects-no-errors", [], r.get("Errors", []))
    r = s3.delete_objects(Bucket=BK, Delete={"Objects": [{"Key": k} for k in keys[3:]],
                                             "Quiet": True})
    eq("delete-objects-quiet", [], r.get("Deleted", []))
    eq("delete-objects-gone", 0, s3.list_objects_v2(Bucket=BK, Prefix="d/")["KeyCount"])
    # empty elements written <a/> (legal XML some clients send) open and close
    s3.put_object(Bucket=BK, Key="d/selfclosed", Body=b"x")
    body = (b'<?xml version="1.0"?><Delete><Object><Key>d/selfclosed</Key><VersionId/>'
            b'</Object><Quiet/></Delete>')
    st, hd, b = raw("POST", "/%s" % BK, [("delete", "")], body=body)
    ok("delete-objects-self-closing", st == 200 and b"d/selfclosed" in b, repr((st, b[:300])))
    expect_error("delete-objects-self-closed-gone", lambda: s3.head_object(
        Bucket=BK, Key="d/selfclosed"), "404", 404)
    expect_error("delete-objects-others", lambda: s3b.delete_objects(
        Bucket=A_USER + "--" + PUB, Delete={"Objects": [{"Key": "x"}]}), "AccessDenied", 403)


# ---- listings -----------------------------------------------------------------------------------

def listings():
    keys = ["l/a", "l/b/1", "l/b/2", "l/c", "l/d/1", "l/e"]
    for k in keys:
        s3.put_object(Bucket=BK, Key=k, Body=b"x")
    # v1, no delimiter: NextMarker whenever truncated
    r = s3.list_objects(Bucket=BK, Prefix="l/", MaxKeys=2)
    ok("v1-truncated", r["IsTruncated"] and r.get("NextMarker") == "l/b/1", repr(r.get("NextMarker")))
    seen, marker = [], ""
    while True:
        r = s3.list_objects(Bucket=BK, Prefix="l/", MaxKeys=2, Marker=marker)
        seen += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        marker = r["NextMarker"]
    eq("v1-pages", keys, seen)
    eq("v1-owner", A_USER, s3.list_objects(Bucket=BK, Prefix="l/")["Contents"][0]["Owner"]["ID"])
    r = s3.list_objects(Bucket=BK, Prefix="l/", Delimiter="/")
    eq("v1-delimiter-keys", ["l/a", "l/c", "l/e"], [o["Key"] for o in r["Contents"]])
    eq("v1-delimiter-prefixes", ["l/b/", "l/d/"], [p["Prefix"] for p in r["CommonPrefixes"]])
    r = s3.list_objects(Bucket=BK, Prefix="l/", Delimiter="/", MaxKeys=2)
    eq("v1-delimiter-next-marker", "l/b/", r.get("NextMarker"))
    pages = s3.get_paginator("list_objects").paginate(Bucket=BK, Prefix="l/",
                                                       PaginationConfig={"PageSize": 4})
    eq("v1-paginator", keys, [o["Key"] for p in pages for o in p.get("Contents", [])])

    # v2
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/", MaxKeys=2)
    ok("v2-first-page", r["KeyCount"] == 2 and r["IsTruncated"] and "NextContinuationToken" in r,
       repr({k: r.get(k) for k in ("KeyCount", "IsTruncated")}))
    r2 = s3.list_objects_v2(Bucket=BK, Prefix="l/", MaxKeys=2,
                            ContinuationToken=r["NextContinuationToken"])
    eq("v2-continuation", ["l/b/2", "l/c"], [o["Key"] for o in r2["Contents"]])
    eq("v2-continuation-echo", r["NextContinuationToken"], r2.get("ContinuationToken"))
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BK, Prefix="l/",
                                                          PaginationConfig={"PageSize": 1})
    eq("v2-paginator", keys, [o["Key"] for p in pages for o in p.get("Contents", [])])
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/", StartAfter="l/c")
    eq("v2-start-after", ["l/d/1", "l/e"], [o["Key"] for o in r["Contents"]])
    eq("v2-start-after-echo", "l/c", r.get("StartAfter"))
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/", Delimiter="/")
    eq("v2-key-count-prefixes", 5, r["KeyCount"])
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/", MaxKeys=0)
    ok("v2-max-keys-0", r["KeyCount"] == 0 and not r["IsTruncated"] and "Contents" not in r,
       repr({k: r.get(k) for k in ("KeyCount", "IsTruncated", "MaxKeys")}))
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/")
    ok("v2-no-owner", "Owner" not in r["Contents"][0])
    r = s3.list_objects_v2(Bucket=BK, Prefix="l/", FetchOwner=True)
    eq("v2-fetch-owner", A_USER, r["Contents"][0].get("Owner", {}).get("ID"))
    s3.put_object(Bucket=BK, Key="enc/a b&c%d+é", Body=b"x")
    r = s3.list_objects_v2(Bucket=BK, Prefix="enc/", EncodingType="url")
    eq("v2-encoding-url", "enc/a%20b%26c%25d%2B%C3%A9", r["Contents"][0]["Key"])
    eq("v2-encoding-url-type", "url", r.get("EncodingType"))
    r = s3.list_objects_v2(Bucket=BK, Prefix="enc/")  # botocore asks for url and decodes
    eq("v2-encoding-decoded", "enc/a b&c%d+é", r["Contents"][0]["Key"])
    st, _, b = raw("GET", "/" + BK, [("list-type", "2"), ("prefix", "enc/")])
    eq("v2-plain-xml-key", "enc/a b&c%d+é", xml_field(b, "Key"))
    # '+' in a query is a space, for the signature and the listing alike
    st, _, b = raw("GET", "/" + BK, [("list-type", "2"), ("prefix", "enc/a b")],
                   wire_query="list-type=2&prefix=enc/a+b")
    ok("query-plus-is-space", st == 200 and xml_field(b, "Key") == "enc/a b&c%d+é",
       repr((st, b[:300])))
    expect_error("v2-bad-token", lambda: s3.list_objects_v2(Bucket=BK, ContinuationToken="zz"),
                 "InvalidArgument", 400)
    st, _, b = raw("GET", "/" + BK, [("list-type", "2"), ("max-keys", "-1")])
    ok("list-bad-max-keys", st == 400 and xml_field(b, "Code") == "InvalidArgument", repr((st, b[:200])))
    st, _, b = raw("GET", "/" + BK, [("encoding-type", "base64")])
    ok("list-bad-encoding", st == 400 and xml_field(b, "Code") == "InvalidArgument", repr((st, b[:200])))

    # versions: the current objects, version "null"
    r = s3.list_object_versions(Bucket=BK, Prefix="l/")
    eq("versions", keys, [v["Key"] for v in r["Versions"]])
    ok("versions-null", all(v["VersionId"] == "null" and v["IsLatest"] for v in r["Versions"]))
    r = s3.list_object_versions(Bucket=BK, Prefix="enc/")
    eq("versions-decoded-key", "enc/a b&c%d+é", r["Versions"][0]["Key"])
    r = s3.list_object_versions(Bucket=BK, Prefix="enc/", EncodingType="url")
    eq("versions-encoding-url", "enc/a%20b%26c%25d%2B%C3%A9", r["Versions"][0]["Key"])
    r = s3.list_object_versions(Bucket=BK, Prefix="l/", MaxKeys=2)
    ok("versions-truncated", r["IsTruncated"] and r.get("NextKeyMarker") == "l/b/1",
       repr(r.get("NextKeyMarker")))
    r = s3.list_object_versions(Bucket=BK, Prefix="l/", KeyMarker="l/d/1")
    eq("versions-key-marker", ["l/e"], [v["Key"] for v in r["Versions"]])


# ---- copies -----------------------------------------------------------------------------------

def copies():
    body = data(300000, 2)
    s3.put_object(Bucket=BK, Key="src", Body=body, ContentType="text/src", Metadata={"m": "1"})
    r = s3.copy_object(Bucket=BK, Key="dst", CopySource={"Bucket": BK, "Key": "src"})
    eq("copy-etag", '"%s"' % md5hex(body), r["CopyObjectResult"]["ETag"])
    h = s3.head_object(Bucket=BK, Key="dst")
    ok("copy-keeps-meta", h["Metadata"] == {"m": "1"} and h["ContentType"] == "text/src",
       repr((h["Metadata"], h["ContentType"])))
    eq("copy-body", body, s3.get_object(Bucket=BK, Key="dst")["Body"].read())
    s3.copy_object(Bucket=BK, Key="dst2", CopySource=BK + "/src", MetadataDirective="REPLACE",
                   Metadata={"n": "2"}, ContentType="text/new")
    h = s3.head_object(Bucket=BK, Key="dst2")
    ok("copy-replace", h["Metadata"] == {"n": "2"} and h["ContentType"] == "text/new",
       repr((h["Metadata"], h["ContentType"])))
    eq("copy-replace-etag", '"%s"' % md5hex(body), h["ETag"])
    expect_error("copy-self", lambda: s3.copy_object(Bucket=BK, Key="src",
                                                      CopySource={"Bucket": BK, "Key": "src"}),
                 "InvalidRequest", 400)
    s3.copy_object(Bucket=BK, Key="src", CopySource={"Bucket": BK, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"m": "changed"})
    h = s3.head_object(Bucket=BK, Key="src")
    eq("copy-self-replace", {"m": "changed"}, h["Metadata"])
    eq("copy-self-replace-body", body, s3.get_object(Bucket=BK, Key="src")["Body"].read())
    expect_error("copy-missing", lambda: s3.copy_object(Bucket=BK, Key="x",
                                                         CopySource={"Bucket": BK, "Key": "nope"}),
                 "NoSuchKey", 404)
    expect_error("copy-if-match", lambda: s3.copy_object(
        Bucket=BK, Key="x", CopySource={"Bucket": BK, "Key": "src"}, CopySourceIfMatch='"00"'),
        "PreconditionFailed", 412)
    eq("copy-if-none-match-ok", 200, s3.copy_object(
        Bucket=BK, Key="x", CopySource={"Bucket": BK, "Key": "src"}, CopySourceIfNoneMatch='"00"')
        ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("copy-bad-directive", lambda: s3.copy_object(
        Bucket=BK, Key="x", CopySource={"Bucket": BK, "Key": "src"}, MetadataDirective="MOVE"),
        "InvalidArgument", 400)
    # a %00 names no bucket or key: it does not cut the name short into another one
    st, _, b = raw("PUT", "/%s/x00" % BK, headers={"x-amz-copy-source": BK + "/src%00junk"})
    ok("copy-source-nul", st == 400 and xml_field(b, "Code") == "InvalidArgument",
       repr((st, b[:200])))
    st, _, b = raw("GET", "/%s%%00junk/src" % BK)
    ok("bucket-nul", st == 400 and xml_field(b, "Code") == "InvalidBucketName", repr((st, b[:200])))
    st, _, b = raw("GET", "/%s/src%%zz" % BK)
    ok("key-bad-escape", st == 400 and xml_field(b, "Code") == "InvalidURI", repr((st, b[:200])))
    # an end tag that closes another element: malformed, nothing deleted
    st, _, b = raw("POST", "/" + BK, [("delete", "")],
                   body=b"<Delete><Object><Key>src</Key></Obj></Delete>")
    ok("delete-objects-mismatched", st == 400 and xml_field(b, "Code") == "MalformedXML",
       repr((st, b[:200])))
    eq("delete-objects-mismatched-kept", body, s3.get_object(Bucket=BK, Key="src")["Body"].read())
    # across namespaces: bob reads alice's public bucket, not her private one
    s3.put_object(Bucket=PUB, Key="shared", Body=b"public bytes")
    s3b.copy_object(Bucket=BOB, Key="from-alice", CopySource={"Bucket": A_USER + "--" + PUB,
                                                              "Key": "shared"})
    eq("copy-cross-namespace", b"public bytes",
       s3b.get_object(Bucket=BOB, Key="from-alice")["Body"].read())
    expect_error("copy-from-private", lambda: s3b.copy_object(
        Bucket=BOB, Key="x", CopySource={"Bucket": A_USER + "--" + BK, "Key": "src"}),
        "AccessDenied", 403)
    expect_error("copy-into-others", lambda: s3b.copy_object(
        Bucket=A_USER + "--" + PUB, Key="x", CopySource={"Bucket": BOB, "Key": "from-alice"}),
        "AccessDenied", 403)


# ---- multipart ----------------------------------------------------------------------------------

def multipart():
    p1, p2, p3 = data(5 * MIB, 11), data(5 * MIB, 12), data(MIB + 7, 13)
    up = s3.create_multipart_upload(Bucket=BK, Key="mp/obj", ContentType="text/mp",
                                    Metadata={"kind": "mp"})
    uid = up["UploadId"]
    eq("mpu-create-key", "mp/obj", up["Key"])
    # parts out of order, one sent twice
    e3 = s3.upload_part(Bucket=BK, Key="mp/obj", UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    s3.upload_part(Bucket=BK, Key="mp/obj", UploadId=uid, PartNumber=1, Body=p2)
    e1 = s3.upload_part(Bucket=BK, Key="mp/obj", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=BK, Key="mp/obj", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    eq("mpu-part-etag", '"%s"' % md5hex(p1), e1)
    lp = s3.list_parts(Bucket=BK, Key="mp/obj", UploadId=uid)
    eq("mpu-list-parts", [(1, 5 * MIB, e1), (2, 5 * MIB, e2), (3, MIB + 7, e3)],
       [(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]])
    lp = s3.list_parts(Bucket=BK, Key="mp/obj", UploadId=uid, MaxParts=2)
    ok("mpu-list-parts-page", lp["IsTruncated"] and lp["NextPartNumberMarker"] == 2 and
       len(lp["Parts"]) == 2, repr((lp["IsTruncated"], lp.get("NextPartNumberMarker"))))
    lp = s3.list_parts(Bucket=BK, Key="mp/obj", UploadId=uid, PartNumberMarker=2)
    eq("mpu-list-parts-marker", [3], [p["PartNumber"] for p in lp["Parts"]])
    expect_error("mpu-list-parts-wrong-key", lambda: s3.list_parts(Bucket=BK, Key="mp/other",
                                                                    UploadId=uid),
                 "NoSuchUpload", 404)
    expect_error("mpu-abort-wrong-key", lambda: s3.abort_multipart_upload(
        Bucket=BK, Key="mp/other", UploadId=uid), "NoSuchUpload", 404)
    lu = s3.list_multipart_uploads(Bucket=BK, Prefix="mp/")
    eq("mpu-list-uploads", [("mp/obj", uid)], [(u["Key"], u["UploadId"]) for u in lu["Uploads"]])
    parts = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2},
             {"PartNumber": 3, "ETag": e3}]
    expect_error("mpu-invalid-part-order", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/obj", UploadId=uid,
        MultipartUpload={"Parts": [parts[1], parts[0], parts[2]]}), "InvalidPartOrder", 400)
    expect_error("mpu-invalid-part-etag", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/obj", UploadId=uid,
        MultipartUpload={"Parts": [parts[0], {"PartNumber": 2, "ETag": e3}]}), "InvalidPart", 400)
    expect_error("mpu-invalid-part-missing", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/obj", UploadId=uid,
        MultipartUpload={"Parts": parts + [{"PartNumber": 4, "ETag": e3}]}), "InvalidPart", 400)
    expect_error("mpu-invalid-part-number-etag", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/obj", UploadId=uid,
        MultipartUpload={"Parts": [parts[0], {"PartNumber": 3, "ETag": e1}]}), "InvalidPart", 400)
    st, hd, b = raw("POST", "/%s/mp/obj" % BK, [("uploadId", uid)], body=b"<Complete")
    ok("mpu-malformed-xml", st == 400 and xml_field(b, "Code") == "MalformedXML", repr((st, b[:200])))
    # an uploadId longer than any names none: the upload it starts with is not aborted
    st, hd, b = raw("DELETE", "/%s/mp/obj" % BK, [("uploadId", uid + "0")])
    ok("mpu-abort-long-upload-id", st == 404 and xml_field(b, "Code") == "NoSuchUpload",
       repr((st, b[:200])))
    expect_error("mpu-complete-wrong-key", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/other", UploadId=uid, MultipartUpload={"Parts": parts}),
        "NoSuchUpload", 404)
    r = s3.complete_multipart_upload(Bucket=BK, Key="mp/obj", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    want = '"%s-3"' % hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in (e1, e2, e3))).hexdigest()
    eq("mpu-complete-etag", want, r["ETag"])
    g = s3.get_object(Bucket=BK, Key="mp/obj")
    eq("mpu-body", p1 + p2 + p3, g["Body"].read())
    # "?uploadId" without a value names no upload: an abort, not a DeleteObject
    st, hd, b = raw("DELETE", "/%s/mp/obj" % BK, [("uploadId", "")], wire_query="uploadId")
    ok("mpu-abort-upload-id-without-value",
       st == 404 and xml_field(b, "Code") == "NoSuchUpload", repr((st, b[:200])))
    eq("mpu-abort-upload-id-without-value-kept", len(p1 + p2 + p3),
       s3.head_object(Bucket=BK, Key="mp/obj")["ContentLength"])
    eq("mpu-get-etag", want, g["ETag"])
    ok("mpu-no-parts-count", "PartsCount" not in g)
    ok("mpu-meta", g["Metadata"] == {"kind": "mp"} and g["ContentType"] == "text/mp",
       repr((g["Metadata"], g["ContentType"])))
    g = s3.get_object(Bucket=BK, Key="mp/obj", Range="bytes=%d-%d" % (5 * MIB - 3, 5 * MIB + 2))
    eq("mpu-range-across-parts", (p1 + p2)[5 * MIB - 3:5 * MIB + 3], g["Body"].read())
    eq("mpu-gone", [], s3.list_multipart_uploads(Bucket=BK, Prefix="mp/").get("Uploads", []))
    # a complete retried after its answer was lost succeeds again, as in S3...
    r2 = s3.complete_multipart_upload(Bucket=BK, Key="mp/obj", UploadId=uid,
                                      MultipartUpload={"Parts": parts})
    eq("mpu-complete-retried", want, r2["ETag"])
    # ...but not with other parts, nor at another key
    expect_error("mpu-complete-again-other-parts", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/obj", UploadId=uid, MultipartUpload={"Parts": parts[:2]}),
        "NoSuchUpload", 404)
    expect_error("mpu-complete-again-other-key", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/elsewhere", UploadId=uid, MultipartUpload={"Parts": parts}),
        "NoSuchUpload", 404)

    # the size rule: a part but the last under 5 MiB
    uid = s3.create_multipart_upload(Bucket=BK, Key="mp/small")["UploadId"]
    a = s3.upload_part(Bucket=BK, Key="mp/small", UploadId=uid, PartNumber=1, Body=b"a" * 1000)["ETag"]
    b_ = s3.upload_part(Bucket=BK, Key="mp/small", UploadId=uid, PartNumber=2, Body=b"b" * 1000)["ETag"]
    expect_error("mpu-entity-too-small", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/small", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b_}]}), "EntityTooSmall", 400)
    def inm(request, **kw):
        request.headers["If-None-Match"] = "*"
    c = client()
    c.meta.events.register("before-sign.s3.CompleteMultipartUpload", inm)
    s3.put_object(Bucket=BK, Key="mp/small", Body=b"x")
    expect_error("mpu-complete-if-none-match", lambda: c.complete_multipart_upload(
        Bucket=BK, Key="mp/small", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a}]}), "PreconditionFailed", 412)
    # one small part alone is fine; parts not named are dropped
    r = s3.complete_multipart_upload(Bucket=BK, Key="mp/small", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": a}]})
    eq("mpu-single-small", b"a" * 1000, s3.get_object(Bucket=BK, Key="mp/small")["Body"].read())

    # abort
    uid = s3.create_multipart_upload(Bucket=BK, Key="mp/abort")["UploadId"]
    s3.upload_part(Bucket=BK, Key="mp/abort", UploadId=uid, PartNumber=1, Body=b"x")
    eq("mpu-abort", 204, s3.abort_multipart_upload(Bucket=BK, Key="mp/abort", UploadId=uid)
       ["ResponseMetadata"]["HTTPStatusCode"])
    expect_error("mpu-list-parts-aborted", lambda: s3.list_parts(Bucket=BK, Key="mp/abort",
                                                                  UploadId=uid), "NoSuchUpload", 404)
    expect_error("mpu-upload-part-aborted", lambda: s3.upload_part(
        Bucket=BK, Key="mp/abort", UploadId=uid, PartNumber=2, Body=b"y"), "NoSuchUpload", 404)
    expect_error("mpu-abort-again", lambda: s3.abort_multipart_upload(
        Bucket=BK, Key="mp/abort", UploadId=uid), "NoSuchUpload", 404)
    expect_error("mpu-no-such-upload", lambda: s3.upload_part(
        Bucket=BK, Key="mp/x", UploadId="0" * 32, PartNumber=1, Body=b"y"), "NoSuchUpload", 404)
    expect_error("mpu-no-object", lambda: s3.get_object(Bucket=BK, Key="mp/abort"), "NoSuchKey", 404)
    uid = s3.create_multipart_upload(Bucket=BK, Key="mp/bad")["UploadId"]
    expect_error("mpu-part-number-0", lambda: s3.upload_part(
        Bucket=BK, Key="mp/bad", UploadId=uid, PartNumber=0, Body=b"y"), "InvalidArgument", 400)
    expect_error("mpu-upload-wrong-key", lambda: s3.upload_part(
        Bucket=BK, Key="mp/other", UploadId=uid, PartNumber=1, Body=b"y"), "NoSuchUpload", 404)
    s3.abort_multipart_upload(Bucket=BK, Key="mp/bad", UploadId=uid)

    # ListMultipartUploads, a page at a time
    ids = sorted((k, s3.create_multipart_upload(Bucket=BK, Key=k)["UploadId"])
                 for k in ("mu/a", "mu/b", "mu/b", "mu/c"))
    got, km, im = [], None, None
    for _ in range(4):
        kw = {"KeyMarker": km, "UploadIdMarker": im} if km else {}
        r = s3.list_multipart_uploads(Bucket=BK, Prefix="mu/", MaxUploads=3, **kw)
        got += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        km, im = r["NextKeyMarker"], r["NextUploadIdMarker"]
    eq("mpu-list-uploads-pages", ids, got)
    for k, i in ids:
        s3.abort_multipart_upload(Bucket=BK, Key=k, UploadId=i)

    # UploadPartCopy, with ranges; the whole object as a part
    src = data(6 * MIB, 14)
    s3.put_object(Bucket=BK, Key="mp/src", Body=src)
    uid = s3.create_multipart_upload(Bucket=BK, Key="mp/copied")["UploadId"]
    c1 = s3.upload_part_copy(Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": BK, "Key": "mp/src"},
                             CopySourceRange="bytes=%d-%d" % (MIB, 6 * MIB - 1))
    eq("part-copy-etag", '"%s"' % md5hex(src[MIB:]), c1["CopyPartResult"]["ETag"])
    c2 = s3.upload_part_copy(Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": BK, "Key": "mp/src"},
                             CopySourceRange="bytes=0-99")
    c3 = s3.upload_part(Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=3, Body=b"tail")
    expect_error("part-copy-bad-range", lambda: s3.upload_part_copy(
        Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=4,
        CopySource={"Bucket": BK, "Key": "mp/src"}, CopySourceRange="bytes=0-%d" % (6 * MIB)),
        "InvalidArgument", 400)
    expect_error("part-copy-malformed-range", lambda: s3.upload_part_copy(
        Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=4,
        CopySource={"Bucket": BK, "Key": "mp/src"}, CopySourceRange="bytes=5-"),
        "InvalidArgument", 400)
    expect_error("part-copy-if-match", lambda: s3.upload_part_copy(
        Bucket=BK, Key="mp/copied", UploadId=uid, PartNumber=4,
        CopySource={"Bucket": BK, "Key": "mp/src"}, CopySourceIfMatch='"00"'),
        "PreconditionFailed", 412)
    expect_error("part-copy-no-upload", lambda: s3.upload_part_copy(
        Bucket=BK, Key="mp/copied", UploadId="f" * 32, PartNumber=1,
        CopySource={"Bucket": BK, "Key": "mp/src"}), "NoSuchUpload", 404)
    expect_error("part-copy-small", lambda: s3.complete_multipart_upload(
        Bucket=BK, Key="mp/copied", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": c2["CopyPartResult"]["ETag"]},
            {"PartNumber": 3, "ETag": c3["ETag"]}]}), "EntityTooSmall", 400)
    s3.complete_multipart_upload(Bucket=BK, Key="mp/copied", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": c2["CopyPartResult"]["ETag"]}]})
    eq("part-copy-body", src[MIB:] + src[:100],
       s3.get_object(Bucket=BK, Key="mp/copied")["Body"].read())
    # each part of a multipart object by its number (S3's GET ?partNumber=N)
    whole = src[MIB:] + src[:100]
    g1 = s3.get_object(Bucket=BK, Key="mp/copied", PartNumber=1)
    part1 = g1["Body"].read()
    g2 = s3.get_object(Bucket=BK, Key="mp/copied", PartNumber=2)
    eq("part-number-multipart-1", whole[:len(part1)], part1)
    eq("part-number-multipart-2", whole[len(part1):], g2["Body"].read())
    ok("part-number-multipart-206", g1["ResponseMetadata"]["HTTPStatusCode"] == 206 and
       g1.get("PartsCount") == 2 and g1["ContentRange"] ==
       "bytes 0-%d/%d" % (len(part1) - 1, len(whole)),
       repr((g1["ResponseMetadata"]["HTTPStatusCode"], g1.get("PartsCount"), g1.get("ContentRange"))))
    h2 = s3.head_object(Bucket=BK, Key="mp/copied", PartNumber=2)
    eq("part-number-multipart-head", len(whole) - len(part1), h2["ContentLength"])
    expect_error("part-number-multipart-3", lambda: s3.get_object(
        Bucket=BK, Key="mp/copied", PartNumber=3), "InvalidPartNumber", 416)
    expect_error("part-number-with-range", lambda: s3.get_object(
        Bucket=BK, Key="mp/copied", PartNumber=1, Range="bytes=0-1"), "InvalidRequest", 400)

    # boto3's managed transfers: multipart upload and ranged download
    from boto3.s3.transfer import TransferConfig
    tc = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "boto3-upload-%d" % os.getpid())
    blob = data(12 * MIB + 5, 15)
    with open(path, "wb") as f:
        f.write(blob)
    s3.upload_file(path, BK, "mp/managed", Config=tc)
    eq("upload-file-etag-parts", "-3", s3.head_object(Bucket=BK, Key="mp/managed")["ETag"][-3:-1])
    s3.download_file(BK, "mp/managed", path + ".down", Config=tc)
    with open(path + ".down", "rb") as f:
        eq("download-file", blob, f.read())
    os.unlink(path)
    os.unlink(path + ".down")


# ---- errors, authentication, presigning, raw protocol ------------------------------------------

def auth_and_errors():
    s3.put_object(Bucket=BK, Key="secret", Body=b"private bytes")
    s3.put_object(Bucket=PUB, Key="open", Body=b"public bytes")
    expect_error("wrong-secret", lambda: client(A_KEY, "x" * 40).list_objects_v2(Bucket=BK),
                 "SignatureDoesNotMatch", 403)
    expect_error("wrong-secret-put", lambda: client(A_KEY, "x" * 40).put_object(
        Bucket=BK, Key="k", Body=b"x"), "SignatureDoesNotMatch", 403)
    expect_error("unknown-key", lambda: client("AKIANOSUCHKEY", "x" * 40).list_buckets(),
                 "InvalidAccessKeyId", 403)
    expect_error("others-private", lambda: s3b.get_object(Bucket=A_USER + "--" + BK, Key="secret"),
                 "AccessDenied", 403)
    expect_error("others-private-list", lambda: s3b.list_objects_v2(Bucket=A_USER + "--" + BK),
                 "AccessDenied", 403)
    eq("others-public", b"public bytes",
       s3b.get_object(Bucket=A_USER + "--" + PUB, Key="open")["Body"].read())
    eq("others-public-list", ["open", "shared"],
       [o["Key"] for o in s3b.list_objects_v2(Bucket=A_USER + "--" + PUB).get("Contents", [])])
    expect_error("others-public-write", lambda: s3b.put_object(Bucket=A_USER + "--" + PUB,
                                                                Key="x", Body=b"x"),
                 "AccessDenied", 403)
    expect_error("others-public-delete", lambda: s3b.delete_object(Bucket=A_USER + "--" + PUB,
                                                                    Key="open"),
                 "AccessDenied", 403)
    expect_error("others-mpu", lambda: s3b.create_multipart_upload(Bucket=A_USER + "--" + PUB,
                                                                    Key="x"),
                 "AccessDenied", 403)
    eq("anon-public", b"public bytes",
       anon.get_object(Bucket=A_USER + "--" + PUB, Key="open")["Body"].read())
    eq("anon-public-head", 12, anon.head_object(Bucket=A_USER + "--" + PUB, Key="open")
       ["ContentLength"])
    ok("anon-public-list", "open" in [o["Key"] for o in anon.list_objects_v2(
        Bucket=A_USER + "--" + PUB).get("Contents", [])])
    expect_error("anon-private", lambda: anon.get_object(Bucket=A_USER + "--" + BK, Key="secret"),
                 "AccessDenied", 403)
    expect_error("anon-plain-name", lambda: anon.get_object(Bucket=PUB, Key="open"),
                 "AccessDenied", 403)
    expect_error("anon-put", lambda: anon.put_object(Bucket=A_USER + "--" + PUB, Key="x",
                                                      Body=b"x"), "AccessDenied", 403)
    expect_error("anon-list-buckets", lambda: anon.list_buckets(), "AccessDenied", 403)
    expect_error("anon-create", lambda: anon.create_bucket(Bucket=A_USER + "--new"),
                 "AccessDenied", 403)

    # RequestId is x-amz-request-id; HEAD errors carry no body
    st, hd, b = raw("GET", "/%s/nope" % BK)
    ok("request-id", st == 404 and xml_field(b, "RequestId") == hd.get("x-amz-request-id") and
       xml_field(b, "Code") == "NoSuchKey" and hd.get("x-amz-request-id"),
       repr((st, hd.get("x-amz-request-id"), b[:300])))
    eq("error-content-type", "application/xml", hd.get("content-type"))
    eq("error-key", "nope", xml_field(b, "Key"))
    st, hd, b = raw("GET", "/nobucket/x")
    ok("request-id-no-bucket", st == 404 and xml_field(b, "RequestId") == hd.get("x-amz-request-id")
       and xml_field(b, "Code") == "NoSuchBucket", repr((st, b[:200])))
    for path in ("/%s/nope" % BK, "/nobucket", "/%s--%s/secret" % (A_USER, BK)):
        h = {}
        sign_v4("HEAD", path, [], h, sha256hex(b""), A_KEY if "--" not in path else B_KEY,
                A_SECRET if "--" not in path else B_SECRET)
        sk = socket.create_connection((HOST, int(PORT)), timeout=30)
        req = "HEAD %s HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (
            path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        sk.sendall(req.encode())
        got = b""
        while True:
            piece = sk.recv(65536)
            if not piece:
                break
            got += piece
        sk.close()
        head, _, rest = got.partition(b"\r\n\r\n")
        ok("head-error-no-body " + path, head.startswith(b"HTTP/1.1 40") and rest == b"" and
           b"x-amz-request-id" in head.lower(), repr(got[:300]))

    # payload hash checked; a stale clock refused
    st, _, b = raw("PUT", "/%s/sha" % BK, body=b"actual", payload_hash=sha256hex(b"other"))
    ok("sha256-mismatch", st == 400 and xml_field(b, "Code") == "XAmzContentSHA256Mismatch",
       repr((st, b[:200])))
    expect_error("sha256-mismatch-nothing", lambda: s3.head_object(Bucket=BK, Key="sha"), "404", 404)
    st, _, b = raw("PUT", "/%s/unsigned" % BK, body=b"unsigned body", payload_hash="UNSIGNED-PAYLOAD")
    eq("unsigned-payload", 200, st)
    eq("unsigned-payload-body", b"unsigned body", s3.get_object(Bucket=BK, Key="unsigned")["Body"].read())
    skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    st, _, b = raw("GET", "/" + BK, when=skewed)
    ok("request-time-too-skewed", st == 403 and xml_field(b, "Code") == "RequestTimeTooSkewed",
       repr((st, b[:200])))
    near = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    st, _, b = raw("GET", "/" + BK, when=near)
    eq("clock-skew-tolerated", 200, st)
    st, _, b = raw("GET", "/" + BK, params=[("list-type", "2"), ("prefix", "a b")])
    eq("query-space-signed", 200, st)

    # presigned URLs, SigV4 and SigV2
    v4 = client(signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": BK, "Key": "secret"},
                                    ExpiresIn=300)
    ok("presign-v4-form", "X-Amz-Signature=" in url, url)
    eq("presign-v4-get", (200, b"private bytes"), fetch(url))
    sig = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    st, b = fetch(url[:sig] + ("0" if url[sig] != "0" else "1") + url[sig + 1:])
    ok("presign-v4-tampered", st == 403 and xml_field(b, "Code") == "SignatureDoesNotMatch",
       repr((st, b[:200])))
    url = v4.generate_presigned_url("put_object", Params={"Bucket": BK, "Key": "presigned-put"},
                                    ExpiresIn=300)
    eq("presign-v4-put", 200, fetch(url, "PUT", b"put by url")[0])
    eq("presign-v4-put-body", b"put by url",
       s3.get_object(Bucket=BK, Key="presigned-put")["Body"].read())
    url = v4.generate_presigned_url("get_object", Params={
        "Bucket": BK, "Key": "secret", "ResponseContentDisposition": "attachment"}, ExpiresIn=300)
    eq("presign-v4-override", (200, b"private bytes"), fetch(url))
    expect_error("presign-v4-too-long", lambda: fetch_or_raise(v4.generate_presigned_url(
        "get_object", Params={"Bucket": BK, "Key": "secret"}, ExpiresIn=8 * 24 * 3600)),
        "AuthorizationQueryParametersError", 400)
    odd = "presign/sp ace é&+%?#=.txt"
    s3.put_object(Bucket=BK, Key=odd, Body=b"odd key")
    eq("presign-v4-odd-key", (200, b"odd key"), fetch(v4.generate_presigned_url(
        "get_object", Params={"Bucket": BK, "Key": odd}, ExpiresIn=300)))
    v2 = client(signature_version="s3")
    eq("presign-v2-odd-key", (200, b"odd key"), fetch(v2.generate_presigned_url(
        "get_object", Params={"Bucket": BK, "Key": odd}, ExpiresIn=300)))
    url = v2.generate_presigned_url("get_object", Params={"Bucket": BK, "Key": "secret"},
                                    ExpiresIn=300)
    ok("presign-v2-form", "Signature=" in url and "AWSAccessKeyId=" in url, url)
    eq("presign-v2-get", (200, b"private bytes"), fetch(url))
    st, b = fetch(url.replace("Signature=", "Signature=A"))
    eq("presign-v2-tampered", 403, st)
    eq("v2-header-list", ["secret"], [o["Key"] for o in v2.list_objects(
        Bucket=BK, Prefix="secret").get("Contents", [])])
    v2.put_object(Bucket=BK, Key="v2 put/é", Body=b"signed v2")
    eq("v2-header-put", b"signed v2", s3.get_object(Bucket=BK, Key="v2 put/é")["Body"].read())
    url = v4.generate_presigned_url("get_object", Params={"Bucket": BK, "Key": "secret"},
                                    ExpiresIn=1)
    time.sleep(2.2)
    st, b = fetch(url)
    ok("presign-v4-expired", st == 403 and xml_field(b, "Code") == "AccessDenied", repr((st, b[:200])))

    # the caller's own errors
    st, _, b = raw("POST", "/" + BK, [("delete", "")], body=b"<Delete><Object><Key>x</Key></Obj")
    ok("delete-objects-malformed", st == 400 and xml_field(b, "Code") == "MalformedXML", repr((st, b[:200])))
    st, _, b = raw("GET", "/%s/x" % BK, headers={"Range": "bytes=5-1"})
    ok("range-reversed-ignored", st in (200, 404), repr(st))


def fetch_or_raise(url):
    st, b = fetch(url)
    if st >= 300:
        code = xml_field(b, "Code") or str(st)
        raise ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": st}}, "GET")


# ---- streaming SigV4 (aws-chunked) and Expect: 100-continue ------------------------------------

def streaming():
    EMPTY = sha256hex(b"")

    def put_streaming(key, payload, chunk, tamper=False):
        path = "/%s/%s" % (BK, enc(key, "/~"))
        pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]
        # the framed length must be known to sign: compute it first
        framed = sum(len("%x;chunk-signature=" % len(p)) + 64 + 2 + len(p) + 2 for p in pieces)
        h = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload)),
             "content-length": str(framed)}
        k, prev, amz, scope = sign_v4("PUT", path, [], h, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                      A_KEY, A_SECRET)
        out = []
        for i, p in enumerate(pieces):
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev, EMPTY, sha256hex(p)])
            prev = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
            sig = prev
            if tamper and i == 1:
                sig = "0" * 64
            out.append(("%x;chunk-signature=%s\r\n" % (len(p), sig)).encode() + p + b"\r\n")
        body = b"".join(out)
        assert len(body) == framed
        conn = http.client.HTTPConnection(HOST, int(PORT), timeout=60)
        try:
            conn.request("PUT", path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, r.getheader("ETag"), r.read()
        finally:
            conn.close()

    payload = data(300000, 21)
    st, etag, b = put_streaming("stream/ok", payload, 65536)
    ok("streaming-put", st == 200 and etag == '"%s"' % md5hex(payload), repr((st, etag, b[:200])))
    eq("streaming-body", payload, s3.get_object(Bucket=BK, Key="stream/ok")["Body"].read())
    st, etag, b = put_streaming("stream/bad", payload, 65536, tamper=True)
    ok("streaming-bad-chunk", st == 403 and xml_field(b, "Code") == "SignatureDoesNotMatch",
       repr((st, b[:200])))
    expect_error("streaming-bad-nothing", lambda: s3.head_object(Bucket=BK, Key="stream/bad"),
                 "404", 404)
    st, etag, b = put_streaming("stream/empty", b"", 65536)
    eq("streaming-empty", 200, st)

    # boto3 sends Expect: 100-continue with a file body; a server that does not
    # answer at once costs a second per PUT
    import io
    t0 = time.monotonic()
    for i in range(5):
        s3.put_object(Bucket=BK, Key="expect/%d" % i, Body=io.BytesIO(b"x" * 2000))
    dt = time.monotonic() - t0
    ok("expect-100-continue", dt < 2.5, "5 PUTs took %.1f s" % dt)


# ---- awkward keys ------------------------------------------------------------------------------

KEYS = ["sp ace", "a&b+c-d\"e/f", "é", "100%", "%2F%41", "uni/日本語/ü.txt", "q'uote<x>",
        "~t=i;l:d,e@$!*()[]{}", "a?b#c", "dir/", "k/" + "x" * 1022, "emoji/🦆",
        "dbl//slash", "dot/./x", "dot/../y", "/lead", "tab\there", "nl\nhere"]


def keys():
    for i, k in enumerate(KEYS):
        s3.put_object(Bucket=BK, Key="keys/" + k if len(k) < 1000 else k,
                      Body=("body %d" % i).encode())
    names = ["keys/" + k if len(k) < 1000 else k for k in KEYS]
    listed = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BK, Prefix="keys/")
              for o in p.get("Contents", [])]
    listed += [o["Key"] for o in s3.list_objects_v2(Bucket=BK, Prefix="k/").get("Contents", [])]
    eq("keys-listed", sorted(names), sorted(listed))
    v1 = [o["Key"] for o in s3.list_objects(Bucket=BK, Prefix="keys/").get("Contents", [])]
    eq("keys-listed-v1", sorted(n for n in names if n.startswith("keys/")), sorted(v1))
    for i, k in enumerate(names):
        label = "key %r" % (k if len(k) < 40 else k[:20] + "...(%d bytes)" % len(k.encode()))
        try:
            got = s3.get_object(Bucket=BK, Key=k)["Body"].read()
            s3.copy_object(Bucket=BK, Key=k + ".c" if len(k) < 1000 else k[:-2] + ".c",
                           CopySource={"Bucket": BK, "Key": k})
            ok(label, got == ("body %d" % i).encode(), repr(got))
        except ClientError as e:
            ok(label, False, str(e))
    copies = [k + ".c" if len(k) < 1000 else k[:-2] + ".c" for k in names]
    r = s3.delete_objects(Bucket=BK, Delete={"Objects": [{"Key": k} for k in names + copies]})
    eq("keys-delete-objects", sorted(names + copies), sorted(d["Key"] for d in r.get("Deleted", [])))
    eq("keys-delete-errors", [], r.get("Errors", []))
    eq("keys-gone", 0, s3.list_objects_v2(Bucket=BK, Prefix="keys/")["KeyCount"])


def main():
    for section in (buckets, objects, listings, copies, multipart, auth_and_errors, streaming, keys):
        try:
            section()
        except Exception as e:  # one broken section must not hide the others' results
            import traceback
            traceback.print_exc()
            ok(section.__name__ + " (ran to the end)", False, repr(e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
