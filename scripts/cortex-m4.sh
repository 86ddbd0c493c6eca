#!/bin/bash
# Builds the sans-I/O core for a Cortex-M4 (arm-none-eabi-gcc, newlib, -mcpu=cortex-m4 -mthumb
# -Os) and runs its unit tests on QEMU's emulated mps2-an386 board with semihosting.
# Usage: scripts/cortex-m4.sh [BUILD_DIR]   (default build/cortex-m4)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/cortex-m4}
mkdir -p "$out"

# the portable layers, as CMakeLists.txt takes them
shopt -s nullglob
core=$(echo src/core/*.c src/engine/*.c src/proto/*.c src/static/*.c)
tests="test_parser test_body test_router test_response test_conn test_defer test_semantics test_uri test_proxy test_static_parsers test_fastpath test_small_device"
cflags=(-mcpu=cortex-m4 -mthumb -Os -std=c11 -D_POSIX_C_SOURCE=200809L -ffunction-sections
        -fdata-sections -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror -Iinclude -Isrc)

objects=()
for c in $core; do
  o="$out/$(basename "$c" .c).o"
  arm-none-eabi-gcc "${cflags[@]}" -c "$c" -o "$o"
  objects+=("$o")
done
arm-none-eabi-gcc "${cflags[@]}" -c tests/arm/startup.c -o "$out/startup.o"
# the tests' printf family (newlib here has no %zu); not -Werror'd into newlib's prototypes
arm-none-eabi-gcc "${cflags[@]}" -Wno-error -c tests/arm/printf.c -o "$out/printf.o"

failed=0
for t in $tests; do
  arm-none-eabi-gcc "${cflags[@]}" -Wno-error=format -Itests -c "tests/$t.c" -o "$out/$t.o"
  arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=rdimon.specs -nostartfiles \
    -T tests/arm/mps2-an386.ld -Wl,--gc-sections "$out/startup.o" "$out/printf.o" "$out/$t.o" \
    "${objects[@]}" -o "$out/$t.elf"
  if timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none \
       -semihosting-config enable=on,target=native -kernel "$out/$t.elf" >"$out/$t.log" 2>&1; then
    echo "cortex-m4: $(tail -1 "$out/$t.log")"
  else
    echo "cortex-m4: $t FAILED (status $?):"; tail -30 "$out/$t.log"; failed=1
  fi
done
exit $failed
