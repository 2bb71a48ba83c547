"""Real-browser tests: the real livefeed binaries on a free loopback port, driven by Debian's headless Chromium.

Environment:
  LIVEFEED_BIN_DIR   where `livefeed` and `livefeed-worker` are (default: .build/debug of this checkout)
  ARTIFACTS_DIR      where screenshots go (default: .artifacts/screenshots of this checkout)
  LIVEFEED_KEEP_TMP  keep each server's temp folder (database, logs) for a post-mortem
"""

import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("LIVEFEED_BIN_DIR", os.path.join(ROOT, ".build", "debug"))
ARTIFACTS = os.environ.get("ARTIFACTS_DIR", os.path.join(ROOT, ".artifacts", "screenshots"))

DESKTOP = (1280, 900)
PHONE = (390, 844)


class Server:
    """One livefeed supervisor (and its workers) in its own process group and temp folder."""

    def __init__(self, args=(), workers=2, token=None):
        self.token = token
        self.dir = tempfile.mkdtemp(prefix="livefeed-browser-")
        self.db = os.path.join(self.dir, "livefeed.db")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [os.path.join(BIN_DIR, "livefeed"), "--listen", "127.0.0.1:0", "--workers", str(workers),
             "--db", self.db, *args],
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True,
            env={**{k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")},
                 **({"LIVEFEED_ACCESS_TOKEN": token} if token else {})})
        self.address = self._wait_ready()
        self.base = "http://" + self.address

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records():
                if record.get("event") == "ready":
                    return record["address"]
            if self.proc.poll() is not None:
                raise RuntimeError("livefeed exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise RuntimeError("livefeed did not become ready:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def records(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    # HTTP

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, text, channel="general", user="alice"):
        """Posts one message through the API; returns its id."""
        status, body = self.request("POST", "/api/messages", {"channel": channel, "user": user, "text": text})
        assert status == 201, "POST /api/messages: %s %s" % (status, body)
        return json.loads(body)["ids"][0]

    def post_many(self, texts, channel="general", user="alice", retry_unavailable_for=0):
        """Posts messages in one request; returns their ids. With `retry_unavailable_for` seconds, a 503 (no worker
        up yet) is retried until then."""
        items = [{"channel": channel, "user": user, "text": t} for t in texts]
        deadline = time.monotonic() + retry_unavailable_for
        while True:
            try:
                status, body = self.request("POST", "/api/messages", items)
            except (ConnectionError, urllib.error.URLError) as e:
                status, body = 503, str(e)
            if status != 503 or time.monotonic() >= deadline:
                break
            time.sleep(0.05)  # bounded by the deadline: waiting for the supervisor to restart its workers
        assert status == 201, "POST /api/messages: %s %s" % (status, body)
        return json.loads(body)["ids"]

    def get_json(self, path):
        status, body = self.request("GET", path)
        assert status == 200, "GET %s: %s %s" % (path, status, body)
        return json.loads(body)

    def channel_id(self, name):
        return next(c["id"] for c in self.get_json("/api/channels")["channels"] if c["name"] == name)

    def user_id(self, name):
        return next(u["id"] for u in self.get_json("/api/users")["users"] if u["name"] == name)

    def insert_directly(self, channel_id, user_id, text):
        """Writes a message the way any other program may: a plain INSERT into the shared database."""
        db = sqlite3.connect(self.db, timeout=10)
        try:
            with db:
                cur = db.execute("INSERT INTO messages (channel_id, user_id, text, sent_at) VALUES "
                                 "(?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", (channel_id, user_id, text))
                return cur.lastrowid
        finally:
            db.close()

    # Workers

    def worker_pids(self):
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and len(argv) > 1 and argv[1] == b"serve":
                pids.append(int(entry))
        return pids

    def kill_workers(self):
        pids = self.worker_pids()
        assert pids, "no workers to kill"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything the server left behind
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()
        if os.environ.get("LIVEFEED_KEEP_TMP"):
            print("livefeed temp folder kept: " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def start_server():
    """Starts servers on demand (`start_server(args=[...])`); stops every one of them after the test."""
    servers = []

    def start(args=(), workers=2, token=None):
        s = Server(args=args, workers=workers, token=token)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def expected_error(message):
    """Console errors a page shows by design: failed live connections (the browser's own line, and htmx logging
    its htmx:wsError event as "Event") and failed polls while the server is down."""
    return ("/live/" in message or "favicon" in message or "/fragments/" in message
            or ("/static/htmx.min.js" in message and message.endswith(" Event")))


def chromium_options():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    # Loopback only: every other host resolves to nothing, and anything not on loopback would go to a proxy that
    # does not exist. (Chromium sends loopback directly by default; adding `<-loopback>` to the bypass list would
    # send loopback to that dead proxy too.)
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                "--hide-scrollbars", "--disable-background-networking", "--no-first-run",
                "--window-size=%d,%d" % DESKTOP]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture(scope="session")
def _driver():
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=chromium_options())
    yield driver
    driver.quit()


@pytest.fixture
def browser(_driver):
    """The session's Chromium at desktop size, on a blank page; JavaScript errors fail the test."""
    _driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    _driver.get("about:blank")
    _driver.get_log("browser")  # drop what earlier tests left
    yield _driver
    errors = [e for e in _driver.get_log("browser") if e["level"] == "SEVERE" and not expected_error(e["message"])]
    _driver.get("about:blank")
    assert not errors, "browser console errors: %s" % errors


# Helpers for tests

def state(driver):
    return driver.find_element("id", "live-status").get_attribute("data-state")


def wait_for_state(driver, wanted, timeout=10):
    WebDriverWait(driver, timeout, poll_frequency=0.02).until(
        lambda d: state(d) == wanted, "#live-status never became %r" % wanted)


def record_states(driver):
    """Records every change of #live-status[data-state] in window.__states, so a brief state is not missed."""
    driver.execute_script("""
        window.__states = [document.getElementById('live-status').getAttribute('data-state')];
        new MutationObserver(function () {
          var s = document.getElementById('live-status').getAttribute('data-state');
          if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
        }).observe(document.getElementById('live-status'), {attributes: true, attributeFilter: ['data-state']});
    """)


def recorded_states(driver):
    return driver.execute_script("return window.__states")


def copies_of(driver, element_id):
    return driver.execute_script("return document.querySelectorAll('[id=\"' + arguments[0] + '\"]').length",
                                 element_id)


def message_ids(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#messages > li[id^=\"msg-\"]'))"
        ".map(function (li) { return Number(li.id.slice(4)); })")


def screenshot(driver, name, size=DESKTOP, full_page=True):
    """Saves a PNG at `size` (CSS pixels; `PHONE` emulates a phone) as ARTIFACTS/name.png: the whole page from the
    top, or (`full_page=False`) just what the reader sees where they are."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    width, height = size
    mobile = width < 600
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile})
    if full_page:
        scrolled = driver.execute_script("var y = window.scrollY; window.scrollTo(0, 0); return y")
        full = driver.execute_script("return Math.max(document.documentElement.scrollHeight, arguments[0])", height)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(full, 4000), "scale": 1}})
        driver.execute_script("window.scrollTo(0, arguments[0])", scrolled)
    else:
        driver.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    path = os.path.join(ARTIFACTS, name + ".png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path
