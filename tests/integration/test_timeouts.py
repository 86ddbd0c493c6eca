"""Timeouts of the I/O shell, with short values set through the sample's options: a request
head that takes too long gets 408 and a close (however it trickles), a silent new connection
is closed, an idle keep-alive connection is closed, and a busy one is not."""
import time

from moteharness import SampleTestCase, get, main

HEAD_MS = 400
IDLE_MS = 400


class TimeoutTest(SampleTestCase):
    sample_args = ("--tls-port", "off", "--head-timeout", str(HEAD_MS),
                   "--idle-timeout", str(IDLE_MS))

    def test_partial_head_gets_408(self):
        c = self.connect()
        start = time.monotonic()
        c.send(b"GET /index.html HTTP/1.1\r\nHo")
        r = c.read_response()
        self.assertGreaterEqual(time.monotonic() - start, HEAD_MS / 1000 * 0.9)
        self.assertEqual(r.status, 408)
        self.assertEqual(r.header("Connection"), "close")
        self.assertClosed(c)

    def test_trickled_head_gets_408(self):
        # progress does not extend the head's time: a byte every 50 ms never completes it
        c = self.connect()
        start = time.monotonic()
        head = b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        sent = 0
        while time.monotonic() - start < 3 * HEAD_MS / 1000 and sent < len(head):
            try:
                c.send(head[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.05)  # pacing the attacker, not waiting for the server
        r = c.read_response()
        self.assertEqual(r.status, 408)
        self.assertLess(sent, len(head))
        self.assertClosed(c)

    def test_silent_connection_closed(self):
        c = self.connect()
        start = time.monotonic()
        self.assertClosed(c, timeout=5)
        self.assertGreaterEqual(time.monotonic() - start, HEAD_MS / 1000 * 0.9)

    def test_idle_keep_alive_closed(self):
        c = self.connect()
        c.send(get())
        self.assertEqual(c.read_response().status, 200)
        start = time.monotonic()
        self.assertClosed(c, timeout=5)
        self.assertGreaterEqual(time.monotonic() - start, IDLE_MS / 1000 * 0.9)

    def test_busy_keep_alive_stays(self):
        c = self.connect()
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < 3 * IDLE_MS / 1000:
            c.send(get())
            self.assertEqual(c.read_response().status, 200)
            n += 1
            time.sleep(IDLE_MS / 1000 / 4)  # requests well inside the idle time
        self.assertGreater(n, 4)
        c.send(get())
        self.assertEqual(c.read_response().status, 200)


if __name__ == "__main__":
    main()
