/*
 * The local policy (docs/policy.md): the rules as one ordered list of steps, each with the
 * verdict it gives and whether it applies, so that deciding and explaining walk the same list.
 */
#include "node/policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int policy_verdict_parse(const char *s, enum policy_verdict *out)
{
    if (strcmp(s, "block") == 0)
        *out = POLICY_BLOCK;
    else if (strcmp(s, "review") == 0)
        *out = POLICY_REVIEW;
    else if (strcmp(s, "allow") == 0)
        *out = POLICY_ALLOW;
    else
        return -1;
    return 0;
}

/* ---- Evaluation. */

static bool cmp(int64_t a, uint8_t op, int64_t b)
{
    switch (op) {
    case PO_EQ:
        return a == b;
    case PO_NE:
        return a != b;
    case PO_LT:
        return a < b;
    case PO_LE:
        return a <= b;
    case PO_GT:
        return a > b;
    case PO_GE:
        return a >= b;
    default:
        return false;
    }
}

/* A boolean field: PO_TRUE tests it, PO_NE ("not") its negation. */
static bool flag(bool v, uint8_t op)
{
    return op == PO_NE ? !v : v;
}

static bool cond_holds(const struct policy_cond *c, const struct policy_input *in)
{
    switch (c->what) {
    case PF_ROLE:
        return cmp(in->role, c->op, c->value);
    case PF_VERIFIED:
        return flag(in->verified, c->op);
    case PF_LABEL: {
        bool has = false;
        size_t n = strlen(c->label);
        for (size_t i = 0; i < in->nlabels && !has; i++)
            has = in->labels[i].n == n && memcmp(in->labels[i].p, c->label, n) == 0;
        return c->op == PO_NE ? !has : has;
    }
    case PF_AGREE:
        return cmp(in->orgs_agree, c->op, c->value);
    case PF_DISPUTE:
        return cmp(in->orgs_dispute, c->op, c->value);
    case PF_INCIDENT: {
        int level = in->incident_confirmed && !in->incident_concluded ? in->incident_level : 0;
        return cmp(level, c->op, c->value);
    }
    case PF_AGE:
        return cmp(in->age_ms > INT64_MAX ? INT64_MAX : (int64_t)in->age_ms, c->op, c->value);
    case PF_DISTANCE:
        return cmp(in->distance < 0 ? 0 : in->distance, c->op, c->value);
    case PF_EXACT:
        return flag(in->distance < 0, c->op);
    case PF_ALERT:
        return flag(in->alert, c->op);
    case PF_MEMBER:
        return flag(in->member, c->op);
    default:
        return false;
    }
}

static bool rule_applies(const struct policy_rule *r, const struct policy_input *in)
{
    for (size_t i = 0; i < r->ncond; i++)
        if (!cond_holds(&r->cond[i], in)) return false;
    return true;
}

#define STEPS_MAX (POLICY_RULES_MAX + 8)
struct step {
    const char *name;
    enum policy_verdict verdict;
    bool applies;
    bool demotable; /* a built-in blocking rule: the distance rule caps it at review */
};

/* Every rule in the order tried. */
static size_t steps(const struct policy_config *p, const struct policy_input *in, struct step *s)
{
    size_t n = 0;
    /* Withdrawals first: nothing withdrawn or stale ever blocks. */
    s[n++] = (struct step){"retracted", POLICY_ALLOW, in->retracted, false};
    s[n++] = (struct step){"expired", POLICY_ALLOW, in->expired, false};
    for (size_t i = 0; i < p->nrules && i < POLICY_RULES_MAX; i++)
        s[n++] = (struct step){p->rules[i].name, p->rules[i].verdict,
                               rule_applies(&p->rules[i], in), false};
    /* A record several organisations dispute goes to a person, whoever published it. */
    s[n++] =
        (struct step){"disputed", POLICY_REVIEW,
                      p->review_min_disputes && in->orgs_dispute >= p->review_min_disputes, false};
    s[n++] =
        (struct step){"incident", POLICY_BLOCK,
                      p->block_incident_level && in->incident_confirmed &&
                          !in->incident_concluded && in->incident_level >= p->block_incident_level,
                      true};
    s[n++] = (struct step){"verified", POLICY_BLOCK, p->block_verified && in->verified, true};
    s[n++] = (struct step){"role", POLICY_BLOCK,
                           in->role < 4 && p->block_role[in->role] && in->member, true};
    s[n++] = (struct step){"agreed", POLICY_BLOCK,
                           p->block_min_agree && in->orgs_agree >= p->block_min_agree, true};
    bool demote = false;
    for (size_t i = 0; i < n; i++)
        demote = demote || (s[i].demotable && s[i].applies);
    s[n++] = (struct step){"distance", POLICY_REVIEW,
                           demote && in->distance > p->block_max_distance, false};
    s[n++] = (struct step){"default", p->dflt, true, false};
    return n;
}

/* Index of the step that decides: the first that applies, or "distance" for a demoted one. */
static size_t decide_step(const struct policy_config *p, const struct policy_input *in,
                          const struct step *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!s[i].applies) continue;
        /* steps() ends with "distance", then "default". */
        if (s[i].demotable && in->distance > p->block_max_distance) return n - 2;
        return i;
    }
    return n - 1;
}

enum policy_verdict policy_decide(const struct policy_config *p, const struct policy_input *in,
                                  const char **rule)
{
    struct step s[STEPS_MAX];
    size_t n = steps(p, in, s);
    size_t d = decide_step(p, in, s, n);
    *rule = s[d].name;
    return s[d].verdict;
}

enum policy_verdict policy_explain(const struct policy_config *p, const struct policy_input *in,
                                   policy_explain_cb cb, void *ctx)
{
    struct step s[STEPS_MAX];
    size_t n = steps(p, in, s);
    size_t d = decide_step(p, in, s, n);
    for (size_t i = 0; i < n; i++)
        cb(ctx, s[i].name, s[i].verdict, s[i].applies, i == d);
    return s[d].verdict;
}

/* ---- The rule syntax: NAME: VERDICT if COND [and COND]... */

static const struct {
    const char *name;
    uint8_t what;
    bool boolean;
} fields[] = {
    {"role", PF_ROLE, false},   {"verified", PF_VERIFIED, true},  {"label", PF_LABEL, false},
    {"agree", PF_AGREE, false}, {"dispute", PF_DISPUTE, false},   {"incident", PF_INCIDENT, false},
    {"age", PF_AGE, false},     {"distance", PF_DISTANCE, false}, {"exact", PF_EXACT, true},
    {"alert", PF_ALERT, true},  {"member", PF_MEMBER, true},
};
static const char *const ops[] = {NULL, "=", "!=", "<", "<=", ">", ">="};

/* Splits text into words and operators. Returns the count, or -1 if there are too many. */
static int lex(const char *text, char tok[][64], int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (n == max) return -1;
        size_t len = 0;
        if (strchr("=!<>:", *p)) {
            while (p[len] && strchr("=!<>", p[len]) && len < 2)
                len++;
            if (len == 0) len = 1; /* ':' */
        } else {
            while (p[len] && !isspace((unsigned char)p[len]) && !strchr("=!<>:", p[len]))
                len++;
        }
        if (len >= 64) return -1;
        memcpy(tok[n], p, len);
        tok[n][len] = '\0';
        n++;
        p += len;
    }
    return n;
}

static int fail(char *err, size_t errlen, const char *msg, const char *tok)
{
    snprintf(err, errlen, "%s%s%s%s", msg, tok ? " ('" : "", tok ? tok : "", tok ? "')" : "");
    return -1;
}

static int parse_uint(const char *s, int64_t max, int64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*s)) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > (unsigned long long)max) return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    if (!isdigit((unsigned char)*s)) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    int64_t unit;
    if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 86400 * 1000LL;
    else if (strcmp(end, "w") == 0)
        unit = 7 * 86400 * 1000LL;
    else
        return -1;
    if (v > (unsigned long long)(INT64_MAX / unit)) return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

static int parse_value(struct policy_cond *c, const char *v, char *err, size_t errlen)
{
    uint8_t b;
    switch (c->what) {
    case PF_ROLE:
        if (proto_role_parse(v, &b))
            return fail(err, errlen, "not a role: agency, platform, observer", v);
        c->value = b;
        return 0;
    case PF_LABEL:
        if (!proto_label_known(v, strlen(v)))
            return fail(err, errlen, "not a label of the taxonomy (docs/protocol.md)", v);
        snprintf(c->label, sizeof c->label, "%s", v);
        return 0;
    case PF_INCIDENT:
        if (proto_level_parse(v, &b) == 0) {
            c->value = b;
            return 0;
        }
        if (parse_uint(v, 3, &c->value) == 0) return 0;
        return fail(err, errlen,
                    "not a level: situational_awareness, content_incident, "
                    "content_incident_protocol, or 0 to 3",
                    v);
    case PF_AGE:
        if (parse_duration(v, &c->value))
            return fail(err, errlen, "not a duration such as 90s, 30m, 12h, 7d or 2w", v);
        return 0;
    default: /* agree, dispute, distance */
        if (parse_uint(v, 1000000, &c->value)) return fail(err, errlen, "not a number", v);
        return 0;
    }
}

int policy_rule_parse(const char *text, struct policy_rule *out, char *err, size_t errlen)
{
    char tok[64][64];
    memset(out, 0, sizeof *out);
    int n = lex(text, tok, 64);
    if (n < 0) return fail(err, errlen, "rule too long", NULL);
    if (n < 5 || strcmp(tok[1], ":") != 0 || strcmp(tok[3], "if") != 0)
        return fail(err, errlen, "a rule reads 'NAME: VERDICT if CONDITION [and CONDITION]...'",
                    NULL);
    size_t nl = strlen(tok[0]);
    if (nl > POLICY_NAME_MAX) return fail(err, errlen, "rule name longer than 32", tok[0]);
    for (size_t i = 0; i < nl; i++)
        if (!islower((unsigned char)tok[0][i]) && !isdigit((unsigned char)tok[0][i]) &&
            tok[0][i] != '_' && tok[0][i] != '-')
            return fail(err, errlen, "rule names use a-z, 0-9, _ and -", tok[0]);
    memcpy(out->name, tok[0], nl + 1);
    if (policy_verdict_parse(tok[2], &out->verdict))
        return fail(err, errlen, "not a verdict: block, review or allow", tok[2]);
    int i = 4;
    while (1) {
        if (out->ncond == POLICY_CONDS_MAX)
            return fail(err, errlen, "more than 8 conditions", NULL);
        struct policy_cond *c = &out->cond[out->ncond];
        bool neg = false;
        if (i < n && strcmp(tok[i], "not") == 0) neg = true, i++;
        if (i >= n) return fail(err, errlen, "a condition is missing at the end", NULL);
        size_t f = 0;
        while (f < sizeof fields / sizeof fields[0] && strcmp(fields[f].name, tok[i]) != 0)
            f++;
        if (f == sizeof fields / sizeof fields[0])
            return fail(err, errlen,
                        "unknown condition (role, label, verified, agree, dispute, incident, "
                        "age, distance, exact, alert, member)",
                        tok[i]);
        c->what = fields[f].what;
        i++;
        if (fields[f].boolean) {
            c->op = neg ? PO_NE : PO_TRUE;
        } else {
            if (neg)
                return fail(err, errlen, "'not' goes only before verified, exact, alert or member",
                            tok[i - 1]);
            if (i + 1 >= n)
                return fail(err, errlen, "a comparison needs an operator and a value", tok[i - 1]);
            c->op = 0;
            for (uint8_t o = PO_EQ; o <= PO_GE; o++)
                if (strcmp(ops[o], tok[i]) == 0) c->op = o;
            if (!c->op) return fail(err, errlen, "not an operator: =, !=, <, <=, >, >=", tok[i]);
            if ((c->what == PF_ROLE || c->what == PF_LABEL) && c->op != PO_EQ && c->op != PO_NE)
                return fail(err, errlen, "role and label compare with = or != only", tok[i]);
            if (parse_value(c, tok[i + 1], err, errlen)) return -1;
            i += 2;
        }
        out->ncond++;
        if (i == n) break;
        if (strcmp(tok[i], "and") != 0)
            return fail(err, errlen, "conditions are joined by 'and'", tok[i]);
        i++;
    }
    return 0;
}

void policy_rule_format(const struct policy_rule *r, char *buf, size_t len)
{
    size_t off = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__);                      \
        if (w_ > 0) off += (size_t)w_;                                                             \
    } while (0)
    if (len) buf[0] = '\0';
    PUT("%s: %s if", r->name, policy_verdict_name(r->verdict));
    for (size_t i = 0; i < r->ncond; i++) {
        const struct policy_cond *c = &r->cond[i];
        const char *fname = "?";
        bool boolean = false;
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (fields[f].what == c->what) fname = fields[f].name, boolean = fields[f].boolean;
        PUT("%s", i ? " and" : "");
        if (boolean) {
            PUT(" %s%s", c->op == PO_NE ? "not " : "", fname);
            continue;
        }
        const char *op = c->op <= PO_GE ? ops[c->op] : "?";
        if (c->what == PF_ROLE)
            PUT(" role %s %s", op, proto_role_name((uint8_t)c->value));
        else if (c->what == PF_LABEL)
            PUT(" label %s %s", op, c->label);
        else if (c->what == PF_INCIDENT)
            PUT(" incident %s %s", op, c->value ? proto_level_name((uint8_t)c->value) : "0");
        else if (c->what == PF_AGE)
            PUT(" age %s %llds", op, (long long)(c->value / 1000));
        else
            PUT(" %s %s %lld", fname, op, (long long)c->value);
    }
#undef PUT
}
