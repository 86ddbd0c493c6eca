#!/usr/bin/env python3
"""Static content in a real browser: headless Chromium (driven over the DevTools pipe,
tests/integration/browser.py) loads mote-sample's compiled-in landing page `/` with its
stylesheet, script and icon, over HTTP and over HTTPS, then loads it again in the same browser.
The pages are sent with Cache-Control: no-cache and strong ETags, so the second load must
revalidate: the sample's access log shows 304 for the page and its assets (a resource the
browser took from its cache without asking would be accepted too, seen in the DevTools events;
a second 200 is not).

HTTPS: Chromium is told to trust the sample's self-signed certificate by its public key
(--ignore-certificate-errors-spki-list). With --ignore-certificate-errors alone the connection
counts as insecure and Chromium does not cache the page at all, so nothing would be
revalidated. Exits 77 (skipped) when Chromium is not installed."""
import base64
import hashlib
import html.parser
import json
import re
import sys
import time
import urllib.parse

from browser import Chromium, chromium
import moteharness as mh

BROWSER_TIMEOUT = 40.0    # Chromium's start on a loaded machine and two loads of a small page
ACCESS = re.compile(r'^\[info\] 127\.0\.0\.1:\d+ "GET (\S+) HTTP/(?:1\.1|2\.0)" (\d{3}) ')

# In the page: what it loaded, as the Resource Timing API saw it, and whether the stylesheet
# and script arrived intact (decoded by the browser from gzip).
PAGE_STATE = """
(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource').map((e) => ({
    path: new URL(e.name).pathname, protocol: e.nextHopProtocol, transferSize: e.transferSize,
    encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize}));
  let rules = 0;
  for (const sheet of document.styleSheets) {
    try { rules += sheet.cssRules.length; } catch (e) { rules = -1; }
  }
  return {nav: {protocol: nav.nextHopProtocol, transferSize: nav.transferSize,
                encodedBodySize: nav.encodedBodySize,
                decodedBodySize: nav.decodedBodySize},
          resources: res, cssRules: rules, scripts: document.scripts.length,
          title: document.title};
})()
"""


class Subresources(html.parser.HTMLParser):
    """What a page loads by itself: <link href>, <script src>, <img src>."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        ref = attrs.get("href") if tag == "link" else attrs.get("src") if tag in (
            "script", "img") else None
        if ref:
            self.urls.append(ref)


def _tlv(der, i):
    """One DER element at `i`: (tag, start of its contents, end)."""
    tag, n = der[i], der[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[i:i + k], "big")
        i += k
    return tag, i, i + n


def spki_sha256(der):
    """Base64 SHA-256 of a certificate's SubjectPublicKeyInfo (what Chromium's
    --ignore-certificate-errors-spki-list takes)."""
    _, start, _ = _tlv(der, 0)                 # Certificate
    _, i, end = _tlv(der, start)               # tbsCertificate
    fields = []
    while i < end:
        tag, _, nxt = _tlv(der, i)
        fields.append((tag, i, nxt))
        i = nxt
    if fields[0][0] == 0xA0:                   # [0] version
        fields = fields[1:]
    _, a, b = fields[5]   # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    return base64.b64encode(hashlib.sha256(der[a:b]).digest()).decode()


class BrowserStatic(mh.SampleTestCase):

    def assets(self):
        """The same-origin paths the landing page references (stylesheet, script, icon)."""
        with self.sample.connect() as c:
            r = c.request("GET", "/")
        self.assertEqual(r.status, 200)
        refs = Subresources()
        refs.feed(r.body.decode("utf-8"))
        paths = set()
        for ref in refs.urls:
            u = urllib.parse.urlsplit(urllib.parse.urljoin("http://127.0.0.1/", ref))
            if u.netloc == "127.0.0.1" and u.path != "/":
                paths.add(u.path)
        # (test_static.py checks the full list; here what makes the test worth it)
        for want in ("/assets/style.css", "/favicon.ico"):
            self.assertIn(want, paths, "the landing page does not reference %s" % want)
        return paths

    def logged(self, start, end):
        """{path: [statuses]} of the access lines in [start, end)."""
        out = {}
        with self.sample.out.cond:
            lines = self.sample.out.lines[start:end]
        for line in lines:
            m = ACCESS.match(line)
            if m and "?settled=" not in m.group(1):
                out.setdefault(m.group(1), []).append(int(m.group(2)))
        return out

    def load_twice(self, tls):
        s = self.sample
        url = s.url("/", tls=tls)
        extra = []
        if tls:
            extra.append("--ignore-certificate-errors-spki-list=" +
                         spki_sha256(mh.server_certificate(s.tls_port)))
        wanted = sorted(p for p in self.assets() if p != "/favicon.ico") + ["/"]
        deadline = time.monotonic() + BROWSER_TIMEOUT
        with Chromium(deadline, extra) as dt:
            session = dt.new_page()
            dt.call("Page.enable", session)
            dt.call("Network.enable", session)
            mark1 = s.settled_mark()
            dt.call("Page.navigate", session, url=url)
            dt.wait_event("Page.loadEventFired")
            state1 = dt.evaluate(session, PAGE_STATE)
            for path in wanted:
                # over TLS, Chromium takes the h2 that ALPN offers; over plain TCP it stays
                # with HTTP/1.1 (browsers do not speak h2c)
                s.wait_stdout(r'"GET %s HTTP/%s" 200 ' % (re.escape(path), "2\\.0" if tls else
                                                          "1\\.1"), start=mark1)
            first_events = list(dt.events)
            dt.events.clear()
            mark2 = s.settled_mark()
            dt.call("Page.navigate", session, url=url)
            dt.wait_event("Page.loadEventFired")
            state2 = dt.evaluate(session, PAGE_STATE)
            end = s.settled_mark()
            second_events = list(dt.events)
        first, second = self.logged(mark1, mark2), self.logged(mark2, end)
        print("%s first load: %s\n  page saw %s\nsecond load: %s\n  page saw %s" % (
            "https" if tls else "http", json.dumps(first), json.dumps(state1),
            json.dumps(second), json.dumps(state2)), file=sys.stderr)
        origin = url.rstrip("/")

        def responses(events):
            return {urllib.parse.urlsplit(e["params"]["response"]["url"]).path: e["params"]
                    for e in events if e.get("method") == "Network.responseReceived"
                    and e["params"]["response"]["url"].startswith(origin)}

        r1 = responses(first_events)
        # the first load: everything 200, the text compressed with gzip on the way
        for path in wanted:
            self.assertEqual(first.get(path, [None])[0], 200, "%s on the first load" % path)
        for path in [p for p in wanted if p.endswith((".css", ".js", "/"))]:
            headers = {k.lower(): v for k, v in r1.get(path, {}).get("response", {})
                       .get("headers", {}).items()}
            self.assertEqual(headers.get("content-encoding"), "gzip",
                             "%s reached Chromium without gzip: %r" % (path, headers))
        self.assertGreater(state1["cssRules"], 0, "the stylesheet did not arrive: %r" % state1)
        # every resource came over the protocol ALPN chose (PerformanceResourceTiming)
        protocol = "h2" if tls and mh.HTTP2 else "http/1.1"
        self.assertEqual(state1["nav"]["protocol"], protocol, "the page: %r" % state1["nav"])
        self.assertTrue(state1["resources"], "no resources timed: %r" % state1)
        for r in state1["resources"]:
            self.assertEqual(r["protocol"], protocol, "%s: %r" % (r["path"], r))
        # the icon, whenever Chromium asked for it (it may ask after the load event)
        icon = first.get("/favicon.ico", []) + second.get("/favicon.ico", [])
        self.assertTrue(set(icon) <= {200, 304} and icon[:1] in ([], [200]),
                        "/favicon.ico answered %r" % icon)
        # the second load: revalidated (304), or taken from the cache unasked; never 200 again
        ids = {e["params"]["requestId"]: urllib.parse.urlsplit(e["params"]["request"]["url"]).path
               for e in second_events if e.get("method") == "Network.requestWillBeSent"}
        cached = {ids.get(e["params"]["requestId"]) for e in second_events
                  if e.get("method") == "Network.requestServedFromCache"}
        r2 = responses(second_events)
        for path in wanted:
            statuses = second.get(path, [])
            if statuses:
                self.assertEqual(statuses, [304], "%s on the second load (%s): %r" % (
                    path, "https" if tls else "http", second))
            else:
                p = r2.get(path, {}).get("response", {})
                self.assertTrue(p.get("fromDiskCache") or p.get("fromPrefetchCache") or
                                path in cached,
                                "%s neither revalidated nor from the cache: %r" % (path, second))
        self.assertEqual(second.get("/", []), [304],
                         "the page itself was not revalidated with 304: %r" % second)
        self.assertGreater(state2["cssRules"], 0, "the stylesheet is gone after the 304")
        self.assertEqual(state2["title"], state1["title"])

    def test_http(self):
        self.load_twice(tls=False)

    def test_https(self):
        self.load_twice(tls=True)


if __name__ == "__main__":
    if not chromium():
        print("chromium not installed (scripts/deps.sh test installs it): skipped",
              file=sys.stderr)
        sys.exit(77)
    mh.main()
