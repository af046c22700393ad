#!/usr/bin/env bash
# gifd's start-up with N pdq hashes in its store (default 10,000,000; env BENCH_STARTUP_N):
# sets up a consortium and one node on 127.0.0.1 (free ports) in a temporary directory, fills
# the node's store with bench_fill (N signed pdq signals of the node's own key), then starts
# gifd 3 times and reports for each start the wall time from exec to GET /v1/status answering,
# gifd's own log line "index: ... loaded in T ms" (the similarity index rebuilt from LMDB),
# and its peak RSS (VmHWM) and RSS once the API answers; then the medians, the fill time and
# the store's size on disk. The page cache is warm (the fill just wrote the store); a fourth
# start after evicting the store's file from the page cache (dd iflag=nocache, no root
# needed) is reported apart as "cold". Figures: docs/performance.md.
#
# Prints figures; never fails on timing. Fails (non-zero) when a step breaks: bench_fill, a
# gifd that does not answer, or an index that does not hold the N hashes.
#
# Environment: GIFD, GIFCTL, BENCH_FILL (default build/gifd, build/gifctl, build/bench_fill of
# the source tree); BENCH_STARTUP_N; BENCH_STARTUP_KEEP=1 keeps the temporary directory.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
GIFD=${GIFD:-$SRC/build/gifd}
GIFCTL=${GIFCTL:-$SRC/build/gifctl}
BENCH_FILL=${BENCH_FILL:-$(dirname "$GIFD")/bench_fill}
N=${BENCH_STARTUP_N:-10000000}
STARTS=3
for b in "$GIFD" "$GIFCTL" "$BENCH_FILL"; do
    [ -x "$b" ] || { echo "bench_startup: $b is not an executable (build it first)" >&2; exit 1; }
done
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "bench_startup: $tool is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/gifnet-bench-startup.XXXXXX")
PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$PID" ]; then { kill -KILL "$PID" && wait "$PID"; } 2>/dev/null || true; fi
    if [ "${BENCH_STARTUP_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# free_port: prints a port of 127.0.0.1 in 20000-31999 that nothing listens on (as
# tests/integration/lib.sh picks them) and that was not handed out before.
USED=" "
free_port() {
    local i p
    for i in $(seq 1 500); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        [[ "$USED" == *" $p "* ]] && continue
        if command -v ss >/dev/null && [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
            continue
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        USED+="$p "
        echo "$p"
        return 0
    done
    echo "bench_startup: no free port" >&2
    return 1
}

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
# median of the numbers given (the middle one of 3)
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# proc_kb PID FIELD: a field of /proc/PID/status in kB
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

D=$T/node
"$GIFCTL" consortium init --dir "$T/cons" --name "startup bench" >"$T/cons.out" 2>&1 ||
    { cat "$T/cons.out" >&2; exit 1; }
API=$(free_port)
PEER=$(free_port)
"$GIFCTL" node init --consortium "$T/cons" --dir "$D" --org "Bench" --role platform \
    --api "127.0.0.1:$API" --peer "127.0.0.1:$PEER" >"$T/node.out" 2>&1 ||
    { cat "$T/node.out" >&2; exit 1; }
URL="http://127.0.0.1:$API"

echo "bench_startup: $N pdq signals; gifd $GIFD; $(nproc) cores; $T"
t=$(now_ns)
"$BENCH_FILL" "$D/gifd.ini" "$N" | sed 's/^/  /'
FILL_MS=$(ms_since "$t")
MEMBERS=$(grep -c . "$D/members.jsonl")

# wait_api LOG: waits, with shell builtins only (a curl or sleep process every 10 ms would
# take CPU from gifd's index build on two threads), until gifd logs "api: listening on"
# (right after the index is loaded) or exits; every 0.5 s it also asks GET /v1/status, in
# case the line is not logged. Good to about 10 ms.
wait_api() {
    local lfd sfd line buf="" i=0
    exec {sfd}<> <(:) # a pipe nothing writes to: read -t on it sleeps
    exec {lfd}<"$1"
    while :; do
        if IFS= read -r -u "$lfd" line; then
            line=$buf$line buf=""
            [[ "$line" == *" api: listening on "* ]] && break
            continue
        fi
        buf+=$line # a line not complete yet
        kill -0 "$PID" 2>/dev/null || break
        if ((++i % 50 == 0)) &&
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/v1/status" 2>/dev/null)" = 200 ]; then
            break
        fi
        read -r -t 0.01 -u "$sfd" || true
    done
    exec {lfd}<&- {sfd}<&-
}

# start LABEL: one start of gifd; prints its figures and appends them to the arrays below.
declare -a WALL=() INDEX=() HWM=() RSS=() ANON=()
start() {
    local label=$1 log=$T/gifd.$1.log t i st idx line hwm rss anon file recs pdq
    : >"$log"
    t=$(now_ns)
    "$GIFD" --config "$D/gifd.ini" >>"$log" 2>&1 &
    PID=$!
    wait_api "$log"
    for i in $(seq 1 1000); do
        st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/v1/status" 2>/dev/null) || true
        [ "$st" = 200 ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.01
    done
    local wall
    wall=$(ms_since "$t")
    if [ "$st" != 200 ]; then
        echo "bench_startup: gifd did not answer GET /v1/status (start $label); its log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    hwm=$(proc_kb "$PID" VmHWM)
    rss=$(proc_kb "$PID" VmRSS)
    anon=$(proc_kb "$PID" RssAnon)
    file=$(proc_kb "$PID" RssFile)
    line=$(grep -m1 ' index: .* pdq hashes and .* vpdq frames loaded in ' "$log" || true)
    idx=$(sed -n 's/.* loaded in \([0-9.]*\) ms.*/\1/p' <<<"$line")
    st=$(curl -s --max-time 10 "$URL/v1/status") || true
    recs=$(jq -r '.records // empty' <<<"$st" 2>/dev/null) || true
    pdq=$(jq -r '.pdq_index // empty' <<<"$st" 2>/dev/null) || true
    kill -TERM "$PID"
    local rc=0
    wait "$PID" || rc=$?
    PID=""
    if [ "$rc" != 0 ]; then
        echo "bench_startup: gifd exited with status $rc on SIGTERM (start $label)" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        echo "bench_startup: sanitizer report in gifd's log (start $label)" >&2
        grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60 >&2
        exit 1
    fi
    if [ -z "$idx" ] || ! grep -q " index: $N pdq hashes " <<<"$line" || [ "${pdq:-}" != "$N" ] ||
        [ "${recs:-}" != $((N + MEMBERS)) ]; then
        echo "bench_startup: start $label: expected $N pdq hashes and $((N + MEMBERS)) records;" \
            "log: '${line:-no index line}', status: records ${recs:-?}, pdq_index ${pdq:-?}" >&2
        exit 1
    fi
    printf '  start %-4s  API answers after %6d ms   index rebuilt in %9.1f ms   peak RSS (VmHWM) %6s MiB   RSS %6s MiB (anon %s, file %s)\n' \
        "$label" "$wall" "$idx" "$(mib "$hwm")" "$(mib "$rss")" "$(mib "$anon")" "$(mib "$file")"
    echo "             log: ${line#* index: }"
    if [ "$label" != cold ]; then
        WALL+=("$wall") INDEX+=("$idx") HWM+=("$hwm") RSS+=("$rss") ANON+=("$anon")
    fi
}

echo "  fill: $N records in $(awk -v m="$FILL_MS" 'BEGIN { printf "%.1f", m / 1000 }') s (bench_fill, wall)"
echo "  store on disk: $(du -sh "$D/db" | cut -f1) ($(du -sk "$D/db" | cut -f1) KiB; data.mdb $(du -k "$D/db/data.mdb" | cut -f1) KiB used)"
for s in $(seq 1 $STARTS); do start "$s"; done
printf '  median of %d starts (warm page cache): API answers after %d ms, index rebuilt in %.1f ms, peak RSS %s MiB, RSS %s MiB (anon %s MiB)\n' \
    "$STARTS" "$(median "${WALL[@]}")" "$(median "${INDEX[@]}")" "$(mib "$(median "${HWM[@]}")")" \
    "$(mib "$(median "${RSS[@]}")")" "$(mib "$(median "${ANON[@]}")")"
# A cold start: the store's file evicted from the page cache first (written back, then
# dropped with posix_fadvise DONTNEED through dd; pages other processes hold stay).
if sync "$D/db/data.mdb" 2>/dev/null && dd if="$D/db/data.mdb" iflag=nocache count=0 status=none 2>/dev/null; then
    start cold
else
    echo "  cold start skipped (dd iflag=nocache not supported here)"
fi
