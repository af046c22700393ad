/*
 * The write pipeline. API writes and ingests queue here and go through three stages, one
 * batch at a time in each, in queue order:
 *
 *   1. verify: the signatures of a batch's ingested records are checked on libuv's worker
 *      pool, split across one job per core (store_ingest_verify: a read-transaction lookup
 *      first, so a record already stored is never verified). Skipped when nothing in the
 *      batch needs it (publishes, gossip already prechecked by net.c).
 *   2. ready: checked, waiting for the writer. Checking runs ahead of the writer by up to
 *      READY_MAX_ITEMS records, so the cores keep checking signatures while it commits.
 *   3. write: one worker job takes every ready request (up to TXN_MAX_ITEMS records): every
 *      publish among them shares one store_publish transaction and every ingest one
 *      store_ingest transaction (group commit: one fsync serves many requests);
 *      store_ingest trusts the marks of stage 1.
 *
 * So signatures are checked while the writer commits, and whatever was checked meanwhile
 * goes into the next transaction: the slower the writer, the larger its transactions, and a
 * larger transaction dirties fewer B-tree pages per record (measured, docs/performance.md).
 * Each request is answered on the loop thread only after its transaction is durable, in
 * queue order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "util/gif.h"

#define WQ_MAX_REQS 4096      /* queued requests before the API answers 503 */
#define BATCH_MAX_ITEMS 20000 /* records per batch taken off the queue (one check stage) */
#define TXN_MIN_ITEMS 60000   /* while checks run, the writer waits for this many records */
#define TXN_MAX_ITEMS 80000   /* records per write transaction (ready batches merged) */
#define READY_MAX_ITEMS 80000 /* checked records waiting before checking pauses */
#define VERIFY_MIN_SLICE 32   /* fewer records than this per job are not worth a job */
#define VERIFY_JOBS_PER_CORE 4

static void node_write_kick(struct node *n);

int node_write(struct node *n, struct write_req *w)
{
    if (n->stopping || n->wq_len >= WQ_MAX_REQS) return -EAGAIN;
    w->next = NULL;
    w->rc = 0;
    if (n->wq_tail)
        n->wq_tail->next = w;
    else
        n->wq_head = w;
    n->wq_tail = w;
    n->wq_len++;
    n->wq_items += w->n;
    node_write_kick(n);
    return 0;
}

/* Flattens the requests of one kind into one array call, then spreads results back. */
static void run_kind(struct node *n, struct write_req *batch, enum write_kind kind)
{
    size_t total = 0;
    for (struct write_req *w = batch; w; w = w->next)
        if (w->kind == kind) total += w->n;
    if (total == 0) return;
    struct store_result *res = calloc(total, sizeof *res);
    struct proto_record *drafts = NULL;
    struct store_in *in = NULL;
    int rc;
    if (kind == WRITE_PUBLISH)
        drafts = malloc(total * sizeof *drafts);
    else
        in = malloc(total * sizeof *in);
    if (!res || (!drafts && !in)) {
        rc = -ENOMEM;
        goto done;
    }
    size_t off = 0;
    for (struct write_req *w = batch; w; w = w->next) {
        if (w->kind != kind) continue;
        if (kind == WRITE_PUBLISH)
            memcpy(drafts + off, w->drafts, w->n * sizeof *drafts);
        else
            memcpy(in + off, w->in, w->n * sizeof *in);
        off += w->n;
    }
    uint64_t now = gif_now_ms();
    if (kind == WRITE_PUBLISH)
        rc = store_publish(n->store, n->sk, drafts, total, now, res);
    else
        rc = store_ingest(n->store, in, total, now, res);
done:
    off = 0;
    for (struct write_req *w = batch; w; w = w->next) {
        if (w->kind != kind) continue;
        w->rc = rc;
        if (rc == 0) {
            memcpy(w->res, res + off, w->n * sizeof *res);
            if (kind == WRITE_PUBLISH) memcpy(w->drafts, drafts + off, w->n * sizeof *drafts);
        }
        off += w->n;
    }
    free(res);
    free(drafts);
    free(in);
}

/* Local match counts: all of the batch's in one transaction of their own. */
static void run_tally(struct node *n, struct write_req *batch)
{
    for (struct write_req *w = batch; w; w = w->next)
        if (w->kind == WRITE_TALLY) w->rc = store_tally_add(n->store, w->tally, w->n);
}

static void work_cb(uv_work_t *req)
{
    struct node *n = req->data;
    run_kind(n, n->wq_batch, WRITE_PUBLISH);
    run_kind(n, n->wq_batch, WRITE_INGEST);
    run_tally(n, n->wq_batch);
}

static int src_cmp(const void *a, const void *b)
{
    return memcmp(a, b, PROTO_ID_LEN);
}

/* Notes which peer each newly accepted record came from, so that pushing it on skips that
 * peer. Records released from the held table are not in any result: they go to everyone. */
static void note_sources(struct node *n, struct write_req *batch)
{
    size_t count = 0;
    for (struct write_req *w = batch; w; w = w->next)
        if (w->source && w->rc == 0) count += w->n;
    n->nsrc = 0;
    if (count == 0 || !(n->src = malloc(count * sizeof *n->src))) return;
    for (struct write_req *w = batch; w; w = w->next) {
        if (!w->source || w->rc != 0) continue;
        for (size_t i = 0; i < w->n; i++) {
            if (w->res[i].status != 0) continue;
            memcpy(n->src[n->nsrc].id, w->res[i].id, PROTO_ID_LEN);
            n->src[n->nsrc].pulled = w->pulled;
            n->src[n->nsrc++].peer = w->source;
        }
    }
    qsort(n->src, n->nsrc, sizeof *n->src, src_cmp);
}

static void after_work_cb(uv_work_t *req, int status)
{
    struct node *n = req->data;
    struct write_req *batch = n->wq_batch;
    n->wq_batch = NULL;
    n->wq_busy = false;
    n->metrics.write_batches++;
    /* Index and events first, so that a client told "written" can already find it. */
    if (status == 0) note_sources(n, batch);
    node_apply_feed(n);
    free(n->src);
    n->src = NULL;
    n->nsrc = 0;
    while (batch) {
        struct write_req *next = batch->next;
        if (status != 0 && batch->rc == 0) batch->rc = -ECANCELED;
        if (batch->rc != 0) n->metrics.write_failures++;
        batch->done(n, batch, batch->rc);
        batch = next;
    }
    node_write_kick(n);
}

/* Fails every request of a batch that cannot be started (cannot happen with a live loop). */
static void batch_fail(struct node *n, struct write_req *w, int rc)
{
    while (w) {
        struct write_req *next = w->next;
        w->done(n, w, rc);
        w = next;
    }
}

static void write_start(struct node *n, struct write_req *batch)
{
    n->wq_batch = batch;
    n->wq_busy = true;
    n->wq_work.data = n;
    int rc = uv_queue_work(n->loop, &n->wq_work, work_cb, after_work_cb);
    if (rc != 0) {
        GIF_ERROR("write", "uv_queue_work: %s", uv_strerror(rc));
        n->wq_busy = false;
        n->wq_batch = NULL;
        batch_fail(n, batch, -EIO);
    }
}

/* Appends a checked batch (a list of requests) to the ready list. */
static void ready_add(struct node *n, struct write_req *batch)
{
    if (n->wq_ready_tail)
        n->wq_ready_tail->next = batch;
    else
        n->wq_ready = batch;
    for (struct write_req *w = batch; w; w = w->next) {
        n->wq_ready_items += w->n;
        n->wq_ready_tail = w;
    }
}

/* Cuts whole requests off the front of the list (*head, *tail), up to cap records (always at
 * least one). Returns them as a list; *items and *reqs say how many records and requests. */
static struct write_req *list_take(struct write_req **head, struct write_req **tail, size_t cap,
                                   size_t *items, size_t *reqs)
{
    struct write_req *first = *head, *last = first;
    *items = first->n;
    *reqs = 1;
    while (last->next && *items + last->next->n <= cap) {
        last = last->next;
        *items += last->n;
        ++*reqs;
    }
    *head = last->next;
    if (!*head) *tail = NULL;
    last->next = NULL;
    return first;
}

/* Takes whole requests off the ready list, up to TXN_MAX_ITEMS records (at least one). */
static struct write_req *ready_take(struct node *n)
{
    size_t items, reqs;
    struct write_req *b = list_take(&n->wq_ready, &n->wq_ready_tail, TXN_MAX_ITEMS, &items, &reqs);
    n->wq_ready_items -= items;
    return b;
}

/* Checks the signatures of records [from, to) of the batch's ingests (worker thread). */
static void verify_cb(uv_work_t *req)
{
    struct write_vjob *j = req->data;
    size_t off = 0;
    for (struct write_req *w = j->batch; w && off < j->to; w = w->next) {
        if (w->kind != WRITE_INGEST) continue;
        size_t a = j->from > off ? j->from - off : 0, b = j->to - off < w->n ? j->to - off : w->n;
        /* A storage error leaves records unmarked: store_ingest then verifies them itself. */
        if (a < b) (void)store_ingest_verify(j->n->store, w->in + a, b - a, NULL);
        off += w->n;
    }
}

static void verify_after_cb(uv_work_t *req, int status)
{
    struct write_vjob *j = req->data;
    struct node *n = j->n;
    (void)status; /* a cancelled job only leaves records for store_ingest to verify */
    if (--n->wq_vjobs > 0) return;
    ready_add(n, n->wq_vbatch);
    n->wq_vbatch = NULL;
    n->wq_vitems = 0;
    node_write_kick(n);
}

/* Sends batch to the verify stage, or straight on when nothing in it needs checking. */
static void verify_start(struct node *n, struct write_req *batch)
{
    size_t total = 0, todo = 0;
    for (struct write_req *w = batch; w; w = w->next) {
        if (w->kind != WRITE_INGEST) continue;
        total += w->n;
        for (size_t i = 0; i < w->n; i++)
            if (!w->in[i].verified) todo++;
    }
    if (todo == 0) {
        ready_add(n, batch);
        return;
    }
    /* Several jobs per core, taken in turn by the pool's threads: a share slowed down by the
     * writer (or anything else on the machine) does not leave a core idle at the end. */
    size_t cores = uv_available_parallelism();
    size_t jobs = (todo + VERIFY_MIN_SLICE - 1) / VERIFY_MIN_SLICE;
    if (jobs > VERIFY_JOBS_PER_CORE * cores) jobs = VERIFY_JOBS_PER_CORE * cores;
    if (jobs > NODE_VERIFY_JOBS) jobs = NODE_VERIFY_JOBS;
    if (jobs == 0) jobs = 1;
    n->wq_vbatch = batch;
    n->wq_vitems = total;
    n->wq_vjobs = 0;
    for (size_t i = 0; i < jobs; i++) {
        struct write_vjob *j = &n->wq_vjob[i];
        j->n = n;
        j->batch = batch;
        j->from = total * i / jobs;
        j->to = total * (i + 1) / jobs;
        j->work.data = j;
        int rc = uv_queue_work(n->loop, &j->work, verify_cb, verify_after_cb);
        if (rc != 0) {
            GIF_ERROR("write", "uv_queue_work: %s", uv_strerror(rc));
            break;
        }
        n->wq_vjobs++;
    }
    if (n->wq_vjobs == 0) { /* the writer verifies instead */
        n->wq_vbatch = NULL;
        n->wq_vitems = 0;
        ready_add(n, batch);
    }
}

static bool needs_verify(const struct write_req *w)
{
    if (w->kind != WRITE_INGEST) return false;
    for (size_t i = 0; i < w->n; i++)
        if (!w->in[i].verified) return true;
    return false;
}

/* Takes whole requests off the queue, up to the batch cap (always at least one). */
static struct write_req *take_batch(struct node *n)
{
    size_t items, reqs;
    struct write_req *b = list_take(&n->wq_head, &n->wq_tail, BATCH_MAX_ITEMS, &items, &reqs);
    n->wq_len -= reqs;
    n->wq_items -= items;
    return b;
}

/* Whether the idle writer waits for more checked records instead of writing the ready ones
 * now: only in bulk, when the pipeline holds enough records to fill TXN_MIN_ITEMS and more
 * will be ready without the writer (a batch is being checked, or one that needs checks can
 * start). A trickle of gossip or publishes never waits (and a peer link reads nothing while
 * its records wait for the writer). */
static bool writer_waits(struct node *n)
{
    if (n->wq_ready_items >= TXN_MIN_ITEMS) return false;
    if (n->wq_ready_items + n->wq_vitems + n->wq_items < TXN_MIN_ITEMS) return false;
    return n->wq_vbatch ||
           (n->wq_head && needs_verify(n->wq_head) && n->wq_ready_items < READY_MAX_ITEMS);
}

/* Moves batches along the stages as far as they can go. Loop thread. */
static void node_write_kick(struct node *n)
{
    for (;;) {
        /* The writer first, so that its job is ahead of the next verify jobs in the pool. */
        if (!n->wq_busy && n->wq_ready && !writer_waits(n)) {
            write_start(n, ready_take(n));
            continue;
        }
        if (n->wq_vbatch || !n->wq_head || n->wq_ready_items >= READY_MAX_ITEMS) return;
        /* While the writer is busy, only work that needs checking moves ahead; the rest
         * (publishes, gossip already checked on receipt) waits in the queue, so that it joins
         * the next transaction whole instead of a small batch taken early (which cost a
         * commit per request under load: measured, 32 nodes, p50 to the last node 0.1-0.5 s
         * -> 0.8-0.9 s). */
        if (n->wq_busy && !needs_verify(n->wq_head)) return;
        verify_start(n, take_batch(n));
    }
}
