#!/usr/bin/env python3
"""Request bodies: curl --data-binary to /echo and /upload (Content-Length and chunked), curl's
own Expect: 100-continue, a 1 GiB upload with the server's memory measured, bodies over a
route's limit (413), and bodies a route ignores (drained, or the connection closed).

/echo collects the body (limit 1 MiB) and answers it back with Content-Length and
X-Body-Length; /upload streams any size through SHA-256 and answers {"bytes": N, "sha256": ...}."""

import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")
SMUGGLED = b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
MIB = 1 << 20
GIB = 1 << 30
ECHO_LIMIT = MIB                   # the server's default max_body_size
SIZES = (0, 1, 100 * 1000, 900 * 1000)


def split_heads(raw):
    """curl -D output: [(status line, [(name, value)])], one per response (100 included)."""
    heads = []
    for block in raw.split(b"\r\n\r\n"):
        if not block.startswith(b"HTTP/"):
            continue
        lines = block.decode("latin-1").split("\r\n")
        heads.append((lines[0], [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]))
    return heads


def hdr(headers, name):
    vals = [v for n, v in headers if n.lower() == name.lower()]
    return vals[0] if vals else None


def upload_json(data):
    return '{"bytes": %d, "sha256": "%s"}\n' % (len(data), hashlib.sha256(data).hexdigest())


def verbose_sent(stderr):
    """Request header lines curl -v reports having sent ("> Name: value")."""
    return [l[2:] for l in stderr.decode("latin-1").splitlines() if l.startswith("> ")]


class Curl(mh.SampleTestCase):
    sample_args = ("--tls-port", "off")

    @classmethod
    def setUpClass(cls):
        if not CURL:
            raise unittest.SkipTest("curl not installed")
        cls.tmp = tempfile.mkdtemp(prefix="mote-bodies-")
        rnd = random.Random(20240503)
        cls.files = {}
        for size in SIZES + (3 * MIB,):
            path = os.path.join(cls.tmp, "body-%d" % size)
            with open(path, "wb") as f:
                f.write(rnd.randbytes(size))
            cls.files[size] = path
        try:
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.tmp, True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, True)

    def curl(self, *args, timeout=60):
        p = mh.run([CURL, "-q", "-sS", "--max-time", "45"] + list(args), env=mh.clean_env(),
                   timeout=timeout)
        self.assertEqual(p.returncode, 0, "curl %s: status %d, stderr %r" % (
            " ".join(args), p.returncode, p.stderr[-800:]))
        return p

    def post_file(self, path, size, route, chunked, *extra):
        """curl --data-binary @path [-H TE: chunked] -v; returns (final head, body, sent lines)."""
        out = os.path.join(self.tmp, "out")
        heads = os.path.join(self.tmp, "heads")
        args = ["-v", "--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream",
                "-D", heads, "-o", out] + list(extra)
        if chunked:
            args += ["-H", "Transfer-Encoding: chunked"]
        p = self.curl(*(args + [self.sample.url(route)]))
        sent = verbose_sent(p.stderr)
        # the premise: curl framed the body as asked
        if chunked:
            self.assertIn("Transfer-Encoding: chunked", sent, sent)
            self.assertFalse([l for l in sent if l.lower().startswith("content-length")], sent)
        else:
            self.assertIn("Content-Length: %d" % size, sent, sent)
            self.assertFalse([l for l in sent if l.lower().startswith("transfer-encoding")], sent)
        with open(heads, "rb") as f:
            parsed = split_heads(f.read())
        with open(out, "rb") as f:
            body = f.read()
        self.assertTrue(parsed)
        return parsed[-1], body, sent

    def test_echo_files(self):
        for chunked in (False, True):
            for size in SIZES:
                with open(self.files[size], "rb") as f:
                    data = f.read()
                (status, headers), body, _ = self.post_file(self.files[size], size, "/echo", chunked)
                what = "%d bytes, %s" % (size, "chunked" if chunked else "Content-Length")
                self.assertEqual(status, "HTTP/1.1 200 OK", what)
                self.assertEqual(hdr(headers, "X-Body-Length"), str(size), what)
                self.assertEqual(hdr(headers, "Content-Length"), str(size), what)
                self.assertEqual(hdr(headers, "Content-Type"), "application/octet-stream", what)
                self.assertEqual(len(body), size, what)
                self.assertTrue(body == data, "%s: the echo differs from the file" % what)

    def test_echo_put_file(self):
        with open(self.files[100000], "rb") as f:
            data = f.read()
        out = os.path.join(self.tmp, "put-out")
        self.curl("-T", self.files[100000], "-o", out, self.sample.url("/echo"))
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data)

    def test_upload_files(self):
        for chunked in (False, True):
            for size in SIZES + (3 * MIB,):          # 3 MiB: over /echo's limit, /upload has none
                with open(self.files[size], "rb") as f:
                    data = f.read()
                (status, _), body, _ = self.post_file(self.files[size], size, "/upload", chunked)
                what = "%d bytes, %s" % (size, "chunked" if chunked else "Content-Length")
                self.assertEqual(status, "HTTP/1.1 200 OK", what)
                self.assertEqual(body.decode(), upload_json(data), what)

    def test_curl_expect_100_continue(self):
        """curl sends Expect: 100-continue for a body over 1 MiB and waits up to 1 s for the
        100; it must arrive at once, so the whole exchange takes well under that second."""
        size = 3 * MIB
        with open(self.files[size], "rb") as f:
            data = f.read()
        out = os.path.join(self.tmp, "expect-out")
        p = self.curl("-v", "--trace-time", "--data-binary", "@" + self.files[size],
                      "-o", out, "-w", "%{time_total}", self.sample.url("/upload"))
        err = p.stderr.decode("latin-1")
        lines = err.splitlines()
        stamp = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) ")

        def at(pattern):
            for l in lines:
                m = stamp.match(l)
                if m and re.search(pattern, l[m.end():]):
                    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            return None
        sent = at(r"^> Expect: 100-continue$")
        got = at(r"^< HTTP/1\.1 100 Continue$")
        self.assertIsNotNone(sent, "curl did not send Expect: 100-continue:\n%s" % err[-3000:])
        self.assertIsNotNone(got, "no 100 Continue arrived:\n%s" % err[-3000:])
        self.assertNotIn("Done waiting for 100-continue", err, "curl timed out waiting for 100")
        total = float(p.stdout.decode())
        gap = (got - sent) % 86400
        print("\n  Expect: 100-continue, %d bytes: 100 after %.1f ms, exchange %.1f ms"
              % (size, gap * 1000, total * 1000), file=sys.stderr)
        self.assertLess(gap, 0.5, "100 Continue took %.3f s" % gap)
        self.assertLess(total, 1.0, "the exchange took %.3f s: as long as curl's expect timeout"
                        % total)
        with open(out, "rb") as f:
            self.assertEqual(f.read().decode(), upload_json(data))


class Limits(mh.SampleTestCase):
    """Bodies over /echo's limit, and bodies a route does not read."""
    sample_args = ("--tls-port", "off")

    def test_declared_length_over_limit(self):
        # only the head is sent: the 413 comes without the server waiting for (or reading) a
        # body byte
        for method in (b"POST", b"PUT"):
            c = self.connect()
            c.send(method + b" /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                   % (ECHO_LIMIT + 1))
            r = c.read_response()
            self.assertEqual(r.status, 413, r)
            self.assertEqual((r.header("Connection") or "").lower(), "close", r.head)
            self.assertClosed(c, msg="after the 413")
        # with some of the body already sent, and a request behind it: never answered
        c = self.connect()
        c.send_tolerant(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                        % (2 * MIB) + b"z" * 65536 + SMUGGLED)
        responses, closed, error = c.read_responses(limit=3)
        self.assertEqual([r.status for r in responses], [413], (responses, error))
        self.assertEqual((responses[0].header("Connection") or "").lower(), "close")
        self.assertTrue(closed, error)

    def test_limit_is_inclusive(self):
        body = bytes(range(256)) * (ECHO_LIMIT // 256)
        c = self.connect()
        r = c.request("POST", "/echo", body=body)
        self.assertEqual((r.status, r.header("X-Body-Length")), (200, str(ECHO_LIMIT)))
        self.assertTrue(r.body == body)
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"10000\r\n" + body[i:i + 65536] + b"\r\n"
                          for i in range(0, len(body), 65536)) + b"0\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.header("X-Body-Length")), (200, str(ECHO_LIMIT)))
        self.assertTrue(r.body == body)

    def test_chunked_over_limit(self):
        """Exactly the limit in chunks, then one chunk more, and no last chunk: the 413 can
        only come from the limit being crossed (test_limit_is_inclusive shows the limit
        itself is accepted)."""
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"q" * 65536 + b"\r\n"
        for _ in range(ECHO_LIMIT // 65536):
            c.send(chunk)
        # nothing may have been answered yet (a check of what is there now, no waiting)
        if c.readable(0):
            self.fail("answered before the body passed the limit: %r" % c.sock.recv(300))
        c.send_tolerant(b"1\r\nq\r\n")             # one byte over
        r = c.read_response()
        self.assertEqual(r.status, 413, r)
        self.assertEqual((r.header("Connection") or "").lower(), "close", r.head)
        self.assertClosed(c, msg="after the chunked 413")

    def test_ignored_small_body_is_drained(self):
        body = b"b" * 10000
        # pipelined in one write
        c = self.connect()
        c.send(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body + SMUGGLED)
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        self.assertNotEqual((r.header("Connection") or "").lower(), "close")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (404, mh.NOT_FOUND_PAGE))
        # one after the other, Content-Length then chunked
        r = c.request("POST", "/index.html", body=body)
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
        c.send(b"POST /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"2710\r\n" + body + b"\r\n0\r\n\r\n")
        self.assertEqual(c.read_response().body, mh.IT_WORKS)
        r = c.request("GET", "/headers/after")
        self.assertIn(b"<h2>URL: /headers/after</h2>", r.body)

    def test_ignored_large_body_closes(self):
        body = b"B" * 200000
        c = self.connect()
        c.send_tolerant(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body + SMUGGLED)
        responses, closed, error = c.read_responses(limit=3)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, mh.IT_WORKS)],
                         (responses, error))
        self.assertEqual((responses[0].header("Connection") or "").lower(), "close",
                         responses[0].head)
        self.assertTrue(closed, error)
        # chunked, length unknown when the page is answered: the smuggled request behind
        # 200 KB of ignored body is still never answered
        c = self.connect()
        c.send_tolerant(b"POST /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"30d40\r\n" + body + b"\r\n0\r\n\r\n" + SMUGGLED)
        responses, closed, error = c.read_responses(limit=3)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, mh.IT_WORKS)],
                         (responses, error))
        self.assertTrue(closed, error)
        # the server is fine
        c = self.connect()
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)


@unittest.skipUnless(CURL, "curl not installed")
class GiB(mh.SampleTestCase):
    """1 GiB through /upload, three ways, with the sample's resident memory measured."""
    shared_sample = False

    def send_upload(self, c, size, framing, rss, block=MIB):
        """Streams `size` zero bytes to /upload on `c` from a generator; samples the server's
        RSS every 64 MiB into `rss`. Returns the response."""
        if framing == "length":
            c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        else:
            c.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")

        def pieces():
            zeros = bytes(block)
            left = size
            while left:
                k = min(left, block)
                piece = zeros if k == block else zeros[:k]
                yield piece if framing == "length" else b"%x\r\n%s\r\n" % (k, piece)
                left -= k
            if framing == "chunked":
                yield b"0\r\n\r\n"
        for i, piece in enumerate(pieces()):
            c.send(piece)
            if i % 64 == 63:
                rss.append(mh.vm_rss_kib(self.pid))
        return c.read_response(timeout=60)

    def curl_upload(self, size, rss):
        """head -c size /dev/zero | curl -T - (chunked, with Expect: 100-continue)."""
        head = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        curl = subprocess.Popen([CURL, "-q", "-sS", "--max-time", "50", "-T", "-",
                                 self.s.url("/upload")], stdin=head.stdout,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=mh.clean_env())
        head.stdout.close()
        deadline = time.monotonic() + 55
        try:
            while True:                    # wait for curl's exit, sampling RSS meanwhile
                try:
                    out, err = curl.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    rss.append(mh.vm_rss_kib(self.pid))
                    if time.monotonic() > deadline:
                        raise AssertionError("curl -T - of %d bytes still running" % size)
        finally:
            if curl.poll() is None:
                curl.kill()
                curl.communicate()
            head.kill()
            head.wait(5)
        self.assertEqual(curl.returncode, 0, err[-500:])
        return out.decode()

    def test_one_gib_upload_memory_flat(self):
        self.s = self.start_sample("--tls-port", "off")
        self.pid = self.s.proc.pid
        want = '{"bytes": %d, "sha256": "%s"}\n' % (GIB, mh.sha256_of_zeros(GIB))
        small = 4 * MIB
        want_small = '{"bytes": %d, "sha256": "%s"}\n' % (small, mh.sha256_of_zeros(small))
        rss = []
        c = self.s.connect(timeout=60)
        self.addCleanup(c.close)
        # warm up every path first: the connection slot, its buffers, the curl path
        for framing in ("length", "chunked"):
            r = self.send_upload(c, small, framing, rss)
            self.assertEqual((r.status, r.body.decode()), (200, want_small), framing)
        self.assertEqual(self.curl_upload(small, rss), want_small)
        before = mh.vm_rss_kib(self.pid)
        rss = [before]
        timings = []
        for framing in ("length", "chunked"):
            t0 = time.monotonic()
            r = self.send_upload(c, GIB, framing, rss)
            timings.append("%s %.1f s" % (framing, time.monotonic() - t0))
            self.assertEqual((r.status, r.body.decode()), (200, want), framing)
        t0 = time.monotonic()
        self.assertEqual(self.curl_upload(GIB, rss), want)
        timings.append("curl -T - %.1f s" % (time.monotonic() - t0))
        after = mh.vm_rss_kib(self.pid)
        peak = max(rss + [after])
        print("\n  1 GiB uploads (%s): server VmRSS before %d KiB, after %d KiB, "
              "highest sampled %d KiB (%d samples)" % (", ".join(timings), before, after, peak,
                                                       len(rss)), file=sys.stderr)
        self.assertLess(after - before, 2048, "RSS grew from %d to %d KiB over 3 GiB of uploads"
                        % (before, after))
        self.assertLess(peak - before, 2048, "RSS reached %d KiB during the uploads (from %d)"
                        % (peak, before))
        # still serving
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)


if __name__ == "__main__":
    mh.main()
