/*
 * The local policy: block, review or allow for one match. Pure: no I/O, no state, so that
 * `gifctl policy explain` and the tests can run it as the node does. Rules in docs/policy.md.
 */
#ifndef GIF_NODE_POLICY_H
#define GIF_NODE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
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
    bool alert;   /* the match is a signal an alert carries */
    /* The signal's (or alert's) incident, if any: */
    uint8_t incident_level; /* enum proto_level in force; 0 without an incident */
    bool incident_confirmed;
    bool incident_concluded;
    uint64_t age_ms; /* now minus the record's time (0 if in the future) */
    size_t nlabels;
    const struct proto_str *labels;
};

/* Fields a configured condition tests. */
enum policy_field {
    PF_ROLE = 1, /* role = agency|platform|observer */
    PF_VERIFIED, /* verified */
    PF_LABEL,    /* label = NAME */
    PF_AGREE,    /* agree OP N: organisations agreeing */
    PF_DISPUTE,  /* dispute OP N */
    PF_INCIDENT, /* incident OP LEVEL: confirmed, open incident's level (0 if none) */
    PF_AGE,      /* age OP DURATION (s, m, h, d) */
    PF_DISTANCE, /* distance OP N (an exact match has distance 0 here) */
    PF_EXACT,    /* exact */
    PF_ALERT,    /* alert: the match comes from an alert's signals */
    PF_MEMBER,   /* member: the origin is a current member */
};
enum policy_op { PO_EQ = 1, PO_NE, PO_LT, PO_LE, PO_GT, PO_GE, PO_TRUE };

/* Decides; *rule names the rule that decided (a static string or a configured rule's name,
 * valid as long as p). */
enum policy_verdict policy_decide(const struct policy_config *p, const struct policy_input *in,
                                  const char **rule);
const char *policy_verdict_name(enum policy_verdict v);
int policy_verdict_parse(const char *s, enum policy_verdict *out);

/*
 * Every rule in the order they are tried, for `gifctl policy explain`: cb gets the rule's
 * name, the verdict it gives, whether it applies to in, and whether it is the one that
 * decided (the first that applies; the distance rule can turn a blocking rule's verdict into
 * review). Returns the verdict, as policy_decide.
 */
typedef void (*policy_explain_cb)(void *ctx, const char *rule, enum policy_verdict verdict,
                                  bool applies, bool decided);
enum policy_verdict policy_explain(const struct policy_config *p, const struct policy_input *in,
                                   policy_explain_cb cb, void *ctx);

/* Parses one `rule = ...` value into *out. Returns 0, or -1 with a sentence in err. */
int policy_rule_parse(const char *text, struct policy_rule *out, char *err, size_t errlen);
/* Writes a rule back in the syntax it was parsed from. */
void policy_rule_format(const struct policy_rule *r, char *buf, size_t len);

#endif
