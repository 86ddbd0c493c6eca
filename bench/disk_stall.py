#!/usr/bin/env python3
"""What a file read that misses the page cache costs mote's event loop.

usage: sudo bench/disk_stall.py --mote build/bench/mote-sample [--rounds 3] [--size-mib 256]
                                [--dir DIR] [--workers N] [--no-tls] [--throttle-read-mbps N]

mote reads files on the loop's thread (README, "Static content", "Slow disks"): sendfile(2) on
plain TCP, a bounded pread into the send buffer under TLS. This script writes a file of random
bytes (256 MiB) and a small one (113 bytes) into a directory on the machine's disk (never a
tmpfs: /tmp is refused when it is one, /var/tmp or the repository's build directory is used
instead), serves them with `mote-sample --root DIR` on loopback (HTTP and HTTPS, free ports,
one event loop unless --workers), then for each case:

- one client downloads the big file, reading as fast as it can (HTTP, or HTTPS without
  certificate checks), and
- a second client, a process of its own on another keep-alive connection (always plain HTTP),
  sends `GET /files/small.txt` one after another for as long as the download lasts, and records
  each request's latency (those under way at some time during the download are counted).

Cases, in each round: "idle" (the small requests alone, 2 s: the client's own floor), "http
cold" (page cache dropped first: `sync; echo 3 > /proc/sys/vm/drop_caches`, and
posix_fadvise(DONTNEED) on the file, which is all that is left when drop_caches is not
permitted), "http warm" (the file read into the cache first), "https cold", "https warm".
For each: the download's time and MB/s (10^6 bytes), how much of the file was in the page cache
before (mincore), what mote read from the block device meanwhile (/proc/PID/io read_bytes),
and the small requests' count and p50/p99/max latency. Prints each run as it ends, then a
Markdown table of the medians over the rounds (max: median and the range).

--throttle-read-mbps N stands in for a slow disk: mote-sample runs in a cgroup of its own whose
reads from the file's disk are limited to N MB/s (cgroup v1 blkio.throttle.read_bps_device, or
v2 io.max), removed at the end.

Needs root (drop_caches, /proc/PID/io). Python 3 standard library only. Loopback only."""
import argparse
import array
import ctypes
import multiprocessing
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SMALL_BODY = (b"<!DOCTYPE html>\n<html><head><title>mote</title></head>"
              b"<body><h1>It Works!</h1><p>disk_stall.py</p></body></html>\n")
SMALL_BODY = SMALL_BODY[:113].ljust(113, b" ")
BIG_NAME = "big.bin"
SMALL_NAME = "small.txt"
RECV_TIMEOUT_S = 30          # any one socket read
START_TIMEOUT_S = 10         # mote-sample printing its ports
IDLE_S = 2.0                 # the "idle" case's length
MAX_SMALL_REQUESTS = 5_000_000
MEMORY_FS = {"tmpfs", "ramfs", "devtmpfs", "hugetlbfs", "squashfs"}


# ---- where the file lives -------------------------------------------------------------------

def mount_of(path):
    """(mount point, fs type, source) of the filesystem holding path, from mountinfo."""
    path = os.path.realpath(path)
    best = ("/", "?", "?")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            mnt = pre.split()[4].replace("\\040", " ")
            fstype, source = post.split()[:2]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, fstype, source)
    return best


def on_memory(path):
    _, fstype, source = mount_of(path)
    return fstype in MEMORY_FS or source.startswith("/dev/zram")


def disk_sysdir(source):
    """/sys/... directory of the disk holding source (the disk, for a partition), or None."""
    name = os.path.basename(os.path.realpath(source)) if source.startswith("/dev/") else ""
    if not name or not os.path.exists("/sys/class/block/" + name):
        return None
    sysdir = os.path.realpath("/sys/class/block/" + name)
    if not os.path.exists(sysdir + "/queue") and os.path.exists(sysdir + "/partition"):
        sysdir = os.path.dirname(sysdir)
    return sysdir


def block_device_info(source):
    """'vda, rotational 1, read_ahead_kb 8192, scheduler mq-deadline' or what is known."""
    sysdir = disk_sysdir(source)
    if sysdir is None:
        return "device %s (not a block device here)" % source
    out = [os.path.basename(sysdir)]
    for key in ("rotational", "read_ahead_kb", "scheduler"):
        try:
            with open(sysdir + "/queue/" + key) as f:
                val = f.read().strip()
            if key == "scheduler":
                m = re.search(r"\[(\S+)\]", val)
                val = m.group(1) if m else val
            out.append("%s %s" % (key, val))
        except OSError:
            pass
    return ", ".join(out)


def make_throttle(source, mbps):
    """A cgroup of our own whose reads from the file's disk are limited to mbps (10^6 bytes/s):
    a slow disk, for mote-sample alone. Returns (cgroup dir, file a pid is written to)."""
    sysdir = disk_sysdir(source)
    if sysdir is None:
        sys.exit("disk_stall: --throttle-read-mbps: %s is not a block device" % source)
    with open(sysdir + "/dev") as f:
        devno = f.read().strip()
    bps = int(mbps * 1e6)
    v1 = "/sys/fs/cgroup/blkio"
    if os.path.isfile(v1 + "/blkio.throttle.read_bps_device"):
        cg = "%s/mote-disk-stall-%d" % (v1, os.getpid())
        os.mkdir(cg)
        rule, value, join = "blkio.throttle.read_bps_device", "%s %d" % (devno, bps), "tasks"
    else:
        root = "/sys/fs/cgroup"
        try:
            with open(root + "/cgroup.subtree_control") as f:
                if "io" not in f.read().split():
                    raise OSError
        except OSError:
            sys.exit("disk_stall: --throttle-read-mbps needs cgroup v1 blkio or v2 io enabled at "
                     "the root")
        cg = "%s/mote-disk-stall-%d" % (root, os.getpid())
        os.mkdir(cg)
        rule, value, join = "io.max", "%s rbps=%d" % (devno, bps), "cgroup.procs"
    try:
        with open(cg + "/" + rule, "w") as f:
            f.write(value + "\n")
    except OSError as e:
        os.rmdir(cg)
        sys.exit("disk_stall: --throttle-read-mbps: %s: %s" % (rule, e))
    return cg, cg + "/" + join


def remove_cgroup(cg):
    for _ in range(50):  # empty once mote-sample has exited
        try:
            os.rmdir(cg)
            return
        except OSError:
            time.sleep(0.1)
    print("disk_stall: could not remove " + cg, file=sys.stderr)


def pick_dir(wanted):
    if wanted:
        if on_memory(wanted):
            sys.exit("disk_stall: %s is on %s, a memory filesystem: give a directory on disk"
                     % (wanted, mount_of(wanted)[1]))
        return tempfile.mkdtemp(prefix="mote-disk-stall-", dir=wanted)
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (tempfile.gettempdir(), "/var/tmp", os.path.join(here, "..", "build")):
        if os.path.isdir(cand) and os.access(cand, os.W_OK) and not on_memory(cand):
            return tempfile.mkdtemp(prefix="mote-disk-stall-", dir=cand)
    sys.exit("disk_stall: no directory on disk found (/tmp, /var/tmp, build/): give --dir")


def make_files(d, size):
    with open(os.path.join(d, SMALL_NAME), "wb") as f:
        f.write(SMALL_BODY)
    with open(os.path.join(d, BIG_NAME), "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())
    os.sync()


# ---- the page cache -------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident_fraction(path):
    """Share of the file's pages in the page cache (mincore), or None when unknown."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 1.0
        addr = _libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            return None
        try:
            pages = (size + mmap_page() - 1) // mmap_page()
            vec = ctypes.create_string_buffer(pages)
            if _libc.mincore(addr, size, vec) != 0:
                return None
            return sum(b & 1 for b in vec.raw) / pages
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def mmap_page():
    return os.sysconf("SC_PAGE_SIZE")


def drop_cache(path):
    """Drops the file from the page cache; returns how ('drop_caches', 'fadvise')."""
    os.sync()
    how = []
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        how.append("drop_caches")
    except OSError:
        pass
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        how.append("fadvise")
    finally:
        os.close(fd)
    return "+".join(how)


def warm_cache(path):
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        while f.readinto(buf):
            pass


def proc_read_bytes(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---- mote-sample ----------------------------------------------------------------------------

class Mote:
    def __init__(self, exe, root, workers, join_cgroup=None):
        def enter():
            with open(join_cgroup, "w") as f:
                f.write(str(os.getpid()))
        args = [exe, "--root", root, "--bind", "127.0.0.1", "--port", "0", "--tls-port", "0",
                "--log-level", "warn", "--access-log", "off", "--workers", str(workers)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True,
                                     preexec_fn=enter if join_cgroup else None)
        self.lines = []
        self.ports = []
        self.got = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self.got.wait(START_TIMEOUT_S) or len(self.ports) < 2:
            self.stop()
            sys.exit("disk_stall: mote-sample did not print its two ports:\n" + "".join(self.lines))
        self.http, self.https = self.ports[:2]

    def _drain(self):
        for line in self.proc.stdout:  # ends when mote-sample exits
            if len(self.lines) < 200:
                self.lines.append(line)
            m = re.search(r"port: (\d+)", line)
            if m:
                self.ports.append(int(m.group(1)))
                if len(self.ports) == 2:
                    self.got.set()
        self.got.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ---- clients --------------------------------------------------------------------------------

def read_response(sock, buf):
    """Reads one response whose body has a Content-Length; returns (status, body length).
    buf holds what was read beyond the previous response."""
    for _ in range(10000):
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        buf += chunk
    else:
        raise ConnectionError("no response head")
    head = bytes(buf[:end]).decode("latin-1")
    del buf[:end + 4]
    status = int(head.split(None, 2)[1])
    m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    length = int(m.group(1)) if m else 0
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in a body")
        buf += chunk
    del buf[:length]
    return status, length


def small_client(port, ready, stop, out, limit_s):
    """In a process of its own: small requests on one keep-alive connection until told to stop
    (or limit_s passes); sends back when each started and ended (CLOCK_MONOTONIC ns)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=RECV_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = ("GET /files/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % SMALL_NAME).encode()
        buf = bytearray()
        for _ in range(3):  # warm-up: the file and its inode back in the cache, the path warm
            sock.sendall(req)
            status, length = read_response(sock, buf)
            if status != 200 or length != len(SMALL_BODY):
                raise RuntimeError("small.txt: status %d, %d bytes" % (status, length))
        times = array.array("q")  # start and end of each request, CLOCK_MONOTONIC ns
        ready.set()
        clock = time.monotonic_ns
        end = time.monotonic() + limit_s
        while not stop.is_set() and len(times) < 2 * MAX_SMALL_REQUESTS and time.monotonic() < end:
            t0 = clock()
            sock.sendall(req)
            read_response(sock, buf)
            times.append(t0)
            times.append(clock())
        sock.close()
        out.send(("ok", times.tobytes()))
    except Exception as e:  # reported by the parent
        ready.set()
        out.send(("error", repr(e)))


def download(port, tls, size, limit_s):
    """Downloads the big file once; returns (start ns, end ns, bytes, last 4 KiB), CLOCK_MONOTONIC
    from the request sent to the last byte read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=RECV_TIMEOUT_S)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")  # handshake not timed
    try:
        req = ("GET /files/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
               % BIG_NAME).encode()
        mem = memoryview(bytearray(1 << 20))
        t0 = time.monotonic_ns()
        end = time.monotonic() + limit_s
        sock.sendall(req)
        head = bytearray()
        while b"\r\n\r\n" not in head and len(head) < 65536:
            n = sock.recv_into(mem, 4096)
            if n == 0:
                raise ConnectionError("closed before the head")
            head += mem[:n]
        cut = head.index(b"\r\n\r\n") + 4
        text = bytes(head[:cut]).decode("latin-1")
        if text.split(None, 2)[1] != "200":
            raise RuntimeError("big file: " + text.splitlines()[0])
        m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", text)
        if not m or int(m.group(1)) != size:
            raise RuntimeError("big file: Content-Length %s, not %d" % (m and m.group(1), size))
        got = len(head) - cut
        tail = bytearray(head[cut:])[-4096:]
        while got < size:
            if time.monotonic() > end:
                raise TimeoutError("download not done in %d s" % limit_s)
            n = sock.recv_into(mem, min(len(mem), size - got))
            if n == 0:
                raise ConnectionError("closed after %d of %d bytes" % (got, size))
            got += n
            if size - got < 4096 + len(mem):
                tail = (tail + mem[:n])[-4096:]
        return t0, time.monotonic_ns(), got, bytes(tail)
    finally:
        sock.close()


# ---- one case -------------------------------------------------------------------------------

def pct(sorted_ns, q):
    if not sorted_ns:
        return float("nan")
    i = min(len(sorted_ns) - 1, max(0, int(round(q * (len(sorted_ns) - 1)))))
    return sorted_ns[i] / 1e6


def run_case(mote, big, size, tls, cold, idle, limit_s, big_tail):
    row = {"resident": None, "how": "", "secs": None, "mbps": None, "disk_mib": None}
    if not idle:
        if cold:
            row["how"] = drop_cache(big)
        else:
            warm_cache(big)
    mp = multiprocessing.get_context("fork")
    ready, stop = mp.Event(), mp.Event()
    rx, tx = mp.Pipe(duplex=False)
    child = mp.Process(target=small_client, args=(mote.http, ready, stop, tx, limit_s + 30))
    child.start()
    try:
        if not ready.wait(RECV_TIMEOUT_S):
            raise RuntimeError("small client not ready")
        if idle:
            w0 = time.monotonic_ns()
            time.sleep(IDLE_S)
            w1 = time.monotonic_ns()
        else:
            row["resident"] = resident_fraction(big)
            rb0 = proc_read_bytes(mote.proc.pid)
            w0, w1, got, tail = download(mote.https if tls else mote.http, tls, size, limit_s)
            secs = (w1 - w0) / 1e9
            rb1 = proc_read_bytes(mote.proc.pid)
            if tail != big_tail:
                raise RuntimeError("the big file's last bytes differ")
            row.update(secs=secs, mbps=got / secs / 1e6)
            if rb0 is not None and rb1 is not None:
                row["disk_mib"] = (rb1 - rb0) / 2**20
    finally:
        stop.set()
        msg = rx.recv() if rx.poll(RECV_TIMEOUT_S + 5) else ("error", "no answer from the client")
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
    if msg[0] != "ok":
        raise RuntimeError("small client: " + msg[1])
    times = array.array("q")
    times.frombytes(msg[1])
    # the requests under way at some time during the download (the idle window)
    s = sorted(times[i + 1] - times[i] for i in range(0, len(times), 2)
               if times[i + 1] > w0 and times[i] < w1)
    row.update(n=len(s), p50=pct(s, 0.50), p99=pct(s, 0.99), max=pct(s, 1.0),
               over10=sum(1 for x in s if x > 10_000_000))
    return row


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mote", required=True, help="the mote-sample to run (a Release build)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--dir", help="where to make the temporary directory (on a disk, not tmpfs)")
    ap.add_argument("--workers", type=int, default=1, help="mote-sample --workers (1)")
    ap.add_argument("--timeout", type=int, default=180, help="most seconds one download may take")
    ap.add_argument("--no-tls", action="store_true", help="skip the HTTPS cases")
    ap.add_argument("--throttle-read-mbps", type=float, metavar="N",
                    help="a slow disk: mote-sample's reads from the file's disk limited to N MB/s "
                         "(a cgroup of its own, blkio or io.max, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="leave the temporary directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("disk_stall: run as root (drop_caches, /proc/PID/io)")
    if not os.access(a.mote, os.X_OK):
        sys.exit("disk_stall: %s is not executable" % a.mote)
    if not 1 <= a.rounds <= 20 or not 1 <= a.size_mib <= 8192:
        sys.exit("disk_stall: --rounds 1..20, --size-mib 1..8192")

    d = pick_dir(a.dir)
    size = a.size_mib << 20
    mnt, fstype, source = mount_of(d)
    big = os.path.join(d, BIG_NAME)
    mote = None
    cg = join = None
    try:
        if a.throttle_read_mbps:
            cg, join = make_throttle(source, a.throttle_read_mbps)
        print("files: %s (%s on %s, mounted at %s; %s)"
              % (d, fstype, source, mnt, block_device_info(source)), file=sys.stderr)
        print("writing %d MiB of random bytes..." % a.size_mib, file=sys.stderr)
        make_files(d, size)
        with open(big, "rb") as f:
            f.seek(-4096, os.SEEK_END)
            big_tail = f.read()
        mote = Mote(a.mote, d, a.workers, join)
        print("mote-sample pid %d, http %d, https %d, workers %d; load average %s"
              % (mote.proc.pid, mote.http, mote.https, a.workers,
                 " ".join(open("/proc/loadavg").read().split()[:3])), file=sys.stderr)
        cases = [("idle (no download)", False, False, True),
                 ("http cold", False, True, False), ("http warm", False, False, False)]
        if not a.no_tls:
            cases += [("https cold", True, True, False), ("https warm", True, False, False)]
        results = {c[0]: [] for c in cases}
        for r in range(a.rounds):
            for name, tls, cold, idle in cases:
                row = run_case(mote, big, size, tls, cold, idle, a.timeout, big_tail)
                results[name].append(row)
                print("round %d %-18s %s  resident %s  %s s  %s MB/s  disk %s MiB  | small: %d req"
                      "  p50 %.2f  p99 %.2f  max %.2f ms  >10ms %d"
                      % (r + 1, name, row["how"] or "-",
                         "-" if row["resident"] is None else "%.0f%%" % (100 * row["resident"]),
                         fmt(row["secs"], ".2f"), fmt(row["mbps"], ".0f"),
                         fmt(row["disk_mib"], ".0f"), row["n"], row["p50"], row["p99"],
                         row["max"], row["over10"]), file=sys.stderr, flush=True)
                if mote.proc.poll() is not None:
                    raise RuntimeError("mote-sample exited: " + "".join(mote.lines[-5:]))
    finally:
        if mote:
            mote.stop()
        if cg:
            remove_cgroup(cg)
        if a.keep:
            print("kept " + d, file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)

    def med(name, key):
        vals = [x[key] for x in results[name] if x[key] is not None]
        return statistics.median(vals) if vals else None

    print()
    print("%d MiB file on %s (%s%s); mote-sample, %d worker(s). Small requests: plain HTTP, one "
          "keep-alive connection, one at a time, those under way during the download (idle: "
          "during %g s); latency from send to last byte read. Median of %d round(s); max: "
          "median (min-max)." % (a.size_mib, fstype, source,
                                 ", mote's reads throttled to %g MB/s" % a.throttle_read_mbps
                                 if a.throttle_read_mbps else "", a.workers, IDLE_S, a.rounds))
    print()
    print("| case | download s | MB/s | read from disk MiB | small requests | p50 ms | p99 ms "
          "| max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, *_ in cases:
        maxes = [x["max"] for x in results[name]]
        print("| %s | %s | %s | %s | %s | %.2f | %.2f | %.1f (%.1f-%.1f) |"
              % (name, fmt(med(name, "secs"), ".2f"), fmt(med(name, "mbps"), ".0f"),
                 fmt(med(name, "disk_mib"), ".0f"), fmt(med(name, "n"), ".0f"),
                 med(name, "p50"), med(name, "p99"), statistics.median(maxes), min(maxes),
                 max(maxes)))


if __name__ == "__main__":
    main()
