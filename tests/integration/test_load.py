#!/usr/bin/env python3
"""Load and connection handling: ab with and without keep-alive, 200 held connections,
--max-conns, pipelining."""

import os
import re
import shutil
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

AB = shutil.which("ab")


def ab_field(out, name):
    m = re.search(r"^%s:\s+(\d+)" % re.escape(name), out, re.M)
    return int(m.group(1)) if m else None


@unittest.skipUnless(AB, "ab (apache2-utils) not installed")
class ApacheBench(mh.SampleTestCase):

    def ab(self, *args):
        url = "http://127.0.0.1:%d/index.html" % self.sample.http_port
        t0 = time.monotonic()
        p = mh.run([AB, "-s", "20"] + list(args) + [url], env=mh.clean_env(), timeout=50)
        took = time.monotonic() - t0
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "ab failed:\n%s\n%s" % (out, p.stderr.decode()))
        print("\n  ab %s: %.2f s" % (" ".join(args), took), file=sys.stderr)
        return out

    def check(self, out, keepalive):
        self.assertEqual(ab_field(out, "Complete requests"), 2000, out)
        self.assertEqual(ab_field(out, "Failed requests"), 0, out)
        self.assertIsNone(ab_field(out, "Non-2xx responses"), out)
        self.assertIsNone(ab_field(out, "Write errors"), out)
        self.assertEqual(ab_field(out, "Document Length"), len(mh.IT_WORKS), out)
        self.assertEqual(ab_field(out, "HTML transferred"), 2000 * len(mh.IT_WORKS), out)
        self.assertEqual(ab_field(out, "Keep-Alive requests"), 2000 if keepalive else None, out)

    def test_ab_close(self):
        self.check(self.ab("-n", "2000", "-c", "20"), keepalive=False)

    def test_ab_keepalive(self):
        # ab speaks HTTP/1.0: this is HTTP/1.0 keep-alive
        mark = self.sample.settled_mark()  # not the lines of test_ab_close's 2000 connections
        self.check(self.ab("-k", "-n", "2000", "-c", "20"), keepalive=True)
        # 20 connections served the 2000 requests (ab may open a few more at the end)
        accepted = [l for l in self.sample.out.lines[mark:] if "connection accepted" in l]
        self.assertLessEqual(len(accepted), 40)
        self.assertGreaterEqual(len(accepted), 20)


class Connections(mh.SampleTestCase):

    def test_200_held_connections(self):
        s = self.sample
        held = []
        try:
            for i in range(200):
                held.append(mh.Client("127.0.0.1", s.http_port))
            for i, c in enumerate(held):
                c.send(mh.get("/headers/held%d" % i))
            for i, c in enumerate(held):
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertIn(("<h2>URL: /headers/held%d</h2>" % i).encode(), r.body)
                self.assertNotEqual((r.header("Connection") or "").lower(), "close")
            ports = [c.local_port() for c in held]
            # 50 more requests on new connections while the 200 stay open
            for i in range(50):
                with mh.Client("127.0.0.1", s.http_port) as c:
                    r = c.request("GET", "/index.html?new=%d" % i,
                                  headers=[("Connection", "close")])
                    self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
                    self.assertClosed(c)
            # every held connection is still open and answers again
            for i, c in enumerate(held):
                c.send(mh.get("/index.html?again=%d" % i))
            for i, c in enumerate(held):
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, mh.IT_WORKS), "held connection %d" % i)
                self.assertEqual(c.local_port(), ports[i])
        finally:
            for c in held:
                c.close()

    def test_pipelining(self):
        targets = []
        for i in range(50):
            targets.append(("/index.html", "/headers/p%d" % i, "/not_found", "/missing",
                            "/forbidden")[i % 5])
        data = b"".join(mh.get(t) for t in targets)
        for tls in (False, True):
            c = self.connect(tls=tls)
            c.send(data)
            for i, t in enumerate(targets):
                r = c.read_response()
                if t == "/index.html":
                    self.assertEqual((r.status, r.body), (200, mh.IT_WORKS), i)
                elif t.startswith("/headers"):
                    self.assertEqual(r.status, 200)
                    self.assertIn(("<h2>URL: %s</h2>" % t).encode(), r.body, i)
                elif t == "/not_found":
                    self.assertEqual((r.status, r.body, r.framing),
                                     (200, mh.NOT_FOUND_PAGE, "chunked"), i)
                elif t == "/missing":
                    self.assertEqual((r.status, r.body), (404, mh.NOT_FOUND_PAGE), i)
                else:
                    self.assertEqual((r.status, r.body), (403, mh.FORBIDDEN_PAGE), i)
            # nothing more than the 50 responses, and the connection is still usable
            self.assertEqual(c.buf, b"")
            r = c.request("GET", "/index.html", headers=[("Connection", "close")])
            self.assertEqual(r.status, 200)
            self.assertClosed(c)

    def test_pipelined_tls_records_in_one_segment(self):
        # each request in a TLS record of its own, all sent in one write: the server reads
        # records ahead of mbedTLS, and those raise no readiness event, yet every one is served
        raw = socket.create_connection(("127.0.0.1", self.sample.tls_port), timeout=mh.IO_TIMEOUT)
        self.addCleanup(raw.close)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = mh.insecure_context().wrap_bio(incoming, outgoing)

        def pump(call):
            deadline = time.monotonic() + mh.IO_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    return call()
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        raw.sendall(outgoing.read())
                    data = raw.recv(65536)
                    if not data:
                        self.fail("the server closed the connection")
                    incoming.write(data)
            self.fail("no answer within %.0f s" % mh.IO_TIMEOUT)

        pump(tls.do_handshake)
        count = 60
        for i in range(count):
            tls.write(mh.get("/headers/r%d" % i))
        raw.sendall(outgoing.read())
        received = b""
        while b"<h2>URL: /headers/r%d</h2>" % (count - 1) not in received:
            received += pump(lambda: tls.read(65536))
        for i in range(count):
            self.assertIn(b"<h2>URL: /headers/r%d</h2>" % i, received)

    def test_slow_reader_big_pipelined_responses(self):
        # 40 pages of ~42 KB each (every '"' becomes &quot;), more than the 16 KiB response
        # buffer, to a reader with a small receive window: back-pressure, nothing truncated
        req = mh.build_request("GET", "/headers", headers=[("X-Big", '"' * 7000)])
        for tls in (False, True):
            if tls:
                c = self.connect(tls=True)
            else:
                c = mh.Client("127.0.0.1", self.sample.http_port, rcvbuf=4096)
                self.addCleanup(c.close)
            c.send(req * 40)
            for i in range(40):
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body.count(b"&quot;"), 7000, "page %d truncated" % i)
                self.assertTrue(r.body.endswith(b"</body>\n</html>\n"), "page %d truncated" % i)
            self.assertEqual(c.buf, b"")

    def test_stalled_reader_gets_whole_pages(self):
        # the client reads nothing until the server can write no more (its socket full), then
        # reads everything: every streamed page must be whole; a handler that met a full send
        # buffer must not end its response early behind a valid last-chunk
        c = mh.Client("127.0.0.1", self.sample.http_port, rcvbuf=4096)
        self.addCleanup(c.close)
        sent, done = mh.pipeline_until_stalled(self.sample, c)
        print("\n  stalled after %d requests sent, %d finished" % (sent, done), file=sys.stderr)
        self.assertLess(done, sent, "the server never stalled (kernel buffers too large?)")
        truncated = []
        for i in range(sent):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            if r.body.count(b"&quot;") != mh.BIG_PAGE_QUOTES or not r.body.endswith(b"</html>\n"):
                truncated.append((i, len(r.body)))
            else:
                self.assertIn(("<h2>URL: /headers/big%d</h2>" % i).encode(), r.body)
        self.assertEqual(truncated, [], "pages cut short (index, body bytes; whole is ~42 KB) "
                         "though their chunked framing ended normally")

    def test_pipelining_in_pieces(self):
        # the same requests, split at awkward places across sends
        data = b"".join(mh.get("/headers/q%d" % i) for i in range(20))
        c = self.connect()
        for i in range(0, len(data), 37):
            c.send(data[i:i + 37])
        for i in range(20):
            r = c.read_response()
            self.assertIn(("<h2>URL: /headers/q%d</h2>" % i).encode(), r.body)


class MaxConns(mh.SampleTestCase):
    sample_args = ("--max-conns", "10")

    def test_max_conns(self):
        s = self.sample
        mark = s.stdout_mark()
        idle = []
        try:
            for i in range(10):
                idle.append(mh.Client("127.0.0.1", s.http_port))
            # half have been served once (idle keep-alive), half never sent a byte
            for c in idle[:5]:
                self.assertEqual(c.request("GET", "/index.html").status, 200)
            s.wait_stdout(r"connection accepted", start=mark, count=10)
            err_mark = s.err.count()
            # the 11th: 503 with Retry-After, then closed
            with mh.Client("127.0.0.1", s.http_port) as c:
                c.send(mh.get("/index.html"))
                r = c.read_response()
                self.assertEqual(r.status, 503)
                self.assertIsNotNone(r.header("Retry-After"))
                self.assertRegex(r.header("Retry-After"), r"^\d+$")
                self.assertClosed(c)
            s.err.wait_for(r"too many connections", mh.IO_TIMEOUT, start=err_mark)
            # so does an HTTPS client: refused (closed) without a handshake
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                mh.Client.tls("127.0.0.1", s.tls_port).request("GET", "/index.html")
            # free one slot; new connections are served once the server has seen it go
            idle.pop(0).close()
            served = None
            deadline = time.monotonic() + mh.IO_TIMEOUT
            for attempt in range(500):
                if time.monotonic() > deadline:
                    break
                with mh.Client("127.0.0.1", s.http_port, timeout=5) as c:
                    c.send(mh.get("/index.html"))
                    r = c.read_response()
                    if r.status == 200:
                        served = attempt
                        self.assertEqual(r.body, mh.IT_WORKS)
                        break
                    self.assertEqual(r.status, 503)
            self.assertIsNotNone(served, "no connection served after a slot was freed")
            # and the nine others still work
            for c in idle:
                self.assertEqual(c.request("GET", "/index.html").status, 200)
        finally:
            for c in idle:
                c.close()


if __name__ == "__main__":
    mh.main()
