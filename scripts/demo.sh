#!/usr/bin/env bash
# `make demo`: a guided walk through one gifnet node (the network of nodes comes later).
#
# Creates a consortium and an agency node under ./demo-data (wiped first), starts gifd on
# 127.0.0.1:7480 (another free port if that one is busy), then publishes, looks up, matches
# and retracts hashes with gifctl, explaining each step, and stops the node at the end (or on
# Ctrl-C). Needs build/gifd and build/gifctl (`make demo` builds them first).
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

GIFD_PID=""
stop_node() {
    [ -n "$GIFD_PID" ] || return 0
    kill -TERM "$GIFD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$GIFD_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$GIFD_PID" 2>/dev/null
    wait "$GIFD_PID" 2>/dev/null
    GIFD_PID=""
}
trap 'stop_node' EXIT
trap 'echo; echo "demo: interrupted, node stopped"; exit 130' INT TERM

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
# step "EXPLANATION" COMMAND...: explains, shows the command, runs it (output also in LAST).
step() {
    local what=$1 rc
    shift
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$B" "$STEP" "$what" "$N"
    printf '%s$ %s%s\n' "$CY" "$(quoted "$@")" "$N"
    "$@" >"$DATA/.step.out" 2>&1
    rc=$?
    LAST=$(cat "$DATA/.step.out")
    printf '%s\n' "$LAST"
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
pick_port() {
    local p=$1
    while port_busy "$p"; do p=$((p + 2)); done
    echo "$p"
}

printf '%sgifnet demo: one agency node%s\n' "$B" "$N"
printf 'A counter-terrorism unit (CTU) runs a gifnet node. It publishes hashes of a (fictional)\n'
printf 'attack video, a platform'"'"'s upload check finds them, and a false positive is retracted.\n'

# ---- Set-up: a consortium, a node, gifd.
API_PORT=$(pick_port 7480)
PEER_PORT=$(pick_port $((API_PORT + 1)))
[ "$API_PORT" = 7480 ] || printf '\n%snote: 127.0.0.1:7480 is busy, the demo node uses port %s instead%s\n' "$B" "$API_PORT" "$N"
rm -rf "$DATA"
mkdir -p "$DATA"

step "Create a consortium: its root key admits members and signs their memberships." \
    gifctl consortium init --dir "$DATA/consortium" --name "Demo consortium"
[ -f "$DATA/consortium/root.pub" ] || die "consortium init failed"

step "Create the agency's node: a key pair, its membership (signed by the root) and gifd.ini." \
    gifctl node init --consortium "$DATA/consortium" --dir "$DATA/ctu" --org CTU --role agency \
    --api "127.0.0.1:$API_PORT" --peer "127.0.0.1:$PEER_PORT"
[ -f "$DATA/ctu/gifd.ini" ] || die "node init failed"

export GIFCTL_API="http://127.0.0.1:$API_PORT"
GIFCTL_TOKEN=$(sed -n 's/^token *= *//p' "$DATA/ctu/gifd.ini")
export GIFCTL_TOKEN

STEP=$((STEP + 1))
printf '\n%s%d. Start the node (log in %s/ctu/gifd.log).%s\n' "$B" "$STEP" "$DATA" "$N"
printf '%s$ gifd --config %s/ctu/gifd.ini &%s\n' "$CY" "$DATA" "$N"
"$GIFD_BIN" --config "$DATA/ctu/gifd.ini" >"$DATA/ctu/gifd.log" 2>&1 &
GIFD_PID=$!
for _ in $(seq 1 200); do
    curl -s -o /dev/null --max-time 1 "$GIFCTL_API/v1/status" && break
    kill -0 "$GIFD_PID" 2>/dev/null || { cat "$DATA/ctu/gifd.log"; die "gifd did not start"; }
    sleep 0.05
done
curl -s -o /dev/null --max-time 1 "$GIFCTL_API/v1/status" || { cat "$DATA/ctu/gifd.log"; die "gifd does not answer"; }
printf 'listening on %s; gifctl finds it through GIFCTL_API and GIFCTL_TOKEN:\n' "$GIFCTL_API"
printf '%s$ export GIFCTL_API=%s GIFCTL_TOKEN=%s%s\n' "$CY" "$GIFCTL_API" "$GIFCTL_TOKEN" "$N"

# ---- The walk-through.
step "Ask the node who it is and what it holds (one record so far: its own membership)." \
    gifctl status

PDQ=f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
MD5=9e107d9d372bb6826bd81d3542a419d6
step "Publish the PDQ hash of a frame of the attack video. The node signs it as its own record." \
    gifctl publish --type pdq --value "$PDQ" --label attack_footage --label graphic_violence \
    --incident demo-attack --content-type video --verified

step "Publish the MD5 of the video file itself, with its labels." \
    gifctl publish --type md5 --value "$MD5" --label attack_footage --label glorification \
    --incident demo-attack --content-type video
MD5_ID=$(grep -oE '^[0-9a-f]{64}' <<<"$LAST")
[ -n "$MD5_ID" ] || die "publish did not print the record id"

step "A platform's upload pipeline looks up a file's MD5: an agency's record means block." \
    gifctl lookup md5 "$MD5"

NEAR=f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d
step "A re-encoded copy has a slightly different PDQ hash: a near match finds it (distance 4)." \
    gifctl match "$NEAR"

step "The same frame hash with a strict radius (--max-distance 2) no longer matches (exit 1)." \
    gifctl match "$NEAR" --max-distance 2

step "The MD5 turns out to be a false positive: the agency retracts its record, for good." \
    gifctl retract "$MD5_ID" --reason "false positive: a news report, not the attack video"

step "Looked up again, the MD5 is still known but RETRACTED, so the verdict is allow." \
    gifctl lookup md5 "$MD5"

show "The node's Prometheus metrics count records, lookups and matches." \
    "curl -s \$GIFCTL_API/metrics | grep -E '^gifnet_(records_total.*(signal|retraction)|lookups_total.*md5|matches_total|pdq_index_size)'"

STEP=$((STEP + 1))
printf '\n%s%d. Stop the node (SIGTERM: it finishes writes in flight and closes the store).%s\n' "$B" "$STEP" "$N"
printf '%s$ kill %s%s\n' "$CY" "$GIFD_PID" "$N"
stop_node

printf '\n%sDone.%s The node'"'"'s data stays in %s (delete it freely). Next: %sgifctl --help%s,\n' \
    "$GR" "$N" "$DATA" "$CY" "$N"
printf 'docs/api.md for the HTTP API, docs/cli.md for every gifctl verb.\n'
