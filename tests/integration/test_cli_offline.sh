#!/usr/bin/env bash
# gifctl's offline verbs: keygen, consortium init, member add/revoke, node init, verify, hash,
# --help of every verb, and the exit codes of bad usage. Needs no running node.
# ctest sets GIFCTL (path to gifctl); run by hand: GIFCTL=build/gifctl bash this-file.
set -euo pipefail

GIFCTL=${GIFCTL:?set GIFCTL to the gifctl binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

failures=0
checks=0
out="$tmp/out"
err="$tmp/err"

pass() { checks=$((checks + 1)); echo "ok   $*"; }
failc() {
    checks=$((checks + 1)); failures=$((failures + 1))
    echo "FAIL $*"
    echo "  stdout: $(head -c 600 "$out")"
    echo "  stderr: $(head -c 600 "$err")"
}

# expect RC DESCRIPTION -- CMD...: runs CMD, checks its exit code; output in $out / $err.
expect() {
    local want=$1 desc=$2
    shift 3
    local rc=0
    "$@" >"$out" 2>"$err" || rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$desc (exit $rc)"; else failc "$desc: exit $rc, want $want"; fi
}
# contains FILE PATTERN DESCRIPTION: grep -E for PATTERN in FILE.
contains() {
    if grep -Eq -- "$2" "$1"; then pass "$3"; else failc "$3: no /$2/ in $(basename "$1")"; fi
}
mode_of() { stat -c %a "$1"; }
# verifies CERT against CA as a peer would (strict X.509, both TLS purposes).
cert_ok() {
    openssl verify -x509_strict -purpose sslclient -CAfile "$1" "$2" >"$out" 2>"$err" &&
        openssl verify -x509_strict -purpose sslserver -CAfile "$1" "$2" >"$out" 2>"$err"
}

echo "== global"
expect 0 "gifctl --help" -- "$GIFCTL" --help
contains "$out" "^Usage: gifctl" "--help prints usage"
contains "$out" "member revoke" "--help lists two-word verbs"
expect 0 "gifctl --version" -- "$GIFCTL" --version
contains "$out" "^gifctl [0-9]+\.[0-9]+" "--version prints the version"
expect 2 "no verb" -- "$GIFCTL"
expect 2 "unknown verb" -- "$GIFCTL" frobnicate
contains "$err" "'frobnicate' is not a verb" "unknown verb is quoted"
expect 2 "unknown global option" -- "$GIFCTL" --bogus status
expect 2 "group without a second word" -- "$GIFCTL" member
expect 2 "unknown second word" -- "$GIFCTL" member frob
contains "$err" "'member frob' is not a verb" "unknown second word is quoted"

echo "== --help of every verb"
verbs=(status peers members lookup match publish alert retract feedback import export watch
       hash verify keygen "consortium init" "member add" "member revoke" "node init")
for v in "${verbs[@]}"; do
    # shellcheck disable=SC2086
    expect 0 "$v --help" -- "$GIFCTL" $v --help
    contains "$out" "^Usage: gifctl $v" "$v --help shows its usage"
    contains "$out" "^Example" "$v --help has an example"
done
expect 0 "--help after other arguments" -- "$GIFCTL" lookup md5 --help
expect 0 "member --help" -- "$GIFCTL" member --help

echo "== bad usage exits 2 and quotes the bad value"
expect 2 "unknown verb option" -- "$GIFCTL" status --frob
contains "$err" "'--frob'" "unknown option is quoted"
expect 2 "option missing its value" -- "$GIFCTL" match --max-distance
expect 2 "lookup with a bad type" -- "$GIFCTL" lookup md6 00
contains "$err" "'md6'" "bad type is quoted"
expect 2 "lookup with a short md5" -- "$GIFCTL" lookup md5 abc
contains "$err" "'abc'.*32 hex digits" "short md5 is quoted"
expect 2 "lookup with one argument" -- "$GIFCTL" lookup md5
expect 2 "match with a bad distance" -- "$GIFCTL" match "$(printf 'a%.0s' {1..64})" --max-distance 300
contains "$err" "'300'" "bad distance is quoted"
expect 2 "publish without --value" -- "$GIFCTL" publish --type md5
expect 2 "publish with an unknown label" -- "$GIFCTL" publish --type md5 \
    --value 9e107d9d372bb6826bd81d3542a419d6 --label gore
contains "$err" "'gore' is not a known label" "unknown label is quoted"
expect 2 "alert with a bad level" -- "$GIFCTL" alert --incident x --level high
contains "$err" "'high'" "bad level is quoted"
expect 2 "retract with a bad id" -- "$GIFCTL" retract xyz
contains "$err" "'xyz'" "bad id is quoted"
expect 2 "feedback with a bad verdict" -- "$GIFCTL" feedback "$(printf '0%.0s' {1..64})" --verdict meh
expect 2 "import with a bad --batch" -- "$GIFCTL" import x.csv --batch 5000
expect 2 "export with a bad format" -- "$GIFCTL" export --format xml
expect 2 "verify without a root" -- "$GIFCTL" verify x.jsonl
expect 2 "hash of a missing file" -- "$GIFCTL" hash "$tmp/nope"

echo "== the node unreachable exits 3"
expect 3 "status against a closed port" -- "$GIFCTL" --api http://127.0.0.1:1 status
contains "$err" "cannot reach node at http://127.0.0.1:1" "unreachable names the URL"
expect 3 "global --api after the verb" -- "$GIFCTL" lookup md5 9e107d9d372bb6826bd81d3542a419d6 --api http://127.0.0.1:1
expect 2 "a URL that is not http" -- "$GIFCTL" --api https://x status

echo "== keygen"
expect 0 "keygen" -- "$GIFCTL" keygen k1
[ "$(mode_of k1.key)" = 600 ] && pass "secret key is mode 0600" || failc "k1.key mode $(mode_of k1.key)"
grep -Eqx '[0-9a-f]{128}' k1.key && pass "secret key is 128 hex digits" || failc "k1.key format"
grep -Eqx '[0-9a-f]{64}' k1.pub && pass "public key is 64 hex digits" || failc "k1.pub format"
[ "$(cat "$out")" = "$(cat k1.pub)" ] && pass "keygen prints the public key" || failc "keygen output"
[ "$(cut -c65-128 k1.key)" = "$(cat k1.pub)" ] && pass "secret key ends with its public key" || failc "key halves"
expect 2 "keygen refuses to overwrite" -- "$GIFCTL" keygen k1
expect 0 "keygen --json" -- "$GIFCTL" --json keygen k2
contains "$out" '"public_key": "[0-9a-f]{64}"' "keygen --json gives the public key"
"$GIFCTL" keygen k3 >/dev/null 2>&1
"$GIFCTL" keygen k4 >/dev/null 2>&1

echo "== consortium init"
expect 2 "consortium init without --dir" -- "$GIFCTL" consortium init
expect 0 "consortium init" -- "$GIFCTL" consortium init --dir cons --name "Test consortium"
for f in root.key root.pub root.crt members.jsonl consortium.json; do
    [ -e "cons/$f" ] && pass "cons/$f exists" || failc "cons/$f missing"
done
[ "$(mode_of cons/root.key)" = 600 ] && pass "root.key is 0600" || failc "root.key mode"
[ ! -s cons/members.jsonl ] && pass "members.jsonl starts empty" || failc "members.jsonl not empty"
contains cons/consortium.json '"name": "Test consortium"' "consortium.json holds the name"
openssl x509 -in cons/root.crt -noout -subject -ext basicConstraints >"$out" 2>"$err" || true
contains "$out" "O = Test consortium, CN = gifnet consortium root" "root.crt names the consortium"
contains "$out" "CA:TRUE" "root.crt is a CA"
expect 2 "consortium init refuses an existing consortium" -- "$GIFCTL" consortium init --dir cons
contains "$err" "already holds a consortium" "refusal says why"

echo "== member add / revoke"
expect 2 "member add with a bad role" -- "$GIFCTL" member add --consortium cons --key-file k1.pub --org A --role admin
contains "$err" "--role: 'admin' is not one of agency, platform, observer" "bad role is quoted"
expect 2 "member add with a bad key" -- "$GIFCTL" member add --consortium cons --key 1234 --org A --role platform
contains "$err" "--key: '1234'" "bad key is quoted"
expect 2 "member add without a key" -- "$GIFCTL" member add --consortium cons --org A --role platform
expect 2 "member add with a bad time" -- "$GIFCTL" member add --consortium cons --key-file k1.pub --org A --role platform --not-after tomorrow
contains "$err" "'tomorrow'" "bad time is quoted"
expect 2 "member add with a bad address" -- "$GIFCTL" member add --consortium cons --key-file k1.pub --org A --role platform --addr nohost
expect 2 "member add to a missing consortium" -- "$GIFCTL" member add --consortium nope --key-file k1.pub --org A --role platform
[ ! -s cons/members.jsonl ] && pass "refused adds wrote nothing" || failc "members.jsonl changed"
expect 0 "member add (key file)" -- "$GIFCTL" member add --consortium cons --key-file k1.pub --org "Platform A" --role platform --addr 10.0.0.1:7481
grep -Eqx '[0-9a-f]{64}' "$out" && pass "member add prints the record id" || failc "member add output"
id1=$(cat "$out")
expect 0 "member add (hex key, times)" -- "$GIFCTL" member add --consortium cons --key "$(cat k2.pub)" --org CTU --role agency --not-before 2020-01-01T00:00:00Z --not-after 2099-01-01T00:00:00.000+01:00
expect 0 "member add (third)" -- "$GIFCTL" member add --consortium cons --key-file k3.pub --org "Platform C" --role platform
expect 0 "member add (fourth)" -- "$GIFCTL" member add --consortium cons --key-file k4.pub --org Watcher --role observer
[ "$(wc -l < cons/members.jsonl)" -eq 4 ] && pass "members.jsonl has 4 lines" || failc "members.jsonl lines"
contains cons/members.jsonl "^\{\"id\":\"$id1\",\"kind\":\"membership\",\"seq\":1," "line 1 is seq 1 with its id"
contains cons/members.jsonl '"seq":4,' "seq counts up"
contains cons/members.jsonl '"record":"[0-9a-f]+"' "lines carry the record hex"
expect 0 "member revoke" -- "$GIFCTL" member revoke --consortium cons --key "$(cat k3.pub)" --reason "key lost"
contains cons/members.jsonl '"kind":"revocation","seq":5,' "revocation appended as seq 5"
expect 2 "member revoke twice" -- "$GIFCTL" member revoke --consortium cons --key "$(cat k3.pub)"
contains "$err" "already revoked" "second revocation refused"
expect 2 "member revoke of a non-member" -- "$GIFCTL" member revoke --consortium cons --key "$(printf 'ab%.0s' {1..32})"
contains "$err" "is not a member" "non-member revocation refused"
expect 2 "member add of a revoked key" -- "$GIFCTL" member add --consortium cons --key-file k3.pub --org C --role platform
expect 0 "member add --json" -- "$GIFCTL" --json member add --consortium cons --key-file k1.pub --org "Platform A" --role platform
contains "$out" '"seq": 6' "member add --json gives the seq"
expect 0 "member add --cert-out" -- "$GIFCTL" member add --consortium cons --key-file k2.pub --org CTU --role agency --not-after 2099-01-01 --cert-out k2.crt
cert_ok cons/root.crt k2.crt && pass "member add --cert-out: the certificate verifies under root.crt" || failc "k2.crt does not verify"
openssl x509 -in k2.crt -noout -subject -enddate >"$out" 2>"$err" || true
contains "$out" "O = CTU, CN = $(cat k2.pub)" "the certificate names the org and the key"
contains "$out" "notAfter=Jan  1 00:00:00 2099 GMT" "the certificate ends with the membership"
n_before=$(wc -l < cons/members.jsonl)
expect 2 "member add --cert-out to an unwritable place" -- "$GIFCTL" member add --consortium cons --key-file k4.pub --org W --role observer --cert-out /nonexistent/dir/k4.crt
contains "$err" "/nonexistent/dir/k4.crt" "the unwritable file is named"
[ "$(wc -l < cons/members.jsonl)" -eq "$n_before" ] && pass "and no membership was added" || failc "membership added despite --cert-out failing"

echo "== node init"
expect 2 "node init with a bad role" -- "$GIFCTL" node init --consortium cons --dir n1 --org X --role boss
[ ! -e n1 ] && pass "refused node init created nothing" || failc "n1 created"
expect 2 "node init with a bad --api" -- "$GIFCTL" node init --consortium cons --dir n1 --org X --role platform --api localhost
expect 0 "node init" -- "$GIFCTL" node init --consortium cons --dir n1 --org "Platform D" --role platform --api 127.0.0.1:7590 --peer 127.0.0.1:7591
contains "$out" "gifd --config n1/gifd.ini" "node init prints how to start gifd"
contains "$out" "export GIFCTL_API=http://127.0.0.1:7590 GIFCTL_TOKEN=[0-9a-f]{32}" "node init prints the env to export"
[ "$(mode_of n1)" = 700 ] && pass "data dir is 0700" || failc "n1 mode $(mode_of n1)"
[ "$(mode_of n1/node.key)" = 600 ] && pass "node.key is 0600" || failc "node.key mode"
[ "$(mode_of n1/gifd.ini)" = 600 ] && pass "gifd.ini is 0600" || failc "gifd.ini mode"
cmp -s cons/members.jsonl n1/members.jsonl && pass "members.jsonl copied after the add" || failc "members.jsonl copy"
[ -s n1/node.crt ] && pass "node.crt written" || failc "n1/node.crt missing"
cmp -s cons/root.crt n1/root.crt && pass "root.crt copied" || failc "root.crt copy"
cert_ok n1/root.crt n1/node.crt && pass "openssl verify -CAfile root.crt node.crt" || failc "node.crt does not verify"
openssl x509 -in n1/node.crt -noout -subject >"$out" 2>"$err" || true
contains "$out" "O = Platform D, CN = $(cat n1/node.pub)" "node.crt is for the node's key"
contains cons/members.jsonl "\"key\":\"$(cat n1/node.pub)\"" "node key admitted"
ini=n1/gifd.ini
contains $ini "^root_key = $(cat cons/root.pub)$" "gifd.ini names the root key"
contains $ini "^data_dir = \.$" "gifd.ini data_dir"
contains $ini "^listen = 127\.0\.0\.1:7590$" "gifd.ini api listen"
contains $ini "^listen = 127\.0\.0\.1:7591$" "gifd.ini peers listen"
contains $ini "^token = [0-9a-f]{32}$" "gifd.ini has a 32-hex token"
contains $ini "^sync = true$" "gifd.ini storage sync"
for kv in "block_roles = agency" "block_verified = true" "block_min_agree = 2" \
          "review_min_disputes = 2" "block_max_distance = 31" "default = review"; do
    contains $ini "^$kv$" "gifd.ini policy: $kv"
done
for s in node consortium api peers storage policy; do contains $ini "^\[$s\]$" "gifd.ini has [$s]"; done
contains $ini "^cert = node\.crt$" "gifd.ini peers cert"
contains $ini "^ca = root\.crt$" "gifd.ini peers ca"
expect 2 "node init refuses an existing node" -- "$GIFCTL" node init --consortium cons --dir n1 --org X --role platform
contains "$err" "already holds node.key" "refusal says why"
expect 0 "node init --json" -- "$GIFCTL" --json node init --consortium cons --dir n2 --org E --role agency --api 127.0.0.1:7592 --peer 0.0.0.0:7593
contains "$out" '"token": "[0-9a-f]{32}"' "node init --json gives the token"
expect 0 "node init with seeds" -- "$GIFCTL" node init --consortium cons --dir n3 --org F --role platform --seed 10.0.0.1:7481 --seed peer.example:7481
contains n3/gifd.ini "^seeds = 10\.0\.0\.1:7481, peer\.example:7481$" "gifd.ini peers seeds"
expect 2 "node init with a bad seed" -- "$GIFCTL" node init --consortium cons --dir n4 --org F --role platform --seed nope
tok1=$(awk '/^token/ {print $3}' n1/gifd.ini); tok2=$(awk '/^token/ {print $3}' n2/gifd.ini)
[ "$tok1" != "$tok2" ] && pass "tokens differ" || failc "same token twice"

echo "== certificates of another consortium"
expect 0 "a second consortium" -- "$GIFCTL" consortium init --dir cons2 --name Other
expect 0 "a node in it" -- "$GIFCTL" node init --consortium cons2 --dir o1 --org Outsider --role platform
cert_ok o1/root.crt o1/node.crt && pass "its node.crt verifies under its own root" || failc "o1/node.crt"
if cert_ok cons/root.crt o1/node.crt; then failc "a foreign node.crt verified under cons/root.crt"; else pass "a foreign node.crt fails verification under cons/root.crt"; fi
if cert_ok o1/root.crt n1/node.crt; then failc "n1/node.crt verified under the other root"; else pass "and the other way round"; fi
rm cons2/root.crt
expect 2 "node init without root.crt" -- "$GIFCTL" node init --consortium cons2 --dir o2 --org X --role platform
contains "$err" "root.crt" "missing root.crt is named"

echo "== verify"
m=cons/members.jsonl
n=$(wc -l < $m)
expect 0 "verify a good members log (--consortium)" -- "$GIFCTL" verify $m --consortium cons
contains "$out" "$n records from 1 origin, 0 failures" "summary counts the records"
expect 0 "verify a good members log (--root)" -- "$GIFCTL" verify $m --root "$(cat cons/root.pub)"
expect 0 "verify --json" -- "$GIFCTL" --json verify $m --root "$(cat cons/root.pub)"
contains "$out" '"ok": true' "verify --json says ok"

# A flipped byte inside line 3's signature (the record hex ends the line: ...hex"}).
awk 'NR == 3 { p = length($0) - 10; c = substr($0, p, 1); $0 = substr($0, 1, p - 1) (c == "0" ? "1" : "0") substr($0, p + 1) } { print }' $m > flipped.jsonl
expect 2 "verify a flipped byte" -- "$GIFCTL" verify flipped.jsonl --consortium cons
contains "$out" "^line 3: [0-9a-f]{12}: bad signature$" "flipped byte: line 3, bad signature"
contains "$out" "1 failure$" "flipped byte: exactly one failure"

awk 'NR == 2 { hold = $0; next } NR == 3 { print; print hold; next } { print }' $m > reordered.jsonl
expect 2 "verify reordered records" -- "$GIFCTL" verify reordered.jsonl --consortium cons
contains "$out" "^line 2: [0-9a-f]{12}: seq 3 .* follows seq 1" "reordered: line 2 is past a gap"
contains "$out" "^line 3: [0-9a-f]{12}: seq 2 .* comes after seq 3 \(reordered" "reordered: line 3 named as reordered"

sed 2d $m > missing.jsonl
expect 2 "verify a missing record" -- "$GIFCTL" verify missing.jsonl --consortium cons
contains "$out" "^line 2: [0-9a-f]{12}: seq 3 .* follows seq 1 \(1 record missing\)" "missing: line 2 names the gap"

sed 1d $m > partial.jsonl
expect 2 "verify an export that starts mid-chain" -- "$GIFCTL" verify partial.jsonl --root "$(cat cons/root.pub)"
contains "$out" "^line 1: .*is seq 2, not 1" "mid-chain start named"
expect 0 "verify --partial accepts it" -- "$GIFCTL" verify partial.jsonl --root "$(cat cons/root.pub)" --partial

expect 2 "verify under another root" -- "$GIFCTL" verify $m --root "$(cat k1.pub)"
contains "$out" "^line 1: .*signed by the root" "foreign root named"

{ head -1 $m; echo 'not json'; echo '{"id":"x"}'; echo '{"record":"zz"}'; } > junk.jsonl
expect 2 "verify junk lines" -- "$GIFCTL" verify junk.jsonl --consortium cons
contains "$out" "^line 2: -: not a JSON object" "junk: not JSON named"
contains "$out" "^line 3: -: no \"record\" field" "junk: missing record named"
contains "$out" "^line 4: -: \"record\" is not" "junk: bad hex named"

# A record signed by a key that is no member: the root's own log, re-signed is not possible
# offline without gifd, so check the line's id instead: a wrong "id" field is caught.
sed '1s/"id":"[0-9a-f]\{4\}/"id":"ffff/' $m > badid.jsonl
if ! cmp -s $m badid.jsonl; then
    expect 2 "verify a wrong id field" -- "$GIFCTL" verify badid.jsonl --consortium cons
    contains "$out" "^line 1: .*\"id\" is not the id of its record" "wrong id named"
fi

echo "== hash"
printf 'hello gifnet\n' > a.bin
: > empty.bin
expect 0 "hash two files" -- "$GIFCTL" hash a.bin empty.bin
contains "$out" "^a.bin  md5     $(md5sum a.bin | cut -d' ' -f1)$" "md5 matches md5sum"
contains "$out" "^a.bin  sha256  $(sha256sum a.bin | cut -d' ' -f1)$" "sha256 matches sha256sum"
contains "$out" "^empty.bin  md5     d41d8cd98f00b204e9800998ecf8427e$" "md5 of an empty file"
expect 0 "hash --json" -- "$GIFCTL" hash --json a.bin
contains "$out" "\"file\": \"a.bin\"" "hash --json names the file"
contains "$out" "\"type\": \"sha256\"" "hash --json lists sha256"
contains "$out" "\"value\": \"$(md5sum a.bin | cut -d' ' -f1)\"" "hash --json md5 value"
expect 0 "hash of stdin" -- bash -c "printf 'hello gifnet\n' | '$GIFCTL' hash -"
contains "$out" "$(md5sum a.bin | cut -d' ' -f1)" "hash - reads stdin"
expect 2 "hash of a missing file among good ones" -- "$GIFCTL" hash a.bin nope.bin
contains "$out" "^a.bin  md5" "the good file is still hashed"
contains "$err" "nope.bin" "the missing file is named"
png=${GIF_SOURCE_DIR:-.}/../shared/testdata/pdq/decoded-png/bridge-1-original.png
if [ -f "$png" ]; then
    # 1600x1004: the reference library and its command-line tool (512x512 squash) differ here.
    expect 0 "hash of a 1600x1004 image" -- "$GIFCTL" hash "$png"
    contains "$out" "pdq     f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22  quality 100" \
        "full-resolution pdq equals the reference library's"
    expect 0 "hash --squash" -- "$GIFCTL" hash --squash "$png"
    contains "$out" "pdq     d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22  quality 100" \
        "--squash pdq equals the reference tool's"
else
    echo "SKIP: --squash check: ../shared/testdata/pdq is absent"
fi

echo
if [ "$failures" -ne 0 ]; then
    echo "test_cli_offline: $failures of $checks checks FAILED"
    exit 1
fi
echo "test_cli_offline: all $checks checks passed"
