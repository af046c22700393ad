/*
 * gifnet storage: the node's LMDB store of signed records and their indexes, and the rules
 * that decide whether a record is accepted.
 *
 * Tables (docs/storage.md): records by id; the per-origin log (origin, seq) -> id and each
 * origin's head; the local feed (feed position -> id); the exact index (type, value) -> ids;
 * retractions; feedback per (target, origin); members; records held aside past a gap;
 * equivocation proofs; meta (schema version, counters).
 *
 * Threads: one writer at a time (store_ingest / store_publish, typically from a worker
 * thread) and any number of readers (struct store_rd, each used by one thread at a time).
 * LMDB return codes never leave this module: MDB_NOTFOUND becomes -ENOENT, MDB_MAP_FULL and
 * ENOSPC become GIF_E_FULL, anything else -EIO (logged with LMDB's text).
 *
 * This module does no network I/O and does not include uv.h.
 */
#ifndef GIF_STORAGE_STORE_H
#define GIF_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define STORE_SCHEMA_VERSION 2

struct store;
struct store_rd;

struct store_opts {
    uint8_t root[PROTO_KEY_LEN]; /* consortium root public key */
    uint64_t map_size;           /* LMDB map size in bytes; 0 = 64 GiB (sparse) */
    uint64_t max_skew_ms;        /* refuse records timed further ahead; 0 = 10 minutes */
    uint32_t held_max;           /* records held aside per origin; 0 = 10000 */
    bool no_sync;                /* skip fsync on commit: benchmarks and tests only */
};

/*
 * Opens (creating if needed) the store in directory dir. Refuses a store whose schema is newer
 * than STORE_SCHEMA_VERSION (GIF_E_SCHEMA) or whose recorded root key differs from
 * opts->root (GIF_E_ROOT). On failure returns a negative code, writes a sentence naming the
 * problem into err (if errlen > 0), and *out is NULL. Close with store_close.
 */
int store_open(struct store **out, const char *dir, const struct store_opts *opts, char *err,
               size_t errlen);
void store_close(struct store *s);

/* Per-record outcome of store_ingest / store_publish. */
struct store_result {
    int status; /* 0 accepted; GIF_E_DUPLICATE; GIF_E_PENDING (held aside); or a rejection */
    uint8_t id[PROTO_ID_LEN];
    uint64_t seq;
    uint64_t feed; /* feed position when accepted, else 0 */
};

struct store_in {
    const uint8_t *buf;
    size_t len;
    /* The signature check already done: 0 none (store_ingest verifies); 1 (true) good
     * (store_precheck, store_ingest_verify): skip it; a negative GIF_E_* code (GIF_E_BADSIG
     * from store_ingest_verify): it failed, and store_ingest reports that code without
     * verifying again (unless the record is a duplicate). */
    int verified;
    /* With verified == 1: the record's id, hashed from these bytes when they were checked,
     * so that store_ingest decodes them without hashing again (proto_decode_known). */
    uint8_t id[PROTO_ID_LEN];
};

/*
 * Decodes, verifies and applies n signed records in order, in one transaction, and commits it
 * durably (fsync) before returning. A record may depend on an earlier one of the same call.
 * Accepting a record releases any held-aside successors of its origin, which are then
 * accepted too (they appear in the feed, not in res). Returns 0 when the transaction
 * committed (each record's fate is in res[i]), or a negative code (GIF_E_FULL, -EIO, -ENOMEM)
 * when nothing at all was written. The caller keeps ownership of the buffers.
 */
int store_ingest(struct store *s, const struct store_in *in, size_t n, uint64_t now_ms,
                 struct store_result *res);

/*
 * The part of store_ingest that needs no write transaction, for a slice of a batch: decodes
 * each record whose verified is 0, skips those already stored
 * (accepted, held aside or kept as a fork proof: one read transaction for the slice, so a
 * duplicate costs a lookup and no signature check), and checks the signature of the rest,
 * setting in[i].verified to 1 (and in[i].id), or to the failure's code. Records that do not decode are left
 * for store_ingest to report. Safe to call on several threads at once, on disjoint slices,
 * while a writer runs: a record stored meanwhile is verified for nothing, never wrongly
 * answered. Returns 0, or a storage error (then the rest of the slice is left unmarked, and
 * store_ingest verifies it itself). *checked, if not NULL, gets the number of signatures
 * checked.
 */
int store_ingest_verify(struct store *s, struct store_in *in, size_t n, size_t *checked);

/*
 * Would store_ingest accept r (decoded from buf, len) right now, as the next record of its
 * origin? Checks, in a read transaction: not already stored, the signature, the time skew, the
 * origin's membership and role, that r follows the origin's stored head exactly (seq and prev)
 * and that the origin is not frozen, and the kind's own conditions. Returns 0 when it would be
 * accepted, GIF_E_DUPLICATE, another GIF_E_* status (including GIF_E_PENDING for a record past
 * a gap, or GIF_E_EQUIVOCATION), or a negative errno-style code on a storage error. Writes
 * nothing. Used to forward gossip before the record is durable here (docs/network.md).
 * prev_ok, if not NULL, names a record at seq - 1 that the caller has itself prechecked and
 * that is on its way into the store: when the stored head is behind it, r is checked as its
 * successor.
 */
int store_precheck(struct store *s, const struct proto_record *r, const uint8_t *buf, size_t len,
                   uint64_t now_ms, const uint8_t *prev_ok);

/*
 * Publishes n drafts as the node whose secret key is sk: for each draft in order sets origin,
 * seq (head + 1), prev (head id) and time (now_ms), signs it, and applies the rules of
 * store_ingest, all in one durable transaction. A draft that breaks a rule is not written and
 * consumes no seq. Refuses to publish at all (GIF_E_FROZEN) if this origin is frozen.
 * Returns as store_ingest. drafts[i] is updated with the fields it was signed with.
 */
int store_publish(struct store *s, const uint8_t sk[static PROTO_SK_LEN],
                  struct proto_record *drafts, size_t n, uint64_t now_ms, struct store_result *res);

/* ---- Reading. A store_rd is a read snapshot; memory it hands out lives until it closes. */

int store_rd_open(struct store *s, struct store_rd **out);
void store_rd_close(struct store_rd *rd);

struct store_rec {
    const uint8_t *buf; /* the signed record bytes */
    size_t len;
    uint64_t feed;        /* local feed position */
    uint64_t accepted_ms; /* local acceptance time */
};

/* Returns 0 and fills *out, or -ENOENT. */
int store_get(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN], struct store_rec *out);

/* store_get, then decodes the record into *r without hashing it again: its id is the key it
 * is stored under (proto_decode_known). Returns 0, -ENOENT, a storage error, or proto_decode's
 * code for stored bytes that do not decode. */
int store_get_decoded(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN],
                      struct store_rec *out, struct proto_record *r);

/* The origin's record at seq: fills id and, when out is not NULL, the record. Returns 0 or
 * -ENOENT (nothing stored there: beyond the head, or held aside past a gap). */
int store_log_get(struct store_rd *rd, const uint8_t origin[static PROTO_KEY_LEN], uint64_t seq,
                  uint8_t id[static PROTO_ID_LEN], struct store_rec *out);

/*
 * Exact lookup: ids of signal records, and of alerts carrying a signal, with this (stype,
 * value), oldest first, retracted ones included. Writes up to max ids and, when feeds is not
 * NULL, their feed positions (store_feed_get reads a record by position in one point read,
 * store_get by id in two), and sets *n to the number written. Returns 0 (also when none
 * match) or a negative code. Allocates nothing.
 */
int store_lookup(struct store_rd *rd, uint8_t stype, const uint8_t *value, size_t vlen,
                 uint8_t (*ids)[PROTO_ID_LEN], uint64_t *feeds, size_t max, size_t *n);

/* Returns 0 if id was retracted (and fills rid with the retraction's id if rid != NULL),
 * -ENOENT if not. */
int store_retraction_of(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN], uint8_t *rid);

struct store_fb {
    uint32_t count[PROTO_FB_COUNT + 1]; /* by enum proto_fb, latest verdict per origin */
    uint32_t orgs_agree;                /* distinct organisations whose latest is agree */
    uint32_t orgs_dispute;              /* distinct organisations: disagree or false positive */
};
/* Aggregates the feedback on id (zeros if none). Returns 0 or a negative code. */
int store_feedback_of(struct store_rd *rd, const uint8_t id[static PROTO_ID_LEN],
                      struct store_fb *out);

struct store_member {
    uint8_t key[PROTO_KEY_LEN];
    char org[PROTO_NAME_MAX + 1]; /* NUL-terminated */
    uint8_t role;
    uint64_t not_before_ms;
    uint64_t not_after_ms; /* 0 = no end */
    bool revoked;
    uint64_t revoked_ms;             /* time of the revocation record */
    uint8_t record_id[PROTO_ID_LEN]; /* the membership record in force */
};
/* Returns 0 and fills *out, or -ENOENT for a key that never was a member. */
int store_member_get(struct store_rd *rd, const uint8_t key[static PROTO_KEY_LEN],
                     struct store_member *out);
/* True if m may publish at time t (member in its validity period, not revoked). */
bool store_member_active(const struct store_member *m, uint64_t t);

/* Iterators call cb for each item in key order; a non-zero return from cb stops the walk and
 * is returned. They return 0 at the end, or a negative storage error. */
typedef int (*store_member_cb)(void *ctx, const struct store_member *m);
int store_members_each(struct store_rd *rd, store_member_cb cb, void *ctx);

/* Records in local acceptance order, starting after feed position `after`. */
typedef int (*store_feed_cb)(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *r);
int store_feed_each(struct store_rd *rd, uint64_t after, store_feed_cb cb, void *ctx);
/* The highest feed position (0 for an empty store). */
int store_feed_last(struct store_rd *rd, uint64_t *last);

struct store_head {
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t seq; /* highest contiguous seq stored (0: none yet) */
    uint8_t id[PROTO_ID_LEN];
    bool frozen;   /* an equivocation was proven */
    uint32_t held; /* records held aside past a gap */
};
/* Returns 0 and fills *out, or -ENOENT for an origin with nothing stored or held. */
int store_head_get(struct store_rd *rd, const uint8_t origin[static PROTO_KEY_LEN],
                   struct store_head *out);
typedef int (*store_head_cb)(void *ctx, const struct store_head *h);
int store_heads_each(struct store_rd *rd, store_head_cb cb, void *ctx);

struct store_fork {
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t seq;
    uint8_t first[PROTO_ID_LEN]; /* the record stored first */
    struct store_rec second;     /* the conflicting record, kept as proof */
};
typedef int (*store_fork_cb)(void *ctx, const struct store_fork *f);
int store_forks_each(struct store_rd *rd, store_fork_cb cb, void *ctx);

struct store_stats {
    uint64_t records;     /* accepted records */
    uint64_t by_kind[PROTO_KIND_MAX + 1]; /* indexed by enum proto_kind */
    uint64_t by_stype[6]; /* signals, indexed by enum proto_stype */
    uint64_t retracted;
    uint64_t held;
    uint64_t forks;
    uint64_t origins;
    uint64_t map_size; /* bytes */
    uint64_t map_used; /* bytes in use (pages * page size) */
    uint64_t feed_last;
};
int store_stats_get(struct store_rd *rd, struct store_stats *out);

/*
 * Incidents. An incident is named by the alerts, signals and incident records that carry its
 * id; its state is folded from them in any arrival order (docs/storage.md): the level set by
 * the latest incident record (by time, then id), else the highest alert level; concluded when
 * that latest record concludes it; confirmed once an agency (or an organisation granted the
 * right) alerted or acted on it.
 */
struct store_incident {
    char id[PROTO_INCIDENT_MAX + 1]; /* NUL-terminated */
    uint64_t opened_ms;              /* earliest time of a record filed under it */
    uint64_t updated_ms;             /* latest */
    uint8_t level;                   /* enum proto_level in force */
    uint8_t alert_level;             /* highest alert level */
    uint8_t action;                  /* latest incident record's action, 0 if none */
    uint8_t action_level;
    uint64_t action_ms;
    uint8_t action_id[PROTO_ID_LEN];
    bool confirmed;
    bool concluded;
    uint32_t alerts, signals, actions;
    uint32_t records; /* everything filed under it: also retractions and feedback of those */
};
/* Returns 0 and fills *out, or -ENOENT. */
int store_incident_get(struct store_rd *rd, const char *id, size_t idlen,
                       struct store_incident *out);
typedef int (*store_incident_cb)(void *ctx, const struct store_incident *in);
/* Incidents in id order. */
int store_incidents_each(struct store_rd *rd, store_incident_cb cb, void *ctx);
/* The records filed under an incident, in feed order (alerts, incident records, signals,
 * and retractions and feedback whose target is one of those). */
int store_incident_records(struct store_rd *rd, const char *id, size_t idlen, store_feed_cb cb,
                           void *ctx);
/* The same from the first one at a feed position above after_feed (0: all of them). A walk
 * that cb stopped resumes, in a later snapshot too, from the last r->feed it was given. */
int store_incident_records_from(struct store_rd *rd, const char *id, size_t idlen,
                                uint64_t after_feed, store_feed_cb cb, void *ctx);
/* Whether org holds right (enum proto_right), by the root's latest grant record. */
bool store_grant_held(struct store_rd *rd, const char *org, uint8_t right);
/* The record at feed position pos: 0, or -ENOENT. */
int store_feed_get(struct store_rd *rd, uint64_t pos, uint8_t id[static PROTO_ID_LEN],
                   struct store_rec *out);

/* ---- Local match counts (table local_matches): what this node answered, never published. */
struct store_tally {
    char incident[PROTO_INCIDENT_MAX + 1]; /* NUL-terminated, 1..PROTO_INCIDENT_MAX bytes */
    uint64_t add;
};
/* Adds each entry's count to its incident's total, in one durable transaction: 0 or an
 * error (nothing written). Entries with an empty or too long incident are skipped. */
int store_tally_add(struct store *s, const struct store_tally *t, size_t n);
typedef int (*store_tally_cb)(void *ctx, const char *incident, uint64_t matches);
/* Every counted incident, in id order. */
int store_tally_each(struct store_rd *rd, store_tally_cb cb, void *ctx);

/* Every pdq signal not retracted: to build the similarity index at start. */
typedef int (*store_pdq_cb)(void *ctx, const uint8_t hash[32], const uint8_t id[PROTO_ID_LEN]);
int store_pdq_each(struct store_rd *rd, store_pdq_cb cb, void *ctx);

#endif
