# live.py - what the Python tests that drive live `cairn serve` processes
# share (tests/abuse/run.py, tests/limits/run.py): "ok NAME" / "FAIL NAME:
# why" lines and their count, servers on free ports of 127.0.0.1 that are
# stopped at the end, and plain HTTP requests from a chosen source address
# (every 127.x.y.z is this machine). Standard library only.
import http.client
import os
import socket
import subprocess
import sys
import time

passed = failed = 0
servers = []


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok " + name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))
    sys.stdout.flush()


def fail(name, why):
    check(name, False, why)


def free_port():
    """A port free now (for a node whose URL must be known before it starts)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_up(port, proc=None):
    for _ in range(600):
        if proc is not None and proc.poll() is not None:
            raise SystemExit("the server on %d exited (%d)" % (port, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server on %d did not start" % port)


class Server:
    """`cairn serve` on 127.0.0.1: .port, and .s3 when s3=True; stderr in DIR/NAME.err."""

    def __init__(self, cairn, data, logdir, name, *args, s3=False, port=0):
        pf, spf = os.path.join(logdir, name + ".port"), os.path.join(logdir, name + ".s3port")
        cmd = [cairn, "serve", "--listen", "127.0.0.1:%d" % port, "--port-file", pf,
               "--data", data, *args]
        if s3:
            cmd += ["--s3-listen", "127.0.0.1:0", "--s3-port-file", spf]
        self.name = name
        self.err = os.path.join(logdir, name + ".err")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))
        servers.append(self)
        self.port = self._read(pf)
        self.s3 = self._read(spf) if s3 else None
        wait_up(self.port, self.proc)

    def _read(self, path):
        for _ in range(1200):
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("cairn serve exited (%d): see %s" % (self.proc.returncode,
                                                                      self.err))
            time.sleep(0.05)
        raise SystemExit("cairn serve wrote no %s" % path)


def stop_all():
    """SIGTERM every server; each must stop with status 0 and no sanitizer report
    in its log (what a sanitized build says only at exit)."""
    for s in servers:
        s.proc.terminate()
    for s in servers:
        try:
            rc = s.proc.wait(60)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            rc = "killed: did not stop in 60 s"
        with open(s.err, errors="replace") as f:
            bad = [line.strip() for line in f if "Sanitizer" in line or "runtime error" in line]
        check("%s server stopped cleanly" % s.name, rc == 0 and not bad, (rc, bad[:3]))


def req(port, method, path, headers=None, body=None, source=None, timeout=120):
    """One request on a connection of its own: (status, headers, body). Headers
    keep every Set-Cookie, joined."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    h = dict(r.getheaders())
    h["Set-Cookie"] = "; ".join(r.msg.get_all("Set-Cookie") or [])
    return r.status, h, data


def connect(port, source=None, timeout=120):
    return socket.create_connection(("127.0.0.1", port), timeout,
                                    source_address=(source, 0) if source else None)


def read_all(sock):
    """What sock receives until the server closes it (a reset ends it too)."""
    out = b""
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        pass
    return out


def raw(port, data, source=None, timeout=120):
    """Send data as it is on a connection of its own; all the server answers
    until it closes the connection (b"" if it closed without a word)."""
    s = connect(port, source, timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_all(s)
    finally:
        s.close()


def status_of(answer):
    """The status code of a raw answer, or None."""
    parts = answer.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def finish(workdir=None):
    """Stop the servers, remove workdir, print the count; the exit status."""
    import shutil
    stop_all()
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
