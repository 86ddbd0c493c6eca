#!/usr/bin/env python3
"""Hostile WebSocket clients against mote-sample's /ws (echo, messages up to 16 MiB,
permessage-deflate when offered), over raw sockets, each test with a sample of its own:

1. 10 000 idle WebSockets held at once, their resident cost per socket measured beside that of
   3 000 idle keep-alive HTTP connections in the same server: a socket keeps its state (ws.h: the
   `sockets` pool, one allocation per socket) and gives its buffer block back between messages,
   as an idle HTTP connection does, so it may cost at most WS_EXTRA_ALLOWED = 128 bytes more,
   plus TOLERANCE_PAGES of measurement error on each of the two deltas. Every socket still
   echoes afterwards, and echoing once on all of them leaves no more than a few blocks cached.
2. A client that sends 1 MiB messages and never reads the echoes: the server takes a message
   only while its output is at most half full and holds one message larger than its send buffer
   at a time (src/proto/ws.c ws_output_ready, ws_room_verdict), so it stops reading (its
   receive queue fills), does not spin, and is closed by the write timeout (--write-timeout
   2000); its peak RSS stays within 2 messages + STALL_BUFFERS of where it was, plus
   GROWTH_CHAIN for what glibc keeps of freed buffers, and comes back down.
   Twice, to see nothing accumulate. WebSocket and HTTP clients are served within 1 s meanwhile.
3. Slowloris on the opening handshake: 500 connections dribbling the upgrade request a byte
   every 100 ms are all cut off by the head timeout (--head-timeout 2000: 408, or a close) within
   [0.9, 1 + 2.5 s] x the timeout of their first byte, none upgraded, while WebSocket and HTTP
   clients are served within 1 s.
4. A flood of pings from a client that reads no pong: a ping is answered only when its pong
   fits the output buffer, so the server stops reading, holds nothing per ping (peak within
   PING_SLACK), and the write timeout closes the socket; other clients are served.
5. A zip bomb over permessage-deflate: one compressed frame, then the same as 16 fragments, then
   the frame again, each ~63 KiB of raw deflate inflating to 64 MiB of zeros, four times /ws's
   limit: close 1009 within 2 s, the server lets go of the socket, the first bomb's peak RSS is
   within the limit + BOMB_SLACK, every bomb's within twice that (a compressed message's size
   is unknown until inflated, so its buffer doubles; once glibc has raised its mmap threshold
   on a freed big buffer, the smaller freed ones stay resident below the one being filled), and
   nothing accumulates from one bomb to the next.

Peak memory is the kernel's own high-water mark (VmHWM, reset through /proc/<pid>/clear_refs
before each attack), so no short peak escapes the measurement. Every loop is bounded by a count
and a deadline; pacing waits are pacing, every other wait is on an event with a deadline."""

import errno
import os
import re
import selectors
import socket
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402
from hostile import (WS_BINARY, WS_CLOSE, WS_CONT, WS_DEFLATE, WS_PING, WS_PONG,  # noqa: E402
                     WS_TEXT, WsClient, mh, ws_close_code, ws_frame, ws_handshake_done, ws_parse,
                     ws_upgrade)

KIB, MIB = 1 << 10, 1 << 20
PAGE = 4096
LIMIT = 16 * MIB                # /ws's largest message (examples/sample/live.c ECHO_MAX_MESSAGE)
BASE_ARGS = ("--tls-port", "off", "--bind", "127.0.0.1", "--log-level", "warn")
MAX_LATENCY = 1.0               # seconds, for every probe beside an attack
BLOCK = 48 * KIB                # a connection's pooled blocks (README "Memory": 48 304 bytes)

# 1: idle sockets
N_WS = 10000
N_HTTP = 3000
BATCH = 250                     # connects in flight at once (the listen backlog is 511)
PHASE_TIMEOUT = 60.0            # seconds to open one group, or to echo on all sockets
WS_EXTRA_ALLOWED = 128          # bytes an idle WebSocket may cost over an idle HTTP connection
TOLERANCE_PAGES = 8             # pages each RSS delta may be off by (heap and array page ends,
                                # the pool's few cached blocks, the loop's own bookkeeping)
ECHO_BLOCK_SLACK = 8            # pooled blocks the echo round may leave cached in total

# 2 and 4: readers that stop reading
WRITE_TIMEOUT_MS = 2000
STALL_QUIET = 1.0               # seconds without room in our socket: the server stopped reading
BIG = MIB                       # the stalled reader's message size
STALL_BUFFERS = 256 * KIB       # beyond 2 x BIG: a few pooled blocks, heap rounding
GROWTH_CHAIN = BIG              # what glibc may keep resident of freed buffers, up to a message
BACK_SLACK = 2 * BIG + 512 * KIB  # what the allocator may keep once it is over (the message
                                # gathered and its echo's copy: freed heap chunks under glibc's
                                # dynamic mmap threshold); the second round checks they are reused
PING_SLACK = MIB                # the ping flood: a block and the probers', nothing per ping

# 3: slowloris
HEAD_TIMEOUT_MS = 2000
SLOW_CONNS = 500
DRIBBLE = 0.1                   # seconds between two bytes of one request (~15 s for all)

# 5: zip bomb
BOMB = 64 * MIB                 # inflated size of the bomb
BOMB_SLACK = 4 * MIB            # beyond LIMIT: zlib's window and state, blocks, heap rounding


def zip_bomb(n=BOMB):
    """Raw deflate (RFC 7692 section 7.2.1: the 00 00 ff ff tail of a sync flush removed) of
    n zero bytes."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MIB)
    out = [z.compress(zeros) for _ in range(n // MIB)]
    out.append(z.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(out)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


class Peer:
    __slots__ = ("sock", "buf", "sent", "t_first", "t_end", "end")

    def __init__(self, sock):
        self.sock, self.buf, self.sent = sock, b"", 0
        self.t_first = self.t_end = self.end = None


def http_done(buf):
    """For a raw socket that sent one GET /index.html: the length of a complete, correct
    response at the start of `buf`, 0 while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    head = buf[:end].decode("latin-1")
    m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    if not head.startswith("HTTP/1.1 200 ") or not m or re.search(r"(?im)^connection:\s*close",
                                                                   head):
        raise AssertionError("GET /index.html answered %r" % head)
    total = end + 4 + int(m.group(1))
    if len(buf) < total:
        return 0
    if buf[end + 4:total] != mh.IT_WORKS:
        raise AssertionError("GET /index.html: wrong body %r" % buf[end + 4:total][:100])
    return total


class WebSocketAbuse(mh.SampleTestCase):
    shared_sample = False

    @classmethod
    def setUpClass(cls):
        cls.fd_limit = hostile.raise_fd_limit(2 * (N_WS + N_HTTP) + 400)
        super().setUpClass()

    def setUp(self):
        self.peers = []
        self.addCleanup(self.close_peers)

    def close_peers(self):
        for p in self.peers:
            try:
                p.sock.close()
            except OSError:
                pass
        self.peers = []

    @staticmethod
    def rss(s):
        return mh.vm_rss_kib(s.proc.pid) * KIB

    @staticmethod
    def peak(s):
        return hostile.peak_rss_kib(s.proc.pid) * KIB

    def sockets(self, s):
        return mh.socket_fd_count(s.proc.pid)

    def start_probers(self, s):
        """A WebSocket echo prober and an HTTP prober beside an attack; stopped at cleanup."""
        probers = (hostile.WsProber(s).start(), hostile.Prober(s).start())
        self.addCleanup(lambda: [p.stop() for p in probers])
        return probers

    @staticmethod
    def stop_probers(probers):
        for p in probers:
            p.stop()

    def check_probers(self, probers, what, least=5):
        for p, kind in zip(probers, ("websocket", "http")):
            self.assertEqual(p.failures, [], "%s: %s probes failed" % (what, kind))
            self.assertGreaterEqual(len(p.latencies), least, "%s: %s probes: %s"
                                    % (what, kind, p.summary()))
            self.assertLess(max(p.latencies), MAX_LATENCY, "%s: a %s probe took %.3f s (%s)"
                            % (what, kind, max(p.latencies), p.summary()))

    # -- many non-blocking connections ---------------------------------------------------------

    def open_group(self, s, n, first, complete, deadline):
        """Opens n connections, BATCH at a time, non-blocking: each sends `first` once connected
        and is read until complete(buf) gives the length of the whole answer. Returns them
        (also in self.peers, closed at cleanup)."""
        group = []
        sel = selectors.DefaultSelector()
        try:
            while len(group) < n:
                batch = []
                for _ in range(min(BATCH, n - len(group))):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    err = sock.connect_ex(("127.0.0.1", s.http_port))
                    if err not in (0, errno.EINPROGRESS):
                        sock.close()
                        self.fail("connect %d: %s" % (len(group), os.strerror(err)))
                    p = Peer(sock)
                    self.peers.append(p)
                    batch.append(p)
                    sel.register(sock, selectors.EVENT_WRITE, p)
                pending = len(batch)
                while pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.fail("%d of %d connections still unanswered at the deadline"
                                  % (pending + n - len(group) - len(batch), n))
                    for key, ev in sel.select(min(left, 1.0)):
                        p = key.data
                        if ev & selectors.EVENT_WRITE:
                            err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                            if err:
                                self.fail("connect: %s" % os.strerror(err))
                            self.assertEqual(p.sock.send(first), len(first))
                            sel.modify(p.sock, selectors.EVENT_READ, p)
                            continue
                        try:
                            data = p.sock.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError as e:
                            self.fail("connection %d: %r" % (len(group), e))
                        if not data:
                            self.fail("closed by the server before answering: %r" % p.buf[:200])
                        p.buf += data
                        used = complete(p.buf)
                        if used:
                            p.buf = p.buf[used:]
                            sel.unregister(p.sock)
                            pending -= 1
                group += batch
        finally:
            sel.close()
        return group

    def echo_all(self, group, deadline):
        """A text message on every socket of `group`, all sent before any echo is read; then
        every echo. Returns the count of sockets that echoed."""
        sel = selectors.DefaultSelector()
        want = {}
        try:
            for i, p in enumerate(group):
                msg = b"idle socket %d" % i
                frame = ws_frame(WS_TEXT, msg)
                self.assertEqual(p.sock.send(frame), len(frame))
                want[p.sock.fileno()] = msg
                sel.register(p.sock, selectors.EVENT_READ, p)
            done = 0
            while done < len(group):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail("%d of %d sockets did not echo by the deadline"
                              % (len(group) - done, len(group)))
                for key, _ in sel.select(min(left, 1.0)):
                    p = key.data
                    try:
                        data = p.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        self.fail("a socket was closed instead of echoing (%r)" % p.buf[:100])
                    p.buf += data
                    frames, p.buf = ws_parse(p.buf)
                    for fin, rsv, op, payload in frames:
                        if op in (WS_PING, WS_PONG):    # the server's keep-alive ping
                            continue
                        self.assertEqual((fin, rsv, op, payload),
                                         (True, 0, WS_TEXT, want[p.sock.fileno()]))
                        sel.unregister(p.sock)
                        done += 1
            return done
        finally:
            sel.close()

    # -- 1 ----------------------------------------------------------------------------------------

    def test_idle_websockets(self):
        if self.fd_limit < N_WS + N_HTTP + 200:
            self.skipTest("descriptor limit %d: cannot hold %d connections"
                          % (self.fd_limit, N_WS + N_HTTP))
        s = self.start_sample(*BASE_ARGS, "--max-conns", str(N_WS + N_HTTP + 100),
                              "--idle-timeout", "300000", "--head-timeout", "60000")
        # warm up: the first blocks, a socket's state, the accept path, before measuring
        for _ in range(3):
            with s.connect() as w:
                self.assertEqual(w.request("GET", "/index.html").status, 200)
            with WsClient.open(s) as w:
                w.echo(b"warm")
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) == 1, 5))
        rss0 = self.rss(s)

        t0 = time.monotonic()
        self.open_group(s, N_HTTP, b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n", http_done,
                        t0 + PHASE_TIMEOUT)
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) == N_HTTP + 1, 10),
                        "server holds %d sockets" % self.sockets(s))
        rss1 = self.rss(s)

        t1 = time.monotonic()
        group = self.open_group(s, N_WS, ws_upgrade(), ws_handshake_done, t1 + PHASE_TIMEOUT)
        t_open = time.monotonic() - t1
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) == N_HTTP + N_WS + 1, 10),
                        "server holds %d sockets" % self.sockets(s))
        rss2 = self.rss(s)
        with WsClient.open(s, "/live/ws") as live:          # the server's own count
            _, text = live.read_message()
            self.assertIn(b'"websockets":%d,' % (N_WS + 1), text)

        t2 = time.monotonic()
        echoed = self.echo_all(group, t2 + PHASE_TIMEOUT)
        t_echo = time.monotonic() - t2
        rss3 = self.rss(s)

        http_per = (rss1 - rss0) / N_HTTP
        ws_per = (rss2 - rss1) / N_WS
        tolerance = TOLERANCE_PAGES * PAGE / N_HTTP + TOLERANCE_PAGES * PAGE / N_WS
        print("\n  [%s] idle: http %.0f B/conn, websocket %.0f B/socket (%d keep-alive "
              "connections, then %d WebSockets opened in %.1f s; server RSS %.1f -> %.1f -> "
              "%.1f MiB); allowed %.0f B/socket (+%d, +%.0f tolerance); all %d echoed in %.1f s, "
              "RSS after %.1f MiB (%+.0f KiB)"
              % (mh.BACKEND, http_per, ws_per, N_HTTP, N_WS, t_open, rss0 / MIB, rss1 / MIB,
                 rss2 / MIB, http_per + WS_EXTRA_ALLOWED + tolerance, WS_EXTRA_ALLOWED, tolerance,
                 echoed, t_echo, rss3 / MIB, (rss3 - rss2) / KIB), file=sys.stderr)
        self.assertEqual(echoed, N_WS)
        self.assertLessEqual(ws_per, http_per + WS_EXTRA_ALLOWED + tolerance,
                             "an idle WebSocket costs %.0f bytes, an idle HTTP connection %.0f"
                             % (ws_per, http_per))
        # an echo borrows a block and gives it back once the socket is idle again
        self.assertLessEqual(rss3 - rss2, ECHO_BLOCK_SLACK * BLOCK + TOLERANCE_PAGES * PAGE,
                             "echoing once on each idle socket kept %.0f KiB"
                             % ((rss3 - rss2) / KIB))
        # all still open (the /live/ws socket gone)
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) == N_HTTP + N_WS + 1, 5),
                        "server holds %d sockets" % self.sockets(s))
        self.close_peers()
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) == 1, 20),
                        "%d sockets still open on the server" % self.sockets(s))

    # -- 2 and 4 ----------------------------------------------------------------------------------

    def stall(self, s, what, data, bound):
        """Opens a socket to /ws that never reads, sends `data` over and over until the server
        stops taking it, then waits for the write timeout to close it. Checks: the stall, the
        server idle meanwhile, the close, peak RSS within `bound` of where it was, RSS back
        down, the probers served. Returns (bytes sent, copies of data sent)."""
        pid = s.proc.pid
        probers = self.start_probers(s)      # their blocks in the pool before the baseline
        self.assertTrue(hostile.wait_until(lambda: all(len(p.latencies) >= 2 for p in probers),
                                           5), "the probers got no answer before the attack")
        rss0 = self.rss(s)
        self.assertTrue(hostile.reset_peak_rss(pid), "cannot reset VmHWM")
        mark = s.stdout_mark()
        c = WsClient.open(s, rcvbuf=16 * KIB, sndbuf=64 * KIB)
        self.addCleanup(c.close)
        port = c.local_port()
        c.sock.setblocking(False)
        t0 = time.monotonic()
        sent, whole, how, last = hostile.send_until_stalled(c.sock, data, STALL_QUIET,
                                                            max_bytes=1 << 30, limit_s=30)
        t_stall = time.monotonic()
        cpu0 = hostile.cpu_seconds(pid)
        held = hostile.server_conn(s.http_port, port)
        rss_stalled = self.rss(s)
        self.assertEqual(how, "stalled", "%s: %d bytes sent, then %s" % (what, sent, how))
        self.assertIsNotNone(held, "%s: the server's end of the connection is gone" % what)
        self.assertEqual(held[0], "ESTABLISHED", held)
        self.assertGreater(held[2], 0, "%s: stalled, yet the server's receive queue is empty: "
                           "it should have stopped reading" % what)
        self.assertGreater(held[1], 0, "%s: stalled, yet nothing is queued for the peer" % what)
        # the write timeout: the server's end goes (it closes with unread input: a reset)
        gone = hostile.wait_until(
            lambda: (hostile.server_conn(s.http_port, port) or ("gone",))[0] != "ESTABLISHED",
            WRITE_TIMEOUT_MS / 1000 + 5)
        t_closed = time.monotonic()
        cpu = hostile.cpu_seconds(pid) - cpu0
        self.assertTrue(gone, "%s: still open %.1f s after the stall (write timeout %d ms)"
                        % (what, t_closed - t_stall, WRITE_TIMEOUT_MS))
        s.wait_stdout(r"connection timed out", timeout=5, start=mark)
        self.stop_probers(probers)
        c.close()
        peak = self.peak(s)
        back = hostile.wait_until(lambda: self.rss(s) <= rss0 + BACK_SLACK, 5)
        rss_after = self.rss(s)
        print("\n  [%s] %s: %.1f MiB sent (%d whole) in %.2f s, then stalled; server RSS %.1f MiB "
              "before, %.1f MiB stalled, peak %+.0f KiB (bound %+.0f KiB), %.1f MiB after the "
              "close; closed %.2f s after the stall was seen (write timeout %d ms); server CPU "
              "%.0f ms over that time\n  probes: %s\n  %s"
              % (mh.BACKEND, what, sent / MIB, whole, last - t0, rss0 / MIB, rss_stalled / MIB,
                 (peak - rss0) / KIB, bound / KIB, rss_after / MIB, t_closed - t_stall,
                 WRITE_TIMEOUT_MS, cpu * 1000, probers[0].summary(), probers[1].summary()),
              file=sys.stderr)
        self.check_probers(probers, what)
        self.assertLessEqual(peak - rss0, bound, "%s: peak RSS %+.0f KiB over the start"
                             % (what, (peak - rss0) / KIB))
        self.assertTrue(back, "%s: RSS %.1f MiB after the close, %.1f MiB before"
                        % (what, rss_after / MIB, rss0 / MIB))
        # stalled, the server waits: it does not spin on the socket it stopped reading
        self.assertLess(cpu, 0.25 * (t_closed - t_stall) + 0.1,
                        "%s: the server used %.2f s of CPU in %.2f s while the peer was stalled"
                        % (what, cpu, t_closed - t_stall))
        return sent, whole

    def stalled_reader_sample(self):
        s = self.start_sample(*BASE_ARGS[:-1], "debug", "--write-timeout", str(WRITE_TIMEOUT_MS))
        with WsClient.open(s) as w:           # warm: a big message's path, heap and blocks
            w.echo(os.urandom(BIG), WS_BINARY)
        return s, ws_frame(WS_BINARY, os.urandom(BIG))

    def test_stalled_reader(self):
        s, data = self.stalled_reader_sample()
        bound = 2 * BIG + STALL_BUFFERS + GROWTH_CHAIN
        sent, whole = self.stall(s, "stalled reader (1 MiB messages)", data, bound)
        self.assertGreaterEqual(whole, 2)
        # four times more: nothing accumulates from one stalled reader to the next. A message
        # kept a round would add 4 MiB over the four; the heap settles by up to 1.5 MiB once,
        # after the second round or the third (seen in CI: 3.7, 5.2, 5.2 MiB after rounds 2 to
        # 4), so the bound is two messages over the rounds, not one between two of them.
        rss1 = self.rss(s)
        for what in ("again", "a third time", "a fourth time", "a fifth time"):
            self.stall(s, "stalled reader, " + what, data, bound)
        self.assertLessEqual(self.rss(s), rss1 + 2 * BIG)

    def test_ping_flood(self):
        s = self.start_sample(*BASE_ARGS[:-1], "debug", "--write-timeout", str(WRITE_TIMEOUT_MS))
        ping = ws_frame(WS_PING, b"p" * 125)
        sent, _ = self.stall(s, "ping flood (125-byte pings, no pong read)", ping * 512,
                             PING_SLACK)
        pings = sent // len(ping)
        print("  %d pings sent before the server stopped reading" % pings, file=sys.stderr)
        self.assertGreater(pings, 100)

    # -- 3 ----------------------------------------------------------------------------------------

    def test_slowloris_handshake(self):
        s = self.start_sample(*BASE_ARGS, "--max-conns", str(SLOW_CONNS + 100),
                              "--head-timeout", str(HEAD_TIMEOUT_MS))
        request = ws_upgrade()
        baseline = self.sockets(s)
        probers = self.start_probers(s)
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        for _ in range(SLOW_CONNS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(("127.0.0.1", s.http_port))
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                self.fail("connect: %s" % os.strerror(err))
            p = Peer(sock)
            self.peers.append(p)
            sel.register(sock, selectors.EVENT_WRITE, p)

        def end(p, how):
            p.t_end, p.end = time.monotonic(), how
            sel.unregister(p.sock)
            p.sock.close()

        t0 = time.monotonic()
        deadline = t0 + HEAD_TIMEOUT_MS / 1000 + 10
        next_tick = t0 + DRIBBLE
        open_now = most_held = 0
        ended = 0
        while ended < SLOW_CONNS and time.monotonic() < deadline:
            for key, ev in sel.select(max(0.0, min(next_tick, deadline) - time.monotonic())):
                p = key.data
                if ev & selectors.EVENT_WRITE:
                    err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self.fail("connect: %s" % os.strerror(err))
                    p.sock.send(request[:1])
                    p.sent, p.t_first = 1, time.monotonic()
                    open_now += 1
                    sel.modify(p.sock, selectors.EVENT_READ, p)
                    continue
                try:
                    data = p.sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = None
                if data:
                    p.buf += data
                    continue
                end(p, "reset" if data is None else "closed")
                ended += 1
            if time.monotonic() >= next_tick:   # the next byte of every request still open
                next_tick += DRIBBLE
                for p in self.peers:
                    if p.t_first is None or p.end is not None or p.sent >= len(request) - 1:
                        continue
                    try:
                        p.sock.send(request[p.sent:p.sent + 1])
                        p.sent += 1
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                        pass                    # the read side sees the close
                most_held = max(most_held, self.sockets(s) - baseline)
        took = time.monotonic() - t0
        self.stop_probers(probers)
        cut = [p.t_end - p.t_first for p in self.peers if p.end]
        answers = {}
        for p in self.peers:
            first_line = p.buf.split(b"\r\n", 1)[0].decode("latin-1") or "(nothing)"
            answers[first_line] = answers.get(first_line, 0) + 1
        print("\n  [%s] slowloris on the upgrade (%d connections, a byte each every %.0f ms, "
              "head timeout %d ms): most held at once %d; all ended after %.1f s: cut off "
              "%.2f..%.2f s after their first byte, having sent %d..%d bytes; answers %s; "
              "ended by %s\n  probes: %s\n  %s"
              % (mh.BACKEND, SLOW_CONNS, DRIBBLE * 1000, HEAD_TIMEOUT_MS, most_held, took,
                 min(cut or [0]), max(cut or [0]), min(p.sent for p in self.peers),
                 max(p.sent for p in self.peers), answers,
                 {k: sum(1 for p in self.peers if p.end == k) for k in ("closed", "reset", None)},
                 probers[0].summary(), probers[1].summary()), file=sys.stderr)
        self.check_probers(probers, "slowloris on the handshake")
        self.assertEqual(ended, SLOW_CONNS, "%d connections not cut off after %.1f s"
                         % (SLOW_CONNS - ended, took))
        self.assertGreaterEqual(most_held, SLOW_CONNS * 9 // 10)
        for p in self.peers:
            self.assertTrue(p.buf == b"" or p.buf.startswith(b"HTTP/1.1 408 "), p.buf[:200])
            self.assertLess(p.sent, len(request) - 1)
        self.assertGreaterEqual(min(cut), HEAD_TIMEOUT_MS / 1000 * 0.9, "cut off early")
        self.assertLessEqual(max(cut), HEAD_TIMEOUT_MS / 1000 + 2.5, "cut off late")
        self.assertTrue(hostile.wait_until(lambda: self.sockets(s) <= baseline + 2, 10),
                        "%d sockets still open on the server" % self.sockets(s))

    # -- 5 ----------------------------------------------------------------------------------------

    def bomb(self, s, what, frames):
        """Sends `frames` (a compressed message inflating past the limit) on a socket that
        negotiated permessage-deflate; the server answers close 1009 and closes. Returns
        (peak RSS, seconds to the close frame) once the server has let go of the socket."""
        c = WsClient.open(s, extra=[WS_DEFLATE], timeout=30)
        self.addCleanup(c.close)
        ext = c.response.header("Sec-WebSocket-Extensions") or ""
        self.assertTrue(ext.startswith("permessage-deflate"), "deflate not negotiated: %r"
                        % c.response.headers)
        self.assertTrue(hostile.reset_peak_rss(s.proc.pid), "cannot reset VmHWM")
        t0 = time.monotonic()
        c.send_tolerant(b"".join(frames))      # the server may close before all is in
        fin, rsv, op, payload = c.read_frame()
        took = time.monotonic() - t0
        self.assertEqual((op, ws_close_code(payload)), (WS_CLOSE, 1009),
                         "%s: answered opcode %d %r" % (what, op, payload[:60]))
        self.assertClosed(c, 10, what)
        port = c.local_port()
        c.close()
        # the server lets go of the socket (after lingering over what it did not read)
        self.assertTrue(hostile.wait_until(
            lambda: (hostile.server_conn(s.http_port, port) or ("gone",))[0]
            not in ("ESTABLISHED", "CLOSE_WAIT"), 5), "%s: the server still holds the socket"
            % what)
        return self.peak(s), took

    def bombs(self, rounds):
        """A sample of its own, warmed (zlib's streams, a compressed echo); then each of
        `rounds` (names from BOMBS) on a new socket, WebSocket and HTTP probers running.
        Returns (RSS before, [(name, peak RSS, seconds to the close, RSS once settled)])."""
        s = self.start_sample(*BASE_ARGS)
        data = zip_bomb()
        piece = 4096
        parts = [data[i:i + piece] for i in range(0, len(data), piece)]
        kinds = {"one frame": [ws_frame(WS_BINARY, data, rsv1=True)],
                 "fragments": [ws_frame(WS_BINARY if i == 0 else WS_CONT, part,
                                        fin=i == len(parts) - 1, rsv1=i == 0)
                               for i, part in enumerate(parts)]}
        with WsClient.open(s, extra=[WS_DEFLATE]) as w:
            z = zlib.compressobj(6, zlib.DEFLATED, -15)
            w.send_frame(WS_TEXT, (z.compress(b"warm") + z.flush(zlib.Z_SYNC_FLUSH))[:-4],
                         rsv1=True)
            fin, rsv, op, _ = w.read_frame()
            self.assertEqual((fin, rsv, op), (True, 4, WS_TEXT))    # compressed back
        probers = self.start_probers(s)
        self.assertTrue(hostile.wait_until(lambda: all(len(p.latencies) >= 2 for p in probers),
                                           5), "the probers got no answer before the attack")
        rss0 = self.rss(s)
        results = []
        for what in rounds:
            peak, took = self.bomb(s, what, kinds[what])
            results.append((what, peak, took, self.rss(s)))
        self.stop_probers(probers)
        print("\n  [%s] zip bomb: %d KiB of raw deflate inflating to %d MiB (limit %d MiB, %d "
              "fragments of %d bytes when fragmented); server RSS %.1f MiB before\n  %s\n  "
              "probes: %s\n  %s"
              % (mh.BACKEND, len(data) // KIB, BOMB // MIB, LIMIT // MIB, len(parts), piece,
                 rss0 / MIB, "\n  ".join("%s: close 1009 after %.0f ms, peak %+.1f MiB, then "
                                         "%.1f MiB" % (w, t * 1000, (p - rss0) / MIB, r / MIB)
                                         for w, p, t, r in results),
                 probers[0].summary(), probers[1].summary()), file=sys.stderr)
        self.check_probers(probers, "zip bomb", least=2)
        return rss0, results

    def test_zip_bomb(self):
        rss0, results = self.bombs(("one frame", "fragments", "one frame"))
        first = results[0]
        self.assertLessEqual(first[1] - rss0, LIMIT + BOMB_SLACK, "%s: peak RSS %+.1f MiB"
                             % (first[0], (first[1] - rss0) / MIB))
        for what, peak, took, after in results:
            # from the second big message on, the doubling buffers' holes stay resident under
            # glibc's raised mmap threshold: up to twice the limit, still bounded
            self.assertLessEqual(peak - rss0, 2 * LIMIT + BOMB_SLACK, "%s: peak RSS %+.1f MiB"
                                 % (what, (peak - rss0) / MIB))
            self.assertLess(took, 2.0, "%s: close 1009 only after %.2f s" % (what, took))
            # what is freed may stay in the heap below glibc's raised mmap threshold (a freed
            # buffer of up to half the limit), but bombs do not accumulate
            self.assertLessEqual(after - rss0, LIMIT // 2 + MIB, "%s: RSS %+.1f MiB once over"
                                 % (what, (after - rss0) / MIB))
        self.assertLessEqual(results[2][3], results[0][3] + MIB, "the same bomb again left "
                             "%.1f MiB more behind" % ((results[2][3] - results[0][3]) / MIB))


    def test_held_compressed_messages(self):
        """Sockets that each start a compressed message inflating to just under /ws's limit
        and never finish it: together they may hold at most ws_max_buffered (64 MiB by
        default) of the server's heap; the sockets past it are closed with 1011, memory stays
        bounded, and a new client is still served."""
        s = self.start_sample(*BASE_ARGS)
        held = zip_bomb(LIMIT - 64 * KIB)
        budget, sockets = 64 * MIB, 8
        rss0 = self.rss(s)
        self.assertTrue(hostile.reset_peak_rss(s.proc.pid), "cannot reset VmHWM")
        clients, refused = [], 0
        for _ in range(sockets):
            c = WsClient.open(s, extra=[WS_DEFLATE], timeout=30)
            self.addCleanup(c.close)
            c.send_frame(WS_BINARY, held, fin=False, rsv1=True)
            clients.append(c)
        for c in clients:                     # each either holds, or hears 1011 and is closed
            if c.readable(2):
                fin, rsv, op, payload = c.read_frame()
                self.assertEqual((op, ws_close_code(payload)), (WS_CLOSE, 1011))
                refused += 1
        peak = self.peak(s)
        print("\n  [%s] %d sockets holding %d MiB compressed messages: %d refused with 1011, "
              "peak %+.1f MiB" % (mh.BACKEND, sockets, LIMIT // MIB, refused,
                                  (peak - rss0) / MIB), file=sys.stderr)
        self.assertGreaterEqual(refused, sockets - budget // (LIMIT - 64 * KIB))
        self.assertLess(refused, sockets)
        self.assertLessEqual(peak - rss0, 2 * budget + BOMB_SLACK)
        with WsClient.open(s) as w:
            w.echo(b"still served", WS_BINARY)

if __name__ == "__main__":
    mh.main()
