/*
 * CSV rows: gifctl's CSV (docs/cli.md) and python-threatexchange's
 * (collab,signal_type,signal_str,category,tags), read by one row parser since their columns
 * are found by name; and the python-threatexchange writer. docs/interchange.md.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ix_internal.h"
#include "protocol/record.h"
#include "util/gif.h"

int ix_csv_split(char *s, char **fields, int max)
{
    int n = 0;
    char *p = s;
    for (;;) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            while (*p && *p != ',')
                p++; /* junk after a closing quote is dropped */
        } else {
            while (*p && *p != ',')
                *out++ = *p++;
        }
        char sep = *p;
        *out = '\0';
        if (n < max) fields[n] = start;
        n++;
        if (sep == '\0') break;
        p++;
    }
    return n;
}

static void trim(char **s)
{
    while (isspace((unsigned char)**s))
        (*s)++;
    size_t n = strlen(*s);
    while (n > 0 && isspace((unsigned char)(*s)[n - 1]))
        (*s)[--n] = '\0';
}

int ix_csv_header(struct ix_csv *c, enum ix_format fmt, const char *file, char **fields, int nf,
                  char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int c;
    } names[] = {{"signal_type", IX_C_TYPE},     {"type", IX_C_TYPE},
                 {"signal", IX_C_VALUE},         {"signal_str", IX_C_VALUE},
                 {"value", IX_C_VALUE},          {"labels", IX_C_LABELS},
                 {"tags", IX_C_TAGS},            {"entity", IX_C_ENTITY},
                 {"incident", IX_C_INCIDENT},    {"content_type", IX_C_CT},
                 {"confidence", IX_C_CONF},      {"expires", IX_C_EXP},
                 {"verified", IX_C_VER},         {"category", IX_C_CATEGORY},
                 {"collab", IX_C_COLLAB}};
    for (int i = 0; i < IX_C_COUNT; i++)
        c->col[i] = -1;
    bool signal_str = false;
    for (int i = 0; i < nf; i++) {
        char *h = fields[i];
        if (i == 0 && (unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB &&
            (unsigned char)h[2] == 0xBF)
            h += 3; /* UTF-8 byte-order mark */
        trim(&h);
        ix_lower(h);
        if (strcmp(h, "signal_str") == 0) signal_str = true;
        for (size_t k = 0; k < GIF_ARRAY_LEN(names); k++)
            if (strcmp(h, names[k].name) == 0 && c->col[names[k].c] < 0) c->col[names[k].c] = i;
    }
    if (c->col[IX_C_TYPE] < 0 || c->col[IX_C_VALUE] < 0) {
        gif_seterr(err, errlen,
                   "the CSV header needs signal_type and signal (or signal_str) columns");
        return -1;
    }
    c->te = fmt == IX_TECSV || (fmt == IX_NONE && signal_str);
    const char *base = file ? strrchr(file, '/') : NULL;
    snprintf(c->file, sizeof c->file, "%s", base ? base + 1 : file ? file : "-");
    return 0;
}

/* Signal type names from other tools' exports, mapped to ours. */
static int map_type(const char *s, uint8_t *st)
{
    static const struct {
        const char *from, *to;
    } map[] = {{"video_md5", "md5"},       {"photo_md5", "md5"},      {"hash_md5", "md5"},
               {"hash_pdq", "pdq"},        {"photo_pdq", "pdq"},      {"hash_sha256", "sha256"},
               {"video_sha256", "sha256"}, {"photo_sha256", "sha256"}, {"uri", "url"},
               {"url_md5", NULL}};
    char low[32];
    size_t n = strlen(s);
    if (n >= sizeof low) return -1;
    memcpy(low, s, n + 1);
    ix_lower(low);
    for (size_t i = 0; i < GIF_ARRAY_LEN(map); i++)
        if (strcmp(low, map[i].from) == 0) {
            if (!map[i].to) return -1;
            return proto_stype_parse(map[i].to, st);
        }
    return proto_stype_parse(low, st) == 0 ? 0 : -1;
}

void ix_csv_row(const struct ix_csv *c, unsigned long line, char **f, int nf, size_t bytes,
                const struct ix_sink *s)
{
    (void)bytes;
    char *v[IX_C_COUNT];
    for (int i = 0; i < IX_C_COUNT; i++) {
        v[i] = c->col[i] >= 0 && c->col[i] < nf ? f[c->col[i]] : NULL;
        if (v[i]) trim(&v[i]);
    }
    uint8_t st;
    if (!v[IX_C_TYPE] || !v[IX_C_TYPE][0]) return ix_reject(s, line, "no signal_type", NULL);
    if (map_type(v[IX_C_TYPE], &st) != 0)
        return ix_reject(s, line, "unsupported signal_type", v[IX_C_TYPE]);
    const char *value = v[IX_C_VALUE] ? v[IX_C_VALUE] : "";
    if (v[IX_C_CATEGORY]) {
        char cat[32];
        snprintf(cat, sizeof cat, "%s", v[IX_C_CATEGORY]);
        for (char *q = cat; *q; q++)
            *q = (char)toupper((unsigned char)*q);
        if (strcmp(cat, "FALSE_POSITIVE") == 0 || strcmp(cat, "NEGATIVE_CLASS") == 0)
            return ix_skip(s, line, "category is a false positive", value);
    }
    json_t *o = json_pack("{s:s}", "type", proto_stype_name(st));
    if (st == PROTO_ST_VPDQ) {
        char why[200];
        json_t *vs = json_string(value);
        json_t *frames = vs ? ix_vpdq_frames(vs, why, sizeof why) : NULL;
        json_decref(vs);
        if (!frames) {
            json_decref(o);
            return ix_reject(s, line, vs ? why : "vpdq value is not UTF-8", NULL);
        }
        json_object_set_new(o, "value", frames);
    } else {
        json_t *vs = json_string(value);
        if (!vs) {
            json_decref(o);
            return ix_reject(s, line, "value is not UTF-8", NULL);
        }
        json_object_set_new(o, "value", vs);
    }
    if (v[IX_C_LABELS]) {
        for (char *tok = v[IX_C_LABELS]; *tok;) {
            size_t n = strcspn(tok, ";");
            char *t = tok;
            char save = t[n];
            t[n] = '\0';
            trim(&t);
            if (*t && !proto_label_known(t, strlen(t))) {
                char msg[128];
                snprintf(msg, sizeof msg, "unknown label '%.60s'", t);
                json_decref(o);
                return ix_reject(s, line, msg, value);
            }
            if (*t) ix_add_label(o, t);
            if (save == '\0') break;
            tok += n + 1;
        }
    }
    if (v[IX_C_TAGS]) {
        /* Free-form tags: those that name a label become labels; gifnet:key=value tags carry
         * what the python-threatexchange layout has no column for. */
        char *save = NULL;
        for (char *tok = strtok_r(v[IX_C_TAGS], " \t,;|", &save); tok;
             tok = strtok_r(NULL, " \t,;|", &save)) {
            const char *bad;
            if (ix_gifnet_tag(o, tok, NULL, 0, &bad)) {
                if (bad) {
                    json_decref(o);
                    return ix_reject(s, line, bad, tok);
                }
            } else {
                ix_tag_label(o, tok);
            }
        }
    }
    const char *bad = NULL, *badv = NULL;
    if (v[IX_C_ENTITY] && v[IX_C_ENTITY][0])
        json_object_set_new(o, "entity", json_string(v[IX_C_ENTITY]));
    if (v[IX_C_INCIDENT] && v[IX_C_INCIDENT][0])
        json_object_set_new(o, "incident", json_string(v[IX_C_INCIDENT]));
    uint8_t ct;
    if (v[IX_C_CT] && v[IX_C_CT][0]) {
        if (proto_content_parse(v[IX_C_CT], &ct) != 0)
            bad = "unknown content_type", badv = v[IX_C_CT];
        json_object_set_new(o, "content_type", json_string(v[IX_C_CT]));
    }
    if (v[IX_C_CONF] && v[IX_C_CONF][0]) {
        char *end;
        long cf = strtol(v[IX_C_CONF], &end, 10);
        if (*end || cf < 0 || cf > 100) bad = "confidence is not 0..100", badv = v[IX_C_CONF];
        json_object_set_new(o, "confidence", json_integer(cf));
    }
    if (v[IX_C_EXP] && v[IX_C_EXP][0]) {
        uint64_t ms;
        if (gif_time_parse(v[IX_C_EXP], &ms) != 0)
            bad = "expires is not a time", badv = v[IX_C_EXP];
        else
            json_object_set_new(o, "expires", json_integer((json_int_t)ms));
    }
    if (v[IX_C_VER] && v[IX_C_VER][0]) {
        const char *x = v[IX_C_VER];
        bool t = !strcasecmp(x, "true") || !strcmp(x, "1") || !strcasecmp(x, "yes");
        bool fl = !strcasecmp(x, "false") || !strcmp(x, "0") || !strcasecmp(x, "no");
        if (!t && !fl) bad = "verified is not true/false", badv = x;
        if (t) json_object_set_new(o, "verified", json_true());
    }
    if (bad) {
        json_decref(o);
        return ix_reject(s, line, bad, badv);
    }
    if (c->te) {
        char src[IX_SOURCE_MAX + 1], name[IX_SOURCE_MAX * 2 + 4];
        const char *collab = v[IX_C_COLLAB];
        snprintf(name, sizeof name, "%s%s%s", c->file, collab && *collab ? "/" : "",
                 collab ? collab : "");
        ix_source(src, "te-csv:", name);
        json_object_set_new(o, "source", json_string(src));
    }
    ix_emit(s, line, o, st == PROTO_ST_VPDQ ? NULL : value);
}

/* ---- Writing python-threatexchange CSV. */

void ix_csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

/* Appends " gifnet:key=value" (value percent-encoded so that it stays one tag). */
static void te_tag(char *tags, size_t cap, const char *key, const char *value)
{
    char enc[800];
    ix_pct_encode(enc, sizeof enc, value, " ,;|\"\t");
    size_t n = strlen(tags);
    snprintf(tags + n, cap - n, "%sgifnet:%s=%s", n ? " " : "", key, enc);
}

int ix_te_add(struct ix_writer *w, const struct ix_rec *r)
{
    uint8_t st;
    if (proto_stype_parse(r->type, &st) != 0) return 0;
    const char *tetype;
    char *value;
    switch (st) {
    case PROTO_ST_MD5:
        tetype = "video_md5";
        break;
    case PROTO_ST_SHA256:
        tetype = "video_sha256";
        break;
    case PROTO_ST_PDQ:
        tetype = "pdq";
        break;
    case PROTO_ST_VPDQ:
        tetype = "vpdq";
        break;
    default: /* url: gifnet holds only a hash of the URL, python-threatexchange the URL */
        w->st.skipped++;
        return 0;
    }
    if (st == PROTO_ST_VPDQ)
        value = json_is_array(r->value) ? ix_vpdq_te_string(r->value) : NULL;
    else
        value = json_is_string(r->value) ? strdup(json_string_value(r->value)) : NULL;
    if (!value) return json_is_string(r->value) || json_is_array(r->value) ? -1 : 0;
    char tags[4096] = "";
    size_t i;
    const json_t *l;
    json_array_foreach(r->labels, i, l) if (json_is_string(l))
    {
        size_t n = strlen(tags);
        snprintf(tags + n, sizeof tags - n, "%s%s", n ? " " : "", json_string_value(l));
    }
    if (r->incident) te_tag(tags, sizeof tags, "incident", r->incident);
    if (r->entity) te_tag(tags, sizeof tags, "entity", r->entity);
    if (r->content_type) te_tag(tags, sizeof tags, "content_type", r->content_type);
    if (r->confidence >= 0) {
        char c[16];
        snprintf(c, sizeof c, "%d", (int)r->confidence);
        te_tag(tags, sizeof tags, "confidence", c);
    }
    if (r->expires) te_tag(tags, sizeof tags, "expires", r->expires);
    ix_csv_field(w->f, r->org, false);
    ix_csv_field(w->f, tetype, false);
    ix_csv_field(w->f, value, false);
    ix_csv_field(w->f, r->retracted ? "NEGATIVE_CLASS" : "POSITIVE_CLASS", false);
    ix_csv_field(w->f, tags, true);
    free(value);
    w->st.written++;
    return 0;
}
