#!/usr/bin/env bash
# Media hashing end to end (docs/api.md "POST /v1/match/media", docs/cli.md hash, match FILE,
# publish FILE): gifctl hashes an image and a video offline and publishes their signals; the
# node hashes re-encoded copies sent as raw bytes and finds the published records (pdq near
# match for the image, vpdq frame overlap for the video); bodies that are not media get clear
# 4xx errors and the node keeps running. Videos and the fallback image are made with the
# ffmpeg command-line tool (lavfi sources).
source "$(dirname "$0")/lib.sh"

command -v ffmpeg >/dev/null || {
    echo "# SKIP: the ffmpeg tool is not installed (scripts/deps.sh installs it)"
    finish
}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

make_consortium
make_node a agency CTU
cp "$TMP/cons/members.jsonl" "$TMP/a/members.jsonl"
start_node "$TMP/a" || finish
A=$TMP/a
UA=$(node_url "$A") TA=$(node_token "$A")
ctl() { "$GIFCTL" --api "$UA" --token "$TA" "$@" </dev/null; }
use_node "$A"

# media_post FILE CONTENT_TYPE [QUERY]: POST /v1/match/media with the file's bytes.
media_post() {
    local file=$1 ct=$2 q=${3-}
    req POST "$U/v1/match/media$q" "" -H "Content-Type: $ct" --data-binary "@$file"
}

# ---- The image: a photo from the PDQ test data, or a generated one.
IMG_SRC=${GIF_SOURCE_DIR:-.}/../shared/testdata/pdq/bridge-mods/aaa-orig.jpg
if [ -f "$IMG_SRC" ]; then
    cp "$IMG_SRC" "$TMP/img.jpg"
else
    echo "# no $IMG_SRC (../shared absent): using a generated image"
    ff -f lavfi -i "mandelbrot=size=640x480" -frames:v 1 "$TMP/img.jpg"
fi
# The query: the same picture resized and re-encoded as PNG (other bytes, near pdq).
ff -i "$TMP/img.jpg" -vf scale=iw*3/4:ih*3/4 "$TMP/img-small.png"
# An unrelated picture.
ff -f lavfi -i "testsrc2=size=320x240" -frames:v 1 "$TMP/other.png"

# ---- The video: 8 s of a moving test pattern; the query is a smaller, harder-compressed copy.
ff -f lavfi -i "testsrc2=size=320x240:rate=10" -t 8 -pix_fmt yuv420p "$TMP/clip.mp4"
ff -i "$TMP/clip.mp4" -vf scale=256:192 -c:v libx264 -crf 32 -pix_fmt yuv420p "$TMP/clip-copy.mp4"
ff -f lavfi -i "mandelbrot=size=320x240:rate=10" -t 5 -pix_fmt yuv420p "$TMP/other.mp4"
# A letterboxed copy: black bars above and below (the node crops them on the query side).
ff -i "$TMP/clip.mp4" -vf "pad=320:320:0:40:black" -c:v libx264 -crf 28 -pix_fmt yuv420p "$TMP/clip-letterbox.mp4"

# ---- gifctl hash, offline.
expect_rc "hash of an image and a video exits 0" 0 "$GIFCTL" --json hash "$TMP/img.jpg" "$TMP/clip.mp4"
expect_eq "hash --json: one object per file, image then video" "image video" \
    "$(jq -r '[.[].media] | join(" ")' <<<"$OUT")"
expect_eq "the image has md5, sha256 and pdq" "md5 sha256 pdq" \
    "$(jq -r '[.[0].signals[].type] | join(" ")' <<<"$OUT")"
expect_eq "md5 and sha256 are those of the bytes" "$(md5sum <"$TMP/img.jpg" | cut -c1-32) $(sha256sum <"$TMP/img.jpg" | cut -c1-64)" \
    "$(jq -r '.[0].signals[0:2] | map(.value) | join(" ")' <<<"$OUT")"
expect_eq "the pdq is 64 hex digits with a quality 0..100" true \
    "$(jq '.[0].signals[2] | (.value | test("^[0-9a-f]{64}$")) and .quality >= 0 and .quality <= 100' <<<"$OUT")"
if [ -f "$IMG_SRC" ]; then
    expect_eq "the pdq of aaa-orig.jpg is the reference's" \
        f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22 "$(jq -r '.[0].signals[2].value' <<<"$OUT")"
fi
expect_eq "the video has md5, sha256 and vpdq" "md5 sha256 vpdq" \
    "$(jq -r '[.[1].signals[].type] | join(" ")' <<<"$OUT")"
expect_eq "vpdq: one frame a second of the 8 s video, each {hash, quality, frame, time}" "8 8 true" \
    "$(jq -r '.[1].signals[2] | "\(.frames) \(.value | length) \(all(.value[]; (.hash | test("^[0-9a-f]{64}$")) and (.quality | type) == "number" and (.frame | type) == "number" and (.time | type) == "number"))"' <<<"$OUT")"
expect_rc "hash text output" 0 "$GIFCTL" hash "$TMP/img.jpg" "$TMP/clip.mp4"
check "text output: a pdq line with its quality" grep -qE "img.jpg  pdq     [0-9a-f]{64}  quality [0-9]+" <<<"$OUT"
check "text output: a vpdq line with the frame count" grep -qE "clip.mp4  vpdq    8 frames" <<<"$OUT"
printf 'not media at all\n' >"$TMP/notes.txt"
expect_rc "hash of a file that is not media exits 0 (md5 and sha256 only)" 0 "$GIFCTL" --json hash "$TMP/notes.txt"
expect_eq "... media null, two signals" "null 2" "$(jq -r '.[0] | "\(.media) \(.signals | length)"' <<<"$OUT")"
head -c 2000 "$TMP/img.jpg" >"$TMP/cut.jpg"
expect_rc "hash of a truncated JPEG exits 2" 2 "$GIFCTL" --json hash "$TMP/cut.jpg" "$TMP/img.jpg"
check "... saying why on stderr" grep -q "cut.jpg: .*truncated\|cut.jpg: .*corrupt\|cut.jpg: .*decod" <<<"$ERR"
expect_eq "... with error in --json, and the good file still hashed" "true image" \
    "$(jq -r '"\(.[0].error | type == "string") \(.[1].media)"' <<<"$OUT")"

# ---- Publish the image and the video from their files.
expect_rc "publish FILE (image) exits 0" 0 ctl publish "$TMP/img.jpg" --label attack_footage --incident media-test
check "... publishing md5, sha256 and pdq" bash -c 'grep -q "^md5 " <<<"$1" && grep -q "^sha256 " <<<"$1" && grep -q "^pdq " <<<"$1"' _ "$OUT"
PDQ_ID=$(awk '$1 == "pdq" {print $2}' <<<"$OUT")
get "/v1/records/$PDQ_ID"
expect_jq "the pdq record carries the labels, incident and content type image" \
    '[.body.type, (.body.labels | join(",")), .body.incident, .body.content_type] | join(" ")' \
    "pdq attack_footage media-test image"
expect_rc "publish FILE (video) --json exits 0" 0 ctl --json publish "$TMP/clip.mp4" --label attack_footage
expect_eq "... three signals accepted" "accepted accepted accepted" "$(jq -r '[.results[].status] | join(" ")' <<<"$OUT")"
VPDQ_ID=$(jq -r '.results[2].id' <<<"$OUT")
get "/v1/records/$VPDQ_ID"
expect_jq "the vpdq record holds the 8 frames, content type video" \
    '"\(.body.type) \(.body.value | length) \(.body.content_type)"' "vpdq 8 video"
expect_rc "publish of a truncated JPEG publishes nothing (exit 2)" 2 ctl publish "$TMP/cut.jpg" --label attack_footage
expect_rc "publish FILE together with --type is bad usage" 2 ctl publish "$TMP/img.jpg" --type md5 --value "$(md5sum <"$TMP/img.jpg" | cut -c1-32)"

# ---- POST /v1/match/media with the image.
media_post "$TMP/img-small.png" image/png
expect_code "a resized PNG copy answers 200" 200
expect_jq "media image, three results md5 sha256 pdq" '"\(.media) \([.results[].type] | join(","))"' "image md5,sha256,pdq"
expect_jq "the md5 and sha256 of other bytes match nothing" '[.results[0,1].matches | length] | join(",")' "0,0"
expect_jq "the pdq matches the published record" '.results[2].matches[0].id' "$PDQ_ID"
expect_jq "... at a small distance (<= 16)" '.results[2].matches[0].distance <= 16' true
expect_jq "... blocked (an agency published it)" '.verdict' block
media_post "$TMP/img.jpg" image/jpeg
expect_jq "the original bytes match exactly too (md5, sha256, pdq at distance 0)" \
    '"\(.results[0].matches[0].type) \(.results[1].matches[0].type) \(.results[2].matches[0].distance)"' "md5 sha256 0"
media_post "$TMP/other.png" "image/png; charset=binary"
expect_code "an unrelated image answers 200" 200
expect_jq "... and matches nothing" '[.results[].matches | length] | add' 0
media_post "$TMP/img-small.png" image/png "?max_distance=0"
expect_jq "max_distance=0 leaves the resized copy unmatched" '"\(.max_distance) \(.results[2].matches | length)"' "0 0"
media_post "$TMP/img-small.png" image/png "?max_distance=300"
expect_err "max_distance out of range: 400 invalid_field" 400 invalid_field max_distance 300

# ---- Dihedral variants: a copy turned a quarter clockwise (transpose=1) is another pdq.
ff -i "$TMP/img.jpg" -vf transpose=1 "$TMP/img-rot.png"
media_post "$TMP/img-rot.png" image/png
expect_jq "a rotated copy does not match plainly" '"\(.results[2].matches | length) \(.results[2] | has("dihedral"))"' "0 false"
media_post "$TMP/img-rot.png" image/png "?dihedral=1"
expect_code "?dihedral=1 answers 200" 200
# The reference's rotate90 turns a quarter counter-clockwise: the query turned back matches.
expect_jq "... matches the published record through its rotate90 variant (turned back)" \
    '.results[2] | "\(.dihedral) \(.matches[0].id) \(.matches[0].transform) \(.matches[0].distance <= 16)"' \
    "true $PDQ_ID rotate90 true"
expect_jq "... the value is the pdq of the image as sent; the verdict block" \
    '"\(.results[2].value | test("^[0-9a-f]{64}$")) \(.verdict)"' "true block"
media_post "$TMP/img.jpg" image/jpeg "?dihedral=true"
expect_jq "the original with ?dihedral=true matches through the original, once" \
    '.results[2].matches | map("\(.transform) \(.distance)") | join(",")' "original 0"
media_post "$TMP/img.jpg" image/jpeg "?dihedral=2"
expect_err "dihedral=2: 400 invalid_field" 400 invalid_field dihedral 2
expect_rc "gifctl match of the rotated copy finds nothing plainly (exit 1)" 1 ctl match "$TMP/img-rot.png"
expect_rc "gifctl match --dihedral finds it (exit 0)" 0 ctl match --dihedral "$TMP/img-rot.png"
check "... and names the transform that found it" grep -q "${PDQ_ID:0:12}.*rotate90" <<<"$OUT"
expect_rc "--dihedral with hashes is a usage error" 2 ctl match --dihedral "$(printf 'f%.0s' {1..64})"
expect_rc "hash --dihedral prints the 8 variants" 0 "$GIFCTL" hash --dihedral "$TMP/img-rot.png"
expect_eq "... one line each, in the reference's order" "original rotate90 rotate180 rotate270 flipx flipy flipplus1 flipminus1" \
    "$(awk '$2 == "dihedral" {print $3}' <<<"$OUT" | xargs)"
ROT_HASHES=$(awk '$2 == "dihedral" {print $4}' <<<"$OUT" | jq -R . | jq -cs '{hashes: [.]}')
req POST "$U/v1/match" "$ROT_HASHES"
expect_jq "the 8 variants sent to POST /v1/match as one list match the record through variant 1 (rotate90)" \
    '.results[0].matches[0] | "\(.id) \(.variant)"' "$PDQ_ID 1"
expect_rc "hash --dihedral --json" 0 "$GIFCTL" --json hash --dihedral "$TMP/img-rot.png" "$TMP/clip.mp4"
expect_eq "... dihedral: 8 {transform, value, quality} for the image, none for the video" "8 true false" \
    "$(jq -r '"\(.[0].dihedral | length) \(.[0].dihedral[0].value == .[0].signals[2].value) \(.[1] | has("dihedral"))"' <<<"$OUT")"

# ---- Bodies that are not media.
media_post "$TMP/notes.txt" image/jpeg
expect_err "text sent as image/jpeg: 422 bad_media" 422 bad_media
check "... the message says what was wrong" grep -q "not a decodable image" <<<"$(jqb .error.message)"
media_post "$TMP/cut.jpg" image/jpeg
expect_err "a truncated JPEG: 422 bad_media" 422 bad_media
media_post "$TMP/notes.txt" video/mp4
expect_err "text sent as video/mp4: 422 bad_media" 422 bad_media
media_post "$TMP/img.jpg" application/octet-stream
expect_err "Content-Type application/octet-stream: 415 unsupported_media_type" 415 unsupported_media_type Content-Type application/octet-stream
req POST "$U/v1/match/media" '{"hash":"00"}'
expect_err "a JSON body: 415" 415 unsupported_media_type
req POST "$U/v1/match/media" "" -H "Content-Type: image/png"
expect_err "an empty body: 400 missing_body" 400 missing_body
get /v1/match/media
expect_err "GET: 405" 405 method_not_allowed
get /v1/status
expect_code "the node still answers after every bad body" 200

# ---- POST /v1/match/media with the video.
media_post "$TMP/clip-copy.mp4" video/mp4
expect_code "a re-encoded, resized copy of the video answers 200" 200
expect_jq "media video, results md5 sha256 vpdq" '"\(.media) \([.results[].type] | join(","))"' "video md5,sha256,vpdq"
expect_jq "the vpdq result lists the published video" '.results[2].matches[0].id' "$VPDQ_ID"
expect_jq "... with the stored video's frames and the query's 1 s windows at least 80 %" \
    '.results[2].matches[0] | .compared_match_pct >= 80 and .window_pct >= 80 and (.query_match_pct | type) == "number"' true
expect_jq "... without the frame list, but its frame count" '.results[2].matches[0] | "\(has("value")) \(.frames)"' "false 8"
expect_jq "... blocked" .verdict block
media_post "$TMP/clip-letterbox.mp4" video/mp4
expect_jq "a letterboxed copy matches the published video (borders cropped before hashing)" \
    '"\(.results[2].matches[0].id) \(.results[2].matches[0].window_pct >= 80)"' "$VPDQ_ID true"
media_post "$TMP/other.mp4" video/mp4
expect_jq "an unrelated video matches nothing" '[.results[].matches | length] | add' 0
expect_jq "... hashed at every frame (a short upload)" '.results[2].every_frame' true

# ---- gifctl match FILE.
expect_rc "match FILE (resized image) exits 0" 0 ctl match "$TMP/img-small.png"
check "... printing the pdq result and the match" bash -c 'grep -q "pdq .*: block (1 match)" <<<"$1" && grep -q "${2:0:12}" <<<"$1"' _ "$OUT" "$PDQ_ID"
expect_rc "match FILE (video copy) --json exits 0" 0 ctl --json match "$TMP/clip-copy.mp4"
expect_eq "... one answer naming the file and the record" "$TMP/clip-copy.mp4 $VPDQ_ID" \
    "$(jq -r '.[0] | "\(.file) \(.results[2].matches[0].id)"' <<<"$OUT")"
expect_rc "match FILE of an unrelated image exits 1" 1 ctl match "$TMP/other.png"
expect_rc "match FILE of a file that is not media exits 2" 2 ctl match "$TMP/notes.txt"
expect_rc "match with a hash and a file is bad usage" 2 ctl match "$TMP/img.jpg" f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22

# ---- Retraction removes the video's frames from the index; a restart rebuilds it.
stop_node "$A"
start_node "$A" || finish
use_node "$A"
media_post "$TMP/clip-copy.mp4" video/mp4
expect_jq "after a restart the video still matches (frames indexed at start-up)" '.results[2].matches[0].id' "$VPDQ_ID"
expect_rc "retract the vpdq signal" 0 ctl retract "$VPDQ_ID"
media_post "$TMP/clip-copy.mp4" video/mp4
expect_jq "a retracted video is no longer matched" '.results[2].matches | length' 0

# ---- A short cut from the middle of a published video (docs/video.md; last, as it is testsrc2
# too and would match the copies above): the stored video is hashed at 1 fps; the cut starts
# half a second between two stored samples, so only a query hashed at every frame holds them,
# and the 1 s windows (window_pct) decide.
ff -f lavfi -i "testsrc2=size=320x240:rate=30" -t 10 -pix_fmt yuv420p "$TMP/long.mp4"
ff -ss 3.5 -t 3 -i "$TMP/long.mp4" -c:v libx264 -crf 26 -pix_fmt yuv420p "$TMP/long-cut.mp4"
expect_rc "publish the 10 s video exits 0" 0 ctl --json publish "$TMP/long.mp4" --label attack_footage
LONG_ID=$(jq -r '.results[2].id' <<<"$OUT")
media_post "$TMP/long-cut.mp4" video/mp4
expect_code "a 3 s cut from its middle answers 200" 200
expect_jq "... hashed at every frame" '"\(.results[2].every_frame) \(.results[2].frames >= 80)"' "true true"
expect_jq "... matches the published video" '.results[2].matches[0].id' "$LONG_ID"
expect_jq "... on its 1 s windows (window_pct >= 80), with all three percentages given" \
    '.results[2].matches[0] | .window_pct >= 80 and (.query_match_pct | type) == "number" and (.compared_match_pct | type) == "number"' true
expect_jq "... blocked" .verdict block

finish
