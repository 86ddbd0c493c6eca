"""examples/rest.c: GET and PUT of a JSON state at /api/state, with http.client and curl.
Checks the answers, that bad bodies (not JSON, wrong types, out of range) get 400 with a JSON
error and leave the state alone, 405 with Allow, 413 past the route's 1 KiB limit, and that
the state persists between requests and connections."""
import http.client
import json
import tempfile
import unittest

from exampleharness import IO_TIMEOUT, Example, clean_env, free_port, main, run

INITIAL = {"name": "mote", "led": False, "brightness": 50}


class RestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # an explicit port, as a user would give it (the other examples' tests use 0)
        cls.wanted_port = free_port()
        cls.ex = Example("MOTE_EXAMPLE", port=cls.wanted_port).start()

    @classmethod
    def tearDownClass(cls):
        cls.ex.stop_and_check()

    def request(self, method, body=None, path="/api/state", headers=None):
        """One request on a new connection: (status, headers dict, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.ex.port, timeout=IO_TIMEOUT)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get_state(self):
        status, headers, body = self.request("GET")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        return json.loads(body)

    def put(self, state):
        body = state if isinstance(state, bytes) else json.dumps(state).encode()
        return self.request("PUT", body, headers={"Content-Type": "application/json"})

    def assert_bad(self, body, mentions):
        before = self.get_state()
        status, headers, reply = self.put(body)
        self.assertEqual(status, 400, (body, reply))
        self.assertEqual(headers["content-type"], "application/json")
        error = json.loads(reply)["error"]
        self.assertIn(mentions, error, body)
        self.assertEqual(self.get_state(), before, "a refused PUT changed the state")

    def test_0_port_argument_and_initial_state(self):
        self.assertEqual(self.ex.port, self.wanted_port)
        self.assertEqual(self.get_state(), INITIAL)

    def test_put_then_get_persists(self):
        new = {"name": "desk lamp", "led": True, "brightness": 80}
        status, headers, body = self.put(new)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body), new)
        self.assertEqual(self.get_state(), new)          # another connection, same state
        # and with curl, a real client as users would type it
        r = run(["curl", "-sS", "--max-time", "10", "-X", "PUT", "-d",
                 '{"name": "porch", "led": false, "brightness": 0}', self.ex.url("/api/state")],
                env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"name": "porch", "led": False, "brightness": 0})
        r = run(["curl", "-sS", "--max-time", "10", self.ex.url("/api/state")], env=clean_env())
        self.assertEqual(json.loads(r.stdout), {"name": "porch", "led": False, "brightness": 0})

    def test_keep_alive_put_get(self):
        c = http.client.HTTPConnection("127.0.0.1", self.ex.port, timeout=IO_TIMEOUT)
        try:
            new = {"name": "k", "led": True, "brightness": 100}
            c.request("PUT", "/api/state", body=json.dumps(new))
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, new))
            c.request("GET", "/api/state")
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, new))
        finally:
            c.close()

    def test_head(self):
        _, _, body = self.request("GET")
        status, headers, head_body = self.request("HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len(body))
        self.assertEqual(head_body, b"")

    def test_bad_json(self):
        for body in (b"", b"{", b'{"name": "x", "led": true,', b"not json", b"{'name': 'x'}",
                     b'{"name": "x", "led": true, "brightness": 5} trailing',
                     b'{"name": "x", "led": true, "brightness": 5}\x00'):
            with self.subTest(body=body):
                self.assert_bad(body, "not valid JSON")

    def test_wrong_types_and_ranges(self):
        good = {"name": "x", "led": True, "brightness": 5}
        cases = [
            (b"[1, 2]", "object"), (b'"text"', "object"), (b"42", "object"),
            (dict(good, name=5), "name"), (dict(good, name=""), "name"),
            (dict(good, name="n" * 33), "name"), ({"led": True, "brightness": 5}, "name"),
            (dict(good, led="yes"), "led"), (dict(good, led=1), "led"),
            (dict(good, led=None), "led"),
            (dict(good, brightness="5"), "brightness"), (dict(good, brightness=50.5), "brightness"),
            (dict(good, brightness=101), "brightness"), (dict(good, brightness=-1), "brightness"),
            (dict(good, brightness=1e300), "brightness"),
            ({"name": "x", "led": True}, "brightness"),
        ]
        for body, mentions in cases:
            with self.subTest(body=body):
                self.assert_bad(body, mentions)
        # the bounds themselves are accepted
        for state in (dict(good, name="n" * 32, brightness=100), dict(good, brightness=0)):
            self.assertEqual(self.put(state)[0], 200, state)

    def test_wrong_methods_405_with_allow(self):
        for method in ("DELETE", "POST", "PATCH"):
            with self.subTest(method=method):
                status, headers, _ = self.request(method, body=b"{}")
                self.assertEqual(status, 405)
                self.assertEqual(headers["allow"], "GET, HEAD, PUT, OPTIONS")
        r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                 "-X", "DELETE", self.ex.url("/api/state")], env=clean_env())
        self.assertEqual(r.stdout, b"405")

    def test_oversized_413(self):
        # the limit is 1024 bytes: a state padded to exactly that passes, one byte more does not
        state = {"name": "big", "led": True, "brightness": 1}
        text = json.dumps(state).encode()
        status, _, _ = self.put(text + b" " * (1024 - len(text)))
        self.assertEqual(status, 200)
        status, headers, _ = self.put(text + b" " * (1025 - len(text)))
        self.assertEqual(status, 413)
        self.assertEqual(headers.get("connection"), "close")
        # chunked (http.client frames an iterable so): no length up front, refused as it passes
        status, _, _ = self.request("PUT", body=iter([b"{" + b" " * 600, b" " * 600 + b"}"]))
        self.assertEqual(status, 413)
        # curl, 64 KiB
        with tempfile.NamedTemporaryFile() as f:
            f.write(b" " * 65536)
            f.flush()
            r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                     "-X", "PUT", "--data-binary", "@" + f.name, self.ex.url("/api/state")],
                    env=clean_env())
        self.assertEqual(r.stdout, b"413", r.stderr)
        self.assertEqual(self.get_state(), state)

    def test_other_paths_404(self):
        for path in ("/", "/api", "/api/state/x", "/api/states"):
            with self.subTest(path=path):
                self.assertEqual(self.request("GET", path=path)[0], 404)


if __name__ == "__main__":
    main()
