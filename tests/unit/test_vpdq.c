/*
 * vPDQ: conformance with Meta's sample hashes (judged as the reference's regression test
 * judges it), frame selection, matching rules, truncated and hostile input, caps, and the
 * beyond-the-reference cases (letterbox/pillarbox bars, short cuts) on videos generated here
 * with the ffmpeg command-line tool from lavfi sources.
 */
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/vpdq.h"
#include "util/gif.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---- helpers ---- */

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        assert_non_null(b);
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *buf = b;
    *len = n;
    return 0;
}

static const char *testdata_dir(void)
{
    static char dir[1024];
    const char *src = getenv("GIF_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/../shared/testdata/vpdq", src ? src : ".");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/sample-videos", dir);
    return access(probe, R_OK) == 0 ? dir : NULL;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct media_vpdq_opts opts_fps(double fps)
{
    struct media_vpdq_opts o;
    media_vpdq_opts_default(&o);
    o.fps = fps;
    return o;
}

static int hash_buf(const uint8_t *b, size_t n, const struct media_vpdq_opts *o,
                    struct media_vpdq_frame **f, size_t *nf, int *tr, char *err)
{
    return media_vpdq_hash(b, n, o, f, nf, tr, err, 256);
}

/* ---- conformance ---- */

struct expected {
    uint32_t frame;
    int quality;
    uint8_t hash[32];
    double ts;
};

static size_t read_expected(const char *path, struct expected **out)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    size_t n = 0, cap = 1024;
    struct expected *e = malloc(cap * sizeof(*e));
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned fn, q;
        char hex[65];
        double ts;
        if (sscanf(line, "%u,%u,%64[0-9a-f],%lf", &fn, &q, hex, &ts) != 4) continue;
        if (n == cap) e = realloc(e, (cap *= 2) * sizeof(*e));
        assert_non_null(e);
        e[n].frame = fn;
        e[n].quality = (int)q;
        e[n].ts = ts;
        assert_int_equal(gif_unhex(e[n].hash, 32, hex, 64), 0);
        n++;
    }
    fclose(f);
    *out = e;
    return n;
}

static const char *const SAMPLES[] = {
    "chair-19-sd-bar",
    "chair-20-sd-bar",
    "chair-22-sd-grey-bar",
    "chair-22-sd-sepia-bar",
    "chair-22-with-large-logo-bar",
    "chair-22-with-small-logo-bar",
    "chair-orig-22-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-hd-no-bar",
    "pattern-longer-no-bar",
    "pattern-sd-grey-bar",
    "pattern-sd-with-large-logo-bar",
    "pattern-sd-with-small-logo-bar",
    "test-padded-dimensions",
};
/* Under ASan (about 5x slower) a subset: the padded-linesize video, the HD one with its low
 * quality frames, and an SD one with bars. */
static const char *const SAMPLES_ASAN[] = {"test-padded-dimensions", "doorknob-hd-no-bar",
                                           "pattern-sd-grey-bar"};

/* One sample hashed at every frame, by a worker thread (no cmocka calls there). */
struct conf_job {
    const char *dir, *name;
    int scale;
    int rc, truncated;
    char err[256];
    struct media_vpdq_frame *f;
    size_t n;
    double ms;
};

static struct {
    struct conf_job *jobs;
    size_t count;
    size_t next; /* taken with __atomic_fetch_add */
} conf_queue;

static void *conf_worker(void *arg)
{
    (void)arg;
    for (;;) {
        size_t i = __atomic_fetch_add(&conf_queue.next, 1, __ATOMIC_RELAXED);
        if (i >= conf_queue.count) return NULL;
        struct conf_job *j = &conf_queue.jobs[i];
        char path[1400];
        uint8_t *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/sample-videos/%s.mp4", j->dir, j->name);
        if (read_all(path, &buf, &len) != 0) {
            j->rc = -ENOENT;
            snprintf(j->err, sizeof j->err, "cannot read %s", path);
            continue;
        }
        struct media_vpdq_opts o = opts_fps(0);
        o.scale = j->scale;
        uint64_t t0 = gif_mono_ns();
        j->rc = media_vpdq_hash(buf, len, &o, &j->f, &j->n, &j->truncated, j->err, sizeof j->err);
        j->ms = (double)(gif_mono_ns() - t0) / 1e6;
        free(buf);
    }
}

/* Hashes the jobs on two threads (the machine's cores; each decode is single-threaded). */
static void conf_run(struct conf_job *jobs, size_t count)
{
    conf_queue.jobs = jobs;
    conf_queue.count = count;
    conf_queue.next = 0;
    pthread_t t;
    int spawned = pthread_create(&t, NULL, conf_worker, NULL) == 0;
    conf_worker(NULL);
    if (spawned) pthread_join(t, NULL);
}

/* Compares a job's frames line by line with the expected file as upstream's regtest does:
 * same frame numbers, and where both qualities are >= 50, distance < 31. Adds the distances to
 * hist; returns frames compared. */
static int conf_check(struct conf_job *j, int hist[257])
{
    char path[1400];
    const char *name = j->name;
    if (j->rc != 0) fail_msg("%s: %s (%s)", name, gif_strerror(j->rc), j->err);
    assert_int_equal(j->truncated, 0);
    struct media_vpdq_frame *f = j->f;
    size_t n = j->n;
    struct expected *e;
    snprintf(path, sizeof path, "%s/sample-hashes/%s%s.txt", j->dir, name,
             j->scale ? "-128x128" : "");
    size_t ne = read_expected(path, &e);
    if (ne != n) fail_msg("%s: %zu frames, expected %zu", name, n, ne);
    int compared = 0, maxd = 0, local[257] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f[i].frame, e[i].frame);
        /* frame / 30 fps in milliseconds against the file's seconds with 3 decimals */
        double want = e[i].ts * 1000.0;
        if (f[i].time_ms + 1.0 < want || f[i].time_ms > want + 1.0)
            fail_msg("%s frame %u: time %u ms, expected %.3f s", name, f[i].frame, f[i].time_ms,
                     e[i].ts);
        if (f[i].quality < 50 || e[i].quality < 50) continue;
        int d = media_pdq_distance(f[i].hash, e[i].hash);
        if (d >= 31)
            fail_msg("%s frame %u: distance %d (quality %d vs %d)", name, f[i].frame, d,
                     f[i].quality, e[i].quality);
        compared++;
        local[d]++;
        hist[d]++;
        if (d > maxd) maxd = d;
    }
    char dist[512] = "";
    size_t off = 0;
    for (int d = 0; d <= maxd; d++)
        if (local[d] && off < sizeof dist)
            off += (size_t)snprintf(dist + off, sizeof dist - off, " %d:%d", d, local[d]);
    print_message("vpdq conformance %s%s: %zu frames, %d compared, max distance %d, "
                  "distance:count%s (%.0f ms)\n",
                  name, j->scale ? " -s 128" : "", n, compared, maxd, dist, j->ms);
    free(e);
    free(f);
    j->f = NULL;
    return compared;
}

static void test_conformance(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found (GIF_SOURCE_DIR/../shared/"
                      "testdata/vpdq); set GIF_SOURCE_DIR to the source tree\n");
        skip();
    }
    const char *const *names = UNDER_ASAN ? SAMPLES_ASAN : SAMPLES;
    size_t count = UNDER_ASAN ? GIF_ARRAY_LEN(SAMPLES_ASAN) : GIF_ARRAY_LEN(SAMPLES);
    if (UNDER_ASAN)
        print_message("ASan build: conformance over %zu of the %zu sample videos\n", count,
                      GIF_ARRAY_LEN(SAMPLES));
    struct conf_job jobs[GIF_ARRAY_LEN(SAMPLES)];
    memset(jobs, 0, sizeof jobs);
    for (size_t i = 0; i < count; i++) {
        jobs[i].dir = dir;
        jobs[i].name = names[i];
    }
    uint64_t t0 = gif_mono_ns();
    conf_run(jobs, count);
    double wall = (double)(gif_mono_ns() - t0) / 1e9;
    int hist[257] = {0}, total = 0;
    for (size_t i = 0; i < count; i++)
        total += conf_check(&jobs[i], hist);
    int zero = hist[0], le4 = 0, maxd = 0;
    for (int d = 0; d <= 256; d++) {
        if (d <= 4) le4 += hist[d];
        if (hist[d]) maxd = d;
    }
    print_message("vpdq conformance total: %d frames compared, %d at distance 0 (%.1f%%), "
                  "%d at <= 4 (%.1f%%), max %d (hashed on 2 threads in %.1f s)\n",
                  total, zero, 100.0 * zero / total, le4, 100.0 * le4 / total, maxd, wall);
}

/* The -s 128 variant (each frame scaled to 128x128 with SWS_AREA first) on two videos. */
static void test_conformance_128(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    struct conf_job jobs[2] = {{.dir = dir, .name = "pattern-sd-grey-bar", .scale = 128},
                               {.dir = dir, .name = "chair-22-sd-sepia-bar", .scale = 128}};
    size_t count = UNDER_ASAN ? 1 : 2;
    conf_run(jobs, count);
    int hist[257] = {0};
    for (size_t i = 0; i < count; i++)
        conf_check(&jobs[i], hist);
}

/* At 1 and 2 frames per second the reference keeps frames 0, 30, 60, ... and 0, 15, 30, ...
 * of a 30 fps video, with the same hashes as when every frame is hashed. */
static void test_sample_rate(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    char path[1400];
    uint8_t *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/sample-videos/test-padded-dimensions.mp4", dir);
    assert_int_equal(read_all(path, &buf, &len), 0);
    struct media_vpdq_frame *all, *f;
    size_t nall, n;
    int tr;
    char err[256];
    struct media_vpdq_opts o = opts_fps(0);
    assert_int_equal(hash_buf(buf, len, &o, &all, &nall, &tr, err), 0);
    assert_int_equal(nall, 150);
    const double rates[] = {1.0, 2.0, 0.5};
    const uint32_t steps[] = {30, 15, 60};
    for (size_t r = 0; r < GIF_ARRAY_LEN(rates); r++) {
        o = opts_fps(rates[r]);
        struct media_vpdq_info info;
        assert_int_equal(media_vpdq_hash_info(buf, len, &o, &f, &n, &tr, &info, err, 256), 0);
        assert_int_equal(info.frame_step, steps[r]);
        assert_int_equal(info.decoded, 150);
        assert_int_equal(n, (150 + steps[r] - 1) / steps[r]);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(f[i].frame, i * steps[r]);
            assert_int_equal(f[i].time_ms, i * steps[r] * 1000 / 30);
            assert_memory_equal(f[i].hash, all[i * steps[r]].hash, 32);
            assert_int_equal(f[i].quality, all[i * steps[r]].quality);
        }
        free(f);
    }
    /* The default options hash one frame a second. */
    assert_int_equal(media_vpdq_hash(buf, len, NULL, &f, &n, &tr, err, sizeof err), 0);
    assert_int_equal(n, 5);
    free(f);
    free(all);
    free(buf);
}

/* ---- truncated, corrupt and hostile input ---- */

static void expect_prefix(const struct media_vpdq_frame *full, size_t nfull,
                          const struct media_vpdq_frame *f, size_t n)
{
    assert_true(n <= nfull);
    /* A frame decoded from a damaged last packet may differ; every earlier one is intact. */
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(f[i].frame, full[i].frame);
        assert_memory_equal(f[i].hash, full[i].hash, 32);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    const char *names[] = {"pattern-sd-grey-bar", "test-padded-dimensions"};
    for (size_t v = 0; v < GIF_ARRAY_LEN(names); v++) {
        char path[1400];
        uint8_t *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/sample-videos/%s.mp4", dir, names[v]);
        assert_int_equal(read_all(path, &buf, &len), 0);
        struct media_vpdq_opts o = opts_fps(5);
        struct media_vpdq_frame *full, *f;
        size_t nfull, n;
        int tr;
        char err[256];
        assert_int_equal(hash_buf(buf, len, &o, &full, &nfull, &tr, err), 0);
        const double cuts[] = {0.0005, 0.01, 0.3, 0.999};
        for (size_t c = 0; c < GIF_ARRAY_LEN(cuts); c++) {
            size_t cl = (size_t)((double)len * cuts[c]);
            int rc = hash_buf(buf, cl, &o, &f, &n, &tr, err);
            print_message("truncated %s at %zu of %zu bytes: %s, %zu frames, truncated %d: %s\n",
                          names[v], cl, len, rc ? gif_strerror(rc) : "ok", n, tr, err);
            if (rc != 0) {
                assert_int_equal(rc, GIF_E_INVALID);
                assert_true(err[0] != '\0');
                assert_null(f);
                assert_int_equal(n, 0);
                continue;
            }
            /* The last bytes of a file with its index at the end may be metadata only. */
            if (n < nfull) {
                assert_int_equal(tr, 1);
                assert_true(err[0] != '\0');
            }
            expect_prefix(full, nfull, f, n);
            free(f);
        }
        /* Garbage over a stretch in the middle: frames or a clean error, never a crash. */
        uint8_t *bad = malloc(len);
        assert_non_null(bad);
        const double at[] = {0.02, 0.5};
        for (size_t c = 0; c < GIF_ARRAY_LEN(at); c++) {
            memcpy(bad, buf, len);
            size_t off = (size_t)((double)len * at[c]), span = 8192;
            for (size_t i = off; i < off + span && i < len; i++)
                bad[i] = (uint8_t)rnd();
            int rc = hash_buf(bad, len, &o, &f, &n, &tr, err);
            print_message("garbage at %zu in %s: %s, %zu frames, truncated %d %s\n", off, names[v],
                          rc ? gif_strerror(rc) : "ok", n, tr, err);
            if (rc == 0) {
                assert_true(n > 0);
                free(f);
            } else {
                assert_true(err[0] != '\0');
            }
        }
        free(bad);
        free(full);
        free(buf);
    }
}

static void test_garbage(void **state)
{
    (void)state;
    struct media_vpdq_opts o = opts_fps(0);
    struct media_vpdq_frame *f = (void *)1;
    size_t n = 7;
    int tr = 7;
    char err[256];
    assert_int_equal(hash_buf(NULL, 0, &o, &f, &n, &tr, err), GIF_E_INVALID);
    assert_null(f);
    assert_int_equal(n, 0);
    assert_int_equal(tr, 0);
    assert_string_equal(err, "empty input");
    /* Random bytes, and random bytes behind the magic of common containers. */
    static const struct {
        const char *magic;
        size_t mlen;
    } heads[] = {
        {"", 0},
        {"\x00\x00\x00\x18"
         "ftypmp42\x00\x00\x00\x00mp42isom",
         24},
        {"\x1a\x45\xdf\xa3", 4},
        {"RIFF\x10\x00\x00\x00"
         "AVI LIST",
         16},
        {"GIF89a\x10\x00\x10\x00", 10},
        {"FLV\x01\x05\x00\x00\x00\x09", 9},
        {"OggS\x00\x02", 6},
        {"\x00\x00\x01\xba", 4},
        {"\x47\x40\x00\x10", 4},
        {"\x00\x00\x00\x01\x67\x42\x00\x1e", 8},
    };
    const size_t sizes[] = {1, 16, 200, 5000, 70000};
    for (size_t h = 0; h < GIF_ARRAY_LEN(heads); h++) {
        for (size_t s = 0; s < GIF_ARRAY_LEN(sizes); s++) {
            size_t len = sizes[s] + heads[h].mlen;
            uint8_t *b = malloc(len);
            assert_non_null(b);
            memcpy(b, heads[h].magic, heads[h].mlen);
            for (size_t i = heads[h].mlen; i < len; i++)
                b[i] = (uint8_t)rnd();
            /* MPEG-TS: a sync byte every 188 bytes. */
            if (heads[h].mlen && heads[h].magic[0] == 0x47)
                for (size_t i = 0; i < len; i += 188)
                    b[i] = 0x47;
            int rc = hash_buf(b, len, &o, &f, &n, &tr, err);
            if (rc == 0) {
                free(f);
            } else {
                assert_true(rc == GIF_E_INVALID || rc == GIF_E_TOOBIG);
                assert_true(err[0] != '\0');
            }
            free(b);
        }
    }
    /* Bad options. */
    uint8_t one = 0;
    o.fps = -1;
    assert_int_equal(hash_buf(&one, 1, &o, &f, &n, &tr, err), GIF_E_INVALID);
    o.fps = 1;
    o.scale = -3;
    assert_int_equal(hash_buf(&one, 1, &o, &f, &n, &tr, err), GIF_E_INVALID);
}

/* A playlist or concat list names other resources; the demuxer must not open them. */
static void test_no_nested_open(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    char text[2048];
    const char *video = "/dev/null";
    char path[1400];
    if (dir) {
        snprintf(path, sizeof path, "%s/sample-videos/test-padded-dimensions.mp4", dir);
        video = path;
    }
    const char *fmts[] = {
        "ffconcat version 1.0\nfile '%s'\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://%s\n#EXT-X-ENDLIST\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n%s\n#EXT-X-ENDLIST\n",
    };
    struct media_vpdq_opts o = opts_fps(1);
    for (size_t i = 0; i < GIF_ARRAY_LEN(fmts); i++) {
        snprintf(text, sizeof text, fmts[i], video);
        struct media_vpdq_frame *f;
        size_t n;
        int tr;
        char err[256];
        int rc = hash_buf((const uint8_t *)text, strlen(text), &o, &f, &n, &tr, err);
        print_message("list %zu refused: %s\n", i, err);
        assert_int_equal(rc, GIF_E_INVALID);
    }
}

static void test_caps(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    char path[1400];
    uint8_t *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/sample-videos/pattern-sd-grey-bar.mp4", dir);
    assert_int_equal(read_all(path, &buf, &len), 0);
    struct media_vpdq_frame *f;
    size_t n;
    int tr;
    char err[256];
    struct media_vpdq_opts o = opts_fps(0);
    o.max_frames = 3;
    assert_int_equal(hash_buf(buf, len, &o, &f, &n, &tr, err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(tr, 1);
    assert_non_null(strstr(err, "frame cap"));
    free(f);
    /* Exactly as many selected frames as the cap is not a truncation. */
    o = opts_fps(1);
    o.max_frames = 7;
    assert_int_equal(hash_buf(buf, len, &o, &f, &n, &tr, err), 0);
    assert_int_equal(n, 7);
    assert_int_equal(tr, 0);
    free(f);
    /* A time cap of 1 ms: a clean time-out, or the few frames that made it. */
    o = opts_fps(0);
    o.max_ms = 1;
    int rc = hash_buf(buf, len, &o, &f, &n, &tr, err);
    print_message("1 ms cap: %s, %zu frames: %s\n", rc ? gif_strerror(rc) : "ok", n, err);
    if (rc == 0) {
        assert_int_equal(tr, 1);
        assert_true(n < 206);
        free(f);
    } else {
        assert_int_equal(rc, -ETIMEDOUT);
    }
    /* Pixel cap. */
    o = opts_fps(1);
    o.max_pixels = 100000;
    assert_int_equal(hash_buf(buf, len, &o, &f, &n, &tr, err), GIF_E_TOOBIG);
    assert_non_null(strstr(err, "480x720"));
    free(buf);
}

/* ---- matching ---- */

static void set_frame(struct media_vpdq_frame *f, const uint8_t h[32], int q, uint32_t i)
{
    memcpy(f->hash, h, 32);
    f->quality = (uint8_t)q;
    f->frame = i;
    f->time_ms = i * 1000;
}

static void flip_bits(uint8_t h[32], int k, int from)
{
    for (int i = 0; i < k; i++)
        h[(from + i) / 8 % 32] ^= (uint8_t)(1u << ((from + i) % 8));
}

static void test_match_rules(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++)
        a[i] = (uint8_t)rnd();
    struct media_vpdq_frame q[4], c[4];
    struct media_vpdq_match m;
    /* distance 31 matches, 32 does not (<=, docs/video.md) */
    memcpy(b, a, 32);
    flip_bits(b, 31, 0);
    set_frame(&q[0], a, 100, 0);
    set_frame(&c[0], b, 100, 0);
    media_vpdq_match(q, 1, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_true(m.query_pct == 100.0 && m.compared_pct == 100.0);
    flip_bits(b, 1, 100);
    set_frame(&c[0], b, 100, 0);
    media_vpdq_match(q, 1, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_true(m.query_pct == 0.0 && m.compared_pct == 0.0);
    /* quality 49 is not usable, 50 is */
    set_frame(&c[0], a, 49, 0);
    media_vpdq_match(q, 1, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_int_equal(m.compared_usable, 0);
    assert_true(m.query_pct == 0.0 && m.compared_pct == 0.0);
    set_frame(&c[0], a, 50, 0);
    media_vpdq_match(q, 1, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_true(m.query_pct == 100.0);
    /* identical hashes count once: query a,a,a,x against a gives 1 of 2 */
    uint8_t x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (uint8_t)~a[i];
    set_frame(&q[0], a, 100, 0);
    set_frame(&q[1], a, 100, 1);
    set_frame(&q[2], a, 90, 2);
    set_frame(&q[3], x, 100, 3);
    set_frame(&c[0], a, 100, 0);
    media_vpdq_match(q, 4, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_int_equal(m.query_usable, 2);
    assert_int_equal(m.query_matched, 1);
    assert_true(m.query_pct == 50.0 && m.compared_pct == 100.0);
    assert_true(media_vpdq_is_match(&m, MEDIA_VPDQ_MATCH_PCT));
    media_vpdq_match(c, 1, q, 4, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_true(m.query_pct == 100.0 && m.compared_pct == 50.0);
    /* empty sides */
    media_vpdq_match(q, 0, c, 1, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    assert_true(m.query_pct == 0.0 && m.compared_pct == 0.0);
    assert_false(media_vpdq_is_match(&m, MEDIA_VPDQ_MATCH_PCT));
    struct media_vpdq_match mm = {.query_pct = 79.9, .compared_pct = 79.9};
    assert_false(media_vpdq_is_match(&mm, MEDIA_VPDQ_MATCH_PCT));
    mm.compared_pct = 80.0;
    assert_true(media_vpdq_is_match(&mm, MEDIA_VPDQ_MATCH_PCT));
}

/* 4096 distinct frames on each side (the record cap), nothing matching: the worst case. */
static void test_match_speed(void **state)
{
    (void)state;
    size_t n = 4096;
    struct media_vpdq_frame *q = malloc(n * sizeof(*q)), *c = malloc(n * sizeof(*c));
    assert_true(q && c);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        for (int k = 0; k < 32; k++)
            h[k] = (uint8_t)rnd();
        set_frame(&q[i], h, 100, (uint32_t)i);
        for (int k = 0; k < 32; k++)
            h[k] = (uint8_t)rnd();
        set_frame(&c[i], h, 100, (uint32_t)i);
    }
    c[n / 2] = q[n / 3];
    struct media_vpdq_match m;
    uint64_t t0 = gif_mono_ns();
    media_vpdq_match(q, n, c, n, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    double ms = (double)(gif_mono_ns() - t0) / 1e6;
    print_message("match 4096 x 4096 frames: %.1f ms\n", ms);
    assert_int_equal(m.query_matched, 1);
    assert_int_equal(m.compared_matched, 1);
    assert_true(ms < (UNDER_ASAN ? 20000 : 2000));
    free(q);
    free(c);
}

/* ---- border detection on still images ---- */

static uint8_t *make_image(int w, int h, size_t stride)
{
    uint8_t *p = malloc(stride * (size_t)h);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            p[(size_t)y * stride + (size_t)x] = (uint8_t)rnd();
    return p;
}

static void paint(uint8_t *p, size_t stride, int x0, int y0, int x1, int y1, const int rgb[3],
                  int noise)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int c = 0; c < 3; c++) {
                int v = rgb[c] + (noise ? (int)(rnd() % (uint64_t)(2 * noise + 1)) - noise : 0);
                p[(size_t)y * stride + (size_t)x * 3 + (size_t)c] = (uint8_t)(v < 0     ? 0
                                                                              : v > 255 ? 255
                                                                                        : v);
            }
}

static void test_image_borders(void **state)
{
    (void)state;
    const int black[3] = {0, 0, 0}, blue[3] = {40, 90, 200};
    int w = 200, h = 120;
    size_t stride = 640;
    struct media_video_crop c;
    uint8_t *p = make_image(w, h, stride);
    assert_int_equal(media_vpdq_image_borders(p, w, h, stride, &c), 0);
    assert_true(c.top == 0 && c.bottom == 0 && c.left == 0 && c.right == 0);
    /* letterbox, black, with compression-like noise */
    paint(p, stride, 0, 0, w, 10, black, 2);
    paint(p, stride, 0, h - 12, w, h, black, 2);
    assert_int_equal(media_vpdq_image_borders(p, w, h, stride, &c), 0);
    assert_int_equal(c.top, 10);
    assert_int_equal(c.bottom, 12);
    assert_true(c.left == 0 && c.right == 0);
    /* and a coloured pillarbox inside it */
    paint(p, stride, 0, 10, 20, h - 12, blue, 3);
    paint(p, stride, w - 25, 10, w, h - 12, blue, 3);
    assert_int_equal(media_vpdq_image_borders(p, w, h, stride, &c), 0);
    assert_int_equal(c.left, 20);
    assert_int_equal(c.right, 25);
    /* one colour throughout */
    paint(p, stride, 0, 0, w, h, blue, 1);
    assert_int_equal(media_vpdq_image_borders(p, w, h, stride, &c), 1);
    free(p);
}

/* On the sample videos: the SD copies of "pattern" carry 32-pixel pillarbox bars the HD
 * original does not have; cropping finds them. A query that is the same barred copy as the
 * stored one still matches, through the plain list. */
static struct media_vpdq_frame *hash_sample(const char *dir, const char *name, double fps, int crop,
                                            size_t *n, struct media_vpdq_info *info)
{
    char path[1400];
    uint8_t *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/sample-videos/%s.mp4", dir, name);
    if (read_all(path, &buf, &len) != 0) fail_msg("cannot read %s", path);
    struct media_vpdq_opts o = opts_fps(fps);
    o.crop_borders = crop;
    o.keep_plain = crop;
    struct media_vpdq_frame *f;
    int tr;
    char err[256];
    int rc = media_vpdq_hash_info(buf, len, &o, &f, n, &tr, info, err, sizeof err);
    free(buf);
    if (rc != 0) fail_msg("%s: %s", name, err);
    return f;
}

static void test_bars_samples(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    static const struct {
        const char *query, *stored;
        int via_crop;
    } cases[] = {
        {"pattern-sd-grey-bar", "pattern-hd-no-bar", 1},
        {"pattern-sd-with-small-logo-bar", "pattern-hd-no-bar", 1},
        {"chair-19-sd-bar", "chair-19-sd-bar", 0},
    };
    size_t ncases = UNDER_ASAN ? 1 : GIF_ARRAY_LEN(cases);
    for (size_t i = 0; i < ncases; i++) {
        size_t nq, nc;
        struct media_vpdq_info info, dummy;
        struct media_vpdq_frame *c = hash_sample(dir, cases[i].stored, 1, 0, &nc, &dummy);
        struct media_vpdq_frame *q = hash_sample(dir, cases[i].query, 1, 1, &nq, &info);
        struct media_vpdq_match mc, mp, m;
        media_vpdq_match(q, nq, c, nc, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &mc);
        media_vpdq_match(info.plain, info.nplain, c, nc, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY,
                         &mp);
        media_vpdq_match_cropped(q, nq, info.plain, info.nplain, c, nc, MEDIA_VPDQ_DISTANCE,
                                 MEDIA_VPDQ_QUALITY, 0, &m);
        print_message("bars (samples): %s vs stored %s: crop %d %d %d %d; query-match cropped "
                      "%.0f%%, uncropped (the reference) %.0f%%, kept %.0f%%\n",
                      cases[i].query, cases[i].stored, info.crop.top, info.crop.bottom,
                      info.crop.left, info.crop.right, mc.query_pct, mp.query_pct, m.query_pct);
        assert_int_equal(info.crop.left, 32);
        assert_int_equal(info.crop.right, 32);
        assert_true(m.query_pct >= MEDIA_VPDQ_MATCH_PCT);
        assert_true((cases[i].via_crop ? mc.query_pct : mp.query_pct) >= MEDIA_VPDQ_MATCH_PCT);
        free(q);
        free(c);
        free(info.plain);
    }
}

/* ---- generated videos: bars, cuts, false matches ---- */

#define GEN_MAX_FILES 32

static struct {
    int tried, ok;
    char dir[64];
    char files[GEN_MAX_FILES][128];
    int nfiles;
} gen;

static int run_ffmpeg(const char *out, const char *args)
{
    char cmd[2048];
    if (gen.nfiles == GEN_MAX_FILES) return -1;
    snprintf(gen.files[gen.nfiles], sizeof gen.files[0], "%s/%s", gen.dir, out);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -hide_banner -v error -y %s -an -c:v libx264 -preset veryfast "
             "-pix_fmt yuv420p '%s'",
             args, gen.files[gen.nfiles]);
    gen.nfiles++;
    return system(cmd) == 0 ? 0 : -1;
}

/* Synthetic sources, 16:9 at 320x180 unless a test needs another shape, 8 s (testsrc2 16 s). */
#define SRC_TESTSRC "-f lavfi -i testsrc2=size=320x180:rate=30:duration=16"
#define SRC_LIFE                                                                                   \
    "-f lavfi -i life=size=320x180:rate=30:mold=10:ratio=0.2:seed=7:life_color=#ff8040:"           \
    "death_color=#202080"
static const struct {
    const char *name, *lavfi;
} SOURCES[] = {
    {"testsrc2", SRC_TESTSRC},
    {"mandelbrot", "-f lavfi -i mandelbrot=size=320x180:rate=30 -t 8"},
    {"life", SRC_LIFE " -t 8"},
    {"cellauto", "-f lavfi -i cellauto=size=320x180:rate=30:rule=110:seed=3 -t 8"},
    {"gradients", "-f lavfi -i gradients=size=320x180:rate=30:speed=0.05:seed=5 -t 8"},
    {"sierpinski", "-f lavfi -i sierpinski=size=320x180:rate=30:seed=9 -t 8"},
    {"smptebars-hue", "-f lavfi -i smptehdbars=size=320x180:rate=30 -vf hue=H=0.6*t -t 8"},
    {"testsrc", "-f lavfi -i testsrc=size=320x180:rate=30 -t 8"},
};
#define NSRC GIF_ARRAY_LEN(SOURCES)

static const char *gen_path(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", gen.dir, name);
    return p;
}

static int generate(void)
{
    if (gen.tried) return gen.ok;
    gen.tried = 1;
    if (system("ffmpeg -hide_banner -version >/dev/null 2>&1") != 0) return 0;
    snprintf(gen.dir, sizeof gen.dir, "/tmp/gifvpdq-XXXXXX");
    if (!mkdtemp(gen.dir)) return 0;
    uint64_t t0 = gif_mono_ns();
    char name[64], args[512];
    for (size_t i = 0; i < NSRC; i++) {
        snprintf(name, sizeof name, "src%zu.mp4", i);
        if (run_ffmpeg(name, SOURCES[i].lavfi) != 0) return 0;
        /* the same content encoded again, at another quality: a plain re-upload */
        snprintf(name, sizeof name, "copy%zu.mp4", i);
        snprintf(args, sizeof args, "%s -crf 32", SOURCES[i].lavfi);
        if (run_ffmpeg(name, args) != 0) return 0;
    }
    /* letterbox: testsrc2 16:9 in a 4:3 frame with black bars */
    if (run_ffmpeg("letterbox.mp4", SRC_TESTSRC " -vf pad=320:240:0:30:black") != 0) return 0;
    /* pillarbox: a 4:3 mandelbrot stored as is, and in a 16:9 frame with blue bars */
    if (run_ffmpeg("m43.mp4", "-f lavfi -i mandelbrot=size=240x180:rate=30 -t 8") != 0 ||
        run_ffmpeg("pillarbox.mp4", "-f lavfi -i mandelbrot=size=240x180:rate=30 -t 8 -vf "
                                    "pad=320:180:40:0:0x2850c8") != 0)
        return 0;
    /* both at once, grey, on the life source */
    if (run_ffmpeg("windowbox.mp4", SRC_LIFE " -t 8 -vf pad=400:248:40:34:0x808080") != 0) return 0;
    /* a 5 s cut starting mid-second (5.5 s), so 1 fps samples fall between the stored ones */
    if (run_ffmpeg("cut.mp4", SRC_TESTSRC " -vf trim=start=5.5:end=10.5,setpts=PTS-STARTPTS") != 0)
        return 0;
    /* a 3 s cut from the life source, slower moving */
    if (run_ffmpeg("cutlife.mp4",
                   SRC_LIFE " -t 8 -vf trim=start=2.5:end=5.5,setpts=PTS-STARTPTS") != 0)
        return 0;
    /* 29.97 fps: the reference keeps every 29th frame at 1 fps */
    if (run_ffmpeg("ntsc.mp4", "-f lavfi -i testsrc2=size=96x64:rate=30000/1001:duration=3") != 0)
        return 0;
    print_message("generated %d videos with ffmpeg in %.1f s under %s\n", gen.nfiles,
                  (double)(gif_mono_ns() - t0) / 1e9, gen.dir);
    gen.ok = 1;
    return 1;
}

static int gen_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < gen.nfiles; i++)
        unlink(gen.files[i]);
    if (gen.dir[0] && strncmp(gen.dir, "/tmp/gifvpdq-", 13) == 0) rmdir(gen.dir);
    return 0;
}

static void need_generated(void)
{
    if (!generate()) {
        print_message("SKIP: could not generate test videos (is the ffmpeg command-line tool "
                      "with libx264 installed?)\n");
        skip();
    }
}

/* Hashes a generated file from memory. */
static struct media_vpdq_frame *hash_file(const char *name, double fps, int crop, size_t *n,
                                          struct media_vpdq_info *info)
{
    uint8_t *buf;
    size_t len;
    if (read_all(gen_path(name), &buf, &len) != 0) fail_msg("cannot read %s", name);
    struct media_vpdq_opts o = opts_fps(fps);
    o.crop_borders = crop;
    o.keep_plain = crop;
    struct media_vpdq_frame *f;
    int tr;
    char err[256];
    struct media_vpdq_info dummy;
    int rc = media_vpdq_hash_info(buf, len, &o, &f, n, &tr, info ? info : &dummy, err, 256);
    if (!info) free(dummy.plain);
    free(buf);
    if (rc != 0) fail_msg("%s: %s (%s)", name, gif_strerror(rc), err);
    assert_int_equal(tr, 0);
    return f;
}

static struct media_vpdq_match match(const struct media_vpdq_frame *q, size_t nq,
                                     const struct media_vpdq_frame *c, size_t nc)
{
    struct media_vpdq_match m;
    media_vpdq_match(q, nq, c, nc, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, &m);
    return m;
}

static void test_frame_rate_ntsc(void **state)
{
    (void)state;
    need_generated();
    size_t n;
    struct media_vpdq_info info;
    struct media_vpdq_frame *f = hash_file("ntsc.mp4", 1, 0, &n, &info);
    assert_int_equal(info.frame_step, 29); /* (int)(1 * 29.97) */
    assert_int_equal(info.decoded, 90);
    assert_int_equal(n, 4);
    assert_int_equal(f[1].frame, 29);
    assert_int_equal(f[3].frame, 87);
    assert_int_equal(f[3].time_ms, 2903); /* 87 / 29.97 s */
    free(f);
}

static void test_bars(void **state)
{
    (void)state;
    need_generated();
    static const struct {
        const char *query, *stored, *what;
        struct media_video_crop want;
    } cases[] = {
        {"letterbox.mp4", "src0.mp4", "testsrc2 letterboxed (black, 30 px)", {30, 30, 0, 0}},
        {"pillarbox.mp4", "m43.mp4", "mandelbrot pillarboxed (blue, 40 px)", {0, 0, 40, 40}},
        {"windowbox.mp4", "src2.mp4", "life windowboxed (grey, 34 and 40 px)", {34, 34, 40, 40}},
    };
    for (size_t i = 0; i < GIF_ARRAY_LEN(cases); i++) {
        size_t nq, nq0, nc;
        struct media_vpdq_info info;
        struct media_vpdq_frame *c = hash_file(cases[i].stored, 1, 0, &nc, NULL);
        struct media_vpdq_frame *q0 = hash_file(cases[i].query, 1, 0, &nq0, NULL);
        struct media_vpdq_frame *q = hash_file(cases[i].query, 1, 1, &nq, &info);
        struct media_vpdq_match m0 = match(q0, nq0, c, nc), m;
        media_vpdq_match_cropped(q, nq, info.plain, info.nplain, c, nc, MEDIA_VPDQ_DISTANCE,
                                 MEDIA_VPDQ_QUALITY, 0, &m);
        assert_non_null(info.plain);
        assert_int_equal(info.nplain, nq);
        assert_memory_equal(info.plain[0].hash, q0[0].hash, 32);
        free(info.plain);
        print_message("bars: %s: crop top %d bottom %d left %d right %d; query-match %.0f%% "
                      "(compared %.0f%%) cropped, %.0f%% (compared %.0f%%) as the reference\n",
                      cases[i].what, info.crop.top, info.crop.bottom, info.crop.left,
                      info.crop.right, m.query_pct, m.compared_pct, m0.query_pct, m0.compared_pct);
        /* within 2 pixels of the bars (ringing next to the picture may keep a line) */
        assert_true(abs(info.crop.top - cases[i].want.top) <= 2);
        assert_true(abs(info.crop.bottom - cases[i].want.bottom) <= 2);
        assert_true(abs(info.crop.left - cases[i].want.left) <= 2);
        assert_true(abs(info.crop.right - cases[i].want.right) <= 2);
        assert_true(m.query_pct >= MEDIA_VPDQ_MATCH_PCT);
        free(c);
        free(q0);
        free(q);
    }
    /* No crop where there are no bars. */
    for (size_t i = 0; i < NSRC; i++) {
        char name[32];
        snprintf(name, sizeof name, "src%zu.mp4", i);
        size_t n;
        struct media_vpdq_info info;
        free(hash_file(name, 1, 1, &n, &info));
        free(info.plain);
        if (info.crop.top || info.crop.bottom || info.crop.left || info.crop.right)
            print_message("bars: %s cropped by %d %d %d %d without bars\n", SOURCES[i].name,
                          info.crop.top, info.crop.bottom, info.crop.left, info.crop.right);
    }
}

static struct media_vpdq_match match_w(const struct media_vpdq_frame *q, size_t nq,
                                       const struct media_vpdq_frame *c, size_t nc)
{
    struct media_vpdq_match m;
    media_vpdq_match_windows(q, nq, c, nc, MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, 1000, &m);
    return m;
}

static void test_cut(void **state)
{
    (void)state;
    need_generated();
    static const struct {
        const char *query, *stored, *what;
    } cases[] = {
        {"cut.mp4", "src0.mp4", "testsrc2 5.5-10.5 s of 16 s"},
        {"cutlife.mp4", "src2.mp4", "life 2.5-5.5 s of 8 s"},
    };
    for (size_t i = 0; i < GIF_ARRAY_LEN(cases); i++) {
        size_t nc, nd, n1, n5;
        struct media_vpdq_frame *c = hash_file(cases[i].stored, 1, 0, &nc, NULL);
        struct media_vpdq_frame *d = hash_file(cases[i].query, 0, 0, &nd, NULL);
        struct media_vpdq_frame *q1 = hash_file(cases[i].query, 1, 0, &n1, NULL);
        struct media_vpdq_frame *q5 = hash_file(cases[i].query, 5, 0, &n5, NULL);
        struct media_vpdq_match md = match_w(d, nd, c, nc), m1 = match_w(q1, n1, c, nc),
                                m5 = match_w(q5, n5, c, nc);
        print_message("cut: %s: every frame: query-match %.0f%% (%zu of %zu), windows %.0f%% "
                      "(%zu of %zu); 5 fps: query-match %.0f%%, windows %.0f%%; 1 fps "
                      "(reference): query-match %.0f%%; stored frames matched %zu of %zu\n",
                      cases[i].what, md.query_pct, md.query_matched, md.query_usable, md.window_pct,
                      md.windows_matched, md.windows, m5.query_pct, m5.window_pct, m1.query_pct,
                      md.compared_matched, md.compared_usable);
        /* Every second of the cut holds the frame the stored video was sampled at. */
        assert_true(md.window_pct >= MEDIA_VPDQ_MATCH_PCT);
        assert_true(media_vpdq_is_match(&md, MEDIA_VPDQ_MATCH_PCT));
        free(c);
        free(d);
        free(q1);
        free(q5);
    }
}

/* On the sample videos: chair-19-sd-bar is chair-orig-22-sd-bar from frame 111 (3.7 s) on, so
 * its 1 fps samples fall a third of a second from the stored ones. */
static void test_cut_samples(void **state)
{
    (void)state;
    const char *dir = testdata_dir();
    if (!dir) {
        print_message("SKIP: vPDQ conformance data not found\n");
        skip();
    }
    if (UNDER_ASAN) {
        print_message("SKIP under ASan: covered by test_cut on small generated videos\n");
        skip();
    }
    size_t nc, nd, n1;
    struct media_vpdq_info i1, i2, i3;
    struct media_vpdq_frame *c = hash_sample(dir, "chair-orig-22-sd-bar", 1, 0, &nc, &i1);
    struct media_vpdq_frame *d = hash_sample(dir, "chair-19-sd-bar", 0, 0, &nd, &i2);
    struct media_vpdq_frame *q1 = hash_sample(dir, "chair-19-sd-bar", 1, 0, &n1, &i3);
    struct media_vpdq_match md = match_w(d, nd, c, nc), m1 = match_w(q1, n1, c, nc);
    print_message("cut (samples): chair-19-sd-bar vs stored chair-orig-22-sd-bar: every frame: "
                  "windows %.0f%% (%zu of %zu), query-match %.0f%%, compared %.0f%%; 1 fps "
                  "(reference): query-match %.0f%%, compared %.0f%%\n",
                  md.window_pct, md.windows_matched, md.windows, md.query_pct, md.compared_pct,
                  m1.query_pct, m1.compared_pct);
    assert_true(md.window_pct >= MEDIA_VPDQ_MATCH_PCT);
    assert_false(media_vpdq_is_match(&m1, MEDIA_VPDQ_MATCH_PCT));
    free(c);
    free(d);
    free(q1);
}

/* Every query kind against every stored source: the true pairs must match and no other. */
static void test_false_matches(void **state)
{
    (void)state;
    need_generated();
    struct media_vpdq_frame *stored[NSRC];
    size_t ns[NSRC];
    for (size_t i = 0; i < NSRC; i++) {
        char name[32];
        snprintf(name, sizeof name, "src%zu.mp4", i);
        stored[i] = hash_file(name, 1, 0, &ns[i], NULL);
    }
    /* queries as the node makes them: every frame, borders cropped; the re-encoded copies,
     * the bar copies and the cuts */
    const char *queries[NSRC + 4];
    size_t truth[NSRC + 4], nqk = 0;
    static char names[NSRC][32];
    for (size_t i = 0; i < NSRC; i++) {
        snprintf(names[i], sizeof names[i], "copy%zu.mp4", i);
        queries[nqk] = names[i];
        truth[nqk++] = i;
    }
    queries[nqk] = "letterbox.mp4", truth[nqk++] = 0;
    queries[nqk] = "windowbox.mp4", truth[nqk++] = 2;
    queries[nqk] = "cut.mp4", truth[nqk++] = 0;
    queries[nqk] = "cutlife.mp4", truth[nqk++] = 2;
    int tp = 0, fn = 0, fp = 0, tn = 0, unusable = 0;
    double max_false = 0, min_true = 100;
    for (size_t k = 0; k < nqk; k++) {
        size_t nq;
        struct media_vpdq_info info;
        struct media_vpdq_frame *q = hash_file(queries[k], 0, 1, &nq, &info);
        for (size_t i = 0; i < NSRC; i++) {
            struct media_vpdq_match m;
            media_vpdq_match_cropped(q, nq, info.plain, info.nplain, stored[i], ns[i],
                                     MEDIA_VPDQ_DISTANCE, MEDIA_VPDQ_QUALITY, 1000, &m);
            if (m.query_usable == 0 || m.compared_usable == 0) {
                /* no frame of quality >= 50 on one side: vPDQ cannot judge the pair */
                if (i == truth[k])
                    print_message("unusable: %s vs %s: %zu and %zu usable frames\n", queries[k],
                                  SOURCES[i].name, m.query_usable, m.compared_usable);
                unusable++;
                continue;
            }
            double score = fmax(m.window_pct, fmax(m.query_pct, m.compared_pct));
            int is = media_vpdq_is_match(&m, MEDIA_VPDQ_MATCH_PCT);
            if (i == truth[k]) {
                is ? tp++ : fn++;
                if (score < min_true) min_true = score;
                if (!is)
                    print_message("missed: %s vs %s: query %.1f%% compared %.1f%% windows "
                                  "%.1f%%\n",
                                  queries[k], SOURCES[i].name, m.query_pct, m.compared_pct,
                                  m.window_pct);
            } else {
                is ? fp++ : tn++;
                if (score > max_false) max_false = score;
                if (score > 0)
                    print_message("false-match check: %s vs %s: query %.1f%% compared %.1f%% "
                                  "windows %.1f%%\n",
                                  queries[k], SOURCES[i].name, m.query_pct, m.compared_pct,
                                  m.window_pct);
            }
        }
        free(q);
        free(info.plain);
    }
    print_message("matching %zu queries (every frame, borders cropped) x %zu stored sources "
                  "(1 fps): %d true matches, %d missed, %d false matches, %d true non-matches, "
                  "%d pairs without usable frames; lowest true score %.0f%%, highest false "
                  "score %.1f%%\n",
                  nqk, NSRC, tp, fn, fp, tn, unusable, min_true, max_false);
    assert_int_equal(fp, 0);
    assert_int_equal(fn, 0);
    for (size_t i = 0; i < NSRC; i++)
        free(stored[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_rules),
        cmocka_unit_test(test_match_speed),
        cmocka_unit_test(test_image_borders),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_no_nested_open),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_conformance_128),
        cmocka_unit_test(test_sample_rate),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_bars_samples),
        cmocka_unit_test(test_frame_rate_ntsc),
        cmocka_unit_test(test_bars),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_cut_samples),
        cmocka_unit_test(test_false_matches),
    };
    return cmocka_run_group_tests(tests, NULL, gen_teardown);
}
