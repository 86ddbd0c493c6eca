#!/usr/bin/env python3
"""Static content (issue 13) with real clients: `mote-sample --root DIR` serves DIR at /files/
(listing on, dot-files hidden, Cache-Control: no-cache), and the compiled-in pages (/, /live,
/assets/live.js, /assets/style.css, /favicon.ico) are served from the program.

Clients: curl (-D, --range, -z, --compressed, -I, -C -, --path-as-is), wget (-c resume, -r
mirror), Python's http.client on a keep-alive connection for exact header control, and raw
sockets for request targets nothing may normalise (the traversal battery).

The root is made in a temporary directory: a 113-byte text file, a 64 KiB binary, a 1 MiB random
file, page.html with page.html.gz (Python's gzip) and page.html.br (arbitrary bytes: the server
only sends it), a directory with index.html, one without (a listing) whose names need escaping,
dot-files, symbolic links out of the root (/etc/passwd, /etc, a secret file beside the root), and
the secret file with a marker no response may ever contain.

A directory route keeps a file it served open, with its stat, for open_file_ms (1 s in the
sample): the tests that change a file wait (bounded polling, there is no event) for the change to
show, and check that it shows within that time. "/live" is the folder live/ of the compiled-in
pages: it answers 301 to "/live/", whose index.html is the live page."""

import email.utils
import gzip
import html.parser
import http.client
import os
import re
import shutil
import socket
import sys
import subprocess
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")
WGET = shutil.which("wget")
SETPRIV = shutil.which("setpriv")

MTIME = 1700000000                       # Tue, 14 Nov 2023 22:13:20 GMT: every file's mtime
MARKER = b"MOTE-OUTSIDE-THE-ROOT-5e0c7a91"  # in the secret file beside the root, nowhere else
PASSWD_MARK = b"root:x:0:0"
KEPT_S = 1.0     # mote_static_options.open_file_ms in the sample: a kept file's stat is this old


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def pattern_bytes(n, seed=0):
    """Deterministic binary content: every byte value, shifted per 256-byte block."""
    block = bytes(range(256))
    out = bytearray()
    i = 0
    while len(out) < n:
        k = (i + seed) & 255
        out += block[k:] + block[:k]
        i += 1
    return bytes(out[:n])


SMALL = (b"mote static test: one hundred and thirteen bytes of plain text, "
         b"with a newline at the very end of it all, okay!!\n")
assert len(SMALL) == 113, len(SMALL)
PAGE = (b"<!doctype html>\n<html><head><title>page</title></head><body>\n" +
        b"".join(b"<p>Paragraph %d of a page that compresses well with gzip.</p>\n" % i
                 for i in range(80)) + b"</body></html>\n")
FAKE_BR = b"\xce\xb2\x00FAKE-BROTLI\x01\x02\x03" + pattern_bytes(300, 9)  # sent as it is
INDEX_PAGE = (b"<!doctype html>\n<html><body><h1>the withindex directory's page</h1>\n"
              b"<a href=\"other.txt\">the other file</a></body></html>\n")

# listing/: names a listing must escape (HTML) and percent-encode (href)
LISTING_FILES = {
    "a.txt": b"file a\n",
    "b.txt": b"file b\n",
    "Zed.txt": b"capital Z sorts before a in byte order\n",
    "a b&<c>.txt": b"space, ampersand, angle brackets\n",
    "\u00fcn\u00efc\u00f8d\u00e9 \u20ac.txt": "unicode name \u20ac\n".encode(),
    "q\"uo'te.txt": b"quotes\n",
    "100%.txt": b"a percent sign\n",
    "#hash?.txt": b"fragment and query characters\n",
    "subsub/deep.txt": b"deep in a subdirectory\n",
}
LISTING_NAMES = {n for n in LISTING_FILES if "/" not in n} | {"subsub/"}


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class Tree:
    """The served directory under `base`/root and the secret file at `base`/secret.txt."""

    def __init__(self, base, symlinks=True):
        self.base = base
        self.root = os.path.join(base, "root")
        self.secret = os.path.join(base, "secret.txt")
        self.visible = {}                   # path below the root -> bytes (what clients may get)
        os.mkdir(self.root)
        with open(self.secret, "wb") as f:
            f.write(b"secret beside the root\n" + MARKER + b"\n")
        self.big = os.urandom(1 << 20)
        self.put("small.txt", SMALL)
        self.put("bin64k.bin", pattern_bytes(65536, 3))
        self.put("big.bin", self.big)
        self.put("page.html", PAGE)
        self.put("page.html.gz", gzip.compress(PAGE, mtime=0))
        self.put("page.html.br", FAKE_BR)
        self.put("withindex/index.html", INDEX_PAGE)
        self.put("withindex/other.txt", b"beside the index page\n")
        for name, data in LISTING_FILES.items():
            self.put("listing/" + name, data)
        self.put(".hidden", b"a dot-file\n" + MARKER + b"\n", visible=False)
        self.put(".hiddendir/inner.txt", b"inside a dot-directory\n", visible=False)
        self.put("listing/.hidden-in-sub", b"a dot-file below\n", visible=False)
        if symlinks:
            os.symlink("/etc/passwd", os.path.join(self.root, "link_passwd"))
            os.symlink("/etc", os.path.join(self.root, "link_to_etc"))
            os.symlink("../secret.txt", os.path.join(self.root, "link_outside"))
            os.symlink(self.base, os.path.join(self.root, "link_to_base"))

    def put(self, rel, data, visible=True, mtime=MTIME):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (mtime, mtime))
        if visible:
            self.visible[rel] = data
        return path

    def path(self, rel):
        return os.path.join(self.root, rel)


class Links(html.parser.HTMLParser):
    """The <a href>, <link href> and <script src> of a page, in order (entities decoded)."""

    def __init__(self):
        super().__init__()
        self.anchors = []       # (href, text)
        self.refs = []          # every href and src
        self._a = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for k in ("href", "src"):
            if attrs.get(k) is not None:
                self.refs.append(attrs[k])
        if tag == "a" and attrs.get("href") is not None:
            self._a = [attrs["href"], ""]

    def handle_data(self, data):
        if self._a is not None:
            self._a[1] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._a is not None:
            self.anchors.append(tuple(self._a))
            self._a = None


def parse_links(body):
    p = Links()
    p.feed(body.decode("utf-8"))
    p.close()
    return p


def split_curl_head(raw):
    """The last response head of curl -D output: (status, [(name, value)])."""
    blocks = [b for b in raw.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]
    lines = blocks[-1].decode("latin-1").split("\n")
    status = int(lines[0].split()[1])
    return status, [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]


def parse_byteranges(ctype, body):
    """multipart/byteranges: [(first, last, complete length, part's Content-Type, bytes)]; each
    part's length comes from its Content-Range, and the delimiters are checked exactly."""
    m = re.fullmatch(r'multipart/byteranges\s*;\s*boundary=("?)([^";]+)\1\s*', ctype, re.I)
    assert m, "not multipart/byteranges with a boundary: %r" % ctype
    delim = b"--" + m.group(2).encode("latin-1")
    i = body.find(delim)
    assert i >= 0 and body[:i].strip(b"\r\n") == b"", "no first delimiter: %r" % body[:200]
    pos = i + len(delim)
    parts = []
    while True:
        if body[pos:pos + 2] == b"--":
            assert body[pos + 2:] in (b"", b"\r\n"), "bytes after the close delimiter: %r" % (
                body[pos + 2:pos + 200])
            return parts
        assert body[pos:pos + 2] == b"\r\n", "delimiter not followed by CRLF: %r" % (
            body[pos:pos + 50])
        end = body.index(b"\r\n\r\n", pos)
        headers = {}
        for line in body[pos + 2:end].split(b"\r\n"):
            n, _, v = line.decode("latin-1").partition(":")
            headers[n.strip().lower()] = v.strip()
        pos = end + 4
        cr = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        assert cr, "part without a byte Content-Range: %r" % headers
        first, last, total = (int(x) for x in cr.groups())
        data = body[pos:pos + last - first + 1]
        pos += last - first + 1
        assert body[pos:pos + 2 + len(delim)] == b"\r\n" + delim, (
            "part %d-%d not followed by the delimiter: %r" % (first, last, body[pos:pos + 80]))
        pos += 2 + len(delim)
        parts.append((first, last, total, headers.get("content-type"), data))


def pieces(r):
    """The pieces of a 206, single or multipart: [(first, last, complete length, bytes)]."""
    cr = r.header("Content-Range")
    if cr is not None:
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", cr)
        assert m, "bad Content-Range %r" % cr
        return [(int(m.group(1)), int(m.group(2)), int(m.group(3)), r.body)]
    return [(a, b, n, d) for a, b, n, _, d in parse_byteranges(r.header("Content-Type", ""),
                                                               r.body)]


def listing_entries(body, base):
    """The entries a listing page at URL `base` links to: [(href, name below base)], a
    directory's name ending in '/'; links to base itself, above it, or with a query (sort
    links) left out."""
    prefix = urllib.parse.urlsplit(base).path
    out = []
    for href, _ in parse_links(body).anchors:
        u = urllib.parse.urlsplit(urllib.parse.urljoin(base, href))
        if u.query or not u.path.startswith(prefix) or u.path == prefix:
            continue
        out.append((href, urllib.parse.unquote(u.path[len(prefix):], errors="strict")))
    return out


def raw_exchange(port, request, timeout=mh.IO_TIMEOUT):
    """Sends `request` bytes as they are on a new connection; returns everything the server
    sent until it closed (a reset after the response counts as the end)."""
    c = mh.Client("127.0.0.1", port, timeout=timeout)
    try:
        c.send(request)
        deadline = time.monotonic() + timeout
        try:
            return c.read_to_eof(deadline)
        except ConnectionResetError:
            return c.buf
    finally:
        c.close()


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def passwd_lines():
    """The lines of /etc/passwd worth looking for in a response (none of them may appear)."""
    try:
        with open("/etc/passwd", "rb") as f:
            return [l for l in f.read().splitlines() if len(l) >= 12]
    except OSError:
        return []


class StaticBase(mh.SampleTestCase):
    """A sample serving a fresh Tree at /files/."""

    tree_symlinks = True

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mote-static-")
        try:
            cls.tree = Tree(cls.tmp, cls.tree_symlinks)
            cls.sample_args = ("--root", cls.tree.root)
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

    # -- clients --

    def http(self, method, target, headers=(), body=None):
        """One request on this test's keep-alive http.client connection (a new one when the
        server closed it); returns a moteharness Response."""
        conn = getattr(self, "_conn", None)
        if conn is None:
            conn = self._conn = http.client.HTTPConnection("127.0.0.1", self.sample.http_port,
                                                           timeout=mh.IO_TIMEOUT)
            self.addCleanup(conn.close)
        conn.request(method, target, body=body, headers=dict(headers))
        r = conn.getresponse()
        data = r.read()
        if r.will_close:
            conn.close()
            self._conn = None
        return mh.Response("HTTP/1.1", r.status, r.reason, r.getheaders(), data, b"", "?")

    def curl(self, *args, expect=0, url=None):
        """curl -sS -D - -o FILE; returns (status, [(name, value)], body, stderr)."""
        d = tempfile.mkdtemp(prefix="mote-curl-", dir=self.tmp)
        out = os.path.join(d, "body")
        argv = [CURL, "-q", "-sS", "--max-time", "20", "-D", "-", "-o", out] + list(args)
        p = mh.run(argv, env=mh.clean_env(), timeout=30)
        self.assertEqual(p.returncode, expect, "curl %s: status %d, stderr %r" % (
            " ".join(args), p.returncode, p.stderr[-500:]))
        body = b""
        if os.path.exists(out) and "-I" not in args:
            with open(out, "rb") as f:
                body = f.read()
        shutil.rmtree(d, True)
        if not p.stdout.strip():
            return None, [], body, p.stderr
        status, headers = split_curl_head(p.stdout)
        return status, headers, body, p.stderr

    def url(self, path, tls=False):
        return self.sample.url(path, tls=tls)

    def etag_of(self, r):
        etag = r.header("ETag")
        self.assertIsNotNone(etag, "no ETag: %r" % (r.headers,))
        self.assertRegex(etag, r'^"[\x21\x23-\x7e\x80-\xff]*"$', "not a strong ETag: %r" % etag)
        return etag

    def assertAllowGetHead(self, r, what):
        """Allow: GET, HEAD (and OPTIONS, only if OPTIONS is answered there)."""
        allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
        self.assertIn(allow, ({"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"}),
                      "%s: Allow %r" % (what, r.header("Allow")))
        if "OPTIONS" in allow:
            target = what.split()[-1]
            o = self.http("OPTIONS", target)
            self.assertLess(o.status, 300, "Allow lists OPTIONS, OPTIONS %s: %d" % (target,
                                                                                  o.status))

    def assertVaryAE(self, r, what=""):
        vary = ",".join(r.header_all("Vary")).lower()
        self.assertIn("accept-encoding", [v.strip() for v in vary.split(",")],
                      "no Vary: Accept-Encoding %s: %r" % (what, r.headers))


class StaticFiles(StaticBase):

    # -- plain GET and HEAD --

    def check_file(self, rel, ctype_prefix):
        data = self.tree.visible[rel]
        r = self.http("GET", "/files/" + urllib.parse.quote(rel))
        self.assertEqual(r.status, 200, rel)
        self.assertEqual(r.body, data, rel)
        self.assertEqual(r.header("Content-Length"), str(len(data)), rel)
        self.assertTrue((r.header("Content-Type") or "").startswith(ctype_prefix),
                        "%s: Content-Type %r" % (rel, r.header("Content-Type")))
        self.assertEqual(r.header("Last-Modified"), http_date(MTIME), rel)
        self.assertEqual(r.header("Cache-Control"), "no-cache", rel)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", rel)
        self.assertIsNone(r.header("Content-Encoding"), rel)
        self.etag_of(r)
        return r

    def test_files_get(self):
        self.check_file("small.txt", "text/plain")
        self.check_file("bin64k.bin", "application/octet-stream")
        self.check_file("big.bin", "application/octet-stream")
        r = self.check_file("page.html", "text/html")
        self.assertVaryAE(r, "on page.html (it has .gz and .br variants)")
        self.check_file("withindex/other.txt", "text/plain")
        # the ETag is per file
        etags = {self.etag_of(self.http("GET", "/files/" + rel))
                 for rel in ("small.txt", "bin64k.bin", "big.bin", "page.html")}
        self.assertEqual(len(etags), 4, etags)

    def test_head_is_get_without_body(self):
        for target, headers in (("/files/small.txt", ()), ("/files/big.bin", ()),
                                ("/files/page.html", (("Accept-Encoding", "gzip"),)),
                                ("/files/withindex/", ()), ("/files/listing/", ()),
                                ("/files/nope.txt", ())):
            g = self.http("GET", target, headers)
            h = self.http("HEAD", target, headers)
            self.assertEqual(h.status, g.status, target)
            self.assertEqual(h.body, b"", target)
            drop = {"date"}
            self.assertEqual(sorted((n.lower(), v) for n, v in h.headers if n.lower() not in drop),
                             sorted((n.lower(), v) for n, v in g.headers if n.lower() not in drop),
                             "HEAD %s's fields differ from GET's" % target)
        # HEAD on a raw socket: no body bytes follow the head (the next response comes next)
        c = self.connect()
        c.send(mh.build_request("HEAD", "/files/big.bin") + mh.build_request("GET",
                                                                            "/files/small.txt"))
        h = c.read_response("HEAD")
        self.assertEqual((h.status, h.header("Content-Length")), (200, str(1 << 20)))
        g = c.read_response("GET")
        self.assertEqual((g.status, g.body), (200, SMALL))

    def test_other_methods_405(self):
        c = self.connect()
        for target in ("/files/small.txt", "/files/", "/files/listing/", "/files/nope.txt",
                       "/", "/assets/style.css"):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                r = c.request(method, target, headers=[("Content-Length", "0")])
                self.assertEqual(r.status, 405, "%s %s" % (method, target))
                self.assertAllowGetHead(r, "%s %s" % (method, target))

    # -- validators and conditions --

    def test_conditional_get(self):
        t = "/files/small.txt"
        etag = self.etag_of(self.http("GET", t))
        lm = http_date(MTIME)
        cases = [
            ((("If-None-Match", etag),), 304),
            ((("If-None-Match", "W/" + etag),), 304),                    # weak comparison
            ((("If-None-Match", '"nope", %s, "other"' % etag),), 304),   # a list
            ((("If-None-Match", "*"),), 304),
            ((("If-None-Match", '"nope"'),), 200),
            ((("If-None-Match", '"nope", W/"other"'),), 200),
            ((("If-Modified-Since", lm),), 304),
            ((("If-Modified-Since", http_date(MTIME + 3600)),), 304),
            ((("If-Modified-Since", http_date(MTIME - 1)),), 200),
            ((("If-Modified-Since", "not a date"),), 200),               # invalid: ignored
            # If-Modified-Since is ignored when If-None-Match is present
            ((("If-None-Match", '"nope"'), ("If-Modified-Since", lm)), 200),
            ((("If-None-Match", etag), ("If-Modified-Since", http_date(MTIME - 100))), 304),
            ((("If-Match", etag),), 200),
            ((("If-Match", "*"),), 200),
            ((("If-Match", '"nope", %s' % etag),), 200),
            ((("If-Match", '"nope"'),), 412),
            ((("If-Match", "W/" + etag),), 412),                         # strong comparison
            ((("If-Unmodified-Since", http_date(MTIME - 100)),), 412),
            ((("If-Unmodified-Since", lm),), 200),
            ((("If-Unmodified-Since", http_date(MTIME + 100)),), 200),
            # If-Unmodified-Since is ignored when If-Match is present
            ((("If-Match", etag), ("If-Unmodified-Since", http_date(MTIME - 100))), 200),
            # If-Match fails first, whatever If-None-Match says
            ((("If-Match", '"nope"'), ("If-None-Match", etag)), 412),
        ]
        bad = []
        for headers, want in cases:
            for method in ("GET", "HEAD"):
                r = self.http(method, t, headers)
                ok = r.status == want
                if want == 304:
                    ok = ok and r.body == b"" and r.header("ETag") == etag
                if want == 200:
                    ok = ok and (method == "HEAD" or r.body == SMALL)
                if not ok:
                    bad.append("%s %s %r: want %d, got %d %r" % (method, t, headers, want,
                                                                 r.status, r.headers))
        self.assertEqual(bad, [], "\n".join(bad))

    def test_304_keeps_validators_and_vary(self):
        g = self.http("GET", "/files/page.html", [("Accept-Encoding", "gzip")])
        etag = self.etag_of(g)
        r = self.http("GET", "/files/page.html", [("Accept-Encoding", "gzip"),
                                                   ("If-None-Match", etag)])
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("ETag"), etag)
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        self.assertVaryAE(r, "on a 304 of page.html")
        self.assertEqual(r.body, b"")

    def test_curl_validators(self):
        if not CURL:
            self.skipTest("curl not installed")
        u = self.url("/files/small.txt")
        status, _, body, _ = self.curl("-z", http_date(MTIME), u)
        self.assertEqual((status, body), (304, b""))
        status, _, body, _ = self.curl("-z", http_date(MTIME - 3600), u)
        self.assertEqual((status, body), (200, SMALL))
        # -z -DATE: If-Unmodified-Since
        status, _, _, _ = self.curl("-z", "-" + http_date(MTIME - 3600), u)
        self.assertEqual(status, 412)
        # (curl itself drops the body when Last-Modified is not older than the date)
        status, _, body, _ = self.curl("-z", "-" + http_date(MTIME + 3600), u)
        self.assertEqual((status, body), (200, SMALL))

    def wait_fresh(self, target, done, what):
        """HEAD `target` until `done(response)`: a directory route keeps a file it served
        open, with its stat, for open_file_ms (1 s in the sample), so a change shows within
        that. Polls (there is no event to wait on) with a bound of KEPT_S and some slack;
        returns (the fresh response, seconds it took, the stale responses seen first)."""
        t0 = time.monotonic()
        stale = []
        while True:
            r = self.http("HEAD", target)
            if done(r):
                took = time.monotonic() - t0
                self.assertLess(took, KEPT_S + 2.5, "%s: stale for %.2f s, longer than the kept "
                                "file's %.1f s" % (what, took, KEPT_S))
                return r, took, stale
            stale.append(r)
            if time.monotonic() - t0 > KEPT_S + 3.0:
                self.fail("%s: still %r after %.1f s" % (what, r.headers, KEPT_S + 3.0))
            time.sleep(0.05)

    def test_modified_file_new_etag(self):
        """A file rewritten in place (same size, later mtime) between two requests: a new ETag
        and Last-Modified (within the kept file's time), the old ETag no longer matches."""
        path = self.tree.put("mod.txt", b"A" * 50)
        e1 = self.etag_of(self.http("GET", "/files/mod.txt"))
        with open(path, "r+b") as f:
            f.write(b"B" * 50)
        os.utime(path, (MTIME + 7, MTIME + 7))
        # at once: the new bytes arrive (the kept descriptor is the same file); with the old
        # validators while the stat is kept
        r = self.http("GET", "/files/mod.txt")
        self.assertEqual(r.body, b"B" * 50)
        if r.header("ETag") == e1:
            print("\nNOTE: %s: the new content went out with the old ETag %s and "
                  "Last-Modified %s (kept file)" % (self.id(), e1, r.header("Last-Modified")),
                  file=sys.stderr)
        r2, took, _ = self.wait_fresh("/files/mod.txt", lambda r: r.header("ETag") != e1,
                                      "mod.txt rewritten")
        e2 = self.etag_of(r2)
        self.assertEqual(r2.header("Last-Modified"), http_date(MTIME + 7))
        self.assertEqual(self.http("GET", "/files/mod.txt").body, b"B" * 50)
        self.assertEqual(self.http("GET", "/files/mod.txt", [("If-None-Match", e1)]).status, 200)
        self.assertEqual(self.http("GET", "/files/mod.txt", [("If-None-Match", e2)]).status, 304)
        # If-Range with the old validator: the whole new file, not a piece of it
        r = self.http("GET", "/files/mod.txt", [("Range", "bytes=0-4"), ("If-Range", e1)])
        self.assertEqual((r.status, r.body), (200, b"B" * 50))

    def test_replaced_file_consistent(self):
        """A file replaced the way deployments do it (a new file renamed over it): every answer
        is the old file with its validators or the new one with its, never a mix; the new one
        within the kept file's time."""
        self.tree.put("swap.txt", b"old content\n")
        r1 = self.http("GET", "/files/swap.txt")
        e1 = self.etag_of(r1)
        self.tree.put("swap.txt.tmp", b"NEW CONTENT, longer\n", visible=False, mtime=MTIME + 60)
        os.rename(self.tree.path("swap.txt.tmp"), self.tree.path("swap.txt"))
        seen = []
        deadline = time.monotonic() + KEPT_S + 3.0
        while True:
            r = self.http("GET", "/files/swap.txt")
            pair = (r.header("ETag"), r.header("Content-Length"), r.header("Last-Modified"),
                    r.body)
            if pair[0] == e1:
                self.assertEqual(pair[1:], (str(12), http_date(MTIME), b"old content\n"),
                                 "the old ETag with another file's bytes or fields")
            else:
                self.assertEqual(pair[1:], (str(20), http_date(MTIME + 60),
                                            b"NEW CONTENT, longer\n"))
                break
            seen.append(pair)
            self.assertLess(time.monotonic(), deadline, "still the old file")
            time.sleep(0.05)
        e2 = self.etag_of(r)
        self.assertNotEqual(e1, e2)
        self.assertEqual(self.http("GET", "/files/swap.txt", [("If-None-Match", e1)]).status, 200)
        self.assertEqual(self.http("GET", "/files/swap.txt", [("If-None-Match", e2)]).status, 304)

    def test_modified_within_one_second_new_etag(self):
        """Rewritten in place with the same size, the mtime 1 ms later (same second): a strong
        ETag must still change, the content did (once the kept stat is looked up again)."""
        path = self.tree.put("mod-ms.txt", b"C" * 64)
        os.utime(path, ns=(MTIME * 10**9, MTIME * 10**9))
        e1 = self.etag_of(self.http("GET", "/files/mod-ms.txt"))
        with open(path, "r+b") as f:
            f.write(b"D" * 64)
        os.utime(path, ns=(MTIME * 10**9 + 10**6, MTIME * 10**9 + 10**6))
        self.wait_fresh("/files/mod-ms.txt", lambda r: r.header("ETag") != e1,
                        "mod-ms.txt rewritten within its second")
        r = self.http("GET", "/files/mod-ms.txt", [("If-None-Match", e1)])
        self.assertEqual((r.status, r.body), (200, b"D" * 64),
                         "content changed within one second kept ETag %s" % e1)

    # -- ranges --

    def test_single_ranges(self):
        t = "/files/small.txt"
        n = len(SMALL)
        cases = [("bytes=0-99", 0, 99), ("bytes=-10", n - 10, n - 1), ("bytes=100-", 100, n - 1),
                 ("bytes=100-1000", 100, n - 1), ("bytes=0-0", 0, 0), ("bytes=112-112", 112, 112),
                 ("bytes=-500", 0, n - 1), ("bytes=0-", 0, n - 1), ("BYTES=5-9", 5, 9)]
        bad = []
        for rng, first, last in cases:
            r = self.http("GET", t, [("Range", rng)])
            want = ("bytes %d-%d/%d" % (first, last, n), SMALL[first:last + 1])
            if (r.status != 206 or (r.header("Content-Range"), r.body) != want or
                    r.header("Content-Length") != str(last - first + 1)):
                bad.append("Range: %s: want 206 %r, got %d %r %r" % (rng, want[0], r.status,
                                                                      r.header("Content-Range"),
                                                                      r.body[:40]))
            elif r.header("ETag") is None or r.header("Last-Modified") is None:
                bad.append("Range: %s: 206 without validators %r" % (rng, r.headers))
        self.assertEqual(bad, [], "\n".join(bad))
        # a random piece of the big file
        r = self.http("GET", "/files/big.bin", [("Range", "bytes=123457-654320")])
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 123457-654320/%d" % (1 << 20))
        self.assertEqual(r.body, self.tree.big[123457:654321])

    def test_unsatisfiable_and_invalid_ranges(self):
        t = "/files/small.txt"
        for rng in ("bytes=113-", "bytes=200-300", "bytes=113-113", "bytes=-0",
                    "bytes=500-,600-700"):
            r = self.http("GET", t, [("Range", rng)])
            self.assertEqual(r.status, 416, "Range: %s" % rng)
            self.assertEqual(r.header("Content-Range"), "bytes */113", "Range: %s" % rng)
        # an unknown unit is ignored: the whole file
        r = self.http("GET", t, [("Range", "items=0-5")])
        self.assertEqual((r.status, r.body), (200, SMALL))
        # malformed: ignored (200) or refused (416), never a piece made up from it
        for rng in ("bytes=abc", "bytes=5-2", "bytes=", "bytes=--5", "bytes=1-2-3",
                    "bytes=0x10-0x20", "bytes=18446744073709551616-"):
            r = self.http("GET", t, [("Range", rng)])
            self.assertIn(r.status, (200, 416), "Range: %s" % rng)
            if r.status == 200:
                self.assertEqual(r.body, SMALL, "Range: %s" % rng)
            else:
                self.assertEqual(r.header("Content-Range"), "bytes */113", "Range: %s" % rng)
        # one unsatisfiable among satisfiable ones: the satisfiable one (alone, or as the one
        # part of a multipart body)
        r = self.http("GET", t, [("Range", "bytes=500-600,0-4")])
        self.assertEqual(r.status, 206)
        self.assertEqual(pieces(r), [(0, 4, 113, SMALL[:5])])

    def check_multipart(self, target, rng, whole, want, ctype_prefix):
        r = self.http("GET", target, [("Range", rng)])
        self.assertEqual(r.status, 206, "Range: %s" % rng)
        self.assertIsNone(r.header("Content-Range"), "a multipart response's own Content-Range")
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        parts = parse_byteranges(r.header("Content-Type", ""), r.body)
        self.assertEqual([(a, b) for a, b, _, _, _ in parts], want, "Range: %s" % rng)
        for first, last, total, ctype, data in parts:
            self.assertEqual(total, len(whole))
            self.assertEqual(data, whole[first:last + 1], "part %d-%d" % (first, last))
            self.assertTrue((ctype or "").startswith(ctype_prefix), ctype)
        return r

    def test_multipart_byteranges(self):
        self.check_multipart("/files/bin64k.bin", "bytes=0-9,5000-5099,60000-60009",
                             self.tree.visible["bin64k.bin"],
                             [(0, 9), (5000, 5099), (60000, 60009)], "application/octet-stream")
        n = 1 << 20
        self.check_multipart("/files/big.bin", "bytes=0-0,1000-1999,-100", self.tree.big,
                             [(0, 0), (1000, 1999), (n - 100, n - 1)], "application/octet-stream")
        # adjacent or overlapping ranges may be merged: whatever comes must be the file's bytes
        for rng in ("bytes=0-9,10-19", "bytes=0-50,10-60", "bytes=20-29,0-9,40-",
                    "bytes=0-9,50-59,100-109"):
            r = self.http("GET", "/files/small.txt", [("Range", rng)])
            self.assertEqual(r.status, 206, rng)
            for first, last, total, data in pieces(r):
                self.assertEqual((total, data), (113, SMALL[first:last + 1]), rng)

    def test_if_range(self):
        t = "/files/small.txt"
        etag = self.etag_of(self.http("GET", t))
        r = self.http("GET", t, [("Range", "bytes=0-9"), ("If-Range", etag)])
        self.assertEqual((r.status, r.header("Content-Range"), r.body),
                         (206, "bytes 0-9/113", SMALL[:10]))
        for validator in ('"other"', "W/" + etag, http_date(MTIME - 3600)):
            r = self.http("GET", t, [("Range", "bytes=0-9"), ("If-Range", validator)])
            self.assertEqual((r.status, r.body), (200, SMALL), "If-Range: %s" % validator)
            self.assertIsNone(r.header("Content-Range"), validator)

    def test_curl_ranges_and_resume(self):
        if not CURL:
            self.skipTest("curl not installed")
        u = self.url("/files/big.bin")
        status, headers, body, _ = self.curl("--range", "0-99", u)
        self.assertEqual(status, 206)
        self.assertIn(("Content-Range", "bytes 0-99/1048576"), headers)
        self.assertEqual(body, self.tree.big[:100])
        status, headers, body, _ = self.curl("--range", "0-9,500000-500009", u)
        self.assertEqual(status, 206)
        ctype = dict((n.lower(), v) for n, v in headers)["content-type"]
        parts = parse_byteranges(ctype, body)
        self.assertEqual([(a, b, d) for a, b, _, _, d in parts],
                         [(0, 9, self.tree.big[:10]),
                          (500000, 500009, self.tree.big[500000:500010])])
        # curl -C -: resumes a partial file with a Range request
        d = tempfile.mkdtemp(prefix="mote-resume-", dir=self.tmp)
        out = os.path.join(d, "big.bin")
        with open(out, "wb") as f:
            f.write(self.tree.big[:77777])
        p = mh.run([CURL, "-q", "-sS", "--max-time", "20", "-C", "-", "-o", out, "-D", "-", u],
                   env=mh.clean_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"206", p.stdout.split(b"\r\n")[0])
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.tree.big, "curl -C - made a different file")

    # -- content negotiation --

    def test_precompressed_variants(self):
        t = "/files/page.html"
        gz = self.tree.visible["page.html.gz"]
        ident = self.http("GET", t)
        self.assertIsNone(ident.header("Content-Encoding"))
        self.assertEqual(ident.body, PAGE)
        self.assertVaryAE(ident, "identity page.html")
        g = self.http("GET", t, [("Accept-Encoding", "gzip")])
        self.assertEqual(g.header("Content-Encoding"), "gzip")
        self.assertEqual(g.body, gz)
        self.assertEqual(g.header("Content-Length"), str(len(gz)))
        self.assertTrue(g.header("Content-Type", "").startswith("text/html"), g.headers)
        self.assertVaryAE(g, "gzip page.html")
        self.assertEqual(gzip.decompress(g.body), PAGE)
        b = self.http("GET", t, [("Accept-Encoding", "br")])
        self.assertEqual(b.header("Content-Encoding"), "br")
        self.assertEqual(b.body, FAKE_BR)
        self.assertTrue(b.header("Content-Type", "").startswith("text/html"), b.headers)
        self.assertVaryAE(b, "br page.html")
        etags = [self.etag_of(x) for x in (ident, g, b)]
        self.assertEqual(len(set(etags)), 3, "the ETag must differ per encoding: %r" % etags)
        # both accepted: one of them, with its own bytes
        for ae in ("gzip, br", "br;q=1, gzip;q=0.9", "gzip, deflate, br, zstd"):
            r = self.http("GET", t, [("Accept-Encoding", ae)])
            ce = r.header("Content-Encoding")
            self.assertIn(ce, ("gzip", "br"), ae)
            self.assertEqual(r.body, gz if ce == "gzip" else FAKE_BR, ae)
        cases = [("gzip;q=0", None), ("GZIP", "gzip"), ("identity", None), ("deflate", None),
                 ("gzip;q=0, br;q=0", None), ("br;q=0, gzip", "gzip"), ("x-unknown", None),
                 ("*;q=0, identity", None)]
        for ae, want in cases:
            r = self.http("GET", t, [("Accept-Encoding", ae)])
            self.assertEqual((r.status, r.header("Content-Encoding")), (200, want),
                             "Accept-Encoding: %s" % ae)
            self.assertEqual(r.body, {None: PAGE, "gzip": gz, "br": FAKE_BR}[want], ae)
        # conditions and ranges apply to the variant chosen
        r = self.http("GET", t, [("Accept-Encoding", "gzip"), ("If-None-Match", etags[0])])
        self.assertEqual(r.status, 200, "the identity ETag matched the gzip variant")
        r = self.http("GET", t, [("Accept-Encoding", "gzip"), ("If-None-Match", etags[1])])
        self.assertEqual(r.status, 304)
        r = self.http("GET", t, [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")])
        self.assertEqual((r.status, r.header("Content-Encoding"), r.header("Content-Range"),
                          r.body), (206, "gzip", "bytes 0-9/%d" % len(gz), gz[:10]))
        self.assertVaryAE(r, "206 of the gzip variant")

    def test_identity_refused(self):
        """A client that takes none of the codings a file has gets the plain file (RFC 9110
        §12.5.3 lets a server ignore the refusal; 406 is only for a file with no plain bytes)."""
        for fields in ("identity;q=0", "gzip, identity;q=0", "*;q=0"):
            r = self.http("GET", "/files/small.txt", [("Accept-Encoding", fields)])
            self.assertEqual((r.status, r.header("Content-Encoding"), r.body), (200, None, SMALL),
                             fields)
        r = self.http("GET", "/files/page.html", [("Accept-Encoding", "gzip, identity;q=0")])
        self.assertEqual((r.status, r.header("Content-Encoding")), (200, "gzip"))
        r = self.http("GET", "/files/page.html", [("Accept-Encoding", "identity;q=0")])
        self.assertEqual((r.status, r.header("Content-Encoding"), r.body), (200, None, PAGE))
        # the compiled-in files answer the same
        r = self.http("GET", "/favicon.ico", [("Accept-Encoding", "identity;q=0")])
        self.assertEqual((r.status, r.header("Content-Encoding")), (200, None))
        # absent or empty Accept-Encoding: identity
        c = self.connect()
        r = c.request("GET", "/files/small.txt")
        self.assertEqual((r.status, r.body), (200, SMALL))
        r = c.request("GET", "/files/page.html", headers=[("Accept-Encoding", "")])
        self.assertEqual((r.status, r.header("Content-Encoding"), r.body), (200, None, PAGE))

    def test_curl_compressed(self):
        if not CURL:
            self.skipTest("curl not installed")
        # curl decodes gzip itself; asked for gzip only (page.html.br is not real Brotli)
        status, headers, body, _ = self.curl("--compressed", "-H", "Accept-Encoding: gzip",
                                             self.url("/files/page.html"))
        self.assertEqual(status, 200)
        self.assertIn(("Content-Encoding", "gzip"), headers)
        self.assertEqual(body, PAGE)
        status, headers, body, _ = self.curl("-I", self.url("/files/page.html"))
        self.assertEqual(status, 200)
        self.assertIn(("Content-Length", str(len(PAGE))), headers)
        self.assertEqual(body, b"")

    # -- directories --

    def test_directories(self):
        r = self.http("GET", "/files")
        self.assertEqual(r.status, 301)
        self.assertTrue(urllib.parse.urlsplit(r.header("Location", "")).path == "/files/",
                        "Location %r" % r.header("Location"))
        r = self.http("GET", "/files/withindex")
        self.assertEqual(r.status, 301)
        self.assertEqual(urllib.parse.urlsplit(r.header("Location", "")).path,
                         "/files/withindex/")
        for t in ("/files/withindex/", "/files/withindex/index.html"):
            r = self.http("GET", t)
            self.assertEqual((r.status, r.body), (200, INDEX_PAGE), t)
            self.assertTrue(r.header("Content-Type", "").startswith("text/html"), t)
        if CURL:
            status, _, body, _ = self.curl("-L", self.url("/files/withindex"))
            self.assertEqual((status, body), (200, INDEX_PAGE))
            status, _, body, _ = self.curl("-L", self.url("/files"))
            self.assertEqual(status, 200)
            self.assertIn(b"small.txt", body)
        r = self.http("GET", "/files/nope.txt")
        self.assertEqual(r.status, 404)
        r = self.http("GET", "/files/small.txt/")
        self.assertIn(r.status, (404, 301), "a file with a slash after it")

    def test_listing(self):
        r = self.http("GET", "/files/listing/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type", "").startswith("text/html"), r.headers)
        raw = r.body.decode("utf-8")
        self.assertNotIn("<c>", raw, "a name not HTML-escaped")
        self.assertIn("a b&amp;&lt;c&gt;.txt", raw)
        self.assertNotIn(".hidden", raw)
        entries = listing_entries(r.body, self.url("/files/listing/"))
        for href, _ in entries:
            for ch in ' <>"#?\\':
                self.assertNotIn(ch, href, "href %r not percent-encoded" % href)
            self.assertTrue(all(ord(ch) < 128 for ch in href), "href %r not encoded" % href)
        names = [name for _, name in entries]
        self.assertEqual(set(names), LISTING_NAMES, "the listing's links: %r" % entries)
        self.assertEqual(len(names), len(set(names)), names)
        # sorted: byte or case-folded order, directories first or among the files
        bare = [n.rstrip("/") for n in names]
        orders = []
        for key in (lambda n: n.encode(), lambda n: n.casefold()):
            orders.append(sorted(bare, key=key))
            orders.append(sorted(bare, key=lambda n, k=key: (n + "/" not in names, k(n))))
        self.assertIn(bare, orders, "listing not sorted: %r" % bare)
        # every link leads to its file
        base = self.url("/files/listing/")
        for href, name in entries:
            target = urllib.parse.urlsplit(urllib.parse.urljoin(base, href)).path
            got = self.http("GET", target)
            self.assertEqual(got.status, 200, "%r -> %s" % (href, target))
            if not name.endswith("/"):
                self.assertEqual(got.body, LISTING_FILES[name], href)
            else:
                self.assertIn(b"deep.txt", got.body)
        # the root's listing: the visible names, no dot-files
        r = self.http("GET", "/files/")
        self.assertEqual(r.status, 200)
        names = {name for _, name in listing_entries(r.body, self.url("/files/"))}
        for want in ("small.txt", "big.bin", "page.html", "withindex/", "listing/"):
            self.assertIn(want, names)
        self.assertFalse([n for n in names if n.startswith(".")], names)

    def test_unicode_and_escaped_names(self):
        for name, data in LISTING_FILES.items():
            r = self.http("GET", "/files/listing/" + urllib.parse.quote(name))
            self.assertEqual((r.status, r.body), (200, data), name)
        if CURL:
            name = "\u00fcn\u00efc\u00f8d\u00e9 \u20ac.txt"
            status, _, body, _ = self.curl(self.url("/files/listing/" + urllib.parse.quote(name)))
            self.assertEqual((status, body), (200, LISTING_FILES[name]))

    def test_hidden_and_symlinks(self):
        for t in ("/files/.hidden", "/files/.hiddendir/inner.txt", "/files/.hiddendir/",
                  "/files/listing/.hidden-in-sub", "/files/%2ehidden"):
            r = self.http("GET", t)
            self.assertEqual(r.status, 404, t)
            self.assertNotIn(MARKER, r.body)
        for t in ("/files/link_passwd", "/files/link_to_etc/passwd", "/files/link_to_etc/",
                  "/files/link_outside", "/files/link_to_base/secret.txt"):
            r = self.http("GET", t)
            self.assertIn(r.status, (403, 404), t)
            self.assertNotIn(MARKER, r.body, t)
            self.assertNotIn(PASSWD_MARK, r.body, t)

    def test_encoded_separators_400(self):
        c = self.connect()
        for t in ("/files/withindex%2Findex.html", "/files/withindex%2findex.html",
                  "/files/withindex%5Cindex.html", "/files/withindex%5cother.txt",
                  "/files/small.txt%00", "/files/%00", "/files/small.txt%00.html",
                  "/files/%2F", "/files/listing%2F"):
            r = c.request("GET", t, headers=[("Connection", "close")])
            self.assertEqual(r.status, 400, t)
            c.close()
            c = self.connect()

    # -- the traversal battery --

    TRAVERSAL = [
        # plain dot-segments: the request target as sent
        "/files/../secret.txt", "/files/../../secret.txt", "/files/../../../../etc/passwd",
        "/files/./../secret.txt", "/files/withindex/../../secret.txt",
        "/files/listing/subsub/../../../secret.txt", "/files/..", "/files/../",
        "/files/../../etc/passwd",
        # percent-encoded dots and separators
        "/files/%2e%2e/secret.txt", "/files/%2E%2e/secret.txt", "/files/%2E%2E/%2E%2E/etc/passwd",
        "/files/.%2e/secret.txt", "/files/%2e./secret.txt", "/files/%2e%2e",
        "/files/%2e%2e%2fsecret.txt", "/files/..%2fsecret.txt", "/files/..%2Fsecret.txt",
        "/files/%2f..%2fsecret.txt", "/files/%2F%2E%2E%2Fsecret.txt",
        "/files/..%2f..%2f..%2fetc%2fpasswd", "/files/withindex/..%2f..%2fsecret.txt",
        "/files/%2fetc%2fpasswd", "/files/link_to_etc%2fpasswd",
        # backslashes, raw and encoded
        "/files/..\\secret.txt", "/files/..\\..\\etc\\passwd", "/files/%5c..%5csecret.txt",
        "/files/..%5csecret.txt", "/files/%5C..%5C..%5Cetc%5Cpasswd",
        # double encoding
        "/files/%252e%252e/secret.txt", "/files/%252e%252e%252fsecret.txt",
        "/files/..%252fsecret.txt", "/files/%25%32%65%25%32%65/secret.txt",
        # NUL
        "/files/%00/../secret.txt", "/files/..%00/secret.txt", "/files/link_passwd%00",
        "/files/small.txt%00/../../secret.txt",
        # overlong and look-alike UTF-8
        "/files/%c0%ae%c0%ae/secret.txt", "/files/%c0%ae%c0%ae%c0%afsecret.txt",
        "/files/%e0%80%ae%e0%80%ae/secret.txt", "/files/..%c0%afsecret.txt",
        "/files/..%c1%9csecret.txt", "/files/%ef%bc%8e%ef%bc%8e/secret.txt",
        "/files/%uff0e%uff0e/secret.txt",
        # absolute paths and doubled slashes
        "//etc/passwd", "/files//etc/passwd", "/files///etc/passwd", "/files//../secret.txt",
        # symbolic links
        "/files/link_passwd", "/files/link_passwd/", "/files/link_to_etc/passwd",
        "/files/link_to_etc/./passwd", "/files/link_to_etc//passwd", "/files/link_to_etc/",
        "/files/link_outside", "/files/link_to_base/secret.txt", "/files/LINK_TO_ETC/passwd",
        "/files/link_to_etc/../../secret.txt",
        # dot-files
        "/files/.hidden", "/files/.hiddendir/inner.txt", "/files/listing/.hidden-in-sub",
        # path parameters and other separators
        "/files/small.txt;/../../secret.txt", "/files/..;/secret.txt", "/files/;/../../etc/passwd",
        "/files/..;/..;/etc/passwd", "/files/....//secret.txt", "/files/.../secret.txt",
        "/files/#/../../etc/passwd",
        # absolute-form request targets
        "http://x/files/../../etc/passwd", "http://x/files/%2e%2e/secret.txt",
        "http://127.0.0.1/files/../secret.txt", "http://x/files/..%2fsecret.txt",
        "http://x/files/link_to_etc/passwd", "http://x//etc/passwd",
    ]
    # these may answer 301 (a directory's trailing slash): no bytes of the target either way
    MAY_REDIRECT = {"/files/link_to_etc", "/files/..", "/files/%2e%2e"}
    # these are "/" after dot-segment removal: the compiled-in landing page
    TO_LANDING = {"/files/..", "/files/../", "/files/%2e%2e"}

    def check_traversal(self, raw_request, label, bad, passwd):
        """Sends the request; adds to `bad` what is wrong with the answer. Returns the
        status."""
        out = raw_exchange(self.sample.http_port, raw_request)
        status = status_of(out)
        body = out.partition(b"\r\n\r\n")[2]
        leak = [m for m in [MARKER, PASSWD_MARK] + passwd if m in out]
        if leak:
            bad.append("%s: LEAK of %r in %d %r" % (label, leak[0], status or 0, out[:300]))
            return
        ok = status in (400, 403, 404)
        # outside /files/ altogether (the core removed the dot-segments): the sample's soft
        # 404 page (200, chunked) is its answer there, not a file's bytes
        if status == 200 and b"<h1><center>404 Not Found</center></h1>" in body:
            ok = True
        # "/files/.." is "/" once the dot-segments are gone: the landing page
        if status == 200 and label.split()[0] in self.TO_LANDING and body == self.landing:
            ok = True
        if status == 301 and label.split()[0] in self.MAY_REDIRECT:
            ok = True
        if not ok:
            bad.append("%s: got %r" % (label, out[:300]))
        return status

    def test_traversal_battery(self):
        self.assertGreaterEqual(len(self.TRAVERSAL), 40)
        passwd = passwd_lines()
        self.landing = self.http("GET", "/", [("Connection", "close")]).body
        bad = []
        for target in self.TRAVERSAL + sorted(self.MAY_REDIRECT):
            req = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target
            status = self.check_traversal(req.encode("latin-1"), target, bad, passwd)
            # HEAD: the same status, and no body at all
            out = raw_exchange(self.sample.http_port, ("HEAD" + req[3:]).encode("latin-1"))
            if status_of(out) != status or (status != 400 and not out.endswith(b"\r\n\r\n")):
                bad.append("%s (HEAD): %r after GET's %s" % (target, out[:300], status))
        # bytes no URL library would send: a raw NUL, a raw backslash, raw UTF-8, a space
        for raw_target in (b"/files/\x00/../secret.txt", b"/files/..\xc0\xae/secret.txt",
                           b"/files/\xef\xbc\x8e\xef\xbc\x8e/secret.txt",
                           b"/files/.. /secret.txt", b"/files/..\t/secret.txt",
                           b"/files/%2e%2e\\%2e%2e\\etc\\passwd"):
            self.check_traversal(b"GET " + raw_target + b" HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n", repr(raw_target), bad, passwd)
        # with a Range, with an encoding: still nothing
        for headers in ("Range: bytes=0-100\r\n", "Accept-Encoding: gzip, br\r\n"):
            for target in ("/files/link_passwd", "/files/../secret.txt",
                           "/files/link_outside", "/files/%2e%2e/secret.txt"):
                self.check_traversal(("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                                      % (target, headers)).encode(), target + " " + headers.strip(),
                                     bad, passwd)
        # HTTP/1.0 without Host
        for target in ("/files/../secret.txt", "/files/link_to_etc/passwd"):
            self.check_traversal(("GET %s HTTP/1.0\r\n\r\n" % target).encode(),
                                 target + " HTTP/1.0", bad, passwd)
        self.assertEqual(bad, [], "\n".join(bad))
        # and the server still serves
        r = self.http("GET", "/files/small.txt")
        self.assertEqual((r.status, r.body), (200, SMALL))

    def test_curl_path_as_is(self):
        if not CURL:
            self.skipTest("curl not installed")
        passwd = passwd_lines()
        for path in ("/files/../secret.txt", "/files/../../../../etc/passwd",
                     "/files/link_to_etc/passwd", "/files/%2e%2e/secret.txt",
                     "/files/link_outside", "/files/..%2f..%2fetc/passwd"):
            status, _, body, _ = self.curl("--path-as-is", self.url(path))
            self.assertFalse([m for m in [MARKER, PASSWD_MARK] + passwd if m in body], path)
            self.assertTrue(status in (400, 403, 404) or
                            (status == 200 and body == mh.NOT_FOUND_PAGE),
                            "%s: %s %r" % (path, status, body[:200]))

    # -- downloads with real clients --

    def test_wget_resume(self):
        if not WGET:
            self.skipTest("wget not installed")
        d = tempfile.mkdtemp(prefix="mote-wget-", dir=self.tmp)
        out = os.path.join(d, "big.bin")
        with open(out, "wb") as f:
            f.write(self.tree.big[:300000])
        p = mh.run([WGET, "-c", "-S", self.url("/files/big.bin")], cwd=d,
                   env=mh.clean_env(home=d), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("206 Partial Content", err)
        self.assertIn("Content-Range: bytes 300000-1048575/1048576", err)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.tree.big, "wget -c made a different file")
        # again, complete already: a 416 that wget takes as "nothing to do"
        p = mh.run([WGET, "-c", "-S", self.url("/files/big.bin")], cwd=d,
                   env=mh.clean_env(home=d), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("416", err)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.tree.big, "wget -c changed a complete file")

    def test_tls_download(self):
        if not CURL:
            self.skipTest("curl not installed")
        u = self.url("/files/big.bin", tls=True)
        status, _, body, _ = self.curl("-k", u)
        self.assertEqual(status, 200)
        self.assertTrue(body == self.tree.big, "the big file over TLS differs")
        status, headers, body, _ = self.curl("-k", "--range", "1000-1999,-5", u)
        self.assertEqual(status, 206)
        ctype = dict((n.lower(), v) for n, v in headers)["content-type"]
        self.assertEqual([(a, b, d) for a, b, _, _, d in parse_byteranges(ctype, body)],
                         [(1000, 1999, self.tree.big[1000:2000]),
                          ((1 << 20) - 5, (1 << 20) - 1, self.tree.big[-5:])])
        status, headers, body, _ = self.curl("-k", "--compressed", "-H", "Accept-Encoding: gzip",
                                             self.url("/files/page.html", tls=True))
        self.assertEqual((status, body), (200, PAGE))
        # curl speaks HTTP/2 over TLS where offered: its field names come lowercase
        self.assertEqual(dict((n.lower(), v) for n, v in headers).get("content-encoding"), "gzip")

    def test_tls_download_leaves_the_loop_to_others(self):
        """curl reads a big file over TLS faster than the server encrypts: the loop still
        serves another connection meanwhile (before a connection's turn was bounded, the other
        request waited for the whole file)."""
        if not CURL:
            self.skipTest("curl not installed")
        size = 160 << 20
        self.tree.put("huge.bin", b"\x5a" * size, visible=False)
        out = os.path.join(self.tree.base, "huge.out")
        self.addCleanup(lambda: os.path.exists(out) and os.unlink(out))
        p = subprocess.Popen([CURL, "-k", "-s", "-o", out, "-w", "%{size_download}",
                              self.url("/files/huge.bin", tls=True)],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.wait, 60)
        self.addCleanup(p.kill)
        deadline = time.monotonic() + 20
        while file_size(out) < (4 << 20):   # under way: curl has written 4 MiB
            self.assertIsNone(p.poll(), "curl ended before its download was under way")
            self.assertLess(time.monotonic(), deadline, "the download did not start")
            time.sleep(0.001)
        c = self.connect()
        answered = 0
        while answered < 100 and p.poll() is None:
            self.assertEqual(c.request("GET", "/files/small.txt").body, SMALL)
            answered += 1
        still_running = p.poll() is None
        self.assertEqual(p.wait(60), 0)
        self.assertEqual(int(p.stdout.read()), size, "the download ended short")
        self.assertTrue(still_running, "only %d small answers during a %d MiB TLS download"
                        % (answered, size >> 20))

    def test_truncated_while_downloading(self):
        """The file shrinks under a slow download: the server ends the connection, having sent
        fewer bytes than its Content-Length and only the file's own bytes."""
        size = 16 << 20
        content = pattern_bytes(size, 5)
        path = self.tree.put("shrink.bin", content)
        c = mh.Client("127.0.0.1", self.sample.http_port, rcvbuf=8192)
        self.addCleanup(c.close)
        c.send(mh.build_request("GET", "/files/shrink.bin"))
        deadline = time.monotonic() + mh.IO_TIMEOUT
        head = c.read_until(b"\r\n\r\n", deadline)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertIn(b"\r\nContent-Length: %d\r\n" % size, head)
        got = c.read_exact(65536, deadline)
        os.truncate(path, 128 << 10)
        try:
            got += c.read_to_eof(time.monotonic() + mh.IO_TIMEOUT)
        except ConnectionResetError:
            got += c.buf
        except socket.timeout:
            self.fail("connection still open %.0f s after the file shrank, %d of %d bytes "
                      "received" % (mh.IO_TIMEOUT, len(got) + len(c.buf), size))
        self.assertLess(len(got), size, "the whole Content-Length arrived from a shrunk file")
        keep = 128 << 10
        self.assertTrue(got[:keep] == content[:min(len(got), keep)], "the file's bytes differ")
        # past the new end: what was queued before the truncation. sendfile(2) queues the page
        # cache's pages without a copy and the truncation zeroes them in place (large folios),
        # so a client may get zeros there instead of the old bytes; anything else would be
        # bytes that were never in the file
        for i in range(keep, len(got), 4096):
            piece = got[i:i + 4096]
            self.assertTrue(piece == content[i:i + len(piece)] or piece == bytes(len(piece)),
                            "bytes at %d neither the file's nor zeros" % i)
        # the server serves on; the new length within the kept file's time
        self.wait_fresh("/files/shrink.bin",
                        lambda r: r.header("Content-Length") == str(keep), "shrink.bin shrunk")
        r = self.http("GET", "/files/shrink.bin")
        self.assertEqual((r.status, r.body), (200, content[:keep]))
        # the incomplete read a client sees: another file shrinks under http.client
        path = self.tree.put("shrink2.bin", content)
        conn2 = http.client.HTTPConnection("127.0.0.1", self.sample.http_port,
                                           timeout=mh.IO_TIMEOUT)
        self.addCleanup(conn2.close)
        # a small receive buffer, set before connecting (the window is scaled at the
        # handshake), so that far less than the file is ever in flight
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(mh.IO_TIMEOUT)
        conn2.sock = sock
        sock.connect(("127.0.0.1", self.sample.http_port))
        conn2.request("GET", "/files/shrink2.bin")
        r = conn2.getresponse()
        self.assertEqual(r.getheader("Content-Length"), str(size))
        first = r.read(65536)
        os.truncate(path, 1000)
        with self.assertRaises((http.client.IncompleteRead, ConnectionResetError)):
            rest = r.read()
            self.fail("read() returned %d bytes, %d in all" % (len(rest), len(first) + len(rest)))


EMBEDDED = [("/", ("text/html",)), ("/live", ("text/html",)),
            ("/assets/live.js", ("text/javascript",)), ("/assets/style.css", ("text/css",)),
            ("/favicon.ico", ("image/x-icon", "image/vnd.microsoft.icon"))]


class CompiledIn(StaticBase):
    """The pages compiled into mote-sample (gzip made at build time, the plain bytes kept)."""

    def resolve(self, path):
        """`path`, or where its 301 leads ("/live" is the folder live/ of the pages, whose
        index.html is the page: "/live" answers 301 to "/live/")."""
        r = self.http("GET", path)
        if r.status == 301:
            to = urllib.parse.urlsplit(r.header("Location", "")).path
            self.assertEqual(to, path + "/", "%s: 301 to %r" % (path, r.header("Location")))
            return to
        return path

    def test_pages_reference_assets(self):
        for page in ("/", self.resolve("/live")):
            r = self.http("GET", page)
            self.assertEqual(r.status, 200, page)
            refs = {urllib.parse.urlsplit(urllib.parse.urljoin(self.url(page), ref)).path
                    for ref in parse_links(r.body).refs}
            for asset in ("/assets/style.css", "/favicon.ico"):
                self.assertIn(asset, refs, "%s does not reference %s" % (page, asset))
            if page != "/":
                self.assertIn("/assets/live.js", refs, "%s does not reference its script" % page)

    def test_embedded_files(self):
        bad = []
        for path, types in EMBEDDED:
            path = self.resolve(path)
            ident = self.http("GET", path)
            self.assertEqual(ident.status, 200, path)
            self.assertTrue(ident.header("Content-Type", "").split(";")[0].strip() in types,
                            "%s: Content-Type %r" % (path, ident.header("Content-Type")))
            self.assertIsNone(ident.header("Content-Encoding"), path)
            self.assertEqual(ident.header("Content-Length"), str(len(ident.body)))
            self.assertGreater(len(ident.body), 0, path)
            self.assertEqual(ident.header("Accept-Ranges"), "bytes", path)
            etag = self.etag_of(ident)
            g = self.http("GET", path, [("Accept-Encoding", "gzip")])
            self.assertEqual(g.status, 200, path)
            gzipped = g.header("Content-Encoding") == "gzip"
            if path != "/favicon.ico":     # the others are text: gzip helps
                self.assertTrue(gzipped, "%s not gzip-encoded for Accept-Encoding: gzip" % path)
            if gzipped:
                self.assertEqual(gzip.decompress(g.body), ident.body, path)
                self.assertNotEqual(self.etag_of(g), etag, "%s: one ETag for two encodings" % path)
                self.assertVaryAE(ident, path + " identity")
                self.assertVaryAE(g, path + " gzip")
                r = self.http("GET", path, [("Accept-Encoding", "gzip"),
                                            ("If-None-Match", self.etag_of(g))])
                if r.status != 304:
                    bad.append("%s gzip If-None-Match: %d" % (path, r.status))
                r = self.http("GET", path, [("Accept-Encoding", "identity;q=0, gzip")])
                if (r.status, r.header("Content-Encoding")) != (200, "gzip"):
                    bad.append("%s identity;q=0, gzip: %d %r" % (path, r.status,
                                                               r.header("Content-Encoding")))
            else:
                r = self.http("GET", path, [("Accept-Encoding", "identity;q=0")])
                if r.status != 406:
                    bad.append("%s (no gzip kept) identity;q=0: %d, want 406" % (path, r.status))
            checks = [
                ((("If-None-Match", etag),), 304), ((("If-None-Match", "W/" + etag),), 304),
                ((("If-None-Match", '"x", ' + etag),), 304), ((("If-None-Match", "*"),), 304),
                ((("If-None-Match", '"x"'),), 200), ((("If-Match", '"x"'),), 412),
                ((("If-Match", etag),), 200), ((("Range", "bytes=0-9"),), 206),
                ((("Range", "bytes=0-9"), ("If-Range", etag)), 206),
                ((("Range", "bytes=0-9"), ("If-Range", '"x"')), 200),
                ((("Range", "bytes=%d-" % len(ident.body)),), 416),
                ((("Range", "bytes=0-0,2-2,4-4"),), 206),
            ]
            lm = ident.header("Last-Modified")
            if lm:
                checks += [((("If-Modified-Since", lm),), 304),
                           ((("If-None-Match", '"x"'), ("If-Modified-Since", lm)), 200),
                           ((("If-Unmodified-Since", "Thu, 01 Jan 1998 00:00:00 GMT"),), 412)]
            for headers, want in checks:
                r = self.http("GET", path, headers)
                if r.status != want:
                    bad.append("%s %r: want %d, got %d" % (path, headers, want, r.status))
                elif want == 206 and "," in headers[0][1]:      # 0-0,2-2,4-4: merged or not
                    got = pieces(r)
                    if any(d != ident.body[a:b + 1] or n != len(ident.body)
                           for a, b, n, d in got) or not got:
                        bad.append("%s multipart: %r" % (path, got))
                elif want == 206:
                    if (r.header("Content-Range"), r.body) != (
                            "bytes 0-9/%d" % len(ident.body), ident.body[:10]):
                        bad.append("%s %r: %r %r" % (path, headers, r.header("Content-Range"),
                                                      r.body))
                elif want == 416 and r.header("Content-Range") != "bytes */%d" % len(ident.body):
                    bad.append("%s 416 Content-Range %r" % (path, r.header("Content-Range")))
                elif want == 200 and r.body != ident.body:
                    bad.append("%s %r: another body" % (path, headers))
            h = self.http("HEAD", path)
            drop = {"date"}
            if (h.status, h.body) != (200, b"") or sorted(
                    (n.lower(), v) for n, v in h.headers if n.lower() not in drop) != sorted(
                    (n.lower(), v) for n, v in ident.headers if n.lower() not in drop):
                bad.append("HEAD %s: %d %r vs GET %r" % (path, h.status, h.headers,
                                                         ident.headers))
            for method in ("POST", "PUT", "DELETE"):
                r = self.http(method, path, body=b"")
                if r.status != 405:
                    bad.append("%s %s: %d" % (method, path, r.status))
                else:
                    self.assertAllowGetHead(r, "%s %s" % (method, path))
        self.assertEqual(bad, [], "\n".join(bad))

    def test_curl_embedded(self):
        if not CURL:
            self.skipTest("curl not installed")
        for path, _ in EMBEDDED:
            path = self.resolve(path)
            status, _, plain, _ = self.curl(self.url(path))
            self.assertEqual(status, 200, path)
            status, headers, body, _ = self.curl("--compressed", self.url(path))
            self.assertEqual((status, body), (200, plain), path)
            status, headers, body, _ = self.curl("-k", "--compressed", self.url(path, tls=True))
            self.assertEqual((status, body), (200, plain), path + " over TLS")
            status, headers, body, _ = self.curl("-I", self.url(path))
            self.assertEqual((status, body), (200, b""), path)
            self.assertIn(("Content-Length", str(len(plain))), headers, path)
        # not a file of the table: 404 (or the sample's soft 404 page, 200)
        status, _, body, _ = self.curl(self.url("/assets/nope.js"))
        self.assertTrue(status == 404 or (status, body) == (200, mh.NOT_FOUND_PAGE),
                        "/assets/nope.js: %d %r" % (status, body[:200]))


class StaticPrivate(mh.SampleTestCase):
    """Tests that need a sample of their own: a mirror of a tree without links out, and a
    server without root's privileges for the unreadable file."""

    shared_sample = False

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mote-static-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_wget_mirror(self):
        if not WGET:
            self.skipTest("wget not installed")
        tree = Tree(self.tmp, symlinks=False)
        s = self.start_sample("--root", tree.root, "--tls-port", "off")
        d = os.path.join(self.tmp, "mirror")
        os.mkdir(d)
        p = mh.run([WGET, "-r", "-np", "-nH", "-e", "robots=off", "--restrict-file-names=nocontrol",
                    "-nv", s.url("/files/")], cwd=d, env=mh.clean_env(home=d), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        got = {}
        for dirpath, _, files in os.walk(os.path.join(d, "files")):
            for name in files:
                full = os.path.join(dirpath, name)
                with open(full, "rb") as f:
                    got[os.path.relpath(full, os.path.join(d, "files"))] = f.read()
        # the listing pages wget saved as index.html where a directory has none
        for rel in list(got):
            dirname = os.path.dirname(rel)
            if (os.path.basename(rel) == "index.html" and
                    not os.path.exists(tree.path(rel))):
                self.assertIn(b"<a ", got.pop(rel), rel)
                self.assertTrue(os.path.isdir(tree.path(dirname) if dirname else tree.root))
        self.assertEqual(sorted(got), sorted(tree.visible), "the mirrored tree:\n" + err)
        for rel, data in tree.visible.items():
            self.assertTrue(got[rel] == data, "mirrored %s differs" % rel)

    def test_unreadable_file_403(self):
        tree = Tree(self.tmp, symlinks=False)
        noperm = tree.put("noperm.txt", b"nobody may read this\n", visible=False)
        os.chmod(noperm, 0)
        nodir = os.path.join(tree.root, "nopermdir")
        os.mkdir(nodir)
        with open(os.path.join(nodir, "f.txt"), "wb") as f:
            f.write(b"in a closed directory\n")
        os.chmod(nodir, 0)
        if os.geteuid() == 0:
            # root reads anything: run the sample as nobody (65534) instead
            if not SETPRIV:
                self.skipTest("running as root and setpriv (util-linux) not installed")
            for dirpath, dirs, files in os.walk(self.tmp):
                os.chmod(dirpath, 0o755)
                for name in files:
                    full = os.path.join(dirpath, name)
                    if full != noperm:
                        os.chmod(full, 0o644)
            os.chmod(self.tmp, 0o755)
            os.chmod(nodir, 0)
            wrapper = os.path.join(self.tmp, "as-nobody.sh")
            with open(wrapper, "w") as f:
                f.write('#!/bin/sh\nexec %s --reuid=65534 --regid=65534 --clear-groups -- '
                        '"%s" "$@"\n' % (SETPRIV, os.path.abspath(mh.sample_path())))
            os.chmod(wrapper, 0o755)
            saved = mh.SAMPLE
            mh.SAMPLE = wrapper
            try:
                s = self.start_sample("--root", tree.root, "--tls-port", "off")
            finally:
                mh.SAMPLE = saved
            with open("/proc/%d/status" % s.proc.pid) as f:
                uid = [l for l in f if l.startswith("Uid:")]
            self.assertEqual(uid[0].split()[1], "65534", uid)
        else:
            s = self.start_sample("--root", tree.root, "--tls-port", "off")
        c = s.connect()
        self.addCleanup(c.close)
        r = c.request("GET", "/files/small.txt")
        self.assertEqual((r.status, r.body), (200, SMALL))
        r = c.request("GET", "/files/noperm.txt")
        self.assertEqual(r.status, 403, "an unreadable file")
        self.assertNotIn(b"nobody may read", r.body)
        r = c.request("HEAD", "/files/noperm.txt")
        self.assertEqual(r.status, 403, "HEAD of an unreadable file")
        for t in ("/files/nopermdir/", "/files/nopermdir/f.txt"):
            r = c.request("GET", t)
            self.assertIn(r.status, (403, 404), t)
            self.assertNotIn(b"closed directory", r.body)
        os.chmod(nodir, 0o755)   # for the cleanup, as any user


if __name__ == "__main__":
    mh.main()
