#!/usr/bin/env bash
# One-shot set-up for docker-compose.yml: the consortium (root key in the `consortium` volume;
# in production it stays offline) and one data directory per organisation (an agency and three
# platforms), as `make demo` does on 127.0.0.1. Does nothing for what already exists, so
# restarts keep their keys (and a fourth member added to an older three-member set-up joins).
set -euo pipefail
C=${GIFNET_CONSORTIUM:-/consortium}
DATA=${GIFNET_DATA:-/data}
mkdir -p "$DATA"
[ -f "$C/root.key" ] || gifctl consortium init --dir "$C" --name "Example Consortium"
# name role peer-seeds
orgs=("agency agency -" "platform-a platform agency:7481" "platform-b platform agency:7481,platform-a:7481"
      "platform-c platform agency:7481,platform-a:7481,platform-b:7481")
for o in "${orgs[@]}"; do
    read -r name role seeds <<<"$o"
    d=$DATA/$name
    if [ ! -f "$d/node.key" ]; then
        args=(node init --consortium "$C" --dir "$d" --org "$name" --role "$role"
              --api 0.0.0.0:7480 --peer 0.0.0.0:7481)
        if [ "$seeds" != - ]; then
            IFS=, read -ra ss <<<"$seeds"
            for s in "${ss[@]}"; do args+=(--seed "$s"); done
        fi
        gifctl "${args[@]}"
    fi
done
# Every node must know every member before peers connect (docs/network.md).
for o in "${orgs[@]}"; do
    read -r name _ _ <<<"$o"
    cp "$C/members.jsonl" "$DATA/$name/members.jsonl"
done
