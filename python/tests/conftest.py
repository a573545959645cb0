"""conftest.py - fixtures for the cairn package's tests: the package from this
tree, a live `cairn serve` on a free port of 127.0.0.1 over a scratch data
directory (stopped by its PID at the end), users and tokens made with
`cairn admin`, and HOME pointed at a scratch directory so that no real
config file or CAIRN_* variable leaks in.

Environment: CAIRN_LIB (the libcairn.so under test; default ../../build/)
and CAIRN_CLI (the cairn binary; default: beside CAIRN_LIB).
"""

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)
REPO = os.path.dirname(PYROOT)
sys.path.insert(0, PYROOT)

import cairn  # noqa: E402  (the package of this tree)


def build_dir():
    lib = os.environ.get("CAIRN_LIB")
    if lib:
        return lib if os.path.isdir(lib) else os.path.dirname(os.path.abspath(lib))
    return os.path.join(REPO, "build")


def cli_path():
    return os.environ.get("CAIRN_CLI") or os.path.join(build_dir(), "cairn")


@pytest.fixture(scope="session")
def cli():
    """The cairn binary."""
    p = cli_path()
    if not os.access(p, os.X_OK):
        pytest.skip("no cairn binary at %s (set CAIRN_CLI)" % p)
    return p


@pytest.fixture(scope="session", autouse=True)
def scratch_home(tmp_path_factory):
    """HOME in a scratch directory; no CAIRN_* or XDG_CONFIG_HOME from outside."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ["HOME"] = str(home)
    for k in ("XDG_CONFIG_HOME", "CAIRN_ENDPOINT", "CAIRN_TOKEN"):
        os.environ.pop(k, None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


class Server:
    """A running `cairn serve`: url, admin token, data directory, pid."""

    def __init__(self, cli, url, token, data, pid):
        self.cli, self.url, self.token, self.data, self.pid = cli, url, token, data, pid

    def admin(self, *args):
        """`cairn admin ARGS --data DATA`; its stdout, stripped."""
        out = subprocess.run([self.cli, "admin", *args, "--data", self.data], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return out.stdout.strip()

    def token_for(self, user, scope):
        return self.admin("tokens", "create", "--user", user, "--scope", scope)


@pytest.fixture(scope="session")
def server(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("srv")
    data, port_file = str(d / "data"), str(d / "port")
    with open(d / "err", "wb") as err:
        proc = subprocess.Popen([cli, "serve", "--listen", "127.0.0.1:0", "--port-file",
                                 port_file, "--data", data, "--threads", "4"],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 20
        while not (os.path.exists(port_file) and os.path.getsize(port_file)):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("cairn serve did not start: %s" % (d / "err").read_text())
            time.sleep(0.05)
        url = "http://127.0.0.1:%s" % open(port_file).read().strip()
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        token = open(os.path.join(data, "admin-token")).read().strip()
        yield Server(cli, url, token, data, proc.pid)
    finally:
        import gc
        gc.collect()  # clients left by the tests close their kept-alive connections
        os.kill(proc.pid, signal.SIGTERM)
        try:
            # the server drains open connections for up to 30 s on SIGTERM
            # (a client a test never closed holds one): the data is scratch
            proc.wait(3)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(str(d), ignore_errors=True)  # the stored data (pytest keeps tmp dirs)


@pytest.fixture(scope="session")
def admin(server):
    """A Client with the admin token."""
    with cairn.Client(server.url, server.token) as c:
        yield c


@pytest.fixture(scope="session")
def users(server):
    """Tokens: alice (write, read), bob (write)."""
    server.admin("users", "create", "alice")
    server.admin("users", "create", "bob")
    return {"alice": server.token_for("alice", "write"),
            "alice-read": server.token_for("alice", "read"),
            "bob": server.token_for("bob", "write")}


_n = itertools.count()


@pytest.fixture
def bucket(admin, request):
    """A fresh public bucket admin/t<N>-<test>, deleted (force) afterwards: "admin/NAME"."""
    name = "t%d-%s" % (next(_n), request.node.name.replace("_", "-")[:40].strip("-[]"))
    name = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in name.lower())
    admin.create_bucket("admin/" + name)
    yield "admin/" + name
    admin.delete_bucket("admin/" + name, force=True, missing_ok=True)


def write(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def keys(client, path):
    """Every key under a bucket path."""
    return [e.path for e in client.list_bucket_tree(path, recursive=True)]


def metric(server, line_start):
    """The value of the server's /metrics line that starts with line_start
    (a name, with its labels if it has any)."""
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise KeyError(line_start)


def upload_memory_held(server, within=10.0):
    """The server's memory reserved for uploads in flight, once it is 0 or
    `within` seconds have passed (a canceled upload must not keep it)."""
    deadline = time.time() + within
    while True:
        held = metric(server, "cairn_upload_memory_bytes")
        if held == 0 or time.time() > deadline:
            return held
        time.sleep(0.1)
