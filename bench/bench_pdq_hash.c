/*
 * PDQ image hashing speed, one thread: hash alone (this implementation, and in the same run the
 * reference library's structure, media_pdq_rgb_ref, as the baseline), decode alone (JPEG and
 * PNG encoded in memory from the same synthetic picture), and end to end (decode + hash, and
 * decode + the reference tool's 512x512 squash + hash). Median of several runs.
 *
 *   bench_pdq_hash [FILE...]   also times decode and hash of the given image files
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "media/image.h"
#include "media/pdq.h"
#include "util/gif.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A photo-like synthetic picture: smooth gradients, edges, and noise. */
static uint8_t *synth(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            int n = (int)(s >> 28);
            int edge = ((x * 5 / w) + (y * 3 / h)) & 1 ? 60 : 0;
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)((x * 200 / w + edge + n) & 255);
            q[1] = (uint8_t)((y * 180 / h + n) & 255);
            q[2] = (uint8_t)(((x + y) * 120 / (w + h) + 2 * edge) & 255);
        }
    return p;
}

static uint8_t *encode(enum AVCodecID id, enum AVPixelFormat fmt, const uint8_t *rgb, int w, int h,
                       size_t *n)
{
    const AVCodec *c = avcodec_find_encoder(id);
    AVCodecContext *ctx = c ? avcodec_alloc_context3(c) : NULL;
    if (!ctx) return NULL;
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = fmt;
    ctx->time_base = (AVRational){1, 25};
    ctx->color_range = AVCOL_RANGE_JPEG;
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 3;
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    uint8_t *out = NULL;
    if (avcodec_open2(ctx, c, NULL) < 0) goto done;
    f->width = w;
    f->height = h;
    f->format = fmt;
    if (av_frame_get_buffer(f, 0) < 0) goto done;
    if (fmt == AV_PIX_FMT_RGB24) {
        for (int y = 0; y < h; y++)
            memcpy(f->data[0] + (size_t)y * f->linesize[0], rgb + (size_t)y * w * 3, (size_t)w * 3);
    } else { /* YUVJ444P, full range BT.601 */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *q = rgb + ((size_t)y * w + x) * 3;
                double r = q[0], g = q[1], b = q[2];
                double Y = 0.299 * r + 0.587 * g + 0.114 * b;
                f->data[0][y * f->linesize[0] + x] = (uint8_t)(Y + 0.5);
                f->data[1][y * f->linesize[1] + x] = (uint8_t)(128 + (b - Y) * 0.564 + 0.5);
                f->data[2][y * f->linesize[2] + x] = (uint8_t)(128 + (r - Y) * 0.713 + 0.5);
            }
    }
    if (avcodec_send_frame(ctx, f) < 0 || avcodec_send_frame(ctx, NULL) < 0 ||
        avcodec_receive_packet(ctx, p) < 0)
        goto done;
    out = malloc((size_t)p->size);
    memcpy(out, p->data, (size_t)p->size);
    *n = (size_t)p->size;
done:
    av_packet_free(&p);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    return out;
}

enum what { HASH, HASH_REF, DECODE, DECODE_HASH, DECODE_SQUASH_HASH };

/* Median milliseconds of runs of one operation. */
static double run(enum what wh, const uint8_t *rgb, int w, int h, const uint8_t *file, size_t n,
                  int runs, int *ok)
{
    double t[64];
    struct media_pdq p;
    *ok = 1;
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = gif_mono_ns();
        struct media_rgb img;
        char err[256];
        switch (wh) {
        case HASH:
            *ok &= media_pdq_rgb(rgb, w, h, (size_t)w * 3, &p, NULL) == 0;
            break;
        case HASH_REF:
            *ok &= media_pdq_rgb_ref(rgb, w, h, (size_t)w * 3, &p, NULL) == 0;
            break;
        default:
            if (media_image_decode(file, n, NULL, &img, err, sizeof(err)) != 0) {
                fprintf(stderr, "decode: %s\n", err);
                *ok = 0;
                return 0;
            }
            if (wh == DECODE_SQUASH_HASH) *ok &= media_rgb_squash_tool(&img) == 0;
            if (wh != DECODE) *ok &= media_image_pdq(&img, &p, NULL) == 0;
            media_rgb_free(&img);
        }
        t[i] = (double)(gif_mono_ns() - t0) / 1e6;
    }
    return median(t, runs);
}

static void line(const char *what, double ms)
{
    printf("  %-34s %9.3f ms  %9.1f images/s\n", what, ms, 1000.0 / ms);
}

int main(int argc, char **argv)
{
    media_init();
    static const int sizes[][2] = {{256, 256}, {1600, 1004}, {4032, 3024}};
    printf("PDQ hashing, one thread, median of runs (ms per image)\n");
    int ok = 1, k;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        int runs = w <= 256 ? 51 : w <= 1600 ? 21 : 7;
        uint8_t *rgb = synth(w, h);
        struct media_pdq a, b;
        media_pdq_rgb(rgb, w, h, (size_t)w * 3, &a, NULL);
        media_pdq_rgb_ref(rgb, w, h, (size_t)w * 3, &b, NULL);
        printf("%dx%d (synthetic)%s\n", w, h,
               memcmp(a.hash, b.hash, MEDIA_PDQ_LEN) ? "  HASHES DIFFER" : "");
        double fast = run(HASH, rgb, w, h, NULL, 0, runs, &k);
        ok &= k;
        double ref = run(HASH_REF, rgb, w, h, NULL, 0, runs < 11 ? 3 : 11, &k);
        ok &= k;
        line("hash (media_pdq_rgb)", fast);
        line("hash, reference structure", ref);
        printf("  %-34s %9.1fx\n", "speed-up", ref / fast);
        static const struct {
            const char *name;
            enum AVCodecID id;
            enum AVPixelFormat fmt;
        } codecs[] = {{"JPEG", AV_CODEC_ID_MJPEG, AV_PIX_FMT_YUVJ444P},
                      {"PNG", AV_CODEC_ID_PNG, AV_PIX_FMT_RGB24}};
        for (size_t c = 0; c < 2; c++) {
            size_t n = 0;
            uint8_t *file = encode(codecs[c].id, codecs[c].fmt, rgb, w, h, &n);
            if (!file) continue;
            char what[64];
            int r = runs > 11 ? 11 : runs;
            snprintf(what, sizeof(what), "decode %s (%zu KB)", codecs[c].name, n / 1024);
            line(what, run(DECODE, NULL, 0, 0, file, n, r, &k));
            ok &= k;
            snprintf(what, sizeof(what), "decode %s + hash", codecs[c].name);
            line(what, run(DECODE_HASH, NULL, 0, 0, file, n, r, &k));
            ok &= k;
            snprintf(what, sizeof(what), "decode %s + squash 512 + hash", codecs[c].name);
            line(what, run(DECODE_SQUASH_HASH, NULL, 0, 0, file, n, r, &k));
            ok &= k;
            free(file);
        }
        free(rgb);
    }
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            ok = 0;
            continue;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *b = malloc((size_t)n + 1);
        size_t got = fread(b, 1, (size_t)n, f);
        fclose(f);
        struct media_rgb img;
        char err[256];
        if (got != (size_t)n || media_image_decode(b, got, NULL, &img, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: cannot decode\n", argv[i]);
            free(b);
            ok = 0;
            continue;
        }
        printf("%s (%dx%d, %ld KB)\n", argv[i], img.width, img.height, n / 1024);
        double hash = run(HASH, img.px, img.width, img.height, NULL, 0, 11, &k);
        ok &= k;
        line("hash", hash);
        line("hash, reference structure",
             run(HASH_REF, img.px, img.width, img.height, NULL, 0, 3, &k));
        line("decode", run(DECODE, NULL, 0, 0, b, got, 11, &k));
        line("decode + hash", run(DECODE_HASH, NULL, 0, 0, b, got, 11, &k));
        line("decode + squash 512 + hash", run(DECODE_SQUASH_HASH, NULL, 0, 0, b, got, 11, &k));
        media_rgb_free(&img);
        free(b);
    }
    return ok ? 0 : 1;
}
