#!/usr/bin/env bash
# Bad input of every class answers the documented 4xx with the JSON error naming the field and
# value (docs/api.md, "Errors"), writes nothing, and leaves the node serving: bad JSON, unknown
# and missing fields, bad hashes, types, labels, levels and verdicts, tokens, oversized bodies,
# headers and batches, unknown paths and methods, garbage on the socket, forged records.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
make_node s platform "Small Platform"
ini_set "$TMP/s" api max_body 2048
for n in a s; do cp "$TMP/cons/members.jsonl" "$TMP/$n/members.jsonl"; done
start_node "$TMP/a" || finish
start_node "$TMP/s" || finish
A=$TMP/a S=$TMP/s
use_node "$A"
MD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$MD5\"}"
expect_code "a valid signal is written first" 201
ID_OK=$(jqb .id)

# bad_write DESCRIPTION PATH BODY STATUS CODE [FIELD [VALUE]]: POSTs BODY with the token, expects
# the error, and checks that nothing was written (feed_last unchanged).
bad_write() {
    local desc=$1 path=$2 data=$3 before after
    shift 3
    before=$(status_field .feed_last)
    post "$path" "$data"
    expect_err "$desc" "$@"
    after=$(status_field .feed_last)
    [ "$before" = "$after" ] || fail "$desc: nothing is written" "feed_last went from $before to $after"
}
alive() { check "the node still answers ($1)" node_alive "$A"; }

# ---- Bodies that are not a JSON object.
bad_write "truncated JSON: 400 bad_json" /v1/signals '{"type":"md5",' 400 bad_json
bad_write "not JSON at all: 400 bad_json" /v1/signals 'type=md5&value=x' 400 bad_json
bad_write "a JSON array: 400 bad_json" /v1/signals '[{"type":"md5"}]' 400 bad_json
bad_write "a JSON string: 400 bad_json" /v1/signals '"md5"' 400 bad_json
bad_write "a JSON number: 400 bad_json" /v1/feedback '42' 400 bad_json
bad_write "an empty body: 400 bad_json" /v1/alerts '' 400 bad_json
bad_write "a duplicated key: 400 bad_json" /v1/signals "{\"type\":\"md5\",\"value\":\"$MD5\",\"value\":\"$MD5\"}" 400 bad_json
bad_write "invalid UTF-8: 400 bad_json" /v1/signals "$(printf '{"type":"md5","value":"\xff\xfe"}')" 400 bad_json
post_noauth /v1/lookup '{"queries":'
expect_err "POST /v1/lookup with bad JSON: 400 bad_json" 400 bad_json
post_noauth /v1/match 'null'
expect_err "POST /v1/match with null: 400 bad_json" 400 bad_json
alive "bad JSON"

# ---- Unknown and missing fields.
bad_write "an unknown field: 400 unknown_field naming it" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"colour\":\"red\"}" 400 unknown_field colour
bad_write "an unknown field in a batch item names the item" /v1/signals \
    "{\"signals\":[{\"type\":\"md5\",\"value\":\"$MD5\"},{\"type\":\"md5\",\"value\":\"$MD5\",\"x\":1}]}" \
    400 unknown_field "signals[1].x"
bad_write "an unknown top-level field next to signals" /v1/signals \
    "{\"signals\":[{\"type\":\"md5\",\"value\":\"$MD5\"}],\"extra\":true}" 400 unknown_field extra
bad_write "a missing value: 400 missing_field value" /v1/signals '{"type":"md5"}' 400 missing_field value
bad_write "a missing type: 400 missing_field type" /v1/signals "{\"value\":\"$MD5\"}" 400 missing_field type
bad_write "a retraction without target: 400 missing_field target" /v1/retractions '{"reason":"x"}' 400 missing_field target
bad_write "feedback without verdict: 400 missing_field verdict" /v1/feedback "{\"target\":\"$ID_OK\"}" 400 missing_field verdict
bad_write "an alert without level: 400 missing_field level" /v1/alerts '{"incident":"x"}' 400 missing_field level
bad_write "an alert without incident: 400 missing_field incident" /v1/alerts '{"level":"content_incident"}' 400 missing_field incident
bad_write "records without records: 400 missing_field records" /v1/records '{}' 400 missing_field records
post_noauth /v1/lookup '{}'
expect_err "POST /v1/lookup without queries: 400 missing_field queries" 400 missing_field queries
post_noauth /v1/lookup '{"queries":[],"x":1}'
expect_err "POST /v1/lookup with an unknown field: 400 unknown_field x" 400 unknown_field x
post_noauth /v1/match '{"max_distance":3}'
expect_err "POST /v1/match without hashes: 400 missing_field hashes" 400 missing_field hashes
alive "fields"

# ---- Bad values.
bad_write "an md5 of 30 hex digits: 400 invalid_field value" /v1/signals \
    '{"type":"md5","value":"0123456789abcdef0123456789abcd"}' 400 invalid_field value 0123456789abcdef0123456789abcd
bad_write "an md5 of 34 hex digits: 400 invalid_field value" /v1/signals \
    '{"type":"md5","value":"0123456789abcdef0123456789abcdef01"}' 400 invalid_field value 0123456789abcdef0123456789abcdef01
bad_write "a sha256 of 32 hex digits: 400 invalid_field value" /v1/signals \
    "{\"type\":\"sha256\",\"value\":\"$MD5\"}" 400 invalid_field value "$MD5"
bad_write "non-hex digits: 400 invalid_field value" /v1/signals \
    '{"type":"md5","value":"zz23456789abcdef0123456789abcdef"}' 400 invalid_field value zz23456789abcdef0123456789abcdef
bad_write "a pdq with a space: 400 invalid_field value" /v1/signals \
    "{\"type\":\"pdq\",\"value\":\" $(rand_hex 31)f\"}" 400 invalid_field value
bad_write "a number as value: 400 invalid_field value" /v1/signals '{"type":"md5","value":12}' 400 invalid_field value 12
bad_write "an unknown signal type: 400 invalid_field type" /v1/signals \
    "{\"type\":\"sha1\",\"value\":\"$MD5\"}" 400 invalid_field type sha1
bad_write "an unknown label: 400 invalid_field labels[1]" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"labels\":[\"propaganda\",\"cats\"]}" 400 invalid_field "labels[1]" cats
bad_write "a repeated label: 400 invalid_field labels[1]" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"labels\":[\"propaganda\",\"propaganda\"]}" 400 invalid_field "labels[1]" propaganda
bad_write "labels not a list: 400 invalid_field labels" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"labels\":\"propaganda\"}" 400 invalid_field labels propaganda
bad_write "an unknown content_type: 400 invalid_field content_type" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"content_type\":\"hologram\"}" 400 invalid_field content_type hologram
bad_write "confidence 101: 400 invalid_field confidence" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"confidence\":101}" 400 invalid_field confidence 101
bad_write "verified not a boolean: 400 invalid_field verified" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"verified\":\"yes\"}" 400 invalid_field verified yes
bad_write "a bad expiry time: 400 invalid_field expires" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$MD5\",\"expires\":\"next tuesday\"}" 400 invalid_field expires "next tuesday"
bad_write "a url that is not one: 400 invalid_field value" /v1/signals \
    '{"type":"url","value":"http://a b/"}' 400 invalid_field value "http://a b/"
bad_write "an unknown alert level: 400 invalid_field level" /v1/alerts \
    '{"incident":"x","level":"apocalyptic"}' 400 invalid_field level apocalyptic
bad_write "an alert score of 1.5: 400 invalid_field score" /v1/alerts \
    '{"incident":"x","level":"content_incident","score":1.5}' 400 invalid_field score 1.5
bad_write "an alert signal with a bad hash names it" /v1/alerts \
    '{"incident":"x","level":"content_incident","signals":[{"type":"md5","value":"00"}]}' 400 invalid_field "signals[0].value" 00
bad_write "an unknown feedback verdict: 400 invalid_field verdict" /v1/feedback \
    "{\"target\":\"$ID_OK\",\"verdict\":\"maybe\"}" 400 invalid_field verdict maybe
bad_write "a feedback target that is not an id: 400 invalid_field target" /v1/feedback \
    '{"target":"abc","verdict":"agree"}' 400 invalid_field target abc
bad_write "a retraction target that is not an id: 400 invalid_field target" /v1/retractions \
    '{"target":"xyz"}' 400 invalid_field target xyz
long=$(printf 'z%.0s' $(seq 1 300))
bad_write "a long bad value is quoted cut at 200 bytes" /v1/signals \
    "{\"type\":\"md5\",\"value\":\"$long\"}" 400 invalid_field value "${long:0:200}"
get "/v1/lookup?type=sha1&value=$MD5"
expect_err "GET lookup of an unknown type: 400 invalid_field type" 400 invalid_field type sha1
get "/v1/lookup?type=md5&value=xyz"
expect_err "GET lookup of a bad hash: 400 invalid_field value" 400 invalid_field value xyz
get "/v1/lookup?type=md5"
expect_err "GET lookup without value: 400 missing_field value" 400 missing_field value
get "/v1/lookup"
expect_err "GET lookup without anything: 400 missing_field type" 400 missing_field type
get "/v1/lookup?type=vpdq&value=$MD5"
expect_err "GET lookup of vpdq (no exact lookup): 400 invalid_field type" 400 invalid_field type vpdq
post_noauth /v1/lookup "{\"queries\":[{\"type\":\"md5\",\"value\":\"$MD5\"},{\"type\":\"md5\",\"value\":\"$MD5\"},{\"type\":\"md5\",\"value\":\"$MD5\"},{\"type\":\"md5\",\"value\":\"12\"}]}"
expect_err "a batch lookup with a bad 4th query names queries[3].value" 400 invalid_field "queries[3].value" 12
post_noauth /v1/lookup "{\"queries\":[{\"type\":\"crc32\",\"value\":\"$MD5\"}]}"
expect_err "a batch lookup with a bad type names queries[0].type" 400 invalid_field "queries[0].type" crc32
post_noauth /v1/match '{"hashes":["abc"]}'
expect_err "a bad match hash names hashes[0]" 400 invalid_field "hashes[0]" abc
post_noauth /v1/match "{\"hashes\":[\"$(rand_hex 32)\",\"nope\"]}"
expect_err "a bad second match hash names hashes[1]" 400 invalid_field "hashes[1]" nope
post_noauth /v1/match '{"hash":"abc"}'
expect_err "a bad single match hash names hash" 400 invalid_field hash abc
post_noauth /v1/match "{\"hash\":\"$(rand_hex 32)\",\"max_distance\":257}"
expect_err "max_distance 257: 400 invalid_field max_distance" 400 invalid_field max_distance 257
post_noauth /v1/match "{\"hash\":\"$(rand_hex 32)\",\"type\":\"md5\"}"
expect_err "near match of md5: 400 invalid_field type" 400 invalid_field type
alive "values"

# ---- Batches: one bad item writes nothing.
bad_write "a batch with one bad item (the 3rd) names it" /v1/signals \
    "{\"signals\":[{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"bad\"},{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}]}" \
    400 invalid_field "signals[2].value" bad
get "/v1/records?after=$(status_field '.feed_last - 1')"
expect_jq "... and the batch's good items were not written" '.records[0].id' "$ID_OK"
bad_write "an empty batch: 400 invalid_field signals" /v1/signals '{"signals":[]}' 400 invalid_field signals
bad_write "a batch item that is not an object: 400 bad_json" /v1/signals '{"signals":[7]}' 400 bad_json
big=$(jq -nc --arg h "$(rand_hex $((16 * 1001)))" '{signals: [range(1001) as $i | {type: "md5", value: $h[$i * 32:($i + 1) * 32]}]}')
echo "$big" >"$TMP/big.json"
bad_write "a batch of 1,001 signals: 413 too_many" /v1/signals "@$TMP/big.json" 413 too_many signals
jq -c '{queries: .signals}' "$TMP/big.json" >"$TMP/bigq.json"
post_noauth /v1/lookup "@$TMP/bigq.json"
expect_err "a lookup batch of 1,001: 413 too_many" 413 too_many queries
jq -c '{queries: .signals[0:1000]}' "$TMP/big.json" >"$TMP/q1000.json"
post_noauth /v1/lookup "@$TMP/q1000.json"
expect_jq "a lookup batch of exactly 1,000 answers 200 with 1,000 results" '.results | length' 1000
jq -c '{hashes: [.signals[] | .value + .value]}' "$TMP/big.json" >"$TMP/bigm.json"
post_noauth /v1/match "@$TMP/bigm.json"
expect_err "a match of 1,001 hashes: 413 too_many" 413 too_many hashes
jq -c '{records: [.signals[] | .value]}' "$TMP/big.json" >"$TMP/bigr.json"
bad_write "POST /v1/records with 1,001 records: 413 too_many" /v1/records "@$TMP/bigr.json" 413 too_many records
alive "batches"

# ---- Tokens.
before=$(status_field .feed_last)
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_err "a write without a token: 401 unauthorized" 401 unauthorized
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" -H "Authorization: Bearer wrong-token-0123456789"
expect_err "a write with a wrong token: 401 unauthorized" 401 unauthorized
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" -H "Authorization: Bearer ${TOK%?}"
expect_err "a write with the token minus its last character: 401" 401 unauthorized
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" -H "Authorization: Bearer ${TOK}x"
expect_err "a write with the token plus a character: 401" 401 unauthorized
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" -H "Authorization: Basic $TOK"
expect_err "a write with another scheme: 401" 401 unauthorized
req POST "$U/v1/signals" "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" -H "Authorization: Bearer $(node_token "$S")"
expect_err "a write with another node's token: 401" 401 unauthorized
for p in /v1/alerts /v1/retractions /v1/feedback /v1/records; do
    req POST "$U$p" '{}'
    expect_err "POST $p without a token: 401 unauthorized" 401 unauthorized
done
hdr=$(curl -s -o /dev/null -D - -X POST --data-binary '{}' "$U/v1/signals" | tr -d '\r' | grep -i '^www-authenticate:')
expect_eq "a 401 carries WWW-Authenticate: Bearer" "www-authenticate: bearer" "$(tr A-Z a-z <<<"$hdr")"
expect_eq "401s wrote nothing (feed_last unchanged)" "$before" "$(status_field .feed_last)"
alive "tokens"

# ---- Size limits.
use_node "$S"
small=$(jq -nc --arg h "$(rand_hex $((16 * 20)))" '{signals: [range(20) as $i | {type: "md5", value: $h[$i * 32:($i + 1) * 32]}]}')
expect_eq "(a 20-signal batch is under 2048 bytes)" 1 "$([ ${#small} -lt 2048 ] && echo 1)"
post /v1/signals "$small"
expect_code "a body under [api] max_body (2048) is accepted" 201
before=$(status_field .feed_last)
large=$(jq -nc --arg h "$(rand_hex $((16 * 40)))" '{signals: [range(40) as $i | {type: "md5", value: $h[$i * 32:($i + 1) * 32]}]}')
post /v1/signals "$large"
expect_err "a body over [api] max_body: 413 payload_too_large" 413 payload_too_large
expect_eq "... nothing written" "$before" "$(status_field .feed_last)"
ans=$(printf 'POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{"type":' "$TOK" >"$TMP/cl.req"; raw_send "$(node_port "$S")" "$TMP/cl.req")
check "a Content-Length over max_body is refused at once with 413" grep -q '^HTTP/1.1 413' <<<"$ans"
ans=$(printf 'POST /v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n%s\r\n800\r\n%s\r\n0\r\n\r\n' "$(head -c 2048 /dev/zero | tr '\0' ' ')" "$(head -c 2048 /dev/zero | tr '\0' ' ')" >"$TMP/chunk.req"; raw_send "$(node_port "$S")" "$TMP/chunk.req")
check "a chunked body over max_body is refused with 413" grep -q '^HTTP/1.1 413' <<<"$ans"
check "the small node still answers" node_alive "$S"

use_node "$A"
pad=$(head -c 17000 /dev/zero | tr '\0' a)
get /v1/status -H "X-Padding: $pad"
expect_err "a header over 16 KiB: 431 header_too_large" 431 header_too_large
hdrs=()
for i in $(seq 1 20); do hdrs+=(-H "X-Pad-$i: ${pad:0:900}"); done
get /v1/status "${hdrs[@]}"
expect_err "20 headers of 900 bytes (18 KiB in all): 431" 431 header_too_large
get "/v1/lookup?type=md5&value=${pad}"
expect_err "a request line over 16 KiB: 431" 431 header_too_large
hdrs=()
for i in $(seq 1 14); do hdrs+=(-H "X-Pad-$i: ${pad:0:1000}"); done
get /v1/status "${hdrs[@]}"
expect_code "headers of 14 KiB in all are fine (200)" 200
alive "size limits"

# ---- Paths and methods.
get /v1/nothing
expect_err "an unknown path: 404 not_found" 404 not_found
get /
expect_err "GET /: 404 not_found" 404 not_found
get /v2/status
expect_err "GET /v2/status: 404 not_found" 404 not_found
get /v1/signals
expect_err "GET /v1/signals: 405 method_not_allowed" 405 method_not_allowed
allow=$(curl -s -o /dev/null -D - "$U/v1/signals" | tr -d '\r' | sed -n 's/^[Aa]llow: //p')
expect_eq "... with Allow: POST" "POST" "$allow"
post /v1/status '{}'
expect_err "POST /v1/status: 405 method_not_allowed" 405 method_not_allowed
req DELETE "$U/v1/records/$ID_OK" ""
expect_err "DELETE /v1/records/{id}: 405 method_not_allowed" 405 method_not_allowed
req PUT "$U/v1/lookup" '{}'
expect_err "PUT /v1/lookup: 405 method_not_allowed" 405 method_not_allowed
allow=$(curl -s -o /dev/null -D - -X PUT "$U/v1/lookup" | tr -d '\r' | sed -n 's/^[Aa]llow: //p')
expect_eq "... with Allow: GET, HEAD, POST" "GET, HEAD, POST" "$allow"
alive "paths"

# ---- Garbage on the socket.
PORT_A=$(node_port "$A")
head -c 4096 /dev/urandom >"$TMP/garbage"
ans=$(raw_send "$PORT_A" "$TMP/garbage")
check "random bytes are answered 400 (or the connection is closed)" bash -c '[ -z "$1" ] || grep -qE "^HTTP/1.1 4(00|31)" <<<"$1"' _ "$ans"
alive "random bytes"
printf 'GET /v1/status HTTP/9.9\r\n\r\n' >"$TMP/g1"
check "an unsupported HTTP version is answered 400 (or 505)" grep -qE '^HTTP/1.1 (400|505)' <<<"$(raw_send "$PORT_A" "$TMP/g1")"
printf 'HELLO\r\n\r\n' >"$TMP/g2"
check "a request line without a path is answered 400" grep -q '^HTTP/1.1 400' <<<"$(raw_send "$PORT_A" "$TMP/g2")"
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n' >"$TMP/g3"
check "a header line without a colon is answered 400" grep -q '^HTTP/1.1 400' <<<"$(raw_send "$PORT_A" "$TMP/g3")"
printf 'POST /v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789' >"$TMP/g4"
check "two Content-Lengths are answered 400" grep -q '^HTTP/1.1 400' <<<"$(raw_send "$PORT_A" "$TMP/g4")"
printf 'POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"ty' >"$TMP/g5"
raw_send "$PORT_A" "$TMP/g5" 0.3 >/dev/null
alive "a request cut short"
printf '\0\0\0\0\r\n\r\n' >"$TMP/g6"
raw_send "$PORT_A" "$TMP/g6" >/dev/null
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$TMP/g7"
ans=$(raw_send "$PORT_A" "$TMP/g7")
check "two pipelined requests get two answers (200 then 404)" \
    bash -c '[ "$(grep -oE "^HTTP/1.1 [0-9]{3}" <<<"$1" | tr "\n" " ")" = "HTTP/1.1 200 HTTP/1.1 404 " ]' _ "$ans"
# Many connections opened and dropped at once.
drops=()
for i in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT_A" && printf 'GET /v1/sta' >&3) 2>/dev/null &
    drops+=($!)
done
wait "${drops[@]}"
alive "garbage"

# ---- Forged records.
use_node "$A"
get "/v1/records/$ID_OK"
REC=$(jqb .record)
n=${#REC}
# Flip the last byte of the signature (the record's last 64 bytes).
last=${REC: -2}
FORGED=${REC:0:n-2}$(printf '%02x' $((16#$last ^ 1)))
FORGED_ID=$(printf '%s' "$FORGED" | unhex | sha256sum | cut -c1-64)
# And a record whose body was changed under a valid signature: flip a byte of the md5 value.
i=$(grep -bo "$MD5" <<<"$REC" | head -1 | cut -d: -f1)
b=${REC:i:2}
ALTERED=${REC:0:i}$(printf '%02x' $((16#$b ^ 0x80)))${REC:i+2}
use_node "$S"
before=$(status_field .feed_last)
post /v1/records "{\"records\":[\"$FORGED\"]}"
expect_code "POST /v1/records with a forged signature answers 200" 200
expect_jq "... it is rejected with reason bad_signature" \
    '[.accepted, .rejected, .results[0].status, .results[0].reason] | @tsv' $'0\t1\trejected\tbad_signature'
post /v1/records "{\"records\":[\"$ALTERED\"]}"
expect_jq "a record altered under its signature is rejected: bad_signature" \
    '[.rejected, .results[0].reason] | @tsv' $'1\tbad_signature'
expect_eq "forged records are not stored (feed_last unchanged)" "$before" "$(status_field .feed_last)"
get "/v1/records/$FORGED_ID"
expect_code "the forged record's id is unknown (404)" 404
get "/v1/lookup?type=md5&value=$MD5"
expect_jq "the forged signal is not found by lookup" '.matches | length' 0
get /metrics
check "metrics count the bad_signature rejects" grep -qE '^gifnet_rejects_total\{reason="bad_signature"\} [1-9]' <<<"$BODY"
post /v1/records "{\"records\":[\"$(rand_hex 100)\"]}"
expect_jq "random bytes as a record are rejected" '[.rejected, .results[0].status] | @tsv' $'1\trejected'
bad_write "a record that is not hex: 400 invalid_field records[0]" /v1/records \
    '{"records":["zz"]}' 400 invalid_field "records[0]"
bad_write "a record of odd length: 400 invalid_field records[1]" /v1/records \
    "{\"records\":[\"$REC\",\"abc\"]}" 400 invalid_field "records[1]"
post /v1/records "{\"records\":[\"$REC\"]}"
expect_jq "the genuine record is accepted after all that" '[.accepted, .results[0].id] | @tsv' "1	$ID_OK"
use_node "$A"
post /v1/records "{\"records\":[\"$FORGED\"]}"
expect_jq "the origin node also rejects its own record forged" '.results[0].reason' bad_signature

# Event streams whose clients are gone: publishing afterwards must cost those streams, not
# the process. (The server notices these closes by reading; gifd also ignores SIGPIPE for
# writes that race a reset, which this check does not reach deterministically.)
use_node "$A"
port=$(node_port "$A")
for i in $(seq 1 5); do
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
        printf 'GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n' >&3
        timeout 1 head -c 20 <&3 >/dev/null
        exec 3>&- 3<&-
    ) 2>/dev/null
done
for i in 1 2 3 4; do post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"; done
check "the node survives writing events to streams whose clients left" node_alive "$A"

check "the node still answers at the end" node_alive "$A"
check "the small node still answers at the end" node_alive "$S"
stop_node "$A"
stop_node "$S"
finish
