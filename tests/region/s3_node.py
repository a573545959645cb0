"""boto3 against a region's cache node's S3 front (tests/region/run.sh):
ranged GETs, HEAD, listings, presigned URLs and refusals. Prints "ok NAME"
or "FAIL NAME: why" lines and "s3: N failed"."""

import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

node, want_path, origin = sys.argv[1], sys.argv[2], sys.argv[3]
want = open(want_path, "rb").read()
failed = 0


def check(name, cond, why=""):
    global failed
    if cond:
        print("ok s3: " + name)
    else:
        failed += 1
        print("FAIL s3: %s: %s" % (name, why))


def client(secret=None, url=None):
    return boto3.client(
        "s3", endpoint_url=url or node, region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


s3 = client()
got = s3.get_object(Bucket="data", Key="shards/b.bin")["Body"].read()
check("get_object", got == want, "%d bytes" % len(got))
r = s3.get_object(Bucket="data", Key="shards/b.bin", Range="bytes=100000-299999")
check("ranged get", r["Body"].read() == want[100000:300000] and
      r["ContentRange"] == "bytes 100000-299999/%d" % len(want), r.get("ContentRange"))
r = s3.get_object(Bucket="data", Key="shards/b.bin", Range="bytes=-1000")
check("suffix range", r["Body"].read() == want[-1000:])
h = s3.head_object(Bucket="data", Key="shards/b.bin")
check("head_object", h["ContentLength"] == len(want) and h["ETag"].startswith('"'), h)
etag = h["ETag"]
try:
    s3.get_object(Bucket="data", Key="shards/b.bin", IfNoneMatch=etag)
    check("If-None-Match gives 304", False, "no error")
except botocore.exceptions.ClientError as e:
    check("If-None-Match gives 304", e.response["ResponseMetadata"]["HTTPStatusCode"] == 304, e)
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="shards/")["Contents"]]
check("listing through the node", keys == ["shards/a.bin", "shards/b.bin", "shards/c.bin"], keys)
url = s3.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "shards/b.bin"},
                                ExpiresIn=300)
check("presigned GET", urllib.request.urlopen(url).read() == want)
try:
    s3.put_object(Bucket="data", Key="x", Body=b"no")
    check("writes refused", False, "accepted")
except botocore.exceptions.ClientError as e:
    check("writes refused", e.response["ResponseMetadata"]["HTTPStatusCode"] == 405, e)
try:
    client("0" * 40).get_object(Bucket="data", Key="shards/b.bin")
    check("a wrong secret refused", False, "accepted")
except botocore.exceptions.ClientError as e:
    check("a wrong secret refused", e.response["Error"]["Code"] == "SignatureDoesNotMatch", e)
try:
    s3.get_object(Bucket="data", Key="nope")
    check("a missing key", False, "found")
except botocore.exceptions.ClientError as e:
    check("a missing key", e.response["Error"]["Code"] == "NoSuchKey", e)
forged = {"X-Cairn-Region": "eu", "X-Cairn-Region-Exp": "9999999999",
          "X-Cairn-Region-Sig": "0" * 64}
# to the node: a reader's X-Cairn-* headers are dropped; the node signs its own
body = urllib.request.urlopen(urllib.request.Request(node + "/alice--data/shards/b.bin",
                                                     headers=forged)).read()
check("a reader's region headers do not reach the origin", body == want, len(body))
# to the origin: a bad region MAC is refused, not taken for a node
try:
    urllib.request.urlopen(urllib.request.Request(origin + "/alice--data/shards/b.bin",
                                                  headers=forged))
    check("a forged region MAC refused by the origin", False, "200")
except urllib.error.HTTPError as e:
    check("a forged region MAC refused by the origin", e.code == 403, e.code)
# keys S3 allows that a careless forwarder would change: "..", "+", spaces
o = client(url=origin)
for key in ("odd/../g.bin", "odd/a+b c.bin", "odd/./x.bin"):
    o.put_object(Bucket="data", Key=key, Body=key.encode() * 100)
    try:
        got = s3.get_object(Bucket="data", Key=key)["Body"].read()
        check("the key %r through the node" % key, got == key.encode() * 100, len(got))
    except botocore.exceptions.ClientError as e:
        check("the key %r through the node" % key, False, e)
keys = [x["Key"] for x in s3.list_objects_v2(Bucket="data", Prefix="odd/a+b")["Contents"]]
check("a listing with '+' in its prefix", keys == ["odd/a+b c.bin"], keys)
# a request target that is not a path: refused, never glued onto the origin's URL
import socket
host, port = node.rsplit(":", 1)
sk = socket.create_connection((host.split("//")[1], int(port)))
sk.sendall(b"GET @127.0.0.1:1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
answer = b""
while True:
    chunk = sk.recv(65536)
    if not chunk:
        break
    answer += chunk
sk.close()
check("a target that is not a path is refused", answer.startswith(b"HTTP/1.1 400"), answer[:60])
print("s3: %d failed" % failed)
