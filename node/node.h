/*
 * gifd's node: one struct holding everything the daemon owns, passed explicitly.
 * The loop thread owns all of it except the store's write side, which the write pipeline
 * (write.c) drives from libuv's worker pool, one batch at a time.
 */
#ifndef GIF_NODE_NODE_H
#define GIF_NODE_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "node/config.h"
#include "node/http.h"
#include "node/metrics.h"
#include "protocol/record.h"
#include "storage/pdq.h"
#include "storage/store.h"

/* vpdq frames below this quality are not indexed (matching ignores them too). */
#define NODE_VPDQ_INDEX_QUALITY 50

/* Most worker jobs checking one batch's signatures (write.c uses four per core). */
#define NODE_VERIFY_JOBS 16

struct write_req;
struct net;
struct webhook;

struct sse_client {
    struct http_conn *conn;
    struct sse_client *next;
};

struct node {
    uv_loop_t *loop;
    struct node_config cfg;
    struct store *store;
    struct store_pdq *pdq;
    /* Every frame (quality >= NODE_VPDQ_INDEX_QUALITY) of every live vpdq signal, under the
     * signal's id: a video query finds candidate records here (docs/api.md). */
    struct store_pdq *vpdq;
    struct http_server *http;
    struct net *net; /* NULL when the peer network is off */
    /* NULL without a [webhook] url (node/webhook.c) */
    struct webhook *webhook;
    struct metrics metrics;

    uint8_t *sk; /* sodium_malloc'd node secret key */
    uint8_t pk[PROTO_KEY_LEN];

    uint64_t started_ms;
    /* The highest seq of our own origin that a peer's version vector showed. If our store is
     * behind it (a restored backup), publishing now would fork our log: refuse until caught
     * up. */
    uint64_t self_seen_seq;
    bool vv_seen; /* a peer's version vector has arrived since start */
    /* While a batch's records are applied: which peer each came from, sorted by id. */
    struct src_entry {
        uint8_t id[PROTO_ID_LEN];
        const void *peer;
        bool pulled; /* came in answer to our WANT: announced by version vector, not pushed */
    } * src;
    size_t nsrc;
    uint64_t feed_seen; /* highest feed position applied to the index and events */

    /* The write pipeline (write.c): queued, then signatures checked (wq_vbatch, on up to
     * NODE_VERIFY_JOBS worker jobs), then ready, then written (wq_batch, one writer), in
     * queue order. One batch at most is checked and one written at a time; checked batches
     * wait in the ready list (bounded), and the writer takes them all in one transaction. */
    struct write_req *wq_head, *wq_tail;
    size_t wq_len, wq_items; /* requests and records queued, not yet taken */
    bool wq_busy;
    uv_work_t wq_work;
    struct write_req *wq_batch;  /* the batch being written */
    struct write_req *wq_vbatch; /* the batch whose signatures are being checked */
    struct write_req *wq_ready, *wq_ready_tail; /* checked, waiting for the writer */
    size_t wq_ready_items;                     /* records in the ready list */
    unsigned wq_vjobs;           /* verify jobs of wq_vbatch still running */
    size_t wq_vitems;            /* records in wq_vbatch */
    struct write_vjob {
        uv_work_t work;
        struct node *n;
        struct write_req *batch;
        size_t from, to; /* this job's share of the batch's ingest records */
    } wq_vjob[NODE_VERIFY_JOBS];

    size_t media_jobs; /* POST /v1/match/media requests hashing on the worker pool */

    /* Batches of POST /v1/match querying n->pdq on the worker pool (api.c). The index allows
     * reads on any thread but no change during them (docs/matching.md "Threading contract"):
     * while pdq_readers > 0 the loop queues its adds and removes of n->pdq in pdq_pending, in
     * feed order, and node_pdq_release applies them when the last reader is done. */
    unsigned pdq_readers;
    struct node_pdq_change {
        uint8_t hash[32];
        uint8_t id[PROTO_ID_LEN];
        bool add; /* else a removal of one entry equal to hash (n->pdq keeps hashes only) */
    } * pdq_pending;
    size_t pdq_npending, pdq_cappending;
    /* Video queries probing n->vpdq on the worker pool (api.c): the same rule on n->vpdq, its
     * changes queued by record id (an add reads the record's frames back from the store). */
    unsigned vpdq_readers;
    struct node_vpdq_change {
        uint8_t id[PROTO_ID_LEN];
        bool add; /* else a removal of the record's frames */
    } * vpdq_pending;
    size_t vpdq_npending, vpdq_cappending;
    /* Each index's maintenance job (index.c): a table rebuilt, the arrays grown, or a full
     * rebuild, prepared on the worker pool and committed on the loop; NULL when none. */
    struct node_index_job *pdq_job, *vpdq_job;

    /* Matches answered per incident (api_tally_match): local, never published; loaded from
     * the store at start, the unsaved part written every KEEPALIVE_MS and at stop. */
    struct node_tally {
        char id[PROTO_INCIDENT_MAX + 1];
        uint64_t matches;
        uint64_t unsaved; /* counted since the last write to the store */
    } * tally;
    size_t ntally, captally;

    struct sse_client *sse;
    size_t sse_count;
    uv_timer_t keepalive;

    uv_signal_t sigint, sigterm;
    bool stopping;
};

#define NODE_TALLY_MAX 65536 /* incidents whose local matches are counted (88 bytes each) */

/* Counts match object m (from api_match_json) under its incident, if it names one. */
void api_tally_match(struct node *n, json_t *m);
/* Loads the stored counts (start) / queues the unsaved ones for the store. Loop thread. */
int api_tally_load(struct node *n, struct store_rd *rd);
void api_tally_save(struct node *n);

/* Reads the config, keys and store, builds the index, starts the API. Returns 0 or a
 * negative code with a sentence in err. */
int node_start(struct node *n, uv_loop_t *loop, const char *config_path, char *err, size_t errlen);
/* Begins an orderly stop: no new requests, pending writes finish, then handles close. */
void node_stop(struct node *n);
/* Frees what node_start acquired; call after uv_run returns. */
void node_free(struct node *n);

/* The frame list of vpdq signal r, or the first one alert r carries; NULL if none. */
const struct proto_bytes *node_vpdq_value(const struct proto_record *r);
/* Adds the usable frames of r's frame list (node_vpdq_value) under r's id to n->vpdq.
 * Returns 0 or -ENOMEM. */
int node_vpdq_index(struct node *n, const struct proto_record *r);

/* A worker job starts reading n->pdq (node_pdq_hold) and is done with it
 * (node_pdq_release, which commits a maintenance job that waited and applies the changes
 * queued meanwhile once no job reads). Loop thread; every hold is released exactly once, in
 * the job's after-work callback. node_pdq_quiet: no change and no commit waits for the
 * readers, so a new reader may start without holding them back for good. The same for
 * n->vpdq (index.c). */
void node_pdq_hold(struct node *n);
void node_pdq_release(struct node *n);
bool node_pdq_quiet(const struct node *n);
void node_vpdq_hold(struct node *n);
void node_vpdq_release(struct node *n);
bool node_vpdq_quiet(const struct node *n);

/* Adds record r's pdq hashes and vpdq frames to the indexes (index.c); from the first call on,
 * their rebuilds run as worker jobs (the start-up load builds them in place). Loop thread. */
void node_index_add(struct node *n, const struct proto_record *r, const uint8_t id[PROTO_ID_LEN]);
/* Once the node runs, the indexes' rebuilds and growth are worker jobs (the start-up load
 * built them in place). Loop thread, after the load and before any change. */
void node_index_running(struct node *n);
/* Removes the hashes and frames of retracted record target from the indexes. Loop thread. */
void node_index_retract(struct node *n, const uint8_t target[PROTO_ID_LEN]);

/* Applies records accepted since n->feed_seen: index, metrics, events. Loop thread. */
void node_apply_feed(struct node *n);

/* ---- The write pipeline (write.c). */

enum write_kind { WRITE_PUBLISH, WRITE_INGEST, WRITE_TALLY };

typedef void (*write_done_cb)(struct node *n, struct write_req *w, int rc);

struct write_req {
    enum write_kind kind;
    size_t n;
    struct proto_record *drafts; /* WRITE_PUBLISH */
    struct store_in *in;         /* WRITE_INGEST */
    struct store_tally *tally;   /* WRITE_TALLY: local match counts to add (no res) */
    struct store_result *res;
    int rc; /* the transaction's outcome: 0 committed, else nothing written */
    write_done_cb done;
    void *ctx;          /* the request's owner (an HTTP request's state) */
    const void *source; /* the peer link records came from (not pushed back to it), or NULL */
    bool pulled;        /* the records answer our WANT (anti-entropy), not a push */
    struct write_req *next;
};

/* Queues w; w->done runs on the loop thread once its transaction is durable (or failed).
 * Returns 0, or -EAGAIN when the queue is full or the node is stopping (w is not queued). */
int node_write(struct node *n, struct write_req *w);

/* ---- The API (api.c). */
void api_handle(void *node, struct http_conn *c, const struct http_req *req);
/* Sends a record event to every events client. Loop thread. */
void api_broadcast(struct node *n, uint64_t feed, const uint8_t *rec, size_t len,
                   uint64_t accepted_ms);
/* Sends a keepalive comment to every events client. Loop thread. */
void api_keepalive(struct node *n);

#endif
