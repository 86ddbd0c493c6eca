#!/usr/bin/env python3
"""Server-Sent Events from /events with `curl -N` (three ticks, about a second apart, the
stream's end logged, nothing left open after clients go), and HTTP Basic authentication on
/auth with curl and wget: without, with wrong and with right credentials, with the realm, user
and password set by options, and the password never printed by the server."""

import base64
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

CURL = shutil.which("curl")
WGET = shutil.which("wget")

AUTH_PAGE = (b"<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
             b"<body><h1><center>Authenticated</center></h1></body>\n</html>\n")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def challenge_params(value):
    """'Basic realm="x", charset="UTF-8"' -> ('basic', {'realm': 'x', 'charset': 'UTF-8'})."""
    m = re.fullmatch(r"(\S+)\s+(.*)", value or "")
    if not m:
        return None, {}
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z0-9_-]+)="([^"]*)"', m.group(2))}
    return m.group(1).lower(), params


class CurlStream:
    """`curl -N -i` on a URL, its output lines (with arrival times) read in the background."""

    def __init__(self, url):
        self.proc = subprocess.Popen([CURL, "-q", "-sS", "-N", "-i", "--max-time", "60", url],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=mh.clean_env())
        self.out = mh._Lines(self.proc.stdout)
        self.err = mh._Lines(self.proc.stderr)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.out.join(5)
        self.err.join(5)


def read_ticks(c, n, deadline):
    """Reads from a raw /events stream until `n` more events ("data:" lines) have come."""
    seen = 0
    while seen < n:
        c.read_until(b"\ndata: ", deadline)
        seen += 1
    return seen


@unittest.skipUnless(CURL, "curl not installed")
class Events(mh.SampleTestCase):
    sample_args = ("--tls-port", "off")

    def curl_events(self, count):
        """Runs curl -N until `count` events have arrived; returns (curl, lines, events)
        where events are [(id, data, monotonic arrival, wall arrival)]."""
        t_wall, t_mono = time.time(), time.monotonic()
        s = CurlStream(self.sample.url("/events"))
        self.addCleanup(s.close)
        s.out.wait_for(r"^data: ", timeout=count + 10.0, count=count)
        with s.out.cond:
            lines, times = list(s.out.lines), list(s.out.times)
        events = []
        cur = {}
        body = lines[lines.index("") + 1:] if "" in lines else []
        offset = len(lines) - len(body)
        for i, l in enumerate(body):
            if l.startswith("id: "):
                cur["id"] = l[4:]
            elif l.startswith("data: "):
                t = times[offset + i]
                events.append((cur.pop("id", None), l[6:], t, t_wall + (t - t_mono)))
        return s, lines, events[:count]

    def test_curl_reads_three_events(self):
        s, lines, events = self.curl_events(3)
        head = lines[:lines.index("")]
        self.assertEqual(head[0], "HTTP/1.1 200 OK", lines)
        fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in head[1:]}
        self.assertEqual(fields.get("content-type"), "text/event-stream", head)
        self.assertEqual(fields.get("cache-control"), "no-cache", head)
        self.assertEqual(lines[lines.index("") + 1], ": mote clock", lines)
        ids = [int(e[0]) for e in events]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 3)), "ids not consecutive: %r" % ids)
        for eid, data, _, wall in events:
            self.assertRegex(data, ISO_UTC)
            when = datetime.datetime.strptime(data, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            self.assertLess(abs(when - wall), 3.0, "event %s says %s, received at %s" % (
                eid, data, datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)))
        gaps = [b[2] - a[2] for a, b in zip(events, events[1:])]
        print("\n  /events ids %r, gaps %s" % (ids, ", ".join("%.3f s" % g for g in gaps)),
              file=sys.stderr)
        for g in gaps:
            self.assertTrue(0.5 <= g <= 2.5, "events %.3f s apart (gaps %r)" % (g, gaps))
        # between events, a blank line ends each one
        body = lines[lines.index("") + 1:]
        first = body.index("id: %d" % ids[0])
        self.assertEqual(body[first:first + 6], ["id: %d" % ids[0], "data: " + events[0][1], "",
                                                 "id: %d" % ids[1], "data: " + events[1][1], ""])

    def test_stream_end_logged_and_server_goes_on(self):
        mark = self.sample.stdout_mark()
        s, _, events = self.curl_events(1)
        self.assertEqual(len(events), 1)
        accepted = self.sample.wait_stdout(r"connection accepted: address 127\.0\.0\.1, port (\d+)",
                                           start=mark)
        port = accepted[0].group(1)
        s.close()                                       # curl goes away mid-stream
        # requests go on being served at once
        c = self.connect()
        self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
        # the stream's end gets its access-log line (at the latest when the next tick finds
        # the client gone)
        self.sample.wait_stdout(r'^\[info\] 127\.0\.0\.1:%s "GET /events HTTP/1\.1" 200 '
                                % port, start=mark, timeout=mh.IO_TIMEOUT)


@unittest.skipUnless(CURL, "curl not installed")
class EventStreamsClosed(mh.SampleTestCase):
    shared_sample = False

    def test_ten_streams_leave_nothing_open(self):
        s = self.start_sample("--tls-port", "off", "--max-conns", "12")
        pid = s.proc.pid
        baseline = mh.socket_fd_count(pid)                  # the listener(s)
        mark = s.stdout_mark()
        # ten streams, all open at once: five curl -N, five raw sockets (two reset)
        curls = [CurlStream(s.url("/events")) for _ in range(5)]
        for cs in curls:
            self.addCleanup(cs.close)
        raws = [mh.events_stream(s) for _ in range(5)]
        for cs in curls:
            cs.out.wait_for(r"^: mote clock$", timeout=mh.IO_TIMEOUT)
        self.assertEqual(mh.socket_fd_count(pid), baseline + 10)
        for cs in curls:
            cs.close()
        for i, c in enumerate(raws):
            if i < 2:
                c.reset()
            else:
                c.close()
        # The server learns of each departure when it next writes a tick. A sentinel stream
        # opened now sees only ticks written after the ten closed: three of them later,
        # every one of the ten must be gone.
        sentinel = mh.events_stream(s)
        self.addCleanup(sentinel.close)
        read_ticks(sentinel, 3, time.monotonic() + 15)
        left = mh.socket_fd_count(pid)
        print("\n  server sockets: %d listening, %d with ten streams, %d after they closed "
              "(one sentinel stream open)" % (baseline, baseline + 10, left), file=sys.stderr)
        self.assertEqual(left, baseline + 1, "sockets left open after ten streams closed")
        # later requests: ten at once and a new stream, beside the sentinel, fill
        # --max-conns 12 exactly, which only works if the ten slots were given back
        later = [s.connect() for _ in range(10)]
        for c in later:
            self.addCleanup(c.close)
            c.send(mh.get("/index.html"))
        fresh = mh.events_stream(s)
        self.addCleanup(fresh.close)
        for i, c in enumerate(later):
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, mh.IT_WORKS), "later request %d: %r" % (i, r))
        read_ticks(fresh, 1, time.monotonic() + 10)
        for c in later + [fresh]:
            c.close()
        sentinel.close()
        t0 = time.monotonic()
        out, err, _ = s.stop_and_check()
        took = time.monotonic() - t0
        print("  SIGTERM -> exit %.2f s" % took, file=sys.stderr)
        # a stream still held open would keep the shutdown waiting its full 5 s
        self.assertLess(took, 4.5, "shutdown took %.2f s" % took)
        # each of the ten streams' end was logged
        ended = [l for l in out.splitlines()[mark:] if '"GET /events HTTP/1.1" 200 ' in l]
        self.assertGreaterEqual(len(ended), 10, "access-log lines for ended streams: %r" % ended)


class AuthBase(mh.SampleTestCase):

    def curl(self, *args):
        p = mh.run([CURL, "-q", "-sS", "-i", "--max-time", "20"] + list(args),
                   env=mh.clean_env(), timeout=30)
        self.assertEqual(p.returncode, 0, "curl %s: %d %r" % (args, p.returncode, p.stderr))
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
        return lines[0], fields, body

    def wget(self, url, *args):
        """wget -S -O file; returns (exit status, stderr text, body or None)."""
        d = tempfile.mkdtemp(prefix="mote-wget-")
        self.addCleanup(shutil.rmtree, d, True)
        out = os.path.join(d, "page")
        p = mh.run([WGET, "--no-config", "-S", "--tries=1", "--timeout=20", "-O", out]
                   + list(args) + [url], env=mh.clean_env(home=d), timeout=30)
        body = None
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        return p.returncode, p.stderr.decode("latin-1"), body

    def assert_challenge(self, fields, realm):
        vals = [v for n, v in fields if n.lower() == "www-authenticate"]
        self.assertEqual(len(vals), 1, fields)
        scheme, params = challenge_params(vals[0])
        self.assertEqual((scheme, params.get("realm")), ("basic", realm), vals[0])
        self.assertTrue(vals[0].startswith('Basic realm="%s"' % realm), vals[0])

    def check_auth(self, realm, user, password, wrong=(("admin", "wrong"),)):
        url = self.sample.url("/auth")
        # curl without credentials
        status, fields, body = self.curl(url)
        self.assertEqual(status, "HTTP/1.1 401 Unauthorized", fields)
        self.assert_challenge(fields, realm)
        self.assertNotIn(b"Authenticated", body)
        # wrong ones
        for u, p in wrong + ((user, password + "x"), (user + "x", password), (user, "")):
            status, fields, body = self.curl("-u", "%s:%s" % (u, p), url)
            self.assertEqual(status, "HTTP/1.1 401 Unauthorized", (u, p))
            self.assert_challenge(fields, realm)
            self.assertNotIn(b"Authenticated", body)
        # right ones, on the route and below it
        for path in ("/auth", "/auth/deeper/page"):
            status, fields, body = self.curl("-u", "%s:%s" % (user, password),
                                             self.sample.url(path))
            self.assertEqual((status, body), ("HTTP/1.1 200 OK", AUTH_PAGE), path)
        if WGET:
            rc, err, body = self.wget(url)
            self.assertEqual(rc, 6, "wget without credentials: want exit 6 (auth failure)\n" + err)
            self.assertIn("HTTP/1.1 401 Unauthorized", err)
            self.assertIn('WWW-Authenticate: Basic realm="%s"' % realm, err)
            for u, p in wrong:
                rc, err, body = self.wget(url, "--user=" + u, "--password=" + p)
                self.assertEqual(rc, 6, "wget with %s:%s\n%s" % (u, p, err))
                self.assertIn("HTTP/1.1 401 Unauthorized", err)
                self.assertNotIn("HTTP/1.1 200", err)
            rc, err, body = self.wget(url, "--user=" + user, "--password=" + password)
            self.assertEqual(rc, 0, err)
            self.assertIn("HTTP/1.1 200 OK", err)
            self.assertEqual(body, AUTH_PAGE)
        else:
            print("\nNOTE: wget not installed: /auth checked with curl only", file=sys.stderr)


@unittest.skipUnless(CURL, "curl not installed")
class Auth(AuthBase):
    sample_args = ("--tls-port", "off")

    def test_default_credentials(self):
        self.check_auth("mote", "admin", "mote", wrong=(("admin", "wrong"), ("root", "mote")))

    def test_raw_authorization_fields(self):
        good = base64.b64encode(b"admin:mote")
        c = self.connect()
        for value, status in ((b"Basic " + good, 200),
                              (b"basic " + good, 200),          # the scheme is case-insensitive
                              (b"BASIC " + good, 200),
                              (b"Basic " + base64.b64encode(b"admin:mote2"), 401),
                              (b"Basic " + base64.b64encode(b"admin"), 401),   # no colon
                              (b"Basic " + good[:-2], 401),     # bad padding
                              (b"Basic !!!!", 401),
                              (b"Basic", 401),
                              (b"Bearer " + good, 401),
                              (b"Basic " + good + b" junk", 401)):
            c.send(b"GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, status, "Authorization: %r -> %r" % (value, r))
            if status == 200:
                self.assertEqual(r.body, AUTH_PAGE)
            else:
                self.assertEqual(challenge_params(r.header("WWW-Authenticate"))[1].get("realm"),
                                 "mote")
        # HEAD with credentials: the same head, no body (the next response follows at once)
        c.send(b"HEAD /auth HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + good + b"\r\n\r\n"
               + mh.get("/index.html"))
        self.assertEqual(c.read_response("HEAD").status, 200)
        self.assertEqual(c.read_response().body, mh.IT_WORKS)


@unittest.skipUnless(CURL, "curl not installed")
class CustomAuth(AuthBase):
    REALM, USER, PASSWORD = "Device Area", "alice", "s3cr3t-Pa55!word"
    WRONG = "Wr0ng-guess-77"
    sample_args = ("--tls-port", "off", "--log-level", "debug", "--auth-realm", REALM,
                   "--auth-user", USER, "--auth-password", PASSWORD)

    @classmethod
    def tearDownClass(cls):
        s = cls.sample
        super().tearDownClass()              # stops the sample and checks its exit
        if s is not None and s.result is not None:
            _, out, err, _ = s.result
            secrets = [cls.PASSWORD, cls.WRONG,
                       base64.b64encode(("%s:%s" % (cls.USER, cls.PASSWORD)).encode()).decode(),
                       base64.b64encode(("%s:%s" % (cls.USER, cls.WRONG)).encode()).decode()]
            leaked = [x for x in secrets if x in out or x in err]
            if leaked:
                raise AssertionError("the sample printed credentials %r:\nstdout:\n%s\nstderr:\n%s"
                                     % (leaked, out[-3000:], err[-3000:]))

    def test_custom_options(self):
        self.check_auth(self.REALM, self.USER, self.PASSWORD,
                        wrong=(("admin", "mote"), (self.USER, self.WRONG)))
        # the requests were logged (the log is where a password could leak)
        self.sample.wait_stdout(r'"GET /auth HTTP/1\.1" 401 ')
        self.sample.wait_stdout(r'"GET /auth HTTP/1\.1" 200 ')

    def test_password_not_printed_so_far(self):
        out, err = self.sample.out.text(), self.sample.err.text()
        for secret in (self.PASSWORD, self.WRONG):
            self.assertNotIn(secret, out)
            self.assertNotIn(secret, err)


if __name__ == "__main__":
    mh.main()
