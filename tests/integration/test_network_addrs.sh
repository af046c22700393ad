#!/usr/bin/env bash
# Peers from membership addresses (issue 3): three members that configure no seeds at all, but
# whose memberships advertise their peer addresses (gifctl node init --addr), find each other,
# keep one link per pair, and replicate.
source "$(dirname "$0")/lib.sh"

make_consortium "$TMP/cons" "addresses test"
ADVERTISE=1 make_node a agency CTU
ADVERTISE=1 make_node b platform "Platform B"
ADVERTISE=1 make_node c platform "Platform C"
A=$TMP/a B=$TMP/b C=$TMP/c
sync_members
check "no node has seeds" bash -c "! grep -q '^seeds' '$A/gifd.ini' '$B/gifd.ini' '$C/gifd.ini'"
start_node "$A" || finish
start_node "$B" || finish
start_node "$C" || finish

check "A links with B and C" wait_for 15 has_ready_peers "$A" "$B" "$C"
check "B links with A and C" wait_for 15 has_ready_peers "$B" "$A" "$C"
check "C links with A and B" wait_for 15 has_ready_peers "$C" "$A" "$B"
check "A learnt the others' addresses from their memberships" \
    grep -q "learnt 127.0.0.1:$(node_peer_port "$B") for Platform B" "$A/gifd.log"
n=$(curl -s "$(node_url "$A")/v1/peers" | jq '[.peers[] | select(.state == "ready")] | length')
expect_eq "one link per pair: A has exactly 2 ready links" 2 "$n"

use_node "$A"
V=$(rand_hex 16)
post /v1/signals "{\"type\":\"md5\",\"value\":\"$V\"}"
expect_code "A publishes (201)" 201
found() { [ "$(lookup_count "$1" md5 "$2")" = 1 ]; }
check "C finds A's signal" wait_for 10 found "$C" "$V"

stop_node "$A"
stop_node "$B"
stop_node "$C"
finish
