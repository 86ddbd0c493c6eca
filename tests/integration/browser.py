"""browser - headless Chromium driven over the DevTools protocol (--remote-debugging-pipe), for
the tests that need a real browser (tests/examples/test_events_browser.py,
tests/integration/test_websocket_browser.py).

    browser = chromium()                       # None when not installed: skip (exit 77)
    with Chromium(deadline) as dt:              # a fresh profile, loopback only
        session = dt.new_page()
        dt.call("Page.navigate", session, url=...)
        dt.wait_event("Page.loadEventFired")
        dt.evaluate(session, "new Promise(...)")  # the promise's value

Why the pipe and not --dump-dom: --dump-dom dumps the DOM as soon as the page has loaded,
before anything has arrived on a stream the page opened, and --virtual-time-budget never runs
out while a request is open, so with an EventSource or a WebSocket that never ends Chromium
just hangs. Over the pipe the test instead waits, inside the page, for what it expects (a
MutationObserver, a message), with a deadline, and reads what the page saw.
Loopback only: every host name but 127.0.0.1 fails to resolve, and background networking
(updates, sync, metrics) is off. Every read from the pipe has the caller's deadline.
"""
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

__all__ = ["Chromium", "DevTools", "chromium", "chromium_argv"]


def chromium():
    """Path of the Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_argv(browser, profile, extra=()):
    """Headless, loopback-only Chromium with its profile under `profile`."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--metrics-recording-only", "--disable-crash-reporter",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--user-data-dir=" + os.path.join(profile, "data")] + list(extra) + ["about:blank"]


def chromium_env(profile):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
    return env


class DevTools:
    """The DevTools protocol over Chromium's pipe: JSON messages ending in NUL, commands on
    its fd 3, replies and events from its fd 4. Every wait ends at `deadline` (monotonic)."""

    def __init__(self, argv, env, deadline):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():  # in the child: the pipe's ends at 3 and 4, by way of free numbers
            r, w = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w,
                                                                             fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(argv + ["--remote-debugging-pipe"], env=env, preexec_fn=fds,
                                     pass_fds=(3, 4),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.started = time.monotonic()
        self.deadline = deadline
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.stderr = ""

    def _message(self):
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no answer from Chromium within %.0f s"
                                     % (self.deadline - self.started))
            r, _, _ = select.select([self.from_browser], [], [], left)
            if r:
                data = os.read(self.from_browser, 65536)
                if not data:
                    self.proc.wait(10)
                    raise AssertionError("Chromium closed its pipe (exit status %r):\n%s" % (
                        self.proc.returncode, self.proc.stderr.read()[-3000:].decode("replace")))
                self.buf += data
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m["result"]
            self.events.append(m)

    def wait_event(self, method, match=None):
        """The first event `method` (for which `match(event)` holds), waited for."""
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method and (match is None or match(m)):
                    return self.events.pop(i)
            self.events.append(self._message())

    def events_of(self, method):
        """Events `method` received so far (kept)."""
        return [m for m in self.events if m.get("method") == method]

    def new_page(self):
        """A new tab, attached (flat sessions); returns its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        return self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, session, expression):
        """Runs `expression` in the page, awaits it if it is a promise; returns its value
        (JSON). A thrown exception fails the test with its description."""
        result = self.call("Runtime.evaluate", session, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError("the page's script threw: %s" % json.dumps(
                result["exceptionDetails"])[:2000])
        return result["result"].get("value")

    def ms_left(self, margin=2.0):
        """Milliseconds until the deadline less `margin` seconds (for the page's timers)."""
        return max(int((self.deadline - time.monotonic() - margin) * 1000), 0)

    def close(self):
        try:
            self.call("Browser.close")
            self.proc.wait(10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stderr.close()
        os.close(self.to_browser)
        os.close(self.from_browser)


class Chromium:
    """`with Chromium(deadline, extra_args) as dt:` a DevTools on a fresh headless Chromium
    with a temporary profile, closed (and the profile removed) on leaving."""

    def __init__(self, deadline, extra=()):
        self.deadline = deadline
        self.extra = list(extra)
        self.dt = None

    def __enter__(self):
        browser = chromium()
        if browser is None:
            raise AssertionError("chromium not installed")
        self.profile = tempfile.mkdtemp(prefix="mote-chromium-")
        try:
            self.dt = DevTools(chromium_argv(browser, self.profile, self.extra),
                               chromium_env(self.profile), self.deadline)
        except BaseException:
            shutil.rmtree(self.profile, True)
            raise
        return self.dt

    def __exit__(self, *a):
        try:
            self.dt.close()
        finally:
            shutil.rmtree(self.profile, True)
        return False
