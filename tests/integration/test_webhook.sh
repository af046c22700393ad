#!/usr/bin/env bash
# The webhook (docs/api.md "Webhooks", docs/operations.md [webhook]) end to end: a platform's
# node delivers an agency's alert, incident record and blocking signal to a receiver that
# checks every signature (tests/integration/webhook_sink.c), alerts and incident records ahead
# of signals; its own platform signal (review by default) is not delivered; 500s are retried
# and counted; with the receiver gone, deliveries dead-letter after max_attempts while the node
# keeps serving; a full queue dead-letters signals (an alert displaces a waiting one, never the
# one in flight); a stalled receiver does not hold up a stop; records already stored are not
# delivered again at start; a malformed [webhook] section refuses start.
# Over https (a CA and receiver certificates made here with the openssl CLI): delivery with the
# CA configured; a signal that turns block later (feedback, an incident's escalation) delivered
# once; 1,100 signals under one incident (more than one turn of the loop re-decides, and than
# the 1,000 records an escalation once re-decided at most) escalated: each delivered once, the
# API answering meanwhile; a receiver whose certificate does not verify (not from a trusted CA,
# not for the host, the system trust store without the test CA) is refused: the attempts fail
# with the reason, dead letters are counted, the node keeps serving.
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
ini_set "$P" webhook url "ftp://127.0.0.1:9/hook"
expect_rc "gifd refuses a webhook url that is neither http nor https" 1 "$GIFD" --config "$P/gifd.ini"
check "the message names [webhook] url and quotes it" \
    grep -q '\[webhook\] url: .ftp://127.0.0.1:9/hook.: not an http:// or https:// URL' "$TMP/err"
ini_set "$P" webhook url "http://127.0.0.1:9/hook"
ini_set "$P" webhook ca_file "$TMP/no-such-ca.pem"
expect_rc "gifd refuses a ca_file with an http url" 1 "$GIFD" --config "$P/gifd.ini"
check "the message says ca_file is for https" grep -q '\[webhook\] ca_file: only used with an https:// url' "$TMP/err"
ini_set "$P" webhook url "https://127.0.0.1:9/hook"
expect_rc "gifd refuses a ca_file that does not exist" 1 "$GIFD" --config "$P/gifd.ini"
check "the message names the file and why" grep -q "\[webhook\] ca_file: $TMP/no-such-ca.pem: cannot open: No such file" "$TMP/err"
echo "not a certificate" >"$TMP/not-a-ca.pem"
ini_set "$P" webhook ca_file "$TMP/not-a-ca.pem"
expect_rc "gifd refuses a ca_file that holds no certificate" 1 "$GIFD" --config "$P/gifd.ini"
check "the message says no certificate could be read from it" grep -q "ca_file: $TMP/not-a-ca.pem: no PEM certificate could be read" "$TMP/err"
sed -i '/^ca_file = /d' "$P/gifd.ini"
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

# ---- https. A test CA; receiver certificates for 127.0.0.1 from it, for another host from it,
# and one self-signed for 127.0.0.1.
TLSD=$TMP/tls
mkdir -p "$TLSD"
mkcert() { # NAME SAN: a P-256 key and a certificate for SAN, issued by the test CA
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLSD/$1.key" \
        -out "$TLSD/$1.csr" -subj "/CN=webhook receiver" 2>>"$TLSD/openssl.log" &&
        printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$2" >"$TLSD/$1.ext" &&
        openssl x509 -req -in "$TLSD/$1.csr" -CA "$TLSD/ca.crt" -CAkey "$TLSD/ca.key" -CAcreateserial \
            -days 2 -out "$TLSD/$1.crt" -extfile "$TLSD/$1.ext" 2>>"$TLSD/openssl.log"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLSD/ca.key" \
    -out "$TLSD/ca.crt" -days 2 -subj "/CN=gifnet test webhook CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$TLSD/openssl.log"
mkcert good "IP:127.0.0.1"
mkcert otherhost "DNS:receiver.example,IP:127.0.0.2"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLSD/self.key" \
    -out "$TLSD/self.crt" -days 2 -subj "/CN=webhook receiver" -addext "subjectAltName=IP:127.0.0.1" 2>>"$TLSD/openssl.log"
check "the test certificates are made (openssl CLI)" \
    openssl verify -CAfile "$TLSD/ca.crt" "$TLSD/good.crt" "$TLSD/otherhost.crt"

start_sink sink3 --cert "$TLSD/good.crt" --key "$TLSD/good.key"
ini_set "$P" webhook url "https://127.0.0.1:$SINK_PORT/tls-hook"
ini_set "$P" webhook ca_file "$TLSD/ca.crt"
ini_set "$P" webhook timeout_ms 3000
ini_set "$P" webhook max_attempts 2
ini_set "$P" webhook queue_max 2000 # 1,100 signals below are queued at once
# One agreeing organisation makes a record block here, so that the agency's feedback alone
# turns a platform's signal block.
ini_set "$P" policy block_min_agree 1
start_node "$P" || finish
use_node "$P"
check "the log says TLS and names the CA file" grep -q "delivering .* to https://127.0.0.1:$SINK_PORT/tls-hook (TLS, trusting $TLSD/ca.crt)" "$P/gifd.log"
get /v1/webhook
expect_jq "GET /v1/webhook shows the https url and the CA file" '[.url, .ca_file] | @tsv' \
    "$(printf 'https://127.0.0.1:%s/tls-hook\t%s' "$SINK_PORT" "$TLSD/ca.crt")"

use_node "$A"
post /v1/alerts '{"incident":"it-tls","level":"situational_awareness","detector":"d","detector_version":"1","score":0.3,"signals":[]}'
ID_TLS_ALERT=$(jqb .id)
copy_records "$A" "$P"
OUT3=$TMP/sink3.jsonl
check "the alert is delivered over https" wait_for 10 lines_ge "$OUT3" 1
expect_eq "the receiver verified it: the alert it is about" "alert $ID_TLS_ALERT" "$(jq -r '"\(.event) \(.record.id)"' "$OUT3" | head -1)"
check "the receiver's side was TLS 1.2 or 1.3" grep -qE 'sink: TLS: TLSv1\.[23]' "$TMP/sink3.log"
check_not "no handshake failed" grep -q 'TLS handshake failed' "$TMP/sink3.log"

# ---- Signals that turn blocking later (over https still). Feedback: the platform's signal is
# review; the agency agrees with it; with block_min_agree 1 it now blocks and is delivered,
# once (a second agreement changes nothing).
use_node "$P"
LMD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$LMD5\"}"
expect_code "the platform publishes a signal" 201
ID_LATER=$(jqb .id)
get "/v1/lookup?type=md5&value=$LMD5"
expect_jq "it is review here at first" .verdict review
copy_records "$P" "$A"
use_node "$A"
post /v1/feedback "{\"target\":\"$ID_LATER\",\"verdict\":\"agree\"}"
expect_code "the agency agrees with it" 201
copy_records "$A" "$P"
use_node "$P"
get "/v1/lookup?type=md5&value=$LMD5"
expect_jq "it is block now (agreed)" '[.verdict, .matches[0].rule] | @tsv' $'block\tagreed'
check "it is delivered as a blocking signal" wait_for 10 grep -q "\"id\":\"$ID_LATER\"" "$OUT3"
expect_eq "as blocking_signal, with its verdict and rule now" "blocking_signal block agreed" \
    "$(jq -r "select(.record.id == \"$ID_LATER\") | \"\(.event) \(.record.verdict) \(.record.rule)\"" "$OUT3")"
use_node "$A"
post /v1/feedback "{\"target\":\"$ID_LATER\",\"verdict\":\"agree\"}"
expect_code "the agency agrees again" 201
copy_records "$A" "$P"

# Escalation: a platform's signal filed under an incident that only a platform's detector has
# raised (review); the agency escalates the incident to content_incident: it blocks (rule
# incident) and is delivered once, alongside the incident record; a second escalation delivers
# the incident record and not the signal again.
use_node "$P"
post /v1/alerts '{"incident":"it-later","level":"situational_awareness","detector":"upload-scan","detector_version":"3","score":0.8,"signals":[]}'
expect_code "the platform's detector raises an alert" 201
EMD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$EMD5\",\"incident\":\"it-later\"}"
expect_code "the platform files a signal under the incident" 201
ID_ESC=$(jqb .id)
get "/v1/lookup?type=md5&value=$EMD5"
expect_jq "it is review (the incident is not confirmed)" .verdict review
copy_records "$P" "$A"
use_node "$A"
post /v1/incidents '{"incident":"it-later","action":"escalate","level":"content_incident","note":"verified"}'
expect_code "the agency escalates the incident" 201
ID_ESC_INC=$(jqb .id)
copy_records "$A" "$P"
use_node "$P"
get "/v1/lookup?type=md5&value=$EMD5"
expect_jq "the signal is block now (incident)" '[.verdict, .matches[0].rule] | @tsv' $'block\tincident'
check "the escalated signal is delivered" wait_for 10 grep -q "\"id\":\"$ID_ESC\"" "$OUT3"
check "so is the incident record" wait_for 10 grep -q "\"id\":\"$ID_ESC_INC\"" "$OUT3"
use_node "$A"
post /v1/incidents '{"incident":"it-later","action":"escalate","level":"content_incident_protocol","note":"spreading"}'
ID_ESC_INC2=$(jqb .id)
copy_records "$A" "$P"
check "the second escalation is delivered" wait_for 10 grep -q "\"id\":\"$ID_ESC_INC2\"" "$OUT3"
sleep 1
expect_eq "the signal turned block by feedback was delivered once" 1 "$(grep -c "\"id\":\"$ID_LATER\"" "$OUT3")"
expect_eq "the signal turned block by the escalation was delivered once" 1 "$(grep -c "\"id\":\"$ID_ESC\"" "$OUT3")"
expect_eq "the escalated signal's delivery says block, rule incident" "blocking_signal block incident" \
    "$(jq -r "select(.record.id == \"$ID_ESC\") | \"\(.event) \(.record.verdict) \(.record.rule)\"" "$OUT3")"
use_node "$P"
get /v1/webhook
expect_jq "GET /v1/webhook counts the re-decisions: 2 feedback, 2 newly blocking, none cut" \
    '.blocking | [.feedback, .turned_blocking, .cut, (.incident_changes >= 2), (.rechecked >= 1), (.checks >= 2)] | @tsv' \
    $'2\t2\t0\ttrue\ttrue\ttrue'
expect_eq "nothing dead-lettered over https" "0 0" \
    "$(metric 'gifnet_webhook_dead_letters_total{event="blocking_signal",reason="attempts"}') $(metric 'gifnet_webhook_dead_letters_total{event="alert",reason="attempts"}')"

# More signals under one incident than one turn of the loop re-decides (100 records a turn,
# node/webhook.h): a platform files 1,100 (two requests, a batch holds 1,000 at most) under an
# incident its detector raised (review); the agency escalates it. Every one of the 1,100 is
# delivered, once, and the node answers requests all along.
use_node "$P"
post /v1/alerts '{"incident":"it-many","level":"situational_awareness","detector":"upload-scan","detector_version":"3","score":0.8,"signals":[]}'
expect_code "the platform's detector raises an alert for a second incident" 201
copy_records "$P" "$A" # the agency learns of the incident (its feed stays under 1,000 records)
: >"$TMP/many.ids"
for k in 1000 100; do
    rand_hex $((16 * k)) | fold -w32 |
        jq -R -s -c '{signals: [split("\n")[] | select(length == 32) | {type: "md5", value: ., incident: "it-many"}]}' \
            >"$TMP/many.json"
    post /v1/signals "@$TMP/many.json"
    expect_code "the platform files $k signals under it in one request" 201
    jqb '.results[].id' >>"$TMP/many.ids"
done
sort -o "$TMP/many.ids" "$TMP/many.ids"
expect_eq "1,100 signals published" 1100 "$(sort -u "$TMP/many.ids" | wc -l | tr -d ' ')"
MANY_MD5=$(jq -r '.signals[0].value' "$TMP/many.json")
get "/v1/lookup?type=md5&value=$MANY_MD5"
expect_jq "they are review (the incident is not confirmed)" .verdict review
get /v1/webhook
BLK0=$(jqb .blocking)
use_node "$A"
post /v1/incidents '{"incident":"it-many","action":"escalate","level":"content_incident","note":"verified"}'
expect_code "the agency escalates the second incident" 201
# A client asks the platform for its status back to back while the re-decision and the 1,100
# deliveries run: each answer's code and time.
(while [ ! -e "$TMP/many.stop" ]; do
    curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}\n' "$(node_url "$P")/v1/status"
done >"$TMP/many.probe") &
MANY_PROBE=$!
BG_PIDS+=("$MANY_PROBE")
copy_records "$A" "$P"
expect_code "the platform ingests the escalation" 200
use_node "$P"
get "/v1/lookup?type=md5&value=$MANY_MD5"
expect_jq "the node answers lookups at once: block now (incident)" '[.verdict, .matches[0].rule] | @tsv' $'block\tincident'
# many_delivered: how many of the 1,100 the receiver has verified, once or more.
many_delivered() {
    jq -r 'select(.event == "blocking_signal") | .record.id' "$OUT3" | sort -u | comm -12 - "$TMP/many.ids" | wc -l | tr -d ' '
}
many_all() { [ "$(many_delivered)" = 1100 ]; }
check "all 1,100 are delivered within 120 s" wait_for 120 many_all
sleep 1
touch "$TMP/many.stop"
wait "$MANY_PROBE"
expect_eq "each of the 1,100 exactly once" "1100 1100" \
    "$(many_delivered) $(jq -r 'select(.event == "blocking_signal") | .record.id' "$OUT3" | grep -cxFf "$TMP/many.ids")"
expect_eq "each as blocking_signal, block, rule incident" 1100 \
    "$(jq -r 'select(.event == "blocking_signal" and .record.verdict == "block" and .record.rule == "incident") | .record.id' "$OUT3" | grep -cxFf "$TMP/many.ids")"
check "the node answered status requests throughout" test "$(awk '$1 == 200' "$TMP/many.probe" | wc -l)" -ge 10
expect_eq "every one of them 200" "" "$(awk '$1 != 200' "$TMP/many.probe" | head -3)"
get /v1/webhook
expect_jq "GET /v1/webhook: one change, 1,100 re-decided and newly blocking, nothing pending or cut" \
    ".blocking | [.incident_changes - $(jq .incident_changes <<<"$BLK0"), .turned_blocking - $(jq .turned_blocking <<<"$BLK0"), (.rechecked - $(jq .rechecked <<<"$BLK0") >= 1100), .pending, .cut, (.recheck_max_ms > 0)] | @tsv" \
    $'1\t1100\ttrue\t0\t0\ttrue'

# ---- Receivers that must be refused. Each: the node's attempts fail with the reason, the
# delivery is dead-lettered after max_attempts (2), the node keeps serving.
# refused_case NAME DESCRIPTION ERROR_REGEX SINK_ARGS...
refused_case() {
    local name=$1 what=$2 want=$3
    shift 3
    stop_node "$P"
    start_sink "$name" "$@"
    ini_set "$P" webhook url "https://127.0.0.1:$SINK_PORT/tls-hook"
    start_node "$P" || finish
    use_node "$P"
    local before
    before=$(metric 'gifnet_webhook_dead_letters_total{event="alert",reason="attempts"}')
    use_node "$A"
    post /v1/alerts '{"incident":"it-tls","level":"situational_awareness","detector":"d","detector_version":"1","score":0.4,"signals":[]}'
    local id
    id=$(jqb .id)
    copy_records "$A" "$P"
    use_node "$P"
    check "$what: the delivery is dead-lettered" \
        wait_for 15 metric_is 'gifnet_webhook_dead_letters_total{event="alert",reason="attempts"}' "$((before + 1))"
    get /v1/webhook
    expect_jq "$what: the dead letter names the record, 2 attempts and the reason" \
        ".dead[0] | [.record, .attempts, (.error | test(\"$want\"))] | @tsv" "$(printf '%s\t2\ttrue' "$id")"
    expect_eq "$what: 2 failed attempts counted" "2 2" \
        "$(metric 'gifnet_webhook_attempts_total{event="alert"}') $(metric 'gifnet_webhook_failures_total{event="alert"}')"
    check "$what: the log gives the reason" grep -qE "webhook.*$want" "$P/gifd.log"
    check_not "$what: the receiver got no request" test -s "$TMP/$name.jsonl"
    get /v1/status
    expect_code "$what: the node keeps serving" 200
}
refused_case sink4 "a self-signed receiver certificate" "certificate does not verify: self-signed certificate" \
    --cert "$TLSD/self.crt" --key "$TLSD/self.key"
check "the receiver saw the node refuse its certificate (an alert in the handshake)" \
    grep -qE 'TLS handshake failed: .*(unknown ca|bad certificate)' "$TMP/sink4.log"
refused_case sink5 "a certificate for another host" "certificate is not for address '127.0.0.1'" \
    --cert "$TLSD/otherhost.crt" --key "$TLSD/otherhost.key"
check "the log warns that the receiver was refused" grep -q "refusing the receiver 127.0.0.1:$SINK_PORT: the server's certificate is not for address '127.0.0.1'" "$P/gifd.log"
sed -i '/^ca_file = /d' "$P/gifd.ini"
refused_case sink6 "the system trust store (the test CA is not in it)" "does not verify: unable to get local issuer certificate" \
    --cert "$TLSD/good.crt" --key "$TLSD/good.key"
check "the log says the system's CAs are trusted" grep -q "(TLS, trusting the system's CAs)" "$P/gifd.log"
get "/v1/lookup?type=md5&value=$EMD5"
expect_jq "lookups still answer after the refusals" .verdict block

finish
