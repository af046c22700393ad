#!/usr/bin/env bash
# The webhook (docs/api.md "Webhooks", docs/operations.md [webhook]) end to end: a platform's
# node delivers an agency's alert, incident record and blocking signal to a receiver that
# checks every signature (tests/integration/webhook_sink.c), alerts and incident records ahead
# of signals; its own platform signal (review by default) is not delivered; 500s are retried
# and counted; with the receiver gone, deliveries dead-letter after max_attempts while the node
# keeps serving; a full queue dead-letters signals (an alert displaces a waiting one, never the
# one in flight); a stalled receiver does not hold up a stop; records already stored are not
# delivered again at start; a malformed [webhook] section refuses start.
source "$(dirname "$0")/lib.sh"

: "${WEBHOOK_SINK:?set WEBHOOK_SINK to the webhook_sink test helper}"

SECRET=whsec-integration-0123456789

make_consortium
make_node a agency CTU
make_node p platform "Platform A"
sync_members
A=$TMP/a P=$TMP/p

# start_sink NAME ARGS...: a receiver in the background; sets SINK_PID and SINK_PORT.
start_sink() {
    local name=$1
    shift
    rm -f "$TMP/$name.port"
    "$WEBHOOK_SINK" --secret "$SECRET" --out "$TMP/$name.jsonl" --port-file "$TMP/$name.port" \
        "$@" 2>"$TMP/$name.log" &
    SINK_PID=$!
    BG_PIDS+=("$SINK_PID")
    wait_for 5 test -s "$TMP/$name.port" || { fail "webhook_sink $name starts" "$(cat "$TMP/$name.log")"; finish; }
    SINK_PORT=$(cat "$TMP/$name.port")
}

# metric NAME_AND_LABELS: the value of one sample of GET /metrics on the node in use.
metric() {
    curl -s --max-time 5 "$U/metrics" | awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }'
}

lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
lines_ge() { [ "$(lines "$1")" -ge "$2" ]; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }

# ---- A malformed [webhook] section refuses start, with a message naming the key.
cp "$P/gifd.ini" "$TMP/p.ini.good"
ini_set "$P" webhook url "http://127.0.0.1:9/hook"
expect_rc "gifd refuses a webhook url without a secret" 1 "$GIFD" --config "$P/gifd.ini"
check "the message says the secret is required" grep -q '\[webhook\] secret: required when url is set' "$TMP/err"
ini_set "$P" webhook secret "$SECRET"
ini_set "$P" webhook url "https://127.0.0.1:9/hook"
expect_rc "gifd refuses an https webhook url" 1 "$GIFD" --config "$P/gifd.ini"
check "the message names [webhook] url and says https is not supported" \
    grep -q '\[webhook\] url: .https://127.0.0.1:9/hook.: https is not supported' "$TMP/err"
ini_set "$P" webhook url "http://127.0.0.1:9/hook"
ini_set "$P" webhook events "alerts, everything"
expect_rc "gifd refuses an unknown event" 1 "$GIFD" --config "$P/gifd.ini"
check "the message quotes the unknown event" grep -q "\[webhook\] events: 'everything' is not an event" "$TMP/err"
ini_set "$P" webhook events "alerts, blocking_signals, incidents"
ini_set "$P" webhook retries 3
expect_rc "gifd refuses an unknown [webhook] key" 1 "$GIFD" --config "$P/gifd.ini"
check "the message names the unknown key" grep -q '\[webhook\] retries: unknown key' "$TMP/err"
check_not "the secret never appears in a message" grep -rq "$SECRET" "$TMP/err" "$TMP/out"
cp "$TMP/p.ini.good" "$P/gifd.ini"

# ---- Deliveries: the receiver answers 500 to its first two requests.
start_sink sink1 --fail 2
ini_set "$P" webhook url "http://127.0.0.1:$SINK_PORT/gifnet/hook?src=it"
ini_set "$P" webhook secret "$SECRET"
ini_set "$P" webhook max_attempts 3
ini_set "$P" webhook timeout_ms 1000
start_node "$A" || finish
start_node "$P" || finish

use_node "$P"
get /v1/webhook
expect_jq "GET /v1/webhook shows the configuration (no secret), an empty queue" \
    '[.enabled, .url, (.events | join(",")), .max_attempts, .queue, (tostring | contains("whsec"))] | @tsv' \
    "$(printf 'true\thttp://127.0.0.1:%s/gifnet/hook?src=it\talert,blocking_signal,incident\t3\t0\tfalse' "$SINK_PORT")"

# The platform's own signal: review under the default policy, so not a blocking signal.
PMD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$PMD5\"}"
expect_code "the platform publishes a signal" 201
ID_PSIG=$(jqb .id)
get "/v1/lookup?type=md5&value=$PMD5"
expect_jq "the platform's signal is review here" .verdict review

use_node "$A"
post /v1/alerts '{"incident":"it-hook","level":"content_incident","detector":"livestream-v2","detector_version":"2.1.0","score":0.97,"signals":[{"type":"md5","value":"'"$(rand_hex 16)"'"}]}'
expect_code "the agency raises an alert" 201
ID_ALERT=$(jqb .id)
AMD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$AMD5\",\"labels\":[\"attack_footage\"],\"incident\":\"it-hook\"}"
expect_code "the agency publishes a signal" 201
ID_ASIG=$(jqb .id)
post /v1/incidents '{"incident":"it-hook","action":"escalate","level":"content_incident_protocol","note":"verified"}'
expect_code "the agency escalates the incident" 201
ID_INC=$(jqb .id)

# The agency's records reach the platform in one batch, in feed order: alert, signal, incident.
copy_records "$A" "$P"
expect_code "the platform ingests the agency's records" 200
use_node "$P"
get "/v1/lookup?type=md5&value=$AMD5"
expect_jq "the agency's signal is block on the platform" .verdict block

check "three deliveries arrive within 20 s (two 500s retried)" wait_for 20 lines_ge "$TMP/sink1.jsonl" 3
sleep 1
OUTF=$TMP/sink1.jsonl
expect_eq "exactly three verified deliveries" 3 "$(lines "$OUTF")"
expect_eq "alert and incident record go ahead of the blocking signal" "alert incident blocking_signal" \
    "$(jq -r .event "$OUTF" | paste -sd' ')"
expect_eq "each carries the record it is about" "$ID_ALERT $ID_INC $ID_ASIG" \
    "$(jq -r .record.id "$OUTF" | paste -sd' ')"
expect_eq "each names the delivering node" "$(node_key "$P") $(node_key "$P") $(node_key "$P")" \
    "$(jq -r .node "$OUTF" | paste -sd' ')"
expect_eq "delivery ids are 32 hex digits, all different" 3 \
    "$(jq -r '.delivery | select(test("^[0-9a-f]{32}$"))' "$OUTF" | sort -u | wc -l | tr -d ' ')"
expect_eq "the record is the API's record JSON (the signal's verdict is block)" "block CTU agency" \
    "$(jq -r 'select(.event == "blocking_signal") | .record | "\(.verdict) \(.org) \(.role)"' "$OUTF")"
expect_eq "the alert's body is there" "it-hook content_incident livestream-v2" \
    "$(jq -r 'select(.event == "alert") | .record.body | "\(.incident) \(.level) \(.detector)"' "$OUTF")"
expect_eq "the incident record's body is there" "escalate content_incident_protocol" \
    "$(jq -r 'select(.event == "incident") | .record.body | "\(.action) \(.level)"' "$OUTF")"
check_not "the platform's own (review) signal is not delivered" grep -q "$ID_PSIG" "$OUTF"
expect_eq "the sink answered 500 twice, then verified every request" "2 3" \
    "$(grep -c 'answering 500' "$TMP/sink1.log") $(grep -c 'verified' "$TMP/sink1.log")"
D1=$(jq -r 'select(.event == "alert") | .delivery' "$OUTF")
check "the X-Gifnet-Delivery header is the body's delivery id" grep -q "(alert $D1) verified" "$TMP/sink1.log"

expect_eq "attempts: 3 for the alert, 1 each for the others" "3 1 1" \
    "$(metric 'gifnet_webhook_attempts_total{event="alert"}') $(metric 'gifnet_webhook_attempts_total{event="incident"}') $(metric 'gifnet_webhook_attempts_total{event="blocking_signal"}')"
expect_eq "failures: the two 500s" "2 0" \
    "$(metric 'gifnet_webhook_failures_total{event="alert"}') $(metric 'gifnet_webhook_failures_total{event="blocking_signal"}')"
expect_eq "delivered: one of each" "1 1 1" \
    "$(metric 'gifnet_webhook_delivered_total{event="alert"}') $(metric 'gifnet_webhook_delivered_total{event="incident"}') $(metric 'gifnet_webhook_delivered_total{event="blocking_signal"}')"
expect_eq "queue gauge 0, no dead letters" "0 0" \
    "$(metric gifnet_webhook_queue) $(metric 'gifnet_webhook_dead_letters_total{event="alert",reason="attempts"}')"
get /v1/webhook
expect_jq "GET /v1/webhook counts them, no dead letters" \
    '[.delivered.alert, .attempts.alert, .failures.alert, (.dead | length), .state, (.last_delivered != null)] | @tsv' \
    $'1\t3\t2\t0\tidle\ttrue'

# The receiver's check is real: a wrong signature, or an old timestamp, is refused.
BODY_T='{"event":"alert"}'
TS=$(date +%s)
SIG=$(printf '%s.%s' "$TS" "$BODY_T" | openssl dgst -sha256 -hmac "wrong-secret-0123456789" | sed 's/.*= //')
req POST "http://127.0.0.1:$SINK_PORT/x" "$BODY_T" -H "X-Gifnet-Timestamp: $TS" -H "X-Gifnet-Signature: sha256=$SIG"
expect_code "the sink refuses a signature made with another secret" 401
OLD=$((TS - 600))
SIG=$(printf '%s.%s' "$OLD" "$BODY_T" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/.*= //')
req POST "http://127.0.0.1:$SINK_PORT/x" "$BODY_T" -H "X-Gifnet-Timestamp: $OLD" -H "X-Gifnet-Signature: sha256=$SIG"
expect_code "the sink refuses a right signature 10 minutes old (a replay)" 401
SIG=$(printf '%s.%s' "$TS" "$BODY_T" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/.*= //')
req POST "http://127.0.0.1:$SINK_PORT/x" "$BODY_T" -H "X-Gifnet-Timestamp: $TS" -H "X-Gifnet-Signature: sha256=$SIG"
expect_code "and accepts the same body signed as documented" 204

# ---- The receiver is gone: after max_attempts (3) the delivery is dead-lettered.
{ kill -KILL "$SINK_PID" && wait "$SINK_PID"; } 2>/dev/null
use_node "$A"
post /v1/alerts '{"incident":"it-hook","level":"content_incident","detector":"livestream-v2","detector_version":"2.1.0","score":0.5,"signals":[]}'
expect_code "the agency raises a second alert" 201
ID_ALERT2=$(jqb .id)
copy_records "$A" "$P"
use_node "$P"
check "the delivery is dead-lettered within 15 s" \
    wait_for 15 metric_is 'gifnet_webhook_dead_letters_total{event="alert",reason="attempts"}' 1
get /v1/webhook
expect_jq "GET /v1/webhook lists the dead letter: record, reason, attempts, error" \
    '.dead[0] | [.record, .event, .reason, .attempts, (.error | test("connect|refused"))] | @tsv' \
    "$(printf '%s\talert\tattempts\t3\ttrue' "$ID_ALERT2")"
DEAD_ID=$(jqb '.dead[0].delivery')
check "the log names the dead-lettered delivery" grep -q "delivery $DEAD_ID dead-lettered (attempts)" "$P/gifd.log"
expect_eq "attempts and failures for alerts: 3 + 3, 2 + 3" "6 5" \
    "$(metric 'gifnet_webhook_attempts_total{event="alert"}') $(metric 'gifnet_webhook_failures_total{event="alert"}')"
get "/v1/lookup?type=md5&value=$AMD5"
expect_jq "the node keeps answering lookups" .verdict block
get /v1/status
expect_code "and its status" 200

# ---- A receiver that stalls does not hold up a stop; stored records are not delivered again.
stop_node "$P"
start_sink sink2 --hang
ini_set "$P" webhook url "http://127.0.0.1:$SINK_PORT/hook"
ini_set "$P" webhook timeout_ms 60000
ini_set "$P" webhook queue_max 2
start_node "$P" || finish
use_node "$P"
sleep 1
expect_eq "a restart delivers nothing already stored (no replay)" 0 "$(grep -c 'sink: request' "$TMP/sink2.log")"
use_node "$A"
post /v1/alerts '{"incident":"it-hook","level":"situational_awareness","detector":"d","detector_version":"1","score":0.1,"signals":[]}'
ID_ALERT3=$(jqb .id)
copy_records "$A" "$P"
check "the new alert's delivery reaches the stalled receiver" wait_for 10 grep -q 'hanging as told' "$TMP/sink2.log"
use_node "$P"
get /v1/webhook
expect_jq "GET /v1/webhook shows it in flight" '[.state, .queue, .next.attempts] | @tsv' $'sending\t1\t1'

# The queue holds 2 (the alert in flight and one more): of three blocking signals, one waits and
# two overflow; a later alert then takes the waiting signal's place.
use_node "$A"
post /v1/signals "{\"signals\":[{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"},{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}]}"
expect_code "the agency publishes three more signals" 201
ID_S1=$(jqb '.results[0].id')
copy_records "$A" "$P"
use_node "$P"
expect_eq "two signals overflow the queue" 2 \
    "$(metric 'gifnet_webhook_dead_letters_total{event="blocking_signal",reason="overflow"}')"
expect_eq "the queue gauge is at queue_max" 2 "$(metric gifnet_webhook_queue)"
check "an overflow is logged with its delivery id" grep -qE 'delivery [0-9a-f]{32} dead-lettered \(overflow\): blocking_signal' "$P/gifd.log"
use_node "$A"
post /v1/alerts '{"incident":"it-hook","level":"situational_awareness","detector":"d","detector_version":"1","score":0.2,"signals":[]}'
ID_ALERT4=$(jqb .id)
copy_records "$A" "$P"
use_node "$P"
get /v1/webhook
expect_jq "a new alert displaces the waiting signal (dead-lettered: overflow), not the one in flight" \
    '[.queue, .next.delivery != null, .dead[0].record, .dead[0].reason, .dead_letters.blocking_signal] | @tsv' \
    "$(printf '2\ttrue\t%s\toverflow\t3' "$ID_S1")"
check "the receiver still holds only the one request in flight" test "$(grep -c 'sink: request' "$TMP/sink2.log")" = 1
T0=$(date +%s%N)
stop_node "$P"
T1=$(date +%s%N)
check "the stop took under 5 s with a delivery in flight" test $(((T1 - T0) / 1000000)) -lt 5000
check "the undelivered delivery is logged at stop" grep -q 'dead-lettered (stopped): alert of record '"$ID_ALERT3" "$P/gifd.log"
check "so is the alert that waited" grep -q 'dead-lettered (stopped): alert of record '"$ID_ALERT4" "$P/gifd.log"
check "and counted" grep -q '2 deliveries undelivered at stop' "$P/gifd.log"

finish
