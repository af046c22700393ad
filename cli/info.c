/* gifctl status, peers, members: what the node knows about itself and the consortium. */
#include <stdio.h>
#include <string.h>

#include "cli/ctl.h"

const char ctl_status_help[] =
    "Usage: gifctl status\n"
    "\n"
    "Show the node's key, organisation and role, uptime, record counts by kind and signal\n"
    "type, retracted and held records, frozen origins (those caught equivocating) and storage\n"
    "use (GET /v1/status).\n"
    "\n"
    "Example:\n"
    "  gifctl --api http://127.0.0.1:7480 status\n";

const char ctl_peers_help[] = "Usage: gifctl peers\n"
                              "\n"
                              "List the node's peer connections (GET /v1/peers).\n"
                              "\n"
                              "Example:\n"
                              "  gifctl peers --json\n";

const char ctl_members_help[] =
    "Usage: gifctl members\n"
    "\n"
    "List the consortium's members as the node knows them: key, organisation, role, validity\n"
    "and revocation (GET /v1/members).\n"
    "\n"
    "Example:\n"
    "  gifctl members\n";

/* Verbs without options of their own share this. */
static int no_args(struct ctl_ctx *c, int argc, char **argv)
{
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    int r = ctl_args_next(&a, NULL, &val);
    if (r < 0) return ctl_args_stop(c, r) == CTL_OK ? -1 : CTL_USAGE;
    if (a.npos > 0) return ctl_usage(c, "%s: unexpected argument '%s'", c->verb, argv[0]);
    return 0;
}

static void human_bytes(char *out, size_t n, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* "signal 40, alert 0" from an object of counts. */
static void counts(char *out, size_t n, const json_t *obj)
{
    const char *k;
    json_t *v;
    size_t off = 0;
    out[0] = '\0';
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!json_is_integer(v) || off >= n) continue;
        off += (size_t)snprintf(out + off, n - off, "%s%s %lld", off ? ", " : "", k,
                                (long long)json_integer_value(v));
    }
    if (!off) snprintf(out, n, "none");
}

int ctl_status(struct ctl_ctx *c, int argc, char **argv)
{
    int ec = no_args(c, argc, argv);
    if (ec) return ec < 0 ? CTL_OK : ec;
    json_t *j;
    if ((ec = ctl_api(c, "GET", "/v1/status", NULL, &j))) return ec;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return CTL_OK;
    }
    const json_t *node = json_object_get(j, "node");
    char buf[1024];
    printf("node        %s\n", ctl_jstr(node, "key", "-"));
    printf("org         %s (%s)\n", ctl_jstr(node, "org", "-"), ctl_jstr(node, "role", "-"));
    printf("version     %s\n", ctl_jstr(j, "version", "-"));
    json_int_t up = ctl_jint(j, "uptime_s", 0);
    printf("uptime      %lldd %02lld:%02lld:%02lld\n", (long long)(up / 86400),
           (long long)(up / 3600 % 24), (long long)(up / 60 % 60), (long long)(up % 60));
    counts(buf, sizeof buf, json_object_get(j, "by_kind"));
    printf("records     %lld (%s)\n", (long long)ctl_jint(j, "records", 0), buf);
    counts(buf, sizeof buf, json_object_get(j, "signals_by_type"));
    printf("signals     %s\n", buf);
    printf("retracted   %lld\n", (long long)ctl_jint(j, "retracted", 0));
    printf("held        %lld (past a gap, waiting for missing records)\n",
           (long long)ctl_jint(j, "held", 0));
    printf("feed        %lld\n", (long long)ctl_jint(j, "feed_last", 0));
    printf("pdq index   %lld\n", (long long)ctl_jint(j, "pdq_index", 0));
    const json_t *frozen = json_object_get(j, "frozen");
    if (json_array_size(frozen) == 0) {
        printf("frozen      none\n");
    } else {
        size_t i;
        const json_t *f;
        json_array_foreach(frozen, i, f)
        {
            printf("%s  %s at seq %lld (equivocated)\n", i ? "           " : "frozen    ",
                   ctl_jstr(f, "origin", "-"), (long long)ctl_jint(f, "seq", 0));
        }
    }
    const json_t *st = json_object_get(j, "storage");
    if (json_is_object(st)) {
        char used[32], size[32];
        human_bytes(used, sizeof used, (double)ctl_jint(st, "map_used", 0));
        human_bytes(size, sizeof size, (double)ctl_jint(st, "map_size", 0));
        printf("storage     %s used of a %s map\n", used, size);
    }
    json_decref(j);
    return CTL_OK;
}

int ctl_peers(struct ctl_ctx *c, int argc, char **argv)
{
    int ec = no_args(c, argc, argv);
    if (ec) return ec < 0 ? CTL_OK : ec;
    json_t *j;
    if ((ec = ctl_api(c, "GET", "/v1/peers", NULL, &j))) return ec;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return CTL_OK;
    }
    const json_t *peers = json_object_get(j, "peers");
    if (json_array_size(peers) == 0) printf("no peers\n");
    size_t i;
    const json_t *p;
    if (json_array_size(peers) > 0)
        printf("%-*s  %-22s  %-16s  %-8s  %-7s  %8s  %9s  %9s  %s\n", CTL_SHORT_ID, "key",
               "address", "org", "dir", "state", "rtt", "sent", "received", "last error");
    json_array_foreach(peers, i, p)
    {
        char sk[CTL_SHORT_ID + 1], rtt[32] = "-";
        const char *key = ctl_jstr(p, "key", NULL);
        const json_t *r = json_object_get(p, "rtt_ms");
        if (json_is_number(r)) snprintf(rtt, sizeof rtt, "%.2fms", json_number_value(r));
        printf("%-*s  %-22s  %-16s  %-8s  %-7s  %8s  %9lld  %9lld  %s\n", CTL_SHORT_ID,
               key ? ctl_short(sk, key) : "-", ctl_jstr(p, "address", "-"),
               ctl_jstr(p, "org", "-"), ctl_jstr(p, "direction", "-"), ctl_jstr(p, "state", "-"),
               rtt, (long long)json_integer_value(json_object_get(p, "records_sent")),
               (long long)json_integer_value(json_object_get(p, "records_received")),
               ctl_jstr(p, "last_error", ""));
    }
    json_decref(j);
    return CTL_OK;
}

int ctl_members(struct ctl_ctx *c, int argc, char **argv)
{
    int ec = no_args(c, argc, argv);
    if (ec) return ec < 0 ? CTL_OK : ec;
    json_t *j;
    if ((ec = ctl_api(c, "GET", "/v1/members", NULL, &j))) return ec;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return CTL_OK;
    }
    const json_t *ms = json_object_get(j, "members");
    if (json_array_size(ms) == 0) {
        printf("no members\n");
    } else {
        printf("%-64s  %-20s  %-8s  %-24s  %-24s  %s\n", "KEY", "ORG", "ROLE", "NOT BEFORE",
               "NOT AFTER", "REVOKED");
    }
    size_t i;
    const json_t *m;
    json_array_foreach(ms, i, m)
    {
        const json_t *rv = json_object_get(m, "revoked");
        const char *ra = ctl_jstr(m, "revoked_at", NULL);
        printf("%-64s  %-20s  %-8s  %-24s  %-24s  %s\n", ctl_jstr(m, "key", "-"),
               ctl_jstr(m, "org", "-"), ctl_jstr(m, "role", "-"), ctl_jstr(m, "not_before", "-"),
               ctl_jstr(m, "not_after", "-"), json_is_true(rv) ? (ra ? ra : "yes") : "no");
    }
    json_decref(j);
    return CTL_OK;
}
