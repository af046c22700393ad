#!/usr/bin/env bash
# `make demo`: a guided walk through a crisis in a consortium of four organisations on 127.0.0.1.
#
# Creates, under ./demo-data (wiped first), a consortium with a counter-terrorism unit (agency)
# and three platforms (VideoShare, ClipHub, StreamNow), each its own gifd with its own data
# directory, API port (127.0.0.1:7480, 7481, 7482, 7483, or the next free ones) and peer port
# (127.0.0.1:7490 and up). The story (issue 6): VideoShare's detector raises an alert carrying a
# video's vPDQ; the other platforms answer review for a re-encoded copy; the CTU verifies and
# escalates; ClipHub and StreamNow block a re-encoded copy and a cut clip (the times are
# measured and shown); the CTU's own verified hash blocks everywhere; a false positive ClipHub
# filed under the incident is disputed by StreamNow and retracted everywhere; the incident, the
# policy's reasoning and the transparency report are shown; the CTU concludes the incident.
# Why four organisations when DESIGN.md's contract says "an agency and two platforms": see
# docs/operations.md, "The demo: four organisations". Every wait is a bounded poll. Every gifd is stopped at the
# end, on error, and on Ctrl-C. Needs build/gifd and build/gifctl (`make demo` builds them;
# GIFD and GIFCTL override the paths), ffmpeg, curl and jq (scripts/deps.sh installs them).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GIFD_BIN=${GIFD:-$ROOT/build/gifd}
GIFCTL_BIN=${GIFCTL:-$ROOT/build/gifctl}
DATA=./demo-data

for b in "$GIFD_BIN" "$GIFCTL_BIN"; do
    [ -x "$b" ] || { echo "demo: $b is missing: run 'make demo' (it builds first)" >&2; exit 1; }
done
for t in curl jq ffmpeg; do
    command -v "$t" >/dev/null || { echo "demo: $t is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

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
exec 3>&1 # the terminal, also while a step's output goes to a file
trap 'stop_nodes' EXIT
trap 'printf "\ndemo: interrupted, nodes stopped\n" >&3; exit 130' INT TERM

# The commands as a reader would type them (the shown commands run through eval).
gifctl() { "$GIFCTL_BIN" "$@"; }
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

STEP=0
LAST=""  # the output of the last step
# header "EXPLANATION": the next numbered step's title.
header() {
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$B" "$STEP" "$1" "$N"
}
# cmd "SHELL TEXT": shows the command as written, runs it (output also in LAST; only its first
# HEAD lines are shown when HEAD is set).
cmd() {
    local rc
    printf '%s$ %s%s\n' "$CY" "$1" "$N"
    eval "$1" >"$DATA/.step.out" 2>&1 </dev/null
    rc=$?
    LAST=$(cat "$DATA/.step.out")
    if [ -z "$LAST" ]; then :
    elif [ -n "${HEAD-}" ]; then printf '%s\n' "$LAST" | head -n "$HEAD"
    else printf '%s\n' "$LAST"; fi
    [ "$rc" = 0 ] || printf '%s(exit status %d)%s\n' "$DIM" "$rc" "$N"
    return 0
}
# step "EXPLANATION" "SHELL TEXT": a numbered step of one command.
step() { header "$1"; cmd "$2"; }
die() { printf '%sdemo: %s%s\n' "$RD" "$1" "$N" >&2; exit 1; }
# id_of TEXT: the 64-hex record id gifctl printed first.
id_of() { grep -oE '^[0-9a-f]{64}' <<<"$1" | head -n 1; }

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

# ---- Polls and figures. Each wait is a bounded poll (POLL_S seconds). Each figure comes from
# the nodes' own timestamps (one clock here): the record's "time", set by its origin when it
# signed it, to its "accepted" at each other node (GET /v1/records/ID), so how often the demo
# polls does not change it.
POLL_S=10
JQ_MS='def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);'
# rec_ms NAME ID FIELD: the record's time or accepted at node NAME, in ms since the epoch.
rec_ms() { curl -s --max-time 2 "${URL[$1]}/v1/records/$2" | jq -r "$JQ_MS .$3 | ms" 2>/dev/null; }
# wait_all TEST NAME...: runs "TEST NAME" for each node until each has succeeded once, or POLL_S
# seconds have passed; sets OK[NAME] to 1 for those that did.
declare -A OK MS
wait_all() {
    local test=$1 n pending end
    shift
    for n in "$@"; do OK[$n]=""; done
    end=$(($(now_ms) + POLL_S * 1000))
    while :; do
        pending=0
        for n in "$@"; do
            [ -n "${OK[$n]}" ] && continue
            if "$test" "$n"; then OK[$n]=1; else pending=1; fi
        done
        { [ "$pending" = 0 ] || [ "$(now_ms)" -gt "$end" ]; } && break
        sleep 0.01
    done
    [ "$pending" = 0 ]
}
# since ID FROM_MS NAME...: sets MS[NAME] to record ID's accepted at NAME minus FROM_MS (empty
# for a node that did not pass the last wait_all), and SLOWEST to the largest (empty if any is).
since() {
    local id=$1 from=$2 n t
    shift 2
    SLOWEST=0
    for n in "$@"; do
        MS[$n]=""
        if [ -n "$from" ] && [ -n "${OK[$n]-}" ] && t=$(rec_ms "$n" "$id" accepted) && [ -n "$t" ]; then MS[$n]=$((t - from)); fi
        if [ -z "${MS[$n]}" ]; then SLOWEST=""; elif [ -n "$SLOWEST" ] && [ "${MS[$n]}" -gt "$SLOWEST" ]; then SLOWEST=${MS[$n]}; fi
    done
}
# reached "WHAT" NAME...: one line, e.g. "the alert reached: CTU after 3 ms, ClipHub after 4 ms".
reached() {
    local what=$1 n out=""
    shift
    for n in "$@"; do
        out+="${out:+, }${ORG[$n]} ${MS[$n]:+after }${MS[$n]:-${RD}not within $POLL_S s${N}}${MS[$n]:+ ms}"
    done
    printf '%s: %s\n' "$what" "$out"
}
# figure MS: a figure against the one-second goal, coloured.
figure() {
    if [ -z "$1" ]; then printf '%snot within %s s%s' "$RD" "$POLL_S" "$N"
    elif [ "$1" -lt 1000 ]; then printf '%s%s ms%s' "$GR" "$1" "$N"
    else printf '%s%s ms%s (over the one-second goal)' "$RD" "$1" "$N"; fi
}
has_record() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${URL[$1]}/v1/records/$REC" | grep -q 200; }
verdict_block() {
    curl -s --max-time 2 "${URL[$1]}/v1/policy/explain?id=$REC" | jq -e '.verdict == "block"' >/dev/null 2>&1
}
md5_blocks() {
    curl -s --max-time 2 "${URL[$1]}/v1/lookup?type=md5&value=$MD5" | jq -e '.verdict == "block"' >/dev/null 2>&1
}
concluded() {
    curl -s --max-time 2 "${URL[$1]}/v1/incidents/$INCIDENT" | jq -e '.status == "concluded"' >/dev/null 2>&1
}

printf '%sgifnet demo: a crisis in a consortium of four organisations%s\n' "$B" "$N"
printf 'A counter-terrorism unit (CTU) and three video platforms (VideoShare, ClipHub, StreamNow)\n'
printf 'each run a gifnet node. VideoShare'"'"'s detector flags an attack video; the CTU verifies and\n'
printf 'escalates; the other platforms then block copies and cuts of it within a second; a false\n'
printf 'positive is disputed and retracted everywhere; the report shows it all.\n'

# ---- Set-up: a consortium, four nodes, four gifd.
NAMES=(ctu videoshare cliphub streamnow)
PLATFORMS=(videoshare cliphub streamnow)
declare -A ORG=([ctu]=CTU [videoshare]=VideoShare [cliphub]=ClipHub [streamnow]=StreamNow)
declare -A API PEER URL TOKEN
for n in "${NAMES[@]}"; do pick_port 7480; API[$n]=$PORT; done
for n in "${NAMES[@]}"; do pick_port 7490; PEER[$n]=$PORT; done
[ "${API[ctu]}${API[videoshare]}${API[cliphub]}${API[streamnow]}" = 7480748174827483 ] ||
    printf '\n%snote: some of 127.0.0.1:7480-7483 are busy; the APIs use %s, %s, %s, %s%s\n' "$B" \
        "${API[ctu]}" "${API[videoshare]}" "${API[cliphub]}" "${API[streamnow]}" "$N"
rm -rf "$DATA"
mkdir -p "$DATA"

step "Create the consortium: its root key admits members and issues their TLS certificates." \
    "gifctl consortium init --dir $DATA/consortium --name 'Demo consortium'"
[ -f "$DATA/consortium/root.pub" ] || die "consortium init failed"

step "The CTU's node: a key pair, a membership signed by the root, a certificate, gifd.ini. Its API
   stays on 127.0.0.1:${API[ctu]}; other members reach it on its peer port ${PEER[ctu]}." \
    "gifctl node init --consortium $DATA/consortium --dir $DATA/ctu --org CTU --role agency \\
    --api 127.0.0.1:${API[ctu]} --peer 127.0.0.1:${PEER[ctu]}"
HEAD=1 step "The three platforms' nodes; each dials the members before it (--seed)." \
    "gifctl node init --consortium $DATA/consortium --dir $DATA/videoshare --org VideoShare --role platform \\
    --api 127.0.0.1:${API[videoshare]} --peer 127.0.0.1:${PEER[videoshare]} --seed 127.0.0.1:${PEER[ctu]}"
HEAD=1 cmd "gifctl node init --consortium $DATA/consortium --dir $DATA/cliphub --org ClipHub --role platform \\
    --api 127.0.0.1:${API[cliphub]} --peer 127.0.0.1:${PEER[cliphub]} --seed 127.0.0.1:${PEER[ctu]} --seed 127.0.0.1:${PEER[videoshare]}"
HEAD=1 cmd "gifctl node init --consortium $DATA/consortium --dir $DATA/streamnow --org StreamNow --role platform \\
    --api 127.0.0.1:${API[streamnow]} --peer 127.0.0.1:${PEER[streamnow]} --seed 127.0.0.1:${PEER[ctu]} \\
    --seed 127.0.0.1:${PEER[videoshare]} --seed 127.0.0.1:${PEER[cliphub]}"
for n in "${NAMES[@]}"; do [ -f "$DATA/$n/gifd.ini" ] || die "node init of $n failed"; done

step "Every node gets the consortium's final member list, so each knows all four at start." \
    "for n in ${NAMES[*]}; do cp $DATA/consortium/members.jsonl $DATA/\$n/; done"

header "Start the four nodes (logs in $DATA/*/gifd.log); they connect over TLS 1.3."
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
linked() { [ "$(curl -s --max-time 2 "${URL[$1]}/v1/peers" | jq '[.peers[] | select(.state == "ready")] | length' 2>/dev/null)" = 3 ]; }
T_START=$(now_ms)
wait_all linked "${NAMES[@]}" || { grep net "$DATA"/*/gifd.log | tail -n 20; die "the nodes did not all link within $POLL_S s"; }
T_LINKS=$(($(now_ms) - T_START))
printf 'all six links ready %s ms after the last start: CTU %s, VideoShare %s, ClipHub %s, StreamNow %s\n' "$T_LINKS" \
    "${URL[ctu]}" "${URL[videoshare]}" "${URL[cliphub]}" "${URL[streamnow]}"
printf 'gifctl talks to the CTU through GIFCTL_API and GIFCTL_TOKEN, to the platforms with --api and --token:\n'
export GIFCTL_API=${URL[ctu]} GIFCTL_TOKEN=${TOKEN[ctu]}
VS=${URL[videoshare]} CH=${URL[cliphub]} SN=${URL[streamnow]}
VS_TOKEN=${TOKEN[videoshare]} CH_TOKEN=${TOKEN[cliphub]} SN_TOKEN=${TOKEN[streamnow]}
printf '%s$ export GIFCTL_API=%s GIFCTL_TOKEN=$(sed -n '"'"'s/^token = //p'"'"' %s/ctu/gifd.ini)%s\n' "$CY" "$GIFCTL_API" "$DATA" "$N"
printf '%s$ VS=%s CH=%s SN=%s%s\n' "$CY" "$VS" "$CH" "$SN" "$N"
for v in VS:videoshare CH:cliphub SN:streamnow; do
    printf '%s$ %s_TOKEN=$(sed -n '"'"'s/^token = //p'"'"' %s/%s/gifd.ini)%s\n' "$CY" "${v%:*}" "$DATA" "${v#*:}" "$N"
done

header "The media of the story, made with ffmpeg: the attack video (10 s), a re-encoded copy
   (smaller, lower quality), a 3 s cut of it, and an unrelated image."
M=$DATA/media
mkdir -p "$M"
cmd "ff() { ffmpeg -nostdin -hide_banner -loglevel error -y \"\$@\"; }"
cmd "ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 10 -pix_fmt yuv420p $M/attack.mp4"
cmd "ff -i $M/attack.mp4 -vf scale=256:192 -c:v libx264 -crf 32 -pix_fmt yuv420p $M/copy.mp4"
cmd "ff -ss 3.5 -t 3 -i $M/attack.mp4 -c:v libx264 -crf 26 -pix_fmt yuv420p $M/cut.mp4"
cmd "ff -f lavfi -i mandelbrot=size=320x240 -frames:v 1 $M/benign.png"
for f in attack.mp4 copy.mp4 cut.mp4 benign.png; do [ -s "$M/$f" ] || die "ffmpeg did not make $M/$f"; done

# ---- 1. A platform's detector raises an alert.
INCIDENT=demo-attack
# StreamNow's trust-and-safety console follows its node's records (shown further down).
"$GIFCTL_BIN" --api "$SN" watch --count 2 >"$DATA/.watch.out" 2>&1 </dev/null &
WATCH=$!

step "A live stream of an attack is up on VideoShare. Its detector hashes the recording:
   the vPDQ is one PDQ hash a second." \
    "gifctl hash $M/attack.mp4"
MD5=$(awk '$2 == "md5" {print $3}' <<<"$LAST")
[ -n "$MD5" ] || die "gifctl hash did not print the md5"
cmd "gifctl --json hash $M/attack.mp4 | jq -c '{incident: \"$INCIDENT\", level: \"content_incident\",
    detector: \"live-detector\", detector_version: \"3.1\", score: 0.98, note: \"livestream of an attack\",
    signals: [.[0].signals[] | select(.type == \"vpdq\") | {type, value}]}' >$DATA/alert.json"
[ -s "$DATA/alert.json" ] || die "the alert body is empty"
printf '%s(%s: %s bytes, the vPDQ'"'"'s %s frames)%s\n' "$DIM" "$DATA/alert.json" "$(wc -c <"$DATA/alert.json")" \
    "$(jq '.signals[0].value | length' "$DATA/alert.json")" "$N"

header "The detector raises an alert on VideoShare's node (POST /v1/alerts), carrying the vPDQ.
   Alerts travel ahead of bulk records; the time until each other node holds it is measured
   (from the alert's time, set by VideoShare's node, to each node's acceptance of it)."
cmd "curl -s -H \"Authorization: Bearer \$VS_TOKEN\" --data-binary @$DATA/alert.json \$VS/v1/alerts"
ALERT=$(jq -r '.id // empty' <<<"$LAST" 2>/dev/null)
[ -n "$ALERT" ] || die "the alert was not published"
REC=$ALERT
wait_all has_record ctu cliphub streamnow
T_ALERT=$(rec_ms videoshare "$ALERT" time)
since "$ALERT" "$T_ALERT" ctu cliphub streamnow
reached "the alert reached" ctu cliphub streamnow
T_ALERT_REACH=$SLOWEST

step "A re-encoded copy is uploaded to ClipHub and StreamNow. Their pipelines hand the file to their
   own node: the vPDQ matches VideoShare's alert, but a platform's alert alone is only review." \
    "for u in \$CH \$SN; do echo \$u; gifctl --api \$u match $M/copy.mp4 | grep -A1 vpdq; done"

step "StreamNow's node lists the incident: open, unconfirmed (no agency has acted on it yet)." \
    "gifctl --api \$SN incident list"

# ---- 2. The agency verifies and escalates.
header "The CTU verifies the video and escalates the incident. Every platform's answer for the
   alert's hashes turns to block: the demo polls each platform's verdict, and times it from the
   escalation's signing to its acceptance at each platform."
cmd "gifctl incident escalate $INCIDENT --level content_incident_protocol --note 'verified by the CTU: the attack video'"
ESC=$(id_of "$LAST")
[ -n "$ESC" ] || die "the escalation was not published"
REC=$ALERT
wait_all verdict_block "${PLATFORMS[@]}"
T_ESC=$(rec_ms ctu "$ESC" time)
since "$ESC" "$T_ALERT" "${PLATFORMS[@]}"
T_ALERT_BLOCK=$SLOWEST
since "$ESC" "$T_ESC" "${PLATFORMS[@]}"
T_ESC_LAST=$SLOWEST
reached "the platforms answer block after the escalation" "${PLATFORMS[@]}"
printf 'alert published -> block at the last platform: %s ms; of which the CTU'"'"'s escalation -> last platform: %s\n' \
    "${T_ALERT_BLOCK:-?}" "$(figure "$T_ESC_LAST")"
printf '%s(the rest is the demo'"'"'s steps in between: the platforms matching the copy, listing the incident)%s\n' "$DIM" "$N"

step "ClipHub's pipeline matches the re-encoded copy again: block, by the incident rule." \
    "gifctl --api \$CH match $M/copy.mp4"
step "StreamNow gets a 3 s cut of the video, and the copy: both block." \
    "for f in cut copy; do echo \$f.mp4; gifctl --api \$SN match $M/\$f.mp4 | grep -A1 vpdq; done"

for _ in $(seq 1 100); do kill -0 "$WATCH" 2>/dev/null || break; sleep 0.05; done
kill "$WATCH" 2>/dev/null
wait "$WATCH" 2>/dev/null
WATCH=""
header "Meanwhile StreamNow's console, following its node, saw the alert and the escalation arrive:"
printf '%s$ gifctl --api $SN watch%s\n' "$CY" "$N"
cat "$DATA/.watch.out"

header "The CTU also publishes the original file's MD5, verified: exact re-uploads block on every
   node by the agency's own word. The time until each platform blocks it is measured."
cmd "gifctl publish --type md5 --value $MD5 --label attack_footage --incident $INCIDENT --content-type video --verified"
REC=$(id_of "$LAST")
[ -n "$REC" ] || die "the CTU's MD5 was not published"
wait_all md5_blocks "${PLATFORMS[@]}"
since "$REC" "$(rec_ms ctu "$REC" time)" "${PLATFORMS[@]}"
reached "the platforms answer block for the MD5" "${PLATFORMS[@]}"
T_MD5=$SLOWEST
cmd "gifctl --api \$VS lookup md5 $MD5"

# ---- 3. A false positive under the incident: disputed, retracted.
header "A ClipHub analyst files an unrelated image's PDQ under the incident by mistake."
cmd "BPDQ=\$(gifctl hash $M/benign.png | awk '\$2 == \"pdq\" {print \$3}')"
[ -n "$BPDQ" ] || die "no PDQ for the image"
cmd "gifctl --api \$CH --token \$CH_TOKEN publish --type pdq --value \$BPDQ --label attack_footage --incident $INCIDENT"
FP=$(id_of "$LAST")
[ -n "$FP" ] || die "ClipHub's signal was not published"
REC=$FP
wait_all has_record streamnow || die "ClipHub's signal did not reach StreamNow within $POLL_S s"

HEAD=2 step "StreamNow's node blocks the image too: it is filed under the escalated incident." \
    "gifctl --api \$SN lookup pdq \$BPDQ"

header "StreamNow's moderators see a fractal, not the attack: they dispute it (feedback false_positive)."
cmd "gifctl --api \$SN --token \$SN_TOKEN feedback $FP --verdict false_positive --note 'a fractal, not the attack'"
REC=$(id_of "$LAST")
[ -n "$REC" ] || die "StreamNow's feedback was not published"
wait_all has_record cliphub || die "the feedback did not reach ClipHub within $POLL_S s"

header "ClipHub retracts its signal. The time until every other node holds the retraction is measured."
cmd "gifctl --api \$CH --token \$CH_TOKEN retract $FP --reason 'false positive, disputed by StreamNow'"
REC=$(id_of "$LAST")
[ -n "$REC" ] || die "the retraction was not published"
wait_all has_record ctu videoshare streamnow
since "$REC" "$(rec_ms cliphub "$REC" time)" ctu videoshare streamnow
reached "the retraction reached" ctu videoshare streamnow
T_RETRACT=$SLOWEST

HEAD=2 step "StreamNow looks the image up again: known, RETRACTED, one false_positive on record: allow." \
    "gifctl --api \$SN lookup pdq \$BPDQ"

step "The incident as StreamNow's node has folded it: state, organisations, timeline, signals." \
    "gifctl --api \$SN incident show $INCIDENT"

step "Why StreamNow's node blocks the alert's hashes: every rule tried, the one that decided." \
    "gifctl --api \$SN policy explain $ALERT"

step "StreamNow's transparency report, computed from its log: it shows it all." \
    "gifctl --api \$SN report"

# ---- 4. The agency concludes.
header "The copies stop spreading: the CTU concludes the incident."
cmd "gifctl incident conclude $INCIDENT --note 'copies no longer spreading'"
REC=$(id_of "$LAST")
[ -n "$REC" ] || die "the conclusion was not published"
wait_all concluded "${PLATFORMS[@]}"
since "$REC" "$(rec_ms ctu "$REC" time)" "${PLATFORMS[@]}"
reached "the conclusion reached" "${PLATFORMS[@]}"

step "StreamNow matches the copy once more: VideoShare's alert alone is review again; an exact
   re-upload still blocks by the CTU's verified MD5." \
    "gifctl --api \$SN match $M/copy.mp4 | grep -A1 vpdq; gifctl --api \$SN lookup md5 $MD5 | head -n 1"

step "The CTU's links: each peer's organisation, state, round-trip time, records sent and received." \
    "gifctl peers"

header "Stop the four nodes (SIGTERM: each finishes writes in flight, says BYE to its peers)."
printf '%s$ kill %s%s\n' "$CY" "${PIDS[*]}" "$N"
stop_nodes

printf '\n%sTimings%s (from the nodes'"'"' own timestamps; the goal for the network: under one second)\n' "$B" "$N"
printf '  four nodes linked (six links)                          %s ms\n' "${T_LINKS:-?}"
printf '  the alert reached the last node                        %s\n' "$(figure "$T_ALERT_REACH")"
printf '  alert published -> block at the last platform          %s ms (with the demo'"'"'s steps before the escalation)\n' "${T_ALERT_BLOCK:-?}"
printf '  CTU escalation -> block at the last platform           %s\n' "$(figure "$T_ESC_LAST")"
printf '  CTU verified MD5 published -> block at every platform  %s\n' "$(figure "$T_MD5")"
printf '  retraction -> held by every other node                 %s\n' "$(figure "$T_RETRACT")"

printf '\n%sDone.%s The nodes'"'"' data stays in %s (delete it freely). Next: %sgifctl --help%s,\n' \
    "$GR" "$N" "$DATA" "$CY" "$N"
printf 'docs/api.md for the HTTP API, docs/cli.md for every gifctl verb, docs/policy.md for verdicts,\n'
printf 'docs/operations.md to run a node.\n'
