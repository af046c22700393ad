/*
 * gifd's similarity indexes: n->pdq (the hashes of pdq signals and of the pdq signals alerts
 * carry) and n->vpdq (the frames of vpdq signals), kept current as records are applied, and
 * the rule that lets worker jobs read them (docs/matching.md "Threading contract").
 */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "util/gif.h"

/* Adds (hash, id) to n->pdq, or removes one entry equal to hash (n->pdq keeps hashes only, one
 * entry per record holding the hash: docs/matching.md), now or, while a worker job reads the
 * index (n->pdq_readers), once it is done (node_pdq_release). */
static void pdq_change(struct node *n, bool add, const uint8_t *hash, const uint8_t *id)
{
    if (n->pdq_readers == 0) {
        if (!add)
            store_pdq_remove_hash(n->pdq, hash, NULL);
        else if (store_pdq_add(n->pdq, hash, id) != 0)
            GIF_ERROR("index", "out of memory adding a pdq hash: matching is incomplete");
        return;
    }
    if (n->pdq_npending == n->pdq_cappending) {
        size_t cap = n->pdq_cappending ? 2 * n->pdq_cappending : 64;
        struct node_pdq_change *p = realloc(n->pdq_pending, cap * sizeof *p);
        if (!p) {
            GIF_ERROR("index", "out of memory queueing a pdq index change: matching is incomplete");
            return;
        }
        n->pdq_pending = p;
        n->pdq_cappending = cap;
    }
    struct node_pdq_change *c = &n->pdq_pending[n->pdq_npending++];
    memcpy(c->hash, hash, sizeof c->hash);
    memcpy(c->id, id ? id : c->hash, PROTO_ID_LEN);
    c->add = add;
}

/* The pdq hashes record r holds (a pdq signal's, or those an alert carries, each distinct hash
 * once): the entries it has in n->pdq, one per hash. */
static size_t pdq_hashes(const struct proto_record *r, const uint8_t *out[PROTO_ALERT_SIGNALS_MAX])
{
    if (r->kind == PROTO_SIGNAL) {
        if (r->u.signal.stype != PROTO_ST_PDQ || r->u.signal.value.n != 32) return 0;
        out[0] = r->u.signal.value.p;
        return 1;
    }
    if (r->kind != PROTO_ALERT) return 0;
    size_t k = 0;
    for (size_t i = 0; i < r->u.alert.nsignals && k < PROTO_ALERT_SIGNALS_MAX; i++) {
        const struct proto_sigref *sg = &r->u.alert.signals[i];
        if (sg->stype != PROTO_ST_PDQ || sg->value.n != 32) continue;
        size_t j = 0;
        while (j < k && memcmp(out[j], sg->value.p, 32) != 0)
            j++;
        if (j == k) out[k++] = sg->value.p;
    }
    return k;
}

/* A retraction: removes the target's hashes from n->pdq (read from the store: the index holds
 * no ids). The store accepts one retraction per stored signal or alert, so each entry goes
 * once. */
static void pdq_retract(struct node *n, const uint8_t target[PROTO_ID_LEN])
{
    struct store_rd *rd;
    if (store_rd_open(n->store, &rd) != 0) {
        GIF_ERROR("index", "cannot read a retracted record: its pdq hashes stay matchable");
        return;
    }
    struct store_rec sr;
    struct proto_record t;
    const uint8_t *hs[PROTO_ALERT_SIGNALS_MAX];
    if (store_get(rd, target, &sr) == 0 && proto_decode(&t, sr.buf, sr.len) == 0) {
        size_t k = pdq_hashes(&t, hs);
        for (size_t i = 0; i < k; i++)
            pdq_change(n, false, hs[i], NULL);
    }
    store_rd_close(rd);
}

void node_pdq_hold(struct node *n)
{
    n->pdq_readers++;
}

void node_pdq_release(struct node *n)
{
    if (--n->pdq_readers > 0) return;
    for (size_t i = 0; i < n->pdq_npending; i++) {
        const struct node_pdq_change *c = &n->pdq_pending[i];
        pdq_change(n, c->add, c->hash, c->id);
    }
    n->pdq_npending = 0;
    if (n->pdq_cappending > 4096) { /* do not keep a burst's queue for good */
        free(n->pdq_pending);
        n->pdq_pending = NULL;
        n->pdq_cappending = 0;
    }
}

const struct proto_bytes *node_vpdq_value(const struct proto_record *r)
{
    if (r->kind == PROTO_SIGNAL && r->u.signal.stype == PROTO_ST_VPDQ) return &r->u.signal.value;
    if (r->kind == PROTO_ALERT)
        for (size_t i = 0; i < r->u.alert.nsignals; i++)
            if (r->u.alert.signals[i].stype == PROTO_ST_VPDQ) return &r->u.alert.signals[i].value;
    return NULL;
}

int node_vpdq_index(struct node *n, const struct proto_record *r)
{
    const struct proto_bytes *v = node_vpdq_value(r);
    if (!v) return 0;
    for (size_t off = 0; off + PROTO_VPDQ_FRAME_LEN <= v->n; off += PROTO_VPDQ_FRAME_LEN) {
        if (v->p[off + 32] < NODE_VPDQ_INDEX_QUALITY) continue;
        int rc = store_pdq_add(n->vpdq, v->p + off, r->id);
        if (rc) return rc;
    }
    return 0;
}

/* Record r's hashes into the indexes: a pdq signal's hash, an alert's distinct pdq hashes
 * (the signals an alert carries match like signals; store.c indexes the exact ones), and the
 * frames of a vpdq signal or of the first vpdq list an alert carries. */
void node_index_add(struct node *n, const struct proto_record *r, const uint8_t id[PROTO_ID_LEN])
{
    const uint8_t *hs[PROTO_ALERT_SIGNALS_MAX];
    size_t k = pdq_hashes(r, hs);
    for (size_t i = 0; i < k; i++)
        pdq_change(n, true, hs[i], id);
    if (node_vpdq_index(n, r) != 0)
        GIF_ERROR("index", "out of memory adding vpdq frames: matching is incomplete");
}

void node_index_retract(struct node *n, const uint8_t target[PROTO_ID_LEN])
{
    pdq_retract(n, target);
    store_pdq_remove(n->vpdq, target);
}
