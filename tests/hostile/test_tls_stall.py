#!/usr/bin/env python3
"""TLS clients that stall in the middle of the handshake are closed once the handshake timeout
has passed, not before and not never, on each event loop."""

import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import mh  # noqa: E402

HANDSHAKE_TIMEOUT = 1.5   # seconds: the sample's --handshake-timeout below


def client_hello():
    """A real ClientHello (TLS 1.2 capable), made in memory."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = mh.insecure_context().wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class StalledHandshakes(mh.SampleTestCase):
    """Clients that stop in the middle of the handshake are closed at the handshake timeout,
    not before (tests/integration/test_tls_silent.py shows they do not block others and are
    not closed early), and not never."""

    sample_args = ("--bind", "127.0.0.1", "--idle-timeout", "60000", "--head-timeout", "60000",
                   "--handshake-timeout", str(int(HANDSHAKE_TIMEOUT * 1000)))

    def test_stalled_handshakes_closed_at_timeout(self):
        s = self.sample
        hello = client_hello()
        self.assertEqual(hello[:1], b"\x16")
        mark = s.stdout_mark()
        stalls = {}
        t0 = time.monotonic()
        stalls["silent"] = mh.Client("127.0.0.1", s.tls_port)
        stalls["one byte"] = mh.Client("127.0.0.1", s.tls_port)
        stalls["one byte"].send(hello[:1])
        stalls["record header"] = mh.Client("127.0.0.1", s.tls_port)
        stalls["record header"].send(hello[:5])
        stalls["half hello"] = mh.Client("127.0.0.1", s.tls_port)
        stalls["half hello"].send(hello[:len(hello) // 2])
        stalls["full hello"] = mh.Client("127.0.0.1", s.tls_port)
        stalls["full hello"].send(hello)
        for c in stalls.values():
            self.addCleanup(c.close)
        for c in stalls.values():
            s.wait_stdout(r"connection accepted: address 127\.0\.0\.1, port %d$" % c.local_port(),
                          start=mark)
        # the full hello is answered (ServerHello ... ServerHelloDone), then the client is silent
        full = stalls["full hello"]
        first = full.sock.recv(5)
        self.assertEqual(first[:1], b"\x16", "no ServerHello: %r" % first)
        # a plain-HTTP client on the same server is not subject to the handshake timeout
        with s.connect() as h:
            self.assertEqual(h.request("GET", "/index.html").status, 200)
        closed_after = {}
        for name, c in stalls.items():
            left = t0 + HANDSHAKE_TIMEOUT + 5 - time.monotonic()
            try:
                rest = c.wait_closed(timeout=max(0.1, left))
            except socket.timeout:
                self.fail("%s: still open %.1f s after connecting (handshake timeout %.0f s)"
                          % (name, time.monotonic() - t0, HANDSHAKE_TIMEOUT))
            closed_after[name] = time.monotonic() - t0
            # what the server sent before closing: the rest of its flight (full hello), or at
            # most a TLS alert; never anything else
            if name != "full hello" and rest:
                self.assertEqual(rest[:1], b"\x15", "%s: %r before close" % (name, rest[:40]))
        print("\n  [%s] stalled handshakes closed after: %s (handshake timeout %.0f s)" % (
            mh.BACKEND, ", ".join("%s %.2f s" % kv for kv in closed_after.items()),
            HANDSHAKE_TIMEOUT), file=sys.stderr)
        for name, took in closed_after.items():
            # t0 is before the connects: the server's clock starts a little later, never earlier
            self.assertGreaterEqual(took, HANDSHAKE_TIMEOUT - 0.05, "%s closed early" % name)
            self.assertLess(took, HANDSHAKE_TIMEOUT + 3, "%s closed late" % name)
        # the server is still serving TLS
        with mh.Client.tls("127.0.0.1", s.tls_port) as c:
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)


if __name__ == "__main__":
    mh.main()
