#!/usr/bin/env python3
"""mote against h2o and nginx on loopback, compared by server CPU time per request.

bench/bench.sh builds what this needs and runs it; see bench/README.md. Each server runs pinned
to CPU 1 (taskset), wrk and the connection holder run on CPU 0. For each run the server's CPU
time is the utime+stime of its whole process tree (/proc/PID/stat) before and after; requests
per server-CPU-second = requests wrk completed / that CPU time. Runs are interleaved: in every
round each workload is run against each server in turn (the order rotating by round). Medians
of the rounds are reported, with the spread (min-max).

WebSocket (with --ws-load): mote-sample's /ws and an echo server on Node.js's `ws` package
(bench/ws_peer) echo 32 B and 16 KiB messages for bench/ws_load.c, pinned the same way; messages
per server-CPU-second, and the memory of idle WebSockets against idle HTTP connections.
--ws-only runs just that part and prints its section.

Static files (issue 13; --no-static skips them): the same 113 B, 64 KiB and 100 MiB files at
/files/ from mote-sample --root, nginx (alias, sendfile) and h2o (file.dir), over HTTP and HTTPS,
requests (MB for 100 MiB) per server-CPU-second; and mote's compiled-in copy of its page against
that page from memory. --only static runs just that part and prints its section.

--strace MODE instead runs `strace -c -f` on each server over a short run and prints
system calls per request (strace slows the servers: only the counts mean anything)."""
import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import instructions  # bench/instructions.py, beside this file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HZ = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SERVER_CPU, CLIENT_CPU = "1", "0"
MAX_CONNS = 16384           # the connection limit all three servers are given (nginx starts
                            # closing idle keep-alive connections when 15/16 of it are used)
IDLE_TIMEOUT_S = 120        # keep-alive idle timeout, all three
IDLE_CONNS = 5000           # workload 6
OPEN_CONNS = 10000          # workload 5
HOLDER_CONCURRENCY = 50     # connections the holder has in progress at once
SERVERS = ["mote", "h2o", "nginx"]
DISTURBED = 0.15            # a run where other work took more than this share of a CPU
# what mote (mbedTLS 2.28, TLS 1.2 only) negotiates with wrk; h2o and nginx are held to the same
TLS_CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"
# h2o 2.2's max-version does not know TLS 1.3: OpenSSL's own configuration caps it
OPENSSL_TLS12_CONF = """openssl_conf = bench_conf
[bench_conf]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_tls12
[bench_tls12]
MaxProtocol = TLSv1.2
"""

WORKLOADS = [
    # key, title, wrk mode, scheme, connections held open by the holder
    ("keepalive", "keep-alive, 50 conns", "keepalive", "http", 0),
    ("pipeline", "pipelined 16 deep, 50 conns", "pipeline", "http", 0),
    ("close", "new connection per request, 50 conns", "close", "http", 0),
    ("https", "HTTPS keep-alive, 50 conns", "keepalive", "https", 0),
    ("open10k", "10,000 open, 50 active", "keepalive", "http", OPEN_CONNS),
]

# WebSocket: mote-sample's /ws against the npm `ws` package (bench/ws_peer/server.js)
WS_SERVERS = ["mote", "ws"]
WS_PATH = "/ws"
WS_CONNS = 50
WS_DEPTH = 1                # messages in flight per socket
WS_WARMUP_S = 1             # of each ws_load run, before its measured window
WS_WORKLOADS = [
    # key, title, message bytes, bar of mote/ws (None: none)
    ("ws32", "echo 32 B, 50 sockets", 32, 2.0),
    ("ws16k", "echo 16 KiB, 50 sockets", 16384, None),
]
WS_IDLE_CONNS = 5000        # idle HTTP connections, then idle WebSockets (as IDLE_CONNS)
WS_IDLE_SLACK = 128         # bar: bytes per idle WebSocket <= per idle HTTP connection + this

# Static files (issue 13): the same files at the same URLs from all three servers: mote-sample
# --root DIR, nginx `location /files/ { alias DIR/; }`, h2o `/files: file.dir: DIR`
FILES_PREFIX = "/files/"
SMALL_FILE = "page.html"    # the 113 bytes of mote's /index.html (the keep-alive page)
STATIC_FILES = [            # name, size (None: SMALL_FILE's bytes), title
    (SMALL_FILE, None, "113 B"),
    ("64k.bin", 64 * 1024, "64 KiB"),
    ("100m.bin", 100 * 1024 * 1024, "100 MiB"),
]
BIG_CONNS = 4               # wrk connections of the 100 MiB workloads
STATIC_DURATION = 4         # s per run of the static section (--static-duration)
STATIC_WORKLOADS = [
    # key, title, file, scheme, wrk connections, unit, bars {other server: mote/other >= x}
    ("f113", "file 113 B, keep-alive, 50 conns", SMALL_FILE, "http", 50, "req",
     {"h2o": 1.25, "nginx": 1.25}),
    ("f64k", "file 64 KiB, keep-alive, 50 conns", "64k.bin", "http", 50, "req",
     {"h2o": 1.25, "nginx": 1.25}),
    ("f100m", "file 100 MiB, keep-alive, %d conns" % BIG_CONNS, "100m.bin", "http", BIG_CONNS,
     "MB", {"nginx": 0.95}),
    ("f113s", "HTTPS file 113 B, keep-alive, 50 conns", SMALL_FILE, "https", 50, "req",
     {"h2o": 1.0}),
    ("f64ks", "HTTPS file 64 KiB, keep-alive, 50 conns", "64k.bin", "https", 50, "req",
     {"h2o": 1.0}),
    ("f100ms", "HTTPS file 100 MiB, keep-alive, %d conns" % BIG_CONNS, "100m.bin", "https",
     BIG_CONNS, "MB", {}),
]
# compiled-in (embedded) content: mote-sample's copy of the /index.html bytes, against that
# page from memory (the keep-alive workload), both mote only, back to back in every round
EMBEDDED_PATH = "/assets/it-works.html"
EMBEDDED_BAR = 0.95         # compiled-in req/CPU-s >= this x in-memory

# HTTP/2 (issue 14): h2load, 50 connections x 10 concurrent streams each, /index.html, over
# h2c (prior knowledge) and h2 (TLS, ALPN); nginx with `http2` on both listeners
H2_CONNS, H2_STREAMS = 50, 10
H2_WORKLOADS = [
    # key, title, scheme
    ("h2c", "h2c, prior knowledge, %d conns x %d streams" % (H2_CONNS, H2_STREAMS), "http"),
    ("h2", "h2 over TLS (ALPN), %d conns x %d streams" % (H2_CONNS, H2_STREAMS), "https"),
]
H2_BARS = {"h2o": 1.0, "nginx": 1.5}    # mote / other, on both workloads
H2_IDLE_CONNS = 2000        # idle HTTP/2 connections, each after one request

# TLS (issue 15): handshakes with `openssl s_time` (a new connection per request: -new for full
# handshakes, -reuse for resumed ones), one request each, and HTTPS keep-alive with wrk; every
# server allows TLS 1.3 and 1.2 with its default suites and the same ECDSA P-256 certificate.
# mote twice: on mbedTLS (TLS 1.2) and on OpenSSL (--mote-openssl).
TLS_SERVERS = ["mote", "mote-openssl", "h2o", "nginx"]
TLS_WORKLOADS = [
    # key, title, how
    ("full", "full handshakes, a new connection per request", "new"),
    ("resumed", "resumed handshakes (tickets), a new connection per request", "reuse"),
    ("ka13", "HTTPS keep-alive, 50 conns", "keepalive"),
]
TLS_IDLE_CONNS = 2000       # idle TLS connections, each after one request
# bars: (workload, the OpenSSL backend / this server >= x)
TLS_BARS = [("full", "nginx", 1.0), ("resumed", "nginx", 1.0), ("ka13", "h2o", 1.0)]

# user-space instructions per request (bench/instructions.py): h2o is measured on the two
# requests of the bars too; mote in every workload
INSTR_H2O_MODES = ("keep-alive", "browser")
INSTR_BAR = 1500            # mote keep-alive, instructions per request

children = []  # every process started here, stopped on any exit


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


# ---------- processes ----------

def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=raise_nofile, **kw)
    children.append(p)
    return p


def stop(p, grace=5.0):
    """Stops a process started here, and the process group it leads (a server's workers)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers of the group, if any
    except ProcessLookupError:
        pass
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        log("process %d did not exit" % p.pid)
    if p in children:
        children.remove(p)


def stop_all():
    for p in list(children):
        stop(p)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def tree(pid):
    """pid and all its descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
            except OSError:
                continue
            parent[int(d)] = int(s[s.rfind(")") + 2:].split()[1])
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(c for c, pp in parent.items() if pp == q)
    return out


def cpu_seconds(pid, pids=None):
    """utime+stime of the process tree under pid (every thread of each process included); of
    the processes pids instead when given (a tree listed once before, read quickly)."""
    ticks = 0
    for q in pids or tree(pid):
        try:
            with open("/proc/%d/stat" % q) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / HZ


def machine_busy():
    """Busy CPU seconds of the whole machine so far (/proc/stat), and of this process's
    finished children (wrk, once it has exited)."""
    import resource
    with open("/proc/stat") as f:
        # user nice system idle iowait irq softirq steal, all CPUs
        v = [int(x) for x in f.readline().split()[1:9]]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (sum(v) - v[3] - v[4]) / HZ, ru.ru_utime + ru.ru_stime


def rss_kib(pid):
    """VmRSS summed over the process tree, and the tree's processes."""
    total, procs = 0, 0
    for q in tree(pid):
        try:
            with open("/proc/%d/status" % q) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        procs += 1
        except OSError:
            pass
    return total, procs


def hwm_kib(pid):
    """VmHWM (peak RSS) summed over the process tree."""
    total = 0
    for q in tree(pid):
        try:
            with open("/proc/%d/status" % q) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ---------- servers ----------

class Server:
    def __init__(self, name, work, args, files=None, h2=False, tls13=False):
        self.name, self.work, self.args = name, work, args
        self.tls13 = tls13  # TLS 1.3 and 1.2, default suites (the TLS section); else TLS 1.2
        self.files = files  # a directory served at FILES_PREFIX (the static section), or None
        self.h2 = h2        # HTTP/2 on both ports where it is a choice (nginx: h2c only on plain)
        # of its configuration and pid files
        self.tag = ("-files" if files else "") + ("-h2" if h2 else "") + ("-tls13" if tls13 else "")
        self.port, self.tls_port = free_port(), free_port()
        self.proc = None

    def command(self):
        raise NotImplementedError

    def ports(self):
        return [self.port, self.tls_port]

    def env(self):
        return None

    def start(self, attempts=3):
        """free_port() only says a port was free when it looked: another socket (a client's
        ephemeral port) may take it before the server binds it. Then new ports are tried."""
        for attempt in range(attempts):
            if attempt:
                self.port, self.tls_port = free_port(), free_port()
            with open(os.path.join(self.work, "%s.log" % self.name), "ab") as logf:
                self.proc = spawn(["taskset", "-c", SERVER_CPU] + self.command(), stdout=logf,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=self.env())
            if all(wait_port(p, self.proc) for p in self.ports()):
                time.sleep(0.3)  # let it finish starting (workers, helper processes)
                return
            self.stop()
            log("%s did not start on ports %s: %s" % (
                self.name, " and ".join(str(p) for p in self.ports()), self.last_log_line()))
        raise RuntimeError("%s did not start" % self.name)

    def last_log_line(self):
        """The last line the server logged (its own log, or an error log named after it)."""
        line = ""
        for f in sorted(os.listdir(self.work)):
            if f == self.name + ".log" or (f.startswith(self.name + "-") and f.endswith(".log")):
                with open(os.path.join(self.work, f), errors="replace") as lf:
                    lines = lf.read().strip().splitlines()
                line = lines[-1] if lines else line
        return line or "nothing logged"

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


class Mote(Server):
    def binary(self):
        return self.args.mote

    def command(self):
        w = self.work
        return [self.binary(), "--bind", "127.0.0.1", "--port", str(self.port),
                "--tls-port", str(self.tls_port), "--cert", w + "/cert.pem",
                "--key", w + "/key.pem",
                "--max-conns", str(MAX_CONNS), "--idle-timeout", str(IDLE_TIMEOUT_S * 1000),
                "--log-level", "warn"] + (["--root", self.files] if self.files else [])


class MoteOpenssl(Mote):
    """mote-sample built with -DMOTE_TLS=openssl."""

    def binary(self):
        return self.args.mote_openssl


class Nginx(Server):
    def command(self):
        w = self.work
        conf = os.path.join(w, "nginx%s.conf" % self.tag)
        tmp = os.path.join(w, "nginx-tmp")
        os.makedirs(tmp, exist_ok=True)
        files = ""
        if self.files:  # the static section: sendfile for these, as one would serve files
            files = """
        location {prefix} {{
            alias {files}/;
            sendfile on;
            tcp_nopush on;
            open_file_cache max=1000 inactive=20s;
            open_file_cache_valid 30s;
        }}""".format(prefix=FILES_PREFIX, files=self.files)
        with open(conf, "w") as f:
            f.write("""
user root root;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid {w}/nginx{tag}.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections {maxc}; use epoll; }}
http {{
    access_log off;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    sendfile off;  # nginx's default; with sendfile (and tcp_nopush) it is slower on this page
    tcp_nodelay on;
    keepalive_timeout {idle}s;
    keepalive_requests 100000000;
    types {{ text/html html; }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    ssl_protocols {protocols};
    ssl_ciphers {cipher};
    ssl_certificate {w}/cert.pem;
    ssl_certificate_key {w}/key.pem;
    server {{
        listen 127.0.0.1:{port}{h2};
        listen 127.0.0.1:{tport} ssl{h2};
        root {w}/docroot;{files}
    }}
}}
""".format(w=w, tmp=tmp, cipher="HIGH:!aNULL" if self.tls13 else TLS_CIPHER, maxc=MAX_CONNS,
           idle=IDLE_TIMEOUT_S, port=self.port, tport=self.tls_port, tag=self.tag, files=files,
           h2=" http2" if self.h2 else "",
           protocols="TLSv1.2 TLSv1.3" if self.tls13 else "TLSv1.2"))
        return ["nginx", "-p", w, "-c", conf, "-e", w + "/nginx-error.log"]


class H2o(Server):
    def env(self):
        if self.tls13:
            return None  # OpenSSL's own range: TLS 1.3 and 1.2
        conf = os.path.join(self.work, "openssl-tls12.cnf")
        with open(conf, "w") as f:
            f.write(OPENSSL_TLS12_CONF)
        return dict(os.environ, OPENSSL_CONF=conf)

    def command(self):
        w = self.work
        conf = os.path.join(w, "h2o%s.conf" % self.tag)
        files = ""
        if self.files:  # before "/": the static section's files
            files = """
      {prefix}:
        file.dir: {files}""".format(prefix=FILES_PREFIX.rstrip("/"), files=self.files)
        with open(conf, "w") as f:
            f.write("""
num-threads: 1
max-connections: {maxc}
http1-request-timeout: {idle}
user: root
pid-file: {w}/h2o{tag}.pid
error-log: {w}/h2o-error.log
listen:
  host: 127.0.0.1
  port: {port}
listen:
  host: 127.0.0.1
  port: {tport}
  ssl:
    certificate-file: {w}/cert.pem
    key-file: {w}/key.pem
    min-version: TLSv1.2{cap}
    ocsp-update-interval: 0
hosts:
  default:
    paths:{files}
      /:
        file.dir: {w}/docroot
""".format(w=w, maxc=MAX_CONNS, idle=IDLE_TIMEOUT_S, port=self.port, tport=self.tls_port,
           tag=self.tag, files=files,
           cap="" if self.tls13 else "\n    max-version: TLSv1.2\n    cipher-suite: " + TLS_CIPHER))
        return ["h2o", "-c", conf]


class Floor(Server):
    """bench/floor.c or floor_uring.c: recv, look for the blank line, send mote's response
    bytes; plain HTTP only."""

    def __init__(self, name, work, binary):
        Server.__init__(self, name, work, None)
        self.binary = binary

    def command(self):
        return [self.binary, str(self.port), os.path.join(self.work, "floor-response.bin")]

    def ports(self):
        return [self.port]  # plain HTTP only


class WsPeer(Server):
    """bench/ws_peer/server.js: a WebSocket echo server on the npm `ws` package (Node.js), at
    /ws, plain only."""

    def command(self):
        return ["node", os.path.join(self.args.ws_peer, "server.js"), str(self.port)]

    def ports(self):
        return [self.port]


def make_server(name, work, args, files=None, h2=False, tls13=False):
    return {"mote": Mote, "mote-openssl": MoteOpenssl, "h2o": H2o,
            "nginx": Nginx}[name](name, work, args, files, h2, tls13)


# ---------- set-up ----------

def make_cert(work):
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                    "-out", work + "/key.pem"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", work + "/key.pem", "-out",
                    work + "/cert.pem", "-days", "30", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)


def fetch(url):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        return r.status, dict(r.headers), r.read()


def whole_response(port):
    """The bytes a server sends for /index.html: head and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", buf[:end])
                if m and len(buf) >= end + 4 + int(m.group(1)):
                    return buf[:end + 4 + int(m.group(1))]
            d = s.recv(4096)
            if not d:
                raise RuntimeError("no whole response from port %d" % port)
            buf += d


def tls_params(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            return "%s %s" % (s.version(), s.cipher()[0])


# ---------- measuring ----------

def parse_wrk(out):
    m = re.search(r"^BENCH (.*)$", out, re.M)
    if not m:
        raise RuntimeError("no result from wrk:\n" + out)
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def run_wrk(url, mode, seconds, conns=50):
    env = dict(os.environ, BENCH_MODE=mode)
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
           "--timeout", "5s", "--latency", "-s", os.path.join(HERE, "wrk.lua"), url]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        out, _ = p.communicate(timeout=seconds + 30)
    finally:
        stop(p)
    return parse_wrk(out)


class Holder:
    """bench/holder.py holding idle keep-alive connections (or, with ws_path, idle WebSockets
    opened at that path; with h2, idle HTTP/2 connections, prior knowledge; with tls, over TLS),
    pinned with the load generator."""

    def __init__(self, port, count, ws_path=None, h2=False, tls=False):
        self.proc = spawn(["taskset", "-c", CLIENT_CPU, sys.executable,
                           os.path.join(HERE, "holder.py"), "127.0.0.1", str(port), str(count),
                           str(HOLDER_CONCURRENCY)] +
                          (["--websocket", ws_path] if ws_path else []) +
                          (["--h2"] if h2 else []) + (["--tls"] if tls else []),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.readline(150)
        f = line.split()
        if not f or f[0] != "ready":
            raise RuntimeError("holder failed: %r" % line)
        self.ok, self.failed, self.seconds = int(f[1]), int(f[2]), float(f[3])

    def readline(self, timeout):
        import select
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if r else ""

    def alive(self):
        self.proc.stdin.write("check\n")
        self.proc.stdin.flush()
        f = self.readline(60).split()
        return int(f[1]) if f and f[0] == "alive" else -1

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop(self.proc)


def on_server_cpu(server, load):
    """Runs load(): its result, the server's CPU seconds meanwhile, the share of a CPU that
    anything but the server and the load generator took (other processes, kernel threads: a
    disturbed run shows here), and the seconds it took."""
    pid = server.proc.pid
    (m0, k0), c0, t0 = machine_busy(), cpu_seconds(pid), time.monotonic()
    out = load()
    c1, t1, (m1, k1) = cpu_seconds(pid), time.monotonic(), machine_busy()
    cpu = max(c1 - c0, 1.0 / HZ)
    other = max(0.0, (m1 - m0) - (c1 - c0) - (k1 - k0)) / (t1 - t0)
    return out, cpu, other, t1 - t0


def measure(server, workload, seconds, path="/index.html", conns=50):
    key, _, mode, scheme, hold = workload
    holder = Holder(server.port, hold) if hold else None
    try:
        port = server.tls_port if scheme == "https" else server.port
        url = "%s://127.0.0.1:%d%s" % (scheme, port, path)
        w, cpu, other, elapsed = on_server_cpu(server, lambda: run_wrk(url, mode, seconds, conns))
        r = {
            "requests": w["requests"],
            "cpu": cpu,
            "per_cpu": w["requests"] / cpu,
            "rps": w["requests"] / (w["duration_us"] / 1e6),
            # bytes wrk read (heads included, and the part of a response still in flight at
            # the end), in MB (10^6 bytes) per server CPU second and per second
            "mb_cpu": w["bytes"] / cpu / 1e6,
            "mbps": w["bytes"] / (w["duration_us"] / 1e6) / 1e6,
            "util": cpu / elapsed,
            # wrk gives 0 when its coordinated-omission correction has moved samples below
            # its recorded minimum (it does with pipelining): no figure then
            "p50": w["p50"], "p99": w["p99"],
            "errors": w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"],
            "other": other,
        }
        if holder:
            r["held"] = holder.ok
            r["alive"] = holder.alive()
        return r
    finally:
        if holder:
            holder.close()


def idle_memory(server, count=IDLE_CONNS, ws_path=None, h2=False, tls=False):
    """RSS of a freshly started server, then with count idle keep-alive connections (idle
    WebSockets opened at ws_path, when given; idle HTTP/2 connections with h2; over TLS on its
    TLS port with tls)."""
    server.start()
    try:
        time.sleep(0.5)
        start, procs = rss_kib(server.proc.pid)
        holder = Holder(server.tls_port if tls else server.port, count, ws_path, h2, tls)
        try:
            time.sleep(1.0)
            held, _ = rss_kib(server.proc.pid)
            alive = holder.alive()
        finally:
            holder.close()
        return {"start": start, "held": held, "growth": held - start, "alive": alive,
                "ok": holder.ok, "procs": procs}
    finally:
        server.stop()


def idle_rounds(args, work, names, label, count, h2=False, tls=False):
    """idle_memory() of each server, freshly started, in every round: {name: [results]}."""
    idle = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            m = idle_memory(make_server(n, work, args, h2=h2, tls13=tls), count, h2=h2, tls=tls)
            idle[n].append(m)
            log("round %d idle %s %-12s start %d KiB, with %d idle %d KiB (+%d), alive %d" % (
                r + 1, label, n, m["start"], m["ok"], m["held"], m["growth"], m["alive"]))
    return idle


def run_parser_bench(args):
    out = subprocess.run(["taskset", "-c", SERVER_CPU, args.parser_bench,
                          os.path.join(HERE, "corpus"), str(args.parser_rounds),
                          str(args.parser_seconds)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("parser_bench failed:\n" + out.stdout + out.stderr)
    res = {}
    corpus = ""
    for line in out.stdout.splitlines():
        f = line.split()
        if f and f[0] == "RESULT":
            res[f[1]] = [float(x) for x in f[2:]]
        elif line.startswith("corpus:"):
            corpus = line
    return res, corpus


# ---------- WebSocket ----------

def ws_handshake(port):
    """The status line a server answers a WebSocket handshake at WS_PATH with ("" for none)."""
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (WS_PATH, port, key)).encode()
    buf = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req)
            while b"\r\n" not in buf and len(buf) < 8192:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
    except OSError as e:
        return "(%s)" % e
    return buf.split(b"\r\n", 1)[0].decode("latin-1")


def ws_peer_missing(args):
    """Why the ws peer cannot run here, or None."""
    if not shutil.which("node"):
        return "node not found"
    if not os.path.exists(os.path.join(args.ws_peer, "node_modules", "ws", "package.json")):
        where = os.path.abspath(args.ws_peer)
        if where.startswith(ROOT + os.sep):
            where = os.path.relpath(where, ROOT)
        return "the npm ws package is not installed: npm install in " + where
    return None


def ws_peer_version(args, package="ws"):
    try:
        with open(os.path.join(args.ws_peer, "node_modules", package, "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return "not installed"


def measure_ws(server, size, seconds, args):
    """One ws_load run (pinned to CLIENT_CPU) against server: its JSON, and messages per
    server-CPU-second over the measured window (ws_load --sync says when it starts and ends);
    {"error": ...} when ws_load failed."""
    pids = tree(server.proc.pid)
    cmd = ["taskset", "-c", CLIENT_CPU, args.ws_load, "-c", str(WS_CONNS), "-s", str(size),
           "-d", str(WS_DEPTH), "-t", str(seconds), "-w", str(WS_WARMUP_S), "--sync",
           "ws://127.0.0.1:%d%s" % (server.port, WS_PATH)]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    buf = [b""]

    def line(timeout):
        import select
        deadline = time.monotonic() + timeout
        while b"\n" not in buf[0]:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                return None
            d = os.read(p.stdout.fileno(), 4096)
            if not d:
                return None
            buf[0] += d
        ln, buf[0] = buf[0].split(b"\n", 1)
        return ln.decode(errors="replace").strip()

    err = None
    try:
        if line(WS_WARMUP_S + 20) == "start":
            (m0, _), c0, l0, t0 = machine_busy(), cpu_seconds(0, pids), cpu_seconds(p.pid), \
                time.monotonic()
            if line(seconds + 20) == "stop":
                c1, l1, t1, (m1, _) = cpu_seconds(0, pids), cpu_seconds(p.pid), \
                    time.monotonic(), machine_busy()
                out, err = p.communicate(timeout=30)
                if p.returncode == 0:
                    j = json.loads((buf[0] + out).decode().strip().splitlines()[-1])
                    cpu = max(c1 - c0, 1.0 / HZ)
                    return {
                        "messages": j["messages"], "cpu": cpu, "per_cpu": j["messages"] / cpu,
                        "mps": j["messages"] / j["seconds"], "util": cpu / (t1 - t0),
                        "client": (l1 - l0) / (t1 - t0),
                        "other": max(0.0, (m1 - m0) - (c1 - c0) - (l1 - l0)) / (t1 - t0),
                    }
        if err is None:
            if p.poll() is None:
                stop(p)
            err = p.stderr.read() or b""
        msg = err.decode(errors="replace").strip().splitlines()
        return {"error": msg[-1] if msg else "ws_load exited with status %s" % p.returncode}
    except subprocess.TimeoutExpired:
        return {"error": "ws_load did not finish"}
    finally:
        stop(p)


def run_ws(args, work):
    """The WebSocket part: mote-sample's /ws and the ws peer side by side, each pinned to
    SERVER_CPU, every workload against each in every round; then the idle memory of WebSockets
    against HTTP connections, on freshly started servers."""
    runs = {wl[0]: {n: [] for n in WS_SERVERS} for wl in WS_WORKLOADS}
    missing, servers = {}, {}
    mote = Mote("mote", work, args)
    mote.start()
    status = ws_handshake(mote.port)
    if status.split(" ")[1:2] == ["101"]:
        servers["mote"] = mote
    else:
        missing["mote"] = "no WebSocket at %s: %s" % (WS_PATH, status or "no answer")
        mote.stop()
    missing_peer = ws_peer_missing(args)
    if missing_peer:
        missing["ws"] = missing_peer
    else:
        peer = WsPeer("ws", work, args)
        try:
            peer.start()
            status = ws_handshake(peer.port)
            if status.split(" ")[1:2] == ["101"]:
                servers["ws"] = peer
            else:
                missing["ws"] = "no WebSocket at %s: %s" % (WS_PATH, status or "no answer")
                peer.stop()
        except RuntimeError:
            missing["ws"] = "did not start: " + peer.last_log_line()
    for n, why in missing.items():
        log("websocket: %s not available: %s" % (n, why))
    try:
        for n in servers:  # warm-up (the JIT of Node.js too), not measured
            for wl in WS_WORKLOADS:
                m = measure_ws(servers[n], wl[2], 1, args)
                if "error" in m:
                    log("websocket warm-up %s %s: %s" % (n, wl[0], m["error"]))
        names = [n for n in WS_SERVERS if n in servers]
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            for wl in WS_WORKLOADS:
                for n in order:
                    m = measure_ws(servers[n], wl[2], args.duration, args)
                    runs[wl[0]][n].append(m)
                    if "error" in m:
                        log("round %d %-5s %-4s failed: %s" % (r + 1, wl[0], n, m["error"]))
                    else:
                        log("round %d %-5s %-4s %9.0f msg/CPU-s %8.0f msg/s cpu %.2fs "
                            "client %.0f%% others %.0f%%" % (
                                r + 1, wl[0], n, m["per_cpu"], m["mps"], m["cpu"],
                                100 * m["client"], 100 * m["other"]))
    finally:
        for srv in servers.values():
            srv.stop()

    idle = {"mote-http": [], "mote-ws": [], "ws-ws": []}
    for r in range(args.rounds):
        if "mote" not in servers:
            break
        kinds = [("mote-http", Mote("mote", work, args), None),
                 ("mote-ws", Mote("mote", work, args), WS_PATH)]
        if "ws" in servers:
            kinds.append(("ws-ws", WsPeer("ws", work, args), WS_PATH))
        for key, srv, path in kinds:
            try:
                m = idle_memory(srv, WS_IDLE_CONNS, path)
            except RuntimeError as e:
                if key != "ws-ws":
                    raise
                log("round %d idle ws-ws: %s" % (r + 1, e))
                continue
            idle[key].append(m)
            log("round %d idle %-9s start %d KiB, with %d idle %d KiB (+%d), alive %d" % (
                r + 1, key, m["start"], m["ok"], m["held"], m["growth"], m["alive"]))
    return {"runs": runs, "missing": missing, "idle": idle, "ws_version": ws_peer_version(args),
            "bufferutil": ws_peer_version(args, "bufferutil"), "node": node_version()}


# ---------- static files ----------

def mote_has_root(args):
    """Whether this mote-sample has --root (its --help lists it)."""
    try:
        p = subprocess.run([args.mote, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--root" in p.stdout + p.stderr


def response_head(port, path):
    """The head a server sends for GET path over plain HTTP (the body is left unread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d or len(buf) > 65536:
                raise RuntimeError("no response head for %s from port %d" % (path, port))
            buf += d
    return buf[:buf.find(b"\r\n\r\n") + 4]


def fetch_digest(url):
    """Status, length and SHA-256 of the body at url, read in pieces (no exception for an
    HTTP error status)."""
    import hashlib
    import urllib.error
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    h, n = hashlib.sha256(), 0
    try:
        r = urllib.request.urlopen(url, context=ctx, timeout=10)
    except urllib.error.HTTPError as e:
        return e.code, 0, ""
    with r:
        while True:
            d = r.read(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
        return r.status, n, h.hexdigest()


def check_files(server, expect):
    """None when server sends every file of expect ({name: (length, sha256)}) byte for byte
    at FILES_PREFIX over HTTP and HTTPS, else what went wrong."""
    import http.client
    for name, (size, digest) in expect.items():
        for scheme, port in (("http", server.port), ("https", server.tls_port)):
            url = "%s://127.0.0.1:%d%s%s" % (scheme, port, FILES_PREFIX, name)
            try:
                status, n, d = fetch_digest(url)
            except (OSError, http.client.HTTPException, ValueError) as e:
                return "%s: %s" % (url, e)
            if status != 200 or n != size or d != digest:
                return "%s: status %d, %d bytes%s" % (
                    url, status, n, " (other bytes)" if status == 200 and n == size else "")
    return None


def measure_static(server, wl, seconds, path, conns):
    """measure(), a failed run ({"error": ...}) instead of an exception."""
    try:
        return measure(server, wl, seconds, path, conns)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}


def run_static(args, work):
    """The static section: the same files (STATIC_FILES, written into work/files) at the same
    URLs from mote (--root), h2o (file.dir) and nginx (alias, sendfile), freshly started, each
    pinned to SERVER_CPU, every workload against each in every round; then mote's compiled-in
    copy of its page (args.embedded_path) against that page from memory, back to back."""
    import hashlib
    files = os.path.join(work, "files")
    os.makedirs(files, exist_ok=True)
    os.makedirs(os.path.join(work, "docroot"), exist_ok=True)
    seconds = min(args.duration, args.static_duration)
    missing, servers, heads, tls = {}, {}, {}, {}
    if not mote_has_root(args):
        missing["mote"] = "this mote-sample has no --root"
    try:
        mote = servers["mote"] = Mote("mote", work, args, None if missing else files)
        mote.start()
        _, _, body = fetch("http://127.0.0.1:%d/index.html" % mote.port)
        expect = {}
        for name, size, _ in STATIC_FILES:
            data = body if size is None else os.urandom(size)
            with open(os.path.join(files, name), "wb") as f:
                f.write(data)
            expect[name] = (len(data), hashlib.sha256(data).hexdigest())
        index = os.path.join(work, "docroot", "index.html")
        if not os.path.exists(index):
            with open(index, "wb") as f:
                f.write(body)
        for n in ("h2o", "nginx"):
            servers[n] = make_server(n, work, args, files)
            servers[n].start()
        for n in SERVERS:
            if n in missing:
                continue
            why = check_files(servers[n], expect)
            if why and n != "mote":
                raise RuntimeError("%s does not serve the files: %s" % (n, why))
            if why:
                missing["mote"] = "--root does not serve the files: " + why
                continue
            heads[n] = {name: response_head(servers[n].port, FILES_PREFIX + name).decode(
                "latin-1") for name, _, _ in STATIC_FILES}
            tls[n] = tls_params(servers[n].tls_port)
        emb = {"path": args.embedded_path}
        status, n, d = fetch_digest("http://127.0.0.1:%d%s" % (mote.port, args.embedded_path))
        # mote-sample answers a path it has nothing at with the seed's soft 404, a 200
        soft = fetch_digest("http://127.0.0.1:%d/%s/no-such-file" % (
            mote.port, os.urandom(6).hex()))
        if status != 200 or (status, n, d) == soft:
            missing["embedded"] = "mote-sample has nothing at %s (%s)" % (
                args.embedded_path, "status %d" % status if status != 200 else "its soft 404")
        else:
            emb.update(len=n, same=(n, d) == expect[SMALL_FILE], head=len(response_head(
                mote.port, args.embedded_path)), index_head=len(response_head(
                    mote.port, "/index.html")))
        for n, why in missing.items():
            log("static: %s not available: %s" % (n, why))

        for n in SERVERS:  # warm-up, not measured
            if n not in missing:
                for scheme, port in (("http", servers[n].port), ("https", servers[n].tls_port)):
                    run_wrk("%s://127.0.0.1:%d%s%s" % (scheme, port, FILES_PREFIX, SMALL_FILE),
                            "keepalive", 1)
        if "embedded" not in missing:
            run_wrk("http://127.0.0.1:%d%s" % (mote.port, args.embedded_path), "keepalive", 1)

        res = {wl[0]: {n: [] for n in SERVERS} for wl in STATIC_WORKLOADS}
        pair = {"inmem": [], "embedded": []}
        for r in range(args.rounds):
            order = SERVERS[r % 3:] + SERVERS[:r % 3]
            for key, _, name, scheme, conns, unit, _ in STATIC_WORKLOADS:
                for n in order:
                    if n in missing:
                        continue
                    m = measure_static(servers[n], (key, key, "keepalive", scheme, 0), seconds,
                                       FILES_PREFIX + name, conns)
                    res[key][n].append(m)
                    if "error" in m:
                        log("round %d %-8s %-5s failed: %s" % (r + 1, key, n, m["error"]))
                    elif unit == "MB":
                        log("round %d %-8s %-5s %9.0f MB/CPU-s %8.0f MB/s cpu %.2fs err %d "
                            "others %.0f%%" % (r + 1, key, n, m["mb_cpu"], m["mbps"], m["cpu"],
                                               m["errors"], 100 * m["other"]))
                    else:
                        log("round %d %-8s %-5s %9.0f req/CPU-s %8.0f req/s cpu %.2fs err %d "
                            "others %.0f%%" % (r + 1, key, n, m["per_cpu"], m["rps"], m["cpu"],
                                               m["errors"], 100 * m["other"]))
            if "embedded" in missing:
                continue
            kinds = [("inmem", "/index.html"), ("embedded", args.embedded_path)]
            for key, path in kinds if r % 2 == 0 else kinds[::-1]:
                m = measure_static(mote, (key, key, "keepalive", "http", 0), seconds, path, 50)
                pair[key].append(m)
                log("round %d %-8s mote  %s" % (r + 1, key, m["error"] if "error" in m else
                                                "%9.0f req/CPU-s %8.0f req/s cpu %.2fs err %d" % (
                                                    m["per_cpu"], m["rps"], m["cpu"],
                                                    m["errors"])))
    finally:
        for srv in servers.values():
            srv.stop()
    return {"res": res, "pair": pair, "missing": missing, "heads": heads, "emb": emb,
            "seconds": seconds, "body_len": len(body), "tls": tls}


def parse_h2load(out):
    """h2load's summary: requests done, succeeded, failed (+ errored, timed out), non-2xx."""
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not m or not st:
        raise RuntimeError("no result from h2load:\n" + out[-2000:])
    v = [int(x) for x in m.groups()]
    return {"done": v[2], "succeeded": v[3], "errors": v[4] + v[5] + v[6],
            "non2xx": sum(int(x) for x in st.groups()[1:])}


def run_h2load(url, seconds):
    cmd = ["taskset", "-c", CLIENT_CPU, "h2load", "-t1", "-c%d" % H2_CONNS,
           "-m%d" % H2_STREAMS, "-D%d" % seconds, url]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=seconds + 60)
    finally:
        stop(p)
    return parse_h2load(out)


def measure_h2(server, scheme, seconds):
    """One h2load run against server: requests per server-CPU-second; {"error": ...} when
    h2load failed or any request did not succeed with a 2xx (no speed figure then)."""
    port = server.tls_port if scheme == "https" else server.port
    url = "%s://127.0.0.1:%d/index.html" % (scheme, port)
    try:
        h, cpu, other, elapsed = on_server_cpu(server, lambda: run_h2load(url, seconds))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}
    if h["errors"] or h["non2xx"] or not h["succeeded"]:
        return {"error": "%d of %d requests failed, %d not 2xx" % (
            h["errors"], h["done"], h["non2xx"])}
    return {"requests": h["succeeded"], "cpu": cpu, "per_cpu": h["succeeded"] / cpu,
            "rps": h["succeeded"] / elapsed, "util": cpu / elapsed, "other": other}


def start_serving_index(servers, work):
    """Starts the servers, with mote's /index.html bytes in the others' document root."""
    os.makedirs(os.path.join(work, "docroot"), exist_ok=True)
    for srv in servers.values():
        srv.start()
    index = os.path.join(work, "docroot", "index.html")
    if not os.path.exists(index):
        with open(index, "wb") as f:
            f.write(fetch("http://127.0.0.1:%d/index.html" % servers["mote"].port)[2])


def run_h2(args, work):
    """The HTTP/2 section: mote, h2o and nginx (`http2` on its listeners) freshly started and
    pinned to SERVER_CPU, each workload of H2_WORKLOADS against each in every round; then the
    memory of idle HTTP/2 connections, each server started again for it."""
    servers = {n: make_server(n, work, args, h2=True) for n in SERVERS}
    try:
        start_serving_index(servers, work)
        for n in SERVERS:  # warm-up, not measured
            for _, _, scheme in H2_WORKLOADS:
                measure_h2(servers[n], scheme, 1)
        res = {wl[0]: {n: [] for n in SERVERS} for wl in H2_WORKLOADS}
        for r in range(args.rounds):
            order = SERVERS[r % 3:] + SERVERS[:r % 3]
            for key, _, scheme in H2_WORKLOADS:
                for n in order:
                    m = measure_h2(servers[n], scheme, args.duration)
                    res[key][n].append(m)
                    log("round %d %-4s %-5s %s" % (r + 1, key, n, m["error"] if "error" in m else
                                                   "%9.0f req/CPU-s %8.0f req/s cpu %.2fs "
                                                   "others %.0f%%" % (m["per_cpu"], m["rps"],
                                                                      m["cpu"],
                                                                      100 * m["other"])))
    finally:
        for srv in servers.values():
            srv.stop()
    idle = idle_rounds(args, work, SERVERS, "h2", H2_IDLE_CONNS, h2=True)
    return {"res": res, "idle": idle}


def run_s_time(port, how, seconds):
    """openssl s_time, pinned to the client CPU: connections made, and how many resumed."""
    cmd = ["taskset", "-c", CLIENT_CPU, "openssl", "s_time", "-connect", "127.0.0.1:%d" % port,
           "-" + how, "-time", str(seconds), "-www", "/index.html"]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=seconds + 60)
    finally:
        stop(p)
    m = re.search(r"^(\d+) connections in [\d.]+ real seconds, (\d+) bytes read per connection",
                  out, re.M)
    if not m:
        raise RuntimeError("no result from s_time:\n" + out[-2000:])
    marks = "".join(l for l in out.splitlines() if re.fullmatch(r"[r*]+", l))
    return {"conns": int(m.group(1)), "bytes": int(m.group(2)), "reused": marks.count("r"),
            "new": marks.count("*")}


def measure_tls(server, how, seconds):
    """Connections (or, keep-alive, requests) per server-CPU-second; {"error": ...} when the
    client failed, a response was missing, or a handshake was not of the kind asked for."""
    url = "https://127.0.0.1:%d/index.html" % server.tls_port
    try:
        if how == "keepalive":
            w, cpu, other, elapsed = on_server_cpu(
                server, lambda: run_wrk(url, "keepalive", seconds))
            errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
            if errors:
                return {"error": "%d wrk errors" % errors}
            return {"count": w["requests"], "cpu": cpu, "per_cpu": w["requests"] / cpu,
                    "rate": w["requests"] / elapsed, "other": other}
        t, cpu, other, elapsed = on_server_cpu(server, lambda: run_s_time(server.tls_port, how,
                                                                           seconds))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}
    if not t["conns"] or t["bytes"] < 100:
        return {"error": "%d connections, %d bytes read each" % (t["conns"], t["bytes"])}
    wrong = t["new"] if how == "reuse" else t["reused"]
    if how == "reuse" and wrong > t["conns"] // 100 + 1:  # the first one is new
        return {"error": "%d of %d connections not resumed" % (wrong, t["conns"])}
    return {"count": t["conns"], "cpu": cpu, "per_cpu": t["conns"] / cpu,
            "rate": t["conns"] / elapsed, "other": other, "reused": t["reused"]}


def run_tls(args, work):
    """The TLS section: each server of TLS_SERVERS freshly started with TLS 1.3 and 1.2 and
    pinned to SERVER_CPU, each workload of TLS_WORKLOADS against each in every round."""
    names = [n for n in TLS_SERVERS if n != "mote-openssl" or args.mote_openssl]
    servers = {n: make_server(n, work, args, tls13=True) for n in names}
    try:
        start_serving_index(servers, work)
        params = {n: tls_params(servers[n].tls_port) for n in names}
        for n in names:  # warm-up, not measured
            for _, _, how in TLS_WORKLOADS:
                measure_tls(servers[n], how, 1)
        res = {wl[0]: {n: [] for n in names} for wl in TLS_WORKLOADS}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for key, _, how in TLS_WORKLOADS:
                for n in order:
                    m = measure_tls(servers[n], how, args.duration)
                    res[key][n].append(m)
                    log("round %d %-7s %-12s %s" % (r + 1, key, n, m["error"] if "error" in m else
                                                    "%9.0f /CPU-s %8.0f /s cpu %.2fs others %.0f%%"
                                                    % (m["per_cpu"], m["rate"], m["cpu"],
                                                       100 * m["other"])))
    finally:
        for srv in servers.values():
            srv.stop()
    idle = idle_rounds(args, work, names, "tls", TLS_IDLE_CONNS, tls=True)
    return {"res": res, "params": params, "names": names, "idle": idle}


def report_tls(args, tls):
    """The TLS section of the report (Markdown lines)."""
    L = []
    a = L.append
    if "failed" in tls:
        return ["TLS: **the measurement failed**: %s." % tls["failed"], ""]
    res, params, names = tls["res"], tls["params"], tls["names"]
    a("TLS handshakes and TLS 1.3: every server allows TLS 1.3 and 1.2 with its default suites "
      "and the same ECDSA P-256 certificate; mote twice, on mbedTLS %s (TLS 1.2 only) and on "
      "OpenSSL. Handshakes: `openssl s_time -new` (full) and `-reuse` (resumed: every "
      "connection after the first must resume, or the run counts as failed), one request for "
      "`/index.html` per connection, pinned to CPU %s; keep-alive: wrk, 50 connections. **Per "
      "server-CPU-second** (connections, or requests for keep-alive), median (min-max) of %d "
      "rounds of %d s." % (dict(versions(args)).get("mbedTLS", "?"), CLIENT_CPU, args.rounds,
                           args.duration))
    a("")
    a("| workload | " + " | ".join(names) + " |")
    a("|---" * (len(names) + 1) + "|")
    medians = {}
    for key, title, _ in TLS_WORKLOADS:
        cells = []
        for n in names:
            rows = [r for r in res[key][n] if "error" not in r]
            failed = len(res[key][n]) - len(rows)
            if not rows:
                cells.append("failed: %s" % res[key][n][-1]["error"] if res[key][n] else "-")
                continue
            v = med(rows, "per_cpu")
            medians[(key, n)] = v[0]
            cells.append("**%s** (%s-%s)%s" % (fmt_rate(v[0]), fmt_rate(v[1]), fmt_rate(v[2]),
                                               ", %d failed" % failed if failed else ""))
        a("| %s | %s |" % (title, " | ".join(cells)))
    a("| negotiated | %s |" % " | ".join(params[n] for n in names))
    a("")
    bars = []
    for key, other, bar in TLS_BARS:
        if (key, "mote-openssl") in medians and (key, other) in medians:
            x = medians[(key, "mote-openssl")] / medians[(key, other)]
            bars.append("%s, mote-openssl / %s >= %.1fx: %.2fx, %s" % (
                key, other, bar, x, "met" if x >= bar else "**not met**"))
        else:
            bars.append("%s vs %s: no figure" % (key, other))
    for key, _, _ in TLS_WORKLOADS:
        if (key, "mote") in medians and (key, "mote-openssl") in medians:
            bars.append("%s, mbedTLS / OpenSSL: %.2fx" % (
                key, medians[(key, "mote")] / medians[(key, "mote-openssl")]))
    a("Bars: " + "; ".join(bars) + ".")
    a("")
    a("Idle TLS connections (each has done a handshake, with Python's ssl, and one request for "
      "`/index.html`; the server freshly started): RSS growth of the server's process tree with "
      "%d of them, per connection, median of %d rounds." % (TLS_IDLE_CONNS, args.rounds))
    a("")
    L += idle_table("TLS", tls["idle"], names)
    return L


def run_section(name, run, args, work):
    """A section of its own: its failure is reported in its place, and the other results
    stand without it."""
    try:
        return run(args, work)
    except (RuntimeError, OSError) as e:
        log("%s part failed: %s" % (name, e))
        return {"failed": str(e)}


def node_version():
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
    except OSError:
        return "not found"


# ---------- report ----------

def med(rows, k):
    v = [r[k] for r in rows]
    return statistics.median(v), min(v), max(v)


def lat(rows, k):
    v = [r[k] for r in rows]
    return 0 if 0 in v else statistics.median(v)


def fmt_rate(x):
    return "{:,.0f}".format(x)


def ms(us):
    return "%.2f" % (us / 1000.0) if us > 0 else "n/a"


def versions(args):
    def cmd(c):
        try:
            p = subprocess.run(c, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    def deb(pkg):
        return cmd(["dpkg-query", "-W", "-f=${Version}", pkg])

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    commit = cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    mem_mib = os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE // (1 << 20)
    return [
        ("machine", "%s, %d CPUs, %d MiB, Debian %s, Linux %s" % (
            cpu, os.cpu_count(), mem_mib, debian, platform.release())),
        ("mote", "%s%s (Release build: %s)" % (commit, " + uncommitted changes" if dirty else "",
                                               cmd(["cc", "--version"]))),
        ("mbedTLS", deb("libmbedtls-dev")),
        ("h2o", cmd(["h2o", "--version"]) + " (Debian " + deb("h2o") + ")"),
        ("nginx", cmd(["nginx", "-v"]) + " (Debian " + deb("nginx") + ")"),
        ("OpenSSL", cmd(["openssl", "version"])),
        ("wrk", "Debian " + deb("wrk")),
        ("h2load", "Debian nghttp2-client " + deb("nghttp2-client")),
        ("nghttp2", "Debian libnghttp2-dev " + deb("libnghttp2-dev")),
        ("libhttp-parser", "Debian " + deb("libhttp-parser-dev")),
        ("picohttpparser", "inside libh2o, Debian " + deb("libh2o-dev")),
    ] + ([
        ("Node.js", cmd(["node", "--version"]) if shutil.which("node") else "not found"),
        ("ws (npm)", ws_peer_version(args)),
    ] if args.ws_load else [])


def run_instructions(args):
    """User-space instructions per request (bench/instructions.py): mote in every workload, h2o
    in those of INSTR_H2O_MODES, measured the same way; {(server, mode): instructions}."""
    instr = {}
    for mode in instructions.MODES:
        for server in ("mote", "h2o"):
            if server == "h2o" and mode not in INSTR_H2O_MODES:
                continue
            instr[(server, mode)] = instructions.per_request(args.mote, args.instructions_requests,
                                                             mode, server)
            log("instructions: %s %s %.1f per request" % (server, mode, instr[(server, mode)]))
    return instr


def instructions_text(args, instr, verdict):
    """The report's paragraph and table of run_instructions()'s figures, with the bars."""
    n = args.instructions_requests
    L = ["User-space instructions per request (bench/instructions.py: the server under valgrind's "
         "callgrind serving %s and then %s requests of GET /index.html from one connection at a "
         "time; the difference over the difference of the counts, so start-up and shutdown drop "
         "out; h2o with `num-threads: 1`, all its processes counted, serving the same page from "
         "its `file.dir`). keep-alive is wrk's request (`Host` alone), browser the same with the "
         "12 fields Chromium sends (`instructions.BROWSER_REQUEST`). The same binary and requests "
         "give the same counts, whatever else the machine does." % (
             format(n // 10, ","), format(n, ",")),
         "",
         "| workload | mote | h2o | mote / h2o |",
         "|---|---|---|---|"]
    for mode in instructions.MODES:
        m, h = instr.get(("mote", mode)), instr.get(("h2o", mode))
        L.append("| %s | **%.0f** | %s | %s |" % (mode, m, "%.0f" % h if h else "-",
                                                  "%.2f" % (m / h) if h else "-"))
    ka = instr[("mote", "keep-alive")]
    below = all(instr[("mote", k)] < instr[("h2o", k)] for k in INSTR_H2O_MODES)
    L += ["", "Bars: keep-alive <= %s: %.0f, %s; below h2o on %s: %s." % (
        format(INSTR_BAR, ","), ka, verdict(ka <= INSTR_BAR), " and ".join(INSTR_H2O_MODES),
        verdict(below))]
    return "\n".join(L)


def report(args, res, floors, mem, sys_calls, parser, corpus, instr, info, ver, started,
           ws=None, static=None):
    L = []
    a = L.append
    a("# mote benchmark results")
    a("")
    a("Written by `make bench` (bench/bench.sh, bench/run.py) on %s UTC, %d round(s), "
      "%d s per run; took %.0f s." % (started.strftime("%Y-%m-%d %H:%M"), args.rounds,
                                     args.duration, time.monotonic() - info["t0"]))
    if args.duration < 5 or args.rounds < 3:
        a("")
        a("**Smoke run** (short or few rounds): not a measurement.")
    if info.get("busy"):
        a("")
        a("**Not quiet**: other CPU-heavy processes were running: %s." % info["busy"])
    a("")
    for k, v in ver:
        a("- %s: %s" % (k, v))
    a("")
    a("Servers pinned to CPU %s, wrk (`-t1 -c50`) and the connection holder to CPU %s, loopback. "
      "**req/CPU-s** = requests completed / the server's utime+stime over the run (whole "
      "process tree, from /proc). Median of the rounds, (min-max) in brackets. Latencies are "
      "wrk's, medians of the rounds; req/s is capped by wrk's own core. "
      "Same body (%d bytes) from all three: mote from memory, h2o and nginx from a file "
      "(response heads: %s)." % (
          SERVER_CPU, CLIENT_CPU, info["body_len"],
          ", ".join("%s %d bytes" % (n, info["head"][n]) for n in SERVERS)))
    a("HTTPS: TLS 1.2 for all three (mote's mbedTLS 2.28 has no TLS 1.3), "
      "negotiated with wrk's OpenSSL: %s." % "; ".join(
          "%s %s" % (n, info["tls"][n]) for n in SERVERS))
    a("")
    runs = [r for wl in res.values() for rows in wl.values() for r in rows]
    disturbed = sum(1 for r in runs if r["other"] > DISTURBED)
    if disturbed:
        a("**Disturbed**: in %d of %d runs something else used more than %d%% of a CPU "
          "meanwhile (column *others*, the most of the rounds)." % (
              disturbed, len(runs), 100 * DISTURBED))
        a("")
    a("| workload | server | req/CPU-s | req/s | p50 ms | p99 ms | server CPU | others | errors |")
    a("|---|---|---|---|---|---|---|---|---|")
    for wl in WORKLOADS:
        for n in SERVERS:
            rows = res[wl[0]][n]
            pc, pclo, pchi = med(rows, "per_cpu")
            rps, rlo, rhi = med(rows, "rps")
            extra = ""
            if "alive" in rows[0]:
                extra = " (held %s, alive after %s)" % (
                    "/".join(str(r["held"]) for r in rows), "/".join(str(r["alive"]) for r in rows))
            a("| %s | %s | **%s** (%s-%s) | %s (%s-%s) | %s | %s | %.0f%% | %.0f%% | %d%s |" % (
                wl[1], n, fmt_rate(pc), fmt_rate(pclo), fmt_rate(pchi), fmt_rate(rps),
                fmt_rate(rlo), fmt_rate(rhi), ms(lat(rows, "p50")), ms(lat(rows, "p99")),
                100 * med(rows, "util")[0], 100 * max(r["other"] for r in rows),
                sum(r["errors"] for r in rows), extra))
    a("")

    def pcm(wl, n):
        return med(res[wl][n], "per_cpu")[0]

    def per_round(wl, other):
        return ", ".join("%.2f" % (m["per_cpu"] / o["per_cpu"])
                         for m, o in zip(res[wl]["mote"], res[wl][other]))

    def verdict(ok):
        return "met" if ok else "**not met**"

    a("Ratios of req/CPU-s: of the medians, and (in brackets) of each round's interleaved runs.")
    a("")
    a("| workload | mote/h2o | mote/nginx | bar | |")
    a("|---|---|---|---|---|")
    bars = {"keepalive": 1.25, "pipeline": 1.25, "close": 1.25, "https": 1.0}
    for wl in WORKLOADS:
        k = wl[0]
        rh, rn = pcm(k, "mote") / pcm(k, "h2o"), pcm(k, "mote") / pcm(k, "nginx")
        if k in bars:
            a("| %s | %.2f (%s) | %.2f (%s) | mote/h2o >= %.2f | %s |" % (
                wl[1], rh, per_round(k, "h2o"), rn, per_round(k, "nginx"), bars[k],
                verdict(rh >= bars[k])))
        else:
            kept = {n: pcm(k, n) / pcm("keepalive", n) for n in SERVERS}
            a("| %s | %.2f (%s) | %.2f (%s) | mote >= 0.90 x its 50-conn figure: %.2f "
              "(h2o %.2f, nginx %.2f) | %s |" % (
                  wl[1], rh, per_round(k, "h2o"), rn, per_round(k, "nginx"), kept["mote"],
                  kept["h2o"], kept["nginx"], verdict(kept["mote"] >= 0.9)))
    a("")
    if floors:
        a("The floor of the keep-alive workload: servers that do no HTTP work at all (for each "
          "blank line they read they send mote's response bytes), measured in the same rounds, "
          "right after the three servers. `floor` (bench/floor.c) makes mote's system calls per "
          "request (epoll_wait, recv, send); `floor_uring` (bench/floor_uring.c) uses io_uring "
          "instead (multishot recv into provided buffers, one io_uring_enter per batch). What a "
          "floor spends is the kernel's TCP work, which every server here pays.")
        a("")
        a("| floor | req/CPU-s | floor/h2o | mote/floor |")
        a("|---|---|---|---|")
        for name, runs in floors.items():
            fpc = med(runs, "per_cpu")
            a("| %s | **%s** (%s-%s) | %.2f (%s) | %.2f (%s) |" % (
                name, fmt_rate(fpc[0]), fmt_rate(fpc[1]), fmt_rate(fpc[2]),
                fpc[0] / pcm("keepalive", "h2o"),
                ", ".join("%.2f" % (f["per_cpu"] / h["per_cpu"])
                          for f, h in zip(runs, res["keepalive"]["h2o"])),
                pcm("keepalive", "mote") / fpc[0],
                ", ".join("%.2f" % (m["per_cpu"] / f["per_cpu"])
                          for m, f in zip(res["keepalive"]["mote"], runs))))
        a("")
    if static:
        L.extend(report_static(args, static))
    a("Idle memory: VmRSS of each server's process tree (nginx: master + worker; h2o: its "
      "process, its neverbleed key process and its perl backtrace helper), freshly started, "
      "then holding %d idle keep-alive connections (each served one request; the holder opens "
      "them %d at a time); connection limit %d for all. Median (min-max) of the rounds, KiB."
      % (IDLE_CONNS, HOLDER_CONCURRENCY, MAX_CONNS))
    a("")
    a("| server | RSS at start | RSS with %d idle | growth | bytes/connection | still open |"
      % IDLE_CONNS)
    a("|---|---|---|---|---|---|")
    for n in SERVERS:
        rows = mem[n]
        st, g, h = med(rows, "start"), med(rows, "growth"), med(rows, "held")
        a("| %s (%d proc) | %s (%s-%s) | %s (%s-%s) | **%s** (%s-%s) | %s | %s |" % (
            n, rows[0]["procs"], fmt_rate(st[0]), fmt_rate(st[1]), fmt_rate(st[2]),
            fmt_rate(h[0]), fmt_rate(h[1]), fmt_rate(h[2]), fmt_rate(g[0]), fmt_rate(g[1]),
            fmt_rate(g[2]), fmt_rate(g[0] * 1024 / IDLE_CONNS),
            "/".join(str(r["alive"]) for r in rows)))
    gm, gh, gn = (med(mem[n], "growth")[0] for n in ("mote", "h2o", "nginx"))
    a("")
    a("RSS growth mote/nginx: %.2f (bar <= 0.50: %s); mote/h2o: %.2f." % (
        gm / gn if gn else float("inf"), verdict(gn and gm / gn <= 0.5),
        gm / gh if gh else float("inf")))
    a("")
    a("Peak RSS (VmHWM, summed over the process tree) after all the throughput runs above, "
      "10,000 connections included: %s." % ", ".join(
          "%s %s KiB" % (n, fmt_rate(info["hwm"][n])) for n in SERVERS))
    a("")
    if ws:
        L.extend(report_ws(args, ws))
    if sys_calls:
        a("System calls per request (`strace -c -f` on the server's process tree over a 2 s wrk "
          "run after the measurements; strace slows the servers, so only the counts are meant):")
        a("")
        a("| workload | server | total | the calls (per request) |")
        a("|---|---|---|---|")
        for mode, title in (("keepalive", "keep-alive"), ("close", "new connection per request")):
            for n in SERVERS:
                c = dict(sys_calls[(mode, n)])
                total = c.pop("total", 0)
                a("| %s | %s | **%.2f** | %s |" % (title, n, total, ", ".join(
                    "%s %.2f" % (k, v) for k, v in sorted(c.items(), key=lambda kv: -kv[1])
                    if v >= 0.01)))
        a("")
    if instr:
        a(instructions_text(args, instr, verdict))
        a("")
    if parser:
        a("Parser micro-benchmark (bench/parser_bench.c, all three built -O2, pinned to CPU %s): "
          "%s; each parser locates the request line and every field and is reset for the next "
          "request. Median of %d rounds (min-max)." % (SERVER_CPU, corpus.replace("corpus: ", ""),
                                                       args.parser_rounds))
        a("")
        a("| parser | MB/s | ns/request | mote's throughput / this |")
        a("|---|---|---|---|")
        for n in ["mote", "http-parser", "picohttpparser"]:
            v = parser[n]
            a("| %s | **%.0f** (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2f |" % (
                n, v[0], v[1], v[2], v[3], v[4], v[5], parser["mote"][0] / v[0]))
        rhp = parser["mote"][0] / parser["http-parser"][0]
        rpi = parser["mote"][0] / parser["picohttpparser"][0]
        a("")
        a("Bars: >= 3x libhttp-parser: %.2fx, %s; >= 1.0x picohttpparser: %.2fx, %s." % (
            rhp, verdict(rhp >= 3), rpi, verdict(rpi >= 1)))
        a("")
    return "\n".join(L)


def report_ws(args, ws):
    """The WebSocket section of the report (Markdown lines)."""
    L = []
    a = L.append
    if "failed" in ws:
        return ["WebSocket: **the measurement failed**: %s." % ws["failed"], ""]
    runs, missing, idle = ws["runs"], ws["missing"], ws["idle"]

    def verdict(ok):
        return "met" if ok else "**not met**"

    def ok_rows(rows):
        return [r for r in rows if "error" not in r]

    a("WebSocket echo: each server pinned to CPU %s, bench/ws_load.c (one thread, epoll) pinned "
      "to CPU %s, loopback. %d sockets, each with %d binary message%s in flight: a masked frame "
      "of 32 B or 16 KiB, whose echo is checked byte for byte before the next is sent. No "
      "compression: ws_load offers no extension. **msg/CPU-s** = echoes in the %d s measured "
      "window (after %d s of warm-up on the same sockets) / the server's utime+stime over that "
      "window (whole process, every thread; ws_load marks the window's edges). In each round "
      "every workload runs against each server in turn (the order rotating by round); median of "
      "the rounds, (min-max) in brackets; *others*: the most CPU anything else took meanwhile, "
      "of the rounds. mote: mote-sample's %s; ws: the "
      "npm `ws` package %s (%s) on Node.js %s, `%s/server.js` (perMessageDeflate off, each "
      "message sent back with its type)."
      % (SERVER_CPU, CLIENT_CPU, WS_CONNS, WS_DEPTH, "" if WS_DEPTH == 1 else "s",
         args.duration, WS_WARMUP_S, WS_PATH, ws["ws_version"],
         "its default install, without the optional bufferutil"
         if ws["bufferutil"] == "not installed" else "with bufferutil " + ws["bufferutil"],
         ws["node"], os.path.relpath(os.path.abspath(args.ws_peer), ROOT)
         if os.path.abspath(args.ws_peer).startswith(ROOT + os.sep) else args.ws_peer))
    a("")
    a("| workload | server | msg/CPU-s | msg/s | server CPU | ws_load CPU | others |")
    a("|---|---|---|---|---|---|---|")
    for key, title, _, _ in WS_WORKLOADS:
        for n in WS_SERVERS:
            rows = runs[key][n]
            good = ok_rows(rows)
            if n in missing:
                a("| %s | %s | not available (%s) | | | | |" % (title, n, missing[n]))
            elif not good:
                a("| %s | %s | **failed**: %s | | | | |" % (title, n, rows[0]["error"]))
            else:
                pc, ms_ = med(good, "per_cpu"), med(good, "mps")
                failed = len(rows) - len(good)
                a("| %s | %s | **%s** (%s-%s)%s | %s (%s-%s) | %.0f%% | %.0f%% | %.0f%% |" % (
                    title, n, fmt_rate(pc[0]), fmt_rate(pc[1]), fmt_rate(pc[2]),
                    " (%d of %d runs failed: %s)" % (
                        failed, len(rows), next(r["error"] for r in rows if "error" in r))
                    if failed else "",
                    fmt_rate(ms_[0]), fmt_rate(ms_[1]), fmt_rate(ms_[2]),
                    100 * med(good, "util")[0], 100 * med(good, "client")[0],
                    100 * max(r["other"] for r in good)))
    a("")
    a("Ratio of msg/CPU-s: of the medians, and (in brackets) of each round's interleaved runs.")
    a("")
    a("| workload | mote/ws | bar | |")
    a("|---|---|---|---|")
    for key, title, _, bar in WS_WORKLOADS:
        m, w = ok_rows(runs[key]["mote"]), ok_rows(runs[key]["ws"])
        bar_txt = "mote/ws >= %.2f" % bar if bar else "none"
        if not m or not w:
            why = "mote" if not m else "ws"
            why += " not available" if why in missing else " failed"
            a("| %s | n/a (%s) | %s | %s |" % (title, why, bar_txt,
                                               "**not measured**" if bar else ""))
            continue
        ratio = med(m, "per_cpu")[0] / med(w, "per_cpu")[0]
        rounds = ", ".join("%.2f" % (x["per_cpu"] / y["per_cpu"])
                           for x, y in zip(runs[key]["mote"], runs[key]["ws"])
                           if "error" not in x and "error" not in y)
        mote_failed = len(runs[key]["mote"]) - len(m)
        a("| %s | %.2f (%s) | %s | %s |" % (
            title, ratio, rounds, bar_txt, "" if not bar else verdict(ratio >= bar)
            if not mote_failed else "**not met** (mote failed %d run(s))" % mote_failed))
    a("")
    if not idle["mote-http"]:
        a("Idle WebSockets: not measured (mote: %s)." % missing.get("mote", "failed"))
        a("")
        return L
    a("Idle WebSockets against idle HTTP connections: VmRSS of a freshly started server, then "
      "holding %d idle connections (bench/holder.py, %d at a time in progress): HTTP keep-alive "
      "connections that each served one request, or WebSockets whose handshake is done and "
      "nothing more (no extension offered, so none negotiated). A fresh server for each kind. "
      "Median (min-max) of the rounds; bytes/connection = growth / connections held."
      % (WS_IDLE_CONNS, HOLDER_CONCURRENCY))
    a("")
    a("| server | idle connections | RSS at start KiB | RSS with them KiB | growth KiB "
      "| bytes/connection | still open |")
    a("|---|---|---|---|---|---|---|")
    per = {}
    for key, srv, kind in (("mote-http", "mote", "HTTP keep-alive"),
                           ("mote-ws", "mote", "WebSocket"), ("ws-ws", "ws", "WebSocket")):
        rows = idle[key]
        if not rows:
            if key == "ws-ws":
                a("| ws | WebSocket | not available (%s) | | | | |" % missing.get(
                    "ws", "it failed to start"))
            continue
        for r in rows:
            r["per_conn"] = r["growth"] * 1024.0 / r["ok"] if r["ok"] else float("nan")
        st, h, g, b = (med(rows, k) for k in ("start", "held", "growth", "per_conn"))
        per[key] = b[0]
        a("| %s | %s | %s (%s-%s) | %s (%s-%s) | %s (%s-%s) | **%s** (%s-%s) | %s |" % (
            srv, kind, fmt_rate(st[0]), fmt_rate(st[1]), fmt_rate(st[2]), fmt_rate(h[0]),
            fmt_rate(h[1]), fmt_rate(h[2]), fmt_rate(g[0]), fmt_rate(g[1]), fmt_rate(g[2]),
            fmt_rate(b[0]), fmt_rate(b[1]), fmt_rate(b[2]),
            "/".join(str(r["alive"]) for r in rows) + " of %d" % WS_IDLE_CONNS))
    a("")
    full = all(r["ok"] == WS_IDLE_CONNS and r["alive"] == WS_IDLE_CONNS
               for k in ("mote-http", "mote-ws") for r in idle[k])
    bar = per["mote-http"] + WS_IDLE_SLACK
    a("Bar: bytes per idle WebSocket <= bytes per idle HTTP connection + %d: mote %s <= %s + %d "
      "= %s: %s%s." % (WS_IDLE_SLACK, fmt_rate(per["mote-ws"]), fmt_rate(per["mote-http"]),
                       WS_IDLE_SLACK, fmt_rate(bar), verdict(per["mote-ws"] <= bar and full),
                       "" if full else " (not every connection was held open)"))
    a("")
    return L


def idle_table(what, idle, names):
    """Markdown lines: bytes per idle connection of each server (median over the rounds)."""
    L = ["| server | bytes per idle %s connection | held / alive |" % what, "|---|---|---|"]
    for n in names:
        rows = [r for r in idle[n] if r["ok"]]
        if not rows:
            L.append("| %s | - | none held |" % n)
            continue
        per = statistics.median(r["growth"] * 1024 / r["ok"] for r in rows)
        L.append("| %s | **%s** | %d / %d |" % (n, fmt_rate(per), rows[-1]["ok"],
                                                 rows[-1]["alive"]))
    return L + [""]


def report_h2(args, h2):
    """The HTTP/2 section of the report (Markdown lines)."""
    L = []
    a = L.append
    if "failed" in h2:
        return ["HTTP/2: **the measurement failed**: %s." % h2["failed"], ""]
    res, idle = h2["res"], h2["idle"]
    a("HTTP/2: h2load (`-t1 -c%d -m%d -D%d`, pinned to CPU %s) asks for `/index.html`, %d "
      "connections with %d streams in flight on each, from each server pinned to CPU %s: mote "
      "(HTTP/2 on by default), h2o (on by default: ALPN on TLS, prior knowledge on plain) and "
      "nginx with `http2` on both listeners; TLS as above (TLS 1.2, %s). **Requests per "
      "server-CPU-second**, median (min-max) of %d rounds; a run where any request failed or "
      "was not 2xx counts as failed, not as a figure."
      % (H2_CONNS, H2_STREAMS, args.duration, CLIENT_CPU, H2_CONNS, H2_STREAMS, SERVER_CPU,
         TLS_CIPHER, args.rounds))
    a("")
    a("| workload | mote | h2o | nginx | mote / h2o | mote / nginx |")
    a("|---|---|---|---|---|---|")
    bars = []
    for key, title, _ in H2_WORKLOADS:
        cells, medians = [], {}
        for n in SERVERS:
            rows = [r for r in res[key][n] if "error" not in r]
            failed = len(res[key][n]) - len(rows)
            if not rows:
                cells.append("failed: %s" % res[key][n][-1]["error"] if res[key][n] else "-")
                continue
            v = med(rows, "per_cpu")
            medians[n] = v[0]
            cells.append("**%s** (%s-%s)%s" % (fmt_rate(v[0]), fmt_rate(v[1]), fmt_rate(v[2]),
                                               ", %d failed" % failed if failed else ""))
        ratios = []
        for other, bar in H2_BARS.items():
            if "mote" in medians and other in medians:
                x = medians["mote"] / medians[other]
                ratios.append("%.2f" % x)
                bars.append("%s vs %s >= %.1fx: %.2fx, %s" % (
                    key, other, bar, x, "met" if x >= bar else "**not met**"))
            else:
                ratios.append("-")
                bars.append("%s vs %s: no figure" % (key, other))
        a("| %s | %s | %s |" % (title, " | ".join(cells), " | ".join(ratios)))
    a("")
    a("Bars: " + "; ".join(bars) + ".")
    a("")
    a("Idle HTTP/2 connections (each has sent the preface, an empty SETTINGS and one GET, "
      "been answered and had its SETTINGS acknowledged; the server freshly started): RSS "
      "growth of the server's process tree with %d of them, per connection, median of %d "
      "rounds." % (H2_IDLE_CONNS, args.rounds))
    a("")
    L += idle_table("HTTP/2", idle, SERVERS)
    return L


def report_static(args, st):
    """The static-file section of the report (Markdown lines)."""
    L = []
    a = L.append
    if "failed" in st:
        return ["Static files: **the measurement failed**: %s." % st["failed"], ""]
    res, pair, missing, heads, emb = st["res"], st["pair"], st["missing"], st["heads"], st["emb"]

    def verdict(ok):
        return "met" if ok else "**not met**"

    def ok_rows(rows):
        return [r for r in rows if "error" not in r]

    a("Static files: the same files at the same URLs from all three, each server freshly "
      "started for this section and pinned to CPU %s, wrk to CPU %s: %s (the same %d bytes as "
      "`/index.html`), `%s` (64 KiB) and `%s` (100 MiB, random bytes), in one directory served "
      "at `%s`: mote `mote-sample --root DIR`; nginx `location %s { alias DIR/; }` with "
      "`sendfile on; tcp_nopush on; open_file_cache max=1000 inactive=20s; "
      "open_file_cache_valid 30s;` (the rest of its configuration as for `/index.html`); h2o "
      "`file.dir: DIR` on `%s` (h2o 2.2 has no sendfile: pread and writev). No compressed "
      "variants exist and wrk asks for none. wrk keep-alive (`-t1`): 50 connections for the "
      "small files, **req/CPU-s**; %d connections for the 100 MiB file, **MB/CPU-s** = bytes "
      "wrk read (10^6 bytes) / the server's utime+stime (each response read whole, the next "
      "asked for on the same connection). %d s per run; every workload against each server in "
      "turn, the order rotating by round; median (min-max) of the rounds. HTTPS: TLS 1.2, %s, "
      "for all three (none of them uses sendfile over TLS)."
      % (SERVER_CPU, CLIENT_CPU, "`%s%s`" % (FILES_PREFIX, SMALL_FILE), st["body_len"],
         FILES_PREFIX + STATIC_FILES[1][0], FILES_PREFIX + STATIC_FILES[2][0], FILES_PREFIX,
         FILES_PREFIX, FILES_PREFIX.rstrip("/"), BIG_CONNS, st["seconds"], TLS_CIPHER))
    if st["tls"]:
        a("Negotiated with Python's OpenSSL: %s." % "; ".join(
            "%s %s" % (n, st["tls"][n]) for n in SERVERS if n in st["tls"]))
    a("")
    if "mote" in missing:
        a("mote: **not measured**: %s." % missing["mote"])
        a("")
    runs = [r for wl in res.values() for rows in wl.values() for r in ok_rows(rows)] + \
        [r for rows in pair.values() for r in ok_rows(rows)]
    disturbed = sum(1 for r in runs if r["other"] > DISTURBED)
    if disturbed:
        a("**Disturbed**: in %d of %d runs something else used more than %d%% of a CPU "
          "meanwhile (column *others*, the most of the rounds)." % (
              disturbed, len(runs), 100 * DISTURBED))
        a("")
    a("| workload | server | req/CPU-s (MB/CPU-s) | req/s (MB/s) | p50 ms | p99 ms "
      "| server CPU | others | errors |")
    a("|---|---|---|---|---|---|---|---|---|")
    fig = {}  # (key, server): (median figure, [each round's figure or None])

    def row(title, n, rows, unit):
        good = ok_rows(rows)
        if not rows:
            a("| %s | %s | not available | | | | | | |" % (title, n))
            return
        if not good:
            a("| %s | %s | **failed**: %s | | | | | | |" % (title, n, rows[0]["error"]))
            return
        k, rk = ("per_cpu", "rps") if unit == "req" else ("mb_cpu", "mbps")
        pc, rt = med(good, k), med(good, rk)
        failed = len(rows) - len(good)
        a("| %s | %s | **%s** (%s-%s)%s | %s (%s-%s) | %s | %s | %.0f%% | %.0f%% | %d |" % (
            title, n, fmt_rate(pc[0]), fmt_rate(pc[1]), fmt_rate(pc[2]),
            " (%d of %d runs failed: %s)" % (failed, len(rows), next(
                r["error"] for r in rows if "error" in r)) if failed else "",
            fmt_rate(rt[0]), fmt_rate(rt[1]), fmt_rate(rt[2]), ms(lat(good, "p50")),
            ms(lat(good, "p99")), 100 * med(good, "util")[0],
            100 * max(r["other"] for r in good), sum(r["errors"] for r in good)))
        return pc[0], [None if "error" in r else r[k] for r in rows], failed

    for key, title, _, _, _, unit, _ in STATIC_WORKLOADS:
        if unit == "MB":
            title += " (MB)"
        for n in SERVERS:
            f = row(title, n, res[key][n], unit)
            if f:
                fig[(key, n)] = f
    a("")
    if heads:
        names = [t for _, _, t in STATIC_FILES]
        a("Response heads (plain HTTP, a GET without conditions), bytes for the %s files: %s." % (
            " / ".join(names), "; ".join(
                "%s %s" % (n, " / ".join(str(len(heads[n][f])) for f, _, _ in STATIC_FILES))
                for n in SERVERS if n in heads)))
        fields = {}
        for n in SERVERS:
            if n in heads:
                lines = heads[n][SMALL_FILE].split("\r\n")[1:]
                fields[n] = [ln.split(":", 1)[0] for ln in lines if ":" in ln]
        want = ("etag", "last-modified", "accept-ranges")
        lacking = {n: [w for w in want if w not in (x.lower() for x in f)]
                   for n, f in fields.items()}
        a("ETag, Last-Modified and Accept-Ranges: %s. The fields of each (%s file): %s." % (
            "sent by %s" % ("all three" if len(fields) == 3 else " and ".join(fields))
            if not any(lacking.values()) else "**not sent by** " + "; ".join(
                "%s: %s" % (n, ", ".join(v)) for n, v in lacking.items() if v),
            STATIC_FILES[0][2], "; ".join("%s: %s" % (n, ", ".join(f))
                                          for n, f in fields.items())))
        a("")

    a("Ratios of req/CPU-s (MB/CPU-s for 100 MiB): of the medians, and (in brackets) of each "
      "round's interleaved runs.")
    a("")
    a("| workload | mote/h2o | mote/nginx | bar | |")
    a("|---|---|---|---|---|")

    def ratio(key, other):
        if (key, "mote") not in fig or (key, other) not in fig:
            return None, "n/a"
        m, o = fig[(key, "mote")], fig[(key, other)]
        rounds = ", ".join("%.2f" % (x / y) for x, y in zip(m[1], o[1])
                           if x is not None and y is not None)
        return m[0] / o[0], "%.2f (%s)" % (m[0] / o[0], rounds)

    for key, title, _, _, _, _, bars in STATIC_WORKLOADS:
        (rh, th), (rn, tn) = ratio(key, "h2o"), ratio(key, "nginx")
        bar = " and ".join("mote/%s >= %.2f" % (o, b) for o, b in bars.items()) or \
            "none (beside h2o)"
        if not bars:
            v = ""
        elif (key, "mote") not in fig:
            v = "**not measured**"
        elif fig[(key, "mote")][2]:
            v = "**not met** (mote failed %d run(s))" % fig[(key, "mote")][2]
        else:
            got = {"h2o": rh, "nginx": rn}
            v = verdict(all(got[o] is not None and got[o] >= b for o, b in bars.items()))
        a("| %s | %s | %s | %s | %s |" % (title, th, tn, bar, v))
    a("")

    ek = "compiled-in `%s`" % emb["path"]
    if "embedded" in missing:
        a("Compiled-in: **not measured**: %s (bar: compiled-in >= %.2f x in-memory)." % (
            missing["embedded"], EMBEDDED_BAR))
        a("")
        return L
    a("Compiled-in against in-memory, mote only: mote-sample's compiled-in (embedded) `%s` "
      "(%d bytes%s; response head %d bytes) and its in-memory `/index.html` (the keep-alive "
      "workload's page; head %d bytes), keep-alive, 50 connections, back to back in every round "
      "(the order alternating), on the mote of this section." % (
          emb["path"], emb["len"], ", the same bytes as `/index.html`" if emb["same"]
          else ", **not the bytes of `/index.html`**", emb["head"], emb["index_head"]))
    a("")
    a("| workload | req/CPU-s | req/s | p50 ms | p99 ms | server CPU | others | errors |")
    a("|---|---|---|---|---|---|---|---|")
    got = {}
    for key, title in (("inmem", "in-memory `/index.html`"), ("embedded", ek)):
        rows = pair[key]
        good = ok_rows(rows)
        if not good:
            a("| %s | **failed**: %s | | | | | | |" % (title, rows[0]["error"] if rows else "-"))
            continue
        pc, rt = med(good, "per_cpu"), med(good, "rps")
        got[key] = pc[0]
        a("| %s | **%s** (%s-%s) | %s (%s-%s) | %s | %s | %.0f%% | %.0f%% | %d |" % (
            title, fmt_rate(pc[0]), fmt_rate(pc[1]), fmt_rate(pc[2]), fmt_rate(rt[0]),
            fmt_rate(rt[1]), fmt_rate(rt[2]), ms(lat(good, "p50")), ms(lat(good, "p99")),
            100 * med(good, "util")[0], 100 * max(r["other"] for r in good),
            sum(r["errors"] for r in good)))
    a("")
    if len(got) == 2:
        rounds = ", ".join("%.2f" % (e["per_cpu"] / i["per_cpu"])
                           for e, i in zip(pair["embedded"], pair["inmem"])
                           if "error" not in e and "error" not in i)
        r = got["embedded"] / got["inmem"]
        failed = any("error" in x for x in pair["embedded"])
        a("Bar: compiled-in >= %.2f x in-memory: %.2f (%s): %s." % (
            EMBEDDED_BAR, r, rounds,
            "**not comparable** (not the same bytes)" if not emb["same"] else
            "**not met** (a run failed)" if failed else verdict(r >= EMBEDDED_BAR)))
    else:
        a("Bar: compiled-in >= %.2f x in-memory: **not measured**." % EMBEDDED_BAR)
    a("")
    return L


def busy_processes():
    """Other processes using much CPU right now (e.g. fuzzers), to flag a run as not quiet."""
    p = subprocess.run(["ps", "-eo", "pid,pcpu,comm", "--no-headers"], capture_output=True,
                       text=True)
    hot = []
    for line in p.stdout.splitlines():
        f = line.split(None, 2)
        if len(f) == 3 and float(f[1]) > 20 and int(f[0]) != os.getpid():
            hot.append("%s(%s)" % (f[2], f[0]))
    return ", ".join(hot)


def start_servers(args, work, info):
    """Starts the three servers, all serving mote's own /index.html byte for byte, and checks
    that they do (HTTP and HTTPS); notes their response heads and TLS parameters in info."""
    servers = {n: make_server(n, work, args) for n in SERVERS}
    # the page all three serve: mote's own /index.html, byte for byte
    servers["mote"].start()
    _, _, body = fetch("http://127.0.0.1:%d/index.html" % servers["mote"].port)
    os.makedirs(work + "/docroot")
    with open(work + "/docroot/index.html", "wb") as f:
        f.write(body)
    for n in ("h2o", "nginx"):
        servers[n].start()
    info["body_len"], info["head"], info["tls"] = len(body), {}, {}
    for n in SERVERS:
        s = servers[n]
        for url in ("http://127.0.0.1:%d/index.html" % s.port,
                    "https://127.0.0.1:%d/index.html" % s.tls_port):
            status, _, b = fetch(url)
            if status != 200 or b != body:
                raise RuntimeError("%s serves a different page at %s" % (n, url))
        info["head"][n] = whole_response(s.port).find(b"\r\n\r\n") + 4
        info["tls"][n] = tls_params(s.tls_port)
        log("%s ready: http %d, https %d (%s)" % (n, s.port, s.tls_port, info["tls"][n]))

    return servers


# ---------- strace ----------

def syscalls_per_request(server, mode, seconds):
    """{syscall: calls per request} of the server's process tree over a wrk run under strace."""
    url = "http://127.0.0.1:%d/index.html" % server.port
    out = os.path.join(server.work, "strace-%s-%s.txt" % (server.name, mode))
    st = spawn(["strace", "-c", "-f", "-o", out] +
               [a for q in tree(server.proc.pid) for a in ("-p", str(q))],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached
        w = run_wrk(url, mode, seconds)
    finally:
        os.kill(st.pid, signal.SIGINT)
        try:
            st.wait(30)
        finally:
            stop(st)
    calls = {}
    with open(out) as f:
        for line in f:
            fl = line.split()
            if len(fl) >= 5 and fl[3].isdigit():
                calls[fl[-1]] = int(fl[3]) / w["requests"]
            elif len(fl) >= 4 and fl[-1] == "total":
                calls["total"] = int(fl[2]) / w["requests"]
    return calls


def strace_mode(args, servers):
    for n in SERVERS:
        run_wrk("http://127.0.0.1:%d/index.html" % servers[n].port, args.strace, 1)  # warm
        calls = syscalls_per_request(servers[n], args.strace, args.duration)
        print("== %s, %s" % (n, args.strace))
        for name, v in sorted(calls.items(), key=lambda kv: -kv[1]):
            print("  %-16s %8.3f calls/request" % (name, v))


# ---------- main ----------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mote", required=True, help="the mote-sample binary")
    ap.add_argument("--parser-bench", help="the parser_bench binary (omit to skip)")
    ap.add_argument("--floor", action="append", default=[],
                    help="a floor binary (bench/floor.c, floor_uring.c), measured with the "
                    "keep-alive workload; may be given more than once")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--parser-rounds", type=int, default=7)
    ap.add_argument("--parser-seconds", type=float, default=0.3)
    ap.add_argument("--out", help="write the table here too (Markdown)")
    ap.add_argument("--no-strace", action="store_true",
                    help="skip the system-call counts (strace -c) of the report")
    ap.add_argument("--no-instructions", action="store_true",
                    help="skip the instructions per request (callgrind) of the report")
    ap.add_argument("--instructions-requests", type=int, default=20000,
                    help="requests of each instructions run (the first run serves a tenth)")
    ap.add_argument("--strace", choices=["keepalive", "pipeline", "close"],
                    help="instead: system calls per request in this wrk mode, under strace -c -f")
    ap.add_argument("--ws-load", help="the ws_load binary (bench/ws_load.c): runs the WebSocket "
                    "workloads against mote-sample's %s and the ws peer (omit to skip)" % WS_PATH)
    ap.add_argument("--ws-peer", default=os.path.join(HERE, "ws_peer"),
                    help="the folder of the ws peer (server.js, its node_modules)")
    ap.add_argument("--ws-only", action="store_true",
                    help="run only the WebSocket part and print its section (--out is not "
                    "written)")
    ap.add_argument("--no-static", action="store_true",
                    help="skip the static-file section (files from %s, compiled-in content)"
                    % FILES_PREFIX)
    ap.add_argument("--static-duration", type=int, default=STATIC_DURATION,
                    help="seconds per run of the static section (%d; --duration when that is "
                    "shorter)" % STATIC_DURATION)
    ap.add_argument("--embedded-path", default=EMBEDDED_PATH,
                    help="mote-sample's compiled-in copy of /index.html (%s)" % EMBEDDED_PATH)
    ap.add_argument("--mote-openssl", help="mote-sample built with -DMOTE_TLS=openssl, for the "
                    "TLS section (omitted: mote on mbedTLS only)")
    ap.add_argument("--no-tls", action="store_true", help="skip the TLS section (s_time, wrk)")
    ap.add_argument("--only", choices=["static", "ws", "h2", "tls"],
                    help="run only this section and print it (--out is not written): static "
                    "files and compiled-in content, the WebSocket part (as --ws-only), or "
                    "HTTP/2 (h2load), or TLS handshakes and TLS 1.3 keep-alive")
    ap.add_argument("--no-h2", action="store_true", help="skip the HTTP/2 section (h2load)")
    args = ap.parse_args()
    if args.only == "ws":
        args.ws_only = True
    if args.ws_only and not args.ws_load:
        ap.error("--ws-only needs --ws-load")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    raise_nofile()
    started = datetime.datetime.utcnow()
    info = {"t0": time.monotonic(), "busy": busy_processes()}
    work = tempfile.mkdtemp(prefix="mote-bench.")
    os.chmod(work, 0o755)
    try:
        make_cert(work)
        if args.only in ("static", "h2", "tls"):
            static = args.only == "static"
            run, rep = {"static": (run_static, report_static), "h2": (run_h2, report_h2),
                        "tls": (run_tls, report_tls)}[args.only]
            st = run(args, work)
            seconds = st["seconds"] if static else args.duration
            L = ["# mote %s benchmark (bench/run.py --only %s)" % (
                {"static": "static-file", "h2": "HTTP/2", "tls": "TLS"}[args.only], args.only), "",
                 "On %s UTC, %d round(s), %d s per run; took %.0f s." % (
                     started.strftime("%Y-%m-%d %H:%M"), args.rounds, seconds,
                     time.monotonic() - info["t0"]), ""]
            if args.rounds < 3 or seconds < (STATIC_DURATION if static else 5):
                L += ["**Smoke run** (short or few rounds): not a measurement.", ""]
            busy = busy_processes()
            if info["busy"] or busy:
                L += ["**Not quiet**: other CPU-heavy processes were running: %s." % ", ".join(
                    x for x in (info["busy"], busy) if x), ""]
            L += ["- %s: %s" % kv for kv in versions(args)
                  if kv[0] in ("machine", "mote", "mbedTLS", "h2o", "nginx", "OpenSSL", "wrk",
                               "h2load")]
            L += [""] + rep(args, st)
            print("\n".join(L))
            if args.out:
                log("--only %s: the section is printed; %s is left as it was" % (args.only,
                                                                                 args.out))
            return 0
        if args.ws_only:
            ws = run_ws(args, work)
            L = ["# mote WebSocket benchmark (bench/run.py --ws-only)", "",
                 "On %s UTC, %d round(s), %d s per run; took %.0f s." % (
                     started.strftime("%Y-%m-%d %H:%M"), args.rounds, args.duration,
                     time.monotonic() - info["t0"]), ""]
            busy = busy_processes()
            if info["busy"] or busy:
                L += ["**Not quiet**: other CPU-heavy processes were running: %s." % ", ".join(
                    x for x in (info["busy"], busy) if x), ""]
            L += ["- %s: %s" % kv for kv in versions(args)
                  if kv[0] in ("machine", "mote", "Node.js", "ws (npm)")]
            L += [""] + report_ws(args, ws)
            print("\n".join(L))
            if args.out:
                log("--ws-only: the section is printed; %s is left as it was" % args.out)
            return 0
        servers = start_servers(args, work, info)
        if args.strace:
            strace_mode(args, servers)
            return 0
        floors = [Floor(os.path.basename(b), work, b) for b in args.floor]
        floor_runs = {f.name: [] for f in floors}
        if floors:
            with open(os.path.join(work, "floor-response.bin"), "wb") as f:
                f.write(whole_response(servers["mote"].port))
        for f in floors:
            f.start()
            run_wrk("http://127.0.0.1:%d/index.html" % f.port, "keepalive", 1)
        for n in SERVERS:  # warm-up, not measured
            run_wrk("http://127.0.0.1:%d/index.html" % servers[n].port, "keepalive", 1)
            run_wrk("https://127.0.0.1:%d/index.html" % servers[n].tls_port, "keepalive", 1)

        res = {wl[0]: {n: [] for n in SERVERS} for wl in WORKLOADS}
        for r in range(args.rounds):
            order = SERVERS[r % 3:] + SERVERS[:r % 3]
            for wl in WORKLOADS:
                for n in order:
                    m = measure(servers[n], wl, args.duration)
                    res[wl[0]][n].append(m)
                    log("round %d %-9s %-5s %9.0f req/CPU-s %8.0f req/s cpu %.2fs p50 %s ms "
                        "p99 %s ms err %d others %.0f%%%s" % (
                            r + 1, wl[0], n, m["per_cpu"], m["rps"], m["cpu"], ms(m["p50"]),
                            ms(m["p99"]), m["errors"], 100 * m["other"],
                            " alive %d/%d" % (m["alive"], m["held"]) if "held" in m else ""))
                if wl[0] != "keepalive":
                    continue
                for f in floors:
                    m = measure(f, wl, args.duration)
                    floor_runs[f.name].append(m)
                    log("round %d keepalive %s %9.0f req/CPU-s" % (r + 1, f.name, m["per_cpu"]))
        info["hwm"] = {n: hwm_kib(servers[n].proc.pid) for n in SERVERS}
        sys_calls = {}
        if not args.no_strace:
            for mode in ("keepalive", "close"):
                for n in SERVERS:
                    sys_calls[(mode, n)] = syscalls_per_request(servers[n], mode, 2)
        for s in servers.values():
            s.stop()
        for f in floors:
            f.stop()

        static = None if args.no_static else run_section("static", run_static, args, work)
        h2 = None if args.no_h2 else run_section("HTTP/2", run_h2, args, work)
        tls = None if args.no_tls else run_section("TLS", run_tls, args, work)

        mem = {n: [] for n in SERVERS}
        for r in range(args.rounds):
            for n in SERVERS:
                m = idle_memory(make_server(n, work, args))
                mem[n].append(m)
                log("round %d idle-mem  %-5s start %d KiB, with %d idle %d KiB (+%d), alive %d" % (
                    r + 1, n, m["start"], m["ok"], m["held"], m["growth"], m["alive"]))

        ws = run_section("websocket", run_ws, args, work) if args.ws_load else None

        parser, corpus = (None, "")
        if args.parser_bench:
            parser, corpus = run_parser_bench(args)
            log("parser: " + ", ".join("%s %.0f MB/s" % (k, v[0]) for k, v in parser.items()))

        instr = {} if args.no_instructions else run_instructions(args)

        busy = busy_processes()
        if busy and busy != info["busy"]:
            info["busy"] = ", ".join(x for x in (info["busy"], busy) if x)
        text = report(args, res, floor_runs, mem, sys_calls, parser, corpus, instr, info,
                      versions(args), started, ws, static)
        if h2:
            text += "\n\n" + "\n".join(report_h2(args, h2))
        if tls:
            text += "\n\n" + "\n".join(report_tls(args, tls))
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
            log("wrote " + args.out)
        return 0
    finally:
        stop_all()
        if not os.environ.get("BENCH_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
