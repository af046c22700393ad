/* Fuzz harness for in-memory video decoding and vPDQ hashing: any bytes must hash or be refused
 * cleanly, within the caps. Inputs of odd length also take the border-cropping and scaling
 * paths. The frame list that comes back must be well formed and match itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/vpdq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct media_vpdq_opts o;
    media_vpdq_opts_default(&o);
    o.fps = 0;
    o.max_frames = 24;
    o.max_ms = 3000;
    o.max_pixels = 1024 * 1024;
    if (size & 1) {
        o.crop_borders = 1;
        o.keep_plain = 1;
        o.scale = 64;
    }
    struct media_vpdq_frame *f;
    size_t n;
    int truncated;
    char err[256];
    struct media_vpdq_info info;
    int rc = media_vpdq_hash_info(data, size, &o, &f, &n, &truncated, &info, err, sizeof err);
    if (rc != 0) {
        if (f != NULL || n != 0 || err[0] == '\0' || info.plain != NULL) abort();
        return 0;
    }
    if (info.plain && (info.nplain != n || info.plain[n - 1].frame != f[n - 1].frame)) abort();
    free(info.plain);
    if (n == 0 || n > o.max_frames || f == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        if (f[i].quality > 100) abort();
        if (i > 0 && f[i].frame <= f[i - 1].frame) abort();
    }
    struct media_vpdq_match m;
    media_vpdq_match_windows(f, n, f, n, MEDIA_VPDQ_DISTANCE, 0, 1000, &m);
    if (m.query_pct != 100.0 || m.compared_pct != 100.0 || m.window_pct != 100.0) abort();
    free(f);
    return 0;
}
