/*
 * Validation of API request bodies into record drafts. Pure (no I/O), so unit tests and the
 * fuzz harness drive it directly. Every refusal fills a struct api_err naming the field and
 * quoting the bad value.
 */
#ifndef GIF_NODE_API_INPUT_H
#define GIF_NODE_API_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "media/pdq.h"
#include "media/vpdq.h"
#include "protocol/record.h"

#define API_BATCH_MAX 1000

struct api_err {
    int status;       /* HTTP status */
    const char *code; /* JSON error code */
    char field[96];
    char value[256]; /* the bad value, quoted as received (cut at 200 bytes) */
    char message[320];
};

/* A bump allocator for one request: everything is freed at once with arena_free. */
struct arena_block;
struct arena {
    struct arena_block *head;
};
void *arena_alloc(struct arena *a, size_t n);
void arena_free(struct arena *a);

/* Parses a signal object (docs/api.md) into a draft of kind signal. String fields point into
 * obj (keep it alive); decoded bytes live in a. field_prefix names the object in errors
 * (e.g. "signals[3]."). Returns 0 or -1 with *e filled. */
int api_parse_signal(json_t *obj, struct proto_record *draft, struct arena *a,
                     const char *field_prefix, struct api_err *e);
int api_parse_alert(json_t *obj, struct proto_record *draft, struct arena *a, struct api_err *e);
int api_parse_retraction(json_t *obj, struct proto_record *draft, struct api_err *e);
int api_parse_feedback(json_t *obj, struct proto_record *draft, struct api_err *e);
/* POST /v1/incidents: {incident, action, level, note?} (docs/api.md). */
int api_parse_incident(json_t *obj, struct proto_record *draft, struct api_err *e);

/*
 * Parses a (type, value) pair as used by lookups into the stored key bytes: hex for md5,
 * sha256 and pdq; for url, the URL (normalised and hashed) or a 64-hex hash. out must hold 32
 * bytes. Returns 0 or -1 with *e filled (field names `field`).
 */
int api_parse_key(const char *type, const char *value, size_t vlen, uint8_t *stype, uint8_t out[32],
                  size_t *outlen, const char *field, struct api_err *e);

/* Fills e for a refusal. */
void api_err_set(struct api_err *e, int status, const char *code, const char *field,
                 const char *value, size_t vlen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Checks that obj has only keys from allowed (NULL-terminated). Returns 0 or -1. */
int api_check_fields(json_t *obj, const char *const *allowed, const char *prefix,
                     struct api_err *e);

/* ---- Media bodies (POST /v1/match/media, gifctl hash/match/publish FILE). */

enum api_media_kind { API_MEDIA_NONE = 0, API_MEDIA_IMAGE = 1, API_MEDIA_VIDEO = 2 };

/*
 * Classifies a Content-Type header value: image/... gives API_MEDIA_IMAGE, video/... gives
 * API_MEDIA_VIDEO (parameters after ';' and case are ignored); anything else, NULL included,
 * API_MEDIA_NONE.
 */
enum api_media_kind api_media_kind(const char *content_type);

/*
 * Guesses from the bytes (FFmpeg's format probe) whether they hold a still image (a format
 * FFmpeg reads as an image: JPEG, PNG, GIF, WebP, BMP, TIFF, ...) or a video (any other
 * container). Returns API_MEDIA_IMAGE, API_MEDIA_VIDEO, or API_MEDIA_NONE when no format
 * recognises them.
 */
enum api_media_kind api_media_probe(const uint8_t *buf, size_t len);

struct api_media_opts {
    uint32_t video_max_ms; /* cap on decode wall time; 0 = MEDIA_VPDQ_MAX_MS */
    int crop_borders;      /* 1: crop letterbox/pillarbox borders before hashing frames (the
                            * query side; stored signals stay reference-compatible) */
    int query;             /* 1: hash a video as a query (docs/video.md "How a query should be
                            * matched"): crop borders and keep the uncropped hashes too (plain),
                            * every frame when the 4,096-frame cap covers the video, else 1 fps */
    int tool_squash;       /* images: squash to 512x512 first when a side is over 512, as the
                            * reference's command-line tool does (its output, not the reference
                            * library's: nodes publish and match full-resolution hashes) */
    int dihedral;          /* images: also compute the 8 dihedral variants of the pdq (dih) */
};

/* Every signal of one file: md5 and sha256 of the bytes, plus pdq (image) or vpdq (video). */
struct api_media {
    enum api_media_kind kind;
    uint8_t md5[16];
    uint8_t sha256[32];
    int width, height;
    struct media_pdq pdq;                  /* images */
    struct media_pdq dih[MEDIA_DIH_COUNT]; /* images with opts->dihedral: the pdq of the image
                                            * rotated and flipped (enum media_dihedral order) */
    int has_dih;                           /* dih is filled */
    struct media_vpdq_frame *frames;       /* videos: malloc'd, api_media_free frees */
    size_t nframes;
    struct media_vpdq_frame *plain; /* opts->query, when borders were cropped: the same frames
                                     * hashed uncropped (malloc'd, api_media_free frees) */
    size_t nplain;
    int every_frame; /* videos: hashed at every frame (else at 1 fps) */
    int truncated;   /* videos: frames decoded before a cut or cap */
    char note[160];  /* why truncated, when it is */
};

/*
 * Hashes a media file held in memory. kind says what the bytes must be (from Content-Type);
 * API_MEDIA_NONE guesses with api_media_probe. Returns 0 with *out filled (free with
 * api_media_free), or a negative code (GIF_E_INVALID: not decodable as that kind;
 * GIF_E_TOOBIG: over a pixel cap; -ETIMEDOUT; -ENOMEM) with a one-line reason in err and *out
 * zeroed. opts may be NULL. Thread-safe: the node calls it on its worker pool.
 */
int api_media_hash(const uint8_t *buf, size_t len, enum api_media_kind kind,
                   const struct api_media_opts *opts, struct api_media *out, char *err,
                   size_t errlen);
void api_media_free(struct api_media *m);

/* A vpdq signal value (PROTO_VPDQ_FRAME_LEN bytes a frame) from frames; out holds
 * n * PROTO_VPDQ_FRAME_LEN bytes. */
void api_vpdq_pack(const struct media_vpdq_frame *f, size_t n, uint8_t *out);
/* The frames of a vpdq value (whole frames only); out holds v->n / PROTO_VPDQ_FRAME_LEN.
 * Returns the number of frames. */
size_t api_vpdq_unpack(const struct proto_bytes *v, struct media_vpdq_frame *out);

/*
 * The signals of m as the JSON of POST /v1/signals values: [{"type": "md5", "value": hex},
 * {"type": "sha256", ...}, {"type": "pdq", "value": hex, "quality": q} | {"type": "vpdq",
 * "value": [frames], "frames": n}]. with_frames 0 leaves out the vpdq frame list (keeping
 * "frames"). Returns a new reference, or NULL when out of memory.
 */
json_t *api_media_signals_json(const struct api_media *m, int with_frames);

#endif
