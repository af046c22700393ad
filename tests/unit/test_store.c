/* Unit tests for storage/store.c: every acceptance rule, the indexes, durability edges. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "protocol/record.h"
#include "storage/store.h"
#include "util/gif.h"

#define NOW 1800000000000ull
#define S(lit) ((struct proto_str){(lit), sizeof(lit) - 1})

/* A signing key and the chain it has produced so far. */
struct key {
    uint8_t pk[PROTO_KEY_LEN], sk[PROTO_SK_LEN];
    uint64_t seq;
    uint8_t head[PROTO_ID_LEN];
};

/* A signed record. */
struct blob {
    uint8_t *buf;
    size_t len;
    uint8_t id[PROTO_ID_LEN];
    uint64_t seq;
};

struct fx {
    char dir[64];
    struct store *s;
    struct store_opts opts;
    struct key root;
};

static void key_new(struct key *k)
{
    memset(k, 0, sizeof(*k));
    proto_keygen(k->pk, k->sk);
}

/* Signs d as k at an explicit seq, prev and time, without advancing k's chain. */
static struct blob sign_at(const struct key *k, struct proto_record *d, uint64_t seq,
                           const uint8_t *prev, uint64_t t)
{
    struct blob b = {0};
    d->version = PROTO_VERSION;
    memcpy(d->origin, k->pk, PROTO_KEY_LEN);
    d->seq = seq;
    memcpy(d->prev, prev, PROTO_ID_LEN);
    d->time_ms = t;
    assert_int_equal(proto_sign(d, k->sk, &b.buf, &b.len), 0);
    proto_record_id(b.id, b.buf, b.len);
    b.seq = seq;
    return b;
}

/* Signs d as k's next record at time t and advances k's chain. */
static struct blob sign_next_t(struct key *k, struct proto_record *d, uint64_t t)
{
    struct blob b = sign_at(k, d, k->seq + 1, k->head, t);
    k->seq++;
    memcpy(k->head, b.id, PROTO_ID_LEN);
    return b;
}

static struct blob sign_next(struct key *k, struct proto_record *d)
{
    return sign_next_t(k, d, NOW);
}

static void blob_free(struct blob *b)
{
    free(b->buf);
    b->buf = NULL;
}

static void d_signal(struct proto_record *d, uint8_t stype, const uint8_t *v, size_t vlen,
                     bool verified)
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_SIGNAL;
    d->u.signal.stype = stype;
    d->u.signal.value = (struct proto_bytes){v, vlen};
    d->u.signal.nlabels = 1;
    d->u.signal.labels[0] = S("glorification");
    d->u.signal.confidence = 90;
    d->u.signal.content = PROTO_CT_IMAGE;
    d->u.signal.verified = verified;
}

static void d_membership(struct proto_record *d, const uint8_t key[32], uint8_t role,
                         const char *org, uint64_t nb, uint64_t na)
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_MEMBERSHIP;
    memcpy(d->u.membership.key, key, 32);
    d->u.membership.org = (struct proto_str){org, strlen(org)};
    d->u.membership.role = role;
    d->u.membership.not_before_ms = nb;
    d->u.membership.not_after_ms = na;
}

static void d_revocation(struct proto_record *d, const uint8_t key[32])
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_REVOCATION;
    memcpy(d->u.revocation.key, key, 32);
    d->u.revocation.reason = S("left the consortium");
}

static void d_retraction(struct proto_record *d, const uint8_t target[32])
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_RETRACTION;
    memcpy(d->u.retraction.target, target, 32);
    d->u.retraction.reason = S("false positive");
}

static void d_feedback(struct proto_record *d, const uint8_t target[32], uint8_t verdict)
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_FEEDBACK;
    memcpy(d->u.feedback.target, target, 32);
    d->u.feedback.verdict = verdict;
}

/* Ingests one record; the call itself must succeed. Returns the record's status. */
static int ingest1(struct fx *f, const struct blob *b, struct store_result *out)
{
    struct store_in in = {.buf = b->buf, .len = b->len};
    struct store_result res;
    assert_int_equal(store_ingest(f->s, &in, 1, NOW, &res), 0);
    if (out) *out = res;
    return res.status;
}

/* Signs the next record of k from d, ingests it, frees it, returns the status; the id goes
 * to id_out if given. */
static int put_next(struct fx *f, struct key *k, struct proto_record *d, uint8_t *id_out)
{
    struct blob b = sign_next(k, d);
    int st = ingest1(f, &b, NULL);
    if (id_out) memcpy(id_out, b.id, PROTO_ID_LEN);
    blob_free(&b);
    return st;
}

static void add_member(struct fx *f, struct key *m, uint8_t role, const char *org)
{
    struct proto_record d;
    key_new(m);
    d_membership(&d, m->pk, role, org, 0, 0);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);
}

static uint8_t *val32(uint8_t fill)
{
    static uint8_t v[256][32];
    memset(v[fill], fill, 32);
    v[fill][31] ^= 0x5a;
    return v[fill];
}

static void rm_store_dir(const char *dir)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static int fx_open(struct fx *f)
{
    char err[256];
    return store_open(&f->s, f->dir, &f->opts, err, sizeof(err));
}

static int setup_opts(void **state, uint64_t map_size, uint32_t held_max)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/gifstore-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    key_new(&f->root);
    memcpy(f->opts.root, f->root.pk, 32);
    f->opts.no_sync = true;
    f->opts.map_size = map_size;
    f->opts.held_max = held_max;
    if (fx_open(f) != 0) return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_opts(state, 64ull << 20, 0);
}

static int setup_held2(void **state)
{
    return setup_opts(state, 64ull << 20, 2);
}

static int setup_small(void **state)
{
    return setup_opts(state, 1ull << 20, 0);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    rm_store_dir(f->dir);
    free(f);
    return 0;
}

static struct store_head head_of(struct fx *f, const uint8_t pk[32], int *rc)
{
    struct store_rd *rd;
    struct store_head h;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    *rc = store_head_get(rd, pk, &h);
    store_rd_close(rd);
    return h;
}

/* ---- Tests. */

static void test_accept_in_order(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "Platform A");
    struct proto_record d;
    struct blob b[3];
    struct store_in in[3];
    for (int i = 0; i < 3; i++) {
        d_signal(&d, PROTO_ST_SHA256, val32((uint8_t)(10 + i)), 32, false);
        b[i] = sign_next(&a, &d);
        in[i] = (struct store_in){.buf = b[i].buf, .len = b[i].len};
    }
    struct store_result res[3];
    assert_int_equal(store_ingest(f->s, in, 3, NOW, res), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].seq, i + 1);
        assert_int_equal(res[i].feed, i + 2); /* feed 1 is the membership */
        assert_memory_equal(res[i].id, b[i].id, 32);
    }
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_rec r;
    assert_int_equal(store_get(rd, b[1].id, &r), 0);
    assert_int_equal(r.len, b[1].len);
    assert_memory_equal(r.buf, b[1].buf, b[1].len); /* the exact bytes received */
    assert_int_equal(r.feed, 3);
    assert_int_equal(r.accepted_ms, NOW);
    struct store_head h;
    assert_int_equal(store_head_get(rd, a.pk, &h), 0);
    assert_int_equal(h.seq, 3);
    assert_memory_equal(h.id, b[2].id, 32);
    assert_false(h.frozen);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.by_kind[PROTO_SIGNAL], 3);
    assert_int_equal(st.by_kind[PROTO_MEMBERSHIP], 1);
    assert_int_equal(st.by_stype[PROTO_ST_SHA256], 3);
    assert_int_equal(st.origins, 2);
    assert_int_equal(st.feed_last, 4);
    assert_true(st.map_used > 0 && st.map_used <= st.map_size);
    uint64_t last;
    assert_int_equal(store_feed_last(rd, &last), 0);
    assert_int_equal(last, 4);
    uint8_t zero[32] = {0};
    assert_int_equal(store_get(rd, zero, &r), -ENOENT);
    store_rd_close(rd);
    for (int i = 0; i < 3; i++)
        blob_free(&b[i]);
}

static void test_duplicate_and_badsig(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "Platform A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(1), 16, false);
    struct blob b = sign_next(&a, &d);

    /* The signature is the last field: flipping its last byte keeps the structure. */
    uint8_t *bad = malloc(b.len);
    memcpy(bad, b.buf, b.len);
    bad[b.len - 1] ^= 1;
    struct proto_record chk;
    assert_int_equal(proto_decode(&chk, bad, b.len), 0);
    struct blob bb = {bad, b.len, {0}, 1};
    assert_int_equal(ingest1(f, &bb, NULL), GIF_E_BADSIG);

    assert_int_equal(ingest1(f, &b, NULL), 0);
    struct store_result r;
    assert_int_equal(ingest1(f, &b, &r), GIF_E_DUPLICATE);
    assert_int_equal(r.feed, 0);
    assert_memory_equal(r.id, b.id, 32);

    /* Garbage does not decode. */
    uint8_t junk[4] = {1, 2, 3, 4};
    struct blob bj = {junk, 4, {0}, 0};
    int st = ingest1(f, &bj, NULL);
    assert_true(st == GIF_E_MALFORMED || st == GIF_E_NONCANONICAL);
    free(bad);
    blob_free(&b);
}

static void test_roles_and_membership(void **state)
{
    struct fx *f = *state;
    struct proto_record d;
    struct key stranger, obs, plat, ag;
    key_new(&stranger);
    d_signal(&d, PROTO_ST_MD5, val32(2), 16, false);
    assert_int_equal(put_next(f, &stranger, &d, NULL), GIF_E_NOTMEMBER);

    /* Membership signed by anyone but the root. */
    struct key other;
    key_new(&other);
    d_membership(&d, other.pk, PROTO_ROLE_AGENCY, "Self-appointed", 0, 0);
    assert_int_equal(put_next(f, &stranger, &d, NULL), GIF_E_ROOT);

    /* The root publishes membership only. */
    struct key root_copy = f->root;
    d_signal(&d, PROTO_ST_MD5, val32(2), 16, false);
    assert_int_equal(put_next(f, &root_copy, &d, NULL), GIF_E_ROLE);

    add_member(f, &obs, PROTO_ROLE_OBSERVER, "Observer");
    d_signal(&d, PROTO_ST_MD5, val32(3), 16, false);
    assert_int_equal(put_next(f, &obs, &d, NULL), GIF_E_ROLE);

    add_member(f, &plat, PROTO_ROLE_PLATFORM, "Platform");
    d_signal(&d, PROTO_ST_MD5, val32(4), 16, true);
    struct key plat_retry = plat;
    assert_int_equal(put_next(f, &plat, &d, NULL), GIF_E_ROLE);
    d_signal(&d, PROTO_ST_MD5, val32(4), 16, false);
    assert_int_equal(put_next(f, &plat_retry, &d, NULL), 0);

    add_member(f, &ag, PROTO_ROLE_AGENCY, "Agency");
    d_signal(&d, PROTO_ST_MD5, val32(5), 16, true);
    assert_int_equal(put_next(f, &ag, &d, NULL), 0);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_member m;
    assert_int_equal(store_member_get(rd, ag.pk, &m), 0);
    assert_string_equal(m.org, "Agency");
    assert_int_equal(m.role, PROTO_ROLE_AGENCY);
    assert_false(m.revoked);
    assert_int_equal(store_member_get(rd, stranger.pk, &m), -ENOENT);
    store_rd_close(rd);
}

static void test_future(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(6), 16, false);
    struct key a2 = a;
    struct blob b = sign_next_t(&a, &d, NOW + 11 * 60 * 1000);
    assert_int_equal(ingest1(f, &b, NULL), GIF_E_FUTURE);
    blob_free(&b);
    b = sign_next_t(&a2, &d, NOW + 9 * 60 * 1000);
    assert_int_equal(ingest1(f, &b, NULL), 0);
    blob_free(&b);
}

static void test_membership_window(void **state)
{
    struct fx *f = *state;
    struct key m;
    key_new(&m);
    struct proto_record d;
    d_membership(&d, m.pk, PROTO_ROLE_PLATFORM, "Windowed", NOW - 1000, NOW + 1000);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);

    d_signal(&d, PROTO_ST_MD5, val32(7), 16, false);
    struct key early = m, late = m;
    struct blob b = sign_next_t(&early, &d, NOW - 2000);
    assert_int_equal(ingest1(f, &b, NULL), GIF_E_NOTMEMBER);
    blob_free(&b);
    b = sign_next_t(&late, &d, NOW + 2000);
    assert_int_equal(ingest1(f, &b, NULL), GIF_E_NOTMEMBER);
    blob_free(&b);
    b = sign_next_t(&m, &d, NOW + 1000); /* the bounds are inclusive */
    assert_int_equal(ingest1(f, &b, NULL), 0);
    blob_free(&b);

    struct store_member sm = {.not_before_ms = 10, .not_after_ms = 0};
    assert_true(store_member_active(&sm, 10));
    assert_false(store_member_active(&sm, 9));
    assert_true(store_member_active(&sm, UINT64_MAX));
    sm.not_after_ms = 20;
    assert_false(store_member_active(&sm, 21));
    sm.revoked = true;
    assert_false(store_member_active(&sm, 15));
}

static void test_revocation(void **state)
{
    struct fx *f = *state;
    struct key a, never;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    key_new(&never);
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(8), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);

    d_revocation(&d, never.pk);
    struct key root_retry = f->root;
    assert_int_equal(put_next(f, &f->root, &d, NULL), GIF_E_TARGET);
    f->root = root_retry; /* the refused revocation consumed no seq */

    d_revocation(&d, a.pk);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);
    d_signal(&d, PROTO_ST_MD5, val32(9), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), GIF_E_REVOKED);

    /* A fresh membership for a revoked key keeps it revoked. */
    d_membership(&d, a.pk, PROTO_ROLE_AGENCY, "A again", 0, 0);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_member m;
    assert_int_equal(store_member_get(rd, a.pk, &m), 0);
    assert_true(m.revoked);
    assert_int_equal(m.revoked_ms, NOW);
    assert_string_equal(m.org, "A again");
    assert_false(store_member_active(&m, NOW));
    store_rd_close(rd);
}

struct feed_list {
    uint8_t ids[16][32];
    uint64_t pos[16];
    size_t n;
};
static int feed_cb(void *ctx, const uint8_t id[32], const struct store_rec *r)
{
    struct feed_list *l = ctx;
    if (l->n < 16) {
        memcpy(l->ids[l->n], id, 32);
        l->pos[l->n] = r->feed;
        l->n++;
    }
    return 0;
}

static void test_gap_held_released(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    struct blob b[4];
    for (int i = 0; i < 4; i++) {
        d_signal(&d, PROTO_ST_SHA256, val32((uint8_t)(20 + i)), 32, false);
        b[i] = sign_next(&a, &d);
    }
    struct store_result r;
    assert_int_equal(ingest1(f, &b[0], NULL), 0);
    assert_int_equal(ingest1(f, &b[3], &r), GIF_E_PENDING);
    assert_int_equal(r.feed, 0);
    assert_int_equal(ingest1(f, &b[2], NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &b[2], NULL), GIF_E_DUPLICATE); /* already held */
    int rc;
    struct store_head h = head_of(f, a.pk, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(h.seq, 1);
    assert_int_equal(h.held, 2);
    {
        /* The log answers for stored positions only: a held record is not served to peers. */
        struct store_rd *rd0;
        uint8_t id[32];
        struct store_rec sr;
        assert_int_equal(store_rd_open(f->s, &rd0), 0);
        assert_int_equal(store_log_get(rd0, a.pk, 1, id, &sr), 0);
        assert_memory_equal(id, b[0].id, 32);
        assert_int_equal(sr.len, b[0].len);
        assert_memory_equal(sr.buf, b[0].buf, b[0].len);
        assert_int_equal(store_log_get(rd0, a.pk, 3, id, NULL), -ENOENT);
        store_rd_close(rd0);
    }

    assert_int_equal(ingest1(f, &b[1], &r), 0);
    assert_int_equal(r.feed, 3);
    h = head_of(f, a.pk, &rc);
    assert_int_equal(h.seq, 4);
    assert_int_equal(h.held, 0);
    assert_memory_equal(h.id, b[3].id, 32);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct feed_list l = {0};
    assert_int_equal(store_feed_each(rd, 1, feed_cb, &l), 0);
    assert_int_equal(l.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(l.ids[i], b[i].id, 32);
        assert_int_equal(l.pos[i], i + 2);
    }
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.records, 5);
    for (int i = 0; i < 4; i++) {
        uint8_t id[32];
        assert_int_equal(store_log_get(rd, a.pk, (uint64_t)i + 1, id, NULL), 0);
        assert_memory_equal(id, b[i].id, 32);
    }
    uint8_t none[32];
    assert_int_equal(store_log_get(rd, a.pk, 5, none, NULL), -ENOENT);
    store_rd_close(rd);
    for (int i = 0; i < 4; i++)
        blob_free(&b[i]);
}

static void test_held_cap(void **state)
{
    struct fx *f = *state; /* held_max = 2 */
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    struct blob b[5];
    for (int i = 0; i < 5; i++) {
        d_signal(&d, PROTO_ST_SHA256, val32((uint8_t)(30 + i)), 32, false);
        b[i] = sign_next(&a, &d);
    }
    assert_int_equal(ingest1(f, &b[0], NULL), 0);
    assert_int_equal(ingest1(f, &b[2], NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &b[3], NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &b[4], NULL), GIF_E_HELDFULL);
    int rc;
    struct store_head h = head_of(f, a.pk, &rc);
    assert_int_equal(h.held, 2);
    assert_int_equal(ingest1(f, &b[1], NULL), 0);
    h = head_of(f, a.pk, &rc);
    assert_int_equal(h.seq, 4);
    assert_int_equal(ingest1(f, &b[4], NULL), 0);
    for (int i = 0; i < 5; i++)
        blob_free(&b[i]);
}

struct fork_list {
    size_t n;
    struct store_fork f;
    uint8_t second[1024];
};
static int fork_cb(void *ctx, const struct store_fork *fk)
{
    struct fork_list *l = ctx;
    l->n++;
    l->f = *fk;
    if (fk->second.len <= sizeof(l->second)) memcpy(l->second, fk->second.buf, fk->second.len);
    return 0;
}

static void test_equivocation(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(40), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    struct key fork = a;
    d_signal(&d, PROTO_ST_MD5, val32(41), 16, false);
    struct blob x = sign_next(&a, &d);
    d_signal(&d, PROTO_ST_MD5, val32(42), 16, false);
    struct blob y = sign_next(&fork, &d);
    assert_int_equal(ingest1(f, &x, NULL), 0);
    assert_int_equal(ingest1(f, &y, NULL), GIF_E_EQUIVOCATION);
    assert_int_equal(ingest1(f, &y, NULL), GIF_E_DUPLICATE); /* the proof is stored */

    int rc;
    struct store_head h = head_of(f, a.pk, &rc);
    assert_true(h.frozen);
    assert_int_equal(h.seq, 2);
    d_signal(&d, PROTO_ST_MD5, val32(43), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), GIF_E_FROZEN);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct fork_list l = {0};
    assert_int_equal(store_forks_each(rd, fork_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.f.seq, 2);
    assert_memory_equal(l.f.origin, a.pk, 32);
    assert_memory_equal(l.f.first, x.id, 32);
    assert_int_equal(l.f.second.len, y.len);
    assert_memory_equal(l.second, y.buf, y.len);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.forks, 1);
    store_rd_close(rd);

    /* Our own frozen origin may not publish. */
    struct store_result res;
    d_signal(&d, PROTO_ST_MD5, val32(44), 16, false);
    assert_int_equal(store_publish(f->s, a.sk, &d, 1, NOW, &res), 0);
    assert_int_equal(res.status, GIF_E_FROZEN);
    blob_free(&x);
    blob_free(&y);
}

static int precheck(struct fx *f, const struct blob *b)
{
    struct proto_record r;
    assert_int_equal(proto_decode(&r, b->buf, b->len), 0);
    return store_precheck(f->s, &r, b->buf, b->len, NOW, NULL);
}

/* store_precheck agrees with what store_ingest would do, and writes nothing. */
static void test_precheck(void **state)
{
    struct fx *f = *state;
    struct key a, outsider;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    key_new(&outsider);
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(50), 16, false);
    struct blob b1 = sign_next(&a, &d);
    struct key fork = a;
    d_signal(&d, PROTO_ST_MD5, val32(51), 16, false);
    struct blob b2 = sign_next(&a, &d);
    d_signal(&d, PROTO_ST_MD5, val32(52), 16, false);
    struct blob b2x = sign_next(&fork, &d); /* a second record at seq 2 */
    d_signal(&d, PROTO_ST_MD5, val32(53), 16, false);
    struct blob b3 = sign_next(&a, &d);
    struct blob o1 = sign_next(&outsider, &d);
    d_signal(&d, PROTO_ST_MD5, val32(54), 16, true); /* verified: agencies only */
    struct blob v = sign_next(&a, &d);

    assert_int_equal(precheck(f, &b1), 0);
    assert_int_equal(precheck(f, &b1), 0); /* nothing was written */
    assert_int_equal(precheck(f, &b2), GIF_E_PENDING);
    struct proto_record r2;
    assert_int_equal(proto_decode(&r2, b2.buf, b2.len), 0);
    /* ... unless its predecessor is named as on its way (and is the one b2 follows). */
    assert_int_equal(store_precheck(f->s, &r2, b2.buf, b2.len, NOW, b1.id), 0);
    assert_int_equal(store_precheck(f->s, &r2, b2.buf, b2.len, NOW, b2x.id), GIF_E_PENDING);
    assert_int_equal(precheck(f, &o1), GIF_E_NOTMEMBER);
    uint8_t *bad = malloc(b1.len);
    memcpy(bad, b1.buf, b1.len);
    bad[b1.len - 1] ^= 1;
    struct blob bb = {bad, b1.len, {0}, 1};
    assert_int_equal(precheck(f, &bb), GIF_E_BADSIG);

    /* A caller that prechecked may skip the signature in ingest. */
    struct store_in in = {.buf = b1.buf, .len = b1.len, .verified = true};
    memcpy(in.id, b1.id, PROTO_ID_LEN);
    struct store_result res;
    assert_int_equal(store_ingest(f->s, &in, 1, NOW, &res), 0);
    assert_int_equal(res.status, 0);
    assert_int_equal(precheck(f, &b1), GIF_E_DUPLICATE);
    assert_int_equal(precheck(f, &b2), 0);
    assert_int_equal(precheck(f, &b2x), 0);
    assert_int_equal(ingest1(f, &b2, NULL), 0);
    assert_int_equal(precheck(f, &b2x), GIF_E_EQUIVOCATION);
    assert_int_equal(precheck(f, &b3), 0);
    assert_int_equal(ingest1(f, &b3, NULL), 0);
    assert_int_equal(precheck(f, &v), GIF_E_ROLE);
    free(bad);
    blob_free(&b1), blob_free(&b2), blob_free(&b2x), blob_free(&b3), blob_free(&o1), blob_free(&v);
}

static void test_equivocation_held(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(45), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    struct key skip = a;
    d_signal(&d, PROTO_ST_MD5, val32(46), 16, false);
    struct blob s2 = sign_next(&skip, &d);
    struct key fork = skip;
    struct blob x = sign_next(&skip, &d);
    d_signal(&d, PROTO_ST_MD5, val32(47), 16, false);
    struct blob y = sign_next(&fork, &d);
    assert_int_equal(ingest1(f, &x, NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &y, NULL), GIF_E_EQUIVOCATION);
    int rc;
    struct store_head h = head_of(f, a.pk, &rc);
    assert_true(h.frozen);
    assert_int_equal(ingest1(f, &s2, NULL), GIF_E_FROZEN);
    blob_free(&s2);
    blob_free(&x);
    blob_free(&y);
}

static void test_bad_prev(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(50), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    uint8_t wrong[32];
    memset(wrong, 0x77, 32);
    struct blob b = sign_at(&a, &d, 2, wrong, NOW);
    assert_int_equal(ingest1(f, &b, NULL), GIF_E_PREV);
    blob_free(&b);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
}

static void test_retraction(void **state)
{
    struct fx *f = *state;
    struct key a, b;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    add_member(f, &b, PROTO_ROLE_AGENCY, "B");
    struct proto_record d;
    uint8_t sig_id[32], rid[32], got[32], fb_id[32];
    d_signal(&d, PROTO_ST_MD5, val32(60), 16, false);
    assert_int_equal(put_next(f, &a, &d, sig_id), 0);

    d_retraction(&d, sig_id);
    struct key b_retry = b;
    assert_int_equal(put_next(f, &b, &d, NULL), GIF_E_TARGET);
    b = b_retry;
    uint8_t unknown[32];
    memset(unknown, 0x42, 32);
    d_retraction(&d, unknown);
    struct key a_retry = a;
    assert_int_equal(put_next(f, &a, &d, NULL), GIF_E_TARGET);
    a = a_retry;
    /* Only signals and alerts can be retracted. */
    d_feedback(&d, sig_id, PROTO_FB_AGREE);
    assert_int_equal(put_next(f, &b, &d, fb_id), 0);
    d_retraction(&d, fb_id);
    b_retry = b;
    assert_int_equal(put_next(f, &b, &d, NULL), GIF_E_TARGET);
    b = b_retry;

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_retraction_of(rd, sig_id, got), -ENOENT);
    store_rd_close(rd);

    d_retraction(&d, sig_id);
    assert_int_equal(put_next(f, &a, &d, rid), 0);
    a_retry = a;
    assert_int_equal(put_next(f, &a, &d, NULL), GIF_E_TARGET); /* twice */

    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_retraction_of(rd, sig_id, got), 0);
    assert_memory_equal(got, rid, 32);
    assert_int_equal(store_retraction_of(rd, sig_id, NULL), 0);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.retracted, 1);
    store_rd_close(rd);
}

static void d_incident(struct proto_record *d, const char *inc, uint8_t action, uint8_t level)
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_INCIDENT;
    d->u.incident.incident = (struct proto_str){inc, strlen(inc)};
    d->u.incident.action = action;
    d->u.incident.level = level;
}

static void d_grant(struct proto_record *d, const char *org, bool granted)
{
    memset(d, 0, sizeof(*d));
    d->kind = PROTO_GRANT;
    d->u.grant.org = (struct proto_str){org, strlen(org)};
    d->u.grant.right = PROTO_RIGHT_INCIDENTS;
    d->u.grant.granted = granted;
}

static struct store_incident incident_of(struct fx *f, const char *id)
{
    struct store_rd *rd;
    struct store_incident in;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_incident_get(rd, id, strlen(id), &in), 0);
    store_rd_close(rd);
    return in;
}

static int put_next_t(struct fx *f, struct key *k, struct proto_record *d, uint64_t t,
                      uint8_t *id_out)
{
    struct blob b = sign_next_t(k, d, t);
    int st = ingest1(f, &b, NULL);
    if (id_out) memcpy(id_out, b.id, PROTO_ID_LEN);
    blob_free(&b);
    return st;
}

static int count_inc(void *ctx, const struct store_incident *in)
{
    (void)in;
    (*(int *)ctx)++;
    return 0;
}

static int inc_rec_cb(void *ctx, const uint8_t id[32], const struct store_rec *r)
{
    uint64_t *last = ctx;
    (void)id;
    assert_true(r->feed > *last); /* feed order */
    *last = r->feed;
    return 0;
}

/* Incidents: who may act on them, their state folded in time order whatever the arrival
 * order, grants, alert-carried signals found by exact lookup, and what is filed under them. */
static void test_incidents(void **state)
{
    struct fx *f = *state;
    struct key a, p, q;
    add_member(f, &a, PROTO_ROLE_AGENCY, "CTU");
    add_member(f, &p, PROTO_ROLE_PLATFORM, "PlatP");
    add_member(f, &q, PROTO_ROLE_PLATFORM, "PlatQ");
    struct proto_record d;
    uint8_t alert_id[32], id[32];

    /* A platform's detector alerts: the incident opens, unconfirmed. */
    memset(&d, 0, sizeof d);
    d.kind = PROTO_ALERT;
    d.u.alert.incident = S("inc-1");
    d.u.alert.level = PROTO_LEVEL_SITUATIONAL;
    d.u.alert.detector = S("live-v3");
    d.u.alert.nsignals = 2;
    d.u.alert.signals[0] = (struct proto_sigref){PROTO_ST_MD5, {val32(70), 16}};
    d.u.alert.signals[1] = (struct proto_sigref){PROTO_ST_PDQ, {val32(71), 32}};
    assert_int_equal(put_next_t(f, &p, &d, NOW - 5000, alert_id), 0);
    struct store_incident in = incident_of(f, "inc-1");
    assert_string_equal(in.id, "inc-1");
    assert_int_equal(in.level, PROTO_LEVEL_SITUATIONAL);
    assert_false(in.confirmed);
    assert_false(in.concluded);
    assert_int_equal(in.alerts, 1);
    assert_int_equal(in.opened_ms, NOW - 5000);

    struct store_rd *rd;
    uint8_t ids[4][32];
    size_t n;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_lookup(rd, PROTO_ST_MD5, val32(70), 16, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0], alert_id, 32);
    assert_int_equal(store_lookup(rd, PROTO_ST_PDQ, val32(71), 32, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_false(store_grant_held(rd, "PlatQ", PROTO_RIGHT_INCIDENTS));
    store_rd_close(rd);

    /* Platforms may not act on incidents; the agency may. */
    struct key retry = p;
    d_incident(&d, "inc-1", PROTO_ACT_ESCALATE, PROTO_LEVEL_PROTOCOL);
    assert_int_equal(put_next(f, &p, &d, NULL), GIF_E_ROLE);
    p = retry;
    assert_int_equal(put_next_t(f, &a, &d, NOW - 1000, id), 0);
    in = incident_of(f, "inc-1");
    assert_int_equal(in.level, PROTO_LEVEL_PROTOCOL);
    assert_true(in.confirmed);
    assert_int_equal(in.action, PROTO_ACT_ESCALATE);
    assert_memory_equal(in.action_id, id, 32);

    /* An action timed before the latest one arrives late: the state stays the latest's, as
     * on a node that received them in time order. */
    d_incident(&d, "inc-1", PROTO_ACT_DEESCALATE, PROTO_LEVEL_INCIDENT);
    assert_int_equal(put_next_t(f, &a, &d, NOW - 3000, NULL), 0);
    in = incident_of(f, "inc-1");
    assert_int_equal(in.level, PROTO_LEVEL_PROTOCOL);
    assert_int_equal(in.actions, 2);

    /* The root grants PlatQ the right: its incident records are accepted; withdrawn: not. */
    d_grant(&d, "PlatQ", true);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);
    retry = p;
    d_grant(&d, "PlatQ", true);
    assert_int_equal(put_next(f, &p, &d, NULL), GIF_E_ROOT); /* only the root grants */
    p = retry;
    d_incident(&d, "inc-1", PROTO_ACT_CONCLUDE, PROTO_LEVEL_PROTOCOL);
    assert_int_equal(put_next_t(f, &q, &d, NOW, NULL), 0);
    in = incident_of(f, "inc-1");
    assert_true(in.concluded);
    assert_int_equal(in.action, PROTO_ACT_CONCLUDE);
    d_grant(&d, "PlatQ", false);
    assert_int_equal(put_next(f, &f->root, &d, NULL), 0);
    retry = q;
    d_incident(&d, "inc-1", PROTO_ACT_REOPEN, PROTO_LEVEL_INCIDENT);
    assert_int_equal(put_next(f, &q, &d, NULL), GIF_E_ROLE);
    q = retry;

    /* A signal under the incident, feedback on the alert and its retraction are filed too. */
    d_signal(&d, PROTO_ST_SHA256, val32(72), 32, false);
    d.u.signal.incident = S("inc-1");
    assert_int_equal(put_next(f, &q, &d, NULL), 0);
    d_feedback(&d, alert_id, PROTO_FB_FALSE_POSITIVE);
    assert_int_equal(put_next(f, &q, &d, NULL), 0);
    d_retraction(&d, alert_id);
    assert_int_equal(put_next(f, &p, &d, NULL), 0);
    in = incident_of(f, "inc-1");
    assert_int_equal(in.signals, 1);
    assert_int_equal(in.alerts, 1);
    assert_int_equal(in.actions, 3);
    assert_int_equal(in.records, 7);

    assert_int_equal(store_rd_open(f->s, &rd), 0);
    int count = 0;
    assert_int_equal(store_incidents_each(rd, count_inc, &count), 0);
    assert_int_equal(count, 1);
    uint64_t last = 0;
    assert_int_equal(store_incident_records(rd, "inc-1", 5, inc_rec_cb, &last), 0);
    assert_true(last > 0);
    struct store_incident none;
    assert_int_equal(store_incident_get(rd, "inc-2", 5, &none), -ENOENT);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.by_kind[PROTO_INCIDENT], 3);
    assert_int_equal(st.by_kind[PROTO_GRANT], 2);
    store_rd_close(rd);
}

/* Collects the feed positions a walk of an incident's records gives, and stops it after
 * `stop` of them when stop is not 0. */
struct feeds {
    uint64_t v[16];
    size_t n, stop;
};

static int feeds_cb(void *ctx, const uint8_t id[32], const struct store_rec *r)
{
    struct feeds *fs = ctx;
    (void)id;
    assert_true(fs->n < 16);
    fs->v[fs->n++] = r->feed;
    return fs->stop && fs->n == fs->stop ? 7 : 0;
}

/* A walk of an incident's records resumes after a feed position: exactly the rest, in feed
 * order, other incidents' records left out; an unknown incident walks nothing. */
static void test_incident_records_from(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_AGENCY, "Agency");
    struct proto_record d;
    for (int i = 0; i < 8; i++) {
        d_signal(&d, PROTO_ST_SHA256, val32((uint8_t)(80 + i)), 32, true);
        d.u.signal.incident = i % 3 == 2 ? S("inc-other") : S("inc-r");
        assert_int_equal(put_next(f, &a, &d, NULL), 0);
    }
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct feeds all = {0};
    assert_int_equal(store_incident_records(rd, "inc-r", 5, feeds_cb, &all), 0);
    assert_int_equal(all.n, 6);
    for (size_t i = 1; i < all.n; i++)
        assert_true(all.v[i] > all.v[i - 1]);

    /* From one of its records: the rest; from a position between two of them: from the next. */
    struct feeds rest = {0};
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, all.v[2], feeds_cb, &rest), 0);
    assert_int_equal(rest.n, 3);
    assert_memory_equal(rest.v, &all.v[3], 3 * sizeof(uint64_t));
    struct feeds gap = {0}; /* all.v[4] - 1 is the other incident's record */
    assert_true(all.v[4] - 1 > all.v[3]);
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, all.v[4] - 1, feeds_cb, &gap), 0);
    assert_int_equal(gap.n, 2);
    assert_memory_equal(gap.v, &all.v[4], 2 * sizeof(uint64_t));
    struct feeds none = {0};
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, all.v[5], feeds_cb, &none), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, UINT64_MAX, feeds_cb, &none), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(store_incident_records_from(rd, "inc-none", 8, 0, feeds_cb, &none), 0);
    assert_int_equal(store_incident_records_from(rd, "", 0, 0, feeds_cb, &none), 0);
    assert_int_equal(none.n, 0);

    /* Stopped by its callback, whose value it returns; resumed from the last position seen,
     * in a later snapshot, it gives the rest. */
    struct feeds first = {.stop = 2};
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, 0, feeds_cb, &first), 7);
    assert_int_equal(first.n, 2);
    store_rd_close(rd);
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct feeds second = {0};
    assert_int_equal(store_incident_records_from(rd, "inc-r", 5, first.v[1], feeds_cb, &second), 0);
    assert_int_equal(second.n, 4);
    assert_memory_equal(second.v, &all.v[2], 4 * sizeof(uint64_t));
    struct feeds other = {0};
    assert_int_equal(store_incident_records(rd, "inc-other", 9, feeds_cb, &other), 0);
    assert_int_equal(other.n, 2);
    store_rd_close(rd);
}

static void test_feedback(void **state)
{
    struct fx *f = *state;
    struct key a, b1, b2, b3, c, c2, e;
    add_member(f, &a, PROTO_ROLE_AGENCY, "Agency");
    add_member(f, &b1, PROTO_ROLE_PLATFORM, "OrgB");
    add_member(f, &b2, PROTO_ROLE_PLATFORM, "OrgB");
    add_member(f, &b3, PROTO_ROLE_PLATFORM, "OrgB");
    add_member(f, &c, PROTO_ROLE_PLATFORM, "OrgC");
    add_member(f, &c2, PROTO_ROLE_PLATFORM, "OrgC");
    add_member(f, &e, PROTO_ROLE_PLATFORM, "OrgE");
    struct proto_record d;
    uint8_t target[32];
    d_signal(&d, PROTO_ST_SHA256, val32(70), 32, true);
    assert_int_equal(put_next(f, &a, &d, target), 0);

    d_feedback(&d, target, PROTO_FB_AGREE);
    assert_int_equal(put_next(f, &b1, &d, NULL), 0);
    d_feedback(&d, target, PROTO_FB_DISAGREE); /* b1 changes its mind: latest wins */
    assert_int_equal(put_next(f, &b1, &d, NULL), 0);
    d_feedback(&d, target, PROTO_FB_AGREE);
    assert_int_equal(put_next(f, &b2, &d, NULL), 0);
    assert_int_equal(put_next(f, &b3, &d, NULL), 0); /* a second node of OrgB agrees */
    d_feedback(&d, target, PROTO_FB_FALSE_POSITIVE);
    assert_int_equal(put_next(f, &c, &d, NULL), 0);
    d_feedback(&d, target, PROTO_FB_DISAGREE);
    assert_int_equal(put_next(f, &c2, &d, NULL), 0);
    d_feedback(&d, target, PROTO_FB_BLOCKED);
    assert_int_equal(put_next(f, &e, &d, NULL), 0);
    /* Feedback on one's own record is refused; on an unknown record it is kept. */
    d_feedback(&d, target, PROTO_FB_AGREE);
    struct key a_retry = a;
    assert_int_equal(put_next(f, &a, &d, NULL), GIF_E_TARGET);
    a = a_retry;
    uint8_t unknown[32];
    memset(unknown, 0x13, 32);
    d_feedback(&d, unknown, PROTO_FB_SEEN);
    assert_int_equal(put_next(f, &c, &d, NULL), 0);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_fb fb;
    assert_int_equal(store_feedback_of(rd, target, &fb), 0);
    assert_int_equal(fb.count[PROTO_FB_AGREE], 2);
    assert_int_equal(fb.count[PROTO_FB_DISAGREE], 2);
    assert_int_equal(fb.count[PROTO_FB_FALSE_POSITIVE], 1);
    assert_int_equal(fb.count[PROTO_FB_BLOCKED], 1);
    assert_int_equal(fb.count[PROTO_FB_SEEN], 0);
    assert_int_equal(fb.orgs_agree, 1);   /* OrgB (b2, b3) */
    assert_int_equal(fb.orgs_dispute, 2); /* OrgB (b1) and OrgC (c, c2) */
    assert_int_equal(store_feedback_of(rd, unknown, &fb), 0);
    assert_int_equal(fb.count[PROTO_FB_SEEN], 1);
    assert_int_equal(fb.orgs_agree + fb.orgs_dispute, 0);
    uint8_t none[32] = {0};
    assert_int_equal(store_feedback_of(rd, none, &fb), 0);
    for (int i = 0; i <= PROTO_FB_COUNT; i++)
        assert_int_equal(fb.count[i], 0);
    store_rd_close(rd);
}

/* Collects pdq entries into a feed_list; pos holds the hash's first byte. */
static int pdq_cb(void *ctx, const uint8_t hash[32], const uint8_t id[32])
{
    struct feed_list *l = ctx;
    if (l->n < 16) {
        memcpy(l->ids[l->n], id, 32);
        l->pos[l->n] = hash[0];
        l->n++;
    }
    return 0;
}

static void test_lookup_and_pdq_each(void **state)
{
    struct fx *f = *state;
    struct key a, b;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    add_member(f, &b, PROTO_ROLE_PLATFORM, "B");
    struct proto_record d;
    uint8_t s1[32], s2[32], p1[32], p2[32], md[32];
    /* Same value from two origins, stored larger id first: the index must keep arrival
     * order, not id order. */
    d_signal(&d, PROTO_ST_SHA256, val32(80), 32, false);
    struct blob ba = sign_next(&a, &d), bb = sign_next(&b, &d);
    struct blob *older = memcmp(ba.id, bb.id, 32) > 0 ? &ba : &bb;
    struct blob *newer = older == &ba ? &bb : &ba;
    assert_int_equal(ingest1(f, older, NULL), 0);
    assert_int_equal(ingest1(f, newer, NULL), 0);
    memcpy(s1, older->id, 32);
    memcpy(s2, newer->id, 32);
    blob_free(&ba);
    blob_free(&bb);
    d_signal(&d, PROTO_ST_PDQ, val32(81), 32, false);
    assert_int_equal(put_next(f, &a, &d, p1), 0);
    d_signal(&d, PROTO_ST_PDQ, val32(82), 32, false);
    assert_int_equal(put_next(f, &a, &d, p2), 0);
    d_signal(&d, PROTO_ST_MD5, val32(83), 16, false);
    assert_int_equal(put_next(f, &a, &d, md), 0);
    d_retraction(&d, p1);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    uint8_t ids[4][32];
    size_t n;
    assert_int_equal(store_lookup(rd, PROTO_ST_SHA256, val32(80), 32, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(ids[0], s1, 32); /* oldest first */
    assert_memory_equal(ids[1], s2, 32);
    assert_int_equal(store_lookup(rd, PROTO_ST_SHA256, val32(80), 32, ids, NULL, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_lookup(rd, PROTO_ST_MD5, val32(83), 16, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0], md, 32);
    assert_int_equal(store_lookup(rd, PROTO_ST_MD5, val32(80), 16, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_lookup(rd, PROTO_ST_SHA256, val32(80), 16, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 0);
    /* Retracted records stay findable; the caller shows their state. */
    assert_int_equal(store_lookup(rd, PROTO_ST_PDQ, val32(81), 32, ids, NULL, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0], p1, 32);

    struct feed_list l = {0};
    assert_int_equal(store_pdq_each(rd, pdq_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_memory_equal(l.ids[0], p2, 32);
    assert_int_equal(l.pos[0], 82);
    store_rd_close(rd);
}

/* store_ingest_verify: duplicates are not verified, marks are set, and store_ingest trusts
 * them (a good record marked bad is refused without a second check: proof it was not
 * re-verified), while a duplicate is still reported as one whatever its mark. */
static void test_ingest_verify(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    struct blob b[4];
    for (int i = 0; i < 4; i++) {
        d_signal(&d, PROTO_ST_MD5, val32((uint8_t)(90 + i)), 16, false);
        b[i] = sign_next(&a, &d);
    }
    assert_int_equal(ingest1(f, &b[0], NULL), 0);
    uint8_t *bad = malloc(b[2].len);
    memcpy(bad, b[2].buf, b[2].len);
    bad[b[2].len - 1] ^= 1;
    uint8_t junk[4] = {1, 2, 3, 4};
    struct store_in in[6] = {
        {.buf = b[0].buf, .len = b[0].len}, /* stored already */
        {.buf = b[1].buf, .len = b[1].len},
        {.buf = bad, .len = b[2].len},
        {.buf = junk, .len = 4},
        {.buf = b[3].buf, .len = b[3].len, .verified = 1}, /* marked by the caller: left alone */
        {.buf = b[2].buf, .len = b[2].len},
    };
    memcpy(in[4].id, b[3].id, PROTO_ID_LEN);
    size_t checked = 99;
    assert_int_equal(store_ingest_verify(f->s, in, 6, &checked), 0);
    assert_int_equal(checked, 3);
    assert_int_equal(in[0].verified, 0);
    assert_int_equal(in[1].verified, 1);
    assert_int_equal(in[2].verified, GIF_E_BADSIG);
    assert_int_equal(in[3].verified, 0);
    assert_int_equal(in[4].verified, 1);
    assert_int_equal(in[5].verified, 1);
    /* A record marked good carries its id, so that store_ingest need not hash it again. */
    assert_memory_equal(in[1].id, b[1].id, PROTO_ID_LEN);
    assert_memory_equal(in[5].id, b[2].id, PROTO_ID_LEN);

    struct store_result res[6];
    assert_int_equal(store_ingest(f->s, in, 6, NOW, res), 0);
    assert_int_equal(res[0].status, GIF_E_DUPLICATE);
    assert_int_equal(res[1].status, 0);
    assert_int_equal(res[2].status, GIF_E_BADSIG);
    assert_true(res[3].status == GIF_E_MALFORMED || res[3].status == GIF_E_NONCANONICAL);
    /* b[3] follows b[2], which is accepted after it in this call: held, then released. */
    assert_int_equal(res[4].status, GIF_E_PENDING);
    assert_int_equal(res[5].status, 0);
    assert_memory_equal(res[1].id, b[1].id, PROTO_ID_LEN);
    assert_memory_equal(res[4].id, b[3].id, PROTO_ID_LEN);
    assert_memory_equal(res[5].id, b[2].id, PROTO_ID_LEN);
    /* Stored under their ids, and read back decoded with them. */
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    for (int i = 1; i <= 3; i++) {
        struct store_rec sr;
        struct proto_record r;
        assert_int_equal(store_get_decoded(rd, b[i].id, &sr, &r), 0);
        assert_memory_equal(r.id, b[i].id, PROTO_ID_LEN);
        assert_int_equal(r.seq, b[i].seq);
    }
    struct store_rec sr0;
    struct proto_record r0;
    static const uint8_t none[PROTO_ID_LEN] = {0xee};
    assert_int_equal(store_get_decoded(rd, none, &sr0, &r0), -ENOENT);
    store_rd_close(rd);

    /* A good record marked bad is refused as marked; a duplicate stays a duplicate. */
    d_signal(&d, PROTO_ST_MD5, val32(95), 16, false);
    struct blob g = sign_next(&a, &d);
    struct store_in m[2] = {{.buf = g.buf, .len = g.len, .verified = GIF_E_BADSIG},
                            {.buf = b[1].buf, .len = b[1].len, .verified = GIF_E_BADSIG}};
    assert_int_equal(store_ingest(f->s, m, 2, NOW, res), 0);
    assert_int_equal(res[0].status, GIF_E_BADSIG);
    assert_int_equal(res[1].status, GIF_E_DUPLICATE);
    m[0].verified = 0;
    assert_int_equal(store_ingest(f->s, m, 1, NOW, res), 0);
    assert_int_equal(res[0].status, 0);
    blob_free(&g);
    free(bad);
    for (int i = 0; i < 4; i++)
        blob_free(&b[i]);
}

struct verify_slice {
    struct store *s;
    struct store_in *in;
    size_t n, checked;
    int rc;
};

static void *verify_slice_thread(void *arg)
{
    struct verify_slice *v = arg;
    v->rc = store_ingest_verify(v->s, v->in, v->n, &v->checked);
    return NULL;
}

/* Slices checked on two threads at once, while a writer commits on a third, then one
 * store_ingest of the whole batch accepts everything (ASan/TSan-friendly: no shared state
 * but the store). */
static void test_ingest_verify_threads(void **state)
{
    struct fx *f = *state;
    struct key a, c;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    add_member(f, &c, PROTO_ROLE_PLATFORM, "C");
    enum { N = 200 };
    struct blob b[N], w[N / 2];
    struct store_in in[N], win[N / 2];
    struct proto_record d;
    uint8_t v[16] = {0};
    for (int i = 0; i < N; i++) {
        v[0] = (uint8_t)i, v[1] = 1;
        d_signal(&d, PROTO_ST_MD5, v, 16, false);
        b[i] = sign_next(&a, &d);
        in[i] = (struct store_in){.buf = b[i].buf, .len = b[i].len};
    }
    for (int i = 0; i < N / 2; i++) {
        v[0] = (uint8_t)i, v[1] = 2;
        d_signal(&d, PROTO_ST_MD5, v, 16, false);
        w[i] = sign_next(&c, &d);
        win[i] = (struct store_in){.buf = w[i].buf, .len = w[i].len};
    }
    struct verify_slice sl[2] = {{f->s, in, N / 2, 0, -1}, {f->s, in + N / 2, N - N / 2, 0, -1}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, verify_slice_thread, &sl[t]), 0);
    struct store_result wres[N / 2], res[N];
    assert_int_equal(store_ingest(f->s, win, N / 2, NOW, wres), 0);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(sl[t].rc, 0);
    }
    assert_int_equal(sl[0].checked + sl[1].checked, N);
    assert_int_equal(store_ingest(f->s, in, N, NOW, res), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(in[i].verified, 1);
        assert_int_equal(res[i].status, 0);
        blob_free(&b[i]);
    }
    for (int i = 0; i < N / 2; i++) {
        assert_int_equal(wres[i].status, 0);
        blob_free(&w[i]);
    }
}

/* More organisations than store_feedback_of keeps on its stack (16): counted all the same. */
static void test_feedback_many_orgs(void **state)
{
    struct fx *f = *state;
    struct key a, m[20];
    add_member(f, &a, PROTO_ROLE_AGENCY, "A");
    struct proto_record d;
    uint8_t target[32];
    d_signal(&d, PROTO_ST_MD5, val32(99), 16, false);
    assert_int_equal(put_next(f, &a, &d, target), 0);
    for (int i = 0; i < 20; i++) {
        char org[16];
        snprintf(org, sizeof org, "Org %d", i);
        add_member(f, &m[i], PROTO_ROLE_PLATFORM, org);
        d_feedback(&d, target, i % 2 ? PROTO_FB_AGREE : PROTO_FB_FALSE_POSITIVE);
        assert_int_equal(put_next(f, &m[i], &d, NULL), 0);
    }
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_fb fb;
    for (int rep = 0; rep < 2; rep++) { /* the second call reuses the snapshot's cursor */
        assert_int_equal(store_feedback_of(rd, target, &fb), 0);
        assert_int_equal(fb.orgs_agree, 10);
        assert_int_equal(fb.orgs_dispute, 10);
        assert_int_equal(fb.count[PROTO_FB_AGREE], 10);
    }
    store_rd_close(rd);
}

static void test_held_dropped_on_release(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    uint8_t unknown[32];
    memset(unknown, 0x21, 32);
    d_signal(&d, PROTO_ST_MD5, val32(140), 16, false);
    struct blob b1 = sign_next(&a, &d);
    struct blob b2 = sign_next(&a, &d);
    d_retraction(&d, unknown); /* breaks rule 6 only when it is released */
    struct blob b3 = sign_next(&a, &d);
    d_signal(&d, PROTO_ST_MD5, val32(141), 16, false);
    struct blob b4 = sign_next(&a, &d);
    assert_int_equal(ingest1(f, &b1, NULL), 0);
    assert_int_equal(ingest1(f, &b3, NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &b4, NULL), GIF_E_PENDING);
    assert_int_equal(ingest1(f, &b2, NULL), 0);
    int rc;
    struct store_head h = head_of(f, a.pk, &rc);
    assert_int_equal(h.seq, 2); /* b3 dropped, b4 still waits behind the hole */
    assert_int_equal(h.held, 1);
    struct store_rd *rd;
    struct store_rec r;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_get(rd, b3.id, &r), -ENOENT);
    store_rd_close(rd);
    blob_free(&b1);
    blob_free(&b2);
    blob_free(&b3);
    blob_free(&b4);
}

struct count_ctx {
    int n;
    int stop_at;
};
static int count_member(void *ctx, const struct store_member *m)
{
    struct count_ctx *c = ctx;
    (void)m;
    return ++c->n == c->stop_at ? 7 : 0;
}
static int count_head(void *ctx, const struct store_head *h)
{
    struct count_ctx *c = ctx;
    (void)h;
    return ++c->n == c->stop_at ? 7 : 0;
}
static int count_feed(void *ctx, const uint8_t id[32], const struct store_rec *r)
{
    struct count_ctx *c = ctx;
    (void)id;
    (void)r;
    return ++c->n == c->stop_at ? 7 : 0;
}

static void test_iterators(void **state)
{
    struct fx *f = *state;
    struct key a, b, c;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    add_member(f, &b, PROTO_ROLE_PLATFORM, "B");
    add_member(f, &c, PROTO_ROLE_OBSERVER, "C");
    struct proto_record d;
    d_signal(&d, PROTO_ST_MD5, val32(150), 16, false);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct count_ctx cc = {0, 0};
    assert_int_equal(store_members_each(rd, count_member, &cc), 0);
    assert_int_equal(cc.n, 3);
    cc = (struct count_ctx){0, 2};
    assert_int_equal(store_members_each(rd, count_member, &cc), 7);
    assert_int_equal(cc.n, 2);
    cc = (struct count_ctx){0, 0};
    assert_int_equal(store_heads_each(rd, count_head, &cc), 0);
    assert_int_equal(cc.n, 2); /* root and a */
    cc = (struct count_ctx){0, 0};
    assert_int_equal(store_feed_each(rd, 0, count_feed, &cc), 0);
    assert_int_equal(cc.n, 4);
    cc = (struct count_ctx){0, 0};
    assert_int_equal(store_feed_each(rd, 3, count_feed, &cc), 0);
    assert_int_equal(cc.n, 1);
    cc = (struct count_ctx){0, 1};
    assert_int_equal(store_feed_each(rd, 0, count_feed, &cc), 7);
    cc = (struct count_ctx){0, 0};
    assert_int_equal(store_feed_each(rd, 4, count_feed, &cc), 0);
    assert_int_equal(cc.n, 0);
    struct store_head h;
    assert_int_equal(store_head_get(rd, c.pk, &h), -ENOENT);
    store_rd_close(rd);
}

static void test_batch_dependencies(void **state)
{
    struct fx *f = *state;
    struct key m;
    key_new(&m);
    struct proto_record d;
    d_membership(&d, m.pk, PROTO_ROLE_PLATFORM, "Batch", 0, 0);
    struct blob b0 = sign_next(&f->root, &d);
    d_signal(&d, PROTO_ST_URL, val32(90), 32, false);
    struct blob b1 = sign_next(&m, &d);
    d_retraction(&d, b1.id);
    struct blob b2 = sign_next(&m, &d);
    struct store_in in[3] = {
        {.buf = b0.buf, .len = b0.len}, {.buf = b1.buf, .len = b1.len}, {.buf = b2.buf, .len = b2.len}};
    struct store_result res[3];
    assert_int_equal(store_ingest(f->s, in, 3, NOW, res), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i].status, 0);
    blob_free(&b0);
    blob_free(&b1);
    blob_free(&b2);
}

/* More origins in one batch than the transaction's head and member caches hold (16): heads
 * evicted while dirty, a record held and released, and a revocation in the middle of the
 * batch that the member cache must see. */
static void test_many_origins_one_batch(void **state)
{
    struct fx *f = *state;
    enum { NO = 20, ROUNDS = 3 };
    struct key m[NO];
    for (int o = 0; o < NO; o++)
        add_member(f, &m[o], PROTO_ROLE_AGENCY, "Many");
    struct blob b[NO * ROUNDS + 4];
    struct store_in in[NO * ROUNDS + 4];
    struct proto_record d;
    size_t n = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int o = 0; o < NO; o++) {
            d_signal(&d, PROTO_ST_URL, val32((uint8_t)(r * NO + o)), 32, false);
            b[n++] = sign_next(&m[o], &d);
        }
    /* Origin 1: seq 5 first (held), then 4 (releases 5). */
    d_signal(&d, PROTO_ST_URL, val32(200), 32, false);
    struct blob s4 = sign_next(&m[1], &d);
    d_signal(&d, PROTO_ST_URL, val32(201), 32, false);
    b[n++] = sign_next(&m[1], &d);
    b[n++] = s4;
    /* Origin 0 revoked inside the batch: its next record is refused. */
    d_revocation(&d, m[0].pk);
    b[n++] = sign_next(&f->root, &d);
    d_signal(&d, PROTO_ST_URL, val32(202), 32, false);
    b[n++] = sign_next(&m[0], &d);
    for (size_t i = 0; i < n; i++)
        in[i] = (struct store_in){.buf = b[i].buf, .len = b[i].len};
    struct store_result res[NO * ROUNDS + 4];
    assert_int_equal(store_ingest(f->s, in, n, NOW, res), 0);
    for (size_t i = 0; i < NO * ROUNDS; i++)
        assert_int_equal(res[i].status, 0);
    assert_int_equal(res[NO * ROUNDS].status, GIF_E_PENDING);
    assert_int_equal(res[NO * ROUNDS + 1].status, 0);
    assert_int_equal(res[NO * ROUNDS + 2].status, 0);
    assert_int_equal(res[NO * ROUNDS + 3].status, GIF_E_REVOKED);
    for (int o = 0; o < NO; o++) {
        int rc;
        struct store_head h = head_of(f, m[o].pk, &rc);
        assert_int_equal(rc, 0);
        uint64_t want = o == 1 ? ROUNDS + 2 : ROUNDS;
        assert_int_equal(h.seq, want);
        assert_int_equal(h.held, 0);
        if (o != 0) assert_memory_equal(h.id, m[o].head, PROTO_ID_LEN);
    }
    struct store_rd *rd;
    struct store_stats st;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    assert_int_equal(store_stats_get(rd, &st), 0);
    store_rd_close(rd);
    assert_int_equal(st.origins, NO + 1); /* and the root */
    assert_int_equal(st.held, 0);
    /* The same batch again: every record a duplicate (the last one still refused). */
    assert_int_equal(store_ingest(f->s, in, n, NOW, res), 0);
    for (size_t i = 0; i + 1 < n; i++)
        assert_int_equal(res[i].status, GIF_E_DUPLICATE);
    for (size_t i = 0; i < n; i++)
        blob_free(&b[i]);
}

static void test_publish(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    uint8_t unknown[32];
    memset(unknown, 0x99, 32);
    struct proto_record d[3];
    d_signal(&d[0], PROTO_ST_SHA256, val32(100), 32, false);
    d_retraction(&d[1], unknown); /* fails: consumes no seq */
    d_signal(&d[2], PROTO_ST_SHA256, val32(101), 32, false);
    struct store_result res[3];
    assert_int_equal(store_publish(f->s, a.sk, d, 3, NOW + 5, res), 0);
    assert_int_equal(res[0].status, 0);
    assert_int_equal(res[0].seq, 1);
    assert_int_equal(res[1].status, GIF_E_TARGET);
    assert_int_equal(res[1].feed, 0);
    assert_int_equal(res[2].status, 0);
    assert_int_equal(res[2].seq, 2);
    assert_int_equal(res[2].feed, res[0].feed + 1);
    assert_memory_equal(d[0].origin, a.pk, 32);
    assert_true(proto_is_zero(d[0].prev, 32));
    assert_memory_equal(d[2].prev, res[0].id, 32);
    assert_memory_equal(d[2].id, res[2].id, 32);
    assert_int_equal(d[2].time_ms, NOW + 5);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_rec r;
    assert_int_equal(store_get(rd, res[2].id, &r), 0);
    struct proto_record back;
    assert_int_equal(proto_decode(&back, r.buf, r.len), 0);
    assert_int_equal(proto_verify(&back), 0);
    assert_int_equal(back.seq, 2);
    assert_memory_equal(back.prev, res[0].id, 32);
    struct store_head h;
    assert_int_equal(store_head_get(rd, a.pk, &h), 0);
    assert_int_equal(h.seq, 2);
    store_rd_close(rd);

    /* A key that is not a member publishes nothing. */
    struct key x;
    key_new(&x);
    d_signal(&d[0], PROTO_ST_SHA256, val32(102), 32, false);
    assert_int_equal(store_publish(f->s, x.sk, d, 1, NOW, res), 0);
    assert_int_equal(res[0].status, GIF_E_NOTMEMBER);
}

static void test_publish_refuses_when_behind(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    d_signal(&d, PROTO_ST_SHA256, val32(110), 32, false);
    struct key ahead = a;
    ahead.seq = 4; /* peers hold a later record of ours than this store does */
    memset(ahead.head, 0x33, 32);
    struct blob b = sign_next(&ahead, &d);
    assert_int_equal(ingest1(f, &b, NULL), GIF_E_PENDING);
    struct store_result res;
    assert_int_equal(store_publish(f->s, a.sk, &d, 1, NOW, &res), 0);
    assert_int_equal(res.status, GIF_E_FROZEN);
    blob_free(&b);
}

static void test_persistence(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_AGENCY, "Persistent");
    struct proto_record d;
    uint8_t sid[32];
    d_signal(&d, PROTO_ST_MD5, val32(120), 16, true);
    assert_int_equal(put_next(f, &a, &d, sid), 0);
    d_signal(&d, PROTO_ST_MD5, val32(121), 16, true);
    struct blob held = sign_at(&a, &d, 5, val32(3), NOW);
    assert_int_equal(ingest1(f, &held, NULL), GIF_E_PENDING);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(fx_open(f), 0);

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_rec r;
    assert_int_equal(store_get(rd, sid, &r), 0);
    struct store_member m;
    assert_int_equal(store_member_get(rd, a.pk, &m), 0);
    assert_string_equal(m.org, "Persistent");
    struct store_head h;
    assert_int_equal(store_head_get(rd, a.pk, &h), 0);
    assert_int_equal(h.seq, 1);
    assert_int_equal(h.held, 1);
    uint8_t ids[2][32];
    size_t n;
    assert_int_equal(store_lookup(rd, PROTO_ST_MD5, val32(120), 16, ids, NULL, 2, &n), 0);
    assert_int_equal(n, 1);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.held, 1);
    assert_int_equal(st.feed_last, 2);
    store_rd_close(rd);
    /* The chain continues where it was. */
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    blob_free(&held);
}

struct tally_seen {
    char id[4][PROTO_INCIDENT_MAX + 1];
    uint64_t n[4];
    size_t count;
};
static int tally_cb(void *ctx, const char *incident, uint64_t matches)
{
    struct tally_seen *t = ctx;
    if (t->count == 4) return -E2BIG;
    snprintf(t->id[t->count], sizeof t->id[0], "%s", incident);
    t->n[t->count++] = matches;
    return 0;
}

/* Local match counts add up across writes, survive a reopen, and skip bad entries. */
static void test_tally(void **state)
{
    struct fx *f = *state;
    struct store_tally t[4] = {{"chc-1", 3}, {"b-2", 1}, {"", 9}, {"zero", 0}};
    assert_int_equal(store_tally_add(f->s, t, 4), 0);
    struct store_tally more[2] = {{"chc-1", 4}, {"a-3", 2}};
    assert_int_equal(store_tally_add(f->s, more, 2), 0);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(fx_open(f), 0);
    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct tally_seen seen = {0};
    assert_int_equal(store_tally_each(rd, tally_cb, &seen), 0);
    store_rd_close(rd);
    assert_int_equal(seen.count, 3); /* the empty id and the zero count wrote nothing */
    assert_string_equal(seen.id[0], "a-3");
    assert_int_equal(seen.n[0], 2);
    assert_string_equal(seen.id[1], "b-2");
    assert_int_equal(seen.n[1], 1);
    assert_string_equal(seen.id[2], "chc-1");
    assert_int_equal(seen.n[2], 7);
}

static void test_schema_newer(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    f->s = NULL;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t two[4] = {0, 0, 0, STORE_SCHEMA_VERSION + 1};
    MDB_val k = {6, "schema"}, v = {4, two};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    char err[256] = "";
    assert_int_equal(store_open(&f->s, f->dir, &f->opts, err, sizeof(err)), GIF_E_SCHEMA);
    assert_null(f->s);
    assert_non_null(strstr(err, "schema 3"));
    assert_non_null(strstr(err, "upgrade gifd"));
}

/* ---- Migration from schema 1 (records by id, a feed table) to 2 (records by feed). */

#define MIG_MAX 64
struct feed_copy {
    size_t n;
    uint8_t id[MIG_MAX][PROTO_ID_LEN];
    uint64_t feed[MIG_MAX], accepted[MIG_MAX];
    size_t len[MIG_MAX];
    uint8_t buf[MIG_MAX][512];
};

static int feed_copy_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *r)
{
    struct feed_copy *c = ctx;
    assert_true(c->n < MIG_MAX && r->len <= sizeof c->buf[0]);
    memcpy(c->id[c->n], id, PROTO_ID_LEN);
    c->feed[c->n] = r->feed;
    c->accepted[c->n] = r->accepted_ms;
    c->len[c->n] = r->len;
    memcpy(c->buf[c->n], r->buf, r->len);
    c->n++;
    return 0;
}

static void feed_copy(struct store *s, struct feed_copy *c)
{
    struct store_rd *rd;
    memset(c, 0, sizeof *c);
    assert_int_equal(store_rd_open(s, &rd), 0);
    assert_int_equal(store_feed_each(rd, 0, feed_copy_cb, c), 0);
    store_rd_close(rd);
}

static MDB_env *raw_env(const char *dir)
{
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64ull << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    return env;
}

/*
 * Rewrites the (closed) store in dir as schema 1 kept it: "records" id -> feed u64 ·
 * accepted_ms u64 · bytes, and "feed" feed -> id. The first `keep` positions also stay in the
 * schema 2 tables, noted in meta "migrated", as an interrupted migration leaves them.
 */
static void downgrade_v1(const char *dir, uint64_t keep)
{
    MDB_env *env = raw_env(dir);
    MDB_txn *txn;
    MDB_dbi meta, recs, ids, old_recs, old_feed;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "feed_records", 0, &recs), 0);
    assert_int_equal(mdb_dbi_open(txn, "ids", 0, &ids), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", MDB_CREATE, &old_recs), 0);
    assert_int_equal(mdb_dbi_open(txn, "feed", MDB_CREATE, &old_feed), 0);
    MDB_cursor *c;
    assert_int_equal(mdb_cursor_open(txn, recs, &c), 0);
    MDB_val k, v;
    int rc;
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        assert_int_equal(k.mv_size, 8);
        uint64_t feed = 0;
        for (int i = 0; i < 8; i++)
            feed = feed << 8 | ((const uint8_t *)k.mv_data)[i];
        const uint8_t *p = v.mv_data;
        uint8_t key[8], id[PROTO_ID_LEN], old[16 + 512];
        memcpy(key, k.mv_data, 8);
        memcpy(id, p + 8, PROTO_ID_LEN);
        size_t len = v.mv_size - 8 - PROTO_ID_LEN;
        assert_true(len <= 512);
        memcpy(old, key, 8);
        memcpy(old + 8, p, 8);
        memcpy(old + 16, p + 8 + PROTO_ID_LEN, len);
        MDB_val ik = {PROTO_ID_LEN, id}, ov = {16 + len, old}, fk = {8, key};
        assert_int_equal(mdb_put(txn, old_recs, &ik, &ov, 0), 0);
        assert_int_equal(mdb_put(txn, old_feed, &fk, &ik, 0), 0);
        if (feed > keep) {
            assert_int_equal(mdb_cursor_del(c, 0), 0);
            assert_int_equal(mdb_del(txn, ids, &ik, NULL), 0);
        }
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(c);
    uint8_t one[4] = {0, 0, 0, 1}, mig[8] = {0};
    for (int i = 0; i < 8; i++)
        mig[i] = (uint8_t)(keep >> (56 - 8 * i));
    MDB_val sk = {6, "schema"}, sv = {4, one}, mk = {8, "migrated"}, mv = {8, mig};
    assert_int_equal(mdb_put(txn, meta, &sk, &sv, 0), 0);
    if (keep) assert_int_equal(mdb_put(txn, meta, &mk, &mv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* After a migration: schema 2 in meta, no schema 1 tables, no note of progress. */
static void assert_migrated(const char *dir)
{
    MDB_env *env = raw_env(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val v;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), MDB_NOTFOUND);
    assert_int_equal(mdb_dbi_open(txn, "feed", 0, &dbi), MDB_NOTFOUND);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val sk = {6, "schema"}, mk = {8, "migrated"};
    assert_int_equal(mdb_get(txn, dbi, &sk, &v), 0);
    assert_int_equal(v.mv_size, 4);
    assert_int_equal(((const uint8_t *)v.mv_data)[3], STORE_SCHEMA_VERSION);
    assert_int_equal(mdb_get(txn, dbi, &mk, &v), MDB_NOTFOUND);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void assert_same_feed(const struct feed_copy *a, const struct feed_copy *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_memory_equal(a->id[i], b->id[i], PROTO_ID_LEN);
        assert_int_equal(a->feed[i], b->feed[i]);
        assert_int_equal(a->accepted[i], b->accepted[i]);
        assert_int_equal(a->len[i], b->len[i]);
        assert_memory_equal(a->buf[i], b->buf[i], a->len[i]);
    }
}

/* A schema 1 store is migrated when opened, whole or resumed after an interruption: every
 * record keeps its id, feed position, acceptance time and bytes, is found by id and by value,
 * and the next record goes on at the next position. */
static void test_migrate_v1(void **state)
{
    struct fx *f = *state;
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    uint8_t first[PROTO_ID_LEN];
    for (int i = 0; i < 30; i++) {
        d_signal(&d, PROTO_ST_MD5, val32((uint8_t)(100 + i)), 16, false);
        assert_int_equal(put_next(f, &a, &d, i == 0 ? first : NULL), 0);
    }
    d_retraction(&d, first);
    assert_int_equal(put_next(f, &a, &d, NULL), 0);
    struct feed_copy before, after;
    feed_copy(f->s, &before);
    assert_int_equal(before.n, 32); /* the membership of A, 30 signals, the retraction */

    for (uint64_t keep = 0; keep <= 20; keep += 20) { /* whole, then resumed at 20 */
        store_close(f->s);
        f->s = NULL;
        downgrade_v1(f->dir, keep);
        assert_int_equal(fx_open(f), 0);
        assert_migrated(f->dir);
        feed_copy(f->s, &after);
        assert_same_feed(&before, &after);

        struct store_rd *rd;
        assert_int_equal(store_rd_open(f->s, &rd), 0);
        for (size_t i = 0; i < before.n; i++) {
            struct store_rec sr;
            struct proto_record r;
            assert_int_equal(store_get_decoded(rd, before.id[i], &sr, &r), 0);
            assert_int_equal(sr.feed, before.feed[i]);
            assert_int_equal(sr.accepted_ms, before.accepted[i]);
            assert_memory_equal(sr.buf, before.buf[i], before.len[i]);
            uint8_t id[PROTO_ID_LEN];
            assert_int_equal(store_feed_get(rd, before.feed[i], id, &sr), 0);
            assert_memory_equal(id, before.id[i], PROTO_ID_LEN);
        }
        uint8_t ids[4][PROTO_ID_LEN];
        uint64_t feeds[4];
        size_t n = 0;
        assert_int_equal(store_lookup(rd, PROTO_ST_MD5, val32(101), 16, ids, feeds, 4, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(ids[0], before.id[2], PROTO_ID_LEN);
        assert_int_equal(feeds[0], before.feed[2]);
        assert_int_equal(store_retraction_of(rd, first, NULL), 0);
        store_rd_close(rd);
    }
    /* Writing goes on after the migration, at the next position. */
    d_signal(&d, PROTO_ST_MD5, val32(200), 16, false);
    struct blob b = sign_next(&a, &d);
    struct store_result res;
    assert_int_equal(ingest1(f, &b, &res), 0);
    assert_int_equal(res.feed, before.feed[before.n - 1] + 1);
    blob_free(&b);
    feed_copy(f->s, &after);
    assert_int_equal(after.n, before.n + 1);
}

static void test_root_differs(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    f->s = NULL;
    struct store_opts o = f->opts;
    o.root[0] ^= 1;
    char err[512] = "";
    assert_int_equal(store_open(&f->s, f->dir, &o, err, sizeof(err)), GIF_E_ROOT);
    assert_null(f->s);
    assert_non_null(strstr(err, "root"));
    assert_int_equal(fx_open(f), 0); /* the right root still opens it */
}

static void test_map_full(void **state)
{
    struct fx *f = *state; /* 1 MiB map */
    struct key a;
    add_member(f, &a, PROTO_ROLE_PLATFORM, "A");
    struct proto_record d;
    uint8_t first[32];
    d_signal(&d, PROTO_ST_MD5, val32(130), 16, false);
    assert_int_equal(put_next(f, &a, &d, first), 0);

    /* vpdq values of 4000 frames: about 160 KiB a record. */
    size_t vlen = 4000 * PROTO_VPDQ_FRAME_LEN;
    uint8_t *v = calloc(1, vlen);
    struct blob b[10];
    struct store_in in[10];
    for (int i = 0; i < 10; i++) {
        v[0] = (uint8_t)i;
        d_signal(&d, PROTO_ST_VPDQ, v, vlen, false);
        b[i] = sign_next(&a, &d);
        in[i] = (struct store_in){.buf = b[i].buf, .len = b[i].len};
    }
    struct store_result res[10];
    assert_int_equal(store_ingest(f->s, in, 10, NOW, res), GIF_E_FULL);
    for (int i = 0; i < 10; i++) {
        assert_int_not_equal(res[i].status, 0);
        assert_int_equal(res[i].feed, 0);
    }

    struct store_rd *rd;
    assert_int_equal(store_rd_open(f->s, &rd), 0);
    struct store_head h;
    assert_int_equal(store_head_get(rd, a.pk, &h), 0);
    assert_int_equal(h.seq, 1);
    assert_memory_equal(h.id, first, 32);
    struct store_stats st;
    assert_int_equal(store_stats_get(rd, &st), 0);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.feed_last, 2);
    struct store_rec r;
    assert_int_equal(store_get(rd, b[0].id, &r), -ENOENT);
    assert_int_equal(store_get(rd, first, &r), 0);
    store_rd_close(rd);

    /* The store still takes what fits. */
    assert_int_equal(ingest1(f, &b[0], NULL), 0);
    for (int i = 0; i < 10; i++)
        blob_free(&b[i]);
    free(v);
}

int main(void)
{
    gif_log_set_level(GIF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accept_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_badsig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_and_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future, setup, teardown),
        cmocka_unit_test_setup_teardown(test_membership_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_held_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_cap, setup_held2, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precheck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_prev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retraction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incidents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_records_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_and_pdq_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_origins_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_many_orgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_verify_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_dropped_on_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iterators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_refuses_when_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tally, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_differs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
