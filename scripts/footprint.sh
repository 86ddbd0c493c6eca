#!/bin/bash
# Measures mote's footprint and prints it as a Markdown table: flash (text + rodata + data) of
# the portable layers (the sans-I/O core, protocols and exchange, and the engine beside them) on a
# Cortex-M4 (arm-none-eabi-gcc -Os) and of the whole library on x86-64
# (gcc -Os), without and with TLS, and the RAM a connection takes (the core's connection state,
# measured on the emulated Cortex-M4; the shell's slot and block, from mote_server_memory()).
#   scripts/footprint.sh            print the table
#   scripts/footprint.sh --check    fail unless README.md carries exactly this table
#   scripts/footprint.sh --update   write it into README.md
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/footprint
mkdir -p "$out/arm" "$out/host"

# the portable layers and the POSIX shell, as CMakeLists.txt takes them
shopt -s nullglob
core=$(echo src/core/*.c src/engine/*.c src/proto/*.c)
static=$(echo src/static/*.c)
shell="$(printf '%s\n' src/shell/posix/*.c | grep -v '/loop_') src/shell/posix/loop_epoll.c"
tls=src/tls/tls_mbedtls.c
obj() { echo "$1/$(basename "$2" .c).o"; }
warn=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude -Isrc)

# flash of objects: text (which holds rodata) + data, from size(1)'s Berkeley columns
flash() {
  local tool=$1; shift
  "$tool" "$@" | awk 'NR > 1 { sum += $1 + $2 } END { print sum }'
}

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
bytes() { printf "%d B" "$1"; }

# -- Cortex-M4
arm=(-mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections "${warn[@]}")
# without the deployment switch (MOTE_CONFIG_PROXY: PROXY protocol, trusted proxies), which
# is measured on its own below
for c in $core; do
  arm-none-eabi-gcc "${arm[@]}" -DMOTE_CONFIG_PROXY=0 -c "$c" -o "$(obj "$out/arm" "$c")"
done
arm_flash=$(flash arm-none-eabi-size $(for c in $core; do obj "$out/arm" "$c"; done))
mkdir -p "$out/arm-proxy"
arm_proxy=$(for c in src/core/proxy.c src/core/addr.c src/engine/forwarded.c; do
  arm-none-eabi-gcc "${arm[@]}" -c "$c" -o "$(obj "$out/arm-proxy" "$c")"
  obj "$out/arm-proxy" "$c"; done)
arm_proxy=$(( $(flash arm-none-eabi-size $arm_proxy) - \
  $(flash arm-none-eabi-size "$out/arm/proxy.o" "$out/arm/addr.o" "$out/arm/forwarded.o") ))
# of it, the portable server (slots, timers, posts, logging) beside the sans-I/O layers
arm_engine=$(flash arm-none-eabi-size "$out/arm/engine.o")
# of it, WebSocket (the protocol, its handshake, SHA-1, UTF-8), which MOTE_CONFIG_WS=0 leaves out
arm_ws=$(flash arm-none-eabi-size "$out"/arm/ws*.o "$out/arm/sha1.o" "$out/arm/utf8.o")
# beside them, the embedded-files path of static content (mote_static_embedded(): negotiation,
# validators, ranges), which MOTE_CONFIG_STATIC=0 leaves out; the MIME table serves directories
for c in $static; do arm-none-eabi-gcc "${arm[@]}" -c "$c" -o "$(obj "$out/arm" "$c")"; done
arm_static=$(flash arm-none-eabi-size $(for c in static embedded range precond encoding; do
  echo "$out/arm/$c.o"; done))
arm-none-eabi-gcc "${arm[@]}" -c tests/arm/startup.c -o "$out/arm/startup.o"
arm-none-eabi-gcc "${arm[@]}" -Wno-error -c tests/arm/printf.c -o "$out/arm/printf.o"
arm-none-eabi-gcc "${arm[@]}" -c tests/arm/footprint.c -o "$out/arm/footprint.o"
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=rdimon.specs -nostartfiles \
  -T tests/arm/mps2-an386.ld -Wl,--gc-sections "$out"/arm/*.o -o "$out/arm/footprint.elf"
timeout 60 qemu-system-arm -M mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$out/arm/footprint.elf" >"$out/arm.txt"
arm_value() { awk -v k="$1" '$1 == k { print $2 }' "$out/arm.txt"; }

# -- x86-64
host=(-Os "${warn[@]}" -I/usr/include)
for c in $core $static $shell $tls; do gcc "${host[@]}" -c "$c" -o "$(obj "$out/host" "$c")"; done
host_plain=$(flash size $(for c in $core $static $shell; do obj "$out/host" "$c"; done))
host_tls=$(flash size "$(obj "$out/host" "$tls")")
mbedtls=$(flash size $(for l in mbedtls mbedx509 mbedcrypto; do
  readlink -f "$(gcc -print-file-name="lib$l.so")"; done))
cat >"$out/host/memory.c" <<'C'
#include <stdio.h>
#include <mbedtls/ssl.h>
#include "mote.h"
int main(void)
{
    mote_server *s;
    size_t idle, active;
    if (mote_server_create(&s, NULL) < 0) return 1;
    mote_server_memory(s, &idle, &active);
    printf("idle %zu\nactive %zu\nrecords %d\n", idle, active,
           MBEDTLS_SSL_IN_CONTENT_LEN + MBEDTLS_SSL_OUT_CONTENT_LEN);
    mote_server_destroy(s);
    return 0;
}
C
sources="$core $static $shell $tls"
# shellcheck disable=SC2086
gcc "${host[@]}" "$out/host/memory.c" $sources -o "$out/host/memory" -lmbedtls -lmbedx509 \
  -lmbedcrypto -lpthread
"$out/host/memory" >"$out/host.txt"
host_value() { awk -v k="$1" '$1 == k { print $2 }' "$out/host.txt"; }

table() {
  echo "| | Cortex-M4, portable layers (-Os) | Cortex-M4, + embedded files (-Os) | x86-64, library without TLS (-Os) | x86-64, with TLS |"
  echo "|---|---|---|---|---|"
  echo "| flash (text + rodata + data) | $(kib "$arm_flash") ($(kib $((arm_flash - arm_engine)))" \
       "sans-I/O, of which $(kib "$arm_ws") WebSocket, + $(kib "$arm_engine") engine;" \
       "PROXY protocol and trusted proxies, MOTE_CONFIG_PROXY: + $(kib "$arm_proxy")) |" \
       "+ $(kib "$arm_static") |" \
       "$(kib "$host_plain") |" \
       "$(kib $((host_plain + host_tls))) + mbedTLS $(kib "$mbedtls") |"
  echo "| RAM per idle connection | $(bytes "$(arm_value conn_state)") (connection state) | |" \
       "$(bytes "$(host_value idle)") (slot) | the same |"
  echo "| RAM more while a request is in flight, default limits |" \
       "$(bytes "$(arm_value block_default)") | | $(bytes "$(host_value active)") |" \
       "the same + mbedTLS's session (record buffers alone $(bytes "$(host_value records)")) |"
  echo "| the same, limits of a small device¹ | $(bytes "$(arm_value block_small)") | | | |"
  echo
  echo "¹ a 512-byte request line, 1 KiB of header fields, 16 fields, a 1 KiB send buffer, 256 bytes of response header fields."
}

begin="<!-- footprint: made by scripts/footprint.sh, do not edit -->"
end="<!-- footprint end -->"
# README.md's text between the markers, or with the table put there (python3 for exactness)
readme() {
  python3 - "$1" "$begin" "$end" "${2:-}" <<'PY'
import sys
mode, begin, end, table = sys.argv[1:5]
text = open("README.md").read()
i, j = text.index(begin + "\n") + len(begin) + 1, text.index(end)
if mode == "get":
    sys.stdout.write(text[i:j])
else:
    open("README.md", "w").write(text[:i] + open(table).read() + text[j:])
PY
}

case "${1:-}" in
  "") table ;;
  --check)
    if ! diff <(table) <(readme get); then
      echo "README.md's footprint table is stale: run scripts/footprint.sh --update" >&2
      exit 1
    fi
    echo "footprint: README.md's table matches the measurement" ;;
  --update)
    table >"$out/table.md"
    readme put "$out/table.md" ;;
  *) echo "usage: scripts/footprint.sh [--check|--update]" >&2; exit 2 ;;
esac
