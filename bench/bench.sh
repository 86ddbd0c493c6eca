#!/bin/sh
# What `make bench` runs: installs the bench-only Debian packages that are missing, builds
# mote-sample (Release), the parser micro-benchmark, the floors and ws_load, installs the npm ws
# package of the WebSocket peer (bench/ws_peer), then runs bench/run.py, which measures mote,
# h2o and nginx (and, over WebSocket, mote and ws) and writes bench/RESULTS.md. Options go to
# run.py (`make bench BENCH_ARGS="--rounds 1 --duration 2"` for a smoke run; `--strace
# keepalive` for system calls per request instead; `--ws-only` for the WebSocket part alone,
# `--only static` for the static-file part alone, `--only tls` for TLS handshakes and TLS 1.3
# keep-alive (mote on mbedTLS and on OpenSSL), each printed, RESULTS.md left as it is;
# `--no-static` skips the static files). About 18 minutes with the defaults.
set -eu
cd "$(dirname "$0")/.."

pkgs="cmake make gcc libc6-dev libmbedtls-dev python3 openssl util-linux procps wrk nginx h2o
libhttp-parser-dev libh2o-dev strace valgrind nghttp2-client libnghttp2-dev libssl-dev"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "bench/bench.sh: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$(nproc)" -lt 2 ]; then
  echo "bench/bench.sh: needs 2 CPUs (servers on CPU 1, the load generator on CPU 0)" >&2
  exit 2
fi

jobs=$(nproc)
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DMOTE_TESTS=OFF >/dev/null
cmake --build build/bench -j "$jobs" --target mote-sample >/dev/null
# and on OpenSSL, for the TLS section (beside mote on mbedTLS)
cmake -S . -B build/bench-openssl -DCMAKE_BUILD_TYPE=Release -DMOTE_TESTS=OFF \
  -DMOTE_TLS=openssl >/dev/null
cmake --build build/bench-openssl -j "$jobs" --target mote-sample >/dev/null
cmake -S bench -B build/bench-parser -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench-parser -j "$jobs" >/dev/null

# the WebSocket peer: the npm ws package (bench/ws_peer/package.json, package-lock.json) when
# node and npm are here; without it the report's ws rows say "not available"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  (cd bench/ws_peer && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "bench/bench.sh: npm install in bench/ws_peer failed: the ws peer is not available" >&2
else
  echo "bench/bench.sh: no node or npm: the ws peer is not available" >&2
fi

exec python3 bench/run.py --mote build/bench/mote-sample \
  --mote-openssl build/bench-openssl/mote-sample \
  --parser-bench build/bench-parser/parser_bench --floor build/bench-parser/floor \
  --floor build/bench-parser/floor_uring --ws-load build/bench-parser/ws_load \
  --out bench/RESULTS.md "$@"
