#!/usr/bin/env python3
"""mote-sample with several event-loop threads (--workers 4): a dozen /events streams spread over
the loops get their ticks from the loop that serves them, while other clients come and go, and
the server stops cleanly. Built with ThreadSanitizer (`make test` runs it so), any data race
between the loops is a report on stderr, which fails the test."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import moteharness as mh  # noqa: E402

WORKERS = 4
STREAMS = 12


def read_ticks(c, n, deadline):
    """Reads until `n` events have come; returns their ids."""
    ids = []
    while len(ids) < n:
        event = c.read_until(b"\n\n", deadline)
        for line in event.split(b"\n"):
            if line.startswith(b"id: "):
                ids.append(int(line[4:]))
    return ids


class Workers(unittest.TestCase):
    def test_events_on_every_loop(self):
        with mh.Sample("--workers", str(WORKERS), "--log-level", "warn") as s:
            streams = []
            try:
                # connections from new source ports land on every loop (SO_REUSEPORT)
                for _ in range(STREAMS):
                    streams.append(mh.events_stream(s))
                deadline = time.monotonic() + 4 * mh.IO_TIMEOUT
                for round_ in range(2):
                    for c in streams:
                        ids = read_ticks(c, 1, deadline)
                        self.assertEqual(len(ids), 1)
                    # meanwhile other clients are served by the same loops, and some streams go
                    for _ in range(8):
                        c = s.connect()
                        c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        r = c.read_response()
                        self.assertEqual(r.status, 200)
                        self.assertEqual(r.body, mh.IT_WORKS)
                        c.close()
                    streams.pop().close()
                    streams.pop(0).close()
                for c in streams:   # still ticking after the others left
                    read_ticks(c, 1, deadline)
            finally:
                for c in streams:
                    c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
