#!/usr/bin/env python3
"""Slow clients with slowhttptest: slowloris (request heads trickled in), slow POST (a body
trickled in) and slow read (a tiny receive window on large responses), 500 connections each,
against mote-sample. While each
attack runs, a normal client keeps making requests, and every one must be answered within 1 s.
The slow POST and slow read run once more with a minimum transfer rate (--min-rate): then the
server frees their slots within the rate's window, long before the attack's end.

Each attack is bounded by slowhttptest's own -l and by a subprocess timeout."""

import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402
from hostile import mh  # noqa: E402

SLOWHTTPTEST = shutil.which("slowhttptest")
CONNECTIONS = 500
ATTACK_SECONDS = 15            # slowhttptest -l
HEAD_TIMEOUT_MS = 8000         # the sample's --head-timeout: slowloris heads are cut off here
MAX_LATENCY = 1.0              # seconds, for every request of the normal client
# The slow-read page: /headers echoes the request's header fields, escaping each '"' as
# "&quot;", so an Accept of 6000 quotes makes a ~36 KB page; three are pipelined per connection.
SLOW_READ_ACCEPT = '"' * 6000

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def parse_status(text):
    """slowhttptest's per-second status blocks -> [{'connected': n, 'closed': n, ...,
    'available': bool}], and its exit reason."""
    text = ANSI.sub("", text)
    blocks = []
    for m in re.finditer(r"slow HTTP test status on (\d+)\w* second:(.*?)service available:\s*(\w+)",
                         text, re.S):
        b = {"second": int(m.group(1)), "available": m.group(3) == "YES"}
        for k, v in re.findall(r"(\w+):\s+(\d+)", m.group(2)):
            b[k] = int(v)
        blocks.append(b)
    reason = re.search(r"Exit status:\s*(.*)", text)
    return blocks, reason.group(1).strip() if reason else None


@unittest.skipUnless(SLOWHTTPTEST, "slowhttptest not installed")
class SlowClients(mh.SampleTestCase):

    sample_args = ("--tls-port", "off", "--bind", "127.0.0.1", "--max-conns", "2000",
                   "--head-timeout", str(HEAD_TIMEOUT_MS), "--log-level", "warn")

    @classmethod
    def setUpClass(cls):
        hostile.raise_fd_limit(4 * CONNECTIONS)
        super().setUpClass()

    def sockets(self):
        return mh.socket_fd_count(self.sample.proc.pid)

    def attack(self, name, args, held_check, freed_check=None):
        """Runs slowhttptest with `args` while a Prober measures; returns (status blocks, exit
        reason, prober). `held_check()` is polled during the attack and must become true (the
        attack really holds its connections on the server); then `freed_check()`, if given,
        must become true while the attack still runs (the server let them go)."""
        s = self.sample
        baseline = self.sockets()
        tmp = tempfile.mkdtemp(prefix="mote-slow-")
        self.addCleanup(shutil.rmtree, tmp, True)
        argv = [SLOWHTTPTEST] + args + ["-c", str(CONNECTIONS), "-r", str(CONNECTIONS),
                                        "-l", str(ATTACK_SECONDS), "-p", "2"]
        prober = hostile.Prober(s).start()
        t0 = time.monotonic()
        with open(os.path.join(tmp, "out"), "wb") as out:
            proc = mh.subprocess.Popen(argv, stdin=mh.subprocess.DEVNULL, stdout=out,
                                       stderr=mh.subprocess.STDOUT, env=mh.clean_env())
            try:
                held = hostile.wait_until(held_check, ATTACK_SECONDS)
                rss = mh.vm_rss_kib(s.proc.pid)       # with the attack at full strength
                if freed_check:
                    freed = hostile.wait_until(freed_check, ATTACK_SECONDS)
                    self.freed_after = time.monotonic() - t0
                    self.assertTrue(freed, "%s: the server did not free the slots" % name)
                status = proc.wait(ATTACK_SECONDS + 30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
                prober.stop()
        took = time.monotonic() - t0
        with open(os.path.join(tmp, "out"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        blocks, reason = parse_status(text)
        peak = max((b.get("connected", 0) for b in blocks), default=0)
        print("\n  %s [%s]: %d connections, slowhttptest ran %.1f s (%s), peak connected %d, "
              "last status %s, server RSS under attack %.1f MiB\n  normal client: %s" % (
                  name, mh.BACKEND, CONNECTIONS, took, reason, peak,
                  blocks[-1] if blocks else None, rss / 1024, prober.summary()), file=sys.stderr)
        self.assertEqual(status, 0, "slowhttptest failed:\n%s" % ANSI.sub("", text)[-3000:])
        self.assertTrue(blocks, "no status from slowhttptest:\n%s" % text[-3000:])
        self.assertTrue(held, "%s: the attack's connections never showed up on the server" % name)
        self.assertGreaterEqual(peak, CONNECTIONS * 9 // 10, "%s: only %d connected" % (name, peak))
        self.assertEqual(prober.failures, [], "%s: normal requests failed" % name)
        self.assertGreaterEqual(len(prober.latencies), 20, prober.summary())
        self.assertLess(max(prober.latencies), MAX_LATENCY,
                        "%s: a normal request took %.3f s under attack (%s)" % (
                            name, max(prober.latencies), prober.summary()))
        self.assertTrue(all(b["available"] for b in blocks),
                        "%s: slowhttptest's own probe found the service unavailable: %s" % (
                            name, [b for b in blocks if not b["available"]]))
        # the attack's connections are all gone from the server once it is over
        self.assertTrue(hostile.wait_until(lambda: self.sockets() <= baseline + 2, 10),
                        "%s: %d sockets still open on the server after the attack (before: %d)"
                        % (name, self.sockets(), baseline))
        return blocks, reason, prober

    def test_slowloris(self):
        s = self.sample
        baseline = self.sockets()
        t0 = time.monotonic()
        # -i 2 -x 20: a header line of up to 20 bytes every 2 s, the head never completed
        blocks, reason, _ = self.attack(
            "slowloris", ["-H", "-i", "2", "-x", "20", "-u", s.url("/index.html")],
            lambda: self.sockets() >= baseline + CONNECTIONS * 9 // 10)
        # the server cut the heads off at its head timeout: slowhttptest ended early because
        # no connection was left (its status lines stop at the last full 5-second block, so
        # they cannot show the closing itself; attack() checked the server's sockets are gone)
        took = time.monotonic() - t0
        self.assertEqual(reason, "No open connections left", blocks[-1])
        self.assertLess(took, ATTACK_SECONDS, "slowloris heads were not cut off before the "
                        "attack's own end (head timeout %d ms)" % HEAD_TIMEOUT_MS)
        self.assertGreaterEqual(took, HEAD_TIMEOUT_MS / 1000 * 0.9,
                                "slowloris heads cut off before the head timeout")

    def test_slow_read(self):
        s = self.sample
        port = s.http_port
        with mh.Client("127.0.0.1", port) as c:
            page = len(c.request("GET", "/headers/slowread",
                                 headers=[("Accept", SLOW_READ_ACCEPT)]).body)
        self.assertGreater(page, 30000)

        def choked():
            # the server has output queued on (nearly) all attack connections: they are
            # really reading slowly, and the server is holding their responses
            return sum(1 for tx, _ in hostile.server_queues(port) if tx > 0) >= CONNECTIONS * 9 // 10

        # -w/-y: a receive window of 512..1024 bytes; -z 32 -n 2: 32 bytes read every 2 s;
        # -k 3: three requests pipelined per connection
        blocks, reason, _ = self.attack(
            "slow read (%d-byte page x3)" % page,
            ["-X", "-w", "512", "-y", "1024", "-n", "2", "-z", "32", "-k", "3",
             "-m", SLOW_READ_ACCEPT, "-u", s.url("/headers/slowread")], choked)
        # nobody finished reading 3 x 36 KB at 16 bytes/s: all were still connected at the end
        self.assertGreaterEqual(blocks[-1].get("connected", 0), CONNECTIONS * 9 // 10, blocks[-1])

    def test_slow_post(self):
        s = self.sample
        baseline = self.sockets()
        # -B: a request head with Content-Length 8192 (-s), then body bytes trickled, up to
        # 20 (-x) every 2 s (-i); /upload streams any body, so every connection holds a pooled
        # buffer block while it waits, and the body timeout (30 s) never fires while bytes
        # keep coming
        blocks, reason, _ = self.attack(
            "slow POST", ["-B", "-i", "2", "-x", "20", "-s", "8192", "-t", "POST",
                          "-u", s.url("/upload")],
            lambda: self.sockets() >= baseline + CONNECTIONS * 9 // 10)
        self.assertEqual(reason, "Hit test time limit", blocks[-1])


MIN_RATE = 100                 # bytes/s: the attacks trickle 10 (POST) and 16 (read)
MIN_RATE_WINDOW_MS = 3000


class SlowClientsMinRate(SlowClients):
    """The same attacks against a server with a minimum transfer rate: each connection is
    closed once a window passes below the rate, so slowhttptest runs out of connections."""

    sample_args = SlowClients.sample_args + ("--min-rate", str(MIN_RATE), "--min-rate-window",
                                             str(MIN_RATE_WINDOW_MS))

    @classmethod
    def setUpClass(cls):
        if mh.BACKEND != "epoll":  # the rate is the engine's, whichever loop runs it
            raise unittest.SkipTest("runs once, on the epoll build")
        super().setUpClass()

    def cut_off(self, name, args, held):
        """The attack's slots are freed on the server while it runs (slowhttptest itself may
        still be reading what its kernel buffered before the reset)."""
        baseline = self.sockets()
        self.attack(name, args, held, lambda: self.sockets() <= baseline + 2)
        print("  slots freed %.1f s into the attack (window %d ms)"
              % (self.freed_after, MIN_RATE_WINDOW_MS), file=sys.stderr)
        # two windows at most (the first may carry what the kernel took at once), the checks
        # a second apart, and the attack's ramp-up
        self.assertLess(self.freed_after, 2 * MIN_RATE_WINDOW_MS / 1000 + 5)
        with mh.Client("127.0.0.1", self.sample.http_port) as c:
            metrics = c.request("GET", "/metrics").body.decode()
        closed = int(re.search(r'mote_timeouts_total\{kind="min_rate"\} (\d+)', metrics).group(1))
        self.assertGreaterEqual(closed, CONNECTIONS * 9 // 10, metrics)

    def test_slowloris(self):
        raise unittest.SkipTest("heads are the head timeout's (SlowClients.test_slowloris)")

    def test_slow_read(self):
        s = self.sample
        port = s.http_port
        self.cut_off("slow read, minimum rate %d B/s" % MIN_RATE,
                     ["-X", "-w", "512", "-y", "1024", "-n", "2", "-z", "32", "-k", "3",
                      "-m", SLOW_READ_ACCEPT, "-u", s.url("/headers/slowread")],
                     lambda: sum(1 for tx, _ in hostile.server_queues(port) if tx > 0)
                     >= CONNECTIONS * 9 // 10)

    def test_slow_post(self):
        s = self.sample
        baseline = self.sockets()
        self.cut_off("slow POST, minimum rate %d B/s" % MIN_RATE,
                     ["-B", "-i", "2", "-x", "20", "-s", "8192", "-t", "POST",
                      "-u", s.url("/upload")],
                     lambda: self.sockets() >= baseline + CONNECTIONS * 9 // 10)


if __name__ == "__main__":
    mh.main()
