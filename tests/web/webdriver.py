"""webdriver.py - a small W3C WebDriver client over the standard library,
enough to drive Debian's chromium through chromedriver in the page tests
(tests/web/test_web.py). No PyPI: urllib and json only.
"""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# The flags the workplace's machines need: no sandbox as root, no GPU, and
# none of Chromium's own connections (the network is closed to them).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


class WebDriverError(Exception):
    def __init__(self, status, error, message):
        super().__init__(f"{status} {error}: {message}")
        self.error = error


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, browser, eid):
        self.b = browser
        self.id = eid

    def _url(self, tail=""):
        return f"/element/{self.id}{tail}"

    @property
    def text(self):
        return self.b.cmd("GET", self._url("/text"))

    def attr(self, name):
        return self.b.cmd("GET", self._url(f"/attribute/{name}"))

    def prop(self, name):
        return self.b.cmd("GET", self._url(f"/property/{name}"))

    @property
    def tag(self):
        return self.b.cmd("GET", self._url("/name"))

    def click(self):
        self.b.cmd("POST", self._url("/click"), {})

    def follow(self, timeout=20):
        """Click something that loads a new page, and wait until it has."""
        old = self.b.find("html")
        self.click()
        self.b.wait_replaced(old, timeout)

    def send_keys(self, text):
        self.b.cmd("POST", self._url("/value"), {"text": text})

    def find(self, css):
        v = self.b.cmd("POST", self._url("/element"), {"using": "css selector", "value": css})
        return Element(self.b, v[ELEMENT])

    def find_all(self, css):
        v = self.b.cmd("POST", self._url("/elements"), {"using": "css selector", "value": css})
        return [Element(self.b, e[ELEMENT]) for e in v]


class Browser:
    """One chromedriver, one Chromium session with a fresh profile."""

    def __init__(self, workdir, download_dir):
        self.port = free_port()
        self.log = open(os.path.join(workdir, "chromedriver.log"), "w")
        self.driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                self._http("GET", "/status")
                break
            except OSError:
                time.sleep(0.05)
        profile = os.path.join(workdir, "chromium-profile")
        os.makedirs(profile, exist_ok=True)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": CHROMIUM_ARGS + [f"--user-data-dir={profile}",
                                         "--window-size=1280,900"],
                "prefs": {"download.default_directory": download_dir,
                          "download.prompt_for_download": False,
                          "safebrowsing.enabled": False},
            },
        }}}
        v = self._http("POST", "/session", caps)
        self.session = v["sessionId"]
        # headless Chromium saves downloads only where it is told to
        self.cmd("POST", "/goog/cdp/execute",
                 {"cmd": "Browser.setDownloadBehavior",
                  "params": {"behavior": "allow", "downloadPath": download_dir}})

    def _http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                v = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            v = json.loads(e.read() or b"{}")
            val = v.get("value", {})
            raise WebDriverError(e.code, val.get("error"), val.get("message", "")[:300])
        return v.get("value", v) if path != "/session" else v.get("value", v)

    def cmd(self, method, tail, body=None):
        return self._http(method, f"/session/{self.session}{tail}", body)

    # ---- navigation and the page
    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    @property
    def url(self):
        return self.cmd("GET", "/url")

    @property
    def title(self):
        return self.cmd("GET", "/title")

    @property
    def source(self):
        return self.cmd("GET", "/source")

    def find(self, css):
        v = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, v[ELEMENT])

    def find_all(self, css):
        v = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in v]

    def wait_replaced(self, old, timeout=20):
        """Wait until element old is gone (a new document) and the new one has loaded."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                old.tag
            except WebDriverError as e:
                # the old document is gone (chromedriver words it more than one way)
                if e.error in ("stale element reference", "no such element") or \
                        "does not belong to the document" in str(e) or \
                        "No node with given id" in str(e):
                    break
                raise
            time.sleep(0.02)
        else:
            raise TimeoutError("the page did not change")
        while time.time() < end:
            if self.script("return document.readyState") == "complete":
                return
            time.sleep(0.02)
        raise TimeoutError("the new page did not finish loading")

    def link(self, text):
        v = self.cmd("POST", "/element", {"using": "link text", "value": text})
        return Element(self, v[ELEMENT])

    def exists(self, css):
        return len(self.find_all(css)) > 0

    @property
    def text(self):
        """What a person sees of the page."""
        return self.find("body").text

    def script(self, js, *args):
        return self.cmd("POST", "/execute/sync", {"script": js, "args": list(args)})

    def cookies(self):
        return self.cmd("GET", "/cookie")

    def alert_open(self):
        try:
            self.cmd("GET", "/alert/text")
            return True
        except WebDriverError as e:
            if e.error == "no such alert":
                return False
            raise

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return png

    def set_size(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def active_element(self):
        v = self.cmd("GET", "/element/active")
        return Element(self, v[ELEMENT])

    def press(self, key):
        """One key press (e.g. '\\ue004' Tab, '\\ue007' Enter) through the actions API."""
        self.cmd("POST", "/actions", {"actions": [{
            "type": "key", "id": "keyboard",
            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})

    def quit(self):
        try:
            self._http("DELETE", f"/session/{self.session}")
        except Exception:
            pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.log.close()
