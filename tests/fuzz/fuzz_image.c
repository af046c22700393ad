/* Fuzz harness for in-memory image decoding: any bytes must decode or be refused with a
 * reason, never crash; what decodes must hash (strict and lenient modes, EXIF applied). The
 * pixel cap is lowered so that the fuzzer explores decoders rather than memory. */
#include <stdint.h>
#include <stdlib.h>

#include "media/image.h"
#include "media/pdq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int lenient = 0; lenient < 2; lenient++) {
        struct media_image_opts o = {.max_pixels = 4u * 1000u * 1000u, .lenient = lenient};
        struct media_rgb img;
        char err[256];
        int rc = media_image_decode(data, size, &o, &img, err, sizeof(err));
        if (rc != 0) {
            if (img.px || err[0] == '\0') abort();
            continue;
        }
        if (img.width < 1 || img.height < 1 || !img.px) abort();
        struct media_pdq p, d[MEDIA_DIH_COUNT];
        if (media_image_pdq(&img, &p, d) != 0) abort();
        if (p.quality < 0 || p.quality > 100) abort();
        if (media_rgb_squash_tool(&img) != 0) abort();
        media_rgb_free(&img);
    }
    return 0;
}
