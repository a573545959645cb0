"""run.py BUILD_DIR - one user's credentials never reach another's private
bucket, through any front: the native API, the chunk protocol, the S3
front, the web pages, and a region's cache node (its resolve downloads and
its S3 port); and hostile keys (../, NUL, very long) never become files.
Starts an origin (with its S3 port) and a cache node on 127.0.0.1 itself.
The limits these requests run into (key rules, slow clients, connections
per address, failed authentications) are tested in tests/limits/run.py.
Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
Run with /usr/bin/python3 (boto3 from Debian)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from live import Server, check, finish, free_port, req  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
CAIRN = os.path.join(BUILD, "cairn")
W = tempfile.mkdtemp()


def cairn(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([CAIRN, *args], capture_output=True, text=True, env=e)


def main():
    data, ndata = os.path.join(W, "data"), os.path.join(W, "node")
    for k in ("CAIRN_ENDPOINT", "CAIRN_TOKEN", "CAIRN_REGION", "CAIRN_META", "CAIRN_STORE"):
        os.environ.pop(k, None)
    os.environ["HOME"] = W
    o = Server(CAIRN, data, W, "origin", s3=True)
    port, s3port = o.port, o.s3
    origin = "http://127.0.0.1:%d" % port
    tok, keys = {}, {}
    for u in ("alice", "bob"):
        cairn("admin", "users", "create", u, "--data", data)
        tok[u] = cairn("admin", "tokens", "create", "--user", u, "--scope", "write",
                       "--data", data).stdout.strip()
        keys[u] = json.loads(cairn("admin", "keys", "create", "--user", u, "--data", data,
                                   "--json").stdout)
    nport = free_port()
    out = cairn("admin", "regions", "add", "eu", "http://127.0.0.1:%d" % nport, "--data", data)
    os.makedirs(ndata)
    with open(os.path.join(ndata, "region-key"), "w") as f:
        f.write(re.search(r"region key: (\w+)", out.stdout).group(1))
    n = Server(CAIRN, ndata, W, "node", "--region", "eu", "--origin", origin,
               "--origin-s3", "http://127.0.0.1:%d" % s3port, s3=True, port=nport)
    ns3port = n.s3
    A = {"CAIRN_ENDPOINT": origin, "CAIRN_TOKEN": tok["alice"]}
    B = {"CAIRN_ENDPOINT": origin, "CAIRN_TOKEN": tok["bob"]}
    secret = os.urandom(300000)
    with open(W + "/secret.bin", "wb") as f:
        f.write(secret)
    cairn("buckets", "create", "vault", "--private", env=A)
    r = cairn("buckets", "cp", W + "/secret.bin", "cairn://buckets/alice/vault/s.bin", "--json",
              env=A)
    fhash = json.loads(r.stdout)["hash"]
    bob = {"Authorization": "Bearer " + tok["bob"]}

    # ---- native API and chunk protocol, with bob's token
    for what, path in (("info", "/api/buckets/alice/vault"),
                       ("tree", "/api/buckets/alice/vault/tree"),
                       ("resolve", "/buckets/alice/vault/resolve/s.bin"),
                       ("resolve through a region", "/buckets/alice/vault/resolve/s.bin?region=eu"),
                       ("reconstruction by file hash", "/v1/reconstructions/" + fhash),
                       ("reconstruction for a region", "/v1/reconstructions/%s?region=eu" % fhash)):
        st, _, body = req(port, "GET", path, bob)
        check("bob: native %s of alice's private bucket" % what, st in (403, 404), (st, body[:80]))
        check("  and not one byte of it", secret[:64] not in body)
    st, _, body = req(port, "POST", "/api/buckets/alice/vault/prewarm", bob,
                      json.dumps({"prefix": "", "region": "eu"}))
    check("bob: pre-warm alice's private bucket", st in (403, 404), (st, body[:80]))
    st, _, _ = req(port, "PUT", "/buckets/alice/vault/upload/x", bob, b"x")
    check("bob: upload into it", st in (403, 404), st)
    st, _, _ = req(port, "DELETE", "/buckets/alice/vault/resolve/s.bin", bob)
    check("bob: delete from it", st in (403, 404), st)
    r = cairn("buckets", "cp", "cairn://buckets/alice/vault/s.bin", W + "/stolen", env=B)
    check("bob: cairn buckets cp of it", r.returncode != 0 and not os.path.exists(W + "/stolen"),
          r.returncode)
    r = cairn("buckets", "cp", "cairn://buckets/alice/vault/s.bin", W + "/stolen2",
              env=dict(B, CAIRN_REGION="eu"))
    check("bob: the same through the region", r.returncode != 0, r.returncode)

    # ---- S3, with bob's key: on the origin's S3 port and on the node's
    for where, p in (("origin", s3port), ("node", ns3port)):
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % p, region_name="us-east-1",
                          aws_access_key_id=keys["bob"]["access_key_id"],
                          aws_secret_access_key=keys["bob"]["secret_access_key"],
                          config=botocore.config.Config(s3={"addressing_style": "path"},
                                                        retries={"max_attempts": 1}))
        for what, call in (("GET", lambda: s3.get_object(Bucket="alice--vault", Key="s.bin")),
                           ("HEAD", lambda: s3.head_object(Bucket="alice--vault", Key="s.bin")),
                           ("list", lambda: s3.list_objects_v2(Bucket="alice--vault")),
                           ("ranged GET", lambda: s3.get_object(Bucket="alice--vault",
                                                                Key="s.bin",
                                                                Range="bytes=0-99"))):
            try:
                r = call()
                body = r["Body"].read() if "Body" in r else b""
                check("bob: S3 %s on the %s" % (what, where), False, "answered, %d bytes" %
                      len(body))
            except botocore.exceptions.ClientError as e:
                code = e.response["ResponseMetadata"]["HTTPStatusCode"]
                check("bob: S3 %s on the %s" % (what, where), code in (403, 404), code)

    # ---- the web pages, with bob's session
    st, h, body = req(port, "GET", "/login")
    csrf = re.search(r"cairn_login_csrf=([^;]+)", h.get("Set-Cookie", "")).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "token": tok["bob"]})
    st, h, _ = req(port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded",
                                            "Cookie": "cairn_login_csrf=" + csrf,
                                            "Origin": origin}, form)
    session = re.search(r"cairn_session=([^;]+)", h.get("Set-Cookie", "")).group(1)
    check("bob logs in to the web pages", st == 303 and session, st)
    for what, path in (("bucket page", "/buckets/alice/vault/"),
                       ("folder page", "/buckets/alice/vault/tree/"),
                       ("file page", "/buckets/alice/vault/blob/s.bin"),
                       ("download", "/buckets/alice/vault/resolve/s.bin")):
        st, _, body = req(port, "GET", path, {"Cookie": "cairn_session=" + session})
        check("bob's session: %s" % what, st == 404 and secret[:64] not in body, st)
    st, _, body = req(port, "GET", "/", {"Cookie": "cairn_session=" + session})
    check("bob's home page does not list alice's private bucket", st == 200 and b"vault" not in body,
          st)

    # ---- the node itself: nothing without the origin's signature
    st, _, _ = req(nport, "GET", "/v1/files/%s?exp=9999999999&sig=%s" % (fhash, "0" * 64))
    check("the node's file download without a real signature", st == 403, st)
    st, _, _ = req(nport, "GET", "/v1/files/" + fhash)
    check("the node's file download with none", st == 403, st)

    # ---- hostile keys, on every front that takes one: nothing on disk outside (what each
    # is answered is tests/limits/run.py's)
    before = set()
    for root, dirs, files in os.walk(W):
        before.update(os.path.join(root, f) for f in files)
    alice = {"Authorization": "Bearer " + tok["alice"]}
    for key in ("a/../../../etc/passwd", "./x", "a%00b", "k" * 1100):
        req(port, "PUT", "/buckets/alice/vault/upload/" + key, alice, b"evil")
    s3a = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3port, region_name="us-east-1",
                       aws_access_key_id=keys["alice"]["access_key_id"],
                       aws_secret_access_key=keys["alice"]["secret_access_key"],
                       config=botocore.config.Config(s3={"addressing_style": "path"},
                                                     retries={"max_attempts": 1}))
    try:
        s3a.put_object(Bucket="vault", Key="k" * 1100, Body=b"evil")
    except botocore.exceptions.ClientError:
        pass
    # S3 keys may hold "../": a key, never a path on disk
    s3a.put_object(Bucket="vault", Key="../../escape", Body=b"just a key")
    got = s3a.get_object(Bucket="vault", Key="../../escape")["Body"].read()
    check("an S3 key '../../escape' is a key", got == b"just a key")
    after = set()
    for root, dirs, files in os.walk(W):
        after.update(os.path.join(root, f) for f in files)
    strays = [f for f in after - before
              if "escape" in f or f.endswith("passwd") or "evil" in f]
    check("no hostile key became a file", not strays, strays)


try:
    main()
except Exception:  # an unexpected answer is a failure, never a silent stop
    import traceback
    traceback.print_exc()
    check("the test ran to its end", False, "an exception")
sys.exit(finish(W))
