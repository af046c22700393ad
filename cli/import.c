/*
 * gifctl import: publish hashes in bulk, or load signed records, from CSV or JSON Lines.
 *
 * The file is streamed line by line (memory is bounded by one batch), each row is checked
 * here first so that one bad row is reported with its line number instead of failing a whole
 * all-or-nothing batch, and a batch the node still refuses is retried row by row to find the
 * culprits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "util/gif.h"

#define IMPORT_BATCH_MAX 1000
#define IMPORT_LINE_MAX (2u * PROTO_RECORD_MAX + 64u * 1024)
#define IMPORT_BATCH_BYTES (8u * 1024 * 1024) /* well under the node's default max_body */

const char ctl_import_help[] =
    "Usage: gifctl import FILE [--format csv|jsonl] [--batch N]\n"
    "\n"
    "Publish signals in bulk, or load records signed elsewhere, from FILE ('-' for standard\n"
    "input). The format follows the extension (.jsonl/.ndjson: JSON Lines; otherwise CSV)\n"
    "unless --format says.\n"
    "\n"
    "CSV needs a header line. Columns by name (any order, others ignored):\n"
    "  signal_type       md5, sha256, pdq or url (also video_md5/photo_md5 -> md5,\n"
    "                    hash_pdq -> pdq, uri -> url); other types are rejected rows\n"
    "  signal            the value (python-threatexchange's 'signal_str' also works)\n"
    "  labels            ';'-separated labels from the taxonomy\n"
    "  tags              ThreatExchange tags: those that are known labels become labels\n"
    "  entity, incident, content_type, confidence, expires, verified   optional\n"
    "So both 'signal_type,signal,labels' and ThreatExchange's\n"
    "'signal_type,signal_str,collab,category,tags' exports load as they are.\n"
    "\n"
    "JSON Lines: a line with a \"record\" field (hex of a signed record, as 'gifctl export'\n"
    "writes and members.jsonl holds) is ingested as is (POST /v1/records); any other line is\n"
    "a signal object as in POST /v1/signals.\n"
    "\n"
    "Rows go to the node in batches (POST /v1/signals, all-or-nothing). Each rejected row is\n"
    "reported on stderr as 'line N: reason (value)'; the import goes on. A progress bar shows\n"
    "on a terminal; a summary ends it. Exit 0 when every row was imported, 2 when some were\n"
    "rejected, 3 when the node could not be reached or refused (the summary says how far it\n"
    "got).\n"
    "\n"
    "Options:\n"
    "  --format F   csv or jsonl\n"
    "  --batch N    rows per request, 1..1000 (default 1000)\n"
    "\n"
    "Example:\n"
    "  gifctl import hashes.csv\n"
    "  gifctl --api http://10.0.0.12:7480 import records.jsonl\n";

struct batch {
    json_t *items;        /* signal objects, or record hex strings */
    unsigned long *lines; /* the line of each item */
    size_t n, bytes;
};

struct imp {
    struct ctl_ctx *c;
    size_t batch_max;
    struct batch sig, rec;
    unsigned long rows, imported, duplicate, held, rejected;
    int fatal; /* exit code once the node failed: stop */
    /* progress */
    bool tty;
    off_t size;
    FILE *f;
    uint64_t start_ns, last_ns;
};

static int batch_init(struct batch *b, size_t max)
{
    b->items = json_array();
    b->lines = calloc(max, sizeof *b->lines);
    b->n = b->bytes = 0;
    return b->items && b->lines ? 0 : -ENOMEM;
}

static void batch_clear(struct batch *b)
{
    json_array_clear(b->items);
    b->n = b->bytes = 0;
}

static void batch_free(struct batch *b)
{
    json_decref(b->items);
    free(b->lines);
}

static void progress_clear(struct imp *im)
{
    if (im->tty && im->last_ns) fputs("\r\033[K", stderr);
}

static void reject(struct imp *im, unsigned long line, const char *why, const char *value)
{
    progress_clear(im);
    im->rejected++;
    if (value && value[0])
        fprintf(stderr, "line %lu: %s (%.200s)\n", line, why, value);
    else
        fprintf(stderr, "line %lu: %s\n", line, why);
}

static void progress(struct imp *im, bool force)
{
    if (!im->tty) return;
    uint64_t now = gif_mono_ns();
    if (!force && now - im->last_ns < 200000000u) return;
    im->last_ns = now;
    double secs = (double)(now - im->start_ns) / 1e9;
    double rate = secs > 0 ? (double)im->rows / secs : 0;
    if (im->size > 0) {
        off_t pos = ftello(im->f);
        double frac = pos > 0 ? (double)pos / (double)im->size : 0;
        if (frac > 1) frac = 1;
        int w = 30, fill = (int)(frac * w);
        fprintf(stderr, "\r[%.*s%*s] %3.0f%%  %lu rows  %.0f rows/s\033[K", fill,
                "##############################", w - fill, "", frac * 100, im->rows, rate);
    } else {
        fprintf(stderr, "\r%lu rows  %.0f rows/s\033[K", im->rows, rate);
    }
}

/* "invalid_field: ..." from an API error body. */
static void api_reason(char *out, size_t n, int status, const json_t *body)
{
    const json_t *e = json_object_get(body, "error");
    if (json_is_object(e))
        snprintf(out, n, "%s: %s", ctl_jstr(e, "code", "error"), ctl_jstr(e, "message", ""));
    else
        snprintf(out, n, "HTTP %d", status);
}

/* Sends one request; on a node-side failure (transport, 401, 5xx) sets im->fatal. Returns
 * the HTTP status (0 after a fatal failure) and *out. */
static int send_req(struct imp *im, const char *path, const json_t *body, json_t **out)
{
    char err[512];
    int status;
    *out = NULL;
    int rc = ctl_api_raw(im->c, "POST", path, body, &status, out, err, sizeof err);
    if (rc != 0) {
        progress_clear(im);
        im->fatal =
            rc == -EINVAL ? ctl_usage(im->c, "--api: %s", err) : ctl_api_unreachable(im->c, err);
        return 0;
    }
    if (status == 401 || status >= 500 || status < 200 || (status >= 300 && status < 400)) {
        progress_clear(im);
        im->fatal = ctl_api_fail(im->c, status, *out);
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    return status;
}

static const char *item_value(const json_t *item)
{
    const char *v = ctl_jstr(item, "value", NULL);
    return v ? v : "";
}

static void flush_signals(struct imp *im)
{
    struct batch *b = &im->sig;
    if (b->n == 0 || im->fatal) return;
    json_t *body = json_pack("{s:O}", "signals", b->items), *ans;
    int status = send_req(im, "/v1/signals", body, &ans);
    json_decref(body);
    if (status >= 200 && status < 300) {
        im->imported += b->n;
    } else if (status > 0) {
        /* The batch is all-or-nothing: find the bad rows one by one. */
        char why[600];
        if (b->n == 1) {
            api_reason(why, sizeof why, status, ans);
            reject(im, b->lines[0], why, item_value(json_array_get(b->items, 0)));
        } else {
            for (size_t i = 0; i < b->n && !im->fatal; i++) {
                json_t *one = json_array_get(b->items, i), *a1;
                int st = send_req(im, "/v1/signals", one, &a1);
                if (st >= 200 && st < 300) {
                    im->imported++;
                } else if (st > 0) {
                    api_reason(why, sizeof why, st, a1);
                    reject(im, b->lines[i], why, item_value(one));
                }
                json_decref(a1);
            }
        }
    }
    json_decref(ans);
    batch_clear(b);
}

/* Tallies a POST /v1/records answer; rows the node rejected are reported with their line. */
static void tally_records(struct imp *im, const json_t *ans, const unsigned long *lines, size_t n)
{
    size_t i;
    const json_t *res;
    const json_t *results = json_object_get(ans, "results");
    json_array_foreach(results, i, res)
    {
        if (i >= n) break;
        const char *st = ctl_jstr(res, "status", "");
        if (strcmp(st, "accepted") == 0) {
            im->imported++;
        } else if (strcmp(st, "duplicate") == 0) {
            im->duplicate++;
        } else if (strcmp(st, "held") == 0) {
            im->held++;
        } else {
            char why[300], sk[CTL_SHORT_ID + 1];
            snprintf(why, sizeof why, "record rejected: %s", ctl_jstr(res, "reason", st));
            reject(im, lines[i], why, ctl_short(sk, ctl_jstr(res, "id", NULL)));
        }
    }
}

static void flush_records(struct imp *im)
{
    struct batch *b = &im->rec;
    if (b->n == 0 || im->fatal) return;
    json_t *body = json_pack("{s:O}", "records", b->items), *ans;
    int status = send_req(im, "/v1/records", body, &ans);
    json_decref(body);
    if (status >= 200 && status < 300) {
        tally_records(im, ans, b->lines, b->n);
    } else if (status > 0) {
        char why[600];
        for (size_t i = 0; i < b->n && !im->fatal; i++) {
            json_t *one = json_pack("{s:[O]}", "records", json_array_get(b->items, i)), *a1;
            int st = send_req(im, "/v1/records", one, &a1);
            json_decref(one);
            if (st >= 200 && st < 300) {
                tally_records(im, a1, &b->lines[i], 1);
            } else if (st > 0) {
                api_reason(why, sizeof why, st, a1);
                reject(im, b->lines[i], why, NULL);
            }
            json_decref(a1);
        }
    }
    json_decref(ans);
    batch_clear(b);
}

static void add(struct imp *im, struct batch *b, json_t *item, unsigned long line, size_t bytes)
{
    if (b->n > 0 && (b->n == im->batch_max || b->bytes + bytes > IMPORT_BATCH_BYTES)) {
        if (b == &im->sig)
            flush_signals(im);
        else
            flush_records(im);
    }
    json_array_append_new(b->items, item);
    b->lines[b->n++] = line;
    b->bytes += bytes;
}

/* ---- CSV */

enum col {
    C_TYPE,
    C_VALUE,
    C_LABELS,
    C_TAGS,
    C_ENTITY,
    C_INCIDENT,
    C_CT,
    C_CONF,
    C_EXP,
    C_VER,
    C_COUNT
};

/* Splits one CSV record in place (RFC 4180 quoting). Returns the field count, or -1 when a
 * quoted field is still open at the end of the text. */
static int csv_split(char *s, char **fields, int max)
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

/* Signal type names from other tools' exports, mapped to ours. */
static int map_type(const char *s, uint8_t *st)
{
    static const struct {
        const char *from, *to;
    } map[] = {{"video_md5", "md5"}, {"photo_md5", "md5"}, {"hash_md5", "md5"},
               {"hash_pdq", "pdq"},  {"photo_pdq", "pdq"}, {"hash_sha256", "sha256"},
               {"uri", "url"},       {"url_md5", NULL}};
    char low[32];
    size_t n = strlen(s);
    if (n >= sizeof low) return -1;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    for (size_t i = 0; i < GIF_ARRAY_LEN(map); i++)
        if (strcmp(low, map[i].from) == 0) {
            if (!map[i].to) return -1;
            return proto_stype_parse(map[i].to, st);
        }
    if (proto_stype_parse(low, st) != 0 || *st == PROTO_ST_VPDQ) return -1;
    return 0;
}

static bool add_label(json_t *labels, const char *l, size_t n)
{
    if (!proto_label_known(l, n)) return false;
    size_t i;
    json_t *v;
    json_array_foreach(labels, i, v) if (json_string_length(v) == n &&
                                         memcmp(json_string_value(v), l, n) == 0) return true;
    if (json_array_size(labels) < PROTO_LABELS_MAX)
        json_array_append_new(labels, json_stringn(l, n));
    return true;
}

/* Builds the signal object of one CSV row, or reports the row. */
static void csv_row(struct imp *im, unsigned long line, char **f, int nf, const int *col,
                    size_t bytes)
{
    char *v[C_COUNT];
    for (int i = 0; i < C_COUNT; i++) {
        v[i] = col[i] >= 0 && col[i] < nf ? f[col[i]] : NULL;
        if (v[i]) trim(&v[i]);
    }
    uint8_t st;
    if (!v[C_TYPE] || !v[C_TYPE][0]) return reject(im, line, "no signal_type", NULL);
    if (map_type(v[C_TYPE], &st) != 0)
        return reject(im, line, "unsupported signal_type", v[C_TYPE]);
    const char *value = v[C_VALUE] ? v[C_VALUE] : "";
    const char *why = ctl_value_problem(st, value);
    if (why) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s value %s", proto_stype_name(st), why);
        return reject(im, line, msg, value);
    }
    json_t *o = json_pack("{s:s, s:s}", "type", proto_stype_name(st), "value", value);
    json_t *labels = json_array();
    if (v[C_LABELS]) {
        for (char *tok = v[C_LABELS]; *tok;) {
            size_t n = strcspn(tok, ";");
            char *t = tok;
            char save = t[n];
            t[n] = '\0';
            trim(&t);
            if (*t && !add_label(labels, t, strlen(t))) {
                char msg[128];
                snprintf(msg, sizeof msg, "unknown label '%.60s'", t);
                json_decref(o);
                json_decref(labels);
                return reject(im, line, msg, value);
            }
            if (save == '\0') break;
            tok += n + 1;
        }
    }
    if (v[C_TAGS]) {
        /* ThreatExchange tags are free-form: keep the ones that name a label. */
        for (char *tok = strtok(v[C_TAGS], " ,;|"); tok; tok = strtok(NULL, " ,;|")) {
            for (char *q = tok; *q; q++)
                *q = *q == '-' ? '_' : (char)tolower((unsigned char)*q);
            add_label(labels, tok, strlen(tok));
        }
    }
    if (json_array_size(labels)) json_object_set(o, "labels", labels);
    json_decref(labels);
    const char *bad = NULL, *badv = NULL;
    if (v[C_ENTITY] && v[C_ENTITY][0]) {
        if (strlen(v[C_ENTITY]) > PROTO_NAME_MAX) bad = "entity too long", badv = v[C_ENTITY];
        json_object_set_new(o, "entity", json_string(v[C_ENTITY]));
    }
    if (v[C_INCIDENT] && v[C_INCIDENT][0]) {
        if (strlen(v[C_INCIDENT]) > PROTO_INCIDENT_MAX)
            bad = "incident too long", badv = v[C_INCIDENT];
        json_object_set_new(o, "incident", json_string(v[C_INCIDENT]));
    }
    uint8_t ct;
    if (v[C_CT] && v[C_CT][0]) {
        if (proto_content_parse(v[C_CT], &ct) != 0) bad = "unknown content_type", badv = v[C_CT];
        json_object_set_new(o, "content_type", json_string(v[C_CT]));
    }
    if (v[C_CONF] && v[C_CONF][0]) {
        char *end;
        long cf = strtol(v[C_CONF], &end, 10);
        if (*end || cf < 0 || cf > 100) bad = "confidence is not 0..100", badv = v[C_CONF];
        json_object_set_new(o, "confidence", json_integer(cf));
    }
    if (v[C_EXP] && v[C_EXP][0]) {
        uint64_t ms;
        if (gif_time_parse(v[C_EXP], &ms) != 0)
            bad = "expires is not a time", badv = v[C_EXP];
        else
            json_object_set_new(o, "expires", json_integer((json_int_t)ms));
    }
    if (v[C_VER] && v[C_VER][0]) {
        const char *s = v[C_VER];
        bool t = !strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes");
        bool fl = !strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no");
        if (!t && !fl) bad = "verified is not true/false", badv = s;
        if (t) json_object_set_new(o, "verified", json_true());
    }
    if (bad) {
        json_decref(o);
        return reject(im, line, bad, badv);
    }
    add(im, &im->sig, o, line, bytes + 64);
}

static int import_csv(struct imp *im, FILE *f)
{
    char *line = NULL, *fields[64];
    size_t cap = 0;
    long len;
    unsigned long lineno = 0;
    int col[C_COUNT];
    for (int i = 0; i < C_COUNT; i++)
        col[i] = -1;
    bool header = false;
    static const struct {
        const char *name;
        enum col c;
    } names[] = {{"signal_type", C_TYPE}, {"type", C_TYPE},       {"signal", C_VALUE},
                 {"signal_str", C_VALUE}, {"value", C_VALUE},     {"labels", C_LABELS},
                 {"tags", C_TAGS},        {"entity", C_ENTITY},   {"incident", C_INCIDENT},
                 {"content_type", C_CT},  {"confidence", C_CONF}, {"expires", C_EXP},
                 {"verified", C_VER}};
    char *rec = NULL;
    size_t reclen = 0;
    unsigned long recline = 0;
    while (!im->fatal && (len = ctl_readline(f, &line, &cap, IMPORT_LINE_MAX)) != -1) {
        lineno++;
        if (len == -2) {
            im->rows++;
            reject(im, lineno, "line too long", NULL);
            continue;
        }
        /* A quoted field may span lines: gather them (bounded) before splitting. */
        size_t need = reclen + (size_t)len + 2;
        if (need > IMPORT_LINE_MAX) {
            reject(im, recline ? recline : lineno, "record too long (unclosed quote?)", NULL);
            reclen = 0;
            recline = 0;
            continue;
        }
        char *nr = realloc(rec, need);
        if (!nr) return CTL_USAGE;
        rec = nr;
        if (reclen)
            rec[reclen++] = '\n';
        else
            recline = lineno;
        memcpy(rec + reclen, line, (size_t)len + 1);
        reclen += (size_t)len;
        char *copy = strdup(rec);
        if (!copy) return CTL_USAGE;
        int nf = csv_split(copy, fields, (int)GIF_ARRAY_LEN(fields));
        if (nf < 0) { /* still inside quotes */
            free(copy);
            continue;
        }
        unsigned long at = recline;
        size_t bytes = reclen;
        reclen = 0;
        recline = 0;
        if (nf > (int)GIF_ARRAY_LEN(fields)) nf = (int)GIF_ARRAY_LEN(fields);
        if (nf == 1 && fields[0][0] == '\0') {
            free(copy);
            continue; /* blank line */
        }
        if (!header) {
            for (int i = 0; i < nf; i++) {
                char *h = fields[i];
                trim(&h);
                for (char *q = h; *q; q++)
                    *q = (char)tolower((unsigned char)*q);
                if (i == 0 && (unsigned char)h[0] == 0xEF) h += 3; /* UTF-8 BOM */
                for (size_t k = 0; k < GIF_ARRAY_LEN(names); k++)
                    if (strcmp(h, names[k].name) == 0 && col[names[k].c] < 0) col[names[k].c] = i;
            }
            free(copy);
            if (col[C_TYPE] < 0 || col[C_VALUE] < 0) {
                free(rec);
                free(line);
                ctl_err("%s: line %lu: the CSV header needs signal_type and signal (or "
                        "signal_str) columns",
                        im->c->verb, at);
                return CTL_USAGE;
            }
            header = true;
            continue;
        }
        im->rows++;
        csv_row(im, at, fields, nf, col, bytes);
        free(copy);
        progress(im, false);
    }
    if (reclen && !im->fatal) {
        im->rows++;
        reject(im, recline, "unclosed quote at end of file", NULL);
    }
    free(rec);
    free(line);
    if (!header && !im->fatal) {
        ctl_err("%s: the file is empty (a CSV import needs a header line)", im->c->verb);
        return CTL_USAGE;
    }
    return 0;
}

/* ---- JSON Lines */

static void jsonl_row(struct imp *im, unsigned long lineno, const char *line, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return reject(im, lineno, "not a JSON object", NULL);
    }
    const json_t *rec = json_object_get(j, "record");
    if (rec) {
        uint8_t *b;
        size_t bl;
        const char *why = ctl_line_record(line, &b, &bl);
        struct proto_record r;
        int rc = why ? 0 : proto_decode(&r, b, bl);
        if (rc) why = gif_strerror(rc);
        free(b);
        if (why) {
            char msg[160];
            snprintf(msg, sizeof msg, "record %s", why);
            json_decref(j);
            return reject(im, lineno, msg, NULL);
        }
        add(im, &im->rec, json_incref((json_t *)rec), lineno, json_string_length(rec) + 4);
        json_decref(j);
        return;
    }
    uint8_t st;
    const char *type = ctl_jstr(j, "type", NULL);
    if (!type) {
        json_decref(j);
        return reject(im, lineno, "neither a \"record\" nor a signal with a \"type\"", NULL);
    }
    if (proto_stype_parse(type, &st) != 0) {
        json_decref(j);
        return reject(im, lineno, "unknown signal type", type);
    }
    const char *value = ctl_jstr(j, "value", NULL);
    const char *why =
        value ? (st == PROTO_ST_VPDQ ? "vpdq value must be an array of frames"
                                     : ctl_value_problem(st, value))
              : (st == PROTO_ST_VPDQ && json_is_array(json_object_get(j, "value")) ? NULL
                                                                                   : "no value");
    if (why) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s value: %s", type, why);
        reject(im, lineno, msg, value);
        json_decref(j);
        return;
    }
    add(im, &im->sig, j, lineno, len);
}

static int import_jsonl(struct imp *im, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    long len;
    unsigned long lineno = 0;
    while (!im->fatal && (len = ctl_readline(f, &line, &cap, IMPORT_LINE_MAX)) != -1) {
        lineno++;
        if (len == -2) {
            im->rows++;
            reject(im, lineno, "line too long", NULL);
            continue;
        }
        if (strspn(line, " \t") == (size_t)len) continue;
        im->rows++;
        jsonl_row(im, lineno, line, (size_t)len);
        progress(im, false);
    }
    free(line);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int ctl_import(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_FORMAT = 1, O_BATCH };
    static const struct ctl_optdef defs[] = {
        {"format", true, O_FORMAT}, {"batch", true, O_BATCH}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *format = NULL;
    uint64_t batch = IMPORT_BATCH_MAX;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_FORMAT) format = val;
        if (r == O_BATCH) {
            if (ctl_parse_uint("--batch", val, IMPORT_BATCH_MAX, &batch)) return CTL_USAGE;
            if (batch == 0) return ctl_usage(c, "--batch: '%s' is not from 1 to 1000", val);
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos != 1) return ctl_usage(c, "import: give one FILE ('-' for standard input)");
    const char *file = argv[0];
    bool jsonl;
    if (format) {
        jsonl = strcmp(format, "jsonl") == 0;
        if (!jsonl && strcmp(format, "csv") != 0)
            return ctl_usage(c, "--format: '%s' is not one of csv, jsonl", format);
    } else {
        jsonl = ends_with(file, ".jsonl") || ends_with(file, ".ndjson");
    }
    bool is_stdin = strcmp(file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(file, "r");
    if (!f) {
        ctl_err("%s: %s", file, strerror(errno));
        return CTL_USAGE;
    }
    struct imp im = {.c = c, .batch_max = batch, .f = f};
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) im.size = sb.st_size;
    im.tty = isatty(STDERR_FILENO) && !c->json;
    im.start_ns = gif_mono_ns();
    int ec = CTL_OK;
    if (batch_init(&im.sig, batch) || batch_init(&im.rec, batch)) {
        ctl_err("out of memory");
        ec = CTL_USAGE;
        goto out;
    }
    ec = jsonl ? import_jsonl(&im, f) : import_csv(&im, f);
    if (!ec) {
        flush_signals(&im);
        flush_records(&im);
    }
    if (ferror(f)) {
        ctl_err("%s: read failed", file);
        ec = CTL_USAGE;
    }
    progress(&im, true);
    progress_clear(&im);
    double secs = (double)(gif_mono_ns() - im.start_ns) / 1e9;
    double rate = secs > 0 ? (double)im.rows / secs : 0;
    if (c->json) {
        json_t *s = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "file", file,
                              "format", jsonl ? "jsonl" : "csv", "read", (json_int_t)im.rows,
                              "imported", (json_int_t)im.imported, "duplicate",
                              (json_int_t)im.duplicate, "held", (json_int_t)im.held, "rejected",
                              (json_int_t)im.rejected, "seconds", secs, "rows_per_s", rate);
        ctl_print_json(s);
        json_decref(s);
    } else {
        printf("%s: read %lu rows, imported %lu", file, im.rows, im.imported);
        if (im.duplicate) printf(", duplicate %lu", im.duplicate);
        if (im.held) printf(", held %lu (past a gap)", im.held);
        printf(", rejected %lu in %.1f s (%.0f rows/s)\n", im.rejected, secs, rate);
    }
    if (!ec) ec = im.fatal ? im.fatal : im.rejected ? CTL_USAGE : CTL_OK;
out:
    batch_free(&im.sig);
    batch_free(&im.rec);
    if (!is_stdin) fclose(f);
    return ec;
}
