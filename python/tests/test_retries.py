"""Which answers the client sends a request again after, against a stub
server on 127.0.0.1 that answers every request 503: a SlowDown with
Retry-After (the server did not act) is retried whatever the request; a
bare 503 (a proxy's, perhaps after the server acted) is retried only for
an idempotent request, never for a create."""

import http.server
import threading

import pytest

import cairn


class _Stub(http.server.BaseHTTPRequestHandler):
    retry_after = None  # the Retry-After header to send, or None

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.server.seen.append((self.command, self.path))
        body = b'{"error":{"code":"SlowDown","message":"busy"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.server.retry_after is not None:
            self.send_header("Retry-After", self.server.retry_after)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    srv.seen = []
    srv.retry_after = None
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(srv):
    return cairn.Client("http://127.0.0.1:%d" % srv.server_address[1], "cairn_stub")


def test_bare_503_create_is_sent_once(stub):
    with _client(stub) as c, pytest.raises(cairn.errors.CairnError):
        c.create_bucket("ns/b")
    assert [m for m, _ in stub.seen] == ["POST"]


def test_bare_503_idempotent_is_retried(stub):
    with _client(stub) as c, pytest.raises(cairn.errors.CairnError):
        c.whoami()
    assert len(stub.seen) == 4 and {m for m, _ in stub.seen} == {"GET"}


def test_slow_down_create_is_retried(stub):
    stub.retry_after = "1"
    with _client(stub) as c, pytest.raises(cairn.errors.CairnError, match="busy"):
        c.create_bucket("ns/b")
    assert [m for m, _ in stub.seen] == ["POST"] * 4
