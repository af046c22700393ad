/*
 * The LMDB store. docs/storage.md describes every table byte by byte and the acceptance
 * rules; this file is the only place that includes lmdb.h, and LMDB return codes are
 * translated by store_err() before they leave it.
 *
 * Writes: store_ingest and store_publish each run one write transaction over a whole batch
 * and commit it once (one fsync per batch). Any LMDB failure aborts the transaction, so a
 * batch is either written whole (with each record's verdict) or not at all.
 */
#include "storage/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/gif.h"

#define STORE_DEFAULT_MAP (64ULL << 30)
#define STORE_DEFAULT_SKEW (10ULL * 60 * 1000)
#define STORE_DEFAULT_HELD 10000u
#define STORE_MAX_DBS 24

/* Fixed value sizes (docs/storage.md). */
#define REC_HDR (8 + PROTO_ID_LEN)               /* records: accepted_ms u64 || id */
#define LOGKEY_LEN (PROTO_KEY_LEN + 8)           /* origin || seq BE */
#define HEAD_LEN (8 + PROTO_ID_LEN + 1 + 4)      /* seq || id || flags || held */
#define EXACT_VAL_LEN (8 + PROTO_ID_LEN)         /* feed BE || id: oldest first */
#define EXACT_KEY_MAX 64                         /* stype || value, values are <= 32 */
#define FBKEY_LEN (PROTO_ID_LEN + PROTO_KEY_LEN) /* target || origin */
#define FB_VAL_LEN (1 + 8 + PROTO_ID_LEN)        /* verdict || seq || feedback id */
#define MEM_FIXED (1 + 1 + 8 + 8 + 8 + 8 + PROTO_ID_LEN + 1)
#define HEAD_FROZEN 0x01
#define MEM_REVOKED 0x01
#define GRANT_VAL_LEN (1 + 8) /* granted || root seq */
#define INC_VAL_LEN (8 + 8 + 1 + 1 + 8 + PROTO_ID_LEN + 1 + 4 * 4)
#define INC_KEY_MAX PROTO_INCIDENT_MAX

static const char META_SCHEMA[] = "schema";
static const char META_ROOT[] = "root";
static const char META_COUNTERS[] = "counters";
static const char META_MIGRATED[] = "migrated"; /* schema 1 -> 2: last feed position copied */

/* Counters kept in meta under "counters" as consecutive u64 BE, in this order. New counters
 * are appended; a shorter stored value reads as zeros for the missing tail. */
struct counters {
    uint64_t records;
    uint64_t by_kind[7];
    uint64_t by_stype[6];
    uint64_t retracted;
    uint64_t held;
    uint64_t forks;
    uint64_t origins;
    uint64_t feed_last;
    uint64_t by_kind_hi[2]; /* kinds 7 and 8: appended, so older counters keep their places */
};
#define COUNTERS_N (sizeof(struct counters) / sizeof(uint64_t))

struct store {
    MDB_env *env;
    MDB_dbi meta, records, ids, log, heads, exact, retr, fb, members, held, forks;
    MDB_dbi grants, incidents, increcs;
    MDB_dbi local_matches; /* node-local: matches answered per incident (never published) */
    uint8_t root[PROTO_KEY_LEN];
    uint64_t max_skew_ms;
    uint32_t held_max;
    char dir[512];
    /* One closed snapshot kept for the next store_rd_open: its transaction reset (holding no
     * pages), its cursors kept, so that a request's snapshot costs no allocation. Any
     * thread may take or return it. */
    _Atomic(struct store_rd *) spare;
};

struct store_rd {
    struct store *s;
    MDB_txn *txn;
    MDB_cursor *exact; /* opened on first lookup and reused, so lookups allocate nothing */
    MDB_cursor *fb;    /* likewise for store_feedback_of */
};
static void rd_free(struct store_rd *rd);

/* A head as stored in the heads table. */
struct head {
    uint64_t seq;
    uint8_t id[PROTO_ID_LEN];
    uint8_t flags;
    uint32_t held;
};

/* Heads read or written in this transaction, so that consecutive records of one origin cost
 * no heads lookup or write each: written back (the dirty ones) before the commit. */
#define HCACHE_N 16
struct hcache {
    uint8_t origin[PROTO_KEY_LEN];
    struct head h;
    bool found; /* in the heads table (or written in this transaction) */
    bool dirty; /* to be written back */
};

/* Member entries that check_origin read in this transaction; all forgotten on member_write. */
#define MCACHE_N 16
struct mcache {
    uint8_t key[PROTO_KEY_LEN];
    int rc; /* 0, or -ENOENT: not a member */
    bool revoked;
    bool incidents; /* may publish incident records: an agency, or granted the right */
    uint8_t role;
    uint64_t not_before_ms, not_after_ms;
};

/* One write transaction and the state carried across the records of a batch. A zeroed wtx
 * (store_precheck, store_ingest_verify) is a valid read-only one with empty caches. */
struct wtx {
    struct store *s;
    MDB_txn *txn;
    struct counters c;
    bool counted; /* c was loaded: held and forks counts say whether those tables are empty */
    uint64_t now_ms;
    struct hcache hc[HCACHE_N];
    unsigned nhc, hnext;
    struct mcache mc[MCACHE_N];
    unsigned nmc, mnext;
};

/* ---- Bytes. */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void logkey(uint8_t k[LOGKEY_LEN], const uint8_t origin[PROTO_KEY_LEN], uint64_t seq)
{
    memcpy(k, origin, PROTO_KEY_LEN);
    put_u64(k + PROTO_KEY_LEN, seq);
}

static MDB_val mv(const void *p, size_t n)
{
    MDB_val v = {.mv_size = n, .mv_data = (void *)p};
    return v;
}

/* ---- Errors. The one place LMDB codes become project codes. */

static int store_err(int rc, const char *what)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
    case ENOSPC:
        return GIF_E_FULL;
    case ENOMEM:
        return -ENOMEM;
    default:
        GIF_ERROR("store", "%s: %s", what, mdb_strerror(rc));
        return -EIO;
    }
}

/* ---- Small typed accessors over a transaction. Each returns 0, -ENOENT or an error. */

static int db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *out,
                  const char *what)
{
    MDB_val key = mv(k, klen);
    return store_err(mdb_get(txn, dbi, &key, out), what);
}

static int db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen,
                  unsigned flags, const char *what)
{
    MDB_val key = mv(k, klen), val = mv(v, vlen);
    return store_err(mdb_put(txn, dbi, &key, &val, flags), what);
}

static int db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const char *what)
{
    MDB_val key = mv(k, klen);
    return store_err(mdb_del(txn, dbi, &key, NULL), what);
}

static int counters_load(MDB_txn *txn, struct store *s, struct counters *c)
{
    memset(c, 0, sizeof(*c));
    MDB_val v;
    int rc = db_get(txn, s->meta, META_COUNTERS, sizeof(META_COUNTERS) - 1, &v, "read counters");
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    uint64_t *w = (uint64_t *)c;
    size_t n = v.mv_size / 8;
    if (n > COUNTERS_N) n = COUNTERS_N;
    for (size_t i = 0; i < n; i++)
        w[i] = get_u64((const uint8_t *)v.mv_data + 8 * i);
    return 0;
}

static int counters_save(struct wtx *w)
{
    uint8_t buf[COUNTERS_N * 8];
    const uint64_t *c = (const uint64_t *)&w->c;
    for (size_t i = 0; i < COUNTERS_N; i++)
        put_u64(buf + 8 * i, c[i]);
    return db_put(w->txn, w->s->meta, META_COUNTERS, sizeof(META_COUNTERS) - 1, buf, sizeof(buf), 0,
                  "write counters");
}

static int head_read(MDB_txn *txn, struct store *s, const uint8_t origin[PROTO_KEY_LEN],
                     struct head *h)
{
    memset(h, 0, sizeof(*h));
    MDB_val v;
    int rc = db_get(txn, s->heads, origin, PROTO_KEY_LEN, &v, "read head");
    if (rc) return rc;
    if (v.mv_size < HEAD_LEN) return store_err(MDB_CORRUPTED, "head value too short");
    const uint8_t *p = v.mv_data;
    h->seq = get_u64(p);
    memcpy(h->id, p + 8, PROTO_ID_LEN);
    h->flags = p[8 + PROTO_ID_LEN];
    h->held = get_u32(p + 8 + PROTO_ID_LEN + 1);
    return 0;
}

static int head_put(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN], const struct head *h)
{
    uint8_t b[HEAD_LEN];
    put_u64(b, h->seq);
    memcpy(b + 8, h->id, PROTO_ID_LEN);
    b[8 + PROTO_ID_LEN] = h->flags;
    put_u32(b + 8 + PROTO_ID_LEN + 1, h->held);
    return db_put(w->txn, w->s->heads, origin, PROTO_KEY_LEN, b, sizeof(b), 0, "write head");
}

static struct hcache *hcache_find(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN])
{
    for (unsigned i = 0; i < w->nhc; i++)
        if (memcmp(w->hc[i].origin, origin, PROTO_KEY_LEN) == 0) return &w->hc[i];
    return NULL;
}

/* A free cache slot for origin, writing back the entry it replaces if that one is dirty. */
static int hcache_slot(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN], struct hcache **out)
{
    struct hcache *e;
    if (w->nhc < HCACHE_N) {
        e = &w->hc[w->nhc++];
    } else {
        e = &w->hc[w->hnext];
        w->hnext = (w->hnext + 1) % HCACHE_N;
        if (e->dirty) {
            int rc = head_put(w, e->origin, &e->h);
            if (rc) return rc;
        }
    }
    memcpy(e->origin, origin, PROTO_KEY_LEN);
    e->dirty = false;
    *out = e;
    return 0;
}

/* Writes a head (into the transaction's cache; heads_flush writes it to the table). */
static int head_write(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN], const struct head *h)
{
    struct hcache *e = hcache_find(w, origin);
    int rc;
    if (!e && (rc = hcache_slot(w, origin, &e))) return rc;
    e->h = *h;
    e->found = true;
    e->dirty = true;
    return 0;
}

static int heads_flush(struct wtx *w)
{
    for (unsigned i = 0; i < w->nhc; i++) {
        struct hcache *e = &w->hc[i];
        if (!e->dirty) continue;
        int rc = head_put(w, e->origin, &e->h);
        if (rc) return rc;
        e->dirty = false;
    }
    return 0;
}

/* Reads a head, counting a new origin when there is none yet (found = false). */
static int head_load(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN], struct head *h,
                     bool *found)
{
    struct hcache *e = hcache_find(w, origin);
    if (!e) {
        struct head t;
        int rc = head_read(w->txn, w->s, origin, &t);
        if (rc && rc != -ENOENT) return rc;
        bool in_table = rc == 0;
        if ((rc = hcache_slot(w, origin, &e))) return rc;
        e->h = t; /* zeroed by head_read when there is none */
        e->found = in_table;
    }
    *h = e->h;
    *found = e->found;
    return 0;
}

static void member_decode(const uint8_t key[PROTO_KEY_LEN], const MDB_val *v,
                          struct store_member *m, uint64_t *root_seq)
{
    const uint8_t *p = v->mv_data;
    memset(m, 0, sizeof(*m));
    memcpy(m->key, key, PROTO_KEY_LEN);
    m->role = p[0];
    m->revoked = (p[1] & MEM_REVOKED) != 0;
    m->not_before_ms = get_u64(p + 2);
    m->not_after_ms = get_u64(p + 10);
    m->revoked_ms = get_u64(p + 18);
    if (root_seq) *root_seq = get_u64(p + 26);
    memcpy(m->record_id, p + 34, PROTO_ID_LEN);
    size_t olen = p[66];
    if (olen > PROTO_NAME_MAX) olen = PROTO_NAME_MAX;
    if (olen > v->mv_size - MEM_FIXED) olen = v->mv_size - MEM_FIXED;
    memcpy(m->org, p + MEM_FIXED, olen);
    m->org[olen] = '\0';
}

static int member_read(MDB_txn *txn, struct store *s, const uint8_t key[PROTO_KEY_LEN],
                       struct store_member *m, uint64_t *root_seq)
{
    MDB_val v;
    int rc = db_get(txn, s->members, key, PROTO_KEY_LEN, &v, "read member");
    if (rc) return rc;
    if (v.mv_size < MEM_FIXED) return store_err(MDB_CORRUPTED, "member value too short");
    member_decode(key, &v, m, root_seq);
    return 0;
}

static int member_write(struct wtx *w, const struct store_member *m, uint64_t root_seq)
{
    uint8_t b[MEM_FIXED + PROTO_NAME_MAX];
    size_t olen = strlen(m->org);
    b[0] = m->role;
    b[1] = m->revoked ? MEM_REVOKED : 0;
    put_u64(b + 2, m->not_before_ms);
    put_u64(b + 10, m->not_after_ms);
    put_u64(b + 18, m->revoked_ms);
    put_u64(b + 26, root_seq);
    memcpy(b + 34, m->record_id, PROTO_ID_LEN);
    b[66] = (uint8_t)olen;
    memcpy(b + MEM_FIXED, m->org, olen);
    w->nmc = 0;
    w->mnext = 0;
    return db_put(w->txn, w->s->members, m->key, PROTO_KEY_LEN, b, MEM_FIXED + olen, 0,
                  "write member");
}

bool store_member_active(const struct store_member *m, uint64_t t)
{
    return !m->revoked && m->not_before_ms <= t && (m->not_after_ms == 0 || t <= m->not_after_ms);
}

/* ---- Open and close. */

/* Opens every table in txn, creating the ones missing. */
static int open_dbis(struct store *s, MDB_txn *txn)
{
    static const struct {
        const char *name;
        unsigned flags;
        size_t off;
    } t[] = {
        {"feed_records", 0, offsetof(struct store, records)},
        {"ids", 0, offsetof(struct store, ids)},
        {"log", 0, offsetof(struct store, log)},
        {"heads", 0, offsetof(struct store, heads)},
        {"exact", MDB_DUPSORT | MDB_DUPFIXED, offsetof(struct store, exact)},
        {"retractions", 0, offsetof(struct store, retr)},
        {"feedback", 0, offsetof(struct store, fb)},
        {"members", 0, offsetof(struct store, members)},
        {"held", 0, offsetof(struct store, held)},
        {"forks", 0, offsetof(struct store, forks)},
        {"grants", 0, offsetof(struct store, grants)},
        {"incidents", 0, offsetof(struct store, incidents)},
        {"incident_records", MDB_DUPSORT | MDB_DUPFIXED, offsetof(struct store, increcs)},
        {"local_matches", 0, offsetof(struct store, local_matches)},
    };
    for (size_t i = 0; i < GIF_ARRAY_LEN(t); i++) {
        MDB_dbi *dbi = (MDB_dbi *)((char *)s + t[i].off);
        int rc = mdb_dbi_open(txn, t[i].name, t[i].flags | MDB_CREATE, dbi);
        if (rc) return store_err(rc, t[i].name);
    }
    return 0;
}

/*
 * Checks (or, on a new store, writes) the schema version and root key; *schema gets the
 * store's version. Reads meta before any other table is created, so that a store of a newer
 * schema is left untouched.
 */
static int check_meta(struct store *s, MDB_txn *txn, uint32_t *schema_out, char *err, size_t errlen)
{
    *schema_out = STORE_SCHEMA_VERSION;
    MDB_val v;
    int rc = db_get(txn, s->meta, META_SCHEMA, sizeof(META_SCHEMA) - 1, &v, "read schema");
    if (rc == -ENOENT) {
        uint8_t b[4];
        put_u32(b, STORE_SCHEMA_VERSION);
        rc = db_put(txn, s->meta, META_SCHEMA, sizeof(META_SCHEMA) - 1, b, 4, 0, "write schema");
        if (!rc)
            rc = db_put(txn, s->meta, META_ROOT, sizeof(META_ROOT) - 1, s->root, PROTO_KEY_LEN, 0,
                        "write root");
        if (rc)
            gif_seterr(err, errlen, "cannot initialise store at %s: %s", s->dir, gif_strerror(rc));
        return rc;
    }
    if (rc) {
        gif_seterr(err, errlen, "cannot read store at %s: %s", s->dir, gif_strerror(rc));
        return rc;
    }
    uint32_t schema = v.mv_size == 4 ? get_u32(v.mv_data) : 0;
    if (schema > STORE_SCHEMA_VERSION) {
        gif_seterr(err, errlen,
                   "store at %s has schema %u; this gifd reads up to schema %u: upgrade gifd",
                   s->dir, schema, STORE_SCHEMA_VERSION);
        return GIF_E_SCHEMA;
    }
    if (schema < 1) {
        gif_seterr(err, errlen, "store at %s has an unreadable schema version", s->dir);
        return GIF_E_SCHEMA;
    }
    *schema_out = schema;
    rc = db_get(txn, s->meta, META_ROOT, sizeof(META_ROOT) - 1, &v, "read root");
    if (rc || v.mv_size != PROTO_KEY_LEN) {
        gif_seterr(err, errlen, "store at %s has no consortium root key recorded", s->dir);
        return rc ? rc : -EIO;
    }
    if (memcmp(v.mv_data, s->root, PROTO_KEY_LEN) != 0) {
        char have[2 * PROTO_KEY_LEN + 1], want[2 * PROTO_KEY_LEN + 1];
        gif_hex(have, v.mv_data, PROTO_KEY_LEN);
        gif_hex(want, s->root, PROTO_KEY_LEN);
        gif_seterr(err, errlen,
                   "store at %s belongs to consortium root %s, but the configured root is %s: "
                   "use a fresh data directory for a different consortium",
                   s->dir, have, want);
        return GIF_E_ROOT;
    }
    return 0;
}

#define MIGRATE_CHUNK 20000 /* records per transaction of a migration */

/* Copies up to MIGRATE_CHUNK records of a schema 1 store into the schema 2 tables, in one
 * transaction; *done is set once all are copied (the old tables are then dropped and the
 * schema set to 2 in the same transaction). *copied counts the records copied. */
static int migrate_chunk(struct store *s, bool *done, uint64_t *copied)
{
    MDB_txn *txn;
    MDB_dbi old_recs, old_feed;
    MDB_cursor *c = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return store_err(rc, "begin migration");
    if ((rc = mdb_dbi_open(txn, "records", 0, &old_recs)) ||
        (rc = mdb_dbi_open(txn, "feed", 0, &old_feed)) ||
        (rc = mdb_cursor_open(txn, old_feed, &c))) {
        rc = store_err(rc, "open the schema 1 tables");
        goto out;
    }
    MDB_val v;
    uint64_t last = 0;
    if ((rc = db_get(txn, s->meta, META_MIGRATED, sizeof(META_MIGRATED) - 1, &v,
                     "read migrated")) == 0)
        last = v.mv_size == 8 ? get_u64(v.mv_data) : 0;
    else if (rc != -ENOENT)
        goto out;
    uint8_t fk[8];
    put_u64(fk, last + 1);
    MDB_val k = mv(fk, 8);
    size_t n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && n < MIGRATE_CHUNK;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size != 8 || v.mv_size != PROTO_ID_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint8_t key[8], id[PROTO_ID_LEN];
        memcpy(key, k.mv_data, 8);
        memcpy(id, v.mv_data, PROTO_ID_LEN);
        MDB_val ik = mv(id, PROTO_ID_LEN), old;
        if ((rc = mdb_get(txn, old_recs, &ik, &old)) != 0) break;
        if (old.mv_size < 16) { /* schema 1: feed u64 || accepted_ms u64 || bytes */
            rc = MDB_CORRUPTED;
            break;
        }
        MDB_val nk = mv(key, 8), nv = {.mv_size = REC_HDR + old.mv_size - 16, .mv_data = NULL};
        if ((rc = mdb_put(txn, s->records, &nk, &nv, MDB_APPEND | MDB_RESERVE)) != 0) break;
        uint8_t *p = nv.mv_data;
        memcpy(p, (const uint8_t *)old.mv_data + 8, 8);
        memcpy(p + 8, id, PROTO_ID_LEN);
        memcpy(p + REC_HDR, (const uint8_t *)old.mv_data + 16, old.mv_size - 16);
        MDB_val iv = mv(key, 8);
        if ((rc = mdb_put(txn, s->ids, &ik, &iv, MDB_NOOVERWRITE)) != 0) break;
        last = get_u64(key);
    }
    mdb_cursor_close(c);
    c = NULL;
    *done = rc == MDB_NOTFOUND;
    if (rc && !*done) {
        rc = store_err(rc, "copy a record");
        goto out;
    }
    *copied += n;
    if (*done) {
        uint8_t b[4];
        put_u32(b, STORE_SCHEMA_VERSION);
        if ((rc = mdb_drop(txn, old_recs, 1)) || (rc = mdb_drop(txn, old_feed, 1))) {
            rc = store_err(rc, "drop the schema 1 tables");
            goto out;
        }
        /* Absent when everything fitted in the first chunk. */
        rc = db_del(txn, s->meta, META_MIGRATED, sizeof(META_MIGRATED) - 1, "delete migrated");
        if (rc && rc != -ENOENT) goto out;
        if ((rc = db_put(txn, s->meta, META_SCHEMA, sizeof(META_SCHEMA) - 1, b, 4, 0,
                         "write schema")))
            goto out;
    } else {
        uint8_t b[8];
        put_u64(b, last);
        if ((rc = db_put(txn, s->meta, META_MIGRATED, sizeof(META_MIGRATED) - 1, b, 8, 0,
                         "write migrated")))
            goto out;
    }
    return store_err(mdb_txn_commit(txn), "commit migration");
out:
    if (c) mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

/*
 * Schema 1 kept records by id ("records": id -> feed, accepted_ms, bytes; "feed": feed -> id).
 * Schema 2 keeps them by feed position with an index of ids (docs/storage.md): a new record is
 * an append instead of a random insert. Copies in transactions of MIGRATE_CHUNK records,
 * noting the last position copied, so that an interrupted migration resumes where it stopped;
 * nothing is dropped until everything is copied.
 */
static int migrate_v1(struct store *s, char *err, size_t errlen)
{
    GIF_INFO("store", "%s: migrating from schema 1 to %d (records by feed position)", s->dir,
             STORE_SCHEMA_VERSION);
    uint64_t t0 = gif_mono_ns(), copied = 0, logged = 0;
    bool done = false;
    while (!done) {
        int rc = migrate_chunk(s, &done, &copied);
        if (rc) {
            gif_seterr(err, errlen,
                       "cannot migrate store at %s to schema %d after %llu records: %s (nothing "
                       "is lost: the next start resumes)",
                       s->dir, STORE_SCHEMA_VERSION, (unsigned long long)copied, gif_strerror(rc));
            return rc;
        }
        if (copied - logged >= 500000) {
            GIF_INFO("store", "%s: %llu records migrated", s->dir, (unsigned long long)copied);
            logged = copied;
        }
    }
    GIF_INFO("store", "%s: migrated %llu records to schema %d in %.1f s", s->dir,
             (unsigned long long)copied, STORE_SCHEMA_VERSION, (double)(gif_mono_ns() - t0) / 1e9);
    return 0;
}

int store_open(struct store **out, const char *dir, const struct store_opts *opts, char *err,
               size_t errlen)
{
    *out = NULL;
    if (errlen > 0 && err) err[0] = '\0';
    MDB_txn *txn = NULL;
    struct store *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    memcpy(s->root, opts->root, PROTO_KEY_LEN);
    s->max_skew_ms = opts->max_skew_ms ? opts->max_skew_ms : STORE_DEFAULT_SKEW;
    s->held_max = opts->held_max ? opts->held_max : STORE_DEFAULT_HELD;
    int rc;
    if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir)) {
        gif_seterr(err, errlen, "store directory path is too long: %s", dir);
        rc = -ENAMETOOLONG;
        goto fail_free;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        gif_seterr(err, errlen, "cannot create store directory %s: %s", dir, gif_strerror(rc));
        goto fail_free;
    }

    rc = mdb_env_create(&s->env);
    if (rc) {
        rc = store_err(rc, "mdb_env_create");
        goto fail_free;
    }
    uint64_t map = opts->map_size ? opts->map_size : STORE_DEFAULT_MAP;
    if ((rc = mdb_env_set_mapsize(s->env, (size_t)map)) ||
        (rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS))) {
        rc = store_err(rc, "configure environment");
        goto fail_env;
    }
    /* MDB_NOTLS: read transactions are opened on the loop thread and the writer runs on a
     * worker thread; without it a reader slot would be tied to a thread. */
    unsigned flags = MDB_NOTLS | (opts->no_sync ? MDB_NOSYNC : 0);
    rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc) {
        int code = store_err(rc, "mdb_env_open");
        gif_seterr(err, errlen, "cannot open store at %s: %s", dir, mdb_strerror(rc));
        rc = code;
        goto fail_env;
    }

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        rc = store_err(rc, "begin open transaction");
        gif_seterr(err, errlen, "cannot open store at %s: %s", dir, gif_strerror(rc));
        goto fail_env;
    }
    rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    if (rc) {
        rc = store_err(rc, "open meta");
        gif_seterr(err, errlen, "cannot open store at %s: %s", dir, gif_strerror(rc));
        goto fail_txn;
    }
    uint32_t schema;
    if ((rc = check_meta(s, txn, &schema, err, errlen))) goto fail_txn;
    if ((rc = open_dbis(s, txn))) {
        gif_seterr(err, errlen, "cannot open the tables of store at %s: %s", dir, gif_strerror(rc));
        goto fail_txn;
    }
    rc = mdb_txn_commit(txn);
    if (rc) {
        rc = store_err(rc, "commit open transaction");
        gif_seterr(err, errlen, "cannot initialise store at %s: %s", dir, gif_strerror(rc));
        goto fail_env;
    }
    if (schema < 2 && (rc = migrate_v1(s, err, errlen))) goto fail_env;
    GIF_INFO("store", "opened %s (schema %d)", dir, STORE_SCHEMA_VERSION);
    *out = s;
    return 0;

fail_txn:
    mdb_txn_abort(txn);
fail_env:
    mdb_env_close(s->env);
fail_free:
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s) return;
    struct store_rd *rd = atomic_exchange(&s->spare, NULL);
    if (rd) rd_free(rd);
    mdb_env_close(s->env);
    free(s);
}

/* ---- Acceptance. */

/* The records value of id (accepted_ms u64 || id || bytes), pointing into the map, and, when
 * feed is not NULL, its feed position: the id index, then the record. 0, -ENOENT or an error. */
static int record_by_id(MDB_txn *txn, const struct store *s, const uint8_t id[PROTO_ID_LEN],
                        MDB_val *v, uint64_t *feed)
{
    MDB_val f;
    int rc = db_get(txn, s->ids, id, PROTO_ID_LEN, &f, "read id");
    if (rc) return rc;
    if (f.mv_size != 8) return store_err(MDB_CORRUPTED, "id index value size");
    rc = db_get(txn, s->records, f.mv_data, 8, v, "read record");
    if (rc) return rc == -ENOENT ? store_err(MDB_CORRUPTED, "id index names no record") : rc;
    if (v->mv_size < REC_HDR) return store_err(MDB_CORRUPTED, "record value too short");
    if (feed) *feed = get_u64(f.mv_data);
    return 0;
}

/* Reads and decodes a stored record into r (pointing into the map, valid until the next write
 * in this transaction). Returns 0, -ENOENT, or an error. */
static int stored_record(struct wtx *w, const uint8_t id[PROTO_ID_LEN], struct proto_record *r)
{
    MDB_val v;
    int rc = record_by_id(w->txn, w->s, id, &v, NULL);
    if (rc) return rc;
    rc = proto_decode_known(r, (const uint8_t *)v.mv_data + REC_HDR, v.mv_size - REC_HDR, id);
    if (rc) {
        char hex[2 * PROTO_ID_LEN + 1];
        gif_hex(hex, id, PROTO_ID_LEN);
        GIF_ERROR("store", "stored record %s does not decode: %s", hex, gif_strerror(rc));
        return -EIO;
    }
    return 0;
}

static int head_load(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN], struct head *h,
                     bool *found);

/*
 * True (1) if r is already stored: accepted, kept as an equivocation proof, or held aside.
 * Checked before any signature work so that gossip duplicates cost one lookup. An origin's
 * accepted records are exactly seqs 1 to its head's, so a record past the head (the usual
 * case: a new record) needs no look in the log, and the head is cached per transaction.
 */
static int is_duplicate(struct wtx *w, const struct proto_record *r, const uint8_t *buf, size_t len)
{
    MDB_val v;
    struct head h;
    bool found;
    int rc = head_load(w, r->origin, &h, &found);
    if (rc) return rc;
    if (r->seq <= h.seq) { /* the record accepted at r's seq: r itself, or another (a fork) */
        uint8_t k[LOGKEY_LEN];
        logkey(k, r->origin, r->seq);
        rc = db_get(w->txn, w->s->log, k, sizeof(k), &v, "read log");
        if (rc && rc != -ENOENT) return rc;
        if (!rc && v.mv_size == PROTO_ID_LEN && memcmp(v.mv_data, r->id, PROTO_ID_LEN) == 0)
            return 1;
    }
    /* With the counters loaded, empty forks and held tables (the usual case) need no look. */
    if (w->counted && w->c.forks == 0 && w->c.held == 0) return 0;
    uint8_t k[LOGKEY_LEN];
    logkey(k, r->origin, r->seq);
    rc = db_get(w->txn, w->s->forks, k, sizeof(k), &v, "read fork");
    if (rc && rc != -ENOENT) return rc;
    if (!rc && v.mv_size == PROTO_ID_LEN + len &&
        memcmp((const uint8_t *)v.mv_data + PROTO_ID_LEN, buf, len) == 0)
        return 1;
    rc = db_get(w->txn, w->s->held, k, sizeof(k), &v, "read held");
    if (rc && rc != -ENOENT) return rc;
    if (!rc && v.mv_size == len && memcmp(v.mv_data, buf, len) == 0) return 1;
    return 0;
}

/* ---- Grants and incidents (docs/storage.md). */

static size_t grant_key(uint8_t k[1 + PROTO_NAME_MAX], const char *org, size_t olen, uint8_t right)
{
    if (olen > PROTO_NAME_MAX) olen = PROTO_NAME_MAX;
    k[0] = right;
    memcpy(k + 1, org, olen);
    return 1 + olen;
}

/* Whether org holds right: 0 and *granted, or -ENOENT when never granted. */
static int grant_read(MDB_txn *txn, struct store *s, const char *org, uint8_t right, bool *granted)
{
    uint8_t k[1 + PROTO_NAME_MAX];
    MDB_val v;
    int rc = db_get(txn, s->grants, k, grant_key(k, org, strlen(org), right), &v, "read grant");
    if (rc) return rc;
    if (v.mv_size < GRANT_VAL_LEN) return store_err(MDB_CORRUPTED, "grant value too short");
    *granted = ((const uint8_t *)v.mv_data)[0] != 0;
    return 0;
}

static void inc_decode(const MDB_val *k, const MDB_val *v, struct store_incident *in)
{
    const uint8_t *p = v->mv_data;
    memset(in, 0, sizeof *in);
    size_t n = k->mv_size > PROTO_INCIDENT_MAX ? PROTO_INCIDENT_MAX : k->mv_size;
    memcpy(in->id, k->mv_data, n);
    in->id[n] = '\0';
    in->opened_ms = get_u64(p);
    in->updated_ms = get_u64(p + 8);
    in->alert_level = p[16];
    in->action = p[17];
    in->action_ms = get_u64(p + 18);
    memcpy(in->action_id, p + 26, PROTO_ID_LEN);
    in->action_level = p[26 + PROTO_ID_LEN];
    const uint8_t *c = p + 27 + PROTO_ID_LEN;
    in->confirmed = (c[0] & 0x80) != 0;
    in->alerts = get_u32(c) & 0x7fffffffu;
    in->signals = get_u32(c + 4);
    in->actions = get_u32(c + 8);
    in->records = get_u32(c + 12);
    in->level = in->action ? in->action_level : in->alert_level;
    in->concluded = in->action == PROTO_ACT_CONCLUDE;
}

static void inc_encode(uint8_t p[INC_VAL_LEN], const struct store_incident *in)
{
    put_u64(p, in->opened_ms);
    put_u64(p + 8, in->updated_ms);
    p[16] = in->alert_level;
    p[17] = in->action;
    put_u64(p + 18, in->action_ms);
    memcpy(p + 26, in->action_id, PROTO_ID_LEN);
    p[26 + PROTO_ID_LEN] = in->action_level;
    uint8_t *c = p + 27 + PROTO_ID_LEN;
    put_u32(c, (in->alerts & 0x7fffffffu) | (in->confirmed ? 0x80000000u : 0));
    put_u32(c + 4, in->signals);
    put_u32(c + 8, in->actions);
    put_u32(c + 12, in->records);
}

/*
 * Files record r (accepted at feed position fk) under incident name: lists it in the
 * incident's records and folds it into the incident's state. The state depends only on the
 * set of records, never on their arrival order: the level set by the latest action (by time,
 * then id), else the highest alert level.
 */
static int inc_file(struct wtx *w, const struct proto_str *name, const struct proto_record *r,
                    const uint8_t fk[8], bool by_agency)
{
    if (name->n == 0 || name->n > INC_KEY_MAX) return 0;
    /* The name may point into a stored record's page, which a write may move: copy it. */
    uint8_t nm[INC_KEY_MAX];
    size_t nn = name->n;
    memcpy(nm, name->p, nn);
    struct store_incident in;
    MDB_val k = mv(nm, nn), v;
    int rc = mdb_get(w->txn, w->s->incidents, &k, &v);
    if (rc == 0 && v.mv_size >= INC_VAL_LEN) {
        inc_decode(&k, &v, &in);
    } else if (rc == 0 || rc == MDB_NOTFOUND) {
        memset(&in, 0, sizeof in);
        in.opened_ms = r->time_ms;
    } else {
        return store_err(rc, "read incident");
    }
    if (r->time_ms < in.opened_ms) in.opened_ms = r->time_ms;
    if (r->time_ms > in.updated_ms) in.updated_ms = r->time_ms;
    in.records++;
    switch (r->kind) {
    case PROTO_ALERT:
        in.alerts++;
        if (r->u.alert.level > in.alert_level) in.alert_level = r->u.alert.level;
        if (by_agency) in.confirmed = true;
        break;
    case PROTO_SIGNAL:
        in.signals++;
        break;
    case PROTO_INCIDENT:
        in.actions++;
        in.confirmed = true;
        if (!in.action || r->time_ms > in.action_ms ||
            (r->time_ms == in.action_ms && memcmp(r->id, in.action_id, PROTO_ID_LEN) > 0)) {
            in.action = r->u.incident.action;
            in.action_level = r->u.incident.level;
            in.action_ms = r->time_ms;
            memcpy(in.action_id, r->id, PROTO_ID_LEN);
        }
        break;
    default:
        break;
    }
    uint8_t b[INC_VAL_LEN];
    inc_encode(b, &in);
    if ((rc = db_put(w->txn, w->s->incidents, nm, nn, b, sizeof b, 0, "write incident"))) return rc;
    return db_put(w->txn, w->s->increcs, nm, nn, fk, 8, 0, "write incident record");
}

/* The incident a stored signal or alert belongs to (empty if none). */
static struct proto_str incident_of(const struct proto_record *t)
{
    struct proto_str none = {"", 0};
    if (t->kind == PROTO_SIGNAL) return t->u.signal.incident;
    if (t->kind == PROTO_ALERT) return t->u.alert.incident;
    if (t->kind == PROTO_INCIDENT) return t->u.incident.incident;
    return none;
}

/* Rules 2 and 3: may this origin publish this record at its time? Sets *status. */
static int check_origin(struct wtx *w, const struct proto_record *r, int *status)
{
    bool from_root = memcmp(r->origin, w->s->root, PROTO_KEY_LEN) == 0;
    *status = 0;
    if (r->kind == PROTO_MEMBERSHIP || r->kind == PROTO_REVOCATION || r->kind == PROTO_GRANT) {
        if (!from_root) *status = GIF_E_ROOT;
        return 0;
    }
    if (from_root) {
        /* The root key administers membership only; it is never a publishing member. */
        *status = GIF_E_ROLE;
        return 0;
    }
    /* The origins of a batch read their member entries once (member_write forgets them). */
    struct mcache *mc = NULL;
    for (unsigned i = 0; i < w->nmc && !mc; i++)
        if (memcmp(w->mc[i].key, r->origin, PROTO_KEY_LEN) == 0) mc = &w->mc[i];
    if (!mc) {
        struct store_member t;
        memset(&t, 0, sizeof(t));
        int rc = member_read(w->txn, w->s, r->origin, &t, NULL);
        if (rc && rc != -ENOENT) return rc;
        if (w->nmc < MCACHE_N) {
            mc = &w->mc[w->nmc++];
        } else {
            mc = &w->mc[w->mnext];
            w->mnext = (w->mnext + 1) % MCACHE_N;
        }
        memcpy(mc->key, r->origin, PROTO_KEY_LEN);
        mc->rc = rc;
        mc->revoked = t.revoked;
        mc->role = t.role;
        mc->not_before_ms = t.not_before_ms;
        mc->not_after_ms = t.not_after_ms;
        mc->incidents = t.role == PROTO_ROLE_AGENCY;
        if (rc == 0 && !mc->incidents) {
            bool g;
            int grc = grant_read(w->txn, w->s, t.org, PROTO_RIGHT_INCIDENTS, &g);
            if (grc && grc != -ENOENT) return grc;
            mc->incidents = grc == 0 && g;
        }
    }
    uint64_t t = r->time_ms;
    if (mc->rc == -ENOENT)
        *status = GIF_E_NOTMEMBER;
    else if (mc->revoked)
        *status = GIF_E_REVOKED;
    else if (t < mc->not_before_ms || (mc->not_after_ms && t > mc->not_after_ms))
        *status = GIF_E_NOTMEMBER; /* store_member_active without the revoked test */
    else if (mc->role != PROTO_ROLE_AGENCY && mc->role != PROTO_ROLE_PLATFORM)
        *status = GIF_E_ROLE; /* observers (and unknown roles) publish nothing */
    else if (r->kind == PROTO_SIGNAL && r->u.signal.verified && mc->role != PROTO_ROLE_AGENCY)
        *status = GIF_E_ROLE;
    else if (r->kind == PROTO_INCIDENT && !mc->incidents)
        *status = GIF_E_ROLE;
    return 0;
}

/* Rule 6: the kind's own conditions on what is already stored. Sets *status. */
static int check_kind(struct wtx *w, const struct proto_record *r, int *status)
{
    struct proto_record t;
    MDB_val v;
    int rc;
    *status = 0;
    switch (r->kind) {
    case PROTO_RETRACTION:
        rc = stored_record(w, r->u.retraction.target, &t);
        if (rc == -ENOENT) {
            *status = GIF_E_TARGET;
            return 0;
        }
        if (rc) return rc;
        if ((t.kind != PROTO_SIGNAL && t.kind != PROTO_ALERT) ||
            memcmp(t.origin, r->origin, PROTO_KEY_LEN) != 0) {
            *status = GIF_E_TARGET;
            return 0;
        }
        rc =
            db_get(w->txn, w->s->retr, r->u.retraction.target, PROTO_ID_LEN, &v, "read retraction");
        if (rc == 0) *status = GIF_E_TARGET; /* already retracted */
        return rc == -ENOENT ? 0 : rc;
    case PROTO_FEEDBACK:
        /* An unknown target is fine: the record may come from an origin not yet synced. */
        rc = stored_record(w, r->u.feedback.target, &t);
        if (rc == -ENOENT) return 0;
        if (rc) return rc;
        if (memcmp(t.origin, r->origin, PROTO_KEY_LEN) == 0) *status = GIF_E_TARGET;
        return 0;
    case PROTO_MEMBERSHIP:
        /* The root administers; it does not become a member of its own consortium. */
        if (memcmp(r->u.membership.key, w->s->root, PROTO_KEY_LEN) == 0) *status = GIF_E_TARGET;
        return 0;
    case PROTO_REVOCATION:
        rc = db_get(w->txn, w->s->members, r->u.revocation.key, PROTO_KEY_LEN, &v, "read member");
        if (rc == -ENOENT) *status = GIF_E_TARGET;
        return rc == -ENOENT ? 0 : rc;
    default:
        return 0;
    }
}

static const struct mcache *mcache_find(const struct wtx *w, const uint8_t key[PROTO_KEY_LEN])
{
    for (unsigned i = 0; i < w->nmc; i++)
        if (memcmp(w->mc[i].key, key, PROTO_KEY_LEN) == 0) return &w->mc[i];
    return NULL;
}

/* Adds (stype, value) -> (feed, id) to the exact index; values too long for it (vpdq) are
 * matched through the frame index instead. */
static int exact_put(struct wtx *w, uint8_t stype, const struct proto_bytes *value,
                     const uint8_t fk[8], const uint8_t id[PROTO_ID_LEN])
{
    if (stype == PROTO_ST_VPDQ || value->n + 1 > EXACT_KEY_MAX) return 0;
    uint8_t ek[EXACT_KEY_MAX], ev[EXACT_VAL_LEN];
    ek[0] = stype;
    memcpy(ek + 1, value->p, value->n);
    memcpy(ev, fk, 8);
    memcpy(ev + 8, id, PROTO_ID_LEN);
    return db_put(w->txn, w->s->exact, ek, 1 + value->n, ev, sizeof(ev), 0, "write exact index");
}

/* Files a retraction or feedback under the incident of its target, if the target is here. */
static int inc_file_target(struct wtx *w, const uint8_t target[PROTO_ID_LEN],
                           const struct proto_record *r, const uint8_t fk[8])
{
    struct proto_record t;
    int rc = stored_record(w, target, &t);
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    struct proto_str name = incident_of(&t);
    return inc_file(w, &name, r, fk, false);
}

/* Rule 7: writes an accepted record and its indexes. h is the origin's head (updated). */
static int accept(struct wtx *w, const struct proto_record *r, const uint8_t *buf, size_t len,
                  struct head *h, bool head_found, uint64_t *feed_out)
{
    struct store *s = w->s;
    uint64_t feed = w->c.feed_last + 1;
    uint8_t fk[8];
    put_u64(fk, feed);
    int rc;

    /* Feed keys are big-endian and strictly increasing: MDB_APPEND skips the page search and
     * fills pages whole. The id index is the one random-order insert a record costs here. */
    MDB_val key = mv(fk, 8), val = {.mv_size = REC_HDR + len, .mv_data = NULL};
    rc = mdb_put(w->txn, s->records, &key, &val, MDB_APPEND | MDB_RESERVE);
    if (rc) return store_err(rc, "write record");
    uint8_t *p = val.mv_data;
    put_u64(p, w->now_ms);
    memcpy(p + 8, r->id, PROTO_ID_LEN);
    memcpy(p + REC_HDR, buf, len);
    if ((rc = db_put(w->txn, s->ids, r->id, PROTO_ID_LEN, fk, 8, MDB_NOOVERWRITE, "write id")))
        return rc;

    uint8_t lk[LOGKEY_LEN];
    logkey(lk, r->origin, r->seq);
    if ((rc = db_put(w->txn, s->log, lk, sizeof(lk), r->id, PROTO_ID_LEN, MDB_NOOVERWRITE,
                     "write log")))
        return rc;
    h->seq = r->seq;
    memcpy(h->id, r->id, PROTO_ID_LEN);
    if ((rc = head_write(w, r->origin, h))) return rc;
    if (!head_found) w->c.origins++;

    switch (r->kind) {
    case PROTO_SIGNAL: {
        const struct proto_signal *sg = &r->u.signal;
        if (sg->stype < GIF_ARRAY_LEN(w->c.by_stype)) w->c.by_stype[sg->stype]++;
        if ((rc = exact_put(w, sg->stype, &sg->value, fk, r->id))) return rc;
        if ((rc = inc_file(w, &sg->incident, r, fk, false))) return rc;
        break;
    }
    case PROTO_ALERT: {
        /* The signals an alert carries match like signals (the answer names the alert). */
        const struct proto_alert *a = &r->u.alert;
        for (size_t i = 0; i < a->nsignals; i++)
            if ((rc = exact_put(w, a->signals[i].stype, &a->signals[i].value, fk, r->id)))
                return rc;
        const struct mcache *mc = mcache_find(w, r->origin);
        if ((rc = inc_file(w, &a->incident, r, fk, mc && mc->incidents))) return rc;
        break;
    }
    case PROTO_INCIDENT:
        if ((rc = inc_file(w, &r->u.incident.incident, r, fk, true))) return rc;
        break;
    case PROTO_GRANT: {
        const struct proto_grant *g = &r->u.grant;
        uint8_t k[1 + PROTO_NAME_MAX], v[GRANT_VAL_LEN];
        v[0] = g->granted;
        put_u64(v + 1, r->seq);
        /* Root records are accepted in seq order: overwriting keeps the latest. */
        if ((rc = db_put(w->txn, s->grants, k, grant_key(k, g->org.p, g->org.n, g->right), v,
                         sizeof v, 0, "write grant")))
            return rc;
        w->nmc = 0; /* cached rights are stale */
        w->mnext = 0;
        break;
    }
    case PROTO_RETRACTION:
        if ((rc = db_put(w->txn, s->retr, r->u.retraction.target, PROTO_ID_LEN, r->id, PROTO_ID_LEN,
                         MDB_NOOVERWRITE, "write retraction")))
            return rc;
        w->c.retracted++;
        if ((rc = inc_file_target(w, r->u.retraction.target, r, fk))) return rc;
        break;
    case PROTO_FEEDBACK: {
        uint8_t k[FBKEY_LEN], v[FB_VAL_LEN];
        memcpy(k, r->u.feedback.target, PROTO_ID_LEN);
        memcpy(k + PROTO_ID_LEN, r->origin, PROTO_KEY_LEN);
        v[0] = r->u.feedback.verdict;
        put_u64(v + 1, r->seq);
        memcpy(v + 9, r->id, PROTO_ID_LEN);
        /* Records of one origin are accepted in seq order, so overwriting keeps the latest. */
        if ((rc = db_put(w->txn, s->fb, k, sizeof(k), v, sizeof(v), 0, "write feedback")))
            return rc;
        if ((rc = inc_file_target(w, r->u.feedback.target, r, fk))) return rc;
        break;
    }
    case PROTO_MEMBERSHIP: {
        const struct proto_membership *ms = &r->u.membership;
        struct store_member old, m;
        rc = member_read(w->txn, s, ms->key, &old, NULL);
        if (rc && rc != -ENOENT) return rc;
        memset(&m, 0, sizeof(m));
        memcpy(m.key, ms->key, PROTO_KEY_LEN);
        size_t olen = ms->org.n > PROTO_NAME_MAX ? PROTO_NAME_MAX : ms->org.n;
        memcpy(m.org, ms->org.p, olen);
        m.org[olen] = '\0';
        m.role = ms->role;
        m.not_before_ms = ms->not_before_ms;
        m.not_after_ms = ms->not_after_ms;
        memcpy(m.record_id, r->id, PROTO_ID_LEN);
        /* Revocation is permanent: a later membership for the key does not undo it. */
        if (rc == 0 && old.revoked) {
            m.revoked = true;
            m.revoked_ms = old.revoked_ms;
        }
        if ((rc = member_write(w, &m, r->seq))) return rc;
        break;
    }
    case PROTO_REVOCATION: {
        struct store_member m;
        uint64_t root_seq;
        if ((rc = member_read(w->txn, s, r->u.revocation.key, &m, &root_seq))) return rc;
        if (!m.revoked) { /* a second revocation keeps the first one's time */
            m.revoked = true;
            m.revoked_ms = r->time_ms;
            if ((rc = member_write(w, &m, root_seq))) return rc;
        }
        break;
    }
    default:
        break;
    }
    w->c.records++;
    if (r->kind < GIF_ARRAY_LEN(w->c.by_kind))
        w->c.by_kind[r->kind]++;
    else if (r->kind - GIF_ARRAY_LEN(w->c.by_kind) < GIF_ARRAY_LEN(w->c.by_kind_hi))
        w->c.by_kind_hi[r->kind - GIF_ARRAY_LEN(w->c.by_kind)]++;
    w->c.feed_last = feed;
    *feed_out = feed;
    return 0;
}

/* Records a proof that origin signed two records at one seq, and freezes the origin. */
static int equivocation(struct wtx *w, const struct proto_record *r, const uint8_t *buf, size_t len,
                        const uint8_t first[PROTO_ID_LEN], struct head *h)
{
    uint8_t k[LOGKEY_LEN];
    logkey(k, r->origin, r->seq);
    MDB_val key = mv(k, sizeof(k)), val = {.mv_size = PROTO_ID_LEN + len, .mv_data = NULL};
    int rc = mdb_put(w->txn, w->s->forks, &key, &val, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == MDB_KEYEXIST)
        rc = 0; /* a proof at this seq is already kept */
    else if (rc == 0) {
        memcpy(val.mv_data, first, PROTO_ID_LEN);
        memcpy((uint8_t *)val.mv_data + PROTO_ID_LEN, buf, len);
        w->c.forks++;
    }
    if (rc) return store_err(rc, "write fork");
    h->flags |= HEAD_FROZEN;
    if ((rc = head_write(w, r->origin, h))) return rc;
    char hex[2 * PROTO_KEY_LEN + 1];
    gif_hex(hex, r->origin, PROTO_KEY_LEN);
    GIF_WARN("store", "origin %s signed two records at seq %llu: proof kept, origin frozen", hex,
             (unsigned long long)r->seq);
    return 0;
}

/* Sets a record aside past a gap in its origin's log (rule 5, seq > head + 1). */
static int hold(struct wtx *w, const struct proto_record *r, const uint8_t *buf, size_t len,
                struct head *h, bool head_found, int *status)
{
    uint8_t k[LOGKEY_LEN];
    logkey(k, r->origin, r->seq);
    MDB_val v;
    int rc = db_get(w->txn, w->s->held, k, sizeof(k), &v, "read held");
    if (rc == 0) {
        /* is_duplicate already caught identical bytes: this is a second record at the seq. */
        uint8_t first[PROTO_ID_LEN];
        proto_record_id(first, v.mv_data, v.mv_size);
        *status = GIF_E_EQUIVOCATION;
        return equivocation(w, r, buf, len, first, h);
    }
    if (rc != -ENOENT) return rc;
    if (h->held >= w->s->held_max) {
        *status = GIF_E_HELDFULL;
        return 0;
    }
    if ((rc = db_put(w->txn, w->s->held, k, sizeof(k), buf, len, 0, "write held"))) return rc;
    h->held++;
    w->c.held++;
    if ((rc = head_write(w, r->origin, h))) return rc;
    if (!head_found) w->c.origins++;
    *status = GIF_E_PENDING;
    return 0;
}

/*
 * Rules 3 to 7 for a record whose signature is known good. Sets *status (0 when accepted,
 * and *feed then holds its position). Returns 0 or an LMDB error that must abort the batch.
 */
static int apply(struct wtx *w, const struct proto_record *r, const uint8_t *buf, size_t len,
                 int *status, uint64_t *feed)
{
    *feed = 0;
    int rc = check_origin(w, r, status);
    if (rc || *status) return rc;

    struct head h;
    bool found;
    if ((rc = head_load(w, r->origin, &h, &found))) return rc;
    if (h.flags & HEAD_FROZEN) {
        *status = GIF_E_FROZEN;
        return 0;
    }
    if (r->seq <= h.seq) {
        uint8_t k[LOGKEY_LEN];
        MDB_val v;
        logkey(k, r->origin, r->seq);
        if ((rc = db_get(w->txn, w->s->log, k, sizeof(k), &v, "read log"))) return rc;
        if (memcmp(v.mv_data, r->id, PROTO_ID_LEN) == 0) {
            *status = GIF_E_DUPLICATE;
            return 0;
        }
        uint8_t first[PROTO_ID_LEN];
        memcpy(first, v.mv_data, PROTO_ID_LEN);
        *status = GIF_E_EQUIVOCATION;
        return equivocation(w, r, buf, len, first, &h);
    }
    if (r->seq > h.seq + 1) return hold(w, r, buf, len, &h, found, status);
    static const uint8_t zero[PROTO_ID_LEN];
    if (memcmp(r->prev, h.seq == 0 ? zero : h.id, PROTO_ID_LEN) != 0) {
        *status = GIF_E_PREV;
        return 0;
    }
    if ((rc = check_kind(w, r, status)) || *status) return rc;
    return accept(w, r, buf, len, &h, found, feed);
}

/*
 * After origin's head advanced: accepts held records that now follow it, one by one, until
 * the next seq is not held or a held record fails (it is then dropped and logged).
 */
static int release_held(struct wtx *w, const uint8_t origin[PROTO_KEY_LEN])
{
    struct head h0;
    bool found0;
    int rc0 = head_load(w, origin, &h0, &found0);
    if (rc0 || h0.held == 0) return rc0; /* the common case: nothing held, no allocation */
    struct proto_record *r = malloc(sizeof(*r));
    if (!r) return -ENOMEM;
    uint8_t *copy = NULL;
    int rc = 0;
    for (;;) {
        struct head h;
        bool found;
        if ((rc = head_load(w, origin, &h, &found)) || h.held == 0) break;
        uint8_t k[LOGKEY_LEN];
        MDB_val v;
        logkey(k, origin, h.seq + 1);
        rc = db_get(w->txn, w->s->held, k, sizeof(k), &v, "read held");
        if (rc == -ENOENT) {
            rc = 0;
            break;
        }
        if (rc) break;
        /* The held bytes live in the map; deleting the entry may reuse their page. */
        size_t len = v.mv_size;
        free(copy);
        if (!(copy = malloc(len))) {
            rc = -ENOMEM;
            break;
        }
        memcpy(copy, v.mv_data, len);
        if ((rc = db_del(w->txn, w->s->held, k, sizeof(k), "delete held"))) break;
        h.held--;
        w->c.held--;
        if ((rc = head_write(w, origin, &h))) break;

        int status;
        uint64_t feed;
        status = proto_decode(r, copy, len);
        if (!status && !(rc = apply(w, r, copy, len, &status, &feed)) && status == 0) continue;
        if (rc) break;
        char hex[2 * PROTO_KEY_LEN + 1];
        gif_hex(hex, origin, PROTO_KEY_LEN);
        GIF_WARN("store", "dropped held record of %s at seq %llu: %s", hex,
                 (unsigned long long)(h.seq + 1), gif_strerror(status));
        break;
    }
    free(copy);
    free(r);
    return rc;
}

static int wtx_begin(struct store *s, struct wtx *w, uint64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->s = s;
    w->now_ms = now_ms;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    if (rc) return store_err(rc, "begin write transaction");
    if ((rc = counters_load(w->txn, s, &w->c))) {
        mdb_txn_abort(w->txn);
        w->txn = NULL;
    }
    w->counted = rc == 0;
    return rc;
}

/* Commits (durably unless no_sync) or, on rc != 0, aborts. Returns the final code. */
static int wtx_end(struct wtx *w, int rc)
{
    if (!rc) rc = heads_flush(w);
    if (!rc) rc = counters_save(w);
    if (rc) {
        mdb_txn_abort(w->txn);
        return rc;
    }
    return store_err(mdb_txn_commit(w->txn), "commit");
}

/* After a failed transaction no result may claim that anything was written. */
static void results_fail(struct store_result *res, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++) {
        res[i].status = rc;
        res[i].feed = 0;
    }
}

int store_ingest(struct store *s, const struct store_in *in, size_t n, uint64_t now_ms,
                 struct store_result *res)
{
    memset(res, 0, n * sizeof(*res));
    struct proto_record *r = malloc(sizeof(*r));
    if (!r) return -ENOMEM;
    struct wtx w;
    int rc = wtx_begin(s, &w, now_ms);
    if (rc) goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        struct store_result *o = &res[i];
        int st = in[i].verified == 1 ? proto_decode_known(r, in[i].buf, in[i].len, in[i].id)
                                     : proto_decode(r, in[i].buf, in[i].len);
        if (st) {
            if (in[i].len <= PROTO_RECORD_MAX) proto_record_id(o->id, in[i].buf, in[i].len);
            o->status = st;
            continue;
        }
        memcpy(o->id, r->id, PROTO_ID_LEN);
        o->seq = r->seq;
        if ((rc = is_duplicate(&w, r, in[i].buf, in[i].len)) < 0) break;
        if (rc == 1) {
            rc = 0;
            o->status = GIF_E_DUPLICATE;
            continue;
        }
        if (in[i].verified < 0) { /* store_ingest_verify found it bad */
            o->status = in[i].verified;
            continue;
        }
        if (!in[i].verified && (o->status = proto_verify(r))) continue;
        if (r->time_ms > now_ms && r->time_ms - now_ms > s->max_skew_ms) { /* no overflow */
            o->status = GIF_E_FUTURE;
            continue;
        }
        if ((rc = apply(&w, r, in[i].buf, in[i].len, &o->status, &o->feed))) break;
        if (o->status == 0) rc = release_held(&w, r->origin);
    }
    rc = wtx_end(&w, rc);
out:
    if (rc) results_fail(res, n, rc);
    free(r);
    return rc;
}

int store_ingest_verify(struct store *s, struct store_in *in, size_t n, size_t *checked)
{
    if (checked) *checked = 0;
    struct proto_record *r = malloc(sizeof(*r));
    if (!r) return -ENOMEM;
    struct wtx w; /* a read transaction: is_duplicate only reads */
    memset(&w, 0, sizeof(w));
    w.s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &w.txn);
    if (rc) {
        free(r);
        return store_err(rc, "begin read transaction");
    }
    w.counted = counters_load(w.txn, s, &w.c) == 0;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_in *x = &in[i];
        if (x->verified || proto_decode(r, x->buf, x->len) != 0) continue;
        if ((rc = is_duplicate(&w, r, x->buf, x->len)) != 0) {
            if (rc < 0) break;
            rc = 0;
            continue;
        }
        int st = proto_verify(r);
        x->verified = st ? st : 1;
        memcpy(x->id, r->id, PROTO_ID_LEN);
        done++;
    }
    mdb_txn_abort(w.txn);
    free(r);
    if (checked) *checked = done;
    return rc;
}

int store_precheck(struct store *s, const struct proto_record *r, const uint8_t *buf, size_t len,
                   uint64_t now_ms, const uint8_t *prev_ok)
{
    struct wtx w;
    memset(&w, 0, sizeof(w));
    w.s = s;
    w.now_ms = now_ms;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &w.txn);
    if (rc) return store_err(rc, "begin read transaction");
    int st = 0;
    struct head h;
    bool found;
    if ((rc = is_duplicate(&w, r, buf, len)) != 0) {
        if (rc == 1) st = GIF_E_DUPLICATE, rc = 0;
        goto out;
    }
    if ((st = proto_verify(r))) goto out;
    if (r->time_ms > now_ms && r->time_ms - now_ms > s->max_skew_ms) {
        st = GIF_E_FUTURE;
        goto out;
    }
    if ((rc = check_origin(&w, r, &st)) || st) goto out;
    if ((rc = head_load(&w, r->origin, &h, &found))) goto out;
    if (prev_ok && r->seq >= 2 && h.seq < r->seq - 1 &&
        memcmp(prev_ok, r->prev, PROTO_ID_LEN) == 0) {
        h.seq = r->seq - 1;
        memcpy(h.id, prev_ok, PROTO_ID_LEN);
    }
    static const uint8_t zero[PROTO_ID_LEN];
    if (h.flags & HEAD_FROZEN)
        st = GIF_E_FROZEN;
    else if (r->seq <= h.seq)
        st = GIF_E_EQUIVOCATION; /* not a duplicate (checked above): a second record there */
    else if (r->seq > h.seq + 1)
        st = GIF_E_PENDING;
    else if (memcmp(r->prev, h.seq == 0 ? zero : h.id, PROTO_ID_LEN) != 0)
        st = GIF_E_PREV;
    else
        rc = check_kind(&w, r, &st);
out:
    mdb_txn_abort(w.txn);
    return rc ? rc : st;
}

int store_publish(struct store *s, const uint8_t sk[static PROTO_SK_LEN],
                  struct proto_record *drafts, size_t n, uint64_t now_ms, struct store_result *res)
{
    memset(res, 0, n * sizeof(*res));
    const uint8_t *pk = sk + 32; /* libsodium layout: seed || public key */
    struct proto_record *r = malloc(sizeof(*r));
    if (!r) return -ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct wtx w;
    int rc = wtx_begin(s, &w, now_ms);
    if (rc) goto out;

    struct head h;
    bool found;
    if ((rc = head_load(&w, pk, &h, &found))) goto end;
    if ((h.flags & HEAD_FROZEN) || h.held > 0) {
        /* Held records of our own origin mean peers hold later records of ours than this
         * store does (a restored backup, a second node with our key): publishing at
         * head + 1 would equivocate and get us frozen network-wide. */
        if (!(h.flags & HEAD_FROZEN))
            GIF_ERROR("store",
                      "refusing to publish: %u records of our own origin are held "
                      "past seq %llu (store behind peers)",
                      h.held, (unsigned long long)h.seq);
        for (size_t i = 0; i < n; i++)
            res[i].status = GIF_E_FROZEN;
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        struct proto_record *d = &drafts[i];
        if ((rc = head_load(&w, pk, &h, &found))) break;
        if (d->version == 0) d->version = PROTO_VERSION;
        memcpy(d->origin, pk, PROTO_KEY_LEN);
        d->seq = h.seq + 1;
        if (h.seq == 0)
            memset(d->prev, 0, PROTO_ID_LEN);
        else
            memcpy(d->prev, h.id, PROTO_ID_LEN);
        d->time_ms = now_ms;
        res[i].seq = d->seq;
        int st = proto_sign(d, sk, &buf, &len);
        if (st == -ENOMEM) {
            rc = st;
            break;
        }
        if (!st) st = proto_decode(r, buf, len);
        if (!st) {
            memcpy(d->sig, r->sig, PROTO_SIG_LEN);
            memcpy(d->id, r->id, PROTO_ID_LEN);
            memcpy(res[i].id, r->id, PROTO_ID_LEN);
            /* The signed bytes are freed below: do not leave the draft pointing at them. */
            d->payload.p = NULL;
            d->payload.n = 0;
            /* No proto_verify: we signed these bytes a moment ago. */
            rc = apply(&w, r, buf, len, &st, &res[i].feed);
        }
        res[i].status = st;
        free(buf);
        buf = NULL;
        if (rc) break;
    }
end:
    rc = wtx_end(&w, rc);
out:
    if (rc) results_fail(res, n, rc);
    free(r);
    return rc;
}

/* ---- Reading. */

/* Frees a snapshot for good. */
static void rd_free(struct store_rd *rd)
{
    if (rd->exact) mdb_cursor_close(rd->exact);
    if (rd->fb) mdb_cursor_close(rd->fb);
    mdb_txn_abort(rd->txn);
    free(rd);
}

int store_rd_open(struct store *s, struct store_rd **out)
{
    *out = NULL;
    struct store_rd *rd = atomic_exchange(&s->spare, NULL);
    if (rd) {
        /* MDB_NOTLS: a reset read transaction may be renewed on any thread. */
        int rc = mdb_txn_renew(rd->txn);
        if (!rc && rd->exact) rc = mdb_cursor_renew(rd->txn, rd->exact);
        if (!rc && rd->fb) rc = mdb_cursor_renew(rd->txn, rd->fb);
        if (!rc) {
            *out = rd;
            return 0;
        }
        rd_free(rd); /* then open a fresh one */
    }
    rd = calloc(1, sizeof(*rd));
    if (!rd) return -ENOMEM;
    rd->s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rd->txn);
    if (rc) {
        free(rd);
        return store_err(rc, "begin read transaction");
    }
    *out = rd;
    return 0;
}

void store_rd_close(struct store_rd *rd)
{
    if (!rd) return;
    mdb_txn_reset(rd->txn); /* releases the snapshot's pages at once */
    struct store_rd *none = NULL;
    if (!atomic_compare_exchange_strong(&rd->s->spare, &none, rd)) rd_free(rd);
}

/* Fills out from a records value (accepted_ms u64 || id || bytes) stored at feed. */
static void rec_from_val(const MDB_val *v, uint64_t feed, struct store_rec *out)
{
    const uint8_t *p = v->mv_data;
    out->feed = feed;
    out->accepted_ms = get_u64(p);
    out->buf = p + REC_HDR;
    out->len = v->mv_size - REC_HDR;
}

int store_get(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN], struct store_rec *out)
{
    memset(out, 0, sizeof(*out));
    MDB_val v;
    uint64_t feed;
    int rc = record_by_id(rd->txn, rd->s, id, &v, &feed);
    if (rc) return rc;
    rec_from_val(&v, feed, out);
    return 0;
}

int store_get_decoded(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN],
                      struct store_rec *out, struct proto_record *r)
{
    int rc = store_get(rd, id, out);
    return rc ? rc : proto_decode_known(r, out->buf, out->len, id);
}

int store_log_get(struct store_rd *rd, const uint8_t origin[static PROTO_KEY_LEN], uint64_t seq,
                  uint8_t id[static PROTO_ID_LEN], struct store_rec *out)
{
    uint8_t k[LOGKEY_LEN];
    MDB_val v;
    logkey(k, origin, seq);
    int rc = db_get(rd->txn, rd->s->log, k, sizeof(k), &v, "read log");
    if (rc) return rc;
    if (v.mv_size != PROTO_ID_LEN) return store_err(MDB_CORRUPTED, "log value size");
    memcpy(id, v.mv_data, PROTO_ID_LEN);
    return out ? store_get(rd, id, out) : 0;
}

int store_lookup(struct store_rd *rd, uint8_t stype, const uint8_t *value, size_t vlen,
                 uint8_t (*ids)[PROTO_ID_LEN], uint64_t *feeds, size_t max, size_t *n)
{
    *n = 0;
    if (vlen == 0 || vlen + 1 > EXACT_KEY_MAX) return 0; /* nothing of that size is indexed */
    int rc;
    if (!rd->exact && (rc = mdb_cursor_open(rd->txn, rd->s->exact, &rd->exact)))
        return store_err(rc, "open exact cursor");
    uint8_t k[EXACT_KEY_MAX];
    k[0] = stype;
    memcpy(k + 1, value, vlen);
    MDB_val key = mv(k, vlen + 1), v;
    rc = mdb_cursor_get(rd->exact, &key, &v, MDB_SET);
    /* Almost every value is stored once: the count saves the MDB_NEXT_DUP that would only
     * say so. */
    size_t left = 0;
    if (rc == 0 && (rc = mdb_cursor_count(rd->exact, &left)) != 0) left = 0;
    while (rc == 0 && left > 0 && *n < max) {
        if (v.mv_size == EXACT_VAL_LEN) {
            if (feeds) feeds[*n] = get_u64(v.mv_data);
            memcpy(ids[(*n)++], (const uint8_t *)v.mv_data + 8, PROTO_ID_LEN);
        }
        if (--left > 0) rc = mdb_cursor_get(rd->exact, &key, &v, MDB_NEXT_DUP);
    }
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_err(rc, "exact lookup");
}

int store_retraction_of(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN], uint8_t *rid)
{
    MDB_val v;
    int rc = db_get(rd->txn, rd->s->retr, id, PROTO_ID_LEN, &v, "read retraction");
    if (!rc && rid) memcpy(rid, v.mv_data, PROTO_ID_LEN);
    return rc;
}

struct org_seen {
    const char *org; /* into the map, or the origin key in the feedback key */
    size_t len;
    bool agree, dispute;
};

int store_feedback_of(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN],
                      struct store_fb *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    if (!rd->fb && (rc = mdb_cursor_open(rd->txn, rd->s->fb, &rd->fb)))
        return store_err(rc, "open feedback cursor");
    MDB_cursor *c = rd->fb;
    /* Organisations seen: on the stack up to ORGS_STACK (no allocation for a lookup's usual
     * handful of verdicts), on the heap past that. */
    enum { ORGS_STACK = 16 };
    struct org_seen stack_orgs[ORGS_STACK];
    struct org_seen *orgs = stack_orgs;
    size_t norgs = 0, cap = ORGS_STACK;
    uint8_t k[FBKEY_LEN] = {0};
    memcpy(k, id, PROTO_ID_LEN);
    MDB_val key = mv(k, sizeof(k)), v;
    for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
        if (key.mv_size != FBKEY_LEN || memcmp(key.mv_data, id, PROTO_ID_LEN) != 0) break;
        if (v.mv_size < 1) continue;
        uint8_t verdict = *(const uint8_t *)v.mv_data;
        if (verdict >= 1 && verdict <= PROTO_FB_COUNT) out->count[verdict]++;
        bool agree = verdict == PROTO_FB_AGREE;
        bool dispute = verdict == PROTO_FB_DISAGREE || verdict == PROTO_FB_FALSE_POSITIVE;
        if (!agree && !dispute) continue;
        /* Organisation of the origin; an origin without a member entry counts alone. */
        const uint8_t *origin = (const uint8_t *)key.mv_data + PROTO_ID_LEN;
        const char *org = (const char *)origin;
        size_t olen = PROTO_KEY_LEN;
        MDB_val mvv;
        int mrc = db_get(rd->txn, rd->s->members, origin, PROTO_KEY_LEN, &mvv, "read member");
        if (mrc && mrc != -ENOENT) {
            rc = mrc;
            goto done;
        }
        if (!mrc && mvv.mv_size >= MEM_FIXED) {
            org = (const char *)mvv.mv_data + MEM_FIXED;
            olen = ((const uint8_t *)mvv.mv_data)[66];
            if (olen > mvv.mv_size - MEM_FIXED) olen = mvv.mv_size - MEM_FIXED;
        }
        size_t j;
        for (j = 0; j < norgs; j++)
            if (orgs[j].len == olen && memcmp(orgs[j].org, org, olen) == 0) break;
        if (j == norgs) {
            if (norgs == cap) {
                size_t ncap = cap * 2;
                struct org_seen *no = orgs == stack_orgs ? malloc(ncap * sizeof(*no))
                                                         : realloc(orgs, ncap * sizeof(*no));
                if (!no) {
                    rc = -ENOMEM;
                    goto done;
                }
                if (orgs == stack_orgs) memcpy(no, stack_orgs, sizeof(stack_orgs));
                orgs = no;
                cap = ncap;
            }
            orgs[norgs++] = (struct org_seen){.org = org, .len = olen};
        }
        if (agree && !orgs[j].agree) {
            orgs[j].agree = true;
            out->orgs_agree++;
        }
        if (dispute && !orgs[j].dispute) {
            orgs[j].dispute = true;
            out->orgs_dispute++;
        }
    }
    rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : store_err(rc, "walk feedback");
done:
    if (orgs != stack_orgs) free(orgs);
    if (rc) memset(out, 0, sizeof(*out));
    return rc;
}

int store_member_get(struct store_rd *rd, const uint8_t key[static PROTO_KEY_LEN],
                     struct store_member *out)
{
    int rc = member_read(rd->txn, rd->s, key, out, NULL);
    if (rc) memset(out, 0, sizeof(*out));
    return rc;
}

/*
 * Walks dbi from `start` (or the first key when start is NULL) and hands each entry to fn.
 * Stops at fn's first non-zero return, which it returns; 0 at the end.
 */
typedef int (*walk_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
static int walk(struct store_rd *rd, MDB_dbi dbi, const MDB_val *start, walk_fn fn, void *ctx)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(rd->txn, dbi, &c);
    if (rc) return store_err(rc, "open cursor");
    MDB_val k = start ? *start : mv(NULL, 0), v;
    for (rc = mdb_cursor_get(c, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int r = fn(ctx, &k, &v);
        if (r) {
            mdb_cursor_close(c);
            return r;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_err(rc, "walk");
}

struct member_walk {
    store_member_cb cb;
    void *ctx;
};
static int member_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct member_walk *mw = ctx;
    if (k->mv_size != PROTO_KEY_LEN || v->mv_size < MEM_FIXED) return 0;
    struct store_member m;
    member_decode(k->mv_data, v, &m, NULL);
    return mw->cb(mw->ctx, &m);
}

int store_members_each(struct store_rd *rd, store_member_cb cb, void *ctx)
{
    struct member_walk mw = {cb, ctx};
    return walk(rd, rd->s->members, NULL, member_walk_fn, &mw);
}

struct feed_walk {
    store_feed_cb cb;
    void *ctx;
    uint64_t after;
};
static int feed_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct feed_walk *fw = ctx;
    if (k->mv_size != 8) return 0;
    if (v->mv_size < REC_HDR) return store_err(MDB_CORRUPTED, "record value too short");
    uint64_t feed = get_u64(k->mv_data);
    if (feed <= fw->after) return 0;
    struct store_rec r;
    rec_from_val(v, feed, &r);
    return fw->cb(fw->ctx, (const uint8_t *)v->mv_data + 8, &r);
}

int store_feed_each(struct store_rd *rd, uint64_t after, store_feed_cb cb, void *ctx)
{
    struct feed_walk fw = {cb, ctx, after};
    if (after == UINT64_MAX) return 0;
    uint8_t k[8];
    put_u64(k, after + 1);
    MDB_val start = mv(k, 8);
    return walk(rd, rd->s->records, &start, feed_walk_fn, &fw);
}

int store_feed_last(struct store_rd *rd, uint64_t *last)
{
    struct counters c;
    int rc = counters_load(rd->txn, rd->s, &c);
    *last = rc ? 0 : c.feed_last;
    return rc;
}

static void head_to_pub(const uint8_t *origin, const struct head *h, struct store_head *out)
{
    memcpy(out->origin, origin, PROTO_KEY_LEN);
    out->seq = h->seq;
    memcpy(out->id, h->id, PROTO_ID_LEN);
    out->frozen = (h->flags & HEAD_FROZEN) != 0;
    out->held = h->held;
}

int store_head_get(struct store_rd *rd, const uint8_t origin[static PROTO_KEY_LEN],
                   struct store_head *out)
{
    memset(out, 0, sizeof(*out));
    struct head h;
    int rc = head_read(rd->txn, rd->s, origin, &h);
    if (!rc) head_to_pub(origin, &h, out);
    return rc;
}

struct head_walk {
    store_head_cb cb;
    void *ctx;
};
static int head_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct head_walk *hw = ctx;
    if (k->mv_size != PROTO_KEY_LEN || v->mv_size < HEAD_LEN) return 0;
    const uint8_t *p = v->mv_data;
    struct head h = {
        .seq = get_u64(p), .flags = p[8 + PROTO_ID_LEN], .held = get_u32(p + 8 + PROTO_ID_LEN + 1)};
    memcpy(h.id, p + 8, PROTO_ID_LEN);
    struct store_head out;
    head_to_pub(k->mv_data, &h, &out);
    return hw->cb(hw->ctx, &out);
}

int store_heads_each(struct store_rd *rd, store_head_cb cb, void *ctx)
{
    struct head_walk hw = {cb, ctx};
    return walk(rd, rd->s->heads, NULL, head_walk_fn, &hw);
}

struct fork_walk {
    store_fork_cb cb;
    void *ctx;
};
static int fork_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct fork_walk *fw = ctx;
    if (k->mv_size != LOGKEY_LEN || v->mv_size < PROTO_ID_LEN) return 0;
    struct store_fork f = {0};
    memcpy(f.origin, k->mv_data, PROTO_KEY_LEN);
    f.seq = get_u64((const uint8_t *)k->mv_data + PROTO_KEY_LEN);
    memcpy(f.first, v->mv_data, PROTO_ID_LEN);
    f.second.buf = (const uint8_t *)v->mv_data + PROTO_ID_LEN;
    f.second.len = v->mv_size - PROTO_ID_LEN;
    return fw->cb(fw->ctx, &f);
}

int store_forks_each(struct store_rd *rd, store_fork_cb cb, void *ctx)
{
    struct fork_walk fw = {cb, ctx};
    return walk(rd, rd->s->forks, NULL, fork_walk_fn, &fw);
}

int store_stats_get(struct store_rd *rd, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct counters c;
    int rc = counters_load(rd->txn, rd->s, &c);
    if (rc) return rc;
    out->records = c.records;
    memcpy(out->by_kind, c.by_kind, sizeof(c.by_kind));
    memcpy(out->by_kind + GIF_ARRAY_LEN(c.by_kind), c.by_kind_hi, sizeof(c.by_kind_hi));
    memcpy(out->by_stype, c.by_stype, sizeof(out->by_stype));
    out->retracted = c.retracted;
    out->held = c.held;
    out->forks = c.forks;
    out->origins = c.origins;
    out->feed_last = c.feed_last;
    MDB_envinfo info;
    MDB_stat st;
    if ((rc = mdb_env_info(rd->s->env, &info)) || (rc = mdb_env_stat(rd->s->env, &st)))
        return store_err(rc, "environment info");
    out->map_size = info.me_mapsize;
    out->map_used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    return 0;
}

struct pdq_walk {
    struct store_rd *rd;
    store_pdq_cb cb;
    void *ctx;
    bool end; /* walked past the pdq keys */
};
static int pdq_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct pdq_walk *pw = ctx;
    const uint8_t *kp = k->mv_data;
    /* The walk starts at the first pdq key; the first key of another type ends it. */
    if (k->mv_size < 1 || kp[0] != PROTO_ST_PDQ) {
        pw->end = true;
        return 1;
    }
    if (k->mv_size != 33 || v->mv_size != EXACT_VAL_LEN) return 0;
    const uint8_t *id = (const uint8_t *)v->mv_data + 8;
    MDB_val r;
    int rc = db_get(pw->rd->txn, pw->rd->s->retr, id, PROTO_ID_LEN, &r, "read retraction");
    if (rc == 0) return 0;
    if (rc != -ENOENT) return rc;
    return pw->cb(pw->ctx, kp + 1, id);
}

int store_pdq_each(struct store_rd *rd, store_pdq_cb cb, void *ctx)
{
    struct pdq_walk pw = {rd, cb, ctx, false};
    uint8_t k = PROTO_ST_PDQ;
    MDB_val start = mv(&k, 1);
    int rc = walk(rd, rd->s->exact, &start, pdq_walk_fn, &pw);
    return pw.end ? 0 : rc;
}

/* ---- Incidents and grants, read side. */

int store_incident_get(struct store_rd *rd, const char *id, size_t idlen,
                       struct store_incident *out)
{
    if (idlen == 0 || idlen > INC_KEY_MAX) return -ENOENT;
    MDB_val k = mv(id, idlen), v;
    int rc = store_err(mdb_get(rd->txn, rd->s->incidents, &k, &v), "read incident");
    if (rc) return rc;
    if (v.mv_size < INC_VAL_LEN) return store_err(MDB_CORRUPTED, "incident value too short");
    inc_decode(&k, &v, out);
    return 0;
}

struct inc_walk {
    store_incident_cb cb;
    void *ctx;
};
static int inc_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct inc_walk *iw = ctx;
    if (k->mv_size == 0 || k->mv_size > INC_KEY_MAX || v->mv_size < INC_VAL_LEN) return 0;
    struct store_incident in;
    inc_decode(k, v, &in);
    return iw->cb(iw->ctx, &in);
}

int store_incidents_each(struct store_rd *rd, store_incident_cb cb, void *ctx)
{
    struct inc_walk iw = {cb, ctx};
    return walk(rd, rd->s->incidents, NULL, inc_walk_fn, &iw);
}

int store_feed_get(struct store_rd *rd, uint64_t pos, uint8_t id[static PROTO_ID_LEN],
                   struct store_rec *out)
{
    uint8_t fk[8];
    put_u64(fk, pos);
    MDB_val v;
    memset(out, 0, sizeof(*out));
    int rc = db_get(rd->txn, rd->s->records, fk, 8, &v, "read record");
    if (rc) return rc;
    if (v.mv_size < REC_HDR) return store_err(MDB_CORRUPTED, "record value too short");
    memcpy(id, (const uint8_t *)v.mv_data + 8, PROTO_ID_LEN);
    rec_from_val(&v, pos, out);
    return 0;
}

int store_incident_records_from(struct store_rd *rd, const char *id, size_t idlen,
                                uint64_t after_feed, store_feed_cb cb, void *ctx)
{
    if (idlen == 0 || idlen > INC_KEY_MAX || after_feed == UINT64_MAX) return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(rd->txn, rd->s->increcs, &c);
    if (rc) return store_err(rc, "open cursor");
    /* The values are big-endian feed positions: their byte order is feed order. */
    uint8_t from[8];
    put_u64(from, after_feed + 1);
    MDB_val k = mv(id, idlen), v = mv(from, sizeof from);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size != 8) continue;
        uint8_t rid[PROTO_ID_LEN];
        struct store_rec r;
        int e = store_feed_get(rd, get_u64(v.mv_data), rid, &r);
        if (e == -ENOENT) continue;
        if (!e) e = cb(ctx, rid, &r);
        if (e) {
            mdb_cursor_close(c);
            return e;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_err(rc, "walk incident records");
}

int store_incident_records(struct store_rd *rd, const char *id, size_t idlen, store_feed_cb cb,
                           void *ctx)
{
    return store_incident_records_from(rd, id, idlen, 0, cb, ctx);
}

/* ---- Local match counts. */

int store_tally_add(struct store *s, const struct store_tally *t, size_t n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return store_err(rc, "begin write transaction");
    for (size_t i = 0; i < n && !rc; i++) {
        size_t len = strnlen(t[i].incident, sizeof t[i].incident);
        if (len == 0 || len > INC_KEY_MAX || t[i].add == 0) continue;
        MDB_val v;
        uint64_t total = t[i].add;
        rc = db_get(txn, s->local_matches, t[i].incident, len, &v, "read local matches");
        if (rc == 0 && v.mv_size == 8) total += get_u64(v.mv_data);
        if (rc == -ENOENT) rc = 0;
        if (rc) break;
        uint8_t b[8];
        put_u64(b, total);
        rc = db_put(txn, s->local_matches, t[i].incident, len, b, 8, 0, "write local matches");
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return store_err(mdb_txn_commit(txn), "commit");
}

struct tally_walk {
    store_tally_cb cb;
    void *ctx;
};
static int tally_walk_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct tally_walk *tw = ctx;
    if (k->mv_size == 0 || k->mv_size > INC_KEY_MAX || v->mv_size != 8) return 0;
    char id[INC_KEY_MAX + 1];
    memcpy(id, k->mv_data, k->mv_size);
    id[k->mv_size] = '\0';
    return tw->cb(tw->ctx, id, get_u64(v->mv_data));
}

int store_tally_each(struct store_rd *rd, store_tally_cb cb, void *ctx)
{
    struct tally_walk tw = {cb, ctx};
    return walk(rd, rd->s->local_matches, NULL, tally_walk_fn, &tw);
}

bool store_grant_held(struct store_rd *rd, const char *org, uint8_t right)
{
    bool g = false;
    return grant_read(rd->txn, rd->s, org, right, &g) == 0 && g;
}
