#!/usr/bin/env python3
"""Request smuggling over raw sockets: every framing rule of RFC 9112 §6 that mote enforces.

Each bad request is sent together with a second request in the same bytes (SMUGGLED, a
`GET /missing` whose 404 page is easy to recognise). The server must answer the bad request
with the exact status (400, or 501 for a transfer coding it does not implement), say
`Connection: close`, close the connection, and never answer the request behind it: no 404, no
second response at all. The valid controls (the same shapes, well formed) must answer BOTH
requests, in order, and keep the connection open.

The bad requests go to /echo (a route that collects the body, so no handler can answer before
the framing is judged) and to /upload (a route that streams the body to its handler)."""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

SMUGGLED = b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
ROUTES = (b"/echo", b"/upload")


def post(target, *fields, version=b"HTTP/1.1"):
    """The head of a POST with Host and `fields` (raw header lines, CRLF added)."""
    return (b"POST " + target + b" " + version + b"\r\n" + b"Host: x\r\n"
            + b"".join(f + b"\r\n" for f in fields) + b"\r\n")


def chunked(target, body):
    return post(target, b"Transfer-Encoding: chunked") + body


class Smuggling(mh.SampleTestCase):
    sample_args = ("--tls-port", "off")

    # -- the two outcomes --

    def refused(self, data, status=400, statuses=None):
        """Sends data + SMUGGLED in one write; asserts exactly one response with `status`
        (or one of `statuses`), Connection: close, then EOF, and no answer to SMUGGLED."""
        statuses = statuses or (status,)
        c = self.connect()
        c.send_tolerant(data + SMUGGLED)
        method = data.split(b" ", 1)[0].decode("latin-1")  # HEAD: no body to read
        responses, closed, error = c.read_responses(method, limit=3)
        what = "request %r + smuggled GET /missing" % data[:300]
        got = [(r.status, r.body[:80]) for r in responses]
        self.assertTrue(responses, "%s: no response at all (closed %s, %s)" % (what, closed, error))
        self.assertNotIn(404, [r.status for r in responses],
                         "%s: the smuggled request was answered: %r" % (what, got))
        self.assertEqual(len(responses), 1, "%s: want one response, got %r" % (what, got))
        r = responses[0]
        self.assertIn(r.status, statuses, "%s: got %r" % (what, got))
        self.assertEqual((r.header("Connection") or "").lower(), "close",
                         "%s: the %d should say Connection: close; head %r" % (what, r.status, r.head))
        self.assertIsNone(error, "%s: bytes after the %d response: %s" % (what, r.status, error))
        self.assertTrue(closed, "%s: connection not closed after the %d" % (what, r.status))
        return r

    def accepted(self, target, data, body):
        """Sends data + SMUGGLED in one write; asserts the request is answered as `target`
        answers `body`, then the 404 of the second request, and the connection stays open."""
        c = self.connect()
        c.send(data + SMUGGLED)
        what = "request %r + pipelined GET /missing" % data[:300]
        r = c.read_response()
        self.assertEqual(r.status, 200, "%s: %r %r" % (what, r, r.body[:200]))
        if target == b"/echo":
            self.assertEqual(r.body, body, what)
            self.assertEqual(r.header("X-Body-Length"), str(len(body)), what)
        else:
            want = '{"bytes": %d, "sha256": "%s"}\n' % (len(body), hashlib.sha256(body).hexdigest())
            self.assertEqual(r.body.decode(), want, what)
        self.assertNotEqual((r.header("Connection") or "").lower(), "close", what)
        r2 = c.read_response()
        self.assertEqual((r2.status, r2.body), (404, mh.NOT_FOUND_PAGE),
                         "%s: second response %r" % (what, r2))
        # still open and in step
        r3 = c.request("GET", "/index.html")
        self.assertEqual((r3.status, r3.body), (200, mh.IT_WORKS), what)

    # -- Content-Length and Transfer-Encoding together --

    def test_content_length_and_transfer_encoding(self):
        for route in ROUTES:
            # CL first: a CL reader takes "0\r\n\r\n" as the body
            self.refused(post(route, b"Content-Length: 5", b"Transfer-Encoding: chunked")
                         + b"0\r\n\r\n")
            # TE first
            self.refused(post(route, b"Transfer-Encoding: chunked", b"Content-Length: 5")
                         + b"0\r\n\r\n")
            # CL 0 with a chunked body: a CL reader would see "5\r\nhello..." as a request
            self.refused(post(route, b"Content-Length: 0", b"Transfer-Encoding: chunked")
                         + b"5\r\nhello\r\n0\r\n\r\n")
            # CL that covers the smuggled request, TE that ends before it
            self.refused(post(route, b"Content-Length: %d" % (5 + len(SMUGGLED)),
                              b"Transfer-Encoding: chunked") + b"0\r\n\r\n")

    # -- Content-Length values --

    def test_differing_content_lengths(self):
        for route in ROUTES:
            self.refused(post(route, b"Content-Length: 5", b"Content-Length: 6") + b"hello!")
            self.refused(post(route, b"Content-Length: 6", b"Content-Length: 5") + b"hello!")
            self.refused(post(route, b"Content-Length: 5, 6") + b"hello!")

    def test_malformed_content_length(self):
        for route in ROUTES:
            self.refused(post(route, b"Content-Length: +5") + b"hello")
            self.refused(post(route, b"Content-Length: 1 0") + b"0123456789")
            self.refused(post(route, b"Content-Length: 0x10") + b"0123456789abcdef")
            self.refused(post(route, b"Content-Length: -1") + b"h")
            self.refused(post(route, b"Content-Length: 5x") + b"hello")
            self.refused(post(route, b"Content-Length: ") + b"hello")
            self.refused(post(route, b"Content-Length: 5.0") + b"hello")

    def test_content_length_overflow(self):
        for route in ROUTES:
            self.refused(post(route, b"Content-Length: 18446744073709551616"))        # 2^64
            self.refused(post(route, b"Content-Length: 18446744073709551621") + b"hello")
            self.refused(post(route, b"Content-Length: 99999999999999999999999999999999"))
        # the largest value that fits is not malformed: /echo refuses it as too large
        self.refused(post(b"/echo", b"Content-Length: 18446744073709551615"), 413)

    # -- Transfer-Encoding values --

    def test_transfer_coding_not_final_chunked(self):
        for route in ROUTES:
            for te in (b"chunked, identity", b"identity", b"xchunked", b"chunkedx", b"gzip",
                       b""):
                self.refused(post(route, b"Transfer-Encoding: " + te) + b"0\r\n\r\n")
            # split over two fields: "chunked, identity"
            self.refused(post(route, b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity")
                         + b"0\r\n\r\n")

    def test_chunked_twice(self):
        # chunked applied twice can never be right; 400 (or 501, a coding not implemented)
        for route in ROUTES:
            self.refused(post(route, b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n",
                         statuses=(400, 501))
            self.refused(post(route, b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked")
                         + b"0\r\n\r\n", statuses=(400, 501))

    def test_unimplemented_coding_before_chunked(self):
        for route in ROUTES:
            self.refused(post(route, b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n", 501)
            self.refused(post(route, b"Transfer-Encoding: deflate, chunked") + b"0\r\n\r\n", 501)

    def test_chunked_in_http10(self):
        for route in ROUTES:
            self.refused(post(route, b"Transfer-Encoding: chunked", version=b"HTTP/1.0")
                         + b"5\r\nhello\r\n0\r\n\r\n")

    def test_transfer_encoding_obs_fold(self):
        for route in ROUTES:
            self.refused(post(route, b"Transfer-Encoding:", b" chunked") + b"0\r\n\r\n")
            self.refused(post(route, b"Transfer-Encoding: gzip,", b"\tchunked") + b"0\r\n\r\n")
            # folded into another field, with a Content-Length as well
            self.refused(post(route, b"X-A: a", b" Transfer-Encoding: chunked",
                              b"Content-Length: 5") + b"0\r\n\r\n")

    def test_transfer_encoding_space_before_colon(self):
        for route in ROUTES:
            self.refused(post(route, b"Transfer-Encoding : chunked") + b"0\r\n\r\n")
            self.refused(post(route, b"Transfer-Encoding\t: chunked") + b"0\r\n\r\n")
            self.refused(post(route, b"Content-Length : 5") + b"hello")

    # -- chunked bodies --

    def test_chunk_size_junk(self):
        for route in ROUTES:
            for body in (b"5 x\r\nhello\r\n0\r\n\r\n",
                         b"5x\r\nhello\r\n0\r\n\r\n",
                         b"0x5\r\nhello\r\n0\r\n\r\n",
                         b"+5\r\nhello\r\n0\r\n\r\n",
                         b"\r\nhello\r\n0\r\n\r\n",           # no size at all
                         b"zz\r\nhello\r\n0\r\n\r\n"):
                self.refused(chunked(route, body))

    def test_chunk_size_overflow(self):
        for route in ROUTES:
            self.refused(chunked(route, b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"))
            # 2^64 + 5: wraps to 5 in 64 bits
            self.refused(chunked(route, b"10000000000000005\r\nhello\r\n0\r\n\r\n"))

    def test_negative_chunk_size(self):
        for route in ROUTES:
            self.refused(chunked(route, b"-1\r\nh\r\n0\r\n\r\n"))
            self.refused(chunked(route, b"-0\r\n\r\n"))

    def test_chunk_data_not_followed_by_crlf(self):
        for route in ROUTES:
            self.refused(chunked(route, b"5\r\nhelloXX0\r\n\r\n"))
            self.refused(chunked(route, b"5\r\nhello0\r\n\r\n"))
            self.refused(chunked(route, b"3\r\nhello\r\n0\r\n\r\n"))       # data longer than size
            self.refused(chunked(route, b"5\r\nhello\n0\r\n\r\n"))         # bare LF after data
            self.refused(chunked(route, b"5\r\nhello\r0\r\n\r\n"))         # bare CR after data

    def test_bare_lf_in_chunk_lines(self):
        for route in ROUTES:
            self.refused(chunked(route, b"5\nhello\r\n0\r\n\r\n"))         # after the size
            self.refused(chunked(route, b"5\r\nhello\r\n0\n\r\n"))         # after the last size
            self.refused(chunked(route, b"5\r\nhello\r\n0\r\n\n"))         # ending the trailers
            self.refused(chunked(route, b"5\r\nhello\r\n0\r\nX-T: t\n\r\n"))  # in a trailer

    def test_chunk_extension_bare_cr(self):
        for route in ROUTES:
            self.refused(chunked(route, b"5;a=b\rc\r\nhello\r\n0\r\n\r\n"))
            self.refused(chunked(route, b"5;a\r\r\nhello\r\n0\r\n\r\n"))
            self.refused(chunked(route, b"5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"))

    def test_body_ends_early_then_close(self):
        # a Content-Length longer than what arrives, then EOF from the client: no answer to
        # the bytes that did arrive as if they were a request
        for route in ROUTES:
            c = self.connect()
            c.send(post(route, b"Content-Length: %d" % (len(SMUGGLED) + 10)) + SMUGGLED)
            c.sock.shutdown(1)       # SHUT_WR: the body can never complete
            responses, closed, error = c.read_responses(limit=3)
            self.assertNotIn(404, [r.status for r in responses], responses)
            self.assertTrue(closed)
            for r in responses:      # an error answer, if any
                self.assertGreaterEqual(r.status, 400, responses)

    # -- valid controls: both requests answered, in order --

    def test_control_content_length(self):
        for route in ROUTES:
            self.accepted(route, post(route, b"Content-Length: 11") + b"hello world", b"hello world")
            self.accepted(route, post(route, b"Content-Length: 0"), b"")
            # the body looks like a request line: it is body, not a request
            fake = b"GET /missing HTTP/1.1\r\n"
            self.accepted(route, post(route, b"Content-Length: %d" % len(fake)) + fake, fake)
            # OWS around the value
            self.accepted(route, post(route, b"Content-Length:   5 \t") + b"hello", b"hello")

    def test_control_chunked_extensions_and_trailers(self):
        body = (b"5;ext=1\r\nhello\r\n"
                b"6;a=b;c=\"q;r\"\r\n world\r\n"
                b"A\r\n0123456789\r\n"
                b"0;last=yes\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n")
        for route in ROUTES:
            self.accepted(route, chunked(route, body), b"hello world0123456789")
            self.accepted(route, chunked(route, b"0\r\n\r\n"), b"")
            self.accepted(route, chunked(route, b"3\r\nGET\r\n0\r\n\r\n"), b"GET")

    def test_control_transfer_encoding_ows_and_case(self):
        for route in ROUTES:
            for te in (b"chunked\t", b"chunked ", b"\tchunked", b"chunked \t ", b"Chunked",
                       b"CHUNKED"):
                self.accepted(route, post(route, b"Transfer-Encoding: " + te)
                              + b"5\r\nhello\r\n0\r\n\r\n", b"hello")

    def test_control_http10_content_length(self):
        # HTTP/1.0 with a length: answered (and closed, 1.0 without keep-alive)
        c = self.connect()
        c.send(post(b"/echo", b"Content-Length: 5", version=b"HTTP/1.0") + b"hello" + SMUGGLED)
        responses, closed, error = c.read_responses(limit=3)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, b"hello")])
        self.assertTrue(closed)
        self.assertIsNone(error)

    def test_server_still_serves(self):
        self.refused(post(b"/echo", b"Content-Length: 5", b"Transfer-Encoding: chunked")
                     + b"0\r\n\r\n")
        c = self.connect()
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)


if __name__ == "__main__":
    mh.main()
