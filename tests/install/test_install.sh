#!/bin/bash
# Installs the build into a scratch prefix, builds examples/hello.c out of tree against it with
# pkg-config and with find_package(mote) (shared and static), and checks each program serves.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(realpath "$(dirname "$(find "$tmp/prefix" -name mote.pc)")/..")
[ -f "$tmp/prefix/include/mote.h" ] || { echo "mote.h not installed"; exit 1; }

# pkg-config, the shared library
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion mote)" = "$(sed -n 's/^#define MOTE_VERSION "\([^"]*\)".*/\1/p' "$src/include/mote.h")" ]
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$src/examples/hello.c" $(pkg-config --cflags --libs mote) -o "$tmp/hello_pc"

# find_package(mote), shared and static
cmake -S "$src/tests/install" -B "$tmp/user" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DHELLO_SOURCE="$src/examples/hello.c" >/dev/null
cmake --build "$tmp/user" >/dev/null

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

serves() {
  local program=$1 port body i
  port=$(free_port)
  LD_LIBRARY_PATH="$libdir" "$program" "$port" &
  pids+=($!)
  for i in $(seq 1 100); do
    if body=$(curl -s --max-time 2 "http://127.0.0.1:$port/"); then
      [ "$body" = "Hello, world!" ] || { echo "$program: got '$body'"; return 1; }
      echo "$program: serves"
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "$program: exited"; return 1; }
    sleep 0.05 # polling for the port to open, bounded: 100 tries
  done
  echo "$program: never answered"
  return 1
}

serves "$tmp/hello_pc"
serves "$tmp/user/hello_shared"
serves "$tmp/user/hello_static"
# (ldd's output in a variable first: grep -q closing the pipe early would fail it under pipefail)
shared_libs=$(ldd "$tmp/user/hello_shared") static_libs=$(ldd "$tmp/user/hello_static")
[[ $shared_libs == *"libmote.so.0 => $libdir/"* ]] || { echo "hello_shared: not linked to the installed libmote.so.0"; exit 1; }
[[ $static_libs != *libmote* ]] || { echo "hello_static: links libmote.so"; exit 1; }
echo "installed mote: pkg-config and find_package builds serve"
