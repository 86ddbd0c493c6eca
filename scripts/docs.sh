#!/bin/bash
# Renders the API reference (include/mote.h) with Doxygen into OUTDIR/html (default build/docs)
# and fails, printing them, on any Doxygen warning: every public declaration is documented.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/docs}")
mkdir -p "$out"
rm -f "$out/warnings.txt"
{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; echo "WARN_LOGFILE = $out/warnings.txt"; } |
  doxygen -
if [ -s "$out/warnings.txt" ]; then
  echo "docs: Doxygen warnings:"; cat "$out/warnings.txt"; exit 1
fi
echo "docs: $out/html/index.html, no warnings"
