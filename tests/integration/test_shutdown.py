#!/usr/bin/env python3
"""Graceful shutdown of mote-sample: SIGTERM / SIGINT with idle keep-alive connections, and
with a streamed response in progress (which must be completed, not cut)."""

import os
import fcntl
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402


class Shutdown(mh.SampleTestCase):
    shared_sample = False

    def idle_clients(self, s, n):
        clients = []
        for i in range(n):
            c = s.connect()
            self.addCleanup(c.close)
            r = c.request("GET", "/index.html?c=%d" % i)
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS))
            clients.append(c)
        return clients

    def test_sigterm_with_idle_keepalive(self):
        s = self.start_sample()
        clients = self.idle_clients(s, 20)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(clients):
            try:
                rest = c.wait_closed(timeout=4)
            except socket.timeout:
                self.fail("idle connection %d not closed 4 s after SIGTERM" % i)
            self.assertEqual(rest, b"", "idle connection %d got bytes at shutdown" % i)
            c.close()                     # as a client does on EOF
        out, err, _ = s.stop_and_check(sig=None)
        took = time.monotonic() - t0
        print("\n  SIGTERM -> exit with 20 idle connections: %.3f s" % took, file=sys.stderr)
        self.assertLess(took, 2.5, "shutdown with idle connections took %.2f s" % took)
        # the listeners are gone
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.http_port), timeout=2).close()

    def test_sigterm_clients_that_do_not_close(self):
        # the clients see EOF but never close their side: the server still exits in time
        s = self.start_sample()
        clients = self.idle_clients(s, 5)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(clients):
            try:
                self.assertEqual(c.wait_closed(timeout=4), b"")
            except socket.timeout:
                self.fail("idle connection %d saw no EOF 4 s after SIGTERM" % i)
        s.stop_and_check(sig=None)
        took = time.monotonic() - t0
        print("\n  SIGTERM -> exit, clients not closing: %.3f s" % took, file=sys.stderr)
        self.assertLess(took, 4.5, "took %.2f s (shutdown deadline is 5 s)" % took)

    def test_sigint(self):
        s = self.start_sample()
        clients = self.idle_clients(s, 3)
        with s.connect(tls=True) as t:
            self.assertEqual(t.request("GET", "/index.html").status, 200)
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGINT)
            self.assertEqual(t.wait_closed(timeout=4), b"")
        for c in clients:
            self.assertEqual(c.wait_closed(timeout=4), b"")
            c.close()
        s.stop_and_check(sig=None)
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_sigterm_while_idle_no_connections(self):
        s = self.start_sample()
        _, _, took = s.stop_and_check()
        self.assertLess(took, 1.5)

    def test_sigterm_during_startup(self):
        # SIGTERM once the HTTP listener accepts connections, while the sample is still
        # printing its banner (held there deterministically: its stdout is a full one-page
        # pipe). A graceful stop is expected, not death by the signal's default action.
        probe = socket.socket(socket.AF_INET6 if mh.have_ipv6() else socket.AF_INET)
        probe.bind(("::" if mh.have_ipv6() else "0.0.0.0", 0))
        port = probe.getsockname()[1]
        probe.close()
        r, w = os.pipe()
        try:
            fcntl.fcntl(w, 1031, 4096)                   # F_SETPIPE_SZ: one page
        except OSError as e:
            os.close(r)
            os.close(w)
            self.skipTest("cannot size a pipe: %s" % e)
        os.set_blocking(w, False)
        filled = 0
        try:
            while filled < 1 << 20:
                filled += os.write(w, b"#" * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        proc = subprocess.Popen([mh.sample_path(), "--port", str(port), "--tls-port", "off"],
                                stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE)
        os.close(w)
        try:
            up = False
            deadline = time.monotonic() + mh.START_TIMEOUT
            for _ in range(200000):
                if time.monotonic() > deadline or proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    up = True
                    break
                except (ConnectionRefusedError, socket.timeout):
                    continue
            self.assertTrue(up, "the listener never came up (status %s)" % proc.poll())
            proc.send_signal(signal.SIGTERM)
            out = b""
            while True:                                  # drain stdout until the process ends
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                out += chunk
            status = proc.wait(mh.STOP_TIMEOUT)
            err = proc.stderr.read().decode("utf-8", "replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            os.close(r)
            proc.stderr.close()
        text = out[filled:].decode("utf-8", "replace")
        self.assertFalse(mh.sanitizer_lines(err), err)
        self.assertEqual(status, 0, "SIGTERM during startup: exit status %d (negative: killed by "
                         "that signal); stdout after the filler: %r" % (status, text))
        self.assertIn("mote-sample: stopped", text)

    def test_streamed_response_in_progress(self):
        # one big streamed page (/headers): SIGTERM once its first bytes are here; the rest
        # must still arrive, whole
        s = self.start_sample()
        c = mh.Client("127.0.0.1", s.http_port, rcvbuf=4096)
        self.addCleanup(c.close)
        c.send(mh.build_request("GET", "/headers/one", headers=[mh.BIG_HEADER]))
        deadline = time.monotonic() + mh.IO_TIMEOUT
        c._fill(deadline)
        self.assertTrue(c.buf.startswith(b"HTTP/1.1 200"), c.buf[:50])
        s.proc.send_signal(signal.SIGTERM)
        r = c.read_response()
        self.assertEqual(r.body.count(b"&quot;"), mh.BIG_PAGE_QUOTES)
        self.assertTrue(r.body.endswith(b"</body>\n</html>\n"))
        self.assertEqual(c.wait_closed(timeout=4), b"")
        c.close()
        s.stop_and_check(sig=None)

    def test_stalled_pipeline_at_shutdown(self):
        # responses are waiting for a client that does not read (the server's socket is full)
        # when SIGTERM comes; the client then reads: everything the server finished must
        # arrive, the response in flight must be completed, and the end is a clean EOF
        s = self.start_sample()
        c = mh.Client("127.0.0.1", s.http_port, rcvbuf=4096)
        self.addCleanup(c.close)
        port = c.local_port()
        sent, done = mh.pipeline_until_stalled(s, c)
        self.assertLess(done, sent, "the server never stalled (kernel buffers too large?)")
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        received, truncated, reset, tail = 0, [], None, b""
        deadline = time.monotonic() + 3 * mh.IO_TIMEOUT
        while received < sent:
            try:
                r = c.read_response(timeout=max(0.1, deadline - time.monotonic()))
            except ConnectionResetError as e:
                reset, tail = e, c.buf
                break
            except mh.ProtocolError:
                tail = c.buf
                break                       # EOF (clean if nothing was left over)
            self.assertEqual(r.status, 200)
            if r.body.count(b"&quot;") != mh.BIG_PAGE_QUOTES or not r.body.endswith(b"</html>\n"):
                truncated.append((received, len(r.body)))
            received += 1
        c.close()
        out, _, _ = s.stop_and_check(sig=None)
        took = time.monotonic() - t0
        logged = sum(1 for l in out.splitlines()
                     if '127.0.0.1:%d "GET /headers/big' % port in l)
        print("\n  pipelined %d, %d finished at SIGTERM, %d logged in all, %d received, exit "
              "after %.2f s" % (sent, done, logged, received, took), file=sys.stderr)
        self.assertIsNone(reset, "connection reset after %d of %d logged responses (%d bytes of "
                          "a partial one): responses the server finished were destroyed"
                          % (received, logged, len(tail)))
        self.assertEqual(tail, b"", "a response was cut off at shutdown")
        self.assertGreaterEqual(received, done, "responses finished before SIGTERM were lost")
        self.assertEqual(received, logged, "responses logged by the server vs received")
        self.assertLess(took, 7.0)
        self.assertEqual(truncated, [], "pages cut short (index, body bytes; whole is ~42 KB) "
                         "though their chunked framing ended normally")


if __name__ == "__main__":
    mh.main()
