#!/bin/bash
# A/B of storage/pdq.c variants in one process (docs/performance.md): each variant is pdq.c from
# a source tree, compiled with extra flags and its symbols prefixed v0_..v3_; pdq_ab.c builds
# every variant on the same generated set and times radius-31 queries in alternating slices,
# so that all variants see the same machine load. Prints medians of the rounds.
#
# usage: bench/pdq_ab/run.sh "TREE[:FLAGS]" ... -- N ROUNDS IDLEN [clustered]
#   e.g. git worktree add -f /tmp/pdqA HEAD~3
#        IDLEN0=32 bench/pdq_ab/run.sh /tmp/pdqA /work/main -- 10000000 11 0
#   (IDLEN0 sets variant 0's id length, e.g. for a tree without hashes-only indexes)
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/pdq_ab.$$
mkdir -p "$out"
CF="-std=c17 -O3 -DNDEBUG -mpopcnt -D_GNU_SOURCE -w"
objs=()
i=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  dir=${1%%:*}; fl=""; [[ "$1" == *:* ]] && fl=${1#*:}
  # shellcheck disable=SC2086
  gcc $CF -I"$dir" -include "$here/prefix.h" -DVARIANT=v$i $fl -c "$dir/storage/pdq.c" -o "$out/v$i.o"
  objs+=("$out/v$i.o"); i=$((i + 1)); last_dir=$dir; last_fl=$fl; shift
done
shift
nv=$i
while [ $i -lt 4 ]; do # the driver links four variants; unused ones repeat the last
  # shellcheck disable=SC2086
  gcc $CF -I"$last_dir" -include "$here/prefix.h" -DVARIANT=v$i $last_fl -c "$last_dir/storage/pdq.c" -o "$out/v$i.o"
  objs+=("$out/v$i.o"); i=$((i + 1))
done
gcc $CF "$here/pdq_ab.c" "${objs[@]}" -lpthread -o "$out/pdq_ab"
"$out/pdq_ab" "$1" "$nv" "${@:2}"
rm -rf "$out"
