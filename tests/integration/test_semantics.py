#!/usr/bin/env python3
"""HTTP/1.1 semantics over raw sockets: methods (405 with Allow, OPTIONS, 501), request-target
forms (origin, absolute, asterisk, authority), percent-decoding and dot-segments before routing,
HEAD against GET, and Expect (100-continue only once the route accepts the request; 417 for
anything else).

Requests that must be refused are followed, in the same bytes, by a `GET /missing` whose 404
must never be answered."""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

SMUGGLED = b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
ALL_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def raw(request_line, *fields):
    """A request head with Host: x and `fields` (raw lines)."""
    return (request_line + b"\r\nHost: x\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n")


def allow_set(value):
    return {m.strip() for m in (value or "").split(",") if m.strip()}


def json_upload(body):
    return '{"bytes": %d, "sha256": "%s"}\n' % (len(body), hashlib.sha256(body).hexdigest())


class Semantics(mh.SampleTestCase):
    sample_args = ("--tls-port", "off")

    def refused(self, data, status):
        """data + SMUGGLED in one write: one response with `status`, Connection: close, EOF,
        and the smuggled request never answered."""
        c = self.connect()
        c.send_tolerant(data + SMUGGLED)
        method = data.split(b" ", 1)[0].decode("latin-1")  # HEAD: no body to read
        responses, closed, error = c.read_responses(method, limit=3)
        what = "request %r" % data[:200]
        got = [(r.status, r.body[:60]) for r in responses]
        self.assertEqual([r.status for r in responses], [status], "%s: got %r (%s)" % (
            what, got, error))
        r = responses[0]
        self.assertEqual((r.header("Connection") or "").lower(), "close",
                         "%s: the %d should say Connection: close; head %r" % (what, status, r.head))
        self.assertIsNone(error, "%s: %s" % (what, error))
        self.assertTrue(closed, "%s: not closed after the %d" % (what, status))
        return r

    def served(self, data, method="GET"):
        """data + a pipelined GET /missing: returns the first response after checking the
        second is the 404 page (so the connection stayed in step and open)."""
        c = self.connect()
        c.send(data + SMUGGLED)
        r = c.read_response(method)
        r2 = c.read_response()
        self.assertEqual((r2.status, r2.body), (404, mh.NOT_FOUND_PAGE),
                         "request %r: the next request on the connection got %r" % (data[:200], r2))
        return r

    # -- methods --

    def test_405_with_allow(self):
        for method, target, allow in (("DELETE", "/echo", "POST, PUT, OPTIONS"),
                                      ("GET", "/echo", "POST, PUT, OPTIONS"),
                                      ("HEAD", "/echo", "POST, PUT, OPTIONS"),
                                      ("PATCH", "/upload", "POST, PUT, OPTIONS"),
                                      ("POST", "/events", "GET, HEAD, OPTIONS"),
                                      ("DELETE", "/events", "GET, HEAD, OPTIONS")):
            r = self.served(raw(("%s %s HTTP/1.1" % (method, target)).encode()), method)
            self.assertEqual(r.status, 405, "%s %s: %r" % (method, target, r))
            self.assertEqual(r.header("Allow"), allow, "%s %s" % (method, target))
        # with a body: the body is not read as the next request
        r = self.served(raw(b"DELETE /echo HTTP/1.1", b"Content-Length: 5") + b"hello")
        self.assertEqual((r.status, r.header("Allow")), (405, "POST, PUT, OPTIONS"))
        r = self.served(raw(b"GET /echo HTTP/1.1", b"Transfer-Encoding: chunked")
                        + b"5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(r.status, 405)

    def test_options(self):
        for target, allow in (("/echo", "POST, PUT, OPTIONS"), ("/upload", "POST, PUT, OPTIONS"),
                              ("/events", "GET, HEAD, OPTIONS")):
            r = self.served(raw(("OPTIONS %s HTTP/1.1" % target).encode()), "OPTIONS")
            self.assertEqual((r.status, r.header("Allow")), (204, allow), target)
            self.assertIsNone(r.header("Content-Length"), "204 with Content-Length: %r" % r.head)
            self.assertIsNone(r.header("Transfer-Encoding"), r.head)
        r = self.served(raw(b"OPTIONS * HTTP/1.1"), "OPTIONS")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(allow_set(r.header("Allow")), ALL_METHODS, r.head)
        self.assertIsNone(r.header("Content-Length"), r.head)

    def test_unknown_methods_501(self):
        for method in (b"BREW", b"PROPFIND", b"TRACE", b"MKCOL"):
            self.refused(raw(method + b" /index.html HTTP/1.1"), 501)
        # with a body that would be read as a request if the method were skipped
        self.refused(raw(b"PROPFIND / HTTP/1.1", b"Content-Length: %d" % len(SMUGGLED)), 501)

    def test_connect_501(self):
        self.refused(raw(b"CONNECT host:443 HTTP/1.1"), 501)
        self.refused(raw(b"CONNECT 127.0.0.1:80 HTTP/1.1"), 501)

    def test_asterisk_only_with_options(self):
        for method in (b"GET", b"HEAD", b"POST", b"DELETE"):
            self.refused(raw(method + b" * HTTP/1.1"), 400)

    # -- targets --

    def test_dot_segments_and_percent_decoding(self):
        for target in (b"/a/./b/../../index.html", b"/inde%78.html", b"/index%2Ehtml",
                       b"/%69ndex.html", b"/headers/../index.html", b"/headers/%2e%2e/index.html",
                       b"/./index.html", b"/x/y/z/../../../index.html"):
            c = self.connect()
            c.send(raw(b"GET " + target + b" HTTP/1.1"))
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS), "target %r: %r %r" % (
                target, r, r.body[:200]))

    def test_bad_paths_400(self):
        for target in (b"/../index.html", b"/%2e%2e/index.html", b"/.%2E/index.html",
                       b"/a/../../index.html", b"/index%00.html", b"/%zz", b"/%4",
                       b"/index.html%", b"/%G0"):
            self.refused(raw(b"GET " + target + b" HTTP/1.1"), 400)

    def test_raw_target_kept(self):
        c = self.connect()
        target = b"/headers/./x/../%41?q=%20&r=a/../b"
        c.send(raw(b"GET " + target + b" HTTP/1.1"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<h2>URL: " + target.replace(b"&", b"&amp;") + b"</h2>", r.body)

    def test_absolute_form(self):
        c = self.connect()
        c.send(raw(b"GET http://whatever/index.html HTTP/1.1").replace(b"Host: x", b"Host: other"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        c.send(b"GET http://whatever/headers?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<h2>URL: http://whatever/headers?x=1</h2>", r.body)
        self.assertIn(b"<li>Host: other</li>", r.body)
        c.send(b"GET http://whatever:8080/a/../index.html HTTP/1.1\r\nHost: other\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        # no path: "/", the sample's compiled-in landing page
        c.send(b"GET http://whatever HTTP/1.1\r\nHost: other\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<h1>mote</h1>", r.body)
        # the path of an absolute-form target climbing above "/" is refused too
        self.refused(raw(b"GET http://whatever/../index.html HTTP/1.1"), 400)

    # -- HEAD --

    def test_head_matches_get(self):
        for target in (b"/index.html", b"/headers", b"/missing", b"/not-a-route"):
            c = self.connect()
            c.send(raw(b"GET " + target + b" HTTP/1.1"))
            g = c.read_response()
            # HEAD, then a pipelined GET: if HEAD carried a body, the next read would find it
            c.send(raw(b"HEAD " + target + b" HTTP/1.1") + raw(b"GET /index.html HTTP/1.1"))
            h = c.read_response("HEAD")
            nxt = c.read_response()
            self.assertEqual((nxt.status, nxt.body), (200, mh.IT_WORKS),
                             "HEAD %r left bytes before the next response: %r" % (target, nxt))
            self.assertEqual(h.status, g.status, target)
            strip = lambda hs: [(n.lower(), v) for n, v in hs if n.lower() != "date"]  # noqa: E731
            self.assertEqual(strip(h.headers), strip(g.headers),
                             "HEAD %r and GET differ:\n%r\n%r" % (target, h.head, g.head))
            self.assertTrue(g.body, target)

    # -- Expect --

    def test_expect_other_417(self):
        r = self.served(raw(b"GET /index.html HTTP/1.1", b"Expect: something-else"))
        self.assertEqual(r.status, 417, r)
        # with a body: the 417 either leaves the connection in step (the next request is
        # answered) or closes it, saying so
        c = self.connect()
        c.send_tolerant(raw(b"POST /echo HTTP/1.1", b"Expect: bogus", b"Content-Length: 5")
                        + b"hello" + SMUGGLED)
        responses, closed, error = c.read_responses(limit=2)
        self.assertTrue(responses, error)
        self.assertEqual(responses[0].status, 417, responses)
        if (responses[0].header("Connection") or "").lower() == "close":
            self.assertEqual(len(responses), 1, responses)
            self.assertTrue(closed)
        else:
            self.assertEqual([(r.status, r.body) for r in responses[1:]],
                             [(404, mh.NOT_FOUND_PAGE)], "after the 417: %r %s" % (responses, error))

    def test_expect_100_refused_at_once(self):
        """The final status, not 100, when the route would refuse the request: the body is
        never sent."""
        for head, status in (
                (raw(b"POST /echo HTTP/1.1", b"Expect: 100-continue",
                     b"Content-Length: %d" % (2 << 20)), 413),
                (raw(b"PUT /echo HTTP/1.1", b"Expect: 100-continue", b"Transfer-Encoding: chunked",
                     b"Content-Length: 5"), 400),
                (raw(b"DELETE /echo HTTP/1.1", b"Expect: 100-continue", b"Content-Length: 5"), 405),
                (raw(b"GET /auth HTTP/1.1", b"Expect: 100-continue", b"Content-Length: 5"), 401)):
            c = self.connect()
            c.send(head)
            r = c.read_response()
            self.assertEqual(r.status, status, "%r: %r" % (head, r.head))
            if status in (413, 400):
                self.assertEqual((r.header("Connection") or "").lower(), "close", r.head)
                self.assertClosed(c, msg="after %d to %r" % (status, head))
            c.close()

    def test_expect_100_upload(self):
        body = bytes(range(256)) * 1024          # 256 KiB
        for framing in ("length", "chunked"):
            c = self.connect()
            if framing == "length":
                c.send(raw(b"POST /upload HTTP/1.1", b"Expect: 100-continue",
                           b"Content-Length: %d" % len(body)))
            else:
                c.send(raw(b"PUT /upload HTTP/1.1", b"Expect: 100-continue",
                           b"Transfer-Encoding: chunked"))
            interim = c.read_response()
            self.assertEqual(interim.status, 100, interim)
            self.assertEqual(interim.head, CONTINUE)
            if framing == "length":
                c.send(body)
            else:
                c.send(b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50000]), body[i:i + 50000])
                                for i in range(0, len(body), 50000)) + b"0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body.decode()), (200, json_upload(body)), framing)
            # the connection goes on
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)

    def test_expect_100_echo_within_limit(self):
        c = self.connect()
        c.send(raw(b"POST /echo HTTP/1.1", b"Expect: 100-continue", b"Content-Length: 11"))
        self.assertEqual(c.read_response().head, CONTINUE)
        c.send(b"hello world")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"hello world"))
        # the expectation token is case-insensitive
        c.send(raw(b"PUT /echo HTTP/1.1", b"Expect: 100-Continue", b"Content-Length: 2"))
        self.assertEqual(c.read_response().head, CONTINUE)
        c.send(b"hi")
        self.assertEqual(c.read_response().body, b"hi")

    def test_expect_100_ignored_in_http10(self):
        # RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored
        c = self.connect()
        c.send(raw(b"POST /echo HTTP/1.0", b"Expect: 100-continue", b"Content-Length: 5")
               + b"hello")
        responses, closed, error = c.read_responses(limit=3)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, b"hello")],
                         "HTTP/1.0 with Expect: %r %s" % (responses, error))


if __name__ == "__main__":
    mh.main()
