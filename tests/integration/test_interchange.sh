#!/usr/bin/env bash
# Interchange formats (docs/interchange.md): gifctl export --format stix|misp|te-csv, and
# gifctl import of each into a second node, whose signals are then its own records carrying
# "source"; exporting again gives the same signals (type, value, labels, incident, expiry).
# Also: exports are reproducible, foreign samples import, bad input is reported per item.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
make_node s platform "Platform S" # imports the STIX export
make_node m platform "Platform M" # the MISP export
make_node t platform "Platform T" # the python-threatexchange CSV export
make_node r platform "Platform R" # imports the STIX export with an alert and an incident record
make_node q platform "Platform Q" # the same in MISP
sync_members
for n in a s m t r q; do start_node "$TMP/$n" || finish; done
A=$TMP/a
use_node "$A"
ctlx() { # ctlx NODE ARGS...: gifctl against a node
    local d=$TMP/$1
    shift
    "$GIFCTL" --api "$(node_url "$d")" --token "$(node_token "$d")" "$@" </dev/null
}
EXT=extension-definition--650ffc11-6923-4a5a-ab31-ae86ad696825

# ---- Signals of every type on the agency's node.
MD5=$(rand_hex 16) SHA=$(rand_hex 32) PDQ=$(rand_hex 32) PDQ2=$(rand_hex 32)
F1=$(rand_hex 32) F2=$(rand_hex 32) F3=$(rand_hex 32)
VPDQ="[{\"hash\":\"$F1\",\"quality\":100,\"frame\":0,\"time\":0},{\"hash\":\"$F2\",\"quality\":90,\"frame\":1,\"time\":1.0},{\"hash\":\"$F3\",\"quality\":80,\"frame\":2,\"time\":2.5}]"
expect_rc "publish md5 with labels, incident, expiry" 0 ctlx a publish --type md5 --value "$MD5" \
    --label attack_footage --label glorification --incident "chc 2019" --entity "Example Group" \
    --content-type video --confidence 90 --expires 2030-01-01T00:00:00Z
expect_rc "publish sha256" 0 ctlx a publish --type sha256 --value "$SHA" --label propaganda --incident chc-2019
expect_rc "publish pdq" 0 ctlx a publish --type pdq --value "$PDQ" --label graphic_violence --content-type image
expect_rc "publish url" 0 ctlx a publish --type url --value 'https://www.example.com/manifesto.pdf' \
    --label perpetrator_content
expect_rc "publish vpdq" 0 ctlx a publish --type vpdq --value "$VPDQ" --label attack_footage --incident chc-2019
expect_rc "publish a pdq to retract" 0 ctlx a --json publish --type pdq --value "$PDQ2"
RID=$(jq -r .id <<<"$OUT")
expect_rc "retract it" 0 ctlx a retract "$RID" --reason "false positive"

# The live signals of a node, normalised: type, value, labels, incident, expiry.
signals() {
    curl -s --max-time 10 "$(node_url "$TMP/$1")/v1/records?limit=1000" |
        jq -c '[.records[] | select(.kind == "signal" and .retracted == false) | .body
                | {type, value, labels: (.labels | sort), incident, expires}] | sort_by(.type, (.value | tostring))'
}
# The sources of a node's signals, one line each, sorted and unique.
sources() {
    curl -s --max-time 10 "$(node_url "$TMP/$1")/v1/records?limit=1000" |
        jq -r '.records[] | select(.kind == "signal") | .body.source // "(none)"' | sort -u
}
WANT=$(signals a)

# ---- STIX.
expect_rc "export --format stix exits 0" 0 ctlx a export --format stix --out "$TMP/a.stix.json"
check "the bundle is JSON with type bundle" jq -e '.type == "bundle" and (.id | startswith("bundle--"))' "$TMP/a.stix.json"
expect_eq "one indicator per signal (6, one revoked)" "6 1" \
    "$(jq -r '[.objects[] | select(.type == "indicator")] | "\(length) \([.[] | select(.revoked == true)] | length)"' "$TMP/a.stix.json")"
expect_eq "md5 and sha256 are STIX file-hash patterns" \
    "[file:hashes.'SHA-256' = '$SHA'] [file:hashes.MD5 = '$MD5']" \
    "$(jq -r '[.objects[] | select(.type == "indicator" and .pattern_type == "stix") | .pattern] | sort | join(" ")' "$TMP/a.stix.json")"
expect_eq "the md5 indicator holds labels, valid_until, confidence and the incident" \
    "attack_footage,glorification 2030-01-01T00:00:00.000Z 90 chc 2019 video" \
    "$(jq -r --arg e "$EXT" '.objects[] | select(.type == "indicator" and (.pattern | contains("MD5")))
        | "\(.labels | join(",")) \(.valid_until) \(.confidence) \(.extensions[$e].incident) \(.extensions[$e].content_type)"' "$TMP/a.stix.json")"
expect_eq "pdq: the gifnet extension with the hash and distance 31" "pdq $PDQ 31" \
    "$(jq -r --arg e "$EXT" '.objects[] | select(.type == "indicator" and .pattern_type == "pdq" and (.revoked | not))
        | "\(.pattern_type) \(.extensions[$e].hash) \(.extensions[$e].max_distance)"' "$TMP/a.stix.json")"
check "the extension-definition and the origin's identity are in the bundle" jq -e --arg e "$EXT" \
    '([.objects[] | select(.id == $e and .type == "extension-definition")] | length == 1) and
     ([.objects[] | select(.type == "identity" and .name == "CTU")] | length == 1)' "$TMP/a.stix.json"
expect_rc "a second export gives the same bytes" 0 ctlx a export --format stix --out "$TMP/a2.stix.json"
check "... (cmp)" cmp "$TMP/a.stix.json" "$TMP/a2.stix.json"

expect_rc "import of the bundle into another node exits 0" 0 ctlx s import "$TMP/a.stix.json"
check "... 5 imported, the revoked one skipped" grep -q "imported 5, skipped 1" <<<"$OUT"
expect_eq "the node now holds the same signals" "$WANT" "$(signals s)"
expect_eq "... each with source stix:CTU" "stix:CTU" "$(sources s)"
expect_rc "export of the second node as STIX exits 0" 0 ctlx s export --format stix --out "$TMP/s.stix.json"
stix_norm() {
    jq -c --arg e "$EXT" '[.objects[] | select(.type == "indicator" and (.revoked | not))
        | {t: .extensions[$e].signal_type, p: .pattern, pt: .pattern_type, l: (.labels // [] | sort),
           i: .extensions[$e].incident, u: .valid_until, f: .extensions[$e].frames}] | sort_by(.p)' "$1"
}
expect_eq "exporting again gives the same indicators" "$(stix_norm "$TMP/a.stix.json")" "$(stix_norm "$TMP/s.stix.json")"

# ---- MISP.
expect_rc "export --format misp exits 0" 0 ctlx a export --format misp --out "$TMP/a.misp.json"
check "the export is MISP JSON: events with attributes" jq -e '(.response | length) >= 2 and
    ([.response[].Event.Attribute[]] | length == 6)' "$TMP/a.misp.json"
expect_eq "attribute types" "hex hex hex md5 sha256 text" \
    "$(jq -r '[.response[].Event.Attribute[].type] | sort | join(" ")' "$TMP/a.misp.json")"
expect_eq "the retracted one is deleted and not for IDS" "true false" \
    "$(jq -r --arg v "$PDQ2" '.response[].Event.Attribute[] | select(.value == $v) | "\(.deleted) \(.to_ids)"' "$TMP/a.misp.json")"
expect_eq "the incident is an event of its own, with CTU as Orgc" "CTU" \
    "$(jq -r '.response[].Event | select(.info | contains("chc-2019")) | .Orgc.name' "$TMP/a.misp.json")"
expect_rc "a second MISP export gives the same bytes" 0 ctlx a export --format misp --out "$TMP/a2.misp.json"
check "... (cmp)" cmp "$TMP/a.misp.json" "$TMP/a2.misp.json"
expect_rc "import of the MISP export exits 0" 0 ctlx m import "$TMP/a.misp.json"
check "... 5 imported, the deleted one skipped" grep -q "imported 5, skipped 1" <<<"$OUT"
expect_eq "the node now holds the same signals" "$WANT" "$(signals m)"
expect_eq "... with source misp:CTU/event UUID" 3 \
    "$(sources m | grep -cE '^misp:CTU/event [0-9a-f-]{36}$')"
expect_rc "export of that node as MISP exits 0" 0 ctlx m export --format misp --out "$TMP/m.misp.json"
misp_norm() {
    jq -c '[.response[].Event.Attribute[] | select(.deleted | not)
        | {type, value, tags: ([.Tag[].name | select(startswith("gifnet:source") | not)] | sort)}] | sort_by(.value)' "$1"
}
expect_eq "exporting again gives the same attributes" "$(misp_norm "$TMP/a.misp.json")" "$(misp_norm "$TMP/m.misp.json")"

# ---- python-threatexchange CSV.
expect_rc "export --format te-csv exits 0" 0 ctlx a export --format te-csv --out "$TMP/a.te.csv"
expect_eq "the header is python-threatexchange's" "collab,signal_type,signal_str,category,tags" "$(head -1 "$TMP/a.te.csv")"
check "... url signals are left out (said on stderr)" grep -q "left out 1 url" <<<"$ERR"
expect_eq "md5 is video_md5, with labels and gifnet tags" \
    "CTU,video_md5,$MD5,POSITIVE_CLASS,attack_footage glorification gifnet:incident=chc%202019 gifnet:entity=Example%20Group gifnet:content_type=video gifnet:confidence=90 gifnet:expires=2030-01-01T00:00:00.000Z" \
    "$(grep video_md5 "$TMP/a.te.csv")"
expect_rc "import of the CSV (detected from its header) exits 0" 0 ctlx t import "$TMP/a.te.csv"
check "... 4 imported, the false positive skipped" grep -q "imported 4, skipped 1" <<<"$OUT"
# The CSV has no url and no frame numbers (they become the frame's index: 0, 1, 2 here).
expect_eq "the node now holds the same signals, but the url" \
    "$(jq -c 'map(select(.type != "url"))' <<<"$WANT")" "$(signals t)"
expect_eq "... with source te-csv:a.te.csv/CTU" "te-csv:a.te.csv/CTU" "$(sources t)"
expect_rc "export of that node as te-csv exits 0" 0 ctlx t export --format te-csv --out "$TMP/t.te.csv"
te_norm() { tail -n +2 "$1" | grep -v NEGATIVE_CLASS | cut -d, -f2- | sort; }
expect_eq "exporting again gives the same rows" "$(te_norm "$TMP/a.te.csv")" "$(te_norm "$TMP/t.te.csv")"

# ---- Alerts and incident records (STIX and MISP; export only, the alert's hashes come back).
AMD5=$(rand_hex 16) APDQ=$(rand_hex 32)
expect_rc "the agency raises an alert on chc-2019 carrying an md5 and a pdq" 0 ctlx a alert \
    --incident chc-2019 --level content_incident --detector livestream-v2 --detector-version 2.1.0 \
    --score 0.9 --signal "md5:$AMD5" --signal "pdq:$APDQ" --note "live stream"
expect_rc "the agency escalates chc-2019" 0 ctlx a incident escalate chc-2019 \
    --level content_incident_protocol --note "verified"
expect_rc "export --format stix exits 0" 0 ctlx a export --format stix --out "$TMP/a3.stix.json"
check "... counting the alert and the incident record" grep -q "exported 6 signals, 1 alert, 1 incident record" <<<"$ERR"
INC_ID=$(jq -r '.objects[] | select(.type == "incident" and .name == "chc-2019") | .id' "$TMP/a3.stix.json")
check "one incident object for chc-2019, with a name-based id" grep -qxE 'incident--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}' <<<"$INC_ID"
expect_eq "the incident object: its name, folded level and status" "chc-2019 content_incident_protocol open" \
    "$(jq -r --arg e "$EXT" --arg i "$INC_ID" '.objects[] | select(.type == "incident" and .id == $i)
        | "\(.name) \(.extensions[$e].level) \(.extensions[$e].status)"' "$TMP/a3.stix.json")"
expect_eq "the alert: a sighting of the incident by CTU, with the detector's words" \
    "$INC_ID livestream-v2 2.1.0 9000 content_incident 2 90 true" \
    "$(jq -r --arg e "$EXT" '(.objects[] | select(.type == "identity" and .name == "CTU") | .id) as $ctu
        | .objects[] | select(.type == "sighting") | "\(.sighting_of_ref) \(.extensions[$e].detector) \(.extensions[$e].detector_version) \(.extensions[$e].score) \(.extensions[$e].level) \(.extensions[$e].indicators | length) \(.confidence) \(.where_sighted_refs == [$ctu])"' "$TMP/a3.stix.json")"
expect_eq "... its hashes: indicators of the alert's record, related to the incident" \
    "[file:hashes.MD5 = '$AMD5'] $APDQ" \
    "$(jq -r --arg e "$EXT" '[.objects[] | select(.type == "indicator" and .extensions[$e].alert_signal != null) | .pattern] | join(" ")' "$TMP/a3.stix.json")"
check "... every indicator under chc-2019 is related to the incident object" jq -e --arg e "$EXT" --arg i "$INC_ID" \
    '[.objects[] | select(.type == "indicator" and .extensions[$e].incident == "chc-2019") | .id] as $inds
     | [.objects[] | select(.type == "relationship" and .target_ref == $i) | .source_ref] | sort == ($inds | sort) and length == 4' "$TMP/a3.stix.json"
expect_eq "the escalation: a note on the incident" "$INC_ID escalate content_incident_protocol verified" \
    "$(jq -r --arg e "$EXT" '.objects[] | select(.type == "note") | "\(.object_refs[0]) \(.extensions[$e].action) \(.extensions[$e].level) \(.content)"' "$TMP/a3.stix.json")"
expect_rc "a second export gives the same bytes" 0 ctlx a export --format stix --out "$TMP/a4.stix.json"
check "... (cmp)" cmp "$TMP/a3.stix.json" "$TMP/a4.stix.json"
expect_rc "import of that bundle into another node exits 0" 0 ctlx r import "$TMP/a3.stix.json"
check "... the signals and the alert's two hashes imported, the revoked one skipped" grep -q "imported 7, skipped 1" <<<"$OUT"
expect_eq "the alert's hashes are now signals of that node, under the incident, the score as confidence" \
    "md5 $AMD5 chc-2019 90 stix:CTU|pdq $APDQ chc-2019 90 stix:CTU" \
    "$(curl -s "$(node_url "$TMP/r")/v1/records?limit=1000" | jq -r --arg m "$AMD5" --arg p "$APDQ" \
        '[.records[] | select(.kind == "signal" and (.body.value == $m or .body.value == $p)) | .body
          | "\(.type) \(.value) \(.incident) \(.confidence) \(.source)"] | sort | join("|")')"
expect_eq "... and no alert or incident record was imported" 0 \
    "$(curl -s "$(node_url "$TMP/r")/v1/records?limit=1000" | jq '[.records[] | select(.kind == "alert" or .kind == "incident")] | length')"

expect_rc "export --format misp exits 0" 0 ctlx a export --format misp --out "$TMP/a3.misp.json"
expect_eq "CTU's chc-2019 event: high threat (the protocol tier), level and status tags" \
    "1 true true" \
    "$(jq -r '.response[].Event | select(.info == "gifnet: incident chc-2019 (CTU)")
        | "\(.threat_level_id) \([.Tag[].name] | index("gifnet:level=\"content_incident_protocol\"") != null) \([.Tag[].name] | index("gifnet:status=\"open\"") != null)"' "$TMP/a3.misp.json")"
expect_eq "... the alert and the escalation as comments, the alert's hashes tagged with it" \
    "comment:alert comment:incident hex:alert md5:alert" \
    "$(jq -r '[.response[].Event | select(.info == "gifnet: incident chc-2019 (CTU)") | .Attribute[]
        | select(.type == "comment" or ([.Tag[].name | select(startswith("gifnet:alert="))] | length > 0))
        | "\(.type):\(if .type == "comment" then ([.Tag[].name | select(startswith("gifnet:kind="))][0] | split("\"")[1]) else "alert" end)"] | sort | join(" ")' "$TMP/a3.misp.json")"
expect_rc "import of the MISP export exits 0" 0 ctlx q import "$TMP/a3.misp.json"
check "... the signals and the alert's hashes imported; the deleted one and the comments skipped" \
    grep -q "imported 7, skipped 3" <<<"$OUT"
expect_eq "the alert's hashes are signals there, under the incident" "chc-2019 chc-2019" \
    "$(curl -s "$(node_url "$TMP/q")/v1/records?limit=1000" | jq -r --arg m "$AMD5" --arg p "$APDQ" \
        '[.records[] | select(.kind == "signal" and (.body.value == $m or .body.value == $p)) | .body.incident] | join(" ")')"

# ---- Foreign samples and bad input.
cat >"$TMP/foreign.stix.json" <<EOF
{"type": "bundle", "id": "bundle--4f0b1c55-8d7d-4f53-9f2e-0a1b2c3d4e5f", "objects": [
 {"type": "identity", "spec_version": "2.1", "id": "identity--11111111-2222-4333-8444-555555555555",
  "name": "Some CERT", "identity_class": "organization", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--aaaaaaaa-2222-4333-8444-555555555555",
  "created_by_ref": "identity--11111111-2222-4333-8444-555555555555",
  "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "valid_from": "2026-01-01T00:00:00Z",
  "labels": ["Attack-Footage", "malicious-activity"],
  "pattern": "[file:hashes.'MD5' = '$(rand_hex 16)' OR file:hashes.'SHA-256' = '$(rand_hex 32)']", "pattern_type": "stix"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--bbbbbbbb-2222-4333-8444-555555555555",
  "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "valid_from": "2026-01-01T00:00:00Z",
  "pattern": "[url:value = 'http://example.org/x']", "pattern_type": "stix"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--cccccccc-2222-4333-8444-555555555555",
  "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "valid_from": "2026-01-01T00:00:00Z",
  "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--dddddddd-2222-4333-8444-555555555555",
  "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "valid_from": "2026-01-01T00:00:00Z",
  "pattern": "rule x { condition: true }", "pattern_type": "yara"},
 {"type": "malware", "spec_version": "2.1", "id": "malware--eeeeeeee-2222-4333-8444-555555555555", "name": "x", "is_family": false}
]}
EOF
expect_rc "import of a foreign bundle with unusable indicators exits 2" 2 ctlx s import "$TMP/foreign.stix.json"
check "... imports the md5, the sha256 and the url" grep -q "imported 3, rejected 2" <<<"$OUT"
check "... names the rejected objects and why" bash -c 'grep -q "object 4: .*no file MD5" <<<"$1" && grep -q "object 5: unsupported pattern_type .yara." <<<"$1"' _ "$ERR"
expect_rc "the url is now found on that node" 0 ctlx s lookup url 'https://example.org/x'
echo '{"type": "bundle", "objects": [' >"$TMP/broken.json"
expect_rc "a broken JSON document exits 2" 2 ctlx s import "$TMP/broken.json"
check "... saying where" grep -q "not JSON" <<<"$ERR"
echo '{"Event": {"Orgc": {"name": "X"}, "Attribute": [{"type": "ip-dst", "value": "198.51.100.1", "to_ids": true},
  {"type": "md5", "value": "zz", "to_ids": true}, {"type": "md5", "value": "'"$(rand_hex 16)"'", "to_ids": false}]}}' >"$TMP/bad.misp.json"
expect_rc "a MISP event with only unusable attributes exits 2" 2 ctlx m import "$TMP/bad.misp.json" --format misp
check "... rejecting two, skipping the one not for IDS" grep -q "imported 0, skipped 1, rejected 2" <<<"$OUT"
expect_rc "--format stix on a MISP file exits 2" 2 ctlx m import "$TMP/bad.misp.json" --format stix
expect_rc "an unknown --format exits 2" 2 ctlx m import "$TMP/bad.misp.json" --format openioc
expect_rc "export with an unknown --format exits 2" 2 ctlx m export --format openioc

finish
