#!/bin/sh
# tls-scan.sh HOST:PORT OUTDIR - scan an HTTPS listener with testssl and sslscan.
#
# Writes, in OUTDIR (created if needed):
#   testssl.json  testssl's findings, one object per check (--jsonfile: id, severity, finding)
#   testssl.txt   its readable report
#   sslscan.xml   sslscan's results (--xml)
#   sslscan.txt   its readable report
# and prints nothing else. Judging the findings is the caller's job
# (tests/hostile/test_tls_scan.py); the exit status only says whether both scans ran:
# 0, 2 for bad usage, 3 when a tool is missing, 4 when a scan failed or wrote no results.
#
# testssl's full run takes minutes; only these checks are run (about 20 s on loopback):
#   -p  protocols (SSLv2 .. TLS 1.3)          -f  forward secrecy (ciphers, curves)
#   -P  server cipher order                    -E  every cipher, per protocol
#   -R  renegotiation (secure, client-initiated)  -C  TLS compression (CRIME)
#   -U  all vulnerability checks: heartbleed, CCS, ticketbleed, ROBOT, renegotiation, CRIME,
#       BREACH, POODLE, TLS_FALLBACK_SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4
# Environment: TESTSSL, SSLSCAN, OPENSSL (the openssl testssl drives; default the system one),
# TLS_SCAN_TIMEOUT (seconds per tool, 150).
set -u

usage() {
    echo "usage: $0 HOST:PORT OUTDIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
target=$1
out=$2
case $target in
    *:[0-9]*) ;;
    *) usage ;;
esac

TESTSSL=${TESTSSL:-$(command -v testssl || command -v testssl.sh || true)}
SSLSCAN=${SSLSCAN:-$(command -v sslscan || true)}
OPENSSL=${OPENSSL:-$(command -v openssl || true)}
limit=${TLS_SCAN_TIMEOUT:-150}
for tool in "$TESTSSL" "$SSLSCAN" "$OPENSSL"; do
    if [ -z "$tool" ] || [ ! -x "$tool" ]; then
        echo "$0: testssl, sslscan and openssl are needed (TESTSSL, SSLSCAN, OPENSSL)" >&2
        exit 3
    fi
done

mkdir -p "$out" || exit 4
rm -f "$out/testssl.json" "$out/testssl.txt" "$out/sslscan.xml" "$out/sslscan.txt"

# --nodns min: no lookups beyond the target itself; --warnings off: never ask a question;
# testssl's exit status is not only about failures, so its JSON (which ends with the scan
# time) tells whether it ran; 124/137 are timeout's
timeout "$limit" "$TESTSSL" --openssl "$OPENSSL" --quiet --color 0 --warnings off \
    --nodns min -p -P -f -E -R -C -U \
    --jsonfile "$out/testssl.json" "$target" >"$out/testssl.txt" 2>&1
status=$?
if [ $status -eq 124 ] || [ $status -eq 137 ] || ! grep -q '"scanTime"' "$out/testssl.json" 2>/dev/null; then
    echo "$0: testssl failed (status $status); see $out/testssl.txt" >&2
    exit 4
fi

timeout "$limit" "$SSLSCAN" --no-colour --xml="$out/sslscan.xml" "$target" \
    >"$out/sslscan.txt" 2>&1
status=$?
if [ $status -ne 0 ] || [ ! -s "$out/sslscan.xml" ]; then
    echo "$0: sslscan failed (status $status); see $out/sslscan.txt" >&2
    exit 4
fi
exit 0
