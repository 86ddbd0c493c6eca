#!/usr/bin/env python3
"""Malformed and hostile requests over raw sockets, clients that vanish, bad command lines.

Every bad request is followed, in the same send, by a valid request ("the smuggled one"): the
server must answer the bad one with the exact status, close the connection, and never answer
the request behind it."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

SMUGGLED = b"GET /headers/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def head(*lines, request_line=b"GET /index.html HTTP/1.1"):
    return b"\r\n".join((request_line,) + lines) + b"\r\n\r\n"


class Malformed(mh.SampleTestCase):

    def expect_error(self, data, status, follow=SMUGGLED, tls=False):
        """Sends data+follow; asserts one response with `status`, then close, nothing else."""
        c = self.connect(tls=tls)
        try:
            c.send(data + follow)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may already have answered and stopped reading
        try:
            r = c.read_response()
        except ConnectionResetError:
            self.fail("connection reset before the %d response arrived (sent %r...)"
                      % (status, data[:80]))
        self.assertEqual(r.status, status, "for %r... got %r %r" % (data[:80], r, r.body[:200]))
        self.assertEqual((r.header("Connection") or "").lower(), "close",
                         "%d response should announce the close" % status)
        self.assertClosed(c, msg="after %d for %r..." % (status, data[:60]))
        return r

    def check_alive(self):
        with self.sample.connect() as c:
            r = c.request("GET", "/index.html")
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))

    # -- the header grammar --

    def test_space_before_colon(self):
        self.expect_error(head(b"Host: x", b"X-A : b"), 400)
        self.expect_error(head(b"Host : x"), 400)

    def test_obs_fold(self):
        self.expect_error(head(b"Host: x", b"X-A: a", b" b"), 400)
        self.expect_error(head(b"Host: x", b"X-A: a", b"\tb"), 400)

    def test_bare_lf(self):
        self.expect_error(b"GET /index.html HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400)
        self.expect_error(b"GET /index.html HTTP/1.1\nHost: x\r\n\r\n", 400)
        self.expect_error(b"GET /index.html HTTP/1.1\nHost: x\n\n", 400)
        self.expect_error(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\n", 400)

    def test_bare_cr(self):
        self.expect_error(b"GET /index.html HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400)

    def test_nul_in_value(self):
        self.expect_error(head(b"Host: x", b"X-A: a\x00b"), 400)
        self.expect_error(head(b"Host: x\x00"), 400)

    def test_bad_names_and_lines(self):
        self.expect_error(head(b"Host: x", b"X A: b"), 400)
        self.expect_error(head(b"Host: x", b": novalue"), 400)
        self.expect_error(head(b"Host: x", b"NoColon"), 400)
        self.expect_error(head(b"Host: x", request_line=b"GET  /index.html HTTP/1.1"), 400)
        self.expect_error(head(b"Host: x", request_line=b"GET /index.html HTTP/1.1 "), 400)
        self.expect_error(head(b"Host: x", request_line=b"GET /index.html http/1.1"), 400)
        self.expect_error(head(b"Host: x", request_line=b"G(T /index.html HTTP/1.1"), 400)

    def test_http2_version(self):
        self.expect_error(head(b"Host: x", request_line=b"GET /index.html HTTP/2.0"), 505)
        self.expect_error(head(b"Host: x", request_line=b"GET /index.html HTTP/3.0"), 505)
        # HTTP/1.2 is served as 1.1
        c = self.connect()
        c.send(head(b"Host: x", request_line=b"GET /index.html HTTP/1.2"))
        r = c.read_response()
        self.assertEqual((r.version, r.status, r.body), ("HTTP/1.1", 200, mh.IT_WORKS))

    def test_host(self):
        self.expect_error(head(), 400)                                   # 1.1 without Host
        self.expect_error(head(b"Host: x", b"Host: y"), 400)             # two Hosts
        self.expect_error(head(b"Host: x", b"host: x"), 400)             # two, same value
        # 1.0 without Host is fine
        c = self.connect()
        c.send(head(request_line=b"GET /index.html HTTP/1.0"))
        self.assertEqual(c.read_response().status, 200)

    def test_content_length_and_transfer_encoding(self):
        self.expect_error(head(b"Host: x", b"Content-Length: 5", b"Transfer-Encoding: chunked",
                               request_line=b"POST /index.html HTTP/1.1") + b"0\r\n\r\n", 400)
        self.expect_error(head(b"Host: x", b"Transfer-Encoding: chunked", b"Content-Length: 5",
                               request_line=b"POST /index.html HTTP/1.1") + b"0\r\n\r\n", 400)
        self.expect_error(head(b"Host: x", b"Content-Length: 5", b"Content-Length: 6",
                               request_line=b"POST /index.html HTTP/1.1") + b"hello!", 400)
        self.expect_error(head(b"Host: x", b"Content-Length: -1",
                               request_line=b"POST /index.html HTTP/1.1"), 400)
        self.expect_error(head(b"Host: x", b"Content-Length: 1x",
                               request_line=b"POST /index.html HTTP/1.1"), 400)

    # -- limits --

    def test_request_line_too_long(self):
        line = b"GET /index.html/" + b"a" * (9000 - len(b"GET /index.html/ HTTP/1.1")) + b" HTTP/1.1"
        self.assertEqual(len(line), 9000)
        self.expect_error(head(b"Host: x", request_line=line), 414)
        # well inside the limit: served
        ok = b"GET /index.html/" + b"a" * 8000 + b" HTTP/1.1"
        c = self.connect()
        c.send(head(b"Host: x", request_line=ok))
        self.assertEqual(c.read_response().body, mh.IT_WORKS)

    def test_header_bytes_too_many(self):
        many = [b"X-Fill-%02d: %s" % (i, b"v" * 280) for i in range(30)]   # 30 x ~292 bytes
        self.assertGreater(sum(len(l) + 2 for l in many), 8192)
        self.expect_error(head(b"Host: x", *many), 431)
        self.expect_error(head(b"Host: x", b"X-Big: " + b"v" * 9000), 431)
        # just under: 7000 bytes of fields are served
        c = self.connect()
        c.send(head(b"Host: x", b"X-Big: " + b"v" * 7000, request_line=b"GET /headers HTTP/1.1"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<li>X-Big: " + b"v" * 7000 + b"</li>", r.body)

    def test_too_many_headers(self):
        fields = [b"Host: x"] + [b"X-H%d: %d" % (i, i) for i in range(64)]
        self.assertEqual(len(fields), 65)
        self.expect_error(head(*fields), 431)
        # 64 fields are allowed and all listed
        c = self.connect()
        c.send(head(*fields[:64], request_line=b"GET /headers HTTP/1.1"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.count(b"<li>"), 64)
        self.assertIn(b"<li>X-H62: 62</li>", r.body)

    def test_body_too_large(self):
        # refused from the declared length, before any body byte is sent
        self.expect_error(head(b"Host: x", b"Content-Length: 2097152",
                               request_line=b"POST /index.html HTTP/1.1"), 413)
        # chunked beyond the limit: 413 once the limit is passed
        c = self.connect()
        c.send(head(b"Host: x", b"Transfer-Encoding: chunked",
                    request_line=b"POST /headers HTTP/1.1"))
        chunk = b"10000\r\n" + b"z" * 0x10000 + b"\r\n"
        statuses = []
        try:
            for _ in range(20):                       # 1.25 MiB in 64 KiB chunks
                c.send(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass
        # either refused with 413, or (the handler answered as soon as the head was in) the
        # 200 page and then a close once the drained body passes the limit
        for _ in range(2):
            try:
                statuses.append(c.read_response().status)
            except (mh.ProtocolError, ConnectionResetError):
                break
        self.assertIn(statuses, ([413], [200]), "oversized chunked body: responses %r" % statuses)
        self.assertClosed(c)

    # -- request smuggling through a bad chunked body --

    def smuggle_chunked(self, body):
        c = self.connect()
        req = head(b"Host: x", b"Transfer-Encoding: chunked",
                   request_line=b"POST /index.html HTTP/1.1") + body
        try:
            c.send(req + SMUGGLED)
        except (ConnectionResetError, BrokenPipeError):
            pass
        responses = []
        for _ in range(3):
            try:
                responses.append(c.read_response())
            except mh.ProtocolError:
                break                                  # EOF: no further response
            except ConnectionResetError:
                break
        self.assertTrue(responses, "no response at all to %r" % body)
        for r in responses:
            self.assertNotIn(b"smuggled", r.body, "the request after a bad chunked body was "
                             "answered: %r" % [(x.status, x.body[:60]) for x in responses])
        # the request itself may have been answered (200: the handler ran before the body was
        # read); the bad framing then gives 400 or a plain close
        statuses = [x.status for x in responses]
        self.assertIn(statuses, ([400], [200], [200, 400]), "for chunked body %r" % body)
        if statuses[0] == 200:
            self.assertEqual(responses[0].body, mh.IT_WORKS)
        self.assertClosed(c)
        return responses

    def test_chunked_bad_size(self):
        self.smuggle_chunked(b"zz\r\nhello\r\n0\r\n\r\n")
        self.smuggle_chunked(b"5 x\r\nhello\r\n0\r\n\r\n")
        self.smuggle_chunked(b"-5\r\nhello\r\n0\r\n\r\n")
        self.smuggle_chunked(b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n")
        self.smuggle_chunked(b"5\r\nhelloXX0\r\n\r\n")           # no CRLF after the data
        self.smuggle_chunked(b"5\nhello\n0\n\n")                  # bare LF framing

    def test_chunked_good_control(self):
        # the control case: a well-formed chunked body, and the pipelined request IS answered
        c = self.connect()
        c.send(head(b"Host: x", b"Transfer-Encoding: chunked",
                    request_line=b"POST /index.html HTTP/1.1")
               + b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n" + SMUGGLED)
        self.assertEqual(c.read_response().body, mh.IT_WORKS)
        r = c.read_response()
        self.assertIn(b"<h2>URL: /headers/smuggled</h2>", r.body)
        # and a Content-Length body likewise
        c.send(head(b"Host: x", b"Content-Length: 11", request_line=b"POST /index.html HTTP/1.1")
               + b"GET / HTTP/" + SMUGGLED)
        self.assertEqual(c.read_response().body, mh.IT_WORKS)
        self.assertIn(b"smuggled", c.read_response().body)

    # -- clients that go away --

    def test_partial_head_then_close(self):
        for tls in (False, True):
            for part in (b"G", b"GET /index.html HTTP/1.1\r\nHo", b"GET /index.html HTTP/1.1\r\n"
                         b"Host: x\r\n"):
                c = self.sample.connect(tls=tls)
                c.send(part)
                c.close()
            c = self.sample.connect(tls=tls)
            c.send(b"GET /index.html HTTP/1.1\r\nHo")
            c.reset()
        self.check_alive()

    def test_close_mid_response(self):
        big = b"X-Big: " + b'"' * 7000            # each '"' becomes &quot; in the page
        req = head(b"Host: x", big, request_line=b"GET /headers HTTP/1.1")
        for how in ("close", "reset"):
            c = mh.Client("127.0.0.1", self.sample.http_port, rcvbuf=4096)
            c.send(req * 40)                           # ~1.7 MB of responses
            first = c.sock.recv(100)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
            if how == "reset":
                c.reset()
            else:
                c.close()
            self.check_alive()
        # a streamed response to a client that closed before reading anything
        c = mh.Client("127.0.0.1", self.sample.http_port, rcvbuf=4096)
        c.send(req * 40)
        c.reset()
        self.check_alive()

    def test_many_bad_requests_server_survives(self):
        for i in range(50):
            self.expect_error(head(b"Host: x", b"Bad Header: %d" % i), 400, follow=b"")
        self.check_alive()


class Options(unittest.TestCase):

    def run_sample(self, *args):
        p = subprocess.run([mh.sample_path()] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def bad(self, *args):
        rc, out, err = self.run_sample(*args)
        self.assertEqual(rc, 2, "mote-sample %s: status %d\nstdout %s\nstderr %s" % (
            " ".join(args), rc, out, err))
        self.assertEqual(len(err.splitlines()), 1, "want ONE line on stderr for %s, got:\n%s"
                         % (" ".join(args), err))
        self.assertTrue(err.endswith("\n"))
        self.assertFalse(mh.sanitizer_lines(err), err)
        return err

    def test_bad_options(self):
        self.assertIn("'x'", self.bad("--port", "x"))
        self.bad("--port", "70000")
        self.bad("--port")
        self.bad("--tls-port", "-1")
        self.assertIn("--bogus", self.bad("--bogus"))
        self.bad("--max-conns", "0")
        self.bad("--log-level", "loud")
        self.bad("--cert", "/nonexistent/cert.pem")
        self.bad("--key", "/nonexistent/key.pem")

    def test_bad_cert_files(self):
        err = self.bad("--port", "0", "--tls-port", "0", "--cert", "/nonexistent/cert.pem",
                       "--key", "/nonexistent/key.pem")
        self.assertTrue("cert" in err.lower() or "nonexistent" in err, err)

    def test_bad_bind(self):
        self.bad("--port", "0", "--tls-port", "off", "--bind", "not-an-address")

    def test_help(self):
        rc, out, err = self.run_sample("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: mote-sample", out)
        for opt in ("--port", "--tls-port", "--bind", "--cert", "--key", "--max-conns",
                    "--workers", "--handshake-timeout", "--body-timeout", "--write-timeout",
                    "--log-level", "--version"):
            self.assertIn(opt, out)
        self.assertEqual(err, "")

    def test_version(self):
        rc, out, err = self.run_sample("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^mote-sample \d+\.\d+\.\d+ \(libmote \d+\.\d+\.\d+, TLS: "
                              r"(mbedTLS \d+\.\d+\.\d+|OpenSSL \d+\.\d+\.\d+|none)"
                              r"(, HTTP/2)?\)\n$")
        self.assertEqual(err, "")

    def test_bad_new_options(self):
        for args in (("--workers", "0"), ("--workers", "65"), ("--handshake-timeout", "0"),
                     ("--body-timeout", "x"), ("--write-timeout", "")):
            rc, out, err = self.run_sample(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(len(err.strip().splitlines()), 1, (args, err))


if __name__ == "__main__":
    mh.main()
