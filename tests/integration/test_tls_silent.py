#!/usr/bin/env python3
"""TLS listener robustness: clients that stall the handshake must not block others; plain HTTP
on the TLS port is closed; only TLS 1.2 with ECDHE + AEAD suites is negotiated."""

import os
import shutil
import socket
import ssl
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")


def client_hello(host="127.0.0.1"):
    """The bytes of a real ClientHello (generated in memory, no network)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = mh.insecure_context().wrap_bio(inc, out, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def can_offer(ctx):
    """True when the local OpenSSL will send a ClientHello with this context."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        ctx.wrap_bio(inc, out).do_handshake()
    except ssl.SSLWantReadError:
        return len(out.read()) > 0
    except (ssl.SSLError, ValueError):
        return False
    return False


class TlsStalls(mh.SampleTestCase):

    def test_silent_and_half_hello_do_not_block(self):
        s = self.sample
        hello = client_hello()
        self.assertGreater(len(hello), 50)
        self.assertEqual(hello[0], 0x16)  # handshake record
        mark = s.stdout_mark()
        stalled = []
        try:
            for i in range(4):
                stalled.append(mh.Client("127.0.0.1", s.tls_port))          # sends nothing
                c = mh.Client("127.0.0.1", s.tls_port)
                c.send(hello[:len(hello) // 2])                              # half a hello
                stalled.append(c)
            ports = [c.local_port() for c in stalled]
            # the server has taken all of them before the good client arrives
            for p in ports:
                s.wait_stdout(r"connection accepted: address 127\.0\.0\.1, port %d$" % p,
                              start=mark)
            t0 = time.monotonic()
            c = mh.Client.tls("127.0.0.1", s.tls_port, timeout=2)
            r = c.request("GET", "/index.html", timeout=2)
            c.close()
            took = time.monotonic() - t0
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
            self.assertLess(took, 2.0, "HTTPS request took %.2f s behind stalled handshakes" % took)
            if CURL:
                t0 = time.monotonic()
                p = mh.run([CURL, "-q", "-sS", "-k", "--max-time", "2",
                            s.url("/index.html", tls=True)], env=mh.clean_env(), timeout=10)
                self.assertEqual((p.returncode, p.stdout), (0, mh.IT_WORKS), p.stderr)
                self.assertLess(time.monotonic() - t0, 2.0)
            # plain HTTP is not held up either
            with s.connect() as h:
                self.assertEqual(h.request("GET", "/index.html", timeout=2).status, 200)
            # the stalled clients are still waiting (handshake timeout is 10 s): not closed yet
            for c in stalled:
                c.sock.settimeout(0)
                try:
                    data = c.sock.recv(1)
                    self.fail("stalled handshake answered/closed early: %r" % data)
                except BlockingIOError:
                    pass
            # finishing the half hello now still completes a handshake on that connection
            late = stalled[1]
            late.sock.settimeout(mh.IO_TIMEOUT)
            # the rest of the hello: the server answers with its ServerHello (a handshake record)
            late.send(hello[len(hello) // 2:])
            data = late.sock.recv(5)
            self.assertEqual(data[:1], b"\x16", "no ServerHello after the rest of the hello")
        finally:
            for c in stalled:
                c.close()

    def test_plain_http_on_tls_port(self):
        s = self.sample
        c = mh.Client("127.0.0.1", s.tls_port)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            rest = c.wait_closed(timeout=5)
        except socket.timeout:
            self.fail("plain HTTP on the TLS port: connection still open after 5 s")
        # at most a TLS alert record, never an HTTP response
        self.assertFalse(rest.startswith(b"HTTP/"), rest[:100])
        if rest:
            self.assertEqual(rest[0], 0x15, "expected nothing or a TLS alert, got %r" % rest[:20])
        self.assertLess(time.monotonic() - t0, 5)
        # and the server is fine
        with mh.Client.tls("127.0.0.1", s.tls_port) as t:
            self.assertEqual(t.request("GET", "/index.html").status, 200)
        # garbage that looks like a TLS record header with a huge length: also closed
        c2 = mh.Client("127.0.0.1", s.tls_port)
        self.addCleanup(c2.close)
        try:
            c2.send(b"\x16\x03\x01\xff\xff" + b"\0" * 100)
            c2.send(b"\x00" * 70000)
            c2.wait_closed(timeout=5)
        except socket.timeout:
            self.fail("oversized TLS record: connection still open after 5 s")
        except OSError:
            pass

    def test_tls12_ecdhe_aead(self):
        s = self.sample
        ctx = mh.insecure_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with mh.Client.tls("127.0.0.1", s.tls_port, context=ctx) as c:
            name, proto, bits = c.sock.cipher()
            self.assertEqual(c.sock.version(), "TLSv1.2")
            self.assertEqual(proto, "TLSv1.2")
            self.assertRegex(name, r"^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305|"
                                   r"AES\d+-CCM\S*)$")
            self.assertGreaterEqual(bits, 128)
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)

    def refused(self, ctx, what, sample=None):
        if not can_offer(ctx):
            print("\nNOTE: local OpenSSL will not offer %s: skipped" % what, file=sys.stderr)
            self.skipTest("local OpenSSL refuses to offer " + what)
        try:
            c = mh.Client.tls("127.0.0.1", (sample or self.sample).tls_port, context=ctx)
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
            if isinstance(e, socket.timeout):
                self.fail("%s: handshake hung instead of being refused" % what)
            return e
        got = (c.sock.version(), c.sock.cipher())
        c.close()
        self.fail("%s was accepted: %s" % (what, got))

    def test_tls11_refused(self):
        ctx = mh.insecure_context()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError) as e:
            self.skipTest("cannot configure a TLS 1.1 client: %s" % e)
        e = self.refused(ctx, "TLS 1.1")
        print("\n  TLS 1.1 refused: %r" % (e,), file=sys.stderr)
        with mh.Client.tls("127.0.0.1", self.sample.tls_port) as c:  # still serving
            self.assertEqual(c.request("GET", "/index.html").status, 200)

    def test_min_version_13(self):
        # --tls-min-version 1.3: TLS 1.2 refused, 1.3 served (OpenSSL); on mbedTLS 2.28 the
        # sample refuses to start, with one line saying why
        if not mh.TLS13:
            p = mh.run([mh.sample_path(), "--port", "0", "--tls-port", "0",
                        "--tls-min-version", "1.3"], timeout=30)
            err = p.stderr.decode()
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("no TLS 1.3", err)
            return
        s = self.start_sample("--tls-min-version", "1.3")
        old = mh.insecure_context()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        self.refused(old, "TLS 1.2 under --tls-min-version 1.3", sample=s)
        with mh.Client.tls("127.0.0.1", s.tls_port) as c:
            self.assertEqual(c.sock.version(), "TLSv1.3")
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)

    def test_session_resumed(self):
        # a returning client skips the full handshake: a session ticket on both backends (TLS
        # 1.3's arrives after the handshake, so a request is answered first)
        s = self.sample
        ctx = mh.insecure_context()
        with mh.Client.tls("127.0.0.1", s.tls_port, context=ctx) as c:
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
            session = c.sock.session
            self.assertFalse(c.sock.session_reused)
        raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=mh.IO_TIMEOUT)
        with mh.Client("127.0.0.1", s.tls_port, sock=ctx.wrap_socket(raw, session=session)) as c:
            self.assertTrue(c.sock.session_reused)
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)

    def test_tls13_only(self):
        # accepted with an AEAD suite where the backend has TLS 1.3 (OpenSSL), refused where
        # it has not (mbedTLS 2.28)
        ctx = mh.insecure_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        if not mh.TLS13:
            self.refused(ctx, "TLS 1.3 only")
            return
        with mh.Client.tls("127.0.0.1", self.sample.tls_port, context=ctx) as c:
            name, proto, _ = c.sock.cipher()
            self.assertEqual(proto, "TLSv1.3")
            self.assertRegex(name, r"^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$")
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)

    def test_cbc_suites_refused(self):
        ctx = mh.insecure_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:"
                        "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA")
        self.refused(ctx, "CBC (non-AEAD) suites only")


if __name__ == "__main__":
    mh.main()
