#!/bin/bash
# The whole test suite: a clang build (warnings are errors) runs every test, then a gcc
# build with AddressSanitizer + UndefinedBehaviorSanitizer runs every test against both
# event-loop backends. The last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== clang build (optimised, no sanitizers), all tests"
cmake -S . -B build/clang -DCMAKE_C_COMPILER=clang -DMOTE_WERROR=ON >/dev/null
cmake --build build/clang -j "$jobs" >/dev/null
(cd build/clang && ctest --output-on-failure -j "$jobs" --timeout 120)

echo "== gcc build with ASan + UBSan, all tests, epoll and poll backends"
cmake -S . -B build/asan -DCMAKE_C_COMPILER=gcc -DMOTE_WERROR=ON -DMOTE_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs" >/dev/null
cd build/asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" --timeout 120
