/*
 * vPDQ: per-frame PDQ of a video decoded in memory through FFmpeg (never written to disk),
 * and matching of two frame lists the way Meta's vPDQ does.
 */
#ifndef GIF_MEDIA_VPDQ_H
#define GIF_MEDIA_VPDQ_H

#include <stddef.h>
#include <stdint.h>

#include "media/pdq.h"
#include "media/video.h"

/* Matching defaults (docs/video.md says why): a frame is usable at quality >= 50, two frames
 * match at distance <= 31, two videos match when either percentage reaches 80. */
#define MEDIA_VPDQ_QUALITY 50
#define MEDIA_VPDQ_DISTANCE 31
#define MEDIA_VPDQ_MATCH_PCT 80.0
/* Caps used when the options say 0. */
#define MEDIA_VPDQ_MAX_FRAMES 4096 /* PROTO_VPDQ_FRAMES_MAX */
#define MEDIA_VPDQ_MAX_MS 60000

struct media_vpdq_frame {
    uint8_t hash[MEDIA_PDQ_LEN];
    uint8_t quality;  /* 0..100 */
    uint32_t frame;   /* 0-based decoder frame index */
    uint32_t time_ms; /* frame / stream frame rate, in milliseconds */
};

struct media_vpdq_opts {
    double fps;          /* frames hashed per second; 0 = every frame; default 1.0 */
    uint32_t max_frames; /* cap on frames hashed; 0 = 4096 (PROTO_VPDQ_FRAMES_MAX) */
    uint32_t max_ms;     /* cap on decode wall time; 0 = 60000 */
    int scale;           /* 0: native resolution; N: scale each frame to NxN first */
    int crop_borders;    /* 1: detect and crop uniform (letterbox/pillarbox) borders (queries) */
    int keep_plain;      /* with crop_borders, when a border is cropped: also hash each frame
                            uncropped into media_vpdq_info.plain (the caller frees it) */
    uint64_t max_pixels; /* cap on one frame's pixels; 0 = MEDIA_VIDEO_MAX_PIXELS_DEFAULT */
};
void media_vpdq_opts_default(struct media_vpdq_opts *o);

/*
 * Hashes a video held in memory. On success *frames (malloc'd, caller frees) holds *n frames
 * in order. A truncated or corrupt stream after at least one frame returns 0 with *truncated
 * set and the frames decoded so far; one with no decodable frame returns GIF_E_INVALID with the
 * reason in err. Caps reached set *truncated too.
 */
int media_vpdq_hash(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                    struct media_vpdq_frame **frames, size_t *n, int *truncated, char *err,
                    size_t errlen);

/* What media_vpdq_hash_info found besides the frames. */
struct media_vpdq_info {
    int width, height;            /* the stream's frame size */
    double fps;                   /* the stream's frame rate */
    uint32_t decoded;             /* frames decoded (hashed or not) */
    uint32_t frame_step;          /* every frame_step-th frame is hashed */
    uint32_t damaged;             /* decoded frames with errors the decoder concealed */
    struct media_video_crop crop; /* borders removed (all 0 without opts->crop_borders) */
    /* With opts->keep_plain, when borders were removed: the same frames hashed without removing
     * them (malloc'd, the caller frees; NULL otherwise). A copy with bars added matches its stored
     * original through the cropped list, a stored copy that has the same bars through this one:
     * media_vpdq_match_cropped takes both. */
    struct media_vpdq_frame *plain;
    size_t nplain;
};

/* media_vpdq_hash, also filling *info (which may be NULL; see info->plain). When
 * truncated is set, err holds the reason: data cut short, data the demuxer or decoder refused,
 * frames the decoder had to patch up (all frames may then be there), the frame cap or the time cap.
 * opts may be NULL. */
int media_vpdq_hash_info(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                         struct media_vpdq_frame **frames, size_t *n, int *truncated,
                         struct media_vpdq_info *info, char *err, size_t errlen);

/*
 * Finds the uniform borders (letterbox, pillarbox, any one colour per side) of a video: the
 * smallest border seen on each side over a dozen frames sampled across it by seeking (or its
 * first frames when it cannot seek), frames of one colour throughout ignored. Returns 0 with
 * *crop set (all 0 when there is nothing to remove) or a negative code as media_vpdq_hash.
 */
int media_vpdq_find_borders(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                            struct media_video_crop *crop, char *err, size_t errlen);

/* The uniform borders of one RGB24 image. Returns 1 when the whole image is one colour (then
 * *crop is meaningless), else 0. */
int media_vpdq_image_borders(const uint8_t *rgb, int w, int h, size_t stride,
                             struct media_video_crop *crop);

struct media_vpdq_match {
    double query_pct;    /* % of the query's usable frames that match a compared frame */
    double compared_pct; /* % of the compared video's usable frames matched by the query */
    size_t query_usable, compared_usable;   /* distinct hashes at quality >= min_quality */
    size_t query_matched, compared_matched; /* of those, how many match the other side */
    /* Filled by media_vpdq_match_windows only: the query's time cut into windows of window_ms
     * (0 elsewhere). */
    double window_pct; /* % of windows holding a usable frame that hold a matching one */
    size_t windows, windows_matched;
};

/* Matches two frame lists: a frame is usable at quality >= min_quality; identical hashes count
 * once on each side; two usable frames match at distance <= max_distance (see docs/video.md
 * for the choice of <=). Either side empty after filtering gives 0 %. Costs
 * O(usable_q * usable_c) distance computations, about 1 ns each. */
void media_vpdq_match(const struct media_vpdq_frame *q, size_t nq, const struct media_vpdq_frame *c,
                      size_t nc, int max_distance, int min_quality, struct media_vpdq_match *out);

/*
 * media_vpdq_match, plus the window percentage for a query hashed densely (every frame, or
 * several a second) against a video stored at one frame per window_ms (1000 for the default
 * 1 fps): every window_ms stretch of the query holds the frame at which the stored video was
 * sampled, so for a cut from the stored video nearly every window matches, however fast its
 * picture changes between samples. A query hashed at the stored rate gets window_pct equal to
 * query_pct but for duplicates. The query's frames must be in time order (as hashed).
 * window_ms 0 leaves the window fields 0.
 */
void media_vpdq_match_windows(const struct media_vpdq_frame *q, size_t nq,
                              const struct media_vpdq_frame *c, size_t nc, int max_distance,
                              int min_quality, uint32_t window_ms, struct media_vpdq_match *out);

/* For a query hashed with crop_borders: matches the cropped list q and the plain one (NULL
 * when nothing was cropped) against c and keeps the result with the higher best percentage. */
void media_vpdq_match_cropped(const struct media_vpdq_frame *q, size_t nq,
                              const struct media_vpdq_frame *plain, size_t nplain,
                              const struct media_vpdq_frame *c, size_t nc, int max_distance,
                              int min_quality, uint32_t window_ms, struct media_vpdq_match *out);

/* The decision on a match result: query_pct, compared_pct or window_pct at least pct
 * (MEDIA_VPDQ_MATCH_PCT by default). Returns 1 or 0. */
int media_vpdq_is_match(const struct media_vpdq_match *m, double pct);

#endif
