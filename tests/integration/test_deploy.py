#!/usr/bin/env python3
"""mote-sample behind the things a deployment puts around it: a load balancer's PROXY protocol
header (v1 and v2, with TLVs and CRC32c, LOCAL health checks, split across reads, before TLS;
every malformed or missing header closed unanswered and counted), trusted Forwarded /
X-Forwarded-For fields (ignored from untrusted peers), /metrics as a strict Prometheus text
exposition with exact counts across two workers, /healthz and the graceful drain on SIGTERM
(503 "draining" to a client that was queued, streams ended, listeners closed, a prompt
exit; requests partly received when it begins are answered, with "Connection: close"), and
systemd's socket activation with named sockets (plain and TLS)."""

import math
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_NOOP, PP2_TYPE_SSL = 0x02, 0x03, 0x04, 0x20
PP2_CLIENT_SSL = 0x01


def crc32c(data):
    """Castagnoli's CRC-32 (reflected polynomial 0x82F63B78), bit by bit."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def tlv(kind, value):
    return struct.pack("!BH", kind, len(value)) + value


def proxy_v2(src="203.0.113.7", dst="127.0.0.1", sport=5555, dport=80, command=1,
             family=0x11, tlvs=(), crc=False, bad_crc=False, addresses=None):
    """A PROXY v2 header: TCP over IPv4 (family 0x11) by default. With crc, a CRC32c TLV is
    appended and filled in (bad_crc: then flipped); `addresses` overrides the address block."""
    if addresses is None:
        if family == 0x11:
            addresses = (socket.inet_aton(src) + socket.inet_aton(dst) +
                         struct.pack("!HH", sport, dport))
        else:
            addresses = b""
    body = addresses + b"".join(tlv(k, v) for k, v in tlvs)
    if crc:
        body += tlv(PP2_TYPE_CRC32C, b"\0\0\0\0")
    header = PP2_SIG + struct.pack("!BBH", 0x20 | command, family, len(body)) + body
    if crc:
        value = crc32c(header) ^ (1 if bad_crc else 0)
        header = header[:-4] + struct.pack("!I", value)
    return header


def client_lines(page):
    """The Client: and Proxy: lines of a /headers page."""
    return re.findall(rb"<h2>((?:Client|Proxy): [^<]*)</h2>", page)


def read_all(c, timeout=None):
    """Everything the server sends before it closes (a reset counts as the close)."""
    try:
        return c.wait_closed(timeout)
    except socket.timeout:
        raise AssertionError("connection still open after %.1f s" % (
            c.timeout if timeout is None else timeout))


# ---------------------------------------------------------------------------------------------
# A strict parser of the Prometheus text exposition format 0.0.4
# ---------------------------------------------------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RX = re.compile(r"(%s)(?:\{((?:%s=%s)(?:,%s=%s)*,?)?\})? (\S+)(?: (-?\d+))?" % (
    METRIC_NAME, LABEL_NAME, LABEL_VALUE, LABEL_NAME, LABEL_VALUE))
LABEL_RX = re.compile(r"(%s)=(%s),?" % (LABEL_NAME, LABEL_VALUE))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(AssertionError):
    pass


def parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text):
        raise ExpositionError("%s: value %r is not a number" % (where, text))
    return float(text)


def parse_exposition(text):
    """Parses a whole exposition; returns {family: {"type", "help", "samples": [(name,
    ((label, value), ...), float)]}}. Raises ExpositionError on anything the format forbids:
    a sample before its family's TYPE, a family split in two, a TYPE or HELP given twice, a
    duplicate series, a non-numeric value, a counter below zero, histogram buckets out of
    order, decreasing, or without le="+Inf" equal to _count."""
    if not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    families = {}
    order = []            # families in the order their samples came
    seen = set()
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d %r" % (n, line)
        if line == "":
            continue
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % METRIC_NAME, line)
            if not m:
                if re.match(r"#\s*(HELP|TYPE)\b", line):
                    raise ExpositionError("%s: malformed HELP/TYPE line" % where)
                continue          # a comment
            kind, name, rest = m.groups()
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                raise ExpositionError("%s: %s after the family's samples" % (where, kind))
            if kind == "TYPE":
                if fam["type"] is not None:
                    raise ExpositionError("%s: second TYPE for %s" % (where, name))
                if rest not in TYPES:
                    raise ExpositionError("%s: unknown type %r" % (where, rest))
                fam["type"] = rest
            else:
                if fam["help"] is not None:
                    raise ExpositionError("%s: second HELP for %s" % (where, name))
                if re.search(r"\\[^\\n]", rest):
                    raise ExpositionError("%s: bad escape in HELP" % where)
                fam["help"] = rest
            continue
        m = SAMPLE_RX.fullmatch(line)
        if not m:
            raise ExpositionError("%s: not a sample line" % where)
        name, labels_text, value_text, _ = m.groups()
        labels = tuple(LABEL_RX.findall(labels_text or ""))
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            raise ExpositionError("%s: a label given twice" % where)
        labels = tuple((k, re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                  v[1:-1])) for k, v in labels)
        family = None
        if name in families and families[name]["type"] is not None:
            family = name
        else:
            for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                                  ("_count", ("histogram", "summary"))):
                base = name[:-len(suffix)]
                if (name.endswith(suffix) and base in families and
                        families[base]["type"] in kinds):
                    family = base
                    break
        if family is None:
            raise ExpositionError("%s: no TYPE line declares the family of %s before it"
                                  % (where, name))
        if family != current:
            if family in order:
                raise ExpositionError("%s: family %s is split in two groups" % (where, family))
            order.append(family)
            current = family
        key = (name, tuple(sorted(labels)))
        if key in seen:
            raise ExpositionError("%s: duplicate series" % where)
        seen.add(key)
        value = parse_value(value_text, where)
        ftype = families[family]["type"]
        if ftype == "counter" and not value >= 0:
            raise ExpositionError("%s: counter below zero" % where)
        if ftype == "histogram" and name == family:
            raise ExpositionError("%s: a histogram's bare name as a sample" % where)
        if ftype == "histogram" and name.endswith("_bucket") and "le" not in names:
            raise ExpositionError("%s: bucket without le" % where)
        families[family]["samples"].append((name, labels, value))
    for family, fam in families.items():
        if fam["type"] == "histogram":
            check_histogram(family, fam["samples"])
    return families


def check_histogram(family, samples):
    buckets = [(parse_value(dict(l)["le"], "%s le" % family), v)
               for n, l, v in samples if n == family + "_bucket"]
    count = [v for n, l, v in samples if n == family + "_count"]
    total = [v for n, l, v in samples if n == family + "_sum"]
    if not buckets or len(count) != 1 or len(total) != 1:
        raise ExpositionError("histogram %s: needs buckets, one _sum and one _count" % family)
    bounds = [b for b, _ in buckets]
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        raise ExpositionError("histogram %s: le bounds not increasing: %s" % (family, bounds))
    if bounds[-1] != math.inf:
        raise ExpositionError('histogram %s: no final le="+Inf" bucket' % family)
    values = [v for _, v in buckets]
    if any(b < a for a, b in zip(values, values[1:])):
        raise ExpositionError("histogram %s: buckets decrease: %s" % (family, values))
    if values[-1] != count[0]:
        raise ExpositionError('histogram %s: le="+Inf" %s != _count %s'
                              % (family, values[-1], count[0]))
    if not total[0] >= 0:
        raise ExpositionError("histogram %s: _sum %s" % (family, total[0]))


def sample_value(families, name, **labels):
    """The value of the one series `name{labels}`."""
    want = tuple(sorted(labels.items()))
    for fam in families.values():
        for n, l, v in fam["samples"]:
            if n == name and tuple(sorted(l)) == want:
                return v
    raise AssertionError("no series %s%s in the exposition" % (name, labels or ""))


def metrics_via_proxy(s):
    """GET /metrics on a --proxy-protocol sample, through a v1 header naming 127.0.0.1 (the
    default --metrics-allow)."""
    with s.connect() as c:
        c.send(b"PROXY TCP4 127.0.0.1 127.0.0.1 4444 %d\r\n" % s.http_port)
        r = c.request("GET", "/metrics", headers=[("Connection", "close")])
    if r.status != 200:
        raise AssertionError("GET /metrics: %r %r" % (r, r.body[:200]))
    return parse_exposition(r.body.decode("utf-8"))


# ---------------------------------------------------------------------------------------------
# The PROXY protocol
# ---------------------------------------------------------------------------------------------

class ProxyProtocol(mh.SampleTestCase):
    """One plain-HTTP sample whose listener requires the header."""
    sample_args = ("--tls-port", "off", "--proxy-protocol")

    def headers_page(self, preamble, target, split=()):
        """Sends `preamble` (in pieces at the offsets `split`, the rest with the request) then
        GET `target`; returns (response, access-log line, local port)."""
        s = self.sample
        mark = s.stdout_mark()
        c = self.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = c.local_port()
        cuts = [0] + list(split)
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            c.send(preamble[a:b])
            if i == 0:
                # the server has taken the connection (its first read sees this piece, maybe
                # the next): later pieces arrive on reads of their own
                s.wait_stdout(r"connection accepted: address 127\.0\.0\.1, port %d$" % port,
                              start=mark)
        c.send(preamble[cuts[-1]:] + mh.get(target))
        r = c.read_response()
        line = s.wait_stdout(r'"GET %s HTTP/1\.1" ' % re.escape(target), start=mark)[0].string
        return r, line, port

    def test_v1_tcp4(self):
        r, line, _ = self.headers_page(
            b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 %d\r\n" % self.sample.http_port,
            "/headers/v1-tcp4")
        self.assertEqual(r.status, 200)
        self.assertEqual(client_lines(r.body), [b"Client: 203.0.113.7 (http)",
                                                b"Proxy: 127.0.0.1"])
        self.assertRegex(line, r'^\[info\] 203\.0\.113\.7:5555 "GET /headers/v1-tcp4 HTTP/1\.1" '
                               r'200 %d \d+\.\d{3}ms$' % len(r.body))

    def test_v1_tcp6(self):
        r, line, _ = self.headers_page(
            b"PROXY TCP6 2001:db8::7 ::1 5556 %d\r\n" % self.sample.http_port, "/headers/v1-tcp6")
        self.assertEqual(r.status, 200)
        self.assertEqual(client_lines(r.body), [b"Client: 2001:db8::7 (http)",
                                                b"Proxy: 127.0.0.1"])
        self.assertRegex(line, r'^\[info\] \[2001:db8::7\]:5556 "GET /headers/v1-tcp6 ')

    def v2_with_tlvs(self, sport):
        h = proxy_v2(sport=sport, dport=self.sample.http_port,
                     tlvs=[(PP2_TYPE_AUTHORITY, b"example.test"), (PP2_TYPE_NOOP, b"\0\0\0")],
                     crc=True)
        self.assertEqual(len(h), 16 + 12 + 15 + 6 + 7)
        return h

    def test_v2_tlvs_in_one_send(self):
        # the header and the request in one segment: the request behind it is not lost
        r, line, _ = self.headers_page(self.v2_with_tlvs(6001), "/headers/v2-one")
        self.assertEqual(r.status, 200)
        self.assertEqual(client_lines(r.body), [b"Client: 203.0.113.7 (http)",
                                                b"Proxy: 127.0.0.1"])
        self.assertRegex(line, r'^\[info\] 203\.0\.113\.7:6001 "GET /headers/v2-one ')

    def test_v2_in_pieces(self):
        # cut inside the signature, the fixed part, the addresses and the TLVs
        r, line, _ = self.headers_page(self.v2_with_tlvs(6002), "/headers/v2-pieces",
                                       split=(5, 14, 22, 35, 50))
        self.assertEqual(r.status, 200)
        self.assertIn(b"Client: 203.0.113.7 (http)", client_lines(r.body))
        self.assertRegex(line, r'^\[info\] 203\.0\.113\.7:6002 "GET /headers/v2-pieces ')

    def test_v2_ssl_flag_is_the_scheme(self):
        # the client spoke TLS to the proxy (PP2_TYPE_SSL, PP2_CLIENT_SSL, verified): https
        ssl_tlv = struct.pack("!BI", PP2_CLIENT_SSL, 0) + tlv(0x21, b"TLSv1.3")
        r, line, _ = self.headers_page(
            proxy_v2(sport=6003, dport=self.sample.http_port, tlvs=[(PP2_TYPE_SSL, ssl_tlv)]),
            "/headers/v2-ssl")
        self.assertEqual(client_lines(r.body), [b"Client: 203.0.113.7 (https)",
                                                b"Proxy: 127.0.0.1"])

    def test_v1_in_pieces(self):
        r, line, _ = self.headers_page(
            b"PROXY TCP4 198.51.100.1 127.0.0.1 6003 %d\r\n" % self.sample.http_port,
            "/headers/v1-pieces", split=(3, 11, 24, 40))
        self.assertEqual(r.status, 200)
        self.assertRegex(line, r'^\[info\] 198\.51\.100\.1:6003 "GET /headers/v1-pieces ')

    def test_v2_local(self):
        # a health check from the proxy itself: the socket's own address stands
        r, line, port = self.headers_page(proxy_v2(command=0, family=0x00), "/headers/local")
        self.assertEqual(r.status, 200)
        self.assertEqual(client_lines(r.body), [])
        self.assertIn(b"<h2>URL: /headers/local", r.body)
        self.assertRegex(line, r'^\[info\] 127\.0\.0\.1:%d "GET /headers/local ' % port)


class ProxyRefusals(mh.SampleTestCase):
    shared_sample = False

    def assertRefused(self, c, what):
        rest = read_all(c)
        self.assertEqual(rest, b"", "%s: the server answered instead of closing" % what)

    def test_refusals_counted(self):
        s = self.start_sample("--proxy-protocol", tls=False)
        refusals = [
            ("no header", mh.get("/index.html")),
            ("v2 with a wrong CRC32c",
             proxy_v2(dport=s.http_port, tlvs=[(PP2_TYPE_NOOP, b"x")], crc=True, bad_crc=True)
             + mh.get("/index.html")),
            ("v2 family UNIX stream",
             proxy_v2(family=0x31, addresses=b"/tmp/a".ljust(108, b"\0") +
                      b"/tmp/b".ljust(108, b"\0")) + mh.get("/index.html")),
        ]
        for what, data in refusals:
            with s.connect() as c:
                c.send_tolerant(data)
                self.assertRefused(c, what)
        # the same v2 header with its CRC right is taken (the refusal was for the CRC)
        with s.connect() as c:
            c.send(proxy_v2(dport=s.http_port, tlvs=[(PP2_TYPE_NOOP, b"x")], crc=True))
            self.assertEqual(c.request("GET", "/index.html").status, 200)
        fams = metrics_via_proxy(s)
        self.assertEqual(sample_value(fams, "mote_errors_total", kind="proxy"), len(refusals))

    def test_header_timeout(self):
        s = self.start_sample("--proxy-protocol", "--handshake-timeout", "300", tls=False)
        with s.connect() as c:
            t0 = time.monotonic()
            c.send(b"PROXY TCP4 ")
            self.assertRefused(c, "a header cut short")
            took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.2, "closed at once, not by the timeout")
        self.assertLess(took, mh.IO_TIMEOUT)


class ProxyTLS(mh.SampleTestCase):
    sample_args = ("--proxy-protocol",)

    def test_header_before_tls(self):
        s = self.sample
        raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=mh.IO_TIMEOUT)
        self.addCleanup(raw.close)
        raw.sendall(b"PROXY TCP4 192.0.2.44 127.0.0.1 7001 %d\r\n" % s.tls_port)
        tls = mh.insecure_context().wrap_socket(raw)
        c = mh.Client("127.0.0.1", s.tls_port, sock=tls)
        self.addCleanup(c.close)
        r = c.request("GET", "/headers/tls")
        self.assertEqual(r.status, 200)
        self.assertEqual(client_lines(r.body), [b"Client: 192.0.2.44 (https)",
                                                b"Proxy: 127.0.0.1"])
        s.wait_stdout(r'^\[info\] 192\.0\.2\.44:7001 "GET /headers/tls HTTP/1\.1" 200 ')

    def test_tls_without_header_refused(self):
        raw = socket.create_connection(("127.0.0.1", self.sample.tls_port),
                                       timeout=mh.IO_TIMEOUT)
        self.addCleanup(raw.close)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            mh.insecure_context().wrap_socket(raw)


# ---------------------------------------------------------------------------------------------
# Forwarded / X-Forwarded-For from trusted proxies
# ---------------------------------------------------------------------------------------------

class TrustedForwarded(mh.SampleTestCase):
    sample_args = ("--tls-port", "off", "--trusted-proxy", "127.0.0.0/8",
                   "--trusted-proxy", "10.0.0.0/8")

    def client_of(self, *headers, sample=None):
        with (sample or self.sample).connect() as c:
            r = c.request("GET", "/headers/fwd", headers=list(headers))
        self.assertEqual(r.status, 200)
        return client_lines(r.body)

    def test_x_forwarded_for(self):
        self.assertEqual(self.client_of(("X-Forwarded-For", "198.51.100.9")),
                         [b"Client: 198.51.100.9 (http)"])

    def test_chain_right_most_untrusted(self):
        self.assertEqual(self.client_of(("X-Forwarded-For", "198.51.100.9, 10.1.2.3")),
                         [b"Client: 198.51.100.9 (http)"])
        # a forged entry on the left is not believed past an untrusted hop
        self.assertEqual(self.client_of(("X-Forwarded-For", "192.0.2.66, 198.51.100.9, 10.1.2.3")),
                         [b"Client: 198.51.100.9 (http)"])

    def test_forwarded_ipv6_and_proto(self):
        self.assertEqual(self.client_of(("Forwarded", 'for="[2001:db8::1]:4711";proto=https')),
                         [b"Client: 2001:db8::1 (https)"])

    def test_x_forwarded_proto(self):
        self.assertEqual(self.client_of(("X-Forwarded-For", "198.51.100.9"),
                                        ("X-Forwarded-Proto", "https")),
                         [b"Client: 198.51.100.9 (https)"])

    def test_untrusted_peer_ignored(self):
        s = self.start_sample("--tls-port", "off", "--trusted-proxy", "10.0.0.0/8")
        for h in (("X-Forwarded-For", "198.51.100.9"),
                  ("Forwarded", 'for="[2001:db8::1]:4711";proto=https')):
            self.assertEqual(self.client_of(h, ("X-Forwarded-Proto", "https"), sample=s), [])


# ---------------------------------------------------------------------------------------------
# /metrics
# ---------------------------------------------------------------------------------------------

class Metrics(mh.SampleTestCase):
    shared_sample = False

    def test_exposition_with_two_workers(self):
        s = self.start_sample("--tls-port", "off", "--workers", "2")
        mark = s.stdout_mark()
        for target, status in (("/index.html", 200),) * 3 + (("/missing", 404),) * 2:
            with s.connect() as c:
                r = c.request("GET", target, headers=[("Connection", "close")])
                self.assertEqual(r.status, status, target)
        # every response's access line is in (each is printed after its figures are counted)
        s.wait_stdout(r'"GET /index\.html HTTP/1\.1" 200 ', start=mark, count=3)
        s.wait_stdout(r'"GET /missing HTTP/1\.1" 404 ', start=mark, count=2)
        with s.connect() as c:
            r = c.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain; version=0.0.4"),
                        r.headers)
        fams = parse_exposition(r.body.decode("utf-8"))
        self.assertEqual(sample_value(fams, "mote_responses_total", **{"class": "2xx"}), 3)
        self.assertEqual(sample_value(fams, "mote_responses_total", **{"class": "4xx"}), 2)
        self.assertEqual(sample_value(fams, "mote_responses_total", **{"class": "5xx"}), 0)
        self.assertEqual(sample_value(fams, "mote_requests_total", protocol="http1"), 5)
        self.assertGreaterEqual(sample_value(fams, "mote_connections_accepted_total"), 6)
        self.assertEqual(sample_value(fams, "mote_request_duration_seconds_count"), 5)
        self.assertEqual(sample_value(fams, "mote_errors_total", kind="proxy"), 0)
        self.assertEqual(sample_value(fams, "mote_draining"), 0)
        self.assertEqual(fams["mote_request_duration_seconds"]["type"], "histogram")

        p = mh.run(["curl", "-s", "--max-time", str(mh.IO_TIMEOUT), s.url("/metrics")],
                   env=mh.clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        again = parse_exposition(p.stdout.decode("utf-8"))
        self.assertEqual(sorted(again), sorted(fams))
        self.assertEqual({k: v["type"] for k, v in again.items()},
                         {k: v["type"] for k, v in fams.items()})
        # one more response (the first /metrics) since
        self.assertEqual(sample_value(again, "mote_responses_total", **{"class": "2xx"}), 4)

    def test_tls_handshakes_counted(self):
        # a full handshake, a resumed one (the first session offered again), a failed one
        s = self.start_sample("--bind", "127.0.0.1", "--log-level", "warn")
        ctx = mh.insecure_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2   # a session to resume on both backends
        with socket.create_connection(("127.0.0.1", s.tls_port), timeout=mh.IO_TIMEOUT) as raw:
            with ctx.wrap_socket(raw) as t:
                c = mh.Client("127.0.0.1", s.tls_port, sock=t)
                self.assertEqual(c.request("GET", "/index.html").status, 200)
                session = t.session
        with socket.create_connection(("127.0.0.1", s.tls_port), timeout=mh.IO_TIMEOUT) as raw:
            with ctx.wrap_socket(raw, session=session) as t:
                c = mh.Client("127.0.0.1", s.tls_port, sock=t)
                self.assertEqual(c.request("GET", "/index.html").status, 200)
                self.assertTrue(t.session_reused)
        with socket.create_connection(("127.0.0.1", s.tls_port), timeout=mh.IO_TIMEOUT) as raw:
            raw.sendall(b"\x16\x03\x01\x00\x05hello")     # a record no handshake survives
            read_all(mh.Client("127.0.0.1", s.tls_port, sock=raw))
        with s.connect() as c:
            fams = parse_exposition(c.request("GET", "/metrics").body.decode("utf-8"))
        self.assertEqual(sample_value(fams, "mote_tls_handshakes_total", result="full"), 1)
        self.assertEqual(sample_value(fams, "mote_tls_handshakes_total", result="resumed"), 1)
        self.assertEqual(sample_value(fams, "mote_tls_handshakes_total", result="failed"), 1)

    def test_parser_is_strict(self):
        good = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
                "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                "h_sum 0.5\nh_count 2\n")
        parse_exposition(good)
        for bad in ("a_total 1\n",                                       # no TYPE
                    "# TYPE a counter\na x\n",                            # not numeric
                    "# TYPE a counter\na 1",                              # no final newline
                    "# TYPE a counter\na{b=\"1\"} 1\na{b=\"1\"} 2\n",    # duplicate
                    "# TYPE a counter\n# TYPE a gauge\na 1\n",            # TYPE twice
                    "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 1\n",  # split
                    good.replace('le="+Inf"} 2', 'le="+Inf"} 3'),         # +Inf != count
                    good.replace('le="0.1"} 1', 'le="0.1"} 3'),           # decreasing
                    good.replace('h_bucket{le="+Inf"} 2\n', ""),          # no +Inf
                    "# TYPE a counter\na{b=1} 1\n"):                      # unquoted label
            with self.assertRaises(ExpositionError, msg=bad):
                parse_exposition(bad)

    def test_metrics_allow(self):
        s = self.start_sample("--tls-port", "off", "--metrics-allow", "10.0.0.0/8")
        with s.connect() as c:
            r = c.request("GET", "/metrics")
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"mote_", r.body)


# ---------------------------------------------------------------------------------------------
# /healthz and the drain
# ---------------------------------------------------------------------------------------------

class Drain(mh.SampleTestCase):
    shared_sample = False

    def drain_sample(self):
        s = self.start_sample("--tls-port", "off", "--drain-timeout", "60000")
        with s.connect() as c:
            r = c.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))
        self.assertEqual(r.header("Cache-Control"), "no-store")
        return s

    def sigterm(self, s):
        mark = s.stdout_mark()
        s.proc.send_signal(signal.SIGTERM)
        s.wait_stdout(r"draining: listeners closed", start=mark)

    def queue_while_stopped(self, s, data):
        """A client that connects and sends `data` while the sample is stopped (SIGSTOP), so
        that it waits in the listener's queue; then SIGTERM and SIGCONT: the sample sees the
        stop request before it can accept the client. Returns the client."""
        s.proc.send_signal(signal.SIGSTOP)
        try:
            _, status = os.waitpid(s.proc.pid, os.WUNTRACED)
            self.assertTrue(os.WIFSTOPPED(status), status)
            c = s.connect()
            self.addCleanup(c.close)
            c.send(data)
            s.proc.send_signal(signal.SIGTERM)
        finally:
            s.proc.send_signal(signal.SIGCONT)
        return c

    def test_healthz_and_drain(self):
        s = self.drain_sample()
        stream = mh.events_stream(s)
        self.addCleanup(stream.close)
        mark = s.stdout_mark()
        t0 = time.monotonic()
        queued = self.queue_while_stopped(s, mh.get("/healthz"))
        s.wait_stdout(r"draining: listeners closed", start=mark)

        # the listeners are closed at once
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.http_port), timeout=2).close()

        # the queued client is served, and told the server is draining
        r = queued.read_response()
        self.assertEqual((r.status, r.body), (503, b"draining\n"))
        self.assertEqual(read_all(queued), b"")
        queued.close()

        # the stream was ended by on_shutdown: its chunked terminator, then the close
        stream.read_until(b"0\r\n\r\n", time.monotonic() + mh.IO_TIMEOUT)
        self.assertEqual(read_all(stream), b"")
        stream.close()

        s.stop_and_check(sig=None)
        took = time.monotonic() - t0
        self.assertLess(took, mh.STOP_TIMEOUT, "exit %.1f s after SIGTERM (drain timeout 60 s)"
                        % took)

    # Requests the server has begun to receive when the drain begins are answered, as the last
    # on their connections, and say so. (Before, every connection was marked closing at once:
    # these three failed, the requests dropped unanswered.)

    def test_503_while_draining_says_close(self):
        # the connection is closed after the 503: the response says so (RFC 9112 9.6)
        s = self.drain_sample()
        queued = self.queue_while_stopped(s, mh.get("/healthz"))
        r = queued.read_response()
        self.assertEqual((r.status, r.body), (503, b"draining\n"))
        self.assertEqual((r.header("Connection") or "").lower(), "close")

    def test_head_in_progress_answered(self):
        # a request whose head is partly in when the drain begins is answered 503 "draining"
        s = self.drain_sample()
        pending = s.connect()
        self.addCleanup(pending.close)
        pending.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")     # the final CRLF held back
        with s.connect() as c:           # taken after `pending` (one loop, accepted in order)
            self.assertEqual(c.request("GET", "/index.html").status, 200)
        self.sigterm(s)
        pending.send_tolerant(b"\r\n")
        r = pending.read_response()
        self.assertEqual((r.status, r.body), (503, b"draining\n"))
        self.assertEqual((r.header("Connection") or "").lower(), "close")

    def test_body_in_flight_answered(self):
        # an upload whose handler already runs (its body streamed to it) is finished
        s = self.drain_sample()
        up = s.connect()
        self.addCleanup(up.close)
        up.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        with s.connect() as c:
            self.assertEqual(c.request("GET", "/index.html").status, 200)
        self.sigterm(s)
        up.send_tolerant(b"67890")
        r = up.read_response("POST")
        self.assertEqual(r.status, 200)
        self.assertIn(b'"bytes": 10', r.body)


# ---------------------------------------------------------------------------------------------
# systemd socket activation
# ---------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as p:
        p.bind(("127.0.0.1", 0))
        return p.getsockname()[1]


CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "systemd")


def unit_values(path, key):
    """The values of `key=` in a systemd unit file, in order."""
    with open(path) as f:
        return [l.split("=", 1)[1].strip() for l in f if l.startswith(key + "=")]


class SocketActivation(unittest.TestCase):

    def activate(self, ports, names, args):
        """systemd-socket-activate listening on 127.0.0.1:ports (named), starting the sample
        with `args` on the first connection; returns (proc, stdout lines, stderr lines)."""
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            raise unittest.SkipTest("systemd-socket-activate is not installed")
        env = mh.clean_env()
        for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(k, None)
        argv = [activate]
        for p in ports:
            argv += ["-l", "127.0.0.1:%d" % p]
        argv += ["--fdname=" + ":".join(names), mh.sample_path()] + list(args)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        out, err = mh._Lines(proc.stdout), mh._Lines(proc.stderr)

        def finish():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            out.join(2)
            err.join(2)
        self.addCleanup(finish)
        # it listens, and starts the sample on the first connection
        err.wait_for(r"Listening on 127\.0\.0\.1:%d as %d\." % (ports[-1], 2 + len(ports)),
                     mh.START_TIMEOUT)
        return proc, out, err

    def stop(self, proc, out, err):
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(mh.STOP_TIMEOUT)
        out.join(5)
        err.join(5)
        self.assertEqual(status, 0, err.text())
        self.assertIn("mote-sample: stopped", out.text())
        self.assertFalse(mh.sanitizer_lines(err.text()), err.text())

    def test_named_sockets(self):
        p1 = free_port()
        p2 = free_port()
        while p2 == p1:
            p2 = free_port()
        proc, out, err = self.activate([p1, p2], ["http", "https"], ["--log-level", "info"])
        c = mh.Client("127.0.0.1", p1)
        self.addCleanup(c.close)
        c.send(mh.get("/index.html"))
        banner = out.wait_for(r"^TLS certificate: ", mh.START_TIMEOUT)
        lines = [l for l in out.lines if not l.startswith("[")]
        i = lines.index(banner[0].string)
        self.assertEqual(lines[:i], ["mote HTTP Server", "Address: 127.0.0.1, port: %d" % p1,
                                     "mote HTTPS Server", "Address: 127.0.0.1, port: %d" % p2])
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        with mh.Client.tls("127.0.0.1", p2) as t:
            r = t.request("GET", "/index.html")
        self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
        c.close()
        self.stop(proc, out, err)

    def test_contrib_units(self):
        """contrib/systemd as README's Deploying section installs it: the socket's name and
        the service's command line, started the way systemd starts them; and the units pass
        `systemd-analyze verify` (with ExecStart pointing at this build's sample)."""
        service = os.path.join(CONTRIB, "mote.service")
        socket_unit = os.path.join(CONTRIB, "mote.socket")
        names = unit_values(socket_unit, "FileDescriptorName")
        self.assertEqual(names, ["http"])
        exec_start = unit_values(service, "ExecStart")[0].split()
        self.assertEqual(exec_start[0], "/usr/local/bin/mote-sample")
        port = free_port()
        proc, out, err = self.activate([port], names, exec_start[1:])
        with mh.Client("127.0.0.1", port) as c:
            r = c.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))
        self.assertEqual(unit_values(service, "KillSignal"), ["SIGTERM"])
        self.stop(proc, out, err)
        analyze = shutil.which("systemd-analyze")
        if analyze:
            d = tempfile.mkdtemp(prefix="mote-units-")
            self.addCleanup(shutil.rmtree, d, True)
            for name in ("mote.service", "mote.socket", "mote-https.socket"):
                with open(os.path.join(CONTRIB, name)) as f:
                    text = f.read().replace("/usr/local/bin/mote-sample", mh.sample_path())
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            v = subprocess.run([analyze, "verify", "--man=no"] +
                               [os.path.join(d, n) for n in ("mote.socket", "mote.service",
                                                             "mote-https.socket")],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((v.returncode, v.stderr.strip()), (0, ""), v.stdout + v.stderr)


if __name__ == "__main__":
    mh.main()
