/*
 * gifctl: shared definitions for the verbs.
 *
 * Each verb lives in its own file and is reached through the table in main.c. A verb gets the
 * parsed global options in a struct ctl_ctx (no process-wide state) and the arguments after
 * its name, and returns the process exit code.
 */
#ifndef GIF_CLI_CTL_H
#define GIF_CLI_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocol/record.h"

/* Exit codes: the contract in DESIGN.md and docs/cli.md. */
enum {
    CTL_OK = 0,
    CTL_NOTFOUND = 1,    /* a lookup or match found nothing */
    CTL_USAGE = 2,       /* bad usage or input */
    CTL_UNREACHABLE = 3, /* the node could not be reached or refused */
};

#define CTL_DEFAULT_API "http://127.0.0.1:7480"
#define CTL_SHORT_ID 12 /* hex digits of an id or key shown in human output */

struct ctl_http; /* http.h */

struct ctl_ctx {
    const char *api;       /* base URL of the node's HTTP API */
    const char *token;     /* bearer token for writes, or NULL */
    bool json;             /* print JSON instead of human output */
    const char *verb;      /* the verb's full name, for messages */
    const char *help;      /* the verb's help text */
    struct ctl_http *conn; /* lazily opened keep-alive connection; main.c closes it */
};

typedef int (*ctl_verb_fn)(struct ctl_ctx *c, int argc, char **argv);

struct ctl_verb {
    const char *name; /* "status", or two words: "member add" */
    ctl_verb_fn fn;
    const char *summary;
    const char *help; /* usage, options, an example */
};

/* ---- Verbs (one file each, or one file per group). */
int ctl_keygen(struct ctl_ctx *c, int argc, char **argv);
int ctl_consortium_init(struct ctl_ctx *c, int argc, char **argv);
int ctl_member_add(struct ctl_ctx *c, int argc, char **argv);
int ctl_member_revoke(struct ctl_ctx *c, int argc, char **argv);
int ctl_node_init(struct ctl_ctx *c, int argc, char **argv);
int ctl_verify(struct ctl_ctx *c, int argc, char **argv);
int ctl_hash(struct ctl_ctx *c, int argc, char **argv);
int ctl_status(struct ctl_ctx *c, int argc, char **argv);
int ctl_peers(struct ctl_ctx *c, int argc, char **argv);
int ctl_members(struct ctl_ctx *c, int argc, char **argv);
int ctl_lookup(struct ctl_ctx *c, int argc, char **argv);
int ctl_match(struct ctl_ctx *c, int argc, char **argv);
int ctl_publish(struct ctl_ctx *c, int argc, char **argv);
int ctl_alert(struct ctl_ctx *c, int argc, char **argv);
int ctl_retract(struct ctl_ctx *c, int argc, char **argv);
int ctl_feedback(struct ctl_ctx *c, int argc, char **argv);
int ctl_import(struct ctl_ctx *c, int argc, char **argv);
int ctl_export(struct ctl_ctx *c, int argc, char **argv);
int ctl_watch(struct ctl_ctx *c, int argc, char **argv);
int ctl_incident_list(struct ctl_ctx *c, int argc, char **argv);
int ctl_incident_show(struct ctl_ctx *c, int argc, char **argv);
int ctl_incident_action(struct ctl_ctx *c, int argc, char **argv);
int ctl_policy_explain(struct ctl_ctx *c, int argc, char **argv);
int ctl_member_grant(struct ctl_ctx *c, int argc, char **argv);

/* Help texts, defined next to each verb. */
extern const char ctl_keygen_help[], ctl_consortium_init_help[], ctl_member_add_help[],
    ctl_member_revoke_help[], ctl_node_init_help[], ctl_verify_help[], ctl_hash_help[],
    ctl_status_help[], ctl_peers_help[], ctl_members_help[], ctl_lookup_help[], ctl_match_help[],
    ctl_publish_help[], ctl_alert_help[], ctl_retract_help[], ctl_feedback_help[],
    ctl_import_help[], ctl_export_help[], ctl_watch_help[], ctl_incident_list_help[],
    ctl_incident_show_help[], ctl_incident_action_help[], ctl_policy_explain_help[],
    ctl_member_grant_help[];

/* ---- Argument parsing (args.c).
 *
 * Long options only ("--name VALUE" or "--name=VALUE"), in any order with positionals; "--"
 * ends options. The global options (--api, --token, --json, --help) are accepted by every verb
 * and applied to the ctx. Positionals are compacted to the front of argv. */
struct ctl_optdef {
    const char *name; /* without the leading "--" */
    bool arg;         /* takes a value */
    int id;           /* > 0, returned by ctl_args_next */
};

struct ctl_args {
    struct ctl_ctx *c;
    int argc;
    char **argv;
    int i;    /* next argument to read */
    int npos; /* positionals found so far, in argv[0..npos) */
    bool dashdash;
};

enum { CTL_ARG_END = 0, CTL_ARG_HELP = -1, CTL_ARG_ERR = -2 };

void ctl_args_init(struct ctl_args *a, struct ctl_ctx *c, int argc, char **argv);
/* Returns an option id (with *val set for options taking a value), CTL_ARG_END when all
 * arguments are read (positionals are then argv[0..a->npos)), CTL_ARG_HELP for --help, or
 * CTL_ARG_ERR after printing what was wrong. */
int ctl_args_next(struct ctl_args *a, const struct ctl_optdef *defs, const char **val);

/* Handles the non-option returns of ctl_args_next in a verb's loop: prints help for
 * CTL_ARG_HELP (returns CTL_OK), and returns CTL_USAGE for CTL_ARG_ERR. */
int ctl_args_stop(struct ctl_ctx *c, int r);

/* Prints "gifctl: <message>" to stderr and returns CTL_USAGE. */
int ctl_usage(struct ctl_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "gifctl: <message>" to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Value parsers: each returns 0, or prints "gifctl: --opt: 'value' ..." and returns
 * CTL_USAGE. */
int ctl_parse_uint(const char *opt, const char *s, uint64_t max, uint64_t *out);
int ctl_parse_time(const char *opt, const char *s, uint64_t *ms);
int ctl_parse_hex(const char *opt, const char *s, uint8_t *out, size_t n);
int ctl_parse_role(const char *opt, const char *s, uint8_t *out);
int ctl_parse_stype(const char *opt, const char *s, uint8_t *out);
int ctl_parse_label(const char *opt, const char *s);
/* Checks a signal value for its type (hex length for fixed types; non-empty url). Returns 0
 * or CTL_USAGE after printing. */
int ctl_check_value(const char *opt, uint8_t stype, const char *value);
/* As above without printing: returns NULL when fine, else a static reason. */
const char *ctl_value_problem(uint8_t stype, const char *value);

/* Times are parsed and formatted by gif_time_parse and gif_time_fmt (util/gif.h). */

/* ---- Output helpers (out.c). */

/* Prints j to stdout as indented JSON and a newline. Does not take ownership. */
void ctl_print_json(const json_t *j);
/* The first CTL_SHORT_ID characters of a hex id, or "-" for NULL; into a static-sized
 * caller buffer of at least CTL_SHORT_ID + 1 bytes. */
const char *ctl_short(char *out, const char *hex);
/* String member of an object, or dflt when absent or not a string. */
const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt);
/* Integer member of an object, or dflt. */
json_int_t ctl_jint(const json_t *obj, const char *key, json_int_t dflt);
/* Joins the strings of a JSON array with sep into out; returns out. */
const char *ctl_jjoin(char *out, size_t outlen, const json_t *arr, const char *sep);
/* Percent-encodes s for a query string into out; returns 0 or -1 when it does not fit. */
int ctl_urlencode(char *out, size_t outlen, const char *s);

/* ---- Talking to the node (api.c). */

/*
 * Sends method path with body (NULL for none; not consumed) to the node and reads the answer.
 * On a 2xx answer returns CTL_OK with *out the parsed JSON (caller decrefs; an empty body gives
 * an empty object). Otherwise prints the failure and returns its exit code: CTL_UNREACHABLE
 * for transport failures, 401 and 5xx; CTL_NOTFOUND for 404; CTL_USAGE for other 4xx.
 */
int ctl_api(struct ctl_ctx *c, const char *method, const char *path, const json_t *body,
            json_t **out);

/* POSTs body (consumed) to path, a publishing endpoint, and prints the new record's id and
 * seq (or, with --json, the answer). Returns as ctl_api. */
int ctl_post_record(struct ctl_ctx *c, const char *path, json_t *body);

/* POSTs raw bytes of Content-Type ctype to path (POST /v1/match/media); answers as ctl_api. */
int ctl_api_bytes(struct ctl_ctx *c, const char *path, const char *ctype, const uint8_t *body,
                  size_t len, json_t **out);

/*
 * Like ctl_api but prints nothing for an HTTP error: returns 0 with *status and *out (the
 * parsed body, may be NULL when not JSON) for any HTTP answer, or a negative transport error
 * with a sentence in err.
 */
int ctl_api_raw(struct ctl_ctx *c, const char *method, const char *path, const json_t *body,
                int *status, json_t **out, char *err, size_t errlen);

/* Prints the failure of an HTTP answer (status and its JSON error body, may be NULL) and
 * returns the exit code for it, as ctl_api does. */
int ctl_api_fail(struct ctl_ctx *c, int status, const json_t *body);
/* Prints a transport failure and returns CTL_UNREACHABLE. */
int ctl_api_unreachable(struct ctl_ctx *c, const char *err);
/* Describes an API error body into out: "invalid_field: message (value 'zz')". */
const char *ctl_api_errtext(char *out, size_t outlen, int status, const json_t *body);

/* ---- The node's feed (export.c): export and report walk it alike. */

#define CTL_CURSOR_MAX 64 /* bytes of a feed cursor (a decimal string) and its NUL */
#define CTL_FEED_PAGE 1000

/* Called with each record object of the feed (borrowed for the call); returns CTL_OK to go on
 * or an exit code to stop the walk. */
typedef int (*ctl_feed_fn)(void *ctx, const json_t *rec);

/*
 * Walks GET /v1/records from the cursor in after ("0": the start) to the end of the feed,
 * CTL_FEED_PAGE records a request, handing each record to fn. On return after holds the cursor
 * past the last page read (the --after of an incremental walk). Returns CTL_OK at the end of
 * the feed, fn's code when it stopped the walk, or ctl_api's (after printing).
 */
int ctl_feed_walk(struct ctl_ctx *c, char after[static CTL_CURSOR_MAX], ctl_feed_fn fn, void *ctx);

/* ---- Media files (hash.c): hash, match FILE and publish FILE share these. */

#define CTL_FILE_MAX ((size_t)2 << 30) /* a media file read into memory, bytes */

/* Reads a whole file ("-": standard input) into a malloc'd buffer (caller frees). Returns 0,
 * or CTL_USAGE after printing "gifctl: NAME: reason". */
int ctl_read_file(const char *name, uint8_t **buf, size_t *len);

struct api_media;
struct api_media_opts;
/*
 * Hashes a file's bytes: md5 and sha256 always; pdq for an image, vpdq for a video (the kind
 * guessed from the bytes). Returns 1 when the bytes are media and decoded (m->kind set), 0 when
 * they are no image or video format (only md5 and sha256 are set, m->kind is 0), or -1 when
 * they look like media but do not decode (reason in err; md5 and sha256 still set). opts may
 * be NULL (full resolution, 1 fps; see api_media_hash).
 */
int ctl_media_hash(const uint8_t *buf, size_t len, const struct api_media_opts *opts,
                   struct api_media *m, char *err, size_t errlen);

/* ---- Shared between consortium.c and verify.c. */

/* A bounded line reader: reads one line (without the newline) into *buf, growing it up to
 * cap bytes. Returns the length, -1 at end of file, or -2 if the line is longer than cap
 * (the rest of the line is skipped). */
long ctl_readline(FILE *f, char **buf, size_t *bufcap, size_t cap);

/* Decodes the "record" hex of one JSON line into a malloc'd byte buffer (caller frees).
 * Returns NULL on success, or a static reason on failure (then *bytes is NULL). */
const char *ctl_line_record(const char *line, uint8_t **bytes, size_t *len);

#endif
