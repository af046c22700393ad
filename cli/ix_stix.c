/*
 * STIX 2.1 bundles: gifnet signals as indicators, alerts as sightings of incidents (with an
 * indicator per hash they carry), incident records as notes on incidents; indicators back as
 * signals.
 *
 * Writing streams the bundle: identity objects for the gifnet project and for each origin
 * organisation, the gifnet extension's definition, then the objects of each record in feed
 * order, then one incident object per incident named (its state is known only at the end);
 * the bundle's id comes last (a name-based UUID of every object id), so the same feed always
 * gives the same bytes. Reading walks a parsed bundle; stix patterns are read by the small parser
 * below (file and artifact hashes MD5 and SHA-256, url:value), gifnet's own pattern types through
 * the extension. docs/interchange.md is the specification.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ix_internal.h"
#include "protocol/record.h"
#include "util/gif.h"

#define STIX_FIXED_TIME "2026-11-22T00:00:00.000Z" /* created/modified of the fixed objects */
#define STIX_EXT_MODIFIED "2026-11-22T12:00:00.000Z" /* the extension, 1.1.0 */
#define STIX_PATTERN_MAX (64 * 1024)             /* a stix pattern read, bytes */
#define STIX_PATTERN_HASHES 1000                 /* signals from one pattern */
#define STIX_DEPTH_MAX 64                        /* parenthesis nesting in a pattern */

/* ---- Writing. */

static void put_obj(struct ix_writer *w, json_t *o)
{
    if (!o) return; /* out of memory while building it */
    const char *id = json_string_value(json_object_get(o, "id"));
    crypto_hash_sha256_update(&w->ids, (const uint8_t *)id, strlen(id));
    crypto_hash_sha256_update(&w->ids, (const uint8_t *)"\n", 1);
    fputs(w->first ? "{\"type\":\"bundle\",\"objects\":[\n" : ",\n", w->f);
    w->first = false;
    json_dumpf(o, w->f, JSON_COMPACT);
    json_decref(o);
}

static void put_fixed(struct ix_writer *w)
{
    put_obj(w, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "identity",
                         "spec_version", "2.1", "id", IX_STIX_GIFNET_IDENTITY, "created",
                         STIX_FIXED_TIME, "modified", STIX_FIXED_TIME, "name", "gifnet",
                         "identity_class", "system", "description",
                         "gifnet: signed counter-terrorism hash sharing between consortium "
                         "members' nodes"));
    put_obj(w, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "type",
                         "extension-definition", "spec_version", "2.1", "id", IX_STIX_EXT_ID,
                         "created_by_ref", IX_STIX_GIFNET_IDENTITY, "created", STIX_FIXED_TIME,
                         "modified", STIX_EXT_MODIFIED, "name", "gifnet", "description",
                         "What gifnet records hold beyond STIX: on indicators, the signal type, "
                         "perceptual hashes (pdq, vpdq) and their match distance, the incident, "
                         "entity and content type, and the gifnet record (a signal, or an alert "
                         "carrying the hash) they came from; on sightings, a detector's alert "
                         "(level, detector, version, score); on notes, an incident record (action, "
                         "level); on incidents, the incident's folded level and status.",
                         "schema",
                         "gifnet docs/interchange.md, 'The gifnet STIX extension': properties "
                         "signal_type (md5, sha256, pdq, vpdq, url), record, origin, incident, "
                         "entity, content_type, verified, source, hash (pdq), frames (vpdq: "
                         "hash, quality, frame, time), url_sha256 (url), max_distance (pdq, vpdq), "
                         "alert_signal (an alert's indicators); kind (alert, incident, "
                         "incident-state), level, detector, detector_version, score (0-10000), "
                         "note, indicators (sightings); action (notes); status (incidents)",
                         "version", "1.1.0", "extension_types", "property-extension"));
}

/* The member entry of GET /v1/members for a key, or NULL. */
static const json_t *member_of(const struct ix_writer *w, const char *key)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(w->members, "members"), i, m)
    {
        const char *k = json_string_value(json_object_get(m, "key"));
        if (k && strcmp(k, key) == 0) return m;
    }
    return NULL;
}

static int put_identity(struct ix_writer *w, const struct ix_rec *r, char id[80])
{
    char uuid[37], name[96];
    snprintf(name, sizeof name, "identity:%s", r->origin);
    ix_uuid5(uuid, name);
    snprintf(id, 80, "identity--%s", uuid);
    for (size_t i = 0; i < w->norigins; i++)
        if (strcmp(w->origins[i], r->origin) == 0) return 0;
    if (gif_grow(&w->origins, &w->corigins, w->norigins + 1, sizeof *w->origins, 16)) return -1;
    snprintf(w->origins[w->norigins++], 65, "%s", r->origin);
    const json_t *m = member_of(w, r->origin);
    const char *org = r->org && *r->org ? r->org : json_string_value(json_object_get(m, "org"));
    const char *role = r->role ? r->role : json_string_value(json_object_get(m, "role"));
    const char *since = json_string_value(json_object_get(m, "not_before"));
    uint64_t ms;
    if (!since || gif_time_parse(since, &ms) != 0) since = r->time;
    char desc[160];
    snprintf(desc, sizeof desc, "gifnet member, node key %s", r->origin);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "identity",
                          "spec_version", "2.1", "id", id, "created", since, "modified", since,
                          "name", org && *org ? org : r->origin, "identity_class",
                          "organization", "description", desc);
    if (!o) return -1;
    if (role) json_object_set_new(o, "roles", json_pack("[s]", role));
    put_obj(w, o);
    return 0;
}

/* The id of an object named by a gifnet name ("indicator:<record id>") into out. */
static void object_id(char out[96], const char *type, const char *name)
{
    char uuid[37];
    ix_uuid5(uuid, name);
    snprintf(out, 96, "%s--%s", type, uuid);
}

/* The common tail of every object written for a record: its gifnet reference, revocation, and
 * the extension (consumed). */
static void put_record_obj(struct ix_writer *w, json_t *o, const struct ix_rec *r, json_t *ext)
{
    if (r->retracted) json_object_set_new(o, "revoked", json_true());
    json_object_set_new(o, "external_references",
                        json_pack("[{s:s, s:s}]", "source_name", "gifnet", "external_id", r->id));
    json_object_set_new(o, "extensions", json_pack("{s:o}", IX_STIX_EXT_ID, ext));
    put_obj(w, o);
}

/* "related-to" from an indicator to the incident its record names. */
static void put_related(struct ix_writer *w, const struct ix_rec *r, const char *by,
                        const char *from)
{
    char inc[48], id[96], name[160];
    ix_stix_incident_id(inc, r->incident);
    snprintf(name, sizeof name, "relationship:%s:%s", from, inc);
    object_id(id, "relationship", name);
    put_obj(w, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "relationship",
                         "spec_version", "2.1", "id", id, "created_by_ref", by, "created", r->time,
                         "modified", r->time, "relationship_type", "related-to", "source_ref", from,
                         "target_ref", inc));
}

/*
 * An indicator for a hash: a signal's own (index -1), or the index-th one an alert carries.
 * Its id goes to id_out. Returns 0, 1 when the value is unusable (nothing written), -1 (memory).
 */
static int put_indicator(struct ix_writer *w, const struct ix_rec *r, const char *type,
                         const json_t *value, int index, const char *by, char id_out[96])
{
    uint8_t st;
    if (!type || proto_stype_parse(type, &st) != 0) return 1;
    char name[96];
    if (index < 0)
        snprintf(name, sizeof name, "indicator:%s", r->id);
    else
        snprintf(name, sizeof name, "indicator:%s:%d", r->id, index);
    object_id(id_out, "indicator", name);

    json_t *ext = json_pack("{s:s, s:s, s:s, s:s}", "extension_type", "property-extension",
                            "signal_type", type, "record", r->id, "origin", r->origin);
    if (index >= 0) json_object_set_new(ext, "alert_signal", json_integer(index));
    char *pattern = NULL;
    const char *ptype = "stix", *hex = json_string_value(value);
    char label[160];
    switch (st) {
    case PROTO_ST_MD5:
    case PROTO_ST_SHA256:
        if (!hex) goto bad;
        pattern = malloc(strlen(hex) + 64);
        if (pattern)
            sprintf(pattern, "[file:hashes.%s = '%s']", st == PROTO_ST_MD5 ? "MD5" : "'SHA-256'",
                    hex);
        snprintf(label, sizeof label, "%s %s", type, hex);
        break;
    case PROTO_ST_PDQ:
        if (!hex) goto bad;
        pattern = strdup(hex);
        ptype = "pdq";
        json_object_set_new(ext, "hash", json_string(hex));
        json_object_set_new(ext, "max_distance", json_integer(IX_MAX_DISTANCE));
        snprintf(label, sizeof label, "pdq %s", hex);
        break;
    case PROTO_ST_URL:
        if (!hex) goto bad;
        pattern = strdup(hex);
        ptype = "url-sha256";
        json_object_set_new(ext, "url_sha256", json_string(hex));
        snprintf(label, sizeof label, "url (SHA-256 of the normalised URL) %s", hex);
        break;
    case PROTO_ST_VPDQ:
        if (!json_is_array(value)) goto bad;
        pattern = ix_vpdq_te_string(value);
        ptype = "vpdq";
        json_object_set(ext, "frames", (json_t *)value);
        json_object_set_new(ext, "max_distance", json_integer(IX_MAX_DISTANCE));
        snprintf(label, sizeof label, "vpdq (%zu frames)", json_array_size(value));
        break;
    }
    if (!pattern) {
        json_decref(ext);
        return -1;
    }
    if (index >= 0) { /* "md5 <hex> (alert on chc-2019)" */
        size_t n = strlen(label);
        snprintf(label + n, sizeof label - n, " (alert on %.64s)", r->incident);
    }
    if (r->incident) json_object_set_new(ext, "incident", json_string(r->incident));
    if (r->entity) json_object_set_new(ext, "entity", json_string(r->entity));
    if (r->content_type) json_object_set_new(ext, "content_type", json_string(r->content_type));
    if (r->verified) json_object_set_new(ext, "verified", json_true());
    if (r->source) json_object_set_new(ext, "source", json_string(r->source));

    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s}", "type",
                          "indicator", "spec_version", "2.1", "id", id_out, "created_by_ref", by,
                          "created", r->time, "modified", r->time, "name", label, "indicator_types",
                          "malicious-activity", "pattern", pattern, "pattern_type", ptype);
    free(pattern);
    if (!o) {
        json_decref(ext);
        return -1;
    }
    if (strcmp(ptype, "stix") == 0) json_object_set_new(o, "pattern_version", json_string("2.1"));
    json_object_set_new(o, "valid_from", json_string(r->time));
    /* valid_until must be later than valid_from; an expiry before publication stays in the
     * extension only. */
    if (r->expires && r->expires_ms > r->time_ms)
        json_object_set_new(o, "valid_until", json_string(r->expires));
    else if (r->expires)
        json_object_set_new(ext, "expires", json_string(r->expires));
    if (json_array_size(r->labels)) json_object_set(o, "labels", (json_t *)r->labels);
    if (r->confidence >= 0) json_object_set_new(o, "confidence", json_integer(r->confidence));
    put_record_obj(w, o, r, ext);
    if (r->incident) put_related(w, r, by, id_out);
    return 0;
bad:
    json_decref(ext);
    return 1;
}

/* An alert: an indicator per signal it carries, and a sighting of its incident by the origin
 * with what the detector said. */
static int put_alert(struct ix_writer *w, const struct ix_rec *r, const char *by)
{
    struct ix_rec c = *r; /* the carried signals: the alert's fields, no signal-only ones */
    c.confidence = r->score >= 0 ? (r->score + 50) / 100 : -1;
    json_t *inds = json_array();
    size_t i;
    const json_t *sg;
    json_array_foreach(r->signals, i, sg)
    {
        char id[96];
        int rc = put_indicator(w, &c, json_string_value(json_object_get(sg, "type")),
                               json_object_get(sg, "value"), (int)i, by, id);
        if (rc < 0) {
            json_decref(inds);
            return -1;
        }
        if (rc == 0) json_array_append_new(inds, json_string(id));
    }
    const char *level = proto_level_name(r->level);
    char name[96], id[96], inc[48], desc[600];
    snprintf(name, sizeof name, "sighting:%s", r->id);
    object_id(id, "sighting", name);
    ix_stix_incident_id(inc, r->incident);
    int n =
        snprintf(desc, sizeof desc, "gifnet alert on incident %s, level %s", r->incident, level);
    if (r->detector && n > 0 && (size_t)n < sizeof desc)
        n += snprintf(desc + n, sizeof desc - n, ", detector %s%s%s", r->detector,
                      r->detector_version ? " " : "",
                      r->detector_version ? r->detector_version : "");
    else if (n > 0 && (size_t)n < sizeof desc)
        n += snprintf(desc + n, sizeof desc - n, ", an analyst's alert");
    if (r->score >= 0 && n > 0 && (size_t)n < sizeof desc)
        snprintf(desc + n, sizeof desc - n, ", score %d.%04d", r->score / 10000, r->score % 10000);

    json_t *ext = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "extension_type",
                            "property-extension", "kind", "alert", "record", r->id, "origin",
                            r->origin, "incident", r->incident, "level", level, "indicators", inds);
    if (r->detector) json_object_set_new(ext, "detector", json_string(r->detector));
    if (r->detector_version)
        json_object_set_new(ext, "detector_version", json_string(r->detector_version));
    if (r->score >= 0) json_object_set_new(ext, "score", json_integer(r->score));
    if (r->note) json_object_set_new(ext, "note", json_string(r->note));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:[s], s:s}", "type",
                          "sighting", "spec_version", "2.1", "id", id, "created_by_ref", by,
                          "created", r->time, "modified", r->time, "first_seen", r->time,
                          "last_seen", r->time, "count", 1, "sighting_of_ref", inc,
                          "where_sighted_refs", by, "description", desc);
    if (!o || !ext) {
        json_decref(o);
        json_decref(ext);
        return -1;
    }
    if (c.confidence >= 0) json_object_set_new(o, "confidence", json_integer(c.confidence));
    put_record_obj(w, o, r, ext);
    w->st.alerts++;
    return 0;
}

/* An incident record: a note on the incident. */
static int put_incident_record(struct ix_writer *w, const struct ix_rec *r, const char *by)
{
    const char *action = proto_action_name(r->action), *level = proto_level_name(r->level);
    char name[96], id[96], inc[48], abstract[200];
    snprintf(name, sizeof name, "note:%s", r->id);
    object_id(id, "note", name);
    ix_stix_incident_id(inc, r->incident);
    snprintf(abstract, sizeof abstract, "gifnet incident %s: %s, level %s", r->incident, action,
             level);
    json_t *ext = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "extension_type",
                            "property-extension", "kind", "incident", "record", r->id, "origin",
                            r->origin, "incident", r->incident, "action", action, "level", level);
    if (r->note && ext) json_object_set_new(ext, "note", json_string(r->note));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "type", "note",
                          "spec_version", "2.1", "id", id, "created_by_ref", by, "created", r->time,
                          "modified", r->time, "abstract", abstract, "content",
                          r->note ? r->note : abstract, "object_refs", inc);
    if (!o || !ext) {
        json_decref(o);
        json_decref(ext);
        return -1;
    }
    put_record_obj(w, o, r, ext);
    w->st.incidents++;
    return 0;
}

int ix_stix_add(struct ix_writer *w, const struct ix_rec *r)
{
    if (w->first) put_fixed(w);
    char by[80];
    if (put_identity(w, r, by)) return -1;
    if (r->kind == IX_K_ALERT) return put_alert(w, r, by);
    if (r->kind == IX_K_INCIDENT) return put_incident_record(w, r, by);
    char id[96];
    int rc = put_indicator(w, r, r->type, r->value, -1, by, id);
    if (rc == 0) w->st.written++;
    return rc < 0 ? -1 : 0;
}

static int cmp_inc(const void *a, const void *b)
{
    return strcmp(((const struct ix_incident *)a)->name, ((const struct ix_incident *)b)->name);
}

/* The incidents the written records name, each as its folded state, in name order. */
static int put_incidents(struct ix_writer *w)
{
    if (w->nincs > 1) qsort(w->incs, w->nincs, sizeof *w->incs, cmp_inc);
    for (size_t i = 0; i < w->nincs; i++) {
        const struct ix_incident *in = &w->incs[i];
        char id[48], first[48], last[48], desc[300];
        ix_stix_incident_id(id, in->name);
        gif_time_fmt(first, sizeof first, in->first_ms);
        gif_time_fmt(last, sizeof last, in->last_ms);
        uint8_t level = ix_incident_level(in);
        const char *status = ix_incident_concluded(in) ? "concluded" : "open";
        if (level)
            snprintf(desc, sizeof desc, "gifnet incident %s: %s, level %s", in->name, status,
                     proto_level_name(level));
        else
            snprintf(desc, sizeof desc,
                     "gifnet incident %s: signals filed under it, no alert "
                     "or incident record in this export",
                     in->name);
        json_t *ext = json_pack("{s:s, s:s, s:s, s:s}", "extension_type", "property-extension",
                                "kind", "incident-state", "incident", in->name, "status", status);
        if (ext && level) json_object_set_new(ext, "level", json_string(proto_level_name(level)));
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:o}",
                              "type", "incident", "spec_version", "2.1", "id", id, "created_by_ref",
                              IX_STIX_GIFNET_IDENTITY, "created", first, "modified", last, "name",
                              in->name, "description", desc, "external_references", "source_name",
                              "gifnet-incident", "external_id", in->name, "extensions",
                              json_pack("{s:o}", IX_STIX_EXT_ID, ext));
        if (!o) return -1;
        put_obj(w, o);
    }
    return 0;
}

int ix_stix_finish(struct ix_writer *w)
{
    if (put_incidents(w) != 0) return -1;
    uint8_t h[32];
    char hex[65], name[80], uuid[37];
    crypto_hash_sha256_final(&w->ids, h);
    gif_hex(hex, h, 32);
    snprintf(name, sizeof name, "bundle:%s", hex);
    ix_uuid5(uuid, name);
    if (w->first)
        fprintf(w->f, "{\"type\":\"bundle\",\"id\":\"bundle--%s\"}\n", uuid);
    else
        fprintf(w->f, "\n],\"id\":\"bundle--%s\"}\n", uuid);
    return 0;
}

/* ---- The pattern parser (STIX 2.1 patterning, the subset that names hashes and URLs). */

enum tok { T_END, T_LBRACK, T_RBRACK, T_LPAREN, T_RPAREN, T_PATH, T_WORD, T_STRING, T_OP, T_OTHER };

struct lex {
    const char *p, *end;
    enum tok t;
    const char *s; /* token text */
    size_t n;
    char *str; /* T_STRING: the unescaped value (malloc'd) */
    const char *err;
    int depth;
    json_t *out; /* [{type, value}] */
    bool usable_seen;
};

static void next(struct lex *l)
{
    free(l->str);
    l->str = NULL;
    while (l->p < l->end && isspace((unsigned char)*l->p))
        l->p++;
    l->s = l->p;
    l->n = 0;
    if (l->p >= l->end) {
        l->t = T_END;
        return;
    }
    char c = *l->p;
    if (c == '[' || c == ']' || c == '(' || c == ')') {
        l->t = c == '[' ? T_LBRACK : c == ']' ? T_RBRACK : c == '(' ? T_LPAREN : T_RPAREN;
        l->p++;
        l->n = 1;
        return;
    }
    if (c == '\'') {
        size_t cap = (size_t)(l->end - l->p);
        char *o = malloc(cap + 1);
        size_t k = 0;
        l->p++;
        for (;;) {
            if (l->p >= l->end || !o) {
                free(o);
                l->err = "unterminated string in pattern";
                l->t = T_OTHER;
                return;
            }
            if (*l->p == '\\') {
                if (l->p + 1 >= l->end || (l->p[1] != '\'' && l->p[1] != '\\')) {
                    free(o);
                    l->err = "bad escape in a pattern string";
                    l->t = T_OTHER;
                    return;
                }
                o[k++] = l->p[1];
                l->p += 2;
                continue;
            }
            if (*l->p == '\'') {
                l->p++;
                break;
            }
            o[k++] = *l->p++;
        }
        o[k] = '\0';
        l->str = o;
        l->n = k;
        l->t = T_STRING;
        return;
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
        l->p++;
        if (l->p < l->end && *l->p == '=') l->p++;
        l->n = (size_t)(l->p - l->s);
        l->t = (l->n == 1 && c == '!') ? T_OTHER : T_OP;
        return;
    }
    if (isalnum((unsigned char)c) || c == '_' || c == '-') {
        /* A word, or an object path: type ':' property ('.' property | '.' 'quoted' | [n])* */
        while (l->p < l->end &&
               (isalnum((unsigned char)*l->p) || *l->p == '_' || *l->p == '-'))
            l->p++;
        if (l->p < l->end && *l->p == ':') {
            l->p++;
            while (l->p < l->end) {
                char d = *l->p;
                if (isalnum((unsigned char)d) || d == '_' || d == '-' || d == '.') {
                    l->p++;
                } else if (d == '\'' && l->p[-1] == '.') {
                    const char *q = memchr(l->p + 1, '\'', (size_t)(l->end - l->p - 1));
                    if (!q) break;
                    l->p = q + 1;
                } else if (d == '[') {
                    const char *q = memchr(l->p, ']', (size_t)(l->end - l->p));
                    if (!q) break;
                    l->p = q + 1;
                } else {
                    break;
                }
            }
            l->t = T_PATH;
        } else if (l->p < l->end && *l->p == '\'' && l->p - l->s == 1) {
            l->t = T_OTHER; /* t'...', h'...', b'...' literals: not hashes we can use */
            const char *q = memchr(l->p + 1, '\'', (size_t)(l->end - l->p - 1));
            l->p = q ? q + 1 : l->end;
        } else {
            l->t = T_WORD;
        }
        l->n = (size_t)(l->p - l->s);
        return;
    }
    l->t = T_OTHER;
    l->p++;
    l->n = 1;
}

static bool word_is(const struct lex *l, const char *w)
{
    return l->t == T_WORD && strlen(w) == l->n && strncasecmp(l->s, w, l->n) == 0;
}

/* The signal type a path names ("md5", "sha256", "url"), or NULL. */
static const char *path_type(const char *s, size_t n)
{
    char buf[64];
    size_t k = 0;
    if (n >= sizeof buf) return NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\'') buf[k++] = (char)tolower((unsigned char)s[i]);
    buf[k] = '\0';
    if (strcmp(buf, "url:value") == 0) return "url";
    const char *h = NULL;
    if (strncmp(buf, "file:hashes.", 12) == 0) h = buf + 12;
    if (strncmp(buf, "artifact:hashes.", 16) == 0) h = buf + 16;
    if (!h) return NULL;
    if (strcmp(h, "md5") == 0) return "md5";
    if (strcmp(h, "sha-256") == 0 || strcmp(h, "sha256") == 0) return "sha256";
    return NULL;
}

static void comp_expr(struct lex *l);

/* comparison: [NOT] path op value | EXISTS path | '(' comp_expr ')' */
static void comp_term(struct lex *l)
{
    if (l->err) return;
    if (l->t == T_LPAREN) {
        if (++l->depth > STIX_DEPTH_MAX) {
            l->err = "pattern nested too deep";
            return;
        }
        next(l);
        comp_expr(l);
        if (l->err) return;
        if (l->t != T_RPAREN) {
            l->err = "')' expected in pattern";
            return;
        }
        l->depth--;
        next(l);
        return;
    }
    bool negated = false;
    if (word_is(l, "EXISTS")) {
        next(l);
        if (l->t != T_PATH) l->err = "object path expected after EXISTS";
        next(l);
        return;
    }
    if (word_is(l, "NOT")) {
        negated = true;
        next(l);
    }
    if (l->t != T_PATH) {
        l->err = "object path expected in pattern";
        return;
    }
    const char *type = path_type(l->s, l->n);
    next(l);
    bool eq = l->t == T_OP && l->n == 1 && l->s[0] == '=';
    if (l->t == T_OP) {
        next(l);
    } else if (word_is(l, "LIKE") || word_is(l, "MATCHES") || word_is(l, "ISSUBSET") ||
               word_is(l, "ISSUPERSET")) {
        next(l);
    } else if (word_is(l, "IN")) {
        next(l);
        if (l->t != T_LPAREN) {
            l->err = "'(' expected after IN";
            return;
        }
        while (l->t != T_RPAREN && l->t != T_END && !l->err)
            next(l);
        if (l->t != T_RPAREN) {
            l->err = "')' expected after IN (...)";
            return;
        }
        next(l);
        return;
    } else {
        l->err = "comparison operator expected in pattern";
        return;
    }
    if (l->t != T_STRING && l->t != T_WORD && l->t != T_OTHER) {
        l->err = "value expected in pattern";
        return;
    }
    if (l->err) return;
    if (type && eq && !negated && l->t == T_STRING) {
        if (json_array_size(l->out) >= STIX_PATTERN_HASHES) {
            l->err = "more than 1000 hashes in one pattern";
            return;
        }
        json_array_append_new(l->out, json_pack("{s:s, s:s%}", "type", type, "value", l->str,
                                                l->n));
    }
    next(l);
}

static void comp_expr(struct lex *l)
{
    comp_term(l);
    while (!l->err && (word_is(l, "AND") || word_is(l, "OR"))) {
        next(l);
        comp_term(l);
    }
}

static void obs_expr(struct lex *l);

static void obs_term(struct lex *l)
{
    if (l->err) return;
    if (l->t == T_LPAREN) {
        if (++l->depth > STIX_DEPTH_MAX) {
            l->err = "pattern nested too deep";
            return;
        }
        next(l);
        obs_expr(l);
        if (l->err) return;
        if (l->t != T_RPAREN) {
            l->err = "')' expected in pattern";
            return;
        }
        l->depth--;
        next(l);
    } else if (l->t == T_LBRACK) {
        next(l);
        comp_expr(l);
        if (l->err) return;
        if (l->t != T_RBRACK) {
            l->err = "']' expected in pattern";
            return;
        }
        next(l);
    } else {
        l->err = "'[' expected in pattern";
        return;
    }
    if (word_is(l, "WITHIN") || word_is(l, "REPEATS") || word_is(l, "START"))
        l->err = "pattern qualifiers (WITHIN, REPEATS, START/STOP) are not supported";
}

static void obs_expr(struct lex *l)
{
    obs_term(l);
    while (!l->err && l->t == T_WORD) {
        if (word_is(l, "OR")) {
            next(l);
            obs_term(l);
        } else if (word_is(l, "AND") || word_is(l, "FOLLOWEDBY")) {
            l->err = "observations joined by AND or FOLLOWEDBY are not supported";
        } else {
            break;
        }
    }
}

/* Reads a stix pattern into [{type, value}]. Returns NULL (why set) when it cannot be used. */
static json_t *stix_pattern(const char *p, size_t n, const char **why)
{
    struct lex l = {.p = p, .end = p + n, .out = json_array()};
    next(&l);
    obs_expr(&l);
    if (!l.err && l.t != T_END) l.err = "unexpected text after the pattern";
    free(l.str);
    if (!l.err && json_array_size(l.out) == 0)
        l.err = "no file MD5, file SHA-256 or url comparison (=) in the pattern";
    if (l.err) {
        *why = l.err;
        json_decref(l.out);
        return NULL;
    }
    return l.out;
}

/* ---- Reading. */

/* identity id -> name, for "source" (one pass, so that a large bundle stays linear). */
static json_t *identity_names(const json_t *objects)
{
    json_t *names = json_object();
    size_t i;
    const json_t *o;
    json_array_foreach(objects, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        const char *id = json_string_value(json_object_get(o, "id"));
        const json_t *name = json_object_get(o, "name");
        if (t && id && strcmp(t, "identity") == 0 && json_is_string(name) &&
            json_string_length(name) > 0)
            json_object_set(names, id, (json_t *)name);
    }
    return names;
}

/* Sets the fields common to every signal of one indicator. */
static void indicator_fields(json_t *sig, const json_t *ind, const json_t *ext, const char *source)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(ind, "labels"), i, v) if (json_is_string(v))
        ix_tag_label(sig, json_string_value(v));
    v = json_object_get(ind, "confidence");
    if (json_is_integer(v)) json_object_set(sig, "confidence", (json_t *)v);
    const char *until = json_string_value(json_object_get(ind, "valid_until"));
    if (!until) until = json_string_value(json_object_get(ext, "expires"));
    uint64_t ms;
    if (until && gif_time_parse(until, &ms) == 0)
        json_object_set_new(sig, "expires", json_integer((json_int_t)ms));
    else if (until)
        json_object_set_new(sig, "expires", json_string(until)); /* rejected by the check */
    static const char *const strs[] = {"incident", "entity", "content_type"};
    for (size_t k = 0; k < GIF_ARRAY_LEN(strs); k++) {
        v = json_object_get(ext, strs[k]);
        if (v) json_object_set(sig, strs[k], (json_t *)v);
    }
    json_object_set_new(sig, "source", json_string(source));
}

static void read_indicator(const json_t *names, const json_t *ind, unsigned long item,
                           const char *bundle_id, const struct ix_sink *s)
{
    const char *id = json_string_value(json_object_get(ind, "id"));
    const char *quote = id ? id : "";
    const json_t *rv = json_object_get(ind, "revoked");
    if (json_is_true(rv)) return ix_skip(s, item, "revoked", quote);
    const char *by = json_string_value(json_object_get(ind, "created_by_ref"));
    const char *name = by ? json_string_value(json_object_get(names, by)) : NULL;
    char source[IX_SOURCE_MAX + 1];
    ix_source(source, "stix:", name ? name : by ? by : bundle_id ? bundle_id : "bundle");

    const json_t *exts = json_object_get(ind, "extensions");
    const json_t *ext = json_object_get(exts, IX_STIX_EXT_ID);
    if (ext && !json_is_object(ext)) return ix_reject(s, item, "gifnet extension is not an object", quote);
    const json_t *pv = json_object_get(ind, "pattern");
    if (!json_is_string(pv)) return ix_reject(s, item, "indicator without a pattern", quote);
    const char *pattern = json_string_value(pv);
    size_t plen = json_string_length(pv);
    const char *ptype = json_string_value(json_object_get(ind, "pattern_type"));
    if (!ptype) ptype = "stix"; /* STIX 2.0 indicators have no pattern_type */
    const char *stype = json_string_value(json_object_get(ext, "signal_type"));

    if (strcmp(ptype, "stix") == 0) {
        if (plen > STIX_PATTERN_MAX)
            return ix_reject(s, item, "pattern longer than 65536 bytes", quote);
        const char *why = NULL;
        json_t *list = stix_pattern(pattern, plen, &why);
        if (!list) return ix_reject(s, item, why, pattern);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            json_t *sig = json_deep_copy(e);
            indicator_fields(sig, ind, ext, source);
            ix_emit(s, item, sig, json_string_value(json_object_get(e, "value")));
        }
        json_decref(list);
        return;
    }
    json_t *sig = NULL;
    if (strcmp(ptype, "pdq") == 0) {
        const json_t *h = json_object_get(ext, "hash");
        char buf[80];
        if (!json_is_string(h)) {
            /* The pattern itself: the 64 hex digits, surrounding space allowed. */
            size_t a = 0, b = plen;
            while (a < b && isspace((unsigned char)pattern[a]))
                a++;
            while (b > a && isspace((unsigned char)pattern[b - 1]))
                b--;
            if (b - a >= sizeof buf) return ix_reject(s, item, "pdq pattern is not 64 hex digits", quote);
            memcpy(buf, pattern + a, b - a);
            buf[b - a] = '\0';
        }
        sig = json_pack("{s:s, s:s}", "type", "pdq", "value",
                        json_is_string(h) ? json_string_value(h) : buf);
    } else if (strcmp(ptype, "vpdq") == 0) {
        char why[200];
        const json_t *fr = json_object_get(ext, "frames");
        json_t *frames = fr ? ix_vpdq_frames(fr, why, sizeof why) : NULL;
        if (!fr) {
            json_t *ps = json_stringn(pattern, plen);
            frames = ix_vpdq_frames(ps, why, sizeof why);
            json_decref(ps);
        }
        if (!frames) return ix_reject(s, item, why, quote);
        sig = json_pack("{s:s, s:o}", "type", "vpdq", "value", frames);
    } else if (strcmp(ptype, "url-sha256") == 0) {
        const json_t *h = json_object_get(ext, "url_sha256");
        if (json_is_string(h))
            sig = json_pack("{s:s, s:O}", "type", "url", "value", h);
        else
            sig = json_pack("{s:s, s:s%}", "type", "url", "value", pattern, plen);
        /* Only a hash is usable here, never a URL to be hashed again. */
        const char *v = json_string_value(json_object_get(sig, "value"));
        uint8_t b[32];
        if (!v || gif_unhex(b, 32, v, strlen(v)) != 0) {
            json_decref(sig);
            return ix_reject(s, item, "url-sha256 pattern is not 64 hex digits", quote);
        }
    } else {
        char why[120];
        snprintf(why, sizeof why, "unsupported pattern_type '%.40s'", ptype);
        return ix_reject(s, item, why, quote);
    }
    if (!sig) return ix_reject(s, item, "out of memory", quote);
    if (stype && strcmp(stype, json_string_value(json_object_get(sig, "type"))) != 0) {
        json_decref(sig);
        return ix_reject(s, item, "gifnet extension's signal_type disagrees with pattern_type",
                         quote);
    }
    indicator_fields(sig, ind, ext, source);
    ix_emit(s, item, sig, quote);
}

int ix_stix_read(const json_t *doc, const struct ix_sink *s, struct ix_read_stats *st, char *err,
                 size_t errlen)
{
    struct ix_read_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!json_is_object(doc) || !type || strcmp(type, "bundle") != 0) {
        gif_seterr(err, errlen, "not a STIX bundle (a JSON object with \"type\": \"bundle\")");
        return -1;
    }
    const json_t *objects = json_object_get(doc, "objects");
    if (objects && !json_is_array(objects)) {
        gif_seterr(err, errlen, "the bundle's \"objects\" is not a list");
        return -1;
    }
    const char *bundle_id = json_string_value(json_object_get(doc, "id"));
    json_t *names = identity_names(objects);
    size_t i;
    const json_t *o;
    json_array_foreach(objects, i, o)
    {
        unsigned long item = (unsigned long)i + 1;
        if (!json_is_object(o)) {
            st->items++;
            ix_reject(s, item, "not a JSON object", NULL);
            continue;
        }
        const char *t = json_string_value(json_object_get(o, "type"));
        if (!t) {
            st->items++;
            ix_reject(s, item, "object without a \"type\"", NULL);
            continue;
        }
        if (strcmp(t, "indicator") != 0) {
            st->ignored++;
            continue;
        }
        st->items++;
        read_indicator(names, o, item, bundle_id, s);
    }
    json_decref(names);
    return 0;
}
