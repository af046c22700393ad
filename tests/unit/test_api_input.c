/* Request validation: every refusal names the field and quotes the value. */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_ok),
        cmocka_unit_test(test_signal_refusals),
        cmocka_unit_test(test_alert_feedback_retraction),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
