/*
 * MISP JSON: gifnet signals, alerts and incident records as MISP events and attributes, and
 * attributes back as signals.
 *
 * Writing gathers the records per (origin, incident): each group becomes one event whose
 * creator organisation (Orgc) is the origin's; events are written at the end in a fixed order,
 * as {"response": [{"Event": ...}, ...]}, with name-based UUIDs, so the same feed gives the
 * same bytes. What MISP has no attribute field for (labels, incident, expiry, the signal type
 * of a pdq, vpdq or url hash) travels in machine tags gifnet:key="value". docs/interchange.md
 * is the specification.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/ix_internal.h"
#include "protocol/record.h"
#include "util/gif.h"

struct ix_misp_group {
    char origin[65];
    char *incident, *org;
    uint64_t first_ms, last_ms;
    char *buf; /* the attributes' JSON, comma-separated */
    size_t len, cap, n;
};

/* ---- Writing. */

static struct ix_misp_group *group_of(struct ix_writer *w, const struct ix_rec *r)
{
    const char *inc = r->incident ? r->incident : "";
    for (size_t i = 0; i < w->ngroups; i++) {
        struct ix_misp_group *g = &w->groups[i];
        if (strcmp(g->origin, r->origin) == 0 && strcmp(g->incident, inc) == 0) return g;
    }
    if (gif_grow(&w->groups, &w->cgroups, w->ngroups + 1, sizeof *w->groups, 16)) return NULL;
    struct ix_misp_group *g = &w->groups[w->ngroups];
    memset(g, 0, sizeof *g);
    snprintf(g->origin, sizeof g->origin, "%s", r->origin);
    g->incident = strdup(inc);
    g->org = strdup(r->org);
    if (!g->incident || !g->org) {
        free(g->incident);
        free(g->org);
        return NULL;
    }
    g->first_ms = r->time_ms;
    w->ngroups++;
    return g;
}

static void add_tag(json_t *tags, const char *key, const char *value)
{
    char enc[600], name[700];
    ix_pct_encode(enc, sizeof enc, value, "\"");
    snprintf(name, sizeof name, "gifnet:%s=\"%s\"", key, enc);
    json_array_append_new(tags, json_pack("{s:s}", "name", name));
}

/* Appends an attribute (consumed) to its group's event. */
static int put_attribute(struct ix_misp_group *g, const struct ix_rec *r, json_t *a)
{
    if (r->time_ms < g->first_ms) g->first_ms = r->time_ms;
    if (r->time_ms > g->last_ms) g->last_ms = r->time_ms;
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!text) return -1;
    size_t tl = strlen(text);
    if (gif_grow(&g->buf, &g->cap, g->len + tl + 3, 1, 4096)) {
        free(text);
        return -1;
    }
    if (g->n) {
        memcpy(g->buf + g->len, ",\n", 2);
        g->len += 2;
    }
    memcpy(g->buf + g->len, text, tl);
    g->len += tl;
    g->n++;
    free(text);
    return 0;
}

/* The attribute fields every gifnet attribute has. name names its UUID. */
static json_t *attribute(const char *name, const char *type, const char *category,
                         const char *value, bool to_ids, bool deleted, uint64_t time_ms,
                         const char *comment, json_t *tags)
{
    char uuid[37], ts[24];
    ix_uuid5(uuid, name);
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)(time_ms / 1000));
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:b, s:o}", "uuid", uuid,
                     "type", type, "category", category, "value", value, "to_ids", to_ids,
                     "deleted", deleted, "timestamp", ts, "comment", comment, "distribution", "5",
                     "disable_correlation", false, "Tag", tags);
}

/* A hash attribute: a signal's (index -1), or the index-th an alert carries. Returns 0, 1
 * when the value is unusable (nothing written), -1 (memory). */
static int put_hash(struct ix_writer *w, const struct ix_rec *r, const char *type,
                    const json_t *value, int index)
{
    uint8_t st;
    if (!type || proto_stype_parse(type, &st) != 0) return 1;
    const char *mtype = "hex", *category = "Artifacts dropped";
    char *v = NULL;
    if (st == PROTO_ST_VPDQ) {
        if (!json_is_array(value)) return 1;
        mtype = "text";
        v = json_dumps(value, JSON_COMPACT);
    } else {
        if (!json_is_string(value)) return 1;
        v = strdup(json_string_value(value));
        if (st == PROTO_ST_MD5 || st == PROTO_ST_SHA256) {
            mtype = type;
            category = "Payload delivery";
        }
    }
    if (!v) return -1;
    struct ix_misp_group *g = group_of(w, r);
    if (!g) {
        free(v);
        return -1;
    }

    json_t *tags = json_array();
    add_tag(tags, "signal-type", type);
    size_t i;
    const json_t *l;
    json_array_foreach(r->labels, i, l) if (json_is_string(l))
        add_tag(tags, "label", json_string_value(l));
    if (r->incident) add_tag(tags, "incident", r->incident);
    if (r->entity) add_tag(tags, "entity", r->entity);
    if (r->content_type) add_tag(tags, "content-type", r->content_type);
    if (r->confidence >= 0) {
        char c[16];
        snprintf(c, sizeof c, "%d", (int)r->confidence);
        add_tag(tags, "confidence", c);
    }
    if (r->expires) add_tag(tags, "expires", r->expires);
    if (st == PROTO_ST_PDQ || st == PROTO_ST_VPDQ) add_tag(tags, "max-distance", "31");
    if (r->source) add_tag(tags, "source", r->source);
    if (index >= 0) add_tag(tags, "alert", r->id);

    char name[120], comment[120];
    if (index < 0) {
        snprintf(name, sizeof name, "misp-attribute:%s", r->id);
        snprintf(comment, sizeof comment, "gifnet record %s", r->id);
    } else {
        snprintf(name, sizeof name, "misp-attribute:%s:%d", r->id, index);
        snprintf(comment, sizeof comment, "gifnet alert %s, signal %d", r->id, index);
    }
    json_t *a =
        attribute(name, mtype, category, v, !r->retracted, r->retracted, r->time_ms, comment, tags);
    free(v);
    return put_attribute(g, r, a);
}

/* An alert or an incident record: a comment attribute a person reads, with machine tags. */
static int put_comment(struct ix_writer *w, const struct ix_rec *r)
{
    struct ix_misp_group *g = group_of(w, r);
    if (!g) return -1;
    const char *level = proto_level_name(r->level);
    json_t *tags = json_array();
    add_tag(tags, "kind", r->kind == IX_K_ALERT ? "alert" : "incident");
    add_tag(tags, "incident", r->incident);
    add_tag(tags, "level", level);
    char text[1600], score[16] = "";
    int n;
    if (r->kind == IX_K_ALERT) {
        if (r->score >= 0)
            snprintf(score, sizeof score, "%d.%04d", r->score / 10000, r->score % 10000);
        n = snprintf(text, sizeof text, "gifnet alert: incident %s, level %s, %s%s%s%s%s",
                     r->incident, level, r->detector ? "detector " : "an analyst's alert",
                     r->detector ? r->detector : "", r->detector_version ? " " : "",
                     r->detector_version ? r->detector_version : "", score[0] ? ", score " : "");
        if (n > 0 && (size_t)n < sizeof text)
            n += snprintf(text + n, sizeof text - n, "%s, %zu signal%s", score,
                          json_array_size(r->signals), json_array_size(r->signals) == 1 ? "" : "s");
        if (r->detector) add_tag(tags, "detector", r->detector);
        if (r->detector_version) add_tag(tags, "detector-version", r->detector_version);
        if (score[0]) add_tag(tags, "score", score);
    } else {
        const char *action = proto_action_name(r->action);
        n = snprintf(text, sizeof text, "gifnet incident record: incident %s, %s, level %s",
                     r->incident, action, level);
        add_tag(tags, "action", action);
    }
    if (r->note && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - n, ": %s", r->note);
    char name[96], comment[96];
    snprintf(name, sizeof name, "misp-attribute:%s", r->id);
    snprintf(comment, sizeof comment, "gifnet record %s", r->id);
    return put_attribute(
        g, r,
        attribute(name, "comment", "Other", text, false, r->retracted, r->time_ms, comment, tags));
}

int ix_misp_add(struct ix_writer *w, const struct ix_rec *r)
{
    if (r->kind == IX_K_SIGNAL) {
        int rc = put_hash(w, r, r->type, r->value, -1);
        if (rc == 0) w->st.written++;
        return rc < 0 ? -1 : 0;
    }
    if (r->kind == IX_K_ALERT) {
        struct ix_rec c = *r; /* the carried signals: the alert's fields, its score as confidence */
        c.confidence = r->score >= 0 ? (r->score + 50) / 100 : -1;
        size_t i;
        const json_t *sg;
        json_array_foreach(r->signals, i, sg)
        {
            if (put_hash(w, &c, json_string_value(json_object_get(sg, "type")),
                         json_object_get(sg, "value"), (int)i) < 0)
                return -1;
        }
    }
    if (put_comment(w, r) != 0) return -1;
    if (r->kind == IX_K_ALERT)
        w->st.alerts++;
    else
        w->st.incidents++;
    return 0;
}

static int group_cmp(const void *a, const void *b)
{
    const struct ix_misp_group *x = a, *y = b;
    int c = strcmp(x->origin, y->origin);
    return c ? c : strcmp(x->incident, y->incident);
}

int ix_misp_finish(struct ix_writer *w)
{
    if (w->ngroups > 1) qsort(w->groups, w->ngroups, sizeof *w->groups, group_cmp);
    fputs("{\"response\":[", w->f);
    for (size_t i = 0; i < w->ngroups; i++) {
        struct ix_misp_group *g = &w->groups[i];
        char uuid[37], orguuid[37], name[200], date[40], ts[24], info[300];
        snprintf(name, sizeof name, "misp-event:%s:%.64s", g->origin, g->incident);
        ix_uuid5(uuid, name);
        snprintf(name, sizeof name, "misp-org:%s", g->origin);
        ix_uuid5(orguuid, name);
        gif_time_fmt(date, sizeof date, g->first_ms);
        date[10] = '\0';
        snprintf(ts, sizeof ts, "%llu", (unsigned long long)(g->last_ms / 1000));
        const char *org = *g->org ? g->org : g->origin;
        if (*g->incident)
            snprintf(info, sizeof info, "gifnet: incident %s (%s)", g->incident, org);
        else
            snprintf(info, sizeof info, "gifnet: signals without an incident (%s)", org);
        /* MISP's threat levels 1 high, 2 medium, 3 low from the incident's tier; high for
         * signals with no tier (gifnet shares only terrorist content). */
        const struct ix_incident *in = ix_incident_find(w, *g->incident ? g->incident : NULL);
        uint8_t level = in ? ix_incident_level(in) : 0;
        const char *threat = level == PROTO_LEVEL_INCIDENT      ? "2"
                             : level == PROTO_LEVEL_SITUATIONAL ? "3"
                                                                : "1";
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:{s:s, s:s}}", "uuid",
                               uuid, "info", info, "date", date, "timestamp", ts, "published",
                               false, "analysis", "2", "threat_level_id", threat, "distribution",
                               "0", "Orgc", "name", org, "uuid", orguuid);
        if (!ev) return -1;
        json_t *tags = json_array();
        if (*g->incident) add_tag(tags, "incident", g->incident);
        if (level) {
            add_tag(tags, "level", proto_level_name(level));
            add_tag(tags, "status", ix_incident_concluded(in) ? "concluded" : "open");
        }
        json_object_set_new(ev, "Tag", tags);
        char *head = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (!head) return -1;
        head[strlen(head) - 1] = '\0'; /* drop the closing brace: the attributes follow */
        fprintf(w->f, "%s\n{\"Event\":%s,\"Attribute\":[\n", i ? "," : "", head);
        free(head);
        fwrite(g->buf, 1, g->len, w->f);
        fputs("\n]}}", w->f);
    }
    fputs(w->ngroups ? "\n]}\n" : "]}\n", w->f);
    return 0;
}

void ix_misp_free(struct ix_writer *w)
{
    for (size_t i = 0; i < w->ngroups; i++) {
        free(w->groups[i].incident);
        free(w->groups[i].org);
        free(w->groups[i].buf);
    }
    free(w->groups);
    w->groups = NULL;
    w->ngroups = w->cgroups = 0;
}

/* ---- Reading. */

static bool truthy(const json_t *v, bool dflt)
{
    if (!v || json_is_null(v)) return dflt;
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return !(strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || *s == '\0');
    }
    return dflt;
}

/* Applies a Tag list's gifnet tags and labels to sig; returns a reason for a bad gifnet tag. */
static const char *apply_tags(json_t *sig, const json_t *tags, char *hint, size_t hintlen)
{
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *name = json_string_value(json_is_object(t) ? json_object_get(t, "name") : t);
        if (!name) continue;
        const char *bad;
        if (ix_gifnet_tag(sig, name, hint, hintlen, &bad)) {
            if (bad) return bad;
        } else {
            ix_tag_label(sig, name);
        }
    }
    return NULL;
}

struct ev_ctx {
    const struct ix_sink *s;
    struct ix_read_stats *st;
    const json_t *event_tags;
    char source[IX_SOURCE_MAX + 1];
    unsigned long item;
};

static void read_attribute(struct ev_ctx *e, const json_t *a)
{
    unsigned long item = ++e->item;
    e->st->items++;
    const struct ix_sink *s = e->s;
    if (!json_is_object(a)) return ix_reject(s, item, "attribute is not a JSON object", NULL);
    const char *type = json_string_value(json_object_get(a, "type"));
    const char *value = json_string_value(json_object_get(a, "value"));
    const char *uuid = json_string_value(json_object_get(a, "uuid"));
    if (truthy(json_object_get(a, "deleted"), false))
        return ix_skip(s, item, "deleted", uuid ? uuid : value);
    if (!truthy(json_object_get(a, "to_ids"), true))
        return ix_skip(s, item, "to_ids is false (not for detection)", value);
    if (!type) return ix_reject(s, item, "attribute without a \"type\"", uuid);
    if (!value) return ix_reject(s, item, "attribute without a string \"value\"", uuid);

    json_t *sig = json_object();
    char hint[16] = "";
    const char *bad = apply_tags(sig, e->event_tags, hint, sizeof hint);
    if (!bad) bad = apply_tags(sig, json_object_get(a, "Tag"), hint, sizeof hint);
    if (bad) {
        json_decref(sig);
        return ix_reject(s, item, bad, value);
    }
    const char *stype = NULL;
    const char *v = value;
    if (strcmp(type, "md5") == 0 || strcmp(type, "sha256") == 0 || strcmp(type, "pdq") == 0) {
        stype = type;
    } else if (strcmp(type, "filename|md5") == 0 || strcmp(type, "filename|sha256") == 0) {
        stype = type + 9;
        const char *bar = strrchr(value, '|');
        v = bar ? bar + 1 : "";
    } else if (strcmp(type, "url") == 0) {
        stype = "url";
    } else if ((strcmp(type, "hex") == 0 || strcmp(type, "text") == 0 ||
                strcmp(type, "other") == 0) &&
               (strcmp(hint, "pdq") == 0 || strcmp(hint, "vpdq") == 0 ||
                strcmp(hint, "url") == 0)) {
        stype = hint;
    }
    if (!stype) {
        char why[120];
        snprintf(why, sizeof why, "unsupported attribute type '%.40s'", type);
        json_decref(sig);
        return ix_reject(s, item, why, value);
    }
    if (hint[0] && strcmp(hint, stype) != 0) {
        json_decref(sig);
        return ix_reject(s, item, "gifnet:signal-type tag disagrees with the attribute type",
                         value);
    }
    json_object_set_new(sig, "type", json_string(stype));
    if (strcmp(stype, "vpdq") == 0) {
        char why[200];
        json_t *vs = json_string(v);
        json_t *frames = ix_vpdq_frames(vs, why, sizeof why);
        json_decref(vs);
        if (!frames) {
            json_decref(sig);
            return ix_reject(s, item, why, NULL);
        }
        json_object_set_new(sig, "value", frames);
    } else if (strcmp(stype, "url") == 0 && strcmp(type, "url") != 0) {
        uint8_t b[32]; /* a gifnet url hash, never a URL to hash again */
        if (gif_unhex(b, 32, v, strlen(v)) != 0) {
            json_decref(sig);
            return ix_reject(s, item, "url hash is not 64 hex digits", value);
        }
        json_object_set_new(sig, "value", json_string(v));
    } else {
        json_object_set_new(sig, "value", json_string(v));
    }
    json_object_set_new(sig, "source", json_string(e->source));
    ix_emit(s, item, sig, value);
}

static void read_event(struct ev_ctx *e, const json_t *ev)
{
    const json_t *orgc = json_object_get(ev, "Orgc");
    if (!orgc) orgc = json_object_get(ev, "Org");
    const char *org = json_string_value(json_object_get(orgc, "name"));
    const json_t *idv = json_object_get(ev, "uuid");
    if (!json_is_string(idv)) idv = json_object_get(ev, "id");
    char id[80];
    if (json_is_string(idv))
        snprintf(id, sizeof id, "%.64s", json_string_value(idv));
    else if (json_is_integer(idv))
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(idv));
    else
        snprintf(id, sizeof id, "?");
    char suffix[96];
    snprintf(suffix, sizeof suffix, "%sevent %s", org && *org ? "/" : "", id);
    /* "misp:" + org cut to fit + "/event ID" */
    char orgpart[IX_SOURCE_MAX + 1];
    size_t room = IX_SOURCE_MAX - 5 - strlen(suffix);
    char pfx[8] = "";
    ix_source(orgpart, pfx, org ? org : "");
    size_t n = strlen(orgpart);
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)orgpart[n] & 0xC0) == 0x80)
            n--;
        orgpart[n] = '\0';
    }
    snprintf(e->source, sizeof e->source, "misp:%s%s", orgpart, suffix);
    e->event_tags = json_object_get(ev, "Tag");
    size_t i, j;
    const json_t *a, *obj;
    json_array_foreach(json_object_get(ev, "Attribute"), i, a) read_attribute(e, a);
    json_array_foreach(json_object_get(ev, "Object"), i, obj)
    {
        json_array_foreach(json_object_get(obj, "Attribute"), j, a) read_attribute(e, a);
    }
}

/* The event object of a list element: {"Event": {...}} or the event itself. */
static const json_t *event_in(const json_t *x)
{
    const json_t *ev = json_object_get(x, "Event");
    if (json_is_object(ev)) return ev;
    if (json_is_object(x) && (json_object_get(x, "Attribute") || json_object_get(x, "Object")))
        return x;
    return NULL;
}

enum ix_format ix_detect_json(const json_t *doc)
{
    if (json_is_object(doc)) {
        const char *t = json_string_value(json_object_get(doc, "type"));
        if (t && strcmp(t, "bundle") == 0) return IX_STIX;
        if (json_object_get(doc, "Event") || json_object_get(doc, "response")) return IX_MISP;
        return IX_NONE;
    }
    if (json_is_array(doc) && json_array_size(doc) > 0 && event_in(json_array_get(doc, 0)))
        return IX_MISP;
    return IX_NONE;
}

int ix_misp_read(const json_t *doc, const struct ix_sink *s, struct ix_read_stats *st, char *err,
                 size_t errlen)
{
    struct ix_read_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    const json_t *list = NULL, *single = NULL;
    if (json_is_object(doc)) {
        const json_t *r = json_object_get(doc, "response");
        if (json_is_array(r))
            list = r;
        else if (json_is_object(r))
            single = event_in(r);
        else if (json_object_get(doc, "Event"))
            single = event_in(doc);
    } else if (json_is_array(doc)) {
        list = doc;
    }
    if (!list && !single) {
        gif_seterr(err, errlen,
                   "not MISP JSON ({\"Event\": {...}}, {\"response\": [...]} or a list of events)");
        return -1;
    }
    struct ev_ctx e = {.s = s, .st = st};
    if (single) {
        read_event(&e, single);
        return 0;
    }
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *ev = event_in(x);
        if (!ev) {
            st->ignored++;
            continue;
        }
        read_event(&e, ev);
    }
    return 0;
}
