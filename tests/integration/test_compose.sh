#!/usr/bin/env bash
# docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check them with a
# YAML parser, check they agree with each other, with scripts/deps.sh and with `make demo`'s
# shape (an agency and three platforms, each platform dialling the members before it), and run
# the compose init script for real in a temporary directory.
set -uo pipefail
SRC=${GIF_SOURCE_DIR:?}
GIFCTL=${GIFCTL:?}
pass=0 failed=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
no() { echo "FAIL - $1"; failed=$((failed + 1)); }

out=$(python3 - "$SRC/docker-compose.yml" "$SRC/scripts/demo.sh" <<'PY'
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
s = doc["services"]
orgs = ["agency", "platform-a", "platform-b", "platform-c"]
platforms = orgs[1:]
def check(cond, what):
    print(("ok " if cond else "no ") + what)
check(set(s) == {"init", *orgs}, "services are init, agency, platform-a, platform-b, platform-c")
# make demo's organisations: NAMES=(...) and their roles in scripts/demo.sh.
demo = open(sys.argv[2]).read()
m = re.search(r"^NAMES=\(([^)]*)\)", demo, re.M)
names = m.group(1).split() if m else []
roles = [re.search(rf"--dir \$DATA/{n} [^\n]*--role (\w+)", demo) for n in names]
roles = [r.group(1) if r else None for r in roles]
check(len(names) == len(orgs), f"as many organisations as make demo ({len(names)}: {' '.join(names)})")
check(roles == ["agency"] + ["platform"] * len(platforms), "the same roles as make demo (an agency first, then platforms)")
ports = [svc_ports[0].split(":")[1] if (svc_ports := s[o].get("ports")) else None for o in orgs]
check(ports == ["7480", "7490", "7500", "7510"], "APIs on the host's 7480, 7490, 7500, 7510")
check(s["init"]["entrypoint"] == ["gifnet-init"], "init runs gifnet-init")
for o in orgs:
    svc = s[o]
    check(svc["command"] == ["gifd", "--config", f"/data/{o}/gifd.ini"], f"{o} runs gifd on its config")
    check(svc["depends_on"]["init"]["condition"] == "service_completed_successfully", f"{o} waits for init")
    hc = svc["healthcheck"]["test"]
    check(hc[0] == "CMD" and hc[-1].endswith("/v1/status"), f"{o} has a /v1/status healthcheck")
    check(f"{o}:/data/{o}" in svc["volumes"], f"{o} keeps its data in its own volume")
    check(all(p.startswith("127.0.0.1:") for p in svc.get("ports", [])), f"{o} publishes its API on loopback only")
    check(f"{o}:/data/{o}" in s["init"]["volumes"], f"init prepares {o}'s volume")
for o in platforms:
    check(s[o]["depends_on"]["agency"]["condition"] == "service_healthy", f"{o} starts after the agency is healthy")
check(set(doc["volumes"]) == {"consortium", *orgs}, "one volume per organisation plus the consortium")
PY
)
while read -r st what; do
    [ "$st" = ok ] && ok "$what" || no "$what"
done <<<"$out"
[ -n "$out" ] || no "docker-compose.yml parses"

# Every package the image builds with is one scripts/deps.sh installs (Debian packages only).
for p in $(sed -n '/^FROM debian:bookworm AS build/,/^COPY/p' "$SRC/Dockerfile" | grep -oE 'lib[a-z0-9.+-]+-dev|cmake|pkg-config'); do
    grep -qE "(^|[ (])$p([ )]|$)" "$SRC/scripts/deps.sh" && ok "Dockerfile build package $p is in deps.sh" ||
        no "Dockerfile build package $p is not in scripts/deps.sh"
done

# The init script, run for real with gifctl: four organisations, seeds naming compose services.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" && ln -s "$GIFCTL" "$T/bin/gifctl"
if PATH="$T/bin:$PATH" GIFNET_CONSORTIUM="$T/c" GIFNET_DATA="$T/data" \
    bash "$SRC/scripts/docker-init.sh" >"$T/init.log" 2>&1; then
    ok "the init script runs"
else
    no "the init script runs: $(tail -3 "$T/init.log")"
fi
for o in agency platform-a platform-b platform-c; do
    [ -f "$T/data/$o/node.key" ] && [ -f "$T/data/$o/node.crt" ] && ok "$o has a key and a certificate" ||
        no "$o has a key and a certificate"
    cmp -s "$T/c/members.jsonl" "$T/data/$o/members.jsonl" && ok "$o knows every member" ||
        no "$o knows every member"
done
grep -q '^seeds = agency:7481$' "$T/data/platform-a/gifd.ini" && ok "platform-a dials the agency service" ||
    no "platform-a dials the agency service ($(grep seeds "$T/data/platform-a/gifd.ini"))"
grep -q '^seeds = agency:7481, platform-a:7481, platform-b:7481$' "$T/data/platform-c/gifd.ini" &&
    ok "platform-c dials the agency and the two other platforms, as StreamNow does in the demo" ||
    no "platform-c dials the agency and the two other platforms ($(grep seeds "$T/data/platform-c/gifd.ini"))"
grep -q '^listen = 0.0.0.0:7480$' "$T/data/agency/gifd.ini" && ok "the API listens on the container's interface" ||
    no "the API listens on the container's interface"
n=$(grep -c '"kind": *"membership"\|"kind":"membership"' "$T/c/members.jsonl")
[ "$n" = 4 ] && ok "four memberships" || no "four memberships (got $n)"
# Run again: nothing is recreated (keys survive container restarts).
k=$(cat "$T/data/agency/node.pub")
PATH="$T/bin:$PATH" GIFNET_CONSORTIUM="$T/c" GIFNET_DATA="$T/data" bash "$SRC/scripts/docker-init.sh" >/dev/null 2>&1
[ "$(cat "$T/data/agency/node.pub")" = "$k" ] && ok "a second run keeps existing keys" ||
    no "a second run keeps existing keys"

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
