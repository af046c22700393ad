/*
 * The in-memory PDQ similarity index: every live pdq signal's hash (and record id, unless the
 * index keeps hashes only, as the node's n->pdq does), answering
 * "which hashes lie within Hamming distance d of q" with every answer a brute-force scan would
 * give (100% recall, any radius). Built from the store at start (store_pdq_each) and kept
 * current by the node as records are accepted and retracted. docs/matching.md has the method,
 * the memory per hash and the measured figures.
 *
 * Small sets are scanned linearly with hardware popcount. From STORE_PDQ_MIH_MIN entries on,
 * a multi-index (11 substring tables probed at radius 2 for distance 31, by the generalised
 * pigeonhole principle) finds candidates, and every candidate is checked at full distance;
 * radii where the tables would cost more than a scan are scanned. The tables are compact
 * (offsets and words, no slack); adds between rebuilds go to a small delta, removes leave
 * tombstones, and a rebuild follows when either passes a fraction of the tables.
 *
 * Threading: the owner thread calls new/add/remove/reserve/free. Queries (store_pdq_query,
 * store_pdq_query_batch, store_pdq_count) only read the index and keep their scratch on the
 * stack, so any number of them may run at once on any threads, as long as no add, remove,
 * reserve or free runs at the same time (the caller's lock or hand-off provides that; e.g.
 * the loop stops adding while a uv_queue_work batch holds the index).
 *
 * Maintenance off the owner's thread (store_pdq_set_async): the rebuilds and the growth of the
 * arrays, which take up to seconds at 10M, become jobs that the owner begins, any thread runs
 * into fresh memory, and the owner commits (swapping pointers, then bringing the result up to
 * date with the adds and removes made meanwhile). While a job runs, the owner goes on adding,
 * removing and querying as usual, and every answer stays exact.
 */
#ifndef GIF_STORAGE_PDQ_H
#define GIF_STORAGE_PDQ_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

/* Below this many entries a query scans: the tables cost more than they save. */
#define STORE_PDQ_MIH_MIN 16384

struct store_pdq;

struct store_pdq_hit {
    uint8_t id[PROTO_ID_LEN];
    uint8_t hash[32];
    int distance;
};

int store_pdq_new(struct store_pdq **out);
/*
 * An index whose ids are id_len bytes (0..PROTO_ID_LEN): add, remove and remove_hash read the
 * first id_len bytes of their id argument, and hits carry them with the rest of id zeroed.
 * With id_len 0 the index keeps hashes only (no id array, no id map: 32 bytes and 4-6 bytes
 * less per entry than 8-byte ids would cost); hits carry the hash and distance with id
 * zeroed, store_pdq_remove finds nothing, and store_pdq_remove_hash removes one entry equal
 * to the hash. The caller resolves a hit's records by its hash (the node: the store's exact
 * index). Returns 0, -EINVAL or -ENOMEM.
 */
int store_pdq_new_idlen(struct store_pdq **out, size_t id_len);
void store_pdq_free(struct store_pdq *x);
/*
 * Adds (hash, id) in O(1) amortised: the entry is pending (queries scan it) until the next
 * 64th add puts the pending ones into the tables' deltas. When a table's delta passes 1/16 of
 * its compact part, that table is rebuilt (without jobs: one table per call, about 0.27 s at 10M;
 * store_pdq_reserve avoids the rebuilds while a known number of hashes is loaded). The caller
 * adds each record once (the node applies each feed position once); a repeated pair is stored
 * twice. id may be NULL when id_len is 0. Returns 0 or -ENOMEM (the index is unchanged then).
 */
int store_pdq_add(struct store_pdq *x, const uint8_t hash[static 32], const uint8_t *id);
/*
 * For a bulk load: sizes the index for n entries in all (and 1/16 more, for the adds that
 * follow) and defers the tables until the count reaches n, so that they are built once, by a
 * counting sort on two threads, when the n-th entry is added (about 1.3-3 s at 10M). Until then
 * queries scan. Call it with the number of adds that follow (or call store_pdq_flush after them).
 * Optional. Returns 0 or -ENOMEM.
 */
int store_pdq_reserve(struct store_pdq *x, size_t n);
/* Ends a deferral started by store_pdq_reserve and brings the tables up to date now.
 * Returns 0 or -ENOMEM (queries then scan what the tables lack, still exactly). */
int store_pdq_flush(struct store_pdq *x);
/* Removes every entry with this id (a pdq signal's one hash, or all of a vpdq signal's frames)
 * in O(entries removed), through an id map; returns how many were removed (0 when id_len is
 * 0). No rebuild: the entries' words leave the tables and their slots wait, dead, for the
 * next rebuild (one once they pass 1/8 of the tables). */
size_t store_pdq_remove(struct store_pdq *x, const uint8_t id[static PROTO_ID_LEN]);
/* Removes the entries equal to (hash, id), found through one table's bucket; with id_len 0,
 * one entry equal to hash (id ignored, may be NULL). Returns how many were removed. The same
 * cost as store_pdq_remove. */
size_t store_pdq_remove_hash(struct store_pdq *x, const uint8_t hash[static 32], const uint8_t *id);
size_t store_pdq_count(const struct store_pdq *x);
/*
 * Finds entries within max_distance of q (a negative distance finds nothing; 256 and above
 * find everything). Writes up to max hits, nearest first (ties by id, then by hash), and
 * returns the total number within the radius (which may exceed max). Allocates nothing.
 */
size_t store_pdq_query(const struct store_pdq *x, const uint8_t q[static 32], int max_distance,
                       struct store_pdq_hit *hits, size_t max);
/*
 * nq queries at once, for a worker thread (see Threading above): query k writes up to max hits
 * to hits[k * max ...] and its total to totals[k], exactly as store_pdq_query would. Scans
 * share one pass over the hashes for the whole batch. Returns 0.
 */
int store_pdq_query_batch(const struct store_pdq *x, const uint8_t (*q)[32], size_t nq,
                          int max_distance, struct store_pdq_hit *hits, size_t max, size_t *totals);
/*
 * Rebuilds and growth by jobs from now on (on: nonzero): add and remove leave them to
 * store_pdq_job_begin, except the first build of the tables (at STORE_PDQ_MIH_MIN entries,
 * milliseconds). Without it (the default) they run inside add and remove, on the owner's
 * thread (and one more it starts): what a bulk load at start-up and the tests want.
 */
void store_pdq_set_async(struct store_pdq *x, int on);

struct store_pdq_job;
/*
 * Owner thread: the maintenance the index needs now, as a job, in *out: one table rebuilt
 * (its delta past 1/16 of it), the arrays grown (less than 1/32 of their room free), or
 * everything rebuilt without the dead slots (past 1/8). *out is NULL when none is needed, while
 * another job is outstanding, and during a reserve. The job reads the hash and id arrays as
 * they are now: the index keeps them (pinned) until the job ends. Returns 0 or -ENOMEM.
 */
int store_pdq_job_begin(struct store_pdq *x, struct store_pdq_job **out);
/*
 * Any thread, once per job: builds the new table or arrays into fresh memory, reading only
 * what the index keeps unchanged for it, so the owner may add, remove and query meanwhile,
 * and other threads may query. The transient memory is the new part next to the old one:
 * docs/matching.md "Memory per hash".
 */
void store_pdq_job_run(struct store_pdq_job *j);
/*
 * Owner thread, after the run, with no query running on another thread: installs the result
 * in place of the old part (which j takes), then applies to it the removes and adds made
 * since begin, so the index answers exactly as before the call. Returns 0, or the job's error
 * (-ENOMEM; the index is unchanged, and jobs wait until its count has doubled). Then free j.
 */
int store_pdq_job_commit(struct store_pdq *x, struct store_pdq_job *j);
/* Any thread, after the commit: frees j and the memory the commit replaced (up to a whole
 * index: unmapping 900 MB takes a tenth of a second, better spent off the owner's thread). */
void store_pdq_job_free(struct store_pdq_job *j);
/* What job j does, for logs: "table" (one table rebuilt), "grow" (the arrays) or "full". */
const char *store_pdq_job_name(const struct store_pdq_job *j);
/* Owner thread: ends a job without installing anything (not run, or not wanted) and frees it;
 * instead of a commit. */
void store_pdq_job_drop(struct store_pdq *x, struct store_pdq_job *j);
/* Owner thread: begins, runs and commits jobs until none is needed (tests, benches). Returns
 * 0 or the first failure. */
int store_pdq_maintain(struct store_pdq *x);

/* Bytes the index holds allocated (hashes, ids, id map, tables), for metrics and benches. */
size_t store_pdq_memory(const struct store_pdq *x);
/* Hamming distance of two 256-bit hashes. */
int store_pdq_distance(const uint8_t a[static 32], const uint8_t b[static 32]);

#endif
