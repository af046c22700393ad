/*
 * The HTTP API (docs/api.md): routing, handlers, answers. Reads use one LMDB read snapshot
 * per request; writes go through the write pipeline (write.c) and are answered once durable.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api_input.h"
#include "node/api_json.h"
#include "node/net.h"
#include "node/node.h"
#include "node/policy.h"
#include "node/webhook.h"
#include "util/gif.h"

#define LOOKUP_IDS_MAX 100 /* records returned per exact lookup */
#define MATCH_HITS_MAX 100 /* records returned per near-match hash */
#define FEED_LIMIT_MAX 1000
#define EVENTS_MAX 256        /* open /v1/events streams */
#define PUBLISH_WAIT_MS 10000 /* see own_log_behind */

struct call {
    struct node *n;
    struct http_conn *c;
    uint64_t t0;
    bool head;
};

static void reply_raw(struct call *k, int status, const char *ctype, const char *body, size_t len)
{
    metrics_http(&k->n->metrics, status, gif_mono_ns() - k->t0);
    http_respond(k->c, status, ctype, k->head ? "" : body, k->head ? 0 : len);
}

/*
 * A compact writer for jansson trees into a fixed buffer. jansson's own dump goes through a
 * callback per token and re-validates UTF-8 one character at a time: measured, it was a fifth
 * of gifd's CPU on single lookups (docs/performance.md). This writes the same JSON for what
 * answers hold (objects in insertion order, as jansson dumps them without JSON_SORT_KEYS;
 * strings are valid UTF-8 already, so bytes >= 0x80 pass as they are and only '"', '\\' and
 * control characters are escaped); reals are left to jansson. It starts in the caller's
 * buffer (the stack) and moves to the heap only for a large answer (a batch). w->full is set
 * on running out of memory (or for a tree deeper than 64): the caller then falls back to
 * json_dumps.
 */
struct jw {
    char *p;
    size_t len, cap;   /* cap excludes one byte kept for the caller's newline */
    const char *stack; /* the caller's buffer: p points to it until the first growth */
    bool full;
};

/* Makes room for n more bytes. Returns false (and sets full) when out of memory. */
static bool jw_room(struct jw *w, size_t n)
{
    if (w->full) return false;
    if (n <= w->cap - w->len) return true;
    size_t ncap = w->cap * 2 > w->len + n ? w->cap * 2 : w->len + n;
    char *np = w->p == w->stack ? malloc(ncap + 1) : realloc(w->p, ncap + 1);
    if (!np) {
        w->full = true;
        return false;
    }
    if (w->p == w->stack) memcpy(np, w->p, w->len);
    w->p = np;
    w->cap = ncap;
    return true;
}

static void jw_put(struct jw *w, const char *s, size_t n)
{
    if (!jw_room(w, n)) return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void jw_str(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Room for the worst case (every byte \u00XX) is made once. */
    if (n > (SIZE_MAX - 2) / 6 || !jw_room(w, 6 * n + 2)) {
        w->full = true;
        return;
    }
    char *o = w->p + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u', *o++ = '0', *o++ = '0', *o++ = hex[c >> 4], *o++ = hex[c & 15];
            break;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->p);
}

static void jw_int(struct jw *w, json_int_t v)
{
    char b[24], *e = b + sizeof b, *o = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--o = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--o = '-';
    jw_put(w, o, (size_t)(e - o));
}

static void jw_value(struct jw *w, const json_t *v, int depth)
{
    if (w->full || depth > 64) {
        w->full = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *x;
        char sep = '{';
        json_object_keylen_foreach((json_t *)v, key, klen, x)
        {
            jw_put(w, &sep, 1);
            sep = ',';
            jw_str(w, key, klen);
            jw_put(w, ":", 1);
            jw_value(w, x, depth + 1);
        }
        if (sep == '{') jw_put(w, "{", 1);
        jw_put(w, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        jw_put(w, "[", 1);
        json_array_foreach((json_t *)v, i, x)
        {
            if (i) jw_put(w, ",", 1);
            jw_value(w, x, depth + 1);
        }
        jw_put(w, "]", 1);
        break;
    }
    case JSON_STRING:
        jw_str(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jw_int(w, json_integer_value(v));
        break;
    case JSON_TRUE:
        jw_put(w, "true", 4);
        break;
    case JSON_FALSE:
        jw_put(w, "false", 5);
        break;
    case JSON_NULL:
        jw_put(w, "null", 4);
        break;
    default: { /* JSON_REAL: jansson's own formatting */
        char b[64];
        size_t n = json_dumpb(v, b, sizeof b, JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0 || n > sizeof b)
            w->full = true;
        else
            jw_put(w, b, n);
        break;
    }
    }
}

/* Answers with j (consumed). */
static void reply_json(struct call *k, int status, json_t *j)
{
    /* Most answers (every lookup of one key) fit here: no heap string, no copy to add the
     * newline. */
    char quick[16384];
    struct jw w = {.p = quick, .cap = sizeof quick - 1, .stack = quick};
    if (j) jw_value(&w, j, 0);
    if (j && !w.full) {
        json_decref(j);
        w.p[w.len++] = '\n';
        reply_raw(k, status, "application/json", w.p, w.len);
        if (w.p != quick) free(w.p);
        return;
    }
    if (w.p != quick) free(w.p);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        reply_raw(k, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t len = strlen(s);
    s[len] = '\0';
    /* A trailing newline makes curl output and logs readable. */
    char *t = realloc(s, len + 2);
    if (t) {
        s = t;
        s[len++] = '\n';
        s[len] = '\0';
    }
    reply_raw(k, status, "application/json", s, len);
    free(s);
}

static void reply_err(struct call *k, const struct api_err *e)
{
    json_t *err = json_pack("{s:s,s:s}", "code", e->code, "message", e->message);
    if (e->field[0]) json_object_set_new(err, "field", json_string(e->field));
    if (e->field[0] && e->value[0]) json_object_set_new(err, "value", json_string(e->value));
    if (e->status == 401) http_add_header(k->c, "WWW-Authenticate: Bearer");
    reply_json(k, e->status, json_pack("{s:o}", "error", err));
}

static void fail(struct call *k, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct call *k, int status, const char *code, const char *fmt, ...)
{
    struct api_err e = {.status = status, .code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    reply_err(k, &e);
}

/* Reports a storage failure; the request wrote nothing. */
static void fail_store(struct call *k, int rc)
{
    if (rc == GIF_E_FULL)
        fail(k, 507, "storage_full",
             "storage is full: nothing was written; free disk space or "
             "raise [storage] map_size_mb");
    else if (rc == -EAGAIN)
        fail(k, 503, "unavailable", "the node is stopping or its write queue is full; retry");
    else
        fail(k, 500, "internal", "storage error: %s", gif_strerror(rc));
}

static bool authorized(struct call *k, const struct http_req *req)
{
    const char *h = req->authorization;
    const char *tok = k->n->cfg.token;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *given = h + 7;
        size_t gl = strlen(given), tl = strlen(tok);
        if (gl == tl && sodium_memcmp(given, tok, tl) == 0) return true;
    }
    fail(k, 401, "unauthorized",
         h ? "the bearer token is wrong" : "writes need Authorization: Bearer <token>");
    return false;
}

/* Parses the body as a JSON object; answers 400 itself on failure. */
static json_t *body_json(struct call *k, const struct http_req *req)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        fail(k, 400, "bad_json", "body is not valid JSON: %s (line %d, column %d)", jerr.text,
             jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        fail(k, 400, "bad_json", "body must be a JSON object");
        return NULL;
    }
    return j;
}

static struct store_rd *read_begin(struct call *k)
{
    struct store_rd *rd;
    int rc = store_rd_open(k->n->store, &rd);
    if (rc) {
        fail_store(k, rc);
        return NULL;
    }
    return rd;
}

/* ---- Reads. */

/* Exact lookup of one key: the GET answer object. */
static json_t *lookup_one(struct call *k, struct store_rd *rd, uint8_t stype, const uint8_t *key,
                          size_t klen, json_t *value_echo, enum policy_verdict *verdict)
{
    uint8_t ids[LOOKUP_IDS_MAX][PROTO_ID_LEN];
    uint64_t feeds[LOOKUP_IDS_MAX];
    size_t n = 0;
    json_t *matches = json_array();
    enum policy_verdict best = POLICY_ALLOW;
    uint64_t now = gif_now_ms();
    if (store_lookup(rd, stype, key, klen, ids, feeds, LOOKUP_IDS_MAX, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct store_rec sr;
            struct proto_record r;
            /* By feed position: one point read (by id it would be two). */
            if (store_feed_get(rd, feeds[i], ids[i], &sr) ||
                proto_decode_known(&r, sr.buf, sr.len, ids[i]))
                continue;
            enum policy_verdict v;
            json_t *m = api_match_json(rd, &r, &k->n->cfg, -1, now, &v);
            if (!m) continue;
            api_tally_match(k->n, m);
            if (v > best) best = v;
            json_array_append_new(matches, m);
        }
    }
    k->n->metrics.lookups_by_type[stype]++;
    k->n->metrics.lookup_matches += json_array_size(matches);
    if (verdict) *verdict = best;
    return json_pack("{s:s,s:o,s:s,s:o}", "type", proto_stype_name(stype), "value", value_echo,
                     "verdict", policy_verdict_name(best), "matches", matches);
}

static void get_lookup(struct call *k, const struct http_req *req)
{
    char type[16], value[PROTO_NAME_MAX * 40];
    int tl = http_query_get(req->query, "type", type, sizeof type);
    int vl = http_query_get(req->query, "value", value, sizeof value);
    if (tl < 0 || vl < 0) {
        struct api_err e;
        bool absent = (tl < 0 ? tl : vl) == -ENOENT;
        api_err_set(
            &e, 400, absent ? "missing_field" : "invalid_field", tl < 0 ? "type" : "value", NULL, 0,
            absent ? "GET /v1/lookup needs ?type=T&value=V (type one of md5, sha256, pdq, url)"
                   : "the query string has a bad %%-escape or a value that is too long");
        reply_err(k, &e);
        return;
    }
    uint8_t stype, key[32];
    size_t klen;
    struct api_err e;
    if (api_parse_key(type, value, (size_t)vl, &stype, key, &klen, "value", &e)) {
        reply_err(k, &e);
        return;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    json_t *ans = lookup_one(k, rd, stype, key, klen, api_hex(key, klen), NULL);
    store_rd_close(rd);
    reply_json(k, 200, ans);
}

static void post_lookup(struct call *k, const struct http_req *req)
{
    json_t *j = body_json(k, req);
    if (!j) return;
    static const char *const fields[] = {"queries", NULL};
    struct api_err e;
    json_t *qs = json_object_get(j, "queries");
    if (api_check_fields(j, fields, "", &e)) goto bad;
    if (!json_is_array(qs) || json_array_size(qs) == 0) {
        api_err_set(&e, 400, qs ? "invalid_field" : "missing_field", "queries", NULL, 0,
                    "queries must be a list of 1 to %d {type, value} objects", API_BATCH_MAX);
        goto bad;
    }
    if (json_array_size(qs) > API_BATCH_MAX) {
        api_err_set(&e, 413, "too_many", "queries", NULL, 0, "at most %d queries per request",
                    API_BATCH_MAX);
        goto bad;
    }
    /* Validate everything before answering anything. */
    size_t nq = json_array_size(qs);
    uint8_t(*keys)[32] = malloc(nq * 32);
    uint8_t *types = malloc(nq);
    size_t *lens = malloc(nq * sizeof *lens);
    if (!keys || !types || !lens) {
        free(keys), free(types), free(lens);
        json_decref(j);
        fail(k, 500, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < nq; i++) {
        json_t *q = json_array_get(qs, i);
        char prefix[32], field[48];
        snprintf(prefix, sizeof prefix, "queries[%zu].", i);
        static const char *const qf[] = {"type", "value", NULL};
        json_t *t = json_object_get(q, "type"), *v = json_object_get(q, "value");
        if (!json_is_object(q) || api_check_fields(q, qf, prefix, &e) == -1 || !json_is_string(t) ||
            !json_is_string(v)) {
            if (!json_is_object(q) || !json_is_string(t) || !json_is_string(v))
                api_err_set(&e, 400, "invalid_field", prefix, NULL, 0,
                            "%s must be an object with string type and value", prefix);
            free(keys), free(types), free(lens);
            goto bad;
        }
        snprintf(field, sizeof field, "%svalue", prefix);
        if (api_parse_key(json_string_value(t), json_string_value(v), json_string_length(v),
                          &types[i], keys[i], &lens[i], field, &e)) {
            if (strcmp(e.field, "type") == 0) snprintf(e.field, sizeof e.field, "%stype", prefix);
            free(keys), free(types), free(lens);
            goto bad;
        }
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) {
        free(keys), free(types), free(lens);
        json_decref(j);
        return;
    }
    json_t *results = json_array();
    for (size_t i = 0; i < nq; i++)
        json_array_append_new(results, lookup_one(k, rd, types[i], keys[i], lens[i],
                                                  api_hex(keys[i], lens[i]), NULL));
    store_rd_close(rd);
    free(keys), free(types), free(lens);
    json_decref(j);
    reply_json(k, 200, json_pack("{s:o}", "results", results));
    return;
bad:
    json_decref(j);
    reply_err(k, &e);
}

/* ---- Near matching of pdq hashes: POST /v1/match and the image pdq of POST /v1/match/media.
 *
 * A request's queries are flattened into one list of hashes: query i is hashes
 * [off[i], off[i + 1]) (one hash, or up to MATCH_VARIANTS_MAX variants of one image matched as
 * one query). match_run looks them all up; match_json then merges each query's hits, keeping
 * each record's nearest hash. Up to MATCH_INLINE_MAX hashes run on the loop thread; more run on
 * the worker pool, holding n->pdq (node_pdq_hold: the loop queues index changes meanwhile). */

#define MATCH_VARIANTS_MAX MEDIA_DIH_COUNT /* hashes in one query given as a list */
#define MATCH_INLINE_MAX 64                /* hashes queried on the loop thread */
#define MATCH_CHUNK 64                     /* hashes per store_pdq_query_batch call */
#define MATCH_JOBS_MAX 2                   /* batches on the worker pool at once */

enum match_names {
    MATCH_NAMES_NONE,      /* a single hash: matches carry no variant */
    MATCH_NAMES_VARIANT,   /* a list: matches carry "variant", the index of the nearest hash */
    MATCH_NAMES_TRANSFORM, /* media dihedral variants: matches carry "transform" */
};

struct match_set {
    int maxd;
    size_t nq, nh;
    uint8_t (*qh)[32];       /* nh hashes */
    size_t *off;             /* nq + 1 */
    enum match_names *names; /* nq */
    /* match_run's answer: the hits of hash h are hits[hoff[h] .. hoff[h + 1]), nearest first
     * (at most MATCH_HITS_MAX). */
    struct store_pdq_hit *hits;
    size_t nhits, caphits;
    size_t *hoff; /* nh + 1 */
    int rc;       /* match_run's result */
};

static void match_set_free(struct match_set *s)
{
    free(s->qh), free(s->off), free(s->names), free(s->hits), free(s->hoff);
    memset(s, 0, sizeof *s);
}

/* Sized for nq queries of nh hashes in all. Returns 0 or -ENOMEM. */
static int match_set_init(struct match_set *s, size_t nq, size_t nh, int maxd)
{
    memset(s, 0, sizeof *s);
    s->maxd = maxd;
    s->nq = nq;
    s->nh = nh;
    s->qh = malloc((nh + 1) * sizeof *s->qh);
    s->off = calloc(nq + 1, sizeof *s->off);
    s->names = calloc(nq, sizeof *s->names);
    s->hoff = calloc(nh + 1, sizeof *s->hoff);
    if (s->qh && s->off && s->names && s->hoff) return 0;
    match_set_free(s);
    return -ENOMEM;
}

/* Looks up every hash of s in x (only reads x: any thread, see docs/matching.md). */
static int match_run(const struct store_pdq *x, struct match_set *s)
{
    size_t chunk = s->nh < MATCH_CHUNK ? s->nh : MATCH_CHUNK;
    struct store_pdq_hit *buf = malloc(chunk * MATCH_HITS_MAX * sizeof *buf);
    size_t totals[MATCH_CHUNK];
    if (!buf) return -ENOMEM;
    s->nhits = 0;
    for (size_t h0 = 0; h0 < s->nh; h0 += chunk) {
        size_t c = s->nh - h0 < chunk ? s->nh - h0 : chunk;
        store_pdq_query_batch(x, (const uint8_t(*)[32])(s->qh + h0), c, s->maxd, buf,
                              MATCH_HITS_MAX, totals);
        for (size_t i = 0; i < c; i++) {
            size_t got = totals[i] < MATCH_HITS_MAX ? totals[i] : MATCH_HITS_MAX;
            s->hoff[h0 + i] = s->nhits;
            if (s->nhits + got > s->caphits) {
                size_t cap = s->caphits ? 2 * s->caphits : 256;
                while (cap < s->nhits + got)
                    cap *= 2;
                struct store_pdq_hit *p = realloc(s->hits, cap * sizeof *p);
                if (!p) {
                    free(buf);
                    return -ENOMEM;
                }
                s->hits = p;
                s->caphits = cap;
            }
            if (got == 0) continue;
            memcpy(s->hits + s->nhits, buf + i * MATCH_HITS_MAX, got * sizeof *buf);
            s->nhits += got;
        }
    }
    s->hoff[s->nh] = s->nhits;
    free(buf);
    return 0;
}

/* n->pdq keeps hashes only (docs/matching.md): a hit's hash is resolved to its records through
 * the store's exact index, at most this many per hash. */
#define MATCH_LOOKUP_MAX 1024

struct match_cand {
    uint8_t id[PROTO_ID_LEN];
    int distance;
    unsigned v; /* which hash of the query */
};

/* By id, then nearest, then earlier hash: a record's best candidate comes first. */
static int match_cand_by_id(const void *a, const void *b)
{
    const struct match_cand *x = a, *y = b;
    int c = memcmp(x->id, y->id, PROTO_ID_LEN);
    if (c) return c;
    if (x->distance != y->distance) return x->distance < y->distance ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* Nearest first, ties by id (the order the index's answers had with ids). */
static int match_cand_by_distance(const void *a, const void *b)
{
    const struct match_cand *x = a, *y = b;
    if (x->distance != y->distance) return x->distance < y->distance ? -1 : 1;
    return memcmp(x->id, y->id, PROTO_ID_LEN);
}

/* Appends the live (not retracted) records holding pdq hash h to *c as candidates at distance
 * d for hash v of the query. Returns 0 or -ENOMEM. */
static int match_resolve(struct store_rd *rd, const uint8_t h[32], int d, unsigned v,
                         uint8_t (*ids)[PROTO_ID_LEN], struct match_cand **c, size_t *n,
                         size_t *cap)
{
    size_t m = 0;
    if (store_lookup(rd, PROTO_ST_PDQ, h, 32, ids, NULL, MATCH_LOOKUP_MAX, &m) != 0) return 0;
    for (size_t i = 0; i < m; i++) {
        if (store_retraction_of(rd, ids[i], NULL) == 0) continue;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            struct match_cand *p = realloc(*c, nc * sizeof *p);
            if (!p) return -ENOMEM;
            *c = p;
            *cap = nc;
        }
        struct match_cand *x = &(*c)[(*n)++];
        memcpy(x->id, ids[i], PROTO_ID_LEN);
        x->distance = d;
        x->v = v;
    }
    return 0;
}

/*
 * Query q of s (after match_run) as match objects: the records hit by any of its hashes, each
 * once at its nearest distance (ties to the earlier hash), nearest first (ties by id), at most
 * MATCH_HITS_MAX. The index answers hashes (copies of one hash, one per record holding it,
 * are folded into one hit); each is resolved to its live records through the store's exact
 * index. This is exact: a record in the merged first MATCH_HITS_MAX is in the first
 * MATCH_HITS_MAX of the hash that is nearest to it (every record ahead of it there is ahead of
 * it in the merge too); only at the cut, records at the last distance may be chosen by hash
 * rather than by id. *best is the strongest verdict among them. Returns NULL when out of
 * memory.
 */
static json_t *match_json(struct call *k, struct store_rd *rd, const struct match_set *s, size_t q,
                          uint64_t now, enum policy_verdict *best)
{
    *best = POLICY_ALLOW;
    struct match_cand *c = NULL;
    size_t n = 0, cap = 0;
    uint8_t(*ids)[PROTO_ID_LEN] = malloc(MATCH_LOOKUP_MAX * sizeof *ids);
    json_t *matches = json_array();
    int rc = ids && matches ? 0 : -ENOMEM;
    for (size_t h = s->off[q]; h < s->off[q + 1] && rc == 0; h++)
        for (size_t i = s->hoff[h]; i < s->hoff[h + 1] && rc == 0; i++) {
            const struct store_pdq_hit *x = &s->hits[i];
            /* Hits come nearest first, then by hash: copies of one hash are neighbours. */
            if (i > s->hoff[h] && memcmp(x->hash, s->hits[i - 1].hash, 32) == 0) continue;
            rc = match_resolve(rd, x->hash, x->distance, (unsigned)(h - s->off[q]), ids, &c, &n,
                               &cap);
        }
    free(ids);
    if (rc) {
        free(c), json_decref(matches);
        return NULL;
    }
    if (s->off[q + 1] - s->off[q] > 1) { /* keep each record's best */
        qsort(c, n, sizeof *c, match_cand_by_id);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || memcmp(c[i].id, c[u - 1].id, PROTO_ID_LEN) != 0) c[u++] = c[i];
        n = u;
    }
    if (n > 1) qsort(c, n, sizeof *c, match_cand_by_distance);
    if (n > MATCH_HITS_MAX) n = MATCH_HITS_MAX;
    for (size_t i = 0; i < n; i++) {
        struct store_rec sr;
        struct proto_record r;
        if (store_get_decoded(rd, c[i].id, &sr, &r)) continue;
        enum policy_verdict v;
        json_t *m = api_match_json(rd, &r, &k->n->cfg, c[i].distance, now, &v);
        if (!m) continue;
        if (s->names[q] == MATCH_NAMES_VARIANT)
            json_object_set_new(m, "variant", json_integer(c[i].v));
        else if (s->names[q] == MATCH_NAMES_TRANSFORM)
            json_object_set_new(m, "transform",
                                json_string(media_dihedral_name((enum media_dihedral)c[i].v)));
        api_tally_match(k->n, m);
        if (v > *best) *best = v;
        json_array_append_new(matches, m);
    }
    free(c);
    k->n->metrics.match_queries++;
    k->n->metrics.match_hits += json_array_size(matches);
    return matches;
}

/* Parses query value h (a hex string, or a list of 1 to MATCH_VARIANTS_MAX of them) named
 * field into s->qh from *nh on. Returns 0 or -1 with *e filled. */
static int match_parse_query(json_t *h, const char *field, uint8_t (*qh)[32], size_t *nh,
                             struct api_err *e)
{
    if (json_is_array(h)) {
        size_t nv = json_array_size(h);
        if (nv == 0 || nv > MATCH_VARIANTS_MAX) {
            api_err_set(e, 400, "invalid_field", field, NULL, 0,
                        "%s: a list of variants holds 1 to %d pdq hashes (got %zu)", field,
                        MATCH_VARIANTS_MAX, nv);
            return -1;
        }
        for (size_t v = 0; v < nv; v++) {
            char sub[64];
            snprintf(sub, sizeof sub, "%s[%zu]", field, v);
            json_t *x = json_array_get(h, v);
            if (json_is_array(x) || match_parse_query(x, sub, qh, nh, e)) {
                if (json_is_array(x))
                    api_err_set(e, 400, "invalid_field", sub, NULL, 0,
                                "%s: a variant is one pdq hash (64 hex digits), not a list", sub);
                return -1;
            }
        }
        return 0;
    }
    if (!json_is_string(h) || gif_unhex(qh[*nh], 32, json_string_value(h), json_string_length(h))) {
        const char *sv = json_is_string(h) ? json_string_value(h) : "";
        api_err_set(e, 400, "invalid_field", field, sv, strlen(sv),
                    "%s: '%.200s' is not a pdq hash (64 hex digits)", field, sv);
        return -1;
    }
    (*nh)++;
    return 0;
}

/* Answers a POST /v1/match whose hashes were looked up (s->rc). */
static void match_reply(struct call *k, struct match_set *s)
{
    if (s->rc) {
        fail(k, 500, "internal", "out of memory matching");
        return;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    uint64_t now = gif_now_ms();
    json_t *results = json_array();
    for (size_t q = 0; q < s->nq; q++) {
        enum policy_verdict best;
        json_t *matches = match_json(k, rd, s, q, now, &best);
        if (!matches) {
            store_rd_close(rd);
            json_decref(results);
            fail(k, 500, "internal", "out of memory matching");
            return;
        }
        json_t *o = json_pack("{s:o,s:s,s:o}", "hash", api_hex(s->qh[s->off[q]], 32), "verdict",
                              policy_verdict_name(best), "matches", matches);
        if (s->names[q] == MATCH_NAMES_VARIANT) {
            json_t *hs = json_array();
            for (size_t h = s->off[q]; h < s->off[q + 1]; h++)
                json_array_append_new(hs, api_hex(s->qh[h], 32));
            json_object_set_new(o, "hashes", hs);
        }
        json_array_append_new(results, o);
    }
    store_rd_close(rd);
    reply_json(k, 200, json_pack("{s:i,s:o}", "max_distance", s->maxd, "results", results));
}

struct match_job {
    uv_work_t work;
    struct call k;
    struct match_set s;
};

static void match_work(uv_work_t *w)
{
    struct match_job *j = w->data;
    j->s.rc = match_run(j->k.n->pdq, &j->s);
}

static void match_after(uv_work_t *w, int status)
{
    struct match_job *j = w->data;
    node_pdq_release(j->k.n); /* the index may change again: apply what waited */
    if (status != 0)
        fail(&j->k, 503, "unavailable", "the node is stopping");
    else
        match_reply(&j->k, &j->s);
    match_set_free(&j->s);
    free(j);
}

static void post_match(struct call *k, const struct http_req *req)
{
    json_t *j = body_json(k, req);
    if (!j) return;
    static const char *const fields[] = {"type", "hashes", "hash", "max_distance", NULL};
    struct api_err e;
    if (api_check_fields(j, fields, "", &e)) goto bad;
    json_t *t = json_object_get(j, "type");
    if (t && !(json_is_string(t) && strcmp(json_string_value(t), "pdq") == 0)) {
        char *d = json_dumps(t, JSON_ENCODE_ANY);
        api_err_set(&e, 400, "invalid_field", "type", d, d ? strlen(d) : 0,
                    "type: %s: near matching of hashes supports pdq; send a video to POST "
                    "/v1/match/media to match it by vpdq",
                    d ? d : "?");
        free(d);
        goto bad;
    }
    int maxd = 31;
    json_t *md = json_object_get(j, "max_distance");
    if (md) {
        if (!json_is_integer(md) || json_integer_value(md) < 0 || json_integer_value(md) > 256) {
            char *d = json_dumps(md, JSON_ENCODE_ANY);
            api_err_set(&e, 400, "invalid_field", "max_distance", d, d ? strlen(d) : 0,
                        "max_distance: %s is not an integer from 0 to 256", d ? d : "?");
            free(d);
            goto bad;
        }
        maxd = (int)json_integer_value(md);
    }
    json_t *hs = json_object_get(j, "hashes");
    json_t *one = json_object_get(j, "hash");
    json_t *list = json_array();
    if (one) json_array_append(list, one);
    if (json_is_array(hs))
        json_array_extend(list, hs);
    else if (hs)
        json_array_append(list, hs); /* rejected below as not a string */
    size_t nq = json_array_size(list), nh = 0;
    for (size_t i = 0; i < nq; i++) {
        json_t *h = json_array_get(list, i);
        nh += json_is_array(h) ? json_array_size(h) : 1;
    }
    if (nq == 0 || nh > API_BATCH_MAX) {
        json_decref(list);
        api_err_set(&e, nq ? 413 : 400, nq ? "too_many" : "missing_field", "hashes", NULL, 0,
                    "give 1 to %d pdq hashes in hashes (or one in hash), variants included",
                    API_BATCH_MAX);
        goto bad;
    }
    struct match_set s;
    if (match_set_init(&s, nq, nh, maxd)) {
        json_decref(list), json_decref(j);
        fail(k, 500, "internal", "out of memory");
        return;
    }
    nh = 0;
    for (size_t i = 0; i < nq; i++) {
        json_t *h = json_array_get(list, i);
        char field[32];
        snprintf(field, sizeof field, one && i == 0 ? "hash" : "hashes[%zu]", one ? i - 1 : i);
        s.off[i] = nh;
        s.names[i] = json_is_array(h) ? MATCH_NAMES_VARIANT : MATCH_NAMES_NONE;
        if (match_parse_query(h, field, s.qh, &nh, &e)) {
            match_set_free(&s), json_decref(list);
            goto bad;
        }
    }
    s.off[nq] = nh;
    json_decref(list), json_decref(j);
    struct node *n = k->n;
    /* A large batch runs on the worker pool, unless two already do or index changes (or a
     * rebuild's commit) are waiting for the jobs to finish: then on the loop (as a small one
     * does), so that batches arriving back to back cannot hold them back for good. */
    if (nh > MATCH_INLINE_MAX && n->pdq_readers < MATCH_JOBS_MAX && node_pdq_quiet(n)) {
        struct match_job *mj = calloc(1, sizeof *mj);
        if (mj) {
            mj->k = *k;
            mj->s = s;
            mj->work.data = mj;
            if (uv_queue_work(n->loop, &mj->work, match_work, match_after) == 0) {
                node_pdq_hold(n);
                return;
            }
            free(mj);
        }
    }
    s.rc = match_run(n->pdq, &s);
    match_reply(k, &s);
    match_set_free(&s);
    return;
bad:
    json_decref(j);
    reply_err(k, &e);
}

/* ---- Media: POST /v1/match/media. The bytes are hashed on libuv's worker pool (a video can
 * take seconds); the lookups run on the loop thread, except a video's frame probes beyond
 * VPDQ_INLINE_MAX, which run on the worker pool holding n->vpdq (node_vpdq_hold: the loop
 * queues its changes meanwhile), as large POST /v1/match batches do with n->pdq. */

#define MEDIA_JOBS_MAX 2         /* media requests hashing at once; more get 503 */
#define MEDIA_VIDEO_MAX_MS 30000 /* decode time cap per video request */
#define VPDQ_PROBE_FRAMES 64     /* query frames looked up in the frame index (1 fps) */
#define VPDQ_PROBE_DENSE 512     /* the same for a query hashed at every frame */
#define VPDQ_CANDIDATES_MAX 100  /* stored videos compared frame by frame */
#define VPDQ_HITS_PER_FRAME 256  /* index hits read per probe frame */
#define VPDQ_WINDOW_MS 1000      /* stored signals are hashed at 1 fps */
#define VPDQ_INLINE_MAX 16       /* probe frames looked up on the loop thread */
#define VPDQ_PROBE_CHUNK 16      /* probe frames per store_pdq_query_batch call */
#define VPDQ_JOBS_MAX 2          /* videos probing on the worker pool at once */

struct vpdq_cand;

/* A video query's probe: the frames looked up in the frame index, and the records they hit
 * (in probe order, each once, at most VPDQ_CANDIDATES_MAX). */
struct vpdq_probe {
    int maxd;
    uint8_t (*q)[32]; /* nq frame hashes */
    size_t nq;
    size_t usable; /* usable frames in the query's lists */
    struct vpdq_cand *cands;
    size_t nc;
    int rc; /* vpdq_probe_run's result */
};

struct media_job {
    uv_work_t work;
    struct call k;
    uint8_t *body;
    size_t len;
    enum api_media_kind kind;
    int maxd;
    int dihedral; /* ?dihedral=1: match an image's 8 dihedral variants */
    struct api_media m;
    int rc;
    char err[256];
    struct vpdq_probe probe; /* a video's */
};

static void media_work(uv_work_t *w)
{
    struct media_job *j = w->data;
    struct api_media_opts o = {
        .video_max_ms = MEDIA_VIDEO_MAX_MS, .crop_borders = 1, .query = 1, .dihedral = j->dihedral};
    j->rc = api_media_hash(j->body, j->len, j->kind, &o, &j->m, j->err, sizeof j->err);
    /* The bytes are not needed any more: do not keep high-risk content in memory longer. */
    sodium_memzero(j->body, j->len);
    free(j->body);
    j->body = NULL;
}

struct vpdq_cand {
    uint8_t id[PROTO_ID_LEN];
    struct media_vpdq_match res;
};

/* The best of a result's three percentages (the one media_vpdq_is_match decides on). */
static double cand_best(const struct media_vpdq_match *x)
{
    double b = x->query_pct > x->compared_pct ? x->query_pct : x->compared_pct;
    return x->window_pct > b ? x->window_pct : b;
}

static int cand_cmp(const void *a, const void *b)
{
    double bx = cand_best(&((const struct vpdq_cand *)a)->res);
    double by = cand_best(&((const struct vpdq_cand *)b)->res);
    return bx > by ? -1 : bx < by ? 1 : 0;
}

/* Adds id to the candidates unless present or full. */
static void cand_add(struct vpdq_cand *c, size_t *n, const uint8_t id[PROTO_ID_LEN])
{
    for (size_t i = 0; i < *n; i++)
        if (memcmp(c[i].id, id, PROTO_ID_LEN) == 0) return;
    if (*n == VPDQ_CANDIDATES_MAX) return;
    memset(&c[*n], 0, sizeof c[*n]);
    memcpy(c[(*n)++].id, id, PROTO_ID_LEN);
}

static size_t usable_frames(const struct media_vpdq_frame *f, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].quality >= MEDIA_VPDQ_QUALITY) u++;
    return u;
}

/*
 * Picks the usable frames of f (usable of them) to look up in the frame index, appending their
 * hashes to p->q: every usable frame of 1 s windows spread over the list, about budget frames
 * in all. A dense query (every frame) matches a stored 1 fps video on about one frame a second,
 * so whole windows are probed rather than single frames; for a 1 fps list this is one frame in
 * every few, spread over the video.
 */
static void vpdq_select(struct vpdq_probe *p, const struct media_vpdq_frame *f, size_t nf,
                        size_t usable, size_t budget)
{
    if (usable == 0) return;
    size_t windows = f[nf - 1].time_ms / VPDQ_WINDOW_MS + 1;
    size_t per = (usable + windows - 1) / windows;   /* usable frames a window */
    size_t probed = budget / per ? budget / per : 1; /* windows probed */
    size_t stride = (windows + probed - 1) / probed;
    for (size_t i = 0; i < nf; i++) {
        if (f[i].quality < MEDIA_VPDQ_QUALITY || (f[i].time_ms / VPDQ_WINDOW_MS) % stride) continue;
        memcpy(p->q[p->nq++], f[i].hash, 32);
    }
}

static void vpdq_probe_free(struct vpdq_probe *p)
{
    free(p->q), free(p->cands);
    memset(p, 0, sizeof *p);
}

/* The frames of query m to probe (from the cropped list, and again from the uncropped one when
 * borders were cropped). Returns 0 or -ENOMEM. */
static int vpdq_probe_init(struct vpdq_probe *p, const struct api_media *m, int maxd)
{
    memset(p, 0, sizeof *p);
    p->maxd = maxd;
    p->q = malloc((m->nframes + m->nplain + 1) * sizeof *p->q);
    p->cands = malloc(VPDQ_CANDIDATES_MAX * sizeof *p->cands);
    if (!p->q || !p->cands) {
        vpdq_probe_free(p);
        return -ENOMEM;
    }
    size_t budget = m->every_frame ? VPDQ_PROBE_DENSE : VPDQ_PROBE_FRAMES;
    size_t usable = usable_frames(m->frames, m->nframes);
    size_t uplain = usable_frames(m->plain, m->nplain);
    vpdq_select(p, m->frames, m->nframes, usable, budget);
    vpdq_select(p, m->plain, m->nplain, uplain, budget);
    p->usable = usable + uplain;
    return 0;
}

/* Looks up p's frames in x and collects the records hit (only reads x: any thread, see
 * docs/matching.md). Sets p->rc to 0 or -ENOMEM. */
static void vpdq_probe_run(struct vpdq_probe *p, const struct store_pdq *x)
{
    struct store_pdq_hit *hits = malloc(VPDQ_PROBE_CHUNK * VPDQ_HITS_PER_FRAME * sizeof *hits);
    size_t totals[VPDQ_PROBE_CHUNK];
    p->rc = hits ? 0 : -ENOMEM;
    for (size_t q0 = 0; q0 < p->nq && hits; q0 += VPDQ_PROBE_CHUNK) {
        size_t c = p->nq - q0 < VPDQ_PROBE_CHUNK ? p->nq - q0 : VPDQ_PROBE_CHUNK;
        store_pdq_query_batch(x, (const uint8_t(*)[32])(p->q + q0), c, p->maxd, hits,
                              VPDQ_HITS_PER_FRAME, totals);
        for (size_t i = 0; i < c; i++) {
            size_t got = totals[i] < VPDQ_HITS_PER_FRAME ? totals[i] : VPDQ_HITS_PER_FRAME;
            for (size_t h = 0; h < got; h++)
                cand_add(p->cands, &p->nc, hits[i * VPDQ_HITS_PER_FRAME + h].id);
        }
    }
    free(hits);
}

/*
 * The stored vpdq signals a query video matches (docs/video.md "How a query should be
 * matched"). Candidates: the records whose indexed frames lie within maxd of the probed query
 * frames (p, after vpdq_probe_run). Each candidate's whole frame list is then compared with
 * both lists (media_vpdq_match_cropped, 1 s windows: the stored rate) and kept when
 * media_vpdq_is_match says so. Returns the match objects, best first; *best as near_matches.
 */
static json_t *vpdq_matches(struct call *k, struct store_rd *rd, const struct api_media *m,
                            struct vpdq_probe *p, uint64_t now, enum policy_verdict *best, int *err)
{
    *best = POLICY_ALLOW;
    *err = p->rc;
    json_t *matches = json_array();
    int maxd = p->maxd;
    struct vpdq_cand *cands = p->cands;
    size_t nc = p->nc;
    if (p->rc || p->usable == 0) return matches;
    struct media_vpdq_frame *cf = malloc(PROTO_VPDQ_FRAMES_MAX * sizeof *cf);
    if (!cf) {
        *err = -ENOMEM;
        return matches;
    }
    size_t kept = 0;
    for (size_t i = 0; i < nc; i++) {
        struct store_rec sr;
        struct proto_record r;
        const struct proto_bytes *frames;
        if (store_get_decoded(rd, cands[i].id, &sr, &r) ||
            !(frames = node_vpdq_value(&r)))
            continue;
        size_t n = api_vpdq_unpack(frames, cf);
        media_vpdq_match_cropped(m->frames, m->nframes, m->plain, m->nplain, cf, n, maxd,
                                 MEDIA_VPDQ_QUALITY, VPDQ_WINDOW_MS, &cands[i].res);
        if (media_vpdq_is_match(&cands[i].res, MEDIA_VPDQ_MATCH_PCT)) cands[kept++] = cands[i];
    }
    qsort(cands, kept, sizeof *cands, cand_cmp);
    for (size_t i = 0; i < kept; i++) {
        struct store_rec sr;
        struct proto_record r;
        if (store_get_decoded(rd, cands[i].id, &sr, &r)) continue;
        enum policy_verdict v;
        json_t *o = api_match_json(rd, &r, &k->n->cfg, -1, now, &v);
        if (!o) continue;
        /* The frame list can hold 4,096 frames: GET /v1/records/{id} gives it. */
        json_object_del(o, "value");
        const struct media_vpdq_match *x = &cands[i].res;
        const struct proto_bytes *frames = node_vpdq_value(&r);
        json_object_set_new(o, "frames",
                            json_integer((json_int_t)(frames ? frames->n / PROTO_VPDQ_FRAME_LEN : 0)));
        api_tally_match(k->n, o);
        json_object_set_new(o, "query_match_pct", json_real(x->query_pct));
        json_object_set_new(o, "compared_match_pct", json_real(x->compared_pct));
        json_object_set_new(o, "window_pct", json_real(x->window_pct));
        if (v > *best) *best = v;
        json_array_append_new(matches, o);
    }
    k->n->metrics.match_queries++;
    k->n->metrics.match_hits += json_array_size(matches);
    free(cf);
    return matches;
}

static void media_free(struct media_job *j)
{
    api_media_free(&j->m);
    vpdq_probe_free(&j->probe);
    free(j->body);
    free(j);
}

/* Answers a POST /v1/match/media whose media is hashed (and a video's frames probed, in
 * j->probe). Frees j. */
static void media_reply(struct media_job *j)
{
    struct call *k = &j->k;
    struct store_rd *rd = read_begin(k);
    if (!rd) goto out;
    uint64_t now = gif_now_ms();
    const struct api_media *m = &j->m;
    json_t *results = json_array();
    enum policy_verdict best, v;
    json_array_append_new(results,
                          lookup_one(k, rd, PROTO_ST_MD5, m->md5, 16, api_hex(m->md5, 16), &best));
    json_array_append_new(
        results, lookup_one(k, rd, PROTO_ST_SHA256, m->sha256, 32, api_hex(m->sha256, 32), &v));
    if (v > best) best = v;
    int rc = 0;
    if (m->kind == API_MEDIA_IMAGE) {
        /* One query: the pdq, or with ?dihedral=1 the pdq and its 7 other variants (the
         * original is the pdq itself, which differs from dih[0] for a 64x64 image). */
        size_t nv = m->has_dih ? MEDIA_DIH_COUNT : 1;
        struct match_set s;
        json_t *ms = NULL;
        if (match_set_init(&s, 1, nv, j->maxd) == 0) {
            memcpy(s.qh[0], m->pdq.hash, 32);
            for (size_t d = 1; d < nv; d++)
                memcpy(s.qh[d], m->dih[d].hash, 32);
            s.off[1] = nv;
            s.names[0] = m->has_dih ? MATCH_NAMES_TRANSFORM : MATCH_NAMES_NONE;
            if (match_run(k->n->pdq, &s) == 0) ms = match_json(k, rd, &s, 0, now, &v);
            match_set_free(&s);
        }
        if (!ms) {
            rc = -ENOMEM;
        } else {
            if (v > best) best = v;
            json_t *o = json_pack("{s:s,s:o,s:i,s:s,s:o}", "type", "pdq", "value",
                                  api_hex(m->pdq.hash, 32), "quality", m->pdq.quality, "verdict",
                                  policy_verdict_name(v), "matches", ms);
            if (m->has_dih) json_object_set_new(o, "dihedral", json_true());
            json_array_append_new(results, o);
        }
    } else {
        json_t *ms = vpdq_matches(k, rd, m, &j->probe, now, &v, &rc);
        if (v > best) best = v;
        json_t *o = json_pack("{s:s,s:I,s:b,s:b,s:s,s:o}", "type", "vpdq", "frames",
                              (json_int_t)m->nframes, "every_frame", m->every_frame, "truncated",
                              m->truncated, "verdict", policy_verdict_name(v), "matches", ms);
        if (m->truncated) json_object_set_new(o, "note", json_string(m->note));
        json_array_append_new(results, o);
    }
    store_rd_close(rd);
    if (rc) {
        json_decref(results);
        fail(k, 500, "internal", "out of memory matching the media");
        goto out;
    }
    reply_json(k, 200,
               json_pack("{s:s,s:i,s:i,s:i,s:s,s:o}", "media",
                         m->kind == API_MEDIA_IMAGE ? "image" : "video", "width", m->width,
                         "height", m->height, "max_distance", j->maxd, "verdict",
                         policy_verdict_name(best), "results", results));
out:
    media_free(j);
}

static void probe_work(uv_work_t *w)
{
    struct media_job *j = w->data;
    vpdq_probe_run(&j->probe, j->k.n->vpdq);
}

static void probe_after(uv_work_t *w, int status)
{
    struct media_job *j = w->data;
    node_vpdq_release(j->k.n); /* the index may change again: apply what waited */
    if (status != 0) {
        fail(&j->k, 503, "unavailable", "the node is stopping");
        media_free(j);
        return;
    }
    media_reply(j);
}

static void media_after(uv_work_t *w, int status)
{
    struct media_job *j = w->data;
    struct call *k = &j->k;
    struct node *n = k->n;
    n->media_jobs--;
    if (status != 0 || j->rc == -ENOMEM) {
        fail(k, status ? 503 : 500, status ? "unavailable" : "internal", "%s",
             status ? "the node is stopping" : "out of memory hashing the media");
        goto out;
    }
    if (j->rc) {
        struct api_err e;
        const char *what = j->kind == API_MEDIA_IMAGE ? "image" : "video";
        if (j->rc == -ETIMEDOUT)
            api_err_set(&e, 422, "bad_media", NULL, NULL, 0,
                        "the %s took longer than %d s to decode: %s", what,
                        MEDIA_VIDEO_MAX_MS / 1000, j->err);
        else
            api_err_set(&e, 422, "bad_media", NULL, NULL, 0, "the body is not a decodable %s: %s",
                        what, j->err);
        reply_err(k, &e);
        goto out;
    }
    if (j->m.kind != API_MEDIA_IMAGE) {
        if (vpdq_probe_init(&j->probe, &j->m, j->maxd) != 0) {
            fail(k, 500, "internal", "out of memory matching the media");
            goto out;
        }
        /* A long probe runs on the worker pool, on the terms of POST /v1/match's batches. */
        if (j->probe.nq > VPDQ_INLINE_MAX && n->vpdq_readers < VPDQ_JOBS_MAX &&
            node_vpdq_quiet(n) && uv_queue_work(n->loop, &j->work, probe_work, probe_after) == 0) {
            node_vpdq_hold(n);
            return;
        }
        vpdq_probe_run(&j->probe, n->vpdq);
    }
    media_reply(j);
    return;
out:
    media_free(j);
}

static void post_match_media(struct call *k, const struct http_req *req)
{
    struct node *n = k->n;
    enum api_media_kind kind = api_media_kind(req->content_type);
    if (kind == API_MEDIA_NONE) {
        const char *ct = req->content_type ? req->content_type : "";
        struct api_err e;
        api_err_set(&e, 415, "unsupported_media_type", "Content-Type", ct, strlen(ct),
                    "Content-Type must be image/... or video/... with the raw media bytes as "
                    "the body (got '%.100s')",
                    req->content_type ? ct : "none");
        reply_err(k, &e);
        return;
    }
    int maxd = 31;
    char buf[16];
    int ql = http_query_get(req->query, "max_distance", buf, sizeof buf);
    if (ql != -ENOENT) {
        char *end = NULL;
        long d = ql > 0 ? strtol(buf, &end, 10) : -1;
        if (ql <= 0 || *end || d < 0 || d > 256) {
            struct api_err e;
            api_err_set(&e, 400, "invalid_field", "max_distance", buf, strlen(buf),
                        "max_distance: '%.16s' is not an integer from 0 to 256", buf);
            reply_err(k, &e);
            return;
        }
        maxd = (int)d;
    }
    int dihedral = 0;
    ql = http_query_get(req->query, "dihedral", buf, sizeof buf);
    if (ql != -ENOENT) {
        if (ql > 0 && (strcmp(buf, "1") == 0 || strcmp(buf, "true") == 0)) {
            dihedral = 1;
        } else if (ql < 0 || !(strcmp(buf, "0") == 0 || strcmp(buf, "false") == 0)) {
            struct api_err e;
            api_err_set(&e, 400, "invalid_field", "dihedral", buf, ql > 0 ? strlen(buf) : 0,
                        "dihedral: '%.16s' is not 1, 0, true or false", ql > 0 ? buf : "");
            reply_err(k, &e);
            return;
        }
    }
    if (req->body_len == 0) {
        fail(k, 400, "missing_body", "the body must hold the media bytes (it is empty)");
        return;
    }
    if (n->media_jobs >= MEDIA_JOBS_MAX) {
        fail(k, 503, "unavailable", "%d media requests are being hashed already; retry shortly",
             MEDIA_JOBS_MAX);
        return;
    }
    struct media_job *j = calloc(1, sizeof *j);
    uint8_t *copy = malloc(req->body_len);
    if (!j || !copy) {
        free(j), free(copy);
        fail(k, 500, "internal", "out of memory");
        return;
    }
    memcpy(copy, req->body, req->body_len);
    j->k = *k;
    j->body = copy;
    j->len = req->body_len;
    j->kind = kind;
    j->maxd = maxd;
    j->dihedral = dihedral;
    j->work.data = j;
    int rc = uv_queue_work(n->loop, &j->work, media_work, media_after);
    if (rc) {
        free(copy), free(j);
        fail(k, 500, "internal", "cannot queue the media: %s", uv_strerror(rc));
        return;
    }
    n->media_jobs++;
}

static int parse_id(const char *s, uint8_t id[32])
{
    return gif_unhex(id, 32, s, strlen(s));
}

/* Reads and decodes record id for a request: true, or false after answering 404 or the
 * storage error and closing rd. */
static bool read_record(struct call *k, struct store_rd *rd, const uint8_t id[32],
                        const char *idhex, struct store_rec *sr, struct proto_record *r)
{
    int rc = store_get_decoded(rd, id, sr, r);
    if (rc == 0) return true;
    store_rd_close(rd);
    if (rc == -ENOENT)
        fail(k, 404, "not_found", "no record %s on this node", idhex);
    else
        fail_store(k, rc);
    return false;
}

static void get_record(struct call *k, const char *idhex)
{
    uint8_t id[32];
    if (parse_id(idhex, id)) {
        struct api_err e;
        api_err_set(&e, 400, "invalid_field", "id", idhex, strlen(idhex),
                    "id: '%.80s' is not a record id (64 hex digits)", idhex);
        reply_err(k, &e);
        return;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct store_rec sr;
    struct proto_record r;
    if (!read_record(k, rd, id, idhex, &sr, &r)) return;
    json_t *j = api_record_json(rd, &r, &sr, &k->n->cfg, gif_now_ms());
    store_rd_close(rd);
    reply_json(k, 200, j);
}

/* ---- Incidents and the policy. */

/* The counter of incident inc (n->tally is sorted by id), made when create and room allows. */
static struct node_tally *tally_slot(struct node *n, const char *inc, bool create)
{
    size_t lo = 0, hi = n->ntally;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(n->tally[mid].id, inc);
        if (c == 0) return &n->tally[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!create || n->ntally == NODE_TALLY_MAX || strlen(inc) > PROTO_INCIDENT_MAX) return NULL;
    if (gif_grow(&n->tally, &n->captally, n->ntally + 1, sizeof *n->tally, 16)) return NULL;
    struct node_tally *t = &n->tally[lo];
    memmove(t + 1, t, (n->ntally - lo) * sizeof *t);
    n->ntally++;
    memset(t, 0, sizeof *t);
    memcpy(t->id, inc, strlen(inc) + 1);
    return t;
}

/* Counts a match under its incident, for GET /v1/incidents (local only: never published). */
void api_tally_match(struct node *n, json_t *match)
{
    const char *inc = json_string_value(json_object_get(match, "incident"));
    if (!inc || !*inc) return;
    struct node_tally *t = tally_slot(n, inc, true);
    if (!t) return;
    t->matches++;
    t->unsaved++;
}

static uint64_t tally_of(struct node *n, const char *inc)
{
    const struct node_tally *t = tally_slot(n, inc, false);
    return t ? t->matches : 0;
}

static int tally_load_cb(void *ctx, const char *incident, uint64_t matches)
{
    struct node_tally *t = tally_slot(ctx, incident, true);
    if (t) t->matches += matches;
    return 0;
}

int api_tally_load(struct node *n, struct store_rd *rd)
{
    return store_tally_each(rd, tally_load_cb, n);
}

static void tally_saved(struct node *n, struct write_req *w, int rc)
{
    if (rc) { /* nothing written: count the entries as unsaved again */
        GIF_WARN("api", "local match counts not saved (%s): kept for the next try",
                 gif_strerror(rc));
        for (size_t i = 0; i < w->n; i++) {
            struct node_tally *t = tally_slot(n, w->tally[i].incident, true);
            if (t) t->unsaved += w->tally[i].add;
        }
    }
    free(w->tally);
    free(w);
}

void api_tally_save(struct node *n)
{
    size_t k = 0;
    for (size_t i = 0; i < n->ntally; i++)
        if (n->tally[i].unsaved) k++;
    if (k == 0) return;
    struct write_req *w = calloc(1, sizeof *w);
    struct store_tally *t = w ? calloc(k, sizeof *t) : NULL;
    if (!t) {
        free(w);
        return;
    }
    size_t j = 0;
    for (size_t i = 0; i < n->ntally; i++) {
        if (!n->tally[i].unsaved) continue;
        memcpy(t[j].incident, n->tally[i].id, sizeof t[j].incident);
        t[j++].add = n->tally[i].unsaved;
    }
    w->kind = WRITE_TALLY;
    w->n = k;
    w->tally = t;
    w->done = tally_saved;
    if (node_write(n, w) != 0) { /* queue full or stopping: try again next time */
        free(t);
        free(w);
        return;
    }
    for (size_t i = 0; i < n->ntally; i++)
        n->tally[i].unsaved = 0;
}

struct inc_list {
    struct node *n;
    json_t *arr;
    int status; /* 0 all, 1 open, 2 concluded */
};

static int inc_list_cb(void *ctx, const struct store_incident *in)
{
    struct inc_list *l = ctx;
    if ((l->status == 1 && in->concluded) || (l->status == 2 && !in->concluded)) return 0;
    json_array_append_new(l->arr, api_incident_json(in, tally_of(l->n, in->id)));
    return 0;
}

static int by_updated_desc(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "updated"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "updated"));
    return strcmp(y ? y : "", x ? x : "");
}

static void get_incidents(struct call *k, const struct http_req *req)
{
    char status[16] = "";
    struct inc_list l = {k->n, NULL, 0};
    if (http_query_get(req->query, "status", status, sizeof status) > 0) {
        if (strcmp(status, "open") == 0)
            l.status = 1;
        else if (strcmp(status, "concluded") == 0)
            l.status = 2;
        else if (strcmp(status, "all") != 0) {
            fail(k, 400, "invalid_field", "status: '%s' is not open, concluded or all", status);
            return;
        }
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    l.arr = json_array();
    int rc = store_incidents_each(rd, inc_list_cb, &l);
    store_rd_close(rd);
    if (rc < 0) {
        json_decref(l.arr);
        fail_store(k, rc);
        return;
    }
    /* Most recently active first: what an analyst looks at during a crisis. */
    size_t cnt = json_array_size(l.arr);
    json_t **v = malloc((cnt ? cnt : 1) * sizeof *v), *sorted = json_array();
    if (!v) {
        json_decref(l.arr), json_decref(sorted);
        fail(k, 500, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < cnt; i++)
        v[i] = json_array_get(l.arr, i);
    qsort(v, cnt, sizeof *v, by_updated_desc);
    for (size_t i = 0; i < cnt; i++)
        json_array_append(sorted, v[i]);
    free(v);
    json_decref(l.arr);
    reply_json(k, 200, json_pack("{s:o}", "incidents", sorted));
}

struct inc_detail {
    struct store_rd *rd;
    struct node *n;
    json_t *timeline, *signals, *orgs;
    uint64_t now;
};

static int inc_detail_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    struct inc_detail *d = ctx;
    struct proto_record r;
    if (proto_decode_known(&r, sr->buf, sr->len, id) != 0) return 0;
    json_t *e = api_timeline_json(d->rd, &r, sr, &d->n->cfg);
    json_array_append_new(d->timeline, e);
    const char *org = json_string_value(json_object_get(e, "org"));
    if (org) {
        json_t *o = json_object_get(d->orgs, org);
        if (!o) {
            o = json_pack("{s:s,s:O,s:i}", "org", org, "role", json_object_get(e, "role"),
                          "records", 0);
            json_object_set_new(d->orgs, org, o);
        }
        json_object_set_new(o, "records",
                            json_integer(json_integer_value(json_object_get(o, "records")) + 1));
    }
    enum policy_verdict v;
    json_t *m = api_match_json(d->rd, &r, &d->n->cfg, -1, d->now, &v);
    if (m) json_array_append_new(d->signals, m);
    return 0;
}

static void get_incident(struct call *k, const char *raw)
{
    const char *id = raw; /* the path is already percent-decoded */
    size_t n = strlen(raw);
    if (n > PROTO_INCIDENT_MAX) {
        fail(k, 400, "invalid_field", "incident: not an incident id of 1 to %d bytes",
             PROTO_INCIDENT_MAX);
        return;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct store_incident in;
    int rc = store_incident_get(rd, id, n, &in);
    if (rc) {
        store_rd_close(rd);
        if (rc == -ENOENT)
            fail(k, 404, "not_found", "no incident '%.64s' on this node", id);
        else
            fail_store(k, rc);
        return;
    }
    struct inc_detail d = {rd, k->n, json_array(), json_array(), json_object(), gif_now_ms()};
    rc = store_incident_records(rd, id, n, inc_detail_cb, &d);
    store_rd_close(rd);
    if (rc < 0) {
        json_decref(d.timeline), json_decref(d.signals), json_decref(d.orgs);
        fail_store(k, rc);
        return;
    }
    json_t *j = api_incident_json(&in, tally_of(k->n, in.id));
    json_t *orgs = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(d.orgs, key, v) json_array_append(orgs, v);
    json_decref(d.orgs);
    json_object_set_new(j, "organisations", orgs);
    json_object_set_new(j, "timeline", d.timeline);
    json_object_set_new(j, "signals", d.signals);
    reply_json(k, 200, j);
}

struct explain_ctx {
    json_t *rules;
    const char *decided; /* the rule that decided */
};

static void explain_cb(void *ctx, const char *rule, enum policy_verdict verdict, bool applies,
                       bool decided)
{
    struct explain_ctx *e = ctx;
    if (decided) e->decided = rule;
    json_array_append_new(e->rules, json_pack("{s:s,s:s,s:b,s:b}", "rule", rule, "verdict",
                                              policy_verdict_name(verdict), "applies", applies,
                                              "decided", decided));
}

static void get_explain(struct call *k, const struct http_req *req)
{
    char idhex[80], dist[16];
    uint8_t id[32];
    if (http_query_get(req->query, "id", idhex, sizeof idhex) <= 0 || parse_id(idhex, id)) {
        fail(k, 400, "invalid_field", "id: give the record id (64 hex digits) as ?id=");
        return;
    }
    int distance = -1;
    if (http_query_get(req->query, "distance", dist, sizeof dist) > 0) {
        char *end;
        long d = strtol(dist, &end, 10);
        if (*end || d < 0 || d > 256) {
            fail(k, 400, "invalid_field", "distance: '%s' is not a distance from 0 to 256", dist);
            return;
        }
        distance = (int)d;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct store_rec sr;
    struct proto_record r;
    if (!read_record(k, rd, id, idhex, &sr, &r)) return;
    if (r.kind != PROTO_SIGNAL && r.kind != PROTO_ALERT) {
        store_rd_close(rd);
        fail(k, 422, "not_matchable", "record %s is a %s: the policy decides on signals and alerts",
             idhex, proto_kind_name(r.kind));
        return;
    }
    struct store_member m;
    bool found;
    struct store_incident inc;
    struct policy_input in;
    api_policy_read(rd, &r, &k->n->cfg, distance, gif_now_ms(), &m, &found, &inc, &in);
    json_t *inputs = api_policy_json(&r, &m, found, &inc, &in);
    struct explain_ctx e = {json_array(), NULL};
    enum policy_verdict v = policy_explain(&k->n->cfg.policy, &in, explain_cb, &e);
    store_rd_close(rd);
    reply_json(k, 200,
               json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", idhex, "verdict", policy_verdict_name(v),
                         "rule", e.decided, "inputs", inputs, "rules", e.rules));
}

struct feed_walk {
    struct store_rd *rd;
    struct node *n;
    json_t *arr;
    size_t limit;
    uint64_t last;
    bool more;
    uint64_t now;
};

static int feed_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    struct feed_walk *w = ctx;
    if (json_array_size(w->arr) >= w->limit) {
        w->more = true;
        return 1;
    }
    struct proto_record r;
    w->last = sr->feed;
    if (proto_decode_known(&r, sr->buf, sr->len, id) == 0)
        json_array_append_new(w->arr, api_record_json(w->rd, &r, sr, &w->n->cfg, w->now));
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s) return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void get_feed(struct call *k, const struct http_req *req)
{
    char buf[32];
    uint64_t after = 0, limit = 100;
    int rc = http_query_get(req->query, "after", buf, sizeof buf);
    if (rc < 0 && rc != -ENOENT) buf[0] = '\0';
    if ((rc >= 0 && parse_u64(buf, &after)) || (rc < 0 && rc != -ENOENT)) {
        struct api_err e;
        api_err_set(&e, 400, "invalid_field", "after", buf, rc > 0 ? (size_t)rc : 0,
                    "after: '%.30s' is not a cursor (a decimal number from a previous next)", buf);
        reply_err(k, &e);
        return;
    }
    rc = http_query_get(req->query, "limit", buf, sizeof buf);
    if (rc < 0 && rc != -ENOENT) buf[0] = '\0';
    if ((rc >= 0 && (parse_u64(buf, &limit) || limit < 1 || limit > FEED_LIMIT_MAX)) ||
        (rc < 0 && rc != -ENOENT)) {
        struct api_err e;
        api_err_set(&e, 400, "invalid_field", "limit", buf, rc > 0 ? (size_t)rc : 0,
                    "limit: '%.30s' is not an integer from 1 to %d", buf, FEED_LIMIT_MAX);
        reply_err(k, &e);
        return;
    }
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct feed_walk w = {rd, k->n, json_array(), (size_t)limit, after, false, gif_now_ms()};
    rc = store_feed_each(rd, after, feed_cb, &w);
    store_rd_close(rd);
    if (rc < 0) {
        json_decref(w.arr);
        fail_store(k, rc);
        return;
    }
    char next[32];
    snprintf(next, sizeof next, "%llu", (unsigned long long)w.last);
    reply_json(k, 200, json_pack("{s:o,s:s,s:b}", "records", w.arr, "next", next, "more", w.more));
}

struct members_walk {
    json_t *arr;
};

static int member_cb(void *ctx, const struct store_member *m)
{
    struct members_walk *w = ctx;
    json_array_append_new(w->arr,
                          json_pack("{s:o,s:s,s:s,s:o,s:o,s:b,s:o,s:o}", "key", api_hex(m->key, 32),
                                    "org", m->org, "role", proto_role_name(m->role), "not_before",
                                    api_time(m->not_before_ms), "not_after",
                                    api_time(m->not_after_ms), "revoked", m->revoked, "revoked_at",
                                    m->revoked ? api_time(m->revoked_ms) : json_null(), "record",
                                    api_hex(m->record_id, 32)));
    return 0;
}

static void get_members(struct call *k)
{
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct members_walk w = {json_array()};
    int rc = store_members_each(rd, member_cb, &w);
    store_rd_close(rd);
    if (rc < 0) {
        json_decref(w.arr);
        fail_store(k, rc);
        return;
    }
    reply_json(k, 200, json_pack("{s:o}", "members", w.arr));
}

static int frozen_cb(void *ctx, const struct store_head *h)
{
    if (h->frozen)
        json_array_append_new(ctx, json_pack("{s:o,s:I}", "origin", api_hex(h->origin, 32), "seq",
                                             (json_int_t)h->seq));
    return 0;
}

static void get_status(struct call *k)
{
    struct node *n = k->n;
    struct store_rd *rd = read_begin(k);
    if (!rd) return;
    struct store_stats st;
    int rc = store_stats_get(rd, &st);
    json_t *frozen = json_array();
    if (rc == 0) rc = store_heads_each(rd, frozen_cb, frozen);
    struct store_member me;
    bool member = store_member_get(rd, n->pk, &me) == 0;
    store_rd_close(rd);
    if (rc < 0) {
        json_decref(frozen);
        fail_store(k, rc);
        return;
    }
    json_t *kinds = json_object(), *types = json_object();
    for (uint8_t i = PROTO_SIGNAL; i <= PROTO_KIND_MAX; i++)
        json_object_set_new(kinds, proto_kind_name(i), json_integer((json_int_t)st.by_kind[i]));
    for (uint8_t i = PROTO_ST_MD5; i <= PROTO_ST_URL; i++)
        json_object_set_new(types, proto_stype_name(i), json_integer((json_int_t)st.by_stype[i]));
    json_t *node = json_pack("{s:o,s:o,s:o,s:b}", "key", api_hex(n->pk, 32), "org",
                             member ? json_string(me.org) : json_null(), "role",
                             member ? json_string(proto_role_name(me.role)) : json_null(),
                             "member_active", member && store_member_active(&me, gif_now_ms()));
    json_t *j = json_pack("{s:s,s:o,s:I,s:I,s:o,s:o,s:I,s:I,s:I,s:I,s:o,s:{s:I,s:I}}", "version",
                          GIF_VERSION, "node", node, "uptime_s",
                          (json_int_t)((gif_now_ms() - n->started_ms) / 1000), "records",
                          (json_int_t)st.records, "by_kind", kinds, "signals_by_type", types,
                          "retracted", (json_int_t)st.retracted, "held", (json_int_t)st.held,
                          "feed_last", (json_int_t)st.feed_last, "pdq_index",
                          (json_int_t)store_pdq_count(n->pdq), "frozen", frozen, "storage",
                          "map_size", (json_int_t)st.map_size, "map_used", (json_int_t)st.map_used);
    reply_json(k, 200, j);
}

static void get_metrics(struct call *k)
{
    struct node *n = k->n;
    struct metrics_gauges g = {.pdq_index = store_pdq_count(n->pdq),
                               .events_clients = n->sse_count,
                               .peers_ready = net_ready_count(n)};
    struct store_rd *rd;
    if (store_rd_open(n->store, &rd) == 0) {
        struct store_stats st;
        if (store_stats_get(rd, &st) == 0) {
            g.held = st.held;
            g.records = st.records;
            g.frozen = st.forks;
        }
        store_rd_close(rd);
    }
    struct metrics_peer peers[METRICS_PEERS_MAX];
    g.peers = peers;
    g.npeers = net_metrics_peers(n, peers, METRICS_PEERS_MAX);
    char *text = metrics_render(&n->metrics, &g);
    if (!text) {
        fail(k, 500, "internal", "out of memory");
        return;
    }
    reply_raw(k, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

/* ---- Events. */

static void sse_closed(void *ctx, struct http_conn *c)
{
    struct node *n = ctx;
    for (struct sse_client **p = &n->sse; *p; p = &(*p)->next)
        if ((*p)->conn == c) {
            struct sse_client *dead = *p;
            *p = dead->next;
            free(dead);
            n->sse_count--;
            return;
        }
}

/* Formats one event; returns a malloc'd string. */
static char *event_text(struct node *n, struct store_rd *rd, uint64_t feed, const uint8_t *rec,
                        size_t len, uint64_t accepted_ms)
{
    struct proto_record r;
    if (proto_decode(&r, rec, len)) return NULL;
    struct store_rec sr = {rec, len, feed, accepted_ms};
    json_t *j = api_record_json(rd, &r, &sr, &n->cfg, gif_now_ms());
    char *data = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!data) return NULL;
    size_t cap = strlen(data) + 96;
    char *text = malloc(cap);
    if (text)
        snprintf(text, cap, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)feed,
                 proto_kind_name(r.kind), data);
    free(data);
    return text;
}

struct replay {
    struct node *n;
    struct store_rd *rd;
    struct http_conn *c;
    int rc;
};

static int replay_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    (void)id;
    struct replay *p = ctx;
    /* The snapshot may hold records committed but not yet applied; those reach every client,
     * this one included, through api_broadcast. Replaying them too would send them twice. */
    if (sr->feed > p->n->feed_seen) return 1;
    char *t = event_text(p->n, p->rd, sr->feed, sr->buf, sr->len, sr->accepted_ms);
    if (!t) return 0;
    p->rc = http_sse_send(p->c, t, strlen(t));
    free(t);
    return p->rc < 0 ? 1 : 0;
}

static void get_events(struct call *k, const struct http_req *req)
{
    struct node *n = k->n;
    uint64_t after = 0;
    bool resume = false;
    char buf[32];
    if (req->last_event_id && parse_u64(req->last_event_id, &after) == 0)
        resume = true;
    else if (http_query_get(req->query, "after", buf, sizeof buf) >= 0) {
        if (parse_u64(buf, &after)) {
            struct api_err e;
            api_err_set(&e, 400, "invalid_field", "after", buf, strlen(buf),
                        "after: '%.30s' is not a cursor", buf);
            reply_err(k, &e);
            return;
        }
        resume = true;
    }
    if (n->sse_count >= EVENTS_MAX) {
        fail(k, 503, "unavailable", "too many open event streams (%d)", EVENTS_MAX);
        return;
    }
    struct sse_client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        fail(k, 500, "internal", "out of memory");
        return;
    }
    metrics_http(&n->metrics, 200, gif_mono_ns() - k->t0);
    if (http_sse_begin(k->c, sse_closed, n) != 0) {
        free(cl);
        return;
    }
    cl->conn = k->c;
    cl->next = n->sse;
    n->sse = cl;
    n->sse_count++;
    /* Replay what the client missed, up to what the index has applied, then go live. */
    if (resume && after < n->feed_seen) {
        struct store_rd *rd;
        if (store_rd_open(n->store, &rd) == 0) {
            struct replay p = {n, rd, k->c, 0};
            store_feed_each(rd, after, replay_cb, &p);
            store_rd_close(rd);
        }
    }
}

/* Sends text to every events client. http_sse_send may close a slow stream, which unlinks
 * it: walk a snapshot. */
static void send_all(struct node *n, const char *text, size_t len)
{
    struct http_conn *conns[EVENTS_MAX];
    size_t nc = 0;
    for (struct sse_client *c = n->sse; c && nc < EVENTS_MAX; c = c->next)
        conns[nc++] = c->conn;
    for (size_t i = 0; i < nc; i++)
        http_sse_send(conns[i], text, len);
}

void api_broadcast(struct node *n, uint64_t feed, const uint8_t *rec, size_t len,
                   uint64_t accepted_ms)
{
    if (!n->sse) return;
    struct store_rd *rd;
    if (store_rd_open(n->store, &rd) != 0) return;
    char *t = event_text(n, rd, feed, rec, len, accepted_ms);
    store_rd_close(rd);
    if (!t) return;
    send_all(n, t, strlen(t));
    free(t);
}

void api_keepalive(struct node *n)
{
    static const char ping[] = ": keepalive\n\n";
    send_all(n, ping, sizeof ping - 1);
}

/* ---- Writes. */

struct wcall {
    struct call k;
    struct write_req w;
    json_t *doc;
    struct arena arena;
    bool batch;
    struct proto_record one;
    struct store_result one_res;
    struct store_in one_in;
};

static void wcall_free(struct wcall *wc)
{
    json_decref(wc->doc);
    arena_free(&wc->arena);
    if (wc->w.drafts != &wc->one) free(wc->w.drafts);
    if (wc->w.res != &wc->one_res) free(wc->w.res);
    if (wc->w.in != &wc->one_in) free(wc->w.in);
    free(wc);
}

static json_t *result_json(const struct store_result *r)
{
    json_t *o = json_object();
    if (r->status == 0 || r->status == GIF_E_DUPLICATE || r->status == GIF_E_PENDING)
        json_object_set_new(o, "id", api_hex(r->id, 32));
    if (r->status == 0) {
        json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
        json_object_set_new(o, "feed", json_integer((json_int_t)r->feed));
        json_object_set_new(o, "status", json_string("accepted"));
    } else if (r->status == GIF_E_DUPLICATE) {
        json_object_set_new(o, "status", json_string("duplicate"));
    } else if (r->status == GIF_E_PENDING) {
        json_object_set_new(o, "status", json_string("held"));
    } else {
        json_object_set_new(o, "status", json_string("rejected"));
        json_object_set_new(o, "reason", json_string(gif_errname(r->status)));
        json_object_set_new(o, "message", json_string(gif_strerror(r->status)));
    }
    return o;
}

static void publish_done(struct node *n, struct write_req *w, int rc)
{
    struct wcall *wc = w->ctx;
    (void)n;
    if (rc) {
        fail_store(&wc->k, rc);
    } else if (!wc->batch) {
        struct store_result *r = &w->res[0];
        if (r->status == 0) {
            reply_json(&wc->k, 201,
                       json_pack("{s:o,s:I,s:I}", "id", api_hex(r->id, 32), "seq",
                                 (json_int_t)r->seq, "feed", (json_int_t)r->feed));
        } else {
            metrics_reject(&wc->k.n->metrics, r->status);
            struct api_err e;
            api_err_set(&e, 422, "rejected", NULL, NULL, 0, "record refused: %s",
                        gif_strerror(r->status));
            json_t *err = json_pack("{s:s,s:s,s:s}", "code", "rejected", "message", e.message,
                                    "reason", gif_errname(r->status));
            reply_json(&wc->k, 422, json_pack("{s:o}", "error", err));
        }
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < w->n; i++) {
            if (w->res[i].status && w->res[i].status != GIF_E_DUPLICATE)
                metrics_reject(&wc->k.n->metrics, w->res[i].status);
            json_array_append_new(arr, result_json(&w->res[i]));
        }
        reply_json(&wc->k, 201, json_pack("{s:o}", "results", arr));
    }
    wcall_free(wc);
}

static void ingest_done(struct node *n, struct write_req *w, int rc)
{
    struct wcall *wc = w->ctx;
    (void)n;
    if (rc) {
        fail_store(&wc->k, rc);
        wcall_free(wc);
        return;
    }
    size_t acc = 0, dup = 0, held = 0, rej = 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < w->n; i++) {
        int st = w->res[i].status;
        if (st == 0)
            acc++;
        else if (st == GIF_E_DUPLICATE)
            dup++;
        else if (st == GIF_E_PENDING)
            held++;
        else
            rej++, metrics_reject(&wc->k.n->metrics, st);
        json_array_append_new(arr, result_json(&w->res[i]));
    }
    reply_json(&wc->k, 200,
               json_pack("{s:I,s:I,s:I,s:I,s:o}", "accepted", (json_int_t)acc, "duplicate",
                         (json_int_t)dup, "held", (json_int_t)held, "rejected", (json_int_t)rej,
                         "results", arr));
    wcall_free(wc);
}

static struct wcall *wcall_new(struct call *k, json_t *doc)
{
    struct wcall *wc = calloc(1, sizeof *wc);
    if (!wc) {
        json_decref(doc);
        fail(k, 500, "internal", "out of memory");
        return NULL;
    }
    wc->k = *k;
    wc->doc = doc;
    wc->w.ctx = wc;
    wc->w.drafts = &wc->one;
    wc->w.res = &wc->one_res;
    wc->w.in = &wc->one_in;
    wc->w.n = 1;
    return wc;
}

/* True (and answered 409) if peers hold later records of this node than its store does. */
static bool own_log_behind(struct call *k)
{
    struct node *n = k->n;
    /* Until a peer has said how far our log reaches, a restored node cannot know it is
     * behind: a node with seeds waits for the first version vector (at most
     * PUBLISH_WAIT_MS after start). A node without seeds publishes at once. */
    if (n->net && n->cfg.nseeds > 0 && !n->vv_seen &&
        gif_now_ms() - n->started_ms < PUBLISH_WAIT_MS) {
        fail(k, 409, "behind_own_log",
             "waiting for a peer's view of this node's log before publishing (at most %d s "
             "after start); retry shortly",
             PUBLISH_WAIT_MS / 1000);
        return true;
    }
    if (n->self_seen_seq == 0) return false;
    struct store_rd *rd;
    struct store_head h = {0};
    if (store_rd_open(n->store, &rd) == 0) {
        if (store_head_get(rd, n->pk, &h) != 0) h.seq = 0;
        store_rd_close(rd);
    }
    if (h.seq >= n->self_seen_seq) return false;
    fail(k, 409, "behind_own_log",
         "peers hold this node's records up to seq %llu but its store ends at %llu (a restored "
         "backup?): publishing now would fork its log; it is catching up, retry shortly",
         (unsigned long long)n->self_seen_seq, (unsigned long long)h.seq);
    return true;
}

static void submit(struct wcall *wc, enum write_kind kind)
{
    if (kind == WRITE_PUBLISH && own_log_behind(&wc->k)) {
        wcall_free(wc);
        return;
    }
    wc->w.kind = kind;
    wc->w.done = kind == WRITE_PUBLISH ? publish_done : ingest_done;
    int rc = node_write(wc->k.n, &wc->w);
    if (rc) {
        fail_store(&wc->k, rc);
        wcall_free(wc);
    }
}

/* Allocates n drafts/results (or ingest inputs) for a batch. */
static int wcall_batch(struct wcall *wc, size_t n, bool ingest)
{
    wc->batch = true;
    wc->w.n = n;
    wc->w.res = calloc(n, sizeof *wc->w.res);
    if (ingest)
        wc->w.in = calloc(n, sizeof *wc->w.in);
    else
        wc->w.drafts = calloc(n, sizeof *wc->w.drafts);
    return wc->w.res && (ingest ? wc->w.in != NULL : wc->w.drafts != NULL) ? 0 : -1;
}

static void post_signals(struct call *k, const struct http_req *req)
{
    json_t *j = body_json(k, req);
    if (!j) return;
    struct wcall *wc = wcall_new(k, j);
    if (!wc) return;
    struct api_err e;
    json_t *list = json_object_get(j, "signals");
    if (list) {
        static const char *const fields[] = {"signals", NULL};
        if (api_check_fields(j, fields, "", &e)) goto bad;
        size_t n = json_array_size(list);
        if (!json_is_array(list) || n == 0) {
            api_err_set(&e, 400, "invalid_field", "signals", NULL, 0,
                        "signals must be a list of 1 to %d signal objects", API_BATCH_MAX);
            goto bad;
        }
        if (n > API_BATCH_MAX) {
            api_err_set(&e, 413, "too_many", "signals", NULL, 0, "at most %d signals per request",
                        API_BATCH_MAX);
            goto bad;
        }
        if (wcall_batch(wc, n, false)) {
            api_err_set(&e, 500, "internal", NULL, NULL, 0, "out of memory");
            goto bad;
        }
        for (size_t i = 0; i < n; i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "signals[%zu].", i);
            if (api_parse_signal(json_array_get(list, i), &wc->w.drafts[i], &wc->arena, prefix, &e))
                goto bad;
        }
    } else if (api_parse_signal(j, &wc->one, &wc->arena, "", &e)) {
        goto bad;
    }
    submit(wc, WRITE_PUBLISH);
    return;
bad:
    reply_err(k, &e);
    wcall_free(wc);
}

static void post_simple(struct call *k, const struct http_req *req, uint8_t kind)
{
    json_t *j = body_json(k, req);
    if (!j) return;
    struct wcall *wc = wcall_new(k, j);
    if (!wc) return;
    struct api_err e;
    int rc = kind == PROTO_ALERT        ? api_parse_alert(j, &wc->one, &wc->arena, &e)
             : kind == PROTO_RETRACTION ? api_parse_retraction(j, &wc->one, &e)
             : kind == PROTO_INCIDENT   ? api_parse_incident(j, &wc->one, &e)
                                        : api_parse_feedback(j, &wc->one, &e);
    if (rc) {
        reply_err(k, &e);
        wcall_free(wc);
        return;
    }
    submit(wc, WRITE_PUBLISH);
}

static void post_records(struct call *k, const struct http_req *req)
{
    json_t *j = body_json(k, req);
    if (!j) return;
    struct wcall *wc = wcall_new(k, j);
    if (!wc) return;
    struct api_err e;
    static const char *const fields[] = {"records", NULL};
    if (api_check_fields(j, fields, "", &e)) goto bad;
    json_t *list = json_object_get(j, "records");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0) {
        api_err_set(&e, 400, list ? "invalid_field" : "missing_field", "records", NULL, 0,
                    "records must be a list of 1 to %d hex-encoded signed records", API_BATCH_MAX);
        goto bad;
    }
    if (n > API_BATCH_MAX) {
        api_err_set(&e, 413, "too_many", "records", NULL, 0, "at most %d records per request",
                    API_BATCH_MAX);
        goto bad;
    }
    if (wcall_batch(wc, n, true)) {
        api_err_set(&e, 500, "internal", NULL, NULL, 0, "out of memory");
        goto bad;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(list, i);
        size_t hl = json_string_length(h);
        char field[32];
        snprintf(field, sizeof field, "records[%zu]", i);
        if (!json_is_string(h) || hl % 2 || hl == 0 || hl / 2 > PROTO_RECORD_MAX) {
            api_err_set(&e, 400, "invalid_field", field, json_string_value(h), hl,
                        "%s is not a hex-encoded record of at most %d bytes", field,
                        PROTO_RECORD_MAX);
            goto bad;
        }
        uint8_t *buf = arena_alloc(&wc->arena, hl / 2);
        if (!buf) {
            api_err_set(&e, 500, "internal", NULL, NULL, 0, "out of memory");
            goto bad;
        }
        if (gif_unhex(buf, hl / 2, json_string_value(h), hl)) {
            api_err_set(&e, 400, "invalid_field", field, json_string_value(h), hl,
                        "%s: '%.40s...' is not hex", field, json_string_value(h));
            goto bad;
        }
        wc->w.in[i] = (struct store_in){.buf = buf, .len = hl / 2};
    }
    submit(wc, WRITE_INGEST);
    return;
bad:
    reply_err(k, &e);
    wcall_free(wc);
}

/* ---- Routing. */

enum route_method { R_GET = 1, R_POST = 2 };

void api_handle(void *ctx, struct http_conn *c, const struct http_req *req)
{
    struct node *n = ctx;
    struct call k = {n, c, gif_mono_ns(), req->verb == HTTP_VERB_HEAD};
    const char *p = req->path;
    int m = req->verb == HTTP_VERB_GET || req->verb == HTTP_VERB_HEAD ? R_GET
            : req->verb == HTTP_VERB_POST                             ? R_POST
                                                                      : 0;
    if (n->stopping) {
        fail(&k, 503, "unavailable", "the node is stopping");
        return;
    }
    /* allowed: which methods the path takes, for 405. */
    int allowed = 0;
#define ROUTE(path, meth, call)                                                                    \
    if (strcmp(p, path) == 0) {                                                                    \
        allowed |= meth;                                                                           \
        if (m == meth) {                                                                           \
            call;                                                                                  \
            return;                                                                                \
        }                                                                                          \
    }
#define WRITE(call)                                                                                \
    do {                                                                                           \
        if (authorized(&k, req)) call;                                                             \
    } while (0)
    ROUTE("/v1/status", R_GET, get_status(&k));
    ROUTE("/v1/members", R_GET, get_members(&k));
    ROUTE("/v1/peers", R_GET, reply_json(&k, 200, json_pack("{s:o}", "peers", net_peers_json(n))));
    ROUTE("/v1/lookup", R_GET, get_lookup(&k, req));
    ROUTE("/v1/lookup", R_POST, post_lookup(&k, req));
    ROUTE("/v1/match", R_POST, post_match(&k, req));
    ROUTE("/v1/match/media", R_POST, post_match_media(&k, req));
    ROUTE("/v1/signals", R_POST, WRITE(post_signals(&k, req)));
    ROUTE("/v1/alerts", R_POST, WRITE(post_simple(&k, req, PROTO_ALERT)));
    ROUTE("/v1/retractions", R_POST, WRITE(post_simple(&k, req, PROTO_RETRACTION)));
    ROUTE("/v1/feedback", R_POST, WRITE(post_simple(&k, req, PROTO_FEEDBACK)));
    ROUTE("/v1/incidents", R_GET, get_incidents(&k, req));
    ROUTE("/v1/incidents", R_POST, WRITE(post_simple(&k, req, PROTO_INCIDENT)));
    ROUTE("/v1/policy/explain", R_GET, get_explain(&k, req));
    ROUTE("/v1/records", R_GET, get_feed(&k, req));
    ROUTE("/v1/records", R_POST, WRITE(post_records(&k, req)));
    ROUTE("/v1/events", R_GET, get_events(&k, req));
    ROUTE("/v1/webhook", R_GET, reply_json(&k, 200, webhook_json(n)));
    ROUTE("/metrics", R_GET, get_metrics(&k));
#undef ROUTE
#undef WRITE
    if (strncmp(p, "/v1/incidents/", 14) == 0 && p[14]) {
        if (m == R_GET) {
            get_incident(&k, p + 14);
        } else {
            http_add_header(c, "Allow: GET, HEAD");
            fail(&k, 405, "method_not_allowed", "%s takes GET", p);
        }
        return;
    }
    if (strncmp(p, "/v1/records/", 12) == 0 && p[12]) {
        if (m == R_GET) {
            get_record(&k, p + 12);
        } else {
            http_add_header(c, "Allow: GET, HEAD");
            fail(&k, 405, "method_not_allowed", "%s takes GET", p);
        }
        return;
    }
    if (allowed) {
        http_add_header(c, allowed == (R_GET | R_POST) ? "Allow: GET, HEAD, POST"
                           : allowed == R_GET          ? "Allow: GET, HEAD"
                                                       : "Allow: POST");
        fail(&k, 405, "method_not_allowed", "%s does not take this method", p);
        return;
    }
    fail(&k, 404, "not_found", "no such endpoint: %.200s", p);
}
