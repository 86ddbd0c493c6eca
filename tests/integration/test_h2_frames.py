"""HTTP/2 (RFC 9113, HPACK RFC 7541) on mote-sample, frame by frame over raw sockets: every
error rule of RFC 9113 sections 4-8 and RFC 7541 a client can break, each answered with the
error the RFC names and at the level it names (RST_STREAM for a stream error, GOAWAY and the
TCP close for a connection error), the connection staying usable after a stream error; and the
floods of CVE-2019-9511..9518, CVE-2023-44487 (rapid reset), CVE-2024-27316 (CONTINUATION) and
an HPACK bomb, each ended or bounded: the server answers GOAWAY, its memory stays within a
bound, and another client is served meanwhile.

The client speaks h2c with prior knowledge on the plain port (the sample takes the client
preface there) and h2 over TLS with ALPN on the TLS port. Frames are built here: the valid
ones with hyperframe, the broken ones byte by byte; header blocks are literal fields without
indexing (RFC 7541 section 6.2.2, no Huffman, no dynamic table), so a block the server rejects
leaves no HPACK state behind, except where a test encodes with hpack's Encoder on purpose. The
server's frames are parsed with hyperframe and its header blocks decoded with hpack's Decoder.

Where the RFC lets the server choose (a stream error may always be escalated to a connection
error, RFC 9113 section 5.4.1; a frame size error in DATA may be either), the test accepts each
permitted answer and says so."""
import hashlib
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time


def _need_modules():
    """hpack and hyperframe (Debian's python3-hpack, python3-hyperframe): when the interpreter
    running this lacks them and /usr/bin/python3 has them, run under that one; else skip."""
    try:
        import hpack  # noqa: F401
        import hyperframe  # noqa: F401
        return
    except ImportError:
        pass
    alt = "/usr/bin/python3"
    if (not os.environ.get("MOTE_H2_FRAMES_REEXEC") and os.access(alt, os.X_OK) and
            os.path.realpath(sys.executable) != os.path.realpath(alt) and
            subprocess.run([alt, "-c", "import hpack, hyperframe"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL).returncode == 0):
        os.environ["MOTE_H2_FRAMES_REEXEC"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(alt, [alt, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    print("SKIP: hpack and hyperframe not found (Debian: python3-hpack python3-hyperframe)",
          file=sys.stderr)
    sys.exit(77)


_need_modules()

import hpack  # noqa: E402
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame,  # noqa: E402
                              HeadersFrame, PingFrame, PriorityFrame, RstStreamFrame,
                              SettingsFrame)

from moteharness import (IO_TIMEOUT, IT_WORKS, SampleTestCase, insecure_context,  # noqa: E402
                         main, vm_rss_kib)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types (RFC 9113 section 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
# flags
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
# error codes (RFC 9113 section 7)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
               "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
# settings (RFC 9113 section 6.5.2)
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)

MAX_WINDOW = 2 ** 31 - 1
RSS_BOUND_KIB = 64 * 1024          # a flood may grow the server by this much at most
FLOOD_TIMEOUT = 20.0               # a flood is answered within this (slow builds included)
ANSWER_TIMEOUT = 5.0               # an error is answered within this: it needs no handler
CLOSE_TIMEOUT = 2.5                # after its GOAWAY for an error, the server closes within this
                                   # (at once, in fact: the FIN follows the GOAWAY's write)


def err_name(code):
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else "0x%x" % code


def names(codes):
    return "/".join(err_name(c) for c in codes)


# ---- frames and header blocks, as bytes ------------------------------------------------------

def raw_frame(ftype, flags, stream, payload=b"", length=None):
    """A frame as given, valid or not: `length` overrides the length field."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + struct.pack(">BBI", ftype, flags, stream) + payload


def headers_frame(stream, block, end_stream=True, end_headers=True):
    flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
    return HeadersFrame(stream, data=block, flags=flags).serialize()


def continuation(stream, block, end_headers=True):
    return ContinuationFrame(stream, data=block,
                             flags=["END_HEADERS"] if end_headers else []).serialize()


def data_frame(stream, data, end_stream=False):
    return DataFrame(stream, data=data, flags=["END_STREAM"] if end_stream else []).serialize()


def settings_frame(pairs=()):
    """SETTINGS with the (id, value) pairs in order (hyperframe's dict would merge repeats)."""
    return raw_frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def settings_ack():
    return SettingsFrame(0, flags=["ACK"]).serialize()


def ping(data=b"mote-h2!", ack=False):
    return PingFrame(0, opaque_data=data, flags=["ACK"] if ack else []).serialize()


def rst(stream, code=CANCEL):
    return RstStreamFrame(stream, error_code=code).serialize()


def window_update(stream, increment):
    return raw_frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def priority(stream, depends_on=0, weight=15):
    return PriorityFrame(stream, depends_on=depends_on, stream_weight=weight).serialize()


def goaway(last_stream=0, code=NO_ERROR):
    return GoAwayFrame(0, last_stream_id=last_stream, error_code=code).serialize()


def hpack_int(value, prefix_bits, first=0):
    """RFC 7541 section 5.1: an integer with an N-bit prefix, `first` holding the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _b(s):
    return s if isinstance(s, bytes) else s.encode("latin-1")


def hpack_str(s):
    s = _b(s)
    return hpack_int(len(s), 7) + s


def lit(name, value):
    """A literal field without indexing, new name, no Huffman (RFC 7541 section 6.2.2)."""
    return b"\x00" + hpack_str(name) + hpack_str(value)


def lit_indexed(name, value):
    """A literal field with incremental indexing, new name (RFC 7541 section 6.2.1)."""
    return b"\x40" + hpack_str(name) + hpack_str(value)


def block(fields):
    return b"".join(lit(n, v) for n, v in fields)


def request_fields(path="/", method="GET", authority="127.0.0.1", scheme="http", extra=()):
    return [(":method", method), (":scheme", scheme), (":authority", authority),
            (":path", path)] + list(extra)


GET_ROOT = block(request_fields())


# ---- the client ---------------------------------------------------------------------------------

class Closed(AssertionError):
    pass


class StillOpen(AssertionError):
    pass


class H2:
    """One HTTP/2 connection: frames out as bytes, frames in parsed (hyperframe), header blocks
    decoded (hpack), SETTINGS acknowledged, DATA given its window back (unless auto_window is
    off), the peer's windows tracked for our DATA."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.reset_seen = False
        self.decoder = hpack.Decoder()
        self.encoder = hpack.Encoder()
        self.next_stream = 1
        self.server_settings = {}
        self.settings_acked = 0        # SETTINGS ACKs received
        self.log = []                  # a summary of each frame received
        self.goaways = []
        self.auto_window = True
        self.auto_ack = True
        self.conn_window = 65535       # ours to send into (RFC 9113 section 6.9.2)
        self.peer_initial = 65535
        self.stream_windows = {}
        self.block = None              # (stream, [frame], bytes) a header block being received
        self.pings = 0                 # PING ACKs received

    # -- connecting --

    @classmethod
    def plain(cls, sample, timeout=IO_TIMEOUT, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no 40 ms for small frames
        s.settimeout(timeout)
        s.connect(("127.0.0.1", sample.http_port))
        return cls(s, timeout)

    @classmethod
    def tls(cls, sample, timeout=IO_TIMEOUT, alpn=("h2",)):
        ctx = insecure_context()
        ctx.set_alpn_protocols(list(alpn))
        raw = socket.create_connection(("127.0.0.1", sample.tls_port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise
        s.settimeout(timeout)
        return cls(s, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def start(self, settings=(), preface=PREFACE, wait_ack=True):
        """The client preface and our SETTINGS; reads the server's SETTINGS (its first frame,
        RFC 9113 section 3.4), acknowledges it, and (wait_ack) waits for the ACK of ours."""
        self.send(preface + settings_frame(settings))
        deadline = time.monotonic() + self.timeout
        first = self.read_frame(deadline)
        if first is None or first.type != SETTINGS or "ACK" in first.flags:
            raise AssertionError("the server's first frame is %s, not SETTINGS (frames: %s)"
                                 % (self.describe(first), self.log))
        while wait_ack and not self.settings_acked:
            if self.read_frame(deadline) is None:
                raise Closed("closed before acknowledging our SETTINGS: %s" % self.log)
        return self

    # -- sending --

    def send(self, *chunks):
        self.sock.sendall(b"".join(chunks))

    def send_tolerant(self, *chunks):
        """sendall() that stops quietly when the server has closed or reset the connection."""
        try:
            self.sock.sendall(b"".join(chunks))
            return True
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            return False

    def new_stream(self):
        sid = self.next_stream
        self.next_stream += 2
        self.stream_windows[sid] = self.peer_initial
        return sid

    def request(self, fields=None, end_stream=True, stream=None, encoder=False):
        """HEADERS with END_HEADERS; fields as (name, value) (default GET /). Returns the
        stream id. encoder=True encodes with hpack (Huffman, dynamic table)."""
        sid = self.new_stream() if stream is None else stream
        fields = request_fields() if fields is None else fields
        blk = self.encoder.encode(fields) if encoder else block(fields)
        self.send(headers_frame(sid, blk, end_stream=end_stream))
        return sid

    def send_body(self, sid, body, end_stream=True, deadline=None):
        """DATA within the peer's windows and SETTINGS_MAX_FRAME_SIZE, waiting for its
        WINDOW_UPDATEs as needed."""
        deadline = deadline or time.monotonic() + self.timeout
        max_frame = self.server_settings.get(MAX_FRAME_SIZE, 16384)
        off = 0
        while off < len(body):
            room = min(self.conn_window, self.stream_windows[sid], max_frame, len(body) - off)
            if room <= 0:
                if self.read_frame(deadline) is None:
                    raise Closed("closed while our DATA waited for window: %s" % self.log[-10:])
                continue
            last = off + room == len(body)
            self.send(data_frame(sid, body[off:off + room], end_stream=end_stream and last))
            self.conn_window -= room
            self.stream_windows[sid] -= room
            off += room
        if not body and end_stream:
            self.send(data_frame(sid, b"", end_stream=True))

    # -- receiving --

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            self.eof = self.reset_seen = True
            return False
        except ssl.SSLError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_frame(self):
        """A complete frame from the buffer (processed), or None."""
        if len(self.buf) < 9:
            return None
        length = int.from_bytes(self.buf[:3], "big")
        if len(self.buf) < 9 + length:
            return None
        head, body, self.buf = self.buf[:9], self.buf[9:9 + length], self.buf[9 + length:]
        f, n = Frame.parse_frame_header(memoryview(head))
        f.parse_body(memoryview(body))
        f.raw_flags = head[4]
        self._process(f, body)
        return f

    def read_frame(self, deadline):
        """The next frame, or None at EOF (or a reset). Raises socket.timeout at the
        deadline."""
        while True:
            f = self._take_frame()
            if f is not None:
                return f
            if not self._fill(deadline):
                return None

    def _process(self, f, body):
        self.log.append(self.describe(f))
        if len(self.log) > 400:
            del self.log[:200]
        if f.type in (HEADERS, PUSH_PROMISE):
            self.block = (f.stream_id, f, bytes(f.data))
            if "END_HEADERS" in f.flags:
                self._decode_block(f)
        elif f.type == CONTINUATION:
            if self.block is None or self.block[0] != f.stream_id:
                raise AssertionError("the server sent CONTINUATION outside a header block")
            self.block = (self.block[0], self.block[1], self.block[2] + bytes(f.data))
            if "END_HEADERS" in f.flags:
                self._decode_block(f)
        elif self.block is not None:
            raise AssertionError("the server interleaved %s inside a header block"
                                 % self.describe(f))
        if f.type == SETTINGS:
            if "ACK" in f.flags:
                self.settings_acked += 1
            else:
                for k, v in f.settings.items():
                    if k == INITIAL_WINDOW_SIZE:
                        for sid in self.stream_windows:
                            self.stream_windows[sid] += v - self.peer_initial
                        self.peer_initial = v
                    self.server_settings[k] = v
                if self.auto_ack:
                    self.send_tolerant(settings_ack())
        elif f.type == WINDOW_UPDATE:
            if f.stream_id == 0:
                self.conn_window += f.window_increment
            elif f.stream_id in self.stream_windows:
                self.stream_windows[f.stream_id] += f.window_increment
        elif f.type == DATA:
            n = len(body)          # flow control counts the whole payload, padding included
            if n and self.auto_window:
                self.send_tolerant(window_update(0, n) + window_update(f.stream_id, n))
        elif f.type == GOAWAY:
            self.goaways.append(f)
        elif f.type == PING and "ACK" in f.flags:
            self.pings += 1

    def _decode_block(self, last):
        sid, first, data = self.block
        self.block = None
        try:
            first.headers = self.decoder.decode(data, raw=True)
        except Exception as e:
            raise AssertionError("the server's header block does not decode: %r" % e)
        last.headers = first.headers
        first.complete = True

    @staticmethod
    def describe(f):
        if f is None:
            return "EOF"
        name = TYPE_NAMES[f.type] if f.type < len(TYPE_NAMES) else "type 0x%x" % f.type
        extra = ""
        if f.type == GOAWAY:
            extra = " last=%d %s %r" % (f.last_stream_id, err_name(f.error_code),
                                        bytes(f.additional_data)[:80])
        elif f.type == RST_STREAM:
            extra = " " + err_name(f.error_code)
        elif f.type == WINDOW_UPDATE:
            extra = " +%d" % f.window_increment
        elif f.type == DATA:
            extra = " %d bytes" % len(f.data)
        elif f.type == SETTINGS:
            extra = " %r" % dict(f.settings)
        return "%s(%d)%s%s" % (name, f.stream_id, extra,
                               " " + ",".join(sorted(f.flags)) if f.flags else "")

    # -- what the tests wait for --

    def response(self, sid, timeout=None):
        """Reads until stream `sid` ends; returns (status, {name: value}, body). Fails on its
        RST_STREAM, a GOAWAY or EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        status, fields, body = None, {}, []
        while True:
            try:
                f = self.read_frame(deadline)
            except socket.timeout:
                raise AssertionError("stream %d: no end within %.1f s; frames: %s"
                                     % (sid, timeout or self.timeout, self.log[-20:]))
            if f is None:
                raise Closed("stream %d: EOF before its end; frames: %s" % (sid, self.log[-20:]))
            if f.type == GOAWAY:
                raise AssertionError("stream %d: GOAWAY %s before its end; frames: %s"
                                     % (sid, err_name(f.error_code), self.log[-20:]))
            if f.stream_id != sid:
                continue
            if f.type == RST_STREAM:
                raise AssertionError("stream %d reset with %s before its end; frames: %s"
                                     % (sid, err_name(f.error_code), self.log[-20:]))
            if f.type in (HEADERS, CONTINUATION) and getattr(f, "headers", None) is not None:
                h = {n.decode("latin-1"): v.decode("latin-1") for n, v in f.headers}
                if status is None or (status // 100 == 1 and ":status" in h):
                    status = int(h[":status"])
                    fields = h
            elif f.type == DATA:
                body.append(bytes(f.data))
            if "END_STREAM" in f.flags:
                if status is None:
                    raise AssertionError("stream %d ended without a :status" % sid)
                return status, fields, b"".join(body)

    def get(self, path="/", timeout=None):
        sid = self.request(request_fields(path))
        return self.response(sid, timeout)

    def wait_closed(self, timeout=None):
        """Reads (and processes) frames until EOF; fails at the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self.read_frame(deadline) is not None:
                pass
        except socket.timeout:
            raise StillOpen("the connection is still open %.1f s later; frames: %s"
                                 % (timeout or self.timeout, self.log[-20:]))

    def outcome(self, sid=None, timeout=ANSWER_TIMEOUT):
        """What the server answers an error with: ("goaway", code) or ("rst", code) for
        stream `sid`, or ("eof", None) / ("timeout", None). Other frames are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.read_frame(deadline)
            except socket.timeout:
                return "timeout", None
            if f is None:
                return "eof", None
            if f.type == GOAWAY:
                return "goaway", f.error_code
            if f.type == RST_STREAM and (sid is None or f.stream_id == sid):
                return "rst", f.error_code


def other_client_get(sample, tls=False):
    """A well-behaved second client: a new connection, GET /, its status and body."""
    h = H2.tls(sample) if tls else H2.plain(sample)
    try:
        h.start()
        status, _, body = h.get("/")
        return status, body
    finally:
        h.close()


# ---- the tests ----------------------------------------------------------------------------------

class H2Case(SampleTestCase):
    sample_args = ()

    def open(self, settings=(), tls=False, **kw):
        h = H2.tls(self.sample) if tls else H2.plain(self.sample, **kw)
        self.addCleanup(h.close)
        return h.start(settings)

    def assertConnectionError(self, h, codes, msg=""):
        """A GOAWAY with one of `codes`, then the TCP close (RFC 9113 section 5.4.1: after a
        GOAWAY for an error the endpoint MUST close the connection)."""
        codes = (codes,) if isinstance(codes, int) else tuple(codes)
        kind, code = h.outcome()
        if kind != "goaway":
            self.fail("%s: want GOAWAY %s (connection error), got %s %s; frames: %s"
                      % (msg, names(codes), kind, err_name(code) if code is not None else "",
                         h.log[-15:]))
        self.assertIn(code, codes, "%s: GOAWAY %s, want %s; frames: %s"
                      % (msg, err_name(code), names(codes), h.log[-15:]))
        self.assertClosesAfterGoaway(h, msg)
        return code

    def assertClosesAfterGoaway(self, h, msg=""):
        """RFC 9113 section 5.4.1: "After sending the GOAWAY frame for an error condition,
        the endpoint MUST close the TCP connection"."""
        try:
            h.wait_closed(CLOSE_TIMEOUT)
        except StillOpen:
            self.fail("%s: GOAWAY %s sent, but the TCP connection is still open %.0f s later "
                      "(RFC 9113 section 5.4.1: MUST close); frames: %s"
                      % (msg, err_name(h.goaways[-1].error_code), CLOSE_TIMEOUT, h.log[-15:]))

    def assertStreamError(self, h, sid, codes, msg=""):
        """RST_STREAM on `sid` with one of `codes` and no GOAWAY; then the connection still
        serves: GET / on a new stream is answered 200."""
        codes = (codes,) if isinstance(codes, int) else tuple(codes)
        kind, code = h.outcome(sid)
        if kind != "rst":
            self.fail("%s: want RST_STREAM %s on stream %d (stream error), got %s %s; "
                      "frames: %s" % (msg, names(codes), sid, kind,
                                      err_name(code) if code is not None else "", h.log[-15:]))
        self.assertIn(code, codes, "%s: RST_STREAM %s, want %s; frames: %s"
                      % (msg, err_name(code), names(codes), h.log[-15:]))
        self.assertUsable(h, msg)
        return code

    def assertUsable(self, h, msg=""):
        status, _, body = h.get("/")
        self.assertEqual(status, 200, msg)
        self.assertIn(b"<html", body, msg)

    def connection_error(self, frames, codes, settings=(), msg=""):
        """A fresh connection sends `frames` (bytes) after its preface: a connection error."""
        h = self.open(settings)
        h.send_tolerant(frames)
        return self.assertConnectionError(h, codes, msg or repr(frames[:40]))

    def stream_error(self, fields, codes=PROTOCOL_ERROR, body=None, msg=""):
        """A request with `fields` (and `body`): a stream error, the connection usable."""
        h = self.open()
        sid = h.request(fields, end_stream=body is None)
        if body is not None:
            h.send(data_frame(sid, body, end_stream=True))
        return self.assertStreamError(h, sid, codes, msg or repr(fields))


class Basics(H2Case):
    """What the error tests stand on: requests answered over h2c and h2."""

    def test_get_prior_knowledge(self):
        h = self.open()
        self.assertEqual(h.server_settings.get(MAX_CONCURRENT_STREAMS), 100, h.log)
        self.assertEqual(h.server_settings.get(ENABLE_PUSH, 0), 0, h.log)
        status, fields, body = h.get("/index.html")
        self.assertEqual(status, 200)
        self.assertEqual(body, IT_WORKS)
        self.assertEqual(int(fields["content-length"]), len(IT_WORKS))

    def test_get_hpack_encoder(self):
        # Huffman strings and the dynamic table, over three requests on one connection
        h = self.open()
        for path in ("/index.html", "/index.html?b", "/assets/live.js"):
            sid = h.request(request_fields(path, extra=[("user-agent", "h2-frames"),
                                                        ("accept", "*/*")]), encoder=True)
            status, _, body = h.response(sid)
            self.assertEqual(status, 200, path)
            self.assertTrue(body, path)

    def test_tls_alpn_h2(self):
        h = self.open(tls=True)
        self.assertEqual(h.sock.selected_alpn_protocol(), "h2")
        status, _, body = h.get("/index.html")
        self.assertEqual((status, body), (200, IT_WORKS))
        sid = h.request(request_fields("/echo", "POST", extra=[("content-length", "5")]),
                        end_stream=False)
        h.send_body(sid, b"hello")
        status, fields, body = h.response(sid)
        self.assertEqual((status, body, fields.get("x-body-length")), (200, b"hello", "5"))

    def test_tls_ping_on_stream_is_connection_error(self):
        # RFC 9113 section 6.7: PING with a stream identifier other than 0x0: PROTOCOL_ERROR
        h = self.open(tls=True)
        h.send(raw_frame(PING, 0, 1, b"12345678"))
        self.assertConnectionError(h, PROTOCOL_ERROR, "PING on stream 1 over TLS")

    def test_tls_bad_preface(self):
        # RFC 9113 section 3.4: an invalid preface is a connection error PROTOCOL_ERROR; the
        # GOAWAY MAY be omitted, so a plain close is accepted as well
        h = H2.tls(self.sample)
        self.addCleanup(h.close)
        h.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings_frame())
        kind, code = h.outcome()
        self.assertIn(kind, ("goaway", "eof"), h.log)
        if kind == "goaway":
            self.assertEqual(code, PROTOCOL_ERROR, h.log)
            h.wait_closed()

    def test_ping_answered(self):
        h = self.open()
        h.send(ping(b"abcdefgh"))
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, h.log)
            if f.type == PING:
                break
        self.assertIn("ACK", f.flags)
        self.assertEqual(bytes(f.opaque_data), b"abcdefgh")

    def test_post_echo_beyond_initial_window(self):
        # 300000 bytes > the 65535 stream window: the server must give window back as the
        # body is taken (WINDOW_UPDATE), and the echo comes back whole
        h = self.open()
        body = bytes((i * 7 + i // 251) & 0xFF for i in range(300000))
        sid = h.request(request_fields("/echo", "POST", extra=[
            ("content-type", "application/octet-stream"), ("content-length", str(len(body)))]),
            end_stream=False)
        h.send_body(sid, body, deadline=time.monotonic() + 30)
        status, fields, echoed = h.response(sid, timeout=30)
        self.assertEqual(status, 200)
        self.assertEqual(fields.get("x-body-length"), str(len(body)))
        self.assertEqual(len(echoed), len(body))
        self.assertTrue(echoed == body, "the echoed body differs")
        # (the body could not have gone through without them: send_body waits for window)
        self.assertTrue(any(l.startswith("WINDOW_UPDATE(%d)" % sid) for l in h.log), h.log)

    def test_post_echo_without_content_length(self):
        h = self.open()
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send_body(sid, b"a" * 70000)
        status, fields, echoed = h.response(sid)
        self.assertEqual((status, len(echoed)), (200, 70000))

    def test_padded_frames_accepted(self):
        # padding is legal on HEADERS and DATA (RFC 9113 sections 6.1, 6.2)
        h = self.open()
        sid = h.new_stream()
        blk = block(request_fields("/echo", "POST", extra=[("content-length", "3")]))
        h.send(raw_frame(HEADERS, END_HEADERS | PADDED, sid, bytes([4]) + blk + b"\0" * 4),
               raw_frame(DATA, END_STREAM | PADDED, sid, bytes([10]) + b"abc" + b"\0" * 10))
        status, _, body = h.response(sid)
        self.assertEqual((status, body), (200, b"abc"))

    def test_unknown_frame_types_ignored(self):
        # RFC 9113 section 4.1, 5.5: frames of unknown types MUST be ignored and discarded
        h = self.open()
        h.send(raw_frame(0xEE, 0xFF, 0, b"whatever"), raw_frame(0x20, 0, 1, b"x" * 100),
               raw_frame(0xFA, 0, 7, b""))
        self.assertUsable(h)
        # and between a stream's HEADERS and its DATA
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send(raw_frame(0xEE, 0, sid, b"ext"), data_frame(sid, b"xyz", end_stream=True))
        status, _, body = h.response(sid)
        self.assertEqual((status, body), (200, b"xyz"))

    def test_unknown_setting_ignored(self):
        # RFC 9113 section 6.5.2: an unknown or unsupported identifier MUST be ignored
        h = self.open([(0x4242, 7), (0xFFFF, 0xFFFFFFFF)])
        self.assertUsable(h)

    def test_te_trailers_accepted(self):
        h = self.open()
        sid = h.request(request_fields(extra=[("te", "trailers")]))
        self.assertEqual(h.response(sid)[0], 200)

    def test_trailers_accepted(self):
        h = self.open()
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send(data_frame(sid, b"body"), headers_frame(sid, block([("x-trailer", "1")])))
        status, _, body = h.response(sid)
        self.assertEqual((status, body), (200, b"body"))

    def test_client_goaway_lets_streams_finish(self):
        # the client's GOAWAY (RFC 9113 section 6.8) stops new server streams, not the
        # client's open ones: stream 1 is answered in full, then the connection ends
        h = self.open()
        sid = h.request(request_fields("/index.html"))
        h.send(goaway(0, NO_ERROR))
        status, _, body = h.response(sid)
        self.assertEqual((status, body), (200, IT_WORKS))
        h.wait_closed()

    def test_many_sequential_streams(self):
        # three times the concurrent limit in streams over a connection's life, one after
        # the other: a well-behaved client is never cut off
        h = self.open()
        for i in range(300):
            sid = h.request(request_fields("/index.html?%d" % i))
            status, _, body = h.response(sid)
            self.assertEqual(status, 200)
        h.send(ping())
        self.assertUsable(h)


class ConnectionErrors(H2Case):
    """RFC 9113 sections 4-6: frames the connection cannot survive."""

    # -- stream 0 and stream identifiers (sections 5.1, 5.1.1, 6.1, 6.2) --

    def test_data_on_stream_0(self):
        self.connection_error(raw_frame(DATA, 0, 0, b"abc"), PROTOCOL_ERROR)

    def test_headers_on_stream_0(self):
        self.connection_error(raw_frame(HEADERS, END_HEADERS | END_STREAM, 0, GET_ROOT),
                              PROTOCOL_ERROR)

    def test_even_stream_id(self):
        # section 5.1.1: streams initiated by a client MUST use odd-numbered identifiers
        self.connection_error(headers_frame(2, GET_ROOT), PROTOCOL_ERROR)

    def test_decreasing_stream_id(self):
        # section 5.1.1: a new stream's identifier MUST be greater than all opened before
        h = self.open()
        h.send(headers_frame(5, block(request_fields("/events"))))
        h.send(headers_frame(3, GET_ROOT))
        self.assertConnectionError(h, PROTOCOL_ERROR)

    def test_data_on_idle_stream(self):
        # section 5.1: idle: any frame but HEADERS or PRIORITY is a connection error
        # PROTOCOL_ERROR
        self.connection_error(data_frame(1, b"abc"), PROTOCOL_ERROR)

    def test_rst_stream_on_idle_stream(self):
        self.connection_error(rst(3, CANCEL), PROTOCOL_ERROR)

    def test_window_update_on_idle_stream(self):
        self.connection_error(window_update(3, 100), PROTOCOL_ERROR)

    def test_headers_on_closed_stream(self):
        # section 5.1, closed: "an endpoint that receives any frames after receiving a frame
        # with the END_STREAM flag set MUST treat that as a connection error of type
        # STREAM_CLOSED"; the reused identifier is also an unexpected one for section 5.1.1
        # (PROTOCOL_ERROR): either code
        h = self.open()
        sid = h.request()
        self.assertEqual(h.response(sid)[0], 200)
        h.send(headers_frame(sid, GET_ROOT))
        self.assertConnectionError(h, (STREAM_CLOSED, PROTOCOL_ERROR))

    def test_headers_on_half_closed_stream(self):
        # section 5.1, half-closed (remote): a frame other than WINDOW_UPDATE, PRIORITY or
        # RST_STREAM is a stream error STREAM_CLOSED (which may be escalated, section 5.4.1)
        h = self.open()
        sid = h.request(request_fields("/events"))
        status, _ = self.read_head(h, sid)
        self.assertEqual(status, 200)
        h.send(headers_frame(sid, block([("x-late", "1")])))
        kind, code = h.outcome(sid)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, STREAM_CLOSED, h.log)

    def test_data_on_half_closed_stream(self):
        h = self.open()
        sid = h.request(request_fields("/events"))
        self.read_head(h, sid)
        h.send(data_frame(sid, b"late"))
        kind, code = h.outcome(sid)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, STREAM_CLOSED, h.log)

    @staticmethod
    def read_head(h, sid):
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            f = h.read_frame(deadline)
            if f is None or f.type == GOAWAY:
                raise AssertionError("no response head on stream %d: %s" % (sid, h.log))
            if f.stream_id == sid and f.type == HEADERS and getattr(f, "headers", None):
                h_ = dict(f.headers)
                return int(h_[b":status"]), h_

    # -- SETTINGS (section 6.5) --

    def test_settings_on_stream(self):
        self.connection_error(raw_frame(SETTINGS, 0, 1, b""), PROTOCOL_ERROR)

    def test_settings_length_not_multiple_of_6(self):
        self.connection_error(raw_frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00\x64\x00"),
                              FRAME_SIZE_ERROR)

    def test_settings_ack_with_payload(self):
        self.connection_error(raw_frame(SETTINGS, ACK, 0, struct.pack(">HI", 3, 100)),
                              FRAME_SIZE_ERROR)

    def test_settings_enable_push_2(self):
        self.connection_error(settings_frame([(ENABLE_PUSH, 2)]), PROTOCOL_ERROR)

    def test_settings_initial_window_too_large(self):
        self.connection_error(settings_frame([(INITIAL_WINDOW_SIZE, 2 ** 31)]),
                              FLOW_CONTROL_ERROR)

    def test_settings_max_frame_size_too_small(self):
        self.connection_error(settings_frame([(MAX_FRAME_SIZE, 16383)]), PROTOCOL_ERROR)

    def test_settings_max_frame_size_too_large(self):
        self.connection_error(settings_frame([(MAX_FRAME_SIZE, 2 ** 24)]), PROTOCOL_ERROR)

    def test_first_frame_not_settings(self):
        # section 3.4: the preface MUST be followed by SETTINGS
        h = H2.plain(self.sample)
        self.addCleanup(h.close)
        h.send(PREFACE + ping())
        self.assertConnectionError(h, PROTOCOL_ERROR)

    # -- PING, GOAWAY, RST_STREAM, PRIORITY, PUSH_PROMISE (sections 6.3, 6.4, 6.6-6.8) --

    def test_ping_length_not_8(self):
        self.connection_error(raw_frame(PING, 0, 0, b"1234567"), FRAME_SIZE_ERROR)

    def test_ping_length_9(self):
        self.connection_error(raw_frame(PING, 0, 0, b"123456789"), FRAME_SIZE_ERROR)

    def test_ping_on_stream(self):
        self.connection_error(raw_frame(PING, 0, 1, b"12345678"), PROTOCOL_ERROR)

    def test_goaway_on_stream(self):
        self.connection_error(raw_frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)), PROTOCOL_ERROR)

    def test_rst_stream_on_stream_0(self):
        self.connection_error(raw_frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL)),
                              PROTOCOL_ERROR)

    def test_rst_stream_length_not_4(self):
        h = self.open()
        sid = h.request(request_fields("/events"))
        h.send(raw_frame(RST_STREAM, 0, sid, b"\0\0\0\x08\0"))
        self.assertConnectionError(h, FRAME_SIZE_ERROR)

    def test_priority_on_stream_0(self):
        self.connection_error(raw_frame(PRIORITY, 0, 0, struct.pack(">IB", 1, 15)),
                              PROTOCOL_ERROR)

    def test_priority_length_not_5(self):
        # section 6.3: a PRIORITY frame with a length other than 5 octets is a stream error
        # FRAME_SIZE_ERROR (escalation to a connection error is allowed, section 5.4.1)
        h = self.open()
        h.send(raw_frame(PRIORITY, 0, 1, struct.pack(">IBB", 0, 15, 0)))
        kind, code = h.outcome(1)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, FRAME_SIZE_ERROR, h.log)

    def test_push_promise_from_client(self):
        # section 8.4: a server that receives PUSH_PROMISE: connection error PROTOCOL_ERROR
        h = self.open()
        sid = h.request(request_fields("/events"))
        h.send(raw_frame(PUSH_PROMISE, END_HEADERS, sid, struct.pack(">I", 2) + GET_ROOT))
        self.assertConnectionError(h, PROTOCOL_ERROR)

    # -- WINDOW_UPDATE and flow control (section 6.9) --

    def test_window_update_zero_on_connection(self):
        self.connection_error(window_update(0, 0), PROTOCOL_ERROR)

    def test_window_update_length_not_4(self):
        self.connection_error(raw_frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\x01\0"), FRAME_SIZE_ERROR)

    def test_window_update_overflows_connection_window(self):
        # section 6.9.1: a window beyond 2^31-1: connection error FLOW_CONTROL_ERROR
        h = self.open()
        room = MAX_WINDOW - 65535   # the server's window for its sending is 65535 still
        h.send(window_update(0, room), window_update(0, 1))
        self.assertConnectionError(h, FLOW_CONTROL_ERROR)

    # -- frame size (section 4.2) --

    def test_headers_larger_than_max_frame_size(self):
        # a frame carrying a field block: a frame size error MUST be a connection error
        blk = block(request_fields(extra=[("x-big", "a" * 16500)]))
        self.connection_error(headers_frame(1, blk), FRAME_SIZE_ERROR)

    def test_settings_larger_than_max_frame_size(self):
        self.connection_error(settings_frame([(0x4242, 1)] * 2731), FRAME_SIZE_ERROR)

    def test_data_larger_than_max_frame_size(self):
        # DATA on a stream: a stream or a connection error FRAME_SIZE_ERROR
        h = self.open()
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        h.send_tolerant(data_frame(sid, b"d" * 16385))
        kind, code = h.outcome(sid)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, FRAME_SIZE_ERROR, h.log)

    # -- header blocks (sections 4.3, 6.10) --

    def test_continuation_without_headers(self):
        self.connection_error(continuation(1, GET_ROOT), PROTOCOL_ERROR)

    def test_continuation_after_ended_block(self):
        h = self.open()
        sid = h.request(request_fields("/events"))
        h.send(continuation(sid, block([("x-more", "1")])))
        self.assertConnectionError(h, PROTOCOL_ERROR)

    def test_ping_inside_header_block(self):
        blk = GET_ROOT
        self.connection_error(headers_frame(1, blk[:10], end_headers=False) + ping() +
                              continuation(1, blk[10:]), PROTOCOL_ERROR)

    def test_data_inside_header_block(self):
        blk = block(request_fields("/echo", "POST"))
        self.connection_error(headers_frame(1, blk[:10], end_stream=False, end_headers=False) +
                              data_frame(1, b"x") + continuation(1, blk[10:]), PROTOCOL_ERROR)

    def test_headers_of_other_stream_inside_header_block(self):
        blk = GET_ROOT
        self.connection_error(headers_frame(1, blk[:10], end_headers=False) +
                              headers_frame(3, blk) + continuation(1, blk[10:]), PROTOCOL_ERROR)

    def test_continuation_on_other_stream(self):
        blk = GET_ROOT
        self.connection_error(headers_frame(1, blk[:10], end_headers=False) +
                              continuation(3, blk[10:]), PROTOCOL_ERROR)

    def test_unknown_frame_inside_header_block(self):
        # section 6.10: "Any other type of frame" inside a field block is a PROTOCOL_ERROR,
        # unknown types included (section 5.5 exempts them only outside one)
        blk = GET_ROOT
        self.connection_error(headers_frame(1, blk[:10], end_headers=False) +
                              raw_frame(0xEE, 0, 0, b"x") + continuation(1, blk[10:]),
                              PROTOCOL_ERROR)

    # -- padding (sections 6.1, 6.2) --

    def test_data_padding_too_long(self):
        # the pad length equal to the payload's remaining length: PROTOCOL_ERROR
        h = self.open()
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        h.send(raw_frame(DATA, PADDED, sid, bytes([5]) + b"abcd"))
        self.assertConnectionError(h, PROTOCOL_ERROR)

    def test_data_padding_longer_than_frame(self):
        h = self.open()
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        h.send(raw_frame(DATA, PADDED, sid, bytes([200]) + b"abcd"))
        self.assertConnectionError(h, PROTOCOL_ERROR)

    def test_headers_padding_too_long(self):
        blk = GET_ROOT
        self.connection_error(raw_frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1,
                                        bytes([len(blk) + 1]) + blk), PROTOCOL_ERROR)

    def test_data_padded_without_pad_length(self):
        # a PADDED DATA frame too short to hold its Pad Length field
        h = self.open()
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        h.send(raw_frame(DATA, PADDED, sid, b""))
        kind, code = h.outcome()
        self.assertEqual(kind, "goaway", h.log)
        self.assertIn(code, (PROTOCOL_ERROR, FRAME_SIZE_ERROR), h.log)


class MoreStates(H2Case):
    """Section 5 cases beside those above: closed streams after RST_STREAM or END_STREAM,
    CONTINUATION on an idle stream, self-dependency, the reserved bit, frames a stream may take
    in any state."""

    def test_continuation_on_idle_stream(self):
        # section 6.10: CONTINUATION not preceded by HEADERS is a connection error
        self.connection_error(continuation(1, GET_ROOT), PROTOCOL_ERROR)

    def test_data_after_rst_stream(self):
        # section 5.1, closed: DATA on a stream the client reset: STREAM_CLOSED (a stream or
        # connection error; the RST_STREAM may still be in flight, so it may be ignored too)
        h = self.open()
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send(rst(sid, CANCEL))
        h.send(data_frame(sid, b"late", end_stream=True))
        kind, code = h.outcome(sid, timeout=2.0)
        if kind != "timeout":
            self.assertIn(kind, ("rst", "goaway"), h.log)
            self.assertEqual(code, STREAM_CLOSED, h.log)
        if kind != "goaway":
            self.assertUsable(h)

    def test_data_on_closed_stream(self):
        # section 5.1: after END_STREAM from both sides, DATA: STREAM_CLOSED
        h = self.open()
        sid = h.request()
        self.assertEqual(h.response(sid)[0], 200)
        h.send(data_frame(sid, b"late"))
        kind, code = h.outcome(sid)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, STREAM_CLOSED, h.log)

    def test_headers_depending_on_itself(self):
        # section 5.3.1 (RFC 7540): a stream cannot depend on itself: PROTOCOL_ERROR, a stream
        # error; RFC 9113 leaves priority signals to be ignored, so a plain answer passes too
        h = self.open()
        blk = GET_ROOT
        frame = HeadersFrame(1, data=blk, flags=["END_STREAM", "END_HEADERS", "PRIORITY"],
                             depends_on=1, stream_weight=15).serialize()
        h.send(frame)
        kind, code = h.outcome(1)
        if kind == "timeout":
            return
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, PROTOCOL_ERROR, h.log)

    def test_priority_depending_on_itself(self):
        h = self.open()
        h.send(priority(1, depends_on=1))
        kind, code = h.outcome(1, timeout=2.0)
        if kind != "timeout":
            self.assertIn(kind, ("rst", "goaway"), h.log)
            self.assertEqual(code, PROTOCOL_ERROR, h.log)

    def test_reserved_bit_ignored(self):
        # section 4.1: the reserved bit MUST be ignored on receipt
        h = self.open()
        h.send(raw_frame(HEADERS, 0x5, 0x80000001, GET_ROOT))
        status, _, _ = h.response(1)
        self.assertEqual(status, 200)

    def test_unknown_flags_ignored(self):
        h = self.open()
        h.send(raw_frame(PING, 0x16, 0, b"abcdefgh"))
        h.send(raw_frame(HEADERS, 0x5 | 0x2 | 0x40, 1, GET_ROOT))
        status, _, _ = h.response(1)
        self.assertEqual(status, 200)

    def test_priority_on_idle_stream_accepted(self):
        h = self.open()
        h.send(priority(9, depends_on=0))
        self.assertUsable(h)

    def test_window_update_and_priority_on_half_closed_stream(self):
        h = self.open()
        sid = h.request(request_fields("/events"))
        status, _ = ConnectionErrors.read_head(h, sid)
        self.assertEqual(status, 200)
        h.send(window_update(sid, 1000), priority(sid, depends_on=0))
        self.assertUsable(h)

    def test_settings_window_change_overflows_stream(self):
        # section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE that takes an open stream's window
        # past 2^31-1 is a connection error FLOW_CONTROL_ERROR
        h = self.open()
        sid = h.request(request_fields("/events"))
        ConnectionErrors.read_head(h, sid)
        h.send(window_update(sid, (1 << 31) - 1 - 65535))
        h.send(settings_frame([(INITIAL_WINDOW_SIZE, 65535 + 100000)]))
        self.assertConnectionError(h, FLOW_CONTROL_ERROR)

    def test_unknown_error_codes_accepted(self):
        # section 7: unknown error codes MUST NOT trigger special behaviour
        h = self.open()
        sid = h.request(request_fields("/events"))
        ConnectionErrors.read_head(h, sid)
        h.send(rst(sid, 0xff))
        self.assertUsable(h)
        h.send(goaway(h.next_stream - 2, 0xff))
        h.wait_closed()

    def test_window_of_one_byte(self):
        # section 6.9.1: a window of 1 gets DATA of 1 byte, and the rest as it opens
        h = self.open([(INITIAL_WINDOW_SIZE, 1)])
        h.auto_window = False
        sid = h.request(request_fields("/index.html"))
        data, deadline = b"", time.monotonic() + IO_TIMEOUT
        while len(data) < len(IT_WORKS):
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, h.log)
            if f.type == DATA and f.stream_id == sid:
                self.assertEqual(len(f.data), 1, h.log)
                data += bytes(f.data)
                h.send(window_update(sid, 1), window_update(0, 1))
        self.assertEqual(data, IT_WORKS)

    def test_settings_window_grows_open_stream(self):
        # section 6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE adjusts the window of every open
        # stream: a response held by a window of 0 flows once the setting grows it
        h = self.open([(INITIAL_WINDOW_SIZE, 0)])
        sid = h.request(request_fields("/index.html"))
        ConnectionErrors.read_head(h, sid)
        h.send(settings_frame([(INITIAL_WINDOW_SIZE, 65535)]))
        data, deadline = b"", time.monotonic() + IO_TIMEOUT
        while True:
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, h.log)
            if f.type == DATA and f.stream_id == sid:
                data += bytes(f.data)
                if "END_STREAM" in f.flags:
                    break
        self.assertEqual(data, IT_WORKS)


class StreamWindows(H2Case):
    """WINDOW_UPDATE on an open stream: stream errors."""

    def open_events(self):
        h = self.open()
        sid = h.request(request_fields("/events"))
        ConnectionErrors.read_head(h, sid)
        return h, sid

    def test_window_update_zero_on_stream(self):
        # section 6.9: an increment of 0 on a stream: stream error PROTOCOL_ERROR. nghttp2
        # escalates it to a connection error, which section 5.4.1 allows: either is accepted
        h, sid = self.open_events()
        h.send(window_update(sid, 0))
        kind, code = h.outcome(sid)
        self.assertIn(kind, ("rst", "goaway"), h.log)
        self.assertEqual(code, PROTOCOL_ERROR, h.log)
        if kind == "goaway":
            self.assertClosesAfterGoaway(h, "WINDOW_UPDATE 0 on a stream")
        else:
            self.assertUsable(h)

    def test_window_update_overflows_stream_window(self):
        # section 6.9.1: a stream window beyond 2^31-1: stream error FLOW_CONTROL_ERROR
        h, sid = self.open_events()
        h.send(window_update(sid, MAX_WINDOW), window_update(sid, MAX_WINDOW))
        self.assertStreamError(h, sid, FLOW_CONTROL_ERROR)

class Hpack(H2Case):
    """RFC 7541 decoding errors: connection error COMPRESSION_ERROR (RFC 9113 section 4.3)."""

    def bad_block(self, blk, prefix=GET_ROOT):
        self.connection_error(headers_frame(1, prefix + blk), COMPRESSION_ERROR, msg=repr(blk))

    def test_index_zero(self):
        # RFC 7541 section 6.1: index 0 MUST be treated as a decoding error
        self.bad_block(b"\x80")

    def test_index_beyond_tables(self):
        # section 2.3.3: an index beyond the static table and an empty dynamic table
        self.bad_block(hpack_int(70, 7, 0x80))

    def test_literal_name_index_beyond_tables(self):
        self.bad_block(hpack_int(90, 4, 0x00) + hpack_str("v"))

    def test_huffman_eos(self):
        # section 5.2: a Huffman string containing EOS (30 one-bits): decoding error
        self.bad_block(b"\x00" + b"\x84\xff\xff\xff\xff" + hpack_str("v"))

    def test_huffman_padding_too_long(self):
        # section 5.2: padding longer than 7 bits: "a" (00011) then 11 one-bits
        self.bad_block(b"\x00" + b"\x82\x1f\xff" + hpack_str("v"))

    def test_huffman_padding_not_eos_prefix(self):
        # section 5.2: padding not made of the EOS code's most significant bits (zeros)
        self.bad_block(b"\x00" + b"\x81\x18" + hpack_str("v"))

    def test_table_size_update_above_limit(self):
        # section 6.3: a size beyond SETTINGS_HEADER_TABLE_SIZE (the server's: 4096)
        self.connection_error(headers_frame(1, hpack_int(8192, 5, 0x20) + GET_ROOT),
                              COMPRESSION_ERROR)

    def test_table_size_update_after_field(self):
        # section 4.2: a size update MUST come at the beginning of the first block after
        # the change; after a field it is a decoding error
        self.bad_block(hpack_int(100, 5, 0x20))

    def test_table_size_update_in_second_block(self):
        h = self.open()
        self.assertUsable(h)
        sid = h.new_stream()
        h.send(headers_frame(sid, GET_ROOT + hpack_int(0, 5, 0x20)))
        self.assertConnectionError(h, COMPRESSION_ERROR)

    def test_integer_overflow(self):
        # an index whose encoding does not end (RFC 7541 section 5.1: implementations MUST
        # treat integers too large for them as decoding errors)
        self.bad_block(b"\xff" + b"\xff" * 12 + b"\x01")

    def test_string_beyond_block(self):
        self.bad_block(b"\x00" + hpack_int(100, 7) + b"short")

    def test_truncated_block(self):
        self.bad_block(b"\x00\x05ab")

    def test_valid_table_size_update(self):
        h = self.open()
        sid = h.new_stream()
        h.send(headers_frame(sid, hpack_int(0, 5, 0x20) + GET_ROOT))
        self.assertEqual(h.response(sid)[0], 200)


class MalformedRequests(H2Case):
    """RFC 9113 section 8.1.1: a malformed request is a stream error PROTOCOL_ERROR; the
    connection goes on (each test then gets 200 for GET / on a new stream)."""

    def without(self, name):
        return [f for f in request_fields() if f[0] != name]

    def test_missing_method(self):
        self.stream_error(self.without(":method"))

    def test_missing_path(self):
        self.stream_error(self.without(":path"))

    def test_missing_scheme(self):
        self.stream_error(self.without(":scheme"))

    def test_empty_path(self):
        # section 8.3.1: :path MUST NOT be empty for http or https URIs
        self.stream_error(request_fields(path=""))

    def test_duplicate_pseudo_header(self):
        self.stream_error(request_fields() + [(":path", "/index.html")])

    def test_duplicate_method(self):
        self.stream_error([(":method", "GET")] + request_fields())

    def test_unknown_pseudo_header(self):
        self.stream_error(request_fields(extra=[(":foo", "bar")]))

    def test_response_pseudo_header_in_request(self):
        self.stream_error(request_fields() + [(":status", "200")])

    def test_pseudo_header_after_regular(self):
        f = request_fields()
        self.stream_error(f[:3] + [("accept", "*/*")] + f[3:])

    def test_uppercase_field_name(self):
        self.stream_error(request_fields(extra=[("X-Upper", "1")]))

    def test_field_name_with_space(self):
        # section 8.2.1: a name with 0x00-0x20, 0x41-0x5a or 0x7f-0xff: malformed
        self.stream_error(request_fields(extra=[("x bad", "1")]))

    def test_field_name_with_colon_inside(self):
        self.stream_error(request_fields(extra=[("x:bad", "1")]))

    def test_field_value_with_nul(self):
        # section 8.2.1: a value with NUL, LF or CR at any position: malformed
        self.stream_error(request_fields(extra=[("x-v", "a\0b")]))

    def test_field_value_with_lf(self):
        self.stream_error(request_fields(extra=[("x-v", "a\nb")]))

    def test_field_value_with_cr(self):
        self.stream_error(request_fields(extra=[("x-v", "a\rb")]))

    def test_field_value_leading_space(self):
        # section 8.2.1: a value starting or ending with SP or HTAB: malformed
        self.stream_error(request_fields(extra=[("x-v", " padded")]))

    def test_connection_field(self):
        # section 8.2.2: connection-specific fields make a request malformed
        self.stream_error(request_fields(extra=[("connection", "keep-alive")]))

    def test_keep_alive_field(self):
        self.stream_error(request_fields(extra=[("keep-alive", "timeout=5")]))

    def test_proxy_connection_field(self):
        self.stream_error(request_fields(extra=[("proxy-connection", "keep-alive")]))

    def test_transfer_encoding_field(self):
        self.stream_error(request_fields("/echo", "POST",
                                         extra=[("transfer-encoding", "chunked")]),
                          body=b"5\r\nhello\r\n0\r\n\r\n")

    def test_upgrade_field(self):
        self.stream_error(request_fields(extra=[("upgrade", "websocket")]))

    def test_te_not_trailers(self):
        self.stream_error(request_fields(extra=[("te", "gzip")]))

    def test_te_trailers_and_more(self):
        self.stream_error(request_fields(extra=[("te", "trailers, gzip")]))

    def test_content_length_more_than_data(self):
        # section 8.1.1: content-length not equal to the DATA payload lengths' sum
        self.stream_error(request_fields("/echo", "POST", extra=[("content-length", "10")]),
                          body=b"12345")

    def test_content_length_less_than_data(self):
        self.stream_error(request_fields("/echo", "POST", extra=[("content-length", "3")]),
                          body=b"12345")

    def test_content_length_with_end_stream_on_headers(self):
        self.stream_error(request_fields("/echo", "POST", extra=[("content-length", "4")]))

    def test_content_length_not_a_number(self):
        self.stream_error(request_fields("/echo", "POST", extra=[("content-length", "4x")]),
                          body=b"1234")

    def test_content_length_in_pieces(self):
        # the sum over several DATA frames counts (here one byte too many)
        h = self.open()
        sid = h.request(request_fields("/echo", "POST", extra=[("content-length", "6")]),
                        end_stream=False)
        h.send(data_frame(sid, b"abc"), data_frame(sid, b"def"), data_frame(sid, b"g", True))
        self.assertStreamError(h, sid, PROTOCOL_ERROR)

    def test_pseudo_header_in_trailers(self):
        # section 8.1: trailers MUST NOT include pseudo-header fields
        h = self.open()
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send(data_frame(sid, b"body"), headers_frame(sid, block([(":path", "/x")])))
        self.assertStreamError(h, sid, PROTOCOL_ERROR)

    def test_trailers_without_end_stream(self):
        # section 8.1: a HEADERS frame after the first (trailers) MUST carry END_STREAM
        h = self.open()
        sid = h.request(request_fields("/echo", "POST"), end_stream=False)
        h.send(data_frame(sid, b"body"),
               headers_frame(sid, block([("x-t", "1")]), end_stream=False))
        self.assertStreamError(h, sid, PROTOCOL_ERROR)

    def test_authority_host_mismatch(self):
        # section 8.3.1: a Host that differs from :authority: malformed (mote treats it so)
        self.stream_error(request_fields(extra=[("host", "other.example")]))

    def test_authority_host_agree(self):
        h = self.open()
        sid = h.request(request_fields(extra=[("host", "127.0.0.1")]))
        self.assertEqual(h.response(sid)[0], 200)

    def test_connect_with_path(self):
        # section 8.5: CONNECT has :method and :authority only
        self.stream_error([(":method", "CONNECT"), (":authority", "127.0.0.1:1"),
                           (":scheme", "http"), (":path", "/")])

    def test_header_list_too_large(self):
        # beyond the server's limits (8 KiB of fields): 431, or a stream reset; the
        # connection goes on either way
        h = self.open()
        big = [("x-big-%d" % i, "v" * 1000) for i in range(24)]     # 24 KiB of fields
        blk = block(request_fields(extra=big))
        sid = h.new_stream()
        h.send(headers_frame(sid, blk[:16000], end_headers=False),
               continuation(sid, blk[16000:]))
        self.assertTooLarge(h, sid)

    def test_too_many_fields(self):
        h = self.open()
        sid = h.request(request_fields(extra=[("x-f%d" % i, "1") for i in range(100)]))
        self.assertTooLarge(h, sid)

    def test_path_too_long(self):
        h = self.open()
        sid = h.new_stream()
        blk = block(request_fields("/" + "p" * 9000))
        h.send(headers_frame(sid, blk))
        self.assertTooLarge(h, sid, (414, 431))

    def assertTooLarge(self, h, sid, statuses=(431,)):
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, h.log)
            self.assertNotEqual(f.type, GOAWAY, h.log)
            if f.stream_id != sid:
                continue
            if f.type == RST_STREAM:
                break
            if f.type == HEADERS and getattr(f, "headers", None):
                status = int(dict(f.headers)[b":status"])
                self.assertIn(status, statuses, h.log)
                break
        self.assertUsable(h)


class Floods(H2Case):
    """Floods of frames that cost the server without moving a request forward: each ends
    with GOAWAY (ENHANCE_YOUR_CALM: RFC 9113 section 7, "the peer is exhibiting a behavior
    that might be generating excessive load", and section 10.5), the server's RSS stays
    within RSS_BOUND_KIB, and a second client is served while the flood goes on."""

    def setUp(self):
        # the server's memory after a first connection has been served
        self.assertEqual(other_client_get(self.sample)[0], 200)
        self.rss0 = vm_rss_kib(self.sample.proc.pid)
        self.rss_peak = self.rss0

    def note_rss(self):
        self.rss_peak = max(self.rss_peak, vm_rss_kib(self.sample.proc.pid))

    def tearDown(self):
        self.note_rss()
        self.assertLess(self.rss_peak - self.rss0, RSS_BOUND_KIB,
                        "RSS grew from %d KiB to %d KiB" % (self.rss0, self.rss_peak))

    def pump(self, h, chunks, other_at=None, read=True, stall=3.0):
        """Sends each chunk of `chunks` (an iterable of bytes), reading what the server
        sends meanwhile (unless read=False), until all is sent, the server has sent GOAWAY
        or closed, or sending has made no progress for `stall` seconds. Before the chunk of
        index `other_at` a second client must get 200 for GET /. Returns (bytes sent, ended
        by: "done", "goaway", "closed" or "stalled")."""
        sock = h.sock
        sock.setblocking(False)
        sent_total = 0
        # nothing of ours may go out between the flood's bytes (a chunk may be cut mid-frame):
        # no SETTINGS ACK, no WINDOW_UPDATE while pumping
        autos = h.auto_ack, h.auto_window
        h.auto_ack = h.auto_window = False
        try:
            for i, chunk in enumerate(chunks):
                if other_at is not None and i == other_at:
                    status, body = other_client_get(self.sample)
                    self.assertEqual(status, 200, "the second client during the flood")
                self.note_rss()
                view = memoryview(chunk)
                last_progress = time.monotonic()
                while view:
                    if h.goaways:
                        return sent_total, "goaway"
                    r, w, _ = select.select([sock] if read else [], [sock], [], 0.2)
                    if r:
                        try:
                            data = sock.recv(65536)
                        except (ConnectionResetError, BrokenPipeError):
                            data = b""
                            h.reset_seen = True
                        except BlockingIOError:
                            data = None
                        if data == b"":
                            h.eof = True
                            return sent_total, "closed"
                        if data:
                            h.buf += data
                            while h._take_frame() is not None:
                                pass
                    if w:
                        try:
                            n = sock.send(view[:65536])
                        except BlockingIOError:
                            n = 0
                        except (ConnectionResetError, BrokenPipeError):
                            return sent_total, "closed"
                        if n:
                            view = view[n:]
                            sent_total += n
                            last_progress = time.monotonic()
                    if time.monotonic() - last_progress > stall:
                        return sent_total, "stalled"
            return sent_total, "done"
        finally:
            sock.settimeout(h.timeout)
            h.auto_ack, h.auto_window = autos

    def flood(self, h, chunks, codes=(ENHANCE_YOUR_CALM,), other_at=2, what=""):
        sent, ended = self.pump(h, chunks, other_at=other_at)
        self.note_rss()
        kind, code = ("goaway", h.goaways[0].error_code) if h.goaways else \
            h.outcome(timeout=FLOOD_TIMEOUT)
        self.assertEqual(kind, "goaway", "%s: %d bytes sent (%s), then %s; frames: %s"
                         % (what, sent, ended, kind, h.log[-12:]))
        self.assertIn(code, codes, "%s: GOAWAY %s, want %s" % (what, err_name(code),
                                                                 names(codes)))
        self.assertClosesAfterGoaway(h, what)
        self.assertEqual(other_client_get(self.sample)[0], 200, "a client after the flood")
        return sent

    @staticmethod
    def chunks(make, count, per_chunk):
        """count frames made by make(i), in chunks of per_chunk."""
        for start in range(0, count, per_chunk):
            yield b"".join(make(i) for i in range(start, min(count, start + per_chunk)))

    def test_rapid_reset(self):
        # CVE-2023-44487: HEADERS then RST_STREAM, thousands of times
        h = self.open()
        pair = lambda i: headers_frame(2 * i + 1, GET_ROOT) + rst(2 * i + 1, CANCEL)
        self.flood(h, self.chunks(pair, 20000, 500), what="rapid reset")

    def test_rapid_reset_open_requests(self):
        # the same with requests left open (no END_STREAM) before their reset
        h = self.open()
        blk = block(request_fields("/upload", "POST"))
        pair = lambda i: (headers_frame(2 * i + 1, blk, end_stream=False) +
                          rst(2 * i + 1, CANCEL))
        self.flood(h, self.chunks(pair, 20000, 500), what="rapid reset, open requests")

    def test_continuation_flood(self):
        # CVE-2024-27316: HEADERS without END_HEADERS, then CONTINUATION after CONTINUATION
        h = self.open()
        first = headers_frame(1, GET_ROOT, end_headers=False)
        cont = continuation(1, lit("x-pad", "c" * 1000), end_headers=False)
        chunks = [first] + [cont * 50] * 200          # 10000 frames, 10 MB at most
        self.flood(h, chunks, other_at=2, what="CONTINUATION flood")

    def test_continuation_flood_empty(self):
        h = self.open()
        empty = continuation(1, b"", end_headers=False)
        chunks = [headers_frame(1, GET_ROOT, end_headers=False)] + [empty * 1000] * 50
        self.flood(h, chunks, what="empty CONTINUATION flood")

    def test_hpack_bomb(self):
        # a 4 KiB dynamic-table entry, then referenced 16000 times: a 16 KiB block that
        # decodes to 64 MB
        h = self.open()
        entry = lit_indexed("x-bomb", "b" * 4000)
        refs = hpack_int(62, 7, 0x80) * 16000
        blk = GET_ROOT + entry + refs
        frames = headers_frame(1, blk[:16384], end_headers=False) + \
            continuation(1, blk[16384:])
        self.flood(h, [frames], what="HPACK bomb")

    def test_hpack_bomb_across_streams(self):
        # the entry inserted once, then each request references it 100 times (400 KB of
        # fields per request): each is refused (431 or reset) or the connection ends
        h = self.open()
        h.send(headers_frame(1, GET_ROOT + lit_indexed("x-bomb", "b" * 4000)))
        refs = hpack_int(62, 7, 0x80) * 100
        make = lambda i: headers_frame(2 * i + 3, GET_ROOT + refs)
        sent, ended = self.pump(h, self.chunks(make, 2000, 100), other_at=3)
        self.note_rss()
        # either a GOAWAY ended it, or every request was refused without the server
        # keeping what they decode to
        if not h.goaways:
            self.assertEqual(ended, "done", h.log[-10:])
            h.send(ping(b"bombdone"))
            deadline = time.monotonic() + FLOOD_TIMEOUT
            while h.pings == 0 and not h.goaways:
                self.assertIsNotNone(h.read_frame(deadline), h.log[-10:])
        if h.goaways:
            self.assertEqual(h.goaways[0].error_code, ENHANCE_YOUR_CALM, h.log[-10:])
        self.assertEqual(other_client_get(self.sample)[0], 200)

    def test_settings_flood(self):
        h = self.open()
        one = settings_frame([(MAX_HEADER_LIST_SIZE, 65536)])
        self.flood(h, self.chunks(lambda i: one, 20000, 500), what="SETTINGS flood")

    def test_ping_flood(self):
        h = self.open()
        self.flood(h, self.chunks(lambda i: ping(struct.pack(">Q", i)), 20000, 500),
                   what="PING flood")

    def test_ping_flood_unread(self):
        # the client never reads the ACKs: the server must not queue them without bound;
        # it stops reading (the client's sending stalls) or ends the connection
        h = H2.plain(self.sample, rcvbuf=4096)
        self.addCleanup(h.close)
        h.start()
        one = b"".join(ping(struct.pack(">Q", i)) for i in range(1000))
        sent, ended = self.pump(h, [one] * 200, other_at=2, read=False)   # 3.4 MB at most
        self.note_rss()
        self.assertIn(ended, ("closed", "stalled", "done"))
        self.assertEqual(other_client_get(self.sample)[0], 200)
        # what came back: ACKs, then (where the server ended it) a GOAWAY
        kind, code = h.outcome(timeout=FLOOD_TIMEOUT)
        self.assertEqual(kind, "goaway", "%d bytes of PING sent (%s), then %s; frames: %s"
                         % (sent, ended, kind, h.log[-10:]))
        self.assertEqual(code, ENHANCE_YOUR_CALM, h.log[-10:])
        self.assertLessEqual(h.pings, 1100, "ACKs sent past the glitch limit")

    def test_priority_flood(self):
        h = self.open()
        self.flood(h, self.chunks(lambda i: priority(2 * i + 1, 0, i & 0xFF), 20000, 500),
                   what="PRIORITY flood")

    def test_window_update_flood(self):
        h = self.open()
        self.flood(h, self.chunks(lambda i: window_update(0, 1), 20000, 500),
                   what="WINDOW_UPDATE flood")

    def test_window_update_flood_open_stream(self):
        # WINDOW_UPDATEs while a stream is open (an endless /events): each is cheap and
        # answered by nothing; the server either ends the connection or keeps up without
        # holding anything (a PING after it is answered)
        h = self.open()
        sid = h.request(request_fields("/events"))
        one = window_update(0, 1) + window_update(sid, 1)
        sent, ended = self.pump(h, self.chunks(lambda i: one, 40000, 2000), other_at=3)
        self.note_rss()
        if h.goaways:
            self.assertEqual(h.goaways[0].error_code, ENHANCE_YOUR_CALM, h.log[-10:])
        else:
            self.assertEqual(ended, "done", h.log[-10:])
            h.send(ping(b"wu-done!"))
            deadline = time.monotonic() + FLOOD_TIMEOUT
            while h.pings == 0:
                f = h.read_frame(deadline)
                self.assertIsNotNone(f, h.log[-10:])
                self.assertNotEqual(f.type, GOAWAY, h.log[-10:])

    def test_empty_data_flood(self):
        # CVE-2019-9518: DATA frames without payload nor END_STREAM
        h = self.open()
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        empty = data_frame(sid, b"")
        self.flood(h, self.chunks(lambda i: empty, 20000, 500), what="empty DATA flood")

    def test_reset_flood_of_refused_streams(self):
        # streams beyond the concurrent limit, opened and reset over and over: the flood
        # must end. Refused one by one (REFUSED_STREAM), the refusals and resets count as
        # glitches (ENHANCE_YOUR_CALM); ended at the first one as a connection error
        # PROTOCOL_ERROR (section 5.4.1 allows it) the cost is bounded too. Which of the two
        # the first extra stream gets is ConcurrentStreams' matter.
        h = self.open()
        blk = block(request_fields("/events"))
        h.send(b"".join(headers_frame(2 * i + 1, blk) for i in range(100)))
        make = lambda i: headers_frame(201 + 2 * i, blk) + rst(201 + 2 * i)
        sent, ended = self.pump(h, self.chunks(make, 20000, 500), other_at=2)
        self.note_rss()
        kind, code = ("goaway", h.goaways[0].error_code) if h.goaways else \
            h.outcome(timeout=FLOOD_TIMEOUT)
        self.assertEqual(kind, "goaway", h.log[-10:])
        self.assertIn(code, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR), h.log[-10:])


class ConcurrentStreams(H2Case):
    """More streams than SETTINGS_MAX_CONCURRENT_STREAMS (100) open at once: RFC 9113 section
    5.1.2, a stream error PROTOCOL_ERROR or REFUSED_STREAM for the extra ones. Section 5.4.1
    would let a server escalate it to a connection error, but mote.h promises that "more are
    refused (REFUSED_STREAM)", and a GOAWAY here would end the 100 streams that kept the
    limit: the test holds the server to the stream error."""

    def test_streams_beyond_limit(self):
        self.assertEqual(other_client_get(self.sample)[0], 200)
        rss0 = vm_rss_kib(self.sample.proc.pid)
        h = self.open()
        limit = h.server_settings[MAX_CONCURRENT_STREAMS]
        self.assertEqual(limit, 100)
        # our ACK of its SETTINGS is in once the PING sent after it is answered
        h.send(ping(b"acked-it"))
        deadline = time.monotonic() + IO_TIMEOUT
        while h.pings == 0:
            self.assertIsNotNone(h.read_frame(deadline), h.log)
        blk = block(request_fields("/events"))
        h.send(b"".join(headers_frame(2 * i + 1, blk) for i in range(limit)))
        heads = set()
        deadline = time.monotonic() + 30
        while len(heads) < limit:
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, h.log[-10:])
            self.assertNotIn(f.type, (GOAWAY, RST_STREAM), h.log[-10:])
            if f.type == HEADERS and getattr(f, "headers", None):
                heads.add(f.stream_id)
        extra = [2 * limit + 1 + 2 * i for i in range(5)]
        h.send(b"".join(headers_frame(s, blk) for s in extra))
        # section 5.1.2 names a stream error (PROTOCOL_ERROR or REFUSED_STREAM); nghttp2
        # escalates it to a connection error, as section 5.4.1 allows (mote.h says so)
        refused = {}
        deadline = time.monotonic() + IO_TIMEOUT
        goaway = None
        while len(refused) < len(extra) and goaway is None:
            f = h.read_frame(deadline)
            self.assertIsNotNone(f, "EOF; frames: %s" % h.log[-10:])
            if f.type == GOAWAY:
                goaway = f
            if f.type == RST_STREAM:
                self.assertIn(f.stream_id, extra, h.log[-10:])
                refused[f.stream_id] = f.error_code
            if f.type == HEADERS and f.stream_id in extra:
                self.fail("stream %d beyond the limit was answered" % f.stream_id)
        for sid, code in refused.items():
            self.assertIn(code, (REFUSED_STREAM, PROTOCOL_ERROR), "stream %d" % sid)
        # another client is served meanwhile
        self.assertEqual(other_client_get(self.sample)[0], 200)
        if goaway is not None:
            self.assertEqual(goaway.error_code, PROTOCOL_ERROR, h.log[-10:])
            self.assertLess(goaway.last_stream_id, extra[0], h.log[-10:])
            h.wait_closed(IO_TIMEOUT)
        else:  # once the open streams are reset, this one is usable again
            h.send(b"".join(rst(2 * i + 1) for i in range(limit)))
            self.assertUsable(h)
        self.assertLess(vm_rss_kib(self.sample.proc.pid) - rss0, RSS_BOUND_KIB)


class ZeroWindow(H2Case):
    """A client that gives the server no window (SETTINGS_INITIAL_WINDOW_SIZE 0) and asks for
    a large file: the response waits, and after the write timeout the connection ends."""
    shared_sample = False
    WRITE_MS = 1000

    def test_zero_window_stall(self):
        root = tempfile.mkdtemp(prefix="mote-h2-")
        self.addCleanup(lambda: (os.remove(os.path.join(root, "big.bin")), os.rmdir(root)))
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(b"z" * (1 << 20))
        self.sample = self.start_sample("--write-timeout", str(self.WRITE_MS), "--root", root)
        rss0 = vm_rss_kib(self.sample.proc.pid)
        h = self.open([(INITIAL_WINDOW_SIZE, 0)])
        h.auto_window = False
        start = time.monotonic()
        sid = h.request(request_fields("/files/big.bin"))
        status, _ = ConnectionErrors.read_head(h, sid)
        self.assertEqual(status, 200)
        # the server waits: a second client is served meanwhile
        self.assertEqual(other_client_get(self.sample)[0], 200)
        h.wait_closed(self.WRITE_MS / 1000 + 10)
        took = time.monotonic() - start
        self.assertGreaterEqual(took, self.WRITE_MS / 1000 * 0.9, h.log)
        data = [l for l in h.log if l.startswith("DATA(%d)" % sid)]
        self.assertEqual(data, [], "DATA sent into a zero window")
        self.assertLess(vm_rss_kib(self.sample.proc.pid) - rss0, RSS_BOUND_KIB)
        self.assertEqual(other_client_get(self.sample)[0], 200)

    def test_window_opened_then_closed(self):
        # a window given once (1000 bytes), then never again: the rest waits, the timeout
        # ends the connection as well
        self.sample = self.start_sample("--write-timeout", str(self.WRITE_MS))
        h = self.open([(INITIAL_WINDOW_SIZE, 0)])
        h.auto_window = False
        sid = h.request(request_fields("/assets/live.js"))
        ConnectionErrors.read_head(h, sid)
        h.send(window_update(sid, 100))
        h.wait_closed(self.WRITE_MS / 1000 + 10)
        got = sum(int(l.split()[1]) for l in h.log if l.startswith("DATA(%d)" % sid))
        self.assertEqual(got, 100, h.log)


class Semantics(H2Case):
    """The rules HTTP/1.1 requests meet, met the same over HTTP/2: methods, body limits,
    credentials, the target's normalisation."""

    def status(self, fields, body=None):
        h = self.open()
        sid = h.request(fields, end_stream=body is None)
        if body is not None:
            h.send_body(sid, body)
        status, headers, _ = h.response(sid)
        return status, headers

    def test_405_with_allow(self):
        status, headers = self.status(request_fields("/echo"))
        self.assertEqual((status, headers.get("allow")), (405, "POST, PUT, OPTIONS"))

    def test_unknown_method_501(self):
        self.assertEqual(self.status(request_fields("/index.html", "BREW"))[0], 501)

    def test_body_over_the_route_limit_413(self):
        big = 2 << 20   # /echo collects at most the default max_body_size (1 MiB)
        h = self.open()
        sid = h.request(request_fields("/echo", "POST", extra=[("content-length", str(big))]),
                        end_stream=False)
        # answered from the head, before any DATA
        self.assertEqual(h.response(sid)[0], 413)

    def test_basic_auth(self):
        status, headers = self.status(request_fields("/auth"))
        self.assertEqual((status, headers.get("www-authenticate")),
                         (401, 'Basic realm="mote", charset="UTF-8"'))
        good = [("authorization", "Basic YWRtaW46bW90ZQ==")]   # admin:mote, the defaults
        self.assertEqual(self.status(request_fields("/auth", extra=good))[0], 200)

    def test_target_normalised(self):
        h = self.open()
        sid = h.request(request_fields("/static/../index.html"))
        status, _, body = h.response(sid)
        self.assertEqual((status, body), (200, IT_WORKS))


class Shutdown(H2Case):
    """SIGTERM: a GOAWAY naming the last stream taken, the streams in flight finished, then
    the close (RFC 9113 section 6.8)."""
    shared_sample = False

    def sigterm_goaway(self, h):
        """SIGTERM, then the GOAWAY it brings."""
        self.sample.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + IO_TIMEOUT
        while not h.goaways:
            self.assertIsNotNone(h.read_frame(deadline), "EOF before a GOAWAY: %s" % h.log)
        self.assertEqual(h.goaways[0].error_code, NO_ERROR, h.log)
        return h.goaways[0].last_stream_id

    def test_idle_connection_gets_goaway(self):
        self.sample = self.start_sample()
        h = self.open()
        self.assertEqual(h.get("/index.html")[0], 200)
        self.assertEqual(self.sigterm_goaway(h), 1)
        h.wait_closed()

    def test_graceful_goaway_finishes_in_flight_streams(self):
        self.sample = self.start_sample()
        h = self.open()
        self.assertEqual(h.get("/index.html")[0], 200)
        body = os.urandom(200000)
        sid = h.request(request_fields("/upload", "POST"), end_stream=False)
        h.send_body(sid, body[:1000], end_stream=False)
        h.send(ping(b"in-order"))   # its ACK: the frames before it have been read
        deadline = time.monotonic() + IO_TIMEOUT
        while not h.pings:
            self.assertIsNotNone(h.read_frame(deadline), h.log)
        self.assertGreaterEqual(self.sigterm_goaway(h), sid, h.log)
        h.send_body(sid, body[1000:])
        status, _, reply = h.response(sid)
        self.assertEqual(status, 200)
        self.assertIn(hashlib.sha256(body).hexdigest().encode(), reply)
        h.wait_closed()

if __name__ == "__main__":
    main()
