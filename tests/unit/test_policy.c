/* The local policy: each rule of docs/policy.md, in its order of precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_distance_and_membership),
        cmocka_unit_test(test_configured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
