#include "node/policy.h"

const char *policy_verdict_name(enum policy_verdict v)
{
    switch (v) {
    case POLICY_BLOCK:
        return "block";
    case POLICY_REVIEW:
        return "review";
    default:
        return "allow";
    }
}

enum policy_verdict policy_decide(const struct policy_config *p, const struct policy_input *in,
                                  const char **rule)
{
    /* Withdrawals first: nothing withdrawn or stale ever blocks. */
    if (in->retracted) {
        *rule = "retracted";
        return POLICY_ALLOW;
    }
    if (in->expired) {
        *rule = "expired";
        return POLICY_ALLOW;
    }
    /* A record several organisations dispute goes to a person, whoever published it. */
    if (p->review_min_disputes && in->orgs_dispute >= p->review_min_disputes) {
        *rule = "disputed";
        return POLICY_REVIEW;
    }
    enum policy_verdict v = POLICY_ALLOW;
    const char *why = NULL;
    if (p->block_verified && in->verified)
        v = POLICY_BLOCK, why = "verified";
    else if (in->role < 4 && p->block_role[in->role] && in->member)
        v = POLICY_BLOCK, why = "role";
    else if (p->block_min_agree && in->orgs_agree >= p->block_min_agree)
        v = POLICY_BLOCK, why = "agreed";
    if (v == POLICY_BLOCK && in->distance > p->block_max_distance) {
        *rule = "distance";
        return POLICY_REVIEW;
    }
    if (v == POLICY_BLOCK) {
        *rule = why;
        return v;
    }
    *rule = "default";
    return p->dflt;
}
