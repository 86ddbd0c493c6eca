"""Helpers shared by the hostile-client tests (tests/hostile/test_*.py).

The server side (starting mote-sample on free ports, stopping and checking it) is
tests/integration/moteharness.py; this adds what only the heavy tests need: a higher descriptor
limit, a latency prober that runs beside an attack, and a look at the server's sockets."""

import os
import resource
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import moteharness as mh  # noqa: E402,F401  (re-exported for the tests)

FD_CEILING = 20000        # what this machine allows; the tests ask for no more


def raise_fd_limit(want):
    """Raises RLIMIT_NOFILE towards `want` (never above FD_CEILING): the soft limit up to the
    hard one, and the hard one too where that is allowed (root). Children (the sample,
    slowhttptest) inherit it. Returns the soft limit now."""
    want = min(want, FD_CEILING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_until(predicate, timeout, step=0.05):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass; returns the
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def server_queues(port):
    """[(tx_queue, rx_queue)] in bytes of the established TCP sockets whose local port is
    `port` (the server's accepted connections), from /proc/net/tcp and /proc/net/tcp6."""
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) != port or f[3] != "01":   # 01: ESTABLISHED
                continue
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            out.append((tx, rx))
    return out


class Prober:
    """Makes one request after another beside an attack, each on a new connection (so accept
    is measured too) and alternately on one kept-alive connection, and records each latency.
    A request that fails or takes longer than `timeout` is recorded as that failure."""

    def __init__(self, sample, target="/index.html", expect=None, interval=0.05, timeout=5.0):
        self.sample, self.target, self.interval, self.timeout = sample, target, interval, timeout
        self.expect = mh.IT_WORKS if expect is None else expect
        self.latencies = []     # seconds, one per answered request
        self.when = []          # seconds since start() when each answered request began
        self.t0 = None
        self.failures = []      # text per failed request
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.kept = None

    def start(self):
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def _one(self, fresh):
        t0 = time.monotonic()
        try:
            if fresh or self.kept is None:
                c = mh.Client("127.0.0.1", self.sample.http_port, timeout=self.timeout)
                if not fresh:
                    self.kept = c
            else:
                c = self.kept
            try:
                r = c.request("GET", self.target, timeout=self.timeout)
            finally:
                if fresh:
                    c.close()
            took = time.monotonic() - t0
            if (r.status, r.body) != (200, self.expect):
                self.failures.append("%s: status %d, %d body bytes" % (
                    "new" if fresh else "kept", r.status, len(r.body)))
            else:
                self.latencies.append(took)
                self.when.append(t0 - self.t0)
        except Exception as e:        # noqa: BLE001 - every failure is a finding
            if not fresh and self.kept is not None:
                self.kept.close()
                self.kept = None
            self.failures.append("%s after %.2f s: %r" % ("new" if fresh else "kept",
                                                          time.monotonic() - t0, e))

    def _run(self, max_requests=20000):
        n = 0
        while not self.stop_event.is_set() and n < max_requests:
            self._one(fresh=(n % 2 == 0))
            n += 1
            self.stop_event.wait(self.interval)   # pacing, not synchronisation

    def stop(self):
        self.stop_event.set()
        self.thread.join(self.timeout + 5)
        if self.kept is not None:
            self.kept.close()
        return self

    def summary(self):
        if not self.latencies:
            return "no answered requests"
        ms = [x * 1000 for x in self.latencies]
        worst = sorted(range(len(ms)), key=ms.__getitem__)[-3:][::-1]
        return ("%d requests answered, %d failed: latency min %.1f ms, median %.1f ms, max %.1f ms"
                " (slowest: %s)" % (len(ms), len(self.failures), min(ms), statistics.median(ms),
                                     max(ms), ", ".join("%.1f ms at +%.1f s" % (ms[i], self.when[i])
                                                        for i in worst)))
