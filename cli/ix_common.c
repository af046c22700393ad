/* Interchange: what the readers and writers share (interchange.h, ix_internal.h). */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ix_internal.h"
#include "protocol/record.h"
#include "protocol/url.h"
#include "util/gif.h"

static const struct {
    enum ix_format f;
    const char *name;
} formats[] = {{IX_CSV, "csv"},   {IX_JSONL, "jsonl"}, {IX_STIX, "stix"},
               {IX_MISP, "misp"}, {IX_TECSV, "te-csv"}};

const char *ix_format_name(enum ix_format f)
{
    for (size_t i = 0; i < GIF_ARRAY_LEN(formats); i++)
        if (formats[i].f == f) return formats[i].name;
    return "none";
}

enum ix_format ix_format_parse(const char *s)
{
    for (size_t i = 0; i < GIF_ARRAY_LEN(formats); i++)
        if (strcmp(formats[i].name, s) == 0) return formats[i].f;
    return IX_NONE;
}

void ix_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* ---- Ids. */

void ix_uuid5(char out[37], const char *name)
{
    uint8_t ns[16], md[EVP_MAX_MD_SIZE];
    const char *hexns = IX_UUID_NAMESPACE;
    char compact[33];
    size_t k = 0;
    for (const char *p = hexns; *p && k < 32; p++)
        if (*p != '-') compact[k++] = *p;
    compact[k] = '\0';
    gif_unhex(ns, 16, compact, 32);
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
              EVP_DigestUpdate(ctx, ns, sizeof ns) &&
              EVP_DigestUpdate(ctx, name, strlen(name)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok || mdlen < 16) { /* SHA-1 unavailable: a SHA-256 truncation keeps ids stable */
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, ns, sizeof ns);
        crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
        crypto_hash_sha256_final(&st, md);
    }
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    gif_hex(hex, md, 16);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* ---- Names and text. */

void ix_source(char *out, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    if (pl > IX_SOURCE_MAX) pl = IX_SOURCE_MAX;
    memcpy(out, prefix, pl);
    size_t room = IX_SOURCE_MAX - pl, n = strlen(name);
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    memcpy(out + pl, name, n);
    out[pl + n] = '\0';
}

bool ix_label_norm(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n == 0 || n >= outlen || n > PROTO_LABEL_MAX) return false;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        out[i] = c == '-' || c == ' ' ? '_' : (char)tolower((unsigned char)c);
    }
    return proto_label_known(out, n);
}

char *ix_pct_encode(char *out, size_t outlen, const char *s, const char *esc)
{
    size_t o = 0;
    if (outlen == 0) return out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool enc = c < 0x21 || c == 0x7f || c == '%' || strchr(esc, c);
        if (c == ' ' && !strchr(esc, ' ')) enc = false;
        size_t need = enc ? 3 : 1;
        if (o + need >= outlen) break;
        if (enc) {
            snprintf(out + o, 4, "%%%02X", c);
            o += 3;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool ix_pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
        *o++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *o = '\0';
    return true;
}

void ix_add_label(json_t *sig, const char *label)
{
    json_t *labels = json_object_get(sig, "labels");
    if (!json_is_array(labels)) {
        labels = json_array();
        json_object_set_new(sig, "labels", labels);
    }
    size_t i;
    json_t *v;
    json_array_foreach(labels, i, v) if (strcmp(json_string_value(v), label) == 0) return;
    json_array_append_new(labels, json_string(label));
}

void ix_tag_label(json_t *sig, const char *tag)
{
    char l[PROTO_LABEL_MAX + 8];
    if (ix_label_norm(tag, l, sizeof l)) ix_add_label(sig, l);
}

bool ix_gifnet_tag(json_t *sig, const char *tag, char *stype_hint, size_t hintlen,
                   const char **bad)
{
    *bad = NULL;
    if (strncasecmp(tag, "gifnet:", 7) != 0) return false;
    const char *kv = tag + 7, *eq = strchr(kv, '=');
    if (!eq) {
        *bad = "gifnet tag without '='";
        return true;
    }
    char key[32];
    size_t kl = (size_t)(eq - kv);
    if (kl == 0 || kl >= sizeof key) {
        *bad = "unknown gifnet tag";
        return true;
    }
    memcpy(key, kv, kl);
    key[kl] = '\0';
    ix_lower(key);
    for (char *q = key; *q; q++)
        if (*q == '-') *q = '_';
    const char *v = eq + 1;
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') { /* MISP machine tag: key="value" */
        v++;
        vl -= 2;
    }
    char *val = strndup(v, vl);
    if (!val) {
        *bad = "out of memory";
        return true;
    }
    if (!ix_pct_decode(val)) {
        *bad = "broken percent-escape in a gifnet tag";
    } else if (strcmp(key, "label") == 0) {
        char l[PROTO_LABEL_MAX + 8];
        if (ix_label_norm(val, l, sizeof l))
            ix_add_label(sig, l);
        else
            *bad = "unknown label in a gifnet tag";
    } else if (strcmp(key, "incident") == 0 || strcmp(key, "entity") == 0 ||
               strcmp(key, "content_type") == 0) {
        json_object_set_new(sig, key, json_string(val));
        if (!json_object_get(sig, key)) *bad = "a gifnet tag's value is not UTF-8";
    } else if (strcmp(key, "confidence") == 0) {
        char *end;
        long c = strtol(val, &end, 10);
        if (*val == '\0' || *end || c < 0 || c > 100)
            *bad = "confidence tag is not 0..100";
        else
            json_object_set_new(sig, "confidence", json_integer(c));
    } else if (strcmp(key, "expires") == 0) {
        uint64_t ms;
        if (gif_time_parse(val, &ms) != 0)
            *bad = "expires tag is not a time";
        else
            json_object_set_new(sig, "expires", json_integer((json_int_t)ms));
    } else if (strcmp(key, "signal_type") == 0) {
        if (stype_hint) snprintf(stype_hint, hintlen, "%s", val);
    } else if (strcmp(key, "max_distance") == 0 || strcmp(key, "record") == 0 ||
               strcmp(key, "origin") == 0 || strcmp(key, "source") == 0 ||
               strcmp(key, "verified") == 0) {
        /* informational: the distance is the matcher's; verified is the importer's to say */
    } else if (strcmp(key, "alert") == 0 || strcmp(key, "kind") == 0 || strcmp(key, "level") == 0 ||
               strcmp(key, "status") == 0 || strcmp(key, "action") == 0 ||
               strcmp(key, "detector") == 0 || strcmp(key, "detector_version") == 0 ||
               strcmp(key, "score") == 0) {
        /* informational: alerts and incident records are exported, not imported */
    } else {
        *bad = "unknown gifnet tag";
    }
    free(val);
    return true;
}

/* ---- vpdq. */

static json_t *frame_obj(const char *hash, size_t hl, long q, long long frame, double secs,
                         char *why, size_t whylen)
{
    uint8_t h[32];
    if (gif_unhex(h, 32, hash, hl) != 0) {
        snprintf(why, whylen, "vpdq frame hash is not 64 hex digits");
        return NULL;
    }
    if (q < 0 || q > 100) {
        snprintf(why, whylen, "vpdq frame quality is not 0..100");
        return NULL;
    }
    if (frame < 0 || frame > (long long)UINT32_MAX) {
        snprintf(why, whylen, "vpdq frame number out of range");
        return NULL;
    }
    if (!(secs >= 0) || secs * 1000 > (double)UINT32_MAX) {
        snprintf(why, whylen, "vpdq frame time is not 0..4294967 seconds");
        return NULL;
    }
    char lower[65];
    gif_hex(lower, h, 32);
    /* Times are whole milliseconds on the wire: round here so that a re-export is stable. */
    double t = (double)(uint64_t)(secs * 1000 + 0.5) / 1000.0;
    return json_pack("{s:s, s:i, s:I, s:f}", "hash", lower, "quality", (int)q, "frame",
                     (json_int_t)frame, "time", t);
}

/* One "hex,quality,seconds" string of python-threatexchange. */
static json_t *te_frame(const char *s, size_t index, char *why, size_t whylen)
{
    const char *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ',')) {
        snprintf(why, whylen, "vpdq frame '%.80s' is not hash,quality,seconds", s);
        return NULL;
    }
    char *end;
    long q = strtol(c1 + 1, &end, 10);
    if (end != c2 || c1 + 1 == c2) {
        snprintf(why, whylen, "vpdq frame quality is not a number");
        return NULL;
    }
    double t = strtod(c2 + 1, &end);
    if (*end || end == c2 + 1) {
        snprintf(why, whylen, "vpdq frame time is not a number");
        return NULL;
    }
    return frame_obj(s, (size_t)(c1 - s), q, (long long)index, t, why, whylen);
}

json_t *ix_vpdq_frames(const json_t *v, char *why, size_t whylen)
{
    json_t *parsed = NULL;
    if (json_is_string(v)) {
        json_error_t je;
        parsed = json_loadb(json_string_value(v), json_string_length(v), 0, &je);
        if (!parsed) {
            snprintf(why, whylen, "vpdq value is not a JSON list of frames");
            return NULL;
        }
        v = parsed;
    }
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0 || n > PROTO_VPDQ_FRAMES_MAX) {
        snprintf(why, whylen, "vpdq value is not a list of 1 to %d frames", PROTO_VPDQ_FRAMES_MAX);
        json_decref(parsed);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n && out; i++) {
        const json_t *f = json_array_get(v, i);
        json_t *fo = NULL;
        if (json_is_string(f)) {
            fo = te_frame(json_string_value(f), i, why, whylen);
        } else if (json_is_object(f)) {
            const json_t *h = json_object_get(f, "hash"), *q = json_object_get(f, "quality"),
                         *fr = json_object_get(f, "frame"), *t = json_object_get(f, "time");
            if (!json_is_string(h))
                snprintf(why, whylen, "vpdq frame without a hash");
            else if ((q && !json_is_integer(q)) || (fr && !json_is_integer(fr)) ||
                     (t && !json_is_number(t)))
                snprintf(why, whylen, "vpdq frame fields are not numbers");
            else
                fo = frame_obj(json_string_value(h), json_string_length(h),
                               q ? (long)json_integer_value(q) : 0,
                               fr ? (long long)json_integer_value(fr) : (long long)i,
                               t ? json_number_value(t) : 0, why, whylen);
            const char *key;
            const json_t *x;
            json_object_foreach((json_t *)f, key, x)
            {
                if (strcmp(key, "hash") && strcmp(key, "quality") && strcmp(key, "frame") &&
                    strcmp(key, "time")) {
                    snprintf(why, whylen, "vpdq frame has an unknown field '%.40s'", key);
                    json_decref(fo);
                    fo = NULL;
                    break;
                }
            }
        } else {
            snprintf(why, whylen, "vpdq frame is neither a string nor an object");
        }
        if (!fo) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, fo);
    }
    json_decref(parsed);
    return out;
}

char *ix_vpdq_te_string(const json_t *frames)
{
    json_t *arr = json_array();
    size_t i;
    const json_t *f;
    json_array_foreach(frames, i, f)
    {
        char s[128], t[32];
        snprintf(t, sizeof t, "%.3f", json_number_value(json_object_get(f, "time")));
        snprintf(s, sizeof s, "%s,%d,%s", json_string_value(json_object_get(f, "hash")),
                 (int)json_integer_value(json_object_get(f, "quality")), t);
        json_array_append_new(arr, json_string(s));
    }
    char *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}

/* ---- Checking a signal as the node would. */

const char *ix_check_signal(const json_t *sig, char *why, size_t whylen)
{
#define BAD(...) (snprintf(why, whylen, __VA_ARGS__), why)
    static const char *const known[] = {"type",       "value",   "labels",   "entity",
                                        "incident",   "content_type", "confidence",
                                        "expires",    "verified", "source",  NULL};
    if (!json_is_object(sig)) return BAD("not an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)sig, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0) ok = true;
        if (!ok) return BAD("unknown field '%.40s'", key);
    }
    uint8_t st;
    const char *type = json_string_value(json_object_get(sig, "type"));
    if (!type || proto_stype_parse(type, &st) != 0) return BAD("unknown signal type");
    v = json_object_get(sig, "value");
    if (st == PROTO_ST_VPDQ) {
        json_t *fr = ix_vpdq_frames(v, why, whylen);
        if (!fr) return why;
        json_decref(fr);
    } else if (!json_is_string(v)) {
        return BAD("%s value is not a string", type);
    } else if (st == PROTO_ST_URL) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        uint8_t h[32];
        char *norm = malloc(PROTO_URL_MAX + 64);
        int rc = norm ? 0 : -1;
        if (norm && !(n == 64 && gif_unhex(h, 32, s, n) == 0))
            rc = proto_url_normalise(s, n, norm, PROTO_URL_MAX + 64);
        free(norm);
        if (rc < 0) return BAD("url value is not a URL (%s)", gif_strerror(rc));
    } else {
        size_t want = proto_stype_len(st);
        uint8_t buf[32];
        if (gif_unhex(buf, want, json_string_value(v), json_string_length(v)) != 0)
            return BAD("%s value is not %zu hex digits", type, 2 * want);
    }
    const json_t *labels = json_object_get(sig, "labels");
    if (labels) {
        if (!json_is_array(labels) || json_array_size(labels) > PROTO_LABELS_MAX)
            return BAD("more than %d labels", PROTO_LABELS_MAX);
        size_t i, j;
        const json_t *l, *m;
        json_array_foreach(labels, i, l)
        {
            if (!json_is_string(l) || !proto_label_known(json_string_value(l), json_string_length(l)))
                return BAD("'%.40s' is not a label of the taxonomy",
                           json_is_string(l) ? json_string_value(l) : "?");
            json_array_foreach(labels, j, m) if (j < i && json_equal(l, m))
                return BAD("label '%.40s' is repeated", json_string_value(l));
        }
    }
    static const struct {
        const char *name;
        size_t max;
    } strs[] = {{"entity", PROTO_NAME_MAX}, {"incident", PROTO_INCIDENT_MAX},
                {"source", IX_SOURCE_MAX}};
    for (size_t i = 0; i < GIF_ARRAY_LEN(strs); i++) {
        v = json_object_get(sig, strs[i].name);
        if (!v) continue;
        if (!json_is_string(v)) return BAD("%s is not a string", strs[i].name);
        if (json_string_length(v) > strs[i].max)
            return BAD("%s is longer than %zu bytes", strs[i].name, strs[i].max);
        if (memchr(json_string_value(v), 0, json_string_length(v)))
            return BAD("%s contains a NUL character", strs[i].name);
    }
    v = json_object_get(sig, "content_type");
    if (v && (!json_is_string(v) || proto_content_parse(json_string_value(v), &st) != 0))
        return BAD("unknown content_type '%.40s'", json_is_string(v) ? json_string_value(v) : "?");
    v = json_object_get(sig, "confidence");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100))
        return BAD("confidence is not 0..100");
    v = json_object_get(sig, "expires");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) >= 0)) {
        uint64_t ms;
        if (!json_is_string(v) || gif_time_parse(json_string_value(v), &ms) != 0)
            return BAD("expires is not a time");
    }
    v = json_object_get(sig, "verified");
    if (v && !json_is_boolean(v)) return BAD("verified is not true or false");
    return NULL;
#undef BAD
}

/* ---- Handing results to the sink. */

void ix_reject(const struct ix_sink *s, unsigned long item, const char *why, const char *value)
{
    if (s->reject) s->reject(s->ctx, item, why, value);
}

void ix_skip(const struct ix_sink *s, unsigned long item, const char *why, const char *value)
{
    if (s->skip) s->skip(s->ctx, item, why, value);
}

void ix_emit(const struct ix_sink *s, unsigned long item, json_t *sig, const char *value)
{
    char why[256];
    const json_t *labels = json_object_get(sig, "labels");
    if (json_is_array(labels) && json_array_size(labels) == 0) json_object_del(sig, "labels");
    if (ix_check_signal(sig, why, sizeof why)) {
        ix_reject(s, item, why, value);
        json_decref(sig);
        return;
    }
    char *text = json_dumps(sig, JSON_COMPACT);
    size_t bytes = text ? strlen(text) : 256;
    free(text);
    if (s->signal)
        s->signal(s->ctx, item, sig, bytes);
    else
        json_decref(sig);
}

/* ---- Records of GET /v1/records. */

static const char *nonempty(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

/* A signal's own fields, or an alert's carried {type, value}: false when unusable. */
static bool stype_value_ok(const char *type, const json_t *value)
{
    uint8_t st;
    if (!type || proto_stype_parse(type, &st) != 0) return false;
    return st == PROTO_ST_VPDQ ? json_is_array(value) : json_is_string(value);
}

bool ix_rec_get(const json_t *rec, struct ix_rec *r)
{
    memset(r, 0, sizeof *r);
    r->confidence = -1;
    r->score = -1;
    if (!json_is_object(rec)) return false;
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    if (!kind) return false;
    if (strcmp(kind, "signal") == 0)
        r->kind = IX_K_SIGNAL;
    else if (strcmp(kind, "alert") == 0)
        r->kind = IX_K_ALERT;
    else if (strcmp(kind, "incident") == 0)
        r->kind = IX_K_INCIDENT;
    else
        return false;
    const json_t *b = json_object_get(rec, "body");
    r->id = json_string_value(json_object_get(rec, "id"));
    r->origin = json_string_value(json_object_get(rec, "origin"));
    r->org = json_string_value(json_object_get(rec, "org"));
    r->role = json_string_value(json_object_get(rec, "role"));
    r->time = json_string_value(json_object_get(rec, "time"));
    if (!json_is_object(b) || !r->id || strlen(r->id) != 64 || !r->origin ||
        strlen(r->origin) != 64 || !r->time || gif_time_parse(r->time, &r->time_ms) != 0)
        return false;
    if (!r->org) r->org = "";
    r->incident = nonempty(b, "incident");
    if (r->incident && strlen(r->incident) > PROTO_INCIDENT_MAX) return false;
    r->retracted = json_is_true(json_object_get(rec, "retracted"));
    if (r->kind != IX_K_SIGNAL) {
        const char *level = json_string_value(json_object_get(b, "level"));
        if (!r->incident || !level || proto_level_parse(level, &r->level) != 0) return false;
        r->note = nonempty(b, "note");
    }
    if (r->kind == IX_K_INCIDENT) {
        const char *action = json_string_value(json_object_get(b, "action"));
        return action && proto_action_parse(action, &r->action) == 0;
    }
    if (r->kind == IX_K_ALERT) {
        r->detector = nonempty(b, "detector");
        r->detector_version = nonempty(b, "detector_version");
        const json_t *sc = json_object_get(b, "score");
        if (json_is_number(sc) && json_number_value(sc) >= 0 && json_number_value(sc) <= 1)
            r->score = (int)(json_number_value(sc) * 10000 + 0.5);
        r->signals = json_object_get(b, "signals");
        if (r->signals && !json_is_array(r->signals)) return false;
        size_t i;
        const json_t *c;
        json_array_foreach(r->signals, i, c)
        {
            if (!stype_value_ok(json_string_value(json_object_get(c, "type")),
                                json_object_get(c, "value")))
                return false;
        }
        return true;
    }
    r->type = json_string_value(json_object_get(b, "type"));
    r->value = json_object_get(b, "value");
    if (!r->type || !r->value) return false;
    r->labels = json_object_get(b, "labels");
    r->entity = nonempty(b, "entity");
    r->content_type = json_string_value(json_object_get(b, "content_type"));
    r->source = nonempty(b, "source");
    if (r->content_type && strcmp(r->content_type, "unknown") == 0) r->content_type = NULL;
    r->expires = json_string_value(json_object_get(b, "expires"));
    if (r->expires && gif_time_parse(r->expires, &r->expires_ms) != 0) r->expires = NULL;
    const json_t *c = json_object_get(b, "confidence");
    r->confidence = json_is_integer(c) ? json_integer_value(c) : -1;
    r->verified = json_is_true(json_object_get(b, "verified"));
    return true;
}

/* ---- Incidents, folded from the records written. */

static struct ix_incident *incident_get(struct ix_writer *w, const char *name)
{
    for (size_t i = 0; i < w->nincs; i++)
        if (strcmp(w->incs[i].name, name) == 0) return &w->incs[i];
    if (gif_grow(&w->incs, &w->cincs, w->nincs + 1, sizeof *w->incs, 16)) return NULL;
    struct ix_incident *in = &w->incs[w->nincs];
    memset(in, 0, sizeof *in);
    if (!(in->name = strdup(name))) return NULL;
    w->nincs++;
    return in;
}

/* Folds r into the state of the incident it names (docs/protocol.md, kind 7). */
static int incident_fold(struct ix_writer *w, const struct ix_rec *r)
{
    if (!r->incident) return 0;
    struct ix_incident *in = incident_get(w, r->incident);
    if (!in) return -1;
    if (!in->first_ms || r->time_ms < in->first_ms) in->first_ms = r->time_ms;
    if (r->time_ms > in->last_ms) in->last_ms = r->time_ms;
    if (r->kind == IX_K_ALERT && r->level > in->alert_level) in->alert_level = r->level;
    if (r->kind == IX_K_INCIDENT &&
        (!in->action || r->time_ms > in->action_ms ||
         (r->time_ms == in->action_ms && strcmp(r->id, in->action_id) > 0))) {
        in->action = r->action;
        in->action_level = r->level;
        in->action_ms = r->time_ms;
        snprintf(in->action_id, sizeof in->action_id, "%s", r->id);
    }
    return 0;
}

uint8_t ix_incident_level(const struct ix_incident *in)
{
    return in->action ? in->action_level : in->alert_level;
}

bool ix_incident_concluded(const struct ix_incident *in)
{
    return in->action == PROTO_ACT_CONCLUDE;
}

const struct ix_incident *ix_incident_find(const struct ix_writer *w, const char *name)
{
    for (size_t i = 0; name && i < w->nincs; i++)
        if (strcmp(w->incs[i].name, name) == 0) return &w->incs[i];
    return NULL;
}

void ix_stix_incident_id(char out[48], const char *name)
{
    char n[16 + PROTO_INCIDENT_MAX], uuid[37];
    snprintf(n, sizeof n, "incident:%s", name);
    ix_uuid5(uuid, n);
    snprintf(out, 48, "incident--%s", uuid);
}

/* ---- Writers. */

struct ix_writer *ix_writer_new(enum ix_format fmt, FILE *f, const json_t *members)
{
    if (fmt != IX_STIX && fmt != IX_MISP && fmt != IX_TECSV) return NULL;
    struct ix_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->fmt = fmt;
    w->f = f;
    w->first = true;
    if (members) w->members = json_deep_copy(members);
    crypto_hash_sha256_init(&w->ids);
    if (fmt == IX_TECSV) fputs("collab,signal_type,signal_str,category,tags\n", f);
    return w;
}

int ix_writer_add(struct ix_writer *w, const json_t *rec)
{
    w->st.records++;
    struct ix_rec r;
    if (!ix_rec_get(rec, &r)) return 0;
    switch (w->fmt) {
    case IX_STIX:
        return incident_fold(w, &r) == 0 ? ix_stix_add(w, &r) : -1;
    case IX_MISP:
        return incident_fold(w, &r) == 0 ? ix_misp_add(w, &r) : -1;
    case IX_TECSV:
        return r.kind == IX_K_SIGNAL ? ix_te_add(w, &r) : 0;
    default:
        return -1;
    }
}

int ix_writer_finish(struct ix_writer *w, struct ix_write_stats *st)
{
    int rc = 0;
    if (w->fmt == IX_STIX) rc = ix_stix_finish(w);
    if (w->fmt == IX_MISP) rc = ix_misp_finish(w);
    if (st) *st = w->st;
    if (fflush(w->f) != 0 || ferror(w->f)) rc = -1;
    return rc;
}

void ix_writer_free(struct ix_writer *w)
{
    if (!w) return;
    ix_misp_free(w);
    for (size_t i = 0; i < w->nincs; i++)
        free(w->incs[i].name);
    free(w->incs);
    free(w->origins);
    json_decref(w->members);
    free(w);
}
