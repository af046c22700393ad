#!/usr/bin/env bash
# `make demo`'s script (scripts/demo.sh), run against the binaries under test (GIFD and GIFCTL:
# it builds nothing and installs nothing) in a temporary directory, so its ./demo-data is the
# test's. It picks free ports itself (127.0.0.1:7480 and up). Checks what a newcomer relies on:
# the demo exits 0; the other platforms answer block for the re-encoded copy and the cut clip
# once the CTU escalates; the retraction reaches every other node and the image is then
# allowed; and no gifd the demo started is left running.
source "$(dirname "$0")/lib.sh"

SRC=${GIF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for t in ffmpeg; do
    command -v "$t" >/dev/null || { fail "$t is not installed (scripts/deps.sh installs it)"; finish; }
done

LOG=$TMP/demo.out
rc=0
GIFD=$(readlink -f "$GIFD") GIFCTL=$(readlink -f "$GIFCTL") # the demo runs from $TMP
# timeout sends TERM first: the demo's trap then stops its nodes.
(cd "$TMP" && GIFD=$GIFD GIFCTL=$GIFCTL timeout -k 10 120 bash "$SRC/scripts/demo.sh") >"$LOG" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then pass "the demo exits 0"; else fail "the demo exits 0 (exit $rc)" "$(tail -n 30 "$LOG")"; fi

# has DESCRIPTION REGEX: a line of the demo's output matches REGEX (grep -E).
has() {
    if grep -Eq -- "$2" "$LOG"; then pass "$1"; else fail "$1: no /$2/ in the demo's output" "$(tail -n 30 "$LOG")"; fi
}
# section TITLE: the output of the numbered step whose title starts with TITLE, to the next step.
section() {
    awk -v t="$1" '/^[0-9]+\. / { on = index($0, t) > 0; if (on) { print; next } } on' "$LOG"
}
AFTER='after [0-9]+ ms'

has "the four nodes link" "^all six links ready [0-9]+ ms after the last start"
has "the alert reaches every other node" "^the alert reached: CTU $AFTER, ClipHub $AFTER, StreamNow $AFTER$"
has "every platform answers block after the escalation" \
    "^the platforms answer block after the escalation: VideoShare $AFTER, ClipHub $AFTER, StreamNow $AFTER$"

s=$(section "ClipHub's pipeline matches the re-encoded copy again")
if grep -Eq '^\./demo-data/media/copy\.mp4 \(video [0-9]+x[0-9]+\): block$' <<<"$s" &&
    grep -Eq '^  vpdq \([0-9]+ frames\): block' <<<"$s"; then
    pass "ClipHub answers block for the re-encoded copy"
else
    fail "ClipHub answers block for the re-encoded copy" "$s"
fi
s=$(section "StreamNow gets a 3 s cut")
n=$(grep -Ec '^  vpdq \([0-9]+ frames\): block' <<<"$s")
if grep -q '^cut\.mp4$' <<<"$s" && [ "$n" = 2 ]; then
    pass "StreamNow answers block for the cut clip and the copy"
else
    fail "StreamNow answers block for the cut clip and the copy ($n blocks)" "$s"
fi
has "the CTU's verified MD5 blocks at every platform" \
    "^the platforms answer block for the MD5: VideoShare $AFTER, ClipHub $AFTER, StreamNow $AFTER$"

has "the retraction reaches every other node" \
    "^the retraction reached: CTU $AFTER, VideoShare $AFTER, StreamNow $AFTER$"
s=$(section "StreamNow looks the image up again")
if grep -Eq '^pdq [0-9a-f]{64}: allow \(1 match\)$' <<<"$s" && grep -q 'RETRACTED$' <<<"$s"; then
    pass "after the retraction StreamNow allows the image and shows it RETRACTED"
else
    fail "after the retraction StreamNow allows the image and shows it RETRACTED" "$s"
fi
has "the conclusion reaches the platforms" \
    "^the conclusion reached: VideoShare $AFTER, ClipHub $AFTER, StreamNow $AFTER$"
has "the demo ends with its timings" "^  CTU escalation -> block at the last platform +[0-9]+ ms$"

# No gifd left: neither the four the demo says it stopped, nor any whose working directory is
# this test's (the demo's nodes run from where the demo was started).
pids=$(sed -n 's/^\$ kill \([0-9 ]*\)$/\1/p' "$LOG" | tail -n 1)
[ "$(wc -w <<<"$pids")" = 4 ] && pass "the demo names the four gifd it stops" ||
    fail "the demo names the four gifd it stops: '$pids'"
left=()
for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$GIFD" ] || continue
    pid=${p#/proc/}
    cwd=$(readlink "$p/cwd" 2>/dev/null)
    if [[ " $pids " == *" $pid "* ]] || [[ "$cwd" == "$TMP"* ]]; then left+=("$pid"); fi
done
if [ "${#left[@]}" = 0 ]; then
    pass "no gifd of the demo is left running"
else
    fail "no gifd of the demo is left running: ${left[*]}"
    BG_PIDS+=("${left[@]}") # started by this test's demo: lib.sh's cleanup kills them
fi
for log in "$TMP"/demo-data/*/gifd.log; do # finish looks one level up only
    [ -f "$log" ] || continue
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        fail "no sanitizer report in $log" "$(grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60)"
    fi
done
finish
