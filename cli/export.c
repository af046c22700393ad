/* gifctl export: walk the node's resumable feed and write it out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"

#define EXPORT_PAGE 1000

const char ctl_export_help[] =
    "Usage: gifctl export [--format jsonl|csv] [--out FILE] [--after CURSOR]\n"
    "\n"
    "Write the node's records in its acceptance order, walking GET /v1/records 1,000 at a\n"
    "time until the end of the feed.\n"
    "  jsonl (default)  one record object per line, as the API gives it; its \"record\" field\n"
    "                   is the hex of the signed bytes, so 'gifctl verify' can check the file\n"
    "                   offline and 'gifctl import' can load it into another node\n"
    "  csv              signals only: signal_type,signal,labels,origin_org,time,id (labels\n"
    "                   ';'-separated; vpdq signals are left out: use jsonl for them)\n"
    "With --out the file is written under a temporary name and renamed when complete. The\n"
    "summary (on stderr) gives the cursor to pass as --after for the next incremental export.\n"
    "\n"
    "Options:\n"
    "  --format F      jsonl or csv\n"
    "  --out FILE      write to FILE instead of standard output\n"
    "  --after CURSOR  start after this feed cursor (default: the beginning)\n"
    "\n"
    "Example:\n"
    "  gifctl export --out records.jsonl\n"
    "  gifctl export --format csv --out signals.csv\n";

/* Writes s as one CSV field, quoted when it holds a separator, quote or line break. */
static void csv_field(FILE *f, const char *s, bool last)
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
    char after[64] = "0";
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
    bool csv = strcmp(format, "csv") == 0;
    if (!csv && strcmp(format, "jsonl") != 0)
        return ctl_usage(c, "--format: '%s' is not one of jsonl, csv", format);

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

    unsigned long records = 0, written = 0, skipped = 0;
    int ec = CTL_OK;
    for (;;) {
        char path[128];
        snprintf(path, sizeof path, "/v1/records?after=%s&limit=%d", after, EXPORT_PAGE);
        json_t *j;
        if ((ec = ctl_api(c, "GET", path, NULL, &j))) break;
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(j, "records"), i, rec)
        {
            records++;
            if (!csv) {
                json_dumpf(rec, f, JSON_COMPACT);
                fputc('\n', f);
                written++;
                continue;
            }
            if (strcmp(ctl_jstr(rec, "kind", ""), "signal") != 0) continue;
            const json_t *body = json_object_get(rec, "body");
            const char *value = ctl_jstr(body, "value", NULL);
            if (!value) { /* vpdq: a frame list has no CSV form */
                skipped++;
                continue;
            }
            char labels[1024];
            ctl_jjoin(labels, sizeof labels, json_object_get(body, "labels"), ";");
            csv_field(f, ctl_jstr(body, "type", ""), false);
            csv_field(f, value, false);
            csv_field(f, labels, false);
            csv_field(f, ctl_jstr(rec, "org", ""), false);
            csv_field(f, ctl_jstr(rec, "time", ""), false);
            csv_field(f, ctl_jstr(rec, "id", ""), true);
            written++;
        }
        const char *next = ctl_jstr(j, "next", NULL);
        bool more = json_is_true(json_object_get(j, "more"));
        if (next && strlen(next) < sizeof after && strspn(next, "0123456789") == strlen(next))
            snprintf(after, sizeof after, "%s", next);
        else
            more = false;
        json_decref(j);
        if (ferror(f)) {
            ctl_err("writing %s failed", out ? tmp : "standard output");
            ec = CTL_USAGE;
            break;
        }
        if (!more) break;
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
                              "skipped_vpdq", (json_int_t)skipped, "next", after);
        ctl_print_json(s);
        json_decref(s);
    } else {
        fprintf(stderr, "exported %lu %s from %lu records%s%s; next cursor %s\n", written,
                csv ? "signals" : "records", records, out ? " to " : "", out ? out : "", after);
        if (skipped)
            fprintf(stderr, "left out %lu vpdq signals (CSV has no form for frame lists)\n",
                    skipped);
    }
    return CTL_OK;
}
