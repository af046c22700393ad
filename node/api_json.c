#include "node/api_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/policy.h"
#include "util/gif.h"

json_t *api_time(uint64_t ms)
{
    if (ms == 0) return json_null();
    char buf[48];
    gif_time_fmt(buf, sizeof buf, ms);
    return json_string(buf);
}

json_t *api_hex(const uint8_t *p, size_t n)
{
    char stackbuf[256];
    char *buf = 2 * n + 1 <= sizeof stackbuf ? stackbuf : malloc(2 * n + 1);
    if (!buf) return NULL;
    gif_hex(buf, p, n);
    json_t *j = json_stringn(buf, 2 * n);
    if (buf != stackbuf) free(buf);
    return j;
}

int api_parse_time(const json_t *v, uint64_t *ms)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0) return GIF_E_INVALID;
        *ms = (uint64_t)x;
        return 0;
    }
    if (!json_is_string(v)) return GIF_E_INVALID;
    return gif_time_parse(json_string_value(v), ms);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

json_t *api_value_json(uint8_t stype, const struct proto_bytes *v)
{
    if (stype != PROTO_ST_VPDQ) return api_hex(v->p, v->n);
    json_t *arr = json_array();
    for (size_t off = 0; off + PROTO_VPDQ_FRAME_LEN <= v->n; off += PROTO_VPDQ_FRAME_LEN) {
        const uint8_t *f = v->p + off;
        json_array_append_new(arr, json_pack("{s:o,s:i,s:I,s:f}", "hash", api_hex(f, 32), "quality",
                                             (int)f[32], "frame", (json_int_t)be32(f + 33), "time",
                                             be32(f + 37) / 1000.0));
    }
    return arr;
}

static json_t *str_json(const struct proto_str *s)
{
    return json_stringn(s->p ? s->p : "", s->n);
}

/* Adds "org" and "role" of the origin. */
static void add_origin(json_t *o, struct store_rd *rd, const uint8_t origin[32],
                       const struct node_config *cfg, struct store_member *m, bool *found)
{
    *found = false;
    if (memcmp(origin, cfg->root_key, 32) == 0) {
        json_object_set_new(o, "org", json_string("consortium"));
        json_object_set_new(o, "role", json_string("root"));
        return;
    }
    if (store_member_get(rd, origin, m) == 0) {
        *found = true;
        json_object_set_new(o, "org", json_string(m->org));
        json_object_set_new(o, "role", json_string(proto_role_name(m->role)));
    } else {
        json_object_set_new(o, "org", json_null());
        json_object_set_new(o, "role", json_null());
    }
}

static json_t *feedback_json(const struct store_fb *fb)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "agree", fb->count[PROTO_FB_AGREE],
                     "disagree", fb->count[PROTO_FB_DISAGREE], "seen", fb->count[PROTO_FB_SEEN],
                     "blocked", fb->count[PROTO_FB_BLOCKED], "false_positive",
                     fb->count[PROTO_FB_FALSE_POSITIVE], "orgs_agree", fb->orgs_agree,
                     "orgs_dispute", fb->orgs_dispute);
}

static json_t *labels_json(const struct proto_signal *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nlabels; i++)
        json_array_append_new(a, str_json(&s->labels[i]));
    return a;
}

/* Adds the fields a signal's body and a match share. */
static void signal_fields(json_t *o, const struct proto_signal *s)
{
    json_object_set_new(o, "type", json_string(proto_stype_name(s->stype)));
    json_object_set_new(o, "value", api_value_json(s->stype, &s->value));
    json_object_set_new(o, "labels", labels_json(s));
    json_object_set_new(o, "entity", str_json(&s->entity));
    json_object_set_new(o, "incident", str_json(&s->incident));
    json_object_set_new(o, "content_type", json_string(proto_content_name(s->content)));
    json_object_set_new(o, "confidence", json_integer(s->confidence));
    json_object_set_new(o, "expires", api_time(s->expires_ms));
    json_object_set_new(o, "verified", json_boolean(s->verified));
    if (s->source.n) json_object_set_new(o, "source", str_json(&s->source));
}

/* The fields of an alert's body, shared by its record and its match objects. */
static void alert_fields(json_t *b, const struct proto_alert *a)
{
    json_object_set_new(b, "incident", str_json(&a->incident));
    json_object_set_new(b, "level", json_string(proto_level_name(a->level)));
    json_object_set_new(b, "detector", str_json(&a->detector));
    json_object_set_new(b, "detector_version", str_json(&a->detector_version));
    json_object_set_new(b, "score", json_real(a->score / 10000.0));
    json_t *sigs = json_array();
    for (size_t i = 0; i < a->nsignals; i++)
        json_array_append_new(
            sigs, json_pack("{s:s,s:o}", "type", proto_stype_name(a->signals[i].stype), "value",
                            api_value_json(a->signals[i].stype, &a->signals[i].value)));
    json_object_set_new(b, "signals", sigs);
    json_object_set_new(b, "note", str_json(&a->note));
}

void api_incident_state(struct store_rd *rd, const struct proto_record *r,
                        struct store_incident *in)
{
    memset(in, 0, sizeof *in);
    const struct proto_str *name = r->kind == PROTO_SIGNAL  ? &r->u.signal.incident
                                   : r->kind == PROTO_ALERT ? &r->u.alert.incident
                                                            : NULL;
    if (name && name->n && store_incident_get(rd, name->p, name->n, in) != 0)
        memset(in, 0, sizeof *in);
}

void api_policy_input(struct store_rd *rd, const struct proto_record *r,
                      const struct node_config *cfg, int distance, uint64_t now_ms,
                      const struct store_member *m, bool member_found, bool retracted,
                      const struct store_fb *fb, struct store_incident *inc,
                      struct policy_input *in)
{
    (void)cfg;
    bool sig = r->kind == PROTO_SIGNAL;
    api_incident_state(rd, r, inc);
    *in = (struct policy_input){
        .role = member_found ? m->role : 0,
        .member = member_found && store_member_active(m, now_ms),
        .verified = sig && r->u.signal.verified,
        .retracted = retracted,
        .expired = sig && r->u.signal.expires_ms && r->u.signal.expires_ms <= now_ms,
        .orgs_agree = fb->orgs_agree,
        .orgs_dispute = fb->orgs_dispute,
        .distance = distance,
        .alert = r->kind == PROTO_ALERT,
        .incident_level = inc->level,
        .incident_confirmed = inc->confirmed,
        .incident_concluded = inc->concluded,
        .age_ms = now_ms > r->time_ms ? now_ms - r->time_ms : 0,
        .nlabels = sig ? r->u.signal.nlabels : 0,
        .labels = sig ? r->u.signal.labels : NULL,
    };
}

/* The incident's state as a match shows it. */
static json_t *incident_brief(const struct store_incident *in)
{
    if (!in->id[0]) return json_null();
    return json_pack("{s:s,s:s?,s:s,s:b}", "id", in->id, "level", proto_level_name(in->level),
                     "status", in->concluded ? "concluded" : "open", "confirmed", in->confirmed);
}

/* Retraction state, feedback and verdict of a signal or alert; returns the verdict. */
static enum policy_verdict judge(json_t *o, struct store_rd *rd, const struct proto_record *r,
                                 const struct node_config *cfg, int distance, uint64_t now_ms,
                                 const struct store_member *m, bool member_found)
{
    uint8_t rid[32];
    bool retracted = store_retraction_of(rd, r->id, rid) == 0;
    json_object_set_new(o, "retracted", json_boolean(retracted));
    json_object_set_new(o, "retraction", retracted ? api_hex(rid, 32) : json_null());
    struct store_fb fb;
    if (store_feedback_of(rd, r->id, &fb) != 0) memset(&fb, 0, sizeof fb);
    json_object_set_new(o, "feedback", feedback_json(&fb));
    struct store_incident inc;
    struct policy_input in;
    api_policy_input(rd, r, cfg, distance, now_ms, m, member_found, retracted, &fb, &inc, &in);
    const char *rule;
    enum policy_verdict v = policy_decide(&cfg->policy, &in, &rule);
    json_object_set_new(o, "incident_state", incident_brief(&inc));
    json_object_set_new(o, "verdict", json_string(policy_verdict_name(v)));
    json_object_set_new(o, "rule", json_string(rule));
    return v;
}

json_t *api_match_json(struct store_rd *rd, const struct proto_record *r,
                       const struct node_config *cfg, int distance, uint64_t now_ms,
                       enum policy_verdict *verdict)
{
    if (r->kind != PROTO_SIGNAL && r->kind != PROTO_ALERT) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", api_hex(r->id, 32));
    json_object_set_new(o, "kind", json_string(proto_kind_name(r->kind)));
    if (r->kind == PROTO_SIGNAL)
        signal_fields(o, &r->u.signal);
    else
        alert_fields(o, &r->u.alert);
    if (distance >= 0) json_object_set_new(o, "distance", json_integer(distance));
    json_object_set_new(o, "origin", api_hex(r->origin, 32));
    struct store_member m;
    bool found;
    add_origin(o, rd, r->origin, cfg, &m, &found);
    json_object_set_new(o, "time", api_time(r->time_ms));
    *verdict = judge(o, rd, r, cfg, distance, now_ms, &m, found);
    return o;
}

json_t *api_record_json(struct store_rd *rd, const struct proto_record *r,
                        const struct store_rec *sr, const struct node_config *cfg, uint64_t now_ms)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", api_hex(r->id, 32));
    json_object_set_new(o, "kind", json_string(proto_kind_name(r->kind)));
    json_object_set_new(o, "origin", api_hex(r->origin, 32));
    struct store_member m;
    bool found;
    add_origin(o, rd, r->origin, cfg, &m, &found);
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(o, "prev", api_hex(r->prev, 32));
    json_object_set_new(o, "time", api_time(r->time_ms));
    if (sr) {
        json_object_set_new(o, "feed", json_integer((json_int_t)sr->feed));
        json_object_set_new(o, "accepted", api_time(sr->accepted_ms));
        json_object_set_new(o, "record", api_hex(sr->buf, sr->len));
    }
    json_t *b = json_object();
    switch (r->kind) {
    case PROTO_SIGNAL:
        signal_fields(b, &r->u.signal);
        judge(o, rd, r, cfg, -1, now_ms, &m, found);
        break;
    case PROTO_ALERT:
        alert_fields(b, &r->u.alert);
        judge(o, rd, r, cfg, -1, now_ms, &m, found);
        break;
    case PROTO_INCIDENT:
        json_object_set_new(b, "incident", str_json(&r->u.incident.incident));
        json_object_set_new(b, "action", json_string(proto_action_name(r->u.incident.action)));
        json_object_set_new(b, "level", json_string(proto_level_name(r->u.incident.level)));
        json_object_set_new(b, "note", str_json(&r->u.incident.note));
        break;
    case PROTO_GRANT:
        json_object_set_new(b, "org", str_json(&r->u.grant.org));
        json_object_set_new(b, "right", json_string(proto_right_name(r->u.grant.right)));
        json_object_set_new(b, "granted", json_boolean(r->u.grant.granted));
        break;
    case PROTO_RETRACTION:
        json_object_set_new(b, "target", api_hex(r->u.retraction.target, 32));
        json_object_set_new(b, "reason", str_json(&r->u.retraction.reason));
        break;
    case PROTO_FEEDBACK:
        json_object_set_new(b, "target", api_hex(r->u.feedback.target, 32));
        json_object_set_new(b, "verdict", json_string(proto_fb_name(r->u.feedback.verdict)));
        json_object_set_new(b, "note", str_json(&r->u.feedback.note));
        break;
    case PROTO_MEMBERSHIP: {
        const struct proto_membership *mm = &r->u.membership;
        json_object_set_new(b, "key", api_hex(mm->key, 32));
        json_object_set_new(b, "org", str_json(&mm->org));
        json_object_set_new(b, "role", json_string(proto_role_name(mm->role)));
        json_object_set_new(b, "not_before", api_time(mm->not_before_ms));
        json_object_set_new(b, "not_after", api_time(mm->not_after_ms));
        json_t *addrs = json_array();
        for (size_t i = 0; i < mm->naddrs; i++)
            json_array_append_new(addrs, str_json(&mm->addrs[i]));
        json_object_set_new(b, "addresses", addrs);
        break;
    }
    case PROTO_REVOCATION:
        json_object_set_new(b, "key", api_hex(r->u.revocation.key, 32));
        json_object_set_new(b, "reason", str_json(&r->u.revocation.reason));
        break;
    }
    json_object_set_new(o, "body", b);
    return o;
}

json_t *api_incident_json(const struct store_incident *in, uint64_t local_matches)
{
    json_t *o = json_pack("{s:s,s:s?,s:s,s:b,s:o,s:o,s:i,s:i,s:i,s:i,s:I}", "id", in->id, "level",
                          proto_level_name(in->level), "status",
                          in->concluded ? "concluded" : "open", "confirmed", in->confirmed,
                          "opened", api_time(in->opened_ms), "updated", api_time(in->updated_ms),
                          "alerts", (int)in->alerts, "signals", (int)in->signals, "actions",
                          (int)in->actions, "records", (int)in->records, "local_matches",
                          (json_int_t)local_matches);
    if (in->action)
        json_object_set_new(o, "last_action",
                            json_pack("{s:s,s:s,s:o,s:o}", "action",
                                      proto_action_name(in->action), "level",
                                      proto_level_name(in->action_level), "time",
                                      api_time(in->action_ms), "id",
                                      api_hex(in->action_id, PROTO_ID_LEN)));
    else
        json_object_set_new(o, "last_action", json_null());
    return o;
}

json_t *api_timeline_json(struct store_rd *rd, const struct proto_record *r,
                          const struct store_rec *sr, const struct node_config *cfg)
{
    json_t *o = json_object();
    json_object_set_new(o, "time", api_time(r->time_ms));
    json_object_set_new(o, "accepted", api_time(sr->accepted_ms));
    json_object_set_new(o, "id", api_hex(r->id, 32));
    json_object_set_new(o, "kind", json_string(proto_kind_name(r->kind)));
    struct store_member m;
    bool found;
    add_origin(o, rd, r->origin, cfg, &m, &found);
    switch (r->kind) {
    case PROTO_ALERT:
        json_object_set_new(o, "level", json_string(proto_level_name(r->u.alert.level)));
        json_object_set_new(o, "detector", str_json(&r->u.alert.detector));
        json_object_set_new(o, "score", json_real(r->u.alert.score / 10000.0));
        json_object_set_new(o, "note", str_json(&r->u.alert.note));
        break;
    case PROTO_INCIDENT:
        json_object_set_new(o, "action", json_string(proto_action_name(r->u.incident.action)));
        json_object_set_new(o, "level", json_string(proto_level_name(r->u.incident.level)));
        json_object_set_new(o, "note", str_json(&r->u.incident.note));
        break;
    case PROTO_SIGNAL:
        json_object_set_new(o, "type", json_string(proto_stype_name(r->u.signal.stype)));
        json_object_set_new(o, "labels", labels_json(&r->u.signal));
        break;
    case PROTO_RETRACTION:
        json_object_set_new(o, "target", api_hex(r->u.retraction.target, 32));
        json_object_set_new(o, "reason", str_json(&r->u.retraction.reason));
        break;
    case PROTO_FEEDBACK:
        json_object_set_new(o, "target", api_hex(r->u.feedback.target, 32));
        json_object_set_new(o, "verdict", json_string(proto_fb_name(r->u.feedback.verdict)));
        json_object_set_new(o, "note", str_json(&r->u.feedback.note));
        break;
    default:
        break;
    }
    return o;
}

void api_policy_read(struct store_rd *rd, const struct proto_record *r,
                     const struct node_config *cfg, int distance, uint64_t now_ms,
                     struct store_member *m, bool *found, struct store_incident *inc,
                     struct policy_input *in)
{
    *found = store_member_get(rd, r->origin, m) == 0;
    struct store_fb fb;
    if (store_feedback_of(rd, r->id, &fb) != 0) memset(&fb, 0, sizeof fb);
    api_policy_input(rd, r, cfg, distance, now_ms, m, *found,
                     store_retraction_of(rd, r->id, NULL) == 0, &fb, inc, in);
}

json_t *api_policy_json(const struct proto_record *r, const struct store_member *m, bool found,
                        const struct store_incident *inc, const struct policy_input *in)
{
    json_t *labels = json_array();
    for (size_t i = 0; i < in->nlabels; i++)
        json_array_append_new(labels, str_json(&in->labels[i]));
    return json_pack("{s:s,s:s?,s:s?,s:b,s:b,s:b,s:b,s:i,s:i,s:o,s:o,s:o,s:I,s:o}", "kind",
                     proto_kind_name(r->kind), "org", found ? m->org : NULL, "role",
                     found ? proto_role_name(m->role) : NULL, "member", in->member, "verified",
                     in->verified, "retracted", in->retracted, "expired", in->expired,
                     "orgs_agree", (int)in->orgs_agree, "orgs_dispute", (int)in->orgs_dispute,
                     "distance", in->distance < 0 ? json_null() : json_integer(in->distance),
                     "incident", incident_brief(inc), "labels", labels, "age_seconds",
                     (json_int_t)(in->age_ms / 1000), "alert", json_boolean(in->alert));
}
