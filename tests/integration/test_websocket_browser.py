"""WebSocket on mote-sample in a real browser: headless Chromium (driven over the DevTools
pipe, tests/integration/browser.py).

/live: the page's numbers come from its WebSocket at /live/ws (ws:// on the HTTP port, wss://
on the HTTPS one), so the test waits in the page (a MutationObserver, with a deadline) until
the `requests` and `uptime` numbers have each changed at least twice, making requests of its
own so that the request count has something to count; the DevTools network events show the
page's WebSocket and its JSON messages.
/ws: script in a page of the sample opens a WebSocket to /ws, sends text and binary
(ArrayBuffer) messages, small and large, and compares the echoes; Chromium offers
permessage-deflate, which the server accepts. Exits 77 (skipped) when Chromium is not
installed."""
import json
import sys
import time

from browser import Chromium, chromium
from moteharness import SampleTestCase, main

BROWSER_TIMEOUT = 60.0    # Chromium's start on a loaded machine, the page, a few seconds of it

# In the /live page: resolves with the texts each number showed, once `requests` and `uptime`
# have both changed at least twice (or at the deadline, with what there is). Each change of
# the uptime fetches a page, so the next push has one request more.
WATCH_LIVE = """
new Promise((resolve) => {
  const ids = ['connections', 'requests', 'bytes_in', 'bytes_out', 'uptime'];
  const seen = {};
  const missing = ids.filter((id) => !document.getElementById(id));
  if (missing.length) { resolve({missing}); return; }
  for (const id of ids) seen[id] = [document.getElementById(id).textContent.trim()];
  let fetches = 0;
  // changed at least twice as numbers: three numeric texts (the page's placeholder aside)
  const numeric = (list) => list.filter((t) => /\\d/.test(t)).length;
  const done = () => numeric(seen.requests) >= 3 && numeric(seen.uptime) >= 3;
  const look = () => {
    for (const id of ids) {
      const t = document.getElementById(id).textContent.trim();
      const list = seen[id];
      if (t !== list[list.length - 1]) {
        list.push(t);
        if (id === 'uptime' && fetches < 20) { fetches++; fetch('/index.html?live=' + fetches); }
      }
    }
    if (done()) resolve({seen, fetches});
  };
  new MutationObserver(look).observe(document.body,
      {childList: true, characterData: true, subtree: true});
  look();
  setTimeout(() => resolve({seen, fetches, timeout: true}), %d);
})
"""

# In any page of the sample: a WebSocket to `url`, text and binary messages sent, echoes
# compared. Resolves with what happened.
ECHO = """
new Promise((resolve) => {
  const out = {echoes: [], errors: []};
  const bytes = (n, seed) => {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i++) a[i] = (i * 31 + seed + (i >> 8)) & 255;
    return a;
  };
  const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  const sent = [
    'Hello from Chromium',
    'κόσμε €😀 ' + 'x'.repeat(300),
    bytes(300, 1).buffer,
    '',
    new ArrayBuffer(0),
    'z'.repeat(70000),
    bytes(1 << 20, 7).buffer,
    'é'.repeat(1 << 19),
  ];
  const ws = new WebSocket(%s);
  ws.binaryType = 'arraybuffer';
  let n = 0;
  ws.onopen = () => {
    out.extensions = ws.extensions;
    out.protocol = ws.protocol;
    for (const m of sent) ws.send(m);
  };
  ws.onmessage = (e) => {
    const want = sent[n++];
    const text = typeof want === 'string';
    const r = {i: n - 1, type: typeof e.data === 'string' ? 'text' : 'binary',
               want: text ? 'text' : 'binary'};
    r.length = text ? e.data.length : e.data.byteLength;
    r.same = text ? e.data === want
                  : e.data instanceof ArrayBuffer && sameBytes(new Uint8Array(e.data),
                                                               new Uint8Array(want));
    out.echoes.push(r);
    if (n === sent.length) ws.close(1000, 'done');
  };
  ws.onerror = () => out.errors.push('error event');
  ws.onclose = (e) => {
    out.close = {code: e.code, reason: e.reason, wasClean: e.wasClean};
    resolve(out);
  };
  setTimeout(() => { out.timeout = true; resolve(out); }, %d);
})
"""


class BrowserWebSocketTest(SampleTestCase):
    def browse(self, url, script, extra=()):
        """Opens `url` in a fresh Chromium, runs `script` % milliseconds left in it; returns
        (its value, the DevTools, Chromium's stderr)."""
        deadline = time.monotonic() + BROWSER_TIMEOUT
        with Chromium(deadline, ["--ignore-certificate-errors"] + list(extra)) as dt:
            session = dt.new_page()
            dt.call("Page.enable", session)
            dt.call("Network.enable", session)
            dt.call("Page.navigate", session, url=url)
            dt.wait_event("Page.loadEventFired")
            value = dt.evaluate(session, script(dt.ms_left()))
            events = list(dt.events)
        return value, events, dt.stderr

    def live(self, tls):
        url = self.sample.url("/live", tls=tls)
        value, events, stderr = self.browse(url, lambda ms: WATCH_LIVE % ms)
        print("/live showed", json.dumps(value), file=sys.stderr)
        self.assertNotIn("missing", value, "elements missing from /live")
        seen = value["seen"]
        for id in ("requests", "uptime"):
            numbers = [t for t in seen[id] if any(ch.isdigit() for ch in t)]
            self.assertGreaterEqual(len(numbers), 3, "%s changed fewer than twice: %r; "
                                    "Chromium said:\n%s" % (id, seen, stderr[-3000:]))
            self.assertTrue(any(ch.isdigit() for ch in seen[id][-1]), seen[id])
        requests = [int("".join(ch for ch in t if ch.isdigit())) for t in seen["requests"]
                    if any(ch.isdigit() for ch in t)]
        self.assertEqual(requests, sorted(requests), seen["requests"])
        self.assertGreater(requests[-1], requests[0], seen["requests"])
        # the numbers came over the page's own WebSocket, same origin, ws:// or wss://
        scheme = "wss" if tls else "ws"
        port = self.sample.tls_port if tls else self.sample.http_port
        created = [e["params"]["url"] for e in events
                   if e.get("method") == "Network.webSocketCreated"]
        self.assertIn("%s://127.0.0.1:%d/live/ws" % (scheme, port), created, created)
        handshakes = [e["params"]["response"]["status"] for e in events
                      if e.get("method") == "Network.webSocketHandshakeResponseReceived"]
        self.assertIn(101, handshakes)
        frames = [e["params"]["response"]["payloadData"] for e in events
                  if e.get("method") == "Network.webSocketFrameReceived"]
        self.assertGreaterEqual(len(frames), 2, "pushes seen: %r" % frames)
        for f in frames:
            m = json.loads(f)
            self.assertEqual(set(m), {"connections", "websockets", "requests", "bytes_in",
                                      "bytes_out", "uptime_ms"}, m)

    def test_live_page(self):
        self.live(tls=False)

    def test_live_page_tls(self):
        self.live(tls=True)

    def echo(self, tls):
        page = self.sample.url("/index.html", tls=tls)
        ws_url = "%s://127.0.0.1:%d/ws" % ("wss" if tls else "ws",
                                          self.sample.tls_port if tls else self.sample.http_port)
        value, events, stderr = self.browse(page, lambda ms: ECHO % (json.dumps(ws_url), ms))
        print("echo in Chromium:", json.dumps(value), file=sys.stderr)
        self.assertNotIn("timeout", value, "%r; Chromium said:\n%s" % (value, stderr[-3000:]))
        self.assertEqual(value["errors"], [], value)
        self.assertEqual(len(value["echoes"]), 8, value)
        for r in value["echoes"]:
            self.assertEqual(r["type"], r["want"], r)
            self.assertTrue(r["same"], r)
        self.assertTrue(value["extensions"].startswith("permessage-deflate"), value)
        # the server answers the page's close with the same code, then closes TCP: a clean
        # close for the browser
        self.assertEqual((value["close"]["code"], value["close"]["wasClean"]), (1000, True),
                         value)

    def test_echo(self):
        self.echo(tls=False)

    def test_echo_tls(self):
        self.echo(tls=True)


if __name__ == "__main__":
    if not chromium():
        print("chromium not installed (scripts/deps.sh test installs it): skipped",
              file=sys.stderr)
        sys.exit(77)
    main()
