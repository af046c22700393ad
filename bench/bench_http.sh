#!/usr/bin/env bash
# Exact lookups over HTTP (issue 5; figures in docs/performance.md). Not a test: it prints
# figures and compares them with the goal, it never fails on them.
#
# One gifd (a platform node) on 127.0.0.1, loaded with BENCH_HTTP_N md5 signals (default
# 1,000,000) through `gifctl import` of a generated CSV (POST /v1/signals in batches of 1,000,
# signed and written by the node; [storage] sync = false while loading, then the node restarts
# with sync = true, the default, so the lookups run against the configuration a member runs).
# Then `wrk` with keep-alive drives, for BENCH_HTTP_SECS seconds each (default 10):
#   1. GET /v1/lookup, one key per request, every key stored (a match is answered);
#   2. GET /v1/lookup, one key per request, no key stored (the common case at upload);
#   3. POST /v1/lookup, batches of 100 keys, half of them stored;
#   4. POST /v1/lookup, batches of 1,000 keys, half of them stored.
# wrk runs 2 threads and BENCH_HTTP_CONNS connections (default 32); gifd answers every
# request on its one loop thread. Reported: requests/s, lookups/s and latency percentiles
# (wrk's), and gifd's CPU time per lookup (from /proc: steadier than requests/s when other
# work shares the machine). The machine's two cores are shared by wrk and gifd.
#
# Keys: key(i) = hex of four 32-bit words (i*2654435761, i*2246822519, i*3266489917 mod 2^32,
# then i), i < N stored, i >= N never stored; the CSV writer (Python) and wrk's Lua scripts
# compute them the same way, so no key list is shipped to wrk.
#
# Needs build/gifd, build/gifctl (make), wrk and python3. Listens on 127.0.0.1 only, on ports
# picked at random in 20000-31999 and checked free. The node and its temporary directory are
# removed on exit, also on failure or Ctrl-C (keep the directory with BENCH_HTTP_KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BENCH_HTTP_BUILD:-build}
GIFD=${BENCH_HTTP_GIFD:-$ROOT/$BUILD/gifd}  # BENCH_HTTP_GIFD: another gifd to compare
GIFCTL=$ROOT/$BUILD/gifctl
N=${BENCH_HTTP_N:-1000000}
SECS=${BENCH_HTTP_SECS:-10}
CONNS=${BENCH_HTTP_CONNS:-32}
for b in "$GIFD" "$GIFCTL"; do
    [ -x "$b" ] || { echo "bench_http: $b is missing (build first: make)" >&2; exit 1; }
done
for t in wrk python3 curl; do
    command -v "$t" >/dev/null || {
        echo "bench_http: $t is not installed (make bench installs wrk)" >&2
        exit 1
    }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gifnet-bench-http.XXXXXX")
GIFD_PID=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$GIFD_PID" ]; then kill -KILL "$GIFD_PID" 2>/dev/null || true; wait "$GIFD_PID" 2>/dev/null || true; fi
    if [ "${BENCH_HTTP_KEEP:-0}" = 1 ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
API_PORT=$(free_port)
PEER_PORT=$(free_port)
while [ "$PEER_PORT" = "$API_PORT" ]; do PEER_PORT=$(free_port); done
URL=http://127.0.0.1:$API_PORT

"$GIFCTL" consortium init --dir "$TMP/cons" --name bench >/dev/null
"$GIFCTL" node init --consortium "$TMP/cons" --dir "$TMP/p" --org Bench --role platform \
    --api "127.0.0.1:$API_PORT" --peer "127.0.0.1:$PEER_PORT" >/dev/null
INI=$TMP/p/gifd.ini
TOKEN=$(sed -n 's/^token *= *//p' "$INI")
sed -i 's/^log_level = .*/log_level = warn/' "$INI"

start_gifd() {
    "$GIFD" --config "$INI" >>"$TMP/gifd.log" 2>&1 &
    GIFD_PID=$!
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/v1/status")" = 200 ] && return 0
        kill -0 "$GIFD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench_http: gifd did not start:" >&2
    tail -n 20 "$TMP/gifd.log" >&2
    exit 1
}
stop_gifd() {
    kill -TERM "$GIFD_PID"
    wait "$GIFD_PID" || true
    GIFD_PID=""
}

# ---- Load N md5 signals.
python3 - "$N" >"$TMP/signals.csv" <<'PY'
import sys
n = int(sys.argv[1])
M = 1 << 32
out = sys.stdout
out.write("signal_type,signal,labels\n")
for i in range(n):
    out.write("md5,%08x%08x%08x%08x,glorification\n" % (i * 2654435761 % M, i * 2246822519 % M, i * 3266489917 % M, i))
PY
sed -i 's/^sync = .*/sync = false/' "$INI"
start_gifd
t0=$(date +%s.%N)
"$GIFCTL" --api "$URL" --token "$TOKEN" import "$TMP/signals.csv" >"$TMP/import.out" 2>&1 || {
    echo "bench_http: import failed:" >&2
    tail -n 5 "$TMP/import.out" >&2
    exit 1
}
t1=$(date +%s.%N)
stop_gifd
sed -i 's/^sync = .*/sync = true/' "$INI"
start_gifd
stored=$(curl -s "$URL/v1/status" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["by_kind"]["signal"])' 2>/dev/null || echo "?")

# ---- wrk scripts.
cat >"$TMP/keys.lua" <<'LUA'
local M = 4294967296
function key(i)
    return string.format("%08x%08x%08x%08x", (i * 2654435761) % M, (i * 2246822519) % M,
                         (i * 3266489917) % M, i)
end
N = tonumber(os.getenv("BENCH_N"))
POOL = 4096 -- requests prepared per thread before the run: Lua stays out of the way
reqs = {}
local next_req = 0
function request()
    next_req = next_req % #reqs + 1
    return reqs[next_req]
end
bad = 0
function response(status, headers, body)
    if status ~= 200 then bad = bad + 1 end
end
LUA
cat >"$TMP/single.lua" <<'LUA'
dofile(os.getenv("BENCH_LUA_DIR") .. "/keys.lua")
local miss = os.getenv("BENCH_MISS") == "1"
function init(args)
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
    for j = 1, POOL do
        local i = math.random(0, N - 1)
        if miss then i = i + N end
        reqs[j] = wrk.format("GET", "/v1/lookup?type=md5&value=" .. key(i))
    end
end
LUA
cat >"$TMP/batch.lua" <<'LUA'
dofile(os.getenv("BENCH_LUA_DIR") .. "/keys.lua")
local B = tonumber(os.getenv("BENCH_BATCH"))
function init(args)
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
    local pool = B >= 1000 and 64 or 512
    for j = 1, pool do
        local q = {}
        for k = 1, B do
            local i = math.random(0, N - 1)
            if k % 2 == 0 then i = i + N end
            q[k] = '{"type":"md5","value":"' .. key(i) .. '"}'
        end
        reqs[j] = wrk.format("POST", "/v1/lookup", {["Content-Type"] = "application/json"},
                             '{"queries":[' .. table.concat(q, ",") .. ']}')
    end
end
LUA
cat >"$TMP/report.lua" <<'LUA'
function done(summary, latency, requests)
    local s = summary.duration / 1e6
    io.write(string.format("RESULT %.0f %.3f %.3f %.3f %.3f %d %d\n", summary.requests / s,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        summary.errors.connect + summary.errors.read + summary.errors.write +
        summary.errors.timeout, summary.errors.status))
end
LUA
cat "$TMP/report.lua" >>"$TMP/single.lua"
cat "$TMP/report.lua" >>"$TMP/batch.lua"

# Checks once that a stored key is found and a missing one is not, before timing anything.
k0=$(python3 -c 'M=1<<32; i=7; print("%08x%08x%08x%08x" % (i*2654435761%M, i*2246822519%M, i*3266489917%M, i))')
hit=$(curl -s "$URL/v1/lookup?type=md5&value=$k0" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["matches"]))')
[ "$hit" = 1 ] || { echo "bench_http: stored key $k0 not found (got $hit matches)" >&2; exit 1; }

export BENCH_N=$N BENCH_LUA_DIR=$TMP
# gifd's CPU time in clock ticks (user + system), from /proc.
gifd_ticks() { awk '{print $14 + $15}' "/proc/$GIFD_PID/stat"; }
TICK=$(getconf CLK_TCK)
run() { # NAME LOOKUPS_PER_REQUEST SCRIPT [ENV...]
    local name=$1 per=$2 script=$3 line c0 c1 cpu
    shift 3
    c0=$(gifd_ticks)
    line=$(env "$@" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/$script" "$URL" | grep '^RESULT') || {
        echo "bench_http: wrk failed for $name" >&2
        return 0
    }
    c1=$(gifd_ticks)
    read -r _ rps p50 p90 p99 max errs bad <<<"$line"
    # gifd CPU per lookup: robust to other load on a shared machine, unlike requests/s.
    cpu=$(echo "($c1 - $c0) * 1000000 / $TICK / ($rps * $SECS * $per)" | bc -l)
    printf '  %-34s %7.0f req/s %8.0f lookups/s  gifd CPU %5.1f us/lookup  p50 %6.2f p90 %6.2f p99 %7.2f max %7.2f ms%s\n' \
        "$name" "$rps" "$(echo "$rps * $per" | bc -l)" "$cpu" "$p50" "$p90" "$p99" "$max" \
        "$([ "$errs$bad" = 00 ] || echo "  ($errs socket errors, $bad non-200)")"
    [ "$name" = "GET single, stored key" ] && SINGLE=$rps
    return 0
}
SINGLE=0
load_s=$(echo "$t1 - $t0" | bc -l)
printf 'bench_http: gifd on 127.0.0.1, %s md5 signals (%s stored; loaded by gifctl import in %.1f s, %.0f signals/s, sync off)\n' \
    "$N" "$stored" "$load_s" "$(echo "$N / $load_s" | bc -l)"
printf '  wrk -t2 -c%s -d%ss, keep-alive; gifd answers on its loop thread; 2 cores shared\n' "$CONNS" "$SECS"
run "GET single, stored key" 1 single.lua
run "GET single, key not stored" 1 single.lua BENCH_MISS=1
run "POST batch of 100 (half stored)" 100 batch.lua BENCH_BATCH=100
run "POST batch of 1000 (half stored)" 1000 batch.lua BENCH_BATCH=1000
printf '  goal: single lookups >= 50000/s on 2 cores: %s\n' \
    "$(echo "$SINGLE >= 50000" | bc -l | sed 's/1/met/;s/0/not met/')"
