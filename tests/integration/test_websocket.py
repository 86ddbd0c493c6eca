"""WebSocket on mote-sample with a real client: python3-websockets (Debian's 10.4, asyncio).

/ws echoes every message: sizes around each frame-length encoding (0, 125, 126, 65535, 64 KiB,
65537) up to the 16 MiB limit, text (with multi-byte characters) and binary, one frame or many
(up to 65,536 fragments); permessage-deflate (RFC 7692) negotiated when the client offers it
and absent when it does not; the same over wss://. Pings get their pongs; a close from the
client is answered with its code and then the server closes TCP first (the client does not
have to); a message over the limit, or one that inflates past it, is closed with 1009. /live/ws
pushes its JSON statistics once a second, and they follow what happens: requests counted,
WebSockets counted in and out.

Debian's websockets is importable from /usr/bin/python3 only, and CMake may have found another
interpreter (pyenv): then this script runs itself again under /usr/bin/python3, and exits 77
(skipped) where websockets is not installed at all."""
import os
import sys

try:
    import websockets
except ImportError:
    DEBIAN = "/usr/bin/python3"
    if (os.path.realpath(sys.executable) != os.path.realpath(DEBIAN) and os.access(DEBIAN, os.X_OK)
            and not os.environ.get("MOTE_WS_REEXEC")):
        os.environ["MOTE_WS_REEXEC"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(DEBIAN, [DEBIAN, os.path.abspath(__file__)] + sys.argv[1:])
    print("python3-websockets not installed (scripts/deps.sh test installs it): skipped",
          file=sys.stderr)
    sys.exit(77)

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

from moteharness import IO_TIMEOUT, SampleTestCase, insecure_context, main  # noqa: E402

LIMIT = 16 << 20
SIZES = (0, 1, 125, 126, 127, 65535, 65536, 65537)
BIG_TIMEOUT = 90.0          # one 16 MiB round trip on a slow (sanitizer) build
CLOSE_TIMEOUT = 8.0         # how long the client waits for the server's TCP close


def text_of(n):
    """A str whose UTF-8 form is exactly n bytes, with 1- to 4-byte characters."""
    unit = "aé€😀"                                   # 1 + 2 + 3 + 4 bytes
    s = unit * (n // 10)
    s += "x" * (n - len(s.encode("utf-8")))
    assert len(s.encode("utf-8")) == n
    return s


def binary_of(n):
    return os.urandom(n)


class Log(logging.Handler):
    """The client's debug log: tells whether it had to give up waiting for the server's TCP
    close ("! timed out waiting for TCP close")."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def waited_in_vain(self):
        return [l for l in self.lines if "timed out waiting for TCP close" in l]


class Connect:
    """websockets.connect() whose connection carries its Log as .log."""

    def __init__(self, connect, log):
        self.connect, self.log = connect, log

    async def __aenter__(self):
        ws = await self.connect.__aenter__()
        ws.log = self.log
        return ws

    async def __aexit__(self, *a):
        return await self.connect.__aexit__(*a)


class WebSocketTest(SampleTestCase):
    def run_async(self, coro, timeout=IO_TIMEOUT * 6):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)
        return asyncio.run(bounded())

    def uri(self, path="/ws", tls=False):
        return "%s://127.0.0.1:%d%s" % ("wss" if tls else "ws",
                                        self.sample.tls_port if tls else self.sample.http_port,
                                        path)

    def connect_ws(self, path="/ws", tls=False, compression=None, **kw):
        """`async with self.connect_ws(...) as ws`: a client on `path`; ws.log is its debug
        log."""
        log = Log()
        logger = logging.getLogger("ws-test-%d" % id(log))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(log)
        kw.setdefault("max_size", 2 * LIMIT)
        kw.setdefault("max_queue", 4)
        if tls:
            kw["ssl"] = insecure_context()
        return Connect(websockets.connect(self.uri(path, tls), compression=compression,
                                          ping_interval=None, open_timeout=IO_TIMEOUT,
                                          close_timeout=CLOSE_TIMEOUT, logger=logger, **kw), log)

    def check_extension(self, ws, compression):
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        names = [e.name for e in ws.extensions]
        if compression:
            self.assertIsNotNone(ext, "deflate offered, not accepted: %r" % ws.response_headers)
            self.assertEqual(ext.split(";")[0].strip().lower(), "permessage-deflate", ext)
            self.assertEqual(names, ["permessage-deflate"])
        else:
            self.assertIsNone(ext, ws.response_headers)
            self.assertEqual(names, [])

    async def echo(self, ws, message, timeout=IO_TIMEOUT):
        await asyncio.wait_for(ws.send(message), timeout)
        got = await asyncio.wait_for(ws.recv(), timeout)
        self.assertIs(type(got), type(message))
        self.assertEqual(len(got), len(message))
        self.assertTrue(got == message, "echo of %d %s differs" % (len(message),
                                                                   type(message).__name__))

    async def close_cleanly(self, ws, code=1000, reason=""):
        """Closes from the client; the server answers with the same code and closes TCP
        before the client gives up waiting for it."""
        await ws.close(code, reason)
        self.assertEqual(ws.close_code, code)
        self.assertFalse(ws.log.waited_in_vain(), "the server did not close TCP within %.0f s "
                         "of its close frame" % CLOSE_TIMEOUT)

    # -- echo --

    def echo_sizes(self, tls, compression):
        async def go():
            async with self.connect_ws(tls=tls, compression=compression) as ws:
                self.check_extension(ws, compression)
                for n in SIZES:
                    await self.echo(ws, text_of(n))
                    await self.echo(ws, binary_of(n))
                await self.close_cleanly(ws)
        self.run_async(go())

    def echo_largest(self, tls, compression):
        async def go():
            async with self.connect_ws(tls=tls, compression=compression) as ws:
                self.check_extension(ws, compression)
                await self.echo(ws, text_of(LIMIT), BIG_TIMEOUT)
                await self.echo(ws, binary_of(LIMIT), BIG_TIMEOUT)
                await self.echo(ws, "after the largest")
                await self.close_cleanly(ws)
        self.run_async(go(), timeout=4 * BIG_TIMEOUT)

    def test_echo_sizes(self):
        self.echo_sizes(tls=False, compression=None)

    def test_echo_sizes_deflate(self):
        self.echo_sizes(tls=False, compression="deflate")

    def test_echo_sizes_tls(self):
        self.echo_sizes(tls=True, compression=None)

    def test_echo_sizes_tls_deflate(self):
        self.echo_sizes(tls=True, compression="deflate")

    def test_echo_16mib(self):
        self.echo_largest(tls=False, compression=None)

    def test_echo_16mib_deflate(self):
        # random bytes do not compress: the compressed frame is a little over 16 MiB, the
        # message itself is not
        self.echo_largest(tls=False, compression="deflate")

    def test_echo_16mib_tls(self):
        self.echo_largest(tls=True, compression=None)

    def test_echo_16mib_tls_deflate(self):
        self.echo_largest(tls=True, compression="deflate")

    def test_many_messages_in_flight(self):
        # 200 messages sent before any echo is read: each comes back, in order
        async def go():
            async with self.connect_ws(compression="deflate", max_queue=None) as ws:
                sent = [text_of(i * 37) if i % 2 else binary_of(i * 41) for i in range(200)]
                for m in sent:
                    await ws.send(m)
                for i, m in enumerate(sent):
                    got = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
                    self.assertEqual(got, m, "message %d" % i)
                await self.close_cleanly(ws)
        self.run_async(go())

    # -- fragments --

    def fragmented(self, compression, tls=False):
        async def fragments(parts):
            for p in parts:
                yield p

        async def go():
            async with self.connect_ws(tls=tls, compression=compression) as ws:
                texts = [text_of(i % 50) for i in range(1000)]
                await asyncio.wait_for(ws.send(fragments(texts)), IO_TIMEOUT)
                self.assertEqual(await asyncio.wait_for(ws.recv(), IO_TIMEOUT), "".join(texts))
                blobs = [binary_of(i % 300) for i in range(1000)]
                await asyncio.wait_for(ws.send(fragments(blobs)), IO_TIMEOUT)
                self.assertEqual(await asyncio.wait_for(ws.recv(), IO_TIMEOUT), b"".join(blobs))
                # a plain (synchronous) iterable of fragments, too
                await asyncio.wait_for(ws.send(iter([b"a", b"", b"bc"])), IO_TIMEOUT)
                self.assertEqual(await asyncio.wait_for(ws.recv(), IO_TIMEOUT), b"abc")
                await self.close_cleanly(ws)
        self.run_async(go())

    def test_fragmented(self):
        self.fragmented(None)

    def test_fragmented_deflate(self):
        self.fragmented("deflate")

    def test_fragmented_tls(self):
        self.fragmented(None, tls=True)

    def test_most_fragments_largest_message(self):
        # 65,536 frames and 16 MiB: the most fragments and the largest message at once (the
        # client ends a fragmented message with an empty final frame of its own: 65,535
        # fragments from here, the first of 512 bytes, the others of 256)
        piece = bytes(range(256))

        async def fragments():
            yield piece * 2
            for _ in range(65534):
                yield piece

        async def go():
            async with self.connect_ws() as ws:
                await asyncio.wait_for(ws.send(fragments()), BIG_TIMEOUT)
                got = await asyncio.wait_for(ws.recv(), BIG_TIMEOUT)
                self.assertEqual(len(got), LIMIT)
                self.assertTrue(got == piece * 65536)
                await self.close_cleanly(ws)
        self.run_async(go(), timeout=3 * BIG_TIMEOUT)

    # -- limits --

    def over_limit(self, message, compression):
        async def go():
            async with self.connect_ws(compression=compression) as ws:
                try:
                    await asyncio.wait_for(ws.send(message), BIG_TIMEOUT)
                except ConnectionClosed:
                    pass                        # closed while still sending: fine
                with self.assertRaises(ConnectionClosed) as e:
                    await asyncio.wait_for(ws.recv(), BIG_TIMEOUT)
                await asyncio.wait_for(ws.wait_closed(), BIG_TIMEOUT)
                self.assertIsNotNone(e.exception.rcvd, "no close frame from the server "
                                     "(closed abruptly: %r)" % (e.exception,))
                self.assertEqual(e.exception.rcvd.code, 1009, e.exception)
                self.assertEqual(ws.close_code, 1009)
        self.run_async(go(), timeout=3 * BIG_TIMEOUT)

    def test_message_over_the_limit(self):
        self.over_limit(binary_of(LIMIT + 1), None)

    def test_text_over_the_limit(self):
        self.over_limit(text_of(LIMIT + 1), None)

    def test_inflates_over_the_limit(self):
        # 16 MiB + 1 of zeros is a few KiB compressed: the limit is on the inflated message
        self.over_limit(bytes(LIMIT + 1), "deflate")

    def test_inflates_to_the_limit(self):
        async def go():
            async with self.connect_ws(compression="deflate") as ws:
                self.check_extension(ws, True)
                await self.echo(ws, bytes(LIMIT), BIG_TIMEOUT)
                await self.echo(ws, " " * LIMIT, BIG_TIMEOUT)
                await self.close_cleanly(ws)
        self.run_async(go(), timeout=3 * BIG_TIMEOUT)

    # -- control frames --

    def pings(self, tls):
        async def go():
            async with self.connect_ws(tls=tls) as ws:
                for payload in (b"", b"1", os.urandom(125), "text ping"):
                    waiter = await ws.ping(payload)
                    await asyncio.wait_for(waiter, IO_TIMEOUT)
                # several at once, answered in order (the client matches each payload)
                waiters = [await ws.ping(b"p%d" % i) for i in range(10)]
                await asyncio.wait_for(asyncio.gather(*waiters), IO_TIMEOUT)
                # a ping while a large message is on its way both ways
                await ws.send(binary_of(1 << 20))
                waiter = await ws.ping(b"behind a megabyte")
                got = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
                self.assertEqual(len(got), 1 << 20)
                await asyncio.wait_for(waiter, IO_TIMEOUT)
                # unsolicited pongs change nothing
                await ws.pong(b"unasked")
                await self.echo(ws, "still echoing")
                await self.close_cleanly(ws)
        self.run_async(go())

    def test_ping_pong(self):
        self.pings(tls=False)

    def test_ping_pong_tls(self):
        self.pings(tls=True)

    # -- closing --

    def test_close_codes_echoed(self):
        async def go():
            for tls in (False, True):
                for code, reason in ((1000, "bye"), (1000, ""), (1001, "going away"),
                                     (1003, "x"), (1008, ""), (1011, "oops"), (3000, "app"),
                                     (4999, "é" * 61)):
                    async with self.connect_ws(tls=tls) as ws:
                        await self.echo(ws, "before closing")
                        await self.close_cleanly(ws, code, reason)
        self.run_async(go())

    def test_close_with_a_message_pending(self):
        # the close goes out while the echo of a large message may still be on its way: the
        # client gets the echo (or not), then the close with its code
        async def go():
            async with self.connect_ws() as ws:
                await ws.send(binary_of(4 << 20))
                await self.close_cleanly(ws, 1000, "done")
        self.run_async(go())

    def test_abrupt_client_close_is_forgotten(self):
        # clients that vanish without a close frame, some mid-message: /live/ws counts them
        # out again, and the server stays healthy
        async def go():
            async with self.connect_ws("/live/ws") as live:
                async def websockets_count():
                    return json.loads(await asyncio.wait_for(live.recv(), IO_TIMEOUT))["websockets"]

                base = await websockets_count()
                self.assertGreaterEqual(base, 1)          # at least /live/ws itself
                opened = []
                for i in range(6):
                    ws = await self.connect_ws(tls=i % 2 == 1).__aenter__()
                    await self.echo(ws, "hello %d" % i)
                    opened.append(ws)
                await self.wait_count(websockets_count, lambda n: n >= base + 6,
                                      "6 more than %d" % base)
                for i, ws in enumerate(opened):
                    if i % 3 == 0:
                        # half a frame, then the socket is gone
                        ws.transport.write(b"\x82\xfe\x10\x00abcd")
                    ws.transport.abort()
                # (<=: a connection of an earlier test may still have been on its way out)
                await self.wait_count(websockets_count, lambda n: n <= base, "back to %d" % base)
                async with self.connect_ws() as ws:
                    await self.echo(ws, "still here")
                    await self.close_cleanly(ws)
        self.run_async(go())

    async def wait_count(self, read, ok, what, seconds=IO_TIMEOUT):
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            n = await read()
            seen.append(n)
            if ok(n):
                return n
        self.fail("websockets count never %s: saw %r" % (what, seen))

    # -- /live/ws --

    def live(self, tls):
        port = self.sample.tls_port if tls else self.sample.http_port
        origin = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)

        async def go():
            async with self.connect_ws("/live/ws", tls=tls, origin=origin) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
                self.assertEqual(set(first), {"connections", "websockets", "requests",
                                              "bytes_in", "bytes_out", "uptime_ms"}, first)
                for k, v in first.items():
                    self.assertIs(type(v), int, (k, v))
                    self.assertGreaterEqual(v, 0, (k, v))
                self.assertGreaterEqual(first["connections"], 1)
                self.assertGreaterEqual(first["websockets"], 1)
                # an HTTP request of ours shows in a later push
                await asyncio.get_running_loop().run_in_executor(None, self.fetch, tls)
                t0 = time.monotonic()
                last = first
                while True:
                    now = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
                    self.assertGreaterEqual(now["uptime_ms"], last["uptime_ms"])
                    self.assertGreaterEqual(now["requests"], last["requests"])
                    self.assertGreaterEqual(now["bytes_in"], last["bytes_in"])
                    self.assertGreaterEqual(now["bytes_out"], last["bytes_out"])
                    last = now
                    if now["requests"] > first["requests"]:
                        break
                    self.assertLess(time.monotonic() - t0, IO_TIMEOUT, (first, now))
                self.assertGreater(last["uptime_ms"], first["uptime_ms"])
                self.assertGreater(last["bytes_in"], first["bytes_in"])
                await self.close_cleanly(ws)
        self.run_async(go())

    def fetch(self, tls):
        url = self.sample.url("/index.html", tls=tls)
        ctx = insecure_context() if tls else None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ctx))
        with opener.open(url, timeout=IO_TIMEOUT) as r:
            self.assertEqual(r.status, 200)
            r.read()

    def test_live(self):
        self.live(tls=False)

    def test_live_tls(self):
        self.live(tls=True)

    def test_live_pushes_once_a_second(self):
        async def go():
            async with self.connect_ws("/live/ws") as ws:
                stamps = []
                for _ in range(4):
                    m = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
                    stamps.append(m["uptime_ms"])
                gaps = [b - a for a, b in zip(stamps, stamps[1:])]
                # a second apart by the server's own clock (generous bounds: a loaded machine)
                self.assertTrue(all(500 <= g <= 3000 for g in gaps), gaps)
                await self.close_cleanly(ws)
        self.run_async(go())

    def test_live_refuses_a_foreign_origin(self):
        async def go():
            with self.assertRaises(InvalidStatusCode) as e:
                async with self.connect_ws("/live/ws", origin="http://evil.example"):
                    pass
            self.assertEqual(e.exception.status_code, 403)
            # the echo accepts any origin
            async with self.connect_ws(origin="http://evil.example") as ws:
                await self.echo(ws, "from anywhere")
                await self.close_cleanly(ws)
        self.run_async(go())


if __name__ == "__main__":
    main()
