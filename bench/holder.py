#!/usr/bin/env python3
"""Holds many idle keep-alive connections open to a server (bench/run.py runs it as a process
of its own, so that it and the server each have their own open-files limit).

usage: holder.py HOST PORT COUNT [CONCURRENCY] [--websocket PATH | --h2] [--tls]

Opens COUNT connections, at most CONCURRENCY (50) at a time in progress; on each it sends one
`GET /index.html` and reads the whole response, then leaves the connection open and idle. With
--websocket PATH it does a WebSocket handshake at PATH instead (no extension offered) and keeps
the sockets whose answer was 101, idle: no frame is sent. With --h2 it speaks HTTP/2 with prior
knowledge: the preface, an empty SETTINGS and `GET /index.html` on stream 1, kept once that
stream has ended and the server has acknowledged the SETTINGS. With --tls each connection
does a TLS handshake first (Python's ssl, no certificate check) and the request goes over it.
Prints
"ready OK FAILED SECONDS" when all are settled, then reads commands from stdin:
  check   prints "alive N": connections still open (the server has not closed them)
  quit    (or end of input) closes everything and exits."""
import base64
import errno
import os
import resource
import select
import selectors
import socket
import ssl
import struct
import sys
import time

REQUEST = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: mote-bench-holder\r\n\r\n"
DEADLINE_S = 120


def websocket_request(path):
    key = base64.b64encode(os.urandom(16)).decode()
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
            "User-Agent: mote-bench-holder\r\n\r\n" % (path, key)).encode()


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# HPACK: :method GET, :scheme http (static indexes 2, 6), :path and :authority literal
H2_BLOCK = b"\x82\x86\x04\x0b/index.html\x01\x09127.0.0.1"
H2_REQUEST = (H2_PREFACE + struct.pack(">I", len(H2_BLOCK))[1:] +
              struct.pack(">BBI", 1, 0x5, 1) + H2_BLOCK)   # HEADERS, END_STREAM|END_HEADERS


def h2_complete(buf):
    """Stream 1 has ended and our SETTINGS is acknowledged."""
    at, acked, ended = 0, False, False
    while len(buf) - at >= 9:
        n = int.from_bytes(buf[at:at + 3], "big")
        ftype, flags = buf[at + 3], buf[at + 4]
        stream = int.from_bytes(buf[at + 5:at + 9], "big") & 0x7fffffff
        if len(buf) - at - 9 < n:
            break
        acked = acked or (ftype == 4 and flags & 1)
        ended = ended or (stream == 1 and ftype in (0, 1) and flags & 1)
        at += 9 + n
    return bool(acked and ended)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def response_complete(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.sent = False
        self.shaken = False   # the TLS handshake is over (or there is none)
        self.buf = b""


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def handshake(sel, c):
    """Advances c's TLS handshake; True once it is over."""
    try:
        c.sock.do_handshake()
    except ssl.SSLWantReadError:
        sel.modify(c.sock, selectors.EVENT_READ, c)
        return False
    except ssl.SSLWantWriteError:
        sel.modify(c.sock, selectors.EVENT_WRITE, c)
        return False
    c.shaken = True
    sel.modify(c.sock, selectors.EVENT_WRITE, c)
    return True


def open_all(host, port, count, concurrency, ws_path=None, h2=False, tls=None):
    sel = selectors.DefaultSelector()
    held, failed, started, in_progress = [], 0, 0, 0
    deadline = time.monotonic() + DEADLINE_S
    while (started < count or in_progress) and time.monotonic() < deadline:
        while started < count and in_progress < concurrency:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            started += 1
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            if tls:
                s = tls.wrap_socket(s, do_handshake_on_connect=False)
            c = Conn(s)
            c.shaken = not tls
            sel.register(s, selectors.EVENT_WRITE, c)
            in_progress += 1
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            done = ok = False
            try:
                if not c.shaken:
                    if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        done = True
                    else:
                        handshake(sel, c)
                elif not c.sent:
                    if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        done = True
                    else:
                        # small enough for an empty socket buffer
                        c.sock.sendall(websocket_request(ws_path) if ws_path else
                                       H2_REQUEST if h2 else REQUEST)
                        c.sent = True
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                else:
                    try:
                        data = c.sock.recv(65536)
                    except ssl.SSLWantReadError:
                        continue
                    if not data:
                        done = True
                    else:
                        c.buf += data
                        if h2:
                            done = ok = h2_complete(c.buf)
                        elif response_complete(c.buf):
                            done = True
                            ok = not ws_path or c.buf.startswith(b"HTTP/1.1 101 ")
            except OSError:
                done = True
            if done:
                sel.unregister(c.sock)
                in_progress -= 1
                if ok:
                    held.append(c.sock)
                else:
                    c.sock.close()
                    failed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    sel.close()
    return held, failed + (count - started)


def alive(held):
    """Connections the server has not closed: no hang-up and no end of input on the socket
    (asked of the descriptor, so that TLS sockets are asked the same way)."""
    p = select.poll()
    for s in held:
        p.register(s.fileno(), select.POLLIN | select.POLLRDHUP)
    gone = {fd for fd, ev in p.poll(0)
            if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL)}
    return sum(1 for s in held if s.fileno() not in gone)


def main():
    argv, ws_path = sys.argv[1:], None
    if "--websocket" in argv[:-1]:
        i = argv.index("--websocket")
        ws_path = argv[i + 1]
        del argv[i:i + 2]
    h2 = "--h2" in argv
    if h2:
        argv.remove("--h2")
    tls = tls_context() if "--tls" in argv else None
    if tls:
        argv.remove("--tls")
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = argv[0], int(argv[1]), int(argv[2])
    concurrency = int(argv[3]) if len(argv) == 4 else 50
    raise_nofile()
    t0 = time.monotonic()
    held, failed = open_all(host, port, count, concurrency, ws_path, h2, tls)
    print("ready %d %d %.2f" % (len(held), failed, time.monotonic() - t0), flush=True)
    for line in sys.stdin:
        if line.strip() == "check":
            print("alive %d" % alive(held), flush=True)
        elif line.strip() == "quit":
            break
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
