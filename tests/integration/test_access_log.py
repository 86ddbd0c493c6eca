#!/usr/bin/env python3
"""The access log in each format of mote-sample --access-log: one line per response, through the
library's log callback, with the client's address and port, the request, status, body bytes,
and (combined, json) Referer and User-Agent, escaped so that a line stays one line."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

HEADERS = (("Referer", "http://example.com/a"), ("User-Agent", 'probe "one" \\ two'))
CLF_DATE = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]"


class AccessLog(mh.SampleTestCase):
    shared_sample = False

    def logged(self, fmt, method="GET", target="/index.html", headers=HEADERS):
        """Starts a sample logging in `fmt`, sends one request, returns (response, its line)."""
        s = self.start_sample("--tls-port", "off", "--access-log", fmt)
        mark = s.stdout_mark()
        c = s.connect()
        self.addCleanup(c.close)
        r = c.request(method, target, headers=headers)
        port = c.local_port()
        if fmt == "off":
            # the next response's connection line comes after any access line of the first
            c2 = s.connect()
            self.addCleanup(c2.close)
            c2.request("GET", "/")
            s.wait_stdout(r"connection accepted: address 127\.0\.0\.1, port %d$" % c2.local_port(),
                          start=mark)
            return r, [l for l in s.out.lines[mark:] if "GET" in l]
        pattern = (r"^\[info\] 127\.0\.0\.1:%d " % port if fmt == "mote" else
                   r'^\[info\] \{.*"port":%d,' % port if fmt == "json" else
                   r"^\[info\] 127\.0\.0\.1 - - ")
        return r, s.wait_stdout(pattern, start=mark)[0].string[len("[info] "):]

    def test_mote(self):
        r, line = self.logged("mote")
        self.assertRegex(line, r'^127\.0\.0\.1:\d+ "GET /index\.html HTTP/1\.1" 200 %d \d+\.\d{3}ms$'
                         % len(r.body))

    def test_common(self):
        r, line = self.logged("common", target="/a%22b?q=\"x\"")
        self.assertRegex(line, r'^127\.0\.0\.1 - - %s "GET /a%%22b\?q=\\x22x\\x22 HTTP/1\.1" 200 %d$'
                         % (CLF_DATE, len(r.body)))

    def test_combined(self):
        r, line = self.logged("combined")
        self.assertRegex(line, r'^127\.0\.0\.1 - - %s "GET /index\.html HTTP/1\.1" 200 %d '
                               r'"http://example\.com/a" "probe \\x22one\\x22 \\x5c two"$'
                         % (CLF_DATE, len(r.body)))

    def test_json(self):
        r, line = self.logged("json")
        entry = json.loads(line)
        self.assertEqual(entry["remote"], "127.0.0.1")
        self.assertEqual((entry["method"], entry["target"], entry["version"], entry["status"]),
                         ("GET", "/index.html", "HTTP/1.1", 200))
        self.assertEqual(entry["bytes"], len(r.body))
        self.assertEqual((entry["referer"], entry["user_agent"]), (HEADERS[0][1], HEADERS[1][1]))
        self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(entry["duration_ms"], float)

    def test_json_without_request(self):
        """A request the parser refuses is logged too, with nulls where there was no request."""
        s = self.start_sample("--tls-port", "off", "--access-log", "json")
        mark = s.stdout_mark()
        c = s.connect()
        self.addCleanup(c.close)
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
        r = c.read_response("GET")
        self.assertEqual(r.status, 400)
        line = s.wait_stdout(r'^\[info\] \{.*"status":400', start=mark)[0].string
        entry = json.loads(line[len("[info] "):])
        self.assertEqual((entry["method"], entry["target"], entry["referer"]), (None, None, None))

    def test_off(self):
        _, lines = self.logged("off")
        self.assertEqual(lines, [])

    def test_bad_format(self):
        p = subprocess.run([mh.sample_path(), "--access-log", "apache"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"bad access-log format 'apache'", p.stderr)


if __name__ == "__main__":
    mh.main()
