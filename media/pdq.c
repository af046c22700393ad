/*
 * PDQ, bit for bit as Meta's reference C++ library computes it (pdq/cpp: hashing/pdqhashing.cpp,
 * downscaling/downscaling.cpp, hashing/torben.cpp), but about 20x faster at full resolution.
 *
 * Where the speed comes from, without changing one rounding:
 * - The reference blurs the whole image in four full passes (rows, columns, rows, columns),
 *   the column passes walking down each column across memory, with two full-size float buffers.
 *   Here the passes are streamed: luma rows are made a few at a time, blurred along the row,
 *   pushed into a ring of as many rows as the column window needs, and the column sums are
 *   kept for all columns at once and advanced row by row (sequential memory, vectorised across
 *   columns). The working set stays in L2 cache.
 * - The last two passes only feed the 64x64 decimation, which reads 64 rows and 64 columns:
 *   the second row pass divides only at the 64 sampled columns and the second column pass runs
 *   over those 64 columns only, stopping after the last sampled row.
 * - A running sum is one chain of dependent additions per row: several rows are summed in the
 *   same loop so the chains overlap.
 * Every output value sees the same float operations in the same order as in the reference:
 * each running sum adds and subtracts the same elements in the same sequence, and each output
 * is that sum divided by the same integer window size (a division, not a reciprocal).
 * media_pdq_rgb_ref() keeps the reference's own structure, for tests and benchmarks.
 *
 * The build must not contract a*b+c into fused multiply-adds (the reference, built for
 * baseline x86-64, has none): GCC in ISO C mode does not contract; clang is told so below.
 */
#include "media/pdq.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "util/gif.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Reference luma weights: doubles rounded to float, as the reference declares them. */
static const float LUMA_R = 0.299f, LUMA_G = 0.587f, LUMA_B = 0.114f;

/* Rows summed together along the row, so that their dependency chains overlap. */
#define ROWB 4
/* Row widths are padded to a multiple of this many floats (one vector). */
#define VLEN 8

typedef float vf __attribute__((vector_size(VLEN * sizeof(float)), may_alias, aligned(32)));

/* ---- DCT matrix: rows 1..16 of the 64-point DCT-II, as the reference builds it ---- */

static float dct_m[16][64];  /* dct_m[i][k]: the reference's D[i][k] */
static float dct_mt[64][16]; /* its transpose */
static once_flag dct_once = ONCE_FLAG_INIT;

static void dct_init(void)
{
    /* The reference: a float scale factor sqrt(2/64), times cos in double, stored as float. */
    const float scale = (float)sqrt(2.0 / 64.0);
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 64; k++) {
            double arg =
                (3.14159265358979323846 / 2.0 / 64.0) * (double)(i + 1) * (double)(2 * k + 1);
            dct_m[i][k] = (float)((double)scale * cos(arg));
            dct_mt[k][i] = dct_m[i][k];
        }
}

/* ---- window sizes and sampling, as the reference computes them ---- */

/* Window of each of the two box passes: half of old/new, rounded up. */
static int jarosz_window(int old_dim, int new_dim)
{
    return (old_dim + 2 * new_dim - 1) / (2 * new_dim);
}

/* The index the decimation samples for output i of 64 ("target centres, not corners"). */
static int decimate_index(int i, int n)
{
    return (int)(((i + 0.5) * n) / 64);
}

/* Output oi of a box pass of length len averages the clipped window
 * [oi - full + half, oi + half - 1]; half = (full + 2) / 2 as in the reference. */
static int box_half(int full)
{
    return (full + 2) / 2;
}

static int box_count(int oi, int len, int full, int half)
{
    int hi = oi + half - 1, lo = oi - full + half;
    if (hi > len - 1) hi = len - 1;
    if (lo < 0) lo = 0;
    return hi - lo + 1;
}

/* ---- 64x64 to hash ---- */

/* The reference's quality metric: the sum of quantised vertical and horizontal gradients. */
static int quality_metric(const float a[64][64])
{
    int sum = 0;
    for (int i = 0; i < 63; i++)
        for (int j = 0; j < 64; j++) {
            int d = (int)(((a[i][j] - a[i + 1][j]) * 100.0f) / 255.0f);
            sum += abs(d);
        }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 63; j++) {
            int d = (int)(((a[i][j] - a[i][j + 1]) * 100.0f) / 255.0f);
            sum += abs(d);
        }
    int q = sum / 90;
    return q > 100 ? 100 : q;
}

/* B = D A D^t restricted to frequencies 1..16; each sum runs over k = 0..63 in order, in
 * float, as in the reference (vectorised across the independent outputs j). */
static void dct64to16(const float a[64][64], float b[16][16])
{
    float t[16][64];
    for (int i = 0; i < 16; i++) {
        float acc[64] = {0};
        for (int k = 0; k < 64; k++) {
            float d = dct_m[i][k];
            for (int j = 0; j < 64; j++)
                acc[j] += d * a[k][j];
        }
        memcpy(t[i], acc, sizeof(acc));
    }
    for (int i = 0; i < 16; i++) {
        float acc[16] = {0};
        for (int k = 0; k < 64; k++) {
            float v = t[i][k];
            for (int j = 0; j < 16; j++)
                acc[j] += v * dct_mt[k][j];
        }
        memcpy(b[i], acc, sizeof(acc));
    }
}

/*
 * The median the reference uses: Torben Mogensen's bisection, which never reorders its
 * input. For 256 values it returns the 128th smallest (the lower median); it is written out
 * here rather than replaced by a selection so that ties and signed zeros behave the same.
 */
static float torben_median(const float *m, int n)
{
    float lo = m[0], hi = m[0];
    for (int i = 1; i < n; i++) {
        if (m[i] < lo) lo = m[i];
        if (m[i] > hi) hi = m[i];
    }
    int half = (n + 1) / 2, less, greater, equal;
    float guess, below, above;
    for (;;) {
        guess = (lo + hi) / 2;
        less = greater = equal = 0;
        below = lo;
        above = hi;
        for (int i = 0; i < n; i++) {
            if (m[i] < guess) {
                less++;
                if (m[i] > below) below = m[i];
            } else if (m[i] > guess) {
                greater++;
                if (m[i] < above) above = m[i];
            } else {
                equal++;
            }
        }
        if (less <= half && greater <= half) break;
        if (less > greater)
            hi = below;
        else
            lo = above;
    }
    if (less >= half) return below;
    if (less + equal >= half) return guess;
    return above;
}

static void bits_from_dct(const float b[16][16], uint8_t hash[MEDIA_PDQ_LEN])
{
    float med = torben_median(&b[0][0], 256);
    memset(hash, 0, MEDIA_PDQ_LEN);
    for (int k = 0; k < 256; k++)
        if (b[k / 16][k % 16] > med) hash[31 - k / 8] |= (uint8_t)(1u << (k % 8));
}

/*
 * The dihedral variants from the DCT alone: a transpose for the four that swap axes, and a
 * sign flip of the odd rows, odd columns or odd (row + column) coefficients.
 */
static void dihedral_dct(const float a[16][16], float b[16][16], enum media_dihedral d)
{
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float v = a[i][j];
            int neg = 0, xpose = 0;
            switch (d) {
            case MEDIA_DIH_ORIGINAL:
                break;
            case MEDIA_DIH_ROTATE90:
                xpose = 1, neg = !(j & 1);
                break;
            case MEDIA_DIH_ROTATE180:
                neg = (i + j) & 1;
                break;
            case MEDIA_DIH_ROTATE270:
                xpose = 1, neg = !(i & 1);
                break;
            case MEDIA_DIH_FLIPX:
                neg = !(i & 1);
                break;
            case MEDIA_DIH_FLIPY:
                neg = !(j & 1);
                break;
            case MEDIA_DIH_FLIPPLUS1:
                xpose = 1;
                break;
            case MEDIA_DIH_FLIPMINUS1:
                xpose = 1, neg = (i + j) & 1;
                break;
            default:
                break;
            }
            if (xpose)
                b[j][i] = neg ? -v : v;
            else
                b[i][j] = neg ? -v : v;
        }
}

const char *media_dihedral_name(enum media_dihedral d)
{
    static const char *const names[MEDIA_DIH_COUNT] = {
        "original", "rotate90", "rotate180", "rotate270",
        "flipx",    "flipy",    "flipplus1", "flipminus1",
    };
    return (unsigned)d < MEDIA_DIH_COUNT ? names[d] : "unknown";
}

static void finish(const float a[64][64], struct media_pdq *out, struct media_pdq *dih)
{
    float b[16][16], v[16][16];
    int q = quality_metric(a);
    dct64to16(a, b);
    if (out) {
        bits_from_dct(b, out->hash);
        out->quality = q;
    }
    if (dih)
        for (int d = 0; d < MEDIA_DIH_COUNT; d++) {
            dihedral_dct(b, v, (enum media_dihedral)d);
            bits_from_dct(v, dih[d].hash);
            dih[d].quality = q;
        }
}

static void zero_result(struct media_pdq *out, struct media_pdq *dih)
{
    if (out) memset(out, 0, sizeof(*out));
    if (dih) memset(dih, 0, sizeof(*dih) * MEDIA_DIH_COUNT);
}

/* ---- luma ---- */

struct src {
    const uint8_t *px;
    size_t stride; /* bytes between rows */
    int step;      /* bytes between pixels: 3 for RGB24 */
    int grey;      /* 1: luma is the first byte of each pixel, as the reference does for
                    * one-channel images; 0: weighted R, G, B */
};

static void luma_row(const struct src *s, int y, int w, float *out)
{
    const uint8_t *p = s->px + (size_t)y * s->stride;
    if (s->grey) {
        for (int x = 0; x < w; x++)
            out[x] = (float)p[(size_t)x * s->step];
    } else if (s->step == 3) {
        for (int x = 0; x < w; x++, p += 3)
            out[x] = LUMA_R * (float)p[0] + LUMA_G * (float)p[1] + LUMA_B * (float)p[2];
    } else {
        for (int x = 0; x < w; x++, p += s->step)
            out[x] = LUMA_R * (float)p[0] + LUMA_G * (float)p[1] + LUMA_B * (float)p[2];
    }
}

/* ---- the streamed filter ---- */

/*
 * Running sums of ROWB rows at once along the row (length len, window full/half), for output
 * indices 0..nout-1: out[r][oi] is the reference's `sum` when it writes output oi, before the
 * division. The three loops are the reference's phases 2, 3 and 4 (phase 1 is the prefix).
 */
static void row_sums(const float *const in[ROWB], float *const out[ROWB], int len, int full,
                     int half, int nout)
{
    const float *i0 = in[0], *i1 = in[1], *i2 = in[2], *i3 = in[3];
    float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int k = 0; k < half - 1; k++) {
        s0 += i0[k];
        s1 += i1[k];
        s2 += i2[k];
        s3 += i3[k];
    }
    int p2_end = full - half + 1; /* outputs [0, p2_end) only add */
    int p3_end = len - half + 1;  /* outputs [p2_end, p3_end) add then subtract */
    if (p2_end > nout) p2_end = nout;
    if (p3_end > nout) p3_end = nout;
    int oi = 0;
    for (; oi < p2_end; oi++) {
        int a = oi + half - 1;
        s0 += i0[a];
        s1 += i1[a];
        s2 += i2[a];
        s3 += i3[a];
        o0[oi] = s0;
        o1[oi] = s1;
        o2[oi] = s2;
        o3[oi] = s3;
    }
    for (; oi < p3_end; oi++) {
        int a = oi + half - 1, b = oi - full + half - 1;
        s0 += i0[a];
        s0 -= i0[b];
        s1 += i1[a];
        s1 -= i1[b];
        s2 += i2[a];
        s2 -= i2[b];
        s3 += i3[a];
        s3 -= i3[b];
        o0[oi] = s0;
        o1[oi] = s1;
        o2[oi] = s2;
        o3[oi] = s3;
    }
    for (; oi < nout; oi++) {
        int b = oi - full + half - 1;
        s0 -= i0[b];
        s1 -= i1[b];
        s2 -= i2[b];
        s3 -= i3[b];
        o0[oi] = s0;
        o1[oi] = s1;
        o2[oi] = s2;
        o3[oi] = s3;
    }
}

/* dst = src / cnt, n a multiple of VLEN; all 32-byte aligned. */
static void div_row(float *dst, const float *src, const float *cnt, size_t n)
{
    for (size_t x = 0; x < n; x += VLEN)
        *(vf *)(dst + x) = *(const vf *)(src + x) / *(const vf *)(cnt + x);
}

/*
 * One column pass kept as a ring of its input rows and one running sum per column. Output oi
 * adds input row oi + half - 1 (when it exists), then subtracts row oi - full + half - 1
 * (when it exists), and divides by the window size: the reference's box along each column.
 */
struct colpass {
    int len, full, half;
    size_t width; /* floats per row (padded) */
    int nring;
    float *ring, *sum;
    int have; /* input rows [0, have) are in the ring */
    int next; /* next output index */
};

static float *ring_row(struct colpass *c, int r)
{
    return c->ring + (size_t)(r % c->nring) * c->width;
}

struct plan {
    int w, h;
    size_t wp;          /* w padded to VLEN */
    int fx, hx, fy, hy; /* box windows along x (rows) and y (columns) */
    int xs[64], ys[64]; /* sampled columns and rows */
    int nx;             /* row pass 2 outputs needed: xs[63] + 1 */
    struct src src;
    float *cnt_x;         /* wp: window size at each x, as float */
    float *lum[ROWB];     /* wp each */
    float *rsum[ROWB];    /* wp each: row sums */
    float *c1[ROWB];      /* wp each: column pass 1 output */
    float *scratch[ROWB]; /* wp each: sink for rows past the end */
    struct colpass p1;    /* column pass 1: all columns */
    struct colpass p2;    /* column pass 2: the 64 sampled columns */
    float *block;
};

/* Produces input rows [have, have + ROWB) of column pass 1: luma, then the first row pass. */
static void p1_produce(struct plan *pl)
{
    struct colpass *c = &pl->p1;
    int r0 = c->have, n = pl->h - r0 < ROWB ? pl->h - r0 : ROWB;
    for (int k = 0; k < n; k++)
        luma_row(&pl->src, r0 + k, pl->w, pl->lum[k]);
    float *out[ROWB];
    for (int k = 0; k < ROWB; k++)
        out[k] = k < n ? pl->rsum[k] : pl->scratch[k];
    row_sums((const float *const *)pl->lum, out, pl->w, pl->fx, pl->hx, pl->w);
    for (int k = 0; k < n; k++)
        div_row(ring_row(c, r0 + k), pl->rsum[k], pl->cnt_x, pl->wp);
    c->have += n;
}

static void colpass_add(struct colpass *c, const float *row)
{
    for (size_t x = 0; x < c->width; x += VLEN)
        *(vf *)(c->sum + x) += *(const vf *)(row + x);
}

static void colpass_sub(struct colpass *c, const float *row)
{
    for (size_t x = 0; x < c->width; x += VLEN)
        *(vf *)(c->sum + x) -= *(const vf *)(row + x);
}

/* Advances column pass 1 to its next output row, written to dst. */
static void p1_next(struct plan *pl, float *dst)
{
    struct colpass *c = &pl->p1;
    int oi = c->next++;
    int a = oi + c->half - 1, b = oi - c->full + c->half - 1;
    if (a < c->len) {
        while (c->have <= a)
            p1_produce(pl);
        colpass_add(c, ring_row(c, a));
    }
    if (b >= 0) colpass_sub(c, ring_row(c, b));
    vf cnt = {0};
    cnt += (float)box_count(oi, c->len, c->full, c->half);
    for (size_t x = 0; x < c->width; x += VLEN)
        *(vf *)(dst + x) = *(const vf *)(c->sum + x) / cnt;
}

/* Produces input rows [have, have + ROWB) of column pass 2: column pass 1 output rows, then
 * the second row pass, divided only at the 64 sampled columns. */
static void p2_produce(struct plan *pl)
{
    struct colpass *c = &pl->p2;
    int r0 = c->have, n = pl->h - r0 < ROWB ? pl->h - r0 : ROWB;
    for (int k = 0; k < n; k++)
        p1_next(pl, pl->c1[k]);
    float *out[ROWB];
    for (int k = 0; k < ROWB; k++)
        out[k] = k < n ? pl->rsum[k] : pl->scratch[k];
    row_sums((const float *const *)pl->c1, out, pl->w, pl->fx, pl->hx, pl->nx);
    for (int k = 0; k < n; k++) {
        float *dst = ring_row(c, r0 + k);
        for (int t = 0; t < 64; t++)
            dst[t] = pl->rsum[k][pl->xs[t]] / pl->cnt_x[pl->xs[t]];
    }
    c->have += n;
}

static void plan_free(struct plan *pl)
{
    free(pl->block);
}

static int plan_init(struct plan *pl, const struct src *s, int w, int h)
{
    memset(pl, 0, sizeof(*pl));
    pl->w = w;
    pl->h = h;
    pl->src = *s;
    pl->wp = ((size_t)w + VLEN - 1) / VLEN * VLEN;
    pl->fx = jarosz_window(w, 64);
    pl->hx = box_half(pl->fx);
    pl->fy = jarosz_window(h, 64);
    pl->hy = box_half(pl->fy);
    for (int i = 0; i < 64; i++) {
        pl->xs[i] = decimate_index(i, w);
        pl->ys[i] = decimate_index(i, h);
    }
    pl->nx = pl->xs[63] + 1;

    int nring = pl->fy + ROWB;
    /* cnt_x, lum, rsum, c1, scratch, ring 1 and its sum; ring 2 and its sum (64 wide). */
    size_t rows1 = 1 + 4 * ROWB + (size_t)nring + 1;
    size_t floats = rows1 * pl->wp + ((size_t)nring + 1) * 64;
    if (pl->wp > SIZE_MAX / sizeof(float) / rows1 / 2) return -ENOMEM;
    float *b = aligned_alloc(32, floats * sizeof(float));
    if (!b) return -ENOMEM;
    memset(b, 0, floats * sizeof(float));
    pl->block = b;
    pl->cnt_x = b;
    b += pl->wp;
    for (int k = 0; k < ROWB; k++) {
        pl->lum[k] = b;
        pl->rsum[k] = b + pl->wp;
        pl->c1[k] = b + 2 * pl->wp;
        pl->scratch[k] = b + 3 * pl->wp;
        b += 4 * pl->wp;
    }
    for (int x = 0; x < w; x++)
        pl->cnt_x[x] = (float)box_count(x, w, pl->fx, pl->hx);
    for (size_t x = (size_t)w; x < pl->wp; x++)
        pl->cnt_x[x] = 1.0f; /* padding columns: keep them finite */

    struct colpass *c = &pl->p1;
    c->len = h;
    c->full = pl->fy;
    c->half = pl->hy;
    c->width = pl->wp;
    c->nring = nring;
    c->ring = b;
    b += (size_t)nring * pl->wp;
    c->sum = b;
    b += pl->wp;

    c = &pl->p2;
    *c = pl->p1;
    c->width = 64;
    c->ring = b;
    b += (size_t)nring * 64;
    c->sum = b;
    return 0;
}

/* The reference's phase 1 of a column pass: add the first half - 1 rows before any output. */
static void colpass_prefix(struct plan *pl, struct colpass *c, void (*produce)(struct plan *))
{
    for (int r = 0; r < c->half - 1; r++) {
        while (c->have <= r)
            produce(pl);
        colpass_add(c, ring_row(c, r));
    }
}

/* Blur and decimate to the reference's 64x64 buffer. */
static void downsample(struct plan *pl, float a[64][64])
{
    colpass_prefix(pl, &pl->p1, p1_produce);
    struct colpass *c = &pl->p2;
    colpass_prefix(pl, c, p2_produce);
    int t = 0;
    for (int oi = 0; t < 64; oi++) {
        int ia = oi + c->half - 1, ib = oi - c->full + c->half - 1;
        if (ia < c->len) {
            while (c->have <= ia)
                p2_produce(pl);
            colpass_add(c, ring_row(c, ia));
        }
        if (ib >= 0) colpass_sub(c, ring_row(c, ib));
        if (pl->ys[t] != oi) continue;
        float cnt = (float)box_count(oi, c->len, c->full, c->half);
        for (; t < 64 && pl->ys[t] == oi; t++)
            for (int j = 0; j < 64; j++)
                a[t][j] = c->sum[j] / cnt;
    }
}

static int hash_src(const struct src *s, int w, int h, struct media_pdq *out,
                    struct media_pdq dih[MEDIA_DIH_COUNT])
{
    zero_result(out, dih);
    if (w < 1 || h < 1 || !s->px) return GIF_E_INVALID;
    if (w < MEDIA_PDQ_MIN_SIDE || h < MEDIA_PDQ_MIN_SIDE) return 0; /* zero hash, quality 0 */
    call_once(&dct_once, dct_init);

    float a[64][64];
    if (w == 64 && h == 64) {
        /* The reference's single-hash entry point takes a 64x64 luma as already downsampled
         * (its video path); its dihedral entry point filters it like any other size. */
        for (int y = 0; y < 64; y++)
            luma_row(s, y, 64, a[y]);
        finish(a, out, NULL);
        if (!dih) return 0;
        out = NULL;
    }
    struct plan pl;
    int rc = plan_init(&pl, s, w, h);
    if (rc != 0) return rc;
    downsample(&pl, a);
    plan_free(&pl);
    finish(a, out, dih);
    return 0;
}

int media_pdq_rgb(const uint8_t *rgb, int w, int h, size_t stride, struct media_pdq *out,
                  struct media_pdq dih[MEDIA_DIH_COUNT])
{
    if (w > 0 && stride < (size_t)w * 3) {
        zero_result(out, dih);
        return GIF_E_INVALID;
    }
    struct src s = {.px = rgb, .stride = stride, .step = 3, .grey = 0};
    return hash_src(&s, w, h, out, dih);
}

int media_pdq_grey(const uint8_t *px, int w, int h, size_t stride, size_t step,
                   struct media_pdq *out, struct media_pdq dih[MEDIA_DIH_COUNT])
{
    if (step < 1 || step > 16 || (w > 0 && stride < ((size_t)w - 1) * step + 1)) {
        zero_result(out, dih);
        return GIF_E_INVALID;
    }
    struct src s = {.px = px, .stride = stride, .step = (int)step, .grey = 1};
    return hash_src(&s, w, h, out, dih);
}

/* ---- the reference's own structure, kept as the baseline ---- */

/* box1DFloat: one vector of len values, stride apart, in the reference's four phases. */
static void ref_box1d(const float *in, float *out, int len, size_t stride, int full)
{
    int half = box_half(full);
    size_t li = 0, ri = 0, oi = 0;
    float sum = 0.0f;
    int cur = 0;
    for (int i = 0; i < half - 1; i++, ri += stride) {
        sum += in[ri];
        cur++;
    }
    for (int i = 0; i < full - half + 1; i++, ri += stride, oi += stride) {
        sum += in[ri];
        cur++;
        out[oi] = sum / (float)cur;
    }
    for (int i = 0; i < len - full; i++, li += stride, ri += stride, oi += stride) {
        sum += in[ri];
        sum -= in[li];
        out[oi] = sum / (float)cur;
    }
    for (int i = 0; i < half - 1; i++, li += stride, oi += stride) {
        sum -= in[li];
        cur--;
        out[oi] = sum / (float)cur;
    }
}

int media_pdq_rgb_ref(const uint8_t *rgb, int w, int h, size_t stride, struct media_pdq *out,
                      struct media_pdq dih[MEDIA_DIH_COUNT])
{
    zero_result(out, dih);
    if (w < 1 || h < 1 || !rgb || stride < (size_t)w * 3) return GIF_E_INVALID;
    if (w < MEDIA_PDQ_MIN_SIDE || h < MEDIA_PDQ_MIN_SIDE) return 0;
    call_once(&dct_once, dct_init);
    size_t n = (size_t)w * (size_t)h;
    float *b1 = malloc(n * sizeof(float)), *b2 = malloc(n * sizeof(float));
    if (!b1 || !b2) {
        free(b1);
        free(b2);
        return -ENOMEM;
    }
    struct src s = {.px = rgb, .stride = stride, .step = 3, .grey = 0};
    for (int y = 0; y < h; y++)
        luma_row(&s, y, w, b1 + (size_t)y * w);
    float a[64][64];
    if (w == 64 && h == 64) {
        memcpy(a, b1, sizeof(a));
        finish(a, out, NULL);
        out = NULL;
    }
    if (out || dih) {
        int fx = jarosz_window(w, 64), fy = jarosz_window(h, 64);
        for (int pass = 0; pass < 2; pass++) {
            for (int y = 0; y < h; y++)
                ref_box1d(b1 + (size_t)y * w, b2 + (size_t)y * w, w, 1, fx);
            for (int x = 0; x < w; x++)
                ref_box1d(b2 + x, b1 + x, h, (size_t)w, fy);
        }
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 64; j++)
                a[i][j] = b1[(size_t)decimate_index(i, h) * w + decimate_index(j, w)];
        finish(a, out, dih);
    }
    free(b1);
    free(b2);
    return 0;
}

int media_pdq_distance(const uint8_t a[static MEDIA_PDQ_LEN], const uint8_t b[static MEDIA_PDQ_LEN])
{
    int d = 0;
    for (int i = 0; i < MEDIA_PDQ_LEN; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d += __builtin_popcountll(x ^ y);
    }
    return d;
}
