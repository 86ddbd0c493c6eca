"""examples/events.c: the page, and the Server-Sent Events stream read with http.client and
curl: increasing numbers, clients that leave forgotten (the example prints how many watch),
HEAD and wrong methods, and a stop that ends open streams properly instead of cutting them."""
import http.client
import re
import subprocess
import unittest

from exampleharness import IO_TIMEOUT, Example, clean_env, main


def open_stream(ex):
    c = http.client.HTTPConnection("127.0.0.1", ex.port, timeout=IO_TIMEOUT)
    c.request("GET", "/events", headers={"Accept": "text/event-stream"})
    return c, c.getresponse()


def read_numbers(r, count):
    """The data of the next `count` events on stream `r` (each read waits IO_TIMEOUT at most)."""
    numbers = []
    while len(numbers) < count:
        line = r.readline()
        if not line:
            raise AssertionError("the stream ended after %r" % numbers)
        m = re.fullmatch(rb"data: (\d+)\n", line)
        if m:
            numbers.append(int(m.group(1)))
        else:
            # comments (": ...") and the blank line ending each event are all there is besides
            assert line == b"\n" or line.startswith(b":"), line
    return numbers


class EventsTest(unittest.TestCase):
    def setUp(self):
        self.ex = Example("MOTE_EXAMPLE").start()

    def tearDown(self):
        self.ex.stop_and_check()

    def test_page(self):
        c = http.client.HTTPConnection("127.0.0.1", self.ex.port, timeout=IO_TIMEOUT)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b"new EventSource('/events')", body)
        self.assertIn(b'<span id="n">-</span>', body)

    def test_stream_counts_up(self):
        c, r = open_stream(self.ex)
        try:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
            self.assertEqual(r.getheader("Cache-Control"), "no-cache")
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            numbers = read_numbers(r, 4)
            self.assertEqual(numbers, sorted(set(numbers)), "not increasing: %r" % numbers)
            self.assertGreater(numbers[0], 0)
        finally:
            c.close()

    def test_clients_leave(self):
        mark = self.ex.mark()
        streams = [open_stream(self.ex) for _ in range(5)]
        self.ex.wait_line(r"^client joined, 5 watching$", start=mark)
        # curl as well: its own client, gone when it is killed
        curl = subprocess.Popen(["curl", "-sN", "--max-time", "30", self.ex.url("/events")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=clean_env())
        try:
            line = b""
            while not line.startswith(b"data: "):     # bounded by curl's --max-time
                line = curl.stdout.readline()
                self.assertTrue(line, "curl's stream ended")
            self.ex.wait_line(r"^client joined, 6 watching$", start=mark)
        finally:
            curl.kill()
            curl.wait(10)
            curl.stdout.close()
        self.ex.wait_line(r"^client left, 5 watching$", start=mark)
        # each still gets every event in order, the same numbers at the same time
        got = [read_numbers(r, 3) for _, r in streams]
        for numbers in got:
            self.assertEqual(numbers, sorted(set(numbers)))
        for c, _ in streams:
            c.close()
        self.ex.wait_line(r"^client left, 0 watching$", start=mark)
        # the server is fine afterwards: a new client gets events
        c, r = open_stream(self.ex)
        try:
            self.assertGreater(read_numbers(r, 1)[0], max(max(n) for n in got))
        finally:
            c.close()

    def test_head_and_methods(self):
        for method, status in (("HEAD", 200), ("POST", 405), ("PUT", 405)):
            with self.subTest(method=method):
                c = http.client.HTTPConnection("127.0.0.1", self.ex.port, timeout=IO_TIMEOUT)
                c.request(method, "/events")
                r = c.getresponse()
                self.assertEqual(r.status, status)
                if method == "HEAD":
                    self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
                else:
                    self.assertEqual(r.getheader("Allow"), "GET, HEAD, OPTIONS")
                r.read()
                c.close()

    def test_stop_ends_open_streams(self):
        c, r = open_stream(self.ex)
        try:
            read_numbers(r, 1)
            # SIGTERM: the next tick ends every stream with its last chunk, so the client
            # sees a complete body (a stream cut off would raise IncompleteRead here)
            self.ex.terminate()
            rest = r.read()
            self.assertTrue(r.isclosed())
            self.assertRegex(rest, rb"^\n(data: \d+\n\n)*$")
        finally:
            c.close()
        self.ex.stop_and_check()
        self.ex = Example("MOTE_EXAMPLE").start()   # for tearDown


if __name__ == "__main__":
    main()
