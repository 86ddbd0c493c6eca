#!/usr/bin/env python3
"""mote-sample behind a real HAProxy (Debian's haproxy 2.6), as README's "Deploying" section
sets it up: three instances on loopback ports, each requiring the PROXY protocol
(`--proxy-protocol`, HAProxy's `send-proxy-v2`), health-checked on /healthz (`check-send-proxy`),
and bound with SO_REUSEPORT (`--reuse-port`) so that a new instance starts on an old one's port
before the old one drains.

  - The access logs name the client's address (a client bound to 127.0.0.2), never HAProxy's.
  - Under steady load (wrk, every connection paced to a fixed rate, 20 s), each instance in
    turn is replaced: a new process on the same port, then SIGTERM to the old one, which drains
    and exits 0. wrk must see zero failed requests and zero non-2xx responses.
  - One instance is killed with SIGKILL under load: HAProxy marks it down, the errors wrk sees
    are bounded (and printed), and the other instances go on serving.

Only loopback addresses; every wait has a deadline. Skipped (77) where haproxy or wrk is
missing. Runs once, on the epoll build, with the hostile tests (it measures a real deployment,
not a sanitizer build)."""

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402
from hostile import mh  # noqa: E402

HAPROXY = shutil.which("haproxy")
WRK = shutil.which("wrk")
INSTANCES = 3
LOAD_SECONDS = 20
KILL_SECONDS = 8
CONNECTIONS = 8
PACE_MS = 10                  # each wrk connection: one request, then this pause (~800 req/s)
SERVED_BETWEEN = 1500         # requests served between two restarts (about 2 s at that pace)
UP_TIMEOUT = 15.0             # HAProxy seeing a server up (or down) through its health checks

# The HAProxy configuration README.md shows, with the ports filled in.
CONFIG = """\
global
    maxconn 4000
    stats socket {sock} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # a request that met a closing or restarting instance is sent again (to another)
    retries 3
    option redispatch 1
    retry-on all-retryable-errors

frontend web
    bind 127.0.0.1:{front}
    default_backend motes

backend motes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server send-proxy-v2 check check-send-proxy inter 250 fall 2 rise 2
{servers}
"""

# MOTE_HAPROXY_NO_RETRIES=1: HAProxy resends nothing, so every request a restart cut off
# would reach wrk (README quotes this run too)
if os.environ.get("MOTE_HAPROXY_NO_RETRIES"):
    CONFIG = CONFIG.replace("    retries 3\n", "    retries 0\n").replace(
        "    retry-on all-retryable-errors\n", "")

PACE = "function delay()\n  return %d\nend\n" % PACE_MS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_wrk(text):
    """wrk's summary: requests, non-2xx/3xx responses, socket errors (sum of its kinds)."""
    requests = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "errors_text": errors.group(0) if errors else "Socket errors: none",
    }


@unittest.skipUnless(HAPROXY and WRK, "haproxy or wrk not installed")
class BehindHAProxy(unittest.TestCase):

    def setUp(self):
        if mh.BACKEND != "epoll":
            raise unittest.SkipTest("runs once, on the epoll build")
        hostile.raise_fd_limit(4096)
        self.dir = tempfile.mkdtemp(prefix="mote-haproxy-")
        self.ports = [free_port() for _ in range(INSTANCES)]
        self.front = free_port()
        self.sock = os.path.join(self.dir, "haproxy.sock")
        self.instances = [self.start_instance(p) for p in self.ports]
        self.retired = []
        self.haproxy = self.start_haproxy()
        self.wait_status(["UP"] * INSTANCES)

    def tearDown(self):
        if self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait(5)
        for s in self.instances + self.retired:
            s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the deployment --

    def start_instance(self, port):
        return mh.Sample("--port", str(port), "--bind", "127.0.0.1", "--reuse-port",
                         "--proxy-protocol", "--drain-timeout", "5000", "--max-conns", "1000",
                         tls=False).start()

    def start_haproxy(self):
        servers = "\n".join("    server m%d 127.0.0.1:%d" % (i + 1, p)
                            for i, p in enumerate(self.ports))
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(sock=self.sock, front=self.front, servers=servers))
        check = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True,
                               timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        log = open(os.path.join(self.dir, "haproxy.log"), "w")
        proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return proc

    def stats(self):
        """HAProxy's view of the backend's servers: {name: row} from `show stat`."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(mh.IO_TIMEOUT)
                s.connect(self.sock)
                s.sendall(b"show stat\n")
                data = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == "motes" and r["svname"].startswith("m")}

    def wait_status(self, want, timeout=UP_TIMEOUT):
        """Waits until HAProxy's health checks give the servers the statuses `want` (HAProxy
        raises no event: its stats are asked again, with a deadline)."""
        names = ["m%d" % (i + 1) for i in range(INSTANCES)]
        got = hostile.wait_until(
            lambda: [self.stats().get(n, {}).get("status", "?").split(" ")[0] for n in names] == want,
            timeout, step=0.1)
        if not got:
            self.fail("HAProxy's servers did not become %s: %s" % (
                want, {n: r.get("status") for n, r in self.stats().items()}))

    def served(self):
        """Requests the instances have logged so far (access lines), retired ones included."""
        return sum(len(re.findall(r'"GET /index\.html HTTP/1\.1" 200', s.out.text()))
                   for s in self.instances + self.retired)

    def wait_served(self, more, timeout=30.0):
        target = self.served() + more
        if not hostile.wait_until(lambda: self.served() >= target, timeout, step=0.05):
            self.fail("the instances served %d requests, not %d" % (self.served(), target))

    def run_wrk(self, seconds):
        script = os.path.join(self.dir, "pace.lua")
        with open(script, "w") as f:
            f.write(PACE)
        return subprocess.Popen([WRK, "-t", "2", "-c", str(CONNECTIONS), "-d", "%ds" % seconds,
                                 "-s", script, "http://127.0.0.1:%d/index.html" % self.front],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish_wrk(self, proc, seconds):
        out, _ = proc.communicate(timeout=seconds + 30)
        self.assertEqual(proc.returncode, 0, out)
        return parse_wrk(out), out

    # -- the tests --

    def test_access_logs_name_the_client(self):
        for _ in range(2 * INSTANCES):
            with socket.create_connection(("127.0.0.1", self.front), timeout=mh.IO_TIMEOUT,
                                          source_address=("127.0.0.2", 0)) as c:
                client = mh.Client("127.0.0.1", self.front, sock=c)
                r = client.request("GET", "/index.html", headers=[("Connection", "close")])
                self.assertEqual(r.status, 200)
        for s in self.instances:
            # each instance got its share (round robin); its lines name 127.0.0.2, the
            # client, and never 127.0.0.1, HAProxy's side of the connection
            s.wait_stdout(r'127\.0\.0\.2:\d+ "GET /index\.html HTTP/1\.1" 200')
            self.assertNotRegex(s.out.text(), r'127\.0\.0\.1:\d+ "GET /index\.html')

    def test_graceful_restarts_under_load_lose_nothing(self):
        wrk = self.run_wrk(LOAD_SECONDS)
        for i in range(INSTANCES):
            self.wait_served(SERVED_BETWEEN)
            old = self.instances[i]
            # the new one binds the same port beside the old one (SO_REUSEPORT), then the old
            # one is told to stop: it closes its listener, serves what it holds, and exits
            self.instances[i] = self.start_instance(self.ports[i])
            old.stop_and_check(signal.SIGTERM, timeout=10)
            self.retired.append(old)
        result, out = self.finish_wrk(wrk, LOAD_SECONDS)
        stats = self.stats()
        retries = sum(int(r.get("wretr") or 0) for r in stats.values())
        redispatched = sum(int(r.get("wredis") or 0) for r in stats.values())
        print("\n  wrk through HAProxy%s, %d s, %d instances each restarted once: %d requests, "
              "%d non-2xx, %s; HAProxy retried %d, redispatched %d" % (
                  " (no retries)" if "retries 0" in CONFIG else "",
                  LOAD_SECONDS, INSTANCES, result["requests"], result["non2xx"],
                  result["errors_text"], retries, redispatched))
        self.assertGreater(result["requests"], 4 * SERVED_BETWEEN, out)
        self.assertEqual(result["non2xx"], 0, out)
        self.assertEqual(result["socket_errors"], 0, out)
        for old in self.retired:
            self.assertIn("draining: listeners closed", old.out.text())

    def test_sigkill_is_bounded_and_service_goes_on(self):
        wrk = self.run_wrk(KILL_SECONDS)
        self.wait_served(SERVED_BETWEEN // 2)
        victim = self.instances[0]
        victim.proc.kill()
        victim.proc.wait(5)
        self.retired.append(victim)
        self.instances = self.instances[1:]
        down = ["DOWN"] + ["UP"] * (INSTANCES - 1)
        self.wait_status(down)
        self.wait_served(SERVED_BETWEEN // 2)   # the others serve on, after it is marked down
        result, out = self.finish_wrk(wrk, KILL_SECONDS)
        failed = result["non2xx"] + result["socket_errors"]
        print("\n  wrk through HAProxy, %d s, one of %d instances SIGKILLed: %d requests, "
              "%d non-2xx, %s" % (KILL_SECONDS, INSTANCES, result["requests"], result["non2xx"],
                                  result["errors_text"]))
        # at most the requests in flight on the killed instance's connections when it died
        # (HAProxy retries what it can: a GET on a connection that never answered)
        self.assertLessEqual(failed, CONNECTIONS, out)
        self.assertGreater(result["requests"], SERVED_BETWEEN, out)


if __name__ == "__main__":
    unittest.main()
