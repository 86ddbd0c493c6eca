#!/usr/bin/python3
"""mote on lwIP, end to end: mote-lwip-sample serves over lwIP's own TCP/IP (Debian's liblwip,
the unix port) on a TAP device, inside a network namespace made for the check, and the host's
wget, curl, Python and python3-websockets talk to it through that device.

    tests/lwip/check.py MOTE_LWIP_SAMPLE

Checks: the seed's three wget commands (its pages byte for byte), a POST echoed, a 1 MiB
upload streamed through TCP's window, WebSocket echo (text, binary, 2 KiB; 64 KiB refused with 1009 in static-memory mode), a
compiled-in page, 100 clients at once, a client that sends and never reads (TCP's window
holds it back), and a graceful stop. Exit 0 only when every check
passed; 77 (skipped) with the reason where namespaces or TAP devices are not available; 1 on a
failure. The namespace goes with the process (`unshare --net`); nothing is left behind."""

import asyncio
import hashlib
import http.client
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import moteharness as mh  # noqa: E402
from test_seed import header_page, sent_headers  # noqa: E402

SKIP = 77
TAP = "motetap0"
HOST_IP, LWIP_IP = "192.168.77.1", "192.168.77.2"
PORT = 80
WEB = os.path.join(HERE, "..", "..", "examples", "sample", "web")
CLIENTS = 100


def skip(why):
    print("lwip-check: SKIPPED: %s" % why, file=sys.stderr)
    sys.exit(SKIP)


def enter_namespace():
    """Re-runs this script in a network namespace of its own (as root)."""
    if os.geteuid() != 0:
        skip("network namespaces and TAP devices need root (run as root, or in CI)")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun is missing: no TAP devices on this machine")
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "--net", "true"]).returncode != 0:
        skip("cannot create a network namespace (unshare --net failed)")
    env = dict(os.environ, MOTE_LWIP_INSIDE="1")
    # Debian's python3-websockets is importable from Debian's interpreter (CMake may have
    # found another, such as pyenv's)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    os.execve(unshare, [unshare, "--net", python] + sys.argv, env)


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, stdout=subprocess.DEVNULL)


def make_tap():
    ip("link", "set", "lo", "up")
    try:
        ip("tuntap", "add", "dev", TAP, "mode", "tap")
    except subprocess.CalledProcessError:
        skip("cannot create a TAP device (ip tuntap add)")
    ip("addr", "add", HOST_IP + "/24", "dev", TAP)
    ip("link", "set", TAP, "up")


class Server:
    def __init__(self, binary):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [binary, "--tap", TAP, "--address", LWIP_IP, "--gateway", HOST_IP,
             "--port", str(PORT)], stdout=subprocess.PIPE, stderr=self.log)
        self.banner = self.read_banner()

    def read_banner(self, timeout=15.0):
        out, end = b"", time.monotonic() + timeout
        while b"Open http://" not in out and time.monotonic() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        if b"Open http://" not in out:
            raise RuntimeError("mote-lwip-sample did not start:\n%s\n%s" % (
                out.decode(), self.stderr()))
        return out.decode()

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def wait_reachable(tries=50):
    """lwIP answers ARP once its interface is up: a connection, tried a bounded number of
    times (each try waits on the connect itself, up to a second)."""
    for _ in range(tries):
        try:
            socket.create_connection((LWIP_IP, PORT), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("lwIP's %s:%d never answered" % (LWIP_IP, PORT))


def wget(*args):
    d = tempfile.mkdtemp(prefix="mote-lwip-wget-")
    p = mh.run([shutil.which("wget")] + list(args), cwd=d, env=mh.clean_env(home=d), timeout=30)
    return d, p.returncode, p.stderr.decode("utf-8", "replace")


def saved(d, name="index.html"):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


# -- the checks: each raises AssertionError with what it saw ---------------------------------

def check_seed_index():
    d, rc, err = wget("%s/index.html" % LWIP_IP)
    assert rc == 0 and "200 OK" in err, err
    assert saved(d) == mh.IT_WORKS, saved(d)
    assert os.listdir(d) == ["index.html"], os.listdir(d)


def check_seed_headers():
    d, rc, err = wget("%s/headers" % LWIP_IP, "-O", "index.html", "-d")
    assert rc == 0, err
    request_line, sent = sent_headers(err)
    assert request_line == "GET /headers HTTP/1.1", request_line
    assert saved(d) == header_page(sent, "GET", "/headers", "lwIP"), saved(d)


def check_seed_not_found():
    d, rc, err = wget("%s/not_found" % LWIP_IP, "-O", "index.html", "-S")
    head = [l.strip() for l in err.splitlines() if l.startswith("  ")]
    assert rc == 0 and "HTTP/1.1 200 OK" in head and "Transfer-Encoding: chunked" in head, err
    assert saved(d) == mh.NOT_FOUND_PAGE, saved(d)


def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(LWIP_IP, PORT, timeout=20)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def check_post_echo():
    body = b"posted over lwIP " * 40
    p = subprocess.run(["curl", "-sS", "--data-binary", "@-", "-H", "Content-Type: text/plain",
                        "http://%s/echo" % LWIP_IP], input=body, capture_output=True,
                       env=mh.clean_env(), timeout=30)
    assert p.returncode == 0 and p.stdout == body, (p.returncode, p.stdout[:200], p.stderr)


def check_upload():
    data = os.urandom(1 << 20)
    status, _, reply = request("POST", "/upload", body=data)
    assert status == 200, (status, reply)
    assert (b'"bytes": %d' % len(data)) in reply, reply
    assert hashlib.sha256(data).hexdigest().encode() in reply, reply


def check_compiled_in_page():
    with open(os.path.join(WEB, "live", "index.html"), "rb") as f:
        page = f.read()
    status, headers, body = request("GET", "/live/")
    assert status == 200 and body == page, (status, body[:200])
    assert "ETag" in headers and "Date" in headers, headers
    status, _, _ = request("GET", "/live/", headers={"If-None-Match": headers["ETag"]})
    assert status == 304, status


def check_websocket_echo():
    import websockets  # python3-websockets

    async def talk():
        async with websockets.connect("ws://%s:%d/ws" % (LWIP_IP, PORT),
                                      max_size=1 << 20, compression=None) as ws:
            await ws.send("hello over lwIP")
            assert await ws.recv() == "hello over lwIP"
            await ws.send(b"\x00\x01\xfe\xff")
            assert await ws.recv() == b"\x00\x01\xfe\xff"
            one = os.urandom(2048)
            await ws.send(one)
            assert await ws.recv() == one
            await ws.close()
            assert ws.close_code == 1000, ws.close_code
        # static-memory mode: a message is read in place, in the connection's buffer; one
        # larger than the buffer is refused with 1009 (too big), never allocated
        async with websockets.connect("ws://%s:%d/ws" % (LWIP_IP, PORT),
                                      max_size=1 << 20, compression=None) as ws:
            await ws.send(os.urandom(64 * 1024))
            try:
                await ws.recv()
            except websockets.ConnectionClosed:
                pass
            assert ws.close_code == 1009, ws.close_code
    asyncio.run(asyncio.wait_for(talk(), 30))


def check_concurrent_clients():
    """CLIENTS connections open at once, each with three keep-alive requests."""
    barrier = threading.Barrier(CLIENTS, timeout=30)
    failures = []

    def client(i):
        try:
            c = http.client.HTTPConnection(LWIP_IP, PORT, timeout=30)
            c.connect()
            barrier.wait()
            for path, want in (("/index.html", mh.IT_WORKS), ("/missing", mh.NOT_FOUND_PAGE),
                               ("/index.html", mh.IT_WORKS)):
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                if body != want:
                    failures.append((i, path, r.status, body[:80]))
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "clients still running after 60 s"
    assert not failures, "%d of %d clients failed: %s" % (len(failures), CLIENTS, failures[:5])
    return "%d clients, %d requests, all answered" % (CLIENTS, 3 * CLIENTS)


def read_to_end(s):
    got = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            return got
        got += chunk


def check_pipelined_flood():
    """A client that sends requests and reads nothing: mote stops taking input once its
    responses fill the send buffer, lwIP stops acknowledging, and TCP's window closes: the
    client's sends block after a bounded amount (its own socket buffer, lwIP's window, mote's
    block). Then every request sent is answered, in order."""
    one = b"GET /index.html HTTP/1.1\r\nHost: lwip\r\nX-Pad: " + b"p" * 1000 + b"\r\n\r\n"
    limit = 64 << 20
    s = socket.create_connection((LWIP_IP, PORT), timeout=20)
    try:
        s.setblocking(False)
        sent, stalled = 0, 0
        while sent < limit and stalled < 20:
            try:
                sent += s.send(one[sent % len(one):])
                stalled = 0
            except BlockingIOError:
                # blocked: wait for room; a closed window gives none (bounded tries)
                stalled += 1
                select.select([], [s], [], 0.1)
        assert stalled >= 20, "sent %d bytes and never blocked" % sent
        assert sent < 16 << 20, "sent %d bytes before blocking" % sent
        # read every answer, while the request in flight is finished (the window opens as
        # the answers are read)
        s.setblocking(True)
        answers = []
        reader = threading.Thread(target=lambda: answers.append(read_to_end(s)))
        reader.start()
        s.sendall(one[sent % len(one):] if sent % len(one) else b"")
        requests = (sent + len(one) - 1) // len(one)
        s.shutdown(socket.SHUT_WR)
        reader.join(60)
        assert not reader.is_alive() and answers, "no end to the answers after 60 s"
        got = answers[0]
        assert got.count(mh.IT_WORKS) == requests, (got.count(mh.IT_WORKS), requests)
        return "%d bytes sent before the window closed; %d requests answered" % (sent, requests)
    finally:
        s.close()


def check_bad_requests():
    """A malformed request gets 400 and the close; clients that reset mid-exchange (lwIP's
    tcp_err) leave the server serving."""
    s = socket.create_connection((LWIP_IP, PORT), timeout=10)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    got = read_to_end(s)
    s.close()
    assert got.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in got, got[:200]
    for _ in range(20):
        s = socket.create_connection((LWIP_IP, PORT), timeout=10)
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                  b"x" * 5000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # a reset
    status, _, body = request("GET", "/index.html")
    assert status == 200 and body == mh.IT_WORKS, (status, body)


def check_not_the_kernel():
    """No socket of the kernel's listens on the port: the answers came from lwIP."""
    p = mh.run(["ss", "-Hltn", "sport = :%d" % PORT])
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout


CHECKS = [check_seed_index, check_seed_headers, check_seed_not_found, check_post_echo,
          check_upload, check_compiled_in_page, check_websocket_echo, check_concurrent_clients,
          check_pipelined_flood, check_bad_requests, check_not_the_kernel]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.environ.get("MOTE_LWIP_INSIDE"):
        enter_namespace()
    make_tap()
    server = Server(binary)
    failed = 0
    try:
        wait_reachable()
        print(server.banner.strip())
        for check in CHECKS:
            try:
                detail = check()
                print("PASS %s%s" % (check.__name__[6:], ": " + detail if detail else ""))
            except Exception as e:  # noqa: BLE001 - every check reports
                failed += 1
                print("FAIL %s: %r" % (check.__name__[6:], e))
    finally:
        code = server.stop()
    if code != 0:
        failed += 1
        print("FAIL stop: mote-lwip-sample exited with %r after SIGTERM" % code)
    else:
        print("PASS stop (graceful, exit 0)")
    if failed:
        print("mote-lwip-sample's log:\n" + server.stderr())
        print("lwip-check: %d check(s) failed" % failed)
        return 1
    print("lwip-check: all %d checks passed" % (len(CHECKS) + 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
