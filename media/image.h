/*
 * In-memory image decoding through FFmpeg's libraries, to the RGB24 pixels PDQ hashes. The
 * bytes are never written to disk. Every input FFmpeg can decode as a still image is accepted
 * (JPEG, PNG, GIF's first frame, WebP, BMP, TIFF, ...); conversions of greyscale, palette,
 * 1-bit, 16-bit, CMYK and alpha are documented in docs/media.md.
 */
#ifndef GIF_MEDIA_IMAGE_H
#define GIF_MEDIA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "media/pdq.h"

/* Default cap on decoded pixels (width * height): 100 megapixels. */
#define MEDIA_IMAGE_MAX_PIXELS_DEFAULT (100u * 1000u * 1000u)

struct media_image_opts {
    uint64_t max_pixels; /* 0 means MEDIA_IMAGE_MAX_PIXELS_DEFAULT */
    int ignore_exif;     /* 1: do not apply EXIF orientation (the reference's behaviour) */
    int lenient;         /* 1: hash whatever a truncated or corrupt file decodes to, as libjpeg
                          * and the reference tool do; 0: refuse it (GIF_E_INVALID) */
};

struct media_rgb {
    int width, height;
    uint8_t *px;     /* RGB24, tightly packed: row y starts at px + 3 * width * y */
    int grey;        /* 1: the source had one colour channel (R = G = B); hash it as one */
    int orientation; /* EXIF orientation found in a JPEG (1..8), 0 when none; applied to px
                      * unless opts->ignore_exif */
};

/* Silences FFmpeg's logging (process-wide). Safe to call any number of times from any thread;
 * media_image_decode calls it. */
void media_init(void);

/*
 * Decodes an image held in memory (the first frame of an animation). On success out->px is
 * malloc'd and owned by the caller (media_rgb_free). On failure returns a negative code
 * (GIF_E_INVALID for undecodable, truncated or corrupt bytes, GIF_E_TOOBIG past the pixel cap,
 * checked before the frame's memory is allocated, -ENOMEM), zeroes *out and writes a one-line
 * reason into err. opts may be NULL. Thread-safe.
 */
int media_image_decode(const uint8_t *buf, size_t n, const struct media_image_opts *opts,
                       struct media_rgb *out, char *err, size_t errlen);
void media_rgb_free(struct media_rgb *img);

/* Squashes img to exactly w x h in place the way the reference tool does before hashing
 * (CImg's nearest-neighbour resize: output x reads input floor(x * W / w)). Returns 0,
 * GIF_E_INVALID or -ENOMEM. */
int media_rgb_squash(struct media_rgb *img, int w, int h);

/* The reference tool's rule: when either side is over 512, squash to exactly 512x512 (aspect
 * ratio not kept). Returns as media_rgb_squash. */
#define MEDIA_PDQ_TOOL_SIDE 512
int media_rgb_squash_tool(struct media_rgb *img);

/* PDQ of a decoded image: media_pdq_grey on the first channel when img->grey (as the reference
 * reads a one-channel file), media_pdq_rgb otherwise. Returns as media_pdq_rgb. */
int media_image_pdq(const struct media_rgb *img, struct media_pdq *out,
                    struct media_pdq dih[MEDIA_DIH_COUNT]);

#endif
