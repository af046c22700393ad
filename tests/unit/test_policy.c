/* The local policy: each rule of docs/policy.md, in its order of precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/policy.h"
#include "protocol/record.h"

static struct policy_config defaults(void)
{
    struct node_config c;
    config_defaults(&c);
    return c.policy;
}

static enum policy_verdict decide(const struct policy_config *p, struct policy_input in,
                                  const char *want_rule)
{
    const char *rule = NULL;
    enum policy_verdict v = policy_decide(p, &in, &rule);
    assert_non_null(rule);
    assert_string_equal(rule, want_rule);
    return v;
}

static void test_defaults(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    struct policy_input agency = {.role = PROTO_ROLE_AGENCY, .member = true, .distance = -1};
    struct policy_input platform = {.role = PROTO_ROLE_PLATFORM, .member = true, .distance = -1};
    assert_int_equal(decide(&p, agency, "role"), POLICY_BLOCK);
    assert_int_equal(decide(&p, platform, "default"), POLICY_REVIEW);
    platform.verified = true; /* cannot happen from a platform, but the flag alone blocks */
    assert_int_equal(decide(&p, platform, "verified"), POLICY_BLOCK);
    platform.verified = false;
    platform.orgs_agree = 2;
    assert_int_equal(decide(&p, platform, "agreed"), POLICY_BLOCK);
    platform.orgs_agree = 1;
    assert_int_equal(decide(&p, platform, "default"), POLICY_REVIEW);
}

static void test_precedence(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    struct policy_input in = {.role = PROTO_ROLE_AGENCY, .member = true, .distance = -1};
    in.orgs_dispute = 2;
    assert_int_equal(decide(&p, in, "disputed"), POLICY_REVIEW);
    in.expired = true;
    assert_int_equal(decide(&p, in, "expired"), POLICY_ALLOW);
    in.retracted = true;
    assert_int_equal(decide(&p, in, "retracted"), POLICY_ALLOW);
}

static void test_distance_and_membership(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    p.block_max_distance = 10;
    struct policy_input in = {.role = PROTO_ROLE_AGENCY, .member = true, .distance = 10};
    assert_int_equal(decide(&p, in, "role"), POLICY_BLOCK);
    in.distance = 11;
    assert_int_equal(decide(&p, in, "distance"), POLICY_REVIEW);
    /* An agency that is no longer a member does not block by role. */
    in.distance = 0;
    in.member = false;
    assert_int_equal(decide(&p, in, "default"), POLICY_REVIEW);
}

static void test_configured(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    memset(p.block_role, 0, sizeof p.block_role);
    p.block_min_agree = 0;
    p.review_min_disputes = 0;
    p.dflt = POLICY_ALLOW;
    struct policy_input in = {.role = PROTO_ROLE_AGENCY,
                              .member = true,
                              .distance = -1,
                              .orgs_agree = 50,
                              .orgs_dispute = 50};
    assert_int_equal(decide(&p, in, "default"), POLICY_ALLOW);
    p.block_role[PROTO_ROLE_PLATFORM] = true;
    in.role = PROTO_ROLE_PLATFORM;
    assert_int_equal(decide(&p, in, "role"), POLICY_BLOCK);
    assert_string_equal(policy_verdict_name(POLICY_REVIEW), "review");
}

/* The incident rule: a confirmed, open incident at block_incident_level or above blocks. */
static void test_incident_rule(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    struct policy_input in = {.role = PROTO_ROLE_PLATFORM,
                              .member = true,
                              .distance = -1,
                              .alert = true,
                              .incident_level = PROTO_LEVEL_INCIDENT};
    assert_int_equal(decide(&p, in, "default"), POLICY_REVIEW); /* not confirmed */
    in.incident_confirmed = true;
    assert_int_equal(decide(&p, in, "incident"), POLICY_BLOCK);
    in.incident_level = PROTO_LEVEL_SITUATIONAL;
    assert_int_equal(decide(&p, in, "default"), POLICY_REVIEW);
    in.incident_level = PROTO_LEVEL_PROTOCOL;
    in.incident_concluded = true;
    assert_int_equal(decide(&p, in, "default"), POLICY_REVIEW);
    in.incident_concluded = false;
    in.distance = 40;
    assert_int_equal(decide(&p, in, "distance"), POLICY_REVIEW);
    in.distance = 10;
    in.orgs_dispute = 2;
    assert_int_equal(decide(&p, in, "disputed"), POLICY_REVIEW);
    p.block_incident_level = 0;
    in.orgs_dispute = 0;
    assert_int_equal(decide(&p, in, "default"), POLICY_REVIEW);
}

static struct policy_rule rule(const char *text)
{
    struct policy_rule r;
    char err[256] = "";
    if (policy_rule_parse(text, &r, err, sizeof err) != 0) fail_msg("%s: %s", text, err);
    return r;
}

static void parse_fails(const char *text, const char *want)
{
    struct policy_rule r;
    char err[256] = "";
    assert_int_equal(policy_rule_parse(text, &r, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("'%s': error '%s' lacks '%s'", text, err, want);
}

/* Configured rules: the syntax, each condition, their place before the built-in rules. */
static void test_rules(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    p.rules[p.nrules++] = rule("old-glory: review if label = glorification and age > 365d");
    p.rules[p.nrules++] = rule("crisis: block if incident >= content_incident_protocol and alert");
    p.rules[p.nrules++] =
        rule("trusted-pf: block if role = platform and agree>=1 and not verified");
    p.rules[p.nrules++] = rule("far: allow if distance > 20 and not exact");
    struct proto_str labels[1] = {{"glorification", 13}};
    struct policy_input in = {.role = PROTO_ROLE_AGENCY,
                              .member = true,
                              .distance = -1,
                              .labels = labels,
                              .nlabels = 1,
                              .age_ms = 400 * 86400000ULL};
    /* Configured rules come before the built-in ones (an agency's record would block). */
    assert_int_equal(decide(&p, in, "old-glory"), POLICY_REVIEW);
    in.age_ms = 10 * 86400000ULL;
    assert_int_equal(decide(&p, in, "role"), POLICY_BLOCK);
    /* ... but after retracted and expired. */
    in.age_ms = 400 * 86400000ULL;
    in.retracted = true;
    assert_int_equal(decide(&p, in, "retracted"), POLICY_ALLOW);

    struct policy_input pf = {
        .role = PROTO_ROLE_PLATFORM, .member = true, .distance = -1, .orgs_agree = 1};
    assert_int_equal(decide(&p, pf, "trusted-pf"), POLICY_BLOCK);
    pf.verified = true;
    pf.role = PROTO_ROLE_OBSERVER;
    assert_int_equal(decide(&p, pf, "verified"), POLICY_BLOCK);
    pf.verified = false;
    pf.distance = 25;
    assert_int_equal(decide(&p, pf, "far"), POLICY_ALLOW);
    pf.distance = 20;
    assert_int_equal(decide(&p, pf, "default"), POLICY_REVIEW);

    struct policy_input al = {.role = PROTO_ROLE_PLATFORM,
                              .member = true,
                              .distance = -1,
                              .alert = true,
                              .incident_level = PROTO_LEVEL_PROTOCOL,
                              .incident_confirmed = false};
    assert_int_equal(decide(&p, al, "default"), POLICY_REVIEW); /* unconfirmed counts as 0 */
    al.incident_confirmed = true;
    assert_int_equal(decide(&p, al, "crisis"), POLICY_BLOCK);

    /* Round trip through the formatter. */
    char buf[256];
    policy_rule_format(&p.rules[0], buf, sizeof buf);
    assert_string_equal(buf, "old-glory: review if label = glorification and age > 31536000s");
    struct policy_rule again = rule(buf);
    assert_int_equal(again.cond[1].value, p.rules[0].cond[1].value);
    policy_rule_format(&p.rules[2], buf, sizeof buf);
    assert_string_equal(buf,
                        "trusted-pf: block if role = platform and agree >= 1 and not verified");

    parse_fails("block if verified", "NAME: VERDICT");
    parse_fails("x: maybe if verified", "not a verdict");
    parse_fails("x: block if colour = red", "unknown condition");
    parse_fails("x: block if role = admin", "not a role");
    parse_fails("x: block if label = cats", "taxonomy");
    parse_fails("x: block if age > 3 years", "duration");
    parse_fails("x: block if age > 3y", "duration");
    parse_fails("x: block if incident >= 4", "not a level");
    parse_fails("x: block if agree => 2", "not an operator");
    parse_fails("x: block if role > agency", "= or !=");
    parse_fails("x: block if verified or exact", "joined by 'and'");
    parse_fails("x: block if verified and", "missing");
    parse_fails("x: block if not agree > 1", "'not' goes only");
    parse_fails("Urgent: block if verified", "a-z");
    parse_fails("x: block if exact and exact and exact and exact and exact and exact and exact "
                "and exact and exact",
                "more than 8");
}

struct seen {
    char names[64][40];
    bool applies[64], decided[64];
    int n;
};

static void explain_cb(void *ctx, const char *rule, enum policy_verdict v, bool applies,
                       bool decided)
{
    struct seen *s = ctx;
    (void)v;
    snprintf(s->names[s->n], sizeof s->names[0], "%s", rule);
    s->applies[s->n] = applies;
    s->decided[s->n++] = decided;
}

/* explain walks every rule in order and marks the one that decided, as decide picks it. */
static void test_explain(void **state)
{
    (void)state;
    struct policy_config p = defaults();
    p.rules[p.nrules++] = rule("never-observers: allow if role = observer");
    struct policy_input in = {.role = PROTO_ROLE_AGENCY, .member = true, .distance = 40};
    struct seen s = {0};
    const char *r;
    enum policy_verdict v = policy_explain(&p, &in, explain_cb, &s);
    assert_int_equal(v, policy_decide(&p, &in, &r));
    assert_string_equal(r, "distance");
    const char *order[] = {"retracted", "expired", "never-observers", "disputed", "incident",
                           "verified",  "role",    "agreed",          "distance", "default"};
    assert_int_equal(s.n, 10);
    int decided = 0;
    for (int i = 0; i < s.n; i++) {
        assert_string_equal(s.names[i], order[i]);
        decided += s.decided[i];
    }
    assert_int_equal(decided, 1);
    assert_true(s.applies[6]);  /* role applies ... */
    assert_false(s.decided[6]); /* ... but distance decides */
    assert_true(s.decided[8]);
    assert_true(s.applies[9]); /* default always applies */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_distance_and_membership),
        cmocka_unit_test(test_configured),
        cmocka_unit_test(test_incident_rule),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
