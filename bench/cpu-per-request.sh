#!/bin/sh
# One quick figure, for trying a change or an option between full `make bench` runs: requests per
# server-CPU-second of one server under one wrk workload, pinned as make bench pins them (the
# server on CPU 1, wrk on CPU 0). The server's CPU time is summed over its process tree.
#
# usage: bench/cpu-per-request.sh URL [wrk options] -- SERVER COMMAND...
#   bench/cpu-per-request.sh http://127.0.0.1:18080/index.html -H 'Connection: close' -- \
#       build/bench/mote-sample --bind 127.0.0.1 --port 18080 --tls-port off --defer-accept off
#
# Also, during the same run, when set in the environment:
#   PERF_STAT=EVENTS   perf stat -e EVENTS on the server (e.g. context-switches)
#   PERF_RECORD=FILE   perf record -g on the server into FILE (read it with perf report -i FILE)
#   SEGMENTS=1         TCP segments per request (nstat; loopback counts both directions)
set -eu

[ $# -ge 3 ] || { echo "usage: $0 URL [wrk options] -- SERVER COMMAND..." >&2; exit 2; }
url=$1
shift
wrk_opts=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  wrk_opts="$wrk_opts '$1'"
  shift
done
[ $# -ge 2 ] || { echo "$0: no server command after --" >&2; exit 2; }
shift

taskset -c 1 "$@" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

# the process and its descendants
tree() {
  printf '%s\n' "$1"
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$child"; done
}
cpu_ticks() {
  total=0
  for pid in $(tree "$server"); do
    t=$(awk '{print $14 + $15}' /proc/"$pid"/stat 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

# ready when the port answers (at most 5 s)
i=0
until curl -sk -o /dev/null "$url" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
profiler=""
if [ -n "${PERF_STAT:-}" ]; then
  perf stat -e "$PERF_STAT" -p "$server" -o /dev/stdout -- sleep 5 > "${TMPDIR:-/tmp}/perf-stat.$$" &
  profiler=$!
elif [ -n "${PERF_RECORD:-}" ]; then
  perf record -q -g -p "$server" -o "$PERF_RECORD" -- sleep 5 >/dev/null 2>&1 &
  profiler=$!
fi
[ -z "${SEGMENTS:-}" ] || nstat -n >/dev/null
t0=$(cpu_ticks)
out=$(eval taskset -c 0 wrk -t1 -c50 -d5 "$wrk_opts" "'$url'")
t1=$(cpu_ticks)
[ -z "$profiler" ] || wait "$profiler" || true
if [ -n "${SEGMENTS:-}" ]; then
  segments=$(nstat | awk '$1 == "TcpOutSegs" {print $2}')
fi
requests=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
ticks=$((t1 - t0))
[ "$ticks" -gt 0 ] || { echo "$0: the server used no CPU time" >&2; exit 1; }
hz=$(getconf CLK_TCK)
echo "requests $requests, server CPU $(awk "BEGIN {printf \"%.2f\", $ticks / $hz}") s," \
     "requests per server-CPU-second $(awk "BEGIN {printf \"%.0f\", $requests * $hz / $ticks}")"
[ -z "${SEGMENTS:-}" ] ||
  echo "TCP segments per request: $(awk "BEGIN {printf \"%.2f\", ${segments:-0} / $requests}")"
if [ -n "${PERF_STAT:-}" ]; then
  grep -v '^#' "${TMPDIR:-/tmp}/perf-stat.$$" | grep -v '^ *$' | grep -v 'seconds' || true
  rm -f "${TMPDIR:-/tmp}/perf-stat.$$"
fi
