/*
 * gifctl verify: check an export offline, with nothing but the consortium's root key.
 *
 * Two passes over the file, so that memory stays bounded by the number of origins and members
 * rather than the number of records: the first collects the root-signed membership,
 * revocation and grant records (from --members / the consortium's members.jsonl and from the
 * file itself); the second checks every line: decoding, signature, the line's id, the
 * per-origin chain (seq + 1, prev = the previous record's id), membership at the record's
 * time, role, and for an incident record the grant that let a non-agency publish it.
 *
 * Grants are judged in order, as a node judges them when it accepts the incident record (the
 * root's latest grant it holds at that moment is in force): an export lists records in the
 * node's acceptance order, and a node accepts the root's records in seq order, so the grants
 * in force at a line are those of root seq at most the highest root seq on an earlier line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/ctl.h"
#include "protocol/keyfile.h"
#include "util/gif.h"

#define VERIFY_LINE_MAX (2u * PROTO_RECORD_MAX + 64u * 1024) /* hex record plus JSON fields */
#define VERIFY_FAIL_MAX 10000u /* failures kept for --json; all are counted and printed */

const char ctl_verify_help[] =
    "Usage: gifctl verify FILE (--consortium DIR | --root HEX) [--members FILE] [--partial]\n"
    "\n"
    "Check an export (gifctl export, JSON Lines with a \"record\" field of signed hex) offline:\n"
    "each record's encoding and Ed25519 signature, its id, its origin's chain (seq goes up by\n"
    "one, prev names the previous record), that the origin was a member at the record's time\n"
    "(from membership and revocation records signed by the root: those in --members, in the\n"
    "consortium's members.jsonl, and in FILE itself), and that its role may publish it: an\n"
    "incident record comes from an agency, or from an organisation that a root grant of the\n"
    "'incidents' right on an earlier line of FILE (or at a lower root seq than one there)\n"
    "left holding it.\n"
    "Prints 'line N: ID: reason' for each failure and a summary. Exit 0 when every record\n"
    "passes, 2 when any fails.\n"
    "\n"
    "Options:\n"
    "  --consortium DIR  take the root key (root.pub) and members.jsonl from DIR\n"
    "  --root HEX        or give the root public key\n"
    "  --members FILE    a members.jsonl to take memberships from (repeatable)\n"
    "  --partial         allow an origin's first record in FILE to be past seq 1\n"
    "                    (an export that starts mid-way; grants below the root's first seq\n"
    "                    in FILE, or all when FILE has none of the root's records, are\n"
    "                    taken as held before FILE starts)\n"
    "\n"
    "Example:\n"
    "  gifctl export --out records.jsonl && gifctl verify records.jsonl --consortium "
    "./consortium\n";

/* ---- Membership table built in pass 1. */

struct rootrec { /* one root-signed record, kept decoded-field-wise (buffers are freed) */
    uint64_t seq;
    uint8_t kind;
    uint8_t key[PROTO_KEY_LEN]; /* membership, revocation */
    uint8_t role;
    uint64_t nb, na, time;
    char org[PROTO_NAME_MAX + 1]; /* membership, grant */
    uint8_t right;                /* grant */
    bool granted;                 /* grant */
};

struct member {
    uint8_t key[PROTO_KEY_LEN];
    uint8_t role;
    uint64_t nb, na;
    uint64_t revoked_ms; /* UINT64_MAX: not revoked */
    char org[PROTO_NAME_MAX + 1];
};

struct vstate {
    uint8_t root[PROTO_KEY_LEN];
    struct rootrec *rr;
    size_t nrr, caprr;
    struct member *mem;
    size_t nmem;
    /* per-origin chain heads: open addressing on the key's first bytes */
    struct head {
        bool used;
        bool prev_known; /* false after a record whose bytes failed: skip the next prev check */
        uint8_t origin[PROTO_KEY_LEN];
        uint64_t seq;
        uint8_t id[PROTO_ID_LEN];
    } * heads;
    size_t nheads, capheads;
    bool partial;
    uint64_t file_root_min; /* lowest root seq among FILE's root records; UINT64_MAX: none */
    uint64_t root_seen;     /* highest root seq on the lines checked so far */
    unsigned long records, failed;
    json_t *failures; /* for --json */
};

static int rr_add(struct vstate *v, const struct proto_record *r)
{
    if (gif_grow(&v->rr, &v->caprr, v->nrr + 1, sizeof *v->rr, 64)) return -ENOMEM;
    struct rootrec *x = &v->rr[v->nrr++];
    memset(x, 0, sizeof *x);
    x->seq = r->seq;
    x->kind = r->kind;
    x->time = r->time_ms;
    if (r->kind == PROTO_MEMBERSHIP) {
        memcpy(x->key, r->u.membership.key, PROTO_KEY_LEN);
        x->role = r->u.membership.role;
        x->nb = r->u.membership.not_before_ms;
        x->na = r->u.membership.not_after_ms;
        memcpy(x->org, r->u.membership.org.p, r->u.membership.org.n); /* n <= PROTO_NAME_MAX */
    } else if (r->kind == PROTO_GRANT) {
        memcpy(x->org, r->u.grant.org.p, r->u.grant.org.n);
        x->right = r->u.grant.right;
        x->granted = r->u.grant.granted;
    } else {
        memcpy(x->key, r->u.revocation.key, PROTO_KEY_LEN);
    }
    return 0;
}

/* Takes the root-signed, correctly signed membership, revocation and grant records of a JSON
 * Lines file. Bad lines are ignored here: pass 2 reports the ones in FILE (strict false); a
 * members file (strict) must be sound. */
static int collect_roots(struct vstate *v, const char *path, bool strict)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ctl_err("%s: %s", path, strerror(errno));
        return CTL_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    long len;
    unsigned long lineno = 0;
    int ec = 0;
    while ((len = ctl_readline(f, &line, &cap, VERIFY_LINE_MAX)) != -1) {
        lineno++;
        if (len <= 0) continue;
        uint8_t *b;
        size_t bl;
        if (ctl_line_record(line, &b, &bl)) continue;
        struct proto_record r;
        bool ok =
            proto_decode(&r, b, bl) == 0 &&
            (r.kind == PROTO_MEMBERSHIP || r.kind == PROTO_REVOCATION || r.kind == PROTO_GRANT);
        if (ok && (memcmp(r.origin, v->root, PROTO_KEY_LEN) != 0 || proto_verify(&r) != 0)) {
            if (strict) {
                ctl_err("%s:%lu: membership record not signed by the root key given", path, lineno);
                ec = CTL_USAGE;
            }
            ok = false;
        }
        if (ok && rr_add(v, &r) != 0) ec = CTL_USAGE;
        if (ok && !strict && r.seq < v->file_root_min) v->file_root_min = r.seq;
        free(b);
        if (ec) break;
    }
    free(line);
    fclose(f);
    return ec;
}

static int cmp_rr(const void *a, const void *b)
{
    const struct rootrec *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_mem(const void *a, const void *b)
{
    return memcmp(((const struct member *)a)->key, ((const struct member *)b)->key, PROTO_KEY_LEN);
}

static struct member *mem_find(struct vstate *v, const uint8_t key[PROTO_KEY_LEN])
{
    struct member k;
    memcpy(k.key, key, PROTO_KEY_LEN);
    return v->nmem ? bsearch(&k, v->mem, v->nmem, sizeof k, cmp_mem) : NULL;
}

/* Applies the root records in seq order as a node does: the latest membership of a key is in
 * force; a revocation is permanent and keeps the first revocation's time. */
static int build_members(struct vstate *v)
{
    if (v->nrr) qsort(v->rr, v->nrr, sizeof *v->rr, cmp_rr);
    v->mem = calloc(v->nrr ? v->nrr : 1, sizeof *v->mem);
    if (!v->mem) return -ENOMEM;
    for (size_t i = 0; i < v->nrr; i++) {
        const struct rootrec *x = &v->rr[i];
        if (i > 0 && v->rr[i - 1].seq == x->seq) continue; /* the same record from two files */
        if (x->kind == PROTO_GRANT) continue;              /* judged per line: grant_problem */
        struct member *m = NULL;
        for (size_t j = 0; j < v->nmem; j++)
            if (memcmp(v->mem[j].key, x->key, PROTO_KEY_LEN) == 0) m = &v->mem[j];
        if (x->kind == PROTO_REVOCATION) {
            if (m && m->revoked_ms == UINT64_MAX) m->revoked_ms = x->time;
            continue;
        }
        if (!m) {
            m = &v->mem[v->nmem++];
            memcpy(m->key, x->key, PROTO_KEY_LEN);
            m->revoked_ms = UINT64_MAX;
        }
        m->role = x->role;
        m->nb = x->nb;
        m->na = x->na;
        memcpy(m->org, x->org, sizeof m->org);
    }
    if (v->nmem) qsort(v->mem, v->nmem, sizeof *v->mem, cmp_mem);
    return 0;
}

/* ---- Chain heads. */

static struct head *head_get(struct vstate *v, const uint8_t origin[PROTO_KEY_LEN])
{
    if (2 * (v->nheads + 1) > v->capheads) {
        size_t ncap = v->capheads ? 2 * v->capheads : 256;
        struct head *nh = calloc(ncap, sizeof *nh);
        if (!nh) return NULL;
        for (size_t i = 0; i < v->capheads; i++) {
            if (!v->heads[i].used) continue;
            uint64_t hv;
            memcpy(&hv, v->heads[i].origin, sizeof hv);
            size_t j = hv & (ncap - 1);
            while (nh[j].used)
                j = (j + 1) & (ncap - 1);
            nh[j] = v->heads[i];
        }
        free(v->heads);
        v->heads = nh;
        v->capheads = ncap;
    }
    uint64_t hv;
    memcpy(&hv, origin, sizeof hv); /* keys are uniformly random: their bytes are a hash */
    size_t j = hv & (v->capheads - 1);
    while (v->heads[j].used) {
        if (memcmp(v->heads[j].origin, origin, PROTO_KEY_LEN) == 0) return &v->heads[j];
        j = (j + 1) & (v->capheads - 1);
    }
    struct head *h = &v->heads[j];
    h->used = true;
    memcpy(h->origin, origin, PROTO_KEY_LEN);
    v->nheads++;
    return h;
}

static struct head *head_find(struct vstate *v, const uint8_t origin[PROTO_KEY_LEN])
{
    if (!v->capheads) return NULL;
    uint64_t hv;
    memcpy(&hv, origin, sizeof hv);
    for (size_t j = hv & (v->capheads - 1); v->heads[j].used; j = (j + 1) & (v->capheads - 1))
        if (memcmp(v->heads[j].origin, origin, PROTO_KEY_LEN) == 0) return &v->heads[j];
    return NULL;
}

/* ---- Pass 2. */

static void fail(struct vstate *v, unsigned long lineno, const uint8_t *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct vstate *v, unsigned long lineno, const uint8_t *id, const char *fmt, ...)
{
    char why[512], hex[2 * PROTO_ID_LEN + 1] = "-", sh[CTL_SHORT_ID + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (id) gif_hex(hex, id, PROTO_ID_LEN);
    v->failed++;
    /* With --json the text goes to stderr so that stdout is one JSON document. */
    fprintf(v->failures ? stderr : stdout, "line %lu: %s: %s\n", lineno,
            id ? ctl_short(sh, hex) : "-", why);
    if (v->failures && json_array_size(v->failures) < VERIFY_FAIL_MAX)
        json_array_append_new(v->failures, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)lineno,
                                                     "id", hex, "reason", why));
}

static void short_key(char out[CTL_SHORT_ID + 1], const uint8_t key[PROTO_KEY_LEN])
{
    char hex[2 * PROTO_KEY_LEN + 1];
    gif_hex(hex, key, PROTO_KEY_LEN);
    ctl_short(out, hex);
}

/* Whether m's organisation held the incidents right when the record on this line was
 * accepted: the root's latest grant for it among those known to precede the line (root seq
 * at most the highest on an earlier line; with --partial also those below the root's first
 * seq in FILE, or all when FILE has none). Returns a reason or NULL. */
static const char *grant_problem(const struct vstate *v, const struct member *m, const char *sk,
                                 char *buf, size_t buflen)
{
    uint64_t bound = v->root_seen;
    if (v->partial && v->file_root_min > 0 && v->file_root_min - 1 > bound)
        bound = v->file_root_min - 1; /* UINT64_MAX - 1 when FILE has none of the root's */
    const struct rootrec *in_force = NULL, *later = NULL;
    for (size_t i = 0; i < v->nrr; i++) { /* sorted by seq */
        const struct rootrec *x = &v->rr[i];
        if (x->kind != PROTO_GRANT || x->right != PROTO_RIGHT_INCIDENTS ||
            strcmp(x->org, m->org) != 0)
            continue;
        if (x->seq <= bound)
            in_force = x;
        else if (!later && x->granted)
            later = x;
    }
    if (in_force && in_force->granted) return NULL;
    char after[96] = "";
    if (later)
        snprintf(after, sizeof after, "; the grant at root seq %llu comes after it",
                 (unsigned long long)later->seq);
    if (in_force)
        snprintf(buf, buflen,
                 "origin %s (%s, a %s) may not publish incident records: the root withdrew "
                 "the 'incidents' right of '%s' (root seq %llu) before this record%s",
                 sk, m->org, proto_role_name(m->role), m->org, (unsigned long long)in_force->seq,
                 after);
    else
        snprintf(buf, buflen,
                 "origin %s (%s, a %s) may not publish incident records: no root grant of the "
                 "'incidents' right to '%s' precedes this record%s",
                 sk, m->org, proto_role_name(m->role), m->org, after);
    return buf;
}

/* Membership and role at the record's time; returns a reason or NULL. */
static const char *origin_problem(struct vstate *v, const struct proto_record *r, char *buf,
                                  size_t buflen)
{
    bool from_root = memcmp(r->origin, v->root, PROTO_KEY_LEN) == 0;
    if (r->kind == PROTO_MEMBERSHIP || r->kind == PROTO_REVOCATION || r->kind == PROTO_GRANT)
        return from_root ? NULL
                         : "membership, revocation and grant records must be signed by the root";
    if (from_root) return "the root key publishes only membership, revocation and grant records";
    char sk[CTL_SHORT_ID + 1], t1[40], t2[40];
    short_key(sk, r->origin);
    const struct member *m = mem_find(v, r->origin);
    if (!m) {
        snprintf(buf, buflen, "origin %s is not a member of the consortium", sk);
        return buf;
    }
    if (m->revoked_ms <= r->time_ms) {
        gif_time_fmt(t1, sizeof t1, m->revoked_ms);
        snprintf(buf, buflen, "origin %s was revoked at %s, before this record", sk, t1);
        return buf;
    }
    if (r->time_ms < m->nb || (m->na && r->time_ms > m->na)) {
        gif_time_fmt(t1, sizeof t1, r->time_ms);
        gif_time_fmt(t2, sizeof t2, r->time_ms < m->nb ? m->nb : m->na);
        snprintf(buf, buflen, "origin %s was not a member at %s (membership %s %s)", sk, t1,
                 r->time_ms < m->nb ? "starts" : "ended", t2);
        return buf;
    }
    if (m->role != PROTO_ROLE_AGENCY && m->role != PROTO_ROLE_PLATFORM) {
        snprintf(buf, buflen, "origin %s is an %s, which publishes nothing", sk,
                 proto_role_name(m->role) ? proto_role_name(m->role) : "unknown role");
        return buf;
    }
    if (r->kind == PROTO_SIGNAL && r->u.signal.verified && m->role != PROTO_ROLE_AGENCY)
        return "only an agency may mark a signal verified";
    if (r->kind == PROTO_INCIDENT && m->role != PROTO_ROLE_AGENCY)
        return grant_problem(v, m, sk, buf, buflen);
    return NULL;
}

static void check_line(struct vstate *v, unsigned long lineno, const char *line)
{
    uint8_t *b;
    size_t bl;
    const char *why = ctl_line_record(line, &b, &bl);
    v->records++;
    if (why) {
        fail(v, lineno, NULL, "%s", why);
        return;
    }
    struct proto_record r;
    int rc = proto_decode(&r, b, bl);
    if (rc != 0) {
        uint8_t id[PROTO_ID_LEN];
        proto_record_id(id, b, bl);
        fail(v, lineno, id, "does not decode: %s", gif_strerror(rc));
        free(b);
        return;
    }
    if (proto_verify(&r) != 0) {
        /* Nothing in a record with a bad signature can be trusted, its origin included: do
         * not start a chain for it, but let a known origin's chain step over it so that one
         * damaged record gives one failure. */
        fail(v, lineno, r.id, "bad signature");
        struct head *h = head_find(v, r.origin);
        if (h && r.seq == h->seq + 1) {
            h->seq = r.seq;
            h->prev_known = false;
        }
        free(b);
        return;
    }
    struct head *h = head_get(v, r.origin);
    if (!h) {
        fail(v, lineno, r.id, "out of memory");
        free(b);
        return;
    }

    /* The line's own "id", when present, must be the hash of its bytes. */
    json_t *j = json_loads(line, 0, NULL);
    const char *lid = ctl_jstr(j, "id", NULL);
    char idhex[2 * PROTO_ID_LEN + 1];
    gif_hex(idhex, r.id, PROTO_ID_LEN);
    if (lid && strcasecmp(lid, idhex) != 0)
        fail(v, lineno, r.id, "the line's \"id\" is not the id of its record");
    json_decref(j);

    char sk[CTL_SHORT_ID + 1];
    short_key(sk, r.origin);
    bool first = h->seq == 0;
    if (first) {
        if (r.seq != 1 && !v->partial)
            fail(v, lineno, r.id,
                 "first record of origin %s is seq %llu, not 1 (records missing; use "
                 "--partial for an export that starts mid-way)",
                 sk, (unsigned long long)r.seq);
    } else if (r.seq <= h->seq) {
        fail(v, lineno, r.id,
             "seq %llu of origin %s comes after seq %llu (reordered or "
             "duplicate record)",
             (unsigned long long)r.seq, sk, (unsigned long long)h->seq);
        free(b);
        return; /* keep the head: the records after it still chain to it */
    } else if (r.seq != h->seq + 1) {
        fail(v, lineno, r.id, "seq %llu of origin %s follows seq %llu (%llu record%s missing)",
             (unsigned long long)r.seq, sk, (unsigned long long)h->seq,
             (unsigned long long)(r.seq - h->seq - 1), r.seq - h->seq - 1 == 1 ? "" : "s");
    } else if (h->prev_known && memcmp(r.prev, h->id, PROTO_ID_LEN) != 0) {
        fail(v, lineno, r.id, "prev is not the id of origin %s's seq %llu on an earlier line", sk,
             (unsigned long long)h->seq);
    }
    char buf[512];
    const char *op = origin_problem(v, &r, buf, sizeof buf);
    if (op) fail(v, lineno, r.id, "%s", op);
    if (memcmp(r.origin, v->root, PROTO_KEY_LEN) == 0 && r.seq > v->root_seen)
        v->root_seen = r.seq; /* the node held the root's records up to here from now on */
    h->seq = r.seq;
    memcpy(h->id, r.id, PROTO_ID_LEN);
    h->prev_known = true;
    free(b);
}

int ctl_verify(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_CONS = 1, O_ROOT, O_MEMBERS, O_PARTIAL };
    static const struct ctl_optdef defs[] = {{"consortium", true, O_CONS},
                                             {"root", true, O_ROOT},
                                             {"members", true, O_MEMBERS},
                                             {"partial", false, O_PARTIAL},
                                             {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *cons = NULL, *root = NULL, *val;
    const char *members[16];
    size_t nmembers = 0;
    struct vstate v;
    memset(&v, 0, sizeof v);
    v.file_root_min = UINT64_MAX;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_CONS:
            cons = val;
            break;
        case O_ROOT:
            root = val;
            break;
        case O_PARTIAL:
            v.partial = true;
            break;
        case O_MEMBERS:
            if (nmembers == GIF_ARRAY_LEN(members))
                return ctl_usage(c, "--members: at most %zu files", GIF_ARRAY_LEN(members));
            members[nmembers++] = val;
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos != 1)
        return ctl_usage(c, "verify: give one FILE%s", a.npos ? " (got more than one)" : "");
    const char *file = argv[0];
    if (!cons && !root) return ctl_usage(c, "verify: --consortium DIR or --root HEX is required");
    if (cons && root) return ctl_usage(c, "verify: give --consortium or --root, not both");
    char path[4096], err[512];
    if (root) {
        if (ctl_parse_hex("--root", root, v.root, PROTO_KEY_LEN)) return CTL_USAGE;
    } else {
        snprintf(path, sizeof path, "%s/root.pub", cons);
        if (proto_keyfile_read_pk(path, v.root, err, sizeof err) != 0) {
            ctl_err("--consortium: %s", err);
            return CTL_USAGE;
        }
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        ctl_err("%s: %s", file, strerror(errno));
        return CTL_USAGE;
    }
    fclose(f);

    int ec = 0;
    if (cons) {
        snprintf(path, sizeof path, "%s/members.jsonl", cons);
        ec = collect_roots(&v, path, true);
    }
    for (size_t i = 0; i < nmembers && !ec; i++)
        ec = collect_roots(&v, members[i], true);
    if (!ec) ec = collect_roots(&v, file, false);
    if (!ec && build_members(&v) != 0) ec = CTL_USAGE;
    if (ec) goto out;

    if (c->json) v.failures = json_array();
    FILE *in = fopen(file, "r");
    if (!in) {
        ctl_err("%s: %s", file, strerror(errno));
        ec = CTL_USAGE;
        goto out;
    }
    char *line = NULL;
    size_t cap = 0;
    long len;
    unsigned long lineno = 0;
    while ((len = ctl_readline(in, &line, &cap, VERIFY_LINE_MAX)) != -1) {
        lineno++;
        if (len == -2) {
            v.records++;
            fail(&v, lineno, NULL, "line longer than %u bytes", VERIFY_LINE_MAX);
            continue;
        }
        if (strspn(line, " \t") == (size_t)len) continue;
        check_line(&v, lineno, line);
    }
    free(line);
    fclose(in);

    if (c->json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:b, s:O}", "file", file, "records",
                              (json_int_t)v.records, "origins", (json_int_t)v.nheads, "failed",
                              (json_int_t)v.failed, "ok", v.failed == 0, "failures", v.failures);
        ctl_print_json(j);
        json_decref(j);
    } else {
        printf("%s: %lu record%s from %zu origin%s, %lu failure%s\n", file, v.records,
               v.records == 1 ? "" : "s", v.nheads, v.nheads == 1 ? "" : "s", v.failed,
               v.failed == 1 ? "" : "s");
    }
    ec = v.failed ? CTL_USAGE : CTL_OK;
out:
    json_decref(v.failures);
    free(v.rr);
    free(v.mem);
    free(v.heads);
    return ec;
}
