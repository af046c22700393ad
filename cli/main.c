/*
 * gifctl: drive a gifnet node and do the consortium's offline work.
 *
 *     gifctl [--api URL] [--token T] [--json] VERB [ARGS...]
 *
 * The verb table below is the whole command set; each verb parses its own arguments (the
 * global options are accepted after the verb too) and returns the exit code. See docs/cli.md.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/http.h"
#include "cli/report.h"
#include "util/gif.h"

static const struct ctl_verb verbs[] = {
    {"status", ctl_status, "show the node's key, counts and storage", ctl_status_help},
    {"peers", ctl_peers, "list the node's peer connections", ctl_peers_help},
    {"members", ctl_members, "list the consortium's members as the node knows them",
     ctl_members_help},
    {"lookup", ctl_lookup, "look up one exact hash (md5, sha256, pdq, url)", ctl_lookup_help},
    {"match", ctl_match, "near-match PDQ hashes, or an image or video file", ctl_match_help},
    {"publish", ctl_publish, "publish a signal (a hash to act on), or a file's signals",
     ctl_publish_help},
    {"alert", ctl_alert, "publish an incident alert", ctl_alert_help},
    {"retract", ctl_retract, "withdraw one of this node's records", ctl_retract_help},
    {"feedback", ctl_feedback, "give a verdict on another member's record", ctl_feedback_help},
    {"import", ctl_import, "publish hashes in bulk: CSV, JSON Lines, STIX, MISP, ThreatExchange CSV",
     ctl_import_help},
    {"export", ctl_export, "write the node's records: JSON Lines, CSV, STIX, MISP, ThreatExchange CSV",
     ctl_export_help},
    {"report", ctl_report, "a transparency report from the node's log (text, JSON, SVG)", ctl_report_help},
    {"watch", ctl_watch, "print records as the node accepts them", ctl_watch_help},
    {"incident list", ctl_incident_list, "list the incidents the node knows",
     ctl_incident_list_help},
    {"incident show", ctl_incident_show, "one incident: state, timeline, signals",
     ctl_incident_show_help},
    {"incident escalate", ctl_incident_action, "raise an incident's level (agencies)",
     ctl_incident_action_help},
    {"incident deescalate", ctl_incident_action, "lower an incident's level (agencies)",
     ctl_incident_action_help},
    {"incident conclude", ctl_incident_action, "conclude an incident (agencies)",
     ctl_incident_action_help},
    {"incident reopen", ctl_incident_action, "reopen a concluded incident (agencies)",
     ctl_incident_action_help},
    {"policy explain", ctl_policy_explain, "which policy rule decides for a record, and why",
     ctl_policy_explain_help},
    {"hash", ctl_hash, "compute the signals of files (md5, sha256, pdq, vpdq)", ctl_hash_help},
    {"verify", ctl_verify, "check an export's signatures, chains and memberships offline",
     ctl_verify_help},
    {"keygen", ctl_keygen, "create an Ed25519 key pair", ctl_keygen_help},
    {"consortium init", ctl_consortium_init, "create a consortium: root key and members log",
     ctl_consortium_init_help},
    {"member add", ctl_member_add, "admit a node key to the consortium", ctl_member_add_help},
    {"member revoke", ctl_member_revoke, "remove a node key from the consortium",
     ctl_member_revoke_help},
    {"member grant", ctl_member_grant, "grant or withdraw an organisation's right",
     ctl_member_grant_help},
    {"node init", ctl_node_init, "create a node's data directory, key and config",
     ctl_node_init_help},
};

static void usage(FILE *f)
{
    fputs("Usage: gifctl [--api URL] [--token TOKEN] [--json] VERB [ARGS...]\n"
          "\n"
          "Drive a gifnet node over its HTTP API, and do the consortium's offline work.\n"
          "\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < GIF_ARRAY_LEN(verbs); i++)
        fprintf(f, "  %-17s %s\n", verbs[i].name, verbs[i].summary);
    fputs("\n"
          "Global options (also accepted after the verb):\n"
          "  --api URL      the node's API (env GIFCTL_API, default " CTL_DEFAULT_API ")\n"
          "  --token TOKEN  bearer token for writes (env GIFCTL_TOKEN; [api] token in gifd.ini)\n"
          "  --json         print JSON instead of text\n"
          "  --help         this text; 'gifctl VERB --help' describes a verb\n"
          "  --version      print the version\n"
          "\n"
          "Exit codes: 0 success, 1 nothing found, 2 bad usage or input,\n"
          "            3 the node could not be reached or refused.\n"
          "\n"
          "Example:\n"
          "  gifctl lookup md5 9e107d9d372bb6826bd81d3542a419d6\n",
          f);
}

/* Finds the verb named by argv[0] (and argv[1] for two-word verbs). Sets *words to the number
 * of arguments the name used. */
static const struct ctl_verb *find_verb(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < GIF_ARRAY_LEN(verbs); i++) {
        const char *name = verbs[i].name;
        const char *sp = strchr(name, ' ');
        if (!sp) {
            if (strcmp(argv[0], name) == 0) {
                *words = 1;
                return &verbs[i];
            }
            continue;
        }
        size_t n = (size_t)(sp - name);
        if (strlen(argv[0]) == n && memcmp(argv[0], name, n) == 0 && argc > 1 &&
            strcmp(argv[1], sp + 1) == 0) {
            *words = 2;
            return &verbs[i];
        }
    }
    return NULL;
}

/* "gifctl member" alone or with an unknown second word: list that group's verbs. */
static int group_usage(const char *group, int argc, char **argv)
{
    size_t n = strlen(group);
    bool any = false;
    for (size_t i = 0; i < GIF_ARRAY_LEN(verbs); i++)
        if (strncmp(verbs[i].name, group, n) == 0 && verbs[i].name[n] == ' ') any = true;
    if (!any) return -1;
    bool help = argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = help ? stdout : stderr;
    if (!help) {
        if (argc > 1)
            fprintf(stderr, "gifctl: '%s %s' is not a verb\n", group, argv[1]);
        else
            fprintf(stderr, "gifctl: '%s' needs a second word\n", group);
    }
    fprintf(f, "Verbs of '%s':\n", group);
    for (size_t i = 0; i < GIF_ARRAY_LEN(verbs); i++)
        if (strncmp(verbs[i].name, group, n) == 0 && verbs[i].name[n] == ' ')
            fprintf(f, "  gifctl %-15s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f, "Run 'gifctl %s SUBVERB --help' for one of them.\n", group);
    return help ? CTL_OK : CTL_USAGE;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fputs("gifctl: libsodium failed to initialise\n", stderr);
        return CTL_UNREACHABLE;
    }
    struct ctl_ctx c = {
        .api = getenv("GIFCTL_API"),
        .token = getenv("GIFCTL_TOKEN"),
    };
    if (!c.api || !c.api[0]) c.api = CTL_DEFAULT_API;
    if (c.token && !c.token[0]) c.token = NULL;

    /* Global options before the verb. */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CTL_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("gifctl %s\n", GIF_VERSION);
            return CTL_OK;
        }
        if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--api") == 0 || strcmp(a, "--token") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gifctl: %s needs a value\n", a);
                return CTL_USAGE;
            }
            if (a[2] == 'a')
                c.api = argv[++i];
            else
                c.token = argv[++i];
        } else if (strncmp(a, "--api=", 6) == 0) {
            c.api = a + 6;
        } else if (strncmp(a, "--token=", 8) == 0) {
            c.token = a + 8;
        } else {
            fprintf(stderr, "gifctl: unknown option '%s'\n", a);
            fputs("Try 'gifctl --help'.\n", stderr);
            return CTL_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    int words = 0;
    const struct ctl_verb *v = find_verb(argc - i, argv + i, &words);
    if (!v) {
        int rc = group_usage(argv[i], argc - i, argv + i);
        if (rc >= 0) return rc;
        fprintf(stderr, "gifctl: '%s' is not a verb\nTry 'gifctl --help'.\n", argv[i]);
        return CTL_USAGE;
    }
    c.verb = v->name;
    c.help = v->help;
    int rc = v->fn(&c, argc - i - words, argv + i + words);
    ctl_http_close(c.conn);
    fflush(stdout);
    if (ferror(stdout)) {
        fputs("gifctl: writing to standard output failed\n", stderr);
        if (rc == CTL_OK) rc = CTL_USAGE;
    }
    return rc;
}
