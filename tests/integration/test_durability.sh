#!/usr/bin/env bash
# Durability: a graceful restart keeps everything (and rebuilds the pdq index); SIGKILL right
# after acknowledgments loses nothing acknowledged; a store of a newer schema is refused with a
# clear message and left untouched; a full LMDB map answers 507 storage_full, writes nothing,
# and the node keeps serving.
source "$(dirname "$0")/lib.sh"

make_consortium
make_node a agency CTU
A=$TMP/a
start_node "$A" || finish
use_node "$A"

# ---- A graceful restart keeps everything.
PDQ=$(rand_hex 32) PDQ_GONE=$(rand_hex 32) MD5=$(rand_hex 16)
post /v1/signals "{\"type\":\"pdq\",\"value\":\"$PDQ\",\"labels\":[\"attack_footage\"]}"
ID_PDQ=$(jqb .id)
post /v1/signals "{\"type\":\"pdq\",\"value\":\"$PDQ_GONE\"}"
ID_GONE=$(jqb .id)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$MD5\"}"
ID_MD5=$(jqb .id)
post /v1/retractions "{\"target\":\"$ID_GONE\",\"reason\":\"false positive\"}"
post /v1/feedback "{\"target\":\"$(rand_hex 32)\",\"verdict\":\"seen\"}"
post /v1/alerts '{"incident":"durable","level":"content_incident"}'
expect_code "records written before the restart" 201
STATUS_FIELDS='[.records, .by_kind, .signals_by_type, .retracted, .held, .feed_last, .pdq_index, .frozen, .node] | tojson'
before_status=$(status_field "$STATUS_FIELDS")
get "/v1/records?limit=1000"
before_feed=$BODY
get "/v1/lookup?type=md5&value=$MD5"
before_lookup=$BODY

stop_node "$A"
start_node "$A" || finish
expect_eq "after a restart status counts are the same" "$before_status" "$(status_field "$STATUS_FIELDS")"
get "/v1/records?limit=1000"
expect_eq "after a restart the feed is identical" "$before_feed" "$BODY"
get "/v1/lookup?type=md5&value=$MD5"
expect_eq "after a restart a lookup answers the same" "$before_lookup" "$BODY"
expect_eq "the pdq index was rebuilt without the retracted hash (pdq_index 1)" 1 "$(status_field .pdq_index)"
post_noauth /v1/match "{\"hashes\":[\"$(flip_bits "$PDQ" 9)\",\"$PDQ_GONE\"]}"
expect_jq "after a restart a near match still works (distance 9)" \
    '.results[0].matches[0] | [.id, .distance] | @tsv' "$ID_PDQ	9"
expect_jq "after a restart the retracted pdq is still not matched" '.results[1].matches | length' 0
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_jq "the node's own log continues after a restart (seq 7)" .seq 7
get "/v1/records/$(jqb .id)"
expect_jq "... chained to the record before the restart" .prev "$(printf '%s' "$before_feed" | jq -r '.records[-1].id')"

# ---- SIGKILL right after acknowledgments.
# writer FILE N PREFIX: publishes N md5 signals one after the other (N=0: until the node stops
# answering); appends each acknowledged (201) id to FILE, anything else to FILE.err.
writer() {
    local file=$1 n=$2 prefix=$3 i=0 out code
    while [ "$n" = 0 ] || [ "$i" -lt "$n" ]; do
        out=$(curl -s --max-time 20 -w '\n%{http_code}' -H "Authorization: Bearer $TOK" \
            -H 'Content-Type: application/json' \
            --data-binary "$(printf '{"type":"md5","value":"%08x%024x"}' "$prefix" "$i")" \
            "$U/v1/signals")
        code=${out##*$'\n'}
        if [ "$code" = 201 ]; then
            sed -n 's/.*"id":"\([0-9a-f]\{64\}\)".*/\1/p' <<<"${out%$'\n'*}" >>"$file"
        else
            echo "$code ${out%$'\n'*}" >>"$file.err"
            [ "$code" = 000 ] && return 0
        fi
        i=$((i + 1))
    done
}

# statuses_of_ids: record ids on stdin; prints "COUNT STATUS" lines of GET /v1/records/{id}
# (one curl, one connection).
statuses_of_ids() {
    sed "s|.*|url = \"$U/v1/records/&\"\noutput = /dev/null|" >"$TMP/ids.curl"
    curl -s -K "$TMP/ids.curl" -w '%{http_code}\n' | sort | uniq -c | sed 's/^ *//'
}

WRITERS=4 PER=50
wpids=()
for w in $(seq 1 $WRITERS); do
    writer "$TMP/acked.$w" $PER $((w + 16)) &
    wpids+=($!)
    BG_PIDS+=($!)
done
# One more writer keeps going until gifd dies under it.
writer "$TMP/acked.cont" 0 $((0xc0)) &
cont=$!
BG_PIDS+=($cont)
for p in "${wpids[@]}"; do wait "$p"; done
kill_node "$A"
wait "$cont"
acked=$(cat "$TMP"/acked.[0-9] "$TMP"/acked.cont 2>/dev/null | sort -u)
n_acked=$(grep -c . <<<"$acked")
n_main=$(cat "$TMP"/acked.[0-9] 2>/dev/null | grep -c .)
expect_eq "the $WRITERS writers had all $((WRITERS * PER)) publications acknowledged" $((WRITERS * PER)) "$n_main"
check "the writers saw no error before the kill" bash -c "! cat '$TMP'/acked.[0-9].err 2>/dev/null | grep -q ."
echo "# $n_acked acknowledged in all ($((n_acked - n_main)) by the writer cut off by SIGKILL)"

start_node "$A" || finish
codes=$(printf '%s\n' "$acked" | statuses_of_ids)
expect_eq "after SIGKILL every acknowledged record is found by GET /v1/records/{id}" "$n_acked 200" "$codes"
get "/v1/records?limit=1000"
expect_eq "the feed holds every acknowledged id" "" \
    "$(comm -23 <(printf '%s\n' "$acked") <(jqb '.records[].id' | sort -u))"
expect_eq "status counts agree with the feed after SIGKILL" "$(jqb '.records | length')" "$(status_field '.records')"
expect_eq "feed_last equals the records count" "$(status_field '.records')" "$(status_field '.feed_last')"
last_seq=$(jqb "[.records[] | select(.origin == \"$(node_key "$A")\") | .seq] | max")
last_id=$(jqb "[.records[] | select(.origin == \"$(node_key "$A")\")] | max_by(.seq) | .id")
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_jq "after SIGKILL the node's log continues without a gap (seq $((last_seq + 1)))" .seq $((last_seq + 1))
get "/v1/records/$(jqb .id)"
expect_jq "... and its prev is the last record that survived" .prev "$last_id"
expect_eq "no origin is frozen (the node did not fork its own log)" 0 "$(status_field '.frozen | length')"
rec_count=$(status_field .records)
stop_node "$A"

# ---- A newer schema is refused.
if command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null; then
    # Rewrite meta's "schema" key (hex 736368656d61) to 3 with the LMDB tools.
    mdb_dump -s meta "$A/db" >"$TMP/meta.dump" 2>"$TMP/mdb.err"
    check "mdb_dump reads meta.schema = 2" grep -A1 -x ' 736368656d61' "$TMP/meta.dump"
    sed '/^ 736368656d61$/{n;s/.*/ 00000003/}' "$TMP/meta.dump" >"$TMP/meta2.dump"
    mdb_load -s meta -f "$TMP/meta2.dump" "$A/db" 2>>"$TMP/mdb.err"
    check "the store now says schema 3" bash -c "mdb_dump -s meta '$A/db' | grep -A1 -x ' 736368656d61' | grep -qx ' 00000003'"
    sum_before=$(sha256sum <"$A/db/data.mdb")
    rc=0
    timeout 20 "$GIFD" --config "$A/gifd.ini" >"$TMP/schema.out" 2>&1 || rc=$?
    expect_eq "gifd refuses a store of schema 3 (exit status 1)" 1 "$rc"
    check "... saying so clearly" grep -q "has schema 3; this gifd reads up to schema 2: upgrade gifd" "$TMP/schema.out"
    [ "$rc" = 1 ] || sed 's/^/#   /' "$TMP/schema.out"
    expect_eq "... and leaves data.mdb untouched" "$sum_before" "$(sha256sum <"$A/db/data.mdb")"
    mdb_load -s meta -f "$TMP/meta.dump" "$A/db" 2>>"$TMP/mdb.err"
    start_node "$A" || finish
    expect_eq "with schema 2 restored the node starts with its data" "$rec_count" "$(status_field .records)"
    stop_node "$A"
else
    echo "ok - # SKIP newer-schema refusal: mdb_dump/mdb_load (lmdb-utils) not installed"
fi

# ---- A full LMDB map.
make_node f agency "Full CTU"
F=$TMP/f
ini_set "$F" storage map_size_mb 1
start_node "$F" || finish
use_node "$F"
full_acked=()
# fill_with SIZE: publishes batches of SIZE signals until one answers 507 (checked: it wrote
# nothing and the node still answers); acknowledged ids go to full_acked.
fill_with() {
    local size=$1 round batch n0=${#full_acked[@]} members
    members=$(status_field .by_kind.membership)
    for round in $(seq 1 1000); do
        # (cheap JSON: sha256 values are made of the round number and the item's index)
        batch=$(for ((i = 0; i < size; i++)); do
            printf '{"type":"sha256","value":"%016x%016x%032x","labels":["propaganda","recruitment"],"incident":"full-disk-test"}\n' \
                "$size" "$round" "$i"
        done | paste -sd, -)
        post /v1/signals "{\"signals\":[$batch]}"
        if [ "$CODE" = 201 ]; then
            full_acked+=($(grep -oE '"id":"[0-9a-f]{64}"' <<<"$BODY" | cut -c7-70))
            continue
        fi
        echo "# $(( ${#full_acked[@]} - n0 )) signals fitted in batches of $size"
        expect_err "a batch of $size signals to the full map answers 507 storage_full" 507 storage_full
        expect_eq "... and writes nothing" $((${#full_acked[@]} + members)) "$(status_field .records)"
        check "... and the node still answers GET /v1/status" node_alive "$F"
        return 0
    done
    fail "the 1 MiB map fills up with batches of $size"
}
# Ever smaller batches down to single signals: each size until the map refuses it.
for size in 100 20 5 1; do fill_with $size; done
echo "# ${#full_acked[@]} signals fitted before the map was full"
get "/v1/lookup?type=md5&value=$(rand_hex 16)"
expect_code "lookups still work on a full node" 200
post_noauth /v1/lookup "{\"queries\":[{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"}]}"
expect_code "batch lookups still work on a full node" 200
codes=$(printf '%s\n' "${full_acked[@]}" | statuses_of_ids)
expect_eq "every signal acknowledged before the map filled is there" "${#full_acked[@]} 200" "$codes"
n_members=$(status_field .by_kind.membership)
expect_eq "status: exactly the acknowledged records (and the memberships)" \
    $((${#full_acked[@]} + n_members)) "$(status_field .records)"
get /metrics
check "metrics count the 507 answers" grep -qE '^gifnet_http_requests_total\{code="507"\} [1-9]' <<<"$BODY"
stop_node "$F"
ini_set "$F" storage map_size_mb 64
start_node "$F" || finish
post /v1/signals "{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"}"
expect_code "with a larger map the node writes again (201)" 201
expect_jq "... continuing its log" .seq $((${#full_acked[@]} + 1))
stop_node "$F"
finish
