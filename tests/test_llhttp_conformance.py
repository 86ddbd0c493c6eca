#!/usr/bin/env python3
"""llhttp's request cases as a peer's test suite for mote's parser and connection machine.

    test_llhttp_conformance.py CONN_DRIVER CASES_JSON [-v]

CASES_JSON is ../shared/conformance/llhttp-requests.json (see its README.md): the request cases
of nodejs/llhttp's own tests, as raw bytes with what llhttp makes of them. Exit status: 0 when
every case agrees with llhttp or differs for a reason listed below, 1 on any other outcome, 77
(skipped) when the cases are absent.

Each case runs through tests/conn_driver (the connection machine fed from stdin) twice: all
bytes at once, and one byte at a time; both runs must give the same result.

What is checked:
  * strict `ok` cases: the requests the handler receives are llhttp's messages whose head was
    complete (method, target, version, header fields), each answered 200, in order; a case we
    deliberately reject is in DELIBERATE_OK with the RFC section that lets a strict server do so
    and the status we answer.
  * `error` cases (strict and lenient): no request at or after the erroneous one is handed to
    the handler, and the connection closes. An error in a head is answered 4xx/5xx, or - when the
    input ends before the head does - the connection closes without an answer. An error inside
    a body comes after the request was already answered (the handler answers before the body is
    read), so there the check is that the connection closed because of the bytes, before EOF.
    Cases we deliberately accept are in DELIBERATE_ERROR; ERROR_STATUS pins the status of
    refusals whose reason we share with llhttp (unknown methods: 501).
  * every case: after the peer's EOF the connection is closing (conn.h: conn_peer_eof
    "finish what was received, then close").
  * lenient `ok` cases need llhttp's lenient flags; mote is strict. They are reported in a table
    (accepted or rejected) and must only not crash or depend on the split.
"""
import base64
import json
import re
import subprocess
import sys

SPLITS = (0, 1)

# Strict `ok` cases we deliberately answer differently: id -> (name prefix, what we do, reason).
# `dispatch` is the number of requests that still reach the handler, `status` the status of
# the response that follows them.
DELIBERATE_OK = {
    36: ("Content-Length reset when no body is received", dict(dispatch=1, status=None),
         "llhttp's test callback skips the body (for responses to HEAD); in a request "
         "Content-Length defines the body (RFC 9112 §6.3 item 6), so the 2nd request is body"),
    # Methods: mote implements GET, HEAD, POST, PUT, DELETE, PATCH and OPTIONS. "An origin
    # server that receives a request method that is unrecognized or not implemented SHOULD
    # respond with the 501 (Not Implemented) status code" (RFC 9110 §9.1, §15.6.2); it closes
    # the connection after, as the body framing of an unknown method is not its business.
    76: ("REPORT request", dict(dispatch=0, status=501),
         "REPORT (WebDAV) is not implemented: 501 (RFC 9110 §9.1, §15.6.2)"),
    77: ("CONNECT request", dict(dispatch=0, status=501),
         "CONNECT is for proxies that tunnel (RFC 9110 §9.3.6, RFC 9112 §3.2.3); not "
         "implemented here: 501 (RFC 9110 §9.1, §15.6.2)"),
    78: ("CONNECT request with CAPS", dict(dispatch=0, status=501), "as 77: CONNECT"),
    79: ("CONNECT with body", dict(dispatch=0, status=501), "as 77: CONNECT"),
    163: ("Underscore in hostname", dict(dispatch=0, status=501), "as 77: CONNECT"),
    80: ("M-SEARCH request", dict(dispatch=0, status=501),
         "M-SEARCH (SSDP) is not implemented: 501 (RFC 9110 §9.1, §15.6.2); its "
         "asterisk-form would be only for OPTIONS anyway (RFC 9112 §3.2.4)"),
    82: ("PURGE request", dict(dispatch=0, status=501),
         "PURGE is not implemented: 501 (RFC 9110 §9.1, §15.6.2)"),
    83: ("SEARCH request", dict(dispatch=0, status=501), "as 82: SEARCH"),
    84: ("LINK request", dict(dispatch=0, status=501), "as 82: LINK"),
    85: ("LINK request", dict(dispatch=0, status=501), "as 82: UNLINK"),
    86: ("SOURCE request", dict(dispatch=0, status=501), "as 82: SOURCE"),
    91: ("QUERY request", dict(dispatch=0, status=501), "as 82: QUERY"),
    90: ("PRI request HTTP2", dict(dispatch=0, status=501),
         "the HTTP/2 preface (RFC 9113 §3.4), not spoken here: PRI is not a method we "
         "implement, 501 (RFC 9110 §9.1, §15.6.2)"),
    87: ("SOURCE request with ICE", dict(dispatch=0, status=400),
         "HTTP-name is \"HTTP\" (RFC 9112 §2.3): ICE/1.0 is another protocol"),
    88: ("OPTIONS request with RTSP", dict(dispatch=0, status=400),
         "HTTP-name is \"HTTP\" (RFC 9112 §2.3): RTSP/1.0 is another protocol"),
    89: ("ANNOUNCE request with RTSP", dict(dispatch=0, status=400), "as 88: RTSP"),
    115: ("No HTTP version", dict(dispatch=0, status=400),
          "HTTP/0.9: the request-line needs an HTTP-version (RFC 9112 §3, §2.3)"),
    143: ("POST with `chunked` as last transfer-encoding", dict(dispatch=0, status=400),
          "its target ends in a fragment (#hey), which no request-target form has "
          "(RFC 9112 §3.2): 400 for the request-line (§3), before the codings are looked at"),
    144: ("POST with `chunked` as last transfer-encoding (multiple headers)",
          dict(dispatch=0, status=400), "as 143: a fragment"),
    162: ("Fragment in URI", dict(dispatch=0, status=400), "as 143: a fragment"),
    164: ("`host:port` and basic auth", dict(dispatch=0, status=400),
          "userinfo in an http URI is to be treated as an error (RFC 9110 §4.2.4): 400"),
    129: ("`chunked` > Trailing headers", dict(dispatch=1, status=None),
          "llhttp lists trailer fields with the header fields; the handler runs before the "
          "body and trailers are checked, then discarded (RFC 9110 §6.5.1 lets a recipient)"),
}

# `error` cases we deliberately accept: id -> (name prefix, what we do, reason). None now:
# unknown methods, which llhttp refuses as invalid, are refused here too (501).
DELIBERATE_ERROR = {}

# `error` cases where both refuse, and the status we refuse with: id -> (name prefix, status,
# reason). llhttp refuses these methods because it does not know them; so does mote.
ERROR_STATUS = {
    45: ("HTTP protocol and ANNOUNCE method", 501,
         "ANNOUNCE is a token (RFC 9110 §9.1) but not a method we implement: 501 "
         "(RFC 9110 §15.6.2), nothing dispatched"),
    55: ("Invalid method", 501, "as 45: MKCOLA is a token, not a method we implement"),
}

HOST = b"Host: x\r\n"
HOST_LINE = re.compile(rb"(?i)^host[ \t]*:")


def request_line_end(raw, begin):
    """The offset after the CRLF ending the request line of the message starting at `begin`
    (leading empty lines skipped, RFC 9112 §2.2), and the line; (None, None) without CRLF."""
    while raw.startswith(b"\r\n", begin):
        begin += 2
    eol = raw.find(b"\r\n", begin)
    if eol < 0:
        return None, None
    return eol + 2, raw[begin:eol]


def add_hosts(case, raw):
    """Returns the bytes with a Host field added where a message lacks one, and for each
    llhttp message whether one was added.

    Rule: HTTP/1.1 requires exactly one Host (RFC 9112 §3.2), so a 1.1 message without it is
    400 here whatever else it holds, which would hide what the case is about: none of these
    cases is about Host. "Host: x\\r\\n" goes right after the request line of each message llhttp
    saw (from its begin offset), when (a) the request line, as the raw bytes have it, ends in
    " HTTP/1.1" CRLF (1.0 does not need Host; a request line without CRLF never reaches its
    fields; this is read from the bytes, not from llhttp, which stops early at methods it does
    not know), (b) no field line of its head is already called Host, and (c) the byte after the
    request line is not SP or HTAB (whitespace right after the start line, RFC 9112 §2.2, is what
    such a case checks; a field line before it would make it obs-fold instead). The added line
    sits between the request line and the first field line, so the bytes a case is about are
    unchanged, only shifted."""
    inserts = []
    added = []
    for m in case["messages"]:
        rle, line = request_line_end(raw, m["begin_off"])
        ok = rle is not None and line.endswith(b" HTTP/1.1")
        if ok and raw[rle:rle + 1] in (b" ", b"\t"):
            ok = False
        if ok:
            end = raw.find(b"\r\n\r\n", rle - 2)
            end = len(raw) if end < 0 else end + 2
            if any(HOST_LINE.match(f) for f in raw[rle:end].split(b"\r\n")):
                ok = False
        added.append(ok)
        if ok:
            inserts.append(rle)
    for at in sorted(inserts, reverse=True):
        raw = raw[:at] + HOST + raw[at:]
    return raw, added


def head_field_count(raw, m):
    """How many of llhttp's fields of message m are in its head; the rest are trailer fields
    of a chunked body, which llhttp lists with them."""
    rle, _ = request_line_end(raw, m["begin_off"])
    if rle is None or m.get("headers_complete_off") is None:
        return len(m["headers"])
    return len([f for f in raw[rle:m["headers_complete_off"]].split(b"\r\n") if f])


def run_driver(driver, data, split):
    p = subprocess.run([driver, str(split)], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        return None, "driver exit %d: %s" % (p.returncode, p.stderr.decode("latin-1")[-500:])
    requests, result = [], None
    for line in p.stdout.decode("ascii").splitlines():
        obj = json.loads(line)
        if "request" in obj:
            r = obj["request"]
            requests.append(dict(
                method=r["method"].encode("latin-1"), target=r["target"].encode("latin-1"),
                version=r["version"],
                headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in r["headers"]]))
        elif "result" in obj:
            result = obj["result"]
    if result is None:
        return None, "driver printed no result"
    result["output"] = base64.b64decode(result["output_b64"])
    result["requests"] = requests
    return result, None


def parse_responses(out, requests):
    """Splits the output into responses: (status, fields, body). The i-th response answers
    the i-th dispatched request; a response to HEAD has no body."""
    resps, i = [], 0
    while i < len(out):
        end = out.find(b"\r\n\r\n", i)
        if end < 0:
            return resps, out[i:]
        lines = out[i:end].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or parts[0] != b"HTTP/1.1" or not parts[1].isdigit():
            return resps, out[i:]
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        i = end + 4
        length = int(fields.get(b"content-length", b"0"))
        k = len(resps)
        if k < len(requests) and requests[k]["method"] == b"HEAD":
            length = 0
        resps.append((int(parts[1]), fields, out[i:i + length]))
        i += length
    return resps, b""


def expected_value(v):
    """llhttp keeps trailing whitespace in a value; RFC 9110 §5.5 excludes it, as we do."""
    out = set()
    for enc in ("utf-8", "latin-1"):
        try:
            out.add(v.encode(enc).rstrip(b" \t"))
        except UnicodeEncodeError:
            pass
    return out


def message_matches(req, m, host_added, n_fields=None):
    """Whether a dispatched request is llhttp's message m (its first n_fields fields: the
    head's); returns a reason when not."""
    if req["method"] != m["method"].encode("latin-1"):
        return "method %r != %r" % (req["method"], m["method"])
    if req["target"] != m["url"].encode("utf-8"):
        return "target %r != %r" % (req["target"], m["url"])
    want_version = {"1.0": 10, "1.1": 11}.get(m["version"])
    if req["version"] != want_version:
        return "version %r != %r" % (req["version"], m["version"])
    want = ([(b"Host", {b"x"})] if host_added else []) + [
        (n.encode("latin-1"), expected_value(v)) for n, v in m["headers"][:n_fields]]
    got = req["headers"]
    if len(got) != len(want):
        return "%d fields != %d: %r" % (len(got), len(want), got)
    for (gn, gv), (wn, wv) in zip(got, want):
        if gn != wn or gv not in wv:
            return "field %r: %r not in %r" % (gn, gv, wv)
    return None


def keeps_alive(req):
    """Whether a request lets the connection continue (RFC 9112 §9.3)."""
    opts = set()
    for n, v in req["headers"]:
        if n.lower() == b"connection":
            opts.update(t.strip().lower() for t in v.split(b","))
    if b"close" in opts:
        return False
    return req["version"] == 11 or b"keep-alive" in opts


class Outcome:
    def __init__(self, case):
        self.case = case
        self.failures = []
        self.kind = None        # "agreed", "deliberate", "lenient"
        self.note = ""

    def fail(self, msg):
        self.failures.append(msg)


def describe(result):
    resps, _ = parse_responses(result["output"], result["requests"])
    statuses = [s for s, _, _ in resps]
    d = "%d req, resp %s" % (len(result["requests"]),
                             ",".join(str(s) for s in statuses) or "none")
    if result["partial_head_at_eof"]:
        d += ", head incomplete at EOF"
    return d


def check_case(case, driver):
    o = Outcome(case)
    raw = base64.b64decode(case["raw_bytes_b64"])
    data, host_added = add_hosts(case, raw)
    results = []
    for split in SPLITS:
        r, err = run_driver(driver, data, split)
        if err:
            o.fail("split %d: %s" % (split, err))
            return o
        results.append(r)
    first = results[0]
    for split, r in zip(SPLITS[1:], results[1:]):
        for key in ("requests", "output", "closing", "partial_head_at_eof", "closing_before_eof"):
            if r[key] != first[key]:
                o.fail("split %d differs from whole in %s" % (split, key))
    r = first
    reqs = r["requests"]
    resps, junk = parse_responses(r["output"], reqs)
    statuses = [s for s, _, _ in resps]
    o.note = describe(r)
    if junk:
        o.fail("unparsable output after %d responses: %r" % (len(resps), junk[:80]))
    if r["stalled"]:
        o.fail("the connection stopped reading without closing")
    if r["fed"] < r["input_len"] and not r["closing_before_eof"]:
        o.fail("not all input was taken, yet the connection was not closing")

    msgs = case["messages"]
    cid = case["id"]

    if case["mode"] == "lenient" and case["expect"] == "ok":
        o.kind = "lenient"
        # must not crash (checked above); what we do is reported, not judged
    elif case["expect"] == "ok":
        if cid in DELIBERATE_OK:
            name, want, _ = DELIBERATE_OK[cid]
            o.kind = "deliberate"
            if not case["name"].startswith(name) and not case["name"].endswith(name):
                o.fail("allow-list entry %d names %r, the case is %r" % (cid, name, case["name"]))
            if len(reqs) != want["dispatch"]:
                o.fail("dispatched %d, expected %d" % (len(reqs), want["dispatch"]))
            for i, req in enumerate(reqs):
                why = message_matches(req, msgs[i], host_added[i], head_field_count(raw, msgs[i]))
                if why:
                    o.fail("request %d: %s" % (i, why))
            if want["status"] is not None:
                if len(statuses) != len(reqs) + 1 or statuses[-1] != want["status"]:
                    o.fail("responses %s, expected %s after %d requests"
                           % (statuses, want["status"], len(reqs)))
                elif want["status"] >= 400:
                    # a refusal ends the connection, and says so (RFC 9112 §9.6)
                    if resps[-1][1].get(b"connection", b"").lower() != b"close":
                        o.fail("the %d lacks Connection: close" % want["status"])
                    if not r["closing_before_eof"]:
                        o.fail("the connection went on after the %d" % want["status"])
            elif statuses != [200] * len(reqs):
                o.fail("responses %s" % statuses)
        else:
            o.kind = "agreed"
            complete = [(m, h) for m, h in zip(msgs, host_added) if m["headers_complete"]]
            if len(reqs) != len(complete):
                o.fail("dispatched %d requests, llhttp completed %d heads" % (len(reqs), len(complete)))
            for i, (req, (m, h)) in enumerate(zip(reqs, complete)):
                why = message_matches(req, m, h, head_field_count(raw, m))
                if why:
                    o.fail("request %d: %s" % (i, why))
            if statuses[:len(reqs)] != [200] * len(reqs):
                o.fail("responses %s" % statuses)
            # a request that does not keep the connection alive is answered with
            # "Connection: close", and nothing after it is dispatched (RFC 9112 §9.6)
            for i, req in enumerate(reqs):
                if not keeps_alive(req):
                    if i < len(resps) and resps[i][1].get(b"connection", b"").lower() != b"close":
                        o.fail("response %d lacks Connection: close" % i)
                    if i + 1 < len(reqs) or not r["closing_before_eof"]:
                        o.fail("request %d asked to close, yet the connection went on" % i)
            extra = statuses[len(reqs):]
            # After an Upgrade llhttp stops: the rest is another protocol's. We do not upgrade
            # (RFC 9110 §7.8 lets a server ignore Upgrade), so those bytes are read as the
            # next request, and refused.
            if extra and not (case["upgrade"] and len(extra) == 1 and extra[0] >= 400):
                o.fail("unexpected responses after the requests: %s" % extra)
    else:
        idx = case["error_msg_index"] or 0
        phase = case["error_phase"]
        if cid in DELIBERATE_ERROR:
            name, want, _ = DELIBERATE_ERROR[cid]
            o.kind = "deliberate"
            if not case["name"].startswith(name):
                o.fail("allow-list entry %d names %r, the case is %r" % (cid, name, case["name"]))
            if len(reqs) != want["dispatch"] or statuses[-1:] != [want["status"]]:
                o.fail("expected %d dispatched and a %d" % (want["dispatch"], want["status"]))
        else:
            o.kind = "agreed"
            allowed = idx + (1 if phase == "body" else 0)
            if len(reqs) > allowed:
                o.fail("dispatched %d requests; the error is in message %d (%s)"
                       % (len(reqs), idx, phase))
            for i, req in enumerate(reqs):
                if i < len(msgs):
                    why = message_matches(req, msgs[i], host_added[i])
                    if why:
                        o.fail("request %d: %s" % (i, why))
            if statuses[:len(reqs)] != [200] * len(reqs):
                o.fail("responses to the requests: %s" % statuses)
            extra = statuses[len(reqs):]
            if cid in ERROR_STATUS:
                name, status, _ = ERROR_STATUS[cid]
                if not case["name"].startswith(name):
                    o.fail("status entry %d names %r, the case is %r" % (cid, name, case["name"]))
                if extra != [status]:
                    o.fail("after the requests: %s, expected [%d]" % (extra, status))
            if extra:
                # we refused a head (perhaps earlier than llhttp did): one 4xx/5xx
                if len(extra) != 1 or not 400 <= extra[0] <= 599:
                    o.fail("after the requests: %s, expected one 4xx/5xx" % extra)
            elif r["partial_head_at_eof"]:
                o.note += " (closed silently)"
            elif phase != "head" and len(reqs) == allowed and r["closing_before_eof"]:
                # the last request was answered before its body was read; the connection
                # gave up because of the bytes that followed, not because of the EOF
                o.note += " (closed on the %s error)" % phase
            else:
                o.fail("no error response, no incomplete head at EOF, and no close before EOF")

    if not r["closing"]:
        o.fail("EOF-CLOSE: after the peer's EOF the connection is not closing "
               "(%d bytes unconsumed)" % r["unconsumed_at_eof"])
    return o


def main(argv):
    if len(argv) < 3:
        print("usage: %s CONN_DRIVER CASES_JSON [-v]" % argv[0], file=sys.stderr)
        return 2
    driver, path = argv[1], argv[2]
    verbose = "-v" in argv[3:]
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        print("skipped: %s not found" % path)
        return 77
    cases = doc["cases"]
    outcomes = [check_case(c, driver) for c in cases]
    by_id = {o.case["id"]: o for o in outcomes}

    def count(pred):
        return sum(1 for o in outcomes if pred(o))

    print("llhttp conformance: %d cases from %s @ %s" % (len(cases), doc.get("source"),
                                                         doc.get("source_commit", "")[:12]))
    if verbose:
        for o in outcomes:
            c = o.case
            print("  #%-3d %-6s %-8s %-10s %s  [%s]%s" % (
                c["id"], c["expect"], c["mode"], o.kind, c["name"][:60], o.note,
                " FAIL" if o.failures else ""))

    print("\nDeliberate differences:")
    print("  %-4s %-6s %-40s %-18s %s" % ("id", "expect", "case", "mote", "reason"))
    for table, expect in ((DELIBERATE_OK, "ok"), (DELIBERATE_ERROR, "error")):
        for cid in sorted(table):
            o = by_id[cid]
            print("  #%-3d %-6s %-40s %-18s %s%s" % (
                cid, expect, o.case["name"][:40], o.note, table[cid][2],
                "  ** FAILED" if o.failures else ""))

    print("\nError cases refused with a given status:")
    for cid in sorted(ERROR_STATUS):
        o = by_id[cid]
        print("  #%-3d %-6s %-40s %-18s %s%s" % (
            cid, "error", o.case["name"][:40], o.note, ERROR_STATUS[cid][2],
            "  ** FAILED" if o.failures else ""))

    print("\nLenient-mode ok cases (llhttp needs lenient flags; mote is strict):")
    print("  %-4s %-40s %-34s %s" % ("id", "llhttp flags", "case", "mote"))
    for o in outcomes:
        if o.kind == "lenient":
            c = o.case
            print("  #%-3d %-40s %-34s %s" % (c["id"], ",".join(c["lenient_flags"])[:40],
                                              c["name"][:34], o.note))

    failed = [o for o in outcomes if o.failures]
    strict_ok = [o for o in outcomes if o.case["expect"] == "ok" and o.case["mode"] == "strict"]
    errors = [o for o in outcomes if o.case["expect"] == "error"]
    lenient = [o for o in outcomes if o.kind == "lenient"]
    print("\nSummary:")
    print("  %-26s %6s %8s %12s %9s" % ("", "cases", "agreed", "deliberate", "failures"))
    for label, group in (("strict ok", strict_ok), ("error (strict+lenient)", errors),
                         ("lenient ok (reported)", lenient), ("all", outcomes)):
        print("  %-26s %6d %8d %12d %9d" % (
            label, len(group), sum(1 for o in group if o.kind == "agreed" and not o.failures),
            sum(1 for o in group if o.kind == "deliberate" and not o.failures),
            sum(1 for o in group if o.failures)))

    if failed:
        print("\nFailures:")
        for o in failed:
            print("  #%d %s (%s, %s): %s" % (o.case["id"], o.case["name"], o.case["expect"],
                                             o.case["mode"], o.note))
            for f in o.failures:
                print("      - " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
