/*
 * The local policy: block, review or allow for one match. Pure: no I/O, no state, so that
 * `gifctl policy explain` and the tests can run it as the node does. Rules in docs/policy.md.
 */
#ifndef GIF_NODE_POLICY_H
#define GIF_NODE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "node/config.h"

struct policy_input {
    uint8_t role;  /* origin's role (enum proto_role), 0 if unknown */
    bool member;   /* origin is a current member */
    bool verified; /* signal marked verified by an agency */
    bool retracted;
    bool expired; /* signal's expiry has passed */
    uint32_t orgs_agree;
    uint32_t orgs_dispute;
    int distance; /* -1 for an exact match */
};

/* Decides; *rule names the rule that decided (a static string). */
enum policy_verdict policy_decide(const struct policy_config *p, const struct policy_input *in,
                                  const char **rule);
const char *policy_verdict_name(enum policy_verdict v);

#endif
