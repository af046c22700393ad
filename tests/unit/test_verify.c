/* gifctl verify (cli/verify.c) on exports built here with real keys and signatures: the rule
 * that an incident record comes from an agency or from an organisation holding a root grant of
 * the 'incidents' right that precedes it, judged in the file's (the node's acceptance) order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/ctl.h"
#include "util/gif.h"

#define T0 1795000000000ull /* 2026-11-18T11:06:40Z */

struct signer {
    uint8_t pk[PROTO_KEY_LEN], sk[PROTO_SK_LEN];
    uint64_t seq;
    uint8_t prev[PROTO_ID_LEN];
};

/* The consortium of every test: a root, a platform ("Platform B") and an agency ("CTU"). */
struct world {
    char dir[64];
    struct signer root, plat, agency;
    uint64_t clock;
};

/* A signed record's line of an export: {"id": ..., "record": ...}, malloc'd. */
static char *sign_line(struct world *w, struct signer *s, struct proto_record *d)
{
    memcpy(d->origin, s->pk, PROTO_KEY_LEN);
    d->version = 1;
    d->seq = ++s->seq;
    memcpy(d->prev, s->prev, PROTO_ID_LEN);
    d->time_ms = T0 + ++w->clock;
    uint8_t *b;
    size_t bl;
    assert_int_equal(proto_sign(d, s->sk, &b, &bl), 0);
    proto_record_id(s->prev, b, bl);
    char *hex = malloc(2 * bl + 1), id[2 * PROTO_ID_LEN + 1];
    assert_non_null(hex);
    gif_hex(hex, b, bl);
    gif_hex(id, s->prev, PROTO_ID_LEN);
    free(b);
    size_t n = 2 * bl + 128;
    char *line = malloc(n);
    assert_non_null(line);
    snprintf(line, n, "{\"id\":\"%s\",\"record\":\"%s\"}", id, hex);
    free(hex);
    return line;
}

static char *membership(struct world *w, const struct signer *who, const char *org, uint8_t role)
{
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_MEMBERSHIP;
    memcpy(d.u.membership.key, who->pk, PROTO_KEY_LEN);
    d.u.membership.org = (struct proto_str){org, strlen(org)};
    d.u.membership.role = role;
    d.u.membership.not_before_ms = T0 - 1000;
    return sign_line(w, &w->root, &d);
}

static char *grant(struct world *w, const char *org, bool granted)
{
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_GRANT;
    d.u.grant.org = (struct proto_str){org, strlen(org)};
    d.u.grant.right = PROTO_RIGHT_INCIDENTS;
    d.u.grant.granted = granted;
    return sign_line(w, &w->root, &d);
}

static char *incident(struct world *w, struct signer *s)
{
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_INCIDENT;
    d.u.incident.incident = (struct proto_str){"chc-2019", 8};
    d.u.incident.action = PROTO_ACT_ESCALATE;
    d.u.incident.level = PROTO_LEVEL_PROTOCOL;
    return sign_line(w, s, &d);
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    snprintf(w->dir, sizeof w->dir, "/tmp/gifnet-verify.XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    proto_keygen(w->root.pk, w->root.sk);
    proto_keygen(w->plat.pk, w->plat.sk);
    proto_keygen(w->agency.pk, w->agency.sk);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    char p[128];
    static const char *const files[] = {"export.jsonl", "members.jsonl", "out.json"};
    for (size_t i = 0; i < GIF_ARRAY_LEN(files); i++) {
        snprintf(p, sizeof p, "%s/%s", w->dir, files[i]);
        unlink(p);
    }
    rmdir(w->dir);
    free(w);
    return 0;
}

/* Writes lines (freed) to DIR/name. */
static void write_file(const struct world *w, const char *name, char **lines, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", w->dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", lines[i]);
        free(lines[i]);
    }
    assert_int_equal(fclose(f), 0);
}

/* Runs gifctl --json verify DIR/export.jsonl --root ROOT [extra...]; returns the exit code
 * and the JSON summary in *out. */
static int run_verify(const struct world *w, json_t **out, const char *extra1, const char *extra2)
{
    char file[128], outp[128], root[2 * PROTO_KEY_LEN + 1];
    snprintf(file, sizeof file, "%s/export.jsonl", w->dir);
    snprintf(outp, sizeof outp, "%s/out.json", w->dir);
    gif_hex(root, w->root.pk, PROTO_KEY_LEN);
    char *argv[8] = {file, "--root", root, NULL};
    int argc = 3;
    if (extra1) argv[argc++] = (char *)extra1;
    if (extra2) argv[argc++] = (char *)extra2;
    argv[argc] = NULL;
    struct ctl_ctx c = {
        .api = CTL_DEFAULT_API, .json = true, .verb = "verify", .help = ctl_verify_help};
    fflush(stdout);
    int saved = dup(1);
    FILE *f = fopen(outp, "w");
    assert_non_null(f);
    dup2(fileno(f), 1);
    int rc = ctl_verify(&c, argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(f);
    json_error_t je;
    *out = json_load_file(outp, 0, &je);
    assert_non_null(*out);
    return rc;
}

/* Asserts that the summary has exactly one failure, on line `line`, whose reason holds each
 * of the given texts. */
static void one_failure(const json_t *out, int line, const char *has1, const char *has2)
{
    const json_t *fl = json_object_get(out, "failures");
    assert_int_equal(json_array_size(fl), 1);
    const json_t *f0 = json_array_get(fl, 0);
    assert_int_equal(json_integer_value(json_object_get(f0, "line")), line);
    const char *why = json_string_value(json_object_get(f0, "reason"));
    assert_non_null(why);
    if (!strstr(why, has1) || (has2 && !strstr(why, has2)))
        fail_msg("reason '%s' lacks '%s' / '%s'", why, has1, has2 ? has2 : "");
    assert_non_null(strstr(why, "Platform B"));
}

static void test_ungranted_platform_fails(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY), incident(w, &w->plat)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_USAGE);
    one_failure(out, 3, "may not publish incident records", "no root grant");
    json_decref(out);
}

static void test_agency_needs_no_grant(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY), incident(w, &w->agency)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_OK);
    assert_true(json_is_true(json_object_get(out, "ok")));
    json_decref(out);
}

static void test_grant_before_passes(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY), grant(w, "Platform B", true),
                 incident(w, &w->plat)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "failed")), 0);
    json_decref(out);
}

static void test_grant_after_fails(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY), incident(w, &w->plat),
                 grant(w, "Platform B", true)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_USAGE);
    one_failure(out, 3, "no root grant", "root seq 3 comes after it");
    json_decref(out);
}

static void test_other_org_grant_fails(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY), grant(w, "Platform C", true),
                 incident(w, &w->plat)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_USAGE);
    one_failure(out, 4, "no root grant", NULL);
    json_decref(out);
}

/* The record between the grant and its withdrawal passes; the one after fails. */
static void test_withdrawn_grant(void **state)
{
    struct world *w = *state;
    char *l[] = {membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM),
                 membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY),
                 grant(w, "Platform B", true),
                 incident(w, &w->plat),
                 grant(w, "Platform B", false),
                 incident(w, &w->plat)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, NULL, NULL), CTL_USAGE);
    one_failure(out, 6, "withdrew", "root seq 4");
    json_decref(out);
}

/* A grant known only from a members file counts when the root's records in the export show
 * the node held it (a lower root seq than one on an earlier line), not otherwise; with
 * --partial and none of the root's records in the export, it is taken as held before. */
static void test_grant_from_members_file(void **state)
{
    struct world *w = *state;
    char *m1 = membership(w, &w->plat, "Platform B", PROTO_ROLE_PLATFORM);
    char *m2 = membership(w, &w->agency, "CTU", PROTO_ROLE_AGENCY);
    char *g = grant(w, "Platform B", true);
    char *i1 = incident(w, &w->plat);
    char *mem[] = {strdup(m1), strdup(m2), strdup(g)};
    write_file(w, "members.jsonl", mem, GIF_ARRAY_LEN(mem));
    char mp[128];
    snprintf(mp, sizeof mp, "%s/members.jsonl", w->dir);

    /* The export holds root seqs 1 and 2 before the incident record, not the grant (3). */
    char *l[] = {strdup(m1), strdup(m2), strdup(i1)};
    write_file(w, "export.jsonl", l, GIF_ARRAY_LEN(l));
    json_t *out;
    assert_int_equal(run_verify(w, &out, "--members", mp), CTL_USAGE);
    one_failure(out, 3, "no root grant", "root seq 3 comes after it");
    json_decref(out);

    /* An export that starts mid-way, with only the incident record. */
    char *p[] = {strdup(i1)};
    write_file(w, "export.jsonl", p, GIF_ARRAY_LEN(p));
    /* A complete export: nothing of the root precedes the record, so no grant does. */
    assert_int_equal(run_verify(w, &out, "--members", mp), CTL_USAGE);
    one_failure(out, 1, "no root grant", NULL);
    json_decref(out);
    char *p2[] = {strdup(i1)};
    write_file(w, "export.jsonl", p2, GIF_ARRAY_LEN(p2));
    /* With --partial the root's records before the export are taken as held, the grant too. */
    char extra[160];
    snprintf(extra, sizeof extra, "--members=%s", mp);
    assert_int_equal(run_verify(w, &out, extra, "--partial"), CTL_OK);
    json_decref(out);
    free(m1);
    free(m2);
    free(g);
    free(i1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ungranted_platform_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agency_needs_no_grant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_before_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_after_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_org_grant_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_withdrawn_grant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_from_members_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
