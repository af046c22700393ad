/* Argument parsing and value checks shared by every verb. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl.h"
#include "util/gif.h"

void ctl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gifctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int ctl_usage(struct ctl_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gifctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (c && c->verb) fprintf(stderr, "Try 'gifctl %s --help'.\n", c->verb);
    return CTL_USAGE;
}

void ctl_args_init(struct ctl_args *a, struct ctl_ctx *c, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->c = c;
    a->argc = argc;
    a->argv = argv;
}

/* The options every verb accepts; they set fields of the ctx. */
enum { G_API = -100, G_TOKEN, G_JSON, G_HELP };
static const struct ctl_optdef globals[] = {
    {"api", true, G_API},    {"token", true, G_TOKEN}, {"json", false, G_JSON},
    {"help", false, G_HELP}, {NULL, false, 0},
};

static const struct ctl_optdef *find(const struct ctl_optdef *defs, const char *name, size_t n)
{
    for (; defs && defs->name; defs++)
        if (strlen(defs->name) == n && memcmp(defs->name, name, n) == 0) return defs;
    return NULL;
}

int ctl_args_next(struct ctl_args *a, const struct ctl_optdef *defs, const char **val)
{
    *val = NULL;
    while (a->i < a->argc) {
        char *arg = a->argv[a->i++];
        if (a->dashdash || arg[0] != '-' || arg[1] == '\0') {
            /* Positionals move to the front; the slot written is always one already read. */
            a->argv[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            a->dashdash = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0) return CTL_ARG_HELP;
        if (arg[1] != '-') {
            ctl_usage(a->c, "unknown option '%s' (options are long: --name)", arg);
            return CTL_ARG_ERR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct ctl_optdef *d = find(defs, name, n);
        if (!d) d = find(globals, name, n);
        if (!d) {
            ctl_usage(a->c, "%s: unknown option '--%.*s'", a->c->verb, (int)n, name);
            return CTL_ARG_ERR;
        }
        if (d->arg) {
            if (eq) {
                *val = eq + 1;
            } else if (a->i < a->argc) {
                *val = a->argv[a->i++];
            } else {
                ctl_usage(a->c, "--%s needs a value", d->name);
                return CTL_ARG_ERR;
            }
        } else if (eq) {
            ctl_usage(a->c, "--%s takes no value (got '%s')", d->name, eq + 1);
            return CTL_ARG_ERR;
        }
        switch (d->id) {
        case G_API:
            a->c->api = *val;
            continue;
        case G_TOKEN:
            a->c->token = *val;
            continue;
        case G_JSON:
            a->c->json = true;
            continue;
        case G_HELP:
            return CTL_ARG_HELP;
        default:
            return d->id;
        }
    }
    return CTL_ARG_END;
}

int ctl_args_stop(struct ctl_ctx *c, int r)
{
    if (r == CTL_ARG_HELP) {
        fputs(c->help, stdout);
        return CTL_OK;
    }
    return CTL_USAGE;
}

int ctl_parse_uint(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v > max) {
        ctl_err("%s: '%s' is not an integer from 0 to %" PRIu64, opt, s, max);
        return CTL_USAGE;
    }
    *out = v;
    return 0;
}

int ctl_parse_time(const char *opt, const char *s, uint64_t *ms)
{
    if (gif_time_parse(s, ms) != 0) {
        ctl_err("%s: '%s' is not a time (RFC 3339 such as 2026-11-22T03:30:00Z, or "
                "milliseconds since the epoch)",
                opt, s);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_parse_hex(const char *opt, const char *s, uint8_t *out, size_t n)
{
    if (gif_unhex(out, n, s, strlen(s)) != 0) {
        ctl_err("%s: '%s' is not %zu hex digits", opt, s, 2 * n);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_parse_role(const char *opt, const char *s, uint8_t *out)
{
    if (proto_role_parse(s, out) != 0) {
        ctl_err("%s: '%s' is not one of agency, platform, observer", opt, s);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_parse_stype(const char *opt, const char *s, uint8_t *out)
{
    if (proto_stype_parse(s, out) != 0) {
        ctl_err("%s: '%s' is not one of md5, sha256, pdq, vpdq, url", opt, s);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_parse_label(const char *opt, const char *s)
{
    if (proto_label_known(s, strlen(s))) return 0;
    char list[1024] = "";
    size_t off = 0;
    for (size_t i = 0; proto_labels[i] && off < sizeof list; i++)
        off +=
            (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", proto_labels[i]);
    ctl_err("%s: '%s' is not a known label (%s)", opt, s, list);
    return CTL_USAGE;
}

const char *ctl_value_problem(uint8_t stype, const char *value)
{
    size_t n = strlen(value);
    if (stype == PROTO_ST_URL) return n == 0 ? "empty url" : NULL;
    if (stype == PROTO_ST_VPDQ) return "vpdq values are frame lists: use JSON Lines";
    size_t want = proto_stype_len(stype);
    if (want == 0) return "unknown signal type";
    if (n != 2 * want) {
        switch (want) {
        case 16:
            return "not 32 hex digits";
        case 32:
            return "not 64 hex digits";
        default:
            return "wrong length";
        }
    }
    if (strspn(value, "0123456789abcdefABCDEF") != n) return "not hex";
    return NULL;
}

int ctl_check_value(const char *opt, uint8_t stype, const char *value)
{
    const char *why = ctl_value_problem(stype, value);
    if (why) {
        const char *t = proto_stype_name(stype);
        ctl_err("%s: '%s' for %s: %s", opt, value, t ? t : "this type", why);
        return CTL_USAGE;
    }
    return 0;
}
