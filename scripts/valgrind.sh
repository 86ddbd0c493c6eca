#!/bin/bash
# Runs every unit and in-process test program of a build under valgrind's memcheck: any error
# or leak fails. Usage: scripts/valgrind.sh BUILD_DIR. (The llhttp cases, a driver started once
# per case from Python, are left to the sanitizer build.)
set -euo pipefail
build=${1:?usage: scripts/valgrind.sh BUILD_DIR}
jobs=$(nproc 2>/dev/null || echo 2)
logs="$build/valgrind"
mkdir -p "$logs"

names=$(cd "$build" && ctest -N -L unit | sed -n 's/^ *Test *#[0-9]*: //p')
run_one() {
  local name=$1 build=$2 logs=$3
  [ -x "$build/tests/$name" ] || return 0
  # bounded: a test that hangs under valgrind's one-thread-at-a-time scheduling fails
  if timeout 600 valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible \
      "$build/tests/$name" >"$logs/$name.log" 2>&1; then
    echo "valgrind: $name: no errors, no leaks"
  else
    local rc=$?
    [ $rc -eq 124 ] && echo "valgrind: $name ran past 600 s"
    echo "valgrind: $name FAILED:"; tail -40 "$logs/$name.log"; return 1
  fi
}
export -f run_one
# shellcheck disable=SC2086
printf '%s\n' $names | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$build" "$logs"
