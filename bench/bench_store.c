/*
 * Ingest and exact lookups (issue 5; figures in docs/performance.md), each against a ceiling
 * measured in the same run. Prints figures; never fails on timing.
 *
 * Ingest: N signed md5 signals (default 1,000,000) from ORIGINS member origins, interleaved
 * as a signed export of a busy consortium would be (each origin's chain in seq order), are
 * handed to the node's own write pipeline (node/write.c: node_write, requests of 1,000 as
 * `gifctl import` and anti-entropy send them) on a libuv loop: signatures checked on the
 * worker pool, four jobs per core, while the single writer commits the previous batch
 * durably (fsync, as a node does by default), and the loop applies the feed. The ceiling is
 * decode + Ed25519 verify of the same records on as many threads as cores, measured before
 * and after (the mean is used). For comparison, the path before the pipeline: store_ingest
 * verifying inside its transaction, on one thread, batches of 20,000 (what the writer merged),
 * and the writer alone (store_ingest of the N records marked verified): its CPU per record is
 * most of what the pipeline spends beyond verifying, on the same cores.
 *
 * Exact lookups over the N stored md5 values, one read transaction, one thread: store_lookup
 * (hits, misses), store_lookup + store_feed_get + decode (what an answer reads), against raw LMDB
 * mdb_get of the same keys in the exact table (the ceiling).
 *
 * usage: bench_store [N [ingest]]   ("ingest": the ceiling and the pipeline only, one line, for
 *                                   back-to-back comparisons of builds)
 */
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "node/node.h"
#include "storage/store.h"
#include "util/gif.h"

#define ORIGINS 8
#define REQ_RECORDS 1000   /* records per write request, as gifctl import sends them */
#define SERIAL_BATCH 20000 /* the writer's merged batch before the pipeline */
#define CEIL_MAX 100000    /* records per ceiling measurement */
#define SERIAL_MAX 100000  /* records through the serial path */

struct rec {
    uint8_t *buf;
    size_t len;
    uint8_t origin; /* index into the origins */
    uint64_t seq;
    uint8_t md5[16];
    uint8_t id[32];
};

struct keys {
    uint8_t rpk[32], rsk[64];
    uint8_t pk[ORIGINS][32], sk[ORIGINS][64];
    uint8_t *mem[ORIGINS]; /* signed memberships */
    size_t memlen[ORIGINS];
};

static double now_s(void)
{
    return (double)gif_mono_ns() / 1e9;
}

/* CPU seconds used by the whole process (every thread). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Anonymous memory of this process in MiB (RssAnon), or -1. */
static double rss_anon_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %lf", &kb) == 1) break;
    if (f) fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static unsigned cores(void)
{
    unsigned c = uv_available_parallelism();
    return c < 1 ? 1 : c > 64 ? 64 : c;
}

/* ---- Generating the records. */

struct sign_job {
    struct rec *recs;
    size_t n;
    unsigned t, nt;
    const struct keys *k;
    uint64_t t0;
};

/* Signs the chains of origins o with o % nt == t, each in seq order. */
static void *sign_thread(void *arg)
{
    struct sign_job *j = arg;
    uint8_t prev[ORIGINS][32];
    memset(prev, 0, sizeof prev);
    for (size_t i = 0; i < j->n; i++) {
        struct rec *x = &j->recs[i];
        if (x->origin % j->nt != j->t) continue;
        struct proto_record d;
        memset(&d, 0, sizeof d);
        d.kind = PROTO_SIGNAL;
        memcpy(d.origin, j->k->pk[x->origin], 32);
        d.seq = x->seq;
        memcpy(d.prev, prev[x->origin], 32);
        d.time_ms = j->t0 + i / 1000;
        d.u.signal.stype = PROTO_ST_MD5;
        d.u.signal.value = (struct proto_bytes){x->md5, 16};
        d.u.signal.confidence = 90;
        if (proto_sign(&d, j->k->sk[x->origin], &x->buf, &x->len) != 0) abort();
        proto_record_id(x->id, x->buf, x->len);
        memcpy(prev[x->origin], x->id, 32);
    }
    return NULL;
}

static void make_keys(struct keys *k)
{
    proto_keygen(k->rpk, k->rsk);
    for (int o = 0; o < ORIGINS; o++) {
        proto_keygen(k->pk[o], k->sk[o]);
        struct proto_record d;
        memset(&d, 0, sizeof d);
        d.kind = PROTO_MEMBERSHIP;
        memcpy(d.origin, k->rpk, 32);
        d.seq = (uint64_t)o + 1;
        if (o > 0) proto_record_id(d.prev, k->mem[o - 1], k->memlen[o - 1]);
        d.time_ms = 1;
        memcpy(d.u.membership.key, k->pk[o], 32);
        d.u.membership.org = (struct proto_str){"Bench", 5};
        d.u.membership.role = PROTO_ROLE_PLATFORM;
        if (proto_sign(&d, k->rsk, &k->mem[o], &k->memlen[o]) != 0) abort();
    }
}

static struct rec *make_records(size_t n, const struct keys *k)
{
    struct rec *recs = calloc(n, sizeof *recs);
    if (!recs) abort();
    uint64_t seq[ORIGINS] = {0};
    for (size_t i = 0; i < n; i++) {
        recs[i].origin = (uint8_t)randombytes_uniform(ORIGINS);
        recs[i].seq = ++seq[recs[i].origin];
        randombytes_buf(recs[i].md5, 16);
    }
    unsigned nt = cores();
    pthread_t th[64];
    struct sign_job jobs[64];
    uint64_t t0 = gif_now_ms() - n / 1000 - 60000;
    for (unsigned t = 0; t < nt; t++) {
        jobs[t] = (struct sign_job){recs, n, t, nt, k, t0};
        if (pthread_create(&th[t], NULL, sign_thread, &jobs[t])) abort();
    }
    for (unsigned t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    return recs;
}

/* ---- The verification ceiling. */

struct verify_job {
    const struct rec *recs;
    size_t from, to;
};

static void *verify_thread(void *arg)
{
    struct verify_job *j = arg;
    for (size_t i = j->from; i < j->to; i++) {
        struct proto_record r;
        if (proto_decode(&r, j->recs[i].buf, j->recs[i].len) || proto_verify(&r)) abort();
    }
    return NULL;
}

/* Decode + verify of recs[from, from + n) on nt threads: records per second; *cpu_us, if
 * not NULL, gets the CPU microseconds per record. */
static double ceiling(const struct rec *recs, size_t from, size_t n, unsigned nt, double *cpu_us)
{
    pthread_t th[64];
    struct verify_job jobs[64];
    double a = now_s(), c = cpu_s();
    for (unsigned t = 0; t < nt; t++) {
        jobs[t] = (struct verify_job){recs, from + n * t / nt, from + n * (t + 1) / nt};
        if (pthread_create(&th[t], NULL, verify_thread, &jobs[t])) abort();
    }
    for (unsigned t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    if (cpu_us) *cpu_us = (cpu_s() - c) * 1e6 / (double)n;
    return (double)n / (now_s() - a);
}

/* ---- Stores. */

static struct store *open_store(const char *dir, const struct keys *k, bool sync)
{
    struct store_opts o = {.no_sync = !sync};
    memcpy(o.root, k->rpk, 32);
    struct store *s;
    char err[256];
    if (store_open(&s, dir, &o, err, sizeof err) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(1);
    }
    return s;
}

static void add_members(struct store *s, const struct keys *k)
{
    struct store_in in[ORIGINS];
    struct store_result res[ORIGINS];
    for (int o = 0; o < ORIGINS; o++)
        in[o] = (struct store_in){.buf = k->mem[o], .len = k->memlen[o]};
    if (store_ingest(s, in, ORIGINS, gif_now_ms(), res) != 0) abort();
    for (int o = 0; o < ORIGINS; o++)
        if (res[o].status != 0) abort();
}

static void rm_rf(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) abort();
}

/* ---- Ingest through the node's write pipeline. */

struct pipe_run {
    size_t reqs_done, reqs, accepted, failed;
    double t_end;
    uv_timer_t tick; /* every 1 ms: the longest gap between ticks is the loop's longest stall */
    uint64_t last_ns, max_gap_ns;
};

static void tick_cb(uv_timer_t *t)
{
    struct pipe_run *pr = t->data;
    uint64_t now = gif_mono_ns();
    if (pr->last_ns && now - pr->last_ns > pr->max_gap_ns) pr->max_gap_ns = now - pr->last_ns;
    pr->last_ns = now;
}

static void ingest_done(struct node *n, struct write_req *w, int rc)
{
    struct pipe_run *pr = w->ctx;
    (void)n;
    if (rc) pr->failed += w->n;
    for (size_t i = 0; i < w->n && !rc; i++) {
        if (w->res[i].status == 0)
            pr->accepted++;
        else
            pr->failed++;
    }
    if (++pr->reqs_done == pr->reqs) {
        pr->t_end = now_s();
        uv_timer_stop(&pr->tick);
        uv_close((uv_handle_t *)&pr->tick, NULL);
    }
}

/* All of recs through node_write into a fresh durable store; returns records per second. */
static double pipeline_ingest(const char *dir, const struct keys *k, const struct rec *recs,
                              size_t n, double *cpu_us, double *anon_kept, double *stall_ms)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop)) abort();
    struct node *nd = calloc(1, sizeof *nd);
    if (!nd) abort();
    nd->loop = &loop;
    nd->store = open_store(dir, k, true);
    add_members(nd->store, k);
    randombytes_buf(nd->pk, sizeof nd->pk);

    size_t nreq = (n + REQ_RECORDS - 1) / REQ_RECORDS;
    struct write_req *w = calloc(nreq, sizeof *w);
    struct store_in *in = calloc(n, sizeof *in);
    struct store_result *res = calloc(n, sizeof *res);
    if (!w || !in || !res) abort();
    for (size_t i = 0; i < n; i++)
        in[i] = (struct store_in){.buf = recs[i].buf, .len = recs[i].len};
    struct pipe_run pr = {.reqs = nreq};
    memset(res, 0, n * sizeof *res); /* touched now, so that anon0 counts them */
    memset(w, 0, nreq * sizeof *w);
    double anon0 = rss_anon_mib();
    if (uv_timer_init(&loop, &pr.tick)) abort();
    pr.tick.data = &pr;
    if (uv_timer_start(&pr.tick, tick_cb, 1, 1)) abort();
    double a = now_s(), c = cpu_s();
    for (size_t r = 0; r < nreq; r++) {
        size_t off = r * REQ_RECORDS;
        w[r].kind = WRITE_INGEST;
        w[r].n = n - off < REQ_RECORDS ? n - off : REQ_RECORDS;
        w[r].in = in + off;
        w[r].res = res + off;
        w[r].done = ingest_done;
        w[r].ctx = &pr;
        if (node_write(nd, &w[r]) != 0) abort();
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double rate = (double)n / (pr.t_end - a);
    /* What the open store still holds: mostly LMDB's pool of dirty-page copies, kept for reuse
     * until the environment closes. */
    *anon_kept = rss_anon_mib() - anon0;
    *stall_ms = (double)pr.max_gap_ns / 1e6;
    *cpu_us = (cpu_s() - c) * 1e6 / (double)n;
    if (pr.accepted != n || pr.failed) {
        fprintf(stderr, "pipeline: %zu accepted, %zu failed of %zu\n", pr.accepted, pr.failed, n);
        abort();
    }
    if (uv_loop_close(&loop) != 0) abort();
    store_close(nd->store);
    free(nd);
    free(w);
    free(in);
    free(res);
    return rate;
}

/* store_ingest alone, one thread, batches of SERIAL_BATCH. verified = 0: it checks each
 * signature itself (the path before the pipeline); 1: the records come marked as checked (the
 * writer's own cost). */
static double serial_ingest(const char *dir, const struct keys *k, const struct rec *recs, size_t n,
                            int verified, double *cpu_us)
{
    struct store *s = open_store(dir, k, true);
    add_members(s, k);
    struct store_in *in = calloc(SERIAL_BATCH, sizeof *in);
    struct store_result *res = calloc(SERIAL_BATCH, sizeof *res);
    if (!in || !res) abort();
    double a = now_s(), c = cpu_s();
    for (size_t off = 0; off < n; off += SERIAL_BATCH) {
        size_t m = n - off < SERIAL_BATCH ? n - off : SERIAL_BATCH;
        for (size_t i = 0; i < m; i++) {
            const struct rec *x = &recs[off + i];
            in[i] = (struct store_in){.buf = x->buf, .len = x->len, .verified = verified};
            memcpy(in[i].id, x->id, 32);
        }
        if (store_ingest(s, in, m, gif_now_ms(), res) != 0) abort();
        for (size_t i = 0; i < m; i++)
            if (res[i].status != 0) abort();
    }
    double rate = (double)n / (now_s() - a);
    *cpu_us = (cpu_s() - c) * 1e6 / (double)n;
    store_close(s);
    free(in);
    free(res);
    return rate;
}

/* ---- Lookups. */

static size_t pick(size_t i, size_t n)
{
    return (size_t)(((uint64_t)i * 2654435761u) % n);
}

/* Raw LMDB: mdb_get of stype || md5 in the exact table, one read transaction. */
static void raw_lookups(const char *dir, const struct rec *recs, size_t n, double *hit,
                        double *miss)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
        mdb_env_set_mapsize(env, 64ULL << 30) ||
        mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "exact", 0, &dbi))
        abort();
    uint8_t k[17];
    k[0] = PROTO_ST_MD5;
    size_t found = 0;
    double a = now_s();
    for (size_t i = 0; i < n; i++) {
        memcpy(k + 1, recs[pick(i, n)].md5, 16);
        MDB_val key = {17, k}, v;
        found += mdb_get(txn, dbi, &key, &v) == 0;
    }
    *hit = (double)n / (now_s() - a);
    if (found != n) abort();
    uint8_t absent[16];
    randombytes_buf(absent, 16);
    a = now_s();
    for (size_t i = 0; i < n; i++) {
        memcpy(absent, &i, sizeof i); /* distinct keys, almost surely not stored */
        memcpy(k + 1, absent, 16);
        MDB_val key = {17, k}, v;
        found += mdb_get(txn, dbi, &key, &v) == 0;
    }
    *miss = (double)n / (now_s() - a);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void store_lookups(const char *dir, const struct keys *k, const struct rec *recs, size_t n,
                          double *hit, double *miss, double *full)
{
    struct store *s = open_store(dir, k, true);
    struct store_rd *rd;
    if (store_rd_open(s, &rd)) abort();
    uint8_t ids[4][32], id[32];
    uint64_t feeds[4];
    size_t got, found = 0;
    double a = now_s();
    for (size_t i = 0; i < n; i++) {
        const struct rec *x = &recs[pick(i, n)];
        if (store_lookup(rd, PROTO_ST_MD5, x->md5, 16, ids, feeds, 4, &got)) abort();
        found += got;
    }
    *hit = (double)n / (now_s() - a);
    if (found != n) abort();
    uint8_t absent[16];
    randombytes_buf(absent, 16);
    a = now_s();
    for (size_t i = 0; i < n; i++) {
        memcpy(absent, &i, sizeof i);
        if (store_lookup(rd, PROTO_ST_MD5, absent, 16, ids, feeds, 4, &got)) abort();
    }
    *miss = (double)n / (now_s() - a);
    a = now_s();
    for (size_t i = 0; i < n; i++) {
        const struct rec *x = &recs[pick(i, n)];
        struct store_rec sr;
        struct proto_record r;
        if (store_lookup(rd, PROTO_ST_MD5, x->md5, 16, ids, feeds, 4, &got) || got != 1 ||
            store_feed_get(rd, feeds[0], id, &sr) || proto_decode_known(&r, sr.buf, sr.len, id))
            abort();
    }
    *full = (double)n / (now_s() - a);
    store_rd_close(rd);
    store_close(s);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    bool ingest_only = argc > 2 && strcmp(argv[2], "ingest") == 0;
    if (sodium_init() < 0 || n < 1000) return 1;
    gif_log_set_level(GIF_LOG_WARN);
    unsigned nt = cores();
    struct keys k;
    make_keys(&k);
    double a = now_s();
    struct rec *recs = make_records(n, &k);
    double gen = now_s() - a;

    size_t cn = n < CEIL_MAX ? n : CEIL_MAX;
    double cu1, cub, cua, pcu, scu;
    double c1 = ceiling(recs, 0, cn / 2, 1, &cu1);
    double cb = ceiling(recs, 0, cn, nt, &cub);

    char dir[] = "/tmp/gif-bench-store-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    double anon_kept, stall_ms;
    double pipe = pipeline_ingest(dir, &k, recs, n, &pcu, &anon_kept, &stall_ms);
    double ca = ceiling(recs, n - cn, cn, nt, &cua);
    double ceil = (cb + ca) / 2, ceil_cpu = (cub + cua) / 2;
    if (ingest_only) {
        rm_rf(dir);
        printf("bench_store ingest: %zu records, ceiling %.0f/s (CPU %.1f us), pipeline %.0f/s "
               "(CPU %.1f us): %.1f%% of ceiling (CPU %.1f%%); anonymous memory kept %+.0f MiB; "
               "longest loop stall %.0f ms\n",
               n, ceil, ceil_cpu, pipe, pcu, 100 * pipe / ceil, 100 * ceil_cpu / pcu, anon_kept,
               stall_ms);
        return 0;
    }

    double rh, rm, sh, sm, sf;
    raw_lookups(dir, recs, n, &rh, &rm);
    store_lookups(dir, &k, recs, n, &sh, &sm, &sf);
    rm_rf(dir);

    char dir2[] = "/tmp/gif-bench-store-XXXXXX";
    if (!mkdtemp(dir2)) return 1;
    size_t sn = n < SERIAL_MAX ? n : SERIAL_MAX;
    double ser = serial_ingest(dir2, &k, recs, sn, 0, &scu);
    rm_rf(dir2);
    char dir3[] = "/tmp/gif-bench-store-XXXXXX";
    if (!mkdtemp(dir3)) return 1;
    double wcu, wr = serial_ingest(dir3, &k, recs, n, 1, &wcu);
    rm_rf(dir3);

    printf("bench_store: %zu signed md5 signals from %d origins (signed in %.1f s), %u cores\n", n,
           ORIGINS, gen, nt);
    printf("  (CPU: process CPU time per record, all threads; the ratio to the ceiling's is the\n"
           "   share of CPU that ingest spends verifying, robust to other load on the machine)\n");
    printf(
        "  ceiling  decode + Ed25519 verify, 1 thread            %9.0f records/s  CPU %5.1f us\n",
        c1, cu1);
    printf("  ceiling  decode + Ed25519 verify, %u threads           %9.0f records/s  CPU %5.1f us"
           "  (before %.0f, after %.0f)\n",
           nt, ceil, ceil_cpu, cb, ca);
    printf("  ingest   node write pipeline, durable              %9.0f records/s  CPU %5.1f us"
           "  %.0f%% of ceiling (CPU %.0f%%); goal 80%%\n"
           "           (anonymous memory the pipeline kept after its run: %+.0f MiB; the loop's\n"
           "           longest stall, between 1 ms timer ticks: %.0f ms)\n",
           pipe, pcu, 100 * pipe / ceil, 100 * ceil_cpu / pcu, anon_kept, stall_ms);
    printf("  ingest   before: verify inside store_ingest, 1 thread, %d per txn, %zu records:\n"
           "                                                     %9.0f records/s  CPU %5.1f us"
           "  %.0f%% of ceiling\n",
           SERIAL_BATCH, sn, ser, scu, 100 * ser / ceil);
    printf("  writer   store_ingest alone, records pre-verified, %d per txn, durable:\n"
           "                                                     %9.0f records/s  CPU %5.1f us"
           "  (what the pipeline adds to verifying)\n",
           SERIAL_BATCH, wr, wcu);
    printf("  lookup   raw LMDB mdb_get, one read txn: stored     %9.0f lookups/s  (ceiling)\n",
           rh);
    printf("  lookup   raw LMDB mdb_get, one read txn: not stored %9.0f lookups/s  (ceiling)\n",
           rm);
    printf("  lookup   store_lookup, one read txn: stored         %9.0f lookups/s  (%.0f%% of "
           "raw)\n",
           sh, 100 * sh / rh);
    printf("  lookup   store_lookup, one read txn: not stored     %9.0f lookups/s  (%.0f%% of "
           "raw)\n",
           sm, 100 * sm / rm);
    printf("  lookup   store_lookup + store_feed_get + decode:    %9.0f lookups/s\n", sf);
    for (int o = 0; o < ORIGINS; o++)
        free(k.mem[o]);
    for (size_t i = 0; i < n; i++)
        free(recs[i].buf);
    free(recs);
    return 0;
}
