#!/usr/bin/env bash
# The HTTP API end to end (docs/api.md): publishing every exact signal type and pdq, exact and
# batch lookups, near matches, retractions, feedback counts, alerts, records by id, and the
# policy verdicts (role, default, agreed, disputed, retracted, distance).
#
# Four nodes of one consortium: an agency (CTU) and three platforms. Records travel between
# them by export (GET /v1/records) and ingestion (POST /v1/records), as peers will send them.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
make_node p platform "Platform A"
make_node q platform "Platform B"
make_node r platform "Platform C"
# node init gives each node the members log as it was then: give every node the final one.
for n in a p q r; do cp "$TMP/cons/members.jsonl" "$TMP/$n/members.jsonl"; done
for n in a p q r; do start_node "$TMP/$n" || finish; done

A=$TMP/a P=$TMP/p Q=$TMP/q R=$TMP/r

MD5=9e107d9d372bb6826bd81d3542a419d6
SHA=$(printf 'attack video' | sha256sum | cut -c1-64)
PDQ=$(rand_hex 32)
URL_IN='https://www.Example.COM/a/b?x=1#frag'
URL_NORM='example.com/a/b?x=1'
URL_HASH=$(printf '%s' "$URL_NORM" | sha256sum | cut -c1-64)

# ---- Status and members.
use_node "$A"
get /v1/status
expect_code "GET /v1/status answers 200" 200
expect_jq "status names the node's org and role" '.node.org + "/" + .node.role' "CTU/agency"
expect_jq "status gives the node's key" .node.key "$(node_key "$A")"
expect_jq "a fresh node holds only the 4 membership records" '[.records, .by_kind.membership, .by_kind.signal] | @tsv' $'4\t4\t0'
get /v1/members
expect_code "GET /v1/members answers 200" 200
expect_jq "members lists the 4 organisations with their roles" \
    '[.members[] | .org + ":" + .role] | sort | join(",")' \
    "CTU:agency,Platform A:platform,Platform B:platform,Platform C:platform"
expect_jq "no member is revoked; not_after is null" '[.members[] | select(.revoked or .not_after != null)] | length' 0
get /v1/peers
expect_jq "GET /v1/peers answers an empty list on a single node" '.peers | length' 0

# ---- Publishing.
post /v1/signals "{\"type\":\"md5\",\"value\":\"$MD5\",\"labels\":[\"attack_footage\",\"glorification\"],\"incident\":\"test-incident\",\"content_type\":\"video\",\"confidence\":90,\"verified\":true}"
expect_code "publish md5 answers 201" 201
expect_jq "the answer has id, seq and feed" '(.id | test("^[0-9a-f]{64}$")) and .seq == 1 and .feed == 5' true
ID_MD5=$(jqb .id)

post /v1/signals "{\"type\":\"sha256\",\"value\":\"$(echo "$SHA" | tr a-f A-F)\",\"labels\":[\"instructional\"]}"
expect_code "publish sha256 (upper-case hex) answers 201" 201
expect_jq "seq increases by one" .seq 2
ID_SHA=$(jqb .id)

post /v1/signals "{\"type\":\"pdq\",\"value\":\"$PDQ\",\"labels\":[\"attack_footage\"],\"content_type\":\"image\"}"
expect_code "publish pdq answers 201" 201
ID_PDQ=$(jqb .id)

post /v1/signals "{\"type\":\"url\",\"value\":\"$URL_IN\",\"labels\":[\"recruitment\"]}"
expect_code "publish url answers 201" 201
ID_URL=$(jqb .id)

B1=$(rand_hex 16) B2=$(rand_hex 16)
post /v1/signals "{\"signals\":[{\"type\":\"md5\",\"value\":\"$B1\"},{\"type\":\"md5\",\"value\":\"$B2\",\"labels\":[\"propaganda\"]}]}"
expect_code "publish a batch of 2 answers 201" 201
expect_jq "the batch answer lists both, in order, with seqs 5 and 6" '[.results[].seq] | @tsv' $'5\t6'
ID_B2=$(jqb '.results[1].id')

get /v1/status
expect_jq "status counts the signals by type" \
    '.signals_by_type | [.md5, .sha256, .pdq, .url, .vpdq] | @tsv' $'3\t1\t1\t1\t0'
expect_jq "status: 10 records, feed_last 10, pdq_index 1" '[.records, .feed_last, .pdq_index] | @tsv' $'10\t10\t1'

# ---- Exact lookups.
get "/v1/lookup?type=md5&value=$MD5"
expect_code "GET lookup md5 answers 200" 200
expect_jq "lookup md5: one match, verdict block" '[(.matches | length), .verdict] | @tsv' $'1\tblock'
expect_jq "the match carries id, labels, incident, origin, org and role" \
    '.matches[0] | [.id, (.labels | join(",")), .incident, .content_type, .confidence, .verified, .origin, .org, .role] | @tsv' \
    "$(printf '%s\t' "$ID_MD5" "attack_footage,glorification" test-incident video 90 true "$(node_key "$A")" CTU)agency"
expect_jq "the match is not retracted, has zero feedback and no distance" \
    '.matches[0] | [.retracted, (.retraction == null), .feedback.agree, .feedback.orgs_agree, has("distance")] | @tsv' \
    $'false\ttrue\t0\t0\tfalse'
expect_jq "an agency's verified signal blocks by rule verified" '.matches[0] | .verdict + "/" + .rule' "block/verified"
get "/v1/lookup?type=md5&value=$(echo $MD5 | tr a-f A-F)"
expect_jq "lookup accepts upper-case hex and answers lower-case" '[.value, (.matches | length)] | @tsv' "$MD5	1"
get "/v1/lookup?type=sha256&value=$SHA"
expect_jq "lookup sha256: the agency's signal blocks by rule role" \
    '[.verdict, .matches[0].rule, .matches[0].id] | @tsv' "block	role	$ID_SHA"
get "/v1/lookup?type=pdq&value=$PDQ"
expect_jq "lookup pdq (exact 256-bit equality) finds it" '[.verdict, .matches[0].id] | @tsv' "block	$ID_PDQ"
get "/v1/lookup?type=url&value=$(jq -rn --arg u 'http://example.com/a/b?x=1' '$u | @uri')"
expect_jq "lookup url: another spelling of the same address matches" '[.value, .matches[0].id] | @tsv' "$URL_HASH	$ID_URL"
get "/v1/lookup?type=url&value=$URL_HASH"
expect_jq "lookup url by the SHA-256 of the normalised URL matches" '.matches[0].id' "$ID_URL"
get "/v1/lookup?type=md5&value=$(rand_hex 16)"
expect_code "lookup of an unknown hash answers 200" 200
expect_jq "no match: matches [] and verdict allow" '[(.matches | length), .verdict] | @tsv' $'0\tallow'

post_noauth /v1/lookup "{\"queries\":[{\"type\":\"md5\",\"value\":\"$MD5\"},{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"},{\"type\":\"md5\",\"value\":\"$B2\"},{\"type\":\"url\",\"value\":\"$URL_IN\"}]}"
expect_code "POST /v1/lookup (a batch, no token needed) answers 200" 200
expect_jq "one result per query, in order" '[.results[] | .type + ":" + (.matches | length | tostring) + ":" + .verdict] | join(",")' \
    "md5:1:block,sha256:0:allow,md5:1:block,url:1:block"
expect_jq "the batch results carry the right ids" '[.results[0].matches[0].id, .results[2].matches[0].id] | @tsv' "$ID_MD5	$ID_B2"

# ---- Near matches.
NEAR=$(flip_bits "$PDQ" 6)
FAR=$(flip_bits "$PDQ" 40)
post_noauth /v1/match "{\"hashes\":[\"$NEAR\"]}"
expect_code "POST /v1/match answers 200" 200
expect_jq "a hash 6 bits away matches at distance 6, verdict block" \
    '[.max_distance, .results[0].hash, .results[0].verdict, .results[0].matches[0].id, .results[0].matches[0].distance] | @tsv' \
    "31	$NEAR	block	$ID_PDQ	6"
post_noauth /v1/match "{\"hash\":\"$NEAR\",\"max_distance\":5}"
expect_jq "max_distance 5 excludes a hash 6 bits away" '[.max_distance, (.results[0].matches | length), .results[0].verdict] | @tsv' $'5\t0\tallow'
post_noauth /v1/match "{\"type\":\"pdq\",\"hash\":\"$NEAR\",\"max_distance\":6}"
expect_jq "max_distance 6 includes it" '.results[0].matches[0].distance' 6
post_noauth /v1/match "{\"hashes\":[\"$FAR\",\"$PDQ\"]}"
expect_jq "a hash 40 bits away does not match with the default 31; the exact one is at distance 0" \
    '[(.results[0].matches | length), .results[1].matches[0].distance] | @tsv' $'0\t0'
post_noauth /v1/match "{\"hash\":\"$FAR\",\"max_distance\":64}"
expect_jq "with max_distance 64 it matches, but only for review (rule distance)" \
    '.results[0] | [.matches[0].distance, .verdict, .matches[0].rule] | @tsv' $'40\treview\tdistance'

# A second pdq 3 bits from the first: matches come nearest first.
PDQ2=$(flip_bits "$PDQ" 3)
post /v1/signals "{\"type\":\"pdq\",\"value\":\"$PDQ2\"}"
ID_PDQ2=$(jqb .id)
post_noauth /v1/match "{\"hash\":\"$PDQ\"}"
expect_jq "two matches, nearest first" '[.results[0].matches[] | .distance] | @tsv' $'0\t3'

# A query given as a list of hashes (an image's dihedral variants, say) is one query: each
# record once, at its nearest hash, whose index in the list is "variant".
post_noauth /v1/match "{\"hashes\":[[\"$FAR\",\"$NEAR\"]]}"
expect_code "a list query answers 200" 200
expect_jq "... matched through the second hash: distance:variant:id, nearest first" \
    '[.results[0].matches[] | "\(.distance):\(.variant):\(.id)"] | join(",")' "3:1:$ID_PDQ2,6:1:$ID_PDQ"
expect_jq "... the result names the first hash and lists them all" \
    '[.results[0].hash, (.results[0].hashes | join(",")), .results[0].verdict] | @tsv' "$FAR	$FAR,$NEAR	block"
post_noauth /v1/match "{\"hashes\":[[\"$PDQ\",\"$NEAR\"],\"$NEAR\"]}"
expect_jq "each record once, a tie going to the earlier hash; a plain hash beside it has no variant" \
    '[(.results[0].matches | map("\(.distance):\(.variant)") | join(",")), (.results[1].matches | map(has("variant")) | any), (.results[1] | has("hashes"))] | @tsv' \
    $'0:0,3:0\tfalse\tfalse'
post_noauth /v1/match "{\"hash\":[\"$NEAR\"]}"
expect_jq "hash may be a list too" '.results[0].matches | map("\(.distance):\(.variant)") | join(",")' "3:0,6:0"
post_noauth /v1/match "{\"hashes\":[$(printf '"%s",' "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ")\"$PDQ\"]}"
expect_code "nine plain hashes are fine" 200
post_noauth /v1/match "{\"hashes\":[\"$PDQ\",[$(printf '"%s",' "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ" "$PDQ")\"$PDQ\"]]}"
expect_err "a list of nine hashes: 400 naming it" 400 invalid_field "hashes[1]"
post_noauth /v1/match "{\"hashes\":[[\"$PDQ\",[\"$PDQ\"]]]}"
expect_err "a list inside a list: 400" 400 invalid_field "hashes[0][1]"
post_noauth /v1/match "{\"hashes\":[[\"$PDQ\",\"xyz\"]]}"
expect_err "a bad hash in a list: 400 naming it" 400 invalid_field "hashes[0][1]" xyz
post_noauth /v1/match "{\"hashes\":[[]]}"
expect_err "an empty list: 400" 400 invalid_field "hashes[0]"
BIG=$(jq -cn --arg p "$PDQ" '{hashes: [range(126) | [range(8) | $p]]}')
post_noauth /v1/match "$BIG"
expect_err "more than 1,000 hashes in all, variants counted: 413" 413 too_many hashes

# A batch of more than 64 hashes is looked up on the worker pool: the same answers.
BATCH=$(for i in $(seq 1 99); do rand_hex 32; echo; done | jq -R . | jq -cs --arg n "$NEAR" --arg p "$PDQ" '{hashes: (.[0:70] + [$n] + .[70:] + [[$n, $p]])}')
post_noauth /v1/match "$BATCH"
expect_code "a batch of 101 queries (102 hashes) answers 200" 200
expect_jq "... one result per query, the planted ones matched as a single query would be" \
    '[(.results | length), (.results[70].matches | map("\(.distance):\(.id)") | join(",")), (.results[100].matches | map("\(.distance):\(.variant)") | join(",")), ([.results[].matches | length] | add)] | @tsv' \
    "101	3:$ID_PDQ2,6:$ID_PDQ	0:1,3:0	4"

# ---- Alerts.
# The alert carries hashes of its own: the signals an alert carries match like signals.
APDQ=$(rand_hex 32)
AMD5=$(rand_hex 16)
post /v1/alerts "{\"incident\":\"test-incident\",\"level\":\"content_incident\",\"detector\":\"livestream-v2\",\"detector_version\":\"2.1.0\",\"score\":0.97,\"signals\":[{\"type\":\"pdq\",\"value\":\"$APDQ\"},{\"type\":\"md5\",\"value\":\"$AMD5\"}],\"note\":\"live stream\"}"
expect_code "POST /v1/alerts answers 201" 201
ID_ALERT=$(jqb .id)
get "/v1/records/$ID_ALERT"
expect_code "GET /v1/records/{alert id} answers 200" 200
expect_jq "the alert's body keeps every field" \
    '[.kind, .body.incident, .body.level, .body.detector, .body.detector_version, .body.score, (.body.signals | length), .body.signals[0].value, .body.note] | @tsv' \
    "alert	test-incident	content_incident	livestream-v2	2.1.0	0.97	2	$APDQ	live stream"
get /v1/status
expect_jq "status counts the alert" .by_kind.alert 1
get "/v1/lookup?type=md5&value=$AMD5"
expect_jq "an md5 the alert carries is found, naming the alert; an agency's alert confirms its incident, which blocks" \
    '[.verdict, .matches[0].kind, .matches[0].id, .matches[0].incident_state.confirmed, .matches[0].rule] | @tsv' \
    "block	alert	$ID_ALERT	true	incident"
post_noauth /v1/match "{\"hash\":\"$APDQ\"}"
expect_jq "a pdq the alert carries is near-matched, naming the alert" '[.results[0].matches[] | "\(.kind):\(.id):\(.distance)"] | join(",")' "alert:$ID_ALERT:0"

# ---- Records by id.
get "/v1/records/$ID_MD5"
expect_code "GET /v1/records/{id} answers 200" 200
expect_jq "the record: kind, origin, org, role, seq, feed, signed bytes" \
    '[.id, .kind, .origin, .org, .role, .seq, .feed, (.record | test("^[0-9a-f]+$")), (.prev | length)] | @tsv' \
    "$ID_MD5	signal	$(node_key "$A")	CTU	agency	1	5	true	64"
expect_jq "the signal's body under the input names" \
    '.body | [.type, .value, (.labels | join(",")), .incident, .content_type, .confidence, .verified, (.expires == null)] | @tsv' \
    "md5	$MD5	attack_footage,glorification	test-incident	video	90	true	true"
REC_HEX=$(jqb .record)
expect_eq "id = SHA-256(record bytes)" "$ID_MD5" "$(printf '%s' "$REC_HEX" | unhex | sha256sum | cut -c1-64)"
expect_jq "a signal's record carries retracted and feedback" '[.retracted, (.feedback | type)] | @tsv' $'false\tobject'
get "/v1/records/$ID_SHA"
expect_jq "the second record's prev is the first's id" '.prev' "$ID_MD5"
get "/v1/records/$(rand_hex 32)"
expect_err "an unknown record id answers 404 not_found" 404 not_found
get "/v1/records/not-an-id"
expect_err "a malformed record id answers 400 invalid_field naming id" 400 invalid_field id not-an-id
get "/v1/records/$(rand_hex 31)"
expect_err "a record id of 62 hex digits answers 400" 400 invalid_field id

# ---- Retractions.
post /v1/retractions "{\"target\":\"$ID_MD5\",\"reason\":\"false positive\"}"
expect_code "POST /v1/retractions answers 201" 201
ID_RETR=$(jqb .id)
get "/v1/lookup?type=md5&value=$MD5"
expect_jq "after retraction the md5 is still found, retracted, with the retraction's id" \
    '.matches[0] | [.retracted, .retraction] | @tsv' "true	$ID_RETR"
expect_jq "a retracted record never blocks: verdict allow, rule retracted" \
    '[.verdict, .matches[0].verdict, .matches[0].rule] | @tsv' $'allow\tallow\tretracted'
get "/v1/records/$ID_RETR"
expect_jq "the retraction record names its target and reason" '[.kind, .body.target, .body.reason] | @tsv' "retraction	$ID_MD5	false positive"
post /v1/retractions "{\"target\":\"$ID_PDQ\"}"
expect_code "retracting the pdq answers 201" 201
post_noauth /v1/match "{\"hash\":\"$PDQ\"}"
expect_jq "the retracted pdq is no longer matched; the other one still is" '[.results[0].matches[] | .id] | join(",")' "$ID_PDQ2"
get /v1/status
expect_jq "status: 2 retracted, pdq_index 2 (a signal's and the alert's)" '[.retracted, .pdq_index] | @tsv' $'2\t2'
post /v1/retractions "{\"target\":\"$ID_MD5\"}"
expect_err "retracting twice answers 422 rejected" 422 rejected
post /v1/retractions "{\"target\":\"$(rand_hex 32)\"}"
expect_err "retracting an unknown record answers 422 rejected" 422 rejected
expect_jq "... with reason bad_target" .error.reason bad_target

# ---- Policy across organisations. Platform A publishes; B and C give feedback.
use_node "$P"
PMD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$PMD5\",\"labels\":[\"glorification\"]}"
expect_code "platform A publishes an md5" 201
ID_P=$(jqb .id)
get "/v1/lookup?type=md5&value=$PMD5"
expect_jq "a platform's signal with no agreement: review by rule default" '[.verdict, .matches[0].rule, .matches[0].role] | @tsv' $'review\tdefault\tplatform'
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"verified\":true}"
expect_err "a platform may not publish a verified signal: 422 rejected" 422 rejected
expect_jq "... with reason role" .error.reason role

before=$(status_field .feed_last)
post /v1/signals "{\"signals\":[{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"verified\":true}]}"
# docs/api.md: validation is all-or-nothing, but a valid item that breaks an acceptance rule is
# reported in its place and the others are written (they share one transaction).
expect_code "a batch with one item the node refuses (verified on a platform): 201" 201
expect_jq "... the valid item accepted, the other rejected with reason role" \
    '[.results[0].status, .results[1].status, .results[1].reason] | @tsv' $'accepted\trejected\trole'
expect_eq "... and exactly one record written" "$((before + 1))" "$(status_field .feed_last)"
before=$(status_field .feed_last)
post /v1/signals "{\"signals\":[{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"zz\"}]}"
expect_err "a batch with one invalid item: 400 naming it" 400 invalid_field
expect_jq "... the field is signals[1].value" .error.field 'signals[1].value'
expect_eq "... and nothing is written" "$before" "$(status_field .feed_last)"
# Platform A's records reach B, C and the agency.
for n in "$Q" "$R" "$A"; do
    copy_records "$P" "$n"
    expect_code "$(basename "$n") ingests platform A's records (200)" 200
    expect_jq "$(basename "$n"): nothing rejected or held, A's signal accepted" \
        "[.rejected, .held, ([.results[] | select(.id == \"$ID_P\") | .status] | join(\",\"))] | @tsv" $'0\t0\taccepted'
done
copy_records "$P" "$Q"
expect_jq "ingesting the same records again: all duplicates" '[.accepted, .duplicate == (.results | length)] | @tsv' $'0\ttrue'

use_node "$Q"
post /v1/feedback "{\"target\":\"$ID_P\",\"verdict\":\"seen\"}"
expect_code "platform B posts feedback seen (201)" 201
get "/v1/lookup?type=md5&value=$PMD5"
expect_jq "B sees its own feedback counted" '.matches[0].feedback | [.seen, .agree] | @tsv' $'1\t0'
post /v1/feedback "{\"target\":\"$ID_P\",\"verdict\":\"agree\",\"note\":\"confirmed\"}"
expect_code "platform B changes its feedback to agree (201)" 201
ID_FB_Q=$(jqb .id)
get "/v1/lookup?type=md5&value=$PMD5"
expect_jq "B's latest verdict replaces its earlier one" '.matches[0].feedback | [.seen, .agree, .orgs_agree] | @tsv' $'0\t1\t1'
expect_jq "one agreeing organisation is not enough: still review" '.verdict' review
get "/v1/records/$ID_FB_Q"
expect_jq "the feedback record names target, verdict and note" '[.kind, .body.target, .body.verdict, .body.note] | @tsv' "feedback	$ID_P	agree	confirmed"
use_node "$R"
post /v1/feedback "{\"target\":\"$ID_P\",\"verdict\":\"agree\"}"
expect_code "platform C posts feedback agree (201)" 201

# B's and C's feedback travel back to A.
copy_records "$Q" "$P"
expect_jq "A accepts B's records" '[.rejected, .held] | @tsv' $'0\t0'
copy_records "$R" "$P"
expect_jq "A accepts C's records" '[.rejected, .held] | @tsv' $'0\t0'
use_node "$P"
get "/v1/lookup?type=md5&value=$PMD5"
expect_jq "A counts both organisations' agreement" '.matches[0].feedback | [.agree, .orgs_agree, .orgs_dispute] | @tsv' $'2\t2\t0'
expect_jq "two agreeing organisations: block by rule agreed" '[.verdict, .matches[0].rule] | @tsv' $'block\tagreed'
get "/v1/records/$ID_P"
expect_jq "GET /v1/records/{id} shows the same feedback counts" '[.feedback.agree, .feedback.orgs_agree] | @tsv' $'2\t2'

# Disputes: B and C call an agency record a false positive / disagree.
use_node "$A"
ASHA=$(rand_hex 32)
post /v1/signals "{\"type\":\"sha256\",\"value\":\"$ASHA\"}"
ID_A2=$(jqb .id)
copy_records "$A" "$Q"
expect_jq "B accepts the agency's records" '[.rejected, .held] | @tsv' $'0\t0'
copy_records "$A" "$R"
use_node "$Q"
post /v1/feedback "{\"target\":\"$ID_A2\",\"verdict\":\"false_positive\"}"
expect_code "B: feedback false_positive (201)" 201
get "/v1/lookup?type=sha256&value=$ASHA"
expect_jq "one dispute: the agency's signal still blocks (rule role)" '[.verdict, .matches[0].rule, .matches[0].feedback.false_positive] | @tsv' $'block\trole\t1'
use_node "$R"
post /v1/feedback "{\"target\":\"$ID_A2\",\"verdict\":\"disagree\"}"
copy_records "$Q" "$R"
get "/v1/lookup?type=sha256&value=$ASHA"
expect_jq "two disputing organisations: review by rule disputed" \
    '[.verdict, .matches[0].rule, .matches[0].feedback.orgs_dispute, .matches[0].feedback.disagree, .matches[0].feedback.false_positive] | @tsv' \
    $'review\tdisputed\t2\t1\t1'

# A platform may not retract another member's record.
use_node "$Q"
post /v1/retractions "{\"target\":\"$ID_P\"}"
expect_err "B retracting A's record: 422 rejected" 422 rejected
expect_jq "... with reason bad_target" .error.reason bad_target

# ---- Times, expiry, HEAD.
use_node "$A"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"expires\":\"2030-01-01T01:00:00.5+01:00\"}"
get "/v1/records/$(jqb .id)"
expect_jq "an expiry with an offset is given back in UTC with milliseconds" .body.expires "2030-01-01T00:00:00.500Z"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"expires\":1893456000000}"
get "/v1/records/$(jqb .id)"
expect_jq "an expiry in milliseconds since the epoch is accepted" .body.expires "2030-01-01T00:00:00.000Z"
EXP_MD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$EXP_MD5\",\"expires\":\"2020-01-01T00:00:00Z\"}"
expect_code "a signal that has already expired is accepted" 201
get "/v1/lookup?type=md5&value=$EXP_MD5"
expect_jq "an expired agency signal no longer blocks: allow, rule expired" '[.verdict, .matches[0].rule] | @tsv' $'allow\texpired'
hd=$(curl -s -I --max-time 5 "$U/v1/status" | tr -d '\r')
check "HEAD /v1/status answers 200" grep -q '^HTTP/1.1 200' <<<"$hd"
expect_eq "... with no body" "" "$(curl -s --head --max-time 5 -o /dev/null -w '%{size_download}' "$U/v1/status" | tr -d 0)"

# ---- The acceptance rules across nodes: gaps, equivocation, revocation.
# Records past a gap are held until the gap fills.
use_node "$R"
for i in 1 2; do post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"; done
get "/v1/records?limit=1000"
rkey=$(node_key "$R")
mapfile -t RREC < <(jqb "[.records[] | select(.origin == \"$rkey\")] | sort_by(.seq) | .[].record")
mapfile -t RIDS < <(jqb "[.records[] | select(.origin == \"$rkey\")] | sort_by(.seq) | .[].id")
NR=${#RREC[@]}
expect_eq "(platform C has 4 records of its own: 2 feedback, 2 signals)" 4 "$NR"
use_node "$A"
post /v1/records "{\"records\":[\"${RREC[NR - 1]}\"]}"
expect_jq "C's seq $NR alone is held (past a gap)" '[.held, .results[0].status] | @tsv' $'1\theld'
expect_eq "status counts it as held" 1 "$(status_field .held)"
get "/v1/records/${RIDS[NR - 1]}"
expect_code "a held record is not yet served" 404
post /v1/records "{\"records\":$(printf '%s\n' "${RREC[@]:0:NR-1}" | jq -Rsc 'split("\n") | map(select(. != ""))')}"
expect_jq "C's seq 1 to $((NR - 1)) fill the gap: accepted" '[.accepted, .held, .rejected] | @tsv' "$((NR - 1))	0	0"
expect_eq "the held record is released (held 0)" 0 "$(status_field .held)"
get "/v1/records/${RIDS[NR - 1]}"
expect_jq "the released record is served, with seq $NR" .seq "$NR"

# A node whose store was lost signs a second, different record at seq 1: an equivocation.
make_node e platform "Platform E"
E=$TMP/e
start_node "$E" || finish
use_node "$E"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
get "/v1/records/$(jqb .id)"
REC_X=$(jqb .record)
stop_node "$E"
rm -rf "$E/db"
start_node "$E" || finish
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_jq "the node with a wiped store signs seq 1 again" .seq 1
get "/v1/records/$(jqb .id)"
REC_Y=$(jqb .record)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
get "/v1/records/$(jqb .id)"
REC_Z=$(jqb .record)
use_node "$A"
ekey=$(node_key "$E")
post /v1/records "{\"records\":[$(tail -n 1 "$TMP/cons/members.jsonl" | jq -c .record)]}"
expect_jq "the agency ingests E's membership from the consortium's log" .accepted 1
post /v1/records "{\"records\":[\"$REC_X\"]}"
expect_jq "E's first seq 1 is accepted" .accepted 1
post /v1/records "{\"records\":[\"$REC_Y\"]}"
expect_jq "E's second seq 1 is rejected as an equivocation" '[.rejected, .results[0].reason] | @tsv' $'1\tequivocation'
get /v1/status
expect_jq "status lists E as frozen at seq 1" "[.frozen[] | select(.origin == \"$ekey\") | .seq] | @tsv" 1
post /v1/records "{\"records\":[\"$REC_Z\"]}"
expect_jq "E's later records are rejected: frozen" '[.rejected, .results[0].reason] | @tsv' $'1\tfrozen'
get /metrics
check "metrics count the frozen origin" grep -qE '^gifnet_frozen_origins 1$' <<<"$BODY"

# Revocation: the root removes platform C; its later records are refused.
"$GIFCTL" member revoke --consortium "$TMP/cons" --key "$rkey" --reason "integration test" >"$TMP/revoke.out" 2>&1
check "gifctl member revoke" grep -qE '[0-9a-f]{64}' "$TMP/revoke.out"
post /v1/records "{\"records\":[$(tail -n 1 "$TMP/cons/members.jsonl" | jq -c .record)]}"
expect_jq "the agency ingests the revocation" .accepted 1
get /v1/members
expect_jq "members shows C revoked, with the time" \
    "[.members[] | select(.key == \"$rkey\") | .revoked, (.revoked_at != null)] | @tsv" $'true\ttrue'
use_node "$R"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
get "/v1/records/$(jqb .id)"
REC_R4=$(jqb .record)
use_node "$A"
post /v1/records "{\"records\":[\"$REC_R4\"]}"
expect_jq "a record C signed after its revocation is rejected: revoked" '[.rejected, .results[0].reason] | @tsv' $'1\trevoked'
get "/v1/records/${RIDS[0]}"
expect_code "C's records from before the revocation stay" 200

# ---- Metrics.
use_node "$A"
get /metrics
expect_code "GET /metrics answers 200" 200
check "metrics count md5 lookups" grep -qE '^gifnet_lookups_total\{type="md5"\} [1-9]' <<<"$BODY"
check "metrics count records by kind" grep -qE '^gifnet_records_total\{kind="signal"\} [1-9]' <<<"$BODY"
check "metrics give the pdq index size" grep -qE '^gifnet_pdq_index_size 2$' <<<"$BODY"
check "metrics count 201 answers" grep -qE '^gifnet_http_requests_total\{code="201"\} [1-9]' <<<"$BODY"

for n in a p q r e; do stop_node "$TMP/$n"; done
finish
