/* gifctl watch: follow GET /v1/events (server-sent events) and print each record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl.h"
#include "cli/http.h"
#include "util/gif.h"

#define SSE_LINE_MAX (4u * 1024 * 1024) /* one data line: a record JSON with a large vpdq */
#define SSE_IDLE_MS 45000               /* the node sends a keepalive every 15 s */
#define BACKOFF_MAX_MS 5000

const char ctl_watch_help[] =
    "Usage: gifctl watch [--after CURSOR] [--count N]\n"
    "\n"
    "Print each record as the node accepts it (GET /v1/events, server-sent events): time,\n"
    "kind, origin organisation, short id, and the type and value of signals. With --json,\n"
    "each event's record JSON on one line. Runs until interrupted; after a dropped\n"
    "connection it reconnects (backing off up to 5 s) and resumes where it left off.\n"
    "\n"
    "Options:\n"
    "  --after CURSOR  start after this feed cursor, replaying what came since\n"
    "  --count N       exit after N events\n"
    "\n"
    "Example:\n"
    "  gifctl watch\n"
    "  gifctl watch --json | jq -c 'select(.kind == \"alert\")'\n";

struct sse {
    struct ctl_ctx *c;
    char *line;
    size_t len, cap;
    bool skipping; /* the current line is over SSE_LINE_MAX: drop it */
    char id[64];
    char event[32];
    char *data;
    size_t dlen, dcap;
    char last_id[64];
    unsigned long events, max;
};

static void print_event(struct sse *s)
{
    if (s->c->json) {
        fwrite(s->data, 1, s->dlen, stdout);
        fputc('\n', stdout);
        return;
    }
    json_t *j = json_loadb(s->data, s->dlen, 0, NULL);
    if (!json_is_object(j)) {
        printf("%s: %.*s\n", s->event[0] ? s->event : "message", (int)s->dlen, s->data);
        json_decref(j);
        return;
    }
    const json_t *b = json_object_get(j, "body");
    const char *kind = ctl_jstr(j, "kind", s->event[0] ? s->event : "?");
    char sk[CTL_SHORT_ID + 1], detail[600] = "";
    if (strcmp(kind, "signal") == 0) {
        char labels[300];
        ctl_jjoin(labels, sizeof labels, json_object_get(b, "labels"), ",");
        const char *v = ctl_jstr(b, "value", NULL);
        snprintf(detail, sizeof detail, "%s %s%s%s%s", ctl_jstr(b, "type", "?"), v ? v : "(frames)",
                 labels[0] ? "  " : "", labels,
                 json_is_true(json_object_get(b, "verified")) ? "  verified" : "");
    } else if (strcmp(kind, "alert") == 0) {
        snprintf(detail, sizeof detail, "%s %s %s", ctl_jstr(b, "incident", "?"),
                 ctl_jstr(b, "level", "?"), ctl_jstr(b, "detector", ""));
    } else if (strcmp(kind, "retraction") == 0) {
        snprintf(detail, sizeof detail, "of %s %s", ctl_short(sk, ctl_jstr(b, "target", NULL)),
                 ctl_jstr(b, "reason", ""));
    } else if (strcmp(kind, "feedback") == 0) {
        snprintf(detail, sizeof detail, "%s on %s", ctl_jstr(b, "verdict", "?"),
                 ctl_short(sk, ctl_jstr(b, "target", NULL)));
    } else if (strcmp(kind, "membership") == 0) {
        snprintf(detail, sizeof detail, "%s %s (%s)", ctl_short(sk, ctl_jstr(b, "key", NULL)),
                 ctl_jstr(b, "org", "?"), ctl_jstr(b, "role", "?"));
    } else if (strcmp(kind, "revocation") == 0) {
        snprintf(detail, sizeof detail, "%s", ctl_short(sk, ctl_jstr(b, "key", NULL)));
    } else if (strcmp(kind, "incident") == 0) {
        snprintf(detail, sizeof detail, "%s %s -> %s  %s", ctl_jstr(b, "incident", "?"),
                 ctl_jstr(b, "action", "?"), ctl_jstr(b, "level", "?"), ctl_jstr(b, "note", ""));
    } else if (strcmp(kind, "grant") == 0) {
        snprintf(detail, sizeof detail, "%s %s %s", ctl_jstr(b, "org", "?"),
                 json_is_true(json_object_get(b, "granted")) ? "granted" : "withdrawn",
                 ctl_jstr(b, "right", "?"));
    }
    printf("%-24s  %-10s  %-20s  %-*s  %s\n", ctl_jstr(j, "time", "-"), kind,
           ctl_jstr(j, "org", "-"), CTL_SHORT_ID, ctl_short(sk, ctl_jstr(j, "id", NULL)), detail);
    json_decref(j);
}

/* One complete line of the stream (without its line break). Returns non-zero to stop. */
static int sse_line(struct sse *s, const char *l, size_t n)
{
    if (n == 0) {
        if (s->dlen > 0 || s->event[0]) {
            if (s->data) {
                print_event(s);
                fflush(stdout);
            }
            if (s->id[0]) memcpy(s->last_id, s->id, sizeof s->id);
            s->events++;
        }
        s->dlen = 0;
        s->event[0] = '\0';
        if (s->max && s->events >= s->max) return 1;
        return 0;
    }
    if (l[0] == ':') return 0; /* a comment: the keepalive */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        size_t need = s->dlen + vl + 2;
        if (gif_grow(&s->data, &s->dcap, need, 1, 4096)) return -ENOMEM;
        if (s->dlen) s->data[s->dlen++] = '\n';
        memcpy(s->data + s->dlen, v, vl);
        s->dlen += vl;
        s->data[s->dlen] = '\0';
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        if (vl < sizeof s->id && memchr(v, '\0', vl) == NULL) {
            memcpy(s->id, v, vl);
            s->id[vl] = '\0';
        }
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        snprintf(s->event, sizeof s->event, "%.*s", (int)vl, v);
    }
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct sse *s = ctx;
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        if (ch == '\n') {
            size_t n = s->len;
            if (n > 0 && s->line[n - 1] == '\r') n--;
            int rc = s->skipping ? 0 : sse_line(s, s->line, n);
            s->len = 0;
            s->skipping = false;
            if (rc) return rc;
            continue;
        }
        if (s->skipping) continue;
        if (s->len + 1 >= s->cap) {
            if (s->cap >= SSE_LINE_MAX) {
                fprintf(stderr, "gifctl: watch: skipping an event line over %u bytes\n",
                        SSE_LINE_MAX);
                s->skipping = true;
                s->len = 0;
                continue;
            }
            if (gif_grow(&s->line, &s->cap, s->len + 2, 1, 4096)) return -ENOMEM;
        }
        s->line[s->len++] = ch;
    }
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int ctl_watch(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_AFTER = 1, O_COUNT };
    static const struct ctl_optdef defs[] = {
        {"after", true, O_AFTER}, {"count", true, O_COUNT}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *after = NULL;
    uint64_t n, count = 0;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_AFTER) {
            if (ctl_parse_uint("--after", val, UINT64_MAX, &n)) return CTL_USAGE;
            after = val;
        }
        if (r == O_COUNT && ctl_parse_uint("--count", val, UINT64_MAX, &count)) return CTL_USAGE;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "watch: unexpected argument '%s'", argv[0]);

    char err[512];
    if (!c->conn && ctl_http_new(&c->conn, c->api, err, sizeof err) != 0) {
        ctl_err("--api: %s", err);
        return CTL_USAGE;
    }
    struct sse s = {.c = c, .max = count};
    if (after) snprintf(s.last_id, sizeof s.last_id, "%s", after);
    bool connected_once = false;
    unsigned backoff = 250;
    int ec = CTL_OK;
    for (;;) {
        char hdr[700] = "", path[128] = "/v1/events";
        size_t off = 0;
        if (c->token)
            off += (size_t)snprintf(hdr, sizeof hdr, "Authorization: Bearer %.500s\r\n", c->token);
        if (s.last_id[0]) {
            snprintf(hdr + off, sizeof hdr - off, "Last-Event-ID: %s\r\n", s.last_id);
            snprintf(path, sizeof path, "/v1/events?after=%s", s.last_id);
        }
        unsigned long before = s.events;
        s.len = 0;
        s.dlen = 0;
        s.event[0] = '\0';
        s.id[0] = '\0';
        struct ctl_resp resp;
        int rc =
            ctl_http_stream(c->conn, path, hdr, SSE_IDLE_MS, on_data, &s, &resp, err, sizeof err);
        if (rc == 0 && (resp.status < 200 || resp.status > 299)) {
            json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
            ec = ctl_api_fail(c, resp.status, j);
            json_decref(j);
            ctl_resp_free(&resp);
            break;
        }
        ctl_resp_free(&resp);
        if (rc > 0) break; /* --count reached */
        if (rc == -ENOMEM) {
            ctl_err("out of memory");
            ec = CTL_UNREACHABLE;
            break;
        }
        if (!connected_once && resp.status == 0) {
            ec = ctl_api_unreachable(c, err);
            break;
        }
        connected_once = true;
        if (s.events > before) backoff = 250;
        fprintf(stderr, "gifctl: watch: %s; reconnecting in %.1f s\n", err, backoff / 1000.0);
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    free(s.line);
    free(s.data);
    return ec;
}
