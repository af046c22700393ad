#!/usr/bin/env bash
# What the webhook's blocking-signal decisions cost on gifd's loop thread (figures in
# docs/performance.md, "Webhook"). Not a test: it prints figures, it never fails on them.
#
# Two nodes on 127.0.0.1 (an agency, a platform), each delivering to its own webhook_sink over
# http, [storage] sync = false (commits are not what is measured). gifd times its own work
# (GET /v1/webhook "blocking", docs/api.md): per accepted signal, the check (a read snapshot,
# the set of signals already delivered, the policy's reads and verdict) and, for one that
# blocks, building its delivery; per incident change, the walk that re-decides the signals
# filed under the incident.
#   1. the platform publishes N md5 signals (default 10,000; review here: checked, not queued);
#   2. the platform files M signals (default 5,000) under one incident; the agency confirms it
#      at situational_awareness (below the level that blocks: all M re-decided, none turns
#      block), then escalates it to content_incident (all M turn block and are queued).
#      Per change: what gifd counts (signals re-decided, turned block, its time on the loop in
#      all and its longest stretch, "recheck_max_ms", when the node shows it), and, from
#      outside, the slowest of the GET /v1/status requests that a client sends back to back
#      from the escalation until the re-decision is done (a stall of the loop shows there);
#   3. the agency publishes N md5 signals (block here by role: checked and queued).
#
# usage: bench/bench_webhook.sh [BUILD_DIR]   (default build; needs gifd, gifctl, webhook_sink)
# Environment: BENCH_WH_N, BENCH_WH_M.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export GIFD=$PWD/$BUILD/gifd GIFCTL=$PWD/$BUILD/gifctl GIF_SOURCE_DIR=$PWD
SINK=$PWD/$BUILD/webhook_sink
N=${BENCH_WH_N:-10000}
M=${BENCH_WH_M:-5000}
for b in "$GIFD" "$GIFCTL" "$SINK"; do
    [ -x "$b" ] || { echo "bench_webhook: $b is missing (build it first)" >&2; exit 1; }
done
# The integration tests' helpers: consortium, nodes, ports, clean-up of every process and of
# the temporary directory on exit.
source tests/integration/lib.sh

SECRET=whsec-bench-0123456789
make_consortium
make_node a agency CTU
make_node p platform "Platform A"
sync_members
A=$TMP/a P=$TMP/p
for d in a p; do
    "$SINK" --secret "$SECRET" --out /dev/null --port-file "$TMP/$d.sinkport" 2>"$TMP/$d.sink.log" &
    BG_PIDS+=("$!")
    wait_for 5 test -s "$TMP/$d.sinkport" || { echo "bench_webhook: webhook_sink does not start" >&2; exit 1; }
    ini_set "$TMP/$d" webhook url "http://127.0.0.1:$(cat "$TMP/$d.sinkport")/bench"
    ini_set "$TMP/$d" webhook secret "$SECRET"
    ini_set "$TMP/$d" webhook queue_max 100000
    ini_set "$TMP/$d" storage sync false
done
start_node "$A" >/dev/null || exit 1
start_node "$P" >/dev/null || exit 1

# publish COUNT [INCIDENT]: COUNT md5 signals from the node in use, 1,000 per request.
publish() {
    local left=$1 inc=${2:-} k
    while [ "$left" -gt 0 ]; do
        k=$((left < 1000 ? left : 1000))
        head -c $((16 * k)) /dev/urandom | od -An -v -tx1 | tr -d ' \n' | fold -w32 |
            jq -R -s -c --arg inc "$inc" \
                '{signals: [split("\n")[] | select(length == 32) | {type: "md5", value: ., incident: $inc}]}' \
                >"$TMP/batch.json"
        req POST "$U/v1/signals" "@$TMP/batch.json" -H "Authorization: Bearer $TOK"
        [ "$CODE" = 201 ] || { echo "bench_webhook: publish answered $CODE: $BODY" >&2; exit 1; }
        left=$((left - k))
    done
}

blocking() { curl -s --max-time 5 "$U/v1/webhook" | jq -c .blocking; }

echo "# bench_webhook: N=$N signals per node, M=$M under one incident; $(nproc) cores"
use_node "$P"
publish "$N"
B=$(blocking)
echo "platform, $N own signals (review: checked, not delivered): $(jq -r '"\(.checks) checks, mean \(.check_mean_us * 100 | round / 100) us, max \(.check_max_us | round) us"' <<<"$B")"

use_node "$P"
publish "$M" bench-incident
# probe_start / probe_stop: GET /v1/status on the platform, back to back (20 per curl, one
# connection), until stopped; probe_stop sets PROBE to the count and the slowest answer in ms.
probe_start() {
    local url
    url=$(node_url "$P")/v1/status
    rm -f "$TMP/probe.stop"
    (while [ ! -e "$TMP/probe.stop" ]; do
        curl -s -o /dev/null -w '%{time_total}\n' $(for _ in $(seq 20); do printf '%s ' "$url"; done)
    done >"$TMP/probe.txt") &
    PROBE_PID=$!
    BG_PIDS+=("$PROBE_PID")
    sleep 0.3
}
probe_stop() {
    touch "$TMP/probe.stop"
    wait "$PROBE_PID"
    PROBE=$(sort -g "$TMP/probe.txt" | awk '{ n++; m = $1 } END { printf "%d requests, slowest %.1f ms", n, m * 1000 }')
}
# escalate LEVEL K: the agency escalates the incident; waits until the platform has counted K
# incident changes and has none pending.
escalate() {
    use_node "$A"
    post /v1/incidents "{\"incident\":\"bench-incident\",\"action\":\"escalate\",\"level\":\"$1\"}"
    [ "$CODE" = 201 ] || { echo "bench_webhook: escalate answered $CODE: $BODY" >&2; exit 1; }
    probe_start
    copy_records "$A" "$P" # the agency's feed so far: memberships and incident records
    use_node "$P"
    wait_for 60 sh -c "curl -s '$U/v1/webhook' | jq -e '.blocking | .incident_changes >= $2 and (.pending // 0) == 0' >/dev/null"
    probe_stop
}
# walk BEFORE AFTER: the figures of the walks between two GET /v1/webhook "blocking" objects.
walk() {
    jq -r -n --argjson a "$1" --argjson b "$2" '($b.rechecked - $a.rechecked) as $n
        | ($b.recheck_ms - $a.recheck_ms) as $ms
        | "\($n) re-decided, \($b.turned_blocking - $a.turned_blocking) turned block and queued, \($ms * 10 | round / 10) ms on the loop (\($ms * 1000 / ([$n, 1] | max) * 100 | round / 100) us per signal), cut \($b.cut - $a.cut)\(if $b.recheck_max_ms then ", longest stretch \($b.recheck_max_ms * 100 | round / 100) ms" else "" end)"'
}
B0=$(blocking)
escalate situational_awareness 1 # confirmed, below block_incident_level: nothing turns block
B1=$(blocking)
echo "platform, incident with $M signals confirmed at a level that blocks nothing: $(walk "$B0" "$B1"); API meanwhile: $PROBE"
escalate content_incident 2 # every one turns block (rule incident)
B2=$(blocking)
echo "platform, the same incident escalated to content_incident: $(walk "$B1" "$B2"); API meanwhile: $PROBE"

use_node "$A"
publish "$N"
B=$(blocking)
echo "agency, $N own signals (block: checked and queued): $(jq -r '"\(.checks) checks, mean \(.check_mean_us * 100 | round / 100) us, max \(.check_max_us | round) us"' <<<"$B")"

exit 0
