"""moteharness - start mote-sample on free loopback ports and talk to it.

Used by the integration tests (tests/integration/test_*.py). The sample binary comes from the
environment variable MOTE_SAMPLE (tests/CMakeLists.txt sets it, together with MOTE_BACKEND).

    with Sample() as s:                  # --port 0 --tls-port 0, banner parsed
        c = s.connect()                  # raw socket to 127.0.0.1:<http port>
        c.send(b"GET /index.html HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        r = c.read_response()
    # leaving the block sends SIGTERM and checks: exit status 0, "mote-sample: stopped",
    # no sanitizer report on stderr

Everything waits on an event (a banner line, a socket read, process exit) with a deadline;
nothing sleeps to synchronise.
"""

import hashlib
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

SAMPLE = os.environ.get("MOTE_SAMPLE", "")
BACKEND = os.environ.get("MOTE_BACKEND", "?")

def _sample_version():
    """What `mote-sample --version` says (its TLS library, HTTP/2 if built in), or ""."""
    if not SAMPLE or not os.path.exists(SAMPLE):
        return ""
    return subprocess.run([SAMPLE, "--version"], capture_output=True, text=True,
                          timeout=10).stdout


VERSION = _sample_version()
HTTP2 = "HTTP/2" in VERSION                 # built with HTTP/2 (nghttp2)
TLS13 = "TLS: OpenSSL" in VERSION           # its TLS backend speaks TLS 1.3 (mbedTLS 2.28: 1.2)

# Slow builds (sanitizers) get more time; every wait in the tests is derived from these.
START_TIMEOUT = 15.0      # banner complete
IO_TIMEOUT = 10.0         # one socket read that must succeed
STOP_TIMEOUT = 8.0        # SIGTERM -> exit (the server's own shutdown deadline is 5 s)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "ERROR: UndefinedBehaviorSanitizer", "ThreadSanitizer", "MemorySanitizer")

IT_WORKS = (b"<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
            b"<body><h1><center>It Works!</center></h1></body>\n</html>\n")
NOT_FOUND_PAGE = (b"<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
                  b"<body><h1><center>404 Not Found</center></h1></body>\n</html>\n")
FORBIDDEN_PAGE = (b"<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
                  b"<body><h1><center>403 Forbidden</center></h1></body>\n</html>\n")


def sample_path():
    if not SAMPLE:
        raise unittest.SkipTest("MOTE_SAMPLE is not set (path of the mote-sample binary)")
    if not os.access(SAMPLE, os.X_OK):
        raise RuntimeError("MOTE_SAMPLE=%r is not an executable file" % SAMPLE)
    return SAMPLE


_ipv6 = None


def have_ipv6():
    """True when a socket can bind ::1 (IPv6 loopback usable)."""
    global _ipv6
    if _ipv6 is None and os.environ.get("MOTE_TEST_NO_IPV6"):   # to exercise the skip path
        _ipv6 = False
    if _ipv6 is None:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            try:
                s.bind(("::1", 0))
                _ipv6 = True
            finally:
                s.close()
        except OSError:
            _ipv6 = False
    return _ipv6


def skip_note(what):
    print("\nNOTE: IPv6 loopback unavailable (bind to ::1 failed): skipping %s" % what,
          file=sys.stderr)


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]


def clean_env(home=None):
    """Environment for the real clients: no proxies, no user configuration."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["CURL_HOME"] = home or "/nonexistent"
    env["LC_ALL"] = "C"
    if home:
        env["HOME"] = home
    return env


def run(argv, timeout=30.0, **kw):
    """Runs a client program; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout, **kw)


# ---------------------------------------------------------------------------------------------
# The sample process
# ---------------------------------------------------------------------------------------------

class _Lines:
    """Lines of one pipe, read by a background thread; waitable."""

    def __init__(self, pipe):
        self.lines = []
        self.times = []        # time.monotonic() when each line arrived
        self.done = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        try:
            for raw in iter(pipe.readline, b""):
                with self.cond:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    self.times.append(time.monotonic())
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()
            pipe.close()

    def text(self):
        with self.cond:
            return "\n".join(self.lines) + ("\n" if self.lines else "")

    def wait_for(self, pattern, timeout, start=0, count=1):
        """Waits until `count` lines from index `start` match the regex `pattern`; returns the
        list of match objects, or raises AssertionError on timeout / end of output."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for m in (rx.search(l) for l in self.lines[start:]) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if self.done or left <= 0:
                    raise AssertionError("waited %.1f s for %d line(s) matching %r, saw %d; "
                                         "output so far:\n%s" % (timeout, count, pattern,
                                                                 len(found), "\n".join(self.lines[-40:])))
                self.cond.wait(min(left, 1.0))

    def count(self):
        with self.cond:
            return len(self.lines)

    def join(self, timeout):
        self.thread.join(timeout)


class Sample:
    """One mote-sample process on free ports: `--port 0 --tls-port 0` plus `args`."""

    def __init__(self, *args, tls=True):
        self.args = list(args)
        self.tls = tls and "off" not in self._values("--tls-port")
        self.proc = None
        self.result = None
        self.http_port = self.tls_port = None
        self.http_addrs = []   # [(address text, port)] per HTTP listener
        self.tls_addrs = []
        self.fingerprint = None

    def _values(self, opt):
        return [self.args[i + 1] for i, a in enumerate(self.args[:-1]) if a == opt]

    # -- life --

    def start(self):
        argv = [sample_path()]
        if "--port" not in self.args:
            argv += ["--port", "0"]
        if "--tls-port" not in self.args:
            argv += ["--tls-port", "0" if self.tls else "off"]
        argv += self.args
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = _Lines(self.proc.stdout)
        self.err = _Lines(self.proc.stderr)
        try:
            self._parse_banner()
        except BaseException:
            self.kill()
            raise
        return self

    def _parse_banner(self):
        binds = max(1, len(self._values("--bind")))
        selfsigned = "--cert" not in self.args
        # Banner: per listener a title line and an address line, then the fingerprint line.
        if self.tls:
            want = 4 * binds + (1 if selfsigned else 0)
        else:
            want = 2 * binds
        deadline = time.monotonic() + START_TIMEOUT
        failed = False
        with self.out.cond:
            while True:
                # log lines ("[info] ...") may interleave with the banner: skip them
                lines = [l for l in self.out.lines if not l.startswith("[")]
                if len(lines) >= want:
                    break
                if self.out.done or self.proc.poll() is not None or time.monotonic() > deadline:
                    failed = True
                    break
                self.out.cond.wait(0.5)
        if failed:
            if self.proc.poll() is None and time.monotonic() > deadline:
                self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
            self.out.join(2)
            self.err.join(2)
            raise AssertionError("mote-sample %s did not print its banner (status %s)\n"
                                 "stdout:\n%sstderr:\n%s" % (self.argv, self.proc.returncode,
                                                             self.out.text(), self.err.text()))
        kind = None
        for line in lines[:want]:
            if line in ("mote HTTP Server", "mote HTTPS Server"):
                kind = self.http_addrs if line == "mote HTTP Server" else self.tls_addrs
                continue
            m = re.fullmatch(r"Address: (.*), port: (\d+)", line)
            if m and kind is not None:
                kind.append((m.group(1), int(m.group(2))))
                kind = None
                continue
            m = re.fullmatch(r"TLS certificate: .*fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})",
                             line)
            if m:
                self.fingerprint = m.group(1)
                continue
            raise AssertionError("unexpected banner line %r in:\n%s" % (line, "\n".join(lines)))
        assert len(self.http_addrs) == binds, lines
        self.http_port = self.http_addrs[0][1]
        if self.tls:
            assert len(self.tls_addrs) == binds, lines
            self.tls_port = self.tls_addrs[0][1]
            if selfsigned:
                assert self.fingerprint, lines
        for _, port in self.http_addrs + self.tls_addrs:
            assert 0 < port < 65536

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends `sig`, waits for exit; returns (status, stdout, stderr, seconds to exit)."""
        if self.result is not None:
            return self.result
        t0 = time.monotonic()
        if self.proc.poll() is None and sig is not None:   # None: already signalled
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            status = "no exit within %.1f s of %s (killed)" % (
                timeout, signal.Signals(sig).name if sig else "the signal")
        took = time.monotonic() - t0
        self.out.join(5)
        self.err.join(5)
        self.result = (status, self.out.text(), self.err.text(), took)
        return self.result

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None:
            self.out.join(2)
            self.err.join(2)

    def stop_and_check(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """stop() and assert a clean exit: status 0, "mote-sample: stopped", no sanitizer
        report. Returns (stdout, stderr, seconds)."""
        status, out, err, took = self.stop(sig, timeout)
        problems = []
        if status != 0:
            problems.append("exit status %r (want 0)" % (status,))
        if "mote-sample: stopped" not in out:
            problems.append("'mote-sample: stopped' not printed")
        san = sanitizer_lines(err)
        if san:
            problems.append("sanitizer report on stderr: %s" % san[:5])
        if problems:
            raise AssertionError("mote-sample [%s] did not stop cleanly: %s\nstdout tail:\n%s\n"
                                 "stderr:\n%s" % (BACKEND, "; ".join(problems),
                                                  "\n".join(out.splitlines()[-30:]), err[-6000:]))
        return out, err, took

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        if et is None:
            self.stop_and_check()
        else:
            self.stop()
        return False

    # -- clients --

    def connect(self, host="127.0.0.1", port=None, timeout=IO_TIMEOUT, tls=False, **kw):
        port = port or (self.tls_port if tls else self.http_port)
        if tls:
            return Client.tls(host, port, timeout=timeout, **kw)
        return Client(host, port, timeout=timeout, **kw)

    def url(self, path="/", host="127.0.0.1", tls=False):
        h = "[%s]" % host if ":" in host else host
        return "%s://%s:%d%s" % ("https" if tls else "http", h,
                                 self.tls_port if tls else self.http_port, path)

    def wait_stdout(self, pattern, timeout=IO_TIMEOUT, start=0, count=1):
        return self.out.wait_for(pattern, timeout, start, count)

    def stdout_mark(self):
        """An index to pass as `start` to wait_stdout(): only lines printed after now."""
        return self.out.count()

    def settled_mark(self):
        """Like stdout_mark(), once every line about earlier work is in: lines the server has
        printed may still be on their way through the pipe, so this makes one request of its
        own and waits for its access-log line (the server prints in order)."""
        self.settled_count = getattr(self, "settled_count", 0) + 1
        target = "/index.html?settled=%d" % self.settled_count
        start = self.stdout_mark()
        with self.connect() as c:
            c.request("GET", target, headers=[("Connection", "close")])
        self.wait_stdout(r'"GET %s HTTP/1\.1"' % re.escape(target), start=start)
        return self.stdout_mark()


# ---------------------------------------------------------------------------------------------
# Raw HTTP over a socket
# ---------------------------------------------------------------------------------------------

class Response:
    def __init__(self, version, status, reason, headers, body, head, framing):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers      # [(name, value)] as received
        self.body = body
        self.head = head            # raw bytes of the head
        self.framing = framing      # "length", "chunked", "close" or "none"
        self.trailers = []

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def __repr__(self):
        return "<Response %s %d %r %d body bytes, %s>" % (self.version, self.status,
                                                         self.reason, len(self.body), self.framing)


class ProtocolError(AssertionError):
    pass


class Client:
    """A blocking socket with a read buffer: send bytes, read responses in order."""

    def __init__(self, host, port, timeout=IO_TIMEOUT, sock=None, rcvbuf=None):
        self.timeout = timeout
        if sock is None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            try:
                sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.buf = b""
        self.eof = False

    @classmethod
    def tls(cls, host, port, timeout=IO_TIMEOUT, context=None, server_hostname=None):
        if context is None:
            context = insecure_context()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        raw = socket.socket(family, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        try:
            raw.connect((host, port))
            s = context.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        return cls(host, port, timeout, sock=s)

    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Close with RST (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- reading --

    def _fill(self, deadline):
        """Reads more bytes into buf; returns False at EOF. Raises socket.timeout."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def read_until(self, marker, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ProtocolError("no %r within %d bytes" % (marker, limit))
            if not self._fill(deadline):
                raise ProtocolError("EOF before %r; have %r" % (marker, self.buf[:300]))

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ProtocolError("EOF after %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, deadline):
        while self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def read_response(self, method="GET", timeout=None):
        """Reads one full response (Content-Length, chunked or close-delimited body)."""
        deadline = self._deadline(timeout)
        head = self.read_until(b"\r\n\r\n", deadline)
        lines = head[:-4].split(b"\r\n")
        m = re.fullmatch(rb"(HTTP/\d\.\d) (\d{3}) ?(.*)", lines[0])
        if not m:
            raise ProtocolError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("bad header line %r" % line)
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        r = Response(m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1"),
                     headers, b"", head, "none")
        te = r.header("Transfer-Encoding")
        cl = r.header_all("Content-Length")
        if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        if te is not None:
            if te.lower() != "chunked":
                raise ProtocolError("unexpected Transfer-Encoding %r" % te)
            if cl:
                raise ProtocolError("both Transfer-Encoding and Content-Length")
            r.framing = "chunked"
            body = []
            while True:
                line = self.read_until(b"\r\n", deadline, limit=4096)
                size = line[:-2].split(b";")[0].strip()
                if not re.fullmatch(rb"[0-9a-fA-F]+", size):
                    raise ProtocolError("bad chunk size line %r" % line)
                n = int(size, 16)
                if n == 0:
                    break
                body.append(self.read_exact(n, deadline))
                if self.read_exact(2, deadline) != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
            while True:
                line = self.read_until(b"\r\n", deadline, limit=8192)
                if line == b"\r\n":
                    break
                r.trailers.append(line[:-2])
            r.body = b"".join(body)
        elif cl:
            if len(set(cl)) != 1 or not cl[0].isdigit():
                raise ProtocolError("bad Content-Length %r" % cl)
            r.framing = "length"
            r.body = self.read_exact(int(cl[0]), deadline)
        else:
            r.framing = "close"
            r.body = self.read_to_eof(deadline)
        return r

    def readable(self, timeout=0.0):
        """True when bytes (or EOF) are waiting to be read, within `timeout` seconds."""
        if self.buf or self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def send_tolerant(self, data):
        """sendall() that stops quietly when the server has closed or reset the connection
        (it may answer and stop reading before all of `data` is in). Returns True when all of
        it was sent."""
        try:
            self.sock.sendall(data)
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False

    def read_responses(self, method="GET", limit=4, timeout=None):
        """Reads responses until EOF (or `limit` of them, or the deadline); returns
        (responses, closed, error) where `closed` says EOF (or a reset) was seen and `error`
        describes what ended the reading otherwise: bytes that did not parse as a response,
        or the deadline passing with the connection open (None when all parsed)."""
        deadline = self._deadline(timeout)
        out = []
        while len(out) < limit:
            try:
                if not self.buf and not self._fill(deadline):
                    return out, True, None
                out.append(self.read_response(method, max(0.001, deadline - time.monotonic())))
            except ConnectionResetError:
                self.eof = True
                return out, True, ("reset with %r unread" % self.buf[:200]) if self.buf else None
            except ProtocolError as e:
                return out, self.eof, str(e)
            except socket.timeout:
                return out, False, "still open %.1f s later, %r unread" % (
                    self.timeout if timeout is None else timeout, self.buf[:200])
        return out, False, None

    def wait_closed(self, timeout=None):
        """Waits for the peer to close; returns the bytes that arrived first (b'' expected).
        A reset counts as closed. Raises socket.timeout if still open at the deadline."""
        deadline = self._deadline(timeout)
        try:
            return self.read_to_eof(deadline)
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            out, self.buf = self.buf, b""
            return out

    def request(self, method, target, headers=(), body=b"", version="HTTP/1.1", host="x",
                timeout=None):
        """Sends one request and reads its response."""
        self.send(build_request(method, target, headers, body, version, host))
        return self.read_response(method, timeout)


def events_stream(sample):
    """A raw socket reading mote-sample's /events, past its head and the opening comment."""
    c = sample.connect()
    try:
        c.send(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + IO_TIMEOUT
        head = c.read_until(b"\r\n\r\n", deadline)
        if not head.startswith(b"HTTP/1.1 200 "):
            raise AssertionError("GET /events answered %r" % head)
        c.read_until(b": mote clock\n\n", deadline)
    except BaseException:
        c.close()
        raise
    return c


def build_request(method, target, headers=(), body=b"", version="HTTP/1.1", host="x"):
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(target="/index.html", host="x", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target, host, extra)).encode("latin-1")


BIG_HEADER = ("X-Big", '"' * 7000)   # every '"' becomes &quot; on /headers: a ~42 KB page
BIG_PAGE_QUOTES = 7000


def pipeline_until_stalled(sample, client, batch=10, max_requests=400, quiet=0.5,
                           limit_s=20.0):
    """Pipelines GET /headers/big<i> requests with BIG_HEADER on `client` (which reads
    nothing) in batches, until the server stalls because the client does not read: a batch
    is sent only once the access log shows every request before it finished, and the server
    counts as stalled when its access log stays silent for `quiet` seconds with requests
    unanswered. So at most one batch of requests is left unread by the server.
    Returns (requests sent, responses the server had logged as finished)."""
    port = client.local_port()
    rx = re.compile(r'^\[info\] 127\.0\.0\.1:%d "GET /headers/big\d+ HTTP/1\.1" ' % port)
    mark = sample.stdout_mark()
    sent = 0
    deadline = time.monotonic() + limit_s
    out = sample.out

    def finished():
        return sum(1 for l in out.lines[mark:] if rx.search(l))

    while sent < max_requests and time.monotonic() < deadline:
        client.send(b"".join(build_request("GET", "/headers/big%d" % (sent + i),
                                           headers=[BIG_HEADER]) for i in range(batch)))
        sent += batch
        # wait for progress: all answered (send more), or silence (stalled)
        with out.cond:
            while True:
                done = finished()
                if done >= sent:
                    break
                seen = len(out.lines)
                out.cond.wait(quiet)
                if len(out.lines) == seen or out.done or time.monotonic() > deadline:
                    return sent, finished()
    return sent, finished()


# ---------------------------------------------------------------------------------------------
# The sample process seen from /proc (Linux)
# ---------------------------------------------------------------------------------------------

def vm_rss_kib(pid):
    """Resident set size of process `pid` in KiB (VmRSS of /proc/<pid>/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/%d/status" % pid)


def socket_fd_count(pid):
    """Open socket descriptors of process `pid` (listeners and connections)."""
    n = 0
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, name)).startswith("socket:"):
                n += 1
        except OSError:
            pass                      # closed while we looked
    return n


_zero_digests = {}


def sha256_of_zeros(n, block=1 << 20):
    """Hex SHA-256 of n zero bytes, computed in blocks (and cached)."""
    if n not in _zero_digests:
        h = hashlib.sha256()
        zeros = bytes(block)
        left = n
        while left:
            k = min(left, block)
            h.update(zeros if k == block else zeros[:k])
            left -= k
        _zero_digests[n] = h.hexdigest()
    return _zero_digests[n]


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------

def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_certificate(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    """DER bytes of the certificate the TLS listener presents."""
    c = Client.tls(host, port, timeout=timeout)
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def fingerprint(der):
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


# ---------------------------------------------------------------------------------------------
# unittest glue
# ---------------------------------------------------------------------------------------------

class SampleTestCase(unittest.TestCase):
    """A test class sharing one sample (started in setUpClass with `sample_args`, stopped and
    checked in tearDownClass). Tests needing their own server use start_sample()."""

    sample_args = ()
    shared_sample = True

    @classmethod
    def setUpClass(cls):
        cls.sample = None
        if cls.shared_sample:
            cls.sample = Sample(*cls.sample_args).start()

    @classmethod
    def tearDownClass(cls):
        if cls.sample is not None:
            s, cls.sample = cls.sample, None
            s.stop_and_check()

    def start_sample(self, *args, **kw):
        """A private sample for this test; stopped (and checked) at the end of the test."""
        s = Sample(*args, **kw).start()
        self.addCleanup(self._finish_private, s)
        return s

    def _finish_private(self, s):
        if s.result is None:
            s.stop_and_check()

    def connect(self, *a, **kw):
        c = self.sample.connect(*a, **kw)
        self.addCleanup(c.close)
        return c

    def assertClosed(self, client, timeout=None, msg=""):
        try:
            rest = client.wait_closed(timeout)
        except socket.timeout:
            self.fail("connection still open after %.1f s %s" % (
                client.timeout if timeout is None else timeout, msg))
        self.assertEqual(rest, b"", "bytes after the response before close %s" % msg)


def main():
    print("mote-sample: %s (backend %s)" % (SAMPLE or "<unset>", BACKEND), file=sys.stderr)
    unittest.main(verbosity=2)
