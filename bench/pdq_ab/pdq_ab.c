/*
 * A/B driver for storage/pdq.c variants (bench/pdq_ab/run.sh compiles each with its symbols
 * prefixed v0_..v3_): builds every variant on the same generated set (planted near-duplicates
 * as bench_pdq_index makes them, or the clustered set), checks that their radius-31 totals
 * agree, then times queries (page of 100) on 1 and 2 threads in alternating slices of 4,000 and
 * 8,000 queries, round after round, so that every variant sees the same load on a shared
 * machine; prints each variant's median, min and max.
 *
 * usage: pdq_ab N NVARIANTS ROUNDS IDLEN [clustered]   (IDLEN0=... for variant 0's id length)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
struct store_pdq;
struct hit {
    uint8_t id[32];
    uint8_t hash[32];
    int distance;
};
#define DECL(v)                                                                                    \
    int v##_new_idlen(struct store_pdq **, size_t);                                                \
    int v##_reserve(struct store_pdq *, size_t);                                                   \
    int v##_add(struct store_pdq *, const uint8_t *, const uint8_t *);                             \
    int v##_flush(struct store_pdq *);                                                             \
    size_t v##_query(const struct store_pdq *, const uint8_t *, int, struct hit *, size_t);        \
    size_t v##_memory(const struct store_pdq *);
DECL(v0) DECL(v1) DECL(v2) DECL(v3) struct ops {
    const char *name;
    int (*nw)(struct store_pdq **, size_t);
    int (*rs)(struct store_pdq *, size_t);
    int (*add)(struct store_pdq *, const uint8_t *, const uint8_t *);
    int (*fl)(struct store_pdq *);
    size_t (*q)(const struct store_pdq *, const uint8_t *, int, struct hit *, size_t);
    size_t (*mem)(const struct store_pdq *);
};
#define OPS(v)                                                                                     \
    {                                                                                              \
#v, v##_new_idlen, v##_reserve, v##_add, v##_flush, v##_query, v##_memory                  \
    }
static struct ops ops[4] = {OPS(v0), OPS(v1), OPS(v2), OPS(v3)};
static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void flip(uint8_t *o, const uint8_t *in, int bits)
{
    memcpy(o, in, 32);
    uint64_t done[4] = {0};
    for (int k = 0; k < bits;) {
        int i = rnd() & 255;
        if (done[i >> 6] >> (i & 63) & 1) continue;
        done[i >> 6] |= 1ull << (i & 63);
        o[i >> 3] ^= 1u << (i & 7);
        k++;
    }
}
#define NQ 1000
static uint8_t (*H)[32], (*Q)[32];
struct job {
    struct ops *o;
    struct store_pdq *x;
    size_t lo, hi, sum;
};
static void *run(void *a)
{
    struct job *j = a;
    struct hit h[100];
    for (size_t k = j->lo; k < j->hi; k++)
        j->sum += j->o->q(j->x, Q[k % NQ], 31, h, 100);
    return NULL;
}
static double qps(struct ops *o, struct store_pdq *x, size_t nq, int nt, size_t off)
{
    pthread_t th[2];
    struct job j[2];
    double t0 = now_s();
    for (int i = 0; i < nt; i++) {
        j[i] = (struct job){o, x, off + nq * i / nt, off + nq * (i + 1) / nt, 0};
        pthread_create(&th[i], NULL, run, &j[i]);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    return nq / (now_s() - t0);
}
static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], 0, 10) : 10000000;
    int nv = argc > 2 ? atoi(argv[2]) : 2;
    int rounds = argc > 3 ? atoi(argv[3]) : 10;
    size_t idlen = argc > 4 ? strtoull(argv[4], 0, 10) : 32;
    int clustered = argc > 5 && !strcmp(argv[5], "clustered");
    H = malloc(n * 32);
    Q = malloc(NQ * 32);
    if (!clustered) {
        static const int d[] = {0, 4, 8, 16, 24, 28, 30, 31, 32, 33, 40, 48};
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 4; k++) {
                uint64_t v = rnd();
                memcpy(H[i] + 8 * k, &v, 8);
            }
        for (size_t k = 0; k < NQ; k++) {
            for (int w = 0; w < 4; w++) {
                uint64_t v = rnd();
                memcpy(Q[k] + 8 * w, &v, 8);
            }
            for (size_t j = 0; j < 12; j++)
                flip(H[(k * 12 + j) * (n / (NQ * 12))], Q[k], d[j]);
        }
    } else {
        uint8_t(*c)[32] = malloc(10000 * 32);
        for (size_t i = 0; i < 10000; i++)
            for (int k = 0; k < 4; k++) {
                uint64_t v = rnd();
                memcpy(c[i] + 8 * k, &v, 8);
            }
        for (size_t i = 0; i < n; i++)
            flip(H[i], c[rnd() % 10000], rnd() % 41);
        for (size_t k = 0; k < NQ; k++)
            flip(Q[k], c[rnd() % 10000], rnd() % 17);
    }
    struct store_pdq *x[4];
    size_t tot[4];
    for (int v = 0; v < nv; v++) {
        double t0 = now_s();
        size_t il = v == 0 && getenv("IDLEN0") ? strtoull(getenv("IDLEN0"), 0, 10) : idlen;
        ops[v].nw(&x[v], il);
        ops[v].rs(x[v], n);
        for (size_t i = 0; i < n; i++) {
            uint8_t id[32] = {0};
            memcpy(id, &i, 8);
            ops[v].add(x[v], H[i], id);
        }
        printf("%s: build %.2f s, %zu bytes\n", ops[v].name, now_s() - t0, ops[v].mem(x[v]));
        struct hit h[1];
        tot[v] = 0;
        for (int k = 0; k < NQ; k++)
            tot[v] += ops[v].q(x[v], Q[k], 31, h, 1);
        if (v && tot[v] != tot[0]) printf("TOTALS DIFFER %zu %zu\n", tot[v], tot[0]);
    }
    double r1[4][64], r2[4][64];
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < nv; v++) {
            r1[v][r] = qps(&ops[v], x[v], 4000, 1, r * 7000);
            r2[v][r] = qps(&ops[v], x[v], 8000, 2, r * 7000);
        }
    for (int v = 0; v < nv; v++) {
        qsort(r1[v], rounds, 8, cmpd);
        qsort(r2[v], rounds, 8, cmpd);
        printf("%s: 1 thread median %.0f (min %.0f max %.0f); 2 threads median %.0f (min %.0f max "
               "%.0f)\n",
               ops[v].name, r1[v][rounds / 2], r1[v][0], r1[v][rounds - 1], r2[v][rounds / 2],
               r2[v][0], r2[v][rounds - 1]);
    }
    return 0;
}
