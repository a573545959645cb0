"""test_web.py BUILD_DIR - the web pages of `cairn serve` in a real browser.

Starts a server (native + S3 fronts) on free ports of 127.0.0.1, fills it
with buckets through the CLI and the S3 front (hostile names included),
then drives Debian's headless Chromium through chromedriver: every page,
login and logout, a private bucket appearing and disappearing, downloads
checked byte for byte, and escaping. Screenshots go to
BUILD_DIR/test-artifacts/web/*.png. Plain HTTP checks (CSRF, headers,
methods) use urllib beside it.

Ends with "N passed, N failed"; exits 77 (skipped) without chromium,
chromedriver or boto3 (`scripts/deps.sh test` installs them).
"""

import hashlib
import http.cookiejar
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import webdriver  # noqa: E402

for tool in (webdriver.CHROMIUM, webdriver.CHROMEDRIVER):
    if not os.access(tool, os.X_OK):
        print(f"skip: {tool} is not installed (scripts/deps.sh test)")
        sys.exit(77)
try:
    import boto3
    import botocore.config
except ImportError:
    print("skip: no boto3 for this python (scripts/deps.sh test)")
    sys.exit(77)

BUILD = os.path.abspath(sys.argv[1])
CAIRN = os.path.join(BUILD, "cairn")
ARTIFACTS = os.path.join(BUILD, "test-artifacts", "web")

passed = 0
failed = 0


def ok(name):
    global passed
    passed += 1
    print(f"ok {name}")


def bad(name, why):
    global failed
    failed += 1
    print(f"FAIL {name}: {why}")


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        bad(name, why or "false")
    return cond


def has(name, text, needle):
    return check(name, needle in text, f"{needle!r} not in {text[:700]!r}")


def lacks(name, text, needle):
    return check(name, needle not in text, f"{needle!r} in {text[:700]!r}")


# ---- the server ------------------------------------------------------------------------

W = tempfile.mkdtemp(prefix="cairn-web-")
DATA = os.path.join(W, "data")
os.makedirs(ARTIFACTS, exist_ok=True)
for old in os.listdir(ARTIFACTS):
    if old.endswith(".png"):
        os.remove(os.path.join(ARTIFACTS, old))
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("AWS_", "CAIRN_")) and "proxy" not in k.lower()}
ENV.update(HOME=os.path.join(W, "home"), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
os.makedirs(ENV["HOME"])

server_err = open(os.path.join(W, "server.err"), "w")
server = subprocess.Popen(
    [CAIRN, "serve", "--listen", "127.0.0.1:0", "--port-file", os.path.join(W, "port"),
     "--s3-listen", "127.0.0.1:0", "--s3-port-file", os.path.join(W, "s3port"),
     "--data", DATA, "--threads", "4"],
    stdout=subprocess.DEVNULL, stderr=server_err, env=ENV)


def wait_file(path):
    for _ in range(200):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read().strip()
        time.sleep(0.05)
    raise RuntimeError(f"{path} never appeared")


browser = None


def cleanup():
    if browser is not None:
        browser.quit()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    server_err.close()
    if failed == 0:
        shutil.rmtree(W, ignore_errors=True)
    else:
        print(f"kept {W} (server log: {W}/server.err)")


PORT = wait_file(os.path.join(W, "port"))
S3PORT = wait_file(os.path.join(W, "s3port"))
BASE = f"http://127.0.0.1:{PORT}"
for _ in range(200):
    try:
        urllib.request.urlopen(BASE + "/healthz", timeout=5).read()
        break
    except OSError:
        time.sleep(0.05)


def cli(*args, token=None, check_rc=True):
    env = dict(ENV, CAIRN_ENDPOINT=BASE)
    if token:
        env["CAIRN_TOKEN"] = token
    p = subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"cairn {' '.join(args)}: {p.returncode}: {p.stderr}")
    return p.stdout.strip()


def admin(*args):
    return cli("admin", *args, "--data", DATA)


admin("users", "create", "alice")
admin("users", "create", "bob")
ALICE = admin("tokens", "create", "--user", "alice", "--scope", "write")
BOB = admin("tokens", "create", "--user", "bob", "--scope", "write")
bob_key = json.loads(admin("keys", "create", "--user", "bob", "--json"))


def put(token, local, remote):
    cli("buckets", "cp", local, "cairn://buckets/" + remote, token=token)


rng = random.Random(8)
SRC = os.path.join(W, "src")
os.makedirs(SRC)


def write(name, data):
    path = os.path.join(SRC, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# alice/models (public): checkpoints that share most of their bytes, a README
cli("buckets", "create", "models", token=ALICE)
step1 = rng.randbytes(3 << 20)
step2 = bytearray(step1)
step2[1 << 20:(1 << 20) + 4096] = rng.randbytes(4096)
step2 = bytes(step2)
put(ALICE, write("step-1000.bin", step1), "alice/models/checkpoints/step-1000.bin")
put(ALICE, write("step-2000.bin", step2), "alice/models/checkpoints/step-2000.bin")
put(ALICE, write("config.json", b'{"layers": 12}\n'), "alice/models/config.json")
README = b"""# Model zoo

Checkpoints of a **small** model, trained for *two* steps.

- `checkpoints/` holds the weights
- see [the config](config.json)
- [evil](javascript:alert(1)) and [also evil](JaVaScRiPt:window.__pwned=3)

```python
print("<b>not bold</b>")
```

<script>window.__pwned = 1</script>
<img src=x onerror="window.__pwned=2">
"""
put(ALICE, write("README.md", README), "alice/models/README.md")
put(ALICE, write("ck-readme.md", b"## Checkpoint notes\n\nStep 2000 is *better*.\n"),
    "alice/models/checkpoints/README.md")
# 250 small files in one folder: three pages of 100
many = os.path.join(SRC, "many")
os.makedirs(many)
for i in range(250):
    with open(os.path.join(many, f"file-{i:03d}.txt"), "w") as f:
        f.write(f"file {i}\n")
cli("buckets", "sync", many, "cairn://buckets/alice/models/many", token=ALICE)

# alice/secret-runs (private)
cli("buckets", "create", "secret-runs", "--private", token=ALICE)
secret = rng.randbytes(200_000)
put(ALICE, write("run.bin", secret), "alice/secret-runs/run-1/metrics.bin")

# bob/hostile (public): names and a README meant to break out of the page
cli("buckets", "create", "hostile", token=BOB)
HOSTILE = [
    "<img src=x onerror=window.__pwned=2>.txt",
    "\"quoted' name.txt",
    "<svg onload=window.__pwned=4>.txt",
    "dir/<b>bold</b>.txt",
]
for i, key in enumerate(HOSTILE):
    put(BOB, write(f"h{i}", f"hostile {i}\n".encode()), "bob/hostile/" + key)
put(BOB, write("cafe", b"accent\n"), "bob/hostile/caf\u00e9.txt")
put(BOB, write("hreadme", b"# <script>alert(1)</script>\n\n[x](javascript:alert(1))\n"
                          b"\"><img src=x onerror=alert(1)>\n"), "bob/hostile/README.md")
# keys the native API refuses but S3 stores: ".." and empty segments
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{S3PORT}", region_name="us-east-1",
                  aws_access_key_id=bob_key["access_key_id"],
                  aws_secret_access_key=bob_key["secret_access_key"],
                  config=botocore.config.Config(s3={"addressing_style": "path"},
                                                retries={"max_attempts": 1}))
ESCAPE = b"escaped bytes\n" * 100
s3.put_object(Bucket="hostile", Key="../escape.txt", Body=ESCAPE)
s3.put_object(Bucket="hostile", Key="a//b.txt", Body=b"double slash\n")
# its first segment shows as a folder named "<script>window.__pwned=1<"
s3.put_object(Bucket="hostile", Key="<script>window.__pwned=1</script>.txt", Body=b"x\n")


# ---- plain HTTP beside the browser -------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def http(method, path, body=None, headers=None, cookies=None):
    """(status, headers, body bytes) without following redirects."""
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=h)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def set_cookies(headers):
    out = {}
    for v in headers.get_all("Set-Cookie") or []:
        name, _, rest = v.partition("=")
        out[name] = (rest.split(";")[0], v)
    return out


def run_http_checks():
    # methods: GET changes nothing, logout is POST only
    st, _, _ = http("GET", "/logout")
    check("GET /logout is 405", st == 405, st)
    st, h, body = http("GET", "/")
    check("home 200", st == 200, st)
    csp = h.get("Content-Security-Policy", "")
    has("pages allow no script", csp, "default-src 'none'")
    check("no script-src at all", "script-src" not in csp, csp)
    check("nosniff", h.get("X-Content-Type-Options") == "nosniff")
    check("frames denied", "frame-ancestors 'none'" in csp)
    check("pages not cached", h.get("Cache-Control") == "no-store")
    check("html content type", h.get("Content-Type", "").startswith("text/html"))
    st, h, _ = http("HEAD", "/buckets/alice/models/")
    check("HEAD of a page", st == 200, st)
    st, h, css = http("GET", "/static/cairn.css")
    check("style sheet", st == 200 and h.get("Content-Type", "").startswith("text/css"), st)

    # login CSRF: the form's token must match its cookie; other origins are refused
    st, h, body = http("GET", "/login")
    c = set_cookies(h)
    check("login form sets its CSRF cookie", "cairn_login_csrf" in c, list(c))
    token_cookie = c.get("cairn_login_csrf", ("", ""))
    check("CSRF cookie HttpOnly, SameSite=Strict",
          "HttpOnly" in token_cookie[1] and "SameSite=Strict" in token_cookie[1], token_cookie[1])
    csrf = token_cookie[0]
    has("the form carries the token", body.decode(), f'value="{csrf}"')
    form = urllib.parse.urlencode({"csrf": csrf, "token": ALICE}).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    st, h, _ = http("POST", "/login", form, ctype)  # no cookie
    check("login without the CSRF cookie is refused", st == 403, st)
    st, h, _ = http("POST", "/login", urllib.parse.urlencode({"token": ALICE}).encode(), ctype,
                    {"cairn_login_csrf": csrf})
    check("login without the form token is refused", st == 403, st)
    st, h, _ = http("POST", "/login", form, dict(ctype, Origin="http://evil.example"),
                    {"cairn_login_csrf": csrf})
    check("login from another origin is refused", st == 403, st)
    st, h, _ = http("POST", "/login", form, dict(ctype, **{"Sec-Fetch-Site": "cross-site"}),
                    {"cairn_login_csrf": csrf})
    check("login from a cross-site page is refused", st == 403, st)
    bad_form = urllib.parse.urlencode({"csrf": csrf, "token": "cairn_" + "0" * 64}).encode()
    st, h, body = http("POST", "/login", bad_form, ctype, {"cairn_login_csrf": csrf})
    check("an unknown token is 401", st == 401, st)
    has("and says so", body.decode(), "unknown or revoked")
    st, h, _ = http("POST", "/login", form, dict(ctype, Origin=BASE), {"cairn_login_csrf": csrf})
    check("login works: 303", st == 303 and h.get("Location") == "/", (st, h.get("Location")))
    sess = set_cookies(h).get("cairn_session", ("", ""))
    check("session cookie HttpOnly, SameSite=Strict, Path=/",
          all(a in sess[1] for a in ("HttpOnly", "SameSite=Strict", "Path=/")), sess[1])
    session = {"cairn_session": sess[0]}
    st, _, body = http("GET", "/buckets/alice/secret-runs/", cookies=session)
    check("the session opens the private bucket", st == 200, st)
    st, _, body = http("GET", "/buckets/alice/secret-runs/", cookies=session,
                       headers={"Authorization": "Bearer " + BOB})
    check("a Bearer token wins over the cookie", st == 404, st)
    # the cookie is not an API credential
    st, _, _ = http("GET", "/api/whoami", cookies=session)
    check("the API ignores the session cookie", st == 401, st)
    st, _, _ = http("DELETE", "/buckets/alice/models/resolve/config.json", cookies=session)
    check("no deletes on the session cookie", st == 401, st)
    # logout needs the page's token
    st, _, _ = http("POST", "/logout", b"", ctype, session)
    check("logout without its token is refused", st == 403, st)
    st, _, _ = http("POST", "/logout", b"csrf=" + b"0" * 32, ctype, session)
    check("logout with a wrong token is refused", st == 403, st)
    st, _, _ = http("GET", "/buckets/alice/secret-runs/", cookies=session)
    check("still logged in after refused logouts", st == 200, st)
    st, _, page = http("GET", "/", cookies=session)
    import re
    m = re.search(r'name="csrf" value="([0-9a-f]{32})"', page.decode())
    check("pages carry the logout token", m is not None)
    st, h, _ = http("POST", "/logout", b"csrf=" + m.group(1).encode(), ctype, session)
    check("logout: 303", st == 303, st)
    check("logout clears the cookie", "Max-Age=0" in set_cookies(h).get("cairn_session",
                                                                          ("", ""))[1])
    st, _, _ = http("GET", "/buckets/alice/secret-runs/", cookies=session)
    check("the old cookie no longer opens anything", st == 404, st)

    # a revoked token ends its sessions
    t2 = admin("tokens", "create", "--user", "alice", "--scope", "read")
    form2 = urllib.parse.urlencode({"csrf": csrf, "token": t2}).encode()
    st, h, _ = http("POST", "/login", form2, ctype, {"cairn_login_csrf": csrf})
    s2 = {"cairn_session": set_cookies(h).get("cairn_session", ("", ""))[0]}
    st, _, _ = http("GET", "/buckets/alice/secret-runs/", cookies=s2)
    check("second session works", st == 200, st)
    admin("tokens", "revoke", t2)
    st, _, _ = http("GET", "/buckets/alice/secret-runs/", cookies=s2)
    check("revoking its token ends the session", st == 404, st)

    # downloads: Range, and never rendered as a page of this origin
    st, h, body = http("GET", "/buckets/alice/models/resolve/checkpoints/step-2000.bin",
                       headers={"Range": "bytes=1048570-1048609"})
    check("download link takes Range", st == 206 and body == step2[1048570:1048610], st)
    check("downloads are sandboxed", h.get("Content-Security-Policy") == "sandbox" and
          h.get("X-Content-Type-Options") == "nosniff")
    q = urllib.parse.quote("../escape.txt", safe="")
    st, h, body = http("GET", f"/buckets/bob/hostile/resolve?path={q}")
    check("a '..' key downloads by ?path=", st == 200 and body == ESCAPE, st)
    st, _, _ = http("GET", "/buckets/alice/secret-runs/resolve/run-1/metrics.bin")
    check("private download is 404 to strangers", st == 404, st)
    # bad arguments get a page, not a crash
    for path in ("/buckets/alice/models/?limit=0", "/buckets/alice/models/?after=zz",
                 "/buckets/alice/models/?prefix=%ZZ", "/buckets/alice/models/tree?path=%00"):
        st, _, _ = http("GET", path)
        check(f"bad argument {path} is 400", st == 400, st)
    st, _, _ = http("GET", "/buckets/alice/nope/")
    check("a missing bucket is 404", st == 404, st)
    # folder URLs end with '/' (a README's relative links resolve in the folder)
    st, h, _ = http("GET", "/buckets/alice/models")
    check("bucket URL without '/' redirects", st == 308 and
          h.get("Location") == "/buckets/alice/models/", (st, h.get("Location")))
    st, h, _ = http("GET", "/buckets/alice/models/tree/checkpoints")
    check("folder URL without '/' redirects", st == 308 and
          h.get("Location") == "/buckets/alice/models/tree/checkpoints/", (st, h.get("Location")))
    # another site's page cannot log anyone out, not even by clearing a cookie
    st, h, _ = http("POST", "/logout", b"", dict(ctype, Origin="http://evil.example"))
    check("cross-site logout refused", st == 403 and not h.get_all("Set-Cookie"),
          (st, h.get_all("Set-Cookie")))
    # stored HTML never runs as a page of this host through S3 either
    hdrs = s3.get_object(Bucket="hostile", Key="a//b.txt")["ResponseMetadata"]["HTTPHeaders"]
    check("S3 downloads are sandboxed", hdrs.get("content-security-policy") == "sandbox" and
          hdrs.get("x-content-type-options") == "nosniff", hdrs)
    # a snippet names a non-ASCII key as Python reads it
    st, _, body = http("GET", "/buckets/bob/hostile/blob/" + urllib.parse.quote("caf\u00e9.txt"))
    has("Python snippet escapes non-ASCII keys", body.decode(), "caf\\u00e9.txt")
    st, _, body = http("GET", "/buckets/alice/models/blob/config.json",
                       headers={"Host": "x;touch /tmp/pwn;#"})
    check("page with a hostile Host header still served", st == 200, st)
    lacks("a hostile Host header stays out of snippets", body.decode(), "touch")
    has("a placeholder stands in for it", body.decode(), "HOST:PORT")
    st, _, _ = http("GET", "/buckets/alice/models/tree/nothing-here/")
    check("a missing folder is 404", st == 404, st)


# ---- the browser -------------------------------------------------------------------------

DL = os.path.join(W, "downloads")
os.makedirs(DL)


def shot(name):
    browser.screenshot(os.path.join(ARTIFACTS, name + ".png"))


def wait_download(name, timeout=20):
    path = os.path.join(DL, name)
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
            time.sleep(0.2)
            return open(path, "rb").read()
        time.sleep(0.1)
    return None


def run_browser_checks():
    b = browser
    # ---- home, anonymous
    b.get(BASE + "/")
    check("home title", b.title == "Buckets \u00b7 Cairn", b.title)
    t = b.text
    has("home lists alice/models", t, "alice/models")
    has("home lists bob/hostile", t, "bob/hostile")
    lacks("private bucket hidden from strangers", t, "secret-runs")
    has("a login link", t, "Log in")
    check("page language set", b.find("html").attr("lang") == "en")
    check("skip link first", b.find("body a").attr("href").endswith("#main"))
    shot("01-home-anonymous")

    # keyboard: Tab reaches the skip link first, Enter follows it
    b.press("\ue004")
    check("Tab focuses the skip link", b.active_element().text == "Skip to content",
          b.active_element().text)

    # ---- bucket page
    b.link("alice/models").follow()
    check("bucket page url", b.url.endswith("/buckets/alice/models/"), b.url)
    h1 = b.find("h1").text
    has("bucket heading", h1, "alice/models")
    has("public badge", h1, "Public")
    t = b.text
    for word in ("Logical size", "Stored size", "Dedup ratio", "Chunks", "Xorbs"):
        has(f"stats show {word}", t, word)
    dd = {e.find("dt").text: e.find("dd").text for e in b.find_all("dl.stats div")}
    check("files counted", dd.get("Files", "").replace("\u202f", "") == "255", dd)
    ratio = float(dd.get("Dedup ratio", "0").split("\u00d7")[0])
    check("dedup ratio > 1.5 (two near-identical checkpoints)", ratio > 1.5, dd)
    names = [e.text for e in b.find_all("table.listing tbody th")]
    check("listing: folders and files",
          any("checkpoints/" in n for n in names) and any("config.json" in n for n in names),
          names)
    check("breadcrumbs", b.exists("nav[aria-label=Breadcrumb] ol li a[aria-current=page]"))
    # the README, rendered safely
    check("README heading rendered", b.find(".markdown h2").text == "Model zoo")
    check("README emphasis", b.find(".markdown strong").text == "small")
    check("README list", len(b.find_all(".markdown ul li")) == 3)
    check("README code block", "print(" in b.find(".markdown pre code").text)
    hrefs = [a.prop("href") or "" for a in b.find_all(".markdown a")]
    check("README: no javascript: links", all("javascript" not in h.lower() for h in hrefs), hrefs)
    check("README: relative link resolves in the folder",
          any(h.endswith("/buckets/alice/models/config.json") for h in hrefs), hrefs)
    check("README: no script element", not b.exists(".markdown script"))
    check("README: no img element", not b.exists(".markdown img"))
    has("README: the tag shows as text", b.find(".markdown").text, "<script>window.__pwned = 1</script>")
    check("README script did not run", b.script("return typeof window.__pwned") == "undefined")
    check("no alert", not b.alert_open())
    shot("02-bucket")

    # ---- a folder, then a file
    b.find("a.dir[href$='/checkpoints/']").follow()
    check("folder url", b.url.endswith("/buckets/alice/models/tree/checkpoints/"), b.url)
    has("folder heading", b.find("h1").text, "checkpoints/")
    t = b.text
    has("folder count", t, "3 files")
    crumbs = [e.text for e in b.find_all("nav[aria-label=Breadcrumb] li")]
    check("folder breadcrumbs", crumbs == ["Buckets", "alice/models", "checkpoints"], crumbs)
    has("folder README", b.find(".markdown").text, "Step 2000 is better.")
    rows = {e.find("th").text: e.find("td.num").text
            for e in b.find_all("table.listing tbody tr")}
    check("sizes shown", rows.get("step-2000.bin") == "3.00 MiB", rows)
    check("mtime shown", len(b.find_all("table.listing tbody time")) == 3)
    shot("03-folder")

    b.find("a.file[href$='step-2000.bin']").follow()
    check("file url", b.url.endswith("/buckets/alice/models/blob/checkpoints/step-2000.bin"), b.url)
    facts = {e.find("dt").text: e.find("dd").text for e in b.find_all("dl.facts div")}
    want_hash = json.loads(cli("hash", "--json", os.path.join(SRC, "step-2000.bin")))[0]["hash"]
    check("xet hash shown", facts.get("Xet hash") == want_hash, facts)
    check("size shown", "3145728 bytes" in facts.get("Size", ""), facts)
    chunks = int(facts.get("Chunks", "0").replace("\u202f", ""))
    xorbs = int(facts.get("Xorbs", "0").replace("\u202f", ""))
    check("chunk count plausible (3 MiB / 8..128 KiB)", 24 <= chunks <= 400, chunks)
    check("xorb count at least 1", xorbs >= 1, xorbs)
    snippets = {e.find("h3").text: e.find("pre").text for e in b.find_all(".snippet")}
    has("CLI snippet", snippets.get("Cairn CLI", ""),
        "cairn buckets cp 'cairn://buckets/alice/models/checkpoints/step-2000.bin'")
    has("Python snippet", snippets.get("Python", ""), "client.download_file(")
    has("S3 snippet", snippets.get("S3 (aws-cli)", ""),
        f"s3://alice--models/checkpoints/step-2000.bin")
    has("S3 snippet endpoint", snippets.get("S3 (aws-cli)", ""), f":{S3PORT}")
    has("curl snippet", snippets.get("curl", ""), "/resolve/checkpoints/step-2000.bin")
    shot("04-file")
    b.link("Download").click()
    got = wait_download("step-2000.bin")
    check("download link gives the bytes", got == step2,
          "no file" if got is None else f"{len(got)} bytes")

    # ---- pagination and the filter on a folder of 250
    b.get(BASE + "/buckets/alice/models/tree/many/")
    check("first page: 100 rows", len(b.find_all("table.listing tbody tr")) == 100)
    b.find("a[rel=next]").follow()
    rows = [e.text for e in b.find_all("table.listing tbody th")]
    check("second page starts after the first",
          len(rows) == 100 and rows[0].endswith("file-100.txt"), rows[:2])
    b.find("a[rel=next]").follow()
    rows = [e.text for e in b.find_all("table.listing tbody th")]
    check("last page: 50 rows, no next",
          len(rows) == 50 and rows[-1].endswith("file-249.txt") and not b.exists("a[rel=next]"),
          (len(rows), rows[-1:]))
    b.link("First page").follow()
    check("first page again", b.find("table.listing tbody th").text.endswith("file-000.txt"))
    field = b.find("input#prefix")
    check("filter field labelled", b.find("label[for=prefix]").text == "Names starting with")
    field.send_keys("file-12")
    b.find("form.filter button").follow()
    rows = [e.text for e in b.find_all("table.listing tbody th")]
    check("filter: 10 matches", len(rows) == 10 and all("file-12" in r for r in rows), rows)
    has("filter count", b.text, "10 files")
    shot("05-filtered")

    # ---- hostile names render as text
    b.get(BASE + "/buckets/bob/hostile/")
    names = [e.text for e in b.find_all("table.listing tbody th")]
    for key in HOSTILE[:3]:
        check(f"hostile name shown as text: {key}", any(key in n for n in names), names)
    check("'..' shows as a folder", any(n.endswith("../") for n in names), names)
    check("a <script> folder name is text",
          any(n.endswith("<script>window.__pwned=1</") for n in names), names)
    check("no script ran", b.script("return typeof window.__pwned") == "undefined")
    check("no element injected", not b.exists("table.listing script, table.listing img, "
                                              "table.listing b"))
    src = b.source
    lacks("no raw <script> in the page", src, "<script")
    has("hostile README heading is text", b.find(".markdown h2").text, "<script>alert(1)</script>")
    shot("06-hostile")
    b.find("a.file[href*='quoted']").follow()
    check("quoted name's file page", b.find("h1").text == "\"quoted' name.txt", b.find("h1").text)
    has("shell snippet quoting", b.find(".snippet pre").text, "'\"quoted'\\''")
    b.get(BASE + "/buckets/bob/hostile/")
    b.find("a.dir[href*='path=..']").follow()
    names = [e.text for e in b.find_all("table.listing tbody th")]
    check("the '..' folder lists its file", any(n.endswith("escape.txt") for n in names), names)
    b.find("a.file").follow()
    check("'..' file page", b.find("h1").text == "escape.txt", b.find("h1").text)
    has("'..' file path", b.text, "../escape.txt")
    b.link("Download").click()
    got = wait_download("escape.txt")
    check("'..' file downloads", got == ESCAPE, "no file" if got is None else len(got))
    # "a//b.txt": folder "a", in it a folder with an empty name, in that b.txt
    b.get(BASE + "/buckets/bob/hostile/")
    b.find("a.dir[href$='/tree/a/']").follow()
    names = [e.text for e in b.find_all("table.listing tbody th")]
    check("the empty-named folder shows as '/'", "/" in names, names)
    b.find("a.dir[href*='path=a%2F%2F']").follow()
    names = [e.text for e in b.find_all("table.listing tbody th")]
    check("and lists b.txt", any(n.endswith("b.txt") for n in names), names)
    b.find("a.file").follow()
    has("'a//b.txt' file page", b.text, "a//b.txt")
    # a README's relative link from the top folder
    b.get(BASE + "/buckets/alice/models/")
    b.find(".markdown a[href='config.json']").follow()
    check("relative README link opens the file page", b.find("h1").text == "config.json",
          b.url)

    # ---- private bucket: 404 to strangers, then log in
    b.get(BASE + "/buckets/alice/secret-runs/")
    has("private bucket 404 page", b.find("h1").text, "Not found")
    b.get(BASE + "/login")
    check("token field labelled", b.find("label[for=token]").text == "Access token")
    check("token field is a password field", b.find("#token").attr("type") == "password")
    b.find("#token").send_keys("cairn_" + "f" * 64)
    b.find("form.login button").follow()
    has("a bad token is refused", b.find("[role=alert]").text, "unknown or revoked")
    shot("07-login-refused")
    b.find("#token").send_keys(ALICE)
    b.find("form.login button").follow()
    check("after login: home", b.url == BASE + "/", b.url)
    t = b.text
    has("signed in", t, "Signed in as alice")
    has("your buckets section", t, "Your buckets")
    has("the private bucket appears", t, "alice/secret-runs")
    cookies = {c["name"]: c for c in b.cookies()}
    sc = cookies.get("cairn_session", {})
    check("session cookie is HttpOnly", sc.get("httpOnly") is True, sc)
    check("session cookie is SameSite=Strict", sc.get("sameSite") == "Strict", sc)
    check("scripts cannot read it", "cairn_session" not in b.script("return document.cookie"))
    shot("08-home-logged-in")
    b.link("alice/secret-runs").follow()
    has("private badge", b.find("h1").text, "Private")
    b.find("a.dir").follow()
    b.find("a.file").follow()
    has("private file page warns about tokens", b.text, "needs a token")
    b.link("Download").click()
    got = wait_download("metrics.bin")
    check("private download with the session", got == secret,
          "no file" if got is None else len(got))
    shot("09-private-file")

    # ---- log out: the private bucket disappears
    b.find("nav.account button").follow()
    check("after logout: home", b.url == BASE + "/", b.url)
    t = b.text
    lacks("private bucket gone from home", t, "secret-runs")
    has("login link back", t, "Log in")
    b.get(BASE + "/buckets/alice/secret-runs/")
    has("private bucket 404 again", b.find("h1").text, "Not found")
    shot("10-logged-out")

    # ---- narrow screens: the layout reflows (no horizontal scroll)
    b.set_size(400, 800)
    b.get(BASE + "/buckets/alice/models/tree/checkpoints/")
    wide = b.script("return document.documentElement.scrollWidth > "
                    "document.documentElement.clientWidth + 1")
    check("no horizontal scroll at 400 px", wide is False, wide)
    shot("11-narrow")


try:
    run_http_checks()
    browser = webdriver.Browser(W, DL)
    run_browser_checks()
except Exception:
    bad("unexpected exception", traceback.format_exc())
finally:
    cleanup()
print(f"screenshots in {ARTIFACTS}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
