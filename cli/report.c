/*
 * The transparency report's aggregation and its text and JSON renderings (see report.h).
 *
 * Counters are jansson objects of integers keyed by name; incidents and feedback are kept as
 * small objects per incident and per feedback target. report_build turns that state into the
 * documented object without changing it, so it may be called again after more records.
 */
#include "cli/report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/gif.h"

#define SHORT 12 /* hex digits of an id or key in text output */

struct report {
    struct report_opts o;
    json_t *node;    /* {"key", "org", "role"} or NULL */
    json_t *roles;   /* org -> role, from the members list and records */
    char cursor[64]; /* feed cursor after the last record */

    json_int_t total, in_range, malformed, other;
    uint64_t first_ms, last_ms; /* of records in range */
    json_t *by_kind;

    json_int_t sig_total, sig_verified, sig_retracted, sig_unlabelled, sig_incident;
    json_t *sig_label, *sig_type, *sig_org, *sig_month, *sig_day, *sig_source;

    json_t *retr_org;  /* org -> retractions in range */
    json_t *retr_list; /* retractions in range, feed order */
    json_t *retracted; /* target id -> {"id", "time", "reason", "org"}: every retraction */
    json_t *known;     /* record id -> summary: signals with state worth listing, alerts */

    json_t *incidents; /* incident id -> {"events": [...], "signals": n, "by_org": {...}, ...} */
    json_t *feedback;  /* target id -> {origin -> {"org", "verdict", "seq", "time", "id",
                          "note", "t", "n"}}: the latest in range */
    json_t *orgs;      /* org -> {"signals", "alerts", ...} counters */
    json_t *grants;    /* grant records in range */
    json_int_t order;  /* insertion counter: ties in time keep feed order */
};

static const char *const KNOWN_KINDS[] = {"signal",     "alert",      "retraction", "feedback",
                                          "membership", "revocation", "incident",   "grant"};

static const char *const ORG_COUNTERS[] = {"signals",     "alerts",   "incident_actions",
                                           "retractions", "feedback", "disputes_raised"};

/* ---- Small helpers. */

static const char *jstr(const json_t *o, const char *k, const char *dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static json_int_t jint(const json_t *o, const char *k, json_int_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static void bump(json_t *counts, const char *key, json_int_t n)
{
    json_t *v = json_object_get(counts, key);
    if (v)
        json_integer_set(v, json_integer_value(v) + n);
    else
        json_object_set_new(counts, key, json_integer(n));
}

static json_t *child(json_t *parent, const char *key)
{
    json_t *v = json_object_get(parent, key);
    if (!v) {
        v = json_object();
        json_object_set_new(parent, key, v);
    }
    return v;
}

static json_t *time_json(uint64_t ms)
{
    if (ms == 0) return json_null();
    char buf[48];
    gif_time_fmt(buf, sizeof buf, ms);
    return json_string(buf);
}

void report_day_fmt(char *out, size_t outlen, int64_t day)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int report_day_parse(const char *s, int64_t *day)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    uint64_t ms;
    if (gif_time_parse(s, &ms) != 0) return -1;
    *day = report_day(ms);
    char back[16];
    report_day_fmt(back, sizeof back, *day);
    return strcmp(back, s) == 0 ? 0 : -1; /* refuses 2026-02-30 */
}

int report_level_rank(const char *level)
{
    if (!level) return 0;
    if (strcmp(level, "situational_awareness") == 0) return 1;
    if (strcmp(level, "content_incident") == 0) return 2;
    if (strcmp(level, "content_incident_protocol") == 0) return 3;
    return 0;
}

/* The organisation a record is shown under: its "org", else the origin key's first digits. */
static void org_of(char *out, size_t outlen, const json_t *rec)
{
    const char *org = jstr(rec, "org", NULL);
    if (org && org[0]) {
        snprintf(out, outlen, "%s", org);
        return;
    }
    const char *origin = jstr(rec, "origin", "");
    snprintf(out, outlen, "(unknown %.*s)", SHORT, origin[0] ? origin : "origin");
}

static bool in_range(const struct report *r, uint64_t t)
{
    if (r->o.since_ms && t < r->o.since_ms) return false;
    if (r->o.until_ms && t >= r->o.until_ms) return false;
    return true;
}

/* ---- Life cycle. */

struct report *report_new(const struct report_opts *o)
{
    struct report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (o) r->o = *o;
    json_t **objs[] = {&r->roles,     &r->by_kind,   &r->sig_label,  &r->sig_type, &r->sig_org,
                       &r->sig_month, &r->sig_day,   &r->sig_source, &r->retr_org, &r->retracted,
                       &r->known,     &r->incidents, &r->feedback,   &r->orgs};
    for (size_t i = 0; i < GIF_ARRAY_LEN(objs); i++)
        if (!(*objs[i] = json_object())) goto fail;
    if (!(r->retr_list = json_array()) || !(r->grants = json_array())) goto fail;
    return r;
fail:
    report_free(r);
    return NULL;
}

void report_free(struct report *r)
{
    if (!r) return;
    json_t *all[] = {r->node,      r->roles,     r->by_kind, r->sig_label,  r->sig_type,
                     r->sig_org,   r->sig_month, r->sig_day, r->sig_source, r->retr_org,
                     r->retr_list, r->retracted, r->known,   r->incidents,  r->feedback,
                     r->orgs,      r->grants};
    for (size_t i = 0; i < GIF_ARRAY_LEN(all); i++)
        json_decref(all[i]);
    free(r);
}

void report_set_node(struct report *r, const json_t *status)
{
    const json_t *n = json_object_get(status, "node");
    if (!json_is_object(n)) return;
    json_decref(r->node);
    r->node = json_pack("{s:s?, s:s?, s:s?}", "key", jstr(n, "key", NULL), "org",
                        jstr(n, "org", NULL), "role", jstr(n, "role", NULL));
}

void report_set_members(struct report *r, const json_t *members)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(members, "members"), i, m)
    {
        const char *org = jstr(m, "org", NULL), *role = jstr(m, "role", NULL);
        if (!org || !role) continue;
        json_object_set_new(r->roles, org, json_string(role));
        child(r->orgs, org);
    }
}

void report_set_cursor(struct report *r, const char *next)
{
    snprintf(r->cursor, sizeof r->cursor, "%s", next ? next : "");
}

/* ---- Adding records. */

static json_t *org_counters(struct report *r, const char *org, const json_t *rec)
{
    const char *role = jstr(rec, "role", NULL);
    if (role && !json_object_get(r->roles, org))
        json_object_set_new(r->roles, org, json_string(role));
    return child(r->orgs, org);
}

/* The incident's state object, created on first use. */
static json_t *incident(struct report *r, const char *id)
{
    json_t *inc = json_object_get(r->incidents, id);
    if (!inc) {
        inc = json_pack("{s:[], s:I, s:{}, s:I, s:I}", "events", "signals", (json_int_t)0, "by_org",
                        "first_signal", (json_int_t)0, "last_signal", (json_int_t)0);
        json_object_set_new(r->incidents, id, inc);
    }
    return inc;
}

static void add_event(struct report *r, const char *incident_id, json_t *ev, uint64_t t)
{
    json_object_set_new(ev, "t", json_integer((json_int_t)t));
    json_object_set_new(ev, "n", json_integer(r->order++));
    json_array_append_new(json_object_get(incident(r, incident_id), "events"), ev);
}

/* A signal whose state makes it worth remembering (for retractions and disputes). */
static void remember(struct report *r, const json_t *rec, const json_t *body, const char *org,
                     const char *kind)
{
    const char *id = jstr(rec, "id", NULL);
    if (!id) return;
    json_t *k =
        json_pack("{s:s, s:s, s:s?, s:O?, s:s?, s:s?}", "kind", kind, "org", org, "time",
                  jstr(rec, "time", NULL), "labels", json_object_get(body, "labels"), "type",
                  jstr(body, "type", NULL), "incident", jstr(body, "incident", NULL));
    if (!k) return;
    json_object_set_new(k, "retracted",
                        json_boolean(json_is_true(json_object_get(rec, "retracted"))));
    json_object_set_new(r->known, id, k);
}

static void add_signal(struct report *r, const json_t *rec, const json_t *body, const char *org,
                       uint64_t t, bool counted)
{
    const json_t *fb = json_object_get(rec, "feedback");
    json_int_t fbsum = 0;
    const char *fbk[] = {"agree", "disagree", "seen", "blocked", "false_positive"};
    for (size_t i = 0; i < GIF_ARRAY_LEN(fbk); i++)
        fbsum += jint(fb, fbk[i], 0);
    bool retracted = json_is_true(json_object_get(rec, "retracted"));
    if (retracted || fbsum > 0) remember(r, rec, body, org, "signal");
    if (!counted) return;

    r->sig_total++;
    if (json_is_true(json_object_get(body, "verified"))) r->sig_verified++;
    if (retracted) r->sig_retracted++;
    const json_t *labels = json_object_get(body, "labels");
    size_t i, nl = 0;
    const json_t *l;
    json_array_foreach(labels, i, l)
    {
        if (!json_is_string(l)) continue;
        bump(r->sig_label, json_string_value(l), 1);
        nl++;
    }
    if (nl == 0) r->sig_unlabelled++;
    bump(r->sig_type, jstr(body, "type", "unknown"), 1);
    bump(r->sig_org, org, 1);
    const char *source = jstr(body, "source", "");
    if (source[0]) bump(r->sig_source, source, 1);
    if (t) {
        char day[16];
        report_day_fmt(day, sizeof day, report_day(t));
        bump(r->sig_day, day, 1);
        day[7] = '\0';
        bump(r->sig_month, day, 1);
    }
    bump(org_counters(r, org, rec), "signals", 1);

    const char *inc_id = jstr(body, "incident", "");
    if (inc_id[0]) {
        r->sig_incident++;
        json_t *inc = incident(r, inc_id);
        json_integer_set(json_object_get(inc, "signals"), jint(inc, "signals", 0) + 1);
        json_t *bo = child(json_object_get(inc, "by_org"), org);
        bump(bo, "signals", 1);
        json_int_t first = jint(bo, "first", 0);
        if (t && (first == 0 || (json_int_t)t < first))
            json_object_set_new(bo, "first", json_integer((json_int_t)t));
        first = jint(inc, "first_signal", 0);
        if (t && (first == 0 || (json_int_t)t < first))
            json_object_set_new(inc, "first_signal", json_integer((json_int_t)t));
        if ((json_int_t)t > jint(inc, "last_signal", 0))
            json_object_set_new(inc, "last_signal", json_integer((json_int_t)t));
    }
}

static void add_alert(struct report *r, const json_t *rec, const json_t *body, const char *org,
                      uint64_t t, bool counted)
{
    remember(r, rec, body, org, "alert");
    if (!counted) return;
    bump(org_counters(r, org, rec), "alerts", 1);
    const char *inc_id = jstr(body, "incident", "");
    if (!inc_id[0]) return;
    json_t *ev =
        json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:O?, s:I, s:s?}", "event", "alert", "org",
                  org, "id", jstr(rec, "id", NULL), "level", jstr(body, "level", NULL), "detector",
                  jstr(body, "detector", NULL), "detector_version",
                  jstr(body, "detector_version", NULL), "score", json_object_get(body, "score"),
                  "signals", (json_int_t)json_array_size(json_object_get(body, "signals")), "note",
                  jstr(body, "note", NULL));
    if (ev) add_event(r, inc_id, ev, t);
}

static void add_action(struct report *r, const json_t *rec, const json_t *body, const char *org,
                       uint64_t t)
{
    bump(org_counters(r, org, rec), "incident_actions", 1);
    const char *inc_id = jstr(body, "incident", "");
    if (!inc_id[0]) return;
    json_t *ev = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "event", jstr(body, "action", "unknown"),
                           "org", org, "id", jstr(rec, "id", NULL), "level",
                           jstr(body, "level", NULL), "note", jstr(body, "note", NULL));
    if (ev) add_event(r, inc_id, ev, t);
}

static void add_retraction(struct report *r, const json_t *rec, const json_t *body, const char *org,
                           uint64_t t, bool counted)
{
    const char *target = jstr(body, "target", NULL);
    if (target)
        json_object_set_new(r->retracted, target,
                            json_pack("{s:s?, s:s?, s:s?, s:s}", "id", jstr(rec, "id", NULL),
                                      "time", jstr(rec, "time", NULL), "reason",
                                      jstr(body, "reason", NULL), "org", org));
    if (!counted) return;
    bump(r->retr_org, org, 1);
    bump(org_counters(r, org, rec), "retractions", 1);
    json_t *e = json_pack("{s:s?, s:s?, s:s, s:s?, s:s?}", "id", jstr(rec, "id", NULL), "time",
                          jstr(rec, "time", NULL), "org", org, "target", target, "reason",
                          jstr(body, "reason", ""));
    if (e) {
        json_object_set_new(e, "t", json_integer((json_int_t)t));
        json_object_set_new(e, "n", json_integer(r->order++));
        json_array_append_new(r->retr_list, e);
    }
}

static void add_feedback(struct report *r, const json_t *rec, const json_t *body, const char *org,
                         uint64_t t)
{
    const char *target = jstr(body, "target", NULL), *verdict = jstr(body, "verdict", NULL);
    const char *origin = jstr(rec, "origin", org);
    json_t *oc = org_counters(r, org, rec);
    bump(oc, "feedback", 1);
    if (!target || !verdict) return;
    if (strcmp(verdict, "disagree") == 0 || strcmp(verdict, "false_positive") == 0)
        bump(oc, "disputes_raised", 1);
    /* A node's latest verdict on a target replaces its earlier one: latest by its seq. */
    json_t *per = child(r->feedback, target);
    json_t *prev = json_object_get(per, origin);
    json_int_t seq = jint(rec, "seq", 0);
    if (prev && jint(prev, "seq", 0) > seq) return;
    json_object_set_new(per, origin,
                        json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:I, s:I}", "org", org,
                                  "verdict", verdict, "seq", seq, "time", jstr(rec, "time", NULL),
                                  "id", jstr(rec, "id", NULL), "note", jstr(body, "note", NULL),
                                  "t", (json_int_t)t, "n", r->order++));
}

static void add_grant(struct report *r, const json_t *rec, const json_t *body)
{
    json_t *g = json_pack("{s:s?, s:s?, s:s?, s:s?}", "time", jstr(rec, "time", NULL), "id",
                          jstr(rec, "id", NULL), "org", jstr(body, "org", NULL), "right",
                          jstr(body, "right", NULL));
    if (!g) return;
    json_object_set_new(g, "granted",
                        json_boolean(!json_is_false(json_object_get(body, "granted"))));
    json_array_append_new(r->grants, g);
}

int report_add(struct report *r, const json_t *rec)
{
    r->total++;
    const char *kind = jstr(rec, "kind", NULL);
    if (!json_is_object(rec) || !kind) {
        r->malformed++;
        return -1;
    }
    uint64_t t = 0;
    const char *ts = jstr(rec, "time", NULL);
    if (!ts || gif_time_parse(ts, &t) != 0) t = 0;
    bool counted = in_range(r, t);
    const json_t *body = json_object_get(rec, "body");
    char org[200];
    org_of(org, sizeof org, rec);

    if (counted) {
        r->in_range++;
        if (t && (r->first_ms == 0 || t < r->first_ms)) r->first_ms = t;
        if (t > r->last_ms) r->last_ms = t;
        bool known = false;
        for (size_t i = 0; i < GIF_ARRAY_LEN(KNOWN_KINDS); i++)
            if (strcmp(kind, KNOWN_KINDS[i]) == 0) known = true;
        if (known)
            bump(r->by_kind, kind, 1);
        else
            r->other++;
    }
    if (strcmp(kind, "signal") == 0)
        add_signal(r, rec, body, org, t, counted);
    else if (strcmp(kind, "alert") == 0)
        add_alert(r, rec, body, org, t, counted);
    else if (strcmp(kind, "retraction") == 0)
        add_retraction(r, rec, body, org, t, counted);
    else if (!counted)
        return 0;
    else if (strcmp(kind, "incident") == 0)
        add_action(r, rec, body, org, t);
    else if (strcmp(kind, "feedback") == 0)
        add_feedback(r, rec, body, org, t);
    else if (strcmp(kind, "grant") == 0)
        add_grant(r, rec, body);
    return 0;
}

/* ---- Building the report object. */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted; a malloc'd array of n pointers into the object (NULL when
 * out of memory or empty: *n is then 0 or the size). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    if (*n == 0) return NULL;
    const char **keys = malloc(*n * sizeof *keys);
    if (!keys) {
        *n = 0;
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

/* A copy of a counts object with its keys sorted (jansson dumps in insertion order). */
static json_t *sorted_counts(const json_t *counts)
{
    json_t *out = json_object();
    size_t n;
    const char **keys = sorted_keys(counts, &n);
    for (size_t i = 0; i < n; i++)
        json_object_set(out, keys[i], json_object_get(counts, keys[i]));
    free(keys);
    return out;
}

static int cmp_event(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = jint(x, "t", 0), ty = jint(y, "t", 0);
    if (tx != ty) return tx < ty ? -1 : 1;
    json_int_t nx = jint(x, "n", 0), ny = jint(y, "n", 0);
    return nx < ny ? -1 : nx > ny;
}

static int cmp_first(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = jint(x, "_first", 0), ty = jint(y, "_first", 0);
    if (tx != ty) return tx < ty ? -1 : 1;
    return strcmp(jstr(x, "org", ""), jstr(y, "org", ""));
}

static json_t *step_json(const json_t *e, uint64_t base)
{
    json_int_t t = jint(e, "t", 0);
    return json_pack("{s:o, s:s?, s:s?, s:s?, s:I}", "time", time_json((uint64_t)t), "org",
                     jstr(e, "org", NULL), "level", jstr(e, "level", NULL), "id",
                     jstr(e, "id", NULL), "after_ms", t ? t - (json_int_t)base : (json_int_t)0);
}

static bool is_target_event(const char *what)
{
    return strcmp(what, "feedback") == 0 || strcmp(what, "retraction") == 0;
}

/* Feedback (the latest verdict of each organisation, in range) on and retractions (in range)
 * of the records filed under each incident, as timeline events: incident id -> [event, ...].
 * A target's incident is known when its record was remembered: every alert, and every signal
 * that the node's state says has feedback or was retracted. */
static json_t *target_events(struct report *r)
{
    json_t *out = json_object();
    const char *target, *origin;
    json_t *per, *f;
    json_object_foreach(r->feedback, target, per)
    {
        const json_t *k = json_object_get(r->known, target);
        const char *inc = jstr(k, "incident", "");
        if (!inc[0]) continue;
        json_t *list = json_object_get(out, inc);
        if (!list) json_object_set_new(out, inc, list = json_array());
        json_object_foreach(per, origin, f)
        {
            const char *note = jstr(f, "note", "");
            json_array_append_new(
                list, json_pack("{s:s, s:O?, s:O?, s:O?, s:s?, s:s, s:s?, s:s?, s:s?, s:O?, s:O?}",
                                "event", "feedback", "org", json_object_get(f, "org"), "id",
                                json_object_get(f, "id"), "verdict", json_object_get(f, "verdict"),
                                "note", note[0] ? note : NULL, "target", target, "target_kind",
                                jstr(k, "kind", NULL), "target_type", jstr(k, "type", NULL),
                                "target_org", jstr(k, "org", NULL), "t", json_object_get(f, "t"),
                                "n", json_object_get(f, "n")));
        }
    }
    size_t i;
    json_array_foreach(r->retr_list, i, f)
    {
        const char *tg = jstr(f, "target", NULL);
        const json_t *k = tg ? json_object_get(r->known, tg) : NULL;
        const char *inc = jstr(k, "incident", "");
        if (!inc[0]) continue;
        json_t *list = json_object_get(out, inc);
        if (!list) json_object_set_new(out, inc, list = json_array());
        json_array_append_new(list,
                              json_pack("{s:s, s:O?, s:O?, s:s, s:s?, s:s?, s:O?, s:O?, s:O?}",
                                        "event", "retraction", "org", json_object_get(f, "org"),
                                        "id", json_object_get(f, "id"), "target", tg, "target_kind",
                                        jstr(k, "kind", NULL), "target_type", jstr(k, "type", NULL),
                                        "reason", json_object_get(f, "reason"), "t",
                                        json_object_get(f, "t"), "n", json_object_get(f, "n")));
    }
    return out;
}

/* One incident's summary and timeline; extra holds its feedback and retraction events. */
static json_t *build_incident(struct report *r, const char *id, const json_t *inc,
                              const json_t *extra)
{
    const json_t *events = json_object_get(inc, "events");
    size_t n = json_array_size(events), nx = json_array_size(extra);
    json_t **ev = malloc((n + nx ? n + nx : 1) * sizeof *ev);
    if (!ev) return NULL;
    for (size_t i = 0; i < n; i++)
        ev[i] = json_array_get(events, i);
    for (size_t i = 0; i < nx; i++)
        ev[n + i] = json_array_get(extra, i);
    n += nx;
    qsort(ev, n, sizeof *ev, cmp_event);

    const json_t *fa = NULL;
    json_int_t alerts = 0, actions = 0, retractions = 0;
    json_t *fb = json_pack("{s:i, s:i, s:i, s:i, s:i}", "agree", 0, "disagree", 0, "seen", 0,
                           "blocked", 0, "false_positive", 0);
    for (size_t i = 0; i < n; i++) {
        const char *what = jstr(ev[i], "event", "");
        if (strcmp(what, "alert") == 0) {
            alerts++;
            if (!fa) fa = ev[i];
        } else if (strcmp(what, "feedback") == 0) {
            bump(fb, jstr(ev[i], "verdict", "unknown"), 1);
        } else if (strcmp(what, "retraction") == 0) {
            retractions++;
        } else {
            actions++;
        }
    }
    uint64_t first_sig = (uint64_t)jint(inc, "first_signal", 0);
    uint64_t start = 0; /* the first alert, incident record or signal under it */
    for (size_t i = 0; i < n && !start; i++)
        if (!is_target_event(jstr(ev[i], "event", ""))) start = (uint64_t)jint(ev[i], "t", 0);
    if (first_sig && (start == 0 || first_sig < start)) start = first_sig;
    uint64_t base = fa ? (uint64_t)jint(fa, "t", 0) : start;

    json_t *timeline = json_array(), *esc = json_array(), *orgs = json_object();
    json_t *concluded = json_null();
    int level = 0, max_level = 0;
    const char *level_name = NULL, *max_name = NULL;
    bool open = true;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = ev[i];
        const char *what = jstr(e, "event", ""), *lv = jstr(e, "level", NULL);
        int rank = report_level_rank(lv);
        json_object_set_new(orgs, jstr(e, "org", "?"), json_true());
        if (is_target_event(what)) {
            /* feedback and retractions change no level */
        } else if (strcmp(what, "alert") == 0) {
            if (rank > level) level = rank, level_name = lv;
        } else if (strcmp(what, "escalate") == 0 || strcmp(what, "deescalate") == 0) {
            if (rank) level = rank, level_name = lv;
            if (what[0] == 'e') json_array_append_new(esc, step_json(e, base));
        } else if (strcmp(what, "conclude") == 0) {
            open = false;
            json_decref(concluded);
            concluded = step_json(e, base);
        } else if (strcmp(what, "reopen") == 0) {
            open = true;
            json_decref(concluded);
            concluded = json_null();
            if (rank) level = rank, level_name = lv;
        }
        if (level > max_level) max_level = level, max_name = level_name;

        json_t *item = json_object();
        json_int_t t = jint(e, "t", 0);
        json_object_set_new(item, "time", time_json((uint64_t)t));
        json_object_set_new(item, "after_ms", json_integer(t ? t - (json_int_t)base : 0));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)e, k, v)
        {
            if (strcmp(k, "t") != 0 && strcmp(k, "n") != 0) json_object_set(item, k, v);
        }
        const char *eid = jstr(e, "id", NULL);
        if (strcmp(what, "alert") == 0)
            json_object_set_new(item, "retracted",
                                json_boolean(eid && json_object_get(r->retracted, eid)));
        json_array_append_new(timeline, item);
    }

    /* Signals under the incident, per organisation, in order of each one's first signal. */
    const json_t *by_org = json_object_get(inc, "by_org");
    size_t norg = json_object_size(by_org), j = 0;
    json_t **so = malloc((norg ? norg : 1) * sizeof *so);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)by_org, k, v)
    {
        json_int_t first = jint(v, "first", 0);
        json_t *o =
            json_pack("{s:s, s:I, s:o, s:I, s:I}", "org", k, "signals", jint(v, "signals", 0),
                      "first", time_json((uint64_t)first), "after_ms",
                      first ? first - (json_int_t)base : (json_int_t)0, "_first", first);
        json_object_set_new(orgs, k, json_true());
        if (so && o)
            so[j++] = o;
        else
            json_decref(o);
    }
    json_t *sig_by_org = json_array();
    if (so) {
        qsort(so, j, sizeof *so, cmp_first);
        for (size_t i = 0; i < j; i++) {
            json_object_del(so[i], "_first");
            json_array_append_new(sig_by_org, so[i]);
        }
    }
    free(so);
    json_t *org_list = json_array();
    size_t nk;
    const char **keys = sorted_keys(orgs, &nk);
    for (size_t i = 0; i < nk; i++)
        json_array_append_new(org_list, json_string(keys[i]));
    free(keys);
    json_decref(orgs);

    json_t *first_alert = fa ? step_json(fa, base) : json_null();
    if (fa) json_object_del(first_alert, "after_ms");
    json_t *first_signal = first_sig
                               ? json_pack("{s:o, s:I}", "time", time_json(first_sig), "after_ms",
                                           (json_int_t)first_sig - (json_int_t)base)
                               : json_null();
    json_t *o =
        json_pack("{s:s, s:s, s:s?, s:s?, s:o, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:o, "
                  "s:I, s:o, s:o, s:o, s:o}",
                  "id", id, "state", open ? "open" : "concluded", "level", level_name, "max_level",
                  max_name, "start", time_json(start), "base", fa ? "first_alert" : "first_record",
                  "first_alert", first_alert, "escalations", esc, "concluded", concluded, "alerts",
                  alerts, "actions", actions, "signals", jint(inc, "signals", 0), "feedback", fb,
                  "retractions", retractions, "first_signal", first_signal, "signals_by_org",
                  sig_by_org, "orgs", org_list, "timeline", timeline);
    json_object_set_new(o, "_start", json_integer((json_int_t)start));
    free(ev);
    return o;
}

static int cmp_start(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = jint(x, "_start", 0), ty = jint(y, "_start", 0);
    if (tx != ty) return tx < ty ? -1 : 1;
    return strcmp(jstr(x, "id", ""), jstr(y, "id", ""));
}

static json_t *build_incidents(struct report *r)
{
    size_t n = json_object_size(r->incidents), i = 0;
    json_t **list = malloc((n ? n : 1) * sizeof *list);
    json_t *arr = json_array();
    if (!list) return arr;
    json_t *extra = target_events(r);
    const char *k;
    json_t *v;
    json_object_foreach(r->incidents, k, v)
    {
        json_t *o = build_incident(r, k, v, json_object_get(extra, k));
        if (o) list[i++] = o;
    }
    json_decref(extra);
    qsort(list, i, sizeof *list, cmp_start);
    for (size_t j = 0; j < i; j++) {
        json_object_del(list[j], "_start");
        json_array_append_new(arr, list[j]);
    }
    free(list);
    return arr;
}

/* The retraction of a record, as {"id", "time", "reason", "org"}, or NULL. */
static json_t *retraction_of(struct report *r, const char *target)
{
    return target ? json_object_get(r->retracted, target) : NULL;
}

static int cmp_dispute(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t nx = jint(x, "orgs_dispute", 0), ny = jint(y, "orgs_dispute", 0);
    if (nx != ny) return nx > ny ? -1 : 1;
    return strcmp(jstr(x, "target", ""), jstr(y, "target", ""));
}

static json_t *build_disputes(struct report *r, json_t *disputed_by)
{
    size_t n = json_object_size(r->feedback), cnt = 0;
    json_t **list = malloc((n ? n : 1) * sizeof *list);
    json_int_t retracted = 0;
    json_t *by_orgs = json_object();
    const char *target;
    json_t *per;
    json_object_foreach(r->feedback, target, per)
    {
        json_t *dorgs = json_object(), *aorgs = json_object();
        json_int_t disagree = 0, fp = 0;
        const char *origin;
        json_t *f;
        json_object_foreach(per, origin, f)
        {
            const char *verdict = jstr(f, "verdict", "");
            if (strcmp(verdict, "disagree") == 0) disagree++;
            if (strcmp(verdict, "false_positive") == 0) fp++;
            if (strcmp(verdict, "disagree") == 0 || strcmp(verdict, "false_positive") == 0)
                json_object_set_new(dorgs, jstr(f, "org", "?"), json_true());
            if (strcmp(verdict, "agree") == 0)
                json_object_set_new(aorgs, jstr(f, "org", "?"), json_true());
        }
        size_t nd = json_object_size(dorgs);
        if (nd > 0 && list) {
            json_t *names = json_array();
            size_t nk;
            const char **keys = sorted_keys(dorgs, &nk);
            for (size_t i = 0; i < nk; i++)
                json_array_append_new(names, json_string(keys[i]));
            free(keys);
            const json_t *k = json_object_get(r->known, target);
            const json_t *ret = retraction_of(r, target);
            bool is_retracted = ret || json_is_true(json_object_get(k, "retracted"));
            json_t *d =
                json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:O?, s:s?}", "target", target, "kind",
                          jstr(k, "kind", NULL), "type", jstr(k, "type", NULL), "org",
                          jstr(k, "org", NULL), "time", jstr(k, "time", NULL), "labels",
                          json_object_get(k, "labels"), "incident", jstr(k, "incident", NULL));
            json_object_set_new(d, "orgs_dispute", json_integer((json_int_t)nd));
            json_object_set_new(d, "orgs", names);
            json_object_set_new(d, "orgs_agree", json_integer((json_int_t)json_object_size(aorgs)));
            json_object_set_new(d, "disagree", json_integer(disagree));
            json_object_set_new(d, "false_positive", json_integer(fp));
            json_object_set_new(d, "retracted", json_boolean(is_retracted));
            json_object_set_new(d, "retraction",
                                ret ? json_pack("{s:O?, s:O?, s:O?}", "id",
                                                json_object_get(ret, "id"), "time",
                                                json_object_get(ret, "time"), "reason",
                                                json_object_get(ret, "reason"))
                                    : json_null());
            list[cnt++] = d;
            if (is_retracted) retracted++;
            char key[24];
            snprintf(key, sizeof key, "%zu", nd);
            bump(by_orgs, key, 1);
            json_object_set_new(disputed_by, target, json_integer((json_int_t)nd));
        }
        json_decref(dorgs);
        json_decref(aorgs);
    }
    json_t *arr = json_array();
    if (list) {
        qsort(list, cnt, sizeof *list, cmp_dispute);
        for (size_t i = 0; i < cnt; i++)
            json_array_append_new(arr, list[i]);
    }
    free(list);
    json_t *sorted = sorted_counts(by_orgs);
    json_decref(by_orgs);
    return json_pack("{s:I, s:I, s:I, s:o, s:o}", "total", (json_int_t)cnt, "retracted", retracted,
                     "not_retracted", (json_int_t)cnt - retracted, "by_orgs", sorted, "list", arr);
}

static json_t *build_retractions(struct report *r, const json_t *disputed_by)
{
    json_t *list = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(r->retr_list, i, e)
    {
        const char *target = jstr(e, "target", NULL);
        const json_t *k = target ? json_object_get(r->known, target) : NULL;
        json_t *o = json_pack(
            "{s:O?, s:O?, s:O?, s:O?, s:s?, s:s?, s:s?, s:O?, s:I}", "id", json_object_get(e, "id"),
            "time", json_object_get(e, "time"), "org", json_object_get(e, "org"), "target",
            json_object_get(e, "target"), "target_kind", jstr(k, "kind", NULL), "target_type",
            jstr(k, "type", NULL), "target_incident", jstr(k, "incident", NULL), "reason",
            json_object_get(e, "reason"), "disputed_by", target ? jint(disputed_by, target, 0) : 0);
        json_array_append_new(list, o);
    }
    return json_pack("{s:I, s:o, s:o}", "total", (json_int_t)json_array_size(r->retr_list),
                     "by_org", sorted_counts(r->retr_org), "list", list);
}

static json_t *build_orgs(struct report *r)
{
    json_t *arr = json_array();
    size_t n;
    const char **keys = sorted_keys(r->orgs, &n);
    for (size_t i = 0; i < n; i++) {
        const char *role = jstr(r->roles, keys[i], NULL);
        if (role && strcmp(role, "root") == 0) continue;
        const json_t *c = json_object_get(r->orgs, keys[i]);
        json_t *o = json_pack("{s:s, s:s?}", "org", keys[i], "role", role);
        for (size_t j = 0; j < GIF_ARRAY_LEN(ORG_COUNTERS); j++)
            json_object_set_new(o, ORG_COUNTERS[j], json_integer(jint(c, ORG_COUNTERS[j], 0)));
        json_array_append_new(arr, o);
    }
    free(keys);
    return arr;
}

json_t *report_build(struct report *r, uint64_t now_ms)
{
    json_t *by_kind = json_object();
    for (size_t i = 0; i < GIF_ARRAY_LEN(KNOWN_KINDS); i++)
        json_object_set_new(by_kind, KNOWN_KINDS[i],
                            json_integer(jint(r->by_kind, KNOWN_KINDS[i], 0)));
    json_object_set_new(by_kind, "other", json_integer(r->other));

    char since[16] = "", until[16] = "";
    if (r->o.since_ms) report_day_fmt(since, sizeof since, report_day(r->o.since_ms));
    if (r->o.until_ms) report_day_fmt(until, sizeof until, report_day(r->o.until_ms - 1));

    json_t *disputed_by = json_object();
    json_t *disputes = build_disputes(r, disputed_by);
    json_t *retractions = build_retractions(r, disputed_by);
    json_decref(disputed_by);

    json_t *signals =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "total", r->sig_total,
                  "verified", r->sig_verified, "retracted", r->sig_retracted, "unlabelled",
                  r->sig_unlabelled, "under_incident", r->sig_incident, "by_label",
                  sorted_counts(r->sig_label), "by_type", sorted_counts(r->sig_type), "by_org",
                  sorted_counts(r->sig_org), "by_month", sorted_counts(r->sig_month), "by_day",
                  sorted_counts(r->sig_day), "by_source", sorted_counts(r->sig_source));

    json_t *rep = json_pack(
        "{s:s, s:i, s:o, s:s, s:O?, s:{s:s?, s:s?, s:o, s:o}, s:{s:I, s:I, s:I, s:o, s:s?}, "
        "s:o, s:o, s:o, s:o, s:o, s:O}",
        "report", "gifnet transparency report", "version", 1, "generated", time_json(now_ms),
        "scope",
        "consortium-wide as seen by this node: every record it accepted, from every origin", "node",
        r->node, "period", "since", since[0] ? since : NULL, "until", until[0] ? until : NULL,
        "first", time_json(r->first_ms), "last", time_json(r->last_ms), "records", "total",
        r->total, "in_period", r->in_range, "malformed", r->malformed, "by_kind", by_kind, "cursor",
        r->cursor[0] ? r->cursor : NULL, "signals", signals, "retractions", retractions,
        "incidents", build_incidents(r), "disputes", disputes, "organisations", build_orgs(r),
        "grants", r->grants);
    return rep;
}

/* ---- JSON. */

int report_write_json(const json_t *rep, FILE *f)
{
    if (json_dumpf(rep, f, JSON_INDENT(2)) != 0) return -1;
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

/* ---- Text. */

/* "+0.4s", "+4m12s", "-30s", "+2h03m", "+3d04h": a signed duration in ms, compact. */
static void dur_fmt(char *out, size_t outlen, json_int_t ms)
{
    char sign = ms < 0 ? '-' : '+';
    uint64_t abs_ms = (uint64_t)(ms < 0 ? -ms : ms), s = abs_ms / 1000;
    if (abs_ms == 0)
        snprintf(out, outlen, "+0s");
    else if (s < 10)
        snprintf(out, outlen, "%c%" PRIu64 ".%" PRIu64 "s", sign, s, abs_ms % 1000 / 100);
    else if (s < 60)
        snprintf(out, outlen, "%c%" PRIu64 "s", sign, s);
    else if (s < 3600)
        snprintf(out, outlen, "%c%" PRIu64 "m%02" PRIu64 "s", sign, s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, outlen, "%c%" PRIu64 "h%02" PRIu64 "m", sign, s / 3600, s / 60 % 60);
    else
        snprintf(out, outlen, "%c%" PRIu64 "d%02" PRIu64 "h", sign, s / 86400, s / 3600 % 24);
}

struct kv {
    const char *k;
    json_int_t v;
};

static int cmp_kv_count(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return strcmp(x->k, y->k);
}

/* A counts table: "    key   count   share", by count (or by key when by_key). */
static void counts_table(FILE *f, const char *title, const json_t *counts, json_int_t total,
                         bool by_key)
{
    size_t n = json_object_size(counts), i = 0;
    fprintf(f, "  %s\n", title);
    if (n == 0) {
        fputs("    (none)\n", f);
        return;
    }
    struct kv *kv = malloc(n * sizeof *kv);
    if (!kv) return;
    const char *k;
    json_t *v;
    size_t w = 8;
    json_object_foreach((json_t *)counts, k, v)
    {
        kv[i].k = k;
        kv[i].v = json_integer_value(v);
        if (strlen(k) > w) w = strlen(k);
        i++;
    }
    if (w > 40) w = 40;
    if (!by_key) qsort(kv, n, sizeof *kv, cmp_kv_count);
    for (i = 0; i < n; i++) {
        fprintf(f, "    %-*s %8" PRId64, (int)w, kv[i].k, (int64_t)kv[i].v);
        if (total > 0) fprintf(f, "  %5.1f%%", 100.0 * (double)kv[i].v / (double)total);
        fputc('\n', f);
    }
    free(kv);
}

static const char *short_id(char *out, const char *hex)
{
    snprintf(out, SHORT + 1, "%s", hex && hex[0] ? hex : "-");
    return out;
}

static void text_header(const json_t *rep, FILE *f)
{
    const json_t *node = json_object_get(rep, "node");
    const json_t *period = json_object_get(rep, "period");
    const json_t *rec = json_object_get(rep, "records");
    fprintf(f, "gifnet transparency report\n");
    if (json_is_object(node))
        fprintf(f, "node       %s  %s (%s)\n", jstr(node, "key", "-"), jstr(node, "org", "-"),
                jstr(node, "role", "-"));
    fprintf(f, "scope      %s\n", jstr(rep, "scope", ""));
    fprintf(f, "period     %s to %s (UTC)", jstr(period, "since", "the beginning"),
            jstr(period, "until", "now"));
    if (jstr(period, "first", NULL))
        fprintf(f, "; records from %s to %s", jstr(period, "first", ""), jstr(period, "last", ""));
    fputc('\n', f);
    fprintf(f, "generated  %s\n", jstr(rep, "generated", "-"));
    fprintf(f, "records    %" PRId64 " in the log, %" PRId64 " in the period (",
            (int64_t)jint(rec, "total", 0), (int64_t)jint(rec, "in_period", 0));
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(json_object_get(rec, "by_kind"), k, v)
    {
        fprintf(f, "%s%s %" PRId64, first ? "" : ", ", k, (int64_t)json_integer_value(v));
        first = false;
    }
    fputs(")\n", f);
    if (jint(rec, "malformed", 0))
        fprintf(f, "           %" PRId64 " malformed records skipped\n",
                (int64_t)jint(rec, "malformed", 0));
    if (jstr(rec, "cursor", NULL)) fprintf(f, "cursor     %s\n", jstr(rec, "cursor", ""));
}

static void text_signals(const json_t *rep, FILE *f)
{
    const json_t *s = json_object_get(rep, "signals");
    json_int_t total = jint(s, "total", 0);
    fprintf(f,
            "\nSignals: %" PRId64 " (verified %" PRId64 ", retracted by now %" PRId64
            ", unlabelled %" PRId64 ", under an incident %" PRId64 ")\n",
            (int64_t)total, (int64_t)jint(s, "verified", 0), (int64_t)jint(s, "retracted", 0),
            (int64_t)jint(s, "unlabelled", 0), (int64_t)jint(s, "under_incident", 0));
    counts_table(f, "by label (a signal may carry several)", json_object_get(s, "by_label"), total,
                 false);
    counts_table(f, "by type", json_object_get(s, "by_type"), total, false);
    counts_table(f, "by origin organisation", json_object_get(s, "by_org"), total, false);
    counts_table(f, "by month (UTC)", json_object_get(s, "by_month"), total, true);
    if (json_object_size(json_object_get(s, "by_source")))
        counts_table(f, "by source (imported from other systems)", json_object_get(s, "by_source"),
                     total, false);
}

static void text_retractions(const json_t *rep, FILE *f)
{
    const json_t *rt = json_object_get(rep, "retractions");
    fprintf(f, "\nRetractions: %" PRId64 "\n", (int64_t)jint(rt, "total", 0));
    if (jint(rt, "total", 0) == 0) return;
    counts_table(f, "by organisation", json_object_get(rt, "by_org"), 0, false);
    fprintf(f, "  %-24s  %-20s  %-12s  %-14s  %s\n", "time", "org", "target", "what", "reason");
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(rt, "list"), i, e)
    {
        char sid[SHORT + 1], what[64];
        snprintf(what, sizeof what, "%s%s%s", jstr(e, "target_kind", "?"),
                 jstr(e, "target_type", NULL) ? " " : "", jstr(e, "target_type", ""));
        fprintf(f, "  %-24s  %-20s  %-12s  %-14s  %s", jstr(e, "time", "-"), jstr(e, "org", "-"),
                short_id(sid, jstr(e, "target", NULL)), what, jstr(e, "reason", ""));
        if (jint(e, "disputed_by", 0))
            fprintf(f, " (disputed by %" PRId64 ")", (int64_t)jint(e, "disputed_by", 0));
        fputc('\n', f);
    }
}

static void text_incidents(const json_t *rep, FILE *f)
{
    const json_t *incs = json_object_get(rep, "incidents");
    fprintf(f, "\nIncidents: %zu\n", json_array_size(incs));
    size_t i;
    const json_t *inc;
    json_array_foreach(incs, i, inc)
    {
        const json_t *fa = json_object_get(inc, "first_alert");
        fprintf(f, "  %s: %s, level %s (highest %s)\n", jstr(inc, "id", "?"),
                jstr(inc, "state", "?"), jstr(inc, "level", "-"), jstr(inc, "max_level", "-"));
        if (json_is_object(fa))
            fprintf(f, "    first alert %s by %s\n", jstr(fa, "time", "-"), jstr(fa, "org", "-"));
        else
            fprintf(f, "    no alert in the period; first record %s\n", jstr(inc, "start", "-"));
        fprintf(f,
                "    alerts %" PRId64 ", incident actions %" PRId64 ", signals %" PRId64
                "; organisations: ",
                (int64_t)jint(inc, "alerts", 0), (int64_t)jint(inc, "actions", 0),
                (int64_t)jint(inc, "signals", 0));
        size_t j;
        const json_t *o;
        json_array_foreach(json_object_get(inc, "orgs"), j, o)
            fprintf(f, "%s%s", j ? ", " : "", json_string_value(o));
        fputc('\n', f);
        /* Feedback on and retractions of its records: counts, then each in the timeline. */
        fprintf(f, "    feedback on its records: ");
        const char *vk;
        const json_t *vn;
        int shown = 0;
        json_object_foreach((json_t *)json_object_get(inc, "feedback"), vk, vn)
        {
            if (json_integer_value(vn) == 0) continue;
            fprintf(f, "%s%s %" PRId64, shown++ ? ", " : "", vk, (int64_t)json_integer_value(vn));
        }
        fprintf(f, "%s; retractions %" PRId64 "\n", shown ? "" : "none",
                (int64_t)jint(inc, "retractions", 0));
        char d[32];
        json_array_foreach(json_object_get(inc, "timeline"), j, o)
        {
            dur_fmt(d, sizeof d, jint(o, "after_ms", 0));
            char line[2048];
            const char *what = jstr(o, "event", "?");
            bool on_target = is_target_event(what);
            size_t n = (size_t)snprintf(line, sizeof line, "    %-9s %-24s  %-10s  %-20s  %-25s", d,
                                        jstr(o, "time", "-"), what, jstr(o, "org", "-"),
                                        on_target ? jstr(o, "verdict", "") : jstr(o, "level", ""));
            if (n < sizeof line && on_target) {
                /* "on ClipHub's pdq 60fa89d36211", "of pdq 60fa89d36211" */
                const char *torg = jstr(o, "target_org", NULL);
                bool fbk = strcmp(what, "feedback") == 0;
                n += (size_t)snprintf(line + n, sizeof line - n, "  %s %s%s%s %.*s",
                                      fbk ? "on" : "of", fbk && torg ? torg : "",
                                      fbk && torg ? "'s " : "",
                                      jstr(o, "target_type", jstr(o, "target_kind", "record")),
                                      SHORT, jstr(o, "target", "-"));
                if (n < sizeof line && jstr(o, "reason", "")[0])
                    n += (size_t)snprintf(line + n, sizeof line - n, "  \"%s\"",
                                          jstr(o, "reason", ""));
            }
            if (n < sizeof line && strcmp(what, "alert") == 0) {
                const json_t *score = json_object_get(o, "score");
                const char *dv = jstr(o, "detector_version", "");
                n += (size_t)snprintf(line + n, sizeof line - n, "  %s%s%s",
                                      jstr(o, "detector", ""), dv[0] ? " " : "", dv);
                if (n < sizeof line && json_is_number(score))
                    n += (size_t)snprintf(line + n, sizeof line - n, " score %.2f",
                                          json_number_value(score));
                if (n < sizeof line && json_is_true(json_object_get(o, "retracted")))
                    n += (size_t)snprintf(line + n, sizeof line - n, " RETRACTED");
            }
            if (n < sizeof line && jstr(o, "note", "")[0])
                n += (size_t)snprintf(line + n, sizeof line - n, "  \"%s\"", jstr(o, "note", ""));
            if (n >= sizeof line) n = sizeof line - 1;
            while (n > 0 && line[n - 1] == ' ')
                n--;
            fprintf(f, "%.*s\n", (int)n, line);
        }
        json_array_foreach(json_object_get(inc, "signals_by_org"), j, o)
        {
            dur_fmt(d, sizeof d, jint(o, "after_ms", 0));
            fprintf(f, "    %-9s %-24s  %-10s  %-20s  first signal of %" PRId64 "\n", d,
                    jstr(o, "first", "-"), "signals", jstr(o, "org", "-"),
                    (int64_t)jint(o, "signals", 0));
        }
    }
}

static void text_disputes(const json_t *rep, FILE *f)
{
    const json_t *d = json_object_get(rep, "disputes");
    fprintf(f, "\nDisputes: %" PRId64 " records (retracted %" PRId64 ", standing %" PRId64 ")\n",
            (int64_t)jint(d, "total", 0), (int64_t)jint(d, "retracted", 0),
            (int64_t)jint(d, "not_retracted", 0));
    if (jint(d, "total", 0) == 0) return;
    fprintf(f, "  %-12s  %-14s  %-20s  %-5s  %-10s  %s\n", "target", "what", "org", "orgs", "state",
            "disputing organisations");
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(d, "list"), i, e)
    {
        char sid[SHORT + 1], what[64];
        snprintf(what, sizeof what, "%s%s%s", jstr(e, "kind", "?"),
                 jstr(e, "type", NULL) ? " " : "", jstr(e, "type", ""));
        fprintf(f, "  %-12s  %-14s  %-20s  %-5" PRId64 "  %-10s  ",
                short_id(sid, jstr(e, "target", NULL)), what, jstr(e, "org", "-"),
                (int64_t)jint(e, "orgs_dispute", 0),
                json_is_true(json_object_get(e, "retracted")) ? "retracted" : "standing");
        size_t j;
        const json_t *o;
        json_array_foreach(json_object_get(e, "orgs"), j, o)
            fprintf(f, "%s%s", j ? ", " : "", json_string_value(o));
        fputc('\n', f);
    }
}

static void text_orgs(const json_t *rep, FILE *f)
{
    const json_t *orgs = json_object_get(rep, "organisations");
    fprintf(f, "\nOrganisations: %zu\n", json_array_size(orgs));
    if (json_array_size(orgs) == 0) return;
    fprintf(f, "  %-24s  %-9s  %8s  %6s  %7s  %8s  %8s  %8s\n", "org", "role", "signals", "alerts",
            "actions", "retracts", "feedback", "disputes");
    size_t i;
    const json_t *o;
    json_array_foreach(orgs, i, o)
        fprintf(f,
                "  %-24s  %-9s  %8" PRId64 "  %6" PRId64 "  %7" PRId64 "  %8" PRId64 "  %8" PRId64
                "  %8" PRId64 "\n",
                jstr(o, "org", "?"), jstr(o, "role", "-"), (int64_t)jint(o, "signals", 0),
                (int64_t)jint(o, "alerts", 0), (int64_t)jint(o, "incident_actions", 0),
                (int64_t)jint(o, "retractions", 0), (int64_t)jint(o, "feedback", 0),
                (int64_t)jint(o, "disputes_raised", 0));
    const json_t *grants = json_object_get(rep, "grants");
    if (json_array_size(grants)) {
        fputs("  grants\n", f);
        json_array_foreach(grants, i, o)
            fprintf(f, "    %-24s  %s %s to %s\n", jstr(o, "time", "-"),
                    json_is_true(json_object_get(o, "granted")) ? "granted" : "withdrawn",
                    jstr(o, "right", "?"), jstr(o, "org", "?"));
    }
}

int report_write_text(const json_t *rep, FILE *f)
{
    text_header(rep, f);
    text_signals(rep, f);
    text_retractions(rep, f);
    text_incidents(rep, f);
    text_disputes(rep, f);
    text_orgs(rep, f);
    return ferror(f) ? -1 : 0;
}
