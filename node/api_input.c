#include "node/api_input.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <strings.h>

#include "media/filehash.h"
#include "media/image.h"
#include "node/api_json.h"
#include "protocol/url.h"
#include "util/gif.h"

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void arena_free(struct arena *a)
{
    while (a->head) {
        struct arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

void api_err_set(struct api_err *e, int status, const char *code, const char *field,
                 const char *value, size_t vlen, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    e->value[0] = '\0';
    if (value) {
        if (vlen > 200) vlen = 200;
        memcpy(e->value, value, vlen);
        e->value[vlen] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* Quotes a JSON value for an error: strings as they are, anything else as compact JSON. */
static void bad(struct api_err *e, const char *prefix, const char *name, json_t *v, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static void bad(struct api_err *e, const char *prefix, const char *name, json_t *v, const char *fmt,
                ...)
{
    char field[96], msg[256];
    snprintf(field, sizeof field, "%s%s", prefix, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json_is_string(v)) {
        api_err_set(e, 400, "invalid_field", field, json_string_value(v), json_string_length(v),
                    "%s: '%.200s' %s", field, json_string_value(v), msg);
    } else {
        char *dump = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        api_err_set(e, 400, "invalid_field", field, dump ? dump : "", dump ? strlen(dump) : 0,
                    "%s: %.200s %s", field, dump ? dump : "null", msg);
        free(dump);
    }
}

static void missing(struct api_err *e, const char *prefix, const char *name)
{
    char field[96];
    snprintf(field, sizeof field, "%s%s", prefix, name);
    api_err_set(e, 400, "missing_field", field, NULL, 0, "%s is required", field);
}

int api_check_fields(json_t *obj, const char *const *allowed, const char *prefix, struct api_err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0) ok = true;
        if (!ok) {
            char field[96];
            snprintf(field, sizeof field, "%s%s", prefix, key);
            api_err_set(e, 400, "unknown_field", field, key, strlen(key), "unknown field '%.80s'",
                        field);
            return -1;
        }
    }
    return 0;
}

/* Optional string field; *out keeps pointing at "" when absent. */
static int get_str(json_t *obj, const char *name, struct proto_str *out, size_t max,
                   const char *prefix, struct api_err *e)
{
    json_t *v = json_object_get(obj, name);
    out->p = "";
    out->n = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        bad(e, prefix, name, v, "is not a string");
        return -1;
    }
    size_t n = json_string_length(v);
    if (n > max) {
        bad(e, prefix, name, v, "is longer than %zu bytes", max);
        return -1;
    }
    if (memchr(json_string_value(v), 0, n)) {
        bad(e, prefix, name, v, "contains a NUL character");
        return -1;
    }
    out->p = json_string_value(v);
    out->n = n;
    return 0;
}

static int get_uint(json_t *obj, const char *name, uint64_t *out, uint64_t max, const char *prefix,
                    struct api_err *e)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 1; /* absent: caller keeps its default */
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        bad(e, prefix, name, v, "is not an integer from 0 to %llu", (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Parses an enumerated name with parse(); absent leaves *out. */
static int get_enum(json_t *obj, const char *name, uint8_t *out,
                    int (*parse)(const char *, uint8_t *), const char *choices, const char *prefix,
                    struct api_err *e)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_string(v) || parse(json_string_value(v), out) != 0) {
        bad(e, prefix, name, v, "is not one of %s", choices);
        return -1;
    }
    return 0;
}

static const char *STYPES = "md5, sha256, pdq, vpdq, url";

static int parse_vpdq(json_t *v, struct proto_bytes *out, struct arena *a, const char *prefix,
                      const char *name, struct api_err *e)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0 || n > PROTO_VPDQ_FRAMES_MAX) {
        bad(e, prefix, name, v, "is not a list of 1 to %d frames", PROTO_VPDQ_FRAMES_MAX);
        return -1;
    }
    uint8_t *buf = arena_alloc(a, n * PROTO_VPDQ_FRAME_LEN);
    if (!buf) {
        api_err_set(e, 500, "internal", NULL, NULL, 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(v, i);
        char fp[96];
        snprintf(fp, sizeof fp, "%s%s[%zu].", prefix, name, i);
        static const char *const fields[] = {"hash", "quality", "frame", "time", NULL};
        if (!json_is_object(f)) {
            bad(e, prefix, name, f, "holds a frame that is not an object");
            return -1;
        }
        if (api_check_fields(f, fields, fp, e)) return -1;
        uint8_t *fr = buf + i * PROTO_VPDQ_FRAME_LEN;
        json_t *h = json_object_get(f, "hash");
        if (!h) {
            missing(e, fp, "hash");
            return -1;
        }
        if (!json_is_string(h) ||
            gif_unhex(fr, 32, json_string_value(h), json_string_length(h)) != 0) {
            bad(e, fp, "hash", h, "is not 64 hex digits");
            return -1;
        }
        uint64_t q = 0, frame = i, tms = 0;
        if (get_uint(f, "quality", &q, 100, fp, e) < 0) return -1;
        if (get_uint(f, "frame", &frame, UINT32_MAX, fp, e) < 0) return -1;
        json_t *t = json_object_get(f, "time");
        if (t) {
            if (!json_is_number(t) || json_number_value(t) < 0 ||
                json_number_value(t) * 1000 > (double)UINT32_MAX) {
                bad(e, fp, "time", t, "is not a number of seconds");
                return -1;
            }
            tms = (uint64_t)(json_number_value(t) * 1000 + 0.5);
        }
        fr[32] = (uint8_t)q;
        for (int k = 0; k < 4; k++) {
            fr[33 + k] = (uint8_t)(frame >> (24 - 8 * k));
            fr[37 + k] = (uint8_t)(tms >> (24 - 8 * k));
        }
    }
    out->p = buf;
    out->n = n * PROTO_VPDQ_FRAME_LEN;
    return 0;
}

/* Parses obj's "type" and "value" into (stype, bytes). */
static int parse_typed_value(json_t *obj, uint8_t *stype, struct proto_bytes *val, struct arena *a,
                             const char *prefix, struct api_err *e)
{
    json_t *t = json_object_get(obj, "type");
    if (!t || json_is_null(t)) {
        missing(e, prefix, "type");
        return -1;
    }
    if (!json_is_string(t) || proto_stype_parse(json_string_value(t), stype) != 0) {
        bad(e, prefix, "type", t, "is not a signal type (%s)", STYPES);
        return -1;
    }
    json_t *v = json_object_get(obj, "value");
    if (!v || json_is_null(v)) {
        missing(e, prefix, "value");
        return -1;
    }
    if (*stype == PROTO_ST_VPDQ) return parse_vpdq(v, val, a, prefix, "value", e);
    if (!json_is_string(v)) {
        bad(e, prefix, "value", v, "is not a string");
        return -1;
    }
    uint8_t *buf = arena_alloc(a, 32);
    if (!buf) {
        api_err_set(e, 500, "internal", NULL, NULL, 0, "out of memory");
        return -1;
    }
    char field[96];
    snprintf(field, sizeof field, "%svalue", prefix);
    size_t len;
    if (api_parse_key(json_string_value(t), json_string_value(v), json_string_length(v), stype, buf,
                      &len, field, e))
        return -1;
    val->p = buf;
    val->n = len;
    return 0;
}

int api_parse_key(const char *type, const char *value, size_t vlen, uint8_t *stype, uint8_t out[32],
                  size_t *outlen, const char *field, struct api_err *e)
{
    if (proto_stype_parse(type, stype) != 0) {
        api_err_set(e, 400, "invalid_field", "type", type, strlen(type),
                    "type: '%.80s' is not a signal type (%s)", type, STYPES);
        return -1;
    }
    if (*stype == PROTO_ST_VPDQ) {
        api_err_set(e, 400, "invalid_field", "type", type, strlen(type),
                    "type: vpdq has no exact lookup; use POST /v1/match");
        return -1;
    }
    size_t want = proto_stype_len(*stype);
    *outlen = want;
    if (*stype == PROTO_ST_URL && !(vlen == 64 && gif_unhex(out, 32, value, vlen) == 0)) {
        int rc = proto_url_hash(value, vlen, out);
        if (rc) {
            api_err_set(e, 400, "invalid_field", field, value, vlen,
                        "%s: '%.200s' is not a URL (%s)", field, value, gif_strerror(rc));
            return -1;
        }
        return 0;
    }
    if (gif_unhex(out, want, value, vlen) != 0) {
        api_err_set(e, 400, "invalid_field", field, value, vlen,
                    "%s: '%.200s' is not %zu hex digits (a %s hash)", field, value, 2 * want, type);
        return -1;
    }
    return 0;
}

int api_parse_signal(json_t *obj, struct proto_record *d, struct arena *a, const char *prefix,
                     struct api_err *e)
{
    static const char *const fields[] = {
        "type",         "value",      "labels",  "entity",   "incident",
        "content_type", "confidence", "expires", "verified", "source", NULL};
    memset(d, 0, sizeof *d);
    d->kind = PROTO_SIGNAL;
    struct proto_signal *s = &d->u.signal;
    if (!json_is_object(obj)) {
        api_err_set(e, 400, "bad_json", prefix, NULL, 0, "%s: a signal must be a JSON object",
                    *prefix ? prefix : "body");
        return -1;
    }
    if (api_check_fields(obj, fields, prefix, e)) return -1;
    if (parse_typed_value(obj, &s->stype, &s->value, a, prefix, e)) return -1;
    json_t *labels = json_object_get(obj, "labels");
    if (labels && !json_is_null(labels)) {
        if (!json_is_array(labels) || json_array_size(labels) > PROTO_LABELS_MAX) {
            bad(e, prefix, "labels", labels, "is not a list of at most %d labels",
                PROTO_LABELS_MAX);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(labels); i++) {
            json_t *l = json_array_get(labels, i);
            char name[32];
            snprintf(name, sizeof name, "labels[%zu]", i);
            if (!json_is_string(l) ||
                !proto_label_known(json_string_value(l), json_string_length(l))) {
                bad(e, prefix, name, l, "is not a label of the taxonomy (docs/protocol.md)");
                return -1;
            }
            for (size_t j = 0; j < s->nlabels; j++)
                if (s->labels[j].n == json_string_length(l) &&
                    memcmp(s->labels[j].p, json_string_value(l), s->labels[j].n) == 0) {
                    bad(e, prefix, name, l, "is repeated");
                    return -1;
                }
            s->labels[s->nlabels++] =
                (struct proto_str){json_string_value(l), json_string_length(l)};
        }
    }
    if (get_str(obj, "entity", &s->entity, PROTO_NAME_MAX, prefix, e)) return -1;
    if (get_str(obj, "incident", &s->incident, PROTO_INCIDENT_MAX, prefix, e)) return -1;
    if (get_str(obj, "source", &s->source, PROTO_NAME_MAX, prefix, e)) return -1;
    s->content = PROTO_CT_UNKNOWN;
    if (get_enum(obj, "content_type", &s->content, proto_content_parse,
                 "unknown, image, video, audio, text, url, file", prefix, e) < 0)
        return -1;
    uint64_t conf = 100;
    if (get_uint(obj, "confidence", &conf, 100, prefix, e) < 0) return -1;
    s->confidence = (uint8_t)conf;
    json_t *exp = json_object_get(obj, "expires");
    if (exp && !json_is_null(exp) && api_parse_time(exp, &s->expires_ms) != 0) {
        bad(e, prefix, "expires", exp, "is not an RFC 3339 time or milliseconds");
        return -1;
    }
    json_t *ver = json_object_get(obj, "verified");
    if (ver && !json_is_null(ver)) {
        if (!json_is_boolean(ver)) {
            bad(e, prefix, "verified", ver, "is not true or false");
            return -1;
        }
        s->verified = json_is_true(ver);
    }
    return 0;
}

int api_parse_alert(json_t *obj, struct proto_record *d, struct arena *a, struct api_err *e)
{
    static const char *const fields[] = {"incident", "level",   "detector", "detector_version",
                                         "score",    "signals", "note",     NULL};
    memset(d, 0, sizeof *d);
    d->kind = PROTO_ALERT;
    struct proto_alert *al = &d->u.alert;
    if (api_check_fields(obj, fields, "", e)) return -1;
    /* Required fields: null counts as absent. */
    if (json_is_null(json_object_get(obj, "incident")) || !json_object_get(obj, "incident")) {
        missing(e, "", "incident");
        return -1;
    }
    if (get_str(obj, "incident", &al->incident, PROTO_INCIDENT_MAX, "", e)) return -1;
    if (al->incident.n == 0) {
        bad(e, "", "incident", json_object_get(obj, "incident"), "must not be empty");
        return -1;
    }
    if (!json_object_get(obj, "level") || json_is_null(json_object_get(obj, "level"))) {
        missing(e, "", "level");
        return -1;
    }
    if (get_enum(obj, "level", &al->level, proto_level_parse,
                 "situational_awareness, content_incident, content_incident_protocol", "", e) < 0)
        return -1;
    if (get_str(obj, "detector", &al->detector, PROTO_NAME_MAX, "", e)) return -1;
    if (get_str(obj, "detector_version", &al->detector_version, PROTO_NAME_MAX, "", e)) return -1;
    if (get_str(obj, "note", &al->note, PROTO_TEXT_MAX, "", e)) return -1;
    json_t *score = json_object_get(obj, "score");
    if (score && !json_is_null(score)) {
        if (!json_is_number(score) || json_number_value(score) < 0 ||
            json_number_value(score) > 1) {
            bad(e, "", "score", score, "is not a number from 0 to 1");
            return -1;
        }
        al->score = (uint16_t)(json_number_value(score) * 10000 + 0.5);
    }
    json_t *sigs = json_object_get(obj, "signals");
    if (sigs && !json_is_null(sigs)) {
        if (!json_is_array(sigs) || json_array_size(sigs) > PROTO_ALERT_SIGNALS_MAX) {
            bad(e, "", "signals", sigs, "is not a list of at most %d signals",
                PROTO_ALERT_SIGNALS_MAX);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(sigs); i++) {
            json_t *s = json_array_get(sigs, i);
            char prefix[32];
            snprintf(prefix, sizeof prefix, "signals[%zu].", i);
            static const char *const sf[] = {"type", "value", NULL};
            if (!json_is_object(s)) {
                bad(e, "", prefix, s, "is not an object");
                return -1;
            }
            if (api_check_fields(s, sf, prefix, e)) return -1;
            if (parse_typed_value(s, &al->signals[i].stype, &al->signals[i].value, a, prefix, e))
                return -1;
            al->nsignals++;
        }
    }
    return 0;
}

static int parse_target(json_t *obj, uint8_t target[32], struct api_err *e)
{
    json_t *t = json_object_get(obj, "target");
    if (!t || json_is_null(t)) {
        missing(e, "", "target");
        return -1;
    }
    if (!json_is_string(t) || gif_unhex(target, 32, json_string_value(t), json_string_length(t))) {
        bad(e, "", "target", t, "is not a record id (64 hex digits)");
        return -1;
    }
    return 0;
}

int api_parse_retraction(json_t *obj, struct proto_record *d, struct api_err *e)
{
    static const char *const fields[] = {"target", "reason", NULL};
    memset(d, 0, sizeof *d);
    d->kind = PROTO_RETRACTION;
    if (api_check_fields(obj, fields, "", e)) return -1;
    if (parse_target(obj, d->u.retraction.target, e)) return -1;
    return get_str(obj, "reason", &d->u.retraction.reason, PROTO_TEXT_MAX, "", e);
}

int api_parse_feedback(json_t *obj, struct proto_record *d, struct api_err *e)
{
    static const char *const fields[] = {"target", "verdict", "note", NULL};
    memset(d, 0, sizeof *d);
    d->kind = PROTO_FEEDBACK;
    if (api_check_fields(obj, fields, "", e)) return -1;
    if (parse_target(obj, d->u.feedback.target, e)) return -1;
    if (!json_object_get(obj, "verdict") || json_is_null(json_object_get(obj, "verdict"))) {
        missing(e, "", "verdict");
        return -1;
    }
    if (get_enum(obj, "verdict", &d->u.feedback.verdict, proto_fb_parse,
                 "agree, disagree, seen, blocked, false_positive", "", e) < 0)
        return -1;
    return get_str(obj, "note", &d->u.feedback.note, PROTO_TEXT_MAX, "", e);
}

/* ---- Media bodies. */

enum api_media_kind api_media_kind(const char *ct)
{
    if (!ct) return API_MEDIA_NONE;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n > 6 && strncasecmp(ct, "image/", 6) == 0) return API_MEDIA_IMAGE;
    if (n > 6 && strncasecmp(ct, "video/", 6) == 0) return API_MEDIA_VIDEO;
    return API_MEDIA_NONE;
}

/* How much of the bytes the probe reads: FFmpeg's own probe reads at most 1 MiB. */
#define MEDIA_PROBE_MAX ((size_t)1 << 20)

enum api_media_kind api_media_probe(const uint8_t *buf, size_t len)
{
    if (len == 0) return API_MEDIA_NONE;
    size_t n = len < MEDIA_PROBE_MAX ? len : MEDIA_PROBE_MAX;
    /* The probe reads up to AVPROBE_PADDING_SIZE zero bytes past the end. */
    uint8_t *copy = calloc(1, n + AVPROBE_PADDING_SIZE);
    if (!copy) return API_MEDIA_NONE;
    memcpy(copy, buf, n);
    AVProbeData pd = {.filename = "", .buf = copy, .buf_size = (int)n, .mime_type = NULL};
    int score = 0;
    const AVInputFormat *f = av_probe_input_format3(&pd, 1, &score);
    free(copy);
    if (!f || !f->name) return API_MEDIA_NONE;
    /* FFmpeg names its still-image demuxers "<codec>_pipe" (jpeg_pipe, png_pipe, webp_pipe,
     * ...); GIF has its own demuxer and is hashed as an image (its first frame), as the
     * reference tools do. */
    size_t fl = strlen(f->name);
    if ((fl > 5 && strcmp(f->name + fl - 5, "_pipe") == 0) || strcmp(f->name, "gif") == 0 ||
        strcmp(f->name, "image2") == 0)
        return API_MEDIA_IMAGE;
    return API_MEDIA_VIDEO;
}

void api_media_free(struct api_media *m)
{
    free(m->frames);
    free(m->plain);
    m->frames = m->plain = NULL;
    m->nframes = m->nplain = 0;
}

static int media_fail(struct api_media *out, int rc)
{
    api_media_free(out);
    memset(out, 0, sizeof *out);
    return rc;
}

int api_media_hash(const uint8_t *buf, size_t len, enum api_media_kind kind,
                   const struct api_media_opts *opts, struct api_media *out, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len == 0) {
        snprintf(err, errlen, "the media is empty (0 bytes)");
        return GIF_E_INVALID;
    }
    media_init();
    if (kind == API_MEDIA_NONE) kind = api_media_probe(buf, len);
    if (kind == API_MEDIA_NONE) {
        snprintf(err, errlen, "not an image or video format FFmpeg recognises");
        return GIF_E_INVALID;
    }
    out->kind = kind;
    int rc = media_md5(buf, len, out->md5);
    if (rc == 0) rc = media_sha256(buf, len, out->sha256);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return media_fail(out, rc);
    }
    if (kind == API_MEDIA_IMAGE) {
        struct media_rgb img;
        rc = media_image_decode(buf, len, NULL, &img, err, errlen);
        if (rc) return media_fail(out, rc);
        out->width = img.width;
        out->height = img.height;
        if (opts && opts->tool_squash && (rc = media_rgb_squash_tool(&img)) != 0) {
            media_rgb_free(&img);
            snprintf(err, errlen, "squashing the image failed: %s", gif_strerror(rc));
            return media_fail(out, rc);
        }
        int dih = opts && opts->dihedral;
        rc = media_image_pdq(&img, &out->pdq, dih ? out->dih : NULL);
        media_rgb_free(&img);
        out->has_dih = rc == 0 && dih;
        if (rc) {
            snprintf(err, errlen, "hashing the image failed: %s", gif_strerror(rc));
            return media_fail(out, rc);
        }
        return 0;
    }
    struct media_vpdq_opts o;
    media_vpdq_opts_default(&o);
    if (opts) {
        o.max_ms = opts->video_max_ms;
        o.crop_borders = opts->crop_borders || opts->query;
        o.keep_plain = opts->query;
        if (opts->query) o.fps = 0;
    }
    uint32_t max_ms = o.max_ms ? o.max_ms : MEDIA_VPDQ_MAX_MS;
    uint64_t start = gif_mono_ns();
    struct media_vpdq_info info;
    rc = media_vpdq_hash_info(buf, len, &o, &out->frames, &out->nframes, &out->truncated, &info,
                              err, errlen);
    /* A query hashed at every frame that reached the frame cap is longer than the cap covers
     * (2 min 16 s at 30 fps): hash it again at 1 fps within what is left of the time cap (with
     * no time left, keep the frames hashed so far). */
    uint64_t spent = (gif_mono_ns() - start) / 1000000u;
    if (rc == 0 && o.fps == 0 && out->truncated && out->nframes == MEDIA_VPDQ_MAX_FRAMES &&
        spent + 1000 < max_ms) {
        free(out->frames);
        free(info.plain);
        o.fps = 1.0;
        o.max_ms = max_ms - (uint32_t)spent;
        rc = media_vpdq_hash_info(buf, len, &o, &out->frames, &out->nframes, &out->truncated, &info,
                                  err, errlen);
    }
    if (rc) return media_fail(out, rc);
    out->every_frame = o.fps == 0;
    out->plain = info.plain;
    out->nplain = info.nplain;
    if (out->nframes == 0) {
        snprintf(err, errlen, "the video has no frame to hash");
        return media_fail(out, GIF_E_INVALID);
    }
    out->width = info.width;
    out->height = info.height;
    if (out->truncated) snprintf(out->note, sizeof out->note, "%s", err);
    if (errlen) err[0] = '\0';
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void api_vpdq_pack(const struct media_vpdq_frame *f, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++, out += PROTO_VPDQ_FRAME_LEN) {
        memcpy(out, f[i].hash, 32);
        out[32] = f[i].quality;
        put_be32(out + 33, f[i].frame);
        put_be32(out + 37, f[i].time_ms);
    }
}

size_t api_vpdq_unpack(const struct proto_bytes *v, struct media_vpdq_frame *out)
{
    size_t n = v->n / PROTO_VPDQ_FRAME_LEN;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = v->p + i * PROTO_VPDQ_FRAME_LEN;
        memcpy(out[i].hash, p, 32);
        out[i].quality = p[32];
        out[i].frame = get_be32(p + 33);
        out[i].time_ms = get_be32(p + 37);
    }
    return n;
}

json_t *api_media_signals_json(const struct api_media *m, int with_frames)
{
    json_t *a = json_array();
    if (!a) return NULL;
    json_array_append_new(a, json_pack("{s:s,s:o}", "type", "md5", "value", api_hex(m->md5, 16)));
    json_array_append_new(
        a, json_pack("{s:s,s:o}", "type", "sha256", "value", api_hex(m->sha256, 32)));
    if (m->kind == API_MEDIA_IMAGE) {
        json_array_append_new(a, json_pack("{s:s,s:o,s:i}", "type", "pdq", "value",
                                           api_hex(m->pdq.hash, 32), "quality", m->pdq.quality));
    } else if (m->kind == API_MEDIA_VIDEO) {
        json_t *v = json_pack("{s:s,s:I}", "type", "vpdq", "frames", (json_int_t)m->nframes);
        if (v && with_frames) {
            size_t len = m->nframes * PROTO_VPDQ_FRAME_LEN;
            uint8_t *packed = malloc(len ? len : 1);
            if (packed) {
                api_vpdq_pack(m->frames, m->nframes, packed);
                struct proto_bytes b = {packed, len};
                json_object_set_new(v, "value", api_value_json(PROTO_ST_VPDQ, &b));
                free(packed);
            }
        }
        json_array_append_new(a, v);
    }
    return a;
}

int api_parse_incident(json_t *obj, struct proto_record *d, struct api_err *e)
{
    static const char *const fields[] = {"incident", "action", "level", "note", NULL};
    memset(d, 0, sizeof *d);
    d->kind = PROTO_INCIDENT;
    struct proto_incident *in = &d->u.incident;
    if (api_check_fields(obj, fields, "", e)) return -1;
    for (const char *const *f = fields; *f && strcmp(*f, "note") != 0; f++)
        if (!json_object_get(obj, *f) || json_is_null(json_object_get(obj, *f))) {
            missing(e, "", *f);
            return -1;
        }
    if (get_str(obj, "incident", &in->incident, PROTO_INCIDENT_MAX, "", e)) return -1;
    if (in->incident.n == 0) {
        bad(e, "", "incident", json_object_get(obj, "incident"), "must not be empty");
        return -1;
    }
    if (get_enum(obj, "action", &in->action, proto_action_parse,
                 "escalate, deescalate, conclude, reopen", "", e) < 0)
        return -1;
    if (get_enum(obj, "level", &in->level, proto_level_parse,
                 "situational_awareness, content_incident, content_incident_protocol", "", e) < 0)
        return -1;
    return get_str(obj, "note", &in->note, PROTO_TEXT_MAX, "", e);
}
