"""How a connection begins and ends: deferred accepts, and the close a client asks for
(RFC 9112, 9.6).

A client whose request says it is the last (Connection: close, or HTTP/1.0 without
keep-alive) and that sends nothing after it is closed at once: its slot is free again before
the client has even seen the end, so with a limit of one connection the next client is always
served, even while the earlier clients keep their sides open. A client that sends more after such a request (which it must not) still gets its
response whole: then the server closes in stages, so that the unread bytes do not turn the
close into a reset that destroys the response."""
from moteharness import SampleTestCase, build_request, get, main

ROUNDS = 20


class ClosingTest(SampleTestCase):
    sample_args = ("--tls-port", "off", "--max-conns", "1")

    def ask_last(self, request):
        """Sends the client's last request; returns the response and the client, which has seen
        the server close but keeps its own side open."""
        c = self.connect()
        self.addCleanup(c.close)
        c.send(request)
        r = c.read_response()
        self.assertClosed(c)
        return r

    def test_slot_free_by_the_time_the_client_sees_the_end(self):
        # every client keeps its side open: a server still waiting for their FINs (a lingering
        # close) would refuse the next one with 503, the limit being one connection
        cases = (("HTTP/1.1", [("Connection", "close")]), ("HTTP/1.0", []))
        for version, headers in cases:
            for i in range(ROUNDS):
                r = self.ask_last(build_request("GET", "/index.html", headers, version=version))
                self.assertEqual(r.status, 200, "%s, round %d: %r" % (version, i, r))
                self.assertEqual(r.header("Connection"), "close")

    def test_body_read_to_its_end_then_closed_at_once(self):
        for i in range(ROUNDS):
            r = self.ask_last(build_request("POST", "/index.html", [("Connection", "close")],
                                            body=b"x" * 100))
            self.assertNotEqual(r.status, 503, "round %d" % i)

    def test_bytes_after_the_last_request_do_not_reset_the_response(self):
        # a server of its own: these connections linger, holding their slots for a while
        sample = self.start_sample("--tls-port", "off")
        last = build_request("GET", "/index.html", [("Connection", "close")])
        for extra in (build_request("GET", "/index.html"), b"GET /index.html HTTP/1.1\r\nHo",
                      b"x" * 20000):
            c = sample.connect()
            c.send_tolerant(last + extra)
            responses, closed, error = c.read_responses(limit=3)
            self.assertIsNone(error, repr(extra[:30]))
            self.assertTrue(closed)
            self.assertEqual([r.status for r in responses], [200], repr(extra[:30]))
            c.close()


class DeferAcceptTest(SampleTestCase):
    """A connection that has sent nothing yet is not handed to the server while accepts are
    deferred (the default), so it holds no slot; without deferral it does."""
    shared_sample = False

    def status_beside_a_silent_connection(self, defer):
        s = self.start_sample("--tls-port", "off", "--max-conns", "1", "--defer-accept", defer)
        silent = s.connect()
        self.addCleanup(silent.close)
        c = s.connect()
        self.addCleanup(c.close)
        c.send(get())
        return c.read_response().status

    def test_deferred_silent_connection_holds_no_slot(self):
        self.assertEqual(self.status_beside_a_silent_connection("on"), 200)

    def test_undeferred_silent_connection_holds_the_slot(self):
        self.assertEqual(self.status_beside_a_silent_connection("off"), 503)


if __name__ == "__main__":
    main()
