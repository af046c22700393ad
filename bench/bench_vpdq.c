/*
 * vPDQ speed on one core: video frames decoded per second (decode alone), converted to RGB24,
 * hashed with PDQ (hash alone, on frames already converted), and end to end through
 * media_vpdq_hash at every frame and at the default 1 frame per second; plus matching two
 * 4096-frame lists. Medians of 5 runs. The decoder runs one thread.
 *
 * usage: bench_vpdq [VIDEO...]
 * Without arguments it takes an SD and an HD sample video from ../shared/testdata/vpdq
 * (GIF_SOURCE_DIR, or the current directory's parent), else generates a 720p one with the
 * ffmpeg tool in a temporary directory; with neither it says so and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/pdq.h"
#include "media/video.h"
#include "media/vpdq.h"
#include "util/gif.h"

#define RUNS 5
#define HASH_FRAMES 30

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_d);
    return v[RUNS / 2];
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (!b) break;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    if (!b) return -1;
    *buf = b;
    *len = n;
    return 0;
}

static double secs(uint64_t t0)
{
    return (double)(gif_mono_ns() - t0) / 1e9;
}

static void bench_file(const char *path)
{
    uint8_t *buf;
    size_t len;
    char err[256];
    if (read_all(path, &buf, &len) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    double t_dec[RUNS], t_rgb[RUNS], t_hash[RUNS], t_all[RUNS], t_1fps[RUNS], t_crop[RUNS];
    struct media_video_crop crop = {0, 0, 0, 0};
    uint32_t frames = 0;
    int w = 0, h = 0;
    double fps = 0, dur = 0;
    /* RGB copies of the first frames, to time PDQ alone */
    uint8_t *rgb[HASH_FRAMES] = {0};
    size_t stride = 0;
    int nrgb = 0;
    for (int r = 0; r < RUNS; r++) {
        struct media_video *v;
        if (media_video_open(buf, len, 0, 0, &v, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", base, err);
            free(buf);
            return;
        }
        fps = media_video_info(v)->fps;
        dur = media_video_info(v)->duration_s;
        double dec = 0, conv = 0;
        uint32_t idx;
        frames = 0;
        for (;;) {
            uint64_t t0 = gif_mono_ns();
            int rc = media_video_next(v, &idx, err, sizeof err);
            dec += secs(t0);
            if (rc != 1) break;
            frames++;
            const uint8_t *px;
            t0 = gif_mono_ns();
            if (media_video_rgb(v, NULL, 0, 0, &px, &w, &h, &stride) != 0) break;
            conv += secs(t0);
            if (r == 0 && nrgb < HASH_FRAMES) {
                rgb[nrgb] = malloc(stride * (size_t)h);
                if (!rgb[nrgb]) break;
                memcpy(rgb[nrgb++], px, stride * (size_t)h);
            }
        }
        media_video_close(v);
        t_dec[r] = dec;
        t_rgb[r] = conv;
        uint64_t t0 = gif_mono_ns();
        for (int i = 0; i < nrgb; i++) {
            struct media_pdq p;
            if (media_pdq_rgb(rgb[i], w, h, stride, &p, NULL) != 0) break;
        }
        t_hash[r] = nrgb ? secs(t0) / nrgb : 0;
        struct media_vpdq_opts o;
        media_vpdq_opts_default(&o);
        o.fps = 0;
        o.max_frames = 1u << 20;
        struct media_vpdq_frame *f;
        size_t n;
        int tr;
        t0 = gif_mono_ns();
        if (media_vpdq_hash(buf, len, &o, &f, &n, &tr, err, sizeof err) == 0) free(f);
        t_all[r] = secs(t0);
        media_vpdq_opts_default(&o);
        t0 = gif_mono_ns();
        if (media_vpdq_hash(buf, len, &o, &f, &n, &tr, err, sizeof err) == 0) free(f);
        t_1fps[r] = secs(t0);
        /* a query as docs/video.md advises: every frame, borders cropped (both lists) */
        media_vpdq_opts_default(&o);
        o.fps = 0;
        o.max_frames = 1u << 20;
        o.crop_borders = 1;
        o.keep_plain = 1;
        struct media_vpdq_info info;
        t0 = gif_mono_ns();
        if (media_vpdq_hash_info(buf, len, &o, &f, &n, &tr, &info, err, sizeof err) == 0) {
            free(f);
            free(info.plain);
            crop = info.crop;
        }
        t_crop[r] = secs(t0);
    }
    double dec = median(t_dec), conv = median(t_rgb), hash = median(t_hash);
    double all = median(t_all), one = median(t_1fps);
    printf("%s: %dx%d, %u frames at %.2f fps (%.1f s of video), %zu bytes\n", base, w, h, frames,
           fps, dur, len);
    printf("  decode only             %8.0f frames/s  (%.2f ms/frame)\n", frames / dec,
           1e3 * dec / frames);
    printf("  RGB24 conversion        %8.0f frames/s  (%.2f ms/frame)\n", frames / conv,
           1e3 * conv / frames);
    printf("  PDQ hash only           %8.0f frames/s  (%.2f ms/frame, %d frames)\n", 1 / hash,
           1e3 * hash, nrgb);
    printf("  end to end, every frame %8.0f frames/s  (%.2f ms/frame)\n", frames / all,
           1e3 * all / frames);
    printf("  end to end, 1 fps       %8.0f video s/s (%.0f ms for the video)\n", dur / one,
           1e3 * one);
    double cq = median(t_crop);
    printf("  query: every frame, crop %7.0f frames/s  (%.2f ms/frame; crop %d %d %d %d)\n",
           frames / cq, 1e3 * cq / frames, crop.top, crop.bottom, crop.left, crop.right);
    for (int i = 0; i < nrgb; i++)
        free(rgb[i]);
    free(buf);
}

static void bench_match(void)
{
    size_t n = 4096;
    struct media_vpdq_frame *q = calloc(n, sizeof(*q)), *c = calloc(n, sizeof(*c));
    if (!q || !c) return;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 32; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            q[i].hash[k] = (uint8_t)s;
            c[i].hash[k] = (uint8_t)(s >> 8);
        }
        q[i].quality = c[i].quality = 100;
        q[i].time_ms = c[i].time_ms = (uint32_t)(i * 33);
    }
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        struct media_vpdq_match m;
        uint64_t t0 = gif_mono_ns();
        media_vpdq_match_windows(q, n, c, n, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, 1000, &m);
        t[r] = secs(t0);
    }
    double med = median(t);
    printf("match 4096 x 4096 frames (no match, every pair compared): %.1f ms, %.2f ns per pair\n",
           1e3 * med, 1e9 * med / ((double)n * n));
    free(q);
    free(c);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            bench_file(argv[i]);
        bench_match();
        return 0;
    }
    const char *src = getenv("GIF_SOURCE_DIR");
    char dir[1024], a[1200], b[1200];
    snprintf(dir, sizeof dir, "%s/../shared/testdata/vpdq/sample-videos", src ? src : "..");
    snprintf(a, sizeof a, "%s/chair-19-sd-bar.mp4", dir);
    snprintf(b, sizeof b, "%s/pattern-hd-no-bar.mp4", dir);
    if (access(a, R_OK) == 0 && access(b, R_OK) == 0) {
        bench_file(a);
        bench_file(b);
        bench_match();
        return 0;
    }
    char tmp[] = "/tmp/gifbench-XXXXXX";
    if (system("ffmpeg -hide_banner -version >/dev/null 2>&1") != 0 || !mkdtemp(tmp)) {
        printf("skip: no sample videos under %s and no ffmpeg tool to make one\n", dir);
        bench_match();
        return 0;
    }
    char cmd[1400];
    snprintf(a, sizeof a, "%s/testsrc2-720p.mp4", tmp);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 "
             "-c:v libx264 -preset veryfast -pix_fmt yuv420p '%s'",
             a);
    if (system(cmd) == 0) bench_file(a);
    unlink(a);
    rmdir(tmp);
    bench_match();
    return 0;
}
