/*
 * The report's SVG chart: signals per day (UTC) as bars, with a vertical marker at each
 * incident's start (its first alert, else its first record), at each escalation and at each
 * conclusion. Self-contained: no scripts, no external fonts or stylesheets (the generic
 * "sans-serif" family), every number finite, every text escaped.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report.h"
#include "util/gif.h"

#define W 1000.0
#define H 460.0
#define ML 64.0  /* left margin: y labels */
#define MR 24.0  /* right margin */
#define MT 110.0 /* top margin: title and incident labels */
#define MB 78.0  /* bottom margin: x labels and legend */
#define LABEL_ROWS 4
#define MIN_DAYS 7

static const char *jstr(const json_t *o, const char *k, const char *dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* A number as SVG wants it: finite, two decimals at most. */
static void num(FILE *f, double v)
{
    if (!isfinite(v)) v = 0;
    fprintf(f, "%.2f", v);
}

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            /* Control characters are not allowed in XML 1.0 text. */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

/* A time string of the report in ms, or 0. */
static uint64_t tms(const json_t *o, const char *k)
{
    uint64_t ms;
    const char *s = jstr(o, k, NULL);
    return s && gif_time_parse(s, &ms) == 0 ? ms : 0;
}

struct chart {
    int64_t d0, d1; /* first and last day shown, inclusive */
    double bw;      /* width of one day */
    double ymax;
};

static double xof(const struct chart *c, uint64_t ms)
{
    double days = (double)ms / (double)REPORT_DAY_MS - (double)c->d0;
    return ML + days * c->bw;
}

static void widen(int64_t *lo, int64_t *hi, bool *any, uint64_t ms)
{
    if (!ms) return;
    int64_t d = report_day(ms);
    if (!*any || d < *lo) *lo = d;
    if (!*any || d > *hi) *hi = d;
    *any = true;
}

/* The step between y ticks: 1, 2 or 5 times a power of ten, giving at most 5 intervals. */
static double tick_step(double maxv)
{
    double step = 1;
    while (maxv / step > 5) {
        if (maxv / (step * 2) <= 5) return step * 2;
        if (maxv / (step * 5) <= 5) return step * 5;
        step *= 10;
    }
    return step;
}

static void marker(FILE *f, const struct chart *c, const char *cls, const char *color,
                   const char *dash, uint64_t ms, int row, const char *label, const char *tip)
{
    double x = xof(c, ms);
    if (x < ML - 0.5 || x > W - MR + 0.5) return; /* outside the period shown */
    fprintf(f, "<g class=\"%s\"><title>", cls);
    esc(f, tip);
    fputs("</title><line x1=\"", f);
    num(f, x);
    fputs("\" x2=\"", f);
    num(f, x);
    fprintf(f, "\" y1=\"");
    num(f, MT - 6 - row * 14.0);
    fputs("\" y2=\"", f);
    num(f, H - MB);
    fprintf(f, "\" stroke=\"%s\" stroke-width=\"1.5\"%s%s%s/>", color,
            dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    /* Near the right edge the label goes to the left of its line. */
    bool left = x > W - MR - 6.0 * (double)strlen(label);
    fputs("<text x=\"", f);
    num(f, left ? x - 3 : x + 3);
    fputs("\" y=\"", f);
    num(f, MT - 9 - row * 14.0);
    fprintf(f, "\" font-size=\"10\" fill=\"%s\"%s>", color, left ? " text-anchor=\"end\"" : "");
    esc(f, label);
    fputs("</text></g>\n", f);
}

int report_write_svg(const json_t *rep, FILE *f)
{
    const json_t *signals = json_object_get(rep, "signals");
    const json_t *by_day = json_object_get(signals, "by_day");
    const json_t *incs = json_object_get(rep, "incidents");
    const json_t *period = json_object_get(rep, "period");

    /* The days shown: the period asked for, else what the report holds. */
    struct chart c = {0};
    bool any = false;
    const char *k;
    json_t *v;
    double maxv = 0;
    json_object_foreach((json_t *)by_day, k, v)
    {
        int64_t d;
        if (report_day_parse(k, &d) != 0) continue;
        if (!any || d < c.d0) c.d0 = d;
        if (!any || d > c.d1) c.d1 = d;
        any = true;
        if ((double)json_integer_value(v) > maxv) maxv = (double)json_integer_value(v);
    }
    size_t i, j;
    const json_t *inc, *e;
    json_array_foreach(incs, i, inc)
    {
        widen(&c.d0, &c.d1, &any, tms(json_object_get(inc, "first_alert"), "time"));
        widen(&c.d0, &c.d1, &any, tms(inc, "start"));
        json_array_foreach(json_object_get(inc, "escalations"), j, e)
            widen(&c.d0, &c.d1, &any, tms(e, "time"));
        widen(&c.d0, &c.d1, &any, tms(json_object_get(inc, "concluded"), "time"));
    }
    int64_t d;
    if (jstr(period, "since", NULL) && report_day_parse(jstr(period, "since", ""), &d) == 0) {
        c.d0 = d;
        if (!any) c.d1 = d;
        any = true;
    }
    if (jstr(period, "until", NULL) && report_day_parse(jstr(period, "until", ""), &d) == 0) {
        c.d1 = d;
        if (!any) c.d0 = d;
        any = true;
    }
    if (!any) c.d0 = c.d1 = report_day(tms(rep, "generated"));
    if (c.d1 < c.d0) c.d1 = c.d0;
    /* A bar chart of one or two days says little: show at least a week, ending on the last
     * day, unless the period was given. */
    if (!jstr(period, "since", NULL) && c.d1 - c.d0 < MIN_DAYS - 1) c.d0 = c.d1 - (MIN_DAYS - 1);
    int64_t ndays = c.d1 - c.d0 + 1;
    c.bw = (W - ML - MR) / (double)ndays;
    double step = tick_step(maxv < 1 ? 1 : maxv);
    c.ymax = ceil((maxv < 1 ? 1 : maxv) / step) * step;
    double ph = H - MT - MB; /* plot height */

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" role=\"img\">\n",
            (int)W, (int)H, (int)W, (int)H);
    char d0s[16], d1s[16];
    report_day_fmt(d0s, sizeof d0s, c.d0);
    report_day_fmt(d1s, sizeof d1s, c.d1);
    const json_t *node = json_object_get(rep, "node");
    fputs("<title>gifnet transparency report: signals per day (UTC)</title>\n", f);
    fputs("<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    fputs("<text x=\"12\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Signals per day (UTC), ",
          f);
    esc(f, d0s);
    fputs(" to ", f);
    esc(f, d1s);
    fputs("</text>\n<text x=\"12\" y=\"40\" font-size=\"11\" fill=\"#444444\">", f);
    fputs("Consortium-wide as seen by ", f);
    esc(f, json_is_object(node) ? jstr(node, "org", "this node") : "this node");
    fputs(": every record it accepted, from every origin. ", f);
    fprintf(f, "Signals: %" PRId64 "; incidents: %zu.</text>\n",
            (int64_t)json_integer_value(json_object_get(signals, "total")), json_array_size(incs));

    /* Axes, grid and y labels. */
    fputs("<g class=\"axes\" font-size=\"11\" fill=\"#333333\">\n", f);
    for (double y = 0; y <= c.ymax + step / 2; y += step) {
        double py = H - MB - y / c.ymax * ph;
        fputs("<line x1=\"", f);
        num(f, ML);
        fputs("\" x2=\"", f);
        num(f, W - MR);
        fputs("\" y1=\"", f);
        num(f, py);
        fputs("\" y2=\"", f);
        num(f, py);
        fputs("\" stroke=\"#e0e0e0\" stroke-width=\"1\"/>", f);
        fputs("<text x=\"", f);
        num(f, ML - 6);
        fputs("\" y=\"", f);
        num(f, py + 4);
        fprintf(f, "\" text-anchor=\"end\">%.0f</text>\n", y);
    }
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", (int)ML,
            (int)ML, (int)MT, (int)(H - MB));
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", (int)ML,
            (int)(W - MR), (int)(H - MB), (int)(H - MB));
    /* At most about 10 date labels. */
    int64_t every = (ndays + 9) / 10;
    for (int64_t day = c.d0; day <= c.d1; day += every) {
        char ds[16];
        report_day_fmt(ds, sizeof ds, day);
        double x = ML + ((double)(day - c.d0) + 0.5) * c.bw;
        fputs("<line x1=\"", f);
        num(f, x);
        fputs("\" x2=\"", f);
        num(f, x);
        fprintf(f, "\" y1=\"%d\" y2=\"%d\" stroke=\"#333333\"/><text x=\"", (int)(H - MB),
                (int)(H - MB + 4));
        num(f, x);
        fprintf(f, "\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (int)(H - MB + 17), ds);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">date (UTC)</text>\n",
            (int)((ML + W - MR) / 2), (int)(H - MB + 36));
    fprintf(f,
            "<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">"
            "signals per day</text>\n",
            (int)(MT + ph / 2));
    fputs("</g>\n", f);

    /* Bars. */
    fputs("<g class=\"bars\" fill=\"#4a78b5\">\n", f);
    json_object_foreach((json_t *)by_day, k, v)
    {
        int64_t day;
        if (report_day_parse(k, &day) != 0 || day < c.d0 || day > c.d1) continue;
        double n = (double)json_integer_value(v);
        double bh = n / c.ymax * ph;
        double gap = c.bw > 3 ? c.bw * 0.15 : 0;
        fputs("<rect x=\"", f);
        num(f, ML + (double)(day - c.d0) * c.bw + gap / 2);
        fputs("\" y=\"", f);
        num(f, H - MB - bh);
        fputs("\" width=\"", f);
        num(f, c.bw - gap < 0.5 ? 0.5 : c.bw - gap);
        fputs("\" height=\"", f);
        num(f, bh);
        fprintf(f, "\"><title>%s: %.0f signals</title></rect>\n", k, n);
    }
    fputs("</g>\n", f);
    if (json_integer_value(json_object_get(signals, "total")) == 0)
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\" "
                "fill=\"#888888\">no signals in this period</text>\n",
                (int)((ML + W - MR) / 2), (int)(MT + ph / 2));

    /* Incident markers, their labels staggered over a few rows so that neighbours stay legible. */
    fputs("<g class=\"incidents\">\n", f);
    int row = 0;
    json_array_foreach(incs, i, inc)
    {
        const char *id = jstr(inc, "id", "?");
        char label[200], tip[400];
        const json_t *fa = json_object_get(inc, "first_alert");
        uint64_t t0 = json_is_object(fa) ? tms(fa, "time") : tms(inc, "start");
        if (t0) {
            snprintf(label, sizeof label, "%s%s%s", id, json_is_object(fa) ? ": " : "",
                     json_is_object(fa) ? jstr(fa, "level", "alert") : "");
            snprintf(tip, sizeof tip, "incident %s: %s %s by %s", id,
                     json_is_object(fa) ? "first alert" : "first record",
                     json_is_object(fa) ? jstr(fa, "time", "") : jstr(inc, "start", ""),
                     json_is_object(fa) ? jstr(fa, "org", "?") : "-");
            marker(f, &c, "incident-start", "#c62828", NULL, t0, row++ % LABEL_ROWS, label, tip);
        }
        json_array_foreach(json_object_get(inc, "escalations"), j, e)
        {
            snprintf(label, sizeof label, "%s: escalated to %s", id, jstr(e, "level", "?"));
            snprintf(tip, sizeof tip, "incident %s escalated to %s at %s by %s", id,
                     jstr(e, "level", "?"), jstr(e, "time", ""), jstr(e, "org", "?"));
            marker(f, &c, "incident-escalate", "#e65100", "5 3", tms(e, "time"), row++ % LABEL_ROWS,
                   label, tip);
        }
        const json_t *con = json_object_get(inc, "concluded");
        if (json_is_object(con)) {
            snprintf(label, sizeof label, "%s: concluded", id);
            snprintf(tip, sizeof tip, "incident %s concluded at %s by %s", id,
                     jstr(con, "time", ""), jstr(con, "org", "?"));
            marker(f, &c, "incident-conclude", "#757575", "2 3", tms(con, "time"),
                   row++ % LABEL_ROWS, label, tip);
        }
    }
    fputs("</g>\n", f);

    /* Legend. */
    double ly = H - 14;
    fprintf(f,
            "<g class=\"legend\" font-size=\"11\" fill=\"#333333\">"
            "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"#4a78b5\"/>"
            "<text x=\"%d\" y=\"%d\">signals per day</text>",
            (int)ML, (int)(ly - 9), (int)ML + 16, (int)ly);
    const char *items[][3] = {{"#c62828", "", "incident start (first alert)"},
                              {"#e65100", "5 3", "escalation"},
                              {"#757575", "2 3", "conclusion"}};
    for (size_t n = 0; n < GIF_ARRAY_LEN(items); n++) {
        int x = (int)ML + 150 + (int)n * 210;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"1.5\"%s%s%s/>"
                "<text x=\"%d\" y=\"%d\">%s</text>",
                x, x + 18, (int)ly - 4, (int)ly - 4, items[n][0],
                items[n][1][0] ? " stroke-dasharray=\"" : "", items[n][1],
                items[n][1][0] ? "\"" : "", x + 22, (int)ly, items[n][2]);
    }
    fputs("</g>\n</svg>\n", f);
    return ferror(f) ? -1 : 0;
}
