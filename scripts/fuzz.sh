#!/bin/bash
# The libFuzzer harnesses in fuzz/ (clang, ASan + UBSan), built in build/fuzz.
#
#   scripts/fuzz.sh smoke          build; run each harness ~5 s on a scratch copy of its seed
#                                  corpus, then every input in fuzz/regressions/<harness>/
#                                  (as many harnesses at once as there are CPUs)
#   scripts/fuzz.sh run SECONDS    build; run each harness SECONDS, one at a time, growing its
#                                  corpus in build/fuzz/corpus-<harness> (seeded from fuzz/corpus)
#
# Findings land in build/fuzz/findings/. Exit status is non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

HARNESSES="fuzz_parser fuzz_body fuzz_conn fuzz_uri fuzz_proxy fuzz_tls fuzz_ws fuzz_static"
# fuzz_h2 where the build has HTTP/2 (nghttp2 found)
[ -f /usr/include/nghttp2/nghttp2.h ] && HARNESSES="$HARNESSES fuzz_h2"
# fuzz_tls once more on the OpenSSL backend where OpenSSL 3 is installed
[ -f /usr/include/openssl/ssl.h ] && HARNESSES="$HARNESSES fuzz_tls_openssl"
BUILD=build/fuzz
BIN=$BUILD/fuzz
FINDINGS=$BUILD/findings
JOBS=$(nproc 2>/dev/null || echo 2)
# A smaller quarantine keeps several harnesses' memory modest on a shared machine.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

usage() {
    echo "usage: scripts/fuzz.sh smoke | run SECONDS" >&2
    exit 2
}

build() {
    cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DMOTE_FUZZ=ON -DMOTE_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
    cmake --build "$BUILD" -j "$JOBS" --target fuzz_all >/dev/null || exit 1
    mkdir -p "$FINDINGS"
}

# The libFuzzer options every run shares: the dictionary where one applies, findings in one
# place, a per-input timeout so that a hang is a finding too.
options() {
    local h=$1
    printf '%s\n' -artifact_prefix="$FINDINGS/$h-" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
    case $h in
    fuzz_tls | fuzz_tls_openssl) ;;
    fuzz_ws) printf '%s\n' -dict=fuzz/ws.dict ;;
    fuzz_static) printf '%s\n' -dict=fuzz/static.dict ;;
    *) printf '%s\n' -dict=fuzz/http.dict ;;
    esac
}

# A harness's seed corpus (fuzz_ws keeps its seeds in fuzz/corpus/ws).
seeds() {
    case $1 in
    fuzz_ws) echo fuzz/corpus/ws ;;
    fuzz_tls_openssl) echo fuzz/corpus/fuzz_tls ;;
    *) echo "fuzz/corpus/$1" ;;
    esac
}

fuzz_for() {
    local h=$1 seconds=$2 corpus=$3
    shift 3
    echo "== $h: ${seconds}s"
    mapfile -t opts < <(options "$h")
    "$BIN/$h" "${opts[@]}" -max_total_time="$seconds" "$corpus" "$@" 2>"$FINDINGS/$h.log"
    local rc=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$FINDINGS/$h.log"
    if [ $rc -ne 0 ]; then
        grep -E 'invariant failed|ERROR:|SUMMARY:|Test unit written' "$FINDINGS/$h.log" | head -5
        echo "$h: FAILED (log: $FINDINGS/$h.log)"
    fi
    return $rc
}

regressions() {
    local h=$1 files
    [ -d "fuzz/regressions/$h" ] || return 0
    mapfile -t files < <(find "fuzz/regressions/$h" -type f ! -name .keep | sort)
    [ ${#files[@]} -eq 0 ] && return 0
    echo "== $h: ${#files[@]} regression input(s)"
    if ! "$BIN/$h" -runs=1 "${files[@]}" >"$FINDINGS/$h-regressions.log" 2>&1; then
        grep -E 'Running:|invariant failed|ERROR:|SUMMARY:' "$FINDINGS/$h-regressions.log" | tail -5
        echo "$h: regression FAILED (log: $FINDINGS/$h-regressions.log)"
        return 1
    fi
}

# One harness's smoke: ~5 s on a scratch copy of its seeds, then its regression inputs; a
# file DIR/HARNESS.failed when either failed.
smoke_one() {
    local h=$1 dir=$2 scratch rc=0
    scratch=$(mktemp -d)
    cp "$(seeds "$h")"/* "$scratch"/ 2>/dev/null
    fuzz_for "$h" 5 "$scratch" || rc=1
    rm -rf "$scratch"
    regressions "$h" || rc=1
    [ $rc -eq 0 ] || touch "$dir/$h.failed"
}

# Every harness's smoke, JOBS at a time (each fuzzer is one process on one CPU), their
# reports printed in order.
smoke() {
    local h failed=0 dir
    build
    dir=$(mktemp -d)
    for h in $HARNESSES; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
        smoke_one "$h" "$dir" >"$dir/$h.out" 2>&1 &
    done
    wait
    for h in $HARNESSES; do
        cat "$dir/$h.out"
        [ -e "$dir/$h.failed" ] && failed=1
    done
    rm -rf "$dir"
    [ $failed -eq 0 ] && echo "fuzz smoke: all harnesses clean"
    return $failed
}

run() {
    local seconds=$1 h failed=0
    build
    for h in $HARNESSES; do
        mkdir -p "$BUILD/corpus-$h"
        # new inputs go to the first directory; the seed corpus is read but never written
        fuzz_for "$h" "$seconds" "$BUILD/corpus-$h" "$(seeds "$h")" || failed=1
    done
    return $failed
}

case "${1:-}" in
smoke) smoke ;;
run)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    run "$2"
    ;;
*) usage ;;
esac
