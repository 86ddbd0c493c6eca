"""exampleharness - run one of examples/*.c as the tests of tests/examples/ need it.

    with Example("MOTE_EXAMPLE", "dir") as ex:     # the binary named by that variable, port 0
        ex.port                                    # read from its "listening on port N" line
        ex.wait_line(r"stored x, (\\d+) bytes")     # its stdout, waited on with a deadline
    # leaving the block sends SIGTERM and checks: exit status 0, no sanitizer report

Each example takes its port as argv[1] and prints "...: listening on port N" once it listens;
with port 0 the kernel picks a free port and nothing races for it. Every wait is on an event (a
line of output, process exit) with a deadline; nothing sleeps to synchronise.
"""

import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from moteharness import (IO_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, Client,  # noqa: E402
                         _Lines, clean_env, run, sanitizer_lines)

__all__ = ["Client", "Example", "IO_TIMEOUT", "clean_env", "free_port", "run", "main"]


def free_port():
    """A loopback port free right now (for tests of an explicit port argument)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Example:
    def __init__(self, env_var, *args, port=0, preexec_fn=None):
        self.path = os.environ.get(env_var, "")
        if not self.path:
            raise unittest.SkipTest("%s is not set (path of the example's binary)" % env_var)
        self.argv = [self.path, str(port)] + list(args)
        self.preexec_fn = preexec_fn
        self.proc = None
        self.port = None
        self.terminated = False

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=self.preexec_fn)
        self.out = _Lines(self.proc.stdout)
        self.err = _Lines(self.proc.stderr)
        try:
            m = self.out.wait_for(r"listening on port (\d+)", START_TIMEOUT)[0]
        except AssertionError:
            self.kill()
            raise AssertionError("%s did not start; stderr:\n%s" % (self.argv, self.err.text()))
        self.port = int(m.group(1))
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def mark(self):
        """An index for wait_line(start=...): only lines printed after now count."""
        return self.out.count()

    def wait_line(self, pattern, start=0, count=1, timeout=IO_TIMEOUT):
        """Waits for `count` stdout lines matching `pattern`; returns their match objects."""
        return self.out.wait_for(pattern, timeout, start, count)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.out.join(2)
        self.err.join(2)

    def terminate(self):
        """Sends SIGTERM, once: a second one, once the example has put its handler away to
        destroy its server, would end it with the signal's default action."""
        if not self.terminated:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop_and_check(self):
        """SIGTERM; asserts exit status 0 within STOP_TIMEOUT and no sanitizer report."""
        self.terminate()
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s: no exit within %.1f s of SIGTERM" % (self.argv, STOP_TIMEOUT))
        self.out.join(5)
        self.err.join(5)
        san = sanitizer_lines(self.err.text())
        if status != 0 or san:
            raise AssertionError("%s: exit status %r, sanitizer lines %s; stderr:\n%s"
                                 % (self.argv, status, san[:5], self.err.text()[-6000:]))

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        if et is None:
            self.stop_and_check()
        else:
            self.kill()
        return False


def main():
    unittest.main(verbosity=2)
