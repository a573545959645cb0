"""run.py BUILD_DIR - one user's credentials never reach another's private
bucket, through any front: the native API, the chunk protocol, the S3
front, the web pages, and a region's cache node (its resolve downloads and
its S3 port). Also hostile keys (../, NUL, very long) on every front.
Starts an origin (with its S3 port) and a cache node on 127.0.0.1 itself.
Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
Run with /usr/bin/python3 (boto3 from Debian)."""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

BUILD = os.path.abspath(sys.argv[1])
CAIRN = os.path.join(BUILD, "cairn")
W = tempfile.mkdtemp()
procs = []
passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok " + name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_up(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server on %d did not start" % port)


def cairn(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([CAIRN, *args], capture_output=True, text=True, env=e)


def req(port, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    h = dict(r.getheaders())
    h["Set-Cookie"] = "; ".join(r.msg.get_all("Set-Cookie") or [])  # every cookie, not the last
    return r.status, h, data


def main():
    data, ndata = os.path.join(W, "data"), os.path.join(W, "node")
    port, s3port, nport, ns3port = free_port(), free_port(), free_port(), free_port()
    for k in ("CAIRN_ENDPOINT", "CAIRN_TOKEN", "CAIRN_REGION", "CAIRN_META", "CAIRN_STORE"):
        os.environ.pop(k, None)
    os.environ["HOME"] = W
    origin = "http://127.0.0.1:%d" % port
    procs.append(subprocess.Popen([CAIRN, "serve", "--listen", "127.0.0.1:%d" % port,
                                   "--s3-listen", "127.0.0.1:%d" % s3port, "--data", data],
                                  stdout=subprocess.DEVNULL, stderr=open(W + "/o.err", "w")))
    wait_up(port)
    wait_up(s3port)
    tok, keys = {}, {}
    for u in ("alice", "bob"):
        cairn("admin", "users", "create", u, "--data", data)
        tok[u] = cairn("admin", "tokens", "create", "--user", u, "--scope", "write",
                       "--data", data).stdout.strip()
        keys[u] = json.loads(cairn("admin", "keys", "create", "--user", u, "--data", data,
                                   "--json").stdout)
    out = cairn("admin", "regions", "add", "eu", "http://127.0.0.1:%d" % nport, "--data", data)
    os.makedirs(ndata)
    with open(os.path.join(ndata, "region-key"), "w") as f:
        f.write(re.search(r"region key: (\w+)", out.stdout).group(1))
    procs.append(subprocess.Popen([CAIRN, "serve", "--listen", "127.0.0.1:%d" % nport,
                                   "--data", ndata, "--region", "eu", "--origin", origin,
                                   "--s3-listen", "127.0.0.1:%d" % ns3port, "--origin-s3",
                                   "http://127.0.0.1:%d" % s3port],
                                  stdout=subprocess.DEVNULL, stderr=open(W + "/n.err", "w")))
    wait_up(nport)
    wait_up(ns3port)
    A = {"CAIRN_ENDPOINT": origin, "CAIRN_TOKEN": tok["alice"]}
    B = {"CAIRN_ENDPOINT": origin, "CAIRN_TOKEN": tok["bob"]}
    secret = os.urandom(300000)
    with open(W + "/secret.bin", "wb") as f:
        f.write(secret)
    cairn("buckets", "create", "vault", "--private", env=A)
    cairn("buckets", "create", "open", env=A)  # public: for the anonymous read at the end
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

    # ---- hostile keys, on every front that takes one: refused, nothing on disk outside
    before = set()
    for root, dirs, files in os.walk(W):
        before.update(os.path.join(root, f) for f in files)
    alice = {"Authorization": "Bearer " + tok["alice"]}
    for what, key in (("..", "a/../../../etc/passwd"), ("dot", "./x"),
                      ("NUL", "a%00b"), ("long", "k" * 1100)):
        st, _, body = req(port, "PUT", "/buckets/alice/vault/upload/" + key, alice, b"evil")
        check("native upload of a %s key is refused" % what, st == 400, (st, body[:100]))
    s3a = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3port, region_name="us-east-1",
                       aws_access_key_id=keys["alice"]["access_key_id"],
                       aws_secret_access_key=keys["alice"]["secret_access_key"],
                       config=botocore.config.Config(s3={"addressing_style": "path"},
                                                     retries={"max_attempts": 1}))
    try:
        s3a.put_object(Bucket="vault", Key="k" * 1100, Body=b"evil")
        check("S3 PUT of a key over 1024 bytes is refused", False, "stored")
    except botocore.exceptions.ClientError as e:
        check("S3 PUT of a key over 1024 bytes is refused",
              e.response["Error"]["Code"] == "KeyTooLongError", e.response["Error"]["Code"])
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

    # ---- slow clients (slowloris): 200 connections trickling a request's headers
    # do not keep others from being served; past the per-address limit, refused
    slow = []
    for _ in range(200):
        sk = socket.create_connection(("127.0.0.1", port))
        sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sk)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/api/buckets/alice/vault", headers=alice)
        st = c.getresponse().status
    except OSError as e:
        st = repr(e)
    check("served while 200 slow clients hold connections", st == 200, st)
    for sk in slow:
        sk.sendall(b"a")  # still trickling
    extra = []
    refused = 0
    for _ in range(120):  # 320 from one address: the last are over the limit of 256
        try:
            sk = socket.create_connection(("127.0.0.1", port), 2)
            sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sk.settimeout(5)
            if sk.recv(12) == b"":
                refused += 1
            extra.append(sk)
        except OSError:
            refused += 1
    check("connections over the per-address limit are refused", refused > 0, refused)
    for sk in slow + extra:
        sk.close()
    time.sleep(0.5)
    st, _, _ = req(port, "GET", "/healthz")
    check("and the server is fine once they go", st == 200, st)

    # ---- guessing tokens: past 30 failures a minute, an address's credentials get 429
    codes = [req(port, "GET", "/api/whoami",
                 {"Authorization": "Bearer cairn_" + "%064x" % i})[0] for i in range(35)]
    check("wrong tokens are 401 at first", codes[:30] == [401] * 30, codes[:30])
    check("then 429", codes[30:] == [429] * 5, codes[30:])
    st, h, body = req(port, "GET", "/api/whoami", alice)
    check("even a good token from that address waits", st == 429 and b"try again in" in body,
          (st, body[:80]))
    st, _, _ = req(port, "GET", "/api/buckets/alice/open")
    check("anonymous reads are not refused by it", st == 200, st)


try:
    main()
except Exception:  # an unexpected answer is a failure, never a silent stop
    import traceback
    traceback.print_exc()
    failed += 1
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(W, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
