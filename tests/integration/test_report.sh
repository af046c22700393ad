#!/usr/bin/env bash
# gifctl report against real nodes (docs/cli.md, "report"): three organisations publish
# signals, an alert, a retraction and feedback; their records are gathered on the agency's node
# (as gossip would) and the report's JSON numbers, its text and its SVG are checked.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
make_node p platform "Platform A"
make_node q platform "Platform B"
sync_members
for n in a p q; do start_node "$TMP/$n" || finish; done
A=$TMP/a P=$TMP/p Q=$TMP/q
ctla() { "$GIFCTL" --api "$(node_url "$A")" --token "$(node_token "$A")" "$@" </dev/null; }
ctlp() { "$GIFCTL" --api "$(node_url "$P")" --token "$(node_token "$P")" "$@" </dev/null; }
ctlq() { "$GIFCTL" --api "$(node_url "$Q")" --token "$(node_token "$Q")" "$@" </dev/null; }
id_of() { grep -oE '^[0-9a-f]{64}' <<<"$OUT" | head -1; }
free_port
CLOSED=http://127.0.0.1:$PORT # nothing listens there

# An empty log first: the report still has every section.
expect_rc "report of a log holding only memberships exits 0" 0 ctla report --format json
expect_eq "... with no signals, retractions, incidents or disputes" "0 0 0 0" \
    "$(jq -r '[.signals.total, .retractions.total, (.incidents | length), .disputes.total] | join(" ")' <<<"$OUT")"
expect_rc "an SVG of the empty log exits 0" 0 ctla report --format svg --out "$TMP/empty.svg"
check "... and is a complete SVG" grep -q '</svg>' "$TMP/empty.svg"

# ---- The agency: four signals (three under incident inc-1 or labelled) and an alert.
MD5A=$(rand_hex 16) PDQA=$(rand_hex 32) SHAA=$(rand_hex 32)
expect_rc "agency publishes an md5 under inc-1" 0 ctla publish --type md5 --value "$MD5A" \
    --label attack_footage --label glorification --incident inc-1 --verified
ID_MD5A=$(id_of)
expect_rc "agency publishes a pdq under inc-1" 0 ctla publish --type pdq --value "$PDQA" \
    --label attack_footage --incident inc-1
expect_rc "agency publishes a url" 0 ctla publish --type url --value 'https://example.org/manifesto.pdf' \
    --label perpetrator_content
ID_URL=$(id_of)
expect_rc "agency publishes an unlabelled sha256" 0 ctla publish --type sha256 --value "$SHAA"
expect_rc "agency raises an alert for inc-1" 0 ctla alert --incident inc-1 --level content_incident \
    --detector livestream-v2 --detector-version 2.1.0 --score 0.97 --signal "pdq:$PDQA"
ID_ALERT=$(id_of)

# ---- Platform A: two signals, one disputed by Platform B and then retracted.
expect_rc "platform A publishes an md5" 0 ctlp publish --type md5 --value "$(rand_hex 16)" --label propaganda
ID_PROP=$(id_of)
expect_rc "platform A publishes an md5 under inc-1" 0 ctlp publish --type md5 --value "$(rand_hex 16)" \
    --label glorification --incident inc-1
ID_INC_A=$(id_of)
expect_rc "platform A marks the agency's url false_positive" 0 ctlp feedback "$ID_URL" --verdict false_positive
expect_rc "platform A agrees with the agency's md5" 0 ctlp feedback "$ID_MD5A" --verdict agree

# ---- Platform B: one signal, disputes two records.
use_node "$Q"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"labels\":[\"recruitment\"],\"source\":\"misp:event-42\"}"
expect_code "platform B publishes an md5 naming its source" 201
expect_rc "platform B disagrees with the agency's url" 0 ctlq feedback "$ID_URL" --verdict disagree
expect_rc "platform B marks platform A's md5 false_positive" 0 ctlq feedback "$ID_PROP" --verdict false_positive
expect_rc "platform A retracts that md5" 0 ctlp retract "$ID_PROP" --reason "false positive: a news report"
expect_rc "platform B reports the agency's alert blocked" 0 ctlq feedback "$ID_ALERT" --verdict blocked
expect_rc "platform A retracts its md5 under inc-1" 0 ctlp retract "$ID_INC_A" --reason "filed under the wrong incident"

# ---- Gather every origin's records on the agency's node, as gossip would.
expect_rc "export platform A" 0 ctlp export --out "$TMP/p.jsonl"
expect_rc "export platform B" 0 ctlq export --out "$TMP/q.jsonl"
expect_rc "import platform A's records into the agency's node" 0 ctla import "$TMP/p.jsonl"
expect_rc "import platform B's records into the agency's node" 0 ctla import "$TMP/q.jsonl"

# ---- The agency escalates inc-1, then concludes it (incident records).
expect_rc "the agency escalates inc-1" 0 ctla incident escalate inc-1 --level content_incident_protocol \
    --note "verified by analyst"
expect_rc "the agency concludes inc-1" 0 ctla incident conclude inc-1 --note "copies contained"

# ---- The report, as JSON.
expect_rc "report --format json exits 0" 0 ctla report --format json
cp "$TMP/out" "$TMP/report.json"
R=$TMP/report.json
rq() { jq -r "$1" "$R"; }
expect_eq "the scope says it is consortium-wide as this node sees it" true \
    "$(rq '.scope | test("consortium-wide as seen by this node")')"
expect_eq "the node is the agency" "CTU agency" "$(rq '.node.org + " " + .node.role')"
expect_eq "records by kind: signals, alert, retraction, feedback, incident" "7 1 2 5 2" \
    "$(rq '.records.by_kind | [.signal, .alert, .retraction, .feedback, .incident] | join(" ")')"
expect_eq "records total is the node's feed" "$(curl -s "$(node_url "$A")/v1/status" | jq .feed_last)" \
    "$(rq .records.total)"
expect_eq "7 signals, 1 verified, 2 retracted, 1 unlabelled, 3 under an incident" "7 1 2 1 3" \
    "$(rq '.signals | [.total, .verified, .retracted, .unlabelled, .under_incident] | join(" ")')"
expect_eq "signals by organisation" '{"CTU":4,"Platform A":2,"Platform B":1}' "$(jq -c .signals.by_org "$R")"
expect_eq "signals by type" '{"md5":4,"pdq":1,"sha256":1,"url":1}' "$(jq -c .signals.by_type "$R")"
expect_eq "signals by label" \
    '{"attack_footage":2,"glorification":2,"perpetrator_content":1,"propaganda":1,"recruitment":1}' \
    "$(jq -c .signals.by_label "$R")"
expect_eq "signals by source" '{"misp:event-42":1}' "$(jq -c .signals.by_source "$R")"
# (The records' day, so that a run across midnight UTC still checks the right thing.)
DAY=$(rq '.period.first[0:10]')
expect_eq "the records are from today or yesterday (UTC)" true \
    "$([ "$DAY" = "$(date -u +%F)" ] || [ "$DAY" = "$(date -u -d yesterday +%F)" ] && echo true)"
expect_eq "signals by month (UTC)" "{\"${DAY:0:7}\":7}" "$(jq -c .signals.by_month "$R")"
expect_eq "signals by day (UTC)" "{\"$DAY\":7}" "$(jq -c .signals.by_day "$R")"
expect_eq "two retractions by Platform A, the first with its reason" \
    "2 2 Platform A false positive: a news report $ID_PROP signal" \
    "$(rq '.retractions | "\(.total) \(.by_org["Platform A"]) \(.list[0].org) \(.list[0].reason) \(.list[0].target) \(.list[0].target_kind)"')"
expect_eq "one incident, inc-1, concluded at content_incident_protocol" \
    "1 inc-1 concluded content_incident_protocol content_incident_protocol" \
    "$(rq '"\(.incidents | length) \(.incidents[0].id) \(.incidents[0].state) \(.incidents[0].level) \(.incidents[0].max_level)"')"
expect_eq "... first alert by CTU, 1 alert, 2 actions, 3 signals from 2 organisations" "CTU 1 2 3 2" \
    "$(rq '.incidents[0] | "\(.first_alert.org) \(.alerts) \(.actions) \(.signals) \(.signals_by_org | length)"')"
expect_eq "... its timeline: alert at +0, feedback on its records, a retraction, then escalate and conclude" \
    "alert:0:livestream-v2 feedback:true:null feedback:true:null retraction:true:null escalate:true:null conclude:true:null" \
    "$(rq '[.incidents[0].timeline[] | "\(.event):\(if .event == "alert" then .after_ms else .after_ms > 0 end):\(.detector)"] | join(" ")')"
expect_eq "... the feedback on its records: Platform A agrees with the md5, Platform B blocked the alert" \
    "Platform A:agree:$ID_MD5A:signal:md5:CTU Platform B:blocked:$ID_ALERT:alert:null:CTU" \
    "$(rq '[.incidents[0].timeline[] | select(.event == "feedback") | "\(.org):\(.verdict):\(.target):\(.target_kind):\(.target_type):\(.target_org)"] | join(" ")')"
expect_eq "... counted per verdict" "1 0 0 1 0" \
    "$(rq '.incidents[0].feedback | "\(.agree) \(.disagree) \(.seen) \(.blocked) \(.false_positive)"')"
expect_eq "... its one retraction: Platform A's md5 under inc-1, with the reason (not the md5 outside it)" \
    "1 Platform A $ID_INC_A filed under the wrong incident" \
    "$(rq '.incidents[0] | "\(.retractions) \([.timeline[] | select(.event == "retraction") | "\(.org) \(.target) \(.reason)"] | join(","))"')"
expect_eq "... one escalation by CTU, to content_incident_protocol" "1 CTU content_incident_protocol true" \
    "$(rq '.incidents[0] | "\(.escalations | length) \(.escalations[0].org) \(.escalations[0].level) \(.escalations[0].after_ms > 0)"')"
expect_eq "... concluded by CTU after the escalation" "CTU true" \
    "$(rq '.incidents[0] | "\(.concluded.org) \(.concluded.after_ms >= .escalations[0].after_ms)"')"
expect_eq "two disputed records" "2 1 1" "$(rq '.disputes | "\(.total) \(.retracted) \(.not_retracted)"')"
expect_eq "the url is disputed by 2 organisations and stands" "$ID_URL 2 false Platform A,Platform B" \
    "$(rq ".disputes.list[] | select(.target == \"$ID_URL\") | \"\\(.target) \\(.orgs_dispute) \\(.retracted) \\(.orgs | join(\",\"))\"")"
expect_eq "platform A's md5 is disputed by 1 and retracted" "1 true" \
    "$(rq ".disputes.list[] | select(.target == \"$ID_PROP\") | \"\\(.orgs_dispute) \\(.retracted)\"")"
expect_eq "the agreed md5 is no dispute" "" "$(rq ".disputes.list[] | select(.target == \"$ID_MD5A\") | .target")"
expect_eq "organisations: feedback, disputes raised and incident actions per org" \
    "CTU:0:0:2 Platform A:2:1:0 Platform B:3:2:0" \
    "$(rq '[.organisations[] | "\(.org):\(.feedback):\(.disputes_raised):\(.incident_actions)"] | join(" ")')"

use_node "$A"
get '/v1/incidents?status=all'
expect_eq "the incident agrees with the node's own view (GET /v1/incidents)" \
    "$(jqb '.incidents[] | select(.id == "inc-1") | "\(.alerts) \(.actions) \(.signals) \(.status) \(.level)"')" \
    "$(rq '.incidents[0] | "\(.alerts) \(.actions) \(.signals) \(.state) \(.level)"')"

# --json selects the JSON format too.
expect_rc "report --json exits 0" 0 ctla --json report
expect_eq "... printing the same numbers" "7" "$(jq .signals.total <<<"$OUT")"

# ---- Date filters.
TOMORROW=$(date -u -d "$DAY + 1 day" +%F) YESTERDAY=$(date -u -d "$DAY - 1 day" +%F) TODAY=$DAY
expect_rc "report --since tomorrow exits 0" 0 ctla report --json --since "$TOMORROW"
expect_eq "... counting nothing" "0 0 0 0" \
    "$(jq -r '[.signals.total, .retractions.total, (.incidents | length), .disputes.total] | join(" ")' <<<"$OUT")"
expect_eq "... and saying which period" "$TOMORROW" "$(jq -r .period.since <<<"$OUT")"
expect_rc "report --until yesterday exits 0" 0 ctla report --json --until "$YESTERDAY"
expect_eq "... counting nothing" 0 "$(jq .signals.total <<<"$OUT")"
expect_rc "report --since today --until today exits 0" 0 ctla report --json --since "$TODAY" --until "$TODAY"
expect_eq "... counting everything" "7 1" "$(jq -r '"\(.signals.total) \(.incidents | length)"' <<<"$OUT")"

# ---- Text and SVG.
expect_rc "report (text) exits 0" 0 ctla report
check "the text names the scope" grep -q "consortium-wide as seen by this node" <<<"$OUT"
check "the text has the signal count" grep -q "^Signals: 7" <<<"$OUT"
check "the text has the incident" grep -q "inc-1: concluded" <<<"$OUT"
check "the text has its escalation" grep -qE "escalate +CTU +content_incident_protocol" <<<"$OUT"
check "the text counts the feedback on its records and its retractions" \
    grep -q "feedback on its records: agree 1, blocked 1; retractions 1" <<<"$OUT"
check "the text shows the feedback in the timeline" \
    grep -qE "feedback +Platform B +blocked +on CTU's alert ${ID_ALERT:0:12}" <<<"$OUT"
check "the text shows the retraction in the timeline" \
    grep -qE "retraction +Platform A +of md5 ${ID_INC_A:0:12}  \"filed under the wrong incident\"" <<<"$OUT"
check "the text lists the retraction's reason" grep -q "false positive: a news report" <<<"$OUT"
check "the text lists the disputes" grep -q "^Disputes: 2" <<<"$OUT"
expect_rc "report --out FILE (text) exits 0" 0 ctla report --out "$TMP/report.txt"
check "... writing the file" grep -q "^Signals: 7" "$TMP/report.txt"
check "... leaving no .part file" bash -c "! ls '$TMP'/report.txt.part 2>/dev/null"

expect_rc "report --format svg --out FILE exits 0" 0 ctla report --format svg --out "$TMP/report.svg"
check "the SVG starts with an XML declaration" grep -q '^<?xml' "$TMP/report.svg"
check "the SVG ends with </svg>" bash -c "tail -1 '$TMP/report.svg' | grep -q '^</svg>$'"
expect_eq "the SVG has one bar (one day of signals)" 1 "$(grep -c '<rect x=[^>]*><title>' "$TMP/report.svg")"
expect_eq "the SVG has an incident marker" 1 "$(grep -c 'class="incident-start"' "$TMP/report.svg")"
expect_eq "... an escalation marker" 1 "$(grep -c 'class="incident-escalate"' "$TMP/report.svg")"
expect_eq "... and a conclusion marker" 1 "$(grep -c 'class="incident-conclude"' "$TMP/report.svg")"
check "the SVG has no NaN and no script or external reference" \
    bash -c "! grep -qiE 'nan|<script|href=|@import|url\\(' '$TMP/report.svg'"
if command -v python3 >/dev/null; then
    check "the SVG parses as XML" python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$TMP/report.svg"
fi
expect_rc "report --json --format svg --out prints a summary" 0 ctla --json report --format svg --out "$TMP/r2.svg"
expect_eq "... naming the file and counts" "$TMP/r2.svg 7 1" "$(jq -r '"\(.out) \(.signals) \(.incidents)"' <<<"$OUT")"

# ---- Exit codes.
expect_rc "an unknown format exits 2" 2 ctla report --format pdf
expect_rc "a malformed date exits 2" 2 ctla report --since 2026-13-01
expect_rc "a date that is not a day exits 2" 2 ctla report --until 2026-02-30
expect_rc "--until before --since exits 2" 2 ctla report --since 2026-05-02 --until 2026-05-01
expect_rc "an extra argument exits 2" 2 ctla report extra
expect_rc "an unreachable node exits 3" 3 "$GIFCTL" --api "$CLOSED" report
expect_rc "report --help exits 0" 0 "$GIFCTL" report --help

finish
