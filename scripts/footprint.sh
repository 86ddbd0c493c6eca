#!/bin/bash
# Measures mote's footprint and prints it as a Markdown table (README.md's "Footprint"):
#  - flash (text + rodata + data) on a Cortex-M4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os):
#    the HTTP/1.1 core as a device links it (tests/arm/hello.c, one route, linked with
#    -ffunction-sections -fdata-sections -Wl,--gc-sections against libmote.a built with every
#    switch off: the bytes of mote's objects in that link, from the linker's map, and apart the
#    C library routines they pull in, hello.c linked without mote being the baseline); beside
#    it, in columns of their own, the portable engine and what each feature adds (the objects
#    it adds, and what switching it on adds to the others, whole), the lwIP shell, and HTTP/2
#    where it builds (x86-64); the whole library on x86-64 (gcc -Os), without and with TLS;
#  - RAM: a connection's state and the blocks it borrows while a request is in flight, default
#    limits and a small device's (tests/arm/footprint.c on the emulated Cortex-M4; the POSIX
#    shell's slot and blocks from mote_server_memory()), and a WebSocket's state;
#  - instructions per request of hello.c on the emulated Cortex-M4 (QEMU's -icount, SysTick
#    calibrated by a loop of known length): the same on any host. (x86-64's count depends on
#    the host's CPU, through the C library's memchr and memcpy: `make bench` gives it.)
#   scripts/footprint.sh            print the table
#   scripts/footprint.sh --check    fail unless README.md carries exactly this table
#   scripts/footprint.sh --update   write it into README.md
# file lists are split into words on purpose; "-Wl,--gc-sections" is one argument
# shellcheck disable=SC2046,SC2054,SC2086
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/footprint
rm -rf "$out"
mkdir -p "$out/arm" "$out/host"

# the portable layers and the POSIX shell, as CMakeLists.txt takes them
shopt -s nullglob
portable=$(echo src/core/*.c src/engine/*.c src/proto/*.c)
static=$(echo src/static/*.c)
shell="$(printf '%s\n' src/shell/posix/*.c | grep -v '/loop_') src/shell/posix/loop_epoll.c"
tls=src/tls/tls_mbedtls.c
obj() { echo "$1/$(basename "$2" .c).o"; }
warn=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude -Isrc)

# flash of objects: text (which holds rodata) + data, from size(1)'s Berkeley columns
flash() {
  local tool=$1; shift
  "$tool" "$@" | awk 'NR > 1 { sum += $1 + $2 } END { print sum + 0 }'
}

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
bytes() { printf "%d B" "$1"; }

# -- Cortex-M4
arm=(-mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections "${warn[@]}")
armlink=(-mcpu=cortex-m4 -mthumb --specs=rdimon.specs -nostartfiles -T tests/arm/mps2-an386.ld
         -Wl,--gc-sections)
qemu() { # KERNEL [QEMU OPTIONS]
  local kernel=$1; shift
  timeout 120 qemu-system-arm -M mps2-an386 -nographic -monitor none "$@" \
    -semihosting-config enable=on,target=native -kernel "$kernel"
}
switches="WS STATIC PROXY BASIC_AUTH ACCESS_LINES"
# every switch off, but the one named (on)
flags_with() {
  local s
  for s in $switches; do
    if [ "$s" = "${1:-}" ]; then echo "-DMOTE_CONFIG_$s=1"; else echo "-DMOTE_CONFIG_$s=0"; fi
  done
}
jobs=$(nproc 2>/dev/null || echo 2)
# compile_each DIR COMPILER [FLAGS...] -- FILE...: each file into DIR/FILE.o, $jobs at once
compile_each() {
  local dir=$1; shift
  local cmd=()
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  shift
  # shellcheck disable=SC2016 # expanded by the sh that xargs starts
  printf '%s\n' "$@" | DIR=$dir xargs -P "$jobs" -I{} \
    sh -c 'exec "$@" -c "$0" -o "$DIR/$(basename "$0" .c).o"' {} "${cmd[@]}"
}
# compiles files into a directory with every switch off but $2
arm_build() {
  local dir=$out/arm/$1 feature=$2; shift 2
  mkdir -p "$dir"
  compile_each "$dir" arm-none-eabi-gcc "${arm[@]}" $(flags_with "$feature") -- "$@"
}
arm_build off "" $portable $static
arm_flash_of() { # flash of the named sources' objects in a build directory
  local dir=$out/arm/$1 c; shift
  flash arm-none-eabi-size $(for c in "$@"; do obj "$dir" "$c"; done)
}
# what switching a feature on adds to the files that mention it, and the files it brings
feature() {
  local name=$1 touched=$2 own=$3
  arm_build "$name" "$name" $touched
  echo $(( $(arm_flash_of "$name" $touched) - $(arm_flash_of off $touched) + \
           $(if [ -n "$own" ]; then arm_flash_of off $own; else echo 0; fi) ))
}
mentions() { grep -lw "MOTE_CONFIG_$1" $portable $static; }
# WebSocket: its protocol and handshake, and SHA-1, UTF-8 and base64, which only it and Basic
# authentication use; Basic authentication: auth.c and the router's part, and base64
arm_ws=$(feature WS "$(mentions WS)" "src/core/sha1.c src/core/utf8.c src/core/base64.c")
arm_auth=$(feature BASIC_AUTH "$(mentions BASIC_AUTH)" "src/core/base64.c")
arm_access=$(feature ACCESS_LINES "$(mentions ACCESS_LINES)" "")
arm_proxy=$(feature PROXY "$(mentions PROXY)" "")
# embedded files (mote_static_embedded(): negotiation, validators, ranges); the MIME table
# serves the POSIX shell's directories
arm_static=$(feature STATIC "$(mentions STATIC)" "src/static/range.c src/static/precond.c
  src/static/encoding.c")
# the portable server (slots, timers, posts, logging, the Date line, peers' addresses) beside
# the sans-I/O layers
arm_engine=$(arm_flash_of off src/engine/engine.c src/core/timer.c src/core/httpdate.c \
  src/core/addr.c src/engine/forwarded.c src/core/errors.c)

# the HTTP/1.1 core as a device links it: hello.c against libmote.a, and hello.c without mote
arm-none-eabi-gcc "${arm[@]}" -c tests/arm/startup.c -o "$out/arm/startup.o"
arm-none-eabi-gcc "${arm[@]}" -Wno-error -c tests/arm/printf.c -o "$out/arm/printf.o"
arm-none-eabi-ar rcs "$out/arm/libmote.a" $(for c in $portable; do obj "$out/arm/off" "$c"; done)
for app in hello bare count; do
  case $app in
    hello) def=() ;; bare) def=(-DHELLO_WITHOUT_MOTE) ;; count) def=(-DHELLO_COUNT=1000) ;;
  esac
  arm-none-eabi-gcc "${arm[@]}" $(flags_with) "${def[@]}" -c tests/arm/hello.c -o "$out/arm/$app.o"
  arm-none-eabi-gcc "${armlink[@]}" "$out/arm/startup.o" "$out/arm/printf.o" "$out/arm/$app.o" \
    "$out/arm/libmote.a" -Wl,-Map,"$out/arm/$app.map" -o "$out/arm/$app.elf"
done
qemu "$out/arm/hello.elf" >"$out/arm/hello.txt"
grep -q "^hello$" "$out/arm/hello.txt" || { echo "footprint: hello.elf did not answer" >&2; exit 1; }
# flash of every input of a link, by file (mote's objects by their source's name), from its map
map_flash() {
  python3 - "$1" <<'PY'
import collections, re, sys
text = open(sys.argv[1]).read()
text = text[text.index("Linker script and memory map"):]
sizes, name = collections.Counter(), None
for line in text.splitlines():
    m = re.match(r"^ (\.(?:text|rodata|data)\S*)\s*$", line)
    if m:
        name = m.group(1)
        continue
    m = re.match(r"^ (\.(?:text|rodata|data)\S*)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", line)
    if m and (m.group(1) or name):
        f = m.group(3)
        lib = re.match(r".*/lib(\w+)\.a\((.*)\)$", f)
        if lib and lib.group(1) == "mote":
            f = "mote " + lib.group(2)[:-2] + ".c"
        elif lib:
            f = "lib " + lib.group(2)
        else:
            f = "app " + f.split("/")[-1]
        sizes[f] += int(m.group(2), 16)
    name = None
for f, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
    print(n, f)
PY
}
map_flash "$out/arm/hello.map" >"$out/arm/hello.flash"
map_flash "$out/arm/bare.map" >"$out/arm/bare.flash"
arm_core=$(awk '$2 == "mote" { s += $1 } END { print s }' "$out/arm/hello.flash")
# the C library's routines (newlib's string functions, libgcc's 64-bit division) the core adds
arm_libc=$(( $(awk '$2 == "lib" { s += $1 } END { print s }' "$out/arm/hello.flash") - \
             $(awk '$2 == "lib" { s += $1 } END { print s }' "$out/arm/bare.flash") ))
core_files=$(awk '$2 == "mote" && $1 > 0 { printf "%s%s %d", sep, $3, $1; sep = ", " }' \
  "$out/arm/hello.flash")
# instructions per request: virtual time under -icount shift=0 is 1 ns per instruction, and
# SysTick's ticks over a loop of 2,000,000 instructions give instructions per tick
qemu "$out/arm/count.elf" -icount shift=0 >"$out/arm/count.txt"
arm_instructions=$(awk '$1 == "calibration_ticks" { c = $2 } $1 == "request_ticks" { r = $2 }
  $1 == "requests" { n = $2 } END { printf "%d", r * 2000000 / c / n + 0.5 }' "$out/arm/count.txt")

# the lwIP shell (src/shell/lwip/), for arm-none-eabi with the lwIP headers of the Debian
# package and the port's options in tests/arm/lwip/
arm_lwip=—
lwip_sources=$(echo src/shell/lwip/*.c)
if [ -n "$lwip_sources" ]; then
  mkdir -p "$out/arm/lwip"
  if (for c in $lwip_sources; do
        arm-none-eabi-gcc "${arm[@]}" $(flags_with) -Itests/arm/lwip -I/usr/include/lwip \
          -c "$c" -o "$(obj "$out/arm/lwip" "$c")" || exit 1
      done) 2>"$out/arm/lwip.log"; then
    arm_lwip="+ $(kib "$(flash arm-none-eabi-size "$out"/arm/lwip/*.o)")"
  else
    echo "footprint: warning: the lwIP shell does not build for the Cortex-M4" \
         "(see $out/arm/lwip.log); its column shows —" >&2
  fi
else
  echo "footprint: warning: no lwIP shell (src/shell/lwip/*.c); its column shows —" >&2
fi

# RAM: a connection's state and blocks, a WebSocket's state (every switch as by default)
arm-none-eabi-gcc "${arm[@]}" -c tests/arm/footprint.c -o "$out/arm/footprint.o"
compile_each "$out/arm" arm-none-eabi-gcc "${arm[@]}" -- $portable
arm-none-eabi-gcc "${armlink[@]}" "$out/arm/startup.o" "$out/arm/printf.o" \
  "$out/arm/footprint.o" $(for c in $portable; do obj "$out/arm" "$c"; done) \
  -o "$out/arm/footprint.elf"
qemu "$out/arm/footprint.elf" >"$out/arm.txt"
arm_value() { awk -v k="$1" '$1 == k { print $2 }' "$out/arm.txt"; }

# -- x86-64
host=(-Os "${warn[@]}" -I/usr/include)
compile_each "$out/host" gcc "${host[@]}" -- $portable $static $shell $tls
host_plain=$(flash size $(for c in $portable $static $shell; do obj "$out/host" "$c"; done))
host_tls=$(flash size "$(obj "$out/host" "$tls")")
mbedtls=$(flash size $(for l in mbedtls mbedx509 mbedcrypto; do
  readlink -f "$(gcc -print-file-name="lib$l.so")"; done))
# HTTP/2 where it builds (nghttp2 has no Cortex-M4 build): what MOTE_CONFIG_HTTP2 adds to the
# files that mention it (h2.c, and the upgrade in h1.c...), and the library
h2=—
h2_files=$(grep -lw MOTE_CONFIG_HTTP2 $portable)
mkdir -p "$out/host/h2"
if [ -f /usr/include/nghttp2/nghttp2.h ] && (for c in $h2_files; do
     gcc "${host[@]}" -DMOTE_CONFIG_HTTP2=1 -c "$c" -o "$(obj "$out/host/h2" "$c")" || exit 1
   done) 2>/dev/null; then
  nghttp2=$(flash size "$(readlink -f "$(gcc -print-file-name=libnghttp2.so)")")
  h2=$(( $(flash size $(for c in $h2_files; do obj "$out/host/h2" "$c"; done)) - \
         $(flash size $(for c in $h2_files; do obj "$out/host" "$c"; done)) ))
  h2="x86-64: + $(kib "$h2") + nghttp2 $(kib "$nghttp2")"
fi
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
sources="$portable $static $shell $tls"
gcc "${host[@]}" "$out/host/memory.c" $sources -o "$out/host/memory" -lmbedtls -lmbedx509 \
  -lmbedcrypto -lpthread
"$out/host/memory" >"$out/host.txt"
host_value() { awk -v k="$1" '$1 == k { print $2 }' "$out/host.txt"; }
table() {
  echo "| | HTTP/1.1 core¹ | + portable engine | + WebSocket | + embedded files | + lwIP shell | + PROXY protocol | + Basic auth | + access log | + HTTP/2 | x86-64, library without TLS (-Os) | x86-64, with TLS |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  echo "| flash (text + rodata + data), Cortex-M4 -Os | $(kib "$arm_core") ($arm_core B;" \
       "+ $(kib "$arm_libc") of newlib and libgcc) | + $(kib "$arm_engine") |" \
       "+ $(kib "$arm_ws") | + $(kib "$arm_static") | $arm_lwip | + $(kib "$arm_proxy") |" \
       "+ $(kib "$arm_auth") | + $(kib "$arm_access") | $h2 | $(kib "$host_plain") |" \
       "$(kib $((host_plain + host_tls))) + mbedTLS $(kib "$mbedtls") |"
  echo "| RAM per idle connection | $(bytes "$(arm_value conn_state)") (connection state) | |" \
       "$(bytes "$(arm_value ws_state)") (connection and socket state) | | | | | | |" \
       "$(bytes "$(host_value idle)") (slot) | the same |"
  echo "| RAM more while a request is in flight, default limits |" \
       "$(bytes "$(arm_value block_default)") | | | | | | | | | $(bytes "$(host_value active)") |" \
       "the same + mbedTLS's session (record buffers alone $(bytes "$(host_value records)")) |"
  echo "| the same, limits of a small device² | $(bytes "$(arm_value block_small)")" \
       "($(bytes "$(arm_value block_small_4k)") with the default body read room) | | | | | | | | | | |"
  echo "| instructions per request³ | $arm_instructions | | | | | | | | | | |"
  echo
  echo "¹ what a device links of mote to serve one route (\`tests/arm/hello.c\`), every switch off;" \
       "by file: $core_files."
  echo "² a 512-byte request line, 1 KiB of header fields, 16 fields, a 1 KiB send buffer, 256 bytes" \
       "of response header fields, a body read room of $(bytes "$(arm_value small_read_room)"):" \
       "an input buffer of $(arm_value small_in), the send buffer, $(arm_value conn_block_rest) of" \
       "block header and output queue, and an exchange block of $(arm_value exchange_block): the" \
       "exchange $(arm_value exchange_struct), 16 field spans $(arm_value exchange_spans)," \
       "$(arm_value exchange_rest) for the decoded path and the response's fields (and the pools'" \
       "bookkeeping and alignment)."
  echo "³ \`tests/arm/hello.c\`'s GET answered \"hello\", with the small device's limits."
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
