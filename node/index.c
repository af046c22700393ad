/*
 * gifd's similarity indexes: n->pdq (the hashes of pdq signals and of the pdq signals alerts
 * carry) and n->vpdq (the frames of vpdq signals), kept current as records are applied, and
 * the rules that let worker jobs read them and rebuild them (docs/matching.md "Threading
 * contract").
 *
 * Readers: a worker job querying an index holds it (node_pdq_hold, node_vpdq_hold); while any
 * does, the loop queues that index's changes and applies them, in feed order, when the last
 * reader is done. Maintenance: once running, each index leaves its rebuilds and the growth of
 * its arrays to jobs (store_pdq_set_async): one at a time per index, prepared on the worker
 * pool while the loop goes on adding, removing and querying, and committed on the loop when
 * no reader holds the index (at once, or by the release that brings the readers to zero).
 */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "util/gif.h"

struct node_index_job {
    uv_work_t work;
    struct node *n;
    bool vpdq;   /* the job of n->vpdq, else of n->pdq */
    bool ran;    /* run, waiting for the readers to be done */
    uint64_t t0; /* begun */
    uint64_t ran_ns;
    struct store_pdq_job *j;
};

static struct node_index_job **job_slot(struct node *n, bool vpdq)
{
    return vpdq ? &n->vpdq_job : &n->pdq_job;
}

static struct store_pdq *index_of(struct node *n, bool vpdq)
{
    return vpdq ? n->vpdq : n->pdq;
}

static unsigned readers_of(const struct node *n, bool vpdq)
{
    return vpdq ? n->vpdq_readers : n->pdq_readers;
}

static void job_work(uv_work_t *w)
{
    struct node_index_job *ij = w->data;
    uint64_t t = gif_mono_ns();
    store_pdq_job_run(ij->j);
    ij->ran_ns = gif_mono_ns() - t;
}

static void index_maintain(struct node *n, bool vpdq);

static void job_free_work(uv_work_t *w)
{
    struct node_index_job *ij = w->data;
    store_pdq_job_free(ij->j);
}

static void job_free_after(uv_work_t *w, int status)
{
    (void)status;
    free(w->data);
}

/* Installs a job's result (loop thread, no reader), hands what it replaced to the worker pool
 * to be freed (unmapping an old index takes a tenth of a second at 10M), then begins the next
 * job if one is due. */
static void job_commit(struct node_index_job *ij)
{
    struct node *n = ij->n;
    bool vpdq = ij->vpdq;
    const char *what = store_pdq_job_name(ij->j);
    uint64_t t = gif_mono_ns();
    int rc = store_pdq_job_commit(index_of(n, vpdq), ij->j);
    uint64_t commit_ns = gif_mono_ns() - t;
    if (rc)
        GIF_ERROR("index", "%s index: %s rebuild failed (%s): the index stays as it was, exact",
                  vpdq ? "vpdq" : "pdq", what, gif_strerror(rc));
    else
        GIF_DEBUG("index",
                  "%s index: %s built in %.1f ms off the loop, committed in %.2f ms "
                  "(%.0f ms after begin)",
                  vpdq ? "vpdq" : "pdq", what, (double)ij->ran_ns / 1e6, (double)commit_ns / 1e6,
                  (double)(gif_mono_ns() - ij->t0) / 1e6);
    *job_slot(n, vpdq) = NULL;
    if (uv_queue_work(n->loop, &ij->work, job_free_work, job_free_after) != 0) {
        store_pdq_job_free(ij->j);
        free(ij);
    }
    index_maintain(n, vpdq);
}

static void job_after(uv_work_t *w, int status)
{
    struct node_index_job *ij = w->data;
    if (status != 0) {
        store_pdq_job_drop(index_of(ij->n, ij->vpdq), ij->j);
        *job_slot(ij->n, ij->vpdq) = NULL;
        free(ij);
        return;
    }
    ij->ran = true;
    if (readers_of(ij->n, ij->vpdq) == 0) job_commit(ij); /* else the last release commits */
}

/* Begins the maintenance the index needs, if any and none is under way, on the worker pool.
 * Loop thread, after the index changed or a job was committed. */
static void index_maintain(struct node *n, bool vpdq)
{
    struct store_pdq *x = index_of(n, vpdq);
    if (*job_slot(n, vpdq) || n->stopping) return;
    struct store_pdq_job *j;
    if (store_pdq_job_begin(x, &j) != 0 || !j) return; /* out of memory: tried on the next change */
    struct node_index_job *ij = calloc(1, sizeof *ij);
    if (!ij) {
        store_pdq_job_drop(x, j);
        return;
    }
    ij->n = n;
    ij->vpdq = vpdq;
    ij->j = j;
    ij->t0 = gif_mono_ns();
    ij->work.data = ij;
    if (uv_queue_work(n->loop, &ij->work, job_work, job_after) != 0) {
        store_pdq_job_drop(x, j);
        free(ij);
        return;
    }
    *job_slot(n, vpdq) = ij;
}

void node_index_running(struct node *n)
{
    if (n->pdq) store_pdq_set_async(n->pdq, 1);
    if (n->vpdq) store_pdq_set_async(n->vpdq, 1);
}

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
        index_maintain(n, false);
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
    if (store_get_decoded(rd, target, &sr, &t) == 0) {
        size_t k = pdq_hashes(&t, hs);
        for (size_t i = 0; i < k; i++)
            pdq_change(n, false, hs[i], NULL);
    }
    store_rd_close(rd);
}

/* Commits index vpdq's maintenance job if it has run and waits for the readers. */
static void job_commit_waiting(struct node *n, bool vpdq)
{
    struct node_index_job *ij = *job_slot(n, vpdq);
    if (ij && ij->ran) job_commit(ij);
}

bool node_pdq_quiet(const struct node *n)
{
    return n->pdq_npending == 0 && !(n->pdq_job && n->pdq_job->ran);
}

void node_pdq_hold(struct node *n)
{
    n->pdq_readers++;
}

void node_pdq_release(struct node *n)
{
    if (--n->pdq_readers > 0) return;
    job_commit_waiting(n, false);
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

/* Adds record r's frames to n->vpdq, or removes record id's frames, now or, while a worker job
 * reads the index, once it is done (node_vpdq_release; an add then reads the record back from
 * the store). */
static void vpdq_change(struct node *n, bool add, const uint8_t id[PROTO_ID_LEN],
                        const struct proto_record *r)
{
    if (n->vpdq_readers == 0) {
        if (!add)
            store_pdq_remove(n->vpdq, id);
        else if (node_vpdq_index(n, r) != 0)
            GIF_ERROR("index", "out of memory adding vpdq frames: matching is incomplete");
        index_maintain(n, true);
        return;
    }
    if (n->vpdq_npending == n->vpdq_cappending) {
        size_t cap = n->vpdq_cappending ? 2 * n->vpdq_cappending : 16;
        struct node_vpdq_change *p = realloc(n->vpdq_pending, cap * sizeof *p);
        if (!p) {
            GIF_ERROR("index",
                      "out of memory queueing a vpdq index change: matching is incomplete");
            return;
        }
        n->vpdq_pending = p;
        n->vpdq_cappending = cap;
    }
    struct node_vpdq_change *c = &n->vpdq_pending[n->vpdq_npending++];
    memcpy(c->id, id, PROTO_ID_LEN);
    c->add = add;
}

bool node_vpdq_quiet(const struct node *n)
{
    return n->vpdq_npending == 0 && !(n->vpdq_job && n->vpdq_job->ran);
}

void node_vpdq_hold(struct node *n)
{
    n->vpdq_readers++;
}

void node_vpdq_release(struct node *n)
{
    if (--n->vpdq_readers > 0) return;
    job_commit_waiting(n, true);
    struct store_rd *rd = NULL;
    for (size_t i = 0; i < n->vpdq_npending; i++) {
        const struct node_vpdq_change *c = &n->vpdq_pending[i];
        if (!c->add) {
            vpdq_change(n, false, c->id, NULL);
            continue;
        }
        struct store_rec sr;
        struct proto_record r;
        if ((rd || store_rd_open(n->store, &rd) == 0) && store_get_decoded(rd, c->id, &sr, &r) == 0)
            vpdq_change(n, true, c->id, &r);
        else
            GIF_ERROR("index", "cannot read back a vpdq record: its frames are not matchable");
    }
    if (rd) store_rd_close(rd);
    /* Changes queue only while a video query probes: small, and not kept. */
    free(n->vpdq_pending);
    n->vpdq_pending = NULL;
    n->vpdq_npending = n->vpdq_cappending = 0;
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
    if (node_vpdq_value(r)) vpdq_change(n, true, id, r);
}

void node_index_retract(struct node *n, const uint8_t target[PROTO_ID_LEN])
{
    pdq_retract(n, target);
    vpdq_change(n, false, target, NULL);
}
