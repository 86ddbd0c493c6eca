"""Helpers shared by the hostile-client tests (tests/hostile/test_*.py).

The server side (starting mote-sample on free ports, stopping and checking it) is
tests/integration/moteharness.py; this adds what only the heavy tests need: a higher descriptor
limit, a latency prober that runs beside an attack (HTTP, and WebSocket echo), a look at the
server's sockets, peak memory and CPU time, and WebSocket frames over raw sockets."""

import os
import re
import resource
import select
import socket
import statistics
import struct
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


# ---------------------------------------------------------------------------------------------
# The server process seen from /proc: peak memory, CPU time, one connection's socket
# ---------------------------------------------------------------------------------------------

def reset_peak_rss(pid):
    """Resets VmHWM (the peak resident set size) of `pid` to its current RSS (writing 5 to
    /proc/<pid>/clear_refs, Linux 4.0+; needs the process's owner). Returns False where that
    is refused (callers then sample VmRSS themselves)."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kib(pid):
    """VmHWM of `pid` in KiB: the most it has had resident since start or reset_peak_rss()."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


def cpu_seconds(pid):
    """User + system CPU time `pid` has used, in seconds (/proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}


def server_conn(port, peer_port):
    """The server's end of one connection (local port `port`, remote port `peer_port`) as
    (state name, tx_queue, rx_queue) from /proc/net/tcp{,6}, or None once it is gone."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if (int(f[1].rsplit(":", 1)[1], 16) == port
                    and int(f[2].rsplit(":", 1)[1], 16) == peer_port):
                tx, rx = (int(x, 16) for x in f[4].split(":"))
                return TCP_STATES.get(int(f[3], 16), f[3]), tx, rx
    return None


# ---------------------------------------------------------------------------------------------
# WebSocket (RFC 6455) over raw sockets: client frames are masked, server frames are not
# ---------------------------------------------------------------------------------------------

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="                # RFC 6455 section 1.3's example
WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_DEFLATE = ("Sec-WebSocket-Extensions", "permessage-deflate")


def ws_upgrade(path="/ws", host="h", extra=()):
    """The opening handshake's request, with `extra` [(name, value)] header fields."""
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % WS_KEY, "Sec-WebSocket-Version: 13"]
    lines += ["%s: %s" % nv for nv in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def ws_mask(data, key):
    """`data` XOR the repeated 4-byte `key` (masking and unmasking are the same)."""
    n = len(data)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def ws_frame(opcode, payload=b"", fin=True, rsv1=False, key=None):
    """One client frame: masked (a random key unless `key`), minimal length encoding."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4) if key is None else key
    return head + key + ws_mask(payload, key)


def ws_parse(buf):
    """Complete server frames at the start of `buf`: ([(fin, rsv, opcode, payload)], the
    bytes left over). A masked server frame is an error (RFC 6455 section 5.1)."""
    frames = []
    i = 0
    while len(buf) - i >= 2:
        b0, b1 = buf[i], buf[i + 1]
        if b1 & 0x80:
            raise AssertionError("masked frame from the server: %r" % buf[i:i + 14])
        n, h = b1 & 0x7F, 2
        if n == 126:
            if len(buf) - i < 4:
                break
            n, h = struct.unpack("!H", buf[i + 2:i + 4])[0], 4
        elif n == 127:
            if len(buf) - i < 10:
                break
            n, h = struct.unpack("!Q", buf[i + 2:i + 10])[0], 10
        if len(buf) - i < h + n:
            break
        frames.append((bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, buf[i + h:i + h + n]))
        i += h + n
    return frames, buf[i:]


def ws_close_code(payload):
    """The status code of a close frame's payload, or None."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def ws_handshake_done(buf):
    """For a raw socket that sent ws_upgrade(): the length of a complete 101 head at the start
    of `buf` (checked: status 101, the RFC's Sec-WebSocket-Accept), 0 while incomplete.
    Raises AssertionError for any other answer."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 8192:
            raise AssertionError("no end of head in %r" % buf[:200])
        return 0
    head = buf[:end].decode("latin-1")
    if not head.startswith("HTTP/1.1 101 ") or not re.search(
            r"(?im)^sec-websocket-accept:\s*%s\s*$" % re.escape(WS_ACCEPT), head):
        raise AssertionError("the upgrade was answered %r" % head)
    return end + 4


class WsClient(mh.Client):
    """A blocking client socket on which the opening handshake is done: frames out and in."""

    @classmethod
    def open(cls, sample, path="/ws", extra=(), timeout=mh.IO_TIMEOUT, rcvbuf=None,
             sndbuf=None):
        c = cls("127.0.0.1", sample.http_port, timeout=timeout, rcvbuf=rcvbuf)
        try:
            if sndbuf:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            c.send(ws_upgrade(path, extra=extra))
            c.response = c.read_response(timeout=timeout)
            if c.response.status != 101 or c.response.header("Sec-WebSocket-Accept") != WS_ACCEPT:
                raise AssertionError("the upgrade was answered %r %r" % (c.response,
                                                                        c.response.headers))
        except BaseException:
            c.close()
            raise
        return c

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(ws_frame(opcode, payload, **kw))

    def read_frame(self, timeout=None):
        """The next server frame as (fin, rsv, opcode, payload)."""
        deadline = self._deadline(timeout)
        b0, b1 = self.read_exact(2, deadline)
        if b1 & 0x80:
            raise mh.ProtocolError("masked frame from the server: %r" % bytes([b0, b1]))
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8, deadline))[0]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, self.read_exact(n, deadline)

    def read_message(self, timeout=None):
        """The next data message as (opcode, payload), skipping pings and pongs; a close frame
        raises ProtocolError naming its code."""
        deadline = self._deadline(timeout)
        op, parts = None, []
        while True:
            fin, _, opcode, payload = self.read_frame(max(0.001, deadline - time.monotonic()))
            if opcode in (WS_PING, WS_PONG):
                continue
            if opcode == WS_CLOSE:
                raise mh.ProtocolError("close frame %r while reading a message"
                                       % (ws_close_code(payload),))
            op = opcode if op is None else op
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def echo(self, payload, opcode=WS_TEXT, timeout=None):
        """Sends a message and checks that the same one comes back."""
        self.send_frame(opcode, payload)
        got = self.read_message(timeout)
        if got != (opcode, payload):
            raise AssertionError("echo of %d bytes came back as opcode %r, %d bytes"
                                 % (len(payload), got[0], len(got[1])))


class WsProber(Prober):
    """Prober's counterpart for a WebSocket echo route: alternately a new socket (connect,
    handshake, one echo) and one echo on a kept socket, each latency recorded."""

    def __init__(self, sample, path="/ws", interval=0.05, timeout=5.0):
        super().__init__(sample, interval=interval, timeout=timeout)
        self.path = path
        self.count = 0

    def _one(self, fresh):
        t0 = time.monotonic()
        self.count += 1
        try:
            if fresh or self.kept is None:
                c = WsClient.open(self.sample, self.path, timeout=self.timeout)
                if not fresh:
                    self.kept = c
            else:
                c = self.kept
            try:
                c.echo(("probe %d" % self.count).encode(), timeout=self.timeout)
            finally:
                if fresh:
                    c.close()
            self.latencies.append(time.monotonic() - t0)
            self.when.append(t0 - self.t0)
        except Exception as e:        # noqa: BLE001 - every failure is a finding
            if not fresh and self.kept is not None:
                self.kept.close()
                self.kept = None
            self.failures.append("%s after %.2f s: %r" % ("new" if fresh else "kept",
                                                          time.monotonic() - t0, e))


def send_until_stalled(sock, data, quiet=1.0, max_bytes=1 << 30, limit_s=30.0):
    """Sends `data` over and over on the non-blocking `sock` until the peer stops taking it:
    no room in the socket for `quiet` seconds. Bounded by `max_bytes` sent and `limit_s`
    seconds. Returns (bytes sent, copies of `data` sent whole, how it ended: 'stalled',
    'limit' or the error that closed it, monotonic time of the last progress)."""
    sent = whole = off = 0
    last = time.monotonic()
    deadline = last + limit_s
    view = memoryview(data)
    while sent < max_bytes:
        now = time.monotonic()
        if now >= deadline:
            return sent, whole, "limit", last
        _, w, _ = select.select([], [sock], [], min(quiet, deadline - now))
        if not w:
            if time.monotonic() - last >= quiet:
                return sent, whole, "stalled", last
            continue
        try:
            n = sock.send(view[off:off + (1 << 20)])
        except BlockingIOError:
            continue
        except OSError as e:
            return sent, whole, repr(e), last
        sent += n
        off += n
        if off == len(data):
            whole += 1
            off = 0
        last = time.monotonic()
    return sent, whole, "limit", last
