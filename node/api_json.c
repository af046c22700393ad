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
}

/* Retraction state, feedback and verdict of a signal; returns the verdict. */
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
    struct policy_input in = {
        .role = member_found ? m->role : 0,
        .member = member_found && store_member_active(m, now_ms),
        .verified = r->u.signal.verified,
        .retracted = retracted,
        .expired = r->u.signal.expires_ms && r->u.signal.expires_ms <= now_ms,
        .orgs_agree = fb.orgs_agree,
        .orgs_dispute = fb.orgs_dispute,
        .distance = distance,
    };
    const char *rule;
    enum policy_verdict v = policy_decide(&cfg->policy, &in, &rule);
    json_object_set_new(o, "verdict", json_string(policy_verdict_name(v)));
    json_object_set_new(o, "rule", json_string(rule));
    return v;
}

json_t *api_match_json(struct store_rd *rd, const struct proto_record *r,
                       const struct node_config *cfg, int distance, uint64_t now_ms,
                       enum policy_verdict *verdict)
{
    if (r->kind != PROTO_SIGNAL) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", api_hex(r->id, 32));
    signal_fields(o, &r->u.signal);
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
    case PROTO_ALERT: {
        const struct proto_alert *a = &r->u.alert;
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
        break;
    }
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
