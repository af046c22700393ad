#!/usr/bin/env bash
# gifctl's online verbs against running nodes (docs/cli.md): status, peers, members, lookup,
# match, publish, alert, retract, feedback, export, import, watch, and verify on an export;
# their exit codes: 0 success, 1 nothing found, 2 bad input (or refused as invalid), 3 the node
# unreachable or refusing the token.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
make_node p platform "Platform A"
for n in a p; do cp "$TMP/cons/members.jsonl" "$TMP/$n/members.jsonl"; done
start_node "$TMP/a" || finish
start_node "$TMP/p" || finish
A=$TMP/a P=$TMP/p
use_node "$A"
UA=$(node_url "$A") TA=$(node_token "$A")
UP=$(node_url "$P") TP=$(node_token "$P")
ctl() { "$GIFCTL" --api "$UA" --token "$TA" "$@" </dev/null; }
ctlp() { "$GIFCTL" --api "$UP" --token "$TP" "$@" </dev/null; }
free_port
CLOSED=http://127.0.0.1:$PORT # nothing listens there

MD5=9e107d9d372bb6826bd81d3542a419d6
PDQ=$(rand_hex 32)

# ---- status, peers, members.
expect_rc "status exits 0" 0 ctl status
check "status names the node's org and role" grep -q 'CTU (agency)' <<<"$OUT"
check "status gives the node's key" grep -q "$(node_key "$A")" <<<"$OUT"
expect_rc "status --json exits 0" 0 ctl --json status
expect_eq "status --json prints the API's answer" "CTU agency" "$(jq -r '.node.org + " " + .node.role' <<<"$OUT")"
expect_rc "GIFCTL_API and GIFCTL_TOKEN from the environment work" 0 \
    env GIFCTL_API="$UA" GIFCTL_TOKEN="$TA" "$GIFCTL" --json status
expect_eq "... reaching the same node" "$(node_key "$A")" "$(jq -r .node.key <<<"$OUT")"
expect_rc "peers exits 0" 0 ctl peers
expect_rc "members exits 0" 0 ctl members
check "members lists both organisations" bash -c 'grep -q "CTU" <<<"$1" && grep -q "Platform A" <<<"$1"' _ "$OUT"
expect_rc "members --json exits 0" 0 ctl --json members
expect_eq "members --json lists 2" 2 "$(jq '.members | length' <<<"$OUT")"

# ---- publish.
before=$(status_field .feed_last)
expect_rc "publish md5 with labels exits 0" 0 ctl publish --type md5 --value "$MD5" \
    --label attack_footage --label glorification --incident cli-test --content-type video --confidence 90
ID_MD5=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
check "publish prints the id and seq" grep -qE "^[0-9a-f]{64} +seq 1$" <<<"$OUT"
get "/v1/records/$ID_MD5"
expect_jq "the published record holds what was given" \
    '.body | [.type, .value, (.labels | join(",")), .incident, .content_type, .confidence] | @tsv' \
    "md5	$MD5	attack_footage,glorification	cli-test	video	90"
expect_rc "publish pdq --json exits 0" 0 ctl --json publish --type pdq --value "$PDQ" --label attack_footage
ID_PDQ=$(jq -r .id <<<"$OUT")
expect_eq "publish --json prints id, seq and feed" 2 "$(jq .seq <<<"$OUT")"
expect_rc "publish url exits 0" 0 ctl publish --type url --value 'https://www.example.com/manifesto.pdf' --label perpetrator_content
expect_rc "publish sha256 --verified on an agency exits 0" 0 ctl publish --type sha256 --value "$(rand_hex 32)" --verified
before=$(status_field .feed_last)
expect_rc "publish a 30-digit md5 exits 2" 2 ctl publish --type md5 --value "${MD5:0:30}"
check "... quoting the value" grep -q "${MD5:0:30}" <<<"$ERR"
expect_rc "publish an unknown label exits 2" 2 ctl publish --type md5 --value "$(rand_hex 16)" --label cats
expect_rc "publish an unknown type exits 2" 2 ctl publish --type sha1 --value "$(rand_hex 20)"
expect_rc "publish without --value exits 2" 2 ctl publish --type md5
expect_rc "publish with an unknown option exits 2" 2 ctl publish --type md5 --value "$(rand_hex 16)" --colour red
expect_rc "publish without a token exits 3" 3 "$GIFCTL" --api "$UA" publish --type md5 --value "$(rand_hex 16)"
expect_rc "publish with a wrong token exits 3" 3 "$GIFCTL" --api "$UA" --token wrong-token-0123456789 publish --type md5 --value "$(rand_hex 16)"
expect_rc "publish --verified on a platform (422 role) exits 2" 2 ctlp publish --type md5 --value "$(rand_hex 16)" --verified
check "... printing the node's reason" grep -q "role" <<<"$ERR"
expect_eq "no failed publish wrote anything" "$before" "$(status_field .feed_last)"

# ---- lookup.
expect_rc "lookup of a published md5 exits 0" 0 ctl lookup md5 "$MD5"
check "lookup shows the verdict block" grep -q "block" <<<"$OUT"
check "lookup shows the match's org and labels" bash -c 'grep -q "CTU (agency)" <<<"$1" && grep -q attack_footage <<<"$1"' _ "$OUT"
expect_rc "lookup --json exits 0" 0 ctl --json lookup md5 "$MD5"
expect_eq "lookup --json prints the API's answer" "block $ID_MD5" "$(jq -r '.verdict + " " + .matches[0].id' <<<"$OUT")"
expect_rc "lookup of upper-case hex exits 0" 0 ctl lookup md5 "$(tr a-f A-F <<<"$MD5")"
expect_rc "lookup url of another spelling exits 0" 0 ctl lookup url 'http://example.com/manifesto.pdf'
expect_rc "lookup of an unknown md5 exits 1" 1 ctl lookup md5 "$(rand_hex 16)"
expect_rc "lookup --json of an unknown md5 exits 1" 1 ctl --json lookup md5 "$(rand_hex 16)"
expect_eq "... and prints an answer with no matches" "allow 0" "$(jq -r '.verdict + " " + (.matches | length | tostring)' <<<"$OUT")"
expect_rc "lookup of a malformed md5 exits 2" 2 ctl lookup md5 zz
expect_rc "lookup of an unknown type exits 2" 2 ctl lookup crc32 "$MD5"
expect_rc "lookup without a value exits 2" 2 ctl lookup md5
expect_rc "lookup against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" lookup md5 "$MD5"
check "... saying it cannot reach the node" grep -qi "reach" <<<"$ERR"
expect_rc "the global options are accepted after the verb" 0 "$GIFCTL" lookup md5 "$MD5" --api "$UA" --json

# ---- match.
NEAR=$(flip_bits "$PDQ" 5)
expect_rc "match of a hash 5 bits away exits 0" 0 ctl match "$NEAR"
check "match shows the distance" grep -qw 5 <<<"$OUT"
expect_rc "match --json exits 0" 0 ctl --json match "$NEAR"
expect_eq "match --json gives distance 5 and the id" "5 $ID_PDQ" "$(jq -r '.results[0].matches[0] | "\(.distance) \(.id)"' <<<"$OUT")"
expect_rc "match with --max-distance 4 finds nothing: exits 1" 1 ctl match "$NEAR" --max-distance 4
expect_rc "match of a far hash exits 1" 1 ctl match "$(flip_bits "$PDQ" 60)"
expect_rc "match of two hashes, one near, exits 0" 0 ctl --json match "$(flip_bits "$PDQ" 60)" "$NEAR"
expect_eq "... with one result per hash" 2 "$(jq '.results | length' <<<"$OUT")"
expect_rc "match of a malformed hash exits 2" 2 ctl match abc
expect_rc "match with --max-distance 300 exits 2" 2 ctl match "$NEAR" --max-distance 300
expect_rc "match against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" match "$NEAR"

# ---- alert.
expect_rc "alert exits 0" 0 ctl alert --incident cli-incident --level content_incident --detector livestream-v2 \
    --detector-version 2.1.0 --score 0.9 --signal "pdq:$(rand_hex 32)" --signal "md5:$(rand_hex 16)" --note "from gifctl"
ID_ALERT=$(grep -oE '^[0-9a-f]{64}' <<<"$OUT")
get "/v1/records/$ID_ALERT"
expect_jq "the alert holds what was given" '.body | [.incident, .level, .detector, .score, (.signals | length), .note] | @tsv' \
    "cli-incident	content_incident	livestream-v2	0.9	2	from gifctl"
expect_rc "alert with an unknown level exits 2" 2 ctl alert --incident x --level apocalyptic
expect_rc "alert without a token exits 3" 3 "$GIFCTL" --api "$UA" alert --incident x --level content_incident

# ---- export, import, feedback across nodes.
expect_rc "export --out exits 0" 0 ctl export --out "$TMP/a.jsonl"
expect_eq "the export holds every record of the feed" "$(status_field .feed_last)" "$(grep -c . "$TMP/a.jsonl")"
expect_eq "... in feed order" "$(seq 1 "$(status_field .feed_last)")" "$(jq -r .feed "$TMP/a.jsonl")"
check "no .part file is left" bash -c "! ls '$TMP'/a.jsonl.part 2>/dev/null"
expect_rc "verify of the export (offline) exits 0" 0 "$GIFCTL" verify "$TMP/a.jsonl" --consortium "$TMP/cons"
# Tamper with one record's bytes: flip the signature's last byte of line 3.
jq -c 'if .seq == 2 and .kind == "signal" then .record |= (.[0:-2] + (if .[-2:] == "00" then "01" else "00" end)) else . end' \
    "$TMP/a.jsonl" >"$TMP/bad.jsonl"
expect_rc "verify of a tampered export exits 2" 2 "$GIFCTL" verify "$TMP/bad.jsonl" --consortium "$TMP/cons"
expect_rc "export to stdout exits 0" 0 ctl export
expect_eq "... the same records" "$(jq -r .id "$TMP/a.jsonl")" "$(jq -r .id <<<"$OUT")"
mid=$(jq -r .feed "$TMP/a.jsonl" | sed -n 3p)
expect_rc "export --after CURSOR exits 0" 0 ctl export --after "$mid"
expect_eq "... only the records after the cursor" "$(jq -r .id "$TMP/a.jsonl" | tail -n +4)" "$(jq -r .id <<<"$OUT")"
expect_rc "export --format csv exits 0" 0 ctl export --format csv
expect_eq "the CSV header" "signal_type,signal,labels,origin_org,time,id" "$(head -1 <<<"$OUT")"
check "the CSV has the md5 with its labels" grep -q "^md5,$MD5,attack_footage;glorification,CTU," <<<"$OUT"
expect_rc "export against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" export

expect_rc "import of the agency's export into the platform exits 0" 0 ctlp import "$TMP/a.jsonl"
use_node "$P"
get "/v1/records/$ID_MD5"
expect_code "the platform now holds the agency's md5 record" 200
expect_rc "importing it again (duplicates) exits 0" 0 ctlp import "$TMP/a.jsonl"
expect_rc "feedback agree on the agency's record exits 0" 0 ctlp feedback "$ID_MD5" --verdict agree --note "seen it too"
get "/v1/lookup?type=md5&value=$MD5"
expect_jq "the platform counts its agreement" '.matches[0].feedback.agree' 1
expect_rc "feedback with an unknown verdict exits 2" 2 ctlp feedback "$ID_MD5" --verdict maybe
expect_rc "feedback on a malformed id exits 2" 2 ctlp feedback xyz --verdict agree
use_node "$A"
expect_rc "feedback on the node's own record (422 bad_target) exits 2" 2 ctl feedback "$ID_MD5" --verdict agree

# CSV import of signals: 3 good rows, one with an unknown label.
H1=$(rand_hex 16) H2=$(rand_hex 32) H3=$(rand_hex 16) H4=$(rand_hex 16)
cat >"$TMP/hashes.csv" <<EOF
signal_type,signal,labels,incident
md5,$H1,attack_footage;glorification,csv-import
sha256,$H2,,csv-import
md5,$H3,cats,csv-import
video_md5,$H4,propaganda,csv-import
EOF
expect_rc "import of a CSV with one bad row exits 2" 2 ctl import "$TMP/hashes.csv"
check "... reporting the bad row's line and value" bash -c 'grep -q "line 4" <<<"$1" && grep -q cats <<<"$1"' _ "$ERR"
expect_rc "the good rows were imported (lookup exits 0)" 0 ctl lookup md5 "$H1"
expect_rc "... the sha256 too" 0 ctl lookup sha256 "$H2"
expect_rc "... and video_md5 as md5" 0 ctl lookup md5 "$H4"
expect_rc "the bad row was not (lookup exits 1)" 1 ctl lookup md5 "$H3"
printf 'signal_type,signal\nmd5,%s\n' "$(rand_hex 16)" >"$TMP/ok.csv"
expect_rc "import of a clean CSV exits 0" 0 ctl import "$TMP/ok.csv"
expect_rc "import --json prints a summary" 0 ctl --json import "$TMP/ok.csv"
expect_eq "... counting the row as a duplicate or imported" 1 "$(jq '.read' <<<"$OUT")"
expect_rc "import of a missing file exits 2" 2 ctl import "$TMP/nothing.csv"
expect_rc "import without a token exits 3" 3 "$GIFCTL" --api "$UA" import "$TMP/ok.csv"

# ---- retract.
expect_rc "retract of the md5 exits 0" 0 ctl retract "$ID_MD5" --reason "false positive"
expect_rc "lookup of the retracted md5 still exits 0 (it is found)" 0 ctl --json lookup md5 "$MD5"
expect_eq "... retracted, verdict allow" "true allow" "$(jq -r '"\(.matches[0].retracted) \(.verdict)"' <<<"$OUT")"
expect_rc "the text output says RETRACTED" 0 ctl lookup md5 "$MD5"
check "... RETRACTED" grep -q RETRACTED <<<"$OUT"
expect_rc "retracting it twice (422) exits 2" 2 ctl retract "$ID_MD5"
expect_rc "retract of a malformed id exits 2" 2 ctl retract 1234
expect_rc "retract of an unknown id exits 2" 2 ctl retract "$(rand_hex 32)"
expect_rc "retract against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" --token "$TA" retract "$ID_PDQ"

# ---- watch.
"$GIFCTL" --api "$UA" --json watch --count 2 >"$TMP/watch.out" 2>"$TMP/watch.err" </dev/null &
wpid=$!
BG_PIDS+=($wpid)
clients_are() { [ "$(curl -s "$UA/metrics" | sed -n 's/^gifnet_events_clients //p')" = "$1" ]; }
check "watch connects to the events stream" wait_for 10 clients_are 1
ctl --json publish --type md5 --value "$(rand_hex 16)" >"$TMP/w1"
ctl --json publish --type md5 --value "$(rand_hex 16)" >"$TMP/w2"
wait_for 10 bash -c "! kill -0 $wpid 2>/dev/null"
if kill -0 "$wpid" 2>/dev/null; then
    fail "watch --count 2 exits after 2 records"
else
    wait "$wpid"
    expect_eq "watch --count 2 exits 0 after 2 records" 0 "$?"
fi
expect_eq "watch --json prints each new record's JSON" "$(jq -r .id "$TMP/w1" "$TMP/w2")" "$(jq -r .id "$TMP/watch.out" 2>/dev/null)"
last=$(status_field .feed_last)
expect_rc "watch --after CURSOR --count 1 replays the record after the cursor" 0 \
    timeout 10 "$GIFCTL" --api "$UA" --json watch --after $((last - 1)) --count 1
expect_eq "... the last record" "$(jq -r .id "$TMP/w2")" "$(jq -r .id <<<"$OUT")"
expect_rc "watch against a closed port exits 3" 3 timeout 10 "$GIFCTL" --api "$CLOSED" watch

# ---- Unreachable nodes: exit 3 for every online verb.
for v in status peers members; do
    expect_rc "$v against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" "$v"
done
expect_rc "publish against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" --token "$TA" publish --type md5 --value "$MD5"
expect_rc "feedback against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" --token "$TA" feedback "$ID_MD5" --verdict agree
expect_rc "import against a closed port exits 3" 3 "$GIFCTL" --api "$CLOSED" --token "$TA" import "$TMP/ok.csv"
expect_rc "an unknown verb exits 2" 2 "$GIFCTL" --api "$UA" frobnicate

check "the agency node still answers" node_alive "$A"
stop_node "$A"
stop_node "$P"
finish
