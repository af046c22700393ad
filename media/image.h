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

/* Default cap on decoded pixels (width * height): 100 megapixels. */
#define MEDIA_IMAGE_MAX_PIXELS_DEFAULT (100u * 1000u * 1000u)

struct media_image_opts {
    uint64_t max_pixels; /* 0 means MEDIA_IMAGE_MAX_PIXELS_DEFAULT */
    int ignore_exif;     /* 1: do not apply EXIF orientation (the reference's behaviour) */
};

struct media_rgb {
    int width, height;
    uint8_t *px; /* RGB24, tightly packed: row y starts at px + 3 * width * y */
};

/*
 * Decodes an image held in memory. On failure returns a negative code (GIF_E_INVALID for
 * undecodable bytes, GIF_E_TOOBIG past the pixel cap, -ENOMEM) and writes a one-line reason
 * into err. opts may be NULL.
 */
int media_image_decode(const uint8_t *buf, size_t n, const struct media_image_opts *opts,
                       struct media_rgb *out, char *err, size_t errlen);
void media_rgb_free(struct media_rgb *img);

/* Squashes img to exactly w x h in place the way the reference tool does before hashing
 * (its 512x512 option). Returns 0 or a negative code. */
int media_rgb_squash(struct media_rgb *img, int w, int h);

#endif
