"""WebSocket (RFC 6455, RFC 7692) on mote-sample's /ws and /live/ws, byte by byte over raw
sockets: the opening handshake's answers (101 with the right Sec-WebSocket-Accept, 400, 405,
426, 403 for a foreign Origin on /live/ws), RFC 6455's own examples (section 1.3's key,
section 5.7's frames, RFC 7692 section 7.2.3's compressed "Hello"), and every protocol error a
client can commit, each answered with a close frame carrying the code RFC 6455 section 7.4.1
names (1002 protocol error, 1007 invalid UTF-8, 1009 too big) and then the TCP close.

The frames are built here (client frames masked, as RFC 6455 section 5.3 requires), and the
server's frames are parsed here, so the tests see the exact bytes on the wire: unmasked server
frames, minimal length encodings, the close code. A few cases run again over TLS."""
import base64
import hashlib
import os
import random
import socket
import struct
import time
import zlib

from moteharness import IO_TIMEOUT, SampleTestCase, main

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="               # RFC 6455 section 1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
LIMIT = 16 << 20                                    # the sample's largest message

DEFLATE_OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
BIG_TIMEOUT = 60.0                                  # a 16 MiB message through a slow build


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def xor_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """One frame as a client sends it: masked (unless mask=False), the length in its minimal
    encoding; `length` overrides the length field (the payload is sent as given)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + xor_mask(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def upgrade_request(path="/ws", key=RFC_KEY, version="13", host="127.0.0.1", method="GET",
                    http="HTTP/1.1", upgrade="websocket", connection="Upgrade", extra=(),
                    body=b""):
    """An opening handshake; a header given as None is left out."""
    lines = ["%s %s %s" % (method, path, http)]
    for name, value in (("Host", host), ("Upgrade", upgrade), ("Connection", connection),
                        ("Sec-WebSocket-Key", key),
                        ("Sec-WebSocket-Version", version)):
        if value is not None:
            lines.append("%s: %s" % (name, value))
    for name, value in extra:
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload, raw):
        self.fin, self.rsv, self.opcode, self.masked = fin, rsv, opcode, masked
        self.payload = payload
        self.raw = raw          # the frame's bytes as received

    def code(self):
        """The status code of a close frame (None when it has no payload)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return "<Frame fin=%d rsv=%d op=0x%x masked=%d %d bytes %r>" % (
            self.fin, self.rsv, self.opcode, self.masked, len(self.payload), self.payload[:40])


class WsTestCase(SampleTestCase):
    """Shared helpers: a socket to the sample, the handshake, frames in and out."""

    def handshake(self, request=None, tls=False, path="/ws", expect=101, timeout=None):
        """Connects, sends the handshake; returns (client, response). With expect=101 the
        response is checked as RFC 6455 section 4.2.2 wants it."""
        c = self.connect(tls=tls)
        if request is None:
            key = new_key()
            request = upgrade_request(path, key=key,
                                      host="127.0.0.1:%d" % (self.sample.tls_port if tls
                                                             else self.sample.http_port))
        else:
            key = None
        c.send(request)
        r = c.read_response(timeout=timeout)
        if expect is not None:
            self.assertEqual(r.status, expect, "%r answered %r %r" % (request[:300], r, r.body))
        if expect == 101:
            self.check_101(r, key)
        return c, r

    def check_101(self, r, key=None):
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual((r.header("Upgrade") or "").lower(), "websocket", r.headers)
        self.assertIn("upgrade", [t.strip().lower() for t in (r.header("Connection") or "")
                                  .split(",")], r.headers)
        if key is not None:
            self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(key), r.headers)
        self.assertIsNone(r.header("Content-Length"), r.headers)
        self.assertIsNone(r.header("Transfer-Encoding"), r.headers)

    def open(self, tls=False, path="/ws"):
        return self.handshake(tls=tls, path=path)[0]

    def read_frame(self, c, timeout=None):
        deadline = time.monotonic() + (IO_TIMEOUT if timeout is None else timeout)
        h = c.read_exact(2, deadline)
        raw = h
        n = h[1] & 0x7F
        if n == 126:
            ext = c.read_exact(2, deadline)
            raw += ext
            n = struct.unpack("!H", ext)[0]
        elif n == 127:
            ext = c.read_exact(8, deadline)
            raw += ext
            n = struct.unpack("!Q", ext)[0]
        masked = bool(h[1] & 0x80)
        key = b""
        if masked:
            key = c.read_exact(4, deadline)
            raw += key
        data = c.read_exact(n, deadline)
        raw += data
        payload = xor_mask(data, key) if masked else data
        f = Frame(bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF, masked, payload, raw)
        # every frame the server sends: unmasked (5.1), minimal length (5.2), RSV clear
        # unless compressed (only RSV1, only on a first data frame)
        self.assertFalse(f.masked, f)
        self.assertIn(f.rsv, (0, 4) if f.opcode in (TEXT, BINARY) else (0,), f)
        self.assertEqual(len(raw) - n, 2 if n < 126 else 4 if n < 65536 else 10,
                         "length not in its minimal encoding: %r" % raw[:12])
        return f

    def read_message(self, c, timeout=None, pongs=None):
        """Reads frames until a whole data message is in; returns (opcode, payload, frames).
        Pongs are collected into `pongs` (a list), other control frames fail the test."""
        frames = []
        opcode = None
        parts = []
        while True:
            f = self.read_frame(c, timeout)
            if f.opcode == PONG and pongs is not None:
                pongs.append(f.payload)
                continue
            self.assertNotIn(f.opcode, (CLOSE, PING, PONG), "unexpected %r (after %r)"
                             % (f, frames))
            if opcode is None:
                self.assertIn(f.opcode, (TEXT, BINARY), f)
                opcode = f.opcode
            else:
                self.assertEqual(f.opcode, CONT, f)
            self.assertEqual(f.rsv, 0, f)
            frames.append(f)
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts), frames

    def echo(self, c, opcode, payload, timeout=None):
        c.send(frame(opcode, payload))
        op, got, _ = self.read_message(c, timeout)
        self.assertEqual(op, opcode)
        self.assertEqual(len(got), len(payload))
        self.assertEqual(got, payload)

    def expect_close(self, c, code, sent=b"", timeout=None):
        """The next frame is a close with `code` (None: with no payload); then the server
        closes the TCP connection. Returns the close frame."""
        try:
            f = self.read_frame(c, timeout)
        except ConnectionResetError:
            self.fail("connection reset instead of a close %s after %r" % (code, sent[:80]))
        self.assertEqual(f.opcode, CLOSE, "want close %s after %r, got %r" % (code, sent[:80], f))
        self.assertTrue(f.fin, f)
        self.assertEqual(f.code(), code, "after %r: %r" % (sent[:80], f))
        if len(f.payload) > 2:
            f.payload[2:].decode("utf-8")           # a reason, if any, is UTF-8 (5.5.1)
        self.assertLessEqual(len(f.payload), 125, f)
        self.assertClosed(c, msg="after the close frame (sent %r)" % sent[:80])
        return f

    def protocol_error(self, data, code, tls=False):
        """Opens a WebSocket, sends `data`; expects close `code`, then the TCP close."""
        c = self.open(tls=tls)
        c.send(data)
        self.expect_close(c, code, sent=data)

    def open_deflate(self, tls=False):
        c, r = self.handshake(upgrade_request(key=new_key(), extra=(DEFLATE_OFFER,)), tls=tls)
        ext = r.header("Sec-WebSocket-Extensions")
        self.assertIsNotNone(ext, "permessage-deflate offered, not accepted: %r" % r.headers)
        params = [p.strip().lower() for p in ext.split(";")]
        self.assertEqual(params[0], "permessage-deflate", ext)
        return c, params

    def inflater(self):
        return zlib.decompressobj(-15)

    def deflater(self, params):
        """A compressor for the client's messages within the accepted parameters."""
        bits = 15
        for p in params:
            if p.startswith("client_max_window_bits="):
                bits = int(p.split("=", 1)[1].strip('"'))
        return zlib.compressobj(9, zlib.DEFLATED, -max(bits, 9))

    def compressed(self, deflate, data):
        body = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
        self.assertEqual(body[-4:], b"\x00\x00\xff\xff")
        return body[:-4]

    def read_deflated_message(self, c, inflate, params):
        """One message from the server, inflated when its first frame has RSV1."""
        frames = []
        while True:
            f = self.read_frame(c)
            frames.append(f)
            if f.fin:
                break
        first = frames[0]
        self.assertIn(first.opcode, (TEXT, BINARY), first)
        for f in frames[1:]:
            self.assertEqual((f.opcode, f.rsv), (CONT, 0), f)
        self.assertIn(first.rsv, (0, 4), first)
        data = b"".join(f.payload for f in frames)
        if first.rsv == 4:
            if "server_no_context_takeover" in params:
                inflate = self.inflater()
            data = inflate.decompress(data + b"\x00\x00\xff\xff")
        return first.opcode, data, first.rsv == 4


class HandshakeTest(WsTestCase):
    def test_rfc6455_key_example(self):
        # RFC 6455 section 1.3: this key gives this accept value
        c, r = self.handshake(upgrade_request(key=RFC_KEY))
        self.assertEqual(r.header("Sec-WebSocket-Accept"), RFC_ACCEPT)
        self.check_101(r, RFC_KEY)
        self.assertEqual(accept_for(RFC_KEY), RFC_ACCEPT)          # the test's own arithmetic
        self.echo(c, TEXT, b"after the example handshake")

    def test_accept_values_for_random_keys(self):
        for _ in range(5):
            key = new_key()
            c, r = self.handshake(upgrade_request(key=key))
            self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(key))
            c.close()

    def test_connection_and_upgrade_tokens(self):
        for connection in ("Upgrade", "upgrade", "UPGRADE", "keep-alive, Upgrade",
                           "Upgrade, keep-alive", "keep-alive,upgrade", "foo ,  Upgrade , bar"):
            c, r = self.handshake(upgrade_request(connection=connection))
            self.assertEqual(r.header("Sec-WebSocket-Accept"), RFC_ACCEPT, connection)
            self.echo(c, TEXT, connection.encode())
            c.close()
        for upgrade in ("websocket", "WebSocket", "WEBSOCKET"):
            c, r = self.handshake(upgrade_request(upgrade=upgrade))
            self.echo(c, BINARY, upgrade.encode())
            c.close()

    def test_frame_in_the_same_segment_as_the_request(self):
        c = self.connect()
        c.send(upgrade_request() + frame(TEXT, b"Hello") + frame(BINARY, b"\x00\x01\x02"))
        r = c.read_response()
        self.assertEqual(r.status, 101)
        self.check_101(r, RFC_KEY)
        self.assertEqual(self.read_message(c)[:2], (TEXT, b"Hello"))
        self.assertEqual(self.read_message(c)[:2], (BINARY, b"\x00\x01\x02"))

    def test_close_in_the_same_segment_as_the_request(self):
        c = self.connect()
        c.send(upgrade_request() + frame(CLOSE, close_payload(1000)))
        self.assertEqual(c.read_response().status, 101)
        self.expect_close(c, 1000)

    def test_malformed_requests_get_400(self):
        bad = {
            "no key": dict(key=None),
            "empty key": dict(key=""),
            "key of 15 bytes": dict(key=base64.b64encode(b"k" * 15).decode()),
            "key of 17 bytes": dict(key=base64.b64encode(b"k" * 17).decode()),
            "key not base64": dict(key="!!!!not-base64-at-all!!!"),
            "no Upgrade": dict(upgrade=None),
            "Upgrade: foo": dict(upgrade="foo"),
            "Connection: keep-alive": dict(connection="keep-alive"),
            "no Connection": dict(connection=None),
            "Connection: close": dict(connection="close"),
            "HTTP/1.0": dict(http="HTTP/1.0"),
        }
        for what, kw in bad.items():
            c, r = self.handshake(upgrade_request(**kw), expect=None)
            self.assertEqual(r.status, 400, "%s: %r" % (what, r))
            self.assertIsNone(r.header("Sec-WebSocket-Accept"), what)
            c.close()

    def test_request_with_a_body_gets_400(self):
        for extra, body in (((("Content-Length", "5"),), b"hello"),
                            ((("Transfer-Encoding", "chunked"),), b"5\r\nhello\r\n0\r\n\r\n")):
            c, r = self.handshake(upgrade_request(extra=extra, body=body), expect=None)
            self.assertEqual(r.status, 400, "%r: %r" % (extra, r))
            self.assertIsNone(r.header("Sec-WebSocket-Accept"))
            c.close()

    def test_other_version_gets_426(self):
        for version in ("8", "7", "14", "0"):
            c, r = self.handshake(upgrade_request(version=version), expect=None)
            self.assertEqual(r.status, 426, "version %s: %r" % (version, r))
            self.assertEqual(r.header("Sec-WebSocket-Version"), "13", r.headers)
            self.assertIsNone(r.header("Sec-WebSocket-Accept"))
            c.close()

    def test_missing_version_refused(self):
        c, r = self.handshake(upgrade_request(version=None), expect=None)
        self.assertIn(r.status, (400, 426), r)
        self.assertIsNone(r.header("Sec-WebSocket-Accept"))

    def test_post_gets_405(self):
        c, r = self.handshake(upgrade_request(method="POST"), expect=None)
        self.assertEqual(r.status, 405, r)
        self.assertIsNone(r.header("Sec-WebSocket-Accept"))

    def test_any_origin_on_ws(self):
        c, r = self.handshake(upgrade_request(extra=(("Origin", "http://evil.example"),)))
        self.echo(c, TEXT, b"from anywhere")

    def test_live_ws_origin(self):
        port = self.sample.http_port
        host = "127.0.0.1:%d" % port
        # a foreign Origin: 403
        for origin in ("http://evil.example", "http://evil.example:%d" % port, "null"):
            c, r = self.handshake(upgrade_request("/live/ws", host=host,
                                                  extra=(("Origin", origin),)), expect=None)
            self.assertEqual(r.status, 403, "Origin %s: %r" % (origin, r))
            self.assertIsNone(r.header("Sec-WebSocket-Accept"))
            c.close()
        # the page's own origin: 101, and the statistics arrive as JSON text
        c, r = self.handshake(upgrade_request("/live/ws", host=host,
                                              extra=(("Origin", "http://" + host),)))
        op, data, _ = self.read_message(c, timeout=IO_TIMEOUT)
        self.assertEqual(op, TEXT)
        self.assertIn(b'"uptime_ms"', data)


class Rfc6455ExamplesTest(WsTestCase):
    """RFC 6455 section 5.7: the client sends the masked forms, the server answers with the
    unmasked forms, byte for byte."""

    def test_single_frame_text(self):
        c = self.open()
        masked = bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        c.send(masked)
        f = self.read_frame(c)
        self.assertEqual(f.raw, bytes([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]))

    def test_fragmented_text(self):
        c = self.open()
        # "Hel" then "lo", masked
        c.send(frame(TEXT, b"Hel", fin=False) + frame(CONT, b"lo"))
        _, data, frames = self.read_message(c)
        self.assertEqual(data, b"Hello")
        raw = b"".join(f.raw for f in frames)
        self.assertIn(raw, (bytes([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
                            bytes([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f])), raw)

    def test_ping_pong(self):
        c = self.open()
        c.send(frame(PING, b"Hello", key=bytes([0x37, 0xfa, 0x21, 0x3d])))
        f = self.read_frame(c)
        self.assertEqual(f.raw, bytes([0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]))

    def test_256_bytes_binary(self):
        c = self.open()
        data = bytes(range(256))
        c.send(frame(BINARY, data))
        f = self.read_frame(c)
        self.assertEqual(f.raw[:4], bytes([0x82, 0x7E, 0x01, 0x00]))
        self.assertEqual(f.payload, data)

    def test_64k_binary(self):
        c = self.open()
        data = os.urandom(65536)
        c.send(frame(BINARY, data))
        f = self.read_frame(c)
        self.assertEqual(f.raw[:10], bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]))
        self.assertEqual(f.payload, data)

    def test_length_encodings_at_their_edges(self):
        c = self.open()
        for n in (0, 1, 125, 126, 127, 65535, 65536, 65537):
            data = os.urandom(n)
            c.send(frame(BINARY, data))
            _, got, frames = self.read_message(c)
            self.assertEqual(got, data, n)
            if len(frames) == 1:
                want = (bytes([0x82, n]) if n < 126 else bytes([0x82, 126]) + struct.pack("!H", n)
                        if n < 65536 else bytes([0x82, 127]) + struct.pack("!Q", n))
                self.assertEqual(frames[0].raw[:len(want)], want, n)


class MessagesTest(WsTestCase):
    def test_utf8_valid_edges(self):
        c = self.open()
        for text in ("", "κόσμε", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000",
                     "\U0010ffff", "\ud7ff", "\ue000", "\ufeff BOM", "a\x00b"):
            self.echo(c, TEXT, text.encode("utf-8"))

    def test_utf8_split_across_fragments(self):
        # every split point of a text full of multi-byte characters, including inside them
        c = self.open()
        data = "aé€😀κόσμε\U0010ffff".encode("utf-8")
        for cut in range(len(data) + 1):
            c.send(frame(TEXT, data[:cut], fin=False) + frame(CONT, data[cut:]))
            op, got, _ = self.read_message(c)
            self.assertEqual((op, got), (TEXT, data), cut)
        # one byte per fragment
        c.send(b"".join(frame(TEXT if i == 0 else CONT, data[i:i + 1], fin=i == len(data) - 1)
                        for i in range(len(data))))
        self.assertEqual(self.read_message(c)[:2], (TEXT, data))

    def test_empty_fragments(self):
        c = self.open()
        c.send(frame(TEXT, b"", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b"ab")
               + frame(BINARY, b"", fin=False) + frame(CONT, b""))
        self.assertEqual(self.read_message(c)[:2], (TEXT, b"ab"))
        self.assertEqual(self.read_message(c)[:2], (BINARY, b""))

    def test_pings(self):
        c = self.open()
        for payload in (b"", b"x", os.urandom(125)):
            c.send(frame(PING, payload))
            f = self.read_frame(c)
            self.assertEqual((f.opcode, f.fin, f.payload), (PONG, True, payload))

    def test_ping_between_fragments(self):
        c = self.open()
        c.send(frame(TEXT, b"Hel", fin=False) + frame(PING, b"in between") + frame(CONT, b"lo"))
        pongs = []
        op, data, _ = self.read_message(c, pongs=pongs)
        self.assertEqual((op, data), (TEXT, b"Hello"))
        if not pongs:                           # the pong may also follow the echo
            f = self.read_frame(c)
            self.assertEqual(f.opcode, PONG, f)
            pongs.append(f.payload)
        self.assertEqual(pongs, [b"in between"])

    def test_unsolicited_pong_ignored(self):
        c = self.open()
        c.send(frame(PONG, b"nobody asked") + frame(PONG, b"") + frame(TEXT, b"next"))
        # the next frame from the server is the echo: nothing answered the pongs
        f = self.read_frame(c)
        self.assertEqual((f.opcode, f.payload), (TEXT, b"next"), f)

    def test_fragmented_binary_many_fragments(self):
        c = self.open()
        parts = [os.urandom(i % 7) for i in range(1000)]
        c.send(b"".join(frame(BINARY if i == 0 else CONT, p, fin=i == 999)
                        for i, p in enumerate(parts)))
        self.assertEqual(self.read_message(c)[:2], (BINARY, b"".join(parts)))

    def test_largest_message_in_one_frame(self):
        c = self.open()
        data = os.urandom(LIMIT)
        self.echo(c, BINARY, data, timeout=BIG_TIMEOUT)


class ProtocolErrorTest(WsTestCase):
    def test_unmasked_client_frame(self):
        for op, payload in ((TEXT, b"Hello"), (BINARY, b"x"), (PING, b"p"),
                            (CLOSE, close_payload(1000))):
            self.protocol_error(frame(op, payload, mask=False), 1002)

    def test_rsv_bits_without_extension(self):
        for rsv in (1, 2, 4, 7):
            self.protocol_error(frame(TEXT, b"Hello", rsv=rsv), 1002)
        self.protocol_error(frame(PING, b"p", rsv=1), 1002)
        self.protocol_error(frame(BINARY, b"x", fin=False) + frame(CONT, b"y", rsv=1), 1002)

    def test_reserved_opcodes(self):
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
            self.protocol_error(frame(op, b""), 1002)
            self.protocol_error(frame(op, b"payload"), 1002)

    def test_fragmented_control_frames(self):
        self.protocol_error(frame(PING, b"p", fin=False), 1002)
        self.protocol_error(frame(PONG, b"p", fin=False), 1002)
        self.protocol_error(frame(CLOSE, close_payload(1000), fin=False), 1002)

    def test_control_frame_over_125_bytes(self):
        self.protocol_error(frame(PING, b"p" * 126), 1002)
        self.protocol_error(frame(PONG, b"p" * 126), 1002)
        self.protocol_error(frame(CLOSE, close_payload(1000, b"r" * 124)), 1002)
        self.protocol_error(frame(PING, b"p" * 70000), 1002)            # 64-bit length

    def test_continuation_with_nothing_to_continue(self):
        self.protocol_error(frame(CONT, b"x"), 1002)
        self.protocol_error(frame(CONT, b"x", fin=False), 1002)
        # after a complete message, too
        c = self.open()
        c.send(frame(TEXT, b"a", fin=False) + frame(CONT, b"b"))
        self.assertEqual(self.read_message(c)[:2], (TEXT, b"ab"))
        c.send(frame(CONT, b"c"))
        self.expect_close(c, 1002)

    def test_new_message_inside_a_fragmented_one(self):
        for first, second in ((TEXT, TEXT), (TEXT, BINARY), (BINARY, TEXT), (BINARY, BINARY)):
            self.protocol_error(frame(first, b"a", fin=False) + frame(second, b"b"), 1002)
            self.protocol_error(frame(first, b"a", fin=False) + frame(second, b"b", fin=False),
                                1002)

    def test_invalid_utf8_in_one_frame(self):
        for bad in (b"\xff", b"\xfe", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
                    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
                    b"\x80", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
                    b"ends in the middle \xe2\x82", b"\xf0\x9f\x98"):
            self.protocol_error(frame(TEXT, bad), 1007)

    def test_invalid_utf8_across_fragments(self):
        # the whole message is invalid only at its end: a truncated sequence
        self.protocol_error(frame(TEXT, "κόσμε".encode(), fin=False) + frame(CONT, b"\xe2\x82"),
                            1007)
        self.protocol_error(frame(TEXT, b"\xe2", fin=False) + frame(CONT, b"\x82"), 1007)
        # invalid in the second fragment
        self.protocol_error(frame(TEXT, b"ok so far ", fin=False) + frame(CONT, b"\xff"), 1007)

    def test_invalid_utf8_fails_fast(self):
        # the invalid byte is in the first fragment: the server closes with 1007 without
        # waiting for the rest of the message, which never comes
        for first in (b"\xff", b"\xce\xba\xc0", b"hello \xed\xa0", b"\xf4\x90", b"\xe0\x80",
                      b"\x80more", "κόσμε".encode() + b"\xf8"):
            self.protocol_error(frame(TEXT, first, fin=False), 1007)
        # in the second of three fragments, the third never sent
        self.protocol_error(frame(TEXT, b"abc", fin=False) + frame(CONT, b"\xc3\x28", fin=False),
                            1007)

    def test_invalid_utf8_fails_fast_in_a_partly_sent_frame(self):
        # one frame of a 1000-byte text, the invalid byte among its first bytes, only part of
        # the frame sent: a server that validates as bytes arrive closes without the rest
        c = self.open()
        data = b"ab\xff" + b"x" * 997
        f = frame(TEXT, data)
        c.send(f[:len(f) // 2])
        self.expect_close(c, 1007, sent=f)

    def test_close_with_one_byte(self):
        self.protocol_error(frame(CLOSE, b"\x03"), 1002)

    def test_close_with_invalid_codes(self):
        for code in (0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999,
                     5000, 65535):
            self.protocol_error(frame(CLOSE, close_payload(code)), 1002)

    def test_close_with_non_utf8_reason(self):
        self.protocol_error(frame(CLOSE, close_payload(1000, b"bad \xff reason")), 1007)
        self.protocol_error(frame(CLOSE, close_payload(1000, b"\xed\xa0\x80")), 1007)

    def test_message_over_the_limit_in_one_frame(self):
        # the header says LIMIT + 1: the server may refuse it from the header alone, or once
        # some of it is in; the payload is sent in pieces until the server has answered
        c = self.open()
        key = os.urandom(4)
        head = frame(BINARY, b"", key=key, length=LIMIT + 1)
        self.send_until_answered(c, head, LIMIT + 1, first_wait=IO_TIMEOUT / 4)
        self.expect_close(c, 1009, sent=head, timeout=BIG_TIMEOUT)

    def test_message_over_the_limit_in_fragments(self):
        c = self.open()
        piece = 1 << 20
        sent = 0
        out = []
        for i in range(LIMIT // piece):
            out.append(frame(BINARY if i == 0 else CONT, bytes(piece), fin=False))
            sent += piece
        out.append(frame(CONT, b"!", fin=True))
        data = b"".join(out)
        self.send_until_answered(c, data, 0, first_wait=0)
        self.expect_close(c, 1009, sent=b"16 MiB in fragments, then 1 byte more",
                          timeout=BIG_TIMEOUT)

    def test_most_fragments(self):
        # 65,536 fragments of 256 bytes (16 MiB) are one message; one fragment more is not
        piece = bytes(range(256))
        frames = [frame(BINARY, piece, fin=False)]
        frames += [frame(CONT, piece, fin=False) for _ in range(65534)]
        c = self.open()
        c.send(b"".join(frames) + frame(CONT, piece))
        op, data, _ = self.read_message(c, timeout=BIG_TIMEOUT)
        self.assertEqual((op, len(data)), (BINARY, LIMIT))
        self.assertTrue(data == piece * 65536)
        c.send(frame(CLOSE, close_payload(1000)))
        self.expect_close(c, 1000)

    def send_until_answered(self, c, head, zeros, first_wait, piece=1 << 16):
        """Sends `head`; waits up to `first_wait` seconds for an answer (a server that
        judges by the header alone has answered by then: no more bytes, no reset); then sends
        `zeros` zero bytes (a payload, masked or not) in pieces, stopping as soon as the server
        has something to say."""
        if not c.send_tolerant(head) or c.readable(first_wait):
            return
        left = zeros
        while left > 0:
            n = min(piece, left)
            if not c.send_tolerant(bytes(n)):
                return
            left -= n
            if c.readable(0):
                return

    def test_data_after_a_close_is_not_echoed(self):
        # after its close frame a client sends nothing more (5.5.1): what it sends anyway is
        # not answered, the close is
        c = self.open()
        c.send(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"too late"))
        self.expect_close(c, 1000)


class ClosingTest(WsTestCase):
    def test_valid_codes_echoed(self):
        for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                     4999):
            c = self.open()
            c.send(frame(CLOSE, close_payload(code, b"reason")))
            self.expect_close(c, code)

    def test_close_without_code(self):
        # an empty close is valid (5.5.1): answered with a close, without a code or with 1000
        c = self.open()
        c.send(frame(CLOSE, b""))
        f = self.read_frame(c)
        self.assertEqual(f.opcode, CLOSE, f)
        self.assertIn(f.code(), (None, 1000), f)
        self.assertClosed(c)

    def test_close_with_longest_reason(self):
        c = self.open()
        c.send(frame(CLOSE, close_payload(1000, "é".encode() * 61 + b"x")))   # 125 bytes
        self.expect_close(c, 1000)

    def test_close_after_messages_and_inside_a_fragmented_one(self):
        c = self.open()
        c.send(frame(TEXT, b"one") + frame(BINARY, b"two") + frame(TEXT, b"thr", fin=False)
               + frame(CLOSE, close_payload(1001)))
        self.assertEqual(self.read_message(c)[:2], (TEXT, b"one"))
        self.assertEqual(self.read_message(c)[:2], (BINARY, b"two"))
        # the server may have begun echoing the fragmented message; skip what it sent of it
        while True:
            f = self.read_frame(c)
            if f.opcode == CLOSE:
                break
            self.assertIn(f.opcode, (TEXT, CONT), f)
            self.assertFalse(f.fin, f)
        self.assertEqual(f.code(), 1001)
        self.assertClosed(c)

    def test_client_closes_tcp_without_close_frame(self):
        # the server forgets the connection; the next ones are served as before
        for i in range(20):
            c = self.open()
            c.send(frame(TEXT, b"half", fin=False) if i % 2 else frame(TEXT, b"x" * 1000)[:500])
            c.reset() if i % 3 == 0 else c.close()
        c = self.open()
        self.echo(c, TEXT, b"still here")


class DeflateTest(WsTestCase):
    """RFC 7692 over raw frames: offered by the client, accepted by the server; compressed
    messages carry RSV1 on their first frame only."""

    def test_rfc7692_hello(self):
        c, params = self.open_deflate()
        # RFC 7692 section 7.2.3.1: "Hello" compressed in one frame, then the same again in two
        # fragments (7.2.3.3) and as a stored block (7.2.3.4), then "Hello" twice with a shared
        # context (7.2.3.2) - which a server that keeps the client's context (no
        # client_no_context_takeover) must read as "Hello"
        inflate = self.inflater()
        cases = [
            frame(TEXT, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4),
            frame(TEXT, bytes([0xf2, 0x48, 0xcd]), rsv=4, fin=False)
            + frame(CONT, bytes([0xc9, 0xc9, 0x07, 0x00])),
            frame(TEXT, bytes([0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                               0x00]), rsv=4),
        ]
        for data in cases:
            c.send(data)
            op, got, _ = self.read_deflated_message(c, inflate, params)
            self.assertEqual((op, got), (TEXT, b"Hello"), data)
        c2, params2 = self.open_deflate()
        if "client_no_context_takeover" not in params2:
            inflate2 = self.inflater()
            c2.send(frame(TEXT, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4))
            self.assertEqual(self.read_deflated_message(c2, inflate2, params2)[:2],
                             (TEXT, b"Hello"))
            c2.send(frame(TEXT, bytes([0xf2, 0x00, 0x11, 0x00, 0x00]), rsv=4))
            self.assertEqual(self.read_deflated_message(c2, inflate2, params2)[:2],
                             (TEXT, b"Hello"))

    def test_compressed_and_uncompressed_messages(self):
        c, params = self.open_deflate()
        inflate = self.inflater()
        deflate = self.deflater(params)
        for op, data, compress in ((TEXT, b"plain text, RSV1 clear", False),
                                   (BINARY, os.urandom(3000), True),
                                   (TEXT, "κόσμε ".encode() * 5000, True),
                                   (BINARY, b"", True),
                                   (BINARY, bytes(200000), True),
                                   (TEXT, b"plain again", False)):
            if compress:
                if "client_no_context_takeover" in params:
                    deflate = self.deflater(params)
                c.send(frame(op, self.compressed(deflate, data), rsv=4))
            else:
                c.send(frame(op, data))
            got_op, got, _ = self.read_deflated_message(c, inflate, params)
            self.assertEqual((got_op, len(got)), (op, len(data)))
            self.assertEqual(got, data)

    def test_rsv1_where_it_is_not_allowed(self):
        # compressed bit on a control frame or on a continuation: 1002 even with the extension
        for bad in (frame(PING, b"p", rsv=4),
                    frame(PONG, b"p", rsv=4),
                    frame(CLOSE, close_payload(1000), rsv=4),
                    frame(TEXT, b"a", fin=False) + frame(CONT, b"b", rsv=4),
                    frame(TEXT, b"Hello", rsv=2),
                    frame(TEXT, b"Hello", rsv=1)):
            c, _ = self.open_deflate()
            c.send(bad)
            self.expect_close(c, 1002, sent=bad)

    def test_compressed_invalid_utf8(self):
        c, params = self.open_deflate()
        c.send(frame(TEXT, self.compressed(self.deflater(params), b"valid, then \xff"), rsv=4))
        self.expect_close(c, 1007)

    def test_compressed_bomb_over_the_limit(self):
        # 16 MiB + 1 of zeros deflate to a few KiB: the limit is on the inflated message
        c, params = self.open_deflate()
        body = self.compressed(self.deflater(params), bytes(LIMIT + 1))
        self.assertLess(len(body), 64 << 10)
        c.send(frame(BINARY, body, rsv=4))
        self.expect_close(c, 1009, timeout=BIG_TIMEOUT)

    def test_corrupt_deflate_data(self):
        # an invalid deflate block type: not a valid message (1007 says "data not consistent
        # with the message's type", 1002 a protocol error: either)
        c, _ = self.open_deflate()
        c.send(frame(BINARY, b"\xff\xff\xff\xff", rsv=4))
        f = self.read_frame(c)
        self.assertEqual(f.opcode, CLOSE, f)
        self.assertIn(f.code(), (1002, 1007), f)
        self.assertClosed(c)


class KeepAliveTest(WsTestCase):
    """The server pings a silent socket after --ws-ping-interval and closes it when it stays
    silent as long again; any frame from the client counts as an answer."""

    sample_args = ("--ws-ping-interval", "400")

    def test_silent_socket_pinged_then_closed(self):
        c = self.open()
        start = time.monotonic()
        f = self.read_frame(c, timeout=5)
        self.assertEqual(f.opcode, PING, f)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertClosed(c, msg="no answer to the keep-alive ping")

    def test_answered_pings_keep_it_open(self):
        c = self.open()
        for _ in range(3):
            f = self.read_frame(c, timeout=5)
            self.assertEqual(f.opcode, PING, f)
            c.send(frame(PONG, f.payload))
        self.echo(c, TEXT, b"still here")
        c.send(frame(CLOSE, close_payload(1000)))
        self.expect_close(c, 1000)


class TlsTest(WsTestCase):
    """The same over TLS (wss://)."""

    def test_handshake_and_echo(self):
        key = new_key()
        c, r = self.handshake(upgrade_request(key=key), tls=True)
        self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(key))
        self.echo(c, TEXT, "κόσμε".encode())
        self.echo(c, BINARY, os.urandom(70000))
        c.send(bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]))
        self.assertEqual(self.read_frame(c).raw, bytes([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]))
        c.send(frame(PING, b"Hello"))
        self.assertEqual(self.read_frame(c).raw, bytes([0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]))
        c.send(frame(CLOSE, close_payload(1000, b"bye")))
        self.expect_close(c, 1000)

    def test_frame_in_the_same_record_as_the_request(self):
        c = self.connect(tls=True)
        c.send(upgrade_request() + frame(TEXT, b"Hello"))
        self.assertEqual(c.read_response().status, 101)
        self.assertEqual(self.read_message(c)[:2], (TEXT, b"Hello"))

    def test_messages_in_small_records(self):
        # a fragmented message written as many small TLS records (1 to 300 bytes each, frames
        # straddling records): the server reads ahead of mbedTLS, so complete records may sit
        # in the session after the socket has gone quiet - they must still be served
        for rnd in range(40):
            rng = random.Random(rnd)
            parts = ["aé€😀κόσμε"[:i % 9] * (i % 7) for i in range(300)]
            data = b"".join(frame(TEXT if i == 0 else CONT, p.encode(), fin=False)
                            for i, p in enumerate(parts)) + frame(CONT, b"", fin=True)
            c = self.open(tls=True)
            k = 0
            while k < len(data):
                n = rng.randint(1, 300)
                c.send(data[k:k + n])             # one record per call
                k += n
            try:
                op, got, _ = self.read_message(c)
            except socket.timeout:
                self.fail("round %d: no echo of a %d-byte message sent in records of 1-300 "
                          "bytes (random.Random(%d))" % (rnd, len(data), rnd))
            self.assertEqual((op, got), (TEXT, "".join(parts).encode()), rnd)
            c.close()

    def test_protocol_errors(self):
        self.protocol_error(frame(TEXT, b"Hello", mask=False), 1002, tls=True)
        self.protocol_error(frame(5, b""), 1002, tls=True)
        self.protocol_error(frame(TEXT, b"\xce\xba\xff", fin=False), 1007, tls=True)
        self.protocol_error(frame(CLOSE, close_payload(1005)), 1002, tls=True)
        self.protocol_error(frame(PING, b"p" * 126), 1002, tls=True)

    def test_handshake_refusals(self):
        c, r = self.handshake(upgrade_request(version="8"), tls=True, expect=426)
        self.assertEqual(r.header("Sec-WebSocket-Version"), "13")
        c, r = self.handshake(upgrade_request(key=base64.b64encode(b"k" * 15).decode()),
                              tls=True, expect=400)
        host = "127.0.0.1:%d" % self.sample.tls_port
        self.handshake(upgrade_request("/live/ws", host=host,
                                       extra=(("Origin", "https://evil.example"),)),
                       tls=True, expect=403)
        c, r = self.handshake(upgrade_request("/live/ws", host=host,
                                              extra=(("Origin", "https://" + host),)), tls=True)
        self.assertEqual(self.read_message(c)[0], TEXT)

    def test_deflate(self):
        c, params = self.open_deflate(tls=True)
        inflate = self.inflater()
        c.send(frame(TEXT, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4))
        self.assertEqual(self.read_deflated_message(c, inflate, params)[:2], (TEXT, b"Hello"))
        data = os.urandom(100) * 1000
        c.send(frame(BINARY, self.compressed(self.deflater(params), data), rsv=4))
        self.assertEqual(self.read_deflated_message(c, inflate, params)[:2], (BINARY, data))


if __name__ == "__main__":
    main()
