/* gifctl incident ... and policy explain: incidents and the local policy, over the HTTP API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"

const char ctl_incident_list_help[] =
    "Usage: gifctl incident list [--status open|concluded|all]\n"
    "\n"
    "The incidents this node knows (GET /v1/incidents), most recently active first: level,\n"
    "status, whether an agency (or an organisation granted the right) confirmed it, counts of\n"
    "alerts, signals and actions, and this node's own match count (never published).\n"
    "\n"
    "Example:\n"
    "  gifctl incident list --status open\n";

const char ctl_incident_show_help[] =
    "Usage: gifctl incident show ID\n"
    "\n"
    "One incident (GET /v1/incidents/ID): its state, the organisations involved, its timeline\n"
    "(alerts, escalations, signals, feedback, retractions, in the order this node accepted\n"
    "them) and its signals with this node's verdicts.\n"
    "\n"
    "Example:\n"
    "  gifctl incident show chc-2026-03\n";

const char ctl_incident_action_help[] =
    "Usage: gifctl incident escalate|deescalate|reopen ID --level LEVEL [--note TEXT]\n"
    "       gifctl incident conclude ID [--level LEVEL] [--note TEXT]\n"
    "\n"
    "Publish an incident record (POST /v1/incidents): the incident's level after the action\n"
    "(situational_awareness, content_incident, content_incident_protocol). Agencies may do\n"
    "this, and organisations the consortium granted the right ('gifctl member grant').\n"
    "conclude keeps the incident's current level unless --level says otherwise.\n"
    "\n"
    "Example:\n"
    "  gifctl incident escalate chc-2026-03 --level content_incident_protocol --note verified\n";

const char ctl_policy_explain_help[] =
    "Usage: gifctl policy explain ID [--distance N]\n"
    "\n"
    "Which policy rule decides for record ID (a signal or an alert) on this node, and why\n"
    "(GET /v1/policy/explain): the inputs the policy saw and every rule in the order tried,\n"
    "whether it applies, and the one that decided. --distance N explains a PDQ near match at\n"
    "that distance instead of an exact match.\n"
    "\n"
    "Example:\n"
    "  gifctl policy explain 3f5a...e1 --distance 20\n";

static int only_id(struct ctl_ctx *c, struct ctl_args *a, char **argv, const char **id)
{
    if (a->npos != 1) return ctl_usage(c, "%s: give one incident ID", c->verb);
    if (!argv[0][0] || strlen(argv[0]) > PROTO_INCIDENT_MAX)
        return ctl_usage(c, "%s: an incident ID is 1 to %d bytes", c->verb, PROTO_INCIDENT_MAX);
    *id = argv[0];
    return 0;
}

static void print_incident_line(const json_t *i)
{
    printf("%-24s %-26s %-9s %-3s alerts %lld  signals %lld  actions %lld  local matches %lld\n",
           ctl_jstr(i, "id", "?"), ctl_jstr(i, "level", "-"), ctl_jstr(i, "status", "?"),
           json_is_true(json_object_get(i, "confirmed")) ? "yes" : "no",
           (long long)ctl_jint(i, "alerts", 0), (long long)ctl_jint(i, "signals", 0),
           (long long)ctl_jint(i, "actions", 0), (long long)ctl_jint(i, "local_matches", 0));
}

int ctl_incident_list(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_STATUS = 1 };
    static const struct ctl_optdef defs[] = {{"status", true, O_STATUS}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *status = "all";
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0)
        if (r == O_STATUS) status = val;
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos) return ctl_usage(c, "incident list: unexpected argument '%s'", argv[0]);
    if (strcmp(status, "open") && strcmp(status, "concluded") && strcmp(status, "all"))
        return ctl_usage(c, "--status: '%s' is not open, concluded or all", status);
    char path[64];
    snprintf(path, sizeof path, "/v1/incidents?status=%s", status);
    json_t *j;
    int ec = ctl_api(c, "GET", path, NULL, &j);
    if (ec) return ec;
    json_t *list = json_object_get(j, "incidents");
    if (c->json) {
        ctl_print_json(j);
    } else {
        printf("%-24s %-26s %-9s %-3s\n", "INCIDENT", "LEVEL", "STATUS", "CNF");
        size_t k;
        json_t *i;
        json_array_foreach(list, k, i) print_incident_line(i);
    }
    ec = json_array_size(list) ? CTL_OK : CTL_NOTFOUND;
    json_decref(j);
    return ec;
}

static int get_incident(struct ctl_ctx *c, const char *id, json_t **out)
{
    char enc[3 * PROTO_INCIDENT_MAX + 1], path[sizeof enc + 32];
    if (ctl_urlencode(enc, sizeof enc, id)) return ctl_usage(c, "incident ID too long");
    snprintf(path, sizeof path, "/v1/incidents/%s", enc);
    return ctl_api(c, "GET", path, NULL, out);
}

int ctl_incident_show(struct ctl_ctx *c, int argc, char **argv)
{
    static const struct ctl_optdef defs[] = {{NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *id = NULL;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0)
        ;
    if (r < 0) return ctl_args_stop(c, r);
    if (only_id(c, &a, argv, &id)) return CTL_USAGE;
    json_t *j;
    int ec = get_incident(c, id, &j);
    if (ec) return ec;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return CTL_OK;
    }
    print_incident_line(j);
    printf("opened %s, updated %s\n", ctl_jstr(j, "opened", "-"), ctl_jstr(j, "updated", "-"));
    size_t k;
    json_t *e;
    printf("\norganisations:\n");
    json_array_foreach(json_object_get(j, "organisations"), k, e)
        printf("  %-24s %-9s %lld records\n", ctl_jstr(e, "org", "?"), ctl_jstr(e, "role", "-"),
               (long long)ctl_jint(e, "records", 0));
    printf("\ntimeline:\n");
    json_array_foreach(json_object_get(j, "timeline"), k, e)
    {
        char sid[CTL_SHORT_ID + 1];
        const char *kind = ctl_jstr(e, "kind", "?");
        printf("  %s  %-10s %-16s %s", ctl_jstr(e, "time", "-"), kind, ctl_jstr(e, "org", "?"),
               ctl_short(sid, ctl_jstr(e, "id", NULL)));
        if (strcmp(kind, "alert") == 0)
            printf("  %s %s", ctl_jstr(e, "level", ""), ctl_jstr(e, "detector", ""));
        else if (strcmp(kind, "incident") == 0)
            printf("  %s -> %s", ctl_jstr(e, "action", ""), ctl_jstr(e, "level", ""));
        else if (strcmp(kind, "signal") == 0)
            printf("  %s", ctl_jstr(e, "type", ""));
        else if (strcmp(kind, "feedback") == 0)
            printf("  %s on %s", ctl_jstr(e, "verdict", ""),
                   ctl_short(sid, ctl_jstr(e, "target", NULL)));
        else if (strcmp(kind, "retraction") == 0)
            printf("  of %s", ctl_short(sid, ctl_jstr(e, "target", NULL)));
        printf("\n");
    }
    printf("\nsignals:\n");
    json_array_foreach(json_object_get(j, "signals"), k, e)
    {
        char sid[CTL_SHORT_ID + 1];
        printf("  %s  %-6s %-7s %-6s (%s)%s\n", ctl_short(sid, ctl_jstr(e, "id", NULL)),
               ctl_jstr(e, "kind", "?"), ctl_jstr(e, "type", "-"), ctl_jstr(e, "verdict", "?"),
               ctl_jstr(e, "rule", "?"),
               json_is_true(json_object_get(e, "retracted")) ? " retracted" : "");
    }
    json_decref(j);
    return CTL_OK;
}

int ctl_incident_action(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_LEVEL = 1, O_NOTE };
    static const struct ctl_optdef defs[] = {
        {"level", true, O_LEVEL}, {"note", true, O_NOTE}, {NULL, false, 0}};
    /* c->verb is "incident ACTION". */
    const char *action = strchr(c->verb, ' ');
    action = action ? action + 1 : c->verb;
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val, *id = NULL, *level = NULL, *note = NULL;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_LEVEL) level = val;
        if (r == O_NOTE) note = val;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (only_id(c, &a, argv, &id)) return CTL_USAGE;
    uint8_t lv;
    json_t *cur = NULL;
    if (!level && strcmp(action, "conclude") == 0) {
        int ec = get_incident(c, id, &cur);
        if (ec) return ec;
        level = ctl_jstr(cur, "level", NULL);
    }
    if (!level) return ctl_usage(c, "%s: --level is required", c->verb);
    if (proto_level_parse(level, &lv)) {
        json_decref(cur);
        return ctl_usage(c,
                         "--level: '%s' is not situational_awareness, content_incident or "
                         "content_incident_protocol",
                         level);
    }
    if (note && strlen(note) > PROTO_TEXT_MAX) {
        json_decref(cur);
        return ctl_usage(c, "--note: longer than %d bytes", PROTO_TEXT_MAX);
    }
    json_t *body = json_pack("{s:s,s:s,s:s}", "incident", id, "action", action, "level", level);
    if (note) json_object_set_new(body, "note", json_string(note));
    json_decref(cur);
    return ctl_post_record(c, "/v1/incidents", body);
}

int ctl_policy_explain(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_DIST = 1 };
    static const struct ctl_optdef defs[] = {{"distance", true, O_DIST}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    uint64_t dist = 0;
    bool has_dist = false;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0)
        if (r == O_DIST) {
            if (ctl_parse_uint("--distance", val, 256, &dist)) return CTL_USAGE;
            has_dist = true;
        }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos != 1) return ctl_usage(c, "policy explain: give one record ID");
    uint8_t raw[PROTO_ID_LEN];
    if (ctl_parse_hex("ID", argv[0], raw, PROTO_ID_LEN)) return CTL_USAGE;
    char path[160];
    snprintf(path, sizeof path, "/v1/policy/explain?id=%s", argv[0]);
    if (has_dist)
        snprintf(path + strlen(path), sizeof path - strlen(path), "&distance=%llu",
                 (unsigned long long)dist);
    json_t *j;
    int ec = ctl_api(c, "GET", path, NULL, &j);
    if (ec) return ec;
    if (c->json) {
        ctl_print_json(j);
        json_decref(j);
        return CTL_OK;
    }
    json_t *in = json_object_get(j, "inputs");
    printf("%s: %s (rule %s)\n", ctl_jstr(j, "id", "?"), ctl_jstr(j, "verdict", "?"),
           ctl_jstr(j, "rule", "?"));
    json_t *inc = json_object_get(in, "incident");
    printf("inputs: %s from %s (%s), member %s, verified %s, retracted %s, expired %s, agree %lld,"
           " dispute %lld, age %llds, incident %s%s%s\n",
           ctl_jstr(in, "kind", "?"), ctl_jstr(in, "org", "?"), ctl_jstr(in, "role", "?"),
           json_is_true(json_object_get(in, "member")) ? "yes" : "no",
           json_is_true(json_object_get(in, "verified")) ? "yes" : "no",
           json_is_true(json_object_get(in, "retracted")) ? "yes" : "no",
           json_is_true(json_object_get(in, "expired")) ? "yes" : "no",
           (long long)ctl_jint(in, "orgs_agree", 0), (long long)ctl_jint(in, "orgs_dispute", 0),
           (long long)ctl_jint(in, "age_seconds", 0), inc ? ctl_jstr(inc, "id", "none") : "none",
           inc ? " " : "", inc ? ctl_jstr(inc, "level", "") : "");
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(j, "rules"), k, e)
        printf("  %s %-20s %-6s %s\n", json_is_true(json_object_get(e, "decided")) ? "=>" : "  ",
               ctl_jstr(e, "rule", "?"), ctl_jstr(e, "verdict", "?"),
               json_is_true(json_object_get(e, "applies")) ? "applies" : "-");
    json_decref(j);
    return CTL_OK;
}
