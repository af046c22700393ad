/* gifctl export: walk the node's resumable feed and write it out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "cli/interchange.h"

const char ctl_export_help[] =
    "Usage: gifctl export [--format jsonl|csv|stix|misp|te-csv] [--out FILE] [--after CURSOR]\n"
    "\n"
    "Write the node's records in its acceptance order, walking GET /v1/records 1,000 at a\n"
    "time until the end of the feed.\n"
    "  jsonl (default)  one record object per line, as the API gives it; its \"record\" field\n"
    "                   is the hex of the signed bytes, so 'gifctl verify' can check the file\n"
    "                   offline and 'gifctl import' can load it into another node\n"
    "  csv              signals only: signal_type,signal,labels,origin_org,time,id (labels\n"
    "                   ';'-separated; vpdq signals are left out: use jsonl for them)\n"
    "  stix             signals, alerts and incident records as a STIX 2.1 bundle: an\n"
    "                   indicator per signal (file-hash patterns for md5 and sha256; pdq, vpdq\n"
    "                   and url hashes through gifnet's STIX extension), an incident object\n"
    "                   per incident, an alert as a sighting of it (and an indicator per hash\n"
    "                   carried), an incident record as a note on it, identities for the\n"
    "                   origin organisations\n"
    "  misp             signals, alerts and incident records as MISP JSON events, one per\n"
    "                   origin organisation and incident (threat level from its tier)\n"
    "  te-csv           signals as python-threatexchange CSV (collab,signal_type,signal_str,\n"
    "                   category,tags); url signals are left out (only their hash is known)\n"
    "The same records always give the same bytes (ids derive from record ids); retracted\n"
    "signals are marked revoked (STIX), deleted (MISP), NEGATIVE_CLASS (te-csv). See\n"
    "docs/interchange.md.\n"
    "With --out the file is written under a temporary name and renamed when complete. The\n"
    "summary (on stderr) gives the cursor to pass as --after for the next incremental export.\n"
    "\n"
    "Options:\n"
    "  --format F      jsonl, csv, stix, misp or te-csv\n"
    "  --out FILE      write to FILE instead of standard output\n"
    "  --after CURSOR  start after this feed cursor (default: the beginning)\n"
    "\n"
    "Example:\n"
    "  gifctl export --out records.jsonl\n"
    "  gifctl export --format csv --out signals.csv\n"
    "  gifctl export --format stix --out bundle.json\n";

int ctl_feed_walk(struct ctl_ctx *c, char after[static CTL_CURSOR_MAX], ctl_feed_fn fn, void *ctx)
{
    for (;;) {
        char path[128];
        snprintf(path, sizeof path, "/v1/records?after=%s&limit=%d", after, CTL_FEED_PAGE);
        json_t *j;
        int ec = ctl_api(c, "GET", path, NULL, &j);
        if (ec) return ec;
        const json_t *recs = json_object_get(j, "records");
        if (!json_is_array(recs)) {
            json_decref(j);
            ctl_err("the node's answer to GET /v1/records has no \"records\" list");
            return CTL_UNREACHABLE;
        }
        size_t i;
        const json_t *rec;
        json_array_foreach(recs, i, rec)
        {
            if ((ec = fn(ctx, rec)) != CTL_OK) break;
        }
        const char *next = ctl_jstr(j, "next", NULL);
        bool more = json_is_true(json_object_get(j, "more")) && json_array_size(recs) > 0;
        if (next && strlen(next) < CTL_CURSOR_MAX && strspn(next, "0123456789") == strlen(next))
            snprintf(after, CTL_CURSOR_MAX, "%s", next);
        else
            more = false;
        json_decref(j);
        if (ec) return ec;
        if (!more) return CTL_OK;
    }
}

/* What one export writes, record by record (ctl_feed_walk's fn). */
struct export_run {
    FILE *f;
    const char *name; /* of the file written, for messages */
    bool csv;
    struct ix_writer *w;
    unsigned long records, written, skipped;
};

static int export_record(void *ctx, const json_t *rec)
{
    struct export_run *x = ctx;
    x->records++;
    if (x->w) {
        if (ix_writer_add(x->w, rec) != 0) {
            ctl_err("out of memory");
            return CTL_USAGE;
        }
    } else if (!x->csv) {
        json_dumpf(rec, x->f, JSON_COMPACT);
        fputc('\n', x->f);
        x->written++;
    } else if (strcmp(ctl_jstr(rec, "kind", ""), "signal") == 0) {
        const json_t *body = json_object_get(rec, "body");
        const char *value = ctl_jstr(body, "value", NULL);
        if (!value) { /* vpdq: a frame list has no CSV form */
            x->skipped++;
            return CTL_OK;
        }
        char labels[1024];
        ctl_jjoin(labels, sizeof labels, json_object_get(body, "labels"), ";");
        ix_csv_field(x->f, ctl_jstr(body, "type", ""), false);
        ix_csv_field(x->f, value, false);
        ix_csv_field(x->f, labels, false);
        ix_csv_field(x->f, ctl_jstr(rec, "org", ""), false);
        ix_csv_field(x->f, ctl_jstr(rec, "time", ""), false);
        ix_csv_field(x->f, ctl_jstr(rec, "id", ""), true);
        x->written++;
    }
    if (ferror(x->f)) {
        ctl_err("writing %s failed", x->name);
        return CTL_USAGE;
    }
    return CTL_OK;
}

int ctl_export(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_FORMAT = 1, O_OUT, O_AFTER };
    static const struct ctl_optdef defs[] = {{"format", true, O_FORMAT},
                                             {"out", true, O_OUT},
                                             {"after", true, O_AFTER},
                                             {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *out = NULL, *format = "jsonl";
    char after[CTL_CURSOR_MAX] = "0";
    uint64_t n;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_FORMAT:
            format = val;
            break;
        case O_OUT:
            out = val;
            break;
        case O_AFTER:
            if (ctl_parse_uint("--after", val, UINT64_MAX, &n)) return CTL_USAGE;
            snprintf(after, sizeof after, "%s", val);
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "export: unexpected argument '%s'", argv[0]);
    enum ix_format fmt = ix_format_parse(format);
    if (fmt == IX_NONE)
        return ctl_usage(c, "--format: '%s' is not one of jsonl, csv, stix, misp, te-csv", format);
    bool csv = fmt == IX_CSV;
    json_t *members = NULL;
    if (fmt == IX_STIX) { /* organisations and roles for the identity objects */
        int rc = ctl_api(c, "GET", "/v1/members", NULL, &members);
        if (rc) return rc;
    }

    char tmp[4200];
    FILE *f = stdout;
    if (out && strcmp(out, "-") != 0) {
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", out) >= sizeof tmp)
            return ctl_usage(c, "--out: '%s' is too long", out);
        f = fopen(tmp, "w");
        if (!f) {
            ctl_err("--out: cannot create '%s': %s", tmp, strerror(errno));
            return CTL_USAGE;
        }
    } else {
        out = NULL;
    }
    if (csv) fputs("signal_type,signal,labels,origin_org,time,id\n", f);
    struct ix_writer *w = NULL;
    if (fmt == IX_STIX || fmt == IX_MISP || fmt == IX_TECSV) {
        w = ix_writer_new(fmt, f, members);
        json_decref(members);
        if (!w) {
            ctl_err("out of memory");
            if (out) {
                fclose(f);
                unlink(tmp);
            }
            return CTL_USAGE;
        }
    }

    struct export_run x = {.f = f, .name = out ? tmp : "standard output", .csv = csv, .w = w};
    int ec = ctl_feed_walk(c, after, export_record, &x);
    unsigned long records = x.records, written = x.written, skipped = x.skipped;
    unsigned long alerts = 0, incidents = 0;
    if (w) {
        struct ix_write_stats ws;
        if (ec == CTL_OK && ix_writer_finish(w, &ws) != 0) {
            ctl_err("writing %s failed", out ? tmp : "standard output");
            ec = CTL_USAGE;
        }
        ix_writer_free(w);
        if (ec == CTL_OK) {
            written = ws.written;
            skipped = ws.skipped;
            alerts = ws.alerts;
            incidents = ws.incidents;
        }
    }
    if (out) {
        bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
        if (ec == CTL_OK && ok && rename(tmp, out) != 0) ok = false;
        if (ec == CTL_OK && !ok) {
            ctl_err("--out: cannot write '%s': %s", out, strerror(errno));
            ec = CTL_USAGE;
        }
        if (ec != CTL_OK) unlink(tmp);
    } else {
        fflush(stdout);
    }
    if (ec != CTL_OK) return ec;
    if (c->json && out) {
        json_t *s = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "out", out, "format", format,
                              "records", (json_int_t)records, "written", (json_int_t)written,
                              csv ? "skipped_vpdq" : "skipped", (json_int_t)skipped, "next", after);
        if (s && (fmt == IX_STIX || fmt == IX_MISP)) {
            json_object_set_new(s, "alerts", json_integer((json_int_t)alerts));
            json_object_set_new(s, "incident_records", json_integer((json_int_t)incidents));
        }
        ctl_print_json(s);
        json_decref(s);
    } else {
        char more[96] = "";
        if (fmt == IX_STIX || fmt == IX_MISP)
            snprintf(more, sizeof more, ", %lu alert%s, %lu incident record%s", alerts,
                     alerts == 1 ? "" : "s", incidents, incidents == 1 ? "" : "s");
        fprintf(stderr, "exported %lu %s%s from %lu records%s%s; next cursor %s\n", written,
                fmt == IX_JSONL ? "records" : "signals", more, records, out ? " to " : "",
                out ? out : "", after);
        if (skipped && csv)
            fprintf(stderr, "left out %lu vpdq signals (CSV has no form for frame lists)\n",
                    skipped);
        else if (skipped)
            fprintf(stderr, "left out %lu url signals (te-csv has no form for URL hashes)\n",
                    skipped);
    }
    return CTL_OK;
}
