/*
 * gifctl report: a transparency report computed from a node's log.
 *
 * The aggregation is pure: it takes record objects as GET /v1/records gives them (parsed
 * JSON), one at a time in feed order, and builds one JSON object (the shape in docs/cli.md,
 * "report"). The text and SVG renderings read only that object. Nothing here talks to a
 * node, so tests feed hand-built records (tests/unit/test_report.c); the verb that walks the
 * feed is cli/report_cmd.c.
 *
 * Memory is bounded by what the report lists, not by the log: a signal is remembered only
 * when its state says it was retracted or has feedback (the node sends that state with every
 * signal), and counters are per label, type, organisation, month and day.
 */
#ifndef GIF_CLI_REPORT_H
#define GIF_CLI_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define REPORT_DAY_MS 86400000ull

struct report_opts {
    /* Records whose time is in [since_ms, until_ms) count; a bound of 0 is no bound. */
    uint64_t since_ms;
    uint64_t until_ms;
};

struct report;

/* A new, empty report; NULL when out of memory. */
struct report *report_new(const struct report_opts *o);
void report_free(struct report *r);

/* The node the log was read from: GET /v1/status's answer (node.key, node.org, node.role).
 * Optional. */
void report_set_node(struct report *r, const json_t *status);
/* The members the node knows: GET /v1/members's answer. Optional: gives organisations'
 * roles, and lists members that published nothing. */
void report_set_members(struct report *r, const json_t *members);

/* Adds one record object of the feed (in feed order). Returns 0, or -1 when rec is not an
 * object with a string "kind" (the record is then only counted as malformed). */
int report_add(struct report *r, const json_t *rec);
/* The feed cursor after the last record read, for the header. */
void report_set_cursor(struct report *r, const char *next);

/* Builds the report object (a new reference; NULL when out of memory). now_ms is the
 * generation time written in it. May be called more than once. */
json_t *report_build(struct report *r, uint64_t now_ms);

/* Renderings of a built report object. Each returns 0, or -1 when writing failed. */
int report_write_text(const json_t *rep, FILE *f);
int report_write_json(const json_t *rep, FILE *f);
/* A self-contained SVG chart of signals per day (UTC) with a marker at each incident's start
 * (first alert, else first record) and escalations, and a lighter one at conclusions
 * (cli/svg.c). */
int report_write_svg(const json_t *rep, FILE *f);

/* The verb (cli/report_cmd.c), reached from main.c's table. */
struct ctl_ctx;
int ctl_report(struct ctl_ctx *c, int argc, char **argv);
extern const char ctl_report_help[];

/* Helpers shared by report.c and svg.c. */
/* Days since the epoch of a time in ms. */
static inline int64_t report_day(uint64_t ms)
{
    return (int64_t)(ms / REPORT_DAY_MS);
}
/* "YYYY-MM-DD" of a day number into out (at least 16 bytes). */
void report_day_fmt(char *out, size_t outlen, int64_t day);
/* Parses "YYYY-MM-DD" into a day number; returns 0 or -1. */
int report_day_parse(const char *s, int64_t *day);
/* The rank of an incident level: 1 situational_awareness, 2 content_incident,
 * 3 content_incident_protocol, 0 anything else. */
int report_level_rank(const char *level);

#endif
