#!/usr/bin/env python3
"""HTTP/2 with real clients against mote-sample: curl over TLS (ALPN h2), with prior knowledge
and by Upgrade: h2c on the plain port; nghttp with many concurrent streams; a request body far
larger than the initial window (flow control as back-pressure); server-sent events on one
stream; HEAD; the access log's HTTP/2.0 lines; and --http2 off, where the same clients get
HTTP/1.1."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")
NGHTTP = shutil.which("nghttp")


def curl_has_http2():
    if not CURL:
        return False
    out = subprocess.run([CURL, "--version"], capture_output=True, text=True).stdout
    return "HTTP2" in out


@unittest.skipUnless(mh.HTTP2, "mote-sample built without HTTP/2")
@unittest.skipUnless(curl_has_http2(), "curl without HTTP/2")
class Curl(mh.SampleTestCase):

    def curl(self, *args, expect=0):
        p = mh.run([CURL, "-q", "-sS", "--max-time", "30"] + list(args), env=mh.clean_env(),
                   timeout=40)
        self.assertEqual(p.returncode, expect, "curl %s: status %d, stderr %r" % (
            " ".join(args), p.returncode, p.stderr[-500:]))
        return p

    def fetch(self, url, *args):
        """(HTTP version curl used, status, body)."""
        p = self.curl("-w", "\n%{http_version} %{http_code}", *args, url)
        body, _, tail = p.stdout.rpartition(b"\n")
        version, code = tail.decode().split()
        return version, int(code), body

    def test_alpn_h2_over_tls(self):
        s = self.sample
        for path, status, body in (("/index.html", 200, mh.IT_WORKS), ("/forbidden", 403, None),
                                   ("/missing", 404, None), ("/nowhere", 200, None)):
            got = self.fetch(s.url(path, tls=True), "-k", "--http2")
            self.assertEqual(got[:2], ("2", status), path)
            if body is not None:
                self.assertEqual(got[2], body)

    def test_prior_knowledge(self):
        got = self.fetch(self.sample.url("/index.html"), "--http2-prior-knowledge")
        self.assertEqual(got, ("2", 200, mh.IT_WORKS))

    def test_upgrade_h2c(self):
        p = self.curl("-v", "--http2", self.sample.url("/headers/x"))
        err = p.stderr.decode("latin-1")
        self.assertIn("HTTP/1.1 101 Switching Protocols", err)
        self.assertRegex(err, r"(?m)^< HTTP/2 200")
        # the upgraded request (stream 1) reached the handler with its fields
        self.assertIn(b"/headers/x", p.stdout)

    def test_upgrade_with_body_stays_http11(self):
        # RFC 7540 section 3.2: a server may ignore the upgrade; one with a body is answered
        # over HTTP/1.1 here
        p = self.curl("-v", "--http2", "--data-binary", "abc", self.sample.url("/echo"))
        err = p.stderr.decode("latin-1")
        self.assertIn("> Upgrade: h2c", err)
        self.assertRegex(err, r"(?m)^< HTTP/1\.1 200 OK")
        self.assertEqual(p.stdout, b"abc")

    def test_head(self):
        p = self.curl("-k", "--http2", "-I", self.sample.url("/index.html", tls=True))
        head = p.stdout.decode("latin-1")
        self.assertTrue(head.startswith("HTTP/2 200"), head)
        self.assertIn("content-length: %d" % len(mh.IT_WORKS), head)

    def test_body_beyond_initial_window(self):
        # 1 MiB + 1 against a 64 KiB window: the window is given back as /upload takes the body
        d = tempfile.mkdtemp(prefix="mote-h2-")
        self.addCleanup(shutil.rmtree, d, True)
        data = os.urandom((1 << 20) + 1)
        path = os.path.join(d, "body")
        with open(path, "wb") as f:
            f.write(data)
        want = '{"bytes": %d, "sha256": "%s"}\n' % (len(data), hashlib.sha256(data).hexdigest())
        for url, args in ((self.sample.url("/upload"), ["--http2-prior-knowledge"]),
                          (self.sample.url("/upload", tls=True), ["-k", "--http2"])):
            version, code, body = self.fetch(url, "-T", path, *args)
            self.assertEqual((version, code, body.decode()), ("2", 200, want), url)

    def test_echo_collected_body(self):
        got = self.fetch(self.sample.url("/echo"), "--http2-prior-knowledge",
                         "--data-binary", "x" * 5000)
        self.assertEqual(got, ("2", 200, b"x" * 5000))

    def test_events_on_one_stream(self):
        argv = [CURL, "-q", "-sS", "-N", "--max-time", "30", "--http2-prior-knowledge",
                self.sample.url("/events")]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=mh.clean_env())
        try:
            seen = b""
            while seen.count(b"data: ") < 2:
                chunk = p.stdout.read1(4096)
                self.assertTrue(chunk, "the event stream ended: %r" % seen)
                seen += chunk
        finally:
            p.kill()
            p.communicate()
        self.assertRegex(seen.decode(), r"id: \d+\ndata: \d{4}-\d\d-\d\dT")

    def test_access_log(self):
        s = self.sample
        mark = s.stdout_mark()
        self.fetch(s.url("/index.html?h2log"), "--http2-prior-knowledge")
        s.wait_stdout(r'^\[info\] 127\.0\.0\.1:\d+ "GET /index\.html\?h2log HTTP/2\.0" 200 %d '
                      r'\d+\.\d{3}ms$' % len(mh.IT_WORKS), start=mark)


@unittest.skipUnless(mh.HTTP2, "mote-sample built without HTTP/2")
@unittest.skipUnless(NGHTTP, "nghttp not installed (Debian: nghttp2-client)")
class Nghttp(mh.SampleTestCase):

    def nghttp(self, *args):
        p = mh.run([NGHTTP, "-ns", "-t", "30"] + list(args), env=mh.clean_env(), timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr[-500:])
        return p.stdout.decode()

    def rows(self, out):
        """nghttp -s statistics: one (status, bytes, path) per response."""
        return re.findall(r"(?m)^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+(\S+)\s+(\S+)$", out)

    def test_many_concurrent_streams(self):
        s = self.sample
        mark = s.stdout_mark()
        for url in (s.url("/index.html"), s.url("/index.html", tls=True)):
            rows = self.rows(self.nghttp("-m", "100", url))
            self.assertEqual(rows, [("200", str(len(mh.IT_WORKS)), "/index.html")] * 100, url)
        lines = s.wait_stdout(r'^\[info\] 127\.0\.0\.1:(\d+) "GET /index\.html HTTP/2\.0" 200',
                              start=mark, count=200)
        # two connections, one log line per stream
        self.assertEqual(len({m.group(1) for m in lines}), 2)

    def test_streams_beyond_the_limit(self):
        # 300 requests on one connection, 100 at a time (the server's SETTINGS): all answered
        rows = self.rows(self.nghttp("-m", "300", self.sample.url("/index.html")))
        self.assertEqual(len(rows), 300)
        self.assertEqual({r[0] for r in rows}, {"200"})


@unittest.skipUnless(mh.HTTP2, "mote-sample built without HTTP/2")
@unittest.skipUnless(CURL, "curl not installed")
class Off(mh.SampleTestCase):
    sample_args = ("--http2", "off")

    def test_clients_get_http11(self):
        s = self.sample
        env = mh.clean_env()
        p = mh.run([CURL, "-sS", "-k", "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                    s.url("/index.html", tls=True)], env=env)
        self.assertEqual(p.stdout, b"1.1")
        p = mh.run([CURL, "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                    s.url("/index.html")], env=env)
        self.assertEqual(p.stdout, b"1.1")

    def test_preface_is_not_http2(self):
        c = self.connect()
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        r = c.read_response()
        self.assertGreaterEqual(r.status, 400)


if __name__ == "__main__":
    mh.main()
