#!/bin/bash
# The whole test suite:
#   1. a clang build (warnings are errors) runs every test but the hostile-client ones;
#   2. valgrind's memcheck runs the unit and in-process tests of that build;
#   3. the hostile-client tests (slow attacks, 10,000 connections, TLS scans), once, unsanitized;
#   4. each fuzz harness briefly, and every saved regression input;
#   5. the core's unit tests on an emulated Cortex-M4, and the README's footprint table checked;
#   6. a clang build with ThreadSanitizer runs the tests of several event loops (workers), a
#      build without TLS (-DMOTE_TLS=none) its unit tests, and a build on OpenSSL
#      (-DMOTE_TLS=openssl) every integration test (epoll), the TLS scans and the faults
#      (OpenSSL's own allocations failing in turn);
#   7. a gcc build with AddressSanitizer + UndefinedBehaviorSanitizer runs every test but the
#      hostile ones, against both event-loop backends.
# The last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== clang build (optimised, no sanitizers), all tests but the hostile clients"
# DWARF 4: valgrind 3.19 cannot read clang 14's default DWARF 5
cmake -S . -B build/clang -DCMAKE_C_COMPILER=clang -DMOTE_WERROR=ON -DCMAKE_C_FLAGS=-gdwarf-4 >/dev/null
cmake --build build/clang -j "$jobs" >/dev/null
(cd build/clang && ctest --output-on-failure -j "$jobs" --timeout 120 -LE hostile)

echo "== valgrind memcheck: unit and in-process tests"
scripts/valgrind.sh build/clang

echo "== hostile clients"
(cd build/clang && ctest --output-on-failure --timeout 300 -L hostile)

echo "== fuzz smoke: every harness briefly, every regression input"
scripts/fuzz.sh smoke

echo "== Cortex-M4 (QEMU mps2-an386): the core's unit tests; the footprint table"
scripts/cortex-m4.sh
scripts/footprint.sh --check

echo "== clang build with ThreadSanitizer: the tests of several event loops"
cmake -S . -B build/tsan -DCMAKE_C_COMPILER=clang -DMOTE_WERROR=ON -DMOTE_TSAN=ON >/dev/null
cmake --build build/tsan -j "$jobs" --target mote-sample mote-sample-poll test_server >/dev/null
(cd build/tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j "$jobs" --timeout 180 -L workers)

echo "== a build without TLS (-DMOTE_TLS=none): its unit tests"
cmake -S . -B build/none -DMOTE_TLS=none -DMOTE_TESTS=ON -DMOTE_WERROR=ON >/dev/null
cmake --build build/none -j "$jobs" >/dev/null
(cd build/none && ctest --output-on-failure -j "$jobs" --timeout 120 -L unit)

echo "== the OpenSSL backend (-DMOTE_TLS=openssl): every integration test, TLS scans, faults"
cmake -S . -B build/openssl -DMOTE_TLS=openssl -DMOTE_WERROR=ON >/dev/null
cmake --build build/openssl -j "$jobs" --target mote-sample test_faults test_tls_tickets >/dev/null
(cd build/openssl && ctest --output-on-failure -j "$jobs" --timeout 300 \
  -R "^(test_faults|test_tls_tickets|test_[a-z0-9_]+_epoll|hostile_test_tls_scan_epoll)$")

echo "== gcc build with ASan + UBSan, all tests but the hostile clients, epoll and poll backends"
cmake -S . -B build/asan -DCMAKE_C_COMPILER=gcc -DMOTE_WERROR=ON -DMOTE_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs" >/dev/null
cd build/asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" --timeout 120 -LE hostile
