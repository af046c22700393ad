/*
 * Store ingest and exact lookups, against the Ed25519 verification ceiling measured in the
 * same run (MEASURED.md: about 14.6k verifies/s on one core). Prints medians of 3 runs.
 *
 * usage: bench_store [N]   (N signed records, default 100000)
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/store.h"
#include "util/gif.h"

#define RUNS 3
#define BATCH 1000

struct rec {
    uint8_t *buf;
    size_t len;
    uint8_t md5[16];
};

static double now_s(void)
{
    return (double)gif_mono_ns() / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_d);
    return v[RUNS / 2];
}

/* Signs a membership for pk by the root (seq 1). */
static uint8_t *membership(const uint8_t rpk[32], const uint8_t rsk[64], const uint8_t pk[32],
                           size_t *len)
{
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_MEMBERSHIP;
    memcpy(d.origin, rpk, 32);
    d.seq = 1;
    d.time_ms = 1;
    memcpy(d.u.membership.key, pk, 32);
    d.u.membership.org = (struct proto_str){"Bench", 5};
    d.u.membership.role = PROTO_ROLE_PLATFORM;
    uint8_t *buf;
    if (proto_sign(&d, rsk, &buf, len) != 0) abort();
    return buf;
}

static struct store *open_store(const char *dir, const uint8_t root[32], bool sync,
                                const uint8_t *mem, size_t mlen)
{
    struct store_opts o = {.no_sync = !sync};
    memcpy(o.root, root, 32);
    struct store *s;
    char err[256];
    if (store_open(&s, dir, &o, err, sizeof err) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(1);
    }
    struct store_in in = {mem, mlen, false};
    struct store_result r;
    if (store_ingest(s, &in, 1, gif_now_ms(), &r) != 0 || r.status != 0) abort();
    return s;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    if (sodium_init() < 0 || n < BATCH) return 1;
    gif_log_set_level(GIF_LOG_WARN);
    uint8_t rpk[32], rsk[64], pk[32], sk[64];
    proto_keygen(rpk, rsk);
    proto_keygen(pk, sk);
    size_t mlen;
    uint8_t *mem = membership(rpk, rsk, pk, &mlen);

    /* One origin's chain of n md5 signals, signed ahead of time. */
    struct rec *recs = calloc(n, sizeof *recs);
    uint8_t prev[32] = {0};
    uint64_t t0 = gif_now_ms() - 1000;
    for (size_t i = 0; i < n; i++) {
        struct proto_record d;
        memset(&d, 0, sizeof d);
        d.kind = PROTO_SIGNAL;
        memcpy(d.origin, pk, 32);
        d.seq = i + 1;
        memcpy(d.prev, prev, 32);
        d.time_ms = t0;
        randombytes_buf(recs[i].md5, 16);
        d.u.signal.stype = PROTO_ST_MD5;
        d.u.signal.value = (struct proto_bytes){recs[i].md5, 16};
        d.u.signal.confidence = 100;
        if (proto_sign(&d, sk, &recs[i].buf, &recs[i].len) != 0) abort();
        proto_record_id(prev, recs[i].buf, recs[i].len);
    }

    double verify[RUNS], ing_sync[RUNS], ing_nosync[RUNS], lookup[RUNS];
    for (int run = 0; run < RUNS; run++) {
        /* Baseline: decode + verify every record, one core: what ingest cannot beat. */
        double a = now_s();
        for (size_t i = 0; i < n; i++) {
            struct proto_record r;
            if (proto_decode(&r, recs[i].buf, recs[i].len) || proto_verify(&r)) abort();
        }
        verify[run] = (double)n / (now_s() - a);

        for (int sync = 0; sync < 2; sync++) {
            char dir[] = "/tmp/gif-bench-XXXXXX";
            if (!mkdtemp(dir)) return 1;
            struct store *s = open_store(dir, rpk, sync, mem, mlen);
            struct store_in *in = calloc(BATCH, sizeof *in);
            struct store_result *res = calloc(BATCH, sizeof *res);
            a = now_s();
            for (size_t off = 0; off < n; off += BATCH) {
                size_t m = n - off < BATCH ? n - off : BATCH;
                for (size_t i = 0; i < m; i++) in[i] = (struct store_in){recs[off + i].buf, recs[off + i].len, false};
                if (store_ingest(s, in, m, gif_now_ms(), res) != 0) abort();
                for (size_t i = 0; i < m; i++)
                    if (res[i].status != 0) abort();
            }
            double rate = (double)n / (now_s() - a);
            if (sync) {
                ing_sync[run] = rate;
                /* Exact lookups of stored values, one read snapshot. */
                struct store_rd *rd;
                if (store_rd_open(s, &rd)) abort();
                uint8_t ids[4][32];
                size_t got;
                a = now_s();
                for (size_t i = 0; i < n; i++) {
                    size_t k = (i * 2654435761u) % n;
                    if (store_lookup(rd, PROTO_ST_MD5, recs[k].md5, 16, ids, 4, &got) || got != 1)
                        abort();
                }
                lookup[run] = (double)n / (now_s() - a);
                store_rd_close(rd);
            } else {
                ing_nosync[run] = rate;
            }
            store_close(s);
            free(in);
            free(res);
            char cmd[300];
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            if (system(cmd) != 0) return 1;
        }
    }
    double v = median(verify), is = median(ing_sync), in_ = median(ing_nosync), l = median(lookup);
    printf("bench_store: %zu records of one origin, batches of %d, median of %d runs, one core\n",
           n, BATCH, RUNS);
    printf("  baseline  decode+verify (Ed25519 ceiling)   %10.0f records/s\n", v);
    printf("  ingest    durable (fsync per batch)         %10.0f records/s  (%.0f%% of ceiling)\n",
           is, 100 * is / v);
    printf("  ingest    no sync                           %10.0f records/s  (%.0f%% of ceiling)\n",
           in_, 100 * in_ / v);
    printf("  lookup    exact md5, one read snapshot      %10.0f lookups/s\n", l);
    for (size_t i = 0; i < n; i++) free(recs[i].buf);
    free(recs);
    free(mem);
    return 0;
}
