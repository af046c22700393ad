/*
 * vPDQ: per-frame PDQ of a video decoded in memory through FFmpeg (never written to disk),
 * and matching of two frame lists the way Meta's vPDQ does.
 */
#ifndef GIF_MEDIA_VPDQ_H
#define GIF_MEDIA_VPDQ_H

#include <stddef.h>
#include <stdint.h>

#include "media/pdq.h"

struct media_vpdq_frame {
    uint8_t hash[MEDIA_PDQ_LEN];
    uint8_t quality;  /* 0..100 */
    uint32_t frame;   /* 0-based decoder frame index */
    uint32_t time_ms; /* frame / stream frame rate, in milliseconds */
};

struct media_vpdq_opts {
    double fps;           /* frames hashed per second; 0 = every frame; default 1.0 */
    uint32_t max_frames;  /* cap on frames hashed; 0 = 4096 (PROTO_VPDQ_FRAMES_MAX) */
    uint32_t max_ms;      /* cap on decode wall time; 0 = 60000 */
    int scale;            /* 0: native resolution; N: scale each frame to NxN first */
    int crop_borders;     /* 1: detect and crop uniform (letterbox/pillarbox) borders */
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

struct media_vpdq_match {
    double query_pct;    /* % of the query's usable frames that match a compared frame */
    double compared_pct; /* % of the compared video's usable frames matched by the query */
};

/* Matches two frame lists: a frame is usable at quality >= min_quality; two usable frames
 * match at distance <= max_distance (see docs/media.md for the choice of <=). */
void media_vpdq_match(const struct media_vpdq_frame *q, size_t nq,
                      const struct media_vpdq_frame *c, size_t nc, int max_distance,
                      int min_quality, struct media_vpdq_match *out);

#endif
