#!/usr/bin/env bash
# Runs every benchmark and prints its figures (see docs/performance.md). Not a test: nothing
# here passes or fails on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
# bench_pdq_index writes its data sets here for the FAISS comparison below.
export GIF_BENCH_DUMP=build/bench-pdq-data
mkdir -p "$GIF_BENCH_DUMP"
for b in build/bench_*; do
    [ -x "$b" ] || continue
    [ "$b" = build/bench_fill ] && continue # a tool of bench_startup.sh below, not a benchmark
    "$b"
done
# FAISS from Debian on the same PDQ data (only when libfaiss-dev is installed: make bench
# installs it; the project itself does not use it). Debian ships a static libfaiss.a that
# needs OpenMP and BLAS/LAPACK.
if dpkg-query -W -f='${Status}' libfaiss-dev 2>/dev/null | grep -q 'install ok installed' &&
    ls "$GIF_BENCH_DUMP"/*.bin >/dev/null 2>&1; then
    g++ -O2 -std=c++17 -fopenmp -o build/faiss_bench bench/faiss_bench.cpp -lfaiss -lblas -llapack
    build/faiss_bench "$GIF_BENCH_DUMP"/*.bin || echo "faiss_bench failed (figures above are still valid)"
else
    echo "faiss: libfaiss-dev not installed (scripts/deps.sh bench installs it); comparison skipped"
fi
rm -rf "$GIF_BENCH_DUMP"
# gifd nodes on 127.0.0.1: propagation at 16 and 32 nodes, a 60 s partition (about 3-5 min)
bench/bench_network.sh
bench/bench_http.sh # exact lookups over HTTP with wrk: 1M md5 signals loaded, single GETs and POST batches (about 3 min)
# gifd's start-up with 10M pdq hashes in its store: fill (about 5 min), then 3 starts (6-7 GB in
# $TMPDIR while it runs)
bench/bench_startup.sh
