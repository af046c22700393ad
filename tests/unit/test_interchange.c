/* gifctl's interchange formats (cli/ix_*.c, docs/interchange.md): STIX, MISP and
 * python-threatexchange CSV readers on hand-written samples, good and malformed; the writers'
 * output read back; stable ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/interchange.h"
#include "util/gif.h"

/* ---- A sink that keeps everything. */

struct got {
    json_t *sigs;    /* signal objects */
    json_t *rejects; /* ["item: why"] */
    json_t *skips;
};

static void g_signal(void *ctx, unsigned long item, json_t *sig, size_t bytes)
{
    struct got *g = ctx;
    (void)item;
    assert_true(bytes > 10);
    json_array_append_new(g->sigs, sig);
}

static void g_reject(void *ctx, unsigned long item, const char *why, const char *value)
{
    struct got *g = ctx;
    (void)value;
    char buf[400];
    snprintf(buf, sizeof buf, "%lu: %s", item, why);
    json_array_append_new(g->rejects, json_string(buf));
}

static void g_skip(void *ctx, unsigned long item, const char *why, const char *value)
{
    struct got *g = ctx;
    (void)value;
    char buf[400];
    snprintf(buf, sizeof buf, "%lu: %s", item, why);
    json_array_append_new(g->skips, json_string(buf));
}

static struct ix_sink sink_of(struct got *g)
{
    g->sigs = json_array();
    g->rejects = json_array();
    g->skips = json_array();
    return (struct ix_sink){.ctx = g, .unit = "item", .signal = g_signal, .reject = g_reject,
                            .skip = g_skip};
}

static void got_free(struct got *g)
{
    json_decref(g->sigs);
    json_decref(g->rejects);
    json_decref(g->skips);
}

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("test JSON does not parse: %s (line %d)", je.text, je.line);
    return j;
}

/* The rejection list joined, for substring checks. */
static const char *joined(const json_t *arr)
{
    static char buf[8192];
    buf[0] = '\0';
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        strncat(buf, json_string_value(v), sizeof buf - strlen(buf) - 2);
        strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
    }
    return buf;
}

static const char *sstr(const json_t *sig, const char *k)
{
    return json_string_value(json_object_get(sig, k));
}

#define MD5A "d41d8cd98f00b204e9800998ecf8427e"
#define SHAA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PDQA "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

/* ---- STIX. */

static const char *STIX_SAMPLE =
    "{\"type\": \"bundle\", \"id\": \"bundle--00000000-0000-4000-8000-000000000001\", "
    "\"objects\": ["
    /* 1 */ "{\"type\": \"identity\", \"id\": \"identity--1\", \"name\": \"Some CERT\"},"
    /* 2 */ "{\"type\": \"indicator\", \"id\": \"indicator--2\", \"created_by_ref\": "
    "\"identity--1\", \"labels\": [\"Attack-Footage\", \"malicious-activity\"], \"confidence\": 70,"
    " \"valid_until\": \"2030-01-01T00:00:00Z\", \"pattern_type\": \"stix\","
    " \"pattern\": \"[file:hashes.MD5 = '" MD5A "']\"},"
    /* 3 */ "{\"type\": \"indicator\", \"id\": \"indicator--3\", \"created_by_ref\": \"identity--9\","
    " \"pattern\": \"([file:hashes.'MD5' = '" MD5A "' OR (file:hashes.'SHA-256' = '" SHAA
    "' AND file:name = 'a.mp4')])\"},"
    /* 4 */ "{\"type\": \"indicator\", \"id\": \"indicator--4\", \"pattern_type\": \"stix\","
    " \"pattern\": \"[url:value = 'http://example.org/it\\\\'s']\"},"
    /* 5 */ "{\"type\": \"indicator\", \"id\": \"indicator--5\", \"revoked\": true,"
    " \"pattern\": \"[file:hashes.MD5 = '" MD5A "']\", \"pattern_type\": \"stix\"},"
    /* 6 */ "{\"type\": \"indicator\", \"id\": \"indicator--6\", \"pattern_type\": \"yara\","
    " \"pattern\": \"rule x { condition: true }\"},"
    /* 7 */ "{\"type\": \"indicator\", \"id\": \"indicator--7\", \"pattern_type\": \"stix\","
    " \"pattern\": \"[ipv4-addr:value = '198.51.100.1']\"},"
    /* 8 */ "{\"type\": \"indicator\", \"pattern_type\": \"pdq\", \"pattern\": \" " PDQA " \"},"
    /* 9 */ "{\"type\": \"relationship\", \"id\": \"relationship--9\"},"
    /* 10 */ "42,"
    /* 11 */ "{\"id\": \"x\"},"
    /* 12 */ "{\"type\": \"indicator\", \"pattern\": 5},"
    /* 13 */ "{\"type\": \"indicator\", \"pattern\": \"[file:hashes.MD5 = 'zz']\"}"
    "]}";

static void test_stix_read(void **state)
{
    (void)state;
    struct got g;
    struct ix_sink s = sink_of(&g);
    json_t *doc = load(STIX_SAMPLE);
    assert_int_equal(ix_detect_json(doc), IX_STIX);
    struct ix_read_stats st;
    char err[200];
    assert_int_equal(ix_stix_read(doc, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.ignored, 2); /* the identity and the relationship */
    assert_int_equal(st.items, 11);
    /* 2: md5; 3: md5 and sha256; 4: url; 8: pdq. */
    assert_int_equal(json_array_size(g.sigs), 5);
    json_t *s0 = json_array_get(g.sigs, 0);
    assert_string_equal(sstr(s0, "type"), "md5");
    assert_string_equal(sstr(s0, "value"), MD5A);
    assert_string_equal(sstr(s0, "source"), "stix:Some CERT");
    assert_int_equal(json_array_size(json_object_get(s0, "labels")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s0, "labels"), 0)),
                        "attack_footage");
    assert_int_equal(json_integer_value(json_object_get(s0, "confidence")), 70);
    assert_int_equal(json_integer_value(json_object_get(s0, "expires")), 1893456000000LL);
    assert_string_equal(sstr(json_array_get(g.sigs, 1), "type"), "md5");
    assert_string_equal(sstr(json_array_get(g.sigs, 2), "type"), "sha256");
    assert_string_equal(sstr(json_array_get(g.sigs, 2), "source"), "stix:identity--9");
    json_t *url = json_array_get(g.sigs, 3);
    assert_string_equal(sstr(url, "type"), "url");
    assert_string_equal(sstr(url, "value"), "http://example.org/it's");
    assert_string_equal(sstr(url, "source"), "stix:bundle--00000000-0000-4000-8000-000000000001");
    assert_string_equal(sstr(json_array_get(g.sigs, 4), "value"), PDQA);
    const char *r = joined(g.rejects);
    assert_non_null(strstr(r, "6: unsupported pattern_type 'yara'"));
    assert_non_null(strstr(r, "7: no file MD5"));
    assert_non_null(strstr(r, "10: not a JSON object"));
    assert_non_null(strstr(r, "11: object without a \"type\""));
    assert_non_null(strstr(r, "12: indicator without a pattern"));
    assert_non_null(strstr(r, "13: md5 value is not 32 hex digits"));
    assert_int_equal(json_array_size(g.rejects), 6);
    assert_string_equal(joined(g.skips), "5: revoked\n");
    json_decref(doc);
    got_free(&g);
}

/* One indicator with pattern p: the number of signals, and the rejection (or ""). */
static size_t one_pattern(const char *p, char *why, size_t whylen)
{
    json_t *doc = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "type", "bundle", "objects", "type",
                            "indicator", "pattern_type", "stix", "pattern", p);
    struct got g;
    struct ix_sink s = sink_of(&g);
    char err[200];
    assert_int_equal(ix_stix_read(doc, &s, NULL, err, sizeof err), 0);
    size_t n = json_array_size(g.sigs);
    snprintf(why, whylen, "%s", json_array_size(g.rejects) ? joined(g.rejects) : "");
    json_decref(doc);
    got_free(&g);
    return n;
}

static void test_stix_patterns(void **state)
{
    (void)state;
    char why[600];
    static const struct {
        const char *pattern;
        size_t n;
        const char *why; /* substring of the rejection, or NULL */
    } cases[] = {
        {"[file:hashes.MD5 = '" MD5A "']", 1, NULL},
        {"[file:hashes.SHA256 = '" SHAA "']", 1, NULL},
        {"[artifact:hashes.'SHA-256' = '" SHAA "']", 1, NULL},
        {"[file:hashes.MD5 = '" MD5A "'] OR [file:hashes.'SHA-256' = '" SHAA "']", 2, NULL},
        {"[file:hashes.MD5 = '" MD5A "' AND NOT file:size = 0]", 1, NULL},
        {"[file:hashes.MD5 != '" MD5A "']", 0, "no file MD5"},
        {"[NOT file:hashes.MD5 = '" MD5A "']", 0, "no file MD5"},
        {"[file:hashes.MD5 LIKE '" MD5A "%']", 0, "no file MD5"},
        {"[file:hashes.'SHA-1' = 'aa']", 0, "no file MD5"},
        {"[file:hashes.MD5 IN ('a', 'b')]", 0, "no file MD5"},
        {"[file:hashes.MD5 = '" MD5A, 0, "unterminated string"},
        {"[file:hashes.MD5 = 'a\\x']", 0, "bad escape"},
        {"file:hashes.MD5 = '" MD5A "'", 0, "'[' expected"},
        {"[file:hashes.MD5 = '" MD5A "'", 0, "']' expected"},
        {"[file:hashes.MD5 '" MD5A "']", 0, "operator expected"},
        {"[file:hashes.MD5 = '" MD5A "'] WITHIN 5 SECONDS", 0, "qualifiers"},
        {"[file:hashes.MD5 = '" MD5A "'] FOLLOWEDBY [file:name = 'x']", 0, "FOLLOWEDBY"},
        {"[file:hashes.MD5 = '" MD5A "'] junk", 0, "unexpected text"},
        {"", 0, "'[' expected"},
        {"[]", 0, "object path expected"},
        {"[file:hashes.MD5 = t'2020-01-01T00:00:00Z']", 0, "no file MD5"},
        {"[url:value = 'not a url']", 0, "not a URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = one_pattern(cases[i].pattern, why, sizeof why);
        if (n != cases[i].n) fail_msg("'%s': %zu signals, want %zu (%s)", cases[i].pattern, n,
                                      cases[i].n, why);
        if (cases[i].why && !strstr(why, cases[i].why))
            fail_msg("'%s': rejected as '%s', want '%s'", cases[i].pattern, why, cases[i].why);
        if (!cases[i].why && *why) fail_msg("'%s': rejected: %s", cases[i].pattern, why);
    }
    /* Deep nesting and long patterns are refused, not recursed into. */
    char deep[400] = "[";
    for (int i = 0; i < 100; i++)
        strcat(deep, "(");
    strcat(deep, "file:hashes.MD5 = '" MD5A "'");
    for (int i = 0; i < 100; i++)
        strcat(deep, ")");
    strcat(deep, "]");
    assert_int_equal(one_pattern(deep, why, sizeof why), 0);
    assert_non_null(strstr(why, "nested too deep"));
    size_t big = 70000;
    char *huge = malloc(big + 1);
    memset(huge, '[', big);
    huge[big] = '\0';
    assert_int_equal(one_pattern(huge, why, sizeof why), 0);
    assert_non_null(strstr(why, "longer than"));
    free(huge);
}

static void test_stix_malformed_documents(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "{}", "{\"type\": \"bundle\", \"objects\": 5}", "{\"type\": 5}", "\"bundle\"",
        "{\"type\": \"report\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = load(bad[i]);
        struct got g;
        struct ix_sink s = sink_of(&g);
        char err[200] = "";
        assert_int_equal(ix_stix_read(doc, &s, NULL, err, sizeof err), -1);
        assert_true(strlen(err) > 10);
        assert_int_equal(json_array_size(g.sigs), 0);
        json_decref(doc);
        got_free(&g);
    }
    /* A bundle without objects is fine and empty. */
    json_t *doc = load("{\"type\": \"bundle\", \"id\": \"bundle--x\"}");
    struct got g;
    struct ix_sink s = sink_of(&g);
    char err[200];
    assert_int_equal(ix_stix_read(doc, &s, NULL, err, sizeof err), 0);
    assert_int_equal(json_array_size(g.sigs) + json_array_size(g.rejects), 0);
    json_decref(doc);
    got_free(&g);
}

static void test_stix_extension_checks(void **state)
{
    (void)state;
    char big_incident[100];
    memset(big_incident, 'i', 99);
    big_incident[99] = '\0';
    json_t *frames = json_array();
    for (int i = 0; i < 4097; i++)
        json_array_append_new(frames, json_pack("{s:s, s:i, s:i, s:f}", "hash", PDQA, "quality",
                                                100, "frame", i, "time", (double)i));
    json_t *doc = json_pack(
        "{s:s, s:[{s:s, s:s, s:s, s:{s:{s:s, s:s}}}, {s:s, s:s, s:s, s:{s:{s:o}}},"
        " {s:s, s:s, s:s, s:{s:{s:s}}}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]}",
        "type", "bundle", "objects",
        /* pdq with an incident over 64 bytes */
        "type", "indicator", "pattern_type", "pdq", "pattern", PDQA, "extensions",
        IX_STIX_EXT_ID, "signal_type", "pdq", "incident", big_incident,
        /* vpdq with 4097 frames */
        "type", "indicator", "pattern_type", "vpdq", "pattern", "[]", "extensions", IX_STIX_EXT_ID,
        "frames", frames,
        /* the extension says md5, the pattern type pdq */
        "type", "indicator", "pattern_type", "pdq", "pattern", PDQA, "extensions", IX_STIX_EXT_ID,
        "signal_type", "md5",
        /* a url-sha256 that is a URL, not a hash */
        "type", "indicator", "pattern_type", "url-sha256", "pattern", "http://example.org/",
        /* a vpdq pattern in python-threatexchange's form, no extension */
        "type", "indicator", "pattern_type", "vpdq", "pattern",
        "[\"" PDQA ",100,0.000\",\"" PDQA ",90,1.5\"]");
    struct got g;
    struct ix_sink s = sink_of(&g);
    char err[200];
    assert_int_equal(ix_stix_read(doc, &s, NULL, err, sizeof err), 0);
    const char *r = joined(g.rejects);
    assert_non_null(strstr(r, "1: incident is longer than 64 bytes"));
    assert_non_null(strstr(r, "2: vpdq value is not a list of 1 to 4096 frames"));
    assert_non_null(strstr(r, "3: gifnet extension's signal_type disagrees"));
    assert_non_null(strstr(r, "4: url-sha256 pattern is not 64 hex digits"));
    assert_int_equal(json_array_size(g.sigs), 1);
    json_t *v = json_object_get(json_array_get(g.sigs, 0), "value");
    assert_int_equal(json_array_size(v), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 1), "frame")), 1);
    assert_true(json_real_value(json_object_get(json_array_get(v, 1), "time")) == 1.5);
    json_decref(doc);
    got_free(&g);
}

/* ---- MISP. */

static const char *MISP_SAMPLE =
    "{\"response\": [{\"Event\": {\"uuid\": \"5e1a0000-0000-4000-8000-000000000001\","
    " \"Orgc\": {\"name\": \"Some CERT\"}, \"Tag\": [{\"name\": \"gifnet:incident=\\\"chc 2019\\\"\"},"
    " {\"name\": \"tlp:green\"}],"
    " \"Attribute\": ["
    /* 1 */ "{\"type\": \"md5\", \"value\": \"" MD5A "\", \"to_ids\": true, \"Tag\": ["
    "{\"name\": \"gifnet:label=\\\"glorification\\\"\"}, {\"name\": \"Attack-Footage\"},"
    " {\"name\": \"gifnet:expires=\\\"2030-01-01T00:00:00Z\\\"\"}]},"
    /* 2 */ "{\"type\": \"filename|sha256\", \"value\": \"a.mp4|" SHAA "\", \"to_ids\": \"1\"},"
    /* 3 */ "{\"type\": \"hex\", \"value\": \"" PDQA "\", \"to_ids\": true, \"Tag\": [{\"name\":"
    " \"gifnet:signal-type=\\\"pdq\\\"\"}]},"
    /* 4 */ "{\"type\": \"ip-dst\", \"value\": \"198.51.100.1\", \"to_ids\": true},"
    /* 5 */ "{\"type\": \"md5\", \"value\": \"" MD5A "\", \"to_ids\": true, \"deleted\": true},"
    /* 6 */ "{\"type\": \"comment\", \"value\": \"context\", \"to_ids\": false},"
    /* 7 */ "{\"type\": \"md5\", \"value\": 5, \"to_ids\": true},"
    /* 8 */ "{\"type\": \"text\", \"value\": \"[\\\"" PDQA ",100,0.0\\\"]\", \"Tag\": [{\"name\":"
    " \"gifnet:signal-type=\\\"vpdq\\\"\"}]},"
    /* 9 */ "{\"type\": \"md5\", \"value\": \"" MD5A "\", \"Tag\": [{\"name\":"
    " \"gifnet:confidence=\\\"500\\\"\"}]},"
    /* 10 */ "[]"
    "], \"Object\": [{\"name\": \"file\", \"Attribute\": ["
    /* 11 */ "{\"type\": \"url\", \"value\": \"https://example.org/x\"}]}]}},"
    " {\"Event\": {\"id\": 77, \"Attribute\": ["
    /* 12 */ "{\"type\": \"sha256\", \"value\": \"" SHAA "\"}]}}, 5]}";

static void test_misp_read(void **state)
{
    (void)state;
    json_t *doc = load(MISP_SAMPLE);
    assert_int_equal(ix_detect_json(doc), IX_MISP);
    struct got g;
    struct ix_sink s = sink_of(&g);
    struct ix_read_stats st;
    char err[200];
    assert_int_equal(ix_misp_read(doc, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.items, 12);
    assert_int_equal(st.ignored, 1);
    assert_int_equal(json_array_size(g.sigs), 6);
    json_t *a = json_array_get(g.sigs, 0);
    assert_string_equal(sstr(a, "type"), "md5");
    assert_string_equal(sstr(a, "incident"), "chc 2019");
    assert_string_equal(sstr(a, "source"),
                        "misp:Some CERT/event 5e1a0000-0000-4000-8000-000000000001");
    assert_int_equal(json_array_size(json_object_get(a, "labels")), 2);
    assert_int_equal(json_integer_value(json_object_get(a, "expires")), 1893456000000LL);
    assert_string_equal(sstr(json_array_get(g.sigs, 1), "value"), SHAA);
    assert_string_equal(sstr(json_array_get(g.sigs, 2), "type"), "pdq");
    assert_string_equal(sstr(json_array_get(g.sigs, 3), "type"), "vpdq");
    assert_string_equal(sstr(json_array_get(g.sigs, 4), "type"), "url");
    json_t *last = json_array_get(g.sigs, 5);
    assert_string_equal(sstr(last, "source"), "misp:event 77");
    assert_null(json_object_get(last, "incident"));
    const char *r = joined(g.rejects);
    assert_non_null(strstr(r, "4: unsupported attribute type 'ip-dst'"));
    assert_non_null(strstr(r, "7: attribute without a string \"value\""));
    assert_non_null(strstr(r, "9: confidence tag is not 0..100"));
    assert_non_null(strstr(r, "10: attribute is not a JSON object"));
    assert_int_equal(json_array_size(g.rejects), 4);
    r = joined(g.skips);
    assert_non_null(strstr(r, "5: deleted"));
    assert_non_null(strstr(r, "6: to_ids is false"));
    json_decref(doc);
    got_free(&g);
}

static void test_misp_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {"{\"Event\": []}", "{\"response\": 5}", "{}", "[1, 2]",
                                      "{\"Event\": \"x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = load(bad[i]);
        struct got g;
        struct ix_sink s = sink_of(&g);
        char err[200] = "";
        if (ix_misp_read(doc, &s, NULL, err, sizeof err) == 0) {
            /* A list of non-events reads as nothing. */
            assert_int_equal(json_array_size(g.sigs), 0);
        } else {
            assert_true(strlen(err) > 10);
        }
        json_decref(doc);
        got_free(&g);
    }
    /* A very long organisation name: the source is cut to 128 bytes, on a character. */
    char org[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(org, "\xc3\xa9"); /* é */
    json_t *doc = json_pack("{s:{s:s, s:{s:s}, s:[{s:s, s:s}]}}", "Event", "uuid",
                            "5e1a0000-0000-4000-8000-000000000001", "Orgc", "name", org,
                            "Attribute", "type", "md5", "value", MD5A);
    struct got g;
    struct ix_sink s = sink_of(&g);
    char err[200];
    assert_int_equal(ix_misp_read(doc, &s, NULL, err, sizeof err), 0);
    assert_int_equal(json_array_size(g.sigs), 1);
    const char *src = sstr(json_array_get(g.sigs, 0), "source");
    assert_true(strlen(src) <= 128);
    assert_non_null(strstr(src, "/event 5e1a0000-0000-4000-8000-000000000001"));
    json_t *js = json_string(src); /* still valid UTF-8 */
    assert_non_null(js);
    json_decref(js);
    json_decref(doc);
    got_free(&g);
}

/* ---- CSV. */

/* Reads a CSV text (header first) as import.c does, one record per line. */
static void read_csv(const char *text, enum ix_format fmt, struct got *g, bool *te)
{
    struct ix_sink s = sink_of(g);
    char *copy = strdup(text);
    struct ix_csv c;
    unsigned long line = 0;
    bool header = false;
    for (char *ln = strtok(copy, "\n"); ln; ln = strtok(NULL, "\n")) {
        line++;
        char *fields[IX_CSV_FIELDS_MAX];
        int nf = ix_csv_split(ln, fields, IX_CSV_FIELDS_MAX);
        assert_true(nf > 0);
        if (!header) {
            char err[200];
            assert_int_equal(ix_csv_header(&c, fmt, "/tmp/x/te.csv", fields, nf, err, sizeof err),
                             0);
            header = true;
            continue;
        }
        ix_csv_row(&c, line, fields, nf, strlen(ln), &s);
    }
    *te = c.te;
    free(copy);
}

static void test_te_csv_read(void **state)
{
    (void)state;
    const char *csv =
        "collab,signal_type,signal_str,category,tags\n"
        "Sample,video_md5," MD5A ",POSITIVE_CLASS,attack-footage gifnet:incident=chc%202019 "
        "gifnet:expires=2030-01-01T00:00:00.000Z\n"
        "Sample,pdq," PDQA ",TRUE_POSITIVE,\n"
        "Sample,video_sha256," SHAA ",NEGATIVE_CLASS,\n"
        "Sample,vpdq,\"[\"\"" PDQA ",100,0.000\"\",\"\"" PDQA ",50,1.234\"\"]\",,\n"
        "Sample,raw_text,hello,,\n"
        "Sample,vpdq,\"[\"\"" PDQA ",100\"\"]\",,\n"
        "Sample,pdq," PDQA ",,gifnet:incident=%zz\n"
        "Sample,pdq,abc,,\n"
        "Sample,url_md5," MD5A ",,\n";
    struct got g;
    bool te;
    read_csv(csv, IX_NONE, &g, &te);
    assert_true(te);
    assert_int_equal(json_array_size(g.sigs), 3);
    json_t *a = json_array_get(g.sigs, 0);
    assert_string_equal(sstr(a, "type"), "md5");
    assert_string_equal(sstr(a, "incident"), "chc 2019");
    assert_string_equal(sstr(a, "source"), "te-csv:te.csv/Sample");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "labels"), 0)),
                        "attack_footage");
    assert_int_equal(json_integer_value(json_object_get(a, "expires")), 1893456000000LL);
    json_t *v = json_object_get(json_array_get(g.sigs, 2), "value");
    assert_int_equal(json_array_size(v), 2);
    assert_true(json_real_value(json_object_get(json_array_get(v, 1), "time")) == 1.234);
    const char *r = joined(g.rejects);
    assert_non_null(strstr(r, "6: unsupported signal_type"));
    assert_non_null(strstr(r, "7: vpdq frame"));
    assert_non_null(strstr(r, "8: broken percent-escape"));
    assert_non_null(strstr(r, "9: pdq value is not 64 hex digits"));
    assert_non_null(strstr(r, "10: unsupported signal_type"));
    assert_int_equal(json_array_size(g.rejects), 5);
    assert_string_equal(joined(g.skips), "4: category is a false positive\n");
    got_free(&g);

    /* gifctl's own CSV: no source, and a header without the needed columns is refused. */
    read_csv("signal_type,signal,labels\nmd5," MD5A ",threat\n", IX_NONE, &g, &te);
    assert_false(te);
    assert_int_equal(json_array_size(g.sigs), 1);
    assert_null(json_object_get(json_array_get(g.sigs, 0), "source"));
    got_free(&g);
    char hdr[] = "collab,signal_str", *fields[8], err[200];
    struct ix_csv c;
    int nf = ix_csv_split(hdr, fields, 8);
    assert_int_equal(ix_csv_header(&c, IX_TECSV, "x", fields, nf, err, sizeof err), -1);
    assert_non_null(strstr(err, "signal_type"));
}

static void test_csv_split(void **state)
{
    (void)state;
    char s1[] = "a,\"b,c\",\"d\"\"e\",";
    char *f[8];
    assert_int_equal(ix_csv_split(s1, f, 8), 4);
    assert_string_equal(f[1], "b,c");
    assert_string_equal(f[2], "d\"e");
    assert_string_equal(f[3], "");
    char s2[] = "a,\"open";
    assert_int_equal(ix_csv_split(s2, f, 8), -1);
    char s3[] = "1,2,3,4,5,6,7,8,9,10";
    assert_int_equal(ix_csv_split(s3, f, 4), 10); /* counted, only 4 stored */
}

/* ---- Writers, read back. */

static json_t *record(const char *type, json_t *value, const char *incident, const char *expires,
                      bool retracted, int n)
{
    char id[65], time[40];
    snprintf(id, sizeof id, "%064x", n);
    snprintf(time, sizeof time, "2026-11-22T03:30:%02d.123Z", n);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:o, s:[s], s:s, s:s, s:s,"
                     " s:i, s:o, s:b}}",
                     "id", id, "kind", "signal", "origin",
                     "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664", "org",
                     "CTU", "role", "agency", "time", time, "retracted", retracted, "body", "type",
                     type, "value", value, "labels", "attack_footage", "entity", "", "incident",
                     incident, "content_type", "video", "confidence", 90, "expires",
                     expires ? json_string(expires) : json_null(), "verified", false);
}

static json_t *records(void)
{
    json_t *frames = json_pack("[{s:s, s:i, s:i, s:f}, {s:s, s:i, s:i, s:f}]", "hash", PDQA,
                               "quality", 100, "frame", 0, "time", 0.0, "hash", PDQA, "quality",
                               80, "frame", 1, "time", 1.5);
    return json_pack("[o, o, o, o, o, o, {s:s}]",
                     record("md5", json_string(MD5A), "chc 2019", "2030-01-01T00:00:00.000Z",
                            false, 1),
                     record("sha256", json_string(SHAA), "", NULL, false, 2),
                     record("pdq", json_string(PDQA), "chc 2019", NULL, false, 3),
                     record("url", json_string(SHAA), "", NULL, false, 4),
                     record("vpdq", frames, "chc 2019", NULL, false, 5),
                     record("pdq", json_string(MD5A MD5A), "", NULL, true, 6), "kind", "alert");
}

static char *write_all(enum ix_format fmt, const json_t *recs, struct ix_write_stats *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *members = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "members", "key",
                                "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664",
                                "org", "CTU", "role", "agency", "not_before",
                                "2026-01-01T00:00:00.000Z");
    struct ix_writer *w = ix_writer_new(fmt, f, members);
    json_decref(members);
    assert_non_null(w);
    size_t i;
    const json_t *r;
    json_array_foreach(recs, i, r) assert_int_equal(ix_writer_add(w, r), 0);
    assert_int_equal(ix_writer_finish(w, st), 0);
    ix_writer_free(w);
    fclose(f);
    return buf;
}

/* The signals as sorted compact JSON of (type, value, labels, incident, expires). */
static char *norm(const json_t *sigs)
{
    json_t *out = json_array();
    size_t i;
    const json_t *s;
    json_array_foreach(sigs, i, s)
    {
        json_t *v = json_deep_copy(json_object_get(s, "value"));
        size_t k;
        json_t *fr;
        json_array_foreach(v, k, fr) json_object_set_new(fr, "time",
                                                         json_real(json_number_value(
                                                             json_object_get(fr, "time"))));
        const json_t *e = json_object_get(s, "expires");
        char exp[40] = "";
        if (json_is_integer(e)) {
            snprintf(exp, sizeof exp, "%lld", (long long)json_integer_value(e));
        } else if (json_is_string(e)) {
            uint64_t ms;
            gif_time_parse(json_string_value(e), &ms);
            snprintf(exp, sizeof exp, "%llu", (unsigned long long)ms);
        }
        const char *inc = sstr(s, "incident");
        json_array_append_new(out, json_pack("{s:O, s:o, s:O, s:s, s:s}", "type",
                                             json_object_get(s, "type"), "value", v, "labels",
                                             json_object_get(s, "labels"), "incident",
                                             inc ? inc : "", "expires", exp));
    }
    /* sort by dumped text */
    size_t n = json_array_size(out);
    char **texts = calloc(n, sizeof *texts);
    for (i = 0; i < n; i++)
        texts[i] = json_dumps(json_array_get(out, i), JSON_COMPACT | JSON_SORT_KEYS);
    for (i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(texts[j - 1], texts[j]) > 0; j--) {
            char *t = texts[j];
            texts[j] = texts[j - 1];
            texts[j - 1] = t;
        }
    size_t total = 3;
    for (i = 0; i < n; i++)
        total += strlen(texts[i]) + 1;
    char *res = calloc(1, total);
    for (i = 0; i < n; i++) {
        strcat(res, texts[i]);
        strcat(res, "\n");
        free(texts[i]);
    }
    free(texts);
    json_decref(out);
    return res;
}

static void round_trip(enum ix_format fmt, size_t want_written, size_t want_skipped)
{
    json_t *recs = records();
    struct ix_write_stats st;
    char *text = write_all(fmt, recs, &st);
    assert_int_equal(st.records, 7);
    assert_int_equal(st.written, want_written);
    assert_int_equal(st.skipped, want_skipped);
    char *again = write_all(fmt, recs, NULL);
    assert_string_equal(text, again); /* reproducible */
    free(again);

    struct got g;
    if (fmt == IX_TECSV) {
        bool te;
        read_csv(text, IX_NONE, &g, &te);
        assert_true(te);
    } else {
        json_error_t je;
        json_t *doc = json_loads(text, 0, &je);
        if (!doc) fail_msg("%s output does not parse: %s\n%s", ix_format_name(fmt), je.text, text);
        assert_int_equal(ix_detect_json(doc), fmt);
        struct ix_sink s = sink_of(&g);
        char err[200];
        int rc = fmt == IX_STIX ? ix_stix_read(doc, &s, NULL, err, sizeof err)
                                : ix_misp_read(doc, &s, NULL, err, sizeof err);
        assert_int_equal(rc, 0);
        json_decref(doc);
    }
    if (json_array_size(g.rejects)) fail_msg("rejected: %s", joined(g.rejects));
    assert_int_equal(json_array_size(g.skips), 1); /* the retracted pdq */
    /* What went in, minus the retracted one (and the url for te-csv). */
    json_t *want = json_array();
    size_t i;
    const json_t *r;
    json_array_foreach(recs, i, r)
    {
        const json_t *b = json_object_get(r, "body");
        if (!b || json_is_true(json_object_get(r, "retracted"))) continue;
        if (fmt == IX_TECSV && strcmp(sstr(b, "type"), "url") == 0) continue;
        json_array_append(want, (json_t *)b);
    }
    char *a = norm(want), *b = norm(g.sigs);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(want);
    got_free(&g);
    json_decref(recs);
    free(text);
}

static void test_stix_round_trip(void **state)
{
    (void)state;
    round_trip(IX_STIX, 6, 0);
}

static void test_misp_round_trip(void **state)
{
    (void)state;
    round_trip(IX_MISP, 6, 0);
}

static void test_te_round_trip(void **state)
{
    (void)state;
    round_trip(IX_TECSV, 5, 1);
}

/* ---- Alerts and incident records (export only; the hashes an alert carries come back). */

#define KEY_CTU "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
#define KEY_VS "0f3f8d2a735f0f3f8d2a735f0f3f8d2a735f0f3f8d2a735f0f3f8d2a735f0f3f"

static json_t *rec_base(const char *kind, const char *origin, const char *org, const char *role,
                        int n, int sec)
{
    char id[65], time[40];
    snprintf(id, sizeof id, "%064x", n);
    snprintf(time, sizeof time, "2026-11-22T03:31:%02d.000Z", sec);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", id, "kind", kind, "origin",
                     origin, "org", org, "role", role, "time", time, "retracted", false);
}

static json_t *alert_rec(int n, int sec, const char *incident, const char *level, bool retracted,
                         json_t *signals)
{
    json_t *r = rec_base("alert", KEY_VS, "VideoShare", "platform", n, sec);
    json_object_set_new(r, "retracted", json_boolean(retracted));
    json_object_set_new(r, "body",
                        json_pack("{s:s, s:s, s:s, s:s, s:f, s:o, s:s}", "incident", incident,
                                  "level", level, "detector", "live-detector", "detector_version",
                                  "3.1", "score", 0.97, "signals", signals, "note",
                                  "livestream of an attack"));
    return r;
}

static json_t *incident_rec(int n, int sec, const char *action, const char *level)
{
    json_t *r = rec_base("incident", KEY_CTU, "CTU", "agency", n, sec);
    json_object_set_new(r, "body",
                        json_pack("{s:s, s:s, s:s, s:s}", "incident", "chc", "action", action,
                                  "level", level, "note", "verified"));
    return r;
}

/* A signal under chc, an alert on chc carrying an md5 and a pdq, a retracted alert on x, an
 * escalation of chc and, later in the feed but earlier in time, a de-escalation. */
static json_t *incident_records(void)
{
    json_t *sig = record("sha256", json_string(SHAA), "chc", NULL, false, 1);
    return json_pack("[o, o, o, o, o, {s:s, s:{}}]", sig,
                     alert_rec(2, 10, "chc", "content_incident", false,
                               json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "md5", "value", MD5A,
                                         "type", "pdq", "value", PDQA)),
                     alert_rec(3, 11, "x", "situational_awareness", true,
                               json_pack("[{s:s, s:s}]", "type", "md5", "value", MD5A)),
                     incident_rec(4, 30, "escalate", "content_incident_protocol"),
                     incident_rec(5, 20, "deescalate", "content_incident"), "kind", "alert",
                     "body");
}

/* The objects of a bundle of the given type. */
static json_t *of_type(const json_t *bundle, const char *type)
{
    json_t *out = json_array();
    size_t i;
    const json_t *o;
    json_array_foreach(json_object_get(bundle, "objects"), i,
                       o) if (strcmp(sstr(o, "type"), type) == 0)
        json_array_append(out, (json_t *)o);
    return out;
}

static const json_t *ext_of(const json_t *o)
{
    return json_object_get(json_object_get(o, "extensions"),
                           "extension-definition--650ffc11-6923-4a5a-ab31-ae86ad696825");
}

static void test_stix_alerts_and_incidents(void **state)
{
    (void)state;
    json_t *recs = incident_records();
    struct ix_write_stats st;
    char *text = write_all(IX_STIX, recs, &st);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.alerts, 2);
    assert_int_equal(st.incidents, 2);
    char *again = write_all(IX_STIX, recs, NULL);
    assert_string_equal(text, again); /* reproducible */
    free(again);
    json_t *doc = load(text);

    /* One incident object per incident, with the folded state: the escalation is the latest
     * by time, whatever the feed order; x has only a (retracted) alert. */
    char chc[48], x[48], u[37];
    ix_uuid5(u, "incident:chc");
    snprintf(chc, sizeof chc, "incident--%s", u);
    ix_uuid5(u, "incident:x");
    snprintf(x, sizeof x, "incident--%s", u);
    json_t *incs = of_type(doc, "incident");
    assert_int_equal(json_array_size(incs), 2);
    const json_t *ic = json_array_get(incs, 0), *ix = json_array_get(incs, 1);
    assert_string_equal(sstr(ic, "id"), chc);
    assert_string_equal(sstr(ic, "name"), "chc");
    assert_string_equal(sstr(ext_of(ic), "level"), "content_incident_protocol");
    assert_string_equal(sstr(ext_of(ic), "status"), "open");
    assert_string_equal(sstr(ic, "created"), "2026-11-22T03:30:01.123Z"); /* the signal */
    assert_string_equal(sstr(ic, "modified"), "2026-11-22T03:31:30.000Z");
    assert_string_equal(sstr(ix, "id"), x);
    assert_string_equal(sstr(ext_of(ix), "level"), "situational_awareness");

    /* An alert: a sighting of its incident by its origin, with the detector's words. */
    json_t *sight = of_type(doc, "sighting");
    assert_int_equal(json_array_size(sight), 2);
    const json_t *s0 = json_array_get(sight, 0);
    ix_uuid5(u, "sighting:0000000000000000000000000000000000000000000000000000000000000002");
    char want[64];
    snprintf(want, sizeof want, "sighting--%s", u);
    assert_string_equal(sstr(s0, "id"), want);
    assert_string_equal(sstr(s0, "sighting_of_ref"), chc);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(s0, "where_sighted_refs"), 0)),
        sstr(s0, "created_by_ref"));
    assert_int_equal(json_integer_value(json_object_get(s0, "confidence")), 97);
    const json_t *e0 = ext_of(s0);
    assert_string_equal(sstr(e0, "kind"), "alert");
    assert_string_equal(sstr(e0, "detector"), "live-detector");
    assert_string_equal(sstr(e0, "detector_version"), "3.1");
    assert_int_equal(json_integer_value(json_object_get(e0, "score")), 9700);
    assert_string_equal(sstr(e0, "level"), "content_incident");
    assert_string_equal(sstr(e0, "note"), "livestream of an attack");
    assert_int_equal(json_array_size(json_object_get(e0, "indicators")), 2);
    assert_non_null(strstr(sstr(s0, "description"), "detector live-detector 3.1, score 0.9700"));
    assert_null(json_object_get(s0, "revoked"));
    assert_true(json_is_true(json_object_get(json_array_get(sight, 1), "revoked")));

    /* Its hashes: indicators, found from the sighting, related to the incident. */
    json_t *inds = of_type(doc, "indicator");
    assert_int_equal(json_array_size(inds), 4); /* the signal's, two carried, one retracted */
    size_t i;
    const json_t *o;
    int carried = 0;
    json_array_foreach(inds, i, o)
    {
        const json_t *e = ext_of(o);
        if (!json_object_get(e, "alert_signal")) continue;
        carried++;
        assert_string_equal(sstr(e, "incident"), sstr(e, "record")[63] == '2' ? "chc" : "x");
        assert_int_equal(json_integer_value(json_object_get(o, "confidence")), 97);
        assert_non_null(strstr(sstr(o, "name"), "(alert on "));
    }
    assert_int_equal(carried, 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(e0, "indicators"), 1)),
                        sstr(json_array_get(inds, 2), "id")); /* the signal's comes first */
    json_t *rels = of_type(doc, "relationship");
    assert_int_equal(json_array_size(rels), 4); /* every indicator names an incident */
    json_array_foreach(rels, i, o)
    {
        assert_string_equal(sstr(o, "relationship_type"), "related-to");
        assert_true(strcmp(sstr(o, "target_ref"), chc) == 0 ||
                    strcmp(sstr(o, "target_ref"), x) == 0);
    }

    /* An incident record: a note on the incident. */
    json_t *notes = of_type(doc, "note");
    assert_int_equal(json_array_size(notes), 2);
    const json_t *n0 = json_array_get(notes, 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(n0, "object_refs"), 0)),
                        chc);
    assert_string_equal(sstr(n0, "content"), "verified");
    assert_string_equal(sstr(ext_of(n0), "action"), "escalate");
    assert_string_equal(sstr(ext_of(n0), "level"), "content_incident_protocol");
    assert_non_null(strstr(sstr(n0, "abstract"), "escalate"));

    /* Read back: the signal and the hashes of the standing alert come back as signals, with
     * the incident and the detector's score as confidence; the rest is not imported. */
    struct got g;
    struct ix_sink sk = sink_of(&g);
    struct ix_read_stats rs;
    char err[200];
    assert_int_equal(ix_stix_read(doc, &sk, &rs, err, sizeof err), 0);
    if (json_array_size(g.rejects)) fail_msg("rejected: %s", joined(g.rejects));
    assert_int_equal(json_array_size(g.sigs), 3);
    assert_int_equal(json_array_size(g.skips), 1); /* the retracted alert's md5 */
    assert_int_equal(rs.ignored, json_array_size(json_object_get(doc, "objects")) - 4);
    int from_alert = 0;
    json_array_foreach(g.sigs, i, o)
    {
        assert_string_equal(sstr(o, "incident"), "chc");
        if (json_integer_value(json_object_get(o, "confidence")) == 97) from_alert++;
    }
    assert_int_equal(from_alert, 2);
    got_free(&g);

    json_decref(inds);
    json_decref(rels);
    json_decref(notes);
    json_decref(sight);
    json_decref(incs);
    json_decref(doc);
    free(text);
    json_decref(recs);
}

/* The event of a MISP export whose info names org and incident (NULL: none). */
static const json_t *event_of(const json_t *doc, const char *org, const char *incident)
{
    size_t i;
    const json_t *e;
    char info[200];
    if (incident)
        snprintf(info, sizeof info, "gifnet: incident %s (%s)", incident, org);
    else
        snprintf(info, sizeof info, "gifnet: signals without an incident (%s)", org);
    json_array_foreach(json_object_get(doc, "response"), i, e)
    {
        const json_t *ev = json_object_get(e, "Event");
        if (strcmp(sstr(ev, "info"), info) == 0) return ev;
    }
    fail_msg("no event '%s'", info);
    return NULL;
}

static bool has_tag(const json_t *obj, const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(obj, "Tag"), i,
                       t) if (strcmp(sstr(t, "name"), name) == 0) return true;
    return false;
}

static void test_misp_alerts_and_incidents(void **state)
{
    (void)state;
    json_t *recs = incident_records();
    struct ix_write_stats st;
    char *text = write_all(IX_MISP, recs, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.alerts, 2);
    assert_int_equal(st.incidents, 2);
    char *again = write_all(IX_MISP, recs, NULL);
    assert_string_equal(text, again);
    free(again);
    json_t *doc = load(text);
    assert_int_equal(json_array_size(json_object_get(doc, "response")), 3);

    /* chc is at the content incident protocol (the latest incident record by time): high,
     * for both organisations' events; x, situational awareness: low. */
    const json_t *ctu = event_of(doc, "CTU", "chc"), *vs = event_of(doc, "VideoShare", "chc");
    const json_t *vx = event_of(doc, "VideoShare", "x");
    assert_string_equal(sstr(ctu, "threat_level_id"), "1");
    assert_string_equal(sstr(vs, "threat_level_id"), "1");
    assert_string_equal(sstr(vx, "threat_level_id"), "3");
    assert_true(has_tag(vs, "gifnet:level=\"content_incident_protocol\""));
    assert_true(has_tag(vs, "gifnet:status=\"open\""));
    assert_true(has_tag(vx, "gifnet:level=\"situational_awareness\""));

    /* VideoShare's chc event: the alert's two hashes and the alert as a comment. */
    const json_t *attrs = json_object_get(vs, "Attribute");
    assert_int_equal(json_array_size(attrs), 3);
    const json_t *a0 = json_array_get(attrs, 0), *ac = json_array_get(attrs, 2);
    assert_string_equal(sstr(a0, "type"), "md5");
    assert_true(json_is_true(json_object_get(a0, "to_ids")));
    assert_true(has_tag(a0, "gifnet:alert=\"0000000000000000000000000000000000000000000000000000"
                            "000000000002\""));
    assert_true(has_tag(a0, "gifnet:confidence=\"97\""));
    assert_string_equal(sstr(json_array_get(attrs, 1), "type"), "hex");
    assert_string_equal(sstr(ac, "type"), "comment");
    assert_false(json_is_true(json_object_get(ac, "to_ids")));
    assert_non_null(strstr(sstr(ac, "value"), "detector live-detector 3.1, score 0.9700"));
    assert_true(has_tag(ac, "gifnet:kind=\"alert\""));
    assert_true(has_tag(ac, "gifnet:score=\"0.9700\""));
    /* The CTU's: the signal and its two incident records. */
    attrs = json_object_get(ctu, "Attribute");
    assert_int_equal(json_array_size(attrs), 3);
    ac = json_array_get(attrs, 1);
    assert_string_equal(sstr(ac, "type"), "comment");
    assert_non_null(
        strstr(sstr(ac, "value"), "escalate, level content_incident_protocol: verified"));
    assert_true(has_tag(ac, "gifnet:action=\"escalate\""));
    /* The retracted alert: deleted. */
    attrs = json_object_get(vx, "Attribute");
    assert_true(json_is_true(json_object_get(json_array_get(attrs, 0), "deleted")));

    /* Read back: the signal and the standing alert's hashes; comments and deleted skipped. */
    struct got g;
    struct ix_sink sk = sink_of(&g);
    char err[200];
    assert_int_equal(ix_misp_read(doc, &sk, NULL, err, sizeof err), 0);
    if (json_array_size(g.rejects)) fail_msg("rejected: %s", joined(g.rejects));
    assert_int_equal(json_array_size(g.sigs), 3);
    assert_int_equal(json_array_size(g.skips), 5); /* 4 comments, the retracted alert's md5 */
    size_t i;
    const json_t *o;
    json_array_foreach(g.sigs, i, o) assert_string_equal(sstr(o, "incident"), "chc");
    got_free(&g);

    /* te-csv has no form for them: only the signal. */
    char *te = write_all(IX_TECSV, recs, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.alerts, 0);
    free(te);
    json_decref(doc);
    free(text);
    json_decref(recs);
}

static void test_empty_exports(void **state)
{
    (void)state;
    json_t *none = json_array();
    for (enum ix_format f = IX_STIX; f <= IX_TECSV; f++) {
        if (f == IX_TECSV) continue;
        char *text = write_all(f, none, NULL);
        json_error_t je;
        json_t *doc = json_loads(text, 0, &je);
        if (!doc) fail_msg("empty %s export is not JSON: %s", ix_format_name(f), text);
        json_decref(doc);
        free(text);
    }
    json_decref(none);
}

static void test_ids_and_text(void **state)
{
    (void)state;
    char u[37];
    ix_uuid5(u, "hello");
    assert_string_equal(u, "89b89b48-a717-5d7c-82f7-e32d05675272"); /* Python's uuid.uuid5 */
    char src[IX_SOURCE_MAX + 1];
    char longname[300];
    memset(longname, 'x', 299);
    longname[299] = '\0';
    ix_source(src, "stix:", longname);
    assert_int_equal(strlen(src), 128);
    char l[40];
    assert_true(ix_label_norm("Attack-Footage", l, sizeof l));
    assert_string_equal(l, "attack_footage");
    assert_false(ix_label_norm("malicious-activity", l, sizeof l));
    assert_int_equal(ix_format_parse("te-csv"), IX_TECSV);
    assert_int_equal(ix_format_parse("openioc"), IX_NONE);
    char why[200];
    json_t *sig = json_pack("{s:s, s:s, s:s}", "type", "md5", "value", MD5A, "colour", "red");
    assert_non_null(ix_check_signal(sig, why, sizeof why));
    assert_non_null(strstr(why, "unknown field"));
    json_decref(sig);
    char big[200];
    memset(big, 's', 199);
    big[199] = '\0';
    sig = json_pack("{s:s, s:s, s:s}", "type", "md5", "value", MD5A, "source", big);
    assert_non_null(ix_check_signal(sig, why, sizeof why));
    assert_non_null(strstr(why, "source is longer than 128"));
    json_decref(sig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stix_read),
        cmocka_unit_test(test_stix_patterns),
        cmocka_unit_test(test_stix_malformed_documents),
        cmocka_unit_test(test_stix_extension_checks),
        cmocka_unit_test(test_misp_read),
        cmocka_unit_test(test_misp_malformed),
        cmocka_unit_test(test_te_csv_read),
        cmocka_unit_test(test_csv_split),
        cmocka_unit_test(test_stix_round_trip),
        cmocka_unit_test(test_misp_round_trip),
        cmocka_unit_test(test_te_round_trip),
        cmocka_unit_test(test_stix_alerts_and_incidents),
        cmocka_unit_test(test_misp_alerts_and_incidents),
        cmocka_unit_test(test_empty_exports),
        cmocka_unit_test(test_ids_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
