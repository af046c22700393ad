#!/usr/bin/env bash
# The consortium network end to end (issue 3): real gifd processes on 127.0.0.1 connected over
# mutually authenticated TLS (each node's peer listener on its own free port, never 0.0.0.0).
#
# 1. three nodes (an agency A, platforms B and C; B seeds A, C seeds A and B): every link
#    reaches ready; a signal published at A is found at B and C, one published at C at A, and
#    a retraction at A reaches B and C. Prints the propagation time (a figure, not a check).
# 2. a node of another consortium seeded to A is refused and nothing crosses;
# 3. revocation: the root revokes C, A ingests the revocation, links with C close, and what C
#    publishes afterwards never reaches A;
# 4. five nodes in a ring of seeds converge after publishes at three origins (identical record
#    counts and feed id sets);
# 5. a node stopped (SIGTERM) during publishes catches up exactly after it restarts;
# 6. a node frozen (SIGSTOP) while others publish catches up after SIGCONT.
# Every wait is a bounded poll.
source "$(dirname "$0")/lib.sh"

# now_ms: the wall clock in milliseconds.
now_ms() { date +%s%3N; }

# JQ_MS: jq function turning an RFC 3339 time with milliseconds ("...T03:30:00.123Z") into ms.
JQ_MS='def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);'

# expect_links DESCRIPTION SECONDS DIR PEER_DIR...: within SECONDS, DIR's ready peers are
# exactly the PEER_DIRs; on failure shows DIR's GET /v1/peers.
expect_links() {
    local desc=$1 secs=$2 dir=$3
    shift 3
    if wait_for "$secs" has_ready_peers "$dir" "$@"; then
        pass "$desc"
    else
        fail "$desc" "GET /v1/peers: $(curl -s --max-time 5 "$(node_url "$dir")/v1/peers")" \
            "log: $(grep -iE 'peer|tls' "$dir/gifd.log" | tail -n 15)"
    fi
}

# expect_records DESCRIPTION SECONDS N DIR...: within SECONDS each node holds N records.
expect_records() {
    local desc=$1 secs=$2 n=$3 dir bad=""
    shift 3
    for dir in "$@"; do
        wait_for_records "$dir" "$n" "$secs" || bad+="$(basename "$dir"): $(node_records "$dir") records; "
    done
    if [ -z "$bad" ]; then pass "$desc"; else fail "$desc" "expected $n records each; got $bad"; fi
}

# expect_same_feeds DESCRIPTION DIR...: every node's sorted feed ids equal the first node's, and
# no node holds records past a gap.
expect_same_feeds() {
    local desc=$1 ref dir ids bad="" held
    shift
    ref=$(feed_ids "$1")
    for dir in "$@"; do
        ids=$(feed_ids "$dir")
        [ "$ids" = "$ref" ] || bad+="$(basename "$dir") differs from $(basename "$1"): $(diff <(echo "$ref") <(echo "$ids") | grep '^[<>]' | head -5 | tr '\n' ' '); "
        held=$(curl -s --max-time 5 "$(node_url "$dir")/v1/status" | jq -r .held)
        [ "$held" = 0 ] || bad+="$(basename "$dir") holds $held records past a gap; "
    done
    if [ -z "$bad" ]; then pass "$desc"; else fail "$desc" "$bad"; fi
}

# publish DIR TYPE VALUE: publishes one signal at DIR; sets CODE, BODY and ID.
publish() {
    use_node "$1"
    post /v1/signals "{\"type\":\"$2\",\"value\":\"$3\"}"
    ID=$(jqb .id)
}

# found_at DIR TYPE VALUE: the node's lookup finds the value.
found_at() { [ "$(lookup_count "$1" "$2" "$3")" -ge 1 ] 2>/dev/null; }

# retracted_at DIR TYPE VALUE: the node's lookup shows the value's first match retracted.
retracted_at() {
    [ "$(curl -s --max-time 5 "$(node_url "$1")/v1/lookup?type=$2&value=$3" | jq -r '.matches[0].retracted')" = true ]
}

# accepted_ms DIR ID: when the node accepted the record (ms).
accepted_ms() {
    curl -s --max-time 5 "$(node_url "$1")/v1/records/$2" | jq -r "$JQ_MS"' .accepted | ms' 2>/dev/null
}

# =====================================================================================
echo "# 1. three organisations: links, publish, retraction"
make_consortium "$TMP/cons" "network test"
make_node a agency CTU
make_node b platform "Platform B"
make_node c platform "Platform C"
A=$TMP/a B=$TMP/b C=$TMP/c
sync_members
set_seeds "$B" "$A"
set_seeds "$C" "$A" "$B"
start_node "$A" || finish
start_node "$B" || finish
start_node "$C" || finish

expect_links "A has B and C as ready peers" 10 "$A" "$B" "$C"
expect_links "B has A and C as ready peers" 10 "$B" "$A" "$C"
expect_links "C has A and B as ready peers" 10 "$C" "$A" "$B"
use_node "$A"
get /v1/peers
expect_jq "A's peers: B and C by org, inbound, with their addresses" \
    '[.peers[] | select(.state == "ready") | .org + ":" + .direction] | sort | join(",")' \
    "Platform B:inbound,Platform C:inbound"
expect_jq "every peer entry has the documented fields" \
    '[.peers[] | has("key") and has("org") and has("address") and has("direction") and has("state") and has("rtt_ms") and has("records_sent") and has("records_received") and has("last_error")] | all' \
    true
use_node "$C"
get /v1/peers
expect_jq "C dialled both of its seeds: outbound links to A and B" \
    '[.peers[] | select(.state == "ready") | .org + ":" + .direction] | sort | join(",")' \
    "CTU:outbound,Platform B:outbound"
expect_jq "C's outbound peers show the addresses it dialled" \
    '[.peers[] | select(.state == "ready") | .address] | sort | join(",")' \
    "$(printf '%s\n' "$(node_peer_addr "$A")" "$(node_peer_addr "$B")" | sort | paste -sd,)"

MD5_A=$(rand_hex 16)
T0=$(now_ms)
publish "$A" md5 "$MD5_A"
expect_code "publish at A answers 201" 201
ID_A=$ID
check "the signal published at A is found by lookup at B within 10 s" wait_for 10 found_at "$B" md5 "$MD5_A"
TB=$(now_ms)
check "... and at C within 10 s" wait_for 10 found_at "$C" md5 "$MD5_A"
TC=$(now_ms)
use_node "$B"
get "/v1/lookup?type=md5&value=$MD5_A"
expect_jq "at B the match is A's record, from CTU (agency), verdict block" \
    '[.matches[0].id, .matches[0].org, .verdict] | @tsv' "$ID_A	CTU	block"
PUB=$(curl -s --max-time 5 "$(node_url "$A")/v1/records/$ID_A" | jq -r "$JQ_MS"' .time | ms')
AB=$(accepted_ms "$B" "$ID_A") AC=$(accepted_ms "$C" "$ID_A")
if [ -n "$PUB" ] && [ -n "$AB" ] && [ -n "$AC" ]; then
    LAST=$((AB > AC ? AB : AC))
    echo "# figure: publish at A to acceptance at the last node: $((LAST - PUB)) ms (B $((AB - PUB)) ms, C $((AC - PUB)) ms; by the nodes' acceptance times)"
fi
echo "# figure: publish request at A to lookup found, polled: B $((TB - T0)) ms, C $((TC - T0)) ms (includes the publish's fsync and polling)"
sleep 0.2
use_node "$A"
get /v1/peers
expect_jq "A counts records sent to its peers" '[.peers[].records_sent] | add >= 1' true
use_node "$B"
get /v1/peers
expect_jq "B counts records received" '[.peers[].records_received] | add >= 1' true
get /metrics
check "B's /metrics has a received-records series per link, labelled with the peer's org" \
    grep -Eq '^gifnet_link_records_received_total\{peer="[0-9a-f]{16}",org="[^"]+"\} [1-9]' \
    <<<"$BODY"
check "B's /metrics has a round-trip gauge per link" grep -q '^gifnet_link_rtt_seconds{peer=' \
    <<<"$BODY"

MD5_C=$(rand_hex 16)
publish "$C" md5 "$MD5_C"
expect_code "publish at C answers 201" 201
check "the signal published at C is found at A within 10 s" wait_for 10 found_at "$A" md5 "$MD5_C"
check "... and at B" wait_for 10 found_at "$B" md5 "$MD5_C"

use_node "$A"
post /v1/retractions "{\"target\":\"$ID_A\",\"reason\":\"false positive\"}"
expect_code "retraction at A answers 201" 201
check "the retraction reaches B within 10 s (lookup shows retracted)" wait_for 10 retracted_at "$B" md5 "$MD5_A"
check "... and C" wait_for 10 retracted_at "$C" md5 "$MD5_A"
use_node "$C"
get "/v1/lookup?type=md5&value=$MD5_A"
expect_jq "at C the retracted record's verdict is allow" '[.matches[0].retracted, .verdict] | @tsv' $'true\tallow'
N1=$(node_records "$A")
expect_records "A, B and C hold the same number of records ($N1)" 10 "$N1" "$A" "$B" "$C"
expect_same_feeds "A, B and C hold the same records" "$A" "$B" "$C"

# =====================================================================================
echo "# 2. a node of another consortium is refused"
make_consortium "$TMP/other" "another consortium"
make_node x platform "Outsider"
X=$TMP/x
sync_members "$X"
set_seeds "$X" "$A"
LOGA=$(stat -c %s "$A/gifd.log")
RECS_A=$(node_records "$A")
start_node "$X" || finish
REFUSAL='refus|reject|denied|not a member|unknown ca|certificate|verify|handshake|alert'
if wait_for 10 bash -c "tail -c +$((LOGA + 1)) '$A/gifd.log' | grep -qiE '$REFUSAL'"; then
    pass "A's log mentions the refusal of the outsider"
    echo "#   $(tail -c +$((LOGA + 1)) "$A/gifd.log" | grep -iE "$REFUSAL" | head -2)"
else
    fail "A's log mentions the refusal of the outsider (within 10 s)" "A's new log lines: $(tail -c +$((LOGA + 1)) "$A/gifd.log" | tail -n 15)"
fi
MD5_X=$(rand_hex 16)
# A node with seeds refuses writes (409 behind_own_log) until a peer has shown it its own log,
# or 10 s after its start: the outsider has no peer, so it waits those 10 s.
publish_not_409() { publish "$@"; [ "$CODE" != 409 ]; }
wait_for 15 publish_not_409 "$X" md5 "$MD5_X"
expect_code "the outsider publishes in its own consortium (201, once its 10 s wait for a peer ends)" 201
MD5_A2=$(rand_hex 16)
publish "$A" md5 "$MD5_A2"
sleep 3 # several dial attempts (backoff 1 s, 2 s)
check_not "A never lists the outsider as a ready peer" peer_ready "$A" "$X"
expect_eq "the outsider has no ready peer" "" "$(ready_peers "$X")"
check_not "the outsider's record did not reach A" found_at "$A" md5 "$MD5_X"
check_not "A's record did not reach the outsider" found_at "$X" md5 "$MD5_A2"
expect_eq "A holds its records plus its own new one, nothing of the outsider" $((RECS_A + 1)) "$(node_records "$A")"
kill_node "$X"

# In TLS 1.3 the dialler checks the listener's certificate first, so above the outsider refused
# A before A saw its certificate. A client that trusts A's root but presents the outsider's
# certificate (and key, as PKCS#8 PEM) gets to A's own check.
{
    echo "-----BEGIN PRIVATE KEY-----"
    { printf '302e020100300506032b657004220420'; head -c 64 "$X/node.key"; } | unhex | base64
    echo "-----END PRIVATE KEY-----"
} >"$X/node.key.pem"
LOGA=$(stat -c %s "$A/gifd.log")
echo | timeout 5 openssl s_client -connect "$(node_peer_addr "$A")" -tls1_3 -cert "$X/node.crt" \
    -key "$X/node.key.pem" -CAfile "$TMP/cons/root.crt" >"$TMP/s_client.out" 2>&1
if wait_for 5 bash -c "tail -c +$((LOGA + 1)) '$A/gifd.log' | grep -qiE 'not issued by the consortium root|unknown ca|certificate verify failed'"; then
    pass "A refuses a certificate not issued by its consortium's root, and logs why"
    echo "#   $(tail -c +$((LOGA + 1)) "$A/gifd.log" | grep -iE 'refus|certificate' | head -1)"
else
    fail "A refuses a certificate not issued by its consortium's root, and logs why" \
        "A's new log lines: $(tail -c +$((LOGA + 1)) "$A/gifd.log" | tail -n 10)" "s_client: $(tail -n 20 "$TMP/s_client.out")"
fi

# A key with a certificate under the root that A does not know as a member (its membership
# was not given to A) is refused after the handshake.
CONS=$TMP/cons
make_node z platform "Newcomer"
Z=$TMP/z
set_seeds "$Z" "$A"
LOGA=$(stat -c %s "$A/gifd.log")
start_node "$Z" || finish
if wait_for 10 bash -c "tail -c +$((LOGA + 1)) '$A/gifd.log' | grep -iE 'refus|not a member' | grep -q '$(node_key "$Z" | cut -c1-16)'"; then
    pass "A refuses a key it does not know as a member, and logs the key and the reason"
    echo "#   $(tail -c +$((LOGA + 1)) "$A/gifd.log" | grep -iE 'refus|not a member' | head -1)"
else
    fail "A refuses a key it does not know as a member, and logs the key and the reason" \
        "A's new log lines: $(tail -c +$((LOGA + 1)) "$A/gifd.log" | tail -n 10)"
fi
check_not "A does not list the newcomer as a ready peer" peer_ready "$A" "$Z"
kill_node "$Z"

# =====================================================================================
echo "# 3. revocation: the root revokes C; links close and C's later records stay out"
expect_links "before the revocation, A has B and C ready" 10 "$A" "$B" "$C"
"$GIFCTL" member revoke --consortium "$TMP/cons" --key "$(node_key "$C")" --reason "integration test" >"$TMP/revoke.out" 2>&1
check "gifctl member revoke C" grep -qE '[0-9a-f]{64}' "$TMP/revoke.out"
use_node "$A"
# The whole log: A also lacks the newcomer's membership (root seq before the revocation).
post /v1/records "{\"records\":$(jq -sc 'map(.record)' "$TMP/cons/members.jsonl")}"
expect_jq "A ingests the revocation (the log's last record)" '[.results[-1].status, .rejected, .held] | @tsv' $'accepted\t0\t0'
not_ready() { ! peer_ready "$1" "$2"; }
check "A closes its link with C: not listed ready within 10 s" wait_for 10 not_ready "$A" "$C"
revoked_at() {
    [ "$(curl -s --max-time 5 "$(node_url "$1")/v1/members" | jq -r ".members[] | select(.key == \"$(node_key "$2")\") | .revoked")" = true ]
}
check "the revocation reaches B (members shows C revoked) within 10 s" wait_for 10 revoked_at "$B" "$C"
check "B closes its link with C within 10 s" wait_for 10 not_ready "$B" "$C"
expect_links "A keeps its link with B" 10 "$A" "$B"
MD5_R=$(rand_hex 16)
publish "$C" md5 "$MD5_R"
echo "# C's publish after its revocation: $CODE $(jqb '.error.code // .id')"
if [ "$CODE" = 201 ]; then
    ID_R=$ID
    sleep 3 # C keeps dialling its seeds (backoff); A must refuse it each time
    check_not "A still does not list C as ready 3 s later" peer_ready "$A" "$C"
    check_not "the record C published after its revocation never reaches A" found_at "$A" md5 "$MD5_R"
    check_not "... nor B" found_at "$B" md5 "$MD5_R"
    use_node "$A"
    get "/v1/records/$ID_R"
    expect_code "A does not hold it (GET /v1/records/{id} 404)" 404
else
    # C learnt of its own revocation before its links closed and no longer publishes.
    expect_eq "C, revoked, refuses to publish (422 rejected)" "422" "$CODE"
    sleep 3
    check_not "A still does not list C as ready 3 s later" peer_ready "$A" "$C"
    check_not "nothing C tried to publish after its revocation is at A" found_at "$A" md5 "$MD5_R"
fi
# Now A and B have a single link: a record B receives from A is not pushed back to A.
recv_from() {
    curl -s --max-time 5 "$(node_url "$1")/v1/peers" |
        jq -r ".peers[] | select(.key == \"$(node_key "$2")\") | .records_received"
}
R0=$(recv_from "$A" "$B")
RECS_B=$(node_records "$B")
for k in 1 2 3; do publish "$A" md5 "$(rand_hex 16)"; done
expect_records "B receives A's 3 new records" 10 $((RECS_B + 3)) "$B"
sleep 0.5
expect_eq "B does not push them back to A, the peer they came from (A's records_received from B unchanged)" \
    "$R0" "$(recv_from "$A" "$B")"
stop_node "$A"
stop_node "$B"
stop_node "$C"

# =====================================================================================
echo "# 4. five nodes in a ring converge"
make_consortium "$TMP/ring" "ring"
make_node n1 agency "CTU 1"
for i in 2 3 4 5; do make_node "n$i" platform "Platform $i"; done
N=()
for i in 1 2 3 4 5; do N[i]=$TMP/n$i; done
sync_members
for i in 1 2 3 4 5; do set_seeds "${N[i]}" "${N[i % 5 + 1]}"; done
for i in 1 2 3 4 5; do start_node "${N[i]}" || finish; done
for i in 1 2 3 4 5; do
    expect_links "n$i has its ring neighbours ready" 15 "${N[i]}" "${N[(i + 3) % 5 + 1]}" "${N[i % 5 + 1]}"
done
BASE=$(node_records "${N[1]}") # the 5 memberships
T0=$(now_ms)
for k in 1 2 3 4; do
    for i in 1 3 5; do
        publish "${N[i]}" md5 "$(rand_hex 16)"
        [ "$CODE" = 201 ] || fail "publish at n$i answers 201" "got $CODE: $BODY"
    done
done
use_node "${N[3]}"
post /v1/signals "{\"signals\":[{\"type\":\"pdq\",\"value\":\"$(rand_hex 32)\"},{\"type\":\"sha256\",\"value\":\"$(rand_hex 32)\"}]}"
expect_code "a batch of 2 at n3 answers 201" 201
TOTAL=$((BASE + 14))
expect_records "all five hold $TOTAL records within 15 s" 15 "$TOTAL" "${N[@]:1}"
echo "# figure: 14 publishes at 3 origins to identical counts on 5 nodes: $(($(now_ms) - T0)) ms (polled)"
expect_same_feeds "all five hold the same record ids" "${N[@]:1}"

# =====================================================================================
echo "# 5. a node stopped during publishes catches up after restart"
(
    for k in $(seq 1 10); do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X POST -H "Authorization: Bearer $(node_token "${N[1]}")" \
            -H 'Content-Type: application/json' \
            --data-binary "{\"type\":\"md5\",\"value\":\"$(rand_hex 16)\"}" "$(node_url "${N[1]}")/v1/signals"
        sleep 0.1
    done >"$TMP/writer.codes"
) &
WRITER=$!
BG_PIDS+=("$WRITER")
sleep 0.3
stop_node "${N[3]}"
echo "# n3 stopped after $(wc -l <"$TMP/writer.codes") of the 10 publishes at n1"
wait "$WRITER"
expect_eq "the 10 publishes at n1 answer 201" 10 "$(grep -c '^201$' "$TMP/writer.codes")"
for k in 1 2 3; do
    publish "${N[2]}" md5 "$(rand_hex 16)"
    [ "$CODE" = 201 ] || fail "publish at n2 answers 201" "got $CODE: $BODY"
done
publish "${N[1]}" md5 "$(rand_hex 16)"
TOTAL=$((TOTAL + 14))
expect_records "the four running nodes hold $TOTAL records" 15 "$TOTAL" "${N[1]}" "${N[2]}" "${N[4]}" "${N[5]}"
start_node "${N[3]}" || finish
T0=$(now_ms)
expect_records "the restarted n3 holds all $TOTAL records within 15 s" 15 "$TOTAL" "${N[3]}"
echo "# figure: n3 caught up $(($(now_ms) - T0)) ms after its restart (polled)"
expect_same_feeds "n3 holds exactly the records of the others" "${N[@]:1}"
expect_links "n3's links are back" 15 "${N[3]}" "${N[2]}" "${N[4]}"
# Catch-up is by pull, each origin from one peer, and pulled records are not pushed on: n3
# received what it lacked exactly once.
use_node "${N[3]}"
get /metrics
expect_eq "the restarted n3 received no record twice" 0 \
    "$(awk '$1 == "gifnet_peer_duplicates_total" {print $2}' <<<"$BODY")"
check "the restarted n3 received records from its peers" \
    awk '$1 == "gifnet_peer_records_received_total" {exit !($2 >= 1)}' <<<"$BODY"

# =====================================================================================
echo "# 6. a node frozen (SIGSTOP) catches up after SIGCONT"
P4=${NODE_PID[${N[4]}]}
kill -STOP "$P4"
for k in 1 2 3; do
    publish "${N[5]}" md5 "$(rand_hex 16)"
    [ "$CODE" = 201 ] || fail "publish at n5 answers 201" "got $CODE: $BODY"
    publish "${N[1]}" md5 "$(rand_hex 16)"
    [ "$CODE" = 201 ] || fail "publish at n1 answers 201" "got $CODE: $BODY"
done
use_node "${N[3]}"
post /v1/alerts '{"incident":"ring-test","level":"content_incident","signals":[]}'
[ "$CODE" = 201 ] || fail "alert at n3 answers 201" "got $CODE: $BODY"
TOTAL=$((TOTAL + 7))
expect_records "the four others hold $TOTAL records while n4 is frozen" 15 "$TOTAL" "${N[1]}" "${N[2]}" "${N[3]}" "${N[5]}"
sleep 2
kill -CONT "$P4"
T0=$(now_ms)
expect_records "n4 holds all $TOTAL records within 15 s of SIGCONT" 15 "$TOTAL" "${N[4]}"
echo "# figure: n4 caught up $(($(now_ms) - T0)) ms after SIGCONT (polled)"
expect_same_feeds "all five hold the same record ids again" "${N[@]:1}"
for i in 1 2 3 4 5; do stop_node "${N[i]}"; done

finish
