/*
 * PDQ radius search at scale (issue 5; method in docs/matching.md): storage/pdq.c's index
 * against a plain brute-force scan, on the same generated data in the same run. Prints
 * figures; never fails on timing (it exits 1 only if recall is below 100%).
 *
 * Two data sets per size N:
 * - planted: N random hashes; 1,000 query hashes each have 12 planted copies at distances
 *   0, 4, 8, 16, 24, 28, 30, 31, 32, 33, 40 and 48 (so radius 31 must find exactly 8, and the
 *   copies at r and r + 1 test the edge). Queries are the 1,000 bases.
 * - clustered: noisy copies of 10,000 random centres (each copy flips 0-40 bits), the hard case
 *   for substring indexes: many entries share chunks. Queries are centres with 0-16 bits
 *   flipped, so each has hundreds of answers.
 *
 * For each: build time through store_pdq_add (what the node does at start), through
 * store_pdq_reserve + adds (a bulk load), and with 8-byte ids; index bytes,
 * radius-31 queries per second on 1 and 2 threads (page of 100 hits, as the API), the batch
 * function, the brute-force scan on 1 and 2 threads, and recall: for a sample of queries, the
 * index's totals and pages must equal brute force's. Then the owner's pauses: N/16 adds on
 * top and N/8 removes (every table rebuilt, the arrays grown, a full rebuild), with the
 * maintenance inside the calls (sync, as before) and as jobs on a second thread committed
 * between calls (store_pdq_set_async, as the node does), each on the same bulk load: the
 * longest call is how long the node's loop would be held. Peak RSS at the end.
 *
 * usage: bench_pdq_index [--sizes 1000000,10000000] [--dump DIR] [--maintenance sync|jobs|both]
 *                        [--rate N]   (changes per second in the pauses phase, default 100000)
 *   --dump DIR (or GIF_BENCH_DUMP=DIR) writes each data set as DIR/<set>-<N>.bin for
 * bench/faiss_bench.cpp: u64 N, u64 nq, N x 32 hash bytes, nq x 32 query bytes, nq x u64
 * brute-force totals.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "storage/pdq.h"

#define RADIUS 31
#define PAGE 100
#define NQ 1000
#define CENTRES 10000

/* Options: the id length of the index the queries run on (0: hashes only, as the node's
 * n->pdq), and --quick: only that index's build, recall and queries (for A/B runs). */
static size_t opt_idlen = 0;
static int opt_quick = 0;
/* --maintenance sync|jobs|both: how the adds and removes on top run (bit 0 sync, bit 1 jobs). */
static int opt_maint = 3;
/* --rate N: changes per second in that phase (0: as fast as they go). A node changes its
 * index at most at its ingest rate, tens of thousands a second; unpaced, the adds outrun
 * the jobs (about 140,000 adds a second at 10M keep one worker busy with rebuilds). */
static double opt_rate = 100000;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static void rnd_hash(uint8_t h[32])
{
    for (int i = 0; i < 4; i++) {
        uint64_t v = rnd();
        memcpy(h + 8 * i, &v, 8);
    }
}

static void flip(uint8_t out[32], const uint8_t in[32], int bits)
{
    memcpy(out, in, 32);
    uint64_t done[4] = {0};
    for (int k = 0; k < bits;) {
        int i = (int)(rnd() & 255);
        if (done[i >> 6] >> (i & 63) & 1) continue;
        done[i >> 6] |= 1ull << (i & 63);
        out[i >> 3] ^= (uint8_t)(1u << (i & 7));
        k++;
    }
}

struct set {
    const char *name;
    size_t n;
    uint8_t (*h)[32];
    uint8_t (*q)[32];
};

static void gen_planted(struct set *s, size_t n)
{
    static const int d[] = {0, 4, 8, 16, 24, 28, 30, 31, 32, 33, 40, 48};
    const size_t nd = sizeof d / sizeof d[0];
    s->name = "planted";
    s->n = n;
    s->h = malloc(n * 32);
    s->q = malloc(NQ * 32);
    for (size_t i = 0; i < n; i++)
        rnd_hash(s->h[i]);
    for (size_t k = 0; k < NQ; k++) {
        rnd_hash(s->q[k]);
        /* Spread the plants over the array, as arrival order would. */
        for (size_t j = 0; j < nd; j++)
            flip(s->h[(k * nd + j) * (n / (NQ * nd))], s->q[k], d[j]);
    }
}

static void gen_clustered(struct set *s, size_t n)
{
    s->name = "clustered";
    s->n = n;
    s->h = malloc(n * 32);
    s->q = malloc(NQ * 32);
    uint8_t(*c)[32] = malloc(CENTRES * 32);
    for (size_t i = 0; i < CENTRES; i++)
        rnd_hash(c[i]);
    for (size_t i = 0; i < n; i++)
        flip(s->h[i], c[rnd() % CENTRES], (int)(rnd() % 41));
    for (size_t k = 0; k < NQ; k++)
        flip(s->q[k], c[rnd() % CENTRES], (int)(rnd() % 17));
    free(c);
}

/* ---- the baseline: a flat array scanned with popcount, as storage/pdq.c was ---- */

struct flat {
    uint64_t (*w)[4];
    size_t n;
};

static size_t flat_query(const struct flat *f, const uint8_t q[32], int r)
{
    uint64_t qw[4];
    memcpy(qw, q, 32);
    size_t total = 0;
    for (size_t i = 0; i < f->n; i++) {
        int d = __builtin_popcountll(qw[0] ^ f->w[i][0]) +
                __builtin_popcountll(qw[1] ^ f->w[i][1]) +
                __builtin_popcountll(qw[2] ^ f->w[i][2]) + __builtin_popcountll(qw[3] ^ f->w[i][3]);
        total += d <= r;
    }
    return total;
}

/* ---- threads ---- */

struct job {
    const struct store_pdq *x;
    const struct flat *f;
    const uint8_t (*q)[32];
    size_t lo, hi;
    size_t sum;
};

static void *run_index(void *arg)
{
    struct job *j = arg;
    struct store_pdq_hit hits[PAGE];
    for (size_t k = j->lo; k < j->hi; k++)
        j->sum += store_pdq_query(j->x, j->q[k % NQ], RADIUS, hits, PAGE);
    return NULL;
}

static void *run_flat(void *arg)
{
    struct job *j = arg;
    for (size_t k = j->lo; k < j->hi; k++)
        j->sum += flat_query(j->f, j->q[k % NQ], RADIUS);
    return NULL;
}

/* Runs nq queries split over nt threads; returns queries per second. */
static double qps(void *(*fn)(void *), const struct store_pdq *x, const struct flat *f,
                  const uint8_t (*q)[32], size_t nq, int nt)
{
    pthread_t th[2];
    struct job j[2];
    double t0 = now_s();
    for (int i = 0; i < nt; i++) {
        j[i] = (struct job){x, f, q, nq * (size_t)i / (size_t)nt, nq * (size_t)(i + 1) / (size_t)nt,
                            0};
        pthread_create(&th[i], NULL, fn, &j[i]);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    return (double)nq / (now_s() - t0);
}

static int hit_cmp(const void *a, const void *b)
{
    const struct store_pdq_hit *x = a, *y = b;
    if (x->distance != y->distance) return x->distance < y->distance ? -1 : 1;
    int c = memcmp(x->id, y->id, 32); /* ids are zero without them: ties by hash */
    return c ? c : memcmp(x->hash, y->hash, 32);
}

/* The id of entry i as the index under test keeps it (none without ids). */
static void make_id(uint8_t id[32], size_t i, size_t idlen)
{
    memset(id, 0, 32);
    memcpy(id, &i, idlen < sizeof i ? idlen : sizeof i);
}

/* Brute force over the set with full hit lists: the reference for recall. */
static size_t ref_page(const struct set *s, const uint8_t q[32], struct store_pdq_hit *page,
                       struct store_pdq_hit **all, size_t *cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        int d = store_pdq_distance(q, s->h[i]);
        if (d > RADIUS) continue;
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            *all = realloc(*all, *cap * sizeof **all);
        }
        struct store_pdq_hit *h = &(*all)[n++];
        make_id(h->id, i, opt_idlen);
        memcpy(h->hash, s->h[i], 32);
        h->distance = d;
    }
    qsort(*all, n, sizeof **all, hit_cmp);
    memcpy(page, *all, (n < PAGE ? n : PAGE) * sizeof *page);
    return n;
}

static long peak_rss_mib(void);

/* Removes the entries of slots from, from + step, ... (count of them, modulo n), as the node
 * does: by id with ids, by hash without. Returns how many were removed (a slot removed before
 * is not found again). */
static size_t remove_some(struct store_pdq *x, const struct set *s, size_t from, size_t count,
                          size_t step)
{
    size_t removed = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t id[32];
        size_t v = (from + i * step) % s->n;
        make_id(id, v, opt_idlen);
        removed += opt_idlen ? store_pdq_remove(x, id) : store_pdq_remove_hash(x, s->h[v], NULL);
    }
    return removed;
}

/* A job run on a thread of its own, as on libuv's worker pool. */
struct runner {
    pthread_t th;
    struct store_pdq_job *j, *old; /* old: committed, freed by the next run (as the node's
                                    * worker does) */
    atomic_int done;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    store_pdq_job_free(r->old);
    r->old = NULL;
    store_pdq_job_run(r->j);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Waits until change i of a phase that began at t0 is due at opt_rate. */
static void pace(double t0, size_t i)
{
    if (opt_rate <= 0) return;
    double due = t0 + (double)i / opt_rate, wait = due - now_s();
    if (wait <= 0) return;
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
}

/* The longest calls on the owner's thread (the node's loop: every lookup waits for them). */
struct pauses {
    double max, total, max_commit;
    size_t slow, calls, jobs[3];
};

static void pause_add(struct pauses *p, double dt)
{
    if (dt > p->max) p->max = dt;
    if (dt > 0.02) p->slow++;
    p->total += dt;
    p->calls++;
}

/* With jobs: begins one if due and none runs (part of the change's call, as in the node). */
static void job_maybe_begin(struct store_pdq *x, struct runner *r, int *running, struct pauses *p)
{
    if (*running) return;
    if (store_pdq_job_begin(x, &r->j) != 0 || !r->j) return;
    const char *name = store_pdq_job_name(r->j);
    p->jobs[name[0] == 't' ? 0 : name[0] == 'g' ? 1 : 2]++;
    atomic_store(&r->done, 0);
    if (pthread_create(&r->th, NULL, runner_main, r) != 0) {
        store_pdq_job_run(r->j);
        atomic_store(&r->done, 1);
        r->th = pthread_self();
    }
    *running = 1;
}

/* With jobs: commits the running one once it has run (wait: also when it has not). */
static void job_maybe_commit(struct store_pdq *x, struct runner *r, int *running, int wait,
                             struct pauses *p)
{
    if (!*running || (!wait && !atomic_load(&r->done))) return;
    if (!pthread_equal(r->th, pthread_self())) pthread_join(r->th, NULL);
    double t = now_s();
    if (store_pdq_job_commit(x, r->j) != 0) fprintf(stderr, "a job failed\n");
    double dt = now_s() - t;
    r->old = r->j;
    pause_add(p, dt);
    if (dt > p->max_commit) p->max_commit = dt;
    *running = 0;
}

static void pauses_print(const char *what, size_t n, double secs, const struct pauses *p, int jobs,
                         const struct store_pdq *x)
{
    printf(
        "  %s %zu %s: %.1f us of the owner's time each, %zu calls over 20 ms, the longest %.1f ms",
        jobs ? "jobs:" : "sync:", n, what, secs * 1e6 / (double)n, p->slow, p->max * 1e3);
    if (jobs)
        printf(" (longest commit %.2f ms; jobs: %zu table, %zu grow, %zu full)",
               p->max_commit * 1e3, p->jobs[0], p->jobs[1], p->jobs[2]);
    printf("; index %.0f MiB; peak RSS so far %ld MiB\n", (double)store_pdq_memory(x) / 1048576.0,
           peak_rss_mib());
    fflush(stdout);
}

/*
 * Adds on top of the bulk load, past the delta's share (1/16) and the arrays' room: every
 * table is rebuilt in turn and the arrays grow; then removes past the dead share (1/8): a full
 * rebuild. Each call on this thread is timed: the longest is how long the node's loop would be
 * held. jobs: store_pdq_set_async, each job run on a second thread and committed here between
 * calls once done (the commit timed as a call of its own); else everything inside the calls.
 */
static void owner_pauses(struct store_pdq *x, const struct set *s, int jobs)
{
    struct runner r = {0};
    int running = 0;
    store_pdq_set_async(x, jobs);
    size_t more = s->n / 16 + 2000;
    struct pauses p = {0};
    double ta = now_s();
    for (size_t i = 0; i < more; i++) {
        uint8_t h[32], id[32];
        rnd_hash(h);
        make_id(id, s->n + i, opt_idlen);
        pace(ta, i);
        double t1 = now_s();
        store_pdq_add(x, h, id);
        if (jobs) job_maybe_begin(x, &r, &running, &p);
        pause_add(&p, now_s() - t1);
        if (jobs) job_maybe_commit(x, &r, &running, 0, &p);
    }
    job_maybe_commit(x, &r, &running, 1, &p);
    pauses_print("adds on top", more, p.total, &p, jobs, x);
    /* Removes: n / 7 + 2000 of the bulk load's entries (past 1/8 of the tables after the
     * adds), seven slots apart (all distinct). */
    size_t fewer = s->n / 7 + 2000, removed = 0;
    memset(&p, 0, sizeof p);
    ta = now_s();
    for (size_t i = 0; i < fewer; i++) {
        pace(ta, i);
        double t1 = now_s();
        removed += remove_some(x, s, 7 * i + 1, 1, 1);
        if (jobs) job_maybe_begin(x, &r, &running, &p);
        pause_add(&p, now_s() - t1);
        if (jobs) job_maybe_commit(x, &r, &running, 0, &p);
    }
    job_maybe_commit(x, &r, &running, 1, &p);
    store_pdq_job_free(r.old);
    pauses_print("removes", fewer, p.total, &p, jobs, x);
    (void)removed;
}

/* The index of the queries again: a bulk load and the same first 1,000 removes. */
static struct store_pdq *load_again(const struct set *s)
{
    struct store_pdq *x;
    if (store_pdq_new_idlen(&x, opt_idlen) != 0 || store_pdq_reserve(x, s->n) != 0) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        uint8_t id[32];
        make_id(id, i, opt_idlen);
        if (store_pdq_add(x, s->h[i], id) != 0) return NULL;
    }
    remove_some(x, s, 0, 1000, s->n / 1000);
    return x;
}

static long peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void dump(const char *dir, const struct set *s, const size_t *ref_totals)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%zu.bin", dir, s->name, s->n);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    uint64_t n = s->n, nq = NQ;
    fwrite(&n, 8, 1, f);
    fwrite(&nq, 8, 1, f);
    fwrite(s->h, 32, s->n, f);
    fwrite(s->q, 32, NQ, f);
    for (size_t k = 0; k < NQ; k++) {
        uint64_t t = ref_totals[k];
        fwrite(&t, 8, 1, f);
    }
    fclose(f);
    printf("  wrote %s\n", path);
}

static int run_set(struct set *s, const char *dumpdir)
{
    printf("%s, N=%zu, radius %d, page %d\n", s->name, s->n, RADIUS, PAGE);
    fflush(stdout);
    /* Builds: plain store_pdq_add per hash (32-byte ids), the bulk load (store_pdq_reserve
     * first: one build) with 32- and 8-byte ids, and the bulk load of the index the queries
     * below use (hashes only by default, as the node's n->pdq). --quick builds only that. */
    struct store_pdq *x = NULL;
    static const char *what[] = {"32-byte ids, store_pdq_add x N", "32-byte ids, reserve + add x N",
                                 "8-byte ids, reserve + add x N", "reserve + add x N"};
    for (int mode = opt_quick ? 3 : 0; mode < 4; mode++) {
        if (x) store_pdq_free(x);
        size_t idlen = mode < 2 ? 32 : mode == 2 ? 8 : opt_idlen;
        if (store_pdq_new_idlen(&x, idlen) != 0) return -1;
        double t0 = now_s();
        if (mode > 0 && store_pdq_reserve(x, s->n) != 0) return -1;
        for (size_t i = 0; i < s->n; i++) {
            uint8_t id[32];
            make_id(id, i, idlen); /* ref_page builds the same ids */
            if (store_pdq_add(x, s->h[i], id) != 0) {
                fprintf(stderr, "out of memory at %zu\n", i);
                return -1;
            }
        }
        double build = now_s() - t0;
        size_t mem = store_pdq_memory(x);
        printf("  build (%s%s): %.2f s; index %.0f MiB, %zu bytes (%.1f bytes per hash); peak RSS "
               "%ld MiB\n",
               what[mode], mode == 3 ? (idlen ? ", ids as below" : ", hashes only") : "", build,
               (double)mem / 1048576.0, mem, (double)mem / (double)s->n, peak_rss_mib());
        if (mode == 3 && idlen) printf("    (%zu-byte ids)\n", idlen);
        fflush(stdout);
    }

    /* Recall on a sample, against brute force with full lists. */
    size_t sample = s->n >= 5000000 ? 100 : 300;
    size_t *ref_totals = calloc(NQ, sizeof *ref_totals);
    struct store_pdq_hit want[PAGE], got[PAGE], *all = NULL;
    size_t cap = 0, agree = 0, found = 0, expected = 0;
    double t0 = now_s();
    for (size_t k = 0; k < sample; k++) {
        size_t nw = ref_page(s, s->q[k], want, &all, &cap);
        ref_totals[k] = nw;
        size_t ng = store_pdq_query(x, s->q[k], RADIUS, got, PAGE);
        size_t shown = nw < PAGE ? nw : PAGE;
        int same = ng == nw;
        for (size_t i = 0; i < shown && same; i++)
            same = got[i].distance == want[i].distance && !memcmp(got[i].id, want[i].id, 32) &&
                   !memcmp(got[i].hash, want[i].hash, 32);
        agree += same;
        expected += nw;
        found += ng < nw ? ng : nw;
    }
    double tref = now_s() - t0;
    printf("  recall on %zu queries vs brute force: %.4f%% of %zu answers; %zu/%zu identical "
           "pages (reference took %.1f s)\n",
           sample, expected ? 100.0 * (double)found / (double)expected : 100.0, expected, agree,
           sample, tref);
    free(all);
    fflush(stdout);

    size_t nidx = s->n >= 5000000 ? 20000 : 50000;
    double q1 = qps(run_index, x, NULL, (const uint8_t(*)[32])s->q, nidx, 1);
    double q2 = qps(run_index, x, NULL, (const uint8_t(*)[32])s->q, nidx, 2);
    printf("  index: %.0f queries/s on 1 thread (%.3f ms each), %.0f/s on 2 threads\n", q1,
           1000.0 / q1, q2);
    fflush(stdout);

    double f2 = 0;
    if (opt_quick) goto removes;
    size_t *tot = malloc(NQ * sizeof *tot);
    struct store_pdq_hit *pages = malloc((size_t)NQ * PAGE * sizeof *pages);
    t0 = now_s();
    store_pdq_query_batch(x, (const uint8_t(*)[32])s->q, NQ, RADIUS, pages, PAGE, tot);
    double tb = now_s() - t0;
    printf("  batch of %d on 1 thread: %.0f queries/s\n", NQ, NQ / tb);
    free(pages);
    free(tot);

    struct flat f = {malloc(s->n * 32), s->n};
    memcpy(f.w, s->h, s->n * 32);
    size_t nflat = s->n >= 5000000 ? 60 : 300;
    double f1 = qps(run_flat, NULL, &f, (const uint8_t(*)[32])s->q, nflat, 1);
    f2 = qps(run_flat, NULL, &f, (const uint8_t(*)[32])s->q, nflat, 2);
    printf("  brute-force scan: %.1f queries/s on 1 thread (%.1f ms each), %.1f/s on 2 "
           "threads (%.1f ms)\n",
           f1, 1000.0 / f1, f2, 1000.0 / f2);
    printf("  speed-up over brute force on 2 threads: %.0fx\n", q2 / f2);
    free(f.w);

removes:;
    /* Retractions: by id with ids, by hash without (what the node does). */
    double ts = now_s();
    size_t removed = remove_some(x, s, 0, 1000, s->n / 1000);
    printf("  remove by %s: %.1f us each (%zu removed); peak RSS so far %ld MiB\n",
           opt_idlen ? "id" : "hash", (now_s() - ts) * 1e6 / 1000, removed, peak_rss_mib());
    /* The owner's pauses while the index changes: maintenance inside the calls (sync, as
     * before) and as jobs (the same bulk load and removes, built again). */
    for (int jobs = 0; jobs < 2; jobs++) {
        if (!(opt_maint & (1 << jobs))) continue;
        if (jobs && (opt_maint & 1)) {
            store_pdq_free(x);
            x = load_again(s);
            if (!x) return -1;
        }
        owner_pauses(x, s, jobs);
    }
    if (dumpdir) {
        /* FAISS compares against the totals of the same sample; the rest are left at 0. */
        for (size_t k = sample; k < NQ; k++)
            ref_totals[k] = SIZE_MAX;
        dump(dumpdir, s, ref_totals);
    }
    free(ref_totals);
    store_pdq_free(x);
    return agree == sample ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* bench/run.sh asks for the dump through the environment (it runs every bench_* alike). */
    const char *sizes = "1000000,10000000", *dumpdir = getenv("GIF_BENCH_DUMP");
    const char *sets = "planted,clustered";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dumpdir = argv[++i];
        else if (!strcmp(argv[i], "--idlen") && i + 1 < argc)
            opt_idlen = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sets") && i + 1 < argc)
            sets = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            opt_quick = 1;
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            opt_rate = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--maintenance") && i + 1 < argc) {
            const char *m = argv[++i];
            opt_maint = !strcmp(m, "sync")   ? 1
                        : !strcmp(m, "jobs") ? 2
                        : !strcmp(m, "both") ? 3
                                             : 0;
            if (!opt_maint) {
                fprintf(stderr, "--maintenance: '%s' is not sync, jobs or both\n", m);
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [--sizes N,N...] [--dump DIR] [--idlen 0..32] "
                    "[--sets planted,clustered] [--quick] [--maintenance sync|jobs|both] "
                    "[--rate N]\n",
                    argv[0]);
            return 2;
        }
    }
    printf("bench_pdq_index: storage/pdq.c radius search vs brute force (docs/matching.md)\n");
    int bad = 0;
    for (const char *p = sizes; *p;) {
        char *end;
        size_t n = strtoull(p, &end, 10);
        if (end == p || n < 20000) {
            fprintf(stderr, "bad size in --sizes (at least 20000): %s\n", p);
            return 2;
        }
        for (int which = 0; which < 2; which++) {
            if (!strstr(sets, which == 0 ? "planted" : "clustered")) continue;
            struct set s;
            rng = 0x243f6a8885a308d3ull ^ n ^ (uint64_t)which; /* faiss_bench reads the dump */
            if (which == 0)
                gen_planted(&s, n);
            else
                gen_clustered(&s, n);
            bad |= run_set(&s, dumpdir);
            free(s.h);
            free(s.q);
        }
        p = *end == ',' ? end + 1 : end;
    }
    printf("peak RSS: %ld MiB\n", peak_rss_mib());
    return bad;
}
