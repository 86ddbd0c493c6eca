"""examples/events.c in a real browser: headless Chromium loads the page, its EventSource
connects to /events, and the number shown must move past its initial "-" and keep counting.

Chromium is driven over the DevTools protocol (tests/integration/browser.py says why): the
test waits, inside the page, for the number to change (a MutationObserver), with a deadline,
and reads what it saw. Exits 77 (skipped) when Chromium is not installed.
"""
import shutil
import sys
import tempfile
import time
import unittest

from exampleharness import Example, main
from browser import DevTools, chromium, chromium_argv, chromium_env  # tests/integration

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


class BrowserTest(unittest.TestCase):
    def test_page_counts_in_chromium(self):
        browser = chromium()
        profile = tempfile.mkdtemp(prefix="mote-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        argv = chromium_argv(browser, profile)
        env = chromium_env(profile)
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
