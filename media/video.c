/*
 * In-memory video decoding: a custom AVIOContext reads the caller's buffer, the demuxer may
 * not open anything else, one decoder thread, and swscale (SWS_AREA) to RGB24.
 */
#include "media/video.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>

#include "util/gif.h"

#define IO_BUF_SIZE 32768

struct media_video {
    const uint8_t *buf;
    size_t len, pos;
    uint64_t deadline_ns;
    AVIOContext *io;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *frame, *view;
    int have_frame;
    uint32_t next_index;
    int draining;  /* the flush packet was sent */
    int done;      /* nothing more will come out */
    int truncated; /* a packet was cut short */
    uint32_t damaged, first_damaged;
    struct SwsContext *sws;
    uint8_t *rgb;
    size_t rgb_cap;
    struct media_video_info info;
};

static const char *averr(int e, char *b, size_t n)
{
    if (av_strerror(e, b, n) < 0) snprintf(b, n, "error %d", e);
    return b;
}

static int past_deadline(const struct media_video *v)
{
    return v->deadline_ns && gif_mono_ns() > v->deadline_ns;
}

static int io_read(void *opaque, uint8_t *dst, int size)
{
    struct media_video *v = opaque;
    if (past_deadline(v)) return AVERROR(ETIMEDOUT);
    size_t left = v->len - v->pos;
    if (left == 0 || size <= 0) return AVERROR_EOF;
    size_t n = (size_t)size < left ? (size_t)size : left;
    memcpy(dst, v->buf + v->pos, n);
    v->pos += n;
    return (int)n;
}

static int64_t io_seek(void *opaque, int64_t off, int whence)
{
    struct media_video *v = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)v->len;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)v->pos;
        break;
    case SEEK_END:
        base = (int64_t)v->len;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (off > 0 ? off > (int64_t)v->len - base : off < -base) return AVERROR(EINVAL);
    v->pos = (size_t)(base + off);
    return base + off;
}

static int io_interrupt(void *opaque)
{
    return past_deadline(opaque);
}

/* A demuxer must not reach beyond the buffer: HLS and DASH playlists, MOV data references,
 * concat lists and image sequences would otherwise open files or URLs they name. */
static int io_open_refused(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                           AVDictionary **options)
{
    (void)s;
    (void)pb;
    (void)url;
    (void)flags;
    (void)options;
    return AVERROR(EPERM);
}

static int map_averror(const struct media_video *v, int e)
{
    if (past_deadline(v) || e == AVERROR(ETIMEDOUT) || e == AVERROR_EXIT) return -ETIMEDOUT;
    if (e == AVERROR(ENOMEM)) return -ENOMEM;
    return GIF_E_INVALID;
}

void media_video_close(struct media_video *v)
{
    if (!v) return;
    av_free(v->rgb);
    sws_freeContext(v->sws);
    av_frame_free(&v->view);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt); /* custom I/O: leaves v->io to us */
    if (v->io) {
        av_freep(&v->io->buffer);
        avio_context_free(&v->io);
    }
    free(v);
}

int media_video_open(const uint8_t *buf, size_t len, uint64_t deadline_ns, uint64_t max_pixels,
                     struct media_video **out, char *err, size_t errlen)
{
    char eb[128];
    int rc = -ENOMEM;
    *out = NULL;
    /* FFmpeg logs to stderr by default; every problem is reported through err instead. */
    av_log_set_level(AV_LOG_QUIET);
    if (max_pixels == 0) max_pixels = MEDIA_VIDEO_MAX_PIXELS_DEFAULT;
    if (!buf || len == 0) {
        gif_seterr(err, errlen, "empty input");
        return GIF_E_INVALID;
    }
    if (len > (size_t)INT64_MAX / 2) {
        gif_seterr(err, errlen, "input of %zu bytes is too large", len);
        return GIF_E_TOOBIG;
    }
    struct media_video *v = calloc(1, sizeof(*v));
    if (!v) goto nomem;
    v->buf = buf;
    v->len = len;
    v->deadline_ns = deadline_ns;
    v->stream = -1;
    uint8_t *iobuf = av_malloc(IO_BUF_SIZE);
    if (!iobuf) goto nomem;
    v->io = avio_alloc_context(iobuf, IO_BUF_SIZE, 0, v, io_read, NULL, io_seek);
    if (!v->io) {
        av_free(iobuf);
        goto nomem;
    }
    v->fmt = avformat_alloc_context();
    if (!v->fmt) goto nomem;
    v->fmt->pb = v->io;
    v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    v->fmt->io_open = io_open_refused;
    v->fmt->interrupt_callback.callback = io_interrupt;
    v->fmt->interrupt_callback.opaque = v;
    int r = avformat_open_input(&v->fmt, NULL, NULL, NULL);
    if (r < 0) {
        /* Not ENOMEM here: a playlist demuxer reports the refused open of its first entry as
         * that. */
        rc = map_averror(v, r) == -ETIMEDOUT ? -ETIMEDOUT : GIF_E_INVALID;
        gif_seterr(err, errlen, "not a recognised video container: %s", averr(r, eb, sizeof(eb)));
        goto fail;
    }
    r = avformat_find_stream_info(v->fmt, NULL);
    if (r < 0) {
        rc = map_averror(v, r);
        gif_seterr(err, errlen, "cannot read the stream information: %s", averr(r, eb, sizeof(eb)));
        goto fail;
    }
    /* The first video stream, as the reference takes it, but never a cover picture. */
    for (unsigned i = 0; i < v->fmt->nb_streams; i++) {
        const AVStream *st = v->fmt->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            v->stream = (int)i;
            break;
        }
    }
    rc = GIF_E_INVALID;
    if (v->stream < 0) {
        gif_seterr(err, errlen, "no video stream (%s container)", v->fmt->iformat->name);
        goto fail;
    }
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if ((int)i != v->stream) v->fmt->streams[i]->discard = AVDISCARD_ALL;
    AVStream *st = v->fmt->streams[v->stream];
    const AVCodecParameters *par = st->codecpar;
    if (par->width < 0 || par->height < 0 ||
        (uint64_t)par->width * (uint64_t)par->height > max_pixels) {
        gif_seterr(err, errlen, "frame size %dx%d is over the cap of %llu pixels", par->width,
                   par->height, (unsigned long long)max_pixels);
        rc = GIF_E_TOOBIG;
        goto fail;
    }
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        gif_seterr(err, errlen, "no decoder for codec %s", avcodec_get_name(par->codec_id));
        goto fail;
    }
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec) goto nomem;
    r = avcodec_parameters_to_context(v->dec, par);
    if (r < 0) {
        rc = map_averror(v, r);
        gif_seterr(err, errlen, "bad codec parameters: %s", averr(r, eb, sizeof(eb)));
        goto fail;
    }
    /* One thread: requests are decoded in parallel by the caller's worker pool, and the
     * output does not depend on it. */
    v->dec->thread_count = 1;
    v->dec->max_pixels = (int64_t)max_pixels;
    v->dec->pkt_timebase = st->time_base;
    r = avcodec_open2(v->dec, codec, NULL);
    if (r < 0) {
        rc = map_averror(v, r);
        gif_seterr(err, errlen, "cannot open the %s decoder: %s", codec->name,
                   averr(r, eb, sizeof(eb)));
        goto fail;
    }
    AVRational fr = st->avg_frame_rate;
    if (fr.num == 0 || fr.den == 0) fr = st->r_frame_rate;
    double fps = (fr.num && fr.den) ? av_q2d(fr) : 0;
    if (!(fps > 0) || !isfinite(fps)) {
        gif_seterr(err, errlen, "the video stream has no frame rate");
        goto fail;
    }
    v->info.width = par->width;
    v->info.height = par->height;
    v->info.fps = fps;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        v->info.duration_s = (double)st->duration * av_q2d(st->time_base);
    else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0)
        v->info.duration_s = (double)v->fmt->duration / AV_TIME_BASE;
    v->info.nb_frames = st->nb_frames > 0 ? st->nb_frames : 0;
    /* An MP4 cut short keeps its index, and the demuxer quietly drops the samples it lists
     * past the end of the data: say it was truncated. */
    int entries = avformat_index_get_entries_count(st);
    for (int i = entries - 1; i >= 0; i--) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (e && e->pos >= 0 && e->size > 0 && (uint64_t)e->pos + (uint64_t)e->size > len) {
            v->truncated = 1;
            break;
        }
    }
    v->info.codec = codec->name;
    v->info.format = v->fmt->iformat->name;
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->view = av_frame_alloc();
    if (!v->pkt || !v->frame || !v->view) goto nomem;
    *out = v;
    return 0;
nomem:
    rc = -ENOMEM;
    gif_seterr(err, errlen, "out of memory");
fail:
    media_video_close(v);
    return rc;
}

const struct media_video_info *media_video_info(const struct media_video *v)
{
    return &v->info;
}

int media_video_saw_truncation(const struct media_video *v)
{
    return v->truncated;
}

uint32_t media_video_damaged(const struct media_video *v, uint32_t *first)
{
    if (first) *first = v->first_damaged;
    return v->damaged;
}

/* Stops reading and lets the decoder give up what it holds. */
static void start_drain(struct media_video *v)
{
    if (!v->draining && avcodec_send_packet(v->dec, NULL) < 0) v->done = 1;
    v->draining = 1;
}

int media_video_next(struct media_video *v, uint32_t *index, char *err, size_t errlen)
{
    char eb[128];
    v->have_frame = 0;
    for (;;) {
        if (v->done) return 0;
        int r = avcodec_receive_frame(v->dec, v->frame);
        if (r == 0) {
            if (v->info.width == 0 || v->info.height == 0) {
                v->info.width = v->frame->width;
                v->info.height = v->frame->height;
            }
            if (v->frame->decode_error_flags || (v->frame->flags & AV_FRAME_FLAG_CORRUPT)) {
                if (v->damaged++ == 0) v->first_damaged = v->next_index;
            }
            *index = v->next_index++;
            v->have_frame = 1;
            return 1;
        }
        if (r == AVERROR_EOF || (r == AVERROR(EAGAIN) && v->draining)) {
            v->done = 1;
            return 0;
        }
        if (r != AVERROR(EAGAIN)) {
            v->done = 1;
            gif_seterr(err, errlen, "decoding frame %u failed: %s", v->next_index,
                       averr(r, eb, sizeof(eb)));
            return map_averror(v, r);
        }
        if (past_deadline(v)) {
            v->done = 1;
            gif_seterr(err, errlen, "decode time cap reached after %u frames", v->next_index);
            return -ETIMEDOUT;
        }
        r = av_read_frame(v->fmt, v->pkt);
        if (r < 0) {
            int timed_out = past_deadline(v);
            start_drain(v);
            if (r == AVERROR_EOF && !timed_out) continue;
            if (timed_out) v->done = 1;
            gif_seterr(err, errlen,
                       "reading the container failed after %u frames (offset %zu of %zu): %s",
                       v->next_index, v->pos, v->len, averr(r, eb, sizeof(eb)));
            return map_averror(v, r);
        }
        if (v->pkt->stream_index != v->stream) {
            av_packet_unref(v->pkt);
            continue;
        }
        if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) v->truncated = 1;
        r = avcodec_send_packet(v->dec, v->pkt);
        av_packet_unref(v->pkt);
        if (r < 0) {
            start_drain(v);
            gif_seterr(err, errlen, "decoding failed after %u frames: %s", v->next_index,
                       averr(r, eb, sizeof(eb)));
            return map_averror(v, r);
        }
    }
}

int media_video_rgb(struct media_video *v, const struct media_video_crop *crop, int w, int h,
                    const uint8_t **px, int *out_w, int *out_h, size_t *stride)
{
    if (!v->have_frame) return GIF_E_INVALID;
    AVFrame *f = v->frame;
    struct media_video_crop c = {0, 0, 0, 0};
    if (crop) c = *crop;
    if (c.top < 0 || c.bottom < 0 || c.left < 0 || c.right < 0 ||
        (int64_t)c.top + c.bottom >= f->height || (int64_t)c.left + c.right >= f->width)
        return GIF_E_INVALID;
    if (c.top || c.bottom || c.left || c.right) {
        av_frame_unref(v->view);
        if (av_frame_ref(v->view, v->frame) < 0) return -ENOMEM;
        v->view->crop_top = (size_t)c.top;
        v->view->crop_bottom = (size_t)c.bottom;
        v->view->crop_left = (size_t)c.left;
        v->view->crop_right = (size_t)c.right;
        if (av_frame_apply_cropping(v->view, AV_FRAME_CROP_UNALIGNED) < 0) return GIF_E_INVALID;
        f = v->view;
    }
    if (w <= 0 || h <= 0) {
        /* The stream's size as the reference scales to it (a frame of another size is
         * resized to it), less the crop. */
        w = v->info.width - c.left - c.right;
        h = v->info.height - c.top - c.bottom;
        if (w <= 0 || h <= 0) {
            w = f->width;
            h = f->height;
        }
    }
    if ((uint64_t)w * (uint64_t)h > (uint64_t)v->dec->max_pixels) return GIF_E_TOOBIG;
    size_t st = FFALIGN((size_t)w * 3, 64);
    size_t need = st * (size_t)h + 64;
    if (need > v->rgb_cap) {
        av_free(v->rgb);
        v->rgb_cap = 0;
        v->rgb = av_malloc(need);
        if (!v->rgb) return -ENOMEM;
        v->rgb_cap = need;
    }
    v->sws = sws_getCachedContext(v->sws, f->width, f->height, (enum AVPixelFormat)f->format, w, h,
                                  AV_PIX_FMT_RGB24, SWS_AREA, NULL, NULL, NULL);
    if (!v->sws) return GIF_E_INVALID;
    uint8_t *dst[4] = {v->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {(int)st, 0, 0, 0};
    int r = sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                      dst_stride);
    if (f == v->view) av_frame_unref(v->view);
    if (r <= 0) return GIF_E_INVALID;
    *px = v->rgb;
    *out_w = w;
    *out_h = h;
    *stride = st;
    return 0;
}

int media_video_seek(struct media_video *v, double t)
{
    const AVStream *st = v->fmt->streams[v->stream];
    double tb = av_q2d(st->time_base);
    if (!(tb > 0) || !isfinite(t) || t < 0) return GIF_E_INVALID;
    if (t / tb > 4e18) return GIF_E_INVALID;
    int64_t ts = (int64_t)(t / tb);
    if (st->start_time != AV_NOPTS_VALUE && st->start_time > -4000000000000000000 &&
        st->start_time < 4000000000000000000)
        ts += st->start_time;
    if (av_seek_frame(v->fmt, v->stream, ts, AVSEEK_FLAG_BACKWARD) < 0) return GIF_E_INVALID;
    avcodec_flush_buffers(v->dec);
    v->draining = 0;
    v->done = 0;
    v->have_frame = 0;
    return 0;
}
