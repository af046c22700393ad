#!/usr/bin/env bash
# Installs the Debian packages gifnet needs to build and test, only where missing.
# Used by `make test` and `make demo` (and `make bench`, with `bench`); safe to run repeatedly.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libsodium-dev libuv1-dev liblmdb-dev lmdb-utils libmsgpack-dev
      libcmocka-dev libjansson-dev libhttp-parser-dev libinih-dev
      libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
      curl jq openssl python3 python3-yaml)
# `scripts/deps.sh bench` (make bench) adds what only the benchmarks use: FAISS for the
# similarity-index comparison (bench/faiss_bench.cpp) and wrk for the HTTP lookup figures.
[ "${1:-}" = bench ] && pkgs+=(libfaiss-dev wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
