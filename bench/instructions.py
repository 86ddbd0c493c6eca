#!/usr/bin/env python3
"""User-space instructions per request, counted by valgrind's callgrind: the same counts for the
same binary and requests, whatever else the machine is doing.

    bench/instructions.py [--requests N] [--mode MODE] [--server mote|h2o] [--keep DIR]
                          MOTE_SAMPLE

The server runs under callgrind twice, serving N/10 and then N requests of one workload (GET
/index.html from one client connection at a time); the difference of the two totals over the
difference of the counts is the figure per request, with start-up and shutdown removed.

Modes: keep-alive (wrk's request, `Host` alone, on one connection), browser (the same on one
connection, with the 12 fields a browser sends: BROWSER_REQUEST), pipelined (wrk's request, 16
at a time) and close (a new connection per request).

--server h2o measures Debian's h2o the same way (`num-threads: 1`, its `file.dir` serving an
index.html with MOTE_SAMPLE's /index.html bytes, which is started once, plainly, to fetch them);
h2o runs under callgrind with --trace-children=yes and the totals of all its processes are
added up. --keep DIR keeps the callgrind files there, for callgrind_annotate."""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MODES = ("keep-alive", "browser", "pipelined", "close")
SERVERS = ("mote", "h2o")
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n"
CLOSE_REQUEST = b"GET /index.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
# what Chromium sends for a link followed from another page of the same site, 12 fields
BROWSER_REQUEST = (
    b"GET /index.html HTTP/1.1\r\n"
    b"Host: bench\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    b"Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Connection: keep-alive\r\n"
    b"Referer: http://bench/\r\n"
    b"Cookie: _ga=GA1.1.1284470235.1731412345; session_id=8f3c2a7e91b44d0fa6c5e2d71b9a0c33; "
    b"theme=dark; lang=en-GB\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"\r\n")


def read_response(sock, buf):
    """Reads one Content-Length response from sock; returns the bytes left over."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed mid-response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError("not a 200 response: %r" % head[:40])
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed mid-body")
        rest += chunk
    return rest[length:]


def client(port, n, mode):
    if mode == "close":
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(CLOSE_REQUEST)
                read_response(s, b"")
        return
    batch = 16 if mode == "pipelined" else 1
    request = BROWSER_REQUEST if mode == "browser" else REQUEST
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done, buf = 0, b""
        while done < n:
            k = min(batch, n - done)
            s.sendall(request * k)
            for _ in range(k):
                buf = read_response(s, buf)
            done += k


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def start_mote(cmd):
    """Starts mote-sample (under cmd's prefix) on a free port; returns (process, port)."""
    proc = subprocess.Popen(cmd + ["--bind", "127.0.0.1", "--port", "0", "--tls-port", "off",
                                   "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"Address: .*, port: (\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    proc.wait()
    sys.exit("instructions: %s did not start" % cmd[-1])


def mote_page(sample):
    """The bytes of mote-sample's /index.html."""
    proc, port = start_mote([sample])
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(CLOSE_REQUEST)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.partition(b"\r\n\r\n")[2]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def h2o_config(workdir, page):
    """Writes a docroot with index.html = page and an h2o configuration serving it, as
    bench/run.py's H2o does for plain HTTP; returns (configuration path, port)."""
    docroot = os.path.join(workdir, "docroot")
    os.makedirs(docroot, exist_ok=True)
    with open(os.path.join(docroot, "index.html"), "wb") as f:
        f.write(page)
    port = free_port()
    conf = os.path.join(workdir, "h2o.conf")
    with open(conf, "w") as f:
        f.write("""num-threads: 1
max-connections: 16384
http1-request-timeout: 120
{user}pid-file: {w}/h2o.pid
error-log: {w}/h2o-error.log
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  default:
    paths:
      /:
        file.dir: {docroot}
""".format(w=workdir, port=port, docroot=docroot,
           user="user: root\n" if os.geteuid() == 0 else ""))
    return conf, port


def callgrind_totals(pattern):
    """The sum of the totals of the callgrind files matching pattern."""
    total = 0
    for path in glob.glob(pattern):
        with open(path) as f:
            totals = [l for l in f if l.startswith(("totals:", "summary:"))]
        if totals:
            total += int(totals[-1].split()[1])
    return total


def count(sample, n, mode, workdir, server, page):
    out = os.path.join(workdir, "callgrind.%s.%s.%d" % (server, mode, n))
    if server == "mote":
        proc, port = start_mote(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                 sample])
    else:
        conf, port = h2o_config(os.path.join(workdir, "h2o-%d" % n), page)
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=yes",
                                 "--callgrind-out-file=" + out + ".%p", "h2o", "-c", conf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        if not wait_port(port, proc):
            os.killpg(proc.pid, signal.SIGKILL)
            sys.exit("instructions: h2o did not start")
    try:
        client(port, n, mode)
    finally:
        if server == "mote":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)  # h2o and its helpers
        proc.communicate(timeout=120)
    if server == "h2o":
        deadline = time.monotonic() + 60  # helpers write their files as they go
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
                time.sleep(0.2)
            except ProcessLookupError:
                break
        return callgrind_totals(out + ".*")
    return callgrind_totals(out)


def counts(sample, requests, mode, server="mote", keep=None):
    """The totals for requests/10 and for requests: ((n, total), (n, total))."""
    small, large = requests // 10, requests
    d = tempfile.mkdtemp(prefix="instructions-")
    try:
        page = mote_page(sample) if server == "h2o" else None
        lo = count(sample, small, mode, d, server, page)
        hi = count(sample, large, mode, d, server, page)
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in glob.glob(os.path.join(d, "callgrind.*")):
                shutil.copy(f, keep)
        return (small, lo), (large, hi)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def per_request(sample, requests, mode, server="mote"):
    (small, lo), (large, hi) = counts(sample, requests, mode, server)
    return (hi - lo) / (large - small)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--mode", choices=MODES, default="keep-alive")
    ap.add_argument("--server", choices=SERVERS, default="mote")
    ap.add_argument("--keep", metavar="DIR", help="keep the callgrind files in DIR")
    ap.add_argument("sample")
    a = ap.parse_args()
    (small, lo), (large, hi) = counts(a.sample, a.requests, a.mode, a.server, a.keep)
    print("%s %s: %.1f instructions per request (%d requests: %d, %d: %d)"
          % (a.server, a.mode, (hi - lo) / (large - small), small, lo, large, hi))


if __name__ == "__main__":
    main()
