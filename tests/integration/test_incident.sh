#!/usr/bin/env bash
# Crisis response end to end (issue 6): four organisations on 127.0.0.1 (an agency, three
# platforms), real gifd processes over mutually authenticated TLS.
#
# 1. Platform B's detector raises an alert carrying a video's vPDQ: the incident opens at every
#    node, unconfirmed (a platform alone does not block elsewhere: review);
# 2. the agency verifies and escalates it: C and D answer block for a re-encoded copy and for
#    a 3 s cut of the video; the time from the alert's publication to the escalation's
#    acceptance at the last platform is printed (a figure, not a timed check);
# 3. Platform C publishes an image hash under the incident; D disputes it as a false positive
#    and C retracts it: D's answer goes from block to allow, and the incident's timeline holds
#    all of it; policy explain names the rule; the report shows it;
# 4. platforms may not act on incidents until the consortium grants it; the agency concludes
#    the incident and the platform alert's matches fall back to review.
source "$(dirname "$0")/lib.sh"

command -v ffmpeg >/dev/null || {
    echo "# SKIP: the ffmpeg tool is not installed (scripts/deps.sh installs it)"
    exit 0
}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
now_ms() { date +%s%3N; }
JQ_MS='def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);'

make_consortium "$TMP/cons" "incident test"
make_node a agency CTU
make_node b platform "Platform B"
make_node c platform "Platform C"
make_node d platform "Platform D"
A=$TMP/a B=$TMP/b C=$TMP/c D=$TMP/d
sync_members
set_seeds "$B" "$A"
set_seeds "$C" "$A" "$B"
set_seeds "$D" "$A" "$C"
for n in "$A" "$B" "$C" "$D"; do start_node "$n" || finish; done
ready_all() { has_ready_peers "$A" "$B" "$C" "$D" && has_ready_peers "$D" "$A" "$C"; }
check "the four nodes are linked within 15 s" wait_for 15 ready_all

# at DIR ARGS...: gifctl against node DIR.
at() {
    local dir=$1
    shift
    "$GIFCTL" --api "$(node_url "$dir")" --token "$(node_token "$dir")" "$@" </dev/null
}
# media_at DIR FILE: POST /v1/match/media of an mp4 or png at DIR.
media_at() {
    local ct=video/mp4
    [[ $2 == *.png ]] && ct=image/png
    req POST "$(node_url "$1")/v1/match/media" "" -H "Content-Type: $ct" --data-binary "@$2"
}
# has_record DIR ID: DIR holds record ID.
has_record() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(node_url "$1")/v1/records/$2")" = 200 ]; }
accepted_ms() { curl -s --max-time 5 "$(node_url "$1")/v1/records/$2" | jq -r "$JQ_MS"' .accepted | ms'; }

# ---- The video, a re-encoded copy and a 3 s cut; an unrelated image.
ff -f lavfi -i "testsrc2=size=320x240:rate=30" -t 10 -pix_fmt yuv420p "$TMP/attack.mp4"
ff -i "$TMP/attack.mp4" -vf scale=256:192 -c:v libx264 -crf 32 -pix_fmt yuv420p "$TMP/copy.mp4"
ff -ss 3.5 -t 3 -i "$TMP/attack.mp4" -c:v libx264 -crf 26 -pix_fmt yuv420p "$TMP/cut.mp4"
ff -f lavfi -i "mandelbrot=size=320x240" -frames:v 1 "$TMP/benign.png"

echo "# 1. a platform's detector raises an alert carrying the video's vPDQ"
expect_rc "B's detector hashes the video" 0 at "$B" --json hash "$TMP/attack.mp4"
VPDQ=$(jq -c '.[0].signals[] | select(.type == "vpdq") | .value' <<<"$OUT")
use_node "$B"
post /v1/alerts "{\"incident\":\"chc-test\",\"level\":\"content_incident\",\"detector\":\"live-detector\",\"detector_version\":\"3.1\",\"score\":0.98,\"signals\":[{\"type\":\"vpdq\",\"value\":$VPDQ}],\"note\":\"livestream of an attack\"}"
expect_code "B publishes the alert (201)" 201
ALERT=$(jqb .id)
T_ALERT=$(curl -s --max-time 5 "$(node_url "$B")/v1/records/$ALERT" | jq -r "$JQ_MS"' .time | ms')
for n in "$A" "$C" "$D"; do
    check "the alert reaches $(basename "$n") within 10 s" wait_for 10 has_record "$n" "$ALERT"
done
ALAST=0
for n in "$A" "$C" "$D"; do
    t=$(accepted_ms "$n" "$ALERT")
    [ "$t" -gt "$ALAST" ] && ALAST=$t
done
echo "# figure: alert published at B -> accepted at the last node: $((ALAST - T_ALERT)) ms"
use_node "$D"
get /v1/incidents
expect_jq "D lists the incident: open, level content_incident, unconfirmed, one alert" \
    '.incidents[0] | [.id, .status, .level, .confirmed, .alerts] | @tsv' $'chc-test\topen\tcontent_incident\tfalse\t1'
media_at "$D" "$TMP/copy.mp4"
expect_jq "a re-encoded copy at D matches the alert, but a platform's alert alone is review" \
    '[.results[2].matches[0].kind, .results[2].matches[0].id, .results[2].matches[0].verdict, .results[2].matches[0].rule] | @tsv' \
    "alert	$ALERT	review	default"

echo "# 2. the agency verifies and escalates; every platform blocks"
expect_rc "A escalates the incident (gifctl incident escalate)" 0 at "$A" incident escalate chc-test \
    --level content_incident_protocol --note "verified by the CTU"
ESC=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
for n in "$B" "$C" "$D"; do
    check "the escalation reaches $(basename "$n") within 10 s" wait_for 10 has_record "$n" "$ESC"
done
FEEDPOS=$(curl -s --max-time 5 "$(node_url "$D")/v1/records/$ESC" | jq -r .feed)
OUT=$(timeout 10 "$GIFCTL" --api "$(node_url "$D")" watch --after $((FEEDPOS - 1)) --count 1 </dev/null)
check "gifctl watch at D shows the escalation: incident, action and level" \
    grep -q "incident .*chc-test escalate -> content_incident_protocol" <<<"$OUT"
LAST=0
for n in "$B" "$C" "$D"; do
    t=$(accepted_ms "$n" "$ESC")
    [ "$t" -gt "$LAST" ] && LAST=$t
done
T_ESC=$(curl -s --max-time 5 "$(node_url "$A")/v1/records/$ESC" | jq -r "$JQ_MS"' .time | ms')
echo "# figure: alert published -> block at the last platform (the escalation accepted there):" \
    "$((LAST - T_ALERT)) ms, of which the agency's escalation -> last platform $((LAST - T_ESC)) ms" \
    "(the rest is this test checking the unconfirmed state first)"
for n in "$C" "$D"; do
    media_at "$n" "$TMP/copy.mp4"
    expect_jq "$(basename "$n") blocks the re-encoded copy (rule incident)" \
        '[.verdict, .results[2].matches[0].id, .results[2].matches[0].rule, .results[2].matches[0].incident_state.level] | @tsv' \
        "block	$ALERT	incident	content_incident_protocol"
done
media_at "$D" "$TMP/cut.mp4"
expect_jq "D blocks a 3 s cut of the video" '[.verdict, .results[2].matches[0].id] | @tsv' "block	$ALERT"
use_node "$D"
get /v1/incidents/chc-test
expect_jq "D's incident: confirmed, content_incident_protocol, last action escalate" \
    '[.confirmed, .level, .last_action.action, .status] | @tsv' $'true\tcontent_incident_protocol\tescalate\topen'
expect_jq "... D counted its own matches (local only)" '.local_matches >= 3' true

echo "# 3. a false positive under the incident: disputed, then retracted by its origin"
expect_rc "C hashes an image" 0 at "$C" --json hash "$TMP/benign.png"
BPDQ=$(jq -r '.[0].signals[] | select(.type == "pdq") | .value' <<<"$OUT")
use_node "$C"
post /v1/signals "{\"type\":\"pdq\",\"value\":\"$BPDQ\",\"labels\":[\"attack_footage\"],\"incident\":\"chc-test\"}"
expect_code "C publishes the image's pdq under the incident" 201
FP=$(jqb .id)
check "it reaches D within 10 s" wait_for 10 has_record "$D" "$FP"
use_node "$D"
get "/v1/lookup?type=pdq&value=$BPDQ"
expect_jq "D blocks it under the escalated incident" '[.verdict, .matches[0].rule] | @tsv' $'block\tincident'
expect_rc "D disputes it: feedback false_positive" 0 at "$D" feedback "$FP" --verdict false_positive --note "a fractal, not the attack"
FB=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
check "the feedback reaches C within 10 s" wait_for 10 has_record "$C" "$FB"
expect_rc "C retracts its signal" 0 at "$C" retract "$FP" --reason "false positive, disputed by Platform D"
RETR=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
check "the retraction reaches D within 10 s" wait_for 10 has_record "$D" "$RETR"
use_node "$D"
get "/v1/lookup?type=pdq&value=$BPDQ"
expect_jq "D now allows it: retracted, one false_positive on record" \
    '[.verdict, .matches[0].rule, .matches[0].retracted, .matches[0].feedback.false_positive] | @tsv' $'allow\tretracted\ttrue\t1'
get /v1/incidents/chc-test
expect_jq "the incident's timeline at D: alert, escalation, signal, feedback, retraction in order" \
    '[.timeline[].kind] | join(",")' "alert,incident,signal,feedback,retraction"
expect_jq "... the organisations involved" '[.organisations[].org] | sort | join(",")' "CTU,Platform B,Platform C,Platform D"
expect_jq "... the signals with D's verdicts: the alert blocks, the retracted one allows" \
    '[.signals[] | "\(.kind):\(.verdict)"] | join(",")' "alert:block,signal:allow"
expect_rc "gifctl policy explain of the alert at D" 0 at "$D" --json policy explain "$ALERT"
expect_eq "... the incident rule decided, after every rule before it was tried" "block incident true" \
    "$(jq -r '"\(.verdict) \(.rule) \([.rules[] | select(.decided)] | length == 1)"' <<<"$OUT")"
expect_rc "gifctl incident show (text)" 0 at "$D" incident show chc-test
check "... shows the escalation in the timeline" grep -q "escalate -> content_incident_protocol" <<<"$OUT"
if at "$D" report --help >/dev/null 2>&1; then
    expect_rc "gifctl report --format json at D" 0 at "$D" report --format json
    check "... the report is JSON naming the incident" jq -e 'tostring | test("chc-test")' <<<"$OUT"
fi

echo "# 4. rights: a platform acts on incidents once granted; the agency concludes"
use_node "$B"
post /v1/incidents '{"incident":"chc-test","action":"deescalate","level":"content_incident"}'
expect_err "B (a platform) may not publish incident records: 422 rejected" 422 rejected
expect_rc "the root grants Platform B the incidents right" 0 "$GIFCTL" member grant --consortium "$TMP/cons" --org "Platform B"
GRANT=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
use_node "$A"
post /v1/records "{\"records\":$(jq -sc 'map(.record)' "$TMP/cons/members.jsonl")}"
expect_jq "A ingests the grant" '.results[-1].status' accepted
check "the grant reaches B within 10 s" wait_for 10 has_record "$B" "$GRANT"
use_node "$B"
post /v1/incidents '{"incident":"chc-test","action":"deescalate","level":"content_incident","note":"copies slowing"}'
expect_code "B, granted, de-escalates (201)" 201
DEESC=$(jqb .id)
check "the de-escalation reaches D within 10 s" wait_for 10 has_record "$D" "$DEESC"
use_node "$D"
get /v1/incidents/chc-test
expect_jq "D: level content_incident, still confirmed and open" '[.level, .confirmed, .status] | @tsv' $'content_incident\ttrue\topen'
expect_rc "A concludes the incident" 0 at "$A" incident conclude chc-test --note "over"
END=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
check "the conclusion reaches D within 10 s" wait_for 10 has_record "$D" "$END"
expect_rc "gifctl incident list --status concluded at D" 0 at "$D" --json incident list --status concluded
expect_eq "... lists it, concluded at level content_incident" "chc-test concluded content_incident" \
    "$(jq -r '.incidents[0] | "\(.id) \(.status) \(.level)"' <<<"$OUT")"
media_at "$D" "$TMP/copy.mp4"
expect_jq "after the conclusion the platform alert's match is review again" '.results[2].matches[0].verdict' review
expect_rc "incident list --status open at D finds nothing (exit 1)" 1 at "$D" incident list --status open

echo "# 5. local match counts survive a restart (saved to D's store at stop, never published)"
use_node "$D"
get /v1/incidents/chc-test
BEFORE=$(jq -r '.local_matches' <<<"$BODY")
expect_jq "... D has counted matches under the incident" '.local_matches >= 4' true
stop_node "$D"
start_node "$D"
use_node "$D"
get /v1/incidents/chc-test
expect_jq "... and still has them after a restart" '.local_matches' "$BEFORE"
use_node "$C"
get /v1/incidents/chc-test
expect_jq "... C's count is its own, not D's" "(.local_matches | tostring) != \"$BEFORE\"" true

finish
