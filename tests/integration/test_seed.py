#!/usr/bin/env python3
"""The seed's own commands (Zephyr samples/net/http_server) against mote-sample, with wget.

Each wget runs in a fresh temporary directory, as the seed's page runs it from a shell, and the
file it saves is compared with the seed's page byte for byte."""

import os
import platform
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

WGET = shutil.which("wget")


def header_page(headers, method, url, machine):
    """The seed's header-fields page for these request headers."""
    out = ("<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n<body>\n"
           "<h1>Zephyr HTTP server</h1>\n<h2>HTTP Header Fields</h2>\n<ul>\n")
    for n, v in headers:
        out += "<li>%s: %s</li>\n" % (n, v)
    out += ("</ul>\n<h2>HTTP Method: %s</h2>\n<h2>URL: %s</h2>\n<h2>Server: %s</h2>\n"
            "</body>\n</html>\n" % (method, url, machine))
    return out.encode()


def sent_headers(debug_log):
    """The header fields wget says it sent (from `wget -d`), in order."""
    m = re.search(r"---request begin---\n(.*?)\r?\n\r?\n---request end---", debug_log, re.S)
    assert m, "no request in wget's debug output:\n" + debug_log
    lines = m.group(1).replace("\r\n", "\n").split("\n")
    return lines[0], [tuple(l.split(": ", 1)) for l in lines[1:]]


@unittest.skipUnless(WGET, "wget not installed")
class SeedCommands(mh.SampleTestCase):

    def wget(self, *args, expect_status=0):
        """Runs wget in a fresh temp dir; returns (dir, stderr text)."""
        d = tempfile.mkdtemp(prefix="mote-wget-")
        self.addCleanup(shutil.rmtree, d, True)
        p = mh.run([WGET] + list(args), cwd=d, env=mh.clean_env(home=d), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, expect_status, "wget %s: status %d\n%s" % (
            " ".join(args), p.returncode, err))
        return d, err

    def saved(self, d, name="index.html"):
        path = os.path.join(d, name)
        self.assertTrue(os.path.isfile(path), "wget saved no %s (dir has %s)" % (
            name, os.listdir(d)))
        with open(path, "rb") as f:
            return f.read()

    def hostport(self, host, tls=False):
        port = self.sample.tls_port if tls else self.sample.http_port
        return "%s:%d" % ("[%s]" % host if ":" in host else host, port)

    # -- the seed's four commands, on one address family --

    def check_index(self, host):
        # wget 192.168.1.101/index.html
        arg = self.hostport(host) if ":" not in host else "http://" + self.hostport(host)
        d, err = self.wget(arg + "/index.html")
        self.assertIn("200 OK", err)
        self.assertEqual(self.saved(d), mh.IT_WORKS)
        self.assertEqual(os.listdir(d), ["index.html"])

    def check_headers(self, host):
        # wget 192.168.1.101/headers -O index.html
        arg = self.hostport(host) if ":" not in host else "http://" + self.hostport(host)
        d, err = self.wget(arg + "/headers", "-O", "index.html", "-d")
        request_line, sent = sent_headers(err)
        self.assertEqual(request_line, "GET /headers HTTP/1.1")
        names = [n for n, _ in sent]
        for want in ("User-Agent", "Accept", "Host", "Connection"):
            self.assertIn(want, names)
        self.assertIn(("Host", self.hostport(host)), sent)
        page = self.saved(d)
        self.assertEqual(page, header_page(sent, "GET", "/headers", platform.machine()))
        # and the plain seed command (no -d) gets the same page
        d2, _ = self.wget(arg + "/headers", "-O", "index.html")
        self.assertEqual(self.saved(d2), page)

    def check_not_found(self, host):
        # wget 192.168.1.101/not_found -O index.html: a soft 404, chunked
        arg = self.hostport(host) if ":" not in host else "http://" + self.hostport(host)
        d, err = self.wget(arg + "/not_found", "-O", "index.html", "-S")
        head = [l.strip() for l in err.splitlines() if l.startswith("  ")]
        self.assertIn("HTTP/1.1 200 OK", head, err)
        self.assertIn("Content-Type: text/html", head, err)
        self.assertIn("Transfer-Encoding: chunked", head, err)
        self.assertFalse([l for l in head if l.lower().startswith("content-length")], err)
        self.assertEqual(self.saved(d), mh.NOT_FOUND_PAGE)

    def check_https(self, host):
        # wget https://192.0.2.1 --no-check-certificate (here /index.html on the TLS port)
        d, err = self.wget("https://%s/index.html" % self.hostport(host, tls=True),
                           "--no-check-certificate")
        self.assertIn("200 OK", err)
        self.assertEqual(self.saved(d), mh.IT_WORKS)

    def test_ipv4_index(self):
        self.check_index("127.0.0.1")

    def test_ipv4_headers(self):
        self.check_headers("127.0.0.1")

    def test_ipv4_not_found(self):
        self.check_not_found("127.0.0.1")

    def test_ipv4_https(self):
        self.check_https("127.0.0.1")

    def test_ipv6_all_four(self):
        if not mh.have_ipv6():
            mh.skip_note("the seed commands over [::1]")
            self.skipTest("no IPv6 loopback")
        self.check_index("::1")
        self.check_headers("::1")
        self.check_not_found("::1")
        self.check_https("::1")

    def test_https_headers_and_soft_404(self):
        d, err = self.wget("https://%s/headers" % self.hostport("127.0.0.1", tls=True),
                           "--no-check-certificate", "-O", "index.html", "-d")
        _, sent = sent_headers(err)
        self.assertEqual(self.saved(d), header_page(sent, "GET", "/headers", platform.machine()))
        d, _ = self.wget("https://%s/not_found" % self.hostport("127.0.0.1", tls=True),
                         "--no-check-certificate", "-O", "index.html")
        self.assertEqual(self.saved(d), mh.NOT_FOUND_PAGE)

    # -- routes: the seed's prefix rule, 403, real 404 --

    def test_prefix_routes(self):
        c = self.connect()
        for target in ("/index.html", "/index.html/", "/index.html/xxx", "/index.html/a/b?q=1",
                       "/index.html?x"):
            r = c.request("GET", target)
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS), target)
            self.assertEqual(r.framing, "length", target)
        for target in ("/headers/xxx", "/headers/", "/headers/index.html", "/headers?a=b"):
            r = c.request("GET", target, headers=[("X-Probe", "1")])
            self.assertEqual(r.status, 200, target)
            self.assertEqual(r.body, header_page([("Host", "x"), ("X-Probe", "1")], "GET", target,
                                                 platform.machine()), target)
        # "/a" takes "/a/..." but never "/ab": these fall to the soft 404
        for target in ("/index.htmlx", "/index.html.bak", "/headersx", "/forbiddenx",
                       "/INDEX.HTML", "/assets/nothing.css"):
            r = c.request("GET", target)
            self.assertEqual((r.status, r.body), (200, mh.NOT_FOUND_PAGE), target)
            self.assertEqual(r.framing, "chunked", target)

    def test_forbidden_and_missing(self):
        c = self.connect()
        for target in ("/forbidden", "/forbidden/x"):
            r = c.request("GET", target)
            self.assertEqual((r.status, r.reason), (403, "Forbidden"), target)
            self.assertEqual(r.body, mh.FORBIDDEN_PAGE)
            self.assertEqual(r.header("Content-Type"), "text/html")
        for target in ("/missing", "/missing/x"):
            r = c.request("GET", target)
            self.assertEqual((r.status, r.reason), (404, "Not Found"), target)
            self.assertEqual(r.body, mh.NOT_FOUND_PAGE)
        # the connection survives error statuses (keep-alive)
        r = c.request("GET", "/index.html")
        self.assertEqual(r.status, 200)
        # wget reports the real 404 as a server error (exit 8) and the 403 likewise
        for target in ("/missing", "/forbidden"):
            _, err = self.wget(self.hostport("127.0.0.1") + target, "-O", "index.html",
                               expect_status=8)
            self.assertIn("ERROR 404" if target == "/missing" else "ERROR 403", err)

    def test_header_page_escapes_markup(self):
        c = self.connect()
        r = c.request("GET", "/headers/a&b", headers=[("X-Html", '<script>"&"</script>')])
        self.assertEqual(r.status, 200)
        self.assertIn(b"<li>X-Html: &lt;script&gt;&quot;&amp;&quot;&lt;/script&gt;</li>", r.body)
        self.assertIn(b"<h2>URL: /headers/a&amp;b</h2>", r.body)
        self.assertNotIn(b"<script>", r.body)


if __name__ == "__main__":
    mh.main()
