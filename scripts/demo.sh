#!/usr/bin/env bash
# `make demo`: a guided walk through a consortium of three organisations on 127.0.0.1.
#
# Creates, under ./demo-data (wiped first), a consortium with a counter-terrorism unit (agency)
# and two platforms, each its own gifd with its own data directory, API port (127.0.0.1:7480,
# 7481, 7482, or the next free ones) and peer port (127.0.0.1:7490 and up). The CTU publishes a
# video's hashes and an alert, both platforms block it (the time is measured and shown), a
# re-encoded copy is caught by near match, and a retraction reaches both. Every gifd is stopped
# at the end, on error, and on Ctrl-C. Needs build/gifd and build/gifctl (`make demo` builds them).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GIFD_BIN=${GIFD:-$ROOT/build/gifd}
GIFCTL_BIN=${GIFCTL:-$ROOT/build/gifctl}
DATA=./demo-data

for b in "$GIFD_BIN" "$GIFCTL_BIN"; do
    [ -x "$b" ] || { echo "demo: $b is missing: run 'make demo' (it builds first)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "demo: curl is missing (scripts/deps.sh installs it)" >&2; exit 1; }

if [ -t 1 ]; then
    B=$'\e[1m' DIM=$'\e[2m' CY=$'\e[36m' GR=$'\e[32m' RD=$'\e[31m' N=$'\e[0m'
else
    B="" DIM="" CY="" GR="" RD="" N=""
fi

declare -a PIDS=() # every gifd the demo started
WATCH=""           # the background gifctl watch
stop_nodes() {
    local pid
    [ -z "$WATCH" ] || { kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null; WATCH=""; }
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
}
trap 'stop_nodes' EXIT
trap 'echo; echo "demo: interrupted, nodes stopped"; exit 130' INT TERM

# The commands as a reader would type them.
gifctl() { "$GIFCTL_BIN" "$@"; }

# quoted ARGS...: the arguments as a shell would need them typed.
quoted() {
    local a out=""
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
    done
    printf '%s' "${out# }"
}

STEP=0
LAST=""  # the output of the last step
# step "EXPLANATION" COMMAND...: explains, shows the command, runs it (output also in LAST;
# only its first STEP_HEAD lines are shown when STEP_HEAD is set).
step() {
    local what=$1 rc
    shift
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$B" "$STEP" "$what" "$N"
    printf '%s$ %s%s\n' "$CY" "$(quoted "$@")" "$N"
    "$@" >"$DATA/.step.out" 2>&1
    rc=$?
    LAST=$(cat "$DATA/.step.out")
    if [ -n "${STEP_HEAD-}" ]; then printf '%s\n' "$LAST" | head -n "$STEP_HEAD"; else printf '%s\n' "$LAST"; fi
    [ "$rc" = 0 ] || printf '%s(exit status %d)%s\n' "$DIM" "$rc" "$N"
    return 0
}
# show "EXPLANATION" "SHELL TEXT": the same for a pipeline, shown as written.
show() {
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$B" "$STEP" "$1" "$N"
    printf '%s$ %s%s\n' "$CY" "$2" "$N"
    eval "$2"
}
die() { printf '%sdemo: %s%s\n' "$RD" "$1" "$N" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
TAKEN=" "
# pick_port FIRST: the first port from FIRST up that is free and not already picked.
pick_port() {
    local p=$1
    while port_busy "$p" || [[ "$TAKEN" == *" $p "* ]]; do p=$((p + 1)); done
    TAKEN+="$p "
    PORT=$p
}
now_ms() { date +%s%3N; }

printf '%sgifnet demo: a consortium of three organisations%s\n' "$B" "$N"
printf 'A counter-terrorism unit (CTU) and two video platforms (VideoShare, ClipHub) each run a\n'
printf 'gifnet node. The CTU publishes the hashes of a (fictional) attack video and an alert; both\n'
printf 'platforms block it within a second; a false positive is retracted everywhere.\n'

# ---- Set-up: a consortium, three nodes, three gifd.
NAMES=(ctu videoshare cliphub)
declare -A ORG=([ctu]=CTU [videoshare]=VideoShare [cliphub]=ClipHub)
declare -A ROLE=([ctu]=agency [videoshare]=platform [cliphub]=platform)
declare -A API PEER URL TOKEN
for n in "${NAMES[@]}"; do pick_port 7480; API[$n]=$PORT; done
for n in "${NAMES[@]}"; do pick_port 7490; PEER[$n]=$PORT; done
[ "${API[ctu]}${API[videoshare]}${API[cliphub]}" = 748074817482 ] ||
    printf '\n%snote: some of 127.0.0.1:7480-7482 are busy; the APIs use %s, %s, %s%s\n' "$B" \
        "${API[ctu]}" "${API[videoshare]}" "${API[cliphub]}" "$N"
rm -rf "$DATA"
mkdir -p "$DATA"

step "Create the consortium: its root key admits members and issues their TLS certificates." \
    gifctl consortium init --dir "$DATA/consortium" --name "Demo consortium"
[ -f "$DATA/consortium/root.pub" ] || die "consortium init failed"

step "The CTU's node: a key pair, a membership signed by the root, a certificate, gifd.ini. Its API
   stays on 127.0.0.1:${API[ctu]}; other members reach it on its peer port ${PEER[ctu]}." \
    gifctl node init --consortium "$DATA/consortium" --dir "$DATA/ctu" --org CTU --role agency \
    --api "127.0.0.1:${API[ctu]}" --peer "127.0.0.1:${PEER[ctu]}"
STEP_HEAD=3 step "VideoShare's node dials the CTU's (--seed)." \
    gifctl node init --consortium "$DATA/consortium" --dir "$DATA/videoshare" --org VideoShare \
    --role platform --api "127.0.0.1:${API[videoshare]}" --peer "127.0.0.1:${PEER[videoshare]}" \
    --seed "127.0.0.1:${PEER[ctu]}"
STEP_HEAD=3 step "ClipHub's node dials both." \
    gifctl node init --consortium "$DATA/consortium" --dir "$DATA/cliphub" --org ClipHub \
    --role platform --api "127.0.0.1:${API[cliphub]}" --peer "127.0.0.1:${PEER[cliphub]}" \
    --seed "127.0.0.1:${PEER[ctu]}" --seed "127.0.0.1:${PEER[videoshare]}"
for n in "${NAMES[@]}"; do [ -f "$DATA/$n/gifd.ini" ] || die "node init of $n failed"; done

show "Every node gets the consortium's final member list, so each knows all three at start." \
    "for n in ctu videoshare cliphub; do cp $DATA/consortium/members.jsonl $DATA/\$n/; done"

STEP=$((STEP + 1))
printf '\n%s%d. Start the three nodes (logs in %s/*/gifd.log); they connect over TLS 1.3.%s\n' "$B" "$STEP" "$DATA" "$N"
for n in "${NAMES[@]}"; do
    URL[$n]="http://127.0.0.1:${API[$n]}"
    TOKEN[$n]=$(sed -n 's/^token *= *//p' "$DATA/$n/gifd.ini")
    printf '%s$ gifd --config %s/%s/gifd.ini &%s\n' "$CY" "$DATA" "$n" "$N"
    "$GIFD_BIN" --config "$DATA/$n/gifd.ini" >"$DATA/$n/gifd.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 1 "${URL[$n]}/v1/status" && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || { tail -n 20 "$DATA/$n/gifd.log"; die "gifd ($n) did not start"; }
        sleep 0.05
    done
    curl -s -o /dev/null --max-time 1 "${URL[$n]}/v1/status" || { tail -n 20 "$DATA/$n/gifd.log"; die "gifd ($n) does not answer"; }
done
ready() { curl -s --max-time 2 "$1/v1/peers" | grep -o '"state": *"ready"' | wc -l; }
T0=$(now_ms)
for _ in $(seq 1 200); do
    [ "$(ready "${URL[ctu]}")" = 2 ] && [ "$(ready "${URL[cliphub]}")" = 2 ] && break
    sleep 0.05
done
[ "$(ready "${URL[ctu]}")" = 2 ] || { grep net "$DATA"/*/gifd.log | tail -n 20; die "the nodes did not connect within 10 s"; }
printf 'all three links ready %s ms after start: CTU %s, VideoShare %s, ClipHub %s\n' "$(($(now_ms) - T0))" \
    "${URL[ctu]}" "${URL[videoshare]}" "${URL[cliphub]}"
printf 'gifctl talks to the CTU through GIFCTL_API and GIFCTL_TOKEN, to the others with --api:\n'
export GIFCTL_API=${URL[ctu]} GIFCTL_TOKEN=${TOKEN[ctu]}
printf '%s$ export GIFCTL_API=%s GIFCTL_TOKEN=%s%s\n' "$CY" "$GIFCTL_API" "$GIFCTL_TOKEN" "$N"
VS=${URL[videoshare]} CH=${URL[cliphub]}

# ---- The walk-through.
PDQ=f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
MD5=9e107d9d372bb6826bd81d3542a419d6
# ClipHub's trust-and-safety console follows its node's records (shown further down).
"$GIFCTL_BIN" --api "$CH" watch --count 3 >"$DATA/.watch.out" 2>&1 &
WATCH=$!
sleep 0.2

step "A video of an attack is live. The CTU publishes the PDQ hash of a frame; its node signs it." \
    gifctl publish --type pdq --value "$PDQ" --label attack_footage --label graphic_violence \
    --incident demo-attack --content-type video --verified

# block_at URL: the node's lookup of the MD5 answers block.
block_at() { curl -s --max-time 2 "$1/v1/lookup?type=md5&value=$MD5" | grep -q '"verdict": *"block"'; }
STEP=$((STEP + 1))
printf '\n%s%d. ... and the MD5 of the video file, then times how long until both platforms block it.%s\n' "$B" "$STEP" "$N"
printf '%s$ gifctl publish --type md5 --value %s --label attack_footage --label glorification --incident demo-attack --content-type video --verified%s\n' "$CY" "$MD5" "$N"
T0=$(now_ms)
LAST=$("$GIFCTL_BIN" publish --type md5 --value "$MD5" --label attack_footage --label glorification \
    --incident demo-attack --content-type video --verified 2>&1)
printf '%s\n' "$LAST"
MD5_ID=$(grep -oE '^[0-9a-f]{64}' <<<"$LAST")
[ -n "$MD5_ID" ] || die "publish did not print the record id"
T_VS="" T_CH=""
for _ in $(seq 1 500); do
    [ -z "$T_VS" ] && block_at "$VS" && T_VS=$(($(now_ms) - T0))
    [ -z "$T_CH" ] && block_at "$CH" && T_CH=$(($(now_ms) - T0))
    [ -n "$T_VS" ] && [ -n "$T_CH" ] && break
    sleep 0.005
done
verdict_time() {
    if [ -z "$2" ]; then printf '%s: %sno block within 5 s%s\n' "$1" "$RD" "$N"
    elif [ "$2" -lt 1000 ]; then printf '%s answers block %s%s ms%s after the CTU published (goal: under a second)\n' "$1" "$GR" "$2" "$N"
    else printf '%s answers block after %s%s ms%s (over the one-second goal)\n' "$1" "$RD" "$2" "$N"; fi
}
verdict_time VideoShare "$T_VS"
verdict_time ClipHub "$T_CH"

step "VideoShare's upload pipeline looks up a new upload's MD5 on its own node: block." \
    gifctl --api "$VS" lookup md5 "$MD5"
step "So does ClipHub's, on its node. No lookup leaves the platform's network." \
    gifctl --api "$CH" lookup md5 "$MD5"

step "The CTU raises an alert for the incident (alerts travel ahead of bulk records)." \
    gifctl alert --incident demo-attack --level content_incident_protocol \
    --detector livestream-detector --detector-version 2.1.0 --score 0.97 \
    --signal "pdq:$PDQ" --signal "md5:$MD5" --note "live-streamed attack, copies spreading"
for _ in $(seq 1 100); do kill -0 "$WATCH" 2>/dev/null || break; sleep 0.05; done
kill "$WATCH" 2>/dev/null
wait "$WATCH" 2>/dev/null
WATCH=""
STEP=$((STEP + 1))
printf '\n%s%d. Meanwhile ClipHub'"'"'s console, following its node, saw the records arrive:%s\n' "$B" "$STEP" "$N"
printf '%s$ gifctl --api %s watch%s\n' "$CY" "$CH" "$N"
cat "$DATA/.watch.out"

NEAR=f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d
step "A re-encoded copy is uploaded to ClipHub: its frame's PDQ differs in 4 bits, a near match." \
    gifctl --api "$CH" match "$NEAR"

# retracted_at URL: the node's lookup of the MD5 shows it retracted.
retracted_at() { curl -s --max-time 2 "$1/v1/lookup?type=md5&value=$MD5" | grep -q '"retracted": *true'; }
STEP=$((STEP + 1))
printf '\n%s%d. The MD5 turns out to be a false positive (a news report): the CTU retracts it.%s\n' "$B" "$STEP" "$N"
printf '%s$ gifctl retract %s --reason '"'"'false positive: a news report, not the attack video'"'"'%s\n' "$CY" "$MD5_ID" "$N"
T0=$(now_ms)
"$GIFCTL_BIN" retract "$MD5_ID" --reason "false positive: a news report, not the attack video"
T_VS="" T_CH=""
for _ in $(seq 1 500); do
    [ -z "$T_VS" ] && retracted_at "$VS" && T_VS=$(($(now_ms) - T0))
    [ -z "$T_CH" ] && retracted_at "$CH" && T_CH=$(($(now_ms) - T0))
    [ -n "$T_VS" ] && [ -n "$T_CH" ] && break
    sleep 0.005
done
printf 'the retraction reached VideoShare after %s ms and ClipHub after %s ms\n' "${T_VS:-(not within 5 s)}" "${T_CH:-(not within 5 s)}"

step "VideoShare looks the MD5 up again: known, but RETRACTED, so the verdict is allow." \
    gifctl --api "$VS" lookup md5 "$MD5"
step "ClipHub too." \
    gifctl --api "$CH" lookup md5 "$MD5"

step "The CTU's links: each peer's organisation, state, round-trip time, records sent and received." \
    gifctl peers

STEP=$((STEP + 1))
printf '\n%s%d. Stop the three nodes (SIGTERM: each finishes writes in flight, says BYE to its peers).%s\n' "$B" "$STEP" "$N"
printf '%s$ kill %s%s\n' "$CY" "${PIDS[*]}" "$N"
stop_nodes

printf '\n%sDone.%s The nodes'"'"' data stays in %s (delete it freely). Next: %sgifctl --help%s,\n' \
    "$GR" "$N" "$DATA" "$CY" "$N"
printf 'docs/api.md for the HTTP API, docs/cli.md for every gifctl verb, docs/operations.md to run a node.\n'
