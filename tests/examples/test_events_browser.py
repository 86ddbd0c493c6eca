"""examples/events.c in a real browser: headless Chromium loads the page, its EventSource
connects to /events, and the number shown must move past its initial "-" and keep counting.

Why the DevTools protocol (over --remote-debugging-pipe) and not --dump-dom: --dump-dom dumps
the DOM as soon as the page has loaded, before any event has arrived, and
--virtual-time-budget never runs out while a request is open, so with an EventSource that
never ends Chromium just hangs. Over the pipe the test instead waits, inside the page, for
the number to change (a MutationObserver), with a deadline, and reads what it saw.
Loopback only: every host name but 127.0.0.1 fails to resolve, and background networking
(updates, sync, metrics) is off. Exits 77 (skipped) when Chromium is not installed.
"""
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from exampleharness import Example, main

BROWSER_TIMEOUT = 60.0    # Chromium's start on a loaded machine, the page, and three events

# In the page: resolves with the texts the counter showed, once three numbers have been seen
# (or after the deadline, with what there is).
WATCH = """
new Promise((resolve) => {
  const el = document.getElementById('n');
  const seen = [el.textContent];
  const look = () => {
    if (el.textContent !== seen[seen.length - 1]) seen.push(el.textContent);
    if (seen.filter((t) => /^\\d+$/.test(t)).length >= 3) resolve(seen);
  };
  new MutationObserver(look).observe(el, {childList: true, characterData: true, subtree: true});
  look();
  setTimeout(() => resolve(seen), %d);
})
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """The DevTools protocol over Chromium's pipe: JSON messages ending in NUL, commands on
    its fd 3, replies and events from its fd 4."""

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
        self.deadline = deadline
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _message(self):
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no answer from Chromium within %.0f s" % BROWSER_TIMEOUT)
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

    def wait_event(self, method):
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message())

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


class BrowserTest(unittest.TestCase):
    def test_page_counts_in_chromium(self):
        browser = chromium()
        profile = tempfile.mkdtemp(prefix="mote-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--disable-default-apps", "--metrics-recording-only", "--disable-crash-reporter",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--user-data-dir=" + os.path.join(profile, "data"), "about:blank"]
        with Example("MOTE_EXAMPLE") as ex:
            mark = ex.mark()
            deadline = time.monotonic() + BROWSER_TIMEOUT
            dt = DevTools(argv, env, deadline)
            try:
                target = dt.call("Target.createTarget", url="about:blank")["targetId"]
                session = dt.call("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
                dt.call("Page.enable", session)
                dt.call("Page.navigate", session, url=ex.url("/"))
                dt.wait_event("Page.loadEventFired")
                left_ms = int((deadline - time.monotonic()) * 1000) - 2000
                result = dt.call("Runtime.evaluate", session, expression=WATCH % max(left_ms, 0),
                                 awaitPromise=True, returnByValue=True)
                seen = result["result"]["value"]
                ex.wait_line(r"^client joined, 1 watching$", start=mark)
            finally:
                dt.close()
            # the browser is gone: its stream is forgotten
            ex.wait_line(r"^client left, 0 watching$", start=mark)
        print("page showed", seen, file=sys.stderr)
        numbers = [int(t) for t in seen if t.isdigit()]
        self.assertGreaterEqual(len(numbers), 3, "the page showed %r; Chromium said:\n%s"
                                % (seen, dt.stderr[-3000:]))
        self.assertEqual(numbers, sorted(set(numbers)), seen)
        self.assertTrue(all(t.isdigit() for t in seen[1:]), seen)


if __name__ == "__main__":
    if not chromium():
        print("chromium not installed (scripts/deps.sh test installs it): skipped",
              file=sys.stderr)
        sys.exit(77)
    main()
