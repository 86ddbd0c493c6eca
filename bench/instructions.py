#!/usr/bin/env python3
"""User-space instructions per request of mote-sample, counted by valgrind's callgrind: the same
counts for the same binary and requests, whatever else the machine is doing.

    bench/instructions.py [--requests N] [--mode keep-alive|pipelined|close] MOTE_SAMPLE

The server runs under callgrind twice, serving N/10 and then N requests of one workload (GET
/index.html from one client connection at a time: keep-alive, 16 pipelined, or a new connection
per request); the difference of the two totals over the difference of the counts is the figure
per request, with start-up and shutdown removed."""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

MODES = ("keep-alive", "pipelined", "close")
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n"
CLOSE_REQUEST = b"GET /index.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def read_response(sock, buf):
    """Reads one Content-Length response from sock; returns the bytes left over."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed mid-response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
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
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done, buf = 0, b""
        while done < n:
            k = min(batch, n - done)
            s.sendall(REQUEST * k)
            for _ in range(k):
                buf = read_response(s, buf)
            done += k


def count(sample, n, mode, workdir):
    out = os.path.join(workdir, "callgrind.%d" % n)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                             sample, "--bind", "127.0.0.1", "--port", "0", "--tls-port", "off",
                             "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    deadline = time.monotonic() + 60
    while port is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"Address: .*, port: (\d+)", line)
        if m:
            port = int(m.group(1))
    if port is None:
        proc.kill()
        sys.exit("instructions: %s did not start" % sample)
    client(port, n, mode)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    with open(out) as f:
        totals = [l for l in f if l.startswith(("totals:", "summary:"))]
    return int(totals[-1].split()[1])


def counts(sample, requests, mode):
    """The totals for requests/10 and for requests: ((n, total), (n, total))."""
    small, large = requests // 10, requests
    with tempfile.TemporaryDirectory() as d:
        return (small, count(sample, small, mode, d)), (large, count(sample, large, mode, d))


def per_request(sample, requests, mode):
    (small, lo), (large, hi) = counts(sample, requests, mode)
    return (hi - lo) / (large - small)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--mode", choices=MODES, default="keep-alive")
    ap.add_argument("sample")
    a = ap.parse_args()
    (small, lo), (large, hi) = counts(a.sample, a.requests, a.mode)
    print("%s: %.1f instructions per request (%d requests: %d, %d: %d)"
          % (a.mode, (hi - lo) / (large - small), small, lo, large, hi))


if __name__ == "__main__":
    main()
