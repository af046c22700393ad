#!/usr/bin/env bash
# A hostile member on the peer port (issue 3): tests/tools/gifpeer impersonates members whose
# gifd is never started (with their real keys and certificates) and sends A, an agency node
# linked to a platform node B:
#   0. a valid record (control: the impersonation works, the record reaches B);
#   1. a forged record (a signature bit flipped): refused as bad_signature, never stored, never
#      forwarded to B;
#   2. replayed records (M's and A's own): counted as duplicates, not as rejects, not stored
#      twice, not pushed again;
#   3. an equivocating pair (two records at one seq): A counts the equivocation, freezes M,
#      pushes the proof so that B freezes M within 10 s, and refuses M's later records;
#   4. an oversized frame header (2 MiB claimed) and 5. random bytes after HELLO, each both
#      after A handled HELLO and in the same TLS record as HELLO: A answers BYE 2, closes,
#      stores nothing and refuses that member for a while;
#   6. a certificate from another consortium is refused at TLS, and A logs why.
# After each step A is still running and answering.
source "$(dirname "$0")/lib.sh"

: "${GIFPEER:?set GIFPEER to the gifpeer binary}"
[ -x "$GIFPEER" ] || { fail "GIFPEER=$GIFPEER is not an executable"; finish; }

# peer DIR ARGS...: runs gifpeer as the member of DIR against A's peer port; sets PRC (exit
# status), POUT (its status line) and PERR (stderr: "sent id=... seq=..." lines).
peer() {
    local dir=$1
    shift
    PRC=0
    "$GIFPEER" --dir "$dir" --connect "127.0.0.1:$(node_peer_port "$A")" "$@" \
        >"$TMP/peer.out" 2>"$TMP/peer.err" || PRC=$?
    POUT=$(cat "$TMP/peer.out")
    PERR=$(cat "$TMP/peer.err")
    echo "#   gifpeer $*: exit $PRC, $POUT"
}

# sent_id N: the id of the Nth record gifpeer reported sending (1-based).
sent_id() { printf '%s\n' "$PERR" | sed -n 's/^sent id=\([0-9a-f]*\).*/\1/p' | sed -n "${1}p"; }

# metric DIR SERIES: the value of one /metrics series of the node (0 when absent).
metric() {
    curl -s --max-time 5 "$(node_url "$1")/metrics" |
        awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}

# metric_at_least DIR SERIES N
metric_at_least() { [ "$(metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }

# rec_code DIR ID: the status of GET /v1/records/ID on the node.
rec_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(node_url "$1")/v1/records/$2"; }
stored_at() { [ "$(rec_code "$1" "$2")" = 200 ]; }

# frozen_at DIR KEY: the node's status lists KEY among its frozen origins.
frozen_at() {
    [ "$(curl -s --max-time 5 "$(node_url "$1")/v1/status" |
        jq -r --arg k "$2" '[.frozen[] | select(.origin == $k)] | length' 2>/dev/null)" -ge 1 ] 2>/dev/null
}

# expect_alive DESCRIPTION: A and B still run and answer.
expect_alive() {
    if node_alive "$A" && node_alive "$B"; then pass "$1"; else
        fail "$1" "A's log: $(tail -n 20 "$A/gifd.log")"
    fi
}

# log_since DIR OFFSET: the node's log lines written after OFFSET bytes.
log_since() { tail -c +$(($2 + 1)) "$1/gifd.log"; }

REJ='gifnet_rejects_total{reason="'

# =====================================================================================
echo "# setup: agency A, platform B linked to A, members M, P, P2, G, G2 impersonated by gifpeer"
make_consortium "$TMP/cons" "abuse test"
make_node a agency CTU
make_node b platform "Platform B"
make_node m platform "Member M"
make_node p platform "Member P"
make_node p2 platform "Member P2"
make_node g platform "Member G"
make_node g2 platform "Member G2"
A=$TMP/a B=$TMP/b M=$TMP/m P=$TMP/p P2=$TMP/p2 G=$TMP/g G2=$TMP/g2
KM=$(node_key "$M")
sync_members
set_seeds "$B" "$A"
start_node "$A" || finish
start_node "$B" || finish
check "B is linked to A" wait_for 10 peer_ready "$A" "$B"

# =====================================================================================
echo "# 0. control: a valid record of M's own origin"
peer "$M" --wait 1 valid --seq 1
expect_eq "gifpeer completes TLS and HELLO as M, sends a valid record, link stays open" "0 open" "$PRC $POUT"
V1=$(sent_id 1)
check "A stores M's valid record" wait_for 5 stored_at "$A" "$V1"
check "... and B gets it from A" wait_for 10 stored_at "$B" "$V1"

# =====================================================================================
echo "# 1. a forged record"
BAD0=$(metric "$A" "${REJ}bad_signature\"}")
PUSH0=$(metric "$A" gifnet_peer_records_pushed_total)
RECS_A=$(node_records "$A") RECS_B=$(node_records "$B")
peer "$M" --wait 1 forged --seq 2 --prev "$V1"
expect_eq "the forged record was sent" 0 "$PRC"
F1=$(sent_id 1)
check "A counts the reject as bad_signature" wait_for 5 metric_at_least "$A" "${REJ}bad_signature\"}" $((BAD0 + 1))
expect_alive "A and B still run and answer"
expect_eq "the forged record is not stored on A (GET /v1/records/{id})" 404 "$(rec_code "$A" "$F1")"
sleep 0.5
expect_eq "... nor on B" 404 "$(rec_code "$B" "$F1")"
expect_eq "A pushed nothing for it" "$PUSH0" "$(metric "$A" gifnet_peer_records_pushed_total)"
expect_eq "B never saw it (no bad_signature reject at B)" 0 "$(metric "$B" "${REJ}bad_signature\"}")"
expect_eq "A's and B's record counts are unchanged" "$RECS_A $RECS_B" "$(node_records "$A") $(node_records "$B")"

# =====================================================================================
echo "# 2. replayed records"
use_node "$A"
post /v1/signals "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}"
expect_code "A publishes a record of its own" 201
RA=$(jqb .id)
check "B gets A's record" wait_for 10 stored_at "$B" "$RA"
{
    curl -s --max-time 5 "$(node_url "$A")/v1/records/$V1" | jq -r .record
    curl -s --max-time 5 "$(node_url "$A")/v1/records/$RA" | jq -r .record
} >"$TMP/replay.hex"
check "the records to replay were read from A" grep -qE '^[0-9a-f]{100,}$' "$TMP/replay.hex"
sleep 0.3
DUP0=$(metric "$A" gifnet_peer_duplicates_total)
PUSH0=$(metric "$A" gifnet_peer_records_pushed_total)
DUPB0=$(metric "$B" gifnet_peer_duplicates_total)
REJSUM0=$(curl -s "$(node_url "$A")/metrics" | awk '/^gifnet_rejects_total/ { s += $2 } END { print s + 0 }')
RECS_A=$(node_records "$A") RECS_B=$(node_records "$B")
peer "$M" --wait 1 replay "$TMP/replay.hex"
expect_eq "the replay was sent, the link stays open" "0 open" "$PRC $POUT"
expect_eq "gifpeer sent M's record and A's own" "$V1 $RA" "$(sent_id 1) $(sent_id 2)"
check "A counts both as duplicates" wait_for 5 metric_at_least "$A" gifnet_peer_duplicates_total $((DUP0 + 2))
expect_alive "A and B still run and answer"
expect_eq "a duplicate is not a reject" "$REJSUM0" \
    "$(curl -s "$(node_url "$A")/metrics" | awk '/^gifnet_rejects_total/ { s += $2 } END { print s + 0 }')"
expect_eq "A's and B's record counts are unchanged (not stored twice)" "$RECS_A $RECS_B" \
    "$(node_records "$A") $(node_records "$B")"
expect_eq "M's record appears once in A's feed" 1 "$(feed_ids "$A" | grep -c "^$V1$")"
expect_eq "A pushed nothing for the replay (not forwarded as new)" "$PUSH0" \
    "$(metric "$A" gifnet_peer_records_pushed_total)"
expect_eq "B received no extra duplicate" "$DUPB0" "$(metric "$B" gifnet_peer_duplicates_total)"

# =====================================================================================
echo "# 3. an equivocating pair"
EQ0=$(metric "$A" "${REJ}equivocation\"}")
peer "$M" --wait 1 equivocate --seq 2 --prev "$V1"
expect_eq "the pair was sent" 0 "$PRC"
E1=$(sent_id 1) E2=$(sent_id 2)
check "two different records at M's seq 2" test -n "$E1" -a -n "$E2" -a "$E1" != "$E2"
check "A counts the reject as equivocation" wait_for 5 metric_at_least "$A" "${REJ}equivocation\"}" $((EQ0 + 1))
expect_alive "A and B still run and answer"
check "A's status shows M frozen" wait_for 5 frozen_at "$A" "$KM"
use_node "$A"
get /v1/status
expect_jq "... at seq 2" "[.frozen[] | select(.origin == \"$KM\") | .seq] | join(\",\")" 2
check "A's /metrics counts a frozen origin" metric_at_least "$A" gifnet_frozen_origins 1
check "B learns it: M frozen on B within 10 s (A pushes the proof)" wait_for 10 frozen_at "$B" "$KM"
check "B's /metrics counts a frozen origin" metric_at_least "$B" gifnet_frozen_origins 1
# What M publishes afterwards, on top of either branch, is refused.
FR0=$(metric "$A" "${REJ}frozen\"}")
RECS_A=$(node_records "$A") RECS_B=$(node_records "$B")
peer "$M" --wait 1 valid --seq 3 --prev "$E1"
expect_eq "M's next record (seq 3 on the first branch) was sent" 0 "$PRC"
N3=$(sent_id 1)
peer "$M" --wait 1 valid --seq 3 --prev "$E2"
N3B=$(sent_id 1)
check "A counts M's later records as rejects (frozen)" wait_for 5 metric_at_least "$A" "${REJ}frozen\"}" $((FR0 + 2))
sleep 0.5
expect_eq "M's later records are not stored on A" "404 404" "$(rec_code "$A" "$N3") $(rec_code "$A" "$N3B")"
expect_eq "... nor on B" "404 404" "$(rec_code "$B" "$N3") $(rec_code "$B" "$N3B")"
expect_eq "A's and B's record counts are unchanged" "$RECS_A $RECS_B" "$(node_records "$A") $(node_records "$B")"

# =====================================================================================
echo "# 4. an oversized frame, 5. random bytes after HELLO"
# Each twice, by its own member (a violation penalises the key): once after A has handled
# gifpeer's HELLO (--pause 300), once in the same TLS record as HELLO, so that A reads both in
# one go. Either way A must answer BYE 2 (protocol), close, store nothing and penalise.
abuse() { # abuse DIR ACTION [GIFPEER_OPTIONS...]
    local dir=$1 what=$2 when="in the same write as HELLO"
    shift 2
    [ $# -gt 0 ] && when="after A handled HELLO"
    PEN0=$(metric "$A" gifnet_peer_penalties_total)
    RECS_A=$(node_records "$A")
    peer "$dir" "$@" "$what"
    expect_eq "$what $when: A answers BYE 2 (protocol) and closes" "0 closed bye=2" "$PRC ${POUT%% reason=*}"
    expect_alive "A and B still run and answer"
    check_not "A does not keep $(basename "$dir") as a ready peer" peer_ready "$A" "$dir"
    check "A counts a penalty" metric_at_least "$A" gifnet_peer_penalties_total $((PEN0 + 1))
    expect_eq "A stored nothing" "$RECS_A" "$(node_records "$A")"
}
abuse "$P" oversized --pause 300
peer "$P" --wait 1 valid --seq 1
check "P, penalised, is refused at once on its next connection (closed, nothing sent)" \
    test "$PRC" = 1 -a "${POUT%% *}" = closed
expect_eq "A stored nothing from P" "$RECS_A" "$(node_records "$A")"
abuse "$P2" oversized
abuse "$G" garbage --pause 300
abuse "$G2" garbage

# =====================================================================================
echo "# 6. a certificate from another consortium"
make_consortium "$TMP/other" "another consortium"
make_node x platform "Outsider"
X=$TMP/x
LOGA=$(stat -c %s "$A/gifd.log")
peer "$X" --wait 1 valid --seq 1
check "the outsider (trusting its own root) fails the TLS handshake with A" \
    test "$PRC" = 1 -a "${POUT%% *}" = failed
REFUSAL='refus|unknown ca|certificate|alert|handshake'
if wait_for 5 bash -c "tail -c +$((LOGA + 1)) '$A/gifd.log' | grep -qiE '$REFUSAL'"; then
    pass "A's log mentions the refusal"
    echo "#   $(log_since "$A" "$LOGA" | grep -iE "$REFUSAL" | head -1)"
else
    fail "A's log mentions the refusal" "A's new log lines: $(log_since "$A" "$LOGA" | tail -n 10)"
fi
LOGA=$(stat -c %s "$A/gifd.log")
peer "$X" --wait 1 --trust "$TMP/cons/root.crt" valid --seq 1
check "the outsider's certificate, shown to A by a client that trusts A, is refused" \
    test "$PRC" = 1 -a "${POUT%% *}" = failed
if wait_for 5 bash -c "tail -c +$((LOGA + 1)) '$A/gifd.log' | grep -qiE 'not issued by the consortium root|unknown ca|certificate verify failed'"; then
    pass "A's log says it refused a certificate not issued by its root"
    echo "#   $(log_since "$A" "$LOGA" | grep -iE 'refus|certificate' | head -1)"
else
    fail "A's log says it refused a certificate not issued by its root" \
        "A's new log lines: $(log_since "$A" "$LOGA" | tail -n 10)"
fi
check_not "the outsider's record is not stored on A" stored_at "$A" "$(sent_id 1)"
expect_alive "A and B still run and answer"
check "B is still linked to A" peer_ready "$A" "$B"

finish
