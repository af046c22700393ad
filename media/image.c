/*
 * In-memory image decoding through FFmpeg: a custom AVIOContext reads the caller's buffer, the
 * demuxer may open nothing else, and the first video frame is decoded on one thread and
 * converted to RGB24. See docs/media.md for the conversions and why they were chosen.
 */
#include "media/image.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "util/gif.h"

/* Packets read while looking for the first frame (a still image needs one). */
#define MAX_PACKETS 256
#define AVIO_BUF 16384

static once_flag init_once = ONCE_FLAG_INIT;

static void init_quiet(void)
{
    /* FFmpeg logs to stderr from any thread; corrupt uploads would flood the node's log. */
    av_log_set_level(AV_LOG_QUIET);
}

void media_init(void)
{
    call_once(&init_once, init_quiet);
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *averr(int rc, char *buf, size_t n)
{
    av_strerror(rc, buf, n);
    return buf;
}

/* ---- reading from memory ---- */

struct membuf {
    const uint8_t *p;
    size_t n, pos;
};

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    struct membuf *m = opaque;
    size_t left = m->n - m->pos;
    if (left == 0) return AVERROR_EOF;
    size_t k = (size_t)size < left ? (size_t)size : left;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (int)k;
}

static int64_t mem_seek(void *opaque, int64_t off, int whence)
{
    struct membuf *m = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)m->n;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)m->pos;
        break;
    case SEEK_END:
        base = (int64_t)m->n;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (off > (int64_t)m->n - base || off < -base) return AVERROR(EINVAL);
    m->pos = (size_t)(base + off);
    return (int64_t)m->pos;
}

/* Demuxers that refer to other resources (playlists, references, image sequences) get nothing. */
static int refuse_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                       AVDictionary **options)
{
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* ---- the pixel cap, checked when the decoder asks for the frame's memory ---- */

struct capctx {
    uint64_t max_pixels;
    int over;
    int w, h;
};

static int cap_get_buffer(AVCodecContext *avctx, AVFrame *frame, int flags)
{
    struct capctx *c = avctx->opaque;
    if (frame->width < 1 || frame->height < 1 ||
        (uint64_t)frame->width * (uint64_t)frame->height > c->max_pixels) {
        c->over = 1;
        c->w = frame->width;
        c->h = frame->height;
        return AVERROR(ERANGE);
    }
    return avcodec_default_get_buffer2(avctx, frame, flags);
}

/* ---- EXIF orientation from a JPEG's APP1 segment ---- */

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Orientation (1..8) from a TIFF structure (the EXIF payload), or 0. */
static int tiff_orientation(const uint8_t *t, size_t n)
{
    if (n < 8) return 0;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 0;
    if (rd16(t + 2, le) != 42) return 0;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n - 2) return 0;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 0;
        if (rd16(t + e, le) != 0x0112) continue;
        unsigned type = rd16(t + e + 2, le);
        unsigned v = type == 3 ? rd16(t + e + 8, le) : type == 4 ? rd32(t + e + 8, le) : 0;
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

/* Walks a JPEG's marker segments up to the first scan, looking for an EXIF APP1. */
static int jpeg_orientation(const uint8_t *p, size_t n)
{
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 0;
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) return 0;
        uint8_t m = p[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return 0; /* start of scan / end: no EXIF before it */
        size_t len = rd16(p + i + 2, 0);
        if (len < 2 || i + 2 + len > n) return 0;
        const uint8_t *seg = p + i + 4;
        size_t slen = len - 2;
        if (m == 0xE1 && slen >= 6 && memcmp(seg, "Exif\0\0", 6) == 0)
            return tiff_orientation(seg + 6, slen - 6);
        i += 2 + len;
    }
    return 0;
}

/*
 * The size an image's header declares, for the formats whose header gives it in a fixed place
 * (PNG IHDR, JPEG SOFn, GIF screen, BMP): checked against the cap before FFmpeg sees the bytes,
 * whose own limits would otherwise report a huge declared size as merely invalid. Returns 1
 * when found.
 */
static int header_dims(const uint8_t *p, size_t n, uint64_t *w, uint64_t *h)
{
    if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(p + 12, "IHDR", 4) == 0) {
        *w = rd32(p + 16, 0);
        *h = rd32(p + 20, 0);
        return 1;
    }
    if (n >= 10 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
        *w = rd16(p + 6, 1);
        *h = rd16(p + 8, 1);
        return 1;
    }
    if (n >= 26 && p[0] == 'B' && p[1] == 'M' && rd32(p + 14, 1) >= 40) {
        int32_t bw = (int32_t)rd32(p + 18, 1), bh = (int32_t)rd32(p + 22, 1);
        *w = bw < 0 ? 0 - (uint64_t)(int64_t)bw : (uint64_t)bw;
        *h = bh < 0 ? 0 - (uint64_t)(int64_t)bh : (uint64_t)bh;
        return 1;
    }
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) {
        size_t i = 2;
        while (i + 4 <= n) {
            if (p[i] != 0xFF) return 0;
            uint8_t m = p[i + 1];
            if (m == 0xFF || m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
                i += m == 0xFF ? 1 : 2;
                continue;
            }
            if (m == 0xDA || m == 0xD9) return 0;
            size_t len = rd16(p + i + 2, 0);
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                if (len < 7 || i + 9 > n) return 0;
                *h = rd16(p + i + 5, 0);
                *w = rd16(p + i + 7, 0);
                return 1;
            }
            if (len < 2) return 0;
            i += 2 + len;
        }
    }
    return 0;
}

/* 1 when an end-of-image marker follows the last start-of-scan. Entropy-coded data cannot
 * hold 0xFF 0xD9 (0xFF is stuffed), so a cut-off file has none after its last scan. */
static int jpeg_has_eoi(const uint8_t *p, size_t n)
{
    size_t last_sos = 0, last_eoi = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == 0xFF) {
            if (p[i + 1] == 0xDA) last_sos = i + 1;
            if (p[i + 1] == 0xD9) last_eoi = i + 1;
        }
    return last_eoi > last_sos;
}

/* Rewrites img so that it displays upright for EXIF orientation o (2..8). */
static int apply_orientation(struct media_rgb *img, int o)
{
    int w = img->width, h = img->height;
    int swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)ow * (size_t)oh * 3);
    if (!dst) return -ENOMEM;
    for (int y = 0; y < oh; y++) {
        uint8_t *d = dst + (size_t)y * ow * 3;
        for (int x = 0; x < ow; x++, d += 3) {
            int sx, sy;
            switch (o) {
            case 2:
                sx = w - 1 - x, sy = y;
                break;
            case 3:
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            case 4:
                sx = x, sy = h - 1 - y;
                break;
            case 5:
                sx = y, sy = x;
                break;
            case 6:
                sx = y, sy = h - 1 - x;
                break;
            case 7:
                sx = w - 1 - y, sy = h - 1 - x;
                break;
            default:
                sx = w - 1 - y, sy = x;
                break; /* 8 */
            }
            memcpy(d, img->px + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->px);
    img->px = dst;
    img->width = ow;
    img->height = oh;
    return 0;
}

/* ---- conversion ---- */

/* One colour channel (with or without alpha, any depth, 1-bit): the reference reads such an
 * image as one channel and hashes the value itself. */
static int is_grey_format(enum AVPixelFormat f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f);
    if (!d) return 0;
    int colour = d->nb_components - ((d->flags & AV_PIX_FMT_FLAG_ALPHA) ? 1 : 0);
    return colour == 1 && !(d->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_RGB));
}

static int convert(const AVFrame *f, struct media_rgb *out, char *err, size_t errlen)
{
    int w = f->width, h = f->height;
    int grey = is_grey_format((enum AVPixelFormat)f->format);
    enum AVPixelFormat dstf = grey ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
    /* Same size: no scaling, only format conversion; full chroma interpolation and accurate
     * rounding for YUV sources. Alpha is dropped (see docs/media.md). */
    struct SwsContext *sws = sws_getContext(
        w, h, (enum AVPixelFormat)f->format, w, h, dstf,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    if (!sws)
        return fail(err, errlen, GIF_E_INVALID, "cannot convert pixel format %s to RGB",
                    av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    size_t n = (size_t)w * (size_t)h;
    uint8_t *px = malloc(n * 3 + 64);
    if (!px) {
        sws_freeContext(sws);
        return fail(err, errlen, -ENOMEM, "out of memory for %dx%d pixels", w, h);
    }
    uint8_t *dst[4] = {px, NULL, NULL, NULL};
    int dstride[4] = {grey ? w : 3 * w, 0, 0, 0};
    int rows = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dstride);
    sws_freeContext(sws);
    if (rows != h) {
        free(px);
        return fail(err, errlen, GIF_E_INVALID, "pixel format conversion from %s failed",
                    av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    }
    if (grey) /* spread in place from the end: pixel i moves to 3i */
        for (size_t i = n; i-- > 0;)
            px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = px[i];
    out->width = w;
    out->height = h;
    out->px = px;
    out->grey = grey;
    return 0;
}

/* ---- decoding ---- */

int media_image_decode(const uint8_t *buf, size_t n, const struct media_image_opts *opts,
                       struct media_rgb *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (err && errlen) err[0] = '\0';
    media_init();
    if (!buf || n == 0) return fail(err, errlen, GIF_E_INVALID, "empty input");
    if (n > INT32_MAX) return fail(err, errlen, GIF_E_TOOBIG, "input of %zu bytes", n);

    struct capctx cap = {.max_pixels = opts && opts->max_pixels ? opts->max_pixels
                                                                : MEDIA_IMAGE_MAX_PIXELS_DEFAULT};
    uint64_t hw, hh;
    if (header_dims(buf, n, &hw, &hh) && hw * hh > cap.max_pixels)
        return fail(err, errlen, GIF_E_TOOBIG, "image is %llux%llu, over the cap of %llu pixels",
                    (unsigned long long)hw, (unsigned long long)hh,
                    (unsigned long long)cap.max_pixels);

    struct membuf mb = {.p = buf, .n = n};
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *frame = NULL;
    char ebuf[128];
    int rc;

    uint8_t *iobuf = av_malloc(AVIO_BUF);
    AVIOContext *io =
        iobuf ? avio_alloc_context(iobuf, AVIO_BUF, 0, &mb, mem_read, NULL, mem_seek) : NULL;
    if (!io) {
        av_free(iobuf);
        return fail(err, errlen, -ENOMEM, "out of memory");
    }
    fmt = avformat_alloc_context();
    if (!fmt) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    fmt->pb = io;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->io_open = refuse_open;
    rc = avformat_open_input(&fmt, "", NULL, NULL);
    if (rc < 0) {
        /* avformat_open_input frees the context on failure. */
        rc = fail(err, errlen, GIF_E_INVALID, "not a recognised image format (%s)",
                  averr(rc, ebuf, sizeof(ebuf)));
        goto out;
    }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) {
        rc = fail(err, errlen, GIF_E_INVALID, "no decodable image in %s data",
                  fmt->iformat ? fmt->iformat->name : "unknown");
        goto out;
    }
    AVCodecParameters *par = fmt->streams[si]->codecpar;
    if (par->width > 0 && par->height > 0 &&
        (uint64_t)par->width * (uint64_t)par->height > cap.max_pixels) {
        rc = fail(err, errlen, GIF_E_TOOBIG, "image is %dx%d, over the cap of %llu pixels",
                  par->width, par->height, (unsigned long long)cap.max_pixels);
        goto out;
    }
    dec = avcodec_alloc_context3(codec);
    if (!dec || avcodec_parameters_to_context(dec, par) < 0) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    dec->thread_count = 1;
    int strict = !(opts && opts->lenient);
    if (strict) /* a decoder error fails the decode instead of being concealed */
        dec->err_recognition |= AV_EF_EXPLODE | AV_EF_BUFFER | AV_EF_CRCCHECK | AV_EF_BITSTREAM;
    dec->opaque = &cap;
    dec->get_buffer2 = cap_get_buffer;
    rc = avcodec_open2(dec, codec, NULL);
    if (rc < 0) {
        rc = fail(err, errlen, GIF_E_INVALID, "cannot open the %s decoder (%s)", codec->name,
                  averr(rc, ebuf, sizeof(ebuf)));
        goto out;
    }
    pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!pkt || !frame) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }

    int got = 0, eof = 0, last = 0;
    for (int packets = 0; !got;) {
        if (!eof) {
            rc = av_read_frame(fmt, pkt);
            if (rc < 0) {
                eof = 1;
                rc = avcodec_send_packet(dec, NULL);
            } else if (pkt->stream_index != si) {
                av_packet_unref(pkt);
                continue;
            } else {
                if (++packets > MAX_PACKETS) {
                    av_packet_unref(pkt);
                    rc = fail(err, errlen, GIF_E_INVALID, "no frame in the first %d packets",
                              MAX_PACKETS);
                    goto out;
                }
                rc = avcodec_send_packet(dec, pkt);
                av_packet_unref(pkt);
            }
            if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) last = rc;
        }
        rc = avcodec_receive_frame(dec, frame);
        if (rc == 0)
            got = 1;
        else if (rc == AVERROR(EAGAIN) && !eof)
            continue;
        else
            break;
    }
    if (cap.over) {
        rc = fail(err, errlen, GIF_E_TOOBIG, "image is %dx%d, over the cap of %llu pixels", cap.w,
                  cap.h, (unsigned long long)cap.max_pixels);
        goto out;
    }
    if (!got) {
        int why = last ? last : rc;
        rc = fail(err, errlen, GIF_E_INVALID, "truncated or corrupt %s image (%s)", codec->name,
                  averr(why, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (frame->flags & AV_FRAME_FLAG_CORRUPT) {
        rc = fail(err, errlen, GIF_E_INVALID, "truncated or corrupt %s image", codec->name);
        goto out;
    }
    if (frame->width < 1 || frame->height < 1 ||
        (uint64_t)frame->width * (uint64_t)frame->height > cap.max_pixels) {
        rc = fail(err, errlen, GIF_E_TOOBIG, "image is %dx%d, over the cap of %llu pixels",
                  frame->width, frame->height, (unsigned long long)cap.max_pixels);
        goto out;
    }
    if (strict && codec->id == AV_CODEC_ID_MJPEG && !jpeg_has_eoi(buf, n)) {
        /* FFmpeg, like libjpeg, conceals a cut-off last scan; refuse it. */
        rc = fail(err, errlen, GIF_E_INVALID, "truncated mjpeg image (no end-of-image marker)");
        goto out;
    }
    if (strict && codec->id == AV_CODEC_ID_PNG && !memmem(buf, n, "IEND", 4)) {
        rc = fail(err, errlen, GIF_E_INVALID, "truncated png image (no IEND chunk)");
        goto out;
    }
    rc = convert(frame, out, err, errlen);
    if (rc != 0) goto out;

    if (codec->id == AV_CODEC_ID_MJPEG) out->orientation = jpeg_orientation(buf, n);
    if (out->orientation > 1 && !(opts && opts->ignore_exif)) {
        rc = apply_orientation(out, out->orientation);
        if (rc != 0) {
            media_rgb_free(out);
            rc = fail(err, errlen, rc, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    if (io) av_freep(&io->buffer);
    avio_context_free(&io);
    return rc;
}

void media_rgb_free(struct media_rgb *img)
{
    if (!img) return;
    free(img->px);
    memset(img, 0, sizeof(*img));
}

int media_rgb_squash(struct media_rgb *img, int w, int h)
{
    if (!img || !img->px || w < 1 || h < 1) return GIF_E_INVALID;
    if (w == img->width && h == img->height) return 0;
    uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
    size_t *xs = malloc((size_t)w * sizeof(*xs));
    if (!dst || !xs) {
        free(dst);
        free(xs);
        return -ENOMEM;
    }
    /* CImg's nearest-neighbour resize: output x reads input floor(x * W / w). */
    uint64_t W = (uint64_t)img->width, H = (uint64_t)img->height;
    for (int x = 0; x < w; x++)
        xs[x] = (size_t)((uint64_t)x * W / (uint64_t)w) * 3;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = img->px + (size_t)((uint64_t)y * H / (uint64_t)h) * (size_t)W * 3;
        uint8_t *d = dst + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, d += 3)
            memcpy(d, s + xs[x], 3);
    }
    free(xs);
    free(img->px);
    img->px = dst;
    img->width = w;
    img->height = h;
    return 0;
}

int media_rgb_squash_tool(struct media_rgb *img)
{
    if (!img || !img->px) return GIF_E_INVALID;
    if (img->width <= MEDIA_PDQ_TOOL_SIDE && img->height <= MEDIA_PDQ_TOOL_SIDE) return 0;
    return media_rgb_squash(img, MEDIA_PDQ_TOOL_SIDE, MEDIA_PDQ_TOOL_SIDE);
}

int media_image_pdq(const struct media_rgb *img, struct media_pdq *out,
                    struct media_pdq dih[MEDIA_DIH_COUNT])
{
    if (!img || !img->px) return GIF_E_INVALID;
    if (img->grey)
        return media_pdq_grey(img->px, img->width, img->height, (size_t)img->width * 3, 3, out,
                              dih);
    return media_pdq_rgb(img->px, img->width, img->height, (size_t)img->width * 3, out, dih);
}
