/*
 * PDQ: Meta's 256-bit perceptual hash for images, computed exactly as the reference library
 * does at full resolution (luma with the reference weights, two-pass Jarosz box filter down to
 * 64x64, 16x16 DCT without the DC row and column, median threshold), with the 0-100 quality
 * metric and the 8 dihedral variants derived from the DCT.
 *
 * Hash bytes are big-endian as the 64-hex string prints them: hash[0] holds the first two hex
 * digits, and bit k of the 256-bit number (k = 0 the least significant bit of hash[31]) is DCT
 * coefficient [k / 16][k % 16] above the median.
 *
 * Thread-safe: the only shared state is the DCT matrix, built once (call_once); each call
 * allocates its own buffers.
 */
#ifndef GIF_MEDIA_PDQ_H
#define GIF_MEDIA_PDQ_H

#include <stddef.h>
#include <stdint.h>

#define MEDIA_PDQ_LEN 32
/* Images smaller than this on either side get quality 0 (the reference's rule). */
#define MEDIA_PDQ_MIN_SIDE 5

struct media_pdq {
    uint8_t hash[MEDIA_PDQ_LEN];
    int quality; /* 0..100 */
};

/* The dihedral variants, in the order the reference tool prints them. */
enum media_dihedral {
    MEDIA_DIH_ORIGINAL,
    MEDIA_DIH_ROTATE90,
    MEDIA_DIH_ROTATE180,
    MEDIA_DIH_ROTATE270,
    MEDIA_DIH_FLIPX,
    MEDIA_DIH_FLIPY,
    MEDIA_DIH_FLIPPLUS1,
    MEDIA_DIH_FLIPMINUS1,
    MEDIA_DIH_COUNT
};
const char *media_dihedral_name(enum media_dihedral d);

/*
 * Hashes an RGB24 image (w x h pixels, rows stride bytes apart). When dih is not NULL it
 * receives all 8 variants (dih[MEDIA_DIH_ORIGINAL] equals *out, except for an image of
 * exactly 64x64: the reference's single-hash entry point takes such a luma as already
 * downsampled and skips the blur, while its dihedral entry point blurs it like any other;
 * both are reproduced). out may be NULL. Sides under MEDIA_PDQ_MIN_SIDE give an all-zero hash
 * of quality 0. Returns 0, GIF_E_INVALID (w or h < 1, stride < 3 * w), or -ENOMEM; on failure
 * the outputs are zeroed.
 */
int media_pdq_rgb(const uint8_t *rgb, int w, int h, size_t stride, struct media_pdq *out,
                  struct media_pdq dih[MEDIA_DIH_COUNT]);

/*
 * Hashes a one-channel image the way the reference hashes one: luma is the byte itself, not
 * the weighted sum of three equal channels (which can differ from it in the last bit of the
 * float). Pixel x of row y is px[y * stride + x * step]; step 3 reads the first channel of an
 * RGB24 buffer. Returns as media_pdq_rgb.
 */
int media_pdq_grey(const uint8_t *px, int w, int h, size_t stride, size_t step,
                   struct media_pdq *out, struct media_pdq dih[MEDIA_DIH_COUNT]);

/*
 * The same hash computed with the reference library's own structure (full-size float buffers,
 * four box passes, columns walked across memory, a division per pixel): about 20x slower. For
 * tests and benchmarks, which compare it with media_pdq_rgb bit for bit.
 */
int media_pdq_rgb_ref(const uint8_t *rgb, int w, int h, size_t stride, struct media_pdq *out,
                      struct media_pdq dih[MEDIA_DIH_COUNT]);

/* Hamming distance of two hashes (0..256). */
int media_pdq_distance(const uint8_t a[static MEDIA_PDQ_LEN],
                       const uint8_t b[static MEDIA_PDQ_LEN]);

#endif
