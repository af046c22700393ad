/*
 * vPDQ: frame selection, timestamps and per-frame PDQ as Meta's reference vpdq-hash-video does
 * them, uniform-border cropping on the query side, and frame-list matching.
 */
#include "media/vpdq.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/gif.h"

void media_vpdq_opts_default(struct media_vpdq_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->fps = 1.0;
}

/* ---- uniform borders ---- */

/* A line (row or column) is uniform when at most 1 pixel in 50 is further than BORDER_TOL in
 * some channel from the line's mean colour (compression noise, a logo's edge); it still belongs
 * to the border when its mean is within BORDER_DRIFT of the outermost line's. Added bars are
 * flat to a level or two after compression; a filmed wall is not, nor is its shading. */
#define BORDER_TOL 24
#define BORDER_DRIFT 8

static int line_uniform(const uint8_t *p, int n, size_t step, int mean[3])
{
    uint64_t s[3] = {0, 0, 0};
    const uint8_t *q = p;
    if (n <= 0) return 0;
    for (int i = 0; i < n; i++, q += step) {
        s[0] += q[0];
        s[1] += q[1];
        s[2] += q[2];
    }
    for (int c = 0; c < 3; c++)
        mean[c] = (int)((s[c] + (uint64_t)n / 2) / (uint64_t)n);
    int off = 0;
    q = p;
    for (int i = 0; i < n; i++, q += step)
        for (int c = 0; c < 3; c++)
            if (abs((int)q[c] - mean[c]) > BORDER_TOL) {
                off++;
                break;
            }
    return off * 50 <= n;
}

/* Compression rings in the last bar lines next to a contrasted picture (within its transform
 * block): such a line still counts when 9 pixels in 10 are within BORDER_RING of the bar's
 * colour, for at most BORDER_RING_LINES lines after a bar of at least two uniform lines. */
#define BORDER_RING 40
#define BORDER_RING_LINES 4

static int line_near(const uint8_t *p, int n, size_t step, const int colour[3])
{
    int off = 0;
    for (int i = 0; i < n; i++, p += step)
        if (abs((int)p[0] - colour[0]) > BORDER_RING || abs((int)p[1] - colour[1]) > BORDER_RING ||
            abs((int)p[2] - colour[2]) > BORDER_RING)
            off++;
    return off * 10 <= n;
}

/* Counts the border lines from one edge: lines start at first, step apart; each holds n
 * pixels px apart; at most max lines. */
static int border_run(const uint8_t *first, ptrdiff_t line_step, int max, int n, size_t px)
{
    int m0[3], m[3];
    if (max <= 0 || !line_uniform(first, n, px, m0)) return 0;
    int k = 1;
    for (; k < max; k++) {
        if (!line_uniform(first + line_step * k, n, px, m)) break;
        if (abs(m[0] - m0[0]) > BORDER_DRIFT || abs(m[1] - m0[1]) > BORDER_DRIFT ||
            abs(m[2] - m0[2]) > BORDER_DRIFT)
            break;
    }
    if (k >= 2)
        for (int r = 0; r < BORDER_RING_LINES && k < max; r++, k++)
            if (!line_near(first + line_step * k, n, px, m0)) break;
    return k;
}

int media_vpdq_image_borders(const uint8_t *rgb, int w, int h, size_t stride,
                             struct media_video_crop *crop)
{
    memset(crop, 0, sizeof(*crop));
    if (w < 1 || h < 1) return 1;
    ptrdiff_t rs = (ptrdiff_t)stride;
    crop->top = border_run(rgb, rs, h, w, 3);
    if (crop->top >= h) return 1;
    crop->bottom = border_run(rgb + rs * (h - 1), -rs, h - crop->top, w, 3);
    int inner = h - crop->top - crop->bottom;
    if (inner <= 0) return 1; /* uniform from the bottom up to the top border */
    const uint8_t *row0 = rgb + rs * crop->top;
    crop->left = border_run(row0, 3, w, inner, stride);
    if (crop->left >= w) return 1;
    crop->right = border_run(row0 + 3 * (w - 1), -3, w - crop->left, inner, stride);
    return 0;
}

#define BORDER_SAMPLES 12
/* Longer videos are sampled by seeking to key frames; shorter ones, whose few key frames may
 * all be the first, are decoded from the start (one extra decode of at most this long). */
#define BORDER_SEEK_MIN_S 30.0

static uint64_t deadline_of(const struct media_vpdq_opts *o)
{
    uint32_t ms = o->max_ms ? o->max_ms : MEDIA_VPDQ_MAX_MS;
    return gif_mono_ns() + (uint64_t)ms * 1000000u;
}

static void border_add(struct media_video_crop *acc, const struct media_video_crop *c)
{
    if (c->top < acc->top) acc->top = c->top;
    if (c->bottom < acc->bottom) acc->bottom = c->bottom;
    if (c->left < acc->left) acc->left = c->left;
    if (c->right < acc->right) acc->right = c->right;
}

/* Samples frames of v into acc; returns how many frames not of one colour were seen. */
static int sample_borders(struct media_video *v, int seek, struct media_video_crop *acc)
{
    const struct media_video_info *in = media_video_info(v);
    double total = in->nb_frames > 0 ? (double)in->nb_frames : in->duration_s * in->fps;
    double gap = total >= BORDER_SAMPLES ? total / BORDER_SAMPLES : in->fps;
    uint32_t step = gap >= 1 && gap < 1e9 ? (uint32_t)gap : 1, idx;
    int used = 0;
    for (int k = 0; k < BORDER_SAMPLES; k++) {
        if (seek && media_video_seek(v, in->duration_s * (k + 0.5) / BORDER_SAMPLES) != 0)
            return used;
        int got = 0;
        while (!got) {
            if (media_video_next(v, &idx, NULL, 0) != 1) return used;
            got = seek || idx % step == step / 2;
        }
        const uint8_t *px;
        int w, h;
        size_t stride;
        struct media_video_crop c;
        if (media_video_rgb(v, NULL, 0, 0, &px, &w, &h, &stride) != 0) continue;
        if (media_vpdq_image_borders(px, w, h, stride, &c)) continue;
        border_add(acc, &c);
        used++;
    }
    return used;
}

static int find_borders(const uint8_t *buf, size_t len, const struct media_vpdq_opts *o,
                        uint64_t deadline, struct media_video_crop *crop, char *err, size_t errlen)
{
    struct media_video *v;
    memset(crop, 0, sizeof(*crop));
    int rc = media_video_open(buf, len, deadline, o->max_pixels, &v, err, errlen);
    if (rc != 0) return rc;
    struct media_video_crop acc = {INT_MAX, INT_MAX, INT_MAX, INT_MAX};
    int used = 0;
    if (media_video_info(v)->duration_s >= BORDER_SEEK_MIN_S) {
        used = sample_borders(v, 1, &acc);
        if (used == 0) {
            /* Not seekable after all: read from the start instead. */
            media_video_close(v);
            rc = media_video_open(buf, len, deadline, o->max_pixels, &v, err, errlen);
            if (rc != 0) return rc;
        }
    }
    if (used == 0) used = sample_borders(v, 0, &acc);
    int w = media_video_info(v)->width, h = media_video_info(v)->height;
    media_video_close(v);
    if (used == 0) return 0;
    /* Keep at least a quarter of each side (and 16 pixels) of picture. */
    int minw = w / 4 > 16 ? w / 4 : 16, minh = h / 4 > 16 ? h / 4 : 16;
    if (w - acc.left - acc.right >= minw) {
        crop->left = acc.left;
        crop->right = acc.right;
    }
    if (h - acc.top - acc.bottom >= minh) {
        crop->top = acc.top;
        crop->bottom = acc.bottom;
    }
    return 0;
}

static int check_opts(const struct media_vpdq_opts *o, char *err, size_t errlen)
{
    if (!(o->fps >= 0) || !isfinite(o->fps)) {
        gif_seterr(err, errlen, "frame rate %g is not a number >= 0", o->fps);
        return GIF_E_INVALID;
    }
    if (o->scale < 0 || o->scale > 4096) {
        gif_seterr(err, errlen, "scale %d is outside 0..4096", o->scale);
        return GIF_E_INVALID;
    }
    return 0;
}

int media_vpdq_find_borders(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                            struct media_video_crop *crop, char *err, size_t errlen)
{
    struct media_vpdq_opts o;
    if (opts)
        o = *opts;
    else
        media_vpdq_opts_default(&o);
    memset(crop, 0, sizeof(*crop));
    int rc = check_opts(&o, err, errlen);
    if (rc != 0) return rc;
    return find_borders(buf, len, &o, deadline_of(&o), crop, err, errlen);
}

/* ---- hashing ---- */

/*
 * The reference keeps frame n when n % step == 0, step = (int)(secondsPerHash * frameRate),
 * and 1 when that truncates to 0; its secondsPerHash is our 1 / fps (0 for every frame).
 */
static uint32_t frame_step(double fps_opt, double rate)
{
    if (fps_opt <= 0) return 1;
    double s = (1.0 / fps_opt) * rate;
    if (!(s >= 1)) return 1;
    if (s >= (double)INT_MAX) return INT_MAX;
    return (uint32_t)(int)s;
}

static int crop_empty(const struct media_video_crop *c)
{
    return !c->top && !c->bottom && !c->left && !c->right;
}

/* Converts the current frame (less crop, scaled to scale x scale when scale > 0) and hashes it
 * into f's hash and quality. */
static int hash_frame(struct media_video *v, const struct media_video_crop *crop, int scale,
                      struct media_vpdq_frame *f)
{
    const uint8_t *px;
    int w, h;
    size_t stride;
    int rc = media_video_rgb(v, crop, scale, scale, &px, &w, &h, &stride);
    /* A frame smaller than the crop (the size changed mid-stream): hash it whole. */
    if (rc == GIF_E_INVALID && crop)
        rc = media_video_rgb(v, NULL, scale, scale, &px, &w, &h, &stride);
    if (rc != 0) return rc;
    struct media_pdq pdq;
    rc = media_pdq_rgb(px, w, h, stride, &pdq, NULL);
    if (rc != 0) return rc;
    memcpy(f->hash, pdq.hash, MEDIA_PDQ_LEN);
    f->quality = (uint8_t)(pdq.quality < 0 ? 0 : pdq.quality > 100 ? 100 : pdq.quality);
    return 0;
}

int media_vpdq_hash_info(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                         struct media_vpdq_frame **frames, size_t *n, int *truncated,
                         struct media_vpdq_info *info, char *err, size_t errlen)
{
    struct media_vpdq_opts o;
    struct media_vpdq_info dummy;
    int want_plain = info != NULL;
    if (opts)
        o = *opts;
    else
        media_vpdq_opts_default(&o);
    if (!info) info = &dummy;
    memset(info, 0, sizeof(*info));
    *frames = NULL;
    *n = 0;
    *truncated = 0;
    if (err && errlen) err[0] = '\0';
    int rc = check_opts(&o, err, errlen);
    if (rc != 0) return rc;
    uint32_t max_frames = o.max_frames ? o.max_frames : MEDIA_VPDQ_MAX_FRAMES;
    uint64_t deadline = deadline_of(&o);

    if (o.crop_borders) {
        rc = find_borders(buf, len, &o, deadline, &info->crop, err, errlen);
        if (rc != 0) return rc;
    }
    const struct media_video_crop *crop = crop_empty(&info->crop) ? NULL : &info->crop;
    want_plain = want_plain && crop && o.keep_plain;
    struct media_video *v;
    rc = media_video_open(buf, len, deadline, o.max_pixels, &v, err, errlen);
    if (rc != 0) return rc;
    const struct media_video_info *vi = media_video_info(v);
    double rate = vi->fps;
    uint32_t step = frame_step(o.fps, rate);
    info->fps = rate;
    info->frame_step = step;

    struct media_vpdq_frame *out = NULL, *plain = NULL;
    size_t cnt = 0, cap = 0;
    int stop = 0; /* a negative code once the stream failed or a cap was hit */
    int capped = 0;
    uint32_t idx;
    for (;;) {
        char e[256];
        int r = media_video_next(v, &idx, e, sizeof(e));
        if (r == 0) break;
        if (r < 0) {
            /* Keep the first reason; the decoder may still drain a few frames. */
            if (stop == 0) {
                stop = r;
                gif_seterr(err, errlen, "%s", e);
            }
            continue;
        }
        info->decoded = idx + 1;
        if (idx % step != 0) continue;
        if (cnt == max_frames) {
            capped = 1;
            gif_seterr(err, errlen, "frame cap of %u hashed frames reached at frame %u", max_frames,
                       idx);
            break;
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            if (nc > max_frames) nc = max_frames;
            struct media_vpdq_frame *nf = realloc(out, nc * sizeof(*nf));
            if (nf) out = nf;
            if (nf && want_plain) {
                nf = realloc(plain, nc * sizeof(*nf));
                if (nf) plain = nf;
            }
            if (!nf) {
                stop = -ENOMEM;
                gif_seterr(err, errlen, "out of memory");
                break;
            }
            cap = nc;
        }
        struct media_vpdq_frame *f = &out[cnt];
        rc = hash_frame(v, crop, o.scale, f);
        if (rc == 0 && want_plain) rc = hash_frame(v, NULL, o.scale, &plain[cnt]);
        if (rc != 0) {
            if (stop == 0) {
                stop = rc;
                gif_seterr(err, errlen, "hashing frame %u failed: %s", idx, gif_strerror(rc));
            }
            break;
        }
        f->frame = idx;
        /* The reference's timestamp is frame / rate seconds; kept in whole milliseconds. */
        double ms = (double)idx * 1000.0 / rate;
        f->time_ms = ms >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)llround(ms);
        if (want_plain) {
            plain[cnt].frame = f->frame;
            plain[cnt].time_ms = f->time_ms;
        }
        cnt++;
    }
    int cut = media_video_saw_truncation(v);
    uint32_t first_damaged;
    info->damaged = media_video_damaged(v, &first_damaged);
    info->width = vi->width;
    info->height = vi->height;
    media_video_close(v);
    if (cnt == 0) {
        free(out);
        free(plain);
        if (stop == -ETIMEDOUT || stop == -ENOMEM) return stop;
        if (stop == 0) gif_seterr(err, errlen, "the video has no decodable frame");
        return GIF_E_INVALID;
    }
    if (stop != 0 || capped || cut || info->damaged) {
        *truncated = 1;
        if (stop == 0 && !capped && cut)
            gif_seterr(err, errlen,
                       "the data ends before frames the container lists (truncated file)");
        else if (stop == 0 && !capped)
            gif_seterr(err, errlen,
                       "damaged frames: %u (the decoder concealed errors), the first is frame %u",
                       info->damaged, first_damaged);
    }
    *frames = out;
    *n = cnt;
    if (want_plain) {
        info->plain = plain;
        info->nplain = cnt;
    }
    return 0;
}

int media_vpdq_hash(const uint8_t *buf, size_t len, const struct media_vpdq_opts *opts,
                    struct media_vpdq_frame **frames, size_t *n, int *truncated, char *err,
                    size_t errlen)
{
    return media_vpdq_hash_info(buf, len, opts, frames, n, truncated, NULL, err, errlen);
}

/* ---- matching ---- */

struct key {
    uint64_t w[4];
};

static void frame_key(const struct media_vpdq_frame *f, struct key *k);

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x->w[i] != y->w[i]) return x->w[i] < y->w[i] ? -1 : 1;
    return 0;
}

/* Usable frames as sorted, distinct 4-word keys. Returns their number; *out is malloc'd (NULL
 * when none or out of memory, which then counts as none). */
static size_t usable(const struct media_vpdq_frame *f, size_t n, int min_quality, struct key **out)
{
    *out = NULL;
    if (n == 0) return 0;
    struct key *k = malloc(n * sizeof(*k));
    if (!k) return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)f[i].quality < min_quality) continue;
        for (int j = 0; j < 4; j++) {
            uint64_t x = 0;
            for (int b = 0; b < 8; b++)
                x = x << 8 | f[i].hash[8 * j + b];
            k[m].w[j] = x;
        }
        m++;
    }
    if (m == 0) {
        free(k);
        return 0;
    }
    qsort(k, m, sizeof(*k), key_cmp);
    size_t u = 1;
    for (size_t i = 1; i < m; i++)
        if (key_cmp(&k[i], &k[u - 1]) != 0) k[u++] = k[i];
    *out = k;
    return u;
}

static int key_dist(const struct key *a, const struct key *b)
{
    return __builtin_popcountll(a->w[0] ^ b->w[0]) + __builtin_popcountll(a->w[1] ^ b->w[1]) +
           __builtin_popcountll(a->w[2] ^ b->w[2]) + __builtin_popcountll(a->w[3] ^ b->w[3]);
}

static void frame_key(const struct media_vpdq_frame *f, struct key *k)
{
    for (int j = 0; j < 4; j++) {
        uint64_t x = 0;
        for (int b = 0; b < 8; b++)
            x = x << 8 | f->hash[8 * j + b];
        k->w[j] = x;
    }
}

void media_vpdq_match_windows(const struct media_vpdq_frame *q, size_t nq,
                              const struct media_vpdq_frame *c, size_t nc, int max_distance,
                              int min_quality, uint32_t window_ms, struct media_vpdq_match *out)
{
    memset(out, 0, sizeof(*out));
    struct key *kq, *kc;
    size_t uq = usable(q, nq, min_quality, &kq);
    size_t uc = usable(c, nc, min_quality, &kc);
    out->query_usable = uq;
    out->compared_usable = uc;
    uint8_t *qm = uq ? calloc(uq, 1) : NULL, *cm = uc ? calloc(uc, 1) : NULL;
    if (qm && cm) {
        /* One pass over all pairs fills both sides. */
        for (size_t i = 0; i < uq; i++)
            for (size_t j = 0; j < uc; j++)
                if (key_dist(&kq[i], &kc[j]) <= max_distance) {
                    qm[i] = 1;
                    cm[j] = 1;
                }
        for (size_t i = 0; i < uq; i++)
            out->query_matched += qm[i];
        for (size_t j = 0; j < uc; j++)
            out->compared_matched += cm[j];
        out->query_pct = 100.0 * (double)out->query_matched / (double)uq;
        out->compared_pct = 100.0 * (double)out->compared_matched / (double)uc;
        if (window_ms) {
            /* Frames are in time order: walk them window by window; a frame finds its
             * distinct hash's verdict by binary search. */
            uint64_t cur = UINT64_MAX;
            int usable_in = 0, matched_in = 0;
            for (size_t i = 0; i <= nq; i++) {
                uint64_t win = i < nq ? q[i].time_ms / window_ms : UINT64_MAX - 1;
                if (win != cur) {
                    out->windows += (size_t)usable_in;
                    out->windows_matched += (size_t)matched_in;
                    usable_in = matched_in = 0;
                    cur = win;
                }
                if (i == nq || (int)q[i].quality < min_quality) continue;
                struct key k;
                frame_key(&q[i], &k);
                const struct key *at = bsearch(&k, kq, uq, sizeof(*kq), key_cmp);
                usable_in = 1;
                if (at && qm[at - kq]) matched_in = 1;
            }
            if (out->windows)
                out->window_pct = 100.0 * (double)out->windows_matched / (double)out->windows;
        }
    }
    free(qm);
    free(cm);
    free(kq);
    free(kc);
}

void media_vpdq_match(const struct media_vpdq_frame *q, size_t nq, const struct media_vpdq_frame *c,
                      size_t nc, int max_distance, int min_quality, struct media_vpdq_match *out)
{
    media_vpdq_match_windows(q, nq, c, nc, max_distance, min_quality, 0, out);
}

int media_vpdq_is_match(const struct media_vpdq_match *m, double pct)
{
    return m->query_pct >= pct || m->compared_pct >= pct || (m->windows && m->window_pct >= pct);
}

static double best_pct(const struct media_vpdq_match *m)
{
    double x = m->query_pct > m->compared_pct ? m->query_pct : m->compared_pct;
    return m->windows && m->window_pct > x ? m->window_pct : x;
}

void media_vpdq_match_cropped(const struct media_vpdq_frame *q, size_t nq,
                              const struct media_vpdq_frame *plain, size_t nplain,
                              const struct media_vpdq_frame *c, size_t nc, int max_distance,
                              int min_quality, uint32_t window_ms, struct media_vpdq_match *out)
{
    media_vpdq_match_windows(q, nq, c, nc, max_distance, min_quality, window_ms, out);
    if (!plain || nplain == 0) return;
    struct media_vpdq_match m;
    media_vpdq_match_windows(plain, nplain, c, nc, max_distance, min_quality, window_ms, &m);
    if (best_pct(&m) > best_pct(out)) *out = m;
}
