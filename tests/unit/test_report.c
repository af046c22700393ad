/* gifctl report's aggregation (cli/report.c) and renderings (cli/svg.c), fed hand-built
 * record objects of the shape GET /v1/records gives: no node involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/report.h"
#include "util/gif.h"

#define DAY REPORT_DAY_MS
#define T0 1795000000000ull /* 2026-11-18T11:06:40Z */
#define NOW (T0 + 30 * DAY)

static int serial;

/* A 64-hex id from a small number. */
static const char *hexid(char out[65], int n)
{
    snprintf(out, 65, "%064x", n);
    return out;
}

static json_t *base(const char *kind, const char *org, const char *origin, uint64_t t, int seq)
{
    char id[65], when[48];
    gif_time_fmt(when, sizeof when, t);
    int n = ++serial;
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i}", "id", hexid(id, n), "kind", kind,
                          "origin", origin, "org", org, "seq", seq, "time", when, "feed", n);
    return r;
}

/* A signal record; labels is a comma-separated list ("" for none). */
static json_t *signal(const char *org, uint64_t t, const char *type, const char *labels,
                      const char *incident)
{
    json_t *r = base("signal", org, org, t, 1);
    json_t *l = json_array();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", labels);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(l, json_string(tok));
    json_object_set_new(r, "body",
                        json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:n, s:b}", "type", type,
                                  "value", "9e107d9d372bb6826bd81d3542a419d6", "labels", l,
                                  "entity", "", "incident", incident, "content_type", "video",
                                  "confidence", 90, "expires", "verified", 0));
    json_object_set_new(r, "retracted", json_false());
    json_object_set_new(r, "feedback",
                        json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "agree", 0, "disagree", 0,
                                  "seen", 0, "blocked", 0, "false_positive", 0, "orgs_agree", 0,
                                  "orgs_dispute", 0));
    return r;
}

static json_t *alert(const char *org, uint64_t t, const char *incident, const char *level)
{
    json_t *r = base("alert", org, org, t, 1);
    json_object_set_new(r, "body",
                        json_pack("{s:s, s:s, s:s, s:s, s:f, s:[], s:s}", "incident", incident,
                                  "level", level, "detector", "livestream-v2", "detector_version",
                                  "2.1.0", "score", 0.97, "signals", "note", ""));
    return r;
}

static json_t *action(const char *org, uint64_t t, const char *incident, const char *what,
                      const char *level)
{
    json_t *r = base("incident", org, org, t, 1);
    json_object_set_new(r, "body",
                        json_pack("{s:s, s:s, s:s, s:s}", "incident", incident, "action", what,
                                  "level", level, "note", "verified by analyst"));
    return r;
}

static json_t *retraction(const char *org, uint64_t t, const char *target, const char *reason)
{
    json_t *r = base("retraction", org, org, t, 1);
    json_object_set_new(r, "body", json_pack("{s:s, s:s}", "target", target, "reason", reason));
    return r;
}

/* Feedback from node `origin` of `org` (an org may run several nodes), at its seq. */
static json_t *feedback(const char *org, const char *origin, int seq, uint64_t t,
                        const char *target, const char *verdict)
{
    json_t *r = base("feedback", org, origin, t, seq);
    json_object_set_new(
        r, "body", json_pack("{s:s, s:s, s:s}", "target", target, "verdict", verdict, "note", ""));
    return r;
}

/* Adds a record (and drops the caller's reference). */
static void add(struct report *r, json_t *rec)
{
    assert_int_equal(report_add(r, rec), 0);
    json_decref(rec);
}

static json_int_t geti(const json_t *rep, const char *path)
{
    /* path: dot-separated object keys */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = rep;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        v = json_object_get(v, tok);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *gets(const json_t *rep, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = rep;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        v = json_object_get(v, tok);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Renders with fn into a malloc'd string. */
static char *render(int (*fn)(const json_t *, FILE *), const json_t *rep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(rep, f), 0);
    fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Checks that an SVG is well-formed in the ways that matter here: every element closed in
 * order, every '&' an entity, no NaN or infinity, no script or external reference. */
static void assert_svg_ok(const char *s)
{
    assert_true(strncmp(s, "<?xml", 5) == 0);
    char stack[64][32];
    int depth = 0, roots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            assert_true(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                        strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                        strncmp(p, "&apos;", 6) == 0);
            continue;
        }
        if (*p == '>') fail_msg("a bare '>' in text at offset %td", p - s);
        if (*p != '<') continue;
        if (strncmp(p, "<?", 2) == 0) {
            p = strstr(p, "?>");
            assert_non_null(p);
            p++;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
            assert_non_null(p);
            p += 2;
            continue;
        }
        const char *end = strchr(p, '>');
        assert_non_null(end);
        /* No '<' inside a tag: attribute values are escaped. */
        const char *lt = strchr(p + 1, '<');
        assert_true(!lt || lt > end);
        bool closing = p[1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t n = strcspn(name, " \t\n/>");
        assert_true(n > 0 && n < 32);
        if (closing) {
            assert_true(depth > 0);
            depth--;
            assert_true(strlen(stack[depth]) == n && memcmp(stack[depth], name, n) == 0);
        } else if (end[-1] != '/') {
            assert_true(depth < 64);
            if (depth == 0) roots++;
            memcpy(stack[depth], name, n);
            stack[depth][n] = '\0';
            depth++;
        }
        p = end;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "NaN"));
    assert_null(strstr(s, "inf"));
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "href"));
    assert_null(strstr(s, "@import"));
}

static void test_empty_log(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    assert_non_null(r);
    json_t *rep = report_build(r, NOW);
    assert_non_null(rep);
    assert_int_equal(geti(rep, "records.total"), 0);
    assert_int_equal(geti(rep, "signals.total"), 0);
    assert_int_equal(json_object_size(json_object_get(json_object_get(rep, "signals"), "by_label")),
                     0);
    assert_int_equal(geti(rep, "retractions.total"), 0);
    assert_int_equal(json_array_size(json_object_get(rep, "incidents")), 0);
    assert_int_equal(geti(rep, "disputes.total"), 0);
    assert_true(json_is_null(json_object_get(rep, "node")));
    assert_non_null(strstr(gets(rep, "scope"), "consortium-wide"));
    char *txt = render(report_write_text, rep);
    assert_non_null(strstr(txt, "Signals: 0"));
    assert_non_null(strstr(txt, "consortium-wide as seen by this node"));
    free(txt);
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_non_null(strstr(svg, "no signals in this period"));
    assert_int_equal(count(svg, "class=\"incident-start\""), 0);
    free(svg);
    char *js = render(report_write_json, rep);
    json_t *back = json_loads(js, 0, NULL);
    assert_non_null(back);
    json_decref(back);
    free(js);
    json_decref(rep);
    report_free(r);
}

static void test_counts(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    json_t *st =
        json_pack("{s:{s:s, s:s, s:s}}", "node", "key", "ab", "org", "CTU", "role", "agency");
    report_set_node(r, st);
    json_decref(st);
    json_t *members = json_pack("{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "members", "org", "CTU",
                                "role", "agency", "org", "Platform A", "role", "platform", "org",
                                "Quiet Platform", "role", "platform");
    report_set_members(r, members);
    json_decref(members);

    add(r, signal("CTU", T0, "md5", "attack_footage,glorification", ""));
    add(r, signal("CTU", T0 + 1000, "pdq", "attack_footage", ""));
    add(r, signal("Platform A", T0 + 2 * DAY, "md5", "propaganda", ""));
    add(r, signal("Platform A", T0 + 20 * DAY, "url", "", "")); /* December */
    json_t *v = signal("Platform A", T0 + 21 * DAY, "sha256", "recruitment", "");
    json_object_set_new(json_object_get(v, "body"), "source", json_string("stix:acme"));
    json_object_set_new(json_object_get(v, "body"), "verified", json_true());
    add(r, v);
    /* A record of a kind this build does not know, and a malformed one. */
    json_t *odd = base("attestation", "CTU", "CTU", T0, 9);
    json_object_set_new(odd, "body", json_object());
    add(r, odd);
    json_t *junk = json_pack("{s:i}", "seq", 3);
    assert_int_equal(report_add(r, junk), -1);
    json_decref(junk);
    json_t *root = base("membership", "consortium", "root", T0, 1);
    json_object_set_new(root, "role", json_string("root"));
    add(r, root);
    report_set_cursor(r, "42");

    json_t *rep = report_build(r, NOW);
    assert_int_equal(geti(rep, "records.total"), 8);
    assert_int_equal(geti(rep, "records.in_period"), 7);
    assert_int_equal(geti(rep, "records.malformed"), 1);
    assert_int_equal(geti(rep, "records.by_kind.signal"), 5);
    assert_int_equal(geti(rep, "records.by_kind.membership"), 1);
    assert_int_equal(geti(rep, "records.by_kind.other"), 1);
    assert_string_equal(gets(rep, "records.cursor"), "42");
    assert_int_equal(geti(rep, "signals.total"), 5);
    assert_int_equal(geti(rep, "signals.verified"), 1);
    assert_int_equal(geti(rep, "signals.unlabelled"), 1);
    assert_int_equal(geti(rep, "signals.by_label.attack_footage"), 2);
    assert_int_equal(geti(rep, "signals.by_label.glorification"), 1);
    assert_int_equal(geti(rep, "signals.by_label.propaganda"), 1);
    assert_int_equal(geti(rep, "signals.by_type.md5"), 2);
    assert_int_equal(geti(rep, "signals.by_type.pdq"), 1);
    assert_int_equal(geti(rep, "signals.by_type.url"), 1);
    assert_int_equal(geti(rep, "signals.by_org.CTU"), 2);
    assert_int_equal(geti(rep, "signals.by_org.Platform A"), 3);
    assert_int_equal(geti(rep, "signals.by_month.2026-11"), 3);
    assert_int_equal(geti(rep, "signals.by_month.2026-12"), 2);
    assert_int_equal(geti(rep, "signals.by_day.2026-11-18"), 2);
    assert_int_equal(geti(rep, "signals.by_day.2026-11-20"), 1);
    assert_int_equal(geti(rep, "signals.by_source.stix:acme"), 1);
    /* Months in order. */
    const char *k;
    json_t *x;
    char prev[16] = "";
    json_object_foreach(json_object_get(json_object_get(rep, "signals"), "by_month"), k, x)
    {
        assert_true(strcmp(prev, k) < 0);
        snprintf(prev, sizeof prev, "%s", k);
    }
    /* Organisations: members that published nothing are listed; the root is not. */
    const json_t *orgs = json_object_get(rep, "organisations");
    assert_int_equal(json_array_size(orgs), 3);
    assert_string_equal(gets(json_array_get(orgs, 2), "org"), "Quiet Platform");
    assert_int_equal(geti(json_array_get(orgs, 2), "signals"), 0);
    assert_int_equal(geti(json_array_get(orgs, 1), "signals"), 3);
    assert_string_equal(gets(rep, "node.org"), "CTU");

    char *txt = render(report_write_text, rep);
    assert_non_null(strstr(txt, "Signals: 5"));
    assert_non_null(strstr(txt, "2026-12"));
    assert_non_null(strstr(txt, "stix:acme"));
    assert_non_null(strstr(txt, "CTU (agency)"));
    free(txt);
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_int_equal(count(svg, "signals</title></rect>"), 4); /* four days with signals */
    free(svg);
    json_decref(rep);
    report_free(r);
}

static void test_incident_timeline(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    /* Out of time order, as a feed may hold them (records of different origins travel
     * independently). */
    add(r, action("CTU", T0 + 600000, "chc", "escalate", "content_incident_protocol"));
    add(r, signal("Platform B", T0 - 5000, "md5", "attack_footage", "chc")); /* before the alert */
    add(r, alert("Platform A", T0, "chc", "content_incident"));
    add(r, alert("Platform B", T0 + 60000, "chc", "situational_awareness"));
    add(r, signal("CTU", T0 + 120000, "pdq", "attack_footage", "chc"));
    add(r, signal("CTU", T0 + 130000, "pdq", "attack_footage", "chc"));
    add(r, action("CTU", T0 + 7200000, "chc", "deescalate", "content_incident"));
    add(r, action("CTU", T0 + DAY, "chc", "conclude", "content_incident"));
    /* A second incident with no alert: only signals and an action. */
    add(r, signal("Platform A", T0 + 2 * DAY, "md5", "", "quiet"));
    add(r, action("CTU", T0 + 2 * DAY + 1000, "quiet", "escalate", "situational_awareness"));

    json_t *rep = report_build(r, NOW);
    const json_t *incs = json_object_get(rep, "incidents");
    assert_int_equal(json_array_size(incs), 2);
    const json_t *chc = NULL, *quiet = NULL;
    size_t i;
    const json_t *inc;
    json_array_foreach(incs, i, inc)
    {
        if (strcmp(gets(inc, "id"), "chc") == 0) chc = inc;
        if (strcmp(gets(inc, "id"), "quiet") == 0) quiet = inc;
    }
    assert_non_null(chc);
    assert_non_null(quiet);
    /* Sorted by start: chc (its first signal, before the alert) comes first. */
    assert_ptr_equal(json_array_get(incs, 0), chc);
    assert_string_equal(gets(chc, "base"), "first_alert");
    assert_string_equal(gets(chc, "first_alert.org"), "Platform A");
    assert_string_equal(gets(chc, "first_alert.level"), "content_incident");
    assert_int_equal(geti(chc, "alerts"), 2);
    assert_int_equal(geti(chc, "actions"), 3);
    assert_int_equal(geti(chc, "signals"), 3);
    assert_int_equal(geti(chc, "first_signal.after_ms"), -5000);
    const json_t *esc = json_object_get(chc, "escalations");
    assert_int_equal(json_array_size(esc), 1);
    assert_int_equal(geti(json_array_get(esc, 0), "after_ms"), 600000);
    assert_string_equal(gets(json_array_get(esc, 0), "level"), "content_incident_protocol");
    assert_string_equal(gets(chc, "state"), "concluded");
    assert_int_equal(geti(chc, "concluded.after_ms"), (json_int_t)DAY);
    assert_string_equal(gets(chc, "concluded.org"), "CTU");
    assert_string_equal(gets(chc, "max_level"), "content_incident_protocol");
    assert_string_equal(gets(chc, "level"), "content_incident"); /* de-escalated */
    /* The timeline in time order. */
    const json_t *tl = json_object_get(chc, "timeline");
    assert_int_equal(json_array_size(tl), 5);
    const char *want[] = {"alert", "alert", "escalate", "deescalate", "conclude"};
    const json_int_t after[] = {0, 60000, 600000, 7200000, (json_int_t)DAY};
    for (size_t j = 0; j < 5; j++) {
        assert_string_equal(gets(json_array_get(tl, j), "event"), want[j]);
        assert_int_equal(geti(json_array_get(tl, j), "after_ms"), after[j]);
    }
    /* Signals per organisation, in order of their first signal. */
    const json_t *so = json_object_get(chc, "signals_by_org");
    assert_int_equal(json_array_size(so), 2);
    assert_string_equal(gets(json_array_get(so, 0), "org"), "Platform B");
    assert_string_equal(gets(json_array_get(so, 1), "org"), "CTU");
    assert_int_equal(geti(json_array_get(so, 1), "signals"), 2);
    assert_int_equal(geti(json_array_get(so, 1), "after_ms"), 120000);
    assert_int_equal(json_array_size(json_object_get(chc, "orgs")), 3);

    assert_string_equal(gets(quiet, "base"), "first_record");
    assert_true(json_is_null(json_object_get(quiet, "first_alert")));
    assert_string_equal(gets(quiet, "state"), "open");
    assert_int_equal(geti(json_array_get(json_object_get(quiet, "escalations"), 0), "after_ms"),
                     1000);

    char *txt = render(report_write_text, rep);
    assert_non_null(strstr(txt, "chc: concluded"));
    assert_non_null(strstr(txt, "+10m00s"));
    assert_non_null(strstr(txt, "escalate"));
    free(txt);
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_int_equal(count(svg, "class=\"incident-start\""), 2); /* one per incident */
    assert_int_equal(count(svg, "class=\"incident-escalate\""), 2);
    assert_int_equal(count(svg, "class=\"incident-conclude\""), 1);
    free(svg);
    json_decref(rep);
    report_free(r);
}

/* Per incident: the feedback on and the retractions of the records filed under it, counted and
 * in the timeline, in JSON and text. */
static void test_incident_feedback_and_retractions(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    json_t *s1 = signal("Platform A", T0 + 1000, "pdq", "attack_footage", "chc");
    json_t *s2 = signal("Platform A", T0 + 2000, "md5", "", ""); /* under no incident */
    json_t *a1 = alert("Platform B", T0, "chc", "content_incident");
    char id1[65], id2[65], ida[65];
    snprintf(id1, sizeof id1, "%s", gets(s1, "id"));
    snprintf(id2, sizeof id2, "%s", gets(s2, "id"));
    snprintf(ida, sizeof ida, "%s", gets(a1, "id"));
    /* The node's state: s1 disputed, agreed with and retracted; s2 disputed. */
    json_object_set_new(s1, "retracted", json_true());
    json_integer_set(json_object_get(json_object_get(s1, "feedback"), "false_positive"), 1);
    json_integer_set(json_object_get(json_object_get(s1, "feedback"), "agree"), 1);
    json_integer_set(json_object_get(json_object_get(s2, "feedback"), "disagree"), 1);
    add(r, a1);
    add(r, s1);
    add(r, s2);
    add(r, signal("CTU", T0 + 3000, "md5", "", "chc")); /* no state: not remembered */
    add(r, feedback("CTU", "ctu", 1, T0 + 4000, ida, "agree"));
    add(r, feedback("Platform C", "pc", 1, T0 + 5000, id1, "disagree"));
    add(r, feedback("Platform C", "pc", 2, T0 + 6000, id1, "false_positive")); /* replaces it */
    add(r, feedback("CTU", "ctu", 2, T0 + 7000, id1, "agree"));
    add(r, feedback("Platform C", "pc", 3, T0 + 8000, id2, "disagree"));
    json_t *rt = retraction("Platform A", T0 + 9000, id1, "false positive: a fractal");
    char idr[65];
    snprintf(idr, sizeof idr, "%s", gets(rt, "id"));
    add(r, rt);

    json_t *rep = report_build(r, NOW);
    const json_t *chc = json_array_get(json_object_get(rep, "incidents"), 0);
    assert_string_equal(gets(chc, "id"), "chc");
    assert_int_equal(geti(chc, "feedback.agree"), 2);
    assert_int_equal(geti(chc, "feedback.false_positive"), 1);
    assert_int_equal(geti(chc, "feedback.disagree"), 0); /* Platform C's latest is false_positive */
    assert_int_equal(geti(chc, "retractions"), 1);
    assert_int_equal(geti(chc, "actions"), 0);
    assert_int_equal(geti(chc, "alerts"), 1);
    const json_t *tl = json_object_get(chc, "timeline");
    assert_int_equal(json_array_size(tl), 5);
    const char *want[] = {"alert", "feedback", "feedback", "feedback", "retraction"};
    const json_int_t after[] = {0, 4000, 6000, 7000, 9000}; /* from the first alert */
    for (size_t j = 0; j < 5; j++) {
        assert_string_equal(gets(json_array_get(tl, j), "event"), want[j]);
        assert_int_equal(geti(json_array_get(tl, j), "after_ms"), after[j]);
    }
    const json_t *f1 = json_array_get(tl, 1), *f2 = json_array_get(tl, 2),
                 *rr = json_array_get(tl, 4);
    assert_string_equal(gets(f1, "target"), ida);
    assert_string_equal(gets(f1, "target_kind"), "alert");
    assert_string_equal(gets(f1, "org"), "CTU");
    assert_string_equal(gets(f2, "verdict"), "false_positive");
    assert_string_equal(gets(f2, "org"), "Platform C");
    assert_string_equal(gets(f2, "target"), id1);
    assert_string_equal(gets(f2, "target_type"), "pdq");
    assert_string_equal(gets(f2, "target_org"), "Platform A");
    assert_string_equal(gets(json_array_get(tl, 3), "org"), "CTU");
    assert_string_equal(gets(rr, "id"), idr);
    assert_string_equal(gets(rr, "org"), "Platform A");
    assert_string_equal(gets(rr, "target"), id1);
    assert_string_equal(gets(rr, "reason"), "false positive: a fractal");
    /* Feedback and retractions change neither the level nor the start. */
    assert_string_equal(gets(chc, "level"), "content_incident");
    assert_string_equal(gets(chc, "base"), "first_alert");

    char *txt = render(report_write_text, rep);
    assert_non_null(
        strstr(txt, "feedback on its records: agree 2, false_positive 1; retractions 1"));
    char line[128];
    snprintf(line, sizeof line, "false_positive             on Platform A's pdq %.12s", id1);
    assert_non_null(strstr(txt, line));
    snprintf(line, sizeof line, "of pdq %.12s  \"false positive: a fractal\"", id1);
    assert_non_null(strstr(txt, line));
    free(txt);
    json_decref(rep);
    report_free(r);
}

static void test_retractions_and_disputes(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    json_t *s1 = signal("CTU", T0, "url", "perpetrator_content", "");
    json_t *s2 = signal("Platform A", T0, "md5", "propaganda", "inc-9");
    json_t *s3 = signal("CTU", T0, "md5", "attack_footage", "");
    char id1[65], id2[65], id3[65];
    snprintf(id1, sizeof id1, "%s", gets(s1, "id"));
    snprintf(id2, sizeof id2, "%s", gets(s2, "id"));
    snprintf(id3, sizeof id3, "%s", gets(s3, "id"));
    /* The node's state for them: s2 retracted, all three with feedback. */
    json_object_set_new(s2, "retracted", json_true());
    json_integer_set(json_object_get(json_object_get(s1, "feedback"), "disagree"), 1);
    json_integer_set(json_object_get(json_object_get(s2, "feedback"), "false_positive"), 1);
    json_integer_set(json_object_get(json_object_get(s3, "feedback"), "agree"), 1);
    add(r, s1);
    add(r, s2);
    add(r, s3);
    add(r, signal("CTU", T0, "md5", "", "")); /* no state worth remembering */
    /* s1: two nodes of Platform B disagree (one org), Platform C marks false_positive. */
    add(r, feedback("Platform B", "pb1", 1, T0 + 1000, id1, "disagree"));
    add(r, feedback("Platform B", "pb2", 1, T0 + 2000, id1, "false_positive"));
    add(r, feedback("Platform C", "pc", 1, T0 + 3000, id1, "false_positive"));
    /* s3: Platform C disagreed, then changed its mind (its latest verdict counts). */
    add(r, feedback("Platform C", "pc", 2, T0 + 4000, id3, "disagree"));
    add(r, feedback("Platform C", "pc", 3, T0 + 5000, id3, "agree"));
    /* s2: disputed, then retracted by its origin. */
    add(r, feedback("Platform C", "pc", 4, T0 + 6000, id2, "false_positive"));
    add(r, retraction("Platform A", T0 + 7000, id2, "false positive: a news report"));

    json_t *rep = report_build(r, NOW);
    assert_int_equal(geti(rep, "retractions.total"), 1);
    assert_int_equal(geti(rep, "retractions.by_org.Platform A"), 1);
    const json_t *rl =
        json_array_get(json_object_get(json_object_get(rep, "retractions"), "list"), 0);
    assert_string_equal(gets(rl, "target"), id2);
    assert_string_equal(gets(rl, "target_kind"), "signal");
    assert_string_equal(gets(rl, "target_type"), "md5");
    assert_string_equal(gets(rl, "target_incident"), "inc-9");
    assert_string_equal(gets(rl, "reason"), "false positive: a news report");
    assert_int_equal(geti(rl, "disputed_by"), 1);
    assert_int_equal(geti(rep, "signals.retracted"), 1);

    assert_int_equal(geti(rep, "disputes.total"), 2);
    assert_int_equal(geti(rep, "disputes.retracted"), 1);
    assert_int_equal(geti(rep, "disputes.not_retracted"), 1);
    assert_int_equal(geti(rep, "disputes.by_orgs.2"), 1);
    assert_int_equal(geti(rep, "disputes.by_orgs.1"), 1);
    const json_t *dl = json_object_get(json_object_get(rep, "disputes"), "list");
    const json_t *d1 = json_array_get(dl, 0); /* most organisations first */
    assert_string_equal(gets(d1, "target"), id1);
    assert_int_equal(geti(d1, "orgs_dispute"), 2);
    assert_int_equal(geti(d1, "disagree"), 1);
    assert_int_equal(geti(d1, "false_positive"), 2);
    assert_string_equal(gets(d1, "org"), "CTU");
    assert_string_equal(gets(d1, "type"), "url");
    assert_true(json_is_false(json_object_get(d1, "retracted")));
    assert_true(json_is_null(json_object_get(d1, "retraction")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(d1, "orgs"), 0)),
                        "Platform B");
    const json_t *d2 = json_array_get(dl, 1);
    assert_string_equal(gets(d2, "target"), id2);
    assert_true(json_is_true(json_object_get(d2, "retracted")));
    assert_string_equal(gets(d2, "retraction.reason"), "false positive: a news report");

    /* Per organisation: feedback given and disputes raised (every record, not only the
     * latest). */
    const json_t *orgs = json_object_get(rep, "organisations");
    size_t i;
    const json_t *o;
    bool seen_c = false;
    json_array_foreach(orgs, i, o)
    {
        if (strcmp(gets(o, "org"), "Platform C") != 0) continue;
        seen_c = true;
        assert_int_equal(geti(o, "feedback"), 4);
        assert_int_equal(geti(o, "disputes_raised"), 3);
    }
    assert_true(seen_c);
    char *txt = render(report_write_text, rep);
    assert_non_null(strstr(txt, "Disputes: 2 records (retracted 1, standing 1)"));
    assert_non_null(strstr(txt, "Platform B, Platform C"));
    assert_non_null(strstr(txt, "false positive: a news report"));
    free(txt);
    json_decref(rep);
    report_free(r);
}

static void test_date_filter(void **state)
{
    (void)state;
    int64_t d0 = report_day(T0);
    /* The period is 2026-11-19 to 2026-11-20 inclusive. */
    struct report_opts o = {.since_ms = (uint64_t)(d0 + 1) * DAY,
                            .until_ms = (uint64_t)(d0 + 3) * DAY};
    struct report *r = report_new(&o);
    add(r, signal("CTU", T0, "md5", "glorification", ""));                    /* 18th: out */
    add(r, signal("CTU", (uint64_t)(d0 + 1) * DAY, "md5", "threat", "x"));    /* 19th 00:00: in */
    add(r, signal("CTU", (uint64_t)(d0 + 3) * DAY - 1, "pdq", "threat", "")); /* 20th 23:59: in */
    add(r, signal("CTU", (uint64_t)(d0 + 3) * DAY, "pdq", "threat", ""));     /* 21st: out */
    json_t *s = signal("CTU", T0, "md5", "", ""); /* out, but retracted inside */
    char id[65];
    snprintf(id, sizeof id, "%s", gets(s, "id"));
    json_object_set_new(s, "retracted", json_true());
    add(r, s);
    add(r, retraction("CTU", T0 + DAY + 5, id, "mistake"));
    add(r, alert("CTU", T0 - DAY, "x", "content_incident")); /* out: x has no alert here */
    add(r, retraction("CTU", T0 + 10 * DAY, id, "out of the period"));

    json_t *rep = report_build(r, NOW);
    assert_string_equal(gets(rep, "period.since"), "2026-11-19");
    assert_string_equal(gets(rep, "period.until"), "2026-11-20");
    assert_int_equal(geti(rep, "records.total"), 8);
    assert_int_equal(geti(rep, "records.in_period"), 3);
    assert_int_equal(geti(rep, "signals.total"), 2);
    assert_int_equal(geti(rep, "signals.by_label.threat"), 2);
    assert_null(json_object_get(json_object_get(json_object_get(rep, "signals"), "by_label"),
                                "glorification"));
    assert_int_equal(geti(rep, "retractions.total"), 1);
    const json_t *rl =
        json_array_get(json_object_get(json_object_get(rep, "retractions"), "list"), 0);
    assert_string_equal(gets(rl, "reason"), "mistake");
    assert_string_equal(gets(rl, "target_kind"), "signal"); /* known though out of the period */
    const json_t *incs = json_object_get(rep, "incidents");
    assert_int_equal(json_array_size(incs), 1);
    assert_true(json_is_null(json_object_get(json_array_get(incs, 0), "first_alert")));
    assert_int_equal(geti(json_array_get(incs, 0), "signals"), 1);
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_non_null(strstr(svg, "2026-11-19 to 2026-11-20"));
    free(svg);
    json_decref(rep);
    report_free(r);

    /* Day parsing refuses what is not a calendar day. */
    int64_t d;
    assert_int_equal(report_day_parse("2026-11-19", &d), 0);
    assert_int_equal(d, d0 + 1);
    assert_int_equal(report_day_parse("2026-02-30", &d), -1);
    assert_int_equal(report_day_parse("2026-1-19", &d), -1);
    assert_int_equal(report_day_parse("2026-11-19T00:00:00Z", &d), -1);
}

static void test_svg_escapes_and_new_kinds(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    const char *nasty = "<x&\"y'>";
    add(r, alert("Org <&>", T0, nasty, "content_incident_protocol"));
    add(r, signal("Org <&>", T0 + 1000, "md5", "threat", nasty));
    json_t *g = base("grant", "consortium", "root", T0, 2);
    json_object_set_new(
        g, "body",
        json_pack("{s:s, s:s, s:b}", "org", "Platform A", "right", "incidents", "granted", 1));
    add(r, g);
    /* An incident action with an action this build does not know is kept in the timeline. */
    add(r, action("CTU", T0 + 2000, nasty, "annotate", ""));
    json_t *rep = report_build(r, NOW);
    assert_int_equal(geti(rep, "records.by_kind.grant"), 1);
    assert_int_equal(geti(rep, "records.by_kind.incident"), 1);
    const json_t *gr = json_array_get(json_object_get(rep, "grants"), 0);
    assert_string_equal(gets(gr, "org"), "Platform A");
    assert_true(json_is_true(json_object_get(gr, "granted")));
    const json_t *inc = json_array_get(json_object_get(rep, "incidents"), 0);
    assert_string_equal(gets(inc, "id"), nasty);
    assert_int_equal(json_array_size(json_object_get(inc, "timeline")), 2);
    assert_string_equal(gets(inc, "state"), "open");
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_null(strstr(svg, nasty));
    assert_non_null(strstr(svg, "&lt;x&amp;&quot;y&apos;&gt;"));
    assert_int_equal(count(svg, "class=\"incident-start\""), 1);
    free(svg);
    char *txt = render(report_write_text, rep);
    assert_non_null(strstr(txt, "granted incidents to Platform A"));
    free(txt);
    json_decref(rep);
    report_free(r);
}

/* Many days and a large count: the chart stays well-formed and bounded. */
static void test_svg_many_days(void **state)
{
    (void)state;
    struct report *r = report_new(NULL);
    for (int i = 0; i < 400; i++)
        for (int j = 0; j < (i % 7) * 30; j++)
            add(r, signal("CTU", T0 + (uint64_t)i * DAY + (uint64_t)j, "md5", "threat", ""));
    add(r, alert("CTU", T0 + 100 * DAY, "late", "content_incident"));
    json_t *rep = report_build(r, NOW);
    char *svg = render(report_write_svg, rep);
    assert_svg_ok(svg);
    assert_int_equal(count(svg, "class=\"incident-start\""), 1);
    assert_true(strlen(svg) < 200000);
    free(svg);
    json_decref(rep);
    report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_log),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_incident_timeline),
        cmocka_unit_test(test_incident_feedback_and_retractions),
        cmocka_unit_test(test_retractions_and_disputes),
        cmocka_unit_test(test_date_filter),
        cmocka_unit_test(test_svg_escapes_and_new_kinds),
        cmocka_unit_test(test_svg_many_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
