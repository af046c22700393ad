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
#include "cli/interchange.h"
#include "util/gif.h"

#define IMPORT_BATCH_MAX 1000
#define IMPORT_LINE_MAX (2u * PROTO_RECORD_MAX + 64u * 1024)
#define IMPORT_BATCH_BYTES (8u * 1024 * 1024) /* well under the node's default max_body */

const char ctl_import_help[] =
    "Usage: gifctl import FILE [--format csv|jsonl|stix|misp|te-csv] [--batch N]\n"
    "\n"
    "Publish signals in bulk, or load records signed elsewhere, from FILE ('-' for standard\n"
    "input). Without --format: .jsonl/.ndjson is JSON Lines; a JSON document (.json, or any\n"
    "file starting with '{' or '[') is a STIX 2.1 bundle (\"type\": \"bundle\") or MISP JSON\n"
    "(\"Event\" or \"response\"), or JSON Lines when it holds several objects; anything else\n"
    "is CSV, python-threatexchange's when the header has a signal_str column.\n"
    "\n"
    "CSV needs a header line. Columns by name (any order, others ignored):\n"
    "  signal_type       md5, sha256, pdq, url or vpdq (also video_md5/photo_md5 -> md5,\n"
    "                    video_sha256 -> sha256, hash_pdq -> pdq, uri -> url); other types\n"
    "                    are rejected rows\n"
    "  signal            the value (python-threatexchange's 'signal_str' also works)\n"
    "  labels            ';'-separated labels from the taxonomy\n"
    "  tags              free-form tags: known labels become labels; gifnet:KEY=VALUE tags\n"
    "                    set incident, entity, content_type, confidence, expires\n"
    "  category          FALSE_POSITIVE or NEGATIVE_CLASS rows are skipped\n"
    "  entity, incident, content_type, confidence, expires, verified   optional\n"
    "\n"
    "JSON Lines: a line with a \"record\" field (hex of a signed record, as 'gifctl export'\n"
    "writes and members.jsonl holds) is ingested as is (POST /v1/records); any other line is\n"
    "a signal object as in POST /v1/signals.\n"
    "\n"
    "STIX: each indicator with a file MD5 or SHA-256 or url:value pattern, or gifnet's pdq,\n"
    "vpdq and url-sha256 patterns, becomes a signal; revoked ones are skipped. MISP: each\n"
    "md5, sha256, filename|md5, filename|sha256 and url attribute, and hex/text attributes\n"
    "tagged gifnet:signal-type; deleted ones and to_ids false are skipped. Signals from STIX,\n"
    "MISP and python-threatexchange CSV carry \"source\" (stix:ORG, misp:ORG/event UUID,\n"
    "te-csv:FILE) and are signed by this node. See docs/interchange.md.\n"
    "\n"
    "Rows go to the node in batches (POST /v1/signals, all-or-nothing). Each rejected row is\n"
    "reported on stderr as 'line N: reason (value)' ('object N' for STIX, 'attribute N' for\n"
    "MISP); the import goes on. A progress bar shows on a terminal; a summary ends it. Exit 0\n"
    "when every row was imported or skipped, 2 when some were rejected, 3 when the node could\n"
    "not be reached or refused (the summary says how far it got).\n"
    "\n"
    "Options:\n"
    "  --format F   csv, jsonl, stix, misp or te-csv\n"
    "  --batch N    rows per request, 1..1000 (default 1000)\n"
    "\n"
    "Example:\n"
    "  gifctl import hashes.csv\n"
    "  gifctl import bundle.json --format stix\n"
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
    enum ix_format fmt;   /* what is being read */
    struct ix_sink sink;  /* the readers of interchange.h hand their rows here */
    unsigned long line0;  /* lines consumed before the reader started */
    unsigned long rows, imported, duplicate, held, rejected, skipped, ignored;
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

static void report(struct imp *im, unsigned long item, const char *what, const char *why,
                   const char *value)
{
    progress_clear(im);
    const char *unit = im->sink.unit ? im->sink.unit : "line";
    if (value && value[0])
        fprintf(stderr, "%s %lu: %s%s (%.200s)\n", unit, item, what, why, value);
    else
        fprintf(stderr, "%s %lu: %s%s\n", unit, item, what, why);
}

/* A row that cannot be imported: reported, counted, and the import goes on (exit 2). */
static void reject(struct imp *im, unsigned long line, const char *why, const char *value)
{
    im->rejected++;
    report(im, line, "", why, value);
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

/* ---- What the interchange readers hand over (interchange.h). */

static void sink_signal(void *ctx, unsigned long item, json_t *sig, size_t bytes)
{
    struct imp *im = ctx;
    if (im->fatal) {
        json_decref(sig);
        return;
    }
    add(im, &im->sig, sig, item, bytes + 16);
}

static void sink_reject(void *ctx, unsigned long item, const char *why, const char *value)
{
    reject(ctx, item, why, value);
}

/* Left out on purpose (revoked, deleted, a false positive): reported, not an error. */
static void sink_skip(void *ctx, unsigned long item, const char *why, const char *value)
{
    struct imp *im = ctx;
    im->skipped++;
    report(im, item, "skipped: ", why, value);
}

/* ---- CSV (the row code is ix_csv.c) */

static int import_csv(struct imp *im, FILE *f, enum ix_format fmt, const char *file)
{
    char *line = NULL, *fields[IX_CSV_FIELDS_MAX];
    size_t cap = 0;
    long len;
    unsigned long lineno = im->line0;
    struct ix_csv csv;
    bool header = false;
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
            im->rows++;
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
        int nf = ix_csv_split(copy, fields, (int)GIF_ARRAY_LEN(fields));
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
            char err[200];
            int rc = ix_csv_header(&csv, fmt, file, fields, nf, err, sizeof err);
            free(copy);
            if (rc) {
                free(rec);
                free(line);
                ctl_err("%s: line %lu: %s", im->c->verb, at, err);
                return CTL_USAGE;
            }
            if (csv.te) im->fmt = IX_TECSV;
            header = true;
            continue;
        }
        im->rows++;
        ix_csv_row(&csv, at, fields, nf, bytes, &im->sink);
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
    unsigned long lineno = im->line0;
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

/* ---- STIX and MISP: one JSON document, read whole (at most IX_DOC_MAX bytes). */

static int read_all(FILE *f, char **out, size_t *outlen, const char *file)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) goto nomem;
    for (;;) {
        if (len == cap) {
            if (cap >= IX_DOC_MAX) {
                free(buf);
                ctl_err("%s: larger than %zu MiB, the most a STIX or MISP document may be", file,
                        IX_DOC_MAX >> 20);
                return CTL_USAGE;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) goto nomem;
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        ctl_err("%s: read failed", file);
        return CTL_USAGE;
    }
    *out = buf;
    *outlen = len;
    return 0;
nomem:
    free(buf);
    ctl_err("out of memory");
    return CTL_USAGE;
}

/* A whole document of fmt (IX_STIX, IX_MISP, or IX_NONE: decided from the content, where a
 * stream of JSON objects is JSON Lines). */
static int import_doc(struct imp *im, FILE *f, enum ix_format fmt, const char *file)
{
    char *buf;
    size_t len;
    int ec = read_all(f, &buf, &len, file);
    if (ec) return ec;
    json_error_t je;
    json_t *doc = json_loadb(buf, len, 0, &je);
    if (!doc && fmt == IX_NONE) {
        /* Several JSON values one after another: JSON Lines. */
        json_t *first = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &je);
        if (first) {
            json_decref(first);
            goto jsonl;
        }
    }
    if (!doc) {
        ctl_err("%s: not JSON: %s (line %d, column %d)", file, je.text, je.line, je.column);
        free(buf);
        return CTL_USAGE;
    }
    if (fmt == IX_NONE) {
        fmt = ix_detect_json(doc);
        if (fmt == IX_NONE && json_is_object(doc)) {
            json_decref(doc);
            goto jsonl; /* one line of JSON Lines */
        }
        if (fmt == IX_NONE) {
            ctl_err("%s: neither a STIX bundle nor MISP JSON (use --format)", file);
            json_decref(doc);
            free(buf);
            return CTL_USAGE;
        }
    }
    free(buf);
    im->fmt = fmt;
    im->sink.unit = fmt == IX_STIX ? "object" : "attribute";
    struct ix_read_stats st;
    char err[300];
    int rc = fmt == IX_STIX ? ix_stix_read(doc, &im->sink, &st, err, sizeof err)
                            : ix_misp_read(doc, &im->sink, &st, err, sizeof err);
    json_decref(doc);
    if (rc) {
        ctl_err("%s: %s", file, err);
        return CTL_USAGE;
    }
    im->rows = st.items;
    im->ignored = st.ignored;
    return 0;
jsonl:;
    FILE *mf = fmemopen(buf, len, "r");
    if (!mf) {
        free(buf);
        ctl_err("out of memory");
        return CTL_USAGE;
    }
    im->fmt = IX_JSONL;
    ec = import_jsonl(im, mf);
    fclose(mf);
    free(buf);
    return ec;
}

/* Skips a byte-order mark and white space, counting line breaks; returns the first other byte
 * (pushed back) or EOF. */
static int peek_start(FILE *f, unsigned long *lines)
{
    int c = getc(f);
    if (c == 0xEF) {
        int c2 = getc(f), c3 = getc(f);
        if (c2 != 0xBB || c3 != 0xBF) {
            /* Not a BOM: only one byte can be pushed back; CSV handles the rest. */
            if (c3 != EOF) ungetc(c3, f);
            return 0xEF;
        }
        c = getc(f);
    }
    while (c != EOF && isspace(c)) {
        if (c == '\n') (*lines)++;
        c = getc(f);
    }
    if (c != EOF) ungetc(c, f);
    return c;
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
    enum ix_format fmt = IX_NONE;
    if (format) {
        fmt = ix_format_parse(format);
        if (fmt == IX_NONE)
            return ctl_usage(c, "--format: '%s' is not one of csv, jsonl, stix, misp, te-csv",
                             format);
    }
    bool is_stdin = strcmp(file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(file, "r");
    if (!f) {
        ctl_err("%s: %s", file, strerror(errno));
        return CTL_USAGE;
    }
    struct imp im = {.c = c, .batch_max = batch, .f = f};
    im.sink = (struct ix_sink){.ctx = &im,
                               .unit = "line",
                               .signal = sink_signal,
                               .reject = sink_reject,
                               .skip = sink_skip};
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
    /* Without --format: JSON Lines and JSON documents by extension, else by the first byte
     * ('{' or '[': a STIX or MISP document, or JSON Lines; anything else: a CSV header). */
    bool doc = fmt == IX_STIX || fmt == IX_MISP;
    if (fmt == IX_NONE) {
        if (ends_with(file, ".jsonl") || ends_with(file, ".ndjson")) {
            fmt = IX_JSONL;
        } else if (ends_with(file, ".json")) {
            doc = true;
        } else {
            int first = peek_start(f, &im.line0);
            if (first == '{' || first == '[') doc = true;
        }
    }
    im.fmt = fmt == IX_NONE ? IX_CSV : fmt;
    if (doc)
        ec = import_doc(&im, f, fmt, file);
    else if (fmt == IX_JSONL)
        ec = import_jsonl(&im, f);
    else
        ec = import_csv(&im, f, fmt, file);
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
        json_t *s = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "file",
                              file, "format", ix_format_name(im.fmt), "read", (json_int_t)im.rows,
                              "imported", (json_int_t)im.imported, "duplicate",
                              (json_int_t)im.duplicate, "held", (json_int_t)im.held, "rejected",
                              (json_int_t)im.rejected, "skipped", (json_int_t)im.skipped,
                              "ignored", (json_int_t)im.ignored, "seconds", secs, "rows_per_s",
                              rate);
        ctl_print_json(s);
        json_decref(s);
    } else {
        printf("%s: read %lu %s%s, imported %lu", file, im.rows,
               im.sink.unit && strcmp(im.sink.unit, "line") ? im.sink.unit : "row",
               im.rows == 1 ? "" : "s", im.imported);
        if (im.duplicate) printf(", duplicate %lu", im.duplicate);
        if (im.held) printf(", held %lu (past a gap)", im.held);
        if (im.skipped) printf(", skipped %lu", im.skipped);
        printf(", rejected %lu in %.1f s (%.0f rows/s)", im.rejected, secs, rate);
        if (im.ignored) printf("; %lu other objects ignored", im.ignored);
        putchar('\n');
    }
    if (!ec) ec = im.fatal ? im.fatal : im.rejected ? CTL_USAGE : CTL_OK;
out:
    batch_free(&im.sig);
    batch_free(&im.rec);
    if (!is_stdin) fclose(f);
    return ec;
}
