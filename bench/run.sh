#!/usr/bin/env bash
# Runs every benchmark and prints its figures (see docs/performance.md). Not a test: nothing
# here passes or fails on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/bench_*; do
    [ -x "$b" ] || continue
    "$b"
done
