/* Request validation: every refusal names the field and quotes the value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "node/api_input.h"
#include "node/api_json.h"
#include "protocol/record.h"
#include "protocol/url.h"
#include "util/gif.h"

static int parse(const char *json, struct proto_record *d, struct arena *a, struct api_err *e)
{
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    assert_non_null(j);
    int rc = api_parse_signal(j, d, a, "", e);
    json_decref(j); /* pointers into j are not used after this in the tests below */
    return rc;
}

static void refused(const char *json, const char *code, const char *field, const char *value)
{
    struct proto_record d;
    struct arena a = {0};
    struct api_err e;
    memset(&e, 0, sizeof e);
    if (parse(json, &d, &a, &e) == 0) fail_msg("accepted: %s", json);
    arena_free(&a);
    if (strcmp(e.code, code) != 0) fail_msg("%s: code %s, want %s", json, e.code, code);
    if (strcmp(e.field, field) != 0) fail_msg("%s: field %s, want %s", json, e.field, field);
    if (value && strcmp(e.value, value) != 0)
        fail_msg("%s: value '%s', want '%s'", json, e.value, value);
    assert_int_equal(e.status, 400);
}

static void test_signal_ok(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *j = json_loads("{\"type\":\"md5\",\"value\":\"D41D8CD98F00B204E9800998ECF8427E\","
                           "\"labels\":[\"recruitment\",\"threat\"],\"confidence\":70,"
                           "\"content_type\":\"video\",\"expires\":\"2030-01-01T00:00:00Z\","
                           "\"entity\":\"Group\",\"incident\":\"i-1\"}",
                           0, &jerr);
    struct proto_record d;
    struct arena a = {0};
    struct api_err e;
    assert_int_equal(api_parse_signal(j, &d, &a, "", &e), 0);
    assert_int_equal(d.u.signal.stype, PROTO_ST_MD5);
    assert_int_equal(d.u.signal.value.n, 16);
    assert_int_equal(d.u.signal.value.p[0], 0xd4);
    assert_int_equal(d.u.signal.nlabels, 2);
    assert_int_equal(d.u.signal.confidence, 70);
    assert_int_equal(d.u.signal.content, PROTO_CT_VIDEO);
    assert_int_equal(d.u.signal.expires_ms, 1893456000000ull);
    /* A url value is normalised and hashed. */
    json_t *u =
        json_loads("{\"type\":\"url\",\"value\":\"https://www.example.com/x#a\"}", 0, &jerr);
    assert_int_equal(api_parse_signal(u, &d, &a, "", &e), 0);
    uint8_t h[32];
    assert_int_equal(proto_url_hash("example.com/x", 13, h), 0);
    assert_memory_equal(d.u.signal.value.p, h, 32);
    json_decref(u);
    json_decref(j);
    arena_free(&a);
}

static void test_signal_refusals(void **state)
{
    (void)state;
    refused("{\"value\":\"00\"}", "missing_field", "type", NULL);
    refused("{\"type\":\"md5\"}", "missing_field", "value", NULL);
    refused("{\"type\":\"md6\",\"value\":\"00\"}", "invalid_field", "type", "md6");
    refused("{\"type\":\"md5\",\"value\":\"abc\"}", "invalid_field", "value", "abc");
    refused("{\"type\":\"pdq\",\"value\":\"zz\"}", "invalid_field", "value", "zz");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\",\"colour\":1}",
            "unknown_field", "colour", "colour");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"labels\":[\"cats\"]}",
            "invalid_field", "labels[0]", "cats");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"labels\":[\"threat\",\"threat\"]}",
            "invalid_field", "labels[1]", "threat");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"confidence\":101}",
            "invalid_field", "confidence", "101");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"expires\":\"tomorrow\"}",
            "invalid_field", "expires", "tomorrow");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"verified\":\"yes\"}",
            "invalid_field", "verified", "yes");
    refused("{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\","
            "\"content_type\":\"hologram\"}",
            "invalid_field", "content_type", "hologram");
    refused("{\"type\":\"url\",\"value\":\"http://a b\"}", "invalid_field", "value", "http://a b");
    refused("{\"type\":\"vpdq\",\"value\":[{\"hash\":\"00\"}]}", "invalid_field", "value[0].hash",
            "00");
}

static void test_alert_feedback_retraction(void **state)
{
    (void)state;
    json_error_t jerr;
    struct proto_record d;
    struct arena a = {0};
    struct api_err e;
    json_t *j = json_loads("{\"incident\":\"i\",\"level\":\"content_incident\",\"score\":0.97,"
                           "\"signals\":[{\"type\":\"md5\","
                           "\"value\":\"d41d8cd98f00b204e9800998ecf8427e\"}]}",
                           0, &jerr);
    assert_int_equal(api_parse_alert(j, &d, &a, &e), 0);
    assert_int_equal(d.u.alert.score, 9700);
    assert_int_equal(d.u.alert.level, PROTO_LEVEL_INCIDENT);
    assert_int_equal(d.u.alert.nsignals, 1);
    json_decref(j);
    j = json_loads("{\"incident\":\"i\",\"level\":\"red\"}", 0, &jerr);
    assert_int_equal(api_parse_alert(j, &d, &a, &e), -1);
    assert_string_equal(e.field, "level");
    assert_string_equal(e.value, "red");
    json_decref(j);
    j = json_loads("{\"incident\":\"i\",\"level\":\"content_incident\",\"score\":2}", 0, &jerr);
    assert_int_equal(api_parse_alert(j, &d, &a, &e), -1);
    assert_string_equal(e.field, "score");
    json_decref(j);
    j = json_loads("{\"target\":\"abc\",\"verdict\":\"agree\"}", 0, &jerr);
    assert_int_equal(api_parse_feedback(j, &d, &e), -1);
    assert_string_equal(e.field, "target");
    json_decref(j);
    j = json_loads(
        "{\"target\":\"0000000000000000000000000000000000000000000000000000000000000001\","
        "\"verdict\":\"meh\"}",
        0, &jerr);
    assert_int_equal(api_parse_feedback(j, &d, &e), -1);
    assert_string_equal(e.field, "verdict");
    assert_string_equal(e.value, "meh");
    json_decref(j);
    j = json_loads(
        "{\"target\":\"0000000000000000000000000000000000000000000000000000000000000001\"}", 0,
        &jerr);
    assert_int_equal(api_parse_retraction(j, &d, &e), 0);
    assert_int_equal(d.u.retraction.target[31], 1);
    json_decref(j);
    arena_free(&a);
}

static void test_time(void **state)
{
    (void)state;
    uint64_t ms;
    json_t *v = json_string("2026-11-22T03:30:00.123Z");
    assert_int_equal(api_parse_time(v, &ms), 0);
    char buf[48];
    gif_time_fmt(buf, sizeof buf, ms);
    assert_string_equal(buf, "2026-11-22T03:30:00.123Z");
    json_decref(v);
    v = json_string("2026-11-22T04:30:00+01:00");
    assert_int_equal(api_parse_time(v, &ms), 0);
    gif_time_fmt(buf, sizeof buf, ms);
    assert_string_equal(buf, "2026-11-22T03:30:00.000Z");
    json_decref(v);
    const char *bad[] = {"2026-13-01T00:00:00Z",  "2026-11-22T03:30:00", "1969-12-31T00:00:00Z",
                         "2026-11-22T03:30:00.Z", "yesterday",           ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = json_string(bad[i]);
        if (api_parse_time(v, &ms) == 0) fail_msg("accepted '%s'", bad[i]);
        json_decref(v);
    }
    v = json_integer(1234);
    assert_int_equal(api_parse_time(v, &ms), 0);
    assert_int_equal(ms, 1234);
    json_decref(v);
}

static void test_media_kind(void **state)
{
    (void)state;
    assert_int_equal(api_media_kind("image/jpeg"), API_MEDIA_IMAGE);
    assert_int_equal(api_media_kind("IMAGE/PNG; charset=binary"), API_MEDIA_IMAGE);
    assert_int_equal(api_media_kind(" video/mp4"), API_MEDIA_VIDEO);
    assert_int_equal(api_media_kind("video/x-matroska;codecs=vp9"), API_MEDIA_VIDEO);
    const char *no[] = {
        "image/",     "video", "application/json",         "text/plain",
        "imagex/png", "",      "application/octet-stream", "multipart/form-data; boundary=x"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (api_media_kind(no[i]) != API_MEDIA_NONE) fail_msg("'%s' taken as media", no[i]);
    assert_int_equal(api_media_kind(NULL), API_MEDIA_NONE);
}

/* Bytes that are no media: probed as nothing, refused by api_media_hash with a reason. */
static void test_media_not_media(void **state)
{
    (void)state;
    static const uint8_t text[] = "not an image, not a video\n";
    assert_int_equal(api_media_probe(text, sizeof text - 1), API_MEDIA_NONE);
    assert_int_equal(api_media_probe(text, 0), API_MEDIA_NONE);
    struct api_media m;
    char err[256];
    assert_int_equal(
        api_media_hash(text, sizeof text - 1, API_MEDIA_NONE, NULL, &m, err, sizeof err),
        GIF_E_INVALID);
    assert_true(err[0] != '\0');
    assert_int_equal(m.kind, 0);
    assert_null(m.frames);
    assert_int_equal(
        api_media_hash(text, sizeof text - 1, API_MEDIA_IMAGE, NULL, &m, err, sizeof err),
        GIF_E_INVALID);
    assert_int_equal(
        api_media_hash(text, sizeof text - 1, API_MEDIA_VIDEO, NULL, &m, err, sizeof err),
        GIF_E_INVALID);
    assert_int_equal(api_media_hash(text, 0, API_MEDIA_IMAGE, NULL, &m, err, sizeof err),
                     GIF_E_INVALID);
    assert_non_null(strstr(err, "empty"));
}

/* A real JPEG from the PDQ test data: probed as an image, hashed as the reference does. */
static void test_media_image(void **state)
{
    (void)state;
    const char *src = getenv("GIF_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/../shared/testdata/pdq/bridge-mods/aaa-orig.jpg",
             src ? src : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("skipped: %s is absent (../shared not checked out)\n", path);
        skip();
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof buf);
    assert_int_equal(api_media_probe(buf, n), API_MEDIA_IMAGE);
    struct api_media m;
    char err[256];
    assert_int_equal(api_media_hash(buf, n, API_MEDIA_NONE, NULL, &m, err, sizeof err), 0);
    assert_int_equal(m.kind, API_MEDIA_IMAGE);
    char hex[65];
    gif_hex(hex, m.pdq.hash, 32);
    assert_string_equal(hex, "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22");
    json_t *sig = api_media_signals_json(&m, 1);
    assert_int_equal(json_array_size(sig), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sig, 2), "type")), "pdq");
    assert_string_equal(json_string_value(json_object_get(json_array_get(sig, 2), "value")), hex);
    json_decref(sig);
    api_media_free(&m);
    /* Cut short: refused, not hashed. */
    assert_int_equal(api_media_hash(buf, n / 2, API_MEDIA_IMAGE, NULL, &m, err, sizeof err),
                     GIF_E_INVALID);
}

/* Frames packed as a vpdq value, rendered as the API's JSON, parsed back as a signal value
 * and unpacked: the same frames. */
static void test_vpdq_pack(void **state)
{
    (void)state;
    struct media_vpdq_frame f[3], back[3];
    /* Zeroed so that padding compares equal too. */
    memset(f, 0, sizeof f);
    memset(back, 0xff, sizeof back);
    for (int i = 0; i < 3; i++) {
        for (int b = 0; b < 32; b++)
            f[i].hash[b] = (uint8_t)(i * 37 + b * 11);
        f[i].quality = (uint8_t)(40 + i * 30);
        f[i].frame = (uint32_t)i * 30u + 0x01000000u;
        f[i].time_ms = (uint32_t)i * 1001u + 0x00800000u;
    }
    uint8_t packed[3 * PROTO_VPDQ_FRAME_LEN];
    api_vpdq_pack(f, 3, packed);
    struct proto_bytes v = {packed, sizeof packed};
    assert_int_equal(api_vpdq_unpack(&v, back), 3);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(f[i].hash, back[i].hash, 32);
        assert_int_equal(f[i].quality, back[i].quality);
        assert_int_equal(f[i].frame, back[i].frame);
        assert_int_equal(f[i].time_ms, back[i].time_ms);
    }

    struct api_media m = {.kind = API_MEDIA_VIDEO, .frames = f, .nframes = 3};
    json_t *sig = api_media_signals_json(&m, 1);
    json_t *vs = json_array_get(sig, 2);
    assert_int_equal(json_integer_value(json_object_get(vs, "frames")), 3);
    json_object_del(vs, "frames");
    struct proto_record d;
    struct arena a = {0};
    struct api_err e;
    if (api_parse_signal(vs, &d, &a, "", &e)) fail_msg("refused: %s", e.message);
    assert_int_equal(d.u.signal.stype, PROTO_ST_VPDQ);
    assert_int_equal(d.u.signal.value.n, sizeof packed);
    assert_memory_equal(d.u.signal.value.p, packed, sizeof packed);
    arena_free(&a);
    json_decref(sig);
    sig = api_media_signals_json(&m, 0);
    assert_null(json_object_get(json_array_get(sig, 2), "value"));
    json_decref(sig);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_ok),
        cmocka_unit_test(test_signal_refusals),
        cmocka_unit_test(test_alert_feedback_retraction),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_media_kind),
        cmocka_unit_test(test_media_not_media),
        cmocka_unit_test(test_media_image),
        cmocka_unit_test(test_vpdq_pack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
