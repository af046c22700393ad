#!/usr/bin/env bash
# Runs every benchmark and prints its figures (see docs/performance.md). Not a test: nothing
# here passes or fails on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/bench_*; do
    [ -x "$b" ] || continue
    "$b"
done
# gifd nodes on 127.0.0.1: propagation at 16 and 32 nodes, a 60 s partition (about 3-5 min)
bench/bench_network.sh
bench/bench_http.sh # exact lookups over HTTP with wrk: 1M md5 signals loaded, single GETs and POST batches (about 3 min)
