#!/usr/bin/env python3
"""Real clients against mote-sample: curl (HTTP, HTTPS, IPv4, IPv6, HTTP/1.0, HEAD), Python's
http.client on one keep-alive connection, and the sample's access log."""

import email.utils
import http.client
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")


def split_head(raw):
    """curl -i / -D output: [(status line, [(name, value)])] per response, and the body."""
    heads = []
    while raw.startswith(b"HTTP/"):
        head, _, raw = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        heads.append((lines[0], [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]))
    return heads, raw


def hdr(headers, name):
    vals = [v for n, v in headers if n.lower() == name.lower()]
    return vals[0] if vals else None


@unittest.skipUnless(CURL, "curl not installed")
class Curl(mh.SampleTestCase):

    def curl(self, *args, expect=0):
        p = mh.run([CURL, "-q", "-sS", "--max-time", "20"] + list(args), env=mh.clean_env(),
                   timeout=30)
        self.assertEqual(p.returncode, expect, "curl %s: status %d, stderr %r" % (
            " ".join(args), p.returncode, p.stderr[-500:]))
        return p

    def get(self, url, *args):
        """curl -i: returns (status line, headers, body)."""
        p = self.curl("-i", *args, url)
        heads, body = split_head(p.stdout)
        self.assertEqual(len(heads), 1, p.stdout[:500])
        return heads[0][0], heads[0][1], body

    def check_pages(self, host, tls, *args):
        """The seed's pages; over TLS curl negotiates h2 by ALPN, over plain it speaks HTTP/1.1."""
        s = self.sample
        h2 = tls and mh.HTTP2
        ok, forbidden = ("HTTP/2 200", "HTTP/2 403") if h2 else ("HTTP/1.1 200 OK",
                                                                  "HTTP/1.1 403 Forbidden")
        status, headers, body = self.get(s.url("/index.html", host, tls), *args)
        self.assertEqual(status.strip(), ok)
        self.assertEqual(body, mh.IT_WORKS)
        self.assertEqual(hdr(headers, "Content-Length"), str(len(mh.IT_WORKS)))
        self.assertEqual(hdr(headers, "Content-Type"), "text/html")
        status, headers, body = self.get(s.url("/not_found", host, tls), *args)
        self.assertEqual(status.strip(), ok)
        # a streamed body: chunked on HTTP/1.1, DATA frames without a length on h2
        self.assertEqual(hdr(headers, "Transfer-Encoding"), None if h2 else "chunked")
        self.assertEqual(body, mh.NOT_FOUND_PAGE)
        status, headers, body = self.get(s.url("/headers?via=curl", host, tls), *args)
        self.assertEqual(status.strip(), ok)
        # h2 field names are lowercase on the wire; :authority is given to handlers as Host
        self.assertIn(b"<li>user-agent: curl/", body.lower())
        hostport = "%s:%d" % ("[%s]" % host if ":" in host else host,
                              s.tls_port if tls else s.http_port)
        self.assertIn(("<li>host: %s</li>" % hostport).encode(), body.lower())
        self.assertIn(b"<h2>URL: /headers?via=curl</h2>", body)
        status, _, body = self.get(s.url("/forbidden", host, tls), *args)
        self.assertEqual((status.strip(), body), (forbidden, mh.FORBIDDEN_PAGE))

    def test_http_ipv4(self):
        self.check_pages("127.0.0.1", False)

    def test_http_ipv6(self):
        if not mh.have_ipv6():
            mh.skip_note("curl over [::1]")
            self.skipTest("no IPv6 loopback")
        self.check_pages("::1", False)

    def test_https_insecure_ipv4(self):
        self.check_pages("127.0.0.1", True, "-k")

    def test_https_insecure_ipv6(self):
        if not mh.have_ipv6():
            mh.skip_note("curl -k over [::1]")
            self.skipTest("no IPv6 loopback")
        self.check_pages("::1", True, "-k")

    def test_https_cacert(self):
        s = self.sample
        der = mh.server_certificate(s.tls_port)
        self.assertEqual(mh.fingerprint(der), s.fingerprint,
                         "the banner's fingerprint is not the certificate the server presents")
        d = tempfile.mkdtemp(prefix="mote-ca-")
        self.addCleanup(shutil.rmtree, d, True)
        pem = os.path.join(d, "sample.pem")
        with open(pem, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        # without trust in it, verification fails (curl exit 60: peer certificate not trusted)
        self.curl(s.url("/index.html", tls=True), expect=60)
        # with it: verified, host name 127.0.0.1 / ::1 / localhost in the certificate
        ok = "HTTP/2 200" if mh.HTTP2 else "HTTP/1.1 200 OK"
        hosts = ["127.0.0.1"] + (["::1"] if mh.have_ipv6() else [])
        for host in hosts:
            status, _, body = self.get(s.url("/index.html", host, True), "--cacert", pem)
            self.assertEqual((status.strip(), body), (ok, mh.IT_WORKS), host)
        status, _, body = self.get("https://localhost:%d/index.html" % s.tls_port, "--cacert", pem)
        self.assertEqual((status.strip(), body), (ok, mh.IT_WORKS))
        # the same over IPv6 presents the same certificate
        if mh.have_ipv6():
            self.assertEqual(mh.server_certificate(s.tls_port, "::1"), der)
        # Python's ssl verifies it too, host name included
        ctx = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
        c = mh.Client.tls("127.0.0.1", s.tls_port, context=ctx, server_hostname="127.0.0.1")
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
        with self.assertRaises(ssl.SSLCertVerificationError):
            mh.Client.tls("127.0.0.1", s.tls_port, context=ctx, server_hostname="example.com")

    def test_http10(self):
        s = self.sample
        p = self.curl("--http1.0", "-i", "-v", s.url("/index.html"))
        (status, headers), = split_head(p.stdout)[0]
        self.assertRegex(status, r"^HTTP/1\.[01] 200 OK$")
        self.assertEqual(split_head(p.stdout)[1], mh.IT_WORKS)
        self.assertIn(b"> GET /index.html HTTP/1.0", p.stderr)
        # the streamed soft 404 to a 1.0 client: close-delimited, no chunking
        p = self.curl("--http1.0", "-i", s.url("/not_found"))
        (status, headers), = split_head(p.stdout)[0]
        self.assertRegex(status, r"^HTTP/1\.[01] 200 OK$")
        self.assertIsNone(hdr(headers, "Transfer-Encoding"))
        self.assertIsNone(hdr(headers, "Content-Length"))
        self.assertEqual(split_head(p.stdout)[1], mh.NOT_FOUND_PAGE)

    def test_http10_over_tls(self):
        # curl --http1.0 offers ALPN "http/1.0" only; a server that serves HTTP/1.0 must not
        # refuse the handshake for it
        s = self.sample
        p = self.curl("--http1.0", "-k", "-i", s.url("/not_found", tls=True))
        self.assertEqual(split_head(p.stdout)[1], mh.NOT_FOUND_PAGE)
        p = self.curl("--http1.0", "-k", "-i", s.url("/index.html", tls=True))
        self.assertEqual(split_head(p.stdout)[1], mh.IT_WORKS)

    def test_http10_raw(self):
        # 1.0 without keep-alive: response, then close
        c = self.connect()
        r = c.request("GET", "/index.html", version="HTTP/1.0", host=None)
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        self.assertClosed(c)
        # 1.0 with keep-alive: stays open, announces it
        c = self.connect()
        for _ in range(3):
            r = c.request("GET", "/index.html", version="HTTP/1.0", host=None,
                          headers=[("Connection", "keep-alive")])
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
            self.assertEqual((r.header("Connection") or "").lower(), "keep-alive")
        # a streamed page cannot be framed for 1.0 keep-alive: close-delimited, then closed
        r = c.request("GET", "/not_found", version="HTTP/1.0", host=None,
                      headers=[("Connection", "keep-alive")])
        self.assertEqual((r.status, r.framing, r.body), (200, "close", mh.NOT_FOUND_PAGE))

    def test_head(self):
        s = self.sample
        for path in ("/index.html", "/not_found", "/headers", "/forbidden", "/missing"):
            g = self.curl("-i", s.url(path))
            (gstatus, gheaders), = split_head(g.stdout)[0]
            gbody = split_head(g.stdout)[1]
            h = self.curl("-I", s.url(path))
            heads, hbody = split_head(h.stdout)
            self.assertEqual(len(heads), 1)
            hstatus, hheaders = heads[0]
            self.assertEqual(hbody, b"", path)
            self.assertEqual(hstatus, gstatus, path)
            self.assertEqual([n for n, _ in hheaders], [n for n, _ in gheaders], path)
            self.assertEqual([x for x in hheaders if x[0] != "Date"],
                             [x for x in gheaders if x[0] != "Date"], path)
            if hdr(gheaders, "Content-Length") is not None:
                self.assertEqual(hdr(hheaders, "Content-Length"), str(len(gbody)), path)
        # raw: HEAD carries no body, so the GET pipelined after it parses cleanly
        c = self.connect()
        c.send(mh.build_request("HEAD", "/index.html") + mh.build_request("HEAD", "/not_found")
               + mh.build_request("GET", "/index.html"))
        r1 = c.read_response("HEAD")
        r2 = c.read_response("HEAD")
        r3 = c.read_response("GET")
        self.assertEqual((r1.status, r1.header("Content-Length")), (200, str(len(mh.IT_WORKS))))
        self.assertEqual((r2.status, r2.header("Transfer-Encoding")), (200, "chunked"))
        self.assertEqual((r3.status, r3.body), (200, mh.IT_WORKS))
        self.assertEqual(c.buf, b"")


class KeepAliveAndLog(mh.SampleTestCase):

    def many_requests(self, conn, n=200):
        conn.connect()
        first_sock = conn.sock
        local = conn.sock.getsockname()
        paths = ("/index.html", "/not_found", "/headers/k", "/missing")
        for i in range(n):
            path = paths[i % len(paths)]
            conn.request("GET", path + "?i=%d" % i)
            r = conn.getresponse()
            body = r.read()
            self.assertIs(conn.sock, first_sock, "http.client reconnected at request %d" % i)
            self.assertEqual(conn.sock.getsockname(), local)
            self.assertFalse(r.will_close, "server asked to close at request %d" % i)
            if path == "/index.html":
                self.assertEqual((r.status, body), (200, mh.IT_WORKS))
            elif path == "/not_found":
                self.assertEqual((r.status, body), (200, mh.NOT_FOUND_PAGE))
            elif path == "/missing":
                self.assertEqual((r.status, body), (404, mh.NOT_FOUND_PAGE))
            else:
                self.assertEqual(r.status, 200)
                self.assertIn(("<h2>URL: /headers/k?i=%d</h2>" % i).encode(), body)
        return local[1]

    def check_log(self, mark, port, n, peer="127.0.0.1"):
        s = self.sample
        bracket = "[%s]" % peer if ":" in peer else peer
        s.wait_stdout(r"^\[info\] connection accepted: address %s, port %d$"
                      % (re.escape(bracket), port), start=mark)
        lines = s.wait_stdout(r'^\[info\] %s:%d "GET (\S+) HTTP/1\.1" (\d{3}) (\d+) [\d.]+ms$'
                              % (re.escape(bracket), port), start=mark, count=n)
        accepted = [l for l in s.out.lines[mark:] if "port %d" % port in l and "accepted" in l]
        self.assertEqual(len(accepted), 1, "one connection for %d requests" % n)
        return lines

    def test_200_requests_one_connection_http(self):
        mark = self.sample.stdout_mark()
        conn = http.client.HTTPConnection("127.0.0.1", self.sample.http_port, timeout=10)
        self.addCleanup(conn.close)
        port = self.many_requests(conn)
        lines = self.check_log(mark, port, 200)
        self.assertEqual(lines[0].group(1), "/index.html?i=0")
        self.assertEqual((lines[1].group(1), lines[1].group(2)), ("/not_found?i=1", "200"))
        self.assertEqual((lines[3].group(1), lines[3].group(2)), ("/missing?i=3", "404"))
        self.assertEqual(lines[0].group(3), str(len(mh.IT_WORKS)))
        self.assertEqual([m.group(1) for m in lines],
                         [p + "?i=%d" % i for i, p in
                          zip(range(200), ["/index.html", "/not_found", "/headers/k", "/missing"] * 50)])

    def test_200_requests_one_connection_https(self):
        s = self.sample
        der = mh.server_certificate(s.tls_port)
        ctx = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
        mark = s.stdout_mark()
        conn = http.client.HTTPSConnection("127.0.0.1", s.tls_port, timeout=10, context=ctx)
        self.addCleanup(conn.close)
        port = self.many_requests(conn)
        self.assertEqual(conn.sock.version(), "TLSv1.3" if mh.TLS13 else "TLSv1.2")
        self.check_log(mark, port, 200)

    def test_date_and_server(self):
        c = self.connect()
        for path in ("/index.html", "/not_found", "/missing"):
            r = c.request("GET", path)
            self.assertEqual(r.header("Server"), "mote", path)
            self.assertEqual(len(r.header_all("Date")), 1, path)
            date = r.header("Date")
            self.assertRegex(date, r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|"
                             r"Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
            when = email.utils.parsedate_to_datetime(date).timestamp()
            self.assertLess(abs(when - time.time()), 60, date)

    def test_access_log_lines(self):
        s = self.sample
        targets = [("GET", "/index.html", 200, len(mh.IT_WORKS)), ("GET", "/missing/a", 404, None),
                   ("HEAD", "/forbidden", 403, None), ("GET", "/x?y=1", 200, None),
                   ("POST", "/headers", 200, None)]
        peers = [("127.0.0.1", False), ("127.0.0.1", True)]
        if mh.have_ipv6():
            peers += [("::1", False), ("::1", True)]
        else:
            mh.skip_note("the access log over [::1]")
        for host, tls in peers:
            mark = s.stdout_mark()
            c = self.connect(host, tls=tls)
            port = c.local_port()
            for method, target, status, _ in targets:
                r = c.request(method, target, body=b"abc" if method == "POST" else b"")
                self.assertEqual(r.status, status)
            c.close()
            bracket = "[%s]" % host if ":" in host else host
            s.wait_stdout(r"^\[info\] connection accepted: address %s, port %d$"
                          % (re.escape(bracket), port), start=mark)
            lines = s.wait_stdout(r'^\[info\] %s:%d "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+) '
                                  r'\d+\.\d{3}ms$' % (re.escape(bracket), port), start=mark,
                                  count=len(targets))
            got = [(m.group(1), m.group(2), int(m.group(3))) for m in lines]
            self.assertEqual(got, [(m, t, st) for m, t, st, _ in targets], (host, tls))
            self.assertEqual(int(lines[0].group(4)), len(mh.IT_WORKS))


if __name__ == "__main__":
    mh.main()
