/* gifctl report: walk the node's feed and write a transparency report (cli/report.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "cli/report.h"
#include "util/gif.h"

const char ctl_report_help[] =
    "Usage: gifctl report [--format text|json|svg] [--out FILE] [--since DATE] [--until DATE]\n"
    "\n"
    "A transparency report computed from the node's log, walking GET /v1/records 1,000 at a\n"
    "time. The feed holds every record the node accepted, from every origin, so the report is\n"
    "consortium-wide as seen by this node. It gives: signals by label, type, origin\n"
    "organisation and month; retractions with their reasons; incidents and their timelines\n"
    "(first alert, escalations, conclusion, time from the first alert to each step, the\n"
    "signals published under each); disputes (records that organisations marked disagree or\n"
    "false_positive, and whether they were retracted); and per-organisation counts.\n"
    "\n"
    "  text (default)  readable tables\n"
    "  json            one object (the shape is in docs/cli.md); also what --json selects\n"
    "  svg             a self-contained SVG chart of signals per day with incident markers\n"
    "\n"
    "Options:\n"
    "  --format F    text, json or svg\n"
    "  --out FILE    write to FILE (through FILE.part, renamed when complete)\n"
    "  --since DATE  only records whose time is on or after DATE (YYYY-MM-DD, UTC)\n"
    "  --until DATE  only records whose time is on or before DATE (the whole day, UTC)\n"
    "\n"
    "Example:\n"
    "  gifctl report --since 2026-01-01 --until 2026-12-31\n"
    "  gifctl report --format svg --out signals.svg\n"
    "  gifctl report --json | jq '.signals.by_org'\n";

static int parse_date(struct ctl_ctx *c, const char *opt, const char *s, int64_t *day)
{
    if (report_day_parse(s, day) != 0)
        return ctl_usage(c, "%s: '%s' is not a date (YYYY-MM-DD)", opt, s);
    return 0;
}

/* Feeds the report (ctl_feed_walk's fn). */
struct report_run {
    struct report *rep;
    unsigned long records;
};

static int report_record(void *ctx, const json_t *rec)
{
    struct report_run *x = ctx;
    report_add(x->rep, rec);
    x->records++;
    return CTL_OK;
}

int ctl_report(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_FORMAT = 1, O_OUT, O_SINCE, O_UNTIL };
    static const struct ctl_optdef defs[] = {{"format", true, O_FORMAT},
                                             {"out", true, O_OUT},
                                             {"since", true, O_SINCE},
                                             {"until", true, O_UNTIL},
                                             {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *out = NULL, *format = NULL;
    int64_t since = 0, until = 0;
    bool has_since = false, has_until = false;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_FORMAT:
            format = val;
            break;
        case O_OUT:
            out = val;
            break;
        case O_SINCE:
            if (parse_date(c, "--since", val, &since)) return CTL_USAGE;
            has_since = true;
            break;
        case O_UNTIL:
            if (parse_date(c, "--until", val, &until)) return CTL_USAGE;
            has_until = true;
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "report: unexpected argument '%s'", argv[0]);
    if (!format) format = c->json ? "json" : "text";
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "svg") != 0)
        return ctl_usage(c, "--format: '%s' is not one of text, json, svg", format);
    if (has_since && has_until && until < since) return ctl_usage(c, "--until is before --since");
    if (has_since && since < 0) return ctl_usage(c, "--since: dates start at 1970-01-01");

    struct report_opts o = {
        .since_ms = has_since ? (uint64_t)since * REPORT_DAY_MS : 0,
        .until_ms = has_until ? (uint64_t)(until + 1) * REPORT_DAY_MS : 0,
    };
    /* A --since of 1970-01-01 is no bound, and 0 means none: the same thing. */
    struct report *rep = report_new(&o);
    if (!rep) {
        ctl_err("out of memory");
        return CTL_UNREACHABLE;
    }
    json_t *j;
    int ec = ctl_api(c, "GET", "/v1/status", NULL, &j);
    if (ec) goto done;
    report_set_node(rep, j);
    json_decref(j);
    if ((ec = ctl_api(c, "GET", "/v1/members", NULL, &j))) goto done;
    report_set_members(rep, j);
    json_decref(j);
    struct report_run run = {.rep = rep};
    char after[CTL_CURSOR_MAX] = "0";
    if ((ec = ctl_feed_walk(c, after, report_record, &run))) goto done;
    report_set_cursor(rep, after);
    unsigned long records = run.records;

    json_t *doc = report_build(rep, gif_now_ms());
    if (!doc) {
        ctl_err("out of memory");
        ec = CTL_UNREACHABLE;
        goto done;
    }
    char tmp[4200];
    FILE *f = stdout;
    if (out && strcmp(out, "-") != 0) {
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", out) >= sizeof tmp) {
            json_decref(doc);
            ec = ctl_usage(c, "--out: '%s' is too long", out);
            goto done;
        }
        f = fopen(tmp, "w");
        if (!f) {
            ctl_err("--out: cannot create '%s': %s", tmp, strerror(errno));
            json_decref(doc);
            ec = CTL_USAGE;
            goto done;
        }
    } else {
        out = NULL;
    }
    int wr = format[0] == 't'   ? report_write_text(doc, f)
             : format[0] == 'j' ? report_write_json(doc, f)
                                : report_write_svg(doc, f);
    if (out) {
        bool ok = wr == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, out) != 0) ok = false;
        if (!ok) {
            ctl_err("--out: cannot write '%s': %s", out, strerror(errno));
            unlink(tmp);
            ec = CTL_USAGE;
        }
    } else if (wr != 0 || fflush(stdout) != 0) {
        ctl_err("writing to standard output failed");
        ec = CTL_USAGE;
    }
    if (ec == CTL_OK && out) {
        const json_t *sig = json_object_get(doc, "signals");
        json_int_t nsig = ctl_jint(sig, "total", 0);
        size_t ninc = json_array_size(json_object_get(doc, "incidents"));
        if (c->json && strcmp(format, "json") != 0) {
            json_t *s =
                json_pack("{s:s, s:s, s:I, s:I, s:I}", "out", out, "format", format, "records",
                          (json_int_t)records, "signals", nsig, "incidents", (json_int_t)ninc);
            ctl_print_json(s);
            json_decref(s);
        } else {
            fprintf(stderr, "report of %lu records (%lld signals, %zu incidents) written to %s\n",
                    records, (long long)nsig, ninc, out);
        }
    }
    json_decref(doc);
done:
    report_free(rep);
    return ec;
}
