#!/usr/bin/env bash
# The resumable feed (GET /v1/records?after=&limit=) and server-sent events (GET /v1/events):
# pages cover every record exactly once and in order, cursors survive a restart, a live client
# receives new records, and a client resuming with Last-Event-ID (or ?after=) receives exactly
# what it missed.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
start_node "$TMP/a" || finish
use_node "$TMP/a"

# 150 signals in one batch, then 3 alone: 154 records with the membership.
sigs=$(for i in $(seq 1 150); do printf '{"type":"md5","value":"%s"}\n' "$(rand_hex 16)"; done | jq -cs '{signals: .}')
post /v1/signals "$sigs"
expect_code "a batch of 150 signals is written (201)" 201
for i in 1 2 3; do post /v1/signals "{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"}"; done
expect_code "3 more signals are written" 201
TOTAL=154
get /v1/status
expect_jq "status: 154 records, feed_last 154" '[.records, .feed_last] | @tsv' "$TOTAL	$TOTAL"

# ---- The feed.
get /v1/records
expect_code "GET /v1/records answers 200" 200
expect_jq "without limit a page holds 100 records, more is true, next is the 100th cursor" \
    '[(.records | length), .more, .next, .records[99].feed] | @tsv' $'100\ttrue\t100\t100'
expect_jq "the feed starts with the membership, then the signals" '[.records[0].kind, .records[1].kind] | @tsv' $'membership\tsignal'
get "/v1/records?limit=1000"
ALL_IDS=$(jqb '.records[].id')
expect_jq "limit 1000 returns all 154 records, more false" '[(.records | length), .more, .next] | @tsv' "$TOTAL	false	$TOTAL"
expect_jq "feed positions run 1..154 without a gap" '[.records[].feed] == [range(1; 155)]' true
expect_eq "every record appears once" "$TOTAL" "$(sort -u <<<"$ALL_IDS" | wc -l | tr -d ' ')"

# Walk in pages of 7, keeping the cursor after the 5th page for after the restart.
after=0 pages=0 walked="" mid="" mid_ids=""
while :; do
    get "/v1/records?after=$after&limit=7"
    [ "$CODE" = 200 ] || { fail "a feed page answers 200" "$CODE $BODY"; break; }
    n=$(jqb '.records | length')
    walked+=$(jqb '.records[].id')$'\n'
    pages=$((pages + 1))
    more=$(jqb .more)
    next=$(jqb .next)
    [ "$pages" = 5 ] && mid=$next
    [ "$pages" = 6 ] && mid_ids=$(jqb '.records[].id')
    if [ "$more" != true ]; then break; fi
    [ "$n" = 7 ] || { fail "a page with more=true is full" "$BODY"; break; }
    after=$next
    [ "$pages" -gt 100 ] && { fail "the feed walk ends"; break; }
done
expect_eq "pages of 7: 22 pages" 22 "$pages"
expect_eq "the pages cover every record exactly once, in feed order" "$ALL_IDS" "$(sed '/^$/d' <<<"$walked")"
expect_eq "the last page's next is the last cursor" "$TOTAL" "$next"
get "/v1/records?after=147&limit=7"
expect_jq "a page that ends exactly at the last record says more false" '[(.records | length), .more, .next] | @tsv' "7	false	$TOTAL"
get "/v1/records?after=$TOTAL"
expect_jq "after the last cursor: no records, more false, next unchanged" '[(.records | length), .more, .next] | @tsv' "0	false	$TOTAL"
get "/v1/records?after=999999"
expect_jq "a cursor beyond the end: no records" '[(.records | length), .more] | @tsv' $'0\tfalse'
get "/v1/records?limit=0"
expect_err "limit 0: 400 invalid_field limit" 400 invalid_field limit 0
get "/v1/records?limit=1001"
expect_err "limit 1001: 400 invalid_field limit" 400 invalid_field limit 1001
get "/v1/records?after=abc"
expect_err "after=abc: 400 invalid_field after" 400 invalid_field after abc
get "/v1/records?after=-1"
expect_err "after=-1: 400 invalid_field after" 400 invalid_field after -1

# ---- Cursors across a restart.
stop_node "$TMP/a"
start_node "$TMP/a" || finish
get "/v1/records?after=$mid&limit=7"
expect_eq "after a restart the saved cursor gives the same page" "$mid_ids" "$(jqb '.records[].id')"
get "/v1/records?limit=1000"
expect_eq "after a restart the whole feed is the same" "$ALL_IDS" "$(jqb '.records[].id')"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_jq "a record written after the restart continues the feed" .feed $((TOTAL + 1))
NEW_ID=$(jqb .id)
get "/v1/records?after=$TOTAL"
expect_jq "the old last cursor now gives exactly the new record" '[(.records | length), .records[0].id, .more] | @tsv' "1	$NEW_ID	false"
TOTAL=$((TOTAL + 1))

# ---- Events.
# sse_start FILE [CURL_ARGS...]: a background events client writing to FILE.
sse_start() {
    local f=$1
    shift
    curl -sN --max-time 60 "$@" "$U/v1/events" >"$f" 2>/dev/null &
    BG_PIDS+=($!)
    SSE_PID=$!
}
sse_stop() { { kill "$SSE_PID" && wait "$SSE_PID"; } 2>/dev/null; return 0; }
sse_count() { grep -c '^id: ' "$1"; }
# sse_has FILE N: FILE holds at least N events.
sse_has() { [ "$(sse_count "$1")" -ge "$2" ]; }
clients_are() { [ "$(curl -s "$U/metrics" | sed -n 's/^gifnet_events_clients //p')" = "$1" ]; }
# sse_ids FILE: the events' ids; sse_data FILE FILTER: jq FILTER over each event's data.
sse_ids() { sed -n 's/^id: //p' "$1"; }
sse_data() { sed -n 's/^data: //p' "$1" | jq -r "$2"; }

sse_start "$TMP/ev1"
check "an events client is connected (gifnet_events_clients 1)" wait_for 10 clients_are 1
expect_eq "a new client without Last-Event-ID receives no old records" 0 "$(sse_count "$TMP/ev1")"
ids=()
for i in 1 2 3; do
    post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\",\"labels\":[\"propaganda\"]}"
    ids+=("$(jqb .id)")
done
post /v1/alerts '{"incident":"feed-test","level":"situational_awareness"}'
ids+=("$(jqb .id)")
check "the client receives the 4 new records" wait_for 10 sse_has "$TMP/ev1" 4
expect_eq "event ids are the records' feed cursors" "$(seq $((TOTAL + 1)) $((TOTAL + 4)))" "$(sse_ids "$TMP/ev1")"
expect_eq "event data carries the records, in order" "$(printf '%s\n' "${ids[@]}")" "$(sse_data "$TMP/ev1" .id)"
expect_eq "event names are the kinds" "$(printf 'signal\nsignal\nsignal\nalert')" "$(sed -n 's/^event: //p' "$TMP/ev1")"
expect_eq "event data's feed equals the event id" "$(sse_ids "$TMP/ev1")" "$(sse_data "$TMP/ev1" .feed)"
expect_eq "a signal's event data has its body" "propaganda" "$(sse_data "$TMP/ev1" 'select(.kind == "signal") | .body.labels[0]' | head -1)"
LAST=$(sse_ids "$TMP/ev1" | tail -1)
sse_stop
check "the client's departure is noticed (gifnet_events_clients 0)" wait_for 10 clients_are 0
TOTAL=$((TOTAL + 4))

# Records published while no client listens.
missed=()
for i in 1 2 3; do
    post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
    missed+=("$(jqb .id)")
done
post /v1/feedback "{\"target\":\"$(rand_hex 32)\",\"verdict\":\"seen\"}"
missed+=("$(jqb .id)")

sse_start "$TMP/ev2" -H "Last-Event-ID: $LAST"
check "resuming with Last-Event-ID receives the 4 missed records" wait_for 10 sse_has "$TMP/ev2" 4
check "the resumed client is connected" wait_for 10 clients_are 1
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
live=$(jqb .id)
check "then it receives a new record live" wait_for 10 sse_has "$TMP/ev2" 5
sleep 0.2
expect_eq "exactly the missed records, then the live one, each once, in order" \
    "$(printf '%s\n' "${missed[@]}" "$live")" "$(sse_data "$TMP/ev2" .id)"
expect_eq "their ids continue from Last-Event-ID" "$(seq $((LAST + 1)) $((LAST + 5)))" "$(sse_ids "$TMP/ev2")"
sse_stop

sse_start "$TMP/ev3" -G -d "after=$LAST"
check "resuming with ?after= receives the same 5" wait_for 10 sse_has "$TMP/ev3" 5
sleep 0.2
expect_eq "?after= replays exactly the records after the cursor" \
    "$(printf '%s\n' "${missed[@]}" "$live")" "$(sse_data "$TMP/ev3" .id)"
sse_stop

# Several clients at once all receive a record.
sse_start "$TMP/ev4"
p4=$SSE_PID
sse_start "$TMP/ev5"
check "two clients connected" wait_for 10 clients_are 2
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
one=$(jqb .id)
check "both clients receive the new record" wait_for 10 eval 'sse_has "$TMP/ev4" 1 && sse_has "$TMP/ev5" 1'
expect_eq "client 1 got it" "$one" "$(sse_data "$TMP/ev4" .id)"
expect_eq "client 2 got it" "$one" "$(sse_data "$TMP/ev5" .id)"
sse_stop
SSE_PID=$p4
sse_stop

get "/v1/events?after=abc"
expect_err "GET /v1/events?after=abc: 400 invalid_field after" 400 invalid_field after abc

sse_start "$TMP/ev7" -H "Last-Event-ID: 0"
n_all=$(status_field .feed_last)
check "Last-Event-ID: 0 replays the whole feed" wait_for 10 sse_has "$TMP/ev7" "$n_all"
expect_eq "... every record once, in order" "$(seq 1 "$n_all")" "$(sse_ids "$TMP/ev7")"
sse_stop

# Records ingested from elsewhere (POST /v1/records) are events too.
make_node b platform "Platform B"
start_node "$TMP/b" || finish
use_node "$TMP/b"
post /v1/signals "{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"}"
B_ID=$(jqb .id)
use_node "$TMP/a"
sse_start "$TMP/ev8"
check "a client is connected" wait_for 10 clients_are 1
copy_records "$TMP/b" "$TMP/a"
expect_jq "the node ingests the other node's membership and signal" .accepted 2
check "the client receives both as events" wait_for 10 sse_has "$TMP/ev8" 2
expect_eq "... the membership, then the signal" "membership signal" "$(sed -n 's/^event: //p' "$TMP/ev8" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "... with the signal's id" "$B_ID" "$(sse_data "$TMP/ev8" 'select(.kind == "signal") | .id')"
sse_stop
stop_node "$TMP/b"

# Resuming while others write: every stream must continue from Last-Event-ID with consecutive
# ids, each once. (A client that connects between a write's commit and the loop applying it
# must not get the record both from the replay and from the live broadcast.)
burst_writer() {
    local i=0
    while :; do
        i=$((i + 1))
        curl -s -o /dev/null --max-time 5 -H "Authorization: Bearer $TOK" \
            --data-binary "$(printf '{"type":"md5","value":"%08x%024x"}' "$1" "$i")" "$U/v1/signals" || return 0
    done
}
burst_writer 1 &
w1=$!
burst_writer 2 &
w2=$!
BG_PIDS+=($w1 $w2)
bad=""
last=$(status_field .feed_last)
for i in $(seq 1 30); do
    # 4 clients at once, each resuming 3 records back from the newest id seen so far.
    from=$((last > 3 ? last - 3 : 0))
    cpids=()
    for c in 1 2 3 4; do
        curl -sN --max-time 0.1 -H "Last-Event-ID: $from" "$U/v1/events" >"$TMP/evr.$c" 2>/dev/null &
        cpids+=($!)
    done
    wait "${cpids[@]}"
    for c in 1 2 3 4; do
        got=$(sed -n 's/^id: //p' "$TMP/evr.$c" | tr '\n' ' ')
        n=$(wc -w <<<"$got")
        [ "$n" -gt 0 ] && last=$(awk '{print $NF}' <<<"$got")
        want=$([ "$n" -gt 0 ] && seq $((from + 1)) $((from + n)) | tr '\n' ' ')
        if [ "$n" -lt 3 ] || [ "$got" != "$want" ]; then
            bad+="attempt $i.$c, Last-Event-ID $from: got ids ${got:0:200}"$'\n'
        fi
    done
done
{ kill "$w1" "$w2" && wait "$w1" "$w2"; } 2>/dev/null
expect_eq "120 resumptions during concurrent writes: each gets consecutive ids from Last-Event-ID, each once" "" "$bad"

# A node stopping with a client attached still exits cleanly.
sse_start "$TMP/ev6"
check "a client is attached before the stop" wait_for 10 clients_are 1
stop_node "$TMP/a"
finish
