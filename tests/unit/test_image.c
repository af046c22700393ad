/*
 * Messy images through media_image_decode: the colour modes of the test data (1-bit, grey,
 * grey+alpha, palette, CMYK, RGBA), EXIF orientation (all 8, spliced into JPEGs made here),
 * 16-bit PNGs, GIF, tiny BMPs, the pixel cap, truncated and corrupt files, and the squash.
 * Images made here are encoded in memory with FFmpeg's own encoders or written byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>

#include "media/image.h"
#include "media/pdq.h"
#include "util/gif.h"

#include "pdq_testdata.h"

static int decode(const uint8_t *b, size_t n, int ignore_exif, int lenient, uint64_t cap,
                  struct media_rgb *img, char *err, size_t errlen)
{
    struct media_image_opts o = {.max_pixels = cap, .ignore_exif = ignore_exif, .lenient = lenient};
    return media_image_decode(b, n, &o, img, err, errlen);
}

static void decode_file(const char *rel, int ignore_exif, struct media_rgb *img)
{
    size_t n;
    uint8_t *b = slurp(rel, &n);
    char err[256] = "";
    int rc = decode(b, n, ignore_exif, 0, 0, img, err, sizeof(err));
    if (rc) print_message("%s: %s\n", rel, err);
    assert_int_equal(rc, 0);
    free(b);
}

static void tool_hash(struct media_rgb *img, struct media_pdq *p)
{
    assert_int_equal(media_rgb_squash_tool(img), 0);
    assert_int_equal(media_image_pdq(img, p, NULL), 0);
}

static int dist_hex(const struct media_pdq *p, const char *hex)
{
    uint8_t h[MEDIA_PDQ_LEN];
    assert_int_equal(gif_unhex(h, MEDIA_PDQ_LEN, hex, 64), 0);
    return media_pdq_distance(p->hash, h);
}

/* The bridge photo as the reference tool hashes RGB.jpg, L.png and P.png. */
#define BRIDGE_TOOL "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
#define ONEBIT_TOOL "d8f871cec0f4a84f0a370822038f67f0b36e2ed596633e1d33e6b39c4e9c9b22"
/* misc-images/c.png (RGBA) in upstream's PDQMD5TestData.csv (the wasm build: alpha ignored). */
#define CPNG_WASM "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"

static void test_modes(void **state)
{
    (void)state;
    NEED_DATA();
    static const struct {
        const char *file;
        int grey;
        const char *want; /* exact tool hash, or NULL: within 10 of BRIDGE_TOOL */
    } modes[] = {
        {"misc-images/modes/1.png", 1, ONEBIT_TOOL},
        {"misc-images/modes/L.png", 1, BRIDGE_TOOL},
        {"misc-images/modes/LA.png", 1, NULL},
        {"misc-images/modes/P.png", 0, BRIDGE_TOOL},
        {"misc-images/modes/RGB.jpg", 0, BRIDGE_TOOL},
        {"misc-images/modes/CMYK.jpg", 0, NULL},
        {"misc-images/modes/YCbCr.jpg", 0, BRIDGE_TOOL},
        {"misc-images/c.png", 0, CPNG_WASM},
    };
    for (size_t i = 0; i < GIF_ARRAY_LEN(modes); i++) {
        struct media_rgb img;
        decode_file(modes[i].file, 1, &img);
        assert_int_equal(img.grey, modes[i].grey);
        if (strstr(modes[i].file, "1.png")) /* 1-bit: black and white only */
            for (size_t k = 0; k < (size_t)img.width * img.height * 3; k++)
                assert_true(img.px[k] == 0 || img.px[k] == 255);
        struct media_pdq p;
        tool_hash(&img, &p);
        int d = dist_hex(&p, modes[i].want ? modes[i].want : BRIDGE_TOOL);
        print_message("  %-30s grey %d  q%3d  distance %d\n", modes[i].file, img.grey, p.quality,
                      d);
        if (modes[i].want)
            assert_int_equal(d, 0);
        else
            assert_true(d <= 10);
        media_rgb_free(&img);
    }
}

/* ---- EXIF ---- */

/* The pixel that lands at (x, y) of the upright image, for orientation o (w x h stored). */
static void oriented_src(int o, int w, int h, int x, int y, int *sx, int *sy)
{
    switch (o) {
    case 2:
        *sx = w - 1 - x, *sy = y;
        break;
    case 3:
        *sx = w - 1 - x, *sy = h - 1 - y;
        break;
    case 4:
        *sx = x, *sy = h - 1 - y;
        break;
    case 5:
        *sx = y, *sy = x;
        break;
    case 6:
        *sx = y, *sy = h - 1 - x;
        break;
    case 7:
        *sx = w - 1 - y, *sy = h - 1 - x;
        break;
    case 8:
        *sx = w - 1 - y, *sy = x;
        break;
    default:
        *sx = x, *sy = y;
        break;
    }
}

static void assert_oriented(const struct media_rgb *stored, const struct media_rgb *up, int o)
{
    int w = stored->width, h = stored->height;
    assert_int_equal(up->width, o >= 5 ? h : w);
    assert_int_equal(up->height, o >= 5 ? w : h);
    for (int y = 0; y < up->height; y++)
        for (int x = 0; x < up->width; x++) {
            int sx, sy;
            oriented_src(o, w, h, x, y, &sx, &sy);
            if (memcmp(up->px + ((size_t)y * up->width + x) * 3,
                       stored->px + ((size_t)sy * w + sx) * 3, 3) != 0)
                fail_msg("orientation %d: pixel (%d,%d) is not stored (%d,%d)", o, x, y, sx, sy);
        }
}

static void test_exif_file(void **state)
{
    (void)state;
    NEED_DATA();
    struct media_rgb stored, up;
    decode_file("reg-test-input/exif-rotn/exif-rotn-6.jpg", 1, &stored);
    decode_file("reg-test-input/exif-rotn/exif-rotn-6.jpg", 0, &up);
    assert_int_equal(stored.orientation, 6);
    assert_int_equal(up.orientation, 6);
    assert_int_equal(stored.width, 4032);
    assert_int_equal(stored.height, 3024);
    assert_oriented(&stored, &up, 6);
    media_rgb_free(&stored);
    media_rgb_free(&up);
    decode_file("reg-test-input/exif-rotn/exif-rotn-1.jpg", 0, &up);
    assert_int_equal(up.orientation, 1);
    assert_int_equal(up.width, 4032);
    media_rgb_free(&up);
}

/* Encodes one frame with FFmpeg's encoder for id; fill writes the frame's pixels. */
static uint8_t *encode(enum AVCodecID id, enum AVPixelFormat fmt, int w, int h,
                       void (*fill)(AVFrame *), size_t *n)
{
    const AVCodec *c = avcodec_find_encoder(id);
    assert_non_null(c);
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = fmt;
    ctx->time_base = (AVRational){1, 25};
    ctx->color_range = AVCOL_RANGE_JPEG;
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 2;
    assert_int_equal(avcodec_open2(ctx, c, NULL), 0);
    AVFrame *f = av_frame_alloc();
    f->width = w;
    f->height = h;
    f->format = fmt;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    fill(f);
    assert_int_equal(avcodec_send_frame(ctx, f), 0);
    assert_int_equal(avcodec_send_frame(ctx, NULL), 0);
    AVPacket *p = av_packet_alloc();
    assert_int_equal(avcodec_receive_packet(ctx, p), 0);
    uint8_t *out = malloc((size_t)p->size);
    memcpy(out, p->data, (size_t)p->size);
    *n = (size_t)p->size;
    av_packet_free(&p);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    return out;
}

/* A picture with structure in every plane: blocks of distinct values. */
static void fill_planes(AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    for (int pl = 0; pl < 4 && f->data[pl]; pl++) {
        int ph = pl && !(d->flags & AV_PIX_FMT_FLAG_RGB)
                     ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h)
                     : f->height;
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < f->linesize[pl]; x++)
                f->data[pl][y * f->linesize[pl] + x] =
                    (uint8_t)(((x / 4) * 40 + (y / 4) * 70 + pl * 90) & 255);
    }
}

/* Splices an EXIF APP1 with orientation o (byte order "MM" or "II") after the JPEG's SOI. */
static uint8_t *with_exif(const uint8_t *jpg, size_t n, int o, int le, size_t *outn)
{
    uint8_t app[2 + 2 + 6 + 8 + 2 + 12 + 4];
    size_t k = 0;
    app[k++] = 0xFF, app[k++] = 0xE1;
    app[k++] = 0, app[k++] = (uint8_t)(sizeof(app) - 2);
    memcpy(app + k, "Exif\0\0", 6), k += 6;
    uint8_t tiff[26] = {0};
    if (le) {
        memcpy(tiff, "II\x2a\0\x08\0\0\0", 8);
        tiff[8] = 1;                      /* one entry */
        tiff[10] = 0x12, tiff[11] = 0x01; /* tag 0x0112 */
        tiff[12] = 3;                     /* SHORT */
        tiff[14] = 1;                     /* count 1 */
        tiff[18] = (uint8_t)o;
    } else {
        memcpy(tiff, "MM\0\x2a\0\0\0\x08", 8);
        tiff[9] = 1;
        tiff[10] = 0x01, tiff[11] = 0x12;
        tiff[13] = 3;
        tiff[17] = 1;
        tiff[19] = (uint8_t)o;
    }
    memcpy(app + k, tiff, sizeof(tiff));
    uint8_t *out = malloc(n + sizeof(app));
    memcpy(out, jpg, 2);
    memcpy(out + 2, app, sizeof(app));
    memcpy(out + 2 + sizeof(app), jpg + 2, n - 2);
    *outn = n + sizeof(app);
    return out;
}

static void test_exif_all_orientations(void **state)
{
    (void)state;
    size_t n;
    uint8_t *jpg = encode(AV_CODEC_ID_MJPEG, AV_PIX_FMT_YUVJ444P, 40, 24, fill_planes, &n);
    struct media_rgb base;
    char err[256];
    assert_int_equal(decode(jpg, n, 0, 0, 0, &base, err, sizeof(err)), 0);
    assert_int_equal(base.orientation, 0);
    for (int le = 0; le < 2; le++)
        for (int o = 1; o <= 8; o++) {
            size_t m;
            uint8_t *e = with_exif(jpg, n, o, le, &m);
            struct media_rgb up, stored;
            assert_int_equal(decode(e, m, 0, 0, 0, &up, err, sizeof(err)), 0);
            assert_int_equal(decode(e, m, 1, 0, 0, &stored, err, sizeof(err)), 0);
            assert_int_equal(up.orientation, o);
            assert_int_equal(stored.width, base.width);
            assert_memory_equal(stored.px, base.px, (size_t)base.width * base.height * 3);
            assert_oriented(&stored, &up, o);
            media_rgb_free(&up);
            media_rgb_free(&stored);
            free(e);
        }
    /* A broken EXIF block is ignored, not fatal. */
    size_t m;
    uint8_t *e = with_exif(jpg, n, 6, 0, &m);
    e[2 + 10] = 'X'; /* "MM" -> "XM" */
    struct media_rgb img;
    assert_int_equal(decode(e, m, 0, 0, 0, &img, err, sizeof(err)), 0);
    assert_int_equal(img.orientation, 0);
    media_rgb_free(&img);
    free(e);
    media_rgb_free(&base);
    free(jpg);
}

/* ---- 16-bit, GIF ---- */

static void fill_ramp16(AVFrame *f)
{
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->linesize[0] / 2; x++) {
            unsigned v = (unsigned)((x * 2111 + y * 977) & 0xFFFF);
            f->data[0][y * f->linesize[0] + 2 * x] = (uint8_t)(v >> 8); /* big-endian */
            f->data[0][y * f->linesize[0] + 2 * x + 1] = (uint8_t)v;
        }
}

static void test_16bit(void **state)
{
    (void)state;
    static const struct {
        enum AVPixelFormat fmt;
        int ch, grey;
    } cases[] = {{AV_PIX_FMT_RGB48BE, 3, 0}, {AV_PIX_FMT_GRAY16BE, 1, 1}};
    for (size_t c = 0; c < GIF_ARRAY_LEN(cases); c++) {
        size_t n;
        uint8_t *png = encode(AV_CODEC_ID_PNG, cases[c].fmt, 33, 21, fill_ramp16, &n);
        struct media_rgb img;
        char err[256];
        assert_int_equal(decode(png, n, 0, 0, 0, &img, err, sizeof(err)), 0);
        assert_int_equal(img.grey, cases[c].grey);
        int worst = 0;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++)
                for (int k = 0; k < 3; k++) {
                    int ch = cases[c].ch == 1 ? 0 : k;
                    unsigned v = (unsigned)(((x * cases[c].ch + ch) * 2111 + y * 977) & 0xFFFF);
                    int want = (int)((v * 255 + 32767) / 65535);
                    int got = img.px[((size_t)y * img.width + x) * 3 + k];
                    int d = abs(got - want);
                    if (d > worst) worst = d;
                }
        print_message("  16-bit %s: largest difference from round(v / 257): %d\n",
                      cases[c].grey ? "grey" : "RGB", worst);
        assert_true(worst <= 1);
        media_rgb_free(&img);
        free(png);
    }
}

static void test_gif(void **state)
{
    (void)state;
    size_t n;
    uint8_t *gif = encode(AV_CODEC_ID_GIF, AV_PIX_FMT_RGB8, 30, 20, fill_planes, &n);
    struct media_rgb img;
    char err[256];
    assert_int_equal(decode(gif, n, 0, 0, 0, &img, err, sizeof(err)), 0);
    assert_int_equal(img.width, 30);
    assert_int_equal(img.height, 20);
    struct media_pdq p;
    assert_int_equal(media_image_pdq(&img, &p, NULL), 0);
    media_rgb_free(&img);
    free(gif);
}

/* ---- BMP by hand: tiny images, the pixel cap ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

/* A 24-bit BMP header for w x h; data_rows rows of pixels follow (may be fewer than h). */
static uint8_t *bmp(int w, int h, int data_rows, size_t *n)
{
    size_t row = ((size_t)w * 3 + 3) & ~(size_t)3;
    size_t size = 54 + row * (size_t)data_rows;
    uint8_t *b = calloc(1, size);
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (uint32_t)(54 + row * (size_t)h));
    put32(b + 10, 54);
    put32(b + 14, 40);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)h);
    b[26] = 1;
    b[28] = 24;
    put32(b + 34, (uint32_t)(row * (size_t)h));
    for (size_t i = 54; i < size; i++)
        b[i] = (uint8_t)(i * 29);
    *n = size;
    return b;
}

static void test_tiny(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {3, 4}, {4, 9}, {5, 5}, {9, 2}};
    for (size_t i = 0; i < GIF_ARRAY_LEN(sizes); i++) {
        size_t n;
        uint8_t *b = bmp(sizes[i][0], sizes[i][1], sizes[i][1], &n);
        struct media_rgb img;
        char err[256];
        int rc = decode(b, n, 0, 0, 0, &img, err, sizeof(err));
        if (rc) print_message("%dx%d: %s\n", sizes[i][0], sizes[i][1], err);
        assert_int_equal(rc, 0);
        assert_int_equal(img.width, sizes[i][0]);
        assert_int_equal(img.height, sizes[i][1]);
        struct media_pdq p;
        assert_int_equal(media_image_pdq(&img, &p, NULL), 0);
        int small = sizes[i][0] < MEDIA_PDQ_MIN_SIDE || sizes[i][1] < MEDIA_PDQ_MIN_SIDE;
        if (small) {
            static const uint8_t zero[MEDIA_PDQ_LEN];
            assert_int_equal(p.quality, 0);
            assert_memory_equal(p.hash, zero, MEDIA_PDQ_LEN);
        }
        media_rgb_free(&img);
        free(b);
    }
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_pixel_cap(void **state)
{
    (void)state;
    char err[256];
    struct media_rgb img;
    /* A BMP that claims 30000 x 30000 (900 megapixels) over a few bytes. */
    size_t n;
    uint8_t *b = bmp(30000, 30000, 1, &n);
    /* FFmpeg's BMP decoder refuses the missing data before it asks for the frame. */
    int rc = decode(b, n, 0, 0, 0, &img, err, sizeof(err));
    print_message("  %s\n", err);
    assert_true(rc == GIF_E_TOOBIG || rc == GIF_E_INVALID);
    assert_null(img.px);
    free(b);
    /* The same for a PNG header (with valid CRCs) and a lower cap on a real size. */
    uint8_t png[8 + 25 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    uint8_t *ih = png + 16;
    ih[0] = 0, ih[1] = 0, ih[2] = 0x9c, ih[3] = 0x40; /* width 40000 */
    ih[4] = 0, ih[5] = 0, ih[6] = 0x9c, ih[7] = 0x40; /* height 40000 */
    ih[8] = 8, ih[9] = 2;                             /* 8-bit RGB */
    uint32_t crc = crc32_png(png + 12, 17);
    png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16), png[31] = (uint8_t)(crc >> 8),
    png[32] = (uint8_t)crc;
    memcpy(png + 33, "\0\0\0\0IEND", 8);
    crc = crc32_png(png + 37, 4);
    png[41] = (uint8_t)(crc >> 24), png[42] = (uint8_t)(crc >> 16), png[43] = (uint8_t)(crc >> 8),
    png[44] = (uint8_t)crc;
    rc = decode(png, sizeof(png), 0, 0, 0, &img, err, sizeof(err));
    print_message("  %s\n", err);
    assert_int_equal(rc, GIF_E_TOOBIG);
    assert_non_null(strstr(err, "40000x40000"));

    b = bmp(64, 48, 48, &n);
    assert_int_equal(decode(b, n, 0, 0, 64 * 48 - 1, &img, err, sizeof(err)), GIF_E_TOOBIG);
    assert_int_equal(decode(b, n, 0, 0, 64 * 48, &img, err, sizeof(err)), 0);
    media_rgb_free(&img);
    free(b);
}

/* ---- truncated and corrupt ---- */

static void test_truncated_corrupt(void **state)
{
    (void)state;
    char err[256];
    struct media_rgb img;
    assert_int_equal(decode(NULL, 0, 0, 0, 0, &img, err, sizeof(err)), GIF_E_INVALID);
    assert_int_equal(decode((const uint8_t *)"hello, world", 12, 0, 0, 0, &img, err, sizeof(err)),
                     GIF_E_INVALID);
    print_message("  garbage: %s\n", err);

    static const struct {
        enum AVCodecID id;
        enum AVPixelFormat fmt;
    } kinds[] = {{AV_CODEC_ID_MJPEG, AV_PIX_FMT_YUVJ420P}, {AV_CODEC_ID_PNG, AV_PIX_FMT_RGB24}};
    for (size_t k = 0; k < GIF_ARRAY_LEN(kinds); k++) {
        size_t n;
        uint8_t *full = encode(kinds[k].id, kinds[k].fmt, 64, 40, fill_planes, &n);
        assert_int_equal(decode(full, n, 0, 0, 0, &img, err, sizeof(err)), 0);
        media_rgb_free(&img);
        int refused = 0, lenient_ok = 0;
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *t = malloc(cut + 1);
            memcpy(t, full, cut);
            err[0] = '\0';
            int rc = decode(t, cut, 0, 0, 0, &img, err, sizeof(err));
            if (rc == 0)
                fail_msg("%s cut to %zu of %zu bytes decoded",
                         kinds[k].id == AV_CODEC_ID_PNG ? "png" : "jpeg", cut, n);
            assert_int_equal(rc, GIF_E_INVALID);
            assert_true(err[0] != '\0');
            refused++;
            if (decode(t, cut, 0, 1, 0, &img, err, sizeof(err)) == 0) {
                lenient_ok++;
                media_rgb_free(&img);
            }
            free(t);
        }
        print_message("  %s of %zu bytes: all %d truncations refused; lenient decodes %d\n",
                      kinds[k].id == AV_CODEC_ID_PNG ? "png" : "jpeg", n, refused, lenient_ok);
        /* Corruption: flipped bytes never crash; either an error or an image. */
        uint64_t s = 0x1234567;
        for (int trial = 0; trial < 300; trial++) {
            uint8_t *t = malloc(n);
            memcpy(t, full, n);
            for (int f = 0; f < 1 + trial % 4; f++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                t[(s >> 33) % n] ^= (uint8_t)(1u << ((s >> 20) & 7));
            }
            int rc = decode(t, n, 0, trial & 1, 0, &img, err, sizeof(err));
            if (rc == 0) {
                struct media_pdq p;
                assert_int_equal(media_image_pdq(&img, &p, NULL), 0);
                media_rgb_free(&img);
            } else {
                assert_true(err[0] != '\0');
            }
            free(t);
        }
        free(full);
    }
}

static void test_squash(void **state)
{
    (void)state;
    struct media_rgb img = {.width = 5, .height = 3, .px = malloc(45)};
    for (int i = 0; i < 15; i++)
        img.px[3 * i] = img.px[3 * i + 1] = img.px[3 * i + 2] = (uint8_t)i;
    assert_int_equal(media_rgb_squash(&img, 2, 2), 0);
    /* x: floor(0 * 5 / 2) = 0, floor(1 * 5 / 2) = 2; y: 0, floor(3 / 2) = 1. */
    static const uint8_t want[] = {0, 2, 5, 7};
    for (int i = 0; i < 4; i++)
        assert_int_equal(img.px[3 * i], want[i]);
    assert_int_equal(media_rgb_squash(&img, 4, 3), 0); /* upscaling repeats */
    static const uint8_t want2[] = {0, 0, 2, 2, 0, 0, 2, 2, 5, 5, 7, 7};
    for (int i = 0; i < 12; i++)
        assert_int_equal(img.px[3 * i], want2[i]);
    assert_int_equal(media_rgb_squash_tool(&img), 0); /* small: unchanged */
    assert_int_equal(img.width, 4);
    assert_int_equal(media_rgb_squash(&img, 0, 3), GIF_E_INVALID);
    media_rgb_free(&img);
    assert_null(img.px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_exif_file),
        cmocka_unit_test(test_exif_all_orientations),
        cmocka_unit_test(test_16bit),
        cmocka_unit_test(test_gif),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_pixel_cap),
        cmocka_unit_test(test_truncated_corrupt),
        cmocka_unit_test(test_squash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
