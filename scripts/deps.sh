#!/bin/sh
# Installs the Debian packages mote needs and are missing; `run` for building and running the
# sample, `test` for the whole test suite. Uses sudo when not root.
set -eu

run_pkgs="cmake make gcc libc6-dev libmbedtls-dev zlib1g-dev libnghttp2-dev"
test_pkgs="$run_pkgs clang python3 python3-websockets curl wget apache2-utils valgrind libhttp-parser-dev libcjson-dev chromium slowhttptest testssl.sh sslscan gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm doxygen nghttp2-client python3-h2 python3-hpack python3-hyperframe libssl-dev haproxy wrk systemd liblwip-dev iproute2"

case "${1:-run}" in
  run) want=$run_pkgs ;;
  test) want=$test_pkgs ;;
  *) echo "usage: scripts/deps.sh [run|test]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/deps.sh: missing packages:$missing (and no apt-get to install them)" >&2
  exit 2
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "scripts/deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
