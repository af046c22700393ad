# Shared helpers for the integration tests (sourced by tests/integration/test_*.sh).
#
# Environment (set by ctest, see CMakeLists.txt): GIFD and GIFCTL, the binaries under test;
# GIF_SOURCE_DIR, the source tree. Every node listens on 127.0.0.1 only (its API and its peer
# listener, never 0.0.0.0 nor the default 7481), on ports picked at random from 20000-31999
# and checked free. A test's files live in one temporary directory; on
# exit (normal, failure or Ctrl-C) every gifd and background process the test started is
# killed and the directory removed (keep it with GIF_KEEP_TMP=1).
#
# A test reads like:
#     source "$(dirname "$0")/lib.sh"
#     make_consortium
#     make_node a agency CTU
#     start_node "$TMP/a"; use_node "$TMP/a"
#     post /v1/signals '{"type":"md5","value":"..."}'
#     expect_code "publish answers 201" 201
#     expect_jq "the id is 64 hex" '.id | test("^[0-9a-f]{64}$")' true
#     finish
#
# Assertions print "ok - DESCRIPTION" or "FAIL - DESCRIPTION" (with details) and are counted;
# finish prints "N passed, M failed" and exits non-zero when anything failed.

set -u
set -o pipefail

: "${GIFD:?set GIFD to the gifd binary}"
: "${GIFCTL:?set GIFCTL to the gifctl binary}"
for _tool in curl jq; do
    command -v "$_tool" >/dev/null || {
        echo "FAIL - $_tool is not installed (scripts/deps.sh installs it)"
        echo "0 passed, 1 failed"
        exit 1
    }
done
[ -x "$GIFD" ] || { echo "FAIL - GIFD=$GIFD is not an executable"; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gifnet-it.XXXXXX")
PASSED=0
FAILED=0
declare -A NODE_PID=()  # data dir -> pid of its running gifd
declare -a BG_PIDS=()   # other background processes (curl -N clients, writers)
declare -a USED_PORTS=()
OUT="" ERR=""  # stdout and stderr of the last expect_rc
CODE=""  # status of the last request (000: no answer)
BODY=""  # body of the last request
U=""     # base URL of the node in use (use_node)
TOK=""   # its token

_cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${BG_PIDS[@]}" "${NODE_PID[@]}"; do
        { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null
    done
    if [ "${GIF_KEEP_TMP:-0}" = 1 ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# ---- Assertions.

pass() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

# fail DESCRIPTION [DETAIL...]: counts a failure and prints the details indented.
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL - $1"
    shift
    local d
    for d in "$@"; do printf '%s\n' "$d" | head -c 2000 | sed 's/^/#   /'; echo; done
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local desc=$1
    shift
    local out
    if out=$("$@" 2>&1); then pass "$desc"; else fail "$desc" "command: $*" "$out"; fi
}

# check_not DESCRIPTION COMMAND...: passes when the command fails.
check_not() {
    local desc=$1
    shift
    local out
    if out=$("$@" 2>&1); then fail "$desc" "command succeeded: $*" "$out"; else pass "$desc"; fi
}

# expect_rc DESCRIPTION STATUS COMMAND...: runs the command (stdin from /dev/null unless
# redirected by the caller), its stdout in $TMP/out (and OUT), stderr in $TMP/err (and ERR);
# passes when it exits with STATUS.
expect_rc() {
    local desc=$1 want=$2 rc=0
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
    if [ "$rc" = "$want" ]; then
        pass "$desc"
    else
        fail "$desc" "command: $*" "expected exit $want, got $rc" "stdout: $(head -c 1000 "$TMP/out")" \
            "stderr: $(head -c 1000 "$TMP/err")"
    fi
}

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi
}

# expect_code DESCRIPTION STATUS: checks the last request's status.
expect_code() {
    if [ "$CODE" = "$2" ]; then pass "$1"; else fail "$1" "expected status $2, got $CODE" "body: $BODY"; fi
}

# jqb FILTER: runs jq -r FILTER over the last body.
jqb() {
    printf '%s' "$BODY" | jq -r "$1" 2>/dev/null
}

# expect_jq DESCRIPTION FILTER EXPECTED: jq -r FILTER over the last body must print EXPECTED.
expect_jq() {
    local got
    got=$(jqb "$2")
    if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "filter:   $2" "expected: $3" "got:      $got" "status $CODE, body: $BODY"; fi
}

# expect_err DESCRIPTION STATUS CODE [FIELD [VALUE]]: the last answer is the documented error
# object: {"error": {"code": CODE, "message": non-empty, "field": FIELD, "value": VALUE}}.
expect_err() {
    local desc=$1 status=$2 code=$3 field=${4-} value=${5-} got
    got=$(jqb '[.error.code, (.error.message | type), (.error.field // ""), (.error.value // "")] | @tsv')
    local want
    want=$(printf '%s\t%s\t%s\t%s' "$code" string "$field" "$value")
    if [ $# -lt 5 ]; then
        # VALUE not given: do not compare it.
        got=$(printf '%s' "$got" | cut -f1-3)
        want=$(printf '%s\t%s\t%s' "$code" string "$field")
        [ $# -lt 4 ] && { got=$(printf '%s' "$got" | cut -f1-2); want=$(printf '%s\tstring' "$code"); }
    fi
    if [ "$CODE" = "$status" ] && [ "$got" = "$want" ]; then
        pass "$desc"
    else
        fail "$desc" "expected: $status $want" "got:      $CODE $got" "body: $BODY"
    fi
}

# ---- HTTP.

# use_node DIR: later get/post calls go to this node, with its token.
use_node() {
    U=$(node_url "$1")
    TOK=$(node_token "$1")
}

# req METHOD URL [DATA] [CURL_ARGS...]: one request; sets CODE and BODY. DATA "" sends no body;
# "@FILE" sends a file.
req() {
    local m=$1 url=$2 data=${3-}
    shift 2
    [ $# -gt 0 ] && shift
    local args=(-sS -o "$TMP/.body" -w '%{http_code}' --max-time 20 -X "$m" -H 'Expect:')
    if [ -n "$data" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$data"); fi
    CODE=$(curl "${args[@]}" "$@" "$url" 2>"$TMP/.curlerr") || CODE=000
    BODY=$(cat "$TMP/.body" 2>/dev/null)
    rm -f "$TMP/.body"
    [ "$CODE" = 000 ] && BODY="(no answer: $(cat "$TMP/.curlerr"))"
    return 0
}

# get PATH [CURL_ARGS...]: GET on the node in use.
get() {
    local p=$1
    shift
    req GET "$U$p" "" "$@"
}

# post PATH DATA [CURL_ARGS...]: POST with the node's token.
post() {
    local p=$1 d=$2
    shift 2
    req POST "$U$p" "$d" -H "Authorization: Bearer $TOK" "$@"
}

# post_noauth PATH DATA [CURL_ARGS...]: POST without a token (reads, or to test 401).
post_noauth() {
    local p=$1 d=$2
    shift 2
    req POST "$U$p" "$d" "$@"
}

# status_field FILTER: jq FILTER over GET /v1/status of the node in use (e.g. .feed_last).
status_field() {
    curl -s --max-time 10 "$U/v1/status" | jq -r "$1"
}

# raw_send PORT BYTES_FILE [SECONDS]: writes a file's bytes to 127.0.0.1:PORT and prints the
# answer (whatever arrives until the server closes, or SECONDS, default 3, have passed).
raw_send() {
    local port=$1 file=$2 secs=${3:-3}
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        cat "$file" >&3
        timeout "$secs" cat <&3
    ) 2>/dev/null
    return 0
}

# ---- Ports.

# free_port: sets PORT to a port of 127.0.0.1 nothing listens on (and not handed out before).
free_port() {
    local i p
    for i in $(seq 1 500); do
        # Below the kernel's ephemeral range (32768 and up), so that no outgoing connection
        # (a peer dialling another) can be sitting on a port handed out here.
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        [[ " ${USED_PORTS[*]} " == *" $p "* ]] && continue
        if command -v ss >/dev/null; then
            [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && continue
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        USED_PORTS+=("$p")
        PORT=$p
        return 0
    done
    echo "FAIL - no free port found" >&2
    return 1
}

# ---- Consortium and nodes.

CONS="$TMP/cons"          # the consortium make_node admits new nodes to (make_consortium sets it)
declare -A NODE_CONS=()   # node dir -> the consortium dir it was made in

# make_consortium [DIR [NAME]]: creates a consortium (root key, members log) in DIR (default
# $TMP/cons) and makes it the one later make_node calls use.
make_consortium() {
    local dir=${1:-$TMP/cons} name=${2:-integration test}
    "$GIFCTL" consortium init --dir "$dir" --name "$name" >"$dir.out" 2>&1 || {
        fail "gifctl consortium init $dir" "$(cat "$dir.out")"
        finish
    }
    CONS=$dir
}

# make_node NAME ROLE [ORG]: gifctl node init of $TMP/NAME in the consortium $CONS, with its API
# and its peer listener on two free ports of 127.0.0.1 (--api, --peer). The node's
# members.jsonl is a copy of the consortium's log at this moment: once every node is made, call
# sync_members so that each knows all of them. Seeds: set_seeds.
make_node() {
    local name=$1 role=$2 org=${3:-$1} api peer
    free_port || finish
    api=$PORT
    free_port || finish
    peer=$PORT
    local extra=()
    # ADVERTISE=1: the membership carries the peer address, so other members dial it.
    [ "${ADVERTISE:-}" = 1 ] && extra=(--addr "127.0.0.1:$peer")
    "$GIFCTL" node init --consortium "$CONS" --dir "$TMP/$name" --org "$org" --role "$role" \
        --api "127.0.0.1:$api" --peer "127.0.0.1:$peer" "${extra[@]}" >"$TMP/$name.init.out" 2>&1 || {
        fail "gifctl node init $name" "$(cat "$TMP/$name.init.out")"
        finish
    }
    NODE_CONS[$TMP/$name]=$CONS
}

# sync_members [DIR...]: copies the consortium's members.jsonl into each node dir (default: every
# node made so far), so that gifd loads every member at start, before any peer connects.
sync_members() {
    local dir
    [ $# -gt 0 ] || set -- "${!NODE_CONS[@]}"
    for dir in "$@"; do
        cp "${NODE_CONS[$dir]:-$CONS}/members.jsonl" "$dir/members.jsonl"
    done
}

# set_seeds DIR SEED_DIR...: [peers] seeds of DIR become the peer addresses of the SEED_DIRs
# (before DIR's gifd starts). With no SEED_DIR, the node dials no one.
set_seeds() {
    local dir=$1 s list=""
    shift
    for s in "$@"; do list+="${list:+, }$(node_peer_addr "$s")"; done
    ini_set "$dir" peers seeds "$list"
}

# ini_get DIR SECTION KEY: a value of DIR/gifd.ini.
ini_get() {
    awk -v s="[$2]" -v k="$3" '
        /^\[/ { sec = $0; next }
        sec == s && $1 == k { sub(/^[^=]*=[ \t]*/, ""); print; exit }' "$1/gifd.ini"
}

# ini_set DIR SECTION KEY VALUE: sets (or adds) a key of DIR/gifd.ini.
ini_set() {
    local f=$1/gifd.ini
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        function flush() { if (sec == s && !done) { print k " = " v; done = 1 } }
        /^\[/ { flush(); sec = $0; print; next }
        sec == s && $1 == k { if (!done) print k " = " v; done = 1; next }
        { print }
        END { flush(); if (!done) { print s; print k " = " v } }' "$f" >"$f.new" && mv "$f.new" "$f"
    chmod 600 "$f"
}

node_port() { ini_get "$1" api listen | sed 's/.*://'; }
node_peer_addr() { ini_get "$1" peers listen; }
node_peer_port() { node_peer_addr "$1" | sed 's/.*://'; }
node_url() { echo "http://127.0.0.1:$(node_port "$1")"; }
node_token() { ini_get "$1" api token; }
node_key() { cat "$1/node.pub" 2>/dev/null | tr -d ' \n' | grep -oE '[0-9a-f]{64}' | head -1; }

# start_node DIR: runs gifd on DIR/gifd.ini in the background (log: DIR/gifd.log) and waits
# until GET /v1/status answers 200; gives up after 10 s (or when gifd exits), showing the log.
# If the API port was taken meanwhile, moves the node to another port and tries again.
start_node() {
    local dir=$1 try i pid url st
    for try in 1 2 3; do
        url=$(node_url "$dir")
        echo "=== start $(date -u +%FT%TZ) ===" >>"$dir/gifd.log"
        "$GIFD" --config "$dir/gifd.ini" >>"$dir/gifd.log" 2>&1 &
        pid=$!
        NODE_PID[$dir]=$pid
        for i in $(seq 1 200); do
            st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/v1/status" 2>/dev/null)
            [ "$st" = 200 ] && return 0
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            unset "NODE_PID[$dir]"
            fail "gifd on $dir answers GET /v1/status within 10 s" "log:" "$(tail -n 30 "$dir/gifd.log")"
            return 1
        fi
        wait "$pid" 2>/dev/null
        unset "NODE_PID[$dir]"
        if tail -n 5 "$dir/gifd.log" | grep -i 'in use' | grep -q ":$(node_peer_port "$dir")\b"; then
            # The peer port is in other nodes' seeds: moving it would cut them off.
            fail "gifd on $dir starts (its peer port $(node_peer_port "$dir") was taken)" \
                "$(tail -n 5 "$dir/gifd.log")"
            return 1
        fi
        if tail -n 5 "$dir/gifd.log" | grep -qi 'in use'; then
            free_port || return 1
            ini_set "$dir" api listen "127.0.0.1:$PORT"
            [ "$U" = "$url" ] && use_node "$dir"
            continue
        fi
        fail "gifd on $dir starts" "log:" "$(tail -n 30 "$dir/gifd.log")"
        return 1
    done
    fail "gifd on $dir starts (ports kept being taken)"
    return 1
}

# stop_node DIR: SIGTERM, waits (10 s at most) and checks that gifd exited with status 0.
stop_node() {
    local dir=$1 pid i rc
    pid=${NODE_PID[$dir]-}
    [ -n "$pid" ] || { fail "stop_node $dir: not running"; return 1; }
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "NODE_PID[$dir]"
        fail "gifd ($(basename "$dir")) stops within 10 s of SIGTERM" "$(tail -n 20 "$dir/gifd.log")"
        return 1
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    unset "NODE_PID[$dir]"
    expect_eq "gifd ($(basename "$dir")) exits with status 0 on SIGTERM" 0 "$rc"
    [ "$rc" = 0 ] || tail -n 40 "$dir/gifd.log" | sed 's/^/#   /'
}

# kill_node DIR: SIGKILL, no questions.
kill_node() {
    local dir=$1 pid
    pid=${NODE_PID[$dir]-}
    [ -n "$pid" ] || return 0
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null
    unset "NODE_PID[$dir]"
    return 0
}

# node_alive DIR: the gifd of DIR is running and answers GET /v1/status.
node_alive() {
    local pid=${NODE_PID[$1]-}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(node_url "$1")/v1/status")" = 200 ]
}

# wait_for SECONDS COMMAND...: polls the command every 50 ms until it succeeds.
wait_for() {
    local limit=$1 i
    shift
    for i in $(seq 1 $((limit * 20))); do
        "$@" && return 0
        sleep 0.05
    done
    "$@"
}

# ---- Networks of nodes.

# node_records DIR: the node's GET /v1/status .records (empty when it does not answer).
node_records() {
    curl -s --max-time 5 "$(node_url "$1")/v1/status" | jq -r '.records // empty' 2>/dev/null
}

# wait_for_records DIR N SECONDS: polls GET /v1/status until .records is N; fails (status 1)
# when SECONDS pass first.
wait_for_records() {
    local dir=$1 n=$2 limit=$3 i
    for i in $(seq 1 $((limit * 10))); do
        [ "$(node_records "$dir")" = "$n" ] && return 0
        sleep 0.1
    done
    [ "$(node_records "$dir")" = "$n" ]
}

# ready_peers DIR: the keys of the node's peers in state ready (GET /v1/peers), sorted, one line.
ready_peers() {
    curl -s --max-time 5 "$(node_url "$1")/v1/peers" |
        jq -r '[.peers[] | select(.state == "ready") | .key] | sort | join(" ")' 2>/dev/null
}

# has_ready_peers DIR PEER_DIR...: the node's ready peers are exactly the given nodes.
has_ready_peers() {
    local dir=$1 want=() d
    shift
    for d in "$@"; do want+=("$(node_key "$d")"); done
    [ "$(ready_peers "$dir")" = "$(printf '%s\n' "${want[@]}" | sort | paste -sd' ')" ]
}

# peer_ready DIR PEER_DIR: the node lists PEER_DIR's key among its ready peers.
peer_ready() {
    [[ " $(ready_peers "$1") " == *" $(node_key "$2") "* ]]
}

# feed_ids DIR: the ids of the node's whole feed (GET /v1/records, every page), sorted.
feed_ids() {
    local url after=0 page
    url=$(node_url "$1")
    while :; do
        page=$(curl -s --max-time 10 "$url/v1/records?after=$after&limit=1000") || return 1
        printf '%s' "$page" | jq -r '.records[].id'
        [ "$(printf '%s' "$page" | jq -r .more)" = true ] || break
        after=$(printf '%s' "$page" | jq -r .next)
    done | sort
}

# lookup_count DIR TYPE VALUE: how many records GET /v1/lookup finds on the node.
lookup_count() {
    curl -s --max-time 5 "$(node_url "$1")/v1/lookup?type=$2&value=$3" | jq -r '.matches | length' 2>/dev/null
}

# copy_records FROM_DIR TO_DIR: ingests FROM's whole feed into TO with POST /v1/records (as a
# peer would send it); sets CODE and BODY to TO's answer.
copy_records() {
    local from to recs
    from=$(node_url "$1")
    to=$(node_url "$2")
    recs=$(curl -s --max-time 10 "$from/v1/records?limit=1000" | jq -c '[.records[].record]')
    req POST "$to/v1/records" "{\"records\":$recs}" -H "Authorization: Bearer $(node_token "$2")"
}

# ---- Test data.

# rand_hex BYTES: random lower-case hex.
rand_hex() {
    head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'
}

# unhex: hex on stdin to bytes on stdout.
unhex() {
    perl -e 'local $/; my $h = <STDIN>; $h =~ s/\s//g; binmode STDOUT; print pack("H*", $h)'
}

# flip_bits HEX N: the hash with its first N bits inverted (Hamming distance N).
flip_bits() {
    local hex=$1 n=$2 out="" i d
    for ((i = 0; i < ${#hex}; i++)); do
        d=$((16#${hex:i:1}))
        if [ "$n" -ge 4 ]; then
            d=$((d ^ 15)); n=$((n - 4))
        elif [ "$n" -gt 0 ]; then
            d=$((d ^ ((15 << (4 - n)) & 15))); n=0
        fi
        out+=$(printf '%x' "$d")
    done
    echo "$out"
}

# ---- End.

# finish: checks the gifd logs for sanitizer reports, prints the totals and exits.
finish() {
    local log
    for log in "$TMP"/*/gifd.log; do
        [ -f "$log" ] || continue
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
            fail "no sanitizer report in $(basename "$(dirname "$log")")/gifd.log" \
                "$(grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60)"
        fi
    done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
