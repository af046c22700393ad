/*
 * PDQ conformance against Meta's reference (../shared/testdata/pdq, see its README): exact
 * hashes and qualities on the lossless PNGs, full resolution and with the tool's squash; the 8
 * dihedral variants; the reference tool's hashes of the JPEGs within its tolerance. Also: the
 * fast filter equals the reference-structured one bit for bit on many sizes, tiny images, the
 * distance, and the file hashes. The conformance tests skip when the test data is absent.
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

#include "media/filehash.h"
#include "media/image.h"
#include "media/pdq.h"
#include "util/gif.h"

#include "pdq_testdata.h"

/* Reads a text file's lines into a malloc'd array of strings (one allocation each). */
static char **read_lines(const char *rel, int *count)
{
    size_t n;
    char *text = (char *)slurp(rel, &n);
    assert_non_null(text);
    char **lines = calloc(n + 1, sizeof(char *));
    int k = 0;
    char *p = text, *end = text + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len && p[len - 1] == '\r') len--;
        if (len) lines[k++] = strndup(p, len);
        p += len + 1;
        if (nl) p = nl + 1;
    }
    free(text);
    *count = k;
    return lines;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Splits a CSV line in place into at most max fields. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static void hash_hex(const struct media_pdq *p, char hex[65])
{
    gif_hex(hex, p->hash, MEDIA_PDQ_LEN);
}

static int distance_hex(const struct media_pdq *p, const char *hex)
{
    uint8_t want[MEDIA_PDQ_LEN];
    assert_int_equal(gif_unhex(want, MEDIA_PDQ_LEN, hex, strlen(hex)), 0);
    return media_pdq_distance(p->hash, want);
}

static void decode_file(const char *rel, int ignore_exif, struct media_rgb *img)
{
    size_t n;
    uint8_t *b = slurp(rel, &n);
    assert_non_null(b);
    struct media_image_opts o = {.ignore_exif = ignore_exif};
    char err[256];
    int rc = media_image_decode(b, n, &o, img, err, sizeof(err));
    if (rc != 0) print_message("%s: %s\n", rel, err);
    assert_int_equal(rc, 0);
    free(b);
}

/* decoded-png/: the pixels libjpeg-turbo decodes, hashed by the reference exactly. */
static void test_decoded_png(void **state)
{
    (void)state;
    NEED_DATA();
    int n;
    char **lines = read_lines("decoded-png/expected.csv", &n);
    assert_true(n > 1);
    int exact = 0;
    for (int i = 1; i < n; i++) {
        char *f[8];
        assert_int_equal(split(lines[i], f, 8), 7);
        struct media_rgb img;
        decode_file(f[0], 1, &img);
        assert_int_equal(img.width, atoi(f[5]));
        assert_int_equal(img.height, atoi(f[6]));

        struct media_pdq full, ref, tool;
        char hex[65];
        assert_int_equal(media_image_pdq(&img, &full, NULL), 0);
        hash_hex(&full, hex);
        print_message("  %-34s fullres %s q%3d  dist %d\n", f[0], hex, full.quality,
                      distance_hex(&full, f[3]));
        assert_string_equal(hex, f[3]);
        assert_int_equal(full.quality, atoi(f[4]));
        /* The reference-structured implementation agrees. */
        assert_int_equal(
            media_pdq_rgb_ref(img.px, img.width, img.height, (size_t)img.width * 3, &ref, NULL), 0);
        assert_memory_equal(ref.hash, full.hash, MEDIA_PDQ_LEN);
        assert_int_equal(ref.quality, full.quality);

        assert_int_equal(media_rgb_squash_tool(&img), 0);
        assert_int_equal(media_image_pdq(&img, &tool, NULL), 0);
        hash_hex(&tool, hex);
        print_message("  %-34s tool    %s q%3d  dist %d\n", f[0], hex, tool.quality,
                      distance_hex(&tool, f[1]));
        assert_string_equal(hex, f[1]);
        assert_int_equal(tool.quality, atoi(f[2]));
        exact += 2;
        media_rgb_free(&img);
    }
    print_message("  decoded-png: %d of %d hashes exact\n", exact, 2 * (n - 1));
    free_lines(lines, n);
}

/* The 8 dihedral variants the tool derives (it squashes first) from bridge-1-original. */
static void test_dihedral(void **state)
{
    (void)state;
    NEED_DATA();
    int n;
    char **lines = read_lines("cpp-reference-dihedral.csv", &n);
    assert_int_equal(n, MEDIA_DIH_COUNT);
    struct media_rgb img;
    decode_file("decoded-png/bridge-1-original.png", 1, &img);
    assert_int_equal(media_rgb_squash_tool(&img), 0);
    struct media_pdq one, dih[MEDIA_DIH_COUNT];
    assert_int_equal(media_image_pdq(&img, &one, dih), 0);
    assert_memory_equal(one.hash, dih[MEDIA_DIH_ORIGINAL].hash, MEDIA_PDQ_LEN);
    for (int i = 0; i < n; i++) {
        char *f[5];
        assert_int_equal(split(lines[i], f, 5), 4);
        int d = 0;
        while (d < MEDIA_DIH_COUNT && strcmp(media_dihedral_name((enum media_dihedral)d), f[3]))
            d++;
        assert_true(d < MEDIA_DIH_COUNT);
        char hex[65];
        hash_hex(&dih[d], hex);
        print_message("  %-10s %s q%d\n", f[3], hex, dih[d].quality);
        assert_string_equal(hex, f[0]);
        assert_int_equal(dih[d].quality, atoi(f[1]));
    }
    /* The JPEG through FFmpeg: the same variants within the JPEG tolerance. */
    struct media_rgb jpg;
    decode_file("reg-test-input/dih/bridge-1-original.jpg", 1, &jpg);
    assert_int_equal(media_rgb_squash_tool(&jpg), 0);
    struct media_pdq jdih[MEDIA_DIH_COUNT];
    assert_int_equal(media_image_pdq(&jpg, NULL, jdih), 0);
    for (int d = 0; d < MEDIA_DIH_COUNT; d++)
        assert_true(media_pdq_distance(jdih[d].hash, dih[d].hash) <= 10);
    media_rgb_free(&jpg);
    media_rgb_free(&img);
    free_lines(lines, n);
}

/* The tool's hashes of every file it can load: JPEGs decoded by FFmpeg rather than libjpeg
 * are within the reference's tolerance (distance <= 10 where quality >= 80); lossless PNGs
 * are exact. Prints the per-image table that docs/media.md reproduces. */
static void test_reference_hashes(void **state)
{
    (void)state;
    NEED_DATA();
    int n;
    char **lines = read_lines("cpp-reference-hashes.csv", &n);
    int exact = 0, within = 0, judged = 0, maxd = 0;
    for (int i = 0; i < n; i++) {
        char *f[4];
        assert_int_equal(split(lines[i], f, 4), 3);
        struct media_rgb img;
        decode_file(f[2], 1, &img); /* the reference ignores EXIF orientation */
        assert_int_equal(media_rgb_squash_tool(&img), 0);
        struct media_pdq p;
        assert_int_equal(media_image_pdq(&img, &p, NULL), 0);
        int d = distance_hex(&p, f[0]), refq = atoi(f[1]);
        print_message("  | %-44s | %3d | %3d | %3d |\n", f[2], refq, p.quality, d);
        if (d == 0) exact++;
        if (strstr(f[2], ".png")) {
            assert_int_equal(d, 0);
            assert_int_equal(p.quality, refq);
        }
        if (refq >= 80) {
            judged++;
            if (d <= 10) within++;
            if (d > maxd) maxd = d;
            assert_true(d <= 10);
        }
        media_rgb_free(&img);
    }
    print_message("  reference hashes: %d of %d exact; %d of %d with quality >= 80 within 10 "
                  "(max %d)\n",
                  exact, n, within, judged, maxd);
    free_lines(lines, n);
}

/* ---- synthetic images: the fast filter against the reference-structured one ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static uint8_t *synth(int w, int h, int kind)
{
    uint8_t *p = malloc((size_t)w * h * 3 + 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) {
                int v;
                if (kind == 0)
                    v = (int)(rnd() & 255);
                else if (kind == 1)
                    v = (x * 7 + y * 3 + c * 50 + (int)(rnd() % 9)) & 255;
                else
                    v = ((x / 9 + y / 13) & 1) ? 200 + c : 30 + (int)(rnd() % 5);
                q[c] = (uint8_t)v;
            }
        }
    return p;
}

static void test_fast_equals_reference(void **state)
{
    (void)state;
    static const int sizes[][2] = {{5, 5},      {5, 9},     {6, 7},     {17, 5},     {63, 65},
                                   {64, 64},    {65, 64},   {127, 129}, {128, 128},  {129, 300},
                                   {255, 257},  {256, 256}, {300, 1},   {1000, 7},   {7, 1000},
                                   {383, 1031}, {640, 480}, {1031, 97}, {1600, 1004}};
    for (size_t s = 0; s < GIF_ARRAY_LEN(sizes); s++)
        for (int kind = 0; kind < 3; kind++) {
            int w = sizes[s][0], h = sizes[s][1];
            uint8_t *img = synth(w, h, kind);
            struct media_pdq a, b, da[MEDIA_DIH_COUNT], db[MEDIA_DIH_COUNT];
            assert_int_equal(media_pdq_rgb(img, w, h, (size_t)w * 3, &a, da), 0);
            assert_int_equal(media_pdq_rgb_ref(img, w, h, (size_t)w * 3, &b, db), 0);
            assert_memory_equal(a.hash, b.hash, MEDIA_PDQ_LEN);
            assert_int_equal(a.quality, b.quality);
            assert_memory_equal(da, db, sizeof(da));
            if (w != 64 || h != 64) assert_memory_equal(a.hash, da[0].hash, MEDIA_PDQ_LEN);
            /* A padded stride changes nothing. */
            size_t stride = (size_t)w * 3 + 5;
            uint8_t *pad = calloc(stride * h, 1);
            for (int y = 0; y < h; y++)
                memcpy(pad + stride * y, img + (size_t)w * 3 * y, (size_t)w * 3);
            struct media_pdq c;
            assert_int_equal(media_pdq_rgb(pad, w, h, stride, &c, NULL), 0);
            assert_memory_equal(a.hash, c.hash, MEDIA_PDQ_LEN);
            free(pad);
            free(img);
        }
}

static void test_tiny_and_invalid(void **state)
{
    (void)state;
    uint8_t px[3 * 8 * 8];
    for (size_t i = 0; i < sizeof(px); i++)
        px[i] = (uint8_t)(i * 37);
    static const uint8_t zero[MEDIA_PDQ_LEN];
    struct media_pdq p, d[MEDIA_DIH_COUNT];
    static const int tiny[][2] = {{1, 1}, {4, 8}, {8, 4}, {4, 4}, {1, 8}};
    for (size_t i = 0; i < GIF_ARRAY_LEN(tiny); i++) {
        memset(&p, 0xAA, sizeof(p));
        assert_int_equal(media_pdq_rgb(px, tiny[i][0], tiny[i][1], 24, &p, d), 0);
        assert_memory_equal(p.hash, zero, MEDIA_PDQ_LEN);
        assert_int_equal(p.quality, 0);
        for (int k = 0; k < MEDIA_DIH_COUNT; k++)
            assert_int_equal(d[k].quality, 0);
    }
    assert_int_equal(media_pdq_rgb(px, 5, 5, 24, &p, NULL), 0);
    assert_int_equal(media_pdq_rgb(px, 0, 5, 24, &p, NULL), GIF_E_INVALID);
    assert_int_equal(media_pdq_rgb(px, 5, -1, 24, &p, NULL), GIF_E_INVALID);
    assert_int_equal(media_pdq_rgb(px, 8, 8, 23, &p, NULL), GIF_E_INVALID);
    assert_int_equal(media_pdq_rgb(NULL, 8, 8, 24, &p, NULL), GIF_E_INVALID);
}

/* One channel read in place from RGB (step 3) or packed (step 1) gives the same hash; a flat
 * image has quality 0. */
static void test_grey(void **state)
{
    (void)state;
    int w = 97, h = 71;
    uint8_t *g = malloc((size_t)w * h), *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) {
        g[i] = (uint8_t)((i % w) * 2 + (i / w) + (int)(rnd() % 20));
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i];
    }
    struct media_pdq a, b;
    assert_int_equal(media_pdq_grey(g, w, h, (size_t)w, 1, &a, NULL), 0);
    assert_int_equal(media_pdq_grey(rgb, w, h, (size_t)w * 3, 3, &b, NULL), 0);
    assert_memory_equal(a.hash, b.hash, MEDIA_PDQ_LEN);
    memset(g, 77, (size_t)w * h);
    assert_int_equal(media_pdq_grey(g, w, h, (size_t)w, 1, &a, NULL), 0);
    assert_int_equal(a.quality, 0);
    free(g);
    free(rgb);
}

static void test_distance_and_names(void **state)
{
    (void)state;
    uint8_t a[MEDIA_PDQ_LEN] = {0}, b[MEDIA_PDQ_LEN] = {0};
    assert_int_equal(media_pdq_distance(a, b), 0);
    memset(b, 0xFF, sizeof(b));
    assert_int_equal(media_pdq_distance(a, b), 256);
    b[0] = 0x0F;
    memset(b + 1, 0, sizeof(b) - 1);
    b[31] = 0x01;
    assert_int_equal(media_pdq_distance(a, b), 5);
    assert_string_equal(media_dihedral_name(MEDIA_DIH_FLIPMINUS1), "flipminus1");
    assert_string_equal(media_dihedral_name(MEDIA_DIH_COUNT), "unknown");
}

static void test_filehash(void **state)
{
    (void)state;
    uint8_t md5[MEDIA_MD5_LEN], sha[MEDIA_SHA256_LEN];
    char hex[65];
    assert_int_equal(media_md5((const uint8_t *)"abc", 3, md5), 0);
    gif_hex(hex, md5, sizeof(md5));
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(media_sha256((const uint8_t *)"abc", 3, sha), 0);
    gif_hex(hex, sha, sizeof(sha));
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(media_sha256(NULL, 0, sha), 0);
    gif_hex(hex, sha, sizeof(sha));
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoded_png),        cmocka_unit_test(test_dihedral),
        cmocka_unit_test(test_reference_hashes),   cmocka_unit_test(test_fast_equals_reference),
        cmocka_unit_test(test_tiny_and_invalid),   cmocka_unit_test(test_grey),
        cmocka_unit_test(test_distance_and_names), cmocka_unit_test(test_filehash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
