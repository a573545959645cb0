"""proxy.py PORT_FILE TARGET DELAY_MS - a slow link for the region tests.

Forwards every request to TARGET (an http://host:port) after DELAY_MS,
counts them, and answers GET /__count itself. Standard library only.
"""
import http.client
import http.server
import socketserver
import sys
import threading
import time
import urllib.parse

PORT_FILE, TARGET, DELAY = sys.argv[1], urllib.parse.urlsplit(sys.argv[2]), float(sys.argv[3]) / 1000
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        global count
        if self.path == "/__count":
            body = str(count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with lock:
            count += 1
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        time.sleep(DELAY)
        conn = http.client.HTTPConnection(TARGET.hostname, TARGET.port, timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


s = Server(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(PORT_FILE + ".tmp", PORT_FILE)
s.serve_forever()
