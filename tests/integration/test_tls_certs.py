#!/usr/bin/env python3
"""Certificates on a TLS listener, with real clients (Python's ssl, curl, openssl s_client):
several chosen by server name (SNI), RSA and ECDSA side by side, client certificates (mTLS:
optional and required, the verified subject, names and fingerprint on /headers), resumption
reported by s_client, and reload on SIGHUP (open connections kept, a bad file keeps the old
certificates with one error line, clients served throughout). Certificates are made by the
openssl command in a temporary directory."""

import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moteharness as mh  # noqa: E402

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
AB = shutil.which("ab")


class Pki:
    """A CA, a client certificate it signed, a stranger's client certificate, and server
    certificates (ECDSA P-256 unless told), each a (cert, key) pair of file names."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = self.self_signed("ca", "/O=Mote Test/CN=Test CA")
        self.device = self.signed("device", "/O=Acme/CN=device-17", self.ca,
                                  "subjectAltName=DNS:device-17.example,IP:192.0.2.7,"
                                  "email:ops@example.com")
        self.stranger = self.self_signed("stranger", "/O=Acme/CN=device-17")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        p = mh.run([OPENSSL] + list(args), timeout=60)
        if p.returncode != 0:
            raise AssertionError("openssl %s: %s" % (args[0], p.stderr.decode()))

    def _key_args(self, rsa):
        return ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt",
                                                   "ec_paramgen_curve:P-256"]

    def self_signed(self, name, subject, rsa=False):
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        self._run("req", "-x509", *self._key_args(rsa), "-nodes", "-keyout", key, "-out", cert,
                  "-days", "2", "-subj", subject)
        return cert, key

    def signed(self, name, subject, ca, ext):
        cert, key, csr = self.path(name + ".pem"), self.path(name + ".key"), self.path(name + ".csr")
        extfile = self.path(name + ".ext")
        with open(extfile, "w") as f:
            f.write(ext + "\n")
        self._run("req", *self._key_args(False), "-nodes", "-keyout", key, "-out", csr,
                  "-subj", subject)
        self._run("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                  "-out", cert, "-days", "2", "-extfile", extfile)
        return cert, key


def der(cert_file):
    with open(cert_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_cert(sample, server_name=None, ctx=None):
    """The DER certificate the TLS listener presents to a client asking for server_name."""
    with mh.Client.tls("127.0.0.1", sample.tls_port, context=ctx or mh.insecure_context(),
                       server_hostname=server_name) as c:
        return c.sock.getpeercert(binary_form=True)


def client_context(pair=None):
    ctx = mh.insecure_context()
    if pair:
        ctx.load_cert_chain(pair[0], pair[1])
    return ctx


class TlsCerts(mh.SampleTestCase):
    shared_sample = False

    @classmethod
    def setUpClass(cls):
        if not OPENSSL:
            raise mh.unittest.SkipTest("no openssl command to make certificates")
        cls.tmp = tempfile.mkdtemp(prefix="mote-pki-")
        cls.pki = Pki(cls.tmp)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tls_args(self, pair, *more):
        return ("--cert", pair[0], "--key", pair[1]) + more

    def get_headers(self, sample, ctx):
        with mh.Client.tls("127.0.0.1", sample.tls_port, context=ctx) as c:
            r = c.request("GET", "/headers")
        self.assertEqual(r.status, 200)
        return r.body.decode()

    def assert_refused(self, sample, ctx):
        """The handshake fails, or (TLS 1.3, where the client finishes first) the connection
        ends before any response."""
        try:
            with mh.Client.tls("127.0.0.1", sample.tls_port, context=ctx) as c:
                c.send(b"GET /headers HTTP/1.1\r\nHost: x\r\n\r\n")
                rest = c.wait_closed(timeout=mh.IO_TIMEOUT)
        except (ssl.SSLError, ConnectionError) as e:
            return e
        self.assertFalse(rest.startswith(b"HTTP/"), rest[:80])
        return None

    # -- SNI --

    def test_sni_picks_certificate(self):
        pki = self.pki
        default = pki.self_signed("default", "/CN=default.example")
        exact = pki.self_signed("exact", "/CN=a.example")
        wild = pki.self_signed("wild", "/CN=*.wild.example")
        s = self.start_sample(*self.tls_args(default, "--sni", "a.example,%s,%s" % exact,
                                             "--sni", "*.wild.example,%s,%s" % wild))
        self.assertEqual(served_cert(s, "a.example"), der(exact[0]))
        self.assertEqual(served_cert(s, "A.Example"), der(exact[0]))      # names ignore case
        self.assertEqual(served_cert(s, "x.wild.example"), der(wild[0]))
        self.assertEqual(served_cert(s, "x.y.wild.example"), der(default[0]))  # one label only
        self.assertEqual(served_cert(s, "wild.example"), der(default[0]))
        self.assertEqual(served_cert(s, "other.example"), der(default[0]))
        self.assertEqual(served_cert(s, None), der(default[0]))            # no SNI at all
        # and as openssl s_client sees it
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % s.tls_port,
                            "-servername", "a.example"], input=b"", capture_output=True,
                           timeout=30)
        self.assertRegex(p.stdout.decode(), r"subject=CN ?= ?a\.example")

    def test_rsa_and_ecdsa_side_by_side(self):
        pki = self.pki
        rsa = pki.self_signed("rsa", "/CN=rsa.example", rsa=True)
        ec = pki.self_signed("ec", "/CN=ec.example")
        s = self.start_sample(*self.tls_args(rsa, "--sni", ",%s,%s" % ec))
        for suites, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", ec),
                             ("ECDHE-RSA-AES128-GCM-SHA256", rsa)):
            ctx = mh.insecure_context()
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(suites)
            self.assertEqual(served_cert(s, ctx=ctx), der(want[0]), suites)

    def test_bad_sni_option_refused(self):
        for bad in ("a.example", "a.example,cert", "a.example,,key", "a,b,c,d"):
            p = mh.run([mh.sample_path(), "--port", "0", "--sni", bad], timeout=30)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("bad --sni", p.stderr.decode())
        missing = os.path.join(self.tmp, "missing.pem")
        p = mh.run([mh.sample_path(), "--port", "0", "--tls-port", "0",
                    "--sni", "a.example,%s,%s" % (missing, missing)], timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(missing, p.stderr.decode())

    # -- client certificates --

    def test_client_cert_required(self):
        pki = self.pki
        server = pki.self_signed("server", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server, "--client-ca", pki.ca[0],
                                             "--client-cert", "required", "--log-level", "debug"))
        page = self.get_headers(s, client_context(pki.device))
        self.assertIn("<h2>Client certificate: O=Acme, CN=device-17</h2>", page)
        self.assertIn("<h2>Client certificate names: DNS:device-17.example, IP:192.0.2.7, "
                      "email:ops@example.com</h2>", page)
        fp = hashlib.sha256(der(pki.device[0])).hexdigest()
        self.assertIn("<h2>Client certificate SHA-256: %s</h2>" % fp, page)
        mark = s.stdout_mark()
        self.assert_refused(s, client_context())                 # no certificate
        self.assert_refused(s, client_context(pki.stranger))     # one no CA of ours signed
        # each refusal is one debug line with the reason, never an error
        s.wait_stdout(r"^\[debug\] TLS handshake with 127\.0\.0\.1 port \d+ failed: \S", start=mark,
                      count=2)
        self.assertNotIn("[error]", s.err.text())
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context(pki.device)
            ctx.maximum_version = version
            if version == ssl.TLSVersion.TLSv1_3 and not mh.TLS13:
                continue
            self.assertIn("CN=device-17", self.get_headers(s, ctx))
        if CURL:
            p = mh.run([CURL, "-q", "-sS", "-k", "--cert", pki.device[0], "--key", pki.device[1],
                        s.url("/headers", tls=True)], env=mh.clean_env(), timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"Client certificate: O=Acme, CN=device-17", p.stdout)
            p = mh.run([CURL, "-q", "-sS", "-k", s.url("/headers", tls=True)],
                       env=mh.clean_env(), timeout=30)
            self.assertNotEqual(p.returncode, 0)

    def test_client_cert_optional(self):
        pki = self.pki
        server = pki.self_signed("server2", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server, "--client-ca", pki.ca[0],
                                             "--client-cert", "optional"))
        self.assertNotIn("Client certificate", self.get_headers(s, client_context()))
        self.assertIn("Client certificate: O=Acme, CN=device-17",
                      self.get_headers(s, client_context(pki.device)))
        self.assert_refused(s, client_context(pki.stranger))   # presented, but not verified
        # without --client-ca, nothing is asked and nothing shown
        plain = self.start_sample(*self.tls_args(server))
        self.assertNotIn("Client certificate", self.get_headers(plain, client_context(pki.device)))

    def test_client_cert_needs_ca(self):
        p = mh.run([mh.sample_path(), "--port", "0", "--client-cert", "optional"], timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--client-cert needs --client-ca", p.stderr.decode())

    # -- resumption, as openssl s_client reports it --

    def test_s_client_resumes(self):
        pki = self.pki
        server = pki.self_signed("server3", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server))
        versions = ["-tls1_2"] + (["-tls1_3"] if mh.TLS13 else [])
        for v in versions:
            sess = os.path.join(self.tmp, "session%s" % v)
            base = [OPENSSL, "s_client", v, "-ign_eof", "-connect", "127.0.0.1:%d" % s.tls_port]
            request = b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            first = subprocess.run(base + ["-sess_out", sess], input=request,
                                   capture_output=True, timeout=30)
            self.assertIn(b"New, ", first.stdout, v)
            again = subprocess.run(base + ["-sess_in", sess], input=request,
                                   capture_output=True, timeout=30)
            self.assertIn(b"Reused, ", again.stdout, (v, again.stdout[-2000:]))
            self.assertIn(b"It Works!", again.stdout, v)

    def resumed(self, sample, session, ctx):
        raw = socket.create_connection(("127.0.0.1", sample.tls_port), timeout=mh.IO_TIMEOUT)
        with mh.Client("127.0.0.1", sample.tls_port,
                       sock=ctx.wrap_socket(raw, session=session)) as c:
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
            return c.sock.session_reused

    def first_session(self, sample, ctx):
        with mh.Client.tls("127.0.0.1", sample.tls_port, context=ctx) as c:
            # TLS 1.3's ticket comes after the handshake: a response first
            self.assertEqual(c.request("GET", "/index.html").body, mh.IT_WORKS)
            self.assertFalse(c.sock.session_reused)
            return c.sock.session

    def test_resumed_on_every_worker_and_after_reload(self):
        # the listener's loops share their ticket keys, and a reload keeps them
        pki = self.pki
        server = pki.self_signed("server4", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server, "--workers", "3"))
        ctx = mh.insecure_context()
        session = self.first_session(s, ctx)
        reused = [self.resumed(s, session, ctx) for _ in range(12)]
        self.assertEqual(reused, [True] * 12)
        mark = s.stdout_mark()
        s.proc.send_signal(signal.SIGHUP)
        s.wait_stdout(r"^\[info\] TLS certificates reloaded$", start=mark)
        reused = [self.resumed(s, session, ctx) for _ in range(6)]
        self.assertEqual(reused, [True] * 6)

    def test_resumed_without_tickets(self):
        # a TLS 1.2 client that takes no tickets resumes by session id (the bounded cache)
        pki = self.pki
        server = pki.self_signed("server5", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server))
        ctx = mh.insecure_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        session = self.first_session(s, ctx)
        self.assertFalse(session.has_ticket)
        self.assertTrue(self.resumed(s, session, ctx))

    # -- reload --

    def test_reload_under_ab(self):
        # ab makes a new TLS connection per request (no -k) for 3 s; a SIGHUP lands while it
        # runs (once its first requests are logged): not one request fails
        if not AB:
            self.skipTest("ab (apache2-utils) not installed")
        pki = self.pki
        server = pki.self_signed("ab-server", "/CN=server.example")
        s = self.start_sample(*self.tls_args(server, "--workers", "2"))
        mark = s.stdout_mark()
        ab = subprocess.Popen([AB, "-q", "-t", "3", "-n", "1000000", "-c", "4",
                               s.url("/index.html", tls=True)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=mh.clean_env())
        try:
            s.wait_stdout(r'"GET /index\.html HTTP/1\.0" 200', start=mark, count=20)
            mark = s.stdout_mark()
            s.proc.send_signal(signal.SIGHUP)
            s.wait_stdout(r"^\[info\] TLS certificates reloaded$", start=mark)
            out, _ = ab.communicate(timeout=60)
        finally:
            if ab.poll() is None:
                ab.kill()
                ab.wait()
        text = out.decode(errors="replace")
        done = re.search(r"^Complete requests:\s+(\d+)$", text, re.M)
        failed = re.search(r"^Failed requests:\s+(\d+)$", text, re.M)
        self.assertTrue(done and failed, text)
        print("\n  ab across a SIGHUP: %s requests, %s failed" % (done.group(1), failed.group(1)),
              file=sys.stderr)
        self.assertGreater(int(done.group(1)), 20, text)
        self.assertEqual(int(failed.group(1)), 0, text)
        self.assertNotIn("Non-2xx responses", text)

    def test_sighup_reloads(self):
        pki = self.pki
        old = pki.self_signed("before", "/CN=before.example")
        new = pki.self_signed("after", "/CN=after.example")
        cert, key = os.path.join(self.tmp, "live.pem"), os.path.join(self.tmp, "live.key")
        shutil.copy(old[0], cert)
        shutil.copy(old[1], key)
        s = self.start_sample("--cert", cert, "--key", key, "--workers", "2")
        self.assertEqual(served_cert(s), der(old[0]))
        held = mh.Client.tls("127.0.0.1", s.tls_port)
        self.addCleanup(held.close)
        self.assertEqual(held.request("GET", "/index.html").status, 200)

        errors, served, stop = [], [0], threading.Event()

        def load():   # new connections all along, none may fail
            while not stop.is_set() and served[0] < 5000:
                try:
                    with mh.Client.tls("127.0.0.1", s.tls_port) as c:
                        r = c.request("GET", "/index.html", headers=[("Connection", "close")])
                    if r.status != 200:
                        errors.append(r.status)
                    served[0] += 1
                except (OSError, ssl.SSLError, AssertionError) as e:
                    errors.append(repr(e))
        t = threading.Thread(target=load, daemon=True)
        t.start()
        try:
            shutil.copy(new[0], cert)
            shutil.copy(new[1], key)
            mark = s.stdout_mark()
            s.proc.send_signal(signal.SIGHUP)
            s.wait_stdout(r"^\[info\] TLS certificates reloaded$", start=mark)
            # both workers have taken it: every new connection gets the new certificate
            for _ in range(8):
                self.assertEqual(served_cert(s), der(new[0]))
            # the connection opened before goes on, on its own session
            self.assertEqual(held.request("GET", "/index.html").body, mh.IT_WORKS)

            # a bad file: the new certificate stays, with one error line
            with open(cert, "w") as f:
                f.write("not a certificate\n")
            s.proc.send_signal(signal.SIGHUP)
            s.err.wait_for(r"^\[error\] TLS reload failed, certificates kept: .*live\.pem",
                           mh.IO_TIMEOUT)
            for _ in range(4):
                self.assertEqual(served_cert(s), der(new[0]))
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(served[0], 0)
        errors_logged = [l for l in s.err.text().splitlines() if l.startswith("[error]")]
        self.assertEqual(len(errors_logged), 1, errors_logged)


if __name__ == "__main__":
    mh.main()
