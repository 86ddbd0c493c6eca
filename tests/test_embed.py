"""The embed example: mote driven from the application's own poll(2) loop through
mote_server_fd(), mote_server_timeout_ms() and mote_server_step()."""
import os
import signal
import socket
import subprocess
import sys
import unittest

EMBED = os.environ.get("MOTE_EMBED", "")


def get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk


class EmbedTest(unittest.TestCase):
    def test_own_loop(self):
        p = subprocess.Popen([EMBED, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertIn("listening on 127.0.0.1 port", line)
            port = int(line.rsplit(" ", 1)[1])
            self.assertTrue(get(port, "/status").endswith(b"ticks: 0\n"))
            # the application's own work: three lines on its stdin, handled by the same loop
            p.stdin.write(b"a\nb\nc\n")
            p.stdin.flush()
            reply = b""
            for _ in range(200):  # bounded: the loop reads stdin before or with the request
                reply = get(port, "/status")
                if reply.endswith(b"ticks: 3\n"):
                    break
            self.assertTrue(reply.endswith(b"ticks: 3\n"), reply)
            self.assertIn(b"HTTP/1.1 404", get(port, "/other"))
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(b"stopped after 3 ticks", out)
            self.assertNotIn(b"Sanitizer", err)
            self.assertNotIn(b"runtime error", err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    if not EMBED:
        sys.exit("MOTE_EMBED is not set")
    unittest.main()
